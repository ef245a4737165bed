/* Tests of the Optuna-schema SQLite store: exact schema, round trips of every
 * parameter kind / state / non-finite value, numbering, batches, delete,
 * reconcile, read-only readers beside a writer, throughput, and both
 * directions of interoperability with Optuna 3.1 (python3-optuna). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/err.h"
#include "hpsearch/store.h"

/* ---- fixtures --------------------------------------------------------- */

typedef struct fix {
  char dir[64];   /* temp folder */
  char path[128]; /* database file in it */
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/hp-store-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof f->path, "%s/s.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

static hp_store_t *open_rw(const fix_t *f) {
  hp_store_t *s = NULL;
  hp_err_t e = {0};
  int rc = hp_store_open(f->path, 0, &s, &e);
  if (rc) fail_msg("open: %s", e.msg);
  return s;
}

#define OK(call)                                         \
  do {                                                   \
    hp_err_t e_ = {0};                                   \
    int rc_ = (call);                                    \
    if (rc_ != 0) fail_msg("%s -> %d: %s", #call, rc_, e_.msg); \
  } while (0)
/* Calls must pass &e_ as their error argument inside OK(). */

static const char *D_FLOAT = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                             "\"low\": -5.0, \"high\": 5.0, \"log\": false}}";
static const char *D_LOG = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                           "\"low\": 1e-05, \"high\": 0.1, \"log\": true}}";
static const char *D_FSTEP = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": 0.25, "
                             "\"low\": 0.0, \"high\": 1.0, \"log\": false}}";
static const char *D_INT = "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, "
                           "\"step\": 1, \"low\": 1, \"high\": 10}}";
static const char *D_INTLOG = "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": true, "
                              "\"step\": 1, \"low\": 1, \"high\": 1024}}";
static const char *D_ISTEP = "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, "
                             "\"step\": 5, \"low\": 0, \"high\": 100}}";
static const char *D_CAT = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                           "{\"choices\": [\"adam\", \"sgd\", \"rmsprop\"]}}";
static const char *D_CATMIX = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                              "{\"choices\": [null, true, 3, 2.5, \"s\"]}}";

/* The 8 kinds of parameter Optuna writes, with internal values. */
static void make_params(hp_store_param_t p[8], int i) {
  hp_store_param_t all[8] = {
      {"x", -5.0 + i * 0.7, NULL},   {"lr", 1e-5 * (1 + i), NULL}, {"f_step", 0.25 * (i % 5), NULL},
      {"n", 1 + i % 10, NULL},       {"n_log", 1 << (i % 11), NULL}, {"n_step", 5.0 * (i % 21), NULL},
      {"opt", i % 3, NULL},          {"mixed", i % 5, NULL},
  };
  const char *d[8] = {D_FLOAT, D_LOG, D_FSTEP, D_INT, D_INTLOG, D_ISTEP, D_CAT, D_CATMIX};
  for (int k = 0; k < 8; k++) {
    p[k] = all[k];
    p[k].distribution_json = d[k];
  }
}

static int64_t new_study(hp_store_t *s, const char *name, bool maximize) {
  int64_t id = -1;
  bool dir[1] = {maximize};
  OK(hp_store_study_create(s, name, 1, dir, NULL, NULL, &id, &e_));
  return id;
}

/* Runs a SQL query on the file with a separate connection and returns the
 * first column of the first row as text (static buffer). */
static const char *sql1(const char *path, const char *sql) {
  static char out[4096];
  sqlite3 *db;
  out[0] = 0;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("sql %s: %s", sql, sqlite3_errmsg(db));
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, sizeof out, "%s", t ? t : "NULL");
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

/* ---- schema ----------------------------------------------------------- */

static void test_schema_exact(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"), "13");
  assert_string_equal(sql1(f->path, "SELECT schema_version || ',' || library_version || ',' || "
                                    "version_info_id FROM version_info"),
                      "12,3.1.0,1");
  assert_string_equal(sql1(f->path, "SELECT version_num FROM alembic_version"), "v3.0.0.d");
  assert_string_equal(sql1(f->path, "PRAGMA journal_mode"), "wal");
  /* Byte-exact DDL of one table, as SQLAlchemy writes it for Optuna 3.1. */
  assert_string_equal(sql1(f->path, "SELECT sql FROM sqlite_master WHERE name='trial_values'"),
                      "CREATE TABLE trial_values (\n\ttrial_value_id INTEGER NOT NULL, \n\ttrial_id "
                      "INTEGER NOT NULL, \n\tobjective INTEGER NOT NULL, \n\tvalue FLOAT, "
                      "\n\tvalue_type VARCHAR(7) NOT NULL, \n\tPRIMARY KEY (trial_value_id), "
                      "\n\tUNIQUE (trial_id, objective), \n\tFOREIGN KEY(trial_id) REFERENCES "
                      "trials (trial_id)\n)");
  /* Reopening keeps everything (no duplicate version rows). */
  s = open_rw(f);
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM version_info"), "1");
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM alembic_version"), "1");
}

static void test_schema_foreign_version_refused(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  hp_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE alembic_version SET version_num='v3.2.0.a'", 0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(db);
  hp_err_t e = {0};
  assert_int_equal(hp_store_open(f->path, 0, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "v3.2.0.a"));
  assert_null(s);
  /* Read-only open of a missing file names it. */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none.db", f->dir);
  assert_int_equal(hp_store_open(missing, HP_STORE_READONLY, &s, &e), HP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "none.db"));
}

/* ---- round trips ------------------------------------------------------ */

static void test_roundtrip_all_kinds(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  bool dir[1] = {false};
  int64_t sid;
  OK(hp_store_study_create(s, "rt", 1, dir, "{\"owner\": \"probe\", \"nested\": {\"a\": [1, 2]}}",
                           "{\"spec\": {\"n_trials\": 10}}", &sid, &e_));
  hp_store_param_t p[8];
  int64_t tid[8], num;
  /* 0 COMPLETE finite, 1 COMPLETE +inf, 2 COMPLETE -inf, 3 PRUNED (last
   * intermediate copied), 4 PRUNED with NaN last (no value), 5 FAIL with
   * reason, 6 RUNNING, 7 WAITING */
  for (int i = 0; i < 8; i++) {
    make_params(p, i);
    bool waiting = i == 7;
    OK(hp_store_trial_create(s, sid, waiting ? HP_STORE_WAITING : HP_STORE_RUNNING, p,
                             waiting ? 0 : 8,
                             waiting ? "{\"fixed_params\": {\"x\": 1.5, \"opt\": \"sgd\"}}" : NULL,
                             &tid[i], &num, &e_));
    assert_int_equal(num, i);
  }
  OK(hp_store_trial_report(s, tid[0], 0, 0.5, &e_));
  OK(hp_store_trial_report(s, tid[0], 1, 0.25, &e_));
  OK(hp_store_trial_report(s, tid[0], 1, 0.125, &e_)); /* upsert */
  double v = 1.5;
  OK(hp_store_trial_finish(s, tid[0], HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  v = INFINITY;
  OK(hp_store_trial_finish(s, tid[1], HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  v = -INFINITY;
  OK(hp_store_trial_finish(s, tid[2], HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  OK(hp_store_trial_report(s, tid[3], 0, 3.0, &e_));
  OK(hp_store_trial_report(s, tid[3], 4, -INFINITY, &e_));
  OK(hp_store_trial_finish(s, tid[3], HP_STORE_PRUNED, NULL, 0, NULL, &e_));
  OK(hp_store_trial_report(s, tid[4], 0, 2.0, &e_));
  OK(hp_store_trial_report(s, tid[4], 1, NAN, &e_));
  OK(hp_store_trial_finish(s, tid[4], HP_STORE_PRUNED, NULL, 0, NULL, &e_));
  OK(hp_store_trial_finish(s, tid[5], HP_STORE_FAIL, NULL, 0,
                           "{\"fail_reason\": \"worker killed by signal 9\"}", &e_));
  OK(hp_store_trial_set_user_attr(s, tid[0], "note", "\"hello\"", &e_));
  hp_store_close(s);

  /* Read back through a read-only handle. */
  hp_err_t e = {0};
  assert_int_equal(hp_store_open(f->path, HP_STORE_READONLY, &s, &e), 0);
  hp_store_trial_t *t;
  size_t n;
  OK(hp_store_trials_list(s, sid, 0, &t, &n, &e_));
  assert_int_equal(n, 8);
  const int states[8] = {HP_STORE_COMPLETE, HP_STORE_COMPLETE, HP_STORE_COMPLETE, HP_STORE_PRUNED,
                         HP_STORE_PRUNED,   HP_STORE_FAIL,     HP_STORE_RUNNING,  HP_STORE_WAITING};
  for (int i = 0; i < 8; i++) {
    assert_int_equal(t[i].number, i);
    assert_int_equal(t[i].trial_id, tid[i]);
    assert_int_equal(t[i].state, states[i]);
    assert_int_equal(t[i].study_id, sid);
    if (i == 7) {
      assert_int_equal(t[i].n_params, 0);
      assert_string_equal(t[i].datetime_start, "");
      cJSON *a = cJSON_Parse(t[i].system_attrs_json);
      assert_non_null(a);
      cJSON *fp = cJSON_GetObjectItem(a, "fixed_params");
      assert_string_equal(cJSON_GetObjectItem(fp, "opt")->valuestring, "sgd");
      cJSON_Delete(a);
      continue;
    }
    /* datetimes: 'YYYY-MM-DD HH:MM:SS.ffffff', no 'T' */
    assert_int_equal(strlen(t[i].datetime_start), 26);
    assert_int_equal(t[i].datetime_start[10], ' ');
    assert_int_equal(t[i].datetime_start[19], '.');
    assert_int_equal(strlen(t[i].datetime_complete), i == 6 ? 0 : 26);
    make_params(p, i);
    assert_int_equal(t[i].n_params, 8);
    for (int k = 0; k < 8; k++) {
      assert_string_equal(t[i].params[k].name, p[k].name);
      assert_true(t[i].params[k].value == p[k].value);
      assert_string_equal(t[i].params[k].distribution_json, p[k].distribution_json);
    }
  }
  assert_int_equal(t[0].n_values, 1);
  assert_true(t[0].values[0] == 1.5);
  assert_int_equal(t[0].n_intermediate, 2);
  assert_true(t[0].steps[1] == 1 && t[0].intermediate[1] == 0.125);
  assert_true(isinf(t[1].values[0]) && t[1].values[0] > 0);
  assert_true(isinf(t[2].values[0]) && t[2].values[0] < 0);
  assert_int_equal(t[3].n_values, 1);
  assert_true(isinf(t[3].values[0]) && t[3].values[0] < 0); /* last step 4: -inf */
  assert_true(t[3].steps[1] == 4);
  assert_int_equal(t[4].n_values, 0);
  assert_true(isnan(t[4].intermediate[1]));
  assert_int_equal(t[5].n_values, 0);
  cJSON *a = cJSON_Parse(t[5].system_attrs_json);
  assert_string_equal(cJSON_GetObjectItem(a, "fail_reason")->valuestring,
                      "worker killed by signal 9");
  cJSON_Delete(a);
  a = cJSON_Parse(t[0].user_attrs_json);
  assert_string_equal(cJSON_GetObjectItem(a, "note")->valuestring, "hello");
  cJSON_Delete(a);
  assert_string_equal(t[6].user_attrs_json, "{}");
  hp_store_trials_free(t, n);

  /* Encodings in the raw rows. */
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT value_type || ',' || IFNULL(value, 'NULL') FROM "
                                    "trial_values WHERE trial_id = 2"),
                      "INF_POS,NULL");
  assert_string_equal(sql1(f->path, "SELECT group_concat(intermediate_value_type) FROM "
                                    "trial_intermediate_values WHERE trial_id = 5"),
                      "FINITE,NAN");
  assert_string_equal(sql1(f->path, "SELECT direction FROM study_directions"), "MINIMIZE");
  assert_string_equal(sql1(f->path, "SELECT value_json FROM study_user_attributes WHERE "
                                    "\"key\" = 'nested'"),
                      "{\"a\":[1,2]}");

  /* Summary: counts per state and best (the finite 1.5 beats +inf, -inf
   * is best when minimizing). */
  s = open_rw(f);
  hp_store_study_info_t info;
  OK(hp_store_study_get(s, sid, &info, &e_));
  assert_string_equal(info.name, "rt");
  assert_int_equal(info.n_trials, 8);
  assert_int_equal(info.n_state[HP_STORE_COMPLETE], 3);
  assert_int_equal(info.n_state[HP_STORE_PRUNED], 2);
  assert_int_equal(info.n_state[HP_STORE_FAIL], 1);
  assert_int_equal(info.n_state[HP_STORE_RUNNING], 1);
  assert_int_equal(info.n_state[HP_STORE_WAITING], 1);
  assert_true(info.has_best && isinf(info.best_value) && info.best_value < 0);
  assert_int_equal(info.best_number, 2);
  assert_int_equal(info.n_objectives, 1);
  assert_false(info.maximize[0]);
  hp_store_study_info_clear(&info);
  char *attrs;
  OK(hp_store_study_attrs(s, sid, false, &attrs, &e_));
  cJSON *ua = cJSON_Parse(attrs);
  assert_string_equal(cJSON_GetObjectItem(ua, "owner")->valuestring, "probe");
  cJSON_Delete(ua);
  free(attrs);
  OK(hp_store_study_get_system_attr(s, sid, "spec", &attrs, &e_));
  assert_string_equal(attrs, "{\"n_trials\":10}");
  free(attrs);
  hp_store_close(s);
}

static void test_best_handles_inf(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t smin = new_study(s, "min", false), smax = new_study(s, "max", true);
  double vals[] = {INFINITY, 3.0, -2.0, INFINITY};
  for (int i = 0; i < 4; i++) {
    int64_t a, b;
    OK(hp_store_trial_create(s, smin, HP_STORE_RUNNING, NULL, 0, NULL, &a, NULL, &e_));
    OK(hp_store_trial_create(s, smax, HP_STORE_RUNNING, NULL, 0, NULL, &b, NULL, &e_));
    double vmin = vals[i], vmax = -vals[i];
    OK(hp_store_trial_finish(s, a, HP_STORE_COMPLETE, &vmin, 1, NULL, &e_));
    OK(hp_store_trial_finish(s, b, HP_STORE_COMPLETE, &vmax, 1, NULL, &e_));
  }
  int64_t num;
  double best;
  /* Optuna 3.1.0 would return trial 0 (+inf stored as NULL sorts first). */
  OK(hp_store_best_trial(s, smin, NULL, &num, &best, &e_));
  assert_int_equal(num, 2);
  assert_true(best == -2.0);
  OK(hp_store_best_trial(s, smax, NULL, &num, &best, &e_));
  assert_int_equal(num, 2);
  assert_true(best == 2.0);
  hp_store_study_info_t *list;
  size_t n;
  OK(hp_store_study_list(s, &list, &n, &e_));
  assert_int_equal(n, 2);
  assert_true(list[0].best_value == -2.0 && list[0].best_number == 2);
  assert_true(list[1].best_value == 2.0 && list[1].best_number == 2 && list[1].maximize[0]);
  hp_store_study_list_free(list, n);
  /* Only +inf: it is the best there is; no COMPLETE trial: not found. */
  int64_t only = new_study(s, "only_inf", false), none = new_study(s, "none", false), t;
  OK(hp_store_trial_create(s, only, HP_STORE_RUNNING, NULL, 0, NULL, &t, NULL, &e_));
  double inf = INFINITY;
  OK(hp_store_trial_finish(s, t, HP_STORE_COMPLETE, &inf, 1, NULL, &e_));
  OK(hp_store_best_trial(s, only, NULL, &num, &best, &e_));
  assert_true(isinf(best) && best > 0);
  hp_err_t e = {0};
  assert_int_equal(hp_store_best_trial(s, none, NULL, NULL, NULL, &e), HP_ENOTFOUND);
  hp_store_close(s);
}

static void test_numbering_pop_and_errors(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "a", false), b = new_study(s, "b", false);
  hp_err_t e = {0};
  assert_int_equal(hp_store_study_create(s, "a", 1, (bool[]){false}, NULL, NULL, NULL, &e),
                   HP_EEXIST);
  int64_t num, tid, w1, w2;
  /* Interleaved studies number independently. */
  for (int i = 0; i < 5; i++) {
    OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
    assert_int_equal(num, i);
    OK(hp_store_trial_create(s, b, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
    assert_int_equal(num, i);
  }
  /* Enqueue two, pop in order; the pop returns the fixed params. */
  OK(hp_store_trial_create(s, a, HP_STORE_WAITING, NULL, 0, "{\"fixed_params\": {\"x\": 1}}",
                           &w1, &num, &e_));
  assert_int_equal(num, 5);
  OK(hp_store_trial_create(s, a, HP_STORE_WAITING, NULL, 0, "{\"fixed_params\": {\"x\": 2}}",
                           &w2, NULL, &e_));
  char *attrs;
  OK(hp_store_trial_pop_waiting(s, a, &tid, &num, &attrs, &e_));
  assert_int_equal(tid, w1);
  assert_int_equal(num, 5);
  assert_string_equal(attrs, "{\"fixed_params\": {\"x\":1}}");
  free(attrs);
  OK(hp_store_trial_pop_waiting(s, a, &tid, NULL, NULL, &e_));
  assert_int_equal(tid, w2);
  assert_int_equal(hp_store_trial_pop_waiting(s, a, &tid, NULL, NULL, &e), HP_ENOTFOUND);
  hp_store_trial_t t;
  OK(hp_store_trial_get(s, w2, &t, &e_));
  assert_int_equal(t.state, HP_STORE_RUNNING);
  assert_int_equal(strlen(t.datetime_start), 26);
  hp_store_trial_clear(&t);

  /* Errors name the problem and leave nothing behind. */
  double nan_v = NAN, two[2] = {1, 2}, one = 1;
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &nan_v, 1, NULL, &e),
                   HP_EINVAL);
  assert_non_null(strstr(e.msg, "NaN"));
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, two, 2, NULL, &e), HP_EINVAL);
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_FAIL, &one, 1, NULL, &e), HP_EINVAL);
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &one, 1, "[1]", &e),
                   HP_EINVAL);
  OK(hp_store_trial_get(s, tid, &t, &e_)); /* the bad attrs rolled the finish back */
  assert_int_equal(t.state, HP_STORE_RUNNING);
  hp_store_trial_clear(&t);
  OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &one, 1, NULL, &e_));
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_FAIL, NULL, 0, NULL, &e), HP_ESTATE);
  assert_int_equal(hp_store_trial_report(s, tid, 3, 1.0, &e), HP_ESTATE);
  assert_int_equal(hp_store_trial_report(s, 99999, 3, 1.0, &e), HP_ENOTFOUND);
  assert_int_equal(hp_store_trial_create(s, 12345, HP_STORE_RUNNING, NULL, 0, NULL, NULL, NULL, &e),
                   HP_ENOTFOUND);
  assert_int_equal(hp_store_trial_create(s, a, HP_STORE_COMPLETE, NULL, 0, NULL, NULL, NULL, &e),
                   HP_EINVAL);
  hp_store_param_t bad = {"x", NAN, D_FLOAT};
  assert_int_equal(hp_store_trial_create(s, a, HP_STORE_RUNNING, &bad, 1, NULL, NULL, NULL, &e),
                   HP_EINVAL);
  assert_non_null(strstr(e.msg, "'x'"));
  /* The failed create did not consume a number. */
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, 7);
  int64_t id;
  assert_int_equal(hp_store_study_find(s, "nope", &id, &e), HP_ENOTFOUND);
  OK(hp_store_study_find(s, "b", &id, &e_));
  assert_int_equal(id, b);
  hp_store_close(s);
}

static void test_batch_commit_and_rollback(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "a", false), num, tid;
  OK(hp_store_begin(s, &e_));
  hp_err_t e = {0};
  assert_int_equal(hp_store_begin(s, &e), HP_ESTATE);
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, &tid, &num, &e_));
  assert_int_equal(num, 0);
  /* A failing call inside the batch undoes only itself. */
  double nan_v = NAN;
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &nan_v, 1, NULL, &e),
                   HP_EINVAL);
  assert_int_equal(hp_store_trial_set_system_attr(s, tid, "k", "{bad", &e), HP_EINVAL);
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, 1);
  hp_store_rollback(s);
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, 0); /* rolled back: numbering continues from the file */
  OK(hp_store_begin(s, &e_));
  for (int i = 1; i < 4; i++) {
    OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, &tid, &num, &e_));
    assert_int_equal(num, i);
    double v = i;
    OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  OK(hp_store_commit(s, &e_));
  assert_false(hp_store_in_batch(s));
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT group_concat(number) FROM trials"), "0,1,2,3");
}

static void test_delete_and_reconcile(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "a", false), b = new_study(s, "b", true), ta, tb, tc;
  hp_store_param_t p[8];
  make_params(p, 3);
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, p, 8, "{\"k\": 1}", &ta, NULL, &e_));
  OK(hp_store_trial_report(s, ta, 0, 1.0, &e_));
  OK(hp_store_trial_set_user_attr(s, ta, "u", "2", &e_));
  OK(hp_store_study_set_system_attr(s, a, "running", "true", &e_));
  OK(hp_store_trial_create(s, b, HP_STORE_RUNNING, p, 8, NULL, &tb, NULL, &e_));
  OK(hp_store_trial_create(s, b, HP_STORE_RUNNING, NULL, 0, NULL, &tc, NULL, &e_));
  double v = 1;
  OK(hp_store_trial_finish(s, tc, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  OK(hp_store_study_delete(s, a, &e_));
  hp_err_t e = {0};
  assert_int_equal(hp_store_study_delete(s, a, &e), HP_ENOTFOUND);
  hp_store_close(s);
  const char *tables[] = {"trial_params", "trial_intermediate_values", "trial_user_attributes",
                          "trial_system_attributes", "study_system_attributes"};
  char q[160];
  for (size_t i = 0; i < 5; i++) {
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM %s WHERE %s = %lld", tables[i],
             i == 4 ? "study_id" : "trial_id", (long long)(i == 4 ? a : ta));
    assert_string_equal(sql1(f->path, q), "0");
  }
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM trial_params"), "8"); /* b's stay */
  assert_string_equal(sql1(f->path, "SELECT group_concat(study_name) FROM studies"), "b");

  /* Restart: the RUNNING trial of b becomes FAIL with the reason. */
  s = open_rw(f);
  hp_store_trial_ref_t *refs;
  size_t n;
  OK(hp_store_reconcile(s, NULL, &refs, &n, &e_));
  assert_int_equal(n, 1);
  assert_int_equal(refs[0].trial_id, tb);
  assert_int_equal(refs[0].study_id, b);
  assert_int_equal(refs[0].number, 0);
  free(refs);
  OK(hp_store_reconcile(s, NULL, &refs, &n, &e_));
  assert_int_equal(n, 0);
  free(refs);
  hp_store_trial_t t;
  OK(hp_store_trial_get(s, tb, &t, &e_));
  assert_int_equal(t.state, HP_STORE_FAIL);
  assert_string_equal(t.system_attrs_json, "{\"fail_reason\": \"daemon restarted\"}");
  assert_int_equal(strlen(t.datetime_complete), 26);
  hp_store_trial_clear(&t);
  /* New trials continue the numbering of b after the deletion of a. */
  int64_t num;
  OK(hp_store_trial_create(s, b, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, 2);
  hp_store_close(s);
}

static void test_readonly_beside_writer(void **state) {
  fix_t *f = *state;
  hp_store_t *w = open_rw(f), *r = NULL;
  int64_t a = new_study(w, "a", false), tid;
  OK(hp_store_trial_create(w, a, HP_STORE_RUNNING, NULL, 0, NULL, &tid, NULL, &e_));
  /* The writer holds an open write transaction while the reader opens. */
  OK(hp_store_begin(w, &e_));
  OK(hp_store_trial_report(w, tid, 0, 5.0, &e_));
  OK(hp_store_open(f->path, HP_STORE_READONLY, &r, &e_));
  hp_store_trial_t t;
  OK(hp_store_trial_get(r, tid, &t, &e_));
  assert_int_equal(t.n_intermediate, 0); /* not committed yet: invisible */
  hp_store_trial_clear(&t);
  hp_err_t e = {0};
  assert_int_equal(hp_store_trial_report(r, tid, 1, 1.0, &e), HP_ESTATE);
  assert_int_equal(hp_store_begin(r, &e), HP_ESTATE);
  OK(hp_store_commit(w, &e_));
  OK(hp_store_trial_get(r, tid, &t, &e_));
  assert_int_equal(t.n_intermediate, 1);
  hp_store_trial_clear(&t);
  /* The writer keeps writing while the reader reads. */
  double v = 1;
  OK(hp_store_trial_finish(w, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  hp_store_study_info_t info;
  OK(hp_store_study_get(r, a, &info, &e_));
  assert_int_equal(info.n_state[HP_STORE_COMPLETE], 1);
  hp_store_study_info_clear(&info);
  hp_store_close(r);
  hp_store_close(w);
}

/* ---- speed ------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* create (6 params) + finish, one transaction each; then the status summary
 * and the trial list of a 1,000-trial study. Printed, loosely asserted (the
 * machine is shared); the real numbers go to the report. */
static void test_throughput(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "speed", false);
  hp_store_param_t p[8];
  make_params(p, 1);
  const int N = 1000;
  double t0 = now_s();
  for (int i = 0; i < N; i++) {
    int64_t tid;
    p[0].value = -5.0 + 0.01 * i;
    OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, p, 6, NULL, &tid, NULL, &e_));
    double v = i % 97;
    OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  double dt = now_s() - t0;
  double t1 = now_s();
  hp_store_study_info_t *list;
  size_t n;
  OK(hp_store_study_list(s, &list, &n, &e_));
  double dt_list = now_s() - t1;
  assert_int_equal(list[0].n_trials, N);
  hp_store_study_list_free(list, n);
  t1 = now_s();
  hp_store_trial_t *tr;
  OK(hp_store_trials_list(s, a, 0, &tr, &n, &e_));
  double dt_trials = now_s() - t1;
  assert_int_equal(n, N);
  hp_store_trials_free(tr, n);
  print_message("store: %.0f trials/s (create with 6 params + finish, 2 transactions each); "
                "summary of a %d-trial study %.2f ms; full trial list %.2f ms\n",
                N / dt, N, dt_list * 1e3, dt_trials * 1e3);
  assert_true(N / dt > 300); /* loose: a sanitizer build on a busy machine */
  hp_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_schema_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_foreign_version_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_roundtrip_all_kinds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_best_handles_inf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_numbering_pop_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_commit_and_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_and_reconcile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readonly_beside_writer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

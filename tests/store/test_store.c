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
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/err.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/store.h"

#include "../optuna5.h"
#include "../store_fixture.h"

/* ---- fixtures --------------------------------------------------------- */

typedef struct fix {
  char dir[64];   /* temp folder */
  char path[128]; /* database file in it */
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  if (hp_test_db_dir(f->dir, f->path, "store", "s.db") < 0) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  int rc = hp_test_db_dir_remove(f->dir);
  free(f);
  return rc;
}

static hp_store_t *open_rw(const fix_t *f) {
  hp_store_t *s = NULL;
  hp_err_t e = {0};
  int rc = hp_store_open(f->path, 0, &s, &e);
  if (rc) fail_msg("open: %s", e.msg);
  return s;
}

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

static hp_store_t *open_flags(const char *path, unsigned flags) {
  hp_store_t *s = NULL;
  hp_err_t e = {0};
  if (hp_store_open(path, flags, &s, &e)) fail_msg("open %s: %s", path, e.msg);
  return s;
}

/* Runs SQL on the file with a separate connection. */
static void sql_exec(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (sqlite3_exec(db, sql, 0, 0, 0) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_close(db);
}

static const char *IX_NEW = "CREATE INDEX ix_trials_study_id ON trials (study_id)";
static const char *IX_UPGRADED = "CREATE INDEX trials_study_id_key ON trials (study_id)";
#define INDEXES_ON_TRIALS                                                                  \
  "SELECT COALESCE(group_concat(sql, ';'), '') FROM sqlite_master WHERE type = 'index' AND " \
  "tbl_name = 'trials'"

static void test_schema_exact(void **state) {
  fix_t *f = *state;
  /* A new file: revision v3.2.0.a, as Optuna 5 creates it (the interop
   * test compares every DDL text with a file Optuna 5 created). */
  hp_store_t *s = open_rw(f);
  assert_string_equal(hp_store_revision(s), "v3.2.0.a");
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"), "13");
  assert_string_equal(sql1(f->path, "SELECT schema_version || ',' || library_version || ',' || "
                                    "version_info_id FROM version_info"),
                      "12,3.2.0,1");
  assert_string_equal(sql1(f->path, "SELECT version_num FROM alembic_version"), "v3.2.0.a");
  assert_string_equal(sql1(f->path, INDEXES_ON_TRIALS), IX_NEW);
  assert_string_equal(sql1(f->path, "PRAGMA journal_mode"), "wal");
  /* Byte-exact DDL of one table, as SQLAlchemy writes it for Optuna. */
  assert_string_equal(sql1(f->path, "SELECT sql FROM sqlite_master WHERE name='trial_values'"),
                      "CREATE TABLE trial_values (\n\ttrial_value_id INTEGER NOT NULL, \n\ttrial_id "
                      "INTEGER NOT NULL, \n\tobjective INTEGER NOT NULL, \n\tvalue FLOAT, "
                      "\n\tvalue_type VARCHAR(7) NOT NULL, \n\tPRIMARY KEY (trial_value_id), "
                      "\n\tUNIQUE (trial_id, objective), \n\tFOREIGN KEY(trial_id) REFERENCES "
                      "trials (trial_id)\n)");
  /* Reopening keeps everything (no duplicate version rows), also when the
   * caller asks for 3.1: an existing file keeps its revision. */
  s = open_flags(f->path, HP_STORE_CREATE_V31);
  assert_string_equal(hp_store_revision(s), "v3.2.0.a");
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM version_info"), "1");
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM alembic_version"), "1");

  /* HP_STORE_CREATE_V31: what Optuna 3.1 creates (no index on trials). */
  char p31[160];
  snprintf(p31, sizeof p31, "%s/v31.db", f->dir);
  s = open_flags(p31, HP_STORE_CREATE_V31);
  assert_string_equal(hp_store_revision(s), "v3.0.0.d");
  hp_store_close(s);
  s = open_flags(p31, 0);
  assert_string_equal(hp_store_revision(s), "v3.0.0.d");
  int64_t sid = new_study(s, "keep", false);
  OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, NULL, 0, NULL, NULL, NULL, &e_));
  hp_store_close(s);
  assert_string_equal(sql1(p31, "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"), "13");
  assert_string_equal(sql1(p31, "SELECT version_num FROM alembic_version"), "v3.0.0.d");
  assert_string_equal(sql1(p31, "SELECT schema_version || ',' || library_version FROM "
                                "version_info"),
                      "12,3.1.0");
  assert_string_equal(sql1(p31, INDEXES_ON_TRIALS), "");
}

/* The layouts accepted are exactly Optuna's two: v3.0.0.d without an index
 * on trials.study_id, v3.2.0.a with one of its two names and exact DDL. */
static void test_schema_layouts(void **state) {
  fix_t *f = *state;
  char p[8][160];
  for (int i = 0; i < 8; i++) {
    snprintf(p[i], sizeof p[i], "%s/l%d.db", f->dir, i);
    hp_store_close(open_flags(p[i], i < 4 ? HP_STORE_CREATE_V31 : 0));
  }
  hp_err_t e = {0};
  hp_store_t *s = NULL;
  /* v3.0.0.d plus an index only v3.2.0.a has. */
  sql_exec(p[0], IX_UPGRADED);
  assert_int_equal(hp_store_open(p[0], 0, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "trials_study_id_key"));
  assert_int_equal(hp_store_open(p[0], HP_STORE_READONLY, &s, &e), HP_EFORMAT);
  /* Unknown revisions, newer and older. */
  sql_exec(p[1], "UPDATE alembic_version SET version_num = 'v9.9.9.z'");
  assert_int_equal(hp_store_open(p[1], 0, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "'v9.9.9.z'"));
  assert_non_null(strstr(e.msg, "v3.2.0.a"));
  sql_exec(p[2], "UPDATE alembic_version SET version_num = 'v3.0.0.c'");
  assert_int_equal(hp_store_open(p[2], HP_STORE_READONLY, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "optuna storage upgrade"));
  /* v3.2.0.a: both names at once, or a different DDL, are refused. */
  sql_exec(p[4], IX_UPGRADED);
  assert_int_equal(hp_store_open(p[4], 0, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "both"));
  sql_exec(p[5], "DROP INDEX ix_trials_study_id; "
                 "CREATE INDEX trials_study_id_key ON trials (study_id, number)");
  assert_int_equal(hp_store_open(p[5], HP_STORE_READONLY, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "trials_study_id_key"));
  assert_null(s);
  /* v3.2.0.a as `optuna storage upgrade` leaves it: accepted and kept. */
  sql_exec(p[6], "DROP INDEX ix_trials_study_id");
  sql_exec(p[6], IX_UPGRADED);
  s = open_flags(p[6], 0);
  assert_string_equal(hp_store_revision(s), "v3.2.0.a");
  new_study(s, "upgraded", false);
  hp_store_close(s);
  assert_string_equal(sql1(p[6], INDEXES_ON_TRIALS), IX_UPGRADED);
  /* v3.2.0.a without its index: read-only reads it, read-write adds it. */
  sql_exec(p[7], "DROP INDEX ix_trials_study_id");
  hp_store_close(open_flags(p[7], HP_STORE_READONLY));
  hp_store_close(open_flags(p[7], 0));
  assert_string_equal(sql1(p[7], INDEXES_ON_TRIALS), IX_NEW);
  /* No alembic row (Optuna stamps one on open): the layout decides. */
  sql_exec(p[3], "DELETE FROM alembic_version");
  s = open_flags(p[3], 0);
  assert_string_equal(hp_store_revision(s), "v3.0.0.d");
  hp_store_close(s);
  assert_string_equal(sql1(p[3], "SELECT version_num FROM alembic_version"), "v3.0.0.d");
  /* Someone else's database (tables, none of ours) is left alone. */
  char other[160];
  snprintf(other, sizeof other, "%s/other.db", f->dir);
  sql_exec(other, "CREATE TABLE invoices (x)");
  assert_int_equal(hp_store_open(other, 0, &s, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "invoices"));
  assert_null(s);
  assert_string_equal(sql1(other, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"), "1");
  assert_string_equal(sql1(other, "PRAGMA journal_mode"), "delete");
  /* Read-only open of a missing file names it. */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none.db", f->dir);
  assert_int_equal(hp_store_open(missing, HP_STORE_READONLY, &s, &e), HP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "none.db"));
}

/* `hpsearch db upgrade`: v3.0.0.d -> v3.2.0.a as `optuna storage upgrade`
 * does it; a handle open on the file meanwhile follows the new revision. */
static void test_schema_upgrade(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_flags(f->path, HP_STORE_CREATE_V31), *old = open_flags(f->path, 0);
  int64_t sid = new_study(s, "up", false), tid;
  OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, NULL, 0, NULL, &tid, NULL, &e_));
  hp_store_close(s);
  const char *from = NULL;
  OK(hp_store_upgrade(f->path, &from, &e_));
  assert_string_equal(from, "v3.0.0.d");
  assert_string_equal(sql1(f->path, "SELECT version_num FROM alembic_version"), "v3.2.0.a");
  assert_string_equal(sql1(f->path, "SELECT schema_version || ',' || library_version FROM "
                                    "version_info"),
                      "12,3.2.0");
  assert_string_equal(sql1(f->path, INDEXES_ON_TRIALS), IX_UPGRADED);
  assert_string_equal(sql1(f->path, "SELECT COUNT(*) FROM trials"), "1");
  OK(hp_store_upgrade(f->path, &from, &e_)); /* already there: unchanged */
  assert_string_equal(from, "v3.2.0.a");
  assert_string_equal(sql1(f->path, INDEXES_ON_TRIALS), IX_UPGRADED);
  assert_string_equal(hp_store_revision(old), "v3.0.0.d");
  OK(hp_store_trial_finish(old, tid, HP_STORE_FAIL, NULL, 0, NULL, &e_));
  assert_string_equal(hp_store_revision(old), "v3.2.0.a");
  hp_store_close(old);
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none.db", f->dir);
  hp_err_t e = {0};
  assert_int_equal(hp_store_upgrade(missing, &from, &e), HP_ENOTFOUND);
  assert_int_equal(access(missing, F_OK), -1);
}

/* Trial datetimes: local time in a v3.0.0.d file (Optuna 3.1), naive UTC
 * in a v3.2.0.a file (Optuna 5); the API gives local time for both. */
static void test_datetime_conventions(void **state) {
  fix_t *f = *state;
  setenv("TZ", "HPT-5:30", 1); /* UTC+05:30, no DST, no tzdata needed */
  tzset();
  for (int v31 = 0; v31 < 2; v31++) {
    char path[160];
    snprintf(path, sizeof path, "%s/t%d.db", f->dir, v31);
    hp_store_t *s = open_flags(path, v31 ? HP_STORE_CREATE_V31 : 0);
    int64_t sid = new_study(s, "t", false), tid;
    time_t before = time(NULL);
    OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, NULL, 0, NULL, &tid, NULL, &e_));
    hp_store_trial_t t;
    OK(hp_store_trial_get(s, tid, &t, &e_));
    /* What the file holds, in the convention of its revision. */
    struct tm tm;
    char want[32];
    if (v31)
      localtime_r(&before, &tm);
    else
      gmtime_r(&before, &tm);
    strftime(want, sizeof want, "%Y-%m-%d %H:%M", &tm);
    const char *raw = sql1(path, "SELECT datetime_start FROM trials");
    if (strncmp(raw, want, 16) != 0) fail_msg("stored %s, expected %s...", raw, want);
    /* What the API gives: local time, the fraction kept. */
    localtime_r(&before, &tm);
    strftime(want, sizeof want, "%Y-%m-%d %H:%M", &tm);
    if (strncmp(t.datetime_start, want, 16) != 0)
      fail_msg("read %s, expected %s...", t.datetime_start, want);
    assert_string_equal(t.datetime_start + 16, raw + 16);
    hp_store_trial_clear(&t);
    hp_store_close(s);
  }
  unsetenv("TZ");
  tzset();
}

/* An attribute whose value_json is not JSON (a hand-edited file) comes back
 * as a string of its text: the attrs object stays JSON. Python's NaN and
 * Infinity tokens (Optuna's json.dumps) become strings of their spelling in
 * place, so a list keeps its shape: Optuna's constraints [Infinity, -1.5]
 * read as a violated constraint, not as none. */
static void test_bad_attr_json_kept_as_text(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t sid = new_study(s, "bad-attr", false), tid = 0;
  OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, NULL, 0, NULL, &tid, NULL, &e_));
  OK(hp_store_trial_set_user_attr(s, tid, "ok", "1", &e_));
  hp_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "INSERT INTO trial_user_attributes (trial_id, key, value_json) "
                                    "SELECT trial_id, 'bad', '{oops' FROM trials; "
                                    "INSERT INTO trial_user_attributes (trial_id, key, value_json) "
                                    "SELECT trial_id, 'nan', 'NaN' FROM trials; "
                                    "INSERT INTO trial_user_attributes (trial_id, key, value_json) "
                                    "SELECT trial_id, 'lst', '[NaN, -Infinity, \"NaN x\", 2]' FROM trials; "
                                    "INSERT INTO trial_system_attributes (trial_id, key, value_json) "
                                    "SELECT trial_id, 'constraints', '[Infinity, -1.5]' FROM trials",
                                0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(db);
  s = open_rw(f);
  hp_store_trial_t t = {0};
  OK(hp_store_trial_get(s, tid, &t, &e_));
  cJSON *o = cJSON_Parse(t.user_attrs_json);
  assert_non_null(o);
  assert_int_equal(cJSON_GetObjectItem(o, "ok")->valueint, 1);
  assert_string_equal(cJSON_GetObjectItem(o, "bad")->valuestring, "{oops");
  assert_string_equal(cJSON_GetObjectItem(o, "nan")->valuestring, "NaN");
  const cJSON *lst = cJSON_GetObjectItem(o, "lst");
  assert_int_equal(cJSON_GetArraySize(lst), 4);
  assert_string_equal(cJSON_GetArrayItem(lst, 0)->valuestring, "NaN");
  assert_string_equal(cJSON_GetArrayItem(lst, 1)->valuestring, "-Infinity");
  assert_string_equal(cJSON_GetArrayItem(lst, 2)->valuestring, "NaN x");
  assert_int_equal(cJSON_GetArrayItem(lst, 3)->valueint, 2);
  cJSON_Delete(o);
  o = cJSON_Parse(t.system_attrs_json);
  const cJSON *cons = cJSON_GetObjectItem(o, "constraints");
  double c0 = 0, c1 = 0;
  assert_int_equal(cJSON_GetArraySize(cons), 2);
  OK(hp_json_value(cJSON_GetArrayItem(cons, 0), HP_NUM_LENIENT, &c0, "c", &e_));
  OK(hp_json_value(cJSON_GetArrayItem(cons, 1), HP_NUM_LENIENT, &c1, "c", &e_));
  assert_true(isinf(c0) && c0 > 0);
  assert_true(c1 == -1.5);
  cJSON_Delete(o);
  hp_store_trial_clear(&t);
  hp_store_close(s);
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
  int64_t tmin, tmax;
  OK(hp_store_best_trial(s, smin, &tmin, NULL, NULL, &e_));
  OK(hp_store_best_trial(s, smax, &tmax, NULL, NULL, &e_));
  assert_int_equal(list[0].best_trial_id, tmin);
  assert_int_equal(list[1].best_trial_id, tmax);
  hp_store_study_list_free(list, n);
  hp_store_study_info_t one;
  OK(hp_store_study_get(s, smax, &one, &e_));
  assert_true(one.has_best && one.best_number == 2 && one.best_trial_id == tmax);
  assert_int_equal(one.n_trials, 4);
  hp_store_study_info_clear(&one);
  OK(hp_store_study_brief(s, smax, &one, &e_));
  assert_string_equal(one.name, "max");
  assert_true(one.n_objectives == 1 && one.maximize[0] && !one.has_best && one.n_trials == 0 &&
              one.best_trial_id == -1);
  hp_store_study_info_clear(&one);
  hp_err_t e1 = {0};
  assert_int_equal(hp_store_study_brief(s, 999, &one, &e1), HP_ENOTFOUND);
  /* The studies' trials interleave (ids 1, 3, 5, 7 and 2, 4, 6, 8): a read
   * from a number on gets its own study's rows only. */
  hp_store_trial_t *tr;
  size_t nt;
  OK(hp_store_trials_list(s, smax, 2, &tr, &nt, &e_));
  assert_int_equal(nt, 2);
  assert_true(tr[0].number == 2 && tr[0].study_id == smax && tr[0].n_values == 1 &&
              tr[0].values[0] == 2.0);
  assert_true(tr[1].number == 3 && tr[1].n_values == 1 && isinf(tr[1].values[0]) &&
              tr[1].values[0] < 0);
  hp_store_trials_free(tr, nt);
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
  /* A WAITING trial finished directly gets a start time (Optuna requires
   * one on every non-WAITING trial). */
  int64_t w3;
  OK(hp_store_trial_create(s, b, HP_STORE_WAITING, NULL, 0, NULL, &w3, NULL, &e_));
  OK(hp_store_trial_finish(s, w3, HP_STORE_FAIL, NULL, 0, "{\"fail_reason\": \"skipped\"}", &e_));
  hp_store_trial_t tw;
  OK(hp_store_trial_get(s, w3, &tw, &e_));
  assert_int_equal(tw.state, HP_STORE_FAIL);
  assert_int_equal(strlen(tw.datetime_start), 26);
  assert_string_equal(tw.datetime_start, tw.datetime_complete);
  hp_store_trial_clear(&tw);
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
  hp_store_state_t only;
  OK(hp_store_trial_state(s, tid, &only, &e_));
  assert_int_equal(only, HP_STORE_RUNNING);
  OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &one, 1, NULL, &e_));
  OK(hp_store_trial_state(s, tid, &only, &e_));
  assert_int_equal(only, HP_STORE_COMPLETE);
  OK(hp_store_trial_state(s, w3, &only, &e_));
  assert_int_equal(only, HP_STORE_FAIL);
  assert_int_equal(hp_store_trial_state(s, 99999, &only, &e), HP_ENOTFOUND);
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
  OK(hp_store_reconcile(s, NULL, NULL, 0, &refs, &n, &e_));
  assert_int_equal(n, 1);
  assert_int_equal(refs[0].trial_id, tb);
  assert_int_equal(refs[0].study_id, b);
  assert_int_equal(refs[0].number, 0);
  free(refs);
  OK(hp_store_reconcile(s, NULL, NULL, 0, &refs, &n, &e_));
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

/* SIGKILL of the writer at a random moment: every trial it reported as
 * stored is there, complete with its rows; no half-written trial exists;
 * the file passes SQLite's integrity check and numbering goes on. */
static void test_kill_during_writes(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "k", false);
  hp_store_close(s);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    hp_store_t *w = NULL;
    hp_err_t e = {0};
    if (hp_store_open(f->path, 0, &w, &e)) _exit(2);
    hp_store_param_t p[8];
    make_params(p, 2);
    for (int64_t i = 0;; i++) {
      int64_t tid, num;
      double v = (double)i;
      if (hp_store_trial_create(w, a, HP_STORE_RUNNING, p, 6, "{\"k\": 1}", &tid, &num, &e) ||
          hp_store_trial_report(w, tid, 0, v, &e) ||
          hp_store_trial_finish(w, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e))
        _exit(3);
      /* Told only after the commit returned. */
      if (write(fds[1], &num, sizeof num) != sizeof num) _exit(4);
    }
  }
  close(fds[1]);
  int64_t told = -1, num;
  for (int i = 0; i < 300 && read(fds[0], &num, sizeof num) == sizeof num; i++) told = num;
  /* A read-only reader in another process while the writer runs (what
   * `hpsearch status --db` does): it sees at least what was reported. */
  hp_store_t *ro = NULL;
  OK(hp_store_open(f->path, HP_STORE_READONLY, &ro, &e_));
  for (int k = 0; k < 5; k++) {
    hp_store_study_info_t info;
    OK(hp_store_study_get(ro, a, &info, &e_));
    assert_true(info.n_state[HP_STORE_COMPLETE] >= told + 1);
    hp_store_study_info_clear(&info);
    if (read(fds[0], &num, sizeof num) == sizeof num) told = num;
  }
  hp_store_close(ro);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  close(fds[0]);
  assert_true(WIFSIGNALED(st));
  assert_true(told >= 299);
  assert_string_equal(sql1(f->path, "PRAGMA integrity_check"), "ok");
  s = open_rw(f);
  hp_store_trial_t *t;
  size_t n;
  OK(hp_store_trials_list(s, a, 0, &t, &n, &e_));
  assert_true((int64_t)n >= told + 1);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(t[i].number, (int64_t)i);
    assert_int_equal(t[i].n_params, 6);
    assert_string_equal(t[i].system_attrs_json, "{\"k\": 1}");
    if (t[i].state == HP_STORE_COMPLETE) {
      assert_int_equal(t[i].n_values, 1);
      assert_int_equal(t[i].n_intermediate, 1);
    } else {
      /* the one trial caught between create and finish */
      assert_int_equal(t[i].state, HP_STORE_RUNNING);
      assert_true(i + 1 == n && (int64_t)i > told);
    }
  }
  hp_store_trials_free(t, n);
  OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, (int64_t)n);
  hp_store_close(s);
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
  /* The daemon may group operations: 50 trials per transaction. */
  t1 = now_s();
  for (int b = 0; b < N / 50; b++) {
    OK(hp_store_begin(s, &e_));
    for (int i = 0; i < 50; i++) {
      int64_t tid;
      OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, p, 6, NULL, &tid, NULL, &e_));
      double v = i;
      OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
    }
    OK(hp_store_commit(s, &e_));
  }
  double dt_batch = now_s() - t1;
  print_message("store: %.0f trials/s (create with 6 params + finish, 2 transactions each), "
                "%.0f trials/s batched 50 per transaction; summary of a %d-trial study %.2f ms; "
                "full trial list %.2f ms\n",
                N / dt, N / dt_batch, N, dt_list * 1e3, dt_trials * 1e3);
  assert_true(N / dt > 300); /* loose: a sanitizer build on a busy machine */
  hp_store_close(s);
}


/* ---- Optuna interoperability ------------------------------------------ */

/* Runs tests/store/optuna_interop.py with /usr/bin/python3 (or
 * $HP_PYTHON) and returns its JSON output: with Debian's Optuna 3.1, or
 * with the Optuna package in folder o5 (PYTHONPATH) when o5 is not NULL.
 * Missing Python or Optuna 3.1 is a test FAILURE with the fix, never a
 * silent pass. */
static cJSON *run_py_with(const char *o5, const char *args) {
  const char *py = getenv("HP_PYTHON");
  if (!py || !*py) py = "/usr/bin/python3";
  const char *src = getenv("HP_SRC_DIR");
  if (!src || !*src) src = ".";
  if (access(py, X_OK) != 0)
    fail_msg("%s not found: the Optuna interoperability tests need python3 and python3-optuna; "
             "run scripts/install-deps",
             py);
  char cmd[3072];
  snprintf(cmd, sizeof cmd, "%s%s%s'%s' '%s/tests/store/optuna_interop.py' %s",
           o5 ? "PYTHONPATH='" : "", o5 ? o5 : "", o5 ? "' " : "", py, src, args);
  FILE *fp = popen(cmd, "r");
  if (!fp) fail_msg("cannot run %s", cmd);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
    n += k;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  buf[n] = 0;
  int st = pclose(fp);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  if (code == 3 || code == 127)
    fail_msg("python3-optuna is missing (exit %d from %s): run scripts/install-deps", code, py);
  if (code != 0) fail_msg("%s exited with %d; output: %.500s", cmd, code, buf);
  cJSON *j = cJSON_Parse(buf);
  if (!j) fail_msg("unparsable output of %s: %.500s", cmd, buf);
  free(buf);
  /* The Optuna that ran is the one meant. */
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(j, "version"));
  if (!v || strncmp(v, o5 ? "5." : "3.1", o5 ? 2 : 3) != 0)
    fail_msg("%s ran Optuna %s", cmd, v ? v : "?");
  return j;
}


/* A number from the helper's JSON, where non-finite values are strings. */
static double jnum(const cJSON *j) {
  if (cJSON_IsNumber(j)) return j->valuedouble;
  if (cJSON_IsString(j)) {
    if (strcmp(j->valuestring, "inf") == 0) return INFINITY;
    if (strcmp(j->valuestring, "-inf") == 0) return -INFINITY;
    if (strcmp(j->valuestring, "nan") == 0) return NAN;
  }
  fail_msg("expected a number in the helper's JSON");
  return 0;
}

static bool same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static const cJSON *trial_by_number(const cJSON *study, int64_t number) {
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(study, "trials")) {
    if (cJSON_GetObjectItem(t, "number")->valueint == number) return t;
  }
  fail_msg("Optuna does not see trial %lld", (long long)number);
  return NULL;
}

/* Checks that what Optuna saw of one trial equals what the store holds. */
static void expect_same_trial(const cJSON *ot, const hp_store_trial_t *t) {
  assert_int_equal(cJSON_GetObjectItem(ot, "number")->valueint, t->number);
  assert_string_equal(cJSON_GetObjectItem(ot, "state")->valuestring,
                      hp_store_state_name(t->state));
  const cJSON *internal = cJSON_GetObjectItem(ot, "internal");
  const cJSON *dists = cJSON_GetObjectItem(ot, "distributions");
  assert_int_equal(cJSON_GetArraySize(internal), (int)t->n_params);
  for (size_t k = 0; k < t->n_params; k++) {
    const cJSON *v = cJSON_GetObjectItem(internal, t->params[k].name);
    if (!v) fail_msg("trial %lld: Optuna lacks param %s", (long long)t->number, t->params[k].name);
    assert_true(jnum(v) == t->params[k].value);
    cJSON *mine = cJSON_Parse(t->params[k].distribution_json);
    assert_non_null(mine);
    if (!cJSON_Compare(mine, cJSON_GetObjectItem(dists, t->params[k].name), 1))
      fail_msg("trial %lld param %s: distribution differs: %s", (long long)t->number,
               t->params[k].name, t->params[k].distribution_json);
    cJSON_Delete(mine);
  }
  const cJSON *vals = cJSON_GetObjectItem(ot, "values");
  if (t->n_values == 0) {
    assert_true(cJSON_IsNull(vals));
  } else {
    assert_int_equal(cJSON_GetArraySize(vals), (int)t->n_values);
    for (size_t k = 0; k < t->n_values; k++)
      assert_true(same_double(jnum(cJSON_GetArrayItem(vals, (int)k)), t->values[k]));
  }
  const cJSON *inter = cJSON_GetObjectItem(ot, "intermediate");
  assert_int_equal(cJSON_GetArraySize(inter), (int)t->n_intermediate);
  for (size_t k = 0; k < t->n_intermediate; k++) {
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)t->steps[k]);
    const cJSON *v = cJSON_GetObjectItem(inter, key);
    assert_non_null(v);
    assert_true(same_double(jnum(v), t->intermediate[k]));
  }
  cJSON *ua = cJSON_Parse(t->user_attrs_json), *sa = cJSON_Parse(t->system_attrs_json);
  assert_true(cJSON_Compare(ua, cJSON_GetObjectItem(ot, "user_attrs"), 1));
  assert_true(cJSON_Compare(sa, cJSON_GetObjectItem(ot, "system_attrs"), 1));
  cJSON_Delete(ua);
  cJSON_Delete(sa);
  assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(ot, "has_start")), t->datetime_start[0] != 0);
  assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(ot, "has_complete")),
                   t->datetime_complete[0] != 0);
  /* The same local times (to the microsecond) on both sides: Optuna 5
   * turns its naive UTC into local time, so does the store. */
  const char *os = cJSON_GetStringValue(cJSON_GetObjectItem(ot, "start"));
  const char *oc = cJSON_GetStringValue(cJSON_GetObjectItem(ot, "complete"));
  if (os) assert_string_equal(os, t->datetime_start);
  if (oc) assert_string_equal(oc, t->datetime_complete);
}

/* The interop tests run in a time zone away from UTC, so that a datetime
 * stored in the wrong convention shows. */
static int setup_tz(void **state) {
  setenv("TZ", "HPT-5:30", 1);
  tzset();
  return setup(state);
}

static int teardown_tz(void **state) {
  unsetenv("TZ");
  tzset();
  return teardown(state);
}

/* One study of get_all_study_summaries by name. */
static const cJSON *summary_of(const cJSON *out, const char *name) {
  const cJSON *sm;
  cJSON_ArrayForEach(sm, cJSON_GetObjectItem(out, "summaries")) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(sm, "name")), name) == 0) return sm;
  }
  fail_msg("get_all_study_summaries lacks study %s", name);
  return NULL;
}

/* Every CREATE text of the file at path, in order, and its alembic
 * revision equal what the helper dumped of an Optuna file. */
static void expect_same_schema(const char *path, const char *rev, const cJSON *schema) {
  if (cJSON_GetObjectItem(schema, "error"))
    fail_msg("Optuna failed: %s", cJSON_GetStringValue(cJSON_GetObjectItem(schema, "error")));
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(schema, "alembic")), rev);
  assert_int_equal(cJSON_GetObjectItem(schema, "schema_version")->valueint, 12);
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                          "ORDER BY rowid", -1, &q, NULL),
                   SQLITE_OK);
  int n_ddl = 0;
  for (; sqlite3_step(q) == SQLITE_ROW; n_ddl++) {
    const cJSON *theirs = cJSON_GetArrayItem(cJSON_GetObjectItem(schema, "ddl"), n_ddl);
    if (!theirs) fail_msg("hpsearch has more schema objects than Optuna: %s",
                          (const char *)sqlite3_column_text(q, 0));
    assert_string_equal((const char *)sqlite3_column_text(q, 0), cJSON_GetStringValue(theirs));
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  assert_int_equal(n_ddl, cJSON_GetArraySize(cJSON_GetObjectItem(schema, "ddl")));
}

/* (a) hpsearch writes; Optuna (3.1 with o5 NULL, else the Optuna 5 in
 * folder o5) loads it, its CLI prints it, get_all_study_summaries lists it,
 * its TPE continues it; hpsearch (same open handle) then numbers its next
 * trial after them and reads Optuna's trials back. The file keeps its
 * revision: v3.0.0.d for Optuna 3.1, v3.2.0.a (the default) for Optuna 5. */
static void optuna_reads_hpsearch(fix_t *f, const char *o5) {
  hp_store_t *s = open_flags(f->path, o5 ? 0 : HP_STORE_CREATE_V31);
  bool dir = false;
  int64_t sid, tid, num;
  OK(hp_store_study_create(s, "hp", 1, &dir, "{\"owner\": \"hpsearch\"}", NULL, &sid, &e_));
  hp_store_param_t p[8];
  for (int i = 0; i < 9; i++) {
    make_params(p, i);
    hp_store_state_t st0 = i == 8 ? HP_STORE_WAITING : HP_STORE_RUNNING;
    size_t np = i == 8 ? 0 : i == 7 ? 1 : 8;
    OK(hp_store_trial_create(s, sid, st0, i == 7 ? p + 6 : p, np,
                             i == 8 ? "{\"fixed_params\": {\"x\": 1.5, \"opt\": \"sgd\"}}" : NULL,
                             &tid, &num, &e_));
    assert_int_equal(num, i);
    if (i < 4) {
      for (int k = 0; k < 3; k++) OK(hp_store_trial_report(s, tid, k, i + k, &e_));
      double v = 1.0 + i * (i - 2.5);
      OK(hp_store_trial_set_user_attr(s, tid, "i", i == 0 ? "[1, \"a\"]" : "2", &e_));
      OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
    } else if (i == 4) {
      double v = INFINITY;
      OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
    } else if (i == 5) {
      OK(hp_store_trial_report(s, tid, 0, 5.0, &e_));
      OK(hp_store_trial_report(s, tid, 1, NAN, &e_));
      OK(hp_store_trial_report(s, tid, 2, -INFINITY, &e_));
      OK(hp_store_trial_finish(s, tid, HP_STORE_PRUNED, NULL, 0, NULL, &e_));
    } else if (i == 6) {
      OK(hp_store_trial_finish(s, tid, HP_STORE_FAIL, NULL, 0,
                               "{\"fail_reason\": \"worker exited with status 1\"}", &e_));
    } else if (i == 7) {
      OK(hp_store_trial_report(s, tid, 0, 0.5, &e_));
    }
  }
  hp_store_trial_t *mine;
  size_t n;
  OK(hp_store_trials_list(s, sid, 0, &mine, &n, &e_));
  int64_t best_num;
  OK(hp_store_best_trial(s, sid, NULL, &best_num, NULL, &e_));
  assert_int_equal(best_num, 1); /* values 1, -0.5, 0, 2.5, +inf */

  char args[512];
  snprintf(args, sizeof args, "check '%s' hp --cli --continue 5 --schema '%s/optuna-new.db'",
           f->path, f->dir);
  cJSON *out = run_py_with(o5, args);
  /* The DDL texts (13 tables, their indexes), in order, and the version
   * rows are those of a file this Optuna creates itself. */
  expect_same_schema(f->path, hp_store_revision(s), cJSON_GetObjectItem(out, "schema"));
  const cJSON *study = cJSON_GetObjectItem(out, "study");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(study, "directions"), 0)->valuestring,
                      "MINIMIZE");
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(study, "user_attrs"), "owner")->valuestring,
      "hpsearch");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(study, "trials")), 9);
  for (size_t i = 0; i < n; i++) expect_same_trial(trial_by_number(study, mine[i].number), &mine[i]);
  /* External values as Optuna decodes them. */
  const cJSON *t1 = trial_by_number(study, 1), *prm = cJSON_GetObjectItem(t1, "params");
  assert_string_equal(cJSON_GetObjectItem(prm, "opt")->valuestring, "sgd");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(prm, "mixed")));
  assert_int_equal(cJSON_GetObjectItem(prm, "n_log")->valueint, 2);
  /* Optuna's own best_trial would be fooled by +inf (3.1.0 bug); the
   * correct best is what the store says. */
  const cJSON *tb = cJSON_GetObjectItem(study, "true_best");
  assert_int_equal(cJSON_GetObjectItem(tb, "number")->valueint, best_num);
  int optuna_best =
      cJSON_GetObjectItem(cJSON_GetObjectItem(study, "optuna_best"), "number")->valueint;
  print_message("optuna %s best_trial on this study: #%d (correct: #%lld)\n",
                cJSON_GetStringValue(cJSON_GetObjectItem(out, "version")), optuna_best,
                (long long)best_num);
  if (o5) assert_int_equal(optuna_best, best_num); /* fixed since 3.1.1 */
  /* get_all_study_summaries (what `optuna studies` prints). */
  const cJSON *sm = summary_of(out, "hp");
  assert_int_equal(cJSON_GetObjectItem(sm, "n_trials")->valueint, 9);
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(sm, "user_attrs"), "owner")->valuestring,
      "hpsearch");
  if (o5)
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sm, "best"), "number")->valueint, best_num);
  /* The `optuna` command line reads the file. */
  const cJSON *cli = cJSON_GetObjectItem(out, "cli");
  const cJSON *ct = cJSON_GetObjectItem(cli, "trials");
  if (!cJSON_IsArray(ct)) fail_msg("optuna trials failed: %s", cJSON_PrintUnformatted(ct));
  if (cJSON_GetArraySize(ct) != 9) fail_msg("optuna trials: %s", cJSON_PrintUnformatted(ct));
  const cJSON *row;
  int i = 0;
  cJSON_ArrayForEach(row, ct) {
    assert_int_equal(cJSON_GetObjectItem(row, "number")->valueint, i);
    assert_string_equal(cJSON_GetObjectItem(row, "state")->valuestring,
                        hp_store_state_name(mine[i].state));
    i++;
  }
  const cJSON *cb = cJSON_GetObjectItem(cli, "best-trial");
  if (!cJSON_GetObjectItem(cb, "number")) fail_msg("optuna best-trial failed");
  /* TPE continued the study: Optuna's ask first took our enqueued WAITING
   * trial 8 (with its fixed params), then created 9..12. */
  const cJSON *cont = cJSON_GetObjectItem(out, "continued");
  assert_int_equal(cJSON_GetArraySize(cont), 5);
  assert_int_equal(cJSON_GetArrayItem(cont, 0)->valueint, 8);
  assert_int_equal(cJSON_GetArrayItem(cont, 4)->valueint, 12);
  hp_store_trials_free(mine, n);

  /* The store's open handle sees Optuna's commits: numbering goes on at 13. */
  OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, NULL, 0, NULL, NULL, &num, &e_));
  assert_int_equal(num, 13);
  OK(hp_store_trials_list(s, sid, 8, &mine, &n, &e_));
  assert_int_equal(n, 6);
  const cJSON *after = cJSON_GetObjectItem(out, "after");
  for (int k = 0; k < 5; k++) {
    assert_int_equal(mine[k].number, 8 + k);
    assert_int_equal(mine[k].state, HP_STORE_COMPLETE);
    assert_int_equal(mine[k].n_params, 8);
    assert_int_equal(mine[k].n_values, 1);
    expect_same_trial(trial_by_number(after, mine[k].number), &mine[k]);
  }
  for (size_t k = 0; k < mine[0].n_params; k++)
    if (strcmp(mine[0].params[k].name, "x") == 0) assert_true(mine[0].params[k].value == 1.5);
  hp_store_trials_free(mine, n);
  cJSON_Delete(out);
  /* Written by both, the file is still at the revision it was created at. */
  assert_string_equal(hp_store_revision(s), o5 ? "v3.2.0.a" : "v3.0.0.d");
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT version_num FROM alembic_version"),
                      o5 ? "v3.2.0.a" : "v3.0.0.d");
}

static void test_optuna_reads_hpsearch(void **state) { optuna_reads_hpsearch(*state, NULL); }

static void test_optuna5_reads_hpsearch(void **state) {
  const char *o5 = optuna5_dir();
  if (!o5) skip();
  optuna_reads_hpsearch(*state, o5);
}

/* (b) Optuna (3.1, or the Optuna 5 in folder o5) writes every parameter
 * kind and state (incl. WAITING from enqueue_trial); hpsearch reads it all
 * back, continues the study (pops the enqueued trial, adds trials,
 * reconciles the RUNNING one) and Optuna reads and continues it again. The
 * file keeps Optuna's revision. */
static void hpsearch_reads_optuna(fix_t *f, const char *o5) {
  char args[512];
  snprintf(args, sizeof args, "write '%s'", f->path);
  cJSON *w = run_py_with(o5, args);
  const cJSON *ostudy = cJSON_GetArrayItem(cJSON_GetObjectItem(w, "studies"), 0);
  const cJSON *omulti = cJSON_GetArrayItem(cJSON_GetObjectItem(w, "studies"), 1);
  hp_store_t *s = open_rw(f);
  assert_string_equal(hp_store_revision(s), o5 ? "v3.2.0.a" : "v3.0.0.d");
  hp_store_study_info_t *list;
  size_t ns;
  OK(hp_store_study_list(s, &list, &ns, &e_));
  assert_int_equal(ns, 2);
  assert_string_equal(list[0].name, "opt");
  assert_string_equal(list[1].name, "multi");
  assert_int_equal(list[0].n_trials, 9);
  assert_int_equal(list[0].n_state[HP_STORE_COMPLETE], 5);
  assert_int_equal(list[0].n_state[HP_STORE_PRUNED], 1);
  assert_int_equal(list[0].n_state[HP_STORE_FAIL], 1);
  assert_int_equal(list[0].n_state[HP_STORE_RUNNING], 1);
  assert_int_equal(list[0].n_state[HP_STORE_WAITING], 1);
  assert_int_equal(list[1].n_objectives, 2);
  assert_false(list[1].maximize[0]);
  assert_true(list[1].maximize[1]);
  int64_t sid = list[0].study_id, mid = list[1].study_id;
  assert_int_equal(list[0].best_number,
                   cJSON_GetObjectItem(cJSON_GetObjectItem(ostudy, "true_best"), "number")->valueint);
  hp_store_study_list_free(list, ns);
  char *ua;
  OK(hp_store_study_attrs(s, sid, false, &ua, &e_));
  cJSON *uaj = cJSON_Parse(ua);
  assert_true(cJSON_Compare(uaj, cJSON_GetObjectItem(ostudy, "user_attrs"), 1));
  cJSON_Delete(uaj);
  free(ua);

  hp_store_trial_t *t;
  size_t n;
  OK(hp_store_trials_list(s, sid, 0, &t, &n, &e_));
  assert_int_equal(n, 9);
  for (size_t i = 0; i < n; i++) expect_same_trial(trial_by_number(ostudy, t[i].number), &t[i]);
  assert_int_equal(t[8].state, HP_STORE_WAITING);
  /* Keep Optuna's own distribution texts to continue in the same space. */
  char *dist[8];
  const char *names[8];
  double some[8];
  for (int k = 0; k < 8; k++) {
    names[k] = t[0].params[k].name;
    dist[k] = t[0].params[k].distribution_json;
    some[k] = t[1].params[k].value;
  }
  hp_store_trial_t *m;
  size_t nm;
  OK(hp_store_trials_list(s, mid, 0, &m, &nm, &e_));
  assert_int_equal(nm, 1);
  expect_same_trial(trial_by_number(omulti, 0), &m[0]);
  hp_store_trials_free(m, nm);

  /* Continue: pop the enqueued trial and give it its fixed params. */
  int64_t tid, num;
  char *sys;
  OK(hp_store_trial_pop_waiting(s, sid, &tid, &num, &sys, &e_));
  assert_int_equal(num, 8);
  cJSON *sj = cJSON_Parse(sys);
  const cJSON *fp = cJSON_GetObjectItem(sj, "fixed_params");
  assert_true(cJSON_GetObjectItem(fp, "x")->valuedouble == 1.5);
  assert_string_equal(cJSON_GetObjectItem(fp, "opt")->valuestring, "sgd");
  cJSON_Delete(sj);
  free(sys);
  hp_store_param_t fixed[3];
  for (int k = 0, j = 0; k < 8; k++) {
    if (strcmp(names[k], "x") == 0) fixed[j++] = (hp_store_param_t){"x", 1.5, dist[k]};
    if (strcmp(names[k], "opt") == 0) fixed[j++] = (hp_store_param_t){"opt", 1, dist[k]};
    if (strcmp(names[k], "n") == 0) fixed[j++] = (hp_store_param_t){"n", 3, dist[k]};
  }
  OK(hp_store_trial_set_params(s, tid, fixed, 3, &e_));
  double v = 0.01;
  OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  hp_store_param_t p[8];
  for (int k = 0; k < 8; k++) p[k] = (hp_store_param_t){names[k], some[k], dist[k]};
  for (int i = 0; i < 2; i++) {
    OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, p, 8, NULL, &tid, &num, &e_));
    assert_int_equal(num, 9 + i);
    OK(hp_store_trial_report(s, tid, 0, 0.5 - i, &e_));
    v = 0.001;
    OK(hp_store_trial_finish(s, tid, i ? HP_STORE_PRUNED : HP_STORE_COMPLETE, &v, i ? 0 : 1, NULL,
                             &e_));
  }
  hp_store_trial_ref_t *refs;
  size_t nr;
  OK(hp_store_reconcile(s, NULL, NULL, 0, &refs, &nr, &e_));
  assert_int_equal(nr, 1);
  assert_int_equal(refs[0].number, 7);
  free(refs);
  hp_store_trials_free(t, n);
  cJSON_Delete(w);

  snprintf(args, sizeof args, "check '%s' opt --continue 3", f->path);
  cJSON *out = run_py_with(o5, args);
  const cJSON *after = cJSON_GetObjectItem(out, "after");
  OK(hp_store_trials_list(s, sid, 0, &t, &n, &e_));
  assert_int_equal(n, 14);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(after, "trials")), 14);
  for (size_t i = 0; i < n; i++) expect_same_trial(trial_by_number(after, t[i].number), &t[i]);
  const cJSON *t8 = trial_by_number(after, 8);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(t8, "params"), "opt")->valuestring,
                      "sgd");
  const cJSON *t7 = trial_by_number(after, 7);
  assert_string_equal(cJSON_GetObjectItem(t7, "state")->valuestring, "FAIL");
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(t7, "system_attrs"), "fail_reason")->valuestring,
      "daemon restarted");
  assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "continued"), 0)->valueint, 11);
  int64_t best;
  OK(hp_store_best_trial(s, sid, NULL, &best, NULL, &e_));
  assert_int_equal(best,
                   cJSON_GetObjectItem(cJSON_GetObjectItem(after, "true_best"), "number")->valueint);
  if (o5)
    assert_int_equal(
        best, cJSON_GetObjectItem(cJSON_GetObjectItem(after, "optuna_best"), "number")->valueint);
  hp_store_trials_free(t, n);
  cJSON_Delete(out);
  assert_string_equal(hp_store_revision(s), o5 ? "v3.2.0.a" : "v3.0.0.d");
  hp_store_close(s);
  assert_string_equal(sql1(f->path, "SELECT version_num FROM alembic_version"),
                      o5 ? "v3.2.0.a" : "v3.0.0.d");
  if (o5) return;

  /* `hpsearch db upgrade` makes the Optuna 3.1 file readable by Optuna 5,
   * which continues it; the file's schema is then what `optuna storage
   * upgrade` makes of a copy. */
  char copy[512];
  snprintf(copy, sizeof copy, "cp '%s' '%s/optuna-up.db'", f->path, f->dir);
  assert_int_equal(system(copy), 0);
  const char *from;
  OK(hp_store_upgrade(f->path, &from, &e_));
  assert_string_equal(from, "v3.0.0.d");
  if (!(o5 = optuna5_dir())) return;
  snprintf(args, sizeof args, "check '%s' opt --continue 1 --storage-upgrade '%s/optuna-up.db'",
           f->path, f->dir);
  out = run_py_with(o5, args);
  expect_same_schema(f->path, "v3.2.0.a", cJSON_GetObjectItem(out, "upgraded"));
  after = cJSON_GetObjectItem(out, "after");
  s = open_rw(f);
  OK(hp_store_trials_list(s, sid, 0, &t, &n, &e_));
  assert_int_equal(n, 15);
  for (size_t i = 0; i < n; i++) expect_same_trial(trial_by_number(after, t[i].number), &t[i]);
  hp_store_trials_free(t, n);
  hp_store_close(s);
  cJSON_Delete(out);
}

static void test_hpsearch_reads_optuna(void **state) { hpsearch_reads_optuna(*state, NULL); }

static void test_hpsearch_reads_optuna5(void **state) {
  const char *o5 = optuna5_dir();
  if (!o5) skip();
  hpsearch_reads_optuna(*state, o5);
}

/* ---- hp_store_trials_scan gives what hp_store_trials_list gives ---------- */

typedef struct dump {
  char *p;
  size_t len, cap;
} dump_t;

static void dput(dump_t *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (d->len + (size_t)n + 1 > d->cap) {
    d->cap = (d->len + (size_t)n + 1) * 2;
    d->p = realloc(d->p, d->cap);
  }
  memcpy(d->p + d->len, buf, (size_t)n + 1);
  d->len += (size_t)n;
}

/* one line per row: "i kind ..." (values printed with %.17g, JSON canonical) */
static void dump_json_members(dump_t *d, size_t i, const char *kind, const char *object) {
  cJSON *o = cJSON_Parse(object);
  for (const cJSON *e = o ? o->child : NULL; e; e = e->next) {
    char *v = cJSON_PrintUnformatted(e);
    dput(d, "%zu %s %s=%s\n", i, kind, e->string, v);
    free(v);
  }
  cJSON_Delete(o);
}

static int sc_trial(void *ctx, size_t i, const hp_store_scan_trial_t *t) {
  dput(ctx, "%zu trial %lld %d [%s] [%s]\n", i, (long long)t->number, (int)t->state,
       t->datetime_start, t->datetime_complete);
  return 0;
}
static int sc_param(void *ctx, size_t i, const char *name, double v, const char *dist) {
  dput(ctx, "%zu param %s=%.17g %s\n", i, name, v, dist);
  return 0;
}
static int sc_value(void *ctx, size_t i, int k, double v) {
  dput(ctx, "%zu value %d=%.17g\n", i, k, v);
  return 0;
}
static int sc_inter(void *ctx, size_t i, int64_t step, double v) {
  dput(ctx, "%zu inter %lld=%.17g\n", i, (long long)step, v);
  return 0;
}
static int sc_attr(dump_t *d, size_t i, const char *kind, const char *key, const char *json) {
  char *wrapped = malloc(strlen(key) + strlen(json) + 16);
  sprintf(wrapped, "{\"%s\": %s}", key, json);
  dump_json_members(d, i, kind, wrapped);
  free(wrapped);
  return 0;
}
static int sc_uattr(void *ctx, size_t i, const char *k, const char *j) { return sc_attr(ctx, i, "user", k, j); }
static int sc_sattr(void *ctx, size_t i, const char *k, const char *j) { return sc_attr(ctx, i, "system", k, j); }

/* The same rows through hp_store_trials_list, grouped the scan's way. */
static char *dump_list(hp_store_t *s, int64_t sid, int64_t from, bool complete, const char *key) {
  hp_store_trial_t *t;
  size_t n;
  OK(hp_store_trials_list(s, sid, from, &t, &n, &e_));
  dump_t d = {0};
  size_t m = 0, *ix = calloc(n + 1, sizeof *ix);
  for (size_t k = 0; k < n; k++)
    if (!complete || t[k].state == HP_STORE_COMPLETE) ix[m++] = k;
  for (size_t i = 0; i < m; i++) sc_trial(&d, i, &(hp_store_scan_trial_t){0, t[ix[i]].number,
                     t[ix[i]].state, t[ix[i]].datetime_start, t[ix[i]].datetime_complete});
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < t[ix[i]].n_params; j++)
      sc_param(&d, i, t[ix[i]].params[j].name, t[ix[i]].params[j].value, t[ix[i]].params[j].distribution_json);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < t[ix[i]].n_values; j++) sc_value(&d, i, (int)j, t[ix[i]].values[j]);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < t[ix[i]].n_intermediate; j++)
      sc_inter(&d, i, t[ix[i]].steps[j], t[ix[i]].intermediate[j]);
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < m; i++) {
      cJSON *o = cJSON_Parse(pass ? t[ix[i]].system_attrs_json : t[ix[i]].user_attrs_json);
      for (const cJSON *e = o ? o->child : NULL; e; e = e->next) {
        if (pass && key && strcmp(e->string, key) != 0) continue;
        char *v = cJSON_PrintUnformatted(e);
        dput(&d, "%zu %s %s=%s\n", i, pass ? "system" : "user", e->string, v);
        free(v);
      }
      cJSON_Delete(o);
    }
  free(ix);
  hp_store_trials_free(t, n);
  if (d.p == NULL) dput(&d, "%s", "");
  return d.p;
}

static char *dump_scan(hp_store_t *s, int64_t sid, int64_t from, bool complete, const char *key) {
  dump_t d = {0};
  hp_store_scan_t sc = {.min_number = from, .complete_only = complete, .times = true,
                        .system_keys = {key, NULL}, .ctx = &d, .trial = sc_trial,
                        .param = sc_param, .value = sc_value, .inter = sc_inter,
                        .user_attr = sc_uattr, .system_attr = sc_sattr};
  OK(hp_store_trials_scan(s, sid, &sc, &e_));
  if (d.p == NULL) dput(&d, "%s", "");
  return d.p;
}

static void test_scan_matches_list(void **state) {
  fix_t *f = *state;
  hp_store_t *s = open_rw(f);
  int64_t a = new_study(s, "a", false), b = new_study(s, "b", true);
  for (int i = 0; i < 12; i++) {
    hp_store_param_t p[8];
    make_params(p, i);
    int64_t ta, tb;
    /* the other study's trials in between (its rows inside a's id range) */
    OK(hp_store_trial_create(s, a, HP_STORE_RUNNING, p, 8 - i % 3, NULL, &ta, NULL, &e_));
    OK(hp_store_trial_create(s, b, HP_STORE_RUNNING, p, 2, NULL, &tb, NULL, &e_));
    for (int k = 0; k < i % 4; k++) OK(hp_store_trial_report(s, ta, 3 - k, k ? 0.5 * k : NAN, &e_));
    OK(hp_store_trial_report(s, tb, 0, 9.0, &e_));
    if (i % 2) OK(hp_store_trial_set_user_attr(s, ta, "acc", i % 4 ? "0.75" : "\"n/a\"", &e_));
    OK(hp_store_trial_set_user_attr(s, tb, "acc", "1", &e_));
    double v = i % 5 == 0 ? INFINITY : i * 0.1;
    if (i % 3 == 0) OK(hp_store_trial_finish(s, ta, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
    else if (i % 3 == 1) OK(hp_store_trial_finish(s, ta, HP_STORE_FAIL, NULL, 0, "{\"fail_reason\": \"boom\"}", &e_));
    else if (i != 11) OK(hp_store_trial_finish(s, ta, HP_STORE_PRUNED, NULL, 0, NULL, &e_));
    OK(hp_store_trial_finish(s, tb, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  for (int from = 0; from < 13; from += 4)
    for (int complete = 0; complete < 2; complete++)
      for (int keyed = 0; keyed < 2; keyed++) {
        const char *key = keyed ? "fail_reason" : NULL;
        char *x = dump_list(s, a, from, complete, key), *y = dump_scan(s, a, from, complete, key);
        if (from == 0 && !complete && !keyed)
          for (const char *kind = " param \0 value \0 inter \0 user \0 system \0 trial 11 \0"; *kind; kind += strlen(kind) + 1)
            if (!strstr(y, kind)) fail_msg("no '%s' row:\n%s", kind, y);
        if (strcmp(x, y) != 0) fail_msg("from %d complete %d key %s:\nlist:\n%s\nscan:\n%s", from, complete, key ? key : "-", x, y);
        free(x);
        free(y);
      }
  hp_err_t e = {0};
  hp_store_scan_t none = {0};
  assert_int_equal(hp_store_trials_scan(s, 999, &none, &e), HP_ENOTFOUND);
  hp_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_scan_matches_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_layouts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
      cmocka_unit_test_setup_teardown(test_datetime_conventions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_attr_json_kept_as_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_roundtrip_all_kinds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_best_handles_inf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_numbering_pop_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_commit_and_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_and_reconcile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readonly_beside_writer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
      cmocka_unit_test_setup_teardown(test_optuna_reads_hpsearch, setup_tz, teardown_tz),
      cmocka_unit_test_setup_teardown(test_hpsearch_reads_optuna, setup_tz, teardown_tz),
      cmocka_unit_test_setup_teardown(test_optuna5_reads_hpsearch, setup_tz, teardown_tz),
      cmocka_unit_test_setup_teardown(test_hpsearch_reads_optuna5, setup_tz, teardown_tz),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of the study and trial JSON shapes (view/) against a real store:
 * external parameter values of every kind, non-finite values, user
 * attributes, reasons, exact durations, trial lists with filters, the study
 * summary (best, counts, Optuna's datetime_start, elapsed) and the state a
 * study has by its database. */
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
#include <unistd.h>

#include "hpsearch/store.h"
#include "hpsearch/view.h"

typedef struct fix {
  char dir[64];
  char path[128];
  hp_store_t *s;
  hp_view_t *v;
  int64_t study;
} fix_t;

#include "../store_fixture.h"

static const char *D_LOG = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                           "\"low\": 1e-05, \"high\": 0.1, \"log\": true}}";
static const char *D_FSTEP = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": 0.25, "
                             "\"low\": 0.0, \"high\": 1.0, \"log\": false}}";
static const char *D_INT = "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, "
                           "\"step\": 5, \"low\": 0, \"high\": 100}}";
static const char *D_CAT = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                           "{\"choices\": [\"adam\", 0.5, true, null]}}";

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  if (hp_test_db_dir(f->dir, f->path, "view", "v.db") < 0) return -1;
  hp_err_t e = {0};
  if (hp_store_open(f->path, 0, &f->s, &e) < 0) return -1;
  f->v = hp_view_new();
  bool max = false;
  if (hp_store_study_create(f->s, "st", 1, &max, NULL,
                            "{\"hpsearch:created\": 1000000000.5}", &f->study, &e) < 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  hp_view_free(f->v);
  hp_store_close(f->s);
  int rc = hp_test_db_dir_remove(f->dir);
  free(f);
  return rc;
}

/* Sets a trial's datetimes directly (the store writes "now"). */
static void set_times(fix_t *f, int64_t tid, const char *start, const char *end) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  char *sql = sqlite3_mprintf("UPDATE trials SET datetime_start = %Q, datetime_complete = %Q "
                              "WHERE trial_id = %lld",
                              start, end, (long long)tid);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_free(sql);
  sqlite3_close(db);
}

/* A trial with one parameter of each kind; returns its id. */
static int64_t add_trial(fix_t *f, double lr, double frac, double width, double opt) {
  hp_store_param_t p[] = {{"lr", lr, D_LOG},
                          {"frac", frac, D_FSTEP},
                          {"width", width, D_INT},
                          {"opt", opt, D_CAT}};
  int64_t tid = 0;
  OK(hp_store_trial_create(f->s, f->study, HP_STORE_RUNNING, p, 4, NULL, &tid, NULL, &e_));
  return tid;
}

static cJSON *get_trial(fix_t *f, int64_t number) {
  cJSON *t = NULL;
  OK(hp_view_trial_get(f->v, f->s, f->study, number, &t, &e_));
  return t;
}

static void test_trial_shape(void **state) {
  fix_t *f = *state;
  int64_t t0 = add_trial(f, 0.0012, 0.75, 35, 0);
  OK(hp_store_trial_report(f->s, t0, 0, 0.5, &e_));
  OK(hp_store_trial_report(f->s, t0, 1, INFINITY, &e_));
  OK(hp_store_trial_report(f->s, t0, 2, NAN, &e_));
  OK(hp_store_trial_set_user_attr(f->s, t0, "test_accuracy", "0.853", &e_));
  double v = 0.1 + 0.2; /* needs 17 digits */
  OK(hp_store_trial_finish(f->s, t0, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  set_times(f, t0, "2026-11-28 03:41:07.123456", "2026-11-28 03:41:19.653456");
  int64_t t1 = add_trial(f, 0.01, 0, 100, 3);
  OK(hp_store_trial_finish(f->s, t1, HP_STORE_FAIL, NULL, 0,
                           "{\"fail_reason\": \"exit status 3\"}", &e_));
  int64_t t2 = add_trial(f, 0.02, 0.25, 0, 2);
  double ninf = -INFINITY;
  OK(hp_store_trial_finish(f->s, t2, HP_STORE_COMPLETE, &ninf, 1, NULL, &e_));

  cJSON *t = get_trial(f, 0);
  char *text = cJSON_PrintUnformatted(t);
  assert_non_null(strstr(text, "\"params\":{\"lr\":0.0012,\"frac\":0.75,\"width\":35,\"opt\":\"adam\"}"));
  assert_non_null(strstr(text, "\"intermediate\":[[0,0.5],[1,\"inf\"],[2,\"nan\"]]"));
  assert_non_null(strstr(text, "\"user_attrs\":{\"test_accuracy\":0.853}"));
  assert_non_null(strstr(text, "\"reason\":null"));
  /* exact: 12.53, not 12.530000000000001 */
  assert_non_null(strstr(text, "\"duration\":12.53"));
  assert_null(strstr(text, "12.5300"));
  assert_true(cJSON_GetObjectItem(t, "value")->valuedouble == 0.1 + 0.2);
  free(text);
  cJSON_Delete(t);

  t = get_trial(f, 1);
  assert_string_equal(cJSON_GetObjectItem(t, "state")->valuestring, "FAIL");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(t, "value")));
  assert_string_equal(cJSON_GetObjectItem(t, "reason")->valuestring, "exit status 3");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "params"), "opt")));
  assert_non_null(cJSON_GetObjectItem(t, "user_attrs"));
  cJSON_Delete(t);
  t = get_trial(f, 2);
  assert_string_equal(cJSON_GetObjectItem(t, "value")->valuestring, "-inf");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "params"), "opt")));
  cJSON_Delete(t);
  hp_err_t e = {0};
  cJSON *none = NULL;
  assert_int_equal(hp_view_trial_get(f->v, f->s, f->study, 7, &none, &e), HP_ENOTFOUND);
  assert_null(none);
}

static void test_trial_list(void **state) {
  fix_t *f = *state;
  for (int i = 0; i < 5; i++) {
    int64_t tid = add_trial(f, 0.001, 0.5, 10, 1);
    double v = i;
    if (i % 2 == 0) OK(hp_store_trial_finish(f->s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  char *text = NULL;
  OK(hp_view_trial_list(f->v, f->s, f->study, NULL, 1, 2, false, &text, &e_));
  cJSON *r = cJSON_Parse(text);
  free(text);
  cJSON *trials = cJSON_GetObjectItem(r, "trials");
  assert_int_equal(cJSON_GetArraySize(trials), 2);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 0), "trial")->valueint, 1);
  assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 0), "intermediate"));
  assert_int_equal(cJSON_GetObjectItem(r, "total")->valueint, 5);
  cJSON_Delete(r);
  bool want[HP_STORE_NSTATES] = {false};
  want[HP_STORE_RUNNING] = true;
  OK(hp_view_trial_list(f->v, f->s, f->study, want, 0, 0, true, &text, &e_));
  r = cJSON_Parse(text);
  free(text);
  trials = cJSON_GetObjectItem(r, "trials");
  assert_int_equal(cJSON_GetArraySize(trials), 2);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 1), "trial")->valueint, 3);
  assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 1), "intermediate"));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 1), "duration")));
  assert_int_equal(cJSON_GetObjectItem(r, "total")->valueint, 2);
  cJSON_Delete(r);
  /* A gap below the offset (trial 0 gone, as another program may leave
   * it): the offset still skips trials, not numbers. */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM trials WHERE number = 0", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  OK(hp_view_trial_list(f->v, f->s, f->study, NULL, 1, 2, false, &text, &e_));
  r = cJSON_Parse(text);
  free(text);
  trials = cJSON_GetObjectItem(r, "trials");
  assert_int_equal(cJSON_GetArraySize(trials), 2);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 0), "trial")->valueint, 2);
  assert_int_equal(cJSON_GetObjectItem(r, "total")->valueint, 4);
  cJSON_Delete(r);
}

static cJSON *summary(fix_t *f, const hp_view_spec_t *spec, const char *state, double now) {
  hp_store_study_info_t info;
  OK(hp_store_study_get(f->s, f->study, &info, &e_));
  hp_view_live_t live = {state, state && strcmp(state, "stopped") == 0 ? "why" : NULL};
  cJSON *o = hp_view_study(f->v, f->s, &info, spec, state ? &live : NULL, now);
  hp_store_study_info_clear(&info);
  assert_non_null(o);
  return o;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_study_summary(void **state) {
  fix_t *f = *state;
  hp_view_spec_t spec = {.metric = "value", .objective = "command", .sampler = "random",
                         .pruner = "none", .n_trials = 3, .parallelism = 2};
  /* No trial yet: running, no best, no first start, elapsed from creation. */
  cJSON *o = summary(f, &spec, NULL, 1000000010.5);
  assert_string_equal(str(o, "state"), "running");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "best")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "datetime_start")));
  assert_true(cJSON_GetObjectItem(o, "elapsed")->valuedouble == 10.0);
  assert_string_equal(str(o, "metric"), "value");
  assert_int_equal(cJSON_GetObjectItem(o, "n_trials")->valueint, 3);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "time_budget")));
  cJSON_Delete(o);

  int64_t a = add_trial(f, 0.001, 0.5, 10, 0);
  int64_t b = add_trial(f, 0.002, 0.25, 20, 1);
  int64_t c = add_trial(f, 0.003, 0.0, 30, 2);
  double va = 2.0, vb = 1.5;
  OK(hp_store_trial_finish(f->s, a, HP_STORE_COMPLETE, &va, 1, NULL, &e_));
  OK(hp_store_trial_finish(f->s, b, HP_STORE_COMPLETE, &vb, 1, NULL, &e_));
  OK(hp_store_trial_report(f->s, c, 0, 7.0, &e_));
  /* A running trial: running, whatever the counts say. */
  o = summary(f, &spec, NULL, 2e9);
  assert_string_equal(str(o, "state"), "running");
  cJSON_Delete(o);
  OK(hp_store_trial_finish(f->s, c, HP_STORE_PRUNED, NULL, 0,
                           "{\"hpsearch:reason\": \"pruned at step 0\"}", &e_));
  set_times(f, a, "2001-09-09 03:46:41.000000", "2001-09-09 03:46:42.000000");
  set_times(f, b, "2001-09-09 03:46:40.750000", "2001-09-09 03:46:43.250000");
  set_times(f, c, "2001-09-09 03:46:41.500000", "2001-09-09 03:46:42.500000");
  /* n_trials reached, nothing running: finished; elapsed ends with the
   * last trial's end, datetime_start is the first trial's start. */
  o = summary(f, &spec, NULL, 2e9);
  assert_string_equal(str(o, "state"), "finished");
  assert_string_equal(str(o, "datetime_start"), "2001-09-09 03:46:40.750000");
  double want = hp_view_local_seconds("2001-09-09 03:46:43.250000") - 1000000000.5;
  assert_true(cJSON_GetObjectItem(o, "elapsed")->valuedouble == want);
  const cJSON *best = cJSON_GetObjectItem(o, "best");
  assert_int_equal(cJSON_GetObjectItem(best, "trial")->valueint, 1);
  assert_true(cJSON_GetObjectItem(best, "value")->valuedouble == 1.5);
  assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(best, "params"), "opt")->valuedouble == 0.5);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(best, "params"), "width")->valueint, 20);
  cJSON_Delete(o);
  /* The order of counts is the protocol's. */
  o = summary(f, &spec, "stopped", 2e9);
  assert_string_equal(str(o, "state"), "stopped");
  assert_string_equal(str(o, "stop_reason"), "why");
  const cJSON *counts = cJSON_GetObjectItem(o, "counts");
  const char *order[] = {"WAITING", "RUNNING", "COMPLETE", "PRUNED", "FAIL"};
  int i = 0;
  for (const cJSON *k = counts->child; k; k = k->next, i++) assert_string_equal(k->string, order[i]);
  assert_int_equal(cJSON_GetObjectItem(counts, "COMPLETE")->valueint, 2);
  assert_int_equal(cJSON_GetObjectItem(counts, "PRUNED")->valueint, 1);
  cJSON_Delete(o);
  /* Stored "stopped" wins when the state is derived, with its reason. */
  OK(hp_store_study_set_system_attr(f->s, f->study, HP_STORE_ATTR_STATE, "\"stopped\"", &e_));
  o = summary(f, &spec, NULL, 2e9);
  assert_string_equal(str(o, "state"), "stopped");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "stop_reason")));
  cJSON_Delete(o);
  OK(hp_store_study_set_system_attr(f->s, f->study, HP_STORE_ATTR_STOP_REASON,
                                    "\"5 trials in a row failed\"", &e_));
  o = summary(f, &spec, NULL, 2e9);
  assert_string_equal(str(o, "stop_reason"), "5 trials in a row failed");
  cJSON_Delete(o);
  /* Without a spec: the spec's fields are null, the objective "none". */
  OK(hp_store_study_set_system_attr(f->s, f->study, HP_STORE_ATTR_STATE, "\"running\"", &e_));
  o = summary(f, NULL, NULL, 2e9);
  assert_string_equal(str(o, "state"), "running");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "metric")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "sampler")));
  assert_string_equal(str(o, "objective"), "none");
  cJSON_Delete(o);
}

/* Grid and time budget decide "finished" from the database too. */
static void test_study_state_limits(void **state) {
  fix_t *f = *state;
  hp_view_spec_t spec = {.metric = "value", .objective = "command", .sampler = "grid",
                         .pruner = "none", .parallelism = 1, .grid_total = 2};
  hp_store_study_info_t info;
  for (int i = 0; i < 2; i++) {
    int64_t tid = add_trial(f, 0.001, 0.5, 10, 0);
    OK(hp_store_trial_finish(f->s, tid, HP_STORE_FAIL, NULL, 0, NULL, &e_));
  }
  OK(hp_store_study_get(f->s, f->study, &info, &e_));
  assert_string_equal(hp_view_study_state(f->s, &info, &spec, 2e9), "finished");
  spec.grid_retry_failed = true;
  assert_string_equal(hp_view_study_state(f->s, &info, &spec, 2e9), "running");
  spec.grid_total = 0;
  spec.time_budget = 60;
  assert_string_equal(hp_view_study_state(f->s, &info, &spec, 1000000030.0), "running");
  assert_string_equal(hp_view_study_state(f->s, &info, &spec, 1000000061.0), "finished");
  hp_store_study_info_clear(&info);
  /* An enqueued trial runs past n_trials. */
  spec.time_budget = 0;
  spec.n_trials = 2;
  OK(hp_store_trial_create(f->s, f->study, HP_STORE_WAITING, NULL, 0, NULL, NULL, NULL, &e_));
  OK(hp_store_study_get(f->s, f->study, &info, &e_));
  assert_string_equal(hp_view_study_state(f->s, &info, &spec, 2e9), "running");
  hp_store_study_info_clear(&info);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_trial_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trial_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_study_summary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_study_state_limits, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The dashboard's columns (view/columns.c) against a real store: the
 * container's layout and values bit for bit, categorical choices gathered
 * across distributions, reasons and user attributes, and the incremental
 * update (only trials from the first unfinished one on are read again)
 * giving exactly the bytes of a fresh read after trials finish, start and
 * report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpsearch/json.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

#define OK(call)                                                   \
  do {                                                             \
    hp_err_t e_ = {0};                                             \
    int rc_ = (call);                                              \
    if (rc_ != 0) fail_msg("%s -> %d: %s", #call, rc_, e_.msg);    \
  } while (0)

static const char *D_X = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                         "\"low\": 0.0, \"high\": 10.0, \"log\": false}}";
static const char *D_C1 = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                          "{\"choices\": [\"a\", \"b\"]}}";
static const char *D_C2 = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                          "{\"choices\": [\"c\", \"a\"]}}";

typedef struct decoded {
  cJSON *header;
  const double *col[32];
  size_t len[32];
  char name[32][16];
  int ncol;
} decoded_t;

/* Reads the container; fails the test when its layout is wrong. */
static void decode(const hp_sbuf_t *b, decoded_t *d) {
  memset(d, 0, sizeof *d);
  assert_true(b->len >= 8);
  assert_memory_equal(b->p, "HPC1", 4);
  uint32_t hl = 0;
  for (int k = 0; k < 4; k++) hl |= (uint32_t)(unsigned char)b->p[4 + k] << (8 * k);
  assert_int_equal((8 + hl) % 8, 0);
  assert_int_equal(hp_json_parse(b->p + 8, hl, "header", &d->header, NULL), 0);
  size_t off = 8 + hl;
  const cJSON *cols = cJSON_GetObjectItem(d->header, "columns");
  for (const cJSON *c = cols->child; c; c = c->next, d->ncol++) {
    snprintf(d->name[d->ncol], sizeof d->name[0], "%s", cJSON_GetArrayItem(c, 0)->valuestring);
    d->len[d->ncol] = (size_t)cJSON_GetArrayItem(c, 1)->valuedouble;
    d->col[d->ncol] = (const double *)(b->p + off);
    off += d->len[d->ncol] * 8;
  }
  assert_int_equal(off, b->len);
}

static const double *column(const decoded_t *d, const char *name, size_t *len) {
  for (int i = 0; i < d->ncol; i++)
    if (strcmp(d->name[i], name) == 0) {
      if (len) *len = d->len[i];
      return d->col[i];
    }
  fail_msg("no column %s", name);
  return NULL;
}

static int64_t add_trial(hp_store_t *s, int64_t study, double x, const char *cat_dist, double cat,
                         int n_steps, hp_store_state_t end, double value) {
  hp_store_param_t p[2] = {{"x", x, D_X}, {"c", cat, cat_dist}};
  int64_t id;
  OK(hp_store_trial_create(s, study, HP_STORE_RUNNING, p, 2, NULL, &id, NULL, &e_));
  for (int k = 0; k < n_steps; k++) OK(hp_store_trial_report(s, id, k, value + 1.0 / (k + 1), &e_));
  if (end == HP_STORE_COMPLETE) OK(hp_store_trial_finish(s, id, end, &value, 1, NULL, &e_));
  else if (end == HP_STORE_FAIL)
    OK(hp_store_trial_finish(s, id, end, NULL, 0, "{\"fail_reason\": \"boom <x>\"}", &e_));
  return id;
}

static void test_columns(void **state) {
  (void)state;
  char dir[] = "/tmp/hp-cols-XXXXXX", path[128];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/c.db", dir);
  hp_store_t *s;
  OK(hp_store_open(path, 0, &s, &e_));
  bool max[2] = {false, true};
  int64_t study;
  OK(hp_store_study_create(s, "st", 1, max, NULL, NULL, &study, &e_));
  add_trial(s, study, 0.1, D_C1, 1, 2, HP_STORE_COMPLETE, 0.30000000000000004);
  int64_t t1 = add_trial(s, study, 2.5, D_C2, 0, 0, HP_STORE_FAIL, 0);
  int64_t t2 = add_trial(s, study, 7.25, D_C1, 0, 1, HP_STORE_RUNNING, 5); /* still running */
  OK(hp_store_trial_set_user_attr(s, t1, "note", "\"text\"", &e_));
  OK(hp_store_trial_set_user_attr(s, t2, "acc", "0.75", &e_));

  hp_view_t *v = hp_view_new();
  hp_view_cols_t *c = hp_view_cols_new();
  OK(hp_view_cols_update(v, s, study, c, &e_));
  assert_int_equal(hp_view_cols_count(c), 3);
  assert_int_equal(hp_view_cols_open(c), 2);
  hp_sbuf_t b = {0};
  OK(hp_view_cols_write(c, 0, &b, &e_));
  decoded_t d;
  decode(&b, &d);
  size_t n = 0;
  const double *num = column(&d, "number", &n), *st = column(&d, "state", NULL);
  assert_int_equal(n, 3);
  assert_true(num[0] == 0 && num[1] == 1 && num[2] == 2);
  assert_true(st[0] == HP_STORE_COMPLETE && st[1] == HP_STORE_FAIL && st[2] == HP_STORE_RUNNING);
  const double *v0 = column(&d, "value0", NULL);
  assert_true(v0[0] == 0.30000000000000004); /* the stored double, bit for bit */
  assert_true(isnan(v0[1]) && isnan(v0[2]));
  const double *end = column(&d, "end", NULL), *start = column(&d, "start", NULL);
  assert_true(isfinite(start[0]) && isfinite(end[0]) && end[0] >= start[0] && isnan(end[2]));
  assert_true(fabs(start[0] - hp_view_now()) < 60);
  size_t nio = 0;
  const double *io = column(&d, "iv_off", &nio), *ivv = column(&d, "iv_value", NULL);
  assert_int_equal(nio, 4);
  assert_true(io[0] == 0 && io[1] == 2 && io[2] == 2 && io[3] == 3);
  assert_true(ivv[0] == 0.30000000000000004 + 1 && ivv[2] == 6);
  /* categorical: union of ["a","b"] and ["c","a"] -> a, b, c */
  const cJSON *params = cJSON_GetObjectItem(d.header, "params");
  char *pj = hp_json_print(params);
  assert_string_equal(pj, "[{\"name\":\"x\",\"dist\":{\"type\":\"float\",\"low\":0,\"high\":10,\"log\":false}},"
                          "{\"name\":\"c\",\"dist\":{\"type\":\"categorical\",\"choices\":[\"a\",\"b\",\"c\"]}}]");
  free(pj);
  const double *p0 = column(&d, "p0", NULL), *p1 = column(&d, "p1", NULL);
  assert_true(p0[1] == 2.5 && p1[0] == 1 && p1[1] == 2 && p1[2] == 0); /* t1's "c" is index 2 */
  /* reasons and user attributes */
  char *rj = hp_json_print(cJSON_GetObjectItem(d.header, "reason"));
  assert_string_equal(rj, "{\"1\":\"boom <x>\"}");
  free(rj);
  char *uj = hp_json_print(cJSON_GetObjectItem(d.header, "user_attrs"));
  assert_string_equal(uj, "[{\"name\":\"note\",\"other\":{\"1\":\"text\"}},{\"name\":\"acc\",\"other\":{}}]");
  free(uj);
  const double *u1 = column(&d, "u1", NULL);
  assert_true(isnan(u1[0]) && u1[2] == 0.75);
  cJSON_Delete(d.header);

  /* the running trial reports and finishes, two more come: the update reads
   * from trial 2 on and gives the bytes a fresh read gives */
  OK(hp_store_trial_report(s, t2, 1, 4.5, &e_));
  double fin = 4.25;
  OK(hp_store_trial_finish(s, t2, HP_STORE_COMPLETE, &fin, 1, NULL, &e_));
  add_trial(s, study, 9, D_C2, 1, 3, HP_STORE_COMPLETE, 1.5);
  add_trial(s, study, 1, D_C1, 0, 0, HP_STORE_RUNNING, 0);
  OK(hp_view_cols_update(v, s, study, c, &e_));
  assert_int_equal(hp_view_cols_count(c), 5);
  assert_int_equal(hp_view_cols_open(c), 4);
  hp_sbuf_t inc = {0}, fresh = {0}, tail = {0};
  OK(hp_view_cols_write(c, 0, &inc, &e_));
  OK(hp_view_study_columns(v, s, study, 0, &fresh, &e_));
  assert_int_equal(inc.len, fresh.len);
  assert_memory_equal(inc.p, fresh.p, inc.len);
  /* from 3 on: two trials, offsets rebased to 0 */
  OK(hp_view_cols_write(c, 3, &tail, &e_));
  decode(&tail, &d);
  num = column(&d, "number", &n);
  assert_int_equal(n, 2);
  assert_true(num[0] == 3 && num[1] == 4);
  io = column(&d, "iv_off", &nio);
  assert_true(nio == 3 && io[0] == 0 && io[1] == 3 && io[2] == 3);
  assert_int_equal((int)cJSON_GetObjectItem(d.header, "from")->valuedouble, 3);
  cJSON_Delete(d.header);
  /* another study's id is refused */
  hp_err_t err = {0};
  assert_int_equal(hp_view_cols_update(v, s, study + 1, c, &err), HP_EINVAL);

  free(b.p), free(inc.p), free(fresh.p), free(tail.p);
  hp_view_cols_free(c);
  hp_view_free(v);
  hp_store_close(s);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_columns)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

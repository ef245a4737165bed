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

#include "../store_fixture.h"

static const char *D_X = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                         "\"low\": 0.0, \"high\": 10.0, \"log\": false}}";
static const char *D_C1 = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                          "{\"choices\": [\"a\", \"b\"]}}";
static const char *D_C2 = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                          "{\"choices\": [\"c\", \"a\"]}}";

typedef struct decoded {
  cJSON *header;
  double *col[32]; /* each column read back as doubles (owned) */
  size_t len[32];
  char name[32][16];
  char type[32][4];
  int ncol;
} decoded_t;

/* Reads the container; fails the test when its layout is wrong: "HPC2",
 * the header, then each column in its type (u1, i2, i4, f4, f8), padded to
 * 8 bytes. */
static void decode(const hp_sbuf_t *b, decoded_t *d) {
  memset(d, 0, sizeof *d);
  assert_true(b->len >= 8);
  assert_memory_equal(b->p, "HPC2", 4);
  uint32_t hl = 0;
  for (int k = 0; k < 4; k++) hl |= (uint32_t)(unsigned char)b->p[4 + k] << (8 * k);
  assert_int_equal((8 + hl) % 8, 0);
  assert_int_equal(hp_json_parse(b->p + 8, hl, "header", &d->header, NULL), 0);
  size_t off = 8 + hl;
  const cJSON *cols = cJSON_GetObjectItem(d->header, "columns");
  for (const cJSON *c = cols->child; c; c = c->next, d->ncol++) {
    int j = d->ncol;
    snprintf(d->name[j], sizeof d->name[0], "%s", cJSON_GetArrayItem(c, 0)->valuestring);
    d->len[j] = (size_t)cJSON_GetArrayItem(c, 1)->valuedouble;
    snprintf(d->type[j], sizeof d->type[0], "%s", cJSON_GetArrayItem(c, 2)->valuestring);
    const char *t = d->type[j];
    size_t size = strcmp(t, "u1") == 0 ? 1 : strcmp(t, "i2") == 0 ? 2 : strcmp(t, "f8") == 0 ? 8 : 4;
    assert_true(strcmp(t, "u1") == 0 || strcmp(t, "i2") == 0 || strcmp(t, "i4") == 0 ||
                strcmp(t, "f4") == 0 || strcmp(t, "f8") == 0);
    assert_int_equal(off % 8, 0);
    assert_true(off + d->len[j] * size <= b->len);
    d->col[j] = malloc((d->len[j] + 1) * sizeof(double));
    for (size_t i = 0; i < d->len[j]; i++) {
      const char *at = b->p + off + i * size;
      uint8_t u1;
      int16_t i2;
      int32_t i4;
      float f4;
      double f8;
      if (size == 1) memcpy(&u1, at, 1), d->col[j][i] = u1;
      else if (size == 2) memcpy(&i2, at, 2), d->col[j][i] = i2;
      else if (size == 8) memcpy(&f8, at, 8), d->col[j][i] = f8;
      else if (t[0] == 'i') memcpy(&i4, at, 4), d->col[j][i] = i4;
      else memcpy(&f4, at, 4), d->col[j][i] = f4;
    }
    off += (d->len[j] * size + 7) / 8 * 8;
  }
  assert_int_equal(off, b->len);
}

static void decoded_free(decoded_t *d) {
  cJSON_Delete(d->header);
  for (int j = 0; j < d->ncol; j++) free(d->col[j]);
  memset(d, 0, sizeof *d);
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

static const char *column_type(const decoded_t *d, const char *name) {
  for (int i = 0; i < d->ncol; i++)
    if (strcmp(d->name[i], name) == 0) return d->type[i];
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

/* A fresh store in a temporary folder (dir: 64 bytes, made here). */
static hp_store_t *temp_store(char *dir) {
  char path[128];
  assert_int_equal(hp_test_db_dir(dir, path, "cols", "c.db"), 0);
  hp_store_t *s;
  OK(hp_store_open(path, 0, &s, &e_));
  return s;
}

static void test_columns(void **state) {
  (void)state;
  char dir[64];
  hp_store_t *s = temp_store(dir);
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
  /* the ranges of the plotted columns over every trial: the objective over
   * the COMPLETE ones, a numeric parameter with its positive part, the
   * intermediate steps and values; none for a categorical */
  char *ej = hp_json_print(cJSON_GetObjectItem(d.header, "extents"));
  assert_string_equal(ej, "{\"value0\":[0.30000000000000004,0.30000000000000004],\"p0\":[0.1,7.25,0.1,7.25],"
                          "\"iv_step\":[0,1],\"iv_value\":[0.8,6]}");
  free(ej);
  /* each column in the narrowest type that holds it exactly */
  assert_string_equal(column_type(&d, "number"), "u1");
  assert_string_equal(column_type(&d, "state"), "u1");
  assert_string_equal(column_type(&d, "start"), "f8");
  assert_string_equal(column_type(&d, "value0"), "f8"); /* 0.30000000000000004 */
  assert_string_equal(column_type(&d, "iv_off"), "u1");
  assert_string_equal(column_type(&d, "iv_step"), "u1");
  assert_string_equal(column_type(&d, "p1"), "u1");     /* a categorical's indices */
  assert_string_equal(column_type(&d, "u1"), "f4");     /* NaN and 0.75 */
  decoded_free(&d);

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
  decoded_free(&d);
  /* another study's id is refused */
  hp_err_t err = {0};
  assert_int_equal(hp_view_cols_update(v, s, study + 1, c, &err), HP_EINVAL);

  free(b.p), free(inc.p), free(fresh.p), free(tail.p);
  hp_view_cols_free(c);
  hp_view_free(v);
  hp_store_close(s);
  assert_int_equal(hp_test_db_dir_remove(dir), 0);
}

/* The type of a column is the narrowest that gives back every stored double
 * bit for bit: u1 0..255, i2 and i4 for wider whole numbers, f4 when each
 * value survives float32 (NaN included; 2^24 + 1 does not), else f8. */
static void test_column_types(void **state) {
  (void)state;
  char dir[64];
  hp_store_t *s = temp_store(dir);
  int64_t study;
  OK(hp_store_study_create(s, "types", 1, (bool[]){false}, NULL, NULL, &study, &e_));
  static const char *W = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                         "\"low\": -1e308, \"high\": 1e308, \"log\": false}}";
  /* per parameter: two trials' values; NAN: the second trial lacks it */
  static const char *names[] = {"u1", "i2", "i4", "big", "odd", "absent", "half", "tenth"};
  double vals[][2] = {{0, 255}, {300, -2}, {70000, -1}, {3e9, 1}, {-3.5, 16777217},
                      {1, NAN}, {0.5, -1e30f}, {0.1, 2}};
  const char *want[] = {"u1", "i2", "i4", "f4", "f8", "f4", "f4", "f8"};
  size_t np = sizeof names / sizeof names[0];
  for (int t = 0; t < 2; t++) {
    hp_store_param_t p[8];
    size_t k = 0;
    for (size_t j = 0; j < np; j++)
      if (!isnan(vals[j][t])) p[k++] = (hp_store_param_t){names[j], vals[j][t], W};
    int64_t id;
    OK(hp_store_trial_create(s, study, HP_STORE_RUNNING, p, k, NULL, &id, NULL, &e_));
    OK(hp_store_trial_report(s, id, t ? 100000 : 0, 0.25, &e_));
    double v = t ? 1e-300 : 2;
    OK(hp_store_trial_finish(s, id, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  hp_view_t *v = hp_view_new();
  hp_sbuf_t b = {0};
  OK(hp_view_study_columns(v, s, study, 0, &b, &e_));
  decoded_t d;
  decode(&b, &d);
  const cJSON *params = cJSON_GetObjectItem(d.header, "params");
  for (size_t j = 0; j < np; j++) {
    char col[8];
    snprintf(col, sizeof col, "p%zu", j);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(params, (int)j), "name")->valuestring, names[j]);
    if (strcmp(column_type(&d, col), want[j]) != 0) fail_msg("%s: %s, not %s", names[j], column_type(&d, col), want[j]);
    const double *x = column(&d, col, NULL);
    for (int t = 0; t < 2; t++) {
      if (isnan(vals[j][t])) {
        assert_true(isnan(x[t]));
        continue;
      }
      if (memcmp(&x[t], &vals[j][t], sizeof(double)) != 0)
        fail_msg("%s[%d]: %.17g, not %.17g", names[j], t, x[t], vals[j][t]);
    }
  }
  const cJSON *odd = cJSON_GetObjectItem(cJSON_GetObjectItem(d.header, "extents"), "p4");
  char *oj = hp_json_print(odd); /* all values, then the positive ones only */
  assert_string_equal(oj, "[-3.5,16777217,16777217,16777217]");
  free(oj);
  assert_string_equal(column_type(&d, "iv_step"), "i4"); /* 0 and 100000 */
  assert_string_equal(column_type(&d, "iv_value"), "f4");
  assert_string_equal(column_type(&d, "value0"), "f8");  /* 1e-300 */
  assert_true(column(&d, "value0", NULL)[1] == 1e-300);
  decoded_free(&d);
  free(b.p);
  hp_view_free(v);
  hp_store_close(s);
  assert_int_equal(hp_test_db_dir_remove(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_columns), cmocka_unit_test(test_column_types)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

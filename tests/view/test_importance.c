/* Tests of parameter importance (search/importance.c) and its JSON shape
 * (view/importance.c): PED-ANOVA against a hand computation, fANOVA against
 * the variance shares of an additive function, the edge cases (too few
 * trials, constant values, conditional parameters, non-finite values, bad
 * input), and both evaluators against the vendored Optuna 5's on studies
 * written with the store (rank correlation; PED-ANOVA's values too). */
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
#include <sys/wait.h>
#include <unistd.h>

#include "hpsearch/importance.h"
#include "hpsearch/json.h"
#include "hpsearch/rng.h"
#include "hpsearch/space.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

#include "../optuna5.h"

#include "../store_fixture.h"

static void make_cat(hp_dist_t *d, int n) {
  cJSON *ch = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(ch, cJSON_CreateNumber(i));
  OK(hp_dist_cat("c", ch, d, &e_));
  cJSON_Delete(ch);
}

/* ---- PED-ANOVA by hand ------------------------------------------------------ */

/* Ten trials, two categoricals of two choices; the best trial (the only top
 * one: ceil(0.1 * 10) = 1) has choice 0 of both. x splits the trials 5/5,
 * y 2/8. Every density by hand (docs/search.md):
 *   top, one kernel at 0 (count 1) + prior: mixture weights 1/2, 1/2;
 *     kernel rows: (1/2 + [x==0]) / 2 -> (0.75, 0.25); prior (0.5, 0.5)
 *     -> p_top = (0.625, 0.375) for both parameters;
 *   all, kernels at 0 and 1 + prior: rows (1/3 + [x==c]) / (5/3) ->
 *     (0.8, 0.2) and (0.2, 0.8), prior (0.5, 0.5), weights n_c/11, 1/11:
 *     x: p_all = (0.5, 0.5); y: p_all = (3.7/11, 7.3/11).
 * Divergence D = sum p_all (p_top/p_all - 1)^2; importance x : y = Dx : Dy. */
static void test_ped_anova_by_hand(void **state) {
  (void)state;
  hp_dist_t c2;
  make_cat(&c2, 2);
  double x[20], y[10];
  const hp_dist_t *dist[20];
  const int xs[10] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  const int ys[10] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
  for (int r = 0; r < 10; r++) {
    x[2 * r] = xs[r], x[2 * r + 1] = ys[r];
    dist[2 * r] = dist[2 * r + 1] = &c2;
    y[r] = 10 + r; /* trial 0 is the best (minimize) */
  }
  const char *names[] = {"x", "y"};
  hp_imp_table_t t = {2, names, 10, x, dist, y, false};
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  double out[2];
  hp_imp_skip_t skip[2];
  int64_t used = 0;
  OK(hp_importance(&t, &o, out, skip, &used, &e_));
  assert_int_equal(used, 10);
  double dx = 0.5 * pow(0.625 / 0.5 - 1, 2) + 0.5 * pow(0.375 / 0.5 - 1, 2);
  double a0 = 3.7 / 11, a1 = 7.3 / 11;
  double dy = a0 * pow(0.625 / a0 - 1, 2) + a1 * pow(0.375 / a1 - 1, 2);
  assert_float_equal(out[0], dx / (dx + dy), 1e-9);
  assert_float_equal(out[1], dy / (dx + dy), 1e-9);
  assert_int_equal(skip[0], HP_IMP_EVALUATED);
  /* Maximizing: trial 9 is the best, choice 1 of both: p_top = (0.375,
   * 0.625) for both, p_all as before (the counts do not change). */
  t.maximize = true;
  OK(hp_importance(&t, &o, out, skip, &used, &e_));
  double dy2 = a0 * pow(0.375 / a0 - 1, 2) + a1 * pow(0.625 / a1 - 1, 2);
  assert_float_equal(out[0], dx / (dx + dy2), 1e-9);
  hp_dist_free(&c2);
}

/* ---- fANOVA on an additive function ------------------------------------------- */

/* y = 3a + b + 0c over the unit cube: the shares of the variance are
 * 9/10, 1/10 and 0; a forest of 400 random points gets close. */
static void test_fanova_additive(void **state) {
  (void)state;
  enum { N = 400 };
  hp_dist_t u;
  OK(hp_dist_float("u", 0, 1, false, 0, &u, &e_));
  static double x[N * 3], y[N];
  static const hp_dist_t *dist[N * 3];
  hp_rng_t rng;
  hp_rng_seed(&rng, 3);
  for (int r = 0; r < N; r++) {
    for (int p = 0; p < 3; p++) x[r * 3 + p] = hp_rng_uniform(&rng), dist[r * 3 + p] = &u;
    y[r] = 3 * x[r * 3] + x[r * 3 + 1];
  }
  const char *names[] = {"a", "b", "c"};
  hp_imp_table_t t = {3, names, N, x, dist, y, false};
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  o.evaluator = HP_IMP_FANOVA;
  double out[3];
  OK(hp_importance(&t, &o, out, NULL, NULL, &e_));
  print_message("fANOVA of 3a + b + 0c: %.4f %.4f %.4f (exact 0.9 0.1 0)\n", out[0], out[1],
                out[2]);
  assert_float_equal(out[0], 0.9, 0.03);
  assert_float_equal(out[1], 0.1, 0.03);
  assert_true(out[2] < 0.01);
  /* Same seed, same forest; another seed, another forest, same ranking. */
  double again[3];
  OK(hp_importance(&t, &o, again, NULL, NULL, &e_));
  assert_memory_equal(out, again, sizeof out);
  o.seed = 99;
  OK(hp_importance(&t, &o, again, NULL, NULL, &e_));
  assert_true(again[0] != out[0] && again[0] > again[1] && again[1] > again[2]);
  hp_dist_free(&u);
}

/* A categorical (one-hot columns marginalised together) that decides the
 * value beats an int that matters less and a float that barely does. */
static void test_fanova_categorical(void **state) {
  (void)state;
  enum { N = 300 };
  hp_dist_t c4, f, k;
  make_cat(&c4, 4);
  OK(hp_dist_float("f", 1e-3, 1, true, 0, &f, &e_));
  OK(hp_dist_int("k", 1, 8, false, 1, &k, &e_));
  static double x[N * 3], y[N];
  static const hp_dist_t *dist[N * 3];
  hp_rng_t rng;
  hp_rng_seed(&rng, 5);
  for (int r = 0; r < N; r++) {
    double c = (double)hp_rng_below(&rng, 4), fv = exp(log(1e-3) * hp_rng_uniform(&rng));
    double kv = 1 + (double)hp_rng_below(&rng, 8);
    x[r * 3] = c, x[r * 3 + 1] = fv, x[r * 3 + 2] = kv;
    dist[r * 3] = &c4, dist[r * 3 + 1] = &f, dist[r * 3 + 2] = &k;
    y[r] = (c == 2 ? 5.0 : 0.0) + 0.02 * fv + 0.3 * kv;
  }
  const char *names[] = {"c", "f", "k"};
  hp_imp_table_t t = {3, names, N, x, dist, y, true};
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  double out[3];
  for (int ev = 0; ev < 2; ev++) {
    o.evaluator = ev ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA;
    OK(hp_importance(&t, &o, out, NULL, NULL, &e_));
    print_message("%s: c %.4f f %.4f k %.4f\n", hp_imp_evaluator_name(o.evaluator), out[0],
                  out[1], out[2]);
    /* fANOVA: shares of the variance (c 5^2 3/16, k 0.3^2 63/12, f tiny);
     * PED-ANOVA: what sets the top 10% apart, where k (the tie-breaker
     * among c == 2) counts as much as c */
    if (ev) assert_true(out[0] > out[2] && out[2] > out[1]);
    else assert_true(out[0] > 5 * out[1] && out[2] > 5 * out[1]);
    assert_float_equal(out[0] + out[1] + out[2], 1, 1e-12);
  }
  hp_dist_free(&c4);
  hp_dist_free(&f);
  hp_dist_free(&k);
}

/* ---- edge cases ------------------------------------------------------------------ */

static void test_edges(void **state) {
  (void)state;
  hp_dist_t u, v;
  OK(hp_dist_float("u", 0, 1, false, 0, &u, &e_));
  OK(hp_dist_float("v", 0, 2, false, 0, &v, &e_));
  double x[8] = {0.1, 0.2, 0.3, 0.4, 0.5, NAN, 0.7, 0.8};
  /* b: absent from row 2, another range in row 3 */
  const hp_dist_t *dist[8] = {&u, &u, &u, &u, &u, NULL, &u, &v};
  double y[4] = {1, 2, 3, 4};
  const char *names[] = {"a", "b"};
  hp_imp_table_t t = {2, names, 4, x, dist, y, false};
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  double out[2];
  hp_imp_skip_t skip[2];
  int64_t used;
  /* fANOVA leaves the conditional b out, and a is all there is. */
  o.evaluator = HP_IMP_FANOVA;
  OK(hp_importance(&t, &o, out, skip, &used, &e_));
  assert_int_equal(skip[0], HP_IMP_EVALUATED);
  assert_int_equal(skip[1], HP_IMP_CONDITIONAL);
  assert_true(isnan(out[1]));
  assert_float_equal(out[0], 1, 0);
  assert_int_equal(used, 4);
  /* PED-ANOVA ranks both (b's regimes of one trial count nothing). */
  o.evaluator = HP_IMP_PED_ANOVA;
  OK(hp_importance(&t, &o, out, skip, &used, &e_));
  assert_int_equal(skip[1], HP_IMP_EVALUATED);
  assert_float_equal(out[0] + out[1], 1, 1e-12);
  /* Non-finite values are skipped; one usable row: all equal. */
  double y1[4] = {NAN, INFINITY, 3, -INFINITY};
  t.y = y1;
  for (int ev = 0; ev < 2; ev++) {
    o.evaluator = ev ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA;
    OK(hp_importance(&t, &o, out, skip, &used, &e_));
    assert_int_equal(used, 1);
    assert_float_equal(out[0], ev ? 1.0 : 0.5, 0);
  }
  /* Every value the same: nothing to explain, all equal. */
  double y2[4] = {2, 2, 2, 2};
  t.y = y2;
  const hp_dist_t *dist2[8] = {&u, &u, &u, &u, &u, &u, &u, &u};
  double x2[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  t.dist = dist2, t.x = x2;
  for (int ev = 0; ev < 2; ev++) {
    o.evaluator = ev ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA;
    OK(hp_importance(&t, &o, out, skip, &used, &e_));
    assert_float_equal(out[0], 0.5, 0);
    assert_float_equal(out[1], 0.5, 0);
  }
  /* A value outside its distribution, bad options: refused by name. */
  x2[3] = 1.5;
  hp_err_t err = {0};
  assert_int_equal(hp_importance(&t, &o, out, skip, &used, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "b:"));
  x2[3] = 0.4;
  o.evaluator = HP_IMP_PED_ANOVA;
  o.target_quantile = 1.5;
  assert_int_equal(hp_importance(&t, &o, out, skip, &used, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "target_quantile"));
  hp_imp_evaluator_t ev;
  assert_int_equal(hp_imp_evaluator_parse("fanova", &ev, NULL), 0);
  assert_int_equal(ev, HP_IMP_FANOVA);
  assert_int_equal(hp_imp_evaluator_parse("ped_anova", &ev, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "evaluator"));
  hp_dist_free(&u);
  hp_dist_free(&v);
}

/* ---- studies in a database: the JSON shape and Optuna 5 ------------------------ */

typedef struct pdef {
  const char *name;
  char *json;     /* distribution_json */
  hp_dist_t dist;
} pdef_t;

/* A random internal value of d. */
static double draw(const hp_dist_t *d, hp_rng_t *rng) {
  if (d->kind == HP_DIST_CAT) return (double)hp_rng_below(rng, (uint64_t)d->n_choices);
  if (d->kind == HP_DIST_INT) {
    if (d->log) {
      double v = floor(exp(log(d->low - 0.5) + hp_rng_uniform(rng) *
                                                  (log(d->high + 0.5) - log(d->low - 0.5))) + 0.5);
      return v < d->low ? d->low : v > d->high ? d->high : v;
    }
    int64_t k = (int64_t)((d->high - d->low) / d->step) + 1;
    return d->low + d->step * (double)hp_rng_below(rng, (uint64_t)k);
  }
  if (d->step > 0) {
    int64_t k = (int64_t)llround((d->high - d->low) / d->step) + 1;
    return d->low + d->step * (double)hp_rng_below(rng, (uint64_t)k);
  }
  if (d->log) return exp(log(d->low) + hp_rng_uniform(rng) * (log(d->high) - log(d->low)));
  return d->low + hp_rng_uniform(rng) * (d->high - d->low);
}

/* Objectives of the synthetic studies (x: internal values in space order;
 * NaN where a conditional parameter is absent). */
static double f_quad(const double *x) {
  return x[0] * x[0] / 5 + x[1] + 0.3 * x[2] + (x[3] == 0 ? 3.0 : 0.0) + 0.01 * x[4];
}
static double f_logscale(const double *x) {
  double acc = 0.9 - 0.08 * pow(log10(x[0]) + 2.5, 2) + 0.03 * log2(x[1]) / 9;
  return acc + 0.004 * x[2] + (x[4] == 0 ? 0.015 : 0.0) + 0.0015 * log10(x[3]);
}
static double f_sphere(const double *x) {
  double s = 0;
  for (int i = 0; i < 8; i++) s += (8 - i) * x[i] * x[i];
  return s;
}
static double f_cond(const double *x) {
  /* x: optimizer (0 sgd, 1 adam), lr, momentum (sgd), beta1 (adam), layers */
  double base = x[0] == 0 ? 1.0 + pow(log10(x[1]) + 1.5, 2) + 0.5 * pow(0.9 - x[2], 2)
                          : 0.8 + pow(log10(x[1]) + 3, 2) + 0.1 * pow(0.9 - x[3], 2);
  return base + 0.05 * x[4];
}

typedef struct sdef {
  const char *name;
  bool maximize;
  int n_trials;
  double (*f)(const double *);
  int np;
  const char *space; /* hpsearch space JSON */
} sdef_t;

static const sdef_t STUDIES[] = {
    {"imp-quad", false, 240, f_quad, 5,
     "{\"x\": {\"type\": \"float\", \"low\": -5, \"high\": 5},"
     " \"y\": {\"type\": \"float\", \"low\": -5, \"high\": 5},"
     " \"z\": {\"type\": \"int\", \"low\": 0, \"high\": 10},"
     " \"w\": {\"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"c\"]},"
     " \"v\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.1}}"},
    {"imp-logscale", true, 240, f_logscale, 5,
     "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1, \"log\": true},"
     " \"width\": {\"type\": \"int\", \"low\": 8, \"high\": 512, \"log\": true},"
     " \"momentum\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99},"
     " \"weight_decay\": {\"type\": \"float\", \"low\": 1e-6, \"high\": 1e-2, \"log\": true},"
     " \"act\": {\"type\": \"categorical\", \"choices\": [\"relu\", \"tanh\"]}}"},
    {"imp-sphere8", false, 300, f_sphere, 8,
     "{\"x0\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x1\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x2\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x3\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x4\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x5\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x6\": {\"type\": \"float\", \"low\": -1, \"high\": 1},"
     " \"x7\": {\"type\": \"float\", \"low\": -1, \"high\": 1}}"},
    {"imp-cond", false, 240, f_cond, 5,
     "{\"optimizer\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
     " \"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true},"
     " \"momentum\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99},"
     " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.99},"
     " \"layers\": {\"type\": \"int\", \"low\": 1, \"high\": 4}}"},
};
#define N_STUDIES (sizeof STUDIES / sizeof STUDIES[0])

/* Writes study sd into s with random trials (seeded), as COMPLETE trials;
 * imp-cond's momentum exists only for sgd, beta1 only for adam. */
static void write_study(hp_store_t *s, const sdef_t *sd, uint64_t seed) {
  hp_space_t *sp = NULL;
  OK(hp_space_parse_text(sd->space, strlen(sd->space), &sp, &e_));
  bool max = sd->maximize;
  int64_t sid;
  OK(hp_store_study_create(s, sd->name, 1, &max, NULL, NULL, &sid, &e_));
  char *dj[16];
  for (int p = 0; p < sp->n; p++) dj[p] = hp_dist_to_optuna_json(&sp->params[p].dist);
  hp_rng_t rng;
  hp_rng_seed(&rng, seed);
  OK(hp_store_begin(s, &e_));
  for (int i = 0; i < sd->n_trials; i++) {
    double x[16];
    hp_store_param_t ps[16];
    size_t n = 0;
    for (int p = 0; p < sp->n; p++) x[p] = draw(&sp->params[p].dist, &rng);
    bool cond = strcmp(sd->name, "imp-cond") == 0;
    for (int p = 0; p < sp->n; p++) {
      if (cond && ((p == 2 && x[0] != 0) || (p == 3 && x[0] != 1))) {
        x[p] = NAN;
        continue;
      }
      ps[n++] = (hp_store_param_t){sp->params[p].name, x[p], dj[p]};
    }
    double v = sd->f(x);
    int64_t tid;
    OK(hp_store_trial_create(s, sid, HP_STORE_RUNNING, ps, n, NULL, &tid, NULL, &e_));
    OK(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  OK(hp_store_commit(s, &e_));
  for (int p = 0; p < sp->n; p++) free(dj[p]);
  hp_space_free(sp);
}

/* Our importance object of a study, via the view (the CLI's and the
 * daemon's builder). */
static cJSON *ours(hp_store_t *s, const char *study, hp_imp_evaluator_t ev) {
  int64_t sid;
  OK(hp_store_study_find(s, study, &sid, &e_));
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  o.evaluator = ev;
  cJSON *j = NULL;
  OK(hp_view_importance(s, sid, &o, &j, &e_));
  return j;
}

static double our_value(const cJSON *j, const char *param) {
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "importances")) {
    if (strcmp(cJSON_GetObjectItem(e, "param")->valuestring, param) == 0)
      return cJSON_GetObjectItem(e, "importance")->valuedouble;
  }
  return NAN;
}

typedef struct fix {
  char dir[64], path[128];
  hp_store_t *s;
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  if (hp_test_db_dir(f->dir, f->path, "imp", "imp.db") < 0) return -1;
  if (hp_store_open(f->path, 0, &f->s, NULL) < 0) return -1;
  for (size_t i = 0; i < N_STUDIES; i++) write_study(f->s, &STUDIES[i], 7 + i);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  hp_store_close(f->s);
  int rc = hp_test_db_dir_remove(f->dir);
  free(f);
  return rc;
}

/* The JSON shape: descending, summing to 1, fANOVA's skipped list. */
static void test_json_shape(void **state) {
  fix_t *f = *state;
  cJSON *j = ours(f->s, "imp-cond", HP_IMP_FANOVA);
  assert_string_equal(cJSON_GetObjectItem(j, "study")->valuestring, "imp-cond");
  assert_string_equal(cJSON_GetObjectItem(j, "evaluator")->valuestring, "fanova");
  assert_string_equal(cJSON_GetObjectItem(j, "direction")->valuestring, "minimize");
  assert_int_equal((int)cJSON_GetObjectItem(j, "n_trials")->valuedouble, 240);
  const cJSON *imps = cJSON_GetObjectItem(j, "importances");
  assert_int_equal(cJSON_GetArraySize(imps), 3);
  double sum = 0, last = INFINITY;
  const cJSON *e;
  cJSON_ArrayForEach(e, imps) {
    double v = cJSON_GetObjectItem(e, "importance")->valuedouble;
    assert_true(v <= last);
    last = v, sum += v;
  }
  assert_float_equal(sum, 1, 1e-12);
  const cJSON *sk = cJSON_GetObjectItem(j, "skipped");
  assert_int_equal(cJSON_GetArraySize(sk), 2);
  const char *s0 = cJSON_GetObjectItem(cJSON_GetArrayItem(sk, 0), "param")->valuestring;
  const char *s1 = cJSON_GetObjectItem(cJSON_GetArrayItem(sk, 1), "param")->valuestring;
  assert_true((strcmp(s0, "momentum") == 0 && strcmp(s1, "beta1") == 0) ||
              (strcmp(s0, "beta1") == 0 && strcmp(s1, "momentum") == 0));
  assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(sk, 0), "reason")->valuestring,
                         "conditional"));
  cJSON_Delete(j);
  j = ours(f->s, "imp-cond", HP_IMP_PED_ANOVA);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "importances")), 5);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "skipped")), 0);
  cJSON_Delete(j);
  /* An unknown study id and a study with two objectives are refused. */
  bool two[2] = {false, true};
  int64_t sid;
  OK(hp_store_study_create(f->s, "two", 2, two, NULL, NULL, &sid, &e_));
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  hp_err_t err = {0};
  assert_int_equal(hp_view_importance(f->s, sid, &o, &j, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "2 objectives"));
  OK(hp_store_study_delete(f->s, sid, &e_));
  /* A value outside its own distribution (another writer's) counts as
   * absent instead of failing the study: fANOVA leaves x out, PED-ANOVA
   * ranks it from the other trials. */
  bool min = false;
  OK(hp_store_study_create(f->s, "odd", 1, &min, NULL, NULL, &sid, &e_));
  const char *dx = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                   "\"low\": 0.0, \"high\": 1.0, \"log\": false}}";
  for (int i = 0; i < 6; i++) {
    hp_store_param_t ps[2] = {{"x", i == 2 ? 5.0 : i / 6.0, dx}, {"y", (i * 5 % 6) / 6.0, dx}};
    int64_t tid;
    double v = i;
    OK(hp_store_trial_create(f->s, sid, HP_STORE_RUNNING, ps, 2, NULL, &tid, NULL, &e_));
    OK(hp_store_trial_finish(f->s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &e_));
  }
  for (int ev = 0; ev < 2; ev++) {
    o.evaluator = ev ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA;
    OK(hp_view_importance(f->s, sid, &o, &j, &e_));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "importances")), ev ? 1 : 2);
    cJSON_Delete(j);
  }
}

/* Optuna 5 reads the same database and ranks the same studies. */
static void test_against_optuna5(void **state) {
  fix_t *f = *state;
  if (strstr(HP_BUILD_DIR, "asan") != NULL) {
    print_message("SKIP: the comparison with Optuna 5 runs in the plain build only\n");
    skip();
  }
  const char *o5 = optuna5_dir();
  if (o5 == NULL) skip();
  const char *src = getenv("HP_SRC_DIR");
  char cmd[2048];
  int n = snprintf(cmd, sizeof cmd,
                   "PYTHONPATH='%s' /usr/bin/python3 '%s/tests/view/optuna_importance.py' '%s'",
                   o5, src && *src ? src : ".", f->path);
  for (size_t i = 0; i < N_STUDIES; i++)
    n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", STUDIES[i].name);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf - 1, p);
  buf[len] = 0;
  int st = pclose(p);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  if (code == 4) fail_msg("scikit-learn is missing (Optuna's fANOVA needs it): run scripts/install-deps");
  if (code != 0) fail_msg("%s exited with %d: %s", cmd, code, buf);
  cJSON *o = cJSON_Parse(buf);
  assert_non_null(o);
  for (size_t i = 0; i < N_STUDIES; i++) {
    for (int ev = 0; ev < 2; ev++) {
      const char *evn = ev ? "fanova" : "ped-anova";
      const cJSON *theirs =
          cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "studies"),
                                                  STUDIES[i].name), evn);
      assert_non_null(theirs);
      cJSON *j = ours(f->s, STUDIES[i].name, ev ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA);
      double a[64], b[64], maxdiff = 0;
      int k = 0;
      char line[1024];
      int ln = 0;
      const cJSON *e;
      cJSON_ArrayForEach(e, theirs) {
        a[k] = e->valuedouble;
        b[k] = our_value(j, e->string);
        if (isnan(b[k])) fail_msg("%s %s: Optuna ranks %s, we do not", STUDIES[i].name, evn, e->string);
        if (fabs(a[k] - b[k]) > maxdiff) maxdiff = fabs(a[k] - b[k]);
        ln += snprintf(line + ln, sizeof line - (size_t)ln, " %s %.3f/%.3f", e->string, a[k], b[k]);
        k++;
      }
      /* the same parameters on both sides */
      assert_int_equal(k, cJSON_GetArraySize(cJSON_GetObjectItem(j, "importances")));
      double rho = spearman(a, b, k);
      print_message("%-13s %-9s rho %.3f, largest difference %.4f (Optuna/ours:%s)\n",
                    STUDIES[i].name, evn, rho, maxdiff, line);
      assert_true(rho >= 0.9);
      /* PED-ANOVA has no randomness: the values themselves agree. */
      if (!ev) assert_true(maxdiff < 1e-6);
      cJSON_Delete(j);
    }
  }
  cJSON_Delete(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ped_anova_by_hand),
      cmocka_unit_test(test_fanova_additive),
      cmocka_unit_test(test_fanova_categorical),
      cmocka_unit_test(test_edges),
      cmocka_unit_test_setup_teardown(test_json_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(test_against_optuna5, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

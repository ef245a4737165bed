/* Several objectives and constraints in search/: non-domination ranks,
 * the exact hypervolume on hand-made fronts (checked against areas and
 * volumes computed by hand and against a grid count), greedy hypervolume
 * subset selection, hp_sampler_tell_values' checks, and the samplers
 * (random, grid, multi-objective TPE, NSGA-II) on a two-objective problem:
 * suggestions in range, determinism, and progress over random search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/mo.h"
#include "hpsearch/sampler.h"
#include "../../bench/mo_problems.h" /* dtlz2 */

#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static hp_space_t *space_of(const char *text) {
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  if (hp_space_parse_text(text, strlen(text), &s, &err) != 0) fail_msg("%s", err.msg);
  return s;
}

static void test_ranks(void **state) {
  (void)state;
  /* 2-D: front {(1,4), (2,2), (4,1)}, then {(3,3), (5,2)}, then {(6,6)};
   * a duplicate of a front point shares its rank. */
  const double p[] = {3, 3, 1, 4, 6, 6, 2, 2, 4, 1, 5, 2, 2, 2};
  int32_t r[7];
  assert_int_equal(hp_mo_ranks(p, 7, 2, 7, r), 0);
  const int32_t want[] = {1, 0, 2, 0, 0, 1, 0};
  for (int i = 0; i < 7; i++) assert_int_equal(r[i], want[i]);
  /* need = 1: only the front is ranked */
  assert_int_equal(hp_mo_ranks(p, 7, 2, 1, r), 0);
  for (int i = 0; i < 7; i++) assert_int_equal(r[i], want[i] == 0 ? 0 : INT32_MAX);
  /* 3-D: (1,1,1) dominates everything else; (2,0,5) and (0,3,3) are not dominated */
  const double q[] = {2, 2, 2, 1, 1, 1, 2, 0, 5, 0, 3, 3, 3, 3, 3};
  int32_t r3[5];
  assert_int_equal(hp_mo_ranks(q, 5, 3, 5, r3), 0);
  const int32_t want3[] = {1, 0, 0, 0, 2};
  for (int i = 0; i < 5; i++) assert_int_equal(r3[i], want3[i]);
}

/* Cells of a fine grid dominated by some point: a brute-force volume. */
static double grid_volume(const double *p, int n, int m, const double *ref, int cells) {
  long long hit = 0, total = 1;
  for (int k = 0; k < m; k++) total *= cells;
  for (long long c = 0; c < total; c++) {
    double x[8];
    long long r = c;
    for (int k = 0; k < m; k++) {
      x[k] = (r % cells + 0.5) / cells * ref[k];
      r /= cells;
    }
    for (int i = 0; i < n; i++) {
      bool dom = true;
      for (int k = 0; k < m && dom; k++) dom = p[i * m + k] <= x[k];
      if (dom) {
        hit++;
        break;
      }
    }
  }
  double vol = 1;
  for (int k = 0; k < m; k++) vol *= ref[k];
  return vol * (double)hit / (double)total;
}

static void test_hypervolume(void **state) {
  (void)state;
  /* 2-D by hand: ref (4, 4); (1,3) (2,2) (3,1): 3*1 + 2*1 + 1*1... as a
   * staircase: 3 + 2 + 1 = 6 unit... (4-1)(4-3) + (4-2)(3-2) + (4-3)(2-1) */
  const double a[] = {1, 3, 2, 2, 3, 1};
  const double r2[] = {4, 4};
  assert_double_equal(hp_mo_hypervolume(a, 3, 2, r2), 3 + 2 + 1, 1e-12);
  /* a dominated point and one outside the reference add nothing */
  const double b[] = {1, 3, 2, 2, 3, 1, 3, 3, 5, 0};
  assert_double_equal(hp_mo_hypervolume(b, 5, 2, r2), 6, 1e-12);
  /* one point: its box */
  const double c[] = {1, 2, 3};
  const double r3[] = {2, 4, 5};
  assert_double_equal(hp_mo_hypervolume(c, 1, 3, r3), 1 * 2 * 2, 1e-12);
  /* 3-D by inclusion-exclusion: boxes of (0,0,1) and (1,0,0) up to (2,2,2):
   * 2*2*1 + 1*2*2 - 1*2*1 = 6 */
  const double d[] = {0, 0, 1, 1, 0, 0};
  const double r32[] = {2, 2, 2};
  assert_double_equal(hp_mo_hypervolume(d, 2, 3, r32), 6, 1e-12);
  /* 3-D and 4-D fronts on a 1/8 grid: exact against the cell count (the
   * points lie on cell edges, so the count is exact too) */
  const double e[] = {0.25, 0.5, 0.75, 0.5, 0.25, 0.5, 0.75, 0.75, 0.125, 0.125, 0.875, 0.25,
                      0.5,  0.5, 0.5};
  const double one3[] = {1, 1, 1};
  assert_double_equal(hp_mo_hypervolume(e, 5, 3, one3), grid_volume(e, 5, 3, one3, 64), 1e-12);
  const double f[] = {0.25, 0.5, 0.75, 0.5, 0.5, 0.25, 0.5, 0.75, 0.75, 0.75, 0.125, 0.5,
                      0.125, 0.875, 0.25, 0.25};
  const double one4[] = {1, 1, 1, 1};
  assert_double_equal(hp_mo_hypervolume(f, 4, 4, one4), grid_volume(f, 4, 4, one4, 32), 1e-12);
  /* The linear front x + y = 1 sampled at 101 points: 0.5 + (1 - 1/100)/2 * ...:
   * the staircase under ref (1, 1) = 1 - 0.5 - 0.5/100 */
  double g[202];
  for (int i = 0; i <= 100; i++) g[2 * i] = i / 100.0, g[2 * i + 1] = 1 - i / 100.0;
  const double r1[] = {1, 1};
  assert_double_equal(hp_mo_hypervolume(g, 101, 2, r1), 0.5 - 0.005, 1e-12);
}

static void test_hssp(void **state) {
  (void)state;
  /* ref (10, 10): (1,9) box 9, (5,5) box 25, (9,1) box 9, (4,6) box 24.
   * Greedy picks (5,5) first; then each of the others adds 4 (e.g. (4,6):
   * (5 - 4) * (10 - 6)), so the pair holds 29. */
  const double p[] = {1, 9, 5, 5, 9, 1, 4, 6};
  const double ref[] = {10, 10};
  int64_t out[4];
  assert_int_equal(hp_mo_hssp(p, 4, 2, 2, ref, out), 0);
  assert_int_equal(out[0], 1);
  assert_true(out[1] != 1);
  double pair[4] = {5, 5, p[2 * out[1]], p[2 * out[1] + 1]};
  assert_double_equal(hp_mo_hypervolume(pair, 2, 2, ref), 29, 1e-12);
  /* three of them: (5,5), then two of the 4s, the third now adding less:
   * after (5,5) and (1,9), (4,6) adds (5-4)(9-6) = 3 and (9,1) adds 4 */
  const double p3[] = {1, 9, 5, 5, 9, 1};
  assert_int_equal(hp_mo_hssp(p3, 3, 2, 3, ref, out), 0);
  /* the greedy's volume equals the hypervolume of what it picked, and no
   * pair beats the greedy's first two picks by more than 1 - 1/e */
  double best = 0;
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++) {
      double q[4] = {p[2 * i], p[2 * i + 1], p[2 * j], p[2 * j + 1]};
      best = fmax(best, hp_mo_hypervolume(q, 2, 2, ref));
    }
  double q[4] = {p[2 * out[0]], p[2 * out[0] + 1], p[2 * out[1]], p[2 * out[1] + 1]};
  assert_true(hp_mo_hypervolume(q, 2, 2, ref) >= (1 - 1 / M_E) * best);
  /* k = n: everything; a reference that is not finite: the first k */
  assert_int_equal(hp_mo_hssp(p, 4, 2, 4, ref, out), 0);
  const double inf_ref[] = {INFINITY, 10};
  assert_int_equal(hp_mo_hssp(p, 4, 2, 3, inf_ref, out), 0);
  assert_true(out[0] == 0 && out[1] == 1 && out[2] == 2);
}

static const char *SPACE = "{\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1},"
                           " \"y\": {\"type\": \"float\", \"low\": 0, \"high\": 1},"
                           " \"z\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}";

/* ZDT1 on three variables: f1 = x, f2 = g (1 - sqrt(x / g)). */
static void zdt1_3v(const double *x, double *f) {
  double g = 1 + 9 * (x[1] + x[2]) / 2;
  f[0] = x[0];
  f[1] = g * (1 - sqrt(x[0] / g));
}

static void test_tell_values_checks(void **state) {
  (void)state;
  hp_space_t *sp = space_of(SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_TPE);
  o.n_objectives = 2;
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), 0);
  double x[3] = {0.5, 0.5, 0.5}, v[2] = {1, 2}, c[2] = {0, NAN};
  /* one value for two objectives */
  assert_int_equal(hp_sampler_tell_values(s, 0, x, HP_FINAL_COMPLETE, v, 1, NULL, 0, -1, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "2 objective"));
  /* a NaN constraint */
  assert_int_equal(hp_sampler_tell_values(s, 0, x, HP_FINAL_COMPLETE, v, 2, c, 2, -1, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "NaN"));
  assert_int_equal(hp_sampler_tell_values(s, 0, x, HP_FINAL_COMPLETE, v, 2, c, 1, -1, &err), 0);
  /* the single-value entry point on a two-objective sampler */
  assert_int_equal(hp_sampler_tell(s, 1, x, HP_FINAL_COMPLETE, 1.0, -1, &err), HP_EINVAL);
  /* a NaN value fails the trial */
  double vn[2] = {NAN, 1};
  assert_int_equal(hp_sampler_tell_values(s, 2, x, HP_FINAL_COMPLETE, vn, 2, NULL, 0, -1, &err), 0);
  hp_sampler_stats_t st;
  hp_sampler_stats(s, &st);
  assert_int_equal(st.n_complete, 1);
  assert_int_equal(st.n_fail, 1);
  hp_sampler_free(s);
  /* options */
  o.n_objectives = 9;
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), HP_EINVAL);
  hp_space_free(sp);
}

/* Runs n trials of ZDT1 with a sampler; returns the hypervolume of the
 * trials' front up to (1.1, 11) (every point of this ZDT1 is inside). */
static double run_zdt1(hp_sampler_kind_t kind, uint64_t seed, int n, bool constrained,
                       int *n_feasible_late) {
  hp_space_t *sp = space_of(SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, kind);
  o.seed = seed;
  o.n_objectives = 2;
  o.population_size = 20;
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  if (hp_sampler_create(sp, &o, &s, &err) != 0) fail_msg("%s", err.msg);
  double *pts = malloc((size_t)n * 2 * sizeof *pts);
  int k = 0;
  if (n_feasible_late) *n_feasible_late = 0;
  for (int t = 0; t < n; t++) {
    double x[3], f[2];
    if (hp_sampler_suggest(s, t, x, &err) != 0) fail_msg("%s", err.msg);
    for (int p = 0; p < 3; p++) assert_true(x[p] >= 0 && x[p] < 1);
    zdt1_3v(x, f);
    /* constraint: x >= 0.5 is infeasible */
    double c = x[0] - 0.5;
    if (hp_sampler_tell_values(s, t, x, HP_FINAL_COMPLETE, f, 2, constrained ? &c : NULL,
                               constrained ? 1 : 0, -1, &err) != 0)
      fail_msg("%s", err.msg);
    if (!constrained || c <= 0) memcpy(pts + 2 * k++, f, sizeof f);
    if (n_feasible_late && t >= n / 2 && c <= 0) (*n_feasible_late)++;
  }
  const double ref[] = {1.1, 11};
  double hv = hp_mo_hypervolume(pts, k, 2, ref);
  free(pts);
  hp_sampler_free(s);
  hp_space_free(sp);
  return hv;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_hv(hp_sampler_kind_t kind, int n, int seeds) {
  double hv[16];
  for (int i = 0; i < seeds; i++) hv[i] = run_zdt1(kind, (uint64_t)i, n, false, NULL);
  qsort(hv, (size_t)seeds, sizeof *hv, cmp_d);
  return hv[seeds / 2];
}

static void test_samplers_beat_random(void **state) {
  (void)state;
  /* 7 seeds, 200 trials: both model-based samplers find a better front
   * than random search (the median hypervolume). */
  double r = median_hv(HP_SAMPLER_RANDOM, 200, 7);
  double t = median_hv(HP_SAMPLER_TPE, 200, 7);
  double g = median_hv(HP_SAMPLER_NSGA2, 200, 7);
  print_message("ZDT1 (3 variables), 200 trials, median hypervolume: random %.4f, MOTPE %.4f, "
                "NSGA-II %.4f\n", r, t, g);
  assert_true(t > r);
  assert_true(g > r);
}

/* MOTPE keeps improving once its below set outgrows gamma_max (a tenth of
 * the history: 100 trials at 1,000): DTLZ2, 1,000 trials, univariate as the
 * daemon runs several objectives. With l's resolution bandwidths and the
 * bandwidth weighting kept at that size (the rule before, see large_below
 * in search/tpe.c) no seed of 20 passed 14.97 (median 14.899, max 14.963);
 * with Optuna 5's mixtures there the 20 seeds give 15.014 .. 15.043 (the
 * front's own bound is 15.101). */
static void test_motpe_large_below(void **state) {
  (void)state;
  char text[1024], *t = text;
  t += sprintf(t, "{");
  for (int i = 0; i < 12; i++)
    t += sprintf(t, "%s\"x%d\": {\"type\": \"float\", \"low\": 0, \"high\": 1}", i ? ", " : "", i);
  sprintf(t, "}");
  hp_space_t *sp = space_of(text);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_TPE);
  o.seed = 0;
  o.n_objectives = 3;
  o.multivariate = false; /* the daemon's default for several objectives */
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), 0);
  enum { N = 1000 };
  double *pts = malloc((size_t)N * 3 * sizeof *pts);
  for (int n = 0; n < N; n++) {
    double x[12];
    assert_int_equal(hp_sampler_suggest(s, n, x, &err), 0);
    dtlz2(x, pts + 3 * n);
    assert_int_equal(hp_sampler_tell_values(s, n, x, HP_FINAL_COMPLETE, pts + 3 * n, 3, NULL, 0, -1, &err), 0);
  }
  const double ref[] = {2.5, 2.5, 2.5};
  double hv = hp_mo_hypervolume(pts, N, 3, ref);
  print_message("DTLZ2 (3 objectives), 1,000 trials, seed 0: hypervolume %.4f\n", hv);
  assert_true(hv > 14.99);
  free(pts);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_determinism(void **state) {
  (void)state;
  static const hp_sampler_kind_t kinds[] = {HP_SAMPLER_TPE, HP_SAMPLER_NSGA2};
  for (int i = 0; i < 2; i++) {
    hp_sampler_kind_t kind = kinds[i];
    double a = run_zdt1(kind, 3, 80, true, NULL);
    double b = run_zdt1(kind, 3, 80, true, NULL);
    assert_true(a == b);
  }
}

/* NSGA-II's parents are a function of the told history: a sampler that
 * went generation by generation (its parents carried on from the last
 * generation's) and fresh samplers told the same trials at once, or in
 * another order, propose the same points (8 generations of 10, constrained
 * ZDT1). */
static void test_nsga2_history_function(void **state) {
  (void)state;
  enum { P = 10, T = 85 };
  hp_space_t *sp = space_of(SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_NSGA2);
  o.seed = 5;
  o.n_objectives = 2;
  o.population_size = P;
  hp_sampler_t *a = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &a, &err), 0);
  double x[T][3], f[T][2], c[T];
  for (int t = 0; t < T; t++) {
    assert_int_equal(hp_sampler_suggest(a, t, x[t], &err), 0);
    zdt1_3v(x[t], f[t]);
    c[t] = x[t][0] - 0.5;
    assert_int_equal(hp_sampler_tell_values(a, t, x[t], HP_FINAL_COMPLETE, f[t], 2, &c[t], 1, -1, &err), 0);
  }
  for (int order = 0; order < 2; order++) {
    hp_sampler_t *b = NULL;
    assert_int_equal(hp_sampler_create(sp, &o, &b, &err), 0);
    for (int i = 0; i < T; i++) {
      int t = order == 0 ? i : T - 1 - i; /* in order, then last first */
      assert_int_equal(hp_sampler_tell_values(b, t, x[t], HP_FINAL_COMPLETE, f[t], 2, &c[t], 1, -1, &err), 0);
    }
    double xa[3], xb[3];
    assert_int_equal(hp_sampler_suggest(a, T + order, xa, &err), 0);
    assert_int_equal(hp_sampler_suggest(b, T + order, xb, &err), 0);
    assert_memory_equal(xa, xb, sizeof xa);
    hp_sampler_release(a, T + order);
    hp_sampler_free(b);
  }
  hp_sampler_free(a);
  hp_space_free(sp);
}

static void test_constraints_steer(void **state) {
  (void)state;
  /* With x >= 0.5 infeasible, the model-based samplers put most of the
   * second half of their trials in the feasible half. */
  static const hp_sampler_kind_t kinds[] = {HP_SAMPLER_TPE, HP_SAMPLER_NSGA2};
  for (int i = 0; i < 2; i++) {
    int late = 0;
    run_zdt1(kinds[i], 1, 200, true, &late);
    print_message("%s: %d of the last 100 trials feasible\n", hp_sampler_kind_name(kinds[i]), late);
    assert_true(late >= 70);
  }
}

static void test_single_objective_constraints(void **state) {
  (void)state;
  /* One objective, minimise x; x < 0.3 infeasible: the best feasible
   * region is x near 0.3, and TPE's trials gather there. */
  hp_space_t *sp = space_of("{\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}");
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_TPE);
  o.seed = 5;
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), 0);
  int near = 0, infeasible_late = 0;
  for (int t = 0; t < 100; t++) {
    double x, c;
    assert_int_equal(hp_sampler_suggest(s, t, &x, &err), 0);
    c = 0.3 - x;
    assert_int_equal(hp_sampler_tell_values(s, t, &x, HP_FINAL_COMPLETE, &x, 1, &c, 1, -1, &err), 0);
    if (t >= 50) near += x >= 0.3 && x < 0.4, infeasible_late += c > 0;
  }
  print_message("constrained TPE: %d of the last 50 in [0.3, 0.4), %d infeasible\n", near,
                infeasible_late);
  assert_true(near >= 20);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_grid_multi(void **state) {
  (void)state;
  hp_space_t *sp = space_of("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 3},"
                            " \"b\": {\"type\": \"categorical\", \"choices\": [\"u\", \"v\"]}}");
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  o.n_objectives = 3;
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), 0);
  bool seen[8] = {0};
  for (int t = 0; t < 8; t++) {
    double x[2], v[3] = {1, 2, 3};
    assert_int_equal(hp_sampler_suggest(s, t, x, &err), 0);
    int id = (int)hp_sampler_grid_id(s, x);
    assert_false(seen[id]);
    seen[id] = true;
    assert_int_equal(hp_sampler_tell_values(s, t, x, HP_FINAL_COMPLETE, v, 3, NULL, 0, -1, &err), 0);
  }
  double x[2];
  assert_int_equal(hp_sampler_suggest(s, 8, x, &err), HP_EEXHAUSTED);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_nsga2_opts(void **state) {
  (void)state;
  hp_sampler_opts_t o;
  hp_err_t err = {0};
  cJSON *v = cJSON_Parse("{\"type\": \"nsga2\", \"population_size\": 10, \"mutation_prob\": 0.2}");
  assert_int_equal(hp_sampler_opts_parse(v, &o, &err), 0);
  assert_true(o.kind == HP_SAMPLER_NSGA2 && o.population_size == 10 && o.mutation_prob == 0.2);
  assert_true(o.crossover_prob == 0.9 && o.swapping_prob == 0.5);
  cJSON_Delete(v);
  const char *bad[] = {"{\"type\": \"nsga2\", \"population_size\": 1}",
                       "{\"type\": \"nsga2\", \"crossover_prob\": 1.5}",
                       "{\"type\": \"nsga2\", \"multivariate\": true}"};
  const char *field[] = {"population_size", "crossover_prob", "multivariate"};
  for (int i = 0; i < 3; i++) {
    v = cJSON_Parse(bad[i]);
    assert_int_equal(hp_sampler_opts_parse(v, &o, &err), HP_EINVAL);
    assert_non_null(strstr(err.msg, field[i]));
    cJSON_Delete(v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ranks),
      cmocka_unit_test(test_hypervolume),
      cmocka_unit_test(test_hssp),
      cmocka_unit_test(test_tell_values_checks),
      cmocka_unit_test(test_samplers_beat_random),
      cmocka_unit_test(test_motpe_large_below),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_constraints_steer),
      cmocka_unit_test(test_single_objective_constraints),
      cmocka_unit_test(test_grid_multi),
      cmocka_unit_test(test_nsga2_opts),
      cmocka_unit_test(test_nsga2_history_function),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

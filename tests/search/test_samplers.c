/* Tests of the sampler API with the random and grid samplers: options,
 * ranges and types of suggestions, determinism, bookkeeping errors, and the
 * grid's exactly-once hand-out under interleaved ask/tell, release, retry and
 * replay after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/sampler.h"

/* Every kind of distribution. */
static const char *ALL_KINDS =
    "{\"f\": {\"type\": \"float\", \"low\": -2, \"high\": 3},"
    " \"fl\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 1, \"log\": true},"
    " \"fs\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.25},"
    " \"i\": {\"type\": \"int\", \"low\": -3, \"high\": 7},"
    " \"is\": {\"type\": \"int\", \"low\": 0, \"high\": 20, \"step\": 5},"
    " \"il\": {\"type\": \"int\", \"low\": 1, \"high\": 1000, \"log\": true},"
    " \"c\": {\"type\": \"categorical\", \"choices\": [\"a\", 2, true, null]},"
    " \"one\": {\"type\": \"int\", \"low\": 4, \"high\": 4}}";

static hp_space_t *space_of(const char *text) {
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  if (hp_space_parse_text(text, strlen(text), &s, &err) != 0) fail_msg("%s", err.msg);
  return s;
}

static hp_sampler_t *sampler_of(const hp_space_t *sp, const hp_sampler_opts_t *o) {
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  if (hp_sampler_create(sp, o, &s, &err) != 0) fail_msg("%s", err.msg);
  return s;
}

/* Checks that x[] is a valid internal point of the space. */
static void check_point(const hp_space_t *sp, const double *x) {
  for (int p = 0; p < sp->n; p++) {
    const hp_dist_t *d = &sp->params[p].dist;
    if (!hp_dist_contains(d, x[p])) fail_msg("%s = %.17g not in distribution", sp->params[p].name, x[p]);
    if (d->kind != HP_DIST_FLOAT && x[p] != floor(x[p])) fail_msg("%s not integral", sp->params[p].name);
    if (d->kind == HP_DIST_FLOAT && d->step == 0 && d->low < d->high && x[p] >= d->high)
      fail_msg("%s reached high", sp->params[p].name);
  }
}

static void test_opts_parse(void **state) {
  (void)state;
  hp_sampler_opts_t o;
  hp_err_t err = {0};
  cJSON *v = cJSON_Parse("\"tpe\"");
  assert_int_equal(hp_sampler_opts_parse(v, &o, &err), 0);
  assert_int_equal(o.kind, HP_SAMPLER_TPE);
  assert_int_equal(o.n_startup_trials, 10);
  assert_int_equal(o.n_ei_candidates, 24);
  assert_int_equal(o.gamma_max, 25);
  assert_true(o.prior_weight == 1.0 && o.consider_prior && o.consider_magic_clip);
  /* Optuna 5's defaults: multivariate (with groups) and the constant liar */
  assert_false(o.consider_endpoints);
  assert_true(o.multivariate && o.group && o.constant_liar);
  cJSON_Delete(v);
  v = cJSON_Parse("{\"type\": \"tpe\", \"seed\": 7, \"multivariate\": false, \"constant_liar\": false,"
                  " \"group\": false, \"n_startup_trials\": 5}");
  assert_int_equal(hp_sampler_opts_parse(v, &o, &err), 0);
  assert_true(o.seed == 7 && !o.multivariate && !o.constant_liar && !o.group && o.n_startup_trials == 5);
  cJSON_Delete(v);
  v = cJSON_Parse("{\"type\": \"grid\", \"shuffle\": false, \"retry_failed\": true}");
  assert_int_equal(hp_sampler_opts_parse(v, &o, &err), 0);
  assert_true(o.kind == HP_SAMPLER_GRID && !o.grid_shuffle && o.grid_retry_failed);
  cJSON_Delete(v);
  const char *bad[] = {"\"bayes\"", "{\"type\": \"random\", \"multivariate\": true}",
                       "{\"type\": \"tpe\", \"n_ei_candidates\": 0}", "{\"type\": \"tpe\", \"seed\": -1}",
                       "{\"type\": \"tpe\", \"constant_liar\": 1}", "{\"seed\": 1}", "3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = cJSON_Parse(bad[i]);
    if (hp_sampler_opts_parse(v, &o, &err) == 0) fail_msg("accepted %s", bad[i]);
    assert_non_null(strstr(err.msg, "sampler"));
    cJSON_Delete(v);
  }
  assert_string_equal(hp_sampler_kind_name(HP_SAMPLER_GRID), "grid");
}

static void test_random_ranges_and_uniformity(void **state) {
  (void)state;
  hp_space_t *sp = space_of(ALL_KINDS);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_RANDOM);
  o.seed = 42;
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  double x[8];
  int n = 4000, below_gm = 0, cat_count[4] = {0}, fs_count[5] = {0}, il_small = 0;
  for (int t = 0; t < n; t++) {
    assert_int_equal(hp_sampler_suggest(s, t, x, &err), 0);
    check_point(sp, x);
    below_gm += x[1] < 1e-2; /* geometric mean of [1e-4, 1] */
    cat_count[(int)x[6]]++;
    fs_count[(int)llround(x[2] / 0.25)]++;
    il_small += x[5] <= 22; /* exp(U(ln 0.5, ln 1000.5)) < 22.5: probability 0.501 */
    assert_true(x[7] == 4);
    assert_int_equal(hp_sampler_tell(s, t, x, HP_FINAL_COMPLETE, 0.0, -1, &err), 0);
  }
  /* Loose bounds (binomial sd ~ 32 for n = 4000): these fail only if the
   * distribution is wrong, e.g. linear instead of log-uniform. */
  assert_in_range(below_gm, 1800, 2200);
  for (int c = 0; c < 4; c++) assert_in_range(cat_count[c], 850, 1150);
  for (int c = 0; c < 5; c++) assert_in_range(fs_count[c], 650, 950);
  assert_in_range(il_small, 1800, 2200);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_random_deterministic(void **state) {
  (void)state;
  hp_space_t *sp = space_of(ALL_KINDS);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_RANDOM);
  o.seed = 3;
  hp_sampler_t *a = sampler_of(sp, &o), *b = sampler_of(sp, &o);
  o.seed = 4;
  hp_sampler_t *c = sampler_of(sp, &o);
  hp_err_t err = {0};
  double xa[8], xb[8], xc[8];
  /* b suggests in another order: suggestions depend on the number only. */
  for (int t = 0; t < 20; t++) assert_int_equal(hp_sampler_suggest(a, t, xa, &err), 0);
  assert_int_equal(hp_sampler_suggest(b, 19, xb, &err), 0);
  assert_memory_equal(xa, xb, sizeof xa);
  assert_int_equal(hp_sampler_suggest(c, 20, xc, &err), 0);
  assert_int_equal(hp_sampler_suggest(a, 20, xa, &err), 0);
  assert_true(memcmp(xa, xc, sizeof xa) != 0);
  hp_sampler_free(a);
  hp_sampler_free(b);
  hp_sampler_free(c);
  hp_space_free(sp);
}

static void test_bookkeeping_errors(void **state) {
  (void)state;
  hp_space_t *sp = space_of(ALL_KINDS);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_RANDOM);
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  double x[8];
  assert_int_equal(hp_sampler_suggest(s, 0, x, &err), 0);
  assert_int_equal(hp_sampler_suggest(s, 0, x, &err), HP_EEXIST); /* running */
  assert_int_equal(hp_sampler_suggest(s, -1, x, &err), HP_EINVAL);
  assert_int_equal(hp_sampler_suggest(s, 1LL << 40, x, &err), HP_EINVAL);
  assert_int_equal(hp_sampler_tell(s, 0, x, HP_FINAL_COMPLETE, 1.0, -1, &err), 0);
  assert_int_equal(hp_sampler_tell(s, 0, x, HP_FINAL_COMPLETE, 1.0, -1, &err), HP_EEXIST);
  assert_int_equal(hp_sampler_suggest(s, 0, x, &err), HP_EEXIST); /* finished */
  assert_int_equal(hp_sampler_running(s, 0, x, &err), HP_EEXIST);
  assert_int_equal(hp_sampler_tell(s, 1, x, HP_FINAL_COMPLETE, NAN, -1, &err), 0); /* -> FAIL */
  assert_int_equal(hp_sampler_tell(s, 2, x, HP_FINAL_PRUNED, 0.5, 3, &err), 0);
  assert_int_equal(hp_sampler_running(s, 5, x, &err), 0);
  hp_sampler_stats_t st;
  hp_sampler_stats(s, &st);
  assert_int_equal(st.n_complete, 1);
  assert_int_equal(st.n_fail, 1);
  assert_int_equal(st.n_pruned, 1);
  assert_int_equal(st.n_running, 1);
  hp_sampler_release(s, 5);
  hp_sampler_stats(s, &st);
  assert_int_equal(st.n_running, 0);
  assert_int_equal(hp_sampler_suggest(s, 5, x, &err), 0); /* released number is usable */
  hp_sampler_free(s);
  hp_space_free(sp);
}

static const char *GRID_SPACE =
    "{\"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 1, \"log\": true, \"grid\": [1e-3, 1e-2, 0.1]},"
    " \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
    " \"k\": {\"type\": \"int\", \"low\": 1, \"high\": 4}}";

static void test_grid_exhaustive_interleaved(void **state) {
  (void)state;
  hp_space_t *sp = space_of(GRID_SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  o.seed = 9;
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  const int total = 3 * 2 * 4;
  int seen[24] = {0};
  double pts[64][3];
  int running[64], n_running = 0, next = 0;
  /* Ask 5, tell 2 (oldest first), repeat: at most 5 in flight. */
  while (1) {
    int asked = 0;
    for (int k = 0; k < 5; k++) {
      int rc = hp_sampler_suggest(s, next, pts[next], &err);
      if (rc == HP_EEXHAUSTED) break;
      assert_int_equal(rc, 0);
      check_point(sp, pts[next]);
      int64_t id = hp_sampler_grid_id(s, pts[next]);
      assert_in_range(id, 0, total - 1);
      if (seen[id]++) fail_msg("grid point %lld handed out twice", (long long)id);
      running[n_running++] = next++;
      asked++;
    }
    if (asked == 0 && n_running == 0) break;
    for (int k = 0; k < 2 && n_running > 0; k++) {
      int num = running[0];
      memmove(running, running + 1, (size_t)(--n_running) * sizeof running[0]);
      hp_trial_final_t st = num % 7 == 3 ? HP_FINAL_FAIL : num % 5 == 1 ? HP_FINAL_PRUNED : HP_FINAL_COMPLETE;
      assert_int_equal(hp_sampler_tell(s, num, pts[num], st, (double)num, 2, &err), 0);
    }
  }
  assert_int_equal(next, total);
  for (int i = 0; i < total; i++) assert_int_equal(seen[i], 1);
  assert_int_equal(hp_sampler_suggest(s, next, pts[next], &err), HP_EEXHAUSTED);
  assert_non_null(strstr(err.msg, "exhausted"));
  hp_sampler_stats_t st;
  hp_sampler_stats(s, &st);
  assert_int_equal(st.grid_total, total);
  assert_int_equal(st.grid_free, 0);
  assert_int_equal(st.grid_done, total);
  assert_int_equal(st.n_running, 0);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_grid_order_release_retry(void **state) {
  (void)state;
  hp_space_t *sp = space_of(GRID_SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  o.grid_shuffle = false;
  o.grid_retry_failed = true;
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  double x[3];
  /* Ordered: id 0 = (1e-3, sgd, 1), id 1 = (1e-3, sgd, 2): last param fastest. */
  assert_int_equal(hp_sampler_suggest(s, 0, x, &err), 0);
  assert_true(x[0] == 1e-3 && x[1] == 0 && x[2] == 1);
  assert_int_equal(hp_sampler_suggest(s, 1, x, &err), 0);
  assert_true(x[0] == 1e-3 && x[1] == 0 && x[2] == 2);
  assert_int_equal(hp_sampler_grid_id(s, x), 1);
  /* Released point 0 comes back first. */
  hp_sampler_release(s, 0);
  assert_int_equal(hp_sampler_suggest(s, 2, x, &err), 0);
  assert_int_equal(hp_sampler_grid_id(s, x), 0);
  /* A failed point is retried with retry_failed. */
  assert_int_equal(hp_sampler_tell(s, 2, x, HP_FINAL_FAIL, NAN, -1, &err), 0);
  assert_int_equal(hp_sampler_suggest(s, 3, x, &err), 0);
  assert_int_equal(hp_sampler_grid_id(s, x), 0);
  /* Off-grid params have no id. */
  double off[3] = {0.5, 0, 1};
  assert_int_equal(hp_sampler_grid_id(s, off), -1);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_grid_replay(void **state) {
  (void)state;
  hp_space_t *sp = space_of(GRID_SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  o.seed = 5;
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  double pts[24][3];
  for (int t = 0; t < 10; t++) assert_int_equal(hp_sampler_suggest(s, t, pts[t], &err), 0);
  /* Trials 0-3 complete, 4 pruned, 5 failed, 6-9 still running; then a
   * restart: a new sampler is told the stored history. */
  hp_sampler_t *r = sampler_of(sp, &o);
  for (int t = 0; t < 10; t++) {
    if (t < 4)
      assert_int_equal(hp_sampler_tell(r, t, pts[t], HP_FINAL_COMPLETE, 1.0, -1, &err), 0);
    else if (t == 4)
      assert_int_equal(hp_sampler_tell(r, t, pts[t], HP_FINAL_PRUNED, 1.0, 1, &err), 0);
    else if (t == 5)
      assert_int_equal(hp_sampler_tell(r, t, pts[t], HP_FINAL_FAIL, NAN, -1, &err), 0);
    else
      assert_int_equal(hp_sampler_running(r, t, pts[t], &err), 0);
  }
  hp_sampler_stats_t st;
  hp_sampler_stats(r, &st);
  assert_int_equal(st.grid_free, 14);
  assert_int_equal(st.grid_done, 6);
  int seen[24] = {0};
  for (int t = 0; t < 10; t++) seen[hp_sampler_grid_id(r, pts[t])]++;
  for (int t = 10; t < 24; t++) {
    assert_int_equal(hp_sampler_suggest(r, t, pts[t], &err), 0);
    int64_t id = hp_sampler_grid_id(r, pts[t]);
    if (seen[id]++) fail_msg("replayed grid re-issued point %lld", (long long)id);
  }
  assert_int_equal(hp_sampler_suggest(r, 24, pts[0], &err), HP_EEXHAUSTED);
  hp_sampler_free(s);
  hp_sampler_free(r);
  hp_space_free(sp);
}

static void test_grid_needs_values(void **state) {
  (void)state;
  hp_space_t *sp = space_of("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 3},"
                            " \"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}");
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_sampler_create(sp, &o, &s, &err), HP_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err.msg, "space.x"));
  hp_space_free(sp);
}

/* A conditional space (docs/search.md, "Conditional parameters"), every
 * parameter griddable: 62 valid points (per optimizer and lr value: sgd 1 +
 * 3 schedules, momentum 5 x 4, nesterov 5, adam 2). */
static const char *COND_SPACE =
    "{\"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"momentum\", \"nesterov\", \"adam\"]},"
    " \"lr\": {\"type\": \"float\", \"low\": 0.01, \"high\": 0.1, \"log\": true, \"grid\": [0.01, 0.1]},"
    " \"momentum\": {\"type\": \"float\", \"low\": 0.5, \"high\": 0.9, \"step\": 0.1,"
    "                \"when\": {\"opt\": [\"momentum\", \"nesterov\"]}},"
    " \"sched\": {\"type\": \"categorical\", \"choices\": [\"constant\", \"step\"],"
    "             \"when\": {\"opt\": [\"sgd\", \"momentum\"]}},"
    " \"gamma\": {\"type\": \"int\", \"low\": 1, \"high\": 3, \"when\": {\"sched\": \"step\"}},"
    " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.9, \"grid\": [0.8, 0.9],"
    "             \"when\": {\"opt\": \"adam\"}}}";
#define COND_POINTS 62

/* A made-up loss over the conditional space: adam with beta1 near 0.85 and
 * lr near 0.03 is best; it reads only active parameters. */
static double cond_loss(const double *x) {
  double l = fabs(log(x[1] / 0.03));
  switch ((int)x[0]) {
    case 0: l += 1.0 + (x[3] == 1 ? 0.1 * x[4] : 0.5); break;
    case 1: l += 0.6 + fabs(x[2] - 0.8) + (x[3] == 1 ? 0.1 * x[4] : 0.4); break;
    case 2: l += 0.5 + fabs(x[2] - 0.7); break;
    default: l += 10 * fabs(x[5] - 0.85); break;
  }
  return l;
}

/* Checks that x[] has exactly the active parameters, each in range. */
static void check_cond_point(const hp_space_t *sp, const double *x) {
  for (int p = 0; p < sp->n; p++) {
    bool active = hp_space_active(sp, p, x);
    if (active && !hp_dist_contains(&sp->params[p].dist, x[p]))
      fail_msg("active %s = %.17g not in its distribution", sp->params[p].name, x[p]);
    if (!active && !isnan(x[p])) fail_msg("inactive %s has value %.17g", sp->params[p].name, x[p]);
  }
}

static void test_conditional_samplers(void **state) {
  (void)state;
  hp_space_t *sp = space_of(COND_SPACE);
  struct { hp_sampler_kind_t kind; bool mv, group, liar; } modes[] = {
      {HP_SAMPLER_RANDOM, 0, 0, 0}, {HP_SAMPLER_TPE, 0, 0, 0}, {HP_SAMPLER_TPE, 1, 1, 0},
      {HP_SAMPLER_TPE, 1, 1, 1},    {HP_SAMPLER_TPE, 1, 0, 1}};
  double best[5];
  for (int m = 0; m < 5; m++) {
    best[m] = 0;
    for (uint64_t seed = 0; seed < 4; seed++) {
      hp_sampler_opts_t o;
      hp_sampler_opts_default(&o, modes[m].kind);
      o.seed = seed;
      o.multivariate = modes[m].mv;
      o.group = modes[m].group;
      o.constant_liar = modes[m].liar;
      hp_sampler_t *s = sampler_of(sp, &o);
      hp_err_t err = {0};
      double x[120][6], b = INFINITY;
      int used[6] = {0};
      /* two in flight: ask n + 1, tell n */
      assert_int_equal(hp_sampler_suggest(s, 0, x[0], &err), 0);
      for (int n = 0; n < 119; n++) {
        assert_int_equal(hp_sampler_suggest(s, n + 1, x[n + 1], &err), 0);
        check_cond_point(sp, x[n + 1]);
        for (int p = 0; p < 6; p++) used[p] += !isnan(x[n + 1][p]);
        double v = cond_loss(x[n]);
        b = fmin(b, v);
        hp_trial_final_t fin = n % 11 == 5 ? HP_FINAL_PRUNED : HP_FINAL_COMPLETE;
        assert_int_equal(hp_sampler_tell(s, n, x[n], fin, v, 3, &err), 0);
      }
      /* every conditional parameter was sampled at some point */
      for (int p = 0; p < 6; p++)
        if (used[p] == 0) fail_msg("mode %d: %s never sampled", m, sp->params[p].name);
      best[m] += b / 4;
      hp_sampler_free(s);
    }
  }
  /* TPE (every mode) finds a better point than random on average. */
  for (int m = 1; m < 5; m++)
    if (!(best[m] < best[0])) fail_msg("TPE mode %d: mean best %g not below random's %g", m, best[m], best[0]);
  hp_space_free(sp);
}

/* Fixed values that switch a condition (an enqueued trial): the parameters
 * that became active are drawn, the ones that became inactive dropped. */
static void test_conditional_fill(void **state) {
  (void)state;
  hp_space_t *sp = space_of(COND_SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_TPE);
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  double x[6];
  assert_int_equal(hp_sampler_suggest(s, 0, x, &err), 0);
  x[0] = 1;      /* momentum (fixed) */
  x[2] = NAN;    /* its momentum value not given */
  x[3] = 1;      /* step schedule (fixed); gamma may be missing */
  x[5] = 0.85;   /* beta1 given although inactive */
  hp_sampler_fill(s, 0, x);
  check_cond_point(sp, x);
  assert_true(x[0] == 1 && x[3] == 1 && !isnan(x[2]) && !isnan(x[4]) && isnan(x[5]));
  double y[6];
  memcpy(y, x, sizeof y);
  hp_sampler_fill(s, 0, y); /* a point of the space stays as it is */
  assert_memory_equal(x, y, sizeof x);
  hp_sampler_free(s);
  hp_space_free(sp);
}

static void test_conditional_grid(void **state) {
  (void)state;
  hp_space_t *sp = space_of(COND_SPACE);
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, HP_SAMPLER_GRID);
  o.seed = 3;
  hp_sampler_t *s = sampler_of(sp, &o);
  hp_err_t err = {0};
  hp_sampler_stats_t st;
  hp_sampler_stats(s, &st);
  assert_int_equal(st.grid_total, COND_POINTS);
  double pts[COND_POINTS + 1][6];
  int seen[COND_POINTS] = {0};
  /* Three in flight; trial 7 is released (never started) and its point
   * handed out again; after 30 trials a restart replays the history. */
  int n = 0;
  for (; n < 30; n++) {
    assert_int_equal(hp_sampler_suggest(s, n, pts[n], &err), 0);
    check_cond_point(sp, pts[n]);
    if (n == 7) {
      hp_sampler_release(s, 7);
      assert_int_equal(hp_sampler_suggest(s, 7, pts[7], &err), 0);
    }
    if (n >= 2)
      assert_int_equal(hp_sampler_tell(s, n - 2, pts[n - 2], HP_FINAL_COMPLETE, 1, -1, &err), 0);
  }
  hp_sampler_t *r = sampler_of(sp, &o);
  for (int t = 0; t < n; t++) {
    if (t < n - 2)
      assert_int_equal(hp_sampler_tell(r, t, pts[t], t % 4 ? HP_FINAL_COMPLETE : HP_FINAL_FAIL, 1, -1, &err), 0);
    else
      assert_int_equal(hp_sampler_running(r, t, pts[t], &err), 0);
  }
  for (; n < COND_POINTS; n++) {
    assert_int_equal(hp_sampler_suggest(r, n, pts[n], &err), 0);
    check_cond_point(sp, pts[n]);
  }
  assert_int_equal(hp_sampler_suggest(r, n, pts[n], &err), HP_EEXHAUSTED);
  for (int t = 0; t < COND_POINTS; t++) {
    int64_t id = hp_sampler_grid_id(r, pts[t]);
    assert_in_range(id, 0, COND_POINTS - 1);
    if (seen[id]++) fail_msg("conditional grid point %lld handed out twice", (long long)id);
  }
  /* a point with a value for an inactive parameter, or lacking an active
   * one, is no grid point */
  double bad[6];
  memcpy(bad, pts[0], sizeof bad);
  bad[0] = 3, bad[5] = NAN; /* adam without beta1 */
  bad[2] = bad[3] = bad[4] = NAN;
  assert_int_equal(hp_sampler_grid_id(r, bad), -1);
  bad[5] = 0.8, bad[2] = 0.5; /* adam with momentum */
  assert_int_equal(hp_sampler_grid_id(r, bad), -1);
  bad[2] = NAN;
  assert_true(hp_sampler_grid_id(r, bad) >= 0);
  hp_sampler_free(s);
  hp_sampler_free(r);
  hp_space_free(sp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_opts_parse),
      cmocka_unit_test(test_random_ranges_and_uniformity),
      cmocka_unit_test(test_random_deterministic),
      cmocka_unit_test(test_bookkeeping_errors),
      cmocka_unit_test(test_grid_exhaustive_interleaved),
      cmocka_unit_test(test_grid_order_release_retry),
      cmocka_unit_test(test_grid_replay),
      cmocka_unit_test(test_grid_needs_values),
      cmocka_unit_test(test_conditional_samplers),
      cmocka_unit_test(test_conditional_grid),
      cmocka_unit_test(test_conditional_fill),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of the pruners on hand-made learning curves: median/percentile with
 * both directions, start-up, warm-up, interval, n_min_trials and NaN;
 * successive halving rungs, bootstrap, "auto" min_resource and restore;
 * hyperband brackets as Optuna 3.1 assigns them; config errors. */
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

#include "hpsearch/pruner.h"

static hp_pruner_t *make(const char *json, bool maximize) {
  cJSON *cfg = json ? cJSON_Parse(json) : NULL;
  if (json && !cfg) fail_msg("bad test JSON %s", json);
  hp_pruner_t *p = NULL;
  hp_err_t e = {0};
  int rc = hp_pruner_create(cfg, "hb", maximize, &p, &e);
  cJSON_Delete(cfg);
  if (rc) fail_msg("create %s: %s", json, e.msg);
  return p;
}

/* Reports one value and asks; returns the decision. */
static int report_ask(hp_pruner_t *p, int64_t trial, int64_t step, double v) {
  hp_err_t e = {0};
  if (hp_pruner_report(p, trial, step, v, &e)) fail_msg("report: %s", e.msg);
  int d = hp_pruner_should_prune(p, trial, step, &e);
  if (d < 0) fail_msg("should_prune: %s", e.msg);
  return d;
}

/* n COMPLETE trials numbered from first; trial i reports `value(i)` at
 * steps 0..n_steps-1. */
static void complete_flat(hp_pruner_t *p, int first, int n, int n_steps, const double *values) {
  hp_err_t e = {0};
  for (int i = 0; i < n; i++) {
    for (int s = 0; s < n_steps; s++)
      assert_int_equal(hp_pruner_report(p, first + i, s, values[i], &e), 0);
    assert_int_equal(hp_pruner_finish(p, first + i, HP_PRUNER_END_COMPLETE, &e), 0);
  }
}

static void test_none_never_prunes(void **state) {
  (void)state;
  hp_pruner_t *p = make(NULL, false);
  assert_int_equal(hp_pruner_kind(p), HP_PRUNER_NONE);
  double v[5] = {0, 0, 0, 0, 0};
  complete_flat(p, 0, 5, 3, v);
  assert_int_equal(report_ask(p, 9, 0, 1e9), 0);
  hp_pruner_free(p);
}

static void test_median_both_directions_and_startup(void **state) {
  (void)state;
  double peers[5] = {0, 1, 2, 3, 4}; /* median 2 at every step */
  for (int dir = 0; dir < 2; dir++) {
    bool max = dir == 1;
    hp_pruner_t *p = make("{\"type\": \"median\"}", max);
    complete_flat(p, 0, 4, 3, peers);
    /* 4 COMPLETE < n_startup_trials 5: never prune. */
    assert_int_equal(report_ask(p, 10, 0, max ? -100 : 100), 0);
    complete_flat(p, 4, 1, 3, peers + 4);
    assert_int_equal(report_ask(p, 11, 0, max ? 1.0 : 3.0), 1);  /* worse than median */
    assert_int_equal(report_ask(p, 12, 0, 2.0), 0);              /* equal: kept */
    assert_int_equal(report_ask(p, 13, 0, max ? 3.0 : 1.0), 0);  /* better */
    /* The trial's BEST value over its steps is compared (Optuna): a good
     * start keeps a trial that turns bad. */
    assert_int_equal(report_ask(p, 14, 0, max ? 4.0 : 0.5), 0);
    assert_int_equal(report_ask(p, 14, 1, max ? -50 : 50), 0);
    /* Steps no COMPLETE trial reached: no peers, no pruning. */
    assert_int_equal(report_ask(p, 15, 7, max ? -50 : 50), 0);
    hp_pruner_free(p);
  }
}

static void test_median_only_complete_peers(void **state) {
  (void)state;
  hp_pruner_t *p = make("{\"type\": \"median\", \"n_startup_trials\": 2}", false);
  double good[2] = {1, 2}, bad[6] = {100, 100, 100, 100, 100, 100};
  hp_err_t e = {0};
  /* Pruned and failed trials' values are not peers. */
  for (int i = 0; i < 6; i++) {
    assert_int_equal(hp_pruner_report(p, i, 0, bad[i], &e), 0);
    assert_int_equal(hp_pruner_finish(p, i, i % 2 ? HP_PRUNER_END_PRUNED : HP_PRUNER_END_FAIL, &e),
                     0);
  }
  assert_int_equal(report_ask(p, 20, 0, 50), 0); /* 0 COMPLETE */
  complete_flat(p, 6, 2, 1, good);               /* median 1.5 */
  assert_int_equal(report_ask(p, 21, 0, 50), 1);
  assert_int_equal(report_ask(p, 22, 0, 1.5), 0);
  /* Finished trials cannot report or be asked again. */
  assert_int_equal(hp_pruner_report(p, 6, 1, 0, &e), HP_ESTATE);
  assert_int_equal(hp_pruner_finish(p, 6, HP_PRUNER_END_FAIL, &e), HP_ESTATE);
  hp_pruner_free(p);
}

static void test_median_warmup_and_interval(void **state) {
  (void)state;
  double peers[5] = {0, 1, 2, 3, 4};
  hp_pruner_t *p = make("{\"type\": \"median\", \"n_warmup_steps\": 2}", false);
  complete_flat(p, 0, 5, 10, peers);
  assert_int_equal(report_ask(p, 10, 0, 9), 0);
  assert_int_equal(report_ask(p, 10, 1, 9), 0);
  assert_int_equal(report_ask(p, 10, 2, 9), 1);
  hp_pruner_free(p);

  /* interval 3 from warm-up 1: checkpoints at steps 1, 4, 7. */
  p = make("{\"type\": \"median\", \"n_warmup_steps\": 1, \"interval_steps\": 3}", false);
  complete_flat(p, 0, 5, 10, peers);
  const int expect[8] = {0, 1, 0, 0, 1, 0, 0, 1};
  for (int s = 0; s < 8; s++) assert_int_equal(report_ask(p, 10, s, 9), expect[s]);
  /* A checkpoint without a report is postponed to the next report. */
  assert_int_equal(report_ask(p, 11, 2, 9), 1); /* first report after checkpoint 1 */
  assert_int_equal(report_ask(p, 11, 3, 9), 0);
  assert_int_equal(report_ask(p, 11, 5, 9), 1); /* checkpoint 4 was skipped */
  assert_int_equal(report_ask(p, 11, 6, 9), 0);
  hp_pruner_free(p);
}

static void test_median_nan_and_min_trials(void **state) {
  (void)state;
  hp_pruner_t *p = make("{\"type\": \"median\", \"n_min_trials\": 4}", false);
  double peers[5] = {NAN, NAN, 1, 2, 3};
  complete_flat(p, 0, 5, 1, peers);
  /* NaN peers count for n_min_trials but not for the median (2). */
  assert_int_equal(report_ask(p, 10, 0, 2.5), 1);
  assert_int_equal(report_ask(p, 11, 0, 2.0), 0);
  /* A trial whose every value is NaN is pruned. */
  assert_int_equal(report_ask(p, 12, 0, NAN), 1);
  /* NaN values are skipped when taking the trial's best. */
  assert_int_equal(report_ask(p, 13, 0, 1.0), 0);
  hp_pruner_free(p);

  p = make("{\"type\": \"median\", \"n_min_trials\": 3}", false);
  double some[5] = {1, 2, 3, 4, 5};
  complete_flat(p, 0, 2, 6, some);      /* two trials reach step 5 */
  complete_flat(p, 2, 3, 2, some + 2);  /* three stop at step 1 */
  assert_int_equal(report_ask(p, 10, 0, 99), 1);
  assert_int_equal(report_ask(p, 11, 5, 99), 0); /* only 2 peers at step 5 */
  hp_pruner_free(p);

  /* Every peer NaN at the step: no reference, no pruning. */
  p = make("{\"type\": \"median\", \"n_startup_trials\": 1}", false);
  double nans[2] = {NAN, NAN};
  complete_flat(p, 0, 2, 1, nans);
  assert_int_equal(report_ask(p, 10, 0, 99), 0);
  hp_pruner_free(p);
}

static void test_percentile_interpolation(void **state) {
  (void)state;
  double peers[5] = {0, 1, 2, 3, 4};
  hp_pruner_t *p = make("{\"type\": \"percentile\", \"percentile\": 25}", false);
  complete_flat(p, 0, 5, 1, peers);     /* 25th percentile = 1 */
  assert_int_equal(report_ask(p, 10, 0, 1.5), 1);
  assert_int_equal(report_ask(p, 11, 0, 1.0), 0);
  hp_pruner_free(p);
  p = make("{\"type\": \"percentile\", \"percentile\": 25}", true);
  complete_flat(p, 0, 5, 1, peers);     /* maximize: 75th percentile = 3 */
  assert_int_equal(report_ask(p, 10, 0, 2.5), 1);
  assert_int_equal(report_ask(p, 11, 0, 3.0), 0);
  hp_pruner_free(p);
  /* Linear interpolation between order statistics: median of 0..3 = 1.5;
   * 10th percentile of 0..3 = 0.3. */
  p = make("{\"type\": \"median\", \"n_startup_trials\": 4}", false);
  complete_flat(p, 0, 4, 1, peers);
  assert_int_equal(report_ask(p, 10, 0, 1.51), 1);
  assert_int_equal(report_ask(p, 11, 0, 1.49), 0);
  hp_pruner_free(p);
  p = make("{\"type\": \"percentile\", \"percentile\": 10, \"n_startup_trials\": 4}", false);
  complete_flat(p, 0, 4, 1, peers);
  assert_int_equal(report_ask(p, 10, 0, 0.31), 1);
  assert_int_equal(report_ask(p, 11, 0, 0.29), 0);
  hp_pruner_free(p);
}

static void test_sha_rungs(void **state) {
  (void)state;
  /* min_resource 1, rf 2: rung k is reached at step 2^k. */
  hp_pruner_t *p = make("{\"type\": \"asha\", \"min_resource\": 1, \"reduction_factor\": 2}", false);
  assert_int_equal(hp_pruner_kind(p), HP_PRUNER_SHA);
  assert_int_equal(report_ask(p, 0, 0, 9), 0); /* below the first rung */
  assert_int_equal(hp_pruner_rung_count(p, 0), 0);
  assert_int_equal(report_ask(p, 0, 1, 5), 0); /* alone: it is the best */
  assert_int_equal(report_ask(p, 1, 1, 3), 0); /* [3,5] keep top 1: 3 */
  assert_int_equal(report_ask(p, 2, 1, 4), 1); /* [3,4,5] top 1: 3 */
  assert_int_equal(report_ask(p, 3, 1, 1), 0); /* [1,3,4,5] top 2 */
  assert_int_equal(report_ask(p, 4, 1, 3.5), 1);
  assert_int_equal(hp_pruner_rung_count(p, 1), 1);
  assert_true(hp_pruner_rung_value(p, 1, 0) == 3);
  /* Jumping to step 4 records rungs 1 and 2 in one decision. */
  assert_int_equal(report_ask(p, 3, 4, 0.5), 0);
  assert_int_equal(hp_pruner_rung_count(p, 3), 3);
  assert_true(isnan(hp_pruner_rung_value(p, 3, 3)));
  /* NaN at a rung: pruned. */
  assert_int_equal(report_ask(p, 5, 1, NAN), 1);
  hp_pruner_free(p);

  p = make("{\"type\": \"asha\", \"min_resource\": 1, \"reduction_factor\": 2}", true);
  assert_int_equal(report_ask(p, 0, 1, 5), 0);
  assert_int_equal(report_ask(p, 1, 1, 3), 1); /* maximize: [3,5] top 1 is 5 */
  assert_int_equal(report_ask(p, 2, 1, 6), 0);
  hp_pruner_free(p);
}

static void test_sha_bootstrap_rate_auto(void **state) {
  (void)state;
  hp_pruner_t *p = make("{\"type\": \"successive_halving\", \"min_resource\": 1, "
                        "\"reduction_factor\": 2, \"bootstrap_count\": 2}", false);
  assert_int_equal(report_ask(p, 0, 1, 1), 1); /* 1 competitor <= 2 */
  assert_int_equal(report_ask(p, 1, 1, 1), 1);
  assert_int_equal(report_ask(p, 2, 1, 1), 0);
  hp_pruner_free(p);

  /* min_early_stopping_rate 1: first rung at step 1 * 3^1. */
  p = make("{\"type\": \"sha\", \"min_resource\": 1, \"reduction_factor\": 3, "
           "\"min_early_stopping_rate\": 1}", false);
  assert_int_equal(report_ask(p, 0, 2, 1), 0);
  assert_int_equal(hp_pruner_rung_count(p, 0), 0);
  assert_int_equal(report_ask(p, 0, 3, 1), 0);
  assert_int_equal(hp_pruner_rung_count(p, 0), 1);
  hp_pruner_free(p);

  /* "auto": no pruning before a COMPLETE trial; then last_step / 100. */
  p = make("{\"type\": \"asha\", \"reduction_factor\": 2}", false);
  hp_err_t e = {0};
  assert_int_equal(report_ask(p, 0, 5, 1), 0);
  assert_int_equal(hp_pruner_rung_count(p, 0), 0);
  assert_int_equal(hp_pruner_report(p, 1, 250, 0.0, &e), 0);
  assert_int_equal(hp_pruner_finish(p, 1, HP_PRUNER_END_COMPLETE, &e), 0);
  assert_int_equal(report_ask(p, 2, 1, 5), 0);
  assert_int_equal(hp_pruner_rung_count(p, 2), 0); /* min_resource 2 */
  assert_int_equal(report_ask(p, 2, 2, 5), 0);
  assert_int_equal(hp_pruner_rung_count(p, 2), 1);
  assert_int_equal(report_ask(p, 3, 2, 6), 1);
  hp_pruner_free(p);
}

static void test_sha_restore(void **state) {
  (void)state;
  const char *cfg = "{\"type\": \"asha\", \"min_resource\": 1, \"reduction_factor\": 2}";
  hp_pruner_t *a = make(cfg, false), *b = make(cfg, false);
  double vals[4] = {5, 3, 1, 2};
  for (int i = 0; i < 4; i++) report_ask(a, i, 1, vals[i]);
  hp_err_t e = {0};
  /* Rebuild b from a's reports and rung values (what the daemon stores). */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(hp_pruner_report(b, i, 1, vals[i], &e), 0);
    for (int r = 0; r < hp_pruner_rung_count(a, i); r++)
      assert_int_equal(hp_pruner_restore_rung(b, i, r, hp_pruner_rung_value(a, i, r), &e), 0);
  }
  assert_int_equal(hp_pruner_restore_rung(b, 0, 5, 1.0, &e), HP_EINVAL);
  /* The same from system attributes as Optuna stores them. */
  hp_pruner_t *c = make(cfg, false);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(hp_pruner_report(c, i, 1, vals[i], &e), 0);
    cJSON *attrs = cJSON_CreateObject();
    cJSON_AddStringToObject(attrs, "fixed_params", "ignored");
    for (int r = 0; r < hp_pruner_rung_count(a, i); r++) {
      char key[32];
      snprintf(key, sizeof key, HP_PRUNER_RUNG_KEY_FMT, r);
      cJSON_AddNumberToObject(attrs, key, hp_pruner_rung_value(a, i, r));
    }
    assert_int_equal(hp_pruner_restore_rungs_json(c, i, attrs, &e), 0);
    assert_int_equal(hp_pruner_rung_count(c, i), hp_pruner_rung_count(a, i));
    cJSON_Delete(attrs);
  }
  cJSON *badj = cJSON_Parse("{\"completed_rung_0\": \"x\"}");
  assert_int_equal(hp_pruner_restore_rungs_json(c, 9, badj, &e), HP_EINVAL);
  assert_non_null(strstr(e.msg, "completed_rung_0"));
  cJSON_Delete(badj);
  for (int i = 4; i < 10; i++) {
    double v = (i * 7) % 5;
    int da = report_ask(a, i, 1, v);
    assert_int_equal(da, report_ask(b, i, 1, v));
    assert_int_equal(da, report_ask(c, i, 1, v));
  }
  hp_pruner_free(c);
  hp_pruner_free(a);
  hp_pruner_free(b);
}

static void test_hyperband_brackets(void **state) {
  (void)state;
  /* Study "hb", min 1, max 27, rf 3: Optuna 3.1 gives 4 brackets with
   * budgets [27, 12, 6, 4] and these bracket ids for trials 0..11. */
  hp_pruner_t *p = make("{\"type\": \"hyperband\", \"min_resource\": 1, \"max_resource\": 27, "
                        "\"reduction_factor\": 3}", false);
  const int expect[12] = {0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 3, 0};
  for (int n = 0; n < 12; n++) assert_int_equal(hp_pruner_bracket(p, n), expect[n]);
  /* Bracket 0 starts rungs at step 1, bracket 1 at step 3: trial 1 (bracket
   * 1) records nothing at step 1; trials 0 and 3 (bracket 0) compete. */
  assert_int_equal(report_ask(p, 1, 1, 100), 0);
  assert_int_equal(hp_pruner_rung_count(p, 1), 0);
  assert_int_equal(report_ask(p, 0, 1, 5), 0);
  assert_int_equal(report_ask(p, 3, 1, 6), 1); /* [5,6]: idx 0 -> 5 */
  assert_int_equal(report_ask(p, 1, 3, 100), 0); /* alone in bracket 1 */
  assert_int_equal(hp_pruner_rung_count(p, 1), 1);
  hp_pruner_free(p);

  /* max_resource "auto": no brackets until a COMPLETE trial. */
  p = make("{\"type\": \"hyperband\"}", false);
  assert_int_equal(hp_pruner_bracket(p, 0), -1);
  assert_int_equal(report_ask(p, 0, 3, 1), 0);
  hp_err_t e = {0};
  assert_int_equal(hp_pruner_report(p, 1, 26, 0.0, &e), 0);
  assert_int_equal(hp_pruner_finish(p, 1, HP_PRUNER_END_COMPLETE, &e), 0);
  assert_int_equal(hp_pruner_bracket(p, 0), 0); /* same brackets as max 27 */
  assert_int_equal(hp_pruner_bracket(p, 10), 3);
  hp_pruner_free(p);

  /* Replay after a restart: trial 0's rung is restored before the first
   * COMPLETE trial (1) is replayed; it still competes once brackets exist. */
  p = make("{\"type\": \"hyperband\", \"reduction_factor\": 3}", false);
  assert_int_equal(hp_pruner_report(p, 0, 1, 5.0, &e), 0);
  assert_int_equal(hp_pruner_restore_rung(p, 0, 0, 5.0, &e), 0);
  assert_int_equal(hp_pruner_report(p, 1, 26, 0.0, &e), 0);
  assert_int_equal(hp_pruner_finish(p, 1, HP_PRUNER_END_COMPLETE, &e), 0);
  assert_int_equal(hp_pruner_rung_count(p, 0), 1);
  assert_int_equal(report_ask(p, 3, 1, 6.0), 1); /* bracket 0 with trial 0: [5,6] */
  hp_pruner_free(p);
}

static void test_config_errors(void **state) {
  (void)state;
  static const struct {
    const char *json;
    const char *needle;
  } bad[] = {
      {"{\"type\": \"medain\"}", "pruner.type"},
      {"{\"type\": \"median\", \"n_startup\": 3}", "n_startup"},
      {"{\"type\": \"median\", \"interval_steps\": 0}", "pruner.interval_steps"},
      {"{\"type\": \"median\", \"n_warmup_steps\": -1}", "pruner.n_warmup_steps"},
      {"{\"type\": \"median\", \"n_min_trials\": 0}", "pruner.n_min_trials"},
      {"{\"type\": \"median\", \"n_startup_trials\": 1.5}", "pruner.n_startup_trials"},
      {"{\"type\": \"percentile\"}", "pruner.percentile"},
      {"{\"type\": \"percentile\", \"percentile\": 101}", "pruner.percentile"},
      {"{\"type\": \"asha\", \"min_resource\": \"big\"}", "pruner.min_resource"},
      {"{\"type\": \"asha\", \"min_resource\": 0}", "pruner.min_resource"},
      {"{\"type\": \"asha\", \"reduction_factor\": 1}", "pruner.reduction_factor"},
      {"{\"type\": \"asha\", \"bootstrap_count\": 2}", "pruner.bootstrap_count"},
      {"{\"type\": \"hyperband\", \"min_resource\": \"auto\"}", "pruner.min_resource"},
      {"{\"type\": \"hyperband\", \"min_resource\": 5, \"max_resource\": 3}", "max_resource"},
      {"{\"type\": \"hyperband\", \"min_early_stopping_rate\": 1}", "min_early_stopping_rate"},
      {"[1]", "pruner"},
      {"{\"n_warmup_steps\": 1}", "pruner.type"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *cfg = cJSON_Parse(bad[i].json);
    assert_non_null(cfg);
    hp_pruner_t *p = (hp_pruner_t *)1;
    hp_err_t e = {0};
    int rc = hp_pruner_create(cfg, "s", false, &p, &e);
    cJSON_Delete(cfg);
    if (rc != HP_EINVAL || !strstr(e.msg, bad[i].needle))
      fail_msg("%s: rc %d msg '%s' (wanted '%s')", bad[i].json, rc, e.msg, bad[i].needle);
    assert_null(p);
  }
  hp_pruner_t *p = make("{\"type\": \"median\"}", false);
  hp_err_t e = {0};
  assert_int_equal(hp_pruner_report(p, 0, -1, 1.0, &e), HP_EINVAL);
  assert_int_equal(hp_pruner_report(p, -1, 0, 1.0, &e), HP_EINVAL);
  assert_int_equal(hp_pruner_restore_rung(p, 0, 0, 1.0, &e), HP_EINVAL);
  assert_int_equal(hp_pruner_should_prune(p, 77, 0, &e), 0); /* unknown trial */
  assert_string_equal(hp_pruner_kind_name(hp_pruner_kind(p)), "median");
  hp_pruner_free(p);
}

/* Many trials and steps: decisions stay cheap (no rebuild per call). */
static void test_scale(void **state) {
  (void)state;
  hp_pruner_t *p = make("{\"type\": \"median\"}", false);
  hp_err_t e = {0};
  int pruned = 0;
  for (int t = 0; t < 2000; t++) {
    for (int s = 0; s < 50; s++) {
      double v = (double)((t * 7919) % 1000) / (s + 1);
      assert_int_equal(hp_pruner_report(p, t, s, v, &e), 0);
      int d = hp_pruner_should_prune(p, t, s, &e);
      assert_true(d >= 0);
      if (d) {
        pruned++;
        break;
      }
    }
    assert_int_equal(hp_pruner_finish(p, t, HP_PRUNER_END_COMPLETE, &e), 0);
  }
  assert_true(pruned > 500 && pruned < 1900);
  hp_pruner_free(p);
}

/* ---- the same decisions as Optuna ------------------------------------- */

static double case_num(const cJSON *j) {
  if (cJSON_IsNumber(j)) return j->valuedouble;
  if (cJSON_IsString(j) && strcmp(j->valuestring, "nan") == 0) return NAN;
  if (cJSON_IsString(j) && strcmp(j->valuestring, "inf") == 0) return INFINITY;
  if (cJSON_IsString(j) && strcmp(j->valuestring, "-inf") == 0) return -INFINITY;
  fail_msg("bad number in the Optuna cases");
  return 0;
}

/* Optuna 3.1 itself (tests/daemon/optuna_pruner_cases.py) runs every pruner
 * kind on random interleaved curves with NaN, +-inf, skipped steps, FAIL and
 * PRUNED trials, both directions; every decision must be the same here.
 * Without python3-optuna this FAILS and says how to install it. */
static void test_matches_optuna(void **state) {
  (void)state;
  const char *py = getenv("HP_PYTHON");
  if (!py || !*py) py = "/usr/bin/python3";
  const char *src = getenv("HP_SRC_DIR");
  if (!src || !*src) src = ".";
  if (access(py, X_OK) != 0)
    fail_msg("%s not found: this test needs python3 and python3-optuna; run scripts/install-deps",
             py);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' '%s/tests/daemon/optuna_pruner_cases.py' 3", py, src);
  FILE *fp = popen(cmd, "r");
  assert_non_null(fp);
  size_t cap = 1 << 20, n = 0, k;
  char *buf = malloc(cap);
  while ((k = fread(buf + n, 1, cap - n - 1, fp)) > 0)
    if ((n += k) + 1 == cap) buf = realloc(buf, cap *= 2);
  buf[n] = 0;
  int st = pclose(fp), code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  if (code == 3 || code == 127)
    fail_msg("python3-optuna is missing (exit %d from %s): run scripts/install-deps", code, py);
  if (code != 0) fail_msg("%s exited with %d", cmd, code);
  cJSON *cases = cJSON_Parse(buf);
  free(buf);
  assert_non_null(cases);
  int decisions = 0, pruned = 0, ci = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, cases) {
    hp_pruner_t *p = NULL;
    hp_err_t e = {0};
    bool max = cJSON_IsTrue(cJSON_GetObjectItem(c, "maximize"));
    if (hp_pruner_create(cJSON_GetObjectItem(c, "cfg"), "xc", max, &p, &e))
      fail_msg("case %d: %s", ci, e.msg);
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(c, "events")) {
      int64_t number = cJSON_GetArrayItem(ev, 1)->valueint;
      if (cJSON_GetArrayItem(ev, 0)->valuestring[0] == 'f') {
        const char *end = cJSON_GetArrayItem(ev, 2)->valuestring;
        hp_pruner_end_t how = strcmp(end, "COMPLETE") == 0 ? HP_PRUNER_END_COMPLETE
                              : strcmp(end, "PRUNED") == 0 ? HP_PRUNER_END_PRUNED
                                                           : HP_PRUNER_END_FAIL;
        assert_int_equal(hp_pruner_finish(p, number, how, &e), 0);
        continue;
      }
      int64_t step = cJSON_GetArrayItem(ev, 2)->valueint;
      double v = case_num(cJSON_GetArrayItem(ev, 3));
      int want = cJSON_GetArrayItem(ev, 4)->valueint;
      assert_int_equal(hp_pruner_report(p, number, step, v, &e), 0);
      int got = hp_pruner_should_prune(p, number, step, &e);
      if (got != want)
        fail_msg("case %d %s (%s): trial %lld step %lld value %g: Optuna %d, hpsearch %d", ci,
                 cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "cfg")),
                 max ? "maximize" : "minimize", (long long)number, (long long)step, v, want, got);
      decisions++;
      pruned += got;
    }
    hp_pruner_free(p);
    ci++;
  }
  print_message("%d cases, %d decisions (%d prunes) identical to Optuna 3.1\n", ci, decisions,
                pruned);
  assert_true(ci >= 50 && decisions > 10000 && pruned > 1000);
  cJSON_Delete(cases);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none_never_prunes),
      cmocka_unit_test(test_median_both_directions_and_startup),
      cmocka_unit_test(test_median_only_complete_peers),
      cmocka_unit_test(test_median_warmup_and_interval),
      cmocka_unit_test(test_median_nan_and_min_trials),
      cmocka_unit_test(test_percentile_interpolation),
      cmocka_unit_test(test_sha_rungs),
      cmocka_unit_test(test_sha_bootstrap_rate_auto),
      cmocka_unit_test(test_sha_restore),
      cmocka_unit_test(test_hyperband_brackets),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_scale),
      cmocka_unit_test(test_matches_optuna),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of the tuning advice (view/advise.c): one hand-made study per rule,
 * written with the store, where the rule must speak with the right trials
 * and numbers, and a twin study without the evidence where it must stay
 * silent. */
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

#include "hpsearch/space.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

#include "../store_fixture.h"

typedef struct fix {
  char dir[64], path[128];
  hp_store_t *s;
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  if (hp_test_db_dir(f->dir, f->path, "advise", "a.db") < 0) return -1;
  if (hp_store_open(f->path, 0, &f->s, NULL) < 0) return -1;
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

/* Distributions of the hand-made studies (Optuna's distribution_json). */
static const char *D_LR = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                          "\"low\": 0.0001, \"high\": 1.0, \"log\": true}}";
static const char *D_CLIP = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                            "\"low\": 0.5, \"high\": 10.0, \"log\": true}}";
static const char *D_X = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, "
                         "\"low\": 0.0, \"high\": 1.0, \"log\": false}}";
static const char *D_OPT = "{\"name\": \"CategoricalDistribution\", \"attributes\": "
                           "{\"choices\": [\"sgd\", \"adam\"]}}";

static int64_t study(fix_t *f, const char *name, bool maximize) {
  int64_t id;
  OK(hp_store_study_create(f->s, name, 1, &maximize, NULL, NULL, &id, &e_));
  return id;
}

/* A finished trial: state, value (NaN: none), system attrs text or NULL. */
static void trial(fix_t *f, int64_t sid, const hp_store_param_t *ps, size_t n,
                  hp_store_state_t state, double value, const char *sys) {
  int64_t tid;
  OK(hp_store_trial_create(f->s, sid, HP_STORE_RUNNING, ps, n, NULL, &tid, NULL, &e_));
  OK(hp_store_trial_finish(f->s, tid, state, isnan(value) ? NULL : &value, isnan(value) ? 0 : 1,
                           sys, &e_));
}

static cJSON *advise(fix_t *f, int64_t sid) {
  cJSON *j = NULL;
  OK(hp_view_advise(f->s, sid, &j, &e_));
  return j;
}

/* The advice of a rule, NULL when it did not speak. */
static const cJSON *rule(const cJSON *j, const char *name) {
  const cJSON *a;
  cJSON_ArrayForEach(a, cJSON_GetObjectItem(j, "advice")) {
    if (strcmp(cJSON_GetObjectItem(a, "rule")->valuestring, name) == 0) return a;
  }
  return NULL;
}

static const char *text(const cJSON *a) { return cJSON_GetObjectItem(a, "text")->valuestring; }
static double ev(const cJSON *a, const char *k) {
  return cJSON_GetObjectItem(cJSON_GetObjectItem(a, "evidence"), k)->valuedouble;
}
static bool cites(const cJSON *a, int64_t number) {
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(a, "trials")) {
    if ((int64_t)t->valuedouble == number) return true;
  }
  return false;
}

/* ---- divergence ---------------------------------------------------------------- */

/* Trials 0..11 with lr = 10^(-4 + k/3); every trial from lr >= 0.1 on but
 * one diverges (trial 9, lr 0.1, completes), the others complete. */
static void test_divergence(void **state) {
  fix_t *f = *state;
  int64_t sid = study(f, "div", false);
  for (int k = 0; k < 13; k++) {
    double lr = pow(10, -4 + k / 3.0), clip = k % 2 ? 8.0 : 1.0;
    hp_store_param_t ps[2] = {{"lr", lr, D_LR}, {"clip_norm", clip, D_CLIP}};
    bool div = k >= 10; /* lr 0.215, 0.464, 1.0 */
    if (k == 9) div = false;
    if (k == 12) div = true;
    trial(f, sid, ps, 2, div ? HP_STORE_FAIL : HP_STORE_COMPLETE, div ? NAN : 1.0 / (1 + k),
          div ? "{\"fail_reason\": \"diverged at epoch 1 step 3\"}" : NULL);
  }
  cJSON *j = advise(f, sid);
  const cJSON *a = rule(j, "divergence");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "3 of the 3 finished trials with lr >= 0.2154 diverged"));
  assert_non_null(strstr(text(a), "none of the 10 with lr < 0.2154 did"));
  assert_non_null(strstr(text(a), "lower lr's upper bound below 0.2154"));
  assert_true(cites(a, 10) && cites(a, 11) && cites(a, 12) && !cites(a, 9));
  assert_float_equal(ev(a, "diverged"), 3, 0);
  assert_float_equal(ev(a, "threshold"), pow(10, -4 + 10 / 3.0), 1e-12);
  /* clip_norm: trials 11 (8.0) and 10, 12 (1.0): geometric mean 2 vs the
   * others' (1, 8, 1, ... over trials 0-9) */
  assert_non_null(strstr(text(a), "clip_norm averaged 2 (geometric mean) in the diverged trials"));
  cJSON_Delete(j);
  /* One diverged trial is no evidence. */
  sid = study(f, "div1", false);
  for (int k = 0; k < 13; k++) {
    hp_store_param_t ps[1] = {{"lr", pow(10, -4 + k / 3.0), D_LR}};
    trial(f, sid, ps, 1, k == 12 ? HP_STORE_FAIL : HP_STORE_COMPLETE, k == 12 ? NAN : 1.0,
          k == 12 ? "{\"fail_reason\": \"diverged at epoch 1 step 3\"}" : NULL);
  }
  j = advise(f, sid);
  assert_null(rule(j, "divergence"));
  cJSON_Delete(j);
  /* Diverged engine trials with their curvature (docs/engine.md, "Diverged
   * runs"): lr*sharpness where the diverging epoch started, against the
   * bound; a trial without the diagnosis is not counted. */
  sid = study(f, "divcurv", false);
  const double lrs[3] = {131.6, 0.9, NAN};
  for (int k = 0; k < 13; k++) {
    hp_store_param_t ps[1] = {{"lr", pow(10, -4 + k / 3.0), D_LR}};
    bool div = k >= 10;
    int64_t tid;
    OK(hp_store_trial_create(f->s, sid, HP_STORE_RUNNING, ps, 1, NULL, &tid, NULL, &e_));
    if (div && !isnan(lrs[k - 10])) {
      char v[32];
      snprintf(v, sizeof v, "%.17g", lrs[k - 10]);
      OK(hp_store_trial_set_user_attr(f->s, tid, "curvature_lr_sharpness", v, &e_));
      OK(hp_store_trial_set_user_attr(f->s, tid, "curvature_bound", "2", &e_));
      OK(hp_store_trial_set_user_attr(f->s, tid, "curvature_diverged_epoch", "1", &e_));
    }
    double v = 1.0;
    OK(hp_store_trial_finish(f->s, tid, div ? HP_STORE_FAIL : HP_STORE_COMPLETE,
                             div ? NULL : &v, div ? 0 : 1,
                             div ? "{\"fail_reason\": \"diverged at epoch 1 step 3\"}" : NULL,
                             &e_));
  }
  j = advise(f, sid);
  a = rule(j, "divergence");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "where their diverging epochs started, lr*sharpness was "
                                  "0.9-132 against the optimizer's stability bound 2 (1 of the "
                                  "2 diagnosed past it: the step size was past the stable one"));
  assert_float_equal(ev(a, "curvature_trials"), 2, 0);
  assert_float_equal(ev(a, "curvature_past_bound"), 1, 0);
  assert_float_equal(ev(a, "lr_sharpness_max"), 131.6, 1e-12);
  cJSON_Delete(j);
}

/* ---- under- and overfitting ------------------------------------------------------ */

/* Curves of three epochs: {"hpsearch:curves": {...}}. */
static void curves(char *buf, size_t cap, const double tl[3], const double vl[3]) {
  snprintf(buf, cap,
           "{\"hpsearch:curves\": {\"step\": [1, 2, 3], \"train_loss\": [%g, %g, %g], "
           "\"train_accuracy\": [0.5, 0.6, 0.7], \"val_loss\": [%g, %g, %g], "
           "\"val_accuracy\": [0.5, 0.6, 0.7]}}",
           tl[0], tl[1], tl[2], vl[0], vl[1], vl[2]);
}

/* sgd trials 0-3 stay at training loss ~2 (the best, adam, reaches 0.4);
 * adam trials 4-8 fit, 6-8 with validation rising from epoch 2. */
static void test_fit(void **state) {
  fix_t *f = *state;
  int64_t sid = study(f, "fit", false);
  char sys[512];
  for (int k = 0; k < 9; k++) {
    bool sgd = k < 4;
    hp_store_param_t ps[2] = {{"optimizer", sgd ? 0 : 1, D_OPT}, {"x", k / 10.0, D_X}};
    double tl[3], vl[3];
    for (int e = 0; e < 3; e++) {
      tl[e] = sgd ? 2.2 - 0.05 * e : 1.0 - 0.3 * e + 0.01 * k; /* adam: 1.0, 0.7, 0.4 */
      vl[e] = sgd ? tl[e] + 0.01 : (k >= 6 ? (e == 0 ? 0.9 : e == 1 ? 0.6 : 0.8) : tl[e] + 0.02);
    }
    curves(sys, sizeof sys, tl, vl);
    trial(f, sid, ps, 2, HP_STORE_COMPLETE, vl[2], sys);
  }
  cJSON *j = advise(f, sid);
  const cJSON *u = rule(j, "underfitting"), *o = rule(j, "overfitting");
  assert_non_null(u);
  assert_non_null(o);
  print_message("%s\n%s\n", text(u), text(o));
  assert_non_null(strstr(text(u), "underfitting in trials with optimizer = \"sgd\": 4 of 4"));
  assert_true(cites(u, 0) && cites(u, 3) && !cites(u, 4));
  assert_non_null(strstr(text(u), "more capacity, more epochs or a higher learning rate"));
  assert_non_null(strstr(text(o), "overfitting in trials with optimizer = \"adam\": 3 of 5"));
  assert_non_null(strstr(text(o), "validation loss 0.8 at epoch 3, up from 0.6 at epoch 2"));
  assert_true(cites(o, 6) && cites(o, 8) && !cites(o, 4));
  cJSON_Delete(j);
  /* Trials without curves: nothing to say about fitting. */
  sid = study(f, "nofit", false);
  for (int k = 0; k < 9; k++) {
    hp_store_param_t ps[1] = {{"x", k / 10.0, D_X}};
    trial(f, sid, ps, 1, HP_STORE_COMPLETE, k, NULL);
  }
  j = advise(f, sid);
  assert_null(rule(j, "underfitting"));
  assert_null(rule(j, "overfitting"));
  cJSON_Delete(j);
}

/* ---- edge of a range --------------------------------------------------------------------- */

static void test_edge(void **state) {
  fix_t *f = *state;
  /* value = log10(lr) + 4 (minimize): the smaller lr the better */
  int64_t sid = study(f, "edge", false);
  for (int k = 0; k < 20; k++) {
    double lr = pow(10, -4 + (k * 7 % 20) / 5.0); /* 1e-4 .. 10^-0.2, every 0.2 decade */
    hp_store_param_t ps[2] = {{"lr", lr, D_LR}, {"x", (k * 3 % 20) / 20.0 + 0.02, D_X}};
    trial(f, sid, ps, 2, HP_STORE_COMPLETE, log10(lr) + 4, NULL);
  }
  cJSON *j = advise(f, sid);
  const cJSON *a = rule(j, "edge");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "lr: the best trial (#0, value 0) has lr = 0.0001, in the lowest 5%"));
  assert_non_null(strstr(text(a), "(log scale), and 3 of the 3 best trials are in the lowest 10%"));
  assert_non_null(strstr(text(a), "widen lr's range below 0.0001"));
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "evidence"), "param")->valuestring,
                      "lr");
  cJSON_Delete(j);
  /* The optimum inside the range: no edge advice. */
  sid = study(f, "middle", false);
  for (int k = 0; k < 20; k++) {
    double lr = pow(10, -4 + (k * 7 % 20) / 5.0);
    hp_store_param_t ps[1] = {{"lr", lr, D_LR}};
    trial(f, sid, ps, 1, HP_STORE_COMPLETE, fabs(log10(lr) + 2), NULL);
  }
  j = advise(f, sid);
  assert_null(rule(j, "edge"));
  cJSON_Delete(j);
}

/* ---- parameters that do not matter ------------------------------------------------------- */

static void test_unimportant(void **state) {
  fix_t *f = *state;
  int64_t sid = study(f, "imp", false);
  for (int k = 0; k < 40; k++) {
    double lr = pow(10, -4 + (k * 13 % 40) / 10.0), x = (k * 7 % 40) / 40.0;
    hp_store_param_t ps[2] = {{"lr", lr, D_LR}, {"x", x, D_X}};
    trial(f, sid, ps, 2, HP_STORE_COMPLETE, pow(log10(lr) + 2, 2) + 1e-6 * x, NULL);
  }
  cJSON *j = advise(f, sid);
  const cJSON *a = rule(j, "unimportant");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "x (importance "));
  assert_non_null(strstr(text(a), "hardly changes the result (PED-ANOVA over 40 complete trials; "
                                  "the most important, lr, has"));
  assert_true(ev(a, "x") < 0.1);
  cJSON_Delete(j);
  /* Both matter: no advice. */
  sid = study(f, "imp2", false);
  for (int k = 0; k < 40; k++) {
    double lr = pow(10, -4 + (k * 13 % 40) / 10.0), x = (k * 7 % 40) / 40.0;
    hp_store_param_t ps[2] = {{"lr", lr, D_LR}, {"x", x, D_X}};
    trial(f, sid, ps, 2, HP_STORE_COMPLETE, fabs(log10(lr) + 2) + 4 * fabs(x - 0.5), NULL);
  }
  j = advise(f, sid);
  assert_null(rule(j, "unimportant"));
  cJSON_Delete(j);
}

/* ---- convergence ------------------------------------------------------------------------- */

static void test_convergence(void **state) {
  fix_t *f = *state;
  /* maximize; trial 3 is the best of 30 */
  int64_t sid = study(f, "conv", true);
  for (int k = 0; k < 30; k++) {
    hp_store_param_t ps[1] = {{"x", k / 30.0, D_X}};
    trial(f, sid, ps, 1, HP_STORE_COMPLETE, k == 3 ? 0.9 : 0.5 + 0.001 * k, NULL);
  }
  cJSON *j = advise(f, sid);
  const cJSON *a = rule(j, "converged");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "the best value 0.9 (trial #3) has not improved over the last 26 "
                                  "complete trials (of 30)"));
  assert_null(rule(j, "improving"));
  cJSON_Delete(j);
  /* still improving: every trial better than the last */
  sid = study(f, "impr", true);
  for (int k = 0; k < 20; k++) {
    hp_store_param_t ps[1] = {{"x", k / 20.0, D_X}};
    trial(f, sid, ps, 1, HP_STORE_COMPLETE, k, NULL);
  }
  j = advise(f, sid);
  a = rule(j, "improving");
  assert_non_null(a);
  print_message("%s\n", text(a));
  assert_non_null(strstr(text(a), "the best value went from 9 to 19 (trial #19) over the last 10 "
                                  "complete trials, improving 10 times"));
  assert_null(rule(j, "converged"));
  cJSON_Delete(j);
}

/* Too few trials: no rule speaks. */
static void test_no_evidence(void **state) {
  fix_t *f = *state;
  int64_t sid = study(f, "few", false);
  for (int k = 0; k < 5; k++) {
    hp_store_param_t ps[1] = {{"lr", pow(10, -4 + k), D_LR}};
    trial(f, sid, ps, 1, HP_STORE_COMPLETE, k, NULL);
  }
  cJSON *j = advise(f, sid);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "advice")), 0);
  assert_int_equal((int)cJSON_GetObjectItem(j, "n_complete")->valuedouble, 5);
  cJSON_Delete(j);
  bool two[2] = {false, false};
  OK(hp_store_study_create(f->s, "two", 2, two, NULL, NULL, &sid, &e_));
  hp_err_t err = {0};
  assert_int_equal(hp_view_advise(f->s, sid, &j, &err), HP_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_divergence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_edge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unimportant, setup, teardown),
      cmocka_unit_test_setup_teardown(test_convergence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_evidence, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

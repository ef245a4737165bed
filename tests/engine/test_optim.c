/* Tests of engine/optim.c and engine/schedule.c: every optimizer's first
 * steps against values worked out by hand from Goodfellow et al.'s
 * algorithms, Nesterov's change of variables against the literal algorithm,
 * schedules, clipping, weight decay ranges and the JSON config errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/optim.h"

#define CLOSE(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static hp_optim_t *make(hp_optim_config_t *c, size_t n, const hp_param_range_t *r,
                        size_t nr) {
  hp_optim_t *o = NULL;
  hp_err_t err = {0};
  int rc = hp_optim_create(c, n, r, nr, 1, &o, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  return o;
}

static void test_sgd(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_SGD);
  c.lr = 0.1;
  hp_optim_t *o = make(&c, 2, NULL, 0);
  float p[2] = {1, -2}, g[2] = {0.5f, 1};
  hp_optim_step(o, p, g, 2);
  CLOSE(p[0], 0.95, 1e-7);
  CLOSE(p[1], -2.1, 1e-6);
  assert_int_equal(hp_optim_steps(o), 1);
  hp_optim_free(o);
}

static void test_momentum(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_MOMENTUM);
  c.lr = 0.1; /* alpha defaults to 0.9 */
  assert_true(c.momentum == 0.9);
  hp_optim_t *o = make(&c, 1, NULL, 0);
  float p[1] = {1}, g[1] = {1};
  /* v1 = -0.1, p = 0.9; v2 = 0.9*-0.1 - 0.1 = -0.19, p = 0.71; v3 = -0.271, p = 0.439 */
  const double want[3] = {0.9, 0.71, 0.439};
  for (int k = 0; k < 3; k++) {
    hp_optim_step(o, p, g, 1);
    CLOSE(p[0], want[k], 1e-6);
  }
  size_t ns;
  float *v = hp_optim_state(o, &ns);
  assert_int_equal(ns, 1);
  CLOSE(v[0], -0.271, 1e-6);
  hp_optim_free(o);
}

/* Algorithm 8.3 literally (double precision) on f(theta) = sum a_i theta_i^2 / 2:
 * the gradient is taken at the interim point theta + alpha v. The engine keeps
 * phi = theta + alpha v as its parameters, so its iterates must equal
 * theta_k + alpha v_k, while taking the gradient at the stored parameters. */
static void test_nesterov_equals_literal(void **st) {
  (void)st;
  enum { N = 3, STEPS = 40 };
  const double a[N] = {1.0, 4.0, 0.25};
  const double eps = 0.05, alpha = 0.9;
  double theta[N] = {1.0, -0.5, 2.0}, v[N] = {0};
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_NESTEROV);
  c.lr = eps;
  c.momentum = alpha;
  hp_optim_t *o = make(&c, N, NULL, 0);
  float phi[N], g[N];
  for (int i = 0; i < N; i++) phi[i] = (float)theta[i]; /* v0 = 0 -> phi0 = theta0 */
  for (int k = 0; k < STEPS; k++) {
    for (int i = 0; i < N; i++) {
      double interim = theta[i] + alpha * v[i];
      double grad = a[i] * interim;
      v[i] = alpha * v[i] - eps * grad;
      theta[i] += v[i];
    }
    for (int i = 0; i < N; i++) g[i] = (float)(a[i] * phi[i]); /* gradient at stored params */
    hp_optim_step(o, phi, g, N);
    for (int i = 0; i < N; i++) CLOSE(phi[i], theta[i] + alpha * v[i], 2e-5);
  }
  /* and it is not plain momentum: the two differ after a few steps */
  hp_optim_config_t cm = c;
  cm.kind = HP_OPTIM_MOMENTUM;
  hp_optim_t *om = make(&cm, 1, NULL, 0);
  float pm = 1, gm;
  for (int k = 0; k < 3; k++) gm = pm, hp_optim_step(om, &pm, &gm, 1);
  hp_optim_t *on = make(&c, 1, NULL, 0);
  float pn = 1, gn;
  for (int k = 0; k < 3; k++) gn = pn, hp_optim_step(on, &pn, &gn, 1);
  assert_true(fabsf(pm - pn) > 1e-4f);
  hp_optim_free(om);
  hp_optim_free(on);
  hp_optim_free(o);
}

static void test_adagrad(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_ADAGRAD);
  assert_true(c.delta == 1e-7);
  c.lr = 0.1;
  hp_optim_t *o = make(&c, 2, NULL, 0);
  float p[2] = {0, 0}, g[2] = {2, -1};
  hp_optim_step(o, p, g, 2); /* r = (4, 1): dp = -0.1/(1e-7+2)*2, -0.1/(1e-7+1)*-1 */
  CLOSE(p[0], -0.1 * 2 / (1e-7 + 2), 1e-7);
  CLOSE(p[1], 0.1 / (1e-7 + 1), 1e-7);
  hp_optim_step(o, p, g, 2); /* r = (8, 2) */
  CLOSE(p[0], -0.1 * 2 / (1e-7 + 2) - 0.1 * 2 / (1e-7 + sqrt(8)), 1e-6);
  CLOSE(p[1], 0.1 / (1e-7 + 1) + 0.1 / (1e-7 + sqrt(2)), 1e-6);
  hp_optim_free(o);
}

static void test_rmsprop(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_RMSPROP);
  assert_true(c.delta == 1e-6 && c.rho == 0.9);
  c.lr = 0.01;
  hp_optim_t *o = make(&c, 1, NULL, 0);
  float p[1] = {0}, g[1] = {1};
  /* r1 = 0.1: dp = -0.01/sqrt(1e-6 + 0.1); r2 = 0.19 */
  hp_optim_step(o, p, g, 1);
  double want = -0.01 / sqrt(1e-6 + 0.1);
  CLOSE(p[0], want, 1e-7);
  hp_optim_step(o, p, g, 1);
  want += -0.01 / sqrt(1e-6 + 0.19);
  CLOSE(p[0], want, 1e-7);
  hp_optim_free(o);
}

/* With a constant gradient the bias-corrected moments are s^ = g and
 * r^ = g^2, so Adam moves every parameter by eps/(1 + delta/|g|) ~ eps per step
 * whatever the gradient's size. n = 37 covers the vector blocks and the tail. */
static void test_adam_constant_gradient(void **st) {
  (void)st;
  enum { N = 37 };
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_ADAM);
  assert_true(c.lr == 0.001 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.delta == 1e-8);
  hp_optim_t *o = make(&c, N, NULL, 0);
  float p[N], g[N];
  for (int i = 0; i < N; i++) p[i] = 0, g[i] = (i % 3 == 0) ? 1.0f : (i % 3 == 1 ? 3.0f : -0.5f);
  for (int k = 1; k <= 5; k++) {
    hp_optim_step(o, p, g, N);
    for (int i = 0; i < N; i++) CLOSE(p[i], -(g[i] > 0 ? 1 : -1) * 0.001 * k, 1e-8 * k + 2e-9);
  }
  /* the first step, by hand, for g = 1 without the bias correction shortcut:
   * s = 0.1, r = 0.001, s^ = 1, r^ = 1 -> dp = -0.001/(1+1e-8) */
  hp_optim_free(o);
}

static void test_adam_varying_gradient(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_ADAM);
  c.lr = 0.1;
  hp_optim_t *o = make(&c, 1, NULL, 0);
  float p = 0, g = 1;
  hp_optim_step(o, &p, &g, 1);
  g = -2;
  hp_optim_step(o, &p, &g, 1);
  /* step 2 by hand: s = 0.9*0.1 + 0.1*-2 = -0.11, r = 0.999*0.001 + 0.001*4 = 0.004999;
   * s^ = -0.11/0.19, r^ = 0.004999/(1-0.998001) */
  double s = -0.11 / (1 - 0.81), r = 0.004999 / (1 - 0.999 * 0.999);
  double want = -0.1 / (1 + 1e-8) - 0.1 * s / (sqrt(r) + 1e-8);
  CLOSE(p, want, 1e-6);
  hp_optim_free(o);
}

static void test_schedules(void **st) {
  (void)st;
  hp_schedule_t s = {0};
  s.kind = HP_SCHED_CONSTANT;
  CLOSE(hp_schedule_lr(&s, 0.1, 1000, 1), 0.1, 0);
  s.kind = HP_SCHED_LINEAR;
  s.steps = 10; /* end_lr defaults to lr0/100 */
  CLOSE(hp_schedule_lr(&s, 0.1, 0, 1), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 5, 1), 0.5 * 0.1 + 0.5 * 0.001, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 10, 1), 0.001, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 99, 1), 0.001, 1e-15);
  s.end_lr = 0.02, s.end_lr_set = 1;
  CLOSE(hp_schedule_lr(&s, 0.1, 2, 1), 0.8 * 0.1 + 0.2 * 0.02, 1e-15);
  s = (hp_schedule_t){.kind = HP_SCHED_STEP, .step_size = 3, .gamma = 0.5};
  CLOSE(hp_schedule_lr(&s, 0.1, 2, 1), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 3, 1), 0.05, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 7, 1), 0.025, 1e-15);
  s = (hp_schedule_t){.kind = HP_SCHED_EXPONENTIAL, .gamma = 0.9};
  CLOSE(hp_schedule_lr(&s, 0.1, 2, 1), 0.081, 1e-15);
  s = (hp_schedule_t){.kind = HP_SCHED_COSINE, .steps = 10, .end_lr = 0, .end_lr_set = 1};
  CLOSE(hp_schedule_lr(&s, 0.1, 0, 1), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 5, 1), 0.05, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 10, 1), 0.0, 1e-15);
  /* warm-up: ramp (k+1)/W, then the schedule restarts at k - W */
  s.warmup = 4;
  CLOSE(hp_schedule_lr(&s, 0.1, 0, 1), 0.025, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 3, 1), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 4, 1), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 9, 1), 0.05, 1e-15);
  /* in epochs: step 25 with 10 steps per epoch is epoch 2 */
  s = (hp_schedule_t){.kind = HP_SCHED_STEP, .step_size = 2, .gamma = 0.5, .per_epoch = 1};
  CLOSE(hp_schedule_lr(&s, 0.1, 19, 10), 0.1, 1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 25, 10), 0.05, 1e-15);
  /* linear/cosine without "steps" span the run: 5 epochs of 391 steps */
  s = (hp_schedule_t){.kind = HP_SCHED_COSINE};
  CLOSE(hp_schedule_lr(&s, 0.1, 7, 391), 0.1, 0); /* not fitted yet: constant */
  hp_schedule_fit_run(&s, 5, 391);
  assert_int_equal(s.steps, 1955);
  CLOSE(hp_schedule_lr(&s, 0.1, 1954, 391), 0.001 + 0.099 * 0.5 * (1 + cos(M_PI * 1954 / 1955)),
        1e-15);
  CLOSE(hp_schedule_lr(&s, 0.1, 1955, 391), 0.001, 1e-15);
  s = (hp_schedule_t){.kind = HP_SCHED_LINEAR, .warmup = 100};
  hp_schedule_fit_run(&s, 5, 391);
  assert_int_equal(s.steps, 1855); /* the warm-up is part of the run */
  s = (hp_schedule_t){.kind = HP_SCHED_LINEAR, .per_epoch = 1, .warmup = 1};
  hp_schedule_fit_run(&s, 5, 391);
  assert_int_equal(s.steps, 4); /* in epochs */
  s = (hp_schedule_t){.kind = HP_SCHED_COSINE, .warmup = 10};
  hp_schedule_fit_run(&s, 1, 3); /* warm-up longer than the run: length 1 */
  assert_int_equal(s.steps, 1);
  s = (hp_schedule_t){.kind = HP_SCHED_COSINE, .steps = 50};
  hp_schedule_fit_run(&s, 5, 391); /* an explicit length stays */
  assert_int_equal(s.steps, 50);
  s = (hp_schedule_t){.kind = HP_SCHED_STEP, .step_size = 3};
  hp_schedule_fit_run(&s, 5, 391);
  assert_int_equal(s.steps, 0);
  /* the bare name parses to "the whole run" */
  cJSON *j = cJSON_Parse("\"cosine\"");
  hp_err_t err = {0};
  s = (hp_schedule_t){0};
  assert_int_equal(hp_schedule_parse(j, &s, "optimizer.schedule", &err), 0);
  assert_int_equal(s.kind, HP_SCHED_COSINE);
  assert_int_equal(s.steps, 0);
  cJSON_Delete(j);
}

/* The schedule drives every optimizer, here SGD with linear decay. */
static void test_optimizer_follows_schedule(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_SGD);
  c.lr = 1.0;
  c.sched.kind = HP_SCHED_LINEAR;
  c.sched.steps = 4;
  c.sched.end_lr = 0.2, c.sched.end_lr_set = 1;
  hp_optim_t *o = make(&c, 1, NULL, 0);
  float p = 0, g = 1;
  const double lrs[6] = {1.0, 0.8, 0.6, 0.4, 0.2, 0.2};
  double sum = 0;
  assert_true(isnan(hp_optim_last_lr(o)));
  for (int k = 0; k < 6; k++) {
    CLOSE(hp_optim_lr(o), lrs[k], 1e-12);
    hp_optim_step(o, &p, &g, 1);
    CLOSE(hp_optim_last_lr(o), lrs[k], 1e-12);
    sum += lrs[k];
    CLOSE(p, -sum, 1e-6);
  }
  hp_optim_free(o);
}

static void test_clip_norm_and_value(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_SGD);
  c.lr = 1.0;
  c.clip_norm = 1.0;
  hp_optim_t *o = make(&c, 2, NULL, 0);
  float p[2] = {0, 0}, g[2] = {3, 4};
  hp_optim_step(o, p, g, 2); /* ||g|| = 5 -> g * 1/5 */
  CLOSE(p[0], -0.6, 1e-7);
  CLOSE(p[1], -0.8, 1e-7);
  CLOSE(hp_optim_last_grad_norm(o), 5.0, 1e-12);
  assert_true(g[0] == 3 && g[1] == 4); /* grads only read */
  float g2[2] = {0.3f, 0.4f};
  hp_optim_step(o, p, g2, 2); /* norm 0.5 < 1: unchanged */
  CLOSE(p[0], -0.9, 1e-6);
  CLOSE(p[1], -1.2, 1e-6);
  hp_optim_free(o);

  hp_optim_config_default(&c, HP_OPTIM_SGD);
  c.lr = 1.0;
  c.clip_value = 1.0;
  o = make(&c, 4, NULL, 0);
  float q[4] = {0, 0, 0, 0}, h[4] = {-5, 0.5f, 5, NAN};
  hp_optim_step(o, q, h, 4);
  CLOSE(q[0], 1.0, 0);
  CLOSE(q[1], -0.5, 0);
  CLOSE(q[2], -1.0, 0);
  assert_true(isnan(q[3])); /* a NaN gradient is not hidden by clipping */
  assert_true(hp_optim_last_grad_norm(o) < 0);
  hp_optim_free(o);
}

static void test_weight_decay_ranges(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_SGD);
  c.lr = 1.0;
  c.weight_decay = 0.1;
  /* ranges out of order and overlapping: [4,6) and [0,1) and [5,7) -> {0,4,5,6} */
  hp_param_range_t r[3] = {{4, 2}, {0, 1}, {5, 2}};
  hp_optim_t *o = make(&c, 8, r, 3);
  float p[8], g[8] = {0};
  for (int i = 0; i < 8; i++) p[i] = 1;
  hp_optim_step(o, p, g, 8);
  const float want[8] = {0.9f, 1, 1, 1, 0.9f, 0.9f, 0.9f, 1};
  for (int i = 0; i < 8; i++) CLOSE(p[i], want[i], 1e-7);
  hp_optim_free(o);
  /* no ranges: no decay anywhere; a range outside the parameters fails */
  o = make(&c, 2, NULL, 0);
  float q[2] = {1, 1}, h[2] = {0, 0};
  hp_optim_step(o, q, h, 2);
  assert_true(q[0] == 1 && q[1] == 1);
  hp_optim_free(o);
  hp_param_range_t bad = {1, 5};
  hp_err_t err = {0};
  assert_int_equal(hp_optim_create(&c, 4, &bad, 1, 1, &o, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "weight-decay range"));
}

static int parse(const char *json, hp_optim_config_t *c, hp_err_t *err) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  hp_optim_config_default(c, HP_OPTIM_ADAM);
  int rc = hp_optim_config_parse(j, c, "optimizer", err);
  cJSON_Delete(j);
  return rc;
}

static void test_config_parse(void **st) {
  (void)st;
  hp_optim_config_t c;
  hp_err_t err = {0};
  assert_int_equal(parse("{\"type\":\"adam\",\"lr\":0.002,\"beta1\":0.8,\"beta2\":0.99,"
                         "\"delta\":1e-7,\"weight_decay\":1e-4,\"clip_norm\":5,"
                         "\"schedule\":{\"type\":\"linear\",\"end_lr\":1e-5,\"steps\":100,"
                         "\"warmup\":10}}",
                         &c, &err),
                   0);
  assert_int_equal(c.kind, HP_OPTIM_ADAM);
  assert_true(c.lr == 0.002 && c.beta1 == 0.8 && c.beta2 == 0.99 && c.delta == 1e-7);
  assert_true(c.weight_decay == 1e-4 && c.clip_norm == 5);
  assert_true(c.sched.kind == HP_SCHED_LINEAR && c.sched.steps == 100 && c.sched.warmup == 10);
  assert_true(c.sched.end_lr_set && c.sched.end_lr == 1e-5);
  assert_int_equal(parse("{\"type\":\"rmsprop\"}", &c, &err), 0);
  assert_true(c.delta == 1e-6 && c.rho == 0.9 && c.lr == 0.001);
  assert_int_equal(parse("{\"type\":\"nesterov\",\"lr\":0.1,\"momentum\":0.5,"
                         "\"schedule\":\"constant\"}",
                         &c, &err),
                   0);
  assert_true(c.kind == HP_OPTIM_NESTEROV && c.momentum == 0.5);

  static const struct {
    const char *json, *needle;
  } bad[] = {
      {"{\"type\":\"adamw\"}", "optimizer.type: unknown optimizer 'adamw'"},
      {"{\"lr\":-0.1}", "optimizer.lr"},
      {"{\"lr\":0}", "optimizer.lr"},
      {"{\"beta1\":1}", "optimizer.beta1"},
      {"{\"beta2\":-0.1}", "optimizer.beta2"},
      {"{\"rho\":0.9}", "rho"},
      {"{\"type\":\"sgd\",\"momentum\":0.9}", "momentum"},
      {"{\"type\":\"momentum\",\"momentum\":1.5}", "optimizer.momentum"},
      {"{\"learning_rate\":0.1}", "learning_rate"},
      {"{\"delta\":0}", "optimizer.delta"},
      {"{\"weight_decay\":-1}", "optimizer.weight_decay"},
      {"{\"clip_norm\":-1}", "optimizer.clip_norm"},
      {"{\"lr\":\"fast\"}", "lr"},
      {"{\"schedule\":\"step\"}", "optimizer.schedule"},
      {"{\"schedule\":{\"type\":\"step\"}}", "step_size"},
      {"{\"schedule\":{\"type\":\"linear\",\"steps\":0}}", "steps"},
      {"{\"schedule\":{\"type\":\"warp\"}}", "optimizer.schedule.type"},
      {"{\"schedule\":{\"type\":\"step\",\"step_size\":2,\"gamma\":2}}", "gamma"},
      {"{\"schedule\":{\"type\":\"constant\",\"steps\":5}}", "steps"},
      {"{\"schedule\":{\"type\":\"constant\",\"unit\":\"hour\"}}", "optimizer.schedule.unit"},
      {"[1]", "optimizer"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    int rc = parse(bad[i].json, &c, &err);
    if (rc == 0 || !strstr(err.msg, bad[i].needle))
      fprintf(stderr, "case %s: rc %d msg '%s'\n", bad[i].json, rc, err.msg);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.msg, bad[i].needle));
  }
}

/* Informative timing of one Adam step on the MLP's 535,818 parameters (not
 * asserted: the machine is shared), and a check that a long vector gives the
 * same values as the same update done one element at a time. */
static void test_adam_speed_and_blocks(void **st) {
  (void)st;
  enum { N = 535818 };
  float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
  assert_non_null(p);
  assert_non_null(g);
  for (size_t i = 0; i < N; i++) p[i] = 0.01f * (float)(i % 97), g[i] = 0.001f * (float)(i % 13) - 0.006f;
  hp_optim_config_t c;
  hp_optim_config_default(&c, HP_OPTIM_ADAM);
  hp_optim_t *o = make(&c, N, NULL, 0);
  hp_optim_t *o1 = make(&c, 1, NULL, 0);
  float p1 = p[12345], g1 = g[12345];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  const int steps = 20;
  for (int k = 0; k < steps; k++) {
    hp_optim_step(o, p, g, N);
    hp_optim_step(o1, &p1, &g1, 1);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / steps;
  fprintf(stderr, "adam step over %d params: %.3f ms\n", N, ms);
  assert_true(p[12345] == p1); /* vector block and scalar tail agree bit for bit */
  hp_optim_free(o);
  hp_optim_free(o1);
  free(p);
  free(g);
}

/* Every optimizer, with clipping by value and weight decay on: the vector
 * loops (AVX-512/AVX2/SSE over a 1003-element array) give the same bits as
 * the plain-float path (each element alone, n = 1), so results do not depend
 * on the CPU (this fails e.g. when FMA contraction creeps in through
 * -ffp-contract=fast), and a NaN gradient in the vector part still makes
 * its parameter NaN (the x86 min/max operand order). */
static void test_vector_paths_match_scalar(void **st) {
  (void)st;
  enum { N = 1003, STEPS = 6 };
  for (int kind = 0; kind < HP_OPTIM_COUNT_; kind++) {
    hp_optim_config_t c;
    hp_optim_config_default(&c, (hp_optim_kind_t)kind);
    c.clip_value = 0.004;
    c.weight_decay = 0.01;
    hp_param_range_t all = {0, N}, one = {0, 1};
    hp_optim_t *o = make(&c, N, &all, 1), **o1 = malloc(N * sizeof *o1);
    float p[N], g[N], p1[N];
    assert_non_null(o1);
    for (size_t i = 0; i < N; i++) {
      o1[i] = make(&c, 1, &one, 1);
      p[i] = p1[i] = 1e-6f * (float)(i % 101); /* small: update rounding shows */
    }
    for (int k = 0; k < STEPS; k++) {
      for (size_t i = 0; i < N; i++) g[i] = 0.00037f * (float)((i * 7 + k * 3) % 23) - 0.004f;
      g[33] = NAN;
      hp_optim_step(o, p, g, N);
      for (size_t i = 0; i < N; i++) hp_optim_step(o1[i], &p1[i], &g[i], 1);
    }
    for (size_t i = 0; i < N; i++) {
      if (i == 33) continue;
      if (p[i] != p1[i])
        fprintf(stderr, "%s: element %zu vector %.9g scalar %.9g\n", hp_optim_name(kind), i,
                p[i], p1[i]);
      assert_true(p[i] == p1[i]);
    }
    for (size_t i = 0; i < N; i++) hp_optim_free(o1[i]);
    free(o1);
    assert_true(isnan(p[33]));
    assert_false(isnan(p[32]) || isnan(p[34]));
    hp_optim_free(o);
  }
}

/* The nearest bf16 to f by the definition (the two bf16 values around f, the
 * closer one, ties to the even one), independent of engine/dnnl.c. */
static uint16_t nearest_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
  float flo = hp_bf16_to_f32(lo), fhi = hp_bf16_to_f32(hi);
  double dlo = fabs((double)f - flo), dhi = fabs((double)fhi - f);
  if (dlo != dhi) return dlo < dhi ? lo : hi;
  return (lo & 1) ? hi : lo;
}

/* hp_optim_step_fused: the update is the algorithm's (Adam with value
 * clipping and weight decay on a middle range, worked in double, over
 * several blocks and segments), bit for bit hp_optim_step's for every
 * optimizer, and the bf16 copy is the nearest bf16 of each updated
 * parameter. */
static void test_fused_step(void **st) {
  (void)st;
  enum { N = 2 * 1024 + 517, STEPS = 3 };
  const hp_param_range_t mid = {700, 1500}; /* decayed: [700, 2200) */
  for (int kind = 0; kind < HP_OPTIM_COUNT_; kind++) {
    hp_optim_config_t c;
    hp_optim_config_default(&c, (hp_optim_kind_t)kind);
    c.lr = 0.01, c.clip_value = 0.5, c.weight_decay = 0.1;
    hp_optim_t *o = make(&c, N, &mid, 1), *of = make(&c, N, &mid, 1);
    float *p = malloc(N * sizeof *p), *pf = malloc(N * sizeof *pf), *g = malloc(N * sizeof *g);
    float *gf = malloc(N * sizeof *gf);
    hp_bf16_t *pb = malloc(N * sizeof *pb);
    double *s = calloc(N, sizeof *s), *r = calloc(N, sizeof *r), *pd = malloc(N * sizeof *pd);
    assert_true(p && pf && g && gf && pb && s && r && pd);
    for (size_t i = 0; i < N; i++) p[i] = pf[i] = (float)(pd[i] = 0.3 - 0.0007 * (double)(i % 811));
    for (int k = 1; k <= STEPS; k++) {
      for (size_t i = 0; i < N; i++)
        g[i] = gf[i] = (float)(0.2 * sin(0.37 * (double)i + k) + (i % 97 == 0 ? 3.0 : 0.0));
      hp_optim_step(o, p, g, N);
      hp_optim_step_fused(of, pf, gf, N, pb);
      for (size_t i = 0; i < N; i++) {
        assert_true(pf[i] == p[i]); /* the same update, bit for bit */
        if (pb[i] != nearest_bf16(pf[i]))
          fprintf(stderr, "%s: element %zu bf16 %04x, nearest %04x\n", hp_optim_name(kind), i,
                  pb[i], nearest_bf16(pf[i]));
        assert_int_equal(pb[i], nearest_bf16(pf[i]));
      }
      if (kind != HP_OPTIM_ADAM) continue;
      /* Algorithm 8.7 in double: clip by value, decay, moments, bias correction */
      for (size_t i = 0; i < N; i++) {
        double gi = fmax(-0.5, fmin(0.5, (double)g[i]));
        if (i >= 700 && i < 2200) gi += 0.1 * pd[i];
        s[i] = 0.9 * s[i] + 0.1 * gi;
        r[i] = 0.999 * r[i] + 0.001 * gi * gi;
        double sh = s[i] / (1 - pow(0.9, k)), rh = r[i] / (1 - pow(0.999, k));
        pd[i] -= 0.01 * sh / (sqrt(rh) + 1e-8);
        CLOSE(pf[i], pd[i], 2e-7 * (1 + fabs(pd[i])));
        pd[i] = pf[i]; /* the next step starts from the stored float */
      }
    }
    hp_optim_free(o), hp_optim_free(of);
    free(p), free(pf), free(g), free(gf), free(pb), free(s), free(r), free(pd);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd),
      cmocka_unit_test(test_fused_step),
      cmocka_unit_test(test_momentum),
      cmocka_unit_test(test_nesterov_equals_literal),
      cmocka_unit_test(test_adagrad),
      cmocka_unit_test(test_rmsprop),
      cmocka_unit_test(test_adam_constant_gradient),
      cmocka_unit_test(test_adam_varying_gradient),
      cmocka_unit_test(test_schedules),
      cmocka_unit_test(test_optimizer_follows_schedule),
      cmocka_unit_test(test_clip_norm_and_value),
      cmocka_unit_test(test_weight_decay_ranges),
      cmocka_unit_test(test_config_parse),
      cmocka_unit_test(test_adam_speed_and_blocks),
      cmocka_unit_test(test_vector_paths_match_scalar),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

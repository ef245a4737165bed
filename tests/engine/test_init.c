/* Tests of engine/init.c: the statistics of every initializer, the
 * lecture's ten-layer experiment (N(0,1) weights blow the activations up,
 * Glorot keeps them at scale), determinism and the JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/init.h"

static void moments(const float *w, size_t n, double *mean, double *var, double *maxabs) {
  double s = 0, s2 = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    s += w[i];
    s2 += (double)w[i] * w[i];
    if (fabs(w[i]) > m) m = fabs(w[i]);
  }
  *mean = s / n;
  *var = s2 / n - *mean * *mean;
  *maxabs = m;
}

/* n = 200k draws: the sample variance is within ~1% of the true one
 * (relative standard error sqrt(2/n) ~ 0.3% for a normal, less for uniform). */
static void check_stats(hp_init_kind_t kind, size_t fan_in, size_t fan_out, double want_var,
                        double bound) {
  enum { N = 200000 };
  float *w = malloc(N * sizeof *w);
  assert_non_null(w);
  hp_init_t init;
  hp_init_default(&init, kind);
  hp_rng_t rng;
  hp_rng_seed(&rng, 42);
  hp_init_fill(&init, w, N, fan_in, fan_out, &rng);
  double mean, var, maxabs;
  moments(w, N, &mean, &var, &maxabs);
  if (fabs(var / want_var - 1) > 0.02 || fabs(mean) > 0.01 * sqrt(want_var))
    fprintf(stderr, "%s: mean %g var %g want %g\n", hp_init_name(kind), mean, var, want_var);
  assert_true(fabs(var / want_var - 1) < 0.02);
  assert_true(fabs(mean) < 0.01 * sqrt(want_var));
  if (bound > 0) {
    assert_true(maxabs <= bound);
    assert_true(maxabs > 0.99 * bound); /* the whole interval is used */
  }
  free(w);
}

static void test_statistics(void **st) {
  (void)st;
  const size_t m = 784, n = 512;
  check_stats(HP_INIT_GLOROT_UNIFORM, m, n, 2.0 / (m + n), sqrt(6.0 / (m + n)));
  check_stats(HP_INIT_GLOROT_NORMAL, m, n, 2.0 / (m + n), 0);
  check_stats(HP_INIT_KAIMING_NORMAL, m, n, 2.0 / m, 0); /* std sqrt(2/m) */
  check_stats(HP_INIT_KAIMING_UNIFORM, m, n, 2.0 / m, sqrt(6.0 / m));
  check_stats(HP_INIT_UNIFORM, m, n, 0.05 * 0.05 / 3, 0.05); /* U(-a,a): a^2/3 */
  check_stats(HP_INIT_NORMAL, m, n, 0.01 * 0.01, 0);
  /* conv fans: fan_in = in_ch*kh*kw = 32*9, fan_out = 64*9 */
  check_stats(HP_INIT_GLOROT_UNIFORM, 32 * 9, 64 * 9, 2.0 / (32 * 9 + 64 * 9), 0);

  float z[5] = {1, 2, 3, 4, 5};
  hp_init_t init;
  hp_init_default(&init, HP_INIT_ZEROS);
  hp_rng_t rng;
  hp_rng_seed(&rng, 1);
  hp_init_fill(&init, z, 5, 1, 1, &rng);
  for (int i = 0; i < 5; i++) assert_true(z[i] == 0);
}

static void test_deterministic(void **st) {
  (void)st;
  float a[64], b[64];
  hp_init_t init;
  hp_init_default(&init, HP_INIT_KAIMING_NORMAL);
  hp_rng_t r1, r2;
  hp_rng_seed(&r1, 7), hp_rng_seed(&r2, 7);
  hp_init_fill(&init, a, 64, 10, 10, &r1);
  hp_init_fill(&init, b, 64, 10, 10, &r2);
  assert_memory_equal(a, b, sizeof a);
  hp_rng_seed(&r2, 8);
  hp_init_fill(&init, b, 64, 10, 10, &r2);
  assert_memory_not_equal(a, b, sizeof a);
}

/* Variance of the activations after each of ten linear layers of 100 units
 * (no activation), from 1000 inputs of 100 N(0,1) features. */
static void ten_layers(const hp_init_t *init, double var_out[10]) {
  enum { B = 1000, D = 100 };
  float *h = malloc(B * D * sizeof *h), *h2 = malloc(B * D * sizeof *h2);
  float *w = malloc(D * D * sizeof *w);
  assert_non_null(h), assert_non_null(h2), assert_non_null(w);
  hp_rng_t rng;
  hp_rng_seed(&rng, 2024);
  for (size_t i = 0; i < B * D; i++) h[i] = (float)hp_rng_normal(&rng);
  for (int l = 0; l < 10; l++) {
    hp_init_fill(init, w, D * D, D, D, &rng); /* w[in, out] */
    double s2 = 0;
    for (int b = 0; b < B; b++)
      for (int o = 0; o < D; o++) {
        double acc = 0;
        for (int i = 0; i < D; i++) acc += (double)h[b * D + i] * w[i * D + o];
        h2[b * D + o] = (float)acc;
        s2 += acc * acc;
      }
    var_out[l] = s2 / (B * D);
    float *t = h;
    h = h2, h2 = t;
  }
  free(h), free(h2), free(w);
}

static void test_ten_layer_experiment(void **st) {
  (void)st;
  hp_init_t normal, glorot;
  hp_init_default(&normal, HP_INIT_NORMAL);
  normal.std = 1.0;
  hp_init_default(&glorot, HP_INIT_GLOROT_UNIFORM);
  double vn[10], vg[10];
  ten_layers(&normal, vn);
  ten_layers(&glorot, vg);
  for (int l = 0; l < 10; l++)
    fprintf(stderr, "layer %2d: var N(0,1) %.3g   glorot %.3f\n", l + 1, vn[l], vg[l]);
  /* N(0,1): each layer multiplies the variance by fan_in * 1 = 100 */
  for (int l = 0; l < 10; l++) {
    double ratio = l ? vn[l] / vn[l - 1] : vn[0];
    assert_true(ratio > 50 && ratio < 200);
    /* Glorot with m = n: variance 1/m per weight, so the scale is kept */
    assert_true(vg[l] > 0.5 && vg[l] < 2.0);
  }
  assert_true(vn[9] > 1e18);
}

static int parse(const char *json, hp_init_t *out, hp_err_t *err) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  int rc = hp_init_parse(j, out, "layers[0].init", err);
  cJSON_Delete(j);
  return rc;
}

static void test_parse(void **st) {
  (void)st;
  hp_init_t in;
  hp_err_t err = {0};
  assert_int_equal(parse("\"kaiming_normal\"", &in, &err), 0);
  assert_int_equal(in.kind, HP_INIT_KAIMING_NORMAL);
  assert_int_equal(parse("{\"type\": \"glorot_uniform\"}", &in, &err), 0);
  assert_int_equal(in.kind, HP_INIT_GLOROT_UNIFORM);
  assert_true(in.scale == 1.0);
  assert_int_equal(parse("{\"type\": \"uniform\", \"a\": 0.3}", &in, &err), 0);
  assert_true(in.kind == HP_INIT_UNIFORM && in.a == 0.3);
  assert_int_equal(parse("{\"type\": \"normal\", \"std\": 2}", &in, &err), 0);
  assert_true(in.kind == HP_INIT_NORMAL && in.std == 2);
  assert_int_equal(parse("{\"type\": \"kaiming_uniform\", \"scale\": 0.5}", &in, &err), 0);
  assert_true(in.scale == 0.5);

  assert_int_equal(parse("\"xavier\"", &in, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[0].init: unknown initializer 'xavier'"));
  assert_non_null(strstr(err.msg, "glorot_uniform"));
  assert_non_null(strstr(err.msg, "kaiming_uniform"));
  assert_int_equal(parse("{\"type\": \"normal\", \"a\": 1}", &in, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "'a'"));
  assert_int_equal(parse("{\"type\": \"normal\", \"std\": -1}", &in, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[0].init.std"));
  assert_int_equal(parse("{\"std\": 1}", &in, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "type"));
  assert_int_equal(parse("3", &in, &err), HP_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_statistics),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_ten_layer_experiment),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

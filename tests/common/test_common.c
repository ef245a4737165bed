/* Tests of the shared helpers: error table, RNG, JSON validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "hpsearch/err.h"
#include "hpsearch/json.h"
#include "hpsearch/rng.h"

static void test_err_names(void **state) {
  (void)state;
  assert_string_equal(hp_err_name(HP_EINVAL), "HP_EINVAL");
  hp_err_t e = {0};
  assert_int_equal(hp_err_set(&e, HP_ENOTFOUND, "study '%s'", "x"), HP_ENOTFOUND);
  hp_err_prefix(&e, "params");
  assert_string_equal(e.msg, "params: study 'x'");
}

static void test_rng_deterministic_and_uniform(void **state) {
  (void)state;
  hp_rng_t a, b;
  hp_rng_seed(&a, 42);
  hp_rng_seed(&b, 42);
  for (int i = 0; i < 100; i++) assert_true(hp_rng_u64(&a) == hp_rng_u64(&b));
  hp_rng_seed_stream(&b, 42, 1);
  assert_true(hp_rng_u64(&a) != hp_rng_u64(&b));
  /* Moments of U(0,1) and N(0,1) over 200k draws. */
  double s = 0, s2 = 0, n1 = 0, n2 = 0;
  const int N = 200000;
  for (int i = 0; i < N; i++) {
    double u = hp_rng_uniform(&a);
    assert_true(u >= 0 && u < 1);
    s += u, s2 += u * u;
    double z = hp_rng_normal(&a);
    n1 += z, n2 += z * z;
  }
  assert_true(fabs(s / N - 0.5) < 0.005);
  assert_true(fabs(s2 / N - s / N * s / N - 1.0 / 12) < 0.002);
  assert_true(fabs(n1 / N) < 0.01);
  assert_true(fabs(n2 / N - 1.0) < 0.02);
  int counts[3] = {0};
  for (int i = 0; i < 30000; i++) counts[hp_rng_below(&a, 3)]++;
  for (int k = 0; k < 3; k++) assert_true(counts[k] > 9500 && counts[k] < 10500);
}

static void test_json_validation(void **state) {
  (void)state;
  hp_err_t e = {0};
  cJSON *j = NULL;
  assert_int_equal(hp_json_parse("{\"a\": 1,\n \"b\": }", 17, "spec", &j, &e), HP_EFORMAT);
  assert_non_null(strstr(e.msg, "line 2"));
  const char *txt = "{\"lr\": 0.1, \"n\": 3, \"name\": \"x\", \"bad\": 1}";
  assert_int_equal(hp_json_parse(txt, strlen(txt), "spec", &j, &e), 0);
  static const char *const keys[] = {"lr", "n", "name", NULL};
  assert_int_equal(hp_json_check_keys(j, keys, "config", &e), HP_EINVAL);
  assert_string_equal(e.msg, "config: unknown key 'bad'");
  double lr = 0;
  assert_int_equal(hp_json_get_number(j, "lr", true, &lr, "config", &e), 0);
  assert_true(lr == 0.1);
  long long n = 0;
  assert_int_equal(hp_json_get_int(j, "n", true, 0, 2, &n, "config", &e), HP_EINVAL);
  assert_non_null(strstr(e.msg, "config.n"));
  const char *s = NULL;
  assert_int_equal(hp_json_get_string(j, "lr", true, &s, "config", &e), HP_EINVAL);
  assert_string_equal(e.msg, "config.lr: expected a string, got number");
  assert_int_equal(hp_json_get_string(j, "missing", true, &s, "config", &e), HP_EINVAL);
  assert_int_equal(hp_json_get_string(j, "missing", false, &s, "config", &e), 0);
  cJSON_Delete(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_err_names),
      cmocka_unit_test(test_rng_deterministic_and_uniform),
      cmocka_unit_test(test_json_validation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

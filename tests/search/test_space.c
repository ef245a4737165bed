/* Tests of search spaces: parsing and every validation rule, Optuna's
 * distribution_json (exact text, legacy names, round trips), external
 * values, contains/compatible checks and grid lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/num.h"
#include "hpsearch/space.h"

static hp_space_t *parse_ok(const char *text) {
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  int rc = hp_space_parse_text(text, strlen(text), &s, &err);
  if (rc != 0) fail_msg("parse failed: %s", err.msg);
  return s;
}

/* Parses text expecting failure with a message containing every needle. */
static void parse_fails(const char *text, const char *needle1, const char *needle2) {
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  int rc = hp_space_parse_text(text, strlen(text), &s, &err);
  if (rc == 0) {
    hp_space_free(s);
    fail_msg("expected failure for %s", text);
  }
  assert_null(s);
  if (strstr(err.msg, needle1) == NULL) fail_msg("'%s' lacks '%s'", err.msg, needle1);
  if (needle2 && strstr(err.msg, needle2) == NULL) fail_msg("'%s' lacks '%s'", err.msg, needle2);
}

static void test_parse_example(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(
      "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1e-1, \"log\": true},"
      " \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
      " \"width\": {\"type\": \"int\", \"low\": 32, \"high\": 1024, \"log\": true}}");
  assert_int_equal(s->n, 3);
  /* Document order. */
  assert_string_equal(s->params[0].name, "lr");
  assert_string_equal(s->params[1].name, "opt");
  assert_string_equal(s->params[2].name, "width");
  assert_int_equal(s->params[0].dist.kind, HP_DIST_FLOAT);
  assert_true(s->params[0].dist.log);
  assert_true(s->params[0].dist.step == 0);
  assert_int_equal(s->params[1].dist.kind, HP_DIST_CAT);
  assert_int_equal(s->params[1].dist.n_choices, 2);
  assert_int_equal(s->params[2].dist.kind, HP_DIST_INT);
  assert_true(s->params[2].dist.step == 1);
  assert_null(s->warnings);
  assert_int_equal(hp_space_find(s, "opt"), 1);
  assert_int_equal(hp_space_find(s, "nope"), -1);
  /* Grids: categorical -> all choices; continuous float -> none; int log
   * with 993 points -> all of them. */
  assert_int_equal(s->params[1].n_grid, 2);
  assert_null(s->params[0].grid);
  assert_int_equal(s->params[2].n_grid, 993);
  hp_space_free(s);
}

static void test_validation_errors(void **state) {
  (void)state;
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 2, \"high\": 1}}", "space.a", "low 2 > high 1");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 5, \"high\": 1}}", "space.a", "low 5 > high 1");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"log\": true}}", "space.a",
              "log requires low > 0");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": -1, \"high\": 1, \"log\": true}}", "space.a",
              "log requires low > 0");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"log\": true}}", "space.a",
              "log requires low >= 1");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 1, \"high\": 2, \"log\": true, \"step\": 0.1}}",
              "space.a", "log and step");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 1, \"high\": 20, \"log\": true, \"step\": 2}}",
              "space.a", "log and step");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0}}", "space.a.step",
              "> 0");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": -1}}", "space.a.step",
              "> 0");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 1.5}}", "space.a",
              "step must be an integer");
  /* A subnormal step would make high = inf (found by fuzzing). */
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0.5, \"high\": 5.5, \"step\": 0.51e-308}}",
              "space.a", "too small for the range");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0.5, \"high\": 10}}", "space.a", "integers");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": []}}", "space.a.choices", "empty");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"x\", 1, \"x\"]}}", "space.a.choices[2]",
              "duplicates choices[0]");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [1, 1.0]}}", "space.a.choices[1]",
              "duplicates");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [null, null]}}", "space.a.choices[1]",
              "duplicates");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [[1]]}}", "space.a.choices[0]",
              "got array");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": \"abc\"}}", "space.a.choices",
              "expected an array");
  parse_fails("{\"a\": {\"type\": \"categorical\"}}", "space.a.choices", "required");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [1], \"low\": 0}}", "space.a",
              "unknown key 'low'");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"lo\": 3}}", "space.a",
              "unknown key 'lo'");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": \"0\", \"high\": 1}}", "space.a.low",
              "expected a number");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"log\": 1}}", "space.a.log",
              "true or false");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1e999}}", "space: a.high: ",
              "1e999 is beyond the range of a double");
  parse_fails("{\"a\": {\"type\": \"float\", \"high\": 1}}", "space.a.low", "required");
  parse_fails("{\"a\": {\"type\": \"double\", \"low\": 0, \"high\": 1}}", "space.a.type",
              "unknown type 'double'");
  parse_fails("{\"a\": {\"low\": 0, \"high\": 1}}", "space.a.type", "required");
  parse_fails("{\"a\": 3}", "space.a", "expected an object");
  parse_fails("[1]", "space", "expected an object");
  parse_fails("{}", "space", "at least one");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 1},"
              " \"a\": {\"type\": \"int\", \"low\": 0, \"high\": 2}}",
              "space.a", "defined twice");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"grid\": [1, 11]}}",
              "space.a.grid[1]", "not inside");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"grid\": [1, 2.5]}}",
              "space.a.grid[1]", "not inside");
  parse_fails("{\"a\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"grid\": [1, 1]}}",
              "space.a.grid", "twice");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"grid\": []}}",
              "space.a.grid", "empty");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"x\"], \"grid\": [\"y\"]}}",
              "space.a.grid[0]", "not one of the choices");
  parse_fails("{\"a\": {\"type\": \"float\", \"low\": 0, \"high\": 1}", "space", NULL);
  /* Invalid UTF-8 (raw bytes in the JSON text) is malformed JSON, and the
   * message says where: a lone continuation byte, an overlong '/', an
   * encoded surrogate, a code point above U+10FFFF. */
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"x\x80\"]}}", "(in a.choices[0])",
              "not valid UTF-8");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"\xc0\xaf\"]}}", "(in a.choices[0])",
              "not valid UTF-8");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"\xed\xa0\x80\"]}}",
              "(in a.choices[0])", "not valid UTF-8");
  parse_fails("{\"a\": {\"type\": \"categorical\", \"choices\": [\"\xf4\x90\x80\x80\"]}}",
              "(in a.choices[0])", "not valid UTF-8");
  parse_fails("{\"\xff\": {\"type\": \"int\", \"low\": 0, \"high\": 1}}", "space", "UTF-8");
}

static void test_step_adjust_warns(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(
      "{\"f\": {\"type\": \"float\", \"low\": 0, \"high\": 1.05, \"step\": 0.1},"
      " \"g\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.1},"
      " \"i\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 3}}");
  assert_true(fabs(s->params[0].dist.high - 1.0) < 1e-12);
  assert_true(s->params[1].dist.high == 1.0); /* 0.1 fits [0, 1] as in decimal */
  assert_true(s->params[2].dist.high == 9);
  assert_non_null(s->warnings);
  assert_non_null(strstr(s->warnings, "space.f: high 1.05"));
  assert_non_null(strstr(s->warnings, "space.i: high 10"));
  assert_null(strstr(s->warnings, "space.g"));
  assert_int_equal(s->params[0].n_grid, 11);
  assert_int_equal(s->params[2].n_grid, 4);
  assert_true(s->params[2].grid[3] == 9);
  hp_space_free(s);
}

static void test_pyfloat(void **state) {
  (void)state;
  const struct {
    double v;
    const char *s;
  } cases[] = {{1e-5, "1e-05"},
               {0.1, "0.1"},
               {1.0, "1.0"},
               {1e16, "1e+16"},
               {1e15, "1000000000000000.0"},
               {0.0001, "0.0001"},
               {1.5e-7, "1.5e-07"},
               {-2.5, "-2.5"},
               {100.0, "100.0"},
               {1e22, "1e+22"},
               {9999999999999998.0, "9999999999999998.0"},
               {123456.789, "123456.789"},
               {5e-324, "5e-324"},
               {1.7976931348623157e308, "1.7976931348623157e+308"},
               {2.0 / 3, "0.6666666666666666"},
               {-0.0, "-0.0"},
               {1e-4 * 3, "0.00030000000000000003"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[HP_NUM_MAX];
    hp_num_format_py(cases[i].v, buf);
    assert_string_equal(buf, cases[i].s);
  }
}

/* Exact texts as Optuna 3.1 writes them (checked against
 * optuna.distributions.distribution_to_json). */
static void test_optuna_json_text(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(
      "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true},"
      " \"f\": {\"type\": \"float\", \"low\": 0, \"high\": 1.05, \"step\": 0.1},"
      " \"w\": {\"type\": \"int\", \"low\": 32, \"high\": 1024, \"log\": true},"
      " \"i\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 3},"
      " \"c\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", null, true, 1, 2.5, "
      "\"\\u00e9\\n\"]},"
      " \"big\": {\"type\": \"float\", \"low\": 1e16, \"high\": 1e17}}");
  const char *want[] = {
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e-05, \"high\": "
      "0.1, \"log\": true}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": 0.1, \"low\": 0.0, \"high\": "
      "1.0, \"log\": false}}",
      "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": true, \"step\": 1, \"low\": 32, "
      "\"high\": 1024}}",
      "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 3, \"low\": 0, "
      "\"high\": 9}}",
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [\"sgd\", \"adam\", "
      "null, true, 1, 2.5, \"\\u00e9\\n\"]}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e+16, \"high\": "
      "1e+17, \"log\": false}}",
  };
  for (int i = 0; i < s->n; i++) {
    char *t = hp_dist_to_optuna_json(&s->params[i].dist);
    assert_non_null(t);
    assert_string_equal(t, want[i]);
    /* Round trip: parse back, equal, same text again. */
    hp_dist_t d;
    hp_err_t err = {0};
    if (hp_dist_from_optuna_json(t, strlen(t), &d, &err) != 0) fail_msg("%s", err.msg);
    assert_true(hp_dist_equal(&d, &s->params[i].dist));
    assert_true(hp_dist_compatible(&d, &s->params[i].dist));
    char *t2 = hp_dist_to_optuna_json(&d);
    assert_string_equal(t, t2);
    free(t2);
    hp_dist_free(&d);
    free(t);
  }
  hp_space_free(s);
}


static void from_json(const char *text, hp_dist_t *d) {
  hp_err_t err = {0};
  if (hp_dist_from_optuna_json(text, strlen(text), d, &err) != 0) fail_msg("%s: %s", text, err.msg);
}

/* Non-BMP characters are written as surrogate pairs (as Python does) and
 * read back to the same UTF-8. */
static void test_optuna_json_unicode(void **state) {
  (void)state;
  hp_space_t *s = parse_ok("{\"c\": {\"type\": \"categorical\", \"choices\": [\"\xf0\x9f\x98\x80\", "
                           "\"\xe2\x82\xac\", \"\\u0001\\\"\"]}}");
  char *t = hp_dist_to_optuna_json(&s->params[0].dist);
  assert_string_equal(t, "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": "
                         "[\"\\ud83d\\ude00\", \"\\u20ac\", \"\\u0001\\\"\"]}}");
  hp_dist_t d;
  from_json(t, &d);
  assert_true(hp_dist_equal(&d, &s->params[0].dist));
  hp_dist_free(&d);
  free(t);
  hp_space_free(s);
}

/* distribution_json read from a database follows the space parser's rules:
 * a string choice that is not valid UTF-8 would print back as other text
 * (\u00XX per byte), so it is refused with the choice's path. */
static void test_optuna_json_refuses_bad_utf8(void **state) {
  (void)state;
  const char *bad[] = {
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [\"sgd\", \"\x9b" "dam\"]}}",
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [\"ok\", \"\xc0\xaf\"]}}",
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [\"ok\", \"\xed\xa0\x80\"]}}",
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [\"ok\", "
      "\"\xf4\x90\x80\x80\"]}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hp_dist_t d;
    hp_err_t err = {0};
    int rc = hp_dist_from_optuna_json(bad[i], strlen(bad[i]), &d, &err);
    if (rc == 0) {
      hp_dist_free(&d);
      fail_msg("accepted non-UTF-8 choice in %s", bad[i]);
    }
    if (strstr(err.msg, "distribution_json: malformed JSON") == NULL ||
        strstr(err.msg, "(in attributes.choices[1])") == NULL ||
        strstr(err.msg, "UTF-8") == NULL)
      fail_msg("unclear error: %s", err.msg);
  }
  /* The abbreviated form goes through the space rules too. */
  const char *abbrev = "{\"type\": \"categorical\", \"choices\": [\"\xff\"]}";
  hp_dist_t d;
  hp_err_t err = {0};
  assert_true(hp_dist_from_optuna_json(abbrev, strlen(abbrev), &d, &err) < 0);
  assert_non_null(strstr(err.msg, "choices[0]"));
}

static void test_optuna_json_legacy(void **state) {
  (void)state;
  hp_dist_t d;
  from_json("{\"name\": \"UniformDistribution\", \"attributes\": {\"low\": 0.5, \"high\": 2}}", &d);
  assert_int_equal(d.kind, HP_DIST_FLOAT);
  assert_false(d.log);
  assert_true(d.low == 0.5 && d.high == 2 && d.step == 0);
  hp_dist_free(&d);
  from_json("{\"name\": \"LogUniformDistribution\", \"attributes\": {\"low\": 1e-3, \"high\": 1}}", &d);
  assert_true(d.kind == HP_DIST_FLOAT && d.log);
  hp_dist_free(&d);
  from_json("{\"name\": \"DiscreteUniformDistribution\", \"attributes\": {\"low\": 0, \"high\": 1, "
            "\"q\": 0.25}}",
            &d);
  assert_true(d.kind == HP_DIST_FLOAT && d.step == 0.25);
  hp_dist_free(&d);
  from_json("{\"name\": \"IntUniformDistribution\", \"attributes\": {\"low\": 0, \"high\": 8, "
            "\"step\": 2}}",
            &d);
  assert_true(d.kind == HP_DIST_INT && d.step == 2 && !d.log && d.high == 8);
  hp_dist_free(&d);
  from_json("{\"name\": \"IntLogUniformDistribution\", \"attributes\": {\"low\": 1, \"high\": 64, "
            "\"step\": 1}}",
            &d);
  assert_true(d.kind == HP_DIST_INT && d.log && d.step == 1);
  hp_dist_free(&d);
  from_json("{\"type\": \"categorical\", \"choices\": [false, \"x\"]}", &d);
  assert_true(d.kind == HP_DIST_CAT && d.n_choices == 2);
  hp_dist_free(&d);
  from_json("{\"type\": \"int\", \"low\": 1, \"high\": 3}", &d);
  assert_true(d.kind == HP_DIST_INT && d.step == 1);
  hp_dist_free(&d);

  hp_err_t err = {0};
  const char *bad[] = {
      "{\"name\": \"NormalDistribution\", \"attributes\": {}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"low\": 1, \"high\": 0, \"log\": false, "
      "\"step\": null}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"low\": 1, \"high\": 2, \"log\": true, "
      "\"step\": 0.5}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"high\": 2}}",
      "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": []}}",
      "{\"name\": \"FloatDistribution\", \"attributes\": {\"low\": 1, \"high\": 2, \"bogus\": 1}}",
      "[]",
      "{\"name\": ",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hp_dist_t x;
    int rc = hp_dist_from_optuna_json(bad[i], strlen(bad[i]), &x, &err);
    if (rc == 0) fail_msg("accepted %s", bad[i]);
    assert_true(strlen(err.msg) > 0);
  }
}

static void test_external_values(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(
      "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true},"
      " \"n\": {\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 2},"
      " \"c\": {\"type\": \"categorical\", \"choices\": [\"sgd\", 3, false, null]}}");
  const hp_dist_t *lr = &s->params[0].dist, *n = &s->params[1].dist, *c = &s->params[2].dist;
  char buf[64];
  assert_int_equal(hp_dist_format_external(lr, 0.001, buf, sizeof buf), 5);
  assert_string_equal(buf, "0.001");
  hp_dist_format_external(n, 4, buf, sizeof buf);
  assert_string_equal(buf, "4");
  hp_dist_format_external(c, 0, buf, sizeof buf);
  assert_string_equal(buf, "\"sgd\"");
  hp_dist_format_external(c, 3, buf, sizeof buf);
  assert_string_equal(buf, "null");
  assert_true(hp_dist_format_external(c, 4, buf, sizeof buf) < 0);

  for (int i = 0; i < 4; i++) {
    cJSON *v = hp_dist_to_external(c, i);
    assert_non_null(v);
    double back = -1;
    hp_err_t err = {0};
    assert_int_equal(hp_dist_from_external(c, v, &back, &err), 0);
    assert_true(back == i);
    cJSON_Delete(v);
  }
  cJSON *v = hp_dist_to_external(n, 6);
  assert_true(cJSON_IsNumber(v) && v->valuedouble == 6);
  cJSON_Delete(v);
  assert_null(hp_dist_to_external(n, 5)); /* off the step */

  hp_err_t err = {0};
  double x;
  cJSON *bad = cJSON_CreateString("adam");
  assert_int_equal(hp_dist_from_external(c, bad, &x, &err), HP_EINVAL);
  cJSON_Delete(bad);
  /* 3 the number is a choice, "3" the string is not. */
  bad = cJSON_CreateString("3");
  assert_int_equal(hp_dist_from_external(c, bad, &x, &err), HP_EINVAL);
  cJSON_Delete(bad);
  bad = cJSON_CreateNumber(3);
  assert_int_equal(hp_dist_from_external(c, bad, &x, &err), 0);
  assert_true(x == 1);
  assert_int_equal(hp_dist_from_external(n, bad, &x, &err), HP_EINVAL); /* not on step 2 */
  cJSON_Delete(bad);
  bad = cJSON_CreateNumber(0.5);
  assert_int_equal(hp_dist_from_external(lr, bad, &x, &err), HP_EINVAL);
  cJSON_Delete(bad);
  hp_space_free(s);
}

static void test_contains_compatible(void **state) {
  (void)state;
  hp_dist_t f, f2, fl, i, c1, c2, c3;
  hp_err_t err = {0};
  assert_int_equal(hp_dist_float("f", 0, 1, false, 0, &f, &err), 0);
  assert_int_equal(hp_dist_float("f2", -5, 5, false, 0, &f2, &err), 0);
  assert_int_equal(hp_dist_float("fl", 0.1, 1, true, 0, &fl, &err), 0);
  assert_int_equal(hp_dist_int("i", 1, 9, false, 2, &i, &err), 0);
  cJSON *a = cJSON_Parse("[\"a\", \"b\"]"), *b = cJSON_Parse("[\"b\", \"a\"]");
  assert_int_equal(hp_dist_cat("c1", a, &c1, &err), 0);
  assert_int_equal(hp_dist_cat("c2", b, &c2, &err), 0);
  assert_int_equal(hp_dist_copy(&c3, &c1, &err), 0);
  assert_true(hp_dist_contains(&f, 0) && hp_dist_contains(&f, 1) && !hp_dist_contains(&f, 1.01));
  assert_false(hp_dist_contains(&f, NAN));
  assert_true(hp_dist_contains(&i, 3) && !hp_dist_contains(&i, 4) && !hp_dist_contains(&i, 3.5));
  assert_true(hp_dist_contains(&c1, 1) && !hp_dist_contains(&c1, 2) && !hp_dist_contains(&c1, 0.5));
  assert_true(hp_dist_compatible(&f, &f2));  /* ranges may differ */
  assert_false(hp_dist_compatible(&f, &fl)); /* log flag differs */
  assert_false(hp_dist_compatible(&f, &i));  /* kind differs */
  assert_false(hp_dist_compatible(&c1, &c2)); /* order of choices matters */
  assert_true(hp_dist_compatible(&c1, &c3));
  assert_false(hp_dist_equal(&f, &f2));
  assert_true(hp_dist_single(&(hp_dist_t){.kind = HP_DIST_FLOAT, .low = 2, .high = 2}));
  /* Builder errors name the parameter. */
  hp_dist_t x;
  assert_int_equal(hp_dist_float("zz", 1, 0, false, 0, &x, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "zz"));
  hp_dist_free(&f);
  hp_dist_free(&f2);
  hp_dist_free(&fl);
  hp_dist_free(&i);
  hp_dist_free(&c1);
  hp_dist_free(&c2);
  hp_dist_free(&c3);
  cJSON_Delete(a);
  cJSON_Delete(b);
}

static void test_grid_lists_and_to_json(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(
      "{\"lr\": {\"type\": \"float\", \"grid\": [0.1, 0.01, 0.001], \"log\": true},"
      " \"c\": {\"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"c\"], \"grid\": [\"c\", \"a\"]},"
      " \"k\": {\"type\": \"int\", \"low\": 1, \"high\": 5}}");
  const hp_param_t *lr = &s->params[0];
  assert_true(lr->dist.low == 0.001 && lr->dist.high == 0.1 && lr->dist.log);
  assert_int_equal(lr->n_grid, 3);
  assert_true(lr->grid[0] == 0.1 && lr->grid[2] == 0.001);
  assert_int_equal(s->params[1].n_grid, 2);
  assert_true(s->params[1].grid[0] == 2 && s->params[1].grid[1] == 0);
  assert_int_equal(s->params[2].n_grid, 5);
  assert_false(s->params[2].grid_given);
  /* to_json -> parse gives the same space. */
  cJSON *j = hp_space_to_json(s);
  assert_non_null(j);
  hp_space_t *s2 = NULL;
  hp_err_t err = {0};
  if (hp_space_parse(j, &s2, &err) != 0) fail_msg("%s", err.msg);
  assert_int_equal(s2->n, 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(s->params[i].name, s2->params[i].name);
    assert_true(hp_dist_equal(&s->params[i].dist, &s2->params[i].dist));
    assert_int_equal(s->params[i].n_grid, s2->params[i].n_grid);
  }
  cJSON_Delete(j);
  hp_space_free(s2);
  hp_space_free(s);
}

/* The optimizer space of the issue: nested conditions, parents first. */
static const char *COND_SPACE =
    "{\"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"momentum\", \"nesterov\", \"adam\"]},"
    " \"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true},"
    " \"momentum\": {\"type\": \"float\", \"low\": 0.5, \"high\": 0.99,"
    "                \"when\": {\"opt\": [\"momentum\", \"nesterov\"]}},"
    " \"sched\": {\"type\": \"categorical\", \"choices\": [\"constant\", \"step\"],"
    "             \"when\": {\"opt\": [\"sgd\", \"momentum\"]}},"
    " \"gamma\": {\"type\": \"float\", \"low\": 0.1, \"high\": 0.9, \"when\": {\"sched\": \"step\"}},"
    " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.99, \"when\": {\"opt\": \"adam\"}}}";

static void test_conditions(void **state) {
  (void)state;
  hp_space_t *s = parse_ok(COND_SPACE);
  assert_true(s->conditional);
  assert_int_equal(s->params[2].n_cond, 1);
  assert_int_equal(s->params[2].cond[0].parent, 0);
  assert_int_equal(s->params[4].cond[0].parent, 3);
  double x[6] = {1, 0.01, 0.9, 1, 0.5, 0.9}; /* momentum, step schedule */
  assert_true(hp_space_active(s, 2, x));
  assert_true(hp_space_active(s, 4, x));
  assert_false(hp_space_active(s, 5, x));
  assert_int_equal(hp_space_deactivate(s, x), 5);
  assert_true(isnan(x[5]));
  assert_true(hp_space_consistent(s, x));
  /* nesterov: no schedule, so no gamma either (nested) */
  x[0] = 2;
  assert_false(hp_space_consistent(s, x));
  assert_int_equal(hp_space_deactivate(s, x), 3);
  assert_true(isnan(x[3]) && isnan(x[4]) && isnan(x[5]) && !isnan(x[2]));
  assert_true(hp_space_consistent(s, x));
  /* an example that activates gamma: opt sgd (first allowing sched), sched step */
  double e[6];
  assert_true(hp_space_example(s, 4, e));
  assert_true(e[0] == 0 && e[3] == 1 && e[4] == 0.1 && isnan(e[2]) && isnan(e[5]));
  assert_true(hp_space_example(s, 5, e));
  assert_true(e[0] == 3 && isnan(e[3]) && e[5] == 0.8);
  /* to_json keeps the conditions */
  cJSON *j = hp_space_to_json(s);
  hp_space_t *s2 = NULL;
  hp_err_t err = {0};
  if (hp_space_parse(j, &s2, &err) != 0) fail_msg("%s", err.msg);
  assert_int_equal(s2->params[2].n_cond, 1);
  assert_true(s2->params[2].cond[0].ok[1] && s2->params[2].cond[0].ok[2] &&
              !s2->params[2].cond[0].ok[0] && !s2->params[2].cond[0].ok[3]);
  cJSON_Delete(j);
  hp_space_free(s2);
  hp_space_free(s);
  /* several parents: both must hold */
  s = parse_ok("{\"a\": {\"type\": \"categorical\", \"choices\": [0, 1]},"
               " \"b\": {\"type\": \"categorical\", \"choices\": [true, false]},"
               " \"c\": {\"type\": \"int\", \"low\": 1, \"high\": 3, \"when\": {\"a\": 1, \"b\": [true]}}}");
  double y[3] = {1, 1, 2};
  assert_false(hp_space_active(s, 2, y));
  y[1] = 0;
  assert_true(hp_space_active(s, 2, y));
  hp_space_free(s);
}

static void test_condition_errors(void **state) {
  (void)state;
  const char *opt = "{\"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
                    " \"lr\": {\"type\": \"float\", \"low\": 0.1, \"high\": 1},";
  char t[1024];
#define COND(tail, n1, n2) \
  snprintf(t, sizeof t, "%s%s", opt, tail), parse_fails(t, n1, n2)
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"optim\": [\"sgd\"]}}}",
       "space.m.when.optim: no parameter 'optim'", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"lr\": [0.5]}}}",
       "space.m.when.lr: 'lr' is not categorical", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": [\"sgd\", \"nesterv\"]}}}",
       "space.m.when.opt[1]: \"nesterv\" is not one of the choices of opt", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": \"Adam\"}}}",
       "space.m.when.opt: \"Adam\" is not one of the choices", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": []}}}",
       "space.m.when.opt: must list at least one choice", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": [\"sgd\", \"sgd\"]}}}",
       "space.m.when.opt[1]: choice listed twice", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": [[\"sgd\"]]}}}",
       "space.m.when.opt[0]: expected a choice", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": [\"opt\"]}}",
       "space.m.when: expected an object", NULL);
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {}}}",
       "space.m.when: must name at least one parameter", NULL);
  COND("\"m\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"m\": [1]}}}",
       "space.m.when.m: a parameter cannot depend on itself", NULL);
  /* a later parent, and a cycle through it */
  COND("\"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"k\": [1]}},"
       " \"k\": {\"type\": \"categorical\", \"choices\": [1, 2]}}",
       "space.m.when.k: 'k' comes after 'm' in the space", "earlier parameter");
  COND("\"a\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"c\": [1]}},"
       " \"b\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"a\": [1]}},"
       " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"b\": [2]}}}",
       "space.a.when.c: cycle of conditions: a -> c -> b -> a", NULL);
  /* contradicting conditions along the ancestry */
  COND("\"s\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"opt\": \"sgd\"}},"
       " \"m\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"s\": 1, \"opt\": \"adam\"}}}",
       "space.m.when: can never hold", NULL);
#undef COND
}

/* Conditions read off a define-by-run study's trials. */
static void test_infer_conditions(void **state) {
  (void)state;
  /* members in first-appearance order: lr, beta1, opt, damp, nest, m */
  cJSON *sp = cJSON_Parse(
      "{\"lr\": {\"type\": \"float\", \"low\": 0.001, \"high\": 1},"
      " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.99},"
      " \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"mom\", \"adam\"]},"
      " \"damp\": {\"type\": \"float\", \"low\": 0, \"high\": 0.5},"
      " \"nest\": {\"type\": \"categorical\", \"choices\": [false, true]},"
      " \"m\": {\"type\": \"float\", \"low\": 0.5, \"high\": 0.99}}");
  const double N = NAN;
  const double x[] = {
      0.1, N,   0, N,   N, N,    /* sgd */
      0.2, 0.9, 2, N,   N, N,    /* adam */
      0.3, N,   1, 0.1, 0, 0.9,  /* mom, nest false, damp */
      0.4, N,   1, N,   1, 0.8,  /* mom, nest true */
      0.5, 0.85, 2, N,  N, N,    /* adam */
      N,   N,   N, N,   N, N,    /* a trial without params (FAIL at start) */
  };
  assert_int_equal(hp_space_infer_conditions(sp, x, 6), 0);
  char *t = cJSON_PrintUnformatted(sp);
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  if (hp_space_parse(sp, &s, &err) != 0) fail_msg("%s: %s", err.msg, t);
  /* parents first: lr, opt (every trial), then nest, m, beta1, damp */
  assert_string_equal(s->params[0].name, "lr");
  assert_string_equal(s->params[1].name, "opt");
  assert_int_equal(s->params[0].n_cond + s->params[1].n_cond, 0);
  int b = hp_space_find(s, "beta1"), d = hp_space_find(s, "damp"), m = hp_space_find(s, "m");
  assert_int_equal(s->params[b].cond[0].parent, 1);
  assert_true(s->params[b].cond[0].ok[2] && !s->params[b].cond[0].ok[0] && !s->params[b].cond[0].ok[1]);
  assert_int_equal(s->params[m].cond[0].parent, 1);
  /* damp hangs on nest (the nearer parent), not on opt */
  assert_int_equal(s->params[d].cond[0].parent, hp_space_find(s, "nest"));
  assert_true(s->params[d].cond[0].ok[0] && !s->params[d].cond[0].ok[1]);
  free(t);
  hp_space_free(s);
  cJSON_Delete(sp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_example),      cmocka_unit_test(test_validation_errors),
      cmocka_unit_test(test_step_adjust_warns),  cmocka_unit_test(test_pyfloat),
      cmocka_unit_test(test_optuna_json_text),   cmocka_unit_test(test_optuna_json_legacy),
      cmocka_unit_test(test_optuna_json_unicode),
      cmocka_unit_test(test_optuna_json_refuses_bad_utf8),
      cmocka_unit_test(test_external_values),    cmocka_unit_test(test_contains_compatible),
      cmocka_unit_test(test_grid_lists_and_to_json),
      cmocka_unit_test(test_conditions),         cmocka_unit_test(test_condition_errors),
      cmocka_unit_test(test_infer_conditions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

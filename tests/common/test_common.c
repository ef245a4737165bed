/* Tests of the shared helpers: error table, RNG, JSON validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/err.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"
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

/* Printed doubles read back bit for bit, in the fewest of 15/16/17 digits. */
static void test_num_format_round_trip(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *s;
  } cases[] = {{0.1, "0.1"},
               {1.0 / 3, "0.3333333333333333"},
               {0.1 + 0.2, "0.30000000000000004"},
               {5e-324, "4.94065645841247e-324"},
               {DBL_MAX, "1.7976931348623157e+308"},
               {-0.0, "-0"},
               {0.0, "0"},
               {42, "42"},
               {1e15, "1e+15"},
               {9007199254740993.0, "9007199254740992"},
               {-2.5e-7, "-2.5e-07"},
               {1.0000000000000002, "1.0000000000000002"}};
  char buf[HP_NUM_MAX];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = hp_num_format(cases[i].v, buf);
    assert_string_equal(buf, cases[i].s);
    assert_int_equal(n, strlen(buf));
    double back = 0;
    hp_err_t e = {0};
    assert_int_equal(hp_num_parse(buf, n, HP_NUM_STRICT, &back, "x", &e), 0);
    assert_memory_equal(&back, &cases[i].v, sizeof back); /* -0 stays -0 */
  }
  /* A sweep of awkward values: every one reads back exactly. */
  for (int k = -320; k <= 308; k += 7) {
    double v = nextafter(pow(10, k) / 3, INFINITY);
    hp_num_format(v, buf);
    assert_true(strtod(buf, NULL) == v);
  }
  assert_int_equal(hp_num_format(NAN, buf), 3);
  assert_string_equal(buf, "nan");
  hp_num_format(-INFINITY, buf);
  assert_string_equal(buf, "-inf");
  hp_num_format_json(INFINITY, buf);
  assert_string_equal(buf, "\"inf\"");
  hp_num_format_json(NAN, buf);
  assert_string_equal(buf, "\"nan\"");
  hp_num_format_json(0.1, buf);
  assert_string_equal(buf, "0.1");
  hp_num_format_py(5e-324, buf);
  assert_string_equal(buf, "5e-324");
  hp_num_format_py(32, buf);
  assert_string_equal(buf, "32.0");
}

static void parse_ok(const char *s, unsigned flags, double want) {
  double v = 12345;
  hp_err_t e = {0};
  int rc = hp_num_parse(s, strlen(s), flags, &v, "f", &e);
  if (rc != 0) fail_msg("'%s' refused: %s", s, e.msg);
  if (isnan(want)) assert_true(isnan(v));
  else assert_memory_equal(&v, &want, sizeof v);
}

static void parse_bad(const char *s, unsigned flags, const char *msg_part) {
  double v = 12345;
  hp_err_t e = {0};
  if (hp_num_parse(s, strlen(s), flags, &v, "params.value", &e) != HP_EINVAL)
    fail_msg("'%s' accepted as %.17g", s, v);
  assert_true(v == 12345);
  if (strstr(e.msg, msg_part) == NULL || strncmp(e.msg, "params.value: ", 14) != 0)
    fail_msg("'%s': message '%s' lacks '%s'", s, e.msg, msg_part);
}

static void test_num_parse_spellings(void **state) {
  (void)state;
  parse_ok("0", HP_NUM_STRICT, 0);
  parse_ok("-0", HP_NUM_STRICT, -0.0);
  parse_ok("0.1", HP_NUM_STRICT, 0.1);
  parse_ok("-1.5e3", HP_NUM_STRICT, -1500);
  parse_ok("1E+2", HP_NUM_STRICT, 100);
  parse_ok("1.7976931348623157e308", HP_NUM_STRICT, DBL_MAX);
  parse_ok("inf", HP_NUM_STRICT, INFINITY);
  parse_ok("-inf", HP_NUM_STRICT, -INFINITY);
  parse_ok("nan", HP_NUM_STRICT, NAN);
  /* Underflow rounds as IEEE 754 says: to 0 of its sign, or a subnormal. */
  parse_ok("1e-400", HP_NUM_STRICT, 0);
  parse_ok("-1e-400", HP_NUM_STRICT, -0.0);
  parse_ok("4e-324", HP_NUM_STRICT, 5e-324);
  /* Overflow is refused, naming the field. */
  parse_bad("1e400", HP_NUM_STRICT, "1e400 is beyond the range of a double");
  parse_bad("-1e999", HP_NUM_LENIENT, "-1e999 is beyond the range");
  parse_bad("1.8e308", HP_NUM_STRICT, "beyond the range");
  /* Strict is JSON's grammar and the three words exactly. */
  static const char *const strict_bad[] = {"+1", "1.", ".5", "01", "1e", "0x10", "Inf", "infinity",
                                           "NaN", "+inf", " 1", "1 ", "", "-", "1e5x", "nan(1)"};
  for (size_t i = 0; i < sizeof strict_bad / sizeof strict_bad[0]; i++)
    parse_bad(strict_bad[i], HP_NUM_STRICT, "expected a number");
  /* Lenient takes people's spellings, nothing more. */
  parse_ok("+1", HP_NUM_LENIENT, 1);
  parse_ok("1.", HP_NUM_LENIENT, 1);
  parse_ok(".5", HP_NUM_LENIENT, 0.5);
  parse_ok("007", HP_NUM_LENIENT, 7);
  parse_ok("Inf", HP_NUM_LENIENT, INFINITY);
  parse_ok("-Infinity", HP_NUM_LENIENT, -INFINITY);
  parse_ok("+INF", HP_NUM_LENIENT, INFINITY);
  parse_ok("NaN", HP_NUM_LENIENT, NAN);
  static const char *const lenient_bad[] = {"0x10", " 1", "1 ", "", ".", "1e", "infin", "nan(1)",
                                            "1,5", "--1", "1\xc3"};
  for (size_t i = 0; i < sizeof lenient_bad / sizeof lenient_bad[0]; i++)
    parse_bad(lenient_bad[i], HP_NUM_LENIENT, "expected a number");
  /* The quoted input in a message is valid UTF-8 even when the input is not. */
  hp_err_t e = {0};
  double v;
  assert_int_equal(hp_num_parse("1\xff", 2, HP_NUM_LENIENT, &v, "x", &e), HP_EINVAL);
  assert_int_equal(hp_utf8_check(e.msg, strlen(e.msg)), strlen(e.msg));
  /* Length is the caller's: a number need not be NUL-terminated. */
  parse_ok("2", HP_NUM_STRICT, 2);
  assert_int_equal(hp_num_parse("25", 1, HP_NUM_STRICT, &v, "x", &e), 0);
  assert_true(v == 2);
  char longnum[80];
  memset(longnum, '1', sizeof longnum - 1);
  longnum[sizeof longnum - 1] = '\0';
  parse_bad(longnum, HP_NUM_STRICT, "more than 63 characters");
}

static void test_utf8(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t bad_at; /* offset hp_utf8_check reports */
  } cases[] = {
      {"plain", 5},
      {"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", 10},
      {"a\xc0\xaf", 1},         /* overlong '/' */
      {"\xe0\x80\xaf", 0},      /* overlong, 3 bytes */
      {"\xf0\x80\x80\xaf", 0},  /* overlong, 4 bytes */
      {"ab\xed\xa0\x80", 2},    /* surrogate D800 */
      {"\xed\xbf\xbf", 0},      /* surrogate DFFF */
      {"\xf4\x90\x80\x80", 0},  /* above U+10FFFF */
      {"\xf4\x8f\xbf\xbf", 4},  /* U+10FFFF itself */
      {"x\xe2\x82", 1},         /* truncated */
      {"\xf0\x9f\x98", 0},      /* truncated 4-byte */
      {"\x9b" "dam", 0},        /* lone continuation byte */
      {"\xc3(", 0},             /* bad continuation */
      {"\xfe\xff", 0},          /* never in UTF-8 */
      {"\xf5\x80\x80\x80", 0},  /* lead above F4 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].s);
    if (hp_utf8_check(cases[i].s, n) != cases[i].bad_at)
      fail_msg("case %zu: %zu, want %zu", i, hp_utf8_check(cases[i].s, n), cases[i].bad_at);
  }
  /* Cutting never splits a character. */
  const char *name = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a b é € 😀 z */
  static const size_t cut[][2] = {{2, 2}, {3, 2}, {4, 4}, {5, 4}, {6, 4}, {7, 7}, {8, 7},
                                  {9, 7}, {10, 7}, {11, 11}, {12, 12}, {100, 12}};
  for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++)
    assert_int_equal(hp_utf8_prefix(name, cut[i][0]), cut[i][1]);
  /* Cleaning: invalid bytes and controls become U+FFFD; never overflows. */
  char out[16];
  hp_utf8_clean(out, sizeof out, "a\xff\x01" "b", 4);
  assert_string_equal(out, "a\xef\xbf\xbd\xef\xbf\xbd" "b");
  size_t n = hp_utf8_clean(out, 6, "\xe2\x82\xac\xe2\x82\xac", 6);
  assert_int_equal(n, 3); /* the second euro sign would not fit with the NUL */
  /* An error message cut at hp_err_t's end keeps whole characters. */
  char big[700];
  for (size_t i = 0; i + 2 < sizeof big; i += 2) big[i] = '\xc3', big[i + 1] = '\xa9';
  big[sizeof big - 2] = '\0';
  for (int shift = 0; shift < 4; shift++) {
    hp_err_t cut_err = {0};
    hp_err_set(&cut_err, HP_EINVAL, "%.*sname '%s'", shift, "xxx", big);
    size_t len = strlen(cut_err.msg);
    assert_true(len >= HP_ERR_MSG_MAX - 2 && len < HP_ERR_MSG_MAX);
    assert_int_equal(hp_utf8_check(cut_err.msg, len), len);
    hp_err_prefix(&cut_err, "x");
    len = strlen(cut_err.msg);
    assert_int_equal(hp_utf8_check(cut_err.msg, len), len);
  }
  /* Names: every control character is refused, and a NUL. */
  hp_err_t e = {0};
  for (unsigned c = 1; c < 0x20; c++) {
    char s[4] = {'a', (char)c, 'b', 0};
    assert_int_equal(hp_utf8_check_name(s, 3, "spec.name", &e), HP_EINVAL);
    assert_non_null(strstr(e.msg, "spec.name: contains the control character U+00"));
  }
  assert_int_equal(hp_utf8_check_name("a\x7f", 2, "n", &e), HP_EINVAL);
  assert_int_equal(hp_utf8_check_name("a\xc2\x85", 3, "n", &e), HP_EINVAL); /* U+0085 */
  assert_int_equal(hp_utf8_check_name("a\0b", 3, "spec.name", &e), HP_EINVAL);
  assert_string_equal(e.msg, "spec.name: contains a NUL character (\\u0000)");
  assert_int_equal(hp_utf8_check_name("a\xed\xa0\x80", 4, "n", &e), HP_EINVAL);
  assert_int_equal(hp_utf8_check_name("", 0, "n", &e), HP_EINVAL);
  assert_int_equal(hp_utf8_check_name("d\xc3\xa9j\xc3\xa0 vu \xf0\x9f\x98\x80", 14, "n", &e), 0);
}

/* Malformed documents: HP_EFORMAT, no tree, a message saying where and why. */
static void json_bad(const char *doc, size_t len, const char *why) {
  hp_err_t e = {0};
  cJSON *j = (cJSON *)1;
  int rc = hp_json_parse(doc, len, "request", &j, &e);
  if (rc != HP_EFORMAT) fail_msg("%zu-byte document accepted (rc %d): %s", len, rc, e.msg);
  assert_null(j);
  if (strstr(e.msg, why) == NULL || strncmp(e.msg, "request: malformed JSON at line", 31) != 0)
    fail_msg("message '%s' lacks '%s'", e.msg, why);
  assert_int_equal(hp_utf8_check(e.msg, strlen(e.msg)), strlen(e.msg));
}

/* Well-formed but refused: HP_EINVAL naming the field. */
static void json_refused(const char *doc, const char *msg) {
  hp_err_t e = {0};
  cJSON *j = (cJSON *)1;
  assert_int_equal(hp_json_parse(doc, strlen(doc), "request", &j, &e), HP_EINVAL);
  assert_null(j);
  assert_string_equal(e.msg, msg);
}

static void test_json_strict_bytes(void **state) {
  (void)state;
  char doc[64];
  /* Bad UTF-8 inside a string, each class. */
  static const char *const bad_utf8[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
                                         "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f\x98", "\x9b",
                                         "\xff", "\xc3("};
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    int n = snprintf(doc, sizeof doc, "{\"name\": \"a%sb\"}", bad_utf8[i]);
    json_bad(doc, (size_t)n, "not valid UTF-8");
    n = snprintf(doc, sizeof doc, "{\"a%s\": 1}", bad_utf8[i]); /* in a key too */
    json_bad(doc, (size_t)n, "not valid UTF-8");
  }
  json_bad("[\"x\"]\xff", 6, "text after the JSON value");
  /* Every raw control character inside a string; each is fine escaped. */
  for (int c = 1; c < 0x20; c++) {
    int n = snprintf(doc, sizeof doc, "[\"a%cb\"]", c);
    json_bad(doc, (size_t)n, "raw control character");
    n = snprintf(doc, sizeof doc, "[\"a\\u%04xb\"]", c);
    hp_err_t e = {0};
    cJSON *j = NULL;
    assert_int_equal(hp_json_parse(doc, (size_t)n, "x", &j, &e), 0);
    assert_int_equal((unsigned char)j->child->valuestring[1], c);
    cJSON_Delete(j);
  }
  /* A raw NUL byte anywhere, and grammar cJSON would take. */
  static const struct {
    const char *doc;
    size_t len;
    const char *why;
  } bad[] = {
      {"[\"a\0b\"]", 7, "NUL byte"},
      {"[1,\0 2]", 7, "NUL byte"},
      {"[1]\0", 4, "a NUL byte"},
      {"[01]", 4, "expected ','"},
      {"[1.]", 4, "expected ','"},
      {"[-]", 3, "unexpected character"},
      {"[+1]", 4, "unexpected character"},
      {"[\"\\ud800\"]", 10, "high surrogate without its low half"},
      {"[\"\\udc00\"]", 10, "lone low surrogate"},
      {"[\"\\x\"]", 6, "unknown escape"},
      {"{\"a\" 1}", 7, "expected ':'"},
      {"", 0, "ends where a value should be"},
      {"[1] [2]", 7, "text after the JSON value"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) json_bad(bad[i].doc, bad[i].len, bad[i].why);
  char num[80] = "[";
  memset(num + 1, '1', 70);
  strcpy(num + 71, "]");
  json_bad(num, strlen(num), "more than 63 characters");
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  json_bad(deep, 1200, "nested too deep");
  /* Line and column of the fault. */
  hp_err_t e = {0};
  cJSON *j = NULL;
  assert_int_equal(hp_json_parse("{\n \"a\": \"\x80\"}", 12, "spec.json", &j, &e), HP_EFORMAT);
  assert_string_equal(e.msg, "spec.json: malformed JSON at line 2 column 8 (in a): bytes that are not "
                             "valid UTF-8");

  /* \u0000 in a value or a key, and numbers beyond a double: refused by field. */
  json_refused("{\"params\": {\"name\": \"a\\u0000b\"}}",
               "request: params.name: contains a NUL character (\\u0000)");
  json_refused("{\"method\": \"daemon.status\\u0000x\"}",
               "request: method: contains a NUL character (\\u0000)");
  json_refused("{\"p\": {\"a\\u0000b\": 1}}", "request: p: a key contains a NUL character (\\u0000)");
  json_refused("\"\\u0000\"", "request: contains a NUL character (\\u0000)");
  json_refused("{\"a\": [1, {\"v\": 1e400}]}",
               "request: a[1].v: 1e400 is beyond the range of a double (about 1.8e308)");
  json_refused("{\"v\": -1e999}",
               "request: v: -1e999 is beyond the range of a double (about 1.8e308)");
  /* The flawed variant keeps the tree and says where. */
  hp_json_flaw_t flaw;
  const char *req = "{\"id\": 1e400, \"params\": {\"study\": \"other\\u0000x\"}}";
  assert_int_equal(hp_json_parse_flawed(req, strlen(req), "r", &j, &flaw, &e), 0);
  assert_non_null(j);
  assert_string_equal(flaw.path, "id"); /* the first one */
  assert_int_equal(flaw.err.code, HP_EINVAL);
  cJSON_Delete(j);
  req = "{\"id\": 7}";
  assert_int_equal(hp_json_parse_flawed(req, strlen(req), "r", &j, &flaw, &e), 0);
  assert_int_equal(flaw.err.code, 0);
  cJSON_Delete(j);
  /* Underflow reads as 0; what is valid stays valid (UTF-8, escapes, BOM). */
  const char *ok = "\xef\xbb\xbf{\"x\": 1e-400, \"\xc3\xa9\": \"\\ud83d\\ude00 \xf0\x9f\x98\x80\\/\"}";
  assert_int_equal(hp_json_parse(ok, strlen(ok), "x", &j, &e), 0);
  assert_true(j->child->valuedouble == 0);
  assert_string_equal(j->child->next->valuestring, "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80/");
  cJSON_Delete(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_err_names),
      cmocka_unit_test(test_rng_deterministic_and_uniform),
      cmocka_unit_test(test_json_validation),
      cmocka_unit_test(test_num_format_round_trip),
      cmocka_unit_test(test_num_parse_spellings),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_json_strict_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

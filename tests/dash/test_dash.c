/* The dashboard's pure parts (dash/): reading request targets (routes,
 * methods, query arguments, traversal), the token helpers, the page
 * assembly for reports, and the committed fuzz corpus of the request
 * reader. The server itself is tested in a real browser (tests/browser/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define HP_FUZZ_REPLAY 1
#include "../fuzz/fuzz_dash_request.c"
#include "../fuzz/replay.h"

static int parse(const char *method, const char *target, hp_dash_req_t *q, int *status,
                 hp_err_t *err) {
  return hp_dash_request_parse(method, target, strlen(target), q, status, err);
}

static void test_routes(void **state) {
  (void)state;
  hp_dash_req_t q;
  hp_err_t err = {0};
  int status;
  assert_int_equal(parse("GET", "/", &q, &status, &err), 0);
  assert_int_equal(q.route, HP_DASH_PAGE);
  assert_int_equal(parse("GET", "/?token=abc", &q, &status, &err), 0);
  assert_string_equal(q.token, "abc");
  assert_int_equal(parse("GET", "/api/studies", &q, &status, &err), 0);
  assert_int_equal(q.route, HP_DASH_STUDIES);
  assert_int_equal(parse("GET", "/api/columns?study=a%20b+c&from=12", &q, &status, &err), 0);
  assert_int_equal(q.route, HP_DASH_COLUMNS);
  assert_string_equal(q.study, "a b c");
  assert_int_equal(q.from, 12);
  assert_int_equal(parse("GET", "/api/events?since=0", &q, &status, &err), 0);
  assert_int_equal(q.since, 0);
  assert_int_equal(parse("GET", "/api/events", &q, &status, &err), 0);
  assert_int_equal(q.since, -1);
  assert_int_equal(parse("POST", "/api/action?study=s&do=resume", &q, &status, &err), 0);
  assert_int_equal(q.action, HP_DASH_ACT_RESUME);
  assert_int_equal(parse("GET", "/api/study?study=%C3%A9t%C3%A9&&", &q, &status, &err), 0);
  assert_string_equal(q.study, "\xc3\xa9t\xc3\xa9");
}

/* Each refused target with the status it gets and a word of its message. */
static void test_refusals(void **state) {
  (void)state;
  static const struct {
    const char *method, *target;
    int status;
    const char *says;
  } cases[] = {
      {"GET", "/nope", 404, "no such page"},
      {"GET", "/api/studies/", 404, "no such page"},
      {"GET", "/../etc/passwd", 400, "traversal"},
      {"GET", "/api/../etc/passwd", 400, "traversal"},
      {"GET", "/api/%2e%2e/x", 400, "traversal"},
      {"GET", "/api%2fstudies", 400, "traversal"},
      {"GET", "/a\\b", 400, "traversal"},
      {"GET", "/./", 400, "traversal"},
      {"GET", "/api/st%00udies", 400, "traversal"},
      {"GET", "api/studies", 400, "start with"},
      {"POST", "/api/studies", 405, "GET only"},
      {"GET", "/api/action?study=s&do=stop", 405, "POST only"},
      {"GET", "/api/study", 400, "study: missing"},
      {"GET", "/api/study?study=", 400, "study: empty"},
      {"GET", "/api/study?study=%ff", 400, "not valid UTF-8"},
      {"GET", "/api/study?study=%C0%AF", 400, "not valid UTF-8"},
      {"GET", "/api/study?study=a%0Ab", 400, "control character"},
      {"GET", "/api/study?study=a&study=b", 400, "given twice"},
      {"GET", "/api/study?study=a%", 400, "%-escape"},
      {"GET", "/api/study?study=%zz", 400, "%-escape"},
      {"GET", "/api/study?x=1", 400, "unknown argument"},
      {"GET", "/api/studies?study=a", 400, "unknown argument"},
      {"GET", "/api/columns?study=a&from=-1", 400, "trial number"},
      {"GET", "/api/columns?study=a&from=1e3", 400, "trial number"},
      {"GET", "/api/columns?study=a&from=9999999999999999", 400, "trial number"},
      {"GET", "/api/events?since=x", 400, "event number"},
      {"POST", "/api/action?study=s", 400, "do: missing"},
      {"POST", "/api/action?study=s&do=kill", 400, "stop, resume or enqueue"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hp_dash_req_t q;
    hp_err_t err = {0};
    int status = 0;
    int rc = parse(cases[i].method, cases[i].target, &q, &status, &err);
    if (rc == 0 || status != cases[i].status || strstr(err.msg, cases[i].says) == NULL)
      fail_msg("%s %s: rc %d, status %d, '%s' (expected %d, '%s')", cases[i].method,
               cases[i].target, rc, status, err.msg, cases[i].status, cases[i].says);
  }
  /* a study name over 512 bytes; a target over 8 KiB */
  char t[9000];
  int n = snprintf(t, sizeof t, "/api/study?study=");
  memset(t + n, 'a', 513);
  t[n + 513] = '\0';
  hp_dash_req_t q;
  hp_err_t err = {0};
  int status;
  assert_true(parse("GET", t, &q, &status, &err) < 0);
  assert_int_equal(status, 400);
  memset(t + n, 'a', sizeof t - n - 1);
  t[sizeof t - 1] = '\0';
  assert_true(parse("GET", t, &q, &status, &err) < 0);
  assert_int_equal(status, 414);
  t[n + 512] = '\0';
  assert_int_equal(parse("GET", t, &q, &status, &err), 0);
  assert_int_equal(strlen(q.study), 512);
}

static void test_token(void **state) {
  (void)state;
  char a[HP_DASH_TOKEN_LEN + 1], b[HP_DASH_TOKEN_LEN + 1];
  assert_int_equal(hp_dash_token_new(a, NULL), 0);
  assert_int_equal(hp_dash_token_new(b, NULL), 0);
  assert_int_equal(strlen(a), HP_DASH_TOKEN_LEN);
  assert_int_equal(strspn(a, "0123456789abcdef"), HP_DASH_TOKEN_LEN);
  assert_string_not_equal(a, b);
  assert_true(hp_dash_token_equal(a, a));
  assert_false(hp_dash_token_equal(b, a));
  assert_false(hp_dash_token_equal("", a));
  char shorter[HP_DASH_TOKEN_LEN + 1];
  memcpy(shorter, a, HP_DASH_TOKEN_LEN - 1);
  shorter[HP_DASH_TOKEN_LEN - 1] = '\0';
  assert_false(hp_dash_token_equal(shorter, a));
  assert_false(hp_dash_token_equal("", ""));
}

/* The Host header (DNS rebinding): the printed address, localhost, or on a
 * wildcard listener an IP literal, always with the right port. */
static void test_host(void **state) {
  (void)state;
  assert_true(hp_dash_host_ok("127.0.0.1:8080", "127.0.0.1", 8080, false));
  assert_true(hp_dash_host_ok("localhost:8080", "127.0.0.1", 8080, false));
  assert_true(hp_dash_host_ok("LocalHost:8080", "127.0.0.1", 8080, false));
  assert_true(hp_dash_host_ok("[::1]:8080", "[::1]", 8080, false));
  assert_true(hp_dash_host_ok(NULL, "127.0.0.1", 8080, false));
  assert_true(hp_dash_host_ok("127.0.0.1", "127.0.0.1", 80, false)); /* no port: 80 */
  assert_false(hp_dash_host_ok("127.0.0.1", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("evil.example:8080", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("127.0.0.1.evil.example:8080", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("localhost.evil.example:8080", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("127.0.0.1:8081", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("127.0.0.1:08080x", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("127.0.0.1:", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok(":8080", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("", "127.0.0.1", 8080, false));
  assert_false(hp_dash_host_ok("10.0.0.5:8080", "127.0.0.1", 8080, false));
  /* listening on every address: IP literals pass, names other than localhost do not */
  assert_true(hp_dash_host_ok("10.0.0.5:8080", "0.0.0.0", 8080, true));
  assert_true(hp_dash_host_ok("[fe80::1]:8080", "[::]", 8080, true));
  assert_false(hp_dash_host_ok("myhost.lan:8080", "0.0.0.0", 8080, true));
  assert_false(hp_dash_host_ok("[fe80::1:8080", "[::]", 8080, true));
}

/* The report page: one HTML text with the script and style inline, the data
 * in its element with every '<' escaped, nothing that loads from elsewhere. */
static void test_page(void **state) {
  (void)state;
  const char *data = "{\"study\":{\"name\":\"</script><script>alert(1)</script>\"}}";
  size_t len;
  char *page = hp_dash_page(data, strlen(data), &len);
  assert_non_null(page);
  assert_int_equal(strlen(page), len);
  assert_null(strstr(page, "@@"));
  assert_non_null(strstr(page, "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"));
  assert_null(strstr(page, "alert(1)</script>"));
  /* one element of each kind: the data, the script */
  const char *d = strstr(page, "<script type=\"application/json\" id=\"hp-data\">");
  assert_non_null(d);
  assert_non_null(strstr(page, hp_dash_js));
  assert_non_null(strstr(page, hp_dash_css));
  assert_null(strstr(hp_dash_js, "</script"));
  assert_null(strstr(page, "http://"));
  assert_null(strstr(page, "https://"));
  free(page);
  page = hp_dash_page(NULL, 0, &len);
  assert_non_null(page);
  assert_non_null(strstr(page, "id=\"hp-data\"></script>"));
  free(page);
}

static void test_request_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("dash_request", fuzz_dash_request) >= 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes), cmocka_unit_test(test_refusals), cmocka_unit_test(test_token),
      cmocka_unit_test(test_host),
      cmocka_unit_test(test_page), cmocka_unit_test(test_request_corpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

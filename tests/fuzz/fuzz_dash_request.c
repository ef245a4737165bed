/* Fuzz harness for the dashboard's reading of a request target
 * (hp_dash_request_parse, dash/request.c): the path and query string of
 * every HTTP request `hpsearch dashboard` gets, before the token check.
 * Input: the method, a newline, then the raw target (any bytes). A refusal
 * must come with an HTTP status of 400/404/405/414 and a message; what is
 * accepted must be clean (a study name of valid UTF-8 without control
 * characters, at most 512 bytes; a token of at most 64 bytes) and read the
 * same when written back as a target. */
#include "fuzz.h"
#include "hpsearch/dash.h"

static void put_escaped(char *out, size_t *o, const char *s) {
  static const char HEX[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    out[(*o)++] = '%';
    out[(*o)++] = HEX[*p >> 4];
    out[(*o)++] = HEX[*p & 15];
  }
}

int fuzz_dash_request(const uint8_t *data, size_t size);
int fuzz_dash_request(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t ml = nl ? (size_t)(nl - data) : 0;
  char method[16];
  snprintf(method, sizeof method, "%.*s", (int)(ml < 15 ? ml : 15), (const char *)data);
  const uint8_t *t = nl ? nl + 1 : data;
  size_t tl = size - (size_t)(t - data);
  char *target = hp_fuzz_dup(t, tl, 0);
  hp_dash_req_t q;
  hp_err_t err = {0};
  int status = 0;
  int rc = hp_dash_request_parse(method, target, tl, &q, &status, &err);
  free(target);
  if (rc < 0) {
    HP_FUZZ_CHECK(status == 400 || status == 404 || status == 405 || status == 414,
                  "refused with status %d", status);
    HP_FUZZ_CHECK(err.msg[0] != '\0', "refusal %d without a message", rc);
    return 0;
  }
  HP_FUZZ_CHECK(status == 200, "accepted with status %d", status);
  HP_FUZZ_CHECK(q.route >= 0 && q.route < HP_DASH_NROUTES, "route %d", (int)q.route);
  HP_FUZZ_CHECK(strlen(q.study) <= HP_DASH_NAME_MAX, "study of %zu bytes", strlen(q.study));
  HP_FUZZ_CHECK(hp_fuzz_utf8_valid(q.study), "study not UTF-8");
  for (const char *p = q.study; *p; p++)
    HP_FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control character in study");
  HP_FUZZ_CHECK(strlen(q.token) <= HP_DASH_TOKEN_LEN, "token of %zu bytes", strlen(q.token));
  HP_FUZZ_CHECK(q.from >= 0, "from %lld", (long long)q.from);
  /* Written back (every byte escaped) it reads the same. */
  static const char *const PATHS[HP_DASH_NROUTES] = {"/", "/api/studies", "/api/study", "/api/columns",
                                                     "/api/events", "/api/action", "/favicon.ico",
                                                     "/api/importance", "/api/advise"};
  static char again[3 * (HP_DASH_NAME_MAX + HP_DASH_TOKEN_LEN) + 200];
  size_t o = (size_t)snprintf(again, sizeof again, "%s?", PATHS[q.route]);
  if (q.has_study) {
    o += (size_t)snprintf(again + o, sizeof again - o, "study=");
    put_escaped(again, &o, q.study);
    again[o++] = '&';
  }
  if (q.token[0]) {
    o += (size_t)snprintf(again + o, sizeof again - o, "token=");
    put_escaped(again, &o, q.token);
    again[o++] = '&';
  }
  if (q.route == HP_DASH_COLUMNS) o += (size_t)snprintf(again + o, sizeof again - o, "from=%lld&", (long long)q.from);
  if (q.route == HP_DASH_EVENTS && q.since >= 0)
    o += (size_t)snprintf(again + o, sizeof again - o, "since=%lld&", (long long)q.since);
  if (q.fanova) o += (size_t)snprintf(again + o, sizeof again - o, "evaluator=fanova&");
  if (q.action != HP_DASH_ACT_NONE)
    o += (size_t)snprintf(again + o, sizeof again - o, "do=%s",
                          q.action == HP_DASH_ACT_STOP ? "stop" : q.action == HP_DASH_ACT_RESUME ? "resume" : "enqueue");
  hp_dash_req_t r;
  rc = hp_dash_request_parse(method, again, o, &r, &status, &err);
  HP_FUZZ_CHECK(rc == 0, "written back and refused: %s: %.*s", err.msg, (int)o, again);
  HP_FUZZ_CHECK(r.route == q.route && strcmp(r.study, q.study) == 0 && strcmp(r.token, q.token) == 0 &&
                r.from == q.from && r.since == q.since && r.action == q.action && r.fanova == q.fanova,
                "written back and read differently: %.*s", (int)o, again);
  return 0;
}

HP_FUZZ_MAIN(fuzz_dash_request)

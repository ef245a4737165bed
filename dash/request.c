/* The dashboard's reading of a request target (include/hpsearch/dash.h):
 * route by exact path, query arguments percent-decoded and checked (UTF-8,
 * no control characters, known keys only, each at most once, bounded), and
 * the token and Host header helpers. Pure functions: fuzzed by tests/fuzz/fuzz_dash_request.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "hpsearch/dash.h"
#include "hpsearch/utf8.h"

typedef struct route_row {
  const char *path;   /* exact raw path */
  const char *method; /* "GET" or "POST" */
  hp_dash_route_t route;
  const char *keys;   /* allowed query keys, space-separated ("token" always) */
} route_row_t;

static const route_row_t ROUTES[] = {
    {"/", "GET", HP_DASH_PAGE, ""},
    {"/index.html", "GET", HP_DASH_PAGE, ""},
    {"/api/studies", "GET", HP_DASH_STUDIES, ""},
    {"/api/study", "GET", HP_DASH_STUDY, "study"},
    {"/api/columns", "GET", HP_DASH_COLUMNS, "study from"},
    {"/api/events", "GET", HP_DASH_EVENTS, "since"},
    {"/api/action", "POST", HP_DASH_ACTION, "study do"},
    {"/favicon.ico", "GET", HP_DASH_FAVICON, ""},
    {"/api/importance", "GET", HP_DASH_IMPORTANCE, "study evaluator"},
    {"/api/advise", "GET", HP_DASH_ADVISE, "study"},
};

static int fail(int *status, int code, hp_err_t *err, int http, const char *fmt, const char *what) {
  *status = http;
  return hp_err_set(err, code, fmt, what);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes incl. NUL; '+' is a space, as
 * browsers encode forms). -1 on a bad escape, -2 when it does not fit. */
static long decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = (char)(h * 16 + l);
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (o + 1 >= cap) return -2;
    out[o++] = c;
  }
  out[o] = '\0';
  return (long)o;
}

/* Whether key (n bytes) is a word of the space-separated list. */
static bool key_allowed(const char *list, const char *key, size_t n) {
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ' ');
    size_t wl = e ? (size_t)(e - p) : strlen(p);
    if (wl == n && memcmp(p, key, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

/* A non-negative decimal of at most 15 digits (below 2^53). */
static bool read_count(const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 15) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* Paths that try to leave the root: dot segments (raw or escaped), back
 * slashes, escaped slashes, NUL. Answered 400 instead of 404 so a probe
 * learns nothing but that it was refused. */
static bool traversal(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\' || p[i] == '\0') return true;
    if (p[i] == '%' && i + 2 < n) {
      char a = p[i + 1], b = p[i + 2];
      if (a == '2' && (b == 'e' || b == 'E' || b == 'f' || b == 'F')) return true;
      if (a == '5' && (b == 'c' || b == 'C')) return true;
      if (a == '0' && b == '0') return true;
    }
    if (p[i] == '.' && (i == 0 || p[i - 1] == '/')) {
      size_t j = i + 1;
      if (j < n && p[j] == '.') j++;
      if (j == n || p[j] == '/') return true;
    }
  }
  return false;
}

int hp_dash_request_parse(const char *method, const char *target, size_t len,
                          hp_dash_req_t *out, int *status, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  out->since = -1;
  *status = 200;
  if (target == NULL || len == 0) return fail(status, HP_EFORMAT, err, 400, "empty request target%s", "");
  if (len > HP_DASH_TARGET_MAX)
    return fail(status, HP_ETOOBIG, err, 414, "request target over %s bytes", "8192");
  const char *q = memchr(target, '?', len);
  size_t plen = q ? (size_t)(q - target) : len;
  if (target[0] != '/') return fail(status, HP_EFORMAT, err, 400, "request target must start with '/'%s", "");
  if (traversal(target, plen)) return fail(status, HP_EFORMAT, err, 400, "path traversal refused%s", "");
  const route_row_t *row = NULL;
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
    if (strlen(ROUTES[i].path) == plen && memcmp(ROUTES[i].path, target, plen) == 0) {
      row = &ROUTES[i];
      break;
    }
  if (row == NULL) return fail(status, HP_ENOTFOUND, err, 404, "no such page%s", "");
  if (method == NULL || strcmp(method, row->method) != 0) {
    *status = 405;
    return hp_err_set(err, HP_EINVAL, "%s takes %s only", row->path, row->method);
  }
  out->route = row->route;
  const char *p = q ? q + 1 : target + len, *end = target + len;
  unsigned seen = 0; /* bit per key: study from since do token evaluator */
  static const char *const KEYS[] = {"study", "from", "since", "do", "token", "evaluator"};
  char val[HP_DASH_NAME_MAX * 3 + 1];
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    if (pe == p) { /* empty pair ("a=1&&b=2", a trailing '&') */
      p = pe + 1;
      continue;
    }
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    const char *ke = eq ? eq : pe;
    char key[16];
    long kl = decode(p, (size_t)(ke - p), key, sizeof key);
    if (kl == -1) return fail(status, HP_EFORMAT, err, 400, "query: a key has a bad %%-escape%s", "");
    int k = -1;
    for (int i = 0; kl >= 0 && i < 6; i++)
      if ((size_t)kl == strlen(KEYS[i]) && memcmp(key, KEYS[i], (size_t)kl) == 0) k = i;
    if (k < 0 || (k != 4 && !key_allowed(row->keys, key, (size_t)kl))) {
      *status = 400;
      char shown[40];
      hp_utf8_clean(shown, sizeof shown, p, (size_t)(ke - p) < 32 ? (size_t)(ke - p) : 32);
      return hp_err_set(err, HP_EINVAL, "query: unknown argument '%s' for %s", shown, row->path);
    }
    if (seen & (1u << k)) return fail(status, HP_EINVAL, err, 400, "query: %s given twice", KEYS[k]);
    seen |= 1u << k;
    const char *vs = eq ? eq + 1 : pe;
    long vl = decode(vs, (size_t)(pe - vs), val, sizeof val);
    if (vl == -1) return fail(status, HP_EFORMAT, err, 400, "query: %s: bad %%-escape", KEYS[k]);
    if (vl == -2 || (k == 0 && vl > HP_DASH_NAME_MAX))
      return fail(status, HP_ETOOBIG, err, 400, "query: %s: too long", KEYS[k]);
    if (hp_utf8_check(val, (size_t)vl) != (size_t)vl)
      return fail(status, HP_EFORMAT, err, 400, "query: %s: not valid UTF-8", KEYS[k]);
    for (long i = 0; i < vl; i++)
      if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
        return fail(status, HP_EFORMAT, err, 400, "query: %s: holds a control character", KEYS[k]);
    switch (k) {
    case 0:
      if (vl == 0) return fail(status, HP_EINVAL, err, 400, "query: %s: empty", "study");
      memcpy(out->study, val, (size_t)vl + 1);
      out->has_study = true;
      break;
    case 1:
      if (!read_count(val, &out->from))
        return fail(status, HP_EINVAL, err, 400, "query: %s: expected a trial number", "from");
      break;
    case 2:
      if (!read_count(val, &out->since))
        return fail(status, HP_EINVAL, err, 400, "query: %s: expected an event number", "since");
      break;
    case 3:
      if (strcmp(val, "stop") == 0) out->action = HP_DASH_ACT_STOP;
      else if (strcmp(val, "resume") == 0) out->action = HP_DASH_ACT_RESUME;
      else if (strcmp(val, "enqueue") == 0) out->action = HP_DASH_ACT_ENQUEUE;
      else return fail(status, HP_EINVAL, err, 400, "query: %s: expected stop, resume or enqueue", "do");
      break;
    case 4:
      if (vl > HP_DASH_TOKEN_LEN) return fail(status, HP_EINVAL, err, 400, "query: %s: too long", "token");
      memcpy(out->token, val, (size_t)vl + 1);
      break;
    case 5:
      if (strcmp(val, "fanova") == 0) out->fanova = true;
      else if (strcmp(val, "ped-anova") != 0)
        return fail(status, HP_EINVAL, err, 400, "query: %s: expected ped-anova or fanova", "evaluator");
      break;
    }
    p = pe + 1;
  }
  if ((out->route == HP_DASH_STUDY || out->route == HP_DASH_COLUMNS || out->route == HP_DASH_ACTION ||
       out->route == HP_DASH_IMPORTANCE || out->route == HP_DASH_ADVISE) &&
      !out->has_study)
    return fail(status, HP_EINVAL, err, 400, "query: %s: missing", "study");
  if (out->route == HP_DASH_ACTION && out->action == HP_DASH_ACT_NONE)
    return fail(status, HP_EINVAL, err, 400, "query: %s: missing", "do");
  return 0;
}

bool hp_dash_token_equal(const char *given, const char *expected) {
  /* The length is no secret (always HP_DASH_TOKEN_LEN); the bytes are
   * compared without an early exit. */
  size_t n = strlen(expected);
  if (n == 0 || strlen(given) != n) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(given[i] ^ expected[i]);
  return diff == 0;
}

/* Whether text[0..n) is an IP address literal: dotted IPv4 or [IPv6]. */
static bool ip_literal(const char *t, size_t n) {
  char buf[64];
  if (n == 0 || n >= sizeof buf) return false;
  unsigned char a[16];
  if (t[0] == '[') {
    if (n < 3 || t[n - 1] != ']') return false;
    memcpy(buf, t + 1, n - 2);
    buf[n - 2] = '\0';
    return inet_pton(AF_INET6, buf, a) == 1;
  }
  memcpy(buf, t, n);
  buf[n] = '\0';
  return inet_pton(AF_INET, buf, a) == 1;
}

bool hp_dash_host_ok(const char *host, const char *bound, unsigned port, bool wildcard) {
  if (host == NULL) return true; /* HTTP/1.0 without one: no browser */
  size_t n = strlen(host);
  /* split off ":PORT" (after the "]" of an IPv6 literal); none means 80 */
  const char *colon = NULL;
  for (const char *p = host + n; p > host; p--) {
    if (p[-1] == ']') break;
    if (p[-1] == ':') {
      colon = p - 1;
      break;
    }
  }
  unsigned long given = 80;
  if (colon != NULL) {
    char *end;
    if (colon[1] == '\0' || colon[1] == '+' || colon[1] == '-') return false;
    given = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || given > 65535) return false;
    n = (size_t)(colon - host);
  }
  if (given != port || n == 0) return false;
  if (strlen(bound) == n && strncasecmp(host, bound, n) == 0) return true;
  if (n == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
  return wildcard && ip_literal(host, n);
}

int hp_dash_token_new(char out[HP_DASH_TOKEN_LEN + 1], hp_err_t *err) {
  unsigned char raw[HP_DASH_TOKEN_LEN / 2];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return hp_err_set(err, -errno, "getrandom: %s", strerror(errno));
    got += (size_t)r;
  }
  static const char HEX[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof raw; i++) {
    out[2 * i] = HEX[raw[i] >> 4];
    out[2 * i + 1] = HEX[raw[i] & 15];
  }
  out[HP_DASH_TOKEN_LEN] = '\0';
  return 0;
}

/* Validated reading of JSON documents (see hpsearch/json.h). */
#include "hpsearch/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/num.h"
#include "hpsearch/utf8.h"

const char *hp_json_type_name(const cJSON *item) {
  if (item == NULL) return "missing";
  if (cJSON_IsNull(item)) return "null";
  if (cJSON_IsBool(item)) return "boolean";
  if (cJSON_IsNumber(item)) return "number";
  if (cJSON_IsString(item)) return "string";
  if (cJSON_IsArray(item)) return "array";
  if (cJSON_IsObject(item)) return "object";
  return "invalid";
}

/* ---- the strict scan before cJSON ---------------------------------------------
 * cJSON takes bytes that are not UTF-8 and raw control characters inside
 * strings, cuts a string at an escaped \u0000 (a key or name "a\u0000b"
 * would read as "a"), reads 1e400 as infinity and takes "01" or "-" as
 * numbers. One pass over the raw bytes first checks the whole of RFC 8259
 * plus well-formed UTF-8, and finds the first string with \u0000 and the
 * first number beyond a double's range, with the path of where they are. */

#define SCAN_DEPTH_MAX 512 /* below cJSON's own nesting limit (1000) */
#define SCAN_PATH_MAX 256

typedef struct scan {
  const char *s;              /* the document */
  size_t len;                 /* its length */
  size_t i;                   /* next byte */
  int depth;                  /* open arrays and objects */
  const char *bad;            /* why the document is malformed, or NULL */
  size_t bad_at;              /* where (byte offset) */
  char bad_path[SCAN_PATH_MAX]; /* and in which value */
  char path[SCAN_PATH_MAX];   /* location of the value being read */
  size_t plen;                /* strlen(path) */
  hp_json_flaw_t *flaw;       /* the first refused value (flaw->path[0] set once found) */
  bool flawed;                /* a flaw was recorded */
} scan_t;

static int scan_fail(scan_t *sc, size_t at, const char *why) {
  if (sc->bad == NULL) {
    if (at < sc->len && sc->s[at] == '\0') why = "a NUL byte";
    sc->bad = why, sc->bad_at = at;
    memcpy(sc->bad_path, sc->path, sc->plen + 1);
  }
  return -1;
}

static void skip_ws(scan_t *sc) {
  while (sc->i < sc->len) {
    char c = sc->s[sc->i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    sc->i++;
  }
}

/* Records the first flaw: msg is formatted after the path ("params.x: msg"). */
static void scan_flaw(scan_t *sc, const char *msg) {
  if (sc->flawed) return;
  sc->flawed = true;
  snprintf(sc->flaw->path, sizeof sc->flaw->path, "%s", sc->path);
  hp_err_set(&sc->flaw->err, HP_EINVAL, "%s%s%s", sc->path, sc->plen ? ": " : "", msg);
}

static int hex4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return 0;
}

/* A string starting at the quote; *has_nul says whether it holds \u0000. */
static int scan_string(scan_t *sc, bool *has_nul) {
  *has_nul = false;
  size_t i = sc->i + 1;
  while (i < sc->len) {
    unsigned char c = (unsigned char)sc->s[i];
    if (c == '"') {
      sc->i = i + 1;
      return 0;
    }
    if (c == '\0') return scan_fail(sc, i, "a NUL byte inside a string");
    if (c < 0x20) return scan_fail(sc, i, "a raw control character inside a string (escape it)");
    if (c == '\\') {
      if (i + 1 >= sc->len) break;
      char e = sc->s[i + 1];
      if (e == 'u') {
        uint32_t u, lo;
        if (i + 6 > sc->len || hex4(sc->s + i + 2, &u) < 0)
          return scan_fail(sc, i, "a \\u escape without four hex digits");
        i += 6;
        if (u == 0) *has_nul = true;
        if (u >= 0xdc00 && u <= 0xdfff)
          return scan_fail(sc, i - 6, "a \\u escape of a lone low surrogate");
        if (u >= 0xd800 && u <= 0xdbff) {
          if (i + 6 > sc->len || sc->s[i] != '\\' || sc->s[i + 1] != 'u' ||
              hex4(sc->s + i + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return scan_fail(sc, i - 6, "a \\u escape of a high surrogate without its low half");
          i += 6;
        }
        continue;
      }
      if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
        return scan_fail(sc, i, "an unknown escape in a string");
      i += 2;
      continue;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    int n = hp_utf8_char(sc->s + i, sc->len - i, &cp);
    if (n == 0) return scan_fail(sc, i, "bytes that are not valid UTF-8");
    i += (size_t)n;
  }
  return scan_fail(sc, sc->i, "a string without its closing quote");
}

static int scan_value(scan_t *sc);

/* Appends a path element (".key" or "[k]"; a key as written, cut to 64
 * bytes on a character boundary); returns the old length to restore. */
static size_t path_push(scan_t *sc, const char *key, size_t n, size_t k) {
  size_t old = sc->plen;
  char el[96];
  if (key != NULL) {
    char cut[72];
    size_t m = n < 64 ? n : 64;
    memcpy(cut, key, m);
    cut[m] = '\0';
    m = hp_utf8_prefix(cut, m);
    snprintf(el, sizeof el, "%s%.*s", old ? "." : "", (int)m, cut);
  } else {
    snprintf(el, sizeof el, "[%zu]", k);
  }
  size_t el_len = strlen(el);
  if (old + el_len < sizeof sc->path) {
    memcpy(sc->path + old, el, el_len + 1);
    sc->plen = old + el_len;
  }
  return old;
}

static void path_pop(scan_t *sc, size_t old) {
  sc->plen = old;
  sc->path[old] = '\0';
}

static int scan_container(scan_t *sc, bool object) {
  char close = object ? '}' : ']';
  if (++sc->depth > SCAN_DEPTH_MAX) return scan_fail(sc, sc->i, "arrays and objects nested too deep");
  sc->i++;
  skip_ws(sc);
  if (sc->i < sc->len && sc->s[sc->i] == close) {
    sc->i++;
    sc->depth--;
    return 0;
  }
  for (size_t k = 0;; k++) {
    size_t old;
    if (object) {
      skip_ws(sc);
      if (sc->i >= sc->len || sc->s[sc->i] != '"')
        return scan_fail(sc, sc->i, "expected a key in quotes");
      size_t key_at = sc->i;
      bool nul = false;
      if (scan_string(sc, &nul) < 0) return -1;
      if (nul) scan_flaw(sc, "a key contains a NUL character (\\u0000)");
      old = path_push(sc, sc->s + key_at + 1, sc->i - key_at - 2, 0);
      skip_ws(sc);
      if (sc->i >= sc->len || sc->s[sc->i] != ':')
        return scan_fail(sc, sc->i, "expected ':' after a key");
      sc->i++;
    } else {
      old = path_push(sc, NULL, 0, k);
    }
    if (scan_value(sc) < 0) return -1;
    path_pop(sc, old);
    skip_ws(sc);
    if (sc->i < sc->len && sc->s[sc->i] == ',') {
      sc->i++;
      continue;
    }
    if (sc->i < sc->len && sc->s[sc->i] == close) {
      sc->i++;
      sc->depth--;
      return 0;
    }
    return scan_fail(sc, sc->i, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int scan_value(scan_t *sc) {
  skip_ws(sc);
  if (sc->i >= sc->len) return scan_fail(sc, sc->i, "the text ends where a value should be");
  const char *p = sc->s + sc->i;
  size_t left = sc->len - sc->i;
  switch (*p) {
    case '{': return scan_container(sc, true);
    case '[': return scan_container(sc, false);
    case '"': {
      bool nul = false;
      if (scan_string(sc, &nul) < 0) return -1;
      if (nul) scan_flaw(sc, "contains a NUL character (\\u0000)");
      return 0;
    }
    case 't':
      if (left >= 4 && memcmp(p, "true", 4) == 0) return sc->i += 4, 0;
      break;
    case 'f':
      if (left >= 5 && memcmp(p, "false", 5) == 0) return sc->i += 5, 0;
      break;
    case 'n':
      if (left >= 4 && memcmp(p, "null", 4) == 0) return sc->i += 4, 0;
      break;
    default: break;
  }
  size_t n = hp_num_span(p, left, HP_NUM_STRICT);
  if (n == 0) {
    if (*p == '\0') return scan_fail(sc, sc->i, "a NUL byte");
    return scan_fail(sc, sc->i, (unsigned char)*p >= 0x80 ? "bytes that are not valid UTF-8"
                                                          : "an unexpected character");
  }
  if (n > HP_NUM_TEXT_MAX) return scan_fail(sc, sc->i, "a number of more than 63 characters");
  double v;
  hp_err_t e = {0};
  if (hp_num_parse(p, n, HP_NUM_STRICT, &v, "", &e) < 0) {
    char num[HP_NUM_TEXT_MAX + 1];
    memcpy(num, p, n);
    num[n] = '\0';
    char msg[160];
    snprintf(msg, sizeof msg, "%s is beyond the range of a double (about 1.8e308)", num);
    scan_flaw(sc, msg);
  }
  sc->i += n;
  return 0;
}

int hp_json_parse_flawed(const char *buf, size_t len, const char *what, cJSON **out,
                         hp_json_flaw_t *flaw, hp_err_t *err) {
  *out = NULL;
  hp_json_flaw_t own = {0};
  scan_t sc = {.s = buf, .len = len, .flaw = flaw ? flaw : &own};
  sc.flaw->path[0] = '\0';
  hp_err_clear(&sc.flaw->err);
  /* A byte order mark at the start is skipped, as cJSON does. */
  if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) sc.i = 3;
  int rc = scan_value(&sc);
  if (rc == 0) {
    skip_ws(&sc);
    if (sc.i < len) scan_fail(&sc, sc.i, "text after the JSON value");
  }
  if (sc.bad != NULL) {
    int line = 1, col = 1;
    for (size_t i = 0; i < sc.bad_at && i < len; i++) {
      if (buf[i] == '\n') line++, col = 1;
      else col++;
    }
    return hp_err_set(err, HP_EFORMAT, "%s: malformed JSON at line %d column %d%s%s%s: %s", what,
                      line, col, sc.bad_path[0] ? " (in " : "", sc.bad_path,
                      sc.bad_path[0] ? ")" : "", sc.bad);
  }
  if (sc.flawed && flaw == NULL)
    return hp_err_set(err, HP_EINVAL, "%s: %s", what, own.err.msg);
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len, NULL, false);
  if (root == NULL) /* the scan takes nothing cJSON refuses; out of memory, then */
    return hp_err_set(err, HP_ENOMEM, "%s: out of memory reading JSON", what);
  *out = root;
  return 0;
}

int hp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, hp_err_t *err) {
  return hp_json_parse_flawed(buf, len, what, out, NULL, err);
}

int hp_json_parse_file(const char *path, cJSON **out, hp_err_t *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return hp_err_set(err, -errno, "%s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= HP_JSON_FILE_MAX) {
        rc = hp_err_set(err, HP_ETOOBIG, "%s: larger than %u bytes", path, HP_JSON_FILE_MAX);
        goto done;
      }
      cap = cap ? cap * 2 : 4096;
      char *nb = realloc(buf, cap + 1);
      if (nb == NULL) {
        rc = hp_err_set(err, HP_ENOMEM, "%s: out of memory", path);
        goto done;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  if (ferror(f)) {
    rc = hp_err_set(err, HP_EIO, "%s: read error", path);
    goto done;
  }
  buf[len] = '\0';
  rc = hp_json_parse(buf, len, path, out, err);
done:
  free(buf);
  fclose(f);
  return rc;
}

int hp_json_check_keys(const cJSON *obj, const char *const *allowed, const char *where,
                       hp_err_t *err) {
  if (!cJSON_IsObject(obj))
    return hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                      hp_json_type_name(obj));
  for (const cJSON *it = obj->child; it != NULL; it = it->next) {
    bool ok = false;
    for (const char *const *a = allowed; *a != NULL; a++)
      if (strcmp(*a, it->string) == 0) ok = true;
    if (!ok) return hp_err_set(err, HP_EINVAL, "%s: unknown key '%s'", where, it->string);
    /* Duplicate keys are ambiguous: refuse them too. */
    for (const cJSON *jt = it->next; jt != NULL; jt = jt->next)
      if (strcmp(jt->string, it->string) == 0)
        return hp_err_set(err, HP_EINVAL, "%s: duplicated key '%s'", where, it->string);
  }
  return 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice among obj's members, or NULL. Pairwise
 * for small objects; sorted for big ones, so a client's object with many
 * thousands of keys costs n log n, not n^2. */
static const char *first_duplicate(const cJSON *obj, bool *oom) {
  size_t n = 0;
  for (const cJSON *it = obj->child; it != NULL; it = it->next) n++;
  if (n <= 16) {
    for (const cJSON *it = obj->child; it != NULL; it = it->next)
      for (const cJSON *jt = it->next; jt != NULL; jt = jt->next)
        if (strcmp(it->string, jt->string) == 0) return it->string;
    return NULL;
  }
  const char **names = malloc(n * sizeof *names);
  if (names == NULL) {
    *oom = true;
    return NULL;
  }
  size_t i = 0;
  for (const cJSON *it = obj->child; it != NULL; it = it->next) names[i++] = it->string;
  qsort(names, n, sizeof *names, name_cmp);
  const char *dup = NULL;
  for (i = 1; i < n && dup == NULL; i++)
    if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
  free(names);
  return dup;
}

/* Depth-first over the tree; path holds the location of item (len bytes). */
static int check_unique_at(const cJSON *item, char *path, size_t len, size_t cap, hp_err_t *err) {
  if (!cJSON_IsObject(item) && !cJSON_IsArray(item)) return 0;
  if (cJSON_IsObject(item)) {
    bool oom = false;
    const char *dup = first_duplicate(item, &oom);
    if (oom) return hp_err_set(err, HP_ENOMEM, "%s: out of memory", len ? path : "JSON");
    if (dup != NULL)
      return len ? hp_err_set(err, HP_EINVAL, "%s: duplicated key '%.100s'", path, dup)
                 : hp_err_set(err, HP_EINVAL, "duplicated key '%.100s'", dup);
  }
  size_t k = 0;
  for (const cJSON *it = item->child; it != NULL; it = it->next, k++) {
    if (!cJSON_IsObject(it) && !cJSON_IsArray(it)) continue;
    int n = cJSON_IsObject(item) ? snprintf(path + len, cap - len, "%s%s", len ? "." : "", it->string)
                                 : snprintf(path + len, cap - len, "[%zu]", k);
    size_t sub = n < 0 ? len : len + (size_t)n < cap ? len + (size_t)n : cap - 1;
    int rc = check_unique_at(it, path, sub, cap, err);
    path[len] = '\0';
    if (rc < 0) return rc;
  }
  return 0;
}

int hp_json_check_unique(const cJSON *item, const char *where, hp_err_t *err) {
  char path[256];
  int n = snprintf(path, sizeof path, "%s", where ? where : "");
  size_t len = n < 0 ? 0 : (size_t)n < sizeof path ? (size_t)n : sizeof path - 1;
  return check_unique_at(item, path, len, sizeof path, err);
}

static const cJSON *lookup(const cJSON *obj, const char *key, bool required, const char *where,
                           hp_err_t *err, int *rc) {
  *rc = 0;
  const cJSON *it = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (it == NULL && required)
    *rc = hp_err_set(err, HP_EINVAL, "%s.%s: required but missing", where, key);
  return it;
}

int hp_json_get_number(const cJSON *obj, const char *key, bool required, double *out,
                       const char *where, hp_err_t *err) {
  int rc;
  const cJSON *it = lookup(obj, key, required, where, err, &rc);
  if (it == NULL) return rc;
  if (!cJSON_IsNumber(it))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected a number, got %s", where, key,
                      hp_json_type_name(it));
  if (!isfinite(it->valuedouble))
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be finite", where, key);
  *out = it->valuedouble;
  return 0;
}

int hp_json_get_int(const cJSON *obj, const char *key, bool required, long long min,
                    long long max, long long *out, const char *where, hp_err_t *err) {
  double d = 0;
  int rc;
  const cJSON *it = lookup(obj, key, required, where, err, &rc);
  if (it == NULL) return rc;
  if ((rc = hp_json_get_number(obj, key, true, &d, where, err)) != 0) return rc;
  if (d != floor(d))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected an integer, got %g", where, key, d);
  if (d < (double)min || d > (double)max)
    return hp_err_set(err, HP_EINVAL, "%s.%s: %g is out of range [%lld, %lld]", where, key, d,
                      min, max);
  *out = (long long)d;
  return 0;
}

int hp_json_value(const cJSON *item, unsigned flags, double *out, const char *field,
                  hp_err_t *err) {
  if (cJSON_IsNumber(item)) {
    *out = item->valuedouble;
    return 0;
  }
  if (!cJSON_IsString(item))
    return hp_err_set(err, HP_EINVAL, "%s: expected a number, got %s", field,
                      hp_json_type_name(item));
  double v = 0;
  const char *s = item->valuestring;
  int rc = hp_num_parse(s, strlen(s), flags, &v, field, err);
  if (rc == 0 && isfinite(v)) /* "0.5" in quotes: a string, not a number */
    rc = hp_err_set(err, HP_EINVAL, "%s: expected a number, got the string \"%.*s\"", field,
                    (int)hp_utf8_prefix(s, 40), s);
  if (rc == 0) *out = v;
  return rc;
}

int hp_json_get_value(const cJSON *obj, const char *key, bool required, unsigned flags,
                      double *out, const char *where, hp_err_t *err) {
  int rc;
  const cJSON *it = lookup(obj, key, required, where, err, &rc);
  if (it == NULL) return rc;
  char field[HP_ERR_MSG_MAX / 2];
  snprintf(field, sizeof field, "%s.%s", where, key);
  return hp_json_value(it, flags, out, field, err);
}

int hp_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                     const char *where, hp_err_t *err) {
  int rc;
  const cJSON *it = lookup(obj, key, required, where, err, &rc);
  if (it == NULL) return rc;
  if (!cJSON_IsBool(it))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected true or false, got %s", where, key,
                      hp_json_type_name(it));
  *out = cJSON_IsTrue(it);
  return 0;
}

int hp_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                       const char *where, hp_err_t *err) {
  int rc;
  const cJSON *it = lookup(obj, key, required, where, err, &rc);
  if (it == NULL) return rc;
  if (!cJSON_IsString(it))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected a string, got %s", where, key,
                      hp_json_type_name(it));
  *out = it->valuestring;
  return 0;
}

/* ---- text built in memory ----------------------------------------------------- */

static bool text_ok(const char *s) {
  size_t n = strlen(s);
  return hp_utf8_check(s, n) == n;
}

int hp_json_check_text(const cJSON *item, const char *where, hp_err_t *err) {
  if (cJSON_IsString(item) && !text_ok(item->valuestring))
    return hp_err_set(err, HP_EINVAL, "%s: not valid UTF-8", where);
  if (!cJSON_IsObject(item) && !cJSON_IsArray(item)) return 0;
  size_t k = 0;
  for (const cJSON *c = item->child; c != NULL; c = c->next, k++) {
    char sub[256];
    if (cJSON_IsObject(item)) {
      if (!text_ok(c->string))
        return hp_err_set(err, HP_EINVAL, "%s: a key is not valid UTF-8", where);
      snprintf(sub, sizeof sub, "%s.%.*s", where, (int)hp_utf8_prefix(c->string, 64), c->string);
    } else {
      snprintf(sub, sizeof sub, "%s[%zu]", where, k);
    }
    int rc = hp_json_check_text(c, sub, err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* ---- writing ------------------------------------------------------------------ */

size_t hp_json_quote(char *dst, const char *s, size_t len) {
  static const char HEX[] = "0123456789abcdef";
  size_t o = 0;
  dst[o++] = '"';
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      dst[o++] = (char)c;
      i++;
      continue;
    }
    if (c >= 0x80) {
      uint32_t cp;
      int n = hp_utf8_char(s + i, len - i, &cp);
      if (n == 0) { /* not UTF-8: never written as it is */
        memcpy(dst + o, "\xef\xbf\xbd", 3);
        o += 3;
        i++;
      } else {
        memcpy(dst + o, s + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
      }
      continue;
    }
    dst[o++] = '\\';
    switch (c) {
      case '"': dst[o++] = '"'; break;
      case '\\': dst[o++] = '\\'; break;
      case '\n': dst[o++] = 'n'; break;
      case '\r': dst[o++] = 'r'; break;
      case '\t': dst[o++] = 't'; break;
      case '\b': dst[o++] = 'b'; break;
      case '\f': dst[o++] = 'f'; break;
      default:
        memcpy(dst + o, "u00", 3);
        dst[o + 3] = HEX[c >> 4];
        dst[o + 4] = HEX[c & 15];
        o += 5;
    }
    i++;
  }
  dst[o++] = '"';
  dst[o] = '\0';
  return o;
}

typedef struct jout {
  char **buf;  /* the caller's buffer (grown with realloc) */
  size_t *cap; /* its size */
  size_t len;  /* bytes written */
  bool oom;    /* an allocation failed */
} jout_t;

static char *jout_room(jout_t *o, size_t n) {
  if (o->oom) return NULL;
  if (o->len + n + 1 > *o->cap) {
    size_t cap = *o->cap ? *o->cap : 256;
    while (cap < o->len + n + 1) cap *= 2;
    char *nb = realloc(*o->buf, cap);
    if (nb == NULL) {
      o->oom = true;
      return NULL;
    }
    *o->buf = nb;
    *o->cap = cap;
  }
  return *o->buf + o->len;
}

static void jout_put(jout_t *o, const char *s, size_t n) {
  char *p = jout_room(o, n);
  if (p == NULL) return;
  memcpy(p, s, n);
  o->len += n;
  p[n] = '\0';
}

static void jout_str(jout_t *o, const char *s) {
  size_t n = strlen(s);
  char *p = jout_room(o, 6 * n + 3);
  if (p != NULL) o->len += hp_json_quote(p, s, n);
}

static void jout_item(jout_t *o, const cJSON *it) {
  if (cJSON_IsNumber(it)) {
    char t[HP_NUM_MAX];
    jout_put(o, t, hp_num_format_json(it->valuedouble, t));
  } else if (cJSON_IsString(it)) {
    jout_str(o, it->valuestring);
  } else if (cJSON_IsRaw(it)) {
    jout_put(o, it->valuestring, strlen(it->valuestring));
  } else if (cJSON_IsTrue(it)) {
    jout_put(o, "true", 4);
  } else if (cJSON_IsFalse(it)) {
    jout_put(o, "false", 5);
  } else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
    bool obj = cJSON_IsObject(it);
    jout_put(o, obj ? "{" : "[", 1);
    for (const cJSON *c = it->child; c != NULL; c = c->next) {
      if (c != it->child) jout_put(o, ",", 1);
      if (obj) {
        jout_str(o, c->string ? c->string : "");
        jout_put(o, ":", 1);
      }
      jout_item(o, c);
    }
    jout_put(o, obj ? "}" : "]", 1);
  } else {
    jout_put(o, "null", 4);
  }
}

long hp_json_print_into(const cJSON *item, char **buf, size_t *cap) {
  jout_t o = {.buf = buf, .cap = cap};
  jout_item(&o, item);
  if (o.oom || jout_room(&o, 0) == NULL) return -1;
  (*buf)[o.len] = '\0';
  return (long)o.len;
}

char *hp_json_print(const cJSON *item) {
  char *buf = NULL;
  size_t cap = 0;
  if (hp_json_print_into(item, &buf, &cap) < 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

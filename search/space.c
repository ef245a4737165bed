/* Search spaces and distributions: validation with Optuna 3.1's rules,
 * conversion between internal doubles, external JSON values and Optuna's
 * distribution_json text (written byte for byte as Python's json.dumps
 * would), and the per-parameter grid lists used by the grid sampler. */
#include "hpsearch/space.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"

/* Integers are exact in a double only up to 2^53. */
#define INT_LIMIT 9007199254740992.0

/* ---- small growable string buffer -------------------------------------- */

typedef struct sbuf {
  char *p;    /* NUL-terminated text, owned */
  size_t n;   /* bytes used (without NUL) */
  size_t cap; /* bytes allocated */
  bool oom;   /* an append failed; the text is incomplete */
} sbuf_t;

static void sb_putn(sbuf_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s) { sb_putn(b, s, strlen(s)); }

/* Returns the text (caller frees) or NULL if an append failed. */
static char *sb_take(sbuf_t *b) {
  if (b->oom || b->p == NULL) {
    free(b->p);
    return b->oom ? NULL : strdup("");
  }
  return b->p;
}

/* ---- Python-compatible number and string formatting -------------------- */

/* An integral double as Python prints an int ("32", "-5"). */
static void sb_int(sbuf_t *b, double v) {
  char t[40];
  snprintf(t, sizeof t, "%.0f", v);
  sb_puts(b, t);
}

static void sb_pyfloat(sbuf_t *b, double v) {
  char t[HP_NUM_MAX];
  hp_num_format_py(v, t);
  sb_puts(b, t);
}

/* A JSON string literal as json.dumps(ensure_ascii=True) writes it. */
static void sb_pystring(sbuf_t *b, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  sb_putn(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    uint32_t cp = 0;
    int len = hp_utf8_char((const char *)s + i, n - i, &cp);
    if (len == 0) cp = s[i], len = 1; /* names are checked; never reached */
    i += (size_t)len;
    char t[16];
    switch (cp) {
      case '"': sb_puts(b, "\\\""); continue;
      case '\\': sb_puts(b, "\\\\"); continue;
      case '\n': sb_puts(b, "\\n"); continue;
      case '\r': sb_puts(b, "\\r"); continue;
      case '\t': sb_puts(b, "\\t"); continue;
      case '\b': sb_puts(b, "\\b"); continue;
      case '\f': sb_puts(b, "\\f"); continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      t[0] = (char)cp;
      sb_putn(b, t, 1);
    } else if (cp < 0x10000) {
      snprintf(t, sizeof t, "\\u%04x", (unsigned)cp);
      sb_puts(b, t);
    } else {
      uint32_t u = cp - 0x10000;
      snprintf(t, sizeof t, "\\u%04x\\u%04x", (unsigned)(0xd800 + (u >> 10)),
               (unsigned)(0xdc00 + (u & 0x3ff)));
      sb_puts(b, t);
    }
  }
  sb_putn(b, "\"", 1);
}

/* A numeric categorical choice: integral values as ints, others as floats. */
static bool number_is_intlike(double v) { return v == floor(v) && fabs(v) < 1e16; }

static void sb_choice(sbuf_t *b, const cJSON *c) {
  if (cJSON_IsString(c))
    sb_pystring(b, c->valuestring);
  else if (cJSON_IsNumber(c)) {
    if (number_is_intlike(c->valuedouble))
      sb_int(b, c->valuedouble);
    else
      sb_pyfloat(b, c->valuedouble);
  } else if (cJSON_IsTrue(c))
    sb_puts(b, "true");
  else if (cJSON_IsFalse(c))
    sb_puts(b, "false");
  else
    sb_puts(b, "null");
}

/* ---- distributions ------------------------------------------------------ */

static bool is_integral(double v) { return isfinite(v) && v == floor(v) && fabs(v) <= INT_LIMIT; }

/* Optuna adjusts high down to the last multiple of step above low; Optuna
 * does that in decimal arithmetic, so a ratio within 1e-9 of an integer
 * counts as fitting (0.1 steps on [0, 1] fit). */
static double fit_step_high(double low, double high, double step) {
  double k = (high - low) / step;
  double kr = nearbyint(k);
  if (fabs(k - kr) <= 1e-9 * fmax(1.0, fabs(k))) return high;
  return low + floor(k) * step;
}

static void warnf(char *warn, size_t warn_len, const char *where, const char *kind, double high,
                  double fixed, double step) {
  if (warn == NULL || warn_len == 0) return;
  snprintf(warn, warn_len, "%s: high %.17g does not fit %s step %.17g; adjusted to %.17g", where,
           high, kind, step, fixed);
}

static int dist_float(const char *where, double low, double high, bool log, double step,
                      hp_dist_t *out, char *warn, size_t warn_len, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  if (!isfinite(low) || !isfinite(high))
    return hp_err_set(err, HP_EINVAL, "%s: low and high must be finite", where);
  if (!isfinite(step) || step < 0)
    return hp_err_set(err, HP_EINVAL, "%s: step must be a finite number > 0 (got %g)", where,
                      step);
  if (low > high)
    return hp_err_set(err, HP_EINVAL, "%s: low %g > high %g", where, low, high);
  if (log && step > 0)
    return hp_err_set(err, HP_EINVAL, "%s: log and step cannot be used together", where);
  if (log && low <= 0)
    return hp_err_set(err, HP_EINVAL, "%s: log requires low > 0 (got %g)", where, low);
  /* Beyond 2^53 points the grid index is no longer exact in a double (and a
   * subnormal step overflows (high - low) / step to infinity). */
  if (step > 0 && !((high - low) / step <= 0x1p53))
    return hp_err_set(err, HP_EINVAL,
                      "%s: step %g is too small for the range [%g, %g] (more than 2^53 points)",
                      where, step, low, high);
  if (step > 0) {
    double h = fit_step_high(low, high, step);
    if (h != high) warnf(warn, warn_len, where, "float", high, h, step);
    high = h;
  }
  out->kind = HP_DIST_FLOAT;
  out->low = low;
  out->high = high;
  out->log = log;
  out->step = step;
  return 0;
}

static int dist_int(const char *where, double low, double high, bool log, double step,
                    hp_dist_t *out, char *warn, size_t warn_len, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  if (!is_integral(low) || !is_integral(high))
    return hp_err_set(err, HP_EINVAL, "%s: low and high must be integers of magnitude <= 2^53",
                      where);
  if (!is_integral(step) || step < 1)
    return hp_err_set(err, HP_EINVAL, "%s: step must be an integer >= 1 (got %g)", where, step);
  if (low > high)
    return hp_err_set(err, HP_EINVAL, "%s: low %g > high %g", where, low, high);
  if (log && step != 1)
    return hp_err_set(err, HP_EINVAL, "%s: log and step cannot be used together", where);
  if (log && low < 1)
    return hp_err_set(err, HP_EINVAL, "%s: log requires low >= 1 (got %g)", where, low);
  double h = low + floor((high - low) / step) * step;
  if (h != high) warnf(warn, warn_len, where, "int", high, h, step);
  out->kind = HP_DIST_INT;
  out->low = low;
  out->high = h;
  out->log = log;
  out->step = step;
  return 0;
}

static bool choice_equal(const cJSON *a, const cJSON *b) {
  if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
  if (cJSON_IsString(a) && cJSON_IsString(b)) return strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsTrue(a)) return cJSON_IsTrue(b);
  if (cJSON_IsFalse(a)) return cJSON_IsFalse(b);
  if (cJSON_IsNull(a)) return cJSON_IsNull(b);
  return false;
}

/* Sort key of a choice for the duplicate check: type first, then value. */
typedef struct choice_key {
  const cJSON *c; /* the choice */
  int index;      /* its position */
} choice_key_t;

static int choice_rank(const cJSON *c) {
  return cJSON_IsNull(c) ? 0 : cJSON_IsFalse(c) ? 1 : cJSON_IsTrue(c) ? 2 : cJSON_IsNumber(c) ? 3 : 4;
}

static int choice_cmp(const void *pa, const void *pb) {
  const choice_key_t *a = pa, *b = pb;
  int ra = choice_rank(a->c), rb = choice_rank(b->c);
  if (ra != rb) return ra - rb;
  if (ra == 3) {
    if (a->c->valuedouble != b->c->valuedouble) return a->c->valuedouble < b->c->valuedouble ? -1 : 1;
  } else if (ra == 4) {
    int s = strcmp(a->c->valuestring, b->c->valuestring);
    if (s != 0) return s;
  }
  return a->index - b->index;
}

/* Validates a choices array (non-empty, scalars only, finite numbers, no
 * duplicates) and copies it into out. */
static int dist_cat(const char *where, const cJSON *choices, hp_dist_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsArray(choices))
    return hp_err_set(err, HP_EINVAL, "%s.choices: expected an array, got %s", where,
                      hp_json_type_name(choices));
  int n = cJSON_GetArraySize(choices);
  if (n == 0) return hp_err_set(err, HP_EINVAL, "%s.choices: must not be empty", where);
  if (n > HP_SPACE_MAX_CHOICES)
    return hp_err_set(err, HP_ETOOBIG, "%s.choices: %d choices exceed the limit %d", where, n,
                      HP_SPACE_MAX_CHOICES);
  int i = 0;
  for (const cJSON *c = choices->child; c != NULL; c = c->next, i++) {
    if (cJSON_IsNumber(c)) {
      if (!isfinite(c->valuedouble))
        return hp_err_set(err, HP_EINVAL, "%s.choices[%d]: must be finite", where, i);
    } else if (cJSON_IsString(c)) {
      /* Choices are written for Optuna as \u escapes that must read back as
       * the same string. */
      if (hp_utf8_check(c->valuestring, strlen(c->valuestring)) != strlen(c->valuestring))
        return hp_err_set(err, HP_EINVAL, "%s.choices[%d]: string is not valid UTF-8", where, i);
    } else if (!cJSON_IsBool(c) && !cJSON_IsNull(c)) {
      return hp_err_set(err, HP_EINVAL,
                        "%s.choices[%d]: expected a number, string, boolean or null, got %s",
                        where, i, hp_json_type_name(c));
    }
  }
  choice_key_t *keys = malloc((size_t)n * sizeof *keys);
  if (keys == NULL) return hp_err_set(err, HP_ENOMEM, "%s: out of memory", where);
  i = 0;
  for (const cJSON *c = choices->child; c != NULL; c = c->next, i++) keys[i] = (choice_key_t){c, i};
  qsort(keys, (size_t)n, sizeof *keys, choice_cmp);
  for (i = 1; i < n; i++) {
    if (choice_equal(keys[i - 1].c, keys[i].c)) {
      int a = keys[i - 1].index, b = keys[i].index;
      free(keys);
      return hp_err_set(err, HP_EINVAL, "%s.choices[%d]: duplicates choices[%d]", where,
                        a > b ? a : b, a < b ? a : b);
    }
  }
  free(keys);
  out->kind = HP_DIST_CAT;
  out->n_choices = n;
  out->low = 0;
  out->high = n - 1;
  out->choices = cJSON_Duplicate(choices, true);
  if (out->choices == NULL) return hp_err_set(err, HP_ENOMEM, "%s: out of memory", where);
  return 0;
}

int hp_dist_float(const char *name, double low, double high, bool log, double step,
                  hp_dist_t *out, hp_err_t *err) {
  return dist_float(name, low, high, log, step, out, NULL, 0, err);
}

int hp_dist_int(const char *name, double low, double high, bool log, double step,
                hp_dist_t *out, hp_err_t *err) {
  return dist_int(name, low, high, log, step, out, NULL, 0, err);
}

int hp_dist_cat(const char *name, const cJSON *choices, hp_dist_t *out, hp_err_t *err) {
  return dist_cat(name, choices, out, err);
}

void hp_dist_free(hp_dist_t *dist) {
  if (dist == NULL) return;
  cJSON_Delete(dist->choices);
  dist->choices = NULL;
  dist->n_choices = 0;
}

int hp_dist_copy(hp_dist_t *dst, const hp_dist_t *src, hp_err_t *err) {
  *dst = *src;
  if (src->choices != NULL) {
    dst->choices = cJSON_Duplicate(src->choices, true);
    if (dst->choices == NULL) return hp_err_set(err, HP_ENOMEM, "copying a distribution");
  }
  return 0;
}

static const cJSON *choice_at(const hp_dist_t *d, int i) {
  return cJSON_GetArrayItem(d->choices, i);
}

bool hp_dist_contains(const hp_dist_t *d, double v) {
  if (!isfinite(v)) return false;
  switch (d->kind) {
    case HP_DIST_FLOAT:
      if (v < d->low || v > d->high) return false;
      if (d->step > 0) {
        double k = (v - d->low) / d->step;
        return fabs(k - nearbyint(k)) <= 1e-8 * fmax(1.0, fabs(k));
      }
      return true;
    case HP_DIST_INT:
      return v == floor(v) && v >= d->low && v <= d->high && fmod(v - d->low, d->step) == 0;
    case HP_DIST_CAT:
      return v == floor(v) && v >= 0 && v < d->n_choices;
  }
  return false;
}

bool hp_dist_single(const hp_dist_t *d) {
  return d->kind == HP_DIST_CAT ? d->n_choices == 1 : d->low == d->high;
}

static bool choices_equal(const hp_dist_t *a, const hp_dist_t *b) {
  if (a->n_choices != b->n_choices) return false;
  const cJSON *x = a->choices->child, *y = b->choices->child;
  for (; x != NULL && y != NULL; x = x->next, y = y->next)
    if (!choice_equal(x, y) || choice_rank(x) != choice_rank(y)) return false;
  return x == NULL && y == NULL;
}

bool hp_dist_compatible(const hp_dist_t *a, const hp_dist_t *b) {
  if (a->kind != b->kind) return false;
  if (a->kind == HP_DIST_CAT) return choices_equal(a, b);
  return a->log == b->log;
}

bool hp_dist_equal(const hp_dist_t *a, const hp_dist_t *b) {
  if (a->kind != b->kind) return false;
  if (a->kind == HP_DIST_CAT) return choices_equal(a, b);
  return a->low == b->low && a->high == b->high && a->step == b->step && a->log == b->log;
}

/* ---- Optuna distribution_json ------------------------------------------- */

char *hp_dist_to_optuna_json(const hp_dist_t *d) {
  sbuf_t b = {0};
  switch (d->kind) {
    case HP_DIST_FLOAT:
      sb_puts(&b, "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": ");
      if (d->step > 0)
        sb_pyfloat(&b, d->step);
      else
        sb_puts(&b, "null");
      sb_puts(&b, ", \"low\": ");
      sb_pyfloat(&b, d->low);
      sb_puts(&b, ", \"high\": ");
      sb_pyfloat(&b, d->high);
      sb_puts(&b, d->log ? ", \"log\": true}}" : ", \"log\": false}}");
      break;
    case HP_DIST_INT:
      sb_puts(&b, d->log ? "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": true"
                         : "{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false");
      sb_puts(&b, ", \"step\": ");
      sb_int(&b, d->step);
      sb_puts(&b, ", \"low\": ");
      sb_int(&b, d->low);
      sb_puts(&b, ", \"high\": ");
      sb_int(&b, d->high);
      sb_puts(&b, "}}");
      break;
    case HP_DIST_CAT: {
      sb_puts(&b, "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [");
      int i = 0;
      for (const cJSON *c = d->choices->child; c != NULL; c = c->next, i++) {
        if (i > 0) sb_puts(&b, ", ");
        sb_choice(&b, c);
      }
      sb_puts(&b, "]}}");
      break;
    }
  }
  return sb_take(&b);
}

/* Reads attribute `key` as a number, allowing null when `nullable` (then
 * *present is false). */
static int attr_number(const cJSON *attrs, const char *key, bool required, bool nullable,
                       double *out, bool *present, hp_err_t *err) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(attrs, key);
  if (present) *present = false;
  if (it == NULL || (nullable && cJSON_IsNull(it))) {
    if (required && it == NULL)
      return hp_err_set(err, HP_EINVAL, "distribution_json.attributes.%s: required but missing",
                        key);
    return 0;
  }
  int rc = hp_json_get_number(attrs, key, true, out, "distribution_json.attributes", err);
  if (rc == 0 && present) *present = true;
  return rc;
}

int hp_dist_from_optuna_json(const char *text, size_t len, hp_dist_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  cJSON *root = NULL;
  int rc = hp_json_parse(text, len, "distribution_json", &root, err);
  if (rc != 0) return rc;
  const char *where = "distribution_json";
  if (!cJSON_IsObject(root)) {
    rc = hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                    hp_json_type_name(root));
    goto done;
  }
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  if (name == NULL) {
    /* Abbreviated form {"type": ..., ...}: same rules as a space entry. */
    char warn[256];
    rc = hp_dist_parse(root, where, out, warn, sizeof warn, err);
    goto done;
  }
  static const char *const top_keys[] = {"name", "attributes", NULL};
  if ((rc = hp_json_check_keys(root, top_keys, where, err)) != 0) goto done;
  if (!cJSON_IsString(name)) {
    rc = hp_err_set(err, HP_EINVAL, "%s.name: expected a string, got %s", where,
                    hp_json_type_name(name));
    goto done;
  }
  const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(root, "attributes");
  if (!cJSON_IsObject(attrs)) {
    rc = hp_err_set(err, HP_EINVAL, "%s.attributes: expected an object, got %s", where,
                    attrs ? hp_json_type_name(attrs) : "nothing");
    goto done;
  }
  const char *n = name->valuestring;
  double low = 0, high = 0, step = 0;
  bool log = false, has_step = false;
  if (strcmp(n, "CategoricalDistribution") == 0) {
    static const char *const k[] = {"choices", NULL};
    if ((rc = hp_json_check_keys(attrs, k, "distribution_json.attributes", err)) != 0) goto done;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(attrs, "choices");
    if (ch == NULL) {
      rc = hp_err_set(err, HP_EINVAL, "%s.attributes.choices: required but missing", where);
      goto done;
    }
    /* Same rules as a space's choices (valid UTF-8 strings, no duplicates),
     * so whatever is read here prints back to the same distribution_json. */
    rc = dist_cat("distribution_json.attributes", ch, out, err);
    goto done;
  }
  bool is_float = strcmp(n, "FloatDistribution") == 0 || strcmp(n, "UniformDistribution") == 0 ||
                  strcmp(n, "LogUniformDistribution") == 0 ||
                  strcmp(n, "DiscreteUniformDistribution") == 0;
  bool is_int = strcmp(n, "IntDistribution") == 0 || strcmp(n, "IntUniformDistribution") == 0 ||
                strcmp(n, "IntLogUniformDistribution") == 0;
  if (!is_float && !is_int) {
    rc = hp_err_set(err, HP_EINVAL, "%s.name: unknown distribution '%s'", where, n);
    goto done;
  }
  static const char *const k_num[] = {"low", "high", "log", "step", "q", NULL};
  if ((rc = hp_json_check_keys(attrs, k_num, "distribution_json.attributes", err)) != 0)
    goto done;
  if ((rc = attr_number(attrs, "low", true, false, &low, NULL, err)) != 0) goto done;
  if ((rc = attr_number(attrs, "high", true, false, &high, NULL, err)) != 0) goto done;
  if ((rc = hp_json_get_bool(attrs, "log", false, &log, "distribution_json.attributes", err)) != 0)
    goto done;
  if ((rc = attr_number(attrs, "step", false, true, &step, &has_step, err)) != 0) goto done;
  if (strcmp(n, "DiscreteUniformDistribution") == 0) {
    if ((rc = attr_number(attrs, "q", true, false, &step, &has_step, err)) != 0) goto done;
  }
  if (strcmp(n, "LogUniformDistribution") == 0 || strcmp(n, "IntLogUniformDistribution") == 0)
    log = true;
  if (strcmp(n, "IntLogUniformDistribution") == 0) step = 1, has_step = true;
  if (is_float) {
    char warn[256];
    rc = dist_float(where, low, high, log, has_step ? step : 0, out, warn, sizeof warn, err);
    if (rc == 0 && has_step && step <= 0)
      rc = hp_err_set(err, HP_EINVAL, "%s: step must be > 0 (got %g)", where, step);
  } else {
    char warn[256];
    rc = dist_int(where, low, high, log, has_step ? step : 1, out, warn, sizeof warn, err);
  }
done:
  if (rc != 0) hp_dist_free(out);
  cJSON_Delete(root);
  return rc;
}

/* ---- external values --------------------------------------------------- */

cJSON *hp_dist_to_external(const hp_dist_t *d, double v) {
  if (!hp_dist_contains(d, v)) return NULL;
  if (d->kind == HP_DIST_CAT) return cJSON_Duplicate(choice_at(d, (int)v), true);
  return cJSON_CreateNumber(v);
}

int hp_dist_from_external(const hp_dist_t *d, const cJSON *value, double *internal,
                          hp_err_t *err) {
  if (d->kind == HP_DIST_CAT) {
    int i = 0;
    for (const cJSON *c = d->choices->child; c != NULL; c = c->next, i++) {
      if (choice_rank(c) == choice_rank(value) && choice_equal(c, value)) {
        *internal = i;
        return 0;
      }
    }
    return hp_err_set(err, HP_EINVAL, "value is not one of the choices");
  }
  if (!cJSON_IsNumber(value))
    return hp_err_set(err, HP_EINVAL, "expected a number, got %s", hp_json_type_name(value));
  double v = value->valuedouble;
  if (d->kind == HP_DIST_INT && !is_integral(v))
    return hp_err_set(err, HP_EINVAL, "expected an integer, got %.17g", v);
  if (!hp_dist_contains(d, v))
    return hp_err_set(err, HP_EINVAL, "%.17g is outside the distribution [%.17g, %.17g]%s", v,
                      d->low, d->high, d->step > 0 && d->kind == HP_DIST_FLOAT ? " or off its step" : "");
  *internal = v;
  return 0;
}

int hp_dist_format_external(const hp_dist_t *d, double v, char *buf, size_t len) {
  if (!hp_dist_contains(d, v)) return HP_EINVAL;
  sbuf_t b = {0};
  if (d->kind == HP_DIST_CAT)
    sb_choice(&b, choice_at(d, (int)v));
  else if (d->kind == HP_DIST_INT)
    sb_int(&b, v);
  else
    sb_pyfloat(&b, v);
  char *s = sb_take(&b);
  if (s == NULL) return HP_ENOMEM;
  size_t n = strlen(s);
  if (n + 1 > len) {
    free(s);
    return HP_ETOOBIG;
  }
  memcpy(buf, s, n + 1);
  free(s);
  return (int)n;
}

/* ---- parameter specs ---------------------------------------------------- */

/* Reads an optional "grid" list of a float/int parameter: every entry a
 * finite number; the result is sorted neither way (user order is kept). */
static int read_num_grid(const cJSON *g, const char *where, double **vals, int *n, hp_err_t *err) {
  if (!cJSON_IsArray(g))
    return hp_err_set(err, HP_EINVAL, "%s.grid: expected an array, got %s", where,
                      hp_json_type_name(g));
  int k = cJSON_GetArraySize(g);
  if (k == 0) return hp_err_set(err, HP_EINVAL, "%s.grid: must not be empty", where);
  if (k > HP_SPACE_MAX_GRID)
    return hp_err_set(err, HP_ETOOBIG, "%s.grid: %d values exceed the limit %d", where, k,
                      HP_SPACE_MAX_GRID);
  double *v = malloc((size_t)k * sizeof *v);
  if (v == NULL) return hp_err_set(err, HP_ENOMEM, "%s.grid: out of memory", where);
  int i = 0;
  for (const cJSON *c = g->child; c != NULL; c = c->next, i++) {
    if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble)) {
      free(v);
      return hp_err_set(err, HP_EINVAL, "%s.grid[%d]: expected a finite number, got %s", where,
                        i, hp_json_type_name(c));
    }
    v[i] = c->valuedouble;
  }
  *vals = v;
  *n = k;
  return 0;
}

int hp_dist_parse(const cJSON *spec, const char *where, hp_dist_t *out, char *warn,
                  size_t warn_len, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  if (warn && warn_len) warn[0] = '\0';
  if (!cJSON_IsObject(spec))
    return hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                      hp_json_type_name(spec));
  const char *type = NULL;
  int rc = hp_json_get_string(spec, "type", true, &type, where, err);
  if (rc != 0) return rc;
  if (strcmp(type, "categorical") == 0) {
    static const char *const k[] = {"type", "choices", "grid", "when", NULL};
    if ((rc = hp_json_check_keys(spec, k, where, err)) != 0) return rc;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(spec, "choices");
    if (ch == NULL) return hp_err_set(err, HP_EINVAL, "%s.choices: required but missing", where);
    return dist_cat(where, ch, out, err);
  }
  bool is_float = strcmp(type, "float") == 0, is_int = strcmp(type, "int") == 0;
  if (!is_float && !is_int)
    return hp_err_set(err, HP_EINVAL,
                      "%s.type: unknown type '%s' (expected float, int or categorical)", where,
                      type);
  static const char *const k[] = {"type", "low", "high", "log", "step", "grid", "when", NULL};
  if ((rc = hp_json_check_keys(spec, k, where, err)) != 0) return rc;
  /* With a grid list, low/high default to its extremes. */
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(spec, "grid");
  double low = NAN, high = NAN, step = is_int ? 1 : 0;
  bool log = false;
  if (g != NULL) {
    double *gv = NULL;
    int gn = 0;
    if ((rc = read_num_grid(g, where, &gv, &gn, err)) != 0) return rc;
    low = high = gv[0];
    for (int i = 1; i < gn; i++) low = fmin(low, gv[i]), high = fmax(high, gv[i]);
    free(gv);
  }
  if ((rc = hp_json_get_number(spec, "low", g == NULL, &low, where, err)) != 0) return rc;
  if ((rc = hp_json_get_number(spec, "high", g == NULL, &high, where, err)) != 0) return rc;
  if ((rc = hp_json_get_bool(spec, "log", false, &log, where, err)) != 0) return rc;
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(spec, "step");
  if (st != NULL && !cJSON_IsNull(st)) {
    if ((rc = hp_json_get_number(spec, "step", true, &step, where, err)) != 0) return rc;
    if (step <= 0)
      return hp_err_set(err, HP_EINVAL, "%s.step: must be > 0 (got %g)", where, step);
    if (log && (is_float || step != 1))
      return hp_err_set(err, HP_EINVAL, "%s: log and step cannot be used together", where);
  }
  if (is_float) return dist_float(where, low, high, log, step, out, warn, warn_len, err);
  return dist_int(where, low, high, log, step, out, warn, warn_len, err);
}

/* ---- spaces ------------------------------------------------------------- */

void hp_space_free(hp_space_t *space) {
  if (space == NULL) return;
  for (int i = 0; i < space->n; i++) {
    free(space->params[i].name);
    hp_dist_free(&space->params[i].dist);
    free(space->params[i].grid);
    for (int c = 0; c < space->params[i].n_cond; c++) free(space->params[i].cond[c].ok);
    free(space->params[i].cond);
  }
  free(space->params);
  free(space->warnings);
  free(space);
}

int hp_space_find(const hp_space_t *space, const char *name) {
  for (int i = 0; i < space->n; i++)
    if (strcmp(space->params[i].name, name) == 0) return i;
  return -1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Fills p->grid from the spec's "grid" list (validated against the
 * distribution) or from the distribution itself when it is finite. */
static int build_grid(hp_param_t *p, const cJSON *spec, const char *where, hp_err_t *err) {
  const hp_dist_t *d = &p->dist;
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(spec, "grid");
  int rc = 0;
  p->grid_given = g != NULL;
  if (g != NULL && d->kind == HP_DIST_CAT) {
    if (!cJSON_IsArray(g))
      return hp_err_set(err, HP_EINVAL, "%s.grid: expected an array, got %s", where,
                        hp_json_type_name(g));
    int k = cJSON_GetArraySize(g);
    if (k == 0) return hp_err_set(err, HP_EINVAL, "%s.grid: must not be empty", where);
    if (k > d->n_choices)
      return hp_err_set(err, HP_EINVAL, "%s.grid: more values than choices", where);
    p->grid = malloc((size_t)k * sizeof *p->grid);
    if (p->grid == NULL) return hp_err_set(err, HP_ENOMEM, "%s.grid: out of memory", where);
    int i = 0;
    for (const cJSON *c = g->child; c != NULL; c = c->next, i++) {
      hp_err_t e2;
      if (hp_dist_from_external(d, c, &p->grid[i], &e2) != 0)
        return hp_err_set(err, HP_EINVAL, "%s.grid[%d]: not one of the choices", where, i);
      for (int j = 0; j < i; j++)
        if (p->grid[j] == p->grid[i])
          return hp_err_set(err, HP_EINVAL, "%s.grid[%d]: duplicates grid[%d]", where, i, j);
    }
    p->n_grid = k;
    return 0;
  }
  if (g != NULL) {
    if ((rc = read_num_grid(g, where, &p->grid, &p->n_grid, err)) != 0) return rc;
    for (int i = 0; i < p->n_grid; i++) {
      if (!hp_dist_contains(d, p->grid[i]))
        return hp_err_set(err, HP_EINVAL, "%s.grid[%d]: %.17g is not inside the distribution",
                          where, i, p->grid[i]);
    }
    /* Duplicates would hand out one point twice. */
    double *s = malloc((size_t)p->n_grid * sizeof *s);
    if (s == NULL) return hp_err_set(err, HP_ENOMEM, "%s.grid: out of memory", where);
    memcpy(s, p->grid, (size_t)p->n_grid * sizeof *s);
    qsort(s, (size_t)p->n_grid, sizeof *s, cmp_double);
    for (int i = 1; i < p->n_grid; i++) {
      if (s[i] == s[i - 1]) {
        double dup = s[i];
        free(s);
        return hp_err_set(err, HP_EINVAL, "%s.grid: value %.17g appears twice", where, dup);
      }
    }
    free(s);
    return 0;
  }
  double count;
  if (d->kind == HP_DIST_CAT)
    count = d->n_choices;
  else if (d->step > 0)
    count = nearbyint((d->high - d->low) / d->step) + 1;
  else if (d->low == d->high)
    count = 1;
  else
    return 0; /* continuous: no grid unless given */
  if (count > HP_SPACE_MAX_GRID) return 0;
  p->n_grid = (int)count;
  p->grid = malloc((size_t)p->n_grid * sizeof *p->grid);
  if (p->grid == NULL) return hp_err_set(err, HP_ENOMEM, "%s: out of memory", where);
  for (int i = 0; i < p->n_grid; i++)
    p->grid[i] = d->kind == HP_DIST_CAT ? i
                 : d->step > 0          ? fmin(d->low + i * d->step, d->high)
                                        : d->low;
  return 0;
}

static int append_warning(hp_space_t *s, const char *w) {
  size_t old = s->warnings ? strlen(s->warnings) : 0;
  char *p = realloc(s->warnings, old + strlen(w) + 2);
  if (p == NULL) return HP_ENOMEM;
  if (old) p[old++] = '\n';
  strcpy(p + old, w);
  s->warnings = p;
  return 0;
}

/* ---- conditions ("when") ------------------------------------------------ */

/* Index of a member of the raw space object by name, or -1. */
static int raw_index(const cJSON *obj, const char *name) {
  int i = 0;
  for (const cJSON *it = obj->child; it != NULL; it = it->next, i++)
    if (strcmp(it->string, name) == 0) return i;
  return -1;
}

/* Depth-first search over the raw "when" references from `from`: true if
 * `target` is reachable; the path (names, " -> " separated) is appended to
 * path. `seen` has room for every parameter. */
static bool raw_reaches(const cJSON *obj, int from, int target, uint8_t *seen, char *path,
                        size_t len) {
  if (from == target) return true;
  if (seen[from]) return false;
  seen[from] = 1;
  const cJSON *spec = cJSON_GetArrayItem(obj, from);
  const cJSON *when = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "when") : NULL;
  for (const cJSON *c = cJSON_IsObject(when) ? when->child : NULL; c != NULL; c = c->next) {
    int k = raw_index(obj, c->string);
    if (k < 0) continue;
    size_t at = strlen(path);
    snprintf(path + at, len - at, " -> %s", c->string);
    if (raw_reaches(obj, k, target, seen, path, len)) return true;
    path[at] = '\0';
  }
  return false;
}

/* Parses the "when" of parameter i (spec `spec` of the raw space `obj`):
 * {"parent": choice or [choices...], ...}; every parent an earlier
 * categorical parameter, every value one of its choices. */
static int parse_when(hp_space_t *s, int i, const cJSON *spec, const cJSON *obj, hp_err_t *err) {
  hp_param_t *p = &s->params[i];
  const cJSON *when = cJSON_GetObjectItemCaseSensitive(spec, "when");
  if (when == NULL) return 0;
  const char *name = p->name;
  if (!cJSON_IsObject(when))
    return hp_err_set(err, HP_EINVAL,
                      "space.%s.when: expected an object such as {\"optimizer\": [\"adam\"]}, "
                      "got %s",
                      name, hp_json_type_name(when));
  int n = cJSON_GetArraySize(when);
  if (n == 0)
    return hp_err_set(err, HP_EINVAL,
                      "space.%s.when: must name at least one parameter (or leave \"when\" out)",
                      name);
  p->cond = calloc((size_t)n, sizeof *p->cond);
  if (p->cond == NULL) return hp_err_set(err, HP_ENOMEM, "space: out of memory");
  for (const cJSON *c = when->child; c != NULL; c = c->next) {
    const char *pn = c->string;
    int k = hp_space_find(s, pn);
    if (k < 0)
      return hp_err_set(err, HP_EINVAL, "space.%s.when.%s: no parameter '%s' in the space", name,
                        pn, pn);
    if (k == i)
      return hp_err_set(err, HP_EINVAL, "space.%s.when.%s: a parameter cannot depend on itself",
                        name, pn);
    if (k > i) {
      uint8_t *seen = calloc((size_t)s->n, 1);
      char path[1024];
      snprintf(path, sizeof path, "%s -> %s", name, pn);
      bool cycle = seen != NULL && raw_reaches(obj, k, i, seen, path, sizeof path);
      free(seen);
      if (cycle)
        return hp_err_set(err, HP_EINVAL, "space.%s.when.%s: cycle of conditions: %s", name, pn,
                          path);
      return hp_err_set(err, HP_EINVAL,
                        "space.%s.when.%s: '%s' comes after '%s' in the space; a condition "
                        "must name an earlier parameter (put parents first)",
                        name, pn, pn, name);
    }
    const hp_dist_t *pd = &s->params[k].dist;
    if (pd->kind != HP_DIST_CAT)
      return hp_err_set(err, HP_EINVAL,
                        "space.%s.when.%s: '%s' is not categorical (a condition tests the "
                        "choices of a categorical parameter)",
                        name, pn, pn);
    hp_cond_t *cd = &p->cond[p->n_cond];
    cd->parent = k;
    cd->ok = calloc((size_t)pd->n_choices, 1);
    if (cd->ok == NULL) return hp_err_set(err, HP_ENOMEM, "space: out of memory");
    p->n_cond++;
    bool list = cJSON_IsArray(c);
    if (list && cJSON_GetArraySize(c) == 0)
      return hp_err_set(err, HP_EINVAL, "space.%s.when.%s: must list at least one choice", name,
                        pn);
    int j = 0;
    for (const cJSON *v = list ? c->child : c; v != NULL; v = list ? v->next : NULL, j++) {
      char at[32] = "";
      if (list) snprintf(at, sizeof at, "[%d]", j);
      double idx;
      hp_err_t e2;
      if (cJSON_IsArray(v) || cJSON_IsObject(v))
        return hp_err_set(err, HP_EINVAL,
                          "space.%s.when.%s%s: expected a choice (string, number, boolean or "
                          "null), got %s",
                          name, pn, at, hp_json_type_name(v));
      if (hp_dist_from_external(pd, v, &idx, &e2) != 0) {
        char *t = hp_json_print(v);
        hp_err_set(err, HP_EINVAL, "space.%s.when.%s%s: %s is not one of the choices of %s",
                   name, pn, at, t ? t : "the value", pn);
        free(t);
        return HP_EINVAL;
      }
      if (cd->ok[(int)idx])
        return hp_err_set(err, HP_EINVAL, "space.%s.when.%s%s: choice listed twice", name, pn,
                          at);
      cd->ok[(int)idx] = 1;
    }
  }
  return 0;
}

/* The choices each categorical parameter may take for p to be active:
 * allowed[q] (for q with need[q]) is the intersection of the conditions of
 * p and of every ancestor on q. Returns false if one is empty. */
static bool ancestors_allow(const hp_space_t *s, int p, uint8_t *need, uint8_t **allowed) {
  bool ok = true;
  for (int c = 0; c < s->params[p].n_cond; c++) {
    const hp_cond_t *cd = &s->params[p].cond[c];
    int q = cd->parent, k = s->params[q].dist.n_choices;
    if (!need[q]) {
      need[q] = 1;
      memset(allowed[q], 1, (size_t)k);
      ok = ancestors_allow(s, q, need, allowed) && ok;
    }
    bool any = false;
    for (int j = 0; j < k; j++) any = (allowed[q][j] &= cd->ok[j]) || any;
    ok = ok && any;
  }
  return ok;
}

static bool space_example(const hp_space_t *s, int p, double *params, bool *oom) {
  uint8_t *need = calloc((size_t)s->n, 1);
  uint8_t **allowed = calloc((size_t)s->n, sizeof *allowed);
  bool ok = need != NULL && allowed != NULL;
  for (int q = 0; ok && q < s->n; q++)
    if (s->params[q].dist.kind == HP_DIST_CAT &&
        (allowed[q] = malloc((size_t)s->params[q].dist.n_choices)) == NULL)
      ok = false;
  if (!ok) *oom = true;
  if (ok && p >= 0) ok = ancestors_allow(s, p, need, allowed);
  for (int q = 0; q < s->n; q++) {
    const hp_dist_t *d = &s->params[q].dist;
    double v = d->kind == HP_DIST_CAT ? 0 : d->low;
    if (need != NULL && need[q] && allowed[q] != NULL)
      for (int j = d->n_choices - 1; j >= 0; j--)
        if (allowed[q][j]) v = j;
    params[q] = hp_space_active(s, q, params) ? v : NAN;
  }
  if (allowed != NULL)
    for (int q = 0; q < s->n; q++) free(allowed[q]);
  free(allowed);
  free(need);
  return ok && (p < 0 || !isnan(params[p]));
}

bool hp_space_example(const hp_space_t *space, int p, double *params) {
  bool oom = false;
  return space_example(space, p, params, &oom);
}

/* A parameter whose conditions (with its parents') contradict each other
 * could never be sampled: refused. */
static int check_satisfiable(const hp_space_t *s, int i, hp_err_t *err) {
  double *tmp = malloc((size_t)s->n * sizeof *tmp);
  bool oom = tmp == NULL;
  bool ok = !oom && space_example(s, i, tmp, &oom);
  free(tmp);
  if (oom) return hp_err_set(err, HP_ENOMEM, "space: out of memory");
  if (!ok)
    return hp_err_set(err, HP_EINVAL,
                      "space.%s.when: can never hold (its conditions and those of its parents "
                      "allow no common choice)",
                      s->params[i].name);
  return 0;
}

/* ---- conditions of a define-by-run study ------------------------------ */

int hp_space_infer_conditions(cJSON *space, const double *x, size_t n) {
  int d = cJSON_GetArraySize(space);
  if (d == 0 || n == 0) return 0;
  cJSON **item = calloc((size_t)d, sizeof *item);
  size_t *count = calloc((size_t)d, sizeof *count);
  int *parent = malloc((size_t)d * sizeof *parent);
  uint8_t *with = NULL, *without = NULL;
  int rc = item && count && parent ? 0 : HP_ENOMEM;
  int p = 0;
  for (cJSON *it = space->child; rc == 0 && it != NULL; it = it->next, p++) item[p] = it;
  for (size_t t = 0; rc == 0 && t < n; t++)
    for (p = 0; p < d; p++) count[p] += !isnan(x[t * (size_t)d + p]);
  size_t n_rows = 0; /* trials with any parameter */
  for (size_t t = 0; rc == 0 && t < n; t++) {
    bool any = false;
    for (p = 0; p < d; p++) any = any || !isnan(x[t * (size_t)d + p]);
    n_rows += any;
  }
  for (p = 0; rc == 0 && p < d; p++) {
    parent[p] = -1;
    if (count[p] == 0 || count[p] == n_rows) continue;
    for (int q = 0; q < d; q++) {
      const cJSON *choices = cJSON_GetObjectItemCaseSensitive(item[q], "choices");
      int k = cJSON_GetArraySize(choices);
      if (q == p || k == 0 || count[q] <= count[p]) continue;
      if (parent[p] >= 0 && count[q] >= count[parent[p]]) continue; /* a nearer one is known */
      free(with);
      free(without);
      with = calloc((size_t)k, 1);
      without = calloc((size_t)k, 1);
      if (with == NULL || without == NULL) {
        rc = HP_ENOMEM;
        break;
      }
      bool ok = true, lacking = false;
      for (size_t t = 0; ok && t < n; t++) {
        double vp = x[t * (size_t)d + p], vq = x[t * (size_t)d + q];
        if (isnan(vq)) {
          ok = isnan(vp); /* p only where q is */
          continue;
        }
        int c = (int)vq;
        if (c < 0 || c >= k) continue;
        if (isnan(vp)) without[c] = 1, lacking = true;
        else with[c] = 1;
      }
      for (int c = 0; ok && c < k; c++) ok = !(with[c] && without[c]);
      if (ok && lacking) parent[p] = q;
    }
    if (rc == 0 && parent[p] >= 0) {
      int q = parent[p];
      const cJSON *choices = cJSON_GetObjectItemCaseSensitive(item[q], "choices");
      int k = cJSON_GetArraySize(choices);
      free(with);
      if ((with = calloc((size_t)k, 1)) == NULL) {
        rc = HP_ENOMEM;
        break;
      }
      for (size_t t = 0; t < n; t++) {
        double vp = x[t * (size_t)d + p], vq = x[t * (size_t)d + q];
        if (!isnan(vp) && !isnan(vq) && vq >= 0 && vq < k) with[(int)vq] = 1;
      }
      cJSON *when = cJSON_CreateObject(), *list = cJSON_CreateArray();
      if (when == NULL || list == NULL || !cJSON_AddItemToObject(when, item[q]->string, list)) {
        cJSON_Delete(when);
        cJSON_Delete(list);
        rc = HP_ENOMEM;
        break;
      }
      for (int c = 0; c < k; c++)
        if (with[c]) cJSON_AddItemToArray(list, cJSON_Duplicate(cJSON_GetArrayItem(choices, c), true));
      cJSON_DeleteItemFromObjectCaseSensitive(item[p], "when");
      cJSON_AddItemToObject(item[p], "when", when);
    }
  }
  /* Parents first: a parent is had by strictly more trials than its child,
   * so ordering by that count (stable) puts every parent before. */
  if (rc == 0) {
    for (p = 0; p < d; p++) cJSON_DetachItemViaPointer(space, item[p]);
    for (int i = 1; i < d; i++) {
      cJSON *it = item[i];
      size_t c = count[i];
      int j = i;
      while (j > 0 && count[j - 1] < c) item[j] = item[j - 1], count[j] = count[j - 1], j--;
      item[j] = it;
      count[j] = c;
    }
    for (p = 0; p < d; p++) cJSON_AddItemToArray(space, item[p]);
  }
  free(with);
  free(without);
  free(item);
  free(count);
  free(parent);
  return rc;
}

bool hp_space_active(const hp_space_t *space, int p, const double *params) {
  const hp_param_t *pa = &space->params[p];
  for (int c = 0; c < pa->n_cond; c++) {
    double v = params[pa->cond[c].parent];
    if (isnan(v)) return false;
    int k = (int)v;
    if (k < 0 || k >= space->params[pa->cond[c].parent].dist.n_choices || !pa->cond[c].ok[k])
      return false;
  }
  return true;
}

int hp_space_deactivate(const hp_space_t *space, double *params) {
  int n = 0;
  for (int p = 0; p < space->n; p++) {
    if (!hp_space_active(space, p, params)) params[p] = NAN;
    n += !isnan(params[p]);
  }
  return n;
}

bool hp_space_consistent(const hp_space_t *space, const double *params) {
  for (int p = 0; p < space->n; p++) {
    bool active = hp_space_active(space, p, params);
    if (active != hp_dist_contains(&space->params[p].dist, params[p])) return false;
  }
  return true;
}

int hp_space_parse(const cJSON *obj, hp_space_t **out, hp_err_t *err) {
  *out = NULL;
  if (!cJSON_IsObject(obj))
    return hp_err_set(err, HP_EINVAL, "space: expected an object, got %s",
                      hp_json_type_name(obj));
  int n = cJSON_GetArraySize(obj);
  if (n == 0) return hp_err_set(err, HP_EINVAL, "space: must have at least one parameter");
  if (n > HP_SPACE_MAX_PARAMS)
    return hp_err_set(err, HP_ETOOBIG, "space: %d parameters exceed the limit %d", n,
                      HP_SPACE_MAX_PARAMS);
  hp_space_t *s = calloc(1, sizeof *s);
  if (s == NULL) return hp_err_set(err, HP_ENOMEM, "space: out of memory");
  s->params = calloc((size_t)n, sizeof *s->params);
  if (s->params == NULL) {
    free(s);
    return hp_err_set(err, HP_ENOMEM, "space: out of memory");
  }
  int rc = 0;
  for (const cJSON *it = obj->child; it != NULL; it = it->next) {
    char where[HP_SPACE_NAME_MAX + 16];
    size_t nl = strlen(it->string);
    if (nl == 0 || nl >= HP_SPACE_NAME_MAX) {
      rc = hp_err_set(err, HP_EINVAL, "space: parameter name must have 1..%d bytes",
                      HP_SPACE_NAME_MAX - 1);
      goto fail;
    }
    char shown[64], field[96];
    hp_utf8_clean(shown, sizeof shown, it->string, nl);
    snprintf(field, sizeof field, "space: parameter name '%s'", shown);
    if ((rc = hp_utf8_check_name(it->string, nl, field, err)) < 0) goto fail;
    snprintf(where, sizeof where, "space.%s", it->string);
    for (int j = 0; j < s->n; j++) {
      if (strcmp(s->params[j].name, it->string) == 0) {
        rc = hp_err_set(err, HP_EINVAL, "%s: parameter defined twice", where);
        goto fail;
      }
    }
    hp_param_t *p = &s->params[s->n];
    char warn[HP_SPACE_NAME_MAX + 200];
    if ((rc = hp_dist_parse(it, where, &p->dist, warn, sizeof warn, err)) != 0) goto fail;
    s->n++; /* from here hp_space_free releases p */
    if ((p->name = strdup(it->string)) == NULL) {
      rc = hp_err_set(err, HP_ENOMEM, "space: out of memory");
      goto fail;
    }
    if ((rc = build_grid(p, it, where, err)) != 0) goto fail;
    if (warn[0] && append_warning(s, warn) != 0) {
      rc = hp_err_set(err, HP_ENOMEM, "space: out of memory");
      goto fail;
    }
  }
  /* Conditions once every name is known (a reference to a later one is
   * then told apart from an unknown one). */
  int i = 0;
  for (const cJSON *it = obj->child; it != NULL; it = it->next, i++)
    if ((rc = parse_when(s, i, it, obj, err)) != 0) goto fail;
  for (i = 0; i < s->n; i++) {
    if (s->params[i].n_cond == 0) continue;
    s->conditional = true;
    if ((rc = check_satisfiable(s, i, err)) != 0) goto fail;
  }
  *out = s;
  return 0;
fail:
  hp_space_free(s);
  return rc;
}

int hp_space_parse_text(const char *text, size_t len, hp_space_t **out, hp_err_t *err) {
  cJSON *root = NULL;
  *out = NULL;
  int rc = hp_json_parse(text, len, "space", &root, err);
  if (rc != 0) return rc;
  rc = hp_space_parse(root, out, err);
  cJSON_Delete(root);
  return rc;
}

cJSON *hp_space_to_json(const hp_space_t *space) {
  cJSON *root = cJSON_CreateObject();
  if (root == NULL) return NULL;
  for (int i = 0; i < space->n; i++) {
    const hp_param_t *p = &space->params[i];
    const hp_dist_t *d = &p->dist;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToObject(root, p->name, o)) {
      cJSON_Delete(o);
      goto fail;
    }
    if (d->kind == HP_DIST_CAT) {
      if (!cJSON_AddStringToObject(o, "type", "categorical")) goto fail;
      cJSON *ch = cJSON_Duplicate(d->choices, true);
      if (ch == NULL || !cJSON_AddItemToObject(o, "choices", ch)) {
        cJSON_Delete(ch);
        goto fail;
      }
    } else {
      if (!cJSON_AddStringToObject(o, "type", d->kind == HP_DIST_INT ? "int" : "float") ||
          !cJSON_AddNumberToObject(o, "low", d->low) ||
          !cJSON_AddNumberToObject(o, "high", d->high) || !cJSON_AddBoolToObject(o, "log", d->log))
        goto fail;
      if (d->step > 0 && !cJSON_AddNumberToObject(o, "step", d->step)) goto fail;
    }
    if (p->n_cond > 0) {
      cJSON *w = cJSON_AddObjectToObject(o, "when");
      if (w == NULL) goto fail;
      for (int c = 0; c < p->n_cond; c++) {
        const hp_param_t *pp = &space->params[p->cond[c].parent];
        cJSON *l = cJSON_AddArrayToObject(w, pp->name);
        if (l == NULL) goto fail;
        for (int j = 0; j < pp->dist.n_choices; j++) {
          if (!p->cond[c].ok[j]) continue;
          cJSON *v = hp_dist_to_external(&pp->dist, j);
          if (v == NULL || !cJSON_AddItemToArray(l, v)) {
            cJSON_Delete(v);
            goto fail;
          }
        }
      }
    }
    if (p->grid_given) {
      cJSON *g = cJSON_AddArrayToObject(o, "grid");
      if (g == NULL) goto fail;
      for (int j = 0; j < p->n_grid; j++) {
        cJSON *v = hp_dist_to_external(d, p->grid[j]);
        if (v == NULL || !cJSON_AddItemToArray(g, v)) {
          cJSON_Delete(v);
          goto fail;
        }
      }
    }
  }
  return root;
fail:
  cJSON_Delete(root);
  return NULL;
}

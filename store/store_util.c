/* Helpers both store backends use: attribute checks and JSON object texts
 * built from rows, Optuna's encodings of non-finite values and datetimes,
 * growable arrays (store_util.h). */
#include "store_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/json.h"
#include "hpsearch/utf8.h"

int hp_store_buf_add(hp_store_buf_t *b, const char *s, size_t len) {
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + len + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return HP_ENOMEM;
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = 0;
  return HP_OK;
}

/* Python's json.dumps (Optuna's writer) spells non-finite floats NaN,
 * Infinity and -Infinity, which JSON lacks: a copy of v with each such bare
 * token outside strings turned into a string of the same spelling (which
 * hp_json_value's lenient reading takes as the number), or NULL when v has
 * none (or out of memory). [Infinity] stays a list: a constraint read from
 * it counts as violated, not as absent. */
static char *python_tokens_quoted(const char *v) {
  static const char *const tok[] = {"-Infinity", "Infinity", "NaN"};
  size_t n = strlen(v), extra = 0;
  bool in_str = false, any = false;
  for (int pass = 0; pass < 2; pass++) {
    char *out = pass ? malloc(n + extra + 1) : NULL;
    if (pass && out == NULL) return NULL;
    size_t o = 0;
    in_str = false;
    for (size_t i = 0; i < n;) {
      char c = v[i];
      size_t len = 0;
      if (in_str) {
        if (c == '\\' && i + 1 < n) {
          if (out) out[o++] = c, out[o++] = v[i + 1];
          i += 2;
          continue;
        }
        if (c == '"') in_str = false;
      } else if (c == '"') {
        in_str = true;
      } else {
        for (int k = 0; k < 3 && len == 0; k++) {
          size_t tl = strlen(tok[k]);
          if (strncmp(v + i, tok[k], tl) == 0 && (i == 0 || !isalnum((unsigned char)v[i - 1])) &&
              !isalnum((unsigned char)v[i + tl]))
            len = tl;
        }
      }
      if (len > 0) {
        any = true;
        if (out) {
          out[o++] = '"';
          memcpy(out + o, v + i, len);
          o += len;
          out[o++] = '"';
        } else {
          extra += 2;
        }
        i += len;
        continue;
      }
      if (out) out[o++] = c;
      i++;
    }
    if (!any) return NULL;
    if (out) {
      out[o] = '\0';
      return out;
    }
  }
  return NULL;
}

int hp_store_buf_add_member(hp_store_buf_t *b, const char *key, const char *value_json) {
  cJSON *k = cJSON_CreateString(key);
  char *kq = k ? hp_json_print(k) : NULL;
  cJSON_Delete(k);
  if (!kq) return HP_ENOMEM;
  int rc = 0;
  if (b->n > 1) rc |= hp_store_buf_add(b, ", ", 2);
  rc |= hp_store_buf_add(b, kq, strlen(kq));
  rc |= hp_store_buf_add(b, ": ", 2);
  const char *v = value_json ? value_json : "null";
  /* A value that is not JSON (a hand-edited file; Python's NaN) would break
   * the object text: it is kept as a JSON string of its text instead. */
  cJSON *parsed = NULL;
  hp_json_parse(v, strlen(v), "value", &parsed, NULL);
  char *vq = NULL;
  if (parsed == NULL && (vq = python_tokens_quoted(v)) != NULL) {
    hp_json_parse(vq, strlen(vq), "value", &parsed, NULL);
    if (parsed) v = vq;
    else free(vq), vq = NULL;
  }
  if (parsed == NULL) {
    cJSON *sv = cJSON_CreateString(v);
    vq = sv ? hp_json_print(sv) : NULL;
    cJSON_Delete(sv);
    if (vq == NULL) rc = 1;
    else v = vq;
  }
  cJSON_Delete(parsed);
  if (!rc) rc |= hp_store_buf_add(b, v, strlen(v));
  free(vq);
  free(kq);
  return rc ? HP_ENOMEM : HP_OK;
}

int hp_store_check_attr(const char *key, const char *value_json, const char *what,
                        hp_err_t *err) {
  if (!key || !*key || strlen(key) > 512)
    return hp_err_set(err, HP_EINVAL, "%s: key must be 1..512 bytes", what);
  if (!value_json) return hp_err_set(err, HP_EINVAL, "%s '%s': no value", what, key);
  size_t klen = strlen(key);
  if (hp_utf8_check(key, klen) != klen)
    return hp_err_set(err, HP_EINVAL, "%s: key is not valid UTF-8", what);
  cJSON *v = NULL;
  hp_err_t perr = {0};
  if (hp_json_parse(value_json, strlen(value_json), "value", &v, &perr) < 0)
    return hp_err_set(err, HP_EINVAL, "%s '%s': %s", what, key, perr.msg);
  cJSON_Delete(v);
  return HP_OK;
}

int hp_store_attrs_each(const char *object_json, const char *what,
                        int (*fn)(void *ctx, const char *key, const char *value_json,
                                  hp_err_t *err),
                        void *ctx, hp_err_t *err) {
  if (!object_json) return HP_OK;
  cJSON *obj = NULL;
  int rc = hp_json_parse(object_json, strlen(object_json), what, &obj, err);
  if (rc) return rc;
  if (!cJSON_IsObject(obj)) {
    rc = hp_err_set(err, HP_EINVAL, "%s: expected a JSON object, got %s", what,
                    hp_json_type_name(obj));
    goto out;
  }
  for (cJSON *it = obj->child; it; it = it->next) {
    if (!it->string || strlen(it->string) > 512) {
      rc = hp_err_set(err, HP_EINVAL, "%s: key longer than 512 bytes", what);
      goto out;
    }
    char *val = hp_json_print(it);
    if (!val) {
      rc = hp_err_set(err, HP_ENOMEM, "%s: out of memory", what);
      goto out;
    }
    rc = fn(ctx, it->string, val, err);
    free(val);
    if (rc) goto out;
  }
out:
  cJSON_Delete(obj);
  return rc;
}

const char *hp_store_value_type(double v) {
  if (isfinite(v)) return "FINITE";
  return isnan(v) ? "NAN" : v > 0 ? "INF_POS" : "INF_NEG";
}

double hp_store_value_of(const char *type, bool is_null, double value) {
  if (type && strcmp(type, "FINITE") != 0) {
    if (strcmp(type, "INF_POS") == 0) return INFINITY;
    if (strcmp(type, "INF_NEG") == 0) return -INFINITY;
    return NAN;
  }
  return is_null ? NAN : value;
}

void hp_store_now(bool utc, char out[32]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (utc)
    gmtime_r(&ts.tv_sec, &tm);
  else
    localtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(out + k, 32 - k, ".%06ld", ts.tv_nsec / 1000);
}

void hp_store_time_local(bool utc, char *dst, size_t cap, const char *src) {
  const char *in = src ? src : "";
  struct tm tm = {0};
  int n = 0;
  if (utc && *in &&
      sscanf(in, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &n) == 6 &&
      n == 19) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    struct tm loc;
    if (t != (time_t)-1 && localtime_r(&t, &loc)) {
      size_t k = strftime(dst, cap, "%Y-%m-%d %H:%M:%S", &loc);
      if (k > 0) {
        snprintf(dst + k, cap - k, "%s", in + 19); /* the fraction, if any */
        return;
      }
    }
  }
  snprintf(dst, cap, "%s", in);
}

int hp_store_grow(void **p, size_t n, size_t size) {
  if (n & (n - 1)) return HP_OK; /* not a power of two: room left */
  size_t cap = n ? 2 * n : 1;
  void *q = realloc(*p, cap * size);
  if (!q) return HP_ENOMEM;
  *p = q;
  return HP_OK;
}

/* ---- argument checks ---- */

int hp_store_check_new_study(const char *name, int n_objectives, const bool *maximize,
                             hp_err_t *err) {
  if (!name || !*name || strlen(name) > 512)
    return hp_err_set(err, HP_EINVAL, "study name: must be 1..512 bytes");
  if (n_objectives < 1 || n_objectives > HP_STORE_MAX_OBJECTIVES || !maximize)
    return hp_err_set(err, HP_EINVAL, "study '%s': directions: need 1..%d objectives", name,
                      HP_STORE_MAX_OBJECTIVES);
  return HP_OK;
}

int hp_store_check_new_trial(hp_store_state_t state, const hp_store_param_t *params,
                             size_t n_params, hp_err_t *err) {
  if (state != HP_STORE_RUNNING && state != HP_STORE_WAITING)
    return hp_err_set(err, HP_EINVAL, "new trial: state must be RUNNING or WAITING, not %s",
                      hp_store_state_name(state));
  if (n_params && !params) return hp_err_set(err, HP_EINVAL, "new trial: params missing");
  return HP_OK;
}

int hp_store_check_param(const hp_store_param_t *p, size_t i, hp_err_t *err) {
  if (!p->name || !*p->name || strlen(p->name) > 512)
    return hp_err_set(err, HP_EINVAL, "params[%zu]: name must be 1..512 bytes", i);
  if (!p->distribution_json || p->distribution_json[0] != '{')
    return hp_err_set(err, HP_EINVAL, "param '%s': distribution_json must be a JSON object",
                      p->name);
  if (!isfinite(p->value))
    return hp_err_set(err, HP_EINVAL, "param '%s': internal value must be finite", p->name);
  return HP_OK;
}

bool hp_store_is_finished(int state) {
  return state == HP_STORE_COMPLETE || state == HP_STORE_PRUNED || state == HP_STORE_FAIL;
}

int hp_store_check_finish(int64_t trial_id, hp_store_state_t state, const double *values,
                          size_t n_values, hp_err_t *err) {
  if (!hp_store_is_finished(state))
    return hp_err_set(err, HP_EINVAL, "finish trial %lld: state must be COMPLETE, PRUNED or "
                      "FAIL, not %s", (long long)trial_id, hp_store_state_name(state));
  if (n_values && !values)
    return hp_err_set(err, HP_EINVAL, "finish trial %lld: values missing", (long long)trial_id);
  if (state == HP_STORE_FAIL && n_values)
    return hp_err_set(err, HP_EINVAL, "finish trial %lld: a FAIL trial has no values",
                      (long long)trial_id);
  for (size_t k = 0; k < n_values; k++)
    if (isnan(values[k]))
      return hp_err_set(err, HP_EINVAL, "finish trial %lld: values[%zu] is NaN (store the "
                        "trial as FAIL instead)", (long long)trial_id, k);
  return HP_OK;
}

long hp_store_study_index(const hp_store_study_info_t *list, size_t n, int64_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (list[mid].study_id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && list[lo].study_id == id ? (long)lo : -1;
}

/* ---- reading trials ---- */

static int cmp_by_id(const void *a, const void *b, void *base) {
  const hp_store_trial_t *t = base;
  int64_t x = t[*(const size_t *)a].trial_id, y = t[*(const size_t *)b].trial_id;
  return x < y ? -1 : x > y;
}

int hp_store_reader_index(hp_store_reader_t *rd) {
  rd->by_id = malloc((rd->n ? rd->n : 1) * sizeof *rd->by_id);
  rd->uattr = calloc(rd->n ? rd->n : 1, sizeof *rd->uattr);
  rd->sattr = calloc(rd->n ? rd->n : 1, sizeof *rd->sattr);
  if (!rd->by_id || !rd->uattr || !rd->sattr) return HP_ENOMEM;
  for (size_t i = 0; i < rd->n; i++) rd->by_id[i] = i;
  qsort_r(rd->by_id, rd->n, sizeof *rd->by_id, cmp_by_id, rd->t);
  return HP_OK;
}

hp_store_trial_t *hp_store_reader_find(hp_store_reader_t *rd, int64_t trial_id) {
  size_t lo = 0, hi = rd->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (rd->t[rd->by_id[mid]].trial_id < trial_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < rd->n && rd->t[rd->by_id[lo]].trial_id == trial_id) return &rd->t[rd->by_id[lo]];
  return NULL;
}

int hp_store_reader_attr(hp_store_reader_t *rd, hp_store_trial_t *t, bool system,
                         const char *key, const char *value_json) {
  hp_store_buf_t *bf = &(system ? rd->sattr : rd->uattr)[t - rd->t];
  if (bf->n == 0 && hp_store_buf_add(bf, "{", 1)) return HP_ENOMEM;
  return hp_store_buf_add_member(bf, key, value_json);
}

int hp_store_reader_finish(hp_store_reader_t *rd) {
  for (size_t i = 0; i < rd->n; i++) {
    for (int pass = 0; pass < 2; pass++) {
      hp_store_buf_t *bf = pass == 0 ? &rd->uattr[i] : &rd->sattr[i];
      if (bf->n == 0 ? hp_store_buf_add(bf, "{}", 2) : hp_store_buf_add(bf, "}", 1))
        return HP_ENOMEM;
      *(pass == 0 ? &rd->t[i].user_attrs_json : &rd->t[i].system_attrs_json) = bf->p;
      bf->p = NULL;
    }
  }
  return HP_OK;
}

void hp_store_reader_release(hp_store_reader_t *rd) {
  for (size_t i = 0; rd->uattr && i < rd->n; i++) free(rd->uattr[i].p);
  for (size_t i = 0; rd->sattr && i < rd->n; i++) free(rd->sattr[i].p);
  free(rd->by_id);
  free(rd->uattr);
  free(rd->sattr);
  rd->by_id = NULL;
  rd->uattr = rd->sattr = NULL;
}

/* Validated reading of JSON documents (see hpsearch/json.h). */
#include "hpsearch/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int hp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, hp_err_t *err) {
  const char *end = NULL;
  *out = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
  if (root == NULL) {
    size_t off = end != NULL && end >= buf ? (size_t)(end - buf) : 0;
    if (off > len) off = len;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
      if (buf[i] == '\n') line++, col = 1;
      else col++;
    }
    return hp_err_set(err, HP_EFORMAT, "%s: malformed JSON at line %d column %d", what, line,
                      col);
  }
  /* Only whitespace may follow the value. */
  if (end != NULL) {
    for (const char *p = end; p < buf + len && *p; p++) {
      if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
        cJSON_Delete(root);
        return hp_err_set(err, HP_EFORMAT, "%s: unexpected text after the JSON value", what);
      }
    }
  }
  *out = root;
  return 0;
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

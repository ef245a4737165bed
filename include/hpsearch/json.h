/* Small helpers over cJSON for reading validated configuration: every
 * failure names the field (as a path such as "layers[2].units") and why.
 * Used by the engine config, the search space, the study spec and the RPC
 * parameter checks, so all of them word their errors the same way. */
#ifndef HPSEARCH_JSON_H
#define HPSEARCH_JSON_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "hpsearch/err.h"

/* Largest file hp_json_parse_file accepts. */
#define HP_JSON_FILE_MAX (64u << 20)

/* Reads and parses a JSON file. On success *out is a new tree the caller
 * frees with cJSON_Delete. Errors name the file and the line/column of a
 * syntax error. */
int hp_json_parse_file(const char *path, cJSON **out, hp_err_t *err);
/* Parses a buffer (need not be NUL-terminated); errors say where. `what`
 * names the source in messages ("study spec", "request"). */
int hp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, hp_err_t *err);

/* Fails with HP_EINVAL naming the first key of obj not in the NULL-terminated
 * list `allowed` ("where: unknown key 'foo'"). Fails if obj is not an object. */
int hp_json_check_keys(const cJSON *obj, const char *const *allowed, const char *where,
                       hp_err_t *err);

/* Fails with HP_EINVAL naming the first object anywhere in the tree that has
 * a key twice ("where.a[2].b: duplicated key 'k'"; without `where` and at the
 * top: "duplicated key 'k'"). cJSON keeps both members and lookups see only
 * the first, so such a document is ambiguous and is refused. */
int hp_json_check_unique(const cJSON *item, const char *where, hp_err_t *err);

/* Typed getters. When the key is absent: if `required`, fail naming it;
 * otherwise leave *out untouched (caller pre-sets the default) and return 0.
 * A present key of the wrong type always fails. */
int hp_json_get_number(const cJSON *obj, const char *key, bool required, double *out,
                       const char *where, hp_err_t *err);
/* Integer-valued number in [min, max]. */
int hp_json_get_int(const cJSON *obj, const char *key, bool required, long long min,
                    long long max, long long *out, const char *where, hp_err_t *err);
int hp_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                     const char *where, hp_err_t *err);
/* *out points into the tree (not a copy). */
int hp_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                       const char *where, hp_err_t *err);

/* Name of a cJSON node's type for messages ("number", "string", ...). */
const char *hp_json_type_name(const cJSON *item);

#endif

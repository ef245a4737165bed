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

/* Every JSON text from outside is read here (and by hp_json_parse_flawed):
 * RFC 8259 exactly, with well-formed UTF-8; a raw NUL byte, a raw control
 * character inside a string, bytes that are not UTF-8, an unpaired
 * surrogate escape, "01", "1." or text after the value are HP_EFORMAT
 * ("what: malformed JSON at line L column C: why"). A well-formed document is
 * still refused with HP_EINVAL naming the field when a string or key holds
 * \u0000 ("what: params.name: contains a NUL character (\u0000)": cJSON
 * would cut the string there) or a number is beyond a double's range
 * ("what: x: 1e400 is beyond the range of a double"). */

/* Reads and parses a JSON file. On success *out is a new tree the caller
 * frees with cJSON_Delete. Errors name the file. */
int hp_json_parse_file(const char *path, cJSON **out, hp_err_t *err);
/* Parses a buffer (need not be NUL-terminated). `what` names the source in
 * messages ("study spec", "request"). */
int hp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, hp_err_t *err);

/* The first value of a well-formed document that is refused (see above). */
typedef struct hp_json_flaw {
  char path[256]; /* where: "params.spec.name", "id", "" for the top value */
  hp_err_t err;   /* "params.spec.name: contains a NUL character (\u0000)"; code 0 if none */
} hp_json_flaw_t;
/* As hp_json_parse, but a well-formed document with a refused value is
 * returned (its strings cut at the NUL) and the first such value described
 * in *flaw (flaw->err.code is 0 when there is none): for the RPC layer,
 * which answers it with the request's id and an error code chosen by
 * where the value is. The caller must not act on a tree with a flaw. */
int hp_json_parse_flawed(const char *buf, size_t len, const char *what, cJSON **out,
                         hp_json_flaw_t *flaw, hp_err_t *err);

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
/* A value that may be non-finite: a number, or a string spelling inf, -inf
 * or nan as hp_num_parse takes them with `flags` (HP_NUM_STRICT: exactly
 * "inf", "-inf", "nan"). Any other string, "0.5" included, is refused. */
int hp_json_value(const cJSON *item, unsigned flags, double *out, const char *field,
                  hp_err_t *err);
int hp_json_get_value(const cJSON *obj, const char *key, bool required, unsigned flags,
                      double *out, const char *where, hp_err_t *err);
int hp_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                     const char *where, hp_err_t *err);
/* *out points into the tree (not a copy). */
int hp_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                       const char *where, hp_err_t *err);

/* For a tree built from outside text that did not come through the parser
 * (command-line arguments): fails with HP_EINVAL naming the first string or
 * key that is not well-formed UTF-8 ("params.study: not valid UTF-8"). */
int hp_json_check_text(const cJSON *item, const char *where, hp_err_t *err);

/* Writing. The one way hpsearch writes JSON text (replies, events, the
 * database, the CLI's --json): compact; numbers as hp_num_format_json
 * writes them (they read back exactly; a non-finite number as the string
 * "inf", "-inf" or "nan"); strings escaped, with every byte that is not
 * well-formed UTF-8 written as U+FFFD, so the output is always UTF-8. */

/* A new string the caller frees with free(), or NULL when out of memory. */
char *hp_json_print(const cJSON *item);
/* The same into *buf (of *cap bytes, grown with realloc and kept by the
 * caller); returns the length, or -1 when out of memory. */
long hp_json_print_into(const cJSON *item, char **buf, size_t *cap);
/* The JSON string literal of s[0..len) (quotes included) into dst, which
 * has room for 6 * len + 3 bytes; returns its length. */
size_t hp_json_quote(char *dst, const char *s, size_t len);

/* Name of a cJSON node's type for messages ("number", "string", ...). */
const char *hp_json_type_name(const cJSON *item);

#endif

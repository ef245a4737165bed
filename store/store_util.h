/* Helpers both store backends use (private to store/): attribute checks and
 * JSON object texts built from rows, Optuna's encodings of non-finite values
 * and of datetimes, growable arrays. */
#ifndef HPSEARCH_STORE_UTIL_H
#define HPSEARCH_STORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "hpsearch/err.h"

/* Growable text buffer for building JSON objects from rows. */
typedef struct hp_store_buf {
  char *p;
  size_t n, cap;
} hp_store_buf_t;

/* Appends len bytes; HP_ENOMEM on failure. */
int hp_store_buf_add(hp_store_buf_t *b, const char *s, size_t len);
/* Appends `"key": value_json` (with a leading ", " unless first); a value
 * that is not JSON is kept as a JSON string of its text. HP_ENOMEM. */
int hp_store_buf_add_member(hp_store_buf_t *b, const char *key, const char *value_json);

/* Checks that an attribute key (1..512 bytes of UTF-8) and value_json (JSON
 * text) are acceptable; HP_EINVAL naming what otherwise. */
int hp_store_check_attr(const char *key, const char *value_json, const char *what,
                        hp_err_t *err);

/* Calls fn for each top-level member of a JSON object text (NULL: none),
 * with the member's value printed as JSON; stops at fn's first error.
 * HP_EINVAL for a text that is not an object or a key over 512 bytes. */
int hp_store_attrs_each(const char *object_json, const char *what,
                        int (*fn)(void *ctx, const char *key, const char *value_json,
                                  hp_err_t *err),
                        void *ctx, hp_err_t *err);

/* Optuna's value_type / intermediate_value_type of a double: "FINITE",
 * "INF_POS", "INF_NEG" or "NAN" (static text). */
const char *hp_store_value_type(double v);
/* The double a (value, type) pair stands for: +-inf and NaN from the type,
 * NaN for a NULL finite value. */
double hp_store_value_of(const char *type, bool is_null, double value);

/* Now as 'YYYY-MM-DD HH:MM:SS.ffffff': UTC when utc (a v3.2.0.a database,
 * as Optuna 5 stores it), local time otherwise (Optuna 3.1's). */
void hp_store_now(bool utc, char out[32]);
/* A stored datetime (src; NULL or "" for none) as local time into dst. A
 * UTC text that does not parse is passed on as it is. */
void hp_store_time_local(bool utc, char *dst, size_t cap, const char *src);

/* Grows an array of `size`-byte items to hold n+1 (capacity doubling at
 * powers of two of n). HP_ENOMEM. */
int hp_store_grow(void **p, size_t n, size_t size);

#endif

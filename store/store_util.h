/* Helpers both store backends use (private to store/): attribute checks and
 * JSON object texts built from rows, Optuna's encodings of non-finite values
 * and of datetimes, growable arrays. */
#ifndef HPSEARCH_STORE_UTIL_H
#define HPSEARCH_STORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "hpsearch/err.h"
#include "hpsearch/store.h"

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

/* ---- argument checks both backends make before any statement ---- */

/* hp_store_study_create's name (1..512 bytes) and directions. */
int hp_store_check_new_study(const char *name, int n_objectives, const bool *maximize,
                             hp_err_t *err);
/* hp_store_trial_create's state (RUNNING or WAITING) and params array. */
int hp_store_check_new_trial(hp_store_state_t state, const hp_store_param_t *params,
                             size_t n_params, hp_err_t *err);
/* One parameter (index i, for the message): name, distribution_json, value. */
int hp_store_check_param(const hp_store_param_t *p, size_t i, hp_err_t *err);
/* hp_store_trial_finish's state and values (the count per objective is the
 * backend's to check). */
int hp_store_check_finish(int64_t trial_id, hp_store_state_t state, const double *values,
                          size_t n_values, hp_err_t *err);
/* Whether a state is final (COMPLETE, PRUNED, FAIL). */
bool hp_store_is_finished(int state);

/* Index of study_id in a list sorted by study_id, or -1. */
long hp_store_study_index(const hp_store_study_info_t *list, size_t n, int64_t id);

/* ---- reading trials: rows of the child tables matched to their trial ---- */
typedef struct hp_store_reader {
  hp_store_trial_t *t;          /* [n] by number */
  size_t n, cap;
  size_t *by_id;                /* [n] indices sorted by trial_id */
  hp_store_buf_t *uattr, *sattr; /* [n] attribute objects being built */
} hp_store_reader_t;

/* After t[0..n) are filled: the trial_id index and the attribute buffers.
 * HP_ENOMEM. */
int hp_store_reader_index(hp_store_reader_t *rd);
/* The trial with that id, or NULL (a row of a trial not read). */
hp_store_trial_t *hp_store_reader_find(hp_store_reader_t *rd, int64_t trial_id);
/* Adds one attribute row (system or user) to trial t's object. HP_ENOMEM. */
int hp_store_reader_attr(hp_store_reader_t *rd, hp_store_trial_t *t, bool system,
                         const char *key, const char *value_json);
/* Closes every attribute object into its trial ("{}" for none). HP_ENOMEM. */
int hp_store_reader_finish(hp_store_reader_t *rd);
/* Frees the index and buffers (not the trials). */
void hp_store_reader_release(hp_store_reader_t *rd);

#endif

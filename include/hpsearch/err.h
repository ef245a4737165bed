/* Error codes shared by every hpsearch module, and the error record that
 * library code fills so a caller can show a precise message.
 *
 * Convention: a function that can fail returns int: 0 on success, a negative
 * HP_E* code (or a negative errno for OS errors) otherwise. When it also takes
 * an hp_err_t *, it writes a human-readable message there naming the field,
 * file or value at fault. Library code never prints and never exits.
 *
 * Every layer below the RPC edge returns these codes (never a wire code):
 * the RPC edge maps them to JSON-RPC codes with ONE table
 * (hp_rpc_wire_code, include/hpsearch/rpc.h), and err_table in common/err.c
 * gives each a name and a message. To add context to a message, use
 * hp_err_prefix; never pass err->msg as an argument of hp_err_set(err, ...). */
#ifndef HPSEARCH_ERR_H
#define HPSEARCH_ERR_H

#include <stddef.h>

enum {
  HP_OK = 0,
  HP_EINVAL = -10000, /* invalid argument or config value */
  HP_ENOMEM,          /* allocation failed */
  HP_EIO,             /* file or pipe I/O failed */
  HP_EFORMAT,         /* malformed input (file, JSON, line) */
  HP_ENOTFOUND,       /* unknown study, trial, file, parameter */
  HP_EEXIST,          /* already exists */
  HP_ESTATE,          /* operation illegal in the current state */
  HP_EEXHAUSTED,      /* sampler has no point left (grid done) */
  HP_EDIVERGED,       /* training produced NaN/Inf */
  HP_EDB,             /* SQLite error */
  HP_ETOOBIG,         /* input exceeds a size limit */
  HP_ETIMEOUT,        /* deadline passed */
  HP_ENOSTUDY,        /* unknown study (name or id) */
  HP_ESPEC,           /* invalid study spec (the message names the field) */
  HP_ESTOPPED,        /* the study is stopped */
  HP_ESHUTDOWN,       /* the daemon is shutting down: no new work */
  HP_EPERM,           /* the peer may not talk to the daemon (another uid) */
  HP_EREQUEST,        /* not a valid JSON-RPC request */
  HP_ENOMETHOD,       /* unknown RPC method */
  HP_EBUSY,           /* held by another process (a database another daemon owns) */
  HP_ELAST_           /* not a code: end marker */
};

#define HP_ERR_MSG_MAX 512

typedef struct hp_err {
  int code;                  /* last code set, 0 if none */
  char msg[HP_ERR_MSG_MAX];  /* message naming what was wrong */
} hp_err_t;

/* "s" unless n is 1: "%lld trial%s" never reads "1 trials". */
static inline const char *hp_plural(long long n) { return n == 1 ? "" : "s"; }

/* Short constant name of a code ("HP_EINVAL", or "ENOENT"-like text for -errno). */
const char *hp_err_name(int code);
/* One-line description of a code (static storage). */
const char *hp_strerror(int code);

/* Records code and a printf-style message in *err (err may be NULL) and
 * returns code, so callers can write `return hp_err_set(err, HP_EINVAL, ...)`. */
int hp_err_set(hp_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an existing message (for context such as a field path). */
int hp_err_prefix(hp_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hp_err_clear(hp_err_t *err);

#endif

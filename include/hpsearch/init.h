/* Weight initializers of the engine: zeros, uniform, normal, Glorot
 * (uniform and normal) and Kaiming/He (normal and uniform), seeded through
 * hp_rng_t. m = fan_in, n = fan_out; for a conv layer fan_in = in_ch*kh*kw and
 * fan_out = out_ch*kh*kw. Formulas in docs/engine-optim-data.md. */
#ifndef HPSEARCH_INIT_H
#define HPSEARCH_INIT_H

#include <cJSON.h>
#include <stddef.h>

#include "hpsearch/err.h"
#include "hpsearch/rng.h"

typedef enum hp_init_kind {
  HP_INIT_ZEROS = 0,      /* "zeros": 0 */
  HP_INIT_UNIFORM,        /* "uniform": U(-a, a), "a" default 0.05 */
  HP_INIT_NORMAL,         /* "normal": N(0, std^2), "std" default 0.01 */
  HP_INIT_GLOROT_UNIFORM, /* "glorot_uniform": U(-b, b), b = scale*sqrt(6/(m+n)) */
  HP_INIT_GLOROT_NORMAL,  /* "glorot_normal": N(0, scale^2 * 2/(m+n)) */
  HP_INIT_KAIMING_NORMAL, /* "kaiming_normal": N(0, scale^2 * 2/m) */
  HP_INIT_KAIMING_UNIFORM,/* "kaiming_uniform": U(-b, b), b = scale*sqrt(6/m) */
  HP_INIT_COUNT_
} hp_init_kind_t;

typedef struct hp_init {
  hp_init_kind_t kind;
  double a;     /* uniform half-width ("a") */
  double std;   /* normal standard deviation ("std") */
  double scale; /* gain for glorot/kaiming ("scale", default 1) */
} hp_init_t;

/* kind with its defaults (a = 0.05, std = 0.01, scale = 1). */
void hp_init_default(hp_init_t *init, hp_init_kind_t kind);

/* Parses an initializer: either a string ("kaiming_normal") or an object
 * {"type": "uniform", "a": 0.1} / {"type": "normal", "std": 1} /
 * {"type": "glorot_uniform", "scale": 1}. An unknown name fails listing the
 * valid ones; unknown keys, or a key that does not apply to the type, fail
 * naming the field; a, std, scale must be finite and >= 0. */
int hp_init_parse(const cJSON *item, hp_init_t *out, const char *where, hp_err_t *err);

/* Canonical name ("glorot_uniform"). Static string. */
const char *hp_init_name(hp_init_kind_t kind);
/* Kind by name; returns -1 if unknown. */
int hp_init_kind_from_name(const char *name);

/* Fills w[0..n) (caller-owned) from the distribution, drawing from rng in
 * index order (same rng state -> same weights). fan_in/fan_out are used by
 * glorot/kaiming and must then be > 0 (asserted). */
void hp_init_fill(const hp_init_t *init, float *w, size_t n, size_t fan_in, size_t fan_out,
                  hp_rng_t *rng);

#endif

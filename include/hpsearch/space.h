/* Search spaces: distributions with Optuna's meaning (float, int,
 * categorical), a space parsed and validated from JSON, conversions between
 * the internal representation (one double per parameter), external JSON
 * values and Optuna 3.1's distribution_json text.
 *
 * Internal representation (what samplers produce and the store keeps, as in
 * Optuna's trial_params.param_value): float -> the value itself, int -> the
 * integer as a double, categorical -> the 0-based index of the choice as a
 * double. Log parameters are NOT in log space. NaN means "absent".
 *
 * Ownership: hp_space_t owns everything reachable from it (names, choices,
 * grid lists, warnings); free with hp_space_free. hp_dist_t owns its
 * `choices` array; free with hp_dist_free. Functions returning char * or
 * cJSON * return new memory the caller frees (free / cJSON_Delete). */
#ifndef HPSEARCH_SPACE_H
#define HPSEARCH_SPACE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

/* Limits that bound allocations made from user input. */
#define HP_SPACE_MAX_PARAMS 1024   /* parameters in one space */
#define HP_SPACE_MAX_CHOICES 65536 /* choices of one categorical */
#define HP_SPACE_MAX_GRID 65536    /* values in one parameter's grid list */
#define HP_SPACE_NAME_MAX 256      /* bytes of a parameter name */

typedef enum hp_dist_kind {
  HP_DIST_FLOAT = 0, /* FloatDistribution: low, high, log, step (0 = none) */
  HP_DIST_INT,       /* IntDistribution: integral low, high, step >= 1, log */
  HP_DIST_CAT,       /* CategoricalDistribution: choices */
} hp_dist_kind_t;

typedef struct hp_dist {
  hp_dist_kind_t kind; /* which distribution */
  double low;          /* float/int: lower bound (inclusive) */
  double high;         /* float/int: upper bound (inclusive; for float without
                          step the random sampler excludes it, like Optuna);
                          already adjusted down to low + k*step when a step
                          does not fit the range */
  double step;         /* float: 0 = continuous, else > 0; int: >= 1 */
  bool log;            /* log-scaled (never together with a step, except int step 1) */
  int n_choices;       /* categorical: number of choices, else 0 */
  cJSON *choices;      /* categorical: owned cJSON array of scalars
                          (number, string, true/false, null), else NULL */
} hp_dist_t;

/* One condition of a conditional parameter: the parameter is active only
 * while the categorical parameter `parent` (an earlier one in the space) is
 * active and has one of the allowed choices. */
typedef struct hp_cond {
  int parent;  /* index of the categorical parameter (< this parameter's) */
  uint8_t *ok; /* owned [parent's n_choices]: 1 where the choice allows it */
} hp_cond_t;

/* One named parameter of a space. */
typedef struct hp_param {
  char *name;     /* owned, NUL-terminated, unique in the space */
  hp_dist_t dist; /* its distribution */
  int n_grid;     /* grid-sampler values (internal representation), 0 if none */
  double *grid;   /* owned [n_grid]: from "grid": [...], or all choices of a
                     categorical, or every point of an int / stepped float
                     when it has at most HP_SPACE_MAX_GRID points; NULL when
                     the parameter cannot be gridded (continuous float
                     without "grid") */
  bool grid_given; /* the list came from the spec's "grid" key */
  int n_cond;      /* conditions of "when" (all must hold), 0 = always active */
  hp_cond_t *cond; /* owned [n_cond], in the order of the "when" object */
} hp_param_t;

/* A search space: parameters in the order their keys appear in the JSON
 * object (document order). Samplers, arrays of internal values and grid ids
 * all use this order. */
typedef struct hp_space {
  int n;              /* number of parameters */
  hp_param_t *params; /* owned [n] */
  char *warnings;     /* owned, NULL if none: newline-separated notes such as
                         "width: high 1000 adjusted to 992 to fit step 32"
                         that the caller should log */
  bool conditional;   /* some parameter has a "when" condition */
} hp_space_t;

/* ---- spaces ------------------------------------------------------------ */

/* Parses a space object such as
 *   {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},
 *    "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
 *    "width": {"type": "int", "low": 32, "high": 1024, "log": true}}
 * Keys per parameter: type (required: "float" | "int" | "categorical"),
 * low, high (required for float/int unless "grid" is given: then they
 * default to the grid's min/max), log (default false), step (float: default
 * none; int: default 1), choices (categorical, required), grid (optional list
 * of values for the grid sampler; must lie in the distribution / be among
 * the choices). See docs/search.md for every rule.
 * On success *out is a new space (free with hp_space_free). On failure *out
 * is NULL and err names the parameter and the reason ("space.lr: log
 * requires low > 0 (got 0)"). */
int hp_space_parse(const cJSON *obj, hp_space_t **out, hp_err_t *err);
/* Same, from JSON text of length len. */
int hp_space_parse_text(const char *text, size_t len, hp_space_t **out, hp_err_t *err);
void hp_space_free(hp_space_t *space);
/* Conditional parameters ("when", docs/search.md): parameter p is active
 * for internal values params[] (NaN = absent) when every condition holds:
 * its parent has a value and that value is an allowed choice. Parents come
 * before their children, so one pass in space order decides everything. */
bool hp_space_active(const hp_space_t *space, int p, const double *params);
/* Sets every inactive parameter of params[space->n] to NaN (in space
 * order, so a parameter whose parent became absent is absent too). Returns
 * the number of active parameters. */
int hp_space_deactivate(const hp_space_t *space, double *params);
/* True if params[] has a value for exactly the active parameters, each
 * inside its distribution (what a trial of this space stores). */
bool hp_space_consistent(const hp_space_t *space, const double *params);
/* Values that make parameter p active and every other parameter either
 * absent or at a fixed value: ancestors of p get the first choice their
 * children allow, every other active parameter its first value (a
 * categorical's first choice, a range's low). For checks of a template at
 * creation. Returns false (params filled anyway) if p cannot be made active
 * that way (conditions that contradict each other). */
bool hp_space_example(const hp_space_t *space, int p, double *params);
/* Conditions read off the trials of a define-by-run study (one another
 * program wrote without a spec): `space` is a space object in the input
 * format whose d members are the parameters, x[t * d + p] the internal
 * value of member p in trial t (NaN = the trial lacks it). A parameter that
 * some trials lack gets "when": {q: [values]} for the categorical q that
 * every trial having it has too, that some trials lacking it have, and
 * whose values in the two sets of trials never meet (the nearest such q:
 * the one the fewest trials have); members are then reordered so parents
 * come first. A parameter without such a q stays unconditional. 0 or
 * HP_ENOMEM. */
int hp_space_infer_conditions(cJSON *space, const double *x, size_t n_trials);
/* Index of the parameter called name, or -1. */
int hp_space_find(const hp_space_t *space, const char *name);
/* The space back in the input format (with adjusted highs). New tree, caller
 * frees with cJSON_Delete; NULL on allocation failure. */
cJSON *hp_space_to_json(const hp_space_t *space);

/* ---- single distributions ---------------------------------------------- */

/* Parses one parameter spec ({"type": ..., ...} as above) into *out; `where`
 * names it in errors ("space.lr"). If a step does not fit, high is adjusted
 * and a note is written to warn (if non-NULL; empty string otherwise).
 * *out must be freed with hp_dist_free. */
int hp_dist_parse(const cJSON *spec, const char *where, hp_dist_t *out, char *warn,
                  size_t warn_len, hp_err_t *err);
/* Builds distributions directly (validated like the parser; `name` is used
 * in error messages only). hp_dist_cat copies `choices` (a cJSON array). */
int hp_dist_float(const char *name, double low, double high, bool log, double step,
                  hp_dist_t *out, hp_err_t *err);
int hp_dist_int(const char *name, double low, double high, bool log, double step,
                hp_dist_t *out, hp_err_t *err);
int hp_dist_cat(const char *name, const cJSON *choices, hp_dist_t *out, hp_err_t *err);
void hp_dist_free(hp_dist_t *dist);
/* Deep copy; dst must be freed with hp_dist_free. */
int hp_dist_copy(hp_dist_t *dst, const hp_dist_t *src, hp_err_t *err);

/* Optuna 3.1's distribution_json text, byte for byte as Optuna writes it,
 * e.g. {"name": "FloatDistribution", "attributes": {"step": null, "low":
 * 1e-05, "high": 0.1, "log": true}} (Python float repr, ensure_ascii
 * strings). Integral numeric categorical choices are written as ints (cJSON
 * keeps no int/float distinction). New string, caller frees; NULL on
 * allocation failure. */
char *hp_dist_to_optuna_json(const hp_dist_t *dist);
/* Parses distribution_json: the 3.1 names (FloatDistribution,
 * IntDistribution, CategoricalDistribution), the legacy names
 * (UniformDistribution, LogUniformDistribution, DiscreteUniformDistribution,
 * IntUniformDistribution, IntLogUniformDistribution) and the abbreviated
 * {"type": "float"|"int"|"categorical", ...} form. */
int hp_dist_from_optuna_json(const char *text, size_t len, hp_dist_t *out, hp_err_t *err);

/* True if the internal value is inside the distribution: within [low, high]
 * (ints integral, on the step grid), or a valid choice index. NaN -> false. */
bool hp_dist_contains(const hp_dist_t *dist, double internal);
/* True if the distribution has exactly one value (low == high, one choice). */
bool hp_dist_single(const hp_dist_t *dist);
/* Optuna's compatibility rule for one parameter across trials: same kind,
 * same log flag, and for categoricals identical choices. Ranges may differ. */
bool hp_dist_compatible(const hp_dist_t *a, const hp_dist_t *b);
/* Exact equality (kind, bounds, step, log, choices). */
bool hp_dist_equal(const hp_dist_t *a, const hp_dist_t *b);

/* External value of an internal one: a copy of the choice for categoricals,
 * an integral number for ints, a number for floats. New item (caller frees
 * with cJSON_Delete); NULL if the value is not contained or on allocation
 * failure. */
cJSON *hp_dist_to_external(const hp_dist_t *dist, double internal);
/* Internal value of an external one (a choice object, an integral number,
 * a number); fails with HP_EINVAL if it is not inside the distribution. */
int hp_dist_from_external(const hp_dist_t *dist, const cJSON *value, double *internal,
                          hp_err_t *err);
/* Writes the external value as compact JSON text (e.g. "0.001", "\"adam\"",
 * "64") into buf; returns the length, or a negative HP_E* code. */
int hp_dist_format_external(const hp_dist_t *dist, double internal, char *buf, size_t len);

#endif

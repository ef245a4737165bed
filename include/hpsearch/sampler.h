/* Samplers (random, grid, TPE) with an incremental history: the caller tells
 * the sampler about each trial once it runs and once it reaches a final state,
 * and asks it for the parameters of a new trial number. A sampler is a pure
 * function of (space, options, seed, told history, trial number): the same
 * inputs give the same suggestion on every machine.
 *
 * Typical daemon use (also when replaying a study after a restart):
 *   hp_sampler_create(space, &opts, &s, &err);
 *   for each stored trial: RUNNING -> hp_sampler_running(s, number, params)
 *                          COMPLETE/PRUNED/FAIL -> hp_sampler_tell(s, ...)
 *   new trial n: hp_sampler_suggest(s, n, params, &err)  (claims the point)
 *                ... hp_sampler_tell(s, n, params, state, value, step, &err)
 *   a suggested trial that never starts: hp_sampler_release(s, n)
 *
 * Ownership: the sampler borrows `space` (the caller keeps it alive and
 * unchanged until hp_sampler_free) and copies every params array it is given.
 * Not thread-safe: one sampler per study, used from one thread. */
#ifndef HPSEARCH_SAMPLER_H
#define HPSEARCH_SAMPLER_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "hpsearch/err.h"
#include "hpsearch/space.h"

typedef enum hp_sampler_kind {
  HP_SAMPLER_RANDOM = 0,
  HP_SAMPLER_GRID,
  HP_SAMPLER_TPE,
  HP_SAMPLER_GP,   /* Gaussian process + log expected improvement (search/gp*.c) */
  HP_SAMPLER_AUTO, /* GP while the space has no condition and few trials are done, else TPE */
  HP_SAMPLER_NSGA2, /* NSGA-II (several objectives; one works too) */
  /* New kinds go here, at the end (the numbers are stable). */
} hp_sampler_kind_t;

/* Most objectives and constraint values a sampler takes per trial. */
#define HP_SAMPLER_MAX_OBJECTIVES 8
#define HP_SAMPLER_MAX_CONSTRAINTS 64

/* Final trial states the sampler distinguishes (the names match Optuna's). */
typedef enum hp_trial_final {
  HP_FINAL_COMPLETE = 0, /* finished with a value */
  HP_FINAL_PRUNED,       /* stopped by a pruner; value = last intermediate value */
  HP_FINAL_FAIL,         /* failed: ignored by TPE; a visited point for grid */
} hp_trial_final_t;

/* Sampler options. Start from hp_sampler_opts_default, then change fields
 * (or parse them from the study spec with hp_sampler_opts_parse). */
typedef struct hp_sampler_opts {
  hp_sampler_kind_t kind; /* which sampler */
  uint64_t seed;          /* all randomness derives from (seed, trial number) */
  bool maximize;          /* study direction (of objective 0); values are negated internally */
  int n_objectives;       /* 1 (default) .. HP_SAMPLER_MAX_OBJECTIVES */
  bool maximize_obj[HP_SAMPLER_MAX_OBJECTIVES]; /* direction of objective k >= 1
                                                   (objective 0: `maximize`) */
  /* TPE (Optuna 5 defaults) */
  int n_startup_trials;    /* 10: random until this many COMPLETE+PRUNED trials */
  int n_ei_candidates;     /* 24: candidates drawn from l(x) per decision */
  double gamma_ratio;      /* 0.1: gamma(n) = min(ceil(gamma_ratio * n), gamma_max) */
  int gamma_max;           /* 25 */
  bool consider_prior;     /* true: one wide prior kernel per mixture */
  double prior_weight;     /* 1.0 */
  bool consider_magic_clip; /* true: bandwidth floor (high-low)/min(100, 1+#centres) */
  bool consider_endpoints; /* false */
  bool multivariate;       /* true (Optuna 5's default): joint product kernels per
                              group; false: one decision per parameter */
  bool constant_liar;      /* true (Optuna 5's default): running trials count as
                              worst observations */
  bool group;              /* true: multivariate TPE decomposes the space into
                              groups of parameters that always occur together
                              (Optuna's group=True) and samples each jointly;
                              false: one joint set of the parameters every
                              trial has, the others univariate (group=False) */
  bool optuna31_density;   /* false: the corrected truncated-normal density (with
                              -log sigma) and hpsearch's coverage/resolution
                              bandwidths; true: Optuna 3.1's density and
                              bandwidths exactly (see docs/search.md) */
  /* GP (Optuna 5's GPSampler defaults); n_startup_trials above is shared
   * (10: random until this many COMPLETE trials) */
  int gp_n_candidates;     /* 2048: quasi-random candidates per suggestion */
  bool gp_deterministic;   /* false: fit the noise; true: noise fixed at 1e-6 */
  /* auto */
  int auto_crossover;      /* GP while fewer COMPLETE trials than this (and
                              the space has no condition), TPE from then on */
  /* grid */
  bool grid_shuffle;       /* true: hand out free points in seeded random order
                              (as Optuna); false: in grid-id order */
  bool grid_retry_failed;  /* false: a FAIL point is done; true: it becomes free again */
  /* NSGA-II (Optuna's NSGAIISampler defaults) */
  int population_size;     /* 50: trials per generation */
  double mutation_prob;    /* NaN: 1 / number of parameters; else a probability */
  double crossover_prob;   /* 0.9 */
  double swapping_prob;    /* 0.5: uniform crossover's per-parameter swap */
} hp_sampler_opts_t;

/* The automatic sampler's default crossover (COMPLETE trials), measured
 * with `make bench-search` (docs/search.md). */
#define HP_SAMPLER_AUTO_CROSSOVER 250

/* Fills defaults for a kind (TPE fields get Optuna 5's defaults: Optuna
 * 3.1's plus multivariate and constant_liar). */
void hp_sampler_opts_default(hp_sampler_opts_t *opts, hp_sampler_kind_t kind);
/* Parses the study spec's "sampler" value: a string ("random" | "grid" |
 * "tpe" | "gp" | "auto") or an object {"type": ..., "seed": N, and the
 * option names above (GP: "n_startup_trials", "n_candidates",
 * "deterministic_objective"; auto: "crossover"),
 * e.g. "n_startup_trials": 20, "multivariate": true, "constant_liar": true,
 * "group": false, "optuna31_density": true,
 * "shuffle": false, "retry_failed": true}. Unknown keys and wrong types fail
 * naming the key. The direction is not part of it: set opts->maximize. */
int hp_sampler_opts_parse(const cJSON *value, hp_sampler_opts_t *opts, hp_err_t *err);
/* "random", "grid", "tpe", "gp", "auto", "nsga2". */
const char *hp_sampler_kind_name(hp_sampler_kind_t kind);

typedef struct hp_sampler hp_sampler_t;

/* Creates a sampler over `space` (borrowed, see above). A grid sampler fails
 * with HP_EINVAL naming a parameter that has no grid values (a continuous
 * float without "grid") or when the product exceeds HP_SAMPLER_GRID_MAX. */
#define HP_SAMPLER_GRID_MAX (1u << 24)
int hp_sampler_create(const hp_space_t *space, const hp_sampler_opts_t *opts,
                      hp_sampler_t **out, hp_err_t *err);
void hp_sampler_free(hp_sampler_t *s);

/* A trial reached a final state. params: [space->n] internal values (NaN =
 * parameter absent). value: the objective (COMPLETE), the last intermediate
 * value (PRUNED; NaN if none), ignored for FAIL. last_step: for PRUNED the
 * largest step that had an intermediate value, or -1 if it reported none
 * (Optuna ranks pruned trials after all complete ones, by step reached, then
 * by that value). number >= 0 and < 2^31. Telling a number twice fails with
 * HP_EEXIST; if it was running it stops counting as running. A COMPLETE value
 * that is NaN is treated as FAIL (as Optuna's tell does). */
int hp_sampler_tell(hp_sampler_t *s, int64_t number, const double *params,
                    hp_trial_final_t state, double value, int64_t last_step, hp_err_t *err);
/* The same with several objectives and constraints (hp_sampler_tell is this
 * with one value and none). values: [n_values] in objective order, n_values
 * == opts.n_objectives for COMPLETE (fewer fails with HP_EINVAL; a NaN
 * among them makes the trial FAIL), optional for PRUNED (then `value`
 * semantics: values[0] or NaN). constraints: [n_constraints] (0..
 * HP_SAMPLER_MAX_CONSTRAINTS), c <= 0 is satisfied, as Optuna: a trial
 * whose positive constraint values sum to v > 0 is infeasible, ranked after
 * every feasible one by v (TPE) or dominated by every feasible one (NSGA-II).
 * NaN constraint values are refused (HP_EINVAL). */
int hp_sampler_tell_values(hp_sampler_t *s, int64_t number, const double *params,
                           hp_trial_final_t state, const double *values, int n_values,
                           const double *constraints, int n_constraints, int64_t last_step,
                           hp_err_t *err);
/* A trial is running with these params (constant liar; grid claim). Used when
 * replaying RUNNING trials of a stored study; not needed after
 * hp_sampler_suggest for the same number (suggest already records it).
 * Calling it again for the same number replaces its params. */
int hp_sampler_running(hp_sampler_t *s, int64_t number, const double *params, hp_err_t *err);
/* Forgets a running trial that will never be told (e.g. the daemon could not
 * start it): its grid point becomes free again. Unknown numbers are ignored. */
void hp_sampler_release(hp_sampler_t *s, int64_t number);

/* Suggests params_out[space->n] (internal values) for trial `number` and
 * records the trial as running. Returns 0, HP_EEXHAUSTED (grid: every point
 * is done or claimed by a running trial), or HP_EEXIST if the number was
 * already told or is running. Deterministic in (seed, history, number). */
int hp_sampler_suggest(hp_sampler_t *s, int64_t number, double *params_out, hp_err_t *err);
/* Which algorithm made the last successful suggestion: "random" (a startup
 * or fallback draw), "grid", "tpe" or "gp" (the automatic sampler reports
 * the one it chose). Static string; "" before the first suggestion. */
const char *hp_sampler_last_by(const hp_sampler_t *s);

/* Makes params[space->n] a point of the space after some values were fixed
 * from outside (an enqueued trial's fixed parameters): in space order, an
 * inactive parameter becomes absent (NaN) and an active one without a value
 * is drawn at random (from the stream of (seed, number), as the random
 * sampler does). */
void hp_sampler_fill(const hp_sampler_t *s, int64_t number, double *params);

/* Counters, for status output and for the daemon to decide a grid study is
 * finished (grid_free == 0 && n_running == 0). grid_* are 0 for non-grid. */
typedef struct hp_sampler_stats {
  int64_t n_complete; /* told COMPLETE */
  int64_t n_pruned;   /* told PRUNED */
  int64_t n_fail;     /* told FAIL */
  int64_t n_running;  /* running (suggested or told running, not final) */
  int64_t grid_total; /* points in the grid */
  int64_t grid_free;  /* points not done and not claimed */
  int64_t grid_done;  /* points done (COMPLETE/PRUNED, and FAIL unless retry_failed) */
} hp_sampler_stats_t;
void hp_sampler_stats(const hp_sampler_t *s, hp_sampler_stats_t *out);

/* Grid point id of internal params (mixed radix over the space order, last
 * parameter varies fastest), or -1 if they are not a grid point. */
int64_t hp_sampler_grid_id(const hp_sampler_t *s, const double *params);

#endif

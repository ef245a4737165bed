/* Parameter importance of a study's completed trials: PED-ANOVA (Optuna 5's
 * default, PedAnovaImportanceEvaluator) and fANOVA (Optuna <= 4's default,
 * FanovaImportanceEvaluator: a random forest on the completed trials and the
 * functional-ANOVA variance decomposition of its trees). docs/search.md,
 * "Parameter importance", gives both algorithms with their defaults.
 *
 * The caller passes a plain table (one row per completed trial with a
 * finite value, one column per parameter) and gets one importance per
 * parameter, normalized to sum 1 as optuna.importance.get_param_importances
 * returns them. The JSON shape for readers (CLI, RPC, dashboard) is built
 * in view/ (hp_view_importance, include/hpsearch/view.h).
 *
 * Depends on space.h (distributions) and common/ only. Nothing is kept
 * between calls; memory is the caller's (inputs are only read). */
#ifndef HPSEARCH_IMPORTANCE_H
#define HPSEARCH_IMPORTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "hpsearch/err.h"
#include "hpsearch/space.h"

typedef enum hp_imp_evaluator {
  HP_IMP_PED_ANOVA = 0, /* Optuna 5's default: Pearson divergence of the top
                           quantile's Parzen density from all trials' */
  HP_IMP_FANOVA,        /* Optuna <= 4's default: random forest + fANOVA */
} hp_imp_evaluator_t;

/* "ped-anova" / "fanova" (static text). */
const char *hp_imp_evaluator_name(hp_imp_evaluator_t e);
/* Name -> evaluator; HP_EINVAL naming the accepted names otherwise. */
int hp_imp_evaluator_parse(const char *name, hp_imp_evaluator_t *out, hp_err_t *err);

/* Knobs, with Optuna's defaults from hp_imp_opts_default. */
typedef struct hp_imp_opts {
  hp_imp_evaluator_t evaluator; /* default HP_IMP_PED_ANOVA */
  uint64_t seed;                /* fANOVA forest (bootstrap, feature order); default 0 */
  int n_trees;                  /* fANOVA: trees in the forest, default 64 */
  int max_depth;                /* fANOVA: deepest split level, default 64 */
  double target_quantile;       /* PED-ANOVA: the top share whose density is
                                   compared (gamma'), default 0.1 */
} hp_imp_opts_t;

void hp_imp_opts_default(hp_imp_opts_t *o);

/* The completed trials as a table. Row t, column p:
 *   x[t * n_params + p]    the internal value (space.h: a categorical's
 *                          choice index), NaN where the trial lacks p;
 *   dist[t * n_params + p] the distribution the trial had for p, NULL where
 *                          it lacks p (conditional parameters; the same
 *                          name with two distributions is two regimes).
 * y[t] is the trial's objective value; rows with a non-finite y are
 * skipped (as Optuna does). */
typedef struct hp_imp_table {
  int n_params;
  const char *const *names;     /* [n_params], for error messages */
  int64_t n_trials;
  const double *x;              /* [n_trials * n_params] */
  const hp_dist_t *const *dist; /* [n_trials * n_params] */
  const double *y;              /* [n_trials] */
  bool maximize;                /* the study's direction */
} hp_imp_table_t;

/* Why a parameter got no importance (out value NaN). */
typedef enum hp_imp_skip {
  HP_IMP_EVALUATED = 0,  /* out[p] is its importance */
  HP_IMP_CONDITIONAL,    /* fANOVA: absent from some trial, or its
                            distribution changed between trials (Optuna's
                            intersection search space leaves it out) */
} hp_imp_skip_t;

/* Importances of every parameter into out[n_params] (normalized to sum 1
 * over the evaluated ones; all equal when every importance is 0, as Optuna
 * does), and why one was skipped into skip[n_params] (may be NULL); a
 * skipped parameter's out is NaN. *n_used (may be NULL) receives the rows
 * used. Fewer than two usable rows: every importance 0 before
 * normalization, i.e. all equal, as Optuna. HP_EINVAL for bad options or a
 * table whose values lie outside their distribution; HP_ENOMEM. */
int hp_importance(const hp_imp_table_t *t, const hp_imp_opts_t *o, double *out,
                  hp_imp_skip_t *skip, int64_t *n_used, hp_err_t *err);

#endif

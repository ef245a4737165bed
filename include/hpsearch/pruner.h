/* Pruners: decide whether a running trial should stop early, from its
 * intermediate values and those of its peers at the same step, with Optuna
 * 3.1's semantics (median, percentile, successive halving / ASHA, hyperband).
 *
 * A pruner is fed incrementally: every report (trial, step, value) and every
 * trial end. It keeps, per step, a sorted array of the COMPLETE trials'
 * values, and per rung a sorted array of rung values, so a decision costs
 * O(log n) plus one memmove, never a rebuild from the history.
 *
 * Ownership: hp_pruner_create returns a pruner the caller frees with
 * hp_pruner_free. The pruner copies everything it keeps (the config tree and
 * the study name may be freed after create). Not thread-safe; the daemon owns
 * one pruner per study on its loop thread.
 *
 * Rebuilding after a restart: replay, in trial-number order, every stored
 * intermediate value with hp_pruner_report and every finished trial with
 * hp_pruner_finish; for successive halving / hyperband also restore the rung
 * values the pruner recorded (hp_pruner_rung_count / hp_pruner_rung_value give
 * them after a decision; the daemon may store them in trial_system_attributes
 * as "completed_rung_<k>" exactly as Optuna does, and give them back with
 * hp_pruner_restore_rung). See docs/pruners.md. */
#ifndef HPSEARCH_PRUNER_H
#define HPSEARCH_PRUNER_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "hpsearch/err.h"

typedef enum hp_pruner_kind {
  HP_PRUNER_NONE = 0,   /* never prunes */
  HP_PRUNER_MEDIAN,     /* percentile 50 */
  HP_PRUNER_PERCENTILE, /* keep the best `percentile` % at each step */
  HP_PRUNER_SHA,        /* asynchronous successive halving */
  HP_PRUNER_HYPERBAND,  /* several SHA brackets, trial -> bracket by crc32 */
} hp_pruner_kind_t;

/* How a trial ended, for hp_pruner_finish. Only COMPLETE trials are peers of
 * the median/percentile pruners (as in Optuna); rung values recorded by
 * successive halving stay whatever the trial's end. */
typedef enum hp_pruner_end {
  HP_PRUNER_END_COMPLETE = 0,
  HP_PRUNER_END_PRUNED,
  HP_PRUNER_END_FAIL,
} hp_pruner_end_t;

typedef struct hp_pruner hp_pruner_t;

/* Parses a pruner config object and creates the pruner.
 *   {"type": "none"}
 *   {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0,
 *    "interval_steps": 1, "n_min_trials": 1}
 *   {"type": "percentile", "percentile": 25.0, + the four median keys}
 *   {"type": "successive_halving" | "asha", "min_resource": "auto" | int >= 1,
 *    "reduction_factor": 4, "min_early_stopping_rate": 0, "bootstrap_count": 0}
 *   {"type": "hyperband", "min_resource": 1, "max_resource": "auto" | int,
 *    "reduction_factor": 3, "bootstrap_count": 0}
 * cfg NULL means {"type": "none"}. Unknown keys, wrong types and bad values
 * fail with HP_EINVAL naming "pruner.<key>". `study_name` is needed by
 * hyperband only (bracket = crc32("<study_name>_<number>") as Optuna); it may
 * be NULL otherwise. `maximize` is the study's (first) direction. */
int hp_pruner_create(const cJSON *cfg, const char *study_name, bool maximize,
                     hp_pruner_t **out, hp_err_t *err);
void hp_pruner_free(hp_pruner_t *p);

hp_pruner_kind_t hp_pruner_kind(const hp_pruner_t *p);
/* Canonical type name: "none", "median", "percentile", "successive_halving",
 * "hyperband". */
const char *hp_pruner_kind_name(hp_pruner_kind_t kind);

/* Records the trial's intermediate value at step (step >= 0; a second report
 * at the same step overwrites, as Optuna's upsert). value may be NaN or +-inf.
 * Fails with HP_EINVAL on a negative step or trial_number, HP_ESTATE if the
 * trial already finished, HP_ENOMEM. */
int hp_pruner_report(hp_pruner_t *p, int64_t trial_number, int64_t step, double value,
                     hp_err_t *err);

/* Records the end of a trial. A COMPLETE trial's intermediate values become
 * peers at their steps. Finishing twice fails with HP_ESTATE. A trial that
 * never reported may be finished (it counts towards n_startup_trials). */
int hp_pruner_finish(hp_pruner_t *p, int64_t trial_number, hp_pruner_end_t end, hp_err_t *err);

/* Decides whether the trial should stop now. `step` is the step just
 * reported; as in Optuna the decision is taken at the trial's last (largest)
 * reported step, which is the same thing when steps increase. Returns 1 to
 * prune, 0 to continue, a negative code on error (HP_ENOTFOUND: the trial has
 * no report at all is NOT an error, it returns 0). Successive halving and
 * hyperband record the trial's rung values here (that is their state). */
int hp_pruner_should_prune(hp_pruner_t *p, int64_t trial_number, int64_t step, hp_err_t *err);

/* Successive halving / hyperband rung state of one trial: number of rungs it
 * completed, and the value recorded at rung k (Optuna's "completed_rung_<k>"
 * system attribute). 0 / NaN for other pruners or unknown trials. */
int hp_pruner_rung_count(const hp_pruner_t *p, int64_t trial_number);
double hp_pruner_rung_value(const hp_pruner_t *p, int64_t trial_number, int rung);
/* Restores a rung value after a restart (rungs must be restored in order
 * 0, 1, 2 ... per trial). HP_EINVAL for another pruner kind, a gap or NaN.
 * Hyperband values restored before its brackets are known (max_resource
 * "auto", no COMPLETE trial replayed yet) join their bracket once it is. */
int hp_pruner_restore_rung(hp_pruner_t *p, int64_t trial_number, int rung, double value,
                           hp_err_t *err);

/* Key of rung k in trial_system_attributes, as Optuna writes it. */
#define HP_PRUNER_RUNG_KEY_FMT "completed_rung_%d"
/* Restores every "completed_rung_<k>" of a trial's system attributes object
 * (k = 0, 1, ... until one is missing; other keys are ignored). A no-op for
 * pruners without rungs. Call after replaying reports and finishes. */
int hp_pruner_restore_rungs_json(hp_pruner_t *p, int64_t trial_number, const cJSON *system_attrs,
                                 hp_err_t *err);

/* Hyperband only: the bracket of a trial, or -1 while the brackets are not
 * known yet (max_resource "auto" before the first COMPLETE trial). */
int hp_pruner_bracket(hp_pruner_t *p, int64_t trial_number);

#endif

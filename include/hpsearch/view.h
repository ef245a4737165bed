/* The JSON shapes of studies and trials (docs/protocol.md, "Shared shapes"),
 * built in ONE place for every reader: the daemon's replies (study.get,
 * study.list, trial.get, trial.list, ...) and the CLI's `--db` reader, which
 * opens the database itself. Both feed the same store records
 * (hp_store_study_info_t, hp_store_trial_t) and the same spec fields, so a
 * study or trial reads the same whichever way it is asked for; only what a
 * running daemon alone knows (the live state of a study) is passed in, and
 * is derived from the database when it is not.
 *
 * Depends on store/ (records, attributes), search/ (parameter decoding) and
 * common/. Everything returned is owned by the caller. */
#ifndef HPSEARCH_VIEW_H
#define HPSEARCH_VIEW_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"
#include "hpsearch/importance.h"
#include "hpsearch/store.h"

/* ---- JSON text writer (view/jsonbuf.c) --------------------------------- */
/* An append-only buffer that writes JSON text directly: lists of thousands
 * of trials are written ten times faster than built as cJSON trees. */
typedef struct hp_sbuf {
  char *p;          /* NUL-terminated text (owned), NULL until the first write */
  size_t len, cap;  /* used / allocated bytes */
  bool oom;         /* an allocation failed; the text is incomplete */
} hp_sbuf_t;
void hp_sbuf_put(hp_sbuf_t *b, const char *s, size_t n);
void hp_sbuf_puts(hp_sbuf_t *b, const char *s);
void hp_sbuf_str(hp_sbuf_t *b, const char *s);   /* as a JSON string */
void hp_sbuf_int(hp_sbuf_t *b, long long v);
void hp_sbuf_num(hp_sbuf_t *b, double v);        /* number, or "nan"/"inf"/"-inf" */
void hp_sbuf_json(hp_sbuf_t *b, const cJSON *item);

/* ---- the context --------------------------------------------------------- */
/* Decoded distributions are cached by their distribution_json text (a
 * study's trials share a handful); one context serves any number of calls
 * on one thread. */
typedef struct hp_view hp_view_t;
hp_view_t *hp_view_new(void);   /* NULL if out of memory */
void hp_view_free(hp_view_t *v);

/* ---- trials -------------------------------------------------------------- */
/* The trial object of docs/protocol.md from a stored trial. Parameters are
 * decoded with their stored distribution_json (external values: a
 * categorical's choice, ints as integers). */
void hp_view_trial_write(hp_view_t *v, hp_sbuf_t *b, const hp_store_trial_t *t,
                         bool intermediate);
cJSON *hp_view_trial(hp_view_t *v, const hp_store_trial_t *t, bool intermediate);
/* Constraint values of a stored trial, read as Optuna 5 reads them from its
 * system attributes: the list "constraints" (what samplers' after_trial and
 * hpsearch write), then "constraints:NAME" keys (Optuna 5's
 * trial.set_constraint) in key order. At most max go to out. Returns how
 * many the trial has (0: none). c <= 0 is satisfied. */
int hp_view_trial_constraints(const hp_store_trial_t *t, double *out, int max);
/* Whether a trial is feasible: no constraint value > 0. */
bool hp_view_trial_feasible(const hp_store_trial_t *t);

/* The external params object of a stored trial. */
cJSON *hp_view_trial_params(hp_view_t *v, const hp_store_trial_t *t);

/* trial.list's result as text: {"trials":[...],"total":N}. want: which
 * states (indexed by hp_store_state_t; NULL = all); total counts the
 * matching trials before offset/limit (limit 0 = no limit). */
int hp_view_trial_list(hp_view_t *v, hp_store_t *s, int64_t study_id, const bool *want,
                       int64_t offset, int64_t limit, bool intermediate, char **text,
                       hp_err_t *err);
/* One trial by number with its intermediate values; HP_ENOTFOUND if the
 * study has none with that number. */
int hp_view_trial_get(hp_view_t *v, hp_store_t *s, int64_t study_id, int64_t number,
                      cJSON **out, hp_err_t *err);

/* ---- columns (view/columns.c) ------------------------------------------- */
/* A study's trials as columns, for the dashboard (docs/dashboard.md,
 * "Columns"): kept in memory and brought up to date by reading again only
 * the trials from the first unfinished one on. Written (hp_view_cols_write)
 * as "HPC2", the header's length (uint32, little-endian), a JSON header
 * (study, directions, parameters with their distributions, user attribute
 * names, reasons and non-numeric user attribute values by trial number, the
 * range of each plotted column over every trial kept ("extents"), and the
 * list of columns with their lengths and types), padded so the columns
 * start at a multiple of 8 bytes, then each column little-endian in the
 * narrowest of u1, i2, i4, f4, f8 that holds its values exactly, padded to
 * 8 bytes: number,
 * state (hp_store_state_t), start, end (epoch seconds, NaN when unset),
 * value0.., iv_off (n + 1 offsets), iv_step, iv_value (intermediate
 * values), p0.. (parameter values: float/int as stored, categorical as the
 * index into the header's choices; NaN when a trial lacks it), u0..
 * (numeric user attributes). The numbers are the stored doubles, bit for
 * bit. One object per study; used by one thread at a time. */
typedef struct hp_view_cols hp_view_cols_t;
hp_view_cols_t *hp_view_cols_new(void); /* NULL if out of memory */
void hp_view_cols_free(hp_view_cols_t *c);
/* Reads the study's trials: all of them the first time, then those from
 * the first one that was unfinished on. HP_EINVAL for another study than
 * the first call's. */
int hp_view_cols_update(hp_view_t *v, hp_store_t *s, int64_t study_id, hp_view_cols_t *c,
                        hp_err_t *err);
/* Appends the trials numbered from `from` on, as the container above. */
int hp_view_cols_write(const hp_view_cols_t *c, int64_t from, hp_sbuf_t *out, hp_err_t *err);
/* The number of the first unfinished trial (RUNNING or WAITING), else one
 * past the last; trials held. */
int64_t hp_view_cols_open(const hp_view_cols_t *c);
size_t hp_view_cols_count(const hp_view_cols_t *c);
/* One-shot: read every trial, append those from `from` on (reports). */
int hp_view_study_columns(hp_view_t *v, hp_store_t *s, int64_t study_id, int64_t from,
                          hp_sbuf_t *out, hp_err_t *err);

/* ---- studies ------------------------------------------------------------- */
/* What a study's hpsearch spec says, for the summary (hp_study_spec_view
 * fills it from a parsed spec). Strings are static or owned by the spec. */
typedef struct hp_view_spec {
  const char *metric;     /* "val_loss", "value", ... (objective 0) */
  char *const *metrics;   /* [n_metrics] one per objective, or NULL */
  int n_metrics;
  const double *reference_point; /* [n_reference] hypervolume reference point (each
                                    objective in its own direction), or NULL */
  int n_reference;
  const char *objective;  /* "engine", "command" or "none" */
  const char *sampler;    /* "random", "grid", "tpe" */
  const char *pruner;     /* "none", "median", ... */
  int64_t n_trials;       /* 0: not set */
  double time_budget;     /* seconds, 0: not set */
  int parallelism;        /* most workers at once */
  int64_t grid_total;     /* points of a grid sampler, 0 otherwise */
  bool grid_retry_failed; /* a failed grid point is handed out again */
} hp_view_spec_t;

/* What only a running daemon knows of a study, passed as plain data. */
typedef struct hp_view_live {
  const char *state;       /* "running", "stopped" or "finished" */
  const char *stop_reason; /* why it stopped itself, or NULL */
} hp_view_live_t;

/* The Pareto front of a study with several objectives: its feasible
 * COMPLETE trials no other feasible COMPLETE trial dominates, by number, as
 * [{"trial", "values", "params"}], and the hypervolume they dominate up to
 * the reference point (the spec's, else 1.1 times the front's worst value
 * in each objective, 0.9 times where that is better, as Optuna's TPE picks
 * its own) into *hypervolume as {"value", "reference_point"} (NULL to
 * skip). HP_EINVAL for a study with one objective. */
int hp_view_pareto(hp_view_t *v, hp_store_t *s, const hp_store_study_info_t *info,
                   const hp_view_spec_t *spec, cJSON **front, cJSON **hypervolume,
                   hp_err_t *err);

/* The study summary of docs/protocol.md. info: the store's record; spec:
 * the fields of the study's stored hpsearch spec, NULL for a study without
 * one (written by another program); live: the daemon's view, NULL to derive
 * it from the database (hp_view_study_state, the stored stop reason); now:
 * wall-clock seconds (elapsed of a study that is not finished). The best
 * trial's parameters are read from s. */
cJSON *hp_view_study(hp_view_t *v, hp_store_t *s, const hp_store_study_info_t *info,
                     const hp_view_spec_t *spec, const hp_view_live_t *live, double now);
/* The state a study has by what its database holds: "stopped" when stored
 * so, "running" while a trial runs or waits, or while its spec leaves
 * trials to start (n_trials, time budget, grid points), else "finished". */
const char *hp_view_study_state(hp_store_t *s, const hp_store_study_info_t *info,
                                const hp_view_spec_t *spec, double now);
/* The spec stored with a study (system attribute HP_STORE_ATTR_SPEC), or
 * NULL for a study without one. New tree. */
cJSON *hp_view_stored_spec(hp_store_t *s, int64_t study_id);

/* A number for events and summaries. hp_json_print, the one writer, writes
 * it exactly, and a non-finite one as the string "inf", "-inf" or "nan" (so
 * read it back with hp_json_value). New item, NULL if out of memory. */
cJSON *hp_view_number(double x);

/* ---- parameter importance (view/importance.c) ----------------------------- */
/* The importance object of docs/protocol.md (study.importance), from the
 * study's COMPLETE trials (values of objective 0) through
 * search/importance.c:
 *   {"study": NAME, "evaluator": "ped-anova"|"fanova",
 *    "direction": "minimize"|"maximize", "n_trials": ROWS USED,
 *    "importances": [{"param": "lr", "importance": 0.61}, ...],
 *    "skipped": [{"param": "width", "reason": "..."}]}
 * importances are in descending order (ties by name) and sum to 1; a
 * parameter fANOVA cannot rank (conditional) is in "skipped" instead.
 * HP_EINVAL for a study with several objectives. New tree in *out. */
int hp_view_importance(hp_store_t *s, int64_t study_id, const hp_imp_opts_t *o, cJSON **out,
                       hp_err_t *err);
/* The same in three steps, so the ranking can run on another thread (the
 * daemon's fANOVA on libuv's pool): _prepare reads what it needs from the
 * store (the study and its complete trials' parameters and values: a
 * snapshot; the store is not touched after), _run ranks (no store, no
 * shared state: any thread), _json writes the object (or the error _run
 * met) and frees the job. */
typedef struct hp_view_imp_job hp_view_imp_job_t;
int hp_view_importance_prepare(hp_store_t *s, int64_t study_id, const hp_imp_opts_t *o,
                               hp_view_imp_job_t **out, hp_err_t *err);
void hp_view_importance_run(hp_view_imp_job_t *job);
int hp_view_importance_json(hp_view_imp_job_t *job, cJSON **out, hp_err_t *err);
void hp_view_importance_free(hp_view_imp_job_t *job);

/* ---- tuning advice (view/advise.c) ----------------------------------------- */
/* The advice object of docs/protocol.md (study.advise), from every trial of
 * the study, its learning curves and its importance (docs/advise.md):
 *   {"study": NAME, "direction": ..., "n_trials": N, "n_complete": N,
 *    "advice": [{"rule": "divergence"|"underfitting"|"overfitting"|"edge"|
 *                "unimportant"|"converged"|"improving",
 *                "text": "...", "trials": [numbers], "evidence": {...}}]}
 * A rule speaks only when the study's numbers show what it says; the list
 * may be empty. HP_EINVAL for a study with several objectives. */
int hp_view_advise(hp_store_t *s, int64_t study_id, cJSON **out, hp_err_t *err);

/* ---- learning curves (view/curves.c) ------------------------------------- */
/* The per-step training metrics a trial's step lines carried, stored with
 * its end as the system attribute HP_STORE_ATTR_CURVES (docs/storage.md):
 * {"step": [...], "train_loss": [...], "train_accuracy": [...],
 *  "val_loss": [...], "val_accuracy": [...]}, aligned arrays, null where a
 * step had no finite value. Trial objects with intermediate values carry
 * it as "curves". */
#define HP_VIEW_CURVE_KEYS 4
#define HP_VIEW_CURVE_MAX_STEPS 100000 /* steps recorded per trial, later ones dropped */
extern const char *const hp_view_curve_keys[HP_VIEW_CURVE_KEYS]; /* train_loss, train_accuracy,
                                                                    val_loss, val_accuracy */
/* Adds step's metrics from an objective's step line (its members named by
 * hp_view_curve_keys; a line with none of them adds nothing) to *curves,
 * created on first use (the caller owns and frees it). */
void hp_view_curves_add(cJSON **curves, int64_t step, const cJSON *line);

/* A trial's curves read back: m[k][i] is hp_view_curve_keys[k] at step[i],
 * NaN where absent. */
typedef struct hp_view_curves {
  int n;
  int64_t *step;                  /* [n] */
  double *m[HP_VIEW_CURVE_KEYS];  /* [n] each */
} hp_view_curves_t;
/* From a trial's system attributes text: 0, HP_ENOTFOUND without curves,
 * HP_EFORMAT, HP_ENOMEM. Free with hp_view_curves_free. */
int hp_view_curves_parse(const char *system_attrs_json, hp_view_curves_t *out);
void hp_view_curves_free(hp_view_curves_t *c);

/* ---- times --------------------------------------------------------------- */
/* Wall-clock seconds now (CLOCK_REALTIME). */
double hp_view_now(void);
/* Seconds since the epoch of a stored local datetime "YYYY-MM-DD
 * HH:MM:SS[.ffffff]" (mktime: local time zone), NAN if empty or malformed. */
double hp_view_local_seconds(const char *datetime);

#endif

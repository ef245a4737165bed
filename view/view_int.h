/* Inside view/: the completed trials of a study as a table of parameter
 * values (importance.c builds it for search/importance.c; advise.c reads it
 * for its rules), and the helpers the files of view/ share. */
#ifndef HPSEARCH_VIEW_INT_H
#define HPSEARCH_VIEW_INT_H

#include <stdint.h>

#include "hpsearch/importance.h"
#include "hpsearch/space.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

/* One row per trial (every trial, or only the COMPLETE ones with a value),
 * one column per parameter name (in order of first appearance). names point
 * into the trials the table was built from: keep them alive while the table
 * is used. */
typedef struct hp_view_table {
  int n_params;
  const char **names;   /* [n_params], borrowed from the trials (hp_view_table) or owned_names */
  char **owned_names;   /* [n_params] owned (hp_view_table_scan), else NULL */
  int64_t n_rows;
  double *x;            /* [n_rows * n_params] internal values, NaN where absent */
  int *cell;            /* [n_rows * n_params] index into dists, -1 where absent */
  double *y;            /* [n_rows] objective 0, NaN without a value */
  int64_t *number;      /* [n_rows] trial numbers */
  size_t *index;        /* [n_rows] index of the row's trial in the trials given */
  int n_dists, cap_dists;
  char **dist_json;     /* [n_dists] owned distribution_json texts */
  hp_dist_t *dists;     /* [n_dists] their decoded distributions */
} hp_view_table_t;

int hp_view_table(const hp_store_trial_t *trials, size_t n, bool complete_only,
                  hp_view_table_t *tb, hp_err_t *err);
/* The same table of a study's COMPLETE trials with a value, read from the
 * store as columns (hp_store_trials_scan: parameters and values only, no
 * trial objects): what importance reads. HP_ENOTFOUND: no such study. */
int hp_view_table_scan(hp_store_t *s, int64_t study_id, hp_view_table_t *tb, hp_err_t *err);
void hp_view_table_free(hp_view_table_t *tb);
/* A trial's reason (Optuna's fail_reason, else hpsearch:reason), malloc'd,
 * NULL when it has none. */
char *hp_view_trial_reason(const hp_store_trial_t *t);
/* The parsed distribution of a distribution_json text, cached in v (owned
 * by v; the cache keeps 64 and evicts the oldest); NULL if unreadable. */
const hp_dist_t *hp_view_dist_(hp_view_t *v, const char *json);
/* Microseconds of a stored "YYYY-MM-DD HH:MM:SS[.ffffff]" on a naive (time
 * zone free) scale; false if malformed. */
bool hp_view_naive_micros_(const char *s, int64_t *out);
/* hp_importance over the table (out, skip: [n_params]). */
int hp_view_importance_values(const hp_view_table_t *tb, bool maximize, const hp_imp_opts_t *o,
                              double *out, hp_imp_skip_t *skip, int64_t *n_used, hp_err_t *err);

#endif

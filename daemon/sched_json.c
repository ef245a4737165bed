/* The daemon's side of the study and trial JSON: the study summary from
 * view/ (the builder `--db` readers use too) fed with the live state, and
 * the params object of a running trial's internal values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

cJSON *hp_sched_params_json(const hp_study_t *st, const double *params) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || st->spec == NULL) return o;
  const hp_space_t *space = st->spec->space;
  for (int i = 0; i < space->n; i++) {
    if (isnan(params[i])) continue;
    cJSON *v = hp_dist_to_external(&space->params[i].dist, params[i]);
    if (v) cJSON_AddItemToObject(o, space->params[i].name, v);
  }
  return o;
}

/* The summary of st from the store's record of it. */
static cJSON *summary_of(hp_study_t *st, hp_view_t *v, const hp_store_study_info_t *info) {
  /* The spec's fields as a --db reader gets them: only a stored spec (an
   * adopted study's is the daemon's own making). */
  hp_view_spec_t sv;
  bool stored = st->spec != NULL && !st->adopted;
  if (stored) hp_study_spec_view(st->spec, &sv);
  hp_view_live_t live = {hp_study_state_name(st->state), st->stop_reason};
  return hp_view_study(v, st->d->store, info, stored ? &sv : NULL, &live, hp_view_now());
}

int hp_sched_summary(hp_study_t *st, cJSON **out, hp_err_t *err) {
  *out = NULL;
  hp_store_study_info_t info;
  int rc = hp_store_study_get(st->d->store, st->id, &info, err);
  if (rc < 0) return rc;
  hp_view_t *v = hp_view_new();
  if (v != NULL) *out = summary_of(st, v, &info);
  hp_view_free(v);
  hp_store_study_info_clear(&info);
  return *out != NULL ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
}

int hp_sched_summaries(hp_daemon_t *d, cJSON *arr, hp_err_t *err) {
  /* One read of every study's record (not one per study). */
  hp_store_study_info_t *infos = NULL;
  size_t n = 0;
  int rc = hp_store_study_list(d->store, &infos, &n, err);
  if (rc < 0) return rc;
  hp_view_t *v = hp_view_new();
  if (v == NULL) rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  size_t k = 0; /* both lists are in study_id order */
  for (hp_study_t *st = d->studies; st && rc == 0; st = st->next) {
    while (k < n && infos[k].study_id < st->id) k++;
    cJSON *one = NULL;
    if (k < n && infos[k].study_id == st->id) one = summary_of(st, v, &infos[k]);
    else if ((rc = hp_sched_summary(st, &one, err)) < 0) break;
    if (one == NULL || !cJSON_AddItemToArray(arr, one)) {
      cJSON_Delete(one);
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    }
  }
  hp_view_free(v);
  hp_store_study_list_free(infos, n);
  return rc;
}

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

int hp_sched_summary(hp_study_t *st, cJSON **out, hp_err_t *err) {
  *out = NULL;
  hp_store_study_info_t info;
  int rc = hp_store_study_get(st->d->store, st->id, &info, err);
  if (rc < 0) return rc;
  /* The spec's fields as a --db reader gets them: only a stored spec (an
   * adopted study's is the daemon's own making). */
  hp_view_spec_t sv;
  bool stored = st->spec != NULL && !st->adopted;
  if (stored) hp_study_spec_view(st->spec, &sv);
  hp_view_t *v = hp_view_new();
  hp_view_live_t live = {hp_study_state_name(st->state), st->stop_reason};
  if (v != NULL)
    *out = hp_view_study(v, st->d->store, &info, stored ? &sv : NULL, &live, hp_view_now());
  hp_view_free(v);
  hp_store_study_info_clear(&info);
  return *out != NULL ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
}

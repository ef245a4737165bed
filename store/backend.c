/* The store's one interface: hp_store_open picks the backend by the name it
 * is given (a postgresql:// URL or a file path), and every hp_store_* call on
 * a handle goes through the table the handle begins with (hpsearch/store.h,
 * "backends"). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* The table of a handle: every backend's handle begins with a pointer to it. */
static const hp_store_backend_t *BE(const hp_store_t *s) {
  return *(const hp_store_backend_t *const *)(const void *)s;
}

bool hp_store_is_url(const char *db) {
  return db && (strncmp(db, "postgresql://", 13) == 0 ||
                strncmp(db, "postgres://", 11) == 0);
}

int hp_store_open(const char *path, unsigned flags, hp_store_t **out,
                  hp_err_t *err) {
  if (hp_store_is_url(path))
    return hp_pg_open(path, flags, out, err);
  return hp_sqlite_open(path, flags, out, err);
}

int hp_store_upgrade(const char *path, const char **from, hp_err_t *err) {
  if (hp_store_is_url(path))
    return hp_pg_upgrade(path, from, err);
  return hp_sqlite_upgrade(path, from, err);
}

const char *hp_store_backend_name(const hp_store_t *s) { return BE(s)->name; }

bool hp_store_shared(const hp_store_t *s) { return BE(s)->shared; }

int hp_store_study_lock(hp_store_t *s, int64_t study_id, hp_err_t *err) {
  return BE(s)->study_lock ? BE(s)->study_lock(s, study_id, err) : HP_OK;
}

int hp_store_fail_stale(hp_store_t *s, int64_t study_id, double grace,
                        const char *reason, const int64_t *keep, size_t n_keep,
                        hp_store_trial_ref_t **out, size_t *n, hp_err_t *err) {
  if (BE(s)->fail_stale)
    return BE(s)->fail_stale(s, study_id, grace, reason, keep, n_keep, out, n,
                             err);
  if (out)
    *out = NULL;
  if (n)
    *n = 0;
  return HP_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

const char *hp_store_revision(const hp_store_t *s) {
  return BE(s)->revision(s);
}

void hp_store_close(hp_store_t *s) {
  if (s)
    BE(s)->close(s);
}

int hp_store_begin(hp_store_t *s, hp_err_t *err) {
  return BE(s)->begin(s, err);
}

int hp_store_commit(hp_store_t *s, hp_err_t *err) {
  return BE(s)->commit(s, err);
}

void hp_store_rollback(hp_store_t *s) {
  if (s)
    BE(s)->rollback(s);
}

bool hp_store_in_batch(const hp_store_t *s) { return BE(s)->in_batch(s); }

int hp_store_data_version(hp_store_t *s, int64_t *version, hp_err_t *err) {
  return BE(s)->data_version(s, version, err);
}

int hp_store_study_create(hp_store_t *s, const char *name, int n_objectives,
                          const bool *maximize, const char *user_attrs_json,
                          const char *system_attrs_json, int64_t *study_id,
                          hp_err_t *err) {
  return BE(s)->study_create(s, name, n_objectives, maximize, user_attrs_json,
                             system_attrs_json, study_id, err);
}

int hp_store_study_find(hp_store_t *s, const char *name, int64_t *study_id,
                        hp_err_t *err) {
  return BE(s)->study_find(s, name, study_id, err);
}

int hp_store_study_list(hp_store_t *s, hp_store_study_info_t **out, size_t *n,
                        hp_err_t *err) {
  return BE(s)->study_list(s, out, n, err);
}

int hp_store_study_get(hp_store_t *s, int64_t study_id,
                       hp_store_study_info_t *info, hp_err_t *err) {
  return BE(s)->study_get(s, study_id, info, err);
}

int hp_store_study_delete(hp_store_t *s, int64_t study_id, hp_err_t *err) {
  return BE(s)->study_delete(s, study_id, err);
}

int hp_store_study_set_system_attr(hp_store_t *s, int64_t study_id,
                                   const char *key, const char *value_json,
                                   hp_err_t *err) {
  return BE(s)->study_set_system_attr(s, study_id, key, value_json, err);
}

int hp_store_study_get_system_attr(hp_store_t *s, int64_t study_id,
                                   const char *key, char **value_json,
                                   hp_err_t *err) {
  return BE(s)->study_get_system_attr(s, study_id, key, value_json, err);
}

int hp_store_study_attrs(hp_store_t *s, int64_t study_id, bool system,
                         char **object_json, hp_err_t *err) {
  return BE(s)->study_attrs(s, study_id, system, object_json, err);
}

int hp_store_trial_create(hp_store_t *s, int64_t study_id,
                          hp_store_state_t state,
                          const hp_store_param_t *params, size_t n_params,
                          const char *system_attrs_json, int64_t *trial_id,
                          int64_t *number, hp_err_t *err) {
  return BE(s)->trial_create(s, study_id, state, params, n_params,
                             system_attrs_json, trial_id, number, err);
}

int hp_store_trial_pop_waiting(hp_store_t *s, int64_t study_id,
                               int64_t *trial_id, int64_t *number,
                               char **system_attrs_json, hp_err_t *err) {
  return BE(s)->trial_pop_waiting(s, study_id, trial_id, number,
                                  system_attrs_json, err);
}

int hp_store_trial_set_params(hp_store_t *s, int64_t trial_id,
                              const hp_store_param_t *params, size_t n_params,
                              hp_err_t *err) {
  return BE(s)->trial_set_params(s, trial_id, params, n_params, err);
}

int hp_store_trial_report(hp_store_t *s, int64_t trial_id, int64_t step,
                          double value, hp_err_t *err) {
  return BE(s)->trial_report(s, trial_id, step, value, err);
}

int hp_store_trial_set_system_attr(hp_store_t *s, int64_t trial_id,
                                   const char *key, const char *value_json,
                                   hp_err_t *err) {
  return BE(s)->trial_set_system_attr(s, trial_id, key, value_json, err);
}

int hp_store_trial_set_user_attr(hp_store_t *s, int64_t trial_id,
                                 const char *key, const char *value_json,
                                 hp_err_t *err) {
  return BE(s)->trial_set_user_attr(s, trial_id, key, value_json, err);
}

int hp_store_trial_heartbeat(hp_store_t *s, int64_t trial_id, hp_err_t *err) {
  return BE(s)->trial_heartbeat(s, trial_id, err);
}

int hp_store_trial_finish(hp_store_t *s, int64_t trial_id,
                          hp_store_state_t state, const double *values,
                          size_t n_values, const char *system_attrs_json,
                          hp_err_t *err) {
  return BE(s)->trial_finish(s, trial_id, state, values, n_values,
                             system_attrs_json, err);
}

int hp_store_trials_list(hp_store_t *s, int64_t study_id, int64_t min_number,
                         hp_store_trial_t **out, size_t *n, hp_err_t *err) {
  return BE(s)->trials_list(s, study_id, min_number, out, n, err);
}

int hp_store_trial_get(hp_store_t *s, int64_t trial_id, hp_store_trial_t *out,
                       hp_err_t *err) {
  return BE(s)->trial_get(s, trial_id, out, err);
}

int hp_store_first_running(hp_store_t *s, int64_t study_id, int64_t *number,
                           hp_err_t *err) {
  return BE(s)->first_running(s, study_id, number, err);
}

int hp_store_best_trial(hp_store_t *s, int64_t study_id, int64_t *trial_id,
                        int64_t *number, double *value, hp_err_t *err) {
  return BE(s)->best_trial(s, study_id, trial_id, number, value, err);
}

int hp_store_reconcile(hp_store_t *s, const char *reason,
                       hp_store_trial_ref_t **out, size_t *n, hp_err_t *err) {
  return BE(s)->reconcile(s, reason, out, n, err);
}

/* The store's one interface: hp_store_open picks the backend by the name it
 * is given (a postgresql:// URL or a file path), and every hp_store_* call on
 * a handle goes through the table the handle begins with (hpsearch/store.h,
 * "backends"). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hpsearch/json.h"

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

bool hp_store_claim_join(hp_store_t *s, bool on) {
  return BE(s)->claim_join ? BE(s)->claim_join(s, on) : false;
}

bool hp_store_batch_settled(const hp_store_t *s) {
  return BE(s)->batch_settled ? BE(s)->batch_settled(s) : false;
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

/* A scan through hp_store_trials_list (a backend without its own). */
static bool key_wanted(const hp_store_scan_t *sc, bool system, const char *key) {
  if (!system || sc->system_keys[0] == NULL) return true;
  for (int k = 0; k < 2; k++)
    if (sc->system_keys[k] && strcmp(sc->system_keys[k], key) == 0) return true;
  return false;
}

static int scan_attrs(const hp_store_scan_t *sc, size_t i, const char *object_json, bool system,
                      int (*cb)(void *, size_t, const char *, const char *), hp_err_t *err) {
  if (cb == NULL || object_json == NULL || strcmp(object_json, "{}") == 0) return 0;
  cJSON *o = NULL;
  if (hp_json_parse(object_json, strlen(object_json), "attributes", &o, err) < 0) return HP_EFORMAT;
  int rc = 0;
  for (const cJSON *e = o->child; e && !rc; e = e->next) {
    if (!key_wanted(sc, system, e->string)) continue;
    char *v = hp_json_print(e);
    rc = v ? cb(sc->ctx, i, e->string, v) : hp_err_set(err, HP_ENOMEM, "out of memory");
    free(v);
  }
  cJSON_Delete(o);
  return rc;
}

static int scan_by_list(hp_store_t *s, int64_t study_id, const hp_store_scan_t *sc,
                        hp_err_t *err) {
  hp_store_trial_t *t = NULL;
  size_t n = 0;
  int rc = BE(s)->trials_list(s, study_id, sc->min_number, &t, &n, err);
  if (rc) return rc;
  size_t *keep = malloc((n ? n : 1) * sizeof *keep), m = 0;
  if (keep == NULL) rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  for (size_t k = 0; !rc && k < n; k++) {
    if (sc->complete_only && t[k].state != HP_STORE_COMPLETE) continue;
    if (t[k].trial_id < sc->min_trial_id) continue;
    hp_store_scan_trial_t x = {t[k].trial_id, t[k].number, t[k].state,
                               sc->times ? t[k].datetime_start : "",
                               sc->times ? t[k].datetime_complete : ""};
    keep[m] = k;
    if (sc->trial) rc = sc->trial(sc->ctx, m, &x);
    m++;
  }
  for (size_t i = 0; !rc && i < m; i++) {
    const hp_store_trial_t *x = &t[keep[i]];
    for (size_t j = 0; sc->param && !rc && j < x->n_params; j++)
      rc = sc->param(sc->ctx, i, x->params[j].name, x->params[j].value, x->params[j].distribution_json);
    for (size_t j = 0; sc->value && !rc && j < x->n_values; j++)
      rc = sc->value(sc->ctx, i, (int)j, x->values[j]);
    for (size_t j = 0; sc->inter && !rc && j < x->n_intermediate; j++)
      rc = sc->inter(sc->ctx, i, x->steps[j], x->intermediate[j]);
    if (!rc) rc = scan_attrs(sc, i, x->user_attrs_json, false, sc->user_attr, err);
    if (!rc) rc = scan_attrs(sc, i, x->system_attrs_json, true, sc->system_attr, err);
  }
  free(keep);
  hp_store_trials_free(t, n);
  return rc;
}

int hp_store_study_counts(hp_store_t *s, int64_t study_id, hp_store_study_info_t **out,
                          size_t *n, hp_err_t *err) {
  *out = NULL;
  *n = 0;
  if (BE(s)->study_counts) return BE(s)->study_counts(s, study_id, out, n, err);
  if (study_id < 0) return BE(s)->study_list(s, out, n, err);
  hp_store_study_info_t *one = calloc(1, sizeof *one);
  if (!one) return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  int rc = BE(s)->study_get(s, study_id, one, err);
  if (rc) {
    free(one);
    return rc == HP_ENOTFOUND ? HP_OK : rc;
  }
  *out = one;
  *n = 1;
  return HP_OK;
}

int hp_store_study_brief(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info,
                         hp_err_t *err) {
  if (BE(s)->study_brief) return BE(s)->study_brief(s, study_id, info, err);
  return BE(s)->study_get(s, study_id, info, err);
}

int hp_store_trials_scan(hp_store_t *s, int64_t study_id, const hp_store_scan_t *scan,
                         hp_err_t *err) {
  if (BE(s)->trials_scan) return BE(s)->trials_scan(s, study_id, scan, err);
  return scan_by_list(s, study_id, scan, err);
}

int hp_store_trials_list(hp_store_t *s, int64_t study_id, int64_t min_number,
                         hp_store_trial_t **out, size_t *n, hp_err_t *err) {
  return BE(s)->trials_list(s, study_id, min_number, out, n, err);
}

int hp_store_trial_get(hp_store_t *s, int64_t trial_id, hp_store_trial_t *out,
                       hp_err_t *err) {
  return BE(s)->trial_get(s, trial_id, out, err);
}

int hp_store_trial_state(hp_store_t *s, int64_t trial_id, hp_store_state_t *state,
                         hp_err_t *err) {
  return BE(s)->trial_state(s, trial_id, state, err);
}

int hp_store_first_running(hp_store_t *s, int64_t study_id, int64_t *number,
                           hp_err_t *err) {
  return BE(s)->first_running(s, study_id, number, err);
}

int hp_store_best_trial(hp_store_t *s, int64_t study_id, int64_t *trial_id,
                        int64_t *number, double *value, hp_err_t *err) {
  return BE(s)->best_trial(s, study_id, trial_id, number, value, err);
}

int hp_store_reconcile(hp_store_t *s, const char *reason, const int64_t *keep, size_t n_keep,
                       hp_store_trial_ref_t **out, size_t *n, hp_err_t *err) {
  return BE(s)->reconcile(s, reason, keep, n_keep, out, n, err);
}

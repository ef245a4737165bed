/* A trial's life in the daemon: begun (an enqueued trial first, else a
 * sampled one), asked by a client, enqueued, reported (pruner decisions,
 * rungs persisted) and ended (store first, then sampler, pruner, counts and
 * the event; the run kept until its end is committed). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/rpc.h"

/* ---- trials ---------------------------------------------------------------------------------- */

void hp_sched_run_free(hp_run_t *run) {
  free(run->params);
  free(run->end_reason);
  free(run->end_cons);
  cJSON_Delete(run->end_attrs);
  cJSON_Delete(run->end_curves);
  free(run);
}

void hp_sched_run_list_free(hp_run_t *list) {
  hp_run_t *next;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    hp_sched_run_free(r);
  }
}

/* The trial's parameters as stored: only the active ones (a conditional
 * parameter that is absent has no trial_params row, as in a define-by-run
 * Optuna trial). Returns how many. */
static size_t stored_of(const hp_study_t *st, const double *params, hp_store_param_t *sp) {
  const hp_space_t *space = st->spec->space;
  size_t n = 0;
  for (int i = 0; i < space->n; i++)
    if (!isnan(params[i]))
      sp[n++] = (hp_store_param_t){space->params[i].name, params[i], st->dist_json[i]};
  return n;
}

/* Overlays an enqueued trial's fixed params (external values by name). */
static int apply_fixed(hp_study_t *st, const char *sys_json, double *params, hp_err_t *err) {
  if (sys_json == NULL) return 0;
  cJSON *attrs = NULL;
  hp_json_parse(sys_json, strlen(sys_json), "system attributes", &attrs, NULL);
  const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(attrs, "fixed_params");
  int rc = 0;
  for (const cJSON *f = fixed ? fixed->child : NULL; f; f = f->next) {
    int k = hp_space_find(st->spec->space, f->string);
    if (k < 0) continue; /* Optuna ignores fixed params outside the space too */
    rc = hp_dist_from_external(&st->spec->space->params[k].dist, f, &params[k], err);
    if (rc < 0) {
      hp_err_prefix(err, "fixed_params.%s", f->string);
      break;
    }
  }
  cJSON_Delete(attrs);
  return rc;
}

void hp_sched_event_started(hp_run_t *run) {
  hp_study_t *st = run->st;
  if (!hp_daemon_wants_events(st->d, st->id)) return;
  cJSON *ev = cJSON_CreateObject();
  if (ev == NULL) return;
  cJSON_AddStringToObject(ev, "type", HP_RPC_EV_TRIAL_STARTED);
  cJSON_AddStringToObject(ev, "study", st->name);
  cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
  cJSON_AddNumberToObject(ev, "trial", (double)run->number);
  cJSON_AddItemToObject(ev, "params", hp_sched_params_json(st, run->params));
  hp_daemon_event(st->d, st->id, ev);
}

/* Creates a RUNNING trial (an enqueued one first, else a sampled one). */
int hp_sched_trial_begin(hp_study_t *st, hp_run_t **out, hp_err_t *err) {
  hp_daemon_t *d = st->d;
  const hp_space_t *space = st->spec->space;
  *out = NULL;
  int rc = hp_daemon_batch(d, err);
  if (rc < 0) return rc;
  /* Several daemons on one database: claim under the study's lock, after
   * reading what the peers committed (numbers, grid points, enqueued
   * trials and n_trials are then exact). */
  if (hp_store_shared(d->store)) {
    if ((rc = hp_sched_claim(st, err)) < 0) return rc;
    if (!hp_sched_more_to_do(st))
      return hp_err_set(err, HP_EEXHAUSTED, "study '%s': no trial left to start (%s)", st->name,
                        st->state == HP_STUDY_RUNNING ? "other daemons took the rest" : "not running");
  }
  hp_run_t *run = calloc(1, sizeof *run);
  double *params = malloc(((size_t)space->n + 1) * sizeof *params);
  if (run == NULL || params == NULL) {
    free(run);
    free(params);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  run->st = st;
  run->study_id = st->id;
  run->params = params;
  run->last_step = -1;
  run->last_value = NAN;
  run->t_start = hp_now_mono();
  run->t_beat = run->t_start;
  if (st->n_state[HP_STORE_WAITING] > 0) {
    char *sys = NULL;
    rc = hp_store_trial_pop_waiting(d->store, st->id, &run->trial_id, &run->number, &sys, err);
    if (rc == 0) {
      st->n_state[HP_STORE_WAITING]--;
      st->n_state[HP_STORE_RUNNING]++;
      for (int i = 0; i < space->n; i++) params[i] = NAN;
      hp_err_t serr = {0};
      if (hp_sampler_suggest(st->sampler, run->number, params, &serr) < 0) {
        for (int i = 0; i < space->n; i++) params[i] = NAN;
      }
      /* Parameters stored with the waiting trial (a retry, here or by
       * Optuna's RetryFailedTrialCallback) are its own, exact values. */
      hp_store_trial_t wt = {0};
      if (hp_store_trial_get(d->store, run->trial_id, &wt, NULL) == 0) {
        for (size_t j = 0; j < wt.n_params; j++) {
          int k = hp_space_find(space, wt.params[j].name);
          if (k >= 0 && hp_dist_contains(&space->params[k].dist, wt.params[j].value))
            params[k] = wt.params[j].value;
        }
        hp_store_trial_clear(&wt);
      }
      rc = apply_fixed(st, sys, params, err);
      free(sys);
      /* Fixed values can switch a condition: the parameters that became
       * active get values, the ones that became inactive none. A grid
       * sampler cannot draw (it hands out points only). */
      if (rc == 0 && st->spec->sampler.kind != HP_SAMPLER_GRID)
        hp_sampler_fill(st->sampler, run->number, params);
      else if (rc == 0)
        hp_space_deactivate(space, params);
      for (int i = 0; rc == 0 && i < space->n; i++)
        if (isnan(params[i]) && hp_space_active(space, i, params))
          rc = hp_err_set(err, HP_EINVAL, "enqueued trial %lld: parameter %s has no value "
                                          "(grid exhausted)",
                          (long long)run->number, space->params[i].name);
      if (rc == 0) rc = hp_sampler_running(st->sampler, run->number, params, err);
      hp_store_param_t sp[space->n > 0 ? space->n : 1];
      size_t nsp = rc == 0 ? stored_of(st, params, sp) : 0;
      if (rc == 0) rc = hp_store_trial_set_params(d->store, run->trial_id, sp, nsp, err);
      if (rc < 0) {
        /* Record the failure on the trial itself; the sweep goes on. */
        hp_log("study '%s' trial %lld: %s", st->name, (long long)run->number, err->msg);
        if (hp_sched_runs_reserve(st, run->number) == 0) {
          st->runs[run->number] = run;
          hp_sched_finish(run, HP_STORE_FAIL, NULL, err->msg, NULL);
        } else {
          hp_sched_run_free(run);
        }
        return HP_ESTATE;
      }
    } else if (rc == HP_ENOTFOUND) {
      st->n_state[HP_STORE_WAITING] = 0; /* count was stale */
    } else {
      hp_sched_run_free(run);
      return rc;
    }
  }
  if (run->trial_id == 0) {
    int64_t number = st->next_number;
    rc = hp_sampler_suggest(st->sampler, number, params, err);
    if (rc < 0) {
      if (rc == HP_EEXHAUSTED) st->exhausted = true;
      hp_sched_run_free(run);
      return rc;
    }
    hp_store_param_t sp[space->n > 0 ? space->n : 1];
    size_t nsp = stored_of(st, params, sp);
    /* Which algorithm proposed the params (the automatic sampler switches). */
    char by[96];
    snprintf(by, sizeof by, "{\"" HP_STORE_ATTR_SAMPLER "\": \"%s\"}",
             hp_sampler_last_by(st->sampler));
    rc = hp_store_trial_create(d->store, st->id, HP_STORE_RUNNING, sp, nsp, by,
                               &run->trial_id, &run->number, err);
    if (rc < 0) {
      hp_sampler_release(st->sampler, number);
      hp_sched_run_free(run);
      return rc;
    }
    if (run->number != number) {
      /* Someone else wrote trials: keep the sampler's bookkeeping right. */
      hp_sampler_release(st->sampler, number);
      hp_sampler_running(st->sampler, run->number, params, NULL);
    }
    st->n_state[HP_STORE_RUNNING]++;
    /* The store may have committed the claim with the trial (PostgreSQL,
     * store.h): the study's lock is gone, and the next trial of this
     * batch claims again. */
    st->claimed_batch = 0;
  }
  if (run->number >= st->next_number) st->next_number = run->number + 1;
  hp_sched_note_id(st, run->number, run->trial_id);
  /* Its first beat, in the batch that creates it: peers can tell a trial
   * of a daemon that died at any moment after from one that runs. */
  if (hp_store_shared(d->store)) {
    hp_err_t berr = {0};
    if (hp_store_trial_heartbeat(d->store, run->trial_id, &berr) < 0) {
      hp_log("study '%s' trial %lld: its first heartbeat could not be recorded: %s", st->name,
             (long long)run->number, berr.msg);
      d->store_failed = true;
    }
  }
  if (hp_sched_runs_reserve(st, run->number) < 0) {
    hp_sched_finish(run, HP_STORE_FAIL, NULL, "out of memory", NULL);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  st->runs[run->number] = run;
  *out = run;
  return 0;
}

int hp_sched_ask(hp_study_t *st, hp_run_t **out, hp_err_t *err) {
  *out = NULL;
  if (st->d->shutting_down)
    return hp_err_set(err, HP_ESHUTDOWN, "daemon is shutting down");
  if (st->spec == NULL)
    return hp_err_set(err, HP_ESTATE,
                      "study '%s' was not created by hpsearch (no spec): it cannot be asked",
                      st->name);
  if (st->state == HP_STUDY_STOPPED)
    return hp_err_set(err, HP_ESTOPPED, "study '%s' is stopped (resume it first)", st->name);
  if (hp_now_mono() < st->d->t_retry)
    return hp_err_set(err, HP_EDB,
                      "the database could not be written a moment ago; new trials wait %.1f s",
                      st->d->t_retry - hp_now_mono());
  if (!hp_sched_more_to_do(st))
    return hp_err_set(err, HP_EEXHAUSTED, "study '%s' has no trial left to ask (%s)",
                      st->name, st->state == HP_STUDY_FINISHED ? "finished" : "limit reached");
  hp_run_t *run = NULL;
  int rc = hp_sched_trial_begin(st, &run, err);
  if (rc == HP_EEXHAUSTED)
    return hp_err_set(err, HP_EEXHAUSTED, "study '%s': every grid point is taken", st->name);
  if (rc < 0) return rc;
  hp_sched_event_started(run);
  /* The first beat, as Optuna's heartbeat thread records one at the start. */
  hp_err_t berr = {0};
  if (hp_sched_beat(run, &berr) < 0)
    hp_log("study '%s' trial %lld: its heartbeat could not be recorded: %s", st->name,
           (long long)run->number, berr.msg);
  *out = run;
  return 0;
}

/* Counts a WAITING trial just stored. */
static void note_waiting(hp_study_t *st, int64_t number, int64_t trial_id) {
  if (number >= st->next_number) st->next_number = number + 1;
  hp_sched_note_id(st, number, trial_id);
  st->n_state[HP_STORE_WAITING]++;
  if (st->state == HP_STUDY_FINISHED) st->state = HP_STUDY_RUNNING;
  hp_daemon_kick(st->d);
}

int hp_sched_enqueue(hp_study_t *st, const cJSON *params, int64_t *number, int64_t *trial_id,
                     hp_err_t *err) {
  if (st->spec == NULL)
    return hp_err_set(err, HP_ESTATE, "study '%s' has no hpsearch spec", st->name);
  const hp_space_t *space = st->spec->space;
  for (const cJSON *p = params->child; p; p = p->next) {
    int k = hp_space_find(space, p->string);
    if (k < 0)
      return hp_err_set(err, HP_EINVAL, "params.params.%s: not a parameter of the space",
                        p->string);
    double v;
    if (hp_dist_from_external(&space->params[k].dist, p, &v, err) < 0)
      return hp_err_prefix(err, "params.params.%s", p->string);
  }
  int rc = hp_daemon_batch(st->d, err);
  if (rc < 0) return rc;
  cJSON *sys = cJSON_CreateObject();
  cJSON_AddItemToObject(sys, "fixed_params", cJSON_Duplicate(params, true));
  char *text = hp_json_print(sys);
  cJSON_Delete(sys);
  if (text == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  rc = hp_store_trial_create(st->d->store, st->id, HP_STORE_WAITING, NULL, 0, text, trial_id,
                             number, err);
  free(text);
  if (rc < 0) return rc;
  note_waiting(st, *number, *trial_id);
  return 0;
}

/* The retry of a trial: WAITING, with the trial's parameters stored as its
 * own (exact values and distributions, as Optuna's callback creates it)
 * and the system attributes sys_json. */
static int enqueue_retry(hp_study_t *st, const double *params, const char *sys_json,
                         int64_t *number, hp_err_t *err) {
  const hp_space_t *space = st->spec->space;
  int rc = hp_daemon_batch(st->d, err);
  if (rc < 0) return rc;
  hp_store_param_t sp[space->n > 0 ? space->n : 1];
  size_t nsp = stored_of(st, params, sp);
  int64_t trial_id = 0;
  rc = hp_store_trial_create(st->d->store, st->id, HP_STORE_WAITING, sp, nsp,
                             sys_json, &trial_id, number, err);
  if (rc < 0) return rc;
  note_waiting(st, *number, trial_id);
  return 0;
}

int hp_sched_beat(hp_run_t *run, hp_err_t *err) {
  hp_study_t *st = run->st;
  run->t_beat = hp_now_mono();
  if (st->spec == NULL || st->spec->heartbeat_interval <= 0) return 0;
  int rc = hp_daemon_batch(st->d, err);
  if (rc == 0) rc = hp_store_trial_heartbeat(st->d->store, run->trial_id, err);
  if (rc == HP_EDB) st->d->store_failed = true; /* memory follows the database again */
  return rc;
}

/* A trial whose client went silent past the grace period: FAIL "heartbeat
 * lost" (Optuna's fail_stale_trials), and with max_retry enqueued again with
 * its parameters, recorded as Optuna's RetryFailedTrialCallback does:
 * failed_trial (the first trial of the chain) and retry_history (every
 * number of the chain so far) in the new trial's system attributes. */
static void heartbeat_lost(hp_run_t *run, double silent) {
  hp_study_t *st = run->st;
  const hp_study_spec_t *sp = st->spec;
  int64_t number = run->number;
  size_t psize = ((size_t)sp->space->n + 1) * sizeof(double);
  double *params = sp->max_retry > 0 ? malloc(psize) : NULL;
  if (params) memcpy(params, run->params, psize - sizeof(double));
  cJSON *attrs = NULL;
  hp_store_trial_t t = {0};
  if (params && hp_store_trial_get(st->d->store, run->trial_id, &t, NULL) == 0) {
    const char *sys_json = t.system_attrs_json ? t.system_attrs_json : "{}";
    hp_json_parse(sys_json, strlen(sys_json), "system attributes", &attrs, NULL);
    hp_store_trial_clear(&t);
  }
  hp_log("study '%s' trial %lld: no heartbeat for %.1f s (grace_period %g s): FAIL", st->name,
         (long long)number, silent, sp->grace_period);
  hp_sched_finish(run, HP_STORE_FAIL, NULL, "heartbeat lost", NULL);
  if (params && cJSON_IsObject(attrs)) {
    /* Optuna: {"failed_trial": number, "retry_history": [], **system_attrs}
     * and number appended to retry_history; what is hpsearch's own about
     * the failed run (its reason, worker, rungs) stays with it. */
    cJSON *sys = cJSON_CreateObject();
    for (const cJSON *a = attrs->child; a; a = a->next)
      if (strcmp(a->string, HP_STORE_FAIL_REASON_KEY) != 0 &&
          strncmp(a->string, "hpsearch:", 9) != 0 && strncmp(a->string, "completed_rung_", 15) != 0)
        cJSON_AddItemToObject(sys, a->string, cJSON_Duplicate(a, true));
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(sys, "failed_trial"))) {
      cJSON_DeleteItemFromObjectCaseSensitive(sys, "failed_trial");
      cJSON_AddNumberToObject(sys, "failed_trial", (double)number);
    }
    cJSON *h = cJSON_GetObjectItemCaseSensitive(sys, "retry_history");
    if (!cJSON_IsArray(h)) {
      cJSON_DeleteItemFromObjectCaseSensitive(sys, "retry_history");
      h = cJSON_AddArrayToObject(sys, "retry_history");
    }
    cJSON_AddItemToArray(h, cJSON_CreateNumber((double)number));
    int retries = cJSON_GetArraySize(h);
    char *text = hp_json_print(sys);
    int64_t n = 0;
    hp_err_t err = {0};
    if (retries > sp->max_retry)
      hp_log("study '%s' trial %lld: not retried (max_retry %lld reached)", st->name,
             (long long)number, (long long)sp->max_retry);
    else if (text == NULL || enqueue_retry(st, params, text, &n, &err) < 0)
      hp_log("study '%s' trial %lld: cannot enqueue its retry: %s", st->name, (long long)number,
             text ? err.msg : "out of memory");
    else
      hp_log("study '%s' trial %lld: retried as trial %lld (retry %d of %lld)", st->name,
             (long long)number, (long long)n, retries, (long long)sp->max_retry);
    free(text);
    cJSON_Delete(sys);
  }
  free(params);
  cJSON_Delete(attrs);
}

void hp_sched_check_heartbeats(hp_study_t *st) {
  if (st->spec == NULL || st->spec->heartbeat_interval <= 0) return;
  double now = hp_now_mono();
  for (size_t i = 0; i < st->runs_cap; i++) {
    hp_run_t *r = st->runs[i];
    if (r != NULL && r->w == NULL && now - r->t_beat > st->spec->grace_period)
      heartbeat_lost(r, now - r->t_beat);
  }
}

bool hp_sched_stop_if_taken(hp_study_t *st, hp_run_t *r) {
  if (r->w == NULL || r->w->reason != NULL) return false;
  hp_store_state_t state;
  if (hp_store_trial_state(st->d->store, r->trial_id, &state, NULL) < 0) return false;
  if (state == HP_STORE_RUNNING || state == HP_STORE_WAITING) return false;
  hp_log("study '%s' trial %lld: ended by another program while it ran here; stopping its worker",
         st->name, (long long)r->number);
  hp_worker_kill(r->w, HP_STORE_FAIL,
                 "ended by another program while it ran here (a heartbeat later than the grace "
                 "period?)");
  return true;
}

void hp_sched_shared_watch(hp_study_t *st) {
  hp_daemon_t *d = st->d;
  if (!hp_store_shared(d->store) || st->spec == NULL || d->store_failed) return;
  const hp_study_spec_t *sp = st->spec;
  bool client_beats = sp->heartbeat_interval > 0;
  double interval = client_beats ? sp->heartbeat_interval : HP_SHARED_BEAT_S;
  double grace = client_beats ? sp->grace_period : HP_SHARED_GRACE_S;
  double now = hp_now_mono();
  hp_err_t err = {0};
  size_t n_own = 0;
  for (size_t i = 0; i < st->runs_cap; i++) n_own += st->runs[i] != NULL;
  if (n_own > 0 && now - st->t_beats >= interval) {
    st->t_beats = now;
    if (hp_daemon_batch(d, &err) < 0) return;
    for (size_t i = 0; i < st->runs_cap; i++) {
      hp_run_t *r = st->runs[i];
      if (r == NULL || (r->w == NULL && client_beats)) continue; /* the client beats */
      if (hp_store_trial_heartbeat(d->store, r->trial_id, &err) < 0) {
        hp_log("study '%s' trial %lld: heartbeat not recorded: %s", st->name,
               (long long)r->number, err.msg);
        if (err.code == HP_EDB) d->store_failed = true;
        return;
      }
      /* a worker's trial a peer failed while others run: the counts do not
       * show it (study_sync), the trial's row does */
      hp_sched_stop_if_taken(st, r);
    }
  }
  if (st->n_state[HP_STORE_RUNNING] <= (int64_t)n_own || now - st->t_stale < 1.0) return;
  st->t_stale = now;
  int64_t *keep = malloc((n_own + 1) * sizeof *keep);
  if (keep == NULL) return;
  size_t nk = 0;
  for (size_t i = 0; i < st->runs_cap; i++)
    if (st->runs[i]) keep[nk++] = st->runs[i]->trial_id;
  hp_store_trial_ref_t *refs = NULL;
  size_t nr = 0;
  char reason[96];
  snprintf(reason, sizeof reason, "heartbeat lost: no beat for %g s (its daemon stopped)", grace);
  int rc = hp_daemon_batch(d, &err);
  if (rc == 0) rc = hp_store_fail_stale(d->store, st->id, grace, reason, keep, nk, &refs, &nr, &err);
  if (rc < 0) {
    hp_log("study '%s': looking for trials of stopped daemons failed: %s", st->name, err.msg);
    if (err.code == HP_EDB) d->store_failed = true;
  }
  for (size_t i = 0; i < nr; i++) {
    hp_log("study '%s' trial %lld: %s: FAIL", st->name, (long long)refs[i].number, reason);
    /* its Slurm job (if it ran as one) would run on for nobody */
    hp_store_trial_t t = {0};
    if (hp_store_trial_get(d->store, refs[i].trial_id, &t, NULL) == 0 && t.system_attrs_json &&
        strstr(t.system_attrs_json, HP_STORE_ATTR_SLURM) != NULL)
      hp_slurm_cancel_recorded(d, st->name, refs[i].number, t.system_attrs_json);
    hp_store_trial_clear(&t);
  }
  if (nr > 0) hp_daemon_kick(d);
  free(refs);
  free(keep);
}

/* Whether the trial has a value at this step already (read from the store:
 * only for a step at or below the last one, which is rare). */
static bool step_reported(hp_store_t *store, int64_t trial_id, int64_t step) {
  hp_store_trial_t t = {0};
  if (hp_store_trial_get(store, trial_id, &t, NULL) < 0) return false;
  bool found = false;
  for (size_t k = 0; k < t.n_intermediate && !found; k++) found = t.steps[k] == step;
  hp_store_trial_clear(&t);
  return found;
}

int hp_sched_report(hp_run_t *run, int64_t step, double value, bool *prune, bool *ignored,
                    hp_err_t *err) {
  hp_study_t *st = run->st;
  *prune = false;
  *ignored = false;
  int rc = hp_daemon_batch(st->d, err);
  if (rc < 0) return rc;
  if (run->w == NULL && (rc = hp_sched_beat(run, err)) < 0) return rc; /* a report beats */
  /* As Optuna's Trial.report: a step reported again keeps its first value. */
  if (step <= run->last_step && step_reported(st->d->store, run->trial_id, step)) {
    *ignored = true;
    return 0;
  }
  rc = hp_store_trial_report(st->d->store, run->trial_id, step, value, err);
  if (rc < 0) return rc;
  if (step >= run->last_step) {
    run->last_step = step;
    run->last_value = value;
  }
  rc = hp_pruner_report(st->pruner, run->number, step, value, err);
  if (rc < 0) return rc;
  int before = hp_pruner_rung_count(st->pruner, run->number);
  rc = hp_pruner_should_prune(st->pruner, run->number, step, err);
  if (rc < 0) return rc;
  *prune = rc == 1;
  /* Successive halving keeps state in rungs: persist new ones (as Optuna).
   * The value is in the batch already: a rung that cannot be written undoes
   * the whole batch (server.c), and memory is rebuilt from the database. */
  int after = hp_pruner_rung_count(st->pruner, run->number);
  for (int k = before; k < after; k++) {
    char key[32], val[HP_NUM_MAX];
    snprintf(key, sizeof key, "completed_rung_%d", k);
    double rv = hp_pruner_rung_value(st->pruner, run->number, k);
    if (!isfinite(rv)) continue;
    hp_num_format(rv, val);
    rc = hp_store_trial_set_system_attr(st->d->store, run->trial_id, key, val, err);
    if (rc < 0) {
      hp_err_prefix(err, "trial %lld: pruner rung %d not stored", (long long)run->number, k);
      hp_log("study '%s': %s; this round's writes are undone", st->name, err->msg);
      st->d->batch_undo = *err;
      return rc;
    }
  }
  cJSON *ev = hp_daemon_wants_events(st->d, st->id) ? cJSON_CreateObject() : NULL;
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_TRIAL_REPORTED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    cJSON_AddNumberToObject(ev, "trial", (double)run->number);
    cJSON_AddNumberToObject(ev, "step", (double)step);
    cJSON_AddItemToObject(ev, "value", hp_view_number(value));
    cJSON_AddBoolToObject(ev, "prune", *prune);
    hp_daemon_event(st->d, st->id, ev);
  }
  return 0;
}

/* Writes the end of run into the batch, then tells the sampler and pruner,
 * counts it and sends the event; the run waits in d->settling until the
 * batch commits. A failed write is logged and marks the batch for a reload
 * (hp_sched_batch_done), which keeps the end for a later attempt. */
int hp_sched_run_end(hp_run_t *run, hp_err_t *err) {
  hp_study_t *st = run->st;
  hp_daemon_t *d = st->d;
  hp_store_state_t state = run->end_state;
  const char *reason = run->end_reason;
  double v = run->end_value;
  bool has_value = run->end_has_value;
  hp_err_t werr = {0};
  int rc = hp_daemon_batch(d, &werr);
  cJSON *sys = NULL;
  if (reason || run->end_curves) sys = cJSON_CreateObject();
  if (reason && sys)
    cJSON_AddStringToObject(sys, state == HP_STORE_FAIL ? HP_STORE_FAIL_REASON_KEY : HP_STORE_ATTR_REASON,
                            reason);
  /* A copy: a failed batch writes the end again from the run. */
  if (run->end_curves && sys)
    cJSON_AddItemToObject(sys, HP_STORE_ATTR_CURVES, cJSON_Duplicate(run->end_curves, true));
  if (run->end_n_cons > 0 && state != HP_STORE_FAIL) {
    /* Where Optuna 5 (and 3.1) keep them: what samplers' after_trial writes. */
    if (sys == NULL) sys = cJSON_CreateObject();
    cJSON *c = cJSON_AddArrayToObject(sys, "constraints");
    for (int k = 0; k < run->end_n_cons && c; k++)
      cJSON_AddItemToArray(c, hp_view_number(run->end_cons[k]));
  }
  char *sys_text = sys ? hp_json_print(sys) : NULL;
  cJSON_Delete(sys);
  bool store_value = has_value && state != HP_STORE_FAIL;
  int n_store = store_value ? (run->end_n_values > 1 ? run->end_n_values : 1) : 0;
  for (const cJSON *a = run->end_attrs ? run->end_attrs->child : NULL; a && rc == 0; a = a->next) {
    char *text = hp_json_print(a);
    rc = text ? hp_store_trial_set_user_attr(d->store, run->trial_id, a->string, text, &werr)
              : hp_err_set(&werr, HP_ENOMEM, "out of memory");
    free(text);
    if (rc < 0 && rc != HP_EDB) { /* an attribute the store refuses: skipped */
      hp_log("study '%s' trial %lld: user attribute left out: %s", st->name,
             (long long)run->number, werr.msg);
      rc = 0;
    }
  }
  if (rc == 0)
    rc = hp_store_trial_finish(d->store, run->trial_id, state,
                               n_store ? run->end_values : NULL, (size_t)n_store, sys_text, &werr);
  free(sys_text);
  int refused = 0;
  if (rc < 0 && rc != HP_EDB) {
    /* Not the database failing (e.g. the trial is not RUNNING there): a
     * second attempt would fail the same way, so none is made. */
    hp_log("study '%s' trial %lld: its end (%s) was refused: %s", st->name,
           (long long)run->number, hp_store_state_name(state), werr.msg);
    hp_err_set(err, rc, "%s", werr.msg);
    refused = rc;
    rc = 0;
  }
  run->end_written = rc == 0;
  if (rc < 0) {
    d->store_failed = true;
    hp_log("study '%s' trial %lld: storing its end (%s) failed: %s; the end is kept and "
           "written again once the database can be written",
           st->name, (long long)run->number, hp_store_state_name(state), werr.msg);
    hp_err_set(err, rc, "storing trial %lld failed: %s; the daemon keeps its end and writes it "
                        "again once the database can be written",
               (long long)run->number, werr.msg);
  }
  hp_trial_final_t fin = state == HP_STORE_COMPLETE ? HP_FINAL_COMPLETE
                         : state == HP_STORE_PRUNED ? HP_FINAL_PRUNED
                                                    : HP_FINAL_FAIL;
  double sv = fin == HP_FINAL_PRUNED ? (has_value ? v : run->last_value) : v;
  double tv[HP_STORE_MAX_OBJECTIVES];
  memcpy(tv, run->end_values, sizeof tv);
  tv[0] = sv;
  int n_tell = fin == HP_FINAL_FAIL ? 0 : fin == HP_FINAL_PRUNED ? 1 : n_store > 0 ? n_store : 1;
  hp_sampler_tell_values(st->sampler, run->number, run->params, fin, tv, n_tell, run->end_cons,
                         run->end_n_cons, run->last_step, NULL);
  hp_pruner_finish(st->pruner, run->number,
                   fin == HP_FINAL_COMPLETE ? HP_PRUNER_END_COMPLETE
                   : fin == HP_FINAL_PRUNED ? HP_PRUNER_END_PRUNED
                                            : HP_PRUNER_END_FAIL,
                   NULL);
  st->n_state[HP_STORE_RUNNING]--;
  st->n_state[state]++;
  st->exhausted = false; /* a grid point may have come free */
  cJSON *ev = hp_daemon_wants_events(d, st->id) ? cJSON_CreateObject() : NULL;
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_TRIAL_FINISHED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    cJSON_AddNumberToObject(ev, "trial", (double)run->number);
    cJSON_AddStringToObject(ev, "state", hp_store_state_name(state));
    if (state == HP_STORE_COMPLETE && n_store > 1) {
      cJSON *vals = cJSON_AddArrayToObject(ev, "values");
      for (int k = 0; k < n_store && vals; k++)
        cJSON_AddItemToArray(vals, hp_view_number(run->end_values[k]));
    }
    if (state == HP_STORE_COMPLETE) cJSON_AddItemToObject(ev, "value", hp_view_number(v));
    else if (state == HP_STORE_PRUNED && (has_value || !isnan(run->last_value)))
      cJSON_AddItemToObject(ev, "value", hp_view_number(sv));
    else cJSON_AddNullToObject(ev, "value");
    if (reason) cJSON_AddStringToObject(ev, "reason", reason);
    else cJSON_AddNullToObject(ev, "reason");
    hp_daemon_event(d, st->id, ev);
  }
  run->next_end = d->settling;
  d->settling = run;
  hp_sched_check_finished(st);
  hp_daemon_kick(d);
  return rc < 0 ? rc : refused;
}

int hp_sched_finish(hp_run_t *run, hp_store_state_t state, const double *value,
                    const char *reason, hp_err_t *err) {
  return hp_sched_finish_values(run, state, value, value ? 1 : 0, NULL, 0, reason, err);
}

int hp_sched_finish_values(hp_run_t *run, hp_store_state_t state, const double *values,
                           int n_values, const double *cons, int n_cons, const char *reason,
                           hp_err_t *err) {
  hp_study_t *st = run->st;
  assert(!run->ended);
  assert(n_values >= 0 && n_values <= HP_STORE_MAX_OBJECTIVES);
  int m = st->spec ? st->spec->n_objectives : 1;
  bool nan = false;
  for (int k = 0; k < n_values; k++) nan = nan || isnan(values[k]);
  if (state == HP_STORE_COMPLETE && (n_values == 0 || nan)) {
    state = HP_STORE_FAIL;
    reason = "objective value is NaN";
  } else if (state == HP_STORE_COMPLETE && n_values != m) {
    state = HP_STORE_FAIL;
    reason = m > 1 ? "the study has several objectives: report {\"values\": [...]} with one "
                     "value per objective"
                   : "the study has one objective: report one value";
  }
  if (state == HP_STORE_FAIL) n_values = 0;
  if (n_cons > 0 && state != HP_STORE_FAIL) {
    run->end_cons = malloc((size_t)n_cons * sizeof *run->end_cons);
    if (run->end_cons) {
      memcpy(run->end_cons, cons, (size_t)n_cons * sizeof *cons);
      run->end_n_cons = n_cons;
    }
  }
  run->ended = true;
  run->end_state = state;
  run->end_has_value = n_values > 0;
  run->end_value = n_values > 0 ? values[0] : NAN;
  run->end_n_values = n_values;
  for (int k = 0; k < n_values; k++) run->end_values[k] = values[k];
  run->end_reason = reason ? strndup(reason, 255) : NULL;
  if ((size_t)run->number < st->runs_cap && st->runs[run->number] == run)
    st->runs[run->number] = NULL;
  if (run->w) run->w->run = NULL;
  run->w = NULL;
  int rc = hp_sched_run_end(run, err);
  /* Failures in a row pause the study, as sweep agents stop on repeated
   * crashes; trials the daemon itself ended (a study stop, the shutdown)
   * and those of a stopped study do not count. */
  if (state != HP_STORE_FAIL) st->failed_in_row = 0;
  else if (st->state == HP_STUDY_RUNNING && !st->d->shutting_down) st->failed_in_row++;
  int64_t max = st->spec ? st->spec->max_consecutive_failures : 0;
  if (max > 0 && st->failed_in_row >= max && st->state == HP_STUDY_RUNNING) {
    char why[400];
    snprintf(why, sizeof why, "%lld trials in a row failed (max_consecutive_failures); the last, "
                              "trial %lld: %.200s",
             (long long)st->failed_in_row, (long long)run->number,
             run->end_reason ? run->end_reason : "no reason given");
    hp_err_t perr = {0};
    if (hp_sched_pause(st, why, &perr) < 0) /* tried again at the next failure */
      hp_log("study '%s': %s", st->name, perr.msg);
  }
  return rc;
}

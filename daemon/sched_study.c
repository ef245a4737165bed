/* The daemon's studies: their list, creation and deletion, the per-study
 * bookkeeping (running trials by number, trial ids, counts per state) and
 * when a study is finished. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_int.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

static const char *const STUDY_STATE_NAMES[] = {"running", "stopped", "finished"};

const char *hp_study_state_name(hp_study_state_t s) {
  return (unsigned)s < 3 ? STUDY_STATE_NAMES[s] : "?";
}

/* ---- study lifecycle ----------------------------------------------------------- */

void hp_sched_study_free(hp_study_t *st) {
  if (st == NULL) return;
  for (size_t i = 0; i < st->runs_cap; i++) {
    hp_run_t *r = st->runs[i];
    if (r == NULL) continue;
    if (r->w) r->w->run = NULL;
    free(r->params);
    free(r);
  }
  free(st->runs);
  free(st->trial_ids);
  if (st->dist_json && st->spec) {
    for (int i = 0; i < st->spec->space->n; i++) free(st->dist_json[i]);
  }
  free(st->dist_json);
  hp_sampler_free(st->sampler);
  hp_pruner_free(st->pruner);
  hp_study_spec_free(st->spec);
  free(st->name);
  free(st->stop_reason);
  free(st);
}


/* Frees the studies of the list (not their running trials' runs when
 * keep_runs: those move to a reloaded list). */
void hp_sched_studies_free(hp_study_t *list, bool keep_runs) {
  hp_study_t *next;
  for (hp_study_t *st = list; st; st = next) {
    next = st->next;
    if (keep_runs && st->runs) memset(st->runs, 0, st->runs_cap * sizeof *st->runs);
    hp_sched_study_free(st);
  }
}

void hp_sched_free(hp_daemon_t *d) {
  hp_sched_studies_free(d->studies, false);
  d->studies = NULL;
  d->n_studies = 0;
  hp_sched_run_list_free(d->settling);
  hp_sched_run_list_free(d->unstored);
  d->settling = d->unstored = NULL;
}

void hp_sched_study_link(hp_daemon_t *d, hp_study_t *st) {
  hp_study_t **pp = &d->studies;
  while (*pp && (*pp)->id < st->id) pp = &(*pp)->next;
  st->next = *pp;
  *pp = st;
  d->n_studies++;
}

void hp_sched_study_unlink(hp_daemon_t *d, hp_study_t *st) {
  for (hp_study_t **pp = &d->studies; *pp; pp = &(*pp)->next) {
    if (*pp == st) {
      *pp = st->next;
      d->n_studies--;
      return;
    }
  }
}

/* Sampler, pruner and distribution texts of a study with a spec. */
int hp_sched_study_engines(hp_study_t *st, hp_err_t *err) {
  hp_study_spec_t *sp = st->spec;
  int rc = hp_sampler_create(sp->space, &sp->sampler, &st->sampler, err);
  if (rc < 0) return rc;
  rc = hp_pruner_create(sp->pruner, sp->name, sp->maximize, &st->pruner, err);
  if (rc < 0) return rc;
  st->dist_json = calloc((size_t)sp->space->n + 1, sizeof *st->dist_json);
  if (st->dist_json == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  for (int i = 0; i < sp->space->n; i++) {
    st->dist_json[i] = hp_dist_to_optuna_json(&sp->space->params[i].dist);
    if (st->dist_json[i] == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  return 0;
}

int hp_sched_runs_reserve(hp_study_t *st, int64_t number) {
  if ((size_t)number < st->runs_cap) return 0;
  size_t cap = st->runs_cap ? st->runs_cap : 64;
  while (cap <= (size_t)number) cap *= 2;
  hp_run_t **nr = realloc(st->runs, cap * sizeof *nr);
  if (nr == NULL) return HP_ENOMEM;
  memset(nr + st->runs_cap, 0, (cap - st->runs_cap) * sizeof *nr);
  st->runs = nr;
  st->runs_cap = cap;
  return 0;
}

/* Remembers number -> trial_id (trial.get without a scan of the study). */
void hp_sched_note_id(hp_study_t *st, int64_t number, int64_t trial_id) {
  if (number < 0 || number > (int64_t)1 << 40) return;
  if ((size_t)number >= st->ids_cap) {
    size_t cap = st->ids_cap ? st->ids_cap : 256;
    while (cap <= (size_t)number) cap *= 2;
    int64_t *n = realloc(st->trial_ids, cap * sizeof *n);
    if (n == NULL) return; /* trial.get falls back to a scan */
    memset(n + st->ids_cap, 0, (cap - st->ids_cap) * sizeof *n);
    st->trial_ids = n;
    st->ids_cap = cap;
  }
  st->trial_ids[number] = trial_id;
}

int64_t hp_sched_trial_id(const hp_study_t *st, int64_t number) {
  if (number < 0 || (size_t)number >= st->ids_cap) return 0;
  return st->trial_ids[number];
}

double hp_sched_budget_spent(const hp_study_t *st) {
  return st->budget_used + (isnan(st->budget_since) ? 0 : hp_now_mono() - st->budget_since);
}

void hp_sched_budget_save(hp_study_t *st) {
  double now = hp_now_mono();
  if (!isnan(st->budget_since)) {
    st->budget_used += now - st->budget_since;
    st->budget_since = now;
  }
  st->budget_saved = now;
  char text[40];
  snprintf(text, sizeof text, "%.3f", st->budget_used);
  if (hp_daemon_batch(st->d, NULL) == 0 &&
      hp_store_study_set_system_attr(st->d->store, st->id, HP_STORE_ATTR_BUDGET_USED, text, NULL) == HP_EDB)
    st->d->store_failed = true;
}

/* Whether the study may start another trial (ignoring worker slots). */
bool hp_sched_more_to_do(hp_study_t *st) {
  hp_study_spec_t *sp = st->spec;
  if (sp == NULL || st->state != HP_STUDY_RUNNING) return false;
  int64_t total = 0;
  for (int i = 0; i < HP_STORE_NSTATES; i++) total += st->n_state[i];
  int64_t started = total - st->n_state[HP_STORE_WAITING];
  if (st->n_state[HP_STORE_WAITING] > 0 && !st->d->shutting_down) {
    if (sp->time_budget > 0 && hp_sched_budget_spent(st) >= sp->time_budget) return false;
    return true; /* enqueued trials run even past n_trials */
  }
  if (sp->n_trials > 0 && started >= sp->n_trials) return false;
  if (sp->time_budget > 0 && hp_sched_budget_spent(st) >= sp->time_budget) return false;
  if (sp->sampler.kind == HP_SAMPLER_GRID) {
    hp_sampler_stats_t s;
    hp_sampler_stats(st->sampler, &s);
    if (s.grid_free == 0) return false;
  }
  return true;
}

/* Moves a running study to FINISHED when nothing is left and nothing runs. */
void hp_sched_check_finished(hp_study_t *st) {
  if (st->state != HP_STUDY_RUNNING || st->spec == NULL) return;
  if (st->n_state[HP_STORE_RUNNING] > 0 || hp_sched_more_to_do(st)) return;
  st->state = HP_STUDY_FINISHED;
  hp_log("study '%s' finished: %lld complete, %lld pruned, %lld failed", st->name,
         (long long)st->n_state[HP_STORE_COMPLETE], (long long)st->n_state[HP_STORE_PRUNED],
         (long long)st->n_state[HP_STORE_FAIL]);
  /* counts and best as in the study's summary (the same builder). */
  cJSON *sum = NULL;
  if (hp_sched_summary(st, &sum, NULL) < 0) return;
  cJSON *ev = cJSON_CreateObject();
  if (ev != NULL) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_FINISHED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    cJSON_AddItemToObject(ev, "counts", cJSON_DetachItemFromObjectCaseSensitive(sum, "counts"));
    cJSON_AddItemToObject(ev, "best", cJSON_DetachItemFromObjectCaseSensitive(sum, "best"));
    hp_daemon_event(st->d, st->id, ev);
  }
  cJSON_Delete(sum);
}

hp_study_t *hp_sched_find(hp_daemon_t *d, const cJSON *ref) {
  if (cJSON_IsString(ref)) {
    for (hp_study_t *st = d->studies; st; st = st->next)
      if (strcmp(st->name, ref->valuestring) == 0) return st;
  } else if (cJSON_IsNumber(ref)) {
    for (hp_study_t *st = d->studies; st; st = st->next)
      if ((double)st->id == ref->valuedouble) return st;
  }
  return NULL;
}

/* ---- creating studies ---------------------------------------------------------------------- */

int hp_sched_create(hp_daemon_t *d, hp_study_spec_t *spec, hp_study_t **out, hp_err_t *err) {
  *out = NULL;
  hp_study_t *st = calloc(1, sizeof *st);
  if (st == NULL) {
    hp_study_spec_free(spec);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  st->d = d;
  st->spec = spec;
  st->maximize = spec->maximize;
  st->state = HP_STUDY_RUNNING;
  st->created = hp_view_now();
  st->budget_since = st->budget_saved = hp_now_mono();
  st->name = strdup(spec->name);
  int rc = st->name ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc == 0) rc = hp_sched_study_engines(st, err);
  if (rc < 0) goto fail;
  rc = hp_daemon_batch(d, err);
  if (rc < 0) goto fail;
  /* The spec and creation time go in with the study: a restarted daemon
   * resumes it from these. */
  cJSON *sys = cJSON_CreateObject();
  cJSON_AddItemToObject(sys, HP_STORE_ATTR_SPEC, cJSON_Duplicate(spec->json, true));
  cJSON_AddNumberToObject(sys, HP_STORE_ATTR_CREATED, st->created);
  cJSON_AddStringToObject(sys, HP_STORE_ATTR_STATE, "running");
  cJSON_AddNumberToObject(sys, HP_STORE_ATTR_BUDGET_USED, 0);
  char *sys_text = hp_json_print(sys);
  cJSON_Delete(sys);
  if (sys_text == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail;
  }
  rc = hp_store_study_create(d->store, spec->name, spec->n_objectives, spec->maximize_obj, NULL,
                             sys_text, &st->id, err);
  free(sys_text);
  if (rc < 0) goto fail;
  hp_sched_study_link(d, st);
  hp_log("study '%s' created (id %lld): %s objective, %s sampler, n_trials %lld", st->name,
         (long long)st->id, spec->kind == HP_OBJ_ENGINE ? "engine" : spec->kind == HP_OBJ_COMMAND ? "command" : "no",
         hp_sampler_kind_name(spec->sampler.kind), (long long)spec->n_trials);
  hp_sched_study_event(st, HP_RPC_EV_STUDY_CREATED);
  hp_daemon_kick(d);
  *out = st;
  return 0;
fail:
  hp_sched_study_free(st);
  return rc;
}

void hp_sched_study_event(const hp_study_t *st, const char *type) {
  cJSON *ev = cJSON_CreateObject();
  if (ev == NULL) return;
  cJSON_AddStringToObject(ev, "type", type);
  cJSON_AddStringToObject(ev, "study", st->name);
  cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
  hp_daemon_event(st->d, st->id, ev);
}

int hp_sched_delete(hp_study_t *st, hp_err_t *err) {
  hp_daemon_t *d = st->d;
  int rc = hp_daemon_batch(d, err);
  if (rc < 0) return rc;
  rc = hp_store_study_delete(d->store, st->id, err);
  if (rc < 0) return rc;
  /* Detach the workers: they are killed and reaped, their results ignored. */
  for (size_t i = 0; i < st->runs_cap; i++) {
    hp_run_t *r = st->runs[i];
    if (r && r->w) {
      hp_worker_kill(r->w, HP_STORE_FAIL, "study deleted");
      r->w->run = NULL;
      r->w = NULL;
      st->n_workers--;
    }
  }
  hp_sched_study_event(st, HP_RPC_EV_STUDY_DELETED);
  hp_log("study '%s' deleted", st->name);
  /* Ended trials of the study that wait for the database go with it. */
  for (hp_run_t **lists[] = {&d->settling, &d->unstored}, ***l = lists; l < lists + 2; l++) {
    for (hp_run_t **pp = *l; *pp;) {
      hp_run_t *r = *pp;
      if (r->study_id != st->id) {
        pp = &r->next_end;
        continue;
      }
      *pp = r->next_end;
      hp_sched_run_free(r);
    }
  }
  hp_sched_study_unlink(d, st);
  hp_sched_study_free(st);
  hp_daemon_kick(d);
  return 0;
}

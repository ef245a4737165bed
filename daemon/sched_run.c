/* Scheduling: which study gets the next free worker slot (round robin
 * within each study's parallelism), the 1 s tick (time budgets), the retry
 * once the wait after a failed write is over (kept ends written again, new
 * trials allowed), stopping and resuming studies (state written first), and
 * killing every worker at shutdown. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

/* ---- scheduling ------------------------------------------------------------------------------ */

static bool wants_worker(hp_study_t *st) {
  return st->spec && st->spec->kind != HP_OBJ_NONE && st->state == HP_STUDY_RUNNING &&
         st->n_workers < st->spec->parallelism && !st->exhausted && hp_sched_more_to_do(st) &&
         (!st->spec->exec.slurm ||
          st->n_workers + hp_slurm_lingering(st->d, st->id) < st->spec->parallelism);
}

/* A local trial needs one of the daemon's --jobs slots; a Slurm job does
 * not (Slurm places it; parallelism is the study's jobs in the queue). */
static bool wants_local(hp_study_t *st) {
  return st->spec && !st->spec->exec.slurm && wants_worker(st);
}

/* Starts one worker trial of st; false if nothing could be started. */
static bool start_one(hp_study_t *st) {
  hp_run_t *run = NULL;
  hp_err_t err = {0};
  int rc = hp_sched_trial_begin(st, &run, &err);
  if (rc == HP_EEXHAUSTED || rc == HP_ESTATE) return rc == HP_ESTATE;
  if (rc < 0) {
    hp_log("study '%s': cannot start a trial: %s", st->name, err.msg);
    return false;
  }
  hp_sched_event_started(run);
  bool slurm = st->spec->exec.slurm;
  rc = slurm ? hp_slurm_start(st->d, run, &err) : hp_worker_start(st->d, run, &err);
  if (rc < 0) {
    char reason[HP_ERR_MSG_MAX + 32];
    snprintf(reason, sizeof reason, "cannot start %s: %s", slurm ? "the Slurm job" : "worker",
             err.msg);
    hp_log("study '%s' trial %lld: %s", st->name, (long long)run->number, reason);
    hp_sched_finish(run, HP_STORE_FAIL, NULL, reason, NULL);
    return true;
  }
  if (slurm) return true; /* the job's id is recorded once sbatch answers (slurm.c) */
  /* A restart finds what this worker leaves behind only by its recorded
   * process group: a worker whose group cannot be recorded is not run. */
  char attr[160];
  snprintf(attr, sizeof attr, "{\"pgid\": %d, \"boot\": \"%s\"}", (int)run->w->pid,
           st->d->boot_id);
  rc = hp_store_trial_set_system_attr(st->d->store, run->trial_id, HP_STORE_ATTR_WORKER, attr,
                                      &err);
  if (rc < 0) {
    char reason[HP_ERR_MSG_MAX + 64];
    snprintf(reason, sizeof reason, "its process group could not be recorded: %s", err.msg);
    hp_log("study '%s' trial %lld: %s; killing the worker", st->name, (long long)run->number,
           reason);
    hp_worker_kill(run->w, HP_STORE_FAIL, reason);
  }
  return true;
}

void hp_sched_run(hp_daemon_t *d) {
  if (d->shutting_down) return;
  /* While the database cannot be written, a new trial would only be undone. */
  if (hp_now_mono() < d->t_retry) return;
  hp_sched_sync(d); /* another program's trials count towards n_trials */
  /* Round robin: after the study that got the last slot, one trial per
   * study per pass, until the slots are full or nobody wants one. */
  /* At most one attempt per free slot per pass: a command that cannot be
   * started fails its trial at once, and must not spin here. */
  for (hp_study_t *st = d->studies; st; st = st->next) {
    if (st->spec == NULL || !st->spec->exec.slurm) continue;
    /* Slurm studies: up to parallelism jobs each, in no daemon slot. */
    int tries = st->spec->parallelism;
    while (tries-- > 0 && wants_worker(st))
      if (!start_one(st)) {
        st->exhausted = true;
        break;
      }
  }
  int attempts = d->jobs - d->n_workers;
  while (d->n_workers < d->jobs && attempts-- > 0) {
    hp_study_t *pick = NULL;
    for (hp_study_t *st = d->studies; st; st = st->next)
      if (st->id > d->rr_last && wants_local(st)) {
        pick = st;
        break;
      }
    if (pick == NULL)
      for (hp_study_t *st = d->studies; st; st = st->next)
        if (st->id <= d->rr_last && wants_local(st)) {
          pick = st;
          break;
        }
    if (pick == NULL) break;
    d->rr_last = pick->id;
    if (!start_one(pick)) {
      pick->exhausted = true; /* retried after the next trial ends */
      attempts++;             /* no trial was used up: give the slot to another study */
    }
  }
  for (hp_study_t *st = d->studies; st; st = st->next) {
    if (st->exhausted && st->n_state[HP_STORE_RUNNING] == 0) st->exhausted = false;
    hp_sched_check_finished(st);
  }
}

void hp_sched_rewrite(hp_daemon_t *d) {
  hp_run_t *list = d->unstored, *next;
  d->unstored = NULL;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    hp_sched_run_end(r, NULL);
  }
}

void hp_sched_retry(hp_daemon_t *d) {
  if (d->t_retry > 0 && hp_now_mono() >= d->t_retry) {
    /* The wait after a failed write is over: write the kept ends again (a
     * failure reloads and waits again), and new trials may start again,
     * also those of a study created during the wait (the scheduler ran and
     * refused then; a clean commit since does not wake it). */
    d->t_retry = 0;
    hp_sched_rewrite(d);
    hp_daemon_kick(d);
  }
}

void hp_sched_tick(hp_daemon_t *d) {
  hp_sched_sync(d); /* what other programs wrote, also while no client asks */
  hp_sched_retry(d);
  for (hp_study_t *st = d->studies; st; st = st->next) {
    hp_sched_check_heartbeats(st);
    hp_sched_shared_watch(st);
    /* The budget spent is stored every few seconds (and at a shutdown): a
     * killed daemon loses at most that much of its count. */
    if (st->spec && st->spec->time_budget > 0 && !isnan(st->budget_since) &&
        hp_now_mono() - st->budget_saved >= HP_BUDGET_SAVE_S)
      hp_sched_budget_save(st);
  }
  for (hp_study_t *st = d->studies; st; st = st->next)
    if (st->state == HP_STUDY_RUNNING && st->spec && st->spec->time_budget > 0) {
      hp_daemon_kick(d);
      break;
    }
}

/* Writes "running" or "stopped" as the study's state, and its stop reason
 * (a JSON string, or null) when it has or gets one, before memory changes: a
 * study shown stopped must stay stopped after a restart, so a failed write
 * fails the call and changes nothing. The state goes first; a reason that
 * cannot be written after it undoes the round (server.c), as half a request
 * must not be stored. */
static int write_state(hp_study_t *st, const char *state, const char *reason, hp_err_t *err) {
  if (st->spec == NULL)
    return hp_err_set(err, HP_ESTATE, "study '%s' has no hpsearch spec", st->name);
  char json[16];
  snprintf(json, sizeof json, "\"%s\"", state);
  int rc = hp_daemon_batch(st->d, err);
  if (rc == 0)
    rc = hp_store_study_set_system_attr(st->d->store, st->id, HP_STORE_ATTR_STATE, json, err);
  if (rc == 0 && (reason != NULL || st->stop_reason != NULL)) {
    cJSON *v = reason ? cJSON_CreateString(reason) : cJSON_CreateNull();
    char *text = v ? hp_json_print(v) : NULL;
    cJSON_Delete(v);
    rc = text ? hp_store_study_set_system_attr(st->d->store, st->id, HP_STORE_ATTR_STOP_REASON,
                                               text, err)
              : hp_err_set(err, HP_ENOMEM, "out of memory");
    free(text);
    if (rc < 0) st->d->batch_undo = *err;
  }
  if (rc < 0) hp_err_prefix(err, "study '%s' could not be marked %s", st->name, state);
  return rc;
}

/* study.stop (reason NULL) or the study stopping itself (reason). */
static int study_stop(hp_study_t *st, bool kill, const char *reason, hp_err_t *err) {
  char *why = reason ? strdup(reason) : NULL;
  if (reason && why == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = write_state(st, "stopped", reason, err);
  if (rc < 0) {
    free(why);
    return rc;
  }
  free(st->stop_reason);
  st->stop_reason = why;
  if (!isnan(st->budget_since)) { /* a stopped study spends no time budget */
    hp_sched_budget_save(st);
    st->budget_since = NAN;
  }
  st->state = HP_STUDY_STOPPED;
  if (kill)
    for (size_t i = 0; i < st->runs_cap; i++)
      if (st->runs[i] && st->runs[i]->w) hp_worker_kill(st->runs[i]->w, HP_STORE_FAIL, "study stopped");
  cJSON *ev = cJSON_CreateObject();
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_STOPPED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    if (reason) cJSON_AddStringToObject(ev, "reason", reason);
    else cJSON_AddNullToObject(ev, "reason");
    hp_daemon_event(st->d, st->id, ev);
  }
  if (reason) hp_log("study '%s' stopped itself: %s", st->name, reason);
  else hp_log("study '%s' stopped", st->name);
  return 0;
}

int hp_sched_stop(hp_study_t *st, bool kill, hp_err_t *err) {
  return study_stop(st, kill, NULL, err);
}

int hp_sched_pause(hp_study_t *st, const char *reason, hp_err_t *err) {
  return study_stop(st, false, reason, err);
}

int hp_sched_resume(hp_study_t *st, hp_err_t *err) {
  int rc = write_state(st, "running", NULL, err);
  if (rc < 0) return rc;
  free(st->stop_reason);
  st->stop_reason = NULL;
  st->failed_in_row = 0;
  if (isnan(st->budget_since)) st->budget_since = hp_now_mono();
  st->state = HP_STUDY_RUNNING;
  st->exhausted = false;
  hp_sched_check_finished(st);
  hp_daemon_kick(st->d);
  return 0;
}

void hp_sched_save_budgets(hp_daemon_t *d) {
  for (hp_study_t *st = d->studies; st; st = st->next)
    if (st->spec && st->spec->time_budget > 0 && !isnan(st->budget_since)) hp_sched_budget_save(st);
}

void hp_sched_kill_all(hp_daemon_t *d, const char *reason) {
  for (hp_study_t *st = d->studies; st; st = st->next) {
    for (size_t i = 0; i < st->runs_cap; i++) {
      hp_run_t *r = st->runs[i];
      if (r == NULL) continue;
      if (r->w && r->w->job) continue; /* a Slurm job runs on: the next start adopts it */
      if (r->w) hp_worker_kill(r->w, HP_STORE_FAIL, reason);
      else hp_sched_finish(r, HP_STORE_FAIL, NULL, reason, NULL); /* asked by a client */
    }
  }
}

/* Loading and reconciling the studies from the store: after a (re)start
 * (orphaned workers killed, RUNNING trials of the previous daemon failed,
 * history replayed into samplers and pruners, studies of other programs
 * adopted), after a write that did not reach the database (the batch's
 * ends kept and the studies rebuilt from what the database holds), and
 * while running, what other programs (Optuna's writers) commit to the same
 * database (hp_sched_sync). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/rpc.h"
#include "sched_int.h"
#include "hpsearch/json.h"

/* ---- loading and reconciling ---------------------------------------------------------- */

/* Internal values of a stored trial's params in space order (NaN = absent). */
static void stored_params(const hp_space_t *space, const hp_store_trial_t *t, double *out) {
  for (int i = 0; i < space->n; i++) out[i] = NAN;
  for (size_t j = 0; j < t->n_params; j++) {
    int k = hp_space_find(space, t->params[j].name);
    if (k >= 0 && hp_dist_contains(&space->params[k].dist, t->params[j].value))
      out[k] = t->params[j].value;
  }
}

/* Whether a process of group pg still carries the trial's environment
 * (HPSEARCH_TRIAL_ID, set for every worker; a command trial's supervisor
 * keeps it even when the command clears its own): the group id may have
 * been reused by an unrelated program since the previous daemon died. */
static bool group_runs_trial(const hp_proc_t *all, size_t n, pid_t pg, int64_t trial_id) {
  char want[48];
  snprintf(want, sizeof want, "HPSEARCH_TRIAL_ID=%lld", (long long)trial_id);
  for (size_t i = 0; i < n; i++)
    if (all[i].pgrp == pg && all[i].state != 'Z' && hp_proc_env_has(all[i].pid, want))
      return true;
  return false;
}

/* Kills what a RUNNING trial of a previous daemon left (only within the same
 * boot: after a reboot the number means nothing, and only while the group
 * still runs that trial). The recorded pgid is the worker's pid: for a
 * command trial its supervisor, whose subtree holds all the command started,
 * also processes that left the group or cleared their environment; the
 * supervisor normally did this itself when the daemon died. */
static void kill_orphan(hp_daemon_t *d, const hp_store_trial_t *t) {
  const char *sys = t->system_attrs_json ? t->system_attrs_json : "{}";
  cJSON *attrs = NULL;
  hp_json_parse(sys, strlen(sys), "system attributes", &attrs, NULL);
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(attrs, HP_STORE_ATTR_WORKER);
  const cJSON *pgid = cJSON_GetObjectItemCaseSensitive(w, "pgid");
  const cJSON *boot = cJSON_GetObjectItemCaseSensitive(w, "boot");
  hp_proc_t *all = NULL;
  size_t n = 0;
  if (cJSON_IsNumber(pgid) && pgid->valuedouble > 1 && pgid->valuedouble < 1e9 &&
      cJSON_IsString(boot) && strcmp(boot->valuestring, d->boot_id) == 0 &&
      hp_proc_list(&all, &n) == 0) {
    pid_t pg = (pid_t)pgid->valuedouble;
    if (group_runs_trial(all, n, pg, t->trial_id)) {
      /* While a member of group pg lives, pid pg is not reused: it is the
       * worker itself or nobody. */
      int k = hp_proc_kill_tree(pg, true);
      kill(-pg, SIGKILL);
      hp_log("killed orphaned worker %d of trial %lld and %d process(es) of its tree", (int)pg,
             (long long)t->number, k > 0 ? k - 1 : 0);
    }
  }
  free(all);
  cJSON_Delete(attrs);
}

static void replay_rungs(hp_study_t *st, const hp_store_trial_t *t) {
  if (t->system_attrs_json == NULL || strstr(t->system_attrs_json, "completed_rung_") == NULL)
    return;
  cJSON *attrs = NULL;
  hp_json_parse(t->system_attrs_json, strlen(t->system_attrs_json), "system attributes", &attrs,
                NULL);
  for (int k = 0;; k++) {
    char key[32];
    snprintf(key, sizeof key, "completed_rung_%d", k);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    if (!cJSON_IsNumber(v)) break;
    if (hp_pruner_restore_rung(st->pruner, t->number, k, v->valuedouble, NULL) < 0) break;
  }
  cJSON_Delete(attrs);
}

/* Feeds one stored trial to the study's sampler and pruner: a RUNNING one
 * as running, a finished one as told (params: scratch of space->n + 1). A
 * trial they know already is skipped quietly (telling twice fails with
 * HP_EEXIST, finishing twice in the pruner with HP_ESTATE). */
static void replay_trial(hp_study_t *st, const hp_store_trial_t *t, double *params) {
  const hp_space_t *space = st->spec ? st->spec->space : NULL;
  if (space == NULL || t->state == HP_STORE_WAITING) return;
  stored_params(space, t, params);
  for (size_t k = 0; k < t->n_intermediate; k++)
    hp_pruner_report(st->pruner, t->number, t->steps[k], t->intermediate[k], NULL);
  if (t->state == HP_STORE_RUNNING) {
    hp_sampler_running(st->sampler, t->number, params, NULL);
    replay_rungs(st, t);
    return;
  }
  double value = t->n_values > 0 ? t->values[0] : NAN;
  int64_t last_step = t->n_intermediate ? t->steps[t->n_intermediate - 1] : -1;
  hp_trial_final_t fin = t->state == HP_STORE_COMPLETE ? HP_FINAL_COMPLETE
                         : t->state == HP_STORE_PRUNED ? HP_FINAL_PRUNED
                                                       : HP_FINAL_FAIL;
  if (fin == HP_FINAL_PRUNED && isnan(value) && t->n_intermediate)
    value = t->intermediate[t->n_intermediate - 1];
  double cons[HP_SAMPLER_MAX_CONSTRAINTS];
  int n_cons = hp_view_trial_constraints(t, cons, HP_SAMPLER_MAX_CONSTRAINTS);
  double vals[HP_STORE_MAX_OBJECTIVES];
  int n_vals = (int)t->n_values;
  memcpy(vals, t->values, sizeof vals);
  if (n_vals == 0) vals[0] = value, n_vals = fin == HP_FINAL_FAIL ? 0 : 1;
  else vals[0] = value;
  if (fin == HP_FINAL_PRUNED && n_vals > 1) n_vals = 1;
  hp_err_t err = {0};
  int rc = hp_sampler_tell_values(st->sampler, t->number, params, fin, vals, n_vals, cons,
                                  n_cons < 0 ? 0 : n_cons, last_step, &err);
  if (rc < 0 && rc != HP_EEXIST)
    hp_log("study '%s' trial %lld: sampler replay: %s", st->name, (long long)t->number, err.msg);
  replay_rungs(st, t);
  hp_pruner_finish(st->pruner, t->number,
                   fin == HP_FINAL_COMPLETE ? HP_PRUNER_END_COMPLETE
                   : fin == HP_FINAL_PRUNED ? HP_PRUNER_END_PRUNED
                                            : HP_PRUNER_END_FAIL,
                   NULL);
}

/* Whether a RUNNING trial of a previous daemon runs as a Slurm job it
 * recorded: the job goes on under Slurm, and this daemon adopts it. */
static bool runs_as_job(const hp_store_trial_t *t) {
  return t->state == HP_STORE_RUNNING && t->system_attrs_json &&
         strstr(t->system_attrs_json, "\"" HP_STORE_ATTR_SLURM "\"") != NULL;
}

/* At a start: a RUNNING trial t of a previous daemon whose Slurm job runs
 * on becomes a running trial of st again, its job watched (slurm.c). */
static void adopt_job(hp_study_t *st, const hp_store_trial_t *t) {
  const hp_space_t *space = st->spec->space;
  hp_run_t *run = calloc(1, sizeof *run);
  double *params = malloc(((size_t)space->n + 1) * sizeof *params);
  if (run == NULL || params == NULL || hp_sched_runs_reserve(st, t->number) < 0) {
    free(run);
    free(params);
    hp_log("study '%s' trial %lld: out of memory adopting its Slurm job", st->name,
           (long long)t->number);
    return;
  }
  stored_params(space, t, params);
  run->st = st;
  run->study_id = st->id;
  run->trial_id = t->trial_id;
  run->number = t->number;
  run->params = params;
  run->last_step = t->n_intermediate ? t->steps[t->n_intermediate - 1] : -1;
  run->last_value = t->n_intermediate ? t->intermediate[t->n_intermediate - 1] : NAN;
  run->t_start = hp_now_mono();
  run->t_beat = run->t_start;
  st->runs[t->number] = run;
  if (!hp_slurm_adopt(st->d, run, t->system_attrs_json))
    /* No job to watch: the trial stays RUNNING until the next start. */
    hp_log("study '%s' trial %lld: its Slurm job record is unusable; it is not watched",
           st->name, (long long)t->number);
}

/* Feeds the stored history to the sampler and pruner and counts states.
 * RUNNING trials were reconciled to FAIL just before (a start; but for the
 * ones whose Slurm job runs on), or stay running (live: a reload, or a
 * study another program wrote). */
static int study_replay(hp_study_t *st, hp_store_trial_t *trials, size_t n, bool live,
                        const char *own_addr, hp_err_t *err) {
  const hp_space_t *space = st->spec ? st->spec->space : NULL;
  double *params = space ? malloc(((size_t)space->n + 1) * sizeof *params) : NULL;
  if (space && params == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int64_t open_low = -1;       /* lowest RUNNING or WAITING number */
  for (size_t i = 0; i < n; i++) {
    hp_store_trial_t *t = &trials[i];
    if (t->state == HP_STORE_RUNNING && !live && !(st->spec && runs_as_job(t)))
      t->state = HP_STORE_FAIL;
    st->n_state[t->state]++;
    hp_sched_note_id(st, t->number, t->trial_id);
    if (t->number >= st->next_number) st->next_number = t->number + 1;
    if ((t->state == HP_STORE_RUNNING || t->state == HP_STORE_WAITING) &&
        (open_low < 0 || t->number < open_low))
      open_low = t->number;
    replay_trial(st, t, params);
  }
  free(params);
  st->sync_from = open_low >= 0 ? open_low : st->next_number;
  /* A start: the trials whose Slurm jobs run on are this daemon's now; on a
   * shared database only those whose relays call this daemon's fixed
   * --worker-addr (own_addr): the others are peers'. */
  for (size_t i = 0; i < n && st->spec && (!live || own_addr); i++)
    if (runs_as_job(&trials[i]) &&
        (!live || hp_slurm_record_is(trials[i].system_attrs_json, own_addr)))
      adopt_job(st, &trials[i]);
  return 0;
}

static void study_drop_spec(hp_study_t *st) {
  hp_sampler_free(st->sampler);
  hp_pruner_free(st->pruner);
  st->sampler = NULL;
  st->pruner = NULL;
  if (st->dist_json && st->spec)
    for (int k = 0; k < st->spec->space->n; k++) free(st->dist_json[k]);
  free(st->dist_json);
  st->dist_json = NULL;
  hp_study_spec_free(st->spec);
  st->spec = NULL;
}

/* A distribution in the space format of docs/search.md. */
static cJSON *dist_space_json(const hp_dist_t *dist) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  if (dist->kind == HP_DIST_CAT) {
    cJSON_AddStringToObject(o, "type", "categorical");
    cJSON_AddItemToObject(o, "choices", cJSON_Duplicate(dist->choices, true));
    return o;
  }
  cJSON_AddStringToObject(o, "type", dist->kind == HP_DIST_INT ? "int" : "float");
  cJSON_AddNumberToObject(o, "low", dist->low);
  cJSON_AddNumberToObject(o, "high", dist->high);
  if (dist->log) cJSON_AddTrueToObject(o, "log");
  else if (dist->step > 0 && !(dist->kind == HP_DIST_INT && dist->step == 1))
    cJSON_AddNumberToObject(o, "step", dist->step);
  return o;
}

/* A study written by another program (e.g. Optuna) has no spec. It is
 * adopted for trial.ask/tell with the space its trials used (the latest
 * distribution of each parameter) and TPE, so such a study can be
 * continued; nothing is written to it until a client asks. */
static void adopt_foreign(hp_study_t *st, const hp_store_trial_t *trials, size_t n,
                          const hp_store_study_info_t *info) {
  if (info->n_objectives < 1) return;
  cJSON *spec = cJSON_CreateObject();
  cJSON_AddStringToObject(spec, "name", st->name);
  if (info->n_objectives == 1) {
    cJSON_AddStringToObject(spec, "direction", st->maximize ? "maximize" : "minimize");
  } else {
    cJSON *dirs = cJSON_AddArrayToObject(spec, "directions");
    for (int k = 0; k < info->n_objectives && dirs; k++)
      cJSON_AddItemToArray(dirs, cJSON_CreateString(info->maximize[k] ? "maximize" : "minimize"));
  }
  cJSON_AddStringToObject(spec, "description", "adopted from a study without an hpsearch spec");
  cJSON *space = cJSON_AddObjectToObject(spec, "space");
  int64_t n_bad = 0;
  for (size_t i = 0; i < n && space; i++) {
    for (size_t j = 0; j < trials[i].n_params; j++) {
      const hp_store_param_out_t *p = &trials[i].params[j];
      hp_dist_t dist;
      hp_err_t derr = {0};
      if (p->distribution_json == NULL) continue;
      if (hp_dist_from_optuna_json(p->distribution_json, strlen(p->distribution_json), &dist,
                                   &derr) < 0) {
        /* Said once per study: a long study may repeat it in every trial. */
        if (n_bad++ == 0)
          hp_log("study '%s' trial %lld: parameter '%s' is left out of the adopted space: %s",
                 st->name, (long long)trials[i].number, p->name, derr.msg);
        continue;
      }
      cJSON *item = dist_space_json(&dist);
      hp_dist_free(&dist);
      if (item == NULL) continue;
      if (cJSON_GetObjectItemCaseSensitive(space, p->name))
        cJSON_ReplaceItemInObjectCaseSensitive(space, p->name, item);
      else
        cJSON_AddItemToObject(space, p->name, item);
    }
  }
  /* A define-by-run study's conditional parameters (absent from some
   * trials) get the conditions its trials show, so that hpsearch continues
   * it as its objective branched (docs/search.md). */
  int d = space ? cJSON_GetArraySize(space) : 0;
  double *x = d > 0 && n > 0 ? malloc(n * (size_t)d * sizeof *x) : NULL;
  if (x != NULL) {
    for (size_t i = 0; i < n * (size_t)d; i++) x[i] = NAN;
    for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j < trials[i].n_params; j++) {
        int k = 0;
        const cJSON *it = space->child;
        for (; it != NULL && strcmp(it->string, trials[i].params[j].name) != 0; it = it->next) k++;
        if (it != NULL) x[i * (size_t)d + k] = trials[i].params[j].value;
      }
    }
    if (hp_space_infer_conditions(space, x, n) < 0)
      hp_log("study '%s': out of memory reading its conditional parameters", st->name);
    free(x);
  }
  hp_err_t err = {0};
  if (hp_study_spec_parse(spec, &st->spec, &err) < 0 || hp_sched_study_engines(st, &err) < 0) {
    hp_log("study '%s' (no hpsearch spec) is served read-only: %s", st->name, err.msg);
    study_drop_spec(st);
  } else {
    st->adopted = true;
  }
  cJSON_Delete(spec);
}

/* Builds the study of one stored study (info and its trials, read just
 * before) and links it into d->studies; *out (may be NULL) gets it. */
static int study_build(hp_daemon_t *d, const hp_store_study_info_t *info,
                       hp_store_trial_t *trials, size_t n, bool live, const char *own_addr,
                       hp_study_t **out, hp_err_t *err) {
  hp_study_t *st = calloc(1, sizeof *st);
  if (st == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  st->d = d;
  st->id = info->study_id;
  st->name = strdup(info->name);
  st->maximize = info->n_objectives > 0 && info->maximize[0];
  hp_sched_study_link(d, st);
  if (out) *out = st;
  if (st->name == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  char *text = NULL;
  if (hp_store_study_get_system_attr(d->store, st->id, HP_STORE_ATTR_CREATED, &text, NULL) == 0) {
    st->created = atof(text);
    free(text);
  } else {
    st->created = hp_view_local_seconds(info->datetime_start);
    if (isnan(st->created)) st->created = hp_view_now();
  }
  st->state = HP_STUDY_FINISHED;
  text = NULL;
  if (hp_store_study_get_system_attr(d->store, st->id, HP_STORE_ATTR_SPEC, &text, NULL) == 0) {
    cJSON *js = NULL;
    hp_json_parse(text, strlen(text), "stored spec", &js, NULL);
    hp_err_t serr = {0};
    if (js == NULL || hp_study_spec_parse(js, &st->spec, &serr) < 0 ||
        hp_sched_study_engines(st, &serr) < 0) {
      hp_log("study '%s': stored spec unusable (%s); serving it read-only", st->name,
             js ? serr.msg : "not JSON");
      study_drop_spec(st);
    }
    cJSON_Delete(js);
    free(text);
  } else {
    st->foreign = true;
    adopt_foreign(st, trials, n, info);
  }
  if (st->spec) {
    st->maximize = st->spec->maximize;
    st->state = HP_STUDY_RUNNING;
    text = NULL;
    if (hp_store_study_get_system_attr(d->store, st->id, HP_STORE_ATTR_STATE, &text, NULL) == 0) {
      if (strcmp(text, "\"stopped\"") == 0) st->state = HP_STUDY_STOPPED;
      free(text);
    }
    text = NULL;
    if (st->state == HP_STUDY_STOPPED &&
        hp_store_study_get_system_attr(d->store, st->id, HP_STORE_ATTR_STOP_REASON, &text, NULL) == 0) {
      cJSON *why = NULL;
      hp_json_parse(text, strlen(text), "stop reason", &why, NULL);
      if (cJSON_IsString(why)) st->stop_reason = strdup(why->valuestring);
      cJSON_Delete(why);
      free(text);
    }
    /* Without a stored count (a database of an older hpsearch): the wall
     * time since creation, as the budget was counted then. */
    text = NULL;
    st->budget_used = hp_view_now() - st->created;
    if (hp_store_study_get_system_attr(d->store, st->id, HP_STORE_ATTR_BUDGET_USED, &text, NULL) == 0) {
      st->budget_used = atof(text);
      free(text);
    }
    if (!(st->budget_used >= 0)) st->budget_used = 0;
    st->budget_saved = hp_now_mono();
    st->budget_since = st->state == HP_STUDY_STOPPED ? NAN : st->budget_saved;
  }
  int rc = study_replay(st, trials, n, live, own_addr, err);
  if (rc < 0) return rc;
  if (st->state == HP_STUDY_RUNNING) {
    if (st->n_state[HP_STORE_RUNNING] == 0 && !hp_sched_more_to_do(st)) st->state = HP_STUDY_FINISHED;
    else if (!live)
      hp_log("study '%s' resumes: %lld trial(s) so far", st->name, (long long)(st->next_number));
  }
  return 0;
}

/* Builds d->studies from the store. A start (live false) first kills the
 * workers a previous daemon left and marks its RUNNING trials FAIL; a reload
 * after a failed write (live true) keeps RUNNING trials running. */
static int sched_load(hp_daemon_t *d, bool live, hp_err_t *err) {
  int64_t *jobs = NULL; /* trials run as Slurm jobs: adopted, not failed */
  size_t n_jobs = 0;
  hp_store_study_info_t *infos = NULL;
  size_t n_infos = 0;
  int rc = hp_store_study_list(d->store, &infos, &n_infos, err);
  if (rc < 0) return rc;
  hp_store_trial_t **lists = calloc(n_infos + 1, sizeof *lists);
  size_t *counts = calloc(n_infos + 1, sizeof *counts);
  if (lists == NULL || counts == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  /* 1. read everything and kill orphans of RUNNING trials. In a shared
   * database (PostgreSQL) a RUNNING trial may be another daemon's, on
   * another machine: nothing is killed or failed here; the trials of a
   * daemon that died are failed once their heartbeats are older than the
   * grace period (hp_sched_check_heartbeats). */
  bool own_all = !live && !hp_store_shared(d->store);
  /* A start on a shared database adopts the Slurm jobs whose relays call
   * this daemon's fixed --worker-addr (hp_slurm_own_addr). */
  char own_buf[300];
  const char *own_addr = !live && hp_store_shared(d->store) &&
                                 hp_slurm_own_addr(d, own_buf, sizeof own_buf)
                             ? own_buf
                             : NULL;
  size_t n_running = 0;
  for (size_t i = 0; i < n_infos; i++) {
    rc = hp_store_trials_list(d->store, infos[i].study_id, 0, &lists[i], &counts[i], err);
    if (rc < 0) goto done;
    for (size_t j = 0; j < counts[i] && own_all; j++) {
      if (runs_as_job(&lists[i][j])) {
        int64_t *nj = realloc(jobs, (n_jobs + 1) * sizeof *jobs);
        if (nj == NULL) {
          rc = hp_err_set(err, HP_ENOMEM, "out of memory");
          goto done;
        }
        jobs = nj;
        jobs[n_jobs++] = lists[i][j].trial_id;
      } else if (lists[i][j].state == HP_STORE_RUNNING) {
        kill_orphan(d, &lists[i][j]);
        n_running++;
      }
    }
  }
  /* 2. RUNNING trials of the previous daemon can never be told: FAIL them
   * (not those whose Slurm job runs on). */
  if (n_running > 0) {
    size_t n_fixed = 0;
    rc = hp_store_reconcile(d->store, "daemon restarted", jobs, n_jobs, NULL, &n_fixed, err);
    if (rc < 0) goto done;
    hp_log("reconciled %zu trial(s) left RUNNING by a previous daemon (now FAIL, \"daemon "
           "restarted\")",
           n_fixed);
  }
  /* 3. rebuild each study (a shared store's RUNNING trials stay running:
   * they may be a peer's) */
  for (size_t i = 0; i < n_infos; i++) {
    rc = study_build(d, &infos[i], lists[i], counts[i], live || hp_store_shared(d->store),
                     own_addr, NULL, err);
    if (rc < 0) goto done;
  }
  rc = 0;
done:
  free(jobs);
  for (size_t i = 0; lists && i < n_infos; i++) hp_store_trials_free(lists[i], counts[i]);
  free(lists);
  free(counts);
  hp_store_study_list_free(infos, n_infos);
  return rc;
}

int hp_sched_load(hp_daemon_t *d, hp_err_t *err) {
  int rc = sched_load(d, false, err);
  if (rc == 0) rc = hp_store_data_version(d->store, &d->data_version, err);
  return rc;
}


/* Whether trial_id is RUNNING in the store as number `number` of study_id. */
static bool store_has_running(hp_store_t *store, int64_t study_id, int64_t trial_id,
                              int64_t number) {
  hp_store_trial_t t = {0};
  if (hp_store_trial_get(store, trial_id, &t, NULL) < 0) return false;
  bool ok = t.state == HP_STORE_RUNNING && t.number == number && t.study_id == study_id;
  hp_store_trial_clear(&t);
  return ok;
}

/* Rebuilds the studies from the database after a failed write, keeping what
 * runs: workers and asked trials go on with their new study objects; ended
 * trials whose end did not reach the database wait in d->unstored. A trial
 * whose creation did not reach it either is dropped (its worker killed). */
static void sched_reload(hp_daemon_t *d) {
  hp_study_t *old = d->studies;
  int old_n = d->n_studies;
  d->studies = NULL;
  d->n_studies = 0;
  hp_err_t err = {0};
  if (sched_load(d, true, &err) < 0) {
    /* Keep the old picture and try again at the next attempt. */
    hp_log("reloading the studies from the database failed: %s; trying again later", err.msg);
    hp_sched_studies_free(d->studies, false);
    d->studies = old;
    d->n_studies = old_n;
    d->store_failed = true;
    d->reload_failed = true;
    return;
  }
  d->store_failed = false;
  d->reload_failed = false;
  /* What only memory holds goes on: the failures in a row and the time
   * budget spent since it was last stored. */
  for (hp_study_t *n = d->studies; n; n = n->next)
    for (hp_study_t *o = old; o; o = o->next)
      if (o->id == n->id) {
        n->failed_in_row = o->failed_in_row;
        /* the clock itself runs as the state loaded says (a stop whose
         * write failed is undone) */
        n->budget_used = hp_sched_budget_spent(o);
        n->budget_saved = o->budget_saved;
      }
  size_t kept = 0, dropped = 0;
  for (hp_study_t *o = old; o; o = o->next) {
    for (size_t i = 0; i < o->runs_cap; i++) {
      hp_run_t *r = o->runs[i];
      if (r == NULL) continue;
      o->runs[i] = NULL;
      hp_study_t *st = NULL;
      for (hp_study_t *n = d->studies; n && st == NULL; n = n->next)
        if (n->id == r->study_id) st = n;
      if (st && st->spec && store_has_running(d->store, st->id, r->trial_id, r->number) &&
          hp_sched_runs_reserve(st, r->number) == 0) {
        r->st = st;
        st->runs[r->number] = r;
        if (r->w) st->n_workers++;
        kept++;
        continue;
      }
      hp_log("study '%s' trial %lld: its start did not reach the database; dropped", o->name,
             (long long)r->number);
      if (r->w) {
        hp_worker_kill(r->w, HP_STORE_FAIL, "not stored");
        r->w->run = NULL;
      }
      hp_sched_run_free(r);
      dropped++;
    }
  }
  hp_sched_studies_free(old, true);
  /* Ended trials wait for a rewrite; the reloaded sampler sees them running. */
  hp_run_t *list = d->unstored, *next;
  d->unstored = NULL;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    hp_study_t *st = NULL;
    for (hp_study_t *n = d->studies; n && st == NULL; n = n->next)
      if (n->id == r->study_id) st = n;
    if (st && st->spec && store_has_running(d->store, st->id, r->trial_id, r->number)) {
      r->st = st;
      r->next_end = d->unstored;
      d->unstored = r;
    } else {
      hp_log("study %lld trial %lld: its end (%s) is dropped: the trial is not RUNNING in the "
             "database",
             (long long)r->study_id, (long long)r->number, hp_store_state_name(r->end_state));
      hp_sched_run_free(r);
    }
  }
  size_t waiting = 0;
  for (hp_run_t *r = d->unstored; r; r = r->next_end) waiting++;
  hp_log("studies reloaded from the database: %zu running trial(s) kept, %zu dropped, %zu "
         "ended trial(s) waiting to be written",
         kept, dropped, waiting);
}

void hp_sched_batch_done(hp_daemon_t *d, bool committed, const char *why) {
  hp_slurm_batch_done(d, committed); /* scancels of trials failed in the batch */
  /* Ends that reached the database are done; the others wait. */
  hp_run_t *list = d->settling, *next;
  d->settling = NULL;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    if (committed && r->end_written) {
      if (r->relay_ack) hp_slurm_end_stored(d, r->trial_id); /* its job may end now */
      hp_sched_run_free(r);
    } else {
      r->end_written = false;
      r->next_end = d->unstored;
      d->unstored = r;
    }
  }
  if (committed && !d->store_failed) {
    if (d->unstored == NULL) d->retry_wait = 0;
    return;
  }
  /* After a reload that failed, the next one waits its turn: on_check comes
   * at every loop iteration (each request, each worker line), and a reload
   * there read the whole database each time. hp_sched_retry comes back at
   * t_retry. */
  if (d->reload_failed && hp_now_mono() < d->t_retry) return;
  /* One attempt a second while the disk is full, so new trials start
   * within about a second of its coming back (a wait doubling up to 30 s
   * kept them waiting 24 s after space was freed). Not sooner: every
   * request answered in the round of a failed attempt gets its error too. */
  d->retry_wait = HP_RETRY_WAIT;
  d->t_retry = hp_now_mono() + d->retry_wait;
  hp_daemon_wake_at(d, d->t_retry);
  hp_log("the database could not be written (%s): reloading the studies from it; new trials "
         "and rewrites wait %.0f s",
         why, d->retry_wait);
  sched_reload(d);
}

/* ---- other writers --------------------------------------------------------------------- */

/* Whether trial `number` of st is this daemon's: running here, or ended
 * with its end not committed or not stored yet. */
static bool trial_is_ours(const hp_study_t *st, int64_t number) {
  if (number >= 0 && (size_t)number < st->runs_cap && st->runs[number]) return true;
  const hp_run_t *lists[] = {st->d->settling, st->d->unstored};
  for (int l = 0; l < 2; l++)
    for (const hp_run_t *r = lists[l]; r; r = r->next_end)
      if (r->study_id == st->id && r->number == number) return true;
  return false;
}

/* Whether any trial of st is this daemon's (runs, or ends in flight). */
static bool study_has_ours(const hp_study_t *st) {
  for (size_t i = 0; i < st->runs_cap; i++)
    if (st->runs[i]) return true;
  const hp_run_t *lists[] = {st->d->settling, st->d->unstored};
  for (int l = 0; l < 2; l++)
    for (const hp_run_t *r = lists[l]; r; r = r->next_end)
      if (r->study_id == st->id) return true;
  return false;
}

/* Brings one study up to what the database holds (info: its counts, read
 * just before). Only trials from st->sync_from on are read:
 * below it every trial is final, and a final trial never changes. Another
 * program's trials go to the sampler and pruner (a RUNNING one as running,
 * as a reload does); this daemon's own are skipped. Returns 1 when a study
 * of another program that had no space to adopt now has trials with
 * parameters (the caller builds it again), else 0 or an error. */
static int study_sync(hp_study_t *st, const hp_store_study_info_t *info, hp_err_t *err) {
  int64_t total = 0;
  for (int i = 0; i < HP_STORE_NSTATES; i++) total += st->n_state[i];
  bool same = total == info->n_trials && st->sync_from >= info->n_trials &&
              memcmp(st->n_state, info->n_state, sizeof st->n_state) == 0;
  if (same) return 0;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  int rc = hp_store_trials_list(st->d->store, st->id, st->sync_from, &trials, &n, err);
  if (rc < 0) return rc;
  const hp_space_t *space = st->spec ? st->spec->space : NULL;
  double *params = malloc(((size_t)(space ? space->n : 0) + 1) * sizeof *params);
  if (params == NULL) {
    hp_store_trials_free(trials, n);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  int64_t open_low = -1, waiting_before = st->n_state[HP_STORE_WAITING];
  bool adoptable = st->spec == NULL && st->foreign && info->n_objectives == 1;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (adoptable && t->n_params > 0) {
      free(params);
      hp_store_trials_free(trials, n);
      return 1;
    }
    hp_sched_note_id(st, t->number, t->trial_id);
    if (t->number >= st->next_number) st->next_number = t->number + 1;
    if (trial_is_ours(st, t->number)) continue;
    if ((t->state == HP_STORE_RUNNING || t->state == HP_STORE_WAITING) &&
        (open_low < 0 || t->number < open_low))
      open_low = t->number;
    replay_trial(st, t, params);
  }
  free(params);
  hp_store_trials_free(trials, n);
  st->sync_from = open_low >= 0 ? open_low : st->next_number;
  /* Counts as the database has them: another program's trials count
   * towards n_trials, as in Optuna. */
  memcpy(st->n_state, info->n_state, sizeof st->n_state);
  /* This daemon's runs stay RUNNING in its counts until they end here. A
   * peer may have failed one meanwhile (its heartbeat was late by more than
   * the grace period: a stalled or partitioned daemon); the database then
   * counts it FAIL, its worker is stopped (hp_sched_stop_if_taken, here and
   * at every heartbeat, as peers' running trials can hide the gap), and the run's
   * own end, refused by the store, is what settles it. Until then it is
   * counted as running, not twice. */
  int64_t own = 0;
  for (size_t i = 0; i < st->runs_cap; i++) own += st->runs[i] != NULL;
  int64_t gap = own - st->n_state[HP_STORE_RUNNING];
  if (gap > 0 && gap != st->taken_said)
    hp_log("study '%s': %lld of this daemon's running trial(s) were ended by another program "
           "(a heartbeat later than the grace period?); their ends here will be refused",
           st->name, (long long)gap);
  st->taken_said = gap > 0 ? gap : 0;
  for (size_t i = 0; i < st->runs_cap && gap > 0; i++)
    if (st->runs[i]) hp_sched_stop_if_taken(st, st->runs[i]);
  if (gap > 0) {
    st->n_state[HP_STORE_RUNNING] += gap;
    for (int s = HP_STORE_NSTATES - 1; s >= 0 && gap > 0; s--) {
      if (s == HP_STORE_RUNNING || s == HP_STORE_WAITING) continue;
      int64_t take = st->n_state[s] < gap ? st->n_state[s] : gap;
      st->n_state[s] -= take;
      gap -= take;
    }
  }
  if (info->n_trials > st->next_number) st->next_number = info->n_trials;
  st->exhausted = false;
  /* Trials another program enqueued wake a finished study, as trial.enqueue. */
  if (st->spec && st->state == HP_STUDY_FINISHED && st->n_state[HP_STORE_WAITING] > waiting_before)
    st->state = HP_STUDY_RUNNING;
  hp_sched_check_finished(st);
  return 0;
}

/* A study another program created, or one without a usable spec that it
 * changed (rebuilt: its trials may now give a space to adopt). */
static int study_sync_build(hp_daemon_t *d, const hp_store_study_info_t *info, hp_study_t *old,
                            hp_err_t *err) {
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  int rc = hp_store_trials_list(d->store, info->study_id, 0, &trials, &n, err);
  if (rc < 0) return rc;
  if (old) {
    hp_sched_study_unlink(d, old);
    hp_sched_study_free(old);
  }
  hp_study_t *st = NULL;
  rc = study_build(d, info, trials, n, true, NULL, &st, err);
  hp_store_trials_free(trials, n);
  if (rc < 0) {
    if (st) {
      hp_sched_study_unlink(d, st);
      hp_sched_study_free(st);
    }
    return rc;
  }
  if (old) return 0;
  hp_log("study '%s' (id %lld) was created by another program: %lld trial(s)%s", st->name,
         (long long)st->id, (long long)info->n_trials,
         st->spec ? "" : "; served read-only (no space to adopt yet)");
  hp_sched_study_event(st, HP_RPC_EV_STUDY_CREATED);
  return 0;
}

int hp_sched_claim(hp_study_t *st, hp_err_t *err) {
  hp_daemon_t *d = st->d;
  if (st->claimed_batch == d->batch_seq && hp_store_in_batch(d->store)) return 0;
  int rc = hp_store_study_lock(d->store, st->id, err);
  if (rc < 0) return rc;
  /* The peers' trials are read under the lock only where a claim depends
   * on them: a grid's points, an n_trials limit, enqueued trials. Else
   * (random or TPE without a limit) the number is still counted under the
   * lock by the store, and the sampler's history follows the peers through
   * hp_sched_sync (their NOTIFY, or once a second): one round trip less
   * per trial. */
  const hp_study_spec_t *sp = st->spec;
  if (sp && sp->sampler.kind != HP_SAMPLER_GRID && sp->n_trials == 0 &&
      st->n_state[HP_STORE_WAITING] == 0) {
    st->claimed_batch = d->batch_seq;
    return 0;
  }
  hp_store_study_info_t *info = NULL;
  size_t n_info = 0;
  if ((rc = hp_store_study_counts(d->store, st->id, &info, &n_info, err)) < 0) return rc;
  rc = n_info == 1 ? study_sync(st, info, err)
                   : hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)st->id);
  hp_store_study_list_free(info, n_info);
  if (rc < 0) return rc;
  st->claimed_batch = d->batch_seq;
  return 0;
}

void hp_sched_sync(hp_daemon_t *d) {
  /* While the daemon's batch is open it holds the write lock: nobody else
   * can commit, so one look per batch is enough. Outside a batch every
   * call looks (one PRAGMA): a loop iteration may have waited in poll for a
   * second since the last look. */
  bool in_batch = hp_store_in_batch(d->store);
  if (d->store_failed || (in_batch && d->synced)) return;
  d->synced = in_batch;
  hp_err_t err = {0};
  int64_t version = 0;
  int rc = hp_store_data_version(d->store, &version, &err);
  if (rc == 0 && version == d->data_version) return;
  hp_store_study_info_t *infos = NULL;
  size_t n_infos = 0;
  if (rc == 0) rc = hp_store_study_counts(d->store, -1, &infos, &n_infos, &err);
  /* Studies another program deleted go, unless this daemon runs trials
   * of them (their writes fail, and the reload that follows settles it). */
  hp_study_t *next;
  for (hp_study_t *st = rc == 0 ? d->studies : NULL; st; st = next) {
    next = st->next;
    bool found = false;
    for (size_t i = 0; i < n_infos && !found; i++) found = infos[i].study_id == st->id;
    if (found || study_has_ours(st)) continue;
    hp_log("study '%s' (id %lld) was deleted by another program", st->name, (long long)st->id);
    hp_sched_study_event(st, HP_RPC_EV_STUDY_DELETED);
    hp_sched_study_unlink(d, st);
    hp_sched_study_free(st);
  }
  for (size_t i = 0; rc == 0 && i < n_infos; i++) {
    hp_study_t *st = NULL;
    for (hp_study_t *s = d->studies; s && st == NULL; s = s->next)
      if (s->id == infos[i].study_id) st = s;
    rc = st ? study_sync(st, &infos[i], &err) : 0;
    if (st == NULL || rc == 1) rc = study_sync_build(d, &infos[i], st, &err);
  }
  hp_store_study_list_free(infos, n_infos);
  if (rc < 0) {
    /* Said once until it works again; the next loop iteration retries. */
    if (!d->sync_failed) hp_log("reading what other programs wrote failed: %s", err.msg);
    d->sync_failed = true;
    return;
  }
  if (d->sync_failed) hp_log("reading what other programs wrote works again");
  d->sync_failed = false;
  d->data_version = version;
  hp_daemon_kick(d);
}

/* Studies and trials in the daemon: loading and reconciling them from the
 * store after a (re)start, choosing which study gets the next free worker
 * slot (round robin within each study's parallelism), creating, reporting
 * and finishing trials (store first, then sampler, pruner, events), and the
 * JSON shapes of studies and trials in replies. */
#include <assert.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

#define ATTR_SPEC "hpsearch:spec"
#define ATTR_STATE "hpsearch:state"
#define ATTR_CREATED "hpsearch:created"
#define ATTR_WORKER "hpsearch:worker"
#define ATTR_REASON "hpsearch:reason"

static const char *const STUDY_STATE_NAMES[] = {"running", "stopped", "finished"};

const char *hp_study_state_name(hp_study_state_t s) {
  return (unsigned)s < 3 ? STUDY_STATE_NAMES[s] : "?";
}

static double now_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_local(double t, char *buf, size_t len) {
  time_t s = (time_t)t;
  struct tm tm;
  localtime_r(&s, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(buf, len, "%s.%06d", base, (int)((t - (double)s) * 1e6));
}

/* Seconds since the epoch of a stored local datetime, NAN if malformed. */
static double parse_local(const char *s) {
  struct tm tm = {0};
  int us = 0;
  if (s == NULL || s[0] == '\0') return NAN;
  if (sscanf(s, "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &us) < 6)
    return NAN;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return (double)mktime(&tm) + us * 1e-6;
}

/* A number as JSON: finite numbers as numbers, others as "inf"/"-inf"/"nan". */
static cJSON *value_json(double v) {
  if (isnan(v)) return cJSON_CreateString("nan");
  if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
  return cJSON_CreateNumber(v);
}

static bool better(const hp_study_t *st, double a, double b) {
  return st->maximize ? a > b : a < b;
}

/* ---- study lifecycle ----------------------------------------------------------- */

static void study_free(hp_study_t *st) {
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
  free(st);
}

static void run_list_free(hp_run_t *list);

/* Frees the studies of the list (not their running trials' runs when
 * keep_runs: those move to a reloaded list). */
static void studies_free(hp_study_t *list, bool keep_runs) {
  hp_study_t *next;
  for (hp_study_t *st = list; st; st = next) {
    next = st->next;
    if (keep_runs && st->runs) memset(st->runs, 0, st->runs_cap * sizeof *st->runs);
    study_free(st);
  }
}

void hp_sched_free(hp_daemon_t *d) {
  studies_free(d->studies, false);
  d->studies = NULL;
  d->n_studies = 0;
  run_list_free(d->settling);
  run_list_free(d->unstored);
  d->settling = d->unstored = NULL;
}

static void study_link(hp_daemon_t *d, hp_study_t *st) {
  hp_study_t **pp = &d->studies;
  while (*pp && (*pp)->id < st->id) pp = &(*pp)->next;
  st->next = *pp;
  *pp = st;
  d->n_studies++;
}

static void study_unlink(hp_daemon_t *d, hp_study_t *st) {
  for (hp_study_t **pp = &d->studies; *pp; pp = &(*pp)->next) {
    if (*pp == st) {
      *pp = st->next;
      d->n_studies--;
      return;
    }
  }
}

/* Sampler, pruner and distribution texts of a study with a spec. */
static int study_engines(hp_study_t *st, hp_err_t *err) {
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

static int runs_reserve(hp_study_t *st, int64_t number) {
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
static void note_id(hp_study_t *st, int64_t number, int64_t trial_id) {
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

/* Whether the study may start another trial (ignoring worker slots). */
static bool more_to_do(hp_study_t *st) {
  hp_study_spec_t *sp = st->spec;
  if (sp == NULL || st->state != HP_STUDY_RUNNING) return false;
  int64_t total = 0;
  for (int i = 0; i < HP_STORE_NSTATES; i++) total += st->n_state[i];
  int64_t started = total - st->n_state[HP_STORE_WAITING];
  if (st->n_state[HP_STORE_WAITING] > 0 && !st->d->shutting_down) {
    if (sp->time_budget > 0 && now_wall() - st->created >= sp->time_budget) return false;
    return true; /* enqueued trials run even past n_trials */
  }
  if (sp->n_trials > 0 && started >= sp->n_trials) return false;
  if (sp->time_budget > 0 && now_wall() - st->created >= sp->time_budget) return false;
  if (sp->sampler.kind == HP_SAMPLER_GRID) {
    hp_sampler_stats_t s;
    hp_sampler_stats(st->sampler, &s);
    if (s.grid_free == 0) return false;
  }
  return true;
}

static cJSON *best_json(hp_study_t *st);

/* Moves a running study to FINISHED when nothing is left and nothing runs. */
static void study_check_finished(hp_study_t *st) {
  if (st->state != HP_STUDY_RUNNING || st->spec == NULL) return;
  if (st->n_state[HP_STORE_RUNNING] > 0 || more_to_do(st)) return;
  st->state = HP_STUDY_FINISHED;
  st->t_finished = now_wall();
  hp_log("study '%s' finished: %lld complete, %lld pruned, %lld failed", st->name,
         (long long)st->n_state[HP_STORE_COMPLETE], (long long)st->n_state[HP_STORE_PRUNED],
         (long long)st->n_state[HP_STORE_FAIL]);
  cJSON *ev = cJSON_CreateObject();
  if (ev == NULL) return;
  cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_FINISHED);
  cJSON_AddStringToObject(ev, "study", st->name);
  cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
  cJSON *counts = cJSON_AddObjectToObject(ev, "counts");
  for (int i = 0; i < HP_STORE_NSTATES && counts; i++)
    cJSON_AddNumberToObject(counts, hp_store_state_name(i), (double)st->n_state[i]);
  cJSON_AddItemToObject(ev, "best", best_json(st));
  hp_daemon_event(st->d, st->id, ev);
}

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
  cJSON *attrs = cJSON_Parse(t->system_attrs_json ? t->system_attrs_json : "{}");
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(attrs, ATTR_WORKER);
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
  cJSON *attrs = cJSON_Parse(t->system_attrs_json);
  for (int k = 0;; k++) {
    char key[32];
    snprintf(key, sizeof key, "completed_rung_%d", k);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    if (!cJSON_IsNumber(v)) break;
    if (hp_pruner_restore_rung(st->pruner, t->number, k, v->valuedouble, NULL) < 0) break;
  }
  cJSON_Delete(attrs);
}

/* Feeds the stored history to the sampler and pruner and counts states.
 * RUNNING trials were reconciled to FAIL just before. */
static int study_replay(hp_study_t *st, hp_store_trial_t *trials, size_t n, bool live,
                        hp_err_t *err) {
  const hp_space_t *space = st->spec ? st->spec->space : NULL;
  double *params = space ? malloc(((size_t)space->n + 1) * sizeof *params) : NULL;
  if (space && params == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  const char *last_end = NULL; /* latest datetime_complete (fixed-width text) */
  for (size_t i = 0; i < n; i++) {
    hp_store_trial_t *t = &trials[i];
    if (t->datetime_complete[0] &&
        (last_end == NULL || strcmp(t->datetime_complete, last_end) > 0))
      last_end = t->datetime_complete;
    if (t->state == HP_STORE_RUNNING && !live) t->state = HP_STORE_FAIL;
    st->n_state[t->state]++;
    note_id(st, t->number, t->trial_id);
    if (t->number >= st->next_number) st->next_number = t->number + 1;
    double value = t->n_values > 0 ? t->values[0] : NAN;
    if (t->state == HP_STORE_COMPLETE && t->n_values > 0 &&
        (!st->has_best || better(st, value, st->best_value))) {
      st->has_best = true;
      st->best_value = value;
      st->best_number = t->number;
    }
    if (space == NULL || t->state == HP_STORE_WAITING) continue;
    stored_params(space, t, params);
    int64_t last_step = t->n_intermediate ? t->steps[t->n_intermediate - 1] : -1;
    if (t->state == HP_STORE_RUNNING) { /* live reload: still running here */
      hp_sampler_running(st->sampler, t->number, params, NULL);
      for (size_t k = 0; k < t->n_intermediate; k++)
        hp_pruner_report(st->pruner, t->number, t->steps[k], t->intermediate[k], NULL);
      replay_rungs(st, t);
      continue;
    }
    hp_trial_final_t fin = t->state == HP_STORE_COMPLETE ? HP_FINAL_COMPLETE
                           : t->state == HP_STORE_PRUNED ? HP_FINAL_PRUNED
                                                         : HP_FINAL_FAIL;
    if (fin == HP_FINAL_PRUNED && isnan(value) && t->n_intermediate)
      value = t->intermediate[t->n_intermediate - 1];
    int rc = hp_sampler_tell(st->sampler, t->number, params, fin, value, last_step, err);
    if (rc < 0) hp_log("study '%s' trial %lld: sampler replay: %s", st->name, (long long)t->number, err->msg);
    for (size_t k = 0; k < t->n_intermediate; k++)
      hp_pruner_report(st->pruner, t->number, t->steps[k], t->intermediate[k], NULL);
    replay_rungs(st, t);
    hp_pruner_finish(st->pruner, t->number,
                     fin == HP_FINAL_COMPLETE ? HP_PRUNER_END_COMPLETE
                     : fin == HP_FINAL_PRUNED ? HP_PRUNER_END_PRUNED
                                              : HP_PRUNER_END_FAIL,
                     NULL);
  }
  free(params);
  /* A finished study's elapsed time ends with its last trial. */
  st->t_finished = last_end ? parse_local(last_end) : NAN;
  if (isnan(st->t_finished)) st->t_finished = st->created;
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
                          bool single_objective) {
  if (!single_objective) return;
  cJSON *spec = cJSON_CreateObject();
  cJSON_AddStringToObject(spec, "name", st->name);
  cJSON_AddStringToObject(spec, "direction", st->maximize ? "maximize" : "minimize");
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
  hp_err_t err = {0};
  if (hp_study_spec_parse(spec, &st->spec, &err) < 0 || study_engines(st, &err) < 0) {
    hp_log("study '%s' (no hpsearch spec) is served read-only: %s", st->name, err.msg);
    study_drop_spec(st);
  }
  cJSON_Delete(spec);
}

/* Builds d->studies from the store. A start (live false) first kills the
 * workers a previous daemon left and marks its RUNNING trials FAIL; a reload
 * after a failed write (live true) keeps RUNNING trials running. */
static int sched_load(hp_daemon_t *d, bool live, hp_err_t *err) {
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
  /* 1. read everything and kill orphans of RUNNING trials */
  size_t n_running = 0;
  for (size_t i = 0; i < n_infos; i++) {
    rc = hp_store_trials_list(d->store, infos[i].study_id, 0, &lists[i], &counts[i], err);
    if (rc < 0) goto done;
    for (size_t j = 0; j < counts[i] && !live; j++) {
      if (lists[i][j].state == HP_STORE_RUNNING) {
        kill_orphan(d, &lists[i][j]);
        n_running++;
      }
    }
  }
  /* 2. RUNNING trials of the previous daemon can never be told: FAIL them. */
  if (n_running > 0) {
    size_t n_fixed = 0;
    rc = hp_store_reconcile(d->store, "daemon restarted", NULL, &n_fixed, err);
    if (rc < 0) goto done;
    hp_log("reconciled %zu trial(s) left RUNNING by a previous daemon (now FAIL, \"daemon "
           "restarted\")",
           n_fixed);
  }
  /* 3. rebuild each study */
  for (size_t i = 0; i < n_infos; i++) {
    hp_study_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      goto done;
    }
    st->d = d;
    st->id = infos[i].study_id;
    st->name = strdup(infos[i].name);
    st->maximize = infos[i].n_objectives > 0 && infos[i].maximize[0];
    st->best_number = -1;
    study_link(d, st);
    if (st->name == NULL) {
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      goto done;
    }
    char *text = NULL;
    if (hp_store_study_get_system_attr(d->store, st->id, ATTR_CREATED, &text, NULL) == 0) {
      st->created = atof(text);
      free(text);
    } else {
      st->created = parse_local(infos[i].datetime_start);
      if (isnan(st->created)) st->created = now_wall();
    }
    format_local(st->created, st->datetime_start, sizeof st->datetime_start);
    st->state = HP_STUDY_FINISHED;
    text = NULL;
    if (hp_store_study_get_system_attr(d->store, st->id, ATTR_SPEC, &text, NULL) == 0) {
      cJSON *js = cJSON_Parse(text);
      hp_err_t serr = {0};
      if (js == NULL || hp_study_spec_parse(js, &st->spec, &serr) < 0 ||
          study_engines(st, &serr) < 0) {
        hp_log("study '%s': stored spec unusable (%s); serving it read-only", st->name,
               js ? serr.msg : "not JSON");
        study_drop_spec(st);
      }
      cJSON_Delete(js);
      free(text);
    } else {
      adopt_foreign(st, lists[i], counts[i], infos[i].n_objectives == 1);
    }
    if (st->spec) {
      st->maximize = st->spec->maximize;
      st->state = HP_STUDY_RUNNING;
      text = NULL;
      if (hp_store_study_get_system_attr(d->store, st->id, ATTR_STATE, &text, NULL) == 0) {
        if (strcmp(text, "\"stopped\"") == 0) st->state = HP_STUDY_STOPPED;
        free(text);
      }
    }
    rc = study_replay(st, lists[i], counts[i], live, err);
    if (rc < 0) goto done;
    if (st->state == HP_STUDY_RUNNING) {
      if (st->n_state[HP_STORE_RUNNING] == 0 && !more_to_do(st)) st->state = HP_STUDY_FINISHED;
      else if (!live)
        hp_log("study '%s' resumes: %lld trial(s) so far", st->name,
               (long long)(st->next_number));
    }
  }
  rc = 0;
done:
  for (size_t i = 0; lists && i < n_infos; i++) hp_store_trials_free(lists[i], counts[i]);
  free(lists);
  free(counts);
  hp_store_study_list_free(infos, n_infos);
  return rc;
}

int hp_sched_load(hp_daemon_t *d, hp_err_t *err) { return sched_load(d, false, err); }

/* ---- lookup and JSON ------------------------------------------------------------------- */

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

static cJSON *best_json(hp_study_t *st) {
  if (!st->has_best) return cJSON_CreateNull();
  cJSON *b = cJSON_CreateObject();
  if (b == NULL) return NULL;
  cJSON_AddNumberToObject(b, "trial", (double)st->best_number);
  cJSON_AddItemToObject(b, "value", value_json(st->best_value));
  /* Parameters come from the store: the best trial is usually not in memory. */
  int64_t tid = 0;
  if (hp_store_best_trial(st->d->store, st->id, &tid, NULL, NULL, NULL) == 0) {
    hp_store_trial_t t = {0};
    if (hp_store_trial_get(st->d->store, tid, &t, NULL) == 0) {
      cJSON *tj = hp_sched_trial_json(st, &t, false);
      cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(tj, "params");
      if (p) cJSON_AddItemToObject(b, "params", p);
      cJSON_Delete(tj);
      hp_store_trial_clear(&t);
    }
  }
  return b;
}

cJSON *hp_sched_summary(hp_study_t *st) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  hp_study_spec_t *sp = st->spec;
  cJSON_AddNumberToObject(o, "study_id", (double)st->id);
  cJSON_AddStringToObject(o, "name", st->name);
  cJSON_AddStringToObject(o, "state", hp_study_state_name(st->state));
  cJSON_AddStringToObject(o, "direction", st->maximize ? "maximize" : "minimize");
  if (sp) {
    cJSON_AddStringToObject(o, "metric", sp->metric);
    cJSON_AddStringToObject(o, "objective", sp->kind == HP_OBJ_ENGINE    ? "engine"
                                            : sp->kind == HP_OBJ_COMMAND ? "command"
                                                                         : "none");
    cJSON_AddStringToObject(o, "sampler", hp_sampler_kind_name(sp->sampler.kind));
    cJSON_AddStringToObject(o, "pruner", hp_pruner_kind_name(hp_pruner_kind(st->pruner)));
    if (sp->n_trials > 0) cJSON_AddNumberToObject(o, "n_trials", (double)sp->n_trials);
    else cJSON_AddNullToObject(o, "n_trials");
    if (sp->time_budget > 0) cJSON_AddNumberToObject(o, "time_budget", sp->time_budget);
    else cJSON_AddNullToObject(o, "time_budget");
    cJSON_AddNumberToObject(o, "parallelism", sp->parallelism);
  } else {
    cJSON_AddNullToObject(o, "metric");
    cJSON_AddStringToObject(o, "objective", "none");
    cJSON_AddNullToObject(o, "sampler");
    cJSON_AddNullToObject(o, "pruner");
    cJSON_AddNullToObject(o, "n_trials");
    cJSON_AddNullToObject(o, "time_budget");
    cJSON_AddNumberToObject(o, "parallelism", 0);
  }
  cJSON *counts = cJSON_AddObjectToObject(o, "counts");
  static const int order[] = {HP_STORE_WAITING, HP_STORE_RUNNING, HP_STORE_COMPLETE,
                              HP_STORE_PRUNED, HP_STORE_FAIL};
  for (int i = 0; i < 5 && counts; i++)
    cJSON_AddNumberToObject(counts, hp_store_state_name(order[i]), (double)st->n_state[order[i]]);
  cJSON_AddItemToObject(o, "best", best_json(st));
  cJSON_AddStringToObject(o, "datetime_start", st->datetime_start);
  double end = st->state == HP_STUDY_FINISHED ? st->t_finished : now_wall();
  cJSON_AddNumberToObject(o, "elapsed", end - st->created);
  return o;
}

/* Local datetime text as seconds on a naive (UTC-like) scale: differences
 * are durations (off by an hour across a DST change). No mktime: it reads
 * the time zone file on every call. NAN if malformed. */
static double naive_seconds(const char *s) {
  if (s == NULL || strlen(s) < 19) return NAN;
  for (int i = 0; i < 19; i++) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    bool sep = i == 4 || i == 7 || i == 10 || i == 13 || i == 16;
    if (digit == sep) return NAN;
  }
#define DIG2(i) ((s[i] - '0') * 10 + (s[i + 1] - '0'))
  long y = DIG2(0) * 100 + DIG2(2), m = DIG2(5), dd = DIG2(8);
  long hh = DIG2(11), mi = DIG2(14), ss = DIG2(17);
#undef DIG2
  double frac = 0, scale = 0.1;
  if (s[19] == '.')
    for (const char *p = s + 20; *p >= '0' && *p <= '9'; p++, scale /= 10) frac += (*p - '0') * scale;
  /* days from civil (proleptic Gregorian), Howard Hinnant's formula */
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long days = era * 146097 + doe - 719468;
  return (double)days * 86400.0 + hh * 3600 + mi * 60 + ss + frac;
}

/* External value of one stored parameter. */
static void write_param_value(hp_sbuf_t *b, const hp_space_t *space,
                              const hp_store_param_out_t *p) {
  int k = space ? hp_space_find(space, p->name) : -1;
  if (k >= 0) {
    const hp_dist_t *dist = &space->params[k].dist;
    /* range first: converting a double beyond int is undefined */
    if (dist->kind == HP_DIST_CAT && p->value >= 0 && p->value < dist->n_choices &&
        p->value == floor(p->value))
      hp_sbuf_json(b, cJSON_GetArrayItem(dist->choices, (int)p->value));
    else
      hp_sbuf_num(b, p->value); /* ints are integral doubles: printed as such */
    return;
  }
  /* A parameter outside the spec (e.g. a study written by Optuna). */
  hp_dist_t dist;
  cJSON *v = NULL;
  if (p->distribution_json &&
      hp_dist_from_optuna_json(p->distribution_json, strlen(p->distribution_json), &dist, NULL) == 0) {
    v = hp_dist_to_external(&dist, p->value);
    hp_dist_free(&dist);
  }
  if (v) hp_sbuf_json(b, v);
  else hp_sbuf_num(b, p->value);
  cJSON_Delete(v);
}

void hp_sched_trial_write(hp_sbuf_t *b, const hp_study_t *st, const hp_store_trial_t *t,
                          bool intermediate) {
  hp_sbuf_puts(b, "{\"trial\":");
  hp_sbuf_int(b, t->number);
  hp_sbuf_puts(b, ",\"trial_id\":");
  hp_sbuf_int(b, t->trial_id);
  hp_sbuf_puts(b, ",\"state\":");
  hp_sbuf_str(b, hp_store_state_name(t->state));
  hp_sbuf_puts(b, ",\"value\":");
  if (t->n_values > 0) hp_sbuf_num(b, t->values[0]);
  else hp_sbuf_puts(b, "null");
  hp_sbuf_puts(b, ",\"params\":{");
  const hp_space_t *space = st->spec ? st->spec->space : NULL;
  for (size_t j = 0; j < t->n_params; j++) {
    if (j) hp_sbuf_puts(b, ",");
    hp_sbuf_str(b, t->params[j].name);
    hp_sbuf_puts(b, ":");
    write_param_value(b, space, &t->params[j]);
  }
  hp_sbuf_puts(b, "}");
  if (intermediate) {
    hp_sbuf_puts(b, ",\"intermediate\":[");
    for (size_t k = 0; k < t->n_intermediate; k++) {
      hp_sbuf_puts(b, k ? ",[" : "[");
      hp_sbuf_int(b, t->steps[k]);
      hp_sbuf_puts(b, ",");
      hp_sbuf_num(b, t->intermediate[k]);
      hp_sbuf_puts(b, "]");
    }
    hp_sbuf_puts(b, "]");
  }
  hp_sbuf_puts(b, ",\"reason\":");
  cJSON *attrs = NULL;
  const cJSON *r = NULL;
  if (t->system_attrs_json && strstr(t->system_attrs_json, "reason")) {
    attrs = cJSON_Parse(t->system_attrs_json);
    r = cJSON_GetObjectItemCaseSensitive(attrs, HP_STORE_FAIL_REASON_KEY);
    if (!cJSON_IsString(r)) r = cJSON_GetObjectItemCaseSensitive(attrs, ATTR_REASON);
  }
  if (cJSON_IsString(r)) hp_sbuf_str(b, r->valuestring);
  else hp_sbuf_puts(b, "null");
  cJSON_Delete(attrs);
  hp_sbuf_puts(b, ",\"user_attrs\":");
  const char *ua = t->user_attrs_json ? t->user_attrs_json : "{}";
  if (strstr(ua, "NaN") == NULL && strstr(ua, "Infinity") == NULL) {
    hp_sbuf_puts(b, ua); /* the store returns a JSON object text */
  } else {
    /* Python writes NaN/Infinity, which JSON lacks: drop what cannot be read. */
    cJSON *o = cJSON_Parse(ua);
    if (o) hp_sbuf_json(b, o);
    else hp_sbuf_puts(b, "{}");
    cJSON_Delete(o);
  }
  /* null, not "", while unset (WAITING has no start, RUNNING no end) */
  hp_sbuf_puts(b, ",\"datetime_start\":");
  if (t->datetime_start[0]) hp_sbuf_str(b, t->datetime_start);
  else hp_sbuf_puts(b, "null");
  hp_sbuf_puts(b, ",\"datetime_complete\":");
  if (t->datetime_complete[0]) hp_sbuf_str(b, t->datetime_complete);
  else hp_sbuf_puts(b, "null");
  hp_sbuf_puts(b, ",\"duration\":");
  double a = naive_seconds(t->datetime_start), z = naive_seconds(t->datetime_complete);
  if (!isnan(a) && !isnan(z)) hp_sbuf_num(b, z - a);
  else hp_sbuf_puts(b, "null");
  hp_sbuf_puts(b, "}");
}

cJSON *hp_sched_trial_json(const hp_study_t *st, const hp_store_trial_t *t, bool intermediate) {
  hp_sbuf_t b = {0};
  hp_sched_trial_write(&b, st, t, intermediate);
  cJSON *o = b.oom ? NULL : cJSON_Parse(b.p);
  free(b.p);
  return o;
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
  st->best_number = -1;
  st->maximize = spec->maximize;
  st->state = HP_STUDY_RUNNING;
  st->created = now_wall();
  format_local(st->created, st->datetime_start, sizeof st->datetime_start);
  st->name = strdup(spec->name);
  int rc = st->name ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc == 0) rc = study_engines(st, err);
  if (rc < 0) goto fail;
  rc = hp_daemon_batch(d, err);
  if (rc < 0) goto fail;
  /* The spec and creation time go in with the study: a restarted daemon
   * resumes it from these. */
  cJSON *sys = cJSON_CreateObject();
  cJSON_AddItemToObject(sys, ATTR_SPEC, cJSON_Duplicate(spec->json, true));
  cJSON_AddNumberToObject(sys, ATTR_CREATED, st->created);
  cJSON_AddStringToObject(sys, ATTR_STATE, "running");
  char *sys_text = cJSON_PrintUnformatted(sys);
  cJSON_Delete(sys);
  if (sys_text == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail;
  }
  bool maximize = spec->maximize;
  rc = hp_store_study_create(d->store, spec->name, 1, &maximize, NULL, sys_text, &st->id, err);
  free(sys_text);
  if (rc < 0) goto fail;
  study_link(d, st);
  hp_log("study '%s' created (id %lld): %s objective, %s sampler, n_trials %lld", st->name,
         (long long)st->id, spec->kind == HP_OBJ_ENGINE ? "engine" : spec->kind == HP_OBJ_COMMAND ? "command" : "no",
         hp_sampler_kind_name(spec->sampler.kind), (long long)spec->n_trials);
  cJSON *ev = cJSON_CreateObject();
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_CREATED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    hp_daemon_event(d, st->id, ev);
  }
  hp_daemon_kick(d);
  *out = st;
  return 0;
fail:
  study_free(st);
  return rc;
}

/* ---- trials ---------------------------------------------------------------------------------- */

static void run_free(hp_run_t *run) {
  free(run->params);
  free(run->end_reason);
  cJSON_Delete(run->end_attrs);
  free(run);
}

static void run_list_free(hp_run_t *list) {
  hp_run_t *next;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    run_free(r);
  }
}

/* Overlays an enqueued trial's fixed params (external values by name). */
static int apply_fixed(hp_study_t *st, const char *sys_json, double *params, hp_err_t *err) {
  if (sys_json == NULL) return 0;
  cJSON *attrs = cJSON_Parse(sys_json);
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

static void event_started(hp_run_t *run) {
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
static int trial_begin(hp_study_t *st, hp_run_t **out, hp_err_t *err) {
  hp_daemon_t *d = st->d;
  const hp_space_t *space = st->spec->space;
  *out = NULL;
  int rc = hp_daemon_batch(d, err);
  if (rc < 0) return rc;
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
      rc = apply_fixed(st, sys, params, err);
      free(sys);
      for (int i = 0; rc == 0 && i < space->n; i++)
        if (isnan(params[i]))
          rc = hp_err_set(err, HP_EINVAL, "enqueued trial %lld: parameter %s has no value "
                                          "(grid exhausted)",
                          (long long)run->number, space->params[i].name);
      if (rc == 0) rc = hp_sampler_running(st->sampler, run->number, params, err);
      hp_store_param_t sp[space->n > 0 ? space->n : 1];
      for (int i = 0; rc == 0 && i < space->n; i++)
        sp[i] = (hp_store_param_t){space->params[i].name, params[i], st->dist_json[i]};
      if (rc == 0) rc = hp_store_trial_set_params(d->store, run->trial_id, sp, (size_t)space->n, err);
      if (rc < 0) {
        /* Record the failure on the trial itself; the sweep goes on. */
        hp_log("study '%s' trial %lld: %s", st->name, (long long)run->number, err->msg);
        if (runs_reserve(st, run->number) == 0) {
          st->runs[run->number] = run;
          hp_sched_finish(run, HP_STORE_FAIL, NULL, err->msg, NULL);
        } else {
          run_free(run);
        }
        return HP_ESTATE;
      }
    } else if (rc == HP_ENOTFOUND) {
      st->n_state[HP_STORE_WAITING] = 0; /* count was stale */
    } else {
      run_free(run);
      return rc;
    }
  }
  if (run->trial_id == 0) {
    int64_t number = st->next_number;
    rc = hp_sampler_suggest(st->sampler, number, params, err);
    if (rc < 0) {
      if (rc == HP_EEXHAUSTED) st->exhausted = true;
      run_free(run);
      return rc;
    }
    hp_store_param_t sp[space->n > 0 ? space->n : 1];
    for (int i = 0; i < space->n; i++)
      sp[i] = (hp_store_param_t){space->params[i].name, params[i], st->dist_json[i]};
    rc = hp_store_trial_create(d->store, st->id, HP_STORE_RUNNING, sp, (size_t)space->n, NULL,
                               &run->trial_id, &run->number, err);
    if (rc < 0) {
      hp_sampler_release(st->sampler, number);
      run_free(run);
      return rc;
    }
    if (run->number != number) {
      /* Someone else wrote trials: keep the sampler's bookkeeping right. */
      hp_sampler_release(st->sampler, number);
      hp_sampler_running(st->sampler, run->number, params, NULL);
    }
    st->n_state[HP_STORE_RUNNING]++;
  }
  if (run->number >= st->next_number) st->next_number = run->number + 1;
  note_id(st, run->number, run->trial_id);
  if (runs_reserve(st, run->number) < 0) {
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
    return hp_err_set(err, HP_RPC_E_SHUTTING_DOWN, "daemon is shutting down");
  if (st->spec == NULL)
    return hp_err_set(err, HP_RPC_E_STATE,
                      "study '%s' was not created by hpsearch (no spec): it cannot be asked",
                      st->name);
  if (st->state == HP_STUDY_STOPPED)
    return hp_err_set(err, HP_RPC_E_STOPPED, "study '%s' is stopped (resume it first)", st->name);
  if (hp_now_mono() < st->d->t_retry)
    return hp_err_set(err, HP_RPC_E_INTERNAL,
                      "the database could not be written a moment ago; new trials wait %.0f s",
                      st->d->t_retry - hp_now_mono() + 0.5);
  if (!more_to_do(st))
    return hp_err_set(err, HP_RPC_E_EXHAUSTED, "study '%s' has no trial left to ask (%s)",
                      st->name, st->state == HP_STUDY_FINISHED ? "finished" : "limit reached");
  hp_run_t *run = NULL;
  int rc = trial_begin(st, &run, err);
  if (rc == HP_EEXHAUSTED)
    return hp_err_set(err, HP_RPC_E_EXHAUSTED, "study '%s': every grid point is taken", st->name);
  if (rc < 0) return hp_err_set(err, HP_RPC_E_INTERNAL, "%s", err->msg);
  event_started(run);
  *out = run;
  return 0;
}

int hp_sched_enqueue(hp_study_t *st, const cJSON *params, int64_t *number, int64_t *trial_id,
                     hp_err_t *err) {
  if (st->spec == NULL)
    return hp_err_set(err, HP_RPC_E_STATE, "study '%s' has no hpsearch spec", st->name);
  const hp_space_t *space = st->spec->space;
  for (const cJSON *p = params->child; p; p = p->next) {
    int k = hp_space_find(space, p->string);
    if (k < 0)
      return hp_err_set(err, HP_RPC_E_PARAMS, "params.params.%s: not a parameter of the space",
                        p->string);
    double v;
    if (hp_dist_from_external(&space->params[k].dist, p, &v, err) < 0) {
      err->code = HP_RPC_E_PARAMS;
      return hp_err_prefix(err, "params.params.%s", p->string), HP_RPC_E_PARAMS;
    }
  }
  int rc = hp_daemon_batch(st->d, err);
  if (rc < 0) return HP_RPC_E_INTERNAL;
  cJSON *sys = cJSON_CreateObject();
  cJSON_AddItemToObject(sys, "fixed_params", cJSON_Duplicate(params, true));
  char *text = cJSON_PrintUnformatted(sys);
  cJSON_Delete(sys);
  if (text == NULL) return hp_err_set(err, HP_RPC_E_INTERNAL, "out of memory");
  rc = hp_store_trial_create(st->d->store, st->id, HP_STORE_WAITING, NULL, 0, text, trial_id,
                             number, err);
  free(text);
  if (rc < 0) return hp_err_set(err, HP_RPC_E_INTERNAL, "%s", err->msg);
  if (*number >= st->next_number) st->next_number = *number + 1;
  note_id(st, *number, *trial_id);
  st->n_state[HP_STORE_WAITING]++;
  if (st->state == HP_STUDY_FINISHED) st->state = HP_STUDY_RUNNING;
  hp_daemon_kick(st->d);
  return 0;
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
  /* Successive halving keeps state in rungs: persist new ones (as Optuna). */
  int after = hp_pruner_rung_count(st->pruner, run->number);
  for (int k = before; k < after; k++) {
    char key[32], val[40];
    snprintf(key, sizeof key, "completed_rung_%d", k);
    double rv = hp_pruner_rung_value(st->pruner, run->number, k);
    if (!isfinite(rv)) continue;
    snprintf(val, sizeof val, "%.17g", rv);
    hp_store_trial_set_system_attr(st->d->store, run->trial_id, key, val, NULL);
  }
  cJSON *ev = hp_daemon_wants_events(st->d, st->id) ? cJSON_CreateObject() : NULL;
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_TRIAL_REPORTED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    cJSON_AddNumberToObject(ev, "trial", (double)run->number);
    cJSON_AddNumberToObject(ev, "step", (double)step);
    cJSON_AddItemToObject(ev, "value", value_json(value));
    cJSON_AddBoolToObject(ev, "prune", *prune);
    hp_daemon_event(st->d, st->id, ev);
  }
  return 0;
}

/* Writes the end of run into the batch, then tells the sampler and pruner,
 * counts it and sends the event; the run waits in d->settling until the
 * batch commits. A failed write is logged and marks the batch for a reload
 * (hp_sched_batch_done), which keeps the end for a later attempt. */
static int run_end(hp_run_t *run, hp_err_t *err) {
  hp_study_t *st = run->st;
  hp_daemon_t *d = st->d;
  hp_store_state_t state = run->end_state;
  const char *reason = run->end_reason;
  double v = run->end_value;
  bool has_value = run->end_has_value;
  hp_err_t werr = {0};
  int rc = hp_daemon_batch(d, &werr);
  cJSON *sys = NULL;
  if (reason) {
    sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, state == HP_STORE_FAIL ? HP_STORE_FAIL_REASON_KEY : ATTR_REASON,
                            reason);
  }
  char *sys_text = sys ? cJSON_PrintUnformatted(sys) : NULL;
  cJSON_Delete(sys);
  bool store_value = has_value && state != HP_STORE_FAIL;
  for (const cJSON *a = run->end_attrs ? run->end_attrs->child : NULL; a && rc == 0; a = a->next) {
    char *text = cJSON_PrintUnformatted(a);
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
    rc = hp_store_trial_finish(d->store, run->trial_id, state, store_value ? &v : NULL,
                               store_value ? 1 : 0, sys_text, &werr);
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
  hp_sampler_tell(st->sampler, run->number, run->params, fin, sv, run->last_step, NULL);
  hp_pruner_finish(st->pruner, run->number,
                   fin == HP_FINAL_COMPLETE ? HP_PRUNER_END_COMPLETE
                   : fin == HP_FINAL_PRUNED ? HP_PRUNER_END_PRUNED
                                            : HP_PRUNER_END_FAIL,
                   NULL);
  st->n_state[HP_STORE_RUNNING]--;
  st->n_state[state]++;
  st->exhausted = false; /* a grid point may have come free */
  if (state == HP_STORE_COMPLETE && (!st->has_best || better(st, v, st->best_value))) {
    st->has_best = true;
    st->best_value = v;
    st->best_number = run->number;
  }
  cJSON *ev = hp_daemon_wants_events(d, st->id) ? cJSON_CreateObject() : NULL;
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_TRIAL_FINISHED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    cJSON_AddNumberToObject(ev, "trial", (double)run->number);
    cJSON_AddStringToObject(ev, "state", hp_store_state_name(state));
    if (state == HP_STORE_COMPLETE) cJSON_AddItemToObject(ev, "value", value_json(v));
    else if (state == HP_STORE_PRUNED && (has_value || !isnan(run->last_value)))
      cJSON_AddItemToObject(ev, "value", value_json(sv));
    else cJSON_AddNullToObject(ev, "value");
    if (reason) cJSON_AddStringToObject(ev, "reason", reason);
    else cJSON_AddNullToObject(ev, "reason");
    hp_daemon_event(d, st->id, ev);
  }
  run->next_end = d->settling;
  d->settling = run;
  study_check_finished(st);
  hp_daemon_kick(d);
  return rc < 0 ? rc : refused;
}

int hp_sched_finish(hp_run_t *run, hp_store_state_t state, const double *value,
                    const char *reason, hp_err_t *err) {
  hp_study_t *st = run->st;
  assert(!run->ended);
  if (state == HP_STORE_COMPLETE && (value == NULL || isnan(*value))) {
    state = HP_STORE_FAIL;
    reason = "objective value is NaN";
  }
  run->ended = true;
  run->end_state = state;
  run->end_has_value = value != NULL;
  run->end_value = value ? *value : NAN;
  run->end_reason = reason ? strndup(reason, 255) : NULL;
  if ((size_t)run->number < st->runs_cap && st->runs[run->number] == run)
    st->runs[run->number] = NULL;
  if (run->w) run->w->run = NULL;
  run->w = NULL;
  return run_end(run, err);
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
    studies_free(d->studies, false);
    d->studies = old;
    d->n_studies = old_n;
    d->store_failed = true;
    d->reload_failed = true;
    return;
  }
  d->store_failed = false;
  d->reload_failed = false;
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
          runs_reserve(st, r->number) == 0) {
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
      run_free(r);
      dropped++;
    }
  }
  studies_free(old, true);
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
      run_free(r);
    }
  }
  size_t waiting = 0;
  for (hp_run_t *r = d->unstored; r; r = r->next_end) waiting++;
  hp_log("studies reloaded from the database: %zu running trial(s) kept, %zu dropped, %zu "
         "ended trial(s) waiting to be written",
         kept, dropped, waiting);
}

void hp_sched_batch_done(hp_daemon_t *d, bool committed, const char *why) {
  /* Ends that reached the database are done; the others wait. */
  hp_run_t *list = d->settling, *next;
  d->settling = NULL;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    if (committed && r->end_written) {
      run_free(r);
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
   * there read the whole database each time and doubled the wait to 30 s
   * within a handful of requests. hp_sched_tick comes back at t_retry. */
  if (d->reload_failed && hp_now_mono() < d->t_retry) return;
  d->retry_wait = d->retry_wait <= 0 ? 1 : d->retry_wait * 2 > 30 ? 30 : d->retry_wait * 2;
  d->t_retry = hp_now_mono() + d->retry_wait;
  hp_log("the database could not be written (%s): reloading the studies from it; new trials "
         "and rewrites wait %.0f s",
         why, d->retry_wait);
  sched_reload(d);
}

/* ---- scheduling ------------------------------------------------------------------------------ */

static bool wants_worker(hp_study_t *st) {
  return st->spec && st->spec->kind != HP_OBJ_NONE && st->state == HP_STUDY_RUNNING &&
         st->n_workers < st->spec->parallelism && !st->exhausted && more_to_do(st);
}

/* Starts one worker trial of st; false if nothing could be started. */
static bool start_one(hp_study_t *st) {
  hp_run_t *run = NULL;
  hp_err_t err = {0};
  int rc = trial_begin(st, &run, &err);
  if (rc == HP_EEXHAUSTED || rc == HP_ESTATE) return rc == HP_ESTATE;
  if (rc < 0) {
    hp_log("study '%s': cannot start a trial: %s", st->name, err.msg);
    return false;
  }
  event_started(run);
  rc = hp_worker_start(st->d, run, &err);
  if (rc < 0) {
    char reason[HP_ERR_MSG_MAX + 32];
    snprintf(reason, sizeof reason, "cannot start worker: %s", err.msg);
    hp_log("study '%s' trial %lld: %s", st->name, (long long)run->number, reason);
    hp_sched_finish(run, HP_STORE_FAIL, NULL, reason, NULL);
    return true;
  }
  char attr[160];
  snprintf(attr, sizeof attr, "{\"pgid\": %d, \"boot\": \"%s\"}", (int)run->w->pid,
           st->d->boot_id);
  hp_store_trial_set_system_attr(st->d->store, run->trial_id, ATTR_WORKER, attr, NULL);
  return true;
}

void hp_sched_run(hp_daemon_t *d) {
  if (d->shutting_down) return;
  /* While the database cannot be written, a new trial would only be undone. */
  if (hp_now_mono() < d->t_retry) return;
  /* Round robin: after the study that got the last slot, one trial per
   * study per pass, until the slots are full or nobody wants one. */
  /* At most one attempt per free slot per pass: a command that cannot be
   * started fails its trial at once, and must not spin here. */
  int attempts = d->jobs - d->n_workers;
  while (d->n_workers < d->jobs && attempts-- > 0) {
    hp_study_t *pick = NULL;
    for (hp_study_t *st = d->studies; st; st = st->next)
      if (st->id > d->rr_last && wants_worker(st)) {
        pick = st;
        break;
      }
    if (pick == NULL)
      for (hp_study_t *st = d->studies; st; st = st->next)
        if (st->id <= d->rr_last && wants_worker(st)) {
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
    study_check_finished(st);
  }
}

void hp_sched_rewrite(hp_daemon_t *d) {
  hp_run_t *list = d->unstored, *next;
  d->unstored = NULL;
  for (hp_run_t *r = list; r; r = next) {
    next = r->next_end;
    run_end(r, NULL);
  }
}

void hp_sched_tick(hp_daemon_t *d) {
  if ((d->unstored || d->retry_wait > 0) && hp_now_mono() >= d->t_retry) {
    /* Write the kept ends again (a failure reloads and waits longer); new
     * trials may start again. */
    hp_sched_rewrite(d);
    hp_daemon_kick(d);
  }
  for (hp_study_t *st = d->studies; st; st = st->next)
    if (st->state == HP_STUDY_RUNNING && st->spec && st->spec->time_budget > 0) {
      hp_daemon_kick(d);
      break;
    }
}

void hp_sched_stop(hp_study_t *st, bool kill) {
  if (st->spec == NULL) return;
  if (hp_daemon_batch(st->d, NULL) == 0)
    hp_store_study_set_system_attr(st->d->store, st->id, ATTR_STATE, "\"stopped\"", NULL);
  st->state = HP_STUDY_STOPPED;
  if (kill)
    for (size_t i = 0; i < st->runs_cap; i++)
      if (st->runs[i] && st->runs[i]->w) hp_worker_kill(st->runs[i]->w, HP_STORE_FAIL, "study stopped");
  cJSON *ev = cJSON_CreateObject();
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_STOPPED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    hp_daemon_event(st->d, st->id, ev);
  }
  hp_log("study '%s' stopped", st->name);
}

void hp_sched_resume(hp_study_t *st) {
  if (st->spec == NULL) return;
  if (hp_daemon_batch(st->d, NULL) == 0)
    hp_store_study_set_system_attr(st->d->store, st->id, ATTR_STATE, "\"running\"", NULL);
  st->state = HP_STUDY_RUNNING;
  st->exhausted = false;
  study_check_finished(st);
  hp_daemon_kick(st->d);
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
  cJSON *ev = cJSON_CreateObject();
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_STUDY_DELETED);
    cJSON_AddStringToObject(ev, "study", st->name);
    cJSON_AddNumberToObject(ev, "study_id", (double)st->id);
    hp_daemon_event(d, st->id, ev);
  }
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
      run_free(r);
    }
  }
  study_unlink(d, st);
  study_free(st);
  hp_daemon_kick(d);
  return 0;
}

void hp_sched_kill_all(hp_daemon_t *d, const char *reason) {
  for (hp_study_t *st = d->studies; st; st = st->next) {
    for (size_t i = 0; i < st->runs_cap; i++) {
      hp_run_t *r = st->runs[i];
      if (r == NULL) continue;
      if (r->w) hp_worker_kill(r->w, HP_STORE_FAIL, reason);
      else hp_sched_finish(r, HP_STORE_FAIL, NULL, reason, NULL); /* asked by a client */
    }
  }
}

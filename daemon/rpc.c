/* The JSON-RPC methods of the daemon (docs/protocol.md) in one table: name,
 * handler, allowed parameters and whether a study must be named. The
 * dispatcher validates the envelope and the parameters before any handler
 * runs; handlers never touch sockets, they return a result or an error that
 * the dispatcher turns into a reply line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"
#include "hpsearch/rpc.h"
#include "hpsearch/version.h"

typedef int (*rpc_fn)(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                      cJSON **result, hp_err_t *err);

enum {
  RPC_STUDY = 1u, /* params.study required and resolved before the handler */
  RPC_WRITE = 2u, /* refused while shutting down */
};

/* A handler's return that means "the reply comes later" (it keeps what it
 * needs to send it; see importance below). */
#define RPC_DEFERRED 1

/* The id of the request being handled (the loop's thread only), for a
 * handler whose reply comes later. */
static const cJSON *cur_id;

typedef struct rpc_method {
  const char *name;          /* method name */
  rpc_fn fn;                 /* handler */
  const char *const *keys;   /* allowed params keys, NULL-terminated */
  unsigned flags;            /* RPC_* */
} rpc_method_t;

/* ---- helpers ------------------------------------------------------------------ */

/* Largest numeric request id: every integer up to it is a double exactly, so
 * it is echoed as sent (docs/protocol.md). */
#define HP_RPC_ID_MAX 9007199254740991.0

static int oom(hp_err_t *err) { return hp_err_set(err, HP_ENOMEM, "out of memory"); }

/* A trial number parameter resolved to the running trial driven by clients. */
static int running_trial(hp_study_t *st, const cJSON *params, hp_run_t **out, hp_err_t *err) {
  long long number = 0;
  if (hp_json_get_int(params, "trial", true, 0, INT64_MAX / 2, &number, "params", err) < 0)
    return HP_EINVAL;
  if (number >= st->next_number)
    return hp_err_set(err, HP_ENOTFOUND, "study '%s' has no trial %lld", st->name, number);
  hp_run_t *run = (size_t)number < st->runs_cap ? st->runs[number] : NULL;
  if (run == NULL) {
    /* An ended trial whose end waits for the database (unstored), or is in
     * the batch now (settling: being written again, or just told). */
    const hp_run_t *lists[2] = {st->d->unstored, st->d->settling};
    for (int l = 0; l < 2; l++)
      for (const hp_run_t *u = lists[l]; u; u = u->next_end)
        if (u->study_id == st->id && u->number == number)
          return hp_err_set(err, HP_ESTATE,
                            "trial %lld of study '%s' has ended (%s); its end is being written "
                            "to the database",
                            number, st->name, hp_store_state_name(u->end_state));
    return hp_err_set(err, HP_ESTATE, "trial %lld of study '%s' is not running", number,
                      st->name);
  }
  if (run->w != NULL)
    return hp_err_set(err, HP_ESTATE,
                      "trial %lld of study '%s' is run by a worker; only its worker reports it",
                      number, st->name);
  *out = run;
  return 0;
}

/* A value parameter: a number, or "inf" / "-inf" / "nan". */
static int get_value(const cJSON *params, const char *key, bool required, double *out,
                     hp_err_t *err) {
  return hp_json_get_value(params, key, required, HP_NUM_STRICT, out, "params", err);
}

/* An optional array of at most max numbers (strict spellings of inf/nan as
 * for "value") under key; *n = -1 when absent. */
static int get_numbers(const cJSON *params, const char *key, int max, double *out, int *n,
                       hp_err_t *err) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(params, key);
  *n = -1;
  if (a == NULL) return 0;
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max)
    return hp_err_set(err, HP_EINVAL, "params.%s: expected an array of at most %d numbers", key,
                      max);
  int k = 0;
  for (const cJSON *x = a->child; x; x = x->next, k++) {
    char field[40];
    snprintf(field, sizeof field, "params.%s[%d]", key, k);
    if (hp_json_value(x, HP_NUM_STRICT, &out[k], field, err) < 0) return HP_EINVAL;
  }
  *n = k;
  return 0;
}

/* ---- study methods ------------------------------------------------------------ */

static int m_study_create(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                          cJSON **result, hp_err_t *err) {
  (void)c, (void)st;
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(params, "spec");
  if (spec == NULL) return hp_err_set(err, HP_EINVAL, "params.spec: missing (the study spec)");
  bool load = false;
  if (hp_json_get_bool(params, "load_if_exists", false, &load, "params", err) < 0)
    return HP_EINVAL;
  if (!cJSON_IsObject(spec))
    return hp_err_set(err, HP_EINVAL, "params.spec: expected an object, got %s",
                      hp_json_type_name(spec));
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
  hp_study_t *existing = cJSON_IsString(name) ? hp_sched_find(d, name) : NULL;
  if (existing) {
    if (!load)
      return hp_err_set(err, HP_EEXIST,
                        "a study named '%s' exists (delete it, choose another name, or pass "
                        "load_if_exists)",
                        existing->name);
    int rc = hp_sched_summary(existing, result, err);
    if (rc < 0) return rc;
    cJSON_AddBoolToObject(*result, "created", false);
    return 0;
  }
  hp_study_spec_t *sp = NULL;
  /* The daemon's --executor is the default of a new study with an
   * objective: written into its spec, so the study keeps it. */
  cJSON *with_default = NULL;
  if (d->default_executor && cJSON_GetObjectItemCaseSensitive(spec, "objective") &&
      !cJSON_GetObjectItemCaseSensitive(spec, "executor")) {
    with_default = cJSON_Duplicate(spec, true);
    cJSON *ex = cJSON_Duplicate(d->default_executor, true);
    if (with_default == NULL || ex == NULL ||
        !cJSON_AddItemToObject(with_default, "executor", ex)) {
      cJSON_Delete(with_default);
      cJSON_Delete(ex);
      return hp_err_set(err, HP_ENOMEM, "out of memory");
    }
    spec = with_default;
  }
  int rc = hp_study_spec_parse(spec, &sp, err);
  cJSON_Delete(with_default);
  if (rc == 0) rc = hp_study_spec_check_create(sp, err);
  if (rc < 0) {
    hp_study_spec_free(sp);
    return rc == HP_EINVAL ? (err->code = HP_ESPEC) : rc; /* the spec is at fault */
  }
  hp_study_t *created = NULL;
  rc = hp_sched_create(d, sp, &created, err); /* takes sp */
  if (rc < 0) {
    return rc == HP_EINVAL ? (err->code = HP_ESPEC) : rc;
  }
  if ((rc = hp_sched_summary(created, result, err)) < 0) return rc;
  cJSON_AddBoolToObject(*result, "created", true);
  return 0;
}

static int m_study_list(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                        cJSON **result, hp_err_t *err) {
  (void)c, (void)st, (void)params;
  cJSON *r = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(r, "studies");
  if (arr == NULL) {
    cJSON_Delete(r);
    return oom(err);
  }
  int rc = hp_sched_summaries(d, arr, err);
  if (rc < 0) {
    cJSON_Delete(r);
    return rc;
  }
  *result = r;
  return 0;
}

static int m_study_get(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                       cJSON **result, hp_err_t *err) {
  (void)d, (void)c, (void)params;
  int rc = hp_sched_summary(st, result, err);
  if (rc < 0) return rc;
  if (st->spec) cJSON_AddItemToObject(*result, "spec", cJSON_Duplicate(st->spec->json, true));
  else cJSON_AddNullToObject(*result, "spec");
  return 0;
}

static int m_study_stop(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                        cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  bool kill = false;
  if (hp_json_get_bool(params, "kill", false, &kill, "params", err) < 0) return HP_EINVAL;
  if (st->spec == NULL)
    return hp_err_set(err, HP_ESTATE, "study '%s' has no hpsearch spec", st->name);
  int rc = hp_sched_stop(st, kill, err);
  if (rc < 0) return rc;
  return hp_sched_summary(st, result, err);
}

static int m_study_resume(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                          cJSON **result, hp_err_t *err) {
  (void)d, (void)c, (void)params;
  if (st->spec == NULL)
    return hp_err_set(err, HP_ESTATE, "study '%s' has no hpsearch spec", st->name);
  int rc = hp_sched_resume(st, err);
  if (rc < 0) return rc;
  return hp_sched_summary(st, result, err);
}

static int m_study_delete(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                          cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  bool force = false;
  if (hp_json_get_bool(params, "force", false, &force, "params", err) < 0) return HP_EINVAL;
  /* Running trials are work in progress (a worker's, or an ask/tell
   * client's): deleting them takes an explicit force, for every client. */
  int64_t running = st->n_state[HP_STORE_RUNNING];
  if (running > 0 && !force)
    return hp_err_set(err, HP_ESTATE,
                      "study '%s' has %lld running trial%s; stop it first (study.stop with "
                      "kill) or delete it with \"force\": true",
                      st->name, (long long)running, hp_plural(running));
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddStringToObject(r, "deleted", st->name);
  cJSON_AddNumberToObject(r, "study_id", (double)st->id);
  int rc = hp_sched_delete(st, err);
  if (rc < 0) {
    cJSON_Delete(r);
    return rc;
  }
  *result = r;
  return 0;
}

static void send_reply(hp_conn_t *c, const cJSON *id, cJSON *result, int code, const char *msg);

/* fANOVA (a forest: 1.3 s of CPU at 10,000 trials) ranks on libuv's thread
 * pool: the loop reads the snapshot it needs (the complete trials'
 * parameters and values), the pool ranks it, and the loop sends the reply
 * when it is done, meanwhile serving everything else. The connection is
 * found again by its id: it may have gone. */
typedef struct imp_work {
  uv_work_t req;
  hp_daemon_t *d;
  uint64_t conn;
  cJSON *id;
  hp_view_imp_job_t *job;
} imp_work_t;

static void imp_work_run(uv_work_t *req) { hp_view_importance_run(((imp_work_t *)req)->job); }

static void imp_work_done(uv_work_t *req, int status) {
  imp_work_t *w = (imp_work_t *)req;
  hp_daemon_t *d = w->d;
  d->n_deferred--;
  hp_conn_t *c = d->conns;
  while (c && c->id != w->conn) c = c->next;
  cJSON *result = NULL;
  hp_err_t err = {0};
  int rc = status < 0 ? hp_err_set(&err, HP_ESHUTDOWN, "the daemon is shutting down")
                      : hp_view_importance_json(w->job, &result, &err);
  if (status < 0) hp_view_importance_free(w->job);
  if (c != NULL && !c->closing) {
    send_reply(c, w->id, result, rc < 0 ? rc : 0, err.msg[0] ? err.msg : hp_strerror(rc));
    hp_daemon_kick(d); /* the reply goes out this loop turn */
  } else {
    cJSON_Delete(result);
  }
  cJSON_Delete(w->id);
  free(w);
}

/* The study's parameter importance (view/importance.c), read inside the
 * open batch like trial.list; fANOVA's ranking off the loop (above). */
static int m_study_importance(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                              cJSON **result, hp_err_t *err) {
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  const char *ev = NULL;
  if (hp_json_get_string(params, "evaluator", false, &ev, "params", err) < 0) return HP_EINVAL;
  if (ev != NULL && hp_imp_evaluator_parse(ev, &o.evaluator, NULL) < 0)
    return hp_err_set(err, HP_EINVAL,
                      "params.evaluator: expected \"ped-anova\" or \"fanova\", got \"%s\"", ev);
  if (o.evaluator != HP_IMP_FANOVA || cur_id == NULL)
    return hp_view_importance(d->store, st->id, &o, result, err);
  imp_work_t *w = calloc(1, sizeof *w);
  if (w == NULL || (w->id = cJSON_Duplicate(cur_id, false)) == NULL) {
    free(w);
    return oom(err);
  }
  int rc = hp_view_importance_prepare(d->store, st->id, &o, &w->job, err);
  if (rc == 0) {
    w->d = d;
    w->conn = c->id;
    w->req.data = w;
    int uv = uv_queue_work(d->loop, &w->req, imp_work_run, imp_work_done);
    if (uv == 0) {
      d->n_deferred++;
      return RPC_DEFERRED;
    }
    hp_view_importance_free(w->job);
    rc = hp_err_set(err, HP_ENOMEM, "cannot queue the ranking: %s", uv_strerror(uv));
  }
  cJSON_Delete(w->id);
  free(w);
  return rc;
}

/* Tuning advice (view/advise.c), read inside the open batch too. */
static int m_study_advise(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                          cJSON **result, hp_err_t *err) {
  (void)c, (void)params;
  return hp_view_advise(d->store, st->id, result, err);
}

/* ---- trial methods --------------------------------------------------------------- */

static int m_trial_list(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                        cJSON **result, hp_err_t *err) {
  (void)c;
  bool want[HP_STORE_NSTATES] = {true, true, true, true, true};
  const cJSON *states = cJSON_GetObjectItemCaseSensitive(params, "states");
  if (states) {
    if (!cJSON_IsArray(states))
      return hp_err_set(err, HP_EINVAL, "params.states: expected an array of state names");
    memset(want, 0, sizeof want);
    int i = 0;
    for (const cJSON *s = states->child; s; s = s->next, i++) {
      int k = cJSON_IsString(s) ? hp_store_state_parse(s->valuestring) : -1;
      if (k < 0)
        return hp_err_set(err, HP_EINVAL,
                          "params.states[%d]: expected one of WAITING, RUNNING, COMPLETE, "
                          "PRUNED, FAIL",
                          i);
      want[k] = true;
    }
  }
  long long offset = 0, limit = 0;
  bool inter = false;
  if (hp_json_get_int(params, "offset", false, 0, INT64_MAX / 2, &offset, "params", err) < 0 ||
      hp_json_get_int(params, "limit", false, 0, INT64_MAX / 2, &limit, "params", err) < 0 ||
      hp_json_get_bool(params, "intermediate", false, &inter, "params", err) < 0)
    return HP_EINVAL;
  /* The store is read inside the open batch, so uncommitted trials of this
   * iteration are included. The result is the view's text, embedded raw: a
   * tree per trial costs ten times more. */
  hp_view_t *v = hp_view_new();
  if (v == NULL) return oom(err);
  char *text = NULL;
  int rc = hp_view_trial_list(v, d->store, st->id, states ? want : NULL, offset, limit, inter,
                              &text, err);
  hp_view_free(v);
  if (rc < 0) return rc;
  *result = cJSON_CreateRaw(text);
  free(text);
  return *result ? 0 : oom(err);
}

static int m_trial_get(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                       cJSON **result, hp_err_t *err) {
  (void)c;
  long long number = 0;
  int rc = hp_json_get_int(params, "trial", true, 0, INT64_MAX / 2, &number, "params", err);
  if (rc < 0) return rc;
  hp_view_t *v = hp_view_new();
  if (v == NULL) return oom(err);
  /* By its id when the daemon knows it (no scan of the study). */
  int64_t tid = hp_sched_trial_id(st, number);
  hp_store_trial_t t = {0};
  if (tid > 0 && hp_store_trial_get(d->store, tid, &t, NULL) == 0 && t.study_id == st->id &&
      t.number == number) {
    *result = hp_view_trial(v, &t, true);
    rc = *result ? 0 : oom(err);
  } else {
    rc = hp_view_trial_get(v, d->store, st->id, number, result, err);
    if (rc == HP_ENOTFOUND)
      hp_err_set(err, rc, "study '%s' has no trial %lld", st->name, number);
  }
  hp_store_trial_clear(&t);
  hp_view_free(v);
  return rc;
}

static int m_trial_enqueue(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                           cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, "params");
  if (!cJSON_IsObject(p))
    return hp_err_set(err, HP_EINVAL, "params.params: expected an object of parameter "
                                            "values, got %s",
                      hp_json_type_name(p));
  int64_t number = 0, tid = 0;
  int rc = hp_sched_enqueue(st, p, &number, &tid, err);
  if (rc < 0) return rc;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddNumberToObject(r, "trial", (double)number);
  cJSON_AddNumberToObject(r, "trial_id", (double)tid);
  cJSON_AddStringToObject(r, "state", "WAITING");
  *result = r;
  return 0;
}

/* An asked trial as trial.ask answers it (NULL: out of memory). */
static cJSON *asked_json(hp_study_t *st, const hp_run_t *run) {
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return NULL;
  cJSON_AddNumberToObject(r, "trial", (double)run->number);
  cJSON_AddNumberToObject(r, "trial_id", (double)run->trial_id);
  cJSON_AddStringToObject(r, "state", "RUNNING");
  cJSON_AddItemToObject(r, "params", hp_sched_params_json(st, run->params));
  return r;
}

static int m_trial_ask(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                       cJSON **result, hp_err_t *err) {
  (void)d, (void)c, (void)params;
  hp_run_t *run = NULL;
  int rc = hp_sched_ask(st, &run, err);
  if (rc < 0) return rc;
  if ((*result = asked_json(st, run)) == NULL) return oom(err);
  return 0;
}

static int m_trial_report(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                          cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  hp_run_t *run = NULL;
  int rc = running_trial(st, params, &run, err);
  if (rc < 0) return rc;
  long long step = 0;
  double value = 0;
  if (hp_json_get_int(params, "step", true, 0, INT64_MAX / 2, &step, "params", err) < 0)
    return HP_EINVAL;
  if ((rc = get_value(params, "value", true, &value, err)) < 0) return rc;
  bool prune = false, ignored = false;
  if ((rc = hp_sched_report(run, step, value, &prune, &ignored, err)) < 0) return rc;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddBoolToObject(r, "prune", prune);
  if (ignored) cJSON_AddTrueToObject(r, "ignored");
  *result = r;
  return 0;
}

static int m_trial_tell(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                        cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  hp_run_t *run = NULL;
  int rc = running_trial(st, params, &run, err);
  if (rc < 0) return rc;
  const char *state_name = "COMPLETE", *reason = NULL;
  bool ask = false;
  if (hp_json_get_bool(params, "ask", false, &ask, "params", err) < 0 ||
      hp_json_get_string(params, "state", false, &state_name, "params", err) < 0 ||
      hp_json_get_string(params, "reason", false, &reason, "params", err) < 0)
    return HP_EINVAL;
  int state = hp_store_state_parse(state_name);
  if (state != HP_STORE_COMPLETE && state != HP_STORE_PRUNED && state != HP_STORE_FAIL)
    return hp_err_set(err, HP_EINVAL,
                      "params.state: expected \"COMPLETE\", \"PRUNED\" or \"FAIL\", got \"%s\"",
                      state_name);
  int m = st->spec ? st->spec->n_objectives : 1;
  double vals[HP_STORE_MAX_OBJECTIVES], cons[HP_SAMPLER_MAX_CONSTRAINTS];
  int n_vals = -1, n_cons = -1;
  if ((rc = get_numbers(params, "values", HP_STORE_MAX_OBJECTIVES, vals, &n_vals, err)) < 0 ||
      (rc = get_numbers(params, "constraints", HP_SAMPLER_MAX_CONSTRAINTS, cons, &n_cons, err)) < 0)
    return rc;
  bool has_value = cJSON_GetObjectItemCaseSensitive(params, "value") != NULL;
  if (has_value && n_vals >= 0)
    return hp_err_set(err, HP_EINVAL, "params.values: give either \"value\" or \"values\"");
  if (n_vals < 0 && m > 1 && state == HP_STORE_COMPLETE)
    return hp_err_set(err, HP_EINVAL,
                      "params.values: the study has %d objectives: give \"values\": [...] with "
                      "one value per objective", m);
  if (n_vals >= 0 && state == HP_STORE_COMPLETE && n_vals != m)
    return hp_err_set(err, HP_EINVAL, "params.values: %d value%s for a study with %d objective%s",
                      n_vals, n_vals == 1 ? "" : "s", m, m == 1 ? "" : "s");
  if (n_vals < 0) {
    if ((rc = get_value(params, "value", state == HP_STORE_COMPLETE, &vals[0], err)) < 0) return rc;
    n_vals = has_value ? 1 : 0;
  }
  if (state == HP_STORE_FAIL && n_vals > 0)
    return hp_err_set(err, HP_EINVAL, "params.value: a FAIL trial has no value");
  if (state == HP_STORE_PRUNED && n_vals > 1)
    return hp_err_set(err, HP_EINVAL, "params.values: a PRUNED trial has at most one value");
  for (int k = 0; k < n_cons; k++)
    if (!isfinite(cons[k]))
      return hp_err_set(err, HP_EINVAL, "params.constraints[%d]: %s is not allowed (a finite "
                        "number, <= 0 when satisfied)", k, isnan(cons[k]) ? "NaN" : "infinity");
  if (state == HP_STORE_FAIL && n_cons > 0)
    return hp_err_set(err, HP_EINVAL, "params.constraints: a FAIL trial has no constraints");
  int64_t number = run->number;
  bool nan = false;
  for (int k = 0; k < n_vals; k++) nan = nan || isnan(vals[k]);
  if (state == HP_STORE_COMPLETE && nan && reason == NULL) reason = "objective value is NaN";
  /* With "ask", the next trial comes in the same reply, asked after the
   * sampler has seen this end. On PostgreSQL, when the batch has written
   * nothing before, the end commits with the next trial's claim in one
   * round trip (hp_store_claim_join); the reply still leaves after it. */
  if (ask && (rc = hp_daemon_batch(d, err)) < 0) return rc;
  if (ask) hp_store_claim_join(d->store, true);
  rc = hp_sched_finish_values(run, (hp_store_state_t)state, vals, n_vals, cons,
                              n_cons > 0 ? n_cons : 0, reason, err);
  cJSON *r = rc < 0 ? NULL : cJSON_CreateObject();
  if (r == NULL) {
    if (ask) hp_store_claim_join(d->store, false); /* no claim follows */
    return rc < 0 ? rc : oom(err);
  }
  cJSON_AddNumberToObject(r, "trial", (double)number);
  cJSON_AddStringToObject(r, "state", state == HP_STORE_COMPLETE && nan
                                          ? "FAIL"
                                          : hp_store_state_name(state));
  if (ask) {
    /* No next trial (the study is exhausted, finished or stopped, the
     * daemon shuts down ...) is not an error of the tell: "next" is null
     * and "next_error" says why, as trial.ask's error would. */
    hp_run_t *next = NULL;
    hp_err_t aerr = {0};
    int arc = hp_sched_ask(st, &next, &aerr);
    hp_store_claim_join(d->store, false);
    cJSON *nj = arc == 0 ? asked_json(st, next) : NULL;
    if (arc == 0 && nj == NULL) {
      cJSON_Delete(r);
      return oom(err);
    }
    if (arc == 0) {
      cJSON_AddItemToObject(r, "next", nj);
    } else {
      cJSON_AddNullToObject(r, "next");
      cJSON *e = cJSON_AddObjectToObject(r, "next_error");
      int wire = hp_rpc_wire_code(arc);
      if (e) {
        cJSON_AddNumberToObject(e, "code", wire != 0 ? wire : HP_RPC_E_INTERNAL);
        cJSON_AddStringToObject(e, "message", aerr.msg[0] ? aerr.msg : hp_strerror(arc));
      }
    }
  }
  *result = r;
  return 0;
}

static int m_trial_heartbeat(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                             cJSON **result, hp_err_t *err) {
  (void)d, (void)c;
  hp_run_t *run = NULL;
  int rc = running_trial(st, params, &run, err);
  if (rc < 0) return rc;
  if ((rc = hp_sched_beat(run, err)) < 0) return rc;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddNumberToObject(r, "trial", (double)run->number);
  cJSON_AddStringToObject(r, "state", "RUNNING");
  *result = r;
  return 0;
}

/* ---- daemon methods ----------------------------------------------------------------- */

static int m_daemon_status(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                           cJSON **result, hp_err_t *err) {
  (void)c, (void)st, (void)params;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddNumberToObject(r, "pid", (double)getpid());
  cJSON_AddStringToObject(r, "version", HP_VERSION);
  cJSON_AddNumberToObject(r, "uid", (double)getuid());
  cJSON_AddStringToObject(r, "db", d->db_path);
  cJSON_AddStringToObject(r, "socket", d->socket_path);
  cJSON_AddNumberToObject(r, "jobs", d->jobs);
  cJSON_AddNumberToObject(r, "running", d->n_workers);
  cJSON_AddNumberToObject(r, "studies", d->n_studies);
  cJSON_AddNumberToObject(r, "connections", d->n_conns);
  cJSON_AddNumberToObject(r, "requests", (double)d->n_requests);
  cJSON_AddNumberToObject(r, "uptime", hp_now_mono() - d->t_boot);
  cJSON_AddBoolToObject(r, "shutting_down", d->shutting_down);
  *result = r;
  return 0;
}

static int m_daemon_shutdown(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                             cJSON **result, hp_err_t *err) {
  (void)c, (void)st, (void)params;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddBoolToObject(r, "shutting_down", true);
  *result = r;
  hp_daemon_shutdown(d, "daemon.shutdown request");
  return 0;
}

static int m_events_subscribe(hp_daemon_t *d, hp_conn_t *c, hp_study_t *st, const cJSON *params,
                              cJSON **result, hp_err_t *err) {
  (void)st;
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(params, "study");
  c->sub_study = -1;
  if (ref != NULL) {
    if (!cJSON_IsString(ref) && !cJSON_IsNumber(ref))
      return hp_err_set(err, HP_EINVAL, "params.study: expected a name or an id, got %s",
                        hp_json_type_name(ref));
    hp_study_t *s = hp_sched_find(d, ref);
    if (s == NULL) return hp_err_set(err, HP_ENOSTUDY, "no study %s%s%s",
                                     cJSON_IsString(ref) ? "'" : "",
                                     cJSON_IsString(ref) ? ref->valuestring : "with that id",
                                     cJSON_IsString(ref) ? "'" : "");
    c->sub_study = s->id;
  }
  if (!c->subscribed) d->n_subscribers++;
  c->subscribed = true;
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return oom(err);
  cJSON_AddBoolToObject(r, "subscribed", true);
  *result = r;
  return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

static const char *const K_NONE[] = {NULL};
static const char *const K_STUDY[] = {"study", NULL};
static const char *const K_CREATE[] = {"spec", "load_if_exists", NULL};
static const char *const K_STOP[] = {"study", "kill", NULL};
static const char *const K_DELETE[] = {"study", "force", NULL};
static const char *const K_LIST[] = {"study", "states", "offset", "limit", "intermediate", NULL};
static const char *const K_TRIAL[] = {"study", "trial", NULL};
static const char *const K_IMPORTANCE[] = {"study", "evaluator", NULL};
static const char *const K_ENQUEUE[] = {"study", "params", NULL};
static const char *const K_REPORT[] = {"study", "trial", "step", "value", NULL};
static const char *const K_TELL[] = {"study",  "trial",       "state",  "value",
                                     "values", "constraints", "reason", "ask", NULL};

static const rpc_method_t METHODS[] = {
    {HP_RPC_TRIAL_ASK, m_trial_ask, K_STUDY, RPC_STUDY | RPC_WRITE},
    {HP_RPC_TRIAL_TELL, m_trial_tell, K_TELL, RPC_STUDY},
    {HP_RPC_TRIAL_REPORT, m_trial_report, K_REPORT, RPC_STUDY},
    {HP_RPC_TRIAL_HEARTBEAT, m_trial_heartbeat, K_TRIAL, RPC_STUDY},
    {HP_RPC_STUDY_CREATE, m_study_create, K_CREATE, RPC_WRITE},
    {HP_RPC_STUDY_LIST, m_study_list, K_NONE, 0},
    {HP_RPC_STUDY_GET, m_study_get, K_STUDY, RPC_STUDY},
    {HP_RPC_STUDY_STOP, m_study_stop, K_STOP, RPC_STUDY},
    {HP_RPC_STUDY_RESUME, m_study_resume, K_STUDY, RPC_STUDY | RPC_WRITE},
    {HP_RPC_STUDY_DELETE, m_study_delete, K_DELETE, RPC_STUDY | RPC_WRITE},
    {HP_RPC_STUDY_IMPORTANCE, m_study_importance, K_IMPORTANCE, RPC_STUDY},
    {HP_RPC_STUDY_ADVISE, m_study_advise, K_STUDY, RPC_STUDY},
    {HP_RPC_TRIAL_LIST, m_trial_list, K_LIST, RPC_STUDY},
    {HP_RPC_TRIAL_GET, m_trial_get, K_TRIAL, RPC_STUDY},
    {HP_RPC_TRIAL_ENQUEUE, m_trial_enqueue, K_ENQUEUE, RPC_STUDY | RPC_WRITE},
    {HP_RPC_DAEMON_STATUS, m_daemon_status, K_NONE, 0},
    {HP_RPC_DAEMON_SHUTDOWN, m_daemon_shutdown, K_NONE, 0},
    {HP_RPC_EVENTS_SUBSCRIBE, m_events_subscribe, K_STUDY, 0},
};
#define N_METHODS (sizeof METHODS / sizeof METHODS[0])

/* ---- dispatch ------------------------------------------------------------------------- */

/* The RPC edge: code is 0 or an HP_E* code, mapped here (and only here) to
 * the protocol's error code by the one table of hp_rpc_wire_code. */
static void send_reply(hp_conn_t *c, const cJSON *id, cJSON *result, int code, const char *msg) {
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) {
    cJSON_Delete(result);
    return;
  }
  cJSON_AddStringToObject(r, "jsonrpc", "2.0");
  cJSON_AddItemToObject(r, "id", id ? cJSON_Duplicate(id, false) : cJSON_CreateNull());
  if (code == 0) {
    cJSON_AddItemToObject(r, "result", result);
  } else {
    cJSON *e = cJSON_AddObjectToObject(r, "error");
    int wire = hp_rpc_wire_code(code);
    cJSON_AddNumberToObject(e, "code", wire != 0 ? wire : HP_RPC_E_INTERNAL);
    cJSON_AddStringToObject(e, "message", msg);
  }
  hp_conn_send_json(c, r);
  cJSON_Delete(r);
}

void hp_rpc_send_error(hp_conn_t *c, const cJSON *id, int code, const char *msg) {
  send_reply(c, id, NULL, code, msg);
}

void hp_rpc_handle_line(hp_daemon_t *d, hp_conn_t *c, const char *line, size_t len) {
  hp_err_t err = {0};
  d->n_requests++;
  cJSON *req = NULL;
  hp_json_flaw_t flaw;
  int prc = hp_json_parse_flawed(line, len, "request", &req, &flaw, &err);
  if (prc < 0) {
    /* Not JSON, not UTF-8, or more than one value on the line. */
    char emsg[HP_ERR_MSG_MAX + 16];
    snprintf(emsg, sizeof emsg, "parse error: %s", err.msg);
    hp_rpc_send_error(c, NULL, prc, emsg);
    return;
  }
  /* A member given twice is ambiguous (lookups would see the first one):
   * refused before the id is trusted, so the reply's id is null. */
  static const char *const ENVELOPE[] = {"jsonrpc", "id", "method", "params"};
  bool seen[4] = {false, false, false, false};
  for (const cJSON *k = cJSON_IsObject(req) ? req->child : NULL; k; k = k->next) {
    for (int i = 0; i < 4; i++) {
      if (strcmp(k->string, ENVELOPE[i]) != 0) continue;
      if (seen[i]) {
        char emsg[96];
        snprintf(emsg, sizeof emsg, "invalid request: member \"%s\" appears twice", ENVELOPE[i]);
        hp_rpc_send_error(c, NULL, HP_EREQUEST, emsg);
        cJSON_Delete(req);
        return;
      }
      seen[i] = true;
    }
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
  int code = 0;
  char msg[HP_ERR_MSG_MAX + 64];
  cJSON *result = NULL;
  bool notify = false;
  if (!cJSON_IsObject(req)) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: expected a JSON object, got %s",
             hp_json_type_name(req));
    id = NULL;
    goto reply;
  }
  if (id != NULL && !cJSON_IsNumber(id) && !cJSON_IsString(id) && !cJSON_IsNull(id)) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: id must be a number, a string or null, got %s",
             hp_json_type_name(id));
    id = NULL;
    goto reply;
  }
  /* A string with \u0000 or a number beyond a double (the tree holds them
   * cut or infinite): anywhere but in params or method, even the id cannot
   * be trusted (a key "id\u0000x" reads as "id"). */
  bool flaw_in_params = strncmp(flaw.path, "params", 6) == 0 &&
                        (flaw.path[6] == '\0' || flaw.path[6] == '.' || flaw.path[6] == '[');
  if (flaw.err.code != 0 && !flaw_in_params && strcmp(flaw.path, "method") != 0) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: %s", flaw.err.msg);
    id = NULL;
    goto reply;
  }
  /* Ids are echoed as they were sent: a string, or an integer that a double
   * holds exactly. Beyond 2^53 the text would come back changed. */
  if (cJSON_IsNumber(id) &&
      (id->valuedouble != floor(id->valuedouble) || fabs(id->valuedouble) > HP_RPC_ID_MAX)) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg,
             "invalid request: a numeric id must be an integer of magnitude at most 2^53-1 "
             "(%.0f); use a string id for anything else",
             HP_RPC_ID_MAX);
    id = NULL;
    goto reply;
  }
  notify = id == NULL;
  if (flaw.err.code != 0) {
    code = flaw_in_params ? HP_EINVAL : HP_EREQUEST;
    snprintf(msg, sizeof msg, "%s%s", flaw_in_params ? "" : "invalid request: ", flaw.err.msg);
    goto reply;
  }
  if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: \"jsonrpc\" must be \"2.0\"");
    goto reply;
  }
  if (!cJSON_IsString(method)) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: \"method\" must be a string, got %s",
             hp_json_type_name(method));
    goto reply;
  }
  if (params != NULL && !cJSON_IsObject(params)) {
    code = HP_EREQUEST;
    snprintf(msg, sizeof msg, "invalid request: \"params\" must be an object, got %s",
             hp_json_type_name(params));
    goto reply;
  }
  for (const cJSON *k = req->child; k; k = k->next) {
    if (strcmp(k->string, "jsonrpc") && strcmp(k->string, "id") && strcmp(k->string, "method") &&
        strcmp(k->string, "params")) {
      code = HP_EREQUEST;
      snprintf(msg, sizeof msg, "invalid request: unknown member \"%.*s\"",
               (int)hp_utf8_prefix(k->string, 64), k->string);
      goto reply;
    }
  }
  const rpc_method_t *m = NULL;
  for (size_t i = 0; i < N_METHODS; i++)
    if (strcmp(METHODS[i].name, method->valuestring) == 0) {
      m = &METHODS[i];
      break;
    }
  if (m == NULL) {
    code = HP_ENOMETHOD;
    snprintf(msg, sizeof msg, "method not found: \"%.*s\"",
             (int)hp_utf8_prefix(method->valuestring, 100), method->valuestring);
    goto reply;
  }
  cJSON *empty = NULL;
  if (params == NULL) params = empty = cJSON_CreateObject();
  /* Nested objects too (a spec's env, trial.enqueue's params): duplicates
   * anywhere in params are refused, naming where. */
  if (params != NULL && (hp_json_check_unique(params, "params", &err) < 0 ||
                         hp_json_check_keys(params, m->keys, "params", &err) < 0)) {
    code = err.code;
    snprintf(msg, sizeof msg, "%s", err.msg);
    cJSON_Delete(empty);
    goto reply;
  }
  if ((m->flags & RPC_WRITE) && d->shutting_down) {
    code = HP_ESHUTDOWN;
    snprintf(msg, sizeof msg, "the daemon is shutting down");
    cJSON_Delete(empty);
    goto reply;
  }
  /* What other programs (Optuna) committed is seen before the request. */
  hp_sched_sync(d);
  hp_study_t *st = NULL;
  if (m->flags & RPC_STUDY) {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(params, "study");
    if (ref == NULL || (!cJSON_IsString(ref) && !cJSON_IsNumber(ref))) {
      code = HP_EINVAL;
      snprintf(msg, sizeof msg, "params.study: %s", ref == NULL ? "missing (a study name or id)"
                                                                : "expected a name or an id");
      cJSON_Delete(empty);
      goto reply;
    }
    st = hp_sched_find(d, ref);
    if (st == NULL) {
      code = HP_ENOSTUDY;
      if (cJSON_IsString(ref))
        snprintf(msg, sizeof msg, "unknown study '%.*s'", (int)hp_utf8_prefix(ref->valuestring, 200),
                 ref->valuestring);
      else snprintf(msg, sizeof msg, "unknown study id %.0f", ref->valuedouble);
      cJSON_Delete(empty);
      goto reply;
    }
  }
  cur_id = notify ? NULL : id;
  int rc = m->fn(d, c, st, params, &result, &err);
  cur_id = NULL;
  cJSON_Delete(empty);
  if (rc == RPC_DEFERRED) { /* answered later, outside this batch */
    cJSON_Delete(req);
    return;
  }
  if (rc < 0) {
    code = rc;
    snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : hp_strerror(code));
    cJSON_Delete(result);
    result = NULL;
  }
reply:
  if (id != NULL && !notify) {
    /* Remembered until the batch commits: a failed commit answers it again. */
    if (c->batch_ids == NULL) c->batch_ids = cJSON_CreateArray();
    if (c->batch_ids) cJSON_AddItemToArray(c->batch_ids, cJSON_Duplicate(id, false));
  }
  if (!notify || code == HP_EREQUEST) send_reply(c, id, result, code, msg);
  else {
    if (code != 0) hp_log("connection %llu: notification failed: %s", (unsigned long long)c->id, msg);
    cJSON_Delete(result);
  }
  cJSON_Delete(req);
  /* A claim that committed early with all the batch wrote (trial.ask, a
   * tell with "ask"): this reply and those before it are final. */
  hp_daemon_batch_settled(d);
}

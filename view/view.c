/* The study and trial JSON shapes of docs/protocol.md, built from store
 * records for the daemon and for `--db` readers alike (include/hpsearch/
 * view.h): one decoder of stored parameters, one trial writer, one study
 * summary, one derivation of a study's state from its database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/json.h"
#include "hpsearch/mo.h"
#include "hpsearch/num.h"
#include "hpsearch/space.h"
#include "hpsearch/utf8.h"
#include "hpsearch/view.h"
#include "view_int.h"

/* Distributions cached by their distribution_json text. */
#define DIST_CACHE 64

struct hp_view {
  int n;                   /* cache entries used */
  char *json[DIST_CACHE];  /* owned key text */
  hp_dist_t dist[DIST_CACHE];
};

hp_view_t *hp_view_new(void) { return calloc(1, sizeof(hp_view_t)); }

void hp_view_free(hp_view_t *v) {
  if (v == NULL) return;
  for (int i = 0; i < v->n; i++) {
    free(v->json[i]);
    hp_dist_free(&v->dist[i]);
  }
  free(v);
}

/* The parsed distribution of a distribution_json text, NULL if unreadable. */
const hp_dist_t *hp_view_dist_(hp_view_t *v, const char *json) {
  if (json == NULL) return NULL;
  for (int i = 0; i < v->n; i++)
    if (strcmp(v->json[i], json) == 0) return &v->dist[i];
  hp_dist_t d;
  if (hp_dist_from_optuna_json(json, strlen(json), &d, NULL) < 0) return NULL;
  if (v->n == DIST_CACHE) { /* full: evict the oldest */
    free(v->json[0]);
    hp_dist_free(&v->dist[0]);
    memmove(v->json, v->json + 1, sizeof v->json[0] * (DIST_CACHE - 1));
    memmove(v->dist, v->dist + 1, sizeof v->dist[0] * (DIST_CACHE - 1));
    v->n--;
  }
  v->json[v->n] = strdup(json);
  if (v->json[v->n] == NULL) {
    hp_dist_free(&d);
    return NULL;
  }
  v->dist[v->n] = d;
  return &v->dist[v->n++];
}

/* External value of one stored parameter: a categorical's choice, else the
 * number (ints are integral doubles, written as integers). A parameter
 * whose distribution cannot be read shows its internal value. */
static void write_param_value(hp_view_t *v, hp_sbuf_t *b, const hp_store_param_out_t *p) {
  const hp_dist_t *d = hp_view_dist_(v, p->distribution_json);
  /* range first: converting a double beyond int is undefined */
  if (d != NULL && d->kind == HP_DIST_CAT && p->value >= 0 && p->value < d->n_choices &&
      p->value == floor(p->value))
    hp_sbuf_json(b, cJSON_GetArrayItem(d->choices, (int)p->value));
  else
    hp_sbuf_num(b, p->value);
}

static void write_params(hp_view_t *v, hp_sbuf_t *b, const hp_store_trial_t *t) {
  hp_sbuf_puts(b, "{");
  for (size_t j = 0; j < t->n_params; j++) {
    if (j) hp_sbuf_puts(b, ",");
    hp_sbuf_str(b, t->params[j].name);
    hp_sbuf_puts(b, ":");
    write_param_value(v, b, &t->params[j]);
  }
  hp_sbuf_puts(b, "}");
}

/* Microseconds of a "YYYY-MM-DD HH:MM:SS[.ffffff]" text on a naive
 * (time-zone free) scale: differences are exact durations (off by an hour
 * across a DST change). No mktime: it reads the time zone per call. False
 * if malformed. */
bool hp_view_naive_micros_(const char *s, int64_t *out) {
  if (s == NULL || strlen(s) < 19) return false;
  for (int i = 0; i < 19; i++) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    bool sep = i == 4 || i == 7 || i == 10 || i == 13 || i == 16;
    if (digit == sep) return false;
  }
#define DIG2(i) ((s[i] - '0') * 10 + (s[i + 1] - '0'))
  int64_t y = DIG2(0) * 100 + DIG2(2), m = DIG2(5), dd = DIG2(8);
  int64_t hh = DIG2(11), mi = DIG2(14), ss = DIG2(17);
#undef DIG2
  int64_t us = 0;
  if (s[19] == '.') {
    int k = 0;
    for (const char *p = s + 20; *p >= '0' && *p <= '9'; p++, k++)
      if (k < 6) us = us * 10 + (*p - '0');
    for (; k < 6; k++) us *= 10;
  }
  /* days from civil (proleptic Gregorian), Howard Hinnant's formula */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  *out = ((days * 86400 + hh * 3600 + mi * 60 + ss) * 1000000) + us;
  return true;
}

char *hp_view_trial_reason(const hp_store_trial_t *t) {
  cJSON *attrs = NULL;
  const cJSON *r = NULL;
  if (t->system_attrs_json && strstr(t->system_attrs_json, "reason")) {
    hp_json_parse(t->system_attrs_json, strlen(t->system_attrs_json), "system attributes", &attrs,
                  NULL);
    r = cJSON_GetObjectItemCaseSensitive(attrs, HP_STORE_FAIL_REASON_KEY);
    if (!cJSON_IsString(r)) r = cJSON_GetObjectItemCaseSensitive(attrs, HP_STORE_ATTR_REASON);
  }
  char *s = cJSON_IsString(r) ? strdup(r->valuestring) : NULL;
  cJSON_Delete(attrs);
  return s;
}

/* The trial's reason: Optuna's fail_reason, else hpsearch's own. */
static void write_reason(hp_sbuf_t *b, const hp_store_trial_t *t) {
  char *r = hp_view_trial_reason(t);
  if (r) hp_sbuf_str(b, r);
  else hp_sbuf_puts(b, "null");
  free(r);
}

/* ,"curves":{...} of a trial that has them (HP_STORE_ATTR_CURVES). */
static void write_curves(hp_sbuf_t *b, const hp_store_trial_t *t) {
  if (t->system_attrs_json == NULL || strstr(t->system_attrs_json, HP_STORE_ATTR_CURVES) == NULL)
    return;
  cJSON *attrs = NULL;
  hp_json_parse(t->system_attrs_json, strlen(t->system_attrs_json), "system attributes", &attrs,
                NULL);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(attrs, HP_STORE_ATTR_CURVES);
  if (cJSON_IsObject(c)) {
    hp_sbuf_puts(b, ",\"curves\":");
    hp_sbuf_json(b, c);
  }
  cJSON_Delete(attrs);
}

/* The algorithm that proposed the trial (HP_STORE_ATTR_SAMPLER), or NULL.
 * Returns a pointer into *attrs, which the caller deletes. */
static const char *trial_sampler(const hp_store_trial_t *t, cJSON **attrs) {
  *attrs = NULL;
  if (t->system_attrs_json == NULL || strstr(t->system_attrs_json, HP_STORE_ATTR_SAMPLER) == NULL)
    return NULL;
  hp_json_parse(t->system_attrs_json, strlen(t->system_attrs_json), "system attributes", attrs,
                NULL);
  const cJSON *by = cJSON_GetObjectItemCaseSensitive(*attrs, HP_STORE_ATTR_SAMPLER);
  return cJSON_IsString(by) ? by->valuestring : NULL;
}

static void write_sampler(hp_sbuf_t *b, const hp_store_trial_t *t) {
  cJSON *attrs;
  const char *by = trial_sampler(t, &attrs);
  if (by) hp_sbuf_str(b, by);
  else hp_sbuf_puts(b, "null");
  cJSON_Delete(attrs);
}

static void write_datetime(hp_sbuf_t *b, const char *s) {
  /* null, not "", while unset (WAITING has no start, RUNNING no end) */
  if (s[0]) hp_sbuf_str(b, s);
  else hp_sbuf_puts(b, "null");
}

void hp_view_trial_write(hp_view_t *v, hp_sbuf_t *b, const hp_store_trial_t *t,
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
  if (t->n_values > 1) { /* several objectives */
    hp_sbuf_puts(b, ",\"values\":[");
    for (size_t k = 0; k < t->n_values; k++) {
      if (k) hp_sbuf_puts(b, ",");
      hp_sbuf_num(b, t->values[k]);
    }
    hp_sbuf_puts(b, "]");
  }
  double cons[64];
  int nc = hp_view_trial_constraints(t, cons, 64);
  if (nc > 0) {
    hp_sbuf_puts(b, ",\"constraints\":[");
    for (int k = 0; k < nc && k < 64; k++) {
      if (k) hp_sbuf_puts(b, ",");
      hp_sbuf_num(b, cons[k]);
    }
    hp_sbuf_puts(b, "]");
  }
  hp_sbuf_puts(b, ",\"params\":");
  write_params(v, b, t);
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
    write_curves(b, t);
  }
  hp_sbuf_puts(b, ",\"reason\":");
  write_reason(b, t);
  hp_sbuf_puts(b, ",\"sampler\":");
  write_sampler(b, t);
  hp_sbuf_puts(b, ",\"user_attrs\":");
  const char *ua = t->user_attrs_json ? t->user_attrs_json : "{}";
  size_t ua_len = strlen(ua);
  if (strstr(ua, "NaN") == NULL && strstr(ua, "Infinity") == NULL &&
      hp_utf8_check(ua, ua_len) == ua_len) {
    hp_sbuf_puts(b, ua); /* the store returns a JSON object text */
  } else {
    /* Python writes NaN/Infinity, which JSON lacks, and another program may
     * have stored bytes that are not UTF-8: drop what cannot be read. */
    cJSON *o = NULL;
    hp_json_parse(ua, ua_len, "user attributes", &o, NULL);
    if (o) hp_sbuf_json(b, o);
    else hp_sbuf_puts(b, "{}");
    cJSON_Delete(o);
  }
  hp_sbuf_puts(b, ",\"datetime_start\":");
  write_datetime(b, t->datetime_start);
  hp_sbuf_puts(b, ",\"datetime_complete\":");
  write_datetime(b, t->datetime_complete);
  /* Exact: whole microseconds subtracted, then one division (12.53, not
   * 12.530000000000001 from subtracting two large doubles). */
  hp_sbuf_puts(b, ",\"duration\":");
  int64_t a, z;
  if (hp_view_naive_micros_(t->datetime_start, &a) && hp_view_naive_micros_(t->datetime_complete, &z))
    hp_sbuf_num(b, (double)(z - a) / 1e6);
  else hp_sbuf_puts(b, "null");
  hp_sbuf_puts(b, "}");
}

int hp_view_trial_constraints(const hp_store_trial_t *t, double *out, int max) {
  const char *sys = t->system_attrs_json;
  if (sys == NULL || strstr(sys, "\"constraints") == NULL) return 0;
  cJSON *o = NULL;
  if (hp_json_parse(sys, strlen(sys), "system attributes", &o, NULL) < 0) return 0;
  int n = 0;
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "constraints");
  for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) {
    double x;
    if (hp_json_value(c, HP_NUM_LENIENT, &x, "constraint", NULL) < 0 || isnan(x)) continue;
    if (n < max) out[n] = x;
    n++;
  }
  /* cJSON keeps the stored key order; the store reads keys sorted. */
  for (const cJSON *c = o ? o->child : NULL; c; c = c->next) {
    double x;
    if (strncmp(c->string, "constraints:", 12) != 0 ||
        hp_json_value(c, HP_NUM_LENIENT, &x, "constraint", NULL) < 0 || isnan(x))
      continue;
    if (n < max) out[n] = x;
    n++;
  }
  cJSON_Delete(o);
  return n;
}

bool hp_view_trial_feasible(const hp_store_trial_t *t) {
  double c[64];
  int n = hp_view_trial_constraints(t, c, 64);
  for (int k = 0; k < n && k < 64; k++)
    if (c[k] > 0) return false;
  return true;
}

/* Parses what a writer produced; NULL if out of memory. */
static cJSON *sbuf_tree(hp_sbuf_t *b) {
  cJSON *o = NULL;
  if (!b->oom) hp_json_parse(b->p, b->len, "view", &o, NULL);
  free(b->p);
  return o;
}

cJSON *hp_view_trial(hp_view_t *v, const hp_store_trial_t *t, bool intermediate) {
  hp_sbuf_t b = {0};
  hp_view_trial_write(v, &b, t, intermediate);
  return sbuf_tree(&b);
}

cJSON *hp_view_trial_params(hp_view_t *v, const hp_store_trial_t *t) {
  hp_sbuf_t b = {0};
  write_params(v, &b, t);
  return sbuf_tree(&b);
}

int hp_view_trial_list(hp_view_t *v, hp_store_t *s, int64_t study_id, const bool *want,
                       int64_t offset, int64_t limit, bool intermediate, char **text,
                       hp_err_t *err) {
  *text = NULL;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  int rc;
  /* Numbers are 0..N-1 within a study: without a state filter, the trials
   * an offset skips are those numbered below it, and need not be read
   * (`status STUDY` shows the last ten of thousands). Checked against the
   * study's count: a study with gaps in its numbers is read whole. */
  bool skipped = false;
  if (want == NULL && offset > 0) {
    hp_store_study_info_t info;
    if ((rc = hp_store_study_get(s, study_id, &info, err)) < 0) return rc;
    int64_t count = info.n_trials;
    hp_store_study_info_clear(&info);
    if ((rc = hp_store_trials_list(s, study_id, offset, &trials, &n, err)) < 0) return rc;
    skipped = count == offset + (int64_t)n && (n == 0 || trials[0].number == offset);
    if (!skipped) {
      hp_store_trials_free(trials, n);
      trials = NULL;
      n = 0;
    }
  }
  if (!skipped && (rc = hp_store_trials_list(s, study_id, 0, &trials, &n, err)) < 0) return rc;
  hp_sbuf_t b = {0};
  hp_sbuf_puts(&b, "{\"trials\":[");
  int64_t total = skipped ? offset : 0, shown = 0;
  for (size_t i = 0; i < n; i++) {
    if (want != NULL && !want[trials[i].state]) continue;
    total++;
    if (total <= offset || (limit > 0 && total > offset + limit)) continue;
    if (shown++) hp_sbuf_puts(&b, ",");
    hp_view_trial_write(v, &b, &trials[i], intermediate);
  }
  hp_sbuf_puts(&b, "],\"total\":");
  hp_sbuf_int(&b, total);
  hp_sbuf_puts(&b, "}");
  hp_store_trials_free(trials, n);
  if (b.oom) {
    free(b.p);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  *text = b.p;
  return 0;
}

int hp_view_trial_get(hp_view_t *v, hp_store_t *s, int64_t study_id, int64_t number,
                      cJSON **out, hp_err_t *err) {
  *out = NULL;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  int rc = hp_store_trials_list(s, study_id, number, &trials, &n, err);
  if (rc < 0) return rc;
  if (n == 0 || trials[0].number != number)
    rc = hp_err_set(err, HP_ENOTFOUND, "the study has no trial %lld", (long long)number);
  else if ((*out = hp_view_trial(v, &trials[0], true)) == NULL)
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  hp_store_trials_free(trials, n);
  return rc;
}

/* ---- studies ------------------------------------------------------------- */

cJSON *hp_view_number(double x) { return cJSON_CreateNumber(x); }

/* A study system attribute's JSON value, NULL if absent or not JSON. */
static cJSON *study_attr(hp_store_t *s, int64_t study_id, const char *key) {
  char *text = NULL;
  if (hp_store_study_get_system_attr(s, study_id, key, &text, NULL) < 0) return NULL;
  cJSON *v = NULL;
  hp_json_parse(text, strlen(text), key, &v, NULL);
  free(text);
  return v;
}

cJSON *hp_view_stored_spec(hp_store_t *s, int64_t study_id) {
  cJSON *spec = study_attr(s, study_id, HP_STORE_ATTR_SPEC);
  if (cJSON_IsObject(spec)) return spec;
  cJSON_Delete(spec);
  return NULL;
}

/* Where a study's elapsed time starts: its stored creation time, else (a
 * study written by another program) its first trial's start; NAN if none. */
static double study_start(hp_store_t *s, const hp_store_study_info_t *info) {
  cJSON *c = study_attr(s, info->study_id, HP_STORE_ATTR_CREATED);
  double t = cJSON_IsNumber(c) ? c->valuedouble : hp_view_local_seconds(info->datetime_start);
  cJSON_Delete(c);
  return t;
}

const char *hp_view_study_state(hp_store_t *s, const hp_store_study_info_t *info,
                                const hp_view_spec_t *spec, double now) {
  cJSON *st = study_attr(s, info->study_id, HP_STORE_ATTR_STATE);
  bool stopped = cJSON_IsString(st) && strcmp(st->valuestring, "stopped") == 0;
  cJSON_Delete(st);
  if (stopped) return "stopped";
  const int64_t *n = info->n_state;
  if (n[HP_STORE_RUNNING] > 0) return "running";
  /* Without a spec: the daemon serves a single-objective study for
   * trial.ask/tell (adopted), a multi-objective one read-only. */
  if (spec == NULL) return info->n_objectives == 1 ? "running" : "finished";
  /* The time a daemon ran it, as the daemon last stored it (every 5 s);
   * without that count (an older hpsearch), the time since creation. */
  cJSON *used = study_attr(s, info->study_id, HP_STORE_ATTR_BUDGET_USED);
  double start = study_start(s, info);
  double spent_s = cJSON_IsNumber(used) ? used->valuedouble : now - start;
  cJSON_Delete(used);
  bool spent = spec->time_budget > 0 && !isnan(spent_s) && spent_s >= spec->time_budget;
  if (spent) return "finished";
  if (n[HP_STORE_WAITING] > 0) return "running"; /* enqueued trials run past n_trials */
  int64_t started = info->n_trials - n[HP_STORE_WAITING];
  if (spec->n_trials > 0 && started >= spec->n_trials) return "finished";
  if (spec->grid_total > 0) {
    /* Every grid trial has its own point: done points are the finished
     * trials (failed ones unless the grid hands them out again). */
    int64_t done = n[HP_STORE_COMPLETE] + n[HP_STORE_PRUNED] +
                   (spec->grid_retry_failed ? 0 : n[HP_STORE_FAIL]);
    if (done >= spec->grid_total) return "finished";
  }
  return "running";
}

/* The best feasible COMPLETE trial of a study with one objective by a scan
 * of every trial (the store's best is infeasible). Minimising, +inf is the
 * worst value; ties go to the lowest number. */
static int best_feasible(hp_store_t *s, const hp_store_study_info_t *info, int64_t *tid) {
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  if (hp_store_trials_list(s, info->study_id, 0, &trials, &n, NULL) < 0) return -1;
  double sign = info->maximize[0] ? -1.0 : 1.0, best = NAN;
  *tid = -1;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (t->state != HP_STORE_COMPLETE || t->n_values < 1 || !hp_view_trial_feasible(t)) continue;
    double x = sign * t->values[0];
    if (*tid < 0 || x < best) best = x, *tid = t->trial_id;
  }
  hp_store_trials_free(trials, n);
  return *tid < 0 ? -1 : 0;
}

/* {"trial", "value", "params"} of the best feasible trial of a study with
 * one objective, or null (also for several objectives: see the Pareto
 * front). */
static cJSON *best_json(hp_view_t *v, hp_store_t *s, const hp_store_study_info_t *info) {
  /* the summary's best (one pass for every study), else asked for */
  int64_t tid = info->has_best ? info->best_trial_id : -1;
  if (info->n_objectives > 1 ||
      (tid < 0 && hp_store_best_trial(s, info->study_id, &tid, NULL, NULL, NULL) < 0))
    return cJSON_CreateNull();
  hp_store_trial_t t = {0};
  if (hp_store_trial_get(s, tid, &t, NULL) < 0) return cJSON_CreateNull();
  if (!hp_view_trial_feasible(&t)) {
    hp_store_trial_clear(&t);
    if (best_feasible(s, info, &tid) < 0 || hp_store_trial_get(s, tid, &t, NULL) < 0)
      return cJSON_CreateNull();
  }
  cJSON *b = cJSON_CreateObject();
  if (b != NULL) {
    cJSON_AddNumberToObject(b, "trial", (double)t.number);
    cJSON_AddItemToObject(b, "value", hp_view_number(t.n_values ? t.values[0] : NAN));
    cJSON *p = hp_view_trial_params(v, &t);
    if (p) cJSON_AddItemToObject(b, "params", p);
  }
  hp_store_trial_clear(&t);
  return b;
}

int hp_view_pareto(hp_view_t *v, hp_store_t *s, const hp_store_study_info_t *info,
                   const hp_view_spec_t *spec, cJSON **front, cJSON **hypervolume,
                   hp_err_t *err) {
  *front = NULL;
  if (hypervolume) *hypervolume = NULL;
  const int m = info->n_objectives;
  if (m < 2) return hp_err_set(err, HP_EINVAL, "study '%s' has one objective", info->name);
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  int rc = hp_store_trials_list(s, info->study_id, 0, &trials, &n, err);
  if (rc < 0) return rc;
  double *pts = malloc((n ? n : 1) * (size_t)m * sizeof *pts);
  size_t *idx = malloc((n ? n : 1) * sizeof *idx);
  int32_t *rank = malloc((n ? n : 1) * sizeof *rank);
  cJSON *arr = cJSON_CreateArray();
  rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  if (!pts || !idx || !rank || !arr) goto done;
  int64_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (t->state != HP_STORE_COMPLETE || t->n_values != (size_t)m || !hp_view_trial_feasible(t))
      continue;
    for (int j = 0; j < m; j++) pts[k * m + j] = (info->maximize[j] ? -1.0 : 1.0) * t->values[j];
    idx[k++] = i;
  }
  if (hp_mo_ranks(pts, k, m, 1, rank) < 0) goto done;
  int64_t nf = 0;
  double ref[HP_STORE_MAX_OBJECTIVES];
  for (int j = 0; j < m; j++) ref[j] = -INFINITY;
  for (int64_t i = 0; i < k; i++) {
    if (rank[i] != 0) continue;
    const hp_store_trial_t *t = &trials[idx[i]];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) goto done;
    cJSON_AddItemToArray(arr, o);
    cJSON_AddNumberToObject(o, "trial", (double)t->number);
    cJSON *vals = cJSON_AddArrayToObject(o, "values");
    for (int j = 0; j < m && vals; j++) cJSON_AddItemToArray(vals, hp_view_number(t->values[j]));
    cJSON *p = hp_view_trial_params(v, t);
    if (p) cJSON_AddItemToObject(o, "params", p);
    memmove(pts + nf * m, pts + i * m, (size_t)m * sizeof *pts);
    for (int j = 0; j < m; j++) ref[j] = fmax(ref[j], pts[nf * m + j]);
    nf++;
  }
  if (hypervolume && nf > 0) {
    bool given = spec && spec->reference_point && spec->n_reference == m;
    for (int j = 0; j < m; j++) {
      if (given) ref[j] = (info->maximize[j] ? -1.0 : 1.0) * spec->reference_point[j];
      else ref[j] = ref[j] == 0 ? 1e-12 : fmax(1.1 * ref[j], 0.9 * ref[j]);
    }
    double hv = hp_mo_hypervolume(pts, nf, m, ref);
    cJSON *h = cJSON_CreateObject();
    if (h == NULL) goto done;
    cJSON_AddItemToObject(h, "value", hp_view_number(hv));
    cJSON *r = cJSON_AddArrayToObject(h, "reference_point");
    for (int j = 0; j < m && r; j++)
      cJSON_AddItemToArray(r, hp_view_number((info->maximize[j] ? -1.0 : 1.0) * ref[j]));
    cJSON_AddBoolToObject(h, "given", given);
    *hypervolume = h;
  } else if (hypervolume) {
    *hypervolume = cJSON_CreateNull();
  }
  *front = arr;
  arr = NULL;
  rc = 0;
done:
  cJSON_Delete(arr);
  free(pts);
  free(idx);
  free(rank);
  hp_store_trials_free(trials, n);
  return rc;
}

static void add_string_or_null(cJSON *o, const char *key, const char *s) {
  if (s != NULL) cJSON_AddStringToObject(o, key, s);
  else cJSON_AddNullToObject(o, key);
}

/* A grid study's size and progress from its counts: every trial takes its
 * own grid point, finished ones (COMPLETE, PRUNED, and FAIL unless the grid
 * hands failed points out again) are done, running ones claim theirs. */
static cJSON *grid_json(const hp_view_spec_t *spec, const hp_store_study_info_t *info) {
  if (spec == NULL || spec->grid_total <= 0) return cJSON_CreateNull();
  int64_t total = spec->grid_total;
  int64_t done = info->n_state[HP_STORE_COMPLETE] + info->n_state[HP_STORE_PRUNED] +
                 (spec->grid_retry_failed ? 0 : info->n_state[HP_STORE_FAIL]);
  if (done > total) done = total;
  int64_t running = info->n_state[HP_STORE_RUNNING];
  if (running > total - done) running = total - done;
  cJSON *g = cJSON_CreateObject();
  if (g == NULL) return NULL;
  cJSON_AddNumberToObject(g, "total", (double)total);
  cJSON_AddNumberToObject(g, "done", (double)done);
  cJSON_AddNumberToObject(g, "running", (double)running);
  return g;
}

/* The running trials, by number: the last reported step and value, seconds
 * since the trial started, and whether a worker runs it (a worker's trial
 * carries HP_STORE_ATTR_WORKER; one handed out by trial.ask does not). */
static cJSON *running_json(hp_store_t *s, const hp_store_study_info_t *info, double now) {
  cJSON *arr = cJSON_CreateArray();
  int64_t first;
  if (arr == NULL || info->n_state[HP_STORE_RUNNING] == 0 ||
      hp_store_first_running(s, info->study_id, &first, NULL) < 0)
    return arr;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  if (hp_store_trials_list(s, info->study_id, first, &trials, &n, NULL) < 0) return arr;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (t->state != HP_STORE_RUNNING) continue;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) break;
    cJSON_AddNumberToObject(o, "trial", (double)t->number);
    if (t->n_intermediate > 0) {
      cJSON_AddNumberToObject(o, "step", (double)t->steps[t->n_intermediate - 1]);
      cJSON_AddItemToObject(o, "value", hp_view_number(t->intermediate[t->n_intermediate - 1]));
    } else {
      cJSON_AddNullToObject(o, "step");
      cJSON_AddNullToObject(o, "value");
    }
    double start = hp_view_local_seconds(t->datetime_start);
    if (isnan(start)) cJSON_AddNullToObject(o, "elapsed");
    else cJSON_AddNumberToObject(o, "elapsed", now > start ? now - start : 0);
    cJSON *sys = NULL;
    (void)hp_json_parse(t->system_attrs_json, strlen(t->system_attrs_json), "system_attrs", &sys, NULL);
    cJSON_AddBoolToObject(o, "worker", cJSON_GetObjectItemCaseSensitive(sys, HP_STORE_ATTR_WORKER) != NULL);
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(sys, HP_STORE_ATTR_SAMPLER);
    if (cJSON_IsString(by)) cJSON_AddStringToObject(o, "sampler", by->valuestring);
    else cJSON_AddNullToObject(o, "sampler");
    cJSON_Delete(sys);
    cJSON_AddItemToArray(arr, o);
  }
  hp_store_trials_free(trials, n);
  return arr;
}

/* The algorithm that proposed the newest trial (what an automatic sampler
 * uses now), or null: one trial read, not the study. */
static cJSON *last_sampler_json(hp_store_t *s, const hp_store_study_info_t *info) {
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  cJSON *out = NULL;
  if (info->n_trials > 0 &&
      hp_store_trials_list(s, info->study_id, info->n_trials - 1, &trials, &n, NULL) == 0) {
    for (size_t i = n; i-- > 0 && out == NULL;) {
      cJSON *attrs;
      const char *by = trial_sampler(&trials[i], &attrs);
      if (by) out = cJSON_CreateString(by);
      cJSON_Delete(attrs);
    }
    hp_store_trials_free(trials, n);
  }
  return out ? out : cJSON_CreateNull();
}

cJSON *hp_view_study(hp_view_t *v, hp_store_t *s, const hp_store_study_info_t *info,
                     const hp_view_spec_t *spec, const hp_view_live_t *live, double now) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  const char *state = live ? live->state : hp_view_study_state(s, info, spec, now);
  cJSON_AddNumberToObject(o, "study_id", (double)info->study_id);
  cJSON_AddStringToObject(o, "name", info->name);
  cJSON_AddStringToObject(o, "state", state);
  if (live != NULL) {
    add_string_or_null(o, "stop_reason", live->stop_reason);
  } else {
    /* Kept while stopped; study.resume stores null. */
    cJSON *why = strcmp(state, "stopped") == 0
                     ? study_attr(s, info->study_id, HP_STORE_ATTR_STOP_REASON)
                     : NULL;
    add_string_or_null(o, "stop_reason", cJSON_IsString(why) ? why->valuestring : NULL);
    cJSON_Delete(why);
  }
  cJSON_AddStringToObject(o, "direction",
                          info->n_objectives > 0 && info->maximize[0] ? "maximize" : "minimize");
  cJSON *dirs = cJSON_AddArrayToObject(o, "directions");
  for (int k = 0; k < info->n_objectives && dirs; k++)
    cJSON_AddItemToArray(dirs, cJSON_CreateString(info->maximize[k] ? "maximize" : "minimize"));
  add_string_or_null(o, "metric", spec ? spec->metric : NULL);
  if (spec && spec->metrics && spec->n_metrics > 0) {
    cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
    for (int k = 0; k < spec->n_metrics && ms; k++)
      cJSON_AddItemToArray(ms, cJSON_CreateString(spec->metrics[k]));
  } else {
    cJSON_AddNullToObject(o, "metrics");
  }
  cJSON_AddStringToObject(o, "objective", spec ? spec->objective : "none");
  add_string_or_null(o, "sampler", spec ? spec->sampler : NULL);
  add_string_or_null(o, "pruner", spec ? spec->pruner : NULL);
  if (spec && spec->n_trials > 0) cJSON_AddNumberToObject(o, "n_trials", (double)spec->n_trials);
  else cJSON_AddNullToObject(o, "n_trials");
  if (spec && spec->time_budget > 0) cJSON_AddNumberToObject(o, "time_budget", spec->time_budget);
  else cJSON_AddNullToObject(o, "time_budget");
  if (spec) cJSON_AddNumberToObject(o, "parallelism", spec->parallelism);
  else cJSON_AddNullToObject(o, "parallelism");
  cJSON *counts = cJSON_AddObjectToObject(o, "counts");
  static const int order[] = {HP_STORE_WAITING, HP_STORE_RUNNING, HP_STORE_COMPLETE,
                              HP_STORE_PRUNED, HP_STORE_FAIL};
  for (int i = 0; i < 5 && counts; i++)
    cJSON_AddNumberToObject(counts, hp_store_state_name(order[i]),
                            (double)info->n_state[order[i]]);
  cJSON_AddItemToObject(o, "best", best_json(v, s, info));
  cJSON *front = NULL, *hv = NULL;
  if (info->n_objectives > 1 && hp_view_pareto(v, s, info, spec, &front, &hv, NULL) == 0) {
    cJSON_AddItemToObject(o, "pareto_front", front);
    cJSON_AddItemToObject(o, "hypervolume", hv);
  } else {
    cJSON_AddNullToObject(o, "pareto_front");
    cJSON_AddNullToObject(o, "hypervolume");
  }
  /* Optuna's meaning (StudySummary.datetime_start): the first trial's start. */
  add_string_or_null(o, "datetime_start", info->datetime_start[0] ? info->datetime_start : NULL);
  /* From creation to now, or to the last trial's end once finished. */
  double start = study_start(s, info), end = now;
  if (strcmp(state, "finished") == 0) {
    end = hp_view_local_seconds(info->datetime_complete);
    if (isnan(end)) end = start;
  }
  if (!isnan(start) && !isnan(end)) cJSON_AddNumberToObject(o, "elapsed", end - start);
  else cJSON_AddNullToObject(o, "elapsed");
  cJSON_AddItemToObject(o, "grid", grid_json(spec, info));
  cJSON_AddItemToObject(o, "running_trials", running_json(s, info, now));
  cJSON_AddItemToObject(o, "last_sampler", last_sampler_json(s, info));
  return o;
}

/* ---- times --------------------------------------------------------------- */

double hp_view_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double hp_view_local_seconds(const char *s) {
  struct tm tm = {0};
  int64_t us;
  if (!hp_view_naive_micros_(s, &us)) return NAN;
  if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec) != 6)
    return NAN;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  int64_t frac = us % 1000000;
  if (frac < 0) frac += 1000000;
  return (double)mktime(&tm) + (double)frac * 1e-6;
}

/* The JSON shapes of studies and trials in replies and events: the study
 * summary, its best trial, params objects, and stored trials as text or
 * tree. */
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

cJSON *hp_sched_best_json(hp_study_t *st) {
  if (!st->has_best) return cJSON_CreateNull();
  cJSON *b = cJSON_CreateObject();
  if (b == NULL) return NULL;
  cJSON_AddNumberToObject(b, "trial", (double)st->best_number);
  cJSON_AddItemToObject(b, "value", hp_sched_value_json(st->best_value));
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
  if (st->stop_reason) cJSON_AddStringToObject(o, "stop_reason", st->stop_reason);
  else cJSON_AddNullToObject(o, "stop_reason");
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
  cJSON_AddItemToObject(o, "best", hp_sched_best_json(st));
  cJSON_AddStringToObject(o, "datetime_start", st->datetime_start);
  double end = st->state == HP_STUDY_FINISHED ? st->t_finished : hp_sched_now_wall();
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

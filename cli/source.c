/* Where `status`, `trials` and `best` get their data: the daemon over the
 * socket, or a study database opened read-only with --db (works while the
 * daemon writes, through SQLite's WAL). Both paths produce the JSON shapes of
 * docs/protocol.md, so every rendering is written once. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/rpc.h"
#include "hpsearch/space.h"

int hp_cli_exit_code(int rc) {
  if (rc >= 0) return HP_EXIT_OK;
  if (rc == HP_CLIENT_ENODAEMON) return HP_EXIT_NODAEMON;
  if (rc == HP_ENOTFOUND) return HP_EXIT_NOTFOUND;
  return HP_EXIT_FAIL;
}

int hp_cli_fail(const char *cmd, int rc, const hp_err_t *err) {
  fprintf(stderr, "hpsearch %s: %s\n", cmd,
          err != NULL && err->msg[0] ? err->msg : hp_strerror(rc));
  return hp_cli_exit_code(rc);
}

int hp_cli_usage(const char *cmd, const char *synopsis, const char *what) {
  fprintf(stderr, "hpsearch %s: %s\nusage: hpsearch %s %s\n", cmd, what, cmd, synopsis);
  return HP_EXIT_USAGE;
}

bool hp_cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
  return false;
}

int hp_cli_help(const char *cmd, const char *synopsis) {
  printf("usage: hpsearch %s %s\n(see docs/cli.md)\n", cmd, synopsis);
  return HP_EXIT_OK;
}

static char interrupt_msg[1100];
static size_t interrupt_len;

static void on_interrupt(int sig) {
  (void)sig;
  if (write(STDERR_FILENO, interrupt_msg, interrupt_len) < 0) {}
  _exit(130);
}

void hp_cli_on_interrupt(const char *message) {
  /* A progress line on a terminal has no newline yet. */
  int n = snprintf(interrupt_msg, sizeof interrupt_msg, "%s%s\n",
                   isatty(STDOUT_FILENO) || isatty(STDERR_FILENO) ? "\n" : "", message);
  interrupt_len = n < 0 ? 0 : (size_t)n < sizeof interrupt_msg ? (size_t)n : sizeof interrupt_msg - 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

int hp_cli_connect(hp_client_t *c, const char *sock, hp_err_t *err) {
  return hp_client_connect(c, sock, sock != NULL, HP_CLI_TIMEOUT_MS, err);
}

long hp_cli_count(const cJSON *summary, const char *state) {
  const cJSON *counts = cJSON_GetObjectItemCaseSensitive(summary, "counts");
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(counts, state);
  return cJSON_IsNumber(n) ? (long)n->valuedouble : 0;
}

double hp_cli_num(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsNumber(v)) return v->valuedouble;
  if (cJSON_IsString(v)) {
    if (strcmp(v->valuestring, "inf") == 0) return INFINITY;
    if (strcmp(v->valuestring, "-inf") == 0) return -INFINITY;
  }
  return NAN;
}

/* ---- a bump allocator for cJSON ------------------------------------------ */

/* Parsing a 1,000-trial reply builds ~20,000 cJSON nodes; carving them from
 * big chunks instead of malloc/free halves the parse time. Frees are no-ops
 * and the chunks go at exit, so this is only for one-shot commands whose
 * cJSON memory is never handed to plain free(). */
typedef struct arena_chunk {
  struct arena_chunk *next;  /* older chunk */
  size_t used, cap;          /* bytes used / usable after the header */
} arena_chunk_t;

static arena_chunk_t *g_arena;

static void *arena_malloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (g_arena == NULL || g_arena->cap - g_arena->used < n) {
    size_t cap = n > (4u << 20) ? n : (4u << 20);
    arena_chunk_t *c = malloc(sizeof(arena_chunk_t) + 16 + cap);
    if (c == NULL) return NULL;
    c->next = g_arena;
    c->used = 0;
    c->cap = cap;
    g_arena = c;
  }
  /* The header is padded to 16 bytes so every block stays 16-aligned. */
  void *p = (char *)g_arena + ((sizeof(arena_chunk_t) + 15) & ~(size_t)15) + g_arena->used;
  g_arena->used += n;
  return p;
}

static void arena_free(void *p) { (void)p; }

static void arena_release(void) {
  cJSON_InitHooks(NULL);
  while (g_arena != NULL) {
    arena_chunk_t *next = g_arena->next;
    free(g_arena);
    g_arena = next;
  }
}

void hp_cli_json_arena(void) {
  static cJSON_Hooks hooks = {arena_malloc, arena_free};
  cJSON_InitHooks(&hooks);
  atexit(arena_release);
}

/* ---- daemon side ------------------------------------------------------- */

static cJSON *study_params(const char *study) {
  cJSON *p = cJSON_CreateObject();
  if (p != NULL) cJSON_AddStringToObject(p, "study", study);
  return p;
}

/* Takes member `key` out of a result object (freeing the rest). */
static int take_member(cJSON *result, const char *key, cJSON **out, hp_err_t *err) {
  cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(result, key);
  cJSON_Delete(result);
  if (!cJSON_IsArray(m)) {
    cJSON_Delete(m);
    return hp_err_set(err, HP_EFORMAT, "reply from the daemon has no \"%s\" array", key);
  }
  *out = m;
  return 0;
}

/* ---- database side ----------------------------------------------------- */

/* Reads exactly n digits at *p (advancing it); -1 if one is not a digit. */
static int digits(const char **p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (**p < '0' || **p > '9') return -1;
    v = v * 10 + (**p - '0');
  }
  return v;
}

/* Seconds of a "YYYY-MM-DD HH:MM:SS[.ffffff]" local time; NAN if empty or
 * malformed. Hand-parsed: sscanf was a visible cost on 1,000-trial studies. */
static double parse_datetime(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = s;
  int f[6];
  static const char sep[6] = {'-', '-', ' ', ':', ':', '\0'};
  for (int i = 0; i < 6; i++) {
    f[i] = digits(&p, i == 0 ? 4 : 2);
    if (f[i] < 0) return NAN;
    if (i < 5 && *p++ != sep[i]) return NAN;
  }
  double frac = 0, scale = 0.1;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++, scale *= 0.1) frac += (*p - '0') * scale;
  tm.tm_year = f[0] - 1900;
  tm.tm_mon = f[1] - 1;
  tm.tm_mday = f[2];
  tm.tm_hour = f[3];
  tm.tm_min = f[4];
  tm.tm_sec = f[5];
  /* Both ends of a duration are local times, so treating them as UTC keeps
   * the difference right and avoids a time-zone lookup per trial. */
  return (double)timegm(&tm) + frac;
}

/* A JSON number, or the protocol's "inf"/"-inf"/"nan" strings. */
static cJSON *number_item(double v) {
  if (isnan(v)) return cJSON_CreateString("nan");
  if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
  return cJSON_CreateNumber(v);
}

/* Parsed distributions, cached by their distribution_json text: a study's
 * trials nearly always share a handful of them, and parsing one per trial
 * parameter would dominate `trials --db` on large studies. */
#define DIST_CACHE 64
typedef struct dist_cache {
  int n;                   /* entries used */
  char *json[DIST_CACHE];  /* owned key text */
  hp_dist_t dist[DIST_CACHE];
} dist_cache_t;

static const hp_dist_t *dist_lookup(dist_cache_t *dc, const char *json) {
  for (int i = 0; i < dc->n; i++)
    if (strcmp(dc->json[i], json) == 0) return &dc->dist[i];
  hp_dist_t d;
  if (hp_dist_from_optuna_json(json, strlen(json), &d, NULL) < 0) return NULL;
  if (dc->n == DIST_CACHE) {  /* full: evict the oldest */
    free(dc->json[0]);
    hp_dist_free(&dc->dist[0]);
    memmove(dc->json, dc->json + 1, sizeof dc->json[0] * (DIST_CACHE - 1));
    memmove(dc->dist, dc->dist + 1, sizeof dc->dist[0] * (DIST_CACHE - 1));
    dc->n--;
  }
  dc->json[dc->n] = strdup(json);
  if (dc->json[dc->n] == NULL) {
    hp_dist_free(&d);
    return NULL;
  }
  dc->dist[dc->n] = d;
  return &dc->dist[dc->n++];
}

static void dist_cache_free(dist_cache_t *dc) {
  for (int i = 0; i < dc->n; i++) {
    free(dc->json[i]);
    hp_dist_free(&dc->dist[i]);
  }
  dc->n = 0;
}

/* Protocol-shaped trial object from a stored trial. */
static cJSON *trial_to_json(const hp_store_trial_t *t, bool intermediate, dist_cache_t *dc) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  cJSON_AddNumberToObject(o, "trial", (double)t->number);
  cJSON_AddNumberToObject(o, "trial_id", (double)t->trial_id);
  cJSON_AddStringToObject(o, "state", hp_store_state_name(t->state));
  if (t->n_values > 0) cJSON_AddItemToObject(o, "value", number_item(t->values[0]));
  else cJSON_AddNullToObject(o, "value");
  cJSON *params = cJSON_AddObjectToObject(o, "params");
  for (size_t i = 0; params != NULL && i < t->n_params; i++) {
    const hp_dist_t *d = dist_lookup(dc, t->params[i].distribution_json);
    cJSON *v = d != NULL ? hp_dist_to_external(d, t->params[i].value) : NULL;
    /* An unreadable distribution still shows the stored internal value. */
    if (v == NULL) v = cJSON_CreateNumber(t->params[i].value);
    cJSON_AddItemToObject(params, t->params[i].name, v);
  }
  if (intermediate) {
    cJSON *iv = cJSON_AddArrayToObject(o, "intermediate");
    for (size_t i = 0; iv != NULL && i < t->n_intermediate; i++) {
      cJSON *pair = cJSON_CreateArray();
      cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)t->steps[i]));
      cJSON_AddItemToArray(pair, number_item(t->intermediate[i]));
      cJSON_AddItemToArray(iv, pair);
    }
  }
  cJSON *reason = NULL;
  if (t->system_attrs_json != NULL && strcmp(t->system_attrs_json, "{}") != 0) {
    cJSON *sys = cJSON_Parse(t->system_attrs_json);
    const char *keys[] = {"hpsearch:reason", HP_STORE_FAIL_REASON_KEY};
    for (size_t k = 0; sys != NULL && reason == NULL && k < 2; k++) {
      cJSON *r = cJSON_GetObjectItemCaseSensitive(sys, keys[k]);
      if (cJSON_IsString(r)) reason = cJSON_CreateString(r->valuestring);
    }
    cJSON_Delete(sys);
  }
  cJSON_AddItemToObject(o, "reason", reason != NULL ? reason : cJSON_CreateNull());
  if (t->datetime_start[0]) cJSON_AddStringToObject(o, "datetime_start", t->datetime_start);
  else cJSON_AddNullToObject(o, "datetime_start");
  if (t->datetime_complete[0])
    cJSON_AddStringToObject(o, "datetime_complete", t->datetime_complete);
  else cJSON_AddNullToObject(o, "datetime_complete");
  double d = parse_datetime(t->datetime_complete) - parse_datetime(t->datetime_start);
  /* Datetimes have microseconds; drop the subtraction's rounding noise. */
  if (isfinite(d)) cJSON_AddNumberToObject(o, "duration", round(d * 1e6) / 1e6);
  else cJSON_AddNullToObject(o, "duration");
  if (t->user_attrs_json != NULL && strcmp(t->user_attrs_json, "{}") != 0) {
    cJSON *ua = cJSON_Parse(t->user_attrs_json);
    if (ua != NULL) cJSON_AddItemToObject(o, "user_attrs", ua);
  }
  return o;
}

/* Looks for the spec the daemon stored with the study (a system attribute
 * whose key ends in "spec"); NULL for studies written by other programs. */
static cJSON *stored_spec(hp_store_t *s, int64_t study_id) {
  char *attrs = NULL;
  if (hp_store_study_attrs(s, study_id, true, &attrs, NULL) < 0) return NULL;
  cJSON *all = cJSON_Parse(attrs);
  free(attrs);
  cJSON *spec = NULL, *it;
  cJSON_ArrayForEach(it, all) {
    size_t n = strlen(it->string);
    if (n >= 4 && strcmp(it->string + n - 4, "spec") == 0 && cJSON_IsObject(it)) {
      spec = cJSON_DetachItemViaPointer(all, it);
      break;
    }
  }
  cJSON_Delete(all);
  return spec;
}

/* Protocol-shaped study summary from the store's info (plus, when `detail`,
 * the spec-derived fields and the best trial's parameters). */
static cJSON *study_to_json(hp_store_t *s, const hp_store_study_info_t *in, bool detail,
                            dist_cache_t *dc) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  cJSON_AddNumberToObject(o, "study_id", (double)in->study_id);
  cJSON_AddStringToObject(o, "name", in->name);
  /* Only the daemon knows whether a study is running or stopped. */
  cJSON_AddNullToObject(o, "state");
  cJSON_AddStringToObject(o, "direction",
                          in->n_objectives > 0 && in->maximize[0] ? "maximize" : "minimize");
  cJSON *spec = stored_spec(s, in->study_id);
  const char *copy[] = {"metric", "n_trials", "time_budget", "parallelism"};
  for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, copy[i]);
    cJSON_AddItemToObject(o, copy[i], v != NULL ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
  }
  cJSON *counts = cJSON_AddObjectToObject(o, "counts");
  for (int st = 0; st < HP_STORE_NSTATES; st++)
    cJSON_AddNumberToObject(counts, hp_store_state_name(st), (double)in->n_state[st]);
  if (in->has_best) {
    cJSON *best = cJSON_AddObjectToObject(o, "best");
    cJSON_AddNumberToObject(best, "trial", (double)in->best_number);
    cJSON_AddItemToObject(best, "value", number_item(in->best_value));
    int64_t tid;
    hp_store_trial_t t;
    if (detail && hp_store_best_trial(s, in->study_id, &tid, NULL, NULL, NULL) == 0 &&
        hp_store_trial_get(s, tid, &t, NULL) == 0) {
      cJSON *tj = trial_to_json(&t, false, dc);
      cJSON_AddItemToObject(best, "params", cJSON_DetachItemFromObject(tj, "params"));
      cJSON_Delete(tj);
      hp_store_trial_clear(&t);
    }
  } else {
    cJSON_AddNullToObject(o, "best");
  }
  if (in->datetime_start[0]) cJSON_AddStringToObject(o, "datetime_start", in->datetime_start);
  else cJSON_AddNullToObject(o, "datetime_start");
  cJSON_AddNullToObject(o, "elapsed");
  if (detail) cJSON_AddItemToObject(o, "spec", spec != NULL ? spec : cJSON_CreateNull());
  else cJSON_Delete(spec);
  return o;
}

/* ---- the source ---------------------------------------------------------- */

int hp_cli_src_open(hp_cli_src_t *src, const char *sock, const char *db, hp_err_t *err) {
  memset(src, 0, sizeof *src);
  src->client.fd = -1;
  if (db != NULL) {
    src->use_db = true;
    return hp_store_open(db, HP_STORE_READONLY, &src->store, err);
  }
  return hp_cli_connect(&src->client, sock, err);
}

void hp_cli_src_close(hp_cli_src_t *src) {
  if (src->use_db) hp_store_close(src->store);
  else hp_client_close(&src->client);
  src->store = NULL;
}

int hp_cli_src_studies(hp_cli_src_t *src, cJSON **out, hp_err_t *err) {
  *out = NULL;
  if (!src->use_db) {
    cJSON *r;
    int rc = hp_client_call(&src->client, HP_RPC_STUDY_LIST, NULL, &r, err);
    return rc < 0 ? rc : take_member(r, "studies", out, err);
  }
  hp_store_study_info_t *list = NULL;
  size_t n = 0;
  int rc = hp_store_study_list(src->store, &list, &n, err);
  if (rc < 0) return rc;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr != NULL && i < n; i++)
    cJSON_AddItemToArray(arr, study_to_json(src->store, &list[i], false, NULL));
  hp_store_study_list_free(list, n);
  if (arr == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

/* Study id by name in the database, with the protocol's wording. */
static int db_find(hp_cli_src_t *src, const char *study, int64_t *id, hp_err_t *err) {
  int rc = hp_store_study_find(src->store, study, id, err);
  if (rc == HP_ENOTFOUND)
    return hp_err_set(err, rc, "no study named '%s' in the database", study);
  return rc;
}

int hp_cli_src_study(hp_cli_src_t *src, const char *study, cJSON **out, hp_err_t *err) {
  *out = NULL;
  if (!src->use_db)
    return hp_client_call(&src->client, HP_RPC_STUDY_GET, study_params(study), out, err);
  int64_t id;
  int rc = db_find(src, study, &id, err);
  if (rc < 0) return rc;
  hp_store_study_info_t info;
  rc = hp_store_study_get(src->store, id, &info, err);
  if (rc < 0) return rc;
  dist_cache_t dc = {0};
  *out = study_to_json(src->store, &info, true, &dc);
  dist_cache_free(&dc);
  hp_store_study_info_clear(&info);
  return *out != NULL ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
}

int hp_cli_src_trials(hp_cli_src_t *src, const char *study, bool intermediate, long offset,
                      long limit, cJSON **out, hp_err_t *err) {
  *out = NULL;
  if (!src->use_db) {
    cJSON *p = study_params(study), *r;
    if (intermediate) cJSON_AddTrueToObject(p, "intermediate");
    if (offset > 0) cJSON_AddNumberToObject(p, "offset", (double)offset);
    if (limit > 0) cJSON_AddNumberToObject(p, "limit", (double)limit);
    int rc = hp_client_call(&src->client, HP_RPC_TRIAL_LIST, p, &r, err);
    return rc < 0 ? rc : take_member(r, "trials", out, err);
  }
  int64_t id;
  int rc = db_find(src, study, &id, err);
  if (rc < 0) return rc;
  hp_store_trial_t *t = NULL;
  size_t n = 0;
  /* Numbers are 0..n-1 within a study, so an offset is a minimum number. */
  rc = hp_store_trials_list(src->store, id, offset > 0 ? offset : 0, &t, &n, err);
  if (rc < 0) return rc;
  dist_cache_t dc = {0};
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr != NULL && i < n && (limit <= 0 || (long)i < limit); i++)
    cJSON_AddItemToArray(arr, trial_to_json(&t[i], intermediate, &dc));
  dist_cache_free(&dc);
  hp_store_trials_free(t, n);
  if (arr == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

int hp_cli_src_trial(hp_cli_src_t *src, const char *study, long number, cJSON **out,
                     hp_err_t *err) {
  *out = NULL;
  if (!src->use_db) {
    cJSON *p = study_params(study);
    cJSON_AddNumberToObject(p, "trial", (double)number);
    return hp_client_call(&src->client, HP_RPC_TRIAL_GET, p, out, err);
  }
  cJSON *arr;
  int rc = hp_cli_src_trials(src, study, true, number, 1, &arr, err);
  if (rc < 0) return rc;
  cJSON *t = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (t == NULL || hp_cli_num(t, "trial") != (double)number) {
    cJSON_Delete(t);
    return hp_err_set(err, HP_ENOTFOUND, "study '%s' has no trial %ld", study, number);
  }
  *out = t;
  return 0;
}

/* Where `status`, `trials` and `best` get their data: the daemon over the
 * socket, or a study database opened read-only with --db (works while the
 * daemon writes, through SQLite's WAL). Both paths produce the JSON shapes of
 * docs/protocol.md, built by the same code (view/) from the same records, so
 * every rendering is written once and reads the same from either source. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/daemon.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/rpc.h"
#include "hpsearch/view.h"

int hp_cli_exit_code(int rc) {
  if (rc >= 0) return HP_EXIT_OK;
  if (rc == HP_CLIENT_ENODAEMON) return HP_EXIT_NODAEMON;
  if (rc == HP_ENOTFOUND || rc == HP_ENOSTUDY) return HP_EXIT_NOTFOUND;
  return HP_EXIT_FAIL;
}

int hp_cli_fail(const char *cmd, int rc, const hp_err_t *err) {
  fprintf(stderr, "hpsearch %s: %s\n", cmd,
          err != NULL && err->msg[0] ? err->msg : hp_strerror(rc));
  return hp_cli_exit_code(rc);
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
  double v = NAN;
  if (hp_json_value(cJSON_GetObjectItemCaseSensitive(obj, key), HP_NUM_STRICT, &v, key, NULL) < 0)
    return NAN;
  return v;
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

/* The summary of one study read from the database: the shape the daemon
 * gives (view/), its spec's fields from the spec stored with it, its state
 * derived from what the database holds. */
static cJSON *db_summary(hp_cli_src_t *src, const hp_store_study_info_t *info) {
  cJSON *json = hp_view_stored_spec(src->store, info->study_id);
  hp_study_spec_t *spec = NULL;
  hp_view_spec_t sv;
  if (json != NULL && hp_study_spec_parse(json, &spec, NULL) == 0) hp_study_spec_view(spec, &sv);
  cJSON *o = hp_view_study(src->view, src->store, info, spec ? &sv : NULL, NULL, hp_view_now());
  hp_study_spec_free(spec);
  cJSON_Delete(json);
  return o;
}

/* ---- the source ---------------------------------------------------------- */

int hp_cli_src_open(hp_cli_src_t *src, const char *sock, const char *db, hp_err_t *err) {
  memset(src, 0, sizeof *src);
  src->client.fd = -1;
  if (db != NULL) {
    src->use_db = true;
    if ((src->view = hp_view_new()) == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
    return hp_store_open(db, HP_STORE_READONLY, &src->store, err);
  }
  return hp_cli_connect(&src->client, sock, err);
}

void hp_cli_src_close(hp_cli_src_t *src) {
  if (src->use_db) hp_store_close(src->store);
  else hp_client_close(&src->client);
  hp_view_free(src->view);
  src->store = NULL;
  src->view = NULL;
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
    cJSON_AddItemToArray(arr, db_summary(src, &list[i]));
  hp_store_study_list_free(list, n);
  if (arr == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

/* Study id by name in the database, with the protocol's wording. */
static int db_find(hp_cli_src_t *src, const char *study, int64_t *id, hp_err_t *err) {
  int rc = hp_store_study_find(src->store, study, id, err);
  if (rc == HP_ENOTFOUND)
    return hp_err_set(err, HP_ENOSTUDY, "no study named '%s' in the database", study);
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
  *out = db_summary(src, &info);
  hp_store_study_info_clear(&info);
  if (*out == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  /* study.get's member: the spec as stored (null without one). */
  cJSON *spec = hp_view_stored_spec(src->store, id);
  cJSON_AddItemToObject(*out, "spec", spec != NULL ? spec : cJSON_CreateNull());
  return 0;
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
  char *text = NULL;
  int rc = hp_cli_src_trials_text(src, study, intermediate, offset, limit, &text, err);
  if (rc < 0) return rc;
  cJSON *r = NULL;
  hp_json_parse(text, strlen(text), "trials", &r, NULL);
  free(text);
  if (r == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  return take_member(r, "trials", out, err);
}

int hp_cli_src_trials_text(hp_cli_src_t *src, const char *study, bool intermediate, long offset,
                           long limit, char **text, hp_err_t *err) {
  *text = NULL;
  int64_t id;
  int rc = db_find(src, study, &id, err);
  if (rc < 0) return rc;
  return hp_view_trial_list(src->view, src->store, id, NULL, offset > 0 ? offset : 0,
                            limit > 0 ? limit : 0, intermediate, text, err);
}

int hp_cli_src_trial(hp_cli_src_t *src, const char *study, long number, cJSON **out,
                     hp_err_t *err) {
  *out = NULL;
  if (!src->use_db) {
    cJSON *p = study_params(study);
    cJSON_AddNumberToObject(p, "trial", (double)number);
    return hp_client_call(&src->client, HP_RPC_TRIAL_GET, p, out, err);
  }
  int64_t id;
  int rc = db_find(src, study, &id, err);
  if (rc < 0) return rc;
  rc = hp_view_trial_get(src->view, src->store, id, number, out, err);
  if (rc == HP_ENOTFOUND) return hp_err_set(err, rc, "study '%s' has no trial %ld", study, number);
  return rc;
}

int hp_cli_src_advise(hp_cli_src_t *src, const char *study, cJSON **out, hp_err_t *err) {
  *out = NULL;
  if (!src->use_db)
    return hp_client_call(&src->client, HP_RPC_STUDY_ADVISE, study_params(study), out, err);
  int64_t id;
  int rc = db_find(src, study, &id, err);
  return rc < 0 ? rc : hp_view_advise(src->store, id, out, err);
}

int hp_cli_src_importance(hp_cli_src_t *src, const char *study, const char *evaluator,
                          cJSON **out, hp_err_t *err) {
  *out = NULL;
  if (!src->use_db) {
    cJSON *p = study_params(study);
    if (evaluator) cJSON_AddStringToObject(p, "evaluator", evaluator);
    return hp_client_call(&src->client, HP_RPC_STUDY_IMPORTANCE, p, out, err);
  }
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  int rc;
  if (evaluator && (rc = hp_imp_evaluator_parse(evaluator, &o.evaluator, err)) < 0) return rc;
  int64_t id;
  if ((rc = db_find(src, study, &id, err)) < 0) return rc;
  return hp_view_importance(src->store, id, &o, out, err);
}

/* A daemon without a socket for the daemon-level harnesses: a real store in a
 * temporary folder, the scheduler, one pretend connection whose replies stay
 * in its output buffer. Every input runs inside one store batch that is rolled
 * back afterwards, and the scheduler is rebuilt from the (empty) store, so
 * inputs do not leak state into each other. No loop iteration runs the
 * scheduler, so no worker process is ever started. */
#ifndef HP_FUZZ_DAEMON_H
#define HP_FUZZ_DAEMON_H

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <uv.h>

#include "../../daemon/daemon_int.h"
#include "fuzz.h"
#include "hpsearch/json.h"

/* Safety net: the daemon kills process groups (orphaned workers of a
 * previous daemon named in the database, pruned or timed-out workers). In a
 * harness those numbers come from fuzzed input, and everything here runs as
 * root next to other people's processes: this definition replaces libc's
 * kill() in the harness binaries, signals nobody but this process, and
 * counts the attempts. */
static long fz_kill_attempts;
int kill(pid_t pid, int sig);
int kill(pid_t pid, int sig) {
  if (pid == getpid()) return raise(sig);
  fz_kill_attempts++;
  errno = EPERM;
  return -1;
}

static hp_daemon_t *fz_d;   /* lives for the whole process */
static char fz_dir[256];    /* its temporary folder */

static void fz_cleanup(void) {
  if (fz_d == NULL) return;
  hp_sched_free(fz_d);
  hp_store_close(fz_d->store);
  char p[320];
  snprintf(p, sizeof p, "%s/fuzz.db", fz_dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/fuzz.db-wal", fz_dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/fuzz.db-shm", fz_dir);
  unlink(p);
  rmdir(fz_dir);
  uv_close((uv_handle_t *)&fz_d->idle, NULL);
  uv_run(fz_d->loop, UV_RUN_NOWAIT);
  uv_loop_close(fz_d->loop);
  free(fz_d->loop);
  free(fz_d->scratch);
  free(fz_d->db_path);
  free(fz_d->worker_exe);
  free(fz_d);
  fz_d = NULL;
}

/* The process-wide daemon, created on first use. */
static hp_daemon_t *fz_daemon(void) {
  if (fz_d != NULL) return fz_d;
  const char *tmp = getenv("TMPDIR");
  snprintf(fz_dir, sizeof fz_dir, "%s/hpfuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  HP_FUZZ_CHECK(mkdtemp(fz_dir) != NULL, "mkdtemp %s", fz_dir);
  hp_daemon_t *d = calloc(1, sizeof *d);
  HP_FUZZ_CHECK(d != NULL, "calloc");
  d->loop = malloc(sizeof *d->loop);
  HP_FUZZ_CHECK(d->loop != NULL && uv_loop_init(d->loop) == 0, "uv_loop_init");
  uv_idle_init(d->loop, &d->idle);
  d->idle.data = d;
  d->jobs = 2;
  d->rr_last = -1;
  d->t_boot = hp_now_mono();
  /* Never equal to the real boot id: no stored pgid is ever killed. */
  snprintf(d->boot_id, sizeof d->boot_id, "hpsearch-fuzz-no-boot");
  char db[320];
  snprintf(db, sizeof db, "%s/fuzz.db", fz_dir);
  d->db_path = strdup(db);
  d->worker_exe = strdup("/bin/false");
  hp_err_t err = {0};
  HP_FUZZ_CHECK(hp_store_open(db, 0, &d->store, &err) == 0, "store open: %s", err.msg);
  fz_d = d;
  atexit(fz_cleanup);
  return d;
}

static void fz_conn_freed(uv_handle_t *h) {
  hp_conn_t *c = h->data;
  cJSON_Delete(c->batch_ids); /* no check phase runs here to clear it */
  free(c->in);
  free(c->out);
  free(c);
}

static hp_conn_t *fz_conn_open(hp_daemon_t *d) {
  hp_conn_t *c = calloc(1, sizeof *c);
  HP_FUZZ_CHECK(c != NULL, "calloc");
  uv_pipe_init(d->loop, &c->pipe, 0);
  c->pipe.data = c;
  c->d = d;
  c->id = ++d->next_conn_id;
  c->sub_study = -1;
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->n_conns++;
  return c;
}

/* Closes c (unless the daemon already did) and lets libuv free it. */
static void fz_conn_close(hp_daemon_t *d, hp_conn_t *c) {
  if (!c->closing) {
    c->closing = true;
    if (c->prev) c->prev->next = c->next;
    else d->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    d->n_conns--;
    if (c->subscribed) d->n_subscribers--;
    uv_close((uv_handle_t *)&c->pipe, fz_conn_freed);
  }
  uv_run(d->loop, UV_RUN_NOWAIT);
}

/* Starts one input: studies loaded from the store, a batch open. */
static void fz_begin(hp_daemon_t *d) {
  hp_err_t err = {0};
  HP_FUZZ_CHECK(hp_sched_load(d, &err) == 0, "hp_sched_load: %s", err.msg);
  HP_FUZZ_CHECK(d->n_studies == 0, "a previous input left %d studies in the store",
                d->n_studies);
  HP_FUZZ_CHECK(hp_daemon_batch(d, &err) == 0, "batch: %s", err.msg);
}

/* Ends one input: everything written is rolled back, the scheduler rebuilt
 * at the next fz_begin. */
static void fz_end(hp_daemon_t *d) {
  if (hp_store_in_batch(d->store)) hp_store_rollback(d->store);
  hp_sched_free(d);
  d->shutting_down = false;
  d->sched_pending = false;
  d->n_workers = 0;
  d->rr_last = -1;
  d->store_failed = false; /* a failed write must not leak into the next input */
  d->t_retry = d->retry_wait = 0;
  uv_idle_stop(&d->idle);
}

/* Every reply or event line in c's output must be a JSON-RPC 2.0 object;
 * returns the number of lines and resets the buffer. */
static size_t fz_check_output(hp_conn_t *c) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i < c->out_len; i++) {
    if (c->out[i] != '\n') continue;
    /* The strict reader: every line is also valid UTF-8 with exact numbers. */
    cJSON *m = NULL;
    hp_err_t perr = {0};
    hp_json_parse(c->out + start, i - start, "reply", &m, &perr);
    HP_FUZZ_CHECK(cJSON_IsObject(m), "reply is not a JSON object (%s): %.*s", perr.msg,
                  (int)(i - start > 3000 ? 3000 : i - start), c->out + start);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "jsonrpc");
    HP_FUZZ_CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "2.0") == 0,
                  "reply without \"jsonrpc\": \"2.0\": %.*s", (int)(i - start > 3000 ? 3000 : i - start), c->out + start);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "error");
    if (e != NULL) {
      const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
      const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
      HP_FUZZ_CHECK(cJSON_IsNumber(code) && cJSON_IsString(msg) && msg->valuestring[0] != '\0',
                    "error reply without code or message: %.*s", (int)(i - start > 3000 ? 3000 : i - start), c->out + start);
    }
    cJSON_Delete(m);
    n++;
    start = i + 1;
  }
  HP_FUZZ_CHECK(start == c->out_len, "output does not end with a newline");
  c->out_len = 0;
  return n;
}

/* Sends one request line (text) as a client would; returns replies seen. */
static size_t fz_request(hp_daemon_t *d, hp_conn_t *c, const char *line) {
  size_t len = strlen(line);
  char *copy = hp_fuzz_dup((const uint8_t *)line, len, 0);
  hp_rpc_handle_line(d, c, copy, len);
  free(copy);
  hp_sched_check(d); /* the scheduler's invariants (checked builds) */
  return c->closing ? 0 : fz_check_output(c);
}

#endif

/* The daemon's loop: the listening Unix socket (folder 0700, socket 0600,
 * stale-socket and peer-uid checks), newline framing with a size limit,
 * bounded per-connection output, signals, and the check phase that commits
 * the store batch before any reply or event leaves the process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

/* Read buffer growth step; a line may grow the buffer up to the limit. */
#define READ_CHUNK (64u << 10)
/* Requests handled from one connection before the others get a turn. */
#define LINES_PER_TURN 512
/* Seconds a shutdown waits for killed workers to be reaped. */
#define SHUTDOWN_GRACE 5.0

typedef struct write_req {
  uv_write_t req; /* req.data = connection */
  char *buf;      /* owned bytes being written */
  size_t len;
} write_req_t;

static hp_daemon_t *g_daemon; /* for hp_log's uptime prefix only */

void hp_log(const char *fmt, ...) {
  char when[32];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  localtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s.%03ld hpsearch daemon: %s\n", when, ts.tv_nsec / 1000000, msg);
}

double hp_now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- output -------------------------------------------------------------- */

static void conn_close(hp_conn_t *c);

void hp_conn_send(hp_conn_t *c, const char *text, size_t len) {
  if (c->closing) return;
  /* The backlog before this message counts: one big reply (trial.list of a
   * large study) may exceed the limit on its own. */
  if (c->inflight + c->out_len > HP_RPC_MAX_OUTPUT) {
    hp_log("connection %llu: client does not read its replies (%zu bytes queued); closing",
           (unsigned long long)c->id, c->inflight + c->out_len);
    conn_close(c);
    return;
  }
  if (c->out_len + len + 1 > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len + 1) cap *= 2;
    char *nb = realloc(c->out, cap);
    if (nb == NULL) {
      hp_log("connection %llu: out of memory for output; closing", (unsigned long long)c->id);
      conn_close(c);
      return;
    }
    c->out = nb;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, text, len);
  c->out[c->out_len + len] = '\n';
  c->out_len += len + 1;
}

int hp_daemon_print(hp_daemon_t *d, const cJSON *msg) {
  long n = hp_json_print_into(msg, &d->scratch, &d->scratch_cap);
  return n < 0 || n > (1l << 30) ? -1 : (int)n;
}

void hp_conn_send_json(hp_conn_t *c, const cJSON *msg) {
  int n = hp_daemon_print(c->d, msg);
  if (n < 0) {
    hp_log("connection %llu: reply could not be serialised", (unsigned long long)c->id);
    conn_close(c);
    return;
  }
  hp_conn_send(c, c->d->scratch, (size_t)n);
}

static void on_close_conn(uv_handle_t *h) {
  hp_conn_t *c = h->data;
  cJSON_Delete(c->batch_ids);
  free(c->in);
  free(c->out);
  free(c);
}

static void conn_close(hp_conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  hp_daemon_t *d = c->d;
  if (c->prev) c->prev->next = c->next;
  else d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->n_conns--;
  if (c->subscribed) d->n_subscribers--;
  uv_read_stop((uv_stream_t *)&c->pipe);
  uv_close((uv_handle_t *)&c->pipe, on_close_conn);
}

static void on_write(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  hp_conn_t *c = req->data;
  c->inflight -= w->len;
  free(w->buf);
  free(w);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->close_after_flush && c->inflight == 0 && c->out_len == 0) conn_close(c);
}

/* Writes what is queued: directly when the socket takes it, else through a
 * write request that owns the bytes (the connection's buffer moves to it). */
static void conn_flush(hp_conn_t *c) {
  if (c->closing) return;
  if (c->out_len > 0 && c->inflight == 0) {
    uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
    if (n >= 0) {
      if ((size_t)n < c->out_len) memmove(c->out, c->out + n, c->out_len - (size_t)n);
      c->out_len -= (size_t)n;
    } else if (n != UV_EAGAIN) {
      conn_close(c);
      return;
    }
  }
  if (c->out_len > 0) {
    write_req_t *w = malloc(sizeof *w);
    if (w == NULL) {
      conn_close(c);
      return;
    }
    w->buf = c->out;
    w->len = c->out_len;
    w->req.data = c;
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    c->inflight += w->len;
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
    if (rc < 0) {
      c->inflight -= w->len;
      free(w->buf);
      free(w);
      conn_close(c);
      return;
    }
  }
  if (c->out_len == 0 && c->out_cap > (1u << 20)) {
    /* Do not keep a big reply's buffer for the life of the connection. */
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
  }
  if (c->close_after_flush && c->inflight == 0 && c->out_len == 0) conn_close(c);
}

/* ---- input ------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  hp_conn_t *c = h->data;
  (void)suggested;
  if (c->in_cap - c->in_len < READ_CHUNK) {
    size_t cap = c->in_len + READ_CHUNK;
    char *nb = realloc(c->in, cap);
    if (nb == NULL) {
      *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
      return;
    }
    c->in = nb;
    c->in_cap = cap;
  }
  *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void conn_too_large(hp_conn_t *c) {
  char msg[128];
  snprintf(msg, sizeof msg, "message larger than %u bytes; closing the connection",
           HP_RPC_MAX_MESSAGE);
  hp_log("connection %llu: %s", (unsigned long long)c->id, msg);
  hp_rpc_send_error(c, NULL, HP_ETOOBIG, msg);
  c->close_after_flush = true;
  uv_read_stop((uv_stream_t *)&c->pipe);
  c->in_len = c->in_scan = 0;
  c->paused = false;
  hp_daemon_kick(c->d); /* make sure the check phase flushes it */
}

/* Handles up to `budget` complete lines at the front of c->in (bytes before
 * c->in_scan are known to hold no newline). Returns true when the budget ran
 * out with lines possibly left: one client's flood must not hold the loop. */
static bool conn_process(hp_conn_t *c, int budget) {
  hp_daemon_t *d = c->d;
  size_t start = 0, scan_from = c->in_scan <= c->in_len ? c->in_scan : 0;
  bool more = false;
  for (;;) {
    if (budget-- <= 0) {
      more = true;
      break;
    }
    char *nl = memchr(c->in + scan_from, '\n', c->in_len - scan_from);
    if (nl == NULL) break;
    size_t end = (size_t)(nl - c->in);
    size_t len = end - start;
    if (len > HP_RPC_MAX_MESSAGE) {
      conn_too_large(c);
      return false;
    }
    if (len > 0 && c->in[start + len - 1] == '\r') len--;
    if (len > 0) {
      hp_rpc_handle_line(d, c, c->in + start, len);
      if (c->closing || c->close_after_flush) return false;
    }
    start = end + 1;
    scan_from = start;
  }
  if (!more && c->in_len - start > HP_RPC_MAX_MESSAGE) {
    conn_too_large(c);
    return false;
  }
  if (start > 0) {
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
  }
  c->in_scan = more ? 0 : c->in_len;
  /* Give back memory a big message left behind. */
  if (c->in_cap > 4 * READ_CHUNK && c->in_len < READ_CHUNK) {
    char *nb = realloc(c->in, READ_CHUNK * 2);
    if (nb != NULL) {
      c->in = nb;
      c->in_cap = READ_CHUNK * 2;
    }
  }
  return more;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  hp_conn_t *c = s->data;
  hp_daemon_t *d = c->d;
  (void)buf;
  if (nread < 0) {
    /* EOF or error: a half-sent message is simply dropped. Replies already
     * queued are still written (a client may shut down its write side). */
    if (nread == UV_EOF && (c->out_len > 0 || c->inflight > 0)) {
      c->close_after_flush = true;
      uv_read_stop(s);
      hp_daemon_kick(d);
    } else {
      conn_close(c);
    }
    return;
  }
  if (nread == 0) return;
  c->in_len += (size_t)nread;
  if (conn_process(c, LINES_PER_TURN)) {
    /* The rest waits for the next loop iteration; others go first. */
    uv_read_stop(s);
    c->paused = true;
    hp_daemon_kick(d);
  }
}

/* Check phase: continue paused connections where they stopped. */
static void conns_resume(hp_daemon_t *d) {
  hp_conn_t *next;
  for (hp_conn_t *c = d->conns; c; c = next) {
    next = c->next;
    if (!c->paused || c->closing || c->close_after_flush) continue;
    if (conn_process(c, LINES_PER_TURN)) {
      hp_daemon_kick(d);
      continue;
    }
    if (c->closing || c->close_after_flush) continue;
    c->paused = false;
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0) conn_close(c);
  }
}

/* ---- accept ---------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
  hp_daemon_t *d = server->data;
  if (status < 0) {
    hp_log("accept: %s", uv_strerror(status));
    return;
  }
  hp_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    hp_log("accept: out of memory");
    return;
  }
  c->d = d;
  c->id = ++d->next_conn_id;
  c->sub_study = -1;
  uv_pipe_init(d->loop, &c->pipe, 0);
  c->pipe.data = c;
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->n_conns++;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
    conn_close(c);
    return;
  }
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t clen = sizeof cred;
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
    hp_log("connection %llu: cannot read peer credentials; closing", (unsigned long long)c->id);
    conn_close(c);
    return;
  }
  c->pid = cred.pid;
  if (cred.uid != getuid()) {
    char msg[160];
    snprintf(msg, sizeof msg, "permission denied: peer uid %u is not the daemon's uid %u",
             (unsigned)cred.uid, (unsigned)getuid());
    hp_log("connection %llu (pid %d): %s", (unsigned long long)c->id, (int)cred.pid, msg);
    hp_rpc_send_error(c, NULL, HP_EPERM, msg);
    c->close_after_flush = true;
    hp_daemon_kick(d);
    return;
  }
  if (d->shutting_down) {
    hp_rpc_send_error(c, NULL, HP_ESHUTDOWN, "daemon is shutting down");
    c->close_after_flush = true;
    hp_daemon_kick(d);
    return;
  }
  int rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  if (rc < 0) conn_close(c);
}

/* ---- batch, events, scheduling ------------------------------------------------------ */

int hp_daemon_batch(hp_daemon_t *d, hp_err_t *err) {
  if (hp_store_in_batch(d->store)) return 0;
  int rc = hp_store_begin(d->store, err);
  if (rc == 0) d->batch_seq++;
  return rc;
}

void hp_daemon_batch_settled(hp_daemon_t *d) {
  if (!hp_store_in_batch(d->store) || !hp_store_batch_settled(d->store)) return;
  for (hp_conn_t *c = d->conns; c; c = c->next) {
    c->out_settled = c->out_len;
    cJSON_Delete(c->batch_ids);
    c->batch_ids = NULL;
  }
}

bool hp_daemon_wants_events(const hp_daemon_t *d, int64_t study_id) {
  if (d->n_subscribers == 0) return false;
  for (const hp_conn_t *c = d->conns; c; c = c->next)
    if (c->subscribed && (c->sub_study < 0 || c->sub_study == study_id)) return true;
  return false;
}

void hp_daemon_event(hp_daemon_t *d, int64_t study_id, cJSON *params) {
  bool any = false;
  for (hp_conn_t *c = d->conns; c; c = c->next)
    if (c->subscribed && (c->sub_study < 0 || c->sub_study == study_id || study_id < 0)) any = true;
  if (!any) {
    cJSON_Delete(params);
    return;
  }
  cJSON *msg = cJSON_CreateObject();
  if (msg == NULL) {
    cJSON_Delete(params);
    return;
  }
  cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
  cJSON_AddStringToObject(msg, "method", HP_RPC_EVENT);
  cJSON_AddItemToObject(msg, "params", params);
  int n = hp_daemon_print(d, msg);
  cJSON_Delete(msg);
  if (n < 0) return;
  hp_conn_t *next;
  for (hp_conn_t *c = d->conns; c; c = next) {
    next = c->next; /* hp_conn_send may close c */
    if (c->subscribed && (c->sub_study < 0 || c->sub_study == study_id || study_id < 0))
      hp_conn_send(c, d->scratch, (size_t)n);
  }
  hp_daemon_kick(d);
}

static void on_idle(uv_idle_t *h) { (void)h; }

void hp_daemon_kick(hp_daemon_t *d) {
  d->sched_pending = true;
  if (!d->closed) uv_idle_start(&d->idle, on_idle);
}

static void daemon_close_handles(hp_daemon_t *d);

/* The batch did not commit: no reply or event of this loop iteration may go
 * out as it is. Each request answered in it gets an error instead, saying
 * what happened (events are dropped: they told of changes now undone). */
static void conns_batch_failed(hp_daemon_t *d, bool undone, const char *why) {
  const char *what = undone ? "a write failed and this round was rolled back"
                            : "database commit failed";
  char msg[HP_ERR_MSG_MAX + 200];
  snprintf(msg, sizeof msg,
           "%s: %s; this request's changes were not stored (a finished trial it reported is "
           "kept by the daemon and written when the database can be written again)",
           what, why);
  hp_log("%s: %s; the replies of this round become errors", what, why);
  hp_conn_t *next;
  for (hp_conn_t *c = d->conns; c; c = next) {
    next = c->next;
    if (c->closing) continue;
    c->out_len = c->out_settled; /* what was committed before stays */
    cJSON *ids = c->batch_ids;
    c->batch_ids = NULL;
    for (const cJSON *id = ids ? ids->child : NULL; id && !c->closing; id = id->next)
      hp_rpc_send_error(c, id, HP_EDB, msg);
    cJSON_Delete(ids);
  }
}

/* After the I/O of one loop iteration: start trials, commit everything
 * written in this iteration, then let the replies and events go. */
static void on_check(uv_check_t *h) {
  hp_daemon_t *d = h->data;
  if (d->closed) return;
  uv_idle_stop(&d->idle);
  conns_resume(d);
  if (d->sched_pending) {
    d->sched_pending = false;
    if (!d->shutting_down) hp_sched_run(d);
  }
  if (hp_store_in_batch(d->store) || d->store_failed) {
    hp_err_t err = {0};
    bool committed, undone = d->batch_undo.code != 0 && hp_store_in_batch(d->store);
    if (undone) {
      err = d->batch_undo; /* half a request must not be stored */
      committed = false;
    } else {
      committed = !hp_store_in_batch(d->store) || hp_store_commit(d->store, &err) == 0;
    }
    hp_err_clear(&d->batch_undo);
    if (!committed) {
      hp_store_rollback(d->store);
      conns_batch_failed(d, undone, err.msg);
    }
    /* A failed commit, or a write that failed inside a committed batch:
     * memory is brought back to what the database holds. */
    hp_sched_batch_done(d, committed, committed ? "a write failed" : err.msg);
  }
  for (hp_conn_t *c = d->conns; c; c = c->next) {
    cJSON_Delete(c->batch_ids);
    c->batch_ids = NULL;
    c->out_settled = 0;
  }
  hp_conn_t *next;
  for (hp_conn_t *c = d->conns; c; c = next) {
    next = c->next;
    if (c->out_len > 0 || c->close_after_flush) conn_flush(c);
  }
  d->synced = false; /* the batch is over: others may commit again */
  if (d->scratch_cap > (8u << 20)) {
    free(d->scratch); /* grown for one huge message: give it back */
    d->scratch = NULL;
    d->scratch_cap = 0;
  }
  hp_sched_check(d); /* ASan build: every loop iteration ends consistent */
  if (d->shutting_down && d->n_workers == 0) daemon_close_handles(d);
}

/* ---- shutdown ------------------------------------------------------------------------- */

static void on_close_noop(uv_handle_t *h) { (void)h; }

/* Removes the socket file only while it is the one this daemon bound: once
 * the listener is closed a new daemon may already have bound the path. */
static void unlink_own_socket(hp_daemon_t *d) {
  struct stat st;
  if (d->sock_ino != 0 && lstat(d->socket_path, &st) == 0 && st.st_ino == d->sock_ino &&
      st.st_dev == d->sock_dev)
    unlink(d->socket_path);
  d->sock_ino = 0;
}

/* Connections whose output is all written stay open (not reading) until the
 * database is closed: `hpsearch shutdown` waits for EOF and then expects a
 * closed, checkpointed database. The others are closed now. */
static void daemon_close_handles(hp_daemon_t *d) {
  if (d->closed) return;
  d->closed = true;
  hp_conn_t *next;
  for (hp_conn_t *c = d->conns; c; c = next) {
    next = c->next;
    conn_flush(c);
    if (c->closing) continue;
    if (c->inflight == 0 && c->out_len == 0) {
      uv_read_stop((uv_stream_t *)&c->pipe);
      c->paused = false;
    } else {
      conn_close(c);
    }
  }
  if (d->listener_open) {
    uv_close((uv_handle_t *)&d->listener, on_close_noop);
    d->listener_open = false;
  }
  hp_slurm_close(d); /* jobs go on under Slurm; the next start adopts them */
  uv_close((uv_handle_t *)&d->sig_term, on_close_noop);
  uv_close((uv_handle_t *)&d->sig_int, on_close_noop);
  uv_close((uv_handle_t *)&d->sig_hup, on_close_noop);
  uv_close((uv_handle_t *)&d->check, on_close_noop);
  uv_close((uv_handle_t *)&d->idle, on_close_noop);
  uv_close((uv_handle_t *)&d->tick, on_close_noop);
  uv_close((uv_handle_t *)&d->wake, on_close_noop);
}

void hp_daemon_shutdown(hp_daemon_t *d, const char *why) {
  if (d->shutting_down) return;
  d->shutting_down = true;
  d->t_shutdown = hp_now_mono();
  hp_log("shutting down (%s): %d worker(s) to stop", why, d->n_workers);
  if (d->listener_open) {
    uv_close((uv_handle_t *)&d->listener, on_close_noop);
    d->listener_open = false;
    unlink_own_socket(d);
  }
  cJSON *ev = cJSON_CreateObject();
  if (ev) {
    cJSON_AddStringToObject(ev, "type", HP_RPC_EV_SHUTDOWN);
    hp_daemon_event(d, -1, ev);
  }
  hp_sched_save_budgets(d);
  hp_sched_kill_all(d, "daemon shutdown");
  hp_daemon_kick(d);
}

static void on_signal(uv_signal_t *h, int signum) {
  hp_daemon_t *d = h->data;
  if (d->shutting_down) {
    hp_log("second signal %d: exiting now", signum);
    /* Workers are killed by pgid already; their trials are reconciled at the
     * next start. */
    d->exit_code = 1;
    daemon_close_handles(d);
    return;
  }
  hp_daemon_shutdown(d, signum == SIGTERM ? "SIGTERM" : signum == SIGINT ? "SIGINT" : "SIGHUP");
}

static void on_tick(uv_timer_t *h) {
  hp_daemon_t *d = h->data;
  if (d->shutting_down) {
    if (hp_now_mono() - d->t_shutdown > SHUTDOWN_GRACE) {
      hp_log("workers did not exit within %.0f s; leaving them to the next start",
             SHUTDOWN_GRACE);
      daemon_close_handles(d);
    }
    hp_worker_reap_strays(d);
    return;
  }
  hp_worker_reap_strays(d);
  hp_sched_tick(d);
}

static void on_wake(uv_timer_t *h) {
  hp_daemon_t *d = h->data;
  if (!d->shutting_down) hp_sched_retry(d);
}

void hp_daemon_wake_at(hp_daemon_t *d, double t) {
  if (d->closed) return;
  double ms = (t - hp_now_mono()) * 1000.0;
  uv_timer_start(&d->wake, on_wake, ms > 0 ? (uint64_t)ms + 1 : 0, 0);
}

/* ---- options ---------------------------------------------------------------------------------- */

/* --executor JSON: checked as a spec's "executor" (the one parser), kept for
 * m_study_create. */
static int default_executor(hp_daemon_t *d, const char *text, hp_err_t *err) {
  static const char PROBE[] = "{\"name\": \"probe\", \"n_trials\": 1, \"space\": {\"x\": "
                              "{\"type\": \"categorical\", \"choices\": [0]}}, "
                              "\"objective\": {\"command\": [\"true\"]}}";
  cJSON *ex = NULL, *probe = NULL;
  hp_study_spec_t *sp = NULL;
  int rc = hp_json_parse(text, strlen(text), "--executor", &ex, err);
  if (rc == 0) rc = hp_json_parse(PROBE, strlen(PROBE), "probe", &probe, err);
  if (rc == 0 && !cJSON_AddItemToObject(probe, "executor", cJSON_Duplicate(ex, true)))
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc == 0 && (rc = hp_study_spec_parse(probe, &sp, err)) == 0)
    rc = hp_study_spec_check_create(sp, err);
  if (rc < 0 && err->msg[0] && strncmp(err->msg, "--executor", 10) != 0)
    hp_err_prefix(err, "--executor");
  hp_study_spec_free(sp);
  cJSON_Delete(probe);
  if (rc < 0) {
    cJSON_Delete(ex);
    return rc;
  }
  d->default_executor = ex;
  return 0;
}

/* ---- socket setup ------------------------------------------------------------------------ */

/* Makes the socket's folder: created 0700 if missing; an existing folder must
 * be ours and, when it is one of hpsearch's own default folders, not open
 * to others (made 0700). */
static int prepare_folder(const char *sock, bool own_folder, hp_err_t *err) {
  char dir[108];
  snprintf(dir, sizeof dir, "%s", sock);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) return 0; /* relative name in the working folder */
  if (slash == dir) return 0;  /* in / */
  *slash = '\0';
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return hp_err_set(err, -errno, "socket folder %s: %s", dir, strerror(errno));
  struct stat st;
  if (lstat(dir, &st) < 0) return hp_err_set(err, -errno, "socket folder %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return hp_err_set(err, HP_EINVAL, "socket folder %s is not a folder", dir);
  if (own_folder) {
    if (st.st_uid != getuid())
      return hp_err_set(err, HP_EINVAL, "socket folder %s belongs to uid %u, not to us (%u)", dir,
                        (unsigned)st.st_uid, (unsigned)getuid());
    if ((st.st_mode & 0077) != 0 && chmod(dir, 0700) < 0)
      return hp_err_set(err, -errno, "socket folder %s: chmod 0700: %s", dir, strerror(errno));
  }
  return 0;
}

/* Whether a daemon answers on the socket path: 1 (err says so), 0 when
 * there is no socket file or nothing answers (a daemon that was killed left
 * it), < 0 for a path that is not a socket or cannot be probed. Changes
 * nothing. */
static int socket_in_use(const char *path, hp_err_t *err) {
  struct stat st;
  if (lstat(path, &st) < 0) return 0;
  if (!S_ISSOCK(st.st_mode))
    return hp_err_set(err, HP_EEXIST, "%s exists and is not a socket; not touching it", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return hp_err_set(err, -errno, "socket: %s", strerror(errno));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  if (rc == 0) {
    hp_err_set(err, HP_EBUSY,
               "another hpsearch daemon is already running on %s (stop it with "
               "'hpsearch shutdown --socket %s', or use another --socket)",
               path, path);
    return 1;
  }
  if (e != ECONNREFUSED && e != ENOENT) return hp_err_set(err, -e, "%s: %s", path, strerror(e));
  return 0;
}

/* A socket file left by a daemon that died is removed; one that answers
 * belongs to a running daemon and we refuse to start. */
static int handle_existing_socket(const char *path, hp_err_t *err) {
  int rc = socket_in_use(path, err);
  if (rc != 0) return rc < 0 ? rc : HP_EBUSY;
  struct stat st;
  if (lstat(path, &st) < 0) return 0;
  hp_log("removing stale socket %s", path);
  if (unlink(path) < 0 && errno != ENOENT)
    return hp_err_set(err, -errno, "cannot remove stale socket %s: %s", path, strerror(errno));
  return 0;
}

static int listen_socket(hp_daemon_t *d, bool own_folder, hp_err_t *err) {
  int rc = prepare_folder(d->socket_path, own_folder, err);
  if (rc < 0) return rc;
  rc = handle_existing_socket(d->socket_path, err);
  if (rc < 0) return rc;
  uv_pipe_init(d->loop, &d->listener, 0);
  d->listener.data = d;
  d->listener_open = true;
  /* The socket is born 0600: no window where another user could connect. */
  mode_t old = umask(0177);
  rc = uv_pipe_bind(&d->listener, d->socket_path);
  umask(old);
  if (rc < 0) return hp_err_set(err, rc, "bind %s: %s", d->socket_path, uv_strerror(rc));
  struct stat st;
  if (lstat(d->socket_path, &st) < 0)
    return hp_err_set(err, -errno, "%s: %s", d->socket_path, strerror(errno));
  d->sock_dev = st.st_dev;
  d->sock_ino = st.st_ino;
  if (chmod(d->socket_path, 0600) < 0)
    return hp_err_set(err, -errno, "chmod %s: %s", d->socket_path, strerror(errno));
  rc = uv_listen((uv_stream_t *)&d->listener, 1024, on_connection);
  if (rc < 0) return hp_err_set(err, rc, "listen %s: %s", d->socket_path, uv_strerror(rc));
  return 0;
}

static void read_boot_id(char *buf, size_t len) {
  buf[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f == NULL) return;
  if (fgets(buf, (int)len, f) == NULL) buf[0] = '\0';
  fclose(f);
  buf[strcspn(buf, "\n")] = '\0';
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Opens the database. `schema` ("3.1", "3.2" or NULL) picks the Optuna
 * schema of a new file; an explicit one must match an existing file, which
 * is never upgraded behind the user's back (`hpsearch db upgrade` does). */
static int open_store(hp_daemon_t *d, const char *schema, hp_err_t *err) {
  bool v31 = schema && strcmp(schema, "3.1") == 0;
  if (schema && !v31 && strcmp(schema, "3.2") != 0)
    return hp_err_set(err, HP_EINVAL, "--optuna-schema: expected 3.1 or 3.2, got '%s'", schema);
  int rc = hp_store_open(d->db_path, v31 ? HP_STORE_CREATE_V31 : 0, &d->store, err);
  if (rc < 0) return rc;
  const char *want = v31 ? "v3.0.0.d" : "v3.2.0.a", *have = hp_store_revision(d->store);
  if (schema && strcmp(have, want) != 0) {
    rc = hp_err_set(err, HP_EFORMAT,
                    "--optuna-schema %s: %s already exists at alembic revision %s (%s); "
                    "hpsearch keeps a file's revision%s",
                    schema, d->db_path, have,
                    v31 ? "Optuna 3.1 cannot read it" : "what Optuna 3.1 reads",
                    v31 ? "" : " (`hpsearch db upgrade FILE` moves it to v3.2.0.a)");
    hp_store_close(d->store);
    d->store = NULL;
    return rc;
  }
  return HP_OK;
}

int hp_daemon_run(const hp_daemon_opts_t *opts, hp_err_t *err) {
  hp_daemon_t *d = calloc(1, sizeof *d);
  if (d == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = 0;
  /* Only hpsearch's own default folders ($XDG_RUNTIME_DIR/hpsearch,
   * /tmp/hpsearch-UID) are made private; a folder the user named, with
   * --socket or $HPSEARCH_SOCKET (say /tmp itself), keeps its mode. */
  const char *env_sock = getenv("HPSEARCH_SOCKET");
  bool is_default = opts->socket_path == NULL;
  bool own_folder = is_default && (env_sock == NULL || env_sock[0] == '\0');
  d->dblock.fd = -1;
  g_daemon = d;
  d->jobs = opts->jobs > 0 ? opts->jobs : 1;
  d->t_boot = hp_now_mono();
  d->rr_last = -1;
  read_boot_id(d->boot_id, sizeof d->boot_id);
  signal(SIGPIPE, SIG_IGN);
  if (is_default) {
    rc = hp_rpc_default_socket_path(d->socket_path, sizeof d->socket_path);
    if (rc < 0) {
      hp_err_set(err, rc, "default socket path too long; use --socket");
      goto fail_free;
    }
  } else if (strlen(opts->socket_path) >= sizeof d->socket_path) {
    rc = hp_err_set(err, HP_ETOOBIG, "--socket: path longer than %zu bytes",
                    sizeof d->socket_path - 1);
    goto fail_free;
  } else {
    snprintf(d->socket_path, sizeof d->socket_path, "%s", opts->socket_path);
  }
  char exe[4096];
  size_t exe_len = sizeof exe;
  if (opts->worker_exe) snprintf(exe, sizeof exe, "%s", opts->worker_exe);
  else if (uv_exepath(exe, &exe_len) < 0) snprintf(exe, sizeof exe, "hpsearch");
  d->worker_exe = strdup(exe);
  if (opts->worker_addr && (d->worker_addr = strdup(opts->worker_addr)) == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail_free;
  }
  if (opts->executor && (rc = default_executor(d, opts->executor, err)) < 0) goto fail_free;
  d->db_path = strdup(opts->db_path ? opts->db_path : "hpsearch.db");
  if (d->worker_exe == NULL || d->db_path == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail_free;
  }

  d->loop = malloc(sizeof *d->loop);
  if (d->loop == NULL || uv_loop_init(d->loop) < 0) {
    free(d->loop);
    d->loop = NULL;
    rc = hp_err_set(err, HP_ENOMEM, "cannot create the event loop");
    goto fail_free;
  }
  /* Refuse before touching anything when another daemon answers on the
   * socket or owns the database (docs/daemon.md, "One daemon per
   * database"): no stale socket removed, no file written, nothing
   * reconciled. */
  rc = socket_in_use(d->socket_path, err);
  if (rc != 0) {
    if (rc > 0) rc = HP_EBUSY;
    goto fail_loop;
  }
  /* A file has one owning daemon; a PostgreSQL database is shared by
   * several, which claim trials under row locks (docs/scale-out.md). */
  bool file_db = !hp_store_is_url(d->db_path);
  rc = file_db ? hp_dblock_acquire(&d->dblock, d->db_path, err) : 0;
  if (rc < 0) goto fail_loop;
  rc = listen_socket(d, own_folder, err);
  if (rc < 0) goto fail_listen;
  hp_err_t werr = {0};
  if (file_db && hp_dblock_publish(&d->dblock, d->db_path, d->socket_path, &werr) < 0)
    hp_log("%s (a daemon refused on this database will not know the socket)", werr.msg);

  rc = open_store(d, opts->optuna_schema, err);
  if (rc < 0) goto fail_listen;
  hp_worker_reaper_init(d);
  rc = hp_sched_load(d, err);
  if (rc < 0) goto fail_store;

  uv_check_init(d->loop, &d->check);
  d->check.data = d;
  uv_check_start(&d->check, on_check);
  uv_idle_init(d->loop, &d->idle);
  d->idle.data = d;
  uv_timer_init(d->loop, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, on_tick, 1000, 1000);
  uv_timer_init(d->loop, &d->wake);
  d->wake.data = d;
  uv_signal_init(d->loop, &d->sig_term);
  uv_signal_init(d->loop, &d->sig_int);
  uv_signal_init(d->loop, &d->sig_hup);
  d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
  /* A file size limit (ulimit -f) must give the database a write error, not
   * kill the daemon (workers get the default back from uv_spawn). */
  signal(SIGXFSZ, SIG_IGN);

  hp_log("pid %d listening on %s, database %s (Optuna schema %s), %d job%s, %d stud%s",
         (int)getpid(), d->socket_path, d->db_path, hp_store_revision(d->store), d->jobs,
         hp_plural(d->jobs), d->n_studies, d->n_studies == 1 ? "y" : "ies");
  hp_daemon_kick(d);
  uv_run(d->loop, UV_RUN_DEFAULT);

  /* Commit whatever the last iteration wrote (shutdown FAIL records), and
   * give trial ends still waiting for the database a last attempt. */
  hp_sched_rewrite(d);
  if (hp_store_in_batch(d->store)) {
    hp_err_t cerr = {0};
    if (hp_store_commit(d->store, &cerr) < 0) {
      hp_store_rollback(d->store);
      hp_log("final commit failed: %s", cerr.msg);
      hp_sched_batch_done(d, false, cerr.msg);
    } else {
      hp_sched_batch_done(d, true, "a write failed");
    }
  }
  size_t lost = 0;
  for (hp_run_t *r = d->unstored; r; r = r->next_end) lost++;
  if (lost > 0)
    hp_log("%zu trial end(s) could not be stored: those trials stay RUNNING in the database "
           "and are marked FAIL (\"daemon restarted\") at the next start",
           lost);
  hp_sched_free(d);
  hp_store_close(d->store);
  hp_dblock_release(&d->dblock);
  unlink_own_socket(d);
  /* Only now the clients waiting for the end see EOF. */
  hp_conn_t *cnext;
  for (hp_conn_t *c = d->conns; c; c = cnext) {
    cnext = c->next;
    conn_close(c);
  }
  uv_walk(d->loop, walk_close, NULL);
  uv_run(d->loop, UV_RUN_DEFAULT);
  uv_loop_close(d->loop);
  hp_slurm_free(d);
  rc = d->exit_code;
  hp_log("stopped");
  goto done;

fail_store:
  hp_slurm_close(d);
  hp_sched_free(d);
  hp_store_close(d->store);
fail_listen:
  if (d->listener_open) {
    uv_close((uv_handle_t *)&d->listener, NULL);
    unlink_own_socket(d);
  }
  hp_dblock_release(&d->dblock);
fail_loop:
  hp_slurm_close(d);
  uv_walk(d->loop, walk_close, NULL);
  uv_run(d->loop, UV_RUN_DEFAULT);
  uv_loop_close(d->loop);
  hp_slurm_free(d);
done:
  free(d->loop);
fail_free:
  free(d->foreign);
  free(d->scratch);
  free(d->worker_exe);
  free(d->worker_addr);
  cJSON_Delete(d->default_executor);
  free(d->db_path);
  free(d);
  g_daemon = NULL;
  return rc;
}

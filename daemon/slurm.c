/* The Slurm executor: a study with "executor": {"type": "slurm", ...} runs
 * each trial as one Slurm job. The job script runs `hpsearch job -- WORKER`
 * (the relay, daemon/job_relay.c), which starts the same worker a local
 * trial runs and sends its stdout and stderr lines back over TCP to this
 * daemon, authenticated by a random token that names one trial. The job's
 * state is read with squeue on a timer (child processes through libuv, never
 * blocking the loop); a trial the daemon ends (pruned, stopped, timed out)
 * gets scancel. Slurm's client commands are run, not libslurm: Debian's
 * libslurm changes its ABI with every Slurm release, while sbatch, squeue
 * and scancel keep their options. docs/daemon.md, "Trials as Slurm jobs". */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"
#include "hpsearch/utf8.h"

/* Seconds between squeue polls while jobs run; sooner after a relay said its
 * worker was signalled (the job is ending). */
#define POLL_S 1.0
#define POLL_SOON_S 0.2
/* A job squeue no longer lists after this many polls is looked up once
 * more (sacct) and then given up as of unknown end. */
#define POLL_MISSES 3
/* A connection must present its token within this many seconds. */
#define HELLO_S 10.0
/* Longest line accepted from a relay (a worker line plus its tag). */
#define LINK_LINE_MAX ((64u << 10) + 16)
/* Connections that have not presented a token yet, at most. */
#define UNAUTH_MAX 64
/* scancel again when a cancelled job still runs after this many seconds. */
#define CANCEL_AGAIN_S 30.0

typedef struct hp_job hp_job_t;
typedef struct hp_link hp_link_t;
typedef struct hp_cmd hp_cmd_t;

/* One trial's job. */
struct hp_job {
  hp_worker_t *w;           /* the trial's worker record (owner of this job) */
  hp_job_t *prev, *next;    /* sl->jobs */
  char id[32];              /* Slurm job id; "" until sbatch answered */
  char token[33];           /* 128 random bits in hex: what its relay presents */
  char state[32];           /* last state squeue gave */
  hp_cmd_t *submit;         /* sbatch in flight, or NULL */
  hp_link_t *link;          /* its relay's connection, or NULL */
  int64_t lines_in;         /* stdout lines received from its relay (where a reconnected
                               relay resumes) */
  hp_slurm_t *sl;           /* the executor */
  int64_t study_id;         /* its trial's study */
  bool adopted;             /* taken over from a previous daemon at start */
  bool linked_once;         /* a relay connected at least once */
  bool cancel;              /* the daemon ended the trial: scancel */
  double t_cancel;          /* monotonic time of the last scancel, 0 = none sent */
  bool relay_termed;        /* its relay reported the worker's end after a signal (Slurm
                               is ending the job): the end waits for Slurm's state */
  int misses;               /* polls in a row that did not list it */
  double t_submit;          /* monotonic time sbatch was started (0 for an adopted job) */
};

/* A TCP connection from a relay. */
struct hp_link {
  uv_tcp_t tcp;             /* tcp.data = this */
  uv_timer_t hello;         /* closes a connection that presents no token */
  hp_slurm_t *sl;
  hp_link_t *prev, *next;   /* sl->links */
  hp_job_t *job;            /* the job it authenticated for, or NULL */
  int64_t trial_id;         /* that job's trial (kept for the end's acknowledgement) */
  bool authed;
  bool closing;
  bool ack_wait;            /* its relay reported the worker's exit: waits for "done" */
  int open;                 /* handles not closed yet */
  hp_linebuf_t in;          /* received bytes, a partial line */
};

/* A child command (sbatch, squeue, scancel, sacct) and what it printed. */
struct hp_cmd {
  uv_process_t proc;
  uv_pipe_t in, out, err;
  hp_slurm_t *sl;
  hp_cmd_t *prev, *next;    /* sl->cmds */
  void (*done)(hp_cmd_t *c);
  hp_job_t *job;            /* sbatch: the job it submits (cleared if the job goes) */
  int open;                 /* handles not closed yet */
  bool exited, out_eof, err_eof, finished;
  int64_t status;
  int term_signal;
  char *input;              /* stdin text (the job script), owned */
  uv_write_t wreq;
  uv_shutdown_t sreq;
  hp_linebuf_t text;        /* stdout, NUL-terminated (text.buf) */
  char err_text[512];       /* stderr tail */
  char what[64];            /* for logs: "sbatch of trial 12" */
};

/* The job of a trial this daemon failed for a stopped peer: cancelled once
 * the batch that failed the trial commits (hp_slurm_batch_done). */
typedef struct hp_cancel_later {
  struct hp_cancel_later *next;
  int64_t number;
  char id[32];      /* Slurm job id (digits) */
  char filter[112]; /* --name=STUDY.tN */
} hp_cancel_later_t;

struct hp_slurm {
  hp_daemon_t *d;
  uv_tcp_t listener;
  bool listening;
  bool listener_closing;    /* a listener that failed to start is being closed */
  char addr[300];           /* HOST:PORT the relays connect to */
  uv_timer_t poll;
  bool poll_init;
  hp_cmd_t *poll_cmd;       /* squeue in flight, or NULL */
  hp_job_t *jobs;
  hp_link_t *links;
  int n_unauth;
  hp_cmd_t *cmds;
  bool closed;
  bool warned_squeue;       /* squeue failed: said once until it works again */
  hp_cancel_later_t *cancels; /* scancels waiting for the open batch's commit */
};

static void poll_schedule(hp_slurm_t *sl, double secs);

/* ---- child commands ------------------------------------------------------------------ */

static void cmd_closed(uv_handle_t *h) {
  hp_cmd_t *c = h->data;
  if (--c->open > 0) return;
  free(c->input);
  free(c->text.buf);
  free(c);
}

static void cmd_maybe_done(hp_cmd_t *c) {
  if (c->finished || !c->exited || !c->out_eof || !c->err_eof) return;
  c->finished = true;
  if (c->prev) c->prev->next = c->next;
  else c->sl->cmds = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->done && !c->sl->closed) c->done(c);
  uv_close((uv_handle_t *)&c->proc, cmd_closed);
  uv_close((uv_handle_t *)&c->out, cmd_closed);
  uv_close((uv_handle_t *)&c->err, cmd_closed);
  uv_close((uv_handle_t *)&c->in, cmd_closed);
}

static void cmd_exit(uv_process_t *p, int64_t status, int sig) {
  hp_cmd_t *c = p->data;
  c->exited = true;
  c->status = status;
  c->term_signal = sig;
  cmd_maybe_done(c);
}

static void cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  hp_cmd_t *c = h->data;
  (void)suggested;
  if ((uv_pipe_t *)h == &c->err) {
    static char scratch[1024];
    *buf = uv_buf_init(scratch, sizeof scratch);
    return;
  }
  hp_linebuf_alloc(&c->text, 64u << 20, buf);
}

static void cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hp_cmd_t *c = s->data;
  bool is_err = (uv_pipe_t *)s == &c->err;
  if (n < 0) {
    uv_read_stop(s);
    if (is_err) c->err_eof = true;
    else c->out_eof = true;
    cmd_maybe_done(c);
    return;
  }
  if (is_err) {
    hp_tail_append(c->err_text, sizeof c->err_text, buf->base, (size_t)n);
  } else {
    c->text.len += (size_t)n;
    c->text.buf[c->text.len] = '\0'; /* hp_linebuf_alloc keeps a byte for it */
  }
}

static void cmd_written(uv_write_t *req, int status) {
  hp_cmd_t *c = req->data;
  (void)status;
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->in, NULL) < 0) {}
}

/* Runs argv (env NULL: the daemon's) with input on stdin; done is called
 * with what it printed once it exited and its output is read. */
static int cmd_run(hp_slurm_t *sl, char **argv, char **env, const char *input, const char *what,
                   void (*done)(hp_cmd_t *c), hp_cmd_t **out, hp_err_t *err) {
  hp_daemon_t *d = sl->d;
  hp_cmd_t *c = calloc(1, sizeof *c);
  if (c == NULL || (input && (c->input = strdup(input)) == NULL) ||
      (c->text.buf = malloc(1)) == NULL) {
    if (c) free(c->input);
    free(c);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  c->text.buf[0] = '\0';
  c->sl = sl;
  c->done = done;
  snprintf(c->what, sizeof c->what, "%s", what);
  uv_pipe_init(d->loop, &c->in, 0);
  uv_pipe_init(d->loop, &c->out, 0);
  uv_pipe_init(d->loop, &c->err, 0);
  c->proc.data = c->in.data = c->out.data = c->err.data = c;
  c->wreq.data = c;
  c->open = 4;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&c->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&c->err;
  uv_process_options_t o = {0};
  o.exit_cb = cmd_exit;
  o.file = argv[0];
  o.args = argv;
  o.env = env;
  o.stdio_count = 3;
  o.stdio = stdio;
  int rc = uv_spawn(d->loop, &c->proc, &o);
  if (rc < 0) {
    hp_err_set(err, rc, "%s: %s", argv[0], uv_strerror(rc));
    c->finished = true;
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->out, cmd_closed);
    uv_close((uv_handle_t *)&c->err, cmd_closed);
    uv_close((uv_handle_t *)&c->in, cmd_closed);
    return rc;
  }
  c->next = sl->cmds;
  if (sl->cmds) sl->cmds->prev = c;
  sl->cmds = c;
  uv_read_start((uv_stream_t *)&c->out, cmd_alloc, cmd_read);
  uv_read_start((uv_stream_t *)&c->err, cmd_alloc, cmd_read);
  if (c->input) {
    uv_buf_t b = uv_buf_init(c->input, (unsigned)strlen(c->input));
    if (uv_write(&c->wreq, (uv_stream_t *)&c->in, &b, 1, cmd_written) < 0) cmd_written(&c->wreq, -1);
  } else {
    cmd_written(&c->wreq, 0);
  }
  if (out) *out = c;
  return 0;
}

/* The last line of a command's stderr, for reasons. */
static const char *cmd_err_line(hp_cmd_t *c, char *buf, size_t cap) {
  size_t n = strlen(c->err_text);
  while (n > 0 && isspace((unsigned char)c->err_text[n - 1])) n--;
  size_t s = n;
  while (s > 0 && c->err_text[s - 1] != '\n') s--;
  hp_utf8_clean(buf, cap, c->err_text + s, n - s);
  return buf;
}

bool hp_slurm_owns_pid(const hp_daemon_t *d, pid_t pid) {
  for (const hp_cmd_t *c = d->slurm ? d->slurm->cmds : NULL; c; c = c->next)
    if (c->proc.pid == pid) return true;
  return false;
}

/* ---- the executor's state ---------------------------------------------------------------- */

static void on_poll(uv_timer_t *t);

static hp_slurm_t *slurm_get(hp_daemon_t *d) {
  if (d->slurm) return d->slurm;
  hp_slurm_t *sl = calloc(1, sizeof *sl);
  if (sl == NULL) return NULL;
  sl->d = d;
  uv_timer_init(d->loop, &sl->poll);
  sl->poll.data = sl;
  sl->poll_init = true;
  d->slurm = sl;
  return sl;
}

/* j becomes w's job, in sl->jobs. */
static void job_list(hp_slurm_t *sl, hp_job_t *j, hp_worker_t *w) {
  w->job = j;
  j->w = w;
  j->sl = sl;
  j->study_id = w->run->study_id;
  j->next = sl->jobs;
  if (sl->jobs) sl->jobs->prev = j;
  sl->jobs = j;
}

static void job_unlist(hp_slurm_t *sl, hp_job_t *j) {
  if (j->prev) j->prev->next = j->next;
  else if (sl->jobs == j) sl->jobs = j->next;
  if (j->next) j->next->prev = j->prev;
  j->prev = j->next = NULL;
}

/* ---- connections from relays --------------------------------------------------------------- */

static void link_closed(uv_handle_t *h) {
  hp_link_t *l = h->data;
  if (--l->open > 0) return;
  free(l->in.buf);
  free(l);
}

static void link_close(hp_link_t *l) {
  if (l->closing) return;
  l->closing = true;
  hp_slurm_t *sl = l->sl;
  if (l->prev) l->prev->next = l->next;
  else if (sl->links == l) sl->links = l->next;
  if (l->next) l->next->prev = l->prev;
  if (!l->authed) sl->n_unauth--;
  hp_job_t *j = l->job;
  l->job = NULL;
  if (j && j->link == l) {
    j->link = NULL;
    /* The job ended already (squeue said so): nothing more will come. */
    if (j->w && j->w->exited && !j->w->out_eof) {
      j->w->out_eof = true;
      hp_worker_maybe_done(j->w);
    }
  }
  uv_close((uv_handle_t *)&l->tcp, link_closed);
  uv_close((uv_handle_t *)&l->hello, link_closed);
}

typedef struct link_write {
  uv_write_t req;
  hp_link_t *l;
  bool close_after;
  char text[];
} link_write_t;

static void link_written(uv_write_t *req, int status) {
  link_write_t *lw = req->data;
  if ((status < 0 || lw->close_after) && !lw->l->closing) link_close(lw->l);
  free(lw);
}

static void link_send(hp_link_t *l, const char *text, bool close_after) {
  if (l->closing) return;
  size_t n = strlen(text);
  link_write_t *lw = malloc(sizeof *lw + n + 2);
  if (lw == NULL) {
    link_close(l);
    return;
  }
  lw->req.data = lw;
  lw->l = l;
  lw->close_after = close_after;
  memcpy(lw->text, text, n);
  lw->text[n] = '\n';
  uv_buf_t b = uv_buf_init(lw->text, (unsigned)n + 1);
  if (uv_write(&lw->req, (uv_stream_t *)&l->tcp, &b, 1, link_written) < 0) {
    free(lw);
    link_close(l);
  }
}

static void link_refuse(hp_link_t *l, const char *why) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", why);
  char *t = o ? hp_json_print(o) : NULL;
  cJSON_Delete(o);
  if (t) link_send(l, t, true);
  else link_close(l);
  free(t);
}

/* Compares two tokens in time independent of where they differ. */
static bool token_equal(const char *a, const char *b) {
  size_t n = strlen(a);
  if (n != strlen(b) || n == 0) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

/* The first line: {"trial_id": N, "token": "HEX"}. Binds the connection to
 * that trial's job, or refuses it. */
static void link_hello(hp_link_t *l, char *line, size_t len) {
  hp_slurm_t *sl = l->sl;
  cJSON *msg = NULL;
  long long tid = 0;
  const char *token = NULL;
  hp_err_t err = {0};
  if (hp_json_parse(line, len, "hello", &msg, &err) < 0 || !cJSON_IsObject(msg) ||
      hp_json_get_int(msg, "trial_id", true, 1, (1LL << 53), &tid, "hello", &err) < 0 ||
      hp_json_get_string(msg, "token", true, &token, "hello", &err) < 0) {
    cJSON_Delete(msg);
    link_refuse(l, "expected {\"trial_id\": N, \"token\": \"...\"} first");
    return;
  }
  hp_job_t *job = NULL;
  for (hp_job_t *j = sl->jobs; j; j = j->next)
    if (j->w && j->w->run && j->w->run->trial_id == tid && token_equal(j->token, token)) {
      job = j;
      break;
    }
  cJSON_Delete(msg);
  if (job == NULL) {
    hp_log("slurm: refused a relay connection for trial %lld (no such running trial, or a "
           "wrong token)",
           tid);
    link_refuse(l, "no running trial with this id and token here (it ended, or the token is "
                   "wrong)");
    return;
  }
  if (job->link) link_close(job->link); /* a reconnected relay replaces its old connection */
  l->authed = true;
  sl->n_unauth--;
  uv_timer_stop(&l->hello);
  l->job = job;
  l->trial_id = tid;
  job->link = l;
  if (!job->linked_once) {
    job->linked_once = true;
    hp_worker_start_timeout(job->w); /* the trial's time runs from the job's start */
    if (job->w->run && job->t_submit > 0)
      hp_log("study '%s' trial %lld: Slurm job %s runs: its worker called %.2f s after sbatch",
             job->w->run->st->name, (long long)job->w->run->number, job->id,
             hp_now_mono() - job->t_submit);
  }
  char reply[64];
  snprintf(reply, sizeof reply, "{\"ok\": true, \"have\": %lld}", (long long)job->lines_in);
  link_send(l, reply, false);
}

/* A line of an authenticated relay: "o LINE" (worker stdout), "e TEXT"
 * (stderr), "x STATUS SIGNAL TERMED" (the worker exited). */
static void link_line(hp_link_t *l, char *line, size_t len) {
  if (!l->authed) {
    link_hello(l, line, len);
    return;
  }
  hp_job_t *j = l->job;
  hp_worker_t *w = j ? j->w : NULL;
  if (w == NULL || len < 1) return;
  char tag = line[0];
  char *rest = len >= 2 ? line + 2 : line + len;
  size_t rlen = len >= 2 ? len - 2 : 0;
  if (tag == 'o') {
    j->lines_in++;
    if (!w->out_eof) hp_worker_line(w, rest, rlen);
  } else if (tag == 'e') {
    char text[LINK_LINE_MAX];
    size_t n = rlen < sizeof text - 1 ? rlen : sizeof text - 1;
    memcpy(text, rest, n);
    text[n++] = '\n';
    hp_worker_stderr(w, text, n);
  } else if (tag == 'x') {
    long long status = 0;
    int sig = 0, termed = 0;
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(rlen < 95 ? rlen : 95), rest);
    if (sscanf(tmp, "%lld %d %d", &status, &sig, &termed) < 2) return;
    w->out_eof = true; /* every stdout line came before this one */
    if (termed) {
      /* Slurm signalled the job (scancel, time limit): its state names the end. */
      j->relay_termed = true;
      w->exit_status = status;
      w->term_signal = sig;
      poll_schedule(l->sl, POLL_SOON_S);
      return;
    }
    /* The worker ended by itself: the trial ends as a local one would, and
     * the relay hears "done" once that end is stored. */
    if (w->run) w->run->relay_ack = true;
    l->ack_wait = true;
    hp_worker_exited(w, status, sig);
  }
}

static void link_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  hp_link_t *l = h->data;
  (void)suggested;
  hp_linebuf_alloc(&l->in, 4 * LINK_LINE_MAX, buf);
}

static bool link_line_cb(void *ctx, char *line, size_t len) {
  hp_link_t *l = ctx;
  link_line(l, line, len);
  return !l->closing;
}

static void link_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hp_link_t *l = s->data;
  (void)buf;
  if (n < 0) {
    link_close(l);
    return;
  }
  if (hp_linebuf_feed(&l->in, (size_t)n, link_line_cb, l) < 0) return;
  if (l->in.len > LINK_LINE_MAX) {
    hp_log("slurm: a relay sent a line longer than %u bytes; closing its connection",
           LINK_LINE_MAX);
    link_close(l);
  }
}

static void on_hello_timeout(uv_timer_t *t) {
  hp_link_t *l = t->data;
  if (!l->authed) link_close(l);
}

static void on_connection(uv_stream_t *server, int status) {
  hp_slurm_t *sl = server->data;
  if (status < 0 || sl->closed) return;
  hp_link_t *l = calloc(1, sizeof *l);
  if (l == NULL) return;
  l->sl = sl;
  uv_tcp_init(sl->d->loop, &l->tcp);
  uv_timer_init(sl->d->loop, &l->hello);
  l->tcp.data = l->hello.data = l;
  l->open = 2;
  l->next = sl->links;
  if (sl->links) sl->links->prev = l;
  sl->links = l;
  sl->n_unauth++;
  if (uv_accept(server, (uv_stream_t *)&l->tcp) < 0 || sl->n_unauth > UNAUTH_MAX) {
    link_close(l);
    return;
  }
  uv_tcp_nodelay(&l->tcp, 1);
  uv_timer_start(&l->hello, on_hello_timeout, (uint64_t)(HELLO_S * 1000), 0);
  uv_read_start((uv_stream_t *)&l->tcp, link_alloc, link_read);
}

void hp_slurm_end_stored(hp_daemon_t *d, int64_t trial_id) {
  if (d->slurm == NULL) return;
  for (hp_link_t *l = d->slurm->links; l; l = l->next)
    if (l->authed && l->ack_wait && l->trial_id == trial_id) {
      l->ack_wait = false;
      link_send(l, "{\"done\": true}", true);
      return;
    }
}

/* --worker-addr HOST[:PORT] split into host and port (0: any); an empty
 * host is this host's name. */
static int worker_addr_parse(const char *spec, char host[256], int *port, hp_err_t *err) {
  host[0] = '\0';
  *port = 0;
  if (spec && *spec) {
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') { /* [v6]:port */
      const char *close = strchr(spec, ']');
      if (close == NULL) return hp_err_set(err, HP_EINVAL, "--worker-addr: bad address '%s'", spec);
      snprintf(host, 256, "%.*s", (int)(close - spec - 1), spec + 1);
      colon = close[1] == ':' ? close + 1 : NULL;
    } else {
      snprintf(host, 256, "%.*s", (int)(colon ? (size_t)(colon - spec) : strlen(spec)), spec);
    }
    if (colon) *port = atoi(colon + 1);
  }
  if (host[0] == '\0' && gethostname(host, 255) < 0) snprintf(host, 256, "localhost");
  return 0;
}

/* The address relays are told to call: a wildcard address is no address to
 * call, the host's name is. */
static void worker_addr_format(char *out, size_t n, const char *host_in, int port) {
  char host[256];
  snprintf(host, sizeof host, "%s", host_in);
  if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
    if (gethostname(host, sizeof host - 1) < 0) snprintf(host, sizeof host, "localhost");
  snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static int slurm_listen(hp_slurm_t *sl, int want_port, hp_err_t *err);
static void job_name(char name[96], const char *study, int64_t number);

bool hp_slurm_own_addr(hp_daemon_t *d, char *out, size_t n) {
  char host[256];
  int port = 0;
  if (worker_addr_parse(d->worker_addr, host, &port, NULL) < 0 || port <= 0) return false;
  hp_slurm_t *sl = slurm_get(d);
  hp_err_t err = {0};
  if (sl == NULL) return false;
  if (slurm_listen(sl, 0, &err) < 0) {
    hp_log("slurm: %s: adopting no Slurm job (does another daemon listen there?)", err.msg);
    return false;
  }
  snprintf(out, n, "%s", sl->addr);
  return true;
}

/* The hpsearch:slurm_job record in a trial's system attributes (NULL if
 * none); *attrs (to delete) holds it. */
static const cJSON *job_record_of(const char *system_attrs_json, cJSON **attrs) {
  *attrs = NULL;
  if (system_attrs_json == NULL || strstr(system_attrs_json, HP_STORE_ATTR_SLURM) == NULL)
    return NULL;
  hp_json_parse(system_attrs_json, strlen(system_attrs_json), "system attributes", attrs, NULL);
  return cJSON_GetObjectItemCaseSensitive(*attrs, HP_STORE_ATTR_SLURM);
}

bool hp_slurm_record_is(const char *system_attrs_json, const char *addr) {
  cJSON *attrs;
  const cJSON *rec = job_record_of(system_attrs_json, &attrs);
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "addr");
  bool is = cJSON_IsString(a) && strcmp(a->valuestring, addr) == 0;
  cJSON_Delete(attrs);
  return is;
}

/* Opens the listener for relays: --worker-addr HOST[:PORT] (default: this
 * host's name, any free port); port (if > 0) wins over a port of
 * --worker-addr 0: a restarted daemon listens where its jobs' relays call. */
static void listener_closed(uv_handle_t *h) {
  hp_slurm_t *sl = h->data;
  sl->listener_closing = false;
}

static int slurm_listen(hp_slurm_t *sl, int want_port, hp_err_t *err) {
  if (sl->listening) return 0;
  if (sl->listener_closing)
    return hp_err_set(err, HP_EBUSY, "the listener for Slurm jobs failed to start a moment ago");
  hp_daemon_t *d = sl->d;
  char host[256];
  int port = 0;
  if (worker_addr_parse(d->worker_addr, host, &port, err) < 0) return -1;
  if (port == 0 && want_port > 0) port = want_port;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(host, NULL, &hints, &res);
  if (gai != 0 || res == NULL)
    return hp_err_set(err, HP_EINVAL, "--worker-addr: cannot resolve '%s': %s", host,
                      gai_strerror(gai));
  struct sockaddr_storage ss;
  memcpy(&ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
  uv_tcp_init(d->loop, &sl->listener);
  sl->listener.data = sl;
  int rc = uv_tcp_bind(&sl->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&sl->listener, 128, on_connection);
  if (rc < 0) {
    sl->listener_closing = true; /* until its close ends: no second init on it */
    uv_close((uv_handle_t *)&sl->listener, listener_closed);
    return hp_err_set(err, rc, "cannot listen for Slurm jobs on %s:%d: %s", host, port,
                      uv_strerror(rc));
  }
  struct sockaddr_storage got;
  int glen = sizeof got;
  uv_tcp_getsockname(&sl->listener, (struct sockaddr *)&got, &glen);
  int bound = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                             : ((struct sockaddr_in6 *)&got)->sin6_port);
  worker_addr_format(sl->addr, sizeof sl->addr, host, bound);
  sl->listening = true;
  hp_log("slurm: listening for jobs' workers on %s", sl->addr);
  return 0;
}

/* ---- job states -------------------------------------------------------------------------- */

static bool state_is_final(const char *s) {
  static const char *const FINAL[] = {"COMPLETED", "FAILED",    "TIMEOUT",   "OUT_OF_MEMORY",
                                      "NODE_FAIL", "CANCELLED", "PREEMPTED", "BOOT_FAIL",
                                      "DEADLINE",  "REVOKED",   "SPECIAL_EXIT", NULL};
  for (int i = 0; FINAL[i]; i++)
    if (strcmp(s, FINAL[i]) == 0) return true;
  return false;
}

/* Slurm says the job ended (state, Slurm's reason or ""). */
static void job_ended(hp_job_t *j, const char *state, const char *why) {
  hp_worker_t *w = j->w;
  if (w == NULL) { /* its trial ended before: the job leaves the study's count */
    hp_slurm_t *sl = j->sl;
    job_unlist(sl, j);
    if (j->submit) j->submit->job = NULL;
    free(j);
    hp_daemon_kick(sl->d);
    return;
  }
  if (w->exited) return;
  snprintf(j->state, sizeof j->state, "%s", state);
  if (strcmp(state, "COMPLETED") != 0 || (j->adopted && !j->linked_once)) {
    char text[300];
    if (j->adopted && !j->linked_once)
      snprintf(text, sizeof text, "%s (Slurm job %s): it ended while no daemon ran, and its "
                                  "worker's results did not reach one",
               state, j->id);
    else if (why[0] && strcmp(why, "None") != 0)
      snprintf(text, sizeof text, "%s (Slurm job %s, %s)", state, j->id, why);
    else
      snprintf(text, sizeof text, "%s (Slurm job %s)", state, j->id);
    free(w->job_end);
    w->job_end = strdup(text);
  }
  if (j->link == NULL) w->out_eof = true;
  if (w->run)
    hp_log("study '%s' trial %lld: Slurm job %s ended %s", w->run->st->name,
           (long long)w->run->number, j->id, state);
  /* The worker's own exit as its relay reported it; unknown (0) without. */
  int64_t status = j->relay_termed ? w->exit_status : 0;
  int sig = j->relay_termed ? w->term_signal : 0;
  w->exit_status = 0;
  w->term_signal = 0;
  hp_worker_exited(w, status, sig);
}

static void scancel(hp_slurm_t *sl, hp_job_t *j) {
  char *argv[] = {"scancel", j->id, NULL};
  hp_err_t err = {0};
  char what[64];
  snprintf(what, sizeof what, "scancel %s", j->id);
  if (cmd_run(sl, argv, NULL, NULL, what, NULL, NULL, &err) < 0)
    hp_log("slurm: %s failed: %s", what, err.msg);
  j->t_cancel = hp_now_mono();
}

void hp_slurm_cancel_recorded(hp_daemon_t *d, const char *study, int64_t number,
                              const char *system_attrs_json) {
  cJSON *attrs;
  const cJSON *rec = job_record_of(system_attrs_json, &attrs);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "job");
  hp_slurm_t *sl = rec ? slurm_get(d) : NULL;
  hp_cancel_later_t *c = NULL;
  if (sl && cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) < 32 &&
      strspn(id->valuestring, "0123456789") == strlen(id->valuestring) &&
      (c = calloc(1, sizeof *c)) != NULL) {
    /* --name: only that trial's job, should the id name another job (a
     * peer on another cluster, ids reused after a controller reset) */
    char name[96];
    job_name(name, study, number);
    snprintf(c->filter, sizeof c->filter, "--name=%s", name);
    snprintf(c->id, sizeof c->id, "%s", id->valuestring);
    c->number = number;
    c->next = sl->cancels;
    sl->cancels = c;
  }
  cJSON_Delete(attrs);
}

void hp_slurm_batch_done(hp_daemon_t *d, bool committed) {
  hp_slurm_t *sl = d->slurm;
  if (sl == NULL) return;
  hp_cancel_later_t *list = sl->cancels;
  sl->cancels = NULL;
  for (hp_cancel_later_t *c = list, *next; c; c = next) {
    next = c->next;
    if (!committed) {
      /* the trial is still RUNNING in the database: its job runs on until
       * a later look fails the trial again and this comes back */
      hp_log("slurm: trial %lld's failure was not stored; its job %s is not cancelled",
             (long long)c->number, c->id);
    } else if (sl->closed) {
      hp_log("slurm: the daemon stops: job %s of trial %lld (failed here) is not cancelled",
             c->id, (long long)c->number);
    } else {
      char *argv[] = {"scancel", c->filter, c->id, NULL};
      hp_err_t err = {0};
      char what[160];
      snprintf(what, sizeof what, "scancel %s %s", c->filter, c->id);
      hp_log("slurm: trial %lld was failed here; cancelling its job %s", (long long)c->number,
             c->id);
      if (cmd_run(sl, argv, NULL, NULL, what, NULL, NULL, &err) < 0)
        hp_log("slurm: %s failed: %s", what, err.msg);
    }
    free(c);
  }
}

static void sacct_done(hp_cmd_t *c);

/* squeue answered: states of the jobs it lists. */
static void poll_done(hp_cmd_t *c) {
  hp_slurm_t *sl = c->sl;
  sl->poll_cmd = NULL;
  char line[160];
  bool ok = c->exited && c->status == 0 && c->term_signal == 0;
  /* Every listed id unknown to Slurm (aged out): squeue says so and fails. */
  bool none = !ok && strstr(c->err_text, "Invalid job id") != NULL;
  if (!ok && !none) {
    if (!sl->warned_squeue)
      hp_log("slurm: squeue failed (%s); job states are looked at again in %.0f s",
             cmd_err_line(c, line, sizeof line), POLL_S);
    sl->warned_squeue = true;
    poll_schedule(sl, POLL_S);
    return;
  }
  sl->warned_squeue = false;
  for (hp_job_t *j = sl->jobs; j; j = j->next) j->misses++;
  /* Lines "ID STATE REASON...". An end may free its job: each line looks
   * its job up again. */
  for (char *p = c->text.buf, *eol; p && *p; p = eol ? eol + 1 : NULL) {
    eol = strchr(p, '\n');
    if (eol) *eol = '\0';
    char id[32], state[32], why[96];
    int used = 0;
    if (sscanf(p, "%31s %31s %n", id, state, &used) < 2) continue;
    hp_utf8_clean(why, sizeof why, p + used, strlen(p + used));
    for (hp_job_t *j = sl->jobs; j; j = j->next) {
      if (strcmp(j->id, id) != 0) continue;
      j->misses = 0;
      snprintf(j->state, sizeof j->state, "%s", state);
      if (state_is_final(state)) job_ended(j, state, why);
      break;
    }
  }
  double now = hp_now_mono();
  for (hp_job_t *j = sl->jobs, *next; j; j = next) {
    next = j->next;
    if (j->id[0] == '\0' || (j->w && j->w->exited)) continue;
    if (j->misses >= POLL_MISSES && j->w == NULL) {
      job_ended(j, "UNKNOWN", ""); /* a lingering job gone from squeue: let it go */
      continue;
    }
    if (j->misses >= POLL_MISSES) {
      /* Gone from squeue (older than MinJobAge): accounting may know. */
      char *argv[] = {"sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", j->id, NULL};
      hp_err_t err = {0};
      hp_cmd_t *q = NULL;
      j->misses = -1000; /* one lookup */
      if (cmd_run(sl, argv, NULL, NULL, "sacct", sacct_done, &q, &err) < 0) {
        job_ended(j, "UNKNOWN", "gone from squeue; sacct cannot be run");
        continue;
      }
      q->job = j;
    }
    if (j->cancel && j->t_cancel > 0 && now - j->t_cancel > CANCEL_AGAIN_S) scancel(sl, j);
  }
  bool soon = false;
  for (hp_job_t *j = sl->jobs; j; j = j->next) soon = soon || j->relay_termed || j->w == NULL;
  poll_schedule(sl, soon ? POLL_SOON_S : POLL_S);
}

/* sacct about a job squeue forgot: its state, or an unknown end. */
static void sacct_done(hp_cmd_t *c) {
  hp_job_t *j = c->job;
  if (j == NULL) return;
  j->misses = 0;
  char id[32], state[32] = "";
  bool ok = c->exited && c->status == 0 &&
            sscanf(c->text.buf, "%31[^|]|%31[A-Z_]", id, state) == 2;
  if (ok && state_is_final(state)) job_ended(j, state, "");
  else if (!ok)
    job_ended(j, "UNKNOWN", "gone from squeue, and sacct does not know it (accounting off?)");
}

static void on_poll(uv_timer_t *t) {
  hp_slurm_t *sl = t->data;
  if (sl->closed || sl->poll_cmd) return;
  /* squeue -h -t all -j ID,ID,... -o "%i %T %r" */
  size_t n = 0, len = 0;
  for (hp_job_t *j = sl->jobs; j; j = j->next)
    if (j->id[0] && (j->w == NULL || !j->w->exited)) n++, len += strlen(j->id) + 1;
  if (n == 0) return;
  char *ids = malloc(len + 1), *p = ids;
  if (ids == NULL) return;
  for (hp_job_t *j = sl->jobs; j; j = j->next)
    if (j->id[0] && (j->w == NULL || !j->w->exited))
      p += sprintf(p, "%s%s", p == ids ? "" : ",", j->id);
  char *argv[] = {"squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T %r", NULL};
  hp_err_t err = {0};
  if (cmd_run(sl, argv, NULL, NULL, "squeue", poll_done, &sl->poll_cmd, &err) < 0) {
    if (!sl->warned_squeue) hp_log("slurm: cannot run squeue: %s", err.msg);
    sl->warned_squeue = true;
    sl->poll_cmd = NULL;
    poll_schedule(sl, POLL_S);
  }
  free(ids);
}

static void poll_schedule(hp_slurm_t *sl, double secs) {
  if (sl->closed || sl->poll_cmd) return;
  uint64_t ms = (uint64_t)(secs * 1000);
  if (uv_is_active((uv_handle_t *)&sl->poll) && uv_timer_get_due_in(&sl->poll) <= ms) return;
  uv_timer_start(&sl->poll, on_poll, ms, 0);
}

/* ---- submitting ------------------------------------------------------------------------ */

/* A trial's job name, as squeue shows it: STUDY.tN (the study's name with
 * characters Slurm could mangle replaced, at most 64 of them). */
static void job_name(char name[96], const char *study, int64_t number) {
  size_t k = 0;
  for (const char *c = study; *c && k < 64; c++)
    name[k++] = isalnum((unsigned char)*c) || strchr("_.-", *c) ? *c : '_';
  snprintf(name + k, 96 - k, ".t%lld", (long long)number);
}

/* Writes the trial's hpsearch:slurm_job attribute (a restart finds the job
 * by it). */
static void job_record(hp_job_t *j) {
  hp_worker_t *w = j->w;
  hp_run_t *run = w ? w->run : NULL;
  if (run == NULL) return;
  hp_daemon_t *d = w->d;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "job", j->id);
  cJSON_AddStringToObject(o, "token", j->token);
  cJSON_AddStringToObject(o, "addr", d->slurm->addr);
  char *text = o ? hp_json_print(o) : NULL;
  cJSON_Delete(o);
  hp_err_t err = {0};
  int rc = text ? hp_daemon_batch(d, &err) : hp_err_set(&err, HP_ENOMEM, "out of memory");
  if (rc == 0)
    rc = hp_store_trial_set_system_attr(d->store, run->trial_id, HP_STORE_ATTR_SLURM, text, &err);
  free(text);
  if (rc < 0) {
    /* A restart could not find this job: it is not run. */
    char reason[HP_ERR_MSG_MAX + 64];
    snprintf(reason, sizeof reason, "its Slurm job could not be recorded: %s", err.msg);
    hp_log("study '%s' trial %lld: %s; cancelling job %s", run->st->name,
           (long long)run->number, reason, j->id);
    hp_worker_kill(w, HP_STORE_FAIL, reason);
  }
}

static void submit_done(hp_cmd_t *c) {
  hp_job_t *j = c->job;
  if (j == NULL) return;
  j->submit = NULL;
  hp_worker_t *w = j->w;
  char line[200];
  const char *o = c->text.buf;
  size_t digits = strspn(o, "0123456789");
  if (!c->exited || c->status != 0 || c->term_signal != 0 || digits == 0 || digits >= sizeof j->id) {
    char reason[400];
    snprintf(reason, sizeof reason, "cannot submit the Slurm job: sbatch %s %d: %s",
             c->term_signal ? "killed by signal" : "exit status",
             c->term_signal ? c->term_signal : (int)c->status, cmd_err_line(c, line, sizeof line));
    if (w->reason == NULL) {
      w->reason = strdup(reason);
      w->kill_state = HP_STORE_FAIL;
    }
    w->out_eof = true;
    hp_worker_exited(w, 1, 0);
    return;
  }
  memcpy(j->id, o, digits);
  j->id[digits] = '\0';
  j->misses = 0;
  if (w->run)
    hp_log("study '%s' trial %lld: Slurm job %s submitted", w->run->st->name,
           (long long)w->run->number, j->id);
  job_record(j);
  if (j->cancel) scancel(c->sl, j);
  poll_schedule(c->sl, POLL_S);
}

/* Single-quoted for sh: ' becomes '\''. */
static int sh_quote(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t need = *len + 4 * strlen(s) + 8; /* quotes, a space, a newline, NUL */
  if (need > *cap) {
    size_t nc = need * 2;
    char *nb = realloc(*buf, nc);
    if (nb == NULL) return HP_ENOMEM;
    *buf = nb;
    *cap = nc;
  }
  char *p = *buf + *len;
  *p++ = ' ';
  *p++ = '\'';
  for (; *s; s++) {
    if (*s == '\'') {
      memcpy(p, "'\\''", 4);
      p += 4;
    } else {
      *p++ = *s;
    }
  }
  *p++ = '\'';
  *p = '\0';
  *len = (size_t)(p - *buf);
  return 0;
}

/* Appends s (owned) to the NULL-terminated vector *v of *n entries. */
static int vec_push(char ***v, size_t *n, char *s) {
  if (s == NULL) return HP_ENOMEM;
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (nv == NULL) {
    free(s);
    return HP_ENOMEM;
  }
  nv[(*n)++] = s;
  nv[*n] = NULL;
  *v = nv;
  return 0;
}

int hp_slurm_start(hp_daemon_t *d, hp_run_t *run, hp_err_t *err) {
  hp_slurm_t *sl = slurm_get(d);
  if (sl == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = slurm_listen(sl, 0, err);
  if (rc < 0) return rc;
  const hp_exec_spec_t *x = &run->st->spec->exec;
  char **wargv = NULL, **env = NULL, **argv = NULL;
  size_t nenv = 0, nargv = 0;
  char *script = NULL;
  size_t slen = 0, scap = 0;
  hp_job_t *j = calloc(1, sizeof *j);
  if (j == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  unsigned char rnd[16];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    free(j);
    return hp_err_set(err, HP_EIO, "no random bytes for the job's token: %s", strerror(errno));
  }
  for (int i = 0; i < 16; i++) sprintf(j->token + 2 * i, "%02x", rnd[i]);
  rc = hp_worker_cmdline(d, run, &wargv, &env, err);
  if (rc < 0) goto fail;
  for (char **e = env; *e; e++) nenv++;
  rc = vec_push(&env, &nenv, hp_str_printf("HPSEARCH_JOB_ADDR=%s", sl->addr));
  if (rc == 0) rc = vec_push(&env, &nenv, hp_str_printf("HPSEARCH_JOB_TOKEN=%s", j->token));
  /* The job script: the relay runs the worker (quoted for sh). */
  script = strdup("#!/bin/sh\n# hpsearch: one trial; `hpsearch job` runs its worker and sends "
                  "the worker's lines to the daemon\nexec");
  if (script == NULL) rc = HP_ENOMEM;
  slen = script ? strlen(script) : 0;
  scap = slen + 1;
  if (rc == 0) rc = sh_quote(&script, &slen, &scap, d->worker_exe);
  if (rc == 0) rc = sh_quote(&script, &slen, &scap, "job");
  if (rc == 0) rc = sh_quote(&script, &slen, &scap, "--");
  for (char **a = wargv; rc == 0 && *a; a++) rc = sh_quote(&script, &slen, &scap, *a);
  if (rc == 0) strcat(script, "\n"); /* sh_quote left room */
  /* sbatch's options: name, output, resources, the study's own */
  char name[96];
  job_name(name, run->st->name, run->number);
  if (rc == 0) rc = vec_push(&argv, &nargv, strdup("sbatch"));
  if (rc == 0) rc = vec_push(&argv, &nargv, strdup("--parsable"));
  if (rc == 0) rc = vec_push(&argv, &nargv, hp_str_printf("--job-name=%s", name));
  if (rc == 0)
    rc = vec_push(&argv, &nargv, hp_str_printf("--output=%s", x->output ? x->output : "/dev/null"));
  if (rc == 0 && x->partition) rc = vec_push(&argv, &nargv, hp_str_printf("--partition=%s", x->partition));
  if (rc == 0 && x->time) rc = vec_push(&argv, &nargv, hp_str_printf("--time=%s", x->time));
  if (rc == 0 && x->cpus_per_task > 0)
    rc = vec_push(&argv, &nargv, hp_str_printf("--cpus-per-task=%d", x->cpus_per_task));
  if (rc == 0 && x->mem) rc = vec_push(&argv, &nargv, hp_str_printf("--mem=%s", x->mem));
  if (rc == 0 && x->gres) rc = vec_push(&argv, &nargv, hp_str_printf("--gres=%s", x->gres));
  if (rc == 0 && run->st->spec->kind == HP_OBJ_COMMAND && run->st->spec->cwd)
    rc = vec_push(&argv, &nargv, hp_str_printf("--chdir=%s", run->st->spec->cwd));
  for (char **e = x->extra; rc == 0 && e && *e; e++) rc = vec_push(&argv, &nargv, strdup(*e));
  if (rc < 0) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail;
  }
  char what[64];
  snprintf(what, sizeof what, "sbatch of trial %lld", (long long)run->number);
  hp_cmd_t *c = NULL;
  rc = cmd_run(sl, argv, env, script, what, submit_done, &c, err);
  if (rc < 0) goto fail;
  hp_worker_t *w = hp_worker_new_job(d, run);
  if (w == NULL) {
    /* sbatch runs: its job is cancelled when it answers (no worker). */
    c->job = NULL;
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail;
  }
  j->submit = c;
  j->t_submit = hp_now_mono();
  c->job = j;
  job_list(sl, j, w);
  j = NULL;
fail:
  free(j);
  hp_strv_free(wargv);
  hp_strv_free(env);
  hp_strv_free(argv);
  free(script);
  return rc;
}

void hp_slurm_cancel(hp_worker_t *w) {
  hp_job_t *j = w->job;
  if (j == NULL || j->cancel) return;
  j->cancel = true;
  hp_slurm_t *sl = w->d->slurm;
  if (w->run)
    hp_log("study '%s' trial %lld: cancelling Slurm job %s (%s)", w->run->st->name,
           (long long)w->run->number, j->id[0] ? j->id : "not submitted yet",
           w->reason ? w->reason : "ended");
  if (j->id[0]) scancel(sl, j); /* else once sbatch gives its id */
  poll_schedule(sl, POLL_SOON_S);
}

void hp_slurm_job_done(hp_worker_t *w) {
  hp_job_t *j = w->job;
  hp_slurm_t *sl = w->d->slurm;
  w->job = NULL;
  if (j == NULL) return;
  j->w = NULL;
  if (j->link) {
    hp_link_t *l = j->link;
    j->link = NULL;
    l->job = NULL;
    if (!l->ack_wait) link_close(l); /* else it waits for the end to be stored */
  }
  if (j->id[0] && !state_is_final(j->state)) {
    /* The trial ended as its worker did, but the job is still in Slurm's
     * queue for a moment: it counts against the study's parallelism until
     * squeue says it ended. */
    poll_schedule(sl, POLL_SOON_S);
    return;
  }
  job_unlist(sl, j);
  if (j->submit) j->submit->job = NULL;
  free(j);
}

int hp_slurm_lingering(const hp_daemon_t *d, int64_t study_id) {
  int n = 0;
  for (const hp_job_t *j = d->slurm ? d->slurm->jobs : NULL; j; j = j->next)
    n += j->w == NULL && j->study_id == study_id;
  return n;
}

bool hp_slurm_adopt(hp_daemon_t *d, hp_run_t *run, const char *system_attrs_json) {
  cJSON *attrs;
  const cJSON *rec = job_record_of(system_attrs_json, &attrs);
  if (rec == NULL) {
    cJSON_Delete(attrs);
    return false;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "job");
  const cJSON *token = cJSON_GetObjectItemCaseSensitive(rec, "token");
  const cJSON *addr = cJSON_GetObjectItemCaseSensitive(rec, "addr");
  bool ok = false;
  hp_slurm_t *sl = slurm_get(d);
  if (sl && cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) < 32 &&
      strspn(id->valuestring, "0123456789") == strlen(id->valuestring) &&
      cJSON_IsString(token) && strlen(token->valuestring) == 32) {
    /* Listen where the relays call: the recorded port. */
    const char *colon = cJSON_IsString(addr) ? strrchr(addr->valuestring, ':') : NULL;
    hp_err_t err = {0};
    if (slurm_listen(sl, colon ? atoi(colon + 1) : 0, &err) < 0)
      hp_log("slurm: %s (the relays of adopted jobs cannot call back)", err.msg);
    else if (colon && strcmp(strrchr(sl->addr, ':'), colon) != 0)
      hp_log("slurm: listening on %s, but trial %lld's relay calls %s", sl->addr,
             (long long)run->number, addr->valuestring);
    hp_job_t *j = calloc(1, sizeof *j);
    hp_worker_t *w = j ? hp_worker_new_job(d, run) : NULL;
    if (w) {
      snprintf(j->id, sizeof j->id, "%s", id->valuestring);
      snprintf(j->token, sizeof j->token, "%s", token->valuestring);
      j->adopted = true;
      job_list(sl, j, w);
      poll_schedule(sl, 0);
      hp_log("study '%s' trial %lld: Slurm job %s adopted", run->st->name,
             (long long)run->number, j->id);
      ok = true;
    } else {
      free(j);
    }
  }
  cJSON_Delete(attrs);
  return ok;
}

static void noop_close(uv_handle_t *h) { (void)h; }

void hp_slurm_close(hp_daemon_t *d) {
  hp_slurm_t *sl = d->slurm;
  if (sl == NULL || sl->closed) return;
  sl->closed = true;
  /* Jobs keep running under Slurm: their trials stay RUNNING in the
   * database and the next daemon adopts them. */
  for (hp_job_t *j = sl->jobs, *next; j; j = next) {
    next = j->next;
    if (j->w) {
      j->w->job = NULL;
      hp_worker_forget(j->w);
    }
    if (j->submit) j->submit->job = NULL;
    if (j->link) j->link->job = NULL; /* closed below */
    free(j);
  }
  sl->jobs = NULL;
  for (hp_link_t *l = sl->links, *next; l; l = next) {
    next = l->next;
    link_close(l);
  }
  /* Commands still running (a squeue, an sbatch whose job then runs
   * unrecorded: its relay is refused by the next daemon) are let go. */
  for (hp_cmd_t *c = sl->cmds, *next; c; c = next) {
    next = c->next;
    c->job = NULL;
    c->done = NULL;
    c->finished = true;
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->out, cmd_closed);
    uv_close((uv_handle_t *)&c->err, cmd_closed);
    uv_close((uv_handle_t *)&c->in, cmd_closed);
  }
  sl->cmds = NULL;
  if (sl->listening) uv_close((uv_handle_t *)&sl->listener, noop_close);
  uv_close((uv_handle_t *)&sl->poll, noop_close);
}

void hp_slurm_free(hp_daemon_t *d) {
  if (d->slurm)
    for (hp_cancel_later_t *c = d->slurm->cancels, *next; c; c = next) {
      next = c->next;
      free(c);
    }
  free(d->slurm);
  d->slurm = NULL;
}

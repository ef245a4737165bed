/* The relay of a trial run as a Slurm job (`hpsearch job -- WORKER...`, what
 * the job script execs): it runs the trial's worker (the same `hpsearch
 * worker` or `hpsearch supervise -- COMMAND` a local trial runs) as its
 * child and sends the worker's stdout lines ("o LINE") and stderr lines
 * ("e LINE") to the daemon over TCP, then the worker's end ("x STATUS SIGNAL
 * TERMED"). The first line it sends names its trial and presents the
 * trial's token; the daemon answers {"ok": true, "have": N} (N stdout lines
 * it has already: a reconnected relay resumes there) or {"error": ...}.
 * While the daemon is away (restarted, killed) the relay keeps every line
 * and calls again with a growing pause; after the worker exited it waits up
 * to HPSEARCH_JOB_WAIT seconds for {"done": true}, which the daemon sends
 * once the trial's end is stored, so a result is never lost to a daemon
 * restart. A relay signalled by Slurm (scancel, the time limit) passes the
 * signal on, reports the worker's end marked TERMED and exits: Slurm's job
 * state then names the end. Plain poll(2), no event library: it is a
 * single-purpose process on a compute node. docs/daemon.md. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/daemon.h"
#include "hpsearch/json.h"

/* Longest worker line relayed (the daemon's own limit is 64 KiB). */
#define RELAY_LINE_MAX (64u << 10)

static volatile sig_atomic_t g_termed; /* a SIGTERM/SIGINT/SIGHUP came */
static volatile pid_t g_child;

static void on_term(int sig) {
  g_termed = sig;
  if (g_child > 0) kill(g_child, sig);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct relay {
  const char *addr, *token;
  long long trial_id;
  int fd;                   /* the connection, -1 when none */
  bool ready;               /* the daemon said ok */
  char **lines;             /* every stdout line of the worker */
  size_t n_lines, cap_lines;
  size_t sent;              /* lines[0, sent) are the daemon's */
  char in[4096];            /* the daemon's replies, a partial line at the end */
  size_t in_len;
  bool refused, done;
} relay_t;

static void relay_drop(relay_t *r, const char *why) {
  if (r->fd >= 0) {
    if (why) fprintf(stderr, "hpsearch job: connection to the daemon lost (%s)\n", why);
    close(r->fd);
  }
  r->fd = -1;
  r->ready = false;
  r->in_len = 0;
}

/* Writes all of buf (the socket blocks, with a send timeout). */
static int send_all(relay_t *r, const char *buf, size_t len) {
  while (len > 0 && r->fd >= 0) {
    ssize_t n = send(r->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      relay_drop(r, strerror(errno));
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return r->fd >= 0 ? 0 : -1;
}

static int send_line(relay_t *r, char tag, const char *text, size_t len) {
  char head[2] = {tag, ' '};
  if (send_all(r, head, 2) < 0 || send_all(r, text, len) < 0 || send_all(r, "\n", 1) < 0)
    return -1;
  return 0;
}

/* Connects to HOST:PORT (at most timeout_s), sends the hello line. */
static void relay_connect(relay_t *r, double timeout_s) {
  char host[256];
  const char *colon = strrchr(r->addr, ':');
  if (colon == NULL) return;
  const char *h = r->addr;
  size_t hl = (size_t)(colon - h);
  if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
  snprintf(host, sizeof host, "%.*s", (int)hl, h);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0) return;
  for (struct addrinfo *a = res; a && r->fd < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (poll(&p, 1, (int)(timeout_s * 1000)) == 1 &&
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
        rc = 0;
    }
    if (rc < 0) {
      close(fd);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {30, 0}; /* a daemon that stops reading: reconnect */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    r->fd = fd;
  }
  freeaddrinfo(res);
  if (r->fd < 0) return;
  char hello[160];
  int n = snprintf(hello, sizeof hello, "{\"trial_id\": %lld, \"token\": \"%s\"}\n", r->trial_id,
                   r->token);
  send_all(r, hello, (size_t)n);
}

/* A reply line of the daemon. */
static void relay_reply(relay_t *r, char *line, size_t len) {
  cJSON *msg = NULL;
  if (hp_json_parse(line, len, "reply", &msg, NULL) < 0 || !cJSON_IsObject(msg)) {
    cJSON_Delete(msg);
    relay_drop(r, "a reply that is not JSON");
    return;
  }
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(msg, "error");
  const cJSON *have = cJSON_GetObjectItemCaseSensitive(msg, "have");
  if (cJSON_IsString(err)) {
    fprintf(stderr, "hpsearch job: the daemon refused trial %lld: %s\n", r->trial_id,
            err->valuestring);
    r->refused = true;
  } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "done"))) {
    r->done = true;
  } else if (cJSON_IsNumber(have) && have->valuedouble >= 0) {
    r->ready = true;
    r->sent = have->valuedouble < (double)r->n_lines ? (size_t)have->valuedouble : r->n_lines;
  }
  cJSON_Delete(msg);
}

static void relay_read(relay_t *r) {
  ssize_t n = recv(r->fd, r->in + r->in_len, sizeof r->in - r->in_len, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    relay_drop(r, n == 0 ? "closed by the daemon" : strerror(errno));
    return;
  }
  r->in_len += (size_t)n;
  char *nl;
  while (r->fd >= 0 && (nl = memchr(r->in, '\n', r->in_len)) != NULL) {
    size_t len = (size_t)(nl - r->in);
    relay_reply(r, r->in, len);
    memmove(r->in, nl + 1, r->in_len - len - 1);
    r->in_len -= len + 1;
  }
  if (r->in_len == sizeof r->in) relay_drop(r, "a reply line too long");
}

static int keep_line(relay_t *r, const char *s, size_t len) {
  if (r->n_lines == r->cap_lines) {
    size_t cap = r->cap_lines ? r->cap_lines * 2 : 64;
    char **nl = realloc(r->lines, cap * sizeof *nl);
    if (nl == NULL) return -1;
    r->lines = nl;
    r->cap_lines = cap;
  }
  char *copy = malloc(len + 1);
  if (copy == NULL) return -1;
  memcpy(copy, s, len);
  copy[len] = '\0';
  r->lines[r->n_lines++] = copy;
  return 0;
}

/* A pipe of the worker: stdout lines are kept (and sent), stderr lines are
 * echoed to our stderr (the job's output file) and sent when connected. */
typedef struct pipe_in {
  int fd;
  bool is_err;
  char buf[RELAY_LINE_MAX + 1];
  size_t len;
} pipe_in_t;

static void pipe_line(relay_t *r, pipe_in_t *p, const char *s, size_t len) {
  if (p->is_err) {
    fprintf(stderr, "%.*s\n", (int)len, s);
    if (r->ready) send_line(r, 'e', s, len);
  } else if (keep_line(r, s, len) < 0) {
    fprintf(stderr, "hpsearch job: out of memory keeping the worker's lines\n");
  }
}

static void pipe_read(relay_t *r, pipe_in_t *p) {
  ssize_t n = read(p->fd, p->buf + p->len, sizeof p->buf - 1 - p->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (p->len > 0) pipe_line(r, p, p->buf, p->len);
    p->len = 0;
    close(p->fd);
    p->fd = -1;
    return;
  }
  p->len += (size_t)n;
  size_t start = 0;
  char *nl;
  while ((nl = memchr(p->buf + start, '\n', p->len - start)) != NULL) {
    size_t end = (size_t)(nl - p->buf);
    pipe_line(r, p, p->buf + start, end - start);
    start = end + 1;
  }
  memmove(p->buf, p->buf + start, p->len - start);
  p->len -= start;
  if (p->len == sizeof p->buf - 1) { /* a line longer than the daemon takes: cut */
    pipe_line(r, p, p->buf, p->len);
    p->len = 0;
  }
}

int hp_job_relay_run(const char *addr, const char *token, long long trial_id, double wait_s,
                     char **cmd) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
    perror("hpsearch job: pipe");
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  pid_t self = getpid();
  pid_t child = fork();
  if (child < 0) {
    perror("hpsearch job: fork");
    return 1;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L); /* the worker dies with its relay */
    if (getppid() != self) _exit(127);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execvp(cmd[0], cmd);
    /* said as an error line of the objective format: the trial's reason */
    char msg[600];
    snprintf(msg, sizeof msg, "cannot start worker: %s: %s", cmd[0], strerror(errno));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *t = o ? hp_json_print(o) : NULL;
    if (t) printf("%s\n", t);
    fflush(stdout);
    _exit(127);
  }
  g_child = child;
  close(out[1]);
  close(err[1]);
  relay_t r = {.addr = addr, .token = token, .trial_id = trial_id, .fd = -1};
  static pipe_in_t po, pe;
  po.fd = out[0];
  pe.fd = err[0];
  pe.is_err = true;
  fcntl(po.fd, F_SETFL, O_NONBLOCK);
  fcntl(pe.fd, F_SETFL, O_NONBLOCK);
  double backoff = 0.2, t_connect = 0, t_exit = 0;
  bool reaped = false, x_sent = false, reported = false;
  int status = 0;
  for (;;) {
    double now = now_s();
    if (r.fd < 0 && !r.refused && now >= t_connect) {
      relay_connect(&r, 5.0);
      if (r.fd < 0) {
        t_connect = now + backoff;
        backoff = backoff * 2 > 5 ? 5 : backoff * 2;
      } else {
        backoff = 0.2;
        x_sent = false;
      }
    }
    while (r.ready && r.sent < r.n_lines)
      if (send_line(&r, 'o', r.lines[r.sent], strlen(r.lines[r.sent])) == 0) r.sent++;
    if (!reaped && waitpid(child, &status, WNOHANG) == child) {
      reaped = true;
      t_exit = now;
    }
    bool ended = reaped && po.fd < 0 && pe.fd < 0;
    if (ended && r.ready && r.sent == r.n_lines && !x_sent) {
      char x[64];
      int n = snprintf(x, sizeof x, "%d %d %d", WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                       WIFSIGNALED(status) ? WTERMSIG(status) : 0, g_termed ? 1 : 0);
      if (send_line(&r, 'x', x, (size_t)n) == 0) x_sent = reported = true;
    }
    if (ended && (r.done || r.refused || (x_sent && g_termed) || (g_termed && r.fd < 0)))
      break;
    if (ended && now - t_exit > wait_s) {
      fprintf(stderr, "hpsearch job: the daemon did not take trial %lld's end within %.0f s; "
                      "giving up\n",
              trial_id, wait_s);
      break;
    }
    if (r.refused && !reaped) kill(child, SIGTERM);
    struct pollfd fds[3];
    int nf = 0, ip = -1, ie = -1, is = -1;
    if (po.fd >= 0) ip = nf, fds[nf++] = (struct pollfd){po.fd, POLLIN, 0};
    if (pe.fd >= 0) ie = nf, fds[nf++] = (struct pollfd){pe.fd, POLLIN, 0};
    if (r.fd >= 0) is = nf, fds[nf++] = (struct pollfd){r.fd, POLLIN, 0};
    int wait_ms = 200;
    if (r.fd < 0 && t_connect > now) {
      int ms = (int)((t_connect - now) * 1000) + 1;
      if (ms < wait_ms) wait_ms = ms;
    }
    int k = poll(fds, (nfds_t)nf, wait_ms);
    if (k < 0 && errno != EINTR) break;
    if (k <= 0) continue;
    if (ip >= 0 && fds[ip].revents) pipe_read(&r, &po);
    if (ie >= 0 && fds[ie].revents) pipe_read(&r, &pe);
    if (is >= 0 && fds[is].revents && r.fd >= 0) relay_read(&r);
  }
  if (!reaped) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  relay_drop(&r, NULL);
  for (size_t i = 0; i < r.n_lines; i++) free(r.lines[i]);
  free(r.lines);
  /* Refused before the worker's end reached a daemon: the trial is not ours
   * any more (it ended, or a daemon restarted without it). Refused after:
   * the daemon stored the end and forgot the trial before saying so. */
  if (r.refused && !reported) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

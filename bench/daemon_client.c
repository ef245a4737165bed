/* Benchmark client for `make bench-daemon`: durable trials per second through
 * trial.ask + trial.tell over the daemon's socket. Each process runs the
 * ask -> compute -> tell loop synchronously (a tell's reply means the trial
 * is committed), like an Optuna worker does with its storage. Requests are
 * written as preformatted text and replies scanned without building trees,
 * so the client costs a few microseconds per trial and is not what is
 * measured.
 *
 * usage: bench_daemon_client SOCKET[,SOCKET...] STUDY N_TRIALS [N_PROCS [MODE]]
 * (with several sockets, e.g. daemons sharing one PostgreSQL database,
 * process p talks to socket p modulo their number). MODE "asktell" (the
 * default): one trial.ask and one trial.tell message per trial. MODE
 * "tellask": one trial.ask, then each trial.tell carries "ask": true and its
 * reply the next trial (docs/protocol.md, trial.tell): one message per trial
 * (the last tell asks for none), the same trials and the same durability.
 * prints {"trials": N, "procs": P, "mode": M, "seconds": S, "trials_per_s": R,
 * "cpu_s": C} (C: CPU seconds of the client processes, user + system) */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Receive buffer of one connection. */
typedef struct conn {
  int fd;
  char buf[1 << 16];
  size_t len;
} conn_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int conn_open(conn_t *c, const char *path) {
  c->len = 0;
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    fprintf(stderr, "bench_daemon_client: connect %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int send_all(conn_t *c, const char *s, size_t n) {
  while (n > 0) {
    ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    s += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads one reply line into out (NUL-terminated); -1 on EOF/error. */
static int recv_line(conn_t *c, char *out, size_t cap) {
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - c->buf);
      if (n >= cap) return -1;
      memcpy(out, c->buf, n);
      out[n] = '\0';
      c->len -= n + 1;
      memmove(c->buf, nl + 1, c->len);
      return 0;
    }
    if (c->len == sizeof c->buf) return -1;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    c->len += (size_t)k;
  }
}

/* Number following "\"key\":" in a reply, NAN if absent. */
static double find_num(const char *s, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(s, pat);
  return p == NULL ? NAN : strtod(p + strlen(pat), NULL);
}

/* One process: n trials, asked and told (tellask: each tell asks for the
 * next). Returns 0 or -1 (message printed). */
static int run(const char *sock, const char *study, long n, bool tellask) {
  conn_t *c = malloc(sizeof *c);
  char req[512], reply[1 << 14];
  if (c == NULL || conn_open(c, sock) < 0) return -1;
  long id = 1;
  const char *trial_of = reply; /* where the asked trial is in the reply */
  for (long i = 0; i < n; i++) {
    int len;
    if (i == 0 || !tellask) {
      len = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"trial.ask\",\"params\":{"
                     "\"study\":\"%s\"}}\n", id++, study);
      if (send_all(c, req, (size_t)len) < 0 || recv_line(c, reply, sizeof reply) < 0) goto io;
      if (strstr(reply, "\"error\"") != NULL) goto rpc;
      trial_of = reply;
    }
    double trial = find_num(trial_of, "trial");
    double x = find_num(trial_of, "x"), y = find_num(trial_of, "y"), k = find_num(trial_of, "k");
    double value = (x - 1.0) * (x - 1.0) + y + 0.1 * k; /* the Optuna side's objective */
    if (!isfinite(value)) value = 0;
    bool ask = tellask && i + 1 < n;
    len = snprintf(req, sizeof req,
                   "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"trial.tell\",\"params\":{"
                   "\"study\":\"%s\",\"trial\":%.0f,\"value\":%.17g%s}}\n", id++, study, trial,
                   value, ask ? ",\"ask\":true" : "");
    if (send_all(c, req, (size_t)len) < 0 || recv_line(c, reply, sizeof reply) < 0) goto io;
    if (strstr(reply, "\"error\"") != NULL) goto rpc;
    if (ask && (trial_of = strstr(reply, "\"next\":{")) == NULL) goto rpc; /* no next trial */
  }
  close(c->fd);
  free(c);
  return 0;
io:
  fprintf(stderr, "bench_daemon_client: connection to %s failed\n", sock);
  free(c);
  return -1;
rpc:
  fprintf(stderr, "bench_daemon_client: error reply: %.300s\n", reply);
  free(c);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6 ||
      (argc == 6 && strcmp(argv[5], "asktell") != 0 && strcmp(argv[5], "tellask") != 0)) {
    fprintf(stderr, "usage: %s SOCKET[,SOCKET...] STUDY N_TRIALS [N_PROCS [asktell|tellask]]\n",
            argv[0]);
    return 2;
  }
  long n = atol(argv[3]);
  int procs = argc >= 5 ? atoi(argv[4]) : 1;
  bool tellask = argc == 6 && strcmp(argv[5], "tellask") == 0;
  if (n <= 0 || procs <= 0 || procs > 64) {
    fprintf(stderr, "bench_daemon_client: N_TRIALS and N_PROCS must be positive\n");
    return 2;
  }
  long per = n / procs;
  char *socks[64];
  int n_socks = 0;
  for (char *tok = strtok(argv[1], ","); tok && n_socks < 64; tok = strtok(NULL, ","))
    socks[n_socks++] = tok;
  if (n_socks == 0) return 2;
  /* The children wait on a pipe so all start at the same moment. */
  int gate[2];
  if (pipe(gate) < 0) return 1;
  pid_t pids[64];
  for (int p = 0; p < procs; p++) {
    pids[p] = fork();
    if (pids[p] < 0) return 1;
    if (pids[p] == 0) {
      close(gate[1]);
      char b;
      if (read(gate[0], &b, 1) < 0) _exit(1);
      _exit(run(socks[p % n_socks], argv[2], per, tellask) == 0 ? 0 : 1);
    }
  }
  close(gate[0]);
  double t0 = now_s();
  close(gate[1]); /* EOF releases every child */
  int failed = 0;
  for (int p = 0; p < procs; p++) {
    int st;
    waitpid(pids[p], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = 1;
  }
  double secs = now_s() - t0;
  if (failed) return 1;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  printf("{\"trials\": %ld, \"procs\": %d, \"mode\": \"%s\", \"seconds\": %.4f, "
         "\"trials_per_s\": %.1f, \"cpu_s\": %.4f}\n",
         per * procs, procs, tellask ? "tellask" : "asktell", secs, (double)(per * procs) / secs,
         cpu);
  return 0;
}

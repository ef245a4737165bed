/* The supervisor of one command trial (hp_supervise_run), run as `hpsearch
 * supervise [--parent PID] -- PROG ARGS...` (cli/cmd_supervise.c) by the
 * daemon in the trial's own session.
 * It runs the user's command as its child and is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so every descendant of the command, also one
 * that left the process group with setsid or cleared its environment, stays
 * in its subtree. When the command exits, when the daemon asks (SIGTERM:
 * pruned, timeout, stop, shutdown) or when the daemon dies (the parent-death
 * signal), it kills the whole subtree, reaps it, and exits as the command
 * did. stdout and stderr are the command's own (inherited), so the daemon
 * reads the command's lines directly. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"

/* Kills every descendant and reaps them all; returns the command's wait
 * status if it is reaped here (*have set). */
static void kill_descendants(pid_t child, int *status, bool *have) {
  for (;;) {
    int st = 0;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p == 0) { /* children left: kill them all, then wait for one */
      hp_proc_kill_tree(getpid(), false);
      p = waitpid(-1, &st, 0);
    }
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break; /* ECHILD: nothing left below us, not even a reparented one */
    if (p == child && !*have) {
      *status = st;
      *have = true;
    }
  }
}

/* The command could not be started: said as an error line of the objective
 * format, so the trial's reason names it. */
static void report_exec_error(const char *prog, int e) {
  cJSON *o = cJSON_CreateObject();
  char msg[600];
  snprintf(msg, sizeof msg, "cannot start worker: %s: %s", prog, strerror(e));
  cJSON_AddStringToObject(o, "error", msg);
  char *t = hp_json_print(o);
  if (t) {
    size_t len = strlen(t);
    t[len] = '\n'; /* replaces the terminator: written with its length */
    if (write(STDOUT_FILENO, t, len + 1) < 0) {}
  }
  free(t);
  cJSON_Delete(o);
  fprintf(stderr, "hpsearch worker: %s\n", msg);
}

int hp_supervise_run(pid_t parent, char **cmd) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0)
    fprintf(stderr, "hpsearch worker: cannot become a subreaper (%s): a command that leaves "
                    "its process group may outlive its trial\n",
            strerror(errno));
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, &old);
  /* The daemon's death ends the trial too (it could never be stored). */
  if (parent > 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0L, 0L, 0L);
    if (getppid() != parent) return 128 + SIGTERM; /* it died before we got here */
  }
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    report_exec_error(cmd[0], errno);
    return 127;
  }
  pid_t child = fork();
  if (child < 0) {
    report_exec_error(cmd[0], errno);
    return 127;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(errpipe[0]);
    execvp(cmd[0], cmd);
    int e = errno;
    if (write(errpipe[1], &e, sizeof e) < 0) {}
    _exit(127);
  }
  close(errpipe[1]);
  int e = 0;
  ssize_t got;
  do got = read(errpipe[0], &e, sizeof e);
  while (got < 0 && errno == EINTR);
  close(errpipe[0]);
  int status = 0;
  bool have = false;
  if (got == (ssize_t)sizeof e) {
    report_exec_error(cmd[0], e);
    kill_descendants(child, &status, &have);
    return 127;
  }
  int asked = 0; /* the signal that asked us to stop, if any */
  while (!have && asked == 0) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig == SIGCHLD) {
      int st = 0;
      pid_t p;
      while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        if (p == child) {
          status = st;
          have = true;
        }
    } else if (sig > 0) {
      asked = sig;
    }
  }
  kill_descendants(child, &status, &have);
  if (asked != 0) return 128 + asked;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    /* Die the same way, so the daemon reports the command's signal; the
     * command dumped core already if it was going to. */
    int sig = WTERMSIG(status);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
    return 128 + sig;
  }
  return 1;
}

/* Child processes of tests. hp_test_child_dies_with_parent: for tests that
 * fork a long-lived child (a daemon): the child gets SIGTERM when the test
 * process dies, so a test binary killed by a timeout or an abort leaves no
 * daemon behind (41 such orphans were found on a shared machine in one
 * afternoon). Call in the child right after fork(), with the pid the parent
 * had before the fork. hp_test_sh: a shell command by printf format, its
 * exit status (-1: not run, 128: killed by a signal). */
#ifndef HP_TESTS_CHILD_H
#define HP_TESTS_CHILD_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void hp_test_child_dies_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0L, 0L, 0L);
  if (getppid() != parent) _exit(127); /* the parent died before prctl */
}

static inline int hp_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int hp_test_sh(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

#endif

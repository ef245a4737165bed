/* The scheduler's invariant check (daemon/sched_check.c): a consistent
 * daemon passes it, and each kind of broken list or counter aborts with a
 * message naming the invariant. Runs in the checked (ASan) build only; the
 * -O3 build compiles the check out and skips these tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#define HP_FUZZ_REPLAY 1
#pragma GCC diagnostic ignored "-Wunused-function" /* the harness' request helpers */
#include "../fuzz/fuzz_daemon.h"

/* A daemon with one study "s" and trial 0 asked (running, no worker). */
static hp_study_t *setup_study(hp_daemon_t **dp) {
  hp_daemon_t *d = fz_daemon();
  fz_begin(d);
  cJSON *j = cJSON_Parse("{\"name\":\"s\",\"n_trials\":5,\"parallelism\":2,"
                         "\"space\":{\"x\":{\"type\":\"float\",\"low\":0,\"high\":1}}}");
  hp_study_spec_t *sp = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_study_spec_parse(j, &sp, &err), 0);
  cJSON_Delete(j);
  hp_study_t *st = NULL;
  assert_int_equal(hp_sched_create(d, sp, &st, &err), 0);
  hp_run_t *run = NULL;
  assert_int_equal(hp_sched_ask(st, &run, &err), 0);
  *dp = d;
  return st;
}

typedef void (*breaker_fn)(hp_daemon_t *d, hp_study_t *st);

/* Runs the check in a child after break_it; the child must die of SIGABRT
 * with `want` in what it printed. */
static void expect_abort(breaker_fn break_it, const char *want) {
#ifndef HP_CHECK_INVARIANTS
  (void)break_it, (void)want;
  skip();
#else
  hp_daemon_t *d = NULL;
  hp_study_t *st = setup_study(&d);
  hp_sched_check(d); /* consistent before */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    break_it(d, st);
    hp_sched_check(d);
    _exit(0); /* not caught: the parent fails the test */
  }
  close(fds[1]);
  char buf[2048];
  size_t n = 0;
  ssize_t got;
  while (n < sizeof buf - 1 && (got = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)got;
  buf[n] = '\0';
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("the check did not abort for \"%s\" (status %d): %s", want, status, buf);
  if (strstr(buf, "invariant broken") == NULL || strstr(buf, want) == NULL)
    fail_msg("the abort message does not name \"%s\": %s", want, buf);
  fz_end(d);
#endif
}

static void test_consistent_passes(void **state) {
  (void)state;
#ifndef HP_CHECK_INVARIANTS
  skip();
#else
  hp_daemon_t *d = NULL;
  hp_study_t *st = setup_study(&d);
  hp_sched_check(d);
  hp_run_t *run = st->runs[0];
  assert_non_null(run);
  double v = 0.5;
  hp_err_t err = {0};
  assert_int_equal(hp_sched_finish(run, HP_STORE_COMPLETE, &v, NULL, &err), 0);
  hp_sched_check(d); /* the ended run waits in d->settling */
  fz_end(d);
#endif
}

static void brk_study_workers(hp_daemon_t *d, hp_study_t *st) { (void)d, st->n_workers = 1; }
static void brk_n_studies(hp_daemon_t *d, hp_study_t *st) { (void)st, d->n_studies++; }
static void brk_running(hp_daemon_t *d, hp_study_t *st) {
  (void)d, st->n_state[HP_STORE_RUNNING] = 0;
}
static void brk_jobs(hp_daemon_t *d, hp_study_t *st) { (void)st, d->n_workers = d->jobs + 1; }
static void brk_run_study(hp_daemon_t *d, hp_study_t *st) { (void)d, st->runs[0]->study_id = 99; }
static void brk_next_number(hp_daemon_t *d, hp_study_t *st) { (void)d, st->next_number = 0; }
static void brk_order(hp_daemon_t *d, hp_study_t *st) {
  static hp_study_t twin;
  twin = *st; /* a second study with the same id, after it */
  twin.runs_cap = 0;
  twin.n_workers = 0;
  st->next = &twin;
  d->n_studies++;
}

static void test_study_workers(void **state) {
  (void)state;
  expect_abort(brk_study_workers, "study n_workers counts its runs with a worker");
}
static void test_n_studies(void **state) {
  (void)state;
  expect_abort(brk_n_studies, "d->n_studies counts d->studies");
}
static void test_running_count(void **state) {
  (void)state;
  expect_abort(brk_running, "RUNNING count covers the running runs");
}
static void test_jobs(void **state) {
  (void)state;
  expect_abort(brk_jobs, "d->n_workers <= --jobs");
}
static void test_run_backpointer(void **state) {
  (void)state;
  expect_abort(brk_run_study, "run points to its study");
}
static void test_next_number(void **state) {
  (void)state;
  expect_abort(brk_next_number, "trials counted <= next_number");
}
static void test_study_order(void **state) {
  (void)state;
  expect_abort(brk_order, "d->studies ascends by study_id");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_consistent_passes), cmocka_unit_test(test_study_workers),
      cmocka_unit_test(test_n_studies),         cmocka_unit_test(test_running_count),
      cmocka_unit_test(test_jobs),              cmocka_unit_test(test_run_backpointer),
      cmocka_unit_test(test_next_number),       cmocka_unit_test(test_study_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

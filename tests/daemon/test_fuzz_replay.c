/* Replays the committed fuzz corpus of the daemon-level parsers (RPC request
 * lines, study specs, worker output lines, databases written by others;
 * tests/fuzz/corpus/) through the
 * libFuzzer harnesses' own entry functions, built normally: every seed and
 * every regression case a fuzz run found must still pass their invariants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#define HP_FUZZ_REPLAY 1
#include "../fuzz/fuzz_db_load.c"
#include "../fuzz/fuzz_rpc.c"
#include "../fuzz/fuzz_study_spec.c"
#include "../fuzz/fuzz_worker_line.c"
#include "../fuzz/replay.h"

static void test_rpc_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("rpc", fuzz_rpc) >= 5);
}

static void test_study_spec_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("study_spec", fuzz_study_spec) >= 5);
}

static void test_db_load_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("db_load", fuzz_db_load) >= 5);
}

static void test_worker_line_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("worker_line", fuzz_worker_line) >= 5);
}

/* The harness itself must be able to fail: valid reply lines are counted,
 * and a reply line that is not JSON aborts (checked in a child process). */
static void test_output_check(void **state) {
  (void)state;
  hp_daemon_t *d = fz_daemon();
  hp_conn_t *c = fz_conn_open(d);
  const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
  hp_conn_send(c, ok, strlen(ok));
  hp_conn_send(c, ok, strlen(ok));
  assert_int_equal(fz_check_output(c), 2);
  assert_int_equal(c->out_len, 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    const char *bad = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":";
    hp_conn_send(c, bad, strlen(bad));
    fz_check_output(c);
    _exit(0); /* not reached if the check works */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  fz_conn_close(d, c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rpc_corpus),
      cmocka_unit_test(test_study_spec_corpus),
      cmocka_unit_test(test_worker_line_corpus),
      cmocka_unit_test(test_db_load_corpus),
      cmocka_unit_test(test_output_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

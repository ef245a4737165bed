/* Fuzz harness for the daemon's request handling: each input is what a client
 * writes on the socket, split into lines as the server frames them; every
 * line goes through hp_rpc_handle_line against a real store and scheduler.
 * Before the input runs, a study "fz" exists (random sampler, median pruner,
 * trials driven by clients) with trial 0 asked, so single-line inputs reach
 * the trial methods. Invariants: no crash or sanitizer report; every line
 * the daemon writes back is a JSON-RPC 2.0 object (errors with a code and a
 * non-empty message); and after the input the scheduler can be rebuilt from
 * what was written, as a restarted daemon would do. */
#include "fuzz_daemon.h"

static const char FZ_SETUP_CREATE[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"study.create\",\"params\":{\"spec\":"
    "{\"name\":\"fz\",\"direction\":\"minimize\",\"n_trials\":50,"
    "\"sampler\":{\"type\":\"random\",\"seed\":1},"
    "\"pruner\":{\"type\":\"median\",\"n_startup_trials\":0},"
    "\"space\":{\"x\":{\"type\":\"float\",\"low\":-5,\"high\":5},"
    "\"n\":{\"type\":\"int\",\"low\":1,\"high\":8,\"log\":true},"
    "\"c\":{\"type\":\"categorical\",\"choices\":[\"a\",1,null,true]}}}}}";
static const char FZ_SETUP_ASK[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"trial.ask\",\"params\":{\"study\":\"fz\"}}";

int fuzz_rpc(const uint8_t *data, size_t size);
int fuzz_rpc(const uint8_t *data, size_t size) {
  hp_daemon_t *d = fz_daemon();
  fz_begin(d);
  hp_conn_t *c = fz_conn_open(d);
  HP_FUZZ_CHECK(fz_request(d, c, FZ_SETUP_CREATE) == 1, "setup: study.create gave no reply");
  HP_FUZZ_CHECK(fz_request(d, c, FZ_SETUP_ASK) == 1, "setup: trial.ask gave no reply");
  size_t start = 0;
  for (size_t i = 0; i <= size && !c->closing; i++) {
    if (i < size && data[i] != '\n') continue;
    size_t len = i - start;
    if (len > 0 && data[start + len - 1] == '\r') len--; /* as server.c frames */
    if (len > 0) {
      char *line = hp_fuzz_dup(data + start, len, 0);
      hp_rpc_handle_line(d, c, line, len);
      free(line);
      if (!c->closing) fz_check_output(c);
    }
    start = i + 1;
  }
  fz_conn_close(d, c);
  /* A restart on the same database (uncommitted rows are visible inside the
   * batch): what the daemon wrote, it must be able to load again. */
  int n_before = d->n_studies;
  hp_sched_free(d);
  hp_err_t err = {0};
  int rc = hp_sched_load(d, &err);
  HP_FUZZ_CHECK(rc == 0, "reloading the studies this input created failed: %s", err.msg);
  HP_FUZZ_CHECK(d->n_studies == n_before, "%d studies before the restart, %d after", n_before,
                d->n_studies);
  fz_end(d);
  return 0;
}

HP_FUZZ_MAIN(fuzz_rpc)

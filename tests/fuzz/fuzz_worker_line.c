/* Fuzz harness for the parser of what a worker prints on stdout (the JSON
 * lines of docs/study-spec.md: {"step": N, "value": V}, {"value": V, ...},
 * {"error": "..."}, free text). The parser is hp_worker_line() in
 * daemon/worker.c (a Slurm job's relayed lines go through it too); this
 * harness includes worker.c itself (and therefore
 * defines hp_worker_start/hp_worker_kill; libdaemon's worker.o is then not
 * linked). The input is the worker's whole stdout, framed into lines as
 * on_out_read does (a last line without '\n' counts). The trial is trial 1
 * of a study with a median pruner whose trial 0 completed with four
 * reports, so reports can be pruned; the pretend worker has exited already
 * (pid 0), so killing it only records the reason. Afterwards the trial is
 * finished as hp_worker_maybe_done would, which stores the outcome. */
#include "../../daemon/worker.c"
#include "fuzz_daemon.h"

static const char *const FZ_WSETUP[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"study.create\",\"params\":{\"spec\":{\"name\":"
    "\"fzw\",\"direction\":\"minimize\",\"sampler\":{\"type\":\"random\",\"seed\":2},"
    "\"pruner\":{\"type\":\"median\",\"n_startup_trials\":1},"
    "\"space\":{\"x\":{\"type\":\"float\",\"low\":0,\"high\":1}}}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"trial.ask\",\"params\":{\"study\":\"fzw\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"trial.report\",\"params\":{\"study\":\"fzw\",\"trial\":0,\"step\":0,\"value\":1.0}}",
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"trial.report\",\"params\":{\"study\":\"fzw\",\"trial\":0,\"step\":1,\"value\":0.5}}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"trial.report\",\"params\":{\"study\":\"fzw\",\"trial\":0,\"step\":2,\"value\":0.25}}",
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"trial.report\",\"params\":{\"study\":\"fzw\",\"trial\":0,\"step\":3,\"value\":0.125}}",
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"trial.tell\",\"params\":{\"study\":\"fzw\",\"trial\":0,\"value\":0.125}}",
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"trial.ask\",\"params\":{\"study\":\"fzw\"}}",
    NULL};

/* One stdout line, in a buffer with one spare byte as on_out_read gives it. */
static void fz_worker_line(hp_worker_t *w, const uint8_t *p, size_t len) {
  char *line = malloc(len + 1);
  HP_FUZZ_CHECK(line != NULL, "malloc");
  if (len) memcpy(line, p, len);
  line[len] = 'X'; /* not a terminator: the parser must use len */
  hp_worker_line(w, line, len);
  free(line);
}

int fuzz_worker_line(const uint8_t *data, size_t size);
int fuzz_worker_line(const uint8_t *data, size_t size) {
  hp_daemon_t *d = fz_daemon();
  fz_begin(d);
  hp_conn_t *c = fz_conn_open(d);
  for (int i = 0; FZ_WSETUP[i]; i++)
    HP_FUZZ_CHECK(fz_request(d, c, FZ_WSETUP[i]) == 1, "setup request %d", i);
  hp_study_t *st = d->studies;
  HP_FUZZ_CHECK(st != NULL && st->runs_cap > 1 && st->runs[1] != NULL, "setup: no trial 1");
  hp_run_t *run = st->runs[1];
  hp_worker_t *w = calloc(1, sizeof *w);
  HP_FUZZ_CHECK(w != NULL, "calloc");
  w->d = d;
  w->run = run;
  w->exited = true; /* pid 0: hp_worker_kill signals nobody */
  w->kill_state = HP_STORE_FAIL; /* as hp_worker_start sets it */
  size_t start = 0;
  for (size_t i = 0; i < size; i++) {
    if (data[i] != '\n') continue;
    fz_worker_line(w, data + start, i - start);
    start = i + 1;
  }
  if (start < size) fz_worker_line(w, data + start, size - start);
  /* How the trial ends, as worker_maybe_done decides it for a clean exit. */
  hp_store_state_t state = HP_STORE_FAIL;
  double value = NAN;
  const char *reason = "exited without reporting a final value";
  if (w->reason) state = w->kill_state, reason = w->reason;
  else if (w->have_final && !isnan(w->final_value))
    state = HP_STORE_COMPLETE, value = w->final_value, reason = NULL;
  HP_FUZZ_CHECK(state == HP_STORE_COMPLETE || state == HP_STORE_PRUNED || state == HP_STORE_FAIL,
                "the worker's trial would end in state %s (reason \"%s\"): kill_state was never set",
                hp_store_state_name(state), reason ? reason : "");
  hp_err_t err = {0};
  run->end_attrs = w->final_attrs; /* as worker_maybe_done hands them over */
  w->final_attrs = NULL;
  int rc = hp_sched_finish(run, state, state == HP_STORE_COMPLETE ? &value : NULL, reason, &err);
  HP_FUZZ_CHECK(rc == 0, "finishing the trial failed: %s", err.msg);
  free(w->reason);
  free(w->out_lines.buf);
  free(w);
  fz_check_output(c);
  fz_conn_close(d, c);
  fz_end(d);
  return 0;
}

HP_FUZZ_MAIN(fuzz_worker_line)

/* The scheduler's invariants, checked after every loop iteration (server.c's
 * check phase) in builds with HP_CHECK_INVARIANTS (the ASan build of `make
 * test`; not the -O3 build, where a pass over every study's runs each
 * iteration would cost throughput). A broken invariant aborts the daemon
 * with a message naming it: a bug found where it happens, not three
 * requests later. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sched_int.h"

#ifdef HP_CHECK_INVARIANTS

/* Enough for any list the tests build; a longer one is taken for a cycle. */
#define CHECK_MAX_LIST 10000000

static void broken(const char *what, long long a, long long b) {
  fprintf(stderr, "hpsearch daemon: invariant broken: %s (%lld vs %lld)\n", what, a, b);
  fflush(stderr);
  abort();
}

#define CHECK(cond, what, a, b) \
  do {                          \
    if (!(cond)) broken(what, (long long)(a), (long long)(b)); \
  } while (0)

/* d->settling or d->unstored: ended runs, none of them still in a study's
 * runs[], linked without a cycle; settling ends are in the open batch or
 * failed (then d->store_failed), unstored ones are not written. */
static void check_ended(const hp_daemon_t *d, const hp_run_t *list, bool settling) {
  long long n = 0;
  for (const hp_run_t *r = list; r; r = r->next_end) {
    CHECK(++n < CHECK_MAX_LIST, "ended-run list has a cycle", n, CHECK_MAX_LIST);
    CHECK(r->ended, "run in settling/unstored has ended", r->number, 1);
    CHECK(r->w == NULL, "ended run has no worker", r->number, 0);
    if (!settling) CHECK(!r->end_written, "unstored run's end is not written", r->number, 0);
    if (r->st != NULL && r->st->d == d && (size_t)r->number < r->st->runs_cap)
      CHECK(r->st->runs[r->number] != r, "ended run is not in its study's runs[]", r->number,
            r->study_id);
  }
}

void hp_sched_check(const hp_daemon_t *d) {
  /* studies: ascending unique ids, counted by n_studies */
  int n_studies = 0;
  long long study_workers = 0;
  int64_t last_id = INT64_MIN;
  for (const hp_study_t *st = d->studies; st; st = st->next) {
    CHECK(++n_studies <= d->n_studies, "d->studies is no longer than d->n_studies", n_studies,
          d->n_studies);
    CHECK(st->id > last_id, "d->studies ascends by study_id", st->id, last_id);
    last_id = st->id;
    CHECK(st->d == d, "study points to its daemon", st->id, 0);
    CHECK(st->spec != NULL || (st->sampler == NULL && st->pruner == NULL && st->n_workers == 0),
          "study without spec has no sampler, pruner or workers", st->id, st->n_workers);
    CHECK(st->spec == NULL || (st->sampler != NULL && st->pruner != NULL),
          "study with spec has a sampler and a pruner", st->id, 0);
    CHECK(st->spec == NULL || st->maximize == st->spec->maximize,
          "study direction matches its spec", st->maximize, st->spec ? st->spec->maximize : 0);
    CHECK(st->stop_reason == NULL || st->state == HP_STUDY_STOPPED,
          "a stop reason means a stopped study", st->id, st->state);
    CHECK(st->failed_in_row >= 0, "failures in a row are not negative", st->id,
          st->failed_in_row);
    CHECK(st->spec == NULL || isnan(st->budget_since) == (st->state == HP_STUDY_STOPPED),
          "the time budget is counted unless the study is stopped", st->id, st->state);
    /* counts per state; numbers below next_number */
    long long total = 0;
    for (int s = 0; s < HP_STORE_NSTATES; s++) {
      CHECK(st->n_state[s] >= 0, "trial count per state is not negative", st->id, st->n_state[s]);
      total += st->n_state[s];
    }
    CHECK(total <= st->next_number, "trials counted <= next_number", total, st->next_number);
    /* running trials of this daemon: back-pointers and counters */
    long long n_runs = 0, n_worker_runs = 0;
    for (size_t i = 0; i < st->runs_cap; i++) {
      const hp_run_t *r = st->runs[i];
      if (r == NULL) continue;
      n_runs++;
      CHECK(r->st == st && r->study_id == st->id, "run points to its study", r->study_id, st->id);
      CHECK(r->number == (int64_t)i, "run is at its number in runs[]", r->number, (long long)i);
      CHECK(r->number < st->next_number, "run number < next_number", r->number, st->next_number);
      CHECK(!r->ended, "a run in runs[] has not ended", r->number, 0);
      CHECK(r->trial_id > 0, "a run has a trial_id", r->number, r->trial_id);
      CHECK(st->spec != NULL, "a study with runs has a spec", st->id, n_runs);
      if (r->w) {
        n_worker_runs++;
        CHECK(r->w->run == r, "worker of a run points back to it", r->number, r->w->pid);
        CHECK(r->w->d == d && !r->w->done, "worker of a run is live", r->number, r->w->pid);
      }
    }
    CHECK(st->n_workers == n_worker_runs, "study n_workers counts its runs with a worker",
          st->n_workers, n_worker_runs);
    CHECK(st->n_state[HP_STORE_RUNNING] >= n_runs, "RUNNING count covers the running runs",
          st->n_state[HP_STORE_RUNNING], n_runs);
    CHECK(st->state != HP_STUDY_FINISHED || n_runs == 0, "a finished study runs nothing",
          st->id, n_runs);
    CHECK(st->spec == NULL || st->n_workers <= st->spec->parallelism,
          "study n_workers <= its parallelism", st->n_workers,
          st->spec ? st->spec->parallelism : 0);
    study_workers += st->n_workers;
  }
  CHECK(n_studies == d->n_studies, "d->n_studies counts d->studies", d->n_studies, n_studies);
  /* workers: libuv's children, counted by n_workers, never more than --jobs */
  long long listed = 0;
  for (const hp_worker_t *w = d->workers; w; w = w->wnext) {
    CHECK(++listed < CHECK_MAX_LIST, "d->workers has a cycle", listed, CHECK_MAX_LIST);
    CHECK(w->listed && !w->exited, "listed worker has not exited", w->pid, 0);
    CHECK(w->wprev ? w->wprev->wnext == w : d->workers == w, "d->workers links both ways",
          w->pid, 0);
    CHECK(w->run == NULL || w->run->w == w, "run of a worker points back to it", w->pid, 0);
  }
  CHECK(d->n_workers >= listed, "d->n_workers counts the unreaped workers", d->n_workers, listed);
  CHECK(d->n_workers + d->n_jobs >= study_workers,
        "d->n_workers + d->n_jobs covers the studies' workers", d->n_workers + d->n_jobs,
        study_workers);
  CHECK(d->n_workers <= d->jobs, "d->n_workers <= --jobs", d->n_workers, d->jobs);
  check_ended(d, d->settling, true);
  check_ended(d, d->unstored, false);
  /* connections: a doubly linked list counted by n_conns and n_subscribers */
  int n_conns = 0, n_subs = 0;
  for (const hp_conn_t *c = d->conns; c; c = c->next) {
    CHECK(++n_conns <= d->n_conns, "d->conns is no longer than d->n_conns", n_conns, d->n_conns);
    CHECK(c->prev ? c->prev->next == c : d->conns == c, "d->conns links both ways",
          (long long)c->id, 0);
    CHECK(!c->closing, "a listed connection is not closing", (long long)c->id, 0);
    n_subs += c->subscribed;
  }
  CHECK(n_conns == d->n_conns, "d->n_conns counts d->conns", d->n_conns, n_conns);
  CHECK(n_subs == d->n_subscribers, "d->n_subscribers counts subscribed connections",
        d->n_subscribers, n_subs);
}

#endif

/* Writes a large study for `make bench-dashboard` (and a study with two
 * objectives for the Pareto page's browser test):
 *   bench_dashboard_gen DB N [NAME [OBJECTIVES]]
 * creates study NAME (default "big") in DB with N finished trials through the
 * store library (six parameters of every kind, five epochs of intermediate
 * values, about 80% COMPLETE, 12% PRUNED, 8% FAIL with a reason, a user
 * attribute), then spreads their start and end times over four worker slots
 * (the store stamps "now"; a timeline of 100,000 trials started in the same
 * second shows nothing). Seeded: the same N gives the same file. A new file
 * is in Optuna 3.1's schema (Debian's Optuna, the benchmark's anchor, reads
 * it); the study has no objective and no n_trials, so a daemon on the file
 * hands out more trials of it (trial.ask). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/rng.h"
#include "hpsearch/space.h"
#include "hpsearch/store.h"

static const char *SPACE =
    "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1e-1, \"log\": true},"
    " \"wd\": {\"type\": \"float\", \"low\": 1e-6, \"high\": 1e-2, \"log\": true},"
    " \"dropout\": {\"type\": \"float\", \"low\": 0.0, \"high\": 0.5},"
    " \"width\": {\"type\": \"int\", \"low\": 32, \"high\": 1024},"
    " \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", \"rmsprop\"]},"
    " \"momentum\": {\"type\": \"float\", \"low\": 0.0, \"high\": 0.99}}";

static void die(const char *what, const hp_err_t *err) {
  fprintf(stderr, "bench_dashboard_gen: %s: %s\n", what, err ? err->msg : "");
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_dashboard_gen DB N [NAME [OBJECTIVES]]\n");
    return 2;
  }
  const char *path = argv[1], *name = argc > 3 ? argv[3] : "big";
  long n = strtol(argv[2], NULL, 10);
  int nobj = argc > 4 ? atoi(argv[4]) : 1;
  if (nobj < 1 || nobj > 2) {
    fprintf(stderr, "bench_dashboard_gen: OBJECTIVES is 1 or 2\n");
    return 2;
  }
  hp_err_t err = {0};
  hp_space_t *space = NULL;
  if (hp_space_parse_text(SPACE, strlen(SPACE), &space, &err) < 0) die("space", &err);
  char *dj[16];
  for (int k = 0; k < space->n; k++) dj[k] = hp_dist_to_optuna_json(&space->params[k].dist);
  hp_store_t *s = NULL;
  if (hp_store_open(path, HP_STORE_CREATE_V31, &s, &err) < 0) die(path, &err);
  char sys[2048];
  snprintf(sys, sizeof sys,
           "{\"hpsearch:spec\": {\"name\": \"%s\", \"direction\": \"minimize\", "
           "\"parallelism\": 4, \"sampler\": {\"type\": \"tpe\"}, \"pruner\": {\"type\": \"median\"}, "
           "\"space\": %s}, \"hpsearch:state\": \"running\"}",
           name, SPACE);
  /* two objectives: the loss (minimize) and the network's width (maximize) */
  bool maximize[2] = {false, true};
  int64_t sid;
  if (hp_store_study_create(s, name, nobj, maximize, NULL, nobj == 1 ? sys : NULL, &sid, &err) < 0)
    die("study", &err);
  hp_rng_t rng;
  hp_rng_seed(&rng, 42);
  hp_store_param_t p[16];
  int64_t *ids = malloc(sizeof *ids * (size_t)(n > 0 ? n : 1));
  for (long i = 0; i < n; i++) {
    if (i % 5000 == 0 && hp_store_begin(s, &err) < 0) die("begin", &err);
    double x[16];
    for (int k = 0; k < space->n; k++) {
      const hp_dist_t *d = &space->params[k].dist;
      double u = hp_rng_uniform(&rng);
      if (d->kind == HP_DIST_CAT) x[k] = floor(u * d->n_choices);
      else if (d->log) x[k] = exp(log(d->low) + u * (log(d->high) - log(d->low)));
      else x[k] = d->low + u * (d->high - d->low);
      if (d->kind == HP_DIST_INT) x[k] = floor(x[k]);
      p[k] = (hp_store_param_t){space->params[k].name, x[k], dj[k]};
    }
    int64_t tid;
    if (hp_store_trial_create(s, sid, HP_STORE_RUNNING, p, (size_t)space->n, NULL, &tid, NULL,
                              &err) < 0)
      die("trial", &err);
    ids[i] = tid;
    double loss = pow(log10(x[0]) + 3, 2) * 0.1 + 0.2 * x[2] + (x[4] == 1 ? 0 : 0.05) +
                  0.02 * hp_rng_uniform(&rng) + 0.3;
    double r = hp_rng_uniform(&rng);
    int epochs = r < 0.8 ? 5 : r < 0.92 ? 2 : 1;
    for (int e = 0; e < epochs; e++)
      if (hp_store_trial_report(s, tid, e, loss * (1 + 0.5 / (e + 1)), &err) < 0) die("report", &err);
    char ua[64];
    snprintf(ua, sizeof ua, "%.4f", 1 - loss / 2);
    if (hp_store_trial_set_user_attr(s, tid, "test_accuracy", ua, &err) < 0) die("attr", &err);
    int rc;
    double vals[2] = {loss, x[3]};
    if (r < 0.8) rc = hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, vals, (size_t)nobj, NULL, &err);
    else if (r < 0.92)
      rc = hp_store_trial_finish(s, tid, HP_STORE_PRUNED, NULL, 0,
                                 "{\"hpsearch:reason\": \"pruned at step 1\"}", &err);
    else
      rc = hp_store_trial_finish(s, tid, HP_STORE_FAIL, NULL, 0,
                                 "{\"fail_reason\": \"exit status 1\"}", &err);
    if (rc < 0) die("finish", &err);
    if ((i % 5000 == 4999 || i == n - 1) && hp_store_commit(s, &err) < 0) die("commit", &err);
  }
  hp_store_close(s);
  /* Four slots, each trial 20..80 s after the previous one in its slot. */
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite3_open", NULL);
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db,
                     "UPDATE trials SET datetime_start = strftime('%Y-%m-%d %H:%M:%f', ?1, 'unixepoch'),"
                     " datetime_complete = strftime('%Y-%m-%d %H:%M:%f', ?2, 'unixepoch')"
                     " WHERE trial_id = ?3",
                     -1, &st, NULL);
  double slot[4] = {1.7e9, 1.7e9 + 3, 1.7e9 + 7, 1.7e9 + 11};
  for (long i = 0; i < n; i++) {
    int k = (int)(i % 4);
    double start = slot[k] + 0.5, dur = 20 + 60 * hp_rng_uniform(&rng);
    slot[k] = start + dur;
    sqlite3_bind_double(st, 1, start);
    sqlite3_bind_double(st, 2, start + dur);
    sqlite3_bind_int64(st, 3, ids[i]);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) die("update times", NULL);
  sqlite3_close(db);
  for (int k = 0; k < space->n; k++) free(dj[k]);
  hp_space_free(space);
  free(ids);
  return 0;
}

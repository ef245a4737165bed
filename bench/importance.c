/* Benchmark driver for parameter importance (run by bench/importance.sh,
 * which puts the numbers beside the vendored Optuna 5's):
 *   bench_importance make DB NAME N
 *       writes study NAME with N COMPLETE trials of 10 parameters (6 floats,
 *       2 of them log, 3 ints, 1 categorical of 4 choices) drawn uniformly
 *       (seeded), the value a sum of effects of decreasing size;
 *   bench_importance time DB NAME EVALUATOR REPEATS
 *       times `hpsearch importance` end to end inside one process (read the
 *       trials from the database, build the table, rank, build the JSON),
 *       REPEATS times, and the ranking alone; prints
 *       "time EVALUATOR N median_total_ms median_read_ms median_rank_ms
 *       median_total_cpu_ms median_store_read_cpu_ms" and
 *       then the importance object as one JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/importance.h"
#include "hpsearch/json.h"
#include "hpsearch/rng.h"
#include "hpsearch/space.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"
#include "../view/view_int.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

/* CPU time of this process: what the ranking costs whatever else the
 * (shared) machine runs. */
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *SPACE =
    "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1, \"log\": true},"
    " \"wd\": {\"type\": \"float\", \"low\": 1e-6, \"high\": 1e-2, \"log\": true},"
    " \"dropout\": {\"type\": \"float\", \"low\": 0, \"high\": 0.5},"
    " \"momentum\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99},"
    " \"beta2\": {\"type\": \"float\", \"low\": 0.9, \"high\": 0.9999},"
    " \"clip\": {\"type\": \"float\", \"low\": 0.1, \"high\": 10},"
    " \"width\": {\"type\": \"int\", \"low\": 16, \"high\": 1024},"
    " \"depth\": {\"type\": \"int\", \"low\": 1, \"high\": 6},"
    " \"batch\": {\"type\": \"int\", \"low\": 16, \"high\": 512, \"step\": 16},"
    " \"act\": {\"type\": \"categorical\", \"choices\": [\"relu\", \"tanh\", \"gelu\", \"elu\"]}}";

static int make(const char *db, const char *name, long n) {
  hp_err_t err = {0};
  hp_space_t *sp = NULL;
  hp_store_t *s = NULL;
  if (hp_space_parse_text(SPACE, strlen(SPACE), &sp, &err) < 0 ||
      hp_store_open(db, 0, &s, &err) < 0) {
    fprintf(stderr, "bench_importance: %s\n", err.msg);
    return 1;
  }
  bool max = false;
  int64_t sid;
  if (hp_store_study_create(s, name, 1, &max, NULL, NULL, &sid, &err) < 0) {
    fprintf(stderr, "bench_importance: %s\n", err.msg);
    return 1;
  }
  char *dj[10];
  for (int p = 0; p < sp->n; p++) dj[p] = hp_dist_to_optuna_json(&sp->params[p].dist);
  hp_rng_t rng;
  hp_rng_seed(&rng, 2026);
  hp_store_begin(s, &err);
  for (long i = 0; i < n; i++) {
    double x[10];
    hp_store_param_t ps[10];
    for (int p = 0; p < sp->n; p++) {
      const hp_dist_t *d = &sp->params[p].dist;
      double u = hp_rng_uniform(&rng);
      if (d->kind == HP_DIST_CAT) x[p] = (double)hp_rng_below(&rng, (uint64_t)d->n_choices);
      else if (d->kind == HP_DIST_INT)
        x[p] = d->low + d->step * (double)hp_rng_below(&rng, (uint64_t)((d->high - d->low) / d->step) + 1);
      else if (d->log) x[p] = exp(log(d->low) + u * (log(d->high) - log(d->low)));
      else x[p] = d->low + u * (d->high - d->low);
      ps[p] = (hp_store_param_t){sp->params[p].name, x[p], dj[p]};
    }
    double v = pow(log10(x[0]) + 2.5, 2) + 0.5 * fabs(log10(x[1]) + 4) + 2 * x[2] + 0.3 * x[3] +
               0.2 * x[4] + 0.02 * x[5] + 0.001 * x[6] + 0.05 * x[7] + 0.0005 * x[8] +
               (x[9] == 1 ? 0.4 : 0.0);
    int64_t tid;
    if (hp_store_trial_create(s, sid, HP_STORE_RUNNING, ps, 10, NULL, &tid, NULL, &err) < 0 ||
        hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &err) < 0) {
      fprintf(stderr, "bench_importance: %s\n", err.msg);
      return 1;
    }
  }
  if (hp_store_commit(s, &err) < 0) {
    fprintf(stderr, "bench_importance: %s\n", err.msg);
    return 1;
  }
  for (int p = 0; p < sp->n; p++) free(dj[p]);
  hp_space_free(sp);
  hp_store_close(s);
  return 0;
}

static int timeit(const char *db, const char *name, const char *ev, int reps) {
  hp_err_t err = {0};
  hp_store_t *s = NULL;
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  int64_t sid;
  if (hp_imp_evaluator_parse(ev, &o.evaluator, &err) < 0 ||
      hp_store_open(db, HP_STORE_READONLY, &s, &err) < 0 ||
      hp_store_study_find(s, name, &sid, &err) < 0) {
    fprintf(stderr, "bench_importance: %s\n", err.msg);
    return 1;
  }
  double total[64], read[64], rank[64], cpu[64], store_cpu[64];
  if (reps > 64) reps = 64;
  int64_t n_rows = 0;
  cJSON *j = NULL;
  for (int r = 0; r < reps; r++) {
    /* end to end, as the CLI's --db path and the daemon run it */
    double t0 = now_ms(), c0 = cpu_ms();
    cJSON_Delete(j);
    if (hp_view_importance(s, sid, &o, &j, &err) < 0) {
      fprintf(stderr, "bench_importance: %s\n", err.msg);
      return 1;
    }
    total[r] = now_ms() - t0;
    cpu[r] = cpu_ms() - c0;
    /* the parts: reading the trials into the table (a column-shaped read
     * of the complete trials' parameters and values), then ranking */
    t0 = now_ms();
    hp_view_table_t tb;
    double c1 = cpu_ms();
    if (hp_view_table_scan(s, sid, &tb, &err) < 0) {
      fprintf(stderr, "bench_importance: %s\n", err.msg);
      return 1;
    }
    store_cpu[r] = cpu_ms() - c1;
    double t1 = now_ms();
    double out[64];
    hp_imp_skip_t skip[64];
    if (tb.n_params > 64 || hp_view_importance_values(&tb, false, &o, out, skip, &n_rows, &err) < 0) {
      fprintf(stderr, "bench_importance: %s\n", err.msg);
      return 1;
    }
    double t2 = now_ms();
    read[r] = t1 - t0, rank[r] = t2 - t1;
    hp_view_table_free(&tb);
  }
  printf("time %s %lld %.2f %.2f %.2f %.2f %.2f\n", ev, (long long)n_rows, median(total, reps),
         median(read, reps), median(rank, reps), median(cpu, reps), median(store_cpu, reps));
  char *text = hp_json_print(j);
  printf("%s\n", text);
  free(text);
  cJSON_Delete(j);
  hp_store_close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "make") == 0) return make(argv[2], argv[3], atol(argv[4]));
  if (argc == 6 && strcmp(argv[1], "time") == 0)
    return timeit(argv[2], argv[3], argv[4], atoi(argv[5]));
  fprintf(stderr,
          "usage: bench_importance make DB NAME N | time DB NAME ped-anova|fanova REPEATS\n");
  return 2;
}

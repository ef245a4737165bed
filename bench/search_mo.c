/* Benchmark driver for several objectives and constraints (run by
 * bench/search_mo.sh, which puts the numbers beside Optuna 5's from
 * bench/search_mo_optuna.py; the problems are defined identically there):
 *   bench_search_mo quality SAMPLER PROBLEM SEED_FROM SEEDS TRIALS
 *       hypervolume of the feasible trials after 200 and after TRIALS
 *       trials (fixed reference points, below); SAMPLER tpe | nsga2 |
 *       random; PROBLEM zdt1 | zdt2 | zdt3 | dtlz2 | wfg4; prints TSV
 *       "mo PROBLEM SAMPLER SEED HV200 HV_TRIALS".
 *   bench_search_mo speed N [SAMPLER]
 *       ask+tell time per trial of MOTPE and NSGA-II on ZDT1 around trial N
 *       (the mean of trials N .. N+19 after N told ones): "speed SAMPLER N
 *       WALL_MS CPU_MS".
 *   bench_search_mo c2dtlz2 SAMPLER SEED_FROM SEEDS TRIALS
 *       C2-DTLZ2 (3 objectives, one constraint; run_c2dtlz2 below),
 *       tpe | nsga2 | random: "cmo c2dtlz2 SAMPLER SEED HV200 HV_TRIALS".
 *   bench_search_mo constrained SEED_FROM SEEDS TRIALS
 *       Branin restricted to a disk, TPE (Optuna 5's constrained rule): best
 *       feasible value after TRIALS: "con branin tpe SEED BEST".
 *   bench_search_mo mixtures PROBLEM N
 *       TPE's Parzen mixtures after the first N trials of a history on
 *       stdin, for bench/search_mo_step.py (run_mixtures below).
 * Problems (minimised, the usual definitions): ZDT1-3 with 30 variables in
 * [0, 1]; DTLZ2 with 3 objectives and 12 variables; WFG4 with 2 objectives,
 * k = 4 position and l = 4 distance variables (z_i in [0, 2i]). Reference
 * points: ZDT (1.1, 11), DTLZ2 (2.5, 2.5, 2.5), WFG4 (3, 5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/mo.h"
#include "hpsearch/sampler.h"
#include "mo_problems.h"
#include "../search/sampler_impl.h" /* hp_tpe_numeric_mixtures */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct problem {
  const char *name;
  int n, m;                       /* variables, objectives */
  double ref[3];                  /* hypervolume reference point */
  void (*f)(const double *x, double *out);
  double (*high)(int i);          /* upper bound of variable i (low is 0) */
} problem_t;

static double one(int i) { (void)i; return 1; }
static double wfg_high(int i) { return 2.0 * (i + 1); }

static const problem_t PROBLEMS[] = {
    {"zdt1", 30, 2, {1.1, 11, 0}, zdt1, one},
    {"zdt2", 30, 2, {1.1, 11, 0}, zdt2, one},
    {"zdt3", 30, 2, {1.1, 11, 0}, zdt3, one},
    {"dtlz2", 12, 3, {2.5, 2.5, 2.5}, dtlz2, one},
    {"wfg4", 8, 2, {3, 5, 0}, wfg4, wfg_high},
};

static const problem_t *problem_of(const char *name) {
  for (size_t i = 0; i < sizeof PROBLEMS / sizeof PROBLEMS[0]; i++)
    if (strcmp(PROBLEMS[i].name, name) == 0) return &PROBLEMS[i];
  fprintf(stderr, "bench_search_mo: unknown problem %s\n", name);
  exit(2);
}

static hp_space_t *space_for(const problem_t *p) {
  char *text = malloc(64 * (size_t)p->n + 8), *t = text;
  t += sprintf(t, "{");
  for (int i = 0; i < p->n; i++)
    t += sprintf(t, "%s\"x%d\": {\"type\": \"float\", \"low\": 0, \"high\": %g}", i ? ", " : "", i,
                 p->high(i));
  sprintf(t, "}");
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  if (hp_space_parse_text(text, strlen(text), &s, &err) != 0) {
    fprintf(stderr, "bench_search_mo: %s\n", err.msg);
    exit(1);
  }
  free(text);
  return s;
}

static hp_sampler_kind_t kind_of(const char *name) {
  if (strcmp(name, "tpe") == 0) return HP_SAMPLER_TPE;
  if (strcmp(name, "nsga2") == 0) return HP_SAMPLER_NSGA2;
  if (strcmp(name, "random") == 0) return HP_SAMPLER_RANDOM;
  fprintf(stderr, "bench_search_mo: unknown sampler %s\n", name);
  exit(2);
}

static hp_sampler_t *sampler_for(const hp_space_t *sp, hp_sampler_kind_t kind, int m,
                                 uint64_t seed) {
  hp_sampler_opts_t o;
  hp_sampler_opts_default(&o, kind);
  o.seed = seed;
  o.n_objectives = m;
  /* Optuna 5's TPE defaults for several objectives: univariate (the daemon
   * does the same for a spec without "multivariate"); constant_liar is moot
   * with one trial at a time */
  if (m > 1) o.multivariate = false;
  hp_sampler_t *s = NULL;
  hp_err_t err = {0};
  if (hp_sampler_create(sp, &o, &s, &err) != 0) {
    fprintf(stderr, "bench_search_mo: %s\n", err.msg);
    exit(1);
  }
  return s;
}

static void step(hp_sampler_t *s, const problem_t *p, int t, double *x, double *f) {
  hp_err_t err = {0};
  if (hp_sampler_suggest(s, t, x, &err) != 0 ||
      (p->f(x, f), hp_sampler_tell_values(s, t, x, HP_FINAL_COMPLETE, f, p->m, NULL, 0, -1, &err)) != 0) {
    fprintf(stderr, "bench_search_mo: %s\n", err.msg);
    exit(1);
  }
}

static void run_quality(const char *sampler, const char *problem, int from, int seeds, int trials) {
  const problem_t *p = problem_of(problem);
  hp_space_t *sp = space_for(p);
  double *pts = malloc((size_t)trials * 3 * sizeof *pts);
  for (int seed = from; seed < from + seeds; seed++) {
    hp_sampler_t *s = sampler_for(sp, kind_of(sampler), p->m, (uint64_t)seed);
    double x[64], hv200 = NAN;
    for (int t = 0; t < trials; t++) {
      step(s, p, t, x, pts + (size_t)t * p->m);
      if (t + 1 == 200) hv200 = hp_mo_hypervolume(pts, 200, p->m, p->ref);
    }
    double hv = hp_mo_hypervolume(pts, trials, p->m, p->ref);
    printf("mo\t%s\t%s\t%d\t%.10g\t%.10g\n", problem, sampler, seed, hv200, hv);
    fflush(stdout);
    hp_sampler_free(s);
  }
  free(pts);
  hp_space_free(sp);
}

static void run_speed(int n, const char *only) {
  const problem_t *p = problem_of("zdt1");
  hp_space_t *sp = space_for(p);
  const char *names[] = {"tpe", "nsga2"};
  for (int k = 0; k < 2; k++) {
    if (only != NULL && strcmp(only, names[k]) != 0) continue;
    hp_sampler_t *s = sampler_for(sp, kind_of(names[k]), 2, 1);
    double x[64], f[2];
    for (int t = 0; t < n; t++) step(s, p, t, x, f);
    double w0 = now(), c0 = cpu_now();
    for (int t = n; t < n + 20; t++) step(s, p, t, x, f);
    printf("speed\t%s\t%d\t%.4f\t%.4f\n", names[k], n, (now() - w0) / 20 * 1e3,
           (cpu_now() - c0) / 20 * 1e3);
    fflush(stdout);
    hp_sampler_free(s);
  }
  hp_space_free(sp);
}

/* Branin on x1 in [-5, 10], x2 in [0, 15]; feasible inside the disk of
 * radius sqrt(50) around (2.5, 7.5): of its three minima (0.397887) only
 * (pi, 2.275) is inside. */
static double branin(double a, double b) {
  double t = b - 5.1 / (4 * M_PI * M_PI) * a * a + 5 / M_PI * a - 6;
  return t * t + 10 * (1 - 1 / (8 * M_PI)) * cos(a) + 10;
}

/* C2-DTLZ2 (Jain and Deb 2014): DTLZ2 with 3 objectives on 12 variables,
 * feasible only inside spheres of radius r = 0.4 around each end of the
 * front (f_i = 1) and around its centre (f_i = 1 / sqrt 3):
 * c = min(min_i ((f_i - 1)^2 + sum_{j != i} f_j^2), sum_i (f_i - 1/sqrt 3)^2) - r^2 <= 0.
 * Hypervolume of the feasible trials up to (2.5, 2.5, 2.5), after 200 and
 * after TRIALS trials: "cmo c2dtlz2 SAMPLER SEED HV200 HV_TRIALS". */
static double c2dtlz2_c(const double *f) {
  const double r = 0.4, cm = 1 / sqrt(3.0);
  double best = 0;
  for (int i = 0; i < 3; i++) {
    double v = 0;
    for (int j = 0; j < 3; j++) v += j == i ? (f[j] - 1) * (f[j] - 1) : f[j] * f[j];
    if (i == 0 || v < best) best = v;
  }
  double centre = 0;
  for (int j = 0; j < 3; j++) centre += (f[j] - cm) * (f[j] - cm);
  return (centre < best ? centre : best) - r * r;
}

static void run_c2dtlz2(const char *sampler, int from, int seeds, int trials) {
  const problem_t *p = problem_of("dtlz2");
  hp_space_t *sp = space_for(p);
  double *pts = malloc((size_t)trials * 3 * sizeof *pts);
  for (int seed = from; seed < from + seeds; seed++) {
    hp_sampler_t *s = sampler_for(sp, kind_of(sampler), 3, (uint64_t)seed);
    double x[64], f[3], hv200 = NAN;
    int k = 0;
    hp_err_t err = {0};
    for (int t = 0; t < trials; t++) {
      if (hp_sampler_suggest(s, t, x, &err) != 0) exit(1);
      dtlz2(x, f);
      double c = c2dtlz2_c(f);
      if (hp_sampler_tell_values(s, t, x, HP_FINAL_COMPLETE, f, 3, &c, 1, -1, &err) != 0) exit(1);
      if (c <= 0) memcpy(pts + 3 * k++, f, sizeof f);
      if (t + 1 == 200) hv200 = hp_mo_hypervolume(pts, k, 3, p->ref);
    }
    printf("cmo\tc2dtlz2\t%s\t%d\t%.10g\t%.10g\n", sampler, seed, hv200,
           hp_mo_hypervolume(pts, k, 3, p->ref));
    fflush(stdout);
    hp_sampler_free(s);
  }
  free(pts);
  hp_space_free(sp);
}

static void run_constrained(int from, int seeds, int trials) {
  const char *text = "{\"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
                     " \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 15}}";
  hp_space_t *sp = NULL;
  hp_err_t err = {0};
  if (hp_space_parse_text(text, strlen(text), &sp, &err) != 0) exit(1);
  for (int seed = from; seed < from + seeds; seed++) {
    hp_sampler_t *s = sampler_for(sp, HP_SAMPLER_TPE, 1, (uint64_t)seed);
    double best = INFINITY;
    for (int t = 0; t < trials; t++) {
      double x[2];
      if (hp_sampler_suggest(s, t, x, &err) != 0) exit(1);
      double v = branin(x[0], x[1]);
      double c = (x[0] - 2.5) * (x[0] - 2.5) + (x[1] - 7.5) * (x[1] - 7.5) - 50;
      if (hp_sampler_tell_values(s, t, x, HP_FINAL_COMPLETE, &v, 1, &c, 1, -1, &err) != 0) exit(1);
      if (c <= 0 && v < best) best = v;
    }
    printf("con\tbranin\ttpe\t%d\t%.10g\n", seed, best);
    fflush(stdout);
    hp_sampler_free(s);
  }
  hp_space_free(sp);
}

/* bench_search_mo mixtures PROBLEM N: told the first N trials of the history
 * on stdin (lines "number x_0 .. x_{n-1} f_0 .. f_{m-1}", as
 * bench/search_mo_step.py writes them), TPE's l and g mixtures for each
 * parameter's next decision (hp_tpe_numeric_mixtures): lines
 * "mix P l|g K mu sigma w mu sigma w ..." (K components, centres ascending). */
static void run_mixtures(const char *problem, int n_told) {
  const problem_t *p = problem_of(problem);
  hp_space_t *sp = space_for(p);
  hp_sampler_t *s = sampler_for(sp, HP_SAMPLER_TPE, p->m, 0);
  hp_err_t err = {0};
  for (int t = 0; t < n_told; t++) {
    int num;
    double x[64], f[3];
    bool ok = scanf("%d", &num) == 1;
    for (int i = 0; i < p->n && ok; i++) ok = scanf("%lf", &x[i]) == 1;
    for (int j = 0; j < p->m && ok; j++) ok = scanf("%lf", &f[j]) == 1;
    if (!ok) {
      fprintf(stderr, "bench_search_mo: history line %d unreadable\n", t + 1);
      exit(1);
    }
    if (hp_sampler_tell_values(s, num, x, HP_FINAL_COMPLETE, f, p->m, NULL, 0, -1, &err) != 0) {
      fprintf(stderr, "bench_search_mo: %s\n", err.msg);
      exit(1);
    }
  }
  for (int q = 0; q < p->n; q++) {
    hp_tpe_mixtures_t mx;
    if (hp_tpe_numeric_mixtures(s, q, &mx) != 0) exit(1);
    for (int k = 0; k < 2; k++) {
      printf("mix %d %c %lld", q, k ? 'g' : 'l', (long long)mx.n[k]);
      for (int64_t i = 0; i < mx.n[k]; i++)
        printf(" %.17g %.17g %.17g", mx.mu[k][i], mx.sigma[k][i], mx.w[k][i]);
      printf("\n");
    }
    hp_tpe_mixtures_free(&mx);
  }
  hp_sampler_free(s);
  hp_space_free(sp);
}

int main(int argc, char **argv) {
  if (argc >= 7 && strcmp(argv[1], "quality") == 0) {
    run_quality(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  } else if (argc >= 3 && strcmp(argv[1], "speed") == 0) {
    run_speed(atoi(argv[2]), argc >= 4 ? argv[3] : NULL);
  } else if (argc >= 6 && strcmp(argv[1], "c2dtlz2") == 0) {
    run_c2dtlz2(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  } else if (argc >= 5 && strcmp(argv[1], "constrained") == 0) {
    run_constrained(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  } else if (argc >= 4 && strcmp(argv[1], "mixtures") == 0) {
    run_mixtures(argv[2], atoi(argv[3]));
  } else {
    fprintf(stderr, "usage: bench_search_mo quality SAMPLER PROBLEM SEED_FROM SEEDS TRIALS | "
                    "speed N [SAMPLER] | constrained SEED_FROM SEEDS TRIALS | "
                    "c2dtlz2 SAMPLER SEED_FROM SEEDS TRIALS | mixtures PROBLEM N < HISTORY\n");
    return 2;
  }
  return 0;
}

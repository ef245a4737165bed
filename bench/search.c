/* Benchmark driver for the samplers (run by bench/search.sh, which puts the
 * numbers beside Optuna's from bench/search_optuna.py):
 *   bench_search speed [max_trials]  TPE ask+tell time per trial on a
 *       6-parameter mixed space around trials 100, 1,000 and 10,000
 *       (univariate and multivariate); prints TSV lines
 *       "speed <mode> <trial> <wall_ms_per_trial> <cpu_ms_per_trial>".
 *   bench_search quality [seeds [seed_from [samplers]]]
 *       best value after 25, 50, 100 trials (seeds seed_from ..
 *       seed_from + seeds - 1, default 0 .. 19; samplers a comma list, default
 *       all) for
 *       random, TPE, multivariate TPE and both with Optuna 3.1's density
 *       (tpe-o31, tpe-mv-o31) on Branin, Hartmann-6, Rosenbrock-5
 *       and a mixed function; prints TSV lines
 *       "quality <func> <sampler> <seed> <best25> <best50> <best100>".
 *   bench_search gp [seeds [seed_from [samplers]]]
 *       the GP benchmark (gp, auto, tpe, tpe-mv by default): the four
 *       functions and Levy-5 and Styblinski-Tang-4, with the study's CPU
 *       seconds as an eighth column and a "profile" line per GP study (CPU
 *       seconds of fitting, candidate scoring and local search; fits,
 *       likelihood and acquisition evaluations), for bench/search_gp.py.
 *   bench_search asktime [n,n,...]  GP ask time after n trials (below).
 *   bench_search crossover [seeds [trials [c,c,...]]]
 *       auto with each crossover to TRIALS trials (run_crossover below).
 *   bench_search extra [seeds [seed_from [samplers]]]
 *       the same on seven functions outside the benchmark (Rastrigin, Ackley,
 *       Levy, an integer sphere; 3 to 10 dimensions, 100 to 200 trials; the
 *       last column is the best at the end), for bench/search_quick.py
 *       --extra, which compares each mode with its optuna31_density run.
 *   bench_search cond [seeds [seed_from [samplers]]]
 *       the same on the conditional benchmark (an optimizer choice with
 *       per-choice parameters, cond_error below).
 * The samplers "tpe-mv-flat" (multivariate, group false), "default"
 * (hp_sampler_opts_default's TPE), "tpe-liar" and "tpe-mv-liar" (with
 * constant_liar) run only when named in the list. HP_BENCH_INFLIGHT=K runs
 * K trials at once (trial t + K - 1 is asked before trial t is told), as K
 * parallel workers do; 1 (sequential) by default. HP_BENCH_FUNCS=a,b runs
 * only the functions named.
 * The test functions are defined identically in bench/search_optuna.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/rng.h"
#include "hpsearch/sampler.h"
#include "../search/sampler_impl.h" /* hp_gp_profile */

/* Wall-clock and this thread's CPU time: the machine may be shared, and CPU
 * time is what the sampler itself costs. */
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

static hp_space_t *space_of(const char *text) {
  hp_space_t *s = NULL;
  hp_err_t err = {0};
  if (hp_space_parse_text(text, strlen(text), &s, &err) != 0) {
    fprintf(stderr, "bench_search: %s\n", err.msg);
    exit(1);
  }
  return s;
}

/* ---- speed -------------------------------------------------------------- */

static const char *SPEED_SPACE =
    "{\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1e-1, \"log\": true},"
    " \"wd\": {\"type\": \"float\", \"low\": 1e-6, \"high\": 1e-2, \"log\": true},"
    " \"dropout\": {\"type\": \"float\", \"low\": 0.0, \"high\": 0.5},"
    " \"width\": {\"type\": \"int\", \"low\": 32, \"high\": 1024},"
    " \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", \"rmsprop\"]},"
    " \"act\": {\"type\": \"categorical\", \"choices\": [\"relu\", \"tanh\"]}}";

/* Same formula as speed_objective in search_optuna.py. */
static double speed_objective(const double *x) {
  static const double opt_cost[3] = {0.3, 0.0, 0.1}, act_cost[2] = {0.0, 0.2};
  double a = log10(x[0]) + 3, b = log10(x[1]) + 4, c = x[2] - 0.2, d = (x[3] - 300) / 500;
  return a * a + 0.5 * b * b + c * c + d * d + opt_cost[(int)x[4]] + act_cost[(int)x[5]];
}

static void run_speed(int max_trials) {
  hp_space_t *sp = space_of(SPEED_SPACE);
  static const int marks[] = {100, 1000, 10000};
  for (int mv = 0; mv < 2; mv++) {
    hp_sampler_opts_t o;
    hp_sampler_opts_default(&o, HP_SAMPLER_TPE);
    o.seed = 1;
    o.multivariate = mv;
    hp_sampler_t *s = NULL;
    hp_err_t err = {0};
    if (hp_sampler_create(sp, &o, &s, &err) != 0) {
      fprintf(stderr, "bench_search: %s\n", err.msg);
      exit(1);
    }
    double x[6];
    int last = marks[2] + 10 < max_trials ? marks[2] + 10 : max_trials;
    for (int k = 0; k < 3; k++) {
      int lo = marks[k] - 10, hi = marks[k] + 10;
      if (hi > last) break;
      double acc = 0, cpu = 0;
      for (int t = k == 0 ? 0 : marks[k - 1] + 10; t < hi; t++) {
        double c0 = cpu_now();
        double t0 = now();
        if (hp_sampler_suggest(s, t, x, &err) != 0) {
          fprintf(stderr, "bench_search: %s\n", err.msg);
          exit(1);
        }
        double v = speed_objective(x);
        double t1 = now();
        hp_sampler_tell(s, t, x, HP_FINAL_COMPLETE, v, -1, &err);
        double t2 = now();
        double c2 = cpu_now();
        if (t >= lo) {
          acc += (t1 - t0) + (t2 - t1);
          cpu += c2 - c0;
        }
      }
      printf("speed\t%s\t%d\t%.4f\t%.4f\n", mv ? "tpe-mv" : "tpe", marks[k], 1e3 * acc / (hi - lo),
             1e3 * cpu / (hi - lo));
      fflush(stdout);
    }
    hp_sampler_free(s);
  }
  hp_space_free(sp);
}

/* ---- quality ------------------------------------------------------------ */

/* Whether name is one of the comma-separated words of list. */
static int in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return 1;
    if (e == NULL) break;
    p = e + 1;
  }
  return 0;
}

typedef struct func {
  const char *name;
  const char *space; /* NULL: the box [lo, hi]^d of `type` parameters x0 .. */
  double (*f)(const double *x);
  int d, trials;     /* box dimension; trials per run (0: 100) */
  double lo, hi;
  const char *type;
} func_t;

static double branin(const double *x) {
  const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10, t = 1 / (8 * M_PI);
  double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
  return a * u * u + s * (1 - t) * cos(x[0]) + s;
}

static double hartmann6(const double *x) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                 {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                 {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                 {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double sum = 0;
  for (int i = 0; i < 4; i++) {
    double e = 0;
    for (int j = 0; j < 6; j++) e += A[i][j] * (x[j] - P[i][j]) * (x[j] - P[i][j]);
    sum += alpha[i] * exp(-e);
  }
  return -sum;
}

static double rosenbrock5(const double *x) {
  double s = 0;
  for (int i = 0; i < 4; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    s += 100 * a * a + b * b;
  }
  return s;
}

/* x float [-5, 5], y log float [1e-3, 10], k int [1, 10],
 * c categorical ["a", "b", "c", "d"]; minimum 0 at (1.5, 0.1, 7, "b"). */
static double mixed(const double *x) {
  static const double cat_cost[4] = {0.3, 0.0, 0.6, 1.0};
  double ly = log10(x[1]) + 1;
  return 0.1 * (x[0] - 1.5) * (x[0] - 1.5) + 0.5 * ly * ly + 0.05 * fabs(x[2] - 7) +
         cat_cost[(int)x[3]];
}

/* The conditional benchmark, in the spirit of the engine's space: an
 * optimizer choice with per-choice parameters and a schedule with its own.
 * A made-up validation error: each optimizer has its own best log10(lr)
 * and floor, its constants their own optimum; Adam at lr 1e-3 with beta1
 * 0.88, beta2 0.999 and the cosine schedule is best (0.08 + width term).
 * x: opt, lr, momentum, rho, beta1, beta2, schedule, step_size, gamma,
 * width (NaN where inactive). */
#define COND_SPACE                                                                                  \
  "{\"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"momentum\", \"nesterov\", "          \
  "\"adagrad\", \"rmsprop\", \"adam\"]},"                                                          \
  " \"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 1, \"log\": true},"                            \
  " \"momentum\": {\"type\": \"float\", \"low\": 0.5, \"high\": 0.99, \"when\": {\"opt\": [\"momentum\", "   \
  "\"nesterov\"]}},"                                                                               \
  " \"rho\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.999, \"when\": {\"opt\": \"rmsprop\"}},"       \
  " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.95, \"when\": {\"opt\": \"adam\"}},"         \
  " \"beta2\": {\"type\": \"float\", \"low\": 0.99, \"high\": 0.9999, \"log\": true, \"when\": {\"opt\": "   \
  "\"adam\"}},"                                                                                    \
  " \"schedule\": {\"type\": \"categorical\", \"choices\": [\"constant\", \"cosine\", \"step\"]},"         \
  " \"step_size\": {\"type\": \"int\", \"low\": 100, \"high\": 1000, \"log\": true, \"when\": "          \
  "{\"schedule\": \"step\"}},"                                                                      \
  " \"gamma\": {\"type\": \"float\", \"low\": 0.1, \"high\": 0.9, \"when\": {\"schedule\": \"step\"}},"    \
  " \"width\": {\"type\": \"int\", \"low\": 16, \"high\": 512, \"log\": true}}"

static double cond_error(const double *x) {
  static const double base[6] = {0.20, 0.12, 0.11, 0.15, 0.10, 0.08};
  static const double lr_best[6] = {-1.0, -1.7, -1.8, -1.3, -2.8, -3.0};
  int o = (int)x[0];
  double dl = log10(x[1]) - lr_best[o];
  double e = base[o] + 0.03 * dl * dl;
  if (o == 1 || o == 2) e += 0.5 * (x[2] - 0.92) * (x[2] - 0.92);
  if (o == 4) e += 2.0 * (x[3] - 0.95) * (x[3] - 0.95);
  if (o == 5) {
    double d2 = log10(1 - x[5]) + 3;
    e += 2.0 * (x[4] - 0.88) * (x[4] - 0.88) + 0.02 * d2 * d2;
  }
  int sc = (int)x[6];
  if (sc == 0) e += 0.02;
  if (sc == 2) e += 0.01 + 0.02 * fabs(log10(x[7]) - 2.5) + 0.05 * (x[8] - 0.5) * (x[8] - 0.5);
  double dw = log2(x[9]) - 7;
  return e + 0.002 * dw * dw;
}

static const func_t COND[] = {{"cond", COND_SPACE, cond_error, 0, 100, 0, 0, NULL}};

static const func_t FUNCS[] = {
    {"branin",
     "{\"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
     " \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 15}}",
     branin, 0, 100, 0, 0, NULL},
    {"hartmann6",
     "{\"x0\": {\"type\": \"float\", \"low\": 0, \"high\": 1}, \"x1\": {\"type\": \"float\", \"low\": 0, "
     "\"high\": 1}, \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 1}, \"x3\": {\"type\": "
     "\"float\", \"low\": 0, \"high\": 1}, \"x4\": {\"type\": \"float\", \"low\": 0, \"high\": 1}, "
     "\"x5\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}",
     hartmann6, 0, 100, 0, 0, NULL},
    {"rosenbrock5",
     "{\"x0\": {\"type\": \"float\", \"low\": -5, \"high\": 10}, \"x1\": {\"type\": \"float\", \"low\": "
     "-5, \"high\": 10}, \"x2\": {\"type\": \"float\", \"low\": -5, \"high\": 10}, \"x3\": {\"type\": "
     "\"float\", \"low\": -5, \"high\": 10}, \"x4\": {\"type\": \"float\", \"low\": -5, \"high\": 10}}",
     rosenbrock5, 0, 100, 0, 0, NULL},
    {"mixed",
     "{\"x\": {\"type\": \"float\", \"low\": -5, \"high\": 5},"
     " \"y\": {\"type\": \"float\", \"low\": 1e-3, \"high\": 10, \"log\": true},"
     " \"k\": {\"type\": \"int\", \"low\": 1, \"high\": 10},"
     " \"c\": {\"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"c\", \"d\"]}}",
     mixed, 0, 100, 0, 0, NULL},
};

/* ---- extra functions (`extra` mode): a robustness check outside the
 * benchmark's four, run against hpsearch's own optuna31_density as the
 * stand-in for Optuna 3.1 (the same algorithm), at d and trials below. */

static int box_d; /* dimension of the box function being run */

static double rastrigin(const double *x) {
  double s = 10.0 * box_d;
  for (int i = 0; i < box_d; i++) s += x[i] * x[i] - 10 * cos(2 * M_PI * x[i]);
  return s;
}

static double ackley(const double *x) {
  double a = 0, b = 0;
  for (int i = 0; i < box_d; i++) a += x[i] * x[i], b += cos(2 * M_PI * x[i]);
  return -20 * exp(-0.2 * sqrt(a / box_d)) - exp(b / box_d) + 20 + M_E;
}

static double levy(const double *x) {
  double w0 = 1 + (x[0] - 1) / 4, wd = 1 + (x[box_d - 1] - 1) / 4;
  double s = pow(sin(M_PI * w0), 2);
  for (int i = 0; i < box_d - 1; i++) {
    double w = 1 + (x[i] - 1) / 4;
    s += (w - 1) * (w - 1) * (1 + 10 * pow(sin(M_PI * w + 1), 2));
  }
  return s + (wd - 1) * (wd - 1) * (1 + pow(sin(2 * M_PI * wd), 2));
}

/* Styblinski-Tang on [-5, 5]^d, minimum -39.16617 d at x_i = -2.903534. */
static double styblinski(const double *x) {
  double s = 0;
  for (int i = 0; i < box_d; i++) s += x[i] * x[i] * x[i] * x[i] - 16 * x[i] * x[i] + 5 * x[i];
  return 0.5 * s;
}

/* Integers on [-10, 10]^d, minimum 0 at (3, ..., 3). */
static double int_sphere(const double *x) {
  double s = 0;
  for (int i = 0; i < box_d; i++) s += (x[i] - 3) * (x[i] - 3);
  return s;
}

static const func_t EXTRA[] = {
    {"rastrigin10", NULL, rastrigin, 10, 200, -5.12, 5.12, "float"},
    {"ackley10", NULL, ackley, 10, 200, -32.768, 32.768, "float"},
    {"levy10", NULL, levy, 10, 200, -10, 10, "float"},
    {"levy5", NULL, levy, 5, 100, -10, 10, "float"},
    {"intsphere8", NULL, int_sphere, 8, 150, -10, 10, "int"},
    {"rastrigin3", NULL, rastrigin, 3, 100, -5.12, 5.12, "float"},
    {"ackley3", NULL, ackley, 3, 100, -32.768, 32.768, "float"},
};

/* The GP benchmark (`gp` mode): the four functions above and two more;
 * branin_dummy8 (Branin's x1, x2 and 8 parameters it ignores: irrelevant
 * parameters, common in real searches) only when HP_BENCH_FUNCS names it. */
#define DUMMY "{\"type\": \"float\", \"low\": 0, \"high\": 1}"
static const func_t GP_FUNCS[] = {
    {"levy5", NULL, levy, 5, 100, -10, 10, "float"},
    {"styblinski4", NULL, styblinski, 4, 100, -5, 5, "float"},
    {"branin_dummy8",
     "{\"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
     " \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 15}, \"z0\": " DUMMY ", \"z1\": " DUMMY
     ", \"z2\": " DUMMY ", \"z3\": " DUMMY ", \"z4\": " DUMMY ", \"z5\": " DUMMY ", \"z6\": " DUMMY
     ", \"z7\": " DUMMY "}",
     branin, 0, 100, 0, 0, NULL},
};

static hp_space_t *box_space(const func_t *fn) {
  char text[4096];
  int n = snprintf(text, sizeof text, "{");
  for (int i = 0; i < fn->d; i++)
    n += snprintf(text + n, sizeof text - (size_t)n, "%s\"x%d\": {\"type\": \"%s\", \"low\": %g, \"high\": %g}",
                  i ? ", " : "", i, fn->type, fn->lo, fn->hi);
  snprintf(text + n, sizeof text - (size_t)n, "}");
  return space_of(text);
}

static int inflight = 1; /* trials running at once (HP_BENCH_INFLIGHT, 1..8) */

/* only: comma-separated sampler names to run (NULL: all). */
static void run_quality(const func_t *funcs, size_t nf, int seeds, int seed_from, const char *only) {
  /* tpe-o31, tpe-mv-o31: TPE with Optuna 3.1's density (optuna31_density);
   * tpe-mv-flat: multivariate without the group decomposition (Optuna's
   * group=False); default: hp_sampler_opts_default's TPE as it stands;
   * tpe-liar, tpe-mv-liar: with constant_liar. */
  static const char *names[] = {"random", "tpe",  "tpe-mv",      "tpe-o31", "tpe-mv-o31", "gp",
                                "auto",   "tpe-mv-flat", "default", "tpe-liar", "tpe-mv-liar"};
  static const int n_names = sizeof names / sizeof names[0];
  for (size_t fi = 0; fi < nf; fi++) {
    const func_t *fn = &funcs[fi];
    const char *fonly = getenv("HP_BENCH_FUNCS"); /* comma-separated names, or all */
    if (fonly != NULL ? !in_list(fonly, fn->name) : strcmp(fn->name, "branin_dummy8") == 0) continue;
    hp_space_t *sp = fn->space != NULL ? space_of(fn->space) : box_space(fn);
    int trials = fn->trials > 0 ? fn->trials : 100;
    const char *tr = getenv("HP_BENCH_TRIALS"); /* trials per run instead of the function's */
    if (tr != NULL && atoi(tr) > 0) trials = atoi(tr);
    box_d = fn->d;
    for (int si = 0; si < n_names; si++) {
      /* the modes from tpe-mv-flat on only where asked for */
      if (only != NULL ? !in_list(only, names[si]) : si >= 7) continue;
      for (int seed = seed_from; seed < seed_from + seeds; seed++) {
        hp_sampler_opts_t o;
        hp_sampler_opts_default(&o, si == 0   ? HP_SAMPLER_RANDOM
                                    : si == 5 ? HP_SAMPLER_GP
                                    : si == 6 ? HP_SAMPLER_AUTO
                                              : HP_SAMPLER_TPE);
        o.seed = (uint64_t)seed;
        if (si != 8) {
          o.multivariate = si == 2 || si == 4 || si == 7 || si == 10;
          o.optuna31_density = si == 3 || si == 4;
          o.group = si != 7;
          o.constant_liar = si >= 9;
        }
        double t_start = cpu_now();
        hp_sampler_t *s = NULL;
        hp_err_t err = {0};
        if (hp_sampler_create(sp, &o, &s, &err) != 0) {
          fprintf(stderr, "bench_search: %s\n", err.msg);
          exit(1);
        }
        /* `inflight` trials run at once (as parallel workers): trial
         * t + inflight - 1 is asked before trial t is told. */
        double x[8][16], best = INFINITY, b25 = 0, b50 = 0;
        for (int t = 0; t < trials + inflight - 1; t++) {
          if (t < trials && hp_sampler_suggest(s, t, x[t % inflight], &err) != 0) {
            fprintf(stderr, "bench_search: %s\n", err.msg);
            exit(1);
          }
          int told = t - (inflight - 1);
          if (told < 0) continue;
          double v = fn->f(x[told % inflight]);
          hp_sampler_tell(s, told, x[told % inflight], HP_FINAL_COMPLETE, v, -1, &err);
          if (v < best) best = v;
          if (told == 24) b25 = best;
          if (told == 49) b50 = best;
        }
        if (si == 5 || si == 6) {
          hp_gp_profile_t pr;
          hp_gp_profile(s, &pr);
          printf("profile\t%s\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.0f\t%.0f\t%.0f\n", fn->name, names[si],
                 seed, pr.fit_s, pr.candidates_s, pr.local_s, pr.n_fits, pr.fit_evals,
                 pr.local_evals);
        }
        printf("quality\t%s\t%s\t%d\t%.9g\t%.9g\t%.9g\t%.4f\n", fn->name, names[si], seed, b25,
               b50, best, cpu_now() - t_start);
        hp_sampler_free(s);
      }
    }
    hp_space_free(sp);
  }
}

/* ---- GP ask time ------------------------------------------------------------ */

/* CPU time of a GP suggestion after n COMPLETE trials on Hartmann-6 (random
 * draws): "cold" is the first suggestion of a new sampler on those n trials
 * (a daemon just restarted: its fits of the last prefixes are redone, see
 * search/gp_sampler.c), "warm" the mean of the next 3, each after one more
 * trial (a running study: one warm-started fit). Printed as
 * "asktime gp <n> <warm ms> <fit ms> <candidates ms> <local ms> <cold ms>". */
static void run_asktime(const char *list) {
  hp_space_t *sp = space_of(FUNCS[1].space);
  for (const char *p = list; *p;) {
    int n = atoi(p);
    hp_sampler_opts_t o;
    hp_sampler_opts_default(&o, HP_SAMPLER_GP);
    o.seed = 1;
    hp_sampler_t *s = NULL;
    hp_err_t err = {0};
    if (hp_sampler_create(sp, &o, &s, &err) != 0) {
      fprintf(stderr, "bench_search: %s\n", err.msg);
      exit(1);
    }
    hp_rng_t r;
    hp_rng_seed(&r, 7);
    double x[6], cold = 0, warm = 0;
    hp_gp_profile_t p0, p1;
    int t = 0;
    for (; t < n; t++) {
      for (int k = 0; k < 6; k++) x[k] = hp_rng_uniform(&r);
      hp_sampler_tell(s, t, x, HP_FINAL_COMPLETE, hartmann6(x), -1, &err);
    }
    for (int k = 0; k < 4; k++, t++) {
      if (k == 1) hp_gp_profile(s, &p0);
      double c0 = cpu_now();
      if (hp_sampler_suggest(s, t, x, &err) != 0) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        exit(1);
      }
      if (k == 0)
        cold = cpu_now() - c0;
      else
        warm += cpu_now() - c0;
      hp_sampler_tell(s, t, x, HP_FINAL_COMPLETE, hartmann6(x), -1, &err);
    }
    hp_gp_profile(s, &p1);
    printf("asktime\tgp\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", n, 1e3 * warm / 3,
           1e3 * (p1.fit_s - p0.fit_s) / 3, 1e3 * (p1.candidates_s - p0.candidates_s) / 3,
           1e3 * (p1.local_s - p0.local_s) / 3, 1e3 * cold);
    fflush(stdout);
    hp_sampler_free(s);
    const char *c = strchr(p, ',');
    if (c == NULL) break;
    p = c + 1;
  }
  hp_space_free(sp);
}

/* The automatic sampler's crossover (`crossover` mode): auto with each
 * crossover in LIST (GP while fewer COMPLETE trials, then TPE) run to
 * TRIALS trials on the six GP functions; "cross FUNC CROSSOVER SEED T BEST
 * CPU_S" at every 50 trials. A crossover >= TRIALS is the GP alone. */
static void run_crossover(int seeds, int trials, const char *list) {
  const func_t *all[8];
  int nf = 0;
  for (size_t i = 0; i < sizeof FUNCS / sizeof FUNCS[0]; i++) all[nf++] = &FUNCS[i];
  for (size_t i = 0; i < sizeof GP_FUNCS / sizeof GP_FUNCS[0]; i++) all[nf++] = &GP_FUNCS[i];
  const char *fonly = getenv("HP_BENCH_FUNCS");
  for (int fi = 0; fi < nf; fi++) {
    const func_t *fn = all[fi];
    if (fonly != NULL ? !in_list(fonly, fn->name) : strcmp(fn->name, "branin_dummy8") == 0) continue;
    hp_space_t *sp = fn->space != NULL ? space_of(fn->space) : box_space(fn);
    box_d = fn->d;
    for (const char *p = list; *p;) {
      int cross = atoi(p);
      for (int seed = 0; seed < seeds; seed++) {
        hp_sampler_opts_t o;
        hp_sampler_opts_default(&o, HP_SAMPLER_AUTO);
        o.seed = (uint64_t)seed;
        o.auto_crossover = cross;
        hp_sampler_t *s = NULL;
        hp_err_t err = {0};
        if (hp_sampler_create(sp, &o, &s, &err) != 0) {
          fprintf(stderr, "bench_search: %s\n", err.msg);
          exit(1);
        }
        double x[16], best = INFINITY, c0 = cpu_now();
        for (int t = 0; t < trials; t++) {
          if (hp_sampler_suggest(s, t, x, &err) != 0) {
            fprintf(stderr, "bench_search: %s\n", err.msg);
            exit(1);
          }
          double v = fn->f(x);
          hp_sampler_tell(s, t, x, HP_FINAL_COMPLETE, v, -1, &err);
          if (v < best) best = v;
          if ((t + 1) % 50 == 0)
            printf("cross\t%s\t%d\t%d\t%d\t%.9g\t%.3f\n", fn->name, cross, seed, t + 1, best,
                   cpu_now() - c0);
        }
        fflush(stdout);
        hp_sampler_free(s);
      }
      const char *c = strchr(p, ',');
      if (c == NULL) break;
      p = c + 1;
    }
    hp_space_free(sp);
  }
}

int main(int argc, char **argv) {
  /* As the daemon runs samplers: one BLAS thread (hp_blas_ensure_fast_kernel). */
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  if (argc >= 2 && strcmp(argv[1], "speed") == 0) {
    run_speed(argc >= 3 ? atoi(argv[2]) : 10010);
    return 0;
  }
  const char *fl = getenv("HP_BENCH_INFLIGHT");
  if (fl != NULL) inflight = atoi(fl) < 1 ? 1 : atoi(fl) > 8 ? 8 : atoi(fl);
  if (argc >= 2 && (strcmp(argv[1], "quality") == 0 || strcmp(argv[1], "extra") == 0 ||
                    strcmp(argv[1], "cond") == 0)) {
    bool extra = strcmp(argv[1], "extra") == 0, cond = strcmp(argv[1], "cond") == 0;
    const func_t *fs = extra ? EXTRA : cond ? COND : FUNCS;
    size_t nf = extra ? sizeof EXTRA / sizeof EXTRA[0] : cond ? 1 : sizeof FUNCS / sizeof FUNCS[0];
    run_quality(fs, nf, argc >= 3 ? atoi(argv[2]) : 20, argc >= 4 ? atoi(argv[3]) : 0,
                argc >= 5 ? argv[4] : "random,tpe,tpe-mv,tpe-o31,tpe-mv-o31");
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "gp") == 0) {
    int seeds = argc >= 3 ? atoi(argv[2]) : 20, from = argc >= 4 ? atoi(argv[3]) : 0;
    const char *only = argc >= 5 ? argv[4] : "gp,auto,tpe,tpe-mv";
    run_quality(FUNCS, sizeof FUNCS / sizeof FUNCS[0], seeds, from, only);
    run_quality(GP_FUNCS, sizeof GP_FUNCS / sizeof GP_FUNCS[0], seeds, from, only);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "crossover") == 0) {
    run_crossover(argc >= 3 ? atoi(argv[2]) : 5, argc >= 4 ? atoi(argv[3]) : 400,
                  argc >= 5 ? argv[4] : "100,250,400");
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "asktime") == 0) {
    run_asktime(argc >= 3 ? argv[2] : "100,250,500");
    return 0;
  }
  fprintf(stderr,
          "usage: bench_search speed [max_trials] | quality|extra|cond|gp [seeds [seed_from "
          "[samplers]]] | asktime [n,n,...] | crossover [seeds [trials [c,c,...]]]\n");
  return 2;
}

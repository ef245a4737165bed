/* Internal shapes shared by the sampler files (sampler.c dispatch and
 * history, random.c, grid.c, parzen.c kernels and math, tpe.c). Not a public
 * header: only the search/ sources include it. */
#ifndef HPSEARCH_SAMPLER_IMPL_H
#define HPSEARCH_SAMPLER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <math.h>

#include "hpsearch/hot.h"
#include "hpsearch/mo.h"
#include "hpsearch/rng.h"
#include "hpsearch/sampler.h"

/* How TPE models one parameter, in transformed coordinates. */
typedef enum hp_tkind {
  HP_T_SINGLE = 0, /* one possible value: no sampling */
  HP_T_CONT,       /* continuous density: float, log float, int log */
  HP_T_BIN,        /* bins of width q: stepped float, int without log */
  HP_T_CAT,        /* categorical: own kernel */
} hp_tkind_t;

typedef struct hp_tparam {
  hp_tkind_t kind; /* model kind */
  bool log;        /* values are ln(x) in the transformed space */
  double lo, hi;   /* transformed bounds (bins extended by q/2, int log by 0.5) */
  double q;        /* HP_T_BIN: bin width (the step) */
  int k;           /* HP_T_CAT: number of choices */
  bool density31;  /* CONT: Optuna 3.1's density without -log sigma */
} hp_tparam_t;

/* Observations of one numeric parameter sorted by transformed value. */
typedef struct hp_sorted {
  int64_t n, cap;
  double *tv;      /* [n] transformed values, ascending */
  int32_t *number; /* [n] trial number of each value */
} hp_sorted_t;

/* COMPLETE and PRUNED trials, in trial-number order (Optuna's chronological
 * order). Arrays grow by doubling; a late tell inserts in the middle. */
typedef struct hp_hist {
  int64_t n, cap;
  int32_t *number;    /* [n] ascending */
  double *key;        /* [n] rank class: -inf complete, -last_step pruned, +1 pruned without
                         steps, +2 infeasible (a constraint > 0; val = total violation) */
  double *val;        /* [n] signed value (smaller is better) */
  double *mv;         /* [n * m] signed objective values (smaller is better), trial-major;
                         NaN where not reported (a pruned trial) */
  double *viol;       /* [n] sum of the positive constraint values, 0 = feasible */
  int8_t *fin;        /* [n] hp_trial_final_t (COMPLETE or PRUNED) */
  double **x;         /* [d][cap] internal values, NaN = absent (contiguous per parameter) */
  hp_sorted_t *sorted; /* [d] numeric parameters only (univariate bandwidths) */
  int64_t *n_missing; /* [d] observations lacking the parameter */
  uint64_t *presence; /* [d] order-free hash of the trial numbers that have the
                         parameter: parameters that always occur together
                         (Optuna's group decomposition) have equal hashes */
} hp_hist_t;

/* A running trial (suggested, or replayed as RUNNING). */
typedef struct hp_run {
  int32_t number;  /* trial number */
  int64_t grid_id; /* claimed grid point, -1 if none */
  double *params;  /* [d] internal values, owned */
} hp_run_t;

typedef enum { HP_GRID_FREE = 0, HP_GRID_CLAIMED = 1, HP_GRID_DONE = 2 } hp_grid_state_t;

typedef struct hp_grid {
  int64_t total;     /* number of points */
  uint8_t *state;    /* [total] hp_grid_state_t */
  uint32_t *free_ids; /* [n_free] ids in FREE state (unordered) */
  int32_t *free_pos; /* [total] index in free_ids, -1 if not free */
  int64_t n_free;    /* FREE points */
  int64_t n_done;    /* DONE points */
  int64_t *ext;      /* conditional space: [total] the valid points' ids in the
                        extended mixed radix (a conditional parameter has one
                        more digit value, n_grid = absent), ascending; the
                        grid id of a point is its index here. NULL otherwise
                        (grid id = mixed-radix id). */
} hp_grid_t;

/* The split of a multi-objective suggestion over all trials, reused by its
 * decisions (hp_motpe_select_below). */
typedef struct hp_motpe_cache {
  bool valid;     /* set by the first decision, cleared when the suggestion starts */
  int64_t nb;     /* size of below */
  int64_t *below; /* [nb] history positions */
} hp_motpe_cache_t;

/* Per-number scratch reused across suggestions (grown, never shrunk). */
typedef struct hp_tpe_ws {
  int64_t cap;            /* entries in both arrays (> every trial number seen) */
  int32_t *pos_by_number; /* chronological position among a set, by trial number */
  uint8_t *is_below;      /* 1 if the trial is in the below ("good") set */
  hp_motpe_cache_t motpe; /* several objectives: this suggestion's split */
} hp_tpe_ws_t;

/* NSGA-II's parents, kept until the generations they come from change. */
typedef struct hp_nsga2_cache {
  int64_t gens;       /* complete generations they were selected from, 0 = none */
  int32_t last;       /* trial number of the last trial of those generations */
  int64_t n;          /* parents */
  int32_t *number;    /* [n] their trial numbers */
  int32_t *rank;      /* [n] constrained non-domination rank among the parents */
  double *crowd;      /* [n] crowding distance within the rank */
} hp_nsga2_cache_t;

struct hp_sampler {
  const hp_space_t *space; /* borrowed */
  hp_sampler_opts_t opts;  /* copy */
  int d;                   /* number of parameters */
  int m;                   /* number of objectives (opts.n_objectives, >= 1) */
  hp_tparam_t *tp;         /* [d] transformed-space description */
  hp_hist_t hist;          /* COMPLETE + PRUNED (TPE only) */
  hp_run_t *run;           /* [n_run] running trials */
  int64_t n_run, cap_run;
  uint8_t *seen;           /* [seen_cap] 0 unknown, 1 running, 2 final, by number */
  int64_t seen_cap;
  hp_sampler_stats_t st;   /* counters */
  hp_grid_t grid;          /* grid sampler state */
  hp_tpe_ws_t ws;          /* TPE scratch */
  struct hp_gp_state *gp;  /* GP model and scratch (gp_sampler.c), NULL until used */
  const char *last_by;     /* algorithm of the last suggestion (hp_sampler_last_by) */
  hp_nsga2_cache_t nsga2;  /* NSGA-II parents */
};

/* sampler.c */
void hp_tparam_init(hp_tparam_t *tp, const hp_dist_t *d);
/* Transformed coordinate of an internal value (ln for log distributions). */
double hp_tparam_fwd(const hp_tparam_t *tp, double x);
/* Internal value of a transformed draw: exp, rounding to the step, clipping. */
double hp_tparam_back(const hp_tparam_t *tp, const hp_dist_t *d, double t);

/* random.c: one parameter drawn as Optuna's RandomSampler does. */
double hp_random_param(const hp_dist_t *d, hp_rng_t *rng);
void hp_random_suggest(const hp_sampler_t *s, hp_rng_t *rng, double *out);

/* grid.c */
int hp_grid_init(hp_sampler_t *s, hp_err_t *err);
void hp_grid_free(hp_grid_t *g);
int64_t hp_grid_id_of(const hp_sampler_t *s, const double *params);
void hp_grid_claim(hp_sampler_t *s, int64_t id);
/* Frees a claimed point unless a running trial other than `number` holds it. */
void hp_grid_release(hp_sampler_t *s, int64_t id, int64_t number);
void hp_grid_done(hp_sampler_t *s, int64_t id);
int hp_grid_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, int64_t *id_out, hp_err_t *err);

/* parzen.c: math */
/* Phi(zb) - Phi(za) for za <= zb, branch-free and vectorisable
 * (relative error ~1e-6 worst case, far better in the bulk). */
double hp_ndtr_diff(double za, double zb);
/* Standard normal CDF and its inverse, accurate in the tails (libm erfc). */
double hp_ndtr(double z);
double hp_ndtri(double p);
/* Draw from N(mu, sigma) truncated to [lo, hi] by inverse CDF. */
double hp_truncnorm_sample(hp_rng_t *rng, double mu, double sigma, double lo, double hi);
/* One Parzen mixture over a parameter, in transformed coordinates; the
 * arrays live in the sampler's scratch space. */
typedef struct hp_mix {
  int64_t n;     /* components (observations + prior) */
  double *mu;    /* [n] centres */
  double *sigma; /* [n] bandwidths */
  double *w;     /* [n] normalised weights */
  double *isig;  /* [n] 1 / sigma (hp_mix_prepare) */
  double *coef;  /* [n] w / (Z sigma sqrt(2 pi)) for CONT, w / Z for BIN (hp_mix_prepare) */
  bool narrow;   /* BIN: every q / sigma < 0.25 (hp_mix_prepare) */
} hp_mix_t;

/* Hot loops are HP_HOT (hpsearch/hot.h): compiled for AVX-512 / AVX2 too. */

/* Fills isig and coef (truncation masses Z over [lo, hi]). */
void hp_mix_prepare(const hp_tparam_t *tp, hp_mix_t *m);
/* log of the mixture density (CONT) or bin mass (BIN) at transformed x;
 * tmp has room for m->n doubles. */
double hp_mix_logpdf(const hp_tparam_t *tp, const hp_mix_t *m, double *tmp, double x);
/* Sum with 8 independent accumulators: without -ffast-math the compiler
 * may not reassociate one accumulator, but it vectorises these. */
__attribute__((always_inline)) static inline double hp_sum8(const double *restrict t, int64_t n) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) a[k] += t[j + k];
  double r = 0;
  for (; j < n; j++) r += t[j];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + r;
}

/* Optuna's default_weights ramp: weight of chronological position pos
 * among m observations (1 for the newest 25, a linear ramp from 1/m up to
 * 1 over the older ones). */
static inline double hp_tpe_weight(int64_t pos, int64_t m) {
  if (m < 25 || pos >= m - 25) return 1.0;
  int64_t num = m - 25;
  if (num == 1) return 1.0 / (double)m;
  double start = 1.0 / (double)m;
  return start + (double)pos * (1.0 - start) / (double)(num - 1);
}

/* gp_sampler.c */
/* CPU seconds and evaluations of the GP's parts, summed over suggestions
 * (for bench/search.c's profile). */
typedef struct hp_gp_profile {
  double fit_s, candidates_s, local_s; /* kernel fit; candidate scoring; local search */
  double n_fits, fit_evals, local_evals; /* fits; likelihood evaluations; acquisition evaluations */
  int warp;                              /* output warp of the last fit (gp_sampler.c, 0 identity) */
} hp_gp_profile_t;
void hp_gp_profile(const hp_sampler_t *s, hp_gp_profile_t *out);
int hp_gp_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, hp_err_t *err);
void hp_gp_free(struct hp_gp_state *g);
/* The automatic sampler's choice (sampler.c): true while GP proposes. */
bool hp_auto_uses_gp(const hp_sampler_t *s);

/* mo.c (the rest is public: hpsearch/mo.h) */
/* TPE's split for several objectives: the nb best history positions
 * (among those where col is not NaN; col NULL: all) into below[] in
 * ascending order (feasible COMPLETE trials by non-domination rank, ties at
 * the boundary rank broken by hypervolume subset selection; then PRUNED by
 * step and value; then infeasible by violation). The split over all trials
 * is kept in s->ws.motpe until the suggestion ends. 0 or HP_ENOMEM. */
int hp_motpe_select_below(hp_sampler_t *s, const double *col, int64_t nb, int64_t *below);

/* nsga2.c */
void hp_nsga2_cache_free(hp_nsga2_cache_t *c);
int hp_nsga2_suggest(hp_sampler_t *s, hp_rng_t *rng, int64_t number, double *out, hp_err_t *err);

/* tpe.c */
int hp_tpe_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, hp_err_t *err);
/* The two Parzen mixtures TPE would build now for numeric parameter p's
 * univariate decision (index 0: below, l; 1: above, g): n[k] components
 * with centres mu[k] (transformed, ascending, the prior included),
 * bandwidths sigma[k] and normalised weights w[k], allocated (free with
 * hp_tpe_mixtures_free). For tests (tests/search/test_tpe.c) and the
 * comparison with Optuna 5 (docs/search.md). 0 or HP_ENOMEM. */
typedef struct hp_tpe_mixtures {
  int64_t n[2];
  double *mu[2], *sigma[2], *w[2];
} hp_tpe_mixtures_t;
int hp_tpe_numeric_mixtures(hp_sampler_t *s, int p, hp_tpe_mixtures_t *out);
void hp_tpe_mixtures_free(hp_tpe_mixtures_t *m);
/* Univariate bandwidths of c sorted centres mu (the prior at prior_idx or
 * -1): the larger gap to a neighbour (domain ends as outer neighbours only
 * if consider_endpoints), clipped to [range / min(100, 1 + c), range] (1e-12
 * floor without the magic clip); the prior's is the range. prior_gaps: the
 * prior is a neighbour (Optuna 3.1); false: gaps among the observations only
 * (Optuna 5, used for a large below set of several objectives). */
void hp_tpe_univariate_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, const double *mu,
                             double *sigma, int64_t c, int64_t prior_idx, bool prior_gaps);
/* Bandwidths from gaps among ALL observations (the "resolution" rule,
 * docs/search.md): component j (c components, centres mu, the prior at
 * prior_idx or -1) has gap_l[j] / gap_r[j] = distance to its left / right
 * neighbour among all observations (NAN where there is none). Its bandwidth
 * is the larger gap (one side only at the ends unless consider_endpoints;
 * the range if it has no neighbour), clipped to [range / min(100, 1 +
 * floor_count), range] (magic clip; 1e-12 floor without it); the prior's is
 * the range. */
void hp_tpe_gap_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, int64_t c, const double *mu,
                      const double *gap_l, const double *gap_r, int64_t prior_idx,
                      double floor_count, double *sigma);
/* The below mixture l under the corrected density (the "resolution" rule):
 * bandwidths of the n centres mu[] (any order; the prior at prior_idx or -1)
 * by hp_tpe_gap_sigma with the gaps to their neighbours among all finished
 * observations so (each centre is one of them) and floor_count = n_obs / 5.
 * Univariate l, and multivariate l per parameter. 0 or HP_ENOMEM. */
int hp_tpe_below_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, const hp_sorted_t *so,
                       int64_t n, const double *mu, int64_t prior_idx, double *sigma);
/* Bandwidth weighting (docs/search.md): w[j] *= sigma[j] for the c
 * components of a univariate mixture under the corrected density, before
 * normalising. A normalised kernel weighted by its bandwidth has the shape
 * of Optuna 3.1's unnormalised kernel, so with Optuna's bandwidths this
 * scores exactly as 3.1 does; each observation counts by the length of
 * line it stands for, the prior (sigma = range) by the whole range. */
void hp_tpe_weight_by_sigma(double *w, const double *sigma, int64_t c);
void hp_tpe_ws_free(hp_tpe_ws_t *ws);

/* Fast exp, vectorisable (no libm call); exact to a few ulps for
 * x >= -708, 0 below. Shared by the parzen.c and tpe.c scoring loops. */
__attribute__((always_inline)) static inline double hp_vexp(double x) {
  double xc = x < -708.0 ? -708.0 : x;
  xc = xc > 709.0 ? 709.0 : xc;
  /* n = round(x / ln 2) in the low mantissa bits of t. */
  const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
  double t = xc * 1.4426950408889634 + shifter;
  double n = t - shifter;
  double r = xc - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
  /* exp(r), |r| <= 0.347: Taylor to degree 12 (error < 2e-16 relative). */
  double p = 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  int64_t bits;
  __builtin_memcpy(&bits, &t, sizeof bits);
  bits = (int64_t)((uint64_t)(bits + 1023) << 52);
  double scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return x < -708.0 ? 0.0 : p * scale;
}


/* erfc(x) for x >= 0 (Numerical Recipes' Chebyshev fit, relative error
 * < 1.2e-7 everywhere), branch-free. */
__attribute__((always_inline)) static inline double hp_verfc_pos(double x) {
  double t = 1.0 / (1.0 + 0.5 * x);
  double p = 0.17087277;
  p = p * t - 0.82215223;
  p = p * t + 1.48851587;
  p = p * t - 1.13520398;
  p = p * t + 0.27886807;
  p = p * t - 0.18628806;
  p = p * t + 0.09678418;
  p = p * t + 0.37409196;
  p = p * t + 1.00002368;
  p = p * t - 1.26551223;
  return t * hp_vexp(-x * x + p);
}

/* Phi(zb) - Phi(za), za <= zb (relative error < 2e-6 everywhere, see
 * test_tpe.c). Narrow intervals use the midpoint series
 * (no cancellation); wide ones a difference of tails on the side where it
 * does not cancel. */
__attribute__((always_inline)) static inline double hp_ndtr_diff_inline(double za, double zb) {
  const double inv_sqrt_2pi = 0.39894228040143267794, sqrt1_2 = 0.70710678118654752440;
  double h = zb - za, zm = 0.5 * (za + zb);
  double z2 = zm * zm, h2 = h * h;
  double series = h * inv_sqrt_2pi * hp_vexp(-0.5 * z2) *
                  (1.0 + h2 * (z2 - 1.0) / 24.0 + h2 * h2 * (z2 * z2 - 6.0 * z2 + 3.0) / 1920.0);
  double ea = 0.5 * hp_verfc_pos(fabs(za) * sqrt1_2);
  double eb = 0.5 * hp_verfc_pos(fabs(zb) * sqrt1_2);
  double both_up = ea - eb, both_down = eb - ea, across = 1.0 - ea - eb;
  double wide = za >= 0 ? both_up : across;
  wide = zb <= 0 ? both_down : wide;
  wide = wide > 0 ? wide : 0.0;
  /* The series error grows like (h zm)^6 / 322560: use it only where that
   * stays below ~1e-7 and the tail difference would cancel. */
  return h < 0.25 && h * fabs(zm) < 0.5 ? series : wide;
}

/* Phi(zb) - Phi(za) for a wide interval (zb - za >= 1), tails only. */
__attribute__((always_inline)) static inline double hp_ndtr_wide_inline(double za, double zb) {
  const double sqrt1_2 = 0.70710678118654752440;
  double ea = 0.5 * hp_verfc_pos(fabs(za) * sqrt1_2);
  double eb = 0.5 * hp_verfc_pos(fabs(zb) * sqrt1_2);
  double both_up = ea - eb, both_down = eb - ea, across = 1.0 - ea - eb;
  double wide = za >= 0 ? both_up : across;
  wide = zb <= 0 ? both_down : wide;
  return wide > 0 ? wide : 0.0;
}

#endif

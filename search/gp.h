/* Gaussian-process regression and its acquisition function, for the GP
 * sampler (search/gp_sampler.c). Internal header of search/ (the tests
 * include it to check gradients against finite differences).
 *
 * The model, as Optuna 5's GPSampler (optuna/_gp): inputs in the unit cube
 * (categoricals as their index, compared by Hamming distance), standardised
 * outputs (larger is better), a Matern-5/2 kernel with one inverse squared
 * length scale rho_i per dimension,
 *   k(x, x') = scale * m52(r2),  r2 = sum_i rho_i * sqd_i(x, x'),
 *   m52(r2) = exp(-sqrt(5 r2)) * (1 + sqrt(5 r2) + 5 r2 / 3),
 * sqd_i = (x_i - x'_i)^2, or [x_i != x'_i] for a categorical, and Gaussian
 * noise of variance noise. rho, scale and noise are fitted by maximum a
 * posteriori (marginal likelihood times Optuna's priors) with L-BFGS-B over
 * theta = (log rho, log scale, log(noise - min_noise)), with the analytic
 * gradient. Unlike Optuna, while there are fewer than HP_GP_BOUNDED_PER_DIM
 * observations per dimension, the length scale 1 / sqrt(rho_i) of a numeric
 * dimension is bounded by HP_GP_MAX_LENGTH (the cube's width): a longer one
 * says the dimension hardly matters, which a few trials gathered in one
 * basin cannot establish, and a model that has ruled a dimension out stops
 * exploring it (on Hartmann-6, fits with length scales of 4 to 5 in two
 * dimensions kept studies in a local optimum). With more observations the
 * bound is lifted: a parameter that really does not matter then gets a long
 * length scale and stops drawing trials (Branin with 8 ignored parameters
 * is worse with the bound kept throughout; docs/search.md).
 *
 * One regressor models one output: constraints and several objectives are
 * several regressors over the same X (the acquisition takes one today).
 * Matrices are column-major n x n (LAPACK's layout), X is row-major [n][d]. */
#ifndef HPSEARCH_GP_H
#define HPSEARCH_GP_H

#include <stdbool.h>
#include <stdint.h>

#include "hpsearch/err.h"

#define HP_GP_MIN_NOISE 1e-6 /* Optuna's DEFAULT_MINIMUM_NOISE_VAR */
#define HP_GP_MAX_LENGTH 1.0 /* largest length scale of a numeric dimension ... */
#define HP_GP_BOUNDED_PER_DIM 5 /* ... while n < this times d */

typedef struct hp_gpr {
  int n, d;               /* observations, input dimensions */
  const double *X;        /* [n][d] inputs (borrowed) */
  const double *y;        /* [n] outputs (borrowed), standardised */
  const uint8_t *is_cat;  /* [d] 1 for a categorical dimension (borrowed) */
  bool deterministic;     /* noise fixed at HP_GP_MIN_NOISE */
  /* hyperparameters */
  double *rho;            /* [d] inverse squared length scales */
  double scale;           /* kernel scale */
  double noise;           /* noise variance (>= HP_GP_MIN_NOISE) */
  /* caches of hp_gpr_cache: C = K + noise I */
  double *L;              /* [n*n] Cholesky factor of C (lower) */
  double *Cinv;           /* [n*n] C^-1, both triangles */
  double *Linv;           /* [n*n] L^-1 (lower triangle; the upper one is not read) */
  double *alpha;          /* [n] C^-1 y */
  double *XT;             /* [d][cap] X transposed (vectorised distances) */
  /* scratch of the likelihood, per pair i > j in the order of the lower
   * triangle's columns */
  size_t np;              /* pairs: n (n - 1) / 2 */
  double *sqd;            /* [d][np] squared differences per dimension */
  double *pw;             /* [4 np] r2 (then gradient weights), kernel, scale m52' */
  int cap;                /* observations the arrays hold */
  int n_evals;            /* likelihood evaluations of the last fit */
} hp_gpr_t;

/* Sets up a regressor over X[n][d], y[n] (both borrowed until the next
 * hp_gpr_set or hp_gpr_free) with Optuna's start: rho = 1, scale = 1,
 * noise = 1. 0 or HP_ENOMEM. The struct must start zeroed. */
int hp_gpr_set(hp_gpr_t *g, int n, int d, const double *X, const double *y,
               const uint8_t *is_cat, bool deterministic);
void hp_gpr_free(hp_gpr_t *g);

/* Matern-5/2 of a weighted squared distance, and its derivative in r2. */
double hp_gp_m52(double r2);
double hp_gp_m52_d(double r2);

/* Loss = -(log marginal likelihood + log prior) at theta[d + 2] (up to a
 * constant), and its gradient in grad[d + 2] (may be NULL). Uses and
 * overwrites L (C^-1 in it afterwards when grad is asked for) and alpha:
 * call hp_gpr_cache before the posterior. HP_ESTATE when C is not positive
 * definite. */
int hp_gpr_loss(hp_gpr_t *g, const double *theta, double *loss, double *grad);
/* The gradient of the loss at the theta of the last hp_gpr_loss call (which
 * returned 0), computed from its factorisation. */
void hp_gpr_loss_grad(hp_gpr_t *g, double *grad);
/* Fits rho, scale, noise by MAP from the current values (rho of numeric
 * dimensions bounded below by 1 / HP_GP_MAX_LENGTH^2 while
 * n < HP_GP_BOUNDED_PER_DIM * d; falls back to
 * Optuna's start, then to the start unfitted, as Optuna does), then caches
 * the factorisation. 0, or HP_ENOTFOUND if OpenBLAS/L-BFGS-B cannot be
 * loaded (err says which). */
int hp_gpr_fit(hp_gpr_t *g, hp_err_t *err);
/* The loss at the cached factorisation (after hp_gpr_cache or hp_gpr_fit). */
double hp_gpr_map_loss(const hp_gpr_t *g);
/* Factorises C for the current hyperparameters (L, Cinv, alpha). */
int hp_gpr_cache(hp_gpr_t *g);

/* Posterior mean and variance (clamped at 0) at x[d]; kx[n] receives
 * k(x, X_j) and, when kdm is non-NULL, kdm[n] the kernel's derivative in r2
 * (scale * m52'), tmp[n] is scratch (receives C^-1 k). */
void hp_gpr_posterior(const hp_gpr_t *g, const double *x, double *mean, double *var, double *kx,
                      double *kdm, double *tmp);

/* Log expected improvement over f0 of B points U[B][d] (no gradient): the
 * variances through one triangular matrix product L^-1 K. kx has room for
 * n B doubles, t for n. 0 or HP_ENOTFOUND (no OpenBLAS). */
int hp_gpr_logei_batch(const hp_gpr_t *g, double f0, const double *U, int B, double *out,
                       double *kx, double *t);

/* log E[max(0, Y - f0)] for Y ~ N(0, 1) shifted by z: log h(z) with
 * h(z) = z Phi(z) + phi(z), stable for every z, and d log h / dz. */
double hp_gp_log_h(double z, double *dlogh);

/* Log expected improvement over threshold f0 at x, and its gradient in the
 * continuous dimensions (grad[d], entries of categorical dimensions are 0)
 * when grad is non-NULL; ws has room for 3n doubles. */
double hp_gp_logei(const hp_gpr_t *g, double f0, const double *x, double *grad, double *ws);

/* ---- optimiser (search/lbfgsb.c) ---- */

/* f(x), with its gradient written to g[n]; +inf (or NaN) marks a point to
 * back off from. */
typedef double (*hp_fg_fn)(void *ctx, const double *x, double *g);
/* The gradient at the point fg was last called at (with g NULL). */
typedef void (*hp_grad_fn)(void *ctx, double *g);
typedef struct hp_lbfgsb_opts {
  int m;         /* correction pairs kept (10, as SciPy) */
  int max_iter;  /* iterations at most */
  double pgtol;  /* stop when the projected gradient's largest component is below */
  double factr;  /* stop when f's relative reduction is below factr * DBL_EPSILON (1e7) */
  /* NULL: fg computes f and g together. Else the line search calls fg with
   * g NULL and asks grad_last for the gradient only at the point it takes:
   * for an f whose gradient costs more than f (the likelihood's C^-1). The
   * iterates are the same either way. */
  hp_grad_fn grad_last;
} hp_lbfgsb_opts_t;
/* Minimises fg over the box [lo, hi] (both NULL: unbounded) from x, in
 * place; *fx gets f at the returned x and *n_iter (may be NULL) the
 * iterations taken. 0 when a stopping rule held, HP_ESTATE when the line
 * search failed or f was not finite at the start (x is then the last good
 * iterate), HP_ENOMEM. */
int hp_lbfgsb(int n, double *x, const double *lo, const double *hi, hp_fg_fn fg, void *ctx,
              const hp_lbfgsb_opts_t *o, double *fx, int *n_iter);

#endif

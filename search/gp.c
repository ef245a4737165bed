/* Gaussian-process regression for the GP sampler: the Matern-5/2 ARD kernel,
 * the MAP fit of its hyperparameters (marginal likelihood and Optuna's priors,
 * analytic gradient, L-BFGS-B), the posterior, and log expected improvement
 * with its gradient. Linear algebra is LAPACK's (OpenBLAS, common/numlib.c).
 * The formulas are written out in search/gp.h and docs/search.md. */
#include "gp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/numlib.h"
#include "sampler_impl.h" /* hp_vexp, HP_HOT */

/* ---- kernel ---------------------------------------------------------------- */

double hp_gp_m52(double r2) {
  double s = sqrt(5.0 * r2);
  return exp(-s) * (1.0 + s + (5.0 / 3.0) * r2);
}

/* d m52 / d r2 = -5/6 (1 + sqrt(5 r2)) exp(-sqrt(5 r2)): finite at r2 = 0,
 * which is why the kernel is differentiated in r2 and not in the distance. */
double hp_gp_m52_d(double r2) {
  double s = sqrt(5.0 * r2);
  return (-5.0 / 6.0) * (1.0 + s) * exp(-s);
}

/* k[j] = scale m52(r2[j]) and, if dk, dk[j] = scale m52'(r2[j]) for m values:
 * the hot loop of fitting and of the acquisition (vectorised: hp_vexp, and
 * sqrt without errno, see the Makefile). Multiplications and additions are
 * fused where the CPU has FMA (hp_vexp's polynomial: a few percent of the
 * GP's time; the last bits then differ between CPUs, as OpenBLAS's do). */
__attribute__((optimize("fp-contract=fast"))) HP_HOT static void kern_vec(int m, const double *restrict r2, double scale, double *restrict k,
                            double *restrict dk) {
  if (dk != NULL) {
    for (int j = 0; j < m; j++) {
      double s = sqrt(5.0 * r2[j]), e = scale * hp_vexp(-s);
      k[j] = e * (1.0 + s + (5.0 / 3.0) * r2[j]);
      dk[j] = e * (-5.0 / 6.0) * (1.0 + s);
    }
  } else {
    for (int j = 0; j < m; j++) {
      double s = sqrt(5.0 * r2[j]);
      k[j] = scale * hp_vexp(-s) * (1.0 + s + (5.0 / 3.0) * r2[j]);
    }
  }
}

/* sum_j a[j] b[j] in eight interleaved partial sums: GCC does not
 * vectorise a plain floating-point reduction (that would reorder it), and a
 * single sum waits on each addition's latency. */
HP_HOT static double dot(const double *restrict a, const double *restrict b, size_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) s[k] += a[j + k] * b[j + k];
  for (int k = 0; j < n; j++, k++) s[k] += a[j] * b[j];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* r2[j] = sum_k rho_k sqd_k(x, X_j) for the n training points (XT is X
 * transposed, [d][ldx]). */
HP_HOT static void dist_vec(int n, int d, const double *restrict XT, int ldx, const double *x,
                            const double *rho, const uint8_t *is_cat, double *restrict r2) {
  for (int j = 0; j < n; j++) r2[j] = 0;
  for (int k = 0; k < d; k++) {
    const double *restrict xt = &XT[(size_t)k * ldx];
    double xk = x[k], rk = rho[k];
    if (is_cat[k]) {
      for (int j = 0; j < n; j++) r2[j] += xt[j] != xk ? rk : 0.0;
    } else {
      for (int j = 0; j < n; j++) {
        double df = xt[j] - xk;
        r2[j] += rk * df * df;
      }
    }
  }
}

/* ---- set-up ---------------------------------------------------------------- */

void hp_gpr_free(hp_gpr_t *g) {
  free(g->rho);
  free(g->L);
  free(g->Cinv);
  free(g->Linv);
  free(g->alpha);
  free(g->XT);
  free(g->sqd);
  free(g->pw);
  memset(g, 0, sizeof *g);
}

/* Grown arrays start zeroed: LAPACK leaves the upper triangles untouched. */
static int regrow(double **p, size_t n) {
  free(*p);
  *p = calloc(n ? n : 1, sizeof **p);
  return *p == NULL ? HP_ENOMEM : 0;
}

int hp_gpr_set(hp_gpr_t *g, int n, int d, const double *X, const double *y,
               const uint8_t *is_cat, bool deterministic) {
  if (g->rho == NULL || g->d != d) {
    if (regrow(&g->rho, (size_t)d)) return HP_ENOMEM;
    g->cap = 0;
    for (int i = 0; i < d; i++) g->rho[i] = 1.0;
    g->scale = 1.0;
    g->noise = 1.0;
  }
  if (n > g->cap) {
    int cap = n < 2 * g->cap ? 2 * g->cap : n;
    size_t nn = (size_t)cap * (size_t)cap, np = (size_t)cap * (size_t)(cap - 1) / 2 + 1;
    if (regrow(&g->L, nn) || regrow(&g->Cinv, nn) || regrow(&g->Linv, nn) ||
        regrow(&g->alpha, (size_t)cap) ||
        regrow(&g->XT, (size_t)cap * d) || regrow(&g->sqd, np * (size_t)d) ||
        regrow(&g->pw, 4 * np))
      return HP_ENOMEM;
    g->cap = cap;
  }
  g->n = n;
  g->d = d;
  g->X = X;
  g->y = y;
  g->is_cat = is_cat;
  g->deterministic = deterministic;
  g->np = (size_t)n * (size_t)(n - 1) / 2;
  for (int j = 0; j < n; j++)
    for (int k = 0; k < d; k++) g->XT[(size_t)k * g->cap + j] = X[(size_t)j * d + k];
  /* Squared differences of every pair (i > j; pairs in the order of the
   * lower triangle's columns), per dimension, once per data set. */
  for (int k = 0; k < d; k++) {
    double *sq = &g->sqd[(size_t)k * g->np];
    size_t p = 0;
    for (int j = 0; j < n; j++) {
      double xj = X[(size_t)j * d + k];
      for (int i = j + 1; i < n; i++, p++) {
        double df = X[(size_t)i * d + k] - xj;
        sq[p] = is_cat[k] ? (df != 0 ? 1.0 : 0.0) : df * df;
      }
    }
  }
  return 0;
}

/* ---- likelihood -------------------------------------------------------------- */

/* Fills C's lower triangle (kernel + noise) into L, and per pair the kernel
 * (km) and scale * m52' (dm). */
static void build_cov(hp_gpr_t *g) {
  int n = g->n, d = g->d;
  size_t np = g->np;
  double *r2 = g->pw, *km = g->pw + np, *dm = g->pw + 2 * np;
  for (size_t p = 0; p < np; p++) r2[p] = 0;
  for (int k = 0; k < d; k++) {
    const double *sq = &g->sqd[(size_t)k * np];
    double rk = g->rho[k];
    for (size_t p = 0; p < np; p++) r2[p] += rk * sq[p];
  }
  kern_vec((int)np, r2, g->scale, km, dm);
  size_t p = 0;
  for (int j = 0; j < n; j++) {
    g->L[(size_t)j * n + j] = g->scale + g->noise;
    memcpy(&g->L[(size_t)j * n + j + 1], &km[p], (size_t)(n - j - 1) * sizeof(double));
    p += (size_t)(n - j - 1);
  }
}

/* Unpacks theta into rho, scale and noise. */
static void set_theta(hp_gpr_t *g, const double *theta) {
  for (int k = 0; k < g->d; k++) g->rho[k] = exp(theta[k]);
  g->scale = exp(theta[g->d]);
  g->noise = g->deterministic ? HP_GP_MIN_NOISE : exp(theta[g->d + 1]) + HP_GP_MIN_NOISE;
}

static void get_theta(const hp_gpr_t *g, double *theta) {
  for (int k = 0; k < g->d; k++) theta[k] = log(g->rho[k]);
  theta[g->d] = log(g->scale);
  /* As Optuna: 1% of the minimum stays above it, so the log is finite. */
  double extra = g->noise - 0.99 * HP_GP_MIN_NOISE;
  theta[g->d + 1] = log(extra > 0 ? extra : 0.01 * HP_GP_MIN_NOISE);
}

/* Optuna's priors: -(0.1 / rho + 0.1 rho) per dimension, Gamma(2, 1) on
 * the scale and Gamma(1.1, 30) on the noise (constants dropped). */
static double log_prior(const hp_gpr_t *g) {
  double prior = log(g->scale) - g->scale + 0.1 * log(g->noise) - 30.0 * g->noise;
  for (int k = 0; k < g->d; k++) prior -= 0.1 / g->rho[k] + 0.1 * g->rho[k];
  return prior;
}

double hp_gpr_map_loss(const hp_gpr_t *g) {
  int n = g->n;
  double logdet = 0, quad = 0;
  for (int i = 0; i < n; i++) {
    logdet += log(g->L[(size_t)i * n + i]);
    quad += g->y[i] * g->alpha[i];
  }
  return logdet + 0.5 * quad - log_prior(g);
}

int hp_gpr_loss(hp_gpr_t *g, const double *theta, double *loss, double *grad) {
  int n = g->n;
  set_theta(g, theta);
  build_cov(g);
  int info = hp_la_potrf(n, g->L, n);
  if (info != 0) return info < 0 ? info : HP_ESTATE;
  memcpy(g->alpha, g->y, (size_t)n * sizeof(double));
  hp_la_potrs(n, 1, g->L, n, g->alpha, n);
  double logdet = 0, quad = 0;
  for (int i = 0; i < n; i++) {
    logdet += log(g->L[(size_t)i * n + i]);
    quad += g->y[i] * g->alpha[i];
  }
  *loss = logdet + 0.5 * quad - log_prior(g);
  if (grad != NULL) hp_gpr_loss_grad(g, grad);
  return 0;
}

void hp_gpr_loss_grad(hp_gpr_t *g, double *grad) {
  int n = g->n, d = g->d;
  /* d(-mll)/d theta = -1/2 tr(W dC/dtheta), W = alpha alpha^T - C^-1
   * (C^-1's lower triangle replaces L: the next evaluation refactorises). */
  hp_la_potri(n, g->L, n);
  size_t np = g->np;
  const double *km = g->pw + np, *dm = g->pw + 2 * np;
  double *gw = g->pw; /* r2 is no longer needed */
  double tr_w = 0;
  size_t p = 0;
  for (int j = 0; j < n; j++) {
    double aj = g->alpha[j];
    const double *restrict cj = &g->L[(size_t)j * n];
    const double *restrict al = g->alpha;
    double *restrict gp = &gw[p];
    tr_w += aj * aj - cj[j];
    /* Off-diagonal pairs count twice (C is symmetric). */
    for (int i = j + 1; i < n; i++) gp[i - j - 1] = 2.0 * (al[i] * aj - cj[i]);
    p += (size_t)(n - j - 1);
  }
  double wk = dot(gw, km, np) + tr_w * g->scale;
  for (size_t q = 0; q < np; q++) gw[q] *= dm[q];
  for (int k = 0; k < d; k++) grad[k] = dot(gw, &g->sqd[(size_t)k * np], np);
  /* dC/dlog rho_k = dm * sqd_k * rho_k; dC/dlog scale = K; dC/dtheta_noise = (noise - min) I. */
  for (int k = 0; k < d; k++) grad[k] = -0.5 * grad[k] * g->rho[k];
  grad[d] = -0.5 * wk;
  grad[d + 1] = g->deterministic ? 0.0 : -0.5 * tr_w * (g->noise - HP_GP_MIN_NOISE);
  /* Minus the prior's gradient. */
  for (int k = 0; k < d; k++) grad[k] -= 0.1 / g->rho[k] - 0.1 * g->rho[k];
  grad[d] -= 1.0 - g->scale;
  if (!g->deterministic) grad[d + 1] -= (0.1 / g->noise - 30.0) * (g->noise - HP_GP_MIN_NOISE);
}

int hp_gpr_cache(hp_gpr_t *g) {
  int n = g->n;
  build_cov(g);
  int info = hp_la_potrf(n, g->L, n);
  if (info != 0) return info < 0 ? info : HP_ESTATE;
  memcpy(g->alpha, g->y, (size_t)n * sizeof(double));
  hp_la_potrs(n, 1, g->L, n, g->alpha, n);
  memcpy(g->Cinv, g->L, (size_t)n * n * sizeof(double));
  hp_la_potri(n, g->Cinv, n);
  hp_la_symmetrize(n, g->Cinv, n);
  memcpy(g->Linv, g->L, (size_t)n * n * sizeof(double));
  hp_la_trtri(n, g->Linv, n);
  return 0;
}

static double fit_fg(void *ctx, const double *theta, double *grad) {
  hp_gpr_t *g = ctx;
  double f;
  g->n_evals++;
  /* Not positive definite: +inf, a wall the line search backs off from. */
  return hp_gpr_loss(g, theta, &f, grad) == 0 ? f : INFINITY;
}

static void fit_grad(void *ctx, double *grad) { hp_gpr_loss_grad(ctx, grad); }

int hp_gpr_fit(hp_gpr_t *g, hp_err_t *err) {
  int np = g->d + 2, rc;
  if (hp_la_ready() != 0)
    return hp_err_set(err, HP_ENOTFOUND, "gp sampler: %s", hp_openblas_error());
  /* SciPy's minimize(method="L-BFGS-B") as Optuna calls it: gtol 1e-2,
   * ftol 2.2e-9 (factr 1e7). */
  const hp_lbfgsb_opts_t o = {10, 1000, 1e-2, 1e7, fit_grad};
  double theta[np], f, lo[np], hi[np];
  /* Length scales of numeric dimensions at most the cube's width (rho >= 1,
   * HP_GP_MAX_LENGTH) while there are fewer than HP_GP_BOUNDED_PER_DIM
   * trials per dimension: see gp.h. */
  const bool bounded = g->n < HP_GP_BOUNDED_PER_DIM * g->d;
  for (int k = 0; k < np; k++) {
    lo[k] = bounded && k < g->d && !g->is_cat[k] ? -2.0 * log(HP_GP_MAX_LENGTH) : -INFINITY;
    hi[k] = INFINITY;
  }
  g->n_evals = 0;
  get_theta(g, theta);
  for (int k = 0; k < np; k++) theta[k] = fmax(theta[k], lo[k]);
  rc = hp_lbfgsb(np, theta, lo, hi, fit_fg, g, &o, &f, NULL);
  if (rc == HP_ENOMEM) return hp_err_set(err, rc, "gp sampler: out of memory");
  if (rc != 0) {
    /* As Optuna: retry from the default start, then keep it unfitted. */
    for (int k = 0; k < g->d; k++) theta[k] = 0;
    theta[g->d] = 0;
    theta[g->d + 1] = log(1.0 - 0.99 * HP_GP_MIN_NOISE);
    rc = hp_lbfgsb(np, theta, lo, hi, fit_fg, g, &o, &f, NULL);
    if (rc != 0) {
      for (int k = 0; k < g->d; k++) theta[k] = 0;
      theta[g->d] = 0;
      theta[g->d + 1] = log(1.0 - 0.99 * HP_GP_MIN_NOISE);
    }
  }
  set_theta(g, theta);
  if (hp_gpr_cache(g) != 0) {
    /* The fitted point factorised during the search; this is a last guard. */
    g->noise += 1e-4;
    if (hp_gpr_cache(g) != 0)
      return hp_err_set(err, HP_ESTATE, "gp sampler: covariance not positive definite");
  }
  return 0;
}

/* ---- posterior and acquisition ----------------------------------------------- */

void hp_gpr_posterior(const hp_gpr_t *g, const double *x, double *mean, double *var, double *kx,
                      double *kdm, double *tmp) {
  int n = g->n;
  dist_vec(n, g->d, g->XT, g->cap, x, g->rho, g->is_cat, tmp);
  kern_vec(n, tmp, g->scale, kx, kdm);
  double m = dot(kx, g->alpha, (size_t)n);
  hp_la_symv(n, 1.0, g->Cinv, n, kx, 0.0, tmp);
  double q = dot(kx, tmp, (size_t)n);
  double v = g->scale - q;
  *mean = m;
  *var = v > 0 ? v : 0;
}

int hp_gpr_logei_batch(const hp_gpr_t *g, double f0, const double *U, int B, double *out,
                       double *kx, double *t) {
  int n = g->n, d = g->d;
  for (int b = 0; b < B; b++) {
    double *kb = &kx[(size_t)b * n];
    dist_vec(n, d, g->XT, g->cap, &U[(size_t)b * d], g->rho, g->is_cat, t);
    kern_vec(n, t, g->scale, kb, NULL);
    out[b] = dot(kb, g->alpha, (size_t)n);
  }
  /* var = scale - |L^-1 k|^2: half the flops of k^T C^-1 k, and a
   * triangular product (L^-1 is kept) is cheaper than a triangular solve. */
  int rc = hp_la_trmm(n, B, g->Linv, n, kx, n);
  if (rc != 0) return rc;
  for (int b = 0; b < B; b++) {
    const double *tb = &kx[(size_t)b * n];
    double m = out[b], q = dot(tb, tb, (size_t)n);
    double v = g->scale - q;
    v = (v > 0 ? v : 0) + 1e-12;
    double sigma = sqrt(v);
    out[b] = hp_gp_log_h((m - f0) / sigma, NULL) + log(sigma);
  }
  return 0;
}

/* erfcx(u) = exp(u^2) erfc(u) for u >= 0. */
static double erfcx_pos(double u) {
  if (u < 26.0) return exp(u * u) * erfc(u);
  /* Asymptotic series 1/(u sqrt(pi)) (1 - 1/(2u^2) + 3/(4u^4) - 15/(8u^6) ...). */
  double t = 1.0 / (2.0 * u * u);
  return (1.0 - t * (1.0 - 3.0 * t * (1.0 - 5.0 * t * (1.0 - 7.0 * t)))) / (u * 1.7724538509055160273);
}

double hp_gp_log_h(double z, double *dlogh) {
  const double inv_sqrt_2pi = 0.39894228040143267794, log_sqrt_2pi = 0.91893853320467274178;
  const double sqrt_half = 0.70710678118654752440, sqrt_pi = 1.7724538509055160273;
  if (z > -5.0) {
    /* h(z) = z Phi(z) + phi(z): no cancellation for z > -5. */
    double cdf = 0.5 * erfc(-sqrt_half * z), pdf = inv_sqrt_2pi * exp(-0.5 * z * z);
    double h = z * cdf + pdf;
    if (dlogh) *dlogh = cdf / h;
    return log(h);
  }
  /* h(z) = phi(z) (1 - sqrt(pi) u erfcx(u)), u = -z / sqrt 2; for large u the
   * bracket is 1/(2u^2) (1 - 3/(2u^2) + 15/(4u^4) - ...), summed directly. */
  double u = -sqrt_half * z, ex = erfcx_pos(u), b;
  if (u < 26.0) {
    b = 1.0 - sqrt_pi * u * ex;
  } else {
    double t = 1.0 / (2.0 * u * u);
    b = t * (1.0 - 3.0 * t * (1.0 - 5.0 * t * (1.0 - 7.0 * t * (1.0 - 9.0 * t))));
  }
  /* d log h / dz = Phi(z) / h(z) = (ex / 2) sqrt(2 pi) / b. */
  if (dlogh) *dlogh = 0.5 * ex / (inv_sqrt_2pi * b);
  return -0.5 * z * z - log_sqrt_2pi + log(b);
}

double hp_gp_logei(const hp_gpr_t *g, double f0, const double *x, double *grad, double *ws) {
  int n = g->n, d = g->d;
  double *kx = ws, *kdm = ws + n, *ck = ws + 2 * n;
  double mean, var;
  hp_gpr_posterior(g, x, &mean, &var, kx, grad ? kdm : NULL, ck);
  /* Optuna's stabilising noise keeps sigma > 0 at observed points. */
  var += 1e-12;
  double sigma = sqrt(var), z = (mean - f0) / sigma, r;
  double val = hp_gp_log_h(z, &r) + log(sigma);
  if (grad == NULL) return val;
  /* d/dmean = r / sigma; d/dvar = (1 - r z) / (2 var); dmean/dk = alpha,
   * dvar/dk = -2 C^-1 k (the clamp at 0 is ignored: var > 0 almost surely). */
  double a = r / sigma, b = -(1.0 - r * z) / var;
  double sum_e = 0;
  for (int j = 0; j < n; j++) {
    kdm[j] *= a * g->alpha[j] + b * ck[j];
    sum_e += kdm[j];
  }
  for (int k = 0; k < d; k++) {
    const double *xt = &g->XT[(size_t)k * g->cap];
    grad[k] = -dot(kdm, xt, (size_t)n);
  }
  /* dk_j/dx_k = kdm_j * 2 rho_k (x_k - X_jk). */
  for (int k = 0; k < d; k++)
    grad[k] = g->is_cat[k] ? 0.0 : 2.0 * g->rho[k] * (grad[k] + sum_e * x[k]);
  return val;
}

/* Parzen-estimator math for TPE: the normal CDF and its inverse accurate in
 * the tails, truncated-normal sampling by inverse CDF, Optuna's weight ramp,
 * and the mixture log-density whose inner loop over components is a tight,
 * branch-free loop the compiler vectorises (our own exp, no libm calls).
 *
 * The density is the CORRECTED truncated normal: log phi(z) - log sigma -
 * log Z. Optuna 3.1 omits -log sigma (optuna#5109, fixed after 3.1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* ---- scalar, accurate --------------------------------------------------- */

double hp_ndtr(double z) {
  return z < 0 ? 0.5 * erfc(-z * SQRT1_2) : 1.0 - 0.5 * erfc(z * SQRT1_2);
}

/* Upper tail Q(z) = 1 - Phi(z), accurate for large z. */
static double ndtr_upper(double z) { return 0.5 * erfc(z * SQRT1_2); }

/* Inverse of Phi: Acklam's rational approximation (relative error 1.2e-9)
 * refined by one Halley step on erfc, which brings it to full precision
 * also for p down to the smallest normal doubles. */
double hp_ndtri(double p) {
  if (!(p > 0)) return -INFINITY;
  if (!(p < 1)) return INFINITY;
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double plow = 0.02425;
  double x;
  if (p < plow) {
    double q = sqrt(-2 * log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - plow) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = sqrt(-2 * log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  /* Halley refinement; in the lower tail work with the relative error so
   * tiny p keep their precision. */
  if (x < 0) {
    double e = hp_ndtr(x) - p;
    double u = e * sqrt(2 * M_PI) * exp(0.5 * x * x);
    x = x - u / (1 + 0.5 * x * u);
  } else {
    double e = ndtr_upper(x) - (1 - p);
    double u = -e * sqrt(2 * M_PI) * exp(0.5 * x * x);
    x = x - u / (1 + 0.5 * x * u);
  }
  return x;
}

/* Standardised truncated normal on [a, b] at uniform u: inverse CDF on the
 * side of the interval where the tail probabilities are small, so they stay
 * exact; beyond ~37 sigma (where the tails underflow) the normal tail is
 * replaced by its exponential asymptote. */
static double truncnorm_ppf(double u, double a, double b) {
  if (a >= 0) {
    double qa = ndtr_upper(a), qb = ndtr_upper(b);
    if (qa < 1e-300) {
      /* Q(a + t) ~ Q(a) exp(-a t): exponential on [0, b - a]. */
      double span = b - a;
      double t = -log1p(-u * (-expm1(-a * span))) / a;
      return fmin(a + t, b);
    }
    double q = qa - u * (qa - qb);
    double z = -hp_ndtri(q);
    return fmin(fmax(z, a), b);
  }
  if (b <= 0) return -truncnorm_ppf(1 - u, -b, -a);
  double pa = hp_ndtr(a), qb = ndtr_upper(b);
  double mass = 1 - pa - qb;
  double p = pa + u * mass, z;
  if (p < 0.5)
    z = hp_ndtri(p);
  else
    z = -hp_ndtri(qb + (1 - u) * mass);
  return fmin(fmax(z, a), b);
}

double hp_truncnorm_sample(hp_rng_t *rng, double mu, double sigma, double lo, double hi) {
  double u = hp_rng_uniform(rng);
  double z = truncnorm_ppf(u, (lo - mu) / sigma, (hi - mu) / sigma);
  return fmin(fmax(mu + sigma * z, lo), hi);
}

/* ---- vectorisable kernels ---------------------------------------------- */

double hp_ndtr_diff(double za, double zb) { return hp_ndtr_diff_inline(za, zb); }


/* coef[j] = w[j] * c * isig[j]^e / Z_j with e in {0, 1}; Z_j the mass of
 * [lo, hi] under component j (always a wide interval, so tails only). */
HP_HOT static void coef_loop(int64_t n, const double *restrict mu, const double *restrict isig,
                             const double *restrict w, double *restrict coef, double lo,
                             double hi, double c, double e) {
  for (int64_t j = 0; j < n; j++) {
    double is = isig[j];
    double z = hp_ndtr_wide_inline((lo - mu[j]) * is, (hi - mu[j]) * is);
    double s = e > 0 ? is : 1.0;
    coef[j] = w[j] * c * s / z;
  }
}

HP_HOT void hp_mix_prepare(const hp_tparam_t *tp, hp_mix_t *m) {
  const double lo = tp->lo, hi = tp->hi;
  const int64_t n = m->n;
  const double *restrict mu = m->mu, *restrict sigma = m->sigma, *restrict w = m->w;
  double *restrict isig = m->isig, *restrict coef = m->coef;
  const double cont = tp->kind == HP_T_CONT ? INV_SQRT_2PI : 0.0;
  const bool scaled = !tp->density31;
  double max_is = 0;
  for (int64_t j = 0; j < n; j++) {
    double is = 1.0 / sigma[j];
    isig[j] = is;
    max_is = max_is > is ? max_is : is;
  }
  m->narrow = tp->kind == HP_T_BIN && tp->q * max_is < 0.25;
  /* Density: w / (Z sigma sqrt(2 pi)) (Optuna 3.1 drops the 1 / sigma);
   * bin mass: w / Z; narrow bins also fold in the series' h / sqrt(2 pi). */
  if (cont > 0)
    coef_loop(n, mu, isig, w, coef, lo, hi, cont, scaled ? 1.0 : 0.0);
  else
    coef_loop(n, mu, isig, w, coef, lo, hi, m->narrow ? tp->q * INV_SQRT_2PI : 1.0,
              m->narrow ? 1.0 : 0.0);
}

/* Slow exact path for the (prior-less) case where every component
 * underflows: log-sum-exp with libm. */
static double mix_logpdf_slow(const hp_tparam_t *tp, int64_t n, const double *mu,
                              const double *sigma, const double *w, double x) {
  double mx = -INFINITY;
  double *t = malloc((size_t)n * sizeof *t);
  if (t == NULL) return -INFINITY;
  for (int64_t j = 0; j < n; j++) {
    double s = sigma[j];
    double a = (tp->lo - mu[j]) / s, b = (tp->hi - mu[j]) / s;
    double logz = log(fmax(hp_ndtr(b) - hp_ndtr(a), 1e-300));
    double v;
    if (tp->kind == HP_T_CONT) {
      double z = (x - mu[j]) / s;
      v = -0.5 * z * z - (tp->density31 ? 0.0 : log(s)) - 0.5 * log(2 * M_PI) - logz;
    } else {
      /* log of the bin mass deep in the tail: log phi at the nearer edge. */
      double za = (x - 0.5 * tp->q - mu[j]) / s, zb = (x + 0.5 * tp->q - mu[j]) / s;
      double m = hp_ndtr_diff(za, zb);
      double zn = fabs(za) < fabs(zb) ? za : zb;
      v = (m > 0 ? log(m) : -0.5 * zn * zn - 0.5 * log(2 * M_PI) - log(fabs(zn) + 1)) - logz;
    }
    t[j] = v + log(w[j]);
    if (t[j] > mx) mx = t[j];
  }
  double sum = 0;
  for (int64_t j = 0; j < n; j++) sum += exp(t[j] - mx);
  free(t);
  return mx + log(sum);
}


/* tmp[j] = coef[j] * mass of [xa, xb] under component j. */
HP_HOT static void bin_terms(int64_t n, const double *restrict mu, const double *restrict isig,
                             const double *restrict coef, double *restrict tmp, double xa,
                             double xb) {
  for (int64_t j = 0; j < n; j++) {
    double m = mu[j], is = isig[j];
    tmp[j] = coef[j] * hp_ndtr_diff_inline((xa - m) * is, (xb - m) * is);
  }
}

/* Same when every bin is narrow (q / sigma < 0.25, the usual case once the
 * magic clip bounds sigma): only the midpoint series, one exp per term. Its
 * relative error is ~(h z)^6 / 322560, so only components many sigmas away
 * (whose terms are negligible next to the prior's) lose digits. */
HP_HOT static double bin_sum_narrow(int64_t n, const double *restrict mu,
                                     const double *restrict isig, const double *restrict coef,
                                     double x, double q) {
  /* coef already holds w h / (Z sqrt(2 pi)) (hp_mix_prepare). Eight
   * accumulators let the compiler vectorise the sum without reassociating. */
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, r = 0;
  const double q2 = q * q;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) {
      double is = isig[j + k], zm = (x - mu[j + k]) * is;
      double z2 = zm * zm, h2 = q2 * is * is;
      double poly = 1.0 + h2 * (z2 - 1.0) / 24.0 + h2 * h2 * (z2 * z2 - 6.0 * z2 + 3.0) / 1920.0;
      a[k] += coef[j + k] * hp_vexp(-0.5 * z2) * poly;
    }
  for (; j < n; j++) {
    double is = isig[j], zm = (x - mu[j]) * is;
    double z2 = zm * zm, h2 = q2 * is * is;
    double poly = 1.0 + h2 * (z2 - 1.0) / 24.0 + h2 * h2 * (z2 * z2 - 6.0 * z2 + 3.0) / 1920.0;
    r += coef[j] * hp_vexp(-0.5 * z2) * poly;
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + r;
}

/* Sum over components of coef * exp(-z^2 / 2) (continuous kernels). */
HP_HOT static double cont_sum(int64_t n, const double *restrict mu, const double *restrict isig,
                              const double *restrict coef, double x) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, r = 0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) {
      double z = (x - mu[j + k]) * isig[j + k];
      a[k] += coef[j + k] * hp_vexp(-0.5 * z * z);
    }
  for (; j < n; j++) {
    double z = (x - mu[j]) * isig[j];
    r += coef[j] * hp_vexp(-0.5 * z * z);
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + r;
}

HP_HOT double hp_mix_logpdf(const hp_tparam_t *tp, const hp_mix_t *m, double *restrict tmp,
                            double x) {
  const int64_t n = m->n;
  const double *restrict mu = m->mu, *restrict isig = m->isig, *restrict coef = m->coef;
  double sum;
  if (tp->kind == HP_T_CONT) {
    sum = cont_sum(n, mu, isig, coef, x);
  } else if (m->narrow) {
    sum = bin_sum_narrow(n, mu, isig, coef, x, tp->q);
  } else {
    bin_terms(n, mu, isig, coef, tmp, x - 0.5 * tp->q, x + 0.5 * tp->q);
    sum = hp_sum8(tmp, n);
  }
  if (sum > 0 && isfinite(sum)) return log(sum);
  return mix_logpdf_slow(tp, n, m->mu, m->sigma, m->w, x);
}

/* The multi-objective benchmark problems (minimised, the usual
 * definitions), shared by bench/search_mo.c and tests/search/test_mo.c;
 * bench/search_mo_optuna.py defines them identically for Optuna's side.
 * ZDT1-3: 30 variables in [0, 1]; DTLZ2: 3 objectives, 12 variables in
 * [0, 1]; WFG4: 2 objectives, k = 4 position and l = 4 distance
 * variables, z_i in [0, 2i]. */
#ifndef HP_BENCH_MO_PROBLEMS_H
#define HP_BENCH_MO_PROBLEMS_H

#include <math.h>

static inline double zdt_g(const double *x) {
  double s = 0;
  for (int i = 1; i < 30; i++) s += x[i];
  return 1 + 9 * s / 29;
}
static inline void zdt1(const double *x, double *f) {
  double g = zdt_g(x);
  f[0] = x[0];
  f[1] = g * (1 - sqrt(x[0] / g));
}
static inline void zdt2(const double *x, double *f) {
  double g = zdt_g(x);
  f[0] = x[0];
  f[1] = g * (1 - (x[0] / g) * (x[0] / g));
}
static inline void zdt3(const double *x, double *f) {
  double g = zdt_g(x), r = x[0] / g;
  f[0] = x[0];
  f[1] = g * (1 - sqrt(r) - r * sin(10 * M_PI * x[0]));
}
static inline void dtlz2(const double *x, double *f) {
  double g = 0;
  for (int i = 2; i < 12; i++) g += (x[i] - 0.5) * (x[i] - 0.5);
  double a = x[0] * M_PI / 2, b = x[1] * M_PI / 2;
  f[0] = (1 + g) * cos(a) * cos(b);
  f[1] = (1 + g) * cos(a) * sin(b);
  f[2] = (1 + g) * sin(a);
}
/* WFG's multi-modal shift s_multi(y, A=30, B=10, C=0.35). */
static inline double s_multi(double y) {
  const double A = 30, B = 10, C = 0.35;
  double t = fabs(y - C) / (2 * (floor(C - y) + C));
  return (1 + cos((4 * A + 2) * M_PI * (0.5 - t)) + 4 * B * t * t) / (B + 2);
}
static inline void wfg4(const double *z, double *f) {
  const int k = 4, n = 8;
  double y[8];
  for (int i = 0; i < n; i++) y[i] = s_multi(z[i] / (2.0 * (i + 1)));
  double t1 = 0, t2 = 0;
  for (int i = 0; i < k; i++) t1 += y[i];
  for (int i = k; i < n; i++) t2 += y[i];
  t1 /= k;
  t2 /= n - k;
  /* degeneracy constant A = 1: x_1 = t1; concave shape, S_m = 2m, D = 1 */
  f[0] = t2 + 2 * sin(t1 * M_PI / 2);
  f[1] = t2 + 4 * cos(t1 * M_PI / 2);
}

#endif

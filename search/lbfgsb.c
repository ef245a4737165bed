/* A limited-memory quasi-Newton minimiser over a box (projected L-BFGS),
 * for the GP sampler's two optimisations: the kernel fit (unbounded) and
 * the local search of the acquisition function (the unit box). Optuna uses
 * SciPy's L-BFGS-B for both; Debian's liblbfgsb0 (the same Fortran code)
 * was tried and dropped: its line search writes to stdout on an ascent
 * direction and its timer makes a getrusage system call per iteration
 * (13% of the sampler's time in a profile). This one keeps L-BFGS-B's
 * stopping rules (projected gradient below pgtol, relative reduction of f
 * below factr * epsilon) with a simpler step: the two-loop recursion on the
 * free variables (those not held at a bound by the gradient), the step
 * projected onto the box, and a backtracking line search with quadratic
 * interpolation (Armijo's condition on the projected step). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gp.h"

static double proj(double v, const double *lo, const double *hi, int i) {
  if (lo == NULL) return v;
  return v < lo[i] ? lo[i] : v > hi[i] ? hi[i] : v;
}

/* Projected gradient's largest component (L-BFGS-B's projgr). */
static double pg_norm(int n, const double *x, const double *g, const double *lo,
                      const double *hi) {
  double m = 0;
  for (int i = 0; i < n; i++) {
    double gi = g[i];
    if (lo != NULL) {
      if (gi < 0) gi = fmax(x[i] - hi[i], gi);
      else gi = fmin(x[i] - lo[i], gi);
    }
    m = fmax(m, fabs(gi));
  }
  return m;
}

int hp_lbfgsb(int n, double *x, const double *lo, const double *hi, hp_fg_fn fg, void *ctx,
              const hp_lbfgsb_opts_t *o, double *fx, int *n_iter) {
  int m = o->m, rc = HP_ESTATE;
  size_t nn = (size_t)n;
  double *mem = malloc(((size_t)2 * m * nn + 6 * nn + (size_t)2 * m) * sizeof *mem);
  if (mem == NULL) return HP_ENOMEM;
  double *S = mem, *Y = S + (size_t)m * nn, *g = Y + (size_t)m * nn, *d = g + nn;
  double *xn = d + nn, *gn = xn + nn, *q = gn + nn, *free_ = q + nn;
  double *rho = free_ + nn, *al = rho + m;
  int k = 0, head = 0, it = 0; /* stored pairs, oldest pair's slot */
  for (int i = 0; i < n; i++) x[i] = proj(x[i], lo, hi, i);
  double f = fg(ctx, x, g);
  if (!isfinite(f)) goto done;
  for (it = 0; it < o->max_iter; it++) {
    if (pg_norm(n, x, g, lo, hi) <= o->pgtol) {
      rc = 0;
      break;
    }
    /* Free variables: not at a bound the gradient pushes against. */
    for (int i = 0; i < n; i++)
      free_[i] = lo == NULL || !((x[i] <= lo[i] && g[i] > 0) || (x[i] >= hi[i] && g[i] < 0));
    /* d = -H g on the free variables (two-loop recursion). */
    for (int i = 0; i < n; i++) q[i] = free_[i] * g[i];
    for (int j = k - 1; j >= 0; j--) {
      int s = (head + j) % m;
      double a = 0;
      for (int i = 0; i < n; i++) a += S[(size_t)s * nn + i] * free_[i] * q[i];
      al[j] = rho[s] * a;
      for (int i = 0; i < n; i++) q[i] -= al[j] * free_[i] * Y[(size_t)s * nn + i];
    }
    double gamma = 1.0;
    if (k > 0) {
      int s = (head + k - 1) % m;
      double sy = 0, yy = 0;
      for (int i = 0; i < n; i++) {
        sy += S[(size_t)s * nn + i] * Y[(size_t)s * nn + i];
        yy += Y[(size_t)s * nn + i] * Y[(size_t)s * nn + i];
      }
      gamma = sy / yy;
    }
    for (int i = 0; i < n; i++) q[i] *= gamma;
    for (int j = 0; j < k; j++) {
      int s = (head + j) % m;
      double b = 0;
      for (int i = 0; i < n; i++) b += Y[(size_t)s * nn + i] * free_[i] * q[i];
      b *= rho[s];
      for (int i = 0; i < n; i++) q[i] += (al[j] - b) * free_[i] * S[(size_t)s * nn + i];
    }
    double gd = 0;
    for (int i = 0; i < n; i++) {
      d[i] = -free_[i] * q[i];
      gd += g[i] * d[i];
    }
    if (!(gd < 0)) {
      /* Not a descent direction: forget the memory, take steepest descent. */
      k = 0;
      gd = 0;
      for (int i = 0; i < n; i++) {
        d[i] = -free_[i] * g[i];
        gd += g[i] * d[i];
      }
      if (!(gd < 0)) {
        rc = 0; /* nothing free to move */
        break;
      }
    }
    /* First step without curvature information: length 1 in the largest
     * component at most (as L-BFGS-B's first line search). */
    double t = 1.0;
    if (k == 0) {
      double dmax = 0;
      for (int i = 0; i < n; i++) dmax = fmax(dmax, fabs(d[i]));
      if (dmax > 1.0) t = 1.0 / dmax;
    }
    double fn = INFINITY;
    bool ok = false;
    for (int ls = 0; ls < 30; ls++) {
      double dec = 0;
      for (int i = 0; i < n; i++) {
        xn[i] = proj(x[i] + t * d[i], lo, hi, i);
        dec += g[i] * (xn[i] - x[i]);
      }
      fn = fg(ctx, xn, o->grad_last != NULL ? NULL : gn);
      if (isfinite(fn) && fn <= f + 1e-4 * dec) {
        if (o->grad_last != NULL) o->grad_last(ctx, gn);
        ok = true;
        break;
      }
      /* Quadratic interpolation of f along the step, kept in [0.1t, 0.5t]. */
      double tn = 0.5 * t;
      if (isfinite(fn) && dec < 0) {
        double c = (fn - f - dec) / (t * t);
        if (c > 0) tn = fmin(fmax(-dec / t / (2 * c), 0.1 * t), 0.5 * t);
      }
      t = tn;
    }
    if (!ok) {
      if (k > 0) { /* retry once from steepest descent */
        k = 0;
        continue;
      }
      break; /* abnormal: x is the last good iterate */
    }
    /* Keep the pair if its curvature is positive. */
    double sy = 0, ss = 0, yy = 0;
    for (int i = 0; i < n; i++) {
      double si = xn[i] - x[i], yi = gn[i] - g[i];
      sy += si * yi;
      ss += si * si;
      yy += yi * yi;
    }
    if (sy > DBL_EPSILON * sqrt(ss * yy) && sy > 0) {
      int slot = k < m ? (head + k) % m : head;
      for (int i = 0; i < n; i++) {
        S[(size_t)slot * nn + i] = xn[i] - x[i];
        Y[(size_t)slot * nn + i] = gn[i] - g[i];
      }
      rho[slot] = 1.0 / sy;
      if (k < m)
        k++;
      else
        head = (head + 1) % m;
    }
    double fold = f;
    memcpy(x, xn, nn * sizeof *x);
    memcpy(g, gn, nn * sizeof *g);
    f = fn;
    if ((fold - f) <= o->factr * DBL_EPSILON * fmax(fmax(fabs(fold), fabs(f)), 1.0)) {
      rc = 0;
      it++;
      break;
    }
  }
done:
  *fx = f;
  if (n_iter) *n_iter = it;
  free(mem);
  return rc;
}

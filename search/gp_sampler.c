/* The GP sampler: Bayesian optimisation as Optuna 5's GPSampler does it
 * (search/gp.h has the model). Per suggestion: the parameters go to the unit
 * cube, the COMPLETE trials' values are warped (a log warp or none, chosen
 * by the warped GP's evidence; not in Optuna) and standardised, the kernel is fitted,
 * running trials enter as pending points (kriging believer: each is told its
 * posterior mean, and the threshold becomes the best of the observed and
 * believed values, so EI vanishes at a pending point), and log expected
 * improvement is maximised over 2048 quasi-random candidates (a shifted
 * Kronecker lattice) followed by local searches from the best few (L-BFGS-B
 * on continuous dimensions, exhaustive or line search on discrete ones). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gp.h"
#include "hpsearch/numlib.h"
#include "sampler_impl.h"

/* How one modelled parameter maps to the unit cube. */
typedef enum { GP_CONT = 0, GP_DISC, GP_CAT } gp_dkind_t;

typedef struct gp_dim {
  int p;           /* parameter index in the space */
  gp_dkind_t kind; /* continuous, discrete (int / stepped float) or categorical */
  bool log;        /* coordinates are ln(x) */
  double lo, hi;   /* transformed bounds (discrete ones widened by step / 2) */
  double step;     /* DISC: step of the internal value */
  int64_t n_choices; /* DISC/CAT: number of values */
} gp_dim_t;

struct hp_gp_state {
  int d;            /* modelled dimensions */
  gp_dim_t *dim;    /* [d] */
  uint8_t *is_cat;  /* [d] */
  double *X;        /* [cap][d] normalised inputs: complete (by number), then pending */
  double *yraw;     /* [cap] COMPLETE values, larger is better, clipped to the finite range */
  double *y;        /* [cap] standardised outputs of the prefix being fitted, then pending */
  int32_t *num;     /* [cap] trial number of each complete row */
  int cap;
  /* Warm starts (see fit_chain): hyperparameters fitted on the first k
   * complete rows, valid for k <= n_chain while the rows' numbers match. */
  double *theta;    /* [cap][d + 2] */
  int32_t *chain_num; /* [cap] trial number of each row when the cache was filled */
  uint8_t *theta_ok;  /* [cap] theta[m - 1] holds a fit */
  uint8_t *warp;      /* [cap] output warp chosen for the fit on the first m rows (warp[m - 1]) */
  double *ysort;      /* [cap] scratch: sorted values */
  int n_chain;      /* rows chain_num describes */
  double *ws;       /* scratch of a suggestion (grown, kept) */
  size_t ws_cap;
  hp_gpr_t gpr;
  hp_gp_profile_t prof; /* where the time went, summed over suggestions */
};

#define N_CANDIDATES 2048
#define N_LOCAL 10
#define CAND_BATCH 256
#define MAX_EXHAUSTIVE 16

void hp_gp_free(struct hp_gp_state *g) {
  if (g == NULL) return;
  free(g->dim);
  free(g->is_cat);
  free(g->X);
  free(g->y);
  free(g->yraw);
  free(g->num);
  free(g->theta);
  free(g->chain_num);
  free(g->theta_ok);
  free(g->warp);
  free(g->ysort);
  free(g->ws);
  hp_gpr_free(&g->gpr);
  free(g);
}

static int gp_init(hp_sampler_t *s, hp_err_t *err) {
  struct hp_gp_state *g = calloc(1, sizeof *g);
  if (g == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  g->dim = calloc((size_t)s->d, sizeof *g->dim);
  g->is_cat = calloc((size_t)s->d, sizeof *g->is_cat);
  if (g->dim == NULL || g->is_cat == NULL) {
    hp_gp_free(g);
    return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  }
  for (int p = 0; p < s->d; p++) {
    const hp_dist_t *dist = &s->space->params[p].dist;
    if (hp_dist_single(dist)) continue; /* one value: nothing to model */
    gp_dim_t *dm = &g->dim[g->d];
    dm->p = p;
    if (dist->kind == HP_DIST_CAT) {
      dm->kind = GP_CAT;
      dm->n_choices = dist->n_choices;
    } else if (dist->kind == HP_DIST_INT || dist->step > 0) {
      dm->kind = GP_DISC;
      dm->step = dist->step;
      dm->log = dist->log;
      dm->n_choices = (int64_t)nearbyint((dist->high - dist->low) / dist->step) + 1;
      dm->lo = dist->low - 0.5 * dist->step;
      dm->hi = dist->high + 0.5 * dist->step;
      if (dm->log) {
        dm->lo = log(dm->lo);
        dm->hi = log(dm->hi);
      }
    } else {
      dm->kind = GP_CONT;
      dm->log = dist->log;
      dm->lo = dist->log ? log(dist->low) : dist->low;
      dm->hi = dist->log ? log(dist->high) : dist->high;
    }
    g->is_cat[g->d] = dm->kind == GP_CAT;
    g->d++;
  }
  s->gp = g;
  return 0;
}

/* ---- coordinates ------------------------------------------------------------ */

static double to_unit(const gp_dim_t *dm, double x) {
  if (dm->kind == GP_CAT) return x;
  double t = dm->log ? log(x) : x;
  return (t - dm->lo) / (dm->hi - dm->lo);
}

/* Internal value of a unit coordinate: exp, snapping to the step, clipping. */
static double from_unit(const gp_dim_t *dm, const hp_dist_t *dist, double u) {
  if (dm->kind == GP_CAT) {
    double k = floor(u);
    return fmin(fmax(k, 0), (double)(dm->n_choices - 1));
  }
  double t = dm->lo + u * (dm->hi - dm->lo);
  double x = dm->log ? exp(t) : t;
  if (dm->kind == GP_DISC) x = nearbyint((x - dist->low) / dist->step) * dist->step + dist->low;
  return fmin(fmax(x, dist->low), dist->high);
}

/* Unit coordinate of the k-th value of a discrete dimension. */
static double disc_unit(const gp_dim_t *dm, const hp_dist_t *dist, int64_t k) {
  double x = fmin(dist->low + (double)k * dist->step, dist->high);
  return to_unit(dm, x);
}

/* Snaps the discrete and categorical coordinates of u[d] onto their values. */
static void snap(const struct hp_gp_state *g, const hp_space_t *sp, double *u) {
  for (int k = 0; k < g->d; k++) {
    const gp_dim_t *dm = &g->dim[k];
    if (dm->kind == GP_CAT)
      u[k] = from_unit(dm, NULL, u[k] * (double)dm->n_choices);
    else if (dm->kind == GP_DISC)
      u[k] = to_unit(dm, from_unit(dm, &sp->params[dm->p].dist, u[k]));
  }
}

/* ---- data ------------------------------------------------------------------- */

/* The suggestion's scratch, grown and kept (no page faults per suggestion). */
static double *scratch(struct hp_gp_state *g, size_t n) {
  if (n > g->ws_cap) {
    /* Doubled: the need grows with every trial, and a fresh block of this
     * size is a fresh mapping whose pages fault in again. */
    size_t cap = n < 2 * g->ws_cap ? 2 * g->ws_cap : n;
    double *w = realloc(g->ws, cap * sizeof *w);
    if (w == NULL) return NULL;
    g->ws = w;
    g->ws_cap = cap;
  }
  return g->ws;
}

static int grow_arr(void **p, size_t elem, int cap) {
  void *q = realloc(*p, (size_t)cap * elem);
  if (q == NULL) return HP_ENOMEM;
  *p = q;
  return 0;
}

static int reserve(struct hp_gp_state *g, int n) {
  if (n <= g->cap) return 0;
  int cap = n < 2 * g->cap ? 2 * g->cap : n;
  size_t dd = (size_t)g->d;
  if (grow_arr((void **)&g->X, dd * sizeof(double), cap) ||
      grow_arr((void **)&g->y, sizeof(double), cap) ||
      grow_arr((void **)&g->yraw, sizeof(double), cap) ||
      grow_arr((void **)&g->num, sizeof(int32_t), cap) ||
      grow_arr((void **)&g->theta, (dd + 2) * sizeof(double), cap) ||
      grow_arr((void **)&g->chain_num, sizeof(int32_t), cap) ||
      grow_arr((void **)&g->theta_ok, sizeof(uint8_t), cap) ||
      grow_arr((void **)&g->warp, sizeof(uint8_t), cap) ||
      grow_arr((void **)&g->ysort, sizeof(double), cap))
    return HP_ENOMEM;
  g->cap = cap;
  return 0;
}

/* Unit coordinates of internal params; false if a modelled one is absent. */
static bool unit_row(const struct hp_gp_state *g, const hp_space_t *sp, const double *params,
                     double *row) {
  for (int k = 0; k < g->d; k++) {
    double v = params[g->dim[k].p];
    if (isnan(v) || !hp_dist_contains(&sp->params[g->dim[k].p].dist, v)) return false;
    row[k] = to_unit(&g->dim[k], v);
  }
  return true;
}

/* Loads the COMPLETE trials in trial-number order: X, their values (larger
 * is better; infinite ones clipped to the finite range, as Optuna) and
 * numbers. Returns their number. */
static int load_complete(hp_sampler_t *s, hp_err_t *err) {
  struct hp_gp_state *g = s->gp;
  const hp_hist_t *h = &s->hist;
  double row[g->d > 0 ? g->d : 1];
  double params[s->d > 0 ? s->d : 1];
  int n = 0;
  for (int64_t i = 0; i < h->n; i++) {
    if (h->key[i] != -INFINITY) continue;
    for (int p = 0; p < s->d; p++) params[p] = h->x[p][i];
    if (!unit_row(g, s->space, params, row)) continue;
    if (reserve(g, n + 1) != 0) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    memcpy(&g->X[(size_t)n * g->d], row, (size_t)g->d * sizeof(double));
    g->yraw[n] = -h->val[i]; /* val: smaller is better */
    g->num[n] = h->number[i];
    n++;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < n; i++)
    if (isfinite(g->yraw[i])) {
      lo = fmin(lo, g->yraw[i]);
      hi = fmax(hi, g->yraw[i]);
    }
  if (!(lo <= hi)) lo = hi = 0;
  for (int i = 0; i < n; i++) g->yraw[i] = fmin(fmax(g->yraw[i], lo), hi);
  return n;
}

/* Output warps. Values spanning orders of magnitude (Rosenbrock's valley at
 * 1 to 100 beside walls at 1e5) leave the standardised outputs no resolution
 * where it matters and make the surface a poor GP sample; a monotone warp
 * z = w(y) before standardising fixes both. The family: warp 0 is the
 * identity, warp j = 1 .. N_WARPS - 1 is
 *   w_j(y) = -log(ymax - y + c_j s),  c_j = 10^((3 - j) / 2) (10 ... 0.03),
 * with ymax the best value and s = ymax - median (the range if that is 0):
 * in the loss f = -y, log(f - fmin + c_j s), which compresses the bad values
 * more the smaller c_j is, and tends to the identity as c_j grows. The warp
 * is chosen by the evidence of the warped GP (Snelson et al., "Warped
 * Gaussian processes", 2004): the MAP loss of the fit on the warped,
 * standardised outputs minus the log Jacobian of y -> z, which makes the
 * losses of different warps comparable (all are densities of the same y). */
#define N_WARPS 7
/* The warp is chosen among all N_WARPS at a chain base, and again every
 * WARP_EVERY prefixes by a walk from the previous one (fit_chain); in between
 * the fit keeps the previous prefix's warp. */
#define WARP_EVERY 8

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* True if the first k values can be warped: 3 or more, not all equal. */
static bool can_warp(const struct hp_gp_state *g, int k) {
  for (int i = 1; i < k; i++)
    if (g->yraw[i] != g->yraw[0]) return k >= 3;
  return false;
}

/* Warps the first k values (warp index w) and standardises them into g->y
 * (mean 0, population standard deviation 1, as Optuna); returns the index of
 * the best, and, if jac is non-NULL, -log |dz / dy| summed over the k values
 * (the location and scale of the warp and the standardisation taken as
 * constants). A warp needs 3 values and some spread; otherwise the identity. */
static int standardize(struct hp_gp_state *g, int k, int w, double *jac) {
  double *z = g->y, lj = 0;
  double spread = 0, ymax = 0;
  if (w > 0 && k >= 3) {
    memcpy(g->ysort, g->yraw, (size_t)k * sizeof(double));
    qsort(g->ysort, (size_t)k, sizeof(double), cmp_double);
    ymax = g->ysort[k - 1];
    spread = ymax - g->ysort[k / 2];
    if (!(spread > 0)) spread = ymax - g->ysort[0];
  }
  if (spread > 0) {
    double off = pow(10.0, 0.5 * (double)(3 - w)) * spread;
    for (int i = 0; i < k; i++) {
      double t = ymax - g->yraw[i] + off;
      z[i] = -log(t);
      lj += log(t);
    }
  } else {
    memcpy(z, g->yraw, (size_t)k * sizeof(double));
  }
  double mean = 0, var = 0;
  for (int i = 0; i < k; i++) mean += z[i];
  mean /= k;
  for (int i = 0; i < k; i++) var += (z[i] - mean) * (z[i] - mean);
  double sd = sqrt(var / k);
  if (sd < 1e-10) sd = 1e-10;
  int best = 0;
  for (int i = 0; i < k; i++) {
    z[i] = (z[i] - mean) / sd;
    if (z[i] > z[best]) best = i;
  }
  if (jac != NULL) *jac = lj + (double)k * log(sd);
  return best;
}

/* Kernel fits with warm starts that keep a suggestion a function of the
 * history: the fit on the first k complete trials (by number) starts from
 * the fit on the first k - 1, except at a base (k a multiple of CHAIN_BASE,
 * or the first k the GP fits), which starts from Optuna's default. Fits of
 * prefixes are cached while their trials stay the same, so a sequential
 * study makes one fit per suggestion (a few more where the warp is chosen),
 * and a daemon restarted at n trials makes at most CHAIN_BASE. The chosen
 * warps are part of the chain (warp[m - 1]). */
#define CHAIN_BASE 32

static void set_hyper(hp_gpr_t *gp, const double *th, int d) {
  for (int k = 0; k < d; k++) gp->rho[k] = exp(th[k]);
  gp->scale = exp(th[d]);
  gp->noise = gp->deterministic ? HP_GP_MIN_NOISE : exp(th[d + 1]) + HP_GP_MIN_NOISE;
}

static void get_hyper(const hp_gpr_t *gp, double *th, int d) {
  for (int k = 0; k < d; k++) th[k] = log(gp->rho[k]);
  th[d] = log(gp->scale);
  th[d + 1] = log(fmax(gp->noise - HP_GP_MIN_NOISE, 1e-300));
}

/* Fits warp w on the first m rows, from the fit on m - 1 (or from Optuna's
 * default start at a base), and keeps it in *best_w, *best_j and th[d + 2]
 * if its criterion (the warped GP's evidence: MAP loss plus the warp's log
 * Jacobian, smaller is better) beats *best_j, or *best_w is -1. */
static int try_warp(hp_sampler_t *s, int m, int w, bool at_base, double *best_j, int *best_w,
                    double *th, hp_err_t *err) {
  struct hp_gp_state *g = s->gp;
  hp_gpr_t *gp = &g->gpr;
  int d = g->d, rc;
  double jac;
  standardize(g, m, w, &jac);
  if (hp_gpr_set(gp, m, d, g->X, g->y, g->is_cat, s->opts.gp_deterministic) != 0)
    return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  if (at_base) {
    for (int k = 0; k < d; k++) gp->rho[k] = 1.0;
    gp->scale = 1.0;
    gp->noise = 1.0;
  } else {
    set_hyper(gp, &g->theta[(size_t)(m - 2) * ((size_t)d + 2)], d);
  }
  if ((rc = hp_gpr_fit(gp, err)) != 0) return rc;
  g->prof.fit_evals += gp->n_evals;
  g->prof.n_fits++;
  double j = hp_gpr_map_loss(gp) + jac;
  if (*best_w < 0 || j < *best_j) {
    *best_j = j;
    *best_w = w;
    get_hyper(gp, th, d);
  }
  return 0;
}

static int fit_chain(hp_sampler_t *s, int n, int *best, hp_err_t *err) {
  struct hp_gp_state *g = s->gp;
  hp_gpr_t *gp = &g->gpr;
  int d = g->d, rc;
  size_t dt = (size_t)d + 2;
  int first = s->opts.n_startup_trials > 1 ? s->opts.n_startup_trials : 1;
  int base = n / CHAIN_BASE * CHAIN_BASE;
  if (base < first) base = first;
  /* Rows still the same trials as when the cache was filled; theta[m - 1]
   * (the fit on the first m rows, theta_ok[m - 1]) is usable for m <= valid. */
  int valid = 0;
  while (valid < g->n_chain && valid < n && g->chain_num[valid] == g->num[valid]) valid++;
  int m0 = base;
  while (m0 <= n && m0 <= valid && g->theta_ok[m0 - 1]) m0++;
  for (int m = valid + 1; m < m0; m++) g->theta_ok[m - 1] = 0; /* never reached */
  for (int i = 0; i < n; i++) g->chain_num[i] = g->num[i];
  for (int m = valid + 1; m <= n; m++) g->theta_ok[m - 1] = 0;
  g->n_chain = n;
  bool cached = false; /* gp holds the chosen fit on the n rows, factorised */
  for (int m = m0; m <= n; m++) {
    int prev = m == base ? -1 : g->warp[m - 2], best_w = -1, w = 0;
    double best_j = INFINITY, th[dt];
    bool warpable = can_warp(g, m);
    if (!warpable || (prev >= 0 && m % WARP_EVERY != 0)) {
      /* One fit: the previous warp (the identity if nothing to warp). */
      w = warpable ? prev : 0;
      if ((rc = try_warp(s, m, w, m == base, &best_j, &best_w, th, err)) != 0) return rc;
    } else if (prev < 0) {
      /* At a base: every warp. */
      for (w = 0; w < N_WARPS; w++)
        if ((rc = try_warp(s, m, w, true, &best_j, &best_w, th, err)) != 0) return rc;
      w = N_WARPS - 1;
    } else {
      /* Every WARP_EVERY-th count: a walk along the family from the previous
       * warp, to a neighbour and on while the criterion improves (lower c
       * first; the other way only if that did not move). */
      if ((rc = try_warp(s, m, prev, false, &best_j, &best_w, th, err)) != 0) return rc;
      w = prev;
      for (int dir = -1; dir <= 1 && best_w == prev; dir += 2) {
        for (int v = prev + dir; v >= 0 && v < N_WARPS; v += dir) {
          int before = best_w;
          if ((rc = try_warp(s, m, v, false, &best_j, &best_w, th, err)) != 0) return rc;
          w = v;
          if (best_w == before) break;
        }
      }
    }
    cached = m == n && w == best_w; /* the last fit made is the chosen one */
    memcpy(&g->theta[(size_t)(m - 1) * dt], th, dt * sizeof(double));
    g->warp[m - 1] = (uint8_t)best_w;
    g->theta_ok[m - 1] = 1;
    g->prof.warp = best_w;
  }
  *best = standardize(g, n, g->warp[n - 1], NULL);
  if (!cached) {
    /* The fit on these n trials is cached, or the last fit made was another
     * warp's: factorise with the chosen one. */
    if (hp_gpr_set(gp, n, d, g->X, g->y, g->is_cat, s->opts.gp_deterministic) != 0)
      return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    set_hyper(gp, &g->theta[(size_t)(n - 1) * dt], d);
    if (hp_gpr_cache(gp) != 0)
      return hp_err_set(err, HP_ESTATE, "gp sampler: covariance not positive definite");
  }
  return 0;
}

/* ---- acquisition --------------------------------------------------------------- */

typedef struct acq {
  const struct hp_gp_state *g;
  const hp_space_t *sp;
  double f0;    /* threshold (standardised) */
  double *ws;   /* [3n] scratch for hp_gp_logei */
  int n_evals;  /* acquisition evaluations (profiling) */
} acq_t;

static double acq_value(acq_t *a, const double *u) {
  a->n_evals++;
  return hp_gp_logei(&a->g->gpr, a->f0, u, NULL, a->ws);
}

static int acq_batch(acq_t *a, const double *U, int B, double *out, double *kx, double *t) {
  a->n_evals += B;
  return hp_gpr_logei_batch(&a->g->gpr, a->f0, U, B, out, kx, t);
}

/* The negated acquisition over the continuous dimensions in coordinates
 * z = u / l (l the length scale), as Optuna preconditions it. */
typedef struct cont_ctx {
  acq_t *a;
  const int *ci; /* [nc] continuous dimensions */
  int nc;
  const double *ls; /* [nc] length scales */
  double *x;     /* [d] the full point (discrete coordinates fixed) */
  double *grad;  /* [d] scratch */
} cont_ctx_t;

static double cont_fg(void *ctx, const double *z, double *gz) {
  cont_ctx_t *c = ctx;
  for (int j = 0; j < c->nc; j++) c->x[c->ci[j]] = fmin(fmax(z[j] * c->ls[j], 0.0), 1.0);
  c->a->n_evals++;
  double f = -hp_gp_logei(&c->a->g->gpr, c->a->f0, c->x, c->grad, c->a->ws);
  for (int j = 0; j < c->nc; j++) gz[j] = -c->grad[c->ci[j]] * c->ls[j];
  return f;
}

/* L-BFGS-B on the continuous dimensions from u; u[d] and *f updated in
 * place when it improves (Optuna: pgtol sqrt(1e-4), 200 iterations). */
static int local_cont(acq_t *a, const int *ci, int nc, double *u, double *f) {
  const hp_gpr_t *gp = &a->g->gpr;
  int d = gp->d;
  double z[nc], lo[nc], hi[nc], ls[nc], grad[d], x[d];
  for (int c = 0; c < nc; c++) {
    ls[c] = 1.0 / sqrt(gp->rho[ci[c]]);
    z[c] = u[ci[c]] / ls[c];
    lo[c] = 0;
    hi[c] = 1.0 / ls[c];
  }
  memcpy(x, u, (size_t)d * sizeof(double));
  cont_ctx_t c = {a, ci, nc, ls, x, grad};
  const hp_lbfgsb_opts_t o = {10, 200, 1e-2, 1e7, NULL};
  double fz;
  int iters = 0;
  hp_lbfgsb(nc, z, lo, hi, cont_fg, &c, &o, &fz, &iters);
  if (iters > 0 && -fz > *f) {
    for (int j = 0; j < nc; j++) u[ci[j]] = fmin(fmax(z[j] * ls[j], 0.0), 1.0);
    *f = -fz;
    return 1;
  }
  return 0;
}

/* Scores value v of dimension k (other coordinates of u fixed) and keeps
 * it in *best_u / *best_f if it beats them; the current value is skipped. */
static double try_value(acq_t *a, double *u, int k, double v, double cur, double *best_u,
                        double *best_f) {
  if (v == cur) return -INFINITY;
  u[k] = v;
  double fv = acq_value(a, u);
  if (fv > *best_f) {
    *best_f = fv;
    *best_u = v;
  }
  return fv;
}

/* Best value of one discrete or categorical dimension k with the others
 * fixed: every value when there are few (or a categorical), else a golden
 * section search over the value index (Optuna: Brent on the objective
 * interpolated between values) down to a bracket of a few indices, each of
 * which is then tried; 1 if u changed. */
static int local_disc(acq_t *a, int k, double *u, double *f) {
  const gp_dim_t *dm = &a->g->dim[k];
  const hp_dist_t *dist = &a->sp->params[dm->p].dist;
  int64_t K = dm->n_choices, lo = 0, hi = K - 1;
  if (K <= 1) return 0;
  double cur = u[k], best_u = cur, best_f = *f;
  if (dm->kind != GP_CAT && K > MAX_EXHAUSTIVE) {
    const double gr = 0.6180339887498949;
    while (hi - lo > 4) {
      int64_t m1 = hi - (int64_t)((double)(hi - lo) * gr);
      int64_t m2 = lo + (int64_t)((double)(hi - lo) * gr);
      if (m1 >= m2) m2 = m1 + 1;
      double v1 = disc_unit(dm, dist, m1), v2 = disc_unit(dm, dist, m2);
      /* The current value scores *f (it was skipped above). */
      double f1 = v1 == cur ? *f : try_value(a, u, k, v1, cur, &best_u, &best_f);
      double f2 = v2 == cur ? *f : try_value(a, u, k, v2, cur, &best_u, &best_f);
      if (f1 >= f2)
        hi = m2 - 1 > m1 ? m2 - 1 : m1;
      else
        lo = m1 + 1 < m2 ? m1 + 1 : m2;
    }
  }
  for (int64_t i = lo; i <= hi; i++)
    try_value(a, u, k, dm->kind == GP_CAT ? (double)i : disc_unit(dm, dist, i), cur, &best_u,
              &best_f);
  u[k] = best_u;
  if (best_f > *f) {
    *f = best_f;
    return 1;
  }
  u[k] = cur;
  return 0;
}

/* Optuna's local_search_mixed for one start: continuous step, then each
 * discrete dimension in turn, until a full round changes nothing. */
static void local_search(acq_t *a, const int *ci, int nc, const int *di, int nd,
                         double *u, double *f) {
  const int CONT = -1;
  int last = CONT;
  for (int it = 0; it < 100; it++) {
    if (nc > 0 && local_cont(a, ci, nc, u, f)) last = CONT;
    for (int j = 0; j < nd; j++) {
      if (last == di[j]) return;
      if (local_disc(a, di[j], u, f)) last = di[j];
    }
    if (last == CONT) return;
  }
}

/* ---- suggest -------------------------------------------------------------------- */

/* Draws k of n indices without replacement with weights w (numpy's
 * choice(replace=False, p=w): one at a time, renormalising). */
static int roulette(hp_rng_t *rng, double *w, int n, int k, int *out) {
  int got = 0;
  for (; got < k; got++) {
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    if (!(tot > 0)) break;
    double r = hp_rng_uniform(rng) * tot, acc = 0;
    int pick = -1;
    for (int i = 0; i < n; i++) {
      if (w[i] <= 0) continue;
      acc += w[i];
      pick = i;
      if (acc > r) break;
    }
    out[got] = pick;
    w[pick] = 0;
  }
  return got;
}

/* The Kronecker (R_d) lattice with a random shift: point i has coordinate
 * frac(shift_k + i * a_k), a_k = phi_d^-(k+1) with phi_d the root of
 * x^(d+1) = x + 1 (Roberts' generalised golden ratio). */
static void qmc_points(hp_rng_t *rng, int d, int count, double *U) {
  double phi = 2.0;
  for (int it = 0; it < 64; it++) phi = pow(1.0 + phi, 1.0 / (d + 1));
  double a[d > 0 ? d : 1], shift[d > 0 ? d : 1];
  double pw = 1.0;
  for (int k = 0; k < d; k++) {
    pw /= phi;
    a[k] = pw;
    shift[k] = hp_rng_uniform(rng);
  }
  for (int i = 0; i < count; i++)
    for (int k = 0; k < d; k++) {
      double v = shift[k] + (double)(i + 1) * a[k];
      U[(size_t)i * d + k] = v - floor(v);
    }
}

static bool same_params(const double *a, const double *b, int n) {
  for (int p = 0; p < n; p++)
    if (!(a[p] == b[p]) && !(isnan(a[p]) && isnan(b[p]))) return false;
  return true;
}

/* True if params equal a running trial's. */
static bool is_pending(const hp_sampler_t *s, const double *params) {
  for (int64_t i = 0; i < s->n_run; i++)
    if (same_params(s->run[i].params, params, s->d)) return true;
  return false;
}

static void to_params(const hp_sampler_t *s, const double *u, double *out) {
  const struct hp_gp_state *g = s->gp;
  for (int p = 0; p < s->d; p++) {
    const hp_dist_t *dist = &s->space->params[p].dist;
    out[p] = dist->kind == HP_DIST_CAT ? 0.0 : dist->low; /* single-valued ones */
  }
  for (int k = 0; k < g->d; k++)
    out[g->dim[k].p] = from_unit(&g->dim[k], &s->space->params[g->dim[k].p].dist, u[k]);
}

/* This thread's CPU time: the profile's clock (the machine may be shared). */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void hp_gp_profile(const hp_sampler_t *s, hp_gp_profile_t *out) {
  if (s->gp != NULL)
    *out = s->gp->prof;
  else
    memset(out, 0, sizeof *out);
}

int hp_gp_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, hp_err_t *err) {
  int rc = 0;
  double T0 = cpu_now();
  if (s->gp == NULL && (rc = gp_init(s, err)) != 0) return rc;
  struct hp_gp_state *g = s->gp;
  int best = 0;
  int n = load_complete(s, err);
  if (n < 0) return n;
  if (g->d == 0 || n < s->opts.n_startup_trials || n == 0) {
    hp_random_suggest(s, rng, out);
    s->last_by = "random";
    return 0;
  }
  int d = g->d;
  hp_gpr_t *gp = &g->gpr;
  if ((rc = fit_chain(s, n, &best, err)) != 0) return rc;
  double T1 = cpu_now();
  g->prof.fit_s += T1 - T0;
  double f0 = g->y[best];
  double xbest[d];
  memcpy(xbest, &g->X[(size_t)best * d], (size_t)d * sizeof(double));

  /* Pending points: kriging believer. */
  int n_all = n;
  if (s->n_run > 0) {
    if (reserve(g, n + (int)s->n_run) != 0) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    double *ws = scratch(g, (size_t)3 * (size_t)n);
    if (ws == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    for (int64_t i = 0; i < s->n_run; i++) {
      double *row = &g->X[(size_t)n_all * d];
      if (!unit_row(g, s->space, s->run[i].params, row)) continue;
      double var;
      hp_gpr_posterior(gp, row, &g->y[n_all], &var, ws, NULL, ws + n);
      n_all++;
    }
    if (n_all > n) {
      for (int i = n; i < n_all; i++) f0 = fmax(f0, g->y[i]);
      if (hp_gpr_set(gp, n_all, d, g->X, g->y, g->is_cat, s->opts.gp_deterministic) != 0 ||
          hp_gpr_cache(gp) != 0)
        return hp_err_set(err, HP_ESTATE, "gp sampler: pending points made the covariance singular");
    }
  }

  int nc = 0, nd = 0, ci[d], di[d];
  for (int k = 0; k < d; k++) {
    if (g->dim[k].kind == GP_CONT)
      ci[nc++] = k;
    else
      di[nd++] = k;
  }
  int ncand = s->opts.gp_n_candidates;
  size_t need = (size_t)ncand * d + (size_t)ncand + 2 * (size_t)CAND_BATCH * n_all +
                3 * (size_t)n_all + (size_t)N_LOCAL * d * 2;
  double *mem = scratch(g, need + (size_t)ncand);
  if (mem == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  double *U = mem, *fv = U + (size_t)ncand * d, *kx = fv + ncand;
  double *t = kx + (size_t)CAND_BATCH * n_all, *ws = t + (size_t)CAND_BATCH * n_all;
  double *starts = ws + 3 * (size_t)n_all, fstart[N_LOCAL];
  acq_t a = {g, s->space, f0, ws, 0};

  qmc_points(rng, d, ncand, U);
  for (int i = 0; i < ncand; i++) snap(g, s->space, &U[(size_t)i * d]);
  for (int b = 0; b < ncand && rc == 0; b += CAND_BATCH) {
    int B = ncand - b < CAND_BATCH ? ncand - b : CAND_BATCH;
    rc = acq_batch(&a, &U[(size_t)b * d], B, &fv[b], kx, t);
  }
  if (rc != 0) {
    rc = hp_err_set(err, rc, "gp sampler: %s", hp_openblas_error());
    goto done;
  }
  double T2 = cpu_now();
  g->prof.candidates_s += T2 - T1;
  /* Starts: the best candidate, up to N_LOCAL - 2 more by roulette on
   * exp(f - f_max), and the best observed point. */
  int imax = 0;
  for (int i = 1; i < ncand; i++)
    if (fv[i] > fv[imax]) imax = i;
  int idx[N_LOCAL];
  double *w = starts + (size_t)N_LOCAL * d * 2; /* ncand roulette weights */
  for (int i = 0; i < ncand; i++) w[i] = i == imax ? 0.0 : exp(fv[i] - fv[imax]);
  int nst = 0;
  idx[nst++] = imax;
  nst += roulette(rng, w, ncand, N_LOCAL - 2, &idx[nst]);
  for (int j = 0; j < nst; j++) {
    memcpy(&starts[(size_t)j * d], &U[(size_t)idx[j] * d], (size_t)d * sizeof(double));
    fstart[j] = fv[idx[j]];
  }
  memcpy(&starts[(size_t)nst * d], xbest, (size_t)d * sizeof(double));
  fstart[nst] = acq_value(&a, xbest);
  nst++;
  for (int j = 0; j < nst; j++) local_search(&a, ci, nc, di, nd, &starts[(size_t)j * d], &fstart[j]);

  g->prof.local_s += cpu_now() - T2;
  g->prof.local_evals += a.n_evals - ncand;
  /* The best start whose point is not a pending trial's; else the best
   * such candidate; else a random point (every candidate pending). */
  int order[N_LOCAL];
  for (int j = 0; j < nst; j++) order[j] = j;
  for (int j = 1; j < nst; j++)
    for (int k = j; k > 0 && fstart[order[k]] > fstart[order[k - 1]]; k--) {
      int tmp = order[k];
      order[k] = order[k - 1];
      order[k - 1] = tmp;
    }
  for (int j = 0; j < nst; j++) {
    to_params(s, &starts[(size_t)order[j] * d], out);
    if (!is_pending(s, out)) goto found;
  }
  {
    int bi = -1;
    for (int i = 0; i < ncand; i++) {
      if (bi >= 0 && !(fv[i] > fv[bi])) continue;
      to_params(s, &U[(size_t)i * d], out);
      if (!is_pending(s, out)) bi = i;
    }
    if (bi >= 0) {
      to_params(s, &U[(size_t)bi * d], out);
      goto found;
    }
  }
  hp_random_suggest(s, rng, out);
  s->last_by = "random";
  goto done;
found:
  s->last_by = "gp";
done:
  return rc;
}

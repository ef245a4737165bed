/* Tree-structured Parzen Estimator as Optuna 3.1 defines it (see
 * docs/search.md): random for the first n_startup_trials, then per decision
 * split the finished trials into the best gamma(n) ("below", l) and the rest
 * ("above", g), fit one Parzen mixture to each, draw n_ei_candidates from l
 * and keep the candidate maximising log l(x) - log g(x). Univariate by
 * default (one decision per parameter), multivariate as an option (one joint
 * decision over the parameters every trial has). Under the corrected density
 * (the default) l's bandwidths come from the gaps among all observations
 * (the "resolution" rule; per parameter in multivariate mode), g keeps
 * Optuna's, and univariate kernels are weighted by their bandwidths
 * (docs/search.md); optuna31_density keeps Optuna 3.1's density and
 * bandwidths. Observations come from the
 * incremental history in sampler.c, so a suggestion costs O(n) setup plus
 * O(candidates * n) in the vectorised kernel loops. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

#define SIGMA0 0.2 /* Scott-like multivariate bandwidth scale (Optuna's SIGMA0_MAGNITUDE) */
/* The below mixture's bandwidth floor under the corrected density is
 * range / min(100, 1 + HP_TPE_BELOW_FLOOR * n): about twice Optuna's
 * floor for l at gamma = 0.1 (chosen on seeds 0..39 of the benchmark among
 * 0.1, 0.15, 0.2, 0.25, 0.5, 1 and confirmed on seeds 40..79, see
 * docs/search.md). Multivariate l uses the same constant. */
#define HP_TPE_BELOW_FLOOR 0.2

void hp_tpe_ws_free(hp_tpe_ws_t *ws) {
  free(ws->pos_by_number);
  free(ws->is_below);
  free(ws->motpe.below);
  memset(ws, 0, sizeof *ws);
}

static int ws_reserve(hp_tpe_ws_t *ws, int64_t cap) {
  if (cap <= ws->cap) return 0;
  int32_t *p = realloc(ws->pos_by_number, (size_t)cap * sizeof *p);
  if (p == NULL) return HP_ENOMEM;
  ws->pos_by_number = p;
  uint8_t *b = realloc(ws->is_below, (size_t)cap);
  if (b == NULL) return HP_ENOMEM;
  memset(b + ws->cap, 0, (size_t)(cap - ws->cap));
  ws->is_below = b;
  ws->cap = cap;
  return 0;
}

/* (key, val) lexicographic "strictly better" (smaller). */
static bool better(double ka, double va, double kb, double vb) {
  return ka < kb || (ka == kb && va < vb);
}

/* Picks the nb best history positions (stable: ties keep trial order)
 * among the trials that have parameter col (all of them if col is NULL)
 * into below[] in ascending position (= chronological) order. */
static void select_below(const hp_hist_t *h, const double *col, int64_t nb, int64_t *below) {
  int64_t cnt = 0;
  for (int64_t i = 0; i < h->n; i++) {
    if (col != NULL && isnan(col[i])) continue;
    double k = h->key[i], v = h->val[i];
    if (cnt == nb && !better(k, v, h->key[below[cnt - 1]], h->val[below[cnt - 1]])) continue;
    int64_t j = cnt < nb ? cnt++ : nb - 1;
    while (j > 0 && better(k, v, h->key[below[j - 1]], h->val[below[j - 1]])) {
      below[j] = below[j - 1];
      j--;
    }
    below[j] = i;
  }
  /* Back to chronological order (the weight ramp runs over it). */
  for (int64_t i = 1; i < cnt; i++) {
    int64_t x = below[i], j = i;
    while (j > 0 && below[j - 1] > x) below[j] = below[j - 1], j--;
    below[j] = x;
  }
}

/* Weight of the below set's i-th of m members (chronological): Optuna's
 * ramp for one objective, uniform for several (Optuna 5's MOTPE). */
static double below_weight(const hp_sampler_t *s, int64_t i, int64_t m) {
  return s->m > 1 ? 1.0 : hp_tpe_weight(i, m);
}

/* Several objectives, once the below set has more than gamma_max members
 * (Optuna 5 caps gamma only for one objective): the univariate mixtures
 * become Optuna 5's, i.e. l's bandwidths from the gaps among its own
 * members and no bandwidth weighting in l or g (docs/search.md, "Several
 * objectives"). The resolution rule and the weighting were chosen for an l
 * of at most gamma_max members; with a tenth of a large history in l they
 * give the prior about half of l's mass (each member's bandwidth sits at
 * the floor, range / 100, the prior's is the range), and MOTPE stalled at
 * 1,000 trials on DTLZ2 and WFG4. Not with optuna31_density. */
static bool large_below(const hp_sampler_t *s, int64_t nb) {
  return s->m > 1 && nb > s->opts.gamma_max;
}

/* Normalises w[0..n) in place (sum 1). */
static void normalise(double *w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += w[i];
  for (int64_t i = 0; i < n; i++) w[i] /= s;
}

/* Index drawn from normalised weights. */
static int64_t draw_index(hp_rng_t *rng, const double *w, int64_t n) {
  double u = hp_rng_uniform(rng), c = 0;
  for (int64_t i = 0; i < n; i++) {
    c += w[i];
    if (u < c) return i;
  }
  return n - 1;
}

/* Univariate bandwidths: mu[] sorted ascending (c centres including the
 * prior at index prior_idx, -1 if none). The larger gap to a neighbour,
 * domain ends as outer neighbours only if consider_endpoints; then the
 * magic clip (range / min(100, 1 + c)); the prior gets the full range.
 * Optuna 3.1 counts the prior among the neighbours (prior_gaps); Optuna 5
 * takes the gaps among the observations only, so the prior between two
 * observations does not narrow them (sampler_impl.h). */
void hp_tpe_univariate_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, const double *mu,
                             double *sigma, int64_t c, int64_t prior_idx, bool prior_gaps) {
  const double lo = tp->lo, hi = tp->hi, range = hi - lo;
  const int64_t skip = prior_gaps ? -1 : prior_idx; /* centre that is no neighbour */
  const int64_t nn = c - (skip >= 0);                /* centres that are neighbours */
  for (int64_t i = 0; i < c; i++) {
    int64_t a = i - 1, b = i + 1;
    if (skip >= 0 && a == skip) a--;
    if (skip >= 0 && b == skip) b++;
    double left = mu[i] - (a >= 0 ? mu[a] : lo);
    double right = (b < c ? mu[b] : hi) - mu[i];
    double s = left > right ? left : right;
    if (!o->consider_endpoints && nn >= 2) {
      if (a < 0) s = right;
      if (b >= c) s = left;
    }
    sigma[i] = s;
  }
  double maxs = range;
  double mins = o->consider_magic_clip ? range / fmin(100.0, 1.0 + (double)c) : 1e-12;
  for (int64_t i = 0; i < c; i++) {
    double v = sigma[i] < mins ? mins : sigma[i];
    sigma[i] = v > maxs ? maxs : v;
  }
  if (prior_idx >= 0) sigma[prior_idx] = range;
}

/* A set of mixture components being built (centres, weights, trial numbers). */
typedef struct comps {
  int64_t n;
  double *mu, *sigma, *w, *isig, *coef, *tmp;
  int32_t *number; /* trial number per component, -1 for the prior */
} comps_t;

/* See sampler_impl.h and docs/search.md (the "resolution" rule). */
void hp_tpe_gap_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, int64_t c, const double *mu,
                      const double *gap_l, const double *gap_r, int64_t prior_idx,
                      double floor_count, double *sigma) {
  const double lo = tp->lo, hi = tp->hi, range = hi - lo;
  double mins = o->consider_magic_clip ? range / fmin(100.0, 1.0 + floor_count) : 1e-12;
  for (int64_t j = 0; j < c; j++) {
    if (j == prior_idx) {
      sigma[j] = range;
      continue;
    }
    double left = gap_l[j], right = gap_r[j];
    if (o->consider_endpoints) {
      if (isnan(left)) left = mu[j] - lo;
      if (isnan(right)) right = hi - mu[j];
    }
    /* max ignoring a missing side; a lone observation spans the range */
    double sg = isnan(left) ? right : isnan(right) ? left : (left > right ? left : right);
    if (isnan(sg)) sg = range;
    sg = sg < mins ? mins : sg;
    sigma[j] = sg > range ? range : sg;
  }
}

void hp_tpe_weight_by_sigma(double *w, const double *sigma, int64_t c) {
  for (int64_t j = 0; j < c; j++) w[j] *= sigma[j];
}

static int comps_alloc(comps_t *c, int64_t cap) {
  memset(c, 0, sizeof *c);
  size_t sz = (size_t)(cap > 0 ? cap : 1) * sizeof(double);
  c->mu = malloc(sz);
  c->sigma = malloc(sz);
  c->w = malloc(sz);
  c->isig = malloc(sz);
  c->coef = malloc(sz);
  c->tmp = malloc(sz);
  c->number = malloc((size_t)(cap > 0 ? cap : 1) * sizeof(int32_t));
  return c->mu && c->sigma && c->w && c->isig && c->coef && c->tmp && c->number ? 0 : HP_ENOMEM;
}

static void comps_free(comps_t *c) {
  free(c->mu);
  free(c->sigma);
  free(c->w);
  free(c->isig);
  free(c->coef);
  free(c->tmp);
  free(c->number);
}

static hp_mix_t comps_mix(const comps_t *c) {
  return (hp_mix_t){c->n, c->mu, c->sigma, c->w, c->isig, c->coef, false};
}

/* Running trials that take part as constant-liar observations. */
static int64_t n_liars(const hp_sampler_t *s) { return s->opts.constant_liar ? s->n_run : 0; }

/* Chronological pass over the above set of parameter p (history merged with
 * liars by trial number): records each member's position and returns the
 * set's size. Members: present value, not below. p < 0: all parameters of
 * the joint set must be present (mask[]). */
static int64_t above_positions(const hp_sampler_t *s, int p, const bool *mask, int32_t *pos_by_number,
                               const uint8_t *is_below) {
  const hp_hist_t *h = &s->hist;
  int64_t pos = 0, r = 0, nl = n_liars(s);
  for (int64_t i = 0; i <= h->n; i++) {
    int32_t num = i < h->n ? h->number[i] : INT32_MAX;
    for (; r < nl && s->run[r].number < num; r++) {
      const double *x = s->run[r].params;
      bool ok = true;
      if (p >= 0)
        ok = !isnan(x[p]);
      else
        for (int q = 0; q < s->d; q++) ok = ok && (!mask[q] || !isnan(x[q]));
      if (ok) pos_by_number[s->run[r].number] = (int32_t)pos++;
    }
    if (i == h->n) break;
    if (is_below[num]) continue;
    bool ok = true;
    if (p >= 0)
      ok = !isnan(h->x[p][i]);
    else
      for (int q = 0; q < s->d; q++) ok = ok && (!mask[q] || !isnan(h->x[q][i]));
    if (ok) pos_by_number[num] = (int32_t)pos++;
  }
  return pos;
}

/* The below mixture l under the corrected density ("resolution" rule,
 * docs/search.md): each of the n centres mu[] (the prior at prior_idx or -1)
 * gets as bandwidth its larger gap to its neighbours among ALL finished
 * observations of the parameter (so, sorted) instead of among the few
 * below ones, floored at range / min(100, 1 + n_obs / 5). One binary search
 * per centre. Used by univariate l and, per parameter, by multivariate l.
 * Returns HP_ENOMEM when out of memory. */
int hp_tpe_below_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, const hp_sorted_t *so,
                       int64_t n, const double *mu, int64_t prior_idx, double *sigma) {
  double *gl = malloc((size_t)(n > 0 ? n : 1) * sizeof *gl);
  double *gr = malloc((size_t)(n > 0 ? n : 1) * sizeof *gr);
  if (gl == NULL || gr == NULL) {
    free(gl);
    free(gr);
    return HP_ENOMEM;
  }
  for (int64_t j = 0; j < n; j++) {
    gl[j] = gr[j] = NAN;
    if (j == prior_idx) continue;
    double m = mu[j];
    int64_t a = 0, b = so->n; /* first index with tv >= m: the centre itself */
    while (a < b) {
      int64_t k = a + (b - a) / 2;
      if (so->tv[k] < m)
        a = k + 1;
      else
        b = k;
    }
    if (a > 0) gl[j] = m - so->tv[a - 1];
    if (a + 1 < so->n) gr[j] = so->tv[a + 1] - m;
  }
  hp_tpe_gap_sigma(o, tp, n, mu, gl, gr, prior_idx, HP_TPE_BELOW_FLOOR * (double)so->n, sigma);
  free(gl);
  free(gr);
  return 0;
}

/* ---- univariate numeric ------------------------------------------------- */

/* The two mixtures of parameter p's decision (the below set below[nb],
 * marked in ws->is_below): l from the below observations, g from the
 * others and the liars, each with the prior, centres ascending, weights
 * normalised. 0, or HP_ENOMEM (l and g then freed). */
static int numeric_mixtures(hp_sampler_t *s, int p, const int64_t *below, int64_t nb, comps_t *lp,
                            comps_t *gp) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_tparam_t *tp = &s->tp[p];
  const hp_hist_t *h = &s->hist;
  hp_tpe_ws_t *ws = &s->ws;
  const double prior_mu = 0.5 * (tp->lo + tp->hi);
  comps_t l, g;
  int rc = HP_ENOMEM;
  int64_t nl = n_liars(s);
  int64_t cap_g = h->n - h->n_missing[p] + nl + 1;
  memset(&l, 0, sizeof l);
  memset(&g, 0, sizeof g);
  if (comps_alloc(&l, nb + 1) || comps_alloc(&g, cap_g)) goto done;

  /* l: below observations (<= gamma_max, uniform weights below 25). */
  int64_t ml = 0;
  for (int64_t i = 0; i < nb; i++) {
    double x = h->x[p][below[i]];
    if (!isnan(x)) l.mu[ml++] = hp_tparam_fwd(tp, x);
  }
  for (int64_t i = 0; i < ml; i++) l.w[i] = below_weight(s, i, ml);
  bool lprior = o->consider_prior || ml == 0;
  int64_t lc = ml;
  if (lprior) {
    l.mu[lc] = prior_mu;
    l.w[lc] = o->prior_weight;
    lc++;
  }
  /* Sort l's centres (insertion sort: at most gamma_max + 1, or a tenth of
   * the history for several objectives) with weights. */
  int64_t lprior_idx = lprior ? ml : -1;
  for (int64_t i = 1; i < lc; i++) {
    double m = l.mu[i], w = l.w[i];
    int64_t j = i;
    bool isp = i == lprior_idx;
    while (j > 0 && l.mu[j - 1] > m) {
      l.mu[j] = l.mu[j - 1];
      l.w[j] = l.w[j - 1];
      if (lprior_idx == j - 1) lprior_idx = j;
      j--;
    }
    l.mu[j] = m;
    l.w[j] = w;
    if (isp) lprior_idx = j;
  }
  l.n = lc;
  /* Optuna 5's mixtures for a large below set of several objectives (see
   * large_below); otherwise Optuna 3.1's bandwidths (the prior among the
   * neighbours), l's replaced by the resolution rule under the corrected
   * density */
  const bool own = !tp->density31 && large_below(s, nb);
  hp_tpe_univariate_sigma(o, tp, l.mu, l.sigma, lc, lprior_idx, !own);
  if (!tp->density31 && !own) {
    /* resolution bandwidths, each kernel weighted by its bandwidth */
    if (hp_tpe_below_sigma(o, tp, &h->sorted[p], lc, l.mu, lprior_idx, l.sigma) != 0) goto done;
    hp_tpe_weight_by_sigma(l.w, l.sigma, lc);
  }
  normalise(l.w, lc);

  /* g: above observations in value order from the sorted history, liars
   * merged in, the prior inserted at its place. */
  int64_t mg = above_positions(s, p, NULL, ws->pos_by_number, ws->is_below);
  double *liar = NULL;
  int64_t nlv = 0;
  if (nl > 0) {
    liar = malloc((size_t)nl * sizeof *liar);
    if (liar == NULL) goto done;
    int32_t *lnum = (int32_t *)g.tmp; /* scratch: numbers of the liars */
    for (int64_t r = 0; r < nl; r++) {
      double x = s->run[r].params[p];
      if (isnan(x)) continue;
      double t = hp_tparam_fwd(tp, x);
      int64_t j = nlv++;
      while (j > 0 && liar[j - 1] > t) liar[j] = liar[j - 1], lnum[j] = lnum[j - 1], j--;
      liar[j] = t;
      lnum[j] = s->run[r].number;
    }
    memcpy(g.number, lnum, (size_t)nlv * sizeof *lnum); /* park before g.tmp is reused */
  }
  const hp_sorted_t *so = &h->sorted[p];
  bool gprior = o->consider_prior || mg == 0;
  int64_t gc = 0, a = 0, b = 0, gprior_idx = -1;
  int32_t *liar_num = NULL;
  if (nlv > 0) {
    liar_num = malloc((size_t)nlv * sizeof *liar_num);
    if (liar_num == NULL) {
      free(liar);
      goto done;
    }
    memcpy(liar_num, g.number, (size_t)nlv * sizeof *liar_num);
  }
  bool ramp = mg >= 25;
  while (a < so->n || b < nlv) {
    double t;
    int32_t num;
    if (b >= nlv || (a < so->n && so->tv[a] <= liar[b])) {
      t = so->tv[a];
      num = so->number[a++];
      if (ws->is_below[num]) continue;
    } else {
      t = liar[b];
      num = liar_num[b++];
    }
    if (gprior && gprior_idx < 0 && prior_mu < t) {
      gprior_idx = gc;
      g.mu[gc] = prior_mu;
      g.w[gc] = o->prior_weight;
      gc++;
    }
    g.mu[gc] = t;
    g.w[gc] = ramp ? hp_tpe_weight(ws->pos_by_number[num], mg) : 1.0;
    gc++;
  }
  if (gprior && gprior_idx < 0) {
    gprior_idx = gc;
    g.mu[gc] = prior_mu;
    g.w[gc] = o->prior_weight;
    gc++;
  }
  free(liar);
  free(liar_num);
  g.n = gc;
  /* Optuna's bandwidths; under the corrected density each kernel weighted
   * by its bandwidth (docs/search.md, "bandwidth weighting"), except for a
   * large below set of several objectives (large_below). */
  hp_tpe_univariate_sigma(o, tp, g.mu, g.sigma, gc, gprior_idx, !own);
  if (!tp->density31 && !own) hp_tpe_weight_by_sigma(g.w, g.sigma, gc);
  normalise(g.w, gc);
  *lp = l;
  *gp = g;
  return 0;
done:
  comps_free(&l);
  comps_free(&g);
  return rc;
}

static int sample_numeric(hp_sampler_t *s, int p, const int64_t *below, int64_t nb, hp_rng_t *rng,
                          double *out) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_tparam_t *tp = &s->tp[p];
  const hp_dist_t *dist = &s->space->params[p].dist;
  comps_t l, g;
  int rc = numeric_mixtures(s, p, below, nb, &l, &g);
  if (rc != 0) return rc;
  const int64_t lc = l.n;
  hp_mix_t lm = comps_mix(&l), gm = comps_mix(&g);
  hp_mix_prepare(tp, &lm);
  hp_mix_prepare(tp, &gm);
  double best = -INFINITY, best_x = NAN;
  for (int c = 0; c < o->n_ei_candidates; c++) {
    int64_t k = draw_index(rng, l.w, lc);
    double t = hp_truncnorm_sample(rng, l.mu[k], l.sigma[k], tp->lo, tp->hi);
    double x = hp_tparam_back(tp, dist, t);
    double tv = hp_tparam_fwd(tp, x);
    double score = hp_mix_logpdf(tp, &lm, l.tmp, tv) - hp_mix_logpdf(tp, &gm, g.tmp, tv);
    if (score > best || isnan(best_x)) {
      best = score;
      best_x = x;
    }
  }
  *out = best_x;
  comps_free(&l);
  comps_free(&g);
  return 0;
}

/* ---- univariate categorical --------------------------------------------- */

/* Adds one categorical Parzen mixture (observations obs[m] with weights
 * w[m], prior weight wp, smoothing cc) to prob[k]; Optuna's rows are
 * (1[c = obs] + cc) / (1 + k cc), the prior row uniform. */
static void cat_mixture(double *prob, int k, const int *obs, const double *w, int64_t m, double wp,
                        double cc) {
  double tot = wp;
  for (int64_t i = 0; i < m; i++) tot += w[i];
  double base = 0;
  for (int64_t i = 0; i < m; i++) base += w[i];
  base = base * cc / (1.0 + k * cc) / tot + wp / tot / k;
  for (int c = 0; c < k; c++) prob[c] = base;
  for (int64_t i = 0; i < m; i++) prob[obs[i]] += w[i] / (1.0 + k * cc) / tot;
}

static int sample_categorical(hp_sampler_t *s, int p, const int64_t *below, int64_t nb,
                              hp_rng_t *rng, double *out) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_hist_t *h = &s->hist;
  const int k = s->tp[p].k;
  hp_tpe_ws_t *ws = &s->ws;
  int64_t nl = n_liars(s);
  int64_t cap = h->n + nl + 1;
  int *obs = malloc((size_t)cap * sizeof *obs);
  double *w = malloc((size_t)cap * sizeof *w);
  double *lp = malloc((size_t)k * sizeof *lp), *gp = malloc((size_t)k * sizeof *gp);
  int rc = HP_ENOMEM;
  if (!obs || !w || !lp || !gp) goto done;

  int64_t ml = 0;
  for (int64_t i = 0; i < nb; i++) {
    double x = h->x[p][below[i]];
    if (!isnan(x)) obs[ml++] = (int)x;
  }
  for (int64_t i = 0; i < ml; i++) w[i] = below_weight(s, i, ml);
  bool lprior = o->consider_prior || ml == 0;
  double lwp = lprior ? o->prior_weight : 0;
  double lcc = lprior ? o->prior_weight / (double)(ml + 1) : o->prior_weight / (double)ml;
  cat_mixture(lp, k, obs, w, ml, lwp, lcc);
  /* Component draw for candidates needs l's weights and rows. */
  double ltot = lwp;
  for (int64_t i = 0; i < ml; i++) ltot += w[i];
  int *lobs = malloc((size_t)(ml > 0 ? ml : 1) * sizeof *lobs);
  double *lw = malloc((size_t)(ml + 1) * sizeof *lw);
  if (!lobs || !lw) {
    free(lobs);
    free(lw);
    goto done;
  }
  memcpy(lobs, obs, (size_t)ml * sizeof *obs);
  for (int64_t i = 0; i < ml; i++) lw[i] = w[i] / ltot;
  lw[ml] = lwp / ltot;

  /* g: above set in chronological order (history merged with liars). */
  int64_t mg = above_positions(s, p, NULL, ws->pos_by_number, ws->is_below);
  int64_t gi = 0, r = 0;
  for (int64_t i = 0; i <= h->n; i++) {
    int32_t num = i < h->n ? h->number[i] : INT32_MAX;
    for (; r < nl && s->run[r].number < num; r++)
      if (!isnan(s->run[r].params[p])) obs[gi] = (int)s->run[r].params[p], w[gi] = hp_tpe_weight(gi, mg), gi++;
    if (i == h->n) break;
    if (ws->is_below[num] || isnan(h->x[p][i])) continue;
    obs[gi] = (int)h->x[p][i];
    w[gi] = hp_tpe_weight(gi, mg);
    gi++;
  }
  assert(gi == mg);
  bool gprior = o->consider_prior || mg == 0;
  double gwp = gprior ? o->prior_weight : 0;
  double gcc = gprior ? o->prior_weight / (double)(mg + 1) : o->prior_weight / (double)mg;
  cat_mixture(gp, k, obs, w, mg, gwp, gcc);

  double best = -INFINITY;
  int best_c = -1;
  for (int c = 0; c < o->n_ei_candidates; c++) {
    int64_t j = draw_index(rng, lw, ml + 1);
    int choice;
    /* A row is a point mass of weight 1/(1+k cc) on the observation plus a
     * uniform part; the prior row is uniform. */
    if (j == ml) {
      choice = (int)hp_rng_below(rng, (uint64_t)k);
    } else {
      double u = hp_rng_uniform(rng);
      choice = u < 1.0 / (1.0 + k * lcc) ? lobs[j] : (int)hp_rng_below(rng, (uint64_t)k);
    }
    double score = log(lp[choice]) - log(gp[choice]);
    if (score > best || best_c < 0) {
      best = score;
      best_c = choice;
    }
  }
  *out = best_c;
  free(lobs);
  free(lw);
  rc = 0;
done:
  free(obs);
  free(w);
  free(lp);
  free(gp);
  return rc;
}

/* ---- multivariate ------------------------------------------------------- */

/* Joint set: one mixture whose components are whole trials. */
typedef struct joint {
  int64_t n;     /* components (observations + prior) */
  int64_t prior; /* index of the prior component, -1 if none */
  double *w;     /* [n] normalised weights */
  double *coef;  /* [n] w times every numeric normaliser */
  double **x;    /* [d][n] transformed (numeric) or index (categorical) per param; NULL if not joint */
  double **sig;  /* [d][n] numeric params: bandwidth per component */
  double **isig; /* [d][n] 1 / sig */
  double *shared; /* [d] the bandwidth every observation component shares, 0 if none */
  bool *narrow;  /* [d] BIN params: every q / sig < 0.25 */
  double *acc_e, *acc_f, *tmp; /* [n] scoring scratch */
} joint_t;

static void joint_free(joint_t *J, int d) {
  for (int p = 0; p < d; p++) {
    if (J->x) free(J->x[p]);
    if (J->sig) free(J->sig[p]);
    if (J->isig) free(J->isig[p]);
  }
  free(J->x);
  free(J->sig);
  free(J->isig);
  free(J->narrow);
  free(J->shared);
  free(J->w);
  free(J->coef);
  free(J->acc_e);
  free(J->acc_f);
  free(J->tmp);
  memset(J, 0, sizeof *J);
}

static int joint_alloc(joint_t *J, int d, const bool *mask, int64_t cap) {
  memset(J, 0, sizeof *J);
  size_t sz = (size_t)(cap > 0 ? cap : 1) * sizeof(double);
  J->x = calloc((size_t)d, sizeof *J->x);
  J->sig = calloc((size_t)d, sizeof *J->sig);
  J->isig = calloc((size_t)d, sizeof *J->isig);
  J->narrow = calloc((size_t)d, sizeof *J->narrow);
  J->shared = calloc((size_t)d, sizeof *J->shared);
  J->w = malloc(sz);
  J->coef = malloc(sz);
  J->acc_e = malloc(sz);
  J->acc_f = malloc(sz);
  J->tmp = malloc(sz);
  if (!J->x || !J->sig || !J->isig || !J->narrow || !J->shared || !J->w || !J->coef || !J->acc_e ||
      !J->acc_f || !J->tmp)
    return HP_ENOMEM;
  for (int p = 0; p < d; p++)
    if (mask[p] && ((J->x[p] = malloc(sz)) == NULL || (J->sig[p] = malloc(sz)) == NULL ||
                    (J->isig[p] = malloc(sz)) == NULL))
      return HP_ENOMEM;
  return 0;
}

typedef struct jparam {
  double cc_l, cc_g; /* categorical smoothing */
} jparam_t;

/* One numeric parameter's factor of every component at transformed x:
 * adds z^2 to e[j] (the Gaussian exponent, taken once per component at the
 * end) and multiplies f[j] by the rest (bins: mass / phi(z) for narrow
 * bins, the whole mass otherwise). is[j] = 1 / bandwidth, or is1 for all
 * when shared (a constant at each call site, so both loops vectorise). */
__attribute__((always_inline)) static inline void kernel_terms(
    const hp_tparam_t *tp, bool narrow, int64_t n, const double *restrict mu,
    const double *restrict is, double is1, bool shared, double x, double *restrict e,
    double *restrict f) {
  if (tp->kind == HP_T_CONT) {
    for (int64_t j = 0; j < n; j++) {
      double z = (x - mu[j]) * (shared ? is1 : is[j]);
      e[j] += z * z;
    }
  } else if (narrow) {
    /* Narrow bins: mass = h phi(zm) (1 + series), the phi part joins the
     * exponent so no exp is needed here. */
    const double q = tp->q;
    for (int64_t j = 0; j < n; j++) {
      double isj = shared ? is1 : is[j];
      double h = q * isj, zm = (x - mu[j]) * isj, z2 = zm * zm, h2 = h * h;
      e[j] += z2;
      f[j] *= h * 0.39894228040143267794 *
              (1.0 + h2 * (z2 - 1.0) / 24.0 + h2 * h2 * (z2 * z2 - 6.0 * z2 + 3.0) / 1920.0);
    }
  } else {
    const double hq = 0.5 * tp->q;
    for (int64_t j = 0; j < n; j++) {
      double isj = shared ? is1 : is[j];
      f[j] *= hp_ndtr_diff_inline((x - hq - mu[j]) * isj, (x + hq - mu[j]) * isj);
    }
  }
}

/* Log density of candidate cand[d] under a joint mixture. */
HP_HOT static double joint_logpdf(const hp_sampler_t *s, const bool *mask, const jparam_t *jp,
                           const joint_t *J, bool lower, const double *cand) {
  const int64_t n = J->n;
  double *restrict e = J->acc_e, *restrict f = J->acc_f, *restrict t = J->tmp;
  for (int64_t j = 0; j < n; j++) e[j] = 0, f[j] = 1;
  for (int p = 0; p < s->d; p++) {
    if (!mask[p]) continue;
    const hp_tparam_t *tp = &s->tp[p];
    const double *restrict mu = J->x[p];
    double x = cand[p];
    if (tp->kind == HP_T_CAT) {
      double cc = lower ? jp[p].cc_l : jp[p].cc_g;
      double hi = (1.0 + cc) / (1.0 + tp->k * cc), lo = cc / (1.0 + tp->k * cc);
      for (int64_t j = 0; j < n; j++) f[j] *= mu[j] == x ? hi : lo;
      if (J->prior >= 0) f[J->prior] /= (mu[J->prior] == x ? hi : lo) * tp->k;
      continue;
    }
    /* g's observations share one bandwidth (a scalar in the hot loop); the
     * prior's own term is then redone after the loop. */
    const double *restrict is = J->isig[p];
    const double is1 = J->shared[p] > 0 ? 1.0 / J->shared[p] : 0.0;
    const int64_t k = J->prior;
    const double ek = k >= 0 ? e[k] : 0, fk = k >= 0 ? f[k] : 1;
    if (is1 > 0) {
      kernel_terms(tp, J->narrow[p], n, mu, is, is1, true, x, e, f);
      if (k >= 0) {
        e[k] = ek;
        f[k] = fk;
        kernel_terms(tp, J->narrow[p], 1, mu + k, is + k, 0, false, x, e + k, f + k);
      }
    } else {
      kernel_terms(tp, J->narrow[p], n, mu, is, 0, false, x, e, f);
    }
  }
  const double *restrict coef = J->coef;
  for (int64_t j = 0; j < n; j++) t[j] = coef[j] * f[j] * hp_vexp(-0.5 * e[j]);
  double sum = hp_sum8(t, n);
  if (sum > 0 && isfinite(sum)) return log(sum);
  /* Everything underflowed (many parameters, far candidate): log space. */
  double mx = -INFINITY;
  for (int64_t j = 0; j < n; j++) {
    t[j] = log(coef[j]) + log(f[j]) - 0.5 * e[j];
    if (t[j] > mx) mx = t[j];
  }
  if (!isfinite(mx)) return -INFINITY;
  sum = 0;
  for (int64_t j = 0; j < n; j++) sum += exp(t[j] - mx);
  return mx + log(sum);
}

/* Fills the joint-mixture normalisers: per numeric param, the truncation
 * mass of each component's kernel (and 1 / sigma for densities). */
HP_HOT static void joint_norms(const hp_sampler_t *s, const bool *mask, joint_t *J) {
  const int64_t n = J->n;
  double *restrict coef = J->coef;
  const double *restrict w = J->w;
  for (int64_t j = 0; j < n; j++) coef[j] = w[j];
  for (int p = 0; p < s->d; p++) {
    const hp_tparam_t *tp = &s->tp[p];
    if (!mask[p] || tp->kind == HP_T_CAT) continue;
    /* restrict copies: the struct's pointers could alias for the compiler,
     * which would keep this loop scalar */
    const double *restrict mu = J->x[p], *restrict sig = J->sig[p];
    double *restrict isig = J->isig[p];
    const double lo = tp->lo, hi = tp->hi;
    const double c = tp->kind == HP_T_CONT ? 0.3989422804014327 : 1.0;
    const double e = tp->kind == HP_T_CONT && !tp->density31 ? 1.0 : 0.0;
    for (int64_t j = 0; j < n; j++) {
      double is = 1.0 / sig[j];
      isig[j] = is;
      /* sigma <= range, so [lo, hi] spans >= 1 sigma: tails only */
      double z = hp_ndtr_wide_inline((lo - mu[j]) * is, (hi - mu[j]) * is);
      coef[j] *= c * (e > 0 ? is : 1.0) / z;
    }
    double max_is = 0;
    for (int64_t j = 0; j < n; j++) max_is = max_is > isig[j] ? max_is : isig[j];
    J->narrow[p] = tp->kind == HP_T_BIN && tp->q * max_is < 0.25;
  }
}

static double joint_sigma(const hp_sampler_opts_t *o, const hp_tparam_t *tp, int64_t m, int dj) {
  double range = tp->hi - tp->lo;
  double sg = SIGMA0 * pow((double)(m > 1 ? m : 1), -1.0 / (dj + 4)) * range;
  double mins = o->consider_magic_clip ? range / fmin(100.0, 1.0 + (double)(m + 1)) : 1e-12;
  return fmin(fmax(sg, mins), range);
}

/* Bandwidths of the joint mixtures, per component and numeric parameter.
 * g keeps Optuna's shared Scott-like bandwidth. l, under the corrected
 * density, uses the resolution rule per parameter (docs/search.md): each
 * below trial's bandwidth in parameter p is its larger gap to the
 * neighbouring values of p among all finished trials, floored at range /
 * min(100, 1 + n / 5), the same rule as univariate l. With
 * optuna31_density both use Optuna 3.1's shared bandwidth. */
static int joint_bandwidths(const hp_sampler_t *s, const bool *mask, int dj, joint_t *L, joint_t *G,
                            int64_t ml, int64_t mg) {
  const hp_sampler_opts_t *o = &s->opts;
  for (int p = 0; p < s->d; p++) {
    const hp_tparam_t *tp = &s->tp[p];
    if (!mask[p] || tp->kind == HP_T_CAT) continue;
    const double range = tp->hi - tp->lo;
    if (tp->density31) {
      double sl = joint_sigma(o, tp, ml, dj);
      for (int64_t j = 0; j < L->n; j++) L->sig[p][j] = j == L->prior ? range : sl;
      L->shared[p] = sl;
    } else if (hp_tpe_below_sigma(o, tp, &s->hist.sorted[p], L->n, L->x[p], L->prior, L->sig[p]) != 0) {
      return HP_ENOMEM;
    }
    double sg = joint_sigma(o, tp, mg, dj);
    for (int64_t j = 0; j < G->n; j++) G->sig[p][j] = j == G->prior ? range : sg;
    G->shared[p] = sg;
  }
  return 0;
}

static int sample_joint(hp_sampler_t *s, const bool *mask, int dj, const int64_t *below, int64_t nb,
                        hp_rng_t *rng, double *out) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_hist_t *h = &s->hist;
  hp_tpe_ws_t *ws = &s->ws;
  int64_t nl = n_liars(s);
  joint_t L, G;
  jparam_t *jp = calloc((size_t)s->d, sizeof *jp);
  double *cand = malloc((size_t)s->d * sizeof *cand);
  double *best = malloc((size_t)s->d * sizeof *best);
  double *ctv = malloc((size_t)s->d * sizeof *ctv);
  int rc = HP_ENOMEM;
  memset(&L, 0, sizeof L);
  memset(&G, 0, sizeof G);
  if (!jp || !cand || !best || !ctv) goto done;
  if (joint_alloc(&L, s->d, mask, nb + 1) || joint_alloc(&G, s->d, mask, h->n + nl + 1)) goto done;

  /* l: below trials (chosen among the trials that have the joint params). */
  int64_t ml = 0;
  for (int64_t i = 0; i < nb; i++, ml++) {
    for (int p = 0; p < s->d; p++)
      if (mask[p]) L.x[p][ml] = hp_tparam_fwd(&s->tp[p], h->x[p][below[i]]);
    L.w[ml] = below_weight(s, ml, nb);
  }
  bool lprior = o->consider_prior || ml == 0;
  L.n = ml;
  L.prior = -1;
  if (lprior) {
    L.prior = ml;
    L.w[ml] = o->prior_weight;
    L.n++;
  }
  /* g: the rest plus liars having every joint param, chronological. */
  int64_t mg = above_positions(s, -1, mask, ws->pos_by_number, ws->is_below);
  int64_t gi = 0, r = 0;
  for (int64_t i = 0; i <= h->n; i++) {
    int32_t num = i < h->n ? h->number[i] : INT32_MAX;
    for (; r < nl && s->run[r].number < num; r++) {
      const double *x = s->run[r].params;
      bool ok = true;
      for (int p = 0; p < s->d; p++) ok = ok && (!mask[p] || !isnan(x[p]));
      if (!ok) continue;
      for (int p = 0; p < s->d; p++)
        if (mask[p]) G.x[p][gi] = hp_tparam_fwd(&s->tp[p], x[p]);
      G.w[gi] = hp_tpe_weight(gi, mg);
      gi++;
    }
    if (i == h->n) break;
    if (ws->is_below[num]) continue;
    bool has = true; /* the trials where the joint parameters are active */
    for (int p = 0; p < s->d; p++) has = has && (!mask[p] || !isnan(h->x[p][i]));
    if (!has) continue;
    for (int p = 0; p < s->d; p++)
      if (mask[p]) G.x[p][gi] = hp_tparam_fwd(&s->tp[p], h->x[p][i]);
    G.w[gi] = hp_tpe_weight(gi, mg);
    gi++;
  }
  assert(gi == mg);
  bool gprior = o->consider_prior || mg == 0;
  G.n = mg;
  G.prior = -1;
  if (gprior) {
    G.prior = mg;
    G.w[mg] = o->prior_weight;
    G.n++;
  }
  for (int p = 0; p < s->d; p++) {
    if (!mask[p]) continue;
    const hp_tparam_t *tp = &s->tp[p];
    double pm = tp->kind == HP_T_CAT ? -1.0 : 0.5 * (tp->lo + tp->hi);
    if (L.prior >= 0) L.x[p][L.prior] = pm;
    if (G.prior >= 0) G.x[p][G.prior] = pm;
    jp[p].cc_l = lprior ? o->prior_weight / (double)(ml + 1) : o->prior_weight / (double)ml;
    jp[p].cc_g = gprior ? o->prior_weight / (double)(mg + 1) : o->prior_weight / (double)mg;
  }
  if (joint_bandwidths(s, mask, dj, &L, &G, ml, mg) != 0) goto done;
  normalise(L.w, L.n);
  normalise(G.w, G.n);
  joint_norms(s, mask, &L);
  joint_norms(s, mask, &G);

  double best_score = -INFINITY;
  bool have = false;
  for (int c = 0; c < o->n_ei_candidates; c++) {
    int64_t k = draw_index(rng, L.w, L.n);
    for (int p = 0; p < s->d; p++) {
      if (!mask[p]) continue;
      const hp_tparam_t *tp = &s->tp[p];
      const hp_dist_t *dist = &s->space->params[p].dist;
      if (tp->kind == HP_T_CAT) {
        double cc = jp[p].cc_l;
        if (k == L.prior || hp_rng_uniform(rng) >= 1.0 / (1.0 + tp->k * cc))
          cand[p] = (double)hp_rng_below(rng, (uint64_t)tp->k);
        else
          cand[p] = L.x[p][k];
      } else {
        double t = hp_truncnorm_sample(rng, L.x[p][k], L.sig[p][k], tp->lo, tp->hi);
        double x = hp_tparam_back(tp, dist, t);
        cand[p] = x;
      }
    }
    /* Score in transformed coordinates. */
    for (int p = 0; p < s->d; p++)
      if (mask[p]) ctv[p] = s->tp[p].kind == HP_T_CAT ? cand[p] : hp_tparam_fwd(&s->tp[p], cand[p]);
    double score =
        joint_logpdf(s, mask, jp, &L, true, ctv) - joint_logpdf(s, mask, jp, &G, false, ctv);
    if (!have || score > best_score) {
      have = true;
      best_score = score;
      for (int p = 0; p < s->d; p++)
        if (mask[p]) best[p] = cand[p];
    }
  }
  for (int p = 0; p < s->d; p++)
    if (mask[p]) {
      const hp_dist_t *dist = &s->space->params[p].dist;
      double x = best[p];
      out[p] = dist->kind == HP_DIST_CAT ? x : fmin(fmax(x, dist->low), dist->high);
    }
  rc = 0;
done:
  joint_free(&L, s->d);
  joint_free(&G, s->d);
  free(jp);
  free(cand);
  free(best);
  free(ctv);
  return rc;
}

/* ---- entry -------------------------------------------------------------- */

/* Optuna's group decomposition (multivariate TPE with group=True): two
 * parameters are in one group when the same finished trials have them
 * (equal presence hashes and counts); a parameter no trial has is in none.
 * Without `group`, one joint set of the parameters every trial has (group
 * 0), the others univariate. group_of[p] = group id or -1. */
static void tpe_groups(const hp_sampler_t *s, int *group_of) {
  const hp_hist_t *h = &s->hist;
  for (int p = 0; p < s->d; p++) {
    group_of[p] = -1;
    if (!s->opts.multivariate || s->tp[p].kind == HP_T_SINGLE || h->n_missing[p] == h->n) continue;
    if (!s->opts.group) {
      if (h->n_missing[p] == 0) group_of[p] = 0;
      continue;
    }
    group_of[p] = p;
    for (int q = 0; q < p; q++) {
      if (group_of[q] == q && h->n_missing[q] == h->n_missing[p] &&
          h->presence[q] == h->presence[p]) {
        group_of[p] = q;
        break;
      }
    }
  }
}

/* The below set of parameter p's decision among the trials that have p:
 * *below (allocated) holds its nb history positions, marked in
 * ws->is_below until decision_end. 0 or HP_ENOMEM. */
static int decision_begin(hp_sampler_t *s, int p, int64_t **belowp, int64_t *nbp) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_hist_t *h = &s->hist;
  int64_t n_p = h->n - h->n_missing[p];
  double g = ceil(o->gamma_ratio * (double)n_p);
  /* Several objectives: no gamma_max cap (Optuna's default_gamma_multiobjective). */
  int64_t nb = (int64_t)(s->m > 1 ? g : fmin(g, (double)o->gamma_max));
  if (nb > n_p) nb = n_p;
  int64_t *below = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *below);
  if (below == NULL) return HP_ENOMEM;
  const double *col = h->n_missing[p] > 0 ? h->x[p] : NULL;
  if (s->m > 1) {
    if (hp_motpe_select_below(s, col, nb, below) != 0) {
      free(below);
      return HP_ENOMEM;
    }
  } else {
    select_below(h, col, nb, below);
  }
  for (int64_t i = 0; i < nb; i++) s->ws.is_below[h->number[below[i]]] = 1;
  *belowp = below;
  *nbp = nb;
  return 0;
}

static void decision_end(hp_sampler_t *s, int64_t *below, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) s->ws.is_below[s->hist.number[below[i]]] = 0;
  free(below);
}

/* One decision: below set among the trials that have parameter p (the
 * trials where it was active), then a joint sample over mask (dj > 0) or
 * p's univariate one. */
static int tpe_decide(hp_sampler_t *s, int p, const bool *mask, int dj, hp_rng_t *rng,
                      double *out) {
  int64_t *below, nb;
  int rc = decision_begin(s, p, &below, &nb);
  if (rc != 0) return rc;
  if (dj > 0)
    rc = sample_joint(s, mask, dj, below, nb, rng, out);
  else if (s->tp[p].kind == HP_T_CAT)
    rc = sample_categorical(s, p, below, nb, rng, &out[p]);
  else
    rc = sample_numeric(s, p, below, nb, rng, &out[p]);
  decision_end(s, below, nb);
  return rc;
}

/* Starts a suggestion over the current history: scratch sized, the
 * multi-objective split forgotten. 0 or HP_ENOMEM. */
static int suggestion_begin(hp_sampler_t *s) {
  if (ws_reserve(&s->ws, s->seen_cap) != 0) return HP_ENOMEM;
  s->ws.motpe.valid = false; /* the history may have changed since */
  return 0;
}

int hp_tpe_numeric_mixtures(hp_sampler_t *s, int p, hp_tpe_mixtures_t *out) {
  memset(out, 0, sizeof *out);
  int64_t *below, nb;
  int rc = suggestion_begin(s);
  if (rc == 0) rc = decision_begin(s, p, &below, &nb);
  if (rc != 0) return rc;
  comps_t l, g;
  rc = numeric_mixtures(s, p, below, nb, &l, &g);
  decision_end(s, below, nb);
  if (rc != 0) return rc;
  const comps_t *c[2] = {&l, &g};
  for (int k = 0; k < 2; k++) {
    out->n[k] = c[k]->n;
    size_t sz = (size_t)c[k]->n * sizeof(double);
    out->mu[k] = malloc(sz + 1); /* + 1: never malloc(0) */
    out->sigma[k] = malloc(sz + 1);
    out->w[k] = malloc(sz + 1);
    if (!out->mu[k] || !out->sigma[k] || !out->w[k]) {
      rc = HP_ENOMEM;
      continue;
    }
    if (sz == 0) continue;
    memcpy(out->mu[k], c[k]->mu, sz);
    memcpy(out->sigma[k], c[k]->sigma, sz);
    memcpy(out->w[k], c[k]->w, sz);
  }
  comps_free(&l);
  comps_free(&g);
  if (rc != 0) hp_tpe_mixtures_free(out);
  return rc;
}

void hp_tpe_mixtures_free(hp_tpe_mixtures_t *m) {
  for (int k = 0; k < 2; k++) {
    free(m->mu[k]);
    free(m->sigma[k]);
    free(m->w[k]);
  }
  memset(m, 0, sizeof *m);
}

/* Parameters are decided in space order, so a condition sees its parents'
 * values: an inactive parameter is absent; an active one is sampled with
 * its group (the group's members from here on, jointly, when its first
 * active member is reached) or on its own. */
int hp_tpe_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, hp_err_t *err) {
  const hp_sampler_opts_t *o = &s->opts;
  const hp_hist_t *h = &s->hist;
  if (h->n < o->n_startup_trials || h->n == 0) {
    hp_random_suggest(s, rng, out);
    return 0;
  }
  if (suggestion_begin(s) != 0) return hp_err_set(err, HP_ENOMEM, "tpe: out of memory");
  int *group_of = malloc((size_t)s->d * sizeof *group_of);
  bool *mask = calloc((size_t)s->d, sizeof *mask);
  bool *done = calloc((size_t)s->d, sizeof *done);
  int rc = 0;
  if (group_of == NULL || mask == NULL || done == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "tpe: out of memory");
    goto out;
  }
  tpe_groups(s, group_of);
  for (int p = 0; p < s->d && rc == 0; p++) {
    if (!hp_space_active(s->space, p, out)) {
      out[p] = NAN;
      continue;
    }
    if (done[p]) continue;
    const hp_dist_t *dist = &s->space->params[p].dist;
    if (s->tp[p].kind == HP_T_SINGLE) {
      out[p] = dist->kind == HP_DIST_CAT ? 0 : dist->low;
      continue;
    }
    int dj = 0;
    for (int q = p; q < s->d; q++) {
      mask[q] = group_of[p] >= 0 && group_of[q] == group_of[p];
      dj += mask[q];
      done[q] = done[q] || mask[q];
    }
    if ((rc = tpe_decide(s, p, mask, dj, rng, out)) != 0) rc = hp_err_set(err, rc, "tpe: out of memory");
    for (int q = p; q < s->d; q++) mask[q] = false;
  }
out:
  free(group_of);
  free(mask);
  free(done);
  return rc;
}

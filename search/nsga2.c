/* NSGA-II (Deb et al. 2002) with Optuna's NSGAIISampler defaults: random
 * first generation, then children of the elite parents by binary
 * tournament, uniform crossover (probability crossover_prob, each parameter
 * swapped with swapping_prob) and mutation (each parameter drawn afresh with
 * mutation_prob, 1 / #parameters by default). Elites are the best
 * population_size of (parents + the last generation) by constrained
 * non-domination rank, then crowding distance. A generation is
 * population_size consecutive COMPLETE trials in trial-number order, so the
 * parents are a function of the told history alone (a restart replays the
 * same ones); docs/search.md, "NSGA-II". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

/* One candidate of the elite selection: a history position. */
typedef struct cand {
  int64_t pos;     /* history position */
  int32_t rank;    /* constrained non-domination rank */
  double crowd;    /* crowding distance within its rank */
} cand_t;

static int cmp_rank_crowd(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  if (x->crowd != y->crowd) return x->crowd > y->crowd ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

typedef struct obj_ctx {
  const double *mv;
  int m, k;
} obj_ctx_t;
static int cmp_obj(const void *a, const void *b, void *arg) {
  const obj_ctx_t *c = arg;
  int64_t pa = ((const cand_t *)a)->pos, pb = ((const cand_t *)b)->pos;
  double x = c->mv[pa * c->m + c->k], y = c->mv[pb * c->m + c->k];
  if (x != y) return (x > y) - (x < y);
  return (pa > pb) - (pa < pb); /* ties in history order */
}

/* Crowding distance of the n candidates of one rank (c[] reordered). */
static void crowding(const hp_hist_t *h, int m, cand_t *c, int64_t n) {
  for (int64_t i = 0; i < n; i++) c[i].crowd = 0;
  if (n <= 2) {
    for (int64_t i = 0; i < n; i++) c[i].crowd = INFINITY;
    return;
  }
  for (int k = 0; k < m; k++) {
    obj_ctx_t ctx = {h->mv, m, k};
    qsort_r(c, (size_t)n, sizeof *c, cmp_obj, &ctx);
    double lo = h->mv[c[0].pos * m + k], hi = h->mv[c[n - 1].pos * m + k];
    c[0].crowd = c[n - 1].crowd = INFINITY;
    double span = hi - lo;
    if (!(span > 0) || !isfinite(span)) continue;
    for (int64_t i = 1; i + 1 < n; i++)
      c[i].crowd += (h->mv[c[i + 1].pos * m + k] - h->mv[c[i - 1].pos * m + k]) / span;
  }
}

/* Constrained ranks of the n candidates: feasible ones by non-domination,
 * then infeasible ones by violation (equal violations share a rank). */
static int rank_all(const hp_hist_t *h, int m, cand_t *c, int64_t n) {
  double *pts = calloc((size_t)(n > 0 ? n : 1) * (size_t)m, sizeof *pts);
  int32_t *rk = malloc((size_t)(n > 0 ? n : 1) * sizeof *rk);
  int64_t *fi = malloc((size_t)(n > 0 ? n : 1) * sizeof *fi);
  if (!pts || !rk || !fi) {
    free(pts);
    free(rk);
    free(fi);
    return HP_ENOMEM;
  }
  int64_t nf = 0;
  for (int64_t i = 0; i < n; i++)
    if (h->viol[c[i].pos] <= 0) {
      memcpy(pts + nf * m, h->mv + c[i].pos * m, (size_t)m * sizeof *pts);
      fi[nf++] = i;
    }
  int rc = hp_mo_ranks(pts, nf, m, nf, rk);
  int32_t maxr = -1;
  for (int64_t j = 0; j < nf && rc == 0; j++) {
    c[fi[j]].rank = rk[j];
    if (rk[j] > maxr) maxr = rk[j];
  }
  for (int64_t i = 0; i < n && rc == 0; i++) {
    double v = h->viol[c[i].pos];
    if (v <= 0) continue;
    int32_t r = maxr + 1; /* one more per distinct smaller violation */
    for (int64_t j = 0; j < n; j++) {
      double u = h->viol[c[j].pos];
      if (u > 0 && u < v) {
        bool first = true; /* count each distinct value once */
        for (int64_t q = 0; q < j && first; q++) first = h->viol[c[q].pos] != u;
        r += first;
      }
    }
    c[i].rank = r;
  }
  free(pts);
  free(rk);
  free(fi);
  return rc;
}

static int cmp_pos(const void *a, const void *b) {
  int64_t x = ((const cand_t *)a)->pos, y = ((const cand_t *)b)->pos;
  return (x > y) - (x < y);
}

/* Elite selection: keeps the best k of c[0..n) in c[0..k). The candidates
 * are put in history order first and every sort breaks ties by it, so the
 * result does not depend on the order they come in. */
static int select_elite(const hp_hist_t *h, int m, cand_t *c, int64_t n, int64_t k) {
  qsort(c, (size_t)n, sizeof *c, cmp_pos);
  int rc = rank_all(h, m, c, n);
  if (rc != 0) return rc;
  /* crowding within each rank, then sort by (rank, -crowding) */
  qsort(c, (size_t)n, sizeof *c, cmp_rank_crowd);
  for (int64_t a = 0; a < n;) {
    int64_t b = a;
    while (b < n && c[b].rank == c[a].rank) b++;
    crowding(h, m, c + a, b - a);
    a = b;
  }
  qsort(c, (size_t)n, sizeof *c, cmp_rank_crowd);
  (void)k;
  return 0;
}

/* a beats b in a tournament: lower rank, or same rank and more crowding. */
static bool beats(const hp_nsga2_cache_t *k, int64_t a, int64_t b) {
  return k->rank[a] < k->rank[b] || (k->rank[a] == k->rank[b] && k->crowd[a] > k->crowd[b]);
}

/* Binary tournament among the cached parents: an index into them. */
static int64_t tournament(hp_rng_t *rng, const hp_nsga2_cache_t *k) {
  int64_t a = (int64_t)hp_rng_below(rng, (uint64_t)k->n);
  int64_t b = (int64_t)hp_rng_below(rng, (uint64_t)k->n);
  return beats(k, b, a) ? b : a;
}

void hp_nsga2_cache_free(hp_nsga2_cache_t *c) {
  free(c->number);
  free(c->rank);
  free(c->crowd);
  memset(c, 0, sizeof *c);
}

static int64_t pos_of(const hp_hist_t *h, int32_t number);

/* Selects the parents of the next generation from the `gens` complete
 * generations (comp: history positions of the COMPLETE trials in number
 * order) into the cache. parents(1) = elite(gen 0), parents(g+1) =
 * elite(parents(g) + gen g): when the cache holds parents(g0) for
 * generations that are still the same (g0 < gens), the chain goes on from
 * them, so a running study makes one elite selection per generation. */
static int select_parents(hp_sampler_t *s, const int64_t *comp, int64_t gens) {
  const hp_hist_t *h = &s->hist;
  const int64_t P = s->opts.population_size;
  cand_t *c = malloc((size_t)(2 * P) * sizeof *c);
  hp_nsga2_cache_t *k = &s->nsga2;
  if (c == NULL) return HP_ENOMEM;
  int64_t np = 0, g0 = 0;
  int rc = 0;
  if (k->gens > 0 && k->gens < gens && h->number[comp[k->gens * P - 1]] == k->last) {
    for (int64_t i = 0; i < k->n; i++) c[i].pos = pos_of(h, k->number[i]);
    np = k->n;
    g0 = k->gens;
  }
  for (int64_t g = g0; g < gens && rc == 0; g++) {
    int64_t n = np;
    for (int64_t j = 0; j < P; j++) c[n++].pos = comp[g * P + j];
    rc = select_elite(h, s->m, c, n, P);
    np = n < P ? n : P;
  }
  /* ranks and crowding among the parents themselves (tournament keys) */
  if (rc == 0) rc = select_elite(h, s->m, c, np, np);
  hp_nsga2_cache_free(k);
  if (rc == 0) {
    k->number = malloc((size_t)np * sizeof *k->number);
    k->rank = malloc((size_t)np * sizeof *k->rank);
    k->crowd = malloc((size_t)np * sizeof *k->crowd);
    if (!k->number || !k->rank || !k->crowd) rc = HP_ENOMEM;
  }
  if (rc == 0) {
    for (int64_t i = 0; i < np; i++) {
      k->number[i] = h->number[c[i].pos];
      k->rank[i] = c[i].rank;
      k->crowd[i] = c[i].crowd;
    }
    k->n = np;
    k->gens = gens;
    k->last = h->number[comp[gens * P - 1]];
  } else {
    hp_nsga2_cache_free(k);
  }
  free(c);
  return rc;
}

/* History position of a trial number (the history is in number order). */
static int64_t pos_of(const hp_hist_t *h, int32_t number) {
  int64_t a = 0, b = h->n;
  while (a < b) {
    int64_t k = a + (b - a) / 2;
    if (h->number[k] < number) a = k + 1;
    else b = k;
  }
  return a;
}

int hp_nsga2_suggest(hp_sampler_t *s, hp_rng_t *rng, int64_t number, double *out, hp_err_t *err) {
  (void)number;
  const hp_hist_t *h = &s->hist;
  const hp_sampler_opts_t *o = &s->opts;
  const int64_t P = o->population_size;
  /* COMPLETE trials in number order (the history is in number order). */
  int64_t nc = 0;
  for (int64_t i = 0; i < h->n; i++) nc += h->fin[i] == HP_FINAL_COMPLETE;
  int64_t gens = nc / P;
  if (gens == 0) {
    hp_random_suggest(s, rng, out);
    return 0;
  }
  /* The parents depend only on the first gens * P COMPLETE trials: the same
   * generations end at the same trial number exactly when no earlier trial
   * was told since. The boundary is found without building the list of
   * COMPLETE trials, which only a new selection needs. */
  int64_t seen = 0, bpos = 0;
  for (int64_t i = 0; i < h->n; i++)
    if (h->fin[i] == HP_FINAL_COMPLETE && ++seen == gens * P) {
      bpos = i;
      break;
    }
  hp_nsga2_cache_t *k = &s->nsga2;
  if (k->gens != gens || k->last != h->number[bpos]) {
    int64_t *comp = malloc((size_t)nc * sizeof *comp);
    if (comp == NULL) return hp_err_set(err, HP_ENOMEM, "nsga2: out of memory");
    for (int64_t i = 0, j = 0; i < h->n; i++)
      if (h->fin[i] == HP_FINAL_COMPLETE) comp[j++] = i;
    int rc = select_parents(s, comp, gens);
    free(comp);
    if (rc != 0) return hp_err_set(err, rc, "nsga2: out of memory");
  }
  int64_t i0 = tournament(rng, k), i1 = i0;
  bool cross = hp_rng_uniform(rng) < o->crossover_prob && k->n >= 2;
  if (cross)
    for (int t = 0; t < 16 && i1 == i0; t++) i1 = tournament(rng, k);
  int64_t p0 = pos_of(h, k->number[i0]), p1 = pos_of(h, k->number[i1]);
  double pm = isnan(o->mutation_prob) ? 1.0 / (s->d > 1 ? s->d : 1) : o->mutation_prob;
  for (int p = 0; p < s->d; p++) {
    const hp_dist_t *dist = &s->space->params[p].dist;
    double x = h->x[p][p0];
    if (cross && hp_rng_uniform(rng) < o->swapping_prob) x = h->x[p][p1];
    /* mutation, or a parameter the parent lacks (conditional spaces):
     * drawn afresh */
    if (hp_rng_uniform(rng) < pm || isnan(x) || !hp_dist_contains(dist, x))
      x = hp_random_param(dist, rng);
    out[p] = x;
  }
  return 0;
}

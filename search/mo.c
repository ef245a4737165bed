/* Several objectives: non-domination ranks, exact hypervolume (a sweep for
 * 2 and 3 objectives, slicing for more), greedy hypervolume subset
 * selection, and TPE's split of the history into below and above as
 * Optuna 5's TPESampler does it for several objectives and constraints
 * (docs/search.md, "Several objectives"). Values are minimised here: the
 * sampler negates maximised objectives when it is told. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

/* a dominates b: no worse in every objective and better in one. */
static bool dominates(const double *a, const double *b, int m) {
  bool better = false;
  for (int k = 0; k < m; k++) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) better = true;
  }
  return better;
}

/* Lexicographic order of points, over their indices. */
typedef struct lex_ctx {
  const double *pts;
  int m;
} lex_ctx_t;
static int cmp_lex(const void *pa, const void *pb, void *arg) {
  const lex_ctx_t *c = arg;
  int64_t x = *(const int64_t *)pa, y = *(const int64_t *)pb;
  const double *a = c->pts + x * c->m, *b = c->pts + y * c->m;
  for (int k = 0; k < c->m; k++)
    if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
  return (x > y) - (x < y);
}
static void sort_lex(const double *pts, int m, int64_t *idx, int64_t n) {
  lex_ctx_t c = {pts, m};
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_lex, &c);
}

int hp_mo_ranks(const double *pts, int64_t n, int m, int64_t need, int32_t *rank) {
  int64_t *rest = malloc((size_t)(n > 0 ? n : 1) * sizeof *rest);
  int64_t *front = malloc((size_t)(n > 0 ? n : 1) * sizeof *front);
  if (rest == NULL || front == NULL) {
    free(rest);
    free(front);
    return HP_ENOMEM;
  }
  for (int64_t i = 0; i < n; i++) rest[i] = i, rank[i] = INT32_MAX;
  /* Only a lexicographically smaller point can dominate; and a point
   * dominated by anything left is dominated by a member of the current
   * front (transitivity), so each peel compares with the front only. */
  sort_lex(pts, m, rest, n);
  int64_t n_rest = n, placed = 0;
  for (int32_t r = 0; n_rest > 0 && placed < need; r++) {
    int64_t nf = 0, nk = 0;
    for (int64_t i = 0; i < n_rest; i++) {
      const double *p = pts + rest[i] * m;
      bool dom = false;
      for (int64_t j = nf - 1; j >= 0 && !dom; j--) dom = dominates(pts + front[j] * m, p, m);
      if (dom)
        rest[nk++] = rest[i];
      else
        front[nf++] = rest[i];
    }
    for (int64_t j = 0; j < nf; j++) rank[front[j]] = r;
    placed += nf;
    n_rest = nk;
  }
  free(rest);
  free(front);
  return 0;
}

/* ---- hypervolume ---------------------------------------------------------- */

static int cmp_dbl_first(const void *a, const void *b) {
  const double *x = a, *y = b;
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  return (x[1] > y[1]) - (x[1] < y[1]);
}

/* 2 objectives: q[n][2] (modified: sorted). */
static double hv2(double *q, int64_t n, const double *ref) {
  qsort(q, (size_t)n, 2 * sizeof(double), cmp_dbl_first);
  double hv = 0, top = ref[1];
  for (int64_t i = 0; i < n; i++)
    if (q[2 * i + 1] < top) {
      hv += (ref[0] - q[2 * i]) * (top - q[2 * i + 1]);
      top = q[2 * i + 1];
    }
  return hv;
}

/* Orders points of m values by their last value. */
static int cmp_last(const void *a, const void *b, void *arg) {
  int last = *(const int *)arg;
  double x = ((const double *)a)[last], y = ((const double *)b)[last];
  return (x > y) - (x < y);
}

/* 3 objectives: slices along the third, each a 2-objective staircase kept
 * sorted by the first objective (ascending, the second descending). */
static double hv3(double *q, int64_t n, const double *ref) {
  int last = 2;
  qsort_r(q, (size_t)n, 3 * sizeof(double), cmp_last, &last);
  double *st = malloc((size_t)(n + 1) * 2 * sizeof *st);
  if (st == NULL) return NAN;
  int64_t ns = 0;
  double area = 0, hv = 0;
  for (int64_t i = 0; i < n; i++) {
    double x = q[3 * i], y = q[3 * i + 1];
    /* first staircase point with x' >= x */
    int64_t a = 0, b = ns;
    while (a < b) {
      int64_t k = (a + b) / 2;
      if (st[2 * k] < x) a = k + 1;
      else b = k;
    }
    bool covered = a > 0 && st[2 * (a - 1) + 1] <= y; /* a point left of it is lower */
    if (!covered && a < ns && st[2 * a] == x && st[2 * a + 1] <= y) covered = true;
    if (!covered) {
      /* points at or right of x that are not lower than y are dominated now */
      int64_t e = a;
      while (e < ns && st[2 * e + 1] >= y) e++;
      memmove(st + 2 * (a + 1), st + 2 * e, (size_t)(ns - e) * 2 * sizeof *st);
      ns = ns - (e - a) + 1;
      st[2 * a] = x;
      st[2 * a + 1] = y;
      area = 0;
      double top = ref[1];
      for (int64_t k = 0; k < ns; k++) {
        area += (ref[0] - st[2 * k]) * (top - st[2 * k + 1]);
        top = st[2 * k + 1];
      }
    }
    double z1 = i + 1 < n ? q[3 * (i + 1) + 2] : ref[2];
    hv += area * (z1 - q[3 * i + 2]);
  }
  free(st);
  return hv;
}

/* m >= 4: slices along the last objective, each an (m-1)-objective volume. */
static double hv_rec(double *q, int64_t n, int m, const double *ref) {
  if (n == 0) return 0;
  if (m == 2) return hv2(q, n, ref);
  if (m == 3) return hv3(q, n, ref);
  int last = m - 1;
  qsort_r(q, (size_t)n, (size_t)m * sizeof(double), cmp_last, &last);
  double *sub = malloc((size_t)n * (size_t)(m - 1) * sizeof *sub);
  if (sub == NULL) return NAN;
  double hv = 0;
  for (int64_t i = 0; i < n; i++) {
    double z1 = i + 1 < n ? q[(i + 1) * m + m - 1] : ref[m - 1];
    if (z1 <= q[i * m + m - 1]) continue;
    for (int64_t j = 0; j <= i; j++) memcpy(sub + j * (m - 1), q + j * m, (size_t)(m - 1) * sizeof *sub);
    hv += hv_rec(sub, i + 1, m - 1, ref) * (z1 - q[i * m + m - 1]);
  }
  free(sub);
  return hv;
}

double hp_mo_hypervolume(const double *pts, int64_t n, int m, const double *ref) {
  double *q = malloc((size_t)(n > 0 ? n : 1) * (size_t)m * sizeof *q);
  if (q == NULL) return NAN;
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) {
    bool inside = true;
    for (int j = 0; j < m; j++) inside = inside && pts[i * m + j] < ref[j];
    if (inside) memcpy(q + k++ * m, pts + i * m, (size_t)m * sizeof *q);
  }
  double hv = 0;
  if (m == 1) {
    for (int64_t i = 0; i < k; i++) hv = fmax(hv, ref[0] - q[i]);
  } else {
    hv = hv_rec(q, k, m, ref);
  }
  free(q);
  return hv;
}

/* ---- hypervolume subset selection ------------------------------------------ */

static double box(const double *p, const double *ref, int m) {
  double v = 1;
  for (int k = 0; k < m; k++) v *= ref[k] - p[k];
  return v;
}

int hp_mo_hssp(const double *pts, int64_t n, int m, int64_t k, const double *ref, int64_t *out) {
  if (k <= 0) return 0;
  bool finite = true;
  for (int j = 0; j < m; j++) finite = finite && isfinite(ref[j]);
  if (!finite || k >= n) { /* no volume to compare: the first k */
    for (int64_t i = 0; i < k; i++) out[i] = i;
    return 0;
  }
  double *contrib = malloc((size_t)n * sizeof *contrib);
  bool *taken = calloc((size_t)n, sizeof *taken);
  double *sel = malloc((size_t)(k + 1) * (size_t)m * sizeof *sel);
  int rc = HP_ENOMEM;
  if (contrib == NULL || taken == NULL || sel == NULL) goto done;
  for (int64_t i = 0; i < n; i++) contrib[i] = box(pts + i * m, ref, m);
  double hv_sel = 0;
  for (int64_t s = 0; s < k; s++) {
    /* Lazy greedy: contributions only shrink as the selection grows
     * (submodularity), so a stale value is an upper bound; recompute the
     * largest until it stays the largest. */
    int64_t best = -1;
    for (;;) {
      int64_t top = -1;
      for (int64_t i = 0; i < n; i++)
        if (!taken[i] && (top < 0 || contrib[i] > contrib[top])) top = i;
      if (s == 0 || top < 0) {
        best = top;
        break;
      }
      memcpy(sel + s * m, pts + top * m, (size_t)m * sizeof *sel);
      double c = hp_mo_hypervolume(sel, s + 1, m, ref) - hv_sel;
      if (c < 0) c = 0;
      bool stays = true;
      for (int64_t i = 0; i < n && stays; i++)
        if (!taken[i] && i != top && contrib[i] > c) stays = false;
      contrib[top] = c;
      if (stays) {
        best = top;
        break;
      }
    }
    taken[best] = true;
    out[s] = best;
    memcpy(sel + s * m, pts + best * m, (size_t)m * sizeof *sel);
    hv_sel = hp_mo_hypervolume(sel, s + 1, m, ref);
  }
  rc = 0;
done:
  free(contrib);
  free(taken);
  free(sel);
  return rc;
}

/* ---- TPE's split ----------------------------------------------------------- */

static int motpe_split(const hp_sampler_t *s, const double *col, int64_t nb, int64_t *below);

static int cmp_pruned(const void *pa, const void *pb, void *arg) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  const hp_hist_t *h = arg;
  if (h->key[a] != h->key[b]) return h->key[a] < h->key[b] ? -1 : 1;
  if (h->val[a] != h->val[b]) return h->val[a] < h->val[b] ? -1 : 1;
  return (a > b) - (a < b);
}
static int cmp_pos(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return (a > b) - (a < b);
}

int hp_motpe_select_below(hp_sampler_t *s, const double *col, int64_t nb, int64_t *below) {
  /* Every decision over parameters all trials have splits the same way:
   * the split is kept for the rest of the suggestion. */
  hp_motpe_cache_t *cache = &s->ws.motpe;
  if (col == NULL && cache->valid && cache->nb == nb) {
    memcpy(below, cache->below, (size_t)nb * sizeof *below);
    return 0;
  }
  int rc = motpe_split(s, col, nb, below);
  if (rc == 0 && col == NULL) {
    int64_t *b = realloc(cache->below, (size_t)(nb > 0 ? nb : 1) * sizeof *b);
    if (b != NULL) {
      cache->below = b;
      memcpy(b, below, (size_t)nb * sizeof *b);
      cache->nb = nb;
      cache->valid = true;
    }
  }
  return rc;
}

static int motpe_split(const hp_sampler_t *s, const double *col, int64_t nb, int64_t *below) {
  const hp_hist_t *h = &s->hist;
  const int m = s->m;
  int64_t n = h->n, nc = 0, nr = 0;
  int64_t *comp = malloc((size_t)(n > 0 ? n : 1) * sizeof *comp);
  int64_t *rest = malloc((size_t)(n > 0 ? n : 1) * sizeof *rest);
  double *pts = malloc((size_t)(n > 0 ? n : 1) * (size_t)m * sizeof *pts);
  int32_t *rank = malloc((size_t)(n > 0 ? n : 1) * sizeof *rank);
  int64_t *tie = malloc((size_t)(n > 0 ? n : 1) * sizeof *tie);
  int64_t *pick = malloc((size_t)(n > 0 ? n : 1) * sizeof *pick);
  double *tpts = malloc((size_t)(n > 0 ? n : 1) * (size_t)m * sizeof *tpts);
  int rc = HP_ENOMEM;
  if (!comp || !rest || !pts || !rank || !tie || !pick || !tpts) goto done;
  /* Feasible COMPLETE trials compete by their values; PRUNED ones (key =
   * -step or +1) and infeasible ones (key 2, val = violation) follow in
   * (key, val) order as for one objective. */
  for (int64_t i = 0; i < n; i++) {
    if (col != NULL && isnan(col[i])) continue; /* the decision's parameter is absent */
    if (h->fin[i] == HP_FINAL_COMPLETE && h->key[i] == -INFINITY) {
      memcpy(pts + nc * m, h->mv + i * m, (size_t)m * sizeof *pts);
      comp[nc++] = i;
    } else {
      rest[nr++] = i;
    }
  }
  int64_t nsel = 0;
  int64_t want = nb < nc ? nb : nc;
  if (want == nc) {
    for (int64_t i = 0; i < nc; i++) below[nsel++] = comp[i];
  } else if (want > 0) {
    if ((rc = hp_mo_ranks(pts, nc, m, want, rank)) != 0) goto done;
    /* Whole ranks while they fit, then the next rank's best subset by
     * hypervolume (reference: 1.1 times its worst point, 0.9 where that is
     * negative, a tiny positive number for 0). */
    int32_t r = 0;
    for (;; r++) {
      int64_t cnt = 0;
      for (int64_t i = 0; i < nc; i++) cnt += rank[i] == r;
      if (nsel + cnt > want) break;
      for (int64_t i = 0; i < nc; i++)
        if (rank[i] == r) below[nsel++] = comp[i];
      if (nsel == want) break;
    }
    if (nsel < want) {
      int64_t nt = 0;
      double ref[HP_SAMPLER_MAX_OBJECTIVES];
      for (int k = 0; k < m; k++) ref[k] = -INFINITY;
      for (int64_t i = 0; i < nc; i++)
        if (rank[i] == r) {
          memcpy(tpts + nt * m, pts + i * m, (size_t)m * sizeof *tpts);
          for (int k = 0; k < m; k++) ref[k] = fmax(ref[k], pts[i * m + k]);
          tie[nt++] = comp[i];
        }
      for (int k = 0; k < m; k++) {
        ref[k] = fmax(1.1 * ref[k], 0.9 * ref[k]);
        if (ref[k] == 0) ref[k] = 1e-12;
      }
      if ((rc = hp_mo_hssp(tpts, nt, m, want - nsel, ref, pick)) != 0) goto done;
      for (int64_t i = 0, k = want - nsel; i < k; i++) below[nsel++] = tie[pick[i]];
    }
  }
  if (nsel < nb && nr > 0) {
    qsort_r(rest, (size_t)nr, sizeof *rest, cmp_pruned, (void *)h);
    for (int64_t i = 0; i < nr && nsel < nb; i++) below[nsel++] = rest[i];
  }
  qsort(below, (size_t)nsel, sizeof *below, cmp_pos);
  rc = 0;
done:
  free(comp);
  free(rest);
  free(pts);
  free(rank);
  free(tie);
  free(pick);
  free(tpts);
  return rc;
}

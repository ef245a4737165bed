/* Parameter importance (include/hpsearch/importance.h): PED-ANOVA, the
 * Pearson divergence between the Parzen density of the best trials and that
 * of all trials on a 50-point grid per parameter (Optuna 5's default), and
 * fANOVA, a random forest of CART regression trees fitted to the completed
 * trials whose per-tree variance is split into the share each parameter
 * explains alone (Hutter et al. 2014; Optuna <= 4's default). Both follow
 * the definitions of Optuna's evaluators (docs/search.md says where they
 * differ: the forest's random draws are our own). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/importance.h"
#include "hpsearch/rng.h"

const char *hp_imp_evaluator_name(hp_imp_evaluator_t e) {
  return e == HP_IMP_FANOVA ? "fanova" : "ped-anova";
}

int hp_imp_evaluator_parse(const char *name, hp_imp_evaluator_t *out, hp_err_t *err) {
  if (name != NULL && strcmp(name, "ped-anova") == 0) *out = HP_IMP_PED_ANOVA;
  else if (name != NULL && strcmp(name, "fanova") == 0) *out = HP_IMP_FANOVA;
  else
    return hp_err_set(err, HP_EINVAL, "evaluator: expected \"ped-anova\" or \"fanova\", got \"%s\"",
                      name ? name : "");
  return 0;
}

void hp_imp_opts_default(hp_imp_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->evaluator = HP_IMP_PED_ANOVA;
  o->n_trees = 64;
  o->max_depth = 64;
  o->target_quantile = 0.1;
}

/* ---- PED-ANOVA ------------------------------------------------------------ */

#define PED_STEPS 50          /* grid points of a numeric parameter */
#define PED_PRIOR 1.0         /* weight of the prior kernel */
#define PED_MIN_REGIME 2      /* fewer trials in a regime: left out */
#define PED_PDF_FLOOR 1e-12   /* added to both densities, as Optuna */
#define PED_MAX_GRID 65536    /* grid cells (a categorical's choices) */

/* Normal probability mass in [a, b], computed in the tail it lies in. */
static double gauss_mass(double a, double b) {
  const double r = 0.70710678118654752440;
  if (a > 0) return 0.5 * (erfc(a * r) - erfc(b * r));
  if (b <= 0) return 0.5 * (erfc(-b * r) - erfc(-a * r));
  return 1.0 - 0.5 * erfc(-a * r) - 0.5 * erfc(b * r);
}

/* The grid of a distribution: its size, and for a numeric one the
 * (possibly log) bounds the grid spans. */
typedef struct ped_grid {
  int size;
  double low, high; /* numeric: grid spans [low, high] (log space if log) */
  bool log, cat;
} ped_grid_t;

static void ped_grid_of(const hp_dist_t *d, ped_grid_t *g) {
  memset(g, 0, sizeof *g);
  if (d->kind == HP_DIST_CAT) {
    g->cat = true;
    g->size = d->n_choices;
    return;
  }
  int n = PED_STEPS;
  if (d->kind == HP_DIST_INT && d->log) {
    int k = (int)ceil(log(d->high - d->low + 1) / log(2.0)) + 1;
    if (k < n) n = k;
  } else if (d->step > 0) {
    double k = nearbyint((d->high - d->low) / d->step) + 1; /* Python's round: half to even */
    if (k < n) n = (int)k;
  }
  g->size = n;
  g->log = d->log;
  g->low = d->log ? log(d->low) : d->low;
  g->high = d->log ? log(d->high) : d->high;
}

static int ped_cell(const ped_grid_t *g, double x) {
  if (g->cat) return (int)x;
  double v = g->log ? log(x) : x;
  double step = (g->high - g->low) / (g->size - 1);
  double k = ceil((v - g->low) / step - 0.5); /* a midpoint tie goes to the lower cell */
  if (!(k > 0)) return 0;
  if (k > g->size - 1) return g->size - 1;
  return (int)k;
}

/* The Parzen density (Optuna's ScottParzenEstimator) of the counts
 * cnt[size] on the grid, into pdf[size], plus the floor. */
static void ped_density(const ped_grid_t *g, const int64_t *cnt, double *pdf) {
  int size = g->size;
  double total = 0;
  int m = 0;
  for (int i = 0; i < size; i++) {
    total += (double)cnt[i];
    if (cnt[i]) m++;
  }
  double norm = total + PED_PRIOR;
  for (int x = 0; x < size; x++) pdf[x] = 0;
  if (g->cat) {
    /* kernel of observation c: (prior/(m+1) + [x == c]) / (size*prior/(m+1) + 1);
     * the prior's kernel is uniform */
    double base = PED_PRIOR / (m + 1);
    double rowsum = size * base + 1;
    for (int c = 0; c < size; c++) {
      if (!cnt[c]) continue;
      double w = (double)cnt[c] / norm;
      for (int x = 0; x < size; x++) pdf[x] += w * (base + (x == c)) / rowsum;
    }
    for (int x = 0; x < size; x++) pdf[x] += (PED_PRIOR / norm) / size + PED_PDF_FLOOR;
    return;
  }
  /* Scott's rule on the grid indices, weighted by counts. */
  double mean = 0;
  for (int i = 0; i < size; i++) mean += (double)cnt[i] * i;
  mean /= total;
  double var = 0;
  for (int i = 0; i < size; i++) var += (double)cnt[i] * (i - mean) * (i - mean);
  var /= total - 1 > 1 ? total - 1 : 1;
  int64_t n_all = (int64_t)total, q1 = n_all / 4, q3 = n_all * 3 / 4, cum = 0;
  int i1 = -1, i3 = -1, last = 0;
  for (int i = 0; i < size; i++) {
    if (!cnt[i]) continue;
    cum += cnt[i];
    last = i;
    if (i1 < 0 && cum >= q1) i1 = i;
    if (i3 < 0 && cum > q3) i3 = i;
  }
  if (i3 < 0) i3 = last;
  double iqr = (double)(i3 - i1);
  double sd = sqrt(var);
  double sigma = 1.059 * (iqr / 1.34 < sd ? iqr / 1.34 : sd) * pow(total, -0.2);
  if (!(sigma >= 0.5 / 1.64)) sigma = 0.5 / 1.64;
  /* The discrete truncated normal of a kernel at mu: the mass of [x-1/2,
   * x+1/2] over that of [-1/2, size-1/2]. */
  double lo = -0.5, hi = size - 0.5;
  for (int c = 0; c <= size; c++) {
    double mu, s, w;
    if (c < size) {
      if (!cnt[c]) continue;
      mu = c, s = sigma, w = (double)cnt[c] / norm;
    } else {
      mu = (size - 1) / 2.0, s = size, w = PED_PRIOR / norm;
    }
    double z = gauss_mass((lo - mu) / s, (hi - mu) / s);
    for (int x = 0; x < size; x++)
      pdf[x] += w * gauss_mass((x - 0.5 - mu) / s, (x + 0.5 - mu) / s) / z;
  }
  for (int x = 0; x < size; x++) pdf[x] += PED_PDF_FLOOR;
}

/* Rows of one regime of one parameter: the region rows (all usable ones)
 * whose distribution equals d, and which of them are in the top set. */
static double ped_param(const hp_imp_table_t *t, int p, const int64_t *rows, int64_t n_rows,
                        const bool *top, int64_t n_top, int64_t *cnt_top, int64_t *cnt_all,
                        double *pdf_top, double *pdf_all, bool *seen) {
  int np = t->n_params;
  double imp = 0;
  memset(seen, 0, (size_t)n_rows);
  for (int64_t a = 0; a < n_rows; a++) {
    if (seen[a]) continue;
    const hp_dist_t *d = t->dist[rows[a] * np + p];
    /* the regime of rows[a]: every later row with an equal distribution */
    int64_t nr = 0, nt = 0;
    for (int64_t b = a; b < n_rows; b++) {
      const hp_dist_t *e = t->dist[rows[b] * np + p];
      if (seen[b] || !(e == d || (e && d && hp_dist_equal(e, d)))) continue;
      seen[b] = true;
      nr++;
      nt += top[b];
    }
    if (d == NULL || nr < PED_MIN_REGIME || nt == 0 || hp_dist_single(d)) continue;
    ped_grid_t g;
    ped_grid_of(d, &g);
    memset(cnt_top, 0, sizeof *cnt_top * (size_t)g.size);
    memset(cnt_all, 0, sizeof *cnt_all * (size_t)g.size);
    for (int64_t b = a; b < n_rows; b++) {
      const hp_dist_t *e = t->dist[rows[b] * np + p];
      if (!(e == d || (e && hp_dist_equal(e, d)))) continue;
      int k = ped_cell(&g, t->x[rows[b] * np + p]);
      cnt_all[k]++;
      if (top[b]) cnt_top[k]++;
    }
    ped_density(&g, cnt_top, pdf_top);
    ped_density(&g, cnt_all, pdf_all);
    double div = 0;
    for (int x = 0; x < g.size; x++) {
      double r = pdf_top[x] / pdf_all[x] - 1;
      div += pdf_all[x] * r * r;
    }
    double alpha = (double)nt / (double)n_top, beta = (double)nr / (double)n_rows;
    imp += alpha * alpha / beta * div;
  }
  return imp;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int ped_anova(const hp_imp_table_t *t, const hp_imp_opts_t *o, const int64_t *rows,
                     int64_t n_rows, double *out, hp_err_t *err) {
  int np = t->n_params;
  int max_size = PED_STEPS;
  for (int64_t r = 0; r < n_rows; r++)
    for (int p = 0; p < np; p++) {
      const hp_dist_t *d = t->dist[rows[r] * np + p];
      if (d && d->kind == HP_DIST_CAT && d->n_choices > max_size) max_size = d->n_choices;
    }
  if (max_size > PED_MAX_GRID)
    return hp_err_set(err, HP_EINVAL, "a categorical parameter has more than %d choices",
                      PED_MAX_GRID);
  double *loss = malloc(sizeof *loss * (size_t)n_rows);
  double *sorted = malloc(sizeof *sorted * (size_t)n_rows);
  bool *top = malloc((size_t)n_rows), *seen = malloc((size_t)n_rows);
  int64_t *cnt = malloc(sizeof *cnt * 2 * (size_t)max_size);
  double *pdf = malloc(sizeof *pdf * 2 * (size_t)max_size);
  int rc = 0;
  if (!loss || !sorted || !top || !seen || !cnt || !pdf) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  /* The top quantile: every trial at least as good as the k-th best (ties
   * included), k = ceil(quantile * n). */
  for (int64_t r = 0; r < n_rows; r++) {
    loss[r] = t->maximize ? -t->y[rows[r]] : t->y[rows[r]];
    sorted[r] = loss[r];
  }
  qsort(sorted, (size_t)n_rows, sizeof *sorted, cmp_double);
  int64_t k = (int64_t)ceil(o->target_quantile * (double)n_rows) - 1;
  if (k < 0) k = 0;
  double cutoff = sorted[k];
  int64_t n_top = 0;
  for (int64_t r = 0; r < n_rows; r++) n_top += (top[r] = loss[r] <= cutoff);
  double q = (double)n_top / (double)n_rows;
  for (int p = 0; p < np; p++)
    out[p] = q * q * ped_param(t, p, rows, n_rows, top, n_top, cnt, cnt + max_size, pdf,
                               pdf + max_size, seen);
done:
  free(loss);
  free(sorted);
  free(top);
  free(seen);
  free(cnt);
  free(pdf);
  return rc;
}

/* ---- fANOVA: the forest ------------------------------------------------------ */

/* A node of a regression tree. Leaves have feature -1. */
typedef struct fa_node {
  int feature;       /* encoded column split on, -1 for a leaf */
  double threshold;  /* x <= threshold goes left */
  int left, right;   /* children */
  double value;      /* weighted mean of y in the node */
} fa_node_t;

typedef struct fa_tree {
  fa_node_t *nodes;
  int n, cap;
} fa_tree_t;

/* Scratch of one fit: X column-major, the per-column order of the node's
 * samples (node = a range shared by every column), weights. */
typedef struct fa_fit {
  int n_cols;
  int64_t n;           /* rows */
  const double *X;     /* [n_cols * n] column-major */
  const double *y;     /* [n] */
  double *w;           /* [n] bootstrap counts */
  int32_t *order;      /* [n_cols * m]: sample ids sorted by column, per node range */
  int32_t *tmp;        /* [m] */
  uint8_t *goes_left;  /* [n] */
  int *perm;           /* [n_cols] feature visiting order */
  int max_depth;
  hp_rng_t rng;
} fa_fit_t;

static int tree_push(fa_tree_t *t) {
  if (t->n == t->cap) {
    int cap = t->cap ? t->cap * 2 : 256;
    fa_node_t *p = realloc(t->nodes, sizeof *p * (size_t)cap);
    if (p == NULL) return -1;
    t->nodes = p;
    t->cap = cap;
  }
  memset(&t->nodes[t->n], 0, sizeof t->nodes[0]);
  t->nodes[t->n].feature = -1;
  return t->n++;
}

/* Presorted CART (sklearn's best splitter, squared error, every feature
 * considered at every node): grows the node over order[col*m + lo .. hi)
 * and returns its index, or -1 when out of memory. */
static int grow(fa_fit_t *f, fa_tree_t *t, int64_t m, int64_t lo, int64_t hi, int depth) {
  int id = tree_push(t);
  if (id < 0) return -1;
  const int32_t *ord0 = f->order;
  double sw = 0, swy = 0, swyy = 0, ymin = INFINITY, ymax = -INFINITY;
  for (int64_t i = lo; i < hi; i++) {
    int32_t s = ord0[i];
    double w = f->w[s], y = f->y[s];
    sw += w, swy += w * y, swyy += w * y * y;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  t->nodes[id].value = swy / sw;
  double impurity = swyy / sw - (swy / sw) * (swy / sw);
  if (depth >= f->max_depth || hi - lo < 2 || ymin == ymax || impurity <= 2.220446049250313e-16)
    return id;
  /* Best split: most sum_l^2/w_l + sum_r^2/w_r. */
  int best_f = -1;
  double best = -INFINITY, best_thr = 0;
  for (int c = 0; c < f->n_cols; c++) f->perm[c] = c;
  for (int c = f->n_cols - 1; c > 0; c--) {
    int j = (int)hp_rng_below(&f->rng, (uint64_t)c + 1), tmp = f->perm[c];
    f->perm[c] = f->perm[j], f->perm[j] = tmp;
  }
  for (int pi = 0; pi < f->n_cols; pi++) {
    int c = f->perm[pi];
    const int32_t *ord = f->order + (int64_t)c * m;
    const double *xc = f->X + (int64_t)c * f->n;
    if (xc[ord[lo]] == xc[ord[hi - 1]]) continue; /* constant here */
    double lw = 0, ly = 0;
    for (int64_t i = lo; i < hi - 1; i++) {
      int32_t s = ord[i];
      lw += f->w[s], ly += f->w[s] * f->y[s];
      double xa = xc[s], xb = xc[ord[i + 1]];
      if (xa == xb) continue;
      double rw = sw - lw, ry = swy - ly;
      double score = ly * ly / lw + ry * ry / rw;
      if (score > best) {
        best = score, best_f = c;
        best_thr = xa / 2.0 + xb / 2.0;
        if (best_thr == xb || isinf(best_thr)) best_thr = xa;
      }
    }
  }
  if (best_f < 0) return id;
  /* Partition every column's range stably: left block then right block. */
  const double *xb = f->X + (int64_t)best_f * f->n;
  const int32_t *ob = f->order + (int64_t)best_f * m;
  for (int64_t i = lo; i < hi; i++) f->goes_left[ob[i]] = xb[ob[i]] <= best_thr;
  for (int c = 0; c < f->n_cols; c++) {
    int32_t *ord = f->order + (int64_t)c * m;
    int64_t a = lo, nr = 0;
    for (int64_t i = lo; i < hi; i++) {
      if (f->goes_left[ord[i]]) ord[a++] = ord[i];
      else f->tmp[nr++] = ord[i];
    }
    memcpy(ord + a, f->tmp, sizeof *ord * (size_t)nr);
  }
  int64_t mid = lo;
  for (int64_t i = lo; i < hi; i++) mid += f->goes_left[f->order[i]];
  t->nodes[id].feature = best_f;
  t->nodes[id].threshold = best_thr;
  int l = grow(f, t, m, lo, mid, depth + 1);
  if (l < 0) return -1;
  int r = grow(f, t, m, mid, hi, depth + 1);
  if (r < 0) return -1;
  t->nodes[id].left = l;
  t->nodes[id].right = r;
  return id;
}

/* ---- fANOVA: variance decomposition of one tree ------------------------------ */

/* A leaf's box in every encoded column and its value. */
typedef struct fa_leaf {
  double value;
  double frac; /* its share of the whole space's volume */
} fa_leaf_t;

typedef struct fa_boxes {
  int n_cols, n_leaves;
  fa_leaf_t *leaf; /* [n_leaves] */
  double *lo, *hi; /* [n_leaves * n_cols] */
} fa_boxes_t;

static void collect_leaves(const fa_tree_t *t, int node, double *lo, double *hi, int n_cols,
                           const double *blo, const double *bhi, fa_boxes_t *b) {
  const fa_node_t *nd = &t->nodes[node];
  if (nd->feature < 0) {
    int k = b->n_leaves++;
    double frac = 1;
    for (int c = 0; c < n_cols; c++) frac *= (hi[c] - lo[c]) / (bhi[c] - blo[c]);
    b->leaf[k].value = nd->value;
    b->leaf[k].frac = frac;
    memcpy(b->lo + (int64_t)k * n_cols, lo, sizeof *lo * (size_t)n_cols);
    memcpy(b->hi + (int64_t)k * n_cols, hi, sizeof *hi * (size_t)n_cols);
    return;
  }
  int c = nd->feature;
  double save = hi[c];
  if (nd->threshold < hi[c]) hi[c] = nd->threshold;
  collect_leaves(t, nd->left, lo, hi, n_cols, blo, bhi, b);
  hi[c] = save;
  save = lo[c];
  if (nd->threshold > lo[c]) lo[c] = nd->threshold;
  collect_leaves(t, nd->right, lo, hi, n_cols, blo, bhi, b);
  lo[c] = save;
}

/* The sorted distinct cut points of column c: its bounds and the tree's
 * thresholds on it (every leaf edge is one of them). Returns their count
 * (into pts[], room for t->n + 2). */
static int cut_points(const fa_tree_t *t, int c, double blo, double bhi, double *pts) {
  int n = 0;
  pts[n++] = blo;
  pts[n++] = bhi;
  for (int k = 0; k < t->n; k++)
    if (t->nodes[k].feature == c) pts[n++] = t->nodes[k].threshold;
  qsort(pts, (size_t)n, sizeof *pts, cmp_double);
  int u = 0;
  for (int i = 0; i < n; i++)
    if (u == 0 || pts[i] != pts[u - 1]) pts[u++] = pts[i];
  return u;
}

static int find_point(const double *pts, int n, double x) {
  int a = 0, z = n - 1;
  while (a < z) {
    int mid = (a + z) / 2;
    if (pts[mid] < x) a = mid + 1;
    else z = mid;
  }
  return a;
}

#define FA_MAX_CELLS (1 << 16) /* cells of one parameter's cut grid */

/* Variance of the marginal prediction over the columns cols[0..nc) of one
 * parameter (one numeric column, or a categorical's one-hot columns): the
 * prediction averaged over every other column is constant on each cell of
 * the grid of cut points, weighted by the cell's volume. */
static int marginal_variance(const fa_tree_t *t, const fa_boxes_t *b, const int *cols, int nc,
                             const double *blo, const double *bhi, double *var) {
  int L = b->n_leaves, N = b->n_cols;
  double *pts[64];
  int npts[64];
  int64_t ncells = 1;
  int rc = 0;
  memset(pts, 0, sizeof pts);
  for (int j = 0; j < nc; j++) {
    pts[j] = malloc(sizeof(double) * (size_t)(t->n + 2));
    if (pts[j] == NULL) {
      rc = -1;
      goto done;
    }
    npts[j] = cut_points(t, cols[j], blo[cols[j]], bhi[cols[j]], pts[j]);
    ncells *= npts[j] - 1;
    if (ncells > FA_MAX_CELLS) {
      rc = -2;
      goto done;
    }
  }
  double *a = calloc((size_t)ncells + 1, sizeof *a);
  if (a == NULL) {
    rc = -1;
    goto done;
  }
  if (nc == 1) {
    /* one column: a difference array over the cells */
    int c = cols[0];
    for (int k = 0; k < L; k++) {
      double lo = b->lo[(int64_t)k * N + c], hi = b->hi[(int64_t)k * N + c];
      double wf = b->leaf[k].frac / ((hi - lo) / (bhi[c] - blo[c]));
      int i0 = find_point(pts[0], npts[0], lo), i1 = find_point(pts[0], npts[0], hi);
      a[i0] += b->leaf[k].value * wf;
      a[i1] -= b->leaf[k].value * wf;
    }
    for (int64_t i = 1; i < ncells; i++) a[i] += a[i - 1];
  } else {
    /* several columns: each leaf adds to the cells its box covers */
    int i0[64], i1[64], idx[64];
    for (int k = 0; k < L; k++) {
      double sfrac = 1;
      for (int j = 0; j < nc; j++) {
        int c = cols[j];
        double lo = b->lo[(int64_t)k * N + c], hi = b->hi[(int64_t)k * N + c];
        sfrac *= (hi - lo) / (bhi[c] - blo[c]);
        i0[j] = find_point(pts[j], npts[j], lo);
        i1[j] = find_point(pts[j], npts[j], hi);
        idx[j] = i0[j];
      }
      double add = b->leaf[k].value * b->leaf[k].frac / sfrac;
      for (;;) {
        int64_t cell = 0;
        for (int j = 0; j < nc; j++) cell = cell * (npts[j] - 1) + idx[j];
        a[cell] += add;
        int j = nc - 1;
        while (j >= 0 && ++idx[j] == i1[j]) idx[j] = i0[j], j--;
        if (j < 0) break;
      }
    }
  }
  /* volume-weighted mean and variance over the cells */
  double sw = 0, swa = 0;
  int idx[64];
  for (int j = 0; j < nc; j++) idx[j] = 0;
  double *vol = malloc(sizeof *vol * (size_t)ncells);
  if (vol == NULL) {
    free(a);
    rc = -1;
    goto done;
  }
  for (int64_t cell = 0; cell < ncells; cell++) {
    double v = 1;
    for (int j = 0; j < nc; j++) v *= pts[j][idx[j] + 1] - pts[j][idx[j]];
    vol[cell] = v;
    sw += v, swa += v * a[cell];
    for (int j = nc - 1; j >= 0 && ++idx[j] == npts[j] - 1; j--) idx[j] = 0;
  }
  double mean = swa / sw, s2 = 0;
  for (int64_t cell = 0; cell < ncells; cell++) s2 += vol[cell] * (a[cell] - mean) * (a[cell] - mean);
  *var = s2 / sw;
  free(vol);
  free(a);
done:
  for (int j = 0; j < nc; j++) free(pts[j]);
  return rc;
}

static int fanova(const hp_imp_table_t *t, const hp_imp_opts_t *o, const int64_t *rows,
                  int64_t n_rows, const bool *eval, double *out, hp_err_t *err) {
  int np = t->n_params;
  /* Encoded columns: a numeric parameter is one column over [low, high]
   * (raw values, log ones too, as Optuna's transform without log/step);
   * a categorical is one 0/1 column per choice. */
  int n_cols = 0;
  int *first = malloc(sizeof *first * (size_t)(np + 1));
  const hp_dist_t **pd = malloc(sizeof *pd * (size_t)(np + 1));
  if (!first || !pd) {
    free(first);
    free(pd);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  for (int p = 0; p < np; p++) {
    first[p] = n_cols;
    pd[p] = eval[p] ? t->dist[rows[0] * np + p] : NULL;
    if (pd[p] && !hp_dist_single(pd[p])) {
      if (pd[p]->kind == HP_DIST_CAT && pd[p]->n_choices > 64) {
        int nch = pd[p]->n_choices;
        free(first);
        free(pd);
        return hp_err_set(err, HP_EINVAL,
                          "%s: fANOVA takes categoricals of at most 64 choices (it has %d)",
                          t->names[p], nch);
      }
      n_cols += pd[p]->kind == HP_DIST_CAT ? pd[p]->n_choices : 1;
    }
  }
  first[np] = n_cols;
  int rc = 0;
  int64_t n = n_rows;
  double *X = malloc(sizeof *X * (size_t)(n_cols * n + 1));
  double *y = malloc(sizeof *y * (size_t)n);
  double *w = malloc(sizeof *w * (size_t)n);
  double *blo = malloc(sizeof *blo * (size_t)(n_cols + 1));
  double *bhi = malloc(sizeof *bhi * (size_t)(n_cols + 1));
  double *sum = calloc((size_t)np + 1, sizeof *sum);
  int32_t *sorted = malloc(sizeof *sorted * (size_t)(n_cols * n + 1));
  fa_fit_t f = {0};
  f.order = malloc(sizeof *f.order * (size_t)(n_cols * n + 1));
  f.tmp = malloc(sizeof *f.tmp * (size_t)n);
  f.goes_left = malloc((size_t)n);
  f.perm = malloc(sizeof *f.perm * (size_t)(n_cols + 1));
  fa_tree_t tree = {0};
  fa_boxes_t bx = {0};
  double *lo = malloc(sizeof *lo * (size_t)(n_cols + 1)), *hi = malloc(sizeof *hi * (size_t)(n_cols + 1));
  int64_t n_trees_used = 0;
  if (!X || !y || !w || !blo || !bhi || !sum || !sorted || !f.order || !f.tmp || !f.goes_left ||
      !f.perm || !lo || !hi) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  for (int p = 0; p < np; p++) {
    if (first[p + 1] == first[p]) continue;
    const hp_dist_t *d = pd[p];
    for (int c = first[p]; c < first[p + 1]; c++) {
      blo[c] = d->kind == HP_DIST_CAT ? 0 : d->low;
      bhi[c] = d->kind == HP_DIST_CAT ? 1 : d->high;
    }
    for (int64_t r = 0; r < n; r++) {
      double v = t->x[rows[r] * np + p];
      if (d->kind == HP_DIST_CAT)
        for (int c = first[p]; c < first[p + 1]; c++) X[c * n + r] = (c - first[p]) == (int)v;
      else X[first[p] * n + r] = v;
    }
  }
  for (int64_t r = 0; r < n; r++) y[r] = t->y[rows[r]];
  /* Each column's rows sorted once; a tree's order keeps its bootstrap's rows. */
  for (int c = 0; c < n_cols; c++) {
    int32_t *s = sorted + (int64_t)c * n;
    for (int64_t r = 0; r < n; r++) s[r] = (int32_t)r;
    /* a stable bottom-up merge sort keyed by the column */
    const double *xc = X + (int64_t)c * n;
    int32_t *buf = f.tmp;
    for (int64_t width = 1; width < n; width *= 2) {
      for (int64_t i = 0; i < n; i += 2 * width) {
        int64_t a = i, mid = i + width < n ? i + width : n, z = i + 2 * width < n ? i + 2 * width : n;
        int64_t p1 = a, p2 = mid, k = a;
        while (p1 < mid && p2 < z) buf[k++] = xc[s[p2]] < xc[s[p1]] ? s[p2++] : s[p1++];
        while (p1 < mid) buf[k++] = s[p1++];
        while (p2 < z) buf[k++] = s[p2++];
      }
      memcpy(s, buf, sizeof *s * (size_t)n);
    }
  }
  f.n_cols = n_cols;
  f.n = n;
  f.X = X;
  f.y = y;
  f.w = w;
  f.max_depth = o->max_depth;
  hp_rng_seed(&f.rng, o->seed);
  bx.n_cols = n_cols;
  for (int tr = 0; tr < o->n_trees; tr++) {
    /* bootstrap: n draws with replacement; a row drawn k times weighs k */
    memset(w, 0, sizeof *w * (size_t)n);
    for (int64_t i = 0; i < n; i++) w[hp_rng_below(&f.rng, (uint64_t)n)] += 1;
    /* the drawn rows, in each column's order (node ranges have stride m) */
    int64_t m = 0;
    for (int64_t r = 0; r < n; r++) m += w[r] > 0;
    for (int c = 0; c < n_cols; c++) {
      const int32_t *s = sorted + (int64_t)c * n;
      int32_t *ord = f.order + (int64_t)c * m;
      int64_t k = 0;
      for (int64_t r = 0; r < n; r++)
        if (w[s[r]] > 0) ord[k++] = s[r];
    }
    if (n_cols == 0) continue;
    tree.n = 0;
    if (grow(&f, &tree, m, 0, m, 0) < 0) {
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      goto done;
    }
    /* leaves and their boxes */
    int n_leaves = (tree.n + 1) / 2;
    fa_leaf_t *leaf = realloc(bx.leaf, sizeof *leaf * (size_t)n_leaves);
    if (leaf) bx.leaf = leaf;
    double *blo2 = leaf ? realloc(bx.lo, sizeof *blo2 * (size_t)(n_leaves * n_cols + 1)) : NULL;
    if (blo2) bx.lo = blo2;
    double *bhi2 = blo2 ? realloc(bx.hi, sizeof *bhi2 * (size_t)(n_leaves * n_cols + 1)) : NULL;
    if (bhi2) bx.hi = bhi2;
    if (!bhi2) {
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      goto done;
    }
    bx.n_leaves = 0;
    memcpy(lo, blo, sizeof *lo * (size_t)n_cols);
    memcpy(hi, bhi, sizeof *hi * (size_t)n_cols);
    collect_leaves(&tree, 0, lo, hi, n_cols, blo, bhi, &bx);
    /* the tree's total variance over the space */
    double mean = 0, var = 0;
    for (int k = 0; k < bx.n_leaves; k++) mean += bx.leaf[k].frac * bx.leaf[k].value;
    for (int k = 0; k < bx.n_leaves; k++)
      var += bx.leaf[k].frac * (bx.leaf[k].value - mean) * (bx.leaf[k].value - mean);
    if (!(var > 0)) continue; /* Optuna leaves such trees out */
    n_trees_used++;
    for (int p = 0; p < np; p++) {
      int nc = first[p + 1] - first[p];
      if (nc == 0) continue;
      int cols[64];
      for (int j = 0; j < nc; j++) cols[j] = first[p] + j;
      double mv = 0;
      int mrc = marginal_variance(&tree, &bx, cols, nc, blo, bhi, &mv);
      if (mrc == -1) {
        rc = hp_err_set(err, HP_ENOMEM, "out of memory");
        goto done;
      }
      if (mrc == -2) {
        rc = hp_err_set(err, HP_EINVAL, "%s: too many cells for fANOVA's marginal",
                        t->names[p]);
        goto done;
      }
      sum[p] += (mv > 0 ? mv : 0) / var;
    }
  }
  for (int p = 0; p < np; p++)
    if (eval[p]) out[p] = n_trees_used > 0 ? sum[p] / (double)n_trees_used : 0;
done:
  free(first);
  free(pd);
  free(X);
  free(y);
  free(w);
  free(blo);
  free(bhi);
  free(sum);
  free(sorted);
  free(f.order);
  free(f.tmp);
  free(f.goes_left);
  free(f.perm);
  free(tree.nodes);
  free(bx.leaf);
  free(bx.lo);
  free(bx.hi);
  free(lo);
  free(hi);
  return rc;
}

/* ---- the entry point ----------------------------------------------------------- */

int hp_importance(const hp_imp_table_t *t, const hp_imp_opts_t *o, double *out,
                  hp_imp_skip_t *skip, int64_t *n_used, hp_err_t *err) {
  int np = t->n_params;
  if (n_used) *n_used = 0;
  if (np <= 0) return 0;
  if (o->evaluator == HP_IMP_PED_ANOVA && !(o->target_quantile > 0 && o->target_quantile < 1))
    return hp_err_set(err, HP_EINVAL, "target_quantile: expected a number in (0, 1), got %g",
                      o->target_quantile);
  if (o->evaluator == HP_IMP_FANOVA && (o->n_trees < 1 || o->max_depth < 1))
    return hp_err_set(err, HP_EINVAL, "n_trees and max_depth: expected at least 1");
  if (t->n_trials > INT32_MAX)
    return hp_err_set(err, HP_EINVAL, "more than %d trials", INT32_MAX);
  for (int64_t r = 0; r < t->n_trials; r++)
    for (int p = 0; p < np; p++) {
      const hp_dist_t *d = t->dist[r * np + p];
      if (d != NULL && !hp_dist_contains(d, t->x[r * np + p]))
        return hp_err_set(err, HP_EINVAL, "%s: trial row %lld has a value outside its distribution",
                          t->names[p], (long long)r);
    }
  int64_t *rows = malloc(sizeof *rows * (size_t)(t->n_trials + 1));
  bool *eval = malloc((size_t)np);
  if (!rows || !eval) {
    free(rows);
    free(eval);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  /* fANOVA: Optuna's intersection search space (every complete trial has
   * the parameter with one distribution); PED-ANOVA takes every parameter. */
  for (int p = 0; p < np; p++) {
    eval[p] = true;
    if (o->evaluator == HP_IMP_FANOVA)
      for (int64_t r = 0; r < t->n_trials && eval[p]; r++) {
        const hp_dist_t *d = t->dist[r * np + p], *d0 = t->dist[p];
        eval[p] = d != NULL && (d == d0 || hp_dist_equal(d, d0));
      }
    if (skip) skip[p] = eval[p] ? HP_IMP_EVALUATED : HP_IMP_CONDITIONAL;
    out[p] = eval[p] ? 0 : NAN;
  }
  int64_t n_rows = 0;
  for (int64_t r = 0; r < t->n_trials; r++) {
    if (!isfinite(t->y[r])) continue;
    bool has_all = true;
    for (int p = 0; p < np && o->evaluator == HP_IMP_FANOVA; p++)
      if (eval[p] && isnan(t->x[r * np + p])) has_all = false;
    if (has_all) rows[n_rows++] = r;
  }
  if (n_used) *n_used = n_rows;
  int rc = 0;
  if (n_rows > 1) {
    if (o->evaluator == HP_IMP_FANOVA) rc = fanova(t, o, rows, n_rows, eval, out, err);
    else rc = ped_anova(t, o, rows, n_rows, out, err);
  }
  if (rc == 0) {
    /* normalized to sum 1; all equal when every one is 0 (Optuna) */
    double s = 0;
    int k = 0;
    for (int p = 0; p < np; p++)
      if (eval[p]) s += out[p], k++;
    for (int p = 0; p < np; p++)
      if (eval[p]) out[p] = s > 0 ? out[p] / s : 1.0 / k;
  }
  free(rows);
  free(eval);
  return rc;
}

/* Grid sampler: the Cartesian product of each parameter's grid list (space
 * order, last parameter varies fastest). Unlike Optuna, every point is handed
 * out once: a suggestion claims its point, a final state marks it done, and
 * suggest says HP_EEXHAUSTED when no free point is left. Claims and done
 * marks are rebuilt from the replayed history after a restart. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

void hp_grid_free(hp_grid_t *g) {
  free(g->state);
  free(g->free_ids);
  free(g->free_pos);
  free(g->ext);
  memset(g, 0, sizeof *g);
}

/* Digit values of parameter p in the extended radix: its grid values, and
 * for a conditional parameter one more, n_grid, for "absent". */
static int64_t radix(const hp_param_t *pa) { return pa->n_grid + (pa->n_cond > 0); }

/* Walks the valid points of a conditional space in ascending extended id
 * (space order, last parameter fastest; parents come before children, so
 * each parameter's activity is known when it is reached). Counts them, and
 * stores their ids when ext is non-NULL; stops counting past limit. */
static void walk_valid(const hp_sampler_t *s, int p, int64_t id, double *params, int64_t *n,
                       int64_t *ext, int64_t limit) {
  if (*n > limit) return;
  if (p == s->d) {
    if (ext != NULL) ext[*n] = id;
    (*n)++;
    return;
  }
  const hp_param_t *pa = &s->space->params[p];
  int64_t r = radix(pa);
  if (!hp_space_active(s->space, p, params)) {
    params[p] = NAN;
    walk_valid(s, p + 1, id * r + pa->n_grid, params, n, ext, limit);
    return;
  }
  for (int k = 0; k < pa->n_grid && *n <= limit; k++) {
    params[p] = pa->grid[k];
    walk_valid(s, p + 1, id * r + k, params, n, ext, limit);
  }
}

static int conditional_points(hp_sampler_t *s, hp_err_t *err) {
  hp_grid_t *g = &s->grid;
  double ext_total = 1;
  for (int p = 0; p < s->d; p++) ext_total *= (double)radix(&s->space->params[p]);
  if (ext_total > 0x1p62)
    return hp_err_set(err, HP_ETOOBIG, "grid sampler: more than %u points", HP_SAMPLER_GRID_MAX);
  double *params = malloc((size_t)s->d * sizeof *params);
  if (params == NULL) return hp_err_set(err, HP_ENOMEM, "grid sampler: out of memory");
  int64_t n = 0;
  walk_valid(s, 0, 0, params, &n, NULL, HP_SAMPLER_GRID_MAX);
  if (n > HP_SAMPLER_GRID_MAX) {
    free(params);
    return hp_err_set(err, HP_ETOOBIG, "grid sampler: more than %u points", HP_SAMPLER_GRID_MAX);
  }
  g->ext = malloc((size_t)(n > 0 ? n : 1) * sizeof *g->ext);
  if (g->ext == NULL) {
    free(params);
    return hp_err_set(err, HP_ENOMEM, "grid sampler: out of memory");
  }
  g->total = 0;
  walk_valid(s, 0, 0, params, &g->total, g->ext, HP_SAMPLER_GRID_MAX);
  free(params);
  return 0;
}

int hp_grid_init(hp_sampler_t *s, hp_err_t *err) {
  hp_grid_t *g = &s->grid;
  double total = 1;
  for (int p = 0; p < s->d; p++) {
    const hp_param_t *pa = &s->space->params[p];
    if (pa->grid == NULL || pa->n_grid <= 0)
      return hp_err_set(err, HP_EINVAL,
                        "space.%s: the grid sampler needs a \"grid\" list for this parameter "
                        "(a float without step, or too many points)",
                        pa->name);
    total *= pa->n_grid;
    if (total > HP_SAMPLER_GRID_MAX && !s->space->conditional)
      return hp_err_set(err, HP_ETOOBIG, "grid sampler: more than %u points", HP_SAMPLER_GRID_MAX);
  }
  int rc = s->space->conditional ? conditional_points(s, err) : 0;
  if (rc != 0) return rc;
  if (!s->space->conditional) g->total = (int64_t)total;
  g->state = calloc((size_t)g->total, 1);
  g->free_ids = malloc((size_t)g->total * sizeof *g->free_ids);
  g->free_pos = malloc((size_t)g->total * sizeof *g->free_pos);
  if (!g->state || !g->free_ids || !g->free_pos) {
    hp_grid_free(g);
    return hp_err_set(err, HP_ENOMEM, "grid sampler: out of memory");
  }
  for (int64_t i = 0; i < g->total; i++) {
    g->free_ids[i] = (uint32_t)i;
    g->free_pos[i] = (int32_t)i;
  }
  g->n_free = g->total;
  return 0;
}

/* Index of v in a grid list: exact match first, then the closest within a
 * relative 1e-12 (values that went through text round trips). */
static int grid_index(const double *list, int n, double v) {
  int best = -1;
  double bd = INFINITY;
  for (int i = 0; i < n; i++) {
    if (list[i] == v) return i;
    double dd = fabs(list[i] - v);
    if (dd < bd) bd = dd, best = i;
  }
  if (best >= 0 && bd <= 1e-12 * fmax(1.0, fabs(v))) return best;
  return -1;
}

int64_t hp_grid_id_of(const hp_sampler_t *s, const double *params) {
  int64_t id = 0;
  for (int p = 0; p < s->d; p++) {
    const hp_param_t *pa = &s->space->params[p];
    int k;
    if (isnan(params[p])) {
      if (pa->n_cond == 0) return -1;
      k = pa->n_grid; /* absent; only a valid point if it is inactive */
    } else if ((k = grid_index(pa->grid, pa->n_grid, params[p])) < 0) {
      return -1;
    }
    id = id * radix(pa) + k;
  }
  const hp_grid_t *g = &s->grid;
  if (g->ext == NULL) return id;
  int64_t lo = 0, hi = g->total; /* binary search among the valid points */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (g->ext[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < g->total && g->ext[lo] == id ? lo : -1;
}

static void free_list_remove(hp_grid_t *g, int64_t id) {
  int32_t pos = g->free_pos[id];
  if (pos < 0) return;
  uint32_t last = g->free_ids[g->n_free - 1];
  g->free_ids[pos] = last;
  g->free_pos[last] = pos;
  g->free_pos[id] = -1;
  g->n_free--;
}

static void free_list_add(hp_grid_t *g, int64_t id) {
  if (g->free_pos[id] >= 0) return;
  g->free_ids[g->n_free] = (uint32_t)id;
  g->free_pos[id] = (int32_t)g->n_free;
  g->n_free++;
}

void hp_grid_claim(hp_sampler_t *s, int64_t id) {
  hp_grid_t *g = &s->grid;
  if (g->state[id] != HP_GRID_FREE) return;
  g->state[id] = HP_GRID_CLAIMED;
  free_list_remove(g, id);
}

void hp_grid_release(hp_sampler_t *s, int64_t id, int64_t number) {
  hp_grid_t *g = &s->grid;
  if (g->state[id] != HP_GRID_CLAIMED) return;
  /* Another running trial may hold the same point (replayed duplicates). */
  for (int64_t i = 0; i < s->n_run; i++)
    if (s->run[i].grid_id == id && s->run[i].number != number) return;
  g->state[id] = HP_GRID_FREE;
  free_list_add(g, id);
}

void hp_grid_done(hp_sampler_t *s, int64_t id) {
  hp_grid_t *g = &s->grid;
  if (g->state[id] == HP_GRID_DONE) return;
  free_list_remove(g, id);
  g->state[id] = HP_GRID_DONE;
  g->n_done++;
}

int hp_grid_suggest(hp_sampler_t *s, hp_rng_t *rng, double *out, int64_t *id_out, hp_err_t *err) {
  hp_grid_t *g = &s->grid;
  if (g->n_free == 0)
    return hp_err_set(err, HP_EEXHAUSTED, "grid exhausted: %lld of %lld point%s done, %lld running",
                      (long long)g->n_done, (long long)g->total, hp_plural(g->total),
                      (long long)s->n_run);
  int64_t id;
  if (s->opts.grid_shuffle) {
    id = g->free_ids[hp_rng_below(rng, (uint64_t)g->n_free)];
  } else {
    /* Smallest free id: the free list is unordered, so scan it (n_free is
     * what is left to hand out; ordered mode is for small grids). */
    id = g->free_ids[0];
    for (int64_t i = 1; i < g->n_free; i++)
      if (g->free_ids[i] < id) id = g->free_ids[i];
  }
  int64_t rest = g->ext != NULL ? g->ext[id] : id;
  for (int p = s->d - 1; p >= 0; p--) {
    const hp_param_t *pa = &s->space->params[p];
    int64_t k = rest % radix(pa);
    out[p] = k < pa->n_grid ? pa->grid[k] : NAN;
    rest /= radix(pa);
  }
  hp_grid_claim(s, id);
  *id_out = id;
  return 0;
}

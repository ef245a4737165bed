/* Sampler dispatch and the incremental history every sampler shares:
 * options, create/free, tell/running/release bookkeeping (kept sorted by
 * trial number so TPE never rebuilds it), and suggest, which seeds one RNG
 * stream per (seed, trial number) and hands over to random, grid or TPE. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "sampler_impl.h"

#define NUMBER_MAX 2147483647LL

/* ---- options ------------------------------------------------------------ */

void hp_sampler_opts_default(hp_sampler_opts_t *o, hp_sampler_kind_t kind) {
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->seed = 0;
  o->n_startup_trials = 10;
  o->n_ei_candidates = 24;
  o->gamma_ratio = 0.1;
  o->gamma_max = 25;
  o->consider_prior = true;
  o->prior_weight = 1.0;
  o->consider_magic_clip = true;
  o->consider_endpoints = false;
  /* Optuna 5's defaults (docs/search.md, "Defaults"): multivariate TPE with
   * the constant liar. */
  o->multivariate = true;
  o->constant_liar = true;
  o->group = true;
  o->gp_n_candidates = 2048;
  o->gp_deterministic = false;
  o->auto_crossover = HP_SAMPLER_AUTO_CROSSOVER;
  o->grid_shuffle = true;
  o->grid_retry_failed = false;
  o->n_objectives = 1;
  o->population_size = 50;
  o->mutation_prob = NAN;
  o->crossover_prob = 0.9;
  o->swapping_prob = 0.5;
}

const char *hp_sampler_kind_name(hp_sampler_kind_t kind) {
  switch (kind) {
    case HP_SAMPLER_RANDOM: return "random";
    case HP_SAMPLER_GRID: return "grid";
    case HP_SAMPLER_TPE: return "tpe";
    case HP_SAMPLER_GP: return "gp";
    case HP_SAMPLER_AUTO: return "auto";
    case HP_SAMPLER_NSGA2: return "nsga2";
  }
  return "?";
}

static int kind_of(const char *name, hp_sampler_kind_t *kind, hp_err_t *err) {
  if (strcmp(name, "random") == 0)
    *kind = HP_SAMPLER_RANDOM;
  else if (strcmp(name, "grid") == 0)
    *kind = HP_SAMPLER_GRID;
  else if (strcmp(name, "tpe") == 0)
    *kind = HP_SAMPLER_TPE;
  else if (strcmp(name, "gp") == 0)
    *kind = HP_SAMPLER_GP;
  else if (strcmp(name, "auto") == 0)
    *kind = HP_SAMPLER_AUTO;
  else if (strcmp(name, "nsga2") == 0)
    *kind = HP_SAMPLER_NSGA2;
  else
    return hp_err_set(err, HP_EINVAL,
                      "sampler.type: unknown sampler '%s' (random, grid, tpe, gp, auto, nsga2)",
                      name);
  return 0;
}

int hp_sampler_opts_parse(const cJSON *v, hp_sampler_opts_t *o, hp_err_t *err) {
  hp_sampler_kind_t kind = HP_SAMPLER_RANDOM;
  int rc;
  if (cJSON_IsString(v)) {
    if ((rc = kind_of(v->valuestring, &kind, err)) != 0) return rc;
    hp_sampler_opts_default(o, kind);
    return 0;
  }
  if (!cJSON_IsObject(v))
    return hp_err_set(err, HP_EINVAL, "sampler: expected a string or an object, got %s",
                      hp_json_type_name(v));
  const char *w = "sampler";
  const char *type = NULL;
  if ((rc = hp_json_get_string(v, "type", true, &type, w, err)) != 0) return rc;
  if ((rc = kind_of(type, &kind, err)) != 0) return rc;
  hp_sampler_opts_default(o, kind);
  static const char *const common_keys[] = {"type", "seed", NULL};
  static const char *const grid_keys[] = {"type", "seed", "shuffle", "retry_failed", NULL};
  static const char *const tpe_keys[] = {"type",          "seed",
                                         "n_startup_trials", "n_ei_candidates",
                                         "gamma_ratio",   "gamma_max",
                                         "consider_prior", "prior_weight",
                                         "consider_magic_clip", "consider_endpoints",
                                         "multivariate",  "constant_liar",
                                         "group",         "optuna31_density", NULL};
  static const char *const gp_keys[] = {"type", "seed", "n_startup_trials", "n_candidates",
                                        "deterministic_objective", NULL};
  static const char *const auto_keys[] = {"type", "seed", "crossover", NULL};
  static const char *const nsga2_keys[] = {"type", "seed", "population_size", "mutation_prob",
                                           "crossover_prob", "swapping_prob", NULL};
  const char *const *keys = kind == HP_SAMPLER_TPE     ? tpe_keys
                            : kind == HP_SAMPLER_GRID  ? grid_keys
                            : kind == HP_SAMPLER_GP    ? gp_keys
                            : kind == HP_SAMPLER_AUTO  ? auto_keys
                            : kind == HP_SAMPLER_NSGA2 ? nsga2_keys
                                                       : common_keys;
  if ((rc = hp_json_check_keys(v, keys, w, err)) != 0) return rc;
  long long seed = 0;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "seed");
  if (s != NULL) {
    if ((rc = hp_json_get_int(v, "seed", true, 0, 9007199254740991LL, &seed, w, err)) != 0)
      return rc;
    o->seed = (uint64_t)seed;
  }
  if (kind == HP_SAMPLER_GRID) {
    if ((rc = hp_json_get_bool(v, "shuffle", false, &o->grid_shuffle, w, err)) != 0) return rc;
    if ((rc = hp_json_get_bool(v, "retry_failed", false, &o->grid_retry_failed, w, err)) != 0)
      return rc;
  }
  if (kind == HP_SAMPLER_GP) {
    long long t = o->n_startup_trials;
    if ((rc = hp_json_get_int(v, "n_startup_trials", false, 0, 1000000, &t, w, err)) != 0)
      return rc;
    o->n_startup_trials = (int)t;
    t = o->gp_n_candidates;
    if ((rc = hp_json_get_int(v, "n_candidates", false, 1, 1000000, &t, w, err)) != 0) return rc;
    o->gp_n_candidates = (int)t;
    if ((rc = hp_json_get_bool(v, "deterministic_objective", false, &o->gp_deterministic, w,
                               err)) != 0)
      return rc;
  }
  if (kind == HP_SAMPLER_AUTO) {
    long long t = o->auto_crossover;
    if ((rc = hp_json_get_int(v, "crossover", false, 0, 1000000000, &t, w, err)) != 0) return rc;
    o->auto_crossover = (int)t;
  }
  if (kind == HP_SAMPLER_NSGA2) {
    long long t = o->population_size;
    if ((rc = hp_json_get_int(v, "population_size", false, 2, 1000000, &t, w, err)) != 0)
      return rc;
    o->population_size = (int)t;
    static const char *const probs[] = {"mutation_prob", "crossover_prob", "swapping_prob"};
    double *dst[] = {&o->mutation_prob, &o->crossover_prob, &o->swapping_prob};
    for (int i = 0; i < 3; i++) {
      if (cJSON_GetObjectItemCaseSensitive(v, probs[i]) == NULL) continue;
      if ((rc = hp_json_get_number(v, probs[i], false, dst[i], w, err)) != 0) return rc;
      if (!(*dst[i] >= 0 && *dst[i] <= 1))
        return hp_err_set(err, HP_EINVAL, "sampler.%s: must be in [0, 1] (got %g)", probs[i],
                          *dst[i]);
    }
  }
  if (kind == HP_SAMPLER_TPE) {
    long long t = o->n_startup_trials;
    if ((rc = hp_json_get_int(v, "n_startup_trials", false, 0, 1000000, &t, w, err)) != 0)
      return rc;
    o->n_startup_trials = (int)t;
    t = o->n_ei_candidates;
    if ((rc = hp_json_get_int(v, "n_ei_candidates", false, 1, 100000, &t, w, err)) != 0)
      return rc;
    o->n_ei_candidates = (int)t;
    if ((rc = hp_json_get_number(v, "gamma_ratio", false, &o->gamma_ratio, w, err)) != 0)
      return rc;
    if (!(o->gamma_ratio > 0 && o->gamma_ratio <= 1))
      return hp_err_set(err, HP_EINVAL, "sampler.gamma_ratio: must be in (0, 1] (got %g)",
                        o->gamma_ratio);
    t = o->gamma_max;
    if ((rc = hp_json_get_int(v, "gamma_max", false, 1, 1000000, &t, w, err)) != 0) return rc;
    o->gamma_max = (int)t;
    if ((rc = hp_json_get_bool(v, "consider_prior", false, &o->consider_prior, w, err)) != 0)
      return rc;
    if ((rc = hp_json_get_number(v, "prior_weight", false, &o->prior_weight, w, err)) != 0)
      return rc;
    if (!(o->prior_weight > 0))
      return hp_err_set(err, HP_EINVAL, "sampler.prior_weight: must be > 0 (got %g)",
                        o->prior_weight);
    if ((rc = hp_json_get_bool(v, "consider_magic_clip", false, &o->consider_magic_clip, w,
                               err)) != 0)
      return rc;
    if ((rc = hp_json_get_bool(v, "consider_endpoints", false, &o->consider_endpoints, w,
                               err)) != 0)
      return rc;
    if ((rc = hp_json_get_bool(v, "multivariate", false, &o->multivariate, w, err)) != 0)
      return rc;
    if ((rc = hp_json_get_bool(v, "constant_liar", false, &o->constant_liar, w, err)) != 0)
      return rc;
    if ((rc = hp_json_get_bool(v, "group", false, &o->group, w, err)) != 0) return rc;
    if ((rc = hp_json_get_bool(v, "optuna31_density", false, &o->optuna31_density, w, err)) != 0)
      return rc;
  }
  return 0;
}

/* ---- transformed space -------------------------------------------------- */

void hp_tparam_init(hp_tparam_t *tp, const hp_dist_t *d) {
  memset(tp, 0, sizeof *tp);
  if (hp_dist_single(d)) {
    tp->kind = HP_T_SINGLE;
    return;
  }
  switch (d->kind) {
    case HP_DIST_CAT:
      tp->kind = HP_T_CAT;
      tp->k = d->n_choices;
      break;
    case HP_DIST_FLOAT:
      if (d->log) {
        tp->kind = HP_T_CONT;
        tp->log = true;
        tp->lo = log(d->low);
        tp->hi = log(d->high);
      } else if (d->step > 0) {
        tp->kind = HP_T_BIN;
        tp->q = d->step;
        tp->lo = d->low - 0.5 * d->step;
        tp->hi = d->high + 0.5 * d->step;
      } else {
        tp->kind = HP_T_CONT;
        tp->lo = d->low;
        tp->hi = d->high;
      }
      break;
    case HP_DIST_INT:
      if (d->log) {
        tp->kind = HP_T_CONT;
        tp->log = true;
        tp->lo = log(d->low - 0.5);
        tp->hi = log(d->high + 0.5);
      } else {
        tp->kind = HP_T_BIN;
        tp->q = d->step;
        tp->lo = d->low - 0.5 * d->step;
        tp->hi = d->high + 0.5 * d->step;
      }
      break;
  }
}

double hp_tparam_fwd(const hp_tparam_t *tp, double x) { return tp->log ? log(x) : x; }

double hp_tparam_back(const hp_tparam_t *tp, const hp_dist_t *d, double t) {
  double x;
  switch (d->kind) {
    case HP_DIST_CAT:
      x = t;
      break;
    case HP_DIST_FLOAT:
      if (d->log)
        x = exp(t);
      else if (d->step > 0)
        x = nearbyint((t - d->low) / d->step) * d->step + d->low;
      else
        x = t;
      break;
    case HP_DIST_INT:
    default:
      if (d->log)
        x = nearbyint(exp(t));
      else
        x = nearbyint((t - d->low) / d->step) * d->step + d->low;
      break;
  }
  (void)tp;
  if (d->kind != HP_DIST_CAT) x = fmin(fmax(x, d->low), d->high);
  return x;
}

/* ---- create / free ------------------------------------------------------ */

static void hist_free(hp_hist_t *h, int d) {
  free(h->number);
  free(h->key);
  free(h->val);
  free(h->mv);
  free(h->viol);
  free(h->fin);
  if (h->x)
    for (int p = 0; p < d; p++) free(h->x[p]);
  free(h->x);
  if (h->sorted)
    for (int p = 0; p < d; p++) {
      free(h->sorted[p].tv);
      free(h->sorted[p].number);
    }
  free(h->sorted);
  free(h->n_missing);
  free(h->presence);
  memset(h, 0, sizeof *h);
}

void hp_sampler_free(hp_sampler_t *s) {
  if (s == NULL) return;
  hist_free(&s->hist, s->d);
  for (int64_t i = 0; i < s->n_run; i++) free(s->run[i].params);
  free(s->run);
  free(s->seen);
  free(s->tp);
  hp_grid_free(&s->grid);
  hp_tpe_ws_free(&s->ws);
  hp_gp_free(s->gp);
  hp_nsga2_cache_free(&s->nsga2);
  free(s);
}

int hp_sampler_create(const hp_space_t *space, const hp_sampler_opts_t *opts, hp_sampler_t **out,
                      hp_err_t *err) {
  *out = NULL;
  if (space == NULL || space->n <= 0) return hp_err_set(err, HP_EINVAL, "sampler: empty space");
  if (opts->n_objectives < 1 || opts->n_objectives > HP_SAMPLER_MAX_OBJECTIVES)
    return hp_err_set(err, HP_EINVAL, "sampler: %d objectives (1..%d)", opts->n_objectives,
                      HP_SAMPLER_MAX_OBJECTIVES);
  if (opts->kind == HP_SAMPLER_NSGA2 &&
      (opts->population_size < 2 || !(opts->crossover_prob >= 0 && opts->crossover_prob <= 1) ||
       !(opts->swapping_prob >= 0 && opts->swapping_prob <= 1) ||
       (!isnan(opts->mutation_prob) && !(opts->mutation_prob >= 0 && opts->mutation_prob <= 1))))
    return hp_err_set(err, HP_EINVAL, "sampler: invalid NSGA-II options");
  if ((opts->kind == HP_SAMPLER_GP || opts->kind == HP_SAMPLER_AUTO) && opts->n_objectives > 1)
    return hp_err_set(err, HP_EINVAL,
                      "sampler: the %s sampler has one objective; with several directions use "
                      "\"tpe\" or \"nsga2\"", opts->kind == HP_SAMPLER_GP ? "gp" : "auto");
  /* The GP models every parameter in every trial: a conditional space is
   * refused here (study.create names the sampler); "auto" uses TPE there. */
  if (opts->kind == HP_SAMPLER_GP && space->conditional)
    return hp_err_set(err, HP_EINVAL,
                      "sampler: the gp sampler does not support conditional parameters "
                      "(\"when\"); use \"tpe\" or \"auto\" (which picks TPE for them)");
  if ((opts->kind == HP_SAMPLER_GP || opts->kind == HP_SAMPLER_AUTO) &&
      (opts->gp_n_candidates < 1 || opts->n_startup_trials < 0 || opts->auto_crossover < 0))
    return hp_err_set(err, HP_EINVAL, "sampler: invalid GP options");
  if ((opts->kind == HP_SAMPLER_TPE || opts->kind == HP_SAMPLER_AUTO) &&
      (opts->n_ei_candidates < 1 || opts->gamma_max < 1 || !(opts->gamma_ratio > 0) ||
       (opts->consider_prior && !(opts->prior_weight > 0)) || opts->n_startup_trials < 0))
    return hp_err_set(err, HP_EINVAL, "sampler: invalid TPE options");
  hp_sampler_t *s = calloc(1, sizeof *s);
  if (s == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  s->space = space;
  s->opts = *opts;
  s->d = space->n;
  s->last_by = "";
  s->m = opts->n_objectives;
  int rc = 0;
  s->tp = calloc((size_t)s->d, sizeof *s->tp);
  s->hist.x = calloc((size_t)s->d, sizeof *s->hist.x);
  s->hist.sorted = calloc((size_t)s->d, sizeof *s->hist.sorted);
  s->hist.n_missing = calloc((size_t)s->d, sizeof *s->hist.n_missing);
  s->hist.presence = calloc((size_t)s->d, sizeof *s->hist.presence);
  if (!s->tp || !s->hist.x || !s->hist.sorted || !s->hist.n_missing || !s->hist.presence) {
    rc = hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    goto fail;
  }
  for (int p = 0; p < s->d; p++) {
    hp_tparam_init(&s->tp[p], &space->params[p].dist);
    s->tp[p].density31 = opts->optuna31_density;
  }
  if (opts->kind == HP_SAMPLER_GRID && (rc = hp_grid_init(s, err)) != 0) goto fail;
  *out = s;
  return 0;
fail:
  hp_sampler_free(s);
  return rc;
}

/* ---- bookkeeping -------------------------------------------------------- */

static int seen_reserve(hp_sampler_t *s, int64_t number) {
  if (number < s->seen_cap) return 0;
  int64_t cap = s->seen_cap ? s->seen_cap : 256;
  while (cap <= number) cap *= 2;
  uint8_t *p = realloc(s->seen, (size_t)cap);
  if (p == NULL) return HP_ENOMEM;
  memset(p + s->seen_cap, 0, (size_t)(cap - s->seen_cap));
  s->seen = p;
  s->seen_cap = cap;
  return 0;
}

static int check_number(hp_sampler_t *s, int64_t number, hp_err_t *err) {
  if (number < 0 || number > NUMBER_MAX)
    return hp_err_set(err, HP_EINVAL, "trial number %lld out of range [0, 2^31)",
                      (long long)number);
  if (seen_reserve(s, number) != 0) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  return 0;
}

static int64_t run_find(const hp_sampler_t *s, int64_t number) {
  for (int64_t i = 0; i < s->n_run; i++)
    if (s->run[i].number == number) return i;
  return -1;
}

static void run_remove(hp_sampler_t *s, int64_t i) {
  free(s->run[i].params);
  /* Keep the list in number order: constant liar merges it chronologically. */
  memmove(&s->run[i], &s->run[i + 1], (size_t)(s->n_run - i - 1) * sizeof *s->run);
  s->n_run--;
  s->st.n_running = s->n_run;
}

/* Adds (or replaces) a running entry; values outside the distribution become NaN. */
static int run_add(hp_sampler_t *s, int64_t number, const double *params, int64_t grid_id,
                   hp_err_t *err) {
  int64_t i = run_find(s, number);
  if (i < 0) {
    if (s->n_run == s->cap_run) {
      int64_t cap = s->cap_run ? 2 * s->cap_run : 16;
      hp_run_t *p = realloc(s->run, (size_t)cap * sizeof *p);
      if (p == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
      s->run = p;
      s->cap_run = cap;
    }
    double *v = malloc((size_t)s->d * sizeof *v);
    if (v == NULL) return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
    i = s->n_run;
    while (i > 0 && s->run[i - 1].number > number) i--;
    memmove(&s->run[i + 1], &s->run[i], (size_t)(s->n_run - i) * sizeof *s->run);
    s->run[i].params = v;
    s->run[i].number = (int32_t)number;
    s->n_run++;
    s->st.n_running = s->n_run;
  }
  for (int p = 0; p < s->d; p++)
    s->run[i].params[p] =
        hp_dist_contains(&s->space->params[p].dist, params[p]) ? params[p] : NAN;
  s->run[i].grid_id = grid_id;
  s->seen[number] = 1;
  return 0;
}

static int grow(void **p, size_t elem, int64_t cap) {
  void *q = realloc(*p, (size_t)cap * elem);
  if (q == NULL) return HP_ENOMEM;
  *p = q;
  return 0;
}

static int hist_reserve(hp_sampler_t *s) {
  hp_hist_t *h = &s->hist;
  if (h->n < h->cap) return 0;
  int64_t cap = h->cap ? 2 * h->cap : 64;
  if (grow((void **)&h->number, sizeof *h->number, cap) || grow((void **)&h->key, sizeof(double), cap) ||
      grow((void **)&h->val, sizeof(double), cap) ||
      grow((void **)&h->mv, (size_t)s->m * sizeof(double), cap) ||
      grow((void **)&h->viol, sizeof(double), cap) || grow((void **)&h->fin, 1, cap))
    return HP_ENOMEM;
  for (int p = 0; p < s->d; p++)
    if (grow((void **)&h->x[p], sizeof(double), cap)) return HP_ENOMEM;
  h->cap = cap;
  return 0;
}

static int sorted_insert(hp_sorted_t *so, double tv, int32_t number) {
  if (so->n == so->cap) {
    int64_t cap = so->cap ? 2 * so->cap : 64;
    if (grow((void **)&so->tv, sizeof(double), cap) || grow((void **)&so->number, sizeof(int32_t), cap))
      return HP_ENOMEM;
    so->cap = cap;
  }
  /* Binary search for the first element > tv (equal values keep tell order). */
  int64_t lo = 0, hi = so->n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (so->tv[mid] <= tv)
      lo = mid + 1;
    else
      hi = mid;
  }
  memmove(so->tv + lo + 1, so->tv + lo, (size_t)(so->n - lo) * sizeof(double));
  memmove(so->number + lo + 1, so->number + lo, (size_t)(so->n - lo) * sizeof(int32_t));
  so->tv[lo] = tv;
  so->number[lo] = number;
  so->n++;
  return 0;
}

/* splitmix64's finaliser: summed over trial numbers it hashes a set. */
static uint64_t presence_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Inserts a finished COMPLETE/PRUNED trial in trial-number order. */
static int hist_add(hp_sampler_t *s, int32_t number, double key, double val, const double *mv,
                    double viol, hp_trial_final_t fin, const double *params) {
  hp_hist_t *h = &s->hist;
  if (hist_reserve(s) != 0) return HP_ENOMEM;
  int64_t i = h->n;
  while (i > 0 && h->number[i - 1] > number) i--;
  int64_t tail = h->n - i;
  memmove(h->number + i + 1, h->number + i, (size_t)tail * sizeof *h->number);
  memmove(h->key + i + 1, h->key + i, (size_t)tail * sizeof(double));
  memmove(h->val + i + 1, h->val + i, (size_t)tail * sizeof(double));
  const int m = s->m;
  memmove(h->mv + (i + 1) * m, h->mv + i * m, (size_t)(tail * m) * sizeof(double));
  memmove(h->viol + i + 1, h->viol + i, (size_t)tail * sizeof(double));
  memmove(h->fin + i + 1, h->fin + i, (size_t)tail);
  h->number[i] = number;
  h->key[i] = key;
  h->val[i] = val;
  memcpy(h->mv + i * m, mv, (size_t)m * sizeof(double));
  h->viol[i] = viol;
  h->fin[i] = (int8_t)fin;
  for (int p = 0; p < s->d; p++) {
    double v = hp_dist_contains(&s->space->params[p].dist, params[p]) ? params[p] : NAN;
    memmove(h->x[p] + i + 1, h->x[p] + i, (size_t)tail * sizeof(double));
    h->x[p][i] = v;
    if (isnan(v)) {
      h->n_missing[p]++;
      continue;
    }
    h->presence[p] += presence_mix((uint64_t)number);
    /* value-sorted copies: TPE's bandwidths only */
    if (s->opts.kind == HP_SAMPLER_TPE && (s->tp[p].kind == HP_T_CONT || s->tp[p].kind == HP_T_BIN)) {
      if (sorted_insert(&h->sorted[p], hp_tparam_fwd(&s->tp[p], v), number) != 0) return HP_ENOMEM;
    }
  }
  h->n++;
  return 0;
}

int hp_sampler_tell(hp_sampler_t *s, int64_t number, const double *params, hp_trial_final_t state,
                    double value, int64_t last_step, hp_err_t *err) {
  return hp_sampler_tell_values(s, number, params, state, &value, 1, NULL, 0, last_step, err);
}

/* Direction sign of objective k (values are minimised inside). */
static double obj_sign(const hp_sampler_opts_t *o, int k) {
  return (k == 0 ? o->maximize : o->maximize_obj[k]) ? -1.0 : 1.0;
}

int hp_sampler_tell_values(hp_sampler_t *s, int64_t number, const double *params,
                           hp_trial_final_t state, const double *values, int n_values,
                           const double *constraints, int n_constraints, int64_t last_step,
                           hp_err_t *err) {
  int rc = check_number(s, number, err);
  if (rc != 0) return rc;
  if (s->seen[number] == 2)
    return hp_err_set(err, HP_EEXIST, "trial %lld was already told", (long long)number);
  if (state != HP_FINAL_COMPLETE && state != HP_FINAL_PRUNED && state != HP_FINAL_FAIL)
    return hp_err_set(err, HP_EINVAL, "trial %lld: unknown final state %d", (long long)number,
                      (int)state);
  if (n_values < 0 || n_values > s->m || (n_values > 0 && values == NULL) ||
      (state == HP_FINAL_COMPLETE && n_values != s->m))
    return hp_err_set(err, HP_EINVAL, "trial %lld: %d value(s) for %d objective(s)",
                      (long long)number, n_values, s->m);
  if (n_constraints < 0 || n_constraints > HP_SAMPLER_MAX_CONSTRAINTS ||
      (n_constraints > 0 && constraints == NULL))
    return hp_err_set(err, HP_EINVAL, "trial %lld: %d constraint values (at most %d)",
                      (long long)number, n_constraints, HP_SAMPLER_MAX_CONSTRAINTS);
  double viol = 0;
  for (int k = 0; k < n_constraints; k++) {
    if (isnan(constraints[k]))
      return hp_err_set(err, HP_EINVAL, "trial %lld: constraint %d is NaN", (long long)number, k);
    if (constraints[k] > 0) viol += constraints[k];
  }
  for (int k = 0; k < n_values && state == HP_FINAL_COMPLETE; k++)
    if (isnan(values[k])) state = HP_FINAL_FAIL;
  double value = n_values > 0 ? values[0] : NAN;
  double sign = obj_sign(&s->opts, 0);
  double key = 0, val = 0, mv[HP_SAMPLER_MAX_OBJECTIVES];
  for (int k = 0; k < s->m; k++) mv[k] = k < n_values ? obj_sign(&s->opts, k) * values[k] : NAN;
  if (state == HP_FINAL_COMPLETE) {
    key = -INFINITY;
    val = sign * value;
  } else if (state == HP_FINAL_PRUNED) {
    if (last_step >= 0) {
      key = -(double)last_step;
      val = isnan(value) ? INFINITY : sign * value;
    } else {
      key = 1;
      val = 0;
    }
  }
  /* Optuna 5: a trial with a positive constraint value ranks after every
   * feasible one (COMPLETE or PRUNED), by its total violation. */
  if (viol > 0 && state != HP_FINAL_FAIL) {
    key = 2;
    val = viol;
  }
  if (s->opts.kind != HP_SAMPLER_RANDOM && s->opts.kind != HP_SAMPLER_GRID &&
      state != HP_FINAL_FAIL) {
    if (hist_add(s, (int32_t)number, key, val, mv, viol, state, params) != 0)
      return hp_err_set(err, HP_ENOMEM, "sampler: out of memory");
  }
  int64_t ri = run_find(s, number);
  if (s->opts.kind == HP_SAMPLER_GRID) {
    int64_t id = hp_grid_id_of(s, params);
    /* Told params that differ from the claimed point free the claim. */
    if (ri >= 0 && s->run[ri].grid_id >= 0 && s->run[ri].grid_id != id)
      hp_grid_release(s, s->run[ri].grid_id, number);
    if (state == HP_FINAL_FAIL && s->opts.grid_retry_failed) {
      if (id >= 0) hp_grid_release(s, id, number);
    } else if (id >= 0) {
      hp_grid_done(s, id);
    }
  }
  if (ri >= 0) run_remove(s, ri);
  s->seen[number] = 2;
  if (state == HP_FINAL_COMPLETE)
    s->st.n_complete++;
  else if (state == HP_FINAL_PRUNED)
    s->st.n_pruned++;
  else
    s->st.n_fail++;
  return 0;
}

int hp_sampler_running(hp_sampler_t *s, int64_t number, const double *params, hp_err_t *err) {
  int rc = check_number(s, number, err);
  if (rc != 0) return rc;
  if (s->seen[number] == 2)
    return hp_err_set(err, HP_EEXIST, "trial %lld was already told", (long long)number);
  int64_t id = -1;
  if (s->opts.kind == HP_SAMPLER_GRID) {
    int64_t old = run_find(s, number);
    if (old >= 0 && s->run[old].grid_id >= 0) hp_grid_release(s, s->run[old].grid_id, number);
    id = hp_grid_id_of(s, params);
    if (id >= 0) hp_grid_claim(s, id);
  }
  return run_add(s, number, params, id, err);
}

void hp_sampler_release(hp_sampler_t *s, int64_t number) {
  int64_t i = run_find(s, number);
  if (i < 0) return;
  if (s->opts.kind == HP_SAMPLER_GRID && s->run[i].grid_id >= 0)
    hp_grid_release(s, s->run[i].grid_id, number);
  run_remove(s, i);
  s->seen[number] = 0;
}

int hp_sampler_suggest(hp_sampler_t *s, int64_t number, double *out, hp_err_t *err) {
  int rc = check_number(s, number, err);
  if (rc != 0) return rc;
  if (s->seen[number] != 0)
    return hp_err_set(err, HP_EEXIST, "trial %lld is already %s", (long long)number,
                      s->seen[number] == 1 ? "running" : "finished");
  hp_rng_t rng;
  /* One stream per trial number: a suggestion depends on (seed, history,
   * number) only, not on how many suggestions came before. */
  hp_rng_seed_stream(&rng, s->opts.seed, (uint64_t)number);
  int64_t id = -1;
  switch (s->opts.kind) {
    case HP_SAMPLER_RANDOM:
      hp_random_suggest(s, &rng, out);
      break;
    case HP_SAMPLER_GRID:
      if ((rc = hp_grid_suggest(s, &rng, out, &id, err)) != 0) return rc;
      break;
    case HP_SAMPLER_TPE:
      if ((rc = hp_tpe_suggest(s, &rng, out, err)) != 0) return rc;
      break;
    case HP_SAMPLER_GP:
      if ((rc = hp_gp_suggest(s, &rng, out, err)) != 0) return rc;
      break;
    case HP_SAMPLER_AUTO:
      if (hp_auto_uses_gp(s))
        rc = hp_gp_suggest(s, &rng, out, err);
      else
        rc = hp_tpe_suggest(s, &rng, out, err);
      if (rc != 0) return rc;
      break;
    case HP_SAMPLER_NSGA2:
      if ((rc = hp_nsga2_suggest(s, &rng, number, out, err)) != 0) return rc;
      break;
  }
  /* TPE's own startup draws are random too (Optuna counts COMPLETE and
   * PRUNED trials for it); the GP sets last_by itself. */
  if (s->opts.kind == HP_SAMPLER_RANDOM || s->opts.kind == HP_SAMPLER_GRID)
    s->last_by = hp_sampler_kind_name(s->opts.kind);
  else if (s->opts.kind == HP_SAMPLER_TPE || (s->opts.kind == HP_SAMPLER_AUTO && !hp_auto_uses_gp(s)))
    s->last_by = s->hist.n < s->opts.n_startup_trials ? "random" : "tpe";
  if ((rc = run_add(s, number, out, id, err)) != 0) {
    if (id >= 0) hp_grid_release(s, id, number);
    return rc;
  }
  return 0;
}

void hp_sampler_fill(const hp_sampler_t *s, int64_t number, double *params) {
  hp_rng_t rng;
  /* Its own stream: (seed, number) with the top bit set, never a trial's. */
  hp_rng_seed_stream(&rng, s->opts.seed, (uint64_t)number | (1ULL << 63));
  for (int p = 0; p < s->d; p++) {
    const hp_dist_t *d = &s->space->params[p].dist;
    if (!hp_space_active(s->space, p, params))
      params[p] = NAN;
    else if (!hp_dist_contains(d, params[p]))
      params[p] = hp_random_param(d, &rng);
  }
}

const char *hp_sampler_last_by(const hp_sampler_t *s) { return s->last_by; }

bool hp_auto_uses_gp(const hp_sampler_t *s) {
  /* Categorical parameters stay with the GP (Hamming distance): on the
   * benchmark's mixed function it beats TPE by orders of magnitude
   * (docs/search.md); conditional spaces it cannot model. */
  return !s->space->conditional && s->st.n_complete < s->opts.auto_crossover;
}

void hp_sampler_stats(const hp_sampler_t *s, hp_sampler_stats_t *out) {
  *out = s->st;
  out->n_running = s->n_run;
  if (s->opts.kind == HP_SAMPLER_GRID) {
    out->grid_total = s->grid.total;
    out->grid_free = s->grid.n_free;
    out->grid_done = s->grid.n_done;
  }
}

int64_t hp_sampler_grid_id(const hp_sampler_t *s, const double *params) {
  if (s->opts.kind != HP_SAMPLER_GRID) return -1;
  return hp_grid_id_of(s, params);
}

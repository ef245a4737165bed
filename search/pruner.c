/* Pruners with Optuna 3.1's decisions (median, percentile, successive
 * halving, hyperband), kept incrementally: peers' values live in sorted
 * arrays per step (median/percentile) or per rung (successive halving), so
 * a decision is a binary search and a lookup, never a pass over history. */
#include "hpsearch/pruner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"

/* Largest trial number accepted (the per-trial table is indexed by it). */
#define MAX_TRIAL_NUMBER (1LL << 31)

/* Ascending doubles without NaN. */
typedef struct sorted {
  double *v;   /* [n] ascending */
  size_t n, cap;
} sorted_t;

/* COMPLETE trials' values reported at one step. */
typedef struct pstep {
  int64_t step;     /* key */
  sorted_t vals;    /* non-NaN values */
  size_t n_total;   /* values including NaN (n_min_trials counts them) */
} pstep_t;

/* Everything the pruner knows about one trial. */
typedef struct ptrial {
  bool seen;        /* reported or finished at least once */
  bool finished;    /* hp_pruner_finish was called */
  hp_pruner_end_t end;
  int64_t *steps;   /* [n] ascending */
  double *vals;     /* [n] value at steps[i] */
  size_t n, cap;
  double best;      /* nanmin (minimize) / nanmax (maximize) of vals; NaN if none */
  int n_rungs;      /* successive halving rungs completed */
  double *rung_vals;/* [n_rungs] value recorded at each rung */
  int rung_cap;
  int bracket;      /* hyperband bracket, -1 until known */
} ptrial_t;

/* One successive-halving instance (hyperband has one per bracket). */
typedef struct sha {
  int rate;         /* min_early_stopping_rate (= bracket id for hyperband) */
  sorted_t *rungs;  /* [n_rungs] recorded values per rung, all trial states */
  int n_rungs;
} sha_t;

struct hp_pruner {
  hp_pruner_kind_t kind;
  bool maximize;
  char *study_name;        /* hyperband's crc32 key */
  /* median / percentile */
  double percentile;       /* in [0, 100] */
  int64_t n_startup_trials, n_warmup_steps, interval_steps, n_min_trials;
  pstep_t *steps;          /* [n_steps] sorted by step */
  size_t n_steps, cap_steps;
  /* successive halving / hyperband */
  int64_t min_resource;    /* -1 = "auto" (SHA only) */
  int64_t max_resource;    /* -1 = "auto" (hyperband only) */
  int64_t reduction_factor, min_early_stopping_rate, bootstrap_count;
  sha_t *sha;              /* [n_sha]: 1 for SHA, n_brackets for hyperband */
  int n_sha;               /* 0 until hyperband is initialised */
  int64_t *budgets;        /* [n_sha] hyperband trial allocation budgets */
  int64_t total_budget;
  /* shared */
  ptrial_t *trials;        /* [cap_trials] indexed by trial number */
  int64_t cap_trials;
  int64_t n_complete;      /* trials finished COMPLETE */
  int64_t max_complete_last_step; /* -1 if no COMPLETE trial reported */
};

/* ---- sorted arrays ---------------------------------------------------- */

static size_t lower_bound(const double *v, size_t n, double x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int sorted_insert(sorted_t *s, double x) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 8;
    double *v = realloc(s->v, cap * sizeof *v);
    if (!v) return HP_ENOMEM;
    s->v = v, s->cap = cap;
  }
  size_t i = lower_bound(s->v, s->n, x);
  memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
  s->v[i] = x;
  s->n++;
  return HP_OK;
}

/* numpy.nanpercentile's default "linear" method over ascending a[0..n-1],
 * with numpy's lerp written out as numpy 1.24 computes it, so that every
 * decision equals Optuna's -- including its quirk that an interpolation
 * touching +-inf yields NaN (inf - inf, inf * 0), which means "no pruning". */
static double percentile_of(const double *a, size_t n, double q) {
  if (n == 0) return NAN;
  double pos = (double)(n - 1) * (q / 100.0);
  double lo_f = floor(pos);
  size_t lo = (size_t)lo_f;
  if (lo > n - 1) lo = n - 1;
  size_t hi = lo + 1 > n - 1 ? n - 1 : lo + 1;
  double t = pos - lo_f;
  double d = a[hi] - a[lo];
  return t >= 0.5 ? a[hi] - d * (1 - t) : a[lo] + d * t;
}

/* ---- config ----------------------------------------------------------- */

static const struct {
  const char *name;
  hp_pruner_kind_t kind;
} KIND_NAMES[] = {
    {"none", HP_PRUNER_NONE},         {"nop", HP_PRUNER_NONE},
    {"median", HP_PRUNER_MEDIAN},     {"percentile", HP_PRUNER_PERCENTILE},
    {"successive_halving", HP_PRUNER_SHA}, {"sha", HP_PRUNER_SHA},
    {"asha", HP_PRUNER_SHA},          {"hyperband", HP_PRUNER_HYPERBAND},
};

const char *hp_pruner_kind_name(hp_pruner_kind_t kind) {
  switch (kind) {
    case HP_PRUNER_NONE: return "none";
    case HP_PRUNER_MEDIAN: return "median";
    case HP_PRUNER_PERCENTILE: return "percentile";
    case HP_PRUNER_SHA: return "successive_halving";
    case HP_PRUNER_HYPERBAND: return "hyperband";
  }
  return "?";
}

hp_pruner_kind_t hp_pruner_kind(const hp_pruner_t *p) { return p->kind; }

/* "auto" (-> -1) or an integer >= 1. */
static int get_resource(const cJSON *cfg, const char *key, bool allow_auto, int64_t *out,
                        hp_err_t *err) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!it) return HP_OK;
  if (cJSON_IsString(it)) {
    if (allow_auto && strcmp(it->valuestring, "auto") == 0) {
      *out = -1;
      return HP_OK;
    }
    return hp_err_set(err, HP_EINVAL, "pruner.%s: expected %san integer >= 1, got \"%s\"", key,
                      allow_auto ? "\"auto\" or " : "", it->valuestring);
  }
  long long v;
  int rc = hp_json_get_int(cfg, key, false, 1, 1LL << 40, &v, "pruner", err);
  if (rc) return rc;
  *out = v;
  return HP_OK;
}

/* An optional integer option in [lo, hi]; *field keeps its default when the
 * key is absent. */
static int get_count(const cJSON *cfg, const char *key, long long lo, long long hi,
                     int64_t *field, hp_err_t *err) {
  long long v = *field;
  int rc = hp_json_get_int(cfg, key, false, lo, hi, &v, "pruner", err);
  if (rc) return rc;
  *field = v;
  return HP_OK;
}

static int parse_config(hp_pruner_t *p, const cJSON *cfg, hp_err_t *err) {
  if (!cfg) return HP_OK;
  if (!cJSON_IsObject(cfg))
    return hp_err_set(err, HP_EINVAL, "pruner: expected an object, got %s", hp_json_type_name(cfg));
  const char *type = "none";
  int rc = hp_json_get_string(cfg, "type", true, &type, "pruner", err);
  if (rc) return rc;
  size_t k;
  for (k = 0; k < sizeof KIND_NAMES / sizeof KIND_NAMES[0]; k++)
    if (strcmp(type, KIND_NAMES[k].name) == 0) break;
  if (k == sizeof KIND_NAMES / sizeof KIND_NAMES[0])
    return hp_err_set(err, HP_EINVAL, "pruner.type: unknown pruner '%s' (none, median, "
                      "percentile, successive_halving, hyperband)", type);
  p->kind = KIND_NAMES[k].kind;
  static const char *const K_NONE[] = {"type", NULL};
  static const char *const K_MEDIAN[] = {"type", "n_startup_trials", "n_warmup_steps",
                                         "interval_steps", "n_min_trials", NULL};
  static const char *const K_PCT[] = {"type", "percentile", "n_startup_trials", "n_warmup_steps",
                                      "interval_steps", "n_min_trials", NULL};
  static const char *const K_SHA[] = {"type", "min_resource", "reduction_factor",
                                      "min_early_stopping_rate", "bootstrap_count", NULL};
  static const char *const K_HB[] = {"type", "min_resource", "max_resource", "reduction_factor",
                                     "bootstrap_count", NULL};
  const char *const *keys[] = {[HP_PRUNER_NONE] = K_NONE, [HP_PRUNER_MEDIAN] = K_MEDIAN,
                               [HP_PRUNER_PERCENTILE] = K_PCT, [HP_PRUNER_SHA] = K_SHA,
                               [HP_PRUNER_HYPERBAND] = K_HB};
  if ((rc = hp_json_check_keys(cfg, keys[p->kind], "pruner", err))) return rc;
  switch (p->kind) {
    case HP_PRUNER_NONE:
      break;
    case HP_PRUNER_PERCENTILE:
      if ((rc = hp_json_get_number(cfg, "percentile", true, &p->percentile, "pruner", err)))
        return rc;
      if (!(p->percentile >= 0 && p->percentile <= 100))
        return hp_err_set(err, HP_EINVAL, "pruner.percentile: %g is not in [0, 100]",
                          p->percentile);
      /* fallthrough */
    case HP_PRUNER_MEDIAN:
      if ((rc = get_count(cfg, "n_startup_trials", 0, 1LL << 40, &p->n_startup_trials, err)) ||
          (rc = get_count(cfg, "n_warmup_steps", 0, 1LL << 40, &p->n_warmup_steps, err)) ||
          (rc = get_count(cfg, "interval_steps", 1, 1LL << 40, &p->interval_steps, err)) ||
          (rc = get_count(cfg, "n_min_trials", 1, 1LL << 40, &p->n_min_trials, err)))
        return rc;
      break;
    case HP_PRUNER_SHA:
    case HP_PRUNER_HYPERBAND: {
      bool hb = p->kind == HP_PRUNER_HYPERBAND;
      /* Optuna's defaults; -1 stands for "auto". */
      p->min_resource = hb ? 1 : -1;
      p->max_resource = -1;
      p->reduction_factor = hb ? 3 : 4;
      if ((rc = get_resource(cfg, "min_resource", !hb, &p->min_resource, err))) return rc;
      if (hb && (rc = get_resource(cfg, "max_resource", true, &p->max_resource, err))) return rc;
      if ((rc = get_count(cfg, "reduction_factor", 2, 1 << 20, &p->reduction_factor, err)) ||
          (!hb && (rc = get_count(cfg, "min_early_stopping_rate", 0, 62,
                                  &p->min_early_stopping_rate, err))) ||
          (rc = get_count(cfg, "bootstrap_count", 0, 1LL << 40, &p->bootstrap_count, err)))
        return rc;
      if (p->bootstrap_count > 0 && (hb ? p->max_resource : p->min_resource) < 0)
        return hp_err_set(err, HP_EINVAL, "pruner.bootstrap_count: must be 0 when %s is \"auto\"",
                          hb ? "max_resource" : "min_resource");
      if (hb && p->max_resource > 0 && p->max_resource < p->min_resource)
        return hp_err_set(err, HP_EINVAL,
                          "pruner.max_resource: %lld is below min_resource %lld",
                          (long long)p->max_resource, (long long)p->min_resource);
      break;
    }
  }
  return HP_OK;
}

int hp_pruner_create(const cJSON *cfg, const char *study_name, bool maximize, hp_pruner_t **out,
                     hp_err_t *err) {
  *out = NULL;
  hp_pruner_t *p = calloc(1, sizeof *p);
  if (!p) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
  p->maximize = maximize;
  /* Optuna's defaults. */
  p->percentile = 50.0;
  p->n_startup_trials = 5;
  p->n_warmup_steps = 0;
  p->interval_steps = 1;
  p->n_min_trials = 1;
  p->max_complete_last_step = -1;
  int rc = parse_config(p, cfg, err);
  if (rc) goto fail;
  if (p->kind == HP_PRUNER_SHA) {
    p->sha = calloc(1, sizeof *p->sha);
    if (!p->sha) goto nomem;
    p->sha[0].rate = (int)p->min_early_stopping_rate;
    p->n_sha = 1;
  } else if (p->kind == HP_PRUNER_HYPERBAND) {
    if (!(p->study_name = strdup(study_name ? study_name : ""))) goto nomem;
  }
  *out = p;
  return HP_OK;
nomem:
  rc = hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
fail:
  hp_pruner_free(p);
  return rc;
}

void hp_pruner_free(hp_pruner_t *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_steps; i++) free(p->steps[i].vals.v);
  free(p->steps);
  for (int b = 0; b < p->n_sha; b++) {
    for (int r = 0; r < p->sha[b].n_rungs; r++) free(p->sha[b].rungs[r].v);
    free(p->sha[b].rungs);
  }
  free(p->sha);
  free(p->budgets);
  for (int64_t i = 0; i < p->cap_trials; i++) {
    free(p->trials[i].steps);
    free(p->trials[i].vals);
    free(p->trials[i].rung_vals);
  }
  free(p->trials);
  free(p->study_name);
  free(p);
}

/* ---- per-trial records ------------------------------------------------ */

static ptrial_t *trial_get(const hp_pruner_t *p, int64_t number) {
  if (number < 0 || number >= p->cap_trials || !p->trials[number].seen) return NULL;
  return &p->trials[number];
}

static int trial_make(hp_pruner_t *p, int64_t number, ptrial_t **out, hp_err_t *err) {
  if (number < 0 || number >= MAX_TRIAL_NUMBER)
    return hp_err_set(err, HP_EINVAL, "pruner: trial number %lld out of range",
                      (long long)number);
  if (number >= p->cap_trials) {
    int64_t cap = p->cap_trials ? p->cap_trials : 64;
    while (cap <= number) cap *= 2;
    ptrial_t *t = realloc(p->trials, (size_t)cap * sizeof *t);
    if (!t) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    memset(t + p->cap_trials, 0, (size_t)(cap - p->cap_trials) * sizeof *t);
    p->trials = t;
    p->cap_trials = cap;
  }
  ptrial_t *t = &p->trials[number];
  if (!t->seen) {
    t->seen = true;
    t->best = NAN;
    t->bracket = -1;
  }
  *out = t;
  return HP_OK;
}

/* nanmin / nanmax in the study's direction. */
static double better(const hp_pruner_t *p, double a, double b) {
  if (isnan(a)) return b;
  if (isnan(b)) return a;
  return p->maximize ? fmax(a, b) : fmin(a, b);
}

int hp_pruner_report(hp_pruner_t *p, int64_t trial_number, int64_t step, double value,
                     hp_err_t *err) {
  if (step < 0)
    return hp_err_set(err, HP_EINVAL, "pruner: trial %lld: step %lld < 0",
                      (long long)trial_number, (long long)step);
  ptrial_t *t = NULL;
  int rc = trial_make(p, trial_number, &t, err);
  if (rc) return rc;
  if (t->finished)
    return hp_err_set(err, HP_ESTATE, "pruner: trial %lld already finished",
                      (long long)trial_number);
  /* Steps usually arrive in order: append; otherwise insert / overwrite. */
  size_t i = t->n;
  while (i > 0 && t->steps[i - 1] > step) i--;
  if (i > 0 && t->steps[i - 1] == step) {
    t->vals[i - 1] = value;
    t->best = NAN;
    for (size_t j = 0; j < t->n; j++) t->best = better(p, t->best, t->vals[j]);
    return HP_OK;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 8;
    int64_t *s = realloc(t->steps, cap * sizeof *s);
    if (!s) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    t->steps = s;
    double *v = realloc(t->vals, cap * sizeof *v);
    if (!v) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    t->vals = v;
    t->cap = cap;
  }
  memmove(t->steps + i + 1, t->steps + i, (t->n - i) * sizeof *t->steps);
  memmove(t->vals + i + 1, t->vals + i, (t->n - i) * sizeof *t->vals);
  t->steps[i] = step;
  t->vals[i] = value;
  t->n++;
  t->best = better(p, t->best, value);
  return HP_OK;
}

/* The peer record of a step, created if `create`. */
static pstep_t *step_get(hp_pruner_t *p, int64_t step, bool create) {
  size_t lo = 0, hi = p->n_steps;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (p->steps[mid].step < step)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < p->n_steps && p->steps[lo].step == step) return &p->steps[lo];
  if (!create) return NULL;
  if (p->n_steps == p->cap_steps) {
    size_t cap = p->cap_steps ? 2 * p->cap_steps : 16;
    pstep_t *s = realloc(p->steps, cap * sizeof *s);
    if (!s) return NULL;
    p->steps = s, p->cap_steps = cap;
  }
  memmove(p->steps + lo + 1, p->steps + lo, (p->n_steps - lo) * sizeof *p->steps);
  memset(&p->steps[lo], 0, sizeof p->steps[lo]);
  p->steps[lo].step = step;
  p->n_steps++;
  return &p->steps[lo];
}

int hp_pruner_finish(hp_pruner_t *p, int64_t trial_number, hp_pruner_end_t end, hp_err_t *err) {
  if (end != HP_PRUNER_END_COMPLETE && end != HP_PRUNER_END_PRUNED && end != HP_PRUNER_END_FAIL)
    return hp_err_set(err, HP_EINVAL, "pruner: trial %lld: bad end state %d",
                      (long long)trial_number, (int)end);
  ptrial_t *t = NULL;
  int rc = trial_make(p, trial_number, &t, err);
  if (rc) return rc;
  if (t->finished)
    return hp_err_set(err, HP_ESTATE, "pruner: trial %lld already finished",
                      (long long)trial_number);
  t->finished = true;
  t->end = end;
  if (end != HP_PRUNER_END_COMPLETE) return HP_OK;
  p->n_complete++;
  if (t->n > 0 && t->steps[t->n - 1] > p->max_complete_last_step)
    p->max_complete_last_step = t->steps[t->n - 1];
  if (p->kind != HP_PRUNER_MEDIAN && p->kind != HP_PRUNER_PERCENTILE) return HP_OK;
  for (size_t i = 0; i < t->n; i++) {
    pstep_t *ps = step_get(p, t->steps[i], true);
    if (!ps) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    ps->n_total++;
    if (!isnan(t->vals[i]) && sorted_insert(&ps->vals, t->vals[i]))
      return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
  }
  return HP_OK;
}

/* ---- median / percentile ---------------------------------------------- */

/* Optuna's _is_first_in_interval_step: the trial's previous report lies
 * before the latest pruning checkpoint at or below `step`. */
static bool first_in_interval(const hp_pruner_t *p, const ptrial_t *t, int64_t step) {
  int64_t w = p->n_warmup_steps, iv = p->interval_steps;
  int64_t checkpoint = (step - w) / iv * iv + w;
  int64_t second_last = -1;
  for (size_t i = t->n; i > 0; i--)
    if (t->steps[i - 1] != step) {
      second_last = t->steps[i - 1];
      break;
    }
  return second_last < checkpoint;
}

static int percentile_decide(hp_pruner_t *p, const ptrial_t *t) {
  if (p->n_complete == 0 || p->n_complete < p->n_startup_trials) return 0;
  if (t->n == 0) return 0;
  int64_t step = t->steps[t->n - 1];
  if (step < p->n_warmup_steps) return 0;
  if (!first_in_interval(p, t, step)) return 0;
  if (isnan(t->best)) return 1; /* every value NaN: prune, as Optuna */
  const pstep_t *ps = step_get(p, step, false);
  if (!ps || (int64_t)ps->n_total < p->n_min_trials) return 0;
  double q = p->maximize ? 100.0 - p->percentile : p->percentile;
  double ref = percentile_of(ps->vals.v, ps->vals.n, q);
  if (isnan(ref)) return 0;
  return p->maximize ? t->best < ref : t->best > ref;
}

/* ---- successive halving ----------------------------------------------- */

/* Adds a value to rung r of a successive-halving instance. */
static int rung_insert(sha_t *g, int r, double value, hp_err_t *err) {
  if (r >= g->n_rungs) {
    sorted_t *rs = realloc(g->rungs, (size_t)(r + 1) * sizeof *rs);
    if (!rs) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    memset(rs + g->n_rungs, 0, (size_t)(r + 1 - g->n_rungs) * sizeof *rs);
    g->rungs = rs;
    g->n_rungs = r + 1;
  }
  if (sorted_insert(&g->rungs[r], value)) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
  return HP_OK;
}

/* Records the trial's next rung value: in the trial, and in g's rung
 * array unless g is NULL (hyperband before its brackets exist, during a
 * restore: hyperband_init files such values later). */
static int record_rung(sha_t *g, ptrial_t *t, double value, hp_err_t *err) {
  if (t->n_rungs == t->rung_cap) {
    int cap = t->rung_cap ? 2 * t->rung_cap : 4;
    double *v = realloc(t->rung_vals, (size_t)cap * sizeof *v);
    if (!v) return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
    t->rung_vals = v, t->rung_cap = cap;
  }
  if (g) {
    int rc = rung_insert(g, t->n_rungs, value, err);
    if (rc) return rc;
  }
  t->rung_vals[t->n_rungs++] = value;
  return HP_OK;
}

/* min_resource * rf^(rate + rung), saturating instead of overflowing. */
static int64_t promotion_step(int64_t min_resource, int64_t rf, int exponent) {
  int64_t s = min_resource;
  for (int i = 0; i < exponent; i++) {
    if (s > INT64_MAX / rf) return INT64_MAX;
    s *= rf;
  }
  return s;
}

static int sha_decide(hp_pruner_t *p, sha_t *g, ptrial_t *t, int64_t min_resource,
                      hp_err_t *err) {
  if (t->n == 0) return 0;
  int64_t step = t->steps[t->n - 1];
  double value = t->vals[t->n - 1];
  for (;;) {
    if (min_resource < 0) {
      /* "auto": a hundredth of the longest COMPLETE trial, fixed once known. */
      if (p->max_complete_last_step < 0) return 0;
      int64_t m = p->max_complete_last_step / 100;
      p->min_resource = min_resource = m < 1 ? 1 : m;
    }
    if (step < promotion_step(min_resource, p->reduction_factor, g->rate + t->n_rungs)) return 0;
    if (isnan(value)) return 1;
    int rc = record_rung(g, t, value, err);
    if (rc) return rc;
    const sorted_t *comp = &g->rungs[t->n_rungs - 1]; /* includes this trial */
    if ((int64_t)comp->n <= p->bootstrap_count) return 1;
    int64_t idx = (int64_t)comp->n / p->reduction_factor - 1;
    if (idx < 0) idx = 0; /* the first rf-1 trials pass only if they are the best */
    bool promotable = p->maximize ? value >= comp->v[comp->n - 1 - (size_t)idx]
                                  : value <= comp->v[idx];
    if (!promotable) return 1;
  }
}

/* ---- hyperband -------------------------------------------------------- */

/* CRC-32 (IEEE, as zlib and Python's binascii.crc32). */
static uint32_t crc32_ieee(const unsigned char *s, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= s[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static int bracket_of(const hp_pruner_t *p, int64_t number);

/* Creates the brackets once max_resource is known (Optuna's
 * _try_initialization). Returns 0 also when not yet possible. */
static int hyperband_init(hp_pruner_t *p, hp_err_t *err) {
  if (p->n_sha > 0) return HP_OK;
  int64_t max_res = p->max_resource;
  if (max_res < 0) {
    if (p->max_complete_last_step < 0) return HP_OK;
    max_res = p->max_complete_last_step + 1;
    p->max_resource = max_res;
  }
  /* floor(log_rf(max/min)) + 1, computed as Python's math.log(x, base). */
  double x = (double)max_res / (double)p->min_resource;
  int n = (int)floor(log(x) / log((double)p->reduction_factor)) + 1;
  if (n < 1) return HP_OK; /* max below min: nothing to prune */
  p->sha = calloc((size_t)n, sizeof *p->sha);
  p->budgets = calloc((size_t)n, sizeof *p->budgets);
  if (!p->sha || !p->budgets) {
    free(p->sha);
    free(p->budgets);
    p->sha = NULL;
    p->budgets = NULL;
    return hp_err_set(err, HP_ENOMEM, "pruner: out of memory");
  }
  p->total_budget = 0;
  for (int b = 0; b < n; b++) {
    int s = n - 1 - b;
    p->budgets[b] = (int64_t)ceil((double)n * pow((double)p->reduction_factor, s) / (s + 1));
    p->total_budget += p->budgets[b];
    p->sha[b].rate = b;
  }
  p->n_sha = n;
  /* Rung values restored before the brackets existed join their bracket. */
  for (int64_t i = 0; i < p->cap_trials; i++) {
    ptrial_t *t = &p->trials[i];
    if (!t->seen || t->n_rungs == 0) continue;
    t->bracket = bracket_of(p, i);
    for (int r = 0; r < t->n_rungs; r++) {
      int rc = rung_insert(&p->sha[t->bracket], r, t->rung_vals[r], err);
      if (rc) return rc;
    }
  }
  return HP_OK;
}

/* Bracket of a trial: crc32("<study>_<number>") mod the total budget,
 * walked through the per-bracket budgets (Optuna's _get_bracket_id). */
static int bracket_of(const hp_pruner_t *p, int64_t number) {
  char key[1100];
  int len = snprintf(key, sizeof key, "%s_%lld", p->study_name, (long long)number);
  if (len < 0) return 0;
  if ((size_t)len >= sizeof key) len = (int)sizeof key - 1; /* names are <= 512 bytes */
  int64_t r = (int64_t)(crc32_ieee((const unsigned char *)key, (size_t)len) %
                        (uint64_t)p->total_budget);
  for (int b = 0; b < p->n_sha; b++) {
    r -= p->budgets[b];
    if (r < 0) return b;
  }
  return p->n_sha - 1;
}

int hp_pruner_bracket(hp_pruner_t *p, int64_t trial_number) {
  if (p->kind != HP_PRUNER_HYPERBAND || trial_number < 0) return -1;
  if (hyperband_init(p, NULL) || p->n_sha == 0) return -1;
  return bracket_of(p, trial_number);
}

/* ---- decisions -------------------------------------------------------- */

int hp_pruner_should_prune(hp_pruner_t *p, int64_t trial_number, int64_t step, hp_err_t *err) {
  (void)step; /* Optuna decides at the trial's last step; see pruner.h */
  ptrial_t *t = trial_get(p, trial_number);
  if (!t || t->n == 0) return 0;
  if (t->finished)
    return hp_err_set(err, HP_ESTATE, "pruner: trial %lld already finished",
                      (long long)trial_number);
  switch (p->kind) {
    case HP_PRUNER_NONE:
      return 0;
    case HP_PRUNER_MEDIAN:
    case HP_PRUNER_PERCENTILE:
      return percentile_decide(p, t);
    case HP_PRUNER_SHA:
      return sha_decide(p, &p->sha[0], t, p->min_resource, err);
    case HP_PRUNER_HYPERBAND: {
      int rc = hyperband_init(p, err);
      if (rc) return rc;
      if (p->n_sha == 0) return 0;
      if (t->bracket < 0) t->bracket = bracket_of(p, trial_number);
      return sha_decide(p, &p->sha[t->bracket], t, p->min_resource, err);
    }
  }
  return 0;
}

int hp_pruner_rung_count(const hp_pruner_t *p, int64_t trial_number) {
  const ptrial_t *t = trial_get(p, trial_number);
  return t ? t->n_rungs : 0;
}

double hp_pruner_rung_value(const hp_pruner_t *p, int64_t trial_number, int rung) {
  const ptrial_t *t = trial_get(p, trial_number);
  if (!t || rung < 0 || rung >= t->n_rungs) return NAN;
  return t->rung_vals[rung];
}

int hp_pruner_restore_rung(hp_pruner_t *p, int64_t trial_number, int rung, double value,
                           hp_err_t *err) {
  if (p->kind != HP_PRUNER_SHA && p->kind != HP_PRUNER_HYPERBAND)
    return hp_err_set(err, HP_EINVAL, "pruner: %s keeps no rungs", hp_pruner_kind_name(p->kind));
  if (isnan(value))
    return hp_err_set(err, HP_EINVAL, "pruner: trial %lld rung %d: NaN", (long long)trial_number,
                      rung);
  ptrial_t *t = NULL;
  int rc = trial_make(p, trial_number, &t, err);
  if (rc) return rc;
  if (rung != t->n_rungs)
    return hp_err_set(err, HP_EINVAL, "pruner: trial %lld: rung %d restored after %d rungs",
                      (long long)trial_number, rung, t->n_rungs);
  sha_t *g = p->sha; /* successive halving: its one bracket */
  if (p->kind == HP_PRUNER_HYPERBAND) {
    if ((rc = hyperband_init(p, err))) return rc;
    if (p->n_sha == 0) {
      g = NULL; /* brackets unknown yet: filed by hyperband_init */
    } else {
      if (t->bracket < 0) t->bracket = bracket_of(p, trial_number);
      g = &p->sha[t->bracket];
    }
  }
  return record_rung(g, t, value, err);
}

int hp_pruner_restore_rungs_json(hp_pruner_t *p, int64_t trial_number, const cJSON *system_attrs,
                                 hp_err_t *err) {
  if (p->kind != HP_PRUNER_SHA && p->kind != HP_PRUNER_HYPERBAND) return HP_OK;
  if (!cJSON_IsObject(system_attrs)) return HP_OK;
  for (int rung = hp_pruner_rung_count(p, trial_number);; rung++) {
    char key[32];
    snprintf(key, sizeof key, HP_PRUNER_RUNG_KEY_FMT, rung);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(system_attrs, key);
    if (!v) return HP_OK;
    if (!cJSON_IsNumber(v))
      return hp_err_set(err, HP_EINVAL, "trial %lld: system attr %s: expected a number, got %s",
                        (long long)trial_number, key, hp_json_type_name(v));
    int rc = hp_pruner_restore_rung(p, trial_number, rung, v->valuedouble, err);
    if (rc) return rc;
  }
}

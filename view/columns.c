/* A study's trials as columns for the dashboard (include/hpsearch/view.h,
 * hp_view_cols_*): kept in memory and brought up to date by re-reading only
 * the trials from the first unfinished one on, and written as one JSON
 * header for names, distributions and the few strings, then every numeric
 * column in the narrowest little-endian type that holds its values exactly
 * (u1, i2, i4, f4 or f8), so a page reads 100,000 trials as typed arrays
 * without parsing a number, and the numbers are the stored doubles bit for
 * bit. docs/dashboard.md, "Columns". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/view.h"
#include "view_int.h"

/* One parameter's column. */
typedef struct pcol {
  char *name;             /* owned */
  char *dist_json;        /* the first distribution_json seen (owned) */
  bool has_dist;          /* dist parsed from it */
  hp_dist_t dist;         /* owned copy */
  cJSON *choices;         /* categorical: the union of the choices seen (owned) */
  double *v;              /* [cap] float/int as stored, categorical: index in choices; NaN: absent */
} pcol_t;

/* One user attribute's column: numbers in v, other values as JSON text. */
typedef struct ucol {
  char *name;             /* owned */
  double *v;              /* [cap] NaN where absent or not a number */
  char **other;           /* [cap] JSON text of a value that is not a number (owned), or NULL */
} ucol_t;

/* A growable float64 array. */
typedef struct col {
  double *v;
  size_t n, cap;
} col_t;

struct hp_view_cols {
  int64_t study_id;
  char *name;                          /* owned */
  int nobj;
  bool maximize[HP_STORE_MAX_OBJECTIVES];
  bool loaded;                         /* read at least once */
  size_t n, cap;                       /* trials; room in the per-trial arrays */
  double *number, *state, *start, *end;
  double *tid;                         /* trial_id (not sent: where a re-read starts) */
  double *val[HP_STORE_MAX_OBJECTIVES];
  double *iv_off;                      /* [cap + 1] */
  col_t iv_step, iv_value;
  char **reason;                       /* [cap] owned or NULL */
  pcol_t *p;
  size_t np;
  ucol_t *u;
  size_t nu;
};

static bool col_push(col_t *c, double x) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 1024;
    double *p = realloc(c->v, cap * sizeof *p);
    if (p == NULL) return false;
    c->v = p;
    c->cap = cap;
  }
  c->v[c->n++] = x;
  return true;
}

/* realloc of a per-trial array to cap entries, new entries NaN (doubles) or
 * NULL (pointers). */
static bool grow_d(double **a, size_t old, size_t cap) {
  double *p = realloc(*a, cap * sizeof *p);
  if (p == NULL) return false;
  for (size_t i = old; i < cap; i++) p[i] = NAN;
  *a = p;
  return true;
}

static bool grow_s(char ***a, size_t old, size_t cap) {
  char **p = realloc(*a, cap * sizeof *p);
  if (p == NULL) return false;
  for (size_t i = old; i < cap; i++) p[i] = NULL;
  *a = p;
  return true;
}

/* Room for one more trial in every per-trial array. */
static bool reserve(hp_view_cols_t *c) {
  if (c->n < c->cap) return true;
  size_t cap = c->cap ? 2 * c->cap : 256;
  bool ok = grow_d(&c->number, c->cap, cap) && grow_d(&c->state, c->cap, cap) &&
            grow_d(&c->tid, c->cap, cap) &&
            grow_d(&c->start, c->cap, cap) && grow_d(&c->end, c->cap, cap) &&
            grow_d(&c->iv_off, c->cap + 1, cap + 1) && grow_s(&c->reason, c->cap, cap);
  for (int k = 0; ok && k < c->nobj; k++) ok = grow_d(&c->val[k], c->cap, cap);
  for (size_t j = 0; ok && j < c->np; j++) ok = grow_d(&c->p[j].v, c->cap, cap);
  for (size_t j = 0; ok && j < c->nu; j++)
    ok = grow_d(&c->u[j].v, c->cap, cap) && grow_s(&c->u[j].other, c->cap, cap);
  if (ok) c->cap = cap;
  return ok;
}

/* Drops trials k.. (they are read again). */
static void truncate_to(hp_view_cols_t *c, size_t k) {
  if (k >= c->n) return;
  for (size_t i = k; i < c->n; i++) {
    free(c->reason[i]);
    c->reason[i] = NULL;
    for (size_t j = 0; j < c->nu; j++) {
      free(c->u[j].other[i]);
      c->u[j].other[i] = NULL;
      c->u[j].v[i] = NAN;
    }
    for (size_t j = 0; j < c->np; j++) c->p[j].v[i] = NAN;
  }
  c->iv_step.n = c->iv_value.n = (size_t)c->iv_off[k];
  c->n = k;
}

hp_view_cols_t *hp_view_cols_new(void) { return calloc(1, sizeof(hp_view_cols_t)); }

void hp_view_cols_free(hp_view_cols_t *c) {
  if (c == NULL) return;
  truncate_to(c, 0);
  free(c->name);
  free(c->number), free(c->tid), free(c->state), free(c->start), free(c->end), free(c->iv_off), free(c->reason);
  for (int k = 0; k < HP_STORE_MAX_OBJECTIVES; k++) free(c->val[k]);
  free(c->iv_step.v), free(c->iv_value.v);
  for (size_t j = 0; j < c->np; j++) {
    free(c->p[j].name);
    free(c->p[j].dist_json);
    if (c->p[j].has_dist) hp_dist_free(&c->p[j].dist);
    cJSON_Delete(c->p[j].choices);
    free(c->p[j].v);
  }
  for (size_t j = 0; j < c->nu; j++) {
    free(c->u[j].name);
    free(c->u[j].v);
    free(c->u[j].other);
  }
  free(c->p);
  free(c->u);
  free(c);
}

int64_t hp_view_cols_open(const hp_view_cols_t *c) {
  for (size_t i = 0; i < c->n; i++)
    if (c->state[i] == HP_STORE_RUNNING || c->state[i] == HP_STORE_WAITING) return (int64_t)c->number[i];
  return c->n ? (int64_t)c->number[c->n - 1] + 1 : 0;
}

size_t hp_view_cols_count(const hp_view_cols_t *c) { return c->n; }

/* Index of choice `item` in the column's union, appended when new; -1 on OOM. */
static int union_index(pcol_t *p, const cJSON *item) {
  int k = 0;
  for (const cJSON *e = p->choices ? p->choices->child : NULL; e; e = e->next, k++)
    if (cJSON_Compare(e, item, true)) return k;
  if (p->choices == NULL && (p->choices = cJSON_CreateArray()) == NULL) return -1;
  cJSON *dup = cJSON_Duplicate(item, true);
  if (dup == NULL) return -1;
  cJSON_AddItemToArray(p->choices, dup);
  return k;
}

static pcol_t *pcol_find(hp_view_cols_t *c, const char *name, size_t hint) {
  if (hint < c->np && strcmp(c->p[hint].name, name) == 0) return &c->p[hint];
  for (size_t j = 0; j < c->np; j++)
    if (strcmp(c->p[j].name, name) == 0) return &c->p[j];
  pcol_t *np = realloc(c->p, (c->np + 1) * sizeof *np);
  if (np == NULL) return NULL;
  c->p = np;
  pcol_t *p = &c->p[c->np];
  memset(p, 0, sizeof *p);
  if ((p->name = strdup(name)) == NULL || !grow_d(&p->v, 0, c->cap ? c->cap : 1)) {
    free(p->name);
    free(p->v);
    return NULL;
  }
  c->np++;
  return p;
}

static ucol_t *ucol_find(hp_view_cols_t *c, const char *name) {
  for (size_t j = 0; j < c->nu; j++)
    if (strcmp(c->u[j].name, name) == 0) return &c->u[j];
  ucol_t *nu = realloc(c->u, (c->nu + 1) * sizeof *nu);
  if (nu == NULL) return NULL;
  c->u = nu;
  ucol_t *u = &c->u[c->nu];
  memset(u, 0, sizeof *u);
  size_t cap = c->cap ? c->cap : 1;
  if ((u->name = strdup(name)) == NULL || !grow_d(&u->v, 0, cap) || !grow_s(&u->other, 0, cap)) {
    free(u->name);
    free(u->v);
    free(u->other);
    return NULL;
  }
  c->nu++;
  return u;
}

/* Stores one parameter of trial i. */
static bool put_param(hp_view_t *v, pcol_t *p, size_t i, double value, const char *dist_json) {
  if (p->dist_json == NULL) {
    if ((p->dist_json = strdup(dist_json)) == NULL) return false;
    const hp_dist_t *d = hp_view_dist_(v, dist_json);
    if (d != NULL && hp_dist_copy(&p->dist, d, NULL) == 0) p->has_dist = true;
    if (p->has_dist && p->dist.kind == HP_DIST_CAT)
      for (const cJSON *e = p->dist.choices->child; e; e = e->next)
        if (union_index(p, e) < 0) return false;
  }
  if (!p->has_dist || p->dist.kind != HP_DIST_CAT) {
    p->v[i] = value;
    return true;
  }
  if (strcmp(dist_json, p->dist_json) == 0) {
    p->v[i] = value; /* the union starts with these choices */
    return true;
  }
  const hp_dist_t *d = hp_view_dist_(v, dist_json);
  if (d == NULL || d->kind != HP_DIST_CAT || !(value >= 0 && value < d->n_choices)) {
    p->v[i] = NAN;
    return true;
  }
  int k = union_index(p, cJSON_GetArrayItem(d->choices, (int)value));
  if (k < 0) return false;
  p->v[i] = k;
  return true;
}

/* One user attribute of trial i: a number into its column, any other
 * value as its JSON text (a value that is not JSON is left out). */
static bool put_user_attr(hp_view_cols_t *c, size_t i, const char *key, const char *json) {
  ucol_t *u = ucol_find(c, key);
  if (u == NULL) return false;
  size_t len = strlen(json);
  double x;
  if (len > 0 && (json[0] == '-' || (json[0] >= '0' && json[0] <= '9')) && json[len - 1] >= '0' &&
      json[len - 1] <= '9' && hp_num_span(json, len, HP_NUM_STRICT) == len &&
      hp_num_parse(json, len, HP_NUM_STRICT, &x, "value", NULL) == 0) {
    u->v[i] = x; /* a plain number: no JSON tree */
    return true;
  }
  cJSON *e = NULL;
  if (hp_json_parse(json, len, "user attribute", &e, NULL) < 0) return true;
  bool ok = true;
  if (cJSON_IsNumber(e)) {
    u->v[i] = e->valuedouble;
  } else {
    free(u->other[i]);
    ok = (u->other[i] = hp_json_print(e)) != NULL;
  }
  cJSON_Delete(e);
  return ok;
}

/* Stored datetimes are local time: one offset turns the naive scale into
 * epoch seconds (off by an hour across a DST change, like durations). */
static double epoch(const char *datetime, double *offset) {
  int64_t us;
  if (!hp_view_naive_micros_(datetime, &us)) return NAN;
  if (isnan(*offset)) *offset = (double)us / 1e6 - hp_view_local_seconds(datetime);
  return (double)us / 1e6 - *offset;
}

/* ---- reading: one column-shaped pass (hp_store_trials_scan) ---------------- */

typedef struct iv_row {
  size_t i;
  double step, value;
} iv_row_t;

typedef struct scan {
  hp_view_t *v;
  hp_view_cols_t *c;
  size_t base;        /* index of the scan's trial 0 */
  double offset;      /* local time -> epoch seconds */
  long last_param;    /* the column of the previous parameter row */
  iv_row_t *iv;       /* the intermediate values read, placed after the pass */
  size_t n_iv, cap_iv;
  hp_err_t *err;
} scan_t;

static int sc_trial(void *ctx, size_t i, const hp_store_scan_trial_t *t) {
  scan_t *x = ctx;
  hp_view_cols_t *c = x->c;
  (void)i; /* == c->n - x->base: trials come in order */
  if (!reserve(c)) return HP_ENOMEM;
  size_t at = c->n;
  c->number[at] = (double)t->number;
  c->tid[at] = (double)t->trial_id;
  c->state[at] = (double)t->state;
  c->start[at] = epoch(t->datetime_start, &x->offset);
  c->end[at] = epoch(t->datetime_complete, &x->offset);
  for (int j = 0; j < c->nobj; j++) c->val[j][at] = NAN;
  c->reason[at] = NULL;
  c->n++;
  return 0;
}

static int sc_param(void *ctx, size_t i, const char *name, double value, const char *dist) {
  scan_t *x = ctx;
  /* a trial's parameters come in one order: the column after the last one first */
  pcol_t *p = pcol_find(x->c, name, (size_t)(x->last_param + 1));
  if (p == NULL || !put_param(x->v, p, x->base + i, value, dist)) return HP_ENOMEM;
  x->last_param = p - x->c->p;
  return 0;
}

static int sc_value(void *ctx, size_t i, int k, double value) {
  scan_t *x = ctx;
  if (k < x->c->nobj) x->c->val[k][x->base + i] = value;
  return 0;
}

static int sc_inter(void *ctx, size_t i, int64_t step, double value) {
  scan_t *x = ctx;
  if (x->n_iv == x->cap_iv) {
    size_t cap = x->cap_iv ? 2 * x->cap_iv : 4096;
    iv_row_t *p = realloc(x->iv, cap * sizeof *p);
    if (p == NULL) return HP_ENOMEM;
    x->iv = p;
    x->cap_iv = cap;
  }
  x->iv[x->n_iv++] = (iv_row_t){i, (double)step, value};
  return 0;
}

static int sc_user_attr(void *ctx, size_t i, const char *key, const char *json) {
  scan_t *x = ctx;
  return put_user_attr(x->c, x->base + i, key, json) ? 0 : HP_ENOMEM;
}

/* The reason: Optuna's fail_reason, else hpsearch's own (hp_view_trial_reason). */
static int sc_system_attr(void *ctx, size_t i, const char *key, const char *json) {
  scan_t *x = ctx;
  char **r = &x->c->reason[x->base + i];
  bool fail = strcmp(key, HP_STORE_FAIL_REASON_KEY) == 0;
  if (!fail && *r != NULL) return 0;
  cJSON *e = NULL;
  if (hp_json_parse(json, strlen(json), "system attribute", &e, NULL) < 0) return 0;
  int rc = 0;
  if (cJSON_IsString(e)) {
    free(*r);
    if ((*r = strdup(e->valuestring)) == NULL) rc = HP_ENOMEM;
  }
  cJSON_Delete(e);
  return rc;
}

/* The intermediate values read, trial by trial in step order (each trial's
 * rows came in step order), behind the ones kept. */
static int place_intermediate(scan_t *x) {
  hp_view_cols_t *c = x->c;
  size_t n = c->n - x->base;
  size_t *start = calloc(n + 1, sizeof *start);
  if (start == NULL) return HP_ENOMEM;
  for (size_t r = 0; r < x->n_iv; r++) start[x->iv[r].i + 1]++;
  for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
  size_t base = c->iv_step.n;
  bool ok = true;
  for (size_t r = 0; ok && r < x->n_iv; r++) ok = col_push(&c->iv_step, NAN) && col_push(&c->iv_value, NAN);
  for (size_t i = 0; ok && i < n; i++) c->iv_off[x->base + i + 1] = (double)(base + start[i + 1]);
  for (size_t r = 0; ok && r < x->n_iv; r++) {
    size_t at = base + start[x->iv[r].i]++;
    c->iv_step.v[at] = x->iv[r].step;
    c->iv_value.v[at] = x->iv[r].value;
  }
  free(start);
  return ok ? 0 : HP_ENOMEM;
}

int hp_view_cols_update(hp_view_t *v, hp_store_t *s, int64_t study_id, hp_view_cols_t *c,
                        hp_err_t *err) {
  if (c->loaded && c->study_id != study_id)
    return hp_err_set(err, HP_EINVAL, "these columns belong to study %lld, not %lld",
                      (long long)c->study_id, (long long)study_id);
  if (!c->loaded) {
    hp_store_study_info_t info;
    int rc = hp_store_study_get(s, study_id, &info, err);
    if (rc < 0) return rc;
    truncate_to(c, 0);
    free(c->name);
    c->name = info.name;
    info.name = NULL;
    c->study_id = study_id;
    c->nobj = info.n_objectives > 0 ? info.n_objectives : 1;
    memcpy(c->maximize, info.maximize, sizeof c->maximize);
    hp_store_study_info_clear(&info);
    for (int k = 0; k < c->nobj; k++)
      if (!grow_d(&c->val[k], 0, c->cap ? c->cap : 1)) return hp_err_set(err, HP_ENOMEM, "out of memory");
    if (c->iv_off == NULL && !grow_d(&c->iv_off, 0, 1)) return hp_err_set(err, HP_ENOMEM, "out of memory");
    c->iv_off[0] = 0;
  }
  int64_t from = c->loaded ? hp_view_cols_open(c) : 0;
  /* keep the trials numbered below `from` */
  size_t k = c->n;
  while (k > 0 && c->number[k - 1] >= (double)from) k--;
  /* the trial_id where the re-read starts: the first unfinished trial's, or
   * past the last one read (a rowid range, no pass over the earlier trials) */
  int64_t min_id = k < c->n ? (int64_t)c->tid[k] : k > 0 ? (int64_t)c->tid[k - 1] + 1 : 0;
  truncate_to(c, k);
  scan_t x = {.v = v, .c = c, .base = k, .offset = NAN, .last_param = -1, .err = err};
  hp_store_scan_t sc = {.min_number = from, .min_trial_id = min_id, .times = true,
                        .system_keys = {HP_STORE_FAIL_REASON_KEY, HP_STORE_ATTR_REASON},
                        .ctx = &x, .trial = sc_trial, .param = sc_param, .value = sc_value,
                        .inter = sc_inter, .user_attr = sc_user_attr, .system_attr = sc_system_attr};
  int rc = hp_store_trials_scan(s, study_id, &sc, err);
  if (rc == 0) rc = place_intermediate(&x);
  free(x.iv);
  c->loaded = rc == 0;
  if (rc == HP_ENOMEM)
    return hp_err_set(err, HP_ENOMEM, "out of memory reading the trials of study %lld",
                      (long long)study_id);
  if (rc < 0) truncate_to(c, 0); /* read everything again next time */
  return rc;
}

/* The distribution as the page reads it: the space's own JSON form. */
static void write_dist(hp_sbuf_t *o, const pcol_t *p) {
  if (!p->has_dist) {
    hp_sbuf_puts(o, "null");
    return;
  }
  const hp_dist_t *d = &p->dist;
  hp_sbuf_puts(o, d->kind == HP_DIST_FLOAT ? "{\"type\":\"float\""
                  : d->kind == HP_DIST_INT ? "{\"type\":\"int\""
                                           : "{\"type\":\"categorical\"");
  if (d->kind == HP_DIST_CAT) {
    hp_sbuf_puts(o, ",\"choices\":");
    hp_sbuf_json(o, p->choices);
  } else {
    hp_sbuf_puts(o, ",\"low\":");
    hp_sbuf_num(o, d->low);
    hp_sbuf_puts(o, ",\"high\":");
    hp_sbuf_num(o, d->high);
    hp_sbuf_puts(o, d->log ? ",\"log\":true" : ",\"log\":false");
    if (d->step > 0) {
      hp_sbuf_puts(o, ",\"step\":");
      hp_sbuf_num(o, d->step);
    }
  }
  hp_sbuf_puts(o, "}");
}

/* The narrowest type that holds every value of a column exactly: unsigned
 * bytes, int16 or int32 for whole numbers (no NaN, no -0), float32 where
 * each double survives the round trip (NaN and infinities included), else
 * float64. So the page gets every stored double bit for bit in fewer bytes
 * (a state in one byte, a trial number in four). */
typedef enum { COL_U1, COL_I2, COL_I4, COL_F4, COL_F8 } col_type_t;
static const char *const COL_TYPE_NAME[] = {"u1", "i2", "i4", "f4", "f8"};
static const size_t COL_TYPE_SIZE[] = {1, 2, 4, 4, 8};

static col_type_t col_type(const double *v, size_t n) {
  bool whole = true, f4 = true;
  double lo = 0, hi = 0;
  for (size_t i = 0; i < n && (whole || f4); i++) {
    double x = v[i];
    if (whole) {
      if (x == floor(x) && x >= INT32_MIN && x <= INT32_MAX && !(x == 0 && signbit(x))) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      } else {
        whole = false;
      }
    }
    if (f4 && !isnan(x) && (double)(float)x != x) f4 = false;
  }
  if (whole) return lo >= 0 && hi <= 255 ? COL_U1 : lo >= INT16_MIN && hi <= INT16_MAX ? COL_I2 : COL_I4;
  return f4 ? COL_F4 : COL_F8;
}

/* One column in its type, little-endian (the host's order: x86 and arm64),
 * zeros after it up to a multiple of 8 bytes so the next one starts
 * aligned for any typed array. */
static void put_col(hp_sbuf_t *out, const double *v, size_t n, col_type_t t) {
  union {
    uint8_t u1[512];
    int16_t i2[256];
    int32_t i4[128];
    float f4[128];
  } tmp;
  if (t == COL_F8) {
    hp_sbuf_put(out, (const char *)v, n * sizeof *v);
  } else {
    size_t per = sizeof tmp / COL_TYPE_SIZE[t];
    for (size_t a = 0; a < n; a += per) {
      size_t m = n - a < per ? n - a : per;
      for (size_t i = 0; i < m; i++) {
        double x = v[a + i];
        if (t == COL_U1) tmp.u1[i] = (uint8_t)x;
        else if (t == COL_I2) tmp.i2[i] = (int16_t)x;
        else if (t == COL_I4) tmp.i4[i] = (int32_t)x;
        else tmp.f4[i] = (float)x;
      }
      hp_sbuf_put(out, (const char *)&tmp, m * COL_TYPE_SIZE[t]);
    }
  }
  static const char zeros[8] = {0};
  size_t pad = (8 - n * COL_TYPE_SIZE[t] % 8) % 8;
  hp_sbuf_put(out, zeros, pad);
}

/* [lo, hi] of the finite values of v[0..n) (with `pos`: also [lo, hi] of
 * the positive ones, for a log axis), where keep is NULL or keep[i] ==
 * HP_STORE_COMPLETE; null when there are none. */
static void write_extent(hp_sbuf_t *h, const double *v, size_t n, const double *keep, bool pos) {
  double lo = INFINITY, hi = -INFINITY, plo = INFINITY, phi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double x = v[i];
    if (!isfinite(x) || (keep != NULL && keep[i] != HP_STORE_COMPLETE)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    if (x > 0 && x < plo) plo = x;
    if (x > 0 && x > phi) phi = x;
  }
  if (lo > hi) {
    hp_sbuf_puts(h, "null");
    return;
  }
  hp_sbuf_puts(h, "[");
  hp_sbuf_num(h, lo);
  hp_sbuf_puts(h, ",");
  hp_sbuf_num(h, hi);
  if (pos && plo <= phi) {
    hp_sbuf_puts(h, ",");
    hp_sbuf_num(h, plo);
    hp_sbuf_puts(h, ",");
    hp_sbuf_num(h, phi);
  }
  hp_sbuf_puts(h, "]");
}

/* "extents": the range of each plotted column over every trial kept (not
 * only those sent), so a page sets its axes without a pass over 100,000
 * trials: valueK over the COMPLETE trials, each numeric parameter (and its
 * positive part), the intermediate steps and values. */
static void write_extents(hp_sbuf_t *h, const hp_view_cols_t *c) {
  char name[32];
  for (int k = 0; k < c->nobj; k++) {
    snprintf(name, sizeof name, "value%d", k);
    hp_sbuf_puts(h, k ? ",\"" : "\"");
    hp_sbuf_puts(h, name);
    hp_sbuf_puts(h, "\":");
    write_extent(h, c->val[k], c->n, c->state, false);
  }
  for (size_t j = 0; j < c->np; j++) {
    if (c->p[j].has_dist && c->p[j].dist.kind == HP_DIST_CAT) continue;
    snprintf(name, sizeof name, "p%zu", j);
    hp_sbuf_puts(h, ",\"");
    hp_sbuf_puts(h, name);
    hp_sbuf_puts(h, "\":");
    write_extent(h, c->p[j].v, c->n, NULL, true);
  }
  hp_sbuf_puts(h, ",\"iv_step\":");
  write_extent(h, c->iv_step.v, c->iv_step.n, NULL, false);
  hp_sbuf_puts(h, ",\"iv_value\":");
  write_extent(h, c->iv_value.v, c->iv_value.n, NULL, false);
}

/* The columns of a write, in the order they are sent. */
typedef struct out_col {
  char name[32];
  const double *v;
  size_t n;
  col_type_t type;
} out_col_t;

/* "number":text members of a per-trial string array from k0 on. */
static void write_sparse(hp_sbuf_t *h, const hp_view_cols_t *c, char *const *a, size_t k0, bool quote) {
  bool first = true;
  for (size_t i = k0; i < c->n; i++) {
    if (a[i] == NULL) continue;
    hp_sbuf_puts(h, first ? "\"" : ",\"");
    first = false;
    hp_sbuf_int(h, (long long)c->number[i]);
    hp_sbuf_puts(h, "\":");
    if (quote) hp_sbuf_str(h, a[i]);
    else hp_sbuf_puts(h, a[i]);
  }
}

int hp_view_cols_write(const hp_view_cols_t *c, int64_t from, hp_sbuf_t *out, hp_err_t *err) {
  size_t k0 = 0;
  while (k0 < c->n && c->number[k0] < (double)from) k0++;
  size_t n = c->n - k0;
  hp_sbuf_t h = {0};
  hp_sbuf_puts(&h, "{\"format\":\"hpsearch-columns-2\",\"study_id\":");
  hp_sbuf_int(&h, c->study_id);
  hp_sbuf_puts(&h, ",\"name\":");
  hp_sbuf_str(&h, c->name ? c->name : "");
  hp_sbuf_puts(&h, ",\"directions\":[");
  for (int k = 0; k < c->nobj; k++) {
    if (k) hp_sbuf_puts(&h, ",");
    hp_sbuf_puts(&h, c->maximize[k] ? "\"maximize\"" : "\"minimize\"");
  }
  hp_sbuf_puts(&h, "],\"from\":");
  hp_sbuf_int(&h, from);
  hp_sbuf_puts(&h, ",\"n\":");
  hp_sbuf_int(&h, (long long)n);
  hp_sbuf_puts(&h, ",\"params\":[");
  for (size_t j = 0; j < c->np; j++) {
    hp_sbuf_puts(&h, j ? ",{\"name\":" : "{\"name\":");
    hp_sbuf_str(&h, c->p[j].name);
    hp_sbuf_puts(&h, ",\"dist\":");
    write_dist(&h, &c->p[j]);
    hp_sbuf_puts(&h, "}");
  }
  hp_sbuf_puts(&h, "],\"user_attrs\":[");
  for (size_t j = 0; j < c->nu; j++) {
    hp_sbuf_puts(&h, j ? ",{\"name\":" : "{\"name\":");
    hp_sbuf_str(&h, c->u[j].name);
    hp_sbuf_puts(&h, ",\"other\":{");
    write_sparse(&h, c, c->u[j].other, k0, false);
    hp_sbuf_puts(&h, "}}");
  }
  hp_sbuf_puts(&h, "],\"reason\":{");
  write_sparse(&h, c, c->reason, k0, true);
  hp_sbuf_puts(&h, "},\"extents\":{");
  write_extents(&h, c);
  hp_sbuf_puts(&h, "},\"columns\":[");
  size_t niv = c->iv_step.n - (size_t)c->iv_off[k0], ncol = 0;
  size_t maxcol = 8 + (size_t)c->nobj + c->np + c->nu;
  out_col_t *oc = malloc(maxcol * sizeof *oc);
  double *off = malloc((n + 1) * sizeof *off);
  bool oom = h.oom || oc == NULL || off == NULL;
  if (!oom) {
    for (size_t i = 0; i <= n; i++) off[i] = c->iv_off[k0 + i] - c->iv_off[k0];
#define COL(nm, ptr, cnt) (snprintf(oc[ncol].name, sizeof oc[ncol].name, "%s", nm), \
                           oc[ncol].v = (ptr), oc[ncol++].n = (cnt))
    char nm[32];
    COL("number", c->number + k0, n);
    COL("state", c->state + k0, n);
    COL("start", c->start + k0, n);
    COL("end", c->end + k0, n);
    for (int k = 0; k < c->nobj; k++) snprintf(nm, sizeof nm, "value%d", k), COL(nm, c->val[k] + k0, n);
    COL("iv_off", off, n + 1);
    COL("iv_step", c->iv_step.v + (size_t)c->iv_off[k0], niv);
    COL("iv_value", c->iv_value.v + (size_t)c->iv_off[k0], niv);
    for (size_t j = 0; j < c->np; j++) snprintf(nm, sizeof nm, "p%zu", j), COL(nm, c->p[j].v + k0, n);
    for (size_t j = 0; j < c->nu; j++) snprintf(nm, sizeof nm, "u%zu", j), COL(nm, c->u[j].v + k0, n);
#undef COL
    for (size_t j = 0; j < ncol; j++) {
      oc[j].type = col_type(oc[j].v, oc[j].n);
      hp_sbuf_puts(&h, j ? ",[" : "[");
      hp_sbuf_str(&h, oc[j].name);
      hp_sbuf_puts(&h, ",");
      hp_sbuf_int(&h, (long long)oc[j].n);
      hp_sbuf_puts(&h, ",\"");
      hp_sbuf_puts(&h, COL_TYPE_NAME[oc[j].type]);
      hp_sbuf_puts(&h, "\"]");
    }
    hp_sbuf_puts(&h, "]}");
    while ((8 + h.len) % 8) hp_sbuf_puts(&h, " ");
    oom = h.oom;
  }
  if (!oom) {
    unsigned char head[8] = {'H', 'P', 'C', '2'};
    uint32_t hl = (uint32_t)h.len;
    for (int k = 0; k < 4; k++) head[4 + k] = (unsigned char)(hl >> (8 * k));
    hp_sbuf_put(out, (const char *)head, 8);
    hp_sbuf_put(out, h.p, h.len);
    for (size_t j = 0; j < ncol; j++) put_col(out, oc[j].v, oc[j].n, oc[j].type);
    oom = out->oom;
  }
  free(oc);
  free(off);
  free(h.p);
  if (oom) return hp_err_set(err, HP_ENOMEM, "out of memory writing the columns of study %lld",
                             (long long)c->study_id);
  return 0;
}

int hp_view_study_columns(hp_view_t *v, hp_store_t *s, int64_t study_id, int64_t from,
                          hp_sbuf_t *out, hp_err_t *err) {
  hp_view_cols_t *c = hp_view_cols_new();
  if (c == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = hp_view_cols_update(v, s, study_id, c, err);
  if (rc == 0) rc = hp_view_cols_write(c, from, out, err);
  hp_view_cols_free(c);
  return rc;
}

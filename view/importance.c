/* The importance object (include/hpsearch/view.h, hp_view_importance): a
 * study's COMPLETE trials turned into search/importance.c's table (one
 * decoded distribution per distinct distribution_json, one column per
 * parameter name in order of first appearance) and its answer written as
 * the JSON shape that the CLI, the daemon and the dashboard share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/importance.h"
#include "hpsearch/view.h"
#include "view_int.h"

void hp_view_table_free(hp_view_table_t *tb) {
  if (tb == NULL) return;
  for (int i = 0; i < tb->n_dists; i++) {
    free(tb->dist_json[i]);
    hp_dist_free(&tb->dists[i]);
  }
  free(tb->dist_json);
  free(tb->dists);
  for (int p = 0; tb->owned_names && p < tb->n_params; p++) free(tb->owned_names[p]);
  free(tb->owned_names);
  free(tb->names);
  free(tb->x);
  free(tb->cell);
  free(tb->y);
  free(tb->number);
  free(tb->index);
  memset(tb, 0, sizeof *tb);
}

/* Column of a parameter name; hint (a guess, may be out of range) is tried
 * first: trials list their parameters in one order. */
static int name_index(hp_view_table_t *tb, const char *name, int hint) {
  if (hint >= 0 && hint < tb->n_params && strcmp(tb->names[hint], name) == 0) return hint;
  for (int p = 0; p < tb->n_params; p++)
    if (strcmp(tb->names[p], name) == 0) return p;
  return -1;
}

/* The decoded distribution of a distribution_json text, decoded once per
 * distinct text; hint (an index or -1: the parameter's previous one) is
 * tried first. */
static const hp_dist_t *dist_index(hp_view_table_t *tb, const char *json, int hint,
                                   hp_err_t *err, int *rc) {
  if (hint >= 0 && strcmp(tb->dist_json[hint], json) == 0) return &tb->dists[hint];
  for (int i = 0; i < tb->n_dists; i++)
    if (strcmp(tb->dist_json[i], json) == 0) return &tb->dists[i];
  if (tb->n_dists == tb->cap_dists) {
    int cap = tb->cap_dists ? tb->cap_dists * 2 : 16;
    char **j = realloc(tb->dist_json, sizeof *j * (size_t)cap);
    if (j) tb->dist_json = j;
    hp_dist_t *d = j ? realloc(tb->dists, sizeof *d * (size_t)cap) : NULL;
    if (d == NULL) {
      *rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      return NULL;
    }
    tb->dists = d; /* the table keeps indices, never pointers into it */
    tb->cap_dists = cap;
  }
  hp_dist_t d;
  if (hp_dist_from_optuna_json(json, strlen(json), &d, err) < 0) {
    *rc = HP_EFORMAT;
    return NULL;
  }
  if ((tb->dist_json[tb->n_dists] = strdup(json)) == NULL) {
    hp_dist_free(&d);
    *rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    return NULL;
  }
  tb->dists[tb->n_dists] = d;
  return &tb->dists[tb->n_dists++];
}

/* Whether trial t gets a row. */
static bool takes(const hp_store_trial_t *t, bool complete_only) {
  return !complete_only || (t->state == HP_STORE_COMPLETE && t->n_values > 0);
}

int hp_view_table(const hp_store_trial_t *trials, size_t n, bool complete_only,
                  hp_view_table_t *tb, hp_err_t *err) {
  memset(tb, 0, sizeof *tb);
  int rc = 0;
  int *last = NULL;
  size_t rows = 0;
  for (size_t i = 0; i < n; i++) rows += takes(&trials[i], complete_only);
  /* names first: the table's width */
  int cap_names = 0;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (!takes(t, complete_only)) continue;
    for (size_t j = 0; j < t->n_params; j++) {
      if (name_index(tb, t->params[j].name, (int)j) >= 0) continue;
      if (tb->n_params == cap_names) {
        cap_names = cap_names ? cap_names * 2 : 16;
        const char **nn = realloc(tb->names, sizeof *nn * (size_t)cap_names);
        if (nn == NULL) goto oom;
        tb->names = nn;
      }
      tb->names[tb->n_params++] = t->params[j].name;
    }
  }
  size_t cells = rows * (size_t)tb->n_params;
  tb->x = malloc(sizeof *tb->x * (cells + 1));
  tb->cell = malloc(sizeof *tb->cell * (cells + 1));
  tb->y = malloc(sizeof *tb->y * (rows + 1));
  tb->number = malloc(sizeof *tb->number * (rows + 1));
  tb->index = malloc(sizeof *tb->index * (rows + 1));
  last = malloc(sizeof *last * (size_t)(tb->n_params + 1)); /* a column's previous cell */
  if (!tb->x || !tb->cell || !tb->y || !tb->number || !tb->index || !last) goto oom;
  for (size_t c = 0; c < cells; c++) tb->x[c] = NAN, tb->cell[c] = -1;
  for (int p = 0; p < tb->n_params; p++) last[p] = -1;
  int64_t r = 0;
  for (size_t i = 0; i < n; i++) {
    const hp_store_trial_t *t = &trials[i];
    if (!takes(t, complete_only)) continue;
    for (size_t j = 0; j < t->n_params; j++) {
      int p = name_index(tb, t->params[j].name, (int)j);
      const hp_dist_t *d =
          dist_index(tb, t->params[j].distribution_json, last[p], err, &rc);
      if (d == NULL) {
        hp_err_prefix(err, "trial %lld, parameter %s", (long long)t->number, t->params[j].name);
        goto fail;
      }
      /* a value outside its own distribution (another writer's) counts as absent */
      if (!hp_dist_contains(d, t->params[j].value)) continue;
      last[p] = (int)(d - tb->dists);
      tb->x[r * tb->n_params + p] = t->params[j].value;
      tb->cell[r * tb->n_params + p] = last[p];
    }
    tb->y[r] = t->n_values > 0 ? t->values[0] : NAN;
    tb->number[r] = t->number;
    tb->index[r] = i;
    r++;
  }
  tb->n_rows = r;
  free(last);
  return 0;
oom:
  rc = hp_err_set(err, HP_ENOMEM, "out of memory");
fail:
  free(last);
  hp_view_table_free(tb);
  return rc;
}

/* ---- the table from a column-shaped read ---------------------------------- */

typedef struct tcell {
  size_t row;
  int name, dist;  /* indices into the scan's names and the table's dists */
  double value;
} tcell_t;

typedef struct tscan {
  hp_view_table_t *tb;
  char **names;            /* distinct names as first met (owned until handed over) */
  int n_names, cap_names, last_name;
  int *last_dist;          /* [cap_names] a name's previous distribution */
  tcell_t *c;
  size_t nc, cap_c, rows, cap_rows;
  bool *has_value;         /* [cap_rows] */
  hp_err_t *err;
} tscan_t;

static int ts_oom(tscan_t *t) { return hp_err_set(t->err, HP_ENOMEM, "out of memory"); }

static int ts_trial(void *ctx, size_t i, const hp_store_scan_trial_t *x) {
  tscan_t *t = ctx;
  hp_view_table_t *tb = t->tb;
  if (i >= t->cap_rows) {
    size_t cap = t->cap_rows ? 2 * t->cap_rows : 1024;
    int64_t *num = realloc(tb->number, cap * sizeof *num);
    if (num) tb->number = num;
    double *y = num ? realloc(tb->y, cap * sizeof *y) : NULL;
    if (y) tb->y = y;
    bool *hv = y ? realloc(t->has_value, cap * sizeof *hv) : NULL;
    if (hv == NULL) return ts_oom(t);
    t->has_value = hv;
    t->cap_rows = cap;
  }
  tb->number[i] = x->number;
  tb->y[i] = NAN;
  t->has_value[i] = false;
  t->rows = i + 1;
  return 0;
}

static int ts_value(void *ctx, size_t i, int objective, double v) {
  tscan_t *t = ctx;
  if (objective == 0) t->tb->y[i] = v, t->has_value[i] = true;
  return 0;
}

static int ts_param(void *ctx, size_t i, const char *name, double value, const char *dist_json) {
  tscan_t *t = ctx;
  int k = t->last_name + 1 < t->n_names && strcmp(t->names[t->last_name + 1], name) == 0
              ? t->last_name + 1
              : -1;
  for (int p = 0; k < 0 && p < t->n_names; p++)
    if (strcmp(t->names[p], name) == 0) k = p;
  if (k < 0) {
    if (t->n_names == t->cap_names) {
      int cap = t->cap_names ? 2 * t->cap_names : 16;
      char **nn = realloc(t->names, sizeof *nn * (size_t)cap);
      if (nn) t->names = nn;
      int *ld = nn ? realloc(t->last_dist, sizeof *ld * (size_t)cap) : NULL;
      if (ld == NULL) return ts_oom(t);
      t->last_dist = ld;
      t->cap_names = cap;
    }
    if ((t->names[t->n_names] = strdup(name)) == NULL) return ts_oom(t);
    t->last_dist[t->n_names] = -1;
    k = t->n_names++;
  }
  t->last_name = k;
  int rc = 0;
  const hp_dist_t *d = dist_index(t->tb, dist_json, t->last_dist[k], t->err, &rc);
  if (d == NULL) {
    hp_err_prefix(t->err, "trial %lld, parameter %s", (long long)t->tb->number[i], name);
    return rc ? rc : HP_EFORMAT;
  }
  /* a value outside its own distribution (another writer's) counts as absent */
  if (!hp_dist_contains(d, value)) return 0;
  t->last_dist[k] = (int)(d - t->tb->dists);
  if (t->nc == t->cap_c) {
    size_t cap = t->cap_c ? 2 * t->cap_c : 4096;
    tcell_t *c = realloc(t->c, cap * sizeof *c);
    if (c == NULL) return ts_oom(t);
    t->c = c;
    t->cap_c = cap;
  }
  t->c[t->nc++] = (tcell_t){i, k, t->last_dist[k], value};
  return 0;
}

int hp_view_table_scan(hp_store_t *s, int64_t study_id, hp_view_table_t *tb, hp_err_t *err) {
  memset(tb, 0, sizeof *tb);
  tscan_t t = {.tb = tb, .last_name = -1, .err = err};
  hp_store_scan_t sc = {.complete_only = true, .ctx = &t, .trial = ts_trial, .param = ts_param,
                        .value = ts_value};
  size_t *start = NULL, *order = NULL;
  int64_t *row_of = NULL;
  int *col = NULL;
  int rc = hp_store_trials_scan(s, study_id, &sc, err);
  if (rc) goto done;
  /* rows: the COMPLETE trials with a value, in number order */
  row_of = malloc((t.rows + 1) * sizeof *row_of);
  start = calloc(t.rows + 2, sizeof *start);
  order = malloc((t.nc + 1) * sizeof *order);
  col = malloc(sizeof *col * (size_t)(t.n_names + 1));
  if (!row_of || !start || !order || !col) goto oom;
  int64_t r = 0;
  for (size_t i = 0; i < t.rows; i++) {
    row_of[i] = t.has_value[i] ? r : -1;
    if (t.has_value[i]) tb->number[r] = tb->number[i], tb->y[r] = tb->y[i], r++;
  }
  tb->n_rows = r;
  /* the cells by row, each trial's in the order read: columns then come in
   * order of first appearance, trial by trial, as hp_view_table makes them */
  for (size_t c = 0; c < t.nc; c++) start[t.c[c].row + 1]++;
  for (size_t i = 0; i < t.rows; i++) start[i + 1] += start[i];
  for (size_t c = 0; c < t.nc; c++) order[start[t.c[c].row]++] = c;
  for (int p = 0; p < t.n_names; p++) col[p] = -1;
  if (!(tb->names = malloc(sizeof *tb->names * (size_t)(t.n_names + 1))) ||
      !(tb->owned_names = calloc((size_t)t.n_names + 1, sizeof *tb->owned_names)))
    goto oom;
  for (size_t o = 0; o < t.nc; o++) {
    const tcell_t *c = &t.c[order[o]];
    if (row_of[c->row] < 0 || col[c->name] >= 0) continue;
    col[c->name] = tb->n_params;
    tb->owned_names[tb->n_params] = t.names[c->name];
    t.names[c->name] = NULL;
    tb->names[tb->n_params] = tb->owned_names[tb->n_params];
    tb->n_params++;
  }
  size_t cells = (size_t)r * (size_t)tb->n_params;
  tb->x = malloc(sizeof *tb->x * (cells + 1));
  tb->cell = malloc(sizeof *tb->cell * (cells + 1));
  tb->index = malloc(sizeof *tb->index * (size_t)(r + 1));
  if (!tb->x || !tb->cell || !tb->index) goto oom;
  for (size_t c = 0; c < cells; c++) tb->x[c] = NAN, tb->cell[c] = -1;
  for (int64_t i = 0; i < r; i++) tb->index[i] = (size_t)i;
  for (size_t c = 0; c < t.nc; c++) {
    int64_t row = row_of[t.c[c].row];
    if (row < 0) continue;
    size_t at = (size_t)row * (size_t)tb->n_params + (size_t)col[t.c[c].name];
    tb->x[at] = t.c[c].value;
    tb->cell[at] = t.c[c].dist;
  }
  goto done;
oom:
  rc = hp_err_set(err, HP_ENOMEM, "out of memory");
done:
  for (int p = 0; p < t.n_names; p++) free(t.names[p]);
  free(t.names);
  free(t.last_dist);
  free(t.c);
  free(t.has_value);
  free(row_of);
  free(start);
  free(order);
  free(col);
  if (rc) hp_view_table_free(tb);
  return rc;
}

/* Descending importance, ties by name. */
typedef struct ranked {
  const char *name;
  double imp;
} ranked_t;

static int cmp_ranked(const void *a, const void *b) {
  const ranked_t *x = a, *y = b;
  if (x->imp != y->imp) return x->imp < y->imp ? 1 : -1;
  return strcmp(x->name, y->name);
}

int hp_view_importance_values(const hp_view_table_t *tb, bool maximize, const hp_imp_opts_t *o,
                              double *out, hp_imp_skip_t *skip, int64_t *n_used, hp_err_t *err) {
  size_t cells = (size_t)tb->n_rows * (size_t)tb->n_params;
  const hp_dist_t **dist = malloc(sizeof *dist * (cells + 1));
  if (dist == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  for (size_t c = 0; c < cells; c++) dist[c] = tb->cell[c] >= 0 ? &tb->dists[tb->cell[c]] : NULL;
  hp_imp_table_t t = {.n_params = tb->n_params,
                      .names = tb->names,
                      .n_trials = tb->n_rows,
                      .x = tb->x,
                      .dist = dist,
                      .y = tb->y,
                      .maximize = maximize};
  int rc = hp_importance(&t, o, out, skip, n_used, err);
  free(dist);
  return rc;
}

struct hp_view_imp_job {
  hp_imp_opts_t opts;
  char *name;             /* the study's */
  bool maximize;
  hp_view_table_t tb;     /* the snapshot */
  double *imp;            /* [n_params] */
  hp_imp_skip_t *skip;    /* [n_params] */
  int64_t used;
  int rc;                 /* of the ranking */
  hp_err_t err;
};

void hp_view_importance_free(hp_view_imp_job_t *job) {
  if (job == NULL) return;
  free(job->name);
  hp_view_table_free(&job->tb);
  free(job->imp);
  free(job->skip);
  free(job);
}

int hp_view_importance_prepare(hp_store_t *s, int64_t study_id, const hp_imp_opts_t *o,
                               hp_view_imp_job_t **out, hp_err_t *err) {
  *out = NULL;
  hp_store_study_info_t info;
  int rc = hp_store_study_brief(s, study_id, &info, err);
  if (rc < 0) return rc;
  hp_view_imp_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) {
    hp_store_study_info_clear(&info);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  job->opts = *o;
  job->maximize = info.maximize[0];
  job->name = info.name;
  info.name = NULL;
  if (info.n_objectives != 1)
    rc = hp_err_set(err, HP_EINVAL,
                    "study '%s' has %d objectives: importance ranks parameters for one objective",
                    job->name, info.n_objectives);
  hp_store_study_info_clear(&info);
  if (rc == 0) rc = hp_view_table_scan(s, study_id, &job->tb, err);
  int np = job->tb.n_params;
  if (rc == 0 && (!(job->imp = malloc(sizeof *job->imp * (size_t)(np + 1))) ||
                  !(job->skip = malloc(sizeof *job->skip * (size_t)(np + 1)))))
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc < 0) {
    hp_view_importance_free(job);
    return rc;
  }
  *out = job;
  return 0;
}

void hp_view_importance_run(hp_view_imp_job_t *job) {
  job->rc = hp_view_importance_values(&job->tb, job->maximize, &job->opts, job->imp, job->skip,
                                      &job->used, &job->err);
}

int hp_view_importance_json(hp_view_imp_job_t *job, cJSON **out, hp_err_t *err) {
  *out = NULL;
  int rc = job->rc;
  if (rc < 0) {
    if (err) *err = job->err;
    hp_view_importance_free(job);
    return rc;
  }
  const hp_view_table_t *tb = &job->tb;
  int np = tb->n_params;
  ranked_t *rk = malloc(sizeof *rk * (size_t)(np + 1));
  cJSON *j = rk ? cJSON_CreateObject() : NULL;
  if (j == NULL) {
    free(rk);
    hp_view_importance_free(job);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  cJSON_AddStringToObject(j, "study", job->name);
  cJSON_AddStringToObject(j, "evaluator", hp_imp_evaluator_name(job->opts.evaluator));
  cJSON_AddStringToObject(j, "direction", job->maximize ? "maximize" : "minimize");
  cJSON_AddNumberToObject(j, "n_trials", (double)job->used);
  int k = 0;
  for (int p = 0; p < np; p++)
    if (job->skip[p] == HP_IMP_EVALUATED) rk[k].name = tb->names[p], rk[k++].imp = job->imp[p];
  qsort(rk, (size_t)k, sizeof *rk, cmp_ranked);
  cJSON *arr = cJSON_AddArrayToObject(j, "importances");
  for (int i = 0; i < k && arr; i++) {
    cJSON *e = cJSON_CreateObject();
    if (e == NULL) break;
    cJSON_AddStringToObject(e, "param", rk[i].name);
    cJSON_AddItemToObject(e, "importance", hp_view_number(rk[i].imp));
    cJSON_AddItemToArray(arr, e);
  }
  cJSON *sk = cJSON_AddArrayToObject(j, "skipped");
  for (int p = 0; p < np && sk; p++) {
    if (job->skip[p] == HP_IMP_EVALUATED) continue;
    cJSON *e = cJSON_CreateObject();
    if (e == NULL) break;
    cJSON_AddStringToObject(e, "param", tb->names[p]);
    cJSON_AddStringToObject(e, "reason",
                            "conditional: fANOVA ranks only parameters every complete trial has "
                            "with one distribution (use --evaluator ped-anova)");
    cJSON_AddItemToArray(sk, e);
  }
  free(rk);
  hp_view_importance_free(job);
  *out = j;
  return 0;
}

int hp_view_importance(hp_store_t *s, int64_t study_id, const hp_imp_opts_t *o, cJSON **out,
                       hp_err_t *err) {
  hp_view_imp_job_t *job = NULL;
  *out = NULL;
  int rc = hp_view_importance_prepare(s, study_id, o, &job, err);
  if (rc < 0) return rc;
  hp_view_importance_run(job);
  return hp_view_importance_json(job, out, err);
}

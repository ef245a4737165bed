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

int hp_view_importance(hp_store_t *s, int64_t study_id, const hp_imp_opts_t *o, cJSON **out,
                       hp_err_t *err) {
  *out = NULL;
  hp_store_study_info_t info;
  int rc = hp_store_study_get(s, study_id, &info, err);
  if (rc < 0) return rc;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  hp_view_table_t tb;
  double *imp = NULL;
  hp_imp_skip_t *skip = NULL;
  ranked_t *rk = NULL;
  memset(&tb, 0, sizeof tb);
  if (info.n_objectives != 1) {
    rc = hp_err_set(err, HP_EINVAL,
                    "study '%s' has %d objectives: importance ranks parameters for one objective",
                    info.name, info.n_objectives);
    goto done;
  }
  if ((rc = hp_store_trials_list(s, study_id, 0, &trials, &n, err)) < 0) goto done;
  if ((rc = hp_view_table(trials, n, true, &tb, err)) < 0) goto done;
  int np = tb.n_params;
  imp = malloc(sizeof *imp * (size_t)(np + 1));
  skip = malloc(sizeof *skip * (size_t)(np + 1));
  rk = malloc(sizeof *rk * (size_t)(np + 1));
  if (!imp || !skip || !rk) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  int64_t used = 0;
  if ((rc = hp_view_importance_values(&tb, info.maximize[0], o, imp, skip, &used, err)) < 0)
    goto done;
  cJSON *j = cJSON_CreateObject();
  if (j == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  cJSON_AddStringToObject(j, "study", info.name);
  cJSON_AddStringToObject(j, "evaluator", hp_imp_evaluator_name(o->evaluator));
  cJSON_AddStringToObject(j, "direction", info.maximize[0] ? "maximize" : "minimize");
  cJSON_AddNumberToObject(j, "n_trials", (double)used);
  int k = 0;
  for (int p = 0; p < np; p++)
    if (skip[p] == HP_IMP_EVALUATED) rk[k].name = tb.names[p], rk[k++].imp = imp[p];
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
    if (skip[p] == HP_IMP_EVALUATED) continue;
    cJSON *e = cJSON_CreateObject();
    if (e == NULL) break;
    cJSON_AddStringToObject(e, "param", tb.names[p]);
    cJSON_AddStringToObject(e, "reason",
                            "conditional: fANOVA ranks only parameters every complete trial has "
                            "with one distribution (use --evaluator ped-anova)");
    cJSON_AddItemToArray(sk, e);
  }
  *out = j;
done:
  free(imp);
  free(skip);
  free(rk);
  hp_view_table_free(&tb);
  hp_store_trials_free(trials, n);
  hp_store_study_info_clear(&info);
  return rc;
}

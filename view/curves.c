/* Learning curves (the system attribute "hpsearch:curves", docs/storage.md):
 * the per-step training metrics an objective's step lines carry (the
 * engine's worker prints train/validation loss and accuracy every epoch),
 * kept as one JSON object of aligned arrays that Optuna reads as a plain
 * system attribute:
 *   {"step": [1, 2], "train_loss": [0.61, 0.42], "train_accuracy": [..],
 *    "val_loss": [..], "val_accuracy": [..]}
 * with null where a step had no finite value. Built here for the daemon,
 * read here for trial objects and for advise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/view.h"

const char *const hp_view_curve_keys[HP_VIEW_CURVE_KEYS] = {"train_loss", "train_accuracy",
                                                              "val_loss", "val_accuracy"};

void hp_view_curves_add(cJSON **curves, int64_t step, const cJSON *line) {
  double v[HP_VIEW_CURVE_KEYS];
  bool any = false;
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(line, hp_view_curve_keys[k]);
    v[k] = NAN;
    if (m != NULL && hp_json_value(m, HP_NUM_LENIENT, &v[k], hp_view_curve_keys[k], NULL) == 0)
      any = true;
  }
  if (!any) return; /* a step line without training metrics */
  if (*curves == NULL) {
    cJSON *c = cJSON_CreateObject();
    if (c == NULL || cJSON_AddArrayToObject(c, "step") == NULL) {
      cJSON_Delete(c);
      return;
    }
    for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) cJSON_AddArrayToObject(c, hp_view_curve_keys[k]);
    *curves = c;
  }
  cJSON *steps = cJSON_GetObjectItemCaseSensitive(*curves, "step");
  int n = cJSON_GetArraySize(steps);
  if (n >= HP_VIEW_CURVE_MAX_STEPS) return;
  /* The same step again replaces its values (as trial.report does). */
  bool again = n > 0 && cJSON_GetArrayItem(steps, n - 1)->valuedouble == (double)step;
  if (!again) cJSON_AddItemToArray(steps, cJSON_CreateNumber((double)step));
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) {
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(*curves, hp_view_curve_keys[k]);
    cJSON *item = isfinite(v[k]) ? cJSON_CreateNumber(v[k]) : cJSON_CreateNull();
    if (again) cJSON_ReplaceItemInArray(arr, n - 1, item);
    else cJSON_AddItemToArray(arr, item);
  }
}

void hp_view_curves_free(hp_view_curves_t *c) {
  if (c == NULL) return;
  free(c->step);
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) free(c->m[k]);
  memset(c, 0, sizeof *c);
}

int hp_view_curves_parse(const char *system_attrs_json, hp_view_curves_t *out) {
  memset(out, 0, sizeof *out);
  if (system_attrs_json == NULL || strstr(system_attrs_json, HP_STORE_ATTR_CURVES) == NULL)
    return HP_ENOTFOUND;
  cJSON *sys = NULL;
  if (hp_json_parse(system_attrs_json, strlen(system_attrs_json), "system attributes", &sys,
                    NULL) < 0)
    return HP_EFORMAT;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(sys, HP_STORE_ATTR_CURVES);
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(c, "step");
  int n = cJSON_GetArraySize(steps), rc = 0;
  if (!cJSON_IsArray(steps) || n == 0) {
    cJSON_Delete(sys);
    return HP_ENOTFOUND;
  }
  out->step = malloc(sizeof *out->step * (size_t)n);
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) out->m[k] = malloc(sizeof(double) * (size_t)n);
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++)
    if (out->m[k] == NULL) rc = HP_ENOMEM;
  if (out->step == NULL || rc) {
    hp_view_curves_free(out);
    cJSON_Delete(sys);
    return HP_ENOMEM;
  }
  int i = 0;
  for (const cJSON *s = steps->child; s; s = s->next, i++)
    out->step[i] = cJSON_IsNumber(s) ? (int64_t)s->valuedouble : i;
  for (int k = 0; k < HP_VIEW_CURVE_KEYS; k++) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c, hp_view_curve_keys[k]);
    for (i = 0; i < n; i++) {
      const cJSON *e = cJSON_GetArrayItem(arr, i);
      out->m[k][i] = cJSON_IsNumber(e) ? e->valuedouble : NAN;
    }
  }
  out->n = n;
  cJSON_Delete(sys);
  return 0;
}

/* Learning-rate schedules eps_k (constant, linear decay to eps_tau as in
 * Goodfellow et al. section 8.3.1, step, exponential, cosine) with an
 * optional linear warm-up, as a pure function of the step number, and
 * their JSON form (the "schedule" object inside "optimizer"). */
#include <math.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/optim.h"

static const char *const sched_names[HP_SCHED_COUNT_] = {
    [HP_SCHED_CONSTANT] = "constant", [HP_SCHED_LINEAR] = "linear",
    [HP_SCHED_STEP] = "step",         [HP_SCHED_EXPONENTIAL] = "exponential",
    [HP_SCHED_COSINE] = "cosine",
};

double hp_schedule_lr(const hp_schedule_t *s, double lr0, int64_t step, int64_t steps_per_epoch) {
  int64_t k = step;
  if (s->per_epoch) k = steps_per_epoch > 0 ? step / steps_per_epoch : step;
  if (s->warmup > 0 && k < s->warmup) return lr0 * (double)(k + 1) / (double)s->warmup;
  k -= s->warmup;
  double end = s->end_lr_set ? s->end_lr : lr0 / 100.0;
  switch (s->kind) {
  case HP_SCHED_LINEAR: {
    if (s->steps <= 0) return lr0; /* length not filled in (hp_schedule_fit_run) */
    if (k >= s->steps) return end;
    double a = (double)k / (double)s->steps;
    return (1.0 - a) * lr0 + a * end;
  }
  case HP_SCHED_STEP:
    return lr0 * pow(s->gamma, (double)(k / s->step_size));
  case HP_SCHED_EXPONENTIAL:
    return lr0 * pow(s->gamma, (double)k);
  case HP_SCHED_COSINE:
    if (s->steps <= 0) return lr0;
    if (k >= s->steps) return end;
    return end + (lr0 - end) * 0.5 * (1.0 + cos(M_PI * (double)k / (double)s->steps));
  case HP_SCHED_CONSTANT:
  default:
    return lr0;
  }
}

void hp_schedule_fit_run(hp_schedule_t *s, int64_t epochs, int64_t steps_per_epoch) {
  if ((s->kind != HP_SCHED_LINEAR && s->kind != HP_SCHED_COSINE) || s->steps > 0) return;
  int64_t total = s->per_epoch ? epochs : epochs * (steps_per_epoch > 0 ? steps_per_epoch : 1);
  s->steps = total - s->warmup > 1 ? total - s->warmup : 1;
}

int hp_schedule_parse(const cJSON *item, hp_schedule_t *s, const char *where, hp_err_t *err) {
  const char *name = NULL;
  int rc;
  if (cJSON_IsString(item)) {
    name = item->valuestring;
  } else if (cJSON_IsObject(item)) {
    if ((rc = hp_json_get_string(item, "type", true, &name, where, err))) return rc;
  } else {
    return hp_err_set(err, HP_EINVAL, "%s: expected a schedule name or object, got %s", where,
                      hp_json_type_name(item));
  }
  int kind = -1;
  for (int k = 0; k < HP_SCHED_COUNT_; k++)
    if (strcmp(name, sched_names[k]) == 0) kind = k;
  if (kind < 0)
    return hp_err_set(err, HP_EINVAL,
                      "%s.type: unknown schedule '%s' (valid: constant, linear, step, "
                      "exponential, cosine)",
                      where, name);
  s->kind = (hp_sched_kind_t)kind;
  s->gamma = kind == HP_SCHED_EXPONENTIAL ? 0.99 : 0.1;
  if (!cJSON_IsObject(item)) {
    if (kind == HP_SCHED_STEP)
      return hp_err_set(err, HP_EINVAL,
                        "%s: schedule 'step' needs an object with its \"step_size\", e.g. "
                        "{\"type\": \"step\", \"step_size\": 1000, \"gamma\": 0.1}",
                        where);
    return 0;
  }
  static const char *const k_const[] = {"type", "warmup", "unit", NULL};
  static const char *const k_decay[] = {"type", "warmup", "unit", "end_lr", "steps", NULL};
  static const char *const k_step[] = {"type", "warmup", "unit", "step_size", "gamma", NULL};
  static const char *const k_exp[] = {"type", "warmup", "unit", "gamma", NULL};
  const char *const *allowed = k_const;
  if (kind == HP_SCHED_LINEAR || kind == HP_SCHED_COSINE) allowed = k_decay;
  if (kind == HP_SCHED_STEP) allowed = k_step;
  if (kind == HP_SCHED_EXPONENTIAL) allowed = k_exp;
  if ((rc = hp_json_check_keys(item, allowed, where, err))) return rc;

  long long v;
  const long long big = (long long)1 << 50;
  if (allowed == k_decay) {
    v = 0; /* absent: the whole run, filled in by hp_schedule_fit_run */
    if ((rc = hp_json_get_int(item, "steps", false, 1, big, &v, where, err))) return rc;
    s->steps = v;
    if (cJSON_GetObjectItemCaseSensitive(item, "end_lr")) {
      if ((rc = hp_json_get_number(item, "end_lr", true, &s->end_lr, where, err))) return rc;
      if (!isfinite(s->end_lr) || s->end_lr < 0)
        return hp_err_set(err, HP_EINVAL, "%s.end_lr: must be >= 0, got %g", where, s->end_lr);
      s->end_lr_set = 1;
    }
  }
  if (kind == HP_SCHED_STEP) {
    if ((rc = hp_json_get_int(item, "step_size", true, 1, big, &v, where, err))) return rc;
    s->step_size = v;
  }
  if (kind == HP_SCHED_STEP || kind == HP_SCHED_EXPONENTIAL) {
    if ((rc = hp_json_get_number(item, "gamma", false, &s->gamma, where, err))) return rc;
    if (!(s->gamma > 0 && s->gamma <= 1))
      return hp_err_set(err, HP_EINVAL, "%s.gamma: must be in (0, 1], got %g", where, s->gamma);
  }
  v = 0;
  if ((rc = hp_json_get_int(item, "warmup", false, 0, big, &v, where, err))) return rc;
  s->warmup = v;
  const char *unit = "step";
  if ((rc = hp_json_get_string(item, "unit", false, &unit, where, err))) return rc;
  if (strcmp(unit, "step") == 0)
    s->per_epoch = 0;
  else if (strcmp(unit, "epoch") == 0)
    s->per_epoch = 1;
  else
    return hp_err_set(err, HP_EINVAL, "%s.unit: must be \"step\" or \"epoch\", got \"%s\"",
                      where, unit);
  return 0;
}

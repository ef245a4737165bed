/* Weight initializers (zeros, uniform, normal, Glorot, Kaiming) and their
 * JSON form. The variance rules keep activations and gradients at a stable
 * scale through deep stacks: Glorot for symmetric activations, Kaiming for
 * ReLU (which halves the variance, hence the factor 2). */
#include "hpsearch/init.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hpsearch/json.h"

static const char *const init_names[HP_INIT_COUNT_] = {
    [HP_INIT_ZEROS] = "zeros",
    [HP_INIT_UNIFORM] = "uniform",
    [HP_INIT_NORMAL] = "normal",
    [HP_INIT_GLOROT_UNIFORM] = "glorot_uniform",
    [HP_INIT_GLOROT_NORMAL] = "glorot_normal",
    [HP_INIT_KAIMING_NORMAL] = "kaiming_normal",
    [HP_INIT_KAIMING_UNIFORM] = "kaiming_uniform",
};

const char *hp_init_name(hp_init_kind_t kind) {
  return (kind >= 0 && kind < HP_INIT_COUNT_) ? init_names[kind] : "?";
}

int hp_init_kind_from_name(const char *name) {
  for (int k = 0; k < HP_INIT_COUNT_; k++)
    if (strcmp(name, init_names[k]) == 0) return k;
  return -1;
}

void hp_init_default(hp_init_t *init, hp_init_kind_t kind) {
  init->kind = kind;
  init->a = 0.05;
  init->std = 0.01;
  init->scale = 1.0;
}

static int unknown_name(const char *name, const char *where, hp_err_t *err) {
  char list[256] = "";
  for (int k = 0; k < HP_INIT_COUNT_; k++) {
    strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, init_names[k], sizeof list - strlen(list) - 1);
  }
  return hp_err_set(err, HP_EINVAL, "%s: unknown initializer '%s' (valid: %s)", where, name,
                    list);
}

static int get_nonneg(const cJSON *obj, const char *key, double *out, const char *where,
                      hp_err_t *err) {
  int rc = hp_json_get_number(obj, key, false, out, where, err);
  if (rc) return rc;
  if (!isfinite(*out) || *out < 0)
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be a finite number >= 0, got %g", where,
                      key, *out);
  return 0;
}

int hp_init_parse(const cJSON *item, hp_init_t *out, const char *where, hp_err_t *err) {
  const char *name = NULL;
  if (cJSON_IsString(item)) {
    name = item->valuestring;
  } else if (cJSON_IsObject(item)) {
    int rc = hp_json_get_string(item, "type", true, &name, where, err);
    if (rc) return rc;
  } else {
    return hp_err_set(err, HP_EINVAL, "%s: expected an initializer name or object, got %s",
                      where, hp_json_type_name(item));
  }
  int kind = hp_init_kind_from_name(name);
  if (kind < 0) return unknown_name(name, where, err);
  hp_init_t init;
  hp_init_default(&init, (hp_init_kind_t)kind);
  if (cJSON_IsObject(item)) {
    /* Only the parameter that means something for this kind is accepted, so
     * a typo such as {"type": "normal", "a": 1} does not pass silently. */
    static const char *const k_none[] = {"type", NULL};
    static const char *const k_uniform[] = {"type", "a", NULL};
    static const char *const k_normal[] = {"type", "std", NULL};
    static const char *const k_scaled[] = {"type", "scale", NULL};
    const char *const *allowed = k_scaled;
    if (kind == HP_INIT_ZEROS) allowed = k_none;
    if (kind == HP_INIT_UNIFORM) allowed = k_uniform;
    if (kind == HP_INIT_NORMAL) allowed = k_normal;
    int rc = hp_json_check_keys(item, allowed, where, err);
    if (!rc) rc = get_nonneg(item, "a", &init.a, where, err);
    if (!rc) rc = get_nonneg(item, "std", &init.std, where, err);
    if (!rc) rc = get_nonneg(item, "scale", &init.scale, where, err);
    if (rc) return rc;
  }
  *out = init;
  return 0;
}

static void fill_uniform(float *w, size_t n, double a, hp_rng_t *rng) {
  for (size_t i = 0; i < n; i++) w[i] = (float)(a * (2.0 * hp_rng_uniform(rng) - 1.0));
}

static void fill_normal(float *w, size_t n, double std, hp_rng_t *rng) {
  for (size_t i = 0; i < n; i++) w[i] = (float)(std * hp_rng_normal(rng));
}

void hp_init_fill(const hp_init_t *init, float *w, size_t n, size_t fan_in, size_t fan_out,
                  hp_rng_t *rng) {
  double m = (double)fan_in, nn = (double)fan_out;
  switch (init->kind) {
  case HP_INIT_ZEROS:
    memset(w, 0, n * sizeof *w);
    break;
  case HP_INIT_UNIFORM:
    fill_uniform(w, n, init->a, rng);
    break;
  case HP_INIT_NORMAL:
    fill_normal(w, n, init->std, rng);
    break;
  case HP_INIT_GLOROT_UNIFORM:
    assert(fan_in > 0 && fan_out > 0);
    fill_uniform(w, n, init->scale * sqrt(6.0 / (m + nn)), rng);
    break;
  case HP_INIT_GLOROT_NORMAL:
    assert(fan_in > 0 && fan_out > 0);
    fill_normal(w, n, init->scale * sqrt(2.0 / (m + nn)), rng);
    break;
  case HP_INIT_KAIMING_NORMAL:
    assert(fan_in > 0);
    fill_normal(w, n, init->scale * sqrt(2.0 / m), rng);
    break;
  case HP_INIT_KAIMING_UNIFORM:
    assert(fan_in > 0);
    fill_uniform(w, n, init->scale * sqrt(6.0 / m), rng);
    break;
  default:
    assert(!"unknown initializer kind");
  }
}

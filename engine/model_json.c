/* The training config in JSON: validation with errors that name the field
 * and the reason, expansion of the shorthands a search sweeps over (an "mlp"
 * block with "hidden" widths or "width" x "depth", per-layer "batch_norm" /
 * "dropout" flags and their global defaults), and the dotted-path override
 * helper behind `hpsearch train --set key=value`. Format: docs/engine.md. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/engine.h"
#include "hpsearch/json.h"
#include "hpsearch/utf8.h"

#define MAX_UNITS (1 << 20)
#define MAX_LAYERS 1024

/* Growable list of expanded layer specs. */
typedef struct spec_list {
  hp_layer_spec_t *v;
  int n, cap;
} spec_list_t;

static int push(spec_list_t *l, const hp_layer_spec_t *s, hp_err_t *err) {
  if (l->n >= MAX_LAYERS)
    return hp_err_set(err, HP_ETOOBIG, "layers: more than %d layers after expansion",
                      MAX_LAYERS);
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    hp_layer_spec_t *nv = realloc(l->v, (size_t)cap * sizeof *nv);
    if (nv == NULL) return hp_err_set(err, HP_ENOMEM, "layers: out of memory");
    l->v = nv, l->cap = cap;
  }
  l->v[l->n++] = *s;
  return 0;
}

/* Integer field in [lo, hi] with a message that says the rule. */
static int get_int(const cJSON *o, const char *key, bool required, int lo, int hi, int *out,
                   const char *where, hp_err_t *err) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (it == NULL) {
    if (required) return hp_err_set(err, HP_EINVAL, "%s.%s: required but missing", where, key);
    return 0;
  }
  if (!cJSON_IsNumber(it))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected an integer, got %s", where, key,
                      hp_json_type_name(it));
  double d = it->valuedouble;
  if (!isfinite(d) || d != floor(d))
    return hp_err_set(err, HP_EINVAL, "%s.%s: expected an integer, got %g", where, key, d);
  if (d < lo) {
    if (lo == 1) return hp_err_set(err, HP_EINVAL, "%s.%s: must be > 0 (got %g)", where, key, d);
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be >= %d (got %g)", where, key, lo, d);
  }
  if (d > hi)
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be <= %d (got %g)", where, key, hi, d);
  *out = (int)d;
  return 0;
}

/* Number field in [lo, hi] (hi_open: strictly below hi). */
static int get_float(const cJSON *o, const char *key, double lo, double hi, bool hi_open,
                     float *out, const char *where, hp_err_t *err) {
  double d = *out;
  int rc = hp_json_get_number(o, key, false, &d, where, err);
  if (rc != 0) return rc;
  if (d < lo || d > hi || (hi_open && d >= hi))
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be in [%g, %g%c (got %g)", where, key, lo,
                      hi, hi_open ? ')' : ']', d);
  *out = (float)d;
  return 0;
}

static const struct {
  const char *name;
  hp_act_kind_t kind;
} act_names[] = {{"none", HP_ACT_NONE},        {"linear", HP_ACT_NONE},
                 {"relu", HP_ACT_RELU},        {"leaky_relu", HP_ACT_LEAKY},
                 {"tanh", HP_ACT_TANH},        {"sigmoid", HP_ACT_SIGMOID}};

static int act_from_name(const char *name, hp_act_kind_t *out) {
  for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
    if (strcmp(name, act_names[i].name) == 0) return *out = act_names[i].kind, 0;
  return -1;
}

/* "activation": "relu" (or an object {"type": "leaky_relu", "slope": 0.1}). */
static int get_act(const cJSON *o, const char *key, hp_act_t *act, const char *where,
                   hp_err_t *err) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (it == NULL) return 0;
  char w[96];
  snprintf(w, sizeof w, "%s.%s", where, key);
  const char *name = NULL;
  if (cJSON_IsString(it)) {
    name = it->valuestring;
  } else if (cJSON_IsObject(it)) {
    static const char *const keys[] = {"type", "slope", NULL};
    int rc = hp_json_check_keys(it, keys, w, err);
    if (rc == 0) rc = hp_json_get_string(it, "type", true, &name, w, err);
    if (rc != 0) return rc;
  } else {
    return hp_err_set(err, HP_EINVAL, "%s: expected an activation name, got %s", w,
                      hp_json_type_name(it));
  }
  if (act_from_name(name, &act->kind) != 0)
    return hp_err_set(err, HP_EINVAL,
                      "%s: unknown activation '%s' (none, relu, leaky_relu, tanh, sigmoid)", w,
                      name);
  if (cJSON_IsObject(it)) return get_float(it, "slope", 0, 1, true, &act->slope, w, err);
  return 0;
}

/* Global defaults that shorthands and flags fall back to. */
typedef struct defaults {
  bool batch_norm; /* top-level "batch_norm" */
  float dropout;   /* top-level "dropout" */
} defaults_t;

static hp_layer_spec_t spec_new(hp_layer_kind_t kind, const char *where) {
  hp_layer_spec_t s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.stride = 1;
  s.act = (hp_act_t){HP_ACT_NONE, 0.01f};
  s.momentum = 0.1f;
  s.eps = 1e-5f;
  snprintf(s.where, sizeof s.where, "%s", where);
  return s;
}

/* Emits a dense/conv layer followed by what its flags ask for:
 * [batchnorm, activation] (BN needs the pre-activation) or the activation
 * fused, then dropout. */
static int emit_block(spec_list_t *l, hp_layer_spec_t main, bool bn, float dropout,
                      hp_err_t *err) {
  hp_act_t act = main.act;
  int rc;
  if (bn) {
    main.act = (hp_act_t){HP_ACT_NONE, act.slope};
    if ((rc = push(l, &main, err)) != 0) return rc;
    hp_layer_spec_t b = spec_new(HP_LAYER_BATCHNORM, main.where);
    if ((rc = push(l, &b, err)) != 0) return rc;
    if (act.kind != HP_ACT_NONE) {
      hp_layer_spec_t a = spec_new(HP_LAYER_ACTIVATION, main.where);
      a.act = act;
      if ((rc = push(l, &a, err)) != 0) return rc;
    }
  } else if ((rc = push(l, &main, err)) != 0) {
    return rc;
  }
  if (dropout > 0.0f) {
    hp_layer_spec_t d = spec_new(HP_LAYER_DROPOUT, main.where);
    d.rate = dropout;
    if ((rc = push(l, &d, err)) != 0) return rc;
  }
  return 0;
}

/* Per-layer "batch_norm"/"dropout", falling back to the global defaults for
 * hidden layers (never for the output layer). */
static int block_flags(const cJSON *o, bool is_output, const defaults_t *def, bool *bn,
                       float *dropout, const char *where, hp_err_t *err) {
  *bn = is_output ? false : def->batch_norm;
  *dropout = is_output ? 0.0f : def->dropout;
  int rc = hp_json_get_bool(o, "batch_norm", false, bn, where, err);
  if (rc == 0) rc = get_float(o, "dropout", 0, 1, true, dropout, where, err);
  return rc;
}

static int parse_init(const cJSON *o, hp_layer_spec_t *s, const char *where, hp_err_t *err) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "init");
  if (it == NULL) return 0;
  char w[96];
  snprintf(w, sizeof w, "%s.init", where);
  s->has_init = true;
  return hp_init_parse(it, &s->init, w, err);
}

static int parse_layer(const cJSON *o, bool is_output, const defaults_t *def, spec_list_t *l,
                       const char *where, hp_err_t *err) {
  if (!cJSON_IsObject(o))
    return hp_err_set(err, HP_EINVAL, "%s: expected a layer object, got %s", where,
                      hp_json_type_name(o));
  const char *type = NULL;
  int rc = hp_json_get_string(o, "type", true, &type, where, err);
  if (rc != 0) return rc;
  hp_act_kind_t act_kind = HP_ACT_NONE;

  if (strcmp(type, "dense") == 0) {
    static const char *const keys[] = {"type", "units", "activation", "batch_norm",
                                       "dropout", "init", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_DENSE, where);
    bool bn;
    float dropout;
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0 ||
        (rc = get_int(o, "units", true, 1, MAX_UNITS, &s.units, where, err)) != 0 ||
        (rc = get_act(o, "activation", &s.act, where, err)) != 0 ||
        (rc = block_flags(o, is_output, def, &bn, &dropout, where, err)) != 0 ||
        (rc = parse_init(o, &s, where, err)) != 0)
      return rc;
    return emit_block(l, s, bn, dropout, err);
  }
  if (strcmp(type, "conv2d") == 0 || strcmp(type, "conv") == 0) {
    static const char *const keys[] = {"type", "filters", "kernel", "stride", "padding",
                                       "activation", "batch_norm", "dropout", "init", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_CONV2D, where);
    bool bn;
    float dropout;
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0 ||
        (rc = get_int(o, "filters", true, 1, 65536, &s.filters, where, err)) != 0 ||
        (rc = get_int(o, "kernel", true, 1, 256, &s.kernel, where, err)) != 0 ||
        (rc = get_int(o, "stride", false, 1, 256, &s.stride, where, err)) != 0 ||
        (rc = get_int(o, "padding", false, 0, 256, &s.padding, where, err)) != 0 ||
        (rc = get_act(o, "activation", &s.act, where, err)) != 0 ||
        (rc = parse_init(o, &s, where, err)) != 0)
      return rc;
    /* Global dropout is for dense layers; a conv's own flag still works. */
    defaults_t conv_def = {def->batch_norm, 0.0f};
    if ((rc = block_flags(o, is_output, &conv_def, &bn, &dropout, where, err)) != 0) return rc;
    return emit_block(l, s, bn, dropout, err);
  }
  if (strcmp(type, "maxpool") == 0 || strcmp(type, "max_pool") == 0) {
    static const char *const keys[] = {"type", "size", "stride", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_MAXPOOL, where);
    s.kernel = 2;
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0 ||
        (rc = get_int(o, "size", false, 1, 256, &s.kernel, where, err)) != 0)
      return rc;
    s.stride = s.kernel;
    if ((rc = get_int(o, "stride", false, 1, 256, &s.stride, where, err)) != 0) return rc;
    return push(l, &s, err);
  }
  if (strcmp(type, "flatten") == 0) {
    static const char *const keys[] = {"type", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_FLATTEN, where);
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0) return rc;
    return push(l, &s, err);
  }
  if (strcmp(type, "batchnorm") == 0 || strcmp(type, "batch_norm") == 0) {
    static const char *const keys[] = {"type", "momentum", "eps", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_BATCHNORM, where);
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0 ||
        (rc = get_float(o, "momentum", 0, 1, false, &s.momentum, where, err)) != 0 ||
        (rc = get_float(o, "eps", 0, 1, false, &s.eps, where, err)) != 0)
      return rc;
    if (s.momentum <= 0 || s.eps <= 0)
      return hp_err_set(err, HP_EINVAL, "%s.%s: must be > 0", where,
                        s.momentum <= 0 ? "momentum" : "eps");
    return push(l, &s, err);
  }
  if (strcmp(type, "dropout") == 0) {
    static const char *const keys[] = {"type", "rate", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_DROPOUT, where);
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0) return rc;
    if (cJSON_GetObjectItemCaseSensitive(o, "rate") == NULL)
      return hp_err_set(err, HP_EINVAL, "%s.rate: required but missing", where);
    if ((rc = get_float(o, "rate", 0, 1, true, &s.rate, where, err)) != 0) return rc;
    return push(l, &s, err);
  }
  if (strcmp(type, "activation") == 0 || act_from_name(type, &act_kind) == 0) {
    static const char *const keys[] = {"type", "function", "slope", NULL};
    hp_layer_spec_t s = spec_new(HP_LAYER_ACTIVATION, where);
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0) return rc;
    if (strcmp(type, "activation") == 0) {
      if (cJSON_GetObjectItemCaseSensitive(o, "function") == NULL)
        return hp_err_set(err, HP_EINVAL, "%s.function: required but missing", where);
      if ((rc = get_act(o, "function", &s.act, where, err)) != 0) return rc;
    } else {
      if (cJSON_GetObjectItemCaseSensitive(o, "function") != NULL)
        return hp_err_set(err, HP_EINVAL, "%s: unknown key 'function'", where);
      s.act.kind = act_kind;
    }
    if ((rc = get_float(o, "slope", 0, 1, true, &s.act.slope, where, err)) != 0) return rc;
    return push(l, &s, err);
  }
  if (strcmp(type, "mlp") == 0) {
    /* Hidden dense layers: "hidden": [512, 256] or "width": W, "depth": D. */
    static const char *const keys[] = {"type", "hidden", "width", "depth", "activation",
                                       "batch_norm", "dropout", "init", NULL};
    if ((rc = hp_json_check_keys(o, keys, where, err)) != 0) return rc;
    const cJSON *hidden = cJSON_GetObjectItemCaseSensitive(o, "hidden");
    bool has_wd = cJSON_GetObjectItemCaseSensitive(o, "width") != NULL ||
                  cJSON_GetObjectItemCaseSensitive(o, "depth") != NULL;
    if ((hidden != NULL) == has_wd)
      return hp_err_set(err, HP_EINVAL,
                        "%s: give either \"hidden\": [widths...] or \"width\" and \"depth\"",
                        where);
    hp_layer_spec_t s = spec_new(HP_LAYER_DENSE, where);
    s.act.kind = HP_ACT_RELU;
    bool bn;
    float dropout;
    if ((rc = get_act(o, "activation", &s.act, where, err)) != 0 ||
        (rc = block_flags(o, false, def, &bn, &dropout, where, err)) != 0 ||
        (rc = parse_init(o, &s, where, err)) != 0)
      return rc;
    if (hidden != NULL) {
      if (!cJSON_IsArray(hidden))
        return hp_err_set(err, HP_EINVAL, "%s.hidden: expected an array of widths, got %s",
                          where, hp_json_type_name(hidden));
      int i = 0;
      for (const cJSON *h = hidden->child; h != NULL; h = h->next, i++) {
        hp_layer_spec_t d = s;
        snprintf(d.where, sizeof d.where, "%s.hidden[%d]", where, i);
        if (!cJSON_IsNumber(h) || h->valuedouble != floor(h->valuedouble))
          return hp_err_set(err, HP_EINVAL, "%s: expected an integer width", d.where);
        if (h->valuedouble < 1 || h->valuedouble > MAX_UNITS)
          return hp_err_set(err, HP_EINVAL, "%s: must be in [1, %d] (got %g)", d.where,
                            MAX_UNITS, h->valuedouble);
        d.units = (int)h->valuedouble;
        if ((rc = emit_block(l, d, bn, dropout, err)) != 0) return rc;
      }
      return 0;
    }
    int width = 0, depth = 0;
    if ((rc = get_int(o, "width", true, 1, MAX_UNITS, &width, where, err)) != 0 ||
        (rc = get_int(o, "depth", true, 0, MAX_LAYERS / 4, &depth, where, err)) != 0)
      return rc;
    for (int i = 0; i < depth; i++) {
      hp_layer_spec_t d = s;
      snprintf(d.where, sizeof d.where, "%s.width", where);
      d.units = width;
      if ((rc = emit_block(l, d, bn, dropout, err)) != 0) return rc;
    }
    return 0;
  }
  return hp_err_set(err, HP_EINVAL,
                    "%s.type: unknown layer type '%s' (dense, conv2d, maxpool, flatten, "
                    "batchnorm, dropout, relu, leaky_relu, tanh, sigmoid, activation, mlp)",
                    where, type);
}

static int parse_layers(const cJSON *arr, const defaults_t *def, hp_train_config_t *cfg,
                        hp_err_t *err) {
  if (!cJSON_IsArray(arr))
    return hp_err_set(err, HP_EINVAL, "layers: expected an array of layers, got %s",
                      hp_json_type_name(arr));
  int n = cJSON_GetArraySize(arr);
  if (n < 1) return hp_err_set(err, HP_EINVAL, "layers: must not be empty");
  /* The output layer is the last dense/conv: global flags skip it. */
  int out_idx = -1, i = 0;
  for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
    if (cJSON_IsString(t) && (strcmp(t->valuestring, "dense") == 0 ||
                              strncmp(t->valuestring, "conv", 4) == 0))
      out_idx = i;
  }
  spec_list_t l = {0};
  int rc = 0;
  i = 0;
  for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
    char where[48];
    snprintf(where, sizeof where, "layers[%d]", i);
    if ((rc = parse_layer(it, i == out_idx, def, &l, where, err)) != 0) {
      free(l.v);
      return rc;
    }
  }
  if (l.n == 0) {
    free(l.v);
    return hp_err_set(err, HP_EINVAL, "layers: no layer left after expansion (depth 0?)");
  }
  cfg->layers = l.v;
  cfg->n_layers = l.n;
  return 0;
}

static int parse_early_stopping(const cJSON *o, hp_train_config_t *cfg, hp_err_t *err) {
  static const char *const keys[] = {"patience", "min_delta", "monitor", NULL};
  const char *w = "early_stopping";
  int rc = hp_json_check_keys(o, keys, w, err);
  if (rc == 0) rc = get_int(o, "patience", true, 0, 1000000, &cfg->patience, w, err);
  if (rc == 0) rc = hp_json_get_number(o, "min_delta", false, &cfg->min_delta, w, err);
  if (rc != 0) return rc;
  if (cfg->min_delta < 0)
    return hp_err_set(err, HP_EINVAL, "early_stopping.min_delta: must be >= 0 (got %g)",
                      cfg->min_delta);
  const char *mon = "val_loss";
  if ((rc = hp_json_get_string(o, "monitor", false, &mon, w, err)) != 0) return rc;
  if (strcmp(mon, "val_accuracy") == 0) cfg->monitor_accuracy = true;
  else if (strcmp(mon, "val_loss") != 0)
    return hp_err_set(err, HP_EINVAL,
                      "early_stopping.monitor: must be \"val_loss\" or \"val_accuracy\" "
                      "(got \"%s\")",
                      mon);
  return 0;
}

/* "diagnostics": {"curvature": true, ...} (docs/engine.md). */
static int parse_diagnostics(const cJSON *o, hp_curv_config_t *c, hp_err_t *err) {
  static const char *const keys[] = {"curvature", "every_epoch", "samples", "lanczos_steps",
                                     "slq_vectors", "precond_steps", "fd_step", "hvp", NULL};
  const char *w = "diagnostics";
  if (!cJSON_IsObject(o))
    return hp_err_set(err, HP_EINVAL, "diagnostics: expected an object, got %s",
                      hp_json_type_name(o));
  int rc = hp_json_check_keys(o, keys, w, err);
  if (rc == 0) rc = hp_json_get_bool(o, "curvature", false, &c->enabled, w, err);
  if (rc == 0) rc = hp_json_get_bool(o, "every_epoch", false, &c->every_epoch, w, err);
  if (rc == 0) rc = get_int(o, "samples", false, 1, 1 << 20, &c->samples, w, err);
  if (rc == 0) rc = get_int(o, "lanczos_steps", false, 2, 200, &c->steps, w, err);
  if (rc == 0) rc = get_int(o, "slq_vectors", false, 1, 64, &c->vectors, w, err);
  if (rc == 0) rc = get_int(o, "precond_steps", false, 0, 200, &c->precond_steps, w, err);
  if (rc == 0) rc = hp_json_get_number(o, "fd_step", false, &c->fd_step, w, err);
  const char *hvp = "auto";
  if (rc == 0) rc = hp_json_get_string(o, "hvp", false, &hvp, w, err);
  if (rc != 0) return rc;
  if (strcmp(hvp, "auto") == 0) c->hvp = HP_CURV_HVP_AUTO;
  else if (strcmp(hvp, "exact") == 0) c->hvp = HP_CURV_HVP_EXACT;
  else if (strcmp(hvp, "fd") == 0) c->hvp = HP_CURV_HVP_FD;
  else
    return hp_err_set(err, HP_EINVAL,
                      "diagnostics.hvp: must be \"auto\", \"exact\" or \"fd\" (got \"%s\")", hvp);
  if (!(c->fd_step >= 1e-6 && c->fd_step <= 0.1))
    return hp_err_set(err, HP_EINVAL, "diagnostics.fd_step: must be in [1e-06, 0.1] (got %g)",
                      c->fd_step);
  if (c->every_epoch && !c->enabled)
    return hp_err_set(err, HP_EINVAL,
                      "diagnostics.every_epoch: needs \"curvature\": true as well");
  return 0;
}

/* "data": E2's parser, except "limit", which the trainer handles. */
static int parse_data(const cJSON *o, hp_train_config_t *cfg, hp_err_t *err) {
  if (o == NULL) return 0;
  if (!cJSON_IsObject(o))
    return hp_err_set(err, HP_EINVAL, "data: expected an object, got %s", hp_json_type_name(o));
  int rc = 0;
  const cJSON *lim = cJSON_GetObjectItemCaseSensitive(o, "limit");
  if (lim != NULL) {
    int v = 0;
    if ((rc = get_int(o, "limit", true, 0, 2000000000, &v, "data", err)) != 0) return rc;
    cfg->limit = (uint32_t)v;
    cJSON *copy = cJSON_Duplicate(o, true);
    if (copy == NULL) return hp_err_set(err, HP_ENOMEM, "data: out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "limit");
    rc = hp_data_config_parse(copy, &cfg->data, "data", err);
    cJSON_Delete(copy);
    return rc;
  }
  return hp_data_config_parse(o, &cfg->data, "data", err);
}

void hp_train_config_free(hp_train_config_t *cfg) {
  if (cfg == NULL) return;
  free(cfg->layers);
  cfg->layers = NULL;
  cfg->n_layers = 0;
}

int hp_train_config_parse(const cJSON *root, hp_train_config_t *cfg, hp_err_t *err) {
  static const char *const keys[] = {
      "layers", "initializer", "optimizer", "loss", "batch_size", "epochs", "seed",
      "threads", "early_stopping", "data", "batch_norm", "dropout", "description",
      "diagnostics", "precision", NULL};
  memset(cfg, 0, sizeof *cfg);
  cfg->batch_size = 128;
  cfg->epochs = 10;
  cfg->threads = 1;
  cfg->loss = HP_LOSS_SOFTMAX_CE;
  hp_init_default(&cfg->init, HP_INIT_GLOROT_UNIFORM);
  hp_optim_config_default(&cfg->optim, HP_OPTIM_ADAM);
  hp_data_config_default(&cfg->data);
  hp_curv_config_default(&cfg->curv);
  int rc = hp_json_check_keys(root, keys, "config", err);
  if (rc != 0) return rc;

  defaults_t def = {false, 0.0f};
  const char *loss = "softmax_cross_entropy";
  double seed = 0;
  if ((rc = hp_json_get_bool(root, "batch_norm", false, &def.batch_norm, "config", err)) ||
      (rc = get_float(root, "dropout", 0, 1, true, &def.dropout, "config", err)) ||
      (rc = get_int(root, "batch_size", false, 1, 1 << 16, &cfg->batch_size, "config", err)) ||
      (rc = get_int(root, "epochs", false, 1, 1000000, &cfg->epochs, "config", err)) ||
      (rc = get_int(root, "threads", false, 1, 256, &cfg->threads, "config", err)) ||
      (rc = hp_json_get_number(root, "seed", false, &seed, "config", err)) ||
      (rc = hp_json_get_string(root, "loss", false, &loss, "config", err)))
    goto fail;
  /* Error paths name top-level fields without the "config." prefix. */
  if (seed < 0 || seed != floor(seed) || seed > 9007199254740992.0) {
    rc = hp_err_set(err, HP_EINVAL, "seed: must be an integer in [0, 2^53] (got %g)", seed);
    goto fail;
  }
  cfg->seed = (uint64_t)seed;
  if (strcmp(loss, "softmax_cross_entropy") == 0 || strcmp(loss, "cross_entropy") == 0) {
    cfg->loss = HP_LOSS_SOFTMAX_CE;
  } else if (strcmp(loss, "mse") == 0) {
    cfg->loss = HP_LOSS_MSE;
  } else {
    rc = hp_err_set(err, HP_EINVAL,
                    "loss: unknown loss '%s' (softmax_cross_entropy, cross_entropy, mse)", loss);
    goto fail;
  }
  const char *precision = "fp32";
  if ((rc = hp_json_get_string(root, "precision", false, &precision, "config", err)) != 0)
    goto fail;
  if (strcmp(precision, "bf16") == 0) {
    cfg->bf16 = true;
  } else if (strcmp(precision, "fp32") != 0) {
    rc = hp_err_set(err, HP_EINVAL, "precision: must be \"fp32\" or \"bf16\" (got \"%s\")",
                    precision);
    goto fail;
  }
  const cJSON *it;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "initializer")) != NULL &&
      (rc = hp_init_parse(it, &cfg->init, "initializer", err)) != 0)
    goto fail;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "optimizer")) != NULL &&
      (rc = hp_optim_config_parse(it, &cfg->optim, "optimizer", err)) != 0)
    goto fail;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "diagnostics")) != NULL &&
      (rc = parse_diagnostics(it, &cfg->curv, err)) != 0)
    goto fail;
  if ((it = cJSON_GetObjectItemCaseSensitive(root, "early_stopping")) != NULL &&
      (rc = parse_early_stopping(it, cfg, err)) != 0)
    goto fail;
  if ((rc = parse_data(cJSON_GetObjectItemCaseSensitive(root, "data"), cfg, err)) != 0)
    goto fail;
  it = cJSON_GetObjectItemCaseSensitive(root, "layers");
  if (it == NULL) {
    rc = hp_err_set(err, HP_EINVAL, "layers: required but missing");
    goto fail;
  }
  if ((rc = parse_layers(it, &def, cfg, err)) != 0) goto fail;
  return 0;
fail:
  /* hp_json_get_* name fields "config.x"; drop that prefix for readability. */
  if (err != NULL && strncmp(err->msg, "config.", 7) == 0)
    memmove(err->msg, err->msg + 7, strlen(err->msg + 7) + 1);
  hp_train_config_free(cfg);
  return rc;
}

/* ---- --set key=value --------------------------------------------------- */

int hp_config_set(cJSON *root, const char *assignment, hp_err_t *err) {
  const char *eq = strchr(assignment, '=');
  if (eq == NULL || eq == assignment)
    return hp_err_set(err, HP_EINVAL, "--set '%s': expected key=value", assignment);
  const char *val = eq + 1;
  cJSON *value = NULL;
  hp_err_t perr = {0};
  size_t vlen = strlen(val);
  int prc = hp_json_parse(val, vlen, "value", &value, &perr);
  if (prc == HP_EINVAL) /* well-formed but refused: 1e400, \u0000 */
    return hp_err_set(err, HP_EINVAL, "--set %.*s: %s", (int)(eq - assignment), assignment,
                      perr.msg);
  if (prc < 0 && hp_utf8_check(val, vlen) != vlen)
    return hp_err_set(err, HP_EINVAL, "--set %.*s: the value is not valid UTF-8",
                      (int)(eq - assignment), assignment);
  if (prc < 0) value = cJSON_CreateString(val); /* bare words are strings */
  if (value == NULL) return hp_err_set(err, HP_ENOMEM, "--set: out of memory");

  size_t plen = (size_t)(eq - assignment);
  char path[512];
  if (plen >= sizeof path) {
    cJSON_Delete(value);
    return hp_err_set(err, HP_ETOOBIG, "--set: key path too long");
  }
  memcpy(path, assignment, plen);
  path[plen] = '\0';

  /* Walk segments "name" and "[index]"; the last one is replaced or added. */
  cJSON *node = root;
  const char *p = path;
  int rc = 0;
  while (*p) {
    char name[256];
    long index = -1;
    if (*p == '[') {
      char *end;
      errno = 0;
      index = strtol(p + 1, &end, 10);
      if (end == p + 1 || *end != ']' || index < 0 || errno != 0) {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: bad index at '%s'", path, p);
        goto fail;
      }
      p = end + 1;
    } else {
      size_t n = strcspn(p, ".[");
      if (n == 0 || n >= sizeof name) {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: empty or too long key at '%s'", path, p);
        goto fail;
      }
      memcpy(name, p, n);
      name[n] = '\0';
      p += n;
    }
    if (*p == '.') {
      p++;
      if (*p == '\0' || *p == '.') {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: empty key", path);
        goto fail;
      }
    }
    bool last = *p == '\0';
    /* The prefix walked so far, for messages. */
    char walked[512];
    snprintf(walked, sizeof walked, "%.*s", (int)(p - path), path);
    if (index >= 0) {
      if (!cJSON_IsArray(node)) {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: '%s' indexes a %s, not an array", path,
                        walked, hp_json_type_name(node));
        goto fail;
      }
      int n = cJSON_GetArraySize(node);
      if (index >= n) {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: index %ld is past the end (%d elements)",
                        path, index, n);
        goto fail;
      }
      if (last) {
        cJSON_ReplaceItemInArray(node, (int)index, value);
        return 0;
      }
      node = cJSON_GetArrayItem(node, (int)index);
    } else {
      if (!cJSON_IsObject(node)) {
        rc = hp_err_set(err, HP_EINVAL, "--set %s: '%s' is inside %s, not an object (write "
                        "name[N] for an array element)", path, walked,
                        cJSON_IsArray(node) ? "an array" : hp_json_type_name(node));
        goto fail;
      }
      cJSON *child = cJSON_GetObjectItemCaseSensitive(node, name);
      if (last) {
        if (child != NULL) cJSON_ReplaceItemInObjectCaseSensitive(node, name, value);
        else cJSON_AddItemToObject(node, name, value);
        return 0;
      }
      if (child == NULL) {
        /* Create intermediate objects: "optimizer.lr" with no optimizer yet. */
        child = cJSON_AddObjectToObject(node, name);
        if (child == NULL) {
          rc = hp_err_set(err, HP_ENOMEM, "--set: out of memory");
          goto fail;
        }
      }
      node = child;
    }
  }
  rc = hp_err_set(err, HP_EINVAL, "--set '%s': empty key", assignment);
fail:
  cJSON_Delete(value);
  return rc;
}

int hp_train_config_load(const char *path, const char *const *sets, int n_sets,
                         hp_train_config_t *cfg, hp_err_t *err) {
  cJSON *root = NULL;
  memset(cfg, 0, sizeof *cfg);
  int rc = hp_json_parse_file(path, &root, err);
  if (rc != 0) return rc;
  for (int i = 0; i < n_sets && rc == 0; i++) rc = hp_config_set(root, sets[i], err);
  if (rc == 0) {
    rc = hp_train_config_parse(root, cfg, err);
    if (rc != 0) hp_err_prefix(err, "%s", path);
  }
  cJSON_Delete(root);
  return rc;
}

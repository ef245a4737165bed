/* The optimizers of Goodfellow et al. (Algorithms 8.1-8.5, 8.7) as one pass
 * over flat float arrays, with clipping and weight decay folded into the
 * same pass, plus the "optimizer" JSON object. The step is on the training
 * hot path (Adam touches 4 arrays of 535k floats per MLP step), so each
 * algorithm is a branch-free elementwise loop compiled for AVX-512, AVX2 and
 * baseline x86-64 (picked at load time); no FMA contraction and no
 * reassociation, so every variant gives the same bits. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/hot.h"
#include "hpsearch/json.h"
#include "hpsearch/optim.h"


/* A run of parameters that all get (or all skip) weight decay. */
/* Parameters per block of the fused step (hp_optim_step_fused): 4 KB of
 * each array, so a block's parameters, gradients and state stay in the L1
 * cache while it is updated and rounded. A multiple of every vector width:
 * only a segment's last block takes the plain-float tail. */
#define FUSE_BLOCK 1024

typedef struct seg {
  size_t off, count;
  int decay;
} seg_t;

struct hp_optim {
  hp_optim_config_t cfg; /* copied config */
  size_t n;              /* parameters */
  int64_t t;             /* steps taken */
  int64_t spe;           /* steps per epoch (epoch schedules) */
  float *state;          /* one buffer: v | r | s,r (see hp_optim_state) */
  size_t n_state;        /* floats in state */
  seg_t *segs;           /* cover [0, n) in order */
  size_t n_segs;
  double last_norm;      /* pre-clip global gradient norm of the last step */
  double last_lr;        /* learning rate of the last step (NaN before the first) */
};

static const char *const optim_names[HP_OPTIM_COUNT_] = {
    [HP_OPTIM_SGD] = "sgd",         [HP_OPTIM_MOMENTUM] = "momentum",
    [HP_OPTIM_NESTEROV] = "nesterov", [HP_OPTIM_ADAGRAD] = "adagrad",
    [HP_OPTIM_RMSPROP] = "rmsprop", [HP_OPTIM_ADAM] = "adam",
};

const char *hp_optim_name(hp_optim_kind_t kind) {
  return (kind >= 0 && kind < HP_OPTIM_COUNT_) ? optim_names[kind] : "?";
}

void hp_optim_config_default(hp_optim_config_t *cfg, hp_optim_kind_t kind) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->lr = (kind == HP_OPTIM_RMSPROP || kind == HP_OPTIM_ADAM) ? 0.001 : 0.01;
  cfg->momentum = 0.9;
  cfg->rho = 0.9;
  cfg->beta1 = 0.9;
  cfg->beta2 = 0.999;
  cfg->delta = kind == HP_OPTIM_ADAGRAD ? 1e-7 : kind == HP_OPTIM_RMSPROP ? 1e-6 : 1e-8;
  cfg->sched.kind = HP_SCHED_CONSTANT;
  cfg->sched.gamma = 0.1;
}

static int check_unit_open(double v, const char *key, const char *where, hp_err_t *err) {
  if (!(v >= 0 && v < 1))
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be in [0, 1), got %g", where, key, v);
  return 0;
}

static int check_nonneg(double v, const char *key, const char *where, hp_err_t *err) {
  if (!(isfinite(v) && v >= 0))
    return hp_err_set(err, HP_EINVAL, "%s.%s: must be a finite number >= 0, got %g", where, key,
                      v);
  return 0;
}

int hp_optim_config_check(const hp_optim_config_t *c, const char *where, hp_err_t *err) {
  int rc = 0;
  if (!(isfinite(c->lr) && c->lr > 0))
    return hp_err_set(err, HP_EINVAL, "%s.lr: must be a finite number > 0, got %g", where,
                      c->lr);
  if (!(isfinite(c->delta) && c->delta > 0))
    return hp_err_set(err, HP_EINVAL, "%s.delta: must be a finite number > 0, got %g", where,
                      c->delta);
  if (!rc) rc = check_unit_open(c->momentum, "momentum", where, err);
  if (!rc) rc = check_unit_open(c->rho, "rho", where, err);
  if (!rc) rc = check_unit_open(c->beta1, "beta1", where, err);
  if (!rc) rc = check_unit_open(c->beta2, "beta2", where, err);
  if (!rc) rc = check_nonneg(c->weight_decay, "weight_decay", where, err);
  if (!rc) rc = check_nonneg(c->clip_norm, "clip_norm", where, err);
  if (!rc) rc = check_nonneg(c->clip_value, "clip_value", where, err);
  return rc;
}

int hp_optim_config_parse(const cJSON *obj, hp_optim_config_t *cfg, const char *where,
                          hp_err_t *err) {
  if (!cJSON_IsObject(obj))
    return hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                      hp_json_type_name(obj));
  const char *name = "adam";
  int rc = hp_json_get_string(obj, "type", false, &name, where, err);
  if (rc) return rc;
  int kind = -1;
  for (int k = 0; k < HP_OPTIM_COUNT_; k++)
    if (strcmp(name, optim_names[k]) == 0) kind = k;
  if (kind < 0)
    return hp_err_set(err, HP_EINVAL,
                      "%s.type: unknown optimizer '%s' (valid: sgd, momentum, nesterov, "
                      "adagrad, rmsprop, adam)",
                      where, name);
  /* Each algorithm accepts only its own constants, so a misplaced one
   * (e.g. "rho" for adam) is reported instead of silently ignored. */
#define COMMON "type", "lr", "weight_decay", "clip_norm", "clip_value", "schedule"
  static const char *const k_sgd[] = {COMMON, NULL};
  static const char *const k_mom[] = {COMMON, "momentum", NULL};
  static const char *const k_ada[] = {COMMON, "delta", NULL};
  static const char *const k_rms[] = {COMMON, "rho", "delta", NULL};
  static const char *const k_adam[] = {COMMON, "beta1", "beta2", "delta", NULL};
#undef COMMON
  const char *const *allowed[HP_OPTIM_COUNT_] = {k_sgd, k_mom, k_mom, k_ada, k_rms, k_adam};
  if ((rc = hp_json_check_keys(obj, allowed[kind], where, err))) return rc;

  hp_optim_config_t c;
  hp_optim_config_default(&c, (hp_optim_kind_t)kind);
  static const struct {
    const char *key;
    size_t off;
  } nums[] = {
      {"lr", offsetof(hp_optim_config_t, lr)},
      {"momentum", offsetof(hp_optim_config_t, momentum)},
      {"rho", offsetof(hp_optim_config_t, rho)},
      {"beta1", offsetof(hp_optim_config_t, beta1)},
      {"beta2", offsetof(hp_optim_config_t, beta2)},
      {"delta", offsetof(hp_optim_config_t, delta)},
      {"weight_decay", offsetof(hp_optim_config_t, weight_decay)},
      {"clip_norm", offsetof(hp_optim_config_t, clip_norm)},
      {"clip_value", offsetof(hp_optim_config_t, clip_value)},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    double *dst = (double *)((char *)&c + nums[i].off);
    if ((rc = hp_json_get_number(obj, nums[i].key, false, dst, where, err))) return rc;
  }
  const cJSON *sched = cJSON_GetObjectItemCaseSensitive(obj, "schedule");
  if (sched) {
    char sw[256];
    snprintf(sw, sizeof sw, "%s.schedule", where);
    if ((rc = hp_schedule_parse(sched, &c.sched, sw, err))) return rc;
  }
  if ((rc = hp_optim_config_check(&c, where, err))) return rc;
  *cfg = c;
  return 0;
}

static int range_cmp(const void *a, const void *b) {
  const hp_param_range_t *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Builds the ordered segment list covering [0, n) from the decay ranges. */
static int build_segments(hp_optim_t *o, const hp_param_range_t *decay, size_t n_decay,
                          hp_err_t *err) {
  hp_param_range_t *r = NULL;
  if (n_decay) {
    r = malloc(n_decay * sizeof *r);
    if (!r) return hp_err_set(err, HP_ENOMEM, "optimizer: out of memory");
    memcpy(r, decay, n_decay * sizeof *r);
    qsort(r, n_decay, sizeof *r, range_cmp);
  }
  o->segs = malloc((2 * n_decay + 1) * sizeof *o->segs);
  if (!o->segs) {
    free(r);
    return hp_err_set(err, HP_ENOMEM, "optimizer: out of memory");
  }
  size_t pos = 0, ns = 0;
  for (size_t i = 0; i < n_decay; i++) {
    size_t a = r[i].offset, b = r[i].offset + r[i].count;
    if (b < a || b > o->n) {
      free(r);
      return hp_err_set(err, HP_EINVAL,
                        "optimizer: weight-decay range [%zu, %zu) outside the %zu parameters",
                        a, b, o->n);
    }
    if (a < pos) a = pos; /* overlap with the previous range: merge */
    if (b <= a) continue;
    if (a > pos) o->segs[ns++] = (seg_t){pos, a - pos, 0};
    if (ns && o->segs[ns - 1].decay && o->segs[ns - 1].off + o->segs[ns - 1].count == a)
      o->segs[ns - 1].count += b - a;
    else
      o->segs[ns++] = (seg_t){a, b - a, 1};
    pos = b;
  }
  if (pos < o->n) o->segs[ns++] = (seg_t){pos, o->n - pos, 0};
  o->n_segs = ns;
  free(r);
  return 0;
}

int hp_optim_create(const hp_optim_config_t *cfg, size_t n, const hp_param_range_t *decay,
                    size_t n_decay, int64_t steps_per_epoch, hp_optim_t **out, hp_err_t *err) {
  int rc = hp_optim_config_check(cfg, "optimizer", err);
  if (rc) return rc;
  hp_optim_t *o = calloc(1, sizeof *o);
  if (!o) return hp_err_set(err, HP_ENOMEM, "optimizer: out of memory");
  o->cfg = *cfg;
  o->n = n;
  o->spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
  o->last_norm = cfg->clip_norm > 0 ? 0 : -1;
  o->last_lr = NAN;
  switch (cfg->kind) {
  case HP_OPTIM_SGD: o->n_state = 0; break;
  case HP_OPTIM_ADAM: o->n_state = 2 * n; break;
  default: o->n_state = n; break;
  }
  if (o->n_state) {
    /* 64-byte aligned so the vector loops start on a cache line. */
    size_t bytes = (o->n_state * sizeof(float) + 63) & ~(size_t)63;
    o->state = aligned_alloc(64, bytes);
    if (!o->state) {
      rc = hp_err_set(err, HP_ENOMEM, "optimizer: out of memory for %zu state floats",
                      o->n_state);
      goto fail;
    }
    memset(o->state, 0, bytes);
  }
  if ((rc = build_segments(o, decay, n_decay, err))) goto fail;
  *out = o;
  return 0;
fail:
  hp_optim_free(o);
  return rc;
}

void hp_optim_free(hp_optim_t *o) {
  if (!o) return;
  free(o->state);
  free(o->segs);
  free(o);
}

int64_t hp_optim_steps(const hp_optim_t *o) { return o->t; }
double hp_optim_lr(const hp_optim_t *o) {
  return hp_schedule_lr(&o->cfg.sched, o->cfg.lr, o->t, o->spe);
}
double hp_optim_last_grad_norm(const hp_optim_t *o) { return o->last_norm; }
double hp_optim_last_lr(const hp_optim_t *o) { return o->last_lr; }
float *hp_optim_state(hp_optim_t *o, size_t *n_state) {
  if (n_state) *n_state = o->n_state;
  return o->state;
}

bool hp_optim_precond(const hp_optim_t *o, float *d, size_t n, double *bound) {
  const hp_optim_config_t *c = &o->cfg;
  assert(d == NULL || n == o->n);
  double a = c->momentum, b1 = c->beta1;
  switch (c->kind) {
    case HP_OPTIM_MOMENTUM: *bound = 2.0 + 2.0 * a; break;
    case HP_OPTIM_NESTEROV: *bound = (2.0 + 2.0 * a) / (1.0 + 2.0 * a); break;
    case HP_OPTIM_ADAM: *bound = (2.0 + 2.0 * b1) / (1.0 - b1); break;
    default: *bound = 2.0; break;
  }
  const float *r = c->kind == HP_OPTIM_ADAM ? o->state + o->n : o->state;
  bool adaptive = c->kind == HP_OPTIM_ADAGRAD || c->kind == HP_OPTIM_RMSPROP ||
                  c->kind == HP_OPTIM_ADAM;
  if (d == NULL) return adaptive;
  const double c2 = o->t > 0 ? 1.0 / (1.0 - pow(c->beta2, (double)o->t)) : 1.0;
  for (size_t i = 0; i < n; i++) {
    switch (c->kind) {
      case HP_OPTIM_ADAGRAD: d[i] = (float)(1.0 / (c->delta + sqrt((double)r[i]))); break;
      case HP_OPTIM_RMSPROP: d[i] = (float)(1.0 / sqrt(c->delta + (double)r[i])); break;
      case HP_OPTIM_ADAM: d[i] = (float)(1.0 / (sqrt((double)r[i] * c2) + c->delta)); break;
      default: d[i] = 1.0f; break;
    }
  }
  return adaptive;
}

double hp_optim_weight_decay(const hp_optim_t *o) { return o->cfg.weight_decay; }

/* ---- the elementwise kernels ------------------------------------------ */

/* Per-step scalars shared by the kernels. The effective gradient of one
 * element is clamp(g * cs, -cv, cv) + wd * theta: cs is the global-norm clip
 * factor (1 when off), cv the value clip (INFINITY when off; a NaN passes the
 * comparisons unchanged so divergence stays visible), wd the decay (0 on
 * segments without decay). */
typedef struct kargs {
  float lr, cs, cv, wd;
  float a;      /* momentum alpha | rmsprop rho | adam rho1 */
  float b2;     /* adam rho2 */
  float delta;
  float c1, c2; /* adam: 1/(1 - rho1^t), 1/(1 - rho2^t) */
} kargs_t;

/* Each algorithm is written once, over an abstract vector type VT of W
 * floats with its load/store/sqrt/min/max/broadcast, and stamped out for
 * AVX-512 (16), AVX2 (8), SSE (4) and plain floats (1); the widest variant
 * the CPU supports is picked at the first step, and the last n % W elements
 * go through the plain variant. Explicit vectors because GCC will not
 * vectorise sqrtf without -fno-math-errno, which the project does not set.
 * Every variant performs the same IEEE operations in the same order (no FMA
 * contraction under -std=c11), so all of them give the same bits.
 *
 * Effective gradient: clamp(g * cs, -cv, cv) + wd * theta, with the clamp as
 * MAX(-cv, MIN(cv, x)), where MIN(a, b)/MAX(a, b) return b when b is NaN, so
 * a NaN gradient is not hidden by clipping. */
#define OPT_KERNELS(SUF, ATTR, VT, W, LD, ST, SQ, MN, MX, S1)                                \
  ATTR static void k_sgd_##SUF(float *restrict p, const float *restrict g,                  \
                               float *restrict u, float *restrict u2, size_t n, kargs_t k);  \
  ATTR static void k_momentum_##SUF(float *restrict p, const float *restrict g,             \
                                    float *restrict v, float *restrict u2, size_t n,         \
                                    kargs_t k);                                              \
  ATTR static void k_nesterov_##SUF(float *restrict p, const float *restrict g,             \
                                    float *restrict v, float *restrict u2, size_t n,         \
                                    kargs_t k);                                              \
  ATTR static void k_adagrad_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, float *restrict u2, size_t n,          \
                                   kargs_t k);                                               \
  ATTR static void k_rmsprop_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, float *restrict u2, size_t n,          \
                                   kargs_t k);                                               \
  ATTR static void k_adam_##SUF(float *restrict p, const float *restrict g,                 \
                                float *restrict s, float *restrict r, size_t n, kargs_t k);  \
  /* shared set-up of the broadcast constants and the loop over full vectors */            \
  /* 8.1: theta <- theta - eps g */                                                          \
  ATTR static void k_sgd_##SUF(float *restrict p, const float *restrict g,                  \
                               float *restrict u, float *restrict u2, size_t n, kargs_t k) { \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      ST(p + i, P - lr * G);                                                                 \
    }                                                                                        \
    if (i < n) k_sgd_scalar(p + i, g + i, u, u2, n - i, k);                                  \
  }                                                                                          \
  /* 8.2: v <- alpha v - eps g; theta <- theta + v */                                        \
  ATTR static void k_momentum_##SUF(float *restrict p, const float *restrict g,             \
                                    float *restrict v, float *restrict u2, size_t n,         \
                                    kargs_t k) {                                             \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    VT a = S1(k.a);                                                                          \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      VT V = a * LD(v + i) - lr * G;                                                         \
      ST(v + i, V);                                                                          \
      ST(p + i, P + V);                                                                      \
    }                                                                                        \
    if (i < n) k_momentum_scalar(p + i, g + i, v + i, u2, n - i, k);                         \
  }                                                                                          \
  /* 8.3 in the variables phi = theta + alpha v (g is the gradient at phi):                 \
   * v' <- alpha v - eps g; phi <- phi + alpha v' - eps g */                                 \
  ATTR static void k_nesterov_##SUF(float *restrict p, const float *restrict g,             \
                                    float *restrict v, float *restrict u2, size_t n,         \
                                    kargs_t k) {                                             \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    VT a = S1(k.a);                                                                          \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      VT EG = lr * G;                                                                        \
      VT V = a * LD(v + i) - EG;                                                             \
      ST(v + i, V);                                                                          \
      ST(p + i, P + (a * V - EG));                                                           \
    }                                                                                        \
    if (i < n) k_nesterov_scalar(p + i, g + i, v + i, u2, n - i, k);                         \
  }                                                                                          \
  /* 8.4: r <- r + g*g; theta <- theta - eps/(delta + sqrt(r)) * g */                        \
  ATTR static void k_adagrad_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, float *restrict u2, size_t n,          \
                                   kargs_t k) {                                              \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    VT delta = S1(k.delta);                                                                  \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      VT R = LD(r + i) + G * G;                                                              \
      ST(r + i, R);                                                                          \
      ST(p + i, P - lr / (delta + SQ(R)) * G);                                               \
    }                                                                                        \
    if (i < n) k_adagrad_scalar(p + i, g + i, r + i, u2, n - i, k);                          \
  }                                                                                          \
  /* 8.5: r <- rho r + (1-rho) g*g; theta <- theta - eps/sqrt(delta + r) * g */              \
  ATTR static void k_rmsprop_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, float *restrict u2, size_t n,          \
                                   kargs_t k) {                                              \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    VT delta = S1(k.delta), rho = S1(k.a), om = S1(1.0f - k.a);                              \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      VT R = rho * LD(r + i) + om * (G * G);                                                 \
      ST(r + i, R);                                                                          \
      ST(p + i, P - lr / SQ(delta + R) * G);                                                 \
    }                                                                                        \
    if (i < n) k_rmsprop_scalar(p + i, g + i, r + i, u2, n - i, k);                          \
  }                                                                                          \
  /* 8.7: s <- rho1 s + (1-rho1) g; r <- rho2 r + (1-rho2) g*g; s^ = s/(1-rho1^t),           \
   * r^ = r/(1-rho2^t) (as products with the reciprocals c1, c2);                           \
   * theta <- theta - eps s^/(sqrt(r^) + delta) */                                           \
  ATTR static void k_adam_##SUF(float *restrict p, const float *restrict g,                 \
                                float *restrict s, float *restrict r, size_t n, kargs_t k) { \
    VT lr = S1(k.lr), cs = S1(k.cs), cv = S1(k.cv), ncv = S1(-k.cv), wd = S1(k.wd);          \
    VT delta = S1(k.delta), b1 = S1(k.a), om1 = S1(1.0f - k.a), b2 = S1(k.b2);               \
    VT om2 = S1(1.0f - k.b2), c1 = S1(k.c1), c2 = S1(k.c2);                                  \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      VT P = LD(p + i), G = MX(ncv, MN(cv, LD(g + i) * cs)) + wd * P;                        \
      VT S = b1 * LD(s + i) + om1 * G;                                                       \
      VT R = b2 * LD(r + i) + om2 * (G * G);                                                 \
      ST(s + i, S);                                                                          \
      ST(r + i, R);                                                                          \
      ST(p + i, P - lr * (S * c1) / (SQ(R * c2) + delta));                                   \
    }                                                                                        \
    if (i < n) k_adam_scalar(p + i, g + i, s + i, r + i, n - i, k);                          \
  }

typedef void (*kernel_fn)(float *restrict, const float *restrict, float *restrict,
                          float *restrict, size_t, kargs_t);

/* the plain-float variant (W = 1) */
#define SC_LD(q) (*(q))
#define SC_ST(q, v) (*(q) = (v))
#define SC_MN(a, b) ((b) > (a) ? (a) : (b))
#define SC_MX(a, b) ((b) < (a) ? (a) : (b))
#define SC_S1(x) (x)
OPT_KERNELS(scalar, , float, 1, SC_LD, SC_ST, sqrtf, SC_MN, SC_MX, SC_S1)

static kernel_fn kernels[HP_OPTIM_COUNT_];

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
/* x86 min/max return the second operand when either is NaN: MIN(cv, x)
 * passes a NaN x through, as the scalar comparisons do. */
#define OPS_FOR(SUF, ATTR, VT, PFX)                                                          \
  ATTR static inline VT ld_##SUF(const float *q) { return PFX##_loadu_ps(q); }              \
  ATTR static inline void st_##SUF(float *q, VT v) { PFX##_storeu_ps(q, v); }               \
  ATTR static inline VT sq_##SUF(VT v) { return PFX##_sqrt_ps(v); }                         \
  ATTR static inline VT mn_##SUF(VT a, VT b) { return PFX##_min_ps(a, b); }                 \
  ATTR static inline VT mx_##SUF(VT a, VT b) { return PFX##_max_ps(a, b); }                 \
  ATTR static inline VT s1_##SUF(float x) { return PFX##_set1_ps(x); }
#define ATTR_AVX512 __attribute__((target("avx512f")))
#define ATTR_AVX2 __attribute__((target("avx2")))
OPS_FOR(sse, , __m128, _mm)
OPS_FOR(avx2, ATTR_AVX2, __m256, _mm256)
OPS_FOR(avx512, ATTR_AVX512, __m512, _mm512)
OPT_KERNELS(sse, , __m128, 4, ld_sse, st_sse, sq_sse, mn_sse, mx_sse, s1_sse)
OPT_KERNELS(avx2, ATTR_AVX2, __m256, 8, ld_avx2, st_avx2, sq_avx2, mn_avx2, mx_avx2, s1_avx2)
OPT_KERNELS(avx512, ATTR_AVX512, __m512, 16, ld_avx512, st_avx512, sq_avx512, mn_avx512,
            mx_avx512, s1_avx512)
#define KERNEL_TABLE(SUF)                                                                    \
  do {                                                                                       \
    kernels[HP_OPTIM_SGD] = k_sgd_##SUF;                                                     \
    kernels[HP_OPTIM_MOMENTUM] = k_momentum_##SUF;                                           \
    kernels[HP_OPTIM_NESTEROV] = k_nesterov_##SUF;                                           \
    kernels[HP_OPTIM_ADAGRAD] = k_adagrad_##SUF;                                             \
    kernels[HP_OPTIM_RMSPROP] = k_rmsprop_##SUF;                                             \
    kernels[HP_OPTIM_ADAM] = k_adam_##SUF;                                                   \
  } while (0)

/* Adam (8.7) as k_adam_avx512, operation for operation (the same bits),
 * that also stores each updated parameter rounded to bf16 from the register
 * (AVX512_BF16's vcvtneps2bf16, as hp_bf16_from_f32): the fused step's
 * copy without a second pass over the block. */
__attribute__((target("avx512f,avx512bf16"))) static void k_adam_bf16(
    float *restrict p, const float *restrict g, float *restrict s, float *restrict r,
    hp_bf16_t *restrict pb, size_t n, kargs_t k) {
  __m512 lr = s1_avx512(k.lr), cs = s1_avx512(k.cs), cv = s1_avx512(k.cv),
         ncv = s1_avx512(-k.cv), wd = s1_avx512(k.wd);
  __m512 delta = s1_avx512(k.delta), b1 = s1_avx512(k.a), om1 = s1_avx512(1.0f - k.a),
         b2 = s1_avx512(k.b2);
  __m512 om2 = s1_avx512(1.0f - k.b2), c1 = s1_avx512(k.c1), c2 = s1_avx512(k.c2);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 P = _mm512_loadu_ps(p + i),
           G = _mm512_max_ps(ncv, _mm512_min_ps(cv, _mm512_loadu_ps(g + i) * cs)) + wd * P;
    __m512 S = b1 * _mm512_loadu_ps(s + i) + om1 * G;
    __m512 R = b2 * _mm512_loadu_ps(r + i) + om2 * (G * G);
    _mm512_storeu_ps(s + i, S);
    _mm512_storeu_ps(r + i, R);
    P = P - lr * (S * c1) / (_mm512_sqrt_ps(R * c2) + delta);
    _mm512_storeu_ps(p + i, P);
    _mm256_storeu_si256((__m256i *)(void *)(pb + i), (__m256i)_mm512_cvtneps_pbh(P));
  }
  if (i < n) {
    k_adam_scalar(p + i, g + i, s + i, r + i, n - i, k);
    hp_bf16_from_f32(p + i, pb + i, n - i);
  }
}

/* Whether k_adam_bf16 may run: the AVX-512 kernels were picked and the CPU
 * has AVX512_BF16 (set by pick_kernels). */
static bool adam_bf16_ok;

/* Picks the widest variant the CPU (and OS) supports, once. */
static void pick_kernels(void) {
  if (kernels[HP_OPTIM_ADAM]) return;
  __builtin_cpu_init();
  if (getenv("HPSEARCH_OPTIM_SCALAR")) /* for comparing variants */
    KERNEL_TABLE(scalar);
  else if (__builtin_cpu_supports("avx512f")) {
    KERNEL_TABLE(avx512);
    adam_bf16_ok = __builtin_cpu_supports("avx512bf16");
  }
  else if (__builtin_cpu_supports("avx2"))
    KERNEL_TABLE(avx2);
  else
    KERNEL_TABLE(sse);
}
#else
static const bool adam_bf16_ok = false;
static void k_adam_bf16(float *restrict p, const float *restrict g, float *restrict s,
                        float *restrict r, hp_bf16_t *restrict pb, size_t n, kargs_t k) {
  (void)p, (void)g, (void)s, (void)r, (void)pb, (void)n, (void)k;
}
static void pick_kernels(void) {
  kernels[HP_OPTIM_SGD] = k_sgd_scalar;
  kernels[HP_OPTIM_MOMENTUM] = k_momentum_scalar;
  kernels[HP_OPTIM_NESTEROV] = k_nesterov_scalar;
  kernels[HP_OPTIM_ADAGRAD] = k_adagrad_scalar;
  kernels[HP_OPTIM_RMSPROP] = k_rmsprop_scalar;
  kernels[HP_OPTIM_ADAM] = k_adam_scalar;
}
#endif

/* Sum of squares with 16 independent double lanes: the lanes let the
 * compiler vectorise without reassociating a single accumulator. */
HP_HOT static double sum_squares(const float *restrict g, size_t n) {
  double acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += (double)g[i + j] * (double)g[i + j];
  double tot = 0;
  for (; i < n; i++) tot += (double)g[i] * (double)g[i];
  for (int j = 0; j < 16; j++) tot += acc[j];
  return tot;
}

void hp_optim_step_fused(hp_optim_t *o, float *params, float *grads, size_t n,
                         hp_bf16_t *params_bf16) {
  assert(n == o->n);
  const hp_optim_config_t *c = &o->cfg;
  kargs_t k = {0};
  o->last_lr = hp_schedule_lr(&c->sched, c->lr, o->t, o->spe);
  k.lr = (float)o->last_lr;
  k.cs = 1.0f;
  k.cv = c->clip_value > 0 ? (float)c->clip_value : INFINITY;
  k.delta = (float)c->delta;
  if (c->clip_norm > 0) {
    /* Clipping by the global norm rescales the whole gradient, keeping its
     * direction (the remedy for cliffs, section 10.11.1). */
    double norm = sqrt(sum_squares(grads, n));
    o->last_norm = norm;
    if (norm > c->clip_norm) k.cs = (float)(c->clip_norm / norm);
  }
  o->t++;
  pick_kernels();
  switch (c->kind) {
  case HP_OPTIM_MOMENTUM:
  case HP_OPTIM_NESTEROV: k.a = (float)c->momentum; break;
  case HP_OPTIM_RMSPROP: k.a = (float)c->rho; break;
  case HP_OPTIM_ADAM:
    k.a = (float)c->beta1;
    k.b2 = (float)c->beta2;
    k.c1 = (float)(1.0 / (1.0 - pow(c->beta1, (double)o->t)));
    k.c2 = (float)(1.0 / (1.0 - pow(c->beta2, (double)o->t)));
    break;
  default: break;
  }
  const kernel_fn kern = kernels[c->kind];
  for (size_t si = 0; si < o->n_segs; si++) {
    const seg_t *sg = &o->segs[si];
    k.wd = sg->decay ? (float)c->weight_decay : 0.0f;
    if (params_bf16 != NULL && c->kind == HP_OPTIM_ADAM && adam_bf16_ok) {
      k_adam_bf16(params + sg->off, grads + sg->off, o->state + sg->off, o->state + n + sg->off,
                  params_bf16 + sg->off, sg->count, k);
      continue;
    }
    if (params_bf16 == NULL) { /* one call per segment */
      float *st = o->state ? o->state + sg->off : NULL;
      float *st2 = c->kind == HP_OPTIM_ADAM ? o->state + n + sg->off : NULL;
      kern(params + sg->off, grads + sg->off, st, st2, sg->count, k);
      continue;
    }
    /* Block by block, so the block's parameters are still in the L1 cache
     * when they are rounded (one pass over memory instead of two).
     * Elementwise: the same bits as one call. */
    for (size_t at = sg->off, end = sg->off + sg->count; at < end; at += FUSE_BLOCK) {
      const size_t m = end - at < FUSE_BLOCK ? end - at : FUSE_BLOCK;
      float *st = o->state ? o->state + at : NULL;
      float *st2 = c->kind == HP_OPTIM_ADAM ? o->state + n + at : NULL;
      kern(params + at, grads + at, st, st2, m, k);
      hp_bf16_from_f32(params + at, params_bf16 + at, m);
    }
  }
}

void hp_optim_step(hp_optim_t *o, float *params, float *grads, size_t n) {
  hp_optim_step_fused(o, params, grads, n, NULL);
}

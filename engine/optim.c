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

#include "hpsearch/json.h"
#include "hpsearch/optim.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HP_CLONES
#endif

/* A run of parameters that all get (or all skip) weight decay. */
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
float *hp_optim_state(hp_optim_t *o, size_t *n_state) {
  if (n_state) *n_state = o->n_state;
  return o->state;
}

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

/* A macro, not a function: an inline function compiled for the default
 * target cannot be inlined into the AVX clones, which would stop them from
 * vectorising. */
#define EFF_GRAD(g, p, k)                                                                    \
  ({                                                                                         \
    float g_ = (g) * (k).cs;                                                                 \
    g_ = g_ > (k).cv ? (k).cv : g_;                                                          \
    g_ = g_ < -(k).cv ? -(k).cv : g_;                                                        \
    g_ + (k).wd * (p);                                                                       \
  })

/* 8.1: theta <- theta - eps g */
HP_CLONES static void k_sgd(float *restrict p, const float *restrict g, size_t n, kargs_t k) {
  for (size_t i = 0; i < n; i++) p[i] -= k.lr * EFF_GRAD(g[i], p[i], k);
}

/* 8.2: v <- alpha v - eps g; theta <- theta + v */
HP_CLONES static void k_momentum(float *restrict p, const float *restrict g, float *restrict v,
                                 size_t n, kargs_t k) {
  for (size_t i = 0; i < n; i++) {
    float vi = k.a * v[i] - k.lr * EFF_GRAD(g[i], p[i], k);
    v[i] = vi;
    p[i] += vi;
  }
}

/* 8.3 in the variables phi = theta + alpha v (g is the gradient at phi):
 * v' <- alpha v - eps g; phi <- phi + alpha v' - eps g. */
HP_CLONES static void k_nesterov(float *restrict p, const float *restrict g, float *restrict v,
                                 size_t n, kargs_t k) {
  for (size_t i = 0; i < n; i++) {
    float eg = k.lr * EFF_GRAD(g[i], p[i], k);
    float vi = k.a * v[i] - eg;
    v[i] = vi;
    p[i] += k.a * vi - eg;
  }
}

/* The three algorithms with a square root. Without -fno-math-errno (which
 * the project's flags do not set) GCC keeps a scalar errno-setting sqrtf and
 * refuses to vectorise, so these loops work in blocks of W elements whose
 * square roots are taken by one vector instruction (SQRT_W); the rest of a
 * block vectorises by itself. sqrt is correctly rounded in every variant, so
 * all of them give the same bits as the scalar tail. */
#define SQRT_KERNELS(SUF, ATTR, W, SQRT_W)                                                   \
  /* 8.4: r <- r + g*g; theta <- theta - eps/(delta + sqrt(r)) * g */                        \
  ATTR static void k_adagrad_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, size_t n, kargs_t k) {                \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      float ge[W], q[W];                                                                     \
      for (int j = 0; j < W; j++) {                                                          \
        ge[j] = EFF_GRAD(g[i + j], p[i + j], k);                                             \
        q[j] = r[i + j] + ge[j] * ge[j];                                                     \
        r[i + j] = q[j];                                                                     \
      }                                                                                      \
      SQRT_W(q);                                                                             \
      for (int j = 0; j < W; j++) p[i + j] -= k.lr / (k.delta + q[j]) * ge[j];               \
    }                                                                                        \
    for (; i < n; i++) {                                                                     \
      float gi = EFF_GRAD(g[i], p[i], k);                                                    \
      r[i] = r[i] + gi * gi;                                                                 \
      p[i] -= k.lr / (k.delta + sqrtf(r[i])) * gi;                                           \
    }                                                                                        \
  }                                                                                          \
  /* 8.5: r <- rho r + (1-rho) g*g; theta <- theta - eps/sqrt(delta + r) * g */              \
  ATTR static void k_rmsprop_##SUF(float *restrict p, const float *restrict g,              \
                                   float *restrict r, size_t n, kargs_t k) {                \
    float om = 1.0f - k.a;                                                                   \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      float ge[W], q[W];                                                                     \
      for (int j = 0; j < W; j++) {                                                          \
        ge[j] = EFF_GRAD(g[i + j], p[i + j], k);                                             \
        float rj = k.a * r[i + j] + om * (ge[j] * ge[j]);                                    \
        r[i + j] = rj;                                                                       \
        q[j] = k.delta + rj;                                                                 \
      }                                                                                      \
      SQRT_W(q);                                                                             \
      for (int j = 0; j < W; j++) p[i + j] -= k.lr / q[j] * ge[j];                           \
    }                                                                                        \
    for (; i < n; i++) {                                                                     \
      float gi = EFF_GRAD(g[i], p[i], k);                                                    \
      r[i] = k.a * r[i] + om * (gi * gi);                                                    \
      p[i] -= k.lr / sqrtf(k.delta + r[i]) * gi;                                             \
    }                                                                                        \
  }                                                                                          \
  /* 8.7: s <- rho1 s + (1-rho1) g; r <- rho2 r + (1-rho2) g*g; s^ = s/(1-rho1^t);           \
   * r^ = r/(1-rho2^t) (as products with the reciprocals c1, c2);                           \
   * theta <- theta - eps s^/(sqrt(r^) + delta) */                                           \
  ATTR static void k_adam_##SUF(float *restrict p, const float *restrict g,                 \
                                float *restrict s, float *restrict r, size_t n, kargs_t k) { \
    float om1 = 1.0f - k.a, om2 = 1.0f - k.b2;                                               \
    size_t i = 0;                                                                            \
    for (; i + W <= n; i += W) {                                                             \
      float q[W];                                                                            \
      for (int j = 0; j < W; j++) {                                                          \
        float gj = EFF_GRAD(g[i + j], p[i + j], k);                                          \
        s[i + j] = k.a * s[i + j] + om1 * gj;                                                \
        float rj = k.b2 * r[i + j] + om2 * (gj * gj);                                        \
        r[i + j] = rj;                                                                       \
        q[j] = rj * k.c2;                                                                    \
      }                                                                                      \
      SQRT_W(q);                                                                             \
      for (int j = 0; j < W; j++) p[i + j] -= k.lr * (s[i + j] * k.c1) / (q[j] + k.delta);   \
    }                                                                                        \
    for (; i < n; i++) {                                                                     \
      float gi = EFF_GRAD(g[i], p[i], k);                                                    \
      s[i] = k.a * s[i] + om1 * gi;                                                          \
      r[i] = k.b2 * r[i] + om2 * (gi * gi);                                                  \
      p[i] -= k.lr * (s[i] * k.c1) / (sqrtf(r[i] * k.c2) + k.delta);                         \
    }                                                                                        \
  }

typedef void (*k_state1_fn)(float *restrict, const float *restrict, float *restrict, size_t,
                            kargs_t);
typedef void (*k_adam_fn)(float *restrict, const float *restrict, float *restrict,
                          float *restrict, size_t, kargs_t);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
static inline void sqrt4(float *q) { _mm_storeu_ps(q, _mm_sqrt_ps(_mm_loadu_ps(q))); }
__attribute__((target("avx2"))) static inline void sqrt8(float *q) {
  _mm256_storeu_ps(q, _mm256_sqrt_ps(_mm256_loadu_ps(q)));
}
__attribute__((target("avx512f"))) static inline void sqrt16(float *q) {
  _mm512_storeu_ps(q, _mm512_sqrt_ps(_mm512_loadu_ps(q)));
}
SQRT_KERNELS(sse, , 4, sqrt4)
SQRT_KERNELS(avx2, __attribute__((target("avx2"))), 8, sqrt8)
SQRT_KERNELS(avx512, __attribute__((target("avx512f"))), 16, sqrt16)

static k_state1_fn k_adagrad, k_rmsprop;
static k_adam_fn k_adam;

/* Picks the widest variant the CPU (and OS) supports, once. */
static void pick_kernels(void) {
  if (k_adam) return;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    k_adagrad = k_adagrad_avx512;
    k_rmsprop = k_rmsprop_avx512;
    k_adam = k_adam_avx512;
  } else if (__builtin_cpu_supports("avx2")) {
    k_adagrad = k_adagrad_avx2;
    k_rmsprop = k_rmsprop_avx2;
    k_adam = k_adam_avx2;
  } else {
    k_adagrad = k_adagrad_sse;
    k_rmsprop = k_rmsprop_sse;
    k_adam = k_adam_sse;
  }
}
#else
static inline void sqrt1(float *q) { q[0] = sqrtf(q[0]); }
SQRT_KERNELS(plain, , 1, sqrt1)
static k_state1_fn k_adagrad = k_adagrad_plain, k_rmsprop = k_rmsprop_plain;
static k_adam_fn k_adam = k_adam_plain;
static void pick_kernels(void) {}
#endif

/* Sum of squares with 16 independent double lanes: the lanes let the
 * compiler vectorise without reassociating a single accumulator. */
HP_CLONES static double sum_squares(const float *restrict g, size_t n) {
  double acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += (double)g[i + j] * (double)g[i + j];
  double tot = 0;
  for (; i < n; i++) tot += (double)g[i] * (double)g[i];
  for (int j = 0; j < 16; j++) tot += acc[j];
  return tot;
}

void hp_optim_step(hp_optim_t *o, float *params, float *grads, size_t n) {
  assert(n == o->n);
  const hp_optim_config_t *c = &o->cfg;
  kargs_t k = {0};
  k.lr = (float)hp_schedule_lr(&c->sched, c->lr, o->t, o->spe);
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
  for (size_t si = 0; si < o->n_segs; si++) {
    const seg_t *sg = &o->segs[si];
    float *p = params + sg->off;
    const float *g = grads + sg->off;
    float *st = o->state ? o->state + sg->off : NULL;
    k.wd = sg->decay ? (float)c->weight_decay : 0.0f;
    switch (c->kind) {
    case HP_OPTIM_SGD: k_sgd(p, g, sg->count, k); break;
    case HP_OPTIM_MOMENTUM: k_momentum(p, g, st, sg->count, k); break;
    case HP_OPTIM_NESTEROV: k_nesterov(p, g, st, sg->count, k); break;
    case HP_OPTIM_ADAGRAD: k_adagrad(p, g, st, sg->count, k); break;
    case HP_OPTIM_RMSPROP: k_rmsprop(p, g, st, sg->count, k); break;
    case HP_OPTIM_ADAM: k_adam(p, g, st, st + n, sg->count, k); break;
    default: assert(!"unknown optimizer kind");
    }
  }
}

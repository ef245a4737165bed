/* Curvature diagnostics (docs/engine.md, "Curvature diagnostics"): the
 * Hessian of the training loss seen through Hessian-vector products, its
 * extreme eigenvalues by Lanczos, its eigenvalue density by stochastic
 * Lanczos quadrature (Golub & Meurant; Ghorbani et al. 2019), and the
 * stability number lr * lambda_max of the optimizer.
 *
 * Hessian-vector products are central differences of gradients,
 * H v ~ (g(theta + eps v) - g(theta - eps v)) / (2 eps), error O(eps^2) plus
 * the gradients' rounding over eps: it works through every layer the engine
 * has (conv fast paths, batch norm) without a second-order pass per layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/blas.h"
#include "hpsearch/curvature.h"
#include "hpsearch/engine.h"
#include "hpsearch/optim.h"
#include "hpsearch/rng.h"

/* Full reorthogonalisation keeps every Lanczos vector; above this the
 * plain recurrence runs instead. */
#define LANCZOS_MAX_BYTES (256.0 * 1024 * 1024)

void hp_curv_config_default(hp_curv_config_t *c) {
  memset(c, 0, sizeof *c);
  c->samples = 512;
  c->steps = 16;
  c->vectors = 1;
  c->precond_steps = 8;
  c->fd_step = 1e-3;
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* ---- Lanczos and the tridiagonal eigenproblem --------------------------- */

int hp_lanczos(hp_linop_fn op, void *ctx, size_t n, int steps, const float *v0, double *alpha,
               double *beta) {
  if (steps < 1 || n == 0) return HP_EINVAL;
  if ((size_t)steps > n) steps = (int)n;
  const bool full = (double)(steps + 1) * n * sizeof(float) <= LANCZOS_MAX_BYTES;
  const size_t keep = full ? (size_t)steps + 1 : 3;
  float *V = malloc(keep * n * sizeof *V), *w = malloc(n * sizeof *w);
  if (V == NULL || w == NULL) {
    free(V), free(w);
    return HP_ENOMEM;
  }
  double nv = sqrt(dot(v0, v0, n));
  if (!(nv > 0) || !isfinite(nv)) {
    free(V), free(w);
    return HP_EINVAL;
  }
  for (size_t i = 0; i < n; i++) V[i] = (float)(v0[i] / nv);
  int m = 0;
  for (int j = 0; j < steps; j++) {
    float *vj = V + (full ? (size_t)j : (size_t)j % 3) * n;
    float *vp = j > 0 ? V + (full ? (size_t)j - 1 : (size_t)(j + 2) % 3) * n : NULL;
    op(ctx, vj, w);
    double a = dot(w, vj, n);
    alpha[j] = a;
    m = j + 1;
    double b_prev = j > 0 ? beta[j - 1] : 0.0;
    for (size_t i = 0; i < n; i++)
      w[i] = (float)(w[i] - a * vj[i] - (vp ? b_prev * vp[i] : 0.0));
    if (full) /* twice is enough (Parlett's "twice is enough" rule) */
      for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k <= j; k++) {
          const float *vk = V + (size_t)k * n;
          double h = dot(w, vk, n);
          for (size_t i = 0; i < n; i++) w[i] = (float)(w[i] - h * vk[i]);
        }
    if (j + 1 == steps) break;
    double b = sqrt(dot(w, w, n));
    /* An invariant subspace: T's eigenvalues are exact eigenvalues now. */
    if (!(b > 1e-7 * (fabs(a) + b_prev + 1e-30))) break;
    beta[j] = b;
    float *vn = V + (full ? (size_t)j + 1 : (size_t)(j + 1) % 3) * n;
    for (size_t i = 0; i < n; i++) vn[i] = (float)(w[i] / b);
  }
  free(V), free(w);
  return m;
}

int hp_tridiag_eigen(const double *d_in, const double *e_in, int m, double *d, double *w) {
  /* Implicit QL with Wilkinson shifts (the EISPACK tql2 scheme), tracking
   * only the first row z of the eigenvector matrix, which starts as e1. */
  if (m < 1) return -1;
  double *e = calloc((size_t)m, sizeof *e), *z = calloc((size_t)m, sizeof *z);
  if (e == NULL || z == NULL) {
    free(e), free(z);
    return -1;
  }
  for (int i = 0; i < m; i++) d[i] = d_in[i];
  for (int i = 0; i + 1 < m; i++) e[i] = e_in[i];
  z[0] = 1.0;
  int rc = 0;
  for (int l = 0; l < m && rc == 0; l++) {
    int iter = 0, mm;
    do {
      for (mm = l; mm < m - 1; mm++) {
        double dd = fabs(d[mm]) + fabs(d[mm + 1]);
        if (fabs(e[mm]) <= 1e-15 * dd) break;
      }
      if (mm == l) break;
      if (iter++ == 100) {
        rc = -1;
        break;
      }
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = hypot(g, 1.0);
      g = d[mm] - d[l] + e[l] / (g + copysign(r, g));
      double s = 1.0, c = 1.0, p = 0.0;
      int i;
      for (i = mm - 1; i >= l; i--) {
        double f = s * e[i], b = c * e[i];
        e[i + 1] = r = hypot(f, g);
        if (r == 0.0) { /* underflow: deflate and restart */
          d[i + 1] -= p;
          e[mm] = 0.0;
          break;
        }
        s = f / r, c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        d[i + 1] = g + (p = s * r);
        g = c * r - b;
        double zf = z[i + 1];
        z[i + 1] = s * z[i] + c * zf;
        z[i] = c * z[i] - s * zf;
      }
      if (r == 0.0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[mm] = 0.0;
    } while (mm != l);
  }
  /* ascending, weights along */
  for (int i = 1; i < m; i++) {
    double dv = d[i], zv = z[i];
    int j = i - 1;
    for (; j >= 0 && d[j] > dv; j--) d[j + 1] = d[j], z[j + 1] = z[j];
    d[j + 1] = dv, z[j + 1] = zv;
  }
  for (int i = 0; i < m; i++) w[i] = z[i] * z[i];
  free(e), free(z);
  return rc;
}

/* ---- the network's loss, gradient and Hessian-vector product ------------ */

double hp_curvature_grad(hp_model_t *m, const float *xs, const int32_t *ys, uint32_t n,
                         float *g) {
  const size_t np = m->n_params, d = (size_t)m->in_c * m->in_h * m->in_w;
  memset(g, 0, np * sizeof *g);
  double loss = 0;
  long correct = 0;
  for (uint32_t at = 0; at < n; at += (uint32_t)m->batch) {
    int b = (int)(n - at < (uint32_t)m->batch ? n - at : (uint32_t)m->batch);
    hp_model_forward(m, xs + (size_t)at * d, b, true);
    loss += hp_model_loss_backward(m, ys + at, b, true, &correct);
    /* the chunk's gradient is of its mean loss: weight it by its share */
    const float share = (float)b / (float)n;
    for (size_t i = 0; i < np; i++) g[i] += share * m->grads[i];
  }
  return loss / n;
}

void hp_curvature_hvp(hp_model_t *m, const float *xs, const int32_t *ys, uint32_t n,
                      const float *v, double eps, float *out) {
  const size_t np = m->n_params;
  float *p0 = malloc(np * sizeof *p0), *gm = malloc(np * sizeof *gm);
  if (p0 == NULL || gm == NULL) {
    free(p0), free(gm);
    for (size_t i = 0; i < np; i++) out[i] = NAN;
    return;
  }
  memcpy(p0, m->params, np * sizeof *p0);
  double nv = sqrt(dot(v, v, np));
  if (!(nv > 0)) {
    memset(out, 0, np * sizeof *out);
    free(p0), free(gm);
    return;
  }
  const double h = eps / nv; /* theta +- h v moves theta by eps */
  for (size_t i = 0; i < np; i++) m->params[i] = (float)(p0[i] + h * v[i]);
  hp_curvature_grad(m, xs, ys, n, out);
  for (size_t i = 0; i < np; i++) m->params[i] = (float)(p0[i] - h * v[i]);
  hp_curvature_grad(m, xs, ys, n, gm);
  const double inv = 1.0 / (2.0 * h);
  for (size_t i = 0; i < np; i++) out[i] = (float)(((double)out[i] - gm[i]) * inv);
  memcpy(m->params, p0, np * sizeof *p0);
  free(p0), free(gm);
}

/* ---- the exact product: Pearlmutter's R-operator ------------------------- */

bool hp_curvature_exact_supported(const hp_model_t *m) {
  if (m->loss != HP_LOSS_SOFTMAX_CE && m->loss != HP_LOSS_MSE) return false;
  for (int i = 0; i < m->n_layers; i++) {
    hp_layer_kind_t k = m->layers[i].spec.kind;
    if (k != HP_LAYER_DENSE && k != HP_LAYER_FLATTEN && k != HP_LAYER_DROPOUT) return false;
  }
  return true;
}

/* f'(z) and f''(z) of the supported activations, from the output a = f(z). */
static inline float act_d1(hp_act_t f, float a) {
  switch (f.kind) {
    case HP_ACT_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case HP_ACT_LEAKY: return a > 0.0f ? 1.0f : f.slope;
    case HP_ACT_TANH: return 1.0f - a * a;
    case HP_ACT_SIGMOID: return a * (1.0f - a);
    default: return 1.0f;
  }
}
static inline float act_d2(hp_act_t f, float a) {
  switch (f.kind) {
    case HP_ACT_TANH: return -2.0f * a * (1.0f - a * a);
    case HP_ACT_SIGMOID: return a * (1.0f - a) * (1.0f - 2.0f * a);
    default: return 0.0f; /* piecewise linear: 0 almost everywhere */
  }
}

/* R{.} denotes the directional derivative d/dt at t = 0 of a quantity at
 * theta + t v (Pearlmutter 1994). For a dense layer z = x W^T + b, a = f(z):
 *   forward   R{z} = R{x} W^T + x V^T + v_b,  R{a} = f'(z) R{z}
 *   loss      CE: d = (p - e_y)/B, R{d} = p (R{z} - <p, R{z}>)/B
 *             MSE: d = 2(z - t)/(kB), R{d} = 2 R{z}/(kB)
 *   backward  delta = f'(z) g,  R{delta} = f'(z) R{g} + f''(z) R{z} g
 *             R{dW} = R{delta}^T x + delta^T R{x},  R{db} = sum R{delta}
 *             g_prev = delta W,  R{g_prev} = R{delta} W + delta V
 * which is H v exactly (almost everywhere for ReLU: f'' = 0 off the kinks). */
/* Scratch of the R passes for one minibatch of the model's batch size. */
typedef struct rop_ws {
  float *rz, *ra;          /* R{z} and R{a} of every dense layer, [batch, out] each */
  float *g, *rg, *g2, *rg2; /* dL/da and R{dL/da}, ping-pong [batch, widest] */
  size_t *at;              /* offset of layer i's block in rz/ra */
} rop_ws_t;

static void rop_ws_free(rop_ws_t *w) {
  free(w->rz), free(w->ra), free(w->g), free(w->rg), free(w->g2), free(w->rg2), free(w->at);
}

static int rop_ws_alloc(const hp_model_t *m, rop_ws_t *w) {
  size_t width = (size_t)m->in_c * m->in_h * m->in_w, tot = 0, B = (size_t)m->batch;
  for (int i = 0; i < m->n_layers; i++) {
    if (m->layers[i].out_size > width) width = m->layers[i].out_size;
    tot += m->layers[i].out_size;
  }
  w->rz = malloc(B * tot * sizeof *w->rz), w->ra = malloc(B * tot * sizeof *w->ra);
  w->g = malloc(B * width * sizeof *w->g), w->rg = malloc(B * width * sizeof *w->rg);
  w->g2 = malloc(B * width * sizeof *w->g2), w->rg2 = malloc(B * width * sizeof *w->rg2);
  w->at = malloc((size_t)m->n_layers * sizeof *w->at);
  if (!w->rz || !w->ra || !w->g || !w->rg || !w->g2 || !w->rg2 || !w->at) {
    rop_ws_free(w);
    return HP_ENOMEM;
  }
  return 0;
}

static void hvp_exact_chunk(hp_model_t *m, const float *x, const int32_t *y, int b,
                            const float *v, float share, float *out, rop_ws_t *w) {
  const int nl = m->n_layers;
  float *rz = w->rz, *ra = w->ra, *g = w->g, *rg = w->rg, *g2 = w->g2, *rg2 = w->rg2;
  size_t *at = w->at;
  hp_model_forward(m, x, b, true);
  /* forward R pass */
  const float *rx = NULL; /* R{input of the current layer}: 0 for the data */
  size_t off = 0;
  int last_dense = -1;
  for (int i = 0; i < nl; i++) {
    hp_layer_t *L = &m->layers[i];
    at[i] = off;
    if (L->spec.kind != HP_LAYER_DENSE) continue; /* flatten, dropout at rate 0: identity */
    const int in = (int)L->in_size, o = (int)L->out_size;
    const float *W = m->params + L->p_off, *V = v + L->p_off, *vb = V + L->w_len;
    float *z = rz + off, *a = ra + off;
    hp_sgemm(false, true, b, o, in, 1.0f, L->x, in, V, in, 0.0f, z, o);
    if (rx != NULL) hp_sgemm(false, true, b, o, in, 1.0f, rx, in, W, in, 1.0f, z, o);
    for (int r = 0; r < b; r++)
      for (int j = 0; j < o; j++) {
        z[(size_t)r * o + j] += vb[j];
        a[(size_t)r * o + j] = act_d1(L->spec.act, L->y[(size_t)r * o + j]) * z[(size_t)r * o + j];
      }
    rx = a;
    off += (size_t)b * o;
    last_dense = i;
  }
  /* the loss's gradient d and R{d} with respect to the logits */
  const hp_layer_t *Lt = &m->layers[last_dense];
  const int k = m->n_classes;
  const float *logits = Lt->y, *rlog = ra + at[last_dense];
  for (int r = 0; r < b; r++) {
    const float *zr = logits + (size_t)r * k, *rr = rlog + (size_t)r * k;
    float *gr = g + (size_t)r * k, *rgr = rg + (size_t)r * k;
    if (m->loss == HP_LOSS_SOFTMAX_CE) {
      double mx = zr[0], se = 0, pr = 0;
      for (int j = 1; j < k; j++) mx = zr[j] > mx ? zr[j] : mx;
      for (int j = 0; j < k; j++) se += exp(zr[j] - mx);
      for (int j = 0; j < k; j++) pr += exp(zr[j] - mx) / se * rr[j];
      for (int j = 0; j < k; j++) {
        double p = exp(zr[j] - mx) / se;
        gr[j] = (float)((p - (j == y[r])) / b);
        rgr[j] = (float)(p * (rr[j] - pr) / b);
      }
    } else {
      for (int j = 0; j < k; j++) {
        gr[j] = (float)(2.0 * (zr[j] - (j == y[r])) / ((double)k * b));
        rgr[j] = (float)(2.0 * rr[j] / ((double)k * b));
      }
    }
  }
  /* backward R pass */
  for (int i = last_dense; i >= 0; i--) {
    hp_layer_t *L = &m->layers[i];
    if (L->spec.kind != HP_LAYER_DENSE) continue;
    const int in = (int)L->in_size, o = (int)L->out_size;
    const float *W = m->params + L->p_off, *V = v + L->p_off;
    const float *z = rz + at[i];
    /* g, rg hold dL/da and R{dL/da} [b, o]: turn them into delta, R{delta} */
    for (size_t e = 0; e < (size_t)b * o; e++) {
      float av = L->y[e], d1 = act_d1(L->spec.act, av);
      rg[e] = d1 * rg[e] + act_d2(L->spec.act, av) * z[e] * g[e];
      g[e] = d1 * g[e];
    }
    int prev = -1; /* the dense layer below, whose R{a} is this one's R{x} */
    for (int j = i - 1; j >= 0 && prev < 0; j--)
      if (m->layers[j].spec.kind == HP_LAYER_DENSE) prev = j;
    float *oW = out + L->p_off, *ob = oW + L->w_len;
    hp_sgemm(true, false, o, in, b, share, rg, o, L->x, in, 1.0f, oW, in);
    if (prev >= 0) hp_sgemm(true, false, o, in, b, share, g, o, ra + at[prev], in, 1.0f, oW, in);
    for (int r = 0; r < b; r++)
      for (int j = 0; j < o; j++) ob[j] += share * rg[(size_t)r * o + j];
    if (prev < 0) break;
    hp_sgemm(false, false, b, in, o, 1.0f, rg, o, W, in, 0.0f, rg2, in);
    hp_sgemm(false, false, b, in, o, 1.0f, g, o, V, in, 1.0f, rg2, in);
    hp_sgemm(false, false, b, in, o, 1.0f, g, o, W, in, 0.0f, g2, in);
    float *t = g;
    g = g2, g2 = t;
    t = rg, rg = rg2, rg2 = t;
  }
}

int hp_curvature_hvp_exact(hp_model_t *m, const float *xs, const int32_t *ys, uint32_t n,
                           const float *v, float *out) {
  if (!hp_curvature_exact_supported(m)) return HP_EINVAL;
  const size_t d = (size_t)m->in_c * m->in_h * m->in_w;
  rop_ws_t w;
  memset(&w, 0, sizeof w);
  if (rop_ws_alloc(m, &w) != 0) return HP_ENOMEM;
  memset(out, 0, m->n_params * sizeof *out);
  for (uint32_t at = 0; at < n; at += (uint32_t)m->batch) {
    int b = (int)(n - at < (uint32_t)m->batch ? n - at : (uint32_t)m->batch);
    hvp_exact_chunk(m, xs + (size_t)at * d, ys + at, b, v, (float)b / (float)n, out, &w);
  }
  rop_ws_free(&w);
  return 0;
}

/* The operator Lanczos sees: out = S (H + wd on decay ranges) S v with
 * S = diag(sqrt d) (S = I when d is NULL). */
typedef struct hess_op {
  hp_model_t *m;
  const float *xs;
  const int32_t *ys;
  uint32_t n;
  double eps;
  double wd;        /* weight decay added to H on m->decay ranges */
  bool exact;       /* R-operator products (else central differences) */
  const float *sd;  /* sqrt of the preconditioner, or NULL */
  float *tmp;       /* [n_params] */
  int count;        /* products computed */
} hess_op_t;

static void hess_apply(void *ctx, const float *v, float *out) {
  hess_op_t *o = ctx;
  const size_t np = o->m->n_params;
  const float *x = v;
  if (o->sd != NULL) {
    for (size_t i = 0; i < np; i++) o->tmp[i] = o->sd[i] * v[i];
    x = o->tmp;
  }
  if (!o->exact || hp_curvature_hvp_exact(o->m, o->xs, o->ys, o->n, x, out) != 0)
    hp_curvature_hvp(o->m, o->xs, o->ys, o->n, x, o->eps, out);
  if (o->wd > 0)
    for (int r = 0; r < o->m->n_decay; r++) {
      const hp_param_range_t *pr = &o->m->decay[r];
      for (size_t i = pr->offset; i < pr->offset + pr->count; i++) out[i] += (float)(o->wd * x[i]);
    }
  if (o->sd != NULL)
    for (size_t i = 0; i < np; i++) out[i] *= o->sd[i];
  o->count++;
}

/* One Lanczos run from v0: Ritz values and weights into eval/w; returns m. */
static int lanczos_ritz(hess_op_t *op, size_t np, int steps, const float *v0, double *eval,
                        double *w) {
  double *alpha = calloc((size_t)steps, sizeof *alpha), *beta = calloc((size_t)steps, sizeof *beta);
  int m = -1;
  if (alpha && beta) {
    m = hp_lanczos(hess_apply, op, np, steps, v0, alpha, beta);
    if (m > 0 && hp_tridiag_eigen(alpha, beta, m, eval, w) != 0) m = -1;
  }
  free(alpha), free(beta);
  return m;
}

int hp_curvature_diagnose(hp_model_t *m, const hp_dataset_t *ds, const uint32_t *idx, uint32_t n,
                          const hp_curv_config_t *cfg, const hp_optim_t *opt, double lr,
                          uint64_t seed, hp_curv_result_t *res, hp_err_t *err) {
  const double t0 = now_sec();
  const size_t np = m->n_params;
  memset(res, 0, sizeof *res);
  if (n > (uint32_t)cfg->samples) n = (uint32_t)cfg->samples;
  if (n == 0) return hp_err_set(err, HP_EINVAL, "diagnostics: no training samples");
  const bool exact = cfg->hvp != HP_CURV_HVP_FD && hp_curvature_exact_supported(m);
  if (cfg->hvp == HP_CURV_HVP_EXACT && !exact)
    return hp_err_set(err, HP_EINVAL,
                      "diagnostics.hvp: \"exact\" needs a network of dense layers only (with "
                      "softmax cross-entropy or mse); use \"auto\" or \"fd\"");
  const int steps = cfg->steps, vectors = cfg->vectors;
  const size_t d = ds->d;
  float *xs = malloc((size_t)n * d * sizeof *xs), *v0 = malloc(np * sizeof *v0);
  int32_t *ys = malloc((size_t)n * sizeof *ys);
  float *g = malloc(np * sizeof *g), *hg = malloc(np * sizeof *hg);
  float *tmp = malloc(np * sizeof *tmp), *sd = NULL;
  float *state = malloc((m->n_state + 1) * sizeof *state);
  float *rates = calloc((size_t)m->n_layers, sizeof *rates);
  const size_t most = (size_t)(steps > cfg->precond_steps ? steps : cfg->precond_steps) + 1;
  double *eval = calloc(most, sizeof *eval), *w = calloc(most, sizeof *w);
  int rc = 0;
  if (!xs || !v0 || !ys || !g || !hg || !tmp || !state || !rates || !eval || !w) {
    rc = hp_err_set(err, HP_ENOMEM, "diagnostics: out of memory (%zu parameters)", np);
    goto out;
  }
  /* Batch statistics in training mode update the running estimates, and
   * dropout draws from the model's stream: keep both as training left them. */
  memcpy(state, m->state, m->n_state * sizeof *state);
  const hp_rng_t drng = m->dropout_rng;
  /* central differences need fp32 products: bf16's rounding (2^-8) over a
   * step of 1e-3 would be all noise */
  const bool bf16 = m->bf16;
  m->bf16 = false;
  for (int i = 0; i < m->n_layers; i++)
    if (m->layers[i].spec.kind == HP_LAYER_DROPOUT) {
      rates[i] = m->layers[i].spec.rate;
      m->layers[i].spec.rate = 0.0f;
    }
  hp_data_gather(ds, idx, n, xs, ys);

  const double wd = opt ? hp_optim_weight_decay(opt) : 0.0;
  const double pnorm = sqrt(dot(m->params, m->params, np));
  hess_op_t op = {m, xs, ys, n, cfg->fd_step * (pnorm > 1.0 ? pnorm : 1.0), wd, exact, NULL,
                  tmp, 0};
  res->exact = exact;
  res->samples = (int)n;
  res->lr = lr;

  /* gradient (with weight decay, as the optimizer sees it) and the
   * curvature along it, g^T H g / g^T g: the second-order term of the
   * Taylor step that makes a gradient step overshoot when ill-conditioned */
  hp_curvature_grad(m, xs, ys, n, g);
  for (int r = 0; r < m->n_decay && wd > 0; r++)
    for (size_t i = m->decay[r].offset; i < m->decay[r].offset + m->decay[r].count; i++)
      g[i] += (float)(wd * m->params[i]);
  double gg = dot(g, g, np);
  res->grad_norm = sqrt(gg);
  if (gg > 0) {
    hess_apply(&op, g, hg);
    res->grad_curvature = dot(g, hg, np) / gg;
  } else {
    res->grad_curvature = NAN;
  }

  /* SLQ: Lanczos from Rademacher vectors; the first run's extreme Ritz
   * values are lambda_max / lambda_min (later runs can only widen them). */
  double lmax = -INFINITY, lmin = INFINITY, neg = 0;
  double *nodes = calloc((size_t)vectors * (steps + 1), sizeof *nodes);
  double *wts = calloc((size_t)vectors * (steps + 1), sizeof *wts);
  int *counts = calloc((size_t)vectors, sizeof *counts);
  if (!nodes || !wts || !counts) {
    free(nodes), free(wts), free(counts);
    rc = hp_err_set(err, HP_ENOMEM, "diagnostics: out of memory");
    goto restore;
  }
  hp_rng_t rng;
  hp_rng_seed_stream(&rng, seed, 77);
  for (int k = 0; k < vectors; k++) {
    for (size_t i = 0; i < np; i++) v0[i] = (hp_rng_u64(&rng) >> 63) ? 1.0f : -1.0f;
    int mk = lanczos_ritz(&op, np, steps, v0, eval, w);
    if (mk < 1) {
      free(nodes), free(wts), free(counts);
      rc = hp_err_set(err, HP_ESTATE, "diagnostics: Lanczos failed (non-finite Hessian products?)");
      goto restore;
    }
    counts[k] = mk;
    for (int j = 0; j < mk; j++) {
      nodes[(size_t)k * (steps + 1) + j] = eval[j];
      wts[(size_t)k * (steps + 1) + j] = w[j];
    }
    if (eval[mk - 1] > lmax) lmax = eval[mk - 1];
    if (eval[0] < lmin) lmin = eval[0];
  }
  res->lambda_max = lmax, res->lambda_min = lmin;
  res->condition = lmin != 0 ? fabs(lmax) / fabs(lmin) : INFINITY;
  /* "Negative" means clearly below zero at the quadrature's resolution (its
   * nodes are about width/steps apart): a bulk of near-zero eigenvalues
   * gets a node or two near 0 of either sign, which is no evidence. */
  const double width = lmax > lmin ? lmax - lmin : 1.0;
  const double tol = fmax(1e-3 * fmax(fabs(lmax), fabs(lmin)), width / steps);
  for (int k = 0; k < vectors; k++)
    for (int j = 0; j < counts[k]; j++) {
      double th = nodes[(size_t)k * (steps + 1) + j], wt = wts[(size_t)k * (steps + 1) + j];
      if (th < -tol) neg += wt;
      int bin = (int)floor((th - lmin) / width * HP_CURV_BINS);
      if (bin < 0) bin = 0;
      if (bin >= HP_CURV_BINS) bin = HP_CURV_BINS - 1;
      res->density[bin] += wt / vectors;
    }
  res->neg_fraction = neg / vectors;
  free(nodes), free(wts), free(counts);
  res->lr_lambda_max = lr * lmax;

  /* The optimizer's own stability number: lambda_max of D^1/2 H D^1/2
   * (same spectrum as D H) for adaptive methods. */
  double bound = 2.0;
  bool adaptive = opt != NULL && hp_optim_precond(opt, NULL, np, &bound);
  res->bound = bound;
  res->sharpness = lmax;
  if (adaptive && cfg->precond_steps > 0) {
    if ((sd = malloc(np * sizeof *sd)) == NULL) {
      rc = hp_err_set(err, HP_ENOMEM, "diagnostics: out of memory");
      goto restore;
    }
    hp_optim_precond(opt, sd, np, &bound);
    for (size_t i = 0; i < np; i++) sd[i] = sqrtf(sd[i]);
    op.sd = sd;
    for (size_t i = 0; i < np; i++) v0[i] = (hp_rng_u64(&rng) >> 63) ? 1.0f : -1.0f;
    int mk = lanczos_ritz(&op, np, cfg->precond_steps, v0, eval, w);
    res->sharpness = mk > 0 ? eval[mk - 1] : NAN;
  } else if (adaptive) {
    res->sharpness = NAN;
  }
  res->lr_sharpness = lr * res->sharpness;
restore:
  for (int i = 0; i < m->n_layers; i++)
    if (m->layers[i].spec.kind == HP_LAYER_DROPOUT) m->layers[i].spec.rate = rates[i];
  memcpy(m->state, state, m->n_state * sizeof *state);
  m->dropout_rng = drng;
  m->bf16 = bf16;
  hp_model_params_changed(m);
  res->hvps = op.count;
out:
  res->seconds = now_sec() - t0;
  free(xs), free(v0), free(ys), free(g), free(hg), free(tmp), free(sd), free(state), free(rates);
  free(eval), free(w);
  return rc;
}

/* ---- reporting ----------------------------------------------------------- */

int hp_curv_result_json(const hp_curv_result_t *r, cJSON *obj) {
  const struct {
    const char *key;
    double v;
  } f[] = {
      {"curvature_lambda_max", r->lambda_max},
      {"curvature_lambda_min", r->lambda_min},
      {"curvature_condition", r->condition},
      {"curvature_negative_fraction", r->neg_fraction},
      {"curvature_grad_norm", r->grad_norm},
      {"curvature_grad_curvature", r->grad_curvature},
      {"curvature_lr", r->lr},
      {"curvature_lr_lambda_max", r->lr_lambda_max},
      {"curvature_sharpness", r->sharpness},
      {"curvature_lr_sharpness", r->lr_sharpness},
      {"curvature_bound", r->bound},
      {"curvature_samples", r->samples},
      {"curvature_hvps", r->hvps},
      {"curvature_seconds", r->seconds},
      {"curvature_diverged_epoch", r->diverged_epoch > 0 ? r->diverged_epoch : NAN},
  };
  if (cJSON_AddStringToObject(obj, "curvature_hvp", r->exact ? "exact" : "central_difference") ==
      NULL)
    return HP_ENOMEM;
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (isfinite(f[i].v) && cJSON_AddNumberToObject(obj, f[i].key, f[i].v) == NULL)
      return HP_ENOMEM;
  cJSON *a = cJSON_AddArrayToObject(obj, "curvature_density");
  if (a == NULL) return HP_ENOMEM;
  for (int b = 0; b < HP_CURV_BINS; b++) {
    /* 4 significant digits are plenty for a density estimate */
    char t[32];
    snprintf(t, sizeof t, "%.4g", r->density[b]);
    double v = strtod(t, NULL);
    cJSON *n = cJSON_CreateNumber(v);
    if (n == NULL || !cJSON_AddItemToArray(a, n)) return HP_ENOMEM;
  }
  return 0;
}

void hp_curv_result_line(const hp_curv_result_t *r, char *buf, size_t cap) {
  snprintf(buf, cap,
           "lambda_max %.4g  lambda_min %.4g  negative %.1f%%  |g| %.3g  g'Hg/g'g %.4g  "
           "lr*lambda_max %.3g  lr*sharpness %.3g (bound %.3g)  %d %s HVPs on %d samples, %.1fs",
           r->lambda_max, r->lambda_min, 100.0 * r->neg_fraction, r->grad_norm,
           r->grad_curvature, r->lr_lambda_max, r->lr_sharpness, r->bound, r->hvps,
           r->exact ? "exact" : "finite-difference", r->samples, r->seconds);
  size_t len = strlen(buf);
  if (r->diverged_epoch > 0 && len < cap)
    snprintf(buf + len, cap - len, "; at the start of epoch %d, which diverged",
             r->diverged_epoch);
}

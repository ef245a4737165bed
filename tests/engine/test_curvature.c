/* Tests of the curvature diagnostics against the algorithm, not earlier
 * output: Lanczos and the tridiagonal eigensolver on spectra known in closed
 * form; Hessian-vector products of a tiny tanh network against a dense
 * Hessian from an independent double-precision implementation, and of a
 * conv + batch-norm network against second differences of its
 * loss; the whole diagnosis on a linear least-squares model (an exact
 * quadratic whose Hessian eigenvalues are known) with weight decay and
 * Adam's preconditioner; determinism and that diagnosing leaves training
 * bit-for-bit unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/curvature.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"

/* ---- Lanczos on known spectra ------------------------------------------ */

typedef struct diag_op {
  const double *lam; /* eigenvalues */
  const double *q;   /* n x n orthogonal (row-major) or NULL: A = diag(lam) */
  size_t n;
  double *t;
} diag_op_t;

static void apply_diag(void *ctx, const float *v, float *out) {
  diag_op_t *o = ctx;
  size_t n = o->n;
  if (o->q == NULL) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(o->lam[i] * v[i]);
    return;
  }
  /* A = Q diag Q^T */
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += o->q[j * n + i] * v[j];
    o->t[i] = o->lam[i] * s;
  }
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += o->q[i * n + j] * o->t[j];
    out[i] = (float)s;
  }
}

static void test_tridiag_known(void **state) {
  (void)state;
  /* tridiag(-1, 2, -1) of size m: eigenvalues 2 - 2 cos(k pi/(m+1)), first
   * eigenvector components sqrt(2/(m+1)) sin(k pi/(m+1)). */
  enum { M = 12 };
  double d[M], e[M - 1], ev[M], w[M];
  for (int i = 0; i < M; i++) d[i] = 2.0;
  for (int i = 0; i < M - 1; i++) e[i] = -1.0;
  assert_int_equal(hp_tridiag_eigen(d, e, M, ev, w), 0);
  double sum = 0;
  for (int k = 1; k <= M; k++) {
    double th = k * M_PI / (M + 1);
    assert_true(fabs(ev[k - 1] - (2.0 - 2.0 * cos(th))) < 1e-12);
    assert_true(fabs(w[k - 1] - 2.0 / (M + 1) * sin(th) * sin(th)) < 1e-12);
    sum += w[k - 1];
  }
  assert_true(fabs(sum - 1.0) < 1e-12);
}

static void test_lanczos_known_spectrum(void **state) {
  (void)state;
  enum { N = 120 };
  double lam[N];
  /* a bulk in [-1, 3] and two outliers, as Hessians of networks have */
  for (int i = 0; i < N; i++) lam[i] = -1.0 + 4.0 * i / (N - 3);
  lam[N - 2] = 25.0, lam[N - 1] = 40.0;
  /* a rotation: Q from Householder reflections of fixed vectors */
  double *q = calloc((size_t)N * N, sizeof *q), *t = calloc(N, sizeof *t);
  for (int i = 0; i < N; i++) q[i * N + i] = 1.0;
  hp_rng_t r;
  hp_rng_seed(&r, 9);
  for (int h = 0; h < 3; h++) {
    double u[N], nu = 0;
    for (int i = 0; i < N; i++) u[i] = hp_rng_normal(&r), nu += u[i] * u[i];
    for (int i = 0; i < N; i++) u[i] /= sqrt(nu);
    for (int row = 0; row < N; row++) { /* Q <- Q (I - 2uu^T) */
      double s = 0;
      for (int j = 0; j < N; j++) s += q[row * N + j] * u[j];
      for (int j = 0; j < N; j++) q[row * N + j] -= 2.0 * s * u[j];
    }
  }
  diag_op_t op = {lam, q, N, t};
  float v0[N];
  for (int i = 0; i < N; i++) v0[i] = (hp_rng_u64(&r) >> 63) ? 1.0f : -1.0f;
  double alpha[64], beta[64], ev[64], w[64];
  int m = hp_lanczos(apply_diag, &op, N, 40, v0, alpha, beta);
  assert_int_equal(m, 40);
  assert_int_equal(hp_tridiag_eigen(alpha, beta, m, ev, w), 0);
  /* extremes converge first: the outlier to float precision, the bulk's
   * lower edge (a cluster) more slowly */
  assert_true(fabs(ev[m - 1] - 40.0) < 1e-4 * 40);
  assert_true(fabs(ev[m - 2] - 25.0) < 1e-3 * 25);
  assert_true(fabs(ev[0] - (-1.0)) < 2e-2);
  double sum = 0, neg = 0;
  for (int i = 0; i < m; i++) {
    sum += w[i];
    if (ev[i] < -0.1) neg += w[i];
  }
  assert_true(fabs(sum - 1.0) < 1e-6);
  /* SLQ: mass below -0.1 estimates the fraction of eigenvalues there
   * (25 of 120; one Rademacher vector: a loose bound) */
  assert_true(neg > 0.10 && neg < 0.32);
  /* the spectrum in the unrotated basis, to the Krylov dimension */
  op.q = NULL;
  m = hp_lanczos(apply_diag, &op, N, 60, v0, alpha, beta);
  assert_int_equal(hp_tridiag_eigen(alpha, beta, m, ev, w), 0);
  assert_true(fabs(ev[m - 1] - 40.0) < 1e-5 * 40);
  assert_true(fabs(ev[0] + 1.0) < 1e-3);
  /* an invariant subspace ends early: a start vector on 3 eigenvectors */
  float e3[N] = {0};
  e3[0] = 1, e3[5] = 1, e3[N - 1] = 1;
  m = hp_lanczos(apply_diag, &op, N, 20, e3, alpha, beta);
  assert_int_equal(m, 3);
  assert_int_equal(hp_tridiag_eigen(alpha, beta, m, ev, w), 0);
  assert_true(fabs(ev[0] - lam[0]) < 1e-5 && fabs(ev[1] - lam[5]) < 1e-5 &&
              fabs(ev[2] - 40.0) < 1e-4);
  free(q), free(t);
}

/* ---- Hessian-vector products of a tiny network ---------------------------- */

/* in -> H tanh -> K softmax cross-entropy, as the engine's dense layers:
 * W1[H,in], b1[H], W2[K,H], b2[K] in one flat vector (the engine's order). */
enum { IN = 3, HID = 4, K = 3, NS = 5 };
#define NP (HID * IN + HID + K * HID + K)

static void ref_grad(const double *p, const float *x, const int32_t *y, double *g) {
  const double *W1 = p, *b1 = p + HID * IN, *W2 = b1 + HID, *b2 = W2 + K * HID;
  memset(g, 0, NP * sizeof *g);
  double *gW1 = g, *gb1 = g + HID * IN, *gW2 = gb1 + HID, *gb2 = gW2 + K * HID;
  for (int s = 0; s < NS; s++) {
    const float *xs = x + s * IN;
    double h[HID], z[K], mx = -1e300, se = 0;
    for (int j = 0; j < HID; j++) {
      double a = b1[j];
      for (int i = 0; i < IN; i++) a += W1[j * IN + i] * xs[i];
      h[j] = tanh(a);
    }
    for (int k = 0; k < K; k++) {
      z[k] = b2[k];
      for (int j = 0; j < HID; j++) z[k] += W2[k * HID + j] * h[j];
      if (z[k] > mx) mx = z[k];
    }
    for (int k = 0; k < K; k++) se += exp(z[k] - mx);
    double dz[K], dh[HID] = {0};
    for (int k = 0; k < K; k++) dz[k] = (exp(z[k] - mx) / se - (k == y[s])) / NS;
    for (int k = 0; k < K; k++) {
      gb2[k] += dz[k];
      for (int j = 0; j < HID; j++) gW2[k * HID + j] += dz[k] * h[j], dh[j] += dz[k] * W2[k * HID + j];
    }
    for (int j = 0; j < HID; j++) {
      double da = dh[j] * (1 - h[j] * h[j]);
      gb1[j] += da;
      for (int i = 0; i < IN; i++) gW1[j * IN + i] += da * xs[i];
    }
  }
}

static void tiny_model(hp_model_t *m, int batch) {
  hp_layer_spec_t sp[2];
  memset(sp, 0, sizeof sp);
  sp[0].kind = HP_LAYER_DENSE, sp[0].units = HID, sp[0].act.kind = HP_ACT_TANH;
  sp[1].kind = HP_LAYER_DENSE, sp[1].units = K;
  snprintf(sp[0].where, sizeof sp[0].where, "layers[0]");
  snprintf(sp[1].where, sizeof sp[1].where, "layers[1]");
  hp_err_t err = {0};
  assert_int_equal(hp_model_create(m, sp, 2, 1, 1, IN, K, batch, HP_LOSS_SOFTMAX_CE, &err), 0);
  hp_init_t init;
  hp_init_default(&init, HP_INIT_GLOROT_NORMAL);
  hp_model_init(m, &init, 5);
  /* biases away from 0 so every term of the Hessian is exercised */
  for (size_t i = 0; i < m->n_params; i++) m->params[i] += 0.1f * (float)((int)(i % 5) - 2);
}

static void test_hvp_dense_hessian(void **state) {
  (void)state;
  float x[NS * IN];
  int32_t y[NS];
  hp_rng_t r;
  hp_rng_seed(&r, 3);
  for (int i = 0; i < NS * IN; i++) x[i] = (float)hp_rng_normal(&r);
  for (int s = 0; s < NS; s++) y[s] = s % K;
  /* batch 2: the subset is taken in chunks, their gradients weighted */
  hp_model_t m;
  tiny_model(&m, 2);
  assert_int_equal(m.n_params, NP);
  double p[NP], gp[NP], gm[NP], H[NP][NP];
  for (int i = 0; i < NP; i++) p[i] = m.params[i];
  /* the engine's gradient equals the reference gradient */
  float g[NP];
  hp_curvature_grad(&m, x, y, NS, g);
  ref_grad(p, x, y, gp);
  for (int i = 0; i < NP; i++) assert_true(fabs(g[i] - gp[i]) < 1e-6);
  /* dense Hessian: central differences of the double reference gradient
   * (error ~1e-10 at h = 1e-5) */
  for (int j = 0; j < NP; j++) {
    double q[NP];
    memcpy(q, p, sizeof q);
    q[j] = p[j] + 1e-5;
    ref_grad(q, x, y, gp);
    q[j] = p[j] - 1e-5;
    ref_grad(q, x, y, gm);
    for (int i = 0; i < NP; i++) H[i][j] = (gp[i] - gm[i]) / 2e-5;
  }
  double hmax = 0;
  for (int i = 0; i < NP; i++)
    for (int j = 0; j < NP; j++) hmax = fmax(hmax, fabs(H[i][j]));
  /* the engine's product along basis vectors and random directions, with
   * the diagnosis's step rule (1e-3 * max(||theta||, 1)) */
  double pn = 0;
  for (int i = 0; i < NP; i++) pn += p[i] * p[i];
  const double eps = 1e-3 * fmax(sqrt(pn), 1.0);
  float v[NP], hv[NP], hx[NP];
  double worst = 0, worst_exact = 0;
  assert_true(hp_curvature_exact_supported(&m));
  for (int t = 0; t < NP + 4; t++) {
    for (int i = 0; i < NP; i++)
      v[i] = t < NP ? (i == t) : (float)hp_rng_normal(&r);
    hp_curvature_hvp(&m, x, y, NS, v, eps, hv);
    assert_int_equal(hp_curvature_hvp_exact(&m, x, y, NS, v, hx), 0);
    double vn = 0;
    for (int j = 0; j < NP; j++) vn += fabs(v[j]);
    for (int i = 0; i < NP; i++) {
      double ref = 0;
      for (int j = 0; j < NP; j++) ref += H[i][j] * v[j];
      worst = fmax(worst, fabs(hv[i] - ref) / vn);
      worst_exact = fmax(worst_exact, fabs(hx[i] - ref) / vn);
    }
  }
  /* central differences: fp32 gradients over eps, a few 1e-3 of the
   * Hessian's largest entry; the R-operator: fp32 rounding only (the
   * reference itself is good to ~1e-9) */
  assert_true(worst < 6e-3 * hmax);
  assert_true(worst_exact < 2e-5 * hmax);
  /* and the parameters are back exactly */
  for (int i = 0; i < NP; i++) assert_true(m.params[i] == (float)p[i]);
  hp_model_free(&m);
}

/* conv + batch norm + dropout + dense: v^T H v against the
 * second difference of the loss along v. */
static double subset_loss(hp_model_t *m, const float *x, const int32_t *y, int n) {
  float *g = malloc(m->n_params * sizeof *g);
  double l = hp_curvature_grad(m, x, y, (uint32_t)n, g);
  free(g);
  return l;
}

/* Steps: the loss's second difference at h = 0.03 has truncation error
 * ~1e-3 relative here and fp32 noise ~4 u |L| / h^2 = 3e-4; the product's
 * step is the diagnosis' default scale. (A max-pool would make the loss
 * non-smooth at these steps: winners switch.) */
#define H_STEP 0.03
#define EPS_STEP 1e-3
static void test_hvp_conv_second_difference(void **state) {
  (void)state;
  const char *txt =
      "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": 1, "
      "\"batch_norm\": true, \"activation\": \"tanh\"}, "
      "{\"type\": \"dense\", \"units\": 6, \"activation\": \"tanh\", \"dropout\": 0.5}, "
      "{\"type\": \"dense\", \"units\": 3}]}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  hp_train_config_t cfg;
  int rc = hp_train_config_parse(root, &cfg, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  cJSON_Delete(root);
  hp_model_t m;
  assert_int_equal(hp_model_create(&m, cfg.layers, cfg.n_layers, 1, 6, 6, 3, 4,
                                   HP_LOSS_SOFTMAX_CE, &err), 0);
  hp_model_init(&m, &cfg.init, 2);
  enum { N = 8 };
  float x[N * 36];
  int32_t y[N];
  hp_rng_t r;
  hp_rng_seed(&r, 4);
  for (int i = 0; i < N * 36; i++) x[i] = (float)hp_rng_normal(&r);
  for (int i = 0; i < N; i++) y[i] = i % 3;
  /* dropout must be off in the diagnosis' loss: switch it off here the
   * way hp_curvature_diagnose does, so both sides see the same function */
  for (int i = 0; i < m.n_layers; i++)
    if (m.layers[i].spec.kind == HP_LAYER_DROPOUT) m.layers[i].spec.rate = 0;
  const size_t np = m.n_params;
  float *v = malloc(np * sizeof *v), *hv = malloc(np * sizeof *hv);
  float *p0 = malloc(np * sizeof *p0);
  memcpy(p0, m.params, np * sizeof *p0);
  for (int trial = 0; trial < 3; trial++) {
    double vn = 0;
    for (size_t i = 0; i < np; i++) v[i] = (float)hp_rng_normal(&r), vn += (double)v[i] * v[i];
    vn = sqrt(vn);
    for (size_t i = 0; i < np; i++) v[i] = (float)(v[i] / vn);
    hp_curvature_hvp(&m, x, y, N, v, EPS_STEP, hv);
    double vhv = 0;
    for (size_t i = 0; i < np; i++) vhv += (double)v[i] * hv[i];
    /* second difference of the loss (fp32 loss summed in double) */
    const double h = H_STEP;
    double l0 = subset_loss(&m, x, y, N), lp, lm;
    for (size_t i = 0; i < np; i++) m.params[i] = (float)(p0[i] + h * v[i]);
    lp = subset_loss(&m, x, y, N);
    for (size_t i = 0; i < np; i++) m.params[i] = (float)(p0[i] - h * v[i]);
    lm = subset_loss(&m, x, y, N);
    memcpy(m.params, p0, np * sizeof *p0);
    double sd = (lp - 2 * l0 + lm) / (h * h);
    assert_true(fabs(vhv - sd) < 0.01 * fabs(sd) + 3e-4);
  }
  free(v), free(hv), free(p0);
  hp_model_free(&m);
  hp_train_config_free(&cfg);
}

/* ReLU layers, a separate-flatten input and MSE: the R-operator against
 * central differences (no kink is crossed at this step on these points). */
static void test_hvp_exact_relu_mse(void **state) {
  (void)state;
  const char *txt = "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 7, "
                    "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 5, \"activation\": "
                    "\"leaky_relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"sigmoid\"}], "
                    "\"loss\": \"mse\"}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  hp_train_config_t cfg;
  int rc = hp_train_config_parse(root, &cfg, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  cJSON_Delete(root);
  hp_model_t m;
  assert_int_equal(hp_model_create(&m, cfg.layers, cfg.n_layers, 1, 2, 2, 3, 3,
                                   HP_LOSS_MSE, &err), 0);
  hp_model_init(&m, &cfg.init, 3);
  assert_true(hp_curvature_exact_supported(&m));
  enum { N = 7 };
  float x[N * 4];
  int32_t y[N];
  hp_rng_t r;
  hp_rng_seed(&r, 8);
  for (int i = 0; i < N * 4; i++) x[i] = (float)hp_rng_normal(&r);
  for (int i = 0; i < N; i++) y[i] = i % 3;
  const size_t np = m.n_params;
  float *v = malloc(np * sizeof *v), *a = malloc(np * sizeof *a), *b = malloc(np * sizeof *b);
  for (int t = 0; t < 4; t++) {
    double an = 0, d = 0;
    for (size_t i = 0; i < np; i++) v[i] = (float)hp_rng_normal(&r);
    assert_int_equal(hp_curvature_hvp_exact(&m, x, y, N, v, a), 0);
    hp_curvature_hvp(&m, x, y, N, v, 1e-4, b);
    for (size_t i = 0; i < np; i++) an = fmax(an, fabs(a[i])), d = fmax(d, fabs(a[i] - b[i]));
    assert_true(an > 0);
    assert_true(d < 5e-3 * an);
  }
  free(v), free(a), free(b);
  hp_model_free(&m);
  hp_train_config_free(&cfg);
}

/* ---- the whole diagnosis on an exact quadratic ------------------------------ */

/* A linear model with MSE is a quadratic: L = 1/(nK) sum_s ||W x_s + b - t_s||^2,
 * Hessian (2/(nK)) sum_s [x;1][x;1]^T (x) I_K. With these four samples the
 * sum is diag(2, 8, 4), so the eigenvalues are 0.5 (W[:,0]), 2 (W[:,1]) and
 * 1 (b), K times each. */
static const float QX[4][2] = {{1, 0}, {-1, 0}, {0, 2}, {0, -2}};
static const int32_t QY[4] = {0, 1, 0, 1};

static void quad_model(hp_model_t *m, hp_dataset_t *ds) {
  hp_layer_spec_t sp;
  memset(&sp, 0, sizeof sp);
  sp.kind = HP_LAYER_DENSE, sp.units = 2;
  hp_err_t err = {0};
  assert_int_equal(hp_model_create(m, &sp, 1, 1, 1, 2, 2, 4, HP_LOSS_MSE, &err), 0);
  hp_init_t init;
  hp_init_default(&init, HP_INIT_GLOROT_UNIFORM);
  hp_model_init(m, &init, 1);
  memset(ds, 0, sizeof *ds);
  ds->n = 4, ds->c = 1, ds->h = 1, ds->w = 2, ds->d = 2, ds->n_classes = 2;
  ds->x = &QX[0][0], ds->y = QY;
}

static void test_diagnose_quadratic(void **state) {
  (void)state;
  hp_model_t m;
  hp_dataset_t ds;
  quad_model(&m, &ds);
  const uint32_t idx[4] = {0, 1, 2, 3};
  hp_curv_config_t cfg;
  hp_curv_config_default(&cfg);
  cfg.steps = 6; /* = n_params: the Krylov space can hold the whole spectrum */
  hp_curv_result_t res;
  hp_err_t err = {0};
  assert_int_equal(hp_curvature_diagnose(&m, &ds, idx, 4, &cfg, NULL, 0.5, 7, &res, &err), 0);
  assert_true(fabs(res.lambda_max - 2.0) < 1e-3);
  assert_true(fabs(res.lambda_min - 0.5) < 1e-3);
  assert_true(fabs(res.condition - 4.0) < 1e-2);
  assert_true(res.neg_fraction == 0.0);
  assert_true(fabs(res.lr_lambda_max - 1.0) < 1e-3); /* 0.5 * 2: inside GD's bound 2 */
  assert_true(res.bound == 2.0 && res.sharpness == res.lambda_max);
  double mass = 0;
  for (int b = 0; b < HP_CURV_BINS; b++) mass += res.density[b];
  assert_true(fabs(mass - 1.0) < 1e-6);
  /* equal multiplicities: a third of the mass at each end bin's eigenvalue
   * (0.5 in the first bin, 2 in the last), a third at 1 = bin 5 of 16 */
  assert_true(fabs(res.density[0] - 1.0 / 3) < 0.2 && fabs(res.density[HP_CURV_BINS - 1] - 1.0 / 3) < 0.2);
  /* the gradient is exact: compare with the closed form */
  float g[6];
  hp_curvature_grad(&m, &QX[0][0], QY, 4, g);
  assert_true(fabs(res.grad_norm - sqrt((double)g[0] * g[0] + g[1] * g[1] + g[2] * g[2] +
                                        g[3] * g[3] + g[4] * g[4] + g[5] * g[5])) < 1e-6);
  assert_true(res.grad_curvature >= 0.5 - 1e-3 && res.grad_curvature <= 2.0 + 1e-3);

  /* weight decay 0.1 on the weights (not the bias) adds 0.1 to their
   * eigenvalues: 0.6, 2.1, 1; SGD with momentum 0.5 has bound 2 + 2*0.5 */
  hp_optim_config_t oc;
  hp_optim_config_default(&oc, HP_OPTIM_MOMENTUM);
  oc.momentum = 0.5, oc.weight_decay = 0.1, oc.lr = 0.5;
  hp_optim_t *opt = NULL;
  assert_int_equal(hp_optim_create(&oc, m.n_params, m.decay, (size_t)m.n_decay, 1, &opt, &err), 0);
  assert_int_equal(hp_curvature_diagnose(&m, &ds, idx, 4, &cfg, opt, 0.5, 7, &res, &err), 0);
  assert_true(fabs(res.lambda_max - 2.1) < 1e-3 && fabs(res.lambda_min - 0.6) < 1e-3);
  assert_true(res.bound == 3.0);
  hp_optim_free(opt);

  /* Adam after one step on a chosen gradient: r^ = g^2, so D = 1/(|g|+delta)
   * and the preconditioned sharpness is max_i H_ii / |g_i| (H is diagonal
   * in this basis: W[j][0] -> 0.5, W[j][1] -> 2, b_j -> 1) */
  hp_optim_config_default(&oc, HP_OPTIM_ADAM);
  assert_int_equal(hp_optim_create(&oc, m.n_params, m.decay, (size_t)m.n_decay, 1, &opt, &err), 0);
  float scratch[6], gg[6] = {0.1f, 4.0f, 0.2f, 1.0f, 0.5f, 2.0f};
  memcpy(scratch, m.params, sizeof scratch);
  hp_optim_step(opt, scratch, gg, 6);
  cfg.precond_steps = 6;
  assert_int_equal(hp_curvature_diagnose(&m, &ds, idx, 4, &cfg, opt, 1e-3, 7, &res, &err), 0);
  const double hd[6] = {0.5, 2, 0.5, 2, 1, 1};
  double want = 0;
  for (int i = 0; i < 6; i++) want = fmax(want, hd[i] / (fabs(gg[i]) + 1e-8));
  assert_true(fabs(res.sharpness - want) < 1e-3 * want); /* 0.5/0.1 = 5 */
  assert_true(fabs(res.bound - 38.0) < 1e-9);
  assert_true(fabs(res.lr_sharpness - 1e-3 * want) < 1e-5);
  hp_optim_free(opt);
  hp_model_free(&m);
}

/* ---- determinism; training unchanged by diagnosing ---------------------- */

enum { DN = 200, DD = 6 };

/* Three Gaussian blobs (static storage, rebuilt by every call). */
static float blob_x[DN * DD];
static int32_t blob_y[DN];
static uint32_t blob_tr[DN];
static void blobs(hp_data_t *data) {
  hp_rng_t r;
  hp_rng_seed(&r, 11);
  for (int i = 0; i < DN; i++) {
    blob_y[i] = (int32_t)hp_rng_below(&r, 3);
    for (int j = 0; j < DD; j++)
      blob_x[i * DD + j] = (float)(hp_rng_normal(&r) + (j % 3 == blob_y[i]));
    blob_tr[i] = (uint32_t)i;
  }
  memset(data, 0, sizeof *data);
  hp_dataset_t *d = &data->train;
  d->n = DN, d->c = 1, d->h = 1, d->w = DD, d->d = DD, d->n_classes = 3;
  d->x = blob_x, d->y = blob_y;
  data->split.train = blob_tr, data->split.n_train = DN;
}

static void load(hp_train_config_t *cfg, const char *extra) {
  char txt[600];
  snprintf(txt, sizeof txt,
           "{\"layers\": [{\"type\": \"mlp\", \"hidden\": [12], \"batch_norm\": true, "
           "\"dropout\": 0.2}, {\"type\": \"dense\", \"units\": 3}], \"batch_size\": 32, "
           "\"epochs\": 3, \"seed\": 5%s}",
           extra);
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  int rc = hp_train_config_parse(root, cfg, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  cJSON_Delete(root);
}

static void test_deterministic_and_harmless(void **state) {
  (void)state;
  hp_data_t data;
  blobs(&data);
  hp_train_config_t plain, diag;
  load(&plain, "");
  load(&diag, ", \"diagnostics\": {\"curvature\": true, \"every_epoch\": true, "
              "\"samples\": 100, \"lanczos_steps\": 8, \"slq_vectors\": 2}");
  assert_true(diag.curv.enabled && diag.curv.every_epoch && diag.curv.samples == 100);
  hp_train_result_t r1, r2, r3;
  hp_model_t a, b, c;
  hp_err_t err = {0};
  assert_int_equal(hp_train_run_data(&plain, &data, NULL, NULL, &r1, &a, &err), 0);
  assert_int_equal(hp_train_run_data(&diag, &data, NULL, NULL, &r2, &b, &err), 0);
  assert_int_equal(hp_train_run_data(&diag, &data, NULL, NULL, &r3, &c, &err), 0);
  assert_false(r1.has_curv);
  assert_true(r2.has_curv && r3.has_curv);
  /* diagnosing after every epoch leaves the trained weights, batch-norm
   * estimates and the dropout stream exactly as without it */
  assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
  assert_memory_equal(a.state, b.state, a.n_state * sizeof(float));
  assert_true(r1.train_loss == r2.train_loss);
  /* and the same run twice gives the same numbers, bit for bit */
  assert_memory_equal(&r2.curv.lambda_max, &r3.curv.lambda_max, sizeof(double));
  assert_memory_equal(r2.curv.density, r3.curv.density, sizeof r2.curv.density);
  assert_true(r2.curv.samples == 100 && r2.curv.hvps == 1 + 2 * 8 + 8);
  assert_true(r2.curv.lambda_max > 0 && r2.curv.lambda_min <= r2.curv.lambda_max);
  assert_true(fabs(r2.curv.bound - 38.0) < 1e-9); /* the default optimizer is Adam */
  assert_true(r2.curv_seconds >= r2.curv.seconds);
  /* the JSON members the worker stores as user attributes */
  cJSON *o = cJSON_CreateObject();
  assert_int_equal(hp_curv_result_json(&r2.curv, o), 0);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "curvature_lambda_max")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "curvature_lr_sharpness")));
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "curvature_density")), HP_CURV_BINS);
  cJSON_Delete(o);
  hp_model_free(&a), hp_model_free(&b), hp_model_free(&c);
  hp_train_config_free(&plain), hp_train_config_free(&diag);
}

/* A run that diverges gets the diagnosis of the weights its diverging epoch
 * started from (here the first epoch: the initial weights), with the
 * learning rate of the step that diverged: the same numbers as diagnosing a
 * freshly initialised model directly, and lr * sharpness past the bound
 * (what made it diverge). A run that does not diverge has no such epoch. */
static void test_diverged_diagnosis(void **state) {
  (void)state;
  hp_data_t data;
  blobs(&data);
  hp_train_config_t cfg, ok;
  load(&cfg, ", \"optimizer\": {\"type\": \"sgd\", \"lr\": 1e6}, \"diagnostics\": "
             "{\"curvature\": true, \"samples\": 100, \"lanczos_steps\": 8}");
  load(&ok, ", \"diagnostics\": {\"curvature\": true, \"samples\": 100}");
  hp_train_result_t r, rok;
  hp_err_t err = {0};
  assert_int_equal(hp_train_run_data(&cfg, &data, NULL, NULL, &r, NULL, &err), 0);
  assert_int_equal(r.status, HP_TRAIN_DIVERGED);
  assert_non_null(strstr(r.message, "diverged at epoch 1"));
  assert_true(r.has_curv);
  assert_int_equal(r.curv.diverged_epoch, 1);
  /* the same diagnosis of the initial weights, directly */
  hp_model_t m;
  hp_optim_t *opt = NULL;
  assert_int_equal(hp_model_create(&m, cfg.layers, cfg.n_layers, 1, 1, DD, 3, cfg.batch_size,
                                   cfg.loss, &err), 0);
  hp_model_init(&m, &cfg.init, cfg.seed);
  assert_int_equal(hp_optim_create(&cfg.optim, m.n_params, m.decay, (size_t)m.n_decay, 1, &opt,
                                   &err), 0);
  hp_curv_result_t want;
  assert_int_equal(hp_curvature_diagnose(&m, &data.train, data.split.train, DN, &cfg.curv, opt,
                                         1e6, cfg.seed, &want, &err), 0);
  assert_true(r.curv.lambda_max == want.lambda_max && r.curv.lambda_min == want.lambda_min);
  assert_true(r.curv.lr == 1e6 && r.curv.lr_sharpness == want.lr_sharpness);
  assert_true(r.curv.lr_sharpness > r.curv.bound && r.curv.bound == 2);
  cJSON *o = cJSON_CreateObject();
  assert_int_equal(hp_curv_result_json(&r.curv, o), 0);
  assert_int_equal(cJSON_GetObjectItem(o, "curvature_diverged_epoch")->valueint, 1);
  cJSON_Delete(o);
  assert_int_equal(hp_train_run_data(&ok, &data, NULL, NULL, &rok, NULL, &err), 0);
  assert_int_equal(rok.status, HP_TRAIN_OK);
  assert_true(rok.has_curv && rok.curv.diverged_epoch == 0);
  hp_optim_free(opt);
  hp_model_free(&m);
  hp_train_config_free(&cfg), hp_train_config_free(&ok);
}

static void test_config_errors(void **state) {
  (void)state;
  static const struct {
    const char *json, *msg;
  } cases[] = {
      {"{\"curvature\": 1}", "diagnostics.curvature"},
      {"{\"curvature\": true, \"samples\": 0}", "diagnostics.samples: must be > 0"},
      {"{\"curvature\": true, \"lanczos_steps\": 1}", "diagnostics.lanczos_steps"},
      {"{\"curvature\": true, \"fd_step\": 1}", "diagnostics.fd_step"},
      {"{\"every_epoch\": true}", "diagnostics.every_epoch: needs"},
      {"{\"curvatur\": true}", "diagnostics"},
      {"[]", "diagnostics: expected an object"},
      {"{\"curvature\": true, \"hvp\": \"exactly\"}", "diagnostics.hvp: must be"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char txt[400];
    snprintf(txt, sizeof txt, "{\"layers\": [{\"type\": \"dense\", \"units\": 3}], "
                              "\"diagnostics\": %s}", cases[i].json);
    cJSON *root = NULL;
    hp_err_t err = {0};
    assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
    hp_train_config_t cfg;
    assert_true(hp_train_config_parse(root, &cfg, &err) < 0);
    if (strstr(err.msg, cases[i].msg) == NULL) fprintf(stderr, "got: %s\n", err.msg);
    assert_non_null(strstr(err.msg, cases[i].msg));
    cJSON_Delete(root);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tridiag_known),
      cmocka_unit_test(test_lanczos_known_spectrum),
      cmocka_unit_test(test_hvp_dense_hessian),
      cmocka_unit_test(test_hvp_conv_second_difference),
      cmocka_unit_test(test_hvp_exact_relu_mse),
      cmocka_unit_test(test_diagnose_quadratic),
      cmocka_unit_test(test_deterministic_and_harmless),
      cmocka_unit_test(test_diverged_diagnosis),
      cmocka_unit_test(test_config_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

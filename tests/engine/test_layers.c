/* Finite-difference gradient checks for every layer kernel and loss
 * (include/hpsearch/layers.h), plus forward checks against direct formulas:
 * conv against a naive direct convolution, batch norm at inference, dropout
 * statistics, pooling winners. Each check perturbs inputs and parameters of
 * a tiny layer and compares central differences of a scalar function of the
 * output with the analytic backward pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/layers.h"
#include "hpsearch/rng.h"

/* The scalar checked is L = sum_i r_i * y_i with fixed random r, so that the
 * output gradient is dy = r. */
typedef double (*loss_fn)(void *ctx);

static float *vec(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  assert_non_null(p);
  return p;
}

static void fill(hp_rng_t *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)hp_rng_uniform(r);
}

/* Values bounded away from 0, so ReLU-type kinks are not crossed by eps. */
static void fill_nonzero(hp_rng_t *r, float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = 0.05f + (float)hp_rng_uniform(r);
    x[i] = hp_rng_uniform(r) < 0.5 ? -v : v;
  }
}

static double dot(const float *a, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
  return s;
}

/* Compares grad[i] with the central difference of fn at v[i] for every i
 * (or a spread subset of at most 64 entries). */
static void check_grad(const char *what, void *ctx, loss_fn fn, float *v, const float *grad,
                       size_t n, float eps) {
  size_t step = n > 64 ? n / 64 : 1;
  int checked = 0;
  for (size_t i = 0; i < n; i += step) {
    float keep = v[i];
    v[i] = keep + eps;
    double lp = fn(ctx);
    v[i] = keep - eps;
    double lm = fn(ctx);
    v[i] = keep;
    double num = (lp - lm) / (2.0 * (double)eps);
    double ana = grad[i];
    double tol = 3e-3 + 2e-2 * fmax(fabs(num), fabs(ana));
    if (!(fabs(num - ana) <= tol)) {
      fprintf(stderr, "%s[%zu]: analytic %.6g, numeric %.6g\n", what, i, ana, num);
      fail();
    }
    checked++;
  }
  assert_true(checked > 0);
}

/* ---- dense ------------------------------------------------------------ */

typedef struct {
  int B, in, out;
  hp_act_t act;
  float *x, *W, *b, *y, *r, *dy, *dx, *dW, *db;
} dense_ctx;

static double dense_loss(void *p) {
  dense_ctx *c = p;
  hp_dense_forward(c->x, c->W, c->b, c->y, c->B, c->in, c->out, c->act);
  return dot(c->y, c->r, (size_t)c->B * c->out);
}

static void check_dense(hp_act_kind_t kind) {
  hp_rng_t rng;
  dense_ctx c = {.B = 3, .in = 5, .out = 4, .act = {kind, 0.1f}};
  size_t nx = (size_t)c.B * c.in, nw = (size_t)c.out * c.in, ny = (size_t)c.B * c.out;
  c.x = vec(nx), c.W = vec(nw), c.b = vec(c.out), c.y = vec(ny), c.r = vec(ny);
  c.dy = vec(ny), c.dx = vec(nx), c.dW = vec(nw), c.db = vec(c.out);
  /* Pre-activations must keep away from the kinks for the check to be fair:
   * draw data until none lies within 0.02 of zero. */
  for (uint64_t seed = 100;; seed++) {
    hp_rng_seed(&rng, seed);
    fill(&rng, c.x, nx, -1, 1), fill(&rng, c.W, nw, -1, 1);
    fill(&rng, c.b, c.out, -0.5f, 0.5f), fill(&rng, c.r, ny, -1, 1);
    hp_dense_forward(c.x, c.W, c.b, c.y, c.B, c.in, c.out, (hp_act_t){HP_ACT_NONE, 0});
    bool near_kink = false;
    for (size_t i = 0; i < ny; i++) near_kink |= fabsf(c.y[i]) < 0.02f;
    if (!near_kink) break;
  }
  dense_loss(&c);
  /* Gradients accumulate: start from 1 and subtract it afterwards; or
   * overwrite: start from garbage (NaN). */
  for (int accumulate = 0; accumulate < 2; accumulate++) {
    memcpy(c.dy, c.r, ny * sizeof *c.dy);
    for (size_t i = 0; i < nw; i++) c.dW[i] = accumulate ? 1.0f : NAN;
    for (int j = 0; j < c.out; j++) c.db[j] = accumulate ? 1.0f : NAN;
    hp_dense_backward(c.x, c.W, c.y, c.dy, c.dx, c.dW, c.db, c.B, c.in, c.out, c.act,
                      accumulate);
    for (size_t i = 0; accumulate && i < nw; i++) c.dW[i] -= 1.0f;
    for (int j = 0; accumulate && j < c.out; j++) c.db[j] -= 1.0f;
    check_grad("dense dx", &c, dense_loss, c.x, c.dx, nx, 1e-3f);
    check_grad("dense dW", &c, dense_loss, c.W, c.dW, nw, 1e-3f);
    check_grad("dense db", &c, dense_loss, c.b, c.db, c.out, 1e-3f);
  }
  free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(c.dy), free(c.dx), free(c.dW);
  free(c.db);
}

static void test_dense_grad(void **state) {
  (void)state;
  check_dense(HP_ACT_NONE);
  check_dense(HP_ACT_RELU);
  check_dense(HP_ACT_LEAKY);
  check_dense(HP_ACT_TANH);
  check_dense(HP_ACT_SIGMOID);
}

/* ---- standalone activations ------------------------------------------ */

typedef struct {
  hp_act_t act;
  size_t n;
  float *x, *y, *r;
} act_ctx;

static double act_loss(void *p) {
  act_ctx *c = p;
  hp_act_forward(c->act, c->x, c->y, c->n);
  return dot(c->y, c->r, c->n);
}

static void test_activation_grad(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 5);
  for (int k = HP_ACT_NONE; k <= HP_ACT_SIGMOID; k++) {
    act_ctx c = {.act = {(hp_act_kind_t)k, 0.2f}, .n = 40};
    c.x = vec(c.n), c.y = vec(c.n), c.r = vec(c.n);
    float *dx = vec(c.n);
    fill_nonzero(&rng, c.x, c.n);
    c.x[0] = 30.0f, c.x[1] = -30.0f; /* saturation must not give NaN */
    fill(&rng, c.r, c.n, -1, 1);
    act_loss(&c);
    for (size_t i = 0; i < c.n; i++) assert_true(isfinite(c.y[i]));
    hp_act_backward(c.act, c.y, c.r, dx, c.n);
    check_grad(hp_act_name(c.act.kind), &c, act_loss, c.x, dx, c.n, 1e-3f);
    /* In place (dx == dy) gives the same (check_grad left y perturbed). */
    act_loss(&c);
    float *g = vec(c.n);
    memcpy(g, c.r, c.n * sizeof *g);
    hp_act_backward(c.act, c.y, g, g, c.n);
    assert_memory_equal(g, dx, c.n * sizeof *g);
    free(c.x), free(c.y), free(c.r), free(dx), free(g);
  }
  /* Spot values. */
  float x[3] = {-2, 0.5f, 0}, y[3];
  hp_act_forward((hp_act_t){HP_ACT_LEAKY, 0.01f}, x, y, 3);
  assert_true(y[0] == -0.02f && y[1] == 0.5f && y[2] == 0);
  hp_act_forward((hp_act_t){HP_ACT_SIGMOID, 0}, x, y, 3);
  assert_true(fabsf(y[2] - 0.5f) < 1e-7f);
}

/* ---- conv2d ------------------------------------------------------------ */

typedef struct {
  hp_conv_shape_t s;
  int B;
  hp_act_t act;
  float *x, *W, *b, *cols, *tmp, *y, *r;
  int32_t *am; /* fused pool winners (NULL without pool) */
} conv_ctx;

static double conv_loss(void *p) {
  conv_ctx *c = p;
  hp_conv_forward(&c->s, c->x, c->W, c->b, c->cols, c->tmp, c->y, c->am, c->B, c->act);
  return dot(c->y, c->r, (size_t)c->B * c->s.o * c->s.pho * c->s.pwo);
}

/* Direct convolution by its definition, for the forward check. */
static float direct_conv(const conv_ctx *c, int b, int o, int oy, int ox) {
  const hp_conv_shape_t *s = &c->s;
  double acc = c->b[o];
  for (int ci = 0; ci < s->c; ci++)
    for (int i = 0; i < s->kh; i++)
      for (int j = 0; j < s->kw; j++) {
        int iy = oy * s->stride - s->pad + i, ix = ox * s->stride - s->pad + j;
        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
        acc += (double)c->W[((o * s->c + ci) * s->kh + i) * s->kw + j] *
               c->x[((b * s->c + ci) * s->h + iy) * s->w + ix];
      }
  return (float)acc;
}

static void check_conv(int stride, int pad, hp_act_kind_t kind) {
  hp_rng_t rng;
  hp_rng_seed(&rng, 200 + stride * 10 + pad);
  conv_ctx c = {.s = {.c = 2, .h = 5, .w = 6, .o = 3, .kh = 3, .kw = 3, .stride = stride,
                      .pad = pad},
                .B = 2, .act = {kind, 0.1f}};
  assert_int_equal(hp_conv_shape_init(&c.s), 0);
  size_t nx = (size_t)c.B * c.s.c * c.s.h * c.s.w, nw = (size_t)c.s.o * c.s.c * 9,
         ny = (size_t)c.B * c.s.o * c.s.ho * c.s.wo;
  c.x = vec(nx), c.W = vec(nw), c.b = vec(c.s.o), c.y = vec(ny), c.r = vec(ny);
  c.cols = vec(hp_conv_cols_size(&c.s, c.B)), c.tmp = vec(hp_conv_tmp_size(&c.s, c.B));
  float *dy = vec(ny), *dx = vec(nx), *dW = vec(nw), *db = vec(c.s.o);
  fill(&rng, c.x, nx, -1, 1), fill(&rng, c.W, nw, -0.5f, 0.5f);
  fill(&rng, c.b, c.s.o, -0.2f, 0.2f), fill(&rng, c.r, ny, -1, 1);
  conv_loss(&c);
  if (kind == HP_ACT_NONE)
    for (int b = 0; b < c.B; b++)
      for (int o = 0; o < c.s.o; o++)
        for (int oy = 0; oy < c.s.ho; oy++)
          for (int ox = 0; ox < c.s.wo; ox++) {
            float want = direct_conv(&c, b, o, oy, ox);
            float got = c.y[((b * c.s.o + o) * c.s.ho + oy) * c.s.wo + ox];
            assert_true(fabsf(want - got) < 1e-5f);
          }
  memcpy(dy, c.r, ny * sizeof *dy);
  hp_conv_backward(&c.s, c.x, c.cols, c.tmp, c.W, c.y, c.am, dy, dx, dW, db, c.B, c.act);
  check_grad("conv dx", &c, conv_loss, c.x, dx, nx, 1e-3f);
  check_grad("conv dW", &c, conv_loss, c.W, dW, nw, 1e-3f);
  check_grad("conv db", &c, conv_loss, c.b, db, c.s.o, 1e-3f);
  free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(c.cols), free(c.tmp);
  free(dy), free(dx), free(dW), free(db);
}

/* Big enough per sample that the batch is processed in several chunks
 * (the last one partial): forward against the direct definition, and the
 * gradients by finite differences. */
static void test_conv_chunked(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 55);
  conv_ctx c = {.s = {.c = 16, .h = 12, .w = 12, .o = 2, .kh = 3, .kw = 3, .stride = 1,
                      .pad = 1},
                .B = 20, .act = {HP_ACT_TANH, 0}};
  assert_int_equal(hp_conv_shape_init(&c.s), 0);
  int chunk = hp_conv_chunk(&c.s, c.B);
  assert_true(chunk > 1 && chunk < c.B && c.B % chunk != 0);
  size_t nx = (size_t)c.B * 16 * 144, nw = (size_t)2 * 16 * 9, ny = (size_t)c.B * 2 * 144;
  c.x = vec(nx), c.W = vec(nw), c.b = vec(2), c.y = vec(ny), c.r = vec(ny);
  c.cols = vec(hp_conv_cols_size(&c.s, c.B)), c.tmp = vec(hp_conv_tmp_size(&c.s, c.B));
  float *dy = vec(ny), *dx = vec(nx), *dW = vec(nw), *db = vec(2);
  fill(&rng, c.x, nx, -1, 1), fill(&rng, c.W, nw, -0.2f, 0.2f), fill(&rng, c.r, ny, -1, 1);
  c.act.kind = HP_ACT_NONE;
  conv_loss(&c);
  for (int b = 0; b < c.B; b += 4)
    for (int o = 0; o < 2; o++)
      for (int oy = 0; oy < 12; oy += 5)
        for (int ox = 0; ox < 12; ox++)
          assert_true(fabsf(direct_conv(&c, b, o, oy, ox) -
                            c.y[((b * 2 + o) * 12 + oy) * 12 + ox]) < 1e-5f);
  c.act.kind = HP_ACT_TANH;
  conv_loss(&c);
  memcpy(dy, c.r, ny * sizeof *dy);
  hp_conv_backward(&c.s, c.x, c.cols, c.tmp, c.W, c.y, c.am, dy, dx, dW, db, c.B, c.act);
  check_grad("chunked conv dx", &c, conv_loss, c.x, dx, nx, 1e-3f);
  check_grad("chunked conv dW", &c, conv_loss, c.W, dW, nw, 1e-3f);
  check_grad("chunked conv db", &c, conv_loss, c.b, db, 2, 1e-3f);
  free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(c.cols), free(c.tmp);
  free(dy), free(dx), free(dW), free(db);
}

/* conv + fused max-pool equals conv followed by the max-pool kernel, in the
 * output and in every gradient (dx skipped when with_dx is false, as for a
 * first layer); and it passes its own gradient check when fd is set. With
 * kw*c >= 16 the backward runs through the winners only (winners_backward),
 * otherwise through im2col: the reference is always the unfused im2col
 * conv. dead_sample: sample 0 is all zeros and the biases negative, so with
 * ReLU it has no gradient at all. */
static void check_conv_pool_shape(hp_conv_shape_t shape, int B, hp_act_kind_t kind,
                                  bool with_dx, bool dead_sample, bool fd) {
  hp_rng_t rng;
  hp_rng_seed(&rng, 600 + kind * 10 + shape.pool + shape.w);
  conv_ctx c = {.s = shape, .B = B, .act = {kind, 0.1f}};
  assert_int_equal(hp_conv_shape_init(&c.s), 0);
  hp_conv_shape_t plain = c.s;
  plain.pool = 0;
  assert_int_equal(hp_conv_shape_init(&plain), 0);
  const int o = c.s.o, ho = c.s.ho, wo = c.s.wo, pho = c.s.pho, pwo = c.s.pwo;
  assert_int_equal(pho, (ho - c.s.pool) / c.s.pstride + 1);
  size_t nx = (size_t)B * c.s.c * c.s.h * c.s.w, nw = (size_t)o * c.s.c * c.s.kh * c.s.kw,
         nfull = (size_t)B * o * ho * wo, ny = (size_t)B * o * pho * pwo;
  c.x = vec(nx), c.W = vec(nw), c.b = vec(o), c.y = vec(ny), c.r = vec(ny);
  c.am = calloc(ny, sizeof *c.am);
  /* The work buffers serve the fused conv and the unfused reference. */
  const size_t ncols = hp_conv_cols_size(&c.s, B), nplain = hp_conv_cols_size(&plain, B),
               ntmp = hp_conv_tmp_size(&c.s, B), ntplain = hp_conv_tmp_size(&plain, B);
  c.cols = vec(ncols > nplain ? ncols : nplain), c.tmp = vec(ntmp > ntplain ? ntmp : ntplain);
  fill(&rng, c.x, nx, -1, 1), fill(&rng, c.W, nw, -0.5f, 0.5f), fill(&rng, c.b, o, -0.2f, 0.2f);
  fill(&rng, c.r, ny, -1, 1);
  if (dead_sample) {
    memset(c.x, 0, nx / B * sizeof *c.x);
    for (int i = 0; i < o; i++) c.b[i] = -0.05f - 0.01f * i;
  }
  /* Reference: unfused conv, then the max-pool kernel. */
  float *full = vec(nfull), *ref = vec(ny), *dfull = vec(nfull), *rdx = vec(nx), *rdW = vec(nw),
        *rdb = vec(o), *dy = vec(ny), *dx = vec(nx), *dW = vec(nw), *db = vec(o);
  int32_t *ram = calloc(ny, sizeof *ram);
  hp_conv_forward(&plain, c.x, c.W, c.b, c.cols, c.tmp, full, NULL, B, c.act);
  hp_maxpool_forward(full, ref, ram, B, o, ho, wo, c.s.pool, c.s.pstride);
  conv_loss(&c);
  for (size_t i = 0; i < ny; i++) assert_true(fabsf(ref[i] - c.y[i]) < 1e-5f);
  hp_maxpool_backward(c.r, ram, dfull, B, o, ho, wo, pho, pwo);
  hp_conv_backward(&plain, c.x, c.cols, c.tmp, c.W, full, NULL, dfull, rdx, rdW, rdb, B, c.act);
  memcpy(dy, c.r, ny * sizeof *dy);
  for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* must be overwritten */
  for (size_t i = 0; i < nw; i++) dW[i] = 0.25f; /* must be accumulated into */
  db[0] = 0.5f;
  hp_conv_backward(&c.s, c.x, c.cols, c.tmp, c.W, c.y, c.am, dy, with_dx ? dx : NULL, dW, db, B,
                   c.act);
  if (with_dx)
    for (size_t i = 0; i < nx; i++) assert_true(fabsf(rdx[i] - dx[i]) <= 1e-5f + 1e-5f * fabsf(rdx[i]));
  for (size_t i = 0; i < nw; i++)
    assert_true(fabsf(rdW[i] + 0.25f - dW[i]) <= 1e-4f + 1e-5f * fabsf(rdW[i]));
  for (int i = 0; i < o; i++)
    assert_true(fabsf(rdb[i] + (i == 0 ? 0.5f : 0.0f) - db[i]) <= 1e-4f + 1e-5f * fabsf(rdb[i]));
  if (dead_sample && with_dx && kind == HP_ACT_RELU) /* sigmoid(b) still has a slope */
    for (size_t i = 0; i < nx / B; i++) assert_true(dx[i] == 0.0f);
  /* Central differences across a pool's near-ties are unreliable; the
   * comparison above is the real check. Clean cases still run them. */
  if (fd) {
    memset(dW, 0, nw * sizeof *dW);
    memset(db, 0, o * sizeof *db);
    conv_loss(&c);
    memcpy(dy, c.r, ny * sizeof *dy);
    hp_conv_backward(&c.s, c.x, c.cols, c.tmp, c.W, c.y, c.am, dy, dx, dW, db, B, c.act);
    check_grad("conv+pool dW", &c, conv_loss, c.W, dW, nw, 1e-3f);
    check_grad("conv+pool dx", &c, conv_loss, c.x, dx, nx, 1e-3f);
  }
  free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(c.am), free(c.cols), free(c.tmp);
  free(full), free(ref), free(dfull), free(rdx), free(rdW), free(rdb), free(dy), free(dx);
  free(dW), free(db), free(ram);
}

static void check_conv_pool(hp_act_kind_t kind, int pool, int pstride, int w) {
  hp_conv_shape_t s = {.c = 2, .h = 6, .w = w, .o = 3, .kh = 3, .kw = 3, .stride = 1, .pad = 1,
                       .pool = pool, .pstride = pstride};
  check_conv_pool_shape(s, 3, kind, true, false, kind == HP_ACT_TANH);
}

static void test_conv_pool_fused(void **state) {
  (void)state;
  check_conv_pool(HP_ACT_RELU, 2, 2, 7);
  check_conv_pool(HP_ACT_TANH, 2, 2, 7);
  check_conv_pool(HP_ACT_NONE, 3, 2, 7); /* overlapping windows */
  check_conv_pool(HP_ACT_SIGMOID, 2, 1, 7);
  /* 2x2 windows tiling the 6x6 output exactly (no dropped row/column). */
  check_conv_pool(HP_ACT_RELU, 2, 2, 6);
  check_conv_pool(HP_ACT_TANH, 2, 2, 6);
  check_conv_pool(HP_ACT_NONE, 2, 2, 6);
}

/* A conv shape with a fused pool, for the tables of cases below. */
#define POOLED(C, H, W, O, KH, KW, ST, PAD, P, PS)                                              \
  (hp_conv_shape_t) {                                                                         \
    .c = C, .h = H, .w = W, .o = O, .kh = KH, .kw = KW, .stride = ST, .pad = PAD, .pool = P,  \
    .pstride = PS                                                                             \
  }

/* The winners-only backward (kw*c >= 16) against the im2col reference on
 * odd shapes: patch rows of 96 (64 + 16 + 16 floats), 18 (16 + scalar
 * tail), 66 and 20 floats; stride 2, padding 0 and 2, non-square inputs and
 * kernels, overlapping pool windows, no dx (first layer), a sample with no
 * gradient at all. */
static void test_conv_pool_winners(void **state) {
  (void)state;
  check_conv_pool_shape(POOLED(32, 6, 6, 5, 3, 3, 1, 1, 2, 2), 3, HP_ACT_RELU, true, false, false);
  check_conv_pool_shape(POOLED(32, 6, 6, 5, 3, 3, 1, 1, 2, 2), 3, HP_ACT_RELU, false, true, false);
  check_conv_pool_shape(POOLED(6, 7, 5, 4, 3, 3, 1, 1, 2, 2), 2, HP_ACT_RELU, true, true, false);
  check_conv_pool_shape(POOLED(6, 9, 8, 3, 3, 3, 2, 1, 2, 2), 2, HP_ACT_TANH, true, false, true);
  check_conv_pool_shape(POOLED(22, 8, 9, 4, 2, 3, 1, 0, 3, 2), 2, HP_ACT_NONE, true, false, false);
  check_conv_pool_shape(POOLED(10, 5, 7, 3, 3, 2, 1, 2, 2, 1), 2, HP_ACT_SIGMOID, true, false, false);
  check_conv_pool_shape(POOLED(8, 10, 6, 6, 2, 2, 2, 0, 2, 2), 4, HP_ACT_LEAKY, true, false, false);
}

/* The phase path (c*kh*kw <= 32 with a 2x2 stride-2 pool: direct conv over
 * phase planes, vector pool, masked dense backward) against the im2col
 * reference: train-cnn's first layer (1 channel, 28x28, pad 1, no dx), odd
 * conv outputs (last row/column in no window), stride 2, padding 0 and 2,
 * non-square kernels, 3 channels, a window count that is a multiple of 16
 * and one that is not, a sample with no gradient, every activation. */
static void test_conv_pool_phase(void **state) {
  (void)state;
#define SHAPE(C, H, W, O, KH, KW, ST, PAD)                                                     \
  (hp_conv_shape_t) {                                                                         \
    .c = C, .h = H, .w = W, .o = O, .kh = KH, .kw = KW, .stride = ST, .pad = PAD, .pool = 2,  \
    .pstride = 2                                                                              \
  }
  check_conv_pool_shape(SHAPE(1, 28, 28, 5, 3, 3, 1, 1), 2, HP_ACT_RELU, false, false, false);
  check_conv_pool_shape(SHAPE(1, 28, 28, 5, 3, 3, 1, 1), 2, HP_ACT_RELU, true, true, false);
  check_conv_pool_shape(SHAPE(1, 9, 11, 4, 3, 3, 1, 0), 2, HP_ACT_TANH, true, false, true);
  check_conv_pool_shape(SHAPE(3, 10, 9, 3, 3, 2, 2, 1), 2, HP_ACT_SIGMOID, true, false, false);
  check_conv_pool_shape(SHAPE(2, 8, 8, 3, 2, 3, 1, 2), 2, HP_ACT_LEAKY, true, false, false);
  check_conv_pool_shape(SHAPE(3, 16, 16, 2, 3, 3, 1, 1), 2, HP_ACT_NONE, true, false, false);
#undef SHAPE
}

/* The Winograd F(2x2,3x3) forward (3x3 stride-1 conv, patch > 32, 2x2
 * stride-2 pool) against the im2col reference, outputs and gradients:
 * padding 1, 0 and 2, odd conv outputs (a row and a column in no window),
 * non-square inputs, several chunks with a partial last one, a dead
 * sample, every activation. */
static void test_conv_pool_winograd(void **state) {
  (void)state;
#define SHAPE(C, H, W, O, PAD)                                                                  \
  (hp_conv_shape_t) {                                                                         \
    .c = C, .h = H, .w = W, .o = O, .kh = 3, .kw = 3, .stride = 1, .pad = PAD, .pool = 2,     \
    .pstride = 2                                                                              \
  }
  check_conv_pool_shape(SHAPE(32, 14, 14, 8, 1), 3, HP_ACT_RELU, true, false, false);
  check_conv_pool_shape(SHAPE(4, 9, 7, 3, 0), 2, HP_ACT_TANH, true, false, true);
  check_conv_pool_shape(SHAPE(5, 7, 10, 4, 2), 2, HP_ACT_SIGMOID, true, true, false);
  check_conv_pool_shape(SHAPE(6, 11, 11, 5, 1), 3, HP_ACT_LEAKY, false, false, false);
  check_conv_pool_shape(SHAPE(4, 6, 6, 2, 1), 3, HP_ACT_RELU, true, true, false);
  /* Several chunks, the last one partial. */
  hp_conv_shape_t big = SHAPE(16, 28, 28, 16, 1);
  check_conv_pool_shape(big, 7, HP_ACT_NONE, true, false, false);
#undef SHAPE
}

/* Every conv + pool path with work buffers of exactly the sizes
 * hp_conv_cols_size / hp_conv_tmp_size give for the fused shape alone (the
 * checks above share buffers sized for the unfused reference too, which
 * would hide a short scratch; ASan sees an overrun here), against the
 * im2col reference run in its own buffers; a second run with the same
 * inputs must be bit-identical (no state left in the scratch, no
 * uninitialised read reaching a result); and a NaN input pixel must stay
 * visible: every pooled output that is NaN in the reference is NaN in the
 * fused path too (Winograd may spread it further, never drop it). */
static void check_conv_pool_exact(hp_conv_shape_t s, int B, hp_act_kind_t kind) {
  hp_rng_t rng;
  hp_rng_seed(&rng, 900 + s.c + s.w + B);
  const hp_act_t act = {kind, 0.1f};
  assert_int_equal(hp_conv_shape_init(&s), 0);
  hp_conv_shape_t plain = s;
  plain.pool = 0;
  assert_int_equal(hp_conv_shape_init(&plain), 0);
  const size_t nx = (size_t)B * s.c * s.h * s.w, nw = (size_t)s.o * s.c * s.kh * s.kw,
               nfull = (size_t)B * s.o * s.ho * s.wo, ny = (size_t)B * s.o * s.pho * s.pwo;
  const size_t ncols = hp_conv_cols_size(&s, B), ntmp = hp_conv_tmp_size(&s, B);
  float *x = vec(nx), *W = vec(nw), *b = vec(s.o), *r = vec(ny);
  fill(&rng, x, nx, -1, 1), fill(&rng, W, nw, -0.5f, 0.5f), fill(&rng, b, s.o, -0.2f, 0.2f);
  fill(&rng, r, ny, -1, 1);
  /* reference: unfused conv + max-pool kernel, own buffers */
  float *pc = vec(hp_conv_cols_size(&plain, B)), *pt = vec(hp_conv_tmp_size(&plain, B));
  float *full = vec(nfull), *ref = vec(ny), *dfull = vec(nfull), *rdx = vec(nx), *rdW = vec(nw),
        *rdb = vec(s.o);
  int32_t *ram = calloc(ny, sizeof *ram);
  hp_conv_forward(&plain, x, W, b, pc, pt, full, NULL, B, act);
  hp_maxpool_forward(full, ref, ram, B, s.o, s.ho, s.wo, s.pool, s.pstride);
  hp_maxpool_backward(r, ram, dfull, B, s.o, s.ho, s.wo, s.pho, s.pwo);
  hp_conv_backward(&plain, x, pc, pt, W, full, NULL, dfull, rdx, rdW, rdb, B, act);
  float *y[2], *dx[2], *dW[2], *db[2];
  for (int run = 0; run < 2; run++) {
    float *cols = ncols ? malloc(ncols * sizeof *cols) : NULL;
    float *tmp = ntmp ? malloc(ntmp * sizeof *tmp) : NULL;
    int32_t *am = malloc(ny * sizeof *am);
    float *dy = vec(ny);
    assert_true((ncols == 0 || cols) && (ntmp == 0 || tmp) && am);
    /* garbage scratch: no path may depend on its contents */
    for (size_t i = 0; i < ncols; i++) cols[i] = run ? NAN : 1e30f;
    for (size_t i = 0; i < ntmp; i++) tmp[i] = run ? NAN : -1e30f;
    y[run] = vec(ny), dx[run] = vec(nx), dW[run] = vec(nw), db[run] = vec(s.o);
    hp_conv_forward(&s, x, W, b, cols, tmp, y[run], am, B, act);
    memcpy(dy, r, ny * sizeof *dy);
    hp_conv_backward(&s, x, cols, tmp, W, y[run], am, dy, dx[run], dW[run], db[run], B, act);
    free(cols), free(tmp), free(am), free(dy);
  }
  for (size_t i = 0; i < ny; i++) assert_true(fabsf(ref[i] - y[0][i]) < 1e-5f);
  for (size_t i = 0; i < nx; i++)
    assert_true(fabsf(rdx[i] - dx[0][i]) <= 1e-5f + 1e-5f * fabsf(rdx[i]));
  for (size_t i = 0; i < nw; i++)
    assert_true(fabsf(rdW[i] - dW[0][i]) <= 1e-4f + 1e-5f * fabsf(rdW[i]));
  for (int i = 0; i < s.o; i++) assert_true(fabsf(rdb[i] - db[0][i]) <= 1e-4f + 1e-5f * fabsf(rdb[i]));
  assert_memory_equal(y[0], y[1], ny * sizeof **y);
  assert_memory_equal(dx[0], dx[1], nx * sizeof **dx);
  assert_memory_equal(dW[0], dW[1], nw * sizeof **dW);
  assert_memory_equal(db[0], db[1], s.o * sizeof **db);
  /* NaN in one input pixel of the last sample, away from the border */
  x[nx - (size_t)s.h * s.w / 2 - s.w / 2] = NAN;
  float *cols = vec(ncols), *tmp = vec(ntmp);
  int32_t *am = calloc(ny, sizeof *am);
  hp_conv_forward(&plain, x, W, b, pc, pt, full, NULL, B, act);
  hp_maxpool_forward(full, ref, ram, B, s.o, s.ho, s.wo, s.pool, s.pstride);
  hp_conv_forward(&s, x, W, b, cols, tmp, y[0], am, B, act);
  /* (The reference itself drops a NaN that is no window's first value:
   * '>' never picks NaN, the old scalar rule, so some shapes see none.) */
  for (size_t i = 0; i < ny; i++)
    if (isnan(ref[i])) assert_true(isnan(y[0][i]));
  free(cols), free(tmp), free(am);
  for (int run = 0; run < 2; run++) free(y[run]), free(dx[run]), free(dW[run]), free(db[run]);
  free(x), free(W), free(b), free(r), free(pc), free(pt), free(full), free(ref), free(dfull);
  free(rdx), free(rdW), free(rdb), free(ram);
}

static void test_conv_pool_exact_buffers(void **state) {
  (void)state;
  /* phase forward + backward */
  check_conv_pool_exact(POOLED(1, 28, 28, 5, 3, 3, 1, 1, 2, 2), 3, HP_ACT_RELU);
  check_conv_pool_exact(POOLED(3, 9, 11, 3, 3, 3, 2, 2, 2, 2), 2, HP_ACT_TANH);
  check_conv_pool_exact(POOLED(2, 7, 5, 4, 1, 4, 1, 0, 2, 2), 2, HP_ACT_LEAKY);
  /* Winograd forward + winners backward, several chunks */
  check_conv_pool_exact(POOLED(32, 14, 14, 8, 3, 3, 1, 1, 2, 2), 3, HP_ACT_RELU);
  check_conv_pool_exact(POOLED(16, 28, 28, 16, 3, 3, 1, 1, 2, 2), 7, HP_ACT_NONE);
  check_conv_pool_exact(POOLED(6, 11, 8, 5, 3, 3, 1, 2, 2, 2), 2, HP_ACT_SIGMOID);
  /* Winograd forward + im2col backward (kw*c < 16) */
  check_conv_pool_exact(POOLED(4, 9, 7, 3, 3, 3, 1, 0, 2, 2), 2, HP_ACT_RELU);
  check_conv_pool_exact(POOLED(5, 7, 10, 4, 3, 3, 1, 2, 2, 2), 3, HP_ACT_TANH);
  /* im2col forward + winners backward */
  check_conv_pool_exact(POOLED(8, 9, 8, 4, 3, 3, 2, 1, 2, 2), 2, HP_ACT_RELU);
  check_conv_pool_exact(POOLED(22, 8, 9, 4, 2, 3, 1, 0, 3, 2), 2, HP_ACT_NONE);
  check_conv_pool_exact(POOLED(16, 7, 7, 3, 3, 3, 1, 1, 2, 1), 2, HP_ACT_LEAKY);
  /* im2col both ways: overlapping pool over a small patch */
  check_conv_pool_exact(POOLED(1, 9, 9, 3, 3, 3, 1, 1, 3, 2), 2, HP_ACT_RELU);
}

static void test_conv_grad(void **state) {
  (void)state;
  check_conv(1, 1, HP_ACT_NONE);
  check_conv(1, 0, HP_ACT_NONE);
  check_conv(2, 1, HP_ACT_NONE);
  check_conv(2, 2, HP_ACT_NONE);
  check_conv(1, 1, HP_ACT_TANH);
  check_conv(1, 1, HP_ACT_SIGMOID);
  hp_conv_shape_t bad = {.c = 1, .h = 2, .w = 2, .o = 1, .kh = 3, .kw = 3, .stride = 1};
  assert_int_equal(hp_conv_shape_init(&bad), -1);
  hp_conv_shape_t s = {.c = 1, .h = 28, .w = 28, .o = 32, .kh = 3, .kw = 3, .stride = 1,
                       .pad = 1};
  assert_int_equal(hp_conv_shape_init(&s), 0);
  assert_int_equal(s.ho, 28);
  assert_int_equal(s.wo, 28);
}

/* Fused ReLU in the conv: inputs arranged so no pre-activation is near 0. */
static void test_conv_relu_grad(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 33);
  conv_ctx c = {.s = {.c = 1, .h = 4, .w = 4, .o = 2, .kh = 2, .kw = 2, .stride = 1, .pad = 0},
                .B = 2, .act = {HP_ACT_RELU, 0}};
  assert_int_equal(hp_conv_shape_init(&c.s), 0);
  size_t nx = 32, nw = 8, ny = (size_t)2 * 2 * 3 * 3;
  c.x = vec(nx), c.W = vec(nw), c.b = vec(2), c.y = vec(ny), c.r = vec(ny);
  c.cols = vec(hp_conv_cols_size(&c.s, 2)), c.tmp = vec(hp_conv_tmp_size(&c.s, 2));
  float *dy = vec(ny), *dx = vec(nx), *dW = vec(nw), *db = vec(2);
  fill(&rng, c.x, nx, 0.1f, 1), fill(&rng, c.r, ny, -1, 1);
  /* Filter 0 all positive (active), filter 1 all negative (dead). */
  for (int i = 0; i < 4; i++) c.W[i] = 0.5f + 0.1f * i, c.W[4 + i] = -0.5f - 0.1f * i;
  conv_loss(&c);
  memcpy(dy, c.r, ny * sizeof *dy);
  hp_conv_backward(&c.s, c.x, c.cols, c.tmp, c.W, c.y, c.am, dy, dx, dW, db, 2, c.act);
  check_grad("conv relu dx", &c, conv_loss, c.x, dx, nx, 1e-3f);
  check_grad("conv relu dW", &c, conv_loss, c.W, dW, nw, 1e-3f);
  assert_true(db[1] == 0.0f && dW[5] == 0.0f); /* dead filter gets no gradient */
  free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(c.cols), free(c.tmp);
  free(dy), free(dx), free(dW), free(db);
}

/* ---- max-pool ---------------------------------------------------------- */

typedef struct {
  int B, c, h, w, k, st, ho, wo;
  float *x, *y, *r;
  int32_t *am;
} pool_ctx;

static double pool_loss(void *p) {
  pool_ctx *c = p;
  hp_maxpool_forward(c->x, c->y, c->am, c->B, c->c, c->h, c->w, c->k, c->st);
  return dot(c->y, c->r, (size_t)c->B * c->c * c->ho * c->wo);
}

static void check_pool(int h, int w, int k, int st) {
  hp_rng_t rng;
  hp_rng_seed(&rng, 300 + k);
  pool_ctx c = {.B = 2, .c = 2, .h = h, .w = w, .k = k, .st = st};
  c.ho = (h - k) / st + 1, c.wo = (w - k) / st + 1;
  size_t nx = (size_t)c.B * c.c * h * w, ny = (size_t)c.B * c.c * c.ho * c.wo;
  c.x = vec(nx), c.y = vec(ny), c.r = vec(ny), c.am = calloc(ny, sizeof *c.am);
  float *dx = vec(nx);
  /* Distinct values 0.01 apart: no window has a near tie. */
  uint32_t *perm = malloc(nx * sizeof *perm);
  for (uint32_t i = 0; i < nx; i++) perm[i] = i;
  hp_rng_shuffle_u32(&rng, perm, (uint32_t)nx);
  for (size_t i = 0; i < nx; i++) c.x[i] = 0.01f * (float)perm[i] - 1.0f;
  fill(&rng, c.r, ny, -1, 1);
  pool_loss(&c);
  /* The winner is the window maximum. */
  for (size_t i = 0; i < ny; i++) {
    size_t plane = i / ((size_t)c.ho * c.wo);
    assert_true(c.y[i] == c.x[plane * h * w + c.am[i]]);
  }
  hp_maxpool_backward(c.r, c.am, dx, c.B, c.c, h, w, c.ho, c.wo);
  check_grad("maxpool dx", &c, pool_loss, c.x, dx, nx, 1e-3f);
  free(c.x), free(c.y), free(c.r), free(c.am), free(dx), free(perm);
}

/* The 2x2 stride-2 kernel equals a plain first-maximum loop on even and odd
 * sizes, including on values full of ties (small integers) where the
 * winner's offset decides where the gradient goes. */
static void test_maxpool_ties(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 77);
  const int dims[][2] = {{28, 28}, {14, 14}, {8, 6}, {7, 9}, {5, 5}, {2, 2}};
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
    const int h = dims[d][0], w = dims[d][1], ho = h / 2, wo = w / 2;
    float *x = vec((size_t)h * w), *y = vec((size_t)ho * wo);
    int32_t *am = calloc((size_t)ho * wo, sizeof *am);
    for (int rep = 0; rep < 20; rep++) {
      for (int i = 0; i < h * w; i++) x[i] = (float)hp_rng_below(&rng, 3) - 1.0f;
      hp_maxpool_plane(x, y, am, h, w, 2, 2);
      for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
          int best = 2 * oy * w + 2 * ox;
          for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
              int at = (2 * oy + i) * w + 2 * ox + j;
              if (x[at] > x[best]) best = at;
            }
          assert_int_equal(am[oy * wo + ox], best);
          assert_true(y[oy * wo + ox] == x[best]);
        }
    }
    free(x), free(y), free(am);
  }
}

static void test_maxpool_grad(void **state) {
  (void)state;
  check_pool(4, 6, 2, 2);
  check_pool(5, 5, 2, 2); /* odd size: last row/column dropped */
  check_pool(5, 5, 3, 1); /* overlapping windows accumulate */
  check_pool(6, 4, 2, 1); /* 2x2 windows with stride 1 (general path) */
  float x[4] = {1, 5, 3, 2}, y[1];
  int32_t am[1];
  hp_maxpool_forward(x, y, am, 1, 1, 2, 2, 2, 2);
  assert_true(y[0] == 5.0f && am[0] == 1);
}

/* ---- batch norm -------------------------------------------------------- */

typedef struct {
  int B, c, s;
  float *x, *g, *be, *y, *xhat, *is, *rm, *rv, *r;
} bn_ctx;

static double bn_loss(void *p) {
  bn_ctx *c = p;
  hp_bn_forward_train(c->x, c->g, c->be, c->y, c->xhat, c->is, c->rm, c->rv, c->B, c->c, c->s,
                      0.1f, 1e-5f);
  return dot(c->y, c->r, (size_t)c->B * c->c * c->s);
}

static void check_bn(int B, int ch, int s) {
  hp_rng_t rng;
  hp_rng_seed(&rng, 400 + s);
  bn_ctx c = {.B = B, .c = ch, .s = s};
  size_t n = (size_t)B * ch * s;
  c.x = vec(n), c.y = vec(n), c.xhat = vec(n), c.r = vec(n);
  c.g = vec(ch), c.be = vec(ch), c.is = vec(ch), c.rm = vec(ch), c.rv = vec(ch);
  float *dx = vec(n), *dg = vec(ch), *db = vec(ch), *dy = vec(n);
  fill(&rng, c.x, n, -2, 3), fill(&rng, c.g, ch, 0.5f, 1.5f), fill(&rng, c.be, ch, -1, 1);
  fill(&rng, c.r, n, -1, 1);
  bn_loss(&c);
  memcpy(dy, c.r, n * sizeof *dy);
  hp_bn_backward(dy, c.xhat, c.g, c.is, dx, dg, db, B, ch, s);
  /* The output's gradient sums to zero over a channel in the input: a
   * shift of every input of a channel is normalised away. */
  check_grad("bn dx", &c, bn_loss, c.x, dx, n, 2e-3f);
  check_grad("bn dgamma", &c, bn_loss, c.g, dg, ch, 1e-3f);
  check_grad("bn dbeta", &c, bn_loss, c.be, db, ch, 1e-3f);
  /* In place (dx == dy) gives the same. */
  float *dg2 = vec(ch), *db2 = vec(ch);
  memcpy(dy, c.r, n * sizeof *dy);
  bn_loss(&c);
  hp_bn_backward(dy, c.xhat, c.g, c.is, dy, dg2, db2, B, ch, s);
  for (size_t i = 0; i < n; i++) assert_true(fabsf(dy[i] - dx[i]) < 1e-6f);
  free(c.x), free(c.y), free(c.xhat), free(c.r), free(c.g), free(c.be), free(c.is);
  free(c.rm), free(c.rv), free(dx), free(dg), free(db), free(dy), free(dg2), free(db2);
}

static void test_batchnorm_grad(void **state) {
  (void)state;
  check_bn(6, 4, 1); /* after a dense layer */
  check_bn(5, 300, 1); /* dense, more channels than one block of the row walk */
  check_bn(3, 2, 5); /* after a conv: per channel over batch and positions */
}

/* Dense batch norm [B, c] against the formulas computed here in double,
 * channel by channel: y = gamma (x - mean) / sqrt(var + eps) + beta with the
 * batch's mean and biased variance; running estimates with the unbiased
 * one; inference with the running estimates; the backward pass
 * dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)), dgamma = sum dy xhat,
 * dbeta = sum dy. c = 300 spans two channel blocks of the row walk. */
static void test_batchnorm_dense_formulas(void **state) {
  (void)state;
  const int B = 37, C = 300;
  const float mom = 0.1f, eps = 1e-5f;
  const size_t n = (size_t)B * C;
  hp_rng_t rng;
  hp_rng_seed(&rng, 4711);
  float *x = vec(n), *y = vec(n), *xh = vec(n), *dy = vec(n), *dx = vec(n), *ye = vec(n);
  float *g = vec(C), *be = vec(C), *is = vec(C), *rm = vec(C), *rv = vec(C), *dg = vec(C),
        *db = vec(C);
  fill(&rng, x, n, -2, 5), fill(&rng, dy, n, -1, 1), fill(&rng, g, C, 0.5f, 1.5f);
  fill(&rng, be, C, -1, 1);
  for (int j = 0; j < C; j++) rm[j] = 0.25f, rv[j] = 2.0f;
  hp_bn_forward_train(x, g, be, y, xh, is, rm, rv, B, C, 1, mom, eps);
  hp_bn_backward(dy, xh, g, is, dx, dg, db, B, C, 1);
  hp_bn_forward_eval(x, g, be, ye, rm, rv, B, C, 1, eps);
  for (int j = 0; j < C; j++) {
    double m = 0, v = 0, sdy = 0, sdyx = 0;
    for (int b = 0; b < B; b++) m += x[(size_t)b * C + j];
    m /= B;
    for (int b = 0; b < B; b++) v += (x[(size_t)b * C + j] - m) * (x[(size_t)b * C + j] - m);
    v /= B;
    const double inv = 1.0 / sqrt(v + eps);
    assert_true(fabs(is[j] - inv) <= 1e-5 * inv);
    assert_true(fabs(rm[j] - (0.9 * 0.25 + 0.1 * m)) <= 1e-5);
    assert_true(fabs(rv[j] - (0.9 * 2.0 + 0.1 * v * B / (B - 1))) <= 1e-5 * rv[j]);
    for (int b = 0; b < B; b++) {
      const size_t at = (size_t)b * C + j;
      const double h = (x[at] - m) * inv;
      assert_true(fabs(xh[at] - h) <= 1e-4);
      assert_true(fabs(y[at] - (g[j] * h + be[j])) <= 1e-4);
      sdy += dy[at], sdyx += dy[at] * h;
      const double ev = g[j] * (x[at] - rm[j]) / sqrt(rv[j] + eps) + be[j];
      assert_true(fabs(ye[at] - ev) <= 1e-4);
    }
    assert_true(fabs(dg[j] - sdyx) <= 1e-4 && fabs(db[j] - sdy) <= 1e-4);
    for (int b = 0; b < B; b++) {
      const size_t at = (size_t)b * C + j;
      const double h = (x[at] - m) * inv;
      const double e = g[j] * inv * (dy[at] - sdy / B - h * sdyx / B);
      assert_true(fabs(dx[at] - e) <= 1e-4);
    }
  }
  free(x), free(y), free(xh), free(dy), free(dx), free(ye), free(g), free(be), free(is);
  free(rm), free(rv), free(dg), free(db);
}

static void test_batchnorm_stats(void **state) {
  (void)state;
  /* Two samples of one feature: 1 and 3 -> mean 2, biased var 1, unbiased 2. */
  float x[2] = {1, 3}, g = 2, be = 0.5f, y[2], xh[2], is, rm = 0, rv = 1;
  hp_bn_forward_train(x, &g, &be, y, xh, &is, &rm, &rv, 2, 1, 1, 0.1f, 0.0f);
  assert_true(fabsf(y[0] - (-1.5f)) < 1e-6f && fabsf(y[1] - 2.5f) < 1e-6f);
  assert_true(fabsf(rm - 0.2f) < 1e-6f);              /* 0.9*0 + 0.1*2 */
  assert_true(fabsf(rv - (0.9f + 0.1f * 2)) < 1e-6f); /* unbiased 2 */
  /* Inference uses the running estimates, not the batch. */
  float m = 2, v = 4, out[2];
  hp_bn_forward_eval(x, &g, &be, out, &m, &v, 2, 1, 1, 0.0f);
  assert_true(fabsf(out[0] - (2 * (1 - 2) / 2.0f + 0.5f)) < 1e-6f);
  assert_true(fabsf(out[1] - (2 * (3 - 2) / 2.0f + 0.5f)) < 1e-6f);
}

/* ---- dropout ----------------------------------------------------------- */

static void test_dropout(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 9);
  const size_t n = 20001;
  float *x = vec(n), *y = vec(n), *m = vec(n), *dx = vec(n);
  for (size_t i = 0; i < n; i++) x[i] = 1.0f;
  hp_dropout_forward(x, y, m, n, 0.3f, &rng);
  size_t dropped = 0;
  double mean = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(m[i] == 0.0f || fabsf(m[i] - 1.0f / 0.7f) < 1e-6f);
    assert_true(y[i] == x[i] * m[i]);
    dropped += m[i] == 0.0f;
    mean += y[i];
  }
  assert_true(fabs((double)dropped / n - 0.3) < 0.015);
  assert_true(fabs(mean / n - 1.0) < 0.03); /* inverted: expectation kept */
  hp_dropout_backward(x, m, dx, n);
  assert_memory_equal(dx, y, n * sizeof *dx); /* dx = dy * mask with dy = 1 */
  /* p = 0 keeps everything unscaled. */
  hp_dropout_forward(x, y, m, n, 0.0f, &rng);
  for (size_t i = 0; i < n; i++) assert_true(y[i] == 1.0f);
  /* The masks are the generator's draws in order: one 64-bit draw per pair
   * of units, the low 32 bits deciding unit i, the high 32 unit i + 1, a
   * unit dropped when its 32 bits fall below p * 2^32; an odd last unit gets
   * the low bits of its own draw; the generator ends where those draws
   * leave it (n = 20001 is odd). */
  hp_rng_t a, b;
  hp_rng_seed(&a, 77);
  b = a;
  for (size_t i = 0; i < n; i++) x[i] = (float)i * 0.5f - 7.0f;
  hp_dropout_forward(x, y, m, n, 0.4f, &a);
  const uint64_t thr = (uint64_t)(0.4 * 4294967296.0);
  for (size_t i = 0; i < n; i += 2) {
    const uint64_t v = hp_rng_u64(&b);
    for (size_t k = 0; k < 2 && i + k < n; k++) {
      const uint64_t bits = k == 0 ? v & 0xffffffffu : v >> 32;
      const float want = bits < thr ? 0.0f : 1.0f / (1.0f - 0.4f);
      assert_true(m[i + k] == want && y[i + k] == x[i + k] * want);
    }
  }
  assert_memory_equal(&a, &b, sizeof a);
  free(x), free(y), free(m), free(dx);
}

/* ---- losses ------------------------------------------------------------ */

typedef struct {
  int B, k, mse;
  float *z;
  int32_t *y;
} loss_ctx;

static double loss_mean(void *p) {
  loss_ctx *c = p;
  double s = c->mse ? hp_loss_mse(c->z, c->y, c->B, c->k, NULL, 0, NULL)
                    : hp_loss_softmax_ce(c->z, c->y, c->B, c->k, NULL, 0, NULL);
  return s / c->B;
}

static void test_loss_grad(void **state) {
  (void)state;
  hp_rng_t rng;
  hp_rng_seed(&rng, 11);
  for (int mse = 0; mse < 2; mse++) {
    loss_ctx c = {.B = 4, .k = 5, .mse = mse};
    c.z = vec(20);
    c.y = calloc(4, sizeof *c.y);
    float *g = vec(20);
    fill(&rng, c.z, 20, -3, 3);
    for (int b = 0; b < 4; b++) c.y[b] = (int32_t)hp_rng_below(&rng, 5);
    long correct = 0;
    if (mse) hp_loss_mse(c.z, c.y, 4, 5, g, 0.25f, &correct);
    else hp_loss_softmax_ce(c.z, c.y, 4, 5, g, 0.25f, &correct);
    long want = 0;
    for (int b = 0; b < 4; b++) {
      int am = 0;
      for (int j = 1; j < 5; j++)
        if (c.z[b * 5 + j] > c.z[b * 5 + am]) am = j;
      want += am == c.y[b];
    }
    assert_int_equal(correct, want);
    check_grad(mse ? "mse" : "softmax_ce", &c, loss_mean, c.z, g, 20, 1e-3f);
    free(c.z), free(c.y), free(g);
  }
}

static void test_softmax_stable(void **state) {
  (void)state;
  /* Huge logits must not overflow: loss = log(1 + e^-1000) ~ 0 here. */
  float z[4] = {1000, 0, -1000, 1e30f}, g[2];
  int32_t y[2] = {0, 1};
  double l = hp_loss_softmax_ce(z, y, 1, 2, g, 1.0f, NULL);
  assert_true(isfinite(l) && l < 1e-6);
  assert_true(isfinite(g[0]) && isfinite(g[1]));
  l = hp_loss_softmax_ce(z + 2, y, 1, 2, g, 1.0f, NULL); /* label -1000, max 1e30 */
  assert_true(isfinite(l) && fabs(l - 1e30) < 1e24);
  /* Uniform logits: loss = log k. */
  float u[3] = {2, 2, 2};
  assert_true(fabs(hp_loss_softmax_ce(u, y, 1, 3, NULL, 0, NULL) - log(3.0)) < 1e-6);
  /* NaN propagates to the loss (the trainer reports divergence). */
  float nz[2] = {NAN, 0};
  assert_true(isnan(hp_loss_softmax_ce(nz, y, 1, 2, NULL, 0, NULL)));
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  (void)argc;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense_grad),     cmocka_unit_test(test_activation_grad),
      cmocka_unit_test(test_conv_grad),      cmocka_unit_test(test_conv_relu_grad),
      cmocka_unit_test(test_conv_chunked),   cmocka_unit_test(test_conv_pool_fused),
      cmocka_unit_test(test_conv_pool_winners), cmocka_unit_test(test_conv_pool_phase),
      cmocka_unit_test(test_conv_pool_winograd), cmocka_unit_test(test_conv_pool_exact_buffers),
      cmocka_unit_test(test_maxpool_grad), cmocka_unit_test(test_maxpool_ties),   cmocka_unit_test(test_batchnorm_grad),
      cmocka_unit_test(test_batchnorm_dense_formulas),
      cmocka_unit_test(test_batchnorm_stats), cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_loss_grad),      cmocka_unit_test(test_softmax_stable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

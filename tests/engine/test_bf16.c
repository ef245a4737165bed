/* Tests of engine/dnnl.c and "precision": "bf16": bf16 rounding (to nearest
 * even), oneDNN's bf16 products against the exact products of the rounded
 * operands and against fp32 products, with tolerances derived from the
 * algorithm (below); oneDNN's fp32 products; the backend policy; the clear
 * error on a CPU without BF16; and bf16 training (learns, deterministic,
 * accuracy within the fp32 runs', dense and conv).
 *
 * Error bounds. For C = sum_k a_k b_k over K terms:
 * - oneDNN vs the exact sum of the rounded operands' products: fp32
 *   accumulation of K exact products, |err| <= gamma_K * sum|a_k b_k|,
 *   gamma_K = K u / (1 - K u), u = 2^-24 (any summation order);
 * - bf16 vs fp32 operands: each operand rounds with relative error
 *   <= 2^-8 (8 significand bits, to nearest), so each product moves by at
 *   most (2 * 2^-8 + 2^-16) |a b|, plus the fp32 accumulation above. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"
#include "hpsearch/layers.h"
#include "hpsearch/rng.h"

static bool have_dnnl(void) {
  hp_err_t err = {0};
  if (hp_dnnl_check(false, &err) == 0) return true;
  fprintf(stderr, "oneDNN not usable (%s): skipped\n", err.msg);
  return false;
}

static void test_rounding(void **state) {
  (void)state;
  const struct {
    uint32_t in;
    uint16_t out;
  } cases[] = {
      {0x3f800000u, 0x3f80}, /* 1.0 */
      {0x3f808000u, 0x3f80}, /* 1 + 2^-8: a tie, to even (down) */
      {0x3f818000u, 0x3f82}, /* 1 + 3*2^-8: a tie, to even (up) */
      {0x3f808001u, 0x3f81}, /* just above the tie: up */
      {0x3f807fffu, 0x3f80}, /* just below: down */
      {0xbf808001u, 0xbf81}, /* negative: by magnitude */
      {0x7f800000u, 0x7f80}, /* inf */
      {0xff800000u, 0xff80}, /* -inf */
      {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds up to inf */
      {0x00000001u, 0x0000}, /* the smallest denormal: to 0 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    float f;
    memcpy(&f, &cases[i].in, sizeof f);
    hp_bf16_t b;
    hp_bf16_from_f32(&f, &b, 1);
    if (b != cases[i].out) fail_msg("0x%08x -> 0x%04x, want 0x%04x", cases[i].in, b, cases[i].out);
  }
  float nan = NAN;
  hp_bf16_t b;
  hp_bf16_from_f32(&nan, &b, 1);
  assert_true(isnan(hp_bf16_to_f32(b)));
  /* long arrays take the vector path (AVX512_BF16's vcvtne2ps2bf16 where
   * the CPU has it): the same bits as one value at a time, which takes the
   * plain loop, for normal numbers, ties, infinities and NaN */
  enum { NV = 1003 };
  float *vx = malloc(NV * sizeof *vx);
  hp_bf16_t *va = malloc(NV * sizeof *va), *vb = malloc(NV * sizeof *vb);
  hp_rng_t rr;
  hp_rng_seed(&rr, 2);
  for (int i = 0; i < NV; i++) {
    uint32_t u = (uint32_t)hp_rng_u64(&rr);
    if (i % 7 == 0) u = (u & 0xffff0000u) | 0x8000u; /* a tie */
    if ((u & 0x7f800000u) == 0) u |= 0x00800000u;    /* no denormals */
    memcpy(&vx[i], &u, sizeof u);
  }
  vx[5] = INFINITY, vx[6] = -INFINITY, vx[7] = NAN;
  hp_bf16_from_f32(vx, va, NV);
  for (int i = 0; i < NV; i++) hp_bf16_from_f32(&vx[i], &vb[i], 1);
  for (int i = 0; i < NV; i++) {
    if (isnan(vx[i])) assert_true(isnan(hp_bf16_to_f32(va[i])));
    else if (va[i] != vb[i]) fail_msg("value %d: vector 0x%04x, scalar 0x%04x", i, va[i], vb[i]);
  }
  free(vx), free(va), free(vb);
  /* every bf16 value converts back exactly, and rounds to itself */
  for (uint32_t v = 0; v < 0x10000; v += 7) {
    float f = hp_bf16_to_f32((hp_bf16_t)v);
    if (isnan(f)) continue;
    hp_bf16_from_f32(&f, &b, 1);
    assert_int_equal(b, v);
  }
}

static void fill(hp_rng_t *r, float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(2 * hp_rng_uniform(r) - 1);
}

/* One case: hp_gemm_bf16 (oneDNN) and hp_sgemm in bf16 mode vs the exact
 * products of the rounded operands, and vs fp32 operands. */
static void check_bf16(hp_rng_t *r, bool ta, bool tb, int M, int N, int K, float alpha,
                       float beta, int pad) {
  int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
  float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
  hp_bf16_t *Ab = malloc(na * sizeof *Ab), *Bb = malloc(nb * sizeof *Bb);
  float *C0 = malloc(nc * sizeof *C0), *C1 = malloc(nc * sizeof *C1), *C2 = malloc(nc * sizeof *C2);
  float *C3 = malloc(nc * sizeof *C3), *C4 = malloc(nc * sizeof *C4);
  fill(r, A, na), fill(r, B, nb), fill(r, C0, nc);
  hp_bf16_from_f32(A, Ab, na), hp_bf16_from_f32(B, Bb, nb);
  memcpy(C1, C0, nc * sizeof *C0), memcpy(C2, C0, nc * sizeof *C0);
  memcpy(C3, C0, nc * sizeof *C0), memcpy(C4, C0, nc * sizeof *C0);
  hp_gemm_bf16(ta, tb, M, N, K, alpha, Ab, lda, Bb, ldb, beta, C1, ldc);
  hp_gemm_bf16_naive(ta, tb, M, N, K, alpha, Ab, lda, Bb, ldb, beta, C2, ldc);
  hp_blas_set_bf16(true);
  hp_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C3, ldc);
  hp_blas_set_bf16(false);
  hp_sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C4, ldc);
  const double u = ldexp(1.0, -24), gamma = K * u / (1 - K * u);
  const double ub = ldexp(1.0, -8); /* bf16: p = 8 significand bits, u = 2^-p */
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double absum = 0; /* sum |a_k b_k| of the rounded operands */
      for (int k = 0; k < K; k++) {
        float a = hp_bf16_to_f32(ta ? Ab[(size_t)k * lda + i] : Ab[(size_t)i * lda + k]);
        float b = hp_bf16_to_f32(tb ? Bb[(size_t)j * ldb + k] : Bb[(size_t)k * ldb + j]);
        absum += fabs((double)a * b);
      }
      size_t at = (size_t)i * ldc + j;
      /* alpha scales the sum; beta*C adds one rounding; the result one more */
      double accum = fabs(alpha) * gamma * absum + 2 * u * (fabs(C2[at]) + fabs(beta * C0[at])) + 1e-30;
      if (!(fabs(C1[at] - C2[at]) <= accum))
        fail_msg("oneDNN bf16 %dx%dx%d ta=%d tb=%d [%d,%d]: %.9g vs exact %.9g (bound %.3g)", M, N,
                 K, ta, tb, i, j, C1[at], C2[at], accum);
      if (!(fabs(C3[at] - C2[at]) <= accum))
        fail_msg("hp_sgemm in bf16 mode [%d,%d]: %.9g vs %.9g", i, j, C3[at], C2[at]);
      /* against fp32 operands: the operands' rounding dominates */
      double vs32 = fabs(alpha) * (2 * ub + ub * ub) * absum * (1 + 2 * ub) + 2 * accum +
                    4 * u * fabs(C4[at]);
      if (!(fabs(C1[at] - C4[at]) <= vs32))
        fail_msg("bf16 vs fp32 [%d,%d]: %.9g vs %.9g (bound %.3g)", i, j, C1[at], C4[at], vs32);
    }
  /* untouched padding of C */
  for (int i = 0; i < M; i++)
    for (int j = N; j < ldc; j++) assert_true(C1[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j]);
  free(A), free(B), free(Ab), free(Bb), free(C0), free(C1), free(C2), free(C3), free(C4);
}

static void test_bf16_products(void **state) {
  (void)state;
  if (!have_dnnl()) {
    skip();
    return;
  }
  hp_rng_t r;
  hp_rng_seed(&r, 21);
  static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {128, 10, 256},
                                  {64, 96, 300}, {2, 200, 3}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int t = 0; t < 4; t++) {
      check_bf16(&r, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f, 0);
      check_bf16(&r, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 1.0f, 3);
    }
  /* the dense layer's three calls at the MLP's first layer (16 samples:
   * the naive reference is slow), and alpha */
  check_bf16(&r, false, true, 16, 512, 784, 1.0f, 0.0f, 0);
  check_bf16(&r, true, false, 512, 784, 16, 1.0f, 1.0f, 0);
  check_bf16(&r, false, false, 16, 784, 512, 1.0f, 0.0f, 0);
  check_bf16(&r, false, false, 9, 11, 13, 0.5f, 2.0f, 1);
}

/* oneDNN's fp32 products (the fp32 backend where it is faster) against the
 * naive reference: fp32 accumulation, the same gamma_K bound. */
static void test_dnnl_fp32_products(void **state) {
  (void)state;
  if (!have_dnnl()) {
    skip();
    return;
  }
  hp_rng_t r;
  hp_rng_seed(&r, 5);
  static const int shapes[][3] = {{1, 1, 1}, {7, 3, 5}, {128, 256, 512}, {33, 17, 65}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int t = 0; t < 4; t++) {
      bool ta = t & 1, tb = t & 2;
      int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
      int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 1;
      size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
      float *A = malloc(na * 4), *B = malloc(nb * 4), *C1 = malloc(nc * 4), *C2 = malloc(nc * 4);
      fill(&r, A, na), fill(&r, B, nb), fill(&r, C1, nc);
      memcpy(C2, C1, nc * 4);
      assert_true(hp_dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C1, ldc));
      hp_sgemm_naive(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C2, ldc);
      const double u = ldexp(1.0, -24), gamma = (K + 2) * u / (1 - (K + 2) * u);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          /* |a|,|b|,|c| <= 1: sum |a b| + |c| <= K + 1 */
          size_t at = (size_t)i * ldc + j;
          assert_true(fabs(C1[at] - C2[at]) <= gamma * (K + 1) + 1e-30);
        }
      free(A), free(B), free(C1), free(C2);
    }
}

static void test_backend_policy(void **state) {
  (void)state;
  const char *why = NULL;
  /* an explicit setting wins, then a user's OPENBLAS_CORETYPE */
  assert_int_equal(hp_gemm_choose("openblas", false, true, true, &why), HP_GEMM_OPENBLAS);
  assert_int_equal(hp_gemm_choose("onednn", true, false, true, &why), HP_GEMM_ONEDNN);
  assert_int_equal(hp_gemm_choose("onednn", false, true, false, &why), HP_GEMM_OPENBLAS);
  assert_non_null(strstr(why, "cannot be loaded"));
  assert_int_equal(hp_gemm_choose(NULL, true, true, true, &why), HP_GEMM_OPENBLAS);
  assert_non_null(strstr(why, "OPENBLAS_CORETYPE"));
  /* by CPU: oneDNN where it was measured faster (AVX-512 with BF16, the
   * Zen 4 of docs/engine.md) and can be loaded, OpenBLAS elsewhere */
  assert_int_equal(hp_gemm_choose(NULL, false, true, true, &why), HP_GEMM_ONEDNN);
  assert_non_null(strstr(why, "measured faster"));
  assert_int_equal(hp_gemm_choose(NULL, false, false, true, &why), HP_GEMM_OPENBLAS);
  assert_int_equal(hp_gemm_choose(NULL, false, true, false, &why), HP_GEMM_OPENBLAS);
  assert_non_null(strstr(why, "cannot be loaded"));
}

static void test_no_bf16_cpu_error(void **state) {
  (void)state;
  setenv("HPSEARCH_PRETEND_NO_BF16", "1", 1);
  hp_err_t err = {0};
  int rc = hp_dnnl_check(true, &err);
  unsetenv("HPSEARCH_PRETEND_NO_BF16");
  assert_int_equal(rc, HP_ESTATE);
  /* either oneDNN is missing (says so) or the CPU lacks BF16 (says so) */
  if (strstr(err.msg, "oneDNN is not installed") == NULL)
    assert_non_null(strstr(err.msg, "BF16 instructions"));
}

/* ---- training in bf16 --------------------------------------------------- */

enum { DN = 600, DD = 16 };

/* Four Gaussian blobs in 16 dimensions: 480 training and 120 validation
 * samples (static storage, rebuilt by every call). */
static float blob_x[DN * DD];
static int32_t blob_y[DN];
static uint32_t tr[480], va[120];
static void blobs(hp_data_t *data) {
  hp_rng_t r;
  hp_rng_seed(&r, 17);
  for (int i = 0; i < DN; i++) {
    blob_y[i] = (int32_t)hp_rng_below(&r, 4);
    for (int j = 0; j < DD; j++) blob_x[i * DD + j] = (float)(0.8 * hp_rng_normal(&r) + 2.0 * (j % 4 == blob_y[i]));
  }
  for (int i = 0; i < 480; i++) tr[i] = (uint32_t)i;
  for (int i = 0; i < 120; i++) va[i] = (uint32_t)(480 + i);
  memset(data, 0, sizeof *data);
  hp_dataset_t *d = &data->train;
  d->n = DN, d->c = 1, d->h = 4, d->w = 4, d->d = DD, d->n_classes = 4;
  d->x = blob_x, d->y = blob_y;
  data->split.train = tr, data->split.n_train = 480;
  data->split.val = va, data->split.n_val = 120;
}

static void load(hp_train_config_t *cfg, const char *layers, const char *precision) {
  char txt[800];
  snprintf(txt, sizeof txt,
           "{\"layers\": %s, \"batch_size\": 32, \"epochs\": 6, \"seed\": 2, "
           "\"precision\": \"%s\", \"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}}",
           layers, precision);
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  int rc = hp_train_config_parse(root, cfg, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  cJSON_Delete(root);
}

/* Skips the calling test where bf16 training cannot run here. */
static void need_bf16(void) {
  hp_err_t err = {0};
  if (hp_dnnl_check(true, &err) != 0) {
    fprintf(stderr, "bf16 training skipped: %s\n", err.msg);
    skip();
  }
}

static void test_bf16_training(void **state) {
  (void)state;
  hp_err_t err = {0};
  need_bf16();
  hp_data_t data;
  blobs(&data);
  static const char *const nets[] = {
      "[{\"type\": \"mlp\", \"hidden\": [32, 16]}, {\"type\": \"dense\", \"units\": 4}]",
      "[{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, "
      "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 4}]",
      "[{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, "
      "\"activation\": \"relu\"}, {\"type\": \"maxpool\"}, {\"type\": \"dense\", \"units\": 4}]",
  };
  for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
    hp_train_config_t c32, c16;
    load(&c32, nets[k], "fp32");
    load(&c16, nets[k], "bf16");
    assert_false(c32.bf16);
    assert_true(c16.bf16);
    hp_train_result_t r32, r16a, r16b;
    hp_model_t a, b;
    assert_int_equal(hp_train_run_data(&c32, &data, NULL, NULL, &r32, NULL, &err), 0);
    assert_int_equal(hp_train_run_data(&c16, &data, NULL, NULL, &r16a, &a, &err), 0);
    assert_int_equal(hp_train_run_data(&c16, &data, NULL, NULL, &r16b, &b, &err), 0);
    assert_int_equal(r16a.status, HP_TRAIN_OK);
    fprintf(stderr, "net %zu: val accuracy fp32 %.3f bf16 %.3f\n", k, r32.val_accuracy, r16a.val_accuracy);
    /* it learns like fp32 does, and the same seed gives the same bits */
    assert_true(r16a.val_accuracy > 0.85);
    assert_true(fabs(r16a.val_accuracy - r32.val_accuracy) < 0.05);
    assert_true(a.bf16);
    assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
    /* the weights stay fp32 and differ from the fp32 run's (the products
     * really were rounded) */
    hp_model_t m32;
    assert_int_equal(hp_train_run_data(&c32, &data, NULL, NULL, &r32, &m32, &err), 0);
    assert_true(memcmp(a.params, m32.params, a.n_params * sizeof(float)) != 0);
    hp_model_free(&a), hp_model_free(&b), hp_model_free(&m32);
    hp_train_config_free(&c32), hp_train_config_free(&c16);
  }
}

/* The nearest bf16 to f by the definition (ties to even), as a float. */
static double rnd16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  float flo, fhi;
  memcpy(&flo, &lo, sizeof flo);
  memcpy(&fhi, &hi, sizeof fhi);
  double dlo = fabs((double)f - flo), dhi = fabs((double)fhi - f);
  if (dlo != dhi) return dlo < dhi ? flo : fhi;
  return ((lo >> 16) & 1) ? fhi : flo;
}

/* One SGD step of a bf16 dense softmax layer, full batch, by hand in
 * double: logits = r(x) r(W)^T + b, dl = (softmax - onehot)/n,
 * dW = r(dl)^T r(x), db = sum dl (r: round to bf16); returns W', b' and in
 * tol the bound on fp32 accumulation (K u sum|terms|, generous). */
enum { HN = 64, HD = 16, HC = 4 };
static void step_by_hand(const float *W, const float *b, const float *x, const int32_t *y,
                         double lr, double *W1, double *b1, double *tol) {
  double dl[HN][HC];
  for (int i = 0; i < HN; i++) {
    double z[HC], mx = -INFINITY, sum = 0;
    for (int j = 0; j < HC; j++) {
      z[j] = b[j];
      for (int k = 0; k < HD; k++) z[j] += rnd16(x[i * HD + k]) * rnd16(W[j * HD + k]);
      mx = fmax(mx, z[j]);
    }
    for (int j = 0; j < HC; j++) sum += exp(z[j] - mx);
    for (int j = 0; j < HC; j++) dl[i][j] = (exp(z[j] - mx) / sum - (y[i] == j)) / HN;
  }
  for (int j = 0; j < HC; j++) {
    double db = 0;
    for (int i = 0; i < HN; i++) db += dl[i][j];
    b1[j] = b[j] - lr * db;
    for (int k = 0; k < HD; k++) {
      double dw = 0, mag = 0;
      for (int i = 0; i < HN; i++) {
        double t = rnd16((float)dl[i][j]) * rnd16(x[i * HD + k]);
        dw += t, mag += fabs(t);
      }
      W1[j * HD + k] = W[j * HD + k] - lr * dw;
      tol[j * HD + k] = lr * 1e-4 * mag + 1e-7;
    }
  }
}

/* hp_data_gather_bf16 gives the nearest bf16 of what hp_data_gather gives,
 * with and without scaling, on rows whose length is no multiple of the
 * vector width. */
static void test_gather_bf16(void **state) {
  (void)state;
  enum { GN = 9, GD = 37 };
  float gx[GN * GD], scale[GD], shift[GD], out[GN * GD];
  int32_t gy[GN], y32[GN], y16[GN];
  hp_bf16_t out16[GN * GD];
  hp_rng_t r;
  hp_rng_seed(&r, 5);
  for (int i = 0; i < GN * GD; i++) gx[i] = (float)(300 * hp_rng_uniform(&r) - 20);
  for (int j = 0; j < GD; j++) scale[j] = (float)(0.01 + hp_rng_uniform(&r)), shift[j] = (float)(hp_rng_normal(&r));
  for (int i = 0; i < GN; i++) gy[i] = i % 3;
  hp_dataset_t ds = {.n = GN, .c = 1, .h = 1, .w = GD, .d = GD, .n_classes = 3, .x = gx, .y = gy};
  const uint32_t idx[5] = {8, 0, 3, 3, 7};
  for (int scaled = 0; scaled < 2; scaled++) {
    ds.scale = scaled ? scale : NULL, ds.shift = scaled ? shift : NULL;
    hp_data_gather(&ds, idx, 5, out, y32);
    hp_data_gather_bf16(&ds, idx, 5, out16, y16);
    for (int i = 0; i < 5 * GD; i++) {
      assert_true(hp_bf16_to_f32(out16[i]) == (float)rnd16(out[i]));
    }
    assert_memory_equal(y16, y32, sizeof y16);
  }
  /* byte data (IDX): the same numbers as float data holding the bytes
   * widened, bit for bit, in both gathers; one width longer than the piece
   * the bf16 gather widens at a time */
  static const uint32_t widths[2] = {37, 600};
  for (int k = 0; k < 2; k++) {
    uint32_t wd = widths[k];
    uint8_t *xb = malloc((size_t)GN * wd);
    float *xf = malloc((size_t)GN * wd * sizeof *xf), *sc = malloc(wd * sizeof *sc),
          *sh = malloc(wd * sizeof *sh), *o8 = malloc(5 * wd * sizeof *o8),
          *of = malloc(5 * wd * sizeof *of);
    hp_bf16_t *b8 = malloc(5 * wd * sizeof *b8), *bf = malloc(5 * wd * sizeof *bf);
    assert_true(xb && xf && sc && sh && o8 && of && b8 && bf);
    for (uint32_t i = 0; i < GN * wd; i++) xb[i] = (uint8_t)(hp_rng_u64(&r) & 255), xf[i] = xb[i];
    for (uint32_t j = 0; j < wd; j++)
      sc[j] = (float)(0.01 + hp_rng_uniform(&r)), sh[j] = (float)hp_rng_normal(&r);
    hp_dataset_t db = {.n = GN, .c = 1, .h = 1, .w = wd, .d = wd, .n_classes = 3, .xb = xb,
                       .y = gy, .is_bytes = true};
    hp_dataset_t df = {.n = GN, .c = 1, .h = 1, .w = wd, .d = wd, .n_classes = 3, .x = xf, .y = gy};
    for (int scaled = 0; scaled < 2; scaled++) {
      db.scale = df.scale = scaled ? sc : NULL, db.shift = df.shift = scaled ? sh : NULL;
      hp_data_gather(&db, idx, 5, o8, y16);
      hp_data_gather(&df, idx, 5, of, y32);
      assert_memory_equal(o8, of, 5 * wd * sizeof *o8);
      assert_memory_equal(y16, y32, sizeof y16);
      hp_data_gather_bf16(&db, idx, 5, b8, y16);
      hp_data_gather_bf16(&df, idx, 5, bf, y32);
      assert_memory_equal(b8, bf, 5 * wd * sizeof *b8);
      for (uint32_t i = 0; i < 5 * wd; i++) assert_true(hp_bf16_to_f32(b8[i]) == (float)rnd16(of[i]));
      if (!scaled) assert_true(o8[0] == (float)xb[8 * wd] && o8[wd] == (float)xb[0]);
    }
    free(xb), free(xf), free(sc), free(sh), free(o8), free(of), free(b8), free(bf);
  }
}

/* Two steps of bf16 training against the algorithm by hand: the engine's
 * weights after step 1 and after step 2 are the hand-computed steps from
 * the weights before them (so step 2 used the copy of the weights the
 * fused optimizer step rounded after step 1, not a stale one), and the
 * model's bf16 copy is the nearest bf16 of its weights at the end. */
static void test_bf16_steps_by_hand(void **state) {
  (void)state;
  hp_err_t err = {0};
  need_bf16();
  hp_data_t data;
  blobs(&data);
  data.split.n_train = HN, data.split.n_val = 0;
  const double lr = 0.5;
  const char *txt = "{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"batch_size\": 64, "
                    "\"epochs\": 1, \"seed\": 3, \"precision\": \"bf16\", "
                    "\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.5}}";
  cJSON *root = NULL;
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  hp_train_config_t cfg;
  assert_int_equal(hp_train_config_parse(root, &cfg, &err), 0);
  cJSON_Delete(root);
  hp_model_t m0, m1, m2;
  assert_int_equal(hp_model_create(&m0, cfg.layers, cfg.n_layers, 1, 4, 4, 4, HN, cfg.loss, &err),
                   0);
  hp_model_init(&m0, &cfg.init, cfg.seed);
  hp_train_result_t res;
  assert_int_equal(hp_train_run_data(&cfg, &data, NULL, NULL, &res, &m1, &err), 0);
  cfg.epochs = 2;
  assert_int_equal(hp_train_run_data(&cfg, &data, NULL, NULL, &res, &m2, &err), 0);
  assert_int_equal(res.steps, 2);
  const hp_model_t *before[2] = {&m0, &m1}, *after[2] = {&m1, &m2};
  for (int s = 0; s < 2; s++) {
    const float *W = before[s]->params, *b = W + HC * HD;
    double W1[HC * HD], b1[HC], tol[HC * HD], Ws[HC * HD], bs[HC], tols[HC * HD];
    step_by_hand(W, b, blob_x, blob_y, lr, W1, b1, tol);
    double far = 0;
    for (int i = 0; i < HC * HD; i++) {
      if (!(fabs(after[s]->params[i] - W1[i]) <= tol[i]))
        fprintf(stderr, "step %d w[%d]: engine %.9g by hand %.9g (tol %.3g)\n", s + 1, i,
                after[s]->params[i], W1[i], tol[i]);
      assert_true(fabs(after[s]->params[i] - W1[i]) <= tol[i]);
    }
    for (int j = 0; j < HC; j++) assert_true(fabs(after[s]->params[HC * HD + j] - b1[j]) <= 1e-6);
    if (s == 1) { /* a stale copy (step 1's weights) would give another step */
      step_by_hand(m0.params, b, blob_x, blob_y, lr, Ws, bs, tols);
      for (int i = 0; i < HC * HD; i++) far = fmax(far, fabs(Ws[i] - W1[i]) / (tol[i] + tols[i]));
      assert_true(far > 10);
    }
  }
  assert_true(m2.pb_fresh);
  for (size_t i = 0; i < m2.n_params; i++)
    assert_true(hp_bf16_to_f32(m2.pb[i]) == (float)rnd16(m2.params[i]));
  hp_model_free(&m0), hp_model_free(&m1), hp_model_free(&m2);
  hp_train_config_free(&cfg);
}

/* The Winograd forward (3x3 conv, stride 1, pad 1, under a 2x2 max-pool)
 * in bf16 against the exact convolution in double. F(2x2, 3x3) multiplies
 * U = G g G^T by V = B^T d B elementwise and sums over channels, then
 * A^T M A; with U and V rounded to bf16 (relative error <= 2^-8 each) and
 * fp32 accumulation over c channels, each conv output z_ij moves by at most
 * (2^-7 + 2^-16 + gamma_c + transform slack) sum_rs |A_ri A_sj|
 * sum_c |U_c,rs V_c,rs| (U, V computed here in double); max-pool and bias
 * carry the bound over. The bf16 result also differs from the fp32 one
 * (the products really were rounded). */
static void test_wino_bf16(void **state) {
  (void)state;
  need_bf16();
  enum { WB = 3, WC = 16, WH = 8, WO = 8 };
  hp_conv_shape_t s = {.c = WC, .h = WH, .w = WH, .o = WO, .kh = 3, .kw = 3, .stride = 1,
                       .pad = 1, .pool = 2, .pstride = 2};
  assert_int_equal(hp_conv_shape_init(&s), 0);
  const size_t nx = (size_t)WB * WC * WH * WH, nw = (size_t)WO * WC * 9,
               ny = (size_t)WB * WO * s.pho * s.pwo;
  float *x = malloc(nx * sizeof *x), *W = malloc(nw * sizeof *W), b[WO];
  float *cols = malloc((hp_conv_cols_size(&s, WB) + 1) * sizeof(float));
  float *tmp = malloc((hp_conv_tmp_size(&s, WB) + 1) * sizeof(float));
  float *y16 = malloc(ny * sizeof *y16), *y32 = malloc(ny * sizeof *y32);
  int32_t *am = malloc(ny * sizeof *am);
  assert_true(x && W && cols && tmp && y16 && y32 && am);
  hp_rng_t r;
  hp_rng_seed(&r, 11);
  fill(&r, x, nx);
  fill(&r, W, nw);
  fill(&r, b, WO);
  const hp_act_t none = {HP_ACT_NONE, 0};
  hp_blas_set_bf16(true);
  hp_conv_forward(&s, x, W, b, cols, tmp, y16, am, WB, none);
  hp_blas_set_bf16(false);
  hp_conv_forward(&s, x, W, b, cols, tmp, y32, am, WB, none);
  static const double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
  static const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  const double gamma = WC * 0x1p-24 / (1 - WC * 0x1p-24);
  double worst = 0, moved = 0;
  for (int n = 0; n < WB; n++)
    for (int f = 0; f < WO; f++)
      for (int py = 0; py < s.pho; py++)
        for (int px = 0; px < s.pwo; px++) {
          double UV[4][4] = {{0}}, zmax = -INFINITY, bound = 0;
          for (int c = 0; c < WC; c++) {
            double d[4][4], g[3][3], u[4][4] = {{0}}, v[4][4] = {{0}}, t[4][3] = {{0}},
                                     e[4][4] = {{0}};
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 4; j++) {
                int iy = 2 * py - 1 + i, ix = 2 * px - 1 + j;
                d[i][j] = iy < 0 || iy >= WH || ix < 0 || ix >= WH
                              ? 0
                              : x[(((size_t)n * WC + c) * WH + iy) * WH + ix];
              }
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) g[i][j] = W[((size_t)f * WC + c) * 9 + i * 3 + j];
            for (int i = 0; i < 4; i++) /* u = G g G^T, v = B^T d B */
              for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++) t[i][j] += G[i][k] * g[k][j];
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 4; j++)
                for (int k = 0; k < 3; k++) u[i][j] += t[i][k] * G[j][k];
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 4; j++)
                for (int k = 0; k < 4; k++) e[i][j] += BT[i][k] * d[k][j];
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 4; j++)
                for (int k = 0; k < 4; k++) v[i][j] += e[i][k] * BT[j][k];
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 4; j++) UV[i][j] += fabs(u[i][j] * v[i][j]);
          }
          for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
              double z = 0, bij = 0; /* the exact convolution, and the bound */
              for (int c = 0; c < WC; c++)
                for (int ki = 0; ki < 3; ki++)
                  for (int kj = 0; kj < 3; kj++) {
                    int iy = 2 * py + i - 1 + ki, ix = 2 * px + j - 1 + kj;
                    if (iy < 0 || iy >= WH || ix < 0 || ix >= WH) continue;
                    z += (double)W[((size_t)f * WC + c) * 9 + ki * 3 + kj] *
                         x[(((size_t)n * WC + c) * WH + iy) * WH + ix];
                  }
              for (int rr = 0; rr < 4; rr++)
                for (int ss = 0; ss < 4; ss++) bij += fabs(AT[i][rr] * AT[j][ss]) * UV[rr][ss];
              zmax = fmax(zmax, z);
              bound = fmax(bound, (0x1p-7 + 0x1p-16 + gamma + 4e-6) * bij);
            }
          const size_t at = (((size_t)n * WO + f) * s.pho + py) * s.pwo + px;
          const double err = fabs(y16[at] - (zmax + b[f]));
          if (!(err <= bound))
            fprintf(stderr, "wino bf16 [%d,%d,%d,%d]: %.7g exact %.7g (bound %.3g)\n", n, f, py,
                    px, y16[at], zmax + b[f], bound);
          assert_true(err <= bound);
          worst = fmax(worst, err / bound);
          moved = fmax(moved, fabs(y16[at] - y32[at]) / (bound + 1e-30));
        }
  fprintf(stderr, "wino bf16: worst error %.3f of the bound; bf16 vs fp32 up to %.3f of it\n",
          worst, moved);
  assert_true(moved > 0.01); /* rounded, not fp32 */
  free(x), free(W), free(cols), free(tmp), free(y16), free(y32), free(am);
}

static void test_precision_config(void **state) {
  (void)state;
  const char *txt = "{\"layers\": [{\"type\": \"dense\", \"units\": 3}], \"precision\": \"fp16\"}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  hp_train_config_t cfg;
  assert_true(hp_train_config_parse(root, &cfg, &err) < 0);
  assert_non_null(strstr(err.msg, "precision: must be \"fp32\" or \"bf16\""));
  cJSON_Delete(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rounding),
      cmocka_unit_test(test_bf16_products),
      cmocka_unit_test(test_dnnl_fp32_products),
      cmocka_unit_test(test_backend_policy),
      cmocka_unit_test(test_no_bf16_cpu_error),
      cmocka_unit_test(test_bf16_training),
      cmocka_unit_test(test_bf16_steps_by_hand),
      cmocka_unit_test(test_gather_bf16),
      cmocka_unit_test(test_wino_bf16),
      cmocka_unit_test(test_precision_config),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  hp_dnnl_release();
  return rc;
}

/* Engine benchmark probe: the matrix products of one MLP training step
 * (batch 128, 784-512-256-10) exactly as engine/layer_dense.c issues them
 * (y = x W^T with W stored [out,in]; dW += dy^T x; dx = dy W; the first
 * layer's dx skipped), timed on one thread with
 *   openblas  hp_openblas_sgemm, the kernel hpsearch picks;
 *   onednn    oneDNN's f32 matmul (hp_dnnl_sgemm);
 *   bf16      oneDNN's bf16 matmul with fp32 accumulation (hp_gemm_bf16) on
 *             operands rounded once per step as the engine does (weights
 *             once, each layer's input once, each output gradient once),
 *             and the rounding itself timed apart (bf16_conv).
 * The three run in alternating rounds; medians and the spread (min-max)
 * over rounds are printed, with the step's FLOPs turned into the
 * products-bound limit of samples/s, and one Adam step for scale.
 * usage: bench_engine_sgemm [SECONDS_PER_ROUND=0.25] [ROUNDS=9]
 * Built by `make build/bench_engine_sgemm`; run by bench/engine.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/blas.h"
#include "hpsearch/optim.h"
#include "hpsearch/rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared machine wall-clock time counts the
 * time other processes held the core; CPU time much less (not the cache
 * and memory bandwidth they take). */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *rand_buf(hp_rng_t *r, size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) exit(1);
  for (size_t i = 0; i < n; i++) p[i] = (float)(hp_rng_uniform(r) - 0.5);
  return p;
}

static hp_bf16_t *bf_buf(size_t n) {
  hp_bf16_t *p = malloc(n * sizeof *p);
  if (!p) exit(1);
  return p;
}

enum { B = 128, NL = 3, OPENBLAS = 0, ONEDNN, BF16, CONV, NMODES };
static const char *const mode_name[NMODES] = {"openblas", "onednn", "bf16", "bf16_conv"};
static const int dims[NL + 1] = {784, 512, 256, 10};

typedef struct bufs {
  float *x[NL + 1], *w[NL], *dy[NL], *dw[NL], *dx[NL];
  hp_bf16_t *xb[NL], *wb[NL], *dyb[NL];
} bufs_t;

typedef void (*gemm_fn)(bool, bool, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

static void dnnl_f32(bool ta, bool tb, int M, int N, int K, float al, const float *A, int lda,
                     const float *Bm, int ldb, float be, float *C, int ldc) {
  if (!hp_dnnl_sgemm(ta, tb, M, N, K, al, A, lda, Bm, ldb, be, C, ldc)) exit(3);
}

/* One step's products in fp32 with `g`; returns the FLOPs. */
static double step_f32(bufs_t *b, gemm_fn g) {
  double flops = 0;
  for (int l = 0; l < NL; l++) { /* y[B,out] = x[B,in] W[out,in]^T */
    int in = dims[l], out = dims[l + 1];
    g(false, true, B, out, in, 1, b->x[l], in, b->w[l], in, 0, b->x[l + 1], out);
    flops += 2.0 * B * in * out;
  }
  for (int l = NL - 1; l >= 0; l--) {
    int in = dims[l], out = dims[l + 1];
    g(true, false, out, in, B, 1, b->dy[l], out, b->x[l], in, 1, b->dw[l], in);
    flops += 2.0 * B * in * out;
    if (l > 0) {
      g(false, false, B, in, out, 1, b->dy[l], out, b->w[l], in, 0, b->dx[l], in);
      flops += 2.0 * B * in * out;
    }
  }
  return flops;
}

/* The same in bf16 on already rounded operands. */
static void step_bf16(bufs_t *b) {
  for (int l = 0; l < NL; l++) {
    int in = dims[l], out = dims[l + 1];
    hp_gemm_bf16(false, true, B, out, in, 1, b->xb[l], in, b->wb[l], in, 0, b->x[l + 1], out);
  }
  for (int l = NL - 1; l >= 0; l--) {
    int in = dims[l], out = dims[l + 1];
    hp_gemm_bf16(true, false, out, in, B, 1, b->dyb[l], out, b->xb[l], in, 1, b->dw[l], in);
    if (l > 0)
      hp_gemm_bf16(false, false, B, in, out, 1, b->dyb[l], out, b->wb[l], in, 0, b->dx[l], in);
  }
}

/* The engine's roundings of one step: weights once, inputs, gradients. */
static void step_conv(bufs_t *b) {
  for (int l = 0; l < NL; l++) {
    int in = dims[l], out = dims[l + 1];
    hp_bf16_from_f32(b->w[l], b->wb[l], (size_t)in * out);
    hp_bf16_from_f32(b->x[l], b->xb[l], (size_t)B * in);
    hp_bf16_from_f32(b->dy[l], b->dyb[l], (size_t)B * out);
  }
}

static double run(int mode, bufs_t *b, double secs, double *cpu_per_step) {
  int reps = 0;
  double t0 = now(), c0 = cpu_now(), t;
  do {
    if (mode == OPENBLAS) step_f32(b, hp_openblas_sgemm);
    else if (mode == ONEDNN) step_f32(b, dnnl_f32);
    else if (mode == BF16) step_bf16(b);
    else step_conv(b);
    reps++;
    t = now() - t0;
  } while (t < secs);
  if (cpu_per_step) *cpu_per_step = (cpu_now() - c0) / reps;
  return t / reps; /* seconds per step */
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  double secs = argc > 1 ? atof(argv[1]) : 0.25;
  int rounds = argc > 2 ? atoi(argv[2]) : 9;
  if (rounds < 1 || rounds > 1000) rounds = 9;
  hp_err_t err = {0};
  bool have_dnnl = hp_dnnl_check(false, &err) == 0;
  bool have_bf16 = have_dnnl && hp_cpu_has_bf16();
  hp_rng_t r;
  hp_rng_seed(&r, 1);
  bufs_t b;
  size_t n_params = 0;
  for (int l = 0; l <= NL; l++) b.x[l] = rand_buf(&r, (size_t)B * dims[l]);
  for (int l = 0; l < NL; l++) {
    size_t nw = (size_t)dims[l] * dims[l + 1];
    b.w[l] = rand_buf(&r, nw), b.dw[l] = rand_buf(&r, nw);
    b.dy[l] = rand_buf(&r, (size_t)B * dims[l + 1]);
    b.dx[l] = rand_buf(&r, (size_t)B * dims[l]);
    b.xb[l] = bf_buf((size_t)B * dims[l]), b.wb[l] = bf_buf(nw);
    b.dyb[l] = bf_buf((size_t)B * dims[l + 1]);
    n_params += nw + dims[l + 1];
  }
  step_conv(&b);
  const double flops = step_f32(&b, hp_openblas_sgemm);
  double *t[NMODES], *c[NMODES];
  for (int m = 0; m < NMODES; m++)
    t[m] = calloc((size_t)rounds, sizeof *t[m]), c[m] = calloc((size_t)rounds, sizeof *c[m]);
  bool on[NMODES] = {true, have_dnnl, have_bf16, have_bf16};
  for (int m = 0; m < NMODES; m++) /* warm up (and create the primitives) */
    if (on[m]) run(m, &b, secs / 4, NULL);
  for (int k = 0; k < rounds; k++) /* alternate: a load change hits every mode */
    for (int m = 0; m < NMODES; m++)
      if (on[m]) t[m][k] = run(m, &b, secs, &c[m][k]);

  /* one Adam step over the MLP's parameters */
  hp_optim_config_t oc;
  hp_optim_config_default(&oc, HP_OPTIM_ADAM);
  hp_optim_t *opt = NULL;
  float *p = rand_buf(&r, n_params), *g = rand_buf(&r, n_params);
  if (hp_optim_create(&oc, n_params, NULL, 0, 1, &opt, &err) != 0) return 1;
  int areps = 0;
  double t0 = now(), ta;
  do {
    hp_optim_step(opt, p, g, n_params);
    areps++;
    ta = now() - t0;
  } while (ta < secs);

  const char *why = NULL;
  hp_gemm_backend(&why);
  printf("core=%s origin=\"%s\" onednn=%s fp32_backend=%s why=\"%s\" cpu_bf16=%d "
         "mflop_per_sample=%.3f adam_ms_per_step=%.3f params=%zu rounds=%d",
         hp_blas_corename(), hp_blas_kernel_origin(), hp_dnnl_version(),
         hp_gemm_backend(NULL) == HP_GEMM_ONEDNN ? "onednn" : "openblas", why,
         hp_cpu_has_bf16(), flops / B / 1e6, ta / areps * 1e3, n_params, rounds);
  for (int m = 0; m < NMODES; m++) {
    if (!on[m]) continue;
    qsort(t[m], (size_t)rounds, sizeof *t[m], cmp);
    qsort(c[m], (size_t)rounds, sizeof *c[m], cmp);
    double med = t[m][rounds / 2], lo = t[m][0], hi = t[m][rounds - 1];
    double cmed = c[m][rounds / 2], clo = c[m][0], chi = c[m][rounds - 1];
    printf(" %s_ms=%.3f %s_ms_min=%.3f %s_ms_max=%.3f %s_cpu_ms=%.3f %s_cpu_ms_min=%.3f "
           "%s_cpu_ms_max=%.3f",
           mode_name[m], med * 1e3, mode_name[m], lo * 1e3, mode_name[m], hi * 1e3,
           mode_name[m], cmed * 1e3, mode_name[m], clo * 1e3, mode_name[m], chi * 1e3);
    if (m != CONV)
      printf(" %s_gflops=%.1f %s_limit=%.0f %s_gflops_cpu=%.1f %s_limit_cpu=%.0f", mode_name[m],
             flops / med / 1e9, mode_name[m], B / med, mode_name[m], flops / cmed / 1e9,
             mode_name[m], B / cmed);
  }
  if (have_dnnl)
    printf(" impl_f32=\"%s\" impl_bf16=\"%s\"", hp_dnnl_impl(false, false, true, B, 512, 784),
           hp_dnnl_impl(true, false, true, B, 512, 784));
  printf("\n");
  hp_optim_free(opt);
  free(p), free(g);
  for (int m = 0; m < NMODES; m++) free(t[m]), free(c[m]);
  return 0;
}

/* Engine benchmark probe: how fast does OpenBLAS sgemm run the matrix
 * products of one MLP training step (batch 128, 784-512-256-10), with the
 * kernel hpsearch itself would pick, on one thread? That rate over the
 * step's FLOPs is the sgemm-bound limit of the MLP's samples/s. Also times
 * one Adam step over the MLP's parameters for comparison.
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

/* CPU time of this process: on a shared machine the wall-clock rate drops
 * when other processes get the core, the rate per CPU second much less. */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *rand_buf(hp_rng_t *r, size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) exit(1);
  for (size_t i = 0; i < n; i++) p[i] = (float)(hp_rng_uniform(r) - 0.5);
  return p;
}

enum { B = 128, NL = 3 };
static const int dims[NL + 1] = {784, 512, 256, 10};

/* The products of one forward + backward step; returns its FLOPs. */
static double step(float **x, float **w, float **dy, float **dw, float **dx) {
  double flops = 0;
  for (int l = 0; l < NL; l++) { /* forward: Y[B,out] = X[B,in] W[in,out] */
    hp_sgemm(false, false, B, dims[l + 1], dims[l], 1, x[l], dims[l], w[l], dims[l + 1], 0,
             x[l + 1], dims[l + 1]);
    flops += 2.0 * B * dims[l] * dims[l + 1];
  }
  for (int l = NL - 1; l >= 0; l--) { /* dW[in,out] = X^T dY; dX[B,in] = dY W^T */
    hp_sgemm(true, false, dims[l], dims[l + 1], B, 1, x[l], dims[l], dy[l], dims[l + 1], 0,
             dw[l], dims[l + 1]);
    flops += 2.0 * B * dims[l] * dims[l + 1];
    if (l > 0) { /* the input layer needs no dX */
      hp_sgemm(false, true, B, dims[l], dims[l + 1], 1, dy[l], dims[l + 1], w[l], dims[l + 1],
               0, dx[l], dims[l]);
      flops += 2.0 * B * dims[l] * dims[l + 1];
    }
  }
  return flops;
}

int main(int argc, char **argv) {
  (void)argc;
  hp_blas_ensure_fast_kernel(argv);
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  hp_rng_t r;
  hp_rng_seed(&r, 1);
  float *x[NL + 1], *w[NL], *dy[NL], *dw[NL], *dx[NL];
  size_t n_params = 0;
  for (int l = 0; l <= NL; l++) x[l] = rand_buf(&r, (size_t)B * dims[l]);
  for (int l = 0; l < NL; l++) {
    w[l] = rand_buf(&r, (size_t)dims[l] * dims[l + 1]);
    dw[l] = rand_buf(&r, (size_t)dims[l] * dims[l + 1]);
    dy[l] = rand_buf(&r, (size_t)B * dims[l + 1]);
    dx[l] = rand_buf(&r, (size_t)B * dims[l]);
    n_params += (size_t)dims[l] * dims[l + 1] + dims[l + 1];
  }
  double flops_step = 0;
  for (int i = 0; i < 20; i++) flops_step = step(x, w, dy, dw, dx); /* warm up */
  int reps = 0;
  double t0 = now(), c0 = cpu_now(), t;
  do {
    step(x, w, dy, dw, dx);
    reps++;
    t = now() - t0;
  } while (t < secs);
  double gflops = flops_step * reps / t / 1e9;
  double gflops_cpu = flops_step * reps / (cpu_now() - c0) / 1e9;
  double per_sample = flops_step / B;

  /* one Adam step over the MLP's parameters */
  hp_optim_config_t oc;
  hp_optim_config_default(&oc, HP_OPTIM_ADAM);
  hp_optim_t *opt = NULL;
  hp_err_t err = {0};
  float *p = rand_buf(&r, n_params), *g = rand_buf(&r, n_params);
  if (hp_optim_create(&oc, n_params, NULL, 0, 1, &opt, &err) != 0) return 1;
  for (int i = 0; i < 20; i++) hp_optim_step(opt, p, g, n_params);
  int areps = 0;
  t0 = now();
  do {
    hp_optim_step(opt, p, g, n_params);
    areps++;
    t = now() - t0;
  } while (t < secs / 4);
  double adam_ms = t / areps * 1e3;

  printf("core=%s origin=\"%s\" gflops=%.1f gflops_cpu=%.1f mflop_per_sample=%.3f "
         "limit=%.0f limit_cpu=%.0f sgemm_ms_per_step=%.3f adam_ms_per_step=%.3f params=%zu\n",
         hp_blas_corename(), hp_blas_kernel_origin(), gflops, gflops_cpu, per_sample / 1e6,
         gflops * 1e9 / per_sample, gflops_cpu * 1e9 / per_sample,
         flops_step / (gflops * 1e9) * 1e3, adam_ms, n_params);
  hp_optim_free(opt);
  free(p), free(g);
  for (int l = 0; l <= NL; l++) free(x[l]);
  for (int l = 0; l < NL; l++) free(w[l]), free(dw[l]), free(dy[l]), free(dx[l]);
  return 0;
}

/* Engine benchmark probe: one training step of a config (default
 * examples/train-mlp.json) on its real data, timed phase by phase in thread
 * CPU time, in three variants that run in alternating rounds in one process
 * (so a change of the machine's load hits all of them):
 *   fp32        the engine's step: gather, forward, loss + backward, the
 *               optimizer step
 *   bf16        the engine's bf16 step: the batch gathered straight into
 *               bf16 (dense first layer), the optimizer step also writing
 *               the bf16 copy of the weights in its pass
 *   bf16-split  the bf16 step without those two fusions: gather in fp32,
 *               the forward pass rounds the batch and the weights, the
 *               plain optimizer step
 * Each variant trains its own model (same seed). Prints, per variant, the
 * median and spread (min-max) over rounds of CPU ms per step, each phase's
 * median, and samples per CPU second; then the ratios.
 * usage: bench_engine_step [CONFIG] [STEPS_PER_ROUND=40] [ROUNDS=15]
 * Built by `make build/bench_engine_step`; run by bench/engine.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/blas.h"
#include "hpsearch/engine.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { FP32, BF16, BF16_SPLIT, NV };
enum { GATHER, FORWARD, BACKWARD, OPTIM, NP };
static const char *const vname[NV] = {"fp32", "bf16", "bf16-split"};
static const char *const pname[NP] = {"gather", "forward", "backward", "optim"};

typedef struct variant {
  hp_model_t m;
  hp_optim_t *opt;
  double *total, *phase[NP]; /* [rounds] seconds per step */
} variant_t;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  const char *path = argc > 1 ? argv[1] : "examples/train-mlp.json";
  int steps = argc > 2 ? atoi(argv[2]) : 40, rounds = argc > 3 ? atoi(argv[3]) : 15;
  if (steps < 1) steps = 40;
  if (rounds < 1 || rounds > 1000) rounds = 15;
  hp_err_t err = {0};
  hp_train_config_t cfg;
  hp_data_t data;
  memset(&data, 0, sizeof data);
  if (hp_train_config_load(path, NULL, 0, &cfg, &err) != 0 ||
      hp_data_open(&cfg.data, &data, &err) != 0) {
    fprintf(stderr, "bench_engine_step: %s\n", err.msg);
    return 2;
  }
  const bool have_bf16 = hp_dnnl_check(true, &err) == 0;
  hp_blas_set_ftz();
  hp_blas_set_threads(1);
  hp_dnnl_set_threads(1);
  const hp_dataset_t *ds = &data.train;
  const int B = cfg.batch_size;
  const uint32_t n_train = data.split.n_train;
  float *xbuf = malloc((size_t)B * ds->d * sizeof *xbuf);
  int32_t *ybuf = malloc((size_t)B * sizeof *ybuf);
  uint32_t *order = malloc((size_t)n_train * sizeof *order);
  memcpy(order, data.split.train, (size_t)n_train * sizeof *order);
  hp_rng_t rng;
  hp_rng_seed(&rng, 7);
  hp_rng_shuffle_u32(&rng, order, n_train);
  variant_t v[NV];
  memset(v, 0, sizeof v);
  for (int k = 0; k < NV; k++) {
    if ((k == BF16 || k == BF16_SPLIT) && !have_bf16) continue;
    if (hp_model_create(&v[k].m, cfg.layers, cfg.n_layers, (int)ds->c, (int)ds->h, (int)ds->w,
                        (int)ds->n_classes, B, cfg.loss, &err) != 0 ||
        hp_optim_create(&cfg.optim, v[k].m.n_params, v[k].m.decay, (size_t)v[k].m.n_decay, 1,
                        &v[k].opt, &err) != 0 ||
        ((k == BF16 || k == BF16_SPLIT) && hp_model_set_bf16(&v[k].m, true, &err) != 0)) {
      fprintf(stderr, "bench_engine_step: %s\n", err.msg);
      return 2;
    }
    hp_model_init(&v[k].m, &cfg.init, cfg.seed);
    v[k].total = calloc((size_t)rounds, sizeof(double));
    for (int p = 0; p < NP; p++) v[k].phase[p] = calloc((size_t)rounds, sizeof(double));
  }
  uint32_t at = 0;
  for (int r = -1; r < rounds; r++) { /* round -1 warms up (primitives, pages) */
    for (int k = 0; k < NV; k++) {
      hp_model_t *m = &v[k].m;
      if (m->params == NULL) continue;
      const bool split = k == BF16_SPLIT;
      hp_bf16_t *xin = split ? NULL : hp_model_input_bf16(m);
      double ph[NP] = {0}, t0 = cpu_now();
      for (int s = 0; s < steps; s++) {
        if (at + (uint32_t)B > n_train) at = 0;
        double a = cpu_now();
        if (xin != NULL) hp_data_gather_bf16(ds, order + at, (uint32_t)B, xin, ybuf);
        else hp_data_gather(ds, order + at, (uint32_t)B, xbuf, ybuf);
        double b = cpu_now();
        if (xin != NULL) hp_model_forward_rounded(m, B, true);
        else hp_model_forward(m, xbuf, B, true);
        double c = cpu_now();
        hp_model_loss_backward(m, ybuf, B, true, NULL);
        double d = cpu_now();
        if (split) {
          hp_optim_step(v[k].opt, m->params, m->grads, m->n_params);
          hp_model_params_changed(m);
        } else {
          hp_optim_step_fused(v[k].opt, m->params, m->grads, m->n_params, m->bf16 ? m->pb : NULL);
          m->pb_fresh = m->bf16;
        }
        double e = cpu_now();
        ph[GATHER] += b - a, ph[FORWARD] += c - b, ph[BACKWARD] += d - c, ph[OPTIM] += e - d;
        at += (uint32_t)B;
      }
      if (r < 0) continue;
      v[k].total[r] = (cpu_now() - t0) / steps;
      for (int p = 0; p < NP; p++) v[k].phase[p][r] = ph[p] / steps;
    }
  }
  double med[NV] = {0};
  printf("engine step probe: %s, batch %d, %d steps x %d alternating rounds, thread CPU ms per "
         "step (median [min-max]) and its phases' medians\n",
         path, B, steps, rounds);
  for (int k = 0; k < NV; k++) {
    if (v[k].total == NULL) continue;
    med[k] = median(v[k].total, rounds);
    printf("  %-10s %7.3f [%.3f-%.3f] ms  %8.0f samples/CPU s  ", vname[k], med[k] * 1e3,
           v[k].total[0] * 1e3, v[k].total[rounds - 1] * 1e3, B / med[k]);
    for (int p = 0; p < NP; p++) printf(" %s %.3f", pname[p], median(v[k].phase[p], rounds) * 1e3);
    printf("\n");
  }
  if (med[BF16] > 0)
    printf("  bf16 / fp32 %.2fx per CPU s; bf16 fused / split %.2fx\n", med[FP32] / med[BF16],
           med[BF16_SPLIT] / med[BF16]);
  for (int k = 0; k < NV; k++) {
    hp_model_free(&v[k].m);
    hp_optim_free(v[k].opt);
    free(v[k].total);
    for (int p = 0; p < NP; p++) free(v[k].phase[p]);
  }
  free(xbuf), free(ybuf), free(order);
  hp_data_close(&data);
  hp_train_config_free(&cfg);
  return 0;
}

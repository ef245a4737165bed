/* Optimizers of the engine, exactly as Goodfellow, Bengio & Courville,
 * Deep Learning, Algorithms 8.1 (SGD), 8.2 (momentum), 8.3 (Nesterov),
 * 8.4 (AdaGrad), 8.5 (RMSProp) and 8.7 (Adam) write them, with a learning-rate
 * schedule, L2 weight decay on selected parameter ranges, and gradient
 * clipping by global norm or by value. One step is one pass over the flat
 * parameter and gradient arrays; all optimizer state lives in one buffer.
 * Formulas and defaults: docs/engine-optim-data.md.
 *
 * Ownership: hp_optim_create allocates the optimizer (and its state buffer);
 * hp_optim_free releases it. params/grads stay owned by the caller. */
#ifndef HPSEARCH_OPTIM_H
#define HPSEARCH_OPTIM_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "hpsearch/blas.h"
#include "hpsearch/err.h"

typedef enum hp_optim_kind {
  HP_OPTIM_SGD = 0,  /* "sgd"      8.1: theta -= eps*g */
  HP_OPTIM_MOMENTUM, /* "momentum" 8.2: v = alpha*v - eps*g; theta += v */
  HP_OPTIM_NESTEROV, /* "nesterov" 8.3, gradient at theta + alpha*v (see below) */
  HP_OPTIM_ADAGRAD,  /* "adagrad"  8.4: r += g*g; theta -= eps/(delta+sqrt(r))*g */
  HP_OPTIM_RMSPROP,  /* "rmsprop"  8.5: r = rho*r+(1-rho)g*g; theta -= eps/sqrt(delta+r)*g */
  HP_OPTIM_ADAM,     /* "adam"     8.7, both bias corrections */
  HP_OPTIM_COUNT_
} hp_optim_kind_t;

typedef enum hp_sched_kind {
  HP_SCHED_CONSTANT = 0, /* "constant":    eps_k = eps0 */
  HP_SCHED_LINEAR,       /* "linear":      eps_k = (1-k/tau) eps0 + (k/tau) eps_tau, k < tau;
                                           eps_tau after */
  HP_SCHED_STEP,         /* "step":        eps_k = eps0 * gamma^floor(k/step_size) */
  HP_SCHED_EXPONENTIAL,  /* "exponential": eps_k = eps0 * gamma^k */
  HP_SCHED_COSINE,       /* "cosine":      eps_k = eps_tau + (eps0-eps_tau)(1+cos(pi k/tau))/2,
                                           k < tau; eps_tau after */
  HP_SCHED_COUNT_
} hp_sched_kind_t;

/* Learning-rate schedule. k counts optimizer steps from 0 (the first update
 * uses eps_0). With "unit": "epoch", steps/step_size/warmup are given in
 * epochs and k is the epoch number floor(step/steps_per_epoch). Warm-up: for
 * k < warmup, eps_k = eps0 * (k+1)/warmup (linear ramp reaching eps0); after
 * it, the schedule runs on k - warmup. */
typedef struct hp_schedule {
  hp_sched_kind_t kind;  /* "type" */
  double end_lr;         /* eps_tau ("end_lr"), default eps0/100 (linear, cosine) */
  int64_t steps;         /* tau ("steps") for linear/cosine; 0 = the whole run after
                            the warm-up, set by hp_schedule_fit_run */
  int64_t step_size;     /* "step_size" (step schedule), > 0 */
  double gamma;          /* "gamma" (step, exponential), in (0,1], default 0.1 / 0.99 */
  int64_t warmup;        /* "warmup" steps (0 = none) */
  int per_epoch;         /* "unit": "step" (0, default) | "epoch" (1) */
  int end_lr_set;        /* private: end_lr given explicitly */
} hp_schedule_t;

/* The "optimizer" object of a training config. Field names (JSON):
 *   "type": "sgd" | "momentum" | "nesterov" | "adagrad" | "rmsprop" | "adam"
 *   "lr": eps0 > 0 (defaults: sgd/momentum/nesterov 0.01, adagrad 0.01,
 *         rmsprop 0.001, adam 0.001)
 *   "momentum": alpha in [0,1) (momentum/nesterov, default 0.9)
 *   "rho": in [0,1) (rmsprop, default 0.9)
 *   "beta1", "beta2": rho1, rho2 in [0,1) (adam, default 0.9, 0.999)
 *   "delta": > 0 (adagrad 1e-7, rmsprop 1e-6, adam 1e-8)
 *   "weight_decay": lambda >= 0 (adds lambda*theta to g on decayed ranges)
 *   "clip_norm": > 0 (rescale g when ||g||_2 over all params exceeds it)
 *   "clip_value": > 0 (clamp each g_i to [-c, c])
 *   "schedule": {"type": ..., "end_lr", "steps", "step_size", "gamma",
 *                "warmup", "unit"}
 * A key that does not apply to the type (e.g. "rho" for adam) is an error. */
typedef struct hp_optim_config {
  hp_optim_kind_t kind;
  double lr;           /* eps0 */
  double momentum;     /* alpha */
  double rho;          /* RMSProp decay */
  double beta1, beta2; /* Adam rho1, rho2 */
  double delta;        /* numerical stabiliser */
  double weight_decay; /* lambda */
  double clip_norm;    /* 0 = off */
  double clip_value;   /* 0 = off */
  hp_schedule_t sched;
} hp_optim_config_t;

/* kind with its book defaults, constant schedule, no decay, no clipping. */
void hp_optim_config_default(hp_optim_config_t *cfg, hp_optim_kind_t kind);
/* Parses the "optimizer" object (type defaults to "adam"); errors name the
 * field ("optimizer.beta1: must be in [0, 1), got 1"). */
int hp_optim_config_parse(const cJSON *obj, hp_optim_config_t *cfg, const char *where,
                          hp_err_t *err);
/* Checks ranges of an already filled config (parse calls it). */
int hp_optim_config_check(const hp_optim_config_t *cfg, const char *where, hp_err_t *err);
const char *hp_optim_name(hp_optim_kind_t kind);

/* Learning rate of the schedule at step k (0-based) for base rate lr0;
 * steps_per_epoch is used when sched->per_epoch. Pure function. */
double hp_schedule_lr(const hp_schedule_t *sched, double lr0, int64_t k,
                      int64_t steps_per_epoch);
/* Gives a linear or cosine schedule without "steps" its length: the run's
 * epochs (unit "epoch") or epochs * steps_per_epoch optimizer steps, minus
 * the warm-up, at least 1. Other schedules and explicit lengths unchanged. */
void hp_schedule_fit_run(hp_schedule_t *sched, int64_t epochs, int64_t steps_per_epoch);
/* Parses a "schedule" value (a name such as "constant", or an object) into
 * *sched, which holds the defaults (constant, no warm-up). */
int hp_schedule_parse(const cJSON *item, hp_schedule_t *sched, const char *where,
                      hp_err_t *err);

typedef struct hp_optim hp_optim_t;

/* A parameter range [offset, offset+count) of the flat parameter array. */
typedef struct hp_param_range {
  size_t offset;
  size_t count;
} hp_param_range_t;

/* Creates an optimizer for n parameters with its state buffer zeroed.
 * decay[0..n_decay) lists the ranges that get weight decay (weights; the
 * model leaves out biases and batch-norm scale/shift); ranges must be inside
 * [0,n) and may come in any order (overlaps are merged). n_decay == 0 means
 * no parameter is decayed. steps_per_epoch (> 0) is only used by a schedule
 * in epochs. The config is copied. */
int hp_optim_create(const hp_optim_config_t *cfg, size_t n, const hp_param_range_t *decay,
                    size_t n_decay, int64_t steps_per_epoch, hp_optim_t **out, hp_err_t *err);
void hp_optim_free(hp_optim_t *opt);

/* One update of params[0..n) from grads[0..n) (n must equal the n given at
 * create; asserted). In order: clip by global norm (norm over all n entries),
 * clip by value, add weight decay lambda*theta on the decay ranges, then the
 * algorithm's update with eps from the schedule. Clipping and decay are
 * applied on the fly: grads is only read (the caller zeroes it before the
 * next backward as usual).
 *
 * Nesterov: the stored params are the look-ahead point phi = theta + alpha*v
 * (change of variables), so the caller computes the gradient at the stored
 * params as usual with one forward/backward: phi <- phi + alpha*v' - eps*g,
 * v' = alpha*v - eps*g. These iterates equal Algorithm 8.3's theta_k + alpha v_k. */
void hp_optim_step(hp_optim_t *opt, float *params, float *grads, size_t n);
/* hp_optim_step, and in the same pass over memory, when params_bf16 is not
 * NULL: params_bf16[i] = the updated params[i] rounded to bf16 (the copy
 * bf16 products read, made once per step) — Adam with AVX512_BF16 stores it
 * from the register, the others round each block while it is in the
 * cache. The update itself is hp_optim_step's, bit for bit. */
void hp_optim_step_fused(hp_optim_t *opt, float *params, float *grads, size_t n,
                         hp_bf16_t *params_bf16);

/* Steps taken so far (k of the next step). */
int64_t hp_optim_steps(const hp_optim_t *opt);
/* Learning rate the next step will use. */
double hp_optim_lr(const hp_optim_t *opt);
/* Learning rate the last step used (NaN before the first step). */
double hp_optim_last_lr(const hp_optim_t *opt);
/* Global L2 norm of the gradient of the last step before clipping (0 before
 * the first step; computed only when clip_norm is on, else -1). */
double hp_optim_last_grad_norm(const hp_optim_t *opt);
/* The optimizer's diagonal preconditioner at its current state and the
 * stability bound that goes with it (curvature diagnostics). Near a minimum
 * with Hessian H, the update is theta <- theta - lr * D (H theta) (plus
 * momentum), with d[i] = 1 for SGD, momentum and Nesterov,
 * 1/(delta + sqrt r_i) for AdaGrad, 1/sqrt(delta + r_i) for RMSProp and
 * 1/(sqrt(r_i / (1 - rho2^t)) + delta) for Adam (its second moments frozen).
 * The iteration is stable while lr * lambda_max(D H) stays below *bound:
 * 2 without momentum, 2 + 2a for momentum a (heavy ball), (2 + 2a)/(1 + 2a)
 * for Nesterov, (2 + 2 rho1)/(1 - rho1) for Adam (38 at rho1 = 0.9; Cohen et
 * al. 2022, "Adaptive gradient methods at the edge of stability").
 * Writes d[0..n) when d is not NULL (n as at create); returns true when the
 * preconditioner is adaptive (not all ones). Before the first step an
 * adaptive optimizer's state is zero: d is then 1/delta (huge), so callers
 * should diagnose only after training steps. */
bool hp_optim_precond(const hp_optim_t *opt, float *d, size_t n, double *bound);
/* The weight decay the optimizer adds to the gradient on `decay` ranges. */
double hp_optim_weight_decay(const hp_optim_t *opt);

/* The state buffer (size in floats written to *n_state; 0 for SGD), e.g. for
 * checkpointing or tests: momentum/nesterov v[n]; adagrad/rmsprop r[n];
 * adam s[n] then r[n]. */
float *hp_optim_state(hp_optim_t *opt, size_t *n_state);

#endif

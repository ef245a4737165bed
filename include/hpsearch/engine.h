/* The embedded training engine: a network described in JSON, built into a
 * model whose parameters, gradients and optimizer state each live in ONE
 * contiguous buffer, and a training loop that reports every epoch through a
 * callback (the daemon's worker turns those reports into a trial's
 * intermediate values and may ask to stop, e.g. to prune).
 *
 * Typical use:
 *   hp_train_config_t cfg;
 *   hp_train_config_load("net.json", sets, n_sets, &cfg, &err);
 *   hp_train_result_t res;
 *   hp_train_run(&cfg, on_epoch, user, &res, &err);  // opens cfg.data
 *   hp_train_config_free(&cfg);
 *
 * Layer kernels are in hpsearch/layers.h, matrix products in hpsearch/blas.h,
 * data sets in hpsearch/data.h, initializers in hpsearch/init.h, optimizers
 * and schedules in hpsearch/optim.h. Config format: docs/engine.md. */
#ifndef HPSEARCH_ENGINE_H
#define HPSEARCH_ENGINE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/curvature.h"
#include "hpsearch/data.h"
#include "hpsearch/err.h"
#include "hpsearch/init.h"
#include "hpsearch/layers.h"
#include "hpsearch/optim.h"
#include "hpsearch/rng.h"

/* ---- network description ---------------------------------------------- */

typedef enum hp_layer_kind {
  HP_LAYER_DENSE = 0,  /* fully connected: units */
  HP_LAYER_CONV2D,     /* filters, kernel, stride, padding */
  HP_LAYER_MAXPOOL,    /* size, stride (default = size) */
  HP_LAYER_FLATTEN,    /* [c,h,w] -> [c*h*w] (no copy) */
  HP_LAYER_ACTIVATION, /* relu, leaky_relu, tanh, sigmoid */
  HP_LAYER_BATCHNORM,  /* per feature (after dense) or per channel (after conv) */
  HP_LAYER_DROPOUT,    /* rate */
  HP_LAYER_KIND_COUNT_
} hp_layer_kind_t;

/* One layer as the config describes it (after shorthands are expanded). */
typedef struct hp_layer_spec {
  hp_layer_kind_t kind; /* which layer */
  int units;            /* dense: output units */
  int filters;          /* conv2d: output channels */
  int kernel;           /* conv2d: square kernel size; maxpool: window size */
  int stride;           /* conv2d (default 1) and maxpool (default = kernel) */
  int padding;          /* conv2d: zero padding on each side (default 0) */
  hp_act_t act;         /* activation layer: the function; dense/conv2d: a fused
                           activation written as "activation": "relu" */
  float rate;           /* dropout: probability of dropping a unit, [0, 1) */
  float momentum;       /* batchnorm: running-estimate momentum (default 0.1) */
  float eps;            /* batchnorm: variance epsilon (default 1e-5) */
  int pool, pool_stride; /* conv2d: a following maxpool that hp_model_create fused
                           into it (0: none); never set by the config */
  bool has_init;        /* dense/conv2d: init overrides the global initializer */
  hp_init_t init;       /* dense/conv2d weights' initializer when has_init */
  char where[48];       /* config position for error messages ("layers[3]") */
} hp_layer_spec_t;

typedef enum hp_loss_kind {
  HP_LOSS_SOFTMAX_CE = 0, /* "softmax_cross_entropy" (alias "cross_entropy") */
  HP_LOSS_MSE,            /* "mse": against one-hot targets */
} hp_loss_kind_t;

/* Everything a training run is configured by (parsed, validated, owning no
 * pointers into the JSON tree). */
typedef struct hp_train_config {
  hp_layer_spec_t *layers; /* [n_layers], owned */
  int n_layers;
  hp_init_t init;          /* "initializer": global weight initializer */
  hp_optim_config_t optim; /* "optimizer": parsed by hp_optim_config_parse */
  hp_loss_kind_t loss;     /* "loss" */
  int batch_size;          /* "batch_size" (default 128) */
  int epochs;              /* "epochs" (default 10) */
  uint64_t seed;           /* "seed" (default 0): initialization, shuffling, dropout */
  int threads;             /* "threads": BLAS threads (default 1) */
  int patience;            /* "early_stopping.patience": epochs without improvement
                              (0 = no early stopping) */
  double min_delta;        /* "early_stopping.min_delta" (default 0) */
  bool monitor_accuracy;   /* "early_stopping.monitor": "val_accuracy" (else "val_loss") */
  uint32_t limit;          /* "data.limit": use only the first N training samples
                              (0 = all; for smoke tests) */
  hp_data_config_t data;   /* "data": parsed by hp_data_config_parse */
  hp_curv_config_t curv;   /* "diagnostics": curvature diagnostics (off by default) */
  bool bf16;               /* "precision": "bf16" (default "fp32") */
} hp_train_config_t;

/* Validates and converts a config tree. Errors name the field and why
 * ("layers[3].units: must be > 0"). Shapes that need the data's input size
 * are checked again by hp_model_create. On failure *cfg needs no free. */
int hp_train_config_parse(const cJSON *root, hp_train_config_t *cfg, hp_err_t *err);
/* Reads a JSON file, applies "key=value" overrides (hp_config_set) in order,
 * then parses it. */
int hp_train_config_load(const char *path, const char *const *sets, int n_sets,
                         hp_train_config_t *cfg, hp_err_t *err);
void hp_train_config_free(hp_train_config_t *cfg);

/* Edits a JSON tree by a dotted path: "optimizer.lr=0.01", "epochs=1",
 * "layers[0].units=128". The value is parsed as JSON when it is valid JSON
 * (numbers, true/false/null, arrays, objects, quoted strings), otherwise
 * taken as a string. A missing last key of an object is added (the config
 * check then rejects it if unknown); indexing past an array's end or
 * through a non-container fails naming the path. */
int hp_config_set(cJSON *root, const char *assignment, hp_err_t *err);

/* ---- the model -------------------------------------------------------- */

/* One built layer: its spec, shapes and where its data lives. */
typedef struct hp_layer {
  hp_layer_spec_t spec;  /* as configured; act and pool may be fused from the next
                            layers */
  int in_c, in_h, in_w;  /* input shape per sample */
  int out_c, out_h, out_w;
  size_t in_size, out_size; /* floats per sample */
  size_t p_off, p_len;   /* this layer's parameters in model->params */
  size_t w_len;          /* the first w_len of them are weights (decayed) */
  size_t s_off;          /* batchnorm: running mean, then variance, in model->state */
  hp_conv_shape_t conv;  /* conv2d geometry */
  float *out;            /* [batch, out_size] output buffer (NULL: output aliases input) */
  float *aux;            /* conv: patches of one chunk; batchnorm: xhat; dropout: mask */
  float *aux2;           /* conv: product of one chunk; batchnorm: invstd [c] */
  int32_t *argmax;       /* maxpool (or conv with fused pool) winners [batch, out_size] */
  const float *x;        /* runtime: input of the last forward pass */
  const float *y;        /* runtime: output of the last forward pass */
  hp_bf16_t *xb;         /* bf16 dense: the input rounded to bf16 [batch, in_size] */
  hp_bf16_t *wb;         /* bf16 dense: the weights rounded to bf16 [w_len] (in the
                            model's pb) */
} hp_layer_t;

typedef struct hp_model {
  hp_layer_t *layers;    /* [n_layers], after fusing activations into dense/conv
                            and max-pools into conv */
  int n_layers;
  int in_c, in_h, in_w;  /* input shape per sample */
  int n_classes;         /* outputs of the last layer */
  int batch;             /* largest minibatch the buffers hold */
  hp_loss_kind_t loss;
  size_t n_params;       /* floats in params and grads */
  float *params;         /* ALL parameters, one buffer (64-byte aligned) */
  float *grads;          /* ALL gradients, same layout */
  size_t n_state;
  float *state;          /* non-trained state: batchnorm running estimates */
  hp_param_range_t *decay; /* [n_decay] ranges that get weight decay: weights,
                              not biases and not batchnorm scale/shift
                              (hp_param_range_t is optim.h's) */
  int n_decay;
  float *gbuf[2];        /* ping-pong input-gradient buffers [batch, max size] */
  float *dlogits;        /* [batch, n_classes] */
  bool bf16;             /* "precision": "bf16" (hp_model_set_bf16) */
  hp_bf16_t *gb;         /* bf16: a dense layer's output gradient [batch, max out] */
  hp_bf16_t *pb;         /* bf16: ALL parameters rounded to bf16, params' layout */
  bool pb_fresh;         /* pb holds the current params: a forward pass rounds them
                            when not; hp_model_params_changed clears it, a step that
                            rounds them in its pass (hp_optim_step_fused into pb)
                            sets it */
  hp_rng_t dropout_rng;
} hp_model_t;

/* Builds the layer stack for inputs of shape [c, h, w] and n_classes
 * outputs, allocating every buffer for minibatches of up to `batch`
 * samples. Fuses an activation that follows a dense/conv layer into it, and
 * a maxpool that follows a conv (with or without activation).
 * Fails naming the layer when shapes do not chain (a dense layer after a
 * conv without flatten is allowed: it flattens implicitly) or the last
 * layer's size differs from n_classes. Parameters are zero until
 * hp_model_init. */
int hp_model_create(hp_model_t *m, const hp_layer_spec_t *specs, int n_specs, int c, int h,
                    int w, int n_classes, int batch, hp_loss_kind_t loss, hp_err_t *err);
void hp_model_free(hp_model_t *m);

/* Initializes weights (per-layer initializer, else `global`), biases and
 * batchnorm shift to 0, batchnorm scale and running variance to 1, from
 * `seed` (each layer its own stream, so adding a layer does not change the
 * others' initial weights). */
void hp_model_init(hp_model_t *m, const hp_init_t *global, uint64_t seed);

/* x[n, c*h*w] -> logits [n, n_classes] (returned pointer into the model).
 * train selects batch statistics and dropout. n <= batch. */
const float *hp_model_forward(hp_model_t *m, const float *x, int n, bool train);
/* bf16 with a dense first layer: the buffer [batch, input size] where the
 * caller may put the input already rounded to bf16 (hp_data_gather_bf16),
 * then run hp_model_forward_rounded; NULL otherwise. */
hp_bf16_t *hp_model_input_bf16(hp_model_t *m);
const float *hp_model_forward_rounded(hp_model_t *m, int n, bool train);
/* Loss of the last forward pass against labels y[n]: returns the SUM of the
 * per-sample losses, adds correct predictions to *correct; when `backward`,
 * also sets m->grads to the gradient of the MEAN loss (every entry is
 * written: no zeroing needed before). */
double hp_model_loss_backward(hp_model_t *m, const int32_t *y, int n, bool backward,
                              long *correct);
/* Turns bf16 products on or off ("precision": "bf16": dense layers round
 * their input, weights and output gradient to bf16 once per pass; conv
 * layers round their products' operands per call; all else stays fp32).
 * Allocates the bf16 buffers the first time; HP_ENOMEM if it cannot. The
 * caller checks oneDNN and the CPU first (hp_dnnl_check). */
int hp_model_set_bf16(hp_model_t *m, bool on, hp_err_t *err);
/* Tells the model its parameters changed (bf16: the rounded copy m->pb
 * must be made again before the next product). Whoever writes m->params
 * calls it, unless it refreshed m->pb itself and set m->pb_fresh. */
void hp_model_params_changed(hp_model_t *m);

/* ---- training ---------------------------------------------------------- */

typedef enum hp_train_status {
  HP_TRAIN_OK = 0,    /* ran all epochs (or stopped early by patience) */
  HP_TRAIN_DIVERGED,  /* a loss or the parameters became NaN/Inf */
  HP_TRAIN_STOPPED,   /* the epoch callback asked to stop (e.g. pruned) */
} hp_train_status_t;

const char *hp_train_status_name(hp_train_status_t s); /* "ok", "diverged", "stopped" */

/* What an epoch callback sees. Accuracies are fractions in [0, 1]; val_*
 * are NaN when there is no validation set. */
typedef struct hp_epoch_report {
  int epoch;              /* 1-based */
  int epochs;             /* configured total */
  double train_loss;      /* mean loss over the epoch's minibatches (training mode) */
  double train_accuracy;
  double val_loss;        /* mean over the validation set (inference mode) */
  double val_accuracy;
  double seconds;         /* this epoch's wall time, evaluation included */
  double samples_per_sec; /* training samples / training time of this epoch */
  double lr;              /* learning rate of the epoch's last update (schedule applied) */
  const hp_curv_result_t *curv; /* curvature after this epoch ("every_epoch"), else NULL */
} hp_epoch_report_t;

/* Return 0 to continue, non-zero to stop training now (status STOPPED). */
typedef int (*hp_epoch_fn)(const hp_epoch_report_t *report, void *user);

typedef struct hp_train_result {
  hp_train_status_t status;
  char message[160];      /* "diverged at epoch E step S", "early stop at epoch E", ... */
  int epochs;             /* epochs completed */
  int best_epoch;         /* epoch with the best monitored value (0 = none) */
  double train_loss, train_accuracy;  /* last completed epoch */
  double val_loss, val_accuracy;      /* last completed epoch (NaN: none) */
  double test_loss, test_accuracy;    /* final model on the test set (NaN: none) */
  bool has_val, has_test;
  double seconds;         /* total wall time */
  double samples_per_sec; /* training samples / training time, all epochs */
  double cpu_samples_per_sec; /* the same per CPU second of the process (steadier
                                 than wall time on a shared machine) */
  uint64_t steps;         /* optimizer steps taken */
  size_t n_params;
  bool has_curv;          /* curvature diagnostics of the final model in curv */
  hp_curv_result_t curv;
  double curv_seconds;    /* diagnostics' time over the run (every epoch included);
                             not in samples_per_sec, in seconds */
} hp_train_result_t;

/* Trains a model as cfg says on already opened data (train split by
 * data->split, optional test set when data->test.n > 0). The final model is
 * returned in *model_out when it is not NULL (caller frees with
 * hp_model_free), else freed. Divergence is not an error: it returns 0 with
 * status DIVERGED. Returns a negative code only for setup failures (bad
 * shapes for this data, out of memory). */
int hp_train_run_data(const hp_train_config_t *cfg, const hp_data_t *data, hp_epoch_fn on_epoch,
                      void *user, hp_train_result_t *res, hp_model_t *model_out,
                      hp_err_t *err);
/* Opens cfg->data (hp_data_open), then hp_train_run_data. */
int hp_train_run(const hp_train_config_t *cfg, hp_epoch_fn on_epoch, void *user,
                 hp_train_result_t *res, hp_err_t *err);

#endif

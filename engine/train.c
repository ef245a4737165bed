/* The training loop: minibatches from a freshly shuffled order every epoch,
 * per-epoch training and validation loss/accuracy reported through a
 * callback (which may stop the run, e.g. when the daemon prunes the trial),
 * early stopping with patience, test accuracy at the end, and divergence
 * (a NaN/Inf loss) turned into a result instead of a crash. The same seed
 * and thread count give bit-identical weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpsearch/blas.h"
#include "hpsearch/engine.h"

const char *hp_train_status_name(hp_train_status_t s) {
  switch (s) {
    case HP_TRAIN_OK: return "ok";
    case HP_TRAIN_DIVERGED: return "diverged";
    case HP_TRAIN_STOPPED: return "stopped";
  }
  return "?";
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this process: on a shared machine wall-clock rates swing with
 * the other jobs; the rate per CPU second much less. */
static double cpu_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool all_finite(const float *p, size_t n) {
  /* Summing is cheaper than testing each value, and any NaN/Inf makes the
   * sum non-finite (overflow of huge finite values is also worth flagging). */
  float s = 0.0f;
  for (size_t i = 0; i < n; i++) s += p[i] * 0.0f;
  return s == 0.0f;
}

/* Samples idx[0..b) of ds through the model: gathered into xbuf, or
 * straight to bf16 where the model takes its input rounded (one pass
 * instead of two). */
static void gather_forward(hp_model_t *m, const hp_dataset_t *ds, const uint32_t *idx, int b,
                           float *xbuf, int32_t *ybuf, bool train) {
  hp_bf16_t *xin = hp_model_input_bf16(m);
  if (xin != NULL) {
    hp_data_gather_bf16(ds, idx, (uint32_t)b, xin, ybuf);
    hp_model_forward_rounded(m, b, train);
  } else {
    hp_data_gather(ds, idx, (uint32_t)b, xbuf, ybuf);
    hp_model_forward(m, xbuf, b, train);
  }
}

/* Mean loss and accuracy of the model in inference mode over samples
 * idx[0..n) of ds, in minibatches that fit the model's buffers. */
static void evaluate(hp_model_t *m, const hp_dataset_t *ds, const uint32_t *idx, uint32_t n,
                     float *xbuf, int32_t *ybuf, double *loss, double *acc) {
  double sum = 0;
  long correct = 0;
  for (uint32_t at = 0; at < n; at += (uint32_t)m->batch) {
    int b = (int)(n - at < (uint32_t)m->batch ? n - at : (uint32_t)m->batch);
    gather_forward(m, ds, idx + at, b, xbuf, ybuf, false);
    sum += hp_model_loss_backward(m, ybuf, b, false, &correct);
  }
  *loss = n ? sum / n : NAN;
  *acc = n ? (double)correct / n : NAN;
}

/* Copies the model's parameters, the optimizer's state and the model's
 * state (batch-norm estimates) into snap, or back (restore). */
static void snapshot(hp_model_t *m, hp_optim_t *opt, float *snap, size_t n_opt, bool restore) {
  float *parts[3] = {m->params, hp_optim_state(opt, NULL), m->state};
  const size_t lens[3] = {m->n_params, n_opt, m->n_state};
  for (int i = 0; i < 3; i++) {
    if (lens[i] == 0) continue;
    if (restore) memcpy(parts[i], snap, lens[i] * sizeof *snap);
    else memcpy(snap, parts[i], lens[i] * sizeof *snap);
    snap += lens[i];
  }
  if (restore) hp_model_params_changed(m);
}

/* Curvature of the model as it stands, on the first samples of the
 * training split (a fixed subset: the same in every epoch). */
static int diagnose(const hp_train_config_t *cfg, const hp_data_t *data, uint32_t n_train,
                    hp_model_t *model, const hp_optim_t *opt, hp_curv_result_t *out,
                    hp_train_result_t *res, hp_err_t *err) {
  int rc = hp_curvature_diagnose(model, &data->train, data->split.train, n_train, &cfg->curv,
                                 opt, hp_optim_last_lr(opt), cfg->seed, out, err);
  res->curv_seconds += out->seconds;
  return rc;
}

int hp_train_run_data(const hp_train_config_t *cfg, const hp_data_t *data, hp_epoch_fn on_epoch,
                      void *user, hp_train_result_t *res, hp_model_t *model_out,
                      hp_err_t *err) {
  const double t_start = now_sec();
  const hp_dataset_t *ds = &data->train;
  hp_model_t model;
  hp_optim_t *opt = NULL;
  uint32_t *order = NULL, *test_idx = NULL;
  float *xbuf = NULL;
  float *snap = NULL; /* curvature: the weights, optimizer and model state at the
                         start of the epoch (diagnosed if training diverges) */
  size_t n_opt_state = 0;
  int32_t *ybuf = NULL;
  int rc = 0;

  memset(res, 0, sizeof *res);
  res->val_loss = res->val_accuracy = NAN;
  res->test_loss = res->test_accuracy = NAN;
  memset(&model, 0, sizeof model);

  /* Every process that trains: flush denormals, the configured BLAS threads. */
  hp_blas_set_ftz();
  hp_blas_set_threads(cfg->threads);

  uint32_t n_train = data->split.n_train, n_val = data->split.n_val;
  uint32_t n_test = data->test.n;
  if (cfg->limit > 0) {
    if (n_train > cfg->limit) n_train = cfg->limit;
    if (n_val > cfg->limit) n_val = cfg->limit;
    if (n_test > cfg->limit) n_test = cfg->limit;
  }
  if (n_train == 0) return hp_err_set(err, HP_EINVAL, "data: no training samples");
  const int B = cfg->batch_size;
  if ((rc = hp_model_create(&model, cfg->layers, cfg->n_layers, (int)ds->c, (int)ds->h,
                            (int)ds->w, (int)ds->n_classes, B, cfg->loss, err)) != 0)
    return rc;
  hp_model_init(&model, &cfg->init, cfg->seed);
  if (cfg->bf16) {
    /* a clear error where oneDNN or the CPU's BF16 instructions are missing */
    if ((rc = hp_dnnl_check(true, err)) != 0 || (rc = hp_model_set_bf16(&model, true, err)) != 0)
      goto fail;
    hp_dnnl_set_threads(cfg->threads);
  }
  res->n_params = model.n_params;
  const int64_t steps_per_epoch = ((int64_t)n_train + B - 1) / B;
  hp_optim_config_t ocfg = cfg->optim; /* a decay without "steps" spans the run */
  hp_schedule_fit_run(&ocfg.sched, cfg->epochs, steps_per_epoch);
  if ((rc = hp_optim_create(&ocfg, model.n_params, model.decay, (size_t)model.n_decay,
                            steps_per_epoch, &opt, err)) != 0)
    goto fail;

  hp_optim_state(opt, &n_opt_state);
  if (cfg->curv.enabled &&
      (snap = malloc((model.n_params + n_opt_state + model.n_state + 1) * sizeof *snap)) == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "training: out of memory (curvature snapshot)");
    goto fail;
  }
  order = malloc((size_t)n_train * sizeof *order);
  test_idx = malloc(((size_t)n_test + 1) * sizeof *test_idx);
  xbuf = malloc((size_t)B * ds->d * sizeof *xbuf);
  ybuf = malloc((size_t)B * sizeof *ybuf);
  if (!order || !test_idx || !xbuf || !ybuf) {
    rc = hp_err_set(err, HP_ENOMEM, "training: out of memory");
    goto fail;
  }
  memcpy(order, data->split.train, (size_t)n_train * sizeof *order);
  for (uint32_t i = 0; i < n_test; i++) test_idx[i] = i;
  res->has_val = n_val > 0;
  res->has_test = n_test > 0;

  hp_rng_t shuffle;
  hp_rng_seed_stream(&shuffle, cfg->seed, 2);
  double best = cfg->monitor_accuracy ? -INFINITY : INFINITY, train_time = 0, train_cpu = 0;
  int since_best = 0;
  uint64_t samples = 0;
  bool curv_fresh = false; /* res->curv describes the current weights */

  int epoch = 0;
  for (epoch = 1; epoch <= cfg->epochs; epoch++) {
    const double t_epoch = now_sec(), c_epoch = cpu_sec();
    if (snap != NULL) snapshot(&model, opt, snap, n_opt_state, false);
    hp_rng_shuffle_u32(&shuffle, order, n_train);
    curv_fresh = false;
    double loss_sum = 0;
    long correct = 0;
    int step = 0;
    for (uint32_t at = 0; at < n_train; at += (uint32_t)B) {
      int b = (int)(n_train - at < (uint32_t)B ? n_train - at : (uint32_t)B);
      step++;
      gather_forward(&model, ds, order + at, b, xbuf, ybuf, true);
      double l = hp_model_loss_backward(&model, ybuf, b, true, &correct);
      if (!isfinite(l)) {
        res->status = HP_TRAIN_DIVERGED;
        snprintf(res->message, sizeof res->message, "diverged at epoch %d step %d", epoch,
                 step);
        train_time += now_sec() - t_epoch;
        train_cpu += cpu_sec() - c_epoch;
        goto done;
      }
      loss_sum += l;
      /* bf16: the step also rounds the weights for the next products */
      hp_optim_step_fused(opt, model.params, model.grads, model.n_params,
                          model.bf16 ? model.pb : NULL);
      model.pb_fresh = model.bf16;
      res->steps++;
    }
    samples += n_train;
    const double t_trained = now_sec();
    train_time += t_trained - t_epoch;
    train_cpu += cpu_sec() - c_epoch;
    if (!all_finite(model.params, model.n_params)) {
      res->status = HP_TRAIN_DIVERGED;
      snprintf(res->message, sizeof res->message,
               "diverged at epoch %d step %d (non-finite weights)", epoch, step);
      goto done;
    }

    hp_epoch_report_t rep = {.epoch = epoch, .epochs = cfg->epochs};
    rep.train_loss = loss_sum / n_train;
    rep.train_accuracy = (double)correct / n_train;
    rep.val_loss = rep.val_accuracy = NAN;
    if (n_val > 0)
      evaluate(&model, ds, data->split.val, n_val, xbuf, ybuf, &rep.val_loss,
               &rep.val_accuracy);
    rep.seconds = now_sec() - t_epoch;
    rep.samples_per_sec = n_train / (t_trained - t_epoch);
    rep.lr = hp_optim_last_lr(opt);
    rep.curv = NULL;
    if (cfg->curv.every_epoch) {
      if ((rc = diagnose(cfg, data, n_train, &model, opt, &res->curv, res, err)) != 0) goto fail;
      res->has_curv = curv_fresh = true;
      rep.curv = &res->curv;
    }
    res->epochs = epoch;
    res->train_loss = rep.train_loss, res->train_accuracy = rep.train_accuracy;
    res->val_loss = rep.val_loss, res->val_accuracy = rep.val_accuracy;
    if (n_val > 0 && !isfinite(rep.val_loss)) {
      res->status = HP_TRAIN_DIVERGED;
      snprintf(res->message, sizeof res->message,
               "diverged at epoch %d step %d (validation loss is not finite)", epoch, step);
      goto done;
    }
    if (on_epoch != NULL && on_epoch(&rep, user) != 0) {
      res->status = HP_TRAIN_STOPPED;
      snprintf(res->message, sizeof res->message, "stopped by the caller after epoch %d",
               epoch);
      break;
    }
    /* Early stopping watches validation (training loss when there is none). */
    double v = cfg->monitor_accuracy ? (n_val ? rep.val_accuracy : rep.train_accuracy)
                                     : (n_val ? rep.val_loss : rep.train_loss);
    bool better = cfg->monitor_accuracy ? v > best + cfg->min_delta : v < best - cfg->min_delta;
    if (better) {
      best = v, since_best = 0, res->best_epoch = epoch;
    } else if (cfg->patience > 0 && ++since_best >= cfg->patience && epoch < cfg->epochs) {
      snprintf(res->message, sizeof res->message,
               "early stop at epoch %d: no improvement for %d epoch%s (best epoch %d)", epoch,
               since_best, hp_plural(since_best), res->best_epoch);
      break;
    }
  }
  if (cfg->curv.enabled && !curv_fresh && res->status == HP_TRAIN_OK) {
    if ((rc = diagnose(cfg, data, n_train, &model, opt, &res->curv, res, err)) != 0) goto fail;
    res->has_curv = true;
  }
  if (n_test > 0)
    evaluate(&model, &data->test, test_idx, n_test, xbuf, ybuf, &res->test_loss,
             &res->test_accuracy);
done:
  /* Diverged: the curvature where the epoch that diverged started (the
   * last weights known finite), with the learning rate of the step that
   * diverged: lr * sharpness against the optimizer's bound says whether
   * the step size was past the stable one (the lecture's 2/lambda). */
  if (res->status == HP_TRAIN_DIVERGED && snap != NULL &&
      all_finite(snap, model.n_params + n_opt_state + model.n_state)) {
    snapshot(&model, opt, snap, n_opt_state, true);
    if ((rc = diagnose(cfg, data, n_train, &model, opt, &res->curv, res, err)) != 0) goto fail;
    res->has_curv = true;
    res->curv.diverged_epoch = epoch;
  }
  res->seconds = now_sec() - t_start;
  res->samples_per_sec = train_time > 0 ? samples / train_time : 0;
  res->cpu_samples_per_sec = train_cpu > 0 ? samples / train_cpu : 0;
  if (res->message[0] == '\0') snprintf(res->message, sizeof res->message, "ok");
fail:
  free(order), free(test_idx), free(xbuf), free(ybuf), free(snap);
  hp_optim_free(opt);
  if (rc == 0 && model_out != NULL) *model_out = model;
  else hp_model_free(&model);
  return rc;
}

int hp_train_run(const hp_train_config_t *cfg, hp_epoch_fn on_epoch, void *user,
                 hp_train_result_t *res, hp_err_t *err) {
  hp_data_t data;
  memset(&data, 0, sizeof data);
  int rc = hp_data_open(&cfg->data, &data, err);
  if (rc != 0) return rc;
  rc = hp_train_run_data(cfg, &data, on_epoch, user, res, NULL, err);
  hp_data_close(&data);
  return rc;
}

/* The model: a stack of built layers over one parameter buffer, one
 * gradient buffer and one state buffer, with every activation buffer
 * allocated once for the largest minibatch. Forward and backward walk the
 * stack calling the kernels of hpsearch/layers.h; an activation that follows
 * a dense or conv layer is fused into it (one pass over the output instead of
 * two, and no extra buffer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/engine.h"

/* Largest model (parameters, gradients, optimizer state and activation
 * buffers) hp_model_create agrees to allocate. */
#define HP_MODEL_MAX_BYTES 8e9

/* 64-byte aligned floats (sgemm and the vector loops like aligned rows),
 * zeroed so a fresh model has no garbage. */
static float *falloc(size_t n) {
  void *p = NULL;
  size_t bytes = (n ? n : 1) * sizeof(float);
  bytes = (bytes + 63) & ~(size_t)63;
  if (posix_memalign(&p, 64, bytes) != 0) return NULL;
  memset(p, 0, bytes);
  return p;
}

void hp_model_free(hp_model_t *m) {
  if (m == NULL) return;
  for (int i = 0; i < m->n_layers; i++) {
    hp_layer_t *L = &m->layers[i];
    free(L->out), free(L->aux), free(L->aux2), free(L->argmax), free(L->xb);
  }
  free(m->layers), free(m->params), free(m->grads), free(m->state), free(m->decay);
  free(m->gbuf[0]), free(m->gbuf[1]), free(m->dlogits), free(m->gb), free(m->pb);
  memset(m, 0, sizeof *m);
}

/* Sets L's output shape and parameter/state counts from its input shape.
 * Fails naming the layer when the shapes do not chain. */
static int plan_layer(hp_layer_t *L, size_t *n_params, size_t *n_state, hp_err_t *err) {
  const hp_layer_spec_t *s = &L->spec;
  const bool flat = L->in_h == 1 && L->in_w == 1;
  L->in_size = (size_t)L->in_c * L->in_h * L->in_w;
  L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
  L->p_off = *n_params, L->p_len = 0, L->w_len = 0;
  switch (s->kind) {
    case HP_LAYER_DENSE:
      /* A dense layer after an image flattens it implicitly ([c,h,w] rows
       * are already contiguous). */
      L->out_c = s->units, L->out_h = 1, L->out_w = 1;
      L->w_len = (size_t)s->units * L->in_size;
      L->p_len = L->w_len + (size_t)s->units;
      break;
    case HP_LAYER_CONV2D:
      if (flat && L->in_c > 1 && s->kernel > 1)
        return hp_err_set(err, HP_EINVAL,
                          "%s: conv2d needs an image input [c,h,w], but its input is a flat "
                          "vector of %zu values",
                          s->where, L->in_size);
      L->conv = (hp_conv_shape_t){.c = L->in_c, .h = L->in_h, .w = L->in_w, .o = s->filters,
                                  .kh = s->kernel, .kw = s->kernel, .stride = s->stride,
                                  .pad = s->padding};
      if (hp_conv_shape_init(&L->conv) != 0)
        return hp_err_set(err, HP_EINVAL,
                          "%s.kernel: %d does not fit the %dx%d input with padding %d",
                          s->where, s->kernel, L->in_h, L->in_w, s->padding);
      L->out_c = s->filters, L->out_h = L->conv.ho, L->out_w = L->conv.wo;
      L->w_len = (size_t)s->filters * L->in_c * s->kernel * s->kernel;
      L->p_len = L->w_len + (size_t)s->filters;
      break;
    case HP_LAYER_MAXPOOL:
      if (s->kernel > L->in_h || s->kernel > L->in_w)
        return hp_err_set(err, HP_EINVAL, "%s.size: window %d is larger than the %dx%d input",
                          s->where, s->kernel, L->in_h, L->in_w);
      L->out_h = (L->in_h - s->kernel) / s->stride + 1;
      L->out_w = (L->in_w - s->kernel) / s->stride + 1;
      break;
    case HP_LAYER_FLATTEN:
      L->out_c = (int)L->in_size, L->out_h = 1, L->out_w = 1;
      break;
    case HP_LAYER_BATCHNORM:
      L->p_len = 2 * (size_t)L->in_c; /* gamma, beta: not decayed */
      L->s_off = *n_state;
      *n_state += 2 * (size_t)L->in_c;
      break;
    case HP_LAYER_ACTIVATION:
    case HP_LAYER_DROPOUT:
    case HP_LAYER_KIND_COUNT_:
      break;
  }
  L->out_size = (size_t)L->out_c * L->out_h * L->out_w;
  *n_params += L->p_len;
  return 0;
}

static int alloc_layer(hp_layer_t *L, int B) {
  const size_t nb = (size_t)B;
  switch (L->spec.kind) {
    case HP_LAYER_DENSE:
      L->out = falloc(nb * L->out_size);
      return L->out ? 0 : -1;
    case HP_LAYER_CONV2D:
      L->out = falloc(nb * L->out_size);
      L->aux = falloc(hp_conv_cols_size(&L->conv, B));
      L->aux2 = falloc(hp_conv_tmp_size(&L->conv, B));
      if (L->conv.pool > 0 &&
          posix_memalign((void **)&L->argmax, 64, nb * L->out_size * sizeof(int32_t)) != 0)
        return -1;
      return L->out && L->aux && L->aux2 ? 0 : -1;
    case HP_LAYER_MAXPOOL:
      L->out = falloc(nb * L->out_size);
      if (posix_memalign((void **)&L->argmax, 64, nb * L->out_size * sizeof(int32_t)) != 0)
        L->argmax = NULL;
      return L->out && L->argmax ? 0 : -1;
    case HP_LAYER_FLATTEN:
      return 0;
    case HP_LAYER_ACTIVATION:
      L->out = falloc(nb * L->out_size);
      return L->out ? 0 : -1;
    case HP_LAYER_BATCHNORM:
      L->out = falloc(nb * L->out_size);
      L->aux = falloc(nb * L->out_size);
      L->aux2 = falloc((size_t)L->in_c);
      return L->out && L->aux && L->aux2 ? 0 : -1;
    case HP_LAYER_DROPOUT:
      L->out = falloc(nb * L->out_size);
      L->aux = falloc(nb * L->out_size);
      return L->out && L->aux ? 0 : -1;
    case HP_LAYER_KIND_COUNT_:
      break;
  }
  return -1;
}

int hp_model_create(hp_model_t *m, const hp_layer_spec_t *specs, int n_specs, int c, int h,
                    int w, int n_classes, int batch, hp_loss_kind_t loss, hp_err_t *err) {
  int rc = 0;
  memset(m, 0, sizeof *m);
  if (n_specs < 1) return hp_err_set(err, HP_EINVAL, "layers: at least one layer is needed");
  if (c < 1 || h < 1 || w < 1 || n_classes < 1 || batch < 1)
    return hp_err_set(err, HP_EINVAL, "model: bad input shape [%d,%d,%d], %d classes, batch %d",
                      c, h, w, n_classes, batch);
  m->layers = calloc((size_t)n_specs, sizeof *m->layers);
  m->decay = calloc((size_t)n_specs, sizeof *m->decay);
  if (m->layers == NULL || m->decay == NULL) goto nomem;
  m->in_c = c, m->in_h = h, m->in_w = w, m->batch = batch, m->loss = loss;

  /* Plan shapes, fusing "dense/conv followed by an activation". */
  int pc = c, ph = h, pw = w;
  for (int i = 0; i < n_specs; i++) {
    hp_layer_t *L = &m->layers[m->n_layers];
    L->spec = specs[i];
    L->in_c = pc, L->in_h = ph, L->in_w = pw;
    bool fusable = L->spec.kind == HP_LAYER_DENSE || L->spec.kind == HP_LAYER_CONV2D;
    if (fusable && L->spec.act.kind == HP_ACT_NONE && i + 1 < n_specs &&
        specs[i + 1].kind == HP_LAYER_ACTIVATION) {
      L->spec.act = specs[i + 1].act;
      i++;
    }
    if ((rc = plan_layer(L, &m->n_params, &m->n_state, err)) != 0) goto fail;
    /* conv [+ activation] + maxpool: pool inside the conv's chunk loop, so
     * the full-size output never goes through memory. A window that does
     * not fit is left to the maxpool layer's own error. */
    if (L->spec.kind == HP_LAYER_CONV2D && i + 1 < n_specs &&
        specs[i + 1].kind == HP_LAYER_MAXPOOL && specs[i + 1].kernel <= L->out_h &&
        specs[i + 1].kernel <= L->out_w) {
      L->spec.pool = L->conv.pool = specs[i + 1].kernel;
      L->spec.pool_stride = L->conv.pstride = specs[i + 1].stride;
      if (hp_conv_shape_init(&L->conv) != 0) {
        rc = hp_err_set(err, HP_EINVAL, "%s: bad pool window", specs[i + 1].where);
        goto fail;
      }
      L->out_h = L->conv.pho, L->out_w = L->conv.pwo;
      L->out_size = (size_t)L->out_c * L->out_h * L->out_w;
      i++;
    }
    if (L->w_len > 0) m->decay[m->n_decay++] = (hp_param_range_t){L->p_off, L->w_len};
    pc = L->out_c, ph = L->out_h, pw = L->out_w;
    m->n_layers++;
  }
  const hp_layer_t *last = &m->layers[m->n_layers - 1];
  if (last->out_size != (size_t)n_classes) {
    rc = hp_err_set(err, HP_EINVAL,
                    "%s: the network ends with %zu output%s, but the data has %d class%s",
                    last->spec.where, last->out_size, hp_plural((long long)last->out_size),
                    n_classes, n_classes == 1 ? "" : "es");
    goto fail;
  }
  m->n_classes = n_classes;

  /* Bound the memory a config can ask for before touching any of it: the
   * sizes come from outside (a study may sweep width and depth). Estimate:
   * params, grads and optimizer state (up to 4 copies), every layer's
   * buffers (up to 3 per output, conv patches and products). */
  size_t gmax = (size_t)c * h * w;
  double need = 4.0 * (double)m->n_params;
  for (int i = 0; i < m->n_layers; i++) {
    const hp_layer_t *L = &m->layers[i];
    need += 3.0 * batch * (double)L->out_size;
    if (L->spec.kind == HP_LAYER_CONV2D)
      need += (double)hp_conv_cols_size(&L->conv, batch) + hp_conv_tmp_size(&L->conv, batch);
    if (L->out_size > gmax) gmax = L->out_size;
  }
  need += 2.0 * batch * (double)gmax;
  if (need * sizeof(float) > HP_MODEL_MAX_BYTES) {
    rc = hp_err_set(err, HP_ETOOBIG,
                    "model: %zu parameters at batch %d need about %.1f GB, more than the "
                    "%.0f GB limit",
                    m->n_params, batch, need * sizeof(float) / 1e9, HP_MODEL_MAX_BYTES / 1e9);
    goto fail;
  }
  for (int i = 0; i < m->n_layers; i++)
    if (alloc_layer(&m->layers[i], batch) != 0) goto nomem;
  m->params = falloc(m->n_params);
  m->grads = falloc(m->n_params);
  m->state = falloc(m->n_state);
  m->gbuf[0] = falloc(gmax * batch);
  m->gbuf[1] = falloc(gmax * batch);
  m->dlogits = falloc((size_t)n_classes * batch);
  if (!m->params || !m->grads || !m->state || !m->gbuf[0] || !m->gbuf[1] || !m->dlogits)
    goto nomem;
  return 0;
nomem:
  rc = hp_err_set(err, HP_ENOMEM, "model: out of memory (batch %d)", batch);
fail:
  hp_model_free(m);
  return rc;
}

void hp_model_init(hp_model_t *m, const hp_init_t *global, uint64_t seed) {
  hp_rng_seed_stream(&m->dropout_rng, seed, 1);
  for (int i = 0; i < m->n_layers; i++) {
    hp_layer_t *L = &m->layers[i];
    float *p = m->params + L->p_off;
    hp_rng_t rng;
    hp_rng_seed_stream(&rng, seed, 1000 + (uint64_t)i);
    const hp_init_t *init = L->spec.has_init ? &L->spec.init : global;
    switch (L->spec.kind) {
      case HP_LAYER_DENSE:
        hp_init_fill(init, p, L->w_len, L->in_size, (size_t)L->out_c, &rng);
        memset(p + L->w_len, 0, (L->p_len - L->w_len) * sizeof *p);
        break;
      case HP_LAYER_CONV2D: {
        /* Fans of a convolution count the kernel's receptive field. */
        size_t k2 = (size_t)L->spec.kernel * L->spec.kernel;
        hp_init_fill(init, p, L->w_len, (size_t)L->in_c * k2, (size_t)L->out_c * k2, &rng);
        memset(p + L->w_len, 0, (L->p_len - L->w_len) * sizeof *p);
        break;
      }
      case HP_LAYER_BATCHNORM: {
        float *st = m->state + L->s_off;
        for (int j = 0; j < L->in_c; j++) {
          p[j] = 1.0f, p[L->in_c + j] = 0.0f;  /* gamma, beta */
          st[j] = 0.0f, st[L->in_c + j] = 1.0f; /* running mean, variance */
        }
        break;
      }
      default:
        break;
    }
  }
}

int hp_model_set_bf16(hp_model_t *m, bool on, hp_err_t *err) {
  if (on) {
    size_t gmax = 0;
    if (m->pb == NULL && (m->pb = malloc(m->n_params * sizeof *m->pb)) == NULL)
      return hp_err_set(err, HP_ENOMEM, "model: out of memory (bf16 copies)");
    m->pb_fresh = false;
    for (int i = 0; i < m->n_layers; i++) {
      hp_layer_t *L = &m->layers[i];
      if (L->spec.kind != HP_LAYER_DENSE) continue;
      if (L->xb == NULL) L->xb = malloc((size_t)m->batch * L->in_size * sizeof *L->xb);
      if (L->xb == NULL) return hp_err_set(err, HP_ENOMEM, "model: out of memory (bf16 copies)");
      L->wb = m->pb + L->p_off;
      if (L->out_size > gmax) gmax = L->out_size;
    }
    if (m->gb == NULL && gmax > 0 &&
        (m->gb = malloc((size_t)m->batch * gmax * sizeof *m->gb)) == NULL)
      return hp_err_set(err, HP_ENOMEM, "model: out of memory (bf16 copies)");
  }
  m->bf16 = on;
  return 0;
}

void hp_model_params_changed(hp_model_t *m) { m->pb_fresh = false; }


hp_bf16_t *hp_model_input_bf16(hp_model_t *m) {
  return m->bf16 && m->layers[0].spec.kind == HP_LAYER_DENSE ? m->layers[0].xb : NULL;
}

const float *hp_model_forward_rounded(hp_model_t *m, int n, bool train) {
  return hp_model_forward(m, NULL, n, train);
}

/* x[n, in] -> logits[n, n_classes]; x NULL: the input is already rounded in
 * hp_model_input_bf16(m) */
const float *hp_model_forward(hp_model_t *m, const float *x, int n, bool train) {
  const float *cur = x;
  if (m->bf16 && !m->pb_fresh) { /* once per step (or per evaluation) */
    hp_bf16_from_f32(m->params, m->pb, m->n_params);
    m->pb_fresh = true;
  }
  for (int i = 0; i < m->n_layers; i++) {
    hp_layer_t *L = &m->layers[i];
    const hp_layer_spec_t *s = &L->spec;
    const float *p = m->params + L->p_off;
    const size_t total = (size_t)n * L->out_size;
    L->x = cur;
    L->y = L->out;
    switch (s->kind) {
      case HP_LAYER_DENSE:
        if (m->bf16) {
          /* round the input (unless the caller did); backward reuses it
           * and the rounded weights */
          if (cur != NULL) hp_bf16_from_f32(cur, L->xb, (size_t)n * L->in_size);
          hp_dense_forward_bf16(L->xb, L->wb, p + L->w_len, L->out, n, (int)L->in_size,
                                s->units, s->act);
        } else {
          hp_dense_forward(cur, p, p + L->w_len, L->out, n, (int)L->in_size, s->units, s->act);
        }
        break;
      case HP_LAYER_CONV2D:
        hp_blas_set_bf16(m->bf16);
        hp_conv_forward(&L->conv, cur, p, p + L->w_len, L->aux, L->aux2, L->out, L->argmax, n,
                        s->act);
        hp_blas_set_bf16(false);
        break;
      case HP_LAYER_MAXPOOL:
        hp_maxpool_forward(cur, L->out, L->argmax, n, L->in_c, L->in_h, L->in_w, s->kernel,
                           s->stride);
        break;
      case HP_LAYER_FLATTEN:
        L->y = cur;
        break;
      case HP_LAYER_ACTIVATION:
        hp_act_forward(s->act, cur, L->out, total);
        break;
      case HP_LAYER_BATCHNORM: {
        float *st = m->state + L->s_off;
        const int hw = L->in_h * L->in_w;
        if (train)
          hp_bn_forward_train(cur, p, p + L->in_c, L->out, L->aux, L->aux2, st, st + L->in_c, n,
                              L->in_c, hw, s->momentum, s->eps);
        else
          hp_bn_forward_eval(cur, p, p + L->in_c, L->out, st, st + L->in_c, n, L->in_c, hw,
                             s->eps);
        break;
      }
      case HP_LAYER_DROPOUT:
        if (train && s->rate > 0.0f)
          hp_dropout_forward(cur, L->out, L->aux, total, s->rate, &m->dropout_rng);
        else
          L->y = cur; /* identity at inference (inverted dropout) */
        break;
      case HP_LAYER_KIND_COUNT_:
        break;
    }
    cur = L->y;
  }
  return cur;
}

/* Backward through the stack from dlogits[n, n_classes]; sets m->grads
 * (a layer's parameters get gradients from that layer only: dense layers
 * write theirs, the others accumulate into their range zeroed first). Input gradients alternate between the
 * two gbuf buffers; elementwise layers work in place. */
static void model_backward(hp_model_t *m, int n) {
  float *g = m->dlogits;
  for (int i = m->n_layers - 1; i >= 0; i--) {
    hp_layer_t *L = &m->layers[i];
    const hp_layer_spec_t *s = &L->spec;
    const float *p = m->params + L->p_off;
    float *dp = m->grads + L->p_off;
    float *dst = g == m->gbuf[0] ? m->gbuf[1] : m->gbuf[0];
    const bool need_dx = i > 0;
    const size_t total = (size_t)n * L->out_size;
    switch (s->kind) {
      case HP_LAYER_DENSE: /* writes its gradients (each layer's are its own) */
        if (m->bf16)
          hp_dense_backward_bf16(L->xb, L->wb, L->y, g, m->gb, need_dx ? dst : NULL, dp,
                                 dp + L->w_len, n, (int)L->in_size, s->units, s->act, false);
        else
          hp_dense_backward(L->x, p, L->y, g, need_dx ? dst : NULL, dp, dp + L->w_len, n,
                            (int)L->in_size, s->units, s->act, false);
        g = dst;
        break;
      case HP_LAYER_CONV2D: /* accumulates: from zero */
        memset(dp, 0, L->p_len * sizeof *dp);
        hp_blas_set_bf16(m->bf16);
        hp_conv_backward(&L->conv, L->x, L->aux, L->aux2, p, L->y, L->argmax, g,
                         need_dx ? dst : NULL, dp, dp + L->w_len, n, s->act);
        hp_blas_set_bf16(false);
        g = dst;
        break;
      case HP_LAYER_MAXPOOL:
        if (need_dx)
          hp_maxpool_backward(g, L->argmax, dst, n, L->in_c, L->in_h, L->in_w, L->out_h,
                              L->out_w);
        g = dst;
        break;
      case HP_LAYER_FLATTEN:
        break;
      case HP_LAYER_ACTIVATION:
        hp_act_backward(s->act, L->y, g, g, total);
        break;
      case HP_LAYER_BATCHNORM:
        memset(dp, 0, L->p_len * sizeof *dp);
        hp_bn_backward(g, L->aux, p, L->aux2, g, dp, dp + L->in_c, n, L->in_c,
                       L->in_h * L->in_w);
        break;
      case HP_LAYER_DROPOUT:
        if (L->y != L->x) hp_dropout_backward(g, L->aux, g, total);
        break;
      case HP_LAYER_KIND_COUNT_:
        break;
    }
  }
}

double hp_model_loss_backward(hp_model_t *m, const int32_t *y, int n, bool backward,
                              long *correct) {
  const float *logits = m->layers[m->n_layers - 1].y;
  float *d = backward ? m->dlogits : NULL;
  const float scale = 1.0f / (float)n;
  double sum = m->loss == HP_LOSS_MSE
                   ? hp_loss_mse(logits, y, n, m->n_classes, d, scale, correct)
                   : hp_loss_softmax_ce(logits, y, n, m->n_classes, d, scale, correct);
  /* A non-finite loss means the gradient is garbage too: the caller stops. */
  if (backward && isfinite(sum)) model_backward(m, n);
  return sum;
}

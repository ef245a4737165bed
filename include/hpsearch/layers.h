/* The engine's layer kernels: one forward/backward pair per layer type over
 * caller-owned float32 buffers. They allocate nothing and never fail; the
 * model (engine/model.c) owns the buffers and chains the calls. Shapes are
 * row-major; B is the number of samples in the minibatch.
 *
 * Conventions: backward ACCUMULATES into parameter gradients (dW, db, ...)
 * and OVERWRITES input gradients (dx). dx may be NULL when the input needs
 * no gradient (the first layer), which skips that work. */
#ifndef HPSEARCH_LAYERS_H
#define HPSEARCH_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "hpsearch/blas.h"
#include "hpsearch/rng.h"

/* Hot elementwise loops are HP_HOT: one clone per vector width. */
#include "hpsearch/hot.h"

/* ---- activations ------------------------------------------------------ */

typedef enum hp_act_kind {
  HP_ACT_NONE = 0, /* identity */
  HP_ACT_RELU,     /* max(0, x) */
  HP_ACT_LEAKY,    /* x > 0 ? x : slope * x   (slope in [0, 1)) */
  HP_ACT_TANH,     /* tanh(x) */
  HP_ACT_SIGMOID,  /* 1 / (1 + exp(-x)) */
} hp_act_kind_t;

typedef struct hp_act {
  hp_act_kind_t kind; /* which function */
  float slope;        /* leaky ReLU's negative slope (default 0.01) */
} hp_act_t;

/* y[n] = f(x[n]); y may equal x. */
void hp_act_forward(hp_act_t act, const float *x, float *y, size_t n);
/* dx[n] = dy[n] * f'(x), computed from the OUTPUT y = f(x) (every supported
 * f has a derivative expressible through y); dx may equal dy. */
void hp_act_backward(hp_act_t act, const float *y, const float *dy, float *dx, size_t n);
/* Name of an activation ("relu", ...). */
const char *hp_act_name(hp_act_kind_t kind);

/* ---- dense (fully connected) ----------------------------------------- */

/* y[B,out] = act(x[B,in] @ W[out,in]^T + b[out]). One sgemm; the bias and
 * activation are one fused pass. */
void hp_dense_forward(const float *x, const float *W, const float *b, float *y, int B, int in,
                      int out, hp_act_t act);
/* dy[B,out] is the gradient of the (activated) output y; it is overwritten
 * with the gradient of the pre-activation. dW[out,in] += dy^T x,
 * db[out] += sum_B dy when accumulate, else dW = dy^T x, db = sum_B dy
 * (no zeroing pass, and the product does not read dW); dx[B,in] = dy W (dx
 * may be NULL). */
void hp_dense_backward(const float *x, const float *W, const float *y, float *dy, float *dx,
                       float *dW, float *db, int B, int in, int out, hp_act_t act,
                       bool accumulate);

/* "precision": "bf16": the same layer with both products' operands rounded
 * to bf16 (fp32 accumulation, bias, activation and outputs in fp32). The
 * caller rounds the input and weights once (xb[B,in], Wb[out,in]), so the
 * backward pass reuses them; dy is rounded once into dyb[B,out] (scratch)
 * for both of its products. */
void hp_dense_forward_bf16(const hp_bf16_t *xb, const hp_bf16_t *Wb, const float *b, float *y,
                           int B, int in, int out, hp_act_t act);
void hp_dense_backward_bf16(const hp_bf16_t *xb, const hp_bf16_t *Wb, const float *y, float *dy,
                            hp_bf16_t *dyb, float *dx, float *dW, float *db, int B, int in,
                            int out, hp_act_t act, bool accumulate);

/* ---- conv2d (im2col + sgemm) ------------------------------------------ */

typedef struct hp_conv_shape {
  int c, h, w;       /* input channels, height, width */
  int o;             /* output channels (filters) */
  int kh, kw;        /* kernel size */
  int stride, pad;   /* stride and zero padding (both directions) */
  int ho, wo;        /* conv output size: (h + 2 pad - kh) / stride + 1 */
  int pool, pstride; /* fused max-pool window and stride (pool 0: none) */
  int pho, pwo;      /* pooled size (ho - pool) / pstride + 1 (= ho, wo without pool) */
} hp_conv_shape_t;

/* Fills ho/wo and pho/pwo; returns 0, or -1 when the kernel (or the pool
 * window) does not fit. */
int hp_conv_shape_init(hp_conv_shape_t *s);
/* The im2col path processes the batch in chunks of hp_conv_chunk() samples
 * (sized so the work buffers stay in cache). Floats the work buffers need
 * for batches of up to B samples (forward and backward of the same shape):
 * cols holds [c*kh*kw, chunk*ho*wo] when a pass runs im2col, and with a
 * fused pool also the scratch of the faster paths (phase, Winograd,
 * winners-only backward; the largest of those in use); tmp holds
 * [o, chunk*ho*wo] when a pass runs im2col and is 0 otherwise (an unused
 * buffer may then be any pointer, NULL included). Either size may be 0. */
int hp_conv_chunk(const hp_conv_shape_t *s, int B);
size_t hp_conv_cols_size(const hp_conv_shape_t *s, int B);
size_t hp_conv_tmp_size(const hp_conv_shape_t *s, int B);

/* x[B,c,h,w] -> y[B,o,ho,wo] = act(W[o, c*kh*kw] * patches + b[o]).
 * cols and tmp are scratch (sizes above; nothing in them is kept between
 * calls). Without pool (im2col path), per chunk: unfold into cols, one
 * sgemm into tmp, and a fused pass adds the bias, applies the activation
 * and reorders tmp into y's layout.
 * With a fused max-pool (s->pool > 0), y is the pooled [B,o,pho,pwo] and
 * argmax[B,o,pho,pwo] records the winners (offsets in the ho x wo plane,
 * first maximum in row-major window order; NaN never replaces an earlier
 * value): the pool takes the max of the raw conv values, then bias and
 * activation are applied to the pooled values only (every supported
 * activation is non-decreasing, so this equals pooling the activated
 * output), and the full-size output is never stored. The conv values come
 * from the phase path (c*kh*kw <= 32 under a 2x2 stride-2 pool), Winograd
 * F(2x2,3x3) (other 3x3 stride-1 convs under that pool; rounding differs
 * from im2col by a few ulps) or im2col + sgemm (the rest); the first two
 * use only cols. argmax is unused without pool. */
void hp_conv_forward(const hp_conv_shape_t *s, const float *x, const float *W, const float *b,
                     float *cols, float *tmp, float *y, int32_t *argmax, int B, hp_act_t act);
/* x[B,c,h,w] (the forward input), y and argmax (its output), dy (same shape
 * as y, overwritten) -> dW[o, c*kh*kw] +=, db[o] +=, dx[B,c,h,w] = (dx may
 * be NULL). cols and tmp are scratch. With a fused pool the gradient goes
 * to the winners argmax recorded (phase path, or winners-only when a patch
 * row kw*c >= 16: both use only cols; otherwise im2col). */
void hp_conv_backward(const hp_conv_shape_t *s, const float *x, float *cols, float *tmp,
                      const float *W, const float *y, const int32_t *argmax, float *dy,
                      float *dx, float *dW, float *db, int B, hp_act_t act);
/* The unfolding itself, exposed for tests: cols[c*kh*kw, B*ho*wo]. */
void hp_conv_im2col(const hp_conv_shape_t *s, const float *x, float *cols, int B);

/* ---- max-pool ---------------------------------------------------------- */

/* x[B,c,h,w] -> y[B,c,ho,wo], ho = (h - k) / stride + 1, windows k x k.
 * argmax[B,c,ho,wo] records the winning offset inside each input plane. */
void hp_maxpool_forward(const float *x, float *y, int32_t *argmax, int B, int c, int h, int w,
                        int k, int stride);
/* One plane: x[h,w] -> y[ho,wo], argmax[ho,wo] (used by the fused conv). */
void hp_maxpool_plane(const float *x, float *y, int32_t *argmax, int h, int w, int k,
                      int stride);
/* dx[B,c,h,w] = scatter of dy[B,c,ho,wo] to the winners (dx is overwritten). */
void hp_maxpool_backward(const float *dy, const int32_t *argmax, float *dx, int B, int c, int h,
                         int w, int ho, int wo);

/* ---- batch normalization ---------------------------------------------- */

/* x viewed as [B, c, s]: s = 1 after a dense layer (features), s = h*w after
 * a conv (per-channel statistics over batch and positions).
 * Training: y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps)
 * with the batch's mean and biased variance; saves xhat[B,c,s] and
 * invstd[c] for backward and updates the running estimates
 * r <- (1 - momentum) r + momentum * batch value (variance unbiased). */
void hp_bn_forward_train(const float *x, const float *gamma, const float *beta, float *y,
                         float *xhat, float *invstd, float *run_mean, float *run_var, int B,
                         int c, int s, float momentum, float eps);
/* Inference: the running estimates replace the batch statistics. */
void hp_bn_forward_eval(const float *x, const float *gamma, const float *beta, float *y,
                        const float *run_mean, const float *run_var, int B, int c, int s,
                        float eps);
/* dgamma[c] += sum dy*xhat, dbeta[c] += sum dy,
 * dx = gamma*invstd/N * (N dy - sum dy - xhat sum(dy xhat)), N = B*s. */
void hp_bn_backward(const float *dy, const float *xhat, const float *gamma,
                    const float *invstd, float *dx, float *dgamma, float *dbeta, int B, int c,
                    int s);

/* ---- dropout (inverted) ----------------------------------------------- */

/* Training: mask[n] = (keep ? 1/(1-p) : 0) with P(drop) = p, y = x * mask,
 * so inference is the identity. y may equal x. */
void hp_dropout_forward(const float *x, float *y, float *mask, size_t n, float p,
                        hp_rng_t *rng);
/* dx = dy * mask; dx may equal dy. */
void hp_dropout_backward(const float *dy, const float *mask, float *dx, size_t n);

/* ---- losses ------------------------------------------------------------ */

/* Softmax cross-entropy of logits[B,k] against class labels y[B] (each in
 * [0, k)), numerically stable (max subtracted, log-sum-exp). Returns the SUM
 * of the B per-sample losses; adds the number of argmax hits to *correct
 * (may be NULL). When dlogits is not NULL it receives
 * grad_scale * (softmax - onehot) (grad_scale = 1/B for a mean loss). */
double hp_loss_softmax_ce(const float *logits, const int32_t *y, int B, int k, float *dlogits,
                          float grad_scale, long *correct);
/* Mean squared error against one-hot targets: per sample
 * sum_j (p_j - t_j)^2 / k (so the batch mean equals PyTorch's MSELoss);
 * returns the sum over samples; dpred = grad_scale * 2 (p - t) / k. */
double hp_loss_mse(const float *pred, const int32_t *y, int B, int k, float *dpred,
                   float grad_scale, long *correct);

#endif

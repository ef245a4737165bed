/* Dense (fully connected) layer: one sgemm per product with the transposes
 * folded into the call, bias and activation fused into one pass. Weights
 * are stored [out, in] (a row per output unit). */
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/layers.h"

/* y[B,out] += b[out], then y = relu(y): one pass over y. */
HP_HOT static void bias_relu(float *y, const float *b, int B, int out) {
  for (int r = 0; r < B; r++) {
    float *row = y + (size_t)r * out;
    for (int j = 0; j < out; j++) {
      float v = row[j] + b[j];
      row[j] = v < 0.0f ? 0.0f : v; /* NaN passes through: divergence shows */
    }
  }
}

HP_HOT static void bias_add(float *y, const float *b, int B, int out) {
  for (int r = 0; r < B; r++) {
    float *row = y + (size_t)r * out;
    for (int j = 0; j < out; j++) row[j] += b[j];
  }
}

/* dy[B,out] = (y > 0 ? dy : 0); db[out] += column sums of dy. */
HP_HOT static void relu_back_bias(const float *y, float *dy, float *db, int B, int out) {
  for (int r = 0; r < B; r++) {
    const float *yr = y + (size_t)r * out;
    float *dr = dy + (size_t)r * out;
    for (int j = 0; j < out; j++) {
      float g = yr[j] > 0.0f ? dr[j] : 0.0f;
      dr[j] = g;
      db[j] += g;
    }
  }
}

HP_HOT static void bias_grad(const float *dy, float *db, int B, int out) {
  for (int r = 0; r < B; r++) {
    const float *dr = dy + (size_t)r * out;
    for (int j = 0; j < out; j++) db[j] += dr[j];
  }
}

/* y[B,out] (the product) += b, then the activation, in one pass */
static void bias_act(float *y, const float *b, int B, int out, hp_act_t act) {
  if (act.kind == HP_ACT_RELU) {
    bias_relu(y, b, B, out);
  } else {
    bias_add(y, b, B, out);
    if (act.kind != HP_ACT_NONE) hp_act_forward(act, y, y, (size_t)B * out);
  }
}

/* x[B,in], W[out,in], b[out] -> y[B,out] */
void hp_dense_forward(const float *x, const float *W, const float *b, float *y, int B, int in,
                      int out, hp_act_t act) {
  hp_sgemm(false, true, B, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
  bias_act(y, b, B, out, act);
}

void hp_dense_forward_bf16(const hp_bf16_t *xb, const hp_bf16_t *Wb, const float *b, float *y,
                           int B, int in, int out, hp_act_t act) {
  hp_gemm_bf16(false, true, B, out, in, 1.0f, xb, in, Wb, in, 0.0f, y, out);
  bias_act(y, b, B, out, act);
}

/* dy[B,out] (overwritten by the pre-activation gradient), x[B,in], y[B,out]
 * -> dW[out,in] (+)= dy^T x, db[out] (+)= sum dy, dx[B,in] = dy W */
/* dy <- the pre-activation gradient; db (+)= its column sums */
static void act_back_bias(const float *y, float *dy, float *db, int B, int out, hp_act_t act,
                          bool accumulate) {
  if (!accumulate) memset(db, 0, (size_t)out * sizeof *db);
  if (act.kind == HP_ACT_RELU) {
    relu_back_bias(y, dy, db, B, out);
  } else {
    if (act.kind != HP_ACT_NONE) hp_act_backward(act, y, dy, dy, (size_t)B * out);
    bias_grad(dy, db, B, out);
  }
}

void hp_dense_backward(const float *x, const float *W, const float *y, float *dy, float *dx,
                       float *dW, float *db, int B, int in, int out, hp_act_t act,
                       bool accumulate) {
  act_back_bias(y, dy, db, B, out, act, accumulate);
  hp_sgemm(true, false, out, in, B, 1.0f, dy, out, x, in, accumulate ? 1.0f : 0.0f, dW, in);
  if (dx != NULL) hp_sgemm(false, false, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void hp_dense_backward_bf16(const hp_bf16_t *xb, const hp_bf16_t *Wb, const float *y, float *dy,
                            hp_bf16_t *dyb, float *dx, float *dW, float *db, int B, int in,
                            int out, hp_act_t act, bool accumulate) {
  act_back_bias(y, dy, db, B, out, act, accumulate);
  hp_bf16_from_f32(dy, dyb, (size_t)B * out);
  hp_gemm_bf16(true, false, out, in, B, 1.0f, dyb, out, xb, in, accumulate ? 1.0f : 0.0f, dW,
               in);
  if (dx != NULL) hp_gemm_bf16(false, false, B, in, out, 1.0f, dyb, out, Wb, in, 0.0f, dx, in);
}

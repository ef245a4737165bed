/* Elementwise activations (ReLU, leaky ReLU, tanh, sigmoid). Each has a
 * forward and a backward written in terms of the output, so the model can
 * fuse them into the preceding dense/conv pass and run them in place. */
#include <math.h>

#include "hpsearch/layers.h"

const char *hp_act_name(hp_act_kind_t kind) {
  switch (kind) {
    case HP_ACT_NONE: return "none";
    case HP_ACT_RELU: return "relu";
    case HP_ACT_LEAKY: return "leaky_relu";
    case HP_ACT_TANH: return "tanh";
    case HP_ACT_SIGMOID: return "sigmoid";
  }
  return "?";
}

/* x[n] -> y[n]; separate loops per kind so each one vectorises. */
HP_HOT void hp_act_forward(hp_act_t act, const float *x, float *y, size_t n) {
  switch (act.kind) {
    case HP_ACT_NONE:
      if (y != x)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
      break;
    case HP_ACT_RELU:
      for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN passes through */
      break;
    case HP_ACT_LEAKY: {
      const float a = act.slope;
      for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
      break;
    }
    case HP_ACT_TANH:
      for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
      break;
    case HP_ACT_SIGMOID:
      /* Written so that exp never overflows to give inf/inf. */
      for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (v >= 0) {
          y[i] = 1.0f / (1.0f + expf(-v));
        } else {
          float e = expf(v);
          y[i] = e / (1.0f + e);
        }
      }
      break;
  }
}

/* dy[n], y[n] = f(x) -> dx[n] = dy * f'(x). */
HP_HOT void hp_act_backward(hp_act_t act, const float *y, const float *dy, float *dx, size_t n) {
  switch (act.kind) {
    case HP_ACT_NONE:
      if (dx != dy)
        for (size_t i = 0; i < n; i++) dx[i] = dy[i];
      break;
    case HP_ACT_RELU:
      for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case HP_ACT_LEAKY: {
      /* slope >= 0, so y > 0 exactly when x > 0. */
      const float a = act.slope;
      for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : a * dy[i];
      break;
    }
    case HP_ACT_TANH:
      for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case HP_ACT_SIGMOID:
      for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
  }
}

/* Max-pooling over k x k windows. The forward pass records the position of
 * each window's maximum so backward is a plain scatter. */
#include <string.h>

#include "hpsearch/layers.h"

/* x[B,c,h,w] -> y[B,c,ho,wo], argmax[B,c,ho,wo] (offset in the input plane) */
void hp_maxpool_forward(const float *x, float *y, int32_t *argmax, int B, int c, int h, int w,
                        int k, int stride) {
  const int ho = (h - k) / stride + 1, wo = (w - k) / stride + 1;
  const size_t planes = (size_t)B * c;
  for (size_t p = 0; p < planes; p++) {
    const float *src = x + p * h * w;
    float *dst = y + p * ho * wo;
    int32_t *am = argmax + p * ho * wo;
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++) {
        int best = oy * stride * w + ox * stride;
        float m = src[best];
        for (int i = 0; i < k; i++)
          for (int j = 0; j < k; j++) {
            int at = (oy * stride + i) * w + ox * stride + j;
            /* '>' keeps the first maximum; NaN never wins, but a NaN loss
             * is caught anyway. */
            if (src[at] > m) m = src[at], best = at;
          }
        dst[oy * wo + ox] = m;
        am[oy * wo + ox] = best;
      }
  }
}

/* dy[B,c,ho,wo] -> dx[B,c,h,w] (overwritten) */
void hp_maxpool_backward(const float *dy, const int32_t *argmax, float *dx, int B, int c, int h,
                         int w, int ho, int wo) {
  const size_t planes = (size_t)B * c, in = (size_t)h * w, out = (size_t)ho * wo;
  memset(dx, 0, planes * in * sizeof *dx);
  for (size_t p = 0; p < planes; p++) {
    float *d = dx + p * in;
    const float *g = dy + p * out;
    const int32_t *am = argmax + p * out;
    for (size_t i = 0; i < out; i++) d[am[i]] += g[i];
  }
}

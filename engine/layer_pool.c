/* Max-pooling over k x k windows. The forward pass records the position of
 * each window's maximum so backward is a plain scatter. */
#include <string.h>

#include "hpsearch/layers.h"

/* The common 2x2 window with stride 2: two input rows per output row, no
 * inner window loops. Same tie rule as the general loop (first maximum in
 * row-major window order wins). */
static void pool2x2(const float *src, float *dst, int32_t *am, int w, int ho, int wo) {
  for (int oy = 0; oy < ho; oy++) {
    const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w;
    const int32_t base = 2 * oy * w;
    for (int ox = 0; ox < wo; ox++) {
      const int j = 2 * ox;
      float m = r0[j];
      int32_t at = base + j;
      if (r0[j + 1] > m) m = r0[j + 1], at = base + j + 1;
      if (r1[j] > m) m = r1[j], at = base + w + j;
      if (r1[j + 1] > m) m = r1[j + 1], at = base + w + j + 1;
      dst[oy * wo + ox] = m;
      am[oy * wo + ox] = at;
    }
  }
}

/* x[h,w] -> y[ho,wo], argmax[ho,wo] (offset in the plane) */
void hp_maxpool_plane(const float *src, float *dst, int32_t *am, int h, int w, int k,
                      int stride) {
  const int ho = (h - k) / stride + 1, wo = (w - k) / stride + 1;
  if (k == 2 && stride == 2) {
    pool2x2(src, dst, am, w, ho, wo);
    return;
  }
  for (int oy = 0; oy < ho; oy++)
    for (int ox = 0; ox < wo; ox++) {
      int best = oy * stride * w + ox * stride;
      float m = src[best];
      for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
          int at = (oy * stride + i) * w + ox * stride + j;
          /* '>' keeps the first maximum. A NaN is the output only when
           * it is the window's first value (no comparison with it is
           * true); elsewhere it is skipped. A NaN that reaches the
           * output makes the loss NaN, which ends training as diverged. */
          if (src[at] > m) m = src[at], best = at;
        }
      dst[oy * wo + ox] = m;
      am[oy * wo + ox] = best;
    }
}

/* x[B,c,h,w] -> y[B,c,ho,wo], argmax[B,c,ho,wo] (offset in the input plane) */
void hp_maxpool_forward(const float *x, float *y, int32_t *argmax, int B, int c, int h, int w,
                        int k, int stride) {
  const int ho = (h - k) / stride + 1, wo = (w - k) / stride + 1;
  const size_t planes = (size_t)B * c;
  for (size_t p = 0; p < planes; p++)
    hp_maxpool_plane(x + p * h * w, y + p * ho * wo, argmax + p * ho * wo, h, w, k, stride);
}

/* dy[B,c,ho,wo] -> dx[B,c,h,w] (overwritten) */
void hp_maxpool_backward(const float *dy, const int32_t *argmax, float *dx, int B, int c, int h,
                         int w, int ho, int wo) {
  const size_t planes = (size_t)B * c, in = (size_t)h * w, out = (size_t)ho * wo;
  for (size_t p = 0; p < planes; p++) {
    float *d = dx + p * in;
    const float *g = dy + p * out;
    const int32_t *am = argmax + p * out;
    /* One plane at a time: the zeroing stays in cache for the scatter. */
    memset(d, 0, in * sizeof *d);
    for (size_t i = 0; i < out; i++) d[am[i]] += g[i];
  }
}

/* Inverted dropout: while training each unit is kept with probability
 * 1 - p and scaled by 1/(1 - p), so the layer is the identity at inference
 * and needs no rescaling there. */
#include "hpsearch/layers.h"

/* x[n] -> y[n], mask[n] */
void hp_dropout_forward(const float *x, float *y, float *mask, size_t n, float p,
                        hp_rng_t *rng) {
  const float keep_scale = 1.0f / (1.0f - p);
  /* Drop when a 32-bit uniform integer falls below p * 2^32: two decisions
   * per 64-bit draw. */
  const uint64_t thr = (uint64_t)((double)p * 4294967296.0);
  /* The generator's state in a local copy (registers) and the product in
   * the same pass: the same draws in the same order as one hp_rng_u64 call
   * per pair, so the same masks. */
  hp_rng_t r = *rng;
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t v = hp_rng_u64(&r);
    const float m0 = (v & 0xffffffffu) < thr ? 0.0f : keep_scale;
    const float m1 = (v >> 32) < thr ? 0.0f : keep_scale;
    mask[i] = m0, mask[i + 1] = m1;
    y[i] = x[i] * m0, y[i + 1] = x[i + 1] * m1;
  }
  if (i < n) {
    const float m = (hp_rng_u64(&r) & 0xffffffffu) < thr ? 0.0f : keep_scale;
    mask[i] = m, y[i] = x[i] * m;
  }
  *rng = r;
}

/* dy[n], mask[n] -> dx[n] */
void hp_dropout_backward(const float *dy, const float *mask, float *dx, size_t n) {
  for (size_t j = 0; j < n; j++) dx[j] = dy[j] * mask[j];
}

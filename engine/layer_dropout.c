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
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    uint64_t r = hp_rng_u64(rng);
    mask[i] = (r & 0xffffffffu) < thr ? 0.0f : keep_scale;
    mask[i + 1] = (r >> 32) < thr ? 0.0f : keep_scale;
  }
  if (i < n) mask[i] = (hp_rng_u64(rng) & 0xffffffffu) < thr ? 0.0f : keep_scale;
  for (size_t j = 0; j < n; j++) y[j] = x[j] * mask[j];
}

/* dy[n], mask[n] -> dx[n] */
void hp_dropout_backward(const float *dy, const float *mask, float *dx, size_t n) {
  for (size_t j = 0; j < n; j++) dx[j] = dy[j] * mask[j];
}

/* Losses over a minibatch of class scores: softmax cross-entropy and mean
 * squared error against one-hot targets. Each returns the summed loss,
 * counts correct argmax predictions and writes the gradient in the same
 * pass. */
#include <math.h>

#include "hpsearch/layers.h"

static int argmax(const float *v, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (v[j] > v[best]) best = j;
  return best;
}

/* logits[B,k], y[B] -> dlogits[B,k]; returns sum of -log softmax(logits)_y */
double hp_loss_softmax_ce(const float *logits, const int32_t *y, int B, int k, float *dlogits,
                          float grad_scale, long *correct) {
  double total = 0;
  long hits = 0;
  for (int b = 0; b < B; b++) {
    const float *z = logits + (size_t)b * k;
    int am = argmax(z, k);
    hits += am == y[b];
    /* log-sum-exp with the max subtracted: exp never overflows. NaN in z
     * propagates to the loss, where the trainer detects it. */
    float m = z[am];
    double se = 0;
    for (int j = 0; j < k; j++) se += exp((double)z[j] - m);
    double lse = m + log(se);
    total += lse - z[y[b]];
    if (dlogits != NULL) {
      float *g = dlogits + (size_t)b * k;
      for (int j = 0; j < k; j++) g[j] = (float)(exp((double)z[j] - lse)) * grad_scale;
      g[y[b]] -= grad_scale;
    }
  }
  if (correct != NULL) *correct += hits;
  return total;
}

/* pred[B,k], y[B] -> dpred[B,k]; returns sum over samples of mean_j (p-t)^2 */
double hp_loss_mse(const float *pred, const int32_t *y, int B, int k, float *dpred,
                   float grad_scale, long *correct) {
  double total = 0;
  long hits = 0;
  for (int b = 0; b < B; b++) {
    const float *p = pred + (size_t)b * k;
    hits += argmax(p, k) == y[b];
    double s = 0;
    for (int j = 0; j < k; j++) {
      float d = p[j] - (j == y[b] ? 1.0f : 0.0f);
      s += (double)d * d;
      if (dpred != NULL) dpred[(size_t)b * k + j] = grad_scale * 2.0f * d / (float)k;
    }
    total += s / k;
  }
  if (correct != NULL) *correct += hits;
  return total;
}

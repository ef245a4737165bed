/* Batch normalization (Ioffe & Szegedy) for dense outputs [B, c] and conv
 * outputs [B, c, h*w]: batch statistics while training, running estimates
 * at inference, learned scale gamma and shift beta. One channel at a time,
 * with the statistics summed in double so large batches lose no precision;
 * the strided walk over a dense batch stays within the L2 cache at the
 * engine's sizes. */
#include <math.h>

#include "hpsearch/layers.h"

/* x[B,c,s] -> y, xhat[B,c,s], invstd[c]; run_mean/run_var[c] updated. */
void hp_bn_forward_train(const float *x, const float *gamma, const float *beta, float *y,
                         float *xhat, float *invstd, float *run_mean, float *run_var, int B,
                         int c, int s, float momentum, float eps) {
  const double n = (double)B * s;
  const size_t bstride = (size_t)c * s;
  for (int j = 0; j < c; j++) {
    const size_t base = (size_t)j * s;
    double a = 0, a2 = 0;
    for (int b = 0; b < B; b++) {
      const float *p = x + b * bstride + base;
      for (int i = 0; i < s; i++) a += p[i], a2 += (double)p[i] * p[i];
    }
    double mean = a / n, var = a2 / n - mean * mean;
    if (var < 0) var = 0; /* rounding */
    const float is = (float)(1.0 / sqrt(var + eps)), m = (float)mean, g = gamma[j],
                be = beta[j];
    invstd[j] = is;
    run_mean[j] = (1 - momentum) * run_mean[j] + momentum * m;
    /* The running variance is the unbiased estimate, as in PyTorch. */
    run_var[j] = (1 - momentum) * run_var[j] + momentum * (float)(n > 1 ? var * n / (n - 1) : var);
    for (int b = 0; b < B; b++) {
      const size_t at = b * bstride + base;
      for (int i = 0; i < s; i++) {
        float h = (x[at + i] - m) * is;
        xhat[at + i] = h;
        y[at + i] = g * h + be;
      }
    }
  }
}

/* x[B,c,s] -> y[B,c,s] with the running estimates */
void hp_bn_forward_eval(const float *x, const float *gamma, const float *beta, float *y,
                        const float *run_mean, const float *run_var, int B, int c, int s,
                        float eps) {
  for (int b = 0; b < B; b++)
    for (int j = 0; j < c; j++) {
      const size_t at = ((size_t)b * c + j) * s;
      const float scale = gamma[j] / sqrtf(run_var[j] + eps);
      const float shift = beta[j] - run_mean[j] * scale;
      for (int i = 0; i < s; i++) y[at + i] = x[at + i] * scale + shift;
    }
}

/* dy, xhat[B,c,s], gamma, invstd[c] -> dx[B,c,s] (may equal dy);
 * dgamma, dbeta[c] += */
void hp_bn_backward(const float *dy, const float *xhat, const float *gamma,
                    const float *invstd, float *dx, float *dgamma, float *dbeta, int B, int c,
                    int s) {
  const double n = (double)B * s;
  const size_t bstride = (size_t)c * s;
  for (int j = 0; j < c; j++) {
    const size_t base = (size_t)j * s;
    double a = 0, a2 = 0;
    for (int b = 0; b < B; b++) {
      const size_t at = b * bstride + base;
      for (int i = 0; i < s; i++) a += dy[at + i], a2 += (double)dy[at + i] * xhat[at + i];
    }
    dgamma[j] += (float)a2;
    dbeta[j] += (float)a;
    /* dx = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)) */
    const float k = gamma[j] * invstd[j], mdy = (float)(a / n), mdyx = (float)(a2 / n);
    for (int b = 0; b < B; b++) {
      const size_t at = b * bstride + base;
      for (int i = 0; i < s; i++) dx[at + i] = k * (dy[at + i] - mdy - xhat[at + i] * mdyx);
    }
  }
}

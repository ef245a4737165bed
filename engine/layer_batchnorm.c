/* Batch normalization (Ioffe & Szegedy) for dense outputs [B, c] and conv
 * outputs [B, c, h*w]: batch statistics while training, running estimates
 * at inference, learned scale gamma and shift beta. The statistics are
 * summed in double so large batches lose no precision. Conv outputs go one
 * channel at a time (a channel's h*w values are contiguous); dense outputs
 * (s == 1) go row by row over a block of channels, each channel's sums
 * taken in the same order (samples 0..B-1) with the same operations, so
 * both walks give the same bits, the row walk vectorised and contiguous. */
#include <math.h>

#include "hpsearch/hot.h"
#include "hpsearch/layers.h"

/* Channels per block of the dense walk (its sums and constants on the stack). */
#define BN_BLOCK 256

/* Dense forward: x[B,c] -> y, xhat[B,c], invstd[c]; running estimates. */
HP_HOT static void bn_dense_forward_train(const float *x, const float *gamma, const float *beta,
                                          float *y, float *xhat, float *invstd, float *run_mean,
                                          float *run_var, int B, int c, float momentum,
                                          float eps) {
  const double n = (double)B;
  double a[BN_BLOCK], a2[BN_BLOCK];
  float mf[BN_BLOCK];
  for (int j0 = 0; j0 < c; j0 += BN_BLOCK) {
    const int nj = c - j0 < BN_BLOCK ? c - j0 : BN_BLOCK;
    for (int j = 0; j < nj; j++) a[j] = 0, a2[j] = 0;
    for (int b = 0; b < B; b++) {
      const float *p = x + (size_t)b * c + j0;
      for (int j = 0; j < nj; j++) a[j] += p[j], a2[j] += (double)p[j] * p[j];
    }
    for (int j = 0; j < nj; j++) {
      double mean = a[j] / n, var = a2[j] / n - mean * mean;
      if (var < 0) var = 0; /* rounding */
      const float is = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
      mf[j] = m;
      invstd[j0 + j] = is;
      run_mean[j0 + j] = (1 - momentum) * run_mean[j0 + j] + momentum * m;
      run_var[j0 + j] = (1 - momentum) * run_var[j0 + j] +
                        momentum * (float)(n > 1 ? var * n / (n - 1) : var);
    }
    const float *is = invstd + j0, *g = gamma + j0, *be = beta + j0;
    for (int b = 0; b < B; b++) {
      const size_t at = (size_t)b * c + j0;
      for (int j = 0; j < nj; j++) {
        float h = (x[at + j] - mf[j]) * is[j];
        xhat[at + j] = h;
        y[at + j] = g[j] * h + be[j];
      }
    }
  }
}

/* Dense backward: dy, xhat[B,c] -> dx[B,c] (may equal dy); dgamma, dbeta += */
HP_HOT static void bn_dense_backward(const float *dy, const float *xhat, const float *gamma,
                                     const float *invstd, float *dx, float *dgamma,
                                     float *dbeta, int B, int c) {
  const double n = (double)B;
  double a[BN_BLOCK], a2[BN_BLOCK];
  float k[BN_BLOCK], mdy[BN_BLOCK], mdyx[BN_BLOCK];
  for (int j0 = 0; j0 < c; j0 += BN_BLOCK) {
    const int nj = c - j0 < BN_BLOCK ? c - j0 : BN_BLOCK;
    for (int j = 0; j < nj; j++) a[j] = 0, a2[j] = 0;
    for (int b = 0; b < B; b++) {
      const size_t at = (size_t)b * c + j0;
      for (int j = 0; j < nj; j++) a[j] += dy[at + j], a2[j] += (double)dy[at + j] * xhat[at + j];
    }
    for (int j = 0; j < nj; j++) {
      dgamma[j0 + j] += (float)a2[j];
      dbeta[j0 + j] += (float)a[j];
      k[j] = gamma[j0 + j] * invstd[j0 + j], mdy[j] = (float)(a[j] / n),
      mdyx[j] = (float)(a2[j] / n);
    }
    for (int b = 0; b < B; b++) {
      const size_t at = (size_t)b * c + j0;
      for (int j = 0; j < nj; j++) dx[at + j] = k[j] * (dy[at + j] - mdy[j] - xhat[at + j] * mdyx[j]);
    }
  }
}

/* x[B,c,s] -> y, xhat[B,c,s], invstd[c]; run_mean/run_var[c] updated. */
void hp_bn_forward_train(const float *x, const float *gamma, const float *beta, float *y,
                         float *xhat, float *invstd, float *run_mean, float *run_var, int B,
                         int c, int s, float momentum, float eps) {
  if (s == 1) {
    bn_dense_forward_train(x, gamma, beta, y, xhat, invstd, run_mean, run_var, B, c, momentum,
                           eps);
    return;
  }
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

/* x[B,c,s] -> y[B,c,s] with the running estimates: a channel's scale and
 * shift computed once per block of channels, not once per sample. */
HP_HOT void hp_bn_forward_eval(const float *x, const float *gamma, const float *beta, float *y,
                               const float *run_mean, const float *run_var, int B, int c, int s,
                               float eps) {
  float scale[BN_BLOCK], shift[BN_BLOCK];
  for (int j0 = 0; j0 < c; j0 += BN_BLOCK) {
    const int nj = c - j0 < BN_BLOCK ? c - j0 : BN_BLOCK;
    for (int j = 0; j < nj; j++) {
      scale[j] = gamma[j0 + j] / sqrtf(run_var[j0 + j] + eps);
      shift[j] = beta[j0 + j] - run_mean[j0 + j] * scale[j];
    }
    for (int b = 0; b < B; b++) {
      if (s == 1) {
        const size_t at = (size_t)b * c + j0;
        for (int j = 0; j < nj; j++) y[at + j] = x[at + j] * scale[j] + shift[j];
        continue;
      }
      for (int j = 0; j < nj; j++) {
        const size_t at = ((size_t)b * c + j0 + j) * s;
        for (int i = 0; i < s; i++) y[at + i] = x[at + i] * scale[j] + shift[j];
      }
    }
  }
}

/* dy, xhat[B,c,s], gamma, invstd[c] -> dx[B,c,s] (may equal dy);
 * dgamma, dbeta[c] += */
void hp_bn_backward(const float *dy, const float *xhat, const float *gamma,
                    const float *invstd, float *dx, float *dgamma, float *dbeta, int B, int c,
                    int s) {
  if (s == 1) {
    bn_dense_backward(dy, xhat, gamma, invstd, dx, dgamma, dbeta, B, c);
    return;
  }
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

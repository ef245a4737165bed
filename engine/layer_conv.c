/* 2-D convolution by im2col + sgemm. The whole minibatch is unfolded into
 * one matrix of patches, so each pass is ONE large sgemm instead of B small
 * ones; a fused pass adds the bias, applies the activation and reorders the
 * product (channel-major [o, B*ho*wo]) into the batch-major layout
 * [B, o, ho, wo] the other layers use. */
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/layers.h"

int hp_conv_shape_init(hp_conv_shape_t *s) {
  if (s->c < 1 || s->h < 1 || s->w < 1 || s->o < 1 || s->kh < 1 || s->kw < 1 ||
      s->stride < 1 || s->pad < 0)
    return -1;
  int hh = s->h + 2 * s->pad - s->kh, ww = s->w + 2 * s->pad - s->kw;
  if (hh < 0 || ww < 0) return -1;
  s->ho = hh / s->stride + 1;
  s->wo = ww / s->stride + 1;
  return 0;
}

size_t hp_conv_cols_size(const hp_conv_shape_t *s, int B) {
  return (size_t)s->c * s->kh * s->kw * B * s->ho * s->wo;
}

size_t hp_conv_tmp_size(const hp_conv_shape_t *s, int B) {
  return (size_t)s->o * B * s->ho * s->wo;
}

/* x[B,c,h,w] -> cols[c*kh*kw, B*ho*wo]: row (ci,ki,kj), column
 * (b, oy, ox) holds x[b, ci, oy*stride - pad + ki, ox*stride - pad + kj]
 * (zero outside the image). */
void hp_conv_im2col(const hp_conv_shape_t *s, const float *x, float *cols, int B) {
  const int h = s->h, w = s->w, ho = s->ho, wo = s->wo, st = s->stride, pad = s->pad;
  const size_t plane = (size_t)h * w, npix = (size_t)ho * wo;
  float *dst = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++)
        for (int b = 0; b < B; b++) {
          const float *src = x + ((size_t)b * s->c + ci) * plane;
          for (int oy = 0; oy < ho; oy++) {
            int iy = oy * st - pad + ki;
            float *d = dst + (size_t)oy * wo;
            if (iy < 0 || iy >= h) {
              memset(d, 0, (size_t)wo * sizeof *d);
              continue;
            }
            const float *srow = src + (size_t)iy * w;
            /* Columns whose input ix = ox*st - pad + kj lies inside [0, w). */
            int lo = 0, hi = wo;
            while (lo < wo && lo * st - pad + kj < 0) lo++;
            while (hi > lo && (hi - 1) * st - pad + kj >= w) hi--;
            for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
            if (st == 1) {
              memcpy(d + lo, srow + lo - pad + kj, (size_t)(hi - lo) * sizeof *d);
            } else {
              for (int ox = lo; ox < hi; ox++) d[ox] = srow[ox * st - pad + kj];
            }
            for (int ox = hi; ox < wo; ox++) d[ox] = 0.0f;
          }
          dst += npix;
        }
}

/* The adjoint of im2col: dx[B,c,h,w] = sum of cols entries that read each
 * input pixel (dx is overwritten). */
static void col2im(const hp_conv_shape_t *s, const float *cols, float *dx, int B) {
  const int h = s->h, w = s->w, ho = s->ho, wo = s->wo, st = s->stride, pad = s->pad;
  const size_t plane = (size_t)h * w, npix = (size_t)ho * wo;
  memset(dx, 0, (size_t)B * s->c * plane * sizeof *dx);
  const float *src = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++)
        for (int b = 0; b < B; b++) {
          float *dst = dx + ((size_t)b * s->c + ci) * plane;
          for (int oy = 0; oy < ho; oy++) {
            int iy = oy * st - pad + ki;
            if (iy < 0 || iy >= h) continue;
            const float *srow = src + (size_t)oy * wo;
            float *drow = dst + (size_t)iy * w;
            int lo = 0, hi = wo;
            while (lo < wo && lo * st - pad + kj < 0) lo++;
            while (hi > lo && (hi - 1) * st - pad + kj >= w) hi--;
            if (st == 1) {
              float *dd = drow - pad + kj;
              for (int ox = lo; ox < hi; ox++) dd[ox] += srow[ox];
            } else {
              for (int ox = lo; ox < hi; ox++) drow[ox * st - pad + kj] += srow[ox];
            }
          }
          src += npix;
        }
}

/* tmp[o, B*npix] + b[o] -> y[B, o, npix] with the activation applied. */
HP_HOT static void bias_act_reorder(const float *tmp, const float *bias, float *y, int B, int o,
                                    size_t npix, hp_act_t act) {
  for (int b = 0; b < B; b++)
    for (int c = 0; c < o; c++) {
      const float *src = tmp + ((size_t)c * B + b) * npix;
      float *dst = y + ((size_t)b * o + c) * npix;
      const float bc = bias[c];
      if (act.kind == HP_ACT_RELU) {
        for (size_t i = 0; i < npix; i++) {
          float v = src[i] + bc;
          dst[i] = v < 0.0f ? 0.0f : v; /* NaN passes through */
        }
      } else {
        for (size_t i = 0; i < npix; i++) dst[i] = src[i] + bc;
      }
    }
  if (act.kind != HP_ACT_RELU && act.kind != HP_ACT_NONE)
    hp_act_forward(act, y, y, (size_t)B * o * npix);
}

/* dy[B, o, npix] (activation gradient applied through y) -> tmp[o, B*npix],
 * db[o] += sums. */
HP_HOT static void act_back_reorder(const float *y, float *dy, float *tmp, float *db, int B,
                                    int o, size_t npix, hp_act_t act) {
  if (act.kind != HP_ACT_RELU && act.kind != HP_ACT_NONE)
    hp_act_backward(act, y, dy, dy, (size_t)B * o * npix);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < o; c++) {
      const float *yr = y + ((size_t)b * o + c) * npix;
      const float *src = dy + ((size_t)b * o + c) * npix;
      float *dst = tmp + ((size_t)c * B + b) * npix;
      float sum = 0.0f;
      if (act.kind == HP_ACT_RELU) {
        for (size_t i = 0; i < npix; i++) {
          float g = yr[i] > 0.0f ? src[i] : 0.0f;
          dst[i] = g;
          sum += g;
        }
      } else {
        for (size_t i = 0; i < npix; i++) {
          dst[i] = src[i];
          sum += src[i];
        }
      }
      db[c] += sum;
    }
}

/* x[B,c,h,w], W[o, c*kh*kw], b[o] -> cols[c*kh*kw, B*ho*wo],
 * tmp[o, B*ho*wo], y[B,o,ho,wo] */
void hp_conv_forward(const hp_conv_shape_t *s, const float *x, const float *W, const float *b,
                     float *cols, float *tmp, float *y, int B, hp_act_t act) {
  const int kk = s->c * s->kh * s->kw;
  const size_t npix = (size_t)s->ho * s->wo;
  const int n = (int)(npix * B);
  hp_conv_im2col(s, x, cols, B);
  hp_sgemm(false, false, s->o, n, kk, 1.0f, W, kk, cols, n, 0.0f, tmp, n);
  bias_act_reorder(tmp, b, y, B, s->o, npix, act);
}

/* dy[B,o,ho,wo] -> tmp[o, N] (N = B*ho*wo); dW[o,kk] += tmp cols^T;
 * cols[kk, N] = W^T tmp (reusing cols); dx = col2im(cols). */
void hp_conv_backward(const hp_conv_shape_t *s, float *cols, float *tmp, const float *W,
                      const float *y, float *dy, float *dx, float *dW, float *db, int B,
                      hp_act_t act) {
  const int kk = s->c * s->kh * s->kw;
  const size_t npix = (size_t)s->ho * s->wo;
  const int n = (int)(npix * B);
  act_back_reorder(y, dy, tmp, db, B, s->o, npix, act);
  hp_sgemm(false, true, s->o, kk, n, 1.0f, tmp, n, cols, n, 1.0f, dW, kk);
  if (dx == NULL) return;
  hp_sgemm(true, false, kk, n, s->o, 1.0f, W, kk, tmp, n, 0.0f, cols, n);
  col2im(s, cols, dx, B);
}

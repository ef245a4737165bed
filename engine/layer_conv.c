/* 2-D convolution by im2col + sgemm. The minibatch is processed in chunks
 * of a few samples whose unfolded patches (about 1 MB) stay in the L2
 * cache: one sgemm per chunk, and the passes around it (unfolding, bias +
 * activation + reordering, folding back) never stream the whole batch
 * through memory. Measured on the engine's 64x288 conv at batch 128, chunks
 * of 4 samples ran the products at ~90 GFLOP/s against ~65 for one
 * batch-wide sgemm, and the elementwise passes got cheaper too. The backward
 * pass unfolds the input again instead of keeping the patches of the whole
 * batch (cheaper than reading them back from memory). The product is
 * channel-major [o, n*ho*wo]; a fused pass adds the bias, applies the
 * activation and reorders it into the batch-major [n, o, ho, wo] layout the
 * other layers use. */
#include <stdbool.h>
#include <stddef.h>
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
  s->pho = s->ho, s->pwo = s->wo;
  if (s->pool > 0) {
    if (s->pstride < 1 || s->pool > s->ho || s->pool > s->wo) return -1;
    s->pho = (s->ho - s->pool) / s->pstride + 1;
    s->pwo = (s->wo - s->pool) / s->pstride + 1;
  }
  return 0;
}

/* Samples per chunk: as many as keep the patches and the product (cols and
 * tmp) within about 1.25 MB, so they stay in a 1-2 MB L2 cache. */
int hp_conv_chunk(const hp_conv_shape_t *s, int B) {
  size_t per = ((size_t)s->c * s->kh * s->kw + (size_t)s->o) * s->ho * s->wo;
  size_t n = ((size_t)320 << 10) / (per ? per : 1);
  if (n < 1) n = 1;
  return n < (size_t)B ? (int)n : B;
}

size_t hp_conv_cols_size(const hp_conv_shape_t *s, int B) {
  return (size_t)s->c * s->kh * s->kw * hp_conv_chunk(s, B) * s->ho * s->wo;
}

size_t hp_conv_tmp_size(const hp_conv_shape_t *s, int B) {
  return (size_t)s->o * hp_conv_chunk(s, B) * s->ho * s->wo;
}

/* Output columns [lo, hi) whose input column ox*stride - pad + kj lies
 * inside [0, w); the others read zero padding. */
static void col_range(const hp_conv_shape_t *s, int kj, int *lo, int *hi) {
  int l = 0, h = s->wo;
  while (l < s->wo && l * s->stride - s->pad + kj < 0) l++;
  while (h > l && (h - 1) * s->stride - s->pad + kj >= s->w) h--;
  *lo = l, *hi = h;
}

/* "Same" convolutions (stride 1, output as large as the input) shift a whole
 * plane: for kernel offset (ki, kj) the patch row of output pixel k is input
 * pixel k + dy*w + dx (dy = ki - pad, dx = kj - pad), except in the border
 * rows/columns that read padding. One long copy plus a few border fixes
 * replaces ho short row copies. */
static bool same_shape(const hp_conv_shape_t *s) {
  return s->stride == 1 && s->ho == s->h && s->wo == s->w;
}

/* Valid output rows [*r0, *r1) and the flat range [*k0, *k1) to copy for
 * kernel offset (dy, dx) in a same-shaped plane of h x w. */
static void shift_range(int h, int w, int dy, int dx, int *r0, int *r1, int *k0, int *k1) {
  *r0 = dy < 0 ? -dy : 0;
  *r1 = dy > 0 ? h - dy : h;
  if (*r1 < *r0) *r1 = *r0;
  *k0 = *r0 * w + (dx < 0 ? -dx : 0);
  *k1 = *r1 * w - (dx > 0 ? dx : 0);
  if (*k1 < *k0) *k1 = *k0;
}

/* plane[h,w] shifted flat by dx columns: in rows [r0, r1) the |dx| columns
 * at the edge came from the neighbouring row; they stand for padding. */
static void clear_wrapped(float *plane, int w, int dx, int r0, int r1) {
  int c0 = dx < 0 ? 0 : w - dx, c1 = dx < 0 ? -dx : w;
  if (dx == 0) return;
  for (int r = r0; r < r1; r++)
    for (int c = c0; c < c1; c++) plane[(size_t)r * w + c] = 0.0f;
}

static void im2col_same(const hp_conv_shape_t *s, const float *x, float *cols, int B) {
  const int h = s->h, w = s->w;
  const size_t plane = (size_t)h * w;
  float *dst = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++) {
        const int dy = ki - s->pad, dx = kj - s->pad;
        int r0, r1, k0, k1;
        shift_range(h, w, dy, dx, &r0, &r1, &k0, &k1);
        const ptrdiff_t off = (ptrdiff_t)dy * w + dx;
        for (int b = 0; b < B; b++, dst += plane) {
          const float *src = x + ((size_t)b * s->c + ci) * plane;
          memset(dst, 0, (size_t)k0 * sizeof *dst);
          memcpy(dst + k0, src + k0 + off, (size_t)(k1 - k0) * sizeof *dst);
          memset(dst + k1, 0, (plane - (size_t)k1) * sizeof *dst);
          clear_wrapped(dst, w, dx, r0, r1); /* wrapped columns read padding */
        }
      }
}

/* The adjoint of im2col_same. Border entries of cols (gradients of padding)
 * are skipped by clearing them first, so the flat add cannot wrap them into
 * the neighbouring row. cols is scratch here. */
static void col2im_same(const hp_conv_shape_t *s, float *cols, float *dx_out, int B) {
  const int h = s->h, w = s->w;
  const size_t plane = (size_t)h * w;
  memset(dx_out, 0, (size_t)B * s->c * plane * sizeof *dx_out);
  float *src = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++) {
        const int dy = ki - s->pad, dx = kj - s->pad;
        int r0, r1, k0, k1;
        shift_range(h, w, dy, dx, &r0, &r1, &k0, &k1);
        const ptrdiff_t off = (ptrdiff_t)dy * w + dx;
        for (int b = 0; b < B; b++, src += plane) {
          float *dst = dx_out + ((size_t)b * s->c + ci) * plane + off;
          clear_wrapped(src, w, dx, r0, r1);
          for (int k = k0; k < k1; k++) dst[k] += src[k];
        }
      }
}

/* x[B,c,h,w] -> cols[c*kh*kw, B*ho*wo]: row (ci,ki,kj), column
 * (b, oy, ox) holds x[b, ci, oy*stride - pad + ki, ox*stride - pad + kj]
 * (zero outside the image). */
void hp_conv_im2col(const hp_conv_shape_t *s, const float *x, float *cols, int B) {
  if (same_shape(s)) {
    im2col_same(s, x, cols, B);
    return;
  }
  const int h = s->h, w = s->w, ho = s->ho, wo = s->wo, st = s->stride, pad = s->pad;
  const size_t plane = (size_t)h * w, npix = (size_t)ho * wo;
  float *dst = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++) {
        int lo, hi;
        col_range(s, kj, &lo, &hi);
        const int shift = kj - pad;
        for (int b = 0; b < B; b++) {
          const float *src = x + ((size_t)b * s->c + ci) * plane;
          for (int oy = 0; oy < ho; oy++) {
            const int iy = oy * st - pad + ki;
            float *d = dst + (size_t)oy * wo;
            if (iy < 0 || iy >= h) {
              for (int ox = 0; ox < wo; ox++) d[ox] = 0.0f;
              continue;
            }
            const float *srow = src + (size_t)iy * w;
            for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
            if (st == 1) {
              const float *sp = srow + shift;
              for (int ox = lo; ox < hi; ox++) d[ox] = sp[ox];
            } else {
              for (int ox = lo; ox < hi; ox++) d[ox] = srow[ox * st + shift];
            }
            for (int ox = hi; ox < wo; ox++) d[ox] = 0.0f;
          }
          dst += npix;
        }
      }
}

/* The adjoint of im2col: dx[B,c,h,w] = sum of cols entries that read each
 * input pixel (dx is overwritten; cols may be modified). */
static void col2im(const hp_conv_shape_t *s, float *cols, float *dx, int B) {
  if (same_shape(s)) {
    col2im_same(s, cols, dx, B);
    return;
  }
  const int h = s->h, w = s->w, ho = s->ho, wo = s->wo, st = s->stride, pad = s->pad;
  const size_t plane = (size_t)h * w, npix = (size_t)ho * wo;
  memset(dx, 0, (size_t)B * s->c * plane * sizeof *dx);
  const float *src = cols;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++) {
        int lo, hi;
        col_range(s, kj, &lo, &hi);
        const int shift = kj - pad;
        for (int b = 0; b < B; b++) {
          float *dst = dx + ((size_t)b * s->c + ci) * plane;
          for (int oy = 0; oy < ho; oy++) {
            const int iy = oy * st - pad + ki;
            if (iy < 0 || iy >= h) continue;
            const float *srow = src + (size_t)oy * wo;
            float *drow = dst + (size_t)iy * w;
            if (st == 1) {
              float *dd = drow + shift;
              for (int ox = lo; ox < hi; ox++) dd[ox] += srow[ox];
            } else {
              for (int ox = lo; ox < hi; ox++) drow[ox * st + shift] += srow[ox];
            }
          }
          src += npix;
        }
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

/* Fused max-pool, forward: each plane of tmp[o, B*npix] (raw products) is
 * pooled into y[B, o, pooled], then bias and activation are applied to the
 * pooled values. Activations are non-decreasing, so the winners are those of
 * the activated output. */
HP_HOT static void pool_bias_act(const hp_conv_shape_t *s, const float *tmp, const float *bias,
                                 float *y, int32_t *am, int B, hp_act_t act) {
  const size_t npix = (size_t)s->ho * s->wo, pp = (size_t)s->pho * s->pwo;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < s->o; c++) {
      float *dst = y + ((size_t)b * s->o + c) * pp;
      hp_maxpool_plane(tmp + ((size_t)c * B + b) * npix, dst,
                       am + ((size_t)b * s->o + c) * pp, s->ho, s->wo, s->pool, s->pstride);
      const float bc = bias[c];
      if (act.kind == HP_ACT_RELU) {
        for (size_t i = 0; i < pp; i++) {
          float v = dst[i] + bc;
          dst[i] = v < 0.0f ? 0.0f : v; /* NaN passes through */
        }
      } else {
        for (size_t i = 0; i < pp; i++) dst[i] += bc;
        if (act.kind != HP_ACT_NONE) hp_act_forward(act, dst, dst, pp);
      }
    }
}

/* Fused max-pool, backward: dy[B, o, pooled] times the activation's
 * derivative (from the pooled output y) goes to the winners in
 * tmp[o, B*npix] (zero elsewhere); db[o] += sums. */
HP_HOT static void pool_act_back(const hp_conv_shape_t *s, const float *y, const int32_t *am,
                                 float *dy, float *tmp, float *db, int B, hp_act_t act) {
  const size_t npix = (size_t)s->ho * s->wo, pp = (size_t)s->pho * s->pwo;
  if (act.kind != HP_ACT_RELU && act.kind != HP_ACT_NONE)
    hp_act_backward(act, y, dy, dy, (size_t)B * s->o * pp);
  memset(tmp, 0, (size_t)s->o * B * npix * sizeof *tmp);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < s->o; c++) {
      const size_t at = ((size_t)b * s->o + c) * pp;
      const float *yr = y + at, *g = dy + at;
      const int32_t *a = am + at;
      float *dst = tmp + ((size_t)c * B + b) * npix;
      float sum = 0.0f;
      for (size_t i = 0; i < pp; i++) {
        float v = act.kind == HP_ACT_RELU ? (yr[i] > 0.0f ? g[i] : 0.0f) : g[i];
        dst[a[i]] += v; /* += : overlapping windows may share a winner */
        sum += v;
      }
      db[c] += sum;
    }
}

/* x[B,c,h,w], W[o, c*kh*kw], b[o] -> y[B,o,ho,wo] (or pooled, with argmax);
 * per chunk of nb samples cols[c*kh*kw, nb*ho*wo] and tmp[o, nb*ho*wo] are
 * scratch. */
void hp_conv_forward(const hp_conv_shape_t *s, const float *x, const float *W, const float *b,
                     float *cols, float *tmp, float *y, int32_t *argmax, int B, hp_act_t act) {
  const int kk = s->c * s->kh * s->kw, chunk = hp_conv_chunk(s, B);
  const size_t npix = (size_t)s->ho * s->wo, in = (size_t)s->c * s->h * s->w,
               out = (size_t)s->o * s->pho * s->pwo;
  for (int b0 = 0; b0 < B; b0 += chunk) {
    const int nb = B - b0 < chunk ? B - b0 : chunk;
    const int n = (int)(npix * nb);
    hp_conv_im2col(s, x + b0 * in, cols, nb);
    hp_sgemm(false, false, s->o, n, kk, 1.0f, W, kk, cols, n, 0.0f, tmp, n);
    if (s->pool > 0)
      pool_bias_act(s, tmp, b, y + b0 * out, argmax + b0 * out, nb, act);
    else
      bias_act_reorder(tmp, b, y + b0 * out, nb, s->o, npix, act);
  }
}

/* Per chunk: dy[nb, o, out] (overwritten) -> tmp[o, n] (n = nb*ho*wo);
 * cols = im2col(x); dW[o,kk] += tmp cols^T; cols = W^T tmp; dx = col2im. */
void hp_conv_backward(const hp_conv_shape_t *s, const float *x, float *cols, float *tmp,
                      const float *W, const float *y, const int32_t *argmax, float *dy,
                      float *dx, float *dW, float *db, int B, hp_act_t act) {
  const int kk = s->c * s->kh * s->kw, chunk = hp_conv_chunk(s, B);
  const size_t npix = (size_t)s->ho * s->wo, in = (size_t)s->c * s->h * s->w,
               out = (size_t)s->o * s->pho * s->pwo;
  for (int b0 = 0; b0 < B; b0 += chunk) {
    const int nb = B - b0 < chunk ? B - b0 : chunk;
    const int n = (int)(npix * nb);
    if (s->pool > 0)
      pool_act_back(s, y + b0 * out, argmax + b0 * out, dy + b0 * out, tmp, db, nb, act);
    else
      act_back_reorder(y + b0 * out, dy + b0 * out, tmp, db, nb, s->o, npix, act);
    hp_conv_im2col(s, x + b0 * in, cols, nb);
    hp_sgemm(false, true, s->o, kk, n, 1.0f, tmp, n, cols, n, 1.0f, dW, kk);
    if (dx == NULL) continue;
    hp_sgemm(true, false, kk, n, s->o, 1.0f, W, kk, tmp, n, 0.0f, cols, n);
    col2im(s, cols, dx + b0 * in, nb);
  }
}

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

/* With a fused pool, backward uses cols as winners_backward's scratch
 * (offsets in floats, each 64-byte aligned): the padded channels-innermost
 * input and its gradient [(h+2p)*(w+2p)*c], the transposed weights and
 * weight gradient [o*c*kh*kw], and one sample's nonzero gradients listed by
 * filter and by pixel (values, offsets, starts). */
struct winners_layout {
  size_t xt, dxt, wt, dwt, val, pval, xoff, woff, pix, fstart, pstart, total;
};

static struct winners_layout winners_layout(const hp_conv_shape_t *s) {
  const size_t plane = (size_t)(s->h + 2 * s->pad) * (s->w + 2 * s->pad) * s->c,
               wlen = (size_t)s->o * s->c * s->kh * s->kw,
               nz = (size_t)s->o * s->pho * s->pwo, npix = (size_t)s->ho * s->wo,
               zs = sizeof(size_t) / sizeof(float);
  struct winners_layout l;
  size_t at = 0;
#define HP_TAKE(field, n) (l.field = at, at += ((n) + 15) & ~(size_t)15)
  HP_TAKE(xt, plane), HP_TAKE(dxt, plane), HP_TAKE(wt, wlen), HP_TAKE(dwt, wlen);
  HP_TAKE(val, nz), HP_TAKE(pval, nz), HP_TAKE(xoff, nz * zs), HP_TAKE(woff, nz * zs);
  HP_TAKE(pix, nz), HP_TAKE(fstart, ((size_t)s->o + 1) * zs), HP_TAKE(pstart, (npix + 1) * zs);
#undef HP_TAKE
  l.total = at;
  return l;
}

static size_t winners_scratch(const hp_conv_shape_t *s) { return winners_layout(s).total; }

/* The phase path (below hp_conv_backward's helpers) for small patches
 * under a 2x2 pool. */
static bool use_phase(const hp_conv_shape_t *s) {
  return s->pool == 2 && s->pstride == 2 && (size_t)s->c * s->kh * s->kw <= 32;
}

/* Windows per plane rounded up to whole vectors. */
static size_t phase_q16(const hp_conv_shape_t *s) {
  return ((size_t)s->pho * s->pwo + 15) & ~(size_t)15;
}

/* Scratch of the phase path (offsets in floats): P and its gradient
 * [kk][4][q16], the masked gradients [4][q16], one filter's gradient
 * [q16], the windows' conv-plane offsets [q16], per-lane sums [kk][16], the
 * zero-padded input and its gradient [c][h+2p][w+2p]. */
struct phase_layout {
  size_t P, dP, V, v, base, T, xp, dxp, total;
};

static struct phase_layout phase_layout(const hp_conv_shape_t *s) {
  const size_t kk = (size_t)s->c * s->kh * s->kw, q16 = phase_q16(s),
               padded = (size_t)s->c * (s->h + 2 * s->pad) * (s->w + 2 * s->pad);
  struct phase_layout l;
  size_t at = 0;
#define HP_TAKE(field, n) (l.field = at, at += ((n) + 15) & ~(size_t)15)
  HP_TAKE(P, kk * 4 * q16), HP_TAKE(dP, kk * 4 * q16), HP_TAKE(V, 4 * q16), HP_TAKE(v, q16);
  HP_TAKE(base, q16), HP_TAKE(T, kk * 16), HP_TAKE(xp, padded), HP_TAKE(dxp, padded);
#undef HP_TAKE
  l.total = at;
  return l;
}

static size_t phase_scratch(const hp_conv_shape_t *s) { return phase_layout(s).total; }

/* The winners-only backward pays off when a patch row (kw*c floats) fills
 * vector registers; a first layer with one or three input channels keeps the
 * im2col path (measured on train-cnn: 3x3 over 1 channel was 2x slower
 * through the winners, 32 channels 2x faster). */
static bool use_winners(const hp_conv_shape_t *s) {
  return s->pool > 0 && (size_t)s->kw * s->c >= 16;
}

size_t hp_conv_cols_size(const hp_conv_shape_t *s, int B) {
  size_t n = (size_t)s->c * s->kh * s->kw * hp_conv_chunk(s, B) * s->ho * s->wo;
  if (use_phase(s)) return phase_scratch(s) > n ? phase_scratch(s) : n;
  if (use_winners(s) && winners_scratch(s) > n) n = winners_scratch(s);
  return n;
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

/* dst[n] = act(dst + bc): bias and activation of one pooled plane. */
HP_HOT static void bias_act_plane(float *dst, size_t n, float bc, hp_act_t act) {
  if (act.kind == HP_ACT_RELU) {
    for (size_t i = 0; i < n; i++) {
      float v = dst[i] + bc;
      dst[i] = v < 0.0f ? 0.0f : v; /* NaN passes through */
    }
  } else {
    for (size_t i = 0; i < n; i++) dst[i] += bc;
    if (act.kind != HP_ACT_NONE) hp_act_forward(act, dst, dst, n);
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
      bias_act_plane(dst, pp, bias[c], act);
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

/* dst[j * dcol + i] = src[i * srow + j] for i < rows, j < cols, in 8x8
 * blocks (full blocks have constant bounds, so they vectorize). */
HP_HOT static void transpose(const float *src, size_t srow, float *dst, size_t dcol, int rows,
                             int cols) {
  for (int i0 = 0; i0 < rows; i0 += 8)
    for (int j0 = 0; j0 < cols; j0 += 8) {
      const float *sb = src + (size_t)i0 * srow + j0;
      float *db = dst + (size_t)j0 * dcol + i0;
      if (i0 + 8 <= rows && j0 + 8 <= cols) {
        for (int j = 0; j < 8; j++)
          for (int i = 0; i < 8; i++) db[j * dcol + i] = sb[i * srow + j];
      } else {
        for (int j = 0; j < cols - j0 && j < 8; j++)
          for (int i = 0; i < rows - i0 && i < 8; i++) db[j * dcol + i] = sb[i * srow + j];
      }
    }
}

/* x[c,h,w] -> xt[(h+2p), (w+2p), c]: channels innermost, zero border. */
static void to_padded_hwc(const hp_conv_shape_t *s, const float *x, float *xt) {
  const int c = s->c, p = s->pad, wp = s->w + 2 * p;
  const size_t plane = (size_t)s->h * s->w;
  memset(xt, 0, (size_t)(s->h + 2 * p) * wp * c * sizeof *xt);
  for (int iy = 0; iy < s->h; iy++)
    transpose(x + (size_t)iy * s->w, plane, xt + ((size_t)(iy + p) * wp + p) * c, (size_t)c, c,
              s->w);
}

/* The interior of dxt[(h+2p), (w+2p), c] -> dx[c,h,w] (the border holds
 * gradients of padding and is dropped). */
static void from_padded_hwc(const hp_conv_shape_t *s, const float *dxt, float *dx) {
  const int c = s->c, p = s->pad, wp = s->w + 2 * p;
  const size_t plane = (size_t)s->h * s->w;
  for (int iy = 0; iy < s->h; iy++)
    transpose(dxt + ((size_t)(iy + p) * wp + p) * c, (size_t)c, dx + (size_t)iy * s->w, plane,
              s->w, c);
}

/* Sixteen floats; GCC/clang lower it to whatever vector width the clone
 * has. aligned(4) and may_alias: it is read and written straight from float
 * rows at any offset. */
typedef float hp_v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define V16(p) (*(hp_v16 *)(p))
#define V16C(p) (*(const hp_v16 *)(p))

/* dst[0, run) += sum_i v[i] * src[off[i] + (0, run)], i < n: the sum is kept
 * in vector registers over the whole list, one block of the row at a time,
 * so dst is read and written once per list instead of once per entry. */
HP_HOT static void gather_axpy(float *restrict dst, const float *restrict src,
                               const size_t *off, const float *v, size_t n, size_t run) {
  size_t j = 0;
  for (; j + 96 <= run; j += 96) {
    hp_v16 a0 = V16C(dst + j), a1 = V16C(dst + j + 16), a2 = V16C(dst + j + 32),
           a3 = V16C(dst + j + 48), a4 = V16C(dst + j + 64), a5 = V16C(dst + j + 80);
    for (size_t i = 0; i < n; i++) {
      const float *r = src + off[i] + j, vi = v[i];
      a0 += vi * V16C(r), a1 += vi * V16C(r + 16), a2 += vi * V16C(r + 32);
      a3 += vi * V16C(r + 48), a4 += vi * V16C(r + 64), a5 += vi * V16C(r + 80);
    }
    V16(dst + j) = a0, V16(dst + j + 16) = a1, V16(dst + j + 32) = a2;
    V16(dst + j + 48) = a3, V16(dst + j + 64) = a4, V16(dst + j + 80) = a5;
  }
  for (; j + 64 <= run; j += 64) {
    hp_v16 a0 = V16C(dst + j), a1 = V16C(dst + j + 16), a2 = V16C(dst + j + 32),
           a3 = V16C(dst + j + 48);
    for (size_t i = 0; i < n; i++) {
      const float *r = src + off[i] + j, vi = v[i];
      a0 += vi * V16C(r), a1 += vi * V16C(r + 16);
      a2 += vi * V16C(r + 32), a3 += vi * V16C(r + 48);
    }
    V16(dst + j) = a0, V16(dst + j + 16) = a1, V16(dst + j + 32) = a2, V16(dst + j + 48) = a3;
  }
  for (; j + 16 <= run; j += 16) {
    hp_v16 a0 = V16C(dst + j);
    for (size_t i = 0; i < n; i++) a0 += v[i] * V16C(src + off[i] + j);
    V16(dst + j) = a0;
  }
  for (; j < run; j++) {
    float acc = dst[j];
    for (size_t i = 0; i < n; i++) acc += v[i] * src[off[i] + j];
    dst[j] = acc;
  }
}

/* Backward of conv + fused max-pool through the winners only. Only a
 * window's winner gets a gradient, so at least (pool^2-1)/pool^2 of the
 * pre-activation gradient is zero (more after ReLU): instead of two dense
 * products over every output pixel (the im2col path), each nonzero gradient
 * v of filter f at winner pixel (oy, ox) adds v * patch to dW[f] and
 * v * W[f] to the patch's input gradient. With channels innermost (xt, dxt,
 * and Wt, dWt as [f][ki][kj][c]) a patch is kh runs of kw*c contiguous
 * floats. Per sample the nonzeros are listed by filter (for dW: one
 * register-held sum per filter row) and bucketed by pixel (for dx: one sum
 * per patch). dy[B,o,pho,pwo] is overwritten; scratch holds
 * winners_scratch(s) floats. */
static void winners_backward(const hp_conv_shape_t *s, const float *x, float *scratch,
                             const float *W, const float *y, const int32_t *am, float *dy,
                             float *dx, float *dW, float *db, int B, hp_act_t act) {
  const int c = s->c, kh = s->kh, kw = s->kw, st = s->stride, o = s->o, wo = s->wo;
  const int wp = s->w + 2 * s->pad;
  const size_t kk = (size_t)c * kh * kw, run = (size_t)kw * c, prow = (size_t)wp * c,
               plane = (size_t)(s->h + 2 * s->pad) * prow, pp = (size_t)s->pho * s->pwo,
               in = (size_t)c * s->h * s->w, k2 = (size_t)kh * kw,
               npix = (size_t)s->ho * s->wo, nzmax = (size_t)o * pp;
  struct winners_layout l = winners_layout(s);
  float *xt = scratch + l.xt, *dxt = scratch + l.dxt, *Wt = scratch + l.wt,
        *dWt = scratch + l.dwt, *val = scratch + l.val, *pval = scratch + l.pval;
  size_t *xoff = (size_t *)(scratch + l.xoff), *woff = (size_t *)(scratch + l.woff),
         *fstart = (size_t *)(scratch + l.fstart), *pstart = (size_t *)(scratch + l.pstart);
  int32_t *pix = (int32_t *)(scratch + l.pix);
  if (act.kind != HP_ACT_RELU && act.kind != HP_ACT_NONE)
    hp_act_backward(act, y, dy, dy, (size_t)B * nzmax);
  /* W[f][c][kh*kw] -> Wt[f][kh*kw][c] */
  for (int f = 0; f < o; f++)
    for (int ci = 0; ci < c; ci++)
      for (size_t k = 0; k < k2; k++) Wt[(f * k2 + k) * c + ci] = W[(f * (size_t)c + ci) * k2 + k];
  memset(dWt, 0, (size_t)o * kk * sizeof *dWt);
  for (int b = 0; b < B; b++) {
    /* The nonzeros of this sample, by filter (branch-free compaction). */
    size_t n = 0;
    for (int f = 0; f < o; f++) {
      const size_t at = ((size_t)b * o + f) * pp;
      const float *yr = y + at, *g = dy + at;
      const int32_t *a = am + at;
      float sum = 0.0f;
      fstart[f] = n;
      for (size_t q = 0; q < pp; q++) {
        const float v = act.kind == HP_ACT_RELU ? (yr[q] > 0.0f ? g[q] : 0.0f) : g[q];
        val[n] = v, pix[n] = a[q];
        n += v != 0.0f; /* NaN is kept */
        sum += v;
      }
      db[f] += sum;
    }
    fstart[o] = n;
    if (n == 0) {
      if (dx != NULL) memset(dx + b * in, 0, in * sizeof *dx);
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      const size_t oy = (size_t)pix[i] / wo, ox = (size_t)pix[i] % wo;
      xoff[i] = oy * st * prow + ox * st * c;
    }
    to_padded_hwc(s, x + b * in, xt);
    for (int f = 0; f < o; f++)
      for (int ki = 0; ki < kh; ki++)
        gather_axpy(dWt + f * kk + ki * run, xt + ki * prow, xoff + fstart[f], val + fstart[f],
                    fstart[f + 1] - fstart[f], run);
    if (dx == NULL) continue;
    /* Bucket by pixel (counting sort, stable: filters stay in order). */
    memset(pstart, 0, (npix + 1) * sizeof *pstart);
    for (size_t i = 0; i < n; i++) pstart[pix[i] + 1]++;
    for (size_t p = 0; p < npix; p++) pstart[p + 1] += pstart[p];
    for (int f = 0; f < o; f++)
      for (size_t i = fstart[f]; i < fstart[f + 1]; i++) {
        const size_t at = pstart[pix[i]]++;
        pval[at] = val[i], woff[at] = (size_t)f * kk;
      }
    /* pstart[p] now ends bucket p, so bucket p is [pstart[p-1], pstart[p]). */
    memset(dxt, 0, plane * sizeof *dxt);
    for (size_t p = 0, from = 0; p < npix; from = pstart[p++]) {
      if (pstart[p] == from) continue;
      const size_t base = p / wo * st * prow + p % wo * st * c;
      for (int ki = 0; ki < kh; ki++)
        gather_axpy(dxt + base + ki * prow, Wt + ki * run, woff + from, pval + from,
                    pstart[p] - from, run);
    }
    from_padded_hwc(s, dxt, dx + b * in);
  }
  for (int f = 0; f < o; f++)
    for (int ci = 0; ci < c; ci++)
      for (size_t k = 0; k < k2; k++) dW[(f * (size_t)c + ci) * k2 + k] += dWt[(f * k2 + k) * c + ci];
}

/* ---- small patches with a 2x2 pool: the phase path ---------------------
 * A conv with a small patch (c*kh*kw <= 32, e.g. a first layer over one
 * channel) and a fused 2x2 stride-2 pool. There sgemm runs at K = 9 and the
 * pool, bias and scatter passes over the full-size output cost more than
 * the products. Instead each sample is unfolded once into phase planes:
 * P[k][d][q] is what patch entry k of pixel d (d = 2*dy + dx) of pool
 * window q reads. A window's four conv outputs are then four vector dot
 * products over k (16 windows per vector), its max a vector compare, and
 * backward a dense dot product with the gradient masked by the winner's
 * phase: no full-size output, no scalar pool, no scatter. */

/* x[c,h,w] -> xp[c][h+2p][w+2p] with a zero border (dx_mode: the
 * adjoint, the interior of xp -> x). */
static void phase_pad(const hp_conv_shape_t *s, float *x, float *xp, bool back) {
  const int hp = s->h + 2 * s->pad, wp = s->w + 2 * s->pad;
  if (!back) memset(xp, 0, (size_t)s->c * hp * wp * sizeof *xp);
  for (int ci = 0; ci < s->c; ci++)
    for (int iy = 0; iy < s->h; iy++) {
      float *row = xp + ((size_t)ci * hp + iy + s->pad) * wp + s->pad;
      float *xr = x + ((size_t)ci * s->h + iy) * s->w;
      if (back)
        memcpy(xr, row, (size_t)s->w * sizeof *xr);
      else
        memcpy(row, xr, (size_t)s->w * sizeof *xr);
    }
}

/* xp (padded input) -> P[kk][4][q16], zero past the last window; with back,
 * the adjoint: xp += what each P entry read. */
static void phase_unfold(const hp_conv_shape_t *s, float *xp, float *P, bool back) {
  const int pho = s->pho, pwo = s->pwo, st = s->stride, hp = s->h + 2 * s->pad,
            wp = s->w + 2 * s->pad;
  const size_t q16 = phase_q16(s), n = (size_t)pho * pwo, step = 2 * (size_t)st;
  size_t k = 0;
  for (int ci = 0; ci < s->c; ci++)
    for (int ki = 0; ki < s->kh; ki++)
      for (int kj = 0; kj < s->kw; kj++, k++)
        for (int d = 0; d < 4; d++) {
          float *pk = P + (k * 4 + d) * q16;
          for (int py = 0; py < pho; py++) {
            float *row = xp + ((size_t)ci * hp + (2 * py + (d >> 1)) * st + ki) * wp +
                         (d & 1) * st + kj;
            float *pr = pk + (size_t)py * pwo;
            if (back)
              for (int px = 0; px < pwo; px++) row[px * step] += pr[px];
            else
              for (int px = 0; px < pwo; px++) pr[px] = row[px * step];
          }
          if (!back) memset(pk + n, 0, (q16 - n) * sizeof *pk);
        }
}

/* base[q16]: conv-plane offset of window q's top-left pixel. */
static void phase_base(const hp_conv_shape_t *s, int32_t *base) {
  const size_t q16 = phase_q16(s), n = (size_t)s->pho * s->pwo;
  for (size_t q = 0; q < q16; q++)
    base[q] = q < n ? (int32_t)(2 * (q / s->pwo) * s->wo + 2 * (q % s->pwo)) : 0;
}

/* y[B,o,pho,pwo], argmax: the pooled conv through phase planes; raw max,
 * then bias and activation (as pool_bias_act). */
HP_HOT static void phase_forward(const hp_conv_shape_t *s, const float *x, const float *W,
                                 const float *bias, float *scratch, float *y, int32_t *am,
                                 int B, hp_act_t act) {
  const size_t kk = (size_t)s->c * s->kh * s->kw, q16 = phase_q16(s),
               n = (size_t)s->pho * s->pwo, in = (size_t)s->c * s->h * s->w;
  const int32_t wo = s->wo;
  const struct phase_layout lay = phase_layout(s);
  float *P = scratch + lay.P, *xp = scratch + lay.xp;
  int32_t *base = (int32_t *)(scratch + lay.base);
  phase_base(s, base);
  for (int b = 0; b < B; b++) {
    phase_pad(s, (float *)(x + b * in), xp, false);
    phase_unfold(s, xp, P, false);
    for (int f = 0; f < s->o; f++) {
      const float *wf = W + f * kk;
      float *yo = y + ((size_t)b * s->o + f) * n;
      int32_t *ao = am + ((size_t)b * s->o + f) * n;
      for (size_t q0 = 0; q0 < n; q0 += 16) {
        hp_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t k = 0; k < kk; k++) {
          const float w = wf[k], *pk = P + k * 4 * q16 + q0;
          a0 += w * V16C(pk), a1 += w * V16C(pk + q16);
          a2 += w * V16C(pk + 2 * q16), a3 += w * V16C(pk + 3 * q16);
        }
        /* First maximum in window order wins (as hp_maxpool_plane). A lane
         * loop: the vectorizer turns it into masked blends (comparison
         * results as vectors are scalarized without AVX-512DQ). */
        float acc[4][16], m[16];
        int32_t at[16];
        V16(acc[0]) = a0, V16(acc[1]) = a1, V16(acc[2]) = a2, V16(acc[3]) = a3;
        const int32_t *bq = base + q0;
        for (int l = 0; l < 16; l++) {
          float best = acc[0][l];
          int32_t w = bq[l];
          if (acc[1][l] > best) best = acc[1][l], w = bq[l] + 1;
          if (acc[2][l] > best) best = acc[2][l], w = bq[l] + wo;
          if (acc[3][l] > best) best = acc[3][l], w = bq[l] + wo + 1;
          m[l] = best, at[l] = w;
        }
        if (q0 + 16 <= n) {
          V16(yo + q0) = V16C(m);
          memcpy(ao + q0, at, sizeof at);
        } else {
          for (size_t l = 0; q0 + l < n; l++) yo[q0 + l] = m[l], ao[q0 + l] = at[l];
        }
      }
      bias_act_plane(yo, n, bias[f], act);
    }
  }
}

/* Backward of phase_forward: dy[B,o,pho,pwo] (overwritten) -> dW +=, db +=,
 * dx = (dx may be NULL). */
HP_HOT static void phase_backward(const hp_conv_shape_t *s, const float *x, float *scratch,
                                  const float *W, const float *y, const int32_t *am, float *dy,
                                  float *dx, float *dW, float *db, int B, hp_act_t act) {
  const size_t kk = (size_t)s->c * s->kh * s->kw, q16 = phase_q16(s),
               n = (size_t)s->pho * s->pwo, in = (size_t)s->c * s->h * s->w;
  const int32_t wo = s->wo;
  const struct phase_layout l = phase_layout(s);
  float *P = scratch + l.P, *dP = scratch + l.dP, *V = scratch + l.V, *v = scratch + l.v,
        *T = scratch + l.T, *xp = scratch + l.xp, *dxp = scratch + l.dxp;
  int32_t *base = (int32_t *)(scratch + l.base);
  if (act.kind != HP_ACT_RELU && act.kind != HP_ACT_NONE)
    hp_act_backward(act, y, dy, dy, (size_t)B * s->o * n);
  phase_base(s, base);
  for (int b = 0; b < B; b++) {
    phase_pad(s, (float *)(x + b * in), xp, false);
    phase_unfold(s, xp, P, false);
    if (dx != NULL) memset(dP, 0, kk * 4 * q16 * sizeof *dP);
    for (int f = 0; f < s->o; f++) {
      const size_t at = ((size_t)b * s->o + f) * n;
      const float *yr = y + at, *g = dy + at;
      for (size_t q = 0; q < q16; q++)
        v[q] = q >= n ? 0.0f : act.kind == HP_ACT_RELU ? (yr[q] > 0.0f ? g[q] : 0.0f) : g[q];
      /* V[d] = v where the winner is pixel d of the window, else 0. */
      const int32_t *a = am + at;
      for (size_t q = 0; q < q16; q++) {
        const int32_t r = q < n ? a[q] - base[q] : -1;
        const float vq = v[q];
        V[q] = r == 0 ? vq : 0.0f, V[q16 + q] = r == 1 ? vq : 0.0f;
        V[2 * q16 + q] = r == wo ? vq : 0.0f, V[3 * q16 + q] = r == wo + 1 ? vq : 0.0f;
      }
      /* Per-lane sums (T[k][16], and the bias's), reduced lane by lane. */
      hp_v16 sb = {0};
      for (size_t q0 = 0; q0 < q16; q0 += 16) sb += V16C(v + q0);
      for (size_t k = 0; k < kk; k++) {
        const float *pk = P + k * 4 * q16;
        hp_v16 acc = {0};
        for (size_t q0 = 0; q0 < q16; q0 += 16)
          acc += V16C(V + q0) * V16C(pk + q0) + V16C(V + q16 + q0) * V16C(pk + q16 + q0) +
                 V16C(V + 2 * q16 + q0) * V16C(pk + 2 * q16 + q0) +
                 V16C(V + 3 * q16 + q0) * V16C(pk + 3 * q16 + q0);
        V16(T + k * 16) = acc;
      }
      float *dwf = dW + f * kk, bsum = 0.0f;
      for (int ln = 0; ln < 16; ln++) {
        bsum += sb[ln];
        for (size_t k = 0; k < kk; k++) dwf[k] += T[k * 16 + ln];
      }
      db[f] += bsum;
      if (dx == NULL) continue;
      const float *wf = W + f * kk;
      for (size_t k = 0; k < kk; k++) {
        const float w = wf[k];
        float *dk = dP + k * 4 * q16;
        for (size_t j = 0; j < 4 * q16; j += 16) V16(dk + j) += w * V16C(V + j);
      }
    }
    if (dx != NULL) {
      memset(dxp, 0, (l.dxp - l.xp) * sizeof *dxp);
      phase_unfold(s, dxp, dP, true);
      phase_pad(s, dx + b * in, dxp, true);
    }
  }
}

/* x[B,c,h,w], W[o, c*kh*kw], b[o] -> y[B,o,ho,wo] (or pooled, with argmax);
 * per chunk of nb samples cols[c*kh*kw, nb*ho*wo] and tmp[o, nb*ho*wo] are
 * scratch. */
void hp_conv_forward(const hp_conv_shape_t *s, const float *x, const float *W, const float *b,
                     float *cols, float *tmp, float *y, int32_t *argmax, int B, hp_act_t act) {
  if (use_phase(s)) {
    phase_forward(s, x, W, b, cols, y, argmax, B, act);
    return;
  }
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
  if (use_phase(s)) {
    phase_backward(s, x, cols, W, y, argmax, dy, dx, dW, db, B, act);
    return;
  }
  if (use_winners(s)) {
    winners_backward(s, x, cols, W, y, argmax, dy, dx, dW, db, B, act);
    return;
  }
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

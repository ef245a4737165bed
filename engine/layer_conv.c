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
 * other layers use.
 *
 * A conv with a fused max-pool (the common conv-ReLU-pool block) has faster
 * paths, each tested against the im2col path: the backward goes through the
 * windows' winners only (winners_backward, patch rows of >= 16 floats); a
 * small patch under a 2x2 pool runs forward and backward on phase planes
 * (phase_forward/phase_backward, e.g. a first layer over one channel); a
 * 3x3 stride-1 conv under a 2x2 pool runs its forward as Winograd
 * F(2x2, 3x3), one output tile per pool window (wino_forward). */
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

/* Scratch layouts carve one buffer into arrays: take() returns the offset
 * of the next n floats and keeps every array 64-byte aligned. */
static size_t take(size_t *at, size_t n) {
  const size_t off = *at;
  *at += (n + 15) & ~(size_t)15;
  return off;
}

/* With a fused pool, backward uses cols as winners_backward's scratch
 * (offsets in floats, each 64-byte aligned): the padded channels-innermost
 * input and its gradient [(h+2p)*(w+2p)*c], the transposed weights and
 * weight gradient [o*c*kh*kw], and one sample's nonzero gradients listed by
 * filter and by pixel (values, offsets, starts). */
struct winners_layout {
  size_t xt, dxt, wt, dwt, val, pval, xoff, woff, pix, fstart, pstart, pixoff, total;
};

static struct winners_layout winners_layout(const hp_conv_shape_t *s) {
  const size_t plane = (size_t)(s->h + 2 * s->pad) * (s->w + 2 * s->pad) * s->c,
               wlen = (size_t)s->o * s->c * s->kh * s->kw,
               nz = (size_t)s->o * s->pho * s->pwo, npix = (size_t)s->ho * s->wo,
               zs = sizeof(size_t) / sizeof(float);
  struct winners_layout l;
  size_t at = 0;
  l.xt = take(&at, plane);
  l.dxt = take(&at, plane);
  l.wt = take(&at, wlen);
  l.dwt = take(&at, wlen);
  l.val = take(&at, nz);
  l.pval = take(&at, nz);
  l.xoff = take(&at, nz * zs);
  l.woff = take(&at, nz * zs);
  l.pix = take(&at, nz);
  l.fstart = take(&at, ((size_t)s->o + 1) * zs);
  l.pstart = take(&at, (npix + 1) * zs);
  l.pixoff = take(&at, npix * zs);
  l.total = at;
  return l;
}

static size_t winners_scratch(const hp_conv_shape_t *s) { return winners_layout(s).total; }

/* The phase path (phase_forward/phase_backward below): small patches under
 * a 2x2 stride-2 pool. */
static bool use_phase(const hp_conv_shape_t *s) {
  return s->pool == 2 && s->pstride == 2 && (size_t)s->c * s->kh * s->kw <= 32;
}

/* Windows per plane rounded up to whole vectors. */
static size_t phase_q16(const hp_conv_shape_t *s) {
  return ((size_t)s->pho * s->pwo + 15) & ~(size_t)15;
}

/* Scratch of the phase path (offsets in floats): P and its gradient
 * [kk][4][q16], the masked gradients [4][q16], one filter's gradient
 * [q16], the windows' conv-plane offsets [q16], per-lane sums of the batch
 * for dW and db [o][kk+1][16], the zero-padded input and its gradient
 * [c][h+2p][w+2p]. */
struct phase_layout {
  size_t P, dP, V, v, base, T, xp, dxp, total;
};

static struct phase_layout phase_layout(const hp_conv_shape_t *s) {
  const size_t kk = (size_t)s->c * s->kh * s->kw, q16 = phase_q16(s),
               padded = (size_t)s->c * (s->h + 2 * s->pad) * (s->w + 2 * s->pad);
  struct phase_layout l;
  size_t at = 0;
  l.P = take(&at, kk * 4 * q16);
  l.dP = take(&at, kk * 4 * q16);
  l.V = take(&at, 4 * q16);
  l.v = take(&at, q16);
  l.base = take(&at, q16);
  l.T = take(&at, ((size_t)s->o * (kk + 1)) * 16);
  l.xp = take(&at, padded);
  l.dxp = take(&at, padded);
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

/* The Winograd forward (below) for a 3x3 stride-1 conv under a 2x2
 * stride-2 pool whose patch is too large for the phase path. */
static bool use_wino(const hp_conv_shape_t *s) {
  return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->pool == 2 && s->pstride == 2 &&
         !use_phase(s);
}

/* Samples per Winograd chunk: transformed inputs and products
 * (16 (c + o) floats per window) within about 1.25 MB, as hp_conv_chunk. */
static int wino_chunk(const hp_conv_shape_t *s, int B) {
  size_t per = 16 * ((size_t)s->c + s->o) * s->pho * s->pwo;
  size_t n = ((size_t)320 << 10) / (per ? per : 1);
  if (n < 1) n = 1;
  return n < (size_t)B ? (int)n : B;
}

/* Scratch of the Winograd forward (floats): transformed filters U[16][o][c],
 * a padded input plane set xp[c][h+2p][w+2p], and per chunk the transformed
 * inputs V[16][c][n] and products M[16][o][n + 16] (n = chunk * windows;
 * the 16 spare columns let the output pass read whole vectors). */
struct wino_layout {
  size_t U, xp, V, M, base, Ub, Vb, total;
};

static struct wino_layout wino_layout(const hp_conv_shape_t *s, int B) {
  const size_t n = (size_t)wino_chunk(s, B) * s->pho * s->pwo;
  struct wino_layout l;
  size_t at = 0;
  l.U = take(&at, 16 * (size_t)s->o * s->c);
  l.xp = take(&at, (size_t)s->c * (s->h + 2 * s->pad) * (s->w + 2 * s->pad));
  l.V = take(&at, 16 * (size_t)s->c * n);
  l.M = take(&at, 16 * (size_t)s->o * (n + 16));
  l.base = take(&at, phase_q16(s));
  /* bf16: U and V rounded (two bf16 per float) */
  l.Ub = take(&at, 8 * (size_t)s->o * s->c);
  l.Vb = take(&at, 8 * (size_t)s->c * n);
  l.total = at;
  return l;
}

/* Whether a pass of this conv runs im2col (and so needs its cols and tmp
 * sizes): not when the phase path does both passes, nor when the Winograd
 * forward and the winners backward do. */
static bool uses_im2col(const hp_conv_shape_t *s) {
  return !(use_phase(s) || (use_wino(s) && use_winners(s)));
}

size_t hp_conv_cols_size(const hp_conv_shape_t *s, int B) {
  size_t n = 0;
  if (uses_im2col(s)) n = (size_t)s->c * s->kh * s->kw * hp_conv_chunk(s, B) * s->ho * s->wo;
  if (use_phase(s) && phase_scratch(s) > n) n = phase_scratch(s);
  if (use_wino(s) && wino_layout(s, B).total > n) n = wino_layout(s, B).total;
  if (use_winners(s) && winners_scratch(s) > n) n = winners_scratch(s);
  return n;
}

size_t hp_conv_tmp_size(const hp_conv_shape_t *s, int B) {
  return uses_im2col(s) ? (size_t)s->o * hp_conv_chunk(s, B) * s->ho * s->wo : 0;
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
  /* Where output pixel p's patch starts in xt/dxt (no division per entry). */
  size_t *pixoff = (size_t *)(scratch + l.pixoff);
  for (size_t p = 0; p < npix; p++) pixoff[p] = p / wo * st * prow + p % wo * st * c;
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
      float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* four chains: add latency */
      fstart[f] = n;
      for (size_t q = 0; q < pp; q++) {
        const float v = act.kind == HP_ACT_RELU ? (yr[q] > 0.0f ? g[q] : 0.0f) : g[q];
        val[n] = v, pix[n] = a[q];
        n += v != 0.0f; /* NaN is kept */
        sum[q & 3] += v;
      }
      db[f] += (sum[0] + sum[1]) + (sum[2] + sum[3]);
    }
    fstart[o] = n;
    if (n == 0) {
      if (dx != NULL) memset(dx + b * in, 0, in * sizeof *dx);
      continue;
    }
    for (size_t i = 0; i < n; i++) xoff[i] = pixoff[pix[i]];
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
      const size_t base = pixoff[p];
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

/* base[q16]: conv-plane offset of window q's top-left pixel (0 past the
 * last window). Also used by the Winograd path. */
static void phase_base(const hp_conv_shape_t *s, int32_t *base) {
  const size_t q16 = phase_q16(s), n = (size_t)s->pho * s->pwo;
  for (size_t q = 0; q < q16; q++)
    base[q] = q < n ? (int32_t)(2 * (q / s->pwo) * s->wo + 2 * (q % s->pwo)) : 0;
}

/* The max of 2x2 windows' four conv values v[d][l] (d in window order) for
 * lanes l < nq, the first maximum winning (as hp_maxpool_plane), and its
 * conv-plane offset from the window's top-left bq[l] -> y[l], am[l]. */
static inline void window_max(const float v[4][16], const int32_t *bq, int32_t wo, size_t nq,
                              float *y, int32_t *am) {
  float m[16];
  int32_t at[16];
  for (int l = 0; l < 16; l++) { /* all 16 lanes: a constant trip count is faster */
    float best = v[0][l];
    int32_t w = bq[l];
    if (v[1][l] > best) best = v[1][l], w = bq[l] + 1;
    if (v[2][l] > best) best = v[2][l], w = bq[l] + wo;
    if (v[3][l] > best) best = v[3][l], w = bq[l] + wo + 1;
    m[l] = best, at[l] = w;
  }
  if (nq == 16) {
    memcpy(y, m, sizeof m), memcpy(am, at, sizeof at);
  } else {
    memcpy(y, m, nq * sizeof *y), memcpy(am, at, nq * sizeof *am);
  }
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
    /* Two filters at a time share the loads of P (an odd last filter is
     * computed twice and stored once). */
    for (int f = 0; f < s->o; f += 2) {
      const int g = f + 1 < s->o ? f + 1 : f;
      const float *wf = W + f * kk, *wg = W + g * kk;
      float *yo = y + ((size_t)b * s->o + f) * n, *yg = y + ((size_t)b * s->o + g) * n;
      int32_t *ao = am + ((size_t)b * s->o + f) * n, *ag = am + ((size_t)b * s->o + g) * n;
      for (size_t q0 = 0; q0 < n; q0 += 16) {
        hp_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
        for (size_t k = 0; k < kk; k++) {
          const float w = wf[k], u = wg[k], *pk = P + k * 4 * q16 + q0;
          const hp_v16 p0 = V16C(pk), p1 = V16C(pk + q16), p2 = V16C(pk + 2 * q16),
                       p3 = V16C(pk + 3 * q16);
          a0 += w * p0, a1 += w * p1, a2 += w * p2, a3 += w * p3;
          c0 += u * p0, c1 += u * p1, c2 += u * p2, c3 += u * p3;
        }
        const size_t nq = n - q0 < 16 ? n - q0 : 16;
        float v[4][16];
        V16(v[0]) = a0, V16(v[1]) = a1, V16(v[2]) = a2, V16(v[3]) = a3;
        window_max(v, base + q0, wo, nq, yo + q0, ao + q0);
        V16(v[0]) = c0, V16(v[1]) = c1, V16(v[2]) = c2, V16(v[3]) = c3;
        if (g != f) window_max(v, base + q0, wo, nq, yg + q0, ag + q0);
      }
      bias_act_plane(yo, n, bias[f], act);
      if (g != f) bias_act_plane(yg, n, bias[g], act);
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
  memset(T, 0, (size_t)s->o * (kk + 1) * 16 * sizeof *T);
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
      /* Per-lane sums over the batch (T[f][k][16], the bias's at k = kk),
       * reduced lane by lane once at the end. */
      float *tf = T + (size_t)f * (kk + 1) * 16;
      hp_v16 sb = V16C(tf + kk * 16);
      for (size_t q0 = 0; q0 < q16; q0 += 16) sb += V16C(v + q0);
      V16(tf + kk * 16) = sb;
      for (size_t k = 0; k < kk; k++) {
        const float *pk = P + k * 4 * q16;
        hp_v16 acc = {0};
        for (size_t q0 = 0; q0 < q16; q0 += 16)
          acc += V16C(V + q0) * V16C(pk + q0) + V16C(V + q16 + q0) * V16C(pk + q16 + q0) +
                 V16C(V + 2 * q16 + q0) * V16C(pk + 2 * q16 + q0) +
                 V16C(V + 3 * q16 + q0) * V16C(pk + 3 * q16 + q0);
        V16(tf + k * 16) += acc;
      }
      if (dx == NULL) continue;
      const float *wf = W + f * kk;
      for (size_t k = 0; k < kk; k++) {
        const float w = wf[k];
        float *dk = dP + k * 4 * q16;
        for (size_t j = 0; j < 4 * q16; j += 16) V16(dk + j) += w * V16C(V + j);
      }
    }
    if (dx != NULL) {
      memset(dxp, 0, (size_t)s->c * (s->h + 2 * s->pad) * (s->w + 2 * s->pad) * sizeof *dxp);
      phase_unfold(s, dxp, dP, true);
      phase_pad(s, dx + b * in, dxp, true);
    }
  }
  for (int f = 0; f < s->o; f++) {
    const float *tf = T + (size_t)f * (kk + 1) * 16;
    float *dwf = dW + f * kk;
    for (int ln = 0; ln < 16; ln++)
      for (size_t k = 0; k <= kk; k++) {
        if (k < kk) dwf[k] += tf[k * 16 + ln];
        else db[f] += tf[k * 16 + ln];
      }
  }
}

/* ---- 3x3 conv under a 2x2 pool: Winograd F(2x2, 3x3) forward -----------
 * A 2x2 pool window is exactly one output tile of Winograd's F(2x2, 3x3)
 * (Lavin & Gray 2015): the tile's four outputs come from a 4x4 input tile d
 * as A^T [(G g G^T) . (B^T d B)] A, 16 multiplications per (filter, channel)
 * instead of 36. The products become 16 sgemms U[xi] (o x c) * V[xi]
 * (c x windows), the output transform yields the window's four conv values,
 * and the pool, bias and activation follow in the same pass. Backward does
 * not need the conv values (the winners path), so only the forward changes.
 * Float error: a few ulps of the largest partial sums (the transforms only
 * add, subtract and halve). */

/* W[o][c][3][3] -> U[16][o][c] = G g G^T, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
static void wino_filters(const hp_conv_shape_t *s, const float *W, float *U) {
  const size_t oc = (size_t)s->o * s->c;
  for (size_t f = 0; f < oc; f++) {
    const float *g = W + 9 * f;
    float t[4][3], u[4][4];
    for (int j = 0; j < 3; j++) {
      t[0][j] = g[j], t[3][j] = g[6 + j];
      t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
      t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    }
    for (int r = 0; r < 4; r++) {
      u[r][0] = t[r][0], u[r][3] = t[r][2];
      u[r][1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
      u[r][2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
    }
    for (int xi = 0; xi < 16; xi++) U[xi * oc + f] = u[xi / 4][xi % 4];
  }
}

/* One sample: xp (padded input [c][hp][wp]) -> V[16][c][ldv] at column
 * offset col: window q's tile d starts at padded (2*py, 2*px);
 * B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
HP_HOT static void wino_inputs(const hp_conv_shape_t *s, const float *xp, float *V, size_t ldv,
                               size_t col) {
  const int pho = s->pho, pwo = s->pwo, hp = s->h + 2 * s->pad, wp = s->w + 2 * s->pad;
  const size_t cs = (size_t)s->c * ldv;
  for (int ci = 0; ci < s->c; ci++)
    for (int py = 0; py < pho; py++) {
      const float *r0 = xp + ((size_t)ci * hp + 2 * py) * wp, *r1 = r0 + wp, *r2 = r1 + wp,
                  *r3 = r2 + wp;
      float *v = V + (size_t)ci * ldv + col + (size_t)py * pwo;
      for (int px = 0; px < pwo; px++) {
        const int j = 2 * px;
        float t[4][4];
        for (int k = 0; k < 4; k++) {
          t[0][k] = r0[j + k] - r2[j + k], t[1][k] = r1[j + k] + r2[j + k];
          t[2][k] = r2[j + k] - r1[j + k], t[3][k] = r1[j + k] - r3[j + k];
        }
        for (int r = 0; r < 4; r++) {
          v[(4 * r + 0) * cs + px] = t[r][0] - t[r][2];
          v[(4 * r + 1) * cs + px] = t[r][1] + t[r][2];
          v[(4 * r + 2) * cs + px] = t[r][2] - t[r][1];
          v[(4 * r + 3) * cs + px] = t[r][1] - t[r][3];
        }
      }
    }
}

/* M[16][o][ldm] (columns col..col+windows of one sample) -> the window's
 * four conv values A^T m A (A^T = [1 1 1 0; 0 1 -1 -1]), their max (first
 * maximum in window order, as hp_maxpool_plane) and its conv-plane offset,
 * then bias and activation. */
HP_HOT static void wino_outputs(const hp_conv_shape_t *s, const float *M, size_t ldm, size_t col,
                                const int32_t *restrict bases, const float *bias,
                                float *restrict y, int32_t *restrict am, hp_act_t act) {
  const size_t pp = (size_t)s->pho * s->pwo, os = (size_t)s->o * ldm;
  const int32_t wo = s->wo;
  for (int f = 0; f < s->o; f++) {
    const float *restrict m = M + (size_t)f * ldm + col;
    float *restrict yo = y + (size_t)f * pp;
    int32_t *restrict ao = am + (size_t)f * pp;
    /* 16 windows at a time: the transform in vector arithmetic, then a
     * lane loop for the max. A short last block reads on into the next
     * sample's windows or the spare columns; those lanes are dropped. */
    for (size_t q0 = 0; q0 < pp; q0 += 16) {
      const size_t nq = pp - q0 < 16 ? pp - q0 : 16;
      hp_v16 y0 = {0}, y1 = {0}, y2 = {0}, y3 = {0};
      for (int k = 0; k < 4; k++) {
        const float *src = m + (size_t)k * os + q0;
        const hp_v16 r0 = V16C(src), r1 = V16C(src + 4 * os), r2 = V16C(src + 8 * os),
                     r3 = V16C(src + 12 * os);
        const hp_v16 a0 = r0 + r1 + r2, a1 = r1 - r2 - r3;
        /* (A^T m) A: column k adds to y0j/y1j with A[k][j] = {1 1 1 0; 0 1 -1 -1}^T */
        if (k < 3) y0 += a0, y2 += a1;
        if (k == 1) y1 += a0, y3 += a1;
        if (k >= 2) y1 -= a0, y3 -= a1;
      }
      float v[4][16];
      V16(v[0]) = y0, V16(v[1]) = y1, V16(v[2]) = y2, V16(v[3]) = y3;
      window_max(v, bases + q0, wo, nq, yo + q0, ao + q0);
    }
    bias_act_plane(yo, pp, bias[f], act);
  }
}

static void wino_forward(const hp_conv_shape_t *s, const float *x, const float *W,
                         const float *bias, float *scratch, float *y, int32_t *am, int B,
                         hp_act_t act) {
  const struct wino_layout l = wino_layout(s, B);
  const int chunk = wino_chunk(s, B), c = s->c, o = s->o;
  const size_t pp = (size_t)s->pho * s->pwo, in = (size_t)c * s->h * s->w,
               out = (size_t)o * pp, hp = (size_t)s->h + 2 * s->pad,
               wp = (size_t)s->w + 2 * s->pad;
  float *U = scratch + l.U, *xp = scratch + l.xp, *V = scratch + l.V, *M = scratch + l.M;
  int32_t *bases = (int32_t *)(scratch + l.base);
  /* bf16 ("precision": "bf16"): U rounded once per pass, each chunk's V
   * once, and the chunk's 16 products in one batched call */
  const bool bf16 = hp_blas_bf16();
  hp_bf16_t *Ub = (hp_bf16_t *)(scratch + l.Ub), *Vb = (hp_bf16_t *)(scratch + l.Vb);
  phase_base(s, bases);
  wino_filters(s, W, U);
  if (bf16) hp_bf16_from_f32(U, Ub, 16 * (size_t)o * c);
  memset(xp, 0, (size_t)c * hp * wp * sizeof *xp);
  for (int b0 = 0; b0 < B; b0 += chunk) {
    const int nb = B - b0 < chunk ? B - b0 : chunk;
    const size_t n = (size_t)nb * pp;
    for (int b = 0; b < nb; b++) {
      const float *xb = x + (b0 + b) * in;
      for (int ci = 0; ci < c; ci++)
        for (int iy = 0; iy < s->h; iy++)
          memcpy(xp + (ci * hp + iy + s->pad) * wp + s->pad, xb + ((size_t)ci * s->h + iy) * s->w,
                 (size_t)s->w * sizeof *xp);
      wino_inputs(s, xp, V, n, (size_t)b * pp);
    }
    if (bf16) {
      hp_bf16_from_f32(V, Vb, 16 * (size_t)c * n);
      hp_gemm_bf16_batch(16, false, false, o, (int)n, c, 1.0f, Ub, c, (size_t)o * c, Vb, (int)n,
                         (size_t)c * n, 0.0f, M, (int)n + 16, (size_t)o * (n + 16));
    } else {
      for (int xi = 0; xi < 16; xi++)
        hp_sgemm(false, false, o, (int)n, c, 1.0f, U + (size_t)xi * o * c, c,
                 V + (size_t)xi * c * n, (int)n, 0.0f, M + (size_t)xi * o * (n + 16),
                 (int)n + 16);
    }
    for (int b = 0; b < nb; b++)
      wino_outputs(s, M, n + 16, (size_t)b * pp, bases, bias, y + (b0 + b) * out,
                   am + (b0 + b) * out, act);
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
  if (use_wino(s)) {
    wino_forward(s, x, W, b, cols, y, argmax, B, act);
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

/* IDX reader (the MNIST / Fashion-MNIST format): an images file of unsigned
 * bytes with 1-3 dimensions after the sample count, and a labels file of one
 * unsigned byte per sample, each gzipped or plain (zlib reads both). Every
 * inconsistency is reported naming the file and what is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_internal.h"

typedef struct idx_file {
  const char *path;
  gzFile gz;
  uint32_t ndim;
  uint32_t dims[4];
  uint64_t max_payload; /* most bytes the file can hold after its header */
} idx_file_t;

/* deflate expands at most ~1032:1, so a gzip file of S bytes holds fewer
 * than 1032*S + 1 KiB; a plain file holds exactly its size. */
#define GZ_MAX_RATIO 1032u

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads exactly len bytes; a short read is a truncated file. */
static int read_exact(idx_file_t *f, void *buf, size_t len, const char *what, hp_err_t *err) {
  size_t got = 0;
  while (got < len) {
    size_t chunk = len - got > (1u << 30) ? (1u << 30) : len - got;
    int r = gzread(f->gz, (char *)buf + got, (unsigned)chunk);
    if (r < 0) {
      int zerr;
      const char *m = gzerror(f->gz, &zerr);
      return hp_err_set(err, HP_EFORMAT, "'%s': cannot read %s: %s", f->path, what,
                        zerr == Z_ERRNO ? strerror(errno) : m);
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got < len) {
    int zerr;
    const char *m = gzerror(f->gz, &zerr);
    return hp_err_set(err, HP_EFORMAT, "'%s': truncated: %s needs %zu bytes, only %zu present%s%s",
                      f->path, what, len, got, zerr ? ": " : "", zerr ? m : "");
  }
  return 0;
}

static int idx_open(idx_file_t *f, const char *path, hp_err_t *err) {
  memset(f, 0, sizeof *f);
  f->path = path;
  f->gz = gzopen(path, "rb");
  if (!f->gz)
    return hp_err_set(err, errno ? -errno : HP_EIO, "cannot open '%s': %s", path,
                      errno ? strerror(errno) : "out of memory");
  gzbuffer(f->gz, 1u << 17);
  unsigned char hd[4];
  int rc = read_exact(f, hd, 4, "the magic number", err);
  if (rc) return rc;
  if (hd[0] != 0 || hd[1] != 0)
    return hp_err_set(err, HP_EFORMAT,
                      "'%s': wrong magic number 0x%02x%02x%02x%02x (not an IDX file)", path,
                      hd[0], hd[1], hd[2], hd[3]);
  if (hd[2] != 0x08)
    return hp_err_set(err, HP_EFORMAT,
                      "'%s': IDX data type 0x%02x not supported (only 0x08, unsigned byte)",
                      path, hd[2]);
  if (hd[3] < 1 || hd[3] > 4)
    return hp_err_set(err, HP_EFORMAT, "'%s': IDX file with %u dimensions (1 to 4 supported)",
                      path, hd[3]);
  f->ndim = hd[3];
  unsigned char db[16];
  if ((rc = read_exact(f, db, 4 * f->ndim, "the dimensions", err))) return rc;
  for (uint32_t i = 0; i < f->ndim; i++) {
    f->dims[i] = be32(db + 4 * i);
    if (f->dims[i] == 0)
      return hp_err_set(err, HP_EFORMAT, "'%s': dimension %u is 0", path, i);
  }
  /* Bound what the header announces by what the file can hold, before
   * anything is allocated from those sizes. */
  struct stat st;
  uint64_t hdr = 4 + 4 * (uint64_t)f->ndim;
  if (stat(path, &st) != 0)
    return hp_err_set(err, -errno, "'%s': %s", path, strerror(errno));
  uint64_t size = (uint64_t)st.st_size;
  f->max_payload = gzdirect(f->gz) ? (size > hdr ? size - hdr : 0)
                                   : size * GZ_MAX_RATIO + 1024;
  return 0;
}

/* Fails when `need` payload bytes cannot be in the file. */
static int idx_check_size(const idx_file_t *f, uint64_t need, const char *what, hp_err_t *err) {
  if (need > f->max_payload)
    return hp_err_set(err, HP_EFORMAT,
                      "'%s': truncated: the header announces %llu bytes of %s, the file "
                      "holds at most %llu",
                      f->path, (unsigned long long)need, what,
                      (unsigned long long)f->max_payload);
  return 0;
}

/* After the payload the file must end: extra bytes mean the header lied. */
static int idx_expect_end(idx_file_t *f, hp_err_t *err) {
  char extra[64];
  int r = gzread(f->gz, extra, sizeof extra);
  if (r > 0)
    return hp_err_set(err, HP_EFORMAT,
                      "'%s': extra bytes after the %u x ... data the header announces", f->path,
                      f->dims[0]);
  return 0;
}

static void idx_close(idx_file_t *f) {
  if (f->gz) gzclose(f->gz);
  f->gz = NULL;
}

typedef struct idx_ctx {
  const char *images, *labels;
} idx_ctx_t;

static int decode_idx(void *vctx, void **out, size_t *out_len, hp_err_t *err) {
  idx_ctx_t *ctx = vctx;
  idx_file_t fi, fl;
  void *img = NULL;
  unsigned char *buf = NULL;
  int rc;
  memset(&fl, 0, sizeof fl);
  if ((rc = idx_open(&fi, ctx->images, err))) goto fail;
  if ((rc = idx_open(&fl, ctx->labels, err))) goto fail;
  if (fi.ndim < 2) {
    rc = hp_err_set(err, HP_EFORMAT,
                    "'%s': an images file needs at least 2 dimensions (samples x features), "
                    "has %u",
                    fi.path, fi.ndim);
    goto fail;
  }
  if (fl.ndim != 1) {
    rc = hp_err_set(err, HP_EFORMAT, "'%s': a labels file has 1 dimension, this one has %u",
                    fl.path, fl.ndim);
    goto fail;
  }
  uint32_t n = fi.dims[0];
  if (fl.dims[0] != n) {
    rc = hp_err_set(err, HP_EFORMAT, "'%s' has %u images but '%s' has %u labels", fi.path, n,
                    fl.path, fl.dims[0]);
    goto fail;
  }
  /* shape: (n, h, w) -> 1 x h x w; (n, c, h, w) -> c x h x w; (n, d) -> 1 x 1 x d */
  uint32_t c = 1, h = 1, w = fi.dims[1];
  if (fi.ndim == 3) h = fi.dims[1], w = fi.dims[2];
  if (fi.ndim == 4) c = fi.dims[1], h = fi.dims[2], w = fi.dims[3];
  uint64_t d = (uint64_t)c * h * w;
  size_t len;
  if ((rc = idx_check_size(&fi, (uint64_t)n * d, "pixel data", err)) ||
      (rc = idx_check_size(&fl, n, "labels", err)))
    goto fail;
  if ((uint64_t)n * d > HP_DATA_MAX_VALUES || !(img = hp_data_image_alloc(n, c, h, w, true, &len))) {
    rc = hp_err_set(err, HP_ETOOBIG, "'%s': %u x %llu values is too large", fi.path, n,
                    (unsigned long long)d);
    goto fail;
  }
  hp_data_header_t *hd = hp_data_image_header(img);
  uint8_t *x = hp_data_image_xb(img);
  int32_t *y = hp_data_image_y(img);
  /* pixels: read as they are, in chunks of whole samples */
  size_t per = (size_t)d, chunk_n = (1u << 20) / per + 1;
  if (chunk_n > n) chunk_n = n;
  size_t bufsize = chunk_n * per;
  buf = malloc(bufsize);
  if (!buf) {
    rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", fi.path);
    goto fail;
  }
  for (uint32_t at = 0; at < n;) {
    size_t k = n - at < chunk_n ? n - at : chunk_n;
    if ((rc = read_exact(&fi, x + (size_t)at * per, k * per, "the pixel data", err))) goto fail;
    at += (uint32_t)k;
  }
  if ((rc = idx_expect_end(&fi, err))) goto fail;
  uint32_t maxl = 0;
  for (size_t at = 0; at < n;) {
    size_t k = n - at < bufsize ? n - at : bufsize;
    if ((rc = read_exact(&fl, buf, k, "the labels", err))) goto fail;
    for (size_t i = 0; i < k; i++) {
      y[at + i] = buf[i];
      if (buf[i] > maxl) maxl = buf[i];
    }
    at += k;
  }
  if ((rc = idx_expect_end(&fl, err))) goto fail;
  hd->n_classes = maxl + 1;
  free(buf);
  idx_close(&fi);
  idx_close(&fl);
  *out = img;
  *out_len = len;
  return 0;
fail:
  free(buf);
  free(img);
  idx_close(&fi);
  idx_close(&fl);
  return rc;
}

int hp_dataset_open_idx(const char *images_path, const char *labels_path,
                        const hp_data_cache_opts_t *cache, hp_dataset_t *ds, hp_err_t *err) {
  idx_ctx_t ctx = {images_path, labels_path};
  const char *src[2] = {images_path, labels_path};
  return hp_data_open_cached(src, 2, "idx-u8-v1", decode_idx, &ctx, cache, ds, err);
}

/* Private glue between the data readers (data_idx.c, data_csv.c) and the
 * decoded cache (data_cache.c): a reader decodes into one "image" buffer
 * laid out exactly like the cache file, so the same bytes are either written
 * to the cache and mmap'd, or kept in memory. */
#ifndef HPSEARCH_DATA_INTERNAL_H
#define HPSEARCH_DATA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hpsearch/data.h"

#define HP_DATA_MAGIC "HPDATA1" /* 8 bytes with the NUL */
/* 2: IDX bytes stay bytes in the file (version 1 held them as float32: 4x
 * the pages every worker maps and touches) */
#define HP_DATA_VERSION 2u
/* Upper bound on decoded values (8 GiB of floats): sizes read from a file
 * are checked against it before anything is allocated. */
#define HP_DATA_MAX_VALUES ((uint64_t)1 << 31)

/* File/buffer header; x follows at x_off, y at y_off (both 64-aligned). */
typedef struct hp_data_header {
  char magic[8];       /* HP_DATA_MAGIC */
  uint32_t version;    /* HP_DATA_VERSION */
  uint32_t n, c, h, w; /* samples and per-sample shape */
  uint32_t n_classes;  /* max label + 1 */
  uint32_t is_bytes;   /* 1: values are unsigned bytes (IDX), stored as uint8 */
  uint64_t x_off;      /* byte offset of x [n, c*h*w]: uint8 if is_bytes, else float32 */
  uint64_t y_off;      /* byte offset of y [n] int32 */
  uint64_t total;      /* whole length in bytes */
} hp_data_header_t;

/* Allocates an image for n samples of shape c x h x w, its values bytes
 * (is_bytes) or float32 (64-aligned, header filled, padding zeroed). Returns
 * NULL on overflow of HP_DATA_MAX_VALUES or no memory. */
void *hp_data_image_alloc(uint32_t n, uint32_t c, uint32_t h, uint32_t w, bool bytes,
                          size_t *len);
static inline hp_data_header_t *hp_data_image_header(void *img) { return img; }
/* x of a float32 image / of a byte image */
static inline float *hp_data_image_x(void *img) {
  return (float *)((char *)img + ((hp_data_header_t *)img)->x_off);
}
static inline uint8_t *hp_data_image_xb(void *img) {
  return (uint8_t *)img + ((hp_data_header_t *)img)->x_off;
}
static inline int32_t *hp_data_image_y(void *img) {
  return (int32_t *)((char *)img + ((hp_data_header_t *)img)->y_off);
}

/* A reader: decodes its sources into a new image (malloc'd; *len its size). */
typedef int (*hp_data_decode_fn)(void *ctx, void **img, size_t *len, hp_err_t *err);

/* Opens a data set through the cache: maps a valid existing cache file for
 * (sources, tag), else decodes and, when possible, writes the cache
 * atomically and maps it; falls back to the in-memory image when the cache
 * cannot be written. */
int hp_data_open_cached(const char *const *sources, int n_sources, const char *tag,
                        hp_data_decode_fn decode, void *ctx, const hp_data_cache_opts_t *cache,
                        hp_dataset_t *ds, hp_err_t *err);

#endif

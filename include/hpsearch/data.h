/* Training data for the engine: IDX (gzipped or plain) and CSV loaders, a
 * decoded cache file that many worker processes mmap read-only so they share
 * one copy in the page cache, validation splits as index arrays, scaling
 * ([0,1] or standardisation fitted on the training part) and the minibatch
 * gather that applies it. See docs/engine-optim-data.md.
 *
 * Ownership: an hp_dataset_t / hp_data_t is filled by an open function and
 * released by the matching close function; x and y point into memory the
 * dataset owns (an mmap'd cache file or a private buffer) and stay valid until
 * close. Config structs hold copies of their strings (no pointers into JSON). */
#ifndef HPSEARCH_DATA_H
#define HPSEARCH_DATA_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hpsearch/blas.h"
#include "hpsearch/err.h"

#define HP_DATA_PATH_MAX 4096

/* How features are scaled when a minibatch is gathered. */
typedef enum hp_scaling {
  HP_SCALING_NONE = 0,    /* raw values (IDX bytes stay 0..255) */
  HP_SCALING_UNIT,        /* IDX: x / 255 -> [0,1]; CSV: min-max of the training part -> [0,1] */
  HP_SCALING_STANDARDIZE, /* (x - mean_f) / std_f, per feature f, fitted on the training part */
} hp_scaling_t;

/* One labelled data set (a training file or a test file).
 * x (or xb, bytes as IDX files hold them) holds the raw decoded values, the
 * bytes kept as bytes so a worker maps and touches a quarter of the pages;
 * scaling is applied only by hp_data_gather
 * (so the raw array can be shared between processes while every trial may fit
 * its own standardisation on its own training split). */
typedef struct hp_dataset {
  uint32_t n;          /* samples */
  uint32_t c, h, w;    /* per-sample shape: IDX images 1 x 28 x 28, CSV 1 x 1 x d */
  uint32_t d;          /* c*h*w, features per sample */
  uint32_t n_classes;  /* max label + 1 (for a train/test pair: the max of both) */
  const float *x;      /* [n, d] row-major raw values (CSV); NULL for IDX data */
  const uint8_t *xb;   /* [n, d] row-major raw bytes (IDX: is_bytes); NULL for CSV data */
  const int32_t *y;    /* [n] labels in [0, n_classes) */
  /* --- private: set by the open functions, used by gather/close --- */
  float *scale;        /* [d] x*scale+shift is the scaled value; NULL = identity */
  float *shift;        /* [d] */
  void *map;           /* mmap'd cache file (NULL if in memory) */
  size_t map_len;      /* length of map */
  void *mem;           /* private decoded buffer when not mapped (NULL if mapped) */
  bool from_cache;     /* true when x/y point into a cache file that already existed */
  bool is_bytes;       /* values are IDX unsigned bytes 0..255 (unit scaling = /255) */
  char cache_path[HP_DATA_PATH_MAX]; /* cache file used ("" = in-memory decode) */
} hp_dataset_t;

/* Where the decoded cache lives and whether to use it. */
typedef struct hp_data_cache_opts {
  bool enabled;                    /* default true */
  char dir[HP_DATA_PATH_MAX];      /* "" = $HPSEARCH_CACHE_DIR, else $XDG_CACHE_HOME/hpsearch,
                                      else $HOME/.cache/hpsearch */
} hp_data_cache_opts_t;

/* CSV reading options. */
typedef struct hp_data_csv_opts {
  int label_index;                 /* label column index (0-based); -1 = use label_name */
  char label_name[256];            /* label column name (needs a header) */
  int header;                      /* 1 = first line is a header, 0 = no header,
                                      -1 = auto: a header if a feature field of the first
                                      line is not a number, or with names its label field
                                      is not one of them */
  char delimiter;                  /* default ',' */
  int n_names;                     /* > 0: labels are class names, the list below */
  char names[4096];                /* "classes": the names back to back, each ending in
                                      a NUL; label value = position in the list */
} hp_data_csv_opts_t;

/* Opens an IDX pair (images: magic 00 00 08 D of unsigned bytes with D = 2..4
 * dimensions: n x d -> 1x1xd, n x h x w -> 1xhxw, n x c x h x w; labels:
 * magic 00 00 08 01, n unsigned bytes). Files may be gzipped (detected by
 * content, read via zlib). Errors name the file and what is wrong (missing,
 * truncated, extra bytes, wrong magic or type, counts of images and labels
 * differ, ...); sizes in a header are checked against the file's size before
 * anything is allocated.
 * cache may be NULL (in-memory decode). On failure *ds is left zeroed. */
int hp_dataset_open_idx(const char *images_path, const char *labels_path,
                        const hp_data_cache_opts_t *cache, hp_dataset_t *ds, hp_err_t *err);

/* Opens a CSV file: one sample per line, numeric columns, one label column
 * (a non-negative integer, or one of opts->names when opts->n_names > 0).
 * Errors name the file, line and column.
 * cache may be NULL. */
int hp_dataset_open_csv(const char *path, const hp_data_csv_opts_t *opts,
                        const hp_data_cache_opts_t *cache, hp_dataset_t *ds, hp_err_t *err);

/* Releases the mapping/buffer and scaling arrays; zeroes *ds. NULL-safe, and
 * safe on a zeroed dataset. */
void hp_dataset_close(hp_dataset_t *ds);

/* Sets the scaling of ds. NONE: identity. UNIT: IDX-byte data (ds->is_bytes)
 * gets x/255; otherwise per-feature min-max over the samples idx[0..count).
 * STANDARDIZE: per-feature mean/std over those samples (std 0 -> 1).
 * idx == NULL means all samples. Fit on the training part only, then copy to
 * the validation/test data with hp_dataset_copy_scaling. */
int hp_dataset_fit_scaling(hp_dataset_t *ds, hp_scaling_t how, const uint32_t *idx,
                           uint32_t count, hp_err_t *err);
/* Gives dst the same per-feature scaling as src (feature counts must match). */
int hp_dataset_copy_scaling(hp_dataset_t *dst, const hp_dataset_t *src, hp_err_t *err);

/* Hot path: copies samples idx[0..count) of ds into x_out [count, d] with the
 * scaling applied, and their labels into y_out [count] (y_out may be NULL).
 * Indices must be < ds->n (asserted). */
void hp_data_gather(const hp_dataset_t *ds, const uint32_t *idx, uint32_t count, float *x_out,
                    int32_t *y_out);
/* The same with x_out rounded to bf16 in the same pass (bf16 training whose
 * first layer is dense: its products take the rounded input as it is):
 * x_out[i] is hp_data_gather's value rounded to the nearest bf16. */
void hp_data_gather_bf16(const hp_dataset_t *ds, const uint32_t *idx, uint32_t count,
                         hp_bf16_t *x_out, int32_t *y_out);

/* ---- validation split: index arrays into the training file, no copies ---- */

typedef enum hp_split_mode {
  HP_SPLIT_NONE = 0, /* no validation part */
  HP_SPLIT_LAST,     /* the last `size` samples (in file order) */
  HP_SPLIT_RANDOM,   /* a random subset of `size` samples, drawn with `seed` */
} hp_split_mode_t;

typedef struct hp_split_opts {
  hp_split_mode_t mode;
  uint32_t size;     /* validation samples; if 0, fraction is used */
  double fraction;   /* in (0,1): size = round(fraction * n) */
  uint64_t seed;     /* HP_SPLIT_RANDOM only: the split's own seed */
} hp_split_opts_t;

typedef struct hp_split {
  uint32_t *train;   /* [n_train] indices, ascending; owned, freed by hp_split_free */
  uint32_t n_train;
  uint32_t *val;     /* [n_val] indices, ascending; owned (NULL when n_val == 0) */
  uint32_t n_val;
} hp_split_t;

/* Splits n samples. Fails when the validation part would be empty of
 * training samples (size >= n). */
int hp_split_make(uint32_t n, const hp_split_opts_t *opts, hp_split_t *out, hp_err_t *err);
void hp_split_free(hp_split_t *s);

/* ---- the "data" object of a training config, and everything it opens ---- */

typedef enum hp_data_format { HP_DATA_IDX = 0, HP_DATA_CSV } hp_data_format_t;

typedef struct hp_data_config {
  hp_data_format_t format;                 /* "format": "idx" (default) | "csv" */
  char train_images[HP_DATA_PATH_MAX];     /* idx: "train_images" */
  char train_labels[HP_DATA_PATH_MAX];     /* idx: "train_labels" */
  char test_images[HP_DATA_PATH_MAX];      /* idx: "test_images" ("" = no test set) */
  char test_labels[HP_DATA_PATH_MAX];      /* idx: "test_labels" */
  char train_csv[HP_DATA_PATH_MAX];        /* csv: "train" */
  char test_csv[HP_DATA_PATH_MAX];         /* csv: "test" ("" = no test set) */
  hp_data_csv_opts_t csv;                  /* "label_column" (index or name), "header",
                                              "delimiter" */
  hp_scaling_t scaling;                    /* "scaling": "unit" (default) | "standardize" | "none" */
  hp_split_opts_t split;                   /* "validation": {"mode": "last"|"random",
                                              "size": N | "fraction": f, "seed": s} */
  hp_data_cache_opts_t cache;              /* "cache": true|false, "cache_dir": path */
} hp_data_config_t;

/* Defaults: Fashion-MNIST from /usr/share/datasets/fashion-mnist (train and
 * test), scaling unit, validation = last 10000, cache enabled. */
void hp_data_config_default(hp_data_config_t *cfg);
/* Parses a "data" JSON object over the defaults already in *cfg. `where`
 * prefixes field names in errors ("data"). A "dir" key sets the four IDX
 * paths to the standard Fashion-MNIST file names in that folder. Unknown keys
 * and bad values fail naming the field. */
int hp_data_config_parse(const cJSON *obj, hp_data_config_t *cfg, const char *where,
                         hp_err_t *err);

/* Checks that every file cfg names (IDX images and labels, or CSV files;
 * gzipped or plain) exists, is readable and is not a folder, without opening
 * or decoding it: cheap enough to run when a study is created. Errors name
 * the field and the path ("data.train_images: '/x/train-images-idx3-ubyte.gz':
 * the folder '/x' does not exist"). `where` prefixes field names ("data"). */
int hp_data_config_check_files(const hp_data_config_t *cfg, const char *where, hp_err_t *err);

/* Everything a training run needs: the training file with its split, the
 * test file (test.n == 0 when none), scaling fitted on split.train and copied
 * to the test set (validation uses train with split.val). */
typedef struct hp_data {
  hp_dataset_t train;
  hp_dataset_t test;
  hp_split_t split;
} hp_data_t;

int hp_data_open(const hp_data_config_t *cfg, hp_data_t *out, hp_err_t *err);
void hp_data_close(hp_data_t *d);

/* The cache file name (full path) that would be used for these source files,
 * derived from their paths, sizes and mtimes plus `tag` (reader options).
 * Exposed for tests and `hpsearch` diagnostics. */
int hp_data_cache_path(const hp_data_cache_opts_t *cache, const char *const *sources,
                       int n_sources, const char *tag, char *out, size_t out_len,
                       hp_err_t *err);

/* Removes from the folder of cache file `path` the cache files whose mtime
 * (last use, refreshed at most daily) is more than 30 days before `now`
 * ($HPSEARCH_CACHE_DAYS overrides the 30; 0 keeps only files used within
 * the day) and writers' temp files older than a day. Called after a new
 * cache file is written; best effort, errors ignored. */
void hp_data_cache_prune(const char *path, time_t now);

#endif

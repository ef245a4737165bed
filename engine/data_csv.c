/* CSV reader: one sample per line, numeric feature columns and one label
 * column (a non-negative integer class), chosen by index or by header name;
 * the header is optional (or detected). The file may be gzipped. Errors name
 * the file, the line and the column. Quoted fields are not supported (the
 * values are numbers); header names may be in double quotes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_internal.h"

#define CSV_MAX_COLUMNS 1000000
#define CSV_MAX_LABEL 1000000

typedef struct csv_ctx {
  const char *path;
  const hp_data_csv_opts_t *opts;
} csv_ctx_t;

/* Reads one line (without \n / \r\n) into a growing buffer; 0 at EOF. */
static int read_line(gzFile gz, char **buf, size_t *cap, size_t *len) {
  size_t n = 0;
  for (;;) {
    if (*cap - n < 2) {
      size_t nc = *cap ? *cap * 2 : 4096;
      char *nb = realloc(*buf, nc);
      if (!nb) return -1;
      *buf = nb, *cap = nc;
    }
    if (!gzgets(gz, *buf + n, (int)(*cap - n > (1u << 30) ? (1u << 30) : *cap - n))) break;
    n += strlen(*buf + n);
    if (n > 0 && (*buf)[n - 1] == '\n') break;
  }
  if (n == 0) return 0;
  while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) n--;
  (*buf)[n] = 0;
  *len = n;
  return 1;
}

/* Splits s in place at delim; fields[] point into s. Returns the count, or
 * -1 when there are more than max fields. */
static long split(char *s, char delim, char **fields, long max) {
  long n = 0;
  for (char *p = s;;) {
    if (n == max) return -1;
    fields[n++] = p;
    char *q = strchr(p, delim);
    if (!q) break;
    *q = 0;
    p = q + 1;
  }
  return n;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
  return s;
}

static bool parse_float(const char *s, float *out) {
  if (!*s) return false;
  char *end;
  errno = 0;
  float v = strtof(s, &end);
  if (*end || !isfinite(v)) return false;
  *out = v;
  return true;
}

static long count_fields(const char *s, char delim) {
  long n = 1;
  for (; *s; s++) n += *s == delim;
  return n;
}

/* Looks at the first non-blank line (split into fields[0..ncols)): decides
 * whether it is a header and finds the label column. */
static int first_line(const csv_ctx_t *ctx, char **fields, long ncols, long *label_col_out,
                      int *header_out, hp_err_t *err) {
  const hp_data_csv_opts_t *o = ctx->opts;
  long label_col = -1;
  int header = o->header;
  if (header < 0) { /* auto: a header has a field that is not a number */
    header = 0;
    for (long c = 0; c < ncols; c++) {
      float v;
      if (!parse_float(trim(fields[c]), &v)) header = 1;
    }
  }
  if (o->label_index >= 0) {
    label_col = o->label_index;
    if (label_col >= ncols)
      return hp_err_set(err, HP_EINVAL, "'%s': label column %ld does not exist (%ld columns)",
                        ctx->path, label_col, ncols);
  } else {
    if (!header)
      return hp_err_set(err, HP_EINVAL,
                        "'%s': label column '%s' given by name but the file has no header",
                        ctx->path, o->label_name);
    for (long c = 0; c < ncols && label_col < 0; c++) {
      char *name = trim(fields[c]);
      size_t nl = strlen(name);
      if (nl >= 2 && name[0] == '"' && name[nl - 1] == '"') name[nl - 1] = 0, name++;
      if (strcmp(name, o->label_name) == 0) label_col = c;
    }
    if (label_col < 0)
      return hp_err_set(err, HP_EINVAL, "'%s': no column named '%s' in the header", ctx->path,
                        o->label_name);
  }
  *label_col_out = label_col;
  *header_out = header;
  return 0;
}

static int decode_csv(void *vctx, void **out, size_t *out_len, hp_err_t *err) {
  csv_ctx_t *ctx = vctx;
  const hp_data_csv_opts_t *o = ctx->opts;
  char delim = o->delimiter ? o->delimiter : ',';
  char *line = NULL, **fields = NULL;
  size_t cap = 0, len = 0, vcap = 0, nrows = 0, ycap = 0;
  float *vals = NULL;
  int32_t *labels = NULL;
  void *img = NULL;
  int rc = 0;
  long ncols = 0, label_col = -1, lineno = 0;
  gzFile gz = gzopen(ctx->path, "rb");
  if (!gz)
    return hp_err_set(err, errno ? -errno : HP_EIO, "cannot open '%s': %s", ctx->path,
                      errno ? strerror(errno) : "out of memory");
  bool first = true;
  int32_t maxl = -1;
  for (;;) {
    int r = read_line(gz, &line, &cap, &len);
    if (r < 0) {
      rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
      goto fail;
    }
    if (r == 0) break;
    lineno++;
    if (len == 0 || strspn(line, " \t") == len) continue; /* blank line */
    if (first) {
      first = false;
      ncols = count_fields(line, delim);
      if (ncols > CSV_MAX_COLUMNS || ncols < 2) {
        rc = hp_err_set(err, HP_EFORMAT,
                        "'%s' line %ld: %ld columns (need a label and at least one feature, at "
                        "most %d)",
                        ctx->path, lineno, ncols, CSV_MAX_COLUMNS);
        goto fail;
      }
      fields = malloc((size_t)ncols * sizeof *fields);
      if (!fields) {
        rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
        goto fail;
      }
      /* look at a copy: trimming and splitting write into the text, and a
       * first line that is not a header is parsed again below as data */
      char *copy = strdup(line);
      if (!copy) {
        rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
        goto fail;
      }
      split(copy, delim, fields, ncols);
      int header = 0;
      rc = first_line(ctx, fields, ncols, &label_col, &header, err);
      free(copy);
      if (rc) goto fail;
      if (header) continue;
    }
    long nf = count_fields(line, delim);
    if (nf != ncols) {
      rc = hp_err_set(err, HP_EFORMAT, "'%s' line %ld: %ld columns, expected %ld", ctx->path,
                      lineno, nf, ncols);
      goto fail;
    }
    split(line, delim, fields, ncols);
    if ((uint64_t)(nrows + 1) * (uint64_t)(ncols - 1) > HP_DATA_MAX_VALUES) {
      rc = hp_err_set(err, HP_ETOOBIG, "'%s': more than %llu values", ctx->path,
                      (unsigned long long)HP_DATA_MAX_VALUES);
      goto fail;
    }
    if ((nrows + 1) * (size_t)(ncols - 1) > vcap) {
      size_t nc = vcap ? vcap * 2 : (size_t)(ncols - 1) * 256;
      float *nv = realloc(vals, nc * sizeof *vals);
      if (!nv) {
        rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
        goto fail;
      }
      vals = nv, vcap = nc;
    }
    if (nrows + 1 > ycap) {
      size_t nc = ycap ? ycap * 2 : 1024;
      int32_t *ny = realloc(labels, nc * sizeof *labels);
      if (!ny) {
        rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
        goto fail;
      }
      labels = ny, ycap = nc;
    }
    float *row = vals + nrows * (size_t)(ncols - 1);
    for (long c = 0, k = 0; c < ncols; c++) {
      char *f = trim(fields[c]);
      float v;
      if (!parse_float(f, &v)) {
        rc = hp_err_set(err, HP_EFORMAT, "'%s' line %ld column %ld: '%.40s' is not a number",
                        ctx->path, lineno, c + 1, f);
        goto fail;
      }
      if (c == label_col) {
        if (v < 0 || v > CSV_MAX_LABEL || v != floorf(v)) {
          rc = hp_err_set(err, HP_EFORMAT,
                          "'%s' line %ld column %ld: label '%.40s' is not a class number (an "
                          "integer in [0, %d])",
                          ctx->path, lineno, c + 1, f, CSV_MAX_LABEL);
          goto fail;
        }
        labels[nrows] = (int32_t)v;
        if (labels[nrows] > maxl) maxl = labels[nrows];
      } else {
        row[k++] = v;
      }
    }
    nrows++;
  }
  {
    int zerr;
    const char *m = gzerror(gz, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
      rc = hp_err_set(err, HP_EFORMAT, "'%s': cannot read: %s", ctx->path, m);
      goto fail;
    }
  }
  if (nrows == 0) {
    rc = hp_err_set(err, HP_EFORMAT, "'%s': no data rows", ctx->path);
    goto fail;
  }
  size_t ilen;
  img = hp_data_image_alloc((uint32_t)nrows, 1, 1, (uint32_t)(ncols - 1), &ilen);
  if (!img) {
    rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
    goto fail;
  }
  hp_data_image_header(img)->n_classes = (uint32_t)maxl + 1;
  memcpy(hp_data_image_x(img), vals, nrows * (size_t)(ncols - 1) * sizeof *vals);
  memcpy(hp_data_image_y(img), labels, nrows * sizeof *labels);
  *out = img;
  *out_len = ilen;
  img = NULL;
fail:
  free(img);
  free(vals);
  free(labels);
  free(fields);
  free(line);
  gzclose(gz);
  return rc;
}

int hp_dataset_open_csv(const char *path, const hp_data_csv_opts_t *opts,
                        const hp_data_cache_opts_t *cache, hp_dataset_t *ds, hp_err_t *err) {
  csv_ctx_t ctx = {path, opts};
  char tag[512];
  snprintf(tag, sizeof tag, "csv-v1|%d|%s|%d|%c", opts->label_index, opts->label_name,
           opts->header, opts->delimiter ? opts->delimiter : ',');
  const char *src[1] = {path};
  return hp_data_open_cached(src, 1, tag, decode_csv, &ctx, cache, ds, err);
}

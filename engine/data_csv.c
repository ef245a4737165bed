/* CSV reader: one sample per line, numeric feature columns and one label
 * column (a non-negative integer class), chosen by index or by header name;
 * the header is optional (or detected). The file may be gzipped. Errors name
 * the file, the line and the column. A field may be in double quotes (RFC
 * 4180: the delimiter inside them is text, "" is one quote), as spreadsheet
 * and R exports write header names and sometimes numbers; a quoted field
 * cannot span lines. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_internal.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"

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

enum { CSV_OK = 0, CSV_OPEN_QUOTE = -1, CSV_AFTER_QUOTE = -2, CSV_TOO_MANY = -3 };

static bool is_blank(char c, char delim) { return (c == ' ' || c == '\t') && c != delim; }

/* Splits line s at delim. With fields, in place: fields[] point into s and
 * a quoted field loses its quotes ("" becomes "); without, only counts.
 * *count gets the number of fields; CSV_TOO_MANY past max of them. */
static int split_fields(char *s, char delim, char **fields, long max, long *count) {
  long n = 0;
  for (char *r = s;;) {
    if (n == max) return CSV_TOO_MANY;
    char *q = r;
    while (is_blank(*q, delim)) q++;
    if (*q != '"') { /* plain field: up to the next delimiter */
      if (fields) fields[n] = r;
      n++;
      char *d = strchr(r, delim);
      if (!d) break;
      if (fields) *d = 0;
      r = d + 1;
      continue;
    }
    char *w = q; /* the unquoted text is written over the quoted one */
    if (fields) fields[n] = w;
    for (q++;; q++) {
      if (*q == 0) return CSV_OPEN_QUOTE;
      if (*q == '"') {
        if (q[1] != '"') break;
        q++;
      }
      if (fields) *w++ = *q;
    }
    q++; /* past the closing quote */
    while (is_blank(*q, delim)) q++;
    if (*q != delim && *q != 0) return CSV_AFTER_QUOTE;
    char end = *q;
    if (fields) *w = 0; /* w is at least two bytes behind q */
    n++;
    if (end == 0) break;
    r = q + 1;
  }
  *count = n;
  return CSV_OK;
}

/* The fields of line number lineno, or an error naming the line. */
static int split_line(const csv_ctx_t *ctx, long lineno, char *line, char delim, char **fields,
                      long max, long *count, hp_err_t *err) {
  int e = split_fields(line, delim, fields, max, count);
  if (e == CSV_OPEN_QUOTE)
    return hp_err_set(err, HP_EFORMAT,
                      "'%s' line %ld: a quote is not closed (a field cannot span lines)",
                      ctx->path, lineno);
  if (e == CSV_AFTER_QUOTE)
    return hp_err_set(err, HP_EFORMAT, "'%s' line %ld: text after the closing quote of a field",
                      ctx->path, lineno);
  if (e == CSV_TOO_MANY)
    return hp_err_set(err, HP_EFORMAT, "'%s' line %ld: more than %ld columns", ctx->path,
                      lineno, max - 1);
  return 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
  return s;
}

/* A finite float, spelled as people write numbers (hp_num_parse lenient:
 * no hexadecimal, nothing beyond a float's range). */
static bool parse_float(const char *s, float *out) {
  double v;
  if (hp_num_parse(s, strlen(s), HP_NUM_LENIENT, &v, "", NULL) < 0 || !isfinite(v) ||
      fabs(v) > FLT_MAX)
    return false;
  *out = (float)v;
  return true;
}

/* A field quoted in a message: valid UTF-8, at most 40 bytes. */
static const char *shown(const char *f, char buf[48]) {
  hp_utf8_clean(buf, 44, f, strlen(f));
  return buf;
}

/* The position of f among the class names, or -1. */
static int32_t name_index(const hp_data_csv_opts_t *o, const char *f) {
  const char *q = o->names;
  for (int32_t k = 0; k < o->n_names; q += strlen(q) + 1, k++)
    if (strcmp(q, f) == 0) return k;
  return -1;
}

/* Looks at the first non-blank line (split into fields[0..ncols)): decides
 * whether it is a header and finds the label column. */
static int first_line(const csv_ctx_t *ctx, char **fields, long ncols, long *label_col_out,
                      int *header_out, hp_err_t *err) {
  const hp_data_csv_opts_t *o = ctx->opts;
  long label_col = -1;
  int header = o->header;
  if (header < 0) { /* auto: a header has a field that is not a number; with class
                       names, the label field is a header's if it is not a name */
    header = 0;
    for (long c = 0; c < ncols; c++) {
      float v;
      char *f = trim(fields[c]);
      if (o->n_names > 0 && c == o->label_index) {
        if (name_index(o, f) < 0) header = 1; /* "0,1,...,783,label" as pandas writes it */
      } else if (!parse_float(f, &v)) {
        header = 1;
      }
    }
  }
  if (o->label_index >= 0) {
    label_col = o->label_index;
    if (label_col >= ncols)
      return hp_err_set(err, HP_EINVAL, "'%s': label column %ld does not exist (%ld column%s)",
                        ctx->path, label_col, ncols, hp_plural(ncols));
  } else {
    if (!header)
      return hp_err_set(err, HP_EINVAL,
                        "'%s': label column '%s' given by name but the file has no header",
                        ctx->path, o->label_name);
    for (long c = 0; c < ncols && label_col < 0; c++) {
      if (strcmp(trim(fields[c]), o->label_name) == 0) label_col = c;
    }
    if (label_col < 0)
      return hp_err_set(err, HP_EINVAL, "'%s': no column named '%s' in the header", ctx->path,
                        o->label_name);
  }
  *label_col_out = label_col;
  *header_out = header;
  return 0;
}

/* The label in field f: a class number, or with names its position in them. */
static int parse_label(const csv_ctx_t *ctx, long lineno, long col, const char *f, int32_t *out,
                       hp_err_t *err) {
  const hp_data_csv_opts_t *o = ctx->opts;
  if (o->n_names > 0) {
    int32_t k = name_index(o, f);
    if (k >= 0) {
      *out = k;
      return 0;
    }
    char q[48];
    return hp_err_set(err, HP_EFORMAT,
                      "'%s' line %ld column %ld: label '%s' is not one of data.classes",
                      ctx->path, lineno, col + 1, shown(f, q));
  }
  float v;
  if (parse_float(f, &v) && v >= 0 && v <= CSV_MAX_LABEL && v == floorf(v)) {
    *out = (int32_t)v;
    return 0;
  }
  char q[48];
  return hp_err_set(err, HP_EFORMAT,
                    "'%s' line %ld column %ld: label '%s' is not a class number (an integer "
                    "in [0, %d]; list class names in data.classes to use names)",
                    ctx->path, lineno, col + 1, shown(f, q), CSV_MAX_LABEL);
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
      if ((rc = split_line(ctx, lineno, line, delim, NULL, CSV_MAX_COLUMNS + 1, &ncols, err)))
        goto fail;
      if (ncols > CSV_MAX_COLUMNS || ncols < 2) {
        rc = hp_err_set(err, HP_EFORMAT,
                        "'%s' line %ld: %ld column%s (need a label and at least one feature, at "
                        "most %d)",
                        ctx->path, lineno, ncols, hp_plural(ncols), CSV_MAX_COLUMNS);
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
      long nc;
      split_fields(copy, delim, fields, ncols, &nc); /* checked above */
      int header = 0;
      rc = first_line(ctx, fields, ncols, &label_col, &header, err);
      free(copy);
      if (rc) goto fail;
      if (header) continue;
    }
    long nf;
    if ((rc = split_line(ctx, lineno, line, delim, NULL, CSV_MAX_COLUMNS + 1, &nf, err)))
      goto fail;
    if (nf != ncols) {
      rc = hp_err_set(err, HP_EFORMAT, "'%s' line %ld: %ld column%s, expected %ld", ctx->path,
                      lineno, nf, hp_plural(nf), ncols);
      goto fail;
    }
    split_fields(line, delim, fields, ncols, &nf);
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
      if (c == label_col) {
        if ((rc = parse_label(ctx, lineno, c, f, &labels[nrows], err))) goto fail;
        if (labels[nrows] > maxl) maxl = labels[nrows];
      } else if (parse_float(f, &v)) {
        row[k++] = v;
      } else {
        char q[48];
        rc = hp_err_set(err, HP_EFORMAT, "'%s' line %ld column %ld: '%s' is not a number",
                        ctx->path, lineno, c + 1, shown(f, q));
        goto fail;
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
  img = hp_data_image_alloc((uint32_t)nrows, 1, 1, (uint32_t)(ncols - 1), false, &ilen);
  if (!img) {
    rc = hp_err_set(err, HP_ENOMEM, "'%s': out of memory", ctx->path);
    goto fail;
  }
  /* with names, every listed class counts, seen in this file or not */
  hp_data_image_header(img)->n_classes = o->n_names > 0 ? (uint32_t)o->n_names : (uint32_t)maxl + 1;
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
  /* The tag (hashed into the cache file's name) holds every option, the
   * class names each with its length so that no list reads as another. */
  char tag[512 + 2 * sizeof opts->names];
  int at = snprintf(tag, sizeof tag, "csv-v2|%d|%s|%d|%c|%d", opts->label_index,
                    opts->label_name, opts->header, opts->delimiter ? opts->delimiter : ',',
                    opts->n_names);
  const char *q = opts->names;
  for (int k = 0; k < opts->n_names && at > 0 && (size_t)at < sizeof tag; k++) {
    at += snprintf(tag + at, sizeof tag - (size_t)at, "|%zu:%s", strlen(q), q);
    q += strlen(q) + 1;
  }
  const char *src[1] = {path};
  return hp_data_open_cached(src, 1, tag, decode_csv, &ctx, cache, ds, err);
}

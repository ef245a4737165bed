/* The data pipeline around the readers: scaling fitted on the training part
 * only, the minibatch gather (on the training hot path), validation splits as
 * index arrays, the "data" config object, and hp_data_open which ties the
 * training file, its split and the test file together. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"
#include "hpsearch/blas.h"
#include "hpsearch/hot.h"
#include "hpsearch/json.h"
#include "hpsearch/rng.h"


/* ---- scaling ------------------------------------------------------------ */

/* Sample i's raw values as floats: a row of x, or of xb widened into tmp
 * ([d] floats). */
/* A byte row widened to floats (exact). */
HP_HOT static void widen_row(float *restrict out, const uint8_t *restrict x, uint32_t d) {
  for (uint32_t f = 0; f < d; f++) out[f] = (float)x[f];
}

static const float *raw_row(const hp_dataset_t *ds, uint32_t i, float *tmp) {
  if (!ds->xb) return ds->x + (size_t)i * ds->d;
  widen_row(tmp, ds->xb + (size_t)i * ds->d, ds->d);
  return tmp;
}

static int alloc_scaling(hp_dataset_t *ds, hp_err_t *err) {
  if (!ds->scale) ds->scale = malloc(ds->d * sizeof *ds->scale);
  if (!ds->shift) ds->shift = malloc(ds->d * sizeof *ds->shift);
  if (!ds->scale || !ds->shift) return hp_err_set(err, HP_ENOMEM, "data: out of memory");
  return 0;
}

int hp_dataset_fit_scaling(hp_dataset_t *ds, hp_scaling_t how, const uint32_t *idx,
                           uint32_t count, hp_err_t *err) {
  uint32_t d = ds->d;
  if (how == HP_SCALING_NONE) {
    free(ds->scale), free(ds->shift);
    ds->scale = ds->shift = NULL;
    return 0;
  }
  int rc = alloc_scaling(ds, err);
  if (rc) return rc;
  if (how == HP_SCALING_UNIT && ds->is_bytes) {
    for (uint32_t f = 0; f < d; f++) ds->scale[f] = 1.0f / 255.0f, ds->shift[f] = 0;
    return 0;
  }
  uint32_t m = idx ? count : ds->n;
  if (m == 0) return hp_err_set(err, HP_EINVAL, "data: no training samples to fit the scaling on");
  double *a = calloc(2 * (size_t)d, sizeof *a), *b = a ? a + d : NULL;
  float *tmp = ds->xb ? malloc(d * sizeof *tmp) : NULL;
  if (!a || (ds->xb && !tmp)) {
    free(a);
    return hp_err_set(err, HP_ENOMEM, "data: out of memory");
  }
  if (how == HP_SCALING_UNIT) { /* per-feature min-max -> [0, 1] */
    for (uint32_t f = 0; f < d; f++) a[f] = INFINITY, b[f] = -INFINITY;
    for (uint32_t i = 0; i < m; i++) {
      const float *row = raw_row(ds, idx ? idx[i] : i, tmp);
      for (uint32_t f = 0; f < d; f++) {
        if (row[f] < a[f]) a[f] = row[f];
        if (row[f] > b[f]) b[f] = row[f];
      }
    }
    for (uint32_t f = 0; f < d; f++) {
      double range = b[f] - a[f];
      double s = range > 0 ? 1.0 / range : 1.0; /* constant feature -> 0 */
      ds->scale[f] = (float)s;
      ds->shift[f] = (float)(-a[f] * s);
    }
  } else { /* standardisation: mean and population std (0 std -> only centred) */
    for (uint32_t i = 0; i < m; i++) {
      const float *row = raw_row(ds, idx ? idx[i] : i, tmp);
      for (uint32_t f = 0; f < d; f++) a[f] += row[f];
    }
    for (uint32_t f = 0; f < d; f++) a[f] /= m;
    for (uint32_t i = 0; i < m; i++) {
      const float *row = raw_row(ds, idx ? idx[i] : i, tmp);
      for (uint32_t f = 0; f < d; f++) b[f] += (row[f] - a[f]) * (row[f] - a[f]);
    }
    for (uint32_t f = 0; f < d; f++) {
      double sd = sqrt(b[f] / m);
      double s = sd > 1e-12 ? 1.0 / sd : 1.0;
      ds->scale[f] = (float)s;
      ds->shift[f] = (float)(-a[f] * s);
    }
  }
  free(a);
  free(tmp);
  return 0;
}

int hp_dataset_copy_scaling(hp_dataset_t *dst, const hp_dataset_t *src, hp_err_t *err) {
  if (dst->d != src->d)
    return hp_err_set(err, HP_EINVAL, "data: %u features, but the training set has %u", dst->d,
                      src->d);
  if (!src->scale) {
    free(dst->scale), free(dst->shift);
    dst->scale = dst->shift = NULL;
    return 0;
  }
  int rc = alloc_scaling(dst, err);
  if (rc) return rc;
  memcpy(dst->scale, src->scale, src->d * sizeof *src->scale);
  memcpy(dst->shift, src->shift, src->d * sizeof *src->shift);
  return 0;
}

/* out[f] = x[f] * scale[f] + shift[f] (no FMA contraction: same bits on
 * every CPU variant). */
HP_HOT static void scale_row(float *restrict out, const float *restrict x,
                                const float *restrict scale, const float *restrict shift,
                                uint32_t d) {
  for (uint32_t f = 0; f < d; f++) out[f] = x[f] * scale[f] + shift[f];
}

/* The same from bytes: a byte widened to float is exact, so the result is
 * bit for bit the float path's on the widened values. */
HP_HOT static void scale_row_u8(float *restrict out, const uint8_t *restrict x,
                                const float *restrict scale, const float *restrict shift,
                                uint32_t d) {
  for (uint32_t f = 0; f < d; f++) out[f] = (float)x[f] * scale[f] + shift[f];
}

void hp_data_gather(const hp_dataset_t *ds, const uint32_t *idx, uint32_t count, float *x_out,
                    int32_t *y_out) {
  const uint32_t d = ds->d;
  for (uint32_t i = 0; i < count; i++) {
    assert(idx[i] < ds->n);
    float *out = x_out + (size_t)i * d;
    if (ds->xb) {
      const uint8_t *row = ds->xb + (size_t)idx[i] * d;
      if (ds->scale) scale_row_u8(out, row, ds->scale, ds->shift, d);
      else widen_row(out, row, d);
      continue;
    }
    const float *row = ds->x + (size_t)idx[i] * d;
    if (ds->scale)
      scale_row(out, row, ds->scale, ds->shift, d);
    else
      memcpy(out, row, d * sizeof *row);
  }
  if (y_out)
    for (uint32_t i = 0; i < count; i++) y_out[i] = ds->y[idx[i]];
}

/* Features per piece when a byte row is widened before its bf16 rounding. */
#define GATHER_BF16_PIECE 512u

void hp_data_gather_bf16(const hp_dataset_t *ds, const uint32_t *idx, uint32_t count,
                         hp_bf16_t *x_out, int32_t *y_out) {
  const uint32_t d = ds->d;
  float tmp[GATHER_BF16_PIECE];
  for (uint32_t i = 0; i < count; i++) {
    assert(idx[i] < ds->n);
    hp_bf16_t *out = x_out + (size_t)i * d;
    /* bytes: widened piece by piece, then rounded as float rows are (both
     * conversions act on each value alone, so pieces change nothing) */
    for (uint32_t f = 0; f < d; f += ds->xb ? GATHER_BF16_PIECE : d) {
      uint32_t len = ds->xb && d - f > GATHER_BF16_PIECE ? GATHER_BF16_PIECE : d - f;
      const float *row = tmp;
      if (ds->xb) widen_row(tmp, ds->xb + (size_t)idx[i] * d + f, len);
      else row = ds->x + (size_t)idx[i] * d;
      if (ds->scale)
        hp_bf16_from_f32_affine(row, ds->scale + f, ds->shift + f, out + f, len);
      else
        hp_bf16_from_f32(row, out + f, len);
    }
  }
  if (y_out)
    for (uint32_t i = 0; i < count; i++) y_out[i] = ds->y[idx[i]];
}

/* ---- splits ------------------------------------------------------------- */

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int hp_split_make(uint32_t n, const hp_split_opts_t *o, hp_split_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  uint32_t nv = 0;
  if (o->mode != HP_SPLIT_NONE) {
    if (o->size > 0) {
      nv = o->size;
    } else {
      if (!(o->fraction > 0 && o->fraction < 1))
        return hp_err_set(err, HP_EINVAL, "data.validation.fraction: must be in (0, 1), got %g",
                          o->fraction);
      nv = (uint32_t)llround(o->fraction * n);
      if (nv == 0) nv = 1;
    }
    if (nv >= n)
      return hp_err_set(err, HP_EINVAL,
                        "data.validation: %u validation samples leave none of the %u for "
                        "training",
                        nv, n);
  }
  uint32_t *all = malloc((size_t)n * sizeof *all);
  if (!all) return hp_err_set(err, HP_ENOMEM, "data: out of memory");
  for (uint32_t i = 0; i < n; i++) all[i] = i;
  if (o->mode == HP_SPLIT_RANDOM) {
    hp_rng_t rng;
    hp_rng_seed(&rng, o->seed);
    hp_rng_shuffle_u32(&rng, all, n);
    /* the last nv of the permutation are the validation part; both sorted so
     * gathers walk memory forward */
    qsort(all, n - nv, sizeof *all, u32_cmp);
    qsort(all + (n - nv), nv, sizeof *all, u32_cmp);
  }
  out->train = all;
  out->n_train = n - nv;
  out->n_val = nv;
  if (nv) {
    out->val = malloc((size_t)nv * sizeof *out->val);
    if (!out->val) {
      free(all);
      memset(out, 0, sizeof *out);
      return hp_err_set(err, HP_ENOMEM, "data: out of memory");
    }
    memcpy(out->val, all + (n - nv), (size_t)nv * sizeof *all);
  }
  return 0;
}

void hp_split_free(hp_split_t *s) {
  if (!s) return;
  free(s->train);
  free(s->val);
  memset(s, 0, sizeof *s);
}

/* ---- config ------------------------------------------------------------- */

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static void set_dir(hp_data_config_t *c, const char *dir) {
  snprintf(c->train_images, sizeof c->train_images, "%s/train-images-idx3-ubyte.gz", dir);
  snprintf(c->train_labels, sizeof c->train_labels, "%s/train-labels-idx1-ubyte.gz", dir);
  snprintf(c->test_images, sizeof c->test_images, "%s/t10k-images-idx3-ubyte.gz", dir);
  snprintf(c->test_labels, sizeof c->test_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
}

void hp_data_config_default(hp_data_config_t *c) {
  memset(c, 0, sizeof *c);
  c->format = HP_DATA_IDX;
  set_dir(c, FMNIST_DIR);
  c->csv.label_index = 0;
  c->csv.header = -1;
  c->csv.delimiter = ',';
  c->scaling = HP_SCALING_UNIT;
  c->split.mode = HP_SPLIT_LAST;
  c->split.size = 10000;
  c->split.seed = 0;
  c->cache.enabled = true;
}

static int get_path(const cJSON *o, const char *key, char *dst, const char *where,
                    hp_err_t *err) {
  const char *s = NULL;
  int rc = hp_json_get_string(o, key, false, &s, where, err);
  if (rc || !s) return rc;
  if (strlen(s) >= HP_DATA_PATH_MAX)
    return hp_err_set(err, HP_ETOOBIG, "%s.%s: path longer than %d bytes", where, key,
                      HP_DATA_PATH_MAX - 1);
  strcpy(dst, s);
  return 0;
}

static int parse_validation(const cJSON *v, hp_split_opts_t *sp, const char *where,
                            hp_err_t *err) {
  char w[256];
  snprintf(w, sizeof w, "%s.validation", where);
  if (cJSON_IsNull(v) || cJSON_IsFalse(v)) {
    sp->mode = HP_SPLIT_NONE;
    return 0;
  }
  static const char *const keys[] = {"mode", "size", "fraction", "seed", NULL};
  int rc = hp_json_check_keys(v, keys, w, err);
  if (rc) return rc;
  hp_split_opts_t s = {.mode = HP_SPLIT_LAST};
  const char *mode = "last";
  if ((rc = hp_json_get_string(v, "mode", false, &mode, w, err))) return rc;
  if (strcmp(mode, "last") == 0)
    s.mode = HP_SPLIT_LAST;
  else if (strcmp(mode, "random") == 0)
    s.mode = HP_SPLIT_RANDOM;
  else if (strcmp(mode, "none") == 0)
    s.mode = HP_SPLIT_NONE;
  else
    return hp_err_set(err, HP_EINVAL, "%s.mode: must be \"last\", \"random\" or \"none\", got "
                      "\"%s\"", w, mode);
  bool has_size = cJSON_GetObjectItemCaseSensitive(v, "size") != NULL;
  bool has_frac = cJSON_GetObjectItemCaseSensitive(v, "fraction") != NULL;
  if (has_size && has_frac)
    return hp_err_set(err, HP_EINVAL, "%s: give either \"size\" or \"fraction\", not both", w);
  if (s.mode != HP_SPLIT_NONE && !has_size && !has_frac)
    return hp_err_set(err, HP_EINVAL, "%s: \"size\" or \"fraction\" is required", w);
  long long size = 0, seed = 0;
  if ((rc = hp_json_get_int(v, "size", false, 1, UINT32_MAX, &size, w, err))) return rc;
  s.size = (uint32_t)size;
  if ((rc = hp_json_get_number(v, "fraction", false, &s.fraction, w, err))) return rc;
  if (has_frac && !(s.fraction > 0 && s.fraction < 1))
    return hp_err_set(err, HP_EINVAL, "%s.fraction: must be in (0, 1), got %g", w, s.fraction);
  if (cJSON_GetObjectItemCaseSensitive(v, "seed") && s.mode != HP_SPLIT_RANDOM)
    return hp_err_set(err, HP_EINVAL, "%s.seed: only used with \"mode\": \"random\"", w);
  if ((rc = hp_json_get_int(v, "seed", false, 0, INT64_MAX, &seed, w, err))) return rc;
  s.seed = (uint64_t)seed;
  *sp = s;
  return 0;
}

/* "classes": the class names of a CSV's label column, in label order. */
static int parse_classes(const cJSON *cl, hp_data_csv_opts_t *csv, const char *where,
                         hp_err_t *err) {
  if (!cJSON_IsArray(cl) || cJSON_GetArraySize(cl) < 1)
    return hp_err_set(err, HP_EINVAL,
                      "%s.classes: expected a non-empty array of class names, got %s", where,
                      cJSON_IsArray(cl) ? "an empty array" : hp_json_type_name(cl));
  size_t used = 0;
  int n = 0;
  for (const cJSON *it = cl->child; it; it = it->next, n++) {
    if (!cJSON_IsString(it) || !it->valuestring[0])
      return hp_err_set(err, HP_EINVAL, "%s.classes[%d]: expected a non-empty string, got %s",
                        where, n, cJSON_IsString(it) ? "\"\"" : hp_json_type_name(it));
    const char *v = it->valuestring;
    size_t len = strlen(v);
    if (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' ' || v[len - 1] == '\t')
      return hp_err_set(err, HP_EINVAL,
                        "%s.classes[%d]: \"%s\" begins or ends with a blank (CSV fields are "
                        "trimmed, so it could never match)",
                        where, n, v);
    if (used + len + 1 > sizeof csv->names)
      return hp_err_set(err, HP_ETOOBIG, "%s.classes: the names take more than %zu bytes",
                        where, sizeof csv->names);
    for (const char *q = csv->names; q < csv->names + used; q += strlen(q) + 1)
      if (strcmp(q, v) == 0)
        return hp_err_set(err, HP_EINVAL, "%s.classes[%d]: \"%s\" is listed twice", where, n, v);
    memcpy(csv->names + used, v, len + 1);
    used += len + 1;
  }
  csv->n_names = n;
  return 0;
}

int hp_data_config_parse(const cJSON *o, hp_data_config_t *cfg, const char *where,
                         hp_err_t *err) {
  if (!cJSON_IsObject(o))
    return hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                      hp_json_type_name(o));
  static const char *const keys[] = {"format",     "dir",         "train_images", "train_labels",
                                     "test_images", "test_labels", "train",        "test",
                                     "label_column", "header",    "delimiter",    "scaling",
                                     "validation", "cache",       "cache_dir",    "classes",
                                     NULL};
  int rc = hp_json_check_keys(o, keys, where, err);
  if (rc) return rc;
  hp_data_config_t c = *cfg;
  const char *s = NULL;
  if ((rc = hp_json_get_string(o, "format", false, &s, where, err))) return rc;
  if (s) {
    if (strcmp(s, "idx") == 0)
      c.format = HP_DATA_IDX;
    else if (strcmp(s, "csv") == 0)
      c.format = HP_DATA_CSV;
    else
      return hp_err_set(err, HP_EINVAL, "%s.format: must be \"idx\" or \"csv\", got \"%s\"",
                        where, s);
  }
  s = NULL;
  if ((rc = hp_json_get_string(o, "dir", false, &s, where, err))) return rc;
  if (s) {
    if (strlen(s) + 40 >= HP_DATA_PATH_MAX)
      return hp_err_set(err, HP_ETOOBIG, "%s.dir: path too long", where);
    set_dir(&c, s);
  }
  if ((rc = get_path(o, "train_images", c.train_images, where, err)) ||
      (rc = get_path(o, "train_labels", c.train_labels, where, err)) ||
      (rc = get_path(o, "test_images", c.test_images, where, err)) ||
      (rc = get_path(o, "test_labels", c.test_labels, where, err)) ||
      (rc = get_path(o, "train", c.train_csv, where, err)) ||
      (rc = get_path(o, "test", c.test_csv, where, err)) ||
      (rc = get_path(o, "cache_dir", c.cache.dir, where, err)))
    return rc;
  if (!!c.test_images[0] != !!c.test_labels[0])
    return hp_err_set(err, HP_EINVAL, "%s: test_images and test_labels go together", where);
  const cJSON *lc = cJSON_GetObjectItemCaseSensitive(o, "label_column");
  if (cJSON_IsString(lc)) {
    if (strlen(lc->valuestring) >= sizeof c.csv.label_name || !lc->valuestring[0])
      return hp_err_set(err, HP_EINVAL, "%s.label_column: empty or too long name", where);
    strcpy(c.csv.label_name, lc->valuestring);
    c.csv.label_index = -1;
  } else if (lc) {
    long long li;
    if ((rc = hp_json_get_int(o, "label_column", true, 0, 1000000, &li, where, err)))
      return rc;
    c.csv.label_index = (int)li;
  }
  const cJSON *cl = cJSON_GetObjectItemCaseSensitive(o, "classes");
  if (cl && (rc = parse_classes(cl, &c.csv, where, err))) return rc;
  const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "header");
  if (hd) {
    if (cJSON_IsString(hd) && strcmp(hd->valuestring, "auto") == 0) {
      c.csv.header = -1;
    } else {
      bool b;
      if ((rc = hp_json_get_bool(o, "header", true, &b, where, err))) return rc;
      c.csv.header = b;
    }
  }
  s = NULL;
  if ((rc = hp_json_get_string(o, "delimiter", false, &s, where, err))) return rc;
  if (s) {
    if (strlen(s) != 1 || s[0] == '\n' || s[0] == '"')
      return hp_err_set(err, HP_EINVAL, "%s.delimiter: must be one character, got \"%s\"",
                        where, s);
    c.csv.delimiter = s[0];
  }
  s = NULL;
  if ((rc = hp_json_get_string(o, "scaling", false, &s, where, err))) return rc;
  if (s) {
    if (strcmp(s, "unit") == 0)
      c.scaling = HP_SCALING_UNIT;
    else if (strcmp(s, "standardize") == 0)
      c.scaling = HP_SCALING_STANDARDIZE;
    else if (strcmp(s, "none") == 0)
      c.scaling = HP_SCALING_NONE;
    else
      return hp_err_set(err, HP_EINVAL,
                        "%s.scaling: must be \"unit\", \"standardize\" or \"none\", got \"%s\"",
                        where, s);
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "validation");
  if (v && (rc = parse_validation(v, &c.split, where, err))) return rc;
  if ((rc = hp_json_get_bool(o, "cache", false, &c.cache.enabled, where, err))) return rc;
  if (c.format == HP_DATA_CSV && !c.train_csv[0])
    return hp_err_set(err, HP_EINVAL, "%s.train: required with \"format\": \"csv\"", where);
  if (c.format != HP_DATA_CSV && c.csv.n_names > 0)
    return hp_err_set(err, HP_EINVAL,
                      "%s.classes: only for \"format\": \"csv\" (IDX labels are numbers)", where);
  *cfg = c;
  return 0;
}

/* ---- checking a config's files without reading them ---------------------- */

/* One data file: it must exist, be readable and not be a folder. */
static int check_file(const char *path, const char *where, const char *field, hp_err_t *err) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    /* A wrong "dir" is the usual cause: say when the folder is what is missing. */
    char dir[HP_DATA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    struct stat ds;
    if (e == ENOENT && slash != NULL && slash != dir) {
      *slash = '\0';
      if (stat(dir, &ds) != 0)
        return hp_err_set(err, -ENOENT, "%s.%s: '%s': the folder '%s' does not exist", where,
                          field, path, dir);
    }
    return hp_err_set(err, -e, "%s.%s: '%s': %s", where, field, path, strerror(e));
  }
  if (S_ISDIR(st.st_mode))
    return hp_err_set(err, HP_EINVAL, "%s.%s: '%s' is a folder, not a data file", where, field,
                      path);
  if (access(path, R_OK) != 0)
    return hp_err_set(err, -errno, "%s.%s: '%s': %s", where, field, path, strerror(errno));
  return 0;
}

int hp_data_config_check_files(const hp_data_config_t *cfg, const char *where, hp_err_t *err) {
  const struct {
    const char *path, *field;
  } files[] = {
      {cfg->format == HP_DATA_CSV ? cfg->train_csv : cfg->train_images,
       cfg->format == HP_DATA_CSV ? "train" : "train_images"},
      {cfg->format == HP_DATA_CSV ? "" : cfg->train_labels, "train_labels"},
      {cfg->format == HP_DATA_CSV ? cfg->test_csv : cfg->test_images,
       cfg->format == HP_DATA_CSV ? "test" : "test_images"},
      {cfg->format == HP_DATA_CSV ? "" : cfg->test_labels, "test_labels"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (files[i].path[0] == '\0') continue; /* no test set */
    int rc = check_file(files[i].path, where, files[i].field, err);
    if (rc) return rc;
  }
  return 0;
}

/* ---- everything together ------------------------------------------------ */

int hp_data_open(const hp_data_config_t *cfg, hp_data_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  int rc;
  bool csv = cfg->format == HP_DATA_CSV;
  if (csv)
    rc = hp_dataset_open_csv(cfg->train_csv, &cfg->csv, &cfg->cache, &out->train, err);
  else
    rc = hp_dataset_open_idx(cfg->train_images, cfg->train_labels, &cfg->cache, &out->train,
                             err);
  if (rc) goto fail;
  if (csv ? cfg->test_csv[0] != 0 : cfg->test_images[0] != 0) {
    if (csv)
      rc = hp_dataset_open_csv(cfg->test_csv, &cfg->csv, &cfg->cache, &out->test, err);
    else
      rc = hp_dataset_open_idx(cfg->test_images, cfg->test_labels, &cfg->cache, &out->test,
                               err);
    if (rc) goto fail;
    if (out->test.d != out->train.d) {
      rc = hp_err_set(err, HP_EFORMAT,
                      "'%s': test samples have %u values (%ux%ux%u), training samples %u",
                      csv ? cfg->test_csv : cfg->test_images, out->test.d, out->test.c,
                      out->test.h, out->test.w, out->train.d);
      goto fail;
    }
    uint32_t k = out->train.n_classes > out->test.n_classes ? out->train.n_classes
                                                             : out->test.n_classes;
    out->train.n_classes = out->test.n_classes = k;
  }
  if ((rc = hp_split_make(out->train.n, &cfg->split, &out->split, err))) goto fail;
  if ((rc = hp_dataset_fit_scaling(&out->train, cfg->scaling, out->split.train,
                                   out->split.n_train, err)))
    goto fail;
  if (out->test.n && (rc = hp_dataset_copy_scaling(&out->test, &out->train, err))) goto fail;
  return 0;
fail:
  hp_data_close(out);
  return rc;
}

void hp_data_close(hp_data_t *d) {
  if (!d) return;
  hp_dataset_close(&d->train);
  hp_dataset_close(&d->test);
  hp_split_free(&d->split);
}

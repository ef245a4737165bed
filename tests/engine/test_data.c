/* Tests of the data pipeline (engine/data*.c): IDX files gzipped and plain,
 * every class of bad file, CSV good and bad, the shared decoded cache (reuse,
 * corrupt file, unwritable folder), scaling, gather, splits and the "data"
 * config object. Small generated files in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hpsearch/data.h"
#include "../../engine/data_internal.h" /* the cache file's header */

static char tmpdir[256];

static const char *tpath(const char *name) {
  static char buf[8][512];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static void write_bytes(const char *name, const void *data, size_t len, bool gz) {
  if (gz) {
    gzFile f = gzopen(tpath(name), "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
    gzclose(f);
  } else {
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
  }
}

static size_t put_be32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
  return 4;
}

/* IDX images: n samples of h x w bytes, pixel (i, j) = (7*i + j) % 256. */
static size_t make_images(unsigned char *buf, uint32_t n, uint32_t h, uint32_t w) {
  size_t at = 0;
  buf[0] = 0, buf[1] = 0, buf[2] = 8, buf[3] = 3;
  at = 4;
  at += put_be32(buf + at, n);
  at += put_be32(buf + at, h);
  at += put_be32(buf + at, w);
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < h * w; j++) buf[at++] = (unsigned char)((7 * i + j) % 256);
  return at;
}

static size_t make_labels(unsigned char *buf, uint32_t n, uint32_t classes) {
  buf[0] = 0, buf[1] = 0, buf[2] = 8, buf[3] = 1;
  size_t at = 4 + put_be32(buf + 4, n);
  for (uint32_t i = 0; i < n; i++) buf[at++] = (unsigned char)(i % classes);
  return at;
}

static hp_data_cache_opts_t cache_in(const char *sub) {
  hp_data_cache_opts_t c = {.enabled = true};
  snprintf(c.dir, sizeof c.dir, "%s/%s", tmpdir, sub);
  return c;
}

static int setup(void **st) {
  (void)st;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/hp-test-data-XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
  unsigned char buf[4096];
  size_t n;
  n = make_images(buf, 5, 2, 3);
  write_bytes("img.idx", buf, n, false);
  write_bytes("img.idx.gz", buf, n, true);
  write_bytes("img-trunc.idx", buf, n - 4, false);
  write_bytes("img-extra.idx", buf, n, false);
  FILE *f = fopen(tpath("img-extra.idx"), "ab");
  fputs("xyz", f);
  fclose(f);
  n = make_labels(buf, 5, 3);
  write_bytes("lab.idx", buf, n, false);
  write_bytes("lab.idx.gz", buf, n, true);
  n = make_labels(buf, 4, 3);
  write_bytes("lab4.idx", buf, n, false);
  n = make_labels(buf, 5, 3);
  buf[3] = 2; /* labels claiming two dimensions */
  write_bytes("lab-bad.idx", buf, n, false);
  n = make_labels(buf, 5, 3);
  buf[0] = 0x1f, buf[1] = 0x7a; /* not IDX */
  write_bytes("lab-magic.idx", buf, n, false);
  /* a gz file cut in the middle */
  unsigned char big[4 + 12 + 40 * 28 * 28];
  n = make_images(big, 40, 28, 28);
  write_bytes("big.idx.gz", big, n, true);
  struct stat sb;
  assert_int_equal(stat(tpath("big.idx.gz"), &sb), 0);
  assert_int_equal(truncate(tpath("big.idx.gz"), sb.st_size / 2), 0);
  n = make_labels(buf, 40, 10);
  write_bytes("big-lab.idx", buf, n, false);
  /* a header announcing 2^31-1 images of 28x28 in a tiny file (plain and gz):
   * refused from the file size, before anything that size is allocated */
  n = make_images(buf, 2, 28, 28);
  put_be32(buf + 4, 0x7fffffffu);
  write_bytes("img-huge.idx", buf, n, false);
  write_bytes("img-huge.idx.gz", buf, n, true);
  n = make_labels(buf, 5, 3);
  put_be32(buf + 4, 0x7fffffffu);
  write_bytes("lab-huge.idx", buf, n, false);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void check_small(const hp_dataset_t *ds) {
  assert_int_equal(ds->n, 5);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, 2);
  assert_int_equal(ds->w, 3);
  assert_int_equal(ds->d, 6);
  assert_int_equal(ds->n_classes, 3);
  assert_true(ds->is_bytes);
  assert_null(ds->x); /* the bytes stay bytes */
  for (uint32_t i = 0; i < 5; i++) {
    assert_int_equal(ds->y[i], (int32_t)(i % 3));
    for (uint32_t j = 0; j < 6; j++) assert_int_equal(ds->xb[i * 6 + j], (7 * i + j) % 256);
  }
}

static void test_idx_plain_and_gz(void **st) {
  (void)st;
  hp_dataset_t ds;
  hp_err_t err = {0};
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx"), tpath("lab.idx"), NULL, &ds, &err), 0);
  check_small(&ds);
  assert_non_null(ds.mem); /* no cache asked: in memory */
  assert_string_equal(ds.cache_path, "");
  hp_dataset_close(&ds);
  assert_int_equal(
      hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx.gz"), NULL, &ds, &err), 0);
  check_small(&ds);
  hp_dataset_close(&ds);
  hp_dataset_close(&ds); /* safe twice */
}

static void expect_fail(const char *img, const char *lab, const char *needle1,
                        const char *needle2) {
  hp_dataset_t ds;
  hp_err_t err = {0};
  hp_data_cache_opts_t c = cache_in("cache-bad");
  int rc = hp_dataset_open_idx(tpath(img), tpath(lab), &c, &ds, &err);
  if (rc == 0 || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
    fprintf(stderr, "%s + %s: rc %d, '%s'\n", img, lab, rc, err.msg);
  assert_int_not_equal(rc, 0);
  assert_non_null(strstr(err.msg, needle1));
  if (needle2) assert_non_null(strstr(err.msg, needle2));
  assert_null(ds.x);
  assert_null(ds.xb);
}

static void test_idx_bad_files(void **st) {
  (void)st;
  expect_fail("missing.idx", "lab.idx", "missing.idx", "No such file");
  expect_fail("img.idx", "missing-labels.idx", "missing-labels.idx", "No such file");
  expect_fail("img-trunc.idx", "lab.idx", "img-trunc.idx", "truncated");
  expect_fail("img-extra.idx", "lab.idx", "img-extra.idx", "extra bytes");
  expect_fail("img.idx", "lab4.idx", "has 5 images but", "has 4 labels");
  expect_fail("img.idx", "lab-bad.idx", "lab-bad.idx", "1 dimension");
  expect_fail("img.idx", "lab-magic.idx", "lab-magic.idx", "wrong magic");
  expect_fail("lab.idx", "lab.idx", "lab.idx", "at least 2 dimensions");
  expect_fail("big.idx.gz", "big-lab.idx", "big.idx.gz", NULL);
  expect_fail("img-huge.idx", "lab-huge.idx", "img-huge.idx", "truncated: the header announces");
  expect_fail("img-huge.idx.gz", "lab-huge.idx", "img-huge.idx.gz", "truncated");
  expect_fail("img.idx", "lab-huge.idx", "has 5 images but", NULL);
}

static void test_cache_reuse(void **st) {
  (void)st;
  hp_data_cache_opts_t c = cache_in("cache1/deeper");
  hp_dataset_t a, b;
  hp_err_t err = {0};
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
  assert_false(a.from_cache);
  assert_null(a.mem);
  assert_non_null(a.map);
  assert_int_not_equal(a.cache_path[0], 0);
  assert_non_null(strstr(a.cache_path, "cache1/deeper/"));
  check_small(&a);
  /* a second open (another worker) maps the same file */
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &b, &err), 0);
  assert_true(b.from_cache);
  assert_string_equal(a.cache_path, b.cache_path);
  check_small(&b);
  assert_memory_equal(a.xb, b.xb, 30);
  char path[HP_DATA_PATH_MAX];
  snprintf(path, sizeof path, "%s", a.cache_path);
  hp_dataset_close(&a);
  hp_dataset_close(&b);
  /* no temp files left behind */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls '%s/cache1/deeper' | grep -q tmp", tmpdir);
  assert_int_not_equal(system(cmd), 0);

  /* other sources -> another cache file */
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx"), tpath("lab.idx"), &c, &a, &err), 0);
  assert_string_not_equal(a.cache_path, path);
  hp_dataset_close(&a);

  /* a corrupt cache file is ignored and rewritten */
  FILE *f = fopen(path, "wb");
  fputs("garbage", f);
  fclose(f);
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
  assert_false(a.from_cache);
  check_small(&a);
  hp_dataset_close(&a);
  /* so is a version-1 file (the bytes stored as float32): its header says
   * version 1 and its layout is otherwise valid for version 1 */
  {
    const uint32_t n = 5, d = 6;
    uint64_t x_off = 64, y_off = (x_off + n * d * 4 + 63) / 64 * 64, total = (y_off + n * 4 + 63) / 64 * 64;
    unsigned char *v1 = calloc(1, total);
    assert_non_null(v1);
    hp_data_header_t *hd = (hp_data_header_t *)v1;
    memcpy(hd->magic, HP_DATA_MAGIC, 8);
    hd->version = 1, hd->n = n, hd->c = 1, hd->h = 2, hd->w = 3, hd->n_classes = 3;
    hd->is_bytes = 1, hd->x_off = x_off, hd->y_off = y_off, hd->total = total;
    for (uint32_t i = 0; i < n * d; i++) ((float *)(v1 + x_off))[i] = (float)((7 * (i / d) + i % d) % 256);
    for (uint32_t i = 0; i < n; i++) ((int32_t *)(v1 + y_off))[i] = (int32_t)(i % 3);
    f = fopen(path, "wb");
    assert_int_equal(fwrite(v1, 1, total, f), total);
    fclose(f);
    free(v1);
    assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
    assert_false(a.from_cache);
    check_small(&a);
    hp_dataset_close(&a);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 64 + 64 + 64); /* rewritten: 30 bytes of x, 20 of y, each padded */
  }
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
  assert_true(a.from_cache);
  hp_dataset_close(&a);

  /* pruning: cache files unused for more than 30 days and writers' temp
   * files older than a day go when a new cache file is written; a used one
   * has its mtime refreshed, other names are left alone */
  {
    char dir[600], p_old[700], p_tmp[700], p_other[700], p_fresh_tmp[700];
    snprintf(dir, sizeof dir, "%s/cache1/deeper", tmpdir);
    snprintf(p_old, sizeof p_old, "%s/data-00000000000000aa.bin", dir);
    snprintf(p_tmp, sizeof p_tmp, "%s/data-00000000000000aa.bin.tmp.12.34", dir);
    snprintf(p_fresh_tmp, sizeof p_fresh_tmp, "%s/data-00000000000000bb.bin.tmp.56.78", dir);
    snprintf(p_other, sizeof p_other, "%s/notes.txt", dir);
    const char *const made[] = {p_old, p_tmp, p_fresh_tmp, p_other};
    for (int i = 0; i < 4; i++) {
      FILE *g = fopen(made[i], "wb");
      assert_non_null(g);
      fputs("x", g);
      fclose(g);
    }
    time_t now = time(NULL);
    struct timespec old_t[2] = {{now - 31 * 86400, 0}, {now - 31 * 86400, 0}};
    struct timespec tmp_t[2] = {{now - 2 * 86400, 0}, {now - 2 * 86400, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p_old, old_t, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, p_other, old_t, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, p_tmp, tmp_t, 0), 0);
    /* the cache file in use, last used 40 days ago: a hit refreshes it */
    assert_int_equal(utimensat(AT_FDCWD, path, (struct timespec[2]){{now - 40 * 86400, 0},
                                                                    {now - 40 * 86400, 0}}, 0),
                     0);
    assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
    assert_true(a.from_cache);
    hp_dataset_close(&a);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(now - sb.st_mtime < 3600);
    /* a miss writes a new file and prunes */
    unlink(path);
    assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), &c, &a, &err), 0);
    assert_false(a.from_cache);
    hp_dataset_close(&a);
    assert_int_not_equal(access(p_old, F_OK), 0);
    assert_int_not_equal(access(p_tmp, F_OK), 0);
    assert_int_equal(access(p_fresh_tmp, F_OK), 0);
    assert_int_equal(access(p_other, F_OK), 0);
    assert_int_equal(access(path, F_OK), 0);
    /* HPSEARCH_CACHE_DAYS=0 keeps only what was used within the day */
    assert_int_equal(utimensat(AT_FDCWD, p_other, old_t, 0), 0);
    struct timespec two_days[2] = {{now - 2 * 86400, 0}, {now - 2 * 86400, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, two_days, 0), 0);
    setenv("HPSEARCH_CACHE_DAYS", "0", 1);
    hp_data_cache_prune(path, now);
    unsetenv("HPSEARCH_CACHE_DAYS");
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(access(p_other, F_OK), 0);
    unlink(p_fresh_tmp), unlink(p_other);
  }

  /* a folder that cannot be created: decode in memory, no error */
  hp_data_cache_opts_t bad = {.enabled = true};
  snprintf(bad.dir, sizeof bad.dir, "/proc/hpsearch-no/cache");
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx"), tpath("lab.idx"), &bad, &a, &err), 0);
  assert_non_null(a.mem);
  assert_string_equal(a.cache_path, "");
  check_small(&a);
  hp_dataset_close(&a);
}

static void test_gather_scaling(void **st) {
  (void)st;
  hp_dataset_t ds;
  hp_err_t err = {0};
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx"), tpath("lab.idx"), NULL, &ds, &err), 0);
  uint32_t idx[3] = {4, 0, 2};
  float x[18];
  int32_t y[3];
  hp_data_gather(&ds, idx, 3, x, y); /* no scaling yet: raw bytes */
  assert_true(x[0] == 28 && x[6] == 0 && x[12] == 14);
  assert_true(y[0] == 1 && y[1] == 0 && y[2] == 2);
  assert_int_equal(hp_dataset_fit_scaling(&ds, HP_SCALING_UNIT, NULL, 0, &err), 0);
  hp_data_gather(&ds, idx, 3, x, NULL);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 6; j++)
      assert_float_equal(x[i * 6 + j], ((7 * idx[i] + j) % 256) / 255.0, 1e-7);
  /* standardisation on samples {0, 1, 2} only: feature j has values j, 7+j, 14+j,
   * mean 7+j, population std sqrt(98/3) */
  uint32_t train[3] = {0, 1, 2};
  assert_int_equal(hp_dataset_fit_scaling(&ds, HP_SCALING_STANDARDIZE, train, 3, &err), 0);
  hp_data_gather(&ds, idx, 3, x, NULL);
  double sd = sqrt(98.0 / 3);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 6; j++) {
      double raw = (7 * idx[i] + j) % 256;
      assert_float_equal(x[i * 6 + j], (raw - (7 + j)) / sd, 1e-5);
    }
  /* copy to another set: same transform */
  hp_dataset_t ds2;
  assert_int_equal(hp_dataset_open_idx(tpath("img.idx.gz"), tpath("lab.idx"), NULL, &ds2, &err),
                   0);
  assert_int_equal(hp_dataset_copy_scaling(&ds2, &ds, &err), 0);
  float x2[18];
  hp_data_gather(&ds2, idx, 3, x2, NULL);
  assert_memory_equal(x, x2, sizeof x);
  hp_dataset_close(&ds2);
  assert_int_equal(hp_dataset_fit_scaling(&ds, HP_SCALING_NONE, NULL, 0, &err), 0);
  hp_data_gather(&ds, idx, 1, x, NULL);
  assert_true(x[0] == 28);
  hp_dataset_close(&ds);
}

static void test_splits(void **st) {
  (void)st;
  hp_split_t s;
  hp_err_t err = {0};
  hp_split_opts_t o = {.mode = HP_SPLIT_LAST, .size = 3};
  assert_int_equal(hp_split_make(10, &o, &s, &err), 0);
  assert_int_equal(s.n_train, 7);
  assert_int_equal(s.n_val, 3);
  for (uint32_t i = 0; i < 7; i++) assert_int_equal(s.train[i], i);
  for (uint32_t i = 0; i < 3; i++) assert_int_equal(s.val[i], 7 + i);
  hp_split_free(&s);
  o = (hp_split_opts_t){.mode = HP_SPLIT_LAST, .fraction = 0.25};
  assert_int_equal(hp_split_make(100, &o, &s, &err), 0);
  assert_int_equal(s.n_val, 25);
  assert_int_equal(s.val[0], 75);
  hp_split_free(&s);

  o = (hp_split_opts_t){.mode = HP_SPLIT_RANDOM, .size = 30, .seed = 5};
  hp_split_t s2, s3;
  assert_int_equal(hp_split_make(100, &o, &s, &err), 0);
  assert_int_equal(hp_split_make(100, &o, &s2, &err), 0);
  o.seed = 6;
  assert_int_equal(hp_split_make(100, &o, &s3, &err), 0);
  assert_memory_equal(s.val, s2.val, 30 * sizeof(uint32_t)); /* same seed, same split */
  assert_memory_not_equal(s.val, s3.val, 30 * sizeof(uint32_t));
  int seen[100] = {0};
  for (uint32_t i = 0; i < s.n_train; i++) seen[s.train[i]]++;
  for (uint32_t i = 0; i < s.n_val; i++) seen[s.val[i]]++;
  for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1); /* a partition */
  for (uint32_t i = 1; i < s.n_val; i++) assert_true(s.val[i - 1] < s.val[i]);
  bool not_last = false;
  for (uint32_t i = 0; i < s.n_val; i++) not_last |= s.val[i] < 70;
  assert_true(not_last);
  hp_split_free(&s), hp_split_free(&s2), hp_split_free(&s3);

  o = (hp_split_opts_t){.mode = HP_SPLIT_NONE};
  assert_int_equal(hp_split_make(10, &o, &s, &err), 0);
  assert_true(s.n_train == 10 && s.n_val == 0 && s.val == NULL);
  hp_split_free(&s);
  o = (hp_split_opts_t){.mode = HP_SPLIT_LAST, .size = 10};
  assert_int_equal(hp_split_make(10, &o, &s, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "data.validation"));
}

static void write_text(const char *name, const char *text) {
  write_bytes(name, text, strlen(text), false);
}

static int open_csv(const char *text, int label_index, const char *label_name, int header,
                    hp_dataset_t *ds, hp_err_t *err) {
  write_text("t.csv", text);
  hp_data_csv_opts_t o = {.label_index = label_index, .header = header, .delimiter = ','};
  if (label_name) snprintf(o.label_name, sizeof o.label_name, "%s", label_name);
  return hp_dataset_open_csv(tpath("t.csv"), &o, NULL, ds, err);
}

static void test_csv(void **st) {
  (void)st;
  hp_dataset_t ds;
  hp_err_t err = {0};
  assert_int_equal(open_csv("a,label,b\n1.5,2,-3\n\n4, 0 ,5e1\r\n", -1, "label", -1, &ds, &err),
                   0);
  assert_true(ds.n == 2 && ds.d == 2 && ds.c == 1 && ds.h == 1 && ds.w == 2);
  assert_int_equal(ds.n_classes, 3);
  assert_false(ds.is_bytes);
  assert_true(ds.x[0] == 1.5f && ds.x[1] == -3 && ds.x[2] == 4 && ds.x[3] == 50);
  assert_true(ds.y[0] == 2 && ds.y[1] == 0);
  hp_dataset_close(&ds);
  /* no header (auto-detected), label in column 0 */
  assert_int_equal(open_csv("1,0.5,0.25\n0,1,2\n", 0, NULL, -1, &ds, &err), 0);
  assert_true(ds.n == 2 && ds.d == 2 && ds.y[0] == 1 && ds.x[0] == 0.5f && ds.x[3] == 2);
  hp_dataset_close(&ds);
  /* quoted fields (RFC 4180): a delimiter and "" inside quotes, quoted
   * numbers, blanks around the quotes; the label found by its unquoted name */
  assert_int_equal(open_csv("\"x, mm\",\"say \"\"hi\"\"\",\"class\"\n"
                            " \"1.5\" ,2,\"1\"\n4,\"-3\",0\n",
                            -1, "class", -1, &ds, &err),
                   0);
  assert_true(ds.n == 2 && ds.d == 2);
  assert_true(ds.x[0] == 1.5f && ds.x[1] == 2 && ds.x[2] == 4 && ds.x[3] == -3);
  assert_true(ds.y[0] == 1 && ds.y[1] == 0);
  hp_dataset_close(&ds);
  assert_int_equal(open_csv("\"say \"\"hi\"\"\",f\n1,2\n", -1, "say \"hi\"", -1, &ds, &err), 0);
  assert_true(ds.n == 1 && ds.y[0] == 1 && ds.x[0] == 2);
  hp_dataset_close(&ds);
  /* class names (data.classes): label = position in the list, quoted or not;
   * the header is still detected with names in the label column; every
   * listed class counts */
  {
    hp_data_csv_opts_t o = {.label_index = 2, .header = -1, .delimiter = ',', .n_names = 3};
    memcpy(o.names, "setosa\0versicolor\0virginica", sizeof "setosa\0versicolor\0virginica");
    write_text("t.csv", "5.1,3.5,\"virginica\"\n4.9,3.0, setosa\n");
    assert_int_equal(hp_dataset_open_csv(tpath("t.csv"), &o, NULL, &ds, &err), 0);
    assert_true(ds.n == 2 && ds.d == 2 && ds.n_classes == 3);
    assert_true(ds.y[0] == 2 && ds.y[1] == 0 && ds.x[0] == 5.1f);
    hp_dataset_close(&ds);
    write_text("t.csv", "a,b,species\n5.1,3.5,versicolor\n");
    assert_int_equal(hp_dataset_open_csv(tpath("t.csv"), &o, NULL, &ds, &err), 0);
    assert_true(ds.n == 1 && ds.y[0] == 1);
    hp_dataset_close(&ds);
    /* numbered feature columns as pandas writes them: a header all the same */
    write_text("t.csv", "0,1,label\n5.1,3.5,virginica\n");
    assert_int_equal(hp_dataset_open_csv(tpath("t.csv"), &o, NULL, &ds, &err), 0);
    assert_true(ds.n == 1 && ds.y[0] == 2);
    hp_dataset_close(&ds);
    write_text("t.csv", "5.1,3.5,setosa\n4.9,3.0,daisy\n");
    assert_int_not_equal(hp_dataset_open_csv(tpath("t.csv"), &o, NULL, &ds, &err), 0);
    assert_non_null(strstr(err.msg, "line 2 column 3: label 'daisy' is not one of data.classes"));
    o.n_names = 0; /* names without a list: the error says where to give them */
    write_text("t.csv", "5.1,3.5,2\n4.9,3.0,setosa\n");
    assert_int_not_equal(hp_dataset_open_csv(tpath("t.csv"), &o, NULL, &ds, &err), 0);
    assert_non_null(strstr(err.msg, "line 2 column 3: label 'setosa' is not a class number"));
    assert_non_null(strstr(err.msg, "data.classes"));
  }
  /* unit scaling of CSV is min-max over the chosen samples */
  assert_int_equal(open_csv("y,f\n0,2\n1,4\n0,6\n", 0, NULL, 1, &ds, &err), 0);
  assert_int_equal(hp_dataset_fit_scaling(&ds, HP_SCALING_UNIT, NULL, 0, &err), 0);
  uint32_t idx[3] = {0, 1, 2};
  float x[3];
  hp_data_gather(&ds, idx, 3, x, NULL);
  assert_true(x[0] == 0 && x[1] == 0.5f && x[2] == 1);
  hp_dataset_close(&ds);

  static const struct {
    const char *text;
    int li;
    const char *name;
    int header;
    const char *needle;
  } bad[] = {
      {"a,b\n1,2\n3,x\n", 0, NULL, 1, "line 3 column 2: 'x' is not a number"},
      {"1,2\n3,4,5\n", 0, NULL, 0, "line 2: 3 columns, expected 2"},
      {"1,2\n-1,4\n", 0, NULL, 0, "line 2 column 1: label '-1'"},
      {"1,2\n2.5,4\n", 0, NULL, 0, "label '2.5'"},
      {"a,b\n1,2\n", -1, "label", -1, "no column named 'label'"},
      {"1,2\n", -1, "label", 0, "no header"},
      {"1,2\n", 5, NULL, 0, "label column 5 does not exist"},
      {"\n\n", 0, NULL, -1, "no data rows"},
      {"a,b\n", 0, NULL, 1, "no data rows"},
      {"1,nan\n", 0, NULL, 0, "'nan' is not a number"},
      {"5\n", 0, NULL, 0, "line 1: 1 column (need a label"},
      {"a,b\n\"1,2\n", 0, NULL, 1, "line 2: a quote is not closed"},
      {"\"a,b\n1,2\n", 0, NULL, -1, "line 1: a quote is not closed"},
      {"a,b\n\"1\"x,2\n", 0, NULL, 1, "line 2: text after the closing quote"},
      {"a,b\n1,\"2,3\"\n", 0, NULL, 1, "line 2 column 2: '2,3' is not a number"},
      {"a,b\n1,2\n\"4\",\"5\",6\n", 0, NULL, 1, "line 3: 3 columns, expected 2"},
      {"a,b\n1,\"x\"\n", 0, NULL, 1, "line 2 column 2: 'x' is not a number"},
      /* the one number parser (docs/protocol.md): no hexadecimal, nothing
       * beyond a float; a quoted field is valid UTF-8 in the message */
      {"1,0x10\n", 0, NULL, 0, "'0x10' is not a number"},
      {"1,1e400\n", 0, NULL, 0, "'1e400' is not a number"},
      {"1,1e39\n", 0, NULL, 0, "'1e39' is not a number"},
      {"1,2\xff\n", 0, NULL, 0, "'2\xef\xbf\xbd' is not a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    int rc = open_csv(bad[i].text, bad[i].li, bad[i].name, bad[i].header, &ds, &err);
    if (rc == 0 || !strstr(err.msg, bad[i].needle))
      fprintf(stderr, "case %zu: rc %d '%s'\n", i, rc, err.msg);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.msg, bad[i].needle));
    assert_non_null(strstr(err.msg, "t.csv"));
  }
  hp_data_csv_opts_t o = {.label_index = 0, .header = -1};
  assert_int_not_equal(hp_dataset_open_csv(tpath("none.csv"), &o, NULL, &ds, &err), 0);
  assert_non_null(strstr(err.msg, "none.csv"));
}

static int parse_cfg(const char *json, hp_data_config_t *c, hp_err_t *err) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  hp_data_config_default(c);
  int rc = hp_data_config_parse(j, c, "data", err);
  cJSON_Delete(j);
  return rc;
}

static void test_config(void **st) {
  (void)st;
  hp_data_config_t c;
  hp_err_t err = {0};
  assert_int_equal(parse_cfg("{}", &c, &err), 0);
  assert_non_null(strstr(c.train_images, "fashion-mnist/train-images-idx3-ubyte.gz"));
  assert_true(c.scaling == HP_SCALING_UNIT && c.split.mode == HP_SPLIT_LAST &&
              c.split.size == 10000 && c.cache.enabled);
  assert_int_equal(parse_cfg("{\"dir\":\"/d\",\"scaling\":\"standardize\",\"cache\":false,"
                             "\"validation\":{\"mode\":\"random\",\"fraction\":0.1,\"seed\":3}}",
                             &c, &err),
                   0);
  assert_string_equal(c.test_labels, "/d/t10k-labels-idx1-ubyte.gz");
  assert_true(c.scaling == HP_SCALING_STANDARDIZE && !c.cache.enabled);
  assert_true(c.split.mode == HP_SPLIT_RANDOM && c.split.fraction == 0.1 && c.split.seed == 3);
  assert_int_equal(parse_cfg("{\"format\":\"csv\",\"train\":\"a.csv\",\"label_column\":\"y\","
                             "\"header\":true,\"delimiter\":\";\",\"validation\":null}",
                             &c, &err),
                   0);
  assert_true(c.format == HP_DATA_CSV && c.csv.label_index == -1 && c.csv.header == 1);
  assert_true(c.csv.delimiter == ';' && c.split.mode == HP_SPLIT_NONE);
  assert_string_equal(c.csv.label_name, "y");
  assert_int_equal(parse_cfg("{\"format\":\"csv\",\"train\":\"a.csv\",\"classes\":[\"cat\",\"dog\"]}",
                             &c, &err),
                   0);
  assert_true(c.csv.n_names == 2 && memcmp(c.csv.names, "cat\0dog", 8) == 0);

  static const struct {
    const char *json, *needle;
  } bad[] = {
      {"{\"folder\":\"/x\"}", "folder"},
      {"{\"scaling\":\"minmax\"}", "data.scaling"},
      {"{\"format\":\"parquet\"}", "data.format"},
      {"{\"format\":\"csv\"}", "data.train"},
      {"{\"validation\":{\"size\":10,\"fraction\":0.1}}", "data.validation"},
      {"{\"validation\":{\"size\":0}}", "size"},
      {"{\"validation\":{\"fraction\":1.5}}", "data.validation.fraction"},
      {"{\"validation\":{\"mode\":\"last\",\"size\":5,\"seed\":2}}", "data.validation.seed"},
      {"{\"validation\":{\"mode\":\"middle\",\"size\":5}}", "data.validation.mode"},
      {"{\"validation\":{\"mode\":\"last\"}}", "\"size\" or \"fraction\""},
      {"{\"delimiter\":\";;\"}", "data.delimiter"},
      {"{\"test_images\":\"\"}", "test_labels"},
      {"{\"cache\":\"yes\"}", "cache"},
      {"[]", "data"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":[]}", "data.classes: expected a non-empty array"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":\"cat\"}", "data.classes"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":[\"a\",1]}", "data.classes[1]"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":[\"a\",\"\"]}", "data.classes[1]"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":[\"a\",\"b\",\"a\"]}", "data.classes[2]: \"a\" is listed twice"},
      {"{\"classes\":[\"a\"]}", "data.classes: only for"},
      {"{\"format\":\"csv\",\"train\":\"a\",\"classes\":[\"a\",\"b \"]}", "data.classes[1]: \"b \" begins or ends with a blank"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    int rc = parse_cfg(bad[i].json, &c, &err);
    if (rc == 0 || !strstr(err.msg, bad[i].needle))
      fprintf(stderr, "case %s: rc %d '%s'\n", bad[i].json, rc, err.msg);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.msg, bad[i].needle));
  }
}

/* hp_data_open: training file + split + test file, scaling fitted on the
 * training part only. */
static void test_data_open(void **st) {
  (void)st;
  hp_data_config_t c;
  hp_data_config_default(&c);
  snprintf(c.train_images, sizeof c.train_images, "%s", tpath("img.idx.gz"));
  snprintf(c.train_labels, sizeof c.train_labels, "%s", tpath("lab.idx"));
  snprintf(c.test_images, sizeof c.test_images, "%s", tpath("img.idx"));
  snprintf(c.test_labels, sizeof c.test_labels, "%s", tpath("lab.idx.gz"));
  c.cache = cache_in("cache2");
  c.scaling = HP_SCALING_STANDARDIZE;
  c.split = (hp_split_opts_t){.mode = HP_SPLIT_LAST, .size = 2};
  hp_data_t d;
  hp_err_t err = {0};
  assert_int_equal(hp_data_open(&c, &d, &err), 0);
  assert_int_equal(d.split.n_train, 3);
  assert_int_equal(d.split.n_val, 2);
  assert_int_equal(d.test.n, 5);
  /* the training part {0,1,2} is standardised to mean 0 */
  float x[18];
  hp_data_gather(&d.train, d.split.train, 3, x, NULL);
  for (int j = 0; j < 6; j++) assert_float_equal(x[j] + x[6 + j] + x[12 + j], 0, 1e-5);
  /* the test set uses the training statistics (sample 4 is not centred) */
  uint32_t four = 4;
  hp_data_gather(&d.test, &four, 1, x, NULL);
  assert_float_equal(x[0], (28 - 7) / sqrt(98.0 / 3), 1e-5);
  hp_data_close(&d);

  /* test set with another sample size */
  snprintf(c.test_images, sizeof c.test_images, "%s", tpath("big.idx.gz"));
  snprintf(c.test_labels, sizeof c.test_labels, "%s", tpath("big-lab.idx"));
  assert_int_not_equal(hp_data_open(&c, &d, &err), 0);
  assert_null(d.train.x);
  assert_null(d.train.xb);
}

/* Damaged files: random byte changes and truncations of a valid IDX pair
 * (plain and gzipped) and of a CSV file must give either a consistent data
 * set or an error with a message, never a crash (run under ASan by make test). */
static void test_damaged_files(void **st) {
  (void)st;
  unsigned char img[4 + 12 + 6 * 4 * 4], lab[8 + 6];
  size_t ni = make_images(img, 6, 4, 4), nl = make_labels(lab, 6, 4);
  const char csv[] = "a,b,label\n1,2,0\n3.5,-4,1\n5,6e2,2\n";
  srand(12345);
  int n_ok = 0, n_err = 0;
  for (int iter = 0; iter < 300; iter++) {
    unsigned char a[sizeof img], b[sizeof lab];
    char c[sizeof csv];
    memcpy(a, img, ni), memcpy(b, lab, nl), memcpy(c, csv, sizeof csv);
    size_t la = ni, lb = nl, lc = sizeof csv - 1;
    int what = rand() % 3;
    for (int k = rand() % 3 + 1; k > 0; k--) {
      if (what == 0) a[rand() % la] = (unsigned char)rand();
      if (what == 1) b[rand() % lb] = (unsigned char)rand();
      if (what == 2) c[rand() % lc] = "0123456789,.-e\nx "[rand() % 17];
    }
    if (rand() % 4 == 0) {
      if (what == 0) la = (size_t)rand() % la;
      if (what == 1) lb = (size_t)rand() % lb;
      if (what == 2) lc = (size_t)rand() % lc;
    }
    bool gz = rand() % 2;
    write_bytes("f-img", a, la, gz);
    write_bytes("f-lab", b, lb, gz);
    write_bytes("f.csv", c, lc, gz);
    hp_dataset_t ds;
    hp_err_t err = {0};
    hp_data_cache_opts_t cache = cache_in("cache-fuzz");
    int rc = what == 2 ? hp_dataset_open_csv(tpath("f.csv"),
                                             &(hp_data_csv_opts_t){.label_index = -1,
                                                                   .label_name = "label",
                                                                   .header = -1},
                                             &cache, &ds, &err)
                       : hp_dataset_open_idx(tpath("f-img"), tpath("f-lab"), &cache, &ds, &err);
    if (rc) {
      assert_true(strlen(err.msg) > 0);
      assert_null(ds.x);
      n_err++;
      continue;
    }
    n_ok++;
    assert_true(ds.n > 0 && ds.d > 0 && ds.n_classes > 0);
    float sum = 0;
    for (size_t i = 0; i < (size_t)ds.n * ds.d; i++) sum += ds.xb ? ds.xb[i] : ds.x[i]; /* all readable */
    (void)sum;
    for (uint32_t i = 0; i < ds.n; i++) assert_true(ds.y[i] >= 0 && (uint32_t)ds.y[i] < ds.n_classes);
    hp_dataset_close(&ds);
  }
  assert_true(n_ok > 20 && n_err > 20); /* both outcomes exercised */
}

/* Optional smoke check on the real Fashion-MNIST test file (10k images). */
static void test_fashion_mnist_smoke(void **st) {
  (void)st;
  const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (access(img, R_OK) != 0) {
    skip();
    return;
  }
  hp_data_cache_opts_t c = cache_in("cache3");
  hp_dataset_t ds;
  hp_err_t err = {0};
  assert_int_equal(hp_dataset_open_idx(img, lab, &c, &ds, &err), 0);
  assert_true(ds.n == 10000 && ds.c == 1 && ds.h == 28 && ds.w == 28 && ds.n_classes == 10);
  int count[10] = {0};
  for (uint32_t i = 0; i < ds.n; i++) count[ds.y[i]]++;
  for (int k = 0; k < 10; k++) assert_int_equal(count[k], 1000);
  hp_dataset_close(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_plain_and_gz), cmocka_unit_test(test_idx_bad_files),
      cmocka_unit_test(test_cache_reuse),      cmocka_unit_test(test_gather_scaling),
      cmocka_unit_test(test_splits),           cmocka_unit_test(test_csv),
      cmocka_unit_test(test_config),           cmocka_unit_test(test_data_open),
      cmocka_unit_test(test_damaged_files),    cmocka_unit_test(test_fashion_mnist_smoke),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

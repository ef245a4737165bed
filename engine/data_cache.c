/* The decoded-data cache: a data set is decoded once into a file named after
 * its sources (paths, sizes, mtimes) and the reader options, written
 * atomically (temp file + rename), and mmap'd read-only by every worker, so
 * N workers training on the same data share one copy in the page cache.
 * Without a writable cache folder the decoded image stays in memory.
 * A cache file's mtime is its last use (refreshed at most daily); writing a
 * new file removes the folder's cache files unused for HP_CACHE_KEEP_DAYS
 * (or $HPSEARCH_CACHE_DAYS) and temp files a crashed writer left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data_internal.h"

#define ALIGN64(v) (((v) + 63u) & ~(uint64_t)63u)

void *hp_data_image_alloc(uint32_t n, uint32_t c, uint32_t h, uint32_t w, bool bytes,
                          size_t *len) {
  uint64_t d = (uint64_t)c * h * w;
  if (d == 0 || (uint64_t)n * d > HP_DATA_MAX_VALUES) return NULL;
  uint64_t x_len = (uint64_t)n * d * (bytes ? 1 : sizeof(float));
  uint64_t x_off = ALIGN64(sizeof(hp_data_header_t));
  uint64_t y_off = ALIGN64(x_off + x_len);
  uint64_t total = ALIGN64(y_off + (uint64_t)n * sizeof(int32_t));
  void *img = aligned_alloc(64, total);
  if (!img) return NULL;
  memset(img, 0, sizeof(hp_data_header_t));
  hp_data_header_t *hd = img;
  memcpy(hd->magic, HP_DATA_MAGIC, 8);
  hd->version = HP_DATA_VERSION;
  hd->n = n, hd->c = c, hd->h = h, hd->w = w;
  hd->is_bytes = bytes;
  hd->x_off = x_off, hd->y_off = y_off, hd->total = total;
  /* the padding between and after the arrays goes to the file: keep it defined */
  memset((char *)img + y_off, 0, total - y_off);
  memset((char *)img + x_off + x_len, 0, y_off - x_off - x_len);
  *len = total;
  return img;
}

/* Checks that an image of `len` bytes is self-consistent (a cache file may be
 * stale, truncated, or from another version). */
static bool image_valid(const void *img, size_t len) {
  if (len < sizeof(hp_data_header_t)) return false;
  const hp_data_header_t *h = img;
  if (memcmp(h->magic, HP_DATA_MAGIC, 8) != 0 || h->version != HP_DATA_VERSION) return false;
  uint64_t d = (uint64_t)h->c * h->h * h->w;
  if (d == 0 || (uint64_t)h->n * d > HP_DATA_MAX_VALUES) return false;
  if (h->total != len || h->x_off != ALIGN64(sizeof *h)) return false;
  if (h->is_bytes > 1 || h->y_off != ALIGN64(h->x_off + (uint64_t)h->n * d * (h->is_bytes ? 1 : 4)))
    return false;
  if (h->total != ALIGN64(h->y_off + (uint64_t)h->n * 4)) return false;
  const int32_t *y = (const int32_t *)((const char *)img + h->y_off);
  for (uint32_t i = 0; i < h->n; i++)
    if (y[i] < 0 || (uint32_t)y[i] >= h->n_classes) return false;
  return true;
}

/* Points ds at an image (mapped or owned). */
static void attach(hp_dataset_t *ds, void *img) {
  hp_data_header_t *h = img;
  ds->n = h->n, ds->c = h->c, ds->h = h->h, ds->w = h->w;
  ds->d = h->c * h->h * h->w;
  ds->n_classes = h->n_classes;
  ds->is_bytes = h->is_bytes != 0;
  if (ds->is_bytes) ds->xb = hp_data_image_xb(img);
  else ds->x = hp_data_image_x(img);
  ds->y = hp_data_image_y(img);
}

static uint64_t fnv1a(uint64_t hsh, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) hsh = (hsh ^ b[i]) * 1099511628211ull;
  return hsh;
}

static int cache_dir(const hp_data_cache_opts_t *cache, char *out, size_t len) {
  const char *e;
  if (cache && cache->dir[0]) return snprintf(out, len, "%s", cache->dir) < (int)len ? 0 : -1;
  if ((e = getenv("HPSEARCH_CACHE_DIR")) && *e)
    return snprintf(out, len, "%s", e) < (int)len ? 0 : -1;
  if ((e = getenv("XDG_CACHE_HOME")) && *e)
    return snprintf(out, len, "%s/hpsearch", e) < (int)len ? 0 : -1;
  if ((e = getenv("HOME")) && *e)
    return snprintf(out, len, "%s/.cache/hpsearch", e) < (int)len ? 0 : -1;
  return -1;
}

int hp_data_cache_path(const hp_data_cache_opts_t *cache, const char *const *sources,
                       int n_sources, const char *tag, char *out, size_t out_len,
                       hp_err_t *err) {
  uint64_t h = 14695981039346656037ull;
  /* the format version too: hpsearch builds of two versions sharing a
   * folder keep their own files instead of rewriting each other's */
  const uint32_t version = HP_DATA_VERSION;
  h = fnv1a(h, &version, sizeof version);
  h = fnv1a(h, tag, strlen(tag) + 1);
  for (int i = 0; i < n_sources; i++) {
    struct stat st;
    char real[PATH_MAX];
    if (stat(sources[i], &st) != 0)
      return hp_err_set(err, -errno, "cannot open '%s': %s", sources[i], strerror(errno));
    const char *name = realpath(sources[i], real) ? real : sources[i];
    int64_t meta[4] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                       (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ino};
    h = fnv1a(h, name, strlen(name) + 1);
    h = fnv1a(h, meta, sizeof meta);
  }
  char dir[HP_DATA_PATH_MAX];
  if (cache_dir(cache, dir, sizeof dir) != 0)
    return hp_err_set(err, HP_ENOTFOUND, "no cache folder (set HPSEARCH_CACHE_DIR or HOME)");
  if (snprintf(out, out_len, "%s/data-%016llx.bin", dir, (unsigned long long)h) >= (int)out_len)
    return hp_err_set(err, HP_ETOOBIG, "cache path too long");
  return 0;
}

/* mkdir -p for the folder part of `path`. */
static int make_parent(const char *path) {
  char tmp[HP_DATA_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  char *slash = strrchr(tmp, '/');
  if (!slash || slash == tmp) return 0;
  *slash = 0;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -errno;
  return 0;
}

/* Maps an existing cache file read-only; 0 and *map/len set if it is valid. */
static int map_cache(const char *path, void **map, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  void *m = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(hp_data_header_t))
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return -1;
  if (!image_valid(m, (size_t)st.st_size)) {
    munmap(m, (size_t)st.st_size);
    return -1;
  }
  *map = m;
  *len = (size_t)st.st_size;
  return 0;
}

/* Writes img to path through a unique temp file and rename(), so a reader
 * never sees a half-written cache and concurrent writers do not collide. */
static int write_cache(const char *path, const void *img, size_t len) {
  if (make_parent(path) != 0) return -1;
  char tmp[HP_DATA_PATH_MAX + 64];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const char *p = img;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) goto fail;
    p += w, left -= (size_t)w;
  }
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    fd = -1;
    goto fail;
  }
  return 0;
fail:
  if (fd >= 0) close(fd);
  unlink(tmp);
  return -1;
}

#define HP_CACHE_KEEP_DAYS 30
#define DAY_SECONDS 86400

/* Marks a cache file as used now (its mtime), at most once a day. */
static void touch_used(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > DAY_SECONDS)
    utimensat(AT_FDCWD, path, NULL, 0); /* best effort: another user's file stays */
}

static bool has_prefix_suffix(const char *s, const char *pre, const char *suf) {
  size_t n = strlen(s), np = strlen(pre), ns = strlen(suf);
  return n >= np + ns && strncmp(s, pre, np) == 0 && strcmp(s + n - ns, suf) == 0;
}

/* Removes, in the folder of `path`, cache files (data-<hash>.bin) not used
 * for the keep period and temp files (data-<hash>.bin.tmp.*) older than a
 * day. A process that still maps a removed file keeps its mapping. */
void hp_data_cache_prune(const char *path, time_t now) {
  char dir[HP_DATA_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return;
  *slash = 0;
  long days = HP_CACHE_KEEP_DAYS;
  const char *e = getenv("HPSEARCH_CACHE_DAYS");
  if (e && *e) {
    char *end;
    long v = strtol(e, &end, 10);
    if (*end == 0 && v >= 0) days = v < 36500 ? v : 36500; /* no overflow of days * 86400 */
  }
  DIR *d = opendir(dir[0] ? dir : "/");
  if (!d) return;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    bool bin = has_prefix_suffix(de->d_name, "data-", ".bin");
    bool tmp = !bin && has_prefix_suffix(de->d_name, "data-", "") &&
               strstr(de->d_name, ".bin.tmp.") != NULL;
    if (!bin && !tmp) continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    time_t limit = tmp ? DAY_SECONDS : (time_t)days * DAY_SECONDS;
    if (now - st.st_mtime > limit) unlinkat(dirfd(d), de->d_name, 0);
  }
  closedir(d);
}

int hp_data_open_cached(const char *const *sources, int n_sources, const char *tag,
                        hp_data_decode_fn decode, void *ctx, const hp_data_cache_opts_t *cache,
                        hp_dataset_t *ds, hp_err_t *err) {
  memset(ds, 0, sizeof *ds);
  char path[HP_DATA_PATH_MAX] = "";
  hp_err_t perr = {0};
  for (int i = 0; i < n_sources; i++) {
    /* a missing source is an error even when a cache file exists */
    if (access(sources[i], R_OK) != 0)
      return hp_err_set(err, -errno, "cannot open '%s': %s", sources[i], strerror(errno));
  }
  bool use_cache = cache && cache->enabled &&
                   hp_data_cache_path(cache, sources, n_sources, tag, path, sizeof path,
                                      &perr) == 0;
  if (use_cache && map_cache(path, &ds->map, &ds->map_len) == 0) {
    touch_used(path);
    ds->from_cache = true;
    snprintf(ds->cache_path, sizeof ds->cache_path, "%s", path);
    attach(ds, ds->map);
    return 0;
  }
  void *img = NULL;
  size_t len = 0;
  int rc = decode(ctx, &img, &len, err);
  if (rc) return rc;
  if (use_cache && write_cache(path, img, len) == 0 &&
      map_cache(path, &ds->map, &ds->map_len) == 0) {
    hp_data_cache_prune(path, time(NULL));
    free(img);
    snprintf(ds->cache_path, sizeof ds->cache_path, "%s", path);
    attach(ds, ds->map);
    return 0;
  }
  ds->mem = img; /* no usable cache: this process keeps its own copy */
  attach(ds, img);
  return 0;
}

void hp_dataset_close(hp_dataset_t *ds) {
  if (!ds) return;
  if (ds->map) munmap(ds->map, ds->map_len);
  free(ds->mem);
  free(ds->scale);
  free(ds->shift);
  memset(ds, 0, sizeof *ds);
}

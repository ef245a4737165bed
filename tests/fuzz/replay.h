/* Replays a committed corpus folder (tests/fuzz/corpus/<name>/) through a
 * harness entry function in an ordinary cmocka test, so `make test` (plain
 * and ASan/UBSan builds) checks every seed and regression case without
 * libFuzzer. Include after cmocka.h and the harness files (compiled with
 * HP_FUZZ_REPLAY). The corpus is found through $HP_SRC_DIR (set by
 * scripts/run-tests), else the current folder. */
#ifndef HP_FUZZ_REPLAY_H
#define HP_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int (*hp_fuzz_fn)(const uint8_t *data, size_t size);

static int replay_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of the corpus folder through fn, in name order;
 * returns how many ran. Each name is printed first, so a crash shows which
 * input did it. */
static int replay_corpus(const char *name, hp_fuzz_fn fn) {
  const char *src = getenv("HP_SRC_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src && *src ? src : ".", name);
  DIR *dh = opendir(dir);
  if (dh == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", dir);
    return 0;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(dh)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof *names);
      assert_non_null(names);
    }
    names[n] = strdup(e->d_name);
    assert_non_null(names[n]);
    n++;
  }
  closedir(dh);
  if (n > 0) qsort(names, n, sizeof *names, replay_cmp);
  int ran = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    FILE *f = NULL;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) f = fopen(path, "rb");
    if (f != NULL) {
      size_t size = (size_t)st.st_size;
      uint8_t *buf = malloc(size ? size : 1);
      assert_non_null(buf);
      assert_int_equal(fread(buf, 1, size, f), size);
      fclose(f);
      fprintf(stderr, "replay %s/%s (%zu bytes)\n", name, names[i], size);
      fn(buf, size);
      free(buf);
      ran++;
    }
    free(names[i]);
  }
  free(names);
  return ran;
}

#endif

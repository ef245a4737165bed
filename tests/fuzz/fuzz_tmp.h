/* A per-process temporary folder for the harnesses whose parser reads files:
 * the input is written to a file there and the reader opens that path. */
#ifndef HP_FUZZ_TMP_H
#define HP_FUZZ_TMP_H

#include <unistd.h>

#include "fuzz.h"

static char fz_tmp_dir[256];

static void fz_tmp_cleanup(void) {
  char p[320];
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/in%d", fz_tmp_dir, i);
    unlink(p);
  }
  rmdir(fz_tmp_dir);
}

/* Writes bytes to file number `slot` (0..3) of the folder; returns its path
 * in a static buffer per slot. */
static const char *fz_tmp_write(int slot, const uint8_t *data, size_t size) {
  static char paths[4][320];
  if (fz_tmp_dir[0] == '\0') {
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_tmp_dir, sizeof fz_tmp_dir, "%s/hpfuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    HP_FUZZ_CHECK(mkdtemp(fz_tmp_dir) != NULL, "mkdtemp %s", fz_tmp_dir);
    atexit(fz_tmp_cleanup);
  }
  snprintf(paths[slot], sizeof paths[slot], "%s/in%d", fz_tmp_dir, slot);
  FILE *f = fopen(paths[slot], "wb");
  HP_FUZZ_CHECK(f != NULL, "cannot write %s", paths[slot]);
  HP_FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "short write");
  HP_FUZZ_CHECK(fclose(f) == 0, "close %s", paths[slot]);
  return paths[slot];
}

#endif

/* Fuzz harness for the IDX reader (hp_dataset_open_idx), plain or gzipped.
 * Input layout: 4 bytes big-endian L, then L bytes of the images file, then
 * the labels file (the rest). L larger than what follows takes everything
 * for the images and leaves the labels empty. Both are written to temporary
 * files and opened without the decoded cache (the cache file itself is the
 * daemon's own output, not outside input). */
#include "fuzz_dataset.h"
#include "fuzz_tmp.h"

int fuzz_idx(const uint8_t *data, size_t size);
int fuzz_idx(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  size_t l = (size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3];
  data += 4, size -= 4;
  if (l > size) l = size;
  const char *images = fz_tmp_write(0, data, l);
  const char *labels = fz_tmp_write(1, data + l, size - l);
  hp_dataset_t ds;
  hp_err_t err = {0};
  int rc = hp_dataset_open_idx(images, labels, NULL, &ds, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "error %d without a message", rc);
    HP_FUZZ_CHECK(ds.x == NULL && ds.n == 0, "failed open left data");
    return 0;
  }
  fz_dataset_check(&ds);
  hp_dataset_close(&ds);
  return 0;
}

HP_FUZZ_MAIN(fuzz_idx)

/* Fuzz harness for the CSV reader (hp_dataset_open_csv). The first input
 * byte chooses the options, the rest is the file:
 *   bits 0-1  header: 0 none, 1 present, 2 auto, 3 present + label by name "label"
 *   bits 2-4  label column index 0..7
 *   bits 5-6  delimiter: ',' ';' '\t' ' '
 *   bit 7     labels are the class names "a", "b", "c" (data.classes)
 * The file is opened without the decoded cache. */
#include "fuzz_dataset.h"
#include "fuzz_tmp.h"

int fuzz_csv(const uint8_t *data, size_t size);
int fuzz_csv(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t o = data[0];
  hp_data_csv_opts_t opts;
  memset(&opts, 0, sizeof opts);
  int h = o & 3;
  opts.header = h == 0 ? 0 : h == 2 ? -1 : 1;
  opts.label_index = h == 3 ? -1 : (o >> 2) & 7;
  if (h == 3) snprintf(opts.label_name, sizeof opts.label_name, "label");
  opts.delimiter = ",;\t "[(o >> 5) & 3];
  if (o & 0x80) {
    opts.n_names = 3;
    memcpy(opts.names, "a\0b\0c", sizeof "a\0b\0c");
  }
  const char *path = fz_tmp_write(2, data + 1, size - 1);
  hp_dataset_t ds;
  hp_err_t err = {0};
  int rc = hp_dataset_open_csv(path, &opts, NULL, &ds, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "error %d without a message", rc);
    HP_FUZZ_CHECK(ds.x == NULL && ds.n == 0, "failed open left data");
    return 0;
  }
  fz_dataset_check(&ds);
  hp_dataset_close(&ds);
  return 0;
}

HP_FUZZ_MAIN(fuzz_csv)

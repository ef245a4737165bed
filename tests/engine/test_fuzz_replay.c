/* Replays the committed fuzz corpus of the engine's parsers of outside input
 * (training configs with --set overrides, IDX and CSV files;
 * tests/fuzz/corpus/) through the libFuzzer harnesses' entry functions,
 * built normally, so `make test` checks every seed and regression case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define HP_FUZZ_REPLAY 1
#include "../fuzz/fuzz_csv.c"
#include "../fuzz/fuzz_idx.c"
#include "../fuzz/fuzz_train_config.c"
#include "../fuzz/replay.h"

static void test_train_config_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("train_config", fuzz_train_config) >= 5);
}

static void test_idx_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("idx", fuzz_idx) >= 5);
}

static void test_csv_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("csv", fuzz_csv) >= 5);
}

/* The harness input layout itself: the seed "plain" must open (3 images of
 * 4 x 4), so the IDX corpus exercises more than the error paths. */
static void test_idx_seed_opens(void **state) {
  (void)state;
  const char *src = getenv("HP_SRC_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fuzz/corpus/idx/plain", src && *src ? src : ".");
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t buf[256];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  size_t l = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
  const char *img = fz_tmp_write(0, buf + 4, l);
  const char *lab = fz_tmp_write(1, buf + 4 + l, n - 4 - l);
  hp_dataset_t ds;
  hp_err_t err = {0};
  assert_int_equal(hp_dataset_open_idx(img, lab, NULL, &ds, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.d, 16);
  hp_dataset_close(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_config_corpus),
      cmocka_unit_test(test_idx_corpus),
      cmocka_unit_test(test_csv_corpus),
      cmocka_unit_test(test_idx_seed_opens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

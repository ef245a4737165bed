/* Replays the committed fuzz corpus of the search-side parsers (spaces,
 * Optuna distribution_json, sampler options, pruner configs;
 * tests/fuzz/corpus/) through the libFuzzer harnesses' entry functions,
 * built normally, so `make test` checks every seed and regression case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define HP_FUZZ_REPLAY 1
#include "../fuzz/fuzz_dist_json.c"
#include "../fuzz/fuzz_pruner.c"
#include "../fuzz/fuzz_sampler.c"
#include "../fuzz/fuzz_space.c"
#include "../fuzz/replay.h"

static void test_space_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("space", fuzz_space) >= 5);
}

static void test_dist_json_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("dist_json", fuzz_dist_json) >= 5);
}

static void test_sampler_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("sampler", fuzz_sampler) >= 5);
}

static void test_pruner_corpus(void **state) {
  (void)state;
  assert_true(replay_corpus("pruner", fuzz_pruner) >= 5);
}

/* The UTF-8 check that decides which round trips are strict must itself be
 * right, or the known-finding exemption would hide real failures. */
static void test_utf8_check(void **state) {
  (void)state;
  assert_true(hp_fuzz_utf8_valid("plain"));
  assert_true(hp_fuzz_utf8_valid("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"));
  assert_false(hp_fuzz_utf8_valid("\x9b" "dam"));         /* lone continuation byte */
  assert_false(hp_fuzz_utf8_valid("\xc0\xaf"));           /* overlong '/' */
  assert_false(hp_fuzz_utf8_valid("\xed\xa0\x80"));       /* surrogate D800 */
  assert_false(hp_fuzz_utf8_valid("\xf4\x90\x80\x80"));   /* above U+10FFFF */
  assert_false(hp_fuzz_utf8_valid("\xe2\x82"));           /* truncated */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_space_corpus),  cmocka_unit_test(test_dist_json_corpus),
      cmocka_unit_test(test_sampler_corpus), cmocka_unit_test(test_pruner_corpus),
      cmocka_unit_test(test_utf8_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

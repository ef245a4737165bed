/* Shared by every libFuzzer harness in tests/fuzz/ and by the cmocka replay
 * tests that run the committed corpus through the same entry functions in the
 * ordinary build. A harness defines `int fuzz_<name>(const uint8_t *, size_t)`
 * and HP_FUZZ_MAIN(fuzz_<name>); with HP_FUZZ_REPLAY defined (the replay
 * tests) no libFuzzer entry point is emitted, so one test file can include
 * several harnesses. A broken invariant aborts: libFuzzer records the input,
 * the replay test dies and counts as failed. */
#ifndef HP_FUZZ_H
#define HP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/utf8.h"

#ifndef HP_FUZZ_REPLAY
#define HP_FUZZ_MAIN(fn)                                                      \
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);               \
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {              \
    fn(data, size);                                                           \
    return 0;                                                                 \
  }
#else
#define HP_FUZZ_MAIN(fn)
#endif

/* An invariant of the code under test: print where and abort (a finding). */
#define HP_FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: fuzz invariant failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                \
      fputc('\n', stderr);                                                         \
      abort();                                                                     \
    }                                                                              \
  } while (0)

/* An exact-size heap copy of the input (no NUL: a reader that runs past the
 * end is caught by ASan), or a NUL-terminated one when text APIs need it. */
static inline char *hp_fuzz_dup(const uint8_t *data, size_t size, int nul) {
  char *p = malloc(size + (nul || size == 0 ? 1 : 0));
  if (p == NULL) abort();
  if (size) memcpy(p, data, size);
  else p[0] = '\0'; /* nothing for a reader to use, but defined */
  if (nul) p[size] = '\0';
  return p;
}

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF): the
 * project's one check (common/utf8.c). */
static inline int hp_fuzz_utf8_valid(const char *str) {
  size_t n = strlen(str);
  return hp_utf8_check(str, n) == n;
}

#endif

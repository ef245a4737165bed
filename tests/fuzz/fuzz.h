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

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static inline int hp_fuzz_utf8_valid(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    unsigned c = *s, len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0) return 0;
    unsigned long v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (unsigned i = 1; i < len; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      v = (v << 6) | (s[i] & 0x3f);
    }
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    s += len;
  }
  return 1;
}

#endif

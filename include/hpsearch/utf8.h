/* UTF-8 as hpsearch accepts and writes it: well-formed only (no overlong
 * forms, no encoded surrogates, nothing above U+10FFFF), so every byte the
 * daemon writes (replies, events, messages, the database) is valid UTF-8
 * even when it quotes or cuts text that came from outside. */
#ifndef HPSEARCH_UTF8_H
#define HPSEARCH_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

/* Length (1-4) of the well-formed character at s (n bytes available) and its
 * code point in *cp; 0 if the bytes there are not one (bad lead or
 * continuation byte, truncated, overlong, surrogate, above U+10FFFF). */
int hp_utf8_char(const char *s, size_t n, uint32_t *cp);
/* Offset of the first byte that does not begin a well-formed character, or
 * len when all of s[0..len) is valid. */
size_t hp_utf8_check(const char *s, size_t len);
/* The longest prefix of the NUL-terminated s of at most max bytes that
 * ends on a character boundary: printf("%.*s", (int)hp_utf8_prefix(s, 100), s)
 * cuts a long name without splitting a character. */
size_t hp_utf8_prefix(const char *s, size_t max);
/* For a buffer that snprintf filled to its end: drops a character that the
 * cut at s[len] left incomplete, writes the NUL and returns the new length. */
size_t hp_utf8_trim(char *s, size_t len);
/* Copies s[0..len) into dst (cap > 0 bytes, NUL-terminated), writing every
 * byte that is not part of a well-formed character, and every control
 * character, as U+FFFD; stops before a character that would not fit.
 * Returns the length written. For quoting text that came from outside. */
size_t hp_utf8_clean(char *dst, size_t cap, const char *s, size_t len);
/* True for C0 controls, DEL and the C1 controls U+0080..U+009F. */
bool hp_utf8_is_control(uint32_t cp);
/* A name (study, parameter): non-empty, well-formed UTF-8, no control
 * character, no NUL in its len bytes. Fails with HP_EINVAL naming `field`. */
int hp_utf8_check_name(const char *s, size_t len, const char *field, hp_err_t *err);

#endif

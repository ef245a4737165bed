/* Well-formed UTF-8: checking, cutting on character boundaries, and cleaning
 * outside text before it is quoted (see hpsearch/utf8.h). */
#include "hpsearch/utf8.h"

#include <string.h>

int hp_utf8_char(const char *str, size_t n, uint32_t *cp) {
  const unsigned char *s = (const unsigned char *)str;
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len == 0 || (size_t)len > n) return 0;
  uint32_t v = c & (0x7f >> len);
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min_of_len[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

size_t hp_utf8_check(const char *s, size_t len) {
  size_t i = 0;
  uint32_t cp;
  while (i < len) {
    if ((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    int n = hp_utf8_char(s + i, len - i, &cp);
    if (n == 0) return i;
    i += (size_t)n;
  }
  return len;
}

size_t hp_utf8_prefix(const char *s, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n <= max) return n;
  /* s[max] is the first byte left out: if it continues a character, back up
   * to that character's first byte (at most 3 bytes: longer runs of
   * continuation bytes are not UTF-8 anyway). */
  size_t k = max;
  while (k > 0 && max - k < 3 && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
  return ((unsigned char)s[k] & 0xc0) == 0x80 ? max : k;
}

size_t hp_utf8_trim(char *s, size_t len) {
  size_t j = len;
  while (j > 0 && len - j < 3 && ((unsigned char)s[j - 1] & 0xc0) == 0x80) j--;
  uint32_t cp;
  if (j > 0 && (unsigned char)s[j - 1] >= 0xc0 && hp_utf8_char(s + j - 1, len - j + 1, &cp) == 0)
    len = j - 1;
  s[len] = '\0';
  return len;
}

bool hp_utf8_is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

size_t hp_utf8_clean(char *dst, size_t cap, const char *s, size_t len) {
  static const char REPL[] = "\xef\xbf\xbd"; /* U+FFFD */
  size_t o = 0, i = 0;
  while (i < len) {
    uint32_t cp = 0;
    int n = hp_utf8_char(s + i, len - i, &cp);
    const char *piece = s + i;
    size_t plen = (size_t)n;
    if (n == 0 || hp_utf8_is_control(cp)) piece = REPL, plen = 3;
    if (o + plen >= cap) break;
    memcpy(dst + o, piece, plen);
    o += plen;
    i += n == 0 ? 1 : (size_t)n;
  }
  dst[o] = '\0';
  return o;
}

int hp_utf8_check_name(const char *s, size_t len, const char *field, hp_err_t *err) {
  if (len == 0) return hp_err_set(err, HP_EINVAL, "%s: must not be empty", field);
  size_t i = 0;
  while (i < len) {
    uint32_t cp = 0;
    int n = hp_utf8_char(s + i, len - i, &cp);
    if (n == 0)
      return hp_err_set(err, HP_EINVAL, "%s: not valid UTF-8 (byte %zu)", field, i);
    if (cp == 0)
      return hp_err_set(err, HP_EINVAL, "%s: contains a NUL character (\\u0000)", field);
    if (hp_utf8_is_control(cp))
      return hp_err_set(err, HP_EINVAL, "%s: contains the control character U+%04X", field,
                        (unsigned)cp);
    i += (size_t)n;
  }
  return 0;
}

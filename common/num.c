/* The one number reader and writer (see hpsearch/num.h for the spellings). */
#include "hpsearch/num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hpsearch/utf8.h"

size_t hp_num_format(double v, char *buf) {
  if (isnan(v)) return (size_t)snprintf(buf, HP_NUM_MAX, "nan");
  if (isinf(v)) return (size_t)snprintf(buf, HP_NUM_MAX, v > 0 ? "inf" : "-inf");
  int n = 0;
  for (int p = 15; p <= 17; p++) {
    n = snprintf(buf, HP_NUM_MAX, "%.*g", p, v);
    if (strtod(buf, NULL) == v) break;
  }
  return (size_t)n;
}

size_t hp_num_format_json(double v, char *buf) {
  if (isfinite(v)) return hp_num_format(v, buf);
  return (size_t)snprintf(buf, HP_NUM_MAX, "\"%s\"", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

size_t hp_num_format_py(double v, char *buf) {
  if (isnan(v)) return (size_t)snprintf(buf, HP_NUM_MAX, "NaN");
  if (isinf(v)) return (size_t)snprintf(buf, HP_NUM_MAX, v > 0 ? "Infinity" : "-Infinity");
  if (v == 0) return (size_t)snprintf(buf, HP_NUM_MAX, signbit(v) ? "-0.0" : "0.0");
  /* The shortest digit string that reads back to the same double (what
   * Python's repr produces), then Python's layout rules. */
  char tmp[40];
  int p;
  for (p = 1; p < 17; p++) {
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
  const char *s = tmp;
  bool neg = *s == '-';
  if (neg) s++;
  char digits[24];
  int nd = 0;
  for (; *s && *s != 'e'; s++)
    if (*s >= '0' && *s <= '9') digits[nd++] = *s;
  int x = atoi(s + 1); /* value = d.ddd * 10^x */
  while (nd > 1 && digits[nd - 1] == '0') nd--;

  char out[64];
  int o = 0;
  if (neg) out[o++] = '-';
  if (x < -4 || x >= 16) {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      for (int i = 1; i < nd; i++) out[o++] = digits[i];
    }
    o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", x < 0 ? '-' : '+', abs(x));
  } else if (x >= 0) {
    for (int i = 0; i <= x; i++) out[o++] = i < nd ? digits[i] : '0';
    out[o++] = '.';
    if (nd > x + 1)
      for (int i = x + 1; i < nd; i++) out[o++] = digits[i];
    else
      out[o++] = '0';
  } else {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -x - 1; i++) out[o++] = '0';
    for (int i = 0; i < nd; i++) out[o++] = digits[i];
  }
  out[o] = '\0';
  return (size_t)snprintf(buf, HP_NUM_MAX, "%s", out);
}

static size_t digits_at(const char *s, size_t i, size_t len) {
  size_t j = i;
  while (j < len && s[j] >= '0' && s[j] <= '9') j++;
  return j - i;
}

size_t hp_num_span(const char *s, size_t len, unsigned flags) {
  /* strict:  -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
   * lenient: [+-]? ([0-9]+ (.[0-9]*)? | .[0-9]+) ([eE][+-]?[0-9]+)? */
  bool lenient = flags & HP_NUM_LENIENT;
  size_t i = 0;
  if (i < len && (s[i] == '-' || (lenient && s[i] == '+'))) i++;
  size_t intd = digits_at(s, i, len);
  if (!lenient && intd > 1 && s[i] == '0') intd = 1; /* "01" is 0, then text */
  i += intd;
  size_t fracd = 0;
  if (i < len && s[i] == '.') {
    fracd = digits_at(s, i + 1, len);
    if (lenient ? intd + fracd > 0 : intd > 0 && fracd > 0) i += 1 + fracd;
    else fracd = 0;
  }
  if (intd == 0 && fracd == 0) return 0;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < len && (s[j] == '+' || s[j] == '-')) j++;
    size_t expd = digits_at(s, j, len);
    if (expd > 0) i = j + expd; /* "1e" is the number 1, then text */
  }
  return i;
}

/* inf/nan words: strict takes exactly "inf", "-inf", "nan"; lenient an
 * optional sign and inf, infinity or nan in any case. */
static bool parse_word(const char *s, size_t len, unsigned flags, double *out) {
  if (!(flags & HP_NUM_LENIENT)) {
    if (len == 3 && memcmp(s, "inf", 3) == 0) *out = INFINITY;
    else if (len == 4 && memcmp(s, "-inf", 4) == 0) *out = -INFINITY;
    else if (len == 3 && memcmp(s, "nan", 3) == 0) *out = NAN;
    else return false;
    return true;
  }
  double sign = 1;
  if (len > 0 && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    s++, len--;
  }
  if ((len == 3 && strncasecmp(s, "inf", 3) == 0) || (len == 8 && strncasecmp(s, "infinity", 8) == 0))
    *out = sign * INFINITY;
  else if (len == 3 && strncasecmp(s, "nan", 3) == 0)
    *out = NAN;
  else
    return false;
  return true;
}

int hp_num_parse(const char *s, size_t len, unsigned flags, double *out, const char *field,
                 hp_err_t *err) {
  if (parse_word(s, len, flags, out)) return 0;
  char quoted[80];
  size_t span = hp_num_span(s, len, flags);
  if (span == 0 || span != len) {
    hp_utf8_clean(quoted, sizeof quoted, s, len);
    return hp_err_set(err, HP_EINVAL, "%s: expected a number (or %s), got '%s'", field,
                      flags & HP_NUM_LENIENT ? "inf, -inf, nan" : "\"inf\", \"-inf\", \"nan\"",
                      quoted);
  }
  if (len > HP_NUM_TEXT_MAX)
    return hp_err_set(err, HP_EINVAL, "%s: a number of more than %d characters", field,
                      HP_NUM_TEXT_MAX);
  char tmp[HP_NUM_TEXT_MAX + 1];
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  double v = strtod(tmp, NULL);
  if (isinf(v))
    return hp_err_set(err, HP_EINVAL, "%s: %s is beyond the range of a double (about 1.8e308)",
                      field, tmp);
  *out = v;
  return 0;
}

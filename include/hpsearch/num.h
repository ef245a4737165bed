/* The one reader and the one writer of numbers at hpsearch's edges: RPC
 * values, worker output lines, command-line arguments, CSV and every JSON
 * text the daemon and the CLI write. One set of spellings (docs/protocol.md,
 * "Numbers"):
 *
 *   written   the shortest of %.15g, %.16g, %.17g that reads back to the same
 *             double ("0.1", "0.30000000000000004", "5e-324", "-0");
 *             non-finite values as nan, inf, -inf (in JSON: the strings
 *             "nan", "inf", "-inf", since JSON has no such numbers).
 *   read      strict: JSON's number grammar, or exactly "inf", "-inf", "nan";
 *             lenient (command-line arguments and worker lines, written by
 *             people and their scripts): also a leading '+', "1." and ".5",
 *             and inf, infinity, nan in any case with an optional sign.
 *             Never hexadecimal, never surrounding blanks.
 *   refused   a number beyond the range of a double (1e400, -1e999): it would
 *             silently become infinity. A number too small for a double
 *             (1e-400) reads as 0 of its sign, or the nearest subnormal, as
 *             IEEE 754 rounding gives it.
 */
#ifndef HPSEARCH_NUM_H
#define HPSEARCH_NUM_H

#include <stdbool.h>
#include <stddef.h>

#include "hpsearch/err.h"

/* Room for any text hp_num_format* writes, with its NUL. */
#define HP_NUM_MAX 32
/* Longest number text read anywhere (cJSON reads at most 63 characters of a
 * number, so a longer one is refused everywhere, not just in JSON). */
#define HP_NUM_TEXT_MAX 63

enum {
  HP_NUM_STRICT = 0u,  /* JSON grammar; "inf", "-inf", "nan" exactly */
  HP_NUM_LENIENT = 1u, /* +1, 1., .5, Inf, -Infinity, NaN (people's spellings) */
};

/* Writes v into buf (HP_NUM_MAX bytes) as described above; returns the length. */
size_t hp_num_format(double v, char *buf);
/* The same as a JSON value: non-finite values as "\"nan\"", "\"inf\"", "\"-inf\"". */
size_t hp_num_format_json(double v, char *buf);
/* Python's repr of a float ("0.1", "1e-05", "32.0", "NaN", "-Infinity"): the
 * text Optuna writes into distribution JSON, for byte-identical rows. */
size_t hp_num_format_py(double v, char *buf);

/* Reads all of s[0..len) as one number (flags: HP_NUM_*). On failure *out is
 * untouched and err says, naming `field`, what was wrong ("params.value:
 * 1e400 is beyond the range of a double"); the code is HP_EINVAL. */
int hp_num_parse(const char *s, size_t len, unsigned flags, double *out, const char *field,
                 hp_err_t *err);
/* Only the grammar: the length of the number text at the start of s[0..len)
 * (0 if there is none). */
size_t hp_num_span(const char *s, size_t len, unsigned flags);

#endif

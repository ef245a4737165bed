/* Aligned text tables and value formatting for the CLI's human output.
 * A table collects every cell first (one growing text arena, no malloc per
 * cell) and prints once with column widths fitted to the content. */
#ifndef HPSEARCH_CLI_TABLE_H
#define HPSEARCH_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

#define HP_TABLE_MAX_COLS 64

typedef struct hp_table {
  int ncols;                          /* number of columns, fixed at init */
  bool right[HP_TABLE_MAX_COLS];      /* right-align this column (numbers) */
  size_t width[HP_TABLE_MAX_COLS];    /* widest cell seen per column (bytes) */
  char *text;                         /* arena: every cell NUL-terminated, in order */
  size_t len, cap;                    /* bytes used / allocated in text */
  size_t ncells;                      /* cells appended so far (header included) */
  bool oom;                           /* an allocation failed; print reports it */
} hp_table_t;

/* Starts a table whose header is the ncols strings in `headers`. A header
 * that starts with '>' is printed without the '>' and its column is
 * right-aligned. */
void hp_table_init(hp_table_t *t, int ncols, const char *const *headers);
/* Appends the next cell (rows wrap after ncols cells). */
void hp_table_cell(hp_table_t *t, const char *text);
void hp_table_cellf(hp_table_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints header, a dashed rule and the rows, two spaces between columns.
 * Returns 0, or -1 if an allocation failed while filling the table. */
int hp_table_print(const hp_table_t *t, FILE *out);
void hp_table_free(hp_table_t *t);

/* Formats a JSON scalar the way a person reads it: numbers with up to 6
 * significant digits (integers in full), strings bare, true/false/null,
 * arrays/objects as compact JSON. Writes at most `cap` bytes into buf and
 * returns buf. */
char *hp_fmt_value(const cJSON *v, char *buf, size_t cap);
/* A number with %.6g, "inf"/"-inf"/"nan" spelled out. */
char *hp_fmt_number(double x, char *buf, size_t cap);
/* Seconds as "1h02m", "3m05s", "12.3s". */
char *hp_fmt_duration(double seconds, char *buf, size_t cap);

/* Writes s as a CSV field (quoted when it holds a comma, quote or newline). */
void hp_csv_field(FILE *out, const char *s);

#endif

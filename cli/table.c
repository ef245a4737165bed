/* Aligned table output and value formatting for the CLI (see cli/table.h).
 * Kept allocation-light because `hpsearch trials` prints thousands of cells
 * and must finish in a few milliseconds. */
#include "table.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/utf8.h"

static void arena_append(hp_table_t *t, const char *s, size_t n) {
  if (t->oom) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1) cap *= 2;
    char *nt = realloc(t->text, cap);
    if (nt == NULL) {
      t->oom = true;
      return;
    }
    t->text = nt;
    t->cap = cap;
  }
  memcpy(t->text + t->len, s, n);
  t->text[t->len + n] = '\0';
  t->len += n + 1;
  size_t col = t->ncells % (size_t)t->ncols;
  if (n > t->width[col]) t->width[col] = n;
  t->ncells++;
}

void hp_table_init(hp_table_t *t, int ncols, const char *const *headers) {
  memset(t, 0, sizeof *t);
  if (ncols > HP_TABLE_MAX_COLS) ncols = HP_TABLE_MAX_COLS;
  t->ncols = ncols < 1 ? 1 : ncols;
  for (int i = 0; i < t->ncols; i++) {
    const char *h = headers[i];
    if (h[0] == '>') {
      t->right[i] = true;
      h++;
    }
    arena_append(t, h, strlen(h));
  }
}

void hp_table_cell(hp_table_t *t, const char *text) {
  if (text == NULL) text = "";
  arena_append(t, text, strlen(text));
}

void hp_table_cellf(hp_table_t *t, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  arena_append(t, buf, (size_t)n);
}

int hp_table_print(const hp_table_t *t, FILE *out) {
  if (t->oom) return -1;
  size_t linecap = 2 * (size_t)t->ncols + 2;
  for (int c = 0; c < t->ncols; c++) linecap += t->width[c];
  char *line = malloc(linecap);
  if (line == NULL) return -1;
  const char *p = t->text;
  size_t full = t->ncells - t->ncells % (size_t)t->ncols;  /* ignore a partial last row */
  size_t n_line = 0;
  for (size_t i = 0; i < full; i++) {
    size_t col = i % (size_t)t->ncols;
    size_t n = strlen(p);
    size_t gap = t->width[col] - n;
    size_t before = t->right[col] ? gap : 0;
    memset(line + n_line, ' ', before);
    memcpy(line + n_line + before, p, n);
    memset(line + n_line + before + n, ' ', gap - before);
    n_line += n + gap;
    if (col + 1 < (size_t)t->ncols) {
      memcpy(line + n_line, "  ", 2);
      n_line += 2;
    } else {
      /* Rows end without trailing blanks (empty last columns, padding). */
      while (n_line > 0 && line[n_line - 1] == ' ') n_line--;
      line[n_line++] = '\n';
      fwrite(line, 1, n_line, out);
      n_line = 0;
      if (i + 1 == (size_t)t->ncols) {  /* rule under the header */
        for (int c = 0; c < t->ncols; c++) {
          memset(line + n_line, '-', t->width[c]);
          n_line += t->width[c];
          if (c + 1 < t->ncols) {
            memcpy(line + n_line, "  ", 2);
            n_line += 2;
          }
        }
        line[n_line++] = '\n';
        fwrite(line, 1, n_line, out);
        n_line = 0;
      }
    }
    p += n + 1;
  }
  free(line);
  return 0;
}

void hp_table_free(hp_table_t *t) {
  free(t->text);
  t->text = NULL;
  t->len = t->cap = t->ncells = 0;
}

char *hp_fmt_number(double x, char *buf, size_t cap) {
  if (isnan(x)) snprintf(buf, cap, "nan");
  else if (isinf(x)) snprintf(buf, cap, x > 0 ? "inf" : "-inf");
  else if (x == floor(x) && fabs(x) < 1e15 && cap >= 18) {
    /* Integers (trial numbers, int parameters) by hand: printf's float
     * path is the slowest part of printing a large table. */
    char tmp[20];
    long long v = (long long)x;
    unsigned long long u = v < 0 ? (unsigned long long)(-v) : (unsigned long long)v;
    int n = 0;
    do tmp[n++] = (char)('0' + u % 10); while ((u /= 10) != 0);
    if (v < 0) tmp[n++] = '-';
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
  }
  else snprintf(buf, cap, "%.6g", x);
  return buf;
}

char *hp_fmt_value(const cJSON *v, char *buf, size_t cap) {
  if (cap == 0) return buf;
  buf[0] = '\0';
  if (v == NULL || cJSON_IsNull(v)) snprintf(buf, cap, "%s", v == NULL ? "" : "null");
  else if (cJSON_IsBool(v)) snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
  else if (cJSON_IsNumber(v)) hp_fmt_number(v->valuedouble, buf, cap);
  else if (cJSON_IsString(v)) snprintf(buf, cap, "%s", v->valuestring);
  else {
    char *t = hp_json_print(v); /* a list or object, cut on a character boundary */
    snprintf(buf, cap, "%.*s", t ? (int)hp_utf8_prefix(t, cap - 1) : 3, t ? t : "...");
    free(t);
  }
  return buf;
}

char *hp_fmt_duration(double s, char *buf, size_t cap) {
  if (!(s >= 0) || isinf(s)) snprintf(buf, cap, "-");
  else if (s < 60) snprintf(buf, cap, "%.1fs", s);
  else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
  return buf;
}

void hp_csv_field(FILE *out, const char *s) {
  if (s == NULL) return;
  if (strpbrk(s, ",\"\n\r") == NULL) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

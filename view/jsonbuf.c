/* The JSON text writer of the view module (include/hpsearch/view.h): an
 * append-only buffer for shapes too big to build as cJSON trees cheaply
 * (trial.list of a large study): numbers as hp_num_format_json writes them,
 * strings escaped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/view.h"

static bool reserve(hp_sbuf_t *b, size_t n) {
  if (b->oom) return false;
  if (b->len + n + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void hp_sbuf_put(hp_sbuf_t *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void hp_sbuf_puts(hp_sbuf_t *b, const char *s) { hp_sbuf_put(b, s, strlen(s)); }

void hp_sbuf_str(hp_sbuf_t *b, const char *s) {
  size_t n = strlen(s);
  if (!reserve(b, 6 * n + 3)) return;
  b->len += hp_json_quote(b->p + b->len, s, n);
}

void hp_sbuf_int(hp_sbuf_t *b, long long v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", v);
  hp_sbuf_put(b, tmp, (size_t)n);
}

void hp_sbuf_num(hp_sbuf_t *b, double v) {
  char tmp[HP_NUM_MAX];
  hp_sbuf_put(b, tmp, hp_num_format_json(v, tmp));
}

void hp_sbuf_json(hp_sbuf_t *b, const cJSON *item) {
  if (cJSON_IsString(item)) {
    hp_sbuf_str(b, item->valuestring);
    return;
  }
  if (cJSON_IsNumber(item)) {
    hp_sbuf_num(b, item->valuedouble);
    return;
  }
  if (cJSON_IsTrue(item)) {
    hp_sbuf_puts(b, "true");
    return;
  }
  if (cJSON_IsFalse(item)) {
    hp_sbuf_puts(b, "false");
    return;
  }
  if (cJSON_IsNull(item) || item == NULL) {
    hp_sbuf_puts(b, "null");
    return;
  }
  char *t = hp_json_print(item);
  if (t == NULL) {
    b->oom = true;
    return;
  }
  hp_sbuf_puts(b, t);
  free(t);
}

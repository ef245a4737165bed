/* The page as one HTML text (include/hpsearch/dash.h, hp_dash_page): the
 * template dash/web/index.html with its style and script inlined and,
 * for a report, the study's data in a JSON script element. One assembly for
 * the server and for `hpsearch report -o`, so both pages are the same. */
#include <stdlib.h>
#include <string.h>

#include "hpsearch/dash.h"
#include "hpsearch/view.h"

/* Appends tmpl up to the marker, returns what follows it (NULL: no marker). */
static const char *upto(hp_sbuf_t *b, const char *tmpl, const char *marker) {
  const char *m = strstr(tmpl, marker);
  if (m == NULL) return NULL;
  hp_sbuf_put(b, tmpl, (size_t)(m - tmpl));
  return m + strlen(marker);
}

char *hp_dash_page(const char *data, size_t data_len, size_t *len) {
  hp_sbuf_t b = {0};
  const char *t = hp_dash_html;
  if ((t = upto(&b, t, "@@CSS@@")) == NULL) goto bad;
  hp_sbuf_puts(&b, hp_dash_css);
  if ((t = upto(&b, t, "@@DATA@@")) == NULL) goto bad;
  /* Inside <script type="application/json"> only "</script" or "<!--"
   * could end or confuse the element; a '<' can only stand inside a JSON
   * string, where \u003c means the same. */
  for (size_t i = 0, s = 0; data != NULL && i <= data_len; i++) {
    if (i == data_len || data[i] == '<') {
      hp_sbuf_put(&b, data + s, i - s);
      if (i < data_len) hp_sbuf_puts(&b, "\\u003c");
      s = i + 1;
    }
  }
  if ((t = upto(&b, t, "@@JS@@")) == NULL) goto bad;
  hp_sbuf_puts(&b, hp_dash_js);
  hp_sbuf_puts(&b, t);
  if (b.oom) goto bad;
  *len = b.len;
  return b.p;
bad:
  free(b.p);
  return NULL;
}

/* `hpsearch report STUDY -o FILE.html [--db FILE]`: the dashboard's page of
 * one study as a single self-contained HTML file (docs/dashboard.md,
 * "Reports"): the same page and script as the server's, with the study's
 * summary and its columns (view/, base64) inside, so it opens anywhere
 * without a server and loads nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/dash.h"
#include "hpsearch/json.h"

static void base64(hp_sbuf_t *b, const unsigned char *p, size_t n) {
  static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t out = (n + 2) / 3 * 4;
  char *tmp = malloc(out + 1);
  if (tmp == NULL) {
    b->oom = true;
    return;
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    tmp[o++] = T[v >> 18 & 63];
    tmp[o++] = T[v >> 12 & 63];
    tmp[o++] = i + 1 < n ? T[v >> 6 & 63] : '=';
    tmp[o++] = i + 2 < n ? T[v & 63] : '=';
  }
  hp_sbuf_put(b, tmp, o);
  free(tmp);
}

int hp_cmd_report_html(int argc, char **argv) {
  const char *db = "hpsearch.db", *out = NULL, *study = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool is_out = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
    if (strncmp(a, "--output=", 9) == 0) {
      out = a + 9;
    } else if (is_out || strcmp(a, "--db") == 0) {
      if (i + 1 >= argc) return hp_cli_usage(argv[0], "an option lacks its value");
      *(is_out ? &out : &db) = argv[++i];
    } else if (strcmp(a, "--socket") == 0) {
      return hp_cli_usage(argv[0], "-o reads the database (--db FILE), not the daemon");
    } else if (a[0] == '-' && a[1] != '\0') {
      return hp_cli_usage(argv[0], "unknown option (see hpsearch help report)");
    } else if (study == NULL) {
      study = a;
    } else {
      return hp_cli_usage(argv[0], "with -o: expected STUDY -o FILE.html [--db FILE]");
    }
  }
  if (study == NULL || out == NULL || out[0] == '\0')
    return hp_cli_usage(argv[0], "with -o: expected STUDY -o FILE.html [--db FILE]");
  hp_cli_src_t src;
  hp_err_t err = {0};
  int rc = hp_cli_src_open(&src, NULL, db, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  cJSON *summary = NULL;
  int64_t id = 0;
  hp_sbuf_t cols = {0}, data = {0};
  rc = hp_cli_src_study(&src, study, &summary, &err);
  if (rc == 0) rc = hp_store_study_find(src.store, study, &id, &err);
  if (rc == 0) rc = hp_view_study_columns(src.view, src.store, id, 0, &cols, &err);
  if (rc == 0) {
    char *s = hp_json_print(summary);
    hp_sbuf_puts(&data, "{\"report\":true,\"db\":");
    hp_sbuf_str(&data, db);
    hp_sbuf_puts(&data, ",\"generated\":");
    hp_sbuf_num(&data, hp_view_now());
    hp_sbuf_puts(&data, ",\"study\":");
    if (s) hp_sbuf_puts(&data, s);
    else data.oom = true;
    free(s);
    /* importance and advice as the page shows them (left out when the study
     * has none to give, e.g. several objectives) */
    cJSON *imp = NULL, *adv = NULL;
    hp_imp_opts_t opts;
    hp_imp_opts_default(&opts);
    if (hp_view_importance(src.store, id, &opts, &imp, NULL) == 0 && imp != NULL) {
      char *t = hp_json_print(imp);
      if (t) hp_sbuf_puts(&data, ",\"importance\":"), hp_sbuf_puts(&data, t);
      free(t);
    }
    if (hp_view_advise(src.store, id, &adv, NULL) == 0 && adv != NULL) {
      char *t = hp_json_print(adv);
      if (t) hp_sbuf_puts(&data, ",\"advice\":"), hp_sbuf_puts(&data, t);
      free(t);
    }
    cJSON_Delete(imp);
    cJSON_Delete(adv);
    hp_sbuf_puts(&data, ",\"columns\":\"");
    base64(&data, (const unsigned char *)cols.p, cols.len);
    hp_sbuf_puts(&data, "\"}");
    if (data.oom || cols.oom) rc = hp_err_set(&err, HP_ENOMEM, "out of memory");
  }
  cJSON_Delete(summary);
  free(cols.p);
  hp_cli_src_close(&src);
  if (rc < 0) {
    free(data.p);
    return hp_cli_fail(argv[0], rc, &err);
  }
  size_t len;
  char *page = hp_dash_page(data.p, data.len, &len);
  free(data.p);
  if (page == NULL) return hp_cli_fail(argv[0], HP_ENOMEM, NULL);
  FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
  if (f == NULL) {
    fprintf(stderr, "hpsearch report: cannot write %s: %m\n", out);
    free(page);
    return HP_EXIT_FAIL;
  }
  bool ok = fwrite(page, 1, len, f) == len;
  ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
  free(page);
  if (!ok) {
    fprintf(stderr, "hpsearch report: writing %s failed\n", out);
    return HP_EXIT_FAIL;
  }
  if (f != stdout) fprintf(stderr, "hpsearch report: wrote %s (study %s, %zu bytes)\n", out, study, len);
  return HP_EXIT_OK;
}

/* `hpsearch trials STUDY [--json|--csv] [--db FILE]`: every trial of a study
 * as an aligned table, CSV (one column per parameter) or JSON. One request
 * (or one read of the database) and buffered output: the speed goal is
 * 10 ms for a 1,000-trial study. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/rpc.h"
#include "table.h"


static void print_csv(FILE *out, const cJSON *trials) {
  /* Parameter columns: the union of names in order of first appearance. */
  enum { MAXP = 1024 };
  static const char *names[MAXP];
  int np = hp_cli_param_names(trials, names, MAXP);
  const cJSON *t;
  fputs("number,state,value,datetime_start,datetime_complete,duration", out);
  for (int i = 0; i < np; i++) {
    fputs(",params_", out);
    hp_csv_field(out, names[i]);
  }
  fputs(",reason\n", out);
  char buf[512];
  cJSON_ArrayForEach(t, trials) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "value");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(t, "datetime_start");
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(t, "datetime_complete");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "state");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(t, "reason");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "params");
    fprintf(out, "%.0f,%s,", hp_cli_num(t, "trial"), cJSON_IsString(st) ? st->valuestring : "");
    if (v != NULL && !cJSON_IsNull(v)) {
      /* Numbers exactly as stored (hp_num_format) in machine-readable output. */
      if (cJSON_IsNumber(v)) fwrite(buf, 1, hp_num_format(v->valuedouble, buf), out);
      else hp_csv_field(out, hp_fmt_value(v, buf, sizeof buf));
    }
    fprintf(out, ",%s,%s,", cJSON_IsString(ds) ? ds->valuestring : "",
            cJSON_IsString(dc) ? dc->valuestring : "");
    double d = hp_cli_num(t, "duration");
    if (!isnan(d)) fprintf(out, "%.6f", d);
    for (int i = 0; i < np; i++) {
      fputc(',', out);
      const cJSON *pv = cJSON_GetObjectItemCaseSensitive(params, names[i]);
      if (pv == NULL) continue;
      if (cJSON_IsNumber(pv)) fwrite(buf, 1, hp_num_format(pv->valuedouble, buf), out);
      else hp_csv_field(out, hp_fmt_value(pv, buf, sizeof buf));
    }
    fputc(',', out);
    if (cJSON_IsString(reason)) hp_csv_field(out, reason->valuestring);
    fputc('\n', out);
  }
}

int hp_cmd_trials(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *study = NULL, *db = NULL, *sock = NULL;
  bool json = false, csv = false, inter = false;
  const hp_cli_arg_t args[] = {{"--json", &json, NULL},      {"--csv", &csv, NULL},
                               {"--intermediate", &inter, NULL}, {"--db", NULL, &db},
                               {"--socket", NULL, &sock},     {NULL, NULL, NULL}};
  int prc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (prc) return prc;
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  if (json && csv) return hp_cli_usage(argv[0], "--json and --csv exclude each other");
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  hp_err_t err = {0};
  hp_cli_src_t src;
  cJSON *trials = NULL;
  int rc = hp_cli_src_open(&src, sock, db, &err);
  if (rc == 0 && json) {
    /* trial.list's result is the JSON to print: the daemon's reply passed
     * through (not parsed and printed again: 1,000s of trials), or the
     * same text built from the database by the same code (view/). */
    const char *text = NULL;
    char *own = NULL;
    size_t len = 0;
    if (src.use_db) {
      rc = hp_cli_src_trials_text(&src, study, inter, 0, 0, &own, &err);
      text = own;
      len = own ? strlen(own) : 0;
    } else {
      cJSON *p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "study", study);
      if (inter) cJSON_AddTrueToObject(p, "intermediate");
      rc = hp_client_call_raw(&src.client, HP_RPC_TRIAL_LIST, p, &text, &len, &err);
    }
    if (rc == 0) {
      fwrite(text, 1, len, stdout);
      fputc('\n', stdout);
    }
    free(own);
    hp_cli_src_close(&src);
    if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
    return fflush(stdout) == 0 ? HP_EXIT_OK : HP_EXIT_FAIL;
  }
  /* From the daemon, nothing but cJSON touches the reply's memory (the
   * --db path goes through the store, which frees cJSON text itself). */
  if (rc == 0 && !src.use_db) hp_cli_json_arena();
  if (rc == 0) rc = hp_cli_src_trials(&src, study, inter, 0, 0, &trials, &err);
  hp_cli_src_close(&src);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  if (csv) print_csv(stdout, trials);
  else if (cJSON_GetArraySize(trials) == 0) printf("study %s has no trials yet\n", study);
  else hp_cli_print_trial_table(stdout, trials);
  cJSON_Delete(trials);
  return fflush(stdout) == 0 ? HP_EXIT_OK : HP_EXIT_FAIL;
}

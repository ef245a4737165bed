/* `hpsearch importance STUDY [--evaluator ped-anova|fanova] [--json] [--db
 * FILE]`: how much each parameter decides the objective, by PED-ANOVA
 * (Optuna 5's default) or fANOVA (Optuna <= 4's), from the daemon
 * (study.importance) or straight from a database; both answers are built by
 * view/ (hp_view_importance). hp_cli_study_object, the body it shares with
 * `advise`, is here too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"
#include "table.h"

static void print_importance(FILE *out, const cJSON *r) {
  const cJSON *study = cJSON_GetObjectItemCaseSensitive(r, "study");
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(r, "evaluator");
  const cJSON *dir = cJSON_GetObjectItemCaseSensitive(r, "direction");
  const cJSON *imps = cJSON_GetObjectItemCaseSensitive(r, "importances");
  const cJSON *skipped = cJSON_GetObjectItemCaseSensitive(r, "skipped");
  double n = hp_cli_num(r, "n_trials");
  fprintf(out, "parameter importance of study %s (%s, %.0f complete trial%s, %s)\n",
          cJSON_IsString(study) ? study->valuestring : "?",
          cJSON_IsString(ev) ? ev->valuestring : "?", n, hp_plural((long long)n),
          cJSON_IsString(dir) ? dir->valuestring : "?");
  if (cJSON_GetArraySize(imps) == 0) {
    fprintf(out, "no parameter to rank\n");
  } else {
    static const char *const head[] = {"parameter", ">importance", ""};
    hp_table_t t;
    hp_table_init(&t, 3, head);
    const cJSON *e;
    cJSON_ArrayForEach(e, imps) {
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "param");
      double v = hp_cli_num(e, "importance");
      char bar[41];
      int k = isnan(v) ? 0 : (int)lround(v * 40);
      if (k > 40) k = 40;
      memset(bar, '#', (size_t)k);
      bar[k] = 0;
      hp_table_cell(&t, cJSON_IsString(p) ? p->valuestring : "?");
      hp_table_cellf(&t, "%.3f", v);
      hp_table_cell(&t, bar);
    }
    hp_table_print(&t, out);
    hp_table_free(&t);
  }
  if (n < 2)
    fprintf(out, "fewer than 2 complete trials: every parameter counts the same until there "
                 "are more\n");
  const cJSON *e;
  cJSON_ArrayForEach(e, skipped) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "param");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(e, "reason");
    fprintf(out, "not ranked: %s (%s)\n", cJSON_IsString(p) ? p->valuestring : "?",
            cJSON_IsString(why) ? why->valuestring : "");
  }
}

int hp_cli_study_object(int argc, char **argv, bool evaluator, hp_cli_fetch_fn fetch,
                        void (*print)(FILE *out, const cJSON *obj)) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *study = NULL, *db = NULL, *sock = NULL, *ev = NULL;
  bool json = false;
  const hp_cli_arg_t args[] = {{"--json", &json, NULL},
                               {"--db", NULL, &db},
                               {"--socket", NULL, &sock},
                               {evaluator ? "--evaluator" : NULL, NULL, &ev},
                               {NULL, NULL, NULL}};
  int prc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (prc) return prc;
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  if (ev && strcmp(ev, "ped-anova") != 0 && strcmp(ev, "fanova") != 0)
    return hp_cli_usage(argv[0], "--evaluator takes ped-anova or fanova");
  hp_err_t err = {0};
  hp_cli_src_t src;
  cJSON *r = NULL;
  int rc = hp_cli_src_open(&src, sock, db, &err);
  if (rc == 0) rc = fetch(&src, study, ev, &r, &err);
  hp_cli_src_close(&src);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  if (json) {
    char *text = hp_json_print(r);
    if (text) printf("%s\n", text);
    free(text);
  } else {
    print(stdout, r);
  }
  cJSON_Delete(r);
  return fflush(stdout) == 0 ? HP_EXIT_OK : HP_EXIT_FAIL;
}

int hp_cmd_importance(int argc, char **argv) {
  return hp_cli_study_object(argc, argv, true, hp_cli_src_importance, print_importance);
}

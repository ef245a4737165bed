/* `hpsearch advise STUDY [--json] [--db FILE]`: tuning advice drawn from the
 * study's own trials (diverged trials, under/overfitting from the learning
 * curves, best values at the edge of a range, parameters that do not matter,
 * convergence), each statement naming its trials and numbers; from the
 * daemon (study.advise) or straight from a database, both built by view/
 * (hp_view_advise; docs/advise.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"

static void print_advice(FILE *out, const cJSON *r) {
  const cJSON *study = cJSON_GetObjectItemCaseSensitive(r, "study");
  const cJSON *advice = cJSON_GetObjectItemCaseSensitive(r, "advice");
  double n = hp_cli_num(r, "n_trials"), nc = hp_cli_num(r, "n_complete");
  fprintf(out, "advice for study %s (%.0f trial%s, %.0f complete)\n",
          cJSON_IsString(study) ? study->valuestring : "?", n, hp_plural((long long)n), nc);
  if (cJSON_GetArraySize(advice) == 0) {
    fprintf(out, "no advice: no rule finds enough evidence in these trials yet "
                 "(docs/advise.md lists what each rule needs)\n");
    return;
  }
  const cJSON *a;
  cJSON_ArrayForEach(a, advice) {
    const cJSON *rule = cJSON_GetObjectItemCaseSensitive(a, "rule");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(a, "text");
    fprintf(out, "- [%s] %s\n", cJSON_IsString(rule) ? rule->valuestring : "?",
            cJSON_IsString(text) ? text->valuestring : "");
  }
}

int hp_cmd_advise(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *study = NULL, *db = NULL, *sock = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) json = true;
    else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db = argv[++i];
    else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (argv[i][0] == '-')
      return hp_cli_usage(argv[0], "unknown or incomplete option");
    else if (study == NULL) study = argv[i];
    else return hp_cli_usage(argv[0], "more than one study given");
  }
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  hp_err_t err = {0};
  hp_cli_src_t src;
  cJSON *r = NULL;
  int rc = hp_cli_src_open(&src, sock, db, &err);
  if (rc == 0) rc = hp_cli_src_advise(&src, study, &r, &err);
  hp_cli_src_close(&src);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  if (json) {
    char *text = hp_json_print(r);
    if (text) printf("%s\n", text);
    free(text);
  } else {
    print_advice(stdout, r);
  }
  cJSON_Delete(r);
  return fflush(stdout) == 0 ? HP_EXIT_OK : HP_EXIT_FAIL;
}

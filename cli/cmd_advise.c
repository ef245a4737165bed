/* `hpsearch advise STUDY [--json] [--db FILE]`: tuning advice drawn from the
 * study's own trials (diverged trials, under/overfitting from the learning
 * curves, best values at the edge of a range, parameters that do not matter,
 * convergence), each statement naming its trials and numbers; from the
 * daemon (study.advise) or straight from a database, both built by view/
 * (hp_view_advise; docs/advise.md). */
#include <stdio.h>

#include "cli.h"
#include "commands.h"

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

static int fetch_advice(hp_cli_src_t *src, const char *study, const char *unused, cJSON **out,
                        hp_err_t *err) {
  (void)unused;
  return hp_cli_src_advise(src, study, out, err);
}

int hp_cmd_advise(int argc, char **argv) {
  return hp_cli_study_object(argc, argv, false, fetch_advice, print_advice);
}

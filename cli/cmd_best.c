/* `hpsearch best STUDY [--json] [--db FILE]`: the best (feasible) finished
 * trial of a study with its value, parameters, attributes (e.g. test
 * accuracy) and learning curve; for several objectives the Pareto front and
 * its hypervolume. Exit code 4 when the study has no complete trial yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"


/* Fetches the study summary and its best trial (with intermediate values). */
static int fetch_best(hp_cli_src_t *src, const char *study, cJSON **summary, cJSON **trial,
                      hp_err_t *err) {
  *trial = NULL;
  int rc = hp_cli_src_study(src, study, summary, err);
  if (rc < 0) return rc;
  const cJSON *best = cJSON_GetObjectItemCaseSensitive(*summary, "best");
  if (!cJSON_IsObject(best))
    return hp_err_set(err, HP_ENOTFOUND, "study '%s' has no complete trial yet", study);
  return hp_cli_src_trial(src, study, (long)hp_cli_num(best, "trial"), trial, err);
}

/* Several objectives: the Pareto front (--json: {"pareto_front", "hypervolume"}). */
static int print_front(cJSON *summary, const char *study, bool json, hp_err_t *err) {
  const cJSON *front = cJSON_GetObjectItemCaseSensitive(summary, "pareto_front");
  if (cJSON_GetArraySize(front) == 0)
    return hp_err_set(err, HP_ENOTFOUND, "study '%s' has no feasible complete trial yet", study);
  if (!json) {
    hp_cli_print_pareto(stdout, summary);
    return 0;
  }
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  cJSON_AddItemToObject(o, "pareto_front", cJSON_Duplicate(front, true));
  cJSON_AddItemToObject(o, "hypervolume",
                        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(summary, "hypervolume"), true));
  char *text = hp_json_print(o);
  cJSON_Delete(o);
  if (text == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  printf("%s\n", text);
  free(text);
  return 0;
}

int hp_cli_print_best(hp_cli_src_t *src, const char *study, bool json, hp_err_t *err) {
  cJSON *summary = NULL, *trial = NULL;
  int rc = hp_cli_src_study(src, study, &summary, err);
  if (rc == 0 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(summary, "pareto_front"))) {
    rc = print_front(summary, study, json, err);
    cJSON_Delete(summary);
    return rc;
  }
  cJSON_Delete(summary);
  summary = NULL;
  if (rc == 0) rc = fetch_best(src, study, &summary, &trial, err);
  if (rc == 0) {
    if (json) {
      char *text = hp_json_print(trial);
      if (text == NULL) rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      else printf("%s\n", text);
      free(text);
    } else {
      hp_cli_print_trial_detail(stdout, summary, trial);
    }
  }
  cJSON_Delete(summary);
  cJSON_Delete(trial);
  return rc;
}

int hp_cmd_best(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *study = NULL, *db = NULL, *sock = NULL;
  bool json = false;
  const hp_cli_arg_t args[] = {{"--json", &json, NULL}, {"--db", NULL, &db},
                               {"--socket", NULL, &sock}, {NULL, NULL, NULL}};
  int rc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (rc) return rc;
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  hp_err_t err = {0};
  hp_cli_src_t src;
  rc = hp_cli_src_open(&src, sock, db, &err);
  if (rc == 0) rc = hp_cli_print_best(&src, study, json, &err);
  hp_cli_src_close(&src);
  fflush(stdout);
  return rc < 0 ? hp_cli_fail(argv[0], rc, &err) : HP_EXIT_OK;
}

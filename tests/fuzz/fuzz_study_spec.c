/* Fuzz harness for the study spec parser (daemon/study.c): the input is a
 * study spec as JSON text (what `hpsearch submit` reads from a file and
 * study.create receives). A spec that parses is then used as the daemon uses
 * it: its objective template is substituted with one value per parameter (the
 * low end / first choice), and an engine objective's result must be a tree
 * the training-config parser can judge (accept or reject, never crash). */
#include <cJSON.h>
#include <math.h>

#include "../../daemon/daemon_int.h"
#include "fuzz.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"

int fuzz_study_spec(const uint8_t *data, size_t size);
int fuzz_study_spec(const uint8_t *data, size_t size) {
  hp_err_t err = {0};
  cJSON *root = NULL;
  char *text = hp_fuzz_dup(data, size, 0);
  if (hp_json_parse(text, size, "spec", &root, &err) < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "parse error without a message");
    goto done;
  }
  hp_study_spec_t *sp = NULL;
  int rc = hp_study_spec_parse(root, &sp, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(sp == NULL, "failed parse left a spec");
    HP_FUZZ_CHECK(err.msg[0] != '\0', "spec error %d without a message", rc);
    goto done;
  }
  HP_FUZZ_CHECK(sp->space != NULL && sp->name != NULL, "parsed spec without space or name");
  int n = sp->space->n;
  double *params = calloc((size_t)n + 1, sizeof *params);
  HP_FUZZ_CHECK(params != NULL, "calloc");
  for (int i = 0; i < n; i++) {
    const hp_dist_t *dist = &sp->space->params[i].dist;
    params[i] = dist->kind == HP_DIST_CAT ? 0.0 : dist->low;
  }
  const cJSON *tmpls[3] = {sp->engine, sp->command, sp->env};
  for (int k = 0; k < 3; k++) {
    if (tmpls[k] == NULL) continue;
    cJSON *out = NULL;
    hp_err_t serr = {0};
    rc = hp_study_substitute(tmpls[k], sp->space, params, &out, &serr);
    if (rc < 0) {
      HP_FUZZ_CHECK(out == NULL && serr.msg[0] != '\0', "substitution failed (%d) badly", rc);
      continue;
    }
    HP_FUZZ_CHECK(out != NULL, "substitution gave no tree");
    if (k == 0) {
      hp_train_config_t cfg;
      hp_err_t terr = {0};
      if (hp_train_config_parse(out, &cfg, &terr) == 0) hp_train_config_free(&cfg);
    }
    cJSON_Delete(out);
  }
  free(params);
  hp_study_spec_free(sp);
done:
  cJSON_Delete(root);
  free(text);
  return 0;
}

HP_FUZZ_MAIN(fuzz_study_spec)

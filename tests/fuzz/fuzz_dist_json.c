/* Fuzz harness for Optuna's distribution_json parser
 * (hp_dist_from_optuna_json), which reads trial_params rows of databases
 * written by Optuna or by hand. What parses must print back to text that
 * parses to an equal distribution and prints identically (a fixed point). */
#include <cJSON.h>

#include "fuzz.h"
#include "fuzz_known.h"
#include "hpsearch/space.h"


int fuzz_dist_json(const uint8_t *data, size_t size);
int fuzz_dist_json(const uint8_t *data, size_t size) {
  char *text = hp_fuzz_dup(data, size, 0);
  hp_dist_t dist;
  hp_err_t err = {0};
  int rc = hp_dist_from_optuna_json(text, size, &dist, &err);
  free(text);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "error %d without a message", rc);
    return 0;
  }
  char *t1 = hp_dist_to_optuna_json(&dist);
  HP_FUZZ_CHECK(t1 != NULL, "no distribution_json for a parsed distribution");
  hp_dist_t back;
  rc = hp_dist_from_optuna_json(t1, strlen(t1), &back, &err);
  HP_FUZZ_CHECK(rc == 0, "own output rejected: %s: %s", err.msg, t1);
  HP_FUZZ_CHECK(hp_dist_equal(&dist, &back), "round trip differs: %s", t1);
  char *t2 = hp_dist_to_optuna_json(&back);
  HP_FUZZ_CHECK(t2 != NULL && strcmp(t1, t2) == 0, "not a fixed point: %s vs %s", t1,
                t2 ? t2 : "(null)");
  free(t2);
  free(t1);
  hp_dist_free(&back);
  hp_dist_free(&dist);
  return 0;
}

HP_FUZZ_MAIN(fuzz_dist_json)

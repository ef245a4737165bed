/* Fuzz harness for the pruner config parser (hp_pruner_create): the input is
 * a study spec's "pruner" object as JSON text. A pruner that is created is
 * driven through 10 trials of 8 steps in both directions; its rung values
 * are then restored into a fresh pruner of the same config, as the daemon
 * does after a restart, which must accept them. */
#include <cJSON.h>
#include <math.h>

#include "fuzz.h"
#include "hpsearch/json.h"
#include "hpsearch/pruner.h"

#define FZ_P_TRIALS 10
#define FZ_P_STEPS 8

static void fz_drive(const cJSON *cfg, bool maximize) {
  hp_pruner_t *p = NULL, *q = NULL;
  hp_err_t err = {0};
  int rc = hp_pruner_create(cfg, "fz", maximize, &p, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(p == NULL && err.msg[0] != '\0', "create error %d", rc);
    return;
  }
  for (int t = 0; t < FZ_P_TRIALS; t++) {
    bool pruned = false;
    for (int step = 0; step < FZ_P_STEPS && !pruned; step++) {
      double v = (t % 3 == 2 && step == 4) ? NAN : 1.0 / (1 + step) + 0.1 * ((t * 7) % 5);
      rc = hp_pruner_report(p, t, step, v, &err);
      HP_FUZZ_CHECK(rc == 0, "report %d/%d: %s", t, step, err.msg);
      rc = hp_pruner_should_prune(p, t, step, &err);
      HP_FUZZ_CHECK(rc == 0 || rc == 1, "should_prune %d/%d: %d %s", t, step, rc, err.msg);
      pruned = rc == 1;
    }
    rc = hp_pruner_finish(p, t, pruned ? HP_PRUNER_END_PRUNED : HP_PRUNER_END_COMPLETE, &err);
    HP_FUZZ_CHECK(rc == 0, "finish %d: %s", t, err.msg);
    HP_FUZZ_CHECK(hp_pruner_finish(p, t, HP_PRUNER_END_FAIL, &err) == HP_ESTATE,
                  "second finish of %d accepted", t);
  }
  rc = hp_pruner_create(cfg, "fz", maximize, &q, &err);
  HP_FUZZ_CHECK(rc == 0, "same config rejected the second time: %s", err.msg);
  for (int t = 0; t < FZ_P_TRIALS; t++) {
    int n = hp_pruner_rung_count(p, t);
    HP_FUZZ_CHECK(n >= 0 && n < 64, "trial %d: %d rungs", t, n);
    for (int k = 0; k < n; k++) {
      double v = hp_pruner_rung_value(p, t, k);
      if (isnan(v)) continue; /* a NaN report recorded as a rung cannot be restored */
      rc = hp_pruner_restore_rung(q, t, k, v, &err);
      if (rc < 0) break;
    }
  }
  hp_pruner_free(q);
  hp_pruner_free(p);
}

int fuzz_pruner(const uint8_t *data, size_t size);
int fuzz_pruner(const uint8_t *data, size_t size) {
  char *text = hp_fuzz_dup(data, size, 0);
  cJSON *root = NULL;
  hp_err_t err = {0};
  if (hp_json_parse(text, size, "pruner", &root, &err) == 0) {
    fz_drive(root, false);
    fz_drive(root, true);
  }
  cJSON_Delete(root);
  free(text);
  return 0;
}

HP_FUZZ_MAIN(fuzz_pruner)

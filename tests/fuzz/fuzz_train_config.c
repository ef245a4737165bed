/* Fuzz harness for the engine's training-config parser
 * (hp_train_config_parse) and the `--set key=value` override (hp_config_set).
 * Input layout: lines before the first line that starts with '{' are
 * assignments applied in order, as `hpsearch train --set` does; the rest is
 * the config's JSON text. A config that parses is freed again (leaks and
 * double frees are caught by ASan). */
#include <cJSON.h>

#include "fuzz.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"

#define FZ_MAX_SETS 16

int fuzz_train_config(const uint8_t *data, size_t size);
int fuzz_train_config(const uint8_t *data, size_t size) {
  char *sets[FZ_MAX_SETS];
  int n_sets = 0;
  size_t pos = 0;
  while (pos < size && data[pos] != '{' && n_sets < FZ_MAX_SETS) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t end = nl ? (size_t)(nl - data) : size;
    sets[n_sets++] = hp_fuzz_dup(data + pos, end - pos, 1);
    pos = end < size ? end + 1 : size;
  }
  char *text = hp_fuzz_dup(data + pos, size - pos, 0);
  cJSON *root = NULL;
  hp_err_t err = {0};
  if (hp_json_parse(text, size - pos, "config", &root, &err) < 0) goto done;
  for (int i = 0; i < n_sets; i++) {
    hp_err_t serr = {0};
    int rc = hp_config_set(root, sets[i], &serr);
    if (rc < 0) HP_FUZZ_CHECK(serr.msg[0] != '\0', "--set error %d without a message", rc);
  }
  hp_train_config_t cfg;
  int rc = hp_train_config_parse(root, &cfg, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "config error %d without a message", rc);
    goto done;
  }
  HP_FUZZ_CHECK(cfg.n_layers >= 0 && cfg.batch_size > 0 && cfg.epochs >= 0,
                "accepted config with n_layers %d batch_size %d epochs %d", cfg.n_layers,
                cfg.batch_size, cfg.epochs);
  hp_train_config_free(&cfg);
done:
  cJSON_Delete(root);
  free(text);
  for (int i = 0; i < n_sets; i++) free(sets[i]);
  return 0;
}

HP_FUZZ_MAIN(fuzz_train_config)

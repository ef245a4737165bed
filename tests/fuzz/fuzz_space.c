/* Fuzz harness for the search-space parser (hp_space_parse_text): the input is
 * a study's "space" object as JSON text. A space that parses must survive the
 * round trips the daemon relies on: back to JSON and parsed again to the same
 * distributions; each distribution to Optuna's distribution_json and back to
 * an equal one; every grid value contained in its distribution, convertible to
 * an external value and back to the same internal value. */
#include <cJSON.h>
#include <math.h>

#include "fuzz.h"
#include "fuzz_known.h"
#include "hpsearch/space.h"


/* The distribution_json round trip of one distribution. */
static void fz_dist_roundtrip(const hp_dist_t *dist, const char *name) {
  char *text = hp_dist_to_optuna_json(dist);
  HP_FUZZ_CHECK(text != NULL, "%s: no distribution_json", name);
  hp_dist_t back;
  hp_err_t err = {0};
  int rc = hp_dist_from_optuna_json(text, strlen(text), &back, &err);
  HP_FUZZ_CHECK(rc == 0, "%s: own distribution_json rejected: %s: %s", name, err.msg, text);
  HP_FUZZ_CHECK(hp_dist_equal(dist, &back), "%s: distribution_json round trip differs: %s", name,
                text);
  hp_dist_free(&back);
  free(text);
}

/* Internal -> external -> internal for one value of a distribution. */
static void fz_value_roundtrip(const hp_dist_t *dist, double v, const char *name) {
  HP_FUZZ_CHECK(hp_dist_contains(dist, v), "%s: grid value %.17g outside its distribution", name,
                v);
  cJSON *ext = hp_dist_to_external(dist, v);
  HP_FUZZ_CHECK(ext != NULL, "%s: no external value for %.17g", name, v);
  double back = NAN;
  hp_err_t err = {0};
  int rc = hp_dist_from_external(dist, ext, &back, &err);
  HP_FUZZ_CHECK(rc == 0, "%s: own external value of %.17g rejected: %s", name, v, err.msg);
  HP_FUZZ_CHECK(back == v, "%s: external round trip %.17g -> %.17g", name, v, back);
  char buf[256];
  HP_FUZZ_CHECK(hp_dist_format_external(dist, v, buf, sizeof buf) != 0 || buf[0] != '\0',
                "%s: empty formatted value", name);
  cJSON_Delete(ext);
}

int fuzz_space(const uint8_t *data, size_t size);
int fuzz_space(const uint8_t *data, size_t size) {
  char *text = hp_fuzz_dup(data, size, 0);
  hp_space_t *space = NULL;
  hp_err_t err = {0};
  int rc = hp_space_parse_text(text, size, &space, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(space == NULL, "failed parse left a space");
    HP_FUZZ_CHECK(err.msg[0] != '\0', "error %d without a message", rc);
    free(text);
    return 0;
  }
  HP_FUZZ_CHECK(space != NULL && space->n >= 0 && space->n <= HP_SPACE_MAX_PARAMS, "bad space");
  for (int i = 0; i < space->n; i++) {
    const hp_param_t *p = &space->params[i];
    HP_FUZZ_CHECK(hp_space_find(space, p->name) == i, "%s: name lookup", p->name);
    fz_dist_roundtrip(&p->dist, p->name);
    int n = p->n_grid < 64 ? p->n_grid : 64; /* enough to check, bounded cost */
    for (int k = 0; k < n; k++) fz_value_roundtrip(&p->dist, p->grid[k], p->name);
    if (p->n_grid > 64) fz_value_roundtrip(&p->dist, p->grid[p->n_grid - 1], p->name);
  }
  cJSON *again = hp_space_to_json(space);
  HP_FUZZ_CHECK(again != NULL, "hp_space_to_json failed");
  hp_space_t *space2 = NULL;
  rc = hp_space_parse(again, &space2, &err);
  HP_FUZZ_CHECK(rc == 0, "own JSON rejected: %s", err.msg);
  HP_FUZZ_CHECK(space2->n == space->n, "round trip changed the parameter count");
  for (int i = 0; i < space->n; i++) {
    HP_FUZZ_CHECK(strcmp(space->params[i].name, space2->params[i].name) == 0, "name %d", i);
    HP_FUZZ_CHECK(hp_dist_equal(&space->params[i].dist, &space2->params[i].dist),
                  "%s: JSON round trip changed the distribution", space->params[i].name);
    HP_FUZZ_CHECK(space->params[i].n_grid == space2->params[i].n_grid,
                  "%s: JSON round trip changed the grid size", space->params[i].name);
  }
  hp_space_free(space2);
  cJSON_Delete(again);
  hp_space_free(space);
  free(text);
  return 0;
}

HP_FUZZ_MAIN(fuzz_space)

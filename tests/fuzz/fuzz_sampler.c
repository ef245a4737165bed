/* Fuzz harness for the sampler options parser (hp_sampler_opts_parse) and
 * the samplers it configures: the input is JSON text {"sampler": V,
 * "space": S, "maximize": B} where V is a study spec's "sampler" value and S
 * an optional space (a fixed three-parameter one otherwise). A sampler that
 * can be created runs 14 trials (some failed, some pruned, two left running);
 * every suggested value of an active parameter must lie in its distribution
 * (an inactive one must be absent) and a grid sampler must
 * never hand out one point twice. */
#include <cJSON.h>
#include <math.h>

#include "fuzz.h"
#include "hpsearch/json.h"
#include "hpsearch/sampler.h"
#include "hpsearch/space.h"

#define FZ_S_TRIALS 14

static const char FZ_SPACE[] =
    "{\"x\":{\"type\":\"float\",\"low\":-1,\"high\":1},"
    "\"n\":{\"type\":\"int\",\"low\":1,\"high\":64,\"log\":true},"
    "\"c\":{\"type\":\"categorical\",\"choices\":[\"a\",\"b\",3]}}";

int fuzz_sampler(const uint8_t *data, size_t size);
int fuzz_sampler(const uint8_t *data, size_t size) {
  char *text = hp_fuzz_dup(data, size, 0);
  cJSON *root = NULL;
  hp_space_t *space = NULL;
  hp_sampler_t *s = NULL;
  double *params = NULL;
  hp_err_t err = {0};
  if (hp_json_parse(text, size, "input", &root, &err) < 0 || !cJSON_IsObject(root)) goto done;
  hp_sampler_opts_t opts;
  int rc = hp_sampler_opts_parse(cJSON_GetObjectItemCaseSensitive(root, "sampler"), &opts, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "sampler error %d without a message", rc);
    goto done;
  }
  opts.maximize = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "maximize"));
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "space");
  rc = sp ? hp_space_parse(sp, &space, &err) : hp_space_parse_text(FZ_SPACE, strlen(FZ_SPACE), &space, &err);
  if (rc < 0) goto done;
  rc = hp_sampler_create(space, &opts, &s, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(s == NULL && err.msg[0] != '\0', "create error %d", rc);
    goto done;
  }
  int n = space->n;
  params = calloc((size_t)FZ_S_TRIALS * (size_t)(n + 1), sizeof *params);
  HP_FUZZ_CHECK(params != NULL, "calloc");
  int64_t grid_ids[FZ_S_TRIALS];
  int n_ids = 0;
  for (int t = 0; t < FZ_S_TRIALS; t++) {
    double *p = params + (size_t)t * (size_t)(n + 1);
    rc = hp_sampler_suggest(s, t, p, &err);
    if (rc == HP_EEXHAUSTED) {
      HP_FUZZ_CHECK(opts.kind == HP_SAMPLER_GRID, "non-grid sampler exhausted");
      break;
    }
    HP_FUZZ_CHECK(rc == 0, "suggest %d failed: %s", t, err.msg);
    for (int j = 0; j < n; j++)
      HP_FUZZ_CHECK(hp_space_active(space, j, p) ? hp_dist_contains(&space->params[j].dist, p[j])
                                                  : isnan(p[j]),
                    "trial %d: %s = %.17g outside its distribution (or present while inactive)",
                    t, space->params[j].name, p[j]);
    if (opts.kind == HP_SAMPLER_GRID) {
      int64_t id = hp_sampler_grid_id(s, p);
      HP_FUZZ_CHECK(id >= 0, "trial %d: suggested point is not a grid point", t);
      for (int k = 0; k < n_ids; k++)
        HP_FUZZ_CHECK(grid_ids[k] != id, "grid point %lld handed out twice", (long long)id);
      grid_ids[n_ids++] = id;
    }
    if (t >= FZ_S_TRIALS - 2) continue; /* left running (constant liar, grid claims) */
    double value = 0;
    for (int j = 0; j < n; j++) value += sin(p[j] + j);
    hp_trial_final_t state = t % 5 == 3 ? HP_FINAL_FAIL : t % 7 == 5 ? HP_FINAL_PRUNED
                                                                     : HP_FINAL_COMPLETE;
    rc = hp_sampler_tell(s, t, p, state, value, state == HP_FINAL_PRUNED ? 2 : -1, &err);
    HP_FUZZ_CHECK(rc == 0, "tell %d failed: %s", t, err.msg);
    /* retry_failed: a failed point is free again, it may come back */
    if (opts.kind == HP_SAMPLER_GRID && state == HP_FINAL_FAIL && opts.grid_retry_failed)
      grid_ids[--n_ids] = -1;
  }
  hp_sampler_stats_t stats;
  hp_sampler_stats(s, &stats);
  HP_FUZZ_CHECK(stats.n_running >= 0 && stats.grid_free >= 0, "negative counters");
done:
  free(params);
  hp_sampler_free(s);
  hp_space_free(space);
  cJSON_Delete(root);
  free(text);
  return 0;
}

HP_FUZZ_MAIN(fuzz_sampler)

/* `hpsearch worker`: the child process the daemon starts for one trial of an
 * engine objective. It trains the (already substituted) training config with
 * the embedded engine and speaks the objective line format of
 * docs/study-spec.md on stdout:
 *   {"step": E, "value": V, "train_loss": .., "val_loss": .., ...}  per epoch
 *   {"value": V, "test_accuracy": .., "epochs": .., "seconds": ..}   at the end
 *   {"error": "diverged at epoch E step S"}                            on failure
 * where V is the study's metric. Data comes through the engine's shared
 * mmap'd decoded cache, so N workers hold one copy of the data set. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "commands.h"
#include "hpsearch/blas.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"

typedef struct worker_ctx {
  const char *metric; /* the first of --metric's list: val_loss | val_accuracy | ... */
  cJSON *lmax_epochs; /* "every_epoch" curvature: lambda_max per epoch (array) */
  cJSON *lrs_epochs;  /* and lr * sharpness per epoch */
} worker_ctx_t;

/* The engine values a study may optimise (daemon/study.c's ENGINE_METRICS). */
static const char *const METRICS[] = {"val_loss",  "val_accuracy", "train_loss", "train_accuracy",
                                      "n_params",  "seconds",      "seconds_per_epoch", NULL};

/* One metric of an epoch report or final result; NAN if it has none. */
static double metric_of(const char *metric, double train_loss, double train_acc, double val_loss,
                        double val_acc, double n_params, double seconds, double epochs) {
  if (strcmp(metric, "train_loss") == 0) return train_loss;
  if (strcmp(metric, "train_accuracy") == 0) return train_acc;
  if (strcmp(metric, "val_accuracy") == 0) return val_acc;
  if (strcmp(metric, "n_params") == 0) return n_params;
  if (strcmp(metric, "seconds") == 0) return seconds;
  if (strcmp(metric, "seconds_per_epoch") == 0) return epochs > 0 ? seconds / epochs : NAN;
  return val_loss;
}

static bool known_metric(const char *name, size_t len) {
  for (int i = 0; METRICS[i]; i++)
    if (strlen(METRICS[i]) == len && strncmp(METRICS[i], name, len) == 0) return true;
  return false;
}

/* JSON numbers cannot be NaN/inf: hp_num_format_json writes those as the
 * strings the daemon reads. */
static void put_num(const char *key, double v, bool comma) {
  char t[HP_NUM_MAX];
  hp_num_format_json(v, t);
  printf("\"%s\": %s%s", key, t, comma ? ", " : "");
}

static int on_epoch(const hp_epoch_report_t *r, void *user) {
  worker_ctx_t *ctx = user;
  double v = metric_of(ctx->metric, r->train_loss, r->train_accuracy, r->val_loss,
                       r->val_accuracy, NAN, r->seconds, 1);
  printf("{\"step\": %d, ", r->epoch);
  put_num("value", v, true);
  put_num("train_loss", r->train_loss, true);
  put_num("train_accuracy", r->train_accuracy, true);
  put_num("val_loss", r->val_loss, true);
  put_num("val_accuracy", r->val_accuracy, true);
  put_num("seconds", r->seconds, true);
  put_num("samples_per_sec", r->samples_per_sec, r->curv != NULL);
  if (r->curv != NULL) {
    put_num("lambda_max", r->curv->lambda_max, true);
    put_num("lr_sharpness", r->curv->lr_sharpness, false);
    if (ctx->lmax_epochs == NULL) ctx->lmax_epochs = cJSON_CreateArray();
    if (ctx->lrs_epochs == NULL) ctx->lrs_epochs = cJSON_CreateArray();
    /* JSON has no NaN: a value that does not apply is null */
    cJSON_AddItemToArray(ctx->lmax_epochs, isfinite(r->curv->lambda_max)
                                               ? cJSON_CreateNumber(r->curv->lambda_max)
                                               : cJSON_CreateNull());
    cJSON_AddItemToArray(ctx->lrs_epochs, isfinite(r->curv->lr_sharpness)
                                              ? cJSON_CreateNumber(r->curv->lr_sharpness)
                                              : cJSON_CreateNull());
  }
  printf("}\n");
  fflush(stdout);
  return 0;
}

/* The curvature members of the final line (they become user attributes). */
static void put_curvature(const hp_train_result_t *res, worker_ctx_t *ctx) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return;
  if (res->has_curv) hp_curv_result_json(&res->curv, o);
  if (ctx->lmax_epochs) {
    cJSON_AddItemToObject(o, "curvature_lambda_max_epochs", ctx->lmax_epochs);
    cJSON_AddItemToObject(o, "curvature_lr_sharpness_epochs", ctx->lrs_epochs);
    ctx->lmax_epochs = ctx->lrs_epochs = NULL;
  }
  char *t = o->child ? hp_json_print(o) : NULL;
  if (t != NULL && strlen(t) > 2) printf(", %.*s", (int)strlen(t) - 2, t + 1);
  free(t);
  cJSON_Delete(o);
}

/* {"error": ...} on stdout (with the curvature diagnosis of a run that
 * diverged: the daemon keeps its members as the trial's user attributes). */
static void print_error_curv(const hp_train_result_t *res, const char *fmt, const char *a,
                             const char *b) {
  char msg[800];
  snprintf(msg, sizeof msg, fmt, a, b);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", msg);
  if (res != NULL && res->has_curv) hp_curv_result_json(&res->curv, o);
  char *t = hp_json_print(o);
  if (t) printf("%s\n", t);
  fflush(stdout);
  free(t);
  cJSON_Delete(o);
  fprintf(stderr, "hpsearch worker: %s\n", msg);
}

static void print_error(const char *fmt, const char *a, const char *b) {
  print_error_curv(NULL, fmt, a, b);
}

int hp_cmd_worker(int argc, char **argv) {
  const char *json_text = NULL, *file = NULL, *metric = "val_loss";
  pid_t parent = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return hp_cli_help(argv[0]);
    if (i + 1 >= argc) return hp_cli_usage(argv[0], "an option without its value");
    if (strcmp(argv[i], "--config-json") == 0) json_text = argv[++i];
    else if (strcmp(argv[i], "--config") == 0) file = argv[++i];
    else if (strcmp(argv[i], "--metric") == 0) metric = argv[++i];
    else if (strcmp(argv[i], "--parent") == 0) parent = (pid_t)atoi(argv[++i]);
    else return hp_cli_usage(argv[0], "unknown option");
  }
  /* Started by the daemon: its death ends the trial (it could not be stored). */
  if (parent > 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    if (getppid() != parent) return HP_EXIT_FAIL; /* it died before we got here */
  }
  if ((json_text == NULL) == (file == NULL))
    return hp_cli_usage(argv[0], "give exactly one of --config-json and --config");
  /* --metric A or A,B,... (several objectives: a "values" array) */
  char first[32] = "";
  int n_metrics = 0;
  for (const char *p = metric;; n_metrics++) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (!known_metric(p, len) || n_metrics >= 8) {
      print_error("unknown metric '%s'%s", metric, " (val_loss, val_accuracy, train_loss, "
                                                   "train_accuracy, n_params, seconds, "
                                                   "seconds_per_epoch; at most 8)");
      return HP_EXIT_USAGE;
    }
    if (n_metrics == 0) snprintf(first, sizeof first, "%.*s", (int)len, p);
    if (e == NULL) {
      n_metrics++;
      break;
    }
    p = e + 1;
  }
  /* Workers share the cores: one BLAS thread unless the user said otherwise
   * (hp_blas_ensure_fast_kernel in main already chose the kernel). */
  hp_blas_set_ftz();
  hp_err_t err = {0};
  cJSON *root = NULL;
  int rc = json_text ? hp_json_parse(json_text, strlen(json_text), "config", &root, &err)
                     : hp_json_parse_file(file, &root, &err);
  if (rc < 0) {
    print_error("%s%s", err.msg, "");
    return HP_EXIT_FAIL;
  }
  hp_train_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  rc = hp_train_config_parse(root, &cfg, &err);
  cJSON_Delete(root);
  if (rc < 0) {
    print_error("training config: %s%s", err.msg, "");
    return HP_EXIT_FAIL;
  }
  worker_ctx_t ctx = {.metric = first};
  hp_train_result_t res;
  memset(&res, 0, sizeof res);
  rc = hp_train_run(&cfg, on_epoch, &ctx, &res, &err);
  hp_train_config_free(&cfg);
  if (rc < 0) {
    cJSON_Delete(ctx.lmax_epochs);
    cJSON_Delete(ctx.lrs_epochs);
    print_error("%s%s", err.msg, "");
    return HP_EXIT_FAIL;
  }
  if (res.status == HP_TRAIN_DIVERGED) {
    cJSON_Delete(ctx.lmax_epochs);
    cJSON_Delete(ctx.lrs_epochs);
    print_error_curv(&res, "%s%s", res.message[0] ? res.message : "diverged", "");
    return HP_EXIT_DIVERGED;
  }
  double vals[8];
  const char *p = metric;
  for (int k = 0; k < n_metrics; k++) {
    const char *e = strchr(p, ',');
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
    vals[k] = metric_of(name, res.train_loss, res.train_accuracy, res.val_loss, res.val_accuracy,
                        (double)res.n_params, res.seconds, res.epochs);
    if (isnan(vals[k]) && strncmp(name, "val_", 4) == 0) {
      cJSON_Delete(ctx.lmax_epochs);
      cJSON_Delete(ctx.lrs_epochs);
      print_error("metric %s is not available: the config has no validation split%s", name, "");
      return HP_EXIT_FAIL;
    }
    if (e) p = e + 1;
  }
  printf("{");
  put_num("value", vals[0], true);
  if (n_metrics > 1) {
    printf("\"values\": [");
    for (int k = 0; k < n_metrics; k++) {
      char t[HP_NUM_MAX];
      hp_num_format_json(vals[k], t);
      printf("%s%s", t, k + 1 < n_metrics ? ", " : "], ");
    }
  }
  put_num("n_params", (double)res.n_params, true);
  put_num("seconds_per_epoch", res.epochs > 0 ? res.seconds / res.epochs : NAN, true);
  if (res.has_test) {
    put_num("test_loss", res.test_loss, true);
    put_num("test_accuracy", res.test_accuracy, true);
  }
  printf("\"epochs\": %d, ", res.epochs);
  put_num("seconds", res.seconds, true);
  put_num("samples_per_sec", res.samples_per_sec, false);
  put_curvature(&res, &ctx);
  printf("}\n");
  fflush(stdout);
  return HP_EXIT_OK;
}

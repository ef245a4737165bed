/* `hpsearch train CONFIG.json [--set key=value ...]`: trains one network with
 * the embedded engine. Progress goes to stderr, one line per epoch; the
 * result is one JSON object on stdout. Exit 0 ok, 5 diverged, 1 error, 2 bad
 * command line. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hpsearch/json.h"
#include "hpsearch/blas.h"
#include "hpsearch/engine.h"

static int on_epoch(const hp_epoch_report_t *r, void *user) {
  (void)user;
  if (isnan(r->val_loss))
    fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.4f  %.1fs  %.0f samples/s  lr %.3g\n",
            r->epoch, r->epochs, r->train_loss, r->train_accuracy, r->seconds,
            r->samples_per_sec, r->lr);
  else
    fprintf(stderr,
            "epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  %.1fs  %.0f "
            "samples/s  lr %.3g\n",
            r->epoch, r->epochs, r->train_loss, r->train_accuracy, r->val_loss,
            r->val_accuracy, r->seconds, r->samples_per_sec, r->lr);
  if (r->curv != NULL) {
    char line[400];
    hp_curv_result_line(r->curv, line, sizeof line);
    fprintf(stderr, "  curvature: %s\n", line);
  }
  return 0;
}

/* NaN (no such set) becomes null. */
static void add_num(cJSON *o, const char *k, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
  else cJSON_AddNullToObject(o, k);
}

int hp_cmd_train(int argc, char **argv) {
  const char *path = NULL;
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int n_sets = 0, rc = HP_EXIT_FAIL;
  bool quiet = false;
  hp_err_t err = {0};
  hp_train_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  if (sets == NULL) {
    fprintf(stderr, "hpsearch train: out of memory\n");
    return HP_EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
      sets[n_sets++] = argv[++i];
    } else if (strncmp(argv[i], "--set=", 6) == 0) {
      sets[n_sets++] = argv[i] + 6;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      free(sets);
      return hp_cli_help(argv[0]);
    } else if (argv[i][0] == '-' || path != NULL) {
      char what[300];
      if (strcmp(argv[i], "--set") == 0) snprintf(what, sizeof what, "--set needs key=value");
      else snprintf(what, sizeof what, "unexpected argument '%.200s'", argv[i]);
      free(sets);
      return hp_cli_usage(argv[0], what);
    } else {
      path = argv[i];
    }
  }
  if (path == NULL) {
    free(sets);
    return hp_cli_usage(argv[0], "which config file?");
  }
  if (hp_train_config_load(path, sets, n_sets, &cfg, &err) != 0) {
    fprintf(stderr, "hpsearch train: %s\n", err.msg);
    goto done;
  }
  const char *why = NULL;
  bool dnnl_f32 = hp_gemm_backend(&why) == HP_GEMM_ONEDNN;
  fprintf(stderr, "hpsearch train: %s, %d layer%s, batch %d, %d epoch%s; OpenBLAS core %s (%s), "
          "%d thread%s; %s products by %s%s%s\n",
          path, cfg.n_layers, hp_plural(cfg.n_layers), cfg.batch_size, cfg.epochs,
          hp_plural(cfg.epochs), hp_blas_corename(), hp_blas_kernel_origin(), cfg.threads,
          hp_plural(cfg.threads), cfg.bf16 ? "bf16" : "fp32",
          cfg.bf16 || dnnl_f32 ? "oneDNN " : "OpenBLAS", cfg.bf16 || dnnl_f32 ? hp_dnnl_version() : "",
          cfg.bf16 ? " (fp32 accumulation)" : "");
  hp_train_result_t res;
  if (hp_train_run(&cfg, quiet ? NULL : on_epoch, NULL, &res, &err) != 0) {
    fprintf(stderr, "hpsearch train: %s\n", err.msg);
    goto done;
  }
  if (res.status == HP_TRAIN_DIVERGED) fprintf(stderr, "hpsearch train: %s\n", res.message);

  cJSON *out = cJSON_CreateObject();
  if (out == NULL) goto done;
  cJSON_AddStringToObject(out, "status", hp_train_status_name(res.status));
  cJSON_AddStringToObject(out, "message", res.message);
  cJSON_AddNumberToObject(out, "epochs", res.epochs);
  add_num(out, "train_loss", res.epochs ? res.train_loss : NAN);
  add_num(out, "train_accuracy", res.epochs ? res.train_accuracy : NAN);
  add_num(out, "val_loss", res.val_loss);
  add_num(out, "val_accuracy", res.val_accuracy);
  if (res.has_test) {
    add_num(out, "test_loss", res.test_loss);
    add_num(out, "test_accuracy", res.test_accuracy);
  }
  cJSON_AddNumberToObject(out, "best_epoch", res.best_epoch);
  cJSON_AddNumberToObject(out, "seconds", res.seconds);
  cJSON_AddNumberToObject(out, "samples_per_sec", res.samples_per_sec);
  cJSON_AddNumberToObject(out, "cpu_samples_per_sec", res.cpu_samples_per_sec);
  cJSON_AddNumberToObject(out, "steps", (double)res.steps);
  cJSON_AddNumberToObject(out, "params", (double)res.n_params);
  cJSON_AddStringToObject(out, "blas_core", hp_blas_corename());
  cJSON_AddStringToObject(out, "precision", cfg.bf16 ? "bf16" : "fp32");
  cJSON_AddStringToObject(out, "products", cfg.bf16 || dnnl_f32 ? "onednn" : "openblas");
  if (res.has_curv) {
    if (!quiet) {
      char line[400];
      hp_curv_result_line(&res.curv, line, sizeof line);
      fprintf(stderr, "curvature: %s\n", line);
    }
    hp_curv_result_json(&res.curv, out);
  }
  char *txt = hp_json_print(out);
  if (txt != NULL) printf("%s\n", txt);
  free(txt);
  cJSON_Delete(out);
  rc = res.status == HP_TRAIN_DIVERGED ? HP_EXIT_DIVERGED : HP_EXIT_OK;
done:
  hp_train_config_free(&cfg);
  free(sets);
  return rc;
}

/* Tests of the training loop on small synthetic data: it learns, the same
 * seed gives bit-identical weights, divergence is a result (not a crash)
 * that says where, the epoch callback can stop training, early stopping
 * honours its patience, and the `hpsearch train` command prints its JSON
 * result and exit codes (on a CSV written to a temporary folder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hpsearch/blas.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"

#define N_TRAIN 240
#define N_VAL 60
#define N_TEST 90
#define DIM 8
#define CLASSES 3

/* Three Gaussian blobs in DIM dimensions: an easy problem a small MLP
 * solves in a few epochs. */
typedef struct synth {
  float x[N_TRAIN + N_VAL][DIM], tx[N_TEST][DIM];
  int32_t y[N_TRAIN + N_VAL], ty[N_TEST];
  uint32_t train_idx[N_TRAIN], val_idx[N_VAL];
  hp_data_t data;
} synth_t;

static void make_blobs(hp_rng_t *r, float (*x)[DIM], int32_t *y, int n) {
  for (int i = 0; i < n; i++) {
    int k = (int)hp_rng_below(r, CLASSES);
    y[i] = k;
    for (int j = 0; j < DIM; j++)
      x[i][j] = (float)(0.5 * hp_rng_normal(r) + (j % CLASSES == k ? 2.0 : 0.0));
  }
}

static synth_t *synth_new(void) {
  synth_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  hp_rng_t r;
  hp_rng_seed(&r, 1234);
  make_blobs(&r, s->x, s->y, N_TRAIN + N_VAL);
  make_blobs(&r, s->tx, s->ty, N_TEST);
  for (uint32_t i = 0; i < N_TRAIN; i++) s->train_idx[i] = i;
  for (uint32_t i = 0; i < N_VAL; i++) s->val_idx[i] = N_TRAIN + i;
  hp_dataset_t *d = &s->data.train;
  d->n = N_TRAIN + N_VAL, d->c = 1, d->h = 1, d->w = DIM, d->d = DIM, d->n_classes = CLASSES;
  d->x = &s->x[0][0], d->y = s->y;
  hp_dataset_t *t = &s->data.test;
  t->n = N_TEST, t->c = 1, t->h = 1, t->w = DIM, t->d = DIM, t->n_classes = CLASSES;
  t->x = &s->tx[0][0], t->y = s->ty;
  s->data.split.train = s->train_idx, s->data.split.n_train = N_TRAIN;
  s->data.split.val = s->val_idx, s->data.split.n_val = N_VAL;
  return s;
}

/* The base config with "key=value" overrides (NULL-terminated list). */
static void config(hp_train_config_t *cfg, ...) {
  const char *txt =
      "{\"layers\": [{\"type\": \"mlp\", \"hidden\": [16]}, {\"type\": \"dense\", "
      "\"units\": 3}], \"batch_size\": 32, \"epochs\": 5, \"seed\": 3, "
      "\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  va_list ap;
  va_start(ap, cfg);
  for (const char *set; (set = va_arg(ap, const char *)) != NULL;)
    assert_int_equal(hp_config_set(root, set, &err), 0);
  va_end(ap);
  int rc = hp_train_config_parse(root, cfg, &err);
  if (rc != 0) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  cJSON_Delete(root);
}

typedef struct {
  int calls, stop_at;
  double first_loss, last_loss;
} cb_state;

static int on_epoch(const hp_epoch_report_t *r, void *user) {
  cb_state *s = user;
  s->calls++;
  assert_int_equal(r->epoch, s->calls);
  if (s->calls == 1) s->first_loss = r->train_loss;
  s->last_loss = r->train_loss;
  assert_true(r->samples_per_sec > 0 && r->seconds >= 0);
  assert_true(r->val_accuracy >= 0 && r->val_accuracy <= 1);
  return s->stop_at && s->calls >= s->stop_at;
}

static void test_learns(void **state) {
  (void)state;
  synth_t *s = synth_new();
  hp_train_config_t cfg;
  config(&cfg, NULL);
  hp_train_result_t res;
  hp_err_t err = {0};
  cb_state cb = {0};
  assert_int_equal(hp_train_run_data(&cfg, &s->data, on_epoch, &cb, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_OK);
  assert_int_equal(res.epochs, 5);
  assert_int_equal(cb.calls, 5);
  assert_true(cb.last_loss < cb.first_loss);
  assert_true(res.has_val && res.has_test);
  assert_true(res.val_accuracy > 0.9);
  assert_true(res.test_accuracy > 0.9);
  assert_true(res.steps == 5 * ((N_TRAIN + 31) / 32));
  assert_int_equal(res.n_params, DIM * 16 + 16 + 16 * 3 + 3);
  hp_train_config_free(&cfg);

  /* Batch norm + dropout + SGD with momentum + weight decay + MSE learn too. */
  config(&cfg, "batch_norm=true", "dropout=0.1", "loss=mse", "epochs=8", NULL);
  cfg.optim.kind = HP_OPTIM_MOMENTUM;
  cfg.optim.lr = 0.05;
  cfg.optim.momentum = 0.9;
  cfg.optim.weight_decay = 1e-4;
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_OK);
  assert_true(res.test_accuracy > 0.85);
  hp_train_config_free(&cfg);
  free(s);
}

static void test_deterministic(void **state) {
  (void)state;
  synth_t *s = synth_new();
  hp_train_config_t cfg;
  config(&cfg, "dropout=0.2", "epochs=2", NULL);
  hp_train_result_t r1, r2;
  hp_err_t err = {0};
  hp_model_t a, b;
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &r1, &a, &err), 0);
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &r2, &b, &err), 0);
  assert_int_equal(a.n_params, b.n_params);
  assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
  assert_true(r1.val_loss == r2.val_loss);
  hp_model_free(&b);
  cfg.seed = 4;
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &r2, &b, &err), 0);
  assert_true(memcmp(a.params, b.params, a.n_params * sizeof(float)) != 0);
  hp_model_free(&a), hp_model_free(&b);
  hp_train_config_free(&cfg);
  free(s);
}

/* Same seed, same thread count -> the same bits, also with two BLAS threads
 * on products big enough for OpenBLAS to split them, dense and conv: 128 x
 * 784 x 256, and a conv with no pool after it, so it takes the im2col +
 * sgemm path (16 x 784*16 x 9 per chunk of 16 images; a conv on one channel
 * fused with a 2x2 pool takes the phase path, which calls no sgemm). */
static void test_deterministic_two_threads(void **state) {
  (void)state;
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    fprintf(stderr, "# one CPU: OpenBLAS may not run two threads; skipped\n");
    skip();
  }
  if (hp_blas_threads() == 0) {
    fprintf(stderr, "# OpenBLAS not loaded (naive products, one thread); skipped\n");
    skip();
  }
  enum { N = 512, NV = 64, SIDE = 28, D = SIDE * SIDE };
  float *x = malloc((size_t)(N + NV) * D * sizeof *x);
  int32_t *y = malloc((N + NV) * sizeof *y);
  uint32_t *tr = malloc(N * sizeof *tr), *va = malloc(NV * sizeof *va);
  assert_true(x && y && tr && va);
  hp_rng_t r;
  hp_rng_seed(&r, 99);
  for (int i = 0; i < N + NV; i++) {
    y[i] = (int32_t)hp_rng_below(&r, 10);
    for (int j = 0; j < D; j++) /* class k lights up pixel rows near 2k */
      x[(size_t)i * D + j] = (float)(0.3 * hp_rng_normal(&r) + (j / SIDE / 3 == y[i] ? 1.0 : 0.0));
  }
  for (uint32_t i = 0; i < N; i++) tr[i] = i;
  for (uint32_t i = 0; i < NV; i++) va[i] = N + i;
  hp_data_t data = {0};
  data.train = (hp_dataset_t){.n = N + NV, .c = 1, .h = SIDE, .w = SIDE, .d = D, .n_classes = 10,
                              .x = x, .y = y};
  data.split.train = tr, data.split.n_train = N;
  data.split.val = va, data.split.n_val = NV;
  static const char *const nets[] = {
      "{\"layers\": [{\"type\": \"dense\", \"units\": 256, \"activation\": \"relu\"}, "
      "{\"type\": \"dense\", \"units\": 10}], \"batch_size\": 128, \"epochs\": 2, "
      "\"seed\": 5, \"threads\": 2, \"dropout\": 0.1}",
      "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": 1, "
      "\"activation\": \"relu\"}, {\"type\": \"flatten\"}, "
      "{\"type\": \"dense\", \"units\": 10}], \"batch_size\": 64, \"epochs\": 1, "
      "\"seed\": 5, \"threads\": 2}",
  };
  for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
    cJSON *root = NULL;
    hp_err_t err = {0};
    assert_int_equal(hp_json_parse(nets[k], strlen(nets[k]), "t", &root, &err), 0);
    hp_train_config_t cfg;
    assert_int_equal(hp_train_config_parse(root, &cfg, &err), 0);
    cJSON_Delete(root);
    hp_train_result_t r1, r2;
    hp_model_t a, b;
    assert_int_equal(hp_train_run_data(&cfg, &data, NULL, NULL, &r1, &a, &err), 0);
    assert_int_equal(hp_blas_threads(), 2); /* the run really had two threads */
    assert_int_equal(hp_train_run_data(&cfg, &data, NULL, NULL, &r2, &b, &err), 0);
    assert_int_equal(r1.status, HP_TRAIN_OK);
    assert_true(r1.val_accuracy > 0.5); /* it learned: the products were used */
    assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
    assert_true(r1.val_loss == r2.val_loss);
    hp_model_free(&a), hp_model_free(&b);
    hp_train_config_free(&cfg);
  }
  hp_blas_set_threads(1);
  free(x), free(y), free(tr), free(va);
}

/* The trainer gives a cosine schedule without "steps" the run's length:
 * the weights equal those of the same run with steps = epochs x steps per
 * epoch (2 x 8 here), and differ from a constant rate and from a length
 * one step longer. */
static void test_schedule_spans_run(void **state) {
  (void)state;
  synth_t *s = synth_new();
  static const char *const sched[] = {
      "optimizer.schedule=\"cosine\"",
      "optimizer.schedule={\"type\":\"cosine\",\"steps\":16}",
      "optimizer.schedule={\"type\":\"cosine\",\"steps\":17}",
      "optimizer.schedule=\"constant\"",
  };
  hp_model_t m[4];
  hp_err_t err = {0};
  for (int k = 0; k < 4; k++) {
    hp_train_config_t cfg;
    config(&cfg, "epochs=2", sched[k], NULL);
    hp_train_result_t r;
    assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &r, &m[k], &err), 0);
    assert_int_equal(r.steps, 2 * ((N_TRAIN + 31) / 32));
    hp_train_config_free(&cfg);
  }
  size_t bytes = m[0].n_params * sizeof(float);
  assert_memory_equal(m[0].params, m[1].params, bytes);
  assert_memory_not_equal(m[0].params, m[2].params, bytes);
  assert_memory_not_equal(m[0].params, m[3].params, bytes);
  for (int k = 0; k < 4; k++) hp_model_free(&m[k]);
  free(s);
}

static void test_diverges(void **state) {
  (void)state;
  synth_t *s = synth_new();
  hp_train_config_t cfg;
  hp_train_result_t res;
  hp_err_t err = {0};
  /* A NaN in the data reaches the loss at the first step. */
  s->x[s->train_idx[0]][0] = NAN;
  config(&cfg, "batch_size=300", NULL);
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_DIVERGED);
  assert_string_equal(res.message, "diverged at epoch 1 step 1");
  assert_string_equal(hp_train_status_name(res.status), "diverged");
  hp_train_config_free(&cfg);
  s->x[s->train_idx[0]][0] = 0;
  /* An absurd learning rate blows the weights up: reported, not a crash. */
  config(&cfg, "epochs=20", NULL);
  cfg.optim.kind = HP_OPTIM_SGD;
  cfg.optim.lr = 1e30;
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_DIVERGED);
  assert_non_null(strstr(res.message, "diverged at epoch "));
  hp_train_config_free(&cfg);
  free(s);
}

static void test_stop_and_early_stopping(void **state) {
  (void)state;
  synth_t *s = synth_new();
  hp_train_config_t cfg;
  hp_train_result_t res;
  hp_err_t err = {0};
  config(&cfg, NULL);
  cb_state cb = {.stop_at = 2};
  assert_int_equal(hp_train_run_data(&cfg, &s->data, on_epoch, &cb, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_STOPPED);
  assert_int_equal(res.epochs, 2);
  assert_int_equal(cb.calls, 2);
  hp_train_config_free(&cfg);
  /* min_delta so large that no epoch after the first counts as better. */
  config(&cfg, "early_stopping={\"patience\": 2, \"min_delta\": 100}", NULL);
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &res, NULL, &err), 0);
  assert_int_equal(res.status, HP_TRAIN_OK);
  assert_int_equal(res.epochs, 3);
  assert_int_equal(res.best_epoch, 1);
  assert_non_null(strstr(res.message, "early stop at epoch 3"));
  hp_train_config_free(&cfg);
  /* Shapes that do not fit the data fail cleanly, naming the layer. */
  config(&cfg, NULL);
  cfg.layers[cfg.n_layers - 1].units = 5;
  assert_int_equal(hp_train_run_data(&cfg, &s->data, NULL, NULL, &res, NULL, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[1]: the network ends with 5 outputs"));
  hp_train_config_free(&cfg);
  free(s);
}

/* ---- the command ------------------------------------------------------- */

/* Runs `hpsearch train ARGS...`, capturing stdout; returns the exit code. */
static int run_cli(const char *const *args, char *out, size_t cap) {
  const char *bin = getenv("HPSEARCH_BIN");
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fd[1], 1);
    close(fd[0]), close(fd[1]);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "train";
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    execv(bin, argv);
    _exit(127);
  }
  close(fd[1]);
  size_t len = 0;
  ssize_t r;
  while (len + 1 < cap && (r = read(fd[0], out + len, cap - 1 - len)) > 0) len += (size_t)r;
  out[len] = '\0';
  close(fd[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void **state) {
  (void)state;
  const char *bin = getenv("HPSEARCH_BIN");
  if (bin == NULL || access(bin, X_OK) != 0) {
    fprintf(stderr, "# HPSEARCH_BIN not set: skipping the command test\n");
    return;
  }
  char dir[] = "/tmp/hp-test-train-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char csv[256], cfgp[256], cache[256];
  snprintf(csv, sizeof csv, "%s/blobs.csv", dir);
  snprintf(cfgp, sizeof cfgp, "%s/net.json", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  synth_t *s = synth_new();
  FILE *f = fopen(csv, "w");
  assert_non_null(f);
  fprintf(f, "label");
  for (int j = 0; j < DIM; j++) fprintf(f, ",f%d", j);
  fprintf(f, "\n");
  for (int i = 0; i < N_TRAIN + N_VAL; i++) {
    fprintf(f, "%d", s->y[i]);
    for (int j = 0; j < DIM; j++) fprintf(f, ",%.6f", s->x[i][j]);
    fprintf(f, "\n");
  }
  fclose(f);
  f = fopen(cfgp, "w");
  assert_non_null(f);
  fprintf(f,
          "{\"layers\": [{\"type\": \"mlp\", \"hidden\": [16]}, {\"type\": \"dense\", "
          "\"units\": 3}], \"batch_size\": 32, \"epochs\": 4, \"seed\": 1,\n"
          " \"optimizer\": {\"type\": \"adam\", \"lr\": 0.01},\n"
          " \"data\": {\"format\": \"csv\", \"train\": \"%s\", \"label_column\": \"label\", "
          "\"scaling\": \"standardize\", \"cache\": false, "
          "\"validation\": {\"mode\": \"last\", \"size\": 60}}}\n",
          csv);
  fclose(f);
  char out[4096];
  const char *ok[] = {cfgp, "--set", "epochs=3", "-q", NULL};
  int rc = run_cli(ok, out, sizeof out);
  assert_int_equal(rc, 0);
  cJSON *j = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(out, strlen(out), "train output", &j, &err), 0);
  assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "ok");
  assert_int_equal(cJSON_GetObjectItem(j, "epochs")->valueint, 3);
  assert_true(cJSON_GetObjectItem(j, "val_accuracy")->valuedouble > 0.8);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "train_loss")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "samples_per_sec")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "seconds")));
  assert_null(cJSON_GetObjectItem(j, "test_accuracy")); /* no test set configured */
  cJSON_Delete(j);
  /* Divergence: exit code 5 and status "diverged". */
  const char *div[] = {cfgp, "--set", "optimizer={\"type\":\"sgd\",\"lr\":1e30}", "-q", NULL};
  assert_int_equal(run_cli(div, out, sizeof out), 5);
  assert_non_null(strstr(out, "\"status\":\"diverged\""));
  /* Bad override and bad file: exit 1; no config: exit 2. */
  const char *bad[] = {cfgp, "--set", "layers[0].hidden[0]=-4", NULL};
  assert_int_equal(run_cli(bad, out, sizeof out), 1);
  const char *missing[] = {"/nonexistent/net.json", NULL};
  assert_int_equal(run_cli(missing, out, sizeof out), 1);
  const char *none[] = {NULL};
  assert_int_equal(run_cli(none, out, sizeof out), 2);
  unlink(csv), unlink(cfgp), rmdir(cache), rmdir(dir);
  free(s);
}

/* Optional smoke test on the real Fashion-MNIST files (a small subset). */
static void test_fashion_mnist_smoke(void **state) {
  (void)state;
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
    fprintf(stderr, "# Fashion-MNIST not installed: skipping\n");
    return;
  }
  const char *txt =
      "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, "
      "\"activation\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"}, "
      "{\"type\": \"dense\", \"units\": 10}], \"batch_size\": 50, \"epochs\": 2, "
      "\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, "
      "\"data\": {\"limit\": 500, \"cache\": false}}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  hp_train_config_t cfg;
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  assert_int_equal(hp_train_config_parse(root, &cfg, &err), 0);
  cJSON_Delete(root);
  hp_train_result_t res;
  int rc = hp_train_run(&cfg, NULL, NULL, &res, &err);
  if (rc != 0) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(res.status, HP_TRAIN_OK);
  if (!(res.has_test && res.test_accuracy > 0.5)) /* well above chance (0.1) */
    fprintf(stderr, "test accuracy %g\n", res.test_accuracy);
  assert_true(res.has_test && res.test_accuracy > 0.5);
  hp_train_config_free(&cfg);
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  (void)argc;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_learns),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_deterministic_two_threads),
      cmocka_unit_test(test_schedule_spans_run),
      cmocka_unit_test(test_diverges),
      cmocka_unit_test(test_stop_and_early_stopping),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_fashion_mnist_smoke),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of the model and its JSON config: shorthand expansion, every class
 * of bad config answered with an error naming the field, --set overrides,
 * shape chaining, the parameter layout and weight-decay ranges, and an
 * end-to-end finite-difference check of the whole network's gradient
 * (conv, pool, flatten, dense, batch norm, activations, loss chained). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/blas.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"

static int parse_text(const char *txt, hp_train_config_t *cfg, hp_err_t *err) {
  cJSON *root = NULL;
  int rc = hp_json_parse(txt, strlen(txt), "test", &root, err);
  if (rc != 0) return rc;
  rc = hp_train_config_parse(root, cfg, err);
  cJSON_Delete(root);
  return rc;
}

static void test_parse_shorthands(void **state) {
  (void)state;
  hp_train_config_t cfg;
  hp_err_t err = {0};
  /* mlp block with hidden widths, per-block BN and dropout. */
  int rc = parse_text("{\"layers\": [{\"type\": \"mlp\", \"hidden\": [32, 16], "
                      "\"batch_norm\": true, \"dropout\": 0.25},"
                      "{\"type\": \"dense\", \"units\": 10}], \"epochs\": 3, \"seed\": 7}",
                      &cfg, &err);
  assert_int_equal(rc, 0);
  static const hp_layer_kind_t want[] = {
      HP_LAYER_DENSE,      HP_LAYER_BATCHNORM, HP_LAYER_ACTIVATION, HP_LAYER_DROPOUT,
      HP_LAYER_DENSE,      HP_LAYER_BATCHNORM, HP_LAYER_ACTIVATION, HP_LAYER_DROPOUT,
      HP_LAYER_DENSE};
  assert_int_equal(cfg.n_layers, 9);
  for (int i = 0; i < 9; i++) assert_int_equal(cfg.layers[i].kind, want[i]);
  assert_int_equal(cfg.layers[0].units, 32);
  assert_int_equal(cfg.layers[4].units, 16);
  assert_int_equal(cfg.layers[2].act.kind, HP_ACT_RELU);
  assert_true(cfg.layers[3].rate == 0.25f);
  assert_string_equal(cfg.layers[4].where, "layers[0].hidden[1]");
  assert_int_equal(cfg.epochs, 3);
  assert_true(cfg.seed == 7);
  assert_int_equal(cfg.batch_size, 128); /* default */
  hp_train_config_free(&cfg);

  /* width x depth, global batch_norm (hidden only, not the output layer). */
  rc = parse_text("{\"batch_norm\": true, \"layers\": [{\"type\": \"mlp\", \"width\": 8, "
                  "\"depth\": 3, \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 4}]}",
                  &cfg, &err);
  assert_int_equal(rc, 0);
  assert_int_equal(cfg.n_layers, 3 * 3 + 1);
  assert_int_equal(cfg.layers[2].act.kind, HP_ACT_TANH);
  assert_int_equal(cfg.layers[9].kind, HP_LAYER_DENSE);
  assert_int_equal(cfg.layers[9].act.kind, HP_ACT_NONE);
  hp_train_config_free(&cfg);

  /* A CNN; activation fused later; layer types by name; init override. */
  rc = parse_text("{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, "
                  "\"padding\": 1, \"init\": \"kaiming_normal\"}, {\"type\": \"relu\"}, "
                  "{\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"}, "
                  "{\"type\": \"leaky_relu\", \"slope\": 0.2}, {\"type\": \"dense\", "
                  "\"units\": 3}], \"loss\": \"mse\", "
                  "\"early_stopping\": {\"patience\": 2, \"min_delta\": 0.01}}",
                  &cfg, &err);
  assert_int_equal(rc, 0);
  assert_int_equal(cfg.n_layers, 6);
  assert_true(cfg.layers[0].has_init);
  assert_int_equal(cfg.layers[0].init.kind, HP_INIT_KAIMING_NORMAL);
  assert_int_equal(cfg.layers[2].stride, 2);
  assert_true(cfg.layers[4].act.slope == 0.2f);
  assert_int_equal(cfg.loss, HP_LOSS_MSE);
  assert_int_equal(cfg.patience, 2);
  hp_train_config_free(&cfg);
}

/* Every class of bad config: the message names the field and says why. */
static void test_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *json, *msg;
  } cases[] = {
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 10}], \"foo\": 1}",
       "config: unknown key 'foo'"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}, {\"type\": \"dense\", \"units\": -5}]}",
       "layers[1].units: must be > 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 0}]}", "layers[0].units: must be > 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 2.5}]}",
       "layers[0].units: expected an integer"},
      {"{\"layers\": [{\"type\": \"dens\", \"units\": 4}]}",
       "layers[0].type: unknown layer type 'dens'"},
      {"{\"layers\": [{\"type\": \"dense\", \"unit\": 4}]}", "layers[0]: unknown key 'unit'"},
      {"{\"layers\": [{\"units\": 4}]}", "layers[0].type: required but missing"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4, \"dropout\": 1.5}]}",
       "layers[0].dropout: must be in [0, 1)"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4, \"activation\": \"relux\"}]}",
       "layers[0].activation: unknown activation 'relux'"},
      {"{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4}]}",
       "layers[0].kernel: required but missing"},
      {"{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": -1}]}",
       "layers[0].padding: must be >= 0"},
      {"{\"layers\": [{\"type\": \"dropout\"}]}", "layers[0].rate: required but missing"},
      {"{\"layers\": [{\"type\": \"mlp\", \"hidden\": [8], \"width\": 8, \"depth\": 1}]}",
       "layers[0]: give either"},
      {"{\"layers\": [{\"type\": \"mlp\", \"hidden\": [8, 0]}]}",
       "layers[0].hidden[1]: must be in [1,"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"loss\": \"hinge\"}",
       "loss: unknown loss 'hinge'"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"batch_size\": 0}",
       "batch_size: must be > 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"epochs\": -1}",
       "epochs: must be > 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"seed\": -3}", "seed: must be"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"threads\": \"2\"}",
       "threads: expected an integer, got string"},
      {"{\"epochs\": 1}", "layers: required but missing"},
      {"{\"layers\": []}", "layers: must not be empty"},
      {"{\"layers\": {}}", "layers: expected an array"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], "
       "\"early_stopping\": {\"patience\": 2, \"monitor\": \"loss\"}}",
       "early_stopping.monitor: must be"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], "
       "\"early_stopping\": {\"patience\": -1}}",
       "early_stopping.patience: must be >= 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"optimizer\": {\"lr\": -0.1}}",
       "optimizer.lr"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"optimizer\": {\"type\": \"adamw\"}}",
       "optimizer.type"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"initializer\": \"glorot\"}",
       "initializer"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"data\": {\"limit\": -1}}",
       "data.limit: must be >= 0"},
      {"{\"layers\": [{\"type\": \"dense\", \"units\": 4}], \"data\": {\"bogus\": 1}}",
       "data"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hp_train_config_t cfg;
    hp_err_t err = {0};
    int rc = parse_text(cases[i].json, &cfg, &err);
    if (rc == 0 || strstr(err.msg, cases[i].msg) == NULL) {
      fprintf(stderr, "case %zu: rc %d, message '%s', expected '%s'\n", i, rc, err.msg,
              cases[i].msg);
      fail();
    }
  }
}

static void test_config_set(void **state) {
  (void)state;
  const char *txt = "{\"epochs\": 5, \"optimizer\": {\"type\": \"adam\", \"lr\": 0.001}, "
                    "\"layers\": [{\"type\": \"dense\", \"units\": 64, \"activation\": "
                    "\"relu\"}, {\"type\": \"dense\", \"units\": 10}]}";
  cJSON *root = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_json_parse(txt, strlen(txt), "t", &root, &err), 0);
  assert_int_equal(hp_config_set(root, "optimizer.lr=0.01", &err), 0);
  assert_int_equal(hp_config_set(root, "epochs=1", &err), 0);
  assert_int_equal(hp_config_set(root, "layers[0].units=128", &err), 0);
  assert_int_equal(hp_config_set(root, "layers[0].activation=tanh", &err), 0); /* bare word */
  assert_int_equal(hp_config_set(root, "early_stopping.patience=3", &err), 0); /* created */
  assert_int_equal(hp_config_set(root, "layers[1]={\"type\":\"dense\",\"units\":10}", &err), 0);
  hp_train_config_t cfg;
  assert_int_equal(hp_train_config_parse(root, &cfg, &err), 0);
  assert_true(cfg.optim.lr == 0.01);
  assert_int_equal(cfg.epochs, 1);
  assert_int_equal(cfg.layers[0].units, 128);
  assert_int_equal(cfg.layers[0].act.kind, HP_ACT_TANH);
  assert_int_equal(cfg.patience, 3);
  hp_train_config_free(&cfg);

  assert_int_equal(hp_config_set(root, "layers[5].units=1", &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "past the end"));
  assert_int_equal(hp_config_set(root, "epochs.x=1", &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "not an object"));
  assert_int_equal(hp_config_set(root, "layers.0.units=1", &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "inside an array"));
  assert_non_null(strstr(err.msg, "name[N]"));
  assert_int_equal(hp_config_set(root, "optimizer[0]=1", &err), HP_EINVAL);
  assert_int_equal(hp_config_set(root, "=3", &err), HP_EINVAL);
  assert_int_equal(hp_config_set(root, "epochs", &err), HP_EINVAL);
  assert_int_equal(hp_config_set(root, "a..b=1", &err), HP_EINVAL);
  /* A typo'd key is added, then the config check names it. */
  assert_int_equal(hp_config_set(root, "epoch=2", &err), 0);
  assert_int_equal(hp_train_config_parse(root, &cfg, &err), HP_EINVAL);
  assert_non_null(strstr(err.msg, "unknown key 'epoch'"));
  cJSON_Delete(root);
}

static hp_layer_spec_t spec(hp_layer_kind_t kind, int n) {
  hp_layer_spec_t s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.units = s.filters = n;
  s.kernel = 3, s.stride = 1;
  s.momentum = 0.1f, s.eps = 1e-5f;
  snprintf(s.where, sizeof s.where, "layers[x]");
  return s;
}

static void test_model_shapes(void **state) {
  (void)state;
  hp_model_t m;
  hp_err_t err = {0};
  /* dense 4->3, BN, dense 3->2: params W 12, b 3, gamma/beta 6, W 6, b 2. */
  hp_layer_spec_t s[3] = {spec(HP_LAYER_DENSE, 3), spec(HP_LAYER_BATCHNORM, 0),
                          spec(HP_LAYER_DENSE, 2)};
  assert_int_equal(hp_model_create(&m, s, 3, 1, 1, 4, 2, 8, HP_LOSS_SOFTMAX_CE, &err), 0);
  assert_int_equal(m.n_params, 12 + 3 + 6 + 6 + 2);
  assert_int_equal(m.n_state, 6);
  assert_int_equal(m.n_decay, 2); /* weights only: not biases, not BN */
  assert_true(m.decay[0].offset == 0 && m.decay[0].count == 12);
  assert_true(m.decay[1].offset == 21 && m.decay[1].count == 6);
  hp_model_free(&m);

  /* CNN chain: conv 3x3 pad 1 (28x28) -> pool 2 -> conv 3x3 pad 1 -> pool 2
   * -> dense (implicit flatten of 8*7*7) -> dense 10; relu fused into conv. */
  hp_layer_spec_t c[7] = {spec(HP_LAYER_CONV2D, 4),  spec(HP_LAYER_ACTIVATION, 0),
                          spec(HP_LAYER_MAXPOOL, 0), spec(HP_LAYER_CONV2D, 8),
                          spec(HP_LAYER_MAXPOOL, 0), spec(HP_LAYER_DENSE, 16),
                          spec(HP_LAYER_DENSE, 10)};
  c[0].padding = c[3].padding = 1;
  c[1].act.kind = HP_ACT_RELU;
  c[2].kernel = c[4].kernel = 2, c[2].stride = c[4].stride = 2;
  assert_int_equal(hp_model_create(&m, c, 7, 1, 28, 28, 10, 4, HP_LOSS_SOFTMAX_CE, &err), 0);
  assert_int_equal(m.n_layers, 4); /* activation and pools fused into the convs */
  assert_int_equal(m.layers[0].spec.act.kind, HP_ACT_RELU);
  assert_int_equal(m.layers[0].spec.pool, 2);
  assert_int_equal(m.layers[0].out_size, 4 * 14 * 14);
  assert_int_equal(m.layers[2].in_size, 8 * 7 * 7);
  assert_int_equal(m.n_params, (4 * 9 + 4) + (8 * 4 * 9 + 8) + (16 * 392 + 16) + (10 * 16 + 10));
  hp_model_free(&m);

  /* Shapes that do not chain name the layer. */
  hp_layer_spec_t bad[2] = {spec(HP_LAYER_DENSE, 5), spec(HP_LAYER_DENSE, 3)};
  snprintf(bad[1].where, sizeof bad[1].where, "layers[1]");
  assert_int_equal(hp_model_create(&m, bad, 2, 1, 1, 4, 10, 4, HP_LOSS_SOFTMAX_CE, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[1]: the network ends with 3 outputs, but the data "
                                  "has 10 classes"));
  hp_layer_spec_t cv[2] = {spec(HP_LAYER_CONV2D, 2), spec(HP_LAYER_DENSE, 10)};
  cv[0].kernel = 5;
  snprintf(cv[0].where, sizeof cv[0].where, "layers[0]");
  assert_int_equal(hp_model_create(&m, cv, 2, 1, 3, 3, 10, 4, HP_LOSS_SOFTMAX_CE, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[0].kernel: 5 does not fit the 3x3 input"));
  hp_layer_spec_t dc[3] = {spec(HP_LAYER_DENSE, 20), spec(HP_LAYER_CONV2D, 2),
                           spec(HP_LAYER_DENSE, 10)};
  snprintf(dc[1].where, sizeof dc[1].where, "layers[1]");
  assert_int_equal(hp_model_create(&m, dc, 3, 1, 8, 8, 10, 4, HP_LOSS_SOFTMAX_CE, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "layers[1]: conv2d needs an image input"));
  /* A config asking for an absurd model is refused before allocating. */
  hp_layer_spec_t huge[3] = {spec(HP_LAYER_DENSE, 1 << 20), spec(HP_LAYER_DENSE, 1 << 20),
                             spec(HP_LAYER_DENSE, 10)};
  assert_int_equal(hp_model_create(&m, huge, 3, 1, 28, 28, 10, 128, HP_LOSS_SOFTMAX_CE, &err),
                   HP_ETOOBIG);
  assert_non_null(strstr(err.msg, "GB limit"));
  hp_layer_spec_t mp[2] = {spec(HP_LAYER_MAXPOOL, 0), spec(HP_LAYER_DENSE, 10)};
  mp[0].kernel = 4, mp[0].stride = 4;
  assert_int_equal(hp_model_create(&m, mp, 2, 1, 3, 3, 10, 4, HP_LOSS_SOFTMAX_CE, &err),
                   HP_EINVAL);
  assert_non_null(strstr(err.msg, "window 4 is larger"));
}

/* ---- whole-network gradient ------------------------------------------- */

typedef struct {
  hp_model_t *m;
  const float *x;
  const int32_t *y;
  int n;
} net_ctx;

static double net_loss(net_ctx *c) {
  hp_model_forward(c->m, c->x, c->n, true);
  return hp_model_loss_backward(c->m, c->y, c->n, false, NULL) / c->n;
}

static void check_network(hp_layer_spec_t *specs, int ns, int ch, int h, int w, int k,
                          hp_loss_kind_t loss) {
  hp_model_t m;
  hp_err_t err = {0};
  const int n = 3;
  assert_int_equal(hp_model_create(&m, specs, ns, ch, h, w, k, n, loss, &err), 0);
  hp_rng_t rng;
  hp_rng_seed(&rng, 77);
  for (size_t i = 0; i < m.n_params; i++) m.params[i] = (float)(hp_rng_uniform(&rng) - 0.5);
  size_t nx = (size_t)n * ch * h * w;
  float *x = malloc(nx * sizeof *x);
  int32_t y[3];
  for (size_t i = 0; i < nx; i++) x[i] = (float)(2 * hp_rng_uniform(&rng) - 1);
  for (int i = 0; i < n; i++) y[i] = (int32_t)hp_rng_below(&rng, (uint64_t)k);
  net_ctx c = {&m, x, y, n};
  /* backward sets every gradient: start from garbage */
  for (size_t i = 0; i < m.n_params; i++) m.grads[i] = NAN;
  hp_model_forward(&m, x, n, true);
  hp_model_loss_backward(&m, y, n, true, NULL);
  float *g = malloc(m.n_params * sizeof *g);
  memcpy(g, m.grads, m.n_params * sizeof *g);
  /* Central differences on a spread of parameters of every layer. */
  size_t step = m.n_params > 120 ? m.n_params / 120 : 1;
  for (size_t i = 0; i < m.n_params; i += step) {
    const float eps = 1e-3f, keep = m.params[i];
    m.params[i] = keep + eps;
    double lp = net_loss(&c);
    m.params[i] = keep - eps;
    double lm = net_loss(&c);
    m.params[i] = keep;
    double num = (lp - lm) / (2 * (double)eps);
    if (!(fabs(num - g[i]) <= 2e-3 + 3e-2 * fmax(fabs(num), fabs(g[i])))) {
      fprintf(stderr, "param %zu of %zu: analytic %.6g numeric %.6g\n", i, m.n_params, g[i],
              num);
      fail();
    }
  }
  free(x), free(g);
  hp_model_free(&m);
}

static void test_network_gradient(void **state) {
  (void)state;
  /* conv(sigmoid) -> maxpool -> flatten -> dense -> BN -> tanh -> dense, CE */
  hp_layer_spec_t a[7] = {spec(HP_LAYER_CONV2D, 2),  spec(HP_LAYER_MAXPOOL, 0),
                          spec(HP_LAYER_FLATTEN, 0), spec(HP_LAYER_DENSE, 5),
                          spec(HP_LAYER_BATCHNORM, 0), spec(HP_LAYER_ACTIVATION, 0),
                          spec(HP_LAYER_DENSE, 3)};
  a[0].padding = 1, a[0].act.kind = HP_ACT_SIGMOID;
  a[1].kernel = 2, a[1].stride = 2;
  a[5].act.kind = HP_ACT_TANH;
  check_network(a, 7, 2, 4, 4, 3, HP_LOSS_SOFTMAX_CE);
  /* conv(1->6, tanh) -> pool 2 -> conv(6->4, tanh) -> pool 2 -> dense: the
   * first conv+pool runs the phase path (patch 9 <= 32), the second the
   * winners-only backward (patch row 3*6 >= 16) with its input gradient. */
  hp_layer_spec_t p[5] = {spec(HP_LAYER_CONV2D, 6), spec(HP_LAYER_MAXPOOL, 0),
                          spec(HP_LAYER_CONV2D, 4), spec(HP_LAYER_MAXPOOL, 0),
                          spec(HP_LAYER_DENSE, 3)};
  p[0].padding = p[2].padding = 1, p[0].act.kind = p[2].act.kind = HP_ACT_TANH;
  p[1].kernel = p[3].kernel = 2, p[1].stride = p[3].stride = 2;
  check_network(p, 5, 1, 8, 8, 3, HP_LOSS_SOFTMAX_CE);
  /* conv -> BN (per channel) -> leaky relu -> dense (implicit flatten), MSE */
  hp_layer_spec_t b[4] = {spec(HP_LAYER_CONV2D, 3), spec(HP_LAYER_BATCHNORM, 0),
                          spec(HP_LAYER_ACTIVATION, 0), spec(HP_LAYER_DENSE, 4)};
  b[0].stride = 2;
  b[2].act = (hp_act_t){HP_ACT_SIGMOID, 0};
  check_network(b, 4, 1, 5, 5, 4, HP_LOSS_MSE);
  /* dense(tanh fused) -> dropout(0) -> dense */
  hp_layer_spec_t d[4] = {spec(HP_LAYER_DENSE, 6), spec(HP_LAYER_ACTIVATION, 0),
                          spec(HP_LAYER_DROPOUT, 0), spec(HP_LAYER_DENSE, 2)};
  d[1].act.kind = HP_ACT_TANH;
  check_network(d, 4, 1, 1, 7, 2, HP_LOSS_SOFTMAX_CE);
}

static void test_dropout_and_bn_modes(void **state) {
  (void)state;
  hp_model_t m;
  hp_err_t err = {0};
  hp_layer_spec_t s[3] = {spec(HP_LAYER_DENSE, 64), spec(HP_LAYER_DROPOUT, 0),
                          spec(HP_LAYER_DENSE, 2)};
  s[1].rate = 0.5f;
  assert_int_equal(hp_model_create(&m, s, 3, 1, 1, 4, 2, 2, HP_LOSS_SOFTMAX_CE, &err), 0);
  hp_init_t init;
  hp_init_default(&init, HP_INIT_GLOROT_UNIFORM);
  hp_model_init(&m, &init, 1);
  float x[8] = {1, 2, 3, 4, -1, 0, 1, 0.5f}, a[4], b[4];
  memcpy(a, hp_model_forward(&m, x, 2, false), sizeof a);
  memcpy(b, hp_model_forward(&m, x, 2, false), sizeof b);
  assert_memory_equal(a, b, sizeof a); /* inference is deterministic */
  const float *t = hp_model_forward(&m, x, 2, true);
  assert_true(memcmp(a, t, sizeof a) != 0); /* dropout active in training */
  /* Same seed, same initial weights; another seed, others. */
  hp_model_t m2;
  assert_int_equal(hp_model_create(&m2, s, 3, 1, 1, 4, 2, 2, HP_LOSS_SOFTMAX_CE, &err), 0);
  hp_model_init(&m2, &init, 1);
  assert_memory_equal(m.params, m2.params, m.n_params * sizeof(float));
  hp_model_init(&m2, &init, 2);
  assert_true(memcmp(m.params, m2.params, m.n_params * sizeof(float)) != 0);
  /* Biases start at zero. */
  for (int i = 0; i < 64; i++) assert_true(m.params[4 * 64 + i] == 0.0f);
  hp_model_free(&m), hp_model_free(&m2);
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  (void)argc;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_shorthands),   cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_config_set),         cmocka_unit_test(test_model_shapes),
      cmocka_unit_test(test_network_gradient),   cmocka_unit_test(test_dropout_and_bn_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

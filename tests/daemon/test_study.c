/* Unit tests of the study spec (daemon/study.c): validation errors that name
 * the field, and "$param" substitution into engine configs and argv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/daemon.h"
#include "../../daemon/daemon_int.h"

static const char *SPACE =
    "\"space\":{\"lr\":{\"type\":\"float\",\"low\":0.001,\"high\":1,\"log\":true},"
    "\"opt\":{\"type\":\"categorical\",\"choices\":[\"sgd\",\"adam\"]},"
    "\"bn\":{\"type\":\"categorical\",\"choices\":[false,true]},"
    "\"w\":{\"type\":\"int\",\"low\":8,\"high\":64}}";

/* Parses "{<body>, SPACE}" and returns the error message ("" on success). */
static const char *parse_msg(const char *body, hp_err_t *err) {
  char text[4096];
  snprintf(text, sizeof text, "{%s,%s}", body, SPACE);
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  hp_study_spec_t *sp = NULL;
  memset(err, 0, sizeof *err);
  int rc = hp_study_spec_parse(j, &sp, err);
  cJSON_Delete(j);
  hp_study_spec_free(sp);
  return rc == 0 ? "" : err->msg;
}

static void expect_error(const char *body, const char *needle) {
  hp_err_t err;
  const char *m = parse_msg(body, &err);
  if (m[0] == '\0') fail_msg("spec {%s} was accepted", body);
  if (strstr(m, needle) == NULL) fail_msg("error '%s' lacks '%s'", m, needle);
}

static void test_spec_errors(void **state) {
  (void)state;
  hp_err_t err;
  assert_string_equal(parse_msg("\"name\":\"ok\"", &err), "");
  assert_string_equal(
      parse_msg("\"name\":\"ok\",\"n_trials\":3,\"objective\":{\"command\":[\"echo\",\"$lr\",\"--o=${opt}\"]}",
                &err),
      "");
  expect_error("\"nam\":\"x\"", "spec: unknown key 'nam'");
  expect_error("\"name\":\"\"", "spec.name");
  expect_error("\"name\":\"x\",\"direction\":\"up\"", "spec.direction");
  expect_error("\"name\":\"x\",\"n_trials\":0", "spec.n_trials");
  expect_error("\"name\":\"x\",\"parallelism\":\"2\"", "spec.parallelism");
  expect_error("\"name\":\"x\",\"trial_timeout\":-1", "spec.trial_timeout");
  expect_error("\"name\":\"x\",\"max_consecutive_failures\":-1", "spec.max_consecutive_failures");
  expect_error("\"name\":\"x\",\"heartbeat_interval\":0", "spec.heartbeat_interval");
  expect_error("\"name\":\"x\",\"grace_period\":5", "spec.grace_period: applies to trials");
  expect_error("\"name\":\"x\",\"max_retry\":2", "spec.max_retry: applies to trials");
  expect_error("\"name\":\"x\",\"heartbeat_interval\":1,\"grace_period\":-1", "spec.grace_period");
  expect_error("\"name\":\"x\",\"heartbeat_interval\":1,\"max_retry\":1.5", "spec.max_retry");
  expect_error("\"name\":\"x\",\"sampler\":{\"type\":\"grid\"}", "spec.sampler");
  expect_error("\"name\":\"x\",\"pruner\":{\"type\":\"median\",\"warmup\":1}", "spec.pruner");
  expect_error("\"name\":\"x\",\"objective\":{\"command\":[\"echo\"]}", "spec.n_trials");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"command\":[\"echo\",\"$nope\"]}",
               "spec.objective.command[1]");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"command\":[\"echo\",\"a${nope}\"]}",
               "${nope}");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"command\":[\"echo\"],\"env\":{\"A\":1}}",
               "spec.objective.env.A");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"command\":\"echo\"}",
               "spec.objective.command");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"engine\":{},\"command\":[\"a\"]}",
               "either");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"metric\":\"acc\",\"objective\":{\"engine\":"
               "{\"epochs\":1,\"layers\":[{\"type\":\"dense\",\"units\":10}]}}",
               "spec.metric");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"objective\":{\"engine\":{\"epochs\":\"$opt\","
               "\"layers\":[{\"type\":\"dense\",\"units\":10}]}}",
               "spec.objective.engine");
  /* the study-level diagnostics switch: engine objectives only, checked
   * by the engine's own parser once merged */
  expect_error("\"name\":\"x\",\"n_trials\":1,\"diagnostics\":{\"curvature\":true},"
               "\"objective\":{\"command\":[\"echo\"]}",
               "spec.diagnostics: applies to engine objectives only");
  expect_error("\"name\":\"x\",\"diagnostics\":{\"curvature\":true}",
               "spec.diagnostics: applies to engine objectives only");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"diagnostics\":true,\"objective\":{\"engine\":"
               "{\"epochs\":1,\"layers\":[{\"type\":\"dense\",\"units\":10}]}}",
               "spec.diagnostics: expected an object");
  expect_error("\"name\":\"x\",\"n_trials\":1,\"diagnostics\":{\"curvature\":true,\"samples\":0},"
               "\"objective\":{\"engine\":{\"epochs\":1,\"layers\":[{\"type\":\"dense\","
               "\"units\":10}]}}",
               "diagnostics.samples: must be > 0");
}

/* "executor": local (the default) or slurm, every sbatch option checked
 * and named by its field. */
static void test_spec_executor(void **state) {
  (void)state;
  hp_err_t err;
#define CMD "\"name\":\"x\",\"n_trials\":1,\"objective\":{\"command\":[\"echo\"]},"
  assert_string_equal(parse_msg(CMD "\"executor\":{\"type\":\"local\"}", &err), "");
  assert_string_equal(
      parse_msg(CMD "\"executor\":{\"type\":\"slurm\",\"partition\":\"gpu,debug\","
                    "\"time\":\"1-12:30:00\",\"cpus_per_task\":4,\"mem\":\"16G\","
                    "\"gres\":\"gpu:a100:2\",\"output\":\"logs/%j.out\","
                    "\"extra\":[\"--account=ml\",\"--qos=low\"]}",
                &err),
      "");
  const char *times[] = {"30", "30:00", "1:30:00", "2-0", "2-12", "2-12:30", "2-12:30:15",
                         "UNLIMITED"};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
    char body[300];
    snprintf(body, sizeof body, CMD "\"executor\":{\"type\":\"slurm\",\"time\":\"%s\"}",
             times[i]);
    if (parse_msg(body, &err)[0]) fail_msg("time %s refused: %s", times[i], err.msg);
  }
  expect_error(CMD "\"executor\":\"slurm\"", "spec.executor: expected an object");
  expect_error(CMD "\"executor\":{}", "spec.executor.type: required but missing");
  expect_error(CMD "\"executor\":{\"type\":\"pbs\"}", "spec.executor.type: expected \"local\"");
  expect_error(CMD "\"executor\":{\"type\":\"local\",\"time\":\"5\"}",
               "spec.executor: unknown key 'time'");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"queue\":\"a\"}",
               "spec.executor: unknown key 'queue'");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"time\":\"1h\"}", "spec.executor.time");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"time\":\"1:2:3:4\"}",
               "spec.executor.time");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"time\":5}", "spec.executor.time");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"cpus_per_task\":0}",
               "spec.executor.cpus_per_task");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"mem\":\"4 GB\"}", "spec.executor.mem");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"partition\":\"a b\"}",
               "spec.executor.partition");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"gres\":\"gpu;rm\"}",
               "spec.executor.gres");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"output\":\"\"}", "spec.executor.output");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"extra\":\"--account=a\"}",
               "spec.executor.extra: expected an array");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"extra\":[\"account=a\"]}",
               "spec.executor.extra[0]: expected an sbatch option");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"extra\":[\"--qos=a\",\"--export=NONE\"]}",
               "spec.executor.extra[1]: --export is set by hpsearch");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"extra\":[\"-Jname\"]}",
               "spec.executor.extra[0]: -J is set by hpsearch");
  expect_error(CMD "\"executor\":{\"type\":\"slurm\",\"extra\":[\"--output=x\"]}",
               "use spec.executor.output");
#undef CMD
  expect_error("\"name\":\"x\",\"executor\":{\"type\":\"slurm\"}",
               "spec.executor: a study without objective runs no workers");
}

/* The study-level "diagnostics" is the default of the engine config's own:
 * merged key by key, the engine's keys win. */
static void test_diagnostics_merge(void **state) {
  (void)state;
  const char *text =
      "{\"name\":\"d\",\"n_trials\":1,\"diagnostics\":{\"curvature\":true,\"samples\":64},"
      "\"space\":{\"lr\":{\"type\":\"float\",\"low\":0.001,\"high\":0.1}},"
      "\"objective\":{\"engine\":{\"epochs\":1,\"diagnostics\":{\"samples\":32},"
      "\"layers\":[{\"type\":\"dense\",\"units\":10}]}}}";
  cJSON *j = cJSON_Parse(text);
  hp_study_spec_t *sp = NULL;
  hp_err_t err = {0};
  int rc = hp_study_spec_parse(j, &sp, &err);
  if (rc) fail_msg("%s", err.msg);
  cJSON_Delete(j);
  double params[1] = {0.01};
  cJSON *out = NULL;
  assert_int_equal(hp_study_substitute(hp_study_spec_engine(sp), hp_study_spec_space(sp), params,
                                       &out, &err), 0);
  cJSON *d = cJSON_GetObjectItem(out, "diagnostics");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "curvature")));
  assert_int_equal(cJSON_GetObjectItem(d, "samples")->valueint, 32);
  cJSON_Delete(out);
  hp_study_spec_free(sp);
}

static void test_substitute(void **state) {
  (void)state;
  char text[4096];
  snprintf(text, sizeof text, "{\"name\":\"s\",%s}", SPACE);
  cJSON *j = cJSON_Parse(text);
  hp_study_spec_t *sp = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_study_spec_parse(j, &sp, &err), 0);
  cJSON_Delete(j);
  /* internal values: lr 0.01, opt index 1 (adam), bn index 1 (true), w 32 */
  double params[4] = {0.01, 1, 1, 32};
  cJSON *tmpl = cJSON_Parse("{\"optimizer\":{\"type\":\"$opt\",\"lr\":\"$lr\"},\"batch_norm\":\"$bn\","
                            "\"layers\":[{\"units\":\"$w\"}],\"argv\":[\"--w=${w}\",\"$$lr\",\"x${opt}y\"]}");
  cJSON *out = NULL;
  assert_int_equal(hp_study_substitute(tmpl, hp_study_spec_space(sp), params, &out, &err), 0);
  cJSON *opt = cJSON_GetObjectItem(out, "optimizer");
  assert_string_equal(cJSON_GetObjectItem(opt, "type")->valuestring, "adam");
  assert_true(fabs(cJSON_GetObjectItem(opt, "lr")->valuedouble - 0.01) < 1e-15);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "batch_norm")));
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "layers"), 0), "units")->valueint,
                   32);
  cJSON *argv = cJSON_GetObjectItem(out, "argv");
  assert_string_equal(cJSON_GetArrayItem(argv, 0)->valuestring, "--w=32");
  assert_string_equal(cJSON_GetArrayItem(argv, 1)->valuestring, "$lr");
  assert_string_equal(cJSON_GetArrayItem(argv, 2)->valuestring, "xadamy");
  cJSON_Delete(out);
  /* a parameter the trial does not have: the members holding it are dropped */
  params[3] = NAN;
  assert_int_equal(hp_study_substitute(tmpl, hp_study_spec_space(sp), params, &out, &err), 0);
  assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "layers"), 0), "units"));
  argv = cJSON_GetObjectItem(out, "argv");
  assert_int_equal(cJSON_GetArraySize(argv), 2);
  assert_string_equal(cJSON_GetArrayItem(argv, 0)->valuestring, "$lr");
  cJSON_Delete(out);
  /* the template itself being the reference is an error naming it */
  cJSON *whole = cJSON_CreateString("$w");
  assert_true(hp_study_substitute(whole, hp_study_spec_space(sp), params, &out, &err) < 0);
  assert_non_null(strstr(err.msg, "$w"));
  cJSON_Delete(whole);
  cJSON_Delete(tmpl);
  hp_study_spec_free(sp);
}

/* docs/study-spec.md, "Conditional parameters": an inactive parameter's
 * member is dropped (the engine uses its default), a command loses the
 * argument, and the option name before a whole "$name" with it. */
static void test_substitute_inactive(void **state) {
  (void)state;
  const char *text =
      "{\"name\":\"c\",\"space\":{"
      "\"opt\":{\"type\":\"categorical\",\"choices\":[\"sgd\",\"momentum\",\"adam\"]},"
      "\"flag\":{\"type\":\"categorical\",\"choices\":[\"-v\",\"-q\"]},"
      "\"m\":{\"type\":\"float\",\"low\":0.5,\"high\":0.99,\"when\":{\"opt\":\"momentum\"}},"
      "\"b1\":{\"type\":\"float\",\"low\":0.8,\"high\":0.99,\"when\":{\"opt\":[\"adam\"]}}}}";
  cJSON *j = cJSON_Parse(text);
  hp_study_spec_t *sp = NULL;
  hp_err_t err = {0};
  if (hp_study_spec_parse(j, &sp, &err) != 0) fail_msg("%s", err.msg);
  cJSON_Delete(j);
  cJSON *tmpl = cJSON_Parse(
      "{\"optimizer\":{\"type\":\"$opt\",\"momentum\":\"$m\",\"beta1\":\"$b1\"},"
      "\"argv\":[\"train\",\"--opt\",\"$opt\",\"--momentum\",\"$m\",\"--beta1=${b1}\",\"$flag\",\"$b1\",\"-x\"]}");
  double params[4] = {1, 0, 0.9, NAN}; /* momentum with m = 0.9, no b1 */
  cJSON *out = NULL;
  assert_int_equal(hp_study_substitute(tmpl, hp_study_spec_space(sp), params, &out, &err), 0);
  cJSON *opt = cJSON_GetObjectItem(out, "optimizer");
  assert_int_equal(cJSON_GetArraySize(opt), 2);
  assert_null(cJSON_GetObjectItem(opt, "beta1"));
  assert_true(cJSON_GetObjectItem(opt, "momentum")->valuedouble == 0.9);
  char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "argv"));
  /* "--beta1=${b1}" dropped; "$b1" dropped but not the "-v" a parameter put before it */
  assert_string_equal(a, "[\"train\",\"--opt\",\"momentum\",\"--momentum\",0.9,\"-v\",\"-x\"]");
  free(a);
  cJSON_Delete(out);
  params[0] = 2, params[2] = NAN, params[3] = 0.85; /* adam */
  assert_int_equal(hp_study_substitute(tmpl, hp_study_spec_space(sp), params, &out, &err), 0);
  a = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "argv"));
  assert_string_equal(a, "[\"train\",\"--opt\",\"adam\",\"--beta1=0.85\",\"-v\",0.85,\"-x\"]");
  free(a);
  cJSON_Delete(out);
  cJSON_Delete(tmpl);
  hp_study_spec_free(sp);
  /* the program may not depend on a conditional parameter */
  hp_study_spec_t *sp2 = NULL;
  j = cJSON_Parse("{\"name\":\"p\",\"n_trials\":1,\"space\":{"
                  "\"t\":{\"type\":\"categorical\",\"choices\":[\"a\",\"b\"]},"
                  "\"u\":{\"type\":\"categorical\",\"choices\":[\"sh\"],\"when\":{\"t\":\"a\"}}},"
                  "\"objective\":{\"command\":[\"$u\",\"-c\",\"true\"]}}");
  assert_int_equal(hp_study_spec_parse(j, &sp2, &err), 0);
  assert_true(hp_study_spec_check_create(sp2, &err) < 0);
  assert_non_null(strstr(err.msg, "spec.objective.command[0]: 'u' is conditional"));
  cJSON_Delete(j);
  hp_study_spec_free(sp2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_errors),
      cmocka_unit_test(test_spec_executor),
      cmocka_unit_test(test_substitute),
      cmocka_unit_test(test_substitute_inactive),
      cmocka_unit_test(test_diagnostics_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

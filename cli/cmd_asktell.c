/* `hpsearch ask|report|tell`: drive trials from a shell script or any
 * program that can run a command. `ask` prints the trial number and
 * parameters as one JSON line; `report` answers whether to prune through its
 * output and exit code; `tell` finishes the trial. Example (docs/cli.md):
 *   while t=$(hpsearch ask quad); do n=$(echo "$t" | jq .trial) ...; done */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/rpc.h"

/* Strict integer >= 0 from the command line. */
static bool parse_count(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

/* VALUE as people write it (docs/protocol.md, "Numbers"): 0.5, -1e-3, +2,
 * inf, -Infinity, nan; 1e400 and 0x10 are refused. */
static bool parse_value(const char *s, double *out, hp_err_t *err) {
  return hp_num_parse(s, strlen(s), HP_NUM_LENIENT, out, "VALUE", err) == 0;
}

/* Connects, calls, closes; *r gets the result. */
static int one_call(const char *sock, const char *method, cJSON *params, cJSON **r,
                    hp_err_t *err) {
  hp_client_t c;
  int rc = hp_cli_connect(&c, sock, err);
  if (rc < 0) {
    cJSON_Delete(params);
    return rc;
  }
  rc = hp_client_call(&c, method, params, r, err);
  hp_client_close(&c);
  return rc;
}

int hp_cmd_ask(int argc, char **argv) {
  const char *study = NULL, *sock = NULL;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const hp_cli_arg_t args[] = {{"--socket", NULL, &sock}, {NULL, NULL, NULL}};
  int prc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (prc) return prc;
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  hp_err_t err = {0};
  cJSON *p = cJSON_CreateObject(), *r = NULL;
  cJSON_AddStringToObject(p, "study", study);
  int rc = one_call(sock, HP_RPC_TRIAL_ASK, p, &r, &err);
  if (rc == HP_EEXHAUSTED) {
    fprintf(stderr, "hpsearch ask: %s\n", err.msg);
    return HP_EXIT_EXHAUSTED;
  }
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  /* Just what a script needs: the number and the parameters. */
  cJSON *out = cJSON_CreateObject();
  cJSON_AddItemToObject(out, "trial", cJSON_DetachItemFromObject(r, "trial"));
  cJSON_AddItemToObject(out, "params", cJSON_DetachItemFromObject(r, "params"));
  char *text = hp_json_print(out);
  if (text != NULL) printf("%s\n", text);
  free(text);
  cJSON_Delete(out);
  cJSON_Delete(r);
  return text != NULL ? HP_EXIT_OK : HP_EXIT_FAIL;
}

int hp_cmd_report(int argc, char **argv) {
  const char *pos[4], *sock = NULL;
  int npos = 0;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0 ||
        strncmp(argv[i], "--output=", 9) == 0)
      return hp_cmd_report_html(argc, argv);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (npos < 4) pos[npos++] = argv[i];
    else return hp_cli_usage(argv[0], "too many arguments");
  }
  long trial, step;
  double value;
  if (npos != 4) return hp_cli_usage(argv[0], "expected STUDY TRIAL STEP VALUE");
  if (!parse_count(pos[1], &trial))
    return hp_cli_usage(argv[0], "TRIAL must be an integer >= 0");
  if (!parse_count(pos[2], &step)) return hp_cli_usage(argv[0], "STEP must be an integer >= 0");
  hp_err_t err = {0};
  if (!parse_value(pos[3], &value, &err)) return hp_cli_usage(argv[0], err.msg);
  cJSON *p = cJSON_CreateObject(), *r = NULL;
  cJSON_AddStringToObject(p, "study", pos[0]);
  cJSON_AddNumberToObject(p, "trial", (double)trial);
  cJSON_AddNumberToObject(p, "step", (double)step);
  cJSON_AddItemToObject(p, "value", cJSON_CreateNumber(value));
  int rc = one_call(sock, HP_RPC_TRIAL_REPORT, p, &r, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  bool prune = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "prune"));
  cJSON_Delete(r);
  printf("%s\n", prune ? "prune" : "continue");
  return prune ? HP_EXIT_PRUNE : HP_EXIT_OK;
}

/* One beat, or one every --every seconds until the trial is no longer
 * running (then exit 0): `hpsearch heartbeat quad 4 --every 10 &` beside a
 * training run does what Optuna's heartbeat thread does. */
int hp_cmd_heartbeat(int argc, char **argv) {
  const char *pos[2], *sock = NULL;
  int npos = 0;
  double every = 0;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) {
      if (!parse_value(argv[++i], &every, NULL) || !(every > 0) || every > 1e6)
        return hp_cli_usage(argv[0], "--every must be seconds > 0");
    } else if (argv[i][0] == '-') return hp_cli_usage(argv[0], "unknown option");
    else if (npos < 2) pos[npos++] = argv[i];
    else return hp_cli_usage(argv[0], "too many arguments");
  }
  long trial;
  if (npos != 2) return hp_cli_usage(argv[0], "expected STUDY TRIAL");
  if (!parse_count(pos[1], &trial))
    return hp_cli_usage(argv[0], "TRIAL must be an integer >= 0");
  hp_err_t err = {0};
  hp_client_t c;
  int rc = hp_cli_connect(&c, sock, &err);
  for (long n = 0; rc == 0; n++) {
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    cJSON_AddStringToObject(p, "study", pos[0]);
    cJSON_AddNumberToObject(p, "trial", (double)trial);
    rc = hp_client_call(&c, HP_RPC_TRIAL_HEARTBEAT, p, &r, &err);
    cJSON_Delete(r);
    if (rc == HP_ESTATE && n > 0) { /* the trial ended since the last beat */
      hp_client_close(&c);
      return HP_EXIT_OK;
    }
    if (rc < 0 || every <= 0) break;
    struct timespec ts = {(time_t)every, (long)((every - (double)(time_t)every) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
  }
  if (rc == 0) hp_client_close(&c);
  return rc < 0 ? hp_cli_fail(argv[0], rc, &err) : HP_EXIT_OK;
}

int hp_cmd_tell(int argc, char **argv) {
  /* STUDY TRIAL and up to 8 values (one per objective) */
  const char *pos[10], *sock = NULL, *state = "COMPLETE", *reason = NULL, *cons = NULL;
  int npos = 0;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) reason = argv[++i];
    else if (strcmp(argv[i], "--constraints") == 0 && i + 1 < argc) cons = argv[++i];
    else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
      const char *s = argv[++i];
      if (strcasecmp(s, "complete") == 0) state = "COMPLETE";
      else if (strcasecmp(s, "pruned") == 0) state = "PRUNED";
      else if (strcasecmp(s, "fail") == 0 || strcasecmp(s, "failed") == 0) state = "FAIL";
      else return hp_cli_usage(argv[0], "--state must be complete, pruned or fail");
    } else if (npos < 10 && (argv[i][0] != '-' || (argv[i][1] >= '0' && argv[i][1] <= '9') ||
                            strncasecmp(argv[i], "-inf", 4) == 0 || argv[i][1] == '.')) {
      pos[npos++] = argv[i];
    } else {
      return hp_cli_usage(argv[0], "unknown option or too many arguments");
    }
  }
  long trial;
  double values[8];
  int n_values = npos - 2;
  if (npos < 2) return hp_cli_usage(argv[0], "expected STUDY TRIAL");
  if (!parse_count(pos[1], &trial))
    return hp_cli_usage(argv[0], "TRIAL must be an integer >= 0");
  hp_err_t err = {0};
  for (int k = 0; k < n_values; k++)
    if (!parse_value(pos[2 + k], &values[k], &err)) return hp_cli_usage(argv[0], err.msg);
  if (n_values == 0 && strcmp(state, "COMPLETE") == 0)
    return hp_cli_usage(argv[0], "a complete trial needs a VALUE");
  cJSON *p = cJSON_CreateObject(), *r = NULL;
  cJSON_AddStringToObject(p, "study", pos[0]);
  cJSON_AddNumberToObject(p, "trial", (double)trial);
  cJSON_AddStringToObject(p, "state", state);
  if (n_values == 1 && strcmp(state, "FAIL") != 0)
    cJSON_AddItemToObject(p, "value", cJSON_CreateNumber(values[0]));
  if (n_values > 1) { /* several objectives: the daemon checks the count */
    cJSON *a = cJSON_AddArrayToObject(p, "values");
    for (int k = 0; k < n_values && a; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(values[k]));
  }
  if (cons != NULL) { /* C1,C2,... (c <= 0 satisfied) */
    cJSON *a = cJSON_AddArrayToObject(p, "constraints");
    char buf[64];
    for (const char *c = cons; a;) {
      const char *e = strchr(c, ',');
      size_t len = e ? (size_t)(e - c) : strlen(c);
      double x;
      if (len >= sizeof buf) len = sizeof buf - 1;
      memcpy(buf, c, len);
      buf[len] = '\0';
      if (hp_num_parse(buf, len, HP_NUM_LENIENT, &x, "--constraints", &err) < 0) {
        cJSON_Delete(p);
        return hp_cli_usage(argv[0], err.msg);
      }
      cJSON_AddItemToArray(a, cJSON_CreateNumber(x));
      if (e == NULL) break;
      c = e + 1;
    }
  }
  if (reason != NULL) cJSON_AddStringToObject(p, "reason", reason);
  int rc = one_call(sock, HP_RPC_TRIAL_TELL, p, &r, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "state");
  printf("trial %ld %s\n", trial, cJSON_IsString(st) ? st->valuestring : state);
  cJSON_Delete(r);
  return HP_EXIT_OK;
}

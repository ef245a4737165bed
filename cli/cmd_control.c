/* `hpsearch stop|resume|delete STUDY` and `hpsearch shutdown`: one request
 * each, one line of output. `shutdown` waits until the daemon has closed the
 * connection (it has then stopped its workers and closed the database), so a
 * script can copy or read the database right after it returns. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/rpc.h"

/* Sends method {study} and prints the resulting state. `flag` (may be
 * NULL) is the command's one boolean option, sent as params[flag + 2]
 * ("--kill" -> "kill": true). */
static int study_call(int argc, char **argv, const char *method, const char *flag) {
  const char *study = NULL, *sock = NULL;
  bool flag_set = false;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const hp_cli_arg_t args[] = {{"--socket", NULL, &sock}, {flag, &flag_set, NULL},
                               {NULL, NULL, NULL}};
  int prc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (prc) return prc;
  if (study == NULL) return hp_cli_usage(argv[0], "which study?");
  hp_err_t err = {0};
  hp_client_t c;
  cJSON *r = NULL;
  int rc = hp_cli_connect(&c, sock, &err);
  if (rc == 0) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "study", study);
    if (flag_set) cJSON_AddTrueToObject(p, flag + 2);
    rc = hp_client_call(&c, method, p, &r, &err);
  }
  hp_client_close(&c);
  if (rc < 0) {
    int code = hp_cli_fail(argv[0], rc, &err);
    if (rc == HP_ESTATE && strcmp(method, HP_RPC_STUDY_DELETE) == 0)
      fprintf(stderr, "hpsearch delete: '%s delete %s --force' deletes it with its running "
                      "trials\n", hp_cli_prog(), study);
    return code;
  }
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(r, "state");
  if (strcmp(method, HP_RPC_STUDY_DELETE) == 0) printf("deleted study %s\n", study);
  else printf("study %s: %s\n", study, cJSON_IsString(state) ? state->valuestring : "ok");
  cJSON_Delete(r);
  return HP_EXIT_OK;
}

int hp_cmd_stop(int argc, char **argv) { return study_call(argc, argv, HP_RPC_STUDY_STOP, "--kill"); }

int hp_cmd_resume(int argc, char **argv) {
  return study_call(argc, argv, HP_RPC_STUDY_RESUME, NULL);
}

int hp_cmd_delete(int argc, char **argv) {
  return study_call(argc, argv, HP_RPC_STUDY_DELETE, "--force");
}

int hp_cmd_shutdown(int argc, char **argv) {
  const char *sock = NULL;
  bool wait = true;
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--no-wait") == 0) wait = false;
    else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else return hp_cli_usage(argv[0], "unknown argument");
  }
  hp_err_t err = {0};
  hp_client_t c;
  cJSON *r = NULL;
  int rc = hp_cli_connect(&c, sock, &err);
  if (rc == 0) rc = hp_client_call(&c, HP_RPC_DAEMON_SHUTDOWN, NULL, &r, &err);
  cJSON_Delete(r);
  if (rc == 0 && wait) {
    /* Drain until the daemon closes us; HP_EIO is the expected end. */
    for (;;) {
      cJSON *msg = NULL;
      int w = hp_client_recv(&c, HP_CLI_TIMEOUT_MS, &msg, &err);
      cJSON_Delete(msg);
      if (w == HP_EIO) break;
      if (w < 0) {
        rc = w;
        break;
      }
    }
  }
  hp_client_close(&c);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  printf(wait ? "daemon stopped\n" : "daemon shutting down\n");
  return HP_EXIT_OK;
}

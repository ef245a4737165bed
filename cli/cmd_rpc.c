/* `hpsearch rpc METHOD [PARAMS_JSON]` and `hpsearch rpc REQUEST_JSON`: sends
 * one JSON-RPC request line to the daemon and prints the reply line exactly
 * as it came, for scripts and for trying the protocol (docs/protocol.md)
 * without another tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"

/* Builds {"jsonrpc":"2.0","id":1,"method":method,"params":params}; params
 * (may be NULL) is taken over. Caller frees with free(). */
static char *build_request(const char *method, cJSON *params) {
  cJSON *req = cJSON_CreateObject();
  if (req == NULL) {
    cJSON_Delete(params);
    return NULL;
  }
  cJSON_AddStringToObject(req, "jsonrpc", "2.0");
  cJSON_AddNumberToObject(req, "id", 1);
  cJSON_AddStringToObject(req, "method", method);
  if (params != NULL) cJSON_AddItemToObject(req, "params", params);
  char *text = hp_json_print(req);
  cJSON_Delete(req);
  return text;
}

int hp_cmd_rpc(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *pos[2], *sock = NULL;
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (argv[i][0] == '-') return hp_cli_usage(argv[0], "unknown or incomplete option");
    else if (npos < 2) pos[npos++] = argv[i];
    else return hp_cli_usage(argv[0], "too many arguments");
  }
  if (npos == 0) return hp_cli_usage(argv[0], "which method (or request)?");
  hp_err_t err = {0};
  char *built = NULL;
  const char *line;
  bool expect_reply = true;
  if (pos[0][0] == '{') {
    /* A request as the user wrote it, sent unchanged: malformed ones too,
     * so the daemon's answer to them can be seen. */
    if (npos > 1) return hp_cli_usage(argv[0], "a whole request takes no PARAMS_JSON");
    if (strchr(pos[0], '\n') != NULL)
      return hp_cli_usage(argv[0], "a request is one line (the protocol ends messages at a newline)");
    line = pos[0];
    cJSON *req = NULL;
    if (hp_json_parse(line, strlen(line), "request", &req, &err) == 0 && cJSON_IsObject(req) &&
        cJSON_GetObjectItemCaseSensitive(req, "id") == NULL)
      expect_reply = false; /* a notification: JSON-RPC sends no reply */
    cJSON_Delete(req);
  } else {
    cJSON *params = NULL;
    if (npos > 1 && hp_json_parse(pos[1], strlen(pos[1]), "PARAMS_JSON", &params, &err) < 0) {
      fprintf(stderr, "hpsearch rpc: %s\n", err.msg);
      return HP_EXIT_USAGE;
    }
    built = build_request(pos[0], params);
    if (built == NULL) {
      fprintf(stderr, "hpsearch rpc: out of memory\n");
      return HP_EXIT_FAIL;
    }
    line = built;
  }
  hp_client_t c;
  int rc = hp_cli_connect(&c, sock, &err);
  if (rc == 0) rc = hp_client_send_raw(&c, line, strlen(line), &err);
  free(built);
  if (rc == 0 && expect_reply) {
    const char *reply;
    size_t len;
    rc = hp_client_recv_line(&c, HP_CLI_TIMEOUT_MS, &reply, &len, &err);
    if (rc == 0) {
      fwrite(reply, 1, len, stdout);
      fputc('\n', stdout);
      fflush(stdout);
      /* The exit code follows the reply: 0 for a result, the documented
       * codes for an error (4 for an unknown study, 1 for most). */
      cJSON *msg = NULL, *result = NULL;
      rc = hp_json_parse(reply, len, "reply from the daemon", &msg, &err);
      if (rc == 0) rc = hp_client_reply_result(&c, msg, "request", &result, &err);
      cJSON_Delete(result);
      cJSON_Delete(msg);
      hp_client_close(&c);
      return hp_cli_exit_code(rc);
    }
  }
  hp_client_close(&c);
  return rc < 0 ? hp_cli_fail(argv[0], rc, &err) : HP_EXIT_OK;
}

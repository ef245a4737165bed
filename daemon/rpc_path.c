/* Protocol helpers shared by the daemon and the CLI client: the default
 * socket path and the names of the protocol's error codes (hpsearch/rpc.h).
 * Kept apart from the method table so a client links only this file. */
#include "hpsearch/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "hpsearch/err.h"

int hp_rpc_default_socket_path(char *buf, size_t size) {
  const char *env = getenv("HPSEARCH_SOCKET");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (env != NULL && env[0] != '\0')
    n = snprintf(buf, size, "%s", env);
  else if (xdg != NULL && xdg[0] != '\0')
    n = snprintf(buf, size, "%s/hpsearch/hpsearch.sock", xdg);
  else
    n = snprintf(buf, size, "/tmp/hpsearch-%u/hpsearch.sock", (unsigned)getuid());
  /* A sockaddr_un has room for sizeof(sun_path) - 1 characters. */
  if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return HP_ETOOBIG;
  return 0;
}

const char *hp_rpc_error_name(int code) {
  switch (code) {
  case HP_RPC_E_PARSE: return "parse error";
  case HP_RPC_E_INVALID_REQUEST: return "invalid request";
  case HP_RPC_E_METHOD: return "method not found";
  case HP_RPC_E_PARAMS: return "invalid params";
  case HP_RPC_E_INTERNAL: return "internal error";
  case HP_RPC_E_NO_STUDY: return "unknown study";
  case HP_RPC_E_NO_TRIAL: return "unknown trial";
  case HP_RPC_E_STUDY_EXISTS: return "study exists";
  case HP_RPC_E_BAD_SPEC: return "bad study spec";
  case HP_RPC_E_STATE: return "wrong state";
  case HP_RPC_E_EXHAUSTED: return "exhausted";
  case HP_RPC_E_TOO_LARGE: return "message too large";
  case HP_RPC_E_PERMISSION: return "permission denied";
  case HP_RPC_E_SHUTTING_DOWN: return "shutting down";
  case HP_RPC_E_STOPPED: return "study stopped";
  default: return "error";
  }
}

/* Protocol helpers shared by the daemon and the CLI client: the default
 * socket path and the one table between hpsearch's error codes and the
 * protocol's (hpsearch/rpc.h).
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

/* THE mapping between hpsearch's error codes and the protocol's: every
 * HP_E* code has one row (several may share a wire code); the first row of
 * a wire code is the code a client maps it back to. docs/protocol.md's
 * error table lists these rows (tests/daemon/test_daemon.c checks it). */
static const struct {
  int code;         /* HP_E* */
  int wire;         /* JSON-RPC error code */
  const char *name; /* the wire code's name in messages and docs */
} WIRE[] = {
    {HP_EFORMAT, HP_RPC_E_PARSE, "parse error"},
    {HP_EREQUEST, HP_RPC_E_INVALID_REQUEST, "invalid request"},
    {HP_ENOMETHOD, HP_RPC_E_METHOD, "method not found"},
    {HP_EINVAL, HP_RPC_E_PARAMS, "invalid params"},
    {HP_EDB, HP_RPC_E_INTERNAL, "internal error"},
    {HP_ENOMEM, HP_RPC_E_INTERNAL, "internal error"},
    {HP_EIO, HP_RPC_E_INTERNAL, "internal error"},
    {HP_EDIVERGED, HP_RPC_E_INTERNAL, "internal error"},
    {HP_ETIMEOUT, HP_RPC_E_INTERNAL, "internal error"},
    {HP_EBUSY, HP_RPC_E_INTERNAL, "internal error"},
    {HP_ENOSTUDY, HP_RPC_E_NO_STUDY, "unknown study"},
    {HP_ENOTFOUND, HP_RPC_E_NO_TRIAL, "unknown trial"},
    {HP_EEXIST, HP_RPC_E_STUDY_EXISTS, "study exists"},
    {HP_ESPEC, HP_RPC_E_BAD_SPEC, "bad study spec"},
    {HP_ESTATE, HP_RPC_E_STATE, "wrong state"},
    {HP_EEXHAUSTED, HP_RPC_E_EXHAUSTED, "exhausted"},
    {HP_ETOOBIG, HP_RPC_E_TOO_LARGE, "message too large"},
    {HP_EPERM, HP_RPC_E_PERMISSION, "permission denied"},
    {HP_ESHUTDOWN, HP_RPC_E_SHUTTING_DOWN, "shutting down"},
    {HP_ESTOPPED, HP_RPC_E_STOPPED, "study stopped"},
};
#define N_WIRE (sizeof WIRE / sizeof WIRE[0])

int hp_rpc_wire_code(int code) {
  for (size_t i = 0; i < N_WIRE; i++)
    if (WIRE[i].code == code) return WIRE[i].wire;
  return 0;
}

int hp_rpc_local_code(int wire) {
  for (size_t i = 0; i < N_WIRE; i++)
    if (WIRE[i].wire == wire) return WIRE[i].code;
  return HP_EFORMAT;
}

const char *hp_rpc_error_name(int wire) {
  for (size_t i = 0; i < N_WIRE; i++)
    if (WIRE[i].wire == wire) return WIRE[i].name;
  return "error";
}

/* The client side of the daemon's protocol (docs/protocol.md): connect to the
 * Unix socket, send JSON-RPC 2.0 requests as single lines, read replies and
 * event notifications, all with a deadline. Used by the `hpsearch`
 * subcommands and by the tests and benchmarks that drive the daemon.
 *
 * Nothing here prints. A failure returns a negative code and fills the
 * hp_err_t with a message meant for a person, e.g. when no daemon listens:
 *   no hpsearch daemon is running on /run/user/0/hpsearch/hpsearch.sock
 *   (connect: No such file or directory); start one with: hpsearch daemon & */
#ifndef HPSEARCH_CLIENT_H
#define HPSEARCH_CLIENT_H

#include <cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "hpsearch/err.h"

/* Largest reply line the client accepts. Replies (trial.list of a large
 * study) may be bigger than the daemon's request limit HP_RPC_MAX_MESSAGE. */
#define HP_CLIENT_MAX_REPLY (256u << 20)

/* Returned by hp_client_connect when nothing listens on the socket
 * (ENOENT, ECONNREFUSED, ENOTDIR); the message says how to start a daemon. */
#define HP_CLIENT_ENODAEMON (-ECONNREFUSED)

/* Notifications kept while a call waits for its reply. */
#define HP_CLIENT_MAX_PENDING 4096

typedef struct hp_client {
  int fd;               /* connected socket, -1 when closed */
  char path[108];       /* socket path (fits sockaddr_un.sun_path) */
  int timeout_ms;       /* deadline for one call; < 0 waits forever */
  long long next_id;    /* id of the next request */
  char *buf;            /* received bytes not yet returned as messages */
  size_t start, len;    /* unread region is buf[start, len) */
  size_t scanned;       /* buf[start, scanned) holds no '\n' (resume point) */
  size_t cap;           /* allocated size of buf */
  int rpc_code;         /* JSON-RPC error code of the last error reply, else 0 */
  cJSON *rpc_data;      /* "data" member of the last error reply (owned), or NULL */
  cJSON *pending;       /* notifications read while waiting for a reply (array,
                           owned), handed out first by hp_client_recv */
} hp_client_t;

/* Connects to `path`, or to hp_rpc_default_socket_path() when path is NULL.
 * `explicit_path` says the user chose the path (then the advice to start a
 * daemon includes `--socket PATH`). On failure c is left closed. */
int hp_client_connect(hp_client_t *c, const char *path, bool explicit_path, int timeout_ms,
                      hp_err_t *err);

/* One request/response round trip. `params` (may be NULL) is taken over and
 * freed. On success *result is the reply's "result" (caller frees with
 * cJSON_Delete). Event notifications that arrive before the reply are kept
 * (up to HP_CLIENT_MAX_PENDING, oldest dropped first) and returned by the
 * following hp_client_recv calls. An error reply returns the HP_E* code of
 * its JSON-RPC code (hp_rpc_local_code: the table the daemon maps with, so
 * unknown study -> HP_ENOSTUDY, unknown trial -> HP_ENOTFOUND, a code it
 * does not know -> HP_EFORMAT) with the daemon's message, and sets
 * c->rpc_code. */
int hp_client_call(hp_client_t *c, const char *method, cJSON *params, cJSON **result,
                   hp_err_t *err);

/* Like hp_client_call, but hands back the reply's "result" as the raw JSON
 * text the daemon sent (no tree is built: `trials --json` of a large study
 * passes it straight through). *text points into the client's buffer and
 * stays valid until the next receive; it is not NUL-terminated. */
int hp_client_call_raw(hp_client_t *c, const char *method, cJSON *params, const char **text,
                       size_t *len, hp_err_t *err);

/* Sends a request without waiting for its reply; *id_out (may be NULL) gets
 * its id. `params` is taken over. */
int hp_client_send(hp_client_t *c, const char *method, cJSON *params, long long *id_out,
                   hp_err_t *err);

/* Sends pre-formatted request text (one JSON object without the trailing
 * newline); for benchmarks that avoid building trees. */
int hp_client_send_raw(hp_client_t *c, const char *line, size_t len, hp_err_t *err);

/* Reads the next message (reply or notification). timeout_ms < 0 waits
 * forever; 0 only looks at what is buffered or readable now. Returns 0 with
 * *msg set (caller frees), HP_ETIMEOUT when nothing complete arrived in time,
 * HP_EIO when the daemon closed the connection. */
int hp_client_recv(hp_client_t *c, int timeout_ms, cJSON **msg, hp_err_t *err);

/* Like hp_client_recv but hands back the raw line (no parse): *line points
 * into the client's buffer and stays valid until the next receive. */
int hp_client_recv_line(hp_client_t *c, int timeout_ms, const char **line, size_t *len,
                        hp_err_t *err);

/* Turns a reply object into its result (0, *result taken out of msg) or its
 * error (negative code as for hp_client_call). msg is not freed. */
int hp_client_reply_result(hp_client_t *c, cJSON *msg, const char *method, cJSON **result,
                           hp_err_t *err);

void hp_client_close(hp_client_t *c);

#endif

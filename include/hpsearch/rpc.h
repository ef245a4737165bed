/* The wire protocol between the hpsearch daemon and its clients: JSON-RPC 2.0,
 * one message per line over a Unix stream socket (docs/protocol.md). Shared by
 * the daemon (daemon/) and the CLI client (cli/client.c): method names, error
 * codes, size limits and the default socket path. */
#ifndef HPSEARCH_RPC_H
#define HPSEARCH_RPC_H

#include <stddef.h>

/* Largest message (one line, without its '\n') either side accepts. A longer
 * line gets an HP_RPC_E_TOO_LARGE error reply and the connection is closed. */
#define HP_RPC_MAX_MESSAGE (1u << 20)

/* Bytes of unsent replies/events the daemon keeps for one connection; a client
 * whose backlog is past this when another message is due is disconnected (it
 * costs nobody else). A single message may be larger. */
#define HP_RPC_MAX_OUTPUT (16u << 20)

/* ---- JSON-RPC 2.0 standard error codes ----------------------------------
 * Only the RPC edge uses these (daemon/rpc.c, daemon/server.c through
 * hp_rpc_wire_code, and the client): everything else returns HP_E* codes. */
#define HP_RPC_E_PARSE -32700          /* malformed JSON */
#define HP_RPC_E_INVALID_REQUEST -32600 /* not a JSON-RPC request object */
#define HP_RPC_E_METHOD -32601         /* unknown method */
#define HP_RPC_E_PARAMS -32602         /* bad params; message names the field */
#define HP_RPC_E_INTERNAL -32603       /* daemon-side failure (database, memory) */

/* ---- hpsearch codes (JSON-RPC "server error" range -32000..-32099) ------ */
#define HP_RPC_E_NO_STUDY -32001       /* unknown study (name or id) */
#define HP_RPC_E_NO_TRIAL -32002       /* unknown trial number in that study */
#define HP_RPC_E_STUDY_EXISTS -32003   /* study.create with a name already used */
#define HP_RPC_E_BAD_SPEC -32004       /* study spec invalid; message names the field */
#define HP_RPC_E_STATE -32005          /* illegal in the current state (tell a finished trial) */
#define HP_RPC_E_EXHAUSTED -32006      /* trial.ask: n_trials reached, budget spent, grid done */
#define HP_RPC_E_TOO_LARGE -32007      /* message over HP_RPC_MAX_MESSAGE; connection closed */
#define HP_RPC_E_PERMISSION -32008     /* peer uid differs from the daemon's; connection closed */
#define HP_RPC_E_SHUTTING_DOWN -32009  /* daemon is stopping; no new work accepted */
#define HP_RPC_E_STOPPED -32010        /* trial.ask on a stopped study */

/* ---- method names -------------------------------------------------------- */
#define HP_RPC_STUDY_CREATE "study.create"
#define HP_RPC_STUDY_LIST "study.list"
#define HP_RPC_STUDY_GET "study.get"
#define HP_RPC_STUDY_STOP "study.stop"
#define HP_RPC_STUDY_RESUME "study.resume"
#define HP_RPC_STUDY_DELETE "study.delete"
#define HP_RPC_STUDY_IMPORTANCE "study.importance"
#define HP_RPC_STUDY_ADVISE "study.advise"
#define HP_RPC_TRIAL_LIST "trial.list"
#define HP_RPC_TRIAL_GET "trial.get"
#define HP_RPC_TRIAL_ENQUEUE "trial.enqueue"
#define HP_RPC_TRIAL_ASK "trial.ask"
#define HP_RPC_TRIAL_REPORT "trial.report"
#define HP_RPC_TRIAL_TELL "trial.tell"
#define HP_RPC_TRIAL_HEARTBEAT "trial.heartbeat"
#define HP_RPC_DAEMON_STATUS "daemon.status"
#define HP_RPC_DAEMON_SHUTDOWN "daemon.shutdown"
#define HP_RPC_EVENTS_SUBSCRIBE "events.subscribe"
/* Method name of the notifications a subscribed connection receives. */
#define HP_RPC_EVENT "event"

/* Event types (the "type" member of an event notification's params). */
#define HP_RPC_EV_STUDY_CREATED "study.created"
#define HP_RPC_EV_TRIAL_STARTED "trial.started"
#define HP_RPC_EV_TRIAL_REPORTED "trial.reported"
#define HP_RPC_EV_TRIAL_FINISHED "trial.finished"
#define HP_RPC_EV_STUDY_FINISHED "study.finished"
#define HP_RPC_EV_STUDY_STOPPED "study.stopped"
#define HP_RPC_EV_STUDY_DELETED "study.deleted"
#define HP_RPC_EV_SHUTDOWN "daemon.shutdown"

/* Writes the default socket path into buf: $HPSEARCH_SOCKET if set and
 * non-empty, else $XDG_RUNTIME_DIR/hpsearch/hpsearch.sock, else
 * /tmp/hpsearch-$UID/hpsearch.sock. Returns 0, or HP_ETOOBIG when the path
 * does not fit in `size` bytes or in a sockaddr_un (107 bytes + NUL). Does
 * not create anything. */
int hp_rpc_default_socket_path(char *buf, size_t size);

/* The error convention: code below the RPC edge returns HP_E* codes
 * (include/hpsearch/err.h); the edge maps them with this one table.
 * hp_rpc_wire_code: the JSON-RPC code of an HP_E* code, 0 for a code
 * without a row (a negative errno: the caller answers internal error).
 * hp_rpc_local_code: the HP_E* code a client reports for a wire code
 * (HP_EFORMAT for one it does not know). */
int hp_rpc_wire_code(int code);
int hp_rpc_local_code(int wire);
/* Short name of a wire code for messages ("unknown study", ...); "error"
 * for codes not listed above. */
const char *hp_rpc_error_name(int wire);

#endif

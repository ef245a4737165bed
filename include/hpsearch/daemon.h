/* The hpsearch daemon: one libuv loop that owns the Unix socket (JSON-RPC,
 * docs/protocol.md), the study database (the only daemon on it), the samplers, the
 * pruners and the worker pool. `hpsearch daemon` (cli/cmd_daemon.c) is a thin
 * wrapper around hp_daemon_run; `hpsearch supervise` (cli/cmd_supervise.c)
 * around hp_supervise_run; `hpsearch worker` (cli/cmd_worker.c) trains one
 * engine trial. Study specs are described in docs/study-spec.md. */
#ifndef HPSEARCH_DAEMON_H
#define HPSEARCH_DAEMON_H

#include <cJSON.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hpsearch/err.h"
#include "hpsearch/space.h"
#include "hpsearch/view.h"

typedef struct hp_daemon_opts {
  const char *db_path;     /* SQLite file, created if missing ("./hpsearch.db") */
  const char *socket_path; /* NULL: hp_rpc_default_socket_path() */
  int jobs;                /* most workers at once, >= 1 */
  const char *worker_exe;  /* binary run as `EXE worker ...` for engine trials
                              and `EXE supervise ...` for command trials;
                              NULL: this process's own executable */
  const char *optuna_schema; /* NULL: a new database gets revision v3.2.0.a, an existing one
                                keeps its own; "3.1" / "3.2": the revision of a new file
                                (v3.0.0.d / v3.2.0.a), and an existing file must have it */
  const char *executor;    /* JSON of a study spec's "executor": the default of new studies
                              with an objective and no executor of their own; NULL: local */
  const char *worker_addr; /* HOST[:PORT] the daemon listens on for the workers of Slurm
                              jobs (they connect back); NULL: this host's name, any port */
} hp_daemon_opts_t;

/* Runs the daemon until SIGTERM/SIGINT or daemon.shutdown. Returns 0 after a
 * clean shutdown, a negative code (err filled) when it could not start:
 * HP_EBUSY when another daemon owns the database (err names its pid and
 * socket) or answers on the socket, others when the database cannot be
 * opened or the socket folder is unsafe. Logs to stderr. */
int hp_daemon_run(const hp_daemon_opts_t *opts, hp_err_t *err);

/* Supervises one command trial (daemon/worker_exec.c): runs cmd (argv,
 * NULL-terminated) as its child, and when the command exits, on SIGTERM or
 * when process `parent` (> 0: the daemon) dies, kills and reaps the
 * command's whole process tree. Returns the exit status for this process:
 * the command's own, 128 + signal when asked to stop, 127 when cmd cannot be
 * started; a command killed by a signal is mirrored by raising it. */
int hp_supervise_run(pid_t parent, char **cmd);

/* The relay of a trial run as a Slurm job (daemon/job_relay.c, `hpsearch
 * job -- CMD...`): runs cmd as its child and sends its stdout and stderr
 * lines to the daemon at addr ("HOST:PORT"), presenting token for trial
 * trial_id; reconnects (and sends what the daemon has not seen) while the
 * child runs, and after it exited waits up to wait_s seconds for the daemon
 * to have stored the trial's end. Returns the exit status for this process:
 * the child's (128 + signal when it was killed), 1 when the daemon refused
 * the trial. */
int hp_job_relay_run(const char *addr, const char *token, long long trial_id, double wait_s,
                     char **cmd);

/* ---- the database lock (daemon/dblock.c) --------------------------------------- */

/* The daemon's exclusive flock on its database file (also taken by `hpsearch
 * db upgrade`, so it never changes a file a daemon owns), and the owner record
 * ("<real path>-owner": pid, socket, start time) that names it to a daemon
 * that is refused. */
typedef struct hp_dblock {
  int fd;                    /* O_RDONLY descriptor holding the flock, -1 = none */
  dev_t dev;                 /* the locked file */
  ino_t ino;
  char owner[4096];          /* owner record written, "" = none */
} hp_dblock_t;

/* Takes the lock, creating an empty file when there is none (SQLite writes
 * the schema later). Another daemon holding it: HP_EBUSY, err naming its
 * pid and socket. Nothing else is touched. */
int hp_dblock_acquire(hp_dblock_t *lk, const char *db_path, hp_err_t *err);
/* Writes the owner record (socket made absolute). */
int hp_dblock_publish(hp_dblock_t *lk, const char *db_path, const char *socket_path,
                      hp_err_t *err);
/* Removes the owner record and drops the lock. Only after the store is
 * closed: closing a descriptor of the file drops SQLite's POSIX locks. */
void hp_dblock_release(hp_dblock_t *lk);
/* The daemon that owns the database at db_path now (holds its lock and has
 * written its owner record): its socket (absolute) and pid (may be NULL).
 * HP_ENOTFOUND when no daemon owns it. For programs that follow a database
 * by its daemon (`hpsearch dashboard`). */
int hp_dblock_owner(const char *db_path, char *socket, size_t len, long long *pid, hp_err_t *err);

/* ---- study specs (daemon/study.c) ---------------------------------------- */

typedef struct hp_study_spec hp_study_spec_t;

/* Parses and validates a study spec object (docs/study-spec.md). On failure
 * err names the field ("spec.sampler.type: ..."). *out is freed with
 * hp_study_spec_free. */
int hp_study_spec_parse(const cJSON *spec, hp_study_spec_t **out, hp_err_t *err);
void hp_study_spec_free(hp_study_spec_t *spec);
/* The spec's parsed search space (owned by the spec). */
const hp_space_t *hp_study_spec_space(const hp_study_spec_t *spec);
/* The engine objective's training-config template with the study-level
 * "diagnostics" merged in (owned by the spec), NULL for other objectives. */
const cJSON *hp_study_spec_engine(const hp_study_spec_t *spec);
/* The spec's fields shown in a study summary (include/hpsearch/view.h):
 * the one translation used by the daemon and by `--db` readers. Strings
 * point into the spec or are static. */
void hp_study_spec_view(const hp_study_spec_t *spec, hp_view_spec_t *out);

/* Replaces every "$name" string in a copy of `tmpl` by the external value of
 * the parameter `name` (params: one internal value per space parameter,
 * NaN = absent); "${name}" inside a longer string is replaced by the
 * value's text, and "$$" stands for a literal "$". A member or element that
 * refers to an absent (inactive) parameter is dropped, and with an element
 * that is a whole "$name", the element before it when that is an option
 * name (a string starting with '-' without references): docs/study-spec.md.
 * `tmpl` itself referring to an absent parameter is HP_EINVAL. New tree,
 * caller frees. */
int hp_study_substitute(const cJSON *tmpl, const hp_space_t *space, const double *params,
                        cJSON **out, hp_err_t *err);
/* Text of an external value as it goes into an argv or environment string:
 * strings unquoted, integral numbers without a fraction, others with 17
 * digits, true/false, null -> "". New string (caller frees), NULL if out of
 * memory. */
char *hp_study_value_text(const cJSON *v);

#endif

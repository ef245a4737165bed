/* Private structures of the daemon, shared by server.c (loop, socket,
 * connections), rpc.c (methods), study.c (specs), the scheduler's sched_*.c
 * (studies, trials; their shared helpers in sched_int.h) and worker.c (child
 * processes). Everything runs on the one libuv loop thread; nothing here is
 * thread-safe. */
#ifndef HPSEARCH_DAEMON_INT_H
#define HPSEARCH_DAEMON_INT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "hpsearch/daemon.h"
#include "hpsearch/err.h"
#include "hpsearch/pruner.h"
#include "hpsearch/sampler.h"
#include "hpsearch/space.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

typedef struct hp_daemon hp_daemon_t;
typedef struct hp_conn hp_conn_t;
typedef struct hp_study hp_study_t;
typedef struct hp_run hp_run_t;
typedef struct hp_worker hp_worker_t;
typedef struct hp_slurm hp_slurm_t;

/* ---- study spec ----------------------------------------------------------- */

typedef enum hp_objective_kind {
  HP_OBJ_NONE = 0, /* trials only through trial.ask */
  HP_OBJ_ENGINE,   /* `hpsearch worker` trains the substituted engine config */
  HP_OBJ_COMMAND,  /* the user's argv, reporting JSON lines on stdout */
} hp_objective_kind_t;

/* Most constraints a spec may set on final-line members. */
#define HP_STUDY_MAX_CONS 16

/* Where a study's trials run ("executor" of the spec; docs/study-spec.md). */
typedef struct hp_exec_spec {
  bool slurm;                /* "type": "slurm": each trial is one Slurm job (daemon/slurm.c);
                                false: a local child process ("local", the default) */
  char *partition;           /* sbatch --partition, or NULL */
  char *time;                /* --time as Slurm reads it ("30", "1:00:00", "2-0"), or NULL */
  int cpus_per_task;         /* --cpus-per-task, 0 = Slurm's default */
  char *mem;                 /* --mem ("4G"), or NULL */
  char *gres;                /* --gres ("gpu:1"), or NULL */
  char *output;              /* --output of the job script; NULL: /dev/null (the worker's
                                lines and stderr travel to the daemon) */
  char **extra;              /* further sbatch options (NULL-terminated, owned), or NULL */
} hp_exec_spec_t;

/* Consecutive failed trials after which a study pauses itself by default. */
#define HP_STUDY_DEFAULT_MAX_FAILURES 5

struct hp_study_spec {
  char *name;                 /* study name */
  bool maximize;              /* direction (of objective 0) */
  char *metric;               /* engine value used as objective ("val_loss", ...): metrics[0] */
  int n_objectives;           /* "directions": 1..HP_STORE_MAX_OBJECTIVES */
  bool maximize_obj[HP_STORE_MAX_OBJECTIVES]; /* direction per objective ([0] = maximize) */
  char *metrics[HP_STORE_MAX_OBJECTIVES];     /* metric per objective (owned) */
  int n_cons;                 /* spec "constraints" on final-line members */
  char *cons_metric[HP_STUDY_MAX_CONS];       /* member name (owned) */
  double cons_bound[HP_STUDY_MAX_CONS];       /* c = value - bound (max) or bound - value (min) */
  bool cons_min[HP_STUDY_MAX_CONS];           /* true: "min" bound */
  double reference_point[HP_STORE_MAX_OBJECTIVES]; /* hypervolume bound, own directions */
  int n_reference;            /* 0: none given */
  hp_sampler_opts_t sampler;  /* sampler kind, seed and options */
  int64_t grid_total;         /* points of a grid sampler, 0 otherwise */
  cJSON *pruner;              /* pruner config (copy) or NULL for none */
  const char *pruner_name;    /* its kind's name (static), NULL without one */
  int64_t n_trials;           /* 0 = no limit */
  double time_budget;         /* seconds since creation, 0 = none */
  int parallelism;            /* most workers of this study at once */
  double trial_timeout;       /* seconds, 0 = none */
  int64_t max_consecutive_failures; /* pause after this many FAILs in a row, 0 = never */
  double heartbeat_interval;  /* seconds between an asked trial's beats, 0 = no heartbeat */
  double grace_period;        /* silence after which an asked trial is FAIL (0 without beats) */
  int64_t max_retry;          /* a heartbeat-lost trial is enqueued again up to this often */
  hp_space_t *space;          /* parsed search space */
  hp_objective_kind_t kind;   /* which objective */
  cJSON *engine;              /* engine config template ($refs), or NULL */
  cJSON *command;             /* argv template (array of strings), or NULL */
  cJSON *env;                 /* extra environment (object of strings), or NULL */
  char *cwd;                  /* working folder of command workers, or NULL */
  hp_exec_spec_t exec;        /* local processes or Slurm jobs */
  cJSON *json;                /* the whole spec as given (owned copy), stored */
};

/* What a spec names outside itself, checked at study.create only (a study
 * loaded from the database is not refused for it): an engine objective's
 * data files exist and are readable for every value of the space that
 * check_engine tries (all choices of a categorical, both ends of a range);
 * a command objective's program (command[0]) is found and executable as the
 * worker will resolve it (PATH, cwd). Errors name the field and path. */
int hp_study_spec_check_create(const hp_study_spec_t *sp, hp_err_t *err);

/* ---- connections ------------------------------------------------------------ */

struct hp_conn {
  uv_pipe_t pipe;            /* the accepted socket; pipe.data = this */
  hp_daemon_t *d;            /* owner */
  hp_conn_t *prev, *next;    /* daemon's list of open connections */
  uint64_t id;               /* for logs */
  pid_t pid;                 /* peer pid (SO_PEERCRED) */
  char *in;                  /* received bytes; a partial line at the front */
  size_t in_len, in_cap;     /* used / allocated bytes of in */
  size_t in_scan;            /* in[0, in_scan) holds no newline */
  bool paused;               /* reading stopped: lines left for the next turn */
  char *out;                 /* replies and events not yet handed to libuv */
  size_t out_len, out_cap;   /* used / allocated bytes of out */
  size_t inflight;           /* bytes in uv_write requests not completed */
  bool closing;              /* uv_close called; no more I/O */
  bool close_after_flush;    /* protocol error: close once out is written */
  cJSON *batch_ids;          /* ids of the requests answered in this loop
                                iteration (an array), or NULL: a failed commit
                                turns their replies into errors */
  size_t out_settled;        /* out[0, out_settled): replies and events of this
                                iteration whose writes are committed already
                                (hp_daemon_batch_settled): a failed commit keeps
                                them */
  bool subscribed;           /* receives events */
  int64_t sub_study;         /* only this study's events, or -1 for all */
};

/* Appends one message (text without newline) to c's output; it is written
 * after the current batch commits. Closes c when its queue passes
 * HP_RPC_MAX_OUTPUT. */
void hp_conn_send(hp_conn_t *c, const char *text, size_t len);
/* Serialises msg (not freed) and sends it. */
void hp_conn_send_json(hp_conn_t *c, const cJSON *msg);

/* ---- trials and studies -------------------------------------------------------- */

/* A trial that is RUNNING in this daemon: run by a worker or by a client
 * (trial.ask). */
struct hp_run {
  hp_study_t *st;            /* its study */
  int64_t trial_id, number;  /* store ids */
  double *params;            /* [space->n] internal values */
  hp_worker_t *w;            /* worker running it, NULL for asked trials */
  int64_t last_step;         /* largest reported step, -1 if none */
  double last_value;         /* value at last_step */
  double t_start;            /* monotonic seconds */
  double t_beat;             /* monotonic seconds of the client's last beat (asked trials:
                                trial.ask, trial.report, trial.heartbeat) */
  int64_t study_id;          /* st->id, to find the study again after a reload */
  /* Once ended, the run is kept until its end is committed: a failed commit
   * must not lose it (docs/daemon.md, "When the database cannot be written"). */
  bool ended;                /* hp_sched_finish was called */
  bool end_written;          /* its end is in the open batch */
  hp_store_state_t end_state; /* COMPLETE, PRUNED or FAIL */
  bool end_has_value;        /* end_value holds the final value */
  double end_value;          /* = end_values[0] */
  int end_n_values;          /* values of a COMPLETE end (several objectives), 0 or 1 else */
  double end_values[HP_STORE_MAX_OBJECTIVES];
  int end_n_cons;            /* constraint values reported with the end */
  double *end_cons;          /* [end_n_cons] owned, or NULL */
  bool relay_ack;            /* ended by its Slurm job's relay, which waits to hear that
                                the end is stored (slurm.c) */
  char *end_reason;          /* owned, NULL for none */
  cJSON *end_attrs;          /* user attributes written with the end (owned) or NULL */
  cJSON *end_curves;         /* learning curves written with the end (owned) or NULL */
  hp_run_t *next_end;        /* in d->settling or d->unstored */
};

typedef enum hp_study_state {
  HP_STUDY_RUNNING = 0, /* trials are started / may be asked */
  HP_STUDY_STOPPED,     /* study.stop: nothing new until resumed */
  HP_STUDY_FINISHED,    /* nothing left to do */
} hp_study_state_t;

struct hp_study {
  hp_daemon_t *d;            /* owner */
  hp_study_t *next;          /* daemon's list, in study_id order */
  int64_t id;                /* study_id */
  char *name;                /* owned */
  hp_study_spec_t *spec;     /* NULL for a study without an hpsearch spec (Optuna's) */
  bool adopted;              /* spec made from its trials, not stored (Optuna's) */
  bool foreign;              /* no spec stored: another program created it (its
                                spec, if any, was adopted from its trials) */
  hp_sampler_t *sampler;     /* NULL without spec */
  hp_pruner_t *pruner;       /* NULL without spec */
  char **dist_json;          /* [space->n] Optuna distribution_json per parameter */
  hp_study_state_t state;    /* see enum */
  bool maximize;             /* direction of objective 0 */
  int64_t next_number;       /* number the next created trial gets */
  int64_t n_state[HP_STORE_NSTATES]; /* trials per state */
  int n_workers;             /* workers of this study running now */
  hp_run_t **runs;           /* [runs_cap] running trials indexed by number */
  size_t runs_cap;
  int64_t *trial_ids;        /* [ids_cap] trial_id by number, 0 = unknown */
  size_t ids_cap;
  double created;            /* wall-clock seconds (epoch) of creation */
  bool exhausted;            /* sampler said HP_EEXHAUSTED, or a trial could not
                                be started: no new trial until one of its trials
                                ends (next pass if none runs) or a resume */
  int64_t failed_in_row;     /* trials that ended FAIL one after another while the
                                study ran (since this daemon loaded it) */
  char *stop_reason;         /* why the study stopped itself (owned; stored), or
                                NULL (running, or stopped by study.stop) */
  /* time_budget counts the time a daemon ran the study (not stopped):
   * spent = budget_used + (now - budget_since), stored every few seconds. */
  double budget_used;        /* seconds spent before budget_since */
  double budget_since;       /* monotonic start of the span being counted, NAN
                                while stopped */
  double budget_saved;       /* monotonic time budget_used was last stored */
  int64_t sync_from;         /* trials numbered below are final (or this
                                daemon's): another program's changes are
                                looked for from here (hp_sched_sync) */
  /* A store shared by several daemons (PostgreSQL): */
  uint64_t claimed_batch;    /* d->batch_seq of the batch that holds the study's lock and
                                read what the peers committed (hp_sched_claim) */
  double t_beats;            /* monotonic: this daemon's trials last beat */
  double t_stale;            /* monotonic: peers' stale trials last looked for */
  int64_t taken_said;        /* own runs another program ended, as last logged */
};

/* ---- workers ---------------------------------------------------------------- */

/* Bytes read from a stream, split into lines (worker.c). */
typedef struct hp_linebuf {
  char *buf;                 /* owned; a partial line at the front after a feed */
  size_t len, cap;
} hp_linebuf_t;
/* The buffer libuv reads into: grown (doubling, at most max bytes). */
void hp_linebuf_alloc(hp_linebuf_t *b, size_t max, uv_buf_t *out);
/* n bytes were read: fn gets each complete line (without '\n'); returns -1
 * as soon as fn says stop (false), else 0. */
int hp_linebuf_feed(hp_linebuf_t *b, size_t n, bool (*fn)(void *ctx, char *line, size_t len),
                    void *ctx);

struct hp_worker {
  uv_process_t proc;         /* the child (leader of its own process group) */
  uv_pipe_t out;             /* its stdout: JSON lines */
  uv_pipe_t err;             /* its stderr: logged, tail kept for reasons */
  uv_timer_t timer;          /* trial timeout */
  hp_run_t *run;             /* the trial (NULL once finished) */
  hp_daemon_t *d;
  int open_handles;          /* handles not closed yet; freed at 0 */
  pid_t pid;                 /* = process group id */
  bool supervised;           /* pid is `hpsearch supervise` (command trials):
                                asked to end with SIGTERM, it kills the tree */
  bool term_sent;            /* SIGTERM sent; SIGKILL to the group if it lingers */
  bool exited, out_eof, err_eof, done;
  int64_t exit_status;
  int term_signal;
  hp_linebuf_t out_lines;    /* stdout: a partial line */
  int64_t n_lines;           /* stdout lines seen */
  char err_tail[400];        /* last stderr bytes, NUL-terminated */
  cJSON *final_attrs;        /* extra members of final lines (user attributes;
                                owned, handed to the run at the end) or NULL */
  cJSON *curves;             /* learning curves of the step lines (hp_view_curves_add;
                                owned, handed to the run at the end) or NULL */
  bool have_final;           /* a {"value": v} line came */
  double final_value;
  int final_n_values;        /* a {"values": [...]} line came: how many */
  double final_values[HP_STORE_MAX_OBJECTIVES];
  int final_n_cons;          /* its "constraints": [...] */
  double final_cons[HP_SAMPLER_MAX_CONSTRAINTS];
  char *reason;              /* set when killed or failed (owned) */
  hp_store_state_t kill_state; /* PRUNED or FAIL when killed on purpose */
  hp_worker_t *wprev, *wnext; /* d->workers: spawned, not yet reaped by libuv */
  bool listed;               /* in d->workers */
  /* A trial run as a Slurm job (slurm.c) has no process here: its lines come
   * over its relay's connection, its end from Slurm (exited: the job ended,
   * or its relay reported the worker's own exit), and a kill is a scancel.
   * Only `timer` of the handles above is used. */
  struct hp_job *job;        /* the trial's Slurm job, or NULL for a local child */
  char *job_end;             /* the job ended other than COMPLETED: "TIMEOUT (Slurm job 12)"
                                (owned), the trial's reason unless the daemon ended it */
};

/* The database lock (dblock.c) is declared in hpsearch/daemon.h: `hpsearch db
 * upgrade` takes it too. */

/* ---- the daemon ------------------------------------------------------------------ */

struct hp_daemon {
  uv_loop_t *loop;
  uv_pipe_t listener;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_check_t check;          /* after each poll: run scheduler, commit, flush */
  uv_idle_t idle;            /* keeps poll from blocking while work is pending */
  uv_timer_t tick;           /* 1 s: time budgets, shutdown deadline */
  hp_store_t *store;
  hp_dblock_t dblock;        /* this daemon owns the database file */
  char socket_path[108];
  char *db_path;
  char *worker_exe;
  int jobs;                  /* worker slots */
  int n_workers;             /* running workers (local child processes) */
  int n_jobs;                /* trials running as Slurm jobs (not counted by --jobs) */
  struct hp_slurm *slurm;    /* the Slurm executor (slurm.c), NULL until a study needs it */
  char *worker_addr;         /* --worker-addr HOST[:PORT], or NULL (the host's name, any port) */
  cJSON *default_executor;   /* --executor: a new study's "executor" when it has none, or NULL */
  hp_conn_t *conns;          /* open connections */
  int n_conns;
  uint64_t next_conn_id;
  hp_study_t *studies;       /* all studies, ascending id */
  int n_studies;
  int64_t rr_last;           /* id of the study that got the last worker */
  bool sched_pending;        /* scheduler should run at the next check */
  bool shutting_down;
  bool listener_open;
  dev_t sock_dev;            /* the socket file we bound (st_dev, st_ino): */
  ino_t sock_ino;            /* only that file is unlinked; 0 = none */
  bool closed;               /* handles closed; loop ends */
  int exit_code;
  double t_boot;             /* monotonic seconds at start */
  double t_shutdown;         /* monotonic seconds when shutdown began */
  char boot_id[40];          /* kernel boot id: pgids are valid only within it */
  char *scratch;             /* print buffer reused for every message */
  size_t scratch_cap;
  int64_t n_requests;        /* served, for status */
  int n_deferred;            /* requests whose reply comes from libuv's thread pool */
  int n_subscribers;         /* connections with subscribed set */
  hp_worker_t *workers;      /* children libuv will reap: never waited for here */
  double t_worker_exit;      /* monotonic: when a worker last exited */
  pid_t *foreign;            /* children the daemon had at start (exec'd by a
                                script with jobs): never treated as strays */
  size_t n_foreign;
  hp_run_t *settling;        /* runs ended in the open batch: freed once it commits */
  hp_run_t *unstored;        /* ended runs whose end is not in the database (a
                                failed write or commit): written again later */
  bool store_failed;         /* a write of the open batch failed: reload from
                                the database once the batch ends */
  hp_err_t batch_undo;       /* code != 0: a request's writes reached the open
                                batch only in part, so the batch is rolled back
                                instead of committed (msg: why, for the replies) */
  double t_retry;            /* monotonic: no new trial and no rewrite before */
  double retry_wait;         /* seconds between attempts (HP_RETRY_WAIT), 0 while
                                the database can be written */
  uv_timer_t wake;           /* one-shot: hp_sched_retry at t_retry */
  bool reload_failed;        /* the last reload from the database failed: the
                                next one waits for t_retry */
  int64_t data_version;      /* the store's data_version last synced from */
  bool synced;               /* hp_sched_sync looked inside the open batch */
  uint64_t batch_seq;        /* batches opened so far */
  bool sync_failed;          /* the last sync could not read the database */
};

/* Waits between attempts to write after the database could not be written. */
#define HP_RETRY_WAIT 1.0
/* Seconds between stores of the time budget a study has spent. */
#define HP_BUDGET_SAVE_S 5.0

/* server.c */
void hp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double hp_now_mono(void);
/* Opens the store batch if none is open; everything is committed in the
 * check phase of this loop iteration, before any output is written. */
int hp_daemon_batch(hp_daemon_t *d, hp_err_t *err);
/* After a request: when everything the open batch wrote is committed
 * already (hp_store_batch_settled: a claim committed early with it), the
 * replies and events queued so far are final, and a failure of the rest
 * of the batch no longer turns them into errors. */
void hp_daemon_batch_settled(hp_daemon_t *d);
/* Whether anyone listens to events of this study (skip building them). */
bool hp_daemon_wants_events(const hp_daemon_t *d, int64_t study_id);
/* Sends an event (params object, taken over) to every subscriber. */
void hp_daemon_event(hp_daemon_t *d, int64_t study_id, cJSON *params);
/* Calls hp_sched_retry at monotonic time t (one pending wake-up: a later
 * call replaces it). */
void hp_daemon_wake_at(hp_daemon_t *d, double t);
/* Asks the scheduler to run at the end of this loop iteration. */
void hp_daemon_kick(hp_daemon_t *d);
/* Starts the clean shutdown (SIGTERM, daemon.shutdown). */
void hp_daemon_shutdown(hp_daemon_t *d, const char *why);
/* Prints msg into d->scratch; returns its length or -1. */
int hp_daemon_print(hp_daemon_t *d, const cJSON *msg);

/* rpc.c: handles one request line; appends the reply to c. */
void hp_rpc_handle_line(hp_daemon_t *d, hp_conn_t *c, const char *line, size_t len);
/* Error reply (id NULL: null, for framing errors); code is an HP_E* code,
 * mapped to the wire code by hp_rpc_wire_code. */
void hp_rpc_send_error(hp_conn_t *c, const cJSON *id, int code, const char *msg);

/* The scheduler: sched_study.c (studies), sched_recover.c (loading, reloading),
 * sched_trial.c (trials), sched_run.c (scheduling), sched_json.c (JSON shapes). */
int hp_sched_load(hp_daemon_t *d, hp_err_t *err);   /* studies from the store */
/* Picks up what other programs (Optuna's writers) committed to the database
 * since the daemon last looked: new studies, their trials and state changes
 * (counts, best, sampler and pruner history, trial numbers), studies they
 * deleted. Cheap when nothing changed (one PRAGMA; once per batch while
 * the daemon's own write transaction is open). Requests, the scheduler and
 * the 1 s tick call it. */
void hp_sched_sync(hp_daemon_t *d);
/* A store shared by several daemons: locks the study in the open batch (no
 * peer claims until it commits) and reads what the peers committed before
 * (for a grid, an n_trials limit or enqueued trials: what a claim depends
 * on), so the trial number, grid point, enqueued trial and n_trials count
 * that follow are this daemon's alone. Once per batch and study. */
int hp_sched_claim(hp_study_t *st, hp_err_t *err);
void hp_sched_free(hp_daemon_t *d);
void hp_sched_run(hp_daemon_t *d);                  /* start trials on free slots */
void hp_sched_tick(hp_daemon_t *d);                 /* 1 s: retry, time budgets */
/* Once t_retry has come after a failed write: writes the kept ends again
 * and lets new trials start (the wake-up timer and the tick call it). */
void hp_sched_retry(hp_daemon_t *d);
hp_study_t *hp_sched_find(hp_daemon_t *d, const cJSON *ref);
int hp_sched_create(hp_daemon_t *d, hp_study_spec_t *spec, hp_study_t **out, hp_err_t *err);
int hp_sched_ask(hp_study_t *st, hp_run_t **out, hp_err_t *err);
int hp_sched_enqueue(hp_study_t *st, const cJSON *params, int64_t *number, int64_t *trial_id,
                     hp_err_t *err);
/* trial_id of a trial number, 0 if the study has no such trial. */
int64_t hp_sched_trial_id(const hp_study_t *st, int64_t number);
/* A beat of an asked trial's client (trial.heartbeat; trial.report beats
 * too): it is alive. Writes the trial's trial_heartbeats row when the study
 * has a heartbeat_interval. */
int hp_sched_beat(hp_run_t *run, hp_err_t *err);
/* A report for a running trial; *prune gets the pruner's decision. A step
 * that has a value already is ignored (*ignored, prune false), as Optuna. */
int hp_sched_report(hp_run_t *run, int64_t step, double value, bool *prune, bool *ignored,
                    hp_err_t *err);
/* Ends a running trial: writes its end into the batch, tells sampler and
 * pruner, sends the event; run leaves st->runs and waits in d->settling until
 * the batch commits (then it is freed; a failed write keeps it in
 * d->unstored). value: NULL unless COMPLETE (or PRUNED with one). */
int hp_sched_finish(hp_run_t *run, hp_store_state_t state, const double *value,
                    const char *reason, hp_err_t *err);
/* The same with one value per objective (n_values: 0, or the study's
 * objectives; a single objective may also pass 1) and constraint values
 * (c <= 0 satisfied; stored as Optuna 5 keeps them, the trial system
 * attribute "constraints": [c0, c1, ...]). hp_sched_finish is this with
 * one value and none. */
int hp_sched_finish_values(hp_run_t *run, hp_store_state_t state, const double *values,
                           int n_values, const double *cons, int n_cons, const char *reason,
                           hp_err_t *err);
/* Stop and resume write the study's state first; a failed write fails the
 * call and leaves the study as it was. */
int hp_sched_stop(hp_study_t *st, bool kill, hp_err_t *err);
int hp_sched_resume(hp_study_t *st, hp_err_t *err);
int hp_sched_delete(hp_study_t *st, hp_err_t *err);
/* The study summary of docs/protocol.md: built by view/ from the store's
 * record (the same builder as `--db` readers) with the daemon's live state. */
int hp_sched_summary(hp_study_t *st, cJSON **out, hp_err_t *err);
/* Appends the summary of every study, in study_id order, to the array arr. */
int hp_sched_summaries(hp_daemon_t *d, cJSON *arr, hp_err_t *err);
const char *hp_study_state_name(hp_study_state_t s);
/* External params object of internal values. */
cJSON *hp_sched_params_json(const hp_study_t *st, const double *params);
/* Stores the time budget each study has spent (shutdown). */
void hp_sched_save_budgets(hp_daemon_t *d);
/* Shutdown: kills every worker (their trials end FAIL with reason when
 * reaped) and ends the trials clients asked for FAIL at once. */
void hp_sched_kill_all(hp_daemon_t *d, const char *reason);
/* After the batch of a loop iteration ended. committed: what it holds is in
 * the database (runs ended in it are freed). Otherwise (commit failed, or was
 * not tried: d->batch_undo; or a write in it failed: d->store_failed) the
 * studies, samplers and pruners are rebuilt from what the database holds,
 * running trials kept, and ends that did not reach the database are kept in
 * d->unstored and written again by hp_sched_retry once d->t_retry comes.
 * why: the error, for the log. */
void hp_sched_batch_done(hp_daemon_t *d, bool committed, const char *why);
/* Writes the ends kept in d->unstored into the batch again. */
void hp_sched_rewrite(hp_daemon_t *d);

/* sched_check.c: aborts with a message naming the first broken invariant of
 * the studies, their runs and counters, the workers and the connections.
 * Compiled only with HP_CHECK_INVARIANTS (the ASan build); a no-op otherwise. */
#ifdef HP_CHECK_INVARIANTS
void hp_sched_check(const hp_daemon_t *d);
#else
static inline void hp_sched_check(const hp_daemon_t *d) { (void)d; }
#endif

/* proctree.c: Linux process trees from /proc. */
typedef struct hp_proc {
  pid_t pid, ppid, pgrp; /* from /proc/<pid>/stat */
  char state;            /* R, S, D, T, Z, ... */
} hp_proc_t;
/* Every process now (a snapshot; *out freed by the caller). */
int hp_proc_list(hp_proc_t **out, size_t *n);
/* root and its living descendants by parent links (root first); at most max. */
size_t hp_proc_subtree(const hp_proc_t *all, size_t n, pid_t root, pid_t *out, size_t max);
/* Whether the environment of pid holds exactly the entry "NAME=value". */
bool hp_proc_env_has(pid_t pid, const char *entry);
/* SIGSTOPs root's subtree until no new member appears, then SIGKILLs it
 * (root too when include_root). Returns how many were killed, or < 0. */
int hp_proc_kill_tree(pid_t root, bool include_root);

/* worker.c */
int hp_worker_start(hp_daemon_t *d, hp_run_t *run, hp_err_t *err);
/* Makes the daemon a child subreaper: a process of a trial whose
 * supervisor was killed by someone else is reparented to the daemon instead
 * of init, and hp_worker_reap_strays kills it. Call before any worker. */
void hp_worker_reaper_init(hp_daemon_t *d);
/* Kills and reaps the daemon's children that are not workers (1 s tick). */
void hp_worker_reap_strays(hp_daemon_t *d);
/* Kills the worker's process group; the trial ends with state/reason once
 * the child is reaped. No effect once the child has exited: what it printed
 * and its exit status decide the trial. */
void hp_worker_kill(hp_worker_t *w, hp_store_state_t state, const char *reason);
/* What the worker of run executes and its environment, as a Slurm job's
 * relay starts it (no --parent); NULL-terminated, freed with hp_strv_free. */
int hp_worker_cmdline(hp_daemon_t *d, hp_run_t *run, char ***argv, char ***env, hp_err_t *err);
void hp_strv_free(char **v);
/* A malloc'd printf, or NULL. */
char *hp_str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The worker record of a trial run elsewhere (a Slurm job): no process, its
 * stderr closed; counted in d->n_jobs and the study's n_workers. */
hp_worker_t *hp_worker_new_job(hp_daemon_t *d, hp_run_t *run);
/* Lets go of a job's worker record at shutdown (its trial stays RUNNING). */
void hp_worker_forget(hp_worker_t *w);
/* Starts the trial timeout (a Slurm job's, once it runs). */
void hp_worker_start_timeout(hp_worker_t *w);
/* One stdout line of the worker (the objective format): values, prune, end. */
void hp_worker_line(hp_worker_t *w, char *line, size_t len);
/* Appends n bytes of s to the NUL-terminated tail (size bytes with the
 * NUL), dropping its oldest bytes. */
void hp_tail_append(char *tail, size_t size, const char *s, size_t n);
/* Stderr text of the worker: logged, its tail kept for reasons. */
void hp_worker_stderr(hp_worker_t *w, const char *text, size_t n);
/* The worker's process ended (status, signal); its output may still come
 * for EOF_GRACE_MS. */
void hp_worker_exited(hp_worker_t *w, int64_t status, int term_signal);
/* Ends the trial once the worker exited and its output is read. */
void hp_worker_maybe_done(hp_worker_t *w);

/* slurm.c: the Slurm executor (docs/daemon.md, "Trials as Slurm jobs"). */
/* Submits run's job (sbatch, asynchronously); its worker record is made
 * at once. Fails only when nothing could be started. */
int hp_slurm_start(hp_daemon_t *d, hp_run_t *run, hp_err_t *err);
/* scancel of the worker's job (now, or once sbatch gave its id). */
void hp_slurm_cancel(hp_worker_t *w);
/* The worker is done: its job leaves the executor's list and connection. */
void hp_slurm_job_done(hp_worker_t *w);
/* Jobs of the study whose trial ended but that Slurm still lists (they
 * count against its parallelism). */
int hp_slurm_lingering(const hp_daemon_t *d, int64_t study_id);
/* A trial ended by its relay is stored: the relay may exit. */
void hp_slurm_end_stored(hp_daemon_t *d, int64_t trial_id);
/* Whether pid is a command the executor runs (sbatch, squeue, scancel). */
bool hp_slurm_owns_pid(const hp_daemon_t *d, pid_t pid);
/* The daemon stops: jobs are left running (the next start adopts them),
 * connections, listener and timers closed. */
void hp_slurm_close(hp_daemon_t *d);
void hp_slurm_free(hp_daemon_t *d); /* after the loop's last handle closed */
/* At a start: takes over a RUNNING trial of a previous daemon whose Slurm
 * job is recorded (hpsearch:slurm_job); false if it has none. */
bool hp_slurm_adopt(hp_daemon_t *d, hp_run_t *run, const char *system_attrs_json);
/* The address this daemon's relays call when --worker-addr names a fixed
 * port, once this daemon listens there (false otherwise, or when the port
 * is taken): on a shared database, the jobs whose record names it are this
 * daemon's to adopt at a start (only one process can listen there). */
bool hp_slurm_own_addr(hp_daemon_t *d, char *out, size_t n);
/* A trial of a stopped peer this daemon failed in the open batch (number,
 * its system attributes): the Slurm job its record names, if any, is
 * cancelled once that batch commits (hp_slurm_batch_done), so it does not
 * run on for nobody; never before, so a batch that fails leaves the trial
 * RUNNING with its job. */
void hp_slurm_cancel_recorded(hp_daemon_t *d, const char *study, int64_t number,
                              const char *system_attrs_json);
/* The open batch committed (or not): the cancels it queued run (or are
 * dropped). */
void hp_slurm_batch_done(hp_daemon_t *d, bool committed);
/* Whether system_attrs_json holds a Slurm job record whose relay calls addr. */
bool hp_slurm_record_is(const char *system_attrs_json, const char *addr);

#endif

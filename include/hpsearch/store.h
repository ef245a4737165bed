/* The study database in Optuna's RDB schema, behind one interface with two
 * backends (the table hp_store_backend_t at the end of this header):
 *  - SQLite, the embedded default (store/store.c): a file, one owning
 *    daemon (see hp_dblock_* in hpsearch/daemon.h);
 *  - PostgreSQL through libpq (store/store_pg.c), chosen by a URL
 *    "postgresql://USER@HOST[:PORT]/DBNAME" (or "?host=/socket/dir"): the
 *    schema Optuna creates there (enum types, sequences, constraint names),
 *    shared by several daemons and by Optuna at once (docs/scale-out.md).
 * Everything below holds for both unless it says otherwise.
 *
 * SQLite with Optuna's RDB schema (13 tables,
 * version_info schema 12) at alembic revision 'v3.2.0.a' (Optuna 3.2 and
 * later: one more index, on trials.study_id) or 'v3.0.0.d' (Optuna 3.1), so
 * Optuna and its CLI read and continue what hpsearch writes, and hpsearch
 * reads and continues what Optuna writes. A file keeps the revision it has;
 * hp_store_upgrade moves one up as `optuna storage upgrade` does. See
 * docs/storage.md for every encoding.
 *
 * The API uses plain C values only (no search/ types): a parameter is (name,
 * internal double, Optuna distribution_json text); attributes are passed as a
 * JSON object text whose top-level keys become one row each (value_json =
 * the key's value as JSON); states and directions are the enums below.
 *
 * Durability: WAL journal, synchronous=NORMAL. A committed transaction
 * survives a kill of the process (SIGKILL) at any moment; only a power loss
 * or OS crash may lose the last commits (never corrupt the file).
 *
 * Transactions: every write call is atomic (one transaction, or one savepoint
 * inside a batch) and a failed call leaves nothing behind. hp_store_begin /
 * hp_store_commit group many calls into one transaction for throughput; a
 * caller must not tell anyone a result is stored before hp_store_commit
 * returned 0.
 *
 * Ownership: every char * / array returned through an out-parameter is
 * malloc'd and owned by the caller (free it with free() or the matching
 * *_free function). Input strings are copied or only read during the call.
 * A handle is used by one thread at a time. */
#ifndef HPSEARCH_STORE_H
#define HPSEARCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

/* Trial states; the numbers are Optuna's TrialState values and the names
 * (hp_store_state_name) are what the trials.state column holds. */
typedef enum hp_store_state {
  HP_STORE_RUNNING = 0,
  HP_STORE_COMPLETE = 1,
  HP_STORE_PRUNED = 2,
  HP_STORE_FAIL = 3,
  HP_STORE_WAITING = 4,
} hp_store_state_t;
#define HP_STORE_NSTATES 5

/* "RUNNING", "COMPLETE", ... ; "?" for an out-of-range value. */
const char *hp_store_state_name(int state);
/* Name -> state, or -1 if unknown. */
int hp_store_state_parse(const char *name);

/* Most objectives a study may have. */
#define HP_STORE_MAX_OBJECTIVES 8

typedef struct hp_store hp_store_t;

/* Open flags. */
#define HP_STORE_READONLY 1u   /* never writes; works while the daemon writes */
#define HP_STORE_CREATE_V31 2u /* a NEW file gets revision v3.0.0.d, which Optuna 3.1
                                  reads (default: v3.2.0.a, which Optuna >= 3.2 reads);
                                  an existing file keeps its revision either way */

/* Whether db names a PostgreSQL database ("postgresql://" or "postgres://"),
 * not a file. */
bool hp_store_is_url(const char *db);

/* Opens (read-write: creating the file and the schema if needed) a study
 * database: a file path (SQLite) or a URL (hp_store_is_url: PostgreSQL; the
 * database must exist, the schema is created in it if missing). A file at another alembic revision (e.g. written by an older or
 * newer Optuna) or whose trials.study_id index does not match its revision
 * fails with HP_EFORMAT naming what was found. Read-only open fails with
 * HP_ENOTFOUND if the file does not exist or holds no studies table. */
int hp_store_open(const char *path, unsigned flags, hp_store_t **out, hp_err_t *err);
/* The open file's alembic revision, "v3.0.0.d" or "v3.2.0.a" (static text).
 * A read-write handle re-reads it at its first write after another
 * connection committed, so it follows an upgrade made meanwhile; a
 * read-only handle keeps what it found at open. */
const char *hp_store_revision(const hp_store_t *s);
/* Moves the file at path from v3.0.0.d to v3.2.0.a in one transaction, as
 * `optuna storage upgrade` does (index trials_study_id_key, alembic row,
 * version_info), so Optuna >= 3.2 opens it; Optuna 3.1 no longer does. A
 * file already at v3.2.0.a is left unchanged. *from (may be NULL) receives
 * the revision found (static text). HP_ENOTFOUND if the file is missing.
 * Safe beside other SQLite writers (it waits for their lock, 5 s), but a
 * daemon should not have the file open: see `hpsearch db upgrade`. */
int hp_store_upgrade(const char *path, const char **from, hp_err_t *err);
/* Closes; an open batch is rolled back. NULL is allowed. */
void hp_store_close(hp_store_t *s);

/* ---- batching --------------------------------------------------------- */
/* Begins a write transaction that groups the following calls until commit.
 * Nested begin fails with HP_ESTATE. */
int hp_store_begin(hp_store_t *s, hp_err_t *err);
int hp_store_commit(hp_store_t *s, hp_err_t *err);
/* Rolls the batch back (all calls since begin are undone). */
void hp_store_rollback(hp_store_t *s);
bool hp_store_in_batch(const hp_store_t *s);
/* A number that changes when another connection (Optuna, another program,
 * another daemon) may have committed since the last call, and stays the
 * same while nobody did. SQLite: PRAGMA data_version of this handle (never
 * changed by its own commits). PostgreSQL: it changes once a second (a
 * look at what other daemons and Optuna committed); it never waits for
 * the server. */
int hp_store_data_version(hp_store_t *s, int64_t *version, hp_err_t *err);

/* The backend's name ("sqlite", "postgresql"; static text). */
const char *hp_store_backend_name(const hp_store_t *s);
/* Whether several daemons may write this database at the same time
 * (PostgreSQL). Such a daemon claims trial numbers, grid points and
 * enqueued trials under hp_store_study_lock, beats for every trial it runs
 * and fails its peers' trials whose beats stopped (hp_store_fail_stale);
 * it never fails RUNNING trials at its start (hp_store_reconcile is for a
 * store with one owner). */
bool hp_store_shared(const hp_store_t *s);
/* Locks the study against other writers' claims until the open batch ends
 * (HP_ESTATE outside a batch on PostgreSQL): SELECT ... FOR UPDATE on its
 * studies row, the lock Optuna takes to number a new trial. Read the
 * study's trials after taking it: what other writers claimed before is
 * then committed and visible, and nobody claims more until this batch
 * ends, or until a hp_store_trial_create that commits its claim early
 * (PostgreSQL, below): after a new trial, claim again. The statement is
 * queued: it holds the lock before the next statement runs (an unknown
 * study is reported by the calls that read it).
 * A no-op where there is one writer (SQLite's batch holds the file's write
 * lock). */
int hp_store_study_lock(hp_store_t *s, int64_t study_id, hp_err_t *err);
/* One request that ends a trial and creates the next (trial.tell with
 * "ask"): with on, when the open batch has written nothing yet, what is
 * written from now on commits with the claim of the next
 * hp_store_trial_create, in the round trip of that trial's insert (as a
 * claim alone does when the batch has written nothing before it: below),
 * and the batch goes on in a new transaction. Returns whether that holds
 * (false outside a batch, after writes of the batch, on SQLite: its batch
 * commits once, at its end, in any case). With off (the request's end),
 * later writes of the batch wait for its commit again. */
bool hp_store_claim_join(hp_store_t *s, bool on);
/* Whether everything the open batch wrote is committed already, and
 * nothing written since: a claim committed early with it (PostgreSQL,
 * hp_store_trial_create). A failure of the rest of the batch then undoes
 * none of it. False outside a batch, after a failed statement, and on
 * SQLite (its batch commits once, at its end). */
bool hp_store_batch_settled(const hp_store_t *s);

/* ---- studies ---------------------------------------------------------- */
/* Summary of a study, one row of hp_store_study_list. */
typedef struct hp_store_study_info {
  int64_t study_id;                              /* studies.study_id */
  char *name;                                    /* owned */
  int n_objectives;                              /* rows in study_directions */
  bool maximize[HP_STORE_MAX_OBJECTIVES];        /* per objective */
  int64_t n_trials;                              /* all states */
  int64_t n_state[HP_STORE_NSTATES];             /* indexed by hp_store_state_t */
  bool has_best;                                 /* a COMPLETE trial with a value exists */
  double best_value;                             /* objective 0; may be +-inf */
  int64_t best_number;                           /* trial number of the best, -1 if none */
  int64_t best_trial_id;                         /* its trial_id, -1 if none */
  char datetime_start[32];                       /* earliest trial start, "" if none */
  char datetime_complete[32];                    /* latest trial end, "" if none */
} hp_store_study_info_t;

/* Creates a study. maximize[k] gives objective k's direction (n_objectives in
 * 1..HP_STORE_MAX_OBJECTIVES). user_attrs_json / system_attrs_json: a JSON
 * object text or NULL. HP_EEXIST if the name is taken, HP_EINVAL for an
 * empty name (or longer than 512 bytes) or bad attrs. */
int hp_store_study_create(hp_store_t *s, const char *name, int n_objectives,
                          const bool *maximize, const char *user_attrs_json,
                          const char *system_attrs_json, int64_t *study_id, hp_err_t *err);
/* Study id by name; HP_ENOTFOUND if none. */
int hp_store_study_find(hp_store_t *s, const char *name, int64_t *study_id, hp_err_t *err);
/* All studies with counts per state and best value, ordered by study_id.
 * *out is an array of *n entries; free with hp_store_study_list_free. */
int hp_store_study_list(hp_store_t *s, hp_store_study_info_t **out, size_t *n, hp_err_t *err);
/* Like hp_store_study_list without the best trial (has_best false,
 * best_number and best_trial_id -1): what a daemon needs to see other
 * writers' changes, without a pass over every value. study_id < 0: all
 * studies; else that one (none when it does not exist). */
int hp_store_study_counts(hp_store_t *s, int64_t study_id, hp_store_study_info_t **out,
                          size_t *n, hp_err_t *err);
/* One study's summary (same fields); free info->name (or use _info_clear). */
int hp_store_study_get(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info,
                       hp_err_t *err);
/* Only its name, objectives and directions (the other fields zero, no best:
 * best_number and best_trial_id -1): no pass over its trials. */
int hp_store_study_brief(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info,
                         hp_err_t *err);
void hp_store_study_info_clear(hp_store_study_info_t *info);
void hp_store_study_list_free(hp_store_study_info_t *list, size_t n);
/* Deletes the study and every row of it and of its trials, in one
 * transaction. HP_ENOTFOUND if no such study. */
int hp_store_study_delete(hp_store_t *s, int64_t study_id, hp_err_t *err);

/* Study attributes. value_json is any JSON text (stored as given after a
 * validity check). get: *value_json is malloc'd; HP_ENOTFOUND if the key is
 * absent. hp_store_study_attrs: a JSON object text of every system or user
 * key (malloc'd). User attributes of a study are written only at creation
 * (hp_store_study_create). */
int hp_store_study_set_system_attr(hp_store_t *s, int64_t study_id, const char *key,
                                   const char *value_json, hp_err_t *err);
int hp_store_study_get_system_attr(hp_store_t *s, int64_t study_id, const char *key,
                                   char **value_json, hp_err_t *err);
int hp_store_study_attrs(hp_store_t *s, int64_t study_id, bool system, char **object_json,
                         hp_err_t *err);

/* ---- trials ----------------------------------------------------------- */
/* A parameter as given to the store (strings only read during the call). */
typedef struct hp_store_param {
  const char *name;              /* param_name */
  double value;                  /* internal repr: float, int as double, choice index */
  const char *distribution_json; /* Optuna distribution_json text */
} hp_store_param_t;

/* Creates a trial in state RUNNING (datetime_start = now) or WAITING (no
 * start time, as Optuna's enqueue_trial), with its params and system attrs
 * (e.g. {"fixed_params": {...}} for an enqueued trial), in one transaction.
 * The number is 0, 1, 2 ... within the study, assigned in that transaction.
 * Either out pointer may be NULL. PostgreSQL inside a batch: the trial
 * with its params and attributes is one statement; a RUNNING trial gets
 * its first heartbeat in it (a beat of it later in the same batch adds
 * nothing); and when the batch has written nothing before (or only what
 * hp_store_claim_join let join), the claim commits with it in the same
 * round trip (the study's lock is released;
 * the rest of the batch is a new transaction, and a failure of it no longer
 * undoes this trial). */
int hp_store_trial_create(hp_store_t *s, int64_t study_id, hp_store_state_t state,
                          const hp_store_param_t *params, size_t n_params,
                          const char *system_attrs_json, int64_t *trial_id, int64_t *number,
                          hp_err_t *err);
/* Takes the oldest WAITING trial of the study (lowest number): it becomes
 * RUNNING with datetime_start = now. *system_attrs_json (may be NULL to skip)
 * receives its system attrs as a JSON object text (holds "fixed_params").
 * HP_ENOTFOUND when the study has no WAITING trial. */
int hp_store_trial_pop_waiting(hp_store_t *s, int64_t study_id, int64_t *trial_id,
                               int64_t *number, char **system_attrs_json, hp_err_t *err);
/* Adds or replaces parameters of an unfinished trial (one transaction). */
int hp_store_trial_set_params(hp_store_t *s, int64_t trial_id, const hp_store_param_t *params,
                              size_t n_params, hp_err_t *err);
/* Intermediate value at step (upsert). value may be NaN or +-inf. The trial
 * must be unfinished (HP_ESTATE otherwise). */
int hp_store_trial_report(hp_store_t *s, int64_t trial_id, int64_t step, double value,
                          hp_err_t *err);
/* Trial attributes (upsert of one key; value_json is JSON text). */
int hp_store_trial_set_system_attr(hp_store_t *s, int64_t trial_id, const char *key,
                                   const char *value_json, hp_err_t *err);
int hp_store_trial_set_user_attr(hp_store_t *s, int64_t trial_id, const char *key,
                                 const char *value_json, hp_err_t *err);
/* Records a heartbeat of a RUNNING trial (HP_ESTATE otherwise): its row of
 * trial_heartbeats gets the database's current time, as Optuna's
 * RDBStorage.record_heartbeat writes it. PostgreSQL: the beat is queued
 * with the batch's other writes (no round trip), and the statement itself
 * skips a trial that is not RUNNING (no HP_ESTATE). */
int hp_store_trial_heartbeat(hp_store_t *s, int64_t trial_id, hp_err_t *err);
/* Finishes an unfinished (RUNNING or WAITING) trial in one transaction:
 * state, datetime_complete = now, values, and system attrs (e.g.
 * {"fail_reason": "worker killed by signal 9"}) upserted.
 *  - COMPLETE: n_values must equal the study's objectives; +-inf allowed,
 *    NaN refused (HP_EINVAL; Optuna records such a trial as FAIL).
 *  - PRUNED: values optional; with none, the value at the trial's last step
 *    is copied as its value unless it is NaN (as Optuna's tell does).
 *  - FAIL: no values (n_values must be 0).
 * HP_ESTATE if the trial is already finished, HP_ENOTFOUND if unknown.
 * PostgreSQL inside a batch: the checks that need the database (unfinished,
 * the number of values) are made by the queued statement itself, and one
 * that fails fails the batch (hp_store_commit) instead of this call. */
int hp_store_trial_finish(hp_store_t *s, int64_t trial_id, hp_store_state_t state,
                          const double *values, size_t n_values, const char *system_attrs_json,
                          hp_err_t *err);

/* A trial read back, with everything that belongs to it. */
typedef struct hp_store_param_out {
  char *name;              /* owned */
  double value;            /* internal repr */
  char *distribution_json; /* owned */
} hp_store_param_out_t;

typedef struct hp_store_trial {
  int64_t trial_id;
  int64_t study_id;
  int64_t number;
  hp_store_state_t state;
  char datetime_start[32];      /* "" when NULL */
  char datetime_complete[32];   /* "" when NULL */
  size_t n_params;
  hp_store_param_out_t *params; /* in insertion order */
  size_t n_values;              /* 0 unless COMPLETE/PRUNED with a value */
  double values[HP_STORE_MAX_OBJECTIVES]; /* +-inf restored from the type column */
  size_t n_intermediate;
  int64_t *steps;               /* ascending */
  double *intermediate;         /* values at steps[i]; NaN/+-inf restored */
  char *user_attrs_json;        /* JSON object text, "{}" if none; owned */
  char *system_attrs_json;      /* JSON object text, "{}" if none; owned */
} hp_store_trial_t;

/* Every trial of a study ordered by number, optionally only those with
 * number >= min_number (for incremental reads). *out: array of *n, free with
 * hp_store_trials_free. A few queries in total, not one per trial. */
int hp_store_trials_list(hp_store_t *s, int64_t study_id, int64_t min_number,
                         hp_store_trial_t **out, size_t *n, hp_err_t *err);
/* One trial; clear with hp_store_trial_clear. */
int hp_store_trial_get(hp_store_t *s, int64_t trial_id, hp_store_trial_t *out, hp_err_t *err);
/* Only a trial's state (one row of one table, where hp_store_trial_get
 * reads six); HP_ENOTFOUND when there is no such trial. */
int hp_store_trial_state(hp_store_t *s, int64_t trial_id, hp_store_state_t *state,
                         hp_err_t *err);
void hp_store_trial_clear(hp_store_trial_t *t);
void hp_store_trials_free(hp_store_trial_t *trials, size_t n);

/* A column-shaped read: a study's trials handed row by row to callbacks,
 * with no hp_store_trial_t per trial and no copy of any string (the
 * dashboard's columns and the importance table read 100,000 trials this
 * way). First every trial (trial, in number order, i = 0, 1, ...), then, for
 * each callback given (NULL: that table is not read), that table's rows of
 * those trials in one pass: a trial's rows in the order hp_store_trials_list
 * keeps them (parameters as inserted, values by objective, intermediate
 * values by step, attributes as inserted), the trials in any order. A row
 * names its trial by i. Strings live only during the call. A callback's
 * nonzero return ends the read and is returned. */
typedef struct hp_store_scan_trial {
  int64_t trial_id;
  int64_t number;
  hp_store_state_t state;
  const char *datetime_start;    /* "" when NULL */
  const char *datetime_complete; /* "" when NULL */
} hp_store_scan_trial_t;

typedef struct hp_store_scan {
  int64_t min_number;  /* only trials numbered from this on */
  int64_t min_trial_id; /* and with trial_id from this on (0: any): the same bound
                           when the caller knows that trial's id (a study numbers
                           its trials in the order of their ids), read without a
                           pass over the study's earlier trials */
  bool complete_only;  /* only COMPLETE trials */
  bool times;          /* the trials' start and end times (else ""; a v3.2.0.a
                          file's UTC times cost a conversion each) */
  const char *system_keys[2]; /* when set, only these keys of the system attributes */
  void *ctx;
  int (*trial)(void *ctx, size_t i, const hp_store_scan_trial_t *t);
  int (*param)(void *ctx, size_t i, const char *name, double value, const char *distribution_json);
  int (*value)(void *ctx, size_t i, int objective, double value); /* +-inf restored */
  int (*inter)(void *ctx, size_t i, int64_t step, double value);  /* NaN/+-inf restored */
  int (*user_attr)(void *ctx, size_t i, const char *key, const char *value_json);
  int (*system_attr)(void *ctx, size_t i, const char *key, const char *value_json);
} hp_store_scan_t;
/* HP_ENOTFOUND for an unknown study. PostgreSQL reads through
 * hp_store_trials_list and hands its trials out the same way. */
int hp_store_trials_scan(hp_store_t *s, int64_t study_id, const hp_store_scan_t *scan,
                         hp_err_t *err);

/* Smallest number of a RUNNING trial of the study (then list the running
 * trials with hp_store_trials_list from it); HP_ENOTFOUND when none runs. */
int hp_store_first_running(hp_store_t *s, int64_t study_id, int64_t *number, hp_err_t *err);

/* Best COMPLETE trial of the study for objective 0 and the study's
 * direction. Unlike Optuna 3.1.0, +inf (stored as NULL) is the WORST value
 * when minimizing and -inf the worst when maximizing; ties go to the lowest
 * number. HP_ENOTFOUND when no COMPLETE trial has a value. Out pointers may
 * be NULL. */
int hp_store_best_trial(hp_store_t *s, int64_t study_id, int64_t *trial_id, int64_t *number,
                        double *value, hp_err_t *err);

/* A trial touched by reconcile. */
typedef struct hp_store_trial_ref {
  int64_t study_id;
  int64_t trial_id;
  int64_t number;
} hp_store_trial_ref_t;

/* After a restart: every RUNNING trial (all studies) becomes FAIL with
 * datetime_complete = now and system attr "fail_reason" = reason (NULL means
 * "daemon restarted"), in one transaction, except the trial ids listed in
 * keep (trials whose Slurm job runs on: the daemon adopts them). *out (may
 * be NULL) receives the trials touched (malloc'd, *n entries). */
int hp_store_reconcile(hp_store_t *s, const char *reason, const int64_t *keep, size_t n_keep,
                       hp_store_trial_ref_t **out, size_t *n, hp_err_t *err);

/* Shared stores: every RUNNING trial of the study whose trial_heartbeats
 * row is older than grace seconds by the database's clock (as Optuna's
 * fail_stale_trials; a trial without a row is left alone) becomes FAIL with
 * fail_reason = reason, in one transaction (or inside the open batch),
 * except the trials listed in keep (the caller's own, alive while it is).
 * Rows locked by another writer are skipped (it is finishing them). *out
 * (may be NULL) receives the trials failed. A store with one owner fails
 * nothing (*n = 0). */
int hp_store_fail_stale(hp_store_t *s, int64_t study_id, double grace, const char *reason,
                        const int64_t *keep, size_t n_keep, hp_store_trial_ref_t **out,
                        size_t *n, hp_err_t *err);

/* The system attribute key under which finish/reconcile store a failure
 * reason. */
#define HP_STORE_FAIL_REASON_KEY "fail_reason"

/* hpsearch's own system attributes (docs/storage.md). Of a study: */
#define HP_STORE_ATTR_SPEC "hpsearch:spec"       /* the spec as given (object) */
#define HP_STORE_ATTR_STATE "hpsearch:state"     /* "running" or "stopped" */
#define HP_STORE_ATTR_CREATED "hpsearch:created" /* creation, epoch seconds */
#define HP_STORE_ATTR_STOP_REASON "hpsearch:stop_reason" /* why it stopped itself, or null */
#define HP_STORE_ATTR_BUDGET_USED "hpsearch:budget_used" /* seconds of time_budget spent */
/* Of a trial: */
#define HP_STORE_ATTR_WORKER "hpsearch:worker"   /* {"pgid": N, "boot": ID} */
#define HP_STORE_ATTR_SLURM "hpsearch:slurm_job" /* {"job": "ID", "token": HEX, "addr":
                                                    "HOST:PORT"}: a trial run as a Slurm job */
#define HP_STORE_ATTR_REASON "hpsearch:reason"   /* why pruned (FAIL: fail_reason) */
#define HP_STORE_ATTR_CURVES "hpsearch:curves"   /* per-step training metrics: {"step":
                                                    [..], "train_loss": [..], ...} */
#define HP_STORE_ATTR_SAMPLER "hpsearch:sampler" /* which algorithm proposed the trial's
                                                    params: "random", "grid", "tpe", "gp" */

/* ---- backends --------------------------------------------------------
 * Each backend fills one table; the hp_store_* functions above dispatch
 * through it (store/backend.c), so callers never see which one runs. The
 * handle a backend's open returns begins with a pointer to its table
 * (struct { const hp_store_backend_t *be; ... }). A NULL entry means the
 * operation has nothing to do on that backend (study_lock, fail_stale). */
typedef struct hp_store_backend {
  const char *name; /* "sqlite", "postgresql" */
  bool shared;      /* several daemons may write at once */
  const char *(*revision)(const hp_store_t *s);
  void (*close)(hp_store_t *s);
  int (*begin)(hp_store_t *s, hp_err_t *err);
  int (*commit)(hp_store_t *s, hp_err_t *err);
  void (*rollback)(hp_store_t *s);
  bool (*in_batch)(const hp_store_t *s);
  int (*data_version)(hp_store_t *s, int64_t *version, hp_err_t *err);
  int (*study_create)(hp_store_t *s, const char *name, int n_objectives, const bool *maximize,
                      const char *user_attrs_json, const char *system_attrs_json,
                      int64_t *study_id, hp_err_t *err);
  int (*study_find)(hp_store_t *s, const char *name, int64_t *study_id, hp_err_t *err);
  int (*study_list)(hp_store_t *s, hp_store_study_info_t **out, size_t *n, hp_err_t *err);
  int (*study_get)(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info, hp_err_t *err);
  int (*study_delete)(hp_store_t *s, int64_t study_id, hp_err_t *err);
  int (*study_set_system_attr)(hp_store_t *s, int64_t study_id, const char *key,
                               const char *value_json, hp_err_t *err);
  int (*study_get_system_attr)(hp_store_t *s, int64_t study_id, const char *key,
                               char **value_json, hp_err_t *err);
  int (*study_attrs)(hp_store_t *s, int64_t study_id, bool system, char **object_json,
                     hp_err_t *err);
  int (*study_lock)(hp_store_t *s, int64_t study_id, hp_err_t *err);
  bool (*claim_join)(hp_store_t *s, bool on);
  bool (*batch_settled)(const hp_store_t *s);
  int (*trial_create)(hp_store_t *s, int64_t study_id, hp_store_state_t state,
                      const hp_store_param_t *params, size_t n_params,
                      const char *system_attrs_json, int64_t *trial_id, int64_t *number,
                      hp_err_t *err);
  int (*trial_pop_waiting)(hp_store_t *s, int64_t study_id, int64_t *trial_id, int64_t *number,
                           char **system_attrs_json, hp_err_t *err);
  int (*trial_set_params)(hp_store_t *s, int64_t trial_id, const hp_store_param_t *params,
                          size_t n_params, hp_err_t *err);
  int (*trial_report)(hp_store_t *s, int64_t trial_id, int64_t step, double value,
                      hp_err_t *err);
  int (*trial_set_system_attr)(hp_store_t *s, int64_t trial_id, const char *key,
                               const char *value_json, hp_err_t *err);
  int (*trial_set_user_attr)(hp_store_t *s, int64_t trial_id, const char *key,
                             const char *value_json, hp_err_t *err);
  int (*trial_heartbeat)(hp_store_t *s, int64_t trial_id, hp_err_t *err);
  int (*trial_finish)(hp_store_t *s, int64_t trial_id, hp_store_state_t state,
                      const double *values, size_t n_values, const char *system_attrs_json,
                      hp_err_t *err);
  int (*trials_list)(hp_store_t *s, int64_t study_id, int64_t min_number,
                     hp_store_trial_t **out, size_t *n, hp_err_t *err);
  int (*trial_get)(hp_store_t *s, int64_t trial_id, hp_store_trial_t *out, hp_err_t *err);
  int (*trial_state)(hp_store_t *s, int64_t trial_id, hp_store_state_t *state, hp_err_t *err);
  /* NULL: hp_store_study_counts is study_list or study_get */
  int (*study_counts)(hp_store_t *s, int64_t study_id, hp_store_study_info_t **out, size_t *n,
                      hp_err_t *err);
  /* NULL: hp_store_study_brief is study_get */
  int (*study_brief)(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info, hp_err_t *err);
  /* NULL: hp_store_trials_scan reads through trials_list */
  int (*trials_scan)(hp_store_t *s, int64_t study_id, const hp_store_scan_t *scan, hp_err_t *err);
  int (*first_running)(hp_store_t *s, int64_t study_id, int64_t *number, hp_err_t *err);
  int (*best_trial)(hp_store_t *s, int64_t study_id, int64_t *trial_id, int64_t *number,
                    double *value, hp_err_t *err);
  int (*reconcile)(hp_store_t *s, const char *reason, const int64_t *keep, size_t n_keep,
                   hp_store_trial_ref_t **out, size_t *n, hp_err_t *err);
  int (*fail_stale)(hp_store_t *s, int64_t study_id, double grace, const char *reason,
                    const int64_t *keep, size_t n_keep, hp_store_trial_ref_t **out, size_t *n,
                    hp_err_t *err);
} hp_store_backend_t;

#endif

/* The PostgreSQL backend of the study store, through libpq: the schema
 * Optuna creates on PostgreSQL (native enum types, one sequence per integer
 * key, its constraint names; alembic revision v3.0.0.d or v3.2.0.a), shared
 * by several daemons and by Optuna at once. A trial number is claimed under
 * the study's row lock (SELECT ... FOR UPDATE, the lock Optuna's
 * _create_new_trial takes), a WAITING trial is popped under its row lock;
 * one connection per handle, re-opened with a growing pause after the
 * server went away (docs/scale-out.md). Every write call is one transaction,
 * or one savepoint inside a caller's batch, as in the SQLite backend. */
#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "hpsearch/json.h"
#include "store_schema.h"
#include "store_util.h"

/* ---- statements ----------------------------------------------------------
 * Prepared once per connection on first use (PQprepare; types inferred, so
 * text parameters become the enum types). */
enum {
  Q_STUDY_LOCK,
  Q_STUDY_INSERT,
  Q_DIRECTION_INSERT,
  Q_STUDY_FIND,
  Q_STUDY_EXISTS,
  Q_STUDY_NOBJ,
  Q_STUDY_DIR0,
  Q_STUDY_SYSATTR_SET,
  Q_STUDY_USERATTR_SET,
  Q_STUDY_SYSATTR_GET,
  Q_STUDY_SYSATTRS,
  Q_STUDY_USERATTRS,
  Q_TRIAL_INSERT,
  Q_TRIAL_STATE,
  Q_TRIAL_STATE_LOCK,
  Q_TRIAL_SET_STATE,
  Q_TRIAL_START,
  Q_TRIAL_FINISH_QUEUED,
  Q_PARAM_UPSERT,
  Q_INTER_UPSERT,
  Q_INTER_LAST,
  Q_VALUE_UPSERT,
  Q_TRIAL_SYSATTR_SET,
  Q_TRIAL_USERATTR_SET,
  Q_TRIAL_SYSATTRS,
  Q_HEARTBEAT_UPSERT,
  Q_WAITING_OLDEST,
  Q_RUNNING_ALL,
  Q_RUNNING_FIRST,
  Q_STALE,
  Q_BEST,
  Q_SUMMARY_STUDIES,
  Q_SUMMARY_COUNTS,
  Q_SUMMARY_DIRS,
  Q_SUMMARY_BEST,
  Q_READ_TRIALS_S,
  Q_READ_PARAMS_S,
  Q_READ_VALUES_S,
  Q_READ_INTER_S,
  Q_READ_UATTR_S,
  Q_READ_SATTR_S,
  Q_READ_TRIALS_T,
  Q_READ_PARAMS_T,
  Q_READ_VALUES_T,
  Q_READ_INTER_T,
  Q_READ_UATTR_T,
  Q_READ_SATTR_T,
  Q_READ_TRIALS_H,
  Q_READ_PARAMS_H,
  Q_READ_VALUES_H,
  Q_READ_INTER_H,
  Q_READ_UATTR_H,
  Q_READ_SATTR_H,
  Q_COUNT_
};

#define HP_SQL_P1 "$1"
#define HP_SQL_P2 "$2"
#define HP_SQL_P3 "$3"
#define HP_SQL_P4 "$4"
#include "store_util_sql.h"

/* Direction-signed value with +-inf restored from the type column. */
#define SIGNED_KEY                                                                       \
  "(CASE d.direction WHEN 'MAXIMIZE' THEN -1.0::float8 ELSE 1.0::float8 END * "          \
  "CASE v.value_type WHEN 'FINITE' THEN v.value WHEN 'INF_POS' THEN 'Infinity'::float8 "  \
  "WHEN 'INF_NEG' THEN '-Infinity'::float8 END)"
/* A study's trials from number $2 on, by the primary key from trial_id $3
 * (a trial known to number at most $2: within a study, numbers follow
 * trial_ids), not through the study's index (all its trials). */
#define BY_STUDY_FROM_ID                                                                 \
  "t.trial_id BETWEEN $3::int AND 2147483647 AND t.study_id + 0 = $1 AND t.number >= $2"
#define BEST_FROM                                                                        \
  " FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "   \
  "JOIN study_directions d ON d.study_id = t.study_id AND d.objective = 0 "              \
  "WHERE t.state = 'COMPLETE' AND " SIGNED_KEY " IS NOT NULL AND "

static const char *const SQL[Q_COUNT_] = {
    /* Optuna's _create_new_trial takes the same lock. */
    [Q_STUDY_LOCK] = "SELECT study_id FROM studies WHERE study_id = $1 FOR UPDATE",
    [Q_STUDY_INSERT] = "INSERT INTO studies (study_name) VALUES ($1) RETURNING study_id",
    [Q_DIRECTION_INSERT] =
        "INSERT INTO study_directions (direction, study_id, objective) VALUES ($1, $2, $3)",
    [Q_STUDY_FIND] = "SELECT study_id FROM studies WHERE study_name = $1",
    [Q_STUDY_EXISTS] = "SELECT 1 FROM studies WHERE study_id = $1",
    [Q_STUDY_NOBJ] = "SELECT count(*) FROM study_directions WHERE study_id = $1",
    [Q_STUDY_DIR0] =
        "SELECT direction FROM study_directions WHERE study_id = $1 AND objective = 0",
    [Q_STUDY_SYSATTR_SET] =
        "INSERT INTO study_system_attributes (study_id, key, value_json) VALUES ($1, $2, $3) "
        "ON CONFLICT (study_id, key) DO UPDATE SET value_json = excluded.value_json",
    [Q_STUDY_USERATTR_SET] =
        "INSERT INTO study_user_attributes (study_id, key, value_json) VALUES ($1, $2, $3) "
        "ON CONFLICT (study_id, key) DO UPDATE SET value_json = excluded.value_json",
    [Q_STUDY_SYSATTR_GET] =
        "SELECT value_json FROM study_system_attributes WHERE study_id = $1 AND key = $2",
    [Q_STUDY_SYSATTRS] = "SELECT key, value_json FROM study_system_attributes "
                         "WHERE study_id = $1 ORDER BY study_system_attribute_id",
    [Q_STUDY_USERATTRS] = "SELECT key, value_json FROM study_user_attributes "
                          "WHERE study_id = $1 ORDER BY study_user_attribute_id",
    /* The number: $1 trials counted before up to trial_id $5, plus those
     * created since (under the study's lock, as Optuna counts: ids of a
     * study only grow, and every earlier one is committed). */
    /* The count walks the primary key from $5 (a few rows), never the
     * study's index (every trial of the study: a planner without fresh
     * statistics picks it): a range on trial_id, and "+ 0" hides study_id.
     * The trial, its params ($6 names, $7 values, $8 distributions), its
     * system attributes ($9 keys, $10 values), and when $11 its first
     * heartbeat, in one statement: one execution on the server, rows in
     * the order given. */
    [Q_TRIAL_INSERT] =
        "WITH c AS (SELECT count(*) AS n FROM trials WHERE trial_id BETWEEN $5::int + 1 AND "
        "2147483647 AND study_id + 0 = $2), t AS (INSERT INTO trials (number, study_id, state, "
        "datetime_start, datetime_complete) SELECT $1::int + c.n, $2, $3, $4, NULL FROM c "
        "RETURNING trial_id, number), p AS (INSERT INTO trial_params (trial_id, param_name, "
        "param_value, distribution_json) SELECT t.trial_id, x.n, x.v, x.d FROM t, "
        "unnest($6::text[], $7::float8[], $8::text[]) WITH ORDINALITY AS x(n, v, d, i) "
        "ORDER BY x.i), a AS (INSERT INTO trial_system_attributes (trial_id, key, value_json) "
        "SELECT t.trial_id, y.k, y.v FROM t, unnest($9::text[], $10::text[]) WITH ORDINALITY "
        "AS y(k, v, i) ORDER BY y.i), h AS (INSERT INTO trial_heartbeats (trial_id, heartbeat) "
        "SELECT trial_id, statement_timestamp() FROM t WHERE $11::bool) "
        "SELECT trial_id, number FROM t",
    [Q_TRIAL_STATE] = "SELECT state, study_id FROM trials WHERE trial_id = $1",
    /* Finishing locks the row: a peer failing stale trials skips it. */
    [Q_TRIAL_STATE_LOCK] = "SELECT state, study_id FROM trials WHERE trial_id = $1 FOR UPDATE",
    [Q_TRIAL_SET_STATE] = "UPDATE trials SET state = $2, datetime_complete = $3, "
                          "datetime_start = COALESCE(datetime_start, $3) WHERE trial_id = $1",
    [Q_TRIAL_START] = "UPDATE trials SET state = 'RUNNING', datetime_start = $2 "
                      "WHERE trial_id = $1",
    /* A finish queued inside a batch, with its values ($5, types $6, in
     * objective order): the trial must be unfinished and, when $4 >= 0,
     * its study must have $4 objectives; otherwise the division by zero
     * fails the statement, and with it the batch (the daemon then reloads,
     * and drops the end of a trial no longer RUNNING). */
    [Q_TRIAL_FINISH_QUEUED] =
        "WITH u AS (UPDATE trials SET state = $2, datetime_complete = $3, datetime_start = "
        "COALESCE(datetime_start, $3) WHERE trial_id = $1 AND state IN ('RUNNING', 'WAITING') "
        "RETURNING study_id), v AS (INSERT INTO trial_values (trial_id, objective, value, "
        "value_type) SELECT $1, x.o - 1, x.v, x.t FROM u, unnest($5::float8[], "
        "$6::trialvaluetype[]) WITH ORDINALITY AS x(v, t, o) ORDER BY x.o ON CONFLICT (trial_id, "
        "objective) DO UPDATE SET value = excluded.value, value_type = excluded.value_type) "
        "SELECT 1 / (SELECT count(*)::int FROM u WHERE $4::int < 0 OR $4 = "
        "(SELECT count(*) FROM study_directions d WHERE d.study_id = u.study_id)) AS finished",
    [Q_PARAM_UPSERT] =
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (trial_id, param_name) DO UPDATE SET "
        "param_value = excluded.param_value, distribution_json = excluded.distribution_json",
    [Q_INTER_UPSERT] =
        "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, "
        "intermediate_value_type) VALUES ($1, $2, $3, $4) ON CONFLICT (trial_id, step) DO "
        "UPDATE SET intermediate_value = excluded.intermediate_value, "
        "intermediate_value_type = excluded.intermediate_value_type",
    [Q_INTER_LAST] = "SELECT intermediate_value, intermediate_value_type FROM "
                     "trial_intermediate_values WHERE trial_id = $1 ORDER BY step DESC LIMIT 1",
    [Q_VALUE_UPSERT] =
        "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES ($1, $2, $3, "
        "$4) ON CONFLICT (trial_id, objective) DO UPDATE SET value = excluded.value, "
        "value_type = excluded.value_type",
    [Q_TRIAL_SYSATTR_SET] =
        "INSERT INTO trial_system_attributes (trial_id, key, value_json) VALUES ($1, $2, $3) "
        "ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json",
    [Q_TRIAL_USERATTR_SET] =
        "INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES ($1, $2, $3) "
        "ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json",
    [Q_TRIAL_SYSATTRS] = "SELECT key, value_json FROM trial_system_attributes "
                         "WHERE trial_id = $1 ORDER BY trial_system_attribute_id",
    /* The statement's time, not the transaction's: a batch may be open a
     * while before its beats. */
    [Q_HEARTBEAT_UPSERT] =
        "INSERT INTO trial_heartbeats (trial_id, heartbeat) SELECT trial_id, "
        "statement_timestamp() FROM trials WHERE trial_id = $1 AND state = 'RUNNING' "
        "ON CONFLICT (trial_id) DO UPDATE SET heartbeat = excluded.heartbeat",
    [Q_WAITING_OLDEST] = "SELECT trial_id, number FROM trials WHERE study_id = $1 AND "
                         "state = 'WAITING' ORDER BY number, trial_id LIMIT 1 "
                         "FOR UPDATE SKIP LOCKED",
    [Q_RUNNING_ALL] = "SELECT study_id, trial_id, number FROM trials WHERE state = 'RUNNING' "
                      "ORDER BY trial_id FOR UPDATE",
    [Q_RUNNING_FIRST] = "SELECT min(number) FROM trials WHERE study_id = $1 AND "
                        "state = 'RUNNING'",
    /* As Optuna's _get_stale_trial_ids: RUNNING with a heartbeat older than
     * the grace period by the server's clock. */
    [Q_STALE] = "SELECT t.trial_id, t.number FROM trials t JOIN trial_heartbeats h ON "
                "h.trial_id = t.trial_id WHERE t.study_id = $1 AND t.state = 'RUNNING' AND "
                "h.heartbeat < statement_timestamp() - make_interval(secs => $2) "
                "ORDER BY t.trial_id FOR UPDATE OF t SKIP LOCKED",
    [Q_BEST] = "SELECT t.trial_id, t.number, " SIGNED_KEY " AS k" BEST_FROM
               "t.study_id = $1 ORDER BY k, t.number LIMIT 1",
    [Q_SUMMARY_STUDIES] = "SELECT study_id, study_name FROM studies "
                          "WHERE $1::int < 0 OR study_id = $1 ORDER BY study_id",
    [Q_SUMMARY_COUNTS] =
        "SELECT study_id, count(*), count(*) FILTER (WHERE state = 'RUNNING'), "
        "count(*) FILTER (WHERE state = 'COMPLETE'), count(*) FILTER (WHERE state = 'PRUNED'), "
        "count(*) FILTER (WHERE state = 'FAIL'), count(*) FILTER (WHERE state = 'WAITING'), "
        "min(datetime_start), max(datetime_complete) FROM trials "
        "WHERE $1::int < 0 OR study_id = $1 GROUP BY study_id",
    [Q_SUMMARY_DIRS] = "SELECT study_id, objective, direction FROM study_directions "
                       "WHERE $1::int < 0 OR study_id = $1 ORDER BY study_id, objective",
    [Q_SUMMARY_BEST] = "SELECT DISTINCT ON (t.study_id) t.study_id, " SIGNED_KEY " AS k, "
                       "t.number, t.trial_id" BEST_FROM "($1::int < 0 OR t.study_id = $1) "
                       "ORDER BY t.study_id, k, t.number",
    [Q_READ_TRIALS_S] = READ_TRIALS(BY_STUDY),
    [Q_READ_PARAMS_S] = READ_PARAMS(BY_STUDY),
    [Q_READ_VALUES_S] = READ_VALUES(BY_STUDY),
    [Q_READ_INTER_S] = READ_INTER(BY_STUDY),
    [Q_READ_UATTR_S] = READ_ATTR("trial_user_attribute", BY_STUDY),
    [Q_READ_SATTR_S] = READ_ATTR("trial_system_attribute", BY_STUDY),
    [Q_READ_TRIALS_T] = READ_TRIALS(BY_TRIAL),
    [Q_READ_PARAMS_T] = READ_PARAMS(BY_TRIAL),
    [Q_READ_VALUES_T] = READ_VALUES(BY_TRIAL),
    [Q_READ_INTER_T] = READ_INTER(BY_TRIAL),
    [Q_READ_UATTR_T] = READ_ATTR("trial_user_attribute", BY_TRIAL),
    [Q_READ_SATTR_T] = READ_ATTR("trial_system_attribute", BY_TRIAL),
    [Q_READ_TRIALS_H] = READ_TRIALS(BY_STUDY_FROM_ID),
    /* The child rows of the trial_ids from $1 to $2 through each table's
     * (trial_id, ...) index; rows of trials not read are skipped. */
    [Q_READ_PARAMS_H] = READ_PARAMS_RANGE,
    [Q_READ_VALUES_H] = READ_VALUES_RANGE,
    [Q_READ_INTER_H] = READ_INTER_RANGE,
    [Q_READ_UATTR_H] = READ_ATTR_RANGE("trial_user_attribute"),
    [Q_READ_SATTR_H] = READ_ATTR_RANGE("trial_system_attribute"),
};

/* ---- schema ----------------------------------------------------------------
 * What SQLAlchemy emits for Optuna's models on PostgreSQL (checked against
 * pg_dump --schema-only of a database Optuna 3.1 and Optuna 5 created:
 * /work/shared/reference/optuna{31,5}-postgresql-schema.sql and
 * tests/store/pg_schema_*.sql). SERIAL gives the integer sequences
 * <table>_<column>_seq owned by the column; the constraint names are
 * PostgreSQL's defaults, as SQLAlchemy names none but alembic's. */
static const char *const ENUMS[][2] = {
    {"studydirection", "CREATE TYPE studydirection AS ENUM ('NOT_SET', 'MINIMIZE', 'MAXIMIZE')"},
    {"trialstate",
     "CREATE TYPE trialstate AS ENUM ('RUNNING', 'COMPLETE', 'PRUNED', 'FAIL', 'WAITING')"},
    {"trialvaluetype", "CREATE TYPE trialvaluetype AS ENUM ('FINITE', 'INF_POS', 'INF_NEG')"},
    {"trialintermediatevaluetype",
     "CREATE TYPE trialintermediatevaluetype AS ENUM ('FINITE', 'INF_POS', 'INF_NEG', 'NAN')"},
};

static const struct {
  const char *name; /* table or index */
  const char *ddl;
  hp_store_rev_t since;
} TABLES[] = {
    {"studies",
     "CREATE TABLE studies (study_id SERIAL NOT NULL, study_name VARCHAR(512) NOT NULL, "
     "PRIMARY KEY (study_id))", HP_STORE_REV_V300D},
    {"ix_studies_study_name", "CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name)",
     HP_STORE_REV_V300D},
    {"version_info",
     "CREATE TABLE version_info (version_info_id INTEGER NOT NULL, schema_version INTEGER, "
     "library_version VARCHAR(256), PRIMARY KEY (version_info_id), "
     "CHECK (version_info_id = 1))", HP_STORE_REV_V300D},
    {"study_directions",
     "CREATE TABLE study_directions (study_direction_id SERIAL NOT NULL, direction "
     "studydirection NOT NULL, study_id INTEGER NOT NULL, objective INTEGER NOT NULL, "
     "PRIMARY KEY (study_direction_id), UNIQUE (study_id, objective), "
     "FOREIGN KEY(study_id) REFERENCES studies (study_id))", HP_STORE_REV_V300D},
    {"study_user_attributes",
     "CREATE TABLE study_user_attributes (study_user_attribute_id SERIAL NOT NULL, study_id "
     "INTEGER, key VARCHAR(512), value_json TEXT, PRIMARY KEY (study_user_attribute_id), "
     "UNIQUE (study_id, key), FOREIGN KEY(study_id) REFERENCES studies (study_id))",
     HP_STORE_REV_V300D},
    {"study_system_attributes",
     "CREATE TABLE study_system_attributes (study_system_attribute_id SERIAL NOT NULL, study_id "
     "INTEGER, key VARCHAR(512), value_json TEXT, PRIMARY KEY (study_system_attribute_id), "
     "UNIQUE (study_id, key), FOREIGN KEY(study_id) REFERENCES studies (study_id))",
     HP_STORE_REV_V300D},
    {"trials",
     "CREATE TABLE trials (trial_id SERIAL NOT NULL, number INTEGER, study_id INTEGER, state "
     "trialstate NOT NULL, datetime_start TIMESTAMP WITHOUT TIME ZONE, datetime_complete "
     "TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (trial_id), FOREIGN KEY(study_id) REFERENCES "
     "studies (study_id))", HP_STORE_REV_V300D},
    {"ix_trials_study_id", "CREATE INDEX ix_trials_study_id ON trials (study_id)",
     HP_STORE_REV_V320A},
    {"trial_user_attributes",
     "CREATE TABLE trial_user_attributes (trial_user_attribute_id SERIAL NOT NULL, trial_id "
     "INTEGER, key VARCHAR(512), value_json TEXT, PRIMARY KEY (trial_user_attribute_id), "
     "UNIQUE (trial_id, key), FOREIGN KEY(trial_id) REFERENCES trials (trial_id))",
     HP_STORE_REV_V300D},
    {"trial_system_attributes",
     "CREATE TABLE trial_system_attributes (trial_system_attribute_id SERIAL NOT NULL, trial_id "
     "INTEGER, key VARCHAR(512), value_json TEXT, PRIMARY KEY (trial_system_attribute_id), "
     "UNIQUE (trial_id, key), FOREIGN KEY(trial_id) REFERENCES trials (trial_id))",
     HP_STORE_REV_V300D},
    {"trial_params",
     "CREATE TABLE trial_params (param_id SERIAL NOT NULL, trial_id INTEGER, param_name "
     "VARCHAR(512), param_value FLOAT, distribution_json TEXT, PRIMARY KEY (param_id), "
     "UNIQUE (trial_id, param_name), FOREIGN KEY(trial_id) REFERENCES trials (trial_id))",
     HP_STORE_REV_V300D},
    {"trial_values",
     "CREATE TABLE trial_values (trial_value_id SERIAL NOT NULL, trial_id INTEGER NOT NULL, "
     "objective INTEGER NOT NULL, value FLOAT, value_type trialvaluetype NOT NULL, PRIMARY KEY "
     "(trial_value_id), UNIQUE (trial_id, objective), FOREIGN KEY(trial_id) REFERENCES trials "
     "(trial_id))", HP_STORE_REV_V300D},
    {"trial_intermediate_values",
     "CREATE TABLE trial_intermediate_values (trial_intermediate_value_id SERIAL NOT NULL, "
     "trial_id INTEGER NOT NULL, step INTEGER NOT NULL, intermediate_value FLOAT, "
     "intermediate_value_type trialintermediatevaluetype NOT NULL, PRIMARY KEY "
     "(trial_intermediate_value_id), UNIQUE (trial_id, step), FOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id))", HP_STORE_REV_V300D},
    {"trial_heartbeats",
     "CREATE TABLE trial_heartbeats (trial_heartbeat_id SERIAL NOT NULL, trial_id INTEGER NOT "
     "NULL, heartbeat TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (trial_heartbeat_id), "
     "UNIQUE (trial_id), FOREIGN KEY(trial_id) REFERENCES trials (trial_id))",
     HP_STORE_REV_V300D},
    {"alembic_version",
     "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT "
     "alembic_version_pkc PRIMARY KEY (version_num))", HP_STORE_REV_V300D},
};
#define N_TABLES (sizeof TABLES / sizeof TABLES[0])
/* The index on trials.study_id under the name `optuna storage upgrade`
 * gives it (alembic's v3.2.0.a migration). */
#define UPGRADE_INDEX "CREATE INDEX trials_study_id_key ON trials (study_id)"

/* ---- the handle ------------------------------------------------------------ */

/* What is known about a study between calls. next_number and last_id hold
 * only while this handle has the study locked; n_objectives never changes. */
typedef struct study_cache {
  int64_t study_id;
  int64_t count;   /* trials of the study with trial_id <= last_id */
  int64_t last_id; /* largest trial_id counted */
  int n_objectives;
} study_cache_t;

/* Trials of one study as last read (number order): where a later read
 * from a number on can start in trial_ids. Never wrong (a trial keeps its
 * number and id), so never cleared. */
typedef struct id_hint {
  int64_t study_id;
  size_t n;
  int64_t *number, *trial_id;
} id_hint_t;

typedef struct pg {
  const hp_store_backend_t *be; /* &pg_backend (first: store/backend.c dispatches on it) */
  PGconn *c;                    /* the one connection */
  char *url;                    /* as given (may hold a password) */
  char *name;                   /* the URL without password, for messages */
  bool readonly;                /* HP_STORE_READONLY */
  bool batch;                   /* inside hp_store_begin .. commit */
  bool tx_open;                 /* a transaction is open: a statement was sent since
                                   the last commit (a batch opens it with its first
                                   statement, not at its start) */
  bool tx_begun;                /* ... and BEGIN was sent (else it is the server's
                                   implicit one, which the next sync point commits) */
  bool in_call;                 /* a call's transaction (or its part of a batch) is open */
  bool sp_open;                 /* the call took a savepoint (before its first wait) */
  uint64_t n_sent;              /* statements queued on this connection so far */
  uint64_t call_start;          /* n_sent when the call began */
  uint64_t sp_at;               /* n_sent just after its SAVEPOINT */
  int64_t fresh_beat;           /* trial created with its beat in this transaction */
  bool aborted;                 /* the batch's transaction cannot commit any more */
  bool dirty;                   /* the open transaction wrote (a claim then cannot commit early) */
  bool join_claim;              /* ... unless all it wrote is the current request's, which
                                   commits with the next claim (pg_claim_join) */
  bool prepared[Q_COUNT_];      /* statements prepared on this connection */
  int pending;                  /* statements queued whose results are not read */
  int *slot;                    /* [pending]: where each result goes (keep[k]; -1: only checked) */
  int cap_slot;
  hp_store_rev_t rev;           /* alembic revision; v3.2.0.a: datetimes in UTC */
  int64_t version;              /* hp_store_data_version's counter */
  double t_version;             /* monotonic time the counter last moved */
  double t_connect;             /* monotonic: no reconnection attempt before */
  double backoff;               /* seconds to the next attempt after a failed one */
  int64_t *locked;              /* studies locked by this transaction */
  size_t n_locked, cap_locked;
  study_cache_t *cache;
  size_t n_cache, cap_cache;
  struct id_hint *hints;        /* per study: (number, trial_id) pairs seen */
  size_t n_hints;
} pg_t;

static const hp_store_backend_t pg_backend;

static pg_t *PG(hp_store_t *h) { return (pg_t *)(void *)h; }
static const pg_t *CPG(const hp_store_t *h) { return (const pg_t *)(const void *)h; }

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool utc_times(const pg_t *s) { return s->rev == HP_STORE_REV_V320A; }

/* The error text of the connection, without libpq's trailing newline. */
static int pg_fail(pg_t *s, hp_err_t *err, const char *what, const PGresult *r) {
  const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(s->c);
  if (!m || !*m) m = PQerrorMessage(s->c);
  size_t n = strlen(m);
  while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' ')) n--;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  /* 23505: unique_violation (a name or a key another writer took). */
  int code = state && strcmp(state, "23505") == 0 ? HP_EEXIST : HP_EDB;
  return hp_err_set(err, code, "%s: %s: %.*s", s->name, what, (int)n, m);
}

/* Parameters as text (NULL = SQL NULL). */
typedef struct args {
  const char *v[12];
  char buf[12][32];
  int n;
} args_t;

static void a_int(args_t *a, int64_t x) {
  snprintf(a->buf[a->n], sizeof a->buf[0], "%lld", (long long)x);
  a->v[a->n] = a->buf[a->n];
  a->n++;
}
static void a_dbl(args_t *a, double x) { /* finite only: 17 digits round-trip */
  snprintf(a->buf[a->n], sizeof a->buf[0], "%.17g", x);
  a->v[a->n] = a->buf[a->n];
  a->n++;
}
static void a_str(args_t *a, const char *x) { a->v[a->n++] = x; }

/* A value and its type column: NULL + INF_POS/INF_NEG/NAN when not finite. */
static void a_value(args_t *a, double v) {
  if (isfinite(v))
    a_dbl(a, v);
  else
    a_str(a, NULL);
  a_str(a, hp_store_value_type(v));
}

static int64_t col_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}
static double col_dbl(const PGresult *r, int row, int col) {
  return strtod(PQgetvalue(r, row, col), NULL); /* "Infinity", "-Infinity" too */
}
static const char *col_str(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
static double col_value(const PGresult *r, int row, int iv, int it) {
  return hp_store_value_of(col_str(r, row, it), PQgetisnull(r, row, iv), col_dbl(r, row, iv));
}

/* ---- connection -------------------------------------------------------------- */

/* The server's notices (e.g. "terminating connection due to administrator
 * command" before a restart) are not printed: the store reports errors
 * through its calls only. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* Settings of every session.
 * A daemon answers a trial's end once its commit returned; so that the
 * answer means "on disk" (flushed to the server's WAL, as its fsync
 * setting allows) and not only "visible", a server or database whose
 * synchronous_commit is off gets on for this session: an asynchronous
 * commit is lost when the server crashes within its WAL writer's delay
 * (up to 3 x wal_writer_delay) after it. Any other value (local,
 * remote_write, on, remote_apply) flushes locally and is kept. */
static int session_setup(pg_t *s, hp_err_t *err) {
  PQsetNoticeProcessor(s->c, quiet, NULL);
  const char *sql = s->readonly ? "SET DateStyle = ISO; SET default_transaction_read_only = on"
                                : "SELECT set_config('synchronous_commit', 'on', false) WHERE "
                                  "current_setting('synchronous_commit') = 'off'; "
                                  "SET DateStyle = ISO; SET plan_cache_mode = force_generic_plan";
  PGresult *r = PQexec(s->c, sql);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? HP_OK : pg_fail(s, err, "session setup", r);
  PQclear(r);
  memset(s->prepared, 0, sizeof s->prepared);
  return rc;
}

/* Before a call that starts its own transaction: a connection the server
 * dropped (restart, network) is opened again, at most once per backoff
 * period (0.1 s doubling to 5 s), so a daemon neither spins on a dead
 * server nor waits long once it is back. */
static int conn_ready(pg_t *s, hp_err_t *err) {
  if (PQstatus(s->c) == CONNECTION_OK) return HP_OK;
  double now = mono_now();
  if (now < s->t_connect)
    return hp_err_set(err, HP_EDB, "%s: connection lost; next attempt in %.1f s", s->name,
                      s->t_connect - now);
  s->pending = 0;
  PQreset(s->c);
  if (PQstatus(s->c) == CONNECTION_OK && session_setup(s, err) == HP_OK &&
      PQenterPipelineMode(s->c)) {
    s->backoff = 0;
    s->t_connect = 0;
    s->n_cache = 0;
    s->version++; /* anything may have happened meanwhile */
    return HP_OK;
  }
  s->backoff = s->backoff > 0 ? (s->backoff * 2 < 5 ? s->backoff * 2 : 5) : 0.1;
  s->t_connect = now + s->backoff;
  return pg_fail(s, err, "reconnecting", NULL);
}

/* ---- execution --------------------------------------------------------------
 * Once open, the connection is in libpq's pipeline mode: a statement whose
 * result is not needed at once (a write, BEGIN, SAVEPOINT, RELEASE) is only
 * queued; one whose result is needed is queued with a sync point, and the
 * results of everything queued before it are read then. A trial costs a
 * few round trips to the server, not one per statement. A queued statement
 * that fails fails the batch (its commit is refused), as a failed write
 * does. */

/* Notes one more queued statement whose result goes to keep[k] at the
 * next flush (k < 0: only checked). */
static bool queued(pg_t *s, int k) {
  if (s->pending == s->cap_slot) {
    int cap = s->cap_slot ? 2 * s->cap_slot : 64;
    int *p = realloc(s->slot, (size_t)cap * sizeof *p);
    if (!p) return false;
    s->slot = p, s->cap_slot = cap;
  }
  s->slot[s->pending++] = k;
  s->n_sent++;
  return true;
}

/* Queues plain SQL (one statement) with parameters a (NULL: none). */
static bool send_sql(pg_t *s, const char *sql, const args_t *a) {
  return PQsendQueryParams(s->c, sql, a ? a->n : 0, NULL, a ? a->v : NULL, NULL, NULL, 0) &&
         queued(s, -1);
}

/* A batch's transaction begins with its first statement: a batch that
 * writes nothing costs nothing, and one whose claim committed early
 * (pg_trial_create) goes on in a new transaction. It begins without BEGIN:
 * the server runs the statements of a pipeline up to its next sync point
 * as one implicit transaction, committed by that sync point (and rolled
 * back whole when one of them fails). A batch that waits for nothing
 * before its commit (a trial's end, a claim) thus needs no BEGIN and no
 * COMMIT, two statements of five per trial; one that must wait for a
 * result within it, or take a savepoint, sends BEGIN first (tx_hold),
 * which turns the implicit transaction, with what it ran so far, into an
 * ordinary one. */
static bool tx_ensure(pg_t *s) {
  if (!s->batch || s->tx_open) return true;
  s->tx_open = true;
  s->tx_begun = false;
  return true;
}

/* Before a sync point that must not end the open transaction, and before
 * a SAVEPOINT (only allowed in a transaction block): BEGIN. It is not the
 * current call's statement when the call queued nothing before it. */
static bool tx_hold(pg_t *s) {
  if (!s->tx_open || s->tx_begun) return true;
  bool call_empty = s->in_call && s->call_start == s->n_sent;
  if (!send_sql(s, "BEGIN", NULL)) return false;
  s->tx_begun = true;
  if (call_empty) s->call_start = s->n_sent;
  return true;
}

/* Queues statement id (prepared on this connection on first use); its
 * result goes to keep[k] at the next flush (k < 0: only checked; k <= -2
 * marks the prepare of statement -2 - k). */
static bool send_prepared(pg_t *s, int id, const args_t *a, int k) {
  if (!tx_ensure(s)) return false;
  char name[16];
  snprintf(name, sizeof name, "hp%d", id);
  if (!s->prepared[id]) {
    /* Its slot (-2 - id) tells flush to forget the statement again if the
     * server skipped the prepare (an earlier error in the same pipeline). */
    if (!PQsendPrepare(s->c, name, SQL[id], 0, NULL) || !queued(s, -2 - id)) return false;
    s->prepared[id] = true;
  }
  return PQsendQueryPrepared(s->c, name, a ? a->n : 0, a ? a->v : NULL, NULL, NULL, 0) &&
         queued(s, k);
}

/* A sync point: reads the result of every queued statement. Those queued
 * for keep[k] are handed back there (the caller clears them), the others
 * only checked. The first error of any is returned (HP_EDB, or HP_EEXIST
 * for a unique key); keep[] is then all NULL. An error of an earlier,
 * already answered call's statement makes the open batch fail. */
static int flush(pg_t *s, int n_keep, PGresult **keep, const char *what, hp_err_t *err) {
  for (int i = 0; i < n_keep; i++) keep[i] = NULL;
  /* the sync point would commit an implicit transaction: not the end of
   * one (its caller cleared tx_open first) */
  if (!tx_hold(s)) return pg_fail(s, err, what, NULL);
  int n = s->pending, rc = HP_OK;
  s->pending = 0;
  if (!PQpipelineSync(s->c)) return pg_fail(s, err, what, NULL);
  for (int i = 0; i < n; i++) {
    PGresult *r = PQgetResult(s->c);
    if (r == NULL) { /* the connection is gone */
      if (!rc) rc = pg_fail(s, err, what, NULL);
      break;
    }
    ExecStatusType st = PQresultStatus(r);
    int k = s->slot[i];
    if (k <= -2 && st != PGRES_COMMAND_OK) s->prepared[-2 - k] = false; /* not prepared */
    if (st == PGRES_FATAL_ERROR && !rc) {
      rc = pg_fail(s, err, what, r);
      if (k < 0 && s->batch) s->aborted = true;
    } else if (st == PGRES_PIPELINE_ABORTED && !rc) {
      rc = hp_err_set(err, HP_EDB, "%s: %s: not run after an earlier error", s->name, what);
    }
    if (k >= 0 && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
      keep[k] = r;
    else
      PQclear(r);
    PGresult *z;
    while ((z = PQgetResult(s->c)) != NULL) PQclear(z); /* the end of this statement */
  }
  PGresult *r = PQgetResult(s->c); /* the sync point */
  if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
    if (!rc) rc = pg_fail(s, err, what, r);
  }
  PQclear(r);
  if (rc)
    for (int i = 0; i < n_keep; i++) {
      PQclear(keep[i]);
      keep[i] = NULL;
    }
  return rc;
}

static int exec_later(pg_t *s, const char *sql, hp_err_t *err);

/* Runs statements ids[0..n) (args[i]; NULL: none) in one round trip; their
 * results into out[] (each with status want[i]), or an error (out all NULL).
 * Inside a batch, a call's first wait takes its savepoint (savepoint:
 * true), so that an error it reports (a missing row, a taken name) undoes
 * the call and not the batch; without one, an error fails the batch. */
static int q_many(pg_t *s, int n, const int *ids, const args_t *const *args,
                  const ExecStatusType *want, PGresult **out, bool savepoint, const char *what,
                  hp_err_t *err) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  if (!s->batch && !s->in_call && conn_ready(s, err)) return HP_EDB;
  if (savepoint && s->batch && s->in_call && !s->sp_open) {
    if (!tx_ensure(s) || !tx_hold(s)) return pg_fail(s, err, what, NULL);
    if (exec_later(s, "SAVEPOINT hp_op", err)) return HP_EDB;
    s->sp_open = true;
    s->sp_at = s->n_sent;
  }
  for (int i = 0; i < n; i++)
    if (!send_prepared(s, ids[i], args[i], i)) return pg_fail(s, err, what, NULL);
  int rc = flush(s, n, out, what, err);
  for (int i = 0; !rc && i < n; i++)
    if (out[i] == NULL || PQresultStatus(out[i]) != want[i])
      rc = hp_err_set(err, HP_EDB, "%s: %s: unexpected result", s->name, what);
  if (rc)
    for (int i = 0; i < n; i++) {
      PQclear(out[i]);
      out[i] = NULL;
    }
  return rc;
}

/* Runs statement id with parameters a (NULL: none) and waits for it; the
 * result, or NULL with err set. want: PGRES_TUPLES_OK or PGRES_COMMAND_OK. */
static PGresult *q(pg_t *s, int id, const args_t *a, ExecStatusType want, const char *what,
                   hp_err_t *err) {
  PGresult *r;
  const args_t *args[1] = {a};
  return q_many(s, 1, &id, args, &want, &r, true, what, err) ? NULL : r;
}

/* Queues a write whose result is not needed now (see "execution"). */
static int q_do(pg_t *s, int id, const args_t *a, const char *what, hp_err_t *err) {
  if (!s->batch && !s->in_call && conn_ready(s, err)) return HP_EDB;
  if (!send_prepared(s, id, a, -1)) return pg_fail(s, err, what, NULL);
  s->dirty = true;
  return HP_OK;
}

/* Plain SQL without parameters (transaction control, DDL), waited for;
 * before the pipeline is on (open, upgrade) several statements may be
 * given at once. */
static int exec_sql(pg_t *s, const char *sql, hp_err_t *err) {
  if (PQpipelineStatus(s->c) == PQ_PIPELINE_ON) {
    if (!send_sql(s, sql, NULL)) return pg_fail(s, err, sql, NULL);
    return flush(s, 0, NULL, sql, err);
  }
  PGresult *r = PQexec(s->c, sql);
  ExecStatusType st = PQresultStatus(r);
  int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? HP_OK : pg_fail(s, err, sql, r);
  PQclear(r);
  return rc;
}

/* Queues transaction control whose result is not needed now. */
static int exec_later(pg_t *s, const char *sql, hp_err_t *err) {
  return tx_ensure(s) && send_sql(s, sql, NULL) ? HP_OK : pg_fail(s, err, sql, NULL);
}

/* ---- transactions ------------------------------------------------------------ */

static void cache_clear(pg_t *s) { s->n_cache = 0; }

static void tx_forget(pg_t *s) {
  s->n_locked = 0;
  s->fresh_beat = 0;
  s->dirty = false;
  s->join_claim = false;
}

/* COMMIT (peers see it at their next look: pg_data_version). */
static int commit_tx(pg_t *s, hp_err_t *err) {
  if (!s->tx_open) { /* nothing sent since the last commit */
    tx_forget(s);
    return HP_OK;
  }
  bool begun = s->tx_begun;
  s->tx_open = s->tx_begun = false;
  /* an implicit transaction: the sync point commits it */
  int rc = begun ? exec_sql(s, "COMMIT", err) : flush(s, 0, NULL, "COMMIT", err);
  tx_forget(s);
  return rc;
}

/* ROLLBACK also ends an implicit transaction, undoing what it ran (the
 * server warns that no transaction block is open). */
static void rollback_tx(pg_t *s) {
  bool open = s->tx_open || s->pending;
  s->tx_open = s->tx_begun = false;
  if (PQstatus(s->c) == CONNECTION_OK && open) exec_sql(s, "ROLLBACK", NULL);
  s->pending = 0;
  tx_forget(s);
  cache_clear(s);
}

/* Starts the atomic unit of one call: a transaction (queued: no round
 * trip), or a part of a batch, which takes a savepoint only before its
 * first wait for a result (q_many): a call that only queues writes has no
 * error to undo at its end (a queued write that fails fails the batch). */
static int tx_begin(pg_t *s, hp_err_t *err) {
  if (s->readonly) return hp_err_set(err, HP_ESTATE, "%s: opened read-only", s->name);
  if (s->batch && s->aborted)
    return hp_err_set(err, HP_EDB, "%s: the batch was rolled back after an earlier error",
                      s->name);
  if (!s->batch && conn_ready(s, err)) return HP_EDB;
  s->sp_open = false;
  s->call_start = s->n_sent;
  if (!s->batch) {
    int rc = exec_later(s, "BEGIN", err);
    if (rc) return rc;
    s->tx_open = s->tx_begun = true;
  }
  s->in_call = true;
  return HP_OK;
}

/* Ends the unit: commits (or releases its savepoint) when rc == 0, else
 * undoes everything of the call; in a batch, what the call queued before
 * its savepoint (or without one) cannot be undone alone: the batch fails.
 * Returns rc or the commit's error. */
static int tx_end(pg_t *s, int rc, hp_err_t *err) {
  s->in_call = false;
  bool sp = s->sp_open;
  s->sp_open = false;
  if (rc == 0) {
    rc = !s->batch ? commit_tx(s, err) : sp ? exec_later(s, "RELEASE SAVEPOINT hp_op", err) : 0;
    if (rc == 0) return 0;
  }
  cache_clear(s);
  if (s->batch) {
    uint64_t before = sp ? s->sp_at - 1 : s->n_sent; /* what the call queued unguarded */
    if (before > s->call_start) s->aborted = true;
    if (sp && (exec_later(s, "ROLLBACK TO SAVEPOINT hp_op", NULL) ||
               exec_later(s, "RELEASE SAVEPOINT hp_op", NULL)))
      s->aborted = true;
  } else {
    rollback_tx(s);
  }
  return rc;
}

static int pg_begin(hp_store_t *h, hp_err_t *err) {
  pg_t *s = PG(h);
  if (s->readonly) return hp_err_set(err, HP_ESTATE, "%s: opened read-only", s->name);
  if (s->batch) return hp_err_set(err, HP_ESTATE, "store: batch already open");
  if (conn_ready(s, err)) return HP_EDB;
  s->batch = true;
  s->tx_open = s->tx_begun = false;
  s->aborted = s->join_claim = false;
  return HP_OK;
}

static int pg_commit(hp_store_t *h, hp_err_t *err) {
  pg_t *s = PG(h);
  if (!s->batch) return hp_err_set(err, HP_ESTATE, "store: no batch open");
  s->batch = false;
  if (s->aborted) {
    rollback_tx(s);
    return hp_err_set(err, HP_EDB, "%s: the batch was rolled back after an earlier error",
                      s->name);
  }
  int rc = commit_tx(s, err);
  if (rc) {
    cache_clear(s);
    rollback_tx(s);
  }
  return rc;
}

static void pg_rollback(hp_store_t *h) {
  pg_t *s = PG(h);
  if (!s->batch) return;
  s->batch = false;
  rollback_tx(s);
}

static bool pg_in_batch(const hp_store_t *h) { return CPG(h)->batch; }

/* The counter moves once a second: a daemon then looks at what the others
 * (other daemons, Optuna) committed meanwhile. Looks are what a daemon
 * pays for its peers: with two daemons on one study, looking every 0.2 s
 * (as peers' NOTIFYs asked before) cost 1.5-1.9 ms of CPU per trial
 * against 0.6-0.8 ms with one look a second (4,000 ask/tell trials, three
 * pairs). Claims that depend on the peers (grid points, n_trials,
 * enqueued trials) read them under the study's lock in any case. Costs no
 * round trip. */
static int pg_data_version(hp_store_t *h, int64_t *version, hp_err_t *err) {
  pg_t *s = PG(h);
  double now = mono_now();
  if (now - s->t_version >= 1.0) {
    s->version++;
    s->t_version = now;
  }
  *version = s->version;
  (void)err;
  return HP_OK;
}

/* ---- schema and open -------------------------------------------------------- */

/* 1 if a relation (table or index) or a type of that name exists in the
 * current schema, 0 if not, < 0 on error. */
static int has_object(pg_t *s, bool type, const char *name, hp_err_t *err) {
  const char *sql = type ? "SELECT 1 FROM pg_type WHERE typname = $1 AND typnamespace = "
                           "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                         : "SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = "
                           "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())";
  const char *v[1] = {name};
  PGresult *r = PQexecParams(s->c, sql, 1, NULL, v, NULL, NULL, 0);
  int found = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) > 0 : -1;
  if (found < 0) pg_fail(s, err, "reading the schema", r);
  PQclear(r);
  return found;
}

/* The revision in alembic_version (*has = false when it has no row). */
static int read_revision(pg_t *s, bool *has, hp_err_t *err) {
  *has = false;
  PGresult *r = PQexec(s->c, "SELECT version_num FROM alembic_version");
  int rc = HP_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = pg_fail(s, err, "reading alembic_version", r);
  } else if (PQntuples(r) > 1) {
    rc = hp_err_set(err, HP_EFORMAT, "%s: alembic_version has more than one row", s->name);
  } else if (PQntuples(r) == 1) {
    *has = true;
    rc = hp_store_schema_rev_parse(PQgetvalue(r, 0, 0), s->name, &s->rev, err);
  }
  PQclear(r);
  if (rc == HP_OK && *has) {
    r = PQexec(s->c, "SELECT schema_version, library_version FROM version_info");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        col_int(r, 0, 0) != HP_STORE_SCHEMA_VERSION)
      rc = hp_err_set(err, HP_EFORMAT,
                      "%s: schema version %s (written by Optuna %s); hpsearch reads and writes "
                      "schema %d only",
                      s->name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), HP_STORE_SCHEMA_VERSION);
    PQclear(r);
  }
  return rc;
}

/* A database with tables but none of Optuna's is someone else's: nothing
 * is added to it. */
static int check_not_foreign(pg_t *s, hp_err_t *err) {
  PGresult *r = PQexec(s->c, "SELECT tablename FROM pg_tables WHERE schemaname = "
                             "current_schema() ORDER BY tablename");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = pg_fail(s, err, "reading the schema", r);
    PQclear(r);
    return rc;
  }
  int n = PQntuples(r), ours = 0;
  const char *other = NULL;
  for (int i = 0; i < n; i++) {
    bool mine = false;
    for (size_t k = 0; k < N_TABLES; k++) mine = mine || strcmp(PQgetvalue(r, i, 0), TABLES[k].name) == 0;
    ours += mine;
    if (!mine && !other) other = PQgetvalue(r, i, 0);
  }
  int rc = HP_OK;
  if (n > 0 && ours == 0)
    rc = hp_err_set(err, HP_EFORMAT,
                    "%s is not an Optuna or hpsearch database (it has other tables, e.g. '%s'); "
                    "not adding tables to it",
                    s->name, other);
  PQclear(r);
  return rc;
}

/* Whether trials.study_id has an index (either name). */
static int study_id_index(pg_t *s, hp_err_t *err) {
  int a = has_object(s, false, "ix_trials_study_id", err);
  if (a != 0) return a;
  return has_object(s, false, "trials_study_id_key", err);
}

/* Read-write: creates what is missing in one transaction (serialised
 * between hpsearch processes by an advisory lock: two daemons starting on
 * an empty database at once must not race), then checks the revision. */
static int schema_ensure(pg_t *s, hp_store_rev_t create, hp_err_t *err) {
  int rc, found;
  bool has_rev = false;
  if (s->readonly) {
    if ((found = has_object(s, false, "studies", err)) < 0) return HP_EDB;
    if (!found || has_object(s, false, "trials", err) != 1)
      return hp_err_set(err, HP_ENOTFOUND, "%s: not a study database (no studies table)",
                        s->name);
    if (has_object(s, false, "alembic_version", err) == 1 && (rc = read_revision(s, &has_rev, err)))
      return rc;
    if (!has_rev) s->rev = HP_STORE_REV_V300D;
    return HP_OK;
  }
  if ((rc = exec_sql(s, "BEGIN; SELECT pg_advisory_xact_lock(7201305)", err))) return rc;
  if ((rc = check_not_foreign(s, err))) goto done;
  if ((found = has_object(s, false, "alembic_version", err)) < 0) goto db;
  if (found && (rc = read_revision(s, &has_rev, err))) goto done;
  if (!has_rev) {
    /* A new database; or Optuna's tables without the version rows (Optuna
     * inserts them on open): the index tells which layout it has. */
    if ((found = has_object(s, false, "trials", err)) < 0) goto db;
    s->rev = create;
    if (found) {
      int ix = study_id_index(s, err);
      if (ix < 0) goto db;
      s->rev = ix ? HP_STORE_REV_V320A : HP_STORE_REV_V300D;
    }
  }
  for (size_t i = 0; i < sizeof ENUMS / sizeof ENUMS[0]; i++) {
    if ((found = has_object(s, true, ENUMS[i][0], err)) < 0) goto db;
    if (!found && (rc = exec_sql(s, ENUMS[i][1], err))) goto done;
  }
  for (size_t i = 0; i < N_TABLES; i++) {
    if (TABLES[i].since > s->rev) continue;
    found = strcmp(TABLES[i].name, "ix_trials_study_id") == 0 ? study_id_index(s, err)
                                                             : has_object(s, false, TABLES[i].name, err);
    if (found < 0) goto db;
    if (!found && (rc = exec_sql(s, TABLES[i].ddl, err))) goto done;
  }
  if (s->rev == HP_STORE_REV_V300D && (found = study_id_index(s, err)) != 0) {
    rc = found < 0 ? HP_EDB
                   : hp_err_set(err, HP_EFORMAT,
                                "%s: alembic revision v3.0.0.d, but trials.study_id has an "
                                "index, which only revision v3.2.0.a has",
                                s->name);
    goto done;
  }
  /* The rows Optuna's _VersionManager inserts on first open. */
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO version_info (version_info_id, schema_version, library_version) "
           "SELECT 1, %d, '%s' WHERE NOT EXISTS (SELECT 1 FROM version_info)",
           HP_STORE_SCHEMA_VERSION, hp_store_schema_rev_library(s->rev));
  if ((rc = exec_sql(s, sql, err))) goto done;
  snprintf(sql, sizeof sql,
           "INSERT INTO alembic_version (version_num) SELECT '%s' "
           "WHERE NOT EXISTS (SELECT 1 FROM alembic_version)",
           hp_store_schema_rev_name(s->rev));
  rc = exec_sql(s, sql, err);
done:
  if (rc == 0) return exec_sql(s, "COMMIT", err);
  exec_sql(s, "ROLLBACK", NULL);
  return rc;
db:
  rc = HP_EDB;
  goto done;
}

/* The URL with its password (user:PASSWORD@) replaced by "***". */
static char *redact(const char *url) {
  char *out = malloc(strlen(url) + 4);
  if (!out) return NULL;
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  const char *at = strchr(auth, '@'), *slash = strchr(auth, '/');
  const char *colon = strchr(auth, ':');
  if (at && (!slash || at < slash) && colon && colon < at)
    sprintf(out, "%.*s***%s", (int)(colon + 1 - url), url, at);
  else
    strcpy(out, url);
  return out;
}

static void pg_close(hp_store_t *h) {
  pg_t *s = PG(h);
  if (!s) return;
  if (s->batch) pg_rollback(h);
  if (s->c) PQfinish(s->c);
  free(s->locked);
  free(s->slot);
  free(s->cache);
  for (size_t i = 0; i < s->n_hints; i++) {
    free(s->hints[i].number);
    free(s->hints[i].trial_id);
  }
  free(s->hints);
  free(s->url);
  free(s->name);
  free(s);
}

int hp_pg_open(const char *url, unsigned flags, hp_store_t **out, hp_err_t *err) {
  *out = NULL;
  pg_t *s = calloc(1, sizeof *s);
  if (!s || !(s->url = strdup(url)) || !(s->name = redact(url))) {
    if (s) free(s->url);
    free(s);
    return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  }
  s->be = &pg_backend;
  s->readonly = (flags & HP_STORE_READONLY) != 0;
  s->t_version = mono_now();
  /* The URL is expanded by libpq (postgresql://USER@HOST:PORT/DB?host=...);
   * what it sets wins over the defaults before it. */
  const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
  const char *vals[] = {"10", "hpsearch", url, NULL};
  s->c = PQconnectdbParams(keys, vals, 1);
  int rc;
  if (!s->c || PQstatus(s->c) != CONNECTION_OK) {
    rc = s->c ? pg_fail(s, err, "cannot connect", NULL)
              : hp_err_set(err, HP_ENOMEM, "store: out of memory");
    if (rc == HP_EDB && s->readonly) err->code = rc = HP_ENOTFOUND;
    goto fail;
  }
  if ((rc = session_setup(s, err))) goto fail;
  hp_store_rev_t create = (flags & HP_STORE_CREATE_V31) ? HP_STORE_REV_V300D : HP_STORE_REV_V320A;
  if ((rc = schema_ensure(s, create, err))) goto fail;
  if (!PQenterPipelineMode(s->c)) {
    rc = pg_fail(s, err, "entering pipeline mode", NULL);
    goto fail;
  }
  *out = (hp_store_t *)(void *)s;
  return HP_OK;
fail:
  pg_close((hp_store_t *)(void *)s);
  return rc;
}

int hp_pg_upgrade(const char *url, const char **from, hp_err_t *err) {
  if (from) *from = NULL;
  hp_store_t *h;
  int rc = hp_pg_open(url, 0, &h, err);
  if (rc) return rc;
  pg_t *s = PG(h);
  hp_store_rev_t was = s->rev;
  PQexitPipelineMode(s->c); /* one string of several statements below */
  if (was == HP_STORE_REV_V300D) {
    /* What alembic runs for v3.2.0.a, then Optuna's version_info update. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(7201305); " UPGRADE_INDEX "; "
             "UPDATE alembic_version SET version_num = '%s'; "
             "UPDATE version_info SET schema_version = %d, library_version = '%s'; COMMIT",
             hp_store_schema_rev_name(HP_STORE_REV_V320A), HP_STORE_SCHEMA_VERSION,
             hp_store_schema_rev_library(HP_STORE_REV_V320A));
    rc = exec_sql(s, sql, err);
    if (rc) exec_sql(s, "ROLLBACK", NULL);
  }
  if (!rc && from) *from = hp_store_schema_rev_name(was);
  pg_close(h);
  return rc;
}

static const char *pg_revision(const hp_store_t *h) {
  return hp_store_schema_rev_name(CPG(h)->rev);
}

/* ---- attributes --------------------------------------------------------------- */

typedef struct attr_put {
  pg_t *s;
  int id;
  int64_t owner;
  const char *what;
} attr_put_t;

static int put_attr(void *ctx, const char *key, const char *value_json, hp_err_t *err) {
  attr_put_t *p = ctx;
  args_t a = {0};
  a_int(&a, p->owner);
  a_str(&a, key);
  a_str(&a, value_json);
  return q_do(p->s, p->id, &a, p->what, err);
}

static int put_attrs(pg_t *s, int id, int64_t owner, const char *object_json, const char *what,
                     hp_err_t *err) {
  attr_put_t p = {s, id, owner, what};
  return hp_store_attrs_each(object_json, what, put_attr, &p, err);
}

/* A JSON object text of rows (key, value_json) of statement id ($1 = owner). */
static int attrs_object(pg_t *s, int id, int64_t owner, char **out, hp_err_t *err) {
  *out = NULL;
  args_t a = {0};
  a_int(&a, owner);
  PGresult *r = q(s, id, &a, PGRES_TUPLES_OK, "reading attributes", err);
  if (!r) return HP_EDB;
  hp_store_buf_t b = {0};
  int rc = hp_store_buf_add(&b, "{", 1);
  for (int i = 0; !rc && i < PQntuples(r); i++)
    rc = hp_store_buf_add_member(&b, PQgetvalue(r, i, 0), col_str(r, i, 1));
  if (!rc) rc = hp_store_buf_add(&b, "}", 1);
  PQclear(r);
  if (rc) {
    free(b.p);
    return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  }
  *out = b.p;
  return HP_OK;
}

/* ---- studies ------------------------------------------------------------------- */

/* Runs a one-row, one-column query with one integer parameter; *found
 * tells whether it gave a row (NULL: must give one). */
static int scalar(pg_t *s, int id, int64_t arg, int64_t *v, bool *found, const char *what,
                  hp_err_t *err) {
  args_t a = {0};
  a_int(&a, arg);
  PGresult *r = q(s, id, &a, PGRES_TUPLES_OK, what, err);
  if (!r) return HP_EDB;
  bool row = PQntuples(r) > 0;
  if (found) *found = row;
  *v = row ? col_int(r, 0, 0) : 0;
  PQclear(r);
  return HP_OK;
}

static int study_exists(pg_t *s, int64_t study_id, hp_err_t *err) {
  int64_t v;
  bool found;
  int rc = scalar(s, Q_STUDY_EXISTS, study_id, &v, &found, "looking up a study", err);
  if (rc) return rc;
  return found ? HP_OK
               : hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
}

static study_cache_t *cache_find(pg_t *s, int64_t study_id) {
  for (size_t i = 0; i < s->n_cache; i++)
    if (s->cache[i].study_id == study_id) return &s->cache[i];
  return NULL;
}

/* The study's cache entry, with n_objectives read on first use. */
static int study_cached(pg_t *s, int64_t study_id, study_cache_t **out, hp_err_t *err) {
  if ((*out = cache_find(s, study_id)) != NULL) return HP_OK;
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  int64_t nobj = 0;
  if ((rc = scalar(s, Q_STUDY_NOBJ, study_id, &nobj, NULL, "counting objectives", err)))
    return rc;
  if (s->n_cache == s->cap_cache) {
    size_t cap = s->cap_cache ? 2 * s->cap_cache : 8;
    study_cache_t *p = realloc(s->cache, cap * sizeof *p);
    if (!p) return hp_err_set(err, HP_ENOMEM, "store: out of memory");
    s->cache = p, s->cap_cache = cap;
  }
  s->cache[s->n_cache] = (study_cache_t){.study_id = study_id, .last_id = -1,
                                         .n_objectives = (int)nobj};
  *out = &s->cache[s->n_cache++];
  return HP_OK;
}

/* Locks the study row for the rest of the transaction (once). Queued: the
 * statements after it run once the lock is held. */
static int study_lock(pg_t *s, int64_t study_id, hp_err_t *err) {
  for (size_t i = 0; i < s->n_locked; i++)
    if (s->locked[i] == study_id) return HP_OK;
  args_t a = {0};
  a_int(&a, study_id);
  if (!send_prepared(s, Q_STUDY_LOCK, &a, -1)) return pg_fail(s, err, "locking a study", NULL);
  if (hp_store_grow((void **)&s->locked, s->n_locked, sizeof *s->locked))
    return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  s->locked[s->n_locked++] = study_id;
  return HP_OK;
}

static int pg_study_lock(hp_store_t *h, int64_t study_id, hp_err_t *err) {
  pg_t *s = PG(h);
  if (!s->batch) return hp_err_set(err, HP_ESTATE, "store: study lock outside a batch");
  int rc = tx_begin(s, err);
  if (rc) return rc;
  return tx_end(s, study_lock(s, study_id, err), err);
}

/* Armed only while the batch has written nothing: what the request then
 * writes (a trial's end) commits with its next claim, all of it or none. */
static bool pg_claim_join(hp_store_t *h, bool on) {
  pg_t *s = PG(h);
  s->join_claim = on && s->batch && !s->dirty && !s->aborted;
  return s->join_claim;
}

/* No statement sent since the last commit (an early claim's): not even a
 * read, whose transaction might hold a write this does not see. */
static bool pg_batch_settled(const hp_store_t *h) {
  const pg_t *s = CPG(h);
  return s->batch && !s->tx_open && !s->aborted && s->pending == 0;
}

static int pg_study_find(hp_store_t *h, const char *name, int64_t *study_id, hp_err_t *err) {
  pg_t *s = PG(h);
  if (!name) return hp_err_set(err, HP_EINVAL, "study name: missing");
  args_t a = {0};
  a_str(&a, name);
  PGresult *r = q(s, Q_STUDY_FIND, &a, PGRES_TUPLES_OK, "finding a study", err);
  if (!r) return HP_EDB;
  int rc = HP_OK;
  if (PQntuples(r) > 0) {
    if (study_id) *study_id = col_int(r, 0, 0);
  } else {
    rc = hp_err_set(err, HP_ENOTFOUND, "no study named '%s'", name);
  }
  PQclear(r);
  return rc;
}

static int pg_study_create(hp_store_t *h, const char *name, int n_objectives,
                           const bool *maximize, const char *user_attrs_json,
                           const char *system_attrs_json, int64_t *study_id, hp_err_t *err) {
  pg_t *s = PG(h);
  int rc = hp_store_check_new_study(name, n_objectives, maximize, err);
  if (rc) return rc;
  rc = tx_begin(s, err);
  if (rc) return rc;
  int64_t id = 0;
  if (pg_study_find(h, name, &id, NULL) == 0) {
    rc = hp_err_set(err, HP_EEXIST, "study '%s' already exists", name);
    goto done;
  }
  args_t a = {0};
  a_str(&a, name);
  PGresult *r = q(s, Q_STUDY_INSERT, &a, PGRES_TUPLES_OK, "inserting a study", err);
  if (!r) {
    /* Another writer created the same name meanwhile (unique index). */
    rc = err && err->code == HP_EEXIST
             ? hp_err_set(err, HP_EEXIST, "study '%s' already exists", name)
             : HP_EDB;
    goto done;
  }
  id = col_int(r, 0, 0);
  PQclear(r);
  s->dirty = true;
  for (int k = 0; k < n_objectives; k++) {
    args_t d = {0};
    a_str(&d, maximize[k] ? "MAXIMIZE" : "MINIMIZE");
    a_int(&d, id);
    a_int(&d, k);
    if ((rc = q_do(s, Q_DIRECTION_INSERT, &d, "inserting a direction", err))) goto done;
  }
  if ((rc = put_attrs(s, Q_STUDY_USERATTR_SET, id, user_attrs_json, "study user_attrs", err)))
    goto done;
  rc = put_attrs(s, Q_STUDY_SYSATTR_SET, id, system_attrs_json, "study system_attrs", err);
done:
  rc = tx_end(s, rc, err);
  if (!rc && study_id) *study_id = id;
  return rc;
}


/* Summaries of all studies (filter < 0) or of one: four queries. */
static int summaries(pg_t *s, int64_t filter, bool best, hp_store_study_info_t **out,
                     size_t *n_out, hp_err_t *err) {
  *out = NULL;
  *n_out = 0;
  args_t a = {0};
  a_int(&a, filter);
  static const int ids[4] = {Q_SUMMARY_STUDIES, Q_SUMMARY_COUNTS, Q_SUMMARY_DIRS,
                             Q_SUMMARY_BEST};
  static const ExecStatusType want[4] = {PGRES_TUPLES_OK, PGRES_TUPLES_OK, PGRES_TUPLES_OK,
                                         PGRES_TUPLES_OK};
  const args_t *args[4] = {&a, &a, &a, &a};
  PGresult *res[4] = {NULL, NULL, NULL, NULL};
  /* The best trial is a pass over every COMPLETE trial's value: left out
   * when only the counts are wanted. */
  if (q_many(s, best ? 4 : 3, ids, args, want, res, true, "listing studies", err)) return HP_EDB;
  PGresult *r = res[0];
  size_t n = (size_t)PQntuples(r);
  hp_store_study_info_t *list = calloc(n ? n : 1, sizeof *list);
  int rc = list ? HP_OK : hp_err_set(err, HP_ENOMEM, "store: out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    list[i].study_id = col_int(r, (int)i, 0);
    list[i].best_number = -1;
    list[i].best_trial_id = -1;
    if (!(list[i].name = strdup(PQgetvalue(r, (int)i, 1))))
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  }
  if (rc) goto fail;
  r = res[1];
  for (int row = 0; row < PQntuples(r); row++) {
    long i = hp_store_study_index(list, n, col_int(r, row, 0));
    if (i < 0) continue;
    hp_store_study_info_t *in = &list[i];
    in->n_trials = col_int(r, row, 1);
    in->n_state[HP_STORE_RUNNING] = col_int(r, row, 2);
    in->n_state[HP_STORE_COMPLETE] = col_int(r, row, 3);
    in->n_state[HP_STORE_PRUNED] = col_int(r, row, 4);
    in->n_state[HP_STORE_FAIL] = col_int(r, row, 5);
    in->n_state[HP_STORE_WAITING] = col_int(r, row, 6);
    hp_store_time_local(utc_times(s), in->datetime_start, sizeof in->datetime_start,
                        col_str(r, row, 7));
    hp_store_time_local(utc_times(s), in->datetime_complete, sizeof in->datetime_complete,
                        col_str(r, row, 8));
  }
  r = res[2];
  for (int row = 0; row < PQntuples(r); row++) {
    long i = hp_store_study_index(list, n, col_int(r, row, 0));
    int64_t k = col_int(r, row, 1);
    if (i < 0 || k < 0 || k >= HP_STORE_MAX_OBJECTIVES) continue;
    list[i].maximize[k] = strcmp(PQgetvalue(r, row, 2), "MAXIMIZE") == 0;
    if (k + 1 > list[i].n_objectives) list[i].n_objectives = (int)k + 1;
  }
  r = res[3];
  for (int row = 0; r && row < PQntuples(r); row++) {
    long i = hp_store_study_index(list, n, col_int(r, row, 0));
    if (i < 0 || PQgetisnull(r, row, 1)) continue;
    double k = col_dbl(r, row, 1);
    list[i].has_best = true;
    list[i].best_value = list[i].maximize[0] ? -k : k;
    list[i].best_number = col_int(r, row, 2);
    list[i].best_trial_id = col_int(r, row, 3);
  }
  for (int i = 0; i < 4; i++) PQclear(res[i]);
  *out = list;
  *n_out = n;
  return HP_OK;
fail:
  for (int i = 0; i < 4; i++) PQclear(res[i]);
  hp_store_study_list_free(list, n);
  return rc;
}

static int pg_study_list(hp_store_t *h, hp_store_study_info_t **out, size_t *n, hp_err_t *err) {
  return summaries(PG(h), -1, true, out, n, err);
}

static int pg_study_counts(hp_store_t *h, int64_t study_id, hp_store_study_info_t **out,
                           size_t *n, hp_err_t *err) {
  return summaries(PG(h), study_id < 0 ? -1 : study_id, false, out, n, err);
}

static int pg_study_get(hp_store_t *h, int64_t study_id, hp_store_study_info_t *info,
                        hp_err_t *err) {
  memset(info, 0, sizeof *info);
  if (study_id < 0)
    return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
  hp_store_study_info_t *list;
  size_t n;
  int rc = summaries(PG(h), study_id, true, &list, &n, err);
  if (rc) return rc;
  if (n != 1) {
    hp_store_study_list_free(list, n);
    return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
  }
  *info = list[0];
  free(list);
  return HP_OK;
}

static int pg_study_delete(hp_store_t *h, int64_t study_id, hp_err_t *err) {
  static const char *const DELETES[] = {
      "DELETE FROM trial_params WHERE trial_id IN (SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trial_values WHERE trial_id IN (SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trial_intermediate_values WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trial_user_attributes WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trial_system_attributes WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trial_heartbeats WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = $1)",
      "DELETE FROM trials WHERE study_id = $1",
      "DELETE FROM study_directions WHERE study_id = $1",
      "DELETE FROM study_user_attributes WHERE study_id = $1",
      "DELETE FROM study_system_attributes WHERE study_id = $1",
      "DELETE FROM studies WHERE study_id = $1",
  };
  pg_t *s = PG(h);
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if ((rc = study_lock(s, study_id, err))) goto done;
  args_t a = {0};
  a_int(&a, study_id);
  for (size_t i = 0; i < sizeof DELETES / sizeof DELETES[0]; i++)
    if (!send_sql(s, DELETES[i], &a)) {
      rc = pg_fail(s, err, "deleting a study", NULL);
      goto done;
    }
  s->dirty = true;
  cache_clear(s);
done:
  return tx_end(s, rc, err);
}

static int study_attr_set(pg_t *s, int id, int64_t study_id, const char *key,
                          const char *value_json, const char *what, hp_err_t *err) {
  int rc = hp_store_check_attr(key, value_json, what, err);
  if (rc) return rc;
  if ((rc = tx_begin(s, err))) return rc;
  if (!(rc = study_exists(s, study_id, err))) {
    attr_put_t p = {s, id, study_id, what};
    rc = put_attr(&p, key, value_json, err);
  }
  return tx_end(s, rc, err);
}

static int pg_study_set_system_attr(hp_store_t *h, int64_t study_id, const char *key,
                                    const char *value_json, hp_err_t *err) {
  return study_attr_set(PG(h), Q_STUDY_SYSATTR_SET, study_id, key, value_json,
                        "study system attr", err);
}

static int pg_study_get_system_attr(hp_store_t *h, int64_t study_id, const char *key,
                                    char **value_json, hp_err_t *err) {
  pg_t *s = PG(h);
  *value_json = NULL;
  args_t a = {0};
  a_int(&a, study_id);
  a_str(&a, key ? key : "");
  PGresult *r = q(s, Q_STUDY_SYSATTR_GET, &a, PGRES_TUPLES_OK, "reading a study attr", err);
  if (!r) return HP_EDB;
  int rc = HP_OK;
  if (PQntuples(r) > 0) {
    const char *v = col_str(r, 0, 0);
    if (!(*value_json = strdup(v ? v : "null")))
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  } else {
    rc = hp_err_set(err, HP_ENOTFOUND, "study %lld: no system attr '%s'", (long long)study_id,
                    key ? key : "");
  }
  PQclear(r);
  return rc;
}

static int pg_study_attrs(hp_store_t *h, int64_t study_id, bool system, char **object_json,
                          hp_err_t *err) {
  pg_t *s = PG(h);
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  return attrs_object(s, system ? Q_STUDY_SYSATTRS : Q_STUDY_USERATTRS, study_id, object_json,
                      err);
}

/* ---- trials ------------------------------------------------------------------------ */


/* State and study of a trial (lock: FOR UPDATE). */
static int trial_state(pg_t *s, int64_t trial_id, bool lock, int *state, int64_t *study_id,
                       hp_err_t *err) {
  args_t a = {0};
  a_int(&a, trial_id);
  PGresult *r = q(s, lock ? Q_TRIAL_STATE_LOCK : Q_TRIAL_STATE, &a, PGRES_TUPLES_OK,
                  "reading a trial", err);
  if (!r) return HP_EDB;
  int rc = HP_OK;
  if (PQntuples(r) == 0) {
    rc = hp_err_set(err, HP_ENOTFOUND, "no trial with id %lld", (long long)trial_id);
  } else {
    *state = hp_store_state_parse(PQgetvalue(r, 0, 0));
    if (study_id) *study_id = col_int(r, 0, 1);
    if (*state < 0)
      rc = hp_err_set(err, HP_EFORMAT, "trial %lld: unknown state '%s' in the database",
                      (long long)trial_id, PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  return rc;
}

static int trial_unfinished(pg_t *s, int64_t trial_id, bool lock, int64_t *study_id,
                            hp_err_t *err) {
  int state;
  int rc = trial_state(s, trial_id, lock, &state, study_id, err);
  if (rc) return rc;
  if (hp_store_is_finished(state))
    return hp_err_set(err, HP_ESTATE, "trial %lld is already finished (%s)", (long long)trial_id,
                      hp_store_state_name(state));
  return HP_OK;
}

static int put_params(pg_t *s, int64_t trial_id, const hp_store_param_t *params, size_t n_params,
                      hp_err_t *err) {
  for (size_t i = 0; i < n_params; i++) {
    const hp_store_param_t *p = &params[i];
    int rc = hp_store_check_param(p, i, err);
    if (rc) return rc;
    args_t a = {0};
    a_int(&a, trial_id);
    a_str(&a, p->name);
    a_dbl(&a, p->value);
    a_str(&a, p->distribution_json);
    if ((rc = q_do(s, Q_PARAM_UPSERT, &a, "storing a param", err))) return rc;
  }
  return HP_OK;
}

/* Rows for a multi-row statement: the columns as PostgreSQL array texts
 * ({"a","b"}), a key repeated taking the place of its first row with its
 * last values (as the one-row upserts it replaces would leave it). */
typedef struct rows {
  size_t n;
  const char **key, **val;   /* [n] */
  double *num;               /* [n] or NULL: val is text */
} rows_t;

static int rows_add(rows_t *r, const char *key, const char *val, double num) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->key[i], key) == 0) {
      r->val[i] = val;
      if (r->num) r->num[i] = num;
      return HP_OK;
    }
  if (hp_store_grow((void **)&r->key, r->n, sizeof *r->key) ||
      hp_store_grow((void **)&r->val, r->n, sizeof *r->val) ||
      (r->num && hp_store_grow((void **)&r->num, r->n, sizeof *r->num)))
    return HP_ENOMEM;
  r->key[r->n] = key, r->val[r->n] = val;
  if (r->num) r->num[r->n] = num;
  r->n++;
  return HP_OK;
}

static void rows_free(rows_t *r) {
  free(r->key);
  free(r->val);
  free(r->num);
}

/* Appends one element of a text array: "..." with \ and \" escaped. */
static int array_elem(hp_store_buf_t *b, const char *v) {
  if (b->n > 1 && hp_store_buf_add(b, ",", 1)) return HP_ENOMEM;
  if (hp_store_buf_add(b, "\"", 1)) return HP_ENOMEM;
  for (const char *p = v; *p;) {
    size_t k = strcspn(p, "\\\"");
    if (hp_store_buf_add(b, p, k)) return HP_ENOMEM;
    p += k;
    if (*p) {
      char esc[2] = {'\\', *p++};
      if (hp_store_buf_add(b, esc, 2)) return HP_ENOMEM;
    }
  }
  return hp_store_buf_add(b, "\"", 1);
}

/* The array text of keys (which 0), val (1) or num (2) of rows. */
static int array_text(const rows_t *r, int which, hp_store_buf_t *b) {
  if (hp_store_buf_add(b, "{", 1)) return HP_ENOMEM;
  for (size_t i = 0; i < r->n; i++) {
    char d[32];
    if (which == 2) snprintf(d, sizeof d, "%.17g", r->num[i]);
    if (array_elem(b, which == 0 ? r->key[i] : which == 1 ? r->val[i] : d)) return HP_ENOMEM;
  }
  return hp_store_buf_add(b, "}", 1);
}

/* The values are copied: hp_store_attrs_each frees each after the call. */
typedef struct attr_rows {
  rows_t rows;
  char **owned;
  size_t n_owned;
} attr_rows_t;

static int attr_row(void *ctx, const char *key, const char *value_json, hp_err_t *err) {
  attr_rows_t *a = ctx;
  char *k = strdup(key), *v = strdup(value_json);
  if (!k || !v || hp_store_grow((void **)&a->owned, a->n_owned, sizeof *a->owned) ||
      hp_store_grow((void **)&a->owned, a->n_owned + 1, sizeof *a->owned)) {
    free(k);
    free(v);
    return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  }
  a->owned[a->n_owned++] = k;
  a->owned[a->n_owned++] = v;
  return rows_add(&a->rows, k, v, 0) ? hp_err_set(err, HP_ENOMEM, "store: out of memory")
                                     : HP_OK;
}

static int pg_trial_create(hp_store_t *h, int64_t study_id, hp_store_state_t state,
                           const hp_store_param_t *params, size_t n_params,
                           const char *system_attrs_json, int64_t *trial_id, int64_t *number,
                           hp_err_t *err) {
  pg_t *s = PG(h);
  int rc = hp_store_check_new_trial(state, params, n_params, err);
  if (rc) return rc;
  /* Everything checked and put into rows before anything is sent. */
  rows_t pr = {0};
  attr_rows_t ar = {0};
  hp_store_buf_t col[5] = {{0}};
  pr.num = malloc(sizeof *pr.num);
  if (!pr.num) rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  for (size_t i = 0; !rc && i < n_params; i++)
    if (!(rc = hp_store_check_param(&params[i], i, err)) &&
        rows_add(&pr, params[i].name, params[i].distribution_json, params[i].value))
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  if (!rc)
    rc = hp_store_attrs_each(system_attrs_json, "trial system_attrs", attr_row, &ar, err);
  if (!rc && (array_text(&pr, 0, &col[0]) || array_text(&pr, 2, &col[1]) ||
              array_text(&pr, 1, &col[2]) || array_text(&ar.rows, 0, &col[3]) ||
              array_text(&ar.rows, 1, &col[4])))
    rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  if (rc) goto out;
  if ((rc = tx_begin(s, err))) goto out;
  int64_t id = 0, num = 0;
  study_cache_t *c;
  /* The number: trials of the study so far, counted under its lock (as
   * Optuna does), from what this handle counted before. */
  if ((rc = study_cached(s, study_id, &c, err)) || (rc = study_lock(s, study_id, err))) goto done;
  char now[32];
  hp_store_now(utc_times(s), now);
  args_t t = {0};
  a_int(&t, c->count);
  a_int(&t, study_id);
  a_str(&t, hp_store_state_name(state));
  a_str(&t, state == HP_STORE_RUNNING ? now : NULL);
  a_int(&t, c->last_id);
  for (int k = 0; k < 5; k++) a_str(&t, col[k].p);
  /* Its first beat with it in a batch (the daemon's, which beats every
   * trial it runs); a beat later in the same transaction adds nothing. */
  bool beat = s->batch && state == HP_STORE_RUNNING;
  a_str(&t, beat ? "true" : "false");
  /* No savepoint: a failed insert fails the batch (a server error; every
   * check is above). In a batch that has written nothing yet, or only
   * what the current request wrote (a trial's end: pg_claim_join), the
   * claim commits, with those writes, in the same round trip as the
   * insert: the study's lock is held
   * only while the server runs it (not while this daemon waits for the
   * result and then for its commit: with several daemons, the others wait
   * on that lock), and the ask's reply needs no second round trip. The
   * batch goes on in a new transaction; the lock is gone (store.h). */
  PGresult *r = NULL;
  bool early = s->batch && (!s->dirty || s->join_claim) && !s->aborted;
  s->join_claim = false;
  if (!send_prepared(s, Q_TRIAL_INSERT, &t, 0)) {
    rc = pg_fail(s, err, "inserting a trial", NULL);
    goto done;
  }
  if (early) {
    if (s->sp_open) { /* the reads of study_cached took one */
      if ((rc = exec_later(s, "RELEASE SAVEPOINT hp_op", err))) goto done;
      s->sp_open = false;
    }
    /* an implicit transaction (nothing was read in it): the sync point of
     * the flush below commits it */
    if (s->tx_begun && (rc = exec_later(s, "COMMIT", err))) goto done;
    s->tx_open = s->tx_begun = false;
    s->n_locked = 0;
  }
  if ((rc = flush(s, 1, &r, "inserting a trial", err))) {
    s->tx_open = true; /* rolled back with the batch */
    goto done;
  }
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    PQclear(r);
    rc = hp_err_set(err, HP_EDB, "%s: inserting a trial: unexpected result", s->name);
    goto done;
  }
  id = col_int(r, 0, 0);
  num = col_int(r, 0, 1);
  PQclear(r);
  s->dirty = !early; /* an early commit took what the request wrote before */
  c->count = num + 1;
  c->last_id = id;
  if (beat) s->fresh_beat = id;
done:
  rc = tx_end(s, rc, err);
  if (!rc) {
    if (trial_id) *trial_id = id;
    if (number) *number = num;
  }
out:
  rows_free(&pr);
  rows_free(&ar.rows);
  for (size_t i = 0; i < ar.n_owned; i++) free(ar.owned[i]);
  free(ar.owned);
  for (int k = 0; k < 5; k++) free(col[k].p);
  return rc;
}

static int pg_trial_pop_waiting(hp_store_t *h, int64_t study_id, int64_t *trial_id,
                                int64_t *number, char **system_attrs_json, hp_err_t *err) {
  pg_t *s = PG(h);
  if (system_attrs_json) *system_attrs_json = NULL;
  int rc = tx_begin(s, err);
  if (rc) return rc;
  int64_t id = 0, num = 0;
  char *attrs = NULL;
  if ((rc = study_exists(s, study_id, err))) goto done;
  args_t a = {0};
  a_int(&a, study_id);
  /* The oldest WAITING trial nobody else is taking (row lock, as Optuna's
   * _pop_waiting_trial_id). */
  PGresult *r = q(s, Q_WAITING_OLDEST, &a, PGRES_TUPLES_OK, "finding a WAITING trial", err);
  if (!r) {
    rc = HP_EDB;
    goto done;
  }
  bool found = PQntuples(r) > 0;
  if (found) {
    id = col_int(r, 0, 0);
    num = col_int(r, 0, 1);
  }
  PQclear(r);
  if (!found) {
    rc = hp_err_set(err, HP_ENOTFOUND, "study %lld has no WAITING trial", (long long)study_id);
    goto done;
  }
  char now[32];
  hp_store_now(utc_times(s), now);
  args_t u = {0};
  a_int(&u, id);
  a_str(&u, now);
  if ((rc = q_do(s, Q_TRIAL_START, &u, "starting a WAITING trial", err))) goto done;
  if (system_attrs_json) rc = attrs_object(s, Q_TRIAL_SYSATTRS, id, &attrs, err);
done:
  rc = tx_end(s, rc, err);
  if (rc) {
    free(attrs);
    return rc;
  }
  if (trial_id) *trial_id = id;
  if (number) *number = num;
  if (system_attrs_json) *system_attrs_json = attrs;
  return HP_OK;
}

static int pg_trial_set_params(hp_store_t *h, int64_t trial_id, const hp_store_param_t *params,
                               size_t n_params, hp_err_t *err) {
  pg_t *s = PG(h);
  if (n_params && !params) return hp_err_set(err, HP_EINVAL, "params missing");
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if (!(rc = trial_unfinished(s, trial_id, false, NULL, err)))
    rc = put_params(s, trial_id, params, n_params, err);
  return tx_end(s, rc, err);
}

static int pg_trial_report(hp_store_t *h, int64_t trial_id, int64_t step, double value,
                           hp_err_t *err) {
  pg_t *s = PG(h);
  if (step < 0) return hp_err_set(err, HP_EINVAL, "report: step %lld < 0", (long long)step);
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if (!(rc = trial_unfinished(s, trial_id, false, NULL, err))) {
    args_t a = {0};
    a_int(&a, trial_id);
    a_int(&a, step);
    a_value(&a, value);
    rc = q_do(s, Q_INTER_UPSERT, &a, "storing an intermediate value", err);
  }
  return tx_end(s, rc, err);
}

static int trial_attr_set(pg_t *s, int id, int64_t trial_id, const char *key,
                          const char *value_json, const char *what, hp_err_t *err) {
  int rc = hp_store_check_attr(key, value_json, what, err);
  if (rc) return rc;
  if ((rc = tx_begin(s, err))) return rc;
  int state;
  if (!(rc = trial_state(s, trial_id, false, &state, NULL, err))) {
    attr_put_t p = {s, id, trial_id, what};
    rc = put_attr(&p, key, value_json, err);
  }
  return tx_end(s, rc, err);
}

static int pg_trial_set_system_attr(hp_store_t *h, int64_t trial_id, const char *key,
                                    const char *value_json, hp_err_t *err) {
  return trial_attr_set(PG(h), Q_TRIAL_SYSATTR_SET, trial_id, key, value_json,
                        "trial system attr", err);
}

static int pg_trial_set_user_attr(hp_store_t *h, int64_t trial_id, const char *key,
                                  const char *value_json, hp_err_t *err) {
  return trial_attr_set(PG(h), Q_TRIAL_USERATTR_SET, trial_id, key, value_json,
                        "trial user attr", err);
}

/* Queued, like every beat a daemon writes for its trials: the statement
 * itself leaves a trial that is not RUNNING without a beat (no HP_ESTATE
 * here, unlike SQLite; see store.h). */
static int pg_trial_heartbeat(hp_store_t *h, int64_t trial_id, hp_err_t *err) {
  pg_t *s = PG(h);
  if (s->batch && trial_id == s->fresh_beat) return HP_OK; /* beaten at its creation */
  int rc = tx_begin(s, err);
  if (rc) return rc;
  args_t a = {0};
  a_int(&a, trial_id);
  rc = q_do(s, Q_HEARTBEAT_UPSERT, &a, "recording a heartbeat", err);
  return tx_end(s, rc, err);
}

static int put_value(pg_t *s, int64_t trial_id, int objective, double v, hp_err_t *err) {
  args_t a = {0};
  a_int(&a, trial_id);
  a_int(&a, objective);
  a_value(&a, v);
  return q_do(s, Q_VALUE_UPSERT, &a, "storing a value", err);
}

/* FAIL with datetime_complete = now and a fail_reason (a JSON string). */
static int fail_trial(pg_t *s, int64_t trial_id, const char *now, const char *reason_json,
                      hp_err_t *err) {
  args_t a = {0};
  a_int(&a, trial_id);
  a_str(&a, "FAIL");
  a_str(&a, now);
  int rc = q_do(s, Q_TRIAL_SET_STATE, &a, "failing a RUNNING trial", err);
  if (rc) return rc;
  attr_put_t p = {s, Q_TRIAL_SYSATTR_SET, trial_id, "fail reason"};
  return put_attr(&p, HP_STORE_FAIL_REASON_KEY, reason_json, err);
}

static int attr_ok(void *ctx, const char *key, const char *value_json, hp_err_t *err) {
  (void)ctx, (void)key, (void)value_json, (void)err;
  return HP_OK;
}

static int pg_trial_finish(hp_store_t *h, int64_t trial_id, hp_store_state_t state,
                           const double *values, size_t n_values, const char *system_attrs_json,
                           hp_err_t *err) {
  pg_t *s = PG(h);
  int rc = hp_store_check_finish(trial_id, state, values, n_values, err);
  /* Checked before anything is queued (in a batch, a call that fails
   * after queuing fails the batch). */
  if (!rc && system_attrs_json)
    rc = hp_store_attrs_each(system_attrs_json, "trial system_attrs", attr_ok, NULL, err);
  if (rc) return rc;
  rc = tx_begin(s, err);
  if (rc) return rc;
  char now[32];
  hp_store_now(utc_times(s), now);
  args_t a = {0};
  a_int(&a, trial_id);
  a_str(&a, hp_store_state_name(state));
  a_str(&a, now);
  bool stored = false; /* the values went with the finish */
  if (s->batch) {
    /* Inside a batch (the daemon's): queued with its checks and values in
     * the statement, no round trip; a failed check fails the batch. */
    a_int(&a, state == HP_STORE_COMPLETE || n_values ? (int64_t)n_values : -1);
    hp_store_buf_t vt[2] = {{0}};
    for (size_t k = 0; !rc && k < n_values; k++) {
      char d[32];
      snprintf(d, sizeof d, "%s%.17g", k ? "," : "{", values[k]);
      const char *ty = hp_store_value_type(values[k]);
      if (hp_store_buf_add(&vt[0], isfinite(values[k]) ? d : k ? ",NULL" : "{NULL",
                           isfinite(values[k]) ? strlen(d) : k ? 5 : 5) ||
          hp_store_buf_add(&vt[1], k ? "," : "{", 1) || hp_store_buf_add(&vt[1], ty, strlen(ty)))
        rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
    }
    if (!rc && (hp_store_buf_add(&vt[0], n_values ? "}" : "{}", n_values ? 1 : 2) ||
                hp_store_buf_add(&vt[1], n_values ? "}" : "{}", n_values ? 1 : 2)))
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
    if (!rc) {
      a_str(&a, vt[0].p);
      a_str(&a, vt[1].p);
      if (send_prepared(s, Q_TRIAL_FINISH_QUEUED, &a, -1))
        s->dirty = true;
      else
        rc = pg_fail(s, err, "finishing a trial", NULL);
    }
    free(vt[0].p);
    free(vt[1].p);
    if (rc) goto done;
    stored = true;
    goto values;
  }
  int64_t study_id = -1;
  if ((rc = trial_unfinished(s, trial_id, true, &study_id, err))) goto done;
  if (state == HP_STORE_COMPLETE || n_values) {
    study_cache_t *c;
    if ((rc = study_cached(s, study_id, &c, err))) goto done;
    if (n_values != (size_t)c->n_objectives) {
      rc = hp_err_set(err, HP_EINVAL, "finish trial %lld: %zu values for a study with %d "
                      "objective(s)", (long long)trial_id, n_values, c->n_objectives);
      goto done;
    }
  }
  if ((rc = q_do(s, Q_TRIAL_SET_STATE, &a, "finishing a trial", err))) goto done;
values:
  for (size_t k = 0; !stored && k < n_values; k++)
    if ((rc = put_value(s, trial_id, (int)k, values[k], err))) goto done;
  if (state == HP_STORE_PRUNED && n_values == 0) {
    /* Optuna's tell: a pruned trial's value is its last intermediate value,
     * unless that is NaN. */
    args_t l = {0};
    a_int(&l, trial_id);
    PGresult *r = q(s, Q_INTER_LAST, &l, PGRES_TUPLES_OK, "reading the last intermediate value",
                    err);
    if (!r) {
      rc = HP_EDB;
      goto done;
    }
    double last = PQntuples(r) > 0 ? col_value(r, 0, 0, 1) : NAN;
    PQclear(r);
    if (!isnan(last) && (rc = put_value(s, trial_id, 0, last, err))) goto done;
  }
  rc = put_attrs(s, Q_TRIAL_SYSATTR_SET, trial_id, system_attrs_json, "trial system_attrs", err);
done:
  return tx_end(s, rc, err);
}

/* ---- reading trials ------------------------------------------------------------- */

/* by_trial: $1 = trial_id; else $1 = study_id, $2 = min number. */
static id_hint_t *hint_find(pg_t *s, int64_t study_id) {
  for (size_t i = 0; i < s->n_hints; i++)
    if (s->hints[i].study_id == study_id) return &s->hints[i];
  return NULL;
}

/* The largest trial_id known to number at most min_number in the study
 * (from the last read, or this handle's last insert), -1 if none. */
static int64_t hint_start(pg_t *s, int64_t study_id, int64_t min_number) {
  int64_t best = -1;
  const study_cache_t *c = cache_find(s, study_id);
  if (c && c->count > 0 && c->last_id > 0 && c->count - 1 <= min_number) best = c->last_id;
  const id_hint_t *h = hint_find(s, study_id);
  size_t lo = 0, hi = h ? h->n : 0; /* first index with number > min_number */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (h->number[mid] <= min_number)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0 && h->trial_id[lo - 1] > best) best = h->trial_id[lo - 1];
  return best;
}

/* Keeps the (number, trial_id) pairs of a study's trials just read (in
 * number order); out of memory only loses the hint. */
static void hint_keep(pg_t *s, int64_t study_id, const hp_store_trial_t *t, size_t n) {
  if (n == 0) return;
  id_hint_t *h = hint_find(s, study_id);
  if (!h) {
    if (hp_store_grow((void **)&s->hints, s->n_hints, sizeof *s->hints)) return;
    h = &s->hints[s->n_hints++];
    *h = (id_hint_t){.study_id = study_id};
  }
  int64_t *num = malloc(n * sizeof *num), *id = malloc(n * sizeof *id);
  if (!num || !id) {
    free(num);
    free(id);
    return;
  }
  for (size_t i = 0; i < n; i++) num[i] = t[i].number, id[i] = t[i].trial_id;
  free(h->number);
  free(h->trial_id);
  h->number = num, h->trial_id = id, h->n = n;
}

static int read_trials(pg_t *s, bool by_trial, int64_t x, int64_t y, hp_store_trial_t **out,
                       size_t *n_out, hp_err_t *err) {
  *out = NULL;
  *n_out = 0;
  hp_store_reader_t rd = {0};
  int rc = HP_OK;
  int64_t from = by_trial ? -1 : hint_start(s, x, y);
  int base = by_trial ? Q_READ_TRIALS_T : from > 0 ? Q_READ_TRIALS_H : Q_READ_TRIALS_S;
  args_t a = {0};
  a_int(&a, x);
  if (!by_trial) a_int(&a, y);
  if (from > 0) a_int(&a, from);
  args_t range = {0}; /* the children's trial_id range (with a start) */
  a_int(&range, from);
  a_int(&range, 2147483647);
  /* (by study: whether it exists,) trials, params, values, intermediate
   * values, user and system attrs: one round trip */
  int ids[7];
  const args_t *args[7];
  ExecStatusType want[7];
  PGresult *all[7], **res = by_trial ? all : all + 1;
  int nq = by_trial ? 6 : 7;
  args_t e = {0};
  a_int(&e, x);
  ids[0] = Q_STUDY_EXISTS, args[0] = &e, want[0] = PGRES_TUPLES_OK;
  for (int i = 0; i < 6; i++)
    ids[1 + i] = base + i, args[1 + i] = i > 0 && from > 0 ? &range : &a,
    want[1 + i] = PGRES_TUPLES_OK;
  if (q_many(s, nq, ids + 7 - nq, args + 7 - nq, want + 7 - nq, all, true, "reading trials", err))
    return HP_EDB;
  if (!by_trial && PQntuples(all[0]) == 0) {
    for (int i = 0; i < nq; i++) PQclear(all[i]);
    return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)x);
  }
  if (!by_trial) PQclear(all[0]);
  PGresult *r = res[0];
  rd.n = (size_t)PQntuples(r);
  rd.t = calloc(rd.n ? rd.n : 1, sizeof *rd.t);
  if (!rd.t) {
    for (int i = 0; i < 6; i++) PQclear(res[i]);
    return hp_err_set(err, HP_ENOMEM, "store: out of memory reading trials");
  }
  for (size_t i = 0; i < rd.n && !rc; i++) {
    hp_store_trial_t *t = &rd.t[i];
    int row = (int)i;
    t->trial_id = col_int(r, row, 0);
    t->study_id = col_int(r, row, 1);
    t->number = col_int(r, row, 2);
    int sv = hp_store_state_parse(PQgetvalue(r, row, 3));
    if (sv < 0)
      rc = hp_err_set(err, HP_EFORMAT, "trial %lld: unknown state '%s' in the database",
                      (long long)t->trial_id, PQgetvalue(r, row, 3));
    t->state = (hp_store_state_t)(sv < 0 ? 0 : sv);
    hp_store_time_local(utc_times(s), t->datetime_start, sizeof t->datetime_start,
                        col_str(r, row, 4));
    hp_store_time_local(utc_times(s), t->datetime_complete, sizeof t->datetime_complete,
                        col_str(r, row, 5));
  }
  r = NULL;
  if (rc) goto fail;
  if (rd.n == 0) goto ok;
  if (hp_store_reader_index(&rd)) goto nomem;

  r = res[1];
  for (int row = 0; row < PQntuples(r); row++) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, col_int(r, row, 0));
    if (!t) continue;
    if (hp_store_grow((void **)&t->params, t->n_params, sizeof *t->params)) goto nomem;
    hp_store_param_out_t *p = &t->params[t->n_params++];
    const char *name = col_str(r, row, 1), *dist = col_str(r, row, 3);
    p->name = strdup(name ? name : "");
    p->distribution_json = strdup(dist ? dist : "");
    p->value = col_dbl(r, row, 2);
    if (!p->name || !p->distribution_json) goto nomem;
  }
  r = res[2];
  for (int row = 0; row < PQntuples(r); row++) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, col_int(r, row, 0));
    int64_t k = col_int(r, row, 1);
    if (!t || k < 0 || k >= HP_STORE_MAX_OBJECTIVES) continue;
    t->values[k] = col_value(r, row, 2, 3);
    if ((size_t)k + 1 > t->n_values) t->n_values = (size_t)k + 1;
  }
  r = res[3];
  for (int row = 0; row < PQntuples(r); row++) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, col_int(r, row, 0));
    if (!t) continue;
    if (hp_store_grow((void **)&t->steps, t->n_intermediate, sizeof *t->steps) ||
        hp_store_grow((void **)&t->intermediate, t->n_intermediate, sizeof *t->intermediate))
      goto nomem;
    t->steps[t->n_intermediate] = col_int(r, row, 1);
    t->intermediate[t->n_intermediate++] = col_value(r, row, 2, 3);
  }
  for (int pass = 0; pass < 2; pass++) {
    r = res[4 + pass];
    for (int row = 0; row < PQntuples(r); row++) {
      hp_store_trial_t *t = hp_store_reader_find(&rd, col_int(r, row, 0));
      if (t && hp_store_reader_attr(&rd, t, pass == 1, PQgetvalue(r, row, 1), col_str(r, row, 2)))
        goto nomem;
    }
  }
  if (hp_store_reader_finish(&rd)) goto nomem;
ok:
  for (int i = 0; i < 6; i++) PQclear(res[i]);
  hp_store_reader_release(&rd);
  if (!by_trial) hint_keep(s, x, rd.t, rd.n);
  *out = rd.t;
  *n_out = rd.n;
  return HP_OK;
nomem:
  rc = hp_err_set(err, HP_ENOMEM, "store: out of memory reading trials");
fail:
  for (int i = 0; i < 6; i++) PQclear(res[i]);
  hp_store_reader_release(&rd);
  hp_store_trials_free(rd.t, rd.n);
  return rc;
}

static int pg_trials_list(hp_store_t *h, int64_t study_id, int64_t min_number,
                          hp_store_trial_t **out, size_t *n, hp_err_t *err) {
  return read_trials(PG(h), false, study_id, min_number, out, n, err);
}

static int pg_trial_get(hp_store_t *h, int64_t trial_id, hp_store_trial_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  hp_store_trial_t *arr;
  size_t n;
  int rc = read_trials(PG(h), true, trial_id, 0, &arr, &n, err);
  if (rc) return rc;
  if (n != 1) {
    hp_store_trials_free(arr, n);
    return hp_err_set(err, HP_ENOTFOUND, "no trial with id %lld", (long long)trial_id);
  }
  *out = arr[0];
  free(arr);
  return HP_OK;
}

static int pg_trial_state(hp_store_t *h, int64_t trial_id, hp_store_state_t *state,
                          hp_err_t *err) {
  int st = 0;
  int rc = trial_state(PG(h), trial_id, false, &st, NULL, err);
  if (rc == 0) *state = (hp_store_state_t)st;
  return rc;
}

static int pg_first_running(hp_store_t *h, int64_t study_id, int64_t *number, hp_err_t *err) {
  args_t a = {0};
  a_int(&a, study_id);
  PGresult *r = q(PG(h), Q_RUNNING_FIRST, &a, PGRES_TUPLES_OK, "finding the running trials", err);
  if (!r) return HP_EDB;
  bool found = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
  if (found) *number = col_int(r, 0, 0);
  PQclear(r);
  if (!found)
    return hp_err_set(err, HP_ENOTFOUND, "study %lld has no running trial", (long long)study_id);
  return HP_OK;
}

static int pg_best_trial(hp_store_t *h, int64_t study_id, int64_t *trial_id, int64_t *number,
                         double *value, hp_err_t *err) {
  pg_t *s = PG(h);
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  args_t a = {0};
  a_int(&a, study_id);
  PGresult *r = q(s, Q_BEST, &a, PGRES_TUPLES_OK, "finding the best trial", err);
  if (!r) return HP_EDB;
  bool found = PQntuples(r) > 0;
  double key = found ? col_dbl(r, 0, 2) : 0;
  if (found) {
    if (trial_id) *trial_id = col_int(r, 0, 0);
    if (number) *number = col_int(r, 0, 1);
  }
  PQclear(r);
  if (!found)
    return hp_err_set(err, HP_ENOTFOUND, "study %lld has no COMPLETE trial with a value",
                      (long long)study_id);
  if (value) {
    /* Objective 0's direction gives the key's sign. */
    if (!(r = q(s, Q_STUDY_DIR0, &a, PGRES_TUPLES_OK, "reading a direction", err))) return HP_EDB;
    bool maximize = PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "MAXIMIZE") == 0;
    PQclear(r);
    *value = maximize ? -key : key;
  }
  return HP_OK;
}

static char *reason_text(const char *reason) {
  cJSON *js = cJSON_CreateString(reason);
  char *text = js ? hp_json_print(js) : NULL;
  cJSON_Delete(js);
  return text;
}

/* Fails the trials of rows (columns: trial_id, number; study_id given or
 * in a first column) not in keep; they go to *refs. */
static int fail_rows(pg_t *s, PGresult *r, bool with_study, int64_t study_id, const char *reason,
                     const int64_t *keep, size_t n_keep, hp_store_trial_ref_t **refs, size_t *nr,
                     hp_err_t *err) {
  char *reason_json = reason_text(reason);
  if (!reason_json) return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  char now[32];
  hp_store_now(utc_times(s), now);
  int rc = HP_OK;
  int off = with_study ? 1 : 0;
  for (int row = 0; !rc && row < PQntuples(r); row++) {
    int64_t id = col_int(r, row, off);
    bool kept = false;
    for (size_t k = 0; k < n_keep && !kept; k++) kept = keep[k] == id;
    if (kept) continue;
    if (hp_store_grow((void **)refs, *nr, sizeof **refs)) {
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
      break;
    }
    (*refs)[*nr] = (hp_store_trial_ref_t){with_study ? col_int(r, row, 0) : study_id, id,
                                          col_int(r, row, off + 1)};
    (*nr)++;
    rc = fail_trial(s, id, now, reason_json, err);
  }
  free(reason_json);
  return rc;
}

static int pg_reconcile(hp_store_t *h, const char *reason, const int64_t *keep, size_t n_keep,
                        hp_store_trial_ref_t **out, size_t *n, hp_err_t *err) {
  pg_t *s = PG(h);
  if (out) *out = NULL;
  if (n) *n = 0;
  hp_store_trial_ref_t *refs = NULL;
  size_t nr = 0;
  int rc = tx_begin(s, err);
  if (rc) return rc;
  PGresult *r = q(s, Q_RUNNING_ALL, NULL, PGRES_TUPLES_OK, "finding RUNNING trials", err);
  if (!r) rc = HP_EDB;
  else rc = fail_rows(s, r, true, 0, reason ? reason : "daemon restarted", keep, n_keep, &refs, &nr, err);
  PQclear(r);
  rc = tx_end(s, rc, err);
  if (rc) {
    free(refs);
    return rc;
  }
  if (out) *out = refs;
  else free(refs);
  if (n) *n = nr;
  return HP_OK;
}

static int pg_fail_stale(hp_store_t *h, int64_t study_id, double grace, const char *reason,
                         const int64_t *keep, size_t n_keep, hp_store_trial_ref_t **out,
                         size_t *n, hp_err_t *err) {
  pg_t *s = PG(h);
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!(grace > 0) || !isfinite(grace))
    return hp_err_set(err, HP_EINVAL, "fail stale trials: grace period must be > 0 s");
  hp_store_trial_ref_t *refs = NULL;
  size_t nr = 0;
  int rc = tx_begin(s, err);
  if (rc) return rc;
  args_t a = {0};
  a_int(&a, study_id);
  a_dbl(&a, grace);
  PGresult *r = q(s, Q_STALE, &a, PGRES_TUPLES_OK, "finding stale trials", err);
  if (!r) rc = HP_EDB;
  else rc = fail_rows(s, r, false, study_id, reason ? reason : "heartbeat lost", keep, n_keep,
                      &refs, &nr, err);
  PQclear(r);
  rc = tx_end(s, rc, err);
  if (rc) {
    free(refs);
    return rc;
  }
  if (out) *out = refs;
  else free(refs);
  if (n) *n = nr;
  return HP_OK;
}

static const hp_store_backend_t pg_backend = {
    .name = "postgresql",
    .shared = true,
    .revision = pg_revision,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_batch = pg_in_batch,
    .data_version = pg_data_version,
    .study_create = pg_study_create,
    .study_find = pg_study_find,
    .study_list = pg_study_list,
    .study_counts = pg_study_counts,
    .study_get = pg_study_get,
    .study_delete = pg_study_delete,
    .study_set_system_attr = pg_study_set_system_attr,
    .study_get_system_attr = pg_study_get_system_attr,
    .study_attrs = pg_study_attrs,
    .study_lock = pg_study_lock,
    .claim_join = pg_claim_join,
    .batch_settled = pg_batch_settled,
    .trial_create = pg_trial_create,
    .trial_pop_waiting = pg_trial_pop_waiting,
    .trial_set_params = pg_trial_set_params,
    .trial_report = pg_trial_report,
    .trial_set_system_attr = pg_trial_set_system_attr,
    .trial_set_user_attr = pg_trial_set_user_attr,
    .trial_heartbeat = pg_trial_heartbeat,
    .trial_finish = pg_trial_finish,
    .trials_list = pg_trials_list,
    .trial_get = pg_trial_get,
    .trial_state = pg_trial_state,
    .first_running = pg_first_running,
    .best_trial = pg_best_trial,
    .reconcile = pg_reconcile,
    .fail_stale = pg_fail_stale,
};

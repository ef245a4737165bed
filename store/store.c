/* The SQLite backend of the study store (the embedded default; one owning
 * daemon per file): reads and writes studies and trials in Optuna's SQLite
 * schema at revision v3.0.0.d (Optuna 3.1) or v3.2.0.a (Optuna 3.2 and
 * later), keeping the one a file has (see store_schema.c for the DDL and
 * docs/storage.md for the encodings). Every write call is one transaction, or one savepoint inside a
 * caller's batch, so a failed call never leaves half a trial behind. */
#include "hpsearch/store.h"

#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/json.h"
#include "backend.h"
#include "store_schema.h"
#include "store_util.h"

/* ---- statement table ---------------------------------------------------
 * Every statement the store runs, prepared once per handle on first use
 * (SQLITE_PREPARE_PERSISTENT) and reset after each use. */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_DATA_VERSION,
  ST_STUDY_INSERT,
  ST_DIRECTION_INSERT,
  ST_STUDY_FIND,
  ST_STUDY_EXISTS,
  ST_STUDY_NTRIALS,
  ST_STUDY_NOBJ,
  ST_STUDY_DIR0,
  ST_STUDY_SYSATTR_SET,
  ST_STUDY_USERATTR_SET,
  ST_STUDY_SYSATTR_GET,
  ST_STUDY_SYSATTRS,
  ST_STUDY_USERATTRS,
  ST_TRIAL_INSERT,
  ST_TRIAL_STATE,
  ST_TRIAL_SET_STATE,
  ST_TRIAL_START,
  ST_PARAM_UPSERT,
  ST_INTER_UPSERT,
  ST_INTER_LAST,
  ST_VALUE_UPSERT,
  ST_TRIAL_SYSATTR_SET,
  ST_TRIAL_USERATTR_SET,
  ST_TRIAL_SYSATTRS,
  ST_HEARTBEAT_UPSERT,
  ST_WAITING_OLDEST,
  ST_RUNNING_ALL,
  ST_RUNNING_FIRST,
  ST_BEST,
  ST_SUMMARY_STUDIES,
  ST_SUMMARY_COUNTS,
  ST_SUMMARY_COUNTS_ONE,
  ST_SUMMARY_DIRS,
  ST_SUMMARY_BEST,
  ST_SUMMARY_BEST_ONE,
  /* trial reads: the trials by study (+min number) or by trial id, then
   * their child rows by trial_id range */
  ST_READ_TRIALS_S,
  ST_READ_TRIALS_T,
  ST_MAX_TRIAL_ID,
  ST_READ_PARAMS_R,
  ST_READ_PARAMS_SCAN,
  ST_READ_VALUES_R,
  ST_READ_INTER_R,
  ST_READ_UATTR_R,
  ST_READ_SATTR_R,
  ST_SCAN_TRIALS_C,
  ST_SCAN_TRIALS_ID,
  ST_READ_SATTR_K,
  ST_COUNT_
};

#define HP_SQL_P1 "?1"
#define HP_SQL_P2 "?2"
#define HP_SQL_P3 "?3"
#define HP_SQL_P4 "?4"
#include "store_util_sql.h"

/* Best-value sort key: direction-signed value, +-inf restored from the
 * type column, so MIN() / ORDER BY give the best with inf in its place. */
#define SIGNED_KEY                                                                   \
  "(CASE d.direction WHEN 'MAXIMIZE' THEN -1.0 ELSE 1.0 END * "                      \
  "CASE v.value_type WHEN 'FINITE' THEN v.value WHEN 'INF_POS' THEN 9e999 "          \
  "WHEN 'INF_NEG' THEN -9e999 END)"

static const char *const SQL[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT hp_op",
    [ST_RELEASE] = "RELEASE hp_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO hp_op",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_STUDY_INSERT] = "INSERT INTO studies (study_name) VALUES (?1)",
    [ST_DIRECTION_INSERT] =
        "INSERT INTO study_directions (direction, study_id, objective) VALUES (?1, ?2, ?3)",
    [ST_STUDY_FIND] = "SELECT study_id FROM studies WHERE study_name = ?1",
    [ST_STUDY_EXISTS] = "SELECT 1 FROM studies WHERE study_id = ?1",
    [ST_STUDY_NTRIALS] = "SELECT COUNT(*) FROM trials WHERE study_id = ?1",
    [ST_STUDY_NOBJ] = "SELECT COUNT(*) FROM study_directions WHERE study_id = ?1",
    [ST_STUDY_DIR0] =
        "SELECT direction FROM study_directions WHERE study_id = ?1 AND objective = 0",
    [ST_STUDY_SYSATTR_SET] =
        "INSERT INTO study_system_attributes (study_id, \"key\", value_json) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (study_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
    [ST_STUDY_USERATTR_SET] =
        "INSERT INTO study_user_attributes (study_id, \"key\", value_json) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (study_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
    [ST_STUDY_SYSATTR_GET] =
        "SELECT value_json FROM study_system_attributes WHERE study_id = ?1 AND \"key\" = ?2",
    [ST_STUDY_SYSATTRS] = "SELECT \"key\", value_json FROM study_system_attributes "
                          "WHERE study_id = ?1 ORDER BY study_system_attribute_id",
    [ST_STUDY_USERATTRS] = "SELECT \"key\", value_json FROM study_user_attributes "
                           "WHERE study_id = ?1 ORDER BY study_user_attribute_id",
    [ST_TRIAL_INSERT] = "INSERT INTO trials (number, study_id, state, datetime_start, "
                        "datetime_complete) VALUES (?1, ?2, ?3, ?4, NULL)",
    [ST_TRIAL_STATE] = "SELECT state, study_id FROM trials WHERE trial_id = ?1",
    /* A finished trial needs a start time for Optuna (a WAITING trial has
     * none until it is popped). */
    [ST_TRIAL_SET_STATE] =
        "UPDATE trials SET state = ?2, datetime_complete = ?3, "
        "datetime_start = COALESCE(datetime_start, ?3) WHERE trial_id = ?1",
    [ST_TRIAL_START] =
        "UPDATE trials SET state = 'RUNNING', datetime_start = ?2 WHERE trial_id = ?1",
    [ST_PARAM_UPSERT] =
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trial_id, param_name) DO UPDATE SET "
        "param_value = excluded.param_value, distribution_json = excluded.distribution_json",
    [ST_INTER_UPSERT] =
        "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, "
        "intermediate_value_type) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trial_id, step) DO "
        "UPDATE SET intermediate_value = excluded.intermediate_value, "
        "intermediate_value_type = excluded.intermediate_value_type",
    [ST_INTER_LAST] = "SELECT intermediate_value, intermediate_value_type FROM "
                      "trial_intermediate_values WHERE trial_id = ?1 ORDER BY step DESC LIMIT 1",
    [ST_VALUE_UPSERT] =
        "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, ?2, ?3, "
        "?4) ON CONFLICT (trial_id, objective) DO UPDATE SET value = excluded.value, "
        "value_type = excluded.value_type",
    [ST_TRIAL_SYSATTR_SET] =
        "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
    [ST_TRIAL_USERATTR_SET] =
        "INSERT INTO trial_user_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
    [ST_TRIAL_SYSATTRS] = "SELECT \"key\", value_json FROM trial_system_attributes "
                          "WHERE trial_id = ?1 ORDER BY trial_system_attribute_id",
    /* As Optuna's RDBStorage.record_heartbeat: one row per trial, the
     * database's current time (UTC, SQLAlchemy's func.now() on SQLite). */
    [ST_HEARTBEAT_UPSERT] =
        "INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES (?1, CURRENT_TIMESTAMP) "
        "ON CONFLICT (trial_id) DO UPDATE SET heartbeat = excluded.heartbeat",
    [ST_WAITING_OLDEST] = "SELECT trial_id, number FROM trials WHERE study_id = ?1 AND "
                          "state = 'WAITING' ORDER BY number, trial_id LIMIT 1",
    [ST_RUNNING_ALL] = "SELECT study_id, trial_id, number FROM trials WHERE state = 'RUNNING' "
                       "ORDER BY trial_id",
    [ST_RUNNING_FIRST] = "SELECT MIN(number) FROM trials WHERE study_id = ?1 AND "
                         "state = 'RUNNING'",
    /* Driven by trial_values (CROSS JOIN keeps SQLite's loops in this order):
     * one pass over the values with a rowid lookup of each trial, instead of
     * an index search of trial_values for every trial. */
    [ST_BEST] = "SELECT t.trial_id, t.number, " SIGNED_KEY " AS k FROM trial_values v "
                "CROSS JOIN trials t ON t.trial_id = v.trial_id "
                "CROSS JOIN study_directions d ON d.study_id = t.study_id AND d.objective = 0 "
                "WHERE v.objective = 0 AND t.study_id = ?1 AND t.state = 'COMPLETE' "
                "AND k IS NOT NULL ORDER BY k, t.number LIMIT 1",
    [ST_SUMMARY_STUDIES] = "SELECT study_id, study_name FROM studies "
                           "WHERE ?1 < 0 OR study_id = ?1 ORDER BY study_id",
    /* One pass over trials (no join: a v3.0.0.d file has no index on study_id);
     * one study's needs no GROUP BY (no sort of every trial). */
#define SUMMARY_COUNTS                                                                  \
  "SELECT study_id, COUNT(*), SUM(state = 'RUNNING'), SUM(state = 'COMPLETE'), "        \
  "SUM(state = 'PRUNED'), SUM(state = 'FAIL'), SUM(state = 'WAITING'), "                \
  "MIN(datetime_start), MAX(datetime_complete) FROM trials "
    [ST_SUMMARY_COUNTS] = SUMMARY_COUNTS "WHERE ?1 < 0 GROUP BY study_id",
    [ST_SUMMARY_COUNTS_ONE] = SUMMARY_COUNTS "WHERE study_id = ?1",
    [ST_SUMMARY_DIRS] = "SELECT study_id, objective, direction FROM study_directions "
                        "WHERE ?1 < 0 OR study_id = ?1 ORDER BY study_id, objective",
    /* SQLite takes the bare columns (t.number) from the row holding MIN(),
     * the first such row of the pass: the lowest number on a tie. */
#define SUMMARY_BEST                                                                    \
  "SELECT t.study_id, MIN(" SIGNED_KEY "), t.number, t.trial_id FROM trial_values v "              \
  "CROSS JOIN trials t ON t.trial_id = v.trial_id "                                     \
  "CROSS JOIN study_directions d ON d.study_id = t.study_id AND d.objective = 0 "      \
  "WHERE v.objective = 0 AND t.state = 'COMPLETE' "
    [ST_SUMMARY_BEST] = SUMMARY_BEST "AND ?1 < 0 GROUP BY t.study_id",
    [ST_SUMMARY_BEST_ONE] = SUMMARY_BEST "AND t.study_id = ?1",
    [ST_READ_TRIALS_S] = READ_TRIALS(BY_STUDY),
    [ST_READ_TRIALS_T] = READ_TRIALS(BY_TRIAL),
    [ST_MAX_TRIAL_ID] = "SELECT MAX(trial_id) FROM trials",
    [ST_READ_PARAMS_R] = READ_PARAMS_RANGE,
    [ST_READ_PARAMS_SCAN] = READ_PARAMS_SCAN,
    [ST_READ_VALUES_R] = READ_VALUES_RANGE,
    [ST_READ_INTER_R] = READ_INTER_RANGE,
    [ST_READ_UATTR_R] = READ_ATTR_RANGE("trial_user_attribute"),
    [ST_READ_SATTR_R] = READ_ATTR_RANGE("trial_system_attribute"),
    [ST_SCAN_TRIALS_C] = READ_TRIALS(BY_STUDY " AND t.state = 'COMPLETE'"),
    [ST_SCAN_TRIALS_ID] = READ_TRIALS(BY_STUDY " AND t.trial_id >= ?3"),
    [ST_READ_SATTR_K] = READ_ATTR_KEYS("trial_system_attribute"),
};

/* What the store remembers about a study between calls; valid only while no
 * other connection has committed (checked with PRAGMA data_version). */
typedef struct study_cache {
  int64_t study_id;    /* key */
  int64_t next_number; /* number the next trial gets */
  int n_objectives;    /* rows in study_directions */
} study_cache_t;

struct hp_store {
  const hp_store_backend_t *be; /* &hp_sqlite_backend (first: store/backend.c dispatches on it) */
  sqlite3 *db;                 /* connection */
  char *path;                  /* for messages */
  bool readonly;               /* opened with HP_STORE_READONLY */
  bool batch;                  /* inside hp_store_begin .. commit */
  int depth;                   /* nesting of tx_begin inside one call */
  sqlite3_stmt *st[ST_COUNT_]; /* prepared lazily */
  int64_t data_version;        /* last PRAGMA data_version seen */
  hp_store_rev_t rev;          /* the file's alembic revision; v3.2.0.a: datetimes in UTC */
  study_cache_t *cache;        /* per-study numbering cache */
  size_t n_cache, cap_cache;
};

static const char *const STATE_NAMES[HP_STORE_NSTATES] = {
    [HP_STORE_RUNNING] = "RUNNING", [HP_STORE_COMPLETE] = "COMPLETE",
    [HP_STORE_PRUNED] = "PRUNED",   [HP_STORE_FAIL] = "FAIL",
    [HP_STORE_WAITING] = "WAITING",
};

const char *hp_store_state_name(int state) {
  return state >= 0 && state < HP_STORE_NSTATES ? STATE_NAMES[state] : "?";
}

int hp_store_state_parse(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < HP_STORE_NSTATES; i++)
    if (strcmp(name, STATE_NAMES[i]) == 0) return i;
  return -1;
}

/* ---- small helpers ---------------------------------------------------- */

static int db_err(hp_store_t *s, hp_err_t *err, const char *what) {
  return hp_err_set(err, HP_EDB, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* The statement, prepared on first use, reset and unbound. NULL on error. */
static sqlite3_stmt *stmt(hp_store_t *s, int id, hp_err_t *err) {
  sqlite3_stmt *st = s->st[id];
  if (!st) {
    if (sqlite3_prepare_v3(s->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) !=
        SQLITE_OK) {
      db_err(s, err, "preparing a statement");
      return NULL;
    }
    return s->st[id];
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

/* Runs a statement that returns no rows. */
static int step_done(hp_store_t *s, sqlite3_stmt *st, hp_err_t *err, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    if (rc == SQLITE_CONSTRAINT) return hp_err_set(err, HP_EEXIST, "%s: %s", what, sqlite3_errmsg(s->db));
    return db_err(s, err, what);
  }
  return HP_OK;
}

static int run(hp_store_t *s, int id, hp_err_t *err, const char *what) {
  sqlite3_stmt *st = stmt(s, id, err);
  if (!st) return HP_EDB;
  return step_done(s, st, err, what);
}

/* Trial datetimes are naive 'YYYY-MM-DD HH:MM:SS.ffffff' text: local time
 * in a v3.0.0.d file (Optuna 3.1's datetime.now()), UTC in a v3.2.0.a file
 * (Optuna 5 stores naive UTC and shows it in local time; optuna PR #6776).
 * The API always speaks local time. */
static bool utc_times(const hp_store_t *s) { return s->rev == HP_STORE_REV_V320A; }

/* Now, in the file's convention. */
static void now_str(const hp_store_t *s, char out[32]) { hp_store_now(utc_times(s), out); }

/* Binds a double as (value, type): NULL + INF_POS/INF_NEG/NAN for
 * non-finite values, as Optuna's RDB storage does. */
static void bind_value(sqlite3_stmt *st, int iv, int it, double v) {
  if (isfinite(v))
    sqlite3_bind_double(st, iv, v);
  else
    sqlite3_bind_null(st, iv);
  sqlite3_bind_text(st, it, hp_store_value_type(v), -1, SQLITE_STATIC);
}

/* Reads back (value, type) columns. */
static double column_value(sqlite3_stmt *st, int iv, int it) {
  return hp_store_value_of((const char *)sqlite3_column_text(st, it),
                           sqlite3_column_type(st, iv) == SQLITE_NULL,
                           sqlite3_column_double(st, iv));
}

/* A stored datetime as local time ("" for NULL). A UTC text that does not
 * parse is passed on as it is. */
static void copy_time(const hp_store_t *s, char *dst, size_t cap, const unsigned char *src) {
  hp_store_time_local(utc_times(s), dst, cap, (const char *)src);
}

/* ---- transactions ----------------------------------------------------- */

static void cache_clear(hp_store_t *s) { s->n_cache = 0; }

static int sqlite_data_version(hp_store_t *s, int64_t *version, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, ST_DATA_VERSION, err);
  if (!st) return HP_EDB;
  int rc = sqlite3_step(st) == SQLITE_ROW ? HP_OK : db_err(s, err, "data_version");
  if (rc == HP_OK) *version = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc;
}

/* Starts the atomic unit of one call: a transaction, or a savepoint inside
 * a batch. Drops the caches if another connection committed meanwhile. */
static int tx_begin(hp_store_t *s, hp_err_t *err) {
  if (s->readonly) return hp_err_set(err, HP_ESTATE, "%s: opened read-only", s->path);
  /* After SQLITE_FULL, IOERR or NOMEM SQLite may roll the whole batch back
   * on its own: a savepoint now would start a new transaction that commits
   * on release, storing half a batch. Refuse until the batch ends. */
  if (s->batch && sqlite3_get_autocommit(s->db))
    return hp_err_set(err, HP_EDB, "%s: the batch was rolled back after an earlier error",
                      s->path);
  int rc = run(s, s->batch ? ST_SAVEPOINT : ST_BEGIN, err, "beginning a transaction");
  if (rc) return rc;
  int64_t v = 0;
  if ((rc = hp_store_data_version(s, &v, err))) goto fail;
  if (v != s->data_version) {
    cache_clear(s);
    /* Another program committed: it may have upgraded the file, and the
     * datetime convention follows the revision. */
    if ((rc = hp_store_schema_revision(s->db, s->path, &s->rev, err))) goto fail;
    s->data_version = v;
  }
  return HP_OK;
fail:
  run(s, s->batch ? ST_ROLLBACK_TO : ST_ROLLBACK, NULL, "rollback");
  if (s->batch) run(s, ST_RELEASE, NULL, "release");
  return rc;
}

/* Ends the unit: commits when rc == 0, else undoes everything of the call
 * (and forgets the caches, which may hold its effects). Returns rc or the
 * commit's error. */
static int tx_end(hp_store_t *s, int rc, hp_err_t *err) {
  if (rc == 0) {
    rc = run(s, s->batch ? ST_RELEASE : ST_COMMIT, err, "committing");
    if (rc == 0) return 0;
  }
  cache_clear(s);
  if (s->batch) {
    run(s, ST_ROLLBACK_TO, NULL, "rollback");
    run(s, ST_RELEASE, NULL, "release");
  } else if (!sqlite3_get_autocommit(s->db)) {
    run(s, ST_ROLLBACK, NULL, "rollback");
  }
  return rc;
}

static int sqlite_begin(hp_store_t *s, hp_err_t *err) {
  if (s->readonly) return hp_err_set(err, HP_ESTATE, "%s: opened read-only", s->path);
  if (s->batch) return hp_err_set(err, HP_ESTATE, "store: batch already open");
  int rc = run(s, ST_BEGIN, err, "beginning a batch");
  if (rc) return rc;
  s->batch = true;
  return HP_OK;
}

static int sqlite_commit(hp_store_t *s, hp_err_t *err) {
  if (!s->batch) return hp_err_set(err, HP_ESTATE, "store: no batch open");
  s->batch = false;
  if (sqlite3_get_autocommit(s->db)) {
    cache_clear(s);
    return hp_err_set(err, HP_EDB, "%s: the batch was rolled back after an earlier error",
                      s->path);
  }
  int rc = run(s, ST_COMMIT, err, "committing a batch");
  if (rc) {
    cache_clear(s);
    if (!sqlite3_get_autocommit(s->db)) run(s, ST_ROLLBACK, NULL, "rollback");
  }
  return rc;
}

static void sqlite_rollback(hp_store_t *s) {
  if (!s || !s->batch) return;
  s->batch = false;
  cache_clear(s);
  run(s, ST_ROLLBACK, NULL, "rollback");
}

static bool sqlite_in_batch(const hp_store_t *s) { return s->batch; }


/* ---- open / close ----------------------------------------------------- */

static int pragma(hp_store_t *s, const char *sql, const char *expect, hp_err_t *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return db_err(s, err, sql);
  int rc = sqlite3_step(st);
  int ret = HP_OK;
  if (rc == SQLITE_ROW && expect) {
    const char *got = (const char *)sqlite3_column_text(st, 0);
    if (!got || strcmp(got, expect) != 0)
      ret = hp_err_set(err, HP_EDB, "%s: %s gave '%s', expected '%s'", s->path, sql,
                       got ? got : "(null)", expect);
  } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ret = db_err(s, err, sql);
  }
  sqlite3_finalize(st);
  return ret;
}

int hp_sqlite_open(const char *path, unsigned flags, hp_store_t **out, hp_err_t *err) {
  *out = NULL;
  if (!path || !*path) return hp_err_set(err, HP_EINVAL, "store: empty database path");
  hp_store_t *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  }
  s->be = &hp_sqlite_backend;
  s->readonly = (flags & HP_STORE_READONLY) != 0;
  s->data_version = -1;
  int rc;
  int oflags = s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    int code = s->readonly ? HP_ENOTFOUND : HP_EDB;
    rc = hp_err_set(err, code, "%s: cannot open database: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
    goto fail;
  }
  /* Optuna's own connections wait 5 s on a lock; so do we. */
  sqlite3_busy_timeout(s->db, 5000);
  if (s->readonly && (rc = pragma(s, "PRAGMA query_only = 1", NULL, err))) goto fail;
  /* A reader (status --db, the dashboard) reads the file's pages where the
   * OS keeps them instead of copying each through read() into a 2 MB cache
   * that a study of 100,000 trials overflows at every pass (measured: a
   * study's columns 1.8 -> 1.4 s, an unchanged refresh 14 -> 4 ms). Nothing
   * shrinks a database file under a reader: Optuna and hpsearch never
   * VACUUM. */
  if (s->readonly && (rc = pragma(s, "PRAGMA mmap_size = 4294967296", NULL, err))) goto fail;
  /* The schema first: a file that is someone else's database is refused
   * before anything (the journal mode included) is changed in it. */
  hp_store_rev_t create = (flags & HP_STORE_CREATE_V31) ? HP_STORE_REV_V300D : HP_STORE_REV_V320A;
  if ((rc = hp_store_schema_ensure(s->db, s->readonly, create, path, &s->rev, err))) goto fail;
  if (!s->readonly) {
    /* WAL: readers never block the writer nor see half a transaction.
     * synchronous=NORMAL: a commit is in the WAL (OS page cache) when it
     * returns, which survives a kill of the process; only a power loss may
     * drop the last commits (never corrupting the file). */
    if ((rc = pragma(s, "PRAGMA journal_mode = WAL", "wal", err))) goto fail;
    if ((rc = pragma(s, "PRAGMA synchronous = NORMAL", NULL, err))) goto fail;
    /* Checkpoint every 10,000 WAL pages (~40 MB) instead of 1,000: the hot
     * pages (last leaves of trials and its child tables) are rewritten by
     * every commit, and a longer interval copies and fsyncs each of them
     * once instead of ten times (measured ~1.5x trials/s). The WAL file is
     * truncated back to 64 MB after a checkpoint. */
    if ((rc = pragma(s, "PRAGMA wal_autocheckpoint = 10000", NULL, err))) goto fail;
    if ((rc = pragma(s, "PRAGMA journal_size_limit = 67108864", NULL, err))) goto fail;
  }
  *out = s;
  return HP_OK;
fail:
  hp_store_close(s);
  return rc;
}

static const char *sqlite_revision(const hp_store_t *s) { return hp_store_schema_rev_name(s->rev); }

int hp_sqlite_upgrade(const char *path, const char **from, hp_err_t *err) {
  if (from) *from = NULL;
  /* Never create a file here: upgrading a mistyped name is an error. */
  if (path && *path && access(path, F_OK) != 0)
    return hp_err_set(err, HP_ENOTFOUND, "%s: no such database", path);
  hp_store_t *s;
  int rc = hp_store_open(path, 0, &s, err);
  if (rc) return rc;
  hp_store_rev_t was;
  rc = hp_store_schema_upgrade(s->db, path, &was, err);
  if (!rc && from) *from = hp_store_schema_rev_name(was);
  hp_store_close(s);
  return rc;
}

static void sqlite_close(hp_store_t *s) {
  if (!s) return;
  if (s->batch) hp_store_rollback(s);
  for (int i = 0; i < ST_COUNT_; i++) sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db);
  free(s->cache);
  free(s->path);
  free(s);
}

/* ---- attribute objects ------------------------------------------------ */

typedef struct attr_put {
  hp_store_t *s;
  int id;
  int64_t owner;
  const char *what;
} attr_put_t;

static int put_attr(void *ctx, const char *key, const char *value_json, hp_err_t *err) {
  attr_put_t *a = ctx;
  sqlite3_stmt *st = stmt(a->s, a->id, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, a->owner);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, value_json, -1, SQLITE_TRANSIENT);
  return step_done(a->s, st, err, a->what);
}

/* Writes each top-level key of a JSON object text as one attribute row
 * (?1 = owner id, ?2 = key, ?3 = value_json) with statement `id`. */
static int put_attrs(hp_store_t *s, int id, int64_t owner, const char *object_json,
                     const char *what, hp_err_t *err) {
  attr_put_t a = {s, id, owner, what};
  return hp_store_attrs_each(object_json, what, put_attr, &a, err);
}


static int set_attr(hp_store_t *s, int id, int64_t owner, const char *key,
                    const char *value_json, const char *what, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, id, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, owner);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, value_json, -1, SQLITE_TRANSIENT);
  return step_done(s, st, err, what);
}

/* Runs an attrs statement (?1 = owner; columns key, value_json) into a JSON
 * object text. */
static int attrs_object(hp_store_t *s, int id, int64_t owner, char **out, hp_err_t *err) {
  *out = NULL;
  sqlite3_stmt *st = stmt(s, id, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, owner);
  hp_store_buf_t b = {0};
  int rc = hp_store_buf_add(&b, "{", 1);
  int r = SQLITE_DONE;
  while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW)
    rc = hp_store_buf_add_member(&b, (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 1));
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading attributes");
  if (!rc) rc = hp_store_buf_add(&b, "}", 1);
  sqlite3_reset(st);
  if (rc) {
    free(b.p);
    return rc == HP_ENOMEM ? hp_err_set(err, HP_ENOMEM, "store: out of memory") : rc;
  }
  *out = b.p;
  return HP_OK;
}

/* ---- studies ---------------------------------------------------------- */

static int study_exists(hp_store_t *s, int64_t study_id, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, ST_STUDY_EXISTS, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, study_id);
  int r = sqlite3_step(st);
  sqlite3_reset(st);
  if (r == SQLITE_ROW) return HP_OK;
  if (r == SQLITE_DONE) return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
  return db_err(s, err, "looking up a study");
}

static int64_t scalar_int(hp_store_t *s, int id, int64_t arg, hp_err_t *err, int *rc) {
  sqlite3_stmt *st = stmt(s, id, err);
  if (!st) {
    *rc = HP_EDB;
    return 0;
  }
  sqlite3_bind_int64(st, 1, arg);
  int64_t v = 0;
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  else
    *rc = db_err(s, err, "counting");
  sqlite3_reset(st);
  return v;
}

/* The cache entry of a study, filled from the database on first use inside
 * the current transaction. HP_ENOTFOUND for an unknown study. */
static int study_cached(hp_store_t *s, int64_t study_id, study_cache_t **out, hp_err_t *err) {
  for (size_t i = 0; i < s->n_cache; i++)
    if (s->cache[i].study_id == study_id) {
      *out = &s->cache[i];
      return HP_OK;
    }
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  study_cache_t c = {.study_id = study_id};
  c.next_number = scalar_int(s, ST_STUDY_NTRIALS, study_id, err, &rc);
  if (!rc) c.n_objectives = (int)scalar_int(s, ST_STUDY_NOBJ, study_id, err, &rc);
  if (rc) return rc;
  if (s->n_cache == s->cap_cache) {
    size_t cap = s->cap_cache ? 2 * s->cap_cache : 8;
    study_cache_t *p = realloc(s->cache, cap * sizeof *p);
    if (!p) return hp_err_set(err, HP_ENOMEM, "store: out of memory");
    s->cache = p, s->cap_cache = cap;
  }
  s->cache[s->n_cache] = c;
  *out = &s->cache[s->n_cache++];
  return HP_OK;
}

static int sqlite_study_create(hp_store_t *s, const char *name, int n_objectives,
                          const bool *maximize, const char *user_attrs_json,
                          const char *system_attrs_json, int64_t *study_id, hp_err_t *err) {
  int rc = hp_store_check_new_study(name, n_objectives, maximize, err);
  if (rc) return rc;
  rc = tx_begin(s, err);
  if (rc) return rc;
  int64_t id = 0;
  if (hp_store_study_find(s, name, &id, NULL) == 0) {
    rc = hp_err_set(err, HP_EEXIST, "study '%s' already exists", name);
    goto done;
  }
  sqlite3_stmt *st = stmt(s, ST_STUDY_INSERT, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  if ((rc = step_done(s, st, err, "inserting a study"))) goto done;
  id = sqlite3_last_insert_rowid(s->db);
  for (int k = 0; k < n_objectives; k++) {
    if (!(st = stmt(s, ST_DIRECTION_INSERT, err))) {
      rc = HP_EDB;
      goto done;
    }
    sqlite3_bind_text(st, 1, maximize[k] ? "MAXIMIZE" : "MINIMIZE", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, k);
    if ((rc = step_done(s, st, err, "inserting a direction"))) goto done;
  }
  if ((rc = put_attrs(s, ST_STUDY_USERATTR_SET, id, user_attrs_json, "study user_attrs", err)))
    goto done;
  if ((rc = put_attrs(s, ST_STUDY_SYSATTR_SET, id, system_attrs_json, "study system_attrs",
                      err)))
    goto done;
done:
  rc = tx_end(s, rc, err);
  if (!rc && study_id) *study_id = id;
  return rc;
}

static int sqlite_study_find(hp_store_t *s, const char *name, int64_t *study_id, hp_err_t *err) {
  if (!name) return hp_err_set(err, HP_EINVAL, "study name: missing");
  sqlite3_stmt *st = stmt(s, ST_STUDY_FIND, err);
  if (!st) return HP_EDB;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  int rc = HP_OK;
  if (r == SQLITE_ROW) {
    if (study_id) *study_id = sqlite3_column_int64(st, 0);
  } else if (r == SQLITE_DONE) {
    rc = hp_err_set(err, HP_ENOTFOUND, "no study named '%s'", name);
  } else {
    rc = db_err(s, err, "finding a study");
  }
  sqlite3_reset(st);
  return rc;
}

void hp_store_study_info_clear(hp_store_study_info_t *info) {
  if (!info) return;
  free(info->name);
  info->name = NULL;
}

void hp_store_study_list_free(hp_store_study_info_t *list, size_t n) {
  if (!list) return;
  for (size_t i = 0; i < n; i++) free(list[i].name);
  free(list);
}


/* Summaries of all studies (filter < 0) or of one: four queries in all
 * (studies, counts, directions, best), each one pass over its rows. */
static int summaries(hp_store_t *s, int64_t filter, bool brief, hp_store_study_info_t **out,
                     size_t *n_out, hp_err_t *err) {
  *out = NULL;
  *n_out = 0;
  hp_store_study_info_t *list = NULL;
  size_t n = 0, cap = 0;
  int rc = HP_OK, r;
  sqlite3_stmt *st = stmt(s, ST_SUMMARY_STUDIES, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, filter);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      hp_store_study_info_t *p = realloc(list, cap * sizeof *p);
      if (!p) {
        rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
        break;
      }
      list = p;
    }
    hp_store_study_info_t *in = &list[n];
    memset(in, 0, sizeof *in);
    in->study_id = sqlite3_column_int64(st, 0);
    in->best_number = -1;
    in->best_trial_id = -1;
    const char *name = (const char *)sqlite3_column_text(st, 1);
    if (!(in->name = strdup(name ? name : ""))) {
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
      break;
    }
    n++;
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "listing studies");
  sqlite3_reset(st);
  if (rc) goto fail;

  if (brief) goto dirs; /* name and directions only */
  if (!(st = stmt(s, filter < 0 ? ST_SUMMARY_COUNTS : ST_SUMMARY_COUNTS_ONE, err))) {
    rc = HP_EDB;
    goto fail;
  }
  sqlite3_bind_int64(st, 1, filter);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    /* (one study without trials: a row of NULL study_id) */
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) continue;
    long i = hp_store_study_index(list, n, sqlite3_column_int64(st, 0));
    if (i < 0) continue; /* trials of a deleted study: ignored */
    hp_store_study_info_t *in = &list[i];
    in->n_trials = sqlite3_column_int64(st, 1);
    in->n_state[HP_STORE_RUNNING] = sqlite3_column_int64(st, 2);
    in->n_state[HP_STORE_COMPLETE] = sqlite3_column_int64(st, 3);
    in->n_state[HP_STORE_PRUNED] = sqlite3_column_int64(st, 4);
    in->n_state[HP_STORE_FAIL] = sqlite3_column_int64(st, 5);
    in->n_state[HP_STORE_WAITING] = sqlite3_column_int64(st, 6);
    copy_time(s, in->datetime_start, sizeof in->datetime_start, sqlite3_column_text(st, 7));
    copy_time(s, in->datetime_complete, sizeof in->datetime_complete, sqlite3_column_text(st, 8));
  }
  if (r != SQLITE_DONE) rc = db_err(s, err, "counting trials");
  sqlite3_reset(st);
  if (rc) goto fail;

dirs:
  if (!(st = stmt(s, ST_SUMMARY_DIRS, err))) {
    rc = HP_EDB;
    goto fail;
  }
  sqlite3_bind_int64(st, 1, filter);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    long i = hp_store_study_index(list, n, sqlite3_column_int64(st, 0));
    int k = sqlite3_column_int(st, 1);
    if (i < 0 || k < 0 || k >= HP_STORE_MAX_OBJECTIVES) continue;
    const char *d = (const char *)sqlite3_column_text(st, 2);
    list[i].maximize[k] = d && strcmp(d, "MAXIMIZE") == 0;
    if (k + 1 > list[i].n_objectives) list[i].n_objectives = k + 1;
  }
  if (r != SQLITE_DONE) rc = db_err(s, err, "reading directions");
  sqlite3_reset(st);
  if (rc) goto fail;

  if (brief) goto done;
  if (!(st = stmt(s, filter < 0 ? ST_SUMMARY_BEST : ST_SUMMARY_BEST_ONE, err))) {
    rc = HP_EDB;
    goto fail;
  }
  sqlite3_bind_int64(st, 1, filter);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) continue;
    long i = hp_store_study_index(list, n, sqlite3_column_int64(st, 0));
    if (i < 0 || sqlite3_column_type(st, 1) == SQLITE_NULL) continue;
    double k = sqlite3_column_double(st, 1);
    list[i].has_best = true;
    list[i].best_value = list[i].maximize[0] ? -k : k;
    list[i].best_number = sqlite3_column_int64(st, 2);
    list[i].best_trial_id = sqlite3_column_int64(st, 3);
  }
  if (r != SQLITE_DONE) rc = db_err(s, err, "reading best values");
  sqlite3_reset(st);
  if (rc) goto fail;
done:
  *out = list;
  *n_out = n;
  return HP_OK;
fail:
  hp_store_study_list_free(list, n);
  return rc;
}

static int sqlite_study_list(hp_store_t *s, hp_store_study_info_t **out, size_t *n, hp_err_t *err) {
  return summaries(s, -1, false, out, n, err);
}

static int study_one(hp_store_t *s, int64_t study_id, bool brief, hp_store_study_info_t *info,
                     hp_err_t *err) {
  memset(info, 0, sizeof *info);
  if (study_id < 0) return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
  hp_store_study_info_t *list;
  size_t n;
  int rc = summaries(s, study_id, brief, &list, &n, err);
  if (rc) return rc;
  if (n != 1) {
    hp_store_study_list_free(list, n);
    return hp_err_set(err, HP_ENOTFOUND, "no study with id %lld", (long long)study_id);
  }
  *info = list[0];
  free(list);
  return HP_OK;
}

static int sqlite_study_get(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info,
                            hp_err_t *err) {
  return study_one(s, study_id, false, info, err);
}

static int sqlite_study_brief(hp_store_t *s, int64_t study_id, hp_store_study_info_t *info,
                              hp_err_t *err) {
  return study_one(s, study_id, true, info, err);
}

static int sqlite_study_delete(hp_store_t *s, int64_t study_id, hp_err_t *err) {
  static const char *const DELETES[] = {
      "DELETE FROM trial_params WHERE trial_id IN (SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trial_values WHERE trial_id IN (SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trial_intermediate_values WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trial_user_attributes WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trial_system_attributes WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trial_heartbeats WHERE trial_id IN "
      "(SELECT trial_id FROM trials WHERE study_id = ?1)",
      "DELETE FROM trials WHERE study_id = ?1",
      "DELETE FROM study_directions WHERE study_id = ?1",
      "DELETE FROM study_user_attributes WHERE study_id = ?1",
      "DELETE FROM study_system_attributes WHERE study_id = ?1",
      "DELETE FROM studies WHERE study_id = ?1",
  };
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if ((rc = study_exists(s, study_id, err))) goto done;
  /* Deleting is rare: plain prepare, no cache slot. */
  for (size_t i = 0; i < sizeof DELETES / sizeof DELETES[0]; i++) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, DELETES[i], -1, &st, NULL) != SQLITE_OK) {
      rc = db_err(s, err, "deleting a study");
      goto done;
    }
    sqlite3_bind_int64(st, 1, study_id);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
      rc = db_err(s, err, "deleting a study");
      goto done;
    }
  }
  cache_clear(s);
done:
  return tx_end(s, rc, err);
}

static int study_attr_set(hp_store_t *s, int id, int64_t study_id, const char *key,
                          const char *value_json, const char *what, hp_err_t *err) {
  int rc = hp_store_check_attr(key, value_json, what, err);
  if (rc) return rc;
  if ((rc = tx_begin(s, err))) return rc;
  if (!(rc = study_exists(s, study_id, err)))
    rc = set_attr(s, id, study_id, key, value_json, what, err);
  return tx_end(s, rc, err);
}

static int sqlite_study_set_system_attr(hp_store_t *s, int64_t study_id, const char *key,
                                   const char *value_json, hp_err_t *err) {
  return study_attr_set(s, ST_STUDY_SYSATTR_SET, study_id, key, value_json,
                        "study system attr", err);
}

static int sqlite_study_get_system_attr(hp_store_t *s, int64_t study_id, const char *key,
                                   char **value_json, hp_err_t *err) {
  *value_json = NULL;
  sqlite3_stmt *st = stmt(s, ST_STUDY_SYSATTR_GET, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, study_id);
  sqlite3_bind_text(st, 2, key ? key : "", -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  int rc = HP_OK;
  if (r == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    if (!(*value_json = strdup(v ? v : "null")))
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
  } else if (r == SQLITE_DONE) {
    rc = hp_err_set(err, HP_ENOTFOUND, "study %lld: no system attr '%s'", (long long)study_id,
                    key ? key : "");
  } else {
    rc = db_err(s, err, "reading a study attr");
  }
  sqlite3_reset(st);
  return rc;
}

static int sqlite_study_attrs(hp_store_t *s, int64_t study_id, bool system, char **object_json,
                         hp_err_t *err) {
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  return attrs_object(s, system ? ST_STUDY_SYSATTRS : ST_STUDY_USERATTRS, study_id, object_json,
                      err);
}

/* ---- trials ----------------------------------------------------------- */

/* State and study of a trial. */
static int trial_state(hp_store_t *s, int64_t trial_id, int *state, int64_t *study_id,
                       hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, ST_TRIAL_STATE, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, trial_id);
  int r = sqlite3_step(st);
  int rc = HP_OK;
  if (r == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    *state = hp_store_state_parse(name);
    if (study_id) *study_id = sqlite3_column_int64(st, 1);
    if (*state < 0)
      rc = hp_err_set(err, HP_EFORMAT, "trial %lld: unknown state '%s' in the database",
                      (long long)trial_id, name ? name : "(null)");
  } else if (r == SQLITE_DONE) {
    rc = hp_err_set(err, HP_ENOTFOUND, "no trial with id %lld", (long long)trial_id);
  } else {
    rc = db_err(s, err, "reading a trial");
  }
  sqlite3_reset(st);
  return rc;
}


/* The trial must exist and not be finished. */
static int trial_unfinished(hp_store_t *s, int64_t trial_id, int64_t *study_id, hp_err_t *err) {
  int state;
  int rc = trial_state(s, trial_id, &state, study_id, err);
  if (rc) return rc;
  if (hp_store_is_finished(state))
    return hp_err_set(err, HP_ESTATE, "trial %lld is already finished (%s)", (long long)trial_id,
                      hp_store_state_name(state));
  return HP_OK;
}

static int put_params(hp_store_t *s, int64_t trial_id, const hp_store_param_t *params,
                      size_t n_params, hp_err_t *err) {
  for (size_t i = 0; i < n_params; i++) {
    const hp_store_param_t *p = &params[i];
    int rc = hp_store_check_param(p, i, err);
    if (rc) return rc;
    sqlite3_stmt *st = stmt(s, ST_PARAM_UPSERT, err);
    if (!st) return HP_EDB;
    sqlite3_bind_int64(st, 1, trial_id);
    sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, p->value);
    sqlite3_bind_text(st, 4, p->distribution_json, -1, SQLITE_STATIC);
    if ((rc = step_done(s, st, err, "storing a param"))) return rc;
  }
  return HP_OK;
}

static int sqlite_trial_create(hp_store_t *s, int64_t study_id, hp_store_state_t state,
                          const hp_store_param_t *params, size_t n_params,
                          const char *system_attrs_json, int64_t *trial_id, int64_t *number,
                          hp_err_t *err) {
  int rc = hp_store_check_new_trial(state, params, n_params, err);
  if (rc) return rc;
  rc = tx_begin(s, err);
  if (rc) return rc;
  study_cache_t *c;
  int64_t id = 0, num = 0;
  if ((rc = study_cached(s, study_id, &c, err))) goto done;
  num = c->next_number;
  sqlite3_stmt *st = stmt(s, ST_TRIAL_INSERT, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  char now[32];
  now_str(s, now);
  sqlite3_bind_int64(st, 1, num);
  sqlite3_bind_int64(st, 2, study_id);
  sqlite3_bind_text(st, 3, hp_store_state_name(state), -1, SQLITE_STATIC);
  if (state == HP_STORE_RUNNING) sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
  if ((rc = step_done(s, st, err, "inserting a trial"))) goto done;
  id = sqlite3_last_insert_rowid(s->db);
  c->next_number++;
  if ((rc = put_params(s, id, params, n_params, err))) goto done;
  rc = put_attrs(s, ST_TRIAL_SYSATTR_SET, id, system_attrs_json, "trial system_attrs", err);
done:
  rc = tx_end(s, rc, err);
  if (!rc) {
    if (trial_id) *trial_id = id;
    if (number) *number = num;
  }
  return rc;
}

static int sqlite_trial_pop_waiting(hp_store_t *s, int64_t study_id, int64_t *trial_id,
                               int64_t *number, char **system_attrs_json, hp_err_t *err) {
  if (system_attrs_json) *system_attrs_json = NULL;
  int rc = tx_begin(s, err);
  if (rc) return rc;
  int64_t id = 0, num = 0;
  char *attrs = NULL;
  if ((rc = study_exists(s, study_id, err))) goto done;
  sqlite3_stmt *st = stmt(s, ST_WAITING_OLDEST, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  sqlite3_bind_int64(st, 1, study_id);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    id = sqlite3_column_int64(st, 0);
    num = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  if (r == SQLITE_DONE) {
    rc = hp_err_set(err, HP_ENOTFOUND, "study %lld has no WAITING trial", (long long)study_id);
    goto done;
  }
  if (r != SQLITE_ROW) {
    rc = db_err(s, err, "finding a WAITING trial");
    goto done;
  }
  if (!(st = stmt(s, ST_TRIAL_START, err))) {
    rc = HP_EDB;
    goto done;
  }
  char now[32];
  now_str(s, now);
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
  if ((rc = step_done(s, st, err, "starting a WAITING trial"))) goto done;
  if (system_attrs_json) rc = attrs_object(s, ST_TRIAL_SYSATTRS, id, &attrs, err);
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

static int sqlite_trial_set_params(hp_store_t *s, int64_t trial_id, const hp_store_param_t *params,
                              size_t n_params, hp_err_t *err) {
  if (n_params && !params) return hp_err_set(err, HP_EINVAL, "params missing");
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if (!(rc = trial_unfinished(s, trial_id, NULL, err)))
    rc = put_params(s, trial_id, params, n_params, err);
  return tx_end(s, rc, err);
}

static int sqlite_trial_report(hp_store_t *s, int64_t trial_id, int64_t step, double value,
                          hp_err_t *err) {
  if (step < 0) return hp_err_set(err, HP_EINVAL, "report: step %lld < 0", (long long)step);
  int rc = tx_begin(s, err);
  if (rc) return rc;
  if ((rc = trial_unfinished(s, trial_id, NULL, err))) goto done;
  sqlite3_stmt *st = stmt(s, ST_INTER_UPSERT, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  sqlite3_bind_int64(st, 1, trial_id);
  sqlite3_bind_int64(st, 2, step);
  bind_value(st, 3, 4, value);
  rc = step_done(s, st, err, "storing an intermediate value");
done:
  return tx_end(s, rc, err);
}

static int trial_attr_set(hp_store_t *s, int id, int64_t trial_id, const char *key,
                          const char *value_json, const char *what, hp_err_t *err) {
  int rc = hp_store_check_attr(key, value_json, what, err);
  if (rc) return rc;
  if ((rc = tx_begin(s, err))) return rc;
  int state;
  if (!(rc = trial_state(s, trial_id, &state, NULL, err)))
    rc = set_attr(s, id, trial_id, key, value_json, what, err);
  return tx_end(s, rc, err);
}

static int sqlite_trial_set_system_attr(hp_store_t *s, int64_t trial_id, const char *key,
                                   const char *value_json, hp_err_t *err) {
  return trial_attr_set(s, ST_TRIAL_SYSATTR_SET, trial_id, key, value_json,
                        "trial system attr", err);
}

static int sqlite_trial_set_user_attr(hp_store_t *s, int64_t trial_id, const char *key,
                                 const char *value_json, hp_err_t *err) {
  return trial_attr_set(s, ST_TRIAL_USERATTR_SET, trial_id, key, value_json, "trial user attr",
                        err);
}

static int sqlite_trial_heartbeat(hp_store_t *s, int64_t trial_id, hp_err_t *err) {
  int rc = tx_begin(s, err);
  if (rc) return rc;
  int state;
  if (!(rc = trial_state(s, trial_id, &state, NULL, err)) && state != HP_STORE_RUNNING)
    rc = hp_err_set(err, HP_ESTATE, "heartbeat of trial %lld: it is %s, not RUNNING",
                    (long long)trial_id, hp_store_state_name(state));
  sqlite3_stmt *st = rc ? NULL : stmt(s, ST_HEARTBEAT_UPSERT, err);
  if (rc == 0 && st == NULL) rc = HP_EDB;
  if (rc == 0) {
    sqlite3_bind_int64(st, 1, trial_id);
    rc = step_done(s, st, err, "recording a heartbeat");
  }
  return tx_end(s, rc, err);
}

static int put_value(hp_store_t *s, int64_t trial_id, int objective, double v, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, ST_VALUE_UPSERT, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, trial_id);
  sqlite3_bind_int(st, 2, objective);
  bind_value(st, 3, 4, v);
  return step_done(s, st, err, "storing a value");
}

static int sqlite_trial_finish(hp_store_t *s, int64_t trial_id, hp_store_state_t state,
                          const double *values, size_t n_values, const char *system_attrs_json,
                          hp_err_t *err) {
  int rc = hp_store_check_finish(trial_id, state, values, n_values, err);
  if (rc) return rc;
  rc = tx_begin(s, err);
  if (rc) return rc;
  int64_t study_id = -1;
  if ((rc = trial_unfinished(s, trial_id, &study_id, err))) goto done;
  if (state == HP_STORE_COMPLETE || n_values) {
    study_cache_t *c;
    if ((rc = study_cached(s, study_id, &c, err))) goto done;
    if (n_values != (size_t)c->n_objectives) {
      rc = hp_err_set(err, HP_EINVAL, "finish trial %lld: %zu values for a study with %d "
                      "objective(s)", (long long)trial_id, n_values, c->n_objectives);
      goto done;
    }
  }
  sqlite3_stmt *st = stmt(s, ST_TRIAL_SET_STATE, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  char now[32];
  now_str(s, now);
  sqlite3_bind_int64(st, 1, trial_id);
  sqlite3_bind_text(st, 2, hp_store_state_name(state), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
  if ((rc = step_done(s, st, err, "finishing a trial"))) goto done;
  for (size_t k = 0; k < n_values; k++)
    if ((rc = put_value(s, trial_id, (int)k, values[k], err))) goto done;
  if (state == HP_STORE_PRUNED && n_values == 0) {
    /* Optuna's tell: a pruned trial's value is its last intermediate value,
     * unless that is NaN. */
    if (!(st = stmt(s, ST_INTER_LAST, err))) {
      rc = HP_EDB;
      goto done;
    }
    sqlite3_bind_int64(st, 1, trial_id);
    int r = sqlite3_step(st);
    double last = r == SQLITE_ROW ? column_value(st, 0, 1) : NAN;
    sqlite3_reset(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
      rc = db_err(s, err, "reading the last intermediate value");
      goto done;
    }
    if (!isnan(last) && (rc = put_value(s, trial_id, 0, last, err))) goto done;
  }
  rc = put_attrs(s, ST_TRIAL_SYSATTR_SET, trial_id, system_attrs_json, "trial system_attrs", err);
done:
  return tx_end(s, rc, err);
}

/* ---- reading trials --------------------------------------------------- */

void hp_store_trial_clear(hp_store_trial_t *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n_params; i++) {
    free(t->params[i].name);
    free(t->params[i].distribution_json);
  }
  free(t->params);
  free(t->steps);
  free(t->intermediate);
  free(t->user_attrs_json);
  free(t->system_attrs_json);
  memset(t, 0, sizeof *t);
}

void hp_store_trials_free(hp_store_trial_t *trials, size_t n) {
  if (!trials) return;
  for (size_t i = 0; i < n; i++) hp_store_trial_clear(&trials[i]);
  free(trials);
}

static void bind_filter(sqlite3_stmt *st, bool by_trial, int64_t a, int64_t b) {
  sqlite3_bind_int64(st, 1, a);
  if (!by_trial) sqlite3_bind_int64(st, 2, b);
}

/* The statement id of a child-table read, bound to trial ids lo..hi. */
static sqlite3_stmt *range_stmt(hp_store_t *s, int id, int64_t lo, int64_t hi, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, id, err);
  if (st) {
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
  }
  return st;
}

/* Whether ids lo..hi are most of the trials table (then the params are read
 * in one pass over the table rather than through its index). */
static bool most_trials(hp_store_t *s, int64_t lo, int64_t hi, hp_err_t *err) {
  if (hi - lo < 1000) return false;
  int rc = 0;
  int64_t max = scalar_int(s, ST_MAX_TRIAL_ID, 0, err, &rc);
  return rc == 0 && 2 * (hi - lo + 1) >= max;
}


static int read_trials(hp_store_t *s, bool by_trial, int64_t a, int64_t b, hp_store_trial_t **out,
                       size_t *n_out, hp_err_t *err) {
  hp_store_reader_t rd = {0};
  int rc = HP_OK, r;
  int base = by_trial ? ST_READ_TRIALS_T : ST_READ_TRIALS_S;
  sqlite3_stmt *st = stmt(s, base, err);
  if (!st) return HP_EDB;
  bind_filter(st, by_trial, a, b);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    if (rd.n == rd.cap) {
      size_t cap = rd.cap ? 2 * rd.cap : 16;
      hp_store_trial_t *p = realloc(rd.t, cap * sizeof *p);
      if (!p) {
        rc = HP_ENOMEM;
        break;
      }
      rd.t = p, rd.cap = cap;
    }
    hp_store_trial_t *t = &rd.t[rd.n++];
    memset(t, 0, sizeof *t);
    t->trial_id = sqlite3_column_int64(st, 0);
    t->study_id = sqlite3_column_int64(st, 1);
    t->number = sqlite3_column_int64(st, 2);
    const char *state = (const char *)sqlite3_column_text(st, 3);
    int sv = hp_store_state_parse(state);
    if (sv < 0) {
      rc = hp_err_set(err, HP_EFORMAT, "trial %lld: unknown state '%s' in the database",
                      (long long)t->trial_id, state ? state : "(null)");
      break;
    }
    t->state = (hp_store_state_t)sv;
    copy_time(s, t->datetime_start, sizeof t->datetime_start, sqlite3_column_text(st, 4));
    copy_time(s, t->datetime_complete, sizeof t->datetime_complete, sqlite3_column_text(st, 5));
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading trials");
  sqlite3_reset(st);
  if (rc) goto fail;
  if (rd.n == 0) goto ok;
  if ((rc = hp_store_reader_index(&rd))) goto fail;
  int64_t lo = rd.t[rd.by_id[0]].trial_id, hi = rd.t[rd.by_id[rd.n - 1]].trial_id;

  /* params */
  int pid = most_trials(s, lo, hi, err) ? ST_READ_PARAMS_SCAN : ST_READ_PARAMS_R;
  if (!(st = range_stmt(s, pid, lo, hi, err))) goto db_fail;
  while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, sqlite3_column_int64(st, 0));
    if (!t) continue;
    if (hp_store_grow((void **)&t->params, t->n_params, sizeof *t->params)) {
      rc = HP_ENOMEM;
      break;
    }
    hp_store_param_out_t *p = &t->params[t->n_params];
    const char *name = (const char *)sqlite3_column_text(st, 1);
    const char *dist = (const char *)sqlite3_column_text(st, 3);
    p->name = strdup(name ? name : "");
    p->distribution_json = strdup(dist ? dist : "");
    p->value = sqlite3_column_double(st, 2);
    t->n_params++;
    if (!p->name || !p->distribution_json) rc = HP_ENOMEM;
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading params");
  sqlite3_reset(st);
  if (rc) goto fail;

  /* values */
  if (!(st = range_stmt(s, ST_READ_VALUES_R, lo, hi, err))) goto db_fail;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, sqlite3_column_int64(st, 0));
    int k = sqlite3_column_int(st, 1);
    if (!t || k < 0 || k >= HP_STORE_MAX_OBJECTIVES) continue;
    t->values[k] = column_value(st, 2, 3);
    if ((size_t)k + 1 > t->n_values) t->n_values = (size_t)k + 1;
  }
  if (r != SQLITE_DONE) rc = db_err(s, err, "reading values");
  sqlite3_reset(st);
  if (rc) goto fail;

  /* intermediate values, ascending steps */
  if (!(st = range_stmt(s, ST_READ_INTER_R, lo, hi, err))) goto db_fail;
  while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
    hp_store_trial_t *t = hp_store_reader_find(&rd, sqlite3_column_int64(st, 0));
    if (!t) continue;
    if (hp_store_grow((void **)&t->steps, t->n_intermediate, sizeof *t->steps) ||
        hp_store_grow((void **)&t->intermediate, t->n_intermediate, sizeof *t->intermediate)) {
      rc = HP_ENOMEM;
      break;
    }
    t->steps[t->n_intermediate] = sqlite3_column_int64(st, 1);
    t->intermediate[t->n_intermediate] = column_value(st, 2, 3);
    t->n_intermediate++;
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading intermediate values");
  sqlite3_reset(st);
  if (rc) goto fail;

  /* user and system attrs as JSON object texts */
  for (int pass = 0; pass < 2; pass++) {
    if (!(st = range_stmt(s, pass ? ST_READ_SATTR_R : ST_READ_UATTR_R, lo, hi, err))) goto db_fail;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
      hp_store_trial_t *t = hp_store_reader_find(&rd, sqlite3_column_int64(st, 0));
      if (t)
        rc = hp_store_reader_attr(&rd, t, pass == 1, (const char *)sqlite3_column_text(st, 1),
                                  (const char *)sqlite3_column_text(st, 2));
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading trial attrs");
    sqlite3_reset(st);
    if (rc) goto fail;
  }
  if ((rc = hp_store_reader_finish(&rd))) goto fail;
ok:
  hp_store_reader_release(&rd);
  *out = rd.t;
  *n_out = rd.n;
  return HP_OK;
db_fail:
  rc = HP_EDB;
fail:
  if (rc == HP_ENOMEM) hp_err_set(err, HP_ENOMEM, "store: out of memory reading trials");
  hp_store_reader_release(&rd);
  hp_store_trials_free(rd.t, rd.n);
  return rc;
}

static int sqlite_trials_list(hp_store_t *s, int64_t study_id, int64_t min_number,
                         hp_store_trial_t **out, size_t *n, hp_err_t *err) {
  *out = NULL;
  *n = 0;
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  return read_trials(s, false, study_id, min_number, out, n, err);
}

/* ---- column-shaped reads (hp_store_trials_scan) -------------------------- */

/* The index of trial_id among the trials read (ids[], ascending when the
 * trials' numbers follow their ids, which by[] then is not needed), with a
 * cursor: child rows come mostly in trial order. */
typedef struct scan_ids {
  int64_t *id;   /* [n] trial_ids in read (number) order */
  size_t *by;    /* [n] indices sorted by id, NULL when id[] is ascending */
  size_t n, cur;
} scan_ids_t;

static long scan_find(scan_ids_t *x, int64_t id) {
  size_t c = x->cur;
#define ID_AT(k) (x->by ? x->id[x->by[k]] : x->id[k])
  if (c < x->n && ID_AT(c) == id) return (long)(x->by ? x->by[c] : c);
  if (c + 1 < x->n && ID_AT(c + 1) == id) {
    x->cur = c + 1;
    return (long)(x->by ? x->by[c + 1] : c + 1);
  }
  size_t lo = 0, hi = x->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ID_AT(mid) < id) lo = mid + 1;
    else hi = mid;
  }
  if (lo < x->n && ID_AT(lo) == id) {
    x->cur = lo;
    return (long)(x->by ? x->by[lo] : lo);
  }
  return -1;
#undef ID_AT
}

static int cmp_sort_ids(const void *a, const void *b, void *ids) {
  const int64_t *id = ids;
  int64_t x = id[*(const size_t *)a], y = id[*(const size_t *)b];
  return x < y ? -1 : x > y;
}

static int sqlite_trials_scan(hp_store_t *s, int64_t study_id, const hp_store_scan_t *sc,
                              hp_err_t *err) {
  int rc = study_exists(s, study_id, err), r = SQLITE_DONE;
  if (rc) return rc;
  scan_ids_t x = {0};
  size_t cap = 0;
  bool by_id = sc->min_trial_id > 0 && !sc->complete_only;
  sqlite3_stmt *st = stmt(s, sc->complete_only ? ST_SCAN_TRIALS_C
                             : by_id          ? ST_SCAN_TRIALS_ID
                                              : ST_READ_TRIALS_S, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, study_id);
  sqlite3_bind_int64(st, 2, sc->min_number);
  if (by_id) sqlite3_bind_int64(st, 3, sc->min_trial_id);
  bool ascending = true;
  while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
    if (x.n == cap) {
      cap = cap ? 2 * cap : 1024;
      int64_t *p = realloc(x.id, cap * sizeof *p);
      if (!p) {
        rc = hp_err_set(err, HP_ENOMEM, "store: out of memory reading trials");
        break;
      }
      x.id = p;
    }
    hp_store_scan_trial_t t;
    char start[32], end[32];
    t.trial_id = sqlite3_column_int64(st, 0);
    t.number = sqlite3_column_int64(st, 2);
    const char *state = (const char *)sqlite3_column_text(st, 3);
    int sv = hp_store_state_parse(state);
    if (sv < 0) {
      rc = hp_err_set(err, HP_EFORMAT, "trial %lld: unknown state '%s' in the database",
                      (long long)t.trial_id, state ? state : "(null)");
      break;
    }
    t.state = (hp_store_state_t)sv;
    start[0] = end[0] = '\0';
    if (sc->times) {
      copy_time(s, start, sizeof start, sqlite3_column_text(st, 4));
      copy_time(s, end, sizeof end, sqlite3_column_text(st, 5));
    }
    t.datetime_start = start;
    t.datetime_complete = end;
    if (t.trial_id < sc->min_trial_id) continue;
    if (x.n > 0 && t.trial_id <= x.id[x.n - 1]) ascending = false;
    x.id[x.n] = t.trial_id;
    if (sc->trial) rc = sc->trial(sc->ctx, x.n, &t);
    x.n++;
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading trials");
  sqlite3_reset(st);
  if (rc || x.n == 0) goto done;
  if (!ascending) {
    if (!(x.by = malloc(x.n * sizeof *x.by))) {
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory reading trials");
      goto done;
    }
    for (size_t i = 0; i < x.n; i++) x.by[i] = i;
    qsort_r(x.by, x.n, sizeof *x.by, cmp_sort_ids, x.id);
  }
  int64_t lo = x.by ? x.id[x.by[0]] : x.id[0], hi = x.by ? x.id[x.by[x.n - 1]] : x.id[x.n - 1];

  if (sc->param) {
    int pid = most_trials(s, lo, hi, err) ? ST_READ_PARAMS_SCAN : ST_READ_PARAMS_R;
    if (!(st = range_stmt(s, pid, lo, hi, err))) goto db_fail;
    x.cur = 0;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
      long i = scan_find(&x, sqlite3_column_int64(st, 0));
      if (i < 0) continue;
      const char *name = (const char *)sqlite3_column_text(st, 1);
      const char *dist = (const char *)sqlite3_column_text(st, 3);
      rc = sc->param(sc->ctx, (size_t)i, name ? name : "", sqlite3_column_double(st, 2),
                     dist ? dist : "");
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading params");
    sqlite3_reset(st);
    if (rc) goto done;
  }
  if (sc->value) {
    if (!(st = range_stmt(s, ST_READ_VALUES_R, lo, hi, err))) goto db_fail;
    x.cur = 0;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
      long i = scan_find(&x, sqlite3_column_int64(st, 0));
      int k = sqlite3_column_int(st, 1);
      if (i < 0 || k < 0 || k >= HP_STORE_MAX_OBJECTIVES) continue;
      rc = sc->value(sc->ctx, (size_t)i, k, column_value(st, 2, 3));
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading values");
    sqlite3_reset(st);
    if (rc) goto done;
  }
  if (sc->inter) {
    if (!(st = range_stmt(s, ST_READ_INTER_R, lo, hi, err))) goto db_fail;
    x.cur = 0;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
      long i = scan_find(&x, sqlite3_column_int64(st, 0));
      if (i >= 0) rc = sc->inter(sc->ctx, (size_t)i, sqlite3_column_int64(st, 1), column_value(st, 2, 3));
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading intermediate values");
    sqlite3_reset(st);
    if (rc) goto done;
  }
  for (int pass = 0; pass < 2; pass++) {
    int (*cb)(void *, size_t, const char *, const char *) = pass ? sc->system_attr : sc->user_attr;
    if (cb == NULL) continue;
    bool keys = pass == 1 && sc->system_keys[0] != NULL;
    int id = keys ? ST_READ_SATTR_K : pass ? ST_READ_SATTR_R : ST_READ_UATTR_R;
    if (!(st = range_stmt(s, id, lo, hi, err))) goto db_fail;
    if (keys) {
      sqlite3_bind_text(st, 3, sc->system_keys[0], -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, sc->system_keys[1] ? sc->system_keys[1] : sc->system_keys[0], -1,
                        SQLITE_STATIC);
    }
    x.cur = 0;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
      long i = scan_find(&x, sqlite3_column_int64(st, 0));
      const char *key = (const char *)sqlite3_column_text(st, 1);
      const char *val = (const char *)sqlite3_column_text(st, 2);
      if (i >= 0 && key) rc = cb(sc->ctx, (size_t)i, key, val ? val : "null");
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "reading trial attrs");
    sqlite3_reset(st);
    if (rc) goto done;
  }
  goto done;
db_fail:
  rc = HP_EDB;
done:
  free(x.id);
  free(x.by);
  return rc;
}

static int sqlite_trial_get(hp_store_t *s, int64_t trial_id, hp_store_trial_t *out, hp_err_t *err) {
  memset(out, 0, sizeof *out);
  hp_store_trial_t *arr;
  size_t n;
  int rc = read_trials(s, true, trial_id, 0, &arr, &n, err);
  if (rc) return rc;
  if (n != 1) {
    hp_store_trials_free(arr, n);
    return hp_err_set(err, HP_ENOTFOUND, "no trial with id %lld", (long long)trial_id);
  }
  *out = arr[0];
  free(arr);
  return HP_OK;
}

static int sqlite_trial_state(hp_store_t *s, int64_t trial_id, hp_store_state_t *state,
                              hp_err_t *err) {
  int st = 0;
  int rc = trial_state(s, trial_id, &st, NULL, err);
  if (rc == 0) *state = (hp_store_state_t)st;
  return rc;
}

static int sqlite_first_running(hp_store_t *s, int64_t study_id, int64_t *number, hp_err_t *err) {
  sqlite3_stmt *st = stmt(s, ST_RUNNING_FIRST, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, study_id);
  int r = sqlite3_step(st);
  bool found = r == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (found) *number = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (r != SQLITE_ROW) return db_err(s, err, "finding the running trials");
  if (!found)
    return hp_err_set(err, HP_ENOTFOUND, "study %lld has no running trial", (long long)study_id);
  return HP_OK;
}

static int sqlite_best_trial(hp_store_t *s, int64_t study_id, int64_t *trial_id, int64_t *number,
                        double *value, hp_err_t *err) {
  int rc = study_exists(s, study_id, err);
  if (rc) return rc;
  sqlite3_stmt *st = stmt(s, ST_BEST, err);
  if (!st) return HP_EDB;
  sqlite3_bind_int64(st, 1, study_id);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    if (trial_id) *trial_id = sqlite3_column_int64(st, 0);
    if (number) *number = sqlite3_column_int64(st, 1);
    if (value) *value = sqlite3_column_double(st, 2); /* signed key, see below */
  }
  sqlite3_reset(st);
  if (r == SQLITE_DONE)
    return hp_err_set(err, HP_ENOTFOUND, "study %lld has no COMPLETE trial with a value",
                      (long long)study_id);
  if (r != SQLITE_ROW) return db_err(s, err, "finding the best trial");
  if (value) {
    /* Direction of objective 0 decides the sign of the key. */
    sqlite3_stmt *d = stmt(s, ST_STUDY_DIR0, err);
    if (!d) return HP_EDB;
    sqlite3_bind_int64(d, 1, study_id);
    if (sqlite3_step(d) == SQLITE_ROW) {
      const char *dir = (const char *)sqlite3_column_text(d, 0);
      if (dir && strcmp(dir, "MAXIMIZE") == 0) *value = -*value;
    }
    sqlite3_reset(d);
  }
  return HP_OK;
}

static int sqlite_reconcile(hp_store_t *s, const char *reason, const int64_t *keep,
                            size_t n_keep, hp_store_trial_ref_t **out, size_t *n, hp_err_t *err) {
  if (out) *out = NULL;
  if (n) *n = 0;
  hp_store_trial_ref_t *refs = NULL;
  size_t nr = 0;
  char *reason_json = NULL;
  cJSON *js = cJSON_CreateString(reason ? reason : "daemon restarted");
  if (js) reason_json = hp_json_print(js);
  cJSON_Delete(js);
  if (!reason_json) return hp_err_set(err, HP_ENOMEM, "store: out of memory");
  int rc = tx_begin(s, err), r;
  if (rc) {
    free(reason_json);
    return rc;
  }
  sqlite3_stmt *st = stmt(s, ST_RUNNING_ALL, err);
  if (!st) {
    rc = HP_EDB;
    goto done;
  }
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    bool kept = false;
    for (size_t k = 0; k < n_keep && !kept; k++) kept = keep[k] == sqlite3_column_int64(st, 1);
    if (kept) continue;
    if (hp_store_grow((void **)&refs, nr, sizeof *refs)) {
      rc = hp_err_set(err, HP_ENOMEM, "store: out of memory");
      break;
    }
    refs[nr].study_id = sqlite3_column_int64(st, 0);
    refs[nr].trial_id = sqlite3_column_int64(st, 1);
    refs[nr].number = sqlite3_column_int64(st, 2);
    nr++;
  }
  if (!rc && r != SQLITE_DONE) rc = db_err(s, err, "finding RUNNING trials");
  sqlite3_reset(st);
  char now[32];
  now_str(s, now);
  for (size_t i = 0; !rc && i < nr; i++) {
    if (!(st = stmt(s, ST_TRIAL_SET_STATE, err))) {
      rc = HP_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, refs[i].trial_id);
    sqlite3_bind_text(st, 2, "FAIL", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    if ((rc = step_done(s, st, err, "failing a RUNNING trial"))) break;
    rc = set_attr(s, ST_TRIAL_SYSATTR_SET, refs[i].trial_id, HP_STORE_FAIL_REASON_KEY,
                  reason_json, "fail reason", err);
  }
done:
  free(reason_json);
  rc = tx_end(s, rc, err);
  if (rc) {
    free(refs);
    return rc;
  }
  if (out)
    *out = refs;
  else
    free(refs);
  if (n) *n = nr;
  return HP_OK;
}

const hp_store_backend_t hp_sqlite_backend = {
    .name = "sqlite",
    .shared = false,
    .revision = sqlite_revision,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_batch = sqlite_in_batch,
    .data_version = sqlite_data_version,
    .study_create = sqlite_study_create,
    .study_find = sqlite_study_find,
    .study_list = sqlite_study_list,
    .study_get = sqlite_study_get,
    .study_delete = sqlite_study_delete,
    .study_set_system_attr = sqlite_study_set_system_attr,
    .study_get_system_attr = sqlite_study_get_system_attr,
    .study_attrs = sqlite_study_attrs,
    .study_lock = NULL, /* one writer: BEGIN IMMEDIATE holds the file's write lock */
    .trial_create = sqlite_trial_create,
    .trial_pop_waiting = sqlite_trial_pop_waiting,
    .trial_set_params = sqlite_trial_set_params,
    .trial_report = sqlite_trial_report,
    .trial_set_system_attr = sqlite_trial_set_system_attr,
    .trial_set_user_attr = sqlite_trial_set_user_attr,
    .trial_heartbeat = sqlite_trial_heartbeat,
    .trial_finish = sqlite_trial_finish,
    .trials_list = sqlite_trials_list,
    .trials_scan = sqlite_trials_scan,
    .study_brief = sqlite_study_brief,
    .trial_get = sqlite_trial_get,
    .trial_state = sqlite_trial_state,
    .first_running = sqlite_first_running,
    .best_trial = sqlite_best_trial,
    .reconcile = sqlite_reconcile,
    .fail_stale = NULL, /* one daemon per file: its restart reconciles */
};

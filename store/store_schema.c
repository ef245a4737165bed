/* Optuna's RDB schema for SQLite, byte for byte as SQLAlchemy emits it (so
 * `sqlite3 FILE .schema` of an hpsearch file and of an Optuna file are
 * identical), at the two alembic revisions hpsearch reads and writes:
 * v3.0.0.d (Optuna 3.1) and v3.2.0.a (Optuna 3.2 and later, which adds one
 * index on trials.study_id); plus the version rows Optuna checks when it opens
 * a file, and the upgrade from the first revision to the second. */
#include "store_schema.h"

#include <stdio.h>
#include <string.h>

/* One table (or index) of the schema: name in sqlite_master and its DDL. */
typedef struct schema_obj {
  const char *name;     /* sqlite_master.name */
  const char *ddl;      /* exact CREATE statement */
  hp_store_rev_t since; /* first revision that has it */
} schema_obj_t;

/* Order matters: a table comes before the tables that reference it. */
static const schema_obj_t SCHEMA[] = {
    {"studies",
     "CREATE TABLE studies (\n\tstudy_id INTEGER NOT NULL, \n\tstudy_name VARCHAR(512) NOT NULL, "
     "\n\tPRIMARY KEY (study_id)\n)", HP_STORE_REV_V300D},
    {"ix_studies_study_name", "CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name)",
     HP_STORE_REV_V300D},
    {"version_info",
     "CREATE TABLE version_info (\n\tversion_info_id INTEGER NOT NULL, \n\tschema_version "
     "INTEGER, \n\tlibrary_version VARCHAR(256), \n\tPRIMARY KEY (version_info_id), \n\tCHECK "
     "(version_info_id=1)\n)", HP_STORE_REV_V300D},
    {"study_directions",
     "CREATE TABLE study_directions (\n\tstudy_direction_id INTEGER NOT NULL, \n\tdirection "
     "VARCHAR(8) NOT NULL, \n\tstudy_id INTEGER NOT NULL, \n\tobjective INTEGER NOT NULL, "
     "\n\tPRIMARY KEY (study_direction_id), \n\tUNIQUE (study_id, objective), \n\tFOREIGN "
     "KEY(study_id) REFERENCES studies (study_id)\n)", HP_STORE_REV_V300D},
    {"study_user_attributes",
     "CREATE TABLE study_user_attributes (\n\tstudy_user_attribute_id INTEGER NOT NULL, "
     "\n\tstudy_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(study_user_attribute_id), \n\tUNIQUE (study_id, \"key\"), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)", HP_STORE_REV_V300D},
    {"study_system_attributes",
     "CREATE TABLE study_system_attributes (\n\tstudy_system_attribute_id INTEGER NOT NULL, "
     "\n\tstudy_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(study_system_attribute_id), \n\tUNIQUE (study_id, \"key\"), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)", HP_STORE_REV_V300D},
    {"trials",
     "CREATE TABLE trials (\n\ttrial_id INTEGER NOT NULL, \n\tnumber INTEGER, \n\tstudy_id "
     "INTEGER, \n\tstate VARCHAR(8) NOT NULL, \n\tdatetime_start DATETIME, "
     "\n\tdatetime_complete DATETIME, \n\tPRIMARY KEY (trial_id), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)", HP_STORE_REV_V300D},
    /* What Optuna >= 3.2 creates (models.py: index=True). A file that
     * `optuna storage upgrade` moved up has trials_study_id_key instead (see
     * STUDY_ID_INDEX); either one, never both. */
    {"ix_trials_study_id", "CREATE INDEX ix_trials_study_id ON trials (study_id)",
     HP_STORE_REV_V320A},
    {"trial_user_attributes",
     "CREATE TABLE trial_user_attributes (\n\ttrial_user_attribute_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(trial_user_attribute_id), \n\tUNIQUE (trial_id, \"key\"), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)", HP_STORE_REV_V300D},
    {"trial_system_attributes",
     "CREATE TABLE trial_system_attributes (\n\ttrial_system_attribute_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(trial_system_attribute_id), \n\tUNIQUE (trial_id, \"key\"), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)", HP_STORE_REV_V300D},
    {"trial_params",
     "CREATE TABLE trial_params (\n\tparam_id INTEGER NOT NULL, \n\ttrial_id INTEGER, "
     "\n\tparam_name VARCHAR(512), \n\tparam_value FLOAT, \n\tdistribution_json TEXT, "
     "\n\tPRIMARY KEY (param_id), \n\tUNIQUE (trial_id, param_name), \n\tFOREIGN "
     "KEY(trial_id) REFERENCES trials (trial_id)\n)", HP_STORE_REV_V300D},
    {"trial_values",
     "CREATE TABLE trial_values (\n\ttrial_value_id INTEGER NOT NULL, \n\ttrial_id INTEGER NOT "
     "NULL, \n\tobjective INTEGER NOT NULL, \n\tvalue FLOAT, \n\tvalue_type VARCHAR(7) NOT "
     "NULL, \n\tPRIMARY KEY (trial_value_id), \n\tUNIQUE (trial_id, objective), \n\tFOREIGN "
     "KEY(trial_id) REFERENCES trials (trial_id)\n)", HP_STORE_REV_V300D},
    {"trial_intermediate_values",
     "CREATE TABLE trial_intermediate_values (\n\ttrial_intermediate_value_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER NOT NULL, \n\tstep INTEGER NOT NULL, \n\tintermediate_value FLOAT, "
     "\n\tintermediate_value_type VARCHAR(7) NOT NULL, \n\tPRIMARY KEY "
     "(trial_intermediate_value_id), \n\tUNIQUE (trial_id, step), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)", HP_STORE_REV_V300D},
    {"trial_heartbeats",
     "CREATE TABLE trial_heartbeats (\n\ttrial_heartbeat_id INTEGER NOT NULL, \n\ttrial_id "
     "INTEGER NOT NULL, \n\theartbeat DATETIME NOT NULL, \n\tPRIMARY KEY (trial_heartbeat_id), "
     "\n\tUNIQUE (trial_id), \n\tFOREIGN KEY(trial_id) REFERENCES trials (trial_id)\n)",
     HP_STORE_REV_V300D},
    {"alembic_version",
     "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT "
     "alembic_version_pkc PRIMARY KEY (version_num)\n)", HP_STORE_REV_V300D},
};
#define N_SCHEMA (sizeof SCHEMA / sizeof SCHEMA[0])

/* The index on trials.study_id of a v3.2.0.a file has one of two names:
 * SQLAlchemy's for a file created by Optuna >= 3.2, the migration's for a
 * file `optuna storage upgrade` (or `hpsearch db upgrade`) moved up. */
static const schema_obj_t STUDY_ID_INDEX[] = {
    {"ix_trials_study_id", "CREATE INDEX ix_trials_study_id ON trials (study_id)",
     HP_STORE_REV_V320A},
    {"trials_study_id_key", "CREATE INDEX trials_study_id_key ON trials (study_id)",
     HP_STORE_REV_V320A},
};
#define N_STUDY_ID_INDEX (sizeof STUDY_ID_INDEX / sizeof STUDY_ID_INDEX[0])

/* Per revision: alembic version_num, the library_version written into a new
 * version_info row (the first Optuna release with that schema: Optuna writes
 * its own version there, and only shows it in messages), and who reads it. */
static const struct {
  const char *name;
  const char *library;
  const char *readers;
} REV[] = {
    [HP_STORE_REV_V300D] = {"v3.0.0.d", "3.1.0", "Optuna 3.0 and 3.1"},
    [HP_STORE_REV_V320A] = {"v3.2.0.a", "3.2.0", "Optuna 3.2 and later"},
};
#define N_REV (sizeof REV / sizeof REV[0])

const char *hp_store_schema_rev_name(hp_store_rev_t rev) {
  return (size_t)rev < N_REV ? REV[rev].name : "?";
}

const char *hp_store_schema_rev_library(hp_store_rev_t rev) {
  return (size_t)rev < N_REV ? REV[rev].library : "?";
}

static int db_fail(sqlite3 *db, hp_err_t *err, const char *path, const char *what) {
  return hp_err_set(err, HP_EDB, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* The CREATE statement of a schema object of that type and name: 1 and
 * *sql (malloc'd, NULL for SQLite's own autoindexes) if found, 0 if not,
 * <0 on error. `sql` may be NULL. */
static int find_object(sqlite3 *db, const char *type, const char *name, char **sql) {
  sqlite3_stmt *st = NULL;
  if (sql) *sql = NULL;
  if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = ?1 AND name = ?2", -1,
                         &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1 && sql && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    *sql = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
    if (!*sql) found = -1;
  }
  sqlite3_finalize(st);
  return found;
}

static int has_table(sqlite3 *db, const char *name) {
  return find_object(db, "table", name, NULL);
}

/* The revision named by an alembic version_num, or an error saying what to
 * do with a file at another revision. */
int hp_store_schema_rev_parse(const char *name, const char *path, hp_store_rev_t *rev,
                              hp_err_t *err) {
  for (size_t i = 0; i < N_REV; i++)
    if (name && strcmp(name, REV[i].name) == 0) {
      *rev = (hp_store_rev_t)i;
      return HP_OK;
    }
  /* Optuna's revisions sort as text: v0.9.0.a ... v3.0.0.c < v3.0.0.d. */
  bool older = name && name[0] == 'v' && strcmp(name, REV[0].name) < 0;
  return hp_err_set(err, HP_EFORMAT,
                    "%s: alembic revision '%s'; hpsearch reads and writes '%s' (%s) and '%s' "
                    "(%s) only%s",
                    path, name ? name : "(null)", REV[0].name, REV[0].readers, REV[1].name,
                    REV[1].readers,
                    older ? " (an older Optuna's file: `optuna storage upgrade --storage "
                            "sqlite:///FILE` moves it up)"
                          : "");
}

/* Reads the version rows: *has_rev tells whether alembic_version holds a
 * row, *rev its revision. Missing rows are accepted (Optuna itself inserts
 * them on open, and so does a read-write open here). */
static int read_versions(sqlite3 *db, const char *path, bool *has_rev, hp_store_rev_t *rev,
                         hp_err_t *err) {
  sqlite3_stmt *st = NULL;
  int rc = HP_OK, found;
  *has_rev = false;
  if ((found = has_table(db, "version_info")) < 0) return db_fail(db, err, path, "schema");
  if (found) {
    if (sqlite3_prepare_v2(db, "SELECT schema_version, library_version FROM version_info", -1,
                           &st, NULL) != SQLITE_OK)
      return db_fail(db, err, path, "version_info");
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
      int v = sqlite3_column_int(st, 0);
      if (v != HP_STORE_SCHEMA_VERSION) {
        const unsigned char *lib = sqlite3_column_text(st, 1);
        rc = hp_err_set(err, HP_EFORMAT,
                        "%s: schema version %d (written by Optuna %s); hpsearch reads and writes "
                        "schema %d (Optuna 3.0 and later) only",
                        path, v, lib ? (const char *)lib : "?", HP_STORE_SCHEMA_VERSION);
      }
    } else if (s != SQLITE_DONE) {
      rc = db_fail(db, err, path, "version_info");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc) return rc;
  }
  if ((found = has_table(db, "alembic_version")) < 0) return db_fail(db, err, path, "schema");
  if (!found) return HP_OK;
  if (sqlite3_prepare_v2(db, "SELECT version_num FROM alembic_version", -1, &st, NULL) !=
      SQLITE_OK)
    return db_fail(db, err, path, "alembic_version");
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    *has_rev = true;
    rc = hp_store_schema_rev_parse((const char *)sqlite3_column_text(st, 0), path, rev, err);
    if (!rc && sqlite3_step(st) != SQLITE_DONE)
      rc = hp_err_set(err, HP_EFORMAT, "%s: alembic_version has more than one row", path);
  } else if (s != SQLITE_DONE) {
    rc = db_fail(db, err, path, "alembic_version");
  }
  sqlite3_finalize(st);
  return rc;
}

/* Checks the index on trials.study_id against the revision, byte for byte:
 * none at v3.0.0.d; at v3.2.0.a one of STUDY_ID_INDEX with its exact DDL
 * (*n_index = how many, 0 or 1; a read-write open adds a missing one). */
static int check_layout(sqlite3 *db, const char *path, hp_store_rev_t rev, int *n_index,
                        hp_err_t *err) {
  const char *have[N_STUDY_ID_INDEX];
  int n = 0, rc = HP_OK;
  for (size_t i = 0; i < N_STUDY_ID_INDEX && !rc; i++) {
    char *sql = NULL;
    int found = find_object(db, "index", STUDY_ID_INDEX[i].name, &sql);
    if (found < 0) {
      rc = db_fail(db, err, path, "reading the schema");
    } else if (found) {
      if (!sql || strcmp(sql, STUDY_ID_INDEX[i].ddl) != 0)
        rc = hp_err_set(err, HP_EFORMAT, "%s: index %s is '%s', Optuna's is '%s'", path,
                        STUDY_ID_INDEX[i].name, sql ? sql : "(null)", STUDY_ID_INDEX[i].ddl);
      have[n++] = STUDY_ID_INDEX[i].name;
    }
    sqlite3_free(sql);
  }
  if (rc) return rc;
  if (rev == HP_STORE_REV_V300D && n > 0)
    return hp_err_set(err, HP_EFORMAT,
                      "%s: alembic revision '%s' (%s), but it has index %s, which only revision "
                      "'%s' has",
                      path, REV[rev].name, REV[rev].readers, have[0],
                      REV[HP_STORE_REV_V320A].name);
  if (n > 1)
    return hp_err_set(err, HP_EFORMAT, "%s: both %s and %s index trials.study_id; Optuna "
                      "creates one of them", path, have[0], have[1]);
  *n_index = n;
  return HP_OK;
}

/* The revision of a file whose alembic_version has no row (Optuna would
 * stamp its own head): what its layout shows, or `create_rev` when it has
 * no trials table yet. */
static int guess_rev(sqlite3 *db, const char *path, hp_store_rev_t create_rev,
                     hp_store_rev_t *rev, hp_err_t *err) {
  int found = has_table(db, "trials");
  if (found < 0) return db_fail(db, err, path, "reading the schema");
  if (!found) {
    *rev = create_rev;
    return HP_OK;
  }
  for (size_t i = 0; i < N_STUDY_ID_INDEX; i++) {
    if ((found = find_object(db, "index", STUDY_ID_INDEX[i].name, NULL)) < 0)
      return db_fail(db, err, path, "reading the schema");
    if (found) {
      *rev = HP_STORE_REV_V320A;
      return HP_OK;
    }
  }
  *rev = HP_STORE_REV_V300D;
  return HP_OK;
}

int hp_store_schema_revision(sqlite3 *db, const char *path, hp_store_rev_t *rev, hp_err_t *err) {
  bool has_rev;
  int n_index;
  int rc = read_versions(db, path, &has_rev, rev, err);
  if (!rc && !has_rev) rc = guess_rev(db, path, HP_STORE_REV_V300D, rev, err);
  if (!rc) rc = check_layout(db, path, *rev, &n_index, err);
  return rc;
}

/* A database that has tables but none of the schema's is someone else's
 * (a wrong --db): the 13 tables are not added to it. */
static int check_not_foreign(sqlite3 *db, const char *path, hp_err_t *err) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                             "name NOT LIKE 'sqlite_%'", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, err, path, "reading the schema");
  int r, n_tables = 0, n_ours = 0;
  char other[128] = "";
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    bool ours = false;
    for (size_t i = 0; i < N_SCHEMA && name; i++) ours = ours || strcmp(name, SCHEMA[i].name) == 0;
    n_tables++;
    n_ours += ours;
    if (!ours && other[0] == '\0' && name) snprintf(other, sizeof other, "%s", name);
  }
  sqlite3_finalize(st);
  if (r != SQLITE_DONE) return db_fail(db, err, path, "reading the schema");
  if (n_tables > 0 && n_ours == 0)
    return hp_err_set(err, HP_EFORMAT,
                      "%s is not an Optuna or hpsearch database (it has other tables, e.g. "
                      "'%s'); not adding tables to it",
                      path, other);
  return HP_OK;
}

static int exec(sqlite3 *db, const char *sql, const char *path, hp_err_t *err) {
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return db_fail(db, err, path, sql);
  return HP_OK;
}

/* Ends a BEGIN IMMEDIATE transaction: commits when rc == 0, else (or when
 * the commit fails) rolls back. Returns rc or the commit's error. */
static int end_tx(sqlite3 *db, int rc, const char *path, hp_err_t *err) {
  if (rc == 0 && (rc = exec(db, "COMMIT", path, err)) == 0) return HP_OK;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int hp_store_schema_ensure(sqlite3 *db, bool readonly, hp_store_rev_t create_rev,
                           const char *path, hp_store_rev_t *rev, hp_err_t *err) {
  int rc, n_index = 0;
  bool has_rev;
  if (readonly) {
    int found = has_table(db, "studies");
    if (found < 0) return db_fail(db, err, path, "reading the schema");
    if (!found || has_table(db, "trials") != 1)
      return hp_err_set(err, HP_ENOTFOUND, "%s: not a study database (no studies table)", path);
    return hp_store_schema_revision(db, path, rev, err);
  }
  /* IMMEDIATE: two processes creating the same new file must not race
   * (Optuna's own cold start does; see docs/storage.md). */
  if ((rc = exec(db, "BEGIN IMMEDIATE", path, err))) return rc;
  if ((rc = read_versions(db, path, &has_rev, rev, err))) goto done;
  if ((rc = check_not_foreign(db, path, err))) goto done;
  if (!has_rev && (rc = guess_rev(db, path, create_rev, rev, err))) goto done;
  if ((rc = check_layout(db, path, *rev, &n_index, err))) goto done;
  for (size_t i = 0; i < N_SCHEMA; i++) {
    if (SCHEMA[i].since > *rev) continue;
    /* The study_id index counts as present under either of its names. */
    int found = strcmp(SCHEMA[i].name, STUDY_ID_INDEX[0].name) == 0
                    ? n_index > 0
                    : find_object(db, strstr(SCHEMA[i].ddl, " INDEX ") ? "index" : "table",
                                  SCHEMA[i].name, NULL);
    if (found < 0) {
      rc = db_fail(db, err, path, "reading the schema");
      goto done;
    }
    if (!found && (rc = exec(db, SCHEMA[i].ddl, path, err))) goto done;
  }
  /* Same rows Optuna's _VersionManager inserts on first open. */
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO version_info (version_info_id, schema_version, library_version) "
           "SELECT 1, %d, '%s' WHERE NOT EXISTS (SELECT 1 FROM version_info)",
           HP_STORE_SCHEMA_VERSION, REV[*rev].library);
  if ((rc = exec(db, sql, path, err))) goto done;
  snprintf(sql, sizeof sql,
           "INSERT INTO alembic_version (version_num) SELECT '%s' "
           "WHERE NOT EXISTS (SELECT 1 FROM alembic_version)",
           REV[*rev].name);
  rc = exec(db, sql, path, err);
done:
  return end_tx(db, rc, path, err);
}

int hp_store_schema_upgrade(sqlite3 *db, const char *path, hp_store_rev_t *from, hp_err_t *err) {
  int rc;
  if ((rc = exec(db, "BEGIN IMMEDIATE", path, err))) return rc;
  if ((rc = hp_store_schema_revision(db, path, from, err)) || *from == HP_STORE_REV_V320A)
    goto done;
  /* What alembic runs for v3.2.0.a, then what Optuna's upgrade() writes
   * into version_info (hpsearch writes the release that introduced it). */
  char sql[256];
  if ((rc = exec(db, STUDY_ID_INDEX[1].ddl, path, err))) goto done;
  snprintf(sql, sizeof sql, "UPDATE alembic_version SET version_num = '%s'",
           REV[HP_STORE_REV_V320A].name);
  if ((rc = exec(db, sql, path, err))) goto done;
  snprintf(sql, sizeof sql,
           "UPDATE version_info SET schema_version = %d, library_version = '%s'",
           HP_STORE_SCHEMA_VERSION, REV[HP_STORE_REV_V320A].library);
  rc = exec(db, sql, path, err);
done:
  return end_tx(db, rc, path, err);
}

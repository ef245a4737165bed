/* Optuna 3.1's RDB schema for SQLite, byte for byte as SQLAlchemy emits it
 * (so `sqlite3 FILE .schema` of an hpsearch file and of an Optuna file are
 * identical), plus the version rows Optuna checks when it opens a file. */
#include "store_schema.h"

#include <stdio.h>
#include <string.h>

/* One table (or index) of the schema: name in sqlite_master and its DDL. */
typedef struct schema_obj {
  const char *name; /* sqlite_master.name */
  const char *ddl;  /* exact CREATE statement */
} schema_obj_t;

/* Order matters: a table comes before the tables that reference it. */
static const schema_obj_t SCHEMA[] = {
    {"studies",
     "CREATE TABLE studies (\n\tstudy_id INTEGER NOT NULL, \n\tstudy_name VARCHAR(512) NOT NULL, "
     "\n\tPRIMARY KEY (study_id)\n)"},
    {"ix_studies_study_name", "CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name)"},
    {"version_info",
     "CREATE TABLE version_info (\n\tversion_info_id INTEGER NOT NULL, \n\tschema_version "
     "INTEGER, \n\tlibrary_version VARCHAR(256), \n\tPRIMARY KEY (version_info_id), \n\tCHECK "
     "(version_info_id=1)\n)"},
    {"study_directions",
     "CREATE TABLE study_directions (\n\tstudy_direction_id INTEGER NOT NULL, \n\tdirection "
     "VARCHAR(8) NOT NULL, \n\tstudy_id INTEGER NOT NULL, \n\tobjective INTEGER NOT NULL, "
     "\n\tPRIMARY KEY (study_direction_id), \n\tUNIQUE (study_id, objective), \n\tFOREIGN "
     "KEY(study_id) REFERENCES studies (study_id)\n)"},
    {"study_user_attributes",
     "CREATE TABLE study_user_attributes (\n\tstudy_user_attribute_id INTEGER NOT NULL, "
     "\n\tstudy_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(study_user_attribute_id), \n\tUNIQUE (study_id, \"key\"), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)"},
    {"study_system_attributes",
     "CREATE TABLE study_system_attributes (\n\tstudy_system_attribute_id INTEGER NOT NULL, "
     "\n\tstudy_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(study_system_attribute_id), \n\tUNIQUE (study_id, \"key\"), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)"},
    {"trials",
     "CREATE TABLE trials (\n\ttrial_id INTEGER NOT NULL, \n\tnumber INTEGER, \n\tstudy_id "
     "INTEGER, \n\tstate VARCHAR(8) NOT NULL, \n\tdatetime_start DATETIME, "
     "\n\tdatetime_complete DATETIME, \n\tPRIMARY KEY (trial_id), \n\tFOREIGN KEY(study_id) "
     "REFERENCES studies (study_id)\n)"},
    {"trial_user_attributes",
     "CREATE TABLE trial_user_attributes (\n\ttrial_user_attribute_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(trial_user_attribute_id), \n\tUNIQUE (trial_id, \"key\"), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)"},
    {"trial_system_attributes",
     "CREATE TABLE trial_system_attributes (\n\ttrial_system_attribute_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER, \n\t\"key\" VARCHAR(512), \n\tvalue_json TEXT, \n\tPRIMARY KEY "
     "(trial_system_attribute_id), \n\tUNIQUE (trial_id, \"key\"), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)"},
    {"trial_params",
     "CREATE TABLE trial_params (\n\tparam_id INTEGER NOT NULL, \n\ttrial_id INTEGER, "
     "\n\tparam_name VARCHAR(512), \n\tparam_value FLOAT, \n\tdistribution_json TEXT, "
     "\n\tPRIMARY KEY (param_id), \n\tUNIQUE (trial_id, param_name), \n\tFOREIGN "
     "KEY(trial_id) REFERENCES trials (trial_id)\n)"},
    {"trial_values",
     "CREATE TABLE trial_values (\n\ttrial_value_id INTEGER NOT NULL, \n\ttrial_id INTEGER NOT "
     "NULL, \n\tobjective INTEGER NOT NULL, \n\tvalue FLOAT, \n\tvalue_type VARCHAR(7) NOT "
     "NULL, \n\tPRIMARY KEY (trial_value_id), \n\tUNIQUE (trial_id, objective), \n\tFOREIGN "
     "KEY(trial_id) REFERENCES trials (trial_id)\n)"},
    {"trial_intermediate_values",
     "CREATE TABLE trial_intermediate_values (\n\ttrial_intermediate_value_id INTEGER NOT NULL, "
     "\n\ttrial_id INTEGER NOT NULL, \n\tstep INTEGER NOT NULL, \n\tintermediate_value FLOAT, "
     "\n\tintermediate_value_type VARCHAR(7) NOT NULL, \n\tPRIMARY KEY "
     "(trial_intermediate_value_id), \n\tUNIQUE (trial_id, step), \n\tFOREIGN KEY(trial_id) "
     "REFERENCES trials (trial_id)\n)"},
    {"trial_heartbeats",
     "CREATE TABLE trial_heartbeats (\n\ttrial_heartbeat_id INTEGER NOT NULL, \n\ttrial_id "
     "INTEGER NOT NULL, \n\theartbeat DATETIME NOT NULL, \n\tPRIMARY KEY (trial_heartbeat_id), "
     "\n\tUNIQUE (trial_id), \n\tFOREIGN KEY(trial_id) REFERENCES trials (trial_id)\n)"},
    {"alembic_version",
     "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT "
     "alembic_version_pkc PRIMARY KEY (version_num)\n)"},
};
#define N_SCHEMA (sizeof SCHEMA / sizeof SCHEMA[0])

static int db_fail(sqlite3 *db, hp_err_t *err, const char *path, const char *what) {
  return hp_err_set(err, HP_EDB, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* 1 if sqlite_master has an object of that name, 0 if not, <0 on error. */
static int has_object(sqlite3 *db, const char *name) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &st, NULL) !=
      SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  sqlite3_finalize(st);
  return found;
}

/* Compares the version rows with what Optuna 3.1 writes. Missing rows are
 * accepted: Optuna itself inserts them on open (and so does read-write
 * open here); reading such a file is safe. */
static int check_versions(sqlite3 *db, const char *path, hp_err_t *err) {
  sqlite3_stmt *st = NULL;
  int rc = HP_OK;
  int found;
  if ((found = has_object(db, "version_info")) < 0) return db_fail(db, err, path, "schema");
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
                        "schema %d (Optuna %s) only",
                        path, v, lib ? (const char *)lib : "?", HP_STORE_SCHEMA_VERSION,
                        HP_STORE_LIBRARY_VERSION);
      }
    } else if (s != SQLITE_DONE) {
      rc = db_fail(db, err, path, "version_info");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc) return rc;
  }
  if ((found = has_object(db, "alembic_version")) < 0) return db_fail(db, err, path, "schema");
  if (found) {
    if (sqlite3_prepare_v2(db, "SELECT version_num FROM alembic_version", -1, &st, NULL) !=
        SQLITE_OK)
      return db_fail(db, err, path, "alembic_version");
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
      const char *rev = (const char *)sqlite3_column_text(st, 0);
      if (!rev || strcmp(rev, HP_STORE_ALEMBIC_REVISION) != 0)
        rc = hp_err_set(err, HP_EFORMAT,
                        "%s: alembic revision '%s'; hpsearch reads and writes '%s' (Optuna %s) "
                        "only",
                        path, rev ? rev : "(null)", HP_STORE_ALEMBIC_REVISION,
                        HP_STORE_LIBRARY_VERSION);
    } else if (s != SQLITE_DONE) {
      rc = db_fail(db, err, path, "alembic_version");
    }
    sqlite3_finalize(st);
  }
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

int hp_store_schema_ensure(sqlite3 *db, bool readonly, const char *path, hp_err_t *err) {
  int rc;
  if (readonly) {
    int found = has_object(db, "studies");
    if (found < 0) return db_fail(db, err, path, "reading the schema");
    if (!found || has_object(db, "trials") != 1)
      return hp_err_set(err, HP_ENOTFOUND, "%s: not a study database (no studies table)", path);
    return check_versions(db, path, err);
  }
  /* IMMEDIATE: two processes creating the same new file must not race
   * (Optuna's own cold start does; see docs/storage.md). */
  if ((rc = exec(db, "BEGIN IMMEDIATE", path, err))) return rc;
  if ((rc = check_versions(db, path, err))) goto fail;
  if ((rc = check_not_foreign(db, path, err))) goto fail;
  for (size_t i = 0; i < N_SCHEMA; i++) {
    int found = has_object(db, SCHEMA[i].name);
    if (found < 0) {
      rc = db_fail(db, err, path, "reading the schema");
      goto fail;
    }
    if (!found && (rc = exec(db, SCHEMA[i].ddl, path, err))) goto fail;
  }
  /* Same rows Optuna's _VersionManager inserts on first open. */
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO version_info (version_info_id, schema_version, library_version) "
           "SELECT 1, %d, '%s' WHERE NOT EXISTS (SELECT 1 FROM version_info)",
           HP_STORE_SCHEMA_VERSION, HP_STORE_LIBRARY_VERSION);
  if ((rc = exec(db, sql, path, err))) goto fail;
  snprintf(sql, sizeof sql,
           "INSERT INTO alembic_version (version_num) SELECT '%s' "
           "WHERE NOT EXISTS (SELECT 1 FROM alembic_version)",
           HP_STORE_ALEMBIC_REVISION);
  if ((rc = exec(db, sql, path, err))) goto fail;
  if ((rc = exec(db, "COMMIT", path, err))) goto fail;
  return HP_OK;
fail:
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Private to the store (store/store*.c): creating, checking and upgrading
 * Optuna's RDB schema at the two alembic revisions hpsearch reads and
 * writes. Not part of the public API. */
#ifndef HPSEARCH_STORE_SCHEMA_H
#define HPSEARCH_STORE_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>

#include "hpsearch/err.h"

/* version_info.schema_version: the same (12) at both revisions; Optuna
 * froze it when alembic took over. */
#define HP_STORE_SCHEMA_VERSION 12

/* The layouts hpsearch reads and writes, oldest first. */
typedef enum hp_store_rev {
  HP_STORE_REV_V300D = 0, /* "v3.0.0.d": Optuna 3.0 and 3.1 */
  HP_STORE_REV_V320A = 1, /* "v3.2.0.a": Optuna 3.2 and later (5.x): index on trials.study_id */
} hp_store_rev_t;

/* "v3.0.0.d" / "v3.2.0.a". */
const char *hp_store_schema_rev_name(hp_store_rev_t rev);
/* The library_version a new version_info row gets at that revision. */
const char *hp_store_schema_rev_library(hp_store_rev_t rev);
/* An alembic version_num as a revision; HP_EFORMAT naming what hpsearch
 * reads otherwise (path for the message). */
int hp_store_schema_rev_parse(const char *name, const char *path, hp_store_rev_t *rev,
                              hp_err_t *err);

/* Read-write: creates every missing table with Optuna's exact DDL, inserts
 * version_info / alembic_version if absent, then checks them (one
 * transaction). A file without any of it is created at revision
 * `create_rev`; an existing file keeps its revision. Read-only: only checks.
 * *rev receives the file's revision. HP_EFORMAT when the versions or the
 * layout differ from both revisions, HP_ENOTFOUND (read-only) when there is
 * no studies table. `path` is for messages. */
int hp_store_schema_ensure(sqlite3 *db, bool readonly, hp_store_rev_t create_rev,
                           const char *path, hp_store_rev_t *rev, hp_err_t *err);

/* The revision the file holds now (another program may have upgraded it),
 * checked as on open. Runs inside the caller's transaction, if any. */
int hp_store_schema_revision(sqlite3 *db, const char *path, hp_store_rev_t *rev, hp_err_t *err);

/* `optuna storage upgrade` from v3.0.0.d to v3.2.0.a in one BEGIN IMMEDIATE
 * transaction: index trials_study_id_key, alembic row, version_info. *from
 * receives the revision found; a file already at v3.2.0.a is left as it is. */
int hp_store_schema_upgrade(sqlite3 *db, const char *path, hp_store_rev_t *from, hp_err_t *err);

#endif

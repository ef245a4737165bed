/* Private to the store (daemon/store*.c): creating and checking Optuna
 * 3.1's schema, and the enum name tables. Not part of the public API. */
#ifndef HPSEARCH_DAEMON_STORE_SCHEMA_H
#define HPSEARCH_DAEMON_STORE_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>

#include "hpsearch/err.h"

#define HP_STORE_SCHEMA_VERSION 12
#define HP_STORE_LIBRARY_VERSION "3.1.0"
#define HP_STORE_ALEMBIC_REVISION "v3.0.0.d"

/* Read-write: creates every missing table with Optuna's exact DDL, inserts
 * version_info / alembic_version if absent, then checks them (one
 * transaction). Read-only: only checks. HP_EFORMAT when the versions differ,
 * HP_ENOTFOUND (read-only) when there is no studies table. `path` is for
 * messages. */
int hp_store_schema_ensure(sqlite3 *db, bool readonly, const char *path, hp_err_t *err);

#endif

/* The backends' entry points that are not reached through a handle: opening
 * and upgrading by path or URL (store/backend.c chooses), and the SQLite
 * table. Private to store/. */
#ifndef HPSEARCH_STORE_BACKEND_H
#define HPSEARCH_STORE_BACKEND_H

#include "hpsearch/store.h"

/* store.c: SQLite files. */
extern const hp_store_backend_t hp_sqlite_backend;
int hp_sqlite_open(const char *path, unsigned flags, hp_store_t **out, hp_err_t *err);
int hp_sqlite_upgrade(const char *path, const char **from, hp_err_t *err);

/* store_pg.c: PostgreSQL URLs. */
int hp_pg_open(const char *url, unsigned flags, hp_store_t **out, hp_err_t *err);
int hp_pg_upgrade(const char *url, const char **from, hp_err_t *err);

#endif

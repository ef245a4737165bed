/* `hpsearch db info FILE` and `hpsearch db upgrade FILE`: which Optuna
 * releases read a study database, and moving an Optuna 3.1 file (alembic
 * revision v3.0.0.d) to the schema Optuna 3.2 and later read (v3.2.0.a), as
 * `optuna storage upgrade` does (docs/storage.md). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/daemon.h"

/* Who reads a file at that revision, for the messages. */
static const char *readers(const char *rev) {
  return strcmp(rev, "v3.0.0.d") == 0 ? "Optuna 3.0 and 3.1 read it, Optuna 3.2 and later need "
                                        "`hpsearch db upgrade` first"
                                      : "Optuna 3.2 and later (5.x) read it, Optuna 3.1 does not";
}

static int db_info(const char *path) {
  hp_err_t err = {0};
  hp_store_t *s = NULL;
  int rc = hp_store_open(path, HP_STORE_READONLY, &s, &err);
  if (rc < 0) return hp_cli_fail("db info", rc, &err);
  const char *rev = hp_store_revision(s);
  printf("%s: alembic revision %s (%s)\n", path, rev, readers(rev));
  hp_store_close(s);
  return HP_EXIT_OK;
}

static int db_upgrade(const char *path) {
  hp_err_t err = {0};
  const char *from = NULL;
  /* The daemon's lock, held for the upgrade: a daemon that owns the file
   * keeps a revision in memory, and none may start meanwhile. (The lock
   * would create a missing file; hp_store_upgrade refuses that case.) */
  hp_dblock_t lock = {.fd = -1};
  int rc = !hp_store_is_url(path) && access(path, F_OK) == 0
               ? hp_dblock_acquire(&lock, path, &err)
               : 0;
  if (rc == 0) rc = hp_store_upgrade(path, &from, &err);
  hp_dblock_release(&lock); /* after the store is closed (SQLite's locks) */
  if (rc < 0) {
    int code = hp_cli_fail("db upgrade", rc, &err);
    return rc == HP_EBUSY ? HP_EXIT_BUSY : code;
  }
  if (strcmp(from, "v3.2.0.a") == 0)
    printf("%s: already at alembic revision v3.2.0.a; nothing to do\n", path);
  else
    printf("%s: upgraded from alembic revision %s to v3.2.0.a (%s)\n", path, from,
           readers("v3.2.0.a"));
  return HP_EXIT_OK;
}

int hp_cmd_db(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  if (argc != 3) return hp_cli_usage(argv[0], "expected an action and one FILE");
  if (strcmp(argv[1], "info") == 0) return db_info(argv[2]);
  if (strcmp(argv[1], "upgrade") == 0) return db_upgrade(argv[2]);
  return hp_cli_usage(argv[0], "unknown action (info or upgrade)");
}

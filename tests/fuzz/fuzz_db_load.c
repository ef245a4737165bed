/* Fuzz harness for what the daemon reads from a study database another
 * program wrote (Optuna, an older hpsearch, a hand edit): the input is SQL
 * run against a fresh database with the Optuna 3.1 schema (only INSERT,
 * UPDATE, DELETE and reads are authorised, so the schema stays), then the
 * daemon loads it as at a start (hp_sched_load: studies, specs in system
 * attributes, trials, params with their distribution_json, values,
 * intermediate values, reconciliation of RUNNING trials) and answers
 * study.get, trial.list and trial.ask for every study. Loading may refuse the
 * file with an error; it must not crash, and every reply must be JSON-RPC. */
#include <sqlite3.h>

#include "fuzz_daemon.h"

static uint8_t *fz_tmpl;     /* bytes of an empty database with the schema */
static size_t fz_tmpl_len;
static char fz_work[320];    /* the per-input database */

static void fz_unlink_db(void) {
  char p[340];
  unlink(fz_work);
  snprintf(p, sizeof p, "%s-wal", fz_work);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", fz_work);
  unlink(p);
  snprintf(p, sizeof p, "%s-journal", fz_work);
  unlink(p);
}

static void fz_template(void) {
  if (fz_tmpl != NULL) return;
  fz_daemon(); /* makes fz_dir */
  snprintf(fz_work, sizeof fz_work, "%s/load.db", fz_dir);
  atexit(fz_unlink_db);
  fz_unlink_db();
  hp_store_t *s = NULL;
  hp_err_t err = {0};
  HP_FUZZ_CHECK(hp_store_open(fz_work, 0, &s, &err) == 0, "template: %s", err.msg);
  hp_store_close(s);
  FILE *f = fopen(fz_work, "rb");
  HP_FUZZ_CHECK(f != NULL, "template: reopen");
  fseek(f, 0, SEEK_END);
  fz_tmpl_len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  fz_tmpl = malloc(fz_tmpl_len);
  HP_FUZZ_CHECK(fz_tmpl && fread(fz_tmpl, 1, fz_tmpl_len, f) == fz_tmpl_len, "template: read");
  fclose(f);
}

/* Rows may change, the schema may not; no files, no pragmas. */
static int fz_authorize(void *u, int action, const char *a, const char *b, const char *c,
                        const char *e) {
  (void)u, (void)a, (void)b, (void)c, (void)e;
  switch (action) {
    case SQLITE_INSERT: case SQLITE_UPDATE: case SQLITE_DELETE: case SQLITE_READ:
    case SQLITE_SELECT: case SQLITE_FUNCTION: case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default:
      return SQLITE_DENY;
  }
}

static int fz_progress(void *u) {
  long *steps = u;
  return ++*steps > 2000; /* x 1000 VM instructions: no endless CTEs */
}

int fuzz_db_load(const uint8_t *data, size_t size);
int fuzz_db_load(const uint8_t *data, size_t size) {
  hp_daemon_t *d = fz_daemon();
  fz_template();
  fz_unlink_db();
  FILE *f = fopen(fz_work, "wb");
  HP_FUZZ_CHECK(f && fwrite(fz_tmpl, 1, fz_tmpl_len, f) == fz_tmpl_len && fclose(f) == 0,
                "write %s", fz_work);
  sqlite3 *db = NULL;
  HP_FUZZ_CHECK(sqlite3_open(fz_work, &db) == SQLITE_OK, "sqlite3_open");
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 16);
  sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 16);
  sqlite3_set_authorizer(db, fz_authorize, NULL);
  long steps = 0;
  sqlite3_progress_handler(db, 1000, fz_progress, &steps);
  char *sql = hp_fuzz_dup(data, size, 1);
  sqlite3_exec(db, sql, NULL, NULL, NULL); /* errors just stop the script */
  free(sql);
  HP_FUZZ_CHECK(sqlite3_close(db) == SQLITE_OK, "sqlite3_close");

  hp_store_t *saved = d->store, *store = NULL;
  hp_err_t err = {0};
  if (hp_store_open(fz_work, 0, &store, &err) < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "store open failed without a message");
    return 0;
  }
  d->store = store;
  int rc = hp_sched_load(d, &err);
  if (rc < 0) {
    HP_FUZZ_CHECK(err.msg[0] != '\0', "load failed (%d) without a message", rc);
  } else {
    HP_FUZZ_CHECK(hp_daemon_batch(d, &err) == 0, "batch: %s", err.msg);
    hp_conn_t *c = fz_conn_open(d);
    char line[256];
    int n = 0;
    for (hp_study_t *st = d->studies; st && n < 8 && !c->closing; st = st->next, n++) {
      long long id = (long long)st->id;
      const char *fmt[] = {
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"study.get\",\"params\":{\"study\":%lld}}",
          ("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"trial.list\",\"params\":{\"study\":%lld,"
           "\"intermediate\":true}}"),
          "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"trial.ask\",\"params\":{\"study\":%lld}}"};
      for (int k = 0; k < 3 && !c->closing; k++) {
        snprintf(line, sizeof line, fmt[k], id);
        fz_request(d, c, line);
      }
    }
    if (!c->closing) fz_request(d, c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"study.list\"}");
    fz_conn_close(d, c);
  }
  if (hp_store_in_batch(d->store)) hp_store_rollback(d->store);
  hp_sched_free(d);
  d->shutting_down = false;
  d->sched_pending = false;
  uv_idle_stop(&d->idle);
  hp_store_close(store);
  d->store = saved;
  return 0;
}

HP_FUZZ_MAIN(fuzz_db_load)

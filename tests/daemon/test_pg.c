/* The PostgreSQL store against a real server: scripts/pg-test-server starts
 * one (initdb as an unprivileged user in a temporary folder; a Unix socket
 * and a loopback port) for this binary. The schema hpsearch creates is
 * compared with pg_dump of what Optuna 3.1 and 5 create; the multi-daemon
 * scenarios (claims, kill -9 takeover, Optuna joining, a server restart)
 * run in tests/daemon/pg_cluster.py, which checks the database itself.
 * Killed (SIGKILL, a CI timeout), the test leaves nothing running: the
 * server's watchdog kills the scenario and the daemons it registered, stops
 * the server and removes the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/store.h"

#include "../child.h"

static char g_dir[128];    /* the server's BASE folder */
static int g_port;
static const char *g_bin;  /* hpsearch */
static char g_src[1024];   /* source folder */
static char g_pgbin[256];  /* PostgreSQL's bin folder */


static int server_up(void **state) {
  (void)state;
  g_bin = getenv("HPSEARCH_BIN");
  if (g_bin == NULL) g_bin = HP_BUILD_DIR "/hpsearch";
  const char *src = getenv("HP_SRC_DIR");
  snprintf(g_src, sizeof g_src, "%s", src && *src ? src : ".");
  FILE *f = popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1", "r");
  if (f == NULL || fgets(g_pgbin, sizeof g_pgbin, f) == NULL) g_pgbin[0] = '\0';
  if (f) pclose(f);
  g_pgbin[strcspn(g_pgbin, "\n")] = '\0';
  snprintf(g_dir, sizeof g_dir, "/tmp/hp-test-pg-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return -1;
  chmod(g_dir, 0755); /* the server's user goes through it */
  /* A port of this run's own (plain and ASan runs, other worktrees run at
   * once); taken ports fail the start, and another one is tried. */
  srand((unsigned)(getpid() ^ time(NULL)));
  for (int attempt = 0; attempt < 6; attempt++) {
    g_port = 20000 + rand() % 20000;
    /* With this process's pid: a watchdog takes the server and what the
     * scenarios started down if this test is killed (a CI timeout, ^C). */
    if (hp_test_sh("'%s/scripts/pg-test-server' up '%s' %d %d >/dev/null 2>'%s/up.err'", g_src,
                   g_dir, g_port, (int)getpid(), g_dir) == 0)
      return 0;
    hp_test_sh("'%s/scripts/pg-test-server' down '%s'; rm -rf '%s/pg'", g_src, g_dir, g_dir);
  }
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cat '%s/up.err' >&2", g_dir);
  if (system(cmd)) {}
  fprintf(stderr, "test_pg: no PostgreSQL server could be started (scripts/install-deps "
                  "installs it)\n");
  return -1;
}

static int server_down(void **state) {
  (void)state;
  hp_test_sh("'%s/scripts/pg-test-server' down '%s'", g_src, g_dir);
  hp_test_sh("rm -rf '%s'", g_dir);
  return 0;
}

/* A fresh database; its URL over the Unix socket into url. */
static void new_db(const char *name, char *url, size_t cap) {
  assert_int_equal(hp_test_sh("'%s/createdb' -h '%s/pg/sock' -p %d -U postgres '%s'", g_pgbin, g_dir,
                      g_port, name), 0);
  snprintf(url, cap, "postgresql://postgres@/%s?host=%s/pg/sock&port=%d", name, g_dir, g_port);
}

/* Runs one scenario of pg_cluster.py on a fresh database. */
static void scenario(const char *name, const char *extra) {
  char db[64], url[512];
  snprintf(db, sizeof db, "s_%s", name);
  for (char *p = db; *p; p++)
    if (*p == '-') *p = '_';
  new_db(db, url, sizeof url);
  /* The sanitizer build runs each daemon several times slower: the same
   * scenarios with a fifth of the trials there. */
  const char *scale = strstr(HP_BUILD_DIR, "asan") ? "PG_CLUSTER_SCALE=0.2 " : "";
  int rc = hp_test_sh("%s/usr/bin/python3 '%s/tests/daemon/pg_cluster.py' '%s' '%s' %d %s %s %s", scale,
              g_src, g_bin, g_dir, g_port, db, name, extra ? extra : "");
  if (rc == 3) fail_msg("python3-psycopg2 is missing: run scripts/install-deps");
  if (rc != 0) {
    hp_test_sh("tail -n 30 '%s'/%s-*.log >&2", g_dir, name);
    fail_msg("scenario %s failed (exit %d)", name, rc);
  }
}

/* pg_dump --schema-only of a database, without what changes per dump. */
static void dump_schema(const char *db, const char *out) {
  assert_int_equal(hp_test_sh("'%s/pg_dump' -h '%s/pg/sock' -p %d -U postgres --schema-only --no-owner "
                      "--no-privileges '%s' | grep -v '^.restrict\\|^.unrestrict' >'%s'",
                      g_pgbin, g_dir, g_port, db, out),
                   0);
}

/* The schema hpsearch creates is byte for byte the one Optuna creates
 * (pg_dump of Optuna 3.1's and Optuna 5's, tests/store/pg-schema-*.sql):
 * enum types, sequences, column types, constraint and index names. */
static void test_pg_schema_exact(void **state) {
  (void)state;
  const struct {
    const char *db, *ref;
    unsigned flags;
    const char *rev;
  } cases[] = {
      {"sch31", "pg-schema-optuna31.sql", HP_STORE_CREATE_V31, "v3.0.0.d"},
      {"sch5", "pg-schema-optuna5.sql", 0, "v3.2.0.a"},
  };
  for (size_t i = 0; i < 2; i++) {
    char url[512], out[256];
    new_db(cases[i].db, url, sizeof url);
    hp_store_t *s = NULL;
    hp_err_t err = {0};
    assert_int_equal(hp_store_open(url, cases[i].flags, &s, &err), 0);
    assert_string_equal(hp_store_revision(s), cases[i].rev);
    assert_string_equal(hp_store_backend_name(s), "postgresql");
    assert_true(hp_store_shared(s));
    hp_store_close(s);
    /* opened again: nothing is added or changed */
    assert_int_equal(hp_store_open(url, 0, &s, &err), 0);
    assert_string_equal(hp_store_revision(s), cases[i].rev);
    hp_store_close(s);
    snprintf(out, sizeof out, "%s/%s.sql", g_dir, cases[i].db);
    dump_schema(cases[i].db, out);
    if (hp_test_sh("diff -u '%s/tests/store/%s' '%s' >&2", g_src, cases[i].ref, out) != 0)
      fail_msg("%s: schema differs from Optuna's (%s)", cases[i].db, cases[i].ref);
  }
  /* `hpsearch db upgrade URL` gives what `optuna storage upgrade` gives */
  char url[512];
  snprintf(url, sizeof url, "postgresql://postgres@/sch31?host=%s/pg/sock&port=%d", g_dir, g_port);
  assert_int_equal(hp_test_sh("'%s' db upgrade '%s' >/dev/null", g_bin, url), 0);
  hp_store_t *s = NULL;
  hp_err_t err = {0};
  assert_int_equal(hp_store_open(url, HP_STORE_READONLY, &s, &err), 0);
  assert_string_equal(hp_store_revision(s), "v3.2.0.a");
  hp_store_close(s);
}

/* The URL forms: TCP (postgresql://USER@HOST:PORT/DB) and the Unix socket
 * (?host=DIR); a database with someone else's tables is refused; a server
 * that is not there is a clear error. */
static void test_pg_urls(void **state) {
  (void)state;
  char url[512];
  new_db("urls", url, sizeof url);
  hp_store_t *s = NULL;
  hp_err_t err = {0};
  char tcp[256];
  snprintf(tcp, sizeof tcp, "postgresql://postgres@127.0.0.1:%d/urls", g_port);
  assert_int_equal(hp_store_open(tcp, 0, &s, &err), 0);
  bool maximize = false;
  int64_t id = 0, number = -1, tid = 0;
  assert_int_equal(hp_store_study_create(s, "u", 1, &maximize, NULL, NULL, &id, &err), 0);
  assert_int_equal(hp_store_study_create(s, "u", 1, &maximize, NULL, NULL, &id, &err), HP_EEXIST);
  assert_int_equal(hp_store_trial_create(s, id, HP_STORE_RUNNING, NULL, 0, NULL, &tid, &number,
                                         &err), 0);
  assert_int_equal(number, 0);
  double v = INFINITY;
  assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_COMPLETE, &v, 1, NULL, &err), 0);
  hp_store_close(s);
  /* read back through the socket form, as `hpsearch trials --db` does */
  assert_int_equal(hp_test_sh("'%s' trials u --db '%s' --csv | grep -q 'inf'", g_bin, url), 0);
  assert_int_equal(hp_test_sh("'%s' status --db '%s' >/dev/null", g_bin, tcp), 0);
  /* a password in the URL never shows in messages */
  char bad[256];
  snprintf(bad, sizeof bad, "postgresql://postgres:s3cret@127.0.0.1:1/nodb");
  assert_int_not_equal(hp_store_open(bad, 0, &s, &err), 0);
  assert_null(strstr(err.msg, "s3cret"));
  assert_non_null(strstr(err.msg, "postgres:***@"));
  /* someone else's database */
  assert_int_equal(hp_test_sh("'%s/psql' -q -h '%s/pg/sock' -p %d -U postgres -d urls -c 'CREATE "
                      "DATABASE other' && '%s/psql' -q -h '%s/pg/sock' -p %d -U postgres -d "
                      "other -c 'CREATE TABLE mine (a int)'",
                      g_pgbin, g_dir, g_port, g_pgbin, g_dir, g_port),
                   0);
  snprintf(url, sizeof url, "postgresql://postgres@/other?host=%s/pg/sock&port=%d", g_dir, g_port);
  assert_int_equal(hp_store_open(url, 0, &s, &err), HP_EFORMAT);
  assert_non_null(strstr(err.msg, "not an Optuna or hpsearch database"));
}

static void test_pg_claims_grid(void **state) {
  (void)state;
  scenario("claims-grid", NULL);
}

static void test_pg_claims_tpe(void **state) {
  (void)state;
  scenario("claims-tpe", NULL);
}

static void test_pg_claims_unlimited(void **state) {
  (void)state;
  scenario("unlimited", NULL);
}

/* Daemons that start several trials in one loop iteration (parallelism
 * 4): each claim commits with its trial, and the next one claims again. */
static void test_pg_claims_batch(void **state) {
  (void)state;
  scenario("batch", NULL);
}

/* trial.tell with "ask" on four daemons: the end and the next claim in one
 * round trip, each reply after its commit, n_trials exact. */
static void test_pg_tell_ask(void **state) {
  (void)state;
  scenario("tellask", NULL);
}

static void test_pg_kill9_takeover(void **state) {
  (void)state;
  scenario("kill9", NULL);
}

/* A peer never fails a live owner's trial (5 s trials, 4 s grace period),
 * with two studies run by both daemons at once. */
static void test_pg_live_owner(void **state) {
  (void)state;
  scenario("live", NULL);
}

/* A peer ends a trial this daemon still runs: the daemon keeps serving (its
 * counts stay consistent: the sanitizer build checks them every loop
 * iteration), its own end is refused, the study completes. */
static void test_pg_taken_over(void **state) {
  (void)state;
  scenario("taken", NULL);
}

static void test_pg_optuna_joins(void **state) {
  (void)state;
  if (hp_test_sh("/usr/bin/python3 -c 'import optuna' >/dev/null 2>&1") != 0)
    fail_msg("python3-optuna is missing: run scripts/install-deps");
  scenario("optuna", NULL);
}

static void test_pg_optuna5_reads(void **state) {
  (void)state;
  const char *env = getenv("HP_OPTUNA5");
  char o5[1200];
  if (env && *env)
    snprintf(o5, sizeof o5, "%s", env);
  else
    snprintf(o5, sizeof o5, "%s/../shared/vendor/optuna-5.0.0.dev", g_src);
  char probe[1300];
  snprintf(probe, sizeof probe, "%s/optuna/__init__.py", o5);
  if (access(probe, R_OK) != 0) {
    print_message("SKIP: the vendored Optuna 5 is not at %s (set HP_OPTUNA5)\n", o5);
    skip();
  }
  char arg[1300];
  snprintf(arg, sizeof arg, "'%s'", o5);
  scenario("optuna5", arg);
}

static void test_pg_restart(void **state) {
  (void)state;
  scenario("restart", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pg_schema_exact),  cmocka_unit_test(test_pg_urls),
      cmocka_unit_test(test_pg_claims_grid),   cmocka_unit_test(test_pg_claims_tpe),
      cmocka_unit_test(test_pg_claims_unlimited), cmocka_unit_test(test_pg_claims_batch),
      cmocka_unit_test(test_pg_tell_ask),
      cmocka_unit_test(test_pg_kill9_takeover), cmocka_unit_test(test_pg_live_owner),
      cmocka_unit_test(test_pg_taken_over),
      cmocka_unit_test(test_pg_optuna_joins),
      cmocka_unit_test(test_pg_optuna5_reads), cmocka_unit_test(test_pg_restart),
  };
  return cmocka_run_group_tests(tests, server_up, server_down);
}

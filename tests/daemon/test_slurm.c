/* The Slurm executor against a real one-node cluster: scripts/slurm-test-cluster
 * starts munged, slurmctld and slurmd from Debian's packages in a fresh
 * temporary folder with ports of its own (and a watchdog that takes the
 * cluster down if this binary dies), and stops them at the end. The
 * scenarios run in tests/daemon/slurm_cluster.py, each with its own daemon
 * and database, and check the database and Slurm's own view of the jobs.
 * The time-limit scenario needs 60-90 s (Slurm's one-minute granularity,
 * checked every ~30 s): it starts first and runs beside the others. The
 * sanitizer build runs the scenarios smaller and leaves the time limit to
 * the plain build. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../child.h"

static char g_dir[128];   /* the cluster's BASE folder */
static const char *g_bin; /* hpsearch */
static char g_src[1024];  /* source folder */
static pid_t g_timeout;   /* the time-limit scenario running beside the others */
static bool g_asan;


static int cluster_up(void **state) {
  (void)state;
  g_bin = getenv("HPSEARCH_BIN");
  if (g_bin == NULL) g_bin = HP_BUILD_DIR "/hpsearch";
  const char *src = getenv("HP_SRC_DIR");
  snprintf(g_src, sizeof g_src, "%s", src && *src ? src : ".");
  g_asan = strstr(HP_BUILD_DIR, "asan") != NULL;
  snprintf(g_dir, sizeof g_dir, "/tmp/hp-test-slurm-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return -1;
  char conf[256];
  snprintf(conf, sizeof conf, "%s/slurm/slurm.conf", g_dir);
  setenv("SLURM_CONF", conf, 1); /* every client command (and the daemons' sbatch) */
  /* the scenarios (run through system()) stop their daemons when we die */
  char pid[24];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  setenv("HP_TEST_PID", pid, 1);
  /* Ports of this run's own (the plain and sanitizer runs go at once); a
   * taken port fails the start, and others are tried. Four CPUs declared:
   * the time-limit job runs beside a study of parallelism 2. */
  srand((unsigned)(getpid() ^ time(NULL)));
  for (int attempt = 0; attempt < 5; attempt++) {
    int port = 20000 + 2 * (rand() % 10000);
    if (hp_test_sh("SLURM_TEST_CPUS=4 '%s/scripts/slurm-test-cluster' up '%s' %d %d %d 2>'%s/up.err'",
           g_src, g_dir, port, port + 1, (int)getpid(), g_dir) == 0)
      return 0;
    hp_test_sh("'%s/scripts/slurm-test-cluster' down '%s'; rm -rf '%s/slurm' '%s/munge'", g_src, g_dir,
       g_dir, g_dir);
  }
  hp_test_sh("cat '%s/up.err' >&2", g_dir);
  fprintf(stderr, "test_slurm: no Slurm cluster could be started (scripts/install-deps installs "
                  "slurm-wlm and munge)\n");
  return -1;
}

static int cluster_down(void **state) {
  (void)state;
  if (g_timeout > 0) {
    kill(g_timeout, SIGTERM);
    waitpid(g_timeout, NULL, 0);
  }
  hp_test_sh("'%s/scripts/slurm-test-cluster' down '%s'", g_src, g_dir);
  hp_test_sh("rm -rf '%s'", g_dir);
  return 0;
}

static const char *scale(void) {
  /* the sanitizer build runs each daemon several times slower */
  return g_asan ? "SLURM_CLUSTER_SCALE=0.3 " : "";
}

/* Runs one scenario of slurm_cluster.py in BASE/<name>. */
static void scenario(const char *name) {
  int rc = hp_test_sh("%s/usr/bin/python3 '%s/tests/daemon/slurm_cluster.py' '%s' '%s/%s' %s >&2", scale(),
              g_src, g_bin, g_dir, name, name);
  if (rc != 0) {
    hp_test_sh("tail -n 30 '%s/%s'/*.log >&2", g_dir, name);
    fail_msg("scenario %s failed (exit %d)", name, rc);
  }
}

/* Starts the time-limit scenario beside the others (plain build only). */
static void test_slurm_timeout_start(void **state) {
  (void)state;
  if (g_asan) skip();
  pid_t parent = getpid();
  g_timeout = fork();
  assert_true(g_timeout >= 0);
  if (g_timeout == 0) {
    hp_test_child_dies_with_parent(parent);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/timeout", g_dir);
    execl("/usr/bin/python3", "python3", "tests/daemon/slurm_cluster.py", g_bin, dir, "timeout",
          (char *)NULL);
    _exit(127);
  }
}

static void test_slurm_twenty(void **state) {
  (void)state;
  scenario("twenty");
}

static void test_slurm_prune(void **state) {
  (void)state;
  scenario("prune");
}

static void test_slurm_scancel(void **state) {
  (void)state;
  scenario("scancel");
}

static void test_slurm_refuse(void **state) {
  (void)state;
  scenario("refuse");
}

/* An engine objective's worker (training) as a job; not in the sanitizer
 * build, where training is slow. */
static void test_slurm_engine(void **state) {
  (void)state;
  if (g_asan) skip();
  scenario("engine");
}

static void test_slurm_restart(void **state) {
  (void)state;
  scenario("restart");
}

/* The same on PostgreSQL with a peer daemon: only the daemon whose fixed
 * --worker-addr the jobs call adopts them. */
static void test_slurm_restart_pg(void **state) {
  (void)state;
  scenario("restart_pg");
}

/* A daemon killed for good on PostgreSQL: the peer fails its trials after
 * the grace period and cancels their jobs. */
static void test_slurm_dead_pg(void **state) {
  (void)state;
  scenario("dead_pg");
}

/* Waits for the time-limit scenario started first. */
static void test_slurm_timeout(void **state) {
  (void)state;
  if (g_asan) skip();
  assert_true(g_timeout > 0);
  int status = 0;
  assert_int_equal(waitpid(g_timeout, &status, 0), g_timeout);
  g_timeout = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    hp_test_sh("tail -n 30 '%s/timeout'/*.log >&2", g_dir);
    fail_msg("scenario timeout failed (status %d)", status);
  }
}

int main(void) {
  if (chdir(getenv("HP_SRC_DIR") && *getenv("HP_SRC_DIR") ? getenv("HP_SRC_DIR") : ".") != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slurm_timeout_start), cmocka_unit_test(test_slurm_twenty),
      cmocka_unit_test(test_slurm_prune),         cmocka_unit_test(test_slurm_scancel),
      cmocka_unit_test(test_slurm_refuse),        cmocka_unit_test(test_slurm_engine),
      cmocka_unit_test(test_slurm_restart),       cmocka_unit_test(test_slurm_restart_pg),
      cmocka_unit_test(test_slurm_dead_pg),
      cmocka_unit_test(test_slurm_timeout),
  };
  return cmocka_run_group_tests(tests, cluster_up, cluster_down);
}

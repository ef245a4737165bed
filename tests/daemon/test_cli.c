/* Runs the real `hpsearch` client subcommands against a real daemon started
 * on a socket and database in a temporary folder ($HPSEARCH_BIN), and against
 * database files read directly with --db: output shapes (table headers,
 * counts, CSV and JSON that parse), exit codes, the no-daemon message, and
 * shell-driven ask/report/tell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "hpsearch/store.h"

#include "../child.h"
#include "../optuna5.h"

static char g_dir[256];    /* temp folder of this run */
static char g_sock[320];   /* daemon socket */
static char g_db[320];     /* daemon database */
static const char *g_bin;  /* hpsearch binary under test */
static pid_t g_daemon = -1;

/* Output of one CLI run. */
typedef struct run {
  int code;        /* exit code, or 128+signal */
  char out[65536]; /* stdout */
  char err[8192];  /* stderr */
} run_t;

static void slurp(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (f == NULL) return;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* Runs `hpsearch ARGS` through the shell with HPSEARCH_SOCKET set to the
 * test daemon (arguments are trusted test text). */
static run_t *cli(const char *fmt, ...) {
  static run_t r;
  char args[2048], cmd[4096], outp[400], errp[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(outp, sizeof outp, "%s/out.txt", g_dir);
  snprintf(errp, sizeof errp, "%s/err.txt", g_dir);
  snprintf(cmd, sizeof cmd, "HPSEARCH_SOCKET='%s' '%s' %s >'%s' 2>'%s' </dev/null", g_sock, g_bin,
           args, outp, errp);
  int st = system(cmd);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  slurp(outp, r.out, sizeof r.out);
  slurp(errp, r.err, sizeof r.err);
  return &r;
}

static void write_file(const char *name, const char *text) {
  char p[400];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* True when something accepts connections on the Unix socket at path. */
static bool can_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

/* Starts `hpsearch daemon` on db and sock, its stderr in g_dir/LOG. */
static pid_t spawn_daemon(const char *db, const char *sock, const char *log, const char *jobs) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    hp_test_child_dies_with_parent(parent);
    char p[400];
    snprintf(p, sizeof p, "%s/%s", g_dir, log);
    if (freopen(p, "w", stderr) == NULL) _exit(127);
    execl(g_bin, g_bin, "daemon", "--db", db, "--socket", sock, "--jobs", jobs, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* The same with --optuna-schema 3.1 (a database Debian's Optuna 3.1 reads). */
static pid_t spawn_daemon31(const char *db, const char *sock, const char *log) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    hp_test_child_dies_with_parent(parent);
    char p[400];
    snprintf(p, sizeof p, "%s/%s", g_dir, log);
    if (freopen(p, "w", stderr) == NULL) _exit(127);
    execl(g_bin, g_bin, "daemon", "--db", db, "--socket", sock, "--jobs", "1", "--optuna-schema",
          "3.1", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int start_daemon(void **state) {
  (void)state;
  g_bin = getenv("HPSEARCH_BIN");
  if (g_bin == NULL) g_bin = HP_BUILD_DIR "/hpsearch";
  snprintf(g_dir, sizeof g_dir, "/tmp/hp-test-cli-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return -1;
  snprintf(g_sock, sizeof g_sock, "%s/run/hp.sock", g_dir);
  snprintf(g_db, sizeof g_db, "%s/hp.db", g_dir);
  g_daemon = spawn_daemon(g_db, g_sock, "daemon.log", "2");
  if (g_daemon < 0) return -1;
  /* Ready when the socket accepts a connection (ASan builds start slowly). */
  for (int i = 0; i < 300; i++) {
    if (can_connect(g_sock)) return 0;
    if (waitpid(g_daemon, NULL, WNOHANG) == g_daemon) {
      g_daemon = -1;
      char log[4096], p[400];
      snprintf(p, sizeof p, "%s/daemon.log", g_dir);
      slurp(p, log, sizeof log);
      fprintf(stderr, "daemon exited at start:\n%s\n", log);
      return -1;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

static int stop_daemon(void **state) {
  (void)state;
  if (g_daemon > 0) {
    cli("shutdown");
    for (int i = 0; i < 200 && waitpid(g_daemon, NULL, WNOHANG) != g_daemon; i++) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
      if (i == 199) {
        kill(g_daemon, SIGKILL);
        waitpid(g_daemon, NULL, 0);
      }
    }
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) return -1;
  return 0;
}

/* ---- no daemon ------------------------------------------------------------ */

/* $HPSEARCH_SOCKET names a socket in a folder of the user's (0755 here;
 * /tmp itself is 1777): the daemon never changes that folder's mode; only
 * hpsearch's own default folders are made 0700. (A daemon run as root with
 * HPSEARCH_SOCKET=/tmp/x.sock used to turn /tmp into 0700.) */
static void test_env_socket_folder_kept(void **state) {
  (void)state;
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/hp-test-envsock-XXXXXX");
  assert_non_null(mkdtemp(dir));
  assert_int_equal(chmod(dir, 0755), 0);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "export HPSEARCH_SOCKET='%s/s.sock'; '%s' daemon --db '%s/x.db' --jobs 1 2>/dev/null &"
           " i=0; while [ ! -S \"$HPSEARCH_SOCKET\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;"
           " '%s' shutdown >/dev/null",
           dir, g_bin, dir, g_bin);
  int rc = system(cmd);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) {}
  assert_int_equal(rc, 0);
  assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_no_daemon(void **state) {
  (void)state;
  run_t *r = cli("status --socket '%s/none.sock'", g_dir);
  assert_int_equal(r->code, 3);
  assert_non_null(strstr(r->err, "no hpsearch daemon is running on"));
  assert_non_null(strstr(r->err, "none.sock"));
  /* The advice names the program as it was run. */
  char hint[600];
  snprintf(hint, sizeof hint, "start one with: %s daemon --socket", g_bin);
  assert_non_null(strstr(r->err, hint));
  /* Through the environment only: the advice is plain `PROG daemon &`. */
  char cmd[1024], errp[400];
  snprintf(errp, sizeof errp, "%s/err2.txt", g_dir);
  snprintf(cmd, sizeof cmd, "HPSEARCH_SOCKET='%s/none.sock' '%s' trials x >/dev/null 2>'%s'", g_dir,
           g_bin, errp);
  int st = system(cmd);
  assert_int_equal(WEXITSTATUS(st), 3);
  char err[2048];
  slurp(errp, err, sizeof err);
  snprintf(hint, sizeof hint, "start one with: %s daemon &", g_bin);
  assert_non_null(strstr(err, hint));
}

static void test_usage_errors(void **state) {
  (void)state;
  assert_int_equal(cli("trials")->code, 2);
  assert_int_equal(cli("tell s 0")->code, 2);          /* COMPLETE needs a value */
  assert_int_equal(cli("report s x 0 1")->code, 2);    /* trial not a number */
  assert_int_equal(cli("report s 0 0 abc")->code, 2);  /* value not a number */
  assert_int_equal(cli("status --bogus")->code, 2);
  assert_int_equal(cli("best")->code, 2);
  run_t *r = cli("trials --help");
  assert_int_equal(r->code, 0);
  char usage[600];
  snprintf(usage, sizeof usage, "usage: %s trials STUDY", g_bin);
  assert_non_null(strstr(r->out, usage));
}

/* ---- shell-driven trials against the daemon ------------------------------ */

static void test_ask_report_tell(void **state) {
  (void)state;
  write_file("shell.json",
             "{\"name\": \"shell\", \"direction\": \"minimize\", \"n_trials\": 3,\n"
             " \"sampler\": {\"type\": \"random\", \"seed\": 7},\n"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": -4, \"high\": 4},\n"
             "           \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]}}}\n");
  run_t *r = cli("submit '%s/shell.json'", g_dir);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "submitted study shell"));
  r = cli("submit '%s/shell.json'", g_dir);
  assert_int_equal(r->code, 1); /* the name is taken */

  double best = INFINITY;
  long best_n = -1;
  for (int i = 0; i < 3; i++) {
    r = cli("ask shell");
    assert_int_equal(r->code, 0);
    cJSON *t = cJSON_Parse(r->out);
    assert_non_null(t);
    long n = (long)cJSON_GetObjectItem(t, "trial")->valuedouble;
    assert_int_equal(n, i);
    const cJSON *params = cJSON_GetObjectItem(t, "params");
    double x = cJSON_GetObjectItem(params, "x")->valuedouble;
    assert_true(x >= -4 && x <= 4);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(params, "opt")));
    cJSON_Delete(t);
    r = cli("report shell %ld 0 %.17g", n, x * x + 1);
    assert_true(r->code == 0 || r->code == 6);
    assert_true(strcmp(r->out, "continue\n") == 0 || strcmp(r->out, "prune\n") == 0);
    if (i < 2) {
      r = cli("tell shell %ld %.17g", n, x * x);
      assert_int_equal(r->code, 0);
      assert_non_null(strstr(r->out, "COMPLETE"));
      if (x * x < best) best = x * x, best_n = n;
    } else {
      r = cli("tell shell %ld --state pruned --reason 'from the shell'", n);
      assert_int_equal(r->code, 0);
      assert_non_null(strstr(r->out, "PRUNED"));
    }
  }
  r = cli("tell shell 0 1.5");
  assert_int_equal(r->code, 1); /* already finished */
  r = cli("ask shell");
  assert_int_equal(r->code, 7); /* n_trials reached */

  /* status: table of studies with headers and counts. */
  r = cli("status");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "study"));
  assert_non_null(strstr(r->out, "complete"));
  assert_non_null(strstr(r->out, "pruned"));
  assert_non_null(strstr(r->out, "shell"));
  assert_non_null(strstr(r->out, "3/3"));
  r = cli("status shell");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "3 of 3 finished: 2 complete, 1 pruned, 0 failed"));
  assert_non_null(strstr(r->out, "recent trials"));
  r = cli("status shell --json");
  assert_int_equal(r->code, 0);
  cJSON *s = cJSON_Parse(r->out);
  assert_non_null(s);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "recent_trials")), 3);
  cJSON_Delete(s);
  assert_int_equal(cli("status nosuch")->code, 4);

  /* trials: CSV with a header and one row per trial; JSON that parses. */
  r = cli("trials shell --csv");
  assert_int_equal(r->code, 0);
  assert_int_equal(count_lines(r->out), 4);
  assert_true(strncmp(r->out, "number,state,value,", 19) == 0);
  assert_non_null(strstr(r->out, "params_x"));
  assert_non_null(strstr(r->out, "params_opt"));
  assert_non_null(strstr(r->out, ",PRUNED,"));
  assert_non_null(strstr(r->out, "from the shell"));
  r = cli("trials shell --json");
  assert_int_equal(r->code, 0);
  cJSON *tj = cJSON_Parse(r->out);
  assert_non_null(tj);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(tj, "trials")), 3);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(tj, "trials"), 2),
                                          "reason")->valuestring, "from the shell");
  cJSON_Delete(tj);
  r = cli("trials shell");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "trial"));
  assert_non_null(strstr(r->out, "state"));
  assert_int_equal(count_lines(r->out), 5); /* header, rule, 3 rows */

  /* best: the smaller of the two complete values. */
  r = cli("best shell --json");
  assert_int_equal(r->code, 0);
  cJSON *b = cJSON_Parse(r->out);
  assert_non_null(b);
  assert_int_equal((long)cJSON_GetObjectItem(b, "trial")->valuedouble, best_n);
  assert_true(fabs(cJSON_GetObjectItem(b, "value")->valuedouble - best) < 1e-9);
  cJSON_Delete(b);
  r = cli("best shell");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "best trial of shell"));

  /* --db reads the daemon's live database without the daemon. */
  r = cli("trials shell --csv --db '%s'", g_db);
  assert_int_equal(r->code, 0);
  assert_int_equal(count_lines(r->out), 4);
  assert_non_null(strstr(r->out, "from the shell"));
  r = cli("status --db '%s'", g_db);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "shell"));
  r = cli("best shell --json --db '%s'", g_db);
  assert_int_equal(r->code, 0);
  b = cJSON_Parse(r->out);
  assert_non_null(b);
  assert_int_equal((long)cJSON_GetObjectItem(b, "trial")->valuedouble, best_n);
  cJSON_Delete(b);

  /* stop / resume / delete. */
  assert_int_equal(cli("stop shell")->code, 0);
  assert_int_equal(cli("resume shell")->code, 0);
  r = cli("delete shell");
  assert_int_equal(r->code, 0);
  assert_int_equal(cli("trials shell")->code, 4);
  r = cli("trials shell --json");
  assert_int_equal(r->code, 4);
  assert_non_null(strstr(r->err, "unknown study"));

  /* A study with a running trial is deleted only with --force. */
  assert_int_equal(cli("submit '%s/shell.json'", g_dir)->code, 0);
  assert_int_equal(cli("ask shell")->code, 0);
  r = cli("delete shell");
  assert_int_equal(r->code, 1);
  assert_non_null(strstr(r->err, "1 running trial;"));
  assert_non_null(strstr(r->err, "delete shell --force' deletes it"));
  assert_int_equal(cli("status shell")->code, 0);
  r = cli("delete shell --force");
  assert_int_equal(r->code, 0);
  assert_int_equal(cli("status shell")->code, 4);
}

/* Values go in through the one lenient parser and come out exactly; what
 * is beyond a double, hexadecimal or not UTF-8 is refused naming it. */
static void test_exact_values(void **state) {
  (void)state;
  write_file("exact.json", "{\"name\": \"exact\", \"n_trials\": 2,\n"
                           " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}\n");
  assert_int_equal(cli("submit '%s/exact.json'", g_dir)->code, 0);
  assert_int_equal(cli("ask exact")->code, 0);
  run_t *r = cli("tell exact 0 1e400");
  assert_int_equal(r->code, 2);
  assert_non_null(strstr(r->err, "VALUE: 1e400 is beyond the range of a double"));
  r = cli("report exact 0 0 0x10");
  assert_int_equal(r->code, 2);
  assert_non_null(strstr(r->err, "VALUE: expected a number"));
  assert_int_equal(cli("report exact 0 0 .5")->code, 0);
  assert_int_equal(cli("report exact 0 1 -Infinity")->code, 0);
  assert_int_equal(cli("tell exact 0 0.30000000000000004")->code, 0);
  assert_int_equal(cli("ask exact")->code, 0); /* and trial 1 ends the study */
  assert_int_equal(cli("tell exact 1 --state fail")->code, 0);
  r = cli("trials exact --csv");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, ",COMPLETE,0.30000000000000004,"));
  r = cli("trials exact --json --intermediate");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "\"value\":0.30000000000000004"));
  assert_non_null(strstr(r->out, "[1,\"-inf\"]"));
  r = cli("trials exact --csv --db '%s'", g_db);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, ",COMPLETE,0.30000000000000004,"));
  /* An argument that is not UTF-8 is refused before anything is sent. */
  r = cli("tell \"$(printf 'ex\\377act')\" 1 1");
  assert_int_not_equal(r->code, 0);
  assert_non_null(strstr(r->err, "params.study: not valid UTF-8"));
  /* A spec file with bad bytes: the line, column and field. */
  write_file("bad-utf8.json", "{\"name\": \"b\xc0\xaf" "d\", \"n_trials\": 1,\n"
                              " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}\n");
  r = cli("submit '%s/bad-utf8.json'", g_dir);
  assert_int_not_equal(r->code, 0);
  assert_non_null(strstr(r->err, "malformed JSON at line 1 column 12 (in name): bytes that are not "
                                  "valid UTF-8"));
}

/* A command objective run by the daemon's workers, followed with --wait. */
static void test_submit_wait_command(void **state) {
  (void)state;
  write_file("cmd.json",
             "{\"name\": \"cmd\", \"direction\": \"minimize\", \"n_trials\": 4,\n"
             " \"parallelism\": 2, \"sampler\": {\"type\": \"random\", \"seed\": 3},\n"
             " \"space\": {\"x\": {\"type\": \"int\", \"low\": 0, \"high\": 9}},\n"
             " \"objective\": {\"command\": [\"sh\", \"-c\",\n"
             "   \"echo '{\\\"step\\\": 0, \\\"value\\\": '$0'}'; echo '{\\\"value\\\": '$0'}'\","
             " \"$x\"]}}\n");
  run_t *r = cli("submit '%s/cmd.json' --wait", g_dir);
  if (r->code != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "finished"));
  assert_non_null(strstr(r->out, "best trial of cmd"));
  r = cli("status cmd");
  assert_non_null(strstr(r->out, "4 of 4 finished: 4 complete"));
  /* --watch of a finished study draws once and returns. */
  r = cli("status cmd --watch");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "4 of 4 finished"));
  r = cli("trials cmd --json --intermediate");
  cJSON *tj = cJSON_Parse(r->out);
  assert_non_null(tj);
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(tj, "trials")) {
    double x = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "params"), "x")->valuedouble;
    assert_true(fabs(cJSON_GetObjectItem(t, "value")->valuedouble - x) < 1e-12);
  }
  cJSON_Delete(tj);
}

/* ---- a database written by the store, read with --db (no daemon) -------- */

static void test_db_from_store(void **state) {
  (void)state;
  char path[400];
  snprintf(path, sizeof path, "%s/store.db", g_dir);
  hp_store_t *s;
  hp_err_t err = {0};
  assert_int_equal(hp_store_open(path, 0, &s, &err), 0);
  bool maximize = true;
  int64_t sid, tid;
  assert_int_equal(hp_store_study_create(s, "fm", 1, &maximize, NULL, NULL, &sid, &err), 0);
  const char *dlr = "{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": "
                    "1e-05, \"high\": 0.1, \"log\": true}}";
  const char *dopt = "{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": "
                     "[\"sgd\", \"adam\", \"rmsprop\"]}}";
  double vals[] = {0.81, 0.86, 0.5, 0.0};
  hp_store_state_t states[] = {HP_STORE_COMPLETE, HP_STORE_COMPLETE, HP_STORE_PRUNED,
                               HP_STORE_FAIL};
  for (int i = 0; i < 4; i++) {
    hp_store_param_t p[2] = {{"lr", 0.001 * (i + 1), dlr}, {"opt", (double)(i % 3), dopt}};
    assert_int_equal(hp_store_trial_create(s, sid, HP_STORE_RUNNING, p, 2, NULL, &tid, NULL, &err), 0);
    assert_int_equal(hp_store_trial_report(s, tid, 0, vals[i] - 0.1, &err), 0);
    if (states[i] == HP_STORE_FAIL)
      assert_int_equal(hp_store_trial_finish(s, tid, HP_STORE_FAIL, NULL, 0,
                                             "{\"fail_reason\": \"exit status 3\"}", &err), 0);
    else
      assert_int_equal(hp_store_trial_finish(s, tid, states[i], &vals[i], 1, NULL, &err), 0);
  }
  /* Kept open read-write while the CLI reads, as the daemon would. */
  run_t *r = cli("trials fm --csv --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_int_equal(count_lines(r->out), 5);
  assert_non_null(strstr(r->out, "params_lr,params_opt"));
  assert_non_null(strstr(r->out, ",adam,"));     /* categorical shown as its choice */
  assert_non_null(strstr(r->out, ",rmsprop,"));
  assert_non_null(strstr(r->out, "exit status 3"));
  r = cli("status --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "fm"));
  assert_non_null(strstr(r->out, "maximize"));
  r = cli("status fm --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "4 finished: 2 complete, 1 pruned, 1 failed"));
  assert_non_null(strstr(r->out, "trial 1: 0.86"));
  r = cli("best fm --json --db '%s'", path);
  assert_int_equal(r->code, 0);
  cJSON *b = cJSON_Parse(r->out);
  assert_non_null(b);
  assert_int_equal((int)cJSON_GetObjectItem(b, "trial")->valuedouble, 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "opt")->valuestring,
                      "adam");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "intermediate")), 1);
  cJSON_Delete(b);
  assert_int_equal(cli("trials nope --db '%s'", path)->code, 4);
  hp_store_close(s);
  /* A missing file is an error, and --db never creates it. */
  r = cli("status --db '%s/missing.db'", g_dir);
  assert_int_not_equal(r->code, 0);
  char missing[400];
  snprintf(missing, sizeof missing, "%s/missing.db", g_dir);
  struct stat st;
  assert_int_not_equal(stat(missing, &st), 0);
}

/* --db reads a database that Optuna itself wrote (skipped without optuna). */
static void test_db_from_optuna(void **state) {
  (void)state;
  if (system("/usr/bin/python3 -c 'import optuna' >/dev/null 2>&1") != 0) skip();
  char script[2048], path[400];
  snprintf(path, sizeof path, "%s/optuna.db", g_dir);
  snprintf(script, sizeof script,
           "/usr/bin/python3 -c '\n"
           "import optuna\n"
           "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
           "s = optuna.create_study(study_name=\"opt\", storage=\"sqlite:///%s\", direction=\"maximize\")\n"
           "def f(t):\n"
           "    x = t.suggest_float(\"x\", -3, 3)\n"
           "    c = t.suggest_categorical(\"c\", [\"a\", None, 3])\n"
           "    t.report(x, 0)\n"
           "    t.set_user_attr(\"note\", \"hi\")\n"
           "    t.set_user_attr(\"curvature_lambda_max\", 12.5)\n"
           "    t.set_user_attr(\"curvature_lr_sharpness\", 0.5)\n"
           "    t.set_user_attr(\"curvature_bound\", 2.0)\n"
           "    t.set_user_attr(\"curvature_density\", [0.25, 0.75])\n"
           "    return -x * x\n"
           "s.optimize(f, n_trials=5)\n"
           "s.enqueue_trial({\"x\": 1.0})\n"
           "' 2>/dev/null",
           path);
  assert_int_equal(system(script), 0);
  run_t *r = cli("trials opt --csv --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_int_equal(count_lines(r->out), 7); /* header, 5 complete, 1 waiting */
  assert_non_null(strstr(r->out, ",WAITING,"));
  /* curvature attributes (as the engine's diagnostics store them) get
   * their columns in the table and their section in best */
  r = cli("trials opt --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "lambda_max  lr*sharpness"));
  assert_non_null(strstr(r->out, "12.5"));
  r = cli("best opt --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "curvature (Hessian"));
  assert_non_null(strstr(r->out, "[0.25,0.75]"));
  assert_non_null(strstr(r->out, "lr*sharpness is below the stability bound 2"));
  r = cli("status opt --db '%s'", path);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "5 finished: 5 complete, 0 pruned, 0 failed; 0 running, 1 waiting"));
  r = cli("best opt --json --db '%s'", path);
  assert_int_equal(r->code, 0);
  cJSON *b = cJSON_Parse(r->out);
  assert_non_null(b);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "user_attrs"), "note")->valuestring,
                      "hi");
  double x = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "x")->valuedouble;
  assert_true(fabs(cJSON_GetObjectItem(b, "value")->valuedouble + x * x) < 1e-12);
  cJSON_Delete(b);
}

/* Starts `hpsearch ARGS...` in the background, stdout and stderr to files
 * in g_dir (TAG.out, TAG.err). */
static pid_t cli_bg(const char *tag, const char *a1, const char *a2, const char *a3) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s.out", g_dir, tag);
    if (freopen(p, "w", stdout) == NULL) _exit(127);
    snprintf(p, sizeof p, "%s/%s.err", g_dir, tag);
    if (freopen(p, "w", stderr) == NULL) _exit(127);
    setenv("HPSEARCH_SOCKET", g_sock, 1);
    execl(g_bin, g_bin, a1, a2, a3, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Waits until g_dir/name holds text (5 s at most); returns it. */
static const char *wait_text(const char *name, const char *text) {
  static char buf[8192];
  char p[400];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  for (int i = 0; i < 250; i++) {
    slurp(p, buf, sizeof buf);
    if (strstr(buf, text)) return buf;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  fail_msg("'%s' never appeared in %s: %s", text, name, buf);
  return NULL;
}

/* `submit --wait` of a study without objective says that only ask/tell
 * clients move it and what ends the wait, then ends when they finished it;
 * Ctrl-C during `submit --wait` and `status --watch` says the study keeps
 * running and how to follow it (exit 130). */
static void test_wait_asktell_and_interrupt(void **state) {
  (void)state;
  write_file("at.json", "{\"name\": \"at\", \"n_trials\": 2,\n"
                        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}\n");
  char spec[400];
  snprintf(spec, sizeof spec, "%s/at.json", g_dir);
  pid_t pid = cli_bg("w1", "submit", spec, "--wait");
  const char *out = wait_text("w1.out", "Ctrl-C stops waiting");
  assert_non_null(strstr(out, "study at has no objective: the daemon runs no trials for it"));
  assert_non_null(strstr(out, "hpsearch ask at"));
  char hint[600];
  snprintf(hint, sizeof hint, "finished (it has 2 finished trials), stopped (%s stop at)", g_bin);
  assert_non_null(strstr(out, hint));
  for (int i = 0; i < 2; i++) {
    run_t *r = cli("ask at");
    assert_int_equal(r->code, 0);
    cJSON *t = cJSON_Parse(r->out);
    assert_non_null(t);
    int n = cJSON_GetObjectItem(t, "trial")->valueint;
    cJSON_Delete(t);
    assert_int_equal(cli("tell at %d 0.%d", n, i + 1)->code, 0);
  }
  int st = 0;
  for (int i = 0; i < 500 && waitpid(pid, &st, WNOHANG) != pid; i++) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (i == 499) fail_msg("submit --wait did not end after the study finished");
  }
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  wait_text("w1.out", "best trial of at");

  /* Ctrl-C while waiting: the study goes on. */
  write_file("at2.json", "{\"name\": \"at2\", \"space\": {\"x\": {\"type\": \"float\", "
                         "\"low\": 0, \"high\": 1}}}\n");
  snprintf(spec, sizeof spec, "%s/at2.json", g_dir);
  pid = cli_bg("w2", "submit", spec, "--wait");
  out = wait_text("w2.out", "Ctrl-C stops waiting");
  assert_non_null(strstr(out, "nothing: it has no n_trials, time_budget or grid"));
  kill(pid, SIGINT);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 130);
  snprintf(hint, sizeof hint,
           "stopped waiting; study at2 keeps running in the daemon. Follow it with: %s status "
           "at2 --watch", g_bin);
  wait_text("w2.err", hint);
  run_t *r = cli("status at2 --json");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "\"state\":\"running\""));

  /* a study that stops itself ends the wait with its reason */
  write_file("crash.json", "{\"name\": \"crash\", \"n_trials\": 10, \"max_consecutive_failures\": 2,\n"
                           " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},\n"
                           " \"objective\": {\"command\": [\"sh\", \"-c\", \"echo no luck >&2; exit 3\"]}}\n");
  r = cli("submit '%s/crash.json' --wait", g_dir);
  assert_int_equal(r->code, 1);
  if (strstr(r->err, "study crash stopped itself: 2 trials in a row failed") == NULL ||
      strstr(r->err, "exit status 3: no luck") == NULL ||
      strstr(r->err, "hpsearch resume crash)") == NULL) /* the program as run */
    fail_msg("unclear: %s", r->err);

  pid = cli_bg("w3", "status", "at2", "--watch");
  wait_text("w3.out", "at2");
  kill(pid, SIGINT);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_int_equal(WEXITSTATUS(st), 130);
  snprintf(hint, sizeof hint, "study at2 keeps running in the daemon (%s status at2 --watch", g_bin);
  wait_text("w3.err", hint);
}

/* A grid study shows its size, progress and ETA; status NAME shows each
 * running trial's step, last value and elapsed time; --watch redraws in
 * place on a terminal and appends plain blocks otherwise. */
static void test_grid_progress_and_watch(void **state) {
  (void)state;
  write_file("grid.json",
             "{\"name\": \"g\", \"sampler\": \"grid\",\n"
             " \"space\": {\"x\": {\"type\": \"int\", \"low\": 0, \"high\": 2},\n"
             "           \"c\": {\"type\": \"categorical\", \"choices\": [\"a\", \"b\"]}}}\n");
  run_t *r = cli("submit '%s/grid.json'", g_dir);
  assert_int_equal(r->code, 0);
  assert_int_equal(cli("ask g")->code, 0);
  assert_int_equal(cli("ask g")->code, 0);
  assert_int_equal(cli("report g 1 3 0.25")->code, 0);
  assert_int_equal(cli("tell g 0 1.5")->code, 0);
  r = cli("status g --json");
  assert_int_equal(r->code, 0);
  cJSON *s = cJSON_Parse(r->out);
  assert_non_null(s);
  cJSON *grid = cJSON_GetObjectItem(s, "grid");
  assert_int_equal(cJSON_GetObjectItem(grid, "total")->valueint, 6);
  assert_int_equal(cJSON_GetObjectItem(grid, "done")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(grid, "running")->valueint, 1);
  cJSON *running = cJSON_GetObjectItem(s, "running_trials");
  assert_int_equal(cJSON_GetArraySize(running), 1);
  cJSON *t = cJSON_GetArrayItem(running, 0);
  assert_int_equal(cJSON_GetObjectItem(t, "trial")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(t, "step")->valueint, 3);
  assert_true(cJSON_GetObjectItem(t, "value")->valuedouble == 0.25);
  assert_true(cJSON_GetObjectItem(t, "elapsed")->valuedouble >= 0);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(t, "worker")));
  cJSON_Delete(s);
  /* The database alone says the same (the summary is built from it). */
  r = cli("status g --json --db '%s'", g_db);
  assert_int_equal(r->code, 0);
  s = cJSON_Parse(r->out);
  assert_non_null(s);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "grid"), "total")->valueint, 6);
  t = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "running_trials"), 0);
  assert_int_equal(cJSON_GetObjectItem(t, "step")->valueint, 3);
  cJSON_Delete(s);

  r = cli("status g");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "trials       1 of 6 finished"));
  assert_non_null(strstr(r->out, "grid         6 points: 1 done, 1 running, 4 left (17%)"));
  assert_non_null(strstr(r->out, ", ETA "));
  assert_non_null(strstr(r->out, "running trials"));
  assert_non_null(strstr(r->out, "0.25"));
  assert_non_null(strstr(r->out, "client"));
  r = cli("status");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "eta"));
  const char *row = strstr(r->out, "\ng ");
  assert_non_null(row);
  assert_non_null(strstr(row, "1/6"));

  /* --watch without a terminal: plain blocks, no escape sequences. */
  char cmd[2000], out[65536];
  snprintf(cmd, sizeof cmd,
           "HPSEARCH_SOCKET='%s' timeout -s INT 3 '%s' status g --watch >'%s/watch.txt' 2>/dev/null",
           g_sock, g_bin, g_dir);
  if (system(cmd)) {}
  char p[400];
  snprintf(p, sizeof p, "%s/watch.txt", g_dir);
  slurp(p, out, sizeof out);
  assert_non_null(strstr(out, "running trials"));
  assert_null(strchr(out, '\x1b'));
  /* On a terminal (script(1) gives it one): redrawn in place. */
  if (system("command -v script >/dev/null") == 0) {
    snprintf(cmd, sizeof cmd,
             "HPSEARCH_SOCKET='%s' timeout -s INT 3 script -qec \"'%s' status g --watch\" "
             "/dev/null >'%s/watch-tty.txt' 2>&1 </dev/null",
             g_sock, g_bin, g_dir);
    if (system(cmd)) {}
    snprintf(p, sizeof p, "%s/watch-tty.txt", g_dir);
    slurp(p, out, sizeof out);
    assert_non_null(strstr(out, "running trials"));
    assert_non_null(strstr(out, "\x1b[H"));
    assert_non_null(strstr(out, "\x1b[K"));
  }
  assert_int_equal(cli("delete g --force")->code, 0);
}

/* ---- help, version, options: the command table against the code --------- */

/* The checks of the command table, the Makefile and `make install` run
 * hundreds of processes: they run in the plain build only (they test
 * parsing and files, which the sanitizer build would only slow down). */
static void skip_in_sanitizer_build(void) {
  if (strstr(HP_BUILD_DIR, "asan") != NULL) skip();
}

/* Source folder (scripts/run-tests exports HP_SRC_DIR). */
static const char *src_dir(void) {
  const char *d = getenv("HP_SRC_DIR");
  return d != NULL ? d : ".";
}

/* Exit code of g_bin with argv (stdout and stderr discarded); an alarm ends
 * it after 20 s so a command that unexpectedly starts to serve cannot hang
 * the test. */
static int run_argv(char *const *argv) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    alarm(20);
    execv(g_bin, argv);
    _exit(127);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) fail_msg("%s %s did not end", argv[1], argv[2]);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define MAX_OPTS 32

/* The options `help CMD` lists: each flag word ("-q", "--quiet") and whether
 * it takes a value. */
typedef struct help_opts {
  int n;
  char name[MAX_OPTS][40];
  bool has_arg[MAX_OPTS];
} help_opts_t;

static void parse_help(const char *text, help_opts_t *h) {
  h->n = 0;
  const char *p = strstr(text, "\noptions:\n");
  assert_non_null(p);
  for (p = strchr(p + 1, '\n') + 1; *p; p = strchr(p, '\n') + 1) {
    if (strncmp(p, "  -", 3) == 0) {
      /* "  -q, --quiet   text" or "  --db FILE   text": words up to a double space. */
      const char *q = p + 2;
      int first = h->n;
      while (*q && *q != '\n' && !(q[0] == ' ' && q[1] == ' ')) {
        size_t len = strcspn(q, " ,\n");
        if (q[0] == '-') {
          assert_true(h->n < MAX_OPTS && len < 40);
          snprintf(h->name[h->n], sizeof h->name[0], "%.*s", (int)len, q);
          h->has_arg[h->n++] = false;
        } else {
          for (int k = first; k < h->n; k++) h->has_arg[k] = true;
        }
        q += len;
        while (*q == ',' || (*q == ' ' && q[1] != ' ')) q++;
      }
    }
    if (strchr(p, '\n') == NULL) break;
  }
}

static bool has_opt(const help_opts_t *h, const char *name, bool *has_arg) {
  for (int i = 0; i < h->n; i++)
    if (strcmp(h->name[i], name) == 0) {
      if (has_arg) *has_arg = h->has_arg[i];
      return true;
    }
  return false;
}

/* A value for option `name` that passes its own check. */
static const char *sample_value(const char *name) {
  static char db[400], sock[400];
  snprintf(db, sizeof db, "%s/no/such/dir/x.db", g_dir);
  snprintf(sock, sizeof sock, "%s/none.sock", g_dir);
  if (strcmp(name, "--db") == 0) return db;
  if (strcmp(name, "--socket") == 0) return sock;
  if (strcmp(name, "--jobs") == 0) return "1";
  if (strcmp(name, "--state") == 0) return "fail";
  if (strcmp(name, "--set") == 0) return "epochs=1";
  if (strcmp(name, "--optuna-schema") == 0) return "3.2";
  if (strcmp(name, "--executor") == 0) return "{\"type\": \"local\"}";
  if (strcmp(name, "--every") == 0) return "10";
  if (strcmp(name, "--evaluator") == 0) return "fanova";
  if (strcmp(name, "--listen") == 0) return "127.0.0.1:0";
  if (strcmp(name, "--constraints") == 0) return "0.5,-1";
  return "x";
}

/* Every option a command's parser accepts is in its help, and every option
 * its help lists is accepted: each option string found in the sources is
 * tried on every user command, with arguments that make the command fail
 * after parsing (no daemon on the socket, no such file), so exit code 2
 * (usage) means "not accepted". */
static void test_help_lists_every_option(void **state) {
  (void)state;
  skip_in_sanitizer_build();
  char cmd[1200], cands[64][40];
  int n_cands = 0;
  snprintf(cmd, sizeof cmd,
           "grep -rhoE --include='*.c' --exclude-dir=tests --exclude-dir=bench --exclude-dir=build "
           "'\"--?[a-z][a-z-]*' '%s' | sort -u",
           src_dir());
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  char line[128];
  while (n_cands < 64 && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    /* "-inf" is a VALUE's spelling (tell takes several values), not an option */
    if (strcmp(line + 1, "-inf") == 0) continue;
    snprintf(cands[n_cands++], sizeof cands[0], "%s", line + 1); /* drop the quote */
  }
  pclose(f);
  assert_true(n_cands >= 15); /* the scan found the parsers */

  char none_json[400], no_db[400], sock[400];
  snprintf(none_json, sizeof none_json, "%s/none.json", g_dir);
  snprintf(no_db, sizeof no_db, "%s/no/such/dir/x.db", g_dir);
  snprintf(sock, sizeof sock, "%s/none.sock", g_dir);
  /* Arguments that pass parsing and then fail without touching anything.
   * A command with two forms (report: STUDY TRIAL STEP VALUE, or STUDY -o
   * FILE.html) has the other form in alt: an option its help lists must be
   * taken by one of them, one it does not list refused by both. */
  struct {
    const char *cmd;
    const char *args[6];
    const char *alt[6];
  } cases[] = {
      {"train", {none_json}, {NULL}},
      {"daemon", {"--db", no_db, "--socket", sock}, {NULL}},
      {"submit", {none_json, "--socket", sock}, {NULL}},
      {"status", {"s", "--socket", sock}, {NULL}},
      {"trials", {"s", "--socket", sock}, {NULL}},
      {"best", {"s", "--socket", sock}, {NULL}},
      {"importance", {"s", "--socket", sock}, {NULL}},
      {"advise", {"s", "--socket", sock}, {NULL}},
      {"stop", {"s", "--socket", sock}, {NULL}},
      {"resume", {"s", "--socket", sock}, {NULL}},
      {"delete", {"s", "--socket", sock}, {NULL}},
      {"ask", {"s", "--socket", sock}, {NULL}},
      {"report", {"s", "0", "0", "1", "--socket", sock}, {"s", "-o", none_json, "--db", no_db}},
      {"dashboard", {"--db", no_db}, {NULL}},
      {"tell", {"s", "0", "1", "--socket", sock}, {NULL}},
      {"shutdown", {"--socket", sock}, {NULL}},
      {"rpc", {"study.list", "--socket", sock}, {NULL}},
      {"db", {"info", no_db}, {NULL}},
      {"heartbeat", {"s", "0", "--socket", sock}, {NULL}},
  };
  /* The user's command list: every command above, nothing internal. */
  run_t *r = cli("help");
  assert_int_equal(r->code, 0);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char row[64];
    snprintf(row, sizeof row, "\n  %s ", cases[c].cmd);
    assert_non_null(strstr(r->out, row));
  }
  /* Per candidate: 0 = a flag in some help, 1 = takes a value there, -1 = in
   * no help. */
  enum { N_CASES = sizeof cases / sizeof cases[0] };
  static help_opts_t helps[N_CASES];
  int cand_arity[64];
  for (int k = 0; k < n_cands; k++) cand_arity[k] = -1;
  for (size_t c = 0; c < N_CASES; c++) {
    r = cli("help %s", cases[c].cmd);
    assert_int_equal(r->code, 0);
    char help[8192];
    snprintf(help, sizeof help, "%s", r->out);
    assert_string_equal(cli("%s --help", cases[c].cmd)->out, help); /* one text */
    parse_help(help, &helps[c]);
    for (int k = 0; k < n_cands; k++) {
      bool arg;
      if (has_opt(&helps[c], cands[k], &arg)) cand_arity[k] = arg ? 1 : 0;
    }
  }
  for (size_t c = 0; c < N_CASES; c++) {
    const help_opts_t *hp = &helps[c];
    assert_true(has_opt(hp, "--help", NULL) && has_opt(hp, "-h", NULL));
    for (int k = 0; k < n_cands; k++) {
      bool arg = false;
      bool documented = has_opt(hp, cands[k], &arg);
      bool taken = false;
      for (int form = 0; form < 2; form++) {
        const char *const *base = form == 0 ? cases[c].args : cases[c].alt;
        if (form == 1 && base[0] == NULL) break;
        char *argv[16];
        int n = 0;
        argv[n++] = (char *)g_bin;
        argv[n++] = (char *)cases[c].cmd;
        for (int a = 0; a < 6 && base[a]; a++) argv[n++] = (char *)base[a];
        argv[n++] = cands[k];
        if (!documented) {
          /* Tried as it is used elsewhere: with a value where another
           * command's help gives it one, both ways when no help lists it. */
          int known = cand_arity[k];
          if (known <= 0) {
            argv[n] = NULL;
            if (run_argv(argv) != 2)
              fail_msg("'%s' accepts %s, which its help does not list", cases[c].cmd, cands[k]);
          }
          if (known != 0) {
            argv[n++] = (char *)sample_value(cands[k]);
            argv[n] = NULL;
            if (run_argv(argv) != 2)
              fail_msg("'%s' accepts %s VALUE, which its help does not list", cases[c].cmd,
                       cands[k]);
          }
          continue;
        }
        if (arg) argv[n++] = (char *)sample_value(cands[k]);
        argv[n] = NULL;
        if (run_argv(argv) != 2) taken = true;
      }
      if (documented && !taken)
        fail_msg("'%s' refuses %s, which its help lists", cases[c].cmd, cands[k]);
    }
  }
}

/* Text of a file, NUL-terminated (caller frees). */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *t = malloc((size_t)n + 1);
  size_t got = fread(t, 1, (size_t)n, f);
  t[got] = '\0';
  fclose(f);
  return t;
}

/* docs/cli.md and the man page describe every option the help lists, in
 * the command's own section. */
static void test_docs_list_every_option(void **state) {
  (void)state;
  static const char *const cmds[] = {"train", "daemon", "submit", "status", "trials", "best",
                                     "importance", "advise", "stop", "resume", "delete", "ask", "report", "tell",
                                     "shutdown", "rpc", "db", "heartbeat", "dashboard"};
  char path[600];
  snprintf(path, sizeof path, "%s/docs/cli.md", src_dir());
  char *md = read_text(path);
  snprintf(path, sizeof path, "%s/docs/hpsearch.1", src_dir());
  char *man = read_text(path);
  assert_non_null(md);
  assert_non_null(man);
  /* man(7) source writes '-' as "\-": compare without the backslashes. */
  char *w = man;
  for (const char *p = man; *p; p++)
    if (*p != '\\') *w++ = *p;
  *w = '\0';
  for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
    help_opts_t h;
    parse_help(cli("help %s", cmds[c])->out, &h);
    /* docs/cli.md: the "## " section whose heading names the command. */
    char *sec = NULL, *end = NULL;
    /* Headings are "## cmd" or "## cmd, cmd, ...: what". */
    for (char *p = strstr(md, "\n## "); p != NULL && sec == NULL; p = strstr(p + 1, "\n## ")) {
      char heading[200];
      snprintf(heading, sizeof heading, "%.*s", (int)strcspn(p + 4, ":\n"), p + 4);
      for (char *tok = strtok(heading, ","); tok != NULL; tok = strtok(NULL, ","))
        if (strcmp(tok + strspn(tok, " "), cmds[c]) == 0) {
          sec = p;
          end = strstr(p + 1, "\n## ");
        }
    }
    if (sec == NULL) fail_msg("docs/cli.md has no section for %s", cmds[c]);
    char saved = end ? *end : '\0';
    if (end) *end = '\0';
    char mark[64];
    snprintf(mark, sizeof mark, ".SS \"hpsearch %s ", cmds[c]);
    char *msec = strstr(man, mark);
    if (msec == NULL) fail_msg("the man page has no section for %s", cmds[c]);
    char *mend = strstr(msec + 1, ".SS ");
    char msaved = mend ? *mend : '\0';
    if (mend) *mend = '\0';
    for (int i = 0; i < h.n; i++) {
      if (strcmp(h.name[i], "--help") == 0 || strcmp(h.name[i], "-h") == 0) continue;
      if (strstr(sec, h.name[i]) == NULL)
        fail_msg("docs/cli.md does not describe %s %s", cmds[c], h.name[i]);
      if (strstr(msec, h.name[i]) == NULL)
        fail_msg("the man page does not describe %s %s", cmds[c], h.name[i]);
    }
    if (end) *end = saved;
    if (mend) *mend = msaved;
  }
  free(md);
  free(man);
}

static void test_version_and_internal_commands(void **state) {
  (void)state;
  run_t *r = cli("--version");
  assert_int_equal(r->code, 0);
  char version[64];
  assert_int_equal(sscanf(r->out, "hpsearch %63s", version), 1);
  assert_string_equal(cli("version")->out, r->out);
  /* The daemon reports the same version, and so does the man page. */
  r = cli("rpc daemon.status");
  assert_int_equal(r->code, 0);
  cJSON *reply = cJSON_Parse(r->out);
  assert_non_null(reply);
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(reply, "result"), "version")->valuestring, version);
  cJSON_Delete(reply);
  char path[600], th[200];
  snprintf(path, sizeof path, "%s/docs/hpsearch.1", src_dir());
  char *man = read_text(path);
  assert_non_null(man);
  snprintf(th, sizeof th, "\"hpsearch %s\"", version);
  assert_non_null(strstr(man, th));
  free(man);
  /* worker, supervise and job are for the daemon: not listed, still runnable. */
  r = cli("help");
  assert_null(strstr(r->out, "\n  worker "));
  assert_null(strstr(r->out, "supervise"));
  assert_null(strstr(r->out, "\n  job "));
  assert_int_equal(cli("job --help")->code, 0);
  r = cli("job -- true"); /* outside a job the daemon submitted: no address, no token */
  assert_int_equal(r->code, 2);
  assert_non_null(strstr(r->err, "HPSEARCH_JOB_ADDR"));
  r = cli("worker --help");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "--config-json"));
  assert_int_equal(cli("supervise --help")->code, 0);
  assert_int_equal(cli("supervise -- true")->code, 0);
  assert_int_equal(cli("help nosuch")->code, 2);
  assert_int_equal(cli("nosuch")->code, 2);
}

/* `hpsearch rpc`: one request line, the reply line as it came. */
static void test_rpc_command(void **state) {
  (void)state;
  run_t *r = cli("rpc study.list");
  assert_int_equal(r->code, 0);
  cJSON *reply = cJSON_Parse(r->out);
  assert_non_null(reply);
  assert_true(cJSON_IsArray(cJSON_GetObjectItem(cJSON_GetObjectItem(reply, "result"), "studies")));
  assert_int_equal(cJSON_GetObjectItem(reply, "id")->valueint, 1);
  cJSON_Delete(reply);
  /* A whole request is sent unchanged: its id comes back. */
  r = cli("rpc '{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"daemon.status\"}'");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "\"id\":42"));
  assert_int_equal(count_lines(r->out), 1);
  /* Malformed JSON: the daemon's parse error, exit 1. */
  r = cli("rpc '{\"jsonrpc\":\"2.0\",\"id\":'");
  assert_int_equal(r->code, 1);
  reply = cJSON_Parse(r->out);
  assert_non_null(reply);
  assert_int_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(reply, "error"), "code")->valueint, -32700);
  cJSON_Delete(reply);
  /* Unknown method and unknown study: error replies with their exit codes. */
  r = cli("rpc no.such.method");
  assert_int_equal(r->code, 1);
  assert_non_null(strstr(r->out, "-32601"));
  r = cli("rpc study.get '{\"study\": \"nosuch\"}'");
  assert_int_equal(r->code, 4);
  assert_non_null(strstr(r->out, "\"error\""));
  /* PARAMS_JSON that does not parse never reaches the daemon. */
  r = cli("rpc study.get '{\"study\": '");
  assert_int_equal(r->code, 2);
  assert_non_null(strstr(r->err, "PARAMS_JSON"));
  assert_int_equal(cli("rpc")->code, 2);
}

/* `make install` into a temporary DESTDIR/PREFIX; the installed binary runs
 * and names itself in its hints; `make uninstall` removes what was put. */
static void test_make_install(void **state) {
  (void)state;
  skip_in_sanitizer_build();
  if (system("command -v make >/dev/null") != 0) skip();
  char bdir[400], cmd[3000], bin[600], man[600];
  snprintf(bdir, sizeof bdir, "%s", g_bin);
  *strrchr(bdir, '/') = '\0';
  /* -o: the binary under test is what gets installed, never rebuilt. */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s B='%s' -o '%s' install "
           "DESTDIR='%s/dest' PREFIX=/opt/hp >'%s/make.log' 2>&1",
           src_dir(), bdir, g_bin, g_dir, g_dir);
  assert_int_equal(system(cmd), 0);
  snprintf(bin, sizeof bin, "%s/dest/opt/hp/bin/hpsearch", g_dir);
  snprintf(man, sizeof man, "%s/dest/opt/hp/share/man/man1/hpsearch.1", g_dir);
  struct stat st;
  assert_int_equal(stat(bin, &st), 0);
  assert_true(st.st_mode & S_IXUSR);
  assert_int_equal(stat(man, &st), 0);
  if (system("command -v man >/dev/null") == 0) {
    snprintf(cmd, sizeof cmd, "man -l '%s' 2>&1 | grep -q 'hpsearch - hyperparameter search'", man);
    assert_int_equal(system(cmd), 0);
  }
  /* Run through PATH as `hpsearch`: the hint says `hpsearch daemon`. */
  char errp[400], err[2048];
  snprintf(errp, sizeof errp, "%s/inst-err.txt", g_dir);
  snprintf(cmd, sizeof cmd,
           "PATH='%s/dest/opt/hp/bin':/usr/bin:/bin HPSEARCH_SOCKET='%s/none.sock' "
           "hpsearch status 2>'%s'",
           g_dir, g_dir, errp);
  int code = system(cmd);
  assert_int_equal(WEXITSTATUS(code), 3);
  slurp(errp, err, sizeof err);
  assert_non_null(strstr(err, "start one with: hpsearch daemon &"));
  snprintf(cmd, sizeof cmd, "'%s' --version | grep -q '^hpsearch '", bin);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s B='%s' uninstall "
           "DESTDIR='%s/dest' PREFIX=/opt/hp >>'%s/make.log' 2>&1",
           src_dir(), bdir, g_dir, g_dir);
  assert_int_equal(system(cmd), 0);
  assert_int_not_equal(stat(bin, &st), 0);
  assert_int_not_equal(stat(man, &st), 0);
}

/* Without the dependencies (a pkg-config that finds nothing, first in PATH;
 * nothing is uninstalled), reading the Makefile asks pkg-config nothing
 * (`make -n demo`, `make clean`), and a build stops with one message that
 * points at scripts/install-deps. */
static void test_make_without_deps(void **state) {
  (void)state;
  skip_in_sanitizer_build();
  if (system("command -v make >/dev/null") != 0) skip();
  char cmd[3000];
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s/fakebin' && printf '#!/bin/sh\\necho \"$*\" >>\"%s/pkg-config.log\"\\n"
           "echo \"Package $2 was not found in the pkg-config search path\" >&2\\nexit 1\\n' "
           ">'%s/fakebin/pkg-config' && chmod +x '%s/fakebin/pkg-config'",
           g_dir, g_dir, g_dir, g_dir);
  assert_int_equal(system(cmd), 0);
  const char *env = "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS";
  char out[400], out_text[8192], log[400];
  snprintf(out, sizeof out, "%s/nodeps.txt", g_dir);
  snprintf(log, sizeof log, "%s/pkg-config.log", g_dir);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && PATH='%s/fakebin':\"$PATH\" %s make -n demo >'%s' 2>&1 && "
           "PATH='%s/fakebin':\"$PATH\" %s make B='%s/nodeps' clean >>'%s' 2>&1",
           src_dir(), g_dir, env, out, g_dir, env, g_dir, out);
  assert_int_equal(system(cmd), 0);
  slurp(out, out_text, sizeof out_text);
  assert_non_null(strstr(out_text, "scripts/demo"));
  assert_null(strstr(out_text, "not found"));
  struct stat st;
  assert_int_not_equal(stat(log, &st), 0); /* pkg-config never ran */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && PATH='%s/fakebin':\"$PATH\" %s make B='%s/nodeps' '%s/nodeps/hpsearch' "
           ">'%s' 2>&1",
           src_dir(), g_dir, env, g_dir, g_dir, out);
  int code = system(cmd);
  assert_int_equal(WEXITSTATUS(code), 2);
  slurp(out, out_text, sizeof out_text);
  assert_non_null(strstr(out_text, "missing build dependencies"));
  assert_non_null(strstr(out_text, "libuv"));
  assert_non_null(strstr(out_text, "scripts/install-deps"));
  assert_null(strstr(out_text, "was not found"));
  assert_true(count_lines(out_text) <= 2);
}

/* `daemon --optuna-schema`: 3.1 creates a file Optuna 3.1 reads; a file
 * of the other schema is refused, never upgraded; a bad value is a usage
 * error. `db upgrade` refuses while the daemon owns the file, then works. */
static void test_daemon_optuna_schema(void **state) {
  (void)state;
  char db[400], sock[400];
  snprintf(db, sizeof db, "%s/v31.db", g_dir);
  snprintf(sock, sizeof sock, "%s/v31run/d.sock", g_dir);
  run_t *r = cli("daemon --db '%s' --socket '%s' --optuna-schema 4", db, sock);
  assert_int_equal(r->code, 2);
  assert_non_null(strstr(r->err, "--optuna-schema: expected 3.1 or 3.2, got '4'"));
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "'%s' daemon --db '%s' --socket '%s' --jobs 1 --optuna-schema 3.1 "
           "2>'%s/v31daemon.log' </dev/null &", g_bin, db, sock, g_dir);
  assert_int_equal(system(cmd), 0);
  for (int i = 0; i < 300 && !can_connect(sock); i++) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* `db upgrade` leaves a file a daemon owns alone (exit 8, naming it). */
  r = cli("db upgrade '%s'", db);
  assert_int_equal(r->code, 8);
  assert_non_null(strstr(r->err, "in use by another hpsearch daemon"));
  assert_non_null(strstr(r->err, sock));
  assert_int_equal(cli("shutdown --socket '%s'", sock)->code, 0);
  r = cli("db info '%s'", db);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "alembic revision v3.0.0.d"));
  r = cli("daemon --db '%s' --socket '%s' --optuna-schema 3.2", db, sock);
  assert_int_equal(r->code, 1);
  assert_non_null(strstr(r->err, "already exists at alembic revision v3.0.0.d"));
  assert_non_null(strstr(r->err, "hpsearch db upgrade"));
  assert_non_null(strstr(cli("db info '%s'", db)->out, "v3.0.0.d"));
  /* With the daemon gone, it upgrades; a second time there is nothing to do. */
  r = cli("db upgrade '%s'", db);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "upgraded from alembic revision v3.0.0.d to v3.2.0.a"));
  assert_non_null(strstr(cli("db upgrade '%s'", db)->out, "nothing to do"));
  assert_non_null(strstr(cli("db info '%s'", db)->out, "v3.2.0.a"));
  assert_int_equal(cli("db upgrade '%s/none.db'", g_dir)->code, 4);
}

/* A study Optuna 5 created (the vendored copy; skipped, saying so, where it
 * is absent) is continued by a real daemon through `submit
 * --load-if-exists` and ask/report/tell, read by Optuna 5 again, which
 * continues it with its TPE, and read back with --db. Runs at UTC+05:30 so
 * that a datetime in the wrong convention (Optuna 5 stores UTC) shows. */
static void test_daemon_continues_optuna5(void **state) {
  (void)state;
  char o5[1024], probe[1100], db[400], sock[400], cmd[4096], json[400];
  const char *env = getenv("HP_OPTUNA5"), *src = getenv("HP_SRC_DIR");
  if (src == NULL || *src == '\0') src = ".";
  if (env && *env)
    snprintf(o5, sizeof o5, "%s", env);
  else
    snprintf(o5, sizeof o5, "%s/../shared/vendor/optuna-5.0.0.dev", src);
  snprintf(probe, sizeof probe, "%s/optuna/__init__.py", o5);
  if (access(probe, R_OK) != 0) {
    print_message("SKIP: the vendored Optuna 5 is not at %s (set HP_OPTUNA5 to the folder that "
                  "holds its optuna/ package)\n", o5);
    skip();
  }
  setenv("TZ", "HPT-5:30", 1);
  snprintf(db, sizeof db, "%s/optuna5.db", g_dir);
  snprintf(sock, sizeof sock, "%s/o5run/d.sock", g_dir);
  snprintf(json, sizeof json, "%s/o5.json", g_dir);
#define INTEROP(ARGS)                                                                            \
  snprintf(cmd, sizeof cmd,                                                                      \
           "PYTHONPATH='%s' /usr/bin/python3 '%s/tests/store/optuna_interop.py' " ARGS " >'%s'", \
           o5, src, db, json)
  INTEROP("seed '%s' o5");
  assert_int_equal(system(cmd), 0);
  pid_t pid = spawn_daemon(db, sock, "o5daemon.log", "1");
  assert_true(pid > 0);
  for (int i = 0; i < 300 && !can_connect(sock); i++) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  write_file("o5-spec.json", "{\"name\": \"o5\", \"direction\": \"minimize\", \"space\": "
                             "{\"x\": {\"type\": \"float\", \"low\": -5, \"high\": 5}}}");
  run_t *r = cli("submit '%s/o5-spec.json' --load-if-exists --socket '%s'", g_dir, sock);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "following existing study o5"));
  double told[3];
  for (int i = 0; i < 3; i++) {
    r = cli("ask o5 --socket '%s'", sock);
    assert_int_equal(r->code, 0);
    cJSON *a = cJSON_Parse(r->out);
    assert_non_null(a);
    int n = cJSON_GetObjectItem(a, "trial")->valueint;
    assert_int_equal(n, 4 + i); /* after Optuna's 0..3 */
    const cJSON *prm = cJSON_GetObjectItem(a, "params");
    double x = cJSON_GetObjectItem(prm, "x")->valuedouble;
    assert_true(x >= -5 && x <= 5);
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(prm, "opt")));
    cJSON_Delete(a);
    told[i] = 0.5 + 0.1 * i;
    assert_int_equal(cli("report o5 %d 0 %.17g --socket '%s'", n, told[i], sock)->code, 0);
    assert_int_equal(cli("tell o5 %d %.17g --socket '%s'", n, told[i], sock)->code, 0);
  }
  assert_int_equal(cli("shutdown --socket '%s'", sock)->code, 0);
  assert_int_equal(waitpid(pid, NULL, 0), pid);
  r = cli("db info '%s'", db);
  assert_non_null(strstr(r->out, "v3.2.0.a"));

  /* Optuna 5 reads what the daemon added, then its TPE continues. */
  INTEROP("check '%s' o5 --continue 2");
  assert_int_equal(system(cmd), 0);
  char text[65536];
  slurp(json, text, sizeof text);
  cJSON *out = cJSON_Parse(text);
  assert_non_null(out);
  assert_int_equal(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(out, "version")), "5.", 2), 0);
  const cJSON *trials = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "study"), "trials");
  assert_int_equal(cJSON_GetArraySize(trials), 7);
  for (int i = 0; i < 3; i++) {
    const cJSON *t = cJSON_GetArrayItem(trials, 4 + i);
    assert_int_equal(cJSON_GetObjectItem(t, "number")->valueint, 4 + i);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "state")), "COMPLETE");
    assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "values"), 0)->valuedouble == told[i]);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "intermediate"), "0")->valuedouble ==
                told[i]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "params")), 3);
  }
  const cJSON *cont = cJSON_GetObjectItem(out, "continued");
  assert_int_equal(cJSON_GetArrayItem(cont, 0)->valueint, 7);
  assert_int_equal(cJSON_GetArrayItem(cont, 1)->valueint, 8);
  const cJSON *after = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "after"), "trials");

  /* hpsearch reads all nine back, with the times Optuna 5 shows. */
  r = cli("trials o5 --json --db '%s'", db);
  assert_int_equal(r->code, 0);
  cJSON *mine = cJSON_Parse(r->out);
  assert_non_null(mine);
  const cJSON *list = cJSON_GetObjectItem(mine, "trials");
  assert_int_equal(cJSON_GetArraySize(list), 9);
  for (int i = 0; i < 9; i++) {
    const cJSON *t = cJSON_GetArrayItem(list, i), *ot = cJSON_GetArrayItem(after, i);
    assert_non_null(cJSON_GetObjectItem(t, "trial"));
    assert_int_equal(cJSON_GetObjectItem(t, "trial")->valueint, i);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "state")), "COMPLETE");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "datetime_start")),
                        cJSON_GetStringValue(cJSON_GetObjectItem(ot, "start")));
    double mv = cJSON_GetObjectItem(t, "value")->valuedouble,
           ov = cJSON_GetArrayItem(cJSON_GetObjectItem(ot, "values"), 0)->valuedouble;
    /* The store keeps every bit (tests/store); `trials --json` prints
     * 15 significant digits today. */
    if (fabs(mv - ov) > 1e-13 * fabs(ov))
      fail_msg("trial %d: hpsearch reads %.17g, Optuna 5 %.17g", i, mv, ov);
  }
  cJSON_Delete(mine);
  cJSON_Delete(out);
  unsetenv("TZ");
#undef INTEROP
}

/* ---- several objectives and constraints ------------------------------------ */

/* A command study with two directions and a constraint runs end to end:
 * {"values": [...]} lines, the spec's constraint on a final-line member,
 * study_directions / trial_values rows per objective, the Pareto front of
 * feasible trials with its hypervolume in best/status (daemon and --db
 * alike); validation errors name the field; ask/tell takes several values
 * and constraints. */
static void test_several_objectives(void **state) {
  (void)state;
  /* validation */
  static const struct { const char *spec, *field; } bad[] = {
      {"{\"name\": \"b1\", \"directions\": [\"minimize\", \"maximize\"], \"pruner\": \"median\","
       " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", "spec.pruner"},
      {"{\"name\": \"b2\", \"directions\": [\"minimize\", \"maximize\"], \"metrics\": [\"a\"],"
       " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", "spec.metrics"},
      {"{\"name\": \"b3\", \"direction\": \"minimize\", \"directions\": [\"minimize\"],"
       " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", "spec.directions"},
      {"{\"name\": \"b4\", \"directions\": [\"minimize\", \"up\"],"
       " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", "spec.directions[1]"},
      {"{\"name\": \"b5\", \"directions\": [\"minimize\", \"maximize\"],"
       " \"reference_point\": [1], \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}",
       "spec.reference_point"},
      {"{\"name\": \"b6\", \"constraints\": [{\"metric\": \"m\"}],"
       " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", "spec.constraints[0]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file("bad-mo.json", bad[i].spec);
    run_t *r = cli("submit '%s/bad-mo.json'", g_dir);
    assert_int_not_equal(r->code, 0);
    if (strstr(r->err, bad[i].field) == NULL) fail_msg("%s: %s", bad[i].field, r->err);
  }

  /* A command study: values (x, y (1 - x)), minimize x, maximize the other;
   * x > 0.7 infeasible by the spec's constraint on the member "x". */
  write_file("mo.json",
             "{\"name\": \"mo\", \"directions\": [\"minimize\", \"maximize\"],"
             " \"metrics\": [\"x\", \"gain\"], \"n_trials\": 16, \"parallelism\": 2,"
             " \"sampler\": {\"type\": \"tpe\", \"seed\": 3, \"n_startup_trials\": 6},"
             " \"constraints\": [{\"metric\": \"x\", \"max\": 0.7}],"
             " \"reference_point\": [1, 0],"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1},"
             "           \"y\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"objective\": {\"command\": [\"awk\", \"-v\", \"x=${x}\", \"-v\", \"y=${y}\","
             " \"BEGIN { printf \\\"{\\\\\\\"values\\\\\\\": [%.17g, %.17g], \\\\\\\"x\\\\\\\": %.17g}\\\\n\\\", "
             "x, y * (1 - x), x }\"]}}");
  run_t *r = cli("submit '%s/mo.json' --wait", g_dir);
  if (r->code != 0) fail_msg("submit: %s %s", r->out, r->err);
  assert_non_null(strstr(r->out, "Pareto front of mo"));
  r = cli("best mo --json");
  assert_int_equal(r->code, 0);
  cJSON *b = cJSON_Parse(r->out);
  assert_non_null(b);
  const cJSON *front = cJSON_GetObjectItem(b, "pareto_front"), *e;
  assert_true(cJSON_GetArraySize(front) >= 1);
  double pts[64][2];
  int nf = 0;
  cJSON_ArrayForEach(e, front) {
    const cJSON *v = cJSON_GetObjectItem(e, "values");
    const cJSON *prm = cJSON_GetObjectItem(e, "params");
    double x = cJSON_GetObjectItem(prm, "x")->valuedouble, y = cJSON_GetObjectItem(prm, "y")->valuedouble;
    assert_true(x <= 0.7); /* feasible only */
    assert_true(cJSON_GetArrayItem(v, 0)->valuedouble == x);
    assert_true(fabs(cJSON_GetArrayItem(v, 1)->valuedouble - y * (1 - x)) < 1e-12);
    pts[nf][0] = x, pts[nf][1] = y * (1 - x);
    nf++;
  }
  /* hypervolume up to the given (1, 0): minimize x, maximize gain; by hand */
  double hv = 0;
  for (int i = 0; i < nf; i++) { /* sort by x */
    for (int j = i + 1; j < nf; j++)
      if (pts[j][0] < pts[i][0]) {
        double t0 = pts[i][0], t1 = pts[i][1];
        pts[i][0] = pts[j][0], pts[i][1] = pts[j][1], pts[j][0] = t0, pts[j][1] = t1;
      }
  }
  for (int i = 0; i < nf; i++) hv += ((i + 1 < nf ? pts[i + 1][0] : 1) - pts[i][0]) * pts[i][1];
  const cJSON *h = cJSON_GetObjectItem(b, "hypervolume");
  assert_true(fabs(cJSON_GetObjectItem(h, "value")->valuedouble - hv) < 1e-12);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(h, "given")));
  cJSON_Delete(b);
  /* every trial has two values; a trial with x > 0.7 carries its violation */
  r = cli("trials mo --json");
  cJSON *tl = cJSON_Parse(r->out);
  assert_non_null(tl);
  int n = 0;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(tl, "trials")) {
    assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, "COMPLETE");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(e, "values")), 2);
    double x = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "params"), "x")->valuedouble;
    const cJSON *c = cJSON_GetObjectItem(e, "constraints");
    assert_int_equal(cJSON_GetArraySize(c), 1);
    assert_true(fabs(cJSON_GetArrayItem(c, 0)->valuedouble - (x - 0.7)) < 1e-12);
    n++;
  }
  assert_int_equal(n, 16);
  cJSON_Delete(tl);
  /* the --db reader prints the same front */
  r = cli("best mo --json");
  char daemon_out[8192];
  snprintf(daemon_out, sizeof daemon_out, "%s", r->out);
  r = cli("best mo --json --db '%s'", g_db);
  assert_string_equal(r->out, daemon_out);
  r = cli("status mo");
  assert_non_null(strstr(r->out, "directions   minimize x, maximize gain"));
  assert_non_null(strstr(r->out, "Pareto front of mo"));

  /* ask/tell with two objectives */
  write_file("mo2.json", "{\"name\": \"mo2\", \"directions\": [\"maximize\", \"minimize\"],"
                         " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}");
  assert_int_equal(cli("submit '%s/mo2.json'", g_dir)->code, 0);
  for (int i = 0; i < 3; i++) assert_int_equal(cli("ask mo2")->code, 0);
  r = cli("tell mo2 0 0.5");
  assert_int_not_equal(r->code, 0);
  assert_non_null(strstr(r->err, "params.values"));
  assert_int_equal(cli("tell mo2 0 0.5 0.25 --constraints -1,0")->code, 0);
  assert_int_equal(cli("tell mo2 1 0.75 0.5 --constraints 0.5")->code, 0); /* infeasible */
  assert_int_equal(cli("tell mo2 2 0.25 0.125")->code, 0);
  r = cli("best mo2 --json");
  b = cJSON_Parse(r->out);
  assert_non_null(b);
  front = cJSON_GetObjectItem(b, "pareto_front");
  /* trial 1 dominates trial 0 but is infeasible: the front is {0, 2} */
  assert_int_equal(cJSON_GetArraySize(front), 2);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(front, 0), "trial")->valueint, 0);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(front, 1), "trial")->valueint, 2);
  cJSON_Delete(b);

  /* one objective with constraints: best is the best feasible trial (the
   * store's best, trial 0, is infeasible), daemon and --db alike */
  write_file("con1.json", "{\"name\": \"con1\", \"direction\": \"minimize\","
                          " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}");
  assert_int_equal(cli("submit '%s/con1.json'", g_dir)->code, 0);
  for (int i = 0; i < 3; i++) assert_int_equal(cli("ask con1")->code, 0);
  assert_int_equal(cli("tell con1 0 0.1 --constraints 0.5,-1")->code, 0);
  assert_int_equal(cli("tell con1 1 0.3 --constraints 0,-2")->code, 0);
  assert_int_equal(cli("tell con1 2 0.2 --constraints -1,1e-9")->code, 0);
  r = cli("best con1 --json");
  assert_int_equal(r->code, 0);
  b = cJSON_Parse(r->out);
  assert_int_equal(cJSON_GetObjectItem(b, "trial")->valueint, 1);
  cJSON_Delete(b);
  snprintf(daemon_out, sizeof daemon_out, "%s", cli("status con1 --json")->out);
  b = cJSON_Parse(daemon_out);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "best"), "trial")->valueint, 1);
  cJSON_Delete(b);
  r = cli("best con1 --json --db '%s'", g_db);
  b = cJSON_Parse(r->out);
  assert_int_equal(cJSON_GetObjectItem(b, "trial")->valueint, 1);
  cJSON_Delete(b);
  /* a constraint must be finite: Optuna keeps them as a JSON list it reads back */
  assert_int_equal(cli("ask con1")->code, 0);
  r = cli("tell con1 3 0.2 --constraints -inf");
  assert_int_not_equal(r->code, 0);
  if (strstr(r->err, "params.constraints[0]: infinity") == NULL) fail_msg("%s", r->err);

  /* final lines a command prints: both "value" and "values", or an infinite
   * constraint, make the trial FAIL naming why */
  static const struct { const char *line, *reason; } lines[] = {
      {"{\\\"value\\\": 1, \\\"values\\\": [1]}", "give either \"value\" or \"values\""},
      {"{\\\"value\\\": 1, \\\"constraints\\\": [\\\"inf\\\"]}",
       "\"constraints\"[0] is not a finite number"},
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    char spec[600];
    snprintf(spec, sizeof spec, "{\"name\": \"line%zu\", \"n_trials\": 1,"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"objective\": {\"command\": [\"sh\", \"-c\", \"echo '%s'\"]}}", i, lines[i].line);
    write_file("line.json", spec);
    r = cli("submit '%s/line.json' --wait", g_dir);
    assert_int_not_equal(r->code, 0);
    r = cli("trials line%zu --json", i);
    cJSON *tl2 = cJSON_Parse(r->out);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(tl2, "trials"), 0);
    assert_non_null(t);
    assert_string_equal(cJSON_GetObjectItem(t, "state")->valuestring, "FAIL");
    if (strstr(cJSON_GetObjectItem(t, "reason")->valuestring, lines[i].reason) == NULL)
      fail_msg("line %zu: %s", i, cJSON_GetObjectItem(t, "reason")->valuestring);
    cJSON_Delete(tl2);
  }
}

/* Runs tests/daemon/helpers/optuna_multi.py with the given PYTHONPATH
 * ("" for Debian's Optuna 3.1); its JSON output parsed. */
static cJSON *optuna_multi(const char *pypath, const char *args) {
  char cmd[4096], out[400];
  snprintf(out, sizeof out, "%s/om.json", g_dir);
  snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' /usr/bin/python3 '%s/tests/daemon/helpers/optuna_multi.py' %s >'%s'",
           pypath, src_dir(), args, out);
  int rc = system(cmd);
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) fail_msg("optuna_multi.py %s: status %d", args, rc);
  static char text[1 << 20];
  slurp(out, text, sizeof text);
  cJSON *o = cJSON_Parse(text);
  assert_non_null(o);
  return o;
}

/* Both ways with Optuna 3.1 and Optuna 5 (the vendored copy; skipped,
 * saying so, where absent): Optuna's NSGA-II writes a study with two
 * directions and a constraint; a daemon continues it with ask/tell (values
 * and constraints); Optuna reads every value and constraint back (Optuna 5:
 * its best_trials equal hpsearch's front) and continues it; hpsearch reads
 * Optuna's new trials. */
static void test_several_objectives_optuna(void **state) {
  (void)state;
  char o5[1024], probe[1100];
  const char *env = getenv("HP_OPTUNA5");
  if (env && *env) snprintf(o5, sizeof o5, "%s", env);
  else snprintf(o5, sizeof o5, "%s/../shared/vendor/optuna-5.0.0.dev", src_dir());
  snprintf(probe, sizeof probe, "%s/optuna/__init__.py", o5);
  bool have5 = access(probe, R_OK) == 0;
  if (!have5)
    print_message("SKIP (Optuna 5 half): the vendored Optuna 5 is not at %s (set HP_OPTUNA5)\n", o5);
  for (int v = 0; v < (have5 ? 2 : 1); v++) {
    const char *pypath = v ? o5 : "";
    char db[400], sock[400], args[600], log[40];
    snprintf(db, sizeof db, "%s/omo%d.db", g_dir, v);
    snprintf(sock, sizeof sock, "%s/omo%d/d.sock", g_dir, v);
    snprintf(log, sizeof log, "omo%d.log", v);
    snprintf(args, sizeof args, "write '%s' omo", db);
    cJSON_Delete(optuna_multi(pypath, args));
    pid_t pid = spawn_daemon(db, sock, log, "1");
    assert_true(pid > 0);
    for (int i = 0; i < 300 && !can_connect(sock); i++) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    /* the daemon adopts Optuna's study (two directions) and continues it */
    for (int i = 0; i < 2; i++) {
      run_t *r = cli("ask omo --socket '%s'", sock);
      assert_int_equal(r->code, 0);
      cJSON *a = cJSON_Parse(r->out);
      assert_int_equal(cJSON_GetObjectItem(a, "trial")->valueint, 6 + i);
      double x = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "params"), "x")->valuedouble;
      double y = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "params"), "y")->valuedouble;
      cJSON_Delete(a);
      r = cli("tell omo %d %.17g %.17g --constraints %.17g --socket '%s'", 6 + i, x, y * (1 - x),
              x - 0.7, sock);
      assert_int_equal(r->code, 0);
    }
    assert_int_equal(cli("shutdown --socket '%s'", sock)->code, 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    run_t *r = cli("best omo --json --db '%s'", db);
    assert_int_equal(r->code, 0);
    cJSON *mine = cJSON_Parse(r->out);
    assert_non_null(mine);
    /* Optuna reads all eight, then its NSGA-II adds two */
    snprintf(args, sizeof args, "check '%s' omo 2", db);
    cJSON *o = optuna_multi(pypath, args);
    const char *ver = cJSON_GetObjectItem(o, "version")->valuestring;
    assert_int_equal(strncmp(ver, v ? "5." : "3.1", v ? 2 : 3), 0);
    const cJSON *trials = cJSON_GetObjectItem(o, "trials");
    assert_int_equal(cJSON_GetArraySize(trials), 8);
    for (int i = 6; i < 8; i++) {
      const cJSON *t = cJSON_GetArrayItem(trials, i);
      assert_string_equal(cJSON_GetObjectItem(t, "state")->valuestring, "COMPLETE");
      const cJSON *prm = cJSON_GetObjectItem(t, "params");
      double x = cJSON_GetObjectItem(prm, "x")->valuedouble, y = cJSON_GetObjectItem(prm, "y")->valuedouble;
      const cJSON *vals = cJSON_GetObjectItem(t, "values");
      assert_true(cJSON_GetArrayItem(vals, 0)->valuedouble == x);
      assert_true(cJSON_GetArrayItem(vals, 1)->valuedouble == y * (1 - x));
      assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "constraints"), 0)->valuedouble ==
                  x - 0.7);
    }
    if (v == 1) { /* Optuna 5's best_trials: the feasible front, as hpsearch's */
      const cJSON *bt = cJSON_GetObjectItem(o, "best_trials"), *e;
      const cJSON *front = cJSON_GetObjectItem(mine, "pareto_front");
      assert_int_equal(cJSON_GetArraySize(bt), cJSON_GetArraySize(front));
      int i = 0;
      cJSON_ArrayForEach(e, bt)
        assert_int_equal(e->valueint,
                         cJSON_GetObjectItem(cJSON_GetArrayItem(front, i++), "trial")->valueint);
    }
    /* hpsearch reads Optuna's two new trials with their constraints */
    r = cli("trials omo --json --db '%s'", db);
    cJSON *tl = cJSON_Parse(r->out);
    assert_non_null(tl);
    const cJSON *list = cJSON_GetObjectItem(tl, "trials");
    assert_int_equal(cJSON_GetArraySize(list), 10);
    const cJSON *after = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "after"), "trials");
    for (int i = 8; i < 10; i++) {
      const cJSON *t = cJSON_GetArrayItem(list, i), *ot = cJSON_GetArrayItem(after, i);
      for (int k = 0; k < 2; k++)
        assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "values"), k)->valuedouble ==
                    cJSON_GetArrayItem(cJSON_GetObjectItem(ot, "values"), k)->valuedouble);
      assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "constraints"), 0)->valuedouble ==
                  cJSON_GetArrayItem(cJSON_GetObjectItem(ot, "constraints"), 0)->valuedouble);
    }
    cJSON_Delete(tl);
    cJSON_Delete(o);
    cJSON_Delete(mine);
  }
}

/* The daemon and a --db reader of the same file print IDENTICAL JSON (one
 * builder, view/): every kind of parameter, user attributes, intermediate
 * values, COMPLETE/PRUNED/FAIL trials, infinite values, reasons. */
static char g_daemon_out[65536];

static void same_output(const char *args) {
  run_t *r = cli("%s", args);
  if (r->code != 0) fprintf(stderr, "%s: %s\n", args, r->err);
  assert_int_equal(r->code, 0);
  snprintf(g_daemon_out, sizeof g_daemon_out, "%s", r->out);
  r = cli("%s --db '%s'", args, g_db);
  if (r->code != 0) fprintf(stderr, "%s --db: %s\n", args, r->err);
  assert_int_equal(r->code, 0);
  if (strcmp(g_daemon_out, r->out) != 0)
    fail_msg("`%s` differs:\ndaemon: %s\n--db:   %s", args, g_daemon_out, r->out);
  assert_true(strlen(r->out) > 10);
}

static void test_db_same_as_daemon(void **state) {
  (void)state;
  /* Trials whose int `k` is 0 fail (exit 3); the others report two steps
   * and end with user attributes. */
  write_file("kinds.json",
             "{\"name\": \"kinds\", \"direction\": \"maximize\", \"n_trials\": 6,\n"
             " \"parallelism\": 2, \"sampler\": {\"type\": \"random\", \"seed\": 11},\n"
             " \"space\": {\"f\": {\"type\": \"float\", \"low\": -1, \"high\": 1},\n"
             "   \"lg\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true},\n"
             "   \"fs\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.125},\n"
             "   \"k\": {\"type\": \"int\", \"low\": 0, \"high\": 2},\n"
             "   \"is\": {\"type\": \"int\", \"low\": 0, \"high\": 100, \"step\": 10},\n"
             "   \"il\": {\"type\": \"int\", \"low\": 1, \"high\": 1024, \"log\": true},\n"
             "   \"c\": {\"type\": \"categorical\", \"choices\": [\"adam\", 1.5, true, null]}},\n"
             " \"objective\": {\"command\": [\"sh\", \"-c\",\n"
             "   \"[ $1 = 0 ] && exit 3; echo '{\\\"step\\\": 0, \\\"value\\\": '$0'}';"
             " echo '{\\\"step\\\": 1, \\\"value\\\": 0.1}';"
             " echo '{\\\"value\\\": '$0', \\\"acc\\\": 0.125, \\\"note\\\": \\\"k='$1'\\\"}'\",\n"
             "   \"$f\", \"$k\"]}}\n");
  run_t *r = cli("submit '%s/kinds.json' --wait", g_dir);
  if (r->code != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
  assert_int_equal(r->code, 0);
  /* An ask/tell study: an infinite value, a pruned trial with a reason. */
  write_file("told.json",
             "{\"name\": \"told\", \"direction\": \"minimize\", \"n_trials\": 3,\n"
             " \"sampler\": {\"type\": \"random\", \"seed\": 5},\n"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 4}}}\n");
  assert_int_equal(cli("submit '%s/told.json'", g_dir)->code, 0);
  for (int i = 0; i < 3; i++) assert_int_equal(cli("ask told")->code, 0);
  assert_int_equal(cli("report told 0 0 1.5")->code, 0);
  assert_int_equal(cli("report told 0 1 -inf")->code, 0);
  assert_int_equal(cli("tell told 0 inf")->code, 0);
  assert_int_equal(cli("tell told 1 0.1")->code, 0);
  cli("report told 2 0 2.5");
  assert_int_equal(cli("tell told 2 --state pruned --reason 'from the shell'")->code, 0);

  /* What the test asserts must be there to compare. */
  r = cli("trials kinds --json --intermediate");
  cJSON *tj = cJSON_Parse(r->out);
  assert_non_null(tj);
  int n_fail = 0, n_attrs = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(tj, "trials")) {
    const char *st = cJSON_GetObjectItem(t, "state")->valuestring;
    n_fail += strcmp(st, "FAIL") == 0;
    n_attrs += cJSON_GetObjectItem(cJSON_GetObjectItem(t, "user_attrs"), "note") != NULL;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "params")), 7);
  }
  cJSON_Delete(tj);
  assert_true(n_fail > 0 && n_attrs > 0);

  /* A running study's elapsed time moves between two reads: all are
   * finished here, so the whole list can be compared. */
  r = cli("status --json");
  cJSON *all = cJSON_Parse(r->out);
  const cJSON *one;
  cJSON_ArrayForEach(one, cJSON_GetObjectItem(all, "studies"))
    assert_string_equal(cJSON_GetObjectItem(one, "state")->valuestring, "finished");
  assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(all, "studies")) >= 2);
  cJSON_Delete(all);

  same_output("trials kinds --json");
  same_output("trials kinds --json --intermediate");
  same_output("trials told --json --intermediate");
  assert_non_null(strstr(g_daemon_out, "\"value\":\"inf\""));
  assert_non_null(strstr(g_daemon_out, "\"intermediate\":[[0,1.5],[1,\"-inf\"]]"));
  assert_non_null(strstr(g_daemon_out, "\"reason\":\"from the shell\""));
  same_output("trials kinds --csv");
  same_output("status --json");
  same_output("status kinds --json");
  same_output("status told --json");
  same_output("best kinds --json");
  same_output("best told --json");
  same_output("importance kinds --json");
  same_output("importance kinds --json --evaluator fanova");
  same_output("importance kinds");
  same_output("status kinds");
}

/* The parameter names a trial of the conditional interop space must have
 * (tests/daemon/helpers/optuna_conditional.py has the same rule). */
static void check_active(const cJSON *params, const char *who) {
  const char *opt = cJSON_GetStringValue(cJSON_GetObjectItem(params, "opt"));
  const cJSON *nest = cJSON_GetObjectItem(params, "nesterov");
  bool mom = opt && strcmp(opt, "momentum") == 0, adam = opt && strcmp(opt, "adam") == 0;
  bool want[6] = {true, true, mom, mom, mom && cJSON_IsFalse(nest), adam};
  const char *names[6] = {"opt", "lr", "momentum", "nesterov", "dampening", "beta1"};
  int n = 0;
  for (int i = 0; i < 6; i++) {
    bool has = cJSON_GetObjectItem(params, names[i]) != NULL;
    if (has != want[i]) {
      char *t = cJSON_PrintUnformatted(params);
      fail_msg("%s: %s %s: %s", who, has ? "has inactive" : "lacks active", names[i], t);
    }
    n += has;
  }
  assert_int_equal(cJSON_GetArraySize(params), n);
}

/* Runs tests/daemon/helpers/optuna_conditional.py (PYTHONPATH o5 when not
 * NULL) and returns its JSON document. */
static cJSON *optuna_cond(const char *o5, const char *args) {
  char cmd[4096], json[400], text[262144];
  const char *src = getenv("HP_SRC_DIR");
  snprintf(json, sizeof json, "%s/cond.json", g_dir);
  snprintf(cmd, sizeof cmd, "%s%s%s/usr/bin/python3 '%s/tests/daemon/helpers/optuna_conditional.py' %s >'%s'",
           o5 ? "PYTHONPATH='" : "", o5 ? o5 : "", o5 ? "' " : "", src && *src ? src : ".", args,
           json);
  int st = system(cmd);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 3) fail_msg("python3-optuna is missing: run scripts/install-deps");
  assert_int_equal(st, 0);
  slurp(json, text, sizeof text);
  cJSON *out = cJSON_Parse(text);
  assert_non_null(out);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "bad")), 0);
  return out;
}

/* Conditional parameters both ways (docs/search.md): a daemon's study
 * stores only each trial's active parameters, so Optuna 3.1 and 5 load it
 * as a define-by-run study of theirs and continue it with their TPE
 * (multivariate, group); a define-by-run study Optuna wrote is continued
 * by a daemon that reads its conditions off the trials. */
static void test_conditional_interop(void **state) {
  (void)state;
  char db[400], sock[400], o5[1024], probe[1100], args[1200];
  const char *env = getenv("HP_OPTUNA5"), *src = getenv("HP_SRC_DIR");
  snprintf(o5, sizeof o5, "%s", env && *env ? env : "");
  if (!*o5) snprintf(o5, sizeof o5, "%s/../shared/vendor/optuna-5.0.0.dev", src && *src ? src : ".");
  snprintf(probe, sizeof probe, "%s/optuna/__init__.py", o5);
  bool have5 = access(probe, R_OK) == 0;
  snprintf(db, sizeof db, "%s/cond.db", g_dir);
  snprintf(sock, sizeof sock, "%s/condrun/d.sock", g_dir);
  write_file("cond-spec.json",
             "{\"name\": \"cond\", \"sampler\": {\"type\": \"tpe\", \"seed\": 1, \"multivariate\": true,"
             " \"n_startup_trials\": 5},"
             " \"space\": {\"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"momentum\", \"adam\"]},"
             " \"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true},"
             " \"momentum\": {\"type\": \"float\", \"low\": 0.5, \"high\": 0.99, \"when\": {\"opt\": \"momentum\"}},"
             " \"nesterov\": {\"type\": \"categorical\", \"choices\": [false, true], \"when\": {\"opt\": \"momentum\"}},"
             " \"dampening\": {\"type\": \"float\", \"low\": 0, \"high\": 0.5, \"when\": {\"nesterov\": false}},"
             " \"beta1\": {\"type\": \"float\", \"low\": 0.8, \"high\": 0.99, \"when\": {\"opt\": \"adam\"}}}}");
  pid_t pid = spawn_daemon31(db, sock, "cond-daemon.log");
  assert_true(pid > 0);
  for (int i = 0; i < 300 && !can_connect(sock); i++) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(cli("submit '%s/cond-spec.json' --socket '%s'", g_dir, sock)->code, 0);
  bool branch[3] = {false, false, false};
  for (int i = 0; i < 14; i++) {
    run_t *r = cli("ask cond --socket '%s'", sock);
    assert_int_equal(r->code, 0);
    cJSON *a = cJSON_Parse(r->out);
    assert_non_null(a);
    const cJSON *prm = cJSON_GetObjectItem(a, "params");
    check_active(prm, "hpsearch ask");
    const char *opt = cJSON_GetStringValue(cJSON_GetObjectItem(prm, "opt"));
    branch[opt[0] == 's' ? 0 : opt[0] == 'm' ? 1 : 2] = true;
    double lr = cJSON_GetObjectItem(prm, "lr")->valuedouble;
    int n = cJSON_GetObjectItem(a, "trial")->valueint;
    assert_int_equal(cli("tell cond %d %.17g --socket '%s'", n, fabs(log10(lr) + 2.5), sock)->code, 0);
    cJSON_Delete(a);
  }
  assert_true(branch[0] && branch[1] && branch[2]);
  assert_int_equal(cli("shutdown --socket '%s'", sock)->code, 0);
  assert_int_equal(waitpid(pid, NULL, 0), pid);

  /* Optuna 3.1 loads it (every trial exactly its active parameters) and
   * continues it define-by-run with its TPE (multivariate, group). */
  snprintf(args, sizeof args, "check '%s' cond 4", db);
  cJSON *out = optuna_cond(NULL, args);
  assert_int_equal(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(out, "version")), "3.1", 3), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "bad_before")), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "after")), 18);
  cJSON_Delete(out);
  /* and Optuna 5, after `db upgrade` */
  if (have5) {
    assert_int_equal(cli("db upgrade '%s'", db)->code, 0);
    out = optuna_cond(o5, args);
    assert_int_equal(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(out, "version")), "5.", 2), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "bad_before")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "after")), 22);
    cJSON_Delete(out);
  } else {
    print_message("SKIP (part): the vendored Optuna 5 is not at %s\n", o5);
  }
  /* hpsearch reads the trials Optuna added */
  run_t *r = cli("trials cond --json --db '%s'", db);
  assert_int_equal(r->code, 0);
  cJSON *mine = cJSON_Parse(r->out);
  const cJSON *list = cJSON_GetObjectItem(mine, "trials"), *t;
  assert_int_equal(cJSON_GetArraySize(list), have5 ? 22 : 18);
  cJSON_ArrayForEach(t, list) check_active(cJSON_GetObjectItem(t, "params"), "trials --db");
  cJSON_Delete(mine);

  /* The other way: Optuna writes a define-by-run study; a daemon adopts it
   * with the conditions its trials show and asks only active parameters. */
  snprintf(db, sizeof db, "%s/cond-optuna.db", g_dir);
  snprintf(args, sizeof args, "write '%s' oc 12", db);
  cJSON_Delete(optuna_cond(NULL, args));
  pid = spawn_daemon31(db, sock, "cond-daemon2.log");
  assert_true(pid > 0);
  for (int i = 0; i < 300 && !can_connect(sock); i++) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  r = cli("rpc --socket '%s' '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"study.get\",\"params\":{\"study\":\"oc\"}}'", sock);
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "\"dampening\":{\"type\":\"float\",\"low\":0,\"high\":0.5,\"when\":{\"nesterov\":[false]}}"));
  for (int i = 0; i < 6; i++) {
    r = cli("ask oc --socket '%s'", sock);
    assert_int_equal(r->code, 0);
    cJSON *a = cJSON_Parse(r->out);
    check_active(cJSON_GetObjectItem(a, "params"), "adopted ask");
    assert_int_equal(cli("tell oc %d 1 --socket '%s'", cJSON_GetObjectItem(a, "trial")->valueint, sock)->code, 0);
    cJSON_Delete(a);
  }
  assert_int_equal(cli("shutdown --socket '%s'", sock)->code, 0);
  assert_int_equal(waitpid(pid, NULL, 0), pid);
  snprintf(args, sizeof args, "check '%s' oc 1", db);
  out = optuna_cond(NULL, args);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "bad_before")), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "after")), 19);
  cJSON_Delete(out);
}

/* ---- an engine study: learning curves and importance ------------------- */

/* An engine study without conditional parameters, run by the daemon: every
 * trial stores its per-epoch curves (shown by best, in trial objects, read
 * by Optuna 5), and its importance is the same from the daemon and from
 * --db, and ranks the parameters as the vendored Optuna 5 does. */
static void test_engine_curves_importance(void **state) {
  (void)state;
  write_file("eng.json",
             "{\"name\": \"eng\", \"direction\": \"maximize\", \"metric\": \"val_accuracy\",\n"
             " \"n_trials\": 30, \"parallelism\": 2, \"sampler\": {\"type\": \"random\", \"seed\": 5},\n"
             " \"space\": {\"lr\": {\"type\": \"float\", \"low\": 1e-3, \"high\": 1, \"log\": true},\n"
             "   \"width\": {\"type\": \"int\", \"low\": 4, \"high\": 64, \"log\": true},\n"
             "   \"batch_size\": {\"type\": \"categorical\", \"choices\": [32, 128, 512]},\n"
             "   \"weight_decay\": {\"type\": \"float\", \"low\": 1e-6, \"high\": 1e-3, \"log\": true}},\n"
             " \"objective\": {\"engine\": {\"seed\": 1, \"epochs\": 2, \"batch_size\": \"$batch_size\",\n"
             "   \"optimizer\": {\"type\": \"sgd\", \"lr\": \"$lr\", \"weight_decay\": \"$weight_decay\"},\n"
             "   \"layers\": [{\"type\": \"dense\", \"units\": \"$width\", \"activation\": \"relu\"},\n"
             "              {\"type\": \"dense\", \"units\": 10}],\n"
             "   \"data\": {\"dir\": \"/usr/share/datasets/fashion-mnist\", \"limit\": 2000,\n"
             "            \"validation\": {\"mode\": \"last\", \"size\": 500}}}}}\n");
  run_t *r = cli("submit '%s/eng.json' --wait", g_dir);
  if (r->code != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
  assert_int_equal(r->code, 0);
  /* The best trial shows its curves. */
  assert_non_null(strstr(r->out, "validation loss"));
  assert_non_null(strstr(r->out, "train accuracy"));
  /* Every complete trial has two epochs of each curve, the validation
   * accuracy curve being the intermediate values (the metric). */
  r = cli("trials eng --json --intermediate");
  cJSON *tj = cJSON_Parse(r->out);
  assert_non_null(tj);
  int complete = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(tj, "trials")) {
    if (strcmp(cJSON_GetObjectItem(t, "state")->valuestring, "COMPLETE") != 0) continue;
    complete++;
    const cJSON *c = cJSON_GetObjectItem(t, "curves");
    assert_non_null(c);
    static const char *const keys[] = {"step", "train_loss", "train_accuracy", "val_loss",
                                       "val_accuracy"};
    for (int k = 0; k < 5; k++) assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, keys[k])), 2);
    const cJSON *iv = cJSON_GetObjectItem(t, "intermediate");
    for (int e = 0; e < 2; e++)
      assert_true(cJSON_GetArrayItem(cJSON_GetArrayItem(iv, e), 1)->valuedouble ==
                  cJSON_GetArrayItem(cJSON_GetObjectItem(c, "val_accuracy"), e)->valuedouble);
  }
  cJSON_Delete(tj);
  assert_true(complete >= 25);
  same_output("importance eng --json");
  same_output("importance eng --json --evaluator fanova");
  same_output("best eng --json");
  same_output("advise eng --json");
  r = cli("advise eng");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "advice for study eng (30 trials, "));
  r = cli("rpc study.importance '{\"study\": \"eng\", \"evaluator\": \"anova\"}'");
  assert_int_equal(r->code, 1);
  assert_non_null(strstr(r->out, "params.evaluator"));
  r = cli("importance eng --evaluator anova");
  assert_int_equal(r->code, 2);

  if (strstr(HP_BUILD_DIR, "asan") != NULL) {
    print_message("SKIP: the comparison with Optuna 5 runs in the plain build only\n");
    return;
  }
  const char *o5 = optuna5_dir();
  if (o5 == NULL) return;
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "PYTHONPATH='%s' /usr/bin/python3 '%s/tests/view/optuna_importance.py' '%s' eng "
           ">'%s/o5imp.json' && PYTHONPATH='%s' /usr/bin/python3 -c \"import optuna; "
           "s = optuna.load_study(study_name='eng', storage='sqlite:///%s'); "
           "c = [t.system_attrs['hpsearch:curves'] for t in s.trials if t.state.name == 'COMPLETE']; "
           "assert c and all(len(x['val_loss']) == 2 for x in c), c\"",
           o5, src_dir(), g_db, g_dir, o5, g_db);
  if (system(cmd) != 0) fail_msg("%s failed", cmd);
  char path[400];
  snprintf(path, sizeof path, "%s/o5imp.json", g_dir);
  char *text = read_text(path);
  cJSON *o = cJSON_Parse(text);
  free(text);
  assert_non_null(o);
  for (int ev = 0; ev < 2; ev++) {
    const char *evn = ev ? "fanova" : "ped-anova";
    const cJSON *theirs = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "studies"), "eng"), evn);
    r = cli("importance eng --json --evaluator %s", evn);
    cJSON *mine = cJSON_Parse(r->out);
    assert_non_null(mine);
    double a[16], b[16], maxdiff = 0;
    int k = 0;
    const cJSON *e, *m;
    cJSON_ArrayForEach(e, theirs) {
      a[k] = e->valuedouble, b[k] = NAN;
      cJSON_ArrayForEach(m, cJSON_GetObjectItem(mine, "importances"))
        if (strcmp(cJSON_GetObjectItem(m, "param")->valuestring, e->string) == 0)
          b[k] = cJSON_GetObjectItem(m, "importance")->valuedouble;
      assert_false(isnan(b[k]));
      if (fabs(a[k] - b[k]) > maxdiff) maxdiff = fabs(a[k] - b[k]);
      print_message("eng %s %s: Optuna %.4f, hpsearch %.4f\n", evn, e->string, a[k], b[k]);
      k++;
    }
    assert_int_equal(k, 4);
    double rho = spearman(a, b, k);
    print_message("eng %s: Spearman %.3f, largest difference %.4f\n", evn, rho, maxdiff);
    assert_true(rho >= 0.9);
    if (!ev) assert_true(maxdiff < 1e-6);
    cJSON_Delete(mine);
  }
  cJSON_Delete(o);
}

/* A command objective that prints training metrics in its step lines gets
 * curves too: a non-finite metric is null, a step given twice keeps its
 * last values, a step line without metrics adds nothing. */
static void test_command_curves(void **state) {
  (void)state;
  write_file("cc.json",
             "{\"name\": \"cc\", \"direction\": \"minimize\", \"n_trials\": 1,\n"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},\n"
             " \"objective\": {\"command\": [\"sh\", \"-c\",\n"
             "   \"echo '{\\\"step\\\": 1, \\\"value\\\": 0.9, \\\"train_loss\\\": 0.8, \\\"val_loss\\\": \\\"nan\\\"}';"
             " echo '{\\\"step\\\": 2, \\\"value\\\": 0.7, \\\"train_loss\\\": 0.6}';"
             " echo '{\\\"step\\\": 2, \\\"value\\\": 0.6, \\\"train_loss\\\": 0.5, \\\"val_accuracy\\\": 0.75}';"
             " echo '{\\\"step\\\": 3, \\\"value\\\": 0.5}';"
             " echo '{\\\"value\\\": 0.5}'\"]}}\n");
  run_t *r = cli("submit '%s/cc.json' --wait", g_dir);
  if (r->code != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
  assert_int_equal(r->code, 0);
  r = cli("trials cc --json --intermediate");
  assert_int_equal(r->code, 0);
  assert_non_null(strstr(r->out, "\"curves\":{\"step\":[1,2],\"train_loss\":[0.8,0.5],"
                                 "\"train_accuracy\":[null,null],\"val_loss\":[null,null],"
                                 "\"val_accuracy\":[null,0.75]}"));
  same_output("trials cc --json --intermediate");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_daemon),
      cmocka_unit_test(test_env_socket_folder_kept),
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_db_from_store),
      cmocka_unit_test(test_db_from_optuna),
      cmocka_unit_test(test_ask_report_tell),
      cmocka_unit_test(test_exact_values),
      cmocka_unit_test(test_submit_wait_command),
      /* before a test that leaves a study running (its elapsed time moves) */
      cmocka_unit_test(test_db_same_as_daemon),
      cmocka_unit_test(test_engine_curves_importance),
      cmocka_unit_test(test_command_curves),
      cmocka_unit_test(test_wait_asktell_and_interrupt),
      cmocka_unit_test(test_daemon_optuna_schema),
      cmocka_unit_test(test_daemon_continues_optuna5),
      cmocka_unit_test(test_conditional_interop),
      cmocka_unit_test(test_several_objectives),
      cmocka_unit_test(test_several_objectives_optuna),
      cmocka_unit_test(test_grid_progress_and_watch),
      cmocka_unit_test(test_help_lists_every_option),
      cmocka_unit_test(test_docs_list_every_option),
      cmocka_unit_test(test_version_and_internal_commands),
      cmocka_unit_test(test_rpc_command),
      cmocka_unit_test(test_make_install),
      cmocka_unit_test(test_make_without_deps),
  };
  return cmocka_run_group_tests(tests, start_daemon, stop_daemon);
}

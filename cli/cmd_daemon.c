/* `hpsearch daemon [--db FILE] [--socket PATH] [--jobs N] [--optuna-schema
 * 3.1|3.2] [--executor JSON] [--worker-addr HOST[:PORT]]`: parses the command line and runs the daemon (hp_daemon_run,
 * daemon/server.c) in the foreground. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "hpsearch/daemon.h"

int hp_cmd_daemon(int argc, char **argv) {
  hp_daemon_opts_t o = {.db_path = "hpsearch.db", .socket_path = NULL, .jobs = 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return hp_cli_help(argv[0]);
    if (strcmp(a, "--db") == 0 || strcmp(a, "--socket") == 0 || strcmp(a, "--jobs") == 0 ||
        strcmp(a, "--optuna-schema") == 0 || strcmp(a, "--worker-addr") == 0 ||
        strcmp(a, "--executor") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "hpsearch daemon: %s needs a value\n", a);
        return HP_EXIT_USAGE;
      }
      val = argv[++i];
    } else if (strncmp(a, "--db=", 5) == 0 || strncmp(a, "--socket=", 9) == 0 ||
               strncmp(a, "--jobs=", 7) == 0 || strncmp(a, "--optuna-schema=", 16) == 0 ||
               strncmp(a, "--worker-addr=", 14) == 0 || strncmp(a, "--executor=", 11) == 0) {
      val = strchr(a, '=') + 1;
    } else {
      char what[300];
      snprintf(what, sizeof what, "unknown argument '%.200s'", a);
      return hp_cli_usage(argv[0], what);
    }
    if (strncmp(a, "--db", 4) == 0) o.db_path = val;
    else if (strncmp(a, "--socket", 8) == 0) o.socket_path = val;
    else if (strncmp(a, "--worker-addr", 13) == 0) o.worker_addr = val;
    else if (strncmp(a, "--executor", 10) == 0) o.executor = val;
    else if (strncmp(a, "--optuna-schema", 15) == 0) {
      if (strcmp(val, "3.1") != 0 && strcmp(val, "3.2") != 0) {
        fprintf(stderr, "hpsearch daemon: --optuna-schema: expected 3.1 or 3.2, got '%s'\n", val);
        return HP_EXIT_USAGE;
      }
      o.optuna_schema = val;
    } else {
      char *end = NULL;
      long n = strtol(val, &end, 10);
      if (end == val || *end != '\0' || n < 1 || n > 1024) {
        fprintf(stderr, "hpsearch daemon: --jobs: expected an integer in 1..1024, got '%s'\n", val);
        return HP_EXIT_USAGE;
      }
      o.jobs = (int)n;
    }
    if (val[0] == '\0') {
      fprintf(stderr, "hpsearch daemon: %.*s: empty value\n", (int)strcspn(a, "="), a);
      return HP_EXIT_USAGE;
    }
  }
  if (o.jobs == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o.jobs = n > 0 ? (int)n : 1;
  }
  hp_err_t err = {0};
  int rc = hp_daemon_run(&o, &err);
  if (rc < 0) {
    fprintf(stderr, "hpsearch daemon: %s\n", err.msg);
    return rc == HP_EBUSY ? HP_EXIT_BUSY : HP_EXIT_FAIL;
  }
  return rc == 0 ? HP_EXIT_OK : HP_EXIT_FAIL;
}

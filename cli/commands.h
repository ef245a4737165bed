/* The hpsearch subcommands. Each is `int cmd(int argc, char **argv)` where
 * argv[0] is the subcommand name; it returns the process exit code
 * (see docs/cli.md for the documented codes). */
#ifndef HPSEARCH_CLI_COMMANDS_H
#define HPSEARCH_CLI_COMMANDS_H

#include <stdbool.h>

/* Exit codes shared by all subcommands. */
enum {
  HP_EXIT_OK = 0,
  HP_EXIT_FAIL = 1,      /* the operation failed (bad input, error reply) */
  HP_EXIT_USAGE = 2,     /* bad command line */
  HP_EXIT_NODAEMON = 3,  /* no daemon answers on the socket */
  HP_EXIT_NOTFOUND = 4,  /* unknown study or trial */
  HP_EXIT_DIVERGED = 5,  /* `train`: training diverged */
  HP_EXIT_PRUNE = 6,     /* `report`: the trial should be pruned */
  HP_EXIT_EXHAUSTED = 7, /* `ask`: the study needs no more trials */
};

typedef int (*hp_cmd_fn)(int argc, char **argv);

typedef struct hp_cmd {
  const char *name;    /* subcommand word */
  hp_cmd_fn fn;        /* handler */
  const char *args;    /* argument synopsis for usage */
  const char *summary; /* one line for `hpsearch help` */
  bool trains;         /* uses the engine: load OpenBLAS's fast kernel first */
} hp_cmd_t;

int hp_cmd_train(int argc, char **argv);
/* Client subcommands (cli/cmd_*.c; docs/cli.md). */
int hp_cmd_submit(int argc, char **argv);
int hp_cmd_status(int argc, char **argv);
int hp_cmd_trials(int argc, char **argv);
int hp_cmd_best(int argc, char **argv);
int hp_cmd_stop(int argc, char **argv);
int hp_cmd_resume(int argc, char **argv);
int hp_cmd_delete(int argc, char **argv);
int hp_cmd_shutdown(int argc, char **argv);
int hp_cmd_ask(int argc, char **argv);
int hp_cmd_report(int argc, char **argv);
int hp_cmd_tell(int argc, char **argv);
int hp_cmd_db(int argc, char **argv);
int hp_cmd_daemon(int argc, char **argv);  /* daemon/main.c */
int hp_cmd_worker(int argc, char **argv);  /* daemon/worker_main.c */
int hp_cmd_supervise(int argc, char **argv); /* daemon/worker_exec.c */

#endif

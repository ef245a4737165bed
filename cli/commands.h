/* The hpsearch subcommands. Each is `int cmd(int argc, char **argv)` where
 * argv[0] is the subcommand name; it returns the process exit code
 * (see docs/cli.md for the documented codes). */
#ifndef HPSEARCH_CLI_COMMANDS_H
#define HPSEARCH_CLI_COMMANDS_H

#include <stdbool.h>

#include "hpsearch/exit.h" /* HP_EXIT_*, shared by all subcommands */

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
int hp_cmd_heartbeat(int argc, char **argv);
/* What the daemon runs (cli/cmd_daemon.c, cmd_worker.c, cmd_supervise.c). */
int hp_cmd_daemon(int argc, char **argv);
int hp_cmd_worker(int argc, char **argv);
int hp_cmd_supervise(int argc, char **argv);

#endif

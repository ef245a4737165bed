/* The hpsearch subcommands. Each is `int cmd(int argc, char **argv)` where
 * argv[0] is the subcommand name; it returns the process exit code
 * (see docs/cli.md for the documented codes). */
#ifndef HPSEARCH_CLI_COMMANDS_H
#define HPSEARCH_CLI_COMMANDS_H

#include <stdbool.h>

#include "hpsearch/exit.h" /* HP_EXIT_*, shared by all subcommands */

typedef int (*hp_cmd_fn)(int argc, char **argv);

/* One option of a subcommand, as `hpsearch help CMD` shows it. */
typedef struct hp_cmd_opt {
  const char *flag; /* "--db", or "-q, --quiet"; NULL ends the list */
  const char *arg;  /* placeholder of its value ("FILE"), NULL for a flag */
  const char *text; /* what it does (wrapped when printed) */
} hp_cmd_opt_t;

#define HP_CMD_MAX_OPTS 8

/* A row of the command table (cli/main.c): everything the help shows about a
 * subcommand is here, and each handler parses exactly these options
 * (tests/daemon/test_cli.c tries every option on every command). */
typedef struct hp_cmd {
  const char *name;    /* subcommand word */
  hp_cmd_fn fn;        /* handler */
  const char *args;    /* positional arguments for the usage line ("STUDY"), "" if none */
  const char *summary; /* one line for `hpsearch help` */
  const char *about;   /* what `hpsearch help CMD` says before the options */
  hp_cmd_opt_t opts[HP_CMD_MAX_OPTS]; /* options besides -h/--help */
  bool trains;         /* uses the engine: load OpenBLAS's fast kernel first */
  bool internal;       /* run by the daemon itself: not listed by `hpsearch help` */
} hp_cmd_t;

/* The row of subcommand `name`, or NULL. */
const hp_cmd_t *hp_cmd_find(const char *name);

/* How the user ran this program (argv[0]: "hpsearch", "build/hpsearch", ...),
 * for messages that print a command to type. */
const char *hp_cli_prog(void);

/* True when argv holds -h or --help: the command then prints its help
 * (hp_cli_help) on stdout and exits 0. */
bool hp_cli_wants_help(int argc, char **argv);
/* Prints the usage line, description and every option of command `cmd` on
 * stdout (`hpsearch help CMD`, `hpsearch CMD --help`); returns HP_EXIT_OK. */
int hp_cli_help(const char *cmd);
/* Prints "hpsearch CMD: <what>" plus the usage line on stderr and returns
 * HP_EXIT_USAGE. */
int hp_cli_usage(const char *cmd, const char *what);

/* Where one option of a command goes: the flag as its row in the command
 * table spells it ("--db"; "--output" for "-o, --output"), and *set (a flag
 * without a value) or *value (an option with one). */
typedef struct hp_cli_arg {
  const char *flag;
  bool *set;
  const char **value;
} hp_cli_arg_t;
/* Parses argv[1..] of command argv[0] against its row of the command table:
 * which options exist, their spellings and whether they take a value come
 * from the row (one source for the help and the parser); args (ended by a
 * NULL flag) says where each goes. Up to max_pos positional arguments land
 * in pos[0..] (*n_pos counts them; pos entries not given are left as they
 * are). Returns 0, or HP_EXIT_USAGE after printing what was wrong: an
 * unknown option, a value missing, too many arguments. */
int hp_cli_parse(int argc, char **argv, const hp_cli_arg_t *args, const char **pos, int max_pos,
                 int *n_pos);

int hp_cmd_train(int argc, char **argv);
/* Client subcommands (cli/cmd_*.c; docs/cli.md). */
int hp_cmd_submit(int argc, char **argv);
int hp_cmd_status(int argc, char **argv);
int hp_cmd_trials(int argc, char **argv);
int hp_cmd_best(int argc, char **argv);
int hp_cmd_importance(int argc, char **argv);
int hp_cmd_advise(int argc, char **argv);
int hp_cmd_stop(int argc, char **argv);
int hp_cmd_dashboard(int argc, char **argv);
/* `report STUDY -o FILE.html` (cli/cmd_report.c), from hp_cmd_report. */
int hp_cmd_report_html(int argc, char **argv);
int hp_cmd_resume(int argc, char **argv);
int hp_cmd_delete(int argc, char **argv);
int hp_cmd_shutdown(int argc, char **argv);
int hp_cmd_ask(int argc, char **argv);
int hp_cmd_report(int argc, char **argv);
int hp_cmd_tell(int argc, char **argv);
int hp_cmd_db(int argc, char **argv);
int hp_cmd_heartbeat(int argc, char **argv);
int hp_cmd_rpc(int argc, char **argv);
/* What the daemon runs (cli/cmd_daemon.c, cmd_worker.c, cmd_supervise.c). */
int hp_cmd_daemon(int argc, char **argv);
int hp_cmd_worker(int argc, char **argv);
int hp_cmd_supervise(int argc, char **argv);
int hp_cmd_job(int argc, char **argv);

#endif

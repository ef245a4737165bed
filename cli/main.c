/* hpsearch: one binary, many subcommands. The table below is the whole list;
 * adding a subcommand is adding a row. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hpsearch/blas.h"

static int cmd_help(int argc, char **argv);

static const hp_cmd_t commands[] = {
    {"train", hp_cmd_train, "CONFIG.json [--set key=value ...]",
     "train one network with the embedded engine", true},
    {"daemon", hp_cmd_daemon, "[--db FILE] [--socket PATH] [--jobs N]",
     "run the search daemon (socket, database, workers) in the foreground", true},
    {"worker", hp_cmd_worker, "--config-json JSON [--metric NAME]",
     "train one engine trial for the daemon (internal)", true},
    {"supervise", hp_cmd_supervise, "[--parent PID] -- PROG [ARGS...]",
     "run one command trial and kill all it started when it ends (internal)", false},
    {"submit", hp_cmd_submit, "STUDY.json [--wait] [--load-if-exists]",
     "send a study to the daemon; --wait follows it and prints the best trial", false},
    {"status", hp_cmd_status, "[STUDY] [--json] [--watch] [--db FILE]",
     "table of studies, or one study's progress, best and recent trials", false},
    {"trials", hp_cmd_trials, "STUDY [--json|--csv] [--intermediate] [--db FILE]",
     "every trial of a study", false},
    {"best", hp_cmd_best, "STUDY [--json] [--db FILE]", "the best trial of a study", false},
    {"stop", hp_cmd_stop, "STUDY [--kill]", "start no new trials (--kill: end running ones)", false},
    {"resume", hp_cmd_resume, "STUDY", "continue a stopped study", false},
    {"delete", hp_cmd_delete, "STUDY", "delete a study and its trials", false},
    {"ask", hp_cmd_ask, "STUDY", "start a trial run by you; prints {\"trial\": N, \"params\": {...}}", false},
    {"report", hp_cmd_report, "STUDY TRIAL STEP VALUE",
     "report an intermediate value; prints prune/continue (exit 6 = prune)", false},
    {"tell", hp_cmd_tell, "STUDY TRIAL VALUE | STUDY TRIAL --state pruned|fail",
     "finish a trial started with ask", false},
    {"db", hp_cmd_db, "info FILE | upgrade FILE",
     "which Optuna reads a database; upgrade an Optuna 3.1 file for Optuna >= 3.2", false},
    {"heartbeat", hp_cmd_heartbeat, "STUDY TRIAL [--every SECONDS]",
     "tell the daemon an asked trial's client is alive (--every: until the trial ends)", false},
    {"shutdown", hp_cmd_shutdown, "[--no-wait]", "stop the daemon (waits until it is gone)", false},
    {"help", cmd_help, "", "show this list (all take --socket PATH to reach a daemon)", false},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int cmd_help(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("usage: hpsearch COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    printf("  %-10s %s\n             %s\n", commands[i].name, commands[i].args,
           commands[i].summary);
  return HP_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cmd_help(argc, argv);
    return HP_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return cmd_help(argc, argv);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      /* Commands that train (and the daemon, whose workers inherit its
       * choice) may re-execute the program here so OpenBLAS loads its fast
       * kernel; the client commands never load OpenBLAS at all. */
      if (commands[i].trains) hp_blas_ensure_fast_kernel(argv);
      return commands[i].fn(argc - 1, argv + 1);
    }
  fprintf(stderr, "hpsearch: unknown command '%s' (try 'hpsearch help')\n", argv[1]);
  return HP_EXIT_USAGE;
}

/* `hpsearch supervise [--parent PID] -- PROG [ARGS...]`: what the daemon runs
 * for a command trial; the supervisor itself is hp_supervise_run
 * (daemon/worker_exec.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hpsearch/daemon.h"

int hp_cmd_supervise(int argc, char **argv) {
  pid_t parent = 0;
  int i = 1; /* argv[0] is the command's name */
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
    return hp_cli_help(argv[0]);
  if (i + 1 < argc && strcmp(argv[i], "--parent") == 0) {
    parent = (pid_t)atoi(argv[i + 1]);
    i += 2;
  }
  if (i < argc && strcmp(argv[i], "--") == 0) i++;
  if (i >= argc) return hp_cli_usage(argv[0], "which program?");
  return hp_supervise_run(parent, argv + i);
}

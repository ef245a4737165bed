/* `hpsearch job -- PROG [ARGS...]`: what the script of a trial's Slurm job
 * runs (the daemon writes it); the relay itself is hp_job_relay_run
 * (daemon/job_relay.c). The daemon, the trial and its token come from the
 * job's environment: HPSEARCH_JOB_ADDR, HPSEARCH_TRIAL_ID,
 * HPSEARCH_JOB_TOKEN; HPSEARCH_JOB_WAIT (seconds, default 600) is how long
 * a finished worker's result waits for a daemon to take it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hpsearch/daemon.h"

int hp_cmd_job(int argc, char **argv) {
  int i = 1;
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
    return hp_cli_help(argv[0]);
  if (i < argc && strcmp(argv[i], "--") == 0) i++;
  if (i >= argc) return hp_cli_usage(argv[0], "which program?");
  const char *addr = getenv("HPSEARCH_JOB_ADDR");
  const char *token = getenv("HPSEARCH_JOB_TOKEN");
  const char *tid = getenv("HPSEARCH_TRIAL_ID");
  const char *wait = getenv("HPSEARCH_JOB_WAIT");
  char *end = NULL;
  long long trial_id = tid ? strtoll(tid, &end, 10) : 0;
  if (addr == NULL || token == NULL || tid == NULL || end == tid || *end != '\0' || trial_id <= 0) {
    fprintf(stderr, "hpsearch job: HPSEARCH_JOB_ADDR, HPSEARCH_JOB_TOKEN and HPSEARCH_TRIAL_ID "
                    "must be set (the daemon submits this job; it is not meant to be typed)\n");
    return HP_EXIT_USAGE;
  }
  double wait_s = wait ? atof(wait) : 600.0;
  if (!(wait_s >= 0)) wait_s = 600.0;
  return hp_job_relay_run(addr, token, trial_id, wait_s, argv + i);
}

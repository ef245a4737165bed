/* Exit codes of the hpsearch program, one table for every subcommand
 * (docs/cli.md). Library code never exits: only cli/ returns these. */
#ifndef HPSEARCH_EXIT_H
#define HPSEARCH_EXIT_H

enum {
  HP_EXIT_OK = 0,
  HP_EXIT_FAIL = 1,      /* the operation failed (bad input, error reply) */
  HP_EXIT_USAGE = 2,     /* bad command line */
  HP_EXIT_NODAEMON = 3,  /* no daemon answers on the socket */
  HP_EXIT_NOTFOUND = 4,  /* unknown study or trial */
  HP_EXIT_DIVERGED = 5,  /* `train`: training diverged */
  HP_EXIT_PRUNE = 6,     /* `report`: the trial should be pruned */
  HP_EXIT_EXHAUSTED = 7, /* `ask`: the study needs no more trials */
  HP_EXIT_BUSY = 8,      /* `daemon`, `db upgrade`: a daemon owns the database (or the socket) */
};

#endif

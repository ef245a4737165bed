/* `hpsearch train`: placeholder until the engine lands. */
#include <stdio.h>

#include "commands.h"

int hp_cmd_train(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "hpsearch train: not built yet\n");
  return HP_EXIT_FAIL;
}

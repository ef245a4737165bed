/* `hpsearch worker --config-json JSON [--metric NAME]`: trains one engine
 * trial for the daemon and prints one JSON line per epoch on stdout
 * ({"step": E, "value": V, ...}) and a final {"value": V, ...} line, or
 * {"error": "..."} and a non-zero exit (docs/study-spec.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/commands.h"

int hp_cmd_worker(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("{\"error\": \"engine worker not available in this build\"}\n");
  return HP_EXIT_FAIL;
}

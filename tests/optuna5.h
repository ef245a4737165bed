/* Where the tests find the vendored Optuna 5 (a copy of its Python package,
 * ../shared/vendor beside the source tree; a user's fresh clone has none).
 * Included by the test binaries that compare with it; cmocka must be
 * included first (print_message). */
#ifndef HPSEARCH_TESTS_OPTUNA5_H
#define HPSEARCH_TESTS_OPTUNA5_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $HP_OPTUNA5, else $HP_SRC_DIR/../shared/vendor/optuna-5.0.0.dev. NULL,
 * with the reason printed, where it is absent. */
static inline const char *optuna5_dir(void) {
  static char dir[1024];
  const char *env = getenv("HP_OPTUNA5"), *src = getenv("HP_SRC_DIR");
  if (env && *env)
    snprintf(dir, sizeof dir, "%s", env);
  else
    snprintf(dir, sizeof dir, "%s/../shared/vendor/optuna-5.0.0.dev", src && *src ? src : ".");
  char probe[1100];
  snprintf(probe, sizeof probe, "%s/optuna/__init__.py", dir);
  if (access(probe, R_OK) == 0) return dir;
  print_message("SKIP: the vendored Optuna 5 is not at %s (set HP_OPTUNA5 to the folder that "
                "holds its optuna/ package): the Optuna 5 checks are skipped\n",
                dir);
  return NULL;
}

#endif

/* What the tests that compare with the vendored Optuna 5 share: where they
 * find it (a copy of its Python package, ../shared/vendor beside the source
 * tree; a user's fresh clone has none) and Spearman's rank correlation for
 * comparing importances. cmocka must be included first (print_message). */
#ifndef HPSEARCH_TESTS_OPTUNA5_H
#define HPSEARCH_TESTS_OPTUNA5_H

#include <math.h>
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

/* Spearman's rank correlation of a[n] and b[n] (average ranks for ties;
 * 1 when either side is constant); n <= 64. */
static inline double spearman(const double *a, const double *b, int n) {
  double ra[64], rb[64], ma = 0, mb = 0;
  for (int i = 0; i < n; i++) {
    double la = 0, sa = 0, lb = 0, sb = 0;
    for (int j = 0; j < n; j++) {
      la += a[j] < a[i], sa += a[j] == a[i];
      lb += b[j] < b[i], sb += b[j] == b[i];
    }
    ra[i] = la + (sa + 1) / 2, rb[i] = lb + (sb + 1) / 2;
    ma += ra[i] / n, mb += rb[i] / n;
  }
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 1;
}

#endif

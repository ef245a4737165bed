/* Checks shared by the IDX and CSV harnesses on a dataset that opened: the
 * shape is consistent, every label is below n_classes, and a few samples can
 * be gathered with each scaling. */
#ifndef HP_FUZZ_DATASET_H
#define HP_FUZZ_DATASET_H

#include "fuzz.h"
#include "hpsearch/data.h"

static void fz_dataset_check(hp_dataset_t *ds) {
  HP_FUZZ_CHECK(ds->n > 0, "empty dataset opened");
  HP_FUZZ_CHECK((uint64_t)ds->c * ds->h * ds->w == ds->d && ds->d > 0, "shape %u x %u x %u vs d %u",
                ds->c, ds->h, ds->w, ds->d);
  for (uint32_t i = 0; i < ds->n; i++)
    HP_FUZZ_CHECK(ds->y[i] >= 0 && (uint32_t)ds->y[i] < ds->n_classes,
                  "label %d of sample %u outside [0, %u)", ds->y[i], i, ds->n_classes);
  uint32_t idx[4];
  uint32_t count = ds->n < 4 ? ds->n : 4;
  for (uint32_t i = 0; i < count; i++) idx[i] = ds->n - 1 - i;
  float *x = malloc((size_t)count * ds->d * sizeof *x);
  int32_t y[4];
  HP_FUZZ_CHECK(x != NULL, "malloc");
  const hp_scaling_t how[3] = {HP_SCALING_NONE, HP_SCALING_UNIT, HP_SCALING_STANDARDIZE};
  for (int k = 0; k < 3; k++) {
    hp_err_t err = {0};
    if (hp_dataset_fit_scaling(ds, how[k], NULL, 0, &err) < 0) continue;
    hp_data_gather(ds, idx, count, x, y);
    for (uint32_t i = 0; i < count; i++)
      HP_FUZZ_CHECK(y[i] == ds->y[idx[i]], "gathered label differs");
  }
  free(x);
}

#endif

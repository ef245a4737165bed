/* Random sampler with Optuna 3.1's RandomSampler semantics: floats uniform
 * on [low, high) (high excluded), log floats log-uniform, stepped floats and
 * ints uniform over their grid points, log ints log-uniform over cells
 * [k - 0.5, k + 0.5], categoricals uniform. Also TPE's startup sampler. */
#include <math.h>

#include "sampler_impl.h"

double hp_random_param(const hp_dist_t *d, hp_rng_t *rng) {
  if (hp_dist_single(d)) return d->kind == HP_DIST_CAT ? 0.0 : d->low;
  switch (d->kind) {
    case HP_DIST_CAT:
      return (double)hp_rng_below(rng, (uint64_t)d->n_choices);
    case HP_DIST_FLOAT: {
      if (d->step > 0) {
        /* Every grid point has the same probability, as Optuna's
         * U(low - s/2, high + s/2) rounded to the grid. */
        uint64_t n = (uint64_t)nearbyint((d->high - d->low) / d->step) + 1;
        return fmin(d->low + (double)hp_rng_below(rng, n) * d->step, d->high);
      }
      double u = hp_rng_uniform(rng), x;
      if (d->log) {
        double a = log(d->low), b = log(d->high);
        x = exp(a + u * (b - a));
        x = fmax(x, d->low);
      } else {
        x = d->low + u * (d->high - d->low);
      }
      /* Optuna keeps samples strictly below high. */
      if (x >= d->high) x = nextafter(d->high, -INFINITY);
      return x;
    }
    case HP_DIST_INT:
    default: {
      if (d->log) {
        double a = log(d->low - 0.5), b = log(d->high + 0.5);
        double x = nearbyint(exp(a + hp_rng_uniform(rng) * (b - a)));
        return fmin(fmax(x, d->low), d->high);
      }
      uint64_t n = (uint64_t)((d->high - d->low) / d->step) + 1;
      return d->low + (double)hp_rng_below(rng, n) * d->step;
    }
  }
}

/* In space order, so a parameter's condition sees its parents' values:
 * only active parameters are drawn, the others are absent (NaN). */
void hp_random_suggest(const hp_sampler_t *s, hp_rng_t *rng, double *out) {
  for (int p = 0; p < s->d; p++)
    out[p] = hp_space_active(s->space, p, out) ? hp_random_param(&s->space->params[p].dist, rng)
                                                : NAN;
}

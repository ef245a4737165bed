/* Several objectives (search/mo.c): non-domination ranks, the exact
 * hypervolume and greedy hypervolume subset selection, for the samplers
 * (multi-objective TPE, NSGA-II) and for view/'s Pareto front. Every value
 * is minimised: negate maximised objectives first. Points are trial-major
 * arrays pts[n * m] (point i's objective k at pts[i * m + k]). */
#ifndef HPSEARCH_MO_H
#define HPSEARCH_MO_H

#include <stdint.h>

/* Non-domination ranks (0 = the Pareto front) of n points of m values
 * (a dominates b: no worse in every value and better in one). Ranks are
 * assigned front by front until at least `need` points have one (need >= n:
 * all; need = 1: the front only); the others get INT32_MAX. Returns 0, or
 * HP_ENOMEM. */
int hp_mo_ranks(const double *pts, int64_t n, int m, int64_t need, int32_t *rank);
/* The exact hypervolume dominated by the n points and bounded by ref[m]
 * (points not strictly better than ref in every value add nothing): a sweep
 * for m = 2 (O(n log n)) and m = 3 (O(n^2)), slicing for m >= 4
 * (exponential in m; fine for small fronts). NaN if out of memory. */
double hp_mo_hypervolume(const double *pts, int64_t n, int m, const double *ref);
/* Greedy hypervolume subset selection (a 1 - 1/e approximation): picks k
 * of the n points one at a time, each adding the most hypervolume up to ref
 * (lazy: stale contributions are upper bounds); indices into out[k] in
 * picking order. A ref that is not finite picks the first k. 0 or
 * HP_ENOMEM. */
int hp_mo_hssp(const double *pts, int64_t n, int m, int64_t k, const double *ref, int64_t *out);

#endif

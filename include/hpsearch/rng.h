/* Seeded pseudo-random numbers for every module (xoshiro256** seeded through
 * splitmix64). The state is a plain value owned by the caller: same seed and
 * same call sequence give the same numbers on every machine. */
#ifndef HPSEARCH_RNG_H
#define HPSEARCH_RNG_H

#include <stdint.h>

typedef struct hp_rng {
  uint64_t s[4]; /* xoshiro256** state, never all zero */
} hp_rng_t;

/* Seeds from one 64-bit value. */
void hp_rng_seed(hp_rng_t *rng, uint64_t seed);
/* Seeds an independent stream: same (seed, stream) -> same numbers; different
 * streams are decorrelated (e.g. stream = trial number, layer index). */
void hp_rng_seed_stream(hp_rng_t *rng, uint64_t seed, uint64_t stream);
uint64_t hp_rng_u64(hp_rng_t *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double hp_rng_uniform(hp_rng_t *rng);
/* Uniform double in (0, 1): never 0, safe for log(). */
double hp_rng_uniform_open(hp_rng_t *rng);
/* Uniform integer in [0, n), unbiased; n must be > 0. */
uint64_t hp_rng_below(hp_rng_t *rng, uint64_t n);
/* Standard normal N(0,1) (Box-Muller, no cached second value). */
double hp_rng_normal(hp_rng_t *rng);
/* Fisher-Yates shuffle of n uint32 indices. */
void hp_rng_shuffle_u32(hp_rng_t *rng, uint32_t *idx, uint32_t n);

#endif

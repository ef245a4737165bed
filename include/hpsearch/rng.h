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
/* The next 64 random bits (xoshiro256**). Inline so a hot loop (dropout's
 * masks) can keep a copy of the state in registers and store it back. */
static inline uint64_t hp_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t hp_rng_u64(hp_rng_t *rng) {
  uint64_t *s = rng->s;
  uint64_t result = hp_rng_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = hp_rng_rotl(s[3], 45);
  return result;
}
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

/* xoshiro256** with splitmix64 seeding (algorithms by Blackman and Vigna),
 * plus the few distributions hpsearch needs. */
#include "hpsearch/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void hp_rng_seed(hp_rng_t *rng, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

void hp_rng_seed_stream(hp_rng_t *rng, uint64_t seed, uint64_t stream) {
  uint64_t x = stream;
  hp_rng_seed(rng, seed ^ splitmix64(&x));
}

double hp_rng_uniform(hp_rng_t *rng) { return (double)(hp_rng_u64(rng) >> 11) * 0x1.0p-53; }

double hp_rng_uniform_open(hp_rng_t *rng) {
  return ((double)(hp_rng_u64(rng) >> 12) + 0.5) * 0x1.0p-52;
}

uint64_t hp_rng_below(hp_rng_t *rng, uint64_t n) {
  /* Rejection of the short top range keeps the result unbiased. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = hp_rng_u64(rng);
  while (x >= limit);
  return x % n;
}

double hp_rng_normal(hp_rng_t *rng) {
  double u1 = hp_rng_uniform_open(rng), u2 = hp_rng_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void hp_rng_shuffle_u32(hp_rng_t *rng, uint32_t *idx, uint32_t n) {
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = (uint32_t)hp_rng_below(rng, i);
    uint32_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}

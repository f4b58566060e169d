/*
 * Seeded random numbers for unit tests on synthetic series: xorshift64* and
 * Box-Muller, so that every run sees the same numbers for a seed.
 */
#ifndef ITERPROF_SYNTHETIC_H
#define ITERPROF_SYNTHETIC_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state;

static inline void synthetic_seed(uint64_t seed)
{
	rng_state = seed;
}

/* Uniform in (0, 1). */
static inline double synthetic_uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((double)((rng_state * UINT64_C(2685821657736338717)) >> 11) + 0.5) /
	       9007199254740992.0;
}

/* Standard normal. */
static inline double synthetic_normal(void)
{
	return sqrt(-2 * log(synthetic_uniform())) * cos(2 * M_PI * synthetic_uniform());
}

#endif /* ITERPROF_SYNTHETIC_H */

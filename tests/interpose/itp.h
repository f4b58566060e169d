/*
 * Helpers shared by the interposition corpus (tests/interpose/).
 *
 * Every program here stands for a user's unmodified benchmark: it names a
 * function for `iterprof record -f`, counts the function's true calls itself
 * and prints them as a line
 *
 *	calls NAME N [outer M] [abnormal K]
 *
 * NAME is the demangled name without parameters, N the calls the function
 * counted; "outer M" (recursion) is how many of them were outermost calls,
 * the only ones that are iterations; "abnormal K" is how many left the
 * function by an exception or longjmp instead of returning.
 *
 * The counting must not change how the function is compiled, or the test
 * would measure a different function from the one a user has: a plain
 * (non-volatile) global incremented in the body is one add to memory and
 * leaves the optimiser free. What the optimiser must NOT do is fold calls
 * away or clone the function (a GCC `.constprop`/`.isra` clone would take
 * the calls and leave the named symbol cold), so callers hide their
 * arguments behind itp_opaque*() and use every result.
 */
#ifndef ITP_H
#define ITP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The scenario needs the function to exist as a symbol of its own. */
#define ITP_NOINLINE __attribute__((noinline))

/*
 * A value the optimiser cannot see through: no instruction is emitted, but
 * the compiler must assume the asm changed it. Keeps constants from being
 * propagated into the benchmarked function (which would clone it) and keeps
 * loops from being folded into a closed form.
 */
static inline long itp_opaque(long x)
{
	__asm__("" : "+r"(x));
	return x;
}

static inline double itp_opaque_double(double x)
{
	__asm__("" : "+x"(x));
	return x;
}

/* FNV-1a over 64-bit values: a checksum that depends on every result. */
static inline uint64_t itp_mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define ITP_CHECKSUM_INIT 0xcbf29ce484222325ULL

static inline uint64_t itp_mix_double(uint64_t h, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	return itp_mix(h, bits);
}

#endif

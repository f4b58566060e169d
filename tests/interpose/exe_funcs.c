/*
 * Functions of the executable itself, reached in four ways:
 *   mix_static    a static function called directly;
 *   mix_exported  an exported (global) function called directly;
 *   by_pointer    a static function called only through a volatile function
 *                 pointer, so no call site names it;
 *   compare_keys  a qsort() comparator: called from libc, not from here.
 *
 * Exits with status 3 on purpose: the status must pass through
 * `iterprof record` unchanged.
 */
#include <stdlib.h>

#include "itp.h"

unsigned long mix_exported(unsigned long a, unsigned long b);

static unsigned long calls_mix_static, calls_mix_exported, calls_by_pointer,
	calls_compare_keys;

static ITP_NOINLINE unsigned mix_static(unsigned x, unsigned k)
{
	calls_mix_static++;
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= k | 1;
	x ^= x >> 16;
	return x;
}

ITP_NOINLINE unsigned long mix_exported(unsigned long a, unsigned long b)
{
	calls_mix_exported++;
	a ^= b + 0x9e3779b97f4a7c15UL + (a << 6) + (a >> 2);
	return a * 0xbf58476d1ce4e5b9UL;
}

static ITP_NOINLINE long by_pointer(long x)
{
	calls_by_pointer++;
	return x * x - 3 * x + 7;
}

static long (*volatile through)(long) = by_pointer;

static ITP_NOINLINE int compare_keys(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	calls_compare_keys++;
	return (x > y) - (x < y);
}

int main(void)
{
	long n = itp_opaque(2000);
	unsigned k = (unsigned)itp_opaque(0x2545f491);
	uint64_t sum = ITP_CHECKSUM_INIT;
	unsigned long keys[500];

	for (long i = 0; i < n; i++)
		sum = itp_mix(sum, mix_static((unsigned)i, k));
	for (long i = 0; i < n + 500; i++)
		sum = itp_mix(sum, mix_exported((unsigned long)i, sum));
	for (long i = 0; i < n - 700; i++)
		sum = itp_mix(sum, (uint64_t)through(i));

	for (int i = 0; i < 500; i++)
		keys[i] = (unsigned long)(i * 7919 % 503) * 0x9e3779b9UL;
	qsort(keys, 500, sizeof(keys[0]), compare_keys);
	for (int i = 0; i < 500; i++)
		sum = itp_mix(sum, keys[i]);

	printf("calls mix_static %lu\n", calls_mix_static);
	printf("calls mix_exported %lu\n", calls_mix_exported);
	printf("calls by_pointer %lu\n", calls_by_pointer);
	printf("calls compare_keys %lu\n", calls_compare_keys);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 3;
}

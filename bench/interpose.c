/*
 * Per-call cost of intercepting a function with `iterprof record -f`,
 * measured in one run against the same loop unpatched.
 *
 * Two functions with identical bodies: bench_patched (named with -f) and
 * bench_plain (not). They are called in alternating blocks, so the noise of
 * a shared VM falls on both alike; the per-call difference of the block
 * medians is the cost of interception plus whatever the shim records per
 * call (with --no-counters: the clock only).
 *
 *   iterprof record [--no-counters] -f bench_patched -- interpose [BLOCKS [CALLS]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"

static volatile uint64_t sink;

uint64_t bench_patched(uint64_t x);
uint64_t bench_plain(uint64_t x);

/* A body of a few instructions, long enough to be patched (>= 5 bytes). */
__attribute__((noinline)) uint64_t bench_patched(uint64_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 2654435761u + 1;
}

__attribute__((noinline)) uint64_t bench_plain(uint64_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 2654435761u + 1;
}

static double block(uint64_t (*f)(uint64_t), long calls)
{
	uint64_t t0 = bench_now_ns(), x = 1;

	for (long i = 0; i < calls; i++)
		x = f(x);
	sink += x;
	return (double)(bench_now_ns() - t0) / (double)calls;
}

int main(int argc, char **argv)
{
	int blocks = argc > 1 ? atoi(argv[1]) : 21;
	long calls = argc > 2 ? atol(argv[2]) : 200000;
	double *patched, *plain, *excess;

	if (blocks < 1 || calls < 1) {
		fprintf(stderr, "usage: interpose [BLOCKS [CALLS_PER_BLOCK]]\n");
		return 2;
	}
	patched = calloc((size_t)blocks, sizeof(double));
	plain = calloc((size_t)blocks, sizeof(double));
	excess = calloc((size_t)blocks, sizeof(double));
	if (!patched || !plain || !excess)
		return 1;
	block(bench_patched, calls / 10 + 1);
	block(bench_plain, calls / 10 + 1);
	for (int b = 0; b < blocks; b++) {
		if (b % 2) {
			patched[b] = block(bench_patched, calls);
			plain[b] = block(bench_plain, calls);
		} else {
			plain[b] = block(bench_plain, calls);
			patched[b] = block(bench_patched, calls);
		}
		excess[b] = patched[b] - plain[b];
	}
	printf("unpatched call: %.1f ns\n", bench_median(plain, blocks));
	printf("patched call:   %.1f ns\n", bench_median(patched, blocks));
	printf("cost per call:  %.1f ns (median of %d paired blocks of %ld calls), ratio %.1fx\n",
	       bench_median(excess, blocks), blocks, calls,
	       bench_median(patched, blocks) / bench_median(plain, blocks));
	return 0;
}

/*
 * known-loop: iterations with a known number of instructions, for the arm64
 * QEMU guest (tests/arm64/guest-init.c, check "record-hw-exact").
 *
 *   known-loop [ITERATIONS]     (default 20)
 *
 * Runs ITERATIONS iterations of each region; region "loop-N" executes exactly
 * 2*N user-mode instructions of its own between the markers (a subs/b.ne
 * loop, the same function for every N), so under `iterprof record -e
 * instructions:u` the per-iteration medians of two regions differ by exactly
 * 2 * (N1 - N2), whatever the markers themselves cost. "loop-0" is an empty
 * iteration: its median is the markers' own user-mode cost.
 *
 * Dynamically linked (the shim must be preloadable); aarch64 only.
 */
#include <stdio.h>
#include <stdlib.h>

#include <iterprof/iterprof.h>

#if !defined(__aarch64__)
#error "known-loop counts aarch64 instructions"
#endif

/* 2*n instructions (n >= 1), plus the call's own few, equal for every n. */
static void __attribute__((noinline)) known_loop(unsigned long n)
{
	if (!n)
		return;
	__asm__ volatile("mov x9, %0\n"
			 "1: subs x9, x9, #1\n"
			 "b.ne 1b\n" ::"r"(n)
			 : "x9", "cc");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *region;
		unsigned long n;
	} regions[] = { { "loop-0", 0 }, { "loop-1000", 1000 }, { "loop-5000", 5000 } };
	long iterations = argc > 1 ? atol(argv[1]) : 20;

	for (size_t r = 0; r < sizeof(regions) / sizeof(regions[0]); r++) {
		for (long i = 0; i < iterations; i++) {
			iterprof_iter_begin(regions[r].region);
			known_loop(regions[r].n);
			iterprof_iter_end(regions[r].region);
		}
	}
	printf("known-loop: %ld iterations of each of %zu regions\n", iterations,
	       sizeof(regions) / sizeof(regions[0]));
	return 0;
}

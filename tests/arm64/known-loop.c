/*
 * known-loop: iterations with a known number of instructions, for the arm64
 * QEMU guest (tests/arm64/guest-init.c, check "record-hw-exact").
 *
 *   known-loop [ITERATIONS [MODE [N]]]     (default 20 iterations)
 *
 * Without MODE, runs ITERATIONS iterations of each region; region "loop-N"
 * executes exactly 2*N user-mode instructions of its own between the markers
 * (a subs/b.ne loop, the same function for every N), so under `iterprof
 * record -e instructions:u` the per-iteration medians of two regions differ
 * by exactly 2 * (N1 - N2), whatever the markers themselves cost. "loop-0" is
 * an empty iteration: its median is the markers' own user-mode cost.
 *
 * MODE:
 *   big N     region "loop-big": ITERATIONS iterations of 2*N instructions
 *             (long iterations: counter overflow, multiplexing)
 *   migrate   regions "stay" and "migrate": 2*2500 loop instructions, then
 *             sched_setaffinity, then 2*2500 more; "stay" pins the thread to
 *             the CPU it is on, "migrate" to the other one (CPUs 0 and 1),
 *             so both run the same user-mode instructions and only "migrate"
 *             changes CPU between begin and end
 *   extra N   region "extra": ITERATIONS iterations of 2*N instructions,
 *             except that iterations 26, 36, 46... (1-based: index % 10 == 5
 *             from index 20 on) execute twice that: known slow iterations
 *             whose cause is more work (check "report-more-work")
 *   probe     counts its own instructions (user mode, and all) around
 *             ITERATIONS empty iterations of region "probe" and prints
 *             "probe: I iterations, U user, A all instructions per
 *             iteration": run with and without the shim, the difference is
 *             what the shim's begin + end execute
 *
 * Dynamically linked (the shim must be preloadable); aarch64 only.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static int __attribute__((noinline)) pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* One region of the "migrate" mode: the same instructions whether @moves
 * is 0 (pin to CPU 0, where the thread is) or 1 (alternate CPUs). */
static void __attribute__((noinline)) migrate_region(const char *region, long iterations,
						     int moves)
{
	for (long i = 0; i < iterations; i++) {
		int cpu = (int)((i + 1) % 2) * moves;

		iterprof_iter_begin(region);
		known_loop(2500);
		if (pin(cpu))
			perror("known-loop: sched_setaffinity");
		known_loop(2500);
		iterprof_iter_end(region);
	}
	pin(0);
}

static int run_migrate(long iterations)
{
	if (pin(0)) {
		perror("known-loop: sched_setaffinity(CPU 0)");
		return 1;
	}
	migrate_region("stay", iterations, 0);
	migrate_region("migrate", iterations, 1);
	printf("known-loop: %ld iterations of stay and migrate\n", iterations);
	return 0;
}

static int open_own(int exclude_kernel)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_HARDWARE;
	attr.config = PERF_COUNT_HW_INSTRUCTIONS;
	attr.exclude_kernel = exclude_kernel;
	attr.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static uint64_t read_own(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static int run_probe(long iterations)
{
	int user = open_own(1), all = open_own(0);
	uint64_t u0, a0, u1, a1;

	if (user < 0 || all < 0) {
		perror("known-loop: perf_event_open(instructions)");
		return 1;
	}
	iterprof_iter_begin("probe"); /* resolves the markers, first-use costs */
	iterprof_iter_end("probe");
	u0 = read_own(user);
	a0 = read_own(all);
	for (long i = 0; i < iterations; i++) {
		iterprof_iter_begin("probe");
		iterprof_iter_end("probe");
	}
	a1 = read_own(all);
	u1 = read_own(user);
	printf("probe: %ld iterations, %.1f user, %.1f all instructions per iteration\n",
	       iterations, (double)(u1 - u0) / (double)iterations,
	       (double)(a1 - a0) / (double)iterations);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *region;
		unsigned long n;
	} regions[] = { { "loop-0", 0 }, { "loop-1000", 1000 }, { "loop-5000", 5000 } };
	long iterations = argc > 1 ? atol(argv[1]) : 20;
	const char *mode = argc > 2 ? argv[2] : NULL;

	if (mode && !strcmp(mode, "big") && argc > 3) {
		unsigned long n = strtoul(argv[3], NULL, 10);

		for (long i = 0; i < iterations; i++) {
			iterprof_iter_begin("loop-big");
			known_loop(n);
			iterprof_iter_end("loop-big");
		}
		printf("known-loop: %ld iterations of loop-big (%lu)\n", iterations, n);
		return 0;
	}
	if (mode && !strcmp(mode, "extra") && argc > 3) {
		unsigned long n = strtoul(argv[3], NULL, 10);
		long doubled = 0;

		for (long i = 0; i < iterations; i++) {
			int is_double = i >= 20 && i % 10 == 5;

			iterprof_iter_begin("extra");
			known_loop(is_double ? 2 * n : n);
			iterprof_iter_end("extra");
			doubled += is_double;
		}
		printf("known-loop: %ld iterations of extra (%lu), %ld of them doubled\n", iterations,
		       n, doubled);
		return 0;
	}
	if (mode && !strcmp(mode, "migrate"))
		return run_migrate(iterations);
	if (mode && !strcmp(mode, "probe"))
		return run_probe(iterations);
	if (mode) {
		fprintf(stderr, "known-loop: unknown mode '%s' (big N, extra N, migrate, probe)\n", mode);
		return 2;
	}
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

/*
 * What call stacks cost a benchmark, measured in one run.
 *
 * Run under `iterprof record --stacks=MODE` (scripts/bench-stacks runs it
 * with off, slow and all). The same body - WORK_US of arithmetic, then
 * PAGES fresh pages touched - is timed in alternating blocks, bare and
 * inside iterprof_iter_begin/end, so that the VM's changes of speed fall
 * on both alike. The bare blocks run in a thread of their own that never
 * calls a marker: the shim samples a thread from its first marker on, so
 * that thread is not sampled at all. Prints the median of each, per
 * iteration, and the median of the per-block ratios marked / bare: with
 * --stacks=off that ratio is the markers' and counters' cost; what a mode
 * adds above it is the cost of its samples (the kernel's copies of the
 * stack) and of unwinding the kept ones (at the marker's end).
 *
 *   stacks [WORK_US [PAGES [BLOCKS [ITERATIONS_PER_BLOCK]]]]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <iterprof/iterprof.h>

#include "bench-util.h"

static volatile double sink;

/* Arithmetic for about @units ns... calibrated below. */
__attribute__((noinline)) static void work(uint64_t units)
{
	double x = 1.0;

	for (uint64_t i = 0; i < units; i++)
		x = x * 1.0000001 + 0.5;
	sink = x;
}

__attribute__((noinline)) static void touch(long pages)
{
	char *p;

	if (!pages)
		return;
	p = mmap(NULL, (size_t)pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return;
	for (long i = 0; i < pages; i++)
		p[i * 4096] = 1;
	munmap(p, (size_t)pages * 4096);
}

static uint64_t calibrate(double work_us)
{
	uint64_t units = 100000;
	uint64_t t0 = bench_now_ns();

	work(units);
	return (uint64_t)((double)units * work_us * 1000.0 / (double)(bench_now_ns() - t0 + 1));
}

struct bare_block {
	uint64_t units;
	long pages;
	int per_block;
	double ns;
};

static void *run_bare(void *arg)
{
	struct bare_block *b = arg;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < b->per_block; i++) {
		work(b->units);
		touch(b->pages);
	}
	b->ns = (double)(bench_now_ns() - t0) / b->per_block;
	return NULL;
}

int main(int argc, char **argv)
{
	double work_us = argc > 1 ? atof(argv[1]) : 1000;
	long pages = argc > 2 ? atol(argv[2]) : 0;
	int blocks = argc > 3 ? atoi(argv[3]) : 20;
	int per_block = argc > 4 ? atoi(argv[4]) : 20;
	double *bare = calloc((size_t)blocks, sizeof(double));
	double *marked = calloc((size_t)blocks, sizeof(double));
	double *ratio = calloc((size_t)blocks, sizeof(double));
	uint64_t units;

	if (!bare || !marked || !ratio || blocks < 1 || per_block < 1) {
		fprintf(stderr, "usage: stacks [WORK_US [PAGES [BLOCKS [ITERATIONS_PER_BLOCK]]]]\n");
		return 2;
	}
	work(1000000); /* warm the CPU */
	units = calibrate(work_us);
	for (int b = 0; b < blocks; b++) {
		struct bare_block bb = { units, pages, per_block, 0 };
		pthread_t t;
		uint64_t t0;

		if (pthread_create(&t, NULL, run_bare, &bb) || pthread_join(t, NULL)) {
			fprintf(stderr, "stacks: cannot start a thread\n");
			return 1;
		}
		bare[b] = bb.ns;
		t0 = bench_now_ns();
		for (int i = 0; i < per_block; i++) {
			iterprof_iter_begin("body");
			work(units);
			touch(pages);
			iterprof_iter_end("body");
		}
		marked[b] = (double)(bench_now_ns() - t0) / per_block;
		ratio[b] = marked[b] / bare[b];
	}
	printf("bare %.0f ns, marked %.0f ns per iteration; marked / bare %.4f "
	       "(median of %d blocks of %d)\n",
	       bench_median(bare, blocks), bench_median(marked, blocks), bench_median(ratio, blocks),
	       blocks, per_block);
	free(bare);
	free(marked);
	free(ratio);
	return 0;
}

/*
 * What the shim's mmap/mprotect wrappers (preload/jit.c) cost a call that
 * makes nothing executable, measured in one run: the same calls through the
 * symbol the program binds to (the shim's wrapper when it is preloaded) and
 * straight to the C library's function (dlsym of libc.so.6), in alternating
 * blocks so that the noise of a shared VM falls on both alike. Without the
 * shim both paths are libc's, and the ratio shows the method's own spread.
 *
 *   [LD_PRELOAD=libiterprof.so] jit-wrappers [BLOCKS [CALLS_PER_BLOCK]]
 *
 * Prints ns per call (block medians) and the ratio bound / libc for
 *   mmap+munmap   one anonymous READ|WRITE page, mapped and unmapped
 *   mprotect      one page flipped between READ and READ|WRITE
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bench-util.h"

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*mprotect_fn)(void *, size_t, int);

static double block_mmap(mmap_fn map, long calls)
{
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < calls; i++) {
		void *p = map(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			abort();
		munmap(p, 4096);
	}
	return (double)(bench_now_ns() - t0) / (double)calls;
}

static double block_mprotect(mprotect_fn protect, void *page, long calls)
{
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < calls; i++)
		if (protect(page, 4096, i & 1 ? PROT_READ : PROT_READ | PROT_WRITE))
			abort();
	return (double)(bench_now_ns() - t0) / (double)calls;
}

int main(int argc, char **argv)
{
	int blocks = argc > 1 ? atoi(argv[1]) : 41;
	long calls = argc > 2 ? atol(argv[2]) : 20000;
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	mmap_fn libc_mmap = libc ? (mmap_fn)dlsym(libc, "mmap") : NULL;
	mprotect_fn libc_mprotect = libc ? (mprotect_fn)dlsym(libc, "mprotect") : NULL;
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double *v[4];

	if (blocks < 1 || calls < 1 || !libc_mmap || !libc_mprotect || page == MAP_FAILED) {
		fprintf(stderr, "usage: jit-wrappers [BLOCKS [CALLS_PER_BLOCK]]\n");
		return 2;
	}
	for (int k = 0; k < 4; k++)
		v[k] = calloc((size_t)blocks, sizeof(double));
	printf("the program's mmap is %s\n",
	       (void *)mmap == (void *)libc_mmap ? "libc's" : "another library's (the shim)");
	block_mmap(mmap, calls / 10); /* warm up both paths */
	block_mmap(libc_mmap, calls / 10);
	for (int b = 0; b < blocks; b++) {
		v[0][b] = block_mmap(mmap, calls);
		v[1][b] = block_mmap(libc_mmap, calls);
		v[2][b] = block_mprotect(mprotect, page, calls);
		v[3][b] = block_mprotect(libc_mprotect, page, calls);
	}
	for (int k = 0; k < 4; k += 2) {
		double bound = bench_median(v[k], blocks), direct = bench_median(v[k + 1], blocks);

		printf("%-12s %8.1f ns bound, %8.1f ns libc, ratio %.3f (%d blocks of %ld)\n",
		       k ? "mprotect" : "mmap+munmap", bound, direct, bound / direct, blocks, calls);
	}
	return 0;
}

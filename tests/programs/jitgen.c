/*
 * jitgen: a benchmark that generates machine code at known iterations, the
 * way a JIT does, for the tests of the shim's code-event counting
 * (tests/e2e/test_jit_events.py).
 *
 *   jitgen [-n ITERS] [--at LIST] [--pages N] [--style mprotect|mmap|memfd|mremap]
 *          [--dlopen PATH --dlopen-at I] [--compile-us US]
 *
 * At each iteration of LIST (1-based, comma-separated) region "step"
 * generates one function of N pages (default 1): with --style mprotect
 * (default) an anonymous RW mapping written and then mprotect'ed to
 * READ|EXEC (1 code event, N pages); mmap: written through a RW mapping of
 * a memfd and mapped a second time READ|EXEC (double-mapped code, 1 event);
 * mremap: the mprotect style, then the executable mapping grown to 2N pages
 * with mremap (2 events, 3N pages). --compile-us spins that long first (the
 * "compilation"; CPU time, so preemptions do not shorten it). The function
 * is called, so the code is real. Every iteration also runs ~20 µs of CPU
 * work. --dlopen loads PATH at
 * iteration --dlopen-at.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "iterprof/iterprof.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy for @us of this thread's CPU time: the same on-CPU cost however
 * often the machine preempts it. */
static void spin_us(unsigned us)
{
	struct timespec ts;
	uint64_t end;
	volatile unsigned x = 0;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (uint64_t)us * 1000u;
	do {
		for (int k = 0; k < 100; k++)
			x++;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec < end);
}

/* "return 42": the only code we need; the rest of the pages are padding. */
static size_t emit(uint8_t *p)
{
#if defined(__x86_64__)
	static const uint8_t code[] = { 0xb8, 42, 0, 0, 0, 0xc3 }; /* mov eax,42; ret */
#elif defined(__aarch64__)
	static const uint8_t code[] = { 0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6 };
#else
#error "jitgen: no code for this architecture"
#endif
	memcpy(p, code, sizeof(code));
	return sizeof(code);
}

static int call(void *fn)
{
	__builtin___clear_cache((char *)fn, (char *)fn + 16);
	return ((int (*)(void))fn)();
}

static int generate(const char *style, size_t len)
{
	int r = -1;

	if (!strcmp(style, "memfd")) {
		int fd = memfd_create("jitgen", 0);
		uint8_t *w, *x;

		if (fd < 0 || ftruncate(fd, (off_t)len))
			return -1;
		w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		x = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
		if (w != MAP_FAILED && x != MAP_FAILED) {
			emit(w);
			r = call(x);
		}
		munmap(w, len);
		munmap(x, len);
		close(fd);
		return r;
	}
	{
		uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);

		if (p == MAP_FAILED)
			return -1;
		emit(p);
		if (!strcmp(style, "mmap")) {
			/* A fresh executable mapping, filled from the RW one. */
			uint8_t *x = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_EXEC,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (x != MAP_FAILED) {
				emit(x);
				r = call(x);
				munmap(x, len);
			}
		} else if (!mprotect(p, len, PROT_READ | PROT_EXEC)) {
			r = call(p);
			if (!strcmp(style, "mremap")) {
				void *q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);

				if (q != MAP_FAILED) {
					p = q;
					len *= 2;
					r = call(p);
				}
			}
		}
		munmap(p, len);
	}
	return r;
}

static int in_list(const char *list, long i)
{
	for (const char *p = list; p && *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (v == i)
			return 1;
		p = *end == ',' ? end + 1 : end;
		if (end == p && *p)
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = 100, pages = 1, dlopen_at = -1;
	unsigned compile_us = 0;
	const char *at = "", *style = "mprotect", *lib = NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "jitgen: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "-n"))
			n = atol(v);
		else if (!strcmp(a, "--at"))
			at = v;
		else if (!strcmp(a, "--pages"))
			pages = atol(v);
		else if (!strcmp(a, "--style"))
			style = v;
		else if (!strcmp(a, "--dlopen"))
			lib = v;
		else if (!strcmp(a, "--dlopen-at"))
			dlopen_at = atol(v);
		else if (!strcmp(a, "--compile-us"))
			compile_us = (unsigned)atoi(v);
		else {
			fprintf(stderr, "jitgen: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	for (long i = 1; i <= n; i++) {
		iterprof_iter_begin("step");
		spin_us(20);
		if (in_list(at, i)) {
			spin_us(compile_us);
			if (generate(style, (size_t)pages * page) != 42) {
				fprintf(stderr, "jitgen: generated code failed at %ld\n", i);
				return 1;
			}
		}
		if (lib && i == dlopen_at && !dlopen(lib, RTLD_NOW | RTLD_LOCAL)) {
			fprintf(stderr, "jitgen: dlopen %s: %s\n", lib, dlerror());
			return 1;
		}
		iterprof_iter_end("step");
	}
	return 0;
}

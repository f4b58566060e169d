/*
 * stackpaths: a benchmark whose slow iterations happen at known call paths,
 * for the call-stack tests of iterprof (tests/e2e/test_stacks.py).
 *
 *   stackpaths [-n ITERS] [--faults-at LIST] [--pages N] [--block-at LIST]
 *              [--extra-at LIST] [--jit-at LIST] [--base-us US] [--extra-us US]
 *
 *   -n             iterations of region "step" (default 200)
 *   --faults-at    1-based iterations ("40,80" or ranges "40-42") that fault
 *                  in N fresh pages at
 *                      do_iteration -> prepare_input -> fill_buffer
 *                      -> touch_fresh_pages
 *                  (an anonymous mmap, one write per page: N minor faults,
 *                  then munmap)
 *   --pages N      pages of a fault burst (default 2000)
 *   --block-at     iterations that block in read() on a pipe at
 *                      do_iteration -> wait_for_input -> read
 *                  until a helper thread writes a byte, ~20 ms later
 *   --extra-at     iterations that run ~5 ms (--extra-us) more busy work in
 *                      do_iteration -> extra_helper
 *   --jit-at       iterations that run ~5 ms in generated code (x86-64
 *                  only; exit 3 elsewhere) at
 *                      do_iteration -> run_jit_code -> [generated code]
 *                  The code is generated once before the loop (so those
 *                  iterations are not the jit cause), has a frame-pointer
 *                  prologue, as JITs' code has, and no symbol, unwind table
 *                  or perf map: an unwinder sees an unknown frame.
 *   --base-us      busy work per iteration in base_work (default 300)
 *   --no-markers 1 no iterprof_iter_begin/end around do_iteration: for
 *                  `iterprof record -f do_iteration`, where each call is an
 *                  iteration of a patched function
 *
 * The tests find the expected source lines by the markers LINE:touch,
 * LINE:read and LINE:extra in comments below. Every named function is
 * noinline and noclone (no .constprop/.isra copies under other names) and
 * does something after its call (an empty asm), so that no
 * call is a tail call and the frames exist at -O2 with or without frame
 * pointers.
 *
 * The busy work is calibrated at start (units per µs); its result is not
 * printed: stdout is the same for the same options on every run and with or
 * without the shim: "stackpaths: iterations N faults K pages P blocks B
 * extra E jit J eintr R". Exit 0; 1 on a system call failure; 2 bad usage;
 * 3 --jit-at on an architecture without generated code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "at-list.h"

#include <iterprof/iterprof.h>

#define MAX_AT 256
#define NOINLINE __attribute__((noinline, noclone))
/* After a call: the call is not the function's last instruction, so the
 * compiler cannot turn it into a jump and drop the caller's frame. */
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static volatile unsigned long sink;
static double units_per_us = 100;
static long eintr_count;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static NOINLINE void base_work(long units)
{
	unsigned long x = sink;

	for (long i = 0; i < units; i++) {
		x = x * 6364136223846793005u + (unsigned long)i;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

static NOINLINE void extra_helper(long units)
{
	unsigned long x = sink;

	for (long i = 0; i < units; i++) {
		x = x * 2862933555777941757u + 3037000493u; /* LINE:extra */
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

static NOINLINE void touch_fresh_pages(long pages)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile char *p = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	for (long i = 0; i < pages; i++)
		p[i * page] = 1; /* LINE:touch */
	if (munmap((void *)p, (size_t)(pages * page)))
		die("munmap");
	NO_TAIL_CALL();
}

static NOINLINE void fill_buffer(long pages)
{
	touch_fresh_pages(pages);
	NO_TAIL_CALL();
}

static NOINLINE void prepare_input(long pages)
{
	fill_buffer(pages);
	NO_TAIL_CALL();
}

/* ------------------------------------------------------------------------
 * Blocking: the helper thread waits for a request on its own pipe, sleeps
 * ~20 ms and answers with one byte on the data pipe the benchmark reads.
 */
static int request_pipe[2], data_pipe[2];

static void *helper(void *arg)
{
	char c;

	(void)arg;
	for (;;) {
		ssize_t r = read(request_pipe[0], &c, 1);
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL; /* closed: the run is over */
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		while (write(data_pipe[1], &c, 1) != 1)
			if (errno != EINTR)
				die("helper write");
	}
}

static NOINLINE void wait_for_input(void)
{
	char c = 'r';
	ssize_t r;

	while (write(request_pipe[1], &c, 1) != 1)
		if (errno != EINTR)
			die("request write");
	for (;;) {
		r = read(data_pipe[0], &c, 1); /* LINE:read */
		if (r == 1)
			break;
		if (r < 0 && errno == EINTR) {
			eintr_count++;
			continue;
		}
		die("read");
	}
	NO_TAIL_CALL();
}

/* ------------------------------------------------------------------------
 * Generated code: count(rdi) iterations of dec/jnz in a frame of its own.
 */
typedef void (*jit_fn)(long count);
static jit_fn jit_code;
static long jit_count;

static int jit_generate(void)
{
#if defined(__x86_64__)
	static const uint8_t code[] = {
		0x55,             /* push %rbp */
		0x48, 0x89, 0xe5, /* mov %rsp,%rbp */
		0x48, 0x89, 0xf8, /* mov %rdi,%rax */
		0x48, 0xff, 0xc8, /* 1: dec %rax */
		0x75, 0xfb,       /* jnz 1b */
		0x5d,             /* pop %rbp */
		0xc3,             /* ret */
	};
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memcpy(p, code, sizeof(code));
	if (mprotect(p, len, PROT_READ | PROT_EXEC))
		die("mprotect");
	jit_code = (jit_fn)(void *)p;
	return 0;
#else
	return -1;
#endif
}

static NOINLINE void run_jit_code(long count)
{
	jit_code(count);
	NO_TAIL_CALL();
}

/* ------------------------------------------------------------------------
 */
struct plan {
	long base_units, extra_units, pages;
	long faults_at[MAX_AT], block_at[MAX_AT], extra_at[MAX_AT], jit_at[MAX_AT];
	int faults_n, block_n, extra_n, jit_n;
};

static struct {
	long faults, pages, blocks, extra, jit;
} done;


static NOINLINE void do_iteration(const struct plan *plan, long i)
{
	base_work(plan->base_units);
	if (is_at(plan->faults_at, plan->faults_n, i)) {
		prepare_input(plan->pages);
		done.faults++;
		done.pages += plan->pages;
	}
	if (is_at(plan->block_at, plan->block_n, i)) {
		wait_for_input();
		done.blocks++;
	}
	if (is_at(plan->extra_at, plan->extra_n, i)) {
		extra_helper(plan->extra_units);
		done.extra++;
	}
	if (is_at(plan->jit_at, plan->jit_n, i)) {
		run_jit_code(jit_count);
		done.jit++;
	}
	NO_TAIL_CALL();
}


static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Units of base_work per µs: the median of 21 timings of ~2 ms each, after
 * a warm-up (the busy loops of base_work and extra_helper run at about the
 * same speed: one multiply-add per unit). */
static void calibrate(void)
{
	const long probe = 200000;
	uint64_t t[21];

	base_work(probe * 5);
	for (int k = 0; k < 21; k++) {
		uint64_t t0 = now_ns();

		base_work(probe);
		t[k] = now_ns() - t0;
	}
	qsort(t, 21, sizeof(*t), compare_u64);
	units_per_us = (double)probe * 1000.0 / (double)(t[10] + 1);
}

/* Loop count of the generated code for @us: timed like calibrate(). */
static long calibrate_jit(double us)
{
	const long probe = 1000000;
	uint64_t t[11];

	jit_code(probe);
	for (int k = 0; k < 11; k++) {
		uint64_t t0 = now_ns();

		jit_code(probe);
		t[k] = now_ns() - t0;
	}
	qsort(t, 11, sizeof(*t), compare_u64);
	return (long)(us * 1000.0 * (double)probe / (double)(t[5] + 1));
}

static void usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of tests/programs/stackpaths.c\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct plan plan;
	long iterations = 200;
	double base_us = 300, extra_us = 5000;
	pthread_t helper_thread;
	bool has_markers = true;

	plan.pages = 2000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "-n"))
			iterations = atol(v);
		else if (!strcmp(a, "--pages"))
			plan.pages = atol(v);
		else if (!strcmp(a, "--base-us"))
			base_us = atof(v);
		else if (!strcmp(a, "--extra-us"))
			extra_us = atof(v);
		else if (!strcmp(a, "--faults-at"))
			plan.faults_n = parse_at(v, plan.faults_at, MAX_AT);
		else if (!strcmp(a, "--block-at"))
			plan.block_n = parse_at(v, plan.block_at, MAX_AT);
		else if (!strcmp(a, "--extra-at"))
			plan.extra_n = parse_at(v, plan.extra_at, MAX_AT);
		else if (!strcmp(a, "--no-markers"))
			has_markers = !atoi(v);
		else if (!strcmp(a, "--jit-at"))
			plan.jit_n = parse_at(v, plan.jit_at, MAX_AT);
		else
			usage();
		if (plan.faults_n < 0 || plan.block_n < 0 || plan.extra_n < 0 || plan.jit_n < 0)
			usage();
	}
	if (iterations < 1 || plan.pages < 1 || base_us < 0 || extra_us < 0)
		usage();

	calibrate();
	plan.base_units = (long)(base_us * units_per_us);
	plan.extra_units = (long)(extra_us * units_per_us);
	if (plan.jit_n) {
		if (jit_generate()) {
			fprintf(stderr, "stackpaths: no generated code on this architecture\n");
			return 3;
		}
		jit_count = calibrate_jit(extra_us);
	}
	/* The first pages a process touches may cost the hypervisor a fault of
	 * its own each: fault the same amount in and out a few times first, so
	 * that each injection gets pages from the kernel's free lists (as
	 * tests/programs/inject.c does). */
	for (int k = 0; plan.faults_n && k < 3; k++)
		touch_fresh_pages(plan.pages);
	if (pipe(request_pipe) || pipe(data_pipe))
		die("pipe");
	if (pthread_create(&helper_thread, NULL, helper, NULL))
		die("pthread_create");

	for (long i = 1; i <= iterations; i++) {
		if (has_markers)
			iterprof_iter_begin("step");
		do_iteration(&plan, i);
		if (has_markers)
			iterprof_iter_end("step");
	}

	close(request_pipe[1]);
	pthread_join(helper_thread, NULL);
	printf("stackpaths: iterations %ld faults %ld pages %ld blocks %ld extra %ld jit %ld "
	       "eintr %ld\n",
	       iterations, done.faults, done.pages, done.blocks, done.extra, done.jit,
	       eintr_count);
	return 0;
}

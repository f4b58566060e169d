/*
 * inject: a steady benchmark with known causes of slow iterations injected
 * at given iterations, for the ground-truth tests of `iterprof report`
 * (tests/e2e/test_report_causes.py).
 *
 *   inject [-n ITERS] [--work-us US | --units N] [--at LIST] [--region NAME]
 *          [--pages N] [--sleep-us U] [--hog [--hog-ms MS]] [--hog-process]
 *          [--migrate]
 *          [--work-factor F] [--log FILE]
 *
 *   -n             iterations (default 400) of region "step" (--region)
 *   --work-us      busy work per iteration, calibrated at start (default 75)
 *   --units        busy-work units per iteration instead (no calibration)
 *   --at LIST      1-based iterations to inject into: "60,130,200" or ranges
 *                  "60-62,100"; at most 64 of them
 *   --pages N      touch N fresh pages (anonymous mmap, one write each,
 *                  munmap) inside the iteration: N minor page faults (the
 *                  same is done 3 times before the loop: see main())
 *   --sleep-us U   nanosleep U µs inside the iteration: a voluntary switch
 *   --hog          a competing thread pinned to the benchmark's CPU: in
 *                  the middle of the iteration the benchmark wakes it
 *                  (eventfd) and yields the CPU until it spins; the
 *                  benchmark stays runnable and waits in the run queue
 *                  while the hog uses its time slice (an involuntary
 *                  switch, run-queue delay: what a preemption by another
 *                  task looks like); after the iteration the hog is
 *                  stopped and waited for, so that it delays no other one
 *   --hog-ms MS    longest spin of the hog (default 20)
 *   --hog-process  the hog is another process (forked at start), not a
 *                  thread: a preemption by another task, where --hog is
 *                  one by a sibling thread
 *   --migrate      inside the iteration move to the other allowed CPU
 *                  (sched_setaffinity) and stay there: one migration
 *   --work-factor F  F times the busy work in the iteration (F > 1)
 *   --log FILE     write what the program saw of each iteration (below)
 *
 * The benchmark thread is pinned to the first allowed CPU (the hog with
 * it); --migrate needs a second one (exit 3 without it).
 *
 * Ground truth for the tests. The busy work runs in chunks of about 1 µs
 * with a clock read between chunks, so the program sees when something
 * took the CPU from it in the middle of an iteration (a timer tick, the
 * hypervisor, another task): a chunk much longer than the iteration's
 * median chunk. --log FILE gets one line per iteration after the run:
 *     INDEX INJECTED LOST_NS CHUNK_NS OUTER_NS WORK_NS CPU_BEGIN CPU_END
 * INDEX 1-based; INJECTED 0/1; LOST_NS the time of the chunks beyond
 * twice the iteration's median chunk, less that median (interruptions);
 * CHUNK_NS the median chunk's duration (the speed the CPU ran at);
 * OUTER_NS the iteration from before its begin marker to after its end
 * marker; WORK_NS the time inside the busy work (OUTER_NS - WORK_NS is the
 * markers and the injected cause); CPU_BEGIN, CPU_END the CPU before the
 * begin marker and after the end marker (sched_getcpu).
 *
 * Prints "inject: pid P cpu C units U ns_per_iteration T iterations N" on
 * stdout after the loop; exit 0, 2 on bad usage, 3 when a second CPU is
 * needed and missing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "at-list.h"

#include <iterprof/iterprof.h>

#define MAX_AT 64
#define MAX_CHUNKS 65536

static volatile unsigned long sink;

static void busy(long units)
{
	for (long i = 0; i < units; i++)
		sink += (unsigned long)i * 2654435761u;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* ------------------------------------------------------------------------
 * Chunked busy work: the durations of the chunks of the current iteration.
 */
static long chunk_units = 3000;
static uint64_t chunk_ns[MAX_CHUNKS];
static size_t chunk_count;
static uint64_t work_ns; /* in work() this iteration */

static void work(long units)
{
	uint64_t t = now_ns();

	while (units > 0) {
		long u = units < chunk_units ? units : chunk_units;
		uint64_t t2;

		busy(u);
		units -= u;
		t2 = now_ns();
		if (chunk_count < MAX_CHUNKS && u == chunk_units)
			chunk_ns[chunk_count++] = t2 - t;
		work_ns += t2 - t;
		t = t2;
	}
}

/* Median chunk and time lost in chunks beyond twice it, of this iteration. */
static void chunk_summary(uint64_t *median, uint64_t *lost)
{
	static uint64_t sorted[MAX_CHUNKS];
	uint64_t m;

	*median = *lost = 0;
	if (!chunk_count)
		return;
	memcpy(sorted, chunk_ns, chunk_count * sizeof(*sorted));
	qsort(sorted, chunk_count, sizeof(*sorted), compare_u64);
	m = sorted[chunk_count / 2];
	for (size_t k = 0; k < chunk_count; k++)
		if (chunk_ns[k] > 2 * m)
			*lost += chunk_ns[k] - m;
	*median = m;
}

static uint64_t median_of(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), compare_u64);
	return v[n / 2];
}

/* Units of work() that take @target_ns, and chunk_units for chunks of
 * about 1 µs: medians of repeated timings of about 20 µs each, after a
 * warm-up. */
static long calibrate(double target_ns)
{
	const long probe = 40000;
	uint64_t t[31];

	busy(probe * 50);
	for (int k = 0; k < 31; k++) {
		uint64_t t0 = now_ns();

		busy(probe);
		t[k] = now_ns() - t0;
	}
	chunk_units = (long)(1000.0 * (double)probe / (double)(median_of(t, 31) + 1));
	if (chunk_units < 100)
		chunk_units = 100;
	for (int k = 0; k < 31; k++) {
		uint64_t t0 = now_ns();

		chunk_count = 0;
		work(probe);
		t[k] = now_ns() - t0;
	}
	return (long)(target_ns * (double)probe / (double)(median_of(t, 31) + 1));
}

static void touch_pages(long n)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	for (long i = 0; i < n; i++)
		p[i * page] = 1;
	if (munmap(p, (size_t)(n * page)))
		die("munmap");
}

/* ------------------------------------------------------------------------
 * The hog: a thread on the benchmark's CPU that spins when told to.
 */
enum { HOG_IDLE, HOG_SPINNING };

static int hog_fd = -1;
static int hog_cpu;
static long hog_ms = 20;
/* atomics; in shared memory, for a hog process */
static struct hog_shared {
	int state; /* HOG_* */
	int stop;
	int exit;
} *hs;
#define hog_state (hs->state)
#define hog_stop (hs->stop)
#define hog_exit (hs->exit)

static void *hog(void *arg)
{
	(void)arg;
	pin(hog_cpu);
	for (;;) {
		uint64_t value, end;

		if (read(hog_fd, &value, sizeof(value)) != sizeof(value)) {
			if (errno == EINTR)
				continue;
			die("hog read");
		}
		if (__atomic_load_n(&hog_exit, __ATOMIC_ACQUIRE))
			return NULL;
		end = now_ns() + (uint64_t)hog_ms * 1000000u;
		__atomic_store_n(&hog_state, HOG_SPINNING, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&hog_stop, __ATOMIC_ACQUIRE) && now_ns() < end)
			busy(1000);
		__atomic_store_n(&hog_state, HOG_IDLE, __ATOMIC_RELEASE);
	}
}

static void hog_signal(void)
{
	uint64_t one = 1;

	if (write(hog_fd, &one, sizeof(one)) != sizeof(one))
		die("hog write");
}

/* Yield until the hog's state is @state: both threads share one CPU, the
 * hog runs when this thread lets it. */
static void hog_wait(int state)
{
	while (__atomic_load_n(&hog_state, __ATOMIC_ACQUIRE) != state)
		sched_yield();
}

static void usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of tests/programs/inject.c\n");
	exit(2);
}

struct seen {
	uint64_t lost_ns, chunk_ns, outer_ns, work_ns;
	int injected, cpu_begin, cpu_end;
};

int main(int argc, char **argv)
{
	long iterations = 400, units = 0, pages = 0, sleep_us = 0, at[MAX_AT];
	double work_us = 75, work_factor = 0;
	int at_count = 0, use_hog = 0, hog_process = 0, migrate = 0, cpus[2], ncpus = 0, cur;
	pid_t hog_pid = -1;
	const char *region = "step", *log_path = NULL;
	cpu_set_t allowed;
	pthread_t hog_thread;
	struct seen *seen;
	uint64_t t0, t1, t_outer;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--hog-process")) {
			use_hog = hog_process = 1;
			continue;
		}
		if (!strcmp(a, "--hog")) {
			use_hog = 1;
			continue;
		}
		if (!strcmp(a, "--migrate")) {
			migrate = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "-n"))
			iterations = atol(v);
		else if (!strcmp(a, "--work-us"))
			work_us = atof(v);
		else if (!strcmp(a, "--units"))
			units = atol(v);
		else if (!strcmp(a, "--at")) {
			at_count = parse_at(v, at, MAX_AT);
			if (at_count < 0)
				usage();
		} else if (!strcmp(a, "--pages"))
			pages = atol(v);
		else if (!strcmp(a, "--sleep-us"))
			sleep_us = atol(v);
		else if (!strcmp(a, "--hog-ms"))
			hog_ms = atol(v);
		else if (!strcmp(a, "--work-factor"))
			work_factor = atof(v);
		else if (!strcmp(a, "--region"))
			region = v;
		else if (!strcmp(a, "--log"))
			log_path = v;
		else
			usage();
	}
	if (iterations < 1 || work_us <= 0 || units < 0 || pages < 0 || sleep_us < 0 ||
	    hog_ms < 1 || work_factor < 0)
		usage();
	seen = calloc((size_t)iterations, sizeof(*seen));
	if (!seen)
		die("calloc");

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[ncpus++] = c;
	if (migrate && ncpus < 2) {
		fprintf(stderr, "inject: --migrate needs two allowed CPUs\n");
		return 3;
	}
	cur = 0;
	pin(cpus[cur]);
	if (!units)
		units = calibrate(work_us * 1000);
	/* The first pages a process touches may cost the hypervisor a fault of
	 * its own each (memory the guest gave back to the host): fault the
	 * same amount in and out a few times first, so that each injection
	 * gets pages of the same kind from the kernel's free lists. */
	for (int k = 0; pages && k < 3; k++)
		touch_pages(pages);
	if (use_hog) {
		hog_cpu = cpus[cur];
		hog_fd = eventfd(0, EFD_CLOEXEC);
		if (hog_fd < 0)
			die("eventfd");
		hs = mmap(NULL, sizeof(*hs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			  -1, 0);
		if (hs == MAP_FAILED)
			die("mmap");
		if (hog_process) {
			hog_pid = fork();
			if (hog_pid < 0)
				die("fork");
			if (hog_pid == 0) {
				hog(NULL);
				_exit(0);
			}
		} else if (pthread_create(&hog_thread, NULL, hog, NULL)) {
			die("pthread_create");
		}
	}

	t0 = now_ns();
	for (long i = 1; i <= iterations; i++) {
		int inject = is_at(at, at_count, i);

		chunk_count = 0;
		work_ns = 0;
		seen[i - 1].cpu_begin = sched_getcpu();
		t_outer = now_ns();
		iterprof_iter_begin(region);
		work(units / 2);
		if (inject) {
			if (use_hog) {
				/* wake the hog and let it have the CPU: this
				 * thread stays runnable and waits behind it */
				__atomic_store_n(&hog_stop, 0, __ATOMIC_RELEASE);
				hog_signal();
				hog_wait(HOG_SPINNING);
			}
			if (pages)
				touch_pages(pages);
			if (sleep_us) {
				struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };

				while (nanosleep(&ts, &ts) && errno == EINTR)
					;
			}
			if (migrate) {
				cur = !cur;
				pin(cpus[cur]);
			}
			if (work_factor > 1)
				work((long)((work_factor - 1) * (double)units));
		}
		work(units - units / 2);
		iterprof_iter_end(region);
		seen[i - 1].outer_ns = now_ns() - t_outer;
		seen[i - 1].cpu_end = sched_getcpu();
		seen[i - 1].work_ns = work_ns;
		if (inject && use_hog) {
			__atomic_store_n(&hog_stop, 1, __ATOMIC_RELEASE);
			hog_wait(HOG_IDLE);
		}
		seen[i - 1].injected = inject;
		chunk_summary(&seen[i - 1].chunk_ns, &seen[i - 1].lost_ns);
	}
	t1 = now_ns();

	if (use_hog) {
		__atomic_store_n(&hog_exit, 1, __ATOMIC_RELEASE);
		hog_signal();
		if (hog_process)
			waitpid(hog_pid, NULL, 0);
		else
			pthread_join(hog_thread, NULL);
	}
	if (log_path) {
		FILE *f = fopen(log_path, "w");

		if (!f)
			die(log_path);
		for (long i = 0; i < iterations; i++)
			fprintf(f, "%ld %d %llu %llu %llu %llu %d %d\n", i + 1, seen[i].injected,
				(unsigned long long)seen[i].lost_ns,
				(unsigned long long)seen[i].chunk_ns,
				(unsigned long long)seen[i].outer_ns,
				(unsigned long long)seen[i].work_ns, seen[i].cpu_begin,
				seen[i].cpu_end);
		if (fclose(f))
			die(log_path);
	}
	printf("inject: pid %d cpu %d units %ld ns_per_iteration %.0f iterations %ld\n",
	       (int)getpid(), cpus[0], units, (double)(t1 - t0) / (double)iterations, iterations);
	fflush(stdout);
	free(seen);
	return 0;
}

/*
 * sibling_burst: a benchmark whose process has another thread busy on the
 * other core during known iterations, for the other-threads report
 * (tests/e2e/test_sibling_threads.py).
 *
 *   sibling_burst [-n ITERS] [-m MS] [-f FIRST] [-l LAST] [-o LOG]
 *
 *   -n  iterations of region "step" (default 50)
 *   -m  each iteration spins MS ms of wall time (default 30)
 *   -f, -l  1-based first and last iteration (default 20 and 29) during
 *       which the thread "gc-worker" spins; it sleeps the rest of the time
 *   -o  write one line per iteration after the run:
 *           INDEX BEGIN_NS END_NS WORKER_CPU_NS
 *       BEGIN_NS/END_NS: CLOCK_MONOTONIC (the trace's clock) around the
 *       markers; WORKER_CPU_NS: the CPU time gc-worker used between them,
 *       read from its thread CPU clock (the ground truth)
 *
 * The benchmark (the main thread) is pinned to the first allowed CPU and
 * gc-worker to the second: the worker slows nothing, it only runs
 * meanwhile. gc-worker starts, spinning, inside iteration FIRST (after its
 * begin marker) and is stopped, and waited for, inside iteration LAST
 * (before its end marker). It is made and named 150 ms before the loop, for
 * `iterprof record`'s sampler to find it (it looks for new threads every
 * 50 ms), and lives until 50 ms after it (the sampler cannot read a thread
 * that has exited).
 *
 * Exit 0; 2 on bad usage; 3 without a second allowed CPU.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

enum { IDLE, SPIN, EXIT };

static atomic_int command = IDLE;
static atomic_int is_spinning;
static int worker_cpu;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static volatile unsigned long sink;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* this thread */
}

static void set_command(int c)
{
	pthread_mutex_lock(&lock);
	atomic_store(&command, c);
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	(void)arg;
	pin(worker_cpu);
	for (;;) {
		int c;

		pthread_mutex_lock(&lock);
		while ((c = atomic_load(&command)) == IDLE)
			pthread_cond_wait(&wake, &lock);
		pthread_mutex_unlock(&lock);
		if (c == EXIT)
			return NULL;
		atomic_store(&is_spinning, 1);
		while (atomic_load_explicit(&command, memory_order_relaxed) == SPIN)
			for (int i = 0; i < 1000; i++)
				sink += (unsigned long)i;
		atomic_store(&is_spinning, 0);
	}
}

int main(int argc, char **argv)
{
	long iterations = 50, ms = 30, first = 20, last = 29;
	const char *log_path = NULL;
	uint64_t (*seen)[4];
	clockid_t worker_clock;
	pthread_t thread;
	cpu_set_t allowed;
	int cpus[2], found = 0, c;

	while ((c = getopt(argc, argv, "n:m:f:l:o:")) != -1) {
		switch (c) {
		case 'n': iterations = atol(optarg); break;
		case 'm': ms = atol(optarg); break;
		case 'f': first = atol(optarg); break;
		case 'l': last = atol(optarg); break;
		case 'o': log_path = optarg; break;
		default: return 2;
		}
	}
	if (iterations < 1 || ms < 1 || first < 1 || last < first)
		return 2;
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return 3;
	for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
		if (CPU_ISSET(cpu, &allowed))
			cpus[found++] = cpu;
	if (found < 2) {
		fprintf(stderr, "sibling_burst: needs two allowed CPUs\n");
		return 3;
	}
	seen = calloc((size_t)iterations, sizeof(*seen));
	if (!seen)
		return 1;
	pin(cpus[0]);
	worker_cpu = cpus[1];
	if (pthread_create(&thread, NULL, worker, NULL))
		return 1;
	pthread_setname_np(thread, "gc-worker");
	pthread_getcpuclockid(thread, &worker_clock);
	usleep(150000);

	for (long i = 1; i <= iterations; i++) {
		uint64_t begin = clock_ns(CLOCK_MONOTONIC), cpu0 = clock_ns(worker_clock);

		iterprof_iter_begin("step");
		if (i == first)
			set_command(SPIN);
		while (clock_ns(CLOCK_MONOTONIC) - begin < (uint64_t)ms * 1000000u)
			for (int k = 0; k < 1000; k++)
				sink += (unsigned long)k;
		if (i == last) {
			set_command(IDLE);
			while (atomic_load(&is_spinning))
				;
		}
		iterprof_iter_end("step");
		seen[i - 1][0] = (uint64_t)i;
		seen[i - 1][1] = begin;
		seen[i - 1][2] = clock_ns(CLOCK_MONOTONIC);
		seen[i - 1][3] = clock_ns(worker_clock) - cpu0;
	}
	usleep(50000);
	set_command(EXIT);
	pthread_join(thread, NULL);
	if (log_path) {
		FILE *f = fopen(log_path, "w");

		if (!f)
			return 1;
		for (long i = 0; i < iterations; i++)
			fprintf(f, "%llu %llu %llu %llu\n", (unsigned long long)seen[i][0],
				(unsigned long long)seen[i][1], (unsigned long long)seen[i][2],
				(unsigned long long)seen[i][3]);
		fclose(f);
	}
	free(seen);
	return 0;
}

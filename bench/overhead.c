/*
 * Per-iteration cost of the shim against its floor, measured in one run.
 *
 * Run under `iterprof record` (scripts/bench-overhead does). Two loops with
 * empty iteration bodies are timed in alternating blocks, so that the noise
 * of a shared VM (bimodal syscall costs that persist for seconds, see
 * ../shared/reference/costs.md) falls on both alike:
 *   floor: what any per-iteration reader of these counters must do: a group
 *          read and a clock read at begin, a clock read and a group read at
 *          end, on a group of the same five software events and, where
 *          the shim reads them too (root, tracefs), the two irq
 *          tracepoints;
 *   shim:  iterprof_iter_begin() + iterprof_iter_end().
 * Prints ns per iteration of each (median over blocks) and the ratio
 * shim / floor (median of the per-pair ratios).
 *
 *   overhead [BLOCKS [ITERATIONS_PER_BLOCK]]
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

#include "bench-util.h"

static const uint32_t events[] = {
	PERF_COUNT_SW_PAGE_FAULTS_MIN, PERF_COUNT_SW_TASK_CLOCK, PERF_COUNT_SW_PAGE_FAULTS_MAJ,
	PERF_COUNT_SW_CONTEXT_SWITCHES, PERF_COUNT_SW_CPU_MIGRATIONS,
};
#define NEVENTS (sizeof(events) / sizeof(events[0]))
#define MAX_EVENTS (NEVENTS + 2)

static size_t nevents;

/* The id of tracepoint @name ("irq/softirq_entry"), or -1. */
static long tracepoint_id(const char *name)
{
	char path[128];
	long id = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &id) != 1)
			id = -1;
		fclose(f);
	}
	return id;
}

static int open_group(int exclude_kernel)
{
	long tp[2] = { exclude_kernel ? -1 : tracepoint_id("irq/irq_handler_entry"),
		       exclude_kernel ? -1 : tracepoint_id("irq/softirq_entry") };
	int leader = -1;

	nevents = 0;
	for (size_t i = 0; i < MAX_EVENTS; i++) {
		struct perf_event_attr attr;
		int fd;

		if (i >= NEVENTS && tp[i - NEVENTS] < 0)
			break;
		memset(&attr, 0, sizeof(attr));
		attr.size = sizeof(attr);
		attr.type = i < NEVENTS ? PERF_TYPE_SOFTWARE : PERF_TYPE_TRACEPOINT;
		attr.config = i < NEVENTS ? events[i] : (uint64_t)tp[i - NEVENTS];
		attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED |
				   PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID;
		attr.exclude_kernel = exclude_kernel;
		attr.exclude_hv = 1;
		fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, leader, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && i >= NEVENTS)
			break; /* the shim could not open them either */
		if (fd < 0)
			return -errno;
		if (i == 0)
			leader = fd;
		nevents++;
	}
	return leader;
}

static volatile uint64_t sink;

static double floor_block(int leader, long n)
{
	uint64_t buf[3 + 2 * MAX_EVENTS];
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		uint64_t begin, end;

		if (read(leader, buf, sizeof(buf)) < 0)
			abort();
		begin = bench_now_ns();
		end = bench_now_ns();
		if (read(leader, buf, sizeof(buf)) < 0)
			abort();
		sink += end - begin + buf[3];
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double shim_block(long n)
{
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		iterprof_iter_begin("overhead");
		iterprof_iter_end("overhead");
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	int blocks = argc > 1 ? atoi(argv[1]) : 21;
	long per_block = argc > 2 ? atol(argv[2]) : 20000;
	double *floor_ns, *shim_ns, *ratio;
	int leader = open_group(0);

	if (leader < 0)
		leader = open_group(1);
	if (leader < 0) {
		fprintf(stderr, "overhead: perf_event_open: %s\n", strerror(-leader));
		return 1;
	}
	if (!dlsym(RTLD_DEFAULT, "iterprof_iter_begin")) {
		fprintf(stderr, "overhead: the shim is not loaded: run under iterprof record\n");
		return 1;
	}
	if (blocks < 1 || per_block < 1) {
		fprintf(stderr, "usage: overhead [BLOCKS [ITERATIONS_PER_BLOCK]]\n");
		return 2;
	}
	floor_ns = calloc((size_t)blocks, sizeof(double));
	shim_ns = calloc((size_t)blocks, sizeof(double));
	ratio = calloc((size_t)blocks, sizeof(double));
	if (!floor_ns || !shim_ns || !ratio)
		return 1;
	/* Warm up both paths (page faults of the trace, thread setup). */
	floor_block(leader, per_block / 10 + 1);
	shim_block(per_block / 10 + 1);
	for (int b = 0; b < blocks; b++) {
		/* Alternate which goes first, so neither always follows the other. */
		if (b % 2) {
			shim_ns[b] = shim_block(per_block);
			floor_ns[b] = floor_block(leader, per_block);
		} else {
			floor_ns[b] = floor_block(leader, per_block);
			shim_ns[b] = shim_block(per_block);
		}
		ratio[b] = shim_ns[b] / floor_ns[b];
	}
	printf("floor (2 group reads of %zu events + 2 clock reads): %.0f ns/iteration\n",
	       nevents, bench_median(floor_ns, blocks));
	printf("shim  (iterprof_iter_begin + iterprof_iter_end):        %.0f ns/iteration\n",
	       bench_median(shim_ns, blocks));
	printf("ratio shim/floor: %.3f (median of %d paired blocks of %ld iterations)\n",
	       bench_median(ratio, blocks), blocks, per_block);
	return 0;
}

/*
 * user-read-cost: the instructions the shim's hardware fast path executes,
 * exactly, in the arm64 QEMU guest (check "user-read-cost").
 *
 *   user-read-cost [ITERATIONS]      (default 10000)
 *
 * Opens 4 hardware events as one group the way the shim does (user-mode
 * instructions, cycles, and the same two as raw PMU events, each with the
 * arm64 "rdpmc" bit), maps their pages, and counts its own user-mode
 * instructions with a fifth event around ITERATIONS x (one group read at
 * begin + one at end) through preload/user-read.h, the code the shim runs.
 * Also checks that every user-space reading equals a read() of the group
 * right after it, up to the instructions between the two, and prints:
 *
 *   user-read-cost: 4 counters, N instructions per iteration (begin + end),
 *   M per group read; read() path agrees
 *
 * Needs kernel.perf_user_access=1 (the check sets it). Exit 0, or 1 with
 * the reason on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "user-read.h"

#define EVENTS 4

/* user-read.c reads /proc with the shim's helper. */
ssize_t sysinfo_read_file(const char *path, char *buf, size_t size);
ssize_t sysinfo_read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (ssize_t)n;
}

static int open_event(uint32_t type, uint64_t config, int group)
{
	struct perf_event_attr attr = itp_perf_attr(type, config, UINT64_C(1) << 1, 0, 0, 1);

	return itp_perf_open_self(&attr, group, 0);
}

/* Kept out of line so the compiler cannot merge or hoist the reads. */
static void __attribute__((noinline))
read_twice(const struct perf_event_mmap_page *const *pages, uint64_t *begin, uint64_t *end,
	   struct user_read_times *tb, struct user_read_times *te, int *err)
{
	*err |= user_read_group(pages, EVENTS, begin, tb);
	*err |= user_read_group(pages, EVENTS, end, te);
}

static void __attribute__((noinline)) nothing(const struct perf_event_mmap_page *const *pages,
					      uint64_t *begin, uint64_t *end,
					      struct user_read_times *tb,
					      struct user_read_times *te, int *err)
{
	(void)pages, (void)begin, (void)end, (void)tb, (void)te, (void)err;
	__asm__ __volatile__("" ::: "memory");
}

int main(int argc, char **argv)
{
	static const struct {
		uint32_t type;
		uint64_t config;
	} events[EVENTS] = {
		{ PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
		{ PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
		{ PERF_TYPE_RAW, 0x08 }, /* INST_RETIRED */
		{ PERF_TYPE_RAW, 0x11 }, /* CPU_CYCLES, on a general counter */
	};
	long iterations = argc > 1 ? atol(argv[1]) : 10000;
	const struct perf_event_mmap_page *pages[EVENTS];
	int fds[EVENTS], own, err = 0;
	uint64_t begin[EVENTS], end[EVENTS], own0, own1, own2;
	struct user_read_times tb, te;
	struct perf_event_attr attr;

	for (int i = 0; i < EVENTS; i++) {
		fds[i] = open_event(events[i].type, events[i].config, i ? fds[0] : -1);
		pages[i] = fds[i] >= 0 ? user_read_map(fds[i]) : NULL;
		if (!user_read_is_usable(pages[i])) {
			fprintf(stderr, "user-read-cost: event %d: %s\n", i,
				fds[i] < 0 ? strerror(errno) : "no user-space access (cap_user_rdpmc)");
			return 1;
		}
	}
	attr = itp_perf_attr(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0, 0, 0, 1);
	attr.read_format = 0;
	attr.size = sizeof(attr);
	own = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (own < 0) {
		perror("user-read-cost: perf_event_open");
		return 1;
	}

	/* Agreement: a user-space reading, then read() of the group; the
	 * latter may only be larger by the few instructions in between. */
	for (int rep = 0; rep < 100; rep++) {
		ITP_PERF_GROUP_READ(EVENTS) buf;

		err |= user_read_group(pages, EVENTS, begin, &tb);
		if (read(fds[0], &buf, sizeof(buf)) < (ssize_t)(3 + 2 * EVENTS) * 8) {
			perror("user-read-cost: read");
			return 1;
		}
		for (int i = 0; i < EVENTS; i++) {
			if (buf.values[i].value < begin[i] || buf.values[i].value > begin[i] + 200) {
				fprintf(stderr,
					"user-read-cost: event %d: user space read %llu, read() "
					"%llu\n",
					i, (unsigned long long)begin[i],
					(unsigned long long)buf.values[i].value);
				return 1;
			}
		}
	}

	if (read(own, &own0, 8) != 8)
		return 1;
	for (long i = 0; i < iterations; i++)
		nothing(pages, begin, end, &tb, &te, &err);
	if (read(own, &own1, 8) != 8)
		return 1;
	for (long i = 0; i < iterations; i++)
		read_twice(pages, begin, end, &tb, &te, &err);
	if (read(own, &own2, 8) != 8)
		return 1;
	if (err) {
		fprintf(stderr, "user-read-cost: a user-space read was refused (-EAGAIN)\n");
		return 1;
	}
	double per = ((double)(own2 - own1) - (double)(own1 - own0)) / (double)iterations;
	printf("user-read-cost: %d counters, %.1f instructions per iteration (begin + end), "
	       "%.1f per group read; read() path agrees\n",
	       EVENTS, per, per / 2);
	return 0;
}

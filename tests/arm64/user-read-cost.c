/*
 * user-read-cost: the instructions the shim's hardware fast path executes,
 * exactly, in the arm64 QEMU guest (check "user-read-cost").
 *
 *   user-read-cost [ITERATIONS [32]]      (default 10000, 64-bit counters)
 *
 * Built with the shim's own events.c, user-read.c, config.c and sysinfo.c (and its
 * compiler flags), it sets up 4 hardware events the way the shim does
 * (events_probe, events_open: user-mode instructions, cycles, and the same
 * two as raw PMU events, asking for 64-bit counters read in user space, or,
 * with 32, for the PMU's 32-bit event counters, read with sign extension),
 * then counts its own user-mode instructions with a fifth event around
 * ITERATIONS x (events_read at begin + events_read at end): the function
 * the shim calls at every iteration begin and end. It also checks that each
 * reading equals a read() of the group right after it, up to the
 * instructions in between, and prints:
 *
 *   user-read-cost: 4 counters (widths 64 64 64 64), N instructions per
 *   iteration (begin + end), M per read; read() path agrees
 *
 * Needs kernel.perf_user_access=1 (the check sets it). Exit 0, or 1 with
 * the reason on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "iterprof/trace-format.h"
#include "shim.h"
#include "user-read.h"

#define EVENTS 4

/* Kept out of line so the compiler cannot merge or hoist the reads. */
static void __attribute__((noinline))
read_twice(const struct thread_counters *tc, struct counter_snapshot *begin,
	   struct counter_snapshot *end)
{
	events_read(tc, begin);
	events_read(tc, end);
}

static void __attribute__((noinline))
nothing(const struct thread_counters *tc, struct counter_snapshot *begin,
	struct counter_snapshot *end)
{
	(void)tc, (void)begin, (void)end;
	__asm__ __volatile__("" ::: "memory");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint32_t type;
		uint64_t config;
	} events[EVENTS] = {
		{ "instructions:u", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
		{ "cycles:u", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
		{ "r08:u", PERF_TYPE_RAW, 0x08 }, /* INST_RETIRED */
		{ "r11:u", PERF_TYPE_RAW, 0x11 }, /* CPU_CYCLES, on a general counter */
	};
	static uint8_t header[ITP_HEADER_SIZE];
	static struct thread_counters tc;
	static struct counter_snapshot begin, end;
	long iterations = argc > 1 ? atol(argv[1]) : 10000;
	bool is_32 = argc > 2 && !strcmp(argv[2], "32");
	char widths[64] = "";
	uint64_t own0, own1, own2;
	struct perf_event_attr attr;
	int own;

	/* What the launcher would pass (ITERPROF_EVENTS), for config_load. */
	shim_config.has_counters = true;
	shim_config.is_no_long_counters = is_32;
	shim_config.event_count = EVENTS;
	for (int i = 0; i < EVENTS; i++) {
		struct shim_event *ev = &shim_config.events[i];

		snprintf(ev->name, sizeof(ev->name), "%s", events[i].name);
		ev->type = events[i].type;
		ev->config = events[i].config;
		ev->exclude_kernel = ev->is_mode_given = true;
	}
	events_probe(header);
	events_open(&tc);
	for (int i = 0; i < EVENTS; i++) {
		const struct perf_event_mmap_page *page = tc.event_page[i];

		if (tc.event_fd[i] < 0 || !user_read_is_usable(page)) {
			fprintf(stderr, "user-read-cost: event %s: %s\n", events[i].name,
				tc.event_fd[i] < 0 ? "did not open"
						   : "no user-space access (cap_user_rdpmc)");
			return 1;
		}
		snprintf(widths + strlen(widths), sizeof(widths) - strlen(widths), "%s%u",
			 i ? " " : "", page->pmc_width);
	}
	if (tc.group_read[0] != (is_32 ? USER_READ_EXTEND : USER_READ_64) ||
	    tc.fast_kind != (is_32 ? 8 | EVENTS : EVENTS)) {
		fprintf(stderr, "user-read-cost: counter widths %s: not the %s path\n", widths,
			is_32 ? "sign-extending fast" : "64-bit fast");
		return 1;
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

		events_read(&tc, &begin);
		if (begin.event_state[0] != EVENTS_TIMES_EQUAL) {
			fprintf(stderr, "user-read-cost: not read in user space (state %u)\n",
				begin.event_state[0]);
			return 1;
		}
		if (read(tc.event_fd[0], &buf, sizeof(buf)) < (ssize_t)(3 + 2 * EVENTS) * 8) {
			perror("user-read-cost: read");
			return 1;
		}
		for (int i = 0; i < EVENTS; i++) {
			if (buf.values[i].value < begin.event[i] ||
			    buf.values[i].value > begin.event[i] + 200) {
				fprintf(stderr,
					"user-read-cost: event %s: user space read %llu, read() "
					"%llu\n",
					events[i].name, (unsigned long long)begin.event[i],
					(unsigned long long)buf.values[i].value);
				return 1;
			}
		}
	}

	if (read(own, &own0, 8) != 8)
		return 1;
	for (long i = 0; i < iterations; i++)
		nothing(&tc, &begin, &end);
	if (read(own, &own1, 8) != 8)
		return 1;
	for (long i = 0; i < iterations; i++)
		read_twice(&tc, &begin, &end);
	if (read(own, &own2, 8) != 8)
		return 1;
	if (begin.event_state[0] != EVENTS_TIMES_EQUAL || end.event_state[0] != EVENTS_TIMES_EQUAL) {
		fprintf(stderr, "user-read-cost: a reading was not in user space\n");
		return 1;
	}
	double per = ((double)(own2 - own1) - (double)(own1 - own0)) / (double)iterations;
	printf("user-read-cost: %d counters (widths %s), %.1f instructions per iteration "
	       "(begin + end), %.1f per read; read() path agrees\n",
	       EVENTS, widths, per, per / 2);
	return 0;
}

/*
 * The out-of-line part of user-space counter reads (user-read.h): mapping
 * the pages, whether the kernel allows the reads, the time conversion.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "shim.h"
#include "user-read.h"

bool user_read_no_user_time;

const struct perf_event_mmap_page *user_read_map(int fd)
{
	/* Only the first page: the control page, without a ring buffer (the
	 * kernel accepts a mapping of exactly one page for that). Read-only:
	 * a writable mapping would ask for a ring buffer's data_tail. */
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void user_read_unmap(const struct perf_event_mmap_page *page)
{
	if (page)
		munmap((void *)page, (size_t)sysconf(_SC_PAGESIZE));
}

bool user_read_is_allowed(void)
{
	/* On arm64 without perf_user_access the page may still say
	 * cap_user_rdpmc while index stays 0 on a running event, and offset
	 * alone would be a stale count: the sysctl decides, not the page. */
	return itp_user_read_allowed(NULL, 0);
}

bool user_read_pmu_wants_rdpmc_bit(uint32_t type)
{
	char path[300], buf[32];
	struct dirent *entry;
	bool found = false;
	DIR *dir;

	if (type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE || type == PERF_TYPE_RAW)
		return true; /* the CPU's PMU */
	dir = opendir("/sys/bus/event_source/devices");
	if (!dir)
		return false;
	while (!found && (entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/type",
			 entry->d_name);
		if (sysinfo_read_file(path, buf, sizeof(buf)) <= 0 ||
		    strtoul(buf, NULL, 10) != type)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/format/rdpmc",
			 entry->d_name);
		found = sysinfo_read_file(path, buf, sizeof(buf)) > 0 &&
			!strncmp(buf, "config1:1", 9) && (buf[9] == '\n' || buf[9] == '\0');
		break;
	}
	closedir(dir);
	return found;
}

bool user_read_is_usable(const struct perf_event_mmap_page *page)
{
	const volatile struct perf_event_mmap_page *pc = page;

	return USER_READ_HAS_PMC && pc && pc->cap_user_rdpmc && pc->pmc_width > 0 &&
	       pc->pmc_width <= 64;
}

int user_read_times_now(const volatile struct perf_event_mmap_page *pc, uint32_t index,
			struct user_read_times *t)
{
#if USER_READ_HAS_PMC
	uint64_t cycles, quot, rem, delta;
	uint16_t shift;
	uint32_t mult;

	if (!pc->cap_user_time || user_read_no_user_time) {
		/* Never multiplexed and on a counter now: enabled == running
		 * is all there is to know, and all that is needed. */
		if (index == 0 || t->enabled != t->running)
			return -EAGAIN;
		return 0;
	}
	cycles = user_read_cycles();
	shift = pc->time_shift;
	mult = pc->time_mult;
	if (pc->cap_user_time_short) {
		/* The conversion holds for time_mask + 1 cycles after
		 * time_cycles (a counter narrower than 64 bits). */
		cycles = pc->time_cycles + ((cycles - pc->time_cycles) & pc->time_mask);
	}
	if (shift >= 32)
		return -EAGAIN; /* rem * mult below would overflow */
	quot = cycles >> shift;
	rem = cycles & ((UINT64_C(1) << shift) - 1);
	delta = pc->time_offset + quot * mult + ((rem * mult) >> shift);
	t->enabled += delta;
	if (index)
		t->running += delta;
	t->is_exact = true;
	return 0;
#else
	(void)pc;
	(void)index;
	(void)t;
	return -EAGAIN;
#endif
}

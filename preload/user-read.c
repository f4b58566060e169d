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

/* Whether @pmu's format attribute @name is exactly @want ("config1:1"). */
static bool format_is(const char *pmu, const char *name, const char *want)
{
	char path[300], buf[32];
	size_t len = strlen(want);

	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/format/%s", pmu, name);
	return sysinfo_read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf, want, len) &&
	       (buf[len] == '\n' || buf[len] == '\0');
}

uint64_t user_read_pmu_config1(uint32_t type)
{
	char path[300], buf[32];
	struct dirent *entry;
	uint64_t bits = 0;
	DIR *dir;

	if (type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE || type == PERF_TYPE_RAW)
		return USER_READ_CONFIG1_RDPMC | USER_READ_CONFIG1_LONG; /* the CPU's PMU */
	dir = opendir("/sys/bus/event_source/devices");
	if (!dir)
		return 0;
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/type",
			 entry->d_name);
		if (sysinfo_read_file(path, buf, sizeof(buf)) <= 0 ||
		    strtoul(buf, NULL, 10) != type)
			continue;
		if (format_is(entry->d_name, "rdpmc", "config1:1"))
			bits = USER_READ_CONFIG1_RDPMC |
			       (format_is(entry->d_name, "long", "config1:0")
					? USER_READ_CONFIG1_LONG
					: 0);
		break;
	}
	closedir(dir);
	return bits;
}

bool user_read_is_usable(const struct perf_event_mmap_page *page)
{
	const volatile struct perf_event_mmap_page *pc = page;

	return USER_READ_HAS_PMC && pc && pc->cap_user_rdpmc && pc->pmc_width > 0 &&
	       pc->pmc_width <= 64;
}

#if USER_READ_HAS_PMC
/* The leader's times advanced to now (cap_user_time), inside the seqlock:
 * 0, or -EAGAIN. */
static int times_now(const volatile struct perf_event_mmap_page *pc, uint32_t index,
		     uint64_t *times)
{
	uint64_t cycles, quot, rem, delta;
	uint16_t shift;
	uint32_t mult;

	if (!pc->cap_user_time || user_read_no_user_time)
		return -EAGAIN;
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
	times[0] += delta;
	if (index)
		times[1] += delta;
	return 0;
}
#endif

int user_read_group_timed(const struct perf_event_mmap_page *const *pages, unsigned n,
			  uint64_t *values, uint64_t *times)
{
#if USER_READ_HAS_PMC
	const volatile struct perf_event_mmap_page *pc = pages[0];
	uint32_t seq, index, ignored;
	uint64_t count;

	if (n < 1 || n > 4)
		return -EINVAL;
	do {
		seq = pc->lock;
		user_read_barrier();
		if (!pc->cap_user_rdpmc)
			return -EAGAIN;
		times[0] = pc->time_enabled;
		times[1] = pc->time_running;
		count = user_read_value(pc, USER_READ_EXTEND, &index);
		if ((index == 0 || times[0] != times[1]) && times_now(pc, index, times))
			return -EAGAIN;
		user_read_barrier();
	} while (pc->lock != seq);
	values[0] = count;
	for (unsigned i = 1; i < n; i++) {
		const volatile struct perf_event_mmap_page *m = pages[i];

		do {
			seq = m->lock;
			user_read_barrier();
			count = user_read_value(m, USER_READ_EXTEND, &ignored);
			user_read_barrier();
		} while (m->lock != seq);
		values[i] = count;
	}
	return 0;
#else
	(void)pages;
	(void)n;
	(void)values;
	(void)times;
	return -EAGAIN;
#endif
}

#if defined(__aarch64__)
/*
 * The counter registers by page index (user-read.h): 256 slots, called with
 * blr, each "mrs x0, <register>; ret" (with a BTI landing pad first when the
 * build asks for branch protection, which makes the slot 16 bytes).
 */
#if USER_READ_SLOT_SHIFT == 4
#define SLOT_HEAD "hint #34\n\t" /* bti c */
#define SLOT_TAIL "\n\tret\n\tnop\n\t"
#else
#define SLOT_HEAD ""
#define SLOT_TAIL "\n\tret\n\t"
#endif
#define SLOT_ZERO SLOT_HEAD "mov x0, #0" SLOT_TAIL
#define SLOT_EV(n) SLOT_HEAD "mrs x0, pmevcntr" #n "_el0" SLOT_TAIL
__asm__(".pushsection .text.user_read_pmc_table, \"ax\", %progbits\n\t"
	".balign 16\n\t"
	".globl user_read_pmc_table\n\t"
	".hidden user_read_pmc_table\n\t"
	".type user_read_pmc_table, %function\n"
	"user_read_pmc_table:\n\t"
	SLOT_ZERO
	SLOT_EV(0) SLOT_EV(1) SLOT_EV(2) SLOT_EV(3) SLOT_EV(4) SLOT_EV(5) SLOT_EV(6)
	SLOT_EV(7) SLOT_EV(8) SLOT_EV(9) SLOT_EV(10) SLOT_EV(11) SLOT_EV(12) SLOT_EV(13)
	SLOT_EV(14) SLOT_EV(15) SLOT_EV(16) SLOT_EV(17) SLOT_EV(18) SLOT_EV(19) SLOT_EV(20)
	SLOT_EV(21) SLOT_EV(22) SLOT_EV(23) SLOT_EV(24) SLOT_EV(25) SLOT_EV(26) SLOT_EV(27)
	SLOT_EV(28) SLOT_EV(29) SLOT_EV(30)
	SLOT_HEAD "mrs x0, pmccntr_el0" SLOT_TAIL
	".rept 223\n\t" SLOT_ZERO ".endr\n\t"
	".size user_read_pmc_table, . - user_read_pmc_table\n\t"
	".popsection");
#endif

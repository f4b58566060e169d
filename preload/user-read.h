/*
 * Hardware counters read in user space, without a syscall: the kernel
 * publishes each perf event's state in its mmap page (struct
 * perf_event_mmap_page), and when the event sits on a PMU counter that user
 * mode may read (cap_user_rdpmc), its value is page->offset + the counter
 * register (rdpmc on x86-64, PMEVCNTR<n>_EL0 / PMCCNTR_EL0 on arm64),
 * sign-extended from the counter's width (pmc_width), all under the page's
 * seqlock (page->lock changes whenever the kernel moves, reprograms or
 * re-bases the counter: a context switch, a migration, a multiplexing
 * rotation, an overflow interrupt).
 *
 * That protocol is what makes 32-bit counters, overflow and migration safe:
 * the kernel keeps page->offset such that offset + sign_extend(register) is
 * the 64-bit total whatever the register's width, updates it (bumping lock)
 * on every overflow interrupt and every time the event is scheduled in, so
 * a read interrupted by any of these retries, and two reads on different
 * CPUs are both totals of the same 64-bit count.
 *
 * Enabled and running times come from the leader's page (members are
 * scheduled with their leader, so the group shares them), and are only
 * worked out when they can differ: once the group has been multiplexed
 * (time_enabled != time_running on the page) or is off the PMU now (index
 * 0), they are advanced to now with the page's cycles-to-ns conversion
 * (cap_user_time; without it the group is read with read()). Before that,
 * enabled and running advance together, and the reading says only that
 * (is_exact false): no scaling is needed, and none is done with inexact
 * times (events.c marks the one iteration in which multiplexing starts as
 * not counted rather than scaling it wrongly).
 *
 * Everything here is inline: it runs twice per iteration, and every
 * instruction of it is counted by the counters it reads (the goal is to
 * execute as few as the hardware allows: see doc/events.md for the figure).
 */
#ifndef ITERPROF_USER_READ_H
#define ITERPROF_USER_READ_H

#include <errno.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>

#define user_read_barrier() __asm__ __volatile__("" ::: "memory")

#if defined(__x86_64__) || defined(__aarch64__)
#define USER_READ_HAS_PMC 1
#else
#define USER_READ_HAS_PMC 0
#endif

/* The times of one group reading (user_read_group). */
struct user_read_times {
	uint64_t enabled, running;
	bool is_exact; /* false: valid only as enabled == running (see above) */
};

#if defined(__x86_64__)
/* The counter of the page's index (index - 1 is rdpmc's). */
static inline __attribute__((always_inline)) uint64_t user_read_register_at(uint32_t page_index)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdpmc" : "=a"(lo), "=d"(hi) : "c"(page_index - 1));
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t user_read_cycles(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
#elif defined(__aarch64__)
/*
 * PMEVCNTR<n>_EL0 has no indexed form (PMSELR_EL0 + PMXEVCNTR_EL0 would be,
 * but PMSELR is shared with the kernel, and an interrupt between the two
 * would not show in the seqlock): a branch into a table of "mrs; b" pairs,
 * 6 instructions for any counter where a switch costs up to 12. Table slot
 * i is the page's index i: 1-31 are PMEVCNTR0-30, 32 the cycle counter
 * PMCCNTR; anything else (0 and 33-63: never given by the kernel) reads 0.
 * The shim is not built with branch protection, so its pages are not BTI
 * guarded and the table needs no landing pads.
 */
#define USER_READ_SLOT_EV(n) "mrs %0, pmevcntr" #n "_el0\n\tb 2f\n\t"
#define USER_READ_SLOT_ZERO "mov %0, #0\n\tb 2f\n\t"
#define USER_READ_SLOTS_ZERO4 USER_READ_SLOT_ZERO USER_READ_SLOT_ZERO USER_READ_SLOT_ZERO \
	USER_READ_SLOT_ZERO
static inline __attribute__((always_inline)) uint64_t user_read_register_at(uint32_t page_index)
{
	uint64_t v, slot;

	__asm__ __volatile__("and %w1, %w2, #63\n\t"
			     "adr %0, 1f\n\t"
			     "add %1, %0, %1, lsl #3\n\t"
			     "br %1\n"
			     "1:\t" USER_READ_SLOT_ZERO
			     USER_READ_SLOT_EV(0) USER_READ_SLOT_EV(1) USER_READ_SLOT_EV(2)
			     USER_READ_SLOT_EV(3) USER_READ_SLOT_EV(4) USER_READ_SLOT_EV(5)
			     USER_READ_SLOT_EV(6) USER_READ_SLOT_EV(7) USER_READ_SLOT_EV(8)
			     USER_READ_SLOT_EV(9) USER_READ_SLOT_EV(10) USER_READ_SLOT_EV(11)
			     USER_READ_SLOT_EV(12) USER_READ_SLOT_EV(13) USER_READ_SLOT_EV(14)
			     USER_READ_SLOT_EV(15) USER_READ_SLOT_EV(16) USER_READ_SLOT_EV(17)
			     USER_READ_SLOT_EV(18) USER_READ_SLOT_EV(19) USER_READ_SLOT_EV(20)
			     USER_READ_SLOT_EV(21) USER_READ_SLOT_EV(22) USER_READ_SLOT_EV(23)
			     USER_READ_SLOT_EV(24) USER_READ_SLOT_EV(25) USER_READ_SLOT_EV(26)
			     USER_READ_SLOT_EV(27) USER_READ_SLOT_EV(28) USER_READ_SLOT_EV(29)
			     USER_READ_SLOT_EV(30)
			     "mrs %0, pmccntr_el0\n\tb 2f\n\t"
			     USER_READ_SLOTS_ZERO4 USER_READ_SLOTS_ZERO4 USER_READ_SLOTS_ZERO4
			     USER_READ_SLOTS_ZERO4 USER_READ_SLOTS_ZERO4 USER_READ_SLOTS_ZERO4
			     USER_READ_SLOTS_ZERO4 USER_READ_SLOT_ZERO USER_READ_SLOT_ZERO
			     USER_READ_SLOT_ZERO
			     "2:"
			     : "=&r"(v), "=&r"(slot)
			     : "r"(page_index));
	return v;
}

static inline uint64_t user_read_cycles(void)
{
	uint64_t v;

	/* The kernel's sched_clock on arm64 is the virtual counter. */
	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
}
#endif

/* Map the mmap page of perf event @fd; NULL when it cannot be mapped. */
const struct perf_event_mmap_page *user_read_map(int fd);
/* Unmap what user_read_map returned (NULL: nothing). */
void user_read_unmap(const struct perf_event_mmap_page *page);
/* Whether the kernel lets this process read hardware counters in user
 * space at all (arm64: kernel.perf_user_access; x86: the cpu PMU's rdpmc
 * attribute). Read once per process. */
bool user_read_is_allowed(void);
/* arm64: whether events of PMU @type take the "rdpmc" format bit (config1
 * bit 1) that asks for user-space access: the CPU PMU's generic types, or a
 * sysfs PMU whose format/rdpmc says config1:1. */
bool user_read_pmu_wants_rdpmc_bit(uint32_t type);
/* Whether the event of @page can be read by user_read_group now. */
bool user_read_is_usable(const struct perf_event_mmap_page *page);
/* The times of @page advanced to now, when the page has cap_user_time:
 * 0, or -EAGAIN. Called inside the seqlock by user_read_group. */
int user_read_times_now(const volatile struct perf_event_mmap_page *pc, uint32_t index,
			struct user_read_times *t);
/* Tests: behave as if no page had cap_user_time. */
extern bool user_read_no_user_time;

#if USER_READ_HAS_PMC
/* The counter's value sign-extended from the page's width: shifting by
 * -width is shifting by 64 - width (shift counts are taken modulo 64), and
 * by 0 for a 64-bit counter. */
static inline uint64_t user_read_extend(uint64_t value, uint16_t width)
{
	unsigned shift = (unsigned)-width & 63;

	return (uint64_t)((int64_t)(value << shift) >> shift);
}

/* The count now, inside the seqlock, @index read before: the page's offset,
 * plus the counter when the event is on one. */
static inline __attribute__((always_inline)) uint64_t
user_read_value(const volatile struct perf_event_mmap_page *pc, uint32_t index)
{
	uint64_t count = pc->offset;

	if (__builtin_expect(index != 0, 1))
		count += user_read_extend(user_read_register_at(index), pc->pmc_width);
	return count;
}

/* One member's count (the loop of the kernel's documentation of
 * perf_event_mmap_page; the leader checked cap_user_rdpmc for the group). */
static inline __attribute__((always_inline)) uint64_t
user_read_count(const volatile struct perf_event_mmap_page *pc)
{
	uint32_t seq;
	uint64_t count;

	do {
		seq = pc->lock;
		user_read_barrier();
		count = user_read_value(pc, pc->index);
		user_read_barrier();
	} while (pc->lock != seq);
	return count;
}

/*
 * Read a group of @n events (pages[0] its leader) into values[], with the
 * group's times into @t. 0, or -EAGAIN when user space cannot read it now
 * (the caller then uses read()).
 *
 * The times are only worked out when they can differ: while the group has
 * never been multiplexed and is on the PMU now (enabled == running on the
 * page, index set), enabled and running advance together, which is all the
 * caller needs (no scaling); their values are then marked inexact.
 */
static inline __attribute__((always_inline)) int
user_read_group(const struct perf_event_mmap_page *const *pages, unsigned n, uint64_t *values,
		struct user_read_times *t)
{
	const volatile struct perf_event_mmap_page *pc = pages[0];
	uint32_t seq, index;
	uint64_t count;

	do {
		seq = pc->lock;
		user_read_barrier();
		if (__builtin_expect(!pc->cap_user_rdpmc, 0))
			return -EAGAIN;
		index = pc->index;
		t->enabled = pc->time_enabled;
		t->running = pc->time_running;
		t->is_exact = false;
		count = user_read_value(pc, index);
		if (__builtin_expect(index == 0 || t->enabled != t->running, 0)) {
			if (user_read_times_now(pc, index, t))
				return -EAGAIN;
		}
		user_read_barrier();
	} while (pc->lock != seq);
	values[0] = count;
	/* Unrolled: groups have at most 4 events (events.c). */
#pragma GCC unroll 4
	for (unsigned i = 1; i < n; i++)
		values[i] = user_read_count(pages[i]);
	return 0;
}
#endif

#endif

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
 * enabled and running advance together, and the fast path says only that
 * (user_read_group): no scaling is needed, and none is done with times not
 * known (events.c marks the one iteration in which multiplexing
 * starts as not counted rather than scaling it wrongly).
 *
 * On arm64 the events ask for 64-bit counters where the PMU has them
 * (PMUv3p5, config1 "long"), which spares the sign extension (and the
 * overflow interrupts); a group with a narrower counter is read with it.
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

/* How a thread reads a group (chosen once, when it is opened). */
enum {
	USER_READ_NO,      /* read() */
	USER_READ_EXTEND,  /* user space; counters narrower than 64 bits */
	USER_READ_64,      /* user space; every counter 64 bits wide */
};

#if defined(__x86_64__)
/* The counter of the page's index (index - 1 is rdpmc's), 0 for index 0
 * (not on a counter: rdpmc of -1 would fault). */
static inline __attribute__((always_inline)) uint64_t
user_read_counter_at(const volatile struct perf_event_mmap_page *pc, uint32_t *index)
{
	uint32_t lo, hi;

	*index = pc->index;
	if (__builtin_expect(*index == 0, 0))
		return 0;
	__asm__ __volatile__("rdpmc" : "=a"(lo), "=d"(hi) : "c"(*index - 1));
	return (uint64_t)hi << 32 | lo;
}

static inline __attribute__((always_inline)) uint64_t
user_read_add_counter_at(const volatile struct perf_event_mmap_page *pc, uint32_t *index,
			 uint64_t sum)
{
	return sum + user_read_counter_at(pc, index);
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
 * would not show in the seqlock): user_read_pmc_table (user-read.c) holds a
 * "mrs x0, <counter>; ret" slot for each page index, called with blr:
 * 1-31 read PMEVCNTR0-30, 32 the cycle counter PMCCNTR, all else (0: not on
 * a counter) gives 0. The index is loaded as its low byte, so that no value
 * the page may hold can branch outside the table's 256 slots. 5 instructions
 * for any counter, no check of the index needed.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define USER_READ_SLOT_SHIFT 4 /* "bti c; mrs; ret; nop": blr needs a landing pad */
#else
#define USER_READ_SLOT_SHIFT 3
#endif
extern const char user_read_pmc_table[] __attribute__((visibility("hidden")));

/* The table slot of @pc's index, the index (its low byte) into @index. */
static inline __attribute__((always_inline)) const char *
user_read_slot(const volatile struct perf_event_mmap_page *pc, uint32_t *index)
{
	const volatile uint8_t *low = (const volatile uint8_t *)&pc->index;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	low += 3;
#endif
	*index = *low;
	return user_read_pmc_table + ((uintptr_t)*index << USER_READ_SLOT_SHIFT);
}

static inline __attribute__((always_inline)) uint64_t
user_read_counter_at(const volatile struct perf_event_mmap_page *pc, uint32_t *index)
{
	register uint64_t v __asm__("x0");

	__asm__ __volatile__("blr %1" : "=r"(v) : "r"(user_read_slot(pc, index)) : "x30");
	return v;
}

/* @sum + the counter (a 64-bit one: no extension), added in the asm so that
 * the sum needs no move out of x0. */
static inline __attribute__((always_inline)) uint64_t
user_read_add_counter_at(const volatile struct perf_event_mmap_page *pc, uint32_t *index,
			 uint64_t sum)
{
	__asm__ __volatile__("blr %1\n\tadd %0, %0, x0"
			     : "+r"(sum)
			     : "r"(user_read_slot(pc, index))
			     : "x0", "x30");
	return sum;
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
/* arm64: the config1 bits that ask the PMU driver for user-space access,
 * for events of PMU @type: "rdpmc" (bit 1), with "long" (bit 0: a 64-bit
 * counter, which needs no sign extension; a PMU without 64-bit event
 * counters refuses the pair, and the caller retries with rdpmc alone). The
 * CPU PMU's generic types take both; a sysfs PMU what its format/ says; 0:
 * none. */
#define USER_READ_CONFIG1_LONG (UINT64_C(1) << 0)
#define USER_READ_CONFIG1_RDPMC (UINT64_C(1) << 1)
uint64_t user_read_pmu_config1(uint32_t type);
/* Whether the event of @page can be read by user_read_group now. */
bool user_read_is_usable(const struct perf_event_mmap_page *page);
/* The slow path (out of line): read a group of @n events as
 * user_read_group does, whatever its state, with its enabled and running
 * times worked out to now into times[0] and times[1] (with the page's
 * cycles-to-ns conversion, cap_user_time). 0, or -EAGAIN when user space
 * cannot read the group now (the caller then uses read()). */
int user_read_group_timed(const struct perf_event_mmap_page *const *pages, unsigned n,
			  uint64_t *values, uint64_t *times);
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

/* The count now, inside the seqlock, the page's index into @index: the
 * page's offset plus the counter when the event is on one, sign-extended
 * from its width unless every counter is 64 bits wide (@how). */
static inline __attribute__((always_inline)) uint64_t
user_read_value(const volatile struct perf_event_mmap_page *pc, int how, uint32_t *index)
{
	uint64_t offset = pc->offset;

	if (how == USER_READ_64)
		return user_read_add_counter_at(pc, index, offset);
	return offset + user_read_extend(user_read_counter_at(pc, index), pc->pmc_width);
}

/*
 * The fast path: read a group of @n events (pages[0] its leader) into
 * values[], @how USER_READ_EXTEND or USER_READ_64, when the group has never
 * been multiplexed and is on the PMU now: then its enabled and running
 * times advance together, no scaling is needed, and they are not worked
 * out. Returns true, or false when that is not so (or, on x86, user space
 * may not read now): the caller then uses user_read_group_timed.
 *
 * One seqlock pass over all the pages: every page's lock is loaded, then
 * every value, then every lock again, and the pass is repeated if any
 * changed (each page is updated on its own, e.g. by its counter's overflow
 * interrupt). Meant to be called with constant @n and @how (events.c), so
 * that it compiles to straight-line code that calls nothing but the arm64
 * counter table (no registers to save).
 *
 * Only x86 checks cap_user_rdpmc at every read (rdpmc can be switched off
 * while the page still shows an index); on arm64 the index is 0 whenever
 * user access is off, and slot 0 reads no register.
 */
static inline __attribute__((always_inline)) bool
user_read_group(const struct perf_event_mmap_page *const *pages, unsigned n, int how,
		uint64_t *values)
{
	/* Locals, so that the barriers do not make the compiler reload them. */
	const volatile struct perf_event_mmap_page *pc[4];
	uint32_t seq[4], index, ignored;
	uint64_t enabled, running, count[4];
	uint32_t changed;

#pragma GCC unroll 4
	for (unsigned i = 0; i < n; i++)
		pc[i] = pages[i];
	do {
#pragma GCC unroll 4
		for (unsigned i = 0; i < n; i++)
			seq[i] = pc[i]->lock;
		user_read_barrier();
#if defined(__x86_64__)
		if (__builtin_expect(!pc[0]->cap_user_rdpmc, 0))
			return false;
#endif
		enabled = pc[0]->time_enabled;
		running = pc[0]->time_running;
		count[0] = user_read_value(pc[0], how, &index);
#pragma GCC unroll 4
		for (unsigned i = 1; i < n; i++)
			count[i] = user_read_value(pc[i], how, &ignored);
		if (__builtin_expect(index == 0 || enabled != running, 0))
			return false;
		user_read_barrier();
		/* Any lock changed: all differences or'ed, one test. */
		changed = 0;
#pragma GCC unroll 4
		for (unsigned i = 0; i < n; i++)
			changed |= pc[i]->lock ^ seq[i];
	} while (__builtin_expect(changed != 0, 0));
#pragma GCC unroll 4
	for (unsigned i = 0; i < n; i++)
		values[i] = count[i];
	return true;
}
#endif

#endif

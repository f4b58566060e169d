/*
 * The events of `iterprof record -e` (hardware counters, sysfs PMU events,
 * extra software events), read at every iteration begin and end next to the
 * software set of counters.c.
 *
 * The launcher resolved the names (libpfm4, sysfs) into perf_event_attr
 * fields and passes them in ITERPROF_EVENTS. Here, once per process, each is
 * opened alone to find out whether it counts on this machine; what cannot
 * be opened is described in the trace header with the diagnosis of why
 * (iterprof/perf-events.h) and reads as "not available" in every
 * iteration, never as 0. Without :u or :k, an event refused for kernel mode
 * is retried user-only, as perf does.
 *
 * Per thread, the events that count are opened in groups of at most
 * EVENT_GROUP_SIZE, each read with one PERF_FORMAT_GROUP read() carrying
 * TOTAL_TIME_ENABLED/RUNNING: enabled once at open, never toggled. When the
 * kernel multiplexes the groups (more events than counters), an iteration's
 * delta is scaled by its enabled/running deltas and flagged; a group that did
 * not run at all during the iteration gives "not counted".
 *
 * A group whose members can be read in user space (user-read.h: the events'
 * mmap pages and rdpmc / the arm64 PMU registers, when the kernel allows it)
 * is read there, without a syscall, and with read() at any moment it cannot
 * be (the page says so); both give 64-bit totals of the same count, so an
 * iteration may mix them. ITERPROF_PERF_READ=syscall forces read().
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "shim.h"
#include "user-read.h"

static struct {
	unsigned count;                    /* requested */
	bool exclude_kernel[SHIM_EVENTS_MAX]; /* after the user-mode fallback */
	uint64_t config1[SHIM_EVENTS_MAX];    /* with ARM64_CONFIG1_RDPMC if taken */
	bool is_user_read[SHIM_EVENTS_MAX];   /* its page allowed user reads */
	/* The countable events, in order, and which of the requested each is. */
	unsigned open_count;
	unsigned open_index[SHIM_EVENTS_MAX];
	bool is_read_logged; /* log_group_reads has run */
} events_setup;

typedef ITP_PERF_GROUP_READ(EVENT_GROUP_SIZE) event_group_read;

/* thread_counters.fast_kind: the events' count, | FAST_EXTEND when a counter
 * is narrower than 64 bits. */
#define FAST_EXTEND 8u

static int event_open(const struct shim_event *ev, uint64_t config1, bool exclude_kernel,
		      int group_fd, bool is_probe)
{
	struct perf_event_attr attr = itp_perf_attr(ev->type, ev->config, config1, ev->config2,
						    ev->exclude_user, exclude_kernel);

	if (unlikely(shim_config.inject_perf_errno)) {
		errno = shim_config.inject_perf_errno;
		return -1;
	}
	/* The probe only asks whether it opens: disabled, so that an event
	 * with side effects when started never starts. */
	return itp_perf_open_self(&attr, group_fd, is_probe);
}

unsigned events_value_count(void)
{
	return VALUE_COUNT + events_setup.count;
}

/* Whether the event's counter can be read in user space: its probe fd
 * mapped, the page saying cap_user_rdpmc. */
static bool probe_user_read(int fd)
{
	const struct perf_event_mmap_page *page = user_read_map(fd);
	bool is_usable = user_read_is_usable(page);

	user_read_unmap(page);
	return is_usable;
}

/* Open the probe of event @i, trying the arm64 user-access bits first when
 * they can matter: a 64-bit counter read in user space, then a counter of
 * the PMU's width read in user space (a PMU without 64-bit event counters
 * refuses the first), then no user access. Fills events_setup.config1[i]. */
static int probe_open(unsigned i, bool exclude_kernel, bool may_user_read)
{
	const struct shim_event *ev = &shim_config.events[i];

	events_setup.config1[i] = ev->config1;
#if defined(__aarch64__)
	uint64_t bits = may_user_read ? user_read_pmu_config1(ev->type) : 0;
	int fd;

	if (shim_config.is_no_long_counters)
		bits &= ~USER_READ_CONFIG1_LONG;
	/* with "long" when the PMU takes it, then "rdpmc" alone */
	const uint64_t tries[2] = { bits & USER_READ_CONFIG1_LONG ? bits : 0,
				    bits & USER_READ_CONFIG1_RDPMC };

	for (unsigned t = 0; t < 2; t++) {
		if (!tries[t])
			continue;
		fd = event_open(ev, ev->config1 | tries[t], exclude_kernel, -1, true);
		if (fd >= 0) {
			events_setup.config1[i] = ev->config1 | tries[t];
			return fd;
		}
	}
#else
	(void)may_user_read;
#endif
	return event_open(ev, ev->config1, exclude_kernel, -1, true);
}

void events_probe(uint8_t *header)
{
	uint32_t count;
	bool may_user_read = !shim_config.is_syscall_read && user_read_is_allowed();

	events_setup.count = shim_config.has_counters ? shim_config.event_count : 0;
	events_setup.open_count = 0;
	for (unsigned i = 0; i < events_setup.count; i++) {
		const struct shim_event *ev = &shim_config.events[i];
		uint8_t *d = header + itp_counter_desc_offset(VALUE_COUNT + i);
		bool exclude_kernel = ev->exclude_kernel;
		int fd = probe_open(i, exclude_kernel, may_user_read), err = fd < 0 ? errno : 0;
		uint16_t id = ITP_COUNTER_EVENT, source = ITP_SOURCE_PERF;
		uint32_t flags = 0;

		if (fd < 0 && (err == EACCES || err == EPERM) && !ev->is_mode_given &&
		    !exclude_kernel) {
			exclude_kernel = true;
			fd = probe_open(i, exclude_kernel, may_user_read);
			err = fd < 0 ? errno : 0;
		}
		memcpy(d + ITP_CD_OFF_ID, &id, 2);
		memcpy(d + ITP_CD_OFF_SOURCE, &source, 2);
		snprintf((char *)d + ITP_CD_OFF_NAME, ITP_CD_NAME_LEN, "%s", ev->name);
		events_setup.is_user_read[i] = false;
		if (fd >= 0) {
			events_setup.is_user_read[i] = may_user_read && probe_user_read(fd);
			close(fd);
			flags = ITP_COUNTER_COUNTS | (exclude_kernel ? 0 : ITP_COUNTER_KERNEL) |
				(events_setup.is_user_read[i] ? ITP_COUNTER_USER_READ : 0);
			events_setup.exclude_kernel[i] = exclude_kernel;
			events_setup.open_index[events_setup.open_count++] = i;
			if (exclude_kernel && !ev->exclude_kernel)
				snprintf((char *)d + ITP_CD_OFF_WHY, ITP_CD_WHY_LEN,
					 "user mode only: kernel mode not permitted "
					 "(perf_event_paranoid)");
		} else {
			uint32_t e = (uint32_t)err;
			char why[256];

			memcpy(d + ITP_CD_OFF_ERROR, &e, 4);
			itp_perf_diagnose(err, ev->type, exclude_kernel, why, sizeof(why));
			/* The table holds ITP_CD_WHY_LEN - 1 bytes of it. */
			memcpy(d + ITP_CD_OFF_WHY, why, strnlen(why, ITP_CD_WHY_LEN - 1));
		}
		memcpy(d + ITP_CD_OFF_FLAGS, &flags, 4);
	}
	count = events_value_count();
	memcpy(header + ITP_OFF_COUNTER_COUNT, &count, 4);
}

/* -v: how the first thread's groups are read (once per process). */
static void log_group_reads(const struct thread_counters *tc)
{
	for (unsigned g = 0; g * EVENT_GROUP_SIZE < events_setup.open_count; g++) {
		unsigned first = g * EVENT_GROUP_SIZE, narrowest = 64;

		for (unsigned k = first; k < first + EVENT_GROUP_SIZE && k < events_setup.open_count;
		     k++)
			if (tc->event_page[k] && tc->event_page[k]->pmc_width < narrowest)
				narrowest = tc->event_page[k]->pmc_width;
		if (tc->group_read[g] == USER_READ_64)
			shim_log("events: group %u read in user space, 64-bit counters", g);
		else if (tc->group_read[g] == USER_READ_EXTEND)
			shim_log("events: group %u read in user space, counters as narrow as "
				 "%u bits sign-extended",
				 g, narrowest);
		else
			shim_log("events: group %u read with read()", g);
	}
}

void events_open(struct thread_counters *tc)
{
	for (unsigned k = 0; k < SHIM_EVENTS_MAX; k++) {
		tc->event_fd[k] = -1;
		tc->event_page[k] = NULL;
	}
	for (unsigned k = 0; k < events_setup.open_count; k++) {
		unsigned i = events_setup.open_index[k];
		int leader = k % EVENT_GROUP_SIZE ? tc->event_fd[k - k % EVENT_GROUP_SIZE] : -1;

		if (k % EVENT_GROUP_SIZE && leader < 0)
			continue; /* its group has no leader: not counted */
		tc->event_fd[k] = event_open(&shim_config.events[i], events_setup.config1[i],
					     events_setup.exclude_kernel[i], leader, false);
		if (tc->event_fd[k] >= 0 && events_setup.is_user_read[i])
			tc->event_page[k] = user_read_map(tc->event_fd[k]);
	}
	for (unsigned g = 0; g < EVENT_GROUPS_MAX; g++) {
		unsigned first = g * EVENT_GROUP_SIZE;
		int how = first < events_setup.open_count ? USER_READ_64 : USER_READ_NO;

		for (unsigned k = first; k < first + EVENT_GROUP_SIZE && k < events_setup.open_count;
		     k++) {
			const volatile struct perf_event_mmap_page *pc = tc->event_page[k];

			if (!user_read_is_usable(tc->event_page[k]))
				how = USER_READ_NO;
			else if (pc->pmc_width != 64 && how == USER_READ_64)
				how = USER_READ_EXTEND;
		}
		tc->group_read[g] = (uint8_t)how;
	}
	/* events_read's fast path: the one group read in user space */
	tc->fast_kind = 0;
	if (events_setup.open_count <= EVENT_GROUP_SIZE && tc->group_read[0] != USER_READ_NO)
		tc->fast_kind = (uint8_t)(events_setup.open_count |
					  (tc->group_read[0] == USER_READ_EXTEND ? FAST_EXTEND : 0));
	if (shim_config.is_verbose && !__atomic_exchange_n(&events_setup.is_read_logged, true,
							   __ATOMIC_RELAXED))
		log_group_reads(tc);
}

void events_close(struct thread_counters *tc)
{
	for (int k = SHIM_EVENTS_MAX - 1; k >= 0; k--) {
		user_read_unmap(tc->event_page[k]);
		tc->event_page[k] = NULL;
		if (tc->event_fd[k] >= 0)
			close(tc->event_fd[k]);
		tc->event_fd[k] = -1;
	}
	for (unsigned g = 0; g < EVENT_GROUPS_MAX; g++)
		tc->group_read[g] = USER_READ_NO;
	tc->fast_kind = 0;
}

void events_forget_pages(struct thread_counters *tc)
{
	/* perf maps its pages VM_DONTCOPY: a forked child has none of them,
	 * and must not unmap whatever it may have there. */
	for (unsigned k = 0; k < SHIM_EVENTS_MAX; k++)
		tc->event_page[k] = NULL;
	for (unsigned g = 0; g < EVENT_GROUPS_MAX; g++)
		tc->group_read[g] = USER_READ_NO;
	tc->fast_kind = 0;
}

#if USER_READ_HAS_PMC
/* user_read_group with constant arguments, one straight-line copy for each
 * group size and each way of reading (sign extension or not). */
#define READ_GROUP_SIZES(how)                                                              \
	switch (n) {                                                                       \
	case 1: return user_read_group(pages, 1, how, values);                             \
	case 2: return user_read_group(pages, 2, how, values);                             \
	case 3: return user_read_group(pages, 3, how, values);                             \
	default: return user_read_group(pages, 4, how, values);                            \
	}

/* The fast path: true when group @g was read in user space, never
 * multiplexed (EVENTS_TIMES_EQUAL). */
static inline __attribute__((always_inline)) bool
read_group_user(const struct thread_counters *tc, unsigned first, unsigned n, unsigned g,
		struct counter_snapshot *s)
{
	const struct perf_event_mmap_page *const *pages = &tc->event_page[first];
	uint64_t *values = &s->event[first];

	_Static_assert(EVENT_GROUP_SIZE == 4, "read_group_user: one case per group size");
	if (likely(tc->group_read[g] == USER_READ_64))
		READ_GROUP_SIZES(USER_READ_64)
	if (tc->group_read[g] == USER_READ_EXTEND)
		READ_GROUP_SIZES(USER_READ_EXTEND)
	return false;
}
#endif

/* Every other case, out of line so that the fast path needs no frame: a
 * multiplexed group read in user space with its times, else read() of the
 * group. */
static void __attribute__((noinline))
read_group_slow(const struct thread_counters *tc, unsigned first, unsigned n, unsigned g,
		struct counter_snapshot *s)
{
	event_group_read buf;
	ssize_t got;

	if (tc->group_read[g] != USER_READ_NO &&
	    !user_read_group_timed(&tc->event_page[first], n, &s->event[first],
				   s->event_times[g])) {
		s->event_state[g] = EVENTS_TIMES_EXACT;
		return;
	}
	s->event_state[g] = EVENTS_NOT_READ;
	if (tc->event_fd[first] < 0)
		return;
	got = read(tc->event_fd[first], &buf, sizeof(buf));
	if (got < (ssize_t)(3 * sizeof(uint64_t)) || buf.nr > EVENT_GROUP_SIZE)
		return;
	/* A member that failed to open in this thread is missing from the
	 * group: values come in group order, so match them up. */
	for (unsigned j = 0, v = 0; j < n; j++) {
		if (tc->event_fd[first + j] < 0) {
			s->event[first + j] = ITP_VALUE_UNAVAILABLE;
			continue;
		}
		s->event[first + j] = v < buf.nr ? buf.values[v++].value : ITP_VALUE_UNAVAILABLE;
	}
	s->event_times[g][0] = buf.time_enabled;
	s->event_times[g][1] = buf.time_running;
	s->event_state[g] = EVENTS_TIMES_EXACT;
}

/* Every group, each in user space (with its times when multiplexed) or
 * with read(): all but events_read's fast path. */
static void __attribute__((noinline))
read_groups_slow(const struct thread_counters *tc, struct counter_snapshot *s)
{
	unsigned count = events_setup.open_count;

	for (unsigned g = 0, first = 0; first < count; g++, first += EVENT_GROUP_SIZE) {
		unsigned n = count - first < EVENT_GROUP_SIZE ? count - first : EVENT_GROUP_SIZE;

#if USER_READ_HAS_PMC
		if (likely(read_group_user(tc, first, n, g, s))) {
			s->event_state[g] = EVENTS_TIMES_EQUAL;
			continue;
		}
#endif
		read_group_slow(tc, first, n, g, s);
	}
}

void events_read(const struct thread_counters *tc, struct counter_snapshot *s)
{
#if USER_READ_HAS_PMC
	/* The fast path: one group (up to 4 events: the usual hardware set)
	 * read in user space, never multiplexed; it calls nothing, so it
	 * saves no registers. 4 64-bit counters are tested first. */
	const struct perf_event_mmap_page *const *pages = tc->event_page;
	bool is_read;

	/* One switch on one byte (not read_group_user's two): each case is
	 * counted at every iteration. */
	if (likely(tc->fast_kind == 4)) {
		is_read = user_read_group(pages, 4, USER_READ_64, s->event);
	} else {
		switch (tc->fast_kind) {
		case 3: is_read = user_read_group(pages, 3, USER_READ_64, s->event); break;
		case 2: is_read = user_read_group(pages, 2, USER_READ_64, s->event); break;
		case 1: is_read = user_read_group(pages, 1, USER_READ_64, s->event); break;
#define EXTEND(n) (FAST_EXTEND | (n))
		case EXTEND(4):
			is_read = user_read_group(pages, 4, USER_READ_EXTEND, s->event);
			break;
		case EXTEND(3):
			is_read = user_read_group(pages, 3, USER_READ_EXTEND, s->event);
			break;
		case EXTEND(2):
			is_read = user_read_group(pages, 2, USER_READ_EXTEND, s->event);
			break;
		case EXTEND(1):
			is_read = user_read_group(pages, 1, USER_READ_EXTEND, s->event);
			break;
#undef EXTEND
		default: is_read = false; break;
		}
	}
	if (likely(is_read)) {
		s->event_state[0] = EVENTS_TIMES_EQUAL;
		return;
	}
	if (tc->fast_kind) {
		/* the one group, multiplexed: its fast read just failed */
		read_group_slow(tc, 0, tc->fast_kind & ~FAST_EXTEND, 0, s);
		return;
	}
#endif
	if (events_setup.open_count)
		read_groups_slow(tc, s);
}

unsigned events_delta(const struct counter_snapshot *begin, const struct counter_snapshot *end,
		      uint64_t *values)
{
	unsigned flags = 0;

	for (unsigned i = 0; i < events_setup.count; i++)
		values[VALUE_COUNT + i] = ITP_VALUE_UNAVAILABLE;
	for (unsigned k = 0; k < events_setup.open_count; k++) {
		unsigned g = k / EVENT_GROUP_SIZE;
		uint64_t enabled = 0, running = 0, d;

		if (begin->event_state[g] == EVENTS_NOT_READ ||
		    end->event_state[g] == EVENTS_NOT_READ ||
		    begin->event[k] == ITP_VALUE_UNAVAILABLE ||
		    end->event[k] == ITP_VALUE_UNAVAILABLE)
			continue;
		d = end->event[k] - begin->event[k];
		if (begin->event_state[g] != end->event_state[g]) {
			/* The iteration in which multiplexing began: times that
			 * user space could not know at begin. Not counted,
			 * rather than scaled wrongly (never 0). */
			continue;
		}
		if (begin->event_state[g] == EVENTS_TIMES_EXACT) {
			enabled = end->event_times[g][0] - begin->event_times[g][0];
			running = end->event_times[g][1] - begin->event_times[g][1];
		}
		if (running != enabled) {
			/* not counted, never 0: never on a counter */
			if (!running || running > enabled)
				continue;
			d = (uint64_t)((unsigned __int128)d * enabled / running);
			flags |= ITP_ITER_SCALED;
		}
		values[VALUE_COUNT + events_setup.open_index[k]] = d;
	}
	return flags;
}

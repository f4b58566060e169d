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

/* arm64's PMU driver lets user space read an event's counter only when the
 * event asks for it: format attribute "rdpmc", config1 bit 1. */
#define ARM64_CONFIG1_RDPMC (UINT64_C(1) << 1)

static struct {
	unsigned count;                    /* requested */
	bool exclude_kernel[SHIM_EVENTS_MAX]; /* after the user-mode fallback */
	uint64_t config1[SHIM_EVENTS_MAX];    /* with ARM64_CONFIG1_RDPMC if taken */
	bool is_user_read[SHIM_EVENTS_MAX];   /* its page allowed user reads */
	/* The countable events, in order, and which of the requested each is. */
	unsigned open_count;
	unsigned open_index[SHIM_EVENTS_MAX];
} events_setup;

typedef ITP_PERF_GROUP_READ(EVENT_GROUP_SIZE) event_group_read;

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

/* Open the probe of event @i, trying the arm64 user-access bit first when it
 * can matter; fills events_setup.config1[i]. */
static int probe_open(unsigned i, bool exclude_kernel, bool may_user_read)
{
	const struct shim_event *ev = &shim_config.events[i];

	events_setup.config1[i] = ev->config1;
#if defined(__aarch64__)
	int fd;

	if (may_user_read && user_read_pmu_wants_rdpmc_bit(ev->type)) {
		fd = event_open(ev, ev->config1 | ARM64_CONFIG1_RDPMC, exclude_kernel, -1, true);
		if (fd >= 0) {
			events_setup.config1[i] = ev->config1 | ARM64_CONFIG1_RDPMC;
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
		uint8_t *d = header + ITP_OFF_COUNTERS + ITP_COUNTER_DESC_SIZE * (VALUE_COUNT + i);
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

		tc->is_group_user_read[g] = first < events_setup.open_count;
		for (unsigned k = first; k < first + EVENT_GROUP_SIZE && k < events_setup.open_count;
		     k++)
			tc->is_group_user_read[g] &= user_read_is_usable(tc->event_page[k]);
	}
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
		tc->is_group_user_read[g] = false;
}

void events_forget_pages(struct thread_counters *tc)
{
	/* perf maps its pages VM_DONTCOPY: a forked child has none of them,
	 * and must not unmap whatever it may have there. */
	for (unsigned k = 0; k < SHIM_EVENTS_MAX; k++)
		tc->event_page[k] = NULL;
	for (unsigned g = 0; g < EVENT_GROUPS_MAX; g++)
		tc->is_group_user_read[g] = false;
}

void events_read(const struct thread_counters *tc, struct counter_snapshot *s)
{
	for (unsigned g = 0; g * EVENT_GROUP_SIZE < events_setup.open_count; g++) {
		unsigned first = g * EVENT_GROUP_SIZE, n = events_setup.open_count - first;
		event_group_read buf;
		ssize_t got;

		if (n > EVENT_GROUP_SIZE)
			n = EVENT_GROUP_SIZE;
#if USER_READ_HAS_PMC
		if (likely(tc->is_group_user_read[g])) {
			struct user_read_times t;

			if (likely(!user_read_group(&tc->event_page[first], n, &s->event[first],
						    &t))) {
				s->event_enabled[g] = t.enabled;
				s->event_running[g] = t.running;
				s->is_event_time_exact[g] = t.is_exact;
				s->is_event_valid[g] = true;
				continue;
			}
		}
#endif
		s->is_event_valid[g] = false;
		s->is_event_time_exact[g] = true;
		if (tc->event_fd[first] < 0)
			continue;
		got = read(tc->event_fd[first], &buf, sizeof(buf));
		if (got < (ssize_t)(3 * sizeof(uint64_t)) || buf.nr > EVENT_GROUP_SIZE)
			continue;
		/* A member that failed to open in this thread is missing from
		 * the group: values come in group order, so match them up. */
		for (unsigned j = 0, v = 0; j < n; j++) {
			if (tc->event_fd[first + j] < 0) {
				s->event[first + j] = ITP_VALUE_UNAVAILABLE;
				continue;
			}
			s->event[first + j] = v < buf.nr ? buf.values[v++].value
							 : ITP_VALUE_UNAVAILABLE;
		}
		s->event_enabled[g] = buf.time_enabled;
		s->event_running[g] = buf.time_running;
		s->is_event_valid[g] = true;
	}
}

unsigned events_delta(const struct counter_snapshot *begin, const struct counter_snapshot *end,
		      uint64_t *values)
{
	unsigned flags = 0;

	for (unsigned i = 0; i < events_setup.count; i++)
		values[VALUE_COUNT + i] = ITP_VALUE_UNAVAILABLE;
	for (unsigned k = 0; k < events_setup.open_count; k++) {
		unsigned g = k / EVENT_GROUP_SIZE;
		uint64_t enabled, running, d;

		if (!begin->is_event_valid[g] || !end->is_event_valid[g] ||
		    begin->event[k] == ITP_VALUE_UNAVAILABLE ||
		    end->event[k] == ITP_VALUE_UNAVAILABLE)
			continue;
		enabled = end->event_enabled[g] - begin->event_enabled[g];
		running = end->event_running[g] - begin->event_running[g];
		d = end->event[k] - begin->event[k];
		if (running != enabled) {
			/* not counted, never 0: never on a counter, or times
			 * that user space could not know (no cap_user_time) */
			if (!running || running > enabled || !begin->is_event_time_exact[g] ||
			    !end->is_event_time_exact[g])
				continue;
			d = (uint64_t)((unsigned __int128)d * enabled / running);
			flags |= ITP_ITER_SCALED;
		}
		values[VALUE_COUNT + events_setup.open_index[k]] = d;
	}
	return flags;
}

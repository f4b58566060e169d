/*
 * Per-thread software counters, read at every iteration begin and end.
 *
 * Costs measured on these VMs (../shared/reference/costs.md) decide the shape:
 *  - one PERF_FORMAT_GROUP read of five events costs about as much as one
 *    read() of a single event (0.5-0.7 us vs 0.3-0.45 us) and far less than
 *    five reads (1.75 us), so the five events form one group, read once;
 *  - events stay enabled from open to close: an ioctl per iteration costs
 *    1.4-2.4 us, more than the read itself;
 *  - getrusage(RUSAGE_THREAD) (0.2 us) and a pread of /proc/thread-self/
 *    schedstat (0.4-0.6 us) would add 60-100 % to the floor, so by default
 *    (--sched=auto) they are read only around iterations during which the
 *    context-switch counter moved: the voluntary/involuntary split and the
 *    run-queue delay cannot change without a switch.
 *
 * Which counters really count depends on the machine: as non-root with
 * perf_event_paranoid=2 only exclude_kernel=1 opens, and then context
 * switches and migrations (which happen in the kernel) always read 0. The
 * probe finds out once per process and records it in the trace header, and
 * the values are then taken from getrusage instead of recording zeros that
 * look like data. Without perf_event_open at all (seccomp, ENOSYS) task-clock
 * comes from CLOCK_THREAD_CPUTIME_ID and the faults from getrusage.
 *
 * Besides the thread's own counters every iteration records where it ended
 * (the CPU, for joining the environment timeline of `iterprof record` by
 * time and CPU), how much code the process made executable meanwhile (jit.c)
 * and, where the kernel lets a thread count tracepoints (root, tracefs
 * mounted), the hardware interrupts and softirqs serviced while the thread
 * was on its CPU: irq:irq_handler_entry and irq:softirq_entry count in the
 * context of the task that was interrupted, so they join the software group
 * and cost no extra read.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "shim.h"

enum counters_mode {
	MODE_PERF_KERNEL, /* perf, exclude_kernel=0: all five events count */
	MODE_PERF_USER,   /* perf, exclude_kernel=1: switches/migrations do not */
	MODE_NO_PERF,     /* no perf_event_open: cputime clock + getrusage */
	MODE_OFF,         /* --no-counters, --no-software: no software set */
};

static struct {
	enum counters_mode mode;
	int perf_errno;          /* why the kernel-mode open failed */
	bool read_rusage;        /* getrusage at begin and end */
	bool read_schedstat;     /* schedstat at begin and end */
	bool is_auto;            /* ... only around context switches */
	uint64_t task_clock_bias; /* ns, subtracted from task-clock deltas */
	unsigned group_size;     /* PERF_SLOT_SOFTWARE_COUNT, or with the
				    tracepoints PERF_SLOT_COUNT */
	uint64_t tracepoint_id[2]; /* irq_handler_entry, softirq_entry */
	char tracepoint_why[ITP_CD_WHY_LEN]; /* why they are not counted */
} counters_setup;

static const struct {
	uint32_t config;
	const char *name;
	uint16_t id;
	unsigned value; /* index in the trace's values[] */
} perf_events[PERF_SLOT_COUNT] = {
	[PERF_SLOT_MINOR_FAULTS] = { PERF_COUNT_SW_PAGE_FAULTS_MIN, "minor-faults",
				     ITP_COUNTER_MINOR_FAULTS, VALUE_MINOR_FAULTS },
	[PERF_SLOT_TASK_CLOCK] = { PERF_COUNT_SW_TASK_CLOCK, "task-clock", ITP_COUNTER_TASK_CLOCK,
				   VALUE_TASK_CLOCK },
	[PERF_SLOT_MAJOR_FAULTS] = { PERF_COUNT_SW_PAGE_FAULTS_MAJ, "major-faults",
				     ITP_COUNTER_MAJOR_FAULTS, VALUE_MAJOR_FAULTS },
	[PERF_SLOT_CONTEXT_SWITCHES] = { PERF_COUNT_SW_CONTEXT_SWITCHES, "context-switches",
					 ITP_COUNTER_CONTEXT_SWITCHES, VALUE_CONTEXT_SWITCHES },
	[PERF_SLOT_MIGRATIONS] = { PERF_COUNT_SW_CPU_MIGRATIONS, "cpu-migrations",
				   ITP_COUNTER_MIGRATIONS, VALUE_MIGRATIONS },
	/* config: counters_setup.tracepoint_id[] */
	[PERF_SLOT_IRQS] = { 0, "irqs", ITP_COUNTER_IRQS, VALUE_IRQS },
	[PERF_SLOT_SOFTIRQS] = { 0, "softirqs", ITP_COUNTER_SOFTIRQS, VALUE_SOFTIRQS },
};

static const char *const tracepoint_names[2] = { "irq/irq_handler_entry", "irq/softirq_entry" };

typedef ITP_PERF_GROUP_READ(PERF_SLOT_COUNT) group_read;

static int perf_open(uint32_t type, uint64_t config, int group_fd, bool exclude_kernel)
{
	struct perf_event_attr attr = itp_perf_attr(type, config, 0, 0, 0, exclude_kernel);

	if (unlikely(shim_config.inject_perf_errno)) {
		errno = shim_config.inject_perf_errno;
		return -1;
	}
	/* Enabled at open, never toggled. */
	return itp_perf_open_self(&attr, group_fd, 0);
}

static int perf_slot_open(int slot, int group_fd, bool exclude_kernel)
{
	if (slot >= PERF_SLOT_SOFTWARE_COUNT)
		return perf_open(PERF_TYPE_TRACEPOINT,
				 counters_setup.tracepoint_id[slot - PERF_SLOT_SOFTWARE_COUNT],
				 group_fd, exclude_kernel);
	return perf_open(PERF_TYPE_SOFTWARE, perf_events[slot].config, group_fd, exclude_kernel);
}

/* Open the group of @size events. 0 or -errno; on failure nothing stays
 * open. */
static int perf_group_open(int *fds, unsigned size, bool exclude_kernel)
{
	int i;

	for (i = 0; i < PERF_SLOT_COUNT; i++)
		fds[i] = -1;
	for (i = 0; i < (int)size; i++) {
		fds[i] = perf_slot_open(i, i ? fds[0] : -1, exclude_kernel);
		/* fds[0] (PERF_SLOT_MINOR_FAULTS) leads the group. */
		if (fds[i] < 0) {
			int err = errno;

			while (--i >= 0) {
				close(fds[i]);
				fds[i] = -1;
			}
			return -err;
		}
	}
	return 0;
}

/* The ids of the interrupt tracepoints, from tracefs. 0 or -ENOENT with
 * counters_setup.tracepoint_why filled. */
static int find_tracepoints(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing/events",
					     "/sys/kernel/debug/tracing/events" };

	for (unsigned k = 0; k < 2; k++) {
		bool found = false;

		for (unsigned r = 0; r < 2 && !found; r++) {
			char path[128], buf[32];

			snprintf(path, sizeof(path), "%s/%s/id", roots[r], tracepoint_names[k]);
			if (sysinfo_read_file(path, buf, sizeof(buf)) > 0) {
				counters_setup.tracepoint_id[k] = strtoull(buf, NULL, 10);
				found = true;
			}
		}
		if (!found) {
			snprintf(counters_setup.tracepoint_why, sizeof(counters_setup.tracepoint_why),
				 "tracefs not mounted (as root: mount -t tracefs nodev "
				 "/sys/kernel/tracing)");
			return -ENOENT;
		}
	}
	return 0;
}

static void describe(uint8_t *header, unsigned index, uint16_t id, uint16_t source,
		     uint32_t flags, int error, const char *name, const char *why)
{
	uint8_t *d = header + itp_counter_desc_offset(index);
	uint32_t err = (uint32_t)error;

	memcpy(d + ITP_CD_OFF_ID, &id, 2);
	memcpy(d + ITP_CD_OFF_SOURCE, &source, 2);
	memcpy(d + ITP_CD_OFF_FLAGS, &flags, 4);
	memcpy(d + ITP_CD_OFF_ERROR, &err, 4);
	snprintf((char *)d + ITP_CD_OFF_NAME, ITP_CD_NAME_LEN, "%s", name);
	snprintf((char *)d + ITP_CD_OFF_WHY, ITP_CD_WHY_LEN, "%s", why ? why : "");
}

static int read_paranoid(void)
{
	char buf[16];

	return sysinfo_read_file("/proc/sys/kernel/perf_event_paranoid", buf, sizeof(buf)) > 0
		       ? atoi(buf)
		       : -99;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void read_core(struct thread_counters *tc, struct counter_snapshot *s);

/*
 * The counters are sampled inside the begin and end reads, the clock just
 * outside them, so an iteration's task-clock exceeds its duration by part of
 * two syscalls. Measure that excess on empty iterations, exactly as the
 * markers read (counters, clock | clock, counters), and keep the median.
 */
static uint64_t measure_task_clock_bias(struct thread_counters *tc)
{
	enum { ROUNDS = 64 };
	uint64_t excess[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		struct counter_snapshot begin = { .is_valid = false }, end = { .is_valid = false };
		uint64_t t0, t1, task;

		read_core(tc, &begin);
		t0 = clock_now_ns();
		t1 = clock_now_ns();
		read_core(tc, &end);
		if (!begin.is_valid || !end.is_valid)
			return 0;
		task = end.perf[PERF_SLOT_TASK_CLOCK] - begin.perf[PERF_SLOT_TASK_CLOCK];
		excess[i] = task > t1 - t0 ? task - (t1 - t0) : 0;
	}
	qsort(excess, ROUNDS, sizeof(excess[0]), compare_u64);
	return excess[ROUNDS / 2];
}

/* --no-counters, --no-software: every software counter is described as
 * disabled, none is read. */
static void probe_off(uint8_t *header, const char *why)
{
	static const struct {
		uint16_t id;
		const char *name;
	} all[VALUE_COUNT] = {
		[VALUE_TASK_CLOCK] = { ITP_COUNTER_TASK_CLOCK, "task-clock" },
		[VALUE_MINOR_FAULTS] = { ITP_COUNTER_MINOR_FAULTS, "minor-faults" },
		[VALUE_MAJOR_FAULTS] = { ITP_COUNTER_MAJOR_FAULTS, "major-faults" },
		[VALUE_CONTEXT_SWITCHES] = { ITP_COUNTER_CONTEXT_SWITCHES, "context-switches" },
		[VALUE_MIGRATIONS] = { ITP_COUNTER_MIGRATIONS, "cpu-migrations" },
		[VALUE_VOLUNTARY_SWITCHES] = { ITP_COUNTER_VOLUNTARY_SWITCHES,
					       "voluntary-switches" },
		[VALUE_INVOLUNTARY_SWITCHES] = { ITP_COUNTER_INVOLUNTARY_SWITCHES,
						 "involuntary-switches" },
		[VALUE_RUN_DELAY] = { ITP_COUNTER_RUN_DELAY, "run-delay" },
		[VALUE_CPU] = { ITP_COUNTER_CPU, "cpu" },
		[VALUE_IRQS] = { ITP_COUNTER_IRQS, "irqs" },
		[VALUE_SOFTIRQS] = { ITP_COUNTER_SOFTIRQS, "softirqs" },
		[VALUE_CODE_EVENTS] = { ITP_COUNTER_CODE_EVENTS, "code-events" },
		[VALUE_CODE_BYTES] = { ITP_COUNTER_CODE_BYTES, "code-bytes" },
	};
	uint32_t count = VALUE_COUNT;

	counters_setup.mode = MODE_OFF;
	counters_setup.read_rusage = counters_setup.read_schedstat = false;
	for (unsigned i = 0; i < VALUE_COUNT; i++)
		describe(header, i, all[i].id, ITP_SOURCE_PERF, 0, 0, all[i].name, why);
	memcpy(header + ITP_OFF_COUNTER_COUNT, &count, 4);
}

void counters_probe(uint8_t *header)
{
	int fds[PERF_SLOT_COUNT];
	int err;

	if (!shim_config.has_counters) {
		probe_off(header, "disabled (--no-counters)");
		return;
	}
	if (!shim_config.has_software) {
		probe_off(header, "disabled (--no-software)");
		events_probe(header);
		return;
	}
	/* With the interrupt tracepoints if they open, else without. */
	counters_setup.group_size = PERF_SLOT_SOFTWARE_COUNT;
	err = find_tracepoints();
	if (!err) {
		err = perf_group_open(fds, PERF_SLOT_COUNT, false);
		if (!err)
			counters_setup.group_size = PERF_SLOT_COUNT;
		else
			snprintf(counters_setup.tracepoint_why,
				 sizeof(counters_setup.tracepoint_why),
				 "perf_event_open of the irq tracepoints: %s (root or "
				 "CAP_PERFMON)", strerror(-err));
	}
	if (counters_setup.group_size == PERF_SLOT_SOFTWARE_COUNT)
		err = perf_group_open(fds, PERF_SLOT_SOFTWARE_COUNT, false);
	char why_user[ITP_CD_WHY_LEN], why_none[ITP_CD_WHY_LEN], note[ITP_COUNTERS_NOTE_LEN];
	uint32_t perf_flags = ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL;
	int paranoid = read_paranoid();
	unsigned i;

	counters_setup.mode = MODE_PERF_KERNEL;
	if (err == -EACCES || err == -EPERM) {
		counters_setup.perf_errno = -err;
		err = perf_group_open(fds, PERF_SLOT_SOFTWARE_COUNT, true);
		counters_setup.mode = MODE_PERF_USER;
		perf_flags = ITP_COUNTER_COUNTS;
	}
	if (err) {
		counters_setup.mode = MODE_NO_PERF;
		counters_setup.perf_errno = -err;
	}
	{
		struct thread_counters tc = { .has_perf = !err, .schedstat_fd = -1 };

		memcpy(tc.perf_fd, fds, sizeof(fds));
		counters_setup.task_clock_bias = measure_task_clock_bias(&tc);
		if (!err) {
			for (i = 0; i < counters_setup.group_size; i++)
				close(fds[i]);
		}
	}
	{
		uint32_t bias = (uint32_t)counters_setup.task_clock_bias;

		memcpy(header + ITP_OFF_TASK_CLOCK_BIAS_NS, &bias, 4);
	}

	counters_setup.read_schedstat = shim_config.sched != SCHED_READ_OFF;
	counters_setup.read_rusage = shim_config.sched != SCHED_READ_OFF ||
				     counters_setup.mode == MODE_NO_PERF;
	/* Auto needs a real context-switch count to know when to read. */
	counters_setup.is_auto = shim_config.sched == SCHED_READ_AUTO &&
				 counters_setup.mode == MODE_PERF_KERNEL;

	snprintf(why_user, sizeof(why_user),
		 "exclude_kernel=1 (paranoid=%d, not root): kernel-side events read 0", paranoid);
	snprintf(why_none, sizeof(why_none), "perf_event_open failed: %s",
		 strerror(counters_setup.perf_errno));
	note[0] = '\0';

	switch (counters_setup.mode) {
	case MODE_OFF:
		break; /* handled by probe_off() */
	case MODE_PERF_KERNEL:
		for (i = 0; i < PERF_SLOT_SOFTWARE_COUNT; i++)
			describe(header, perf_events[i].value, perf_events[i].id, ITP_SOURCE_PERF,
				 perf_flags, 0, perf_events[i].name, NULL);
		break;
	case MODE_PERF_USER:
		for (i = 0; i < PERF_SLOT_SOFTWARE_COUNT; i++) {
			bool is_kernel_side = i == PERF_SLOT_CONTEXT_SWITCHES ||
					      i == PERF_SLOT_MIGRATIONS;

			describe(header, perf_events[i].value, perf_events[i].id, ITP_SOURCE_PERF,
				 is_kernel_side ? 0 : perf_flags,
				 is_kernel_side ? counters_setup.perf_errno : 0,
				 perf_events[i].name, is_kernel_side ? why_user : NULL);
		}
		snprintf(note, sizeof(note),
			 "perf_event_paranoid=%d: context switches from getrusage, "
			 "migrations not counted (run as root or lower paranoid to 1)",
			 paranoid);
		break;
	case MODE_NO_PERF:
		describe(header, VALUE_TASK_CLOCK, ITP_COUNTER_TASK_CLOCK, ITP_SOURCE_CPUTIME,
			 ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL, 0, "task-clock", NULL);
		describe(header, VALUE_MINOR_FAULTS, ITP_COUNTER_MINOR_FAULTS, ITP_SOURCE_RUSAGE,
			 ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL, 0, "minor-faults", NULL);
		describe(header, VALUE_MAJOR_FAULTS, ITP_COUNTER_MAJOR_FAULTS, ITP_SOURCE_RUSAGE,
			 ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL, 0, "major-faults", NULL);
		describe(header, VALUE_CONTEXT_SWITCHES, ITP_COUNTER_CONTEXT_SWITCHES,
			 ITP_SOURCE_PERF, 0, counters_setup.perf_errno, "context-switches",
			 why_none);
		describe(header, VALUE_MIGRATIONS, ITP_COUNTER_MIGRATIONS, ITP_SOURCE_PERF, 0,
			 counters_setup.perf_errno, "cpu-migrations", why_none);
		snprintf(note, sizeof(note),
			 "perf_event_open unavailable (%s): task-clock from the thread CPU clock, "
			 "faults and switches from getrusage",
			 strerror(counters_setup.perf_errno));
		break;
	}

	if (counters_setup.read_rusage) {
		uint32_t f = ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL;

		describe(header, VALUE_VOLUNTARY_SWITCHES, ITP_COUNTER_VOLUNTARY_SWITCHES,
			 ITP_SOURCE_RUSAGE, f, 0, "voluntary-switches", NULL);
		describe(header, VALUE_INVOLUNTARY_SWITCHES, ITP_COUNTER_INVOLUNTARY_SWITCHES,
			 ITP_SOURCE_RUSAGE, f, 0, "involuntary-switches", NULL);
	} else {
		describe(header, VALUE_VOLUNTARY_SWITCHES, ITP_COUNTER_VOLUNTARY_SWITCHES,
			 ITP_SOURCE_RUSAGE, 0, 0, "voluntary-switches", "disabled (--sched=off)");
		describe(header, VALUE_INVOLUNTARY_SWITCHES, ITP_COUNTER_INVOLUNTARY_SWITCHES,
			 ITP_SOURCE_RUSAGE, 0, 0, "involuntary-switches", "disabled (--sched=off)");
	}
	describe(header, VALUE_RUN_DELAY, ITP_COUNTER_RUN_DELAY, ITP_SOURCE_SCHEDSTAT,
		 counters_setup.read_schedstat ? ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL : 0, 0,
		 "run-delay", counters_setup.read_schedstat ? NULL : "disabled (--sched=off)");
	if (counters_setup.mode != MODE_PERF_KERNEL && counters_setup.group_size != PERF_SLOT_COUNT)
		snprintf(counters_setup.tracepoint_why, sizeof(counters_setup.tracepoint_why),
			 "needs kernel-mode perf events (root, or perf_event_paranoid <= 1)");
	for (i = PERF_SLOT_SOFTWARE_COUNT; i < PERF_SLOT_COUNT; i++) {
		bool counts = counters_setup.group_size == PERF_SLOT_COUNT;

		describe(header, perf_events[i].value, perf_events[i].id, ITP_SOURCE_TRACEPOINT,
			 counts ? ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL : 0, counts ? 0 : ENOENT,
			 perf_events[i].name, counts ? NULL : counters_setup.tracepoint_why);
	}
	describe(header, VALUE_CPU, ITP_COUNTER_CPU, ITP_SOURCE_GETCPU, ITP_COUNTER_COUNTS, 0,
		 "cpu", NULL);
	describe(header, VALUE_CODE_EVENTS, ITP_COUNTER_CODE_EVENTS, ITP_SOURCE_INTERPOSE,
		 ITP_COUNTER_COUNTS, 0, "code-events", NULL);
	describe(header, VALUE_CODE_BYTES, ITP_COUNTER_CODE_BYTES, ITP_SOURCE_INTERPOSE,
		 ITP_COUNTER_COUNTS, 0, "code-bytes", NULL);
	{
		uint32_t count = VALUE_COUNT;

		memcpy(header + ITP_OFF_COUNTER_COUNT, &count, 4);
	}
	events_probe(header);
	if (note[0])
		trace_writer_set_counters_note(note);
}

int counters_open(struct thread_counters *tc)
{
	int err = 0;

	tc->has_perf = false;
	tc->has_last_sched = false;
	tc->schedstat_fd = -1;
	for (int i = 0; i < PERF_SLOT_COUNT; i++)
		tc->perf_fd[i] = -1;
	events_open(tc);
	if (counters_setup.mode == MODE_OFF)
		return 0;
	if (counters_setup.mode != MODE_NO_PERF) {
		err = perf_group_open(tc->perf_fd, counters_setup.group_size,
				      counters_setup.mode == MODE_PERF_USER);
		tc->has_perf = err == 0;
	}
	if (counters_setup.read_schedstat) {
		/* /proc/thread-self resolves at open time: the fd stays bound to
		 * this thread, and pread at 0 regenerates fresh values. */
		tc->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	}
	return err;
}

void counters_close(struct thread_counters *tc)
{
	for (int i = PERF_SLOT_COUNT - 1; i >= 0; i--) {
		if (tc->perf_fd[i] >= 0)
			close(tc->perf_fd[i]);
		tc->perf_fd[i] = -1;
	}
	if (tc->schedstat_fd >= 0)
		close(tc->schedstat_fd);
	tc->schedstat_fd = -1;
	tc->has_perf = false;
	events_close(tc);
}

void counters_drop_inherited(struct thread_counters *tc)
{
	/* Only close: never read or ioctl an inherited perf fd, which would act
	 * on (or measure) the parent's thread. */
	events_forget_pages(tc);
	counters_close(tc);
}

int counters_group_read(const struct thread_counters *tc, struct counter_snapshot *s)
{
	group_read buf;
	unsigned size = counters_setup.group_size;
	ssize_t n = read(tc->perf_fd[PERF_SLOT_MINOR_FAULTS], &buf, sizeof(buf));

	if (n != (ssize_t)(offsetof(group_read, values) + size * sizeof(buf.values[0])) ||
	    buf.nr != size) {
		s->is_valid = false;
		return n < 0 ? -errno : -EIO;
	}
	s->enabled = buf.time_enabled;
	s->running = buf.time_running;
	for (unsigned i = 0; i < size; i++)
		s->perf[i] = buf.values[i].value;
	s->is_valid = true;
	return 0;
}

/* Parse the second field (run_delay, ns) of a schedstat line. */
static uint64_t parse_run_delay(const char *buf)
{
	const char *p = strchr(buf, ' ');

	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* getrusage and schedstat into @s (the part of a snapshot outside perf). */
static void read_sched(const struct thread_counters *tc, struct counter_snapshot *s)
{
	if (counters_setup.read_rusage) {
		struct rusage ru;

		if (getrusage(RUSAGE_THREAD, &ru) == 0) {
			s->voluntary = (uint64_t)ru.ru_nvcsw;
			s->involuntary = (uint64_t)ru.ru_nivcsw;
			if (counters_setup.mode == MODE_NO_PERF) {
				s->perf[PERF_SLOT_MINOR_FAULTS] = (uint64_t)ru.ru_minflt;
				s->perf[PERF_SLOT_MAJOR_FAULTS] = (uint64_t)ru.ru_majflt;
			}
		}
	}
	if (tc->schedstat_fd >= 0) {
		char buf[96];
		ssize_t n = pread(tc->schedstat_fd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			buf[n] = '\0';
			s->run_delay = parse_run_delay(buf);
		}
	}
}

static void copy_sched(struct counter_snapshot *to, const struct counter_snapshot *from)
{
	to->voluntary = from->voluntary;
	to->involuntary = from->involuntary;
	to->run_delay = from->run_delay;
}

/* Read the perf group, or its no-perf substitute. */
static void read_core(struct thread_counters *tc, struct counter_snapshot *s)
{
	if (likely(tc->has_perf)) {
		counters_group_read(tc, s);
		return;
	}
	if (counters_setup.mode == MODE_OFF) {
		s->is_valid = false;
		return;
	}
	if (counters_setup.mode == MODE_NO_PERF) {
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		s->perf[PERF_SLOT_TASK_CLOCK] = (uint64_t)ts.tv_sec * 1000000000u +
						(uint64_t)ts.tv_nsec;
		s->enabled = s->running = s->perf[PERF_SLOT_TASK_CLOCK];
		s->is_valid = true;
		return;
	}
	s->is_valid = false; /* this thread could not open its group */
}

/* Read getrusage/schedstat into @s and, for --sched=auto, remember them with
 * the context-switch count they were read at. */
static void read_sched_and_remember(struct thread_counters *tc, struct counter_snapshot *s)
{
	read_sched(tc, s);
	if (counters_setup.is_auto && s->is_valid) {
		copy_sched(&tc->last_sched, s);
		tc->last_sched_switches = s->perf[PERF_SLOT_CONTEXT_SWITCHES];
		tc->has_last_sched = true;
	}
}

void counters_read_begin(struct thread_counters *tc, struct counter_snapshot *s)
{
	/* The -e events last before the clock (counters_read_end: first
	 * after it), so that their interval holds as little else as can be. */
	s->code_events = __atomic_load_n(&jit_code_events, __ATOMIC_RELAXED);
	s->code_bytes = __atomic_load_n(&jit_code_bytes, __ATOMIC_RELAXED);
	read_core(tc, s);
	events_read(tc, s);
	if (!counters_setup.read_rusage && !counters_setup.read_schedstat)
		return;
	if (counters_setup.is_auto && tc->has_last_sched && s->is_valid &&
	    s->perf[PERF_SLOT_CONTEXT_SWITCHES] == tc->last_sched_switches) {
		/* No switch since the last reading: the values have not moved. */
		copy_sched(s, &tc->last_sched);
		return;
	}
	read_sched_and_remember(tc, s);
}

void counters_read_end(struct thread_counters *tc, const struct counter_snapshot *begin,
		       struct counter_snapshot *end)
{
	events_read(tc, end);
	read_core(tc, end);
	end->code_events = __atomic_load_n(&jit_code_events, __ATOMIC_RELAXED);
	end->code_bytes = __atomic_load_n(&jit_code_bytes, __ATOMIC_RELAXED);
	/* glibc reads it from the rseq area: a few ns, no system call. */
	end->cpu = (unsigned)sched_getcpu();
	if (!counters_setup.read_rusage && !counters_setup.read_schedstat)
		return;
	if (counters_setup.is_auto && end->is_valid && begin->is_valid &&
	    end->perf[PERF_SLOT_CONTEXT_SWITCHES] == begin->perf[PERF_SLOT_CONTEXT_SWITCHES]) {
		copy_sched(end, begin);
		return;
	}
	read_sched_and_remember(tc, end);
}

unsigned counters_delta(const struct thread_counters *tc, const struct counter_snapshot *begin,
			const struct counter_snapshot *end, uint64_t *values)
{
	unsigned flags = 0;
	uint64_t enabled = end->enabled - begin->enabled;
	uint64_t running = end->running - begin->running;
	int i;

	flags = events_delta(begin, end, values);
	if (counters_setup.mode != MODE_OFF) {
		/* Not from the perf group: there even when it failed. */
		values[VALUE_CPU] = end->cpu;
		values[VALUE_CODE_EVENTS] = end->code_events - begin->code_events;
		values[VALUE_CODE_BYTES] = end->code_bytes - begin->code_bytes;
	}
	if (!begin->is_valid || !end->is_valid) {
		for (i = 0; i < VALUE_COUNT; i++) {
			if (i != VALUE_CPU && i != VALUE_CODE_EVENTS && i != VALUE_CODE_BYTES)
				values[i] = ITP_VALUE_UNAVAILABLE;
		}
		if (counters_setup.mode == MODE_OFF) {
			for (i = 0; i < VALUE_COUNT; i++)
				values[i] = ITP_VALUE_UNAVAILABLE;
			return flags; /* none asked for: nothing missing */
		}
		return flags | (tc->has_perf || counters_setup.mode == MODE_NO_PERF
			       ? ITP_ITER_READ_FAILED
			       : ITP_ITER_COUNTERS_MISSING);
	}
	if (counters_setup.group_size != PERF_SLOT_COUNT)
		values[VALUE_IRQS] = values[VALUE_SOFTIRQS] = ITP_VALUE_UNAVAILABLE;
	for (i = 0; i < (int)counters_setup.group_size; i++) {
		uint64_t d = end->perf[i] - begin->perf[i];

		/* Software events never multiplex, but a pinned group that lost
		 * its slot would: scale like perf does, and running == 0 means
		 * "not counted", never 0. */
		if (counters_setup.mode != MODE_NO_PERF && running < enabled) {
			if (running == 0) {
				d = ITP_VALUE_UNAVAILABLE;
			} else {
				d = (uint64_t)((unsigned __int128)d * enabled / running);
				flags |= ITP_ITER_SCALED;
			}
		}
		values[perf_events[i].value] = d;
	}
	if (values[VALUE_TASK_CLOCK] != ITP_VALUE_UNAVAILABLE) {
		uint64_t *t = &values[VALUE_TASK_CLOCK];

		*t = *t > counters_setup.task_clock_bias ? *t - counters_setup.task_clock_bias : 0;
	}
	if (counters_setup.mode != MODE_PERF_KERNEL) {
		values[VALUE_MIGRATIONS] = ITP_VALUE_UNAVAILABLE;
		values[VALUE_CONTEXT_SWITCHES] = ITP_VALUE_UNAVAILABLE;
	}
	if (counters_setup.read_rusage) {
		values[VALUE_VOLUNTARY_SWITCHES] = end->voluntary - begin->voluntary;
		values[VALUE_INVOLUNTARY_SWITCHES] = end->involuntary - begin->involuntary;
	} else {
		values[VALUE_VOLUNTARY_SWITCHES] = ITP_VALUE_UNAVAILABLE;
		values[VALUE_INVOLUNTARY_SWITCHES] = ITP_VALUE_UNAVAILABLE;
	}
	values[VALUE_RUN_DELAY] = tc->schedstat_fd >= 0 ? end->run_delay - begin->run_delay
							: ITP_VALUE_UNAVAILABLE;
	return flags;
}

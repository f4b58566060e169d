/*
 * The probes of `iterprof check`. See machine.h; the findings, their
 * severities and the thresholds are documented in doc/check.md, and this
 * file and that page must agree.
 *
 * Every probe reads the kernel's own view (/proc, /sys, a perf_event_open
 * that is closed at once) and writes one finding. A probe that cannot read
 * its source says so (is_unknown, with the path and errno) rather than
 * guessing: a missing file is not "fine".
 *
 * Load, steal and the busiest processes need two samples. The first is
 * taken before the other probes, the second when the window has elapsed,
 * so the probes run inside the window instead of after it; their own CPU
 * time, and that of the child systemd-detect-virt, is subtracted.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "iterprof/perf-events.h"
#include "machine.h"

extern char **environ;

/* Thresholds, as doc/check.md states them. */
#define OTHER_LOAD_SEVERE_PERCENT 50.0  /* of the online CPUs */
#define OTHER_LOAD_WARNING_PERCENT 10.0
#define TOP_PROCESS_PERCENT 5.0         /* of one CPU, to be named */
#define STEAL_SEVERE_PERCENT 5.0        /* in the window */
#define STEAL_WARNING_PERCENT 1.0       /* in the window, or since boot */
#define PRESSURE_WARNING_AVG10 10.0     /* % of the last 10 s */

static const char *const severity_names[MACHINE_SEVERITY_COUNT] = {
	[MACHINE_OK] = "ok",
	[MACHINE_INFO] = "info",
	[MACHINE_WARNING] = "warning",
	[MACHINE_SEVERE] = "severe",
};

const char *machine_severity_name(enum machine_severity severity)
{
	return (unsigned)severity < MACHINE_SEVERITY_COUNT ? severity_names[severity] : "?";
}

/* ------------------------------------------------------------------------
 * Small readers and writers.
 */

/* @fmt into @buf, cut at @size: findings are bounded text, and a path too
 * long for them is cut rather than refused. */
static void say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* @buf's text with @fmt appended, within @size. */
static void appendf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

#define SAY(field, ...) say((field), sizeof(field), __VA_ARGS__)
#define ADD(field, ...) appendf((field), sizeof(field), __VA_ARGS__)

/* A small file into @buf, NUL-terminated and without its trailing
 * whitespace. Returns the length, or -errno. */
static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			close(fd);
			return -err;
		}
		len += (size_t)n;
	}
	close(fd);
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	return (int)len;
}

/* The integer a file holds; 0 or -errno (-EINVAL: not a number). */
static int read_number(const char *path, long long *value)
{
	char buf[64], *end;
	int n = read_text(path, buf, sizeof(buf));

	if (n < 0)
		return n;
	errno = 0;
	*value = strtoll(buf, &end, 10);
	return end == buf || errno ? -EINVAL : 0;
}

/* A CPU list, "0-3,5,7-8", into @set (when not NULL). Returns how many
 * CPUs it names ("" names none), or -1 when it is not a CPU list. */
static int cpulist_parse(const char *list, cpu_set_t *set)
{
	int count = 0;
	const char *p = list;

	if (set)
		CPU_ZERO(set);
	while (*p && !isspace((unsigned char)*p)) {
		char *end;
		long first = strtol(p, &end, 10), last = first;

		if (end == p || first < 0)
			return -1;
		p = end;
		if (*p == '-') {
			last = strtol(p + 1, &end, 10);
			if (end == p + 1 || last < first)
				return -1;
			p = end;
		}
		count += (int)(last - first + 1);
		for (long cpu = first; set && cpu <= last && cpu < CPU_SETSIZE; cpu++)
			CPU_SET((int)cpu, set);
		if (*p == ',')
			p++;
	}
	return count;
}

static int cpulist_count(const char *list)
{
	return cpulist_parse(list, NULL);
}

/* "1.5 GiB": @bytes for a reader. */
static const char *human_bytes(double bytes, char *buf, size_t size)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}

/* The word in brackets of a sysfs choice file: "always [madvise] never". */
static bool bracketed(const char *text, char *word, size_t size)
{
	const char *open = strchr(text, '['), *close = open ? strchr(open, ']') : NULL;

	if (!close)
		return false;
	snprintf(word, size, "%.*s", (int)(close - open - 1), open + 1);
	return true;
}

/* Printable ASCII only: names from /proc are arbitrary bytes. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static struct machine_finding *finding_new(struct machine_report *r, const char *id)
{
	struct machine_finding *f;

	if (r->count >= MACHINE_FINDINGS_MAX)
		abort(); /* the table is sized for the probes below */
	f = &r->findings[r->count++];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->severity = MACHINE_INFO;
	return f;
}

static void set_value(struct machine_finding *f, double value, bool is_integer)
{
	f->has_value = true;
	f->is_integer = is_integer;
	f->value = value;
}

/* The finding's source could not be read: @why is the reason. */
static void set_unknown(struct machine_finding *f, const char *why)
{
	f->is_unknown = true;
	f->severity = MACHINE_INFO;
	SAY(f->found, "unknown: %s", why);
}

/* Does this process have CAP_PERFMON or CAP_SYS_ADMIN (which
 * perf_event_paranoid does not restrict)? */
static bool is_perf_privileged(void)
{
	char buf[4096], *p;
	unsigned long long caps;

	if (read_text("/proc/self/status", buf, sizeof(buf)) <= 0)
		return geteuid() == 0;
	p = strstr(buf, "\nCapEff:");
	if (!p)
		return geteuid() == 0;
	caps = strtoull(p + 8, NULL, 16);
	return (caps >> 38 & 1) || (caps >> 21 & 1); /* CAP_PERFMON, CAP_SYS_ADMIN */
}

/* ------------------------------------------------------------------------
 * Load and steal: two samples of /proc/stat and of every process.
 */

struct cpu_times {
	unsigned long long busy, idle, steal, total;
	bool has_steal;
};

struct process_sample {
	int pid;
	unsigned long long ticks; /* utime + stime */
	char comm[32];
};

struct load_sample {
	bool has_stat;
	struct cpu_times cpu;
	struct process_sample *processes; /* malloc'd, sorted by pid */
	size_t process_count;
	bool has_processes;
	double own_cpu_s; /* this process and its reaped children */
	double monotonic_s;
};

static int read_cpu_times(struct cpu_times *t)
{
	char buf[512];
	unsigned long long v[8] = { 0 };
	int n;

	if (read_text("/proc/stat", buf, sizeof(buf)) < 0 || strncmp(buf, "cpu ", 4))
		return -1;
	/* user nice system idle iowait irq softirq steal guest guest_nice: the
	 * guest times are already inside user and nice. */
	n = sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -1;
	t->busy = v[0] + v[1] + v[2] + v[5] + v[6];
	t->idle = v[3] + v[4];
	t->steal = v[7];
	t->has_steal = n >= 8;
	t->total = t->busy + t->idle + t->steal;
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct process_sample *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* utime+stime of every process but this one. */
static int scan_processes(struct load_sample *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t capacity = 0;
	int self = getpid();

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[64], buf[1024], *open, *close;
		unsigned long long utime, stime;
		struct process_sample *p;
		int pid = atoi(e->d_name);

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if (read_text(path, buf, sizeof(buf)) <= 0)
			continue; /* it exited meanwhile */
		open = strchr(buf, '(');
		close = strrchr(buf, ')');
		/* after the name: state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (!open || !close || close < open ||
		    sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			   &utime, &stime) != 2)
			continue;
		if (s->process_count == capacity) {
			size_t grown_capacity = capacity ? 2 * capacity : 256;
			struct process_sample *grown =
				realloc(s->processes, grown_capacity * sizeof(*grown));

			if (!grown) {
				closedir(d);
				return -ENOMEM;
			}
			s->processes = grown;
			capacity = grown_capacity;
		}
		p = &s->processes[s->process_count++];
		p->pid = pid;
		p->ticks = utime + stime;
		snprintf(p->comm, sizeof(p->comm), "%.*s", (int)(close - open - 1), open + 1);
		sanitize(p->comm);
	}
	closedir(d);
	qsort(s->processes, s->process_count, sizeof(*s->processes), by_pid);
	return 0;
}

static double seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double own_cpu_seconds(void)
{
	struct rusage ru;
	double s = seconds(CLOCK_PROCESS_CPUTIME_ID);

	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		s += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return s;
}

/* Returns 0, or -ENOMEM when the process table could not be held. */
static int load_sample_take(struct load_sample *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->has_stat = read_cpu_times(&s->cpu) == 0;
	err = scan_processes(s);
	s->has_processes = err == 0;
	s->own_cpu_s = own_cpu_seconds();
	s->monotonic_s = seconds(CLOCK_MONOTONIC);
	return err == -ENOMEM ? err : 0;
}

static void load_sample_free(struct load_sample *s)
{
	free(s->processes);
	s->processes = NULL;
}

/* ------------------------------------------------------------------------
 * The probes, one finding each.
 */

struct context {
	unsigned online_cpus;
	bool is_vm;          /* a hypervisor was found */
	bool is_vm_known;    /* ... or its absence established */
	bool is_privileged;  /* CAP_PERFMON or CAP_SYS_ADMIN */
	int paranoid;        /* -100 when unreadable */
};

static void probe_cpus(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "cpus");
	char online[256], present[256];
	cpu_set_t set;
	int n = -1, n_present = -1;

	if (read_text("/sys/devices/system/cpu/online", online, sizeof(online)) >= 0)
		n = cpulist_count(online);
	if (read_text("/sys/devices/system/cpu/present", present, sizeof(present)) >= 0)
		n_present = cpulist_count(present);
	if (n <= 0) {
		long s = sysconf(_SC_NPROCESSORS_ONLN);

		if (s <= 0) {
			set_unknown(f, "neither /sys/devices/system/cpu/online nor "
				       "sysconf(_SC_NPROCESSORS_ONLN) says how many CPUs are online");
			return;
		}
		n = (int)s;
		SAY(online, "?");
	}
	c->online_cpus = (unsigned)n;
	r->online_cpus = (unsigned)n;
	set_value(f, n, true);
	SAY(f->found, "%d CPU%s online (%s)", n, n == 1 ? "" : "s", online);
	if (n_present > n)
		ADD(f->found, " of %d present", n_present);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < n)
		ADD(f->found, "; this process may run on %d of them (taskset or a cpuset)",
		    CPU_COUNT(&set));
	if (n == 1) {
		f->severity = MACHINE_WARNING;
		SAY(f->consequence, "the benchmark shares its only CPU with every other task "
				    "and interrupt: any of them preempts it");
		SAY(f->action, "benchmark on a machine (or VM) with at least 2 CPUs, and keep "
			       "one for the benchmark alone");
	} else {
		f->severity = MACHINE_OK;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void probe_pmu(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "pmu");
	struct perf_event_attr attr =
		itp_perf_attr(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0, 0, 0, 1);
	int fd = itp_perf_open_self(&attr, -1, 1), err = fd < 0 ? errno : 0;
	bool has_sysfs_pmu = itp_diag_has_cpu_pmu();
	char sources[256] = "", why[256], names[16][32];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	if (fd >= 0) {
		close(fd);
		f->severity = MACHINE_OK;
		SAY(f->found, "hardware PMU present: perf_event_open(instructions, user mode) "
			      "works%s",
		    has_sysfs_pmu ? "" : " (though no cpu PMU is listed in sysfs)");
		return;
	}
	d = opendir("/sys/bus/event_source/devices");
	while (d && (e = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
		if (e->d_name[0] != '.')
			SAY(names[n++], "%s", e->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (size_t i = 0; i < n; i++)
		ADD(sources, "%s%s", i ? ", " : "", names[i]);
	itp_perf_diagnose(err, PERF_TYPE_HARDWARE, 1, why, sizeof(why));
	f->severity = MACHINE_SEVERE;
	SAY(f->consequence,
	    "hardware counters (instructions, cycles, cache misses) cannot be recorded: "
	    "'record -e' records them with no values, and report cannot attribute time to "
	    "more-work, frequency or cache-misses (it shows as unexplained)");
	if ((err == ENOENT || err == EOPNOTSUPP) && !has_sysfs_pmu) {
		SAY(f->found, "no hardware PMU: perf_event_open(instructions, user mode) fails "
			      "with %s and the kernel lists no CPU PMU (event sources: %s)",
		    strerrorname_np(err), sources[0] ? sources : "none");
		SAY(f->action, "run on bare metal, or in a VM with a virtual PMU (QEMU/KVM: "
			       "-cpu host,pmu=on; clouds: a bare-metal or PMU-exposing instance "
			       "type)");
	} else if (err == EACCES || err == EPERM) {
		SAY(f->found, "%s, but perf_event_open(instructions, user mode) is refused: %s",
		    has_sysfs_pmu ? "a CPU PMU is present" : "no CPU PMU listed in sysfs", why);
		SAY(f->action, "%s", c->paranoid >= 3 ? "sysctl -w kernel.perf_event_paranoid=2"
						      : "run with CAP_PERFMON, or outside the "
							"seccomp sandbox");
	} else {
		SAY(f->found, "perf_event_open(instructions, user mode) fails with %s: %s",
		    strerrorname_np(err), why);
		SAY(f->action, "see 'iterprof events' for which events this machine can count");
	}
}

static void probe_paranoid(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "perf-event-paranoid");
	const char *path = "/proc/sys/kernel/perf_event_paranoid", *allows;
	long long level;
	int err = read_number(path, &level);

	c->paranoid = -100;
	if (err) {
		char why[300];

		SAY(why, "%s: %s (a kernel without perf events?)", path, strerror(-err));
		set_unknown(f, why);
		return;
	}
	c->paranoid = (int)level;
	set_value(f, (double)level, true);
	if (level >= 3)
		allows = "use no perf events at all (Debian and Ubuntu kernels; upstream "
			 "treats 3 as 2)";
	else if (level == 2)
		allows = "count their own threads, in user mode only";
	else if (level == 1)
		allows = "count their own threads in user and kernel mode, not whole CPUs";
	else if (level == 0)
		allows = "count their own threads and whole CPUs, without raw tracepoint data";
	else
		allows = "do everything root may";
	SAY(f->found, "perf_event_paranoid is %lld: users without CAP_PERFMON may %s; "
		      "this process %s",
	    level, allows,
	    c->is_privileged ? "has CAP_PERFMON or CAP_SYS_ADMIN (root), so the level does "
			       "not restrict it"
			     : "has neither CAP_PERFMON nor CAP_SYS_ADMIN, so it applies");
	if (c->is_privileged || level <= 1) {
		f->severity = MACHINE_OK;
		if (level >= 2)
			SAY(f->consequence, "none as root; a user without CAP_PERFMON %s",
			    level >= 3 ? "would get no perf counters at all"
				       : "would count user mode only");
		return;
	}
	if (level >= 3) {
		f->severity = MACHINE_SEVERE;
		SAY(f->consequence, "no perf events for this user: no hardware counters, and the "
				    "software counters fall back to getrusage and clocks");
		SAY(f->action, "sudo sysctl -w kernel.perf_event_paranoid=2 (user mode), or =1 "
			       "(kernel mode too); or run as root");
	} else {
		f->severity = MACHINE_INFO;
		SAY(f->consequence, "counters exclude kernel mode: time in syscalls and faults "
				    "is not in the hardware counts, and context switches and "
				    "migrations come from getrusage");
		SAY(f->action, "sudo sysctl -w kernel.perf_event_paranoid=1 to count kernel "
			       "mode too");
	}
}

/* The first mount of file system type @fstype (with @option among its super
 * options, when not NULL), from /proc/self/mountinfo: its mount point and
 * the path within the file system it shows (its root). */
static bool find_mount(const char *fstype, const char *option, char *mnt, size_t mnt_size,
		       char *root, size_t root_size)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool is_found = false;

	while (fp && !is_found && fgets(line, sizeof(line), fp)) {
		char *field[16], *save = NULL, *tok;
		int n = 0, dash = -1;

		for (tok = strtok_r(line, " \n", &save); tok && n < 16;
		     tok = strtok_r(NULL, " \n", &save)) {
			if (!strcmp(tok, "-") && dash < 0)
				dash = n;
			field[n++] = tok;
		}
		if (dash < 5 || dash + 3 >= n || strcmp(field[dash + 1], fstype))
			continue;
		if (option) {
			char *opt, *osave = NULL;

			for (opt = strtok_r(field[dash + 3], ",", &osave); opt;
			     opt = strtok_r(NULL, ",", &osave))
				if (!strcmp(opt, option))
					is_found = true;
		} else {
			is_found = true;
		}
		if (is_found) {
			/* mountinfo escapes blanks as octal: \040 */
			char *out = mnt;

			for (char *in = field[4]; *in && out + 1 < mnt + mnt_size; out++) {
				if (in[0] == '\\' && isdigit((unsigned char)in[1])) {
					*out = (char)strtol(in + 1, NULL, 8);
					in += 4;
				} else {
					*out = *in++;
				}
			}
			*out = '\0';
			snprintf(root, root_size, "%s", field[3]);
		}
	}
	if (fp)
		fclose(fp);
	return is_found;
}

static void probe_tracefs(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "tracefs");
	char root[1024], fs_root[1024], path[1200], why[256];
	long long id = -1;
	int err;

	SAY(f->consequence, "per-thread interrupt and softirq counts (irq:* tracepoints) are "
			    "unavailable: time taken by interrupts cannot be told from the "
			    "benchmark's own (cause interrupts)");
	/* Not access() on the directory: tracefs is mode 0700, so for a user
	 * a mounted tracefs looks the same as none. */
	if (!find_mount("tracefs", NULL, root, sizeof(root), fs_root, sizeof(fs_root))) {
		f->severity = MACHINE_WARNING;
		SAY(f->found, "tracefs is not mounted (no tracefs in /proc/self/mountinfo)");
		SAY(f->action, "mount -t tracefs nodev /sys/kernel/tracing");
		return;
	}
	snprintf(path, sizeof(path), "%s/events/irq/softirq_entry/id", root);
	err = read_number(path, &id);
	if (err) {
		f->severity = MACHINE_WARNING;
		SAY(f->found, "tracefs is mounted at %s, but %s: %s", root, path, strerror(-err));
		if (err == -EACCES)
			SAY(f->action, "run as root, or remount tracefs for a group of this "
				       "user: mount -o remount,gid=GID,mode=0750 %s",
			    root);
		else
			SAY(f->action, "use a kernel with tracepoints (CONFIG_TRACEPOINTS, "
				       "CONFIG_FTRACE)");
		return;
	}
	{
		struct perf_event_attr attr =
			itp_perf_attr(PERF_TYPE_TRACEPOINT, (uint64_t)id, 0, 0, 0, 0);
		int fd = itp_perf_open_self(&attr, -1, 1);

		if (fd >= 0) {
			close(fd);
			f->severity = MACHINE_OK;
			f->consequence[0] = '\0';
			SAY(f->found, "tracefs mounted at %s; the tracepoint irq:softirq_entry "
				      "(id %lld) opens for this thread",
			    root, id);
			return;
		}
		err = errno;
	}
	itp_perf_diagnose(err, PERF_TYPE_TRACEPOINT, 0, why, sizeof(why));
	f->severity = MACHINE_WARNING;
	SAY(f->found, "tracefs mounted at %s, but the tracepoint irq:softirq_entry (id %lld) "
		      "does not open: %s",
	    root, id, why);
	SAY(f->action, "%s", c->paranoid >= 2 && !c->is_privileged
				     ? "sudo sysctl -w kernel.perf_event_paranoid=1, or run as root"
				     : "see the reason above");
}

/* systemd-detect-virt --vm: "kvm", "none", ...; "" when not available. */
static void detect_virt(char *out, size_t size)
{
	char *const argv[] = { (char *)"systemd-detect-virt", (char *)"--vm", NULL };
	posix_spawn_file_actions_t actions;
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;
	size_t len = 0;

	out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&actions);
		close(pipefd[0]);
		close(pipefd[1]);
		return;
	}
	posix_spawn_file_actions_destroy(&actions);
	close(pipefd[1]);
	while (len + 1 < size && (n = read(pipefd[0], out + len, size - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[len] = '\0';
	out[strcspn(out, "\n")] = '\0';
	sanitize(out);
}

/* The hypervisor's own name for itself in cpuid leaf 0x40000000, or "". */
static void cpuid_signature(char sig[13], bool *has_flag)
{
	sig[0] = '\0';
	*has_flag = false;
#if defined(__x86_64__) || defined(__i386__)
	{
		unsigned a, b, c, d;

		if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 31 & 1))
			return;
		*has_flag = true;
		__cpuid(0x40000000, a, b, c, d);
		memcpy(sig, &b, 4);
		memcpy(sig + 4, &c, 4);
		memcpy(sig + 8, &d, 4);
		sig[12] = '\0';
		sanitize(sig);
	}
#endif
}

static const char *name_from_cpuid(const char *sig)
{
	static const struct {
		const char *sig, *name;
	} table[] = {
		{ "KVMKVMKVM", "KVM" },       { "Microsoft Hv", "Hyper-V" },
		{ "VMwareVMware", "VMware" }, { "XenVMMXenVMM", "Xen" },
		{ "TCGTCGTCGTCG", "QEMU (TCG, emulated)" },
		{ "VBoxVBoxVBox", "VirtualBox" }, { "bhyve bhyve ", "bhyve" },
		{ " lrpepyh  vr", "Parallels" }, { "ACRNACRNACRN", "ACRN" },
		{ "QNXQVMBSQG", "QNX" },      { "Linux KVM Hv", "KVM (Hyper-V enlightened)" },
	};

	/* No signature (not x86: there is no cpuid; gcc then knows sig is ""
	 * and refuses the comparisons below as always false). */
	if (!sig[0])
		return NULL;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strncmp(sig, table[i].sig, strlen(table[i].sig)))
			return table[i].name;
	return NULL;
}

static const char *name_from_dmi(const char *vendor, const char *product)
{
	static const struct {
		const char *needle, *name;
	} table[] = {
		{ "QEMU", "QEMU" },
		{ "Amazon EC2", "Amazon EC2 (Nitro, KVM)" },
		{ "Google Compute Engine", "Google Compute Engine (KVM)" },
		{ "VMware", "VMware" },
		{ "innotek", "VirtualBox" },
		{ "VirtualBox", "VirtualBox" },
		{ "Xen", "Xen" },
		{ "Parallels", "Parallels" },
		{ "OpenStack", "OpenStack (KVM)" },
		{ "KVM", "KVM" },
		{ "Bochs", "Bochs" },
		{ "BHYVE", "bhyve" },
		{ "Firecracker", "Firecracker (KVM)" },
		{ "Cloud Hypervisor", "Cloud Hypervisor (KVM)" },
	};

	if (strstr(vendor, "Microsoft") && strstr(product, "Virtual Machine"))
		return "Hyper-V";
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strstr(vendor, table[i].needle) || strstr(product, table[i].needle))
			return table[i].name;
	return NULL;
}

static void probe_hypervisor(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "hypervisor");
	char cpuinfo[8192] = "", vendor[128] = "", product[128] = "", xen[64] = "",
	     virt[64], sig[13], cmdline[4096] = "", evidence[MACHINE_TEXT_MAX] = "";
	bool has_cpuinfo_flag = false, has_cpuid_flag, has_dmi, has_cpuinfo, has_vm_evidence;
	const char *name = NULL, *cpuid_name, *dmi_name = NULL;
	FILE *fp = fopen("/proc/cpuinfo", "re");

	has_cpuinfo = fp != NULL;
	/* The flags line of the first CPU is enough: all have the same. */
	while (fp && fgets(cpuinfo, sizeof(cpuinfo), fp)) {
		if (!strncmp(cpuinfo, "flags", 5)) {
			has_cpuinfo_flag = strstr(cpuinfo, " hypervisor") != NULL;
			break;
		}
	}
	if (fp)
		fclose(fp);
	cpuid_signature(sig, &has_cpuid_flag);
	cpuid_name = name_from_cpuid(sig);
	has_dmi = read_text("/sys/class/dmi/id/sys_vendor", vendor, sizeof(vendor)) >= 0;
	has_dmi |= read_text("/sys/class/dmi/id/product_name", product, sizeof(product)) >= 0;
	sanitize(vendor);
	sanitize(product);
	if (has_dmi)
		dmi_name = name_from_dmi(vendor, product);
	read_text("/sys/hypervisor/type", xen, sizeof(xen));
	sanitize(xen);
	detect_virt(virt, sizeof(virt));
	read_text("/proc/cmdline", cmdline, sizeof(cmdline));

	if (has_cpuinfo_flag)
		ADD(evidence, "'hypervisor' flag in /proc/cpuinfo");
	if (sig[0])
		ADD(evidence, "%scpuid signature \"%s\"", evidence[0] ? "; " : "", sig);
	if (has_dmi)
		ADD(evidence, "%sDMI \"%s\" \"%s\"", evidence[0] ? "; " : "", vendor, product);
	else if (has_cpuinfo_flag || has_cpuid_flag)
		ADD(evidence, "%sno DMI tables", evidence[0] ? "; " : "");
	if (xen[0])
		ADD(evidence, "%s/sys/hypervisor/type \"%s\"", evidence[0] ? "; " : "", xen);
	if (virt[0])
		ADD(evidence, "%ssystemd-detect-virt --vm: %s", evidence[0] ? "; " : "", virt);
	if (strcasestr(cmdline, "firecracker"))
		ADD(evidence, "%sthe kernel command line names firecracker",
		    evidence[0] ? "; " : "");

	/* EC2 bare-metal instances have the DMI vendor of EC2's VMs: that name
	 * needs other evidence of a VM. */
	has_vm_evidence = has_cpuinfo_flag || has_cpuid_flag || xen[0] ||
			  (virt[0] && strcmp(virt, "none"));
	if (dmi_name && !has_vm_evidence && !strncmp(dmi_name, "Amazon", 6))
		dmi_name = NULL;
	if (dmi_name && cpuid_name && !strcmp(dmi_name, "QEMU") && !strcmp(cpuid_name, "KVM"))
		name = "KVM/QEMU";
	else if (dmi_name)
		name = dmi_name;
	else if (cpuid_name && !strcmp(cpuid_name, "KVM") && !has_dmi)
		/* Firecracker and other microVMs have no firmware, hence no
		 * DMI; the kernel command line is the VMM's to write. */
		name = strcasestr(cmdline, "firecracker") ? "Firecracker (KVM)"
							  : "KVM (a microVM without DMI tables, "
							    "e.g. Firecracker?)";
	else if (cpuid_name)
		name = cpuid_name;
	else if (xen[0])
		name = "Xen";
	else if (virt[0] && strcmp(virt, "none"))
		name = virt;
	else if (has_cpuinfo_flag || has_cpuid_flag)
		name = "an unidentified hypervisor";

	if (!name && !has_cpuinfo && !virt[0] && !has_dmi) {
		set_unknown(f, "neither /proc/cpuinfo, DMI tables nor systemd-detect-virt "
			       "available to tell");
		return;
	}
	c->is_vm_known = true;
	if (!name) {
		f->severity = MACHINE_OK;
		SAY(f->found, "no hypervisor: bare metal (%s)",
		    evidence[0] ? evidence : "no 'hypervisor' cpu flag, no hypervisor DMI vendor");
		return;
	}
	c->is_vm = true;
	f->severity = MACHINE_WARNING;
	SAY(f->value_text, "%s", name);
	SAY(f->found, "running under %s (%s)", name, evidence);
	SAY(f->consequence, "vCPUs are host threads: the host and other guests can take the "
			    "CPU away (steal), caches and SMT siblings are shared with them, and "
			    "the PMU is virtual or absent; timings vary more than on bare metal");
	SAY(f->action, "benchmark on bare metal for the least noise; otherwise on dedicated, "
		       "pinned vCPUs of a host that is not overcommitted, and watch steal");
}

static void probe_smt(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "smt");
	char active[16] = "", control[32] = "", siblings[64] = "";
	bool has_active =
		read_text("/sys/devices/system/cpu/smt/active", active, sizeof(active)) >= 0;
	int threads = -1;

	read_text("/sys/devices/system/cpu/smt/control", control, sizeof(control));
	if (read_text("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", siblings,
		      sizeof(siblings)) >= 0)
		threads = cpulist_count(siblings);
	if (!has_active && threads < 1) {
		set_unknown(f, "neither /sys/devices/system/cpu/smt/active nor cpu0's "
			       "thread_siblings_list is readable");
		return;
	}
	if (threads >= 1)
		set_value(f, threads, true);
	if ((has_active && active[0] == '1') || (!has_active && threads > 1)) {
		f->severity = MACHINE_WARNING;
		SAY(f->found, "SMT (hyper-threading) is on: %d hardware threads per core (cpu0's "
			      "siblings: %s)",
		    threads, siblings);
		SAY(f->consequence, "a task on the sibling thread shares the core's execution "
				    "units and L1/L2 caches with the benchmark and slows it "
				    "down by a varying amount");
		SAY(f->action, "echo off > /sys/devices/system/cpu/smt/control (until reboot), or "
			       "keep the benchmark core's sibling idle (isolate both)");
		return;
	}
	if (c->is_vm && (!strcmp(control, "notsupported") || !strcmp(control, "notimplemented"))) {
		f->severity = MACHINE_INFO;
		SAY(f->found, "no SMT visible (smt/control: %s; cpu0's siblings: %s); in a VM "
			      "the host's SMT is invisible",
		    control, siblings[0] ? siblings : "?");
		SAY(f->consequence, "another guest's vCPU may run on the sibling thread of this "
				    "vCPU's core, unseen from here");
		SAY(f->action, "on the host, give this VM whole cores (or disable SMT there)");
		return;
	}
	f->severity = MACHINE_OK;
	SAY(f->found, "SMT off (smt/active %s%s%s; cpu0's siblings: %s)",
	    has_active ? active : "missing", control[0] ? ", control " : "", control,
	    siblings[0] ? siblings : "?");
}

static void probe_isolation(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "isolated-cpus");
	char isolated[256] = "", nohz[256] = "", cmdline[4096] = "", params[512] = "";
	int err_isolated =
		read_text("/sys/devices/system/cpu/isolated", isolated, sizeof(isolated));
	int err_nohz = read_text("/sys/devices/system/cpu/nohz_full", nohz, sizeof(nohz));
	int n_isolated, n_nohz;
	bool has_cmdline = read_text("/proc/cmdline", cmdline, sizeof(cmdline)) >= 0;
	static const char *const keys[] = { "isolcpus=", "nohz_full=", "rcu_nocbs=",
					    "irqaffinity=" };

	for (char *tok = cmdline, *save = NULL; (tok = strtok_r(tok, " ", &save)); tok = NULL) {
		if (!strcmp(tok, "--"))
			break; /* the rest is init's */
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strncmp(tok, keys[k], strlen(keys[k])))
				ADD(params, "%s%s", params[0] ? " " : "", tok);
	}
	if (err_isolated < 0 && err_nohz < 0 && !has_cmdline) {
		set_unknown(f, "/sys/devices/system/cpu/isolated, nohz_full and /proc/cmdline "
			       "are all unreadable");
		return;
	}
	n_isolated = err_isolated >= 0 ? cpulist_count(isolated) : 0;
	n_nohz = err_nohz >= 0 ? cpulist_count(nohz) : 0;
	if (n_isolated < 0)
		n_isolated = 0;
	if (n_nohz < 0 || (err_nohz >= 0 && !strcmp(nohz, "(null)")))
		n_nohz = 0;
	set_value(f, n_isolated, true);
	if (n_isolated > 0) {
		cpu_set_t set;
		bool is_pinned = false;

		f->severity = MACHINE_OK;
		SAY(f->found, "isolated CPUs: %s", isolated);
		ADD(f->found, "; nohz_full: %s", n_nohz > 0 ? nohz : "none");
		if (params[0])
			ADD(f->found, "; kernel command line: %s", params);
		/* Isolated CPUs only help the tasks placed on them. */
		if (sched_getaffinity(0, sizeof(set), &set) == 0) {
			cpu_set_t isolated_set, outside;

			cpulist_parse(isolated, &isolated_set);
			CPU_XOR(&outside, &set, &isolated_set);
			CPU_AND(&outside, &outside, &set);
			is_pinned = CPU_COUNT(&outside) == 0;
		}
		if (!is_pinned)
			SAY(f->action, "run the benchmark on them: taskset -c %s iterprof record "
				       "...",
			    isolated);
		return;
	}
	f->severity = MACHINE_WARNING;
	SAY(f->found, "no isolated CPUs (/sys/devices/system/cpu/isolated %s; nohz_full %s; "
		      "kernel command line: %s)",
	    err_isolated >= 0 ? "is empty" : "is missing",
	    err_nohz >= 0 ? (n_nohz > 0 ? nohz : "empty") : "not built in",
	    params[0] ? params : "no isolcpus=, nohz_full=, rcu_nocbs=");
	SAY(f->consequence, "the benchmark shares its CPU with other tasks, kernel threads, "
			    "timer ticks and RCU callbacks, and the scheduler may migrate it: "
			    "preemptions and migrations add noise");
	if (c->online_cpus == 1)
		SAY(f->action, "with one CPU there is nothing to isolate: use a machine with "
			       "more CPUs");
	else if (!c->online_cpus)
		SAY(f->action, "boot with isolcpus=N nohz_full=N rcu_nocbs=N and run taskset -c "
			       "N iterprof record ...; or a cpuset (cset shield -c N)");
	else
		SAY(f->action, "boot with isolcpus=%u nohz_full=%u rcu_nocbs=%u (the last CPU) "
			       "and run taskset -c %u iterprof record ...; or a cpuset (cset "
			       "shield -c %u)",
		    c->online_cpus - 1, c->online_cpus - 1, c->online_cpus - 1,
		    c->online_cpus - 1, c->online_cpus - 1);
}

static void probe_governor(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "cpufreq-governor");
	struct {
		char name[32];
		int cpus;
	} governors[8];
	int kinds = 0, cpus = 0, not_performance = 0;
	char driver[64] = "";
	DIR *d = opendir("/sys/devices/system/cpu");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], name[32];
		int k;

		if (strncmp(e->d_name, "cpu", 3) || !isdigit((unsigned char)e->d_name[3]))
			continue;
		SAY(path, "/sys/devices/system/cpu/%s/cpufreq/scaling_governor", e->d_name);
		if (read_text(path, name, sizeof(name)) <= 0)
			continue; /* offline, or no cpufreq */
		sanitize(name);
		cpus++;
		not_performance += strcmp(name, "performance") != 0;
		for (k = 0; k < kinds && strcmp(governors[k].name, name); k++)
			;
		if (k == kinds && kinds < (int)(sizeof(governors) / sizeof(governors[0]))) {
			SAY(governors[k].name, "%s", name);
			governors[k].cpus = 0;
			kinds++;
		}
		if (k < kinds)
			governors[k].cpus++;
	}
	if (d)
		closedir(d);
	if (!cpus) {
		set_unknown(f, "frequency not visible here: no "
			       "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor (a VM, or "
			       "no cpufreq driver)");
		if (c->is_vm)
			SAY(f->consequence, "the host sets this vCPU's frequency; it may change "
					    "during a run unseen");
		else
			SAY(f->consequence, "whether the frequency changes during a run cannot "
					    "be seen from here");
		SAY(f->action, "check the governor where the frequency is set (the host, or "
			       "the firmware)");
		return;
	}
	read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_driver", driver, sizeof(driver));
	sanitize(driver);
	SAY(f->found, "governor ");
	for (int k = 0; k < kinds; k++)
		ADD(f->found, "%s%s on %d CPU%s", k ? ", " : "", governors[k].name,
		    governors[k].cpus, governors[k].cpus == 1 ? "" : "s");
	if (driver[0])
		ADD(f->found, " (driver %s)", driver);
	if (!not_performance) {
		f->severity = MACHINE_OK;
		return;
	}
	f->severity = MACHINE_WARNING;
	SAY(f->consequence, "the frequency follows the load: the first iterations run slower "
			    "while it ramps up, and it drops when the benchmark sleeps or "
			    "another core gets busy");
	SAY(f->action, "sudo cpupower frequency-set -g performance (or echo performance | sudo "
		       "tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)");
}

static void probe_turbo(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "turbo");
	static const char no_turbo[] = "/sys/devices/system/cpu/intel_pstate/no_turbo";
	static const char boost[] = "/sys/devices/system/cpu/cpufreq/boost";
	static const char policy_boost[] = "/sys/devices/system/cpu/cpufreq/policy0/boost";
	long long v;
	bool is_on;
	const char *path, *off;

	if (read_number(no_turbo, &v) == 0) {
		path = no_turbo;
		is_on = v == 0;
		off = "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo";
	} else if (read_number(boost, &v) == 0 || read_number(policy_boost, &v) == 0) {
		path = access(boost, F_OK) == 0 ? boost : policy_boost;
		is_on = v != 0;
		off = access(boost, F_OK) == 0
			      ? "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost"
			      : "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/policy*/boost";
	} else {
		set_unknown(f, "turbo/boost not visible here: neither intel_pstate/no_turbo nor "
			       "cpufreq/boost in /sys/devices/system/cpu (a VM, or a driver "
			       "that does not expose it)");
		if (c->is_vm)
			SAY(f->consequence, "the host decides; turbo there changes this vCPU's "
					    "speed unseen");
		return;
	}
	set_value(f, is_on ? 1 : 0, true);
	if (!is_on) {
		f->severity = MACHINE_OK;
		SAY(f->found, "turbo/boost off (%s is %lld)", path, v);
		return;
	}
	f->severity = MACHINE_WARNING;
	SAY(f->found, "turbo/boost on (%s is %lld)", path, v);
	SAY(f->consequence, "the clock rises above nominal while power and temperature allow "
			    "and falls back when they do not: the same work takes a varying "
			    "time, and long runs end slower than they start");
	SAY(f->action, "%s", off);
}

static void probe_aslr(struct machine_report *r)
{
	struct machine_finding *f = finding_new(r, "aslr");
	const char *path = "/proc/sys/kernel/randomize_va_space";
	long long level;
	int err = read_number(path, &level);

	if (err) {
		char why[300];

		SAY(why, "%s: %s", path, strerror(-err));
		set_unknown(f, why);
		return;
	}
	set_value(f, (double)level, true);
	if (level == 0) {
		f->severity = MACHINE_OK;
		SAY(f->found, "ASLR off (randomize_va_space is 0): the same addresses every run");
		return;
	}
	f->severity = MACHINE_WARNING;
	SAY(f->found, "ASLR on (randomize_va_space is %lld: stack, mmap and vDSO%s randomised)",
	    level, level >= 2 ? ", heap" : "");
	SAY(f->consequence, "code and data land at different addresses in each run, so cache "
			    "set and alignment effects differ between runs: one run measures "
			    "one layout");
	SAY(f->action, "to compare runs of one layout: setarch -R iterprof record ... (this "
		       "run only) or sysctl -w kernel.randomize_va_space=0; to average over "
		       "layouts keep it and record several runs");
}

static void probe_thp(struct machine_report *r)
{
	struct machine_finding *f = finding_new(r, "thp");
	char enabled_text[128], defrag_text[128], enabled[32], defrag[32] = "?";
	int err = read_text("/sys/kernel/mm/transparent_hugepage/enabled", enabled_text,
			    sizeof(enabled_text));

	if (err < 0 || !bracketed(enabled_text, enabled, sizeof(enabled))) {
		char why[300];

		SAY(why, "/sys/kernel/mm/transparent_hugepage/enabled: %s (a kernel without "
			 "transparent huge pages?)",
		    err < 0 ? strerror(-err) : "no [choice]");
		set_unknown(f, why);
		return;
	}
	if (read_text("/sys/kernel/mm/transparent_hugepage/defrag", defrag_text,
		      sizeof(defrag_text)) < 0 ||
	    !bracketed(defrag_text, defrag, sizeof(defrag)))
		SAY(defrag, "?");
	SAY(f->found, "transparent huge pages: enabled [%s], defrag [%s]", enabled, defrag);
	if (strcmp(enabled, "always") && (strcmp(defrag, "always") || !strcmp(enabled, "never"))) {
		f->severity = MACHINE_OK;
		return;
	}
	f->severity = MACHINE_WARNING;
	if (!strcmp(enabled, "always"))
		SAY(f->consequence, "whether a region gets huge pages depends on alignment and "
				    "free memory, and khugepaged merges pages in the background: "
				    "page faults, TLB misses and time differ between runs%s",
		    !strcmp(defrag, "always") ? "; defrag always stalls faults to compact memory"
					      : "");
	else
		SAY(f->consequence, "defrag always: a fault in a madvise'd region may stall "
				    "while the kernel compacts memory");
	SAY(f->action, "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled "
		       "/sys/kernel/mm/transparent_hugepage/defrag");
}

static void probe_swap(struct machine_report *r)
{
	struct machine_finding *f = finding_new(r, "swap");
	char meminfo[8192], swaps[4096], size[32], used_text[32], *p;
	long long total_kb = -1, free_kb = -1;
	int devices = 0;

	if (read_text("/proc/meminfo", meminfo, sizeof(meminfo)) > 0) {
		if ((p = strstr(meminfo, "SwapTotal:")))
			total_kb = strtoll(p + 10, NULL, 10);
		if ((p = strstr(meminfo, "SwapFree:")))
			free_kb = strtoll(p + 9, NULL, 10);
	}
	if (total_kb < 0 || free_kb < 0) {
		set_unknown(f, "/proc/meminfo has no SwapTotal/SwapFree");
		return;
	}
	if (read_text("/proc/swaps", swaps, sizeof(swaps)) >= 0)
		for (p = strchr(swaps, '\n'); p; p = strchr(p + 1, '\n'))
			devices++; /* one line per device after the header */
	set_value(f, (double)(total_kb - free_kb) * 1024, true);
	if (total_kb == 0) {
		f->severity = MACHINE_OK;
		SAY(f->found, "no swap");
		return;
	}
	human_bytes((double)total_kb * 1024, size, sizeof(size));
	human_bytes((double)(total_kb - free_kb) * 1024, used_text, sizeof(used_text));
	SAY(f->found, "%s of swap on %d device%s, %s in use", size, devices,
	    devices == 1 ? "" : "s", used_text);
	SAY(f->action, "sudo swapoff -a (if memory allows), and keep the benchmark's memory "
		       "well below the free memory");
	if (total_kb - free_kb > 0) {
		f->severity = MACHINE_WARNING;
		SAY(f->consequence, "memory is short enough that pages were swapped out: a page "
				    "the benchmark touches may have to be read back (a major "
				    "fault of milliseconds)");
	} else {
		f->severity = MACHINE_INFO;
		SAY(f->consequence, "none yet (nothing swapped out); a benchmark that fills "
				    "memory would push pages to swap and take major faults");
	}
}

/* This process's cgroup path in the v1 hierarchy of @controller, or the v2
 * one (@controller NULL). */
static bool cgroup_path(const char *controller, char *path, size_t size)
{
	FILE *fp = fopen("/proc/self/cgroup", "re");
	char line[4096];
	bool is_found = false;

	while (fp && !is_found && fgets(line, sizeof(line), fp)) {
		char *controllers = strchr(line, ':'), *p;

		if (!controllers)
			continue;
		controllers++;
		p = strchr(controllers, ':');
		if (!p)
			continue;
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		if (!controller) {
			is_found = !strncmp(line, "0:", 2) && !controllers[0];
		} else {
			char *opt, *save = NULL;

			for (opt = strtok_r(controllers, ",", &save); opt;
			     opt = strtok_r(NULL, ",", &save))
				if (!strcmp(opt, controller))
					is_found = true;
		}
		if (is_found)
			snprintf(path, size, "%s", p);
	}
	if (fp)
		fclose(fp);
	return is_found;
}

/* A cgroup's quota in CPUs: 0 when it has none, -1 when unreadable. */
static double cgroup_quota(bool is_v2, const char *dir, long long *quota, long long *period)
{
	char path[4200], buf[128];

	if (is_v2) {
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		if (read_text(path, buf, sizeof(buf)) < 0)
			return -1;
		if (!strncmp(buf, "max", 3))
			return 0;
		if (sscanf(buf, "%lld %lld", quota, period) != 2 || *period <= 0)
			return -1;
	} else {
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
		if (read_number(path, quota))
			return -1;
		if (*quota < 0)
			return 0;
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		if (read_number(path, period) || *period <= 0)
			return -1;
	}
	return (double)*quota / (double)*period;
}

static void probe_cgroup(struct machine_report *r, struct context *c)
{
	struct machine_finding *f = finding_new(r, "cgroup-cpu-quota");
	char mnt[1024], root[1024], path[2048], dir[4096], tight_dir[4096] = "";
	char stat[1024], *p;
	bool is_v2 = false;
	double cpus = 0;
	long long quota = 0, period = 0, tight_quota = 0, tight_period = 0;
	long long nr_periods = -1, nr_throttled = -1, throttled_ns = -1;
	bool is_readable = false;
	size_t mnt_len;

	if (cgroup_path("cpu", path, sizeof(path)) &&
	    find_mount("cgroup", "cpu", mnt, sizeof(mnt), root, sizeof(root))) {
		is_v2 = false;
	} else if (cgroup_path(NULL, path, sizeof(path)) &&
		   find_mount("cgroup2", NULL, mnt, sizeof(mnt), root, sizeof(root))) {
		is_v2 = true;
	} else {
		set_unknown(f, "no cgroup of this process with a visible cpu hierarchy "
			       "(/proc/self/cgroup, /proc/self/mountinfo)");
		return;
	}
	/* The mount shows the hierarchy from @root down (a container sees its
	 * own subtree): the process's directory is the path below it. */
	if (strcmp(root, "/") && !strncmp(path, root, strlen(root)))
		memmove(path, path + strlen(root), strlen(path + strlen(root)) + 1);
	snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(path, "/") ? path : "");
	if (access(dir, F_OK)) {
		char why[4200];

		SAY(why, "this process's cgroup directory %s is not visible here: %s", dir,
		    strerror(errno));
		set_unknown(f, why);
		return;
	}
	/* A parent's quota limits its children: walk up to the mount, keep the
	 * tightest. */
	mnt_len = strlen(mnt);
	for (;;) {
		double q = cgroup_quota(is_v2, dir, &quota, &period);

		if (q >= 0)
			is_readable = true;
		if (q > 0 && (cpus == 0 || q < cpus)) {
			cpus = q;
			tight_quota = quota;
			tight_period = period;
			SAY(tight_dir, "%s", dir);
		}
		p = strrchr(dir, '/');
		if (strlen(dir) <= mnt_len || !p || (size_t)(p - dir) < mnt_len)
			break;
		*p = '\0';
	}
	if (!is_readable && !is_v2) {
		char why[4200];

		SAY(why, "no readable cpu.cfs_quota_us from %s%s up", mnt, path);
		set_unknown(f, why);
		return;
	}
	/* Throttling so far, where the tightest quota is (else our own cgroup). */
	snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(path, "/") ? path : "");
	{
		char stat_path[4200];

		snprintf(stat_path, sizeof(stat_path), "%s/cpu.stat", tight_dir[0] ? tight_dir : dir);
		if (read_text(stat_path, stat, sizeof(stat)) > 0) {
			if ((p = strstr(stat, "nr_periods ")))
				nr_periods = strtoll(p + 11, NULL, 10);
			if ((p = strstr(stat, "nr_throttled ")))
				nr_throttled = strtoll(p + 13, NULL, 10);
			if ((p = strstr(stat, "throttled_time ")))
				throttled_ns = strtoll(p + 15, NULL, 10);
			else if ((p = strstr(stat, "throttled_usec ")))
				throttled_ns = strtoll(p + 15, NULL, 10) * 1000;
		}
	}
	if (cpus > 0) {
		set_value(f, cpus, false);
		SAY(f->found, "CPU quota %.2f CPUs (%s %lld per %lld us) in %s (cgroup v%d)",
		    cpus, is_v2 ? "cpu.max" : "cpu.cfs_quota_us", tight_quota, tight_period,
		    tight_dir, is_v2 ? 2 : 1);
		if (c->online_cpus)
			ADD(f->found, " on %u online CPUs", c->online_cpus);
	} else if (is_v2 && !is_readable) {
		SAY(f->found, "no CPU quota: the cpu controller is not enabled for this cgroup "
			      "(%s, cgroup v2)",
		    dir);
	} else {
		SAY(f->found, "no CPU quota on %s or its parents (cgroup v%d)", dir, is_v2 ? 2 : 1);
	}
	if (nr_throttled == 0)
		ADD(f->found, "; never throttled so far");
	else if (nr_throttled > 0)
		ADD(f->found, "; throttled in %lld of %lld periods so far, %.0f ms in all",
		    nr_throttled, nr_periods, (double)(throttled_ns > 0 ? throttled_ns : 0) / 1e6);
	if (cpus > 0 && (!c->online_cpus || cpus < c->online_cpus)) {
		f->severity = MACHINE_SEVERE;
		SAY(f->consequence, "once this cgroup's tasks have used %.0f ms of CPU in a "
				    "%.0f ms period they are stopped until the next: an iteration "
				    "that crosses the limit waits (off-CPU time, cause "
				    "cgroup-throttle), and the benchmark gets %.2f CPUs, not %u",
		    (double)tight_quota / 1000, (double)tight_period / 1000, cpus, c->online_cpus);
		SAY(f->action, "run outside this cgroup, or lift the quota: echo %s > %s/%s "
			       "(containers: no --cpus, or --cpus=%u)",
		    is_v2 ? "max" : "-1", tight_dir, is_v2 ? "cpu.max" : "cpu.cfs_quota_us",
		    c->online_cpus ? c->online_cpus : 1);
	} else if (nr_throttled > 0) {
		f->severity = MACHINE_WARNING;
		SAY(f->consequence, "the cgroup has been throttled: bursts of several busy "
				    "threads run into the quota and wait");
		SAY(f->action, "raise the quota in %s, or run outside this cgroup",
		    tight_dir[0] ? tight_dir : dir);
	} else {
		f->severity = MACHINE_OK;
	}
}

/* ------------------------------------------------------------------------
 * What the window measured.
 */

static void report_steal(struct machine_finding *f, const struct load_sample *a,
			 const struct load_sample *b, const struct context *c)
{
	unsigned long long total, steal;
	double window_percent, boot_percent;

	if (!a->has_stat || !b->has_stat) {
		set_unknown(f, "/proc/stat is unreadable or has no cpu line");
		return;
	}
	if (!b->cpu.has_steal) {
		set_unknown(f, "/proc/stat has no steal column (a kernel older than 2.6.11)");
		return;
	}
	total = b->cpu.total - a->cpu.total;
	steal = b->cpu.steal - a->cpu.steal;
	if (!total || !b->cpu.total) {
		set_unknown(f, "/proc/stat's CPU times did not advance during the window");
		return;
	}
	window_percent = 100.0 * (double)steal / (double)total;
	boot_percent = 100.0 * (double)b->cpu.steal / (double)b->cpu.total;
	set_value(f, window_percent, false);
	SAY(f->found, "steal %.1f %% of the CPU time over the last %.0f ms, %.1f %% since boot",
	    window_percent, (b->monotonic_s - a->monotonic_s) * 1e3, boot_percent);
	if (window_percent <= STEAL_WARNING_PERCENT && boot_percent <= STEAL_WARNING_PERCENT) {
		f->severity = MACHINE_OK;
		if (!c->is_vm && c->is_vm_known)
			ADD(f->found, " (bare metal: none expected)");
		return;
	}
	f->severity = window_percent > STEAL_SEVERE_PERCENT ? MACHINE_SEVERE : MACHINE_WARNING;
	SAY(f->consequence, "for that share of the time the host ran something else on these "
			    "vCPUs: the benchmark's wall time includes it, but neither its CPU "
			    "time nor any counter shows it (cause steal)%s",
	    window_percent > STEAL_WARNING_PERCENT ? "" : "; the host is quiet right now, "
							 "not always");
	SAY(f->action, "benchmark when the host is quiet, on dedicated vCPUs, or on bare "
		       "metal; compare several runs");
}

static int by_cpu_percent(const void *x, const void *y)
{
	const struct machine_process *a = x, *b = y;

	return (a->cpu_percent < b->cpu_percent) - (a->cpu_percent > b->cpu_percent);
}

static void report_other_load(struct machine_finding *f, const struct load_sample *a,
			      const struct load_sample *b, const struct context *c,
			      bool is_out_of_memory)
{
	double hz = (double)sysconf(_SC_CLK_TCK), window_s = b->monotonic_s - a->monotonic_s;
	double busy, percent, cpus;
	unsigned long long total;

	if (!a->has_stat || !b->has_stat || hz <= 0 || window_s <= 0) {
		set_unknown(f, "/proc/stat is unreadable or has no cpu line");
		return;
	}
	total = b->cpu.total - a->cpu.total;
	if (!total) {
		set_unknown(f, "/proc/stat's CPU times did not advance during the window");
		return;
	}
	/* All CPUs' busy ticks, less what this process and its children did. */
	busy = (double)(b->cpu.busy - a->cpu.busy) - (b->own_cpu_s - a->own_cpu_s) * hz;
	if (busy < 0)
		busy = 0;
	percent = 100.0 * busy / (double)total;
	cpus = c->online_cpus ? percent / 100.0 * c->online_cpus : 0;
	set_value(f, percent, false);
	SAY(f->found, "other work kept %.0f %% of the CPUs busy over %.0f ms", percent,
	    window_s * 1e3);
	if (c->online_cpus)
		ADD(f->found, " (%.2f of %u CPUs)", cpus, c->online_cpus);
	if (a->has_processes && b->has_processes) {
		struct machine_process *all = NULL;
		size_t n = 0;

		if (b->process_count)
			all = malloc(b->process_count * sizeof(*all));
		for (size_t i = 0; all && i < b->process_count; i++) {
			const struct process_sample *now = &b->processes[i], *then;
			unsigned long long ticks = now->ticks;
			double share;

			then = bsearch(now, a->processes, a->process_count, sizeof(*then), by_pid);
			if (then && then->ticks <= ticks)
				ticks -= then->ticks; /* else: a new process on a reused pid */
			share = 100.0 * (double)ticks / hz / window_s;
			if (share <= TOP_PROCESS_PERCENT)
				continue;
			all[n].pid = now->pid;
			SAY(all[n].comm, "%s", now->comm);
			all[n].cpu_percent = share;
			n++;
		}
		if (all) {
			qsort(all, n, sizeof(*all), by_cpu_percent);
			for (size_t i = 0; i < n && i < MACHINE_TOP_MAX; i++)
				f->top[f->top_count++] = all[i];
			free(all);
		}
		if (!all && b->process_count)
			ADD(f->found, "; the busiest processes are unknown (out of memory)");
		else if (!f->top_count)
			ADD(f->found, "; no other process used more than %.0f %% of a CPU",
			    TOP_PROCESS_PERCENT);
		for (unsigned i = 0; i < f->top_count; i++)
			ADD(f->found, "%s%s (pid %d) %.0f %% of a CPU", i ? ", " : "; busiest: ",
			    f->top[i].comm, f->top[i].pid, f->top[i].cpu_percent);
	} else {
		ADD(f->found, "; the busiest processes are unknown (%s)",
		    is_out_of_memory ? "out of memory" : "/proc unreadable");
	}
	if (percent <= OTHER_LOAD_WARNING_PERCENT) {
		f->severity = MACHINE_OK;
		return;
	}
	f->severity = percent > OTHER_LOAD_SEVERE_PERCENT ? MACHINE_SEVERE : MACHINE_WARNING;
	SAY(f->consequence, "other work competes for the CPUs, caches and memory bandwidth: the "
			    "benchmark is preempted, migrated and slowed by shared caches "
			    "(causes preemption, migration, unexplained)");
	SAY(f->action, "stop %s or wait for %s to finish; or pin the benchmark to a CPU %s "
		       "not use (taskset -c)",
	    f->top_count ? "the busiest processes" : "the other work", f->top_count ? "them" : "it",
	    f->top_count ? "they do" : "it does");
}

static void report_load_average(struct machine_finding *f, const struct context *c)
{
	char buf[256];
	double load[3];
	int running, tasks;

	if (read_text("/proc/loadavg", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lf %lf %lf %d/%d", &load[0], &load[1], &load[2], &running, &tasks) != 5) {
		set_unknown(f, "/proc/loadavg is unreadable");
		return;
	}
	set_value(f, load[0], false);
	/* running counts this process, which is running while it reads */
	SAY(f->found, "load average %.2f %.2f %.2f (1, 5, 15 min)", load[0], load[1], load[2]);
	if (c->online_cpus)
		ADD(f->found, " on %u CPUs", c->online_cpus);
	ADD(f->found, "; %d other task%s runnable now, of %d", running > 0 ? running - 1 : 0,
	    running == 2 ? "" : "s", tasks);
	if (!c->online_cpus || load[0] <= 0.5 * c->online_cpus) {
		f->severity = MACHINE_OK;
		return;
	}
	f->severity = load[0] > c->online_cpus ? MACHINE_WARNING : MACHINE_INFO;
	SAY(f->consequence, "over the last minute %.2f tasks on average wanted one of the %u "
			    "CPUs (or waited for I/O): a benchmark run then would have %s",
	    load[0], c->online_cpus,
	    load[0] > c->online_cpus ? "waited for a CPU" : "shared the CPUs with them");
	SAY(f->action, "see other-load for who is busy now; wait until the load settles");
}

static void report_pressure(struct machine_finding *f)
{
	char buf[512];
	double avg10, avg60, avg300;
	int err = read_text("/proc/pressure/cpu", buf, sizeof(buf));

	if (err < 0) {
		char why[300];

		SAY(why, "/proc/pressure/cpu: %s (a kernel without CONFIG_PSI, or booted with "
			 "psi=0)",
		    strerror(-err));
		set_unknown(f, why);
		return;
	}
	if (sscanf(buf, "some avg10=%lf avg60=%lf avg300=%lf", &avg10, &avg60, &avg300) != 3) {
		set_unknown(f, "/proc/pressure/cpu has no \"some avg10=\" line");
		return;
	}
	set_value(f, avg10, false);
	SAY(f->found, "CPU pressure: some task waited for a CPU %.1f %% of the last 10 s (%.1f "
		      "%% of 60 s, %.1f %% of 300 s)",
	    avg10, avg60, avg300);
	if (avg10 <= PRESSURE_WARNING_AVG10) {
		f->severity = MACHINE_OK;
		return;
	}
	f->severity = MACHINE_WARNING;
	SAY(f->consequence, "runnable tasks queue for the CPUs: a benchmark thread would wait "
			    "in that queue too (cause preemption)");
	SAY(f->action, "see other-load for who is busy now; wait until the pressure settles");
}

void machine_check(struct machine_report *r, unsigned window_ms)
{
	struct context c = { 0 };
	struct load_sample a, b;
	struct machine_finding *steal;
	struct timespec until;
	struct utsname u;
	long long paranoid;
	bool is_out_of_memory;

	memset(r, 0, sizeof(*r));
	if (uname(&u) == 0) {
		SAY(r->host, "%s", u.nodename);
		SAY(r->kernel, "%s %s %s", u.sysname, u.release, u.machine);
	}
	c.is_privileged = is_perf_privileged();
	c.paranoid = read_number("/proc/sys/kernel/perf_event_paranoid", &paranoid) ? -100
										    : (int)paranoid;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += window_ms / 1000;
	until.tv_nsec += (long)(window_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	is_out_of_memory = load_sample_take(&a) != 0;

	probe_cpus(r, &c);
	probe_pmu(r, &c);
	probe_paranoid(r, &c);
	probe_tracefs(r, &c);
	probe_hypervisor(r, &c);
	steal = finding_new(r, "steal"); /* filled when the window ends */
	probe_cgroup(r, &c);
	probe_isolation(r, &c);
	probe_smt(r, &c);
	probe_governor(r, &c);
	probe_turbo(r, &c);
	probe_aslr(r);
	probe_thp(r);
	probe_swap(r);

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	is_out_of_memory |= load_sample_take(&b) != 0;
	r->window_ms = (b.monotonic_s - a.monotonic_s) * 1e3;
	report_steal(steal, &a, &b, &c);
	report_other_load(finding_new(r, "other-load"), &a, &b, &c, is_out_of_memory);
	report_load_average(finding_new(r, "load-average"), &c);
	report_pressure(finding_new(r, "cpu-pressure"));
	load_sample_free(&a);
	load_sample_free(&b);
}

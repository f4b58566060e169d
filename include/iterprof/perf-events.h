/*
 * What the shim and the CLI share about perf events: how an event is opened
 * on the calling thread, and why it cannot be, in one line a user can act on
 * (the shim stores the reason in the trace header's counter table; the CLI
 * prints it in `iterprof events` and after `iterprof record -e`).
 * Header-only, no allocation, only open/read of small /proc and /sys files.
 *
 * The errno of perf_event_open alone is ambiguous: ENOENT is both "no PMU at
 * all" (a VM without a virtual PMU: the kernel registers no "cpu" PMU) and
 * "this CPU's PMU has no such event"; EACCES is perf_event_paranoid, a
 * missing CAP_PERFMON, or seccomp. The machine's state tells them apart.
 */
#ifndef ITERPROF_PERF_EVENTS_H
#define ITERPROF_PERF_EVENTS_H

#include <errno.h>
#include <fcntl.h>
/* libpfm4's perfmon/perf_event.h, when included first, defines the same
 * types as the kernel's header and cannot coexist with it. */
#ifndef __PERFMON_PERF_EVENT_H__
#include <linux/perf_event.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The layout of a PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING
 * | ID read of a group of at most @n events. */
#define ITP_PERF_GROUP_READ(n)                                                    \
	struct {                                                                  \
		uint64_t nr;                                                      \
		uint64_t time_enabled;                                            \
		uint64_t time_running;                                            \
		struct {                                                          \
			uint64_t value;                                           \
			uint64_t id;                                              \
		} values[n];                                                      \
	}

/* An event's attributes as iterprof describes events everywhere. */
static inline struct perf_event_attr itp_perf_attr(uint32_t type, uint64_t config,
						   uint64_t config1, uint64_t config2,
						   int exclude_user, int exclude_kernel)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.type = type;
	attr.config = config;
	attr.config1 = config1;
	attr.config2 = config2;
	attr.exclude_user = exclude_user ? 1 : 0;
	attr.exclude_kernel = exclude_kernel ? 1 : 0;
	return attr;
}

/*
 * perf_event_open on the calling thread, any CPU: the event of @attr with
 * the fields every iterprof event shares filled in. inherit=0: a thread
 * counts only itself (inherited counters would add children's totals into
 * their creator). @is_disabled: opened but not started (a probe). Returns
 * the fd, or -1 with errno.
 */
static inline int itp_perf_open_self(struct perf_event_attr *attr, int group_fd, int is_disabled)
{
	attr->size = sizeof(*attr);
	attr->read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED |
			    PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID;
	attr->disabled = is_disabled ? 1 : 0;
	return (int)syscall(SYS_perf_event_open, attr, 0, -1, group_fd, PERF_FLAG_FD_CLOEXEC);
}

/* Read a small file into @buf (NUL-terminated); bytes read or -1. */
static inline int itp_diag_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* perf_event_paranoid, or 99 when unreadable. */
static inline int itp_diag_paranoid(void)
{
	char buf[32];

	return itp_diag_read("/proc/sys/kernel/perf_event_paranoid", buf, sizeof(buf)) > 0
		       ? atoi(buf)
		       : 99;
}

/* Seccomp mode of this process: 0 none, 1 strict, 2 filter. */
static inline int itp_diag_seccomp(void)
{
	char buf[4096], *p;

	if (itp_diag_read("/proc/self/status", buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, "\nSeccomp:");
	return p ? atoi(p + 9) : 0;
}

/* Does the kernel have a hardware PMU driver for the CPU? x86 registers
 * "cpu" (or "cpu_core"/"cpu_atom" on hybrid parts), arm64 "armv8_*". */
static inline int itp_diag_has_cpu_pmu(void)
{
	static const char *const names[] = {
		"/sys/bus/event_source/devices/cpu",
		"/sys/bus/event_source/devices/cpu_core",
		"/sys/bus/event_source/devices/armv8_pmuv3",
		"/sys/bus/event_source/devices/armv8_pmuv3_0",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (access(names[i], F_OK) == 0)
			return 1;
	}
	return 0;
}

/*
 * One line (no trailing newline) on why an event of @type failed to open
 * with @err (a positive errno) and whether the kernel was excluded.
 */
static inline void itp_perf_diagnose(int err, uint32_t type, int exclude_kernel, char *buf,
				     size_t len)
{
	int is_hardware = type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE ||
			  type == PERF_TYPE_RAW;
	int paranoid;

	if (itp_diag_seccomp() == 2 && (err == EPERM || err == EACCES || err == ENOSYS)) {
		snprintf(buf, len, "blocked by seccomp (a container? allow perf_event_open)");
		return;
	}
	switch (err) {
	case ENOENT:
	case EOPNOTSUPP:
		if (is_hardware && !itp_diag_has_cpu_pmu())
			snprintf(buf, len, "no hardware PMU: no PMU driver for this CPU (a VM "
					   "without a vPMU?)");
		else
			snprintf(buf, len, "not supported by this CPU's PMU (%s)", strerror(err));
		return;
	case EACCES:
	case EPERM:
		paranoid = itp_diag_paranoid();
		if (!exclude_kernel && paranoid >= 2)
			snprintf(buf, len, "kernel mode needs perf_event_paranoid<=1 (is %d) or "
					   "CAP_PERFMON; or add :u",
				 paranoid);
		else if (paranoid >= 3)
			snprintf(buf, len, "perf_event_paranoid is %d: sysctl "
					   "kernel.perf_event_paranoid=2, or CAP_PERFMON",
				 paranoid);
		else
			snprintf(buf, len, "not permitted (%s, perf_event_paranoid %d): needs "
					   "CAP_PERFMON",
				 strerror(err), paranoid);
		return;
	case ENOSYS:
		snprintf(buf, len, "no perf_event_open in this kernel (CONFIG_PERF_EVENTS=n)");
		return;
	case EINVAL:
		snprintf(buf, len, "invalid for this PMU (a modifier or field it does not take)");
		return;
	case EMFILE:
	case ENFILE:
		snprintf(buf, len, "out of file descriptors (%s)", strerror(err));
		return;
	}
	snprintf(buf, len, "perf_event_open: %s", strerror(err));
}

/*
 * Whether the kernel lets user space read hardware counters (no syscall per
 * read): arm64 kernel.perf_user_access >= 1; x86 the cpu PMU's rdpmc
 * attribute >= 1 (1, the default: for tasks that map the event). 1 if so;
 * else 0 with why not and the command that would allow it in @why (when
 * @why is not NULL). The shim decides with it, the CLI explains with it.
 */
static inline int itp_user_read_allowed(char *why, size_t why_len)
{
#if defined(__aarch64__) || defined(__x86_64__)
#if defined(__aarch64__)
	static const char path[] = "/proc/sys/kernel/perf_user_access";
#else
	static const char path[] = "/sys/bus/event_source/devices/cpu/rdpmc";
#endif
	char buf[16];
	int n = itp_diag_read(path, buf, sizeof(buf));

	if (n > 0 && atoi(buf) >= 1)
		return 1;
	if (!why)
		return 0;
	if (n > 0)
		buf[strcspn(buf, "\n")] = '\0';
#if defined(__aarch64__)
	snprintf(why, why_len,
		 "the kernel keeps the PMU registers from user space (%s is %s; "
		 "'sysctl -w kernel.perf_user_access=1' allows it)",
		 path, n > 0 ? buf : "missing");
#else
	snprintf(why, why_len,
		 "rdpmc is disabled for user space (%s is %s; 'echo 1 > %s' allows it)", path,
		 n > 0 ? buf : "missing", path);
#endif
	return 0;
#else
	if (why)
		snprintf(why, why_len, "no user-space counter reads on this architecture");
	return 0;
#endif
}

#endif /* ITERPROF_PERF_EVENTS_H */

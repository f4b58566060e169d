/*
 * Why a perf event cannot be opened here, in one line a user can act on.
 * Shared by the shim (which stores the reason in the trace header's counter
 * table) and the CLI (`iterprof events`, `iterprof record -e`); header-only,
 * no allocation, only open/read of small /proc and /sys files.
 *
 * The errno of perf_event_open alone is ambiguous: ENOENT is both "no PMU at
 * all" (a VM without a virtual PMU: the kernel registers no "cpu" PMU) and
 * "this CPU's PMU has no such event"; EACCES is perf_event_paranoid, a
 * missing CAP_PERFMON, or seccomp. The machine's state tells them apart.
 */
#ifndef ITERPROF_PERF_DIAGNOSIS_H
#define ITERPROF_PERF_DIAGNOSIS_H

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
#include <unistd.h>

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

#endif /* ITERPROF_PERF_DIAGNOSIS_H */

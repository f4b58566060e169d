/*
 * What this machine does to benchmarks: the probes behind `iterprof check`.
 *
 * machine_check() inspects the running system (perf_event_open, /proc, /sys,
 * cpuid, systemd-detect-virt) and fills a fixed table of findings, each with
 * what was found, its consequence for measurements and what to do. It never
 * prints and never exits; cmd-check.c formats the result. A source that is
 * missing or unreadable gives a finding marked unknown, with the reason, and
 * never a zero that would read as "fine". Severities, ids and values are
 * documented in doc/check.md.
 */
#ifndef ITERPROF_MACHINE_H
#define ITERPROF_MACHINE_H

#include <stdbool.h>

enum machine_severity {
	MACHINE_OK,
	MACHINE_INFO,
	MACHINE_WARNING, /* raises noise: measurements vary more */
	MACHINE_SEVERE,  /* counters unavailable or measurements unreliable */
	MACHINE_SEVERITY_COUNT,
};

/* "ok", "info", "warning", "severe". */
const char *machine_severity_name(enum machine_severity severity);

#define MACHINE_TEXT_MAX 640
#define MACHINE_TOP_MAX 3
#define MACHINE_FINDINGS_MAX 24

/* Another process and the share of one CPU it used during the window. */
struct machine_process {
	int pid;
	char comm[32];
	double cpu_percent;
};

struct machine_finding {
	const char *id; /* short kebab-case name, static */
	enum machine_severity severity;
	bool is_unknown; /* the source was missing or unreadable: found says why */
	char found[MACHINE_TEXT_MAX];
	char consequence[MACHINE_TEXT_MAX]; /* "" when there is none */
	char action[MACHINE_TEXT_MAX];      /* "" when there is nothing to do */
	bool has_value;  /* value holds the finding's number (doc/check.md) */
	bool is_integer; /* ... and it is a whole number */
	double value;
	char value_text[64]; /* a value that is a name (the hypervisor), or "" */
	struct machine_process top[MACHINE_TOP_MAX]; /* other-load only */
	unsigned top_count;
};

struct machine_report {
	char host[65];
	char kernel[160]; /* "Linux 6.1.0-18-amd64 x86_64" */
	unsigned online_cpus; /* 0 when unknown */
	double window_ms;     /* how long load and steal were measured */
	struct machine_finding findings[MACHINE_FINDINGS_MAX];
	unsigned count;
};

/*
 * Probe the machine into @report (caller-owned; nothing to free). Load,
 * steal and the busiest processes are measured over a window of about
 * @window_ms milliseconds, during which the other probes run; this
 * process's own CPU time (and its children's) is not counted as load.
 * Cannot fail: what could not be probed is a finding marked unknown.
 */
void machine_check(struct machine_report *report, unsigned window_ms);

#endif /* ITERPROF_MACHINE_H */

/*
 * What the launcher asked for, read once from the environment it set:
 *   ITERPROF_OUTPUT   directory for the trace files (absent: the shim is inert)
 *   ITERPROF_FOLLOW   "0": do not record programs this one execs
 *   ITERPROF_SCHED    auto | always | off: rusage and schedstat reads
 *   ITERPROF_VERBOSE  "1": diagnostics on stderr
 *   ITERPROF_COUNTERS "off": record the clock only (no counters at all);
 *                     "events": only the -e events, no software set
 *   ITERPROF_FUNCTIONS  -f patterns, one per line
 *   ITERPROF_LAUNCHER_PID  the launcher: its direct children report what -f did
 *   ITERPROF_PERF_READ  "syscall": read hardware counters with read() only,
 *                       never in user space (the user sets it, to compare)
 *   ITERPROF_STACKS     off | slow (default) | all: call stacks (stacks.c)
 *   ITERPROF_STACK_CPU_US  on-CPU sample period in us (default 1000)
 *   ITERPROF_STACK_FAULTS  sample one page fault in N (default 32)
 * and, for the tests only (fault injection, as SQLite's test hooks):
 *   ITERPROF_INJECT_PERF_ERRNO  N: every perf_event_open fails with errno N
 *   ITERPROF_TEST_NO_USER_TIME  "1": user-space reads act as if the kernel
 *                       gave no cap_user_time (times not convertible)
 *   ITERPROF_TEST_NO_LONG_COUNTERS  "1": on arm64, do not ask for 64-bit
 *                       counters (so that 32-bit widths are tested)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "user-read.h"

struct shim_config shim_config;

/* ITERPROF_EVENTS: one event a line, "name type config config1 config2
 * exclude_user exclude_kernel mode_given" (analyzer/events.c writes it).
 * A malformed line is skipped. */
static void load_events(const char *text)
{
	shim_config.event_count = 0;
	while (text && *text && shim_config.event_count < SHIM_EVENTS_MAX) {
		struct shim_event *ev = &shim_config.events[shim_config.event_count];
		const char *eol = strchr(text, '\n');
		unsigned long long config, config1, config2;
		int exclude_user, exclude_kernel, mode_given;
		char line[256];
		size_t len = eol ? (size_t)(eol - text) : strlen(text);

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			if (sscanf(line, "%31s %u %llu %llu %llu %d %d %d", ev->name, &ev->type, &config,
				   &config1, &config2, &exclude_user, &exclude_kernel,
				   &mode_given) == 8) {
				ev->config = config;
				ev->config1 = config1;
				ev->config2 = config2;
				ev->exclude_user = exclude_user;
				ev->exclude_kernel = exclude_kernel;
				ev->is_mode_given = mode_given;
				shim_config.event_count++;
			}
		}
		text = eol ? eol + 1 : text + len;
	}
}

void config_load(void)
{
	const char *output = getenv("ITERPROF_OUTPUT");
	const char *follow = getenv("ITERPROF_FOLLOW");
	const char *sched = getenv("ITERPROF_SCHED");
	const char *verbose = getenv("ITERPROF_VERBOSE");

	shim_config.is_enabled = output && output[0] &&
				 strlen(output) < sizeof(shim_config.output_dir);
	if (shim_config.is_enabled)
		strcpy(shim_config.output_dir, output);
	shim_config.follow_exec = !(follow && !strcmp(follow, "0"));
	shim_config.is_verbose = verbose && !strcmp(verbose, "1");
	{
		const char *functions = getenv("ITERPROF_FUNCTIONS");
		const char *launcher = getenv("ITERPROF_LAUNCHER_PID");

		shim_config.functions[0] = '\0';
		if (functions && strlen(functions) < sizeof(shim_config.functions))
			strcpy(shim_config.functions, functions);
		shim_config.launcher_pid = launcher ? atoi(launcher) : 0;
	}
	{
		const char *counters = getenv("ITERPROF_COUNTERS");

		shim_config.has_counters = !(counters && !strcmp(counters, "off"));
		shim_config.has_software = shim_config.has_counters &&
					   !(counters && !strcmp(counters, "events"));
	}
	load_events(getenv("ITERPROF_EVENTS"));
	{
		const char *mode = getenv("ITERPROF_STACKS");
		const char *cpu = getenv("ITERPROF_STACK_CPU_US");
		const char *faults = getenv("ITERPROF_STACK_FAULTS");

		shim_config.stacks_mode = ITP_STACKS_SLOW;
		if (mode && !strcmp(mode, "off"))
			shim_config.stacks_mode = ITP_STACKS_OFF;
		else if (mode && !strcmp(mode, "all"))
			shim_config.stacks_mode = ITP_STACKS_ALL;
		if (!shim_config.has_counters)
			shim_config.stacks_mode = ITP_STACKS_OFF;
		/* Defaults from what a sample costs (doc/stacks.md,
		 * scripts/bench-stacks): an on-CPU sample is a timer
		 * interrupt, 25-29 us on these VMs (1-3 us on hardware), so
		 * one per ms of CPU is a 2.5 % cost at worst; a fault sample
		 * adds 2.5 us to a 1.4 us fault, so one in 32 adds 6 %, and
		 * a burst of 2000 faults still gives 60 stacks. */
		shim_config.stack_cpu_us = cpu && atoi(cpu) > 0 ? (unsigned)atoi(cpu) : 1000;
		/* iterprof record refuses less; the variable set by hand is
		 * raised to the floor rather than let the program livelock. */
		if (shim_config.stack_cpu_us < ITP_STACK_CPU_US_MIN)
			shim_config.stack_cpu_us = ITP_STACK_CPU_US_MIN;
		shim_config.stack_fault_period =
			faults && atoi(faults) > 0 ? (unsigned)atoi(faults) : 32;
	}
	{
		const char *read_mode = getenv("ITERPROF_PERF_READ");
		const char *no_time = getenv("ITERPROF_TEST_NO_USER_TIME");
		const char *no_long = getenv("ITERPROF_TEST_NO_LONG_COUNTERS");

		shim_config.is_syscall_read = read_mode && !strcmp(read_mode, "syscall");
		user_read_no_user_time = no_time && !strcmp(no_time, "1");
		shim_config.is_no_long_counters = no_long && !strcmp(no_long, "1");
	}
	shim_config.inject_perf_errno = 0;
	{
		const char *inject = getenv("ITERPROF_INJECT_PERF_ERRNO");

		if (inject)
			shim_config.inject_perf_errno = atoi(inject);
	}
	shim_config.sched = SCHED_READ_AUTO;
	if (sched && !strcmp(sched, "always"))
		shim_config.sched = SCHED_READ_ALWAYS;
	else if (sched && !strcmp(sched, "off"))
		shim_config.sched = SCHED_READ_OFF;
}

/* True when an LD_PRELOAD entry names this shim. */
static bool is_shim_entry(const char *entry, size_t len)
{
	static const char name[] = "libiterprof.so";
	size_t n = sizeof(name) - 1;

	return len >= n && !memcmp(entry + len - n, name, n) &&
	       (len == n || entry[len - n - 1] == '/');
}

/*
 * --no-follow: drop our entry from LD_PRELOAD (keeping other preloads, e.g.
 * a sanitizer's) and our variables, so programs this one execs run without
 * the shim. Called from the constructor, before the program has threads.
 */
void config_stop_following(void)
{
	const char *preload = getenv("LD_PRELOAD");
	char kept[4096];
	size_t used = 0;

	if (preload && strlen(preload) < sizeof(kept)) {
		const char *p = preload;

		while (*p) {
			size_t len = strcspn(p, ": ");

			if (len && !is_shim_entry(p, len)) {
				if (used)
					kept[used++] = ':';
				memcpy(kept + used, p, len);
				used += len;
			}
			p += len;
			if (*p)
				p++;
		}
		kept[used] = '\0';
		if (used)
			setenv("LD_PRELOAD", kept, 1);
		else
			unsetenv("LD_PRELOAD");
	}
	unsetenv("ITERPROF_OUTPUT");
	unsetenv("ITERPROF_FOLLOW");
	unsetenv("ITERPROF_SCHED");
	unsetenv("ITERPROF_VERBOSE");
	unsetenv("ITERPROF_FUNCTIONS");
	unsetenv("ITERPROF_COUNTERS");
	unsetenv("ITERPROF_LAUNCHER_PID");
}

void shim_log(const char *fmt, ...)
{
	char line[512];
	int saved_errno = errno;
	int len = snprintf(line, sizeof(line), "iterprof[%d]: ", (int)getpid());
	va_list ap;

	if (!shim_config.is_verbose)
		return;
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len - 1, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 2)
		len = (int)sizeof(line) - 2;
	line[len++] = '\n';
	/* One write(2): no stdio buffer shared with the program. */
	if (write(STDERR_FILENO, line, (size_t)len) < 0) {
		/* Nothing to do: diagnostics are best-effort. */
	}
	errno = saved_errno;
}

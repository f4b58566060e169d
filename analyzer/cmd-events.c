/*
 * iterprof events [--all] [PATTERN]
 *
 * What this machine can count, found by trying: every event listed is
 * opened on this thread (and closed) the way `record -e` would open it, and
 * shown as countable or with the diagnosis of why not
 * (iterprof/perf-events.h). Grouped by PMU: perf's generic hardware and
 * cache events and the software events (libpfm4's "perf" PMU), then every
 * PMU the kernel describes in sysfs with its named events, and with --all
 * every event of the CPU PMU libpfm4 detected, with libpfm4's descriptions.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <perfmon/pfmlib_perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "events.h"
#include "iterprof/perf-events.h"

static const char events_usage[] =
	"usage: iterprof events [--all] [PATTERN]\n"
	"\n"
	"List the events this machine can count, by trying to open each one, grouped\n"
	"by PMU, with a description and, for what cannot be counted, why.\n"
	"Any name shown works with `iterprof record -e`.\n"
	"\n"
	"  PATTERN     only events whose name contains PATTERN (case-insensitive),\n"
	"              or matches it as a glob when it has * ? or [\n"
	"  --all       also every event of the CPU's PMU known to libpfm4\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit status: 0 ok, 2 bad usage.\n";

/* perf's generic names, the ones users type (perf list's first sections). */
static const struct {
	const char *name, *desc;
} generic_events[] = {
	{ "cycles", "CPU cycles (at the current frequency)" },
	{ "instructions", "instructions retired" },
	{ "ref-cycles", "reference cycles (constant rate: with cycles, the frequency)" },
	{ "cache-references", "last-level cache accesses" },
	{ "cache-misses", "last-level cache misses" },
	{ "branch-instructions", "branch instructions retired" },
	{ "branch-misses", "mispredicted branches" },
	{ "bus-cycles", "bus cycles" },
	{ "stalled-cycles-frontend", "cycles the front end delivered nothing" },
	{ "stalled-cycles-backend", "cycles the back end could not accept work" },
	{ "L1-dcache-loads", "L1 data cache loads" },
	{ "L1-dcache-load-misses", "L1 data cache load misses" },
	{ "L1-icache-load-misses", "L1 instruction cache misses" },
	{ "LLC-loads", "last-level cache loads" },
	{ "LLC-load-misses", "last-level cache load misses" },
	{ "dTLB-load-misses", "data TLB load misses" },
	{ "iTLB-load-misses", "instruction TLB misses" },
	{ "branch-load-misses", "branch predictor misses" },
}, software_events[] = {
	{ "task-clock", "ns the thread ran (recorded by default)" },
	{ "cpu-clock", "ns of CPU clock while the thread ran" },
	{ "page-faults", "page faults, minor and major" },
	{ "minor-faults", "page faults served without I/O (recorded by default)" },
	{ "major-faults", "page faults that waited for I/O (recorded by default)" },
	{ "context-switches", "times the thread left the CPU (recorded by default)" },
	{ "cpu-migrations", "moves to another CPU (recorded by default)" },
};

struct listing {
	const char *header;  /* printed before the section's first event */
	const char *pattern;
	bool is_glob;
	unsigned shown, countable;
};

static bool wanted(const struct listing *l, const char *name)
{
	if (!l->pattern)
		return true;
	if (l->is_glob)
		return fnmatch(l->pattern, name, FNM_CASEFOLD) == 0;
	return strcasestr(name, l->pattern) != NULL;
}

/* One line: name, then "ok" / "ok, user mode only" / "no: why", then the
 * description. */
static void show(struct listing *l, const char *name, const char *desc)
{
	struct event_spec ev;
	char why[256], status[300];
	int err;

	if (!wanted(l, name))
		return;
	if (events_resolve(name, &ev, why, sizeof(why))) {
		snprintf(status, sizeof(status), "no: %s", why);
	} else if ((err = events_try_open(&ev))) {
		itp_perf_diagnose(err, ev.type, ev.exclude_kernel, why, sizeof(why));
		snprintf(status, sizeof(status), "no: %s", why);
	} else {
		snprintf(status, sizeof(status), "%s",
			 ev.exclude_kernel && !ev.is_mode_given ? "ok, user mode only" : "ok");
		l->countable++;
	}
	if (l->header) {
		printf("%s%s\n", l->shown ? "\n" : "", l->header);
		l->header = NULL;
	}
	l->shown++;
	printf("  %-26s %-42.42s %s\n", name, desc ? desc : "", status);
}

static void list_sysfs(struct listing *l)
{
	DIR *d = opendir("/sys/bus/event_source/devices");
	struct dirent *pe;
	char **pmus = NULL;
	size_t n = 0;

	if (!d)
		return;
	while ((pe = readdir(d))) {
		char **grown;

		if (pe->d_name[0] == '.')
			continue;
		grown = realloc(pmus, (n + 1) * sizeof(*pmus));
		if (!grown)
			break;
		pmus = grown;
		pmus[n] = strdup(pe->d_name);
		if (pmus[n])
			n++;
	}
	closedir(d);
	qsort(pmus, n, sizeof(*pmus), (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n; i++) {
		char path[512], header[300];
		DIR *ed;
		struct dirent *ee;
		bool has_header = false;

		snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/events", pmus[i]);
		ed = opendir(path);
		while (ed && (ee = readdir(ed))) {
			char name[300];

			if (ee->d_name[0] == '.' || strchr(ee->d_name, '.'))
				continue; /* .scale, .unit files describe an event */
			snprintf(name, sizeof(name), "%s/%s/", pmus[i], ee->d_name);
			if (!has_header) {
				snprintf(header, sizeof(header), "PMU %s (sysfs)", pmus[i]);
				l->header = header;
			}
			has_header = true;
			show(l, name, NULL);
		}
		if (ed)
			closedir(ed);
		free(pmus[i]);
	}
	free(pmus);
}

/* --all: every event of every PMU libpfm4 detects on this machine, other
 * than its generic "perf" tables listed already. */
static void list_pfm_all(struct listing *l)
{
	int pmu;

	pfm_for_all_pmus(pmu) {
		pfm_pmu_info_t pinfo;
		char header[300];
		bool has_header = false;

		memset(&pinfo, 0, sizeof(pinfo));
		pinfo.size = sizeof(pinfo);
		if (pfm_get_pmu_info(pmu, &pinfo) != PFM_SUCCESS || !pinfo.is_present ||
		    !strcmp(pinfo.name, "perf_raw"))
			continue;
		for (int e = pinfo.first_event; e != -1; e = pfm_get_event_next(e)) {
			pfm_event_info_t info;
			char name[300];

			memset(&info, 0, sizeof(info));
			info.size = sizeof(info);
			if (pfm_get_event_info(e, PFM_OS_NONE, &info) != PFM_SUCCESS)
				continue;
			snprintf(name, sizeof(name), "%s::%s", pinfo.name, info.name);
			if (!has_header) {
				snprintf(header, sizeof(header), "PMU %s (libpfm4: %s)", pinfo.name,
					 pinfo.desc);
				l->header = header;
			}
			has_header = true;
			show(l, name, info.desc);
		}
	}
}

int cmd_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct listing l = { 0 };
	bool all = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(events_usage, stdout);
			return CLI_EXIT_OK;
		default:
			cli_error("events: unknown option '%s' (see iterprof events --help)",
				  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	if (argc - optind > 1) {
		cli_error("events: one PATTERN at most, got %d (see iterprof events --help)",
			  argc - optind);
		return CLI_EXIT_BAD_INPUT;
	}
	if (optind < argc) {
		l.pattern = argv[optind];
		l.is_glob = strpbrk(l.pattern, "*?[") != NULL;
	}
	if (pfm_initialize() != PFM_SUCCESS) {
		cli_error("events: libpfm4 failed to initialise");
		return CLI_EXIT_FAILURE;
	}
	l.header = "hardware (perf generic events)";
	for (size_t i = 0; i < sizeof(generic_events) / sizeof(generic_events[0]); i++)
		show(&l, generic_events[i].name, generic_events[i].desc);
	l.header = "software (perf software events)";
	for (size_t i = 0; i < sizeof(software_events) / sizeof(software_events[0]); i++)
		show(&l, software_events[i].name, software_events[i].desc);
	list_sysfs(&l);
	if (all)
		list_pfm_all(&l);
	printf("%s%u events listed, %u countable here%s\n", l.shown ? "\n" : "", l.shown,
	       l.countable,
	       all ? "" : " (--all adds every libpfm4 event of this CPU's PMU)");
	return CLI_EXIT_OK;
}

/*
 * iterprof record [options] [--] COMMAND [ARGS...]
 *
 * Run COMMAND with the shim (libiterprof.so) preloaded, wait for it, and say
 * what was recorded. The launcher's whole job is to make the shim load, or to
 * say before anything runs why it would not:
 *
 *   1. parse options; resolve COMMAND like a shell and refuse what the loader
 *      would not preload into (exec-check.c): 127 not found, 126 otherwise;
 *   2. check the output path (never overwrite anything but an old recording);
 *   3. find the shim next to our own executable, create the output directory;
 *   4. fork, exec COMMAND with LD_PRELOAD and the ITERPROF_* variables, forward
 *      signals that other processes send us, wait, and exit with COMMAND's
 *      status; meanwhile a thread samples the environment (env-sampler.c)
 *      into iterprof-env.timeline;
 *   5. summarise the recording on stderr.
 *
 * The launcher is single-threaded until the command has exec'd (the sampler
 * starts only then), so the child may call anything between fork and exec.
 */
#define _GNU_SOURCE /* asprintf, pipe2, strndup */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "env-sampler.h"
#include "events.h"
#include "exec-check.h"
#include "iterprof/perf-events.h"
#include "iterprof/trace-format.h"
#include "recording.h"

#define RECORD_DEFAULT_OUTPUT "iterprof.data"
#define RECORD_SHIM_NAME "libiterprof.so"

struct record_options {
	const char *output;   /* as typed: messages show it this way */
	bool force;
	bool follow;
	bool verbose;
	const char *sched;    /* auto, always or off */
	bool counters;        /* false with --no-counters: the clock only */
	bool software;        /* false with --no-software: -e events only */
	char *functions;      /* -f patterns joined by newlines, or NULL */
	char *events;         /* -e lists joined by commas, or NULL */
	char *events_env;     /* ITERPROF_EVENTS for the shim, or NULL */
	char events_notes[1024]; /* what cannot be counted, said after the run */
	bool env;             /* false with --no-env: no environment timeline */
	const char *stacks;   /* --stacks: off, slow or all; NULL: the default */
	const char *stack_cpu_us, *stack_faults; /* NULL: the shim's defaults */
	uint64_t env_interval_ns;
	char **command;       /* NULL-terminated, argv[0] as typed */
};

static void record_usage(FILE *out)
{
	fputs("usage: iterprof record [options] [--] COMMAND [ARGS...]\n"
	      "\n"
	      "Run COMMAND with the iterprof shim preloaded and record the iterations of\n"
	      "its regions. A region's iterations are the begin/end marker pairs the\n"
	      "program calls, iterprof_iter_begin(\"name\") ... iterprof_iter_end(\"name\")\n"
	      "from <iterprof/iterprof.h> (no library is needed at link time).\n"
	      "\n"
	      "options:\n"
	      "  -f, --function PATTERN\n"
	      "                     make every call of the functions matching PATTERN an\n"
	      "                     iteration, in the unmodified program (repeatable).\n"
	      "                     PATTERN: a symbol name or glob, mangled or demangled\n"
	      "                     (ns::Class::method, crate::module::func, *_kernel),\n"
	      "                     optionally NAME@OBJECT (memcpy@libc.so.6, foo@main).\n"
	      "                     The region is the demangled name. Recursion and\n"
	      "                     re-entry: only the outermost call per thread is an\n"
	      "                     iteration; other threads have their own streams.\n"
	      "  -e, --events LIST  also count these events per iteration (repeatable,\n"
	      "                     comma-separated): perf's names (cycles, instructions,\n"
	      "                     cache-misses, L1-dcache-load-misses, ...), libpfm4\n"
	      "                     events (INST_RETIRED:ANY_P, perf::PAGE-FAULTS), sysfs\n"
	      "                     PMU events (msr/tsc/, power/energy-pkg/), with :u\n"
	      "                     (user mode) or :k (kernel mode). `iterprof events`\n"
	      "                     lists what this machine can count. Default: the\n"
	      "                     hardware set (instructions, cycles, ref-cycles, LLC\n"
	      "                     references/misses, branch and iTLB misses) where\n"
	      "                     the PMU exists, always the software set.\n"
	      "  -o, --output PATH  write the recording into directory PATH\n"
	      "                     (default: " RECORD_DEFAULT_OUTPUT ")\n"
	      "  --force            replace PATH if it holds an earlier recording (only\n"
	      "                     iterprof-*.trace files and iterprof-env.timeline\n"
	      "                     are ever deleted)\n"
	      "  --no-follow        do not record the programs COMMAND executes\n"
	      "  --sched=MODE       when to read context switches and run-queue delay:\n"
	      "                     auto (default: only around iterations in which a\n"
	      "                     context switch happened, if that counter works),\n"
	      "                     always (every iteration) or off\n"
	      "  --no-counters      record the clock only (measures the interception)\n"
	      "  --no-software      with -e: count only those events, not the software\n"
	      "                     set (no faults, switches, task-clock: the cheapest\n"
	      "                     probe; no syscall per iteration when the hardware\n"
	      "                     counters can be read in user space)\n"
	      "  --env-interval DURATION\n"
	      "                     sample the environment (steal, interrupts, pressure,\n"
	      "                     cgroup throttling, the command's threads) this often,\n"
	      "                     from the launcher, into PATH/iterprof-env.timeline:\n"
	      "                     e.g. 10ms, 500us, 1s (a bare number is in ms;\n"
	      "                     100us to 10s; default 10ms)\n"
	      "  --no-env           do not sample the environment\n"
	      "  --stacks=MODE      call stacks of page faults, context switches and\n"
	      "                     on-CPU time inside iterations (doc/stacks.md):\n"
	      "                     slow (default: kept for the warm-up, slow\n"
	      "                     iterations and a sample of the others), all, or off\n"
	      "                     (no cost at all)\n"
	      "  --stack-cpu-us N   an on-CPU stack every N us of CPU time (default 1000,\n"
	      "                     at least 50; only in iterations typically longer\n"
	      "                     than N/2 us)\n"
	      "  --stack-faults N   a stack of one page fault in N (default 32)\n"
	      "  -q                 print nothing but errors\n"
	      "  -v                 the shim prints its diagnostics on stderr\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Options end at '--' or at the first argument that is not an option.\n"
	      "COMMAND must be dynamically linked and not set-user-ID/set-group-ID: the\n"
	      "shim is loaded with LD_PRELOAD, which the loader ignores otherwise.\n"
	      "ITERPROF_SHIM_PATH=FILE overrides where the shim is found (for debugging).\n"
	      "\n"
	      "exit status: COMMAND's own (128+N if a signal N killed it); 1 failure;\n"
	      "2 bad usage or PATH already exists; 126 COMMAND cannot be executed or the\n"
	      "shim cannot be preloaded into it; 127 COMMAND not found.\n",
	      out);
}

enum {
	OPTION_FORCE = 256,
	OPTION_NO_FOLLOW,
	OPTION_SCHED,
	OPTION_NO_COUNTERS,
	OPTION_NO_SOFTWARE,
	OPTION_ENV_INTERVAL,
	OPTION_NO_ENV,
	OPTION_STACKS,
	OPTION_STACK_CPU_US,
	OPTION_STACK_FAULTS,
};

/* *@list = *@list + @sep + @item (just @item when empty). 0, or -1 after
 * saying so when out of memory. */
static int append_joined(char **list, const char *sep, const char *item)
{
	char *joined;

	if (asprintf(&joined, "%s%s%s", *list ? *list : "", *list ? sep : "", item) < 0) {
		cli_error("out of memory");
		return -1;
	}
	free(*list);
	*list = joined;
	return 0;
}

/* Returns -1 when parsed, else the exit status to return now. */
static int record_parse_options(int argc, char **argv,
				struct record_options *options)
{
	static const struct option long_options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "function", required_argument, NULL, 'f' },
		{ "events", required_argument, NULL, 'e' },
		{ "force", no_argument, NULL, OPTION_FORCE },
		{ "no-follow", no_argument, NULL, OPTION_NO_FOLLOW },
		{ "sched", required_argument, NULL, OPTION_SCHED },
		{ "no-counters", no_argument, NULL, OPTION_NO_COUNTERS },
		{ "no-software", no_argument, NULL, OPTION_NO_SOFTWARE },
		{ "env-interval", required_argument, NULL, OPTION_ENV_INTERVAL },
		{ "no-env", no_argument, NULL, OPTION_NO_ENV },
		{ "stacks", required_argument, NULL, OPTION_STACKS },
		{ "stack-cpu-us", required_argument, NULL, OPTION_STACK_CPU_US },
		{ "stack-faults", required_argument, NULL, OPTION_STACK_FAULTS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*options = (struct record_options){
		.output = RECORD_DEFAULT_OUTPUT,
		.follow = true,
		.sched = "auto",
		.counters = true,
		.software = true,
		.env = true,
		.env_interval_ns = ENV_INTERVAL_DEFAULT_NS,
	};
	/* '+': stop at the first non-option, which starts COMMAND.
	 * ':': report a missing argument as ':' so the error is ours. */
	opterr = 0;
	optind = 0; /* glibc: reinitialise (main() may have parsed before) */
	while ((c = getopt_long(argc, argv, "+:o:f:e:qvh", long_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!*optarg || strchr(optarg, '\n')) {
				cli_error("-f '%s': not a function name or pattern", optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			if (append_joined(&options->functions, "\n", optarg))
				return CLI_EXIT_FAILURE;
			break;
		case 'e':
			if (append_joined(&options->events, ",", optarg))
				return CLI_EXIT_FAILURE;
			break;
		case 'o':
			if (!*optarg) {
				cli_error("-o: empty path (name a directory to create)");
				return CLI_EXIT_BAD_INPUT;
			}
			options->output = optarg;
			break;
		case OPTION_FORCE:
			options->force = true;
			break;
		case OPTION_NO_FOLLOW:
			options->follow = false;
			break;
		case OPTION_NO_COUNTERS:
			options->counters = false;
			break;
		case OPTION_NO_SOFTWARE:
			options->software = false;
			break;
		case OPTION_ENV_INTERVAL: {
			int err = env_interval_parse(optarg, &options->env_interval_ns);

			if (err == -ERANGE) {
				cli_error("--env-interval %s: out of range (use 100us to 10s)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			if (err) {
				cli_error("--env-interval %s: not a duration (use e.g. 10ms, 500us "
					  "or 1s; a bare number is in ms)", optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		}
		case OPTION_NO_ENV:
			options->env = false;
			break;
		case OPTION_STACKS:
			if (strcmp(optarg, "off") && strcmp(optarg, "slow") && strcmp(optarg, "all")) {
				cli_error("--stacks=%s: unknown mode (use slow, all or off)", optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			options->stacks = optarg;
			break;
		case OPTION_STACK_CPU_US:
		case OPTION_STACK_FAULTS: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			unsigned long least =
				c == OPTION_STACK_CPU_US ? ITP_STACK_CPU_US_MIN : 1;

			if (!*optarg || *end || v < least || v > 1000000 || optarg[0] == '-') {
				cli_error("--%s %s: not a whole number from %lu to 1000000%s",
					  c == OPTION_STACK_CPU_US ? "stack-cpu-us" : "stack-faults",
					  optarg, least,
					  c == OPTION_STACK_CPU_US
						  ? " (an on-CPU sample costs up to 33 us on a VM: a"
						    " shorter period leaves the program no time to run)"
						  : "");
				return CLI_EXIT_BAD_INPUT;
			}
			if (c == OPTION_STACK_CPU_US)
				options->stack_cpu_us = optarg;
			else
				options->stack_faults = optarg;
			break;
		}
		case OPTION_SCHED:
			if (strcmp(optarg, "auto") && strcmp(optarg, "always") &&
			    strcmp(optarg, "off")) {
				cli_error("--sched=%s: unknown mode (use auto, always or off)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			options->sched = optarg;
			break;
		case 'q':
			cli_quiet = 1;
			break;
		case 'v':
			options->verbose = true;
			break;
		case 'h':
			record_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			cli_error("option %s needs an argument (see 'iterprof record --help')",
				  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		default:
			if (optopt)
				cli_error("unknown option -%c (see 'iterprof record --help')",
					  optopt);
			else
				cli_error("unknown option %s (see 'iterprof record --help')",
					  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	if (optind >= argc) {
		cli_error("no command to record (usage: iterprof record [options] -- "
			  "COMMAND [ARGS...])");
		return CLI_EXIT_BAD_INPUT;
	}
	options->command = argv + optind;
	if (options->stacks && strcmp(options->stacks, "off") && !options->counters) {
		cli_error("--stacks=%s and --no-counters: stacks are sampled by counters (leave "
			  "out one of them)", options->stacks);
		return CLI_EXIT_BAD_INPUT;
	}
	if (options->events && !options->counters) {
		cli_error("-e and --no-counters: events are counters (leave out one of them)");
		return CLI_EXIT_BAD_INPUT;
	}
	if (!options->software && !options->events) {
		cli_error("--no-software without -e: nothing would be counted (add -e LIST, "
			  "or use --no-counters for the clock only)");
		return CLI_EXIT_BAD_INPUT;
	}
	return -1;
}

/* The default hardware set, in order of interest; only those this machine
 * can open are recorded. */
static const char *const default_hardware[] = {
	"instructions", "cycles", "ref-cycles", "cache-references", "cache-misses",
	"branch-misses", "iTLB-load-misses",
};

/* Remember a line for after the run (record_select_events runs before the
 * command, whose failure to start must be the only thing said). */
static void note_event(struct record_options *options, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_event(struct record_options *options, const char *fmt, ...)
{
	size_t used = strlen(options->events_notes);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(options->events_notes + used, sizeof(options->events_notes) - used, fmt, ap);
	va_end(ap);
	used = strlen(options->events_notes);
	if (used + 1 < sizeof(options->events_notes))
		strcat(options->events_notes, "\n");
}

/* The software set the shim always records (counters.c). */
static bool is_recorded_anyway(const struct event_spec *ev)
{
	static const char *const names[] = { "task-clock", "minor-faults", "major-faults",
					     "context-switches", "cpu-migrations" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(ev->name, names[i]))
			return true;
	}
	return false;
}

/* A PMU event of the CPU, which the shim may read in user space. */
static bool is_hardware(const struct event_spec *ev)
{
	return ev->type == PERF_TYPE_HARDWARE || ev->type == PERF_TYPE_HW_CACHE ||
	       ev->type == PERF_TYPE_RAW;
}

static bool getenv_is(const char *name, const char *value)
{
	const char *v = getenv(name);

	return v && !strcmp(v, value);
}

/*
 * Decide the -e events (or the default hardware set) and say, once, what
 * cannot be counted and why. Sets options->events_env. Returns -1 to go on,
 * else the exit status.
 */
static int record_select_events(struct record_options *options)
{
	struct event_spec evs[EVENTS_MAX], chosen[EVENTS_MAX];
	size_t count = 0, kept = 0, hardware = 0;
	char why[512];

	if (!options->counters)
		return -1;
	if (options->events) {
		if (events_parse_list(options->events, evs, EVENTS_MAX, &count, why, sizeof(why))) {
			cli_error("%s", why);
			return CLI_EXIT_BAD_INPUT;
		}
		for (size_t i = 0; i < count; i++) {
			int err;

			if (is_recorded_anyway(&evs[i])) {
				if (options->software)
					continue;
				cli_error("-e %s with --no-software: %s is one of the software "
					  "set (leave out --no-software to record it)",
					  evs[i].name, evs[i].name);
				return CLI_EXIT_BAD_INPUT;
			}
			err = events_try_open(&evs[i]);
			if (err) {
				itp_perf_diagnose(err, evs[i].type, evs[i].exclude_kernel, why,
						  sizeof(why));
				note_event(options, "%s: not counted here: %s", evs[i].name, why);
			} else {
				hardware += is_hardware(&evs[i]);
			}
			/* Kept either way: the trace says what was asked and why
			 * it has no values. */
			chosen[kept++] = evs[i];
		}
	} else {
		int first_err = 0;
		uint32_t first_type = 0;

		for (size_t i = 0; i < sizeof(default_hardware) / sizeof(default_hardware[0]); i++) {
			struct event_spec ev;
			int err;

			if (events_resolve(default_hardware[i], &ev, why, sizeof(why)))
				continue;
			err = events_try_open(&ev);
			if (!err)
				chosen[kept++] = ev, hardware++;
			else if (!first_err)
				first_err = err, first_type = ev.type;
		}
		if (!kept && first_err) {
			itp_perf_diagnose(first_err, first_type, 0, why, sizeof(why));
			note_event(options,
				   "hardware counters unavailable: %s; recorded the software "
				   "counters only",
				   why);
		}
	}
	if (hardware && !getenv_is("ITERPROF_PERF_READ", "syscall") &&
	    !itp_user_read_allowed(why, sizeof(why)))
		note_event(options, "hardware counters read with read() (a syscall per read): %s",
			   why);
	if (kept) {
		options->events_env = events_to_env(chosen, kept);
		if (!options->events_env) {
			cli_error("out of memory");
			return CLI_EXIT_FAILURE;
		}
	}
	return -1;
}

/* ---- output directory ------------------------------------------------- */

/* A file the shim writes: iterprof-<pid>[.<n>].trace. */
static bool is_trace_name(const char *name)
{
	static const char prefix[] = "iterprof-", suffix[] = ".trace";
	size_t len = strlen(name);

	return len > strlen(prefix) + strlen(suffix) &&
	       !strncmp(name, prefix, strlen(prefix)) &&
	       !strcmp(name + len - strlen(suffix), suffix);
}

/*
 * Walk the directory @dir: with @unlink false, count its trace files and
 * return -ENOTEMPTY (and the first other entry's name in @other) if it holds
 * anything else than those and the environment timeline; with @unlink true,
 * delete the trace files and the timeline (and only them). Returns the
 * number of trace files, or -errno.
 */
static int output_scan(const char *dir, bool unlink, char *other, size_t other_len)
{
	struct dirent *entry;
	int count = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((entry = readdir(d))) {
		/* the launcher's own file, next to the shim's */
		bool is_timeline = !strcmp(entry->d_name, ITP_ENV_FILE_NAME);
		struct stat st;

		if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
			continue;
		/* No symlink: deleting "iterprof-1.trace -> ~/thesis" must
		 * remove only the link, and a link is not what the shim writes. */
		if ((is_trace_name(entry->d_name) || is_timeline) &&
		    fstatat(dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (unlink && unlinkat(dirfd(d), entry->d_name, 0) != 0) {
				int err = -errno;

				snprintf(other, other_len, "%s", entry->d_name);
				closedir(d);
				return err;
			}
			count += !is_timeline;
		} else if (!unlink) {
			snprintf(other, other_len, "%s", entry->d_name);
			closedir(d);
			return -ENOTEMPTY;
		}
	}
	closedir(d);
	return count;
}

/* Make @output an empty directory, replacing an old recording if --force.
 * Returns -1 when ready, else the exit status to return now. */
static int output_prepare(const struct record_options *options)
{
	const char *output = options->output;
	char other[NAME_MAX + 1];
	struct stat st;
	int n;

	if (stat(output, &st) != 0) {
		if (errno != ENOENT) {
			cli_error("%s: %s", output, strerror(errno));
			return CLI_EXIT_FAILURE;
		}
		if (mkdir(output, 0755) != 0) {
			cli_error("%s: cannot create the recording directory: %s "
				  "(choose another path with -o)", output, strerror(errno));
			return CLI_EXIT_FAILURE;
		}
		return -1;
	}
	if (!options->force) {
		cli_error("%s: already exists (use --force to replace it, or -o to "
			  "choose another path)", output);
		return CLI_EXIT_BAD_INPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_error("%s: not a recording directory, so --force will not replace "
			  "it (remove it yourself, or choose another path with -o)",
			  output);
		return CLI_EXIT_BAD_INPUT;
	}
	/* Check everything first, delete second: a refusal deletes nothing. */
	n = output_scan(output, false, other, sizeof(other));
	if (n == -ENOTEMPTY) {
		cli_error("%s: holds '%s', which is not an iterprof trace, so --force "
			  "will not replace it (remove it yourself, or choose another "
			  "path with -o)", output, other);
		return CLI_EXIT_BAD_INPUT;
	}
	if (n >= 0)
		n = output_scan(output, true, other, sizeof(other));
	if (n < 0) {
		cli_error("%s: cannot replace the old recording: %s%s%s", output,
			  *other ? other : "", *other ? ": " : "", strerror(-n));
		return CLI_EXIT_FAILURE;
	}
	return -1;
}

/* ---- the shim and the child's environment ------------------------------ */

/*
 * Where the shim is: $ITERPROF_SHIM_PATH if set (for debugging), else
 * <dir of our executable>/../ITERPROF_SHIM_RELDIR/libiterprof.so, which the
 * build tree and the installed tree share. Returns a malloc'd absolute path
 * (the caller frees it), or NULL after printing why.
 */
static char *shim_find(void)
{
	const char *override = getenv("ITERPROF_SHIM_PATH");
	char *candidate = NULL;
	char *exe = NULL;
	char *shim = NULL;

	if (override && *override) {
		candidate = strdup(override);
	} else {
		exe = realpath("/proc/self/exe", NULL);
		if (!exe) {
			cli_error("cannot find the shim: /proc/self/exe: %s (is /proc "
				  "mounted? ITERPROF_SHIM_PATH=FILE names the shim)",
				  strerror(errno));
			return NULL;
		}
		*strrchr(exe, '/') = 0; /* an absolute path has one */
		if (asprintf(&candidate, "%s/../%s/%s", exe, ITERPROF_SHIM_RELDIR,
			     RECORD_SHIM_NAME) < 0)
			candidate = NULL;
	}
	if (!candidate) {
		cli_error("cannot find the shim: out of memory");
		goto out;
	}
	shim = realpath(candidate, NULL);
	if (!shim || access(shim, R_OK) != 0) {
		cli_error("cannot find the shim: %s: %s (is iterprof installed "
			  "completely? ITERPROF_SHIM_PATH=FILE names the shim)",
			  candidate, strerror(errno));
		free(shim);
		shim = NULL;
		goto out;
	}
	/* ld.so splits LD_PRELOAD at blanks as well as colons. */
	if (strpbrk(shim, ": \t")) {
		cli_error("cannot preload the shim: %s: LD_PRELOAD cannot carry a "
			  "path containing ':' or a blank (install iterprof under "
			  "another directory)", shim);
		free(shim);
		shim = NULL;
	}
out:
	free(candidate);
	free(exe);
	return shim;
}

/* Is @path one of the entries of the LD_PRELOAD list @list? */
static bool preload_list_has(const char *list, const char *path)
{
	size_t len = strlen(path);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ": \t");

		if (n == len && !strncmp(p, path, len))
			return true;
		p += n;
		p += strspn(p, ": \t");
	}
	return false;
}

/*
 * Set the environment COMMAND inherits: the shim first in LD_PRELOAD (the
 * user's own preloads stay, after it), and exactly the ITERPROF_* variables
 * the shim reads. Variables the options do not set are removed, so that a
 * stray ITERPROF_VERBOSE in the user's shell does not change a recording.
 * Returns 0 or -errno.
 */
static int child_environment_set(const struct record_options *options,
				 const char *shim, const char *output_abs)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload = NULL;
	int err = 0;

	if (old && *old && !preload_list_has(old, shim)) {
		if (asprintf(&preload, "%s:%s", shim, old) < 0)
			return -ENOMEM;
	} else {
		preload = strdup(old && *old ? old : shim);
		if (!preload)
			return -ENOMEM;
	}
	if (setenv("LD_PRELOAD", preload, 1) || setenv("ITERPROF_OUTPUT", output_abs, 1) ||
	    setenv("ITERPROF_SCHED", options->sched, 1) ||
	    (options->follow ? unsetenv("ITERPROF_FOLLOW")
			     : setenv("ITERPROF_FOLLOW", "0", 1)) ||
	    (options->verbose ? setenv("ITERPROF_VERBOSE", "1", 1)
			      : unsetenv("ITERPROF_VERBOSE")) ||
	    (options->functions ? setenv("ITERPROF_FUNCTIONS", options->functions, 1)
				: unsetenv("ITERPROF_FUNCTIONS")) ||
	    (!options->counters   ? setenv("ITERPROF_COUNTERS", "off", 1)
	     : !options->software ? setenv("ITERPROF_COUNTERS", "events", 1)
				  : unsetenv("ITERPROF_COUNTERS")) ||
	    (options->events_env ? setenv("ITERPROF_EVENTS", options->events_env, 1)
				 : unsetenv("ITERPROF_EVENTS")) ||
	    (options->stacks ? setenv("ITERPROF_STACKS", options->stacks, 1)
			     : unsetenv("ITERPROF_STACKS")) ||
	    (options->stack_cpu_us ? setenv("ITERPROF_STACK_CPU_US", options->stack_cpu_us, 1)
				   : unsetenv("ITERPROF_STACK_CPU_US")) ||
	    (options->stack_faults ? setenv("ITERPROF_STACK_FAULTS", options->stack_faults, 1)
				   : unsetenv("ITERPROF_STACK_FAULTS")))
		err = -errno;
	if (!err) {
		char pid[16];

		/* The command (our child) reports what -f did on stderr, unless
		 * -q; -v makes every process report. */
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		if (cli_quiet ? unsetenv("ITERPROF_LAUNCHER_PID")
			      : setenv("ITERPROF_LAUNCHER_PID", pid, 1))
			err = -errno;
	}
	free(preload);
	return err;
}

/* ---- running the command ---------------------------------------------- */

/*
 * Signals we pass on to the child when another process sent them to us
 * (`kill -TERM <launcher>`, a job control system, a CI runner's timeout).
 * Signals the terminal generates (^C, ^\, SIGWINCH, SIGHUP on hangup) already
 * reach the child through the process group we share: forwarding those too
 * would deliver them twice.
 */
static const int forwarded_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT,
};
#define FORWARDED_COUNT (sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

/* The child to forward to; 0 before fork and once it is reaped (a reaped
 * pid may be reused by an unrelated process). */
static volatile sig_atomic_t forward_pid;

static void forward_signal(int sig, siginfo_t *info, void *context)
{
	int saved_errno = errno;
	pid_t pid = forward_pid;

	(void)context;
	/* si_code SI_USER/SI_QUEUE/SI_TKILL: sent by a process (kill, sigqueue,
	 * tgkill); the terminal's signals come with SI_KERNEL. A signal the
	 * child sent us is not sent back to it. */
	if (pid > 0 && info->si_pid != pid) {
		if (info->si_code == SI_QUEUE)
			sigqueue(pid, sig, info->si_value);
		else if (info->si_code == SI_USER || info->si_code == SI_TKILL)
			kill(pid, sig);
	}
	errno = saved_errno;
}

struct signal_state {
	struct sigaction old_actions[FORWARDED_COUNT];
	struct sigaction old_sigchld;
	sigset_t old_mask;
};

/* Block the forwarded signals, then catch those not ignored (an ignored
 * signal stays ignored, and the child inherits that, as from a shell).
 * signals_restore() puts everything back, in the child before exec too. */
static void signals_catch(struct signal_state *state)
{
	struct sigaction action = { .sa_sigaction = forward_signal,
				    .sa_flags = SA_SIGINFO | SA_RESTART };
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < FORWARDED_COUNT; i++)
		sigaddset(&block, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &state->old_mask);
	/* With SIGCHLD ignored (inherited from whoever started us) the kernel
	 * reaps the child itself and its exit status is lost. */
	sigaction(SIGCHLD, &(struct sigaction){ .sa_handler = SIG_DFL },
		  &state->old_sigchld);
	action.sa_mask = block;
	for (size_t i = 0; i < FORWARDED_COUNT; i++) {
		sigaction(forwarded_signals[i], NULL, &state->old_actions[i]);
		if (state->old_actions[i].sa_handler != SIG_IGN)
			sigaction(forwarded_signals[i], &action, NULL);
	}
}

static void signals_restore(const struct signal_state *state)
{
	for (size_t i = 0; i < FORWARDED_COUNT; i++)
		sigaction(forwarded_signals[i], &state->old_actions[i], NULL);
	sigaction(SIGCHLD, &state->old_sigchld, NULL);
	sigprocmask(SIG_SETMASK, &state->old_mask, NULL);
}

static void signals_block(void)
{
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < FORWARDED_COUNT; i++)
		sigaddset(&block, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &block, NULL);
}

static bool starts_like_elf(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool is_elf;

	if (fd < 0)
		return true; /* cannot tell: do not try it as a script */
	is_elf = read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4);
	close(fd);
	return is_elf;
}

/*
 * In the child: exec @path, and as execvp() and shells do, run a file
 * without "#!" or ELF header with /bin/sh. On failure write errno to
 * @report_fd (close-on-exec, so the parent reads nothing when exec worked)
 * and exit.
 */
static void child_exec(const char *path, char **argv, int report_fd)
{
	int err;

	execv(path, argv);
	err = errno;
	if (err == ENOEXEC && !starts_like_elf(path)) {
		size_t argc = 0;
		char **sh_argv;

		while (argv[argc])
			argc++;
		sh_argv = calloc(argc + 2, sizeof(*sh_argv));
		if (sh_argv) {
			sh_argv[0] = (char *)"/bin/sh";
			sh_argv[1] = (char *)path;
			memcpy(sh_argv + 2, argv + 1, argc * sizeof(*sh_argv));
			execv("/bin/sh", sh_argv);
		}
	}
	if (write(report_fd, &err, sizeof(err)) != sizeof(err)) {
		/* Nothing more can be done: the exit status still tells. */
	}
	_exit(err == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_EXEC);
}

static int wait_status_to_exit(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CLI_EXIT_FAILURE;
}

/* The environment timeline of a run: what child_run() is to sample. */
struct env_run {
	bool is_enabled;
	uint64_t interval_ns;
	const char *output_abs;
	char warning[768]; /* why the timeline is missing or incomplete, or "" */
};

/*
 * Start sampling the environment of @pid, which has just exec'd the command.
 * Never fails the run: a timeline that cannot be written is a warning, said
 * after the run (the command's output comes first).
 */
static struct env_sampler *env_run_start(struct env_run *env, pid_t pid)
{
	struct env_sampler *sampler = NULL;
	char *file = NULL;
	char why[512];

	if (!env->is_enabled)
		return NULL;
	if (asprintf(&file, "%s/%s", env->output_abs, ITP_ENV_FILE_NAME) < 0) {
		snprintf(env->warning, sizeof(env->warning),
			 "no environment timeline: out of memory");
		return NULL;
	}
	if (env_sampler_open(file, pid, env->interval_ns, &sampler, why, sizeof(why)) ||
	    env_sampler_start(sampler, why, sizeof(why))) {
		snprintf(env->warning, sizeof(env->warning), "no environment timeline: %s", why);
		env_sampler_close(sampler, NULL, 0);
		sampler = NULL;
	}
	free(file);
	return sampler;
}

/* The command has ended: a last sample, and the file closed. */
static void env_run_stop(struct env_run *env, struct env_sampler *sampler)
{
	char why[512];

	if (sampler && env_sampler_close(sampler, why, sizeof(why)))
		snprintf(env->warning, sizeof(env->warning), "environment timeline incomplete: %s",
			 why);
}

/*
 * Run the command and wait for it, sampling its environment meanwhile
 * (@env). Returns its exit status (128+N for signal N). *@exec_errno is set
 * to the errno of a failed exec (then nothing ran, and an error has been
 * printed), else 0.
 */
static int child_run(const char *path, char **argv, int *exec_errno, struct env_run *env)
{
	struct env_sampler *sampler = NULL;
	struct signal_state signals;
	int report[2];
	siginfo_t info;
	ssize_t n;
	pid_t pid;
	int status;
	int err = 0;

	*exec_errno = 0;
	if (pipe2(report, O_CLOEXEC) != 0) {
		*exec_errno = errno;
		cli_error("cannot run %s: pipe: %s", argv[0], strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	fflush(NULL); /* what we printed comes before what the command prints */
	signals_catch(&signals);
	pid = fork();
	if (pid == 0) {
		close(report[0]);
		signals_restore(&signals);
		child_exec(path, argv, report[1]);
	}
	close(report[1]);
	if (pid < 0) {
		*exec_errno = errno;
		cli_error("cannot run %s: fork: %s", argv[0], strerror(errno));
		signals_restore(&signals);
		close(report[0]);
		return CLI_EXIT_FAILURE;
	}
	forward_pid = pid;
	sigprocmask(SIG_SETMASK, &signals.old_mask, NULL);

	do
		n = read(report[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)sizeof(err)) {
		*exec_errno = err;
		cli_error("%s: cannot execute: %s", argv[0], strerror(err));
	} else {
		/* The command runs (exec closed the pipe): from here on the
		 * launcher may have a thread. */
		sampler = env_run_start(env, pid);
	}

	/* Wait without reaping first: until we reap it the pid cannot be
	 * reused, so a signal forwarded meanwhile cannot hit a stranger. Only
	 * termination ends the wait; a stopped or continued child does not. */
	while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR)
		;
	/* The last sample sees the command as a zombie: its pid and code maps
	 * are still there (its cgroup is not: the sampler keeps the last one). */
	env_run_stop(env, sampler);
	signals_block();
	forward_pid = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			cli_error("cannot wait for %s: %s", argv[0], strerror(errno));
			signals_restore(&signals);
			return CLI_EXIT_FAILURE;
		}
	}
	signals_restore(&signals);
	return wait_status_to_exit(status);
}

/* ---- after the run ----------------------------------------------------- */

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void record_summarize(const char *output, const char *output_abs,
			     bool follow, bool has_functions)
{
	struct recording_summary summary;
	char other[NAME_MAX + 1];
	char line[PATH_MAX + 256];
	char why[256];
	int files;
	int len;
	int err;

	if (cli_quiet)
		return;
	/* Counted here rather than asked of the reader: "no file at all" is
	 * the one case that means the shim never loaded. */
	files = output_scan(output_abs, false, other, sizeof(other));
	if (files == 0) {
		cli_info("no process was recorded: the shim did not load (static "
			 "binary? setuid? the program cleared LD_PRELOAD?)");
		return;
	}
	memset(&summary, 0, sizeof(summary));
	err = recording_summarize(output_abs, &summary, why, sizeof(why));
	if (err) {
		cli_info("%s: cannot read the recording: %s", output, why);
		return;
	}
	len = snprintf(line, sizeof(line), "recorded %u %s, %u %s, %u %s, %llu %s in %s",
		       summary.processes,
		       plural(summary.processes, "process", "processes"),
		       summary.threads, plural(summary.threads, "thread", "threads"),
		       summary.regions, plural(summary.regions, "region", "regions"),
		       (unsigned long long)summary.iterations,
		       plural(summary.iterations, "iteration", "iterations"), output);
	if (summary.dropped && len >= 0 && (size_t)len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, ", %llu dropped",
				(unsigned long long)summary.dropped);
	if (summary.truncated_files && len >= 0 && (size_t)len < sizeof(line))
		snprintf(line + len, sizeof(line) - len,
			 ", %u %s (killed or crashed before exit; what was "
			 "recorded up to then is kept)",
			 summary.truncated_files,
			 plural(summary.truncated_files, "file truncated",
				"files truncated"));
	cli_info("%s", line);
	if (summary.counters_note[0])
		cli_info("note: %.*s", (int)sizeof(summary.counters_note),
			 summary.counters_note);
	if (summary.never_called[0])
		cli_info("-f: never called: %s (no call of the patched function returned)",
			 summary.never_called);
	/* With -f, the shim said at the start what it patched, and "never
	 * called" above says why nothing was recorded. */
	if (summary.iterations == 0 && has_functions && !summary.functions_patched)
		cli_info("the command ran but recorded no iteration: no -f pattern matched a "
			 "function that could be patched (see the -f lines above, or "
			 "'iterprof report')");
	else if (summary.iterations == 0 && !has_functions)
		cli_info("the command ran but recorded no iteration: no begin/end "
			 "marker pair completed (mark each iteration with "
			 "iterprof_iter_begin(\"name\") and iterprof_iter_end(\"name\") "
			 "from <iterprof/iterprof.h>%s)",
			 follow ? "" : "; with --no-follow, markers in the programs "
				       "the command executes are not recorded");
}

int cmd_record(int argc, char **argv)
{
	struct env_run env = { 0 };
	struct record_options options;
	char why[512];
	char *path = NULL;
	char *shim = NULL;
	char *output_abs = NULL;
	int exec_errno;
	int status;
	int err;

	status = record_parse_options(argc, argv, &options);
	if (status >= 0) {
		free(options.functions);
		free(options.events);
		free(options.events_env);
		return status;
	}

	err = exec_check_resolve(options.command[0], &path, why, sizeof(why));
	if (!err)
		err = exec_check_preloadable(path, why, sizeof(why));
	if (err) {
		cli_error("%s: %s", options.command[0], why);
		status = err == -ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_EXEC;
		goto out;
	}
	status = record_select_events(&options);
	if (status >= 0)
		goto out;
	shim = shim_find();
	if (!shim) {
		status = CLI_EXIT_FAILURE;
		goto out;
	}
	status = output_prepare(&options);
	if (status >= 0)
		goto out;
	output_abs = realpath(options.output, NULL);
	if (!output_abs) {
		cli_error("%s: %s", options.output, strerror(errno));
		status = CLI_EXIT_FAILURE;
		goto out;
	}
	err = child_environment_set(&options, shim, output_abs);
	if (err) {
		cli_error("cannot set the environment: %s", strerror(-err));
		status = CLI_EXIT_FAILURE;
		goto out;
	}

	env.is_enabled = options.env;
	env.interval_ns = options.env_interval_ns;
	env.output_abs = output_abs;
	status = child_run(path, options.command, &exec_errno, &env);
	if (exec_errno)
		rmdir(output_abs); /* nothing ran: leave no empty recording behind */
	else {
		if (env.warning[0])
			cli_info("warning: %s", env.warning);
		for (char *line = options.events_notes, *eol; *line; line = eol + 1) {
			eol = strchr(line, '\n');
			if (!eol)
				break;
			*eol = '\0';
			cli_info("%s", line);
		}
		record_summarize(options.output, output_abs, options.follow,
				 options.functions != NULL);
	}
out:
	free(options.functions);
	free(options.events);
	free(options.events_env);
	free(output_abs);
	free(shim);
	free(path);
	return status;
}

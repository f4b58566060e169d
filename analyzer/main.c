/*
 * iterprof: dispatch to one subcommand. Each lives in its own cmd-*.c.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "record", cmd_record, "run a command with the shim and record its iterations" },
	{ "report", cmd_report, "summarise a recorded trace per process, thread and region" },
	{ "events", cmd_events, "list the events this machine can count, and why not the others" },
	{ "diff", cmd_diff, "compare two recordings: regression, environment or warm-up?" },
	{ "check", cmd_check, "find what makes benchmarks on this machine noisy, and what to do" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: iterprof <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n'iterprof <command> --help' shows a command's options.\n"
		     "exit status: 0 ok, 1 failure, 2 bad usage or bad input,\n"
		     "3 check found something severe, or diff a verdict named by --fail-on;\n"
		     "record exits with the command's own status.\n");
}

int main(int argc, char **argv)
{
	/* A report holds columns of millions of values that grow by
	 * doubling. glibc raises its mmap threshold each time a large mapped
	 * block is freed, after which such blocks come from the heap and
	 * every realloc copies them (a seventh of a 10-million-iteration
	 * report); a fixed threshold keeps them mapped, so realloc moves
	 * page tables (mremap). */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_BAD_INPUT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("iterprof %s\n", ITERPROF_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	}
	cli_error("unknown command '%s' (run 'iterprof --help' for the list)", argv[1]);
	return CLI_EXIT_BAD_INPUT;
}

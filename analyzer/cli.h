/*
 * What every subcommand shares: exit statuses and the one-line error format.
 *
 * Library-style modules (trace reader, statistics) return 0 or -errno and put
 * a human-readable reason in a caller-supplied buffer; only the cmd-*.c files
 * print, and they print an error once, as
 *     iterprof: <what>: <why> (<what to do>)
 */
#ifndef ITERPROF_CLI_H
#define ITERPROF_CLI_H

#include <stddef.h>

/* Exit statuses, documented in doc/cli.md. `record` exits with the command's. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1,   /* could not do the job: I/O error, out of memory */
	CLI_EXIT_BAD_INPUT = 2, /* usage error, or an unreadable/corrupt trace */
	CLI_EXIT_SEVERE = 3,    /* check: something severe found on this machine;
				   diff: a verdict named by --fail-on */
	CLI_EXIT_CANNOT_EXEC = 126, /* command not executable or cannot be preloaded */
	CLI_EXIT_NOT_FOUND = 127,   /* command not found */
};

/* Print "iterprof: <formatted>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "iterprof: <formatted>\n" on stderr unless quiet output was asked for. */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int cli_quiet;

/* Subcommands: argv[0] is the subcommand name. Return the exit status. */
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif /* ITERPROF_CLI_H */

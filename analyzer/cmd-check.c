/*
 * iterprof check [--format text|json] [-q]
 *
 * Inspect this machine for what makes benchmarks noisy or counters
 * unavailable (no PMU, perf_event_paranoid, a hypervisor and its steal, a
 * cgroup CPU quota, frequency scaling, SMT, no isolated CPUs, ASLR, THP,
 * swap, other load) and print each finding with its consequence and what
 * to do. The probes are in machine.c; this file parses the options and
 * formats the findings. doc/check.md describes every finding.
 *
 * Exit status: 0 when nothing is severe, 3 when something is
 * (CLI_EXIT_SEVERE), 2 for bad usage, 1 when the output cannot be written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "json-out.h"
#include "machine.h"

#define CHECK_SCHEMA "iterprof.check/1"
#define CHECK_WIDTH 100    /* columns of the text output, at most */
#define CHECK_WINDOW_MS 200 /* load and steal are measured over this */
#define CHECK_ID_COLUMN 9  /* after "warning  " */
#define CHECK_TEXT_COLUMN 30
#define NO_BREAK '\001' /* a space print_wrapped() does not break at */

static const char check_usage[] =
	"usage: iterprof check [--format text|json] [-q]\n"
	"\n"
	"Inspect this machine for what makes benchmarks noisy or counters\n"
	"unavailable (hardware PMU, perf_event_paranoid, tracefs, hypervisor and\n"
	"steal, cgroup CPU quota, other load, isolated CPUs, SMT, frequency\n"
	"governor, turbo, ASLR, transparent huge pages, swap) and say, for each,\n"
	"what it does to measurements and what to do (doc/check.md). Takes about\n"
	"0.2 s: load and steal are measured over that window.\n"
	"\n"
	"  --format FORMAT  text (default) or json (schema " CHECK_SCHEMA ")\n"
	"  -q               print nothing: the exit status tells\n"
	"  -h, --help       show this help\n"
	"\n"
	"exit status: 0 nothing severe, 3 something severe found (no PMU, a CPU\n"
	"quota, heavy load or steal...), 2 bad usage, 1 output failed.\n";

enum check_format { FORMAT_TEXT, FORMAT_JSON };

struct style {
	const char *bold, *off;
	const char *severity[MACHINE_SEVERITY_COUNT];
};

/* Colour on a terminal only, and not when NO_COLOR is set (no-color.org),
 * as `report` decides. */
static bool use_colour(void)
{
	const char *no = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(no && no[0]);
}

/* Columns @s takes on a terminal: one per UTF-8 character. */
static size_t display_width(const char *s, size_t len)
{
	size_t cols = 0;

	for (size_t i = 0; i < len && s[i]; i++)
		cols += ((unsigned char)s[i] & 0xc0) != 0x80;
	return cols;
}

/* Bytes of @s that fit in @cols columns. */
static size_t bytes_for_columns(const char *s, size_t cols)
{
	size_t i = 0, used = 0;

	while (s[i]) {
		size_t next = i + 1;

		while (((unsigned char)s[next] & 0xc0) == 0x80)
			next++;
		if (used + 1 > cols)
			break;
		used++;
		i = next;
	}
	return i;
}

/*
 * @text from the cursor, which stands at column @column, broken at spaces
 * so that no line passes CHECK_WIDTH; continuation lines start at column
 * @indent. A word longer than a whole line is cut.
 */
static void print_wrapped(FILE *out, const char *text, size_t column, size_t indent)
{
	bool first = true;

	while (*text) {
		size_t room = CHECK_WIDTH - (first ? column : indent), cut = strlen(text);

		if (display_width(text, cut) > room) {
			size_t fit = bytes_for_columns(text, room), space = 0;

			/* not before a unit: "17.3 %" stays whole */
			for (size_t i = 0; i <= fit && text[i]; i++)
				if (text[i] == ' ' && text[i + 1] != '%')
					space = i;
			cut = space ? space : fit;
		}
		if (!first)
			fprintf(out, "%*s", (int)indent, "");
		for (size_t i = 0; i < cut; i++)
			fputc(text[i] == NO_BREAK ? ' ' : text[i], out);
		fputc('\n', out);
		text += cut;
		while (*text == ' ')
			text++;
		first = false;
	}
	if (first)
		fputc('\n', out);
}

/* "pmu, other-load": the ids of the findings of @severity, or NULL. */
static void list_ids(const struct machine_report *r, enum machine_severity severity, char *buf,
		     size_t size)
{
	buf[0] = '\0';
	for (unsigned i = 0; i < r->count; i++) {
		size_t len = strlen(buf);

		if (r->findings[i].severity == severity)
			snprintf(buf + len, size - len, "%s%s", len ? ", " : "", r->findings[i].id);
	}
}

static void count_severities(const struct machine_report *r,
			     unsigned counts[MACHINE_SEVERITY_COUNT], unsigned *unknown)
{
	memset(counts, 0, MACHINE_SEVERITY_COUNT * sizeof(counts[0]));
	*unknown = 0;
	for (unsigned i = 0; i < r->count; i++) {
		counts[r->findings[i].severity]++;
		*unknown += r->findings[i].is_unknown;
	}
}

static int check_text(FILE *out, const struct machine_report *r, bool colour)
{
	static const struct style plain = { "", "", { "", "", "", "" } };
	static const struct style ansi = {
		"\033[1m",
		"\033[0m",
		{
			[MACHINE_OK] = "\033[32m",
			[MACHINE_INFO] = "",
			[MACHINE_WARNING] = "\033[33m",
			[MACHINE_SEVERE] = "\033[1;31m",
		},
	};
	const struct style *st = colour ? &ansi : &plain;
	unsigned counts[MACHINE_SEVERITY_COUNT], unknown;
	char line[4 * MACHINE_TEXT_MAX], severe[512], warnings[512];

	snprintf(line, sizeof(line), "host %s, %s, %u CPU%s online; load and steal measured "
				     "over %.0f ms",
		 r->host[0] ? r->host : "?", r->kernel[0] ? r->kernel : "?", r->online_cpus,
		 r->online_cpus == 1 ? "" : "s", r->window_ms);
	print_wrapped(out, line, 0, 2);
	for (unsigned i = 0; i < r->count; i++) {
		const struct machine_finding *f = &r->findings[i];
		const char *name = machine_severity_name(f->severity);

		fputc('\n', out);
		fprintf(out, "%s%s%s%*s%s%s%s", st->severity[f->severity], name,
			st->severity[f->severity][0] ? st->off : "",
			(int)(CHECK_ID_COLUMN - strlen(name)), "", st->bold, f->id, st->off);
		fprintf(out, "%*s", (int)(CHECK_TEXT_COLUMN - CHECK_ID_COLUMN - strlen(f->id)), "");
		print_wrapped(out, f->found, CHECK_TEXT_COLUMN, CHECK_TEXT_COLUMN);
		if (f->consequence[0]) {
			fprintf(out, "%*sso: ", CHECK_TEXT_COLUMN, "");
			print_wrapped(out, f->consequence, CHECK_TEXT_COLUMN + 4,
				      CHECK_TEXT_COLUMN + 4);
		}
		if (f->action[0]) {
			fprintf(out, "%*sdo: ", CHECK_TEXT_COLUMN, "");
			print_wrapped(out, f->action, CHECK_TEXT_COLUMN + 4, CHECK_TEXT_COLUMN + 4);
		}
	}
	count_severities(r, counts, &unknown);
	list_ids(r, MACHINE_SEVERE, severe, sizeof(severe));
	list_ids(r, MACHINE_WARNING, warnings, sizeof(warnings));
	/* "2 severe (pmu, cgroup-cpu-quota), 4 warnings (...), 3 info, 8 ok" */
	snprintf(line, sizeof(line),
		 "%u\001severe%s%s%s, %u\001warning%s%s%s%s, %u\001info, %u\001ok",
		 counts[MACHINE_SEVERE], severe[0] ? " (" : "", severe, severe[0] ? ")" : "",
		 counts[MACHINE_WARNING], counts[MACHINE_WARNING] == 1 ? "" : "s",
		 warnings[0] ? " (" : "", warnings, warnings[0] ? ")" : "", counts[MACHINE_INFO],
		 counts[MACHINE_OK]);
	if (unknown)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 "; %u\001unknown", unknown);
	fputc('\n', out);
	print_wrapped(out, line, 0, 2);
	return 0;
}

/* ------------------------------------------------------------------------
 * JSON (json-out.h: a failed allocation means no document at all).
 */

static json_t *json_finding(const struct machine_finding *f)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_set(o, "id", json_string(f->id));
	json_set(o, "severity", json_string(machine_severity_name(f->severity)));
	json_set(o, "unknown", json_boolean(f->is_unknown));
	json_set(o, "found", json_string(f->found));
	json_set(o, "consequence", json_text_or_null(f->consequence));
	json_set(o, "action", json_text_or_null(f->action));
	if (f->has_value)
		json_set(o, "value", f->is_integer ? json_integer((json_int_t)f->value)
						   : json_real(f->value));
	else if (f->value_text[0])
		json_set(o, "value", json_string(f->value_text));
	if (!strcmp(f->id, "other-load") && !f->is_unknown) {
		json_t *processes = json_array();

		for (unsigned i = 0; processes && i < f->top_count; i++) {
			json_t *p = json_object();

			if (p) {
				json_set(p, "pid", json_integer(f->top[i].pid));
				json_set(p, "comm", json_string(f->top[i].comm));
				json_set(p, "cpu_percent", json_real(f->top[i].cpu_percent));
			}
			json_add(processes, p);
		}
		json_set(o, "processes", processes);
	}
	return o;
}

static int check_json(FILE *out, const struct machine_report *r)
{
	json_t *root = json_object(), *findings = json_array(), *summary = json_object();
	unsigned counts[MACHINE_SEVERITY_COUNT], unknown;
	int err = 0;

	json_failed = !root || !findings || !summary;
	if (json_failed) {
		json_decref(findings);
		json_decref(summary);
		json_decref(root);
		return -ENOMEM;
	}
	json_set(root, "schema", json_string(CHECK_SCHEMA));
	json_set(root, "host", json_string(r->host));
	json_set(root, "kernel", json_string(r->kernel));
	json_set(root, "online_cpus", json_integer(r->online_cpus));
	json_set(root, "window_ms", json_real(r->window_ms));
	for (unsigned i = 0; i < r->count; i++)
		json_add(findings, json_finding(&r->findings[i]));
	json_set(root, "findings", findings);
	count_severities(r, counts, &unknown);
	for (int s = MACHINE_SEVERITY_COUNT - 1; s >= 0; s--)
		json_set(summary, machine_severity_name((enum machine_severity)s),
			 json_integer(counts[s]));
	json_set(summary, "unknown", json_integer(unknown));
	json_set(root, "summary", summary);
	if (json_failed)
		err = -ENOMEM;
	else if (json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) ||
		 fputc('\n', out) == EOF)
		err = -EIO;
	json_decref(root);
	return err;
}

/* ------------------------------------------------------------------------
 * Command
 */

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum check_format format = FORMAT_TEXT;
	struct machine_report *r;
	bool is_quiet = false;
	int c, err;

	optind = 1;
	opterr = 0; /* one error line, ours */
	while ((c = getopt_long(argc, argv, "+hq", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "json")) {
				format = FORMAT_JSON;
			} else if (!strcmp(optarg, "text")) {
				format = FORMAT_TEXT;
			} else {
				cli_error("check: unknown format '%s' (use --format text or json)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 'q':
			is_quiet = true;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return CLI_EXIT_OK;
		default:
			if (optopt == 'f' && !strncmp(argv[optind - 1], "--f", 3))
				cli_error("check: --format needs a value (text or json)");
			else if (optopt)
				cli_error("check: unknown option '-%c' (run 'iterprof check --help')",
					  optopt);
			else
				cli_error("check: unknown option '%s' (run 'iterprof check --help')",
					  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	if (optind < argc) {
		cli_error("check: takes no arguments, got '%s' (run 'iterprof check --help')",
			  argv[optind]);
		return CLI_EXIT_BAD_INPUT;
	}

	r = malloc(sizeof(*r));
	if (!r) {
		cli_error("check: out of memory");
		return CLI_EXIT_FAILURE;
	}
	machine_check(r, CHECK_WINDOW_MS);
	err = 0;
	if (!is_quiet)
		err = format == FORMAT_JSON ? check_json(stdout, r)
					    : check_text(stdout, r, use_colour());
	c = CLI_EXIT_OK;
	for (unsigned i = 0; i < r->count; i++)
		if (r->findings[i].severity == MACHINE_SEVERE)
			c = CLI_EXIT_SEVERE;
	free(r);
	if (err == -ENOMEM) {
		cli_error("check: out of memory");
		return CLI_EXIT_FAILURE;
	}
	if (fflush(stdout) == EOF || ferror(stdout) || err) {
		cli_error("check: writing the output: %s (check the output's disk or pipe)",
			  strerror(errno ? errno : EIO));
		return CLI_EXIT_FAILURE;
	}
	return c;
}

/*
 * iterprof diff [--format text|json|md] [--threshold PCT] [--fail-on V,...]
 *               BASE CURRENT
 *
 * Pair the regions of two recordings and, for each pair, say whether the
 * current run is a regression, an improvement, no change, the environment,
 * the warm-up, or inconclusive, with one sentence of evidence. diff.c
 * computes the change and the verdict; this file opens the recordings,
 * analyses their streams (analysis.c, with each recording's environment
 * timeline), pairs them and prints. doc/diff.md is the user's side.
 *
 * Pairing: a stream is (process image, thread, region). Streams pair by the
 * executable's file name and the region name, the k-th such stream of one
 * recording with the k-th of the other (threads in the order they started);
 * a region left over on both sides under one name each pairs by its name
 * alone (a rebuilt binary whose name carries a hash, a renamed
 * interpreter).
 *
 * Exit status: 0, or 3 (CLI_EXIT_SEVERE) when a pair's verdict is one that
 * --fail-on names; 2 for bad usage, unreadable recordings or nothing to
 * pair; 1 when out of memory or the output cannot be written.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analysis.h"
#include "cli.h"
#include "diff.h"
#include "env-timeline.h"
#include "envjoin.h"
#include "json-out.h"
#include "recording.h"
#include "stats.h"

#define DIFF_SCHEMA "iterprof.diff/1"

static const char diff_usage[] =
	"usage: iterprof diff [--format text|json|md] [--threshold PCT]\n"
	"                     [--fail-on VERDICT[,VERDICT...]] BASE CURRENT\n"
	"\n"
	"Compare two recordings region by region: the change of the steady-state\n"
	"median (Hodges-Lehmann shift, 95 % confidence interval), and whether it\n"
	"comes from the work, the environment or the warm-up (doc/diff.md).\n"
	"Verdicts: regression, improvement, no-change, environment, warmup,\n"
	"inconclusive.\n"
	"\n"
	"  BASE, CURRENT       recording directories or trace files\n"
	"  --format FORMAT     text (default), json (schema " DIFF_SCHEMA ") or md\n"
	"                      (a Markdown table for a pull request)\n"
	"  --threshold PCT     smallest change reported, in % of the base median\n"
	"                      (default 2; '2%' works too)\n"
	"  --fail-on VERDICTS  exit 3 when a region's verdict is one of these\n"
	"                      (e.g. regression, or regression,inconclusive)\n"
	"  -h, --help          show this help\n"
	"\n"
	"exit status: 0 ok, 3 a verdict named by --fail-on was found, 2 bad usage\n"
	"or unreadable recordings or no region in common, 1 failure.\n";

enum diff_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_MD };

struct diff_options {
	enum diff_format format;
	double threshold;
	bool fail_on[DIFF_VERDICT_COUNT];
	const char *path[2];
};

/* One stream of a recording, analysed. */
struct stream {
	struct diff_side side;
	struct analysis analysis;
	const char *command; /* the executable's file name */
	unsigned occurrence; /* among the streams of this command and region */
	long pair;           /* index into the pairs, or -1 */
};

struct run {
	const char *path;
	struct recording *rec;
	struct env_timeline *env;
	size_t count;
	struct stream *streams;
};

struct pair {
	struct stream *base, *current;
	struct diff_result result;
};

/* ------------------------------------------------------------------------
 * Reading
 */

static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Open @r->path, its timeline, and analyse every stream with iterations.
 * 0, or an exit status (said). */
static int run_open(struct run *r)
{
	char why[512];
	size_t n = 0;
	int err;

	err = recording_open(r->path, &r->rec, why, sizeof(why));
	if (err) {
		cli_error("%s%s", why, recording_open_hint(err));
		return err == -ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_BAD_INPUT;
	}
	r->env = calloc(1, sizeof(*r->env));
	if (r->env) {
		err = env_timeline_load_beside(r->path, r->env, why, sizeof(why));
		if (err) {
			if (err != -ENOENT)
				cli_info("%s (compared without the environment timeline)", why);
			free(r->env);
			r->env = NULL;
		}
	}
	for (unsigned p = 0; p < r->rec->process_count; p++)
		for (unsigned t = 0; t < r->rec->processes[p].thread_count; t++)
			n += r->rec->processes[p].threads[t].region_count;
	r->streams = calloc(n ? n : 1, sizeof(*r->streams));
	if (!r->streams)
		goto nomem;
	for (unsigned p = 0; p < r->rec->process_count; p++) {
		const struct recording_process *proc = &r->rec->processes[p];

		for (unsigned t = 0; t < proc->thread_count; t++) {
			const struct recording_thread *th = &proc->threads[t];

			for (unsigned k = 0; k < th->region_count; k++) {
				struct stream *s = &r->streams[r->count];
				struct env_join *join = NULL;

				if (!th->regions[k].count)
					continue;
				if (r->env)
					join = env_join_new(r->env, (int)proc->header.pid,
							    (int)th->tid);
				if (analysis_run_env(proc, &th->regions[k], join, &s->analysis)) {
					/* not counted, so run_close() would not free
					 * it: the join and whatever was built (when
					 * its first allocation fails analysis_run_env
					 * returns with the join still held; freeing
					 * twice is harmless, analysis_free() clears) */
					analysis_free(&s->analysis);
					goto nomem;
				}
				s->side = (struct diff_side){ proc, th, &th->regions[k],
							      &s->analysis };
				s->command = file_name(proc->header.exe);
				s->pair = -1;
				for (size_t j = 0; j < r->count; j++)
					if (!strcmp(r->streams[j].command, s->command) &&
					    !strcmp(r->streams[j].side.region->name,
						    th->regions[k].name))
						s->occurrence++;
				r->count++;
			}
		}
	}
	return 0;
nomem:
	cli_error("diff: out of memory analysing %s (compare shorter recordings, or on a "
		  "machine with more memory)",
		  r->path);
	return CLI_EXIT_FAILURE;
}

static void run_close(struct run *r)
{
	for (size_t i = 0; i < r->count; i++)
		analysis_free(&r->streams[i].analysis);
	free(r->streams);
	if (r->env) {
		env_timeline_free(r->env);
		free(r->env);
	}
	recording_free(r->rec);
}

/* How many streams of @r not paired yet have region @name. */
static size_t unpaired_named(const struct run *r, const char *name, struct stream **last)
{
	size_t n = 0;

	for (size_t i = 0; i < r->count; i++)
		if (r->streams[i].pair < 0 && !strcmp(r->streams[i].side.region->name, name)) {
			n++;
			*last = &r->streams[i];
		}
	return n;
}

static size_t pair_streams(struct run *base, struct run *current, struct pair *pairs)
{
	size_t n = 0;

	for (size_t i = 0; i < current->count; i++) {
		struct stream *c = &current->streams[i];

		for (size_t j = 0; j < base->count; j++) {
			struct stream *b = &base->streams[j];

			if (b->pair < 0 && b->occurrence == c->occurrence &&
			    !strcmp(b->command, c->command) &&
			    !strcmp(b->side.region->name, c->side.region->name)) {
				b->pair = c->pair = (long)n;
				pairs[n++] = (struct pair){ .base = b, .current = c };
				break;
			}
		}
	}
	for (size_t i = 0; i < current->count; i++) {
		struct stream *c = &current->streams[i], *b = NULL, *other = NULL;

		if (c->pair >= 0 || unpaired_named(current, c->side.region->name, &other) != 1 ||
		    unpaired_named(base, c->side.region->name, &b) != 1)
			continue;
		b->pair = c->pair = (long)n;
		pairs[n++] = (struct pair){ .base = b, .current = c };
	}
	return n;
}

/* ------------------------------------------------------------------------
 * Text and Markdown
 */

static const char *duration(double ns, char *buf, size_t len)
{
	return isfinite(ns) ? stats_format_duration(ns, buf, len) : "-";
}

static const char *signed_duration(double ns, char *buf, size_t len)
{
	char d[32];

	if (!isfinite(ns))
		return "-";
	snprintf(buf, len, "%s%s", ns < 0 ? "-" : "+", stats_format_duration(fabs(ns), d, sizeof(d)));
	return buf;
}

static void text_side(FILE *out, const char *label, const struct stream *s,
		      const struct diff_side_stats *st)
{
	const struct analysis *a = &s->analysis;
	char med[32], mad[32];

	fprintf(out, "  %-8s median %s  MAD %s  ", label, duration(st->median_ns, med, sizeof(med)),
		duration(a->ref_stats.mad, mad, sizeof(mad)));
	if (a->steady >= 0)
		fprintf(out, "steady from iteration %zu", a->ref_first + 1);
	else
		fprintf(out, "no steady state (%s; iterations %zu-%zu compared)",
			phases_class_name(a->classification), st->first + 1, st->first + st->count);
	fprintf(out, ", %zu iterations, pid %u\n", s->side.region->count,
		s->side.process->header.pid);
}

static void text_pair(FILE *out, const struct pair *p)
{
	const struct diff_result *r = &p->result;
	char shift[40], lo[40], hi[40], pct[24];

	fprintf(out, "%s (%s, thread %s): %s\n", p->current->side.region->name,
		p->current->command,
		p->current->side.thread->name[0] ? p->current->side.thread->name : "?",
		diff_verdict_name(r->verdict));
	text_side(out, "base", p->base, &r->base);
	text_side(out, "current", p->current, &r->current);
	if (isfinite(r->shift_ns)) {
		snprintf(pct, sizeof(pct), "%+.1f %%", r->median_rel * 100);
		fprintf(out, "  change   median %s, shift %s (95 %% CI %s to %s)", pct,
			signed_duration(r->shift_ns, shift, sizeof(shift)),
			signed_duration(r->low_ns, lo, sizeof(lo)),
			signed_duration(r->high_ns, hi, sizeof(hi)));
		if (isfinite(r->mean_rel))
			fprintf(out, "; mean of all iterations %+.1f %%", r->mean_rel * 100);
		fputc('\n', out);
	}
	if (r->work_measure != DIFF_WORK_UNKNOWN && isfinite(r->work_rel))
		fprintf(out, "  work     %s %+.1f %%%s\n",
			r->work_measure == DIFF_WORK_INSTRUCTIONS ? "instructions" : "on-CPU time",
			r->work_rel * 100,
			r->work_measure == DIFF_WORK_ON_CPU ? " (no instructions counter)" : "");
	if (r->has_excess) {
		bool first = true;

		fprintf(out, "  excess   of the %s run over the other's steady state:",
			r->excess_is_base ? "base" : "current");
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			if (r->cause_share[c] >= 0.01) {
				fprintf(out, "%s %s %.0f %%", first ? "" : ",",
					attrib_cause_name((enum attrib_cause)c),
					r->cause_share[c] * 100);
				first = false;
			}
		fputc('\n', out);
	}
	fprintf(out, "  %s\n", r->evidence);
}

static void text_unpaired(FILE *out, const struct run *r, const char *side)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->streams[i].pair < 0)
			fprintf(out, "only in %s: %s (%s, pid %u, %zu iterations)\n", side,
				r->streams[i].side.region->name, r->streams[i].command,
				r->streams[i].side.process->header.pid,
				r->streams[i].side.region->count);
}

static void text_summary(FILE *out, const struct pair *pairs, size_t n)
{
	size_t count[DIFF_VERDICT_COUNT] = { 0 };
	bool first = true;

	for (size_t i = 0; i < n; i++)
		count[pairs[i].result.verdict]++;
	fprintf(out, "%zu region%s compared:", n, n == 1 ? "" : "s");
	for (unsigned v = 0; v < DIFF_VERDICT_COUNT; v++)
		if (count[v]) {
			fprintf(out, "%s %zu %s", first ? "" : ",", count[v],
				diff_verdict_name((enum diff_verdict)v));
			first = false;
		}
	fputc('\n', out);
}

static int diff_text(FILE *out, const struct run *base, const struct run *current,
		     const struct pair *pairs, size_t n)
{
	fprintf(out, "base %s, current %s\n\n", base->path, current->path);
	for (size_t i = 0; i < n; i++) {
		text_pair(out, &pairs[i]);
		fputc('\n', out);
	}
	text_unpaired(out, base, "base");
	text_unpaired(out, current, "current");
	text_summary(out, pairs, n);
	return 0;
}

/* Markdown table cells: no '|' or newline from the trace */
static void md_cell(FILE *out, const char *s)
{
	for (; *s; s++)
		if (*s == '|')
			fputs("\\|", out);
		else
			fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
}

/* The shift column is the Hodges-Lehmann shift with its own interval (the
 * shift always lies in it; the change of the medians may not, when the
 * distributions change shape: the medians are in their own columns). */
static int diff_md(FILE *out, const struct pair *pairs, size_t n)
{
	fputs("| region | verdict | base median | current median | shift (95 % CI) | evidence |\n"
	      "|---|---|---:|---:|---:|---|\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		const struct diff_result *r = &pairs[i].result;
		const char *evidence = strchr(r->evidence, ':');
		char b[32], c[32];

		fputs("| `", out);
		md_cell(out, pairs[i].current->side.region->name);
		fputs("` (", out);
		md_cell(out, pairs[i].current->command);
		fprintf(out, ") | **%s** | %s | %s | ", diff_verdict_name(r->verdict),
			duration(r->base.median_ns, b, sizeof(b)),
			duration(r->current.median_ns, c, sizeof(c)));
		if (isfinite(r->shift_rel))
			fprintf(out, "%+.1f %% (%+.1f %% to %+.1f %%)", r->shift_rel * 100,
				r->low_rel * 100, r->high_rel * 100);
		else
			fputs("-", out);
		fputs(" | ", out);
		md_cell(out, evidence ? evidence + 2 : r->evidence);
		fputs(" |\n", out);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * JSON
 */

static json_t *json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_side(const struct stream *s, const struct diff_side_stats *st)
{
	const struct analysis *a = &s->analysis;
	json_t *o = json_object();

	if (!o) {
		json_failed = true;
		return NULL;
	}
	json_set(o, "pid", json_u64(s->side.process->header.pid));
	json_set(o, "tid", json_u64(s->side.thread->tid));
	json_set(o, "thread", json_text(s->side.thread->name));
	json_set(o, "command", json_text(s->command));
	json_set(o, "iterations", json_u64(s->side.region->count));
	json_set(o, "classification", json_text(phases_class_name(a->classification)));
	json_set(o, "steady_from", a->steady >= 0 ? json_u64(a->ref_first + 1) : json_null());
	json_set(o, "reference_first", json_u64(a->ref_first + 1));
	json_set(o, "reference_last", json_u64(a->ref_last + 1));
	json_set(o, "reference_iterations", json_u64(a->ref_count));
	json_set(o, "compared_first", json_u64(st->first + 1));
	json_set(o, "compared_iterations", json_u64(st->count));
	json_set(o, "warmup_iterations", json_u64(st->warmup_iterations));
	json_set(o, "warmup_ns", json_num(st->warmup_ns));
	json_set(o, "median_ns", json_num(st->median_ns));
	json_set(o, "mad_ns", json_num(a->ref_stats.mad));
	json_set(o, "mean_ns", json_num(st->mean_ns));
	json_set(o, "on_cpu_median_ns", json_num(st->cpu_ns));
	json_set(o, "instructions_median", json_num(st->instructions));
	return o;
}

static json_t *json_pair(const struct pair *p)
{
	const struct diff_result *r = &p->result;
	json_t *o = json_object(), *change = json_object(), *work = json_object();

	if (!o || !change || !work) {
		json_decref(o);
		json_decref(change);
		json_decref(work);
		json_failed = true;
		return NULL;
	}
	json_set(o, "region", json_text(p->current->side.region->name));
	json_set(o, "command", json_text(p->current->command));
	json_set(o, "verdict", json_text(diff_verdict_name(r->verdict)));
	json_set(o, "evidence", json_text(r->evidence));
	json_set(o, "base", json_side(p->base, &r->base));
	json_set(o, "current", json_side(p->current, &r->current));
	json_set(change, "median", json_num(r->median_rel));
	json_set(change, "shift_ns", json_num(r->shift_ns));
	json_set(change, "ci_low_ns", json_num(r->low_ns));
	json_set(change, "ci_high_ns", json_num(r->high_ns));
	json_set(change, "shift", json_num(r->shift_rel));
	json_set(change, "ci_low", json_num(r->low_rel));
	json_set(change, "ci_high", json_num(r->high_rel));
	json_set(change, "significant", json_boolean(r->is_significant));
	json_set(change, "mean_all", json_num(r->mean_rel));
	json_set(o, "change", change);
	json_set(work, "measure", json_text_or_null(diff_work_measure_name(r->work_measure)));
	json_set(work, "change", json_num(r->work_rel));
	json_set(work, "share", json_num(r->work_share));
	json_set(o, "work", work);
	if (r->has_excess) {
		json_t *excess = json_object(), *causes = json_object();

		if (!excess || !causes) {
			json_decref(excess);
			json_decref(causes);
			json_failed = true;
			return o;
		}
		json_set(excess, "run", json_text(r->excess_is_base ? "base" : "current"));
		json_set(excess, "excess_ns", json_num(r->excess_ns));
		json_set(excess, "environment", json_num(r->env_share));
		json_set(excess, "work", json_num(r->work_cause_share));
		json_set(excess, "unexplained", json_num(r->unexplained_share));
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			if (r->cause_share[c] > 0)
				json_set(causes, attrib_cause_name((enum attrib_cause)c),
					 json_real(r->cause_share[c]));
		json_set(excess, "causes", causes);
		json_set(o, "excess", excess);
	} else {
		json_set(o, "excess", json_null());
	}
	return o;
}

static void json_unpaired(json_t *list, const struct run *r, const char *side)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct stream *s = &r->streams[i];
		json_t *o;

		if (s->pair >= 0)
			continue;
		o = json_object();
		if (!o) {
			json_failed = true;
			return;
		}
		json_set(o, "side", json_text(side));
		json_set(o, "command", json_text(s->command));
		json_set(o, "region", json_text(s->side.region->name));
		json_set(o, "pid", json_u64(s->side.process->header.pid));
		json_set(o, "iterations", json_u64(s->side.region->count));
		json_add(list, o);
	}
}

static int diff_json(FILE *out, const struct run *base, const struct run *current,
		     const struct pair *pairs, size_t n, double threshold)
{
	json_t *root = json_object(), *list = json_array(), *unpaired = json_array();
	json_t *verdicts = json_object(), *b = json_object(), *c = json_object();
	size_t count[DIFF_VERDICT_COUNT] = { 0 };
	int err = 0;

	json_failed = !root || !list || !unpaired || !verdicts || !b || !c;
	json_set(root, "schema", json_text(DIFF_SCHEMA));
	json_set(b, "path", json_text(base->path));
	json_set(c, "path", json_text(current->path));
	json_set(root, "base", b);
	json_set(root, "current", c);
	json_set(root, "threshold", json_real(threshold));
	json_set(root, "confidence", json_real(DIFF_CONFIDENCE));
	for (size_t i = 0; i < n; i++) {
		json_add(list, json_pair(&pairs[i]));
		count[pairs[i].result.verdict]++;
	}
	json_set(root, "pairs", list);
	json_unpaired(unpaired, base, "base");
	json_unpaired(unpaired, current, "current");
	json_set(root, "unpaired", unpaired);
	for (unsigned v = 0; v < DIFF_VERDICT_COUNT; v++)
		json_set(verdicts, diff_verdict_name((enum diff_verdict)v), json_u64(count[v]));
	json_set(root, "verdicts", verdicts);
	if (json_failed)
		err = -ENOMEM;
	else if (json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) ||
		 fputc('\n', out) == EOF)
		err = -EIO;
	json_decref(root);
	return err;
}

/* ------------------------------------------------------------------------
 * Command
 */

/* "2", "2%", "0.5 %" → 0.02, 0.005; -1 when not a percentage. */
static double parse_percent(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return -1;
	while (*end == ' ')
		end++;
	if (*end == '%')
		end++;
	if (*end || !(v >= 0) || v >= 1000)
		return -1;
	return v / 100;
}

static int parse_fail_on(const char *list, struct diff_options *opt)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		enum diff_verdict v = diff_verdict_parse(name);

		if (v == DIFF_VERDICT_COUNT) {
			cli_error("diff: unknown verdict '%s' in --fail-on (use regression, "
				  "improvement, no-change, environment, warmup or inconclusive, "
				  "separated by commas)",
				  name);
			return CLI_EXIT_BAD_INPUT;
		}
		opt->fail_on[v] = true;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct diff_options *opt)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "threshold", required_argument, NULL, 't' },
		{ "fail-on", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, err;

	memset(opt, 0, sizeof(*opt));
	opt->threshold = DIFF_THRESHOLD;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text")) {
				opt->format = FORMAT_TEXT;
			} else if (!strcmp(optarg, "json")) {
				opt->format = FORMAT_JSON;
			} else if (!strcmp(optarg, "md") || !strcmp(optarg, "markdown")) {
				opt->format = FORMAT_MD;
			} else {
				cli_error("diff: unknown format '%s' (use --format text, json or md)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 't':
			opt->threshold = parse_percent(optarg);
			if (opt->threshold < 0) {
				cli_error("diff: --threshold '%s' is not a percentage (e.g. "
					  "--threshold 2 for 2 %%)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 'F':
			err = parse_fail_on(optarg, opt);
			if (err)
				return err;
			break;
		case 'h':
			fputs(diff_usage, stdout);
			return -1;
		default:
			if (optopt == 'f' || optopt == 't' || optopt == 'F')
				cli_error("diff: %s needs a value (run 'iterprof diff --help')",
					  argv[optind - 1]);
			else
				cli_error("diff: unknown option '%s' (run 'iterprof diff --help')",
					  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	if (argc - optind != 2) {
		cli_error("diff: expected two recordings, BASE and CURRENT, got %d (run "
			  "'iterprof diff --help')",
			  argc - optind);
		return CLI_EXIT_BAD_INPUT;
	}
	opt->path[0] = argv[optind];
	opt->path[1] = argv[optind + 1];
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_options opt;
	struct run run[2] = { { 0 } };
	struct pair *pairs = NULL;
	size_t n = 0;
	int status, err = 0;

	status = parse_options(argc, argv, &opt);
	if (status)
		return status < 0 ? CLI_EXIT_OK : status;
	for (int k = 0; k < 2; k++) {
		run[k].path = opt.path[k];
		status = run_open(&run[k]);
		if (status)
			goto out;
	}
	pairs = calloc(run[1].count ? run[1].count : 1, sizeof(*pairs));
	if (!pairs) {
		err = -ENOMEM;
		goto out;
	}
	n = pair_streams(&run[0], &run[1], pairs);
	if (!n) {
		cli_error("diff: no region of %s (%zu) matches one of %s (%zu): compare recordings "
			  "of the same benchmark",
			  run[0].path, run[0].count, run[1].path, run[1].count);
		status = CLI_EXIT_BAD_INPUT;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = diff_compare(&pairs[i].base->side, &pairs[i].current->side, opt.threshold,
				   &pairs[i].result);
	if (err)
		goto out;
	switch (opt.format) {
	case FORMAT_JSON:
		err = diff_json(stdout, &run[0], &run[1], pairs, n, opt.threshold);
		break;
	case FORMAT_MD:
		err = diff_md(stdout, pairs, n);
		break;
	default:
		err = diff_text(stdout, &run[0], &run[1], pairs, n);
	}
	if (!err && (fflush(stdout) == EOF || ferror(stdout)))
		err = -EIO;
	for (size_t i = 0; i < n && !err; i++)
		if (opt.fail_on[pairs[i].result.verdict])
			status = CLI_EXIT_SEVERE;
out:
	if (err == -ENOMEM) {
		cli_error("diff: out of memory (compare shorter recordings, or on a machine with "
			  "more memory)");
		status = CLI_EXIT_FAILURE;
	} else if (err) {
		cli_error("diff: writing the comparison: %s (check the output's disk or pipe)",
			  strerror(-err));
		status = CLI_EXIT_FAILURE;
	}
	free(pairs);
	for (int k = 0; k < 2; k++)
		if (run[k].rec)
			run_close(&run[k]);
	return status;
}

/*
 * iterprof report: summarise a recording per process, thread and region, as
 * text for a person or as JSON (doc/report-json.md) for a program.
 *
 * Exit status: 0 (also for a truncated trace, which is reported with a
 * note), 1 when the report could not be produced (out of memory, stdout
 * write error), 2 for bad usage or an unreadable, corrupt or unsupported
 * trace.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "analysis.h"
#include "cli.h"
#include "env-timeline.h"
#include "envjoin.h"
#include "envthreads.h"
#include "json-out.h"
#include "recording.h"
#include "stackview.h"
#include "stats.h"
#include "trace-reader.h"

#define REPORT_SCHEMA "iterprof.report/1"
#define REPORT_DEFAULT_PATH "iterprof.data"
#define REPORT_WIDTH 100 /* columns of the text report, at most */

static const char report_usage[] =
	"usage: iterprof report [--format text|json|csv] [--iterations] [PATH]\n"
	"       iterprof report --flame slow|steady|all [--flame-kind KIND] [PATH]\n"
	"\n"
	"Analyse a recording: per process, thread and region, the warm-up and the\n"
	"steady state, the slow iterations and the causes of their extra time\n"
	"(doc/report.md; causes: doc/causes.md).\n"
	"\n"
	"  PATH             a recording directory or one trace file\n"
	"                   (default: " REPORT_DEFAULT_PATH ")\n"
	"  --format FORMAT  text (default), json (doc/report-json.md) or csv (one\n"
	"                   row per iteration)\n"
	"  --iterations     also list every iteration (text, json)\n"
	"  --flame SET      instead of the report, print the call stacks of a set of\n"
	"                   iterations as folded stacks for flame graph tools\n"
	"                   (flamegraph.pl, speedscope): slow (warm-up and slow\n"
	"                   iterations), steady (the others with samples) or all\n"
	"                   (doc/stacks.md; record with --stacks=slow or all)\n"
	"  --flame-kind KIND  only samples of KIND: fault, switch or cpu (default:\n"
	"                   all kinds)\n"
	"  -h, --help       show this help\n"
	"\n"
	"exit status: 0 ok (a truncated trace is reported with a note), 1 failure,\n"
	"2 bad usage or an unreadable, corrupt or unsupported trace.\n";

static const char truncated_note[] =
	"(truncated: no clean-exit footer; read up to the last whole record)";
static const char cut_note[] =
	"(truncated: the file ends inside a chunk; read up to the last whole record)";

enum report_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_CSV };

enum flame_set { FLAME_NONE, FLAME_SLOW, FLAME_STEADY, FLAME_ALL };

struct report_options {
	enum report_format format;
	bool with_iterations;
	enum flame_set flame;
	uint8_t flame_kind; /* ITP_SAMPLE_*, 0: every kind */
	const char *path;
};

/* What is computed once per region for either output, besides the
 * analysis. */
struct counter_result {
	size_t available; /* iterations with a value */
	double median;    /* over at most ANALYSIS_SAMPLE evenly spaced ones */
	uint64_t total;   /* exact, saturated */
};

struct region_result {
	struct counter_result counters[ITP_MAX_COUNTERS];
	int task_clock;        /* index of the task-clock counter that counts, or -1 */
	struct counter_result off_cpu;
};

/* A level, not a delta (the CPU an iteration ended on): no total. */
static bool counter_is_level(const struct recording_counter *counter)
{
	return counter->id == ITP_COUNTER_CPU;
}

/* Counters whose values are nanoseconds print as durations. */
static bool counter_is_time(const struct recording_counter *counter)
{
	return counter->id == ITP_COUNTER_TASK_CLOCK || counter->id == ITP_COUNTER_RUN_DELAY;
}

/* Totals of every iteration; the median of a sample: a full sort of each of
 * 8 counters would cost more than the rest of a 10-million-iteration
 * report, and a median of 65,536 evenly spaced values is as telling.
 * @c < 0: off-CPU time, duration - task-clock (counter @task_clock),
 * clamped at 0 (the two clocks are read at slightly different moments).
 * Values are read in blocks (column_get_range): one call per 4096. */
static void counter_summarize(const struct recording_region *region, int c, int task_clock,
			      uint64_t *scratch, struct counter_result *out)
{
	enum { BLOCK = 4096 };
	size_t n = region->count, stride = (n + ANALYSIS_SAMPLE - 1) / ANALYSIS_SAMPLE, k = 0,
	       next = 0;
	uint64_t v[BLOCK], d[BLOCK], total = 0;
	bool overflow = false;

	memset(out, 0, sizeof(*out));
	for (size_t first = 0; first < n; first += BLOCK) {
		size_t len = n - first < BLOCK ? n - first : BLOCK;

		column_get_range(&region->values[c >= 0 ? c : task_clock], first, len, v);
		if (c < 0) {
			column_get_range(&region->duration_ns, first, len, d);
			for (size_t i = 0; i < len; i++)
				if (v[i] != ITP_VALUE_UNAVAILABLE)
					v[i] = d[i] > v[i] ? d[i] - v[i] : 0;
		}
		for (size_t i = 0; i < len; i++) {
			if (v[i] == ITP_VALUE_UNAVAILABLE)
				continue;
			out->available++;
			total += v[i];
			overflow |= total < v[i];
		}
		/* every stride-th iteration, without a division per value */
		for (; next < first + len; next += stride)
			if (v[next - first] != ITP_VALUE_UNAVAILABLE)
				scratch[k++] = v[next - first];
	}
	out->total = overflow ? UINT64_MAX : total;
	if (!k)
		return;
	stats_sort(scratch, k);
	out->median = stats_quantile_sorted(scratch, k, 0.5);
}

/* Compute @result for @region; @scratch holds ANALYSIS_SAMPLE values. */
static void region_compute(const struct recording_process *process,
			   const struct recording_region *region, uint64_t *scratch,
			   struct region_result *result)
{
	memset(result, 0, sizeof(*result));
	result->task_clock = recording_counter_index(process, ITP_COUNTER_TASK_CLOCK);
	if (!region->count)
		return;
	for (unsigned c = 0; c < process->counter_count; c++)
		if (region->has_values[c])
			counter_summarize(region, (int)c, -1, scratch, &result->counters[c]);
	if (result->task_clock >= 0)
		counter_summarize(region, -1, result->task_clock, scratch, &result->off_cpu);
}

struct compute_job {
	const struct recording_process *process;
	const struct recording_region *region;
	uint64_t *scratch;
	struct region_result *result;
};

static void *compute_worker(void *arg)
{
	struct compute_job *job = arg;

	region_compute(job->process, job->region, job->scratch, job->result);
	return NULL;
}

/* region_compute() and analysis_run() of @region: at once, on two CPUs,
 * for a long region (both only read it). 0 or -ENOMEM. */
/* The recording's environment timeline, NULL when it has none. */
static struct env_timeline *report_env;

/* A join of the timeline with thread @tid's iterations, or NULL. */
static struct env_join *join_for(const struct recording_process *p, uint32_t tid)
{
	return report_env ? env_join_new(report_env, (int)p->header.pid, (int)tid) : NULL;
}

/* The process's other threads than @tid, from the timeline, or NULL: no
 * timeline (or out of memory: the report goes on without them, as without
 * a join). The caller frees it with env_threads_free(). */
static struct env_threads *threads_for(const struct recording_process *p, uint32_t tid)
{
	return report_env ? env_threads_new(report_env, (int)p->header.pid, (int)tid) : NULL;
}

/* Other threads' CPU time is shown for the region's iterations when it is
 * at least this share of their time: a thread busy on another core for a
 * tenth of the run is worth a line even when it slowed nothing. A phase or
 * the slow iterations get a line of their own when their share is that
 * high and also stands out from the region's (a region of 20 phases with
 * two busy benchmark threads would otherwise print 20 lines saying the
 * same). */
#define OTHER_THREADS_SHOWN 0.10
#define OTHER_THREADS_STANDS_OUT 1.5
#define OTHER_THREADS_NAMED 3 /* names per text line */
#define OTHER_THREADS_JSON 5  /* names per JSON entry */

/* The other threads' CPU time over iterations [first, last] of @r (only
 * the slow ones with @only_slow): returned, NAN without a timeline; the
 * iterations' own time in *@time_ns; the @max busiest names in @top
 * (*@count of them). */
static double other_threads_over(struct env_threads *th, const struct analysis *a,
				 const struct recording_region *r, size_t first, size_t last,
				 bool only_slow, double *time_ns, struct env_threads_name *top,
				 unsigned max, unsigned *count)
{
	*time_ns = 0;
	*count = 0;
	if (!th || !r->count)
		return NAN;
	env_threads_clear(th);
	for (size_t i = first; i <= last && i < r->count; i++) {
		if (only_slow && !analysis_is_slow(a, r, i))
			continue;
		env_threads_add(th, r->start_ns[i], recording_duration(r, i));
		*time_ns += (double)recording_duration(r, i);
	}
	return env_threads_top(th, max, top, count);
}

static int analyse_region(const struct recording_process *p, const struct recording_thread *t,
			  const struct recording_region *r, uint64_t *scratch,
			  struct region_result *rr, struct analysis *a)
{
	struct compute_job job = { p, r, scratch, rr };
	pthread_t worker;
	bool is_threaded = r->count >= 100000 && sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
			   !pthread_create(&worker, NULL, compute_worker, &job);
	int err;

	if (!is_threaded)
		region_compute(p, r, scratch, rr);
	err = analysis_run_env(p, r, join_for(p, t->tid), a);
	if (is_threaded)
		pthread_join(worker, NULL);
	return err;
}

/* ------------------------------------------------------------------------
 * Text
 */

/* Print a string from the trace with control characters shown as '?': a
 * command line may hold anything, and must not move the cursor. */
static void print_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static const char *format_value(const struct recording_counter *counter, double v, char *buf,
				size_t len)
{
	if (counter_is_time(counter))
		return stats_format_duration(v, buf, len);
	if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%" PRIu64, (uint64_t)v);
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

static void text_counter_row(FILE *out, const char *name, bool is_time,
			     const struct counter_result *cr, size_t n)
{
	char median[32], total[32];
	struct recording_counter as = { .id = is_time ? ITP_COUNTER_TASK_CLOCK : 0 };

	if (!cr->available) {
		fprintf(out, "      %-24s %14s %14s\n", name, "n/a", "n/a");
		return;
	}
	format_value(&as, cr->median, median, sizeof(median));
	format_value(&as, (double)cr->total, total, sizeof(total));
	fprintf(out, "      %-24s ", name);
	/* right-align by display width: "µs" is one column, two bytes */
	fprintf(out, "%*s%s %*s%s", (int)(14 - stats_display_width(median)), "", median,
		(int)(14 - stats_display_width(total)), "", total);
	if (cr->available < n)
		fprintf(out, "  (%zu of %zu iterations have no value)", n - cr->available, n);
	fputc('\n', out);
}

/* Counter columns of the per-iteration table: those that count and are not
 * zero in every iteration (a column of zeros says nothing and would push
 * the table past REPORT_WIDTH). */
static bool is_column_shown(const struct recording_region *region, unsigned c)
{
	if (!region->has_values[c])
		return false;
	for (size_t i = 0; i < region->count; i++)
		if (column_get(&region->values[c], i) != 0)
			return true;
	return false;
}

static void text_iterations(FILE *out, const struct recording_process *p,
			    const struct recording_region *region, const struct analysis *a)
{
	char buf[32];
	bool shown[ITP_MAX_COUNTERS];
	unsigned hidden = 0;

	/* phase: its number (1 = first); slow: '*'; cause: the primary cause
	 * of a slow or warm-up iteration's extra time */
	fprintf(out, "      %8s %12s %10s %5s %-13s", "#", "start ns", "duration", "phase", "cause");
	for (unsigned c = 0; c < p->counter_count; c++) {
		shown[c] = is_column_shown(region, c);
		if (shown[c])
			fprintf(out, " %12.12s", p->counters[c].name);
		else
			hidden += region->has_values[c];
	}
	fputc('\n', out);
	for (size_t i = 0; i < region->count; i++) {
		/* start relative to the process start, signed: a clock
		 * that went backwards must show as such */
		int64_t start = (int64_t)(region->start_ns[i] - p->header.start_ns);

		double ns[ATTRIB_CAUSE_COUNT];
		enum attrib_cause cause = analysis_explain(a, region, i, ns);

		fprintf(out, "      %8zu %12" PRId64 " %10s %4zu%c %-13s", i + 1, start,
			stats_format_duration((double)recording_duration(region, i), buf, sizeof(buf)),
			a->phase_count ? analysis_phase_of(a, i) + 1 : 0,
			analysis_is_slow(a, region, i) ? '*' : ' ',
			cause < ATTRIB_CAUSE_COUNT ? attrib_cause_name(cause) : "-");
		for (unsigned c = 0; c < p->counter_count; c++) {
			if (!shown[c])
				continue;
			uint64_t v = recording_value(region, c, i);

			if (v == ITP_VALUE_UNAVAILABLE)
				fprintf(out, " %12s", "-");
			else
				fprintf(out, " %12" PRIu64, v);
		}
		fputc('\n', out);
	}
	if (hidden)
		fprintf(out, "      (%u counter%s zero in every iteration not shown)\n", hidden,
			hidden == 1 ? "" : "s");
}

/* Iterations whose counter values were scaled (multiplexed events). */
static uint64_t scaled_iterations(const struct recording_region *region)
{
	uint64_t n = 0;

	for (size_t i = 0; i < region->count; i++)
		n += (recording_flags(region, i) & ITP_ITER_SCALED) != 0;
	return n;
}

/* Colour on a terminal only, and not when NO_COLOR is set
 * (no-color.org). */
static bool use_colour(void)
{
	const char *no = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(no && no[0]);
}

struct style {
	const char *bold, *warn, *off;
};

/* @text in @st's bold, broken at spaces into lines of at most @width
 * columns, each starting with @indent (continuations two further in);
 * with @keeps_brackets never inside (...) or [...], so that a frame's
 * "(file.c:42)" or "[steady 0 %]" stays whole. */
static void print_wrapped_ex(FILE *out, const char *text, const char *indent, size_t width,
			     const struct style *st, bool keeps_brackets)
{
	size_t room = width - strlen(indent);
	bool first = true;

	while (*text) {
		size_t len = strlen(text), cut = len, cols = 0;
		size_t limit = first ? room : room - 2;

		if (stats_display_width(text) > limit) {
			/* the last space that keeps the line within limit */
			int depth = 0;

			cut = 0;
			for (size_t i = 0; text[i] && cols <= limit; i++) {
				if (keeps_brackets && (text[i] == '(' || text[i] == '['))
					depth++;
				else if (keeps_brackets && (text[i] == ')' || text[i] == ']') && depth)
					depth--;
				if (text[i] == ' ' && !depth)
					cut = i;
				cols += ((unsigned char)text[i] & 0xc0) != 0x80;
			}
			if (!cut)
				cut = len; /* one long word: as it is */
			while (keeps_brackets && cut > 1 && text[cut - 1] == ' ')
				cut--; /* "…  [steady" cut at its second space */
		}
		fprintf(out, "%s%s%s%.*s%s\n", indent, first ? "" : "  ", st->bold, (int)cut, text,
			st->off);
		text += cut;
		while (*text == ' ')
			text++;
		first = false;
	}
}

static void print_wrapped(FILE *out, const char *text, const char *indent, size_t width,
			  const struct style *st)
{
	print_wrapped_ex(out, text, indent, width, st, false);
}

/* "12" or "2-10": 1-based iteration numbers, as users count them. */
static const char *span_text(size_t first, size_t last, char *buf, size_t len)
{
	if (first == last)
		snprintf(buf, len, "%zu", first + 1);
	else
		snprintf(buf, len, "%zu-%zu", first + 1, last + 1);
	return buf;
}

/* "page-faults 71 %, unexplained 29 %": the causes of @ns with a share of
 * at least 1 %, largest first, at most @most of them. */
static void causes_text(const double ns[ATTRIB_CAUSE_COUNT], double total, unsigned most,
			char *buf, size_t len)
{
	bool used[ATTRIB_CAUSE_COUNT] = { false };
	size_t at = 0;

	buf[0] = '\0';
	if (!(total > 0))
		return;
	for (unsigned k = 0; k < most; k++) {
		int best = -1;

		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			if (!used[c] && ns[c] >= 0.01 * total && (best < 0 || ns[c] > ns[best]))
				best = (int)c;
		if (best < 0)
			break;
		used[best] = true;
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s %.0f %%",
				       k ? ", " : "", attrib_cause_name(best),
				       100 * ns[best] / total);
		if (at >= len)
			break;
	}
}

/* What changed in the counters from phase @k to the reference, e.g.
 * "minor-faults 257 -> 0": counts (not times, which the duration shows)
 * whose medians differ by more than 1 and 10 %. */
static void changes_text(const struct recording_process *p, const struct analysis *a, size_t k,
			 char *buf, size_t len)
{
	const struct analysis_phase *ph = &a->phase[k], *ref = &a->phase[a->reference];
	size_t at = 0;
	unsigned shown = 0;

	buf[0] = '\0';
	for (unsigned c = 0; c < p->counter_count && shown < 2; c++) {
		double x = ph->counter_median[c], y = ref->counter_median[c];

		if (isnan(x) || isnan(y) || counter_is_time(&p->counters[c]) ||
		    fabs(x - y) <= 1 || fabs(x - y) <= 0.1 * (x > y ? x : y))
			continue;
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s %.6g -> %.6g",
				       shown ? ", " : "", p->counters[c].name, x, y);
		shown++;
		if (at >= len)
			break;
	}
}

static void text_phases(FILE *out, const struct recording_process *p, const struct analysis *a)
{
	char span[48], median[32], causes[240], changes[96];

	fprintf(out, "      %-17s %10s  %-9s %s\n", "iterations", "median", "phase",
		"causes of the extra time (vs. the reference median)");
	for (size_t k = 0; k < a->phase_count; k++) {
		const struct analysis_phase *ph = &a->phase[k];

		span_text(ph->first, ph->last, span, sizeof(span));
		stats_format_duration(ph->median_ns, median, sizeof(median));
		causes_text(ph->cause_ns, ph->excess_ns, 3, causes, sizeof(causes));
		if (ph->cause_ns[ATTRIB_JIT] >= 0.01 * ph->excess_ns && ph->code_bytes > 0) {
			char b[32];
			size_t at = strlen(causes);

			snprintf(causes + at, sizeof(causes) - at, "; %s of code made executable",
				 analysis_format_bytes(ph->code_bytes, b, sizeof(b)));
		}
		if (ph->cause_ns[ATTRIB_SIBLING_THREADS] >= 0.01 * ph->excess_ns && ph->siblings[0]) {
			size_t at = strlen(causes);

			snprintf(causes + at, sizeof(causes) - at, "; threads %s", ph->siblings);
		}
		changes[0] = '\0';
		if ((long)k != a->reference)
			changes_text(p, a, k, changes, sizeof(changes));
		{
			char line[512];

			snprintf(line, sizeof(line), "      %-17s %*s%s  %-9s %s%s%s", span,
				 (int)(10 - stats_display_width(median)), "", median, ph->label,
				 causes, causes[0] && changes[0] ? "; " : "", changes);
			if (stats_display_width(line) <= REPORT_WIDTH)
				fprintf(out, "%s\n", line);
			else /* what changed on a line of its own */
				fprintf(out, "      %-17s %*s%s  %-9s %s\n%40s%s\n", span,
					(int)(10 - stats_display_width(median)), "", median,
					ph->label, causes, "", changes);
		}
	}
}

static void text_slow(FILE *out, const struct analysis *a, const struct style *st)
{
	bool used[ATTRIB_CAUSE_COUNT] = { false };
	char v[3][32], causes[160];

	fprintf(out,
		"      %sslow: %zu of %zu (%.1f %%)%s above %s (median + max(%.0f x 1.4826 x MAD, "
		"%.0f %%, %s))\n",
		a->slow_count ? st->warn : "", a->slow_count, a->ref_count, 100 * a->slow_rate,
		a->slow_count ? st->off : "",
		stats_format_duration(a->threshold_ns, v[0], sizeof(v[0])), ANALYSIS_SLOW_MADS,
		100 * ANALYSIS_SLOW_REL, stats_format_duration(ANALYSIS_SLOW_NS, v[1], sizeof(v[1])));
	if (!a->slow_count)
		return;
	/* grouped by primary cause, the most iterations first */
	for (;;) {
		int best = -1;
		char examples[80];
		size_t at = 0;

		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			if (!used[c] && a->cause_iterations[c] &&
			    (best < 0 || a->cause_iterations[c] > a->cause_iterations[best]))
				best = (int)c;
		if (best < 0)
			break;
		used[best] = true;
		size_t shown = a->example_count[best] < 3 ? a->example_count[best] : 3;

		examples[0] = '\0';
		for (size_t e = 0; e < shown && at < sizeof(examples); e++)
			at += (size_t)snprintf(examples + at, sizeof(examples) - at, "%s%zu",
					       e ? ", " : "", a->examples[best][e] + 1);
		fprintf(out, "        %-16s %7zu iteration%s %9s extra %3.0f %%  (%s%s)\n",
			attrib_cause_name(best), a->cause_iterations[best],
			a->cause_iterations[best] == 1 ? " " : "s",
			stats_format_duration(a->cause_ns[best], v[2], sizeof(v[2])),
			a->slow_excess_ns > 0 ? 100 * a->cause_ns[best] / a->slow_excess_ns : 0,
			a->cause_iterations[best] > shown ? "e.g. " : "", examples);
	}
	causes_text(a->cause_ns, a->slow_excess_ns, 6, causes, sizeof(causes));
	fprintf(out, "        their extra time %s: %s\n",
		stats_format_duration(a->slow_excess_ns, v[2], sizeof(v[2])), causes);
}

/* The process's other threads, on any CPU, during the region's iterations,
 * and during a phase or the slow iterations where they stood out
 * (doc/report.md), whether or not they were a cause:
 *       other threads used 340 ms of CPU during iterations 1-50 (23 % of their time):
 *         'gc-worker' 300 ms, 'gc' 40 ms */
static void text_other_threads(FILE *out, const struct recording_process *p, unsigned thread,
			       const struct recording_region *r, const struct analysis *a)
{
	static const struct style plain = { "", "", "" };
	struct env_threads *th = threads_for(p, p->threads[thread].tid);
	struct env_threads_name top[OTHER_THREADS_NAMED];
	char line[400], span[64], ids[48], v[32];
	double region_share = 0;

	/* k = 0: every iteration; then the phases (when more than one); then
	 * the slow iterations */
	for (size_t k = 0; th && r->count && k <= a->phase_count + 1; k++) {
		bool is_slow = k == a->phase_count + 1, is_phase = k && !is_slow;
		size_t first = is_phase ? a->phase[k - 1].first : is_slow ? a->ref_first : 0;
		size_t last = is_phase ? a->phase[k - 1].last : is_slow ? a->ref_last : r->count - 1;
		double time_ns, cpu_ns, share;
		unsigned count;
		size_t at;

		if ((is_slow && !a->slow_count) || (is_phase && a->phase_count < 2))
			continue;
		cpu_ns = other_threads_over(th, a, r, first, last, is_slow, &time_ns, top,
					    OTHER_THREADS_NAMED, &count);
		share = time_ns > 0 && !isnan(cpu_ns) ? cpu_ns / time_ns : 0;
		if (!k)
			region_share = share;
		if (share < OTHER_THREADS_SHOWN || !count ||
		    (k && share < OTHER_THREADS_STANDS_OUT * region_share))
			continue;
		if (is_slow)
			snprintf(span, sizeof(span), "the %zu slow iteration%s", a->slow_count,
				 a->slow_count == 1 ? "" : "s");
		else
			snprintf(span, sizeof(span), "iteration%s %s", first == last ? "" : "s",
				 span_text(first, last, ids, sizeof(ids)));
		snprintf(line, sizeof(line),
			 "other threads used %s of CPU during %s (%.0f %% of their time):",
			 stats_format_duration(cpu_ns, v, sizeof(v)), span, 100 * share);
		print_wrapped_ex(out, line, "      ", REPORT_WIDTH, &plain, false);
		/* the names on the next line, each "'name' 12 ms" kept whole */
		at = 0;
		for (unsigned n = 0; n < count; n++) {
			char entry[64];

			/* a thread names itself: no control characters on the terminal */
			for (char *c = top[n].name; *c; c++)
				*c = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
			/* precisions: a comm is 15 characters, a duration fits
			 * v[32] (gcc -O2 cannot bound them and warns) */
			snprintf(entry, sizeof(entry), "'%.15s' %.31s%s", top[n].name,
				 stats_format_duration(top[n].cpu_ns, v, sizeof(v)),
				 n + 1 < count ? "," : "");
			if (at && at + 1 + stats_display_width(entry) > REPORT_WIDTH) {
				fputc('\n', out);
				at = 0;
			}
			fprintf(out, "%s%s", at ? " " : "        ", entry);
			at += (at ? 1 : 8) + stats_display_width(entry);
		}
		fputc('\n', out);
	}
	env_threads_free(th);
}

/* The per-event costs the causes used, when the trace told them (the
 * calibration constants are in doc/causes.md). */
static void text_costs(FILE *out, const struct analysis *a)
{
	static const struct style plain = { "", "", "" };
	char line[400] = "cost per event, from the trace:", v[32];
	size_t at = strlen(line);
	bool any = false;

	for (unsigned k = 0; k < ATTRIB_COST_COUNT && at < sizeof(line); k++) {
		if (!a->model.cost_samples[k])
			continue;
		at += (size_t)snprintf(line + at, sizeof(line) - at, "%s %s %s (%zu iterations)",
				       any ? "," : "", attrib_cost_name(k),
				       stats_format_duration(a->model.cost_ns[k], v, sizeof(v)),
				       a->model.cost_samples[k]);
		any = true;
	}
	if (any)
		print_wrapped(out, line, "      ", REPORT_WIDTH, &plain);
}

/* Where stackview_text's lines go: wrapped like the verdict. */
struct text_lines {
	FILE *out;
};

static void text_stack_line(void *arg, const char *indent, const char *text)
{
	static const struct style plain = { "", "", "" };
	struct text_lines *tl = arg;

	print_wrapped_ex(tl->out, text, indent, REPORT_WIDTH, &plain, true);
}

/* The "where, by call stacks" lines of a region (doc/stacks.md). 0 or
 * -ENOMEM. */
static int text_stacks(FILE *out, const struct recording_process *p, unsigned thread,
		       const struct recording_region *region, const struct analysis *a,
		       struct stack_names *names)
{
	struct text_lines tl = { out };
	struct stackview view;
	const uint32_t *group;
	uint32_t groups;
	int err;

	if (!names || !region->stacks.count || p->header.stacks_mode == ITP_STACKS_OFF)
		return 0;
	err = stack_names_groups(names, thread, &group, &groups);
	if (!err)
		err = stackview_compute(&p->threads[thread], region, a, group, groups, &view);
	if (err)
		return err;
	err = stackview_text(&view, names, thread, text_stack_line, &tl);
	stackview_free(&view);
	return err;
}

static int text_region(FILE *out, const struct recording_process *p, unsigned thread,
		       const struct recording_region *region, const struct region_result *rr,
		       const struct analysis *a, bool with_iterations, const struct style *st,
		       struct stack_names *names)
{
	char v[7][32];
	const struct stats_summary *s = &a->all_stats, *r = &a->ref_stats;

	fputs("    region \"", out);
	print_clean(out, region->name);
	fprintf(out, "\": %zu iteration%s, %s%s%s\n", region->count, region->count == 1 ? "" : "s",
		st->bold, phases_class_name(a->classification), st->off);
	if (!region->count)
		return 0;
	print_wrapped(out, a->verdict, "      ", REPORT_WIDTH, st);
	if (a->phase_count > 1)
		text_phases(out, p, a);
	{
		char span[48];

		fprintf(out, "      %s (iterations %s):\n        median %s  MAD %s  p95 %s  p99 %s  min %s  max %s\n",
			a->steady >= 0 ? "steady state" : a->reference >= 0 ? "last phase" : "all",
			span_text(a->ref_first, a->ref_last, span, sizeof(span)),
			stats_format_duration(r->median, v[0], sizeof(v[0])),
			stats_format_duration(r->mad, v[1], sizeof(v[1])),
			stats_format_duration(a->p95_ns, v[2], sizeof(v[2])),
			stats_format_duration(r->p99, v[3], sizeof(v[3])),
			stats_format_duration((double)r->min, v[4], sizeof(v[4])),
			stats_format_duration((double)r->max, v[5], sizeof(v[5])));
	}
	fputs("      histogram of those iterations (log-spaced bins):\n", out);
	stats_histogram_print(&a->histogram, out, "        ", REPORT_WIDTH);
	if (a->has_threshold)
		text_slow(out, a, st);
	text_other_threads(out, p, thread, region, a);
	text_costs(out, a);
	if (text_stacks(out, p, thread, region, a, names))
		return -ENOMEM;
	if (a->phase_count > 1)
		fprintf(out, "      all iterations: min %s  median %s  mean %s  p99 %s  max %s\n",
			stats_format_duration((double)s->min, v[0], sizeof(v[0])),
			stats_format_duration(s->median, v[1], sizeof(v[1])),
			stats_format_duration(s->mean, v[2], sizeof(v[2])),
			stats_format_duration(s->p99, v[3], sizeof(v[3])),
			stats_format_duration((double)s->max, v[4], sizeof(v[4])));

	bool any = false;
	for (unsigned c = 0; c < p->counter_count; c++)
		any |= region->has_values[c];
	if (any) {
		fprintf(out, "      %-24s %14s %14s\n", "counter per iteration", "median", "total");
		for (unsigned c = 0; c < p->counter_count; c++)
			if (region->has_values[c] && !counter_is_level(&p->counters[c]))
				text_counter_row(out, p->counters[c].name,
						 counter_is_time(&p->counters[c]),
						 &rr->counters[c], region->count);
		if (rr->task_clock >= 0)
			text_counter_row(out, "off-CPU (duration-cpu)", true, &rr->off_cpu,
					 region->count);
		if (scaled_iterations(region))
			fprintf(out, "      values scaled in %" PRIu64 " of %zu iterations (the "
				     "kernel multiplexed the events: counted part of the time)\n",
				scaled_iterations(region), region->count);
	}
	if (with_iterations)
		text_iterations(out, p, region, a);
	return 0;
}

static void text_process(FILE *out, const struct recording_process *p)
{
	fprintf(out, "process %" PRIu32, p->header.pid);
	if (p->header.exec_generation)
		fprintf(out, " (exec %" PRIu32 ")", p->header.exec_generation);
	fputs(": ", out);
	print_clean(out, p->header.cmdline[0] ? p->header.cmdline : "(no command line)");
	fputc('\n', out);
	fprintf(out, "  file %s, parent %" PRIu32 "\n", p->file, p->header.ppid);
	{
		/* "<exe> on <host>, <kernel>, <cpu>", leaving out what the shim
		 * could not find */
		const char *machine[] = { p->header.host, p->header.kernel, p->header.cpu_model };
		const char *sep = " on ";

		if (p->header.exe[0] || p->header.host[0] || p->header.kernel[0] || p->header.cpu_model[0]) {
			fputs("  ", out);
			print_clean(out, p->header.exe[0] ? p->header.exe : "(exe unknown)");
			for (unsigned i = 0; i < 3; i++) {
				if (!machine[i][0])
					continue;
				fputs(sep, out);
				print_clean(out, machine[i]);
				sep = ", ";
			}
			fputc('\n', out);
		}
	}
	if (!p->header.has_footer && !p->is_ended_by_exec)
		fprintf(out, "  %s\n", truncated_note);
	if (p->header.is_cut)
		fprintf(out, "  %s\n", cut_note);
	if (p->is_ended_by_exec)
		fputs("  (ended by exec: the program was replaced by another)\n", out);
	if (p->header.has_footer && p->header.footer_iterations != p->iterations)
		fprintf(out, "  (the footer counts %" PRIu64 " iterations; the file holds %" PRIu64
			     ")\n",
			p->header.footer_iterations, p->iterations);
	for (unsigned f = 0; f < p->function_count; f++) {
		const struct recording_function *fn = &p->functions[f];

		fputs("  -f ", out);
		print_clean(out, fn->pattern);
		if (fn->status == ITP_FUNCTION_PATCHED || fn->status == ITP_FUNCTION_REFUSED) {
			fputs(fn->status == ITP_FUNCTION_PATCHED ? ": patched " : ": refused ", out);
			print_clean(out, fn->name);
			fputs(" (", out);
			print_clean(out, fn->module);
			fputc(')', out);
			if (fn->status == ITP_FUNCTION_REFUSED) {
				fputs(": ", out);
				print_clean(out, fn->reason);
			}
		} else {
			fputs(": ", out);
			print_clean(out, fn->reason);
		}
		fputc('\n', out);
	}
	if (p->header.counters_note[0]) {
		fputs("  counters: ", out);
		print_clean(out, p->header.counters_note);
		fputc('\n', out);
	}
	{
		const char *sep = "  read in user space (no syscall): ";

		for (unsigned c = 0; c < p->counter_count; c++) {
			if (!p->counters[c].is_counting || !p->counters[c].is_user_read)
				continue;
			fputs(sep, out);
			print_clean(out, p->counters[c].name);
			sep = ", ";
		}
		if (sep[0] == ',')
			fputc('\n', out);
	}
	/* One line per reason: adjacent counters not counted for the same
	 * reason (--no-counters, --no-software, one errno) share it. */
	for (unsigned c = 0, next; c < p->counter_count; c = next) {
		const struct recording_counter *rc = &p->counters[c];
		const char *why = rc->why[0] ? rc->why
				  : rc->error ? strerror((int)rc->error)
					      : "no reason given";

		next = c + 1;
		if (rc->is_counting)
			continue;
		while (next < p->counter_count && !p->counters[next].is_counting &&
		       p->counters[next].error == rc->error &&
		       !strcmp(p->counters[next].why, rc->why))
			next++;
		fprintf(out, "  counter%s ", next - c > 1 ? "s" : "");
		for (unsigned k = c; k < next; k++) {
			fputs(k > c ? ", " : "", out);
			print_clean(out, p->counters[k].name);
		}
		fputs(": not counted (", out);
		print_clean(out, why);
		fputs(")\n", out);
	}
	if (p->dropped) {
		const char *sep = "";

		fprintf(out, "  dropped iterations: %" PRIu64 " (", p->dropped);
		for (unsigned r = 0; r <= ITP_DROP_REASON_MAX; r++) {
			if (!p->dropped_by_reason[r])
				continue;
			fprintf(out, "%s%s: %" PRIu64, sep,
				r ? trace_drop_reason_name(r) : "reason not recorded",
				p->dropped_by_reason[r]);
			sep = ", ";
		}
		fputs(")\n", out);
	}
	if (p->lost_records)
		fprintf(out, "  lost records: %" PRIu64 " (gaps in the record sequence)\n",
			p->lost_records);
	{
		unsigned failed, threads;
		const char *why = stackview_process_error(p, &failed, &threads);

		/* Some threads only: each one's note says it, this counts them. */
		if (why && failed < threads)
			fprintf(out, "  call stacks: not captured in %u of %u threads (", failed,
				threads);
		else if (why)
			fputs("  call stacks: not captured (", out);
		if (why) {
			print_clean(out, why);
			fputs(")\n", out);
		}
	}
}

/* The names of @p's stacks when it recorded any, else NULL (also when out
 * of memory: *@err says which). */
static struct stack_names *names_for(const struct recording_process *p, int *err)
{
	struct stack_names *names = NULL;

	*err = 0;
	if (p->header.stacks_mode != ITP_STACKS_OFF)
		*err = stack_names_new(p, &names);
	return names;
}

static int report_text(FILE *out, const struct recording *rec, bool with_iterations,
		       bool colour)
{
	static const struct style plain = { "", "", "" }, ansi = { "\033[1m", "\033[1;31m", "\033[0m" };
	const struct style *st = colour ? &ansi : &plain;
	uint64_t *scratch = malloc(ANALYSIS_SAMPLE * sizeof(*scratch));
	struct region_result *rr = malloc(sizeof(*rr));
	struct analysis a;
	int err = 0;

	if (!rr || !scratch) {
		free(scratch);
		free(rr);
		return -ENOMEM;
	}
	for (unsigned pi = 0; pi < rec->process_count && !err; pi++) {
		const struct recording_process *p = &rec->processes[pi];
		struct stack_names *names = names_for(p, &err);

		if (err)
			break;
		if (pi)
			fputc('\n', out);
		text_process(out, p);
		for (unsigned ti = 0; ti < p->thread_count && !err; ti++) {
			const struct recording_thread *t = &p->threads[ti];

			fprintf(out, "\n  thread %" PRIu32 " \"", t->tid);
			print_clean(out, t->name);
			fprintf(out, "\": %" PRIu64 " iterations", t->iterations);
			if (t->dropped)
				fprintf(out, ", %" PRIu64 " dropped", t->dropped);
			if (t->lost_records)
				fprintf(out, ", %" PRIu64 " records lost", t->lost_records);
			fputc('\n', out);
			for (unsigned n = 0; n < t->note_count; n++) {
				fputs("    note: ", out);
				print_clean(out, t->notes[n]);
				fputc('\n', out);
			}
			for (unsigned ri = 0; ri < t->region_count && !err; ri++) {
				err = analyse_region(p, t, &t->regions[ri], scratch, rr, &a);
				if (err)
					break;
				err = text_region(out, p, ti, &t->regions[ri], rr, &a, with_iterations,
						  st, names);
				analysis_free(&a);
			}
		}
		stack_names_free(names);
	}
	free(scratch);
	free(rr);
	return err;
}

/* ------------------------------------------------------------------------
 * JSON (json-out.h: a failed allocation means no document at all).
 */

static const char *const drop_reason_keys[] = {
	[0] = "unknown",
	[ITP_DROP_TRACE_FULL] = "trace_full",
	[ITP_DROP_UNBALANCED] = "unbalanced",
	[ITP_DROP_REENTERED] = "reentered",
	[ITP_DROP_TOO_DEEP] = "too_deep",
	[ITP_DROP_TOO_MANY_REGIONS] = "too_many_regions",
	[ITP_DROP_UNWOUND] = "unwound",
};

static const char *counter_why(const struct recording_counter *c)
{
	if (c->is_counting)
		return NULL;
	if (c->why[0])
		return c->why;
	return c->error ? strerror((int)c->error) : "no reason given";
}

static json_t *json_process(const struct recording_process *p)
{
	json_t *o = json_object(), *counters = json_array(), *threads = json_array(),
	       *dropped = json_object();
	char version[16];

	if (!o || !counters || !threads || !dropped) {
		json_decref(o);
		json_decref(counters);
		json_decref(threads);
		json_decref(dropped);
		return NULL;
	}
	snprintf(version, sizeof(version), "%u.%u", p->header.version_major, p->header.version_minor);
	json_set(o, "pid", json_u64(p->header.pid));
	json_set(o, "ppid", json_u64(p->header.ppid));
	json_set(o, "exec_generation", json_u64(p->header.exec_generation));
	json_set(o, "file", json_text(p->file));
	json_set(o, "format_version", json_string(version));
	json_set(o, "cmdline", json_text(p->header.cmdline));
	json_set(o, "exe", json_text(p->header.exe));
	json_set(o, "host", json_text(p->header.host));
	json_set(o, "kernel", json_text(p->header.kernel));
	json_set(o, "cpu_model", json_text(p->header.cpu_model));
	json_set(o, "uid", json_u64(p->header.uid));
	json_set(o, "clock_id", json_u64(p->header.clock_id));
	json_set(o, "start_ns", json_u64(p->header.start_ns));
	json_set(o, "start_realtime_ns", json_u64(p->header.start_realtime_ns));
	json_set(o, "clock_read_cost_ns", json_u64(p->header.clock_read_cost_ns));
	json_set(o, "time_source", json_string(p->header.time_source == ITP_TIME_TSC ? "tsc"
					       : p->header.time_source == ITP_TIME_CLOCK ? "clock_gettime"
										   : "unknown"));
	json_set(o, "tsc_hz", p->header.time_source == ITP_TIME_TSC ? json_u64(p->header.tsc_hz) : json_null());
	json_set(o, "clean_exit", json_boolean(p->header.has_footer));
	json_set(o, "end_reason", !p->header.has_footer		   ? json_null()
				  : p->header.end_reason == ITP_END_EXIT ? json_string("exit")
				  : p->is_ended_by_exec		   ? json_string("exec")
								   : json_string("unknown"));
	json_set(o, "end_ns", p->header.has_footer ? json_u64(p->header.end_ns) : json_null());
	json_set(o, "ended_by_exec", json_boolean(p->is_ended_by_exec));
	json_set(o, "truncated", json_boolean(p->is_truncated));
	json_set(o, "truncated_why",
		 !p->is_truncated ? json_null()
		 : p->header.is_cut	  ? json_string(cut_note)
				  : json_string(truncated_note));
	json_set(o, "iterations", json_u64(p->iterations));
	json_set(o, "footer_iterations", p->header.has_footer ? json_u64(p->header.footer_iterations)
						       : json_null());
	json_set(o, "dropped", json_u64(p->dropped));
	for (unsigned r = 0; r <= ITP_DROP_REASON_MAX; r++)
		if (p->dropped_by_reason[r])
			json_set(dropped, drop_reason_keys[r], json_u64(p->dropped_by_reason[r]));
	json_set(o, "dropped_by_reason", dropped);
	json_set(o, "lost_records", json_u64(p->lost_records));
	json_set(o, "counters_note", json_text_or_null(p->header.counters_note));
	{
		json_t *functions = json_array();

		for (unsigned f = 0; f < p->function_count; f++) {
			const struct recording_function *fn = &p->functions[f];
			json_t *jf = json_object();

			json_set(jf, "pattern", json_text(fn->pattern));
			json_set(jf, "status",
				 json_string(fn->status == ITP_FUNCTION_PATCHED   ? "patched"
					     : fn->status == ITP_FUNCTION_REFUSED ? "refused"
										  : "no_match"));
			json_set(jf, "name", json_text_or_null(fn->name));
			json_set(jf, "module", json_text_or_null(fn->module));
			json_set(jf, "reason", json_text_or_null(fn->reason));
			json_array_append_new(functions, jf);
		}
		json_set(o, "functions", functions);
	}
	for (unsigned c = 0; c < p->counter_count; c++) {
		const struct recording_counter *rc = &p->counters[c];
		json_t *jc = json_object();

		if (!jc) {
			json_failed = true;
			continue;
		}
		json_set(jc, "name", json_text(rc->name));
		json_set(jc, "id", json_u64(rc->id));
		json_set(jc, "source", json_u64(rc->source));
		json_set(jc, "counts", json_boolean(rc->is_counting));
		json_set(jc, "kernel", json_boolean(rc->is_kernel));
		json_set(jc, "user_read", json_boolean(rc->is_user_read));
		json_set(jc, "why", rc->is_counting ? json_null() : json_text(counter_why(rc)));
		json_add(counters, jc);
	}
	json_set(o, "counters", counters);
	for (unsigned t = 0; t < p->thread_count; t++) {
		const struct recording_thread *th = &p->threads[t];
		json_t *jt = json_object(), *notes = json_array();

		if (!jt || !notes) {
			json_decref(jt);
			json_decref(notes);
			json_failed = true;
			continue;
		}
		json_set(jt, "tid", json_u64(th->tid));
		json_set(jt, "name", json_text(th->name));
		json_set(jt, "iterations", json_u64(th->iterations));
		json_set(jt, "dropped", json_u64(th->dropped));
		json_set(jt, "lost_records", json_u64(th->lost_records));
		for (unsigned n = 0; n < th->note_count; n++)
			json_add(notes, json_text(th->notes[n]));
		json_set(jt, "notes", notes);
		json_add(threads, jt);
	}
	json_set(o, "threads", threads);
	return o;
}

/* {cause: fraction of the excess} of the causes with a part. */
static json_t *json_shares(const double ns[ATTRIB_CAUSE_COUNT], double total)
{
	json_t *o = json_object();

	for (unsigned c = 0; o && c < ATTRIB_CAUSE_COUNT && total > 0; c++)
		if (ns[c] > 0)
			json_set(o, attrib_cause_name(c), json_real(ns[c] / total));
	return o;
}

/* A phase's or the slow iterations' "other_threads" member
 * (doc/report-json.md): null without a timeline. */
static json_t *json_other_threads(struct env_threads *th, const struct analysis *a,
				  const struct recording_region *r, size_t first, size_t last,
				  bool only_slow)
{
	struct env_threads_name top[OTHER_THREADS_JSON];
	json_t *o, *names;
	double time_ns, cpu_ns;
	unsigned count;

	if (!th)
		return json_null();
	cpu_ns = other_threads_over(th, a, r, first, last, only_slow, &time_ns, top,
				    OTHER_THREADS_JSON, &count);
	if (!(time_ns > 0) || isnan(cpu_ns))
		cpu_ns = 0; /* no such iteration, or none inside the timeline */
	o = json_object();
	names = json_array();
	if (!o || !names) {
		json_decref(o);
		json_decref(names);
		return NULL;
	}
	json_set(o, "cpu_ns", json_real(cpu_ns));
	json_set(o, "share", time_ns > 0 ? json_real(cpu_ns / time_ns) : json_null());
	for (unsigned n = 0; n < count; n++) {
		json_t *jn = json_object();

		json_set(jn, "name", json_text(top[n].name));
		json_set(jn, "cpu_ns", json_real(top[n].cpu_ns));
		json_set(jn, "threads", json_u64(top[n].threads));
		json_add(names, jn);
	}
	json_set(o, "threads", names);
	return o;
}

static json_t *json_per_iteration(const struct recording_process *p,
				  const struct recording_region *region, const struct analysis *a,
				  struct env_threads *th)
{
	json_t *list = json_array();

	if (!list)
		return NULL;
	for (size_t i = 0; i < region->count && !json_failed; i++) {
		json_t *it = json_object(), *values = json_object();
		double ns[ATTRIB_CAUSE_COUNT], excess = 0;
		enum attrib_cause cause = analysis_explain(a, region, i, ns);

		if (!it || !values) {
			json_decref(it);
			json_decref(values);
			json_failed = true;
			break;
		}
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			excess += ns[c];
		json_set(it, "index", json_u64(i + 1));
		json_set(it, "start_ns", json_integer((json_int_t)(region->start_ns[i] -
								 p->header.start_ns)));
		json_set(it, "ns", json_u64(recording_duration(region, i)));
		json_set(it, "phase", a->phase_count ? json_u64(analysis_phase_of(a, i)) : json_null());
		json_set(it, "slow", json_boolean(analysis_is_slow(a, region, i)));
		json_set(it, "cause", cause < ATTRIB_CAUSE_COUNT ? json_string(attrib_cause_name(cause))
								: json_null());
		json_set(it, "shares", json_shares(ns, excess));
		json_set(it, "scaled", json_boolean(recording_flags(region, i) & ITP_ITER_SCALED));
		{
			double other = th ? env_threads_cpu_ns(th, region->start_ns[i],
							       recording_duration(region, i))
					  : NAN;

			json_set(it, "other_threads_cpu_ns",
				 isnan(other) ? json_null() : json_real(other));
			json_set(it, "other_threads_top",
				 json_text_or_null(th && other > 0
							   ? env_threads_top_of(th, region->start_ns[i],
										recording_duration(region, i))
							   : NULL));
		}
		for (unsigned c = 0; c < p->counter_count; c++) {
			uint64_t v = recording_value(region, c, i);

			json_set(values, p->counters[c].name,
				 v == ITP_VALUE_UNAVAILABLE ? json_null() : json_u64(v));
		}
		json_set(it, "counters", values);
		json_add(list, it);
	}
	return list;
}

/* classification, steady_state, reference, phases, slow, causes,
 * cost_estimates, verdict: what analysis.c concluded. */
static void json_analysis(json_t *o, const struct recording_process *p, const struct analysis *a)
{
	json_t *phases = json_array(), *slow = json_object(), *causes = json_object(),
	       *costs = json_object(), *ref = json_object();

	json_set(o, "classification", json_string(phases_class_name(a->classification)));
	if (ref && a->ref_count) {
		json_set(ref, "first", json_u64(a->ref_first + 1));
		json_set(ref, "last", json_u64(a->ref_last + 1));
		json_set(ref, "median_ns", json_real(a->ref_stats.median));
		json_set(ref, "mad_ns", json_real(a->ref_stats.mad));
		json_set(ref, "p95_ns", json_real(a->p95_ns));
		json_set(ref, "p99_ns", json_real(a->ref_stats.p99));
	}
	json_set(o, "steady_state", a->steady >= 0 ? json_deep_copy(ref) : json_null());
	json_set(o, "reference", a->ref_count ? ref : (json_decref(ref), json_null()));
	for (size_t k = 0; phases && k < a->phase_count; k++) {
		const struct analysis_phase *ph = &a->phase[k];
		json_t *jp = json_object(), *counters = json_object();

		json_set(jp, "first", json_u64(ph->first + 1));
		json_set(jp, "last", json_u64(ph->last + 1));
		json_set(jp, "median_ns", json_real(ph->median_ns));
		json_set(jp, "label", json_string(ph->label));
		json_set(jp, "excess_ns", json_real(ph->excess_ns));
		json_set(jp, "causes", json_shares(ph->cause_ns, ph->excess_ns));
		json_set(jp, "code_bytes", json_real(ph->code_bytes));
		json_set(jp, "sibling_threads",
			 ph->siblings[0] ? json_string(ph->siblings) : json_null());
		for (unsigned c = 0; counters && c < p->counter_count; c++)
			json_set(counters, p->counters[c].name,
				 isnan(ph->counter_median[c]) ? json_null()
							      : json_real(ph->counter_median[c]));
		json_set(jp, "counter_medians", counters);
		json_add(phases, jp);
	}
	json_set(o, "phases", phases);
	json_set(slow, "count", json_u64(a->slow_count));
	json_set(slow, "rate", json_real(a->slow_rate));
	json_set(slow, "threshold_ns", a->has_threshold ? json_real(a->threshold_ns) : json_null());
	json_set(slow, "excess_ns", json_real(a->slow_excess_ns));
	json_set(slow, "code_bytes", json_real(a->code_bytes));
	json_set(slow, "sibling_threads", a->siblings[0] ? json_string(a->siblings) : json_null());
	json_set(o, "slow", slow);
	for (unsigned c = 0; causes && c < ATTRIB_CAUSE_COUNT; c++) {
		json_t *jc = json_object();

		json_set(jc, "iterations", json_u64(a->cause_iterations[c]));
		json_set(jc, "excess_ns", json_real(a->cause_ns[c]));
		json_set(causes, attrib_cause_name(c), jc);
	}
	json_set(o, "causes", causes);
	for (unsigned k = 0; costs && k < ATTRIB_COST_COUNT; k++) {
		json_t *jc = json_object();
		char key[32];

		snprintf(key, sizeof(key), "%s", attrib_cost_name(k));
		for (char *c = key; *c; c++)
			*c = *c == ' ' ? '_' : *c;
		json_set(jc, "ns", json_real(a->model.cost_ns[k]));
		json_set(jc, "source", json_string(a->model.cost_samples[k] ? "trace" : "calibration"));
		json_set(jc, "iterations", json_u64(a->model.cost_samples[k]));
		json_set(costs, key, jc);
	}
	json_set(o, "cost_estimates", costs);
	json_set(o, "environment", json_boolean(a->env != NULL));
	json_set(o, "verdict", json_string(a->verdict));
}

/* The region's "stacks" member: null without stacks (doc/report-json.md). */
static json_t *json_stacks(const struct recording_process *p, unsigned thread,
			   const struct recording_region *region, const struct analysis *a,
			   struct stack_names *names)
{
	struct stackview view;
	const uint32_t *group;
	uint32_t groups;
	json_t *o;

	if (!names)
		return json_null();
	if (stack_names_groups(names, thread, &group, &groups) ||
	    stackview_compute(&p->threads[thread], region, a, group, groups, &view))
		return NULL;
	o = stackview_json(p, &view, names, thread);
	stackview_free(&view);
	return o;
}

static json_t *json_region(const struct recording_process *p, unsigned thread,
			   const struct recording_region *region, const struct region_result *rr,
			   const struct analysis *a, bool with_iterations, struct stack_names *names)
{
	const struct recording_thread *t = &p->threads[thread];
	json_t *o = json_object(), *counters = json_object();
	const struct stats_summary *s = &a->all_stats;
	json_t *iterations = NULL;

	if (!o || !counters) {
		json_decref(o);
		json_decref(counters);
		return NULL;
	}
	json_set(o, "pid", json_u64(p->header.pid));
	json_set(o, "exec_generation", json_u64(p->header.exec_generation));
	json_set(o, "tid", json_u64(t->tid));
	json_set(o, "thread_name", json_text(t->name));
	json_set(o, "name", json_text(region->name));
	json_set(o, "depth", json_u64(region->min_depth));
	json_set(o, "iterations", json_u64(region->count));
	json_set(o, "scaled_iterations", json_u64(scaled_iterations(region)));
	json_analysis(o, p, a);
	{
		/* the process's other threads, on any CPU (doc/report-json.md) */
		struct env_threads *th = threads_for(p, t->tid);
		json_t *phases = json_object_get(o, "phases");

		json_set(o, "other_threads",
			 json_other_threads(th, a, region, 0, region->count ? region->count - 1 : 0,
					    false));
		for (size_t k = 0; k < a->phase_count && k < json_array_size(phases); k++)
			json_set(json_array_get(phases, k), "other_threads",
				 json_other_threads(th, a, region, a->phase[k].first,
						    a->phase[k].last, false));
		json_set(json_object_get(o, "slow"), "other_threads",
			 json_other_threads(th, a, region, a->ref_first, a->ref_last, true));
		if (with_iterations) /* set last, where it always was */
			iterations = json_per_iteration(p, region, a, th);
		env_threads_free(th);
	}
	if (region->count) {
		json_t *js = json_object();

		if (js) {
			json_set(js, "min_ns", json_u64(s->min));
			json_set(js, "median_ns", json_real(s->median));
			json_set(js, "mean_ns", json_real(s->mean));
			json_set(js, "p90_ns", json_real(s->p90));
			json_set(js, "p99_ns", json_real(s->p99));
			json_set(js, "max_ns", json_u64(s->max));
			json_set(js, "mad_ns", json_real(s->mad));
			json_set(js, "total_ns", json_u64(s->total));
		}
		json_set(o, "stats", js);
	} else {
		json_set(o, "stats", json_null());
	}
	for (unsigned c = 0; c < p->counter_count; c++) {
		const struct recording_counter *rc = &p->counters[c];
		const struct counter_result *cr = &rr->counters[c];
		json_t *jc = json_object();
		bool has = region->has_values[c] && cr->available;

		if (!jc) {
			json_failed = true;
			continue;
		}
		json_set(jc, "median", has ? json_real(cr->median) : json_null());
		json_set(jc, "total",
			 has && !counter_is_level(rc) ? json_u64(cr->total) : json_null());
		json_set(jc, "counts", json_boolean(rc->is_counting));
		json_set(jc, "why", rc->is_counting ? json_null() : json_text(counter_why(rc)));
		json_set(jc, "unavailable",
			 json_u64(region->has_values[c] ? region->count - cr->available : region->count));
		json_set(counters, rc->name, jc);
	}
	json_set(o, "counters", counters);
	if (rr->task_clock >= 0 && rr->off_cpu.available) {
		json_t *off = json_object();

		if (off) {
			json_set(off, "median_ns", json_real(rr->off_cpu.median));
			json_set(off, "total_ns", json_u64(rr->off_cpu.total));
		}
		json_set(o, "off_cpu", off);
	} else {
		json_set(o, "off_cpu", json_null());
	}
	/* DROPPED records do not name a region: these are the thread's. */
	json_set(o, "dropped", json_u64(t->dropped));
	json_set(o, "lost_records", json_u64(t->lost_records));
	json_set(o, "truncated", json_boolean(p->is_truncated));
	json_set(o, "stacks", json_stacks(p, thread, region, a, names));
	if (with_iterations)
		json_set(o, "per_iteration", iterations);
	return o;
}

static int report_json(FILE *out, const struct recording *rec, bool with_iterations)
{
	json_t *root = json_object(), *processes = json_array(), *regions = json_array();
	uint64_t *scratch = malloc(ANALYSIS_SAMPLE * sizeof(*scratch));
	struct region_result *rr = malloc(sizeof(*rr));
	int err = 0;

	json_failed = false;
	if (!root || !processes || !regions || !rr || !scratch) {
		json_decref(processes);
		json_decref(regions);
		err = -ENOMEM;
		goto out;
	}
	json_set(root, "schema", json_string(REPORT_SCHEMA));
	json_set(root, "path", json_text(rec->path));
	for (unsigned pi = 0; pi < rec->process_count && !json_failed; pi++) {
		const struct recording_process *p = &rec->processes[pi];
		struct stack_names *names = names_for(p, &err);

		if (err) {
			json_failed = true;
			break;
		}
		json_add(processes, json_process(p));
		for (unsigned ti = 0; ti < p->thread_count; ti++) {
			const struct recording_thread *t = &p->threads[ti];

			for (unsigned ri = 0; ri < t->region_count && !json_failed; ri++) {
				struct analysis a;

				if (analyse_region(p, t, &t->regions[ri], scratch, rr, &a)) {
					json_failed = true;
					break;
				}
				json_add(regions, json_region(p, ti, &t->regions[ri], rr, &a,
							      with_iterations, names));
				analysis_free(&a);
			}
		}
		stack_names_free(names);
	}
	json_set(root, "processes", processes);
	json_set(root, "regions", regions);
	if (json_failed) {
		err = -ENOMEM;
		goto out;
	}
	if (json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) ||
	    fputc('\n', out) == EOF)
		err = -EIO;
out:
	json_decref(root);
	free(scratch);
	free(rr);
	return err;
}

/* ------------------------------------------------------------------------
 * CSV: one row per iteration of every region (RFC 4180: fields with a
 * comma, quote or line break are quoted, quotes doubled).
 */

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* The stack_samples and top_stack fields of iteration @i: empty without
 * stacks; 0 and empty for an iteration whose stacks were not kept. */
static void csv_stacks(FILE *out, const struct stack_names *stacks,
		       const struct recording_region *r, size_t i, const uint32_t *group)
{
	uint64_t samples;
	uint32_t top;

	if (!stacks) {
		fputs(",,", out);
		return;
	}
	stackview_iteration(r, i, group, &samples, &top);
	fprintf(out, ",%" PRIu64 ",", samples);
	if (top != STACKVIEW_NO_GROUP)
		csv_field(out, stack_names_folded(stacks, top));
}

/* The other_threads_cpu_ns and other_threads_top fields of iteration @i:
 * empty without a timeline (or outside it); the name empty when no other
 * thread used CPU time. */
static void csv_other_threads(FILE *out, struct env_threads *th,
			      const struct recording_region *r, size_t i)
{
	double cpu_ns = th ? env_threads_cpu_ns(th, r->start_ns[i], recording_duration(r, i)) : NAN;
	const char *top;

	if (isnan(cpu_ns)) {
		fputs(",,", out);
		return;
	}
	fprintf(out, ",%" PRIu64 ",", (uint64_t)llround(cpu_ns)); /* %.0f: 2x the time */
	top = cpu_ns > 0 ? env_threads_top_of(th, r->start_ns[i], recording_duration(r, i)) : NULL;
	if (top)
		csv_field(out, top);
}

static int report_csv(FILE *out, const struct recording *rec)
{
	/* The columns are the same for every row: the counters of the
	 * union of the processes' counter tables, by name. */
	const char *names[ITP_MAX_COUNTERS * 4];
	unsigned name_count = 0;

	for (unsigned pi = 0; pi < rec->process_count; pi++)
		for (unsigned c = 0; c < rec->processes[pi].counter_count; c++) {
			const char *name = rec->processes[pi].counters[c].name;
			bool seen = false;

			for (unsigned k = 0; k < name_count; k++)
				seen |= !strcmp(names[k], name);
			if (!seen && name_count < sizeof(names) / sizeof(names[0]))
				names[name_count++] = name;
		}
	fputs("pid,exec_generation,tid,thread_name,region,index,start_ns,ns,phase,phase_label,slow,"
	      "cause", out);
	for (unsigned k = 0; k < name_count; k++) {
		fputc(',', out);
		csv_field(out, names[k]);
	}
	fputs(",stack_samples,top_stack,other_threads_cpu_ns,other_threads_top\n", out);
	for (unsigned pi = 0; pi < rec->process_count; pi++) {
		const struct recording_process *p = &rec->processes[pi];
		int column[ITP_MAX_COUNTERS * 4], err;
		struct stack_names *stacks = names_for(p, &err);

		if (err)
			return err;

		for (unsigned k = 0; k < name_count; k++) {
			column[k] = -1;
			for (unsigned c = 0; c < p->counter_count; c++)
				if (!strcmp(p->counters[c].name, names[k]))
					column[k] = (int)c;
		}
		for (unsigned ti = 0; ti < p->thread_count; ti++) {
			const struct recording_thread *t = &p->threads[ti];

			const uint32_t *group = NULL;
			uint32_t groups;

			if (stacks && stack_names_groups(stacks, ti, &group, &groups)) {
				stack_names_free(stacks);
				return -ENOMEM;
			}
			for (unsigned ri = 0; ri < t->region_count; ri++) {
				const struct recording_region *r = &t->regions[ri];
				struct analysis a;
				struct env_threads *th = threads_for(p, t->tid);

				if (analysis_run_env(p, r, join_for(p, t->tid), &a)) {
					env_threads_free(th);
					stack_names_free(stacks);
					return -ENOMEM;
				}
				for (size_t i = 0; i < r->count; i++) {
					double ns[ATTRIB_CAUSE_COUNT];
					enum attrib_cause cause = analysis_explain(&a, r, i, ns);
					size_t ph = a.phase_count ? analysis_phase_of(&a, i) : 0;

					fprintf(out, "%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",", p->header.pid,
						p->header.exec_generation, t->tid);
					csv_field(out, t->name);
					fputc(',', out);
					csv_field(out, r->name);
					fprintf(out, ",%zu,%" PRId64 ",%" PRIu64 ",", i + 1,
						(int64_t)(r->start_ns[i] - p->header.start_ns),
						recording_duration(r, i));
					if (a.phase_count)
						fprintf(out, "%zu,%s", ph, a.phase[ph].label);
					else
						fputc(',', out);
					fprintf(out, ",%d,%s", analysis_is_slow(&a, r, i),
						cause < ATTRIB_CAUSE_COUNT ? attrib_cause_name(cause) : "");
					for (unsigned k = 0; k < name_count; k++) {
						uint64_t v = column[k] < 0 ? ITP_VALUE_UNAVAILABLE
									   : recording_value(r, (unsigned)column[k], i);

						if (v == ITP_VALUE_UNAVAILABLE)
							fputc(',', out);
						else
							fprintf(out, ",%" PRIu64, v);
					}
					csv_stacks(out, stacks, r, i, group);
					csv_other_threads(out, th, r, i);
					fputc('\n', out);
				}
				env_threads_free(th);
				analysis_free(&a);
			}
		}
		stack_names_free(stacks);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Folded stacks (--flame)
 */

/* Is kept iteration @s of @r in @set? slow: warm-up and slow iterations
 * with a cause, the ones the differential view explains; steady: the
 * reference iterations that are not slow, kept for comparison. */
static bool flame_takes(enum flame_set set, const struct analysis *a,
			const struct recording_region *r, const struct recording_sampled *s)
{
	double ns[ATTRIB_CAUSE_COUNT];
	size_t i = (size_t)s->iteration;

	if (set == FLAME_ALL)
		return true;
	if (i >= r->count)
		return false;
	if (analysis_explain(a, r, i, ns) < ATTRIB_CAUSE_COUNT)
		return set == FLAME_SLOW;
	return set == FLAME_STEADY && a->ref_count && i >= a->ref_first && i <= a->ref_last &&
	       !analysis_is_slow(a, r, i) && stackview_is_comparison(s);
}

static int flame_region(struct stackview_flame *flame, const struct report_options *opt,
			const struct recording_process *p, uint32_t tid,
			const struct recording_region *r,
			const uint32_t *group, struct stack_names *names)
{
	const struct recording_region_stacks *st = &r->stacks;
	struct analysis a;
	int err = 0;

	if (!st->count)
		return 0;
	if (analysis_run_env(p, r, join_for(p, tid), &a))
		return -ENOMEM;
	for (size_t k = 0; k < st->count && !err; k++) {
		const struct recording_sampled *s = &st->iterations[k];

		if (!flame_takes(opt->flame, &a, r, s))
			continue;
		for (uint32_t e = s->first; e < s->first + s->count && !err; e++) {
			const struct recording_sample *x = &st->samples[e];

			if (x->stack == RECORDING_NO_STACK ||
			    (opt->flame_kind && x->kind != opt->flame_kind))
				continue;
			err = stackview_flame_add(flame, r->name,
						  stack_names_folded(names, group[x->stack]),
						  x->samples);
		}
	}
	analysis_free(&a);
	return err;
}

/* Every process's stacks of the set into @out. 0, -ENOMEM, -EIO, or
 * -ENODATA when no process recorded stacks (with the reason in @why). */
static int report_flame(FILE *out, const struct recording *rec, const struct report_options *opt,
			char *why, size_t why_len)
{
	struct stackview_flame *flame = stackview_flame_new();
	const char *error = NULL;
	bool any = false;
	int err = 0;

	if (!flame)
		return -ENOMEM;
	for (unsigned pi = 0; pi < rec->process_count && !err; pi++) {
		const struct recording_process *p = &rec->processes[pi];
		struct stack_names *names = names_for(p, &err);
		unsigned failed, threads;
		const char *process_error;

		if (!names)
			continue;
		/* A process none of whose threads could sample is as one that
		 * did not record stacks; some threads: what the others have. */
		process_error = stackview_process_error(p, &failed, &threads);
		if (process_error && failed == threads) {
			error = error ? error : process_error;
		} else {
			any = true;
		}
		for (unsigned ti = 0; ti < p->thread_count && !err; ti++) {
			const struct recording_thread *t = &p->threads[ti];
			const uint32_t *group;
			uint32_t groups;

			err = stack_names_groups(names, ti, &group, &groups);
			for (unsigned ri = 0; ri < t->region_count && !err; ri++)
				err = flame_region(flame, opt, p, t->tid, &t->regions[ri], group,
						   names);
		}
		stack_names_free(names);
	}
	if (!err && !any) {
		if (error)
			snprintf(why, why_len,
				 "%s: call stacks were not captured: %s (doc/stacks.md says what "
				 "they need)",
				 rec->path, error);
		else
			snprintf(why, why_len, "%s has no call stacks (record with --stacks=slow "
				 "or all)",
				 rec->path);
		err = -ENODATA;
	}
	if (!err)
		err = stackview_flame_print(flame, out);
	stackview_flame_free(flame);
	return err;
}

/* ------------------------------------------------------------------------
 * Command
 */

static int parse_options(int argc, char **argv, struct report_options *opt)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "iterations", no_argument, NULL, 'i' },
		{ "flame", required_argument, NULL, 'F' },
		{ "flame-kind", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->path = REPORT_DEFAULT_PATH;
	optind = 1;
	opterr = 0; /* one error line, ours */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "json")) {
				opt->format = FORMAT_JSON;
			} else if (!strcmp(optarg, "text")) {
				opt->format = FORMAT_TEXT;
			} else if (!strcmp(optarg, "csv")) {
				opt->format = FORMAT_CSV;
			} else {
				cli_error("report: unknown format '%s' (use --format text, json "
					  "or csv)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 'i':
			opt->with_iterations = true;
			break;
		case 'F':
			if (!strcmp(optarg, "slow")) {
				opt->flame = FLAME_SLOW;
			} else if (!strcmp(optarg, "steady")) {
				opt->flame = FLAME_STEADY;
			} else if (!strcmp(optarg, "all")) {
				opt->flame = FLAME_ALL;
			} else {
				cli_error("report: unknown --flame set '%s' (use slow, steady or all)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 'K':
			if (!strcmp(optarg, "fault")) {
				opt->flame_kind = ITP_SAMPLE_FAULT;
			} else if (!strcmp(optarg, "switch")) {
				opt->flame_kind = ITP_SAMPLE_SWITCH;
			} else if (!strcmp(optarg, "cpu")) {
				opt->flame_kind = ITP_SAMPLE_CPU;
			} else {
				cli_error("report: unknown --flame-kind '%s' (use fault, switch or cpu)",
					  optarg);
				return CLI_EXIT_BAD_INPUT;
			}
			break;
		case 'h':
			fputs(report_usage, stdout);
			return -1;
		default:
			if (optopt == 'f')
				cli_error("report: --format needs a value (text, json or csv)");
			else if (optopt == 'F')
				cli_error("report: --flame needs a set (slow, steady or all)");
			else if (optopt == 'K')
				cli_error("report: --flame-kind needs a kind (fault, switch or cpu)");
			else
				cli_error("report: unknown option '%s' (run 'iterprof report "
					  "--help')",
					  argv[optind - 1]);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	if (optind < argc)
		opt->path = argv[optind++];
	if (opt->flame_kind && opt->flame == FLAME_NONE) {
		cli_error("report: --flame-kind goes with --flame (run 'iterprof report --help')");
		return CLI_EXIT_BAD_INPUT;
	}
	if (optind < argc) {
		cli_error("report: one PATH at most, got '%s' too (run 'iterprof report "
			  "--help')",
			  argv[optind]);
		return CLI_EXIT_BAD_INPUT;
	}
	return 0;
}

/* The environment timeline beside the traces of @path (a recording
 * directory, or a trace file in one), or NULL: none there, or unreadable
 * (then said once: the report goes on without it). */
static struct env_timeline *load_env(const char *path)
{
	struct env_timeline *tl = calloc(1, sizeof(*tl));
	char why[512];
	int err;

	if (!tl)
		return NULL;
	err = env_timeline_load_beside(path, tl, why, sizeof(why));
	if (err) {
		if (err != -ENOENT)
			cli_info("%s (the report goes on without the environment timeline)", why);
		free(tl);
		return NULL;
	}
	return tl;
}

int cmd_report(int argc, char **argv)
{
	struct report_options opt;
	struct recording *rec;
	char why[512];
	int err;

	err = parse_options(argc, argv, &opt);
	if (err)
		return err < 0 ? CLI_EXIT_OK : err;

	err = recording_open(opt.path, &rec, why, sizeof(why));
	if (err) {
		cli_error("%s%s", why, recording_open_hint(err));
		return err == -ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_BAD_INPUT;
	}
	report_env = load_env(opt.path);
	if (opt.flame != FLAME_NONE) {
		err = report_flame(stdout, rec, &opt, why, sizeof(why));
	} else {
		switch (opt.format) {
		case FORMAT_JSON:
			err = report_json(stdout, rec, opt.with_iterations);
			break;
		case FORMAT_CSV:
			err = report_csv(stdout, rec);
			break;
		default:
			err = report_text(stdout, rec, opt.with_iterations, use_colour());
		}
	}
	recording_free(rec);
	if (report_env) {
		env_timeline_free(report_env);
		free(report_env);
		report_env = NULL;
	}
	if (err == -ENODATA) {
		cli_error("report: %s", why);
		return CLI_EXIT_BAD_INPUT;
	}
	if (err == -ENOMEM) {
		cli_error("report: out of memory (report fewer iterations, or on a "
			  "machine with more memory)");
		return CLI_EXIT_FAILURE;
	}
	if (fflush(stdout) == EOF || ferror(stdout) || err) {
		cli_error("report: writing the report: %s (check the output's disk or pipe)",
			  strerror(errno ? errno : EIO));
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

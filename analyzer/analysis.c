/*
 * analysis: see analysis.h for the steps.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"

/* ------------------------------------------------------------------------
 * Signals: which counter of the trace feeds which signal of attrib.h.
 */

/* A `record -e` event's name as perf or libpfm4 spell it, without a PMU
 * prefix ("arm_ac57::") and a mode suffix (":u"), lower case. */
static void event_base_name(const char *name, char *out, size_t len)
{
	const char *p = strstr(name, "::");
	size_t i = 0;

	if (p)
		name = p + 2;
	for (; *name && i + 1 < len; name++) {
		if (name[0] == ':' && (name[1] == 'u' || name[1] == 'k') && !name[2])
			break;
		out[i++] = (char)tolower((unsigned char)*name);
	}
	out[i] = '\0';
}

static bool name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return true;
	return false;
}

static void map_signals(const struct recording_process *p, int signal_counter[],
			int signal_counter2[])
{
	static const char *const instructions[] = { "instructions", "inst_retired",
						    "inst_retired:any", "inst_retired:any_p",
						    NULL };
	static const char *const cycles[] = { "cycles", "cpu-cycles", "cpu_cycles",
					      "cpu_clk_unhalted:thread", NULL };
	static const char *const cache_misses[] = { "cache-misses", "llc-load-misses",
						    "ll_cache_miss_rd", "longest_lat_cache:miss",
						    "llc_misses", NULL };
	static const struct {
		enum attrib_signal signal;
		uint16_t id;
	} by_id[] = {
		{ ATTRIB_SIG_CPU_NS, ITP_COUNTER_TASK_CLOCK },
		{ ATTRIB_SIG_RUN_DELAY_NS, ITP_COUNTER_RUN_DELAY },
		{ ATTRIB_SIG_MINOR_FAULTS, ITP_COUNTER_MINOR_FAULTS },
		{ ATTRIB_SIG_MAJOR_FAULTS, ITP_COUNTER_MAJOR_FAULTS },
		{ ATTRIB_SIG_VOLUNTARY, ITP_COUNTER_VOLUNTARY_SWITCHES },
		{ ATTRIB_SIG_INVOLUNTARY, ITP_COUNTER_INVOLUNTARY_SWITCHES },
		{ ATTRIB_SIG_SWITCHES, ITP_COUNTER_CONTEXT_SWITCHES },
		{ ATTRIB_SIG_MIGRATIONS, ITP_COUNTER_MIGRATIONS },
		{ ATTRIB_SIG_INTERRUPTS, ITP_COUNTER_IRQS },
		{ ATTRIB_SIG_CODE_EVENTS, ITP_COUNTER_CODE_EVENTS },
		{ ATTRIB_SIG_CODE_BYTES, ITP_COUNTER_CODE_BYTES },
	};

	for (unsigned s = 0; s < ATTRIB_SIGNAL_COUNT; s++)
		signal_counter[s] = signal_counter2[s] = -1;
	/* interrupts: hardware ones and softirqs, one signal */
	signal_counter2[ATTRIB_SIG_INTERRUPTS] = recording_counter_index(p, ITP_COUNTER_SOFTIRQS);
	for (size_t k = 0; k < sizeof(by_id) / sizeof(by_id[0]); k++)
		signal_counter[by_id[k].signal] = recording_counter_index(p, by_id[k].id);
	for (unsigned c = 0; c < p->counter_count; c++) {
		char base[sizeof(p->counters[c].name)];
		enum attrib_signal s;

		if (p->counters[c].id != ITP_COUNTER_EVENT || !p->counters[c].is_counting)
			continue;
		event_base_name(p->counters[c].name, base, sizeof(base));
		if (name_in(base, instructions))
			s = ATTRIB_SIG_INSTRUCTIONS;
		else if (name_in(base, cycles))
			s = ATTRIB_SIG_CYCLES;
		else if (name_in(base, cache_misses))
			s = ATTRIB_SIG_CACHE_MISSES;
		else
			continue;
		if (signal_counter[s] < 0)
			signal_counter[s] = (int)c;
	}
}

static void sample_of(const struct analysis *a, const struct recording_region *r, size_t i,
		      struct attrib_sample *s)
{
	s->duration_ns = (double)recording_duration(r, i);
	for (unsigned k = 0; k < ATTRIB_SIGNAL_COUNT; k++) {
		uint64_t v = a->signal_counter[k] < 0
				     ? ITP_VALUE_UNAVAILABLE
				     : recording_value(r, (unsigned)a->signal_counter[k], i);

		s->signal[k] = v == ITP_VALUE_UNAVAILABLE ? NAN : (double)v;
		if (a->signal_counter2[k] >= 0 && !isnan(s->signal[k])) {
			v = recording_value(r, (unsigned)a->signal_counter2[k], i);
			s->signal[k] = v == ITP_VALUE_UNAVAILABLE ? NAN : s->signal[k] + (double)v;
		}
	}
	if (a->env) {
		uint64_t cpu = a->cpu_counter < 0 ? ITP_VALUE_UNAVAILABLE
						  : recording_value(r, (unsigned)a->cpu_counter, i);

		env_join_signals(a->env, r->start_ns[i], recording_duration(r, i),
				 cpu == ITP_VALUE_UNAVAILABLE ? -1 : (int)cpu,
				 !isnan(s->signal[ATTRIB_SIG_INTERRUPTS]), s->signal);
	}
	s->is_warmup = i < a->ref_first;
	s->is_first = i == 0;
}

/* ------------------------------------------------------------------------
 * Phases.
 */

/* The durations to segment: every one, or the head and block medians
 * (analysis.h). *@block is 0 for the first, else the block length. */
static int phase_series(const struct recording_region *r, uint64_t *scratch, uint64_t **series,
			size_t *m, size_t *block)
{
	size_t n = r->count, b, blocks, head = ANALYSIS_HEAD;
	uint64_t *s;

	if (n <= ANALYSIS_RAW_LIMIT) {
		column_get_range(&r->duration_ns, 0, n, scratch);
		*series = scratch;
		*m = n;
		*block = 0;
		return 0;
	}
	b = (n - head + ANALYSIS_BLOCKS - 1) / ANALYSIS_BLOCKS;
	blocks = (n - head + b - 1) / b;
	s = malloc((head + blocks) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	column_get_range(&r->duration_ns, 0, head, s);
	for (size_t k = 0; k < blocks; k++) {
		size_t first = head + k * b, len = first + b <= n ? b : n - first;
		/* a block's median from at most 63 evenly spaced values: it
		 * only has to show a change of level, and selecting over every
		 * value of 10 million took a tenth of the report */
		size_t step = len > 63 ? len / 63 : 1, taken = 0;

		for (size_t i = first; i < first + len; i += step)
			scratch[taken++] = column_get(&r->duration_ns, i);
		s[head + k] = stats_select(scratch, taken, taken / 2);
	}
	*series = s;
	*m = head + blocks;
	*block = b;
	return 0;
}

/* Iteration span of series index @j. */
static size_t span_first(size_t j, size_t block)
{
	return !block || j < ANALYSIS_HEAD ? j : ANALYSIS_HEAD + (j - ANALYSIS_HEAD) * block;
}

static size_t span_last(size_t j, size_t block, size_t n)
{
	size_t last;

	if (!block || j < ANALYSIS_HEAD)
		return j;
	last = ANALYSIS_HEAD + (j - ANALYSIS_HEAD + 1) * block - 1;
	return last < n ? last : n - 1;
}

/* Median of counter @c over at most ANALYSIS_SAMPLE evenly spaced
 * iterations of @first..@last; NAN if none has a value. */
static double counter_median(const struct recording_region *r, unsigned c, size_t first,
			     size_t last, uint64_t *scratch)
{
	size_t len = last - first + 1, stride = (len + ANALYSIS_SAMPLE - 1) / ANALYSIS_SAMPLE,
	       k = 0;

	if (!r->has_values[c])
		return NAN;
	for (size_t i = first; i <= last; i += stride) {
		uint64_t v = column_get(&r->values[c], i);

		if (v != ITP_VALUE_UNAVAILABLE)
			scratch[k++] = v;
	}
	if (!k)
		return NAN;
	stats_sort(scratch, k);
	return stats_quantile_sorted(scratch, k, 0.5);
}

/* How @scratch holds the durations of iterations @first..@last once
 * sorted: one run, or for a long span two halves sorted at once on two CPUs
 * (sort_runs): the statistics read both without merging them
 * (stats_*_runs). Returns the number of runs. */
static unsigned span_runs(uint64_t *scratch, size_t first, size_t last, struct stats_run run[2])
{
	size_t len = last - first + 1, half = len / 2;

	if (len < ANALYSIS_SPLIT_SORT) {
		run[0] = (struct stats_run){ scratch + first, len };
		return 1;
	}
	run[0] = (struct stats_run){ scratch + first, half };
	run[1] = (struct stats_run){ scratch + first + half, len - half };
	return 2;
}

static void *sort_worker(void *arg)
{
	struct stats_run *run = arg;

	stats_sort((uint64_t *)(uintptr_t)run->values, run->len);
	return NULL;
}

/* Sort the @count runs of span_runs(), the second on another thread when
 * there is a second CPU. */
static void sort_runs(struct stats_run run[2], unsigned count)
{
	pthread_t worker;
	bool is_threaded = count == 2 && sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
			   !pthread_create(&worker, NULL, sort_worker, &run[1]);

	stats_sort((uint64_t *)(uintptr_t)run[0].values, run[0].len);
	if (is_threaded)
		pthread_join(worker, NULL);
	else if (count == 2)
		sort_worker(&run[1]);
}

static int find_phases(struct analysis *a, const struct recording_region *r, uint64_t *scratch)
{
	size_t n = r->count, m, block;
	uint64_t *series;
	struct phases ph;
	struct phases as_phases;
	struct phase *spans;
	bool split;
	int err;

	err = phase_series(r, scratch, &series, &m, &block);
	if (err)
		return err;
	err = phases_find(series, m, NULL, &ph);
	if (series != scratch)
		free(series);
	if (err)
		return err;
	a->classification = ph.classification;
	if (ph.classification == PHASES_TOO_FEW) {
		phases_free(&ph);
		return 0;
	}
	for (size_t k = 0; k < ph.count; k++) {
		ph.phase[k].first = span_first(ph.phase[k].first, block);
		ph.phase[k].last = span_last(ph.phase[k].last, block, n);
	}
	/* A first call far above the rest of its phase is a phase of its
	 * own (phases_find sets a lone far-out value aside as an outlier). */
	split = ph.phase[0].last > 0 &&
		(double)recording_duration(r, 0) > 2 * ph.phase[0].median_ns &&
		(double)recording_duration(r, 0) > ph.phase[0].median_ns + ANALYSIS_SLOW_NS;
	spans = malloc((ph.count + split) * sizeof(*spans));
	a->phase = calloc(ph.count + split, sizeof(*a->phase));
	if (!spans || !a->phase) {
		free(spans);
		phases_free(&ph);
		return -ENOMEM;
	}
	if (split) {
		spans[0] = (struct phase){ .first = 0, .last = 0 };
		ph.phase[0].first = 1;
	}
	memcpy(spans + split, ph.phase, ph.count * sizeof(*spans));
	as_phases = (struct phases){ .count = ph.count + split, .phase = spans };
	phases_free(&ph);
	/* Medians of every iteration, not of the block medians. @scratch
	 * keeps every duration, each phase's span sorted in place: the
	 * reference and overall statistics are read from it next. */
	column_get_range(&r->duration_ns, 0, n, scratch);
	for (size_t k = 0; k < as_phases.count; k++) {
		struct stats_run run[2];
		unsigned count = span_runs(scratch, spans[k].first, spans[k].last, run);

		sort_runs(run, count);
		spans[k].median_ns = stats_quantile_runs(run, count, 0.5);
		spans[k].mad_ns = stats_mad_runs(run, count, spans[k].median_ns);
	}
	phases_classify(&as_phases, n, NULL);
	a->classification = as_phases.classification;
	a->steady = as_phases.steady;
	a->phase_count = as_phases.count;
	for (size_t k = 0; k < as_phases.count; k++) {
		a->phase[k].first = spans[k].first;
		a->phase[k].last = spans[k].last;
		a->phase[k].median_ns = spans[k].median_ns;
	}
	free(spans);
	return 0;
}

/* ------------------------------------------------------------------------
 * The rest.
 */

size_t analysis_phase_of(const struct analysis *a, size_t i)
{
	size_t lo = 0, hi = a->phase_count;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->phase[mid].first <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

bool analysis_is_slow(const struct analysis *a, const struct recording_region *r, size_t i)
{
	return a->has_threshold && i >= a->ref_first && i <= a->ref_last &&
	       (double)recording_duration(r, i) > a->threshold_ns;
}

enum attrib_cause analysis_explain(const struct analysis *a, const struct recording_region *r,
				   size_t i, double ns[ATTRIB_CAUSE_COUNT])
{
	struct attrib_sample s;

	memset(ns, 0, ATTRIB_CAUSE_COUNT * sizeof(*ns));
	if (!a->has_threshold || (i >= a->ref_first && !analysis_is_slow(a, r, i)))
		return ATTRIB_CAUSE_COUNT;
	sample_of(a, r, i, &s);
	if (!(attrib_explain(&a->model, &s, ns) > 0))
		return ATTRIB_CAUSE_COUNT;
	return attrib_primary(ns);
}

double analysis_explain_against(const struct analysis *a, const struct recording_region *r,
				size_t i, const struct attrib_model *model,
				double ns[ATTRIB_CAUSE_COUNT])
{
	struct attrib_sample s;

	memset(ns, 0, ATTRIB_CAUSE_COUNT * sizeof(*ns));
	sample_of(a, r, i, &s);
	/* a steady iteration of this run against the other's steady state */
	s.is_warmup = false;
	s.is_first = false;
	return attrib_explain(model, &s, ns);
}

/* Estimate the per-event costs from the iterations up to the reference's
 * end that have one of the events. */
static int estimate_costs(struct analysis *a, const struct recording_region *r)
{
	enum { BLOCK = 4096 };
	static const enum attrib_signal events[] = { ATTRIB_SIG_MINOR_FAULTS, ATTRIB_SIG_MIGRATIONS,
						     ATTRIB_SIG_CACHE_MISSES,
						     ATTRIB_SIG_INTERRUPTS };
	struct attrib_estimator *e = attrib_estimator_new();
	unsigned char any[BLOCK];
	uint64_t v[BLOCK];

	if (!e)
		return -ENOMEM;
	/* This loop sees every iteration: the event columns are read in
	 * blocks, and the full sample is built only for the few iterations
	 * with an event above the reference. */
	for (size_t first = 0; first <= a->ref_last; first += BLOCK) {
		size_t len = a->ref_last + 1 - first < BLOCK ? a->ref_last + 1 - first : BLOCK;

		memset(any, 0, len);
		for (size_t k = 0; k < sizeof(events) / sizeof(events[0]); k++) {
			int c = a->signal_counter[events[k]], c2 = a->signal_counter2[events[k]];
			double ref = a->model.signal[events[k]];

			if (c < 0 || isnan(ref))
				continue;
			/* a count of two counters exceeds the reference only
			 * if one of them exceeds it */
			for (int pass = 0; pass < 2; pass++, c = c2) {
				if (c < 0)
					break;
				column_get_range(&r->values[c], first, len, v);
				for (size_t i = 0; i < len; i++)
					any[i] |= v[i] != ITP_VALUE_UNAVAILABLE &&
						  (double)v[i] >= ref + 1;
			}
		}
		for (size_t i = 0; i < len; i++) {
			struct attrib_sample s;

			if (!any[i])
				continue;
			sample_of(a, r, first + i, &s);
			attrib_estimator_add(e, &a->model, &s);
		}
	}
	attrib_estimator_finish(e, &a->model);
	attrib_estimator_free(e);
	return 0;
}

static void attribute(struct analysis *a, const struct recording_region *r)
{
	enum { BLOCK = 4096 };
	double ns[ATTRIB_CAUSE_COUNT];
	uint64_t d[BLOCK];

	for (size_t first = 0; first <= a->ref_last; first += BLOCK) {
		size_t len = a->ref_last + 1 - first < BLOCK ? a->ref_last + 1 - first : BLOCK;

		column_get_range(&r->duration_ns, first, len, d);
		for (size_t j = 0; j < len; j++) {
			size_t i = first + j;
			struct analysis_phase *ph;
			enum attrib_cause primary;

			/* reference iterations below the threshold: nothing
			 * to do, and the test is cheap */
			if (i >= a->ref_first && (double)d[j] <= a->threshold_ns)
				continue;
			primary = analysis_explain(a, r, i, ns);
			ph = &a->phase[analysis_phase_of(a, i)];
			for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
				ph->cause_ns[c] += ns[c];
				ph->excess_ns += ns[c];
			}
			if (ns[ATTRIB_JIT] > 0) {
				struct attrib_sample s;

				sample_of(a, r, i, &s);
				if (s.signal[ATTRIB_SIG_CODE_BYTES] > 0)
					ph->code_bytes += s.signal[ATTRIB_SIG_CODE_BYTES];
				if (i >= a->ref_first && s.signal[ATTRIB_SIG_CODE_BYTES] > 0)
					a->code_bytes += s.signal[ATTRIB_SIG_CODE_BYTES];
			}
			if (i < a->ref_first)
				continue;
			a->slow_count++;
			for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
				a->cause_ns[c] += ns[c];
				a->slow_excess_ns += ns[c];
			}
			if (primary < ATTRIB_CAUSE_COUNT) {
				a->cause_iterations[primary]++;
				if (a->example_count[primary] < ANALYSIS_EXAMPLES)
					a->examples[primary][a->example_count[primary]++] = i;
			}
		}
	}
	a->slow_rate = a->ref_count ? (double)a->slow_count / (double)a->ref_count : 0;
}

/* "busy-helper 290 ms, worker 12 ms": the process's other threads by CPU
 * time over iterations [first, last], from the timeline. */
static void siblings_text(const struct analysis *a, const struct recording_region *r,
			  size_t first, size_t last, char *buf, size_t len)
{
	char names[2][16], d[32];
	double cpu[2];
	unsigned n;
	size_t at = 0;

	buf[0] = '\0';
	if (!a->env)
		return;
	n = env_join_siblings(a->env, r->start_ns[first],
			      r->start_ns[last] + recording_duration(r, last), 2, names, cpu);
	for (unsigned k = 0; k < n && at < len; k++)
		at += (size_t)snprintf(buf + at, len - at, "%s'%s' %s", k ? ", " : "", names[k],
				       stats_format_duration(cpu[k], d, sizeof(d)));
}

static void describe_siblings(struct analysis *a, const struct recording_region *r)
{
	for (size_t k = 0; k < a->phase_count; k++)
		if (a->phase[k].cause_ns[ATTRIB_SIBLING_THREADS] > 0)
			siblings_text(a, r, a->phase[k].first, a->phase[k].last,
				      a->phase[k].siblings, sizeof(a->phase[k].siblings));
	if (a->cause_ns[ATTRIB_SIBLING_THREADS] > 0)
		siblings_text(a, r, a->ref_first, a->ref_last, a->siblings, sizeof(a->siblings));
}

/* The cause with the largest part of @ns, and that part's share of @total,
 * in @buf: "preemption (91 %)"; "" when there is none. */
static const char *top_cause(const double ns[ATTRIB_CAUSE_COUNT], double total, char *buf,
			     size_t len)
{
	enum attrib_cause c = attrib_primary(ns);

	if (c == ATTRIB_CAUSE_COUNT || !(total > 0)) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len, "%s %.0f %%", attrib_cause_name(c), 100 * ns[c] / total);
	return buf;
}

const char *analysis_format_bytes(double bytes, char *buf, size_t len)
{
	if (bytes >= 1e6)
		snprintf(buf, len, "%.1f MB", bytes / 1e6);
	else if (bytes >= 1e3)
		snprintf(buf, len, "%.0f KB", bytes / 1e3);
	else
		snprintf(buf, len, "%.0f bytes", bytes);
	return buf;
}

/* What to add to a cause's share for evidence: the code generated for jit,
 * the threads for sibling-threads. */
static void cause_detail(enum attrib_cause c, double code_bytes, const char *siblings,
			 char *buf, size_t len)
{
	char b[32];

	buf[0] = '\0';
	if (c == ATTRIB_JIT && code_bytes > 0)
		snprintf(buf, len, " (%s of code made executable)",
			 analysis_format_bytes(code_bytes, b, sizeof(b)));
	else if (c == ATTRIB_SIBLING_THREADS && siblings[0])
		snprintf(buf, len, " (%s of CPU)", siblings);
}

static void write_verdict(struct analysis *a, size_t n)
{
	char median[32], cause[200], slow[320] = "", first[32];
	size_t len = sizeof(a->verdict);

	if (a->classification == PHASES_TOO_FEW) {
		snprintf(a->verdict, len,
			 "too few iterations (%zu) to find a steady state: median %s", n,
			 stats_format_duration(a->ref_stats.median, median, sizeof(median)));
		return;
	}
	stats_format_duration(a->ref_stats.median, median, sizeof(median));
	if (a->slow_count) {
		char detail[120];

		top_cause(a->cause_ns, a->slow_excess_ns, cause, sizeof(cause));
		cause_detail(attrib_primary(a->cause_ns), a->code_bytes, a->siblings, detail,
			     sizeof(detail));
		strncat(cause, detail, sizeof(cause) - strlen(cause) - 1);
		snprintf(slow, sizeof(slow), "%zu of %zu %s iterations slow (%.1f %%), %s of their excess",
			 a->slow_count, a->ref_count, a->steady >= 0 ? "steady" : "final",
			 100 * a->slow_rate, cause);
	} else {
		snprintf(slow, sizeof(slow), "no slow iterations among %zu", a->ref_count);
	}
	switch (a->classification) {
	case PHASES_FLAT:
		snprintf(a->verdict, len, "flat: steady %s from iteration 1; %s", median, slow);
		break;
	case PHASES_WARMUP: {
		double warm_ns[ATTRIB_CAUSE_COUNT] = { 0 }, warm = 0, code = 0;
		char detail[120];

		for (long k = 0; k < a->reference; k++) {
			for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
				warm_ns[c] += a->phase[k].cause_ns[c];
				warm += a->phase[k].cause_ns[c];
			}
			code += a->phase[k].code_bytes;
		}
		top_cause(warm_ns, warm, cause, sizeof(cause));
		cause_detail(attrib_primary(warm_ns), code, "", detail, sizeof(detail));
		strncat(cause, detail, sizeof(cause) - strlen(cause) - 1);
		snprintf(a->verdict, len,
			 "warm-up then flat: steady %s from iteration %zu (warm-up %zu iteration%s, "
			 "%s extra%s%s); %s",
			 median, a->ref_first + 1, a->ref_first, a->ref_first == 1 ? "" : "s",
			 stats_format_duration(warm, first, sizeof(first)), cause[0] ? ", mostly " : "",
			 cause, slow);
		break;
	}
	case PHASES_SLOWDOWN:
		snprintf(a->verdict, len,
			 "slowdown: faster earlier (%s at iterations 1-%zu), steady %s from "
			 "iteration %zu; %s",
			 stats_format_duration(a->phase[0].median_ns, first, sizeof(first)),
			 a->phase[0].last + 1, median, a->ref_first + 1, slow);
		break;
	default:
		snprintf(a->verdict, len,
			 "no steady state: %zu phases, still changing at the end (last phase from "
			 "iteration %zu at %s); %s",
			 a->phase_count, a->ref_first + 1, median, slow);
	}
}

static int compare_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double median_double(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Reference values of the signals the timeline gives (their medians over
 * at most ANALYSIS_JOIN_SAMPLE evenly spaced reference iterations). */
static void join_reference(struct analysis *a, const struct recording_region *r)
{
	static const enum attrib_signal joined[] = { ATTRIB_SIG_FREQ_KHZ, ATTRIB_SIG_INTERRUPTS,
						     ATTRIB_SIG_THERMAL_EVENTS };
	enum { JOINED = sizeof(joined) / sizeof(joined[0]) };
	size_t step = a->ref_count / ANALYSIS_JOIN_SAMPLE + 1, count = 0;
	double *v[JOINED];

	v[0] = malloc(JOINED * (a->ref_count / step + 1) * sizeof(double));
	if (!v[0])
		return; /* no reference: those signals explain nothing */
	for (unsigned k = 1; k < JOINED; k++)
		v[k] = v[k - 1] + a->ref_count / step + 1;
	for (size_t i = a->ref_first; i <= a->ref_last; i += step) {
		struct attrib_sample s;

		sample_of(a, r, i, &s);
		for (unsigned k = 0; k < JOINED; k++)
			v[k][count] = s.signal[joined[k]];
		count++;
	}
	for (unsigned k = 0; k < JOINED; k++) {
		size_t known = 0;

		if (a->signal_counter[joined[k]] >= 0)
			continue; /* a counter of the trace: already set */
		for (size_t i = 0; i < count; i++)
			if (!isnan(v[k][i]))
				v[k][known++] = v[k][i];
		a->model.signal[joined[k]] = known ? median_double(v[k], known) : NAN;
	}
	free(v[0]);
}

int analysis_run(const struct recording_process *p, const struct recording_region *r,
		 struct analysis *a)
{
	return analysis_run_env(p, r, NULL, a);
}

int analysis_run_env(const struct recording_process *p, const struct recording_region *r,
		     struct env_join *env, struct analysis *a)
{
	size_t n = r->count;
	uint64_t *scratch;
	int err;

	memset(a, 0, sizeof(*a));
	a->steady = a->reference = -1;
	a->env = env;
	map_signals(p, a->signal_counter, a->signal_counter2);
	a->cpu_counter = recording_counter_index(p, ITP_COUNTER_CPU);
	if (!n) {
		a->classification = PHASES_TOO_FEW;
		snprintf(a->verdict, sizeof(a->verdict), "no iterations");
		return 0;
	}
	scratch = malloc(n * sizeof(*scratch));
	if (!scratch)
		return -ENOMEM;
	err = find_phases(a, r, scratch);
	if (err)
		goto out;
	if (a->classification == PHASES_TOO_FEW) {
		a->ref_first = 0;
		a->ref_last = n - 1;
	} else {
		a->reference = (long)a->phase_count - 1;
		a->ref_first = a->phase[a->reference].first;
		a->ref_last = a->phase[a->reference].last;
	}
	a->ref_count = a->ref_last - a->ref_first + 1;
	if (a->classification == PHASES_TOO_FEW) {
		struct stats_run run[2];

		column_get_range(&r->duration_ns, 0, n, scratch);
		sort_runs(run, span_runs(scratch, 0, n - 1, run));
	}
	{
		/* scratch: every duration, each phase's span sorted as
		 * span_runs() says (find_phases) */
		struct stats_run ref[2], *runs = malloc((2 * a->phase_count + 2) * sizeof(*runs));
		unsigned ref_runs = span_runs(scratch, a->ref_first, a->ref_last, ref), count = 0;

		if (!runs) {
			err = -ENOMEM;
			goto out;
		}
		stats_summarize_runs(ref, ref_runs, &a->ref_stats);
		a->p95_ns = stats_quantile_runs(ref, ref_runs, 0.95);
		stats_histogram_build_runs(ref, ref_runs, ANALYSIS_HISTOGRAM_BINS, &a->histogram);
		if (a->phase_count <= 1)
			count = span_runs(scratch, 0, n - 1, runs);
		for (size_t k = 0; a->phase_count > 1 && k < a->phase_count; k++)
			count += span_runs(scratch, a->phase[k].first, a->phase[k].last, runs + count);
		stats_summarize_runs(runs, count, &a->all_stats);
		free(runs);
	}

	for (size_t k = 0; k < a->phase_count; k++) {
		struct analysis_phase *ph = &a->phase[k];

		for (unsigned c = 0; c < p->counter_count; c++)
			ph->counter_median[c] = counter_median(r, c, ph->first, ph->last, scratch);
		if ((long)k == a->steady)
			ph->label = "steady";
		else if (a->steady < 0)
			ph->label = (long)k == a->reference ? "reference" : "changing";
		else
			ph->label = ph->median_ns > a->ref_stats.median ? "warm-up" : "faster";
	}
	a->model.duration_ns = a->ref_stats.median;
	for (unsigned s = 0; s < ATTRIB_SIGNAL_COUNT; s++) {
		int c = a->signal_counter[s];

		int c2 = a->signal_counter2[s];

		a->model.signal[s] = c < 0			 ? NAN
				     : a->reference >= 0 ? a->phase[a->reference].counter_median[c]
							 : counter_median(r, (unsigned)c, 0, n - 1, scratch);
		if (c >= 0 && c2 >= 0)
			a->model.signal[s] += a->reference >= 0
						      ? a->phase[a->reference].counter_median[c2]
						      : counter_median(r, (unsigned)c2, 0, n - 1, scratch);
	}
	if (env)
		join_reference(a, r);
	free(scratch);
	scratch = NULL;
	if (a->classification != PHASES_TOO_FEW) {
		double m = a->ref_stats.median, spread = ANALYSIS_SLOW_MADS * 1.4826 * a->ref_stats.mad;
		double floor = ANALYSIS_SLOW_REL * m > ANALYSIS_SLOW_NS ? ANALYSIS_SLOW_REL * m
									: ANALYSIS_SLOW_NS;

		a->has_threshold = true;
		a->threshold_ns = m + (spread > floor ? spread : floor);
		err = estimate_costs(a, r);
		if (err)
			goto out;
		attribute(a, r);
		describe_siblings(a, r);
	} else {
		attrib_estimator_finish(NULL, &a->model);
	}
	write_verdict(a, n);
out:
	free(scratch);
	if (err)
		analysis_free(a);
	return err;
}

void analysis_free(struct analysis *a)
{
	env_join_free(a->env);
	a->env = NULL;
	free(a->phase);
	a->phase = NULL;
	a->phase_count = 0;
}

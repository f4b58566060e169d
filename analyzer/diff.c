/*
 * diff: the change between two runs of a region and its verdict (diff.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

static const char *const verdict_names[DIFF_VERDICT_COUNT] = {
	[DIFF_REGRESSION] = "regression",   [DIFF_IMPROVEMENT] = "improvement",
	[DIFF_NO_CHANGE] = "no-change",     [DIFF_ENVIRONMENT] = "environment",
	[DIFF_WARMUP] = "warmup",           [DIFF_INCONCLUSIVE] = "inconclusive",
};

const char *diff_verdict_name(enum diff_verdict v)
{
	return (unsigned)v < DIFF_VERDICT_COUNT ? verdict_names[v] : NULL;
}

enum diff_verdict diff_verdict_parse(const char *name)
{
	for (unsigned v = 0; v < DIFF_VERDICT_COUNT; v++)
		if (!strcmp(name, verdict_names[v]))
			return (enum diff_verdict)v;
	return DIFF_VERDICT_COUNT;
}

const char *diff_work_measure_name(enum diff_work_measure m)
{
	return m == DIFF_WORK_INSTRUCTIONS ? "instructions"
	       : m == DIFF_WORK_ON_CPU	   ? "on-cpu-time"
					   : NULL;
}

/* How an environment cause reads in a verdict; NULL: a cause of the work
 * (or unexplained). Each starts with the cause's name. */
static const char *const environment_phrase[ATTRIB_CAUSE_COUNT] = {
	[ATTRIB_PREEMPTION] = "preemption by other tasks",
	[ATTRIB_BLOCKING] = "blocking (the thread slept)",
	[ATTRIB_MIGRATION] = "migration to other CPUs",
	[ATTRIB_FREQUENCY] = "frequency (a slower CPU clock)",
	[ATTRIB_CGROUP_THROTTLE] = "cgroup-throttle (the CPU quota ran out)",
	[ATTRIB_STEAL] = "steal by the hypervisor",
	[ATTRIB_INTERRUPTS] = "interrupts",
	[ATTRIB_SIBLING_THREADS] = "sibling-threads of the process",
	[ATTRIB_MAJOR_FAULTS] = "major-faults (pages read from disk)",
};

bool diff_cause_is_environment(enum attrib_cause c)
{
	return (unsigned)c < ATTRIB_CAUSE_COUNT && environment_phrase[c];
}

/* ------------------------------------------------------------------------
 * Hodges–Lehmann
 */

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The @k-th smallest (0-based) of @v[0..n), reordering @v (quickselect). */
static double select_double(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double t = v[i];

				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* z such that a standard normal lies within ±z with probability @p. */
static double normal_quantile(double p)
{
	double lo = 0, hi = 10;

	for (int k = 0; k < 100; k++) {
		double z = (lo + hi) / 2;

		if (erf(z / sqrt(2.0)) < p)
			lo = z;
		else
			hi = z;
	}
	return (lo + hi) / 2;
}

int diff_hodges_lehmann(double *x, size_t n, double *y, size_t m, double confidence,
			double *shift, double *low, double *high)
{
	size_t total = n * m, k = 0, c;
	double *d, nm = (double)n * (double)m, half;

	if (!n || !m)
		return -EINVAL;
	d = malloc(total * sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (size_t j = 0; j < m; j++)
		for (size_t i = 0; i < n; i++)
			d[k++] = y[j] - x[i];
	/* the rank statistic's quantile: the interval runs from the c-th
	 * smallest difference to the c-th largest (1-based) */
	half = normal_quantile(confidence) * sqrt(nm * ((double)n + (double)m + 1) / 12.0);
	c = nm / 2 - half >= 1 ? (size_t)floor(nm / 2 - half) : 1;
	if (c > (total + 1) / 2)
		c = (total + 1) / 2;
	*low = select_double(d, total, c - 1);
	*high = select_double(d, total, total - c);
	if (total % 2)
		*shift = select_double(d, total, total / 2);
	else
		*shift = (select_double(d, total, total / 2 - 1) +
			  select_double(d, total, total / 2)) / 2;
	free(d);
	qsort(x, n, sizeof(*x), compare_double);
	qsort(y, m, sizeof(*y), compare_double);
	return 0;
}

/* ------------------------------------------------------------------------
 * The two runs
 */

/* At most DIFF_SAMPLE evenly spaced reference durations of @s into a new
 * array; its length in *@n. */
static double *reference_sample(const struct diff_side *s, const struct diff_side_stats *st,
				size_t *n)
{
	size_t count = st->count < DIFF_SAMPLE ? st->count : DIFF_SAMPLE;
	double *v = malloc((count ? count : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t k = 0; k < count; k++)
		v[k] = (double)recording_duration(s->region, st->first + k * st->count / count);
	*n = count;
	return v;
}

static double sorted_median(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of counter @c (-1: none) over at most DIFF_SAMPLE evenly
 * spaced iterations of @st's compared range, or NAN without a value. */
static double compared_median(const struct diff_side *s, const struct diff_side_stats *st, int c)
{
	double v[DIFF_SAMPLE];
	size_t count = st->count < DIFF_SAMPLE ? st->count : DIFF_SAMPLE, n = 0;

	if (c < 0 || !count)
		return NAN;
	for (size_t k = 0; k < count; k++) {
		uint64_t x = recording_value(s->region, (unsigned)c,
					     st->first + k * st->count / count);

		if (x != ITP_VALUE_UNAVAILABLE)
			v[n++] = (double)x;
	}
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), compare_double);
	return sorted_median(v, n);
}

static void side_stats(const struct diff_side *s, struct diff_side_stats *st)
{
	const struct analysis *a = s->analysis;

	memset(st, 0, sizeof(*st));
	st->mean_ns = a->all_stats.mean;
	st->first = a->ref_first;
	st->count = a->ref_count;
	if (a->ref_count < DIFF_MIN_ITERATIONS && s->region->count >= 2 * DIFF_MIN_ITERATIONS) {
		/* a last phase too short to compare: the second half */
		st->count = s->region->count - s->region->count / 2;
		st->first = s->region->count / 2;
	}
	st->warmup_iterations = a->ref_first;
	for (size_t i = 0; i < a->ref_first && i < s->region->count; i++)
		st->warmup_ns += (double)recording_duration(s->region, i);
	for (size_t p = 0; p < a->phase_count; p++)
		if (a->phase[p].last < a->ref_first)
			for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
				st->warmup_cause_ns[c] += a->phase[p].cause_ns[c];
	st->cpu_ns = a->model.signal[ATTRIB_SIG_CPU_NS];
	st->instructions = a->model.signal[ATTRIB_SIG_INSTRUCTIONS];
	if (st->first != a->ref_first || st->count != a->ref_count) {
		/* the work measure of the iterations compared, not of the
		 * reference phase too short to compare: 5 iterations of 4x the
		 * on-CPU time at the end made a preempted run a "regression"
		 * of +300 % (test-diff-verdict.c, test_second_half) */
		st->cpu_ns = compared_median(s, st, a->signal_counter[ATTRIB_SIG_CPU_NS]);
		st->instructions =
			compared_median(s, st, a->signal_counter[ATTRIB_SIG_INSTRUCTIONS]);
	}
}

/* The slower run's reference iterations against the faster run's steady
 * state: the shares of their excess. */
static void explain_excess(const struct diff_side *slow, const struct diff_side_stats *st,
			   const struct diff_side *fast, struct diff_result *r)
{
	const struct analysis *a = slow->analysis;
	size_t count = st->count < DIFF_EXPLAIN_SAMPLE ? st->count : DIFF_EXPLAIN_SAMPLE;
	double sum[ATTRIB_CAUSE_COUNT] = { 0 }, ns[ATTRIB_CAUSE_COUNT], total = 0;

	for (size_t k = 0; k < count; k++) {
		size_t i = st->first + k * st->count / count;

		if (!(analysis_explain_against(a, slow->region, i, &fast->analysis->model, ns) > 0))
			continue;
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
			sum[c] += ns[c];
			total += ns[c];
		}
	}
	r->has_excess = total > 0;
	r->excess_ns = total;
	if (!r->has_excess)
		return;
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		r->cause_share[c] = sum[c] / total;
		if (diff_cause_is_environment((enum attrib_cause)c))
			r->env_share += r->cause_share[c];
		else if (c == ATTRIB_UNEXPLAINED)
			r->unexplained_share += r->cause_share[c];
		else
			r->work_cause_share += r->cause_share[c];
	}
}

/* The work measure and how much of the change of the median it carries. */
static void work_change(const struct diff_side *base, const struct diff_side *current,
			struct diff_result *r)
{
	double dmed = r->current.median_ns - r->base.median_ns;

	r->work_measure = DIFF_WORK_UNKNOWN;
	r->work_rel = r->work_share = NAN;
	if (r->base.instructions > 0 && r->current.instructions >= 0) {
		r->work_measure = DIFF_WORK_INSTRUCTIONS;
		r->work_rel = r->current.instructions / r->base.instructions - 1;
		/* at the base's instructions per ns of on-CPU time (or per
		 * ns of the iteration without task-clock) */
		r->work_share = r->work_rel *
				(r->base.cpu_ns >= 0 ? r->base.cpu_ns
						     : base->analysis->ref_stats.median) / dmed;
	} else if (r->base.cpu_ns > 0 && r->current.cpu_ns >= 0) {
		r->work_measure = DIFF_WORK_ON_CPU;
		r->work_rel = r->current.cpu_ns / r->base.cpu_ns - 1;
		r->work_share = (r->current.cpu_ns - r->base.cpu_ns) / dmed;
	}
	if (!isfinite(r->work_share))
		r->work_share = NAN;
}

/* "+340 %", "-1.2 %" */
static const char *percent(double rel, char *buf, size_t len)
{
	double p = rel * 100;

	snprintf(buf, len, fabs(p) >= 10 || p == 0 ? "%+.0f %%" : "%+.1f %%", p);
	return buf;
}

/* "62 %", or "all" from 99.5 % up (the steady part may go the other way) */
static const char *share_text(double share, char *buf, size_t len)
{
	if (share >= 0.995)
		snprintf(buf, len, "all");
	else
		snprintf(buf, len, "%.0f %%", share * 100);
	return buf;
}

/* "median +340 % (95 % CI +330 % … +351 %)" */
static void change_text(const struct diff_result *r, char *buf, size_t len)
{
	char m[24], sh[24], lo[24], hi[24];

	snprintf(buf, len, "median %s (shift %s, %.0f %% CI %s to %s)",
		 percent(r->median_rel, m, sizeof(m)), percent(r->shift_rel, sh, sizeof(sh)),
		 DIFF_CONFIDENCE * 100, percent(r->low_rel, lo, sizeof(lo)),
		 percent(r->high_rel, hi, sizeof(hi)));
}

/* "on-CPU time unchanged (+1.2 %)", "instructions +99 %" */
static void work_text(const struct diff_result *r, double threshold, char *buf, size_t len)
{
	char w[24];
	const char *what = r->work_measure == DIFF_WORK_INSTRUCTIONS ? "instructions" : "on-CPU time";

	if (r->work_measure == DIFF_WORK_UNKNOWN)
		snprintf(buf, len, "no counter of the work (instructions or on-CPU time)");
	else if (fabs(r->work_rel) < threshold)
		snprintf(buf, len, "%s unchanged (%s)", what, percent(r->work_rel, w, sizeof(w)));
	else
		snprintf(buf, len, "%s %s", what, percent(r->work_rel, w, sizeof(w)));
}

/* "78 % of the excess is preemption by other tasks (and 12 % sibling-threads
 * of the process)" from the environment causes; of the work causes with
 * @work. */
static void causes_text(const struct diff_result *r, bool work, char *buf, size_t len)
{
	unsigned best = ATTRIB_CAUSE_COUNT, second = ATTRIB_CAUSE_COUNT;

	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		if (c == ATTRIB_UNEXPLAINED || diff_cause_is_environment((enum attrib_cause)c) == work)
			continue;
		if (best == ATTRIB_CAUSE_COUNT || r->cause_share[c] > r->cause_share[best]) {
			second = best;
			best = c;
		} else if (second == ATTRIB_CAUSE_COUNT ||
			   r->cause_share[c] > r->cause_share[second]) {
			second = c;
		}
	}
	if (best == ATTRIB_CAUSE_COUNT || !(r->cause_share[best] > 0)) {
		snprintf(buf, len, "none of the excess is %s", work ? "work" : "the environment");
		return;
	}
#define PHRASE(c) (work ? attrib_cause_name(c) : environment_phrase[c])
	if (second < ATTRIB_CAUSE_COUNT && r->cause_share[second] >= 0.1)
		snprintf(buf, len, "%.0f %% of the excess is %s (and %.0f %% %s)",
			 r->cause_share[best] * 100, PHRASE(best), r->cause_share[second] * 100,
			 PHRASE(second));
	else
		snprintf(buf, len, "%.0f %% of the excess is %s", r->cause_share[best] * 100,
			 PHRASE(best));
#undef PHRASE
}

/* The main cause of @st's warm-up: "jit 97 %", or "" */
static void warmup_cause_text(const struct diff_side_stats *st, char *buf, size_t len)
{
	double total = 0;
	unsigned best = 0;

	buf[0] = '\0';
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		total += st->warmup_cause_ns[c];
		if (st->warmup_cause_ns[c] > st->warmup_cause_ns[best])
			best = c;
	}
	if (total > 0)
		snprintf(buf, len, ", %s %.0f %%", attrib_cause_name((enum attrib_cause)best),
			 st->warmup_cause_ns[best] / total * 100);
}

/* "current: 1 warm-up iteration of 343 ms (jit 97 %)" */
static void warmup_text(const char *who, const struct diff_side_stats *st, char *buf, size_t len)
{
	char d[32], cause[64];

	if (!st->warmup_iterations) {
		snprintf(buf, len, "%s: none", who);
		return;
	}
	warmup_cause_text(st, cause, sizeof(cause));
	snprintf(buf, len, "%s: %zu warm-up iteration%s, %s in all%s", who, st->warmup_iterations,
		 st->warmup_iterations == 1 ? "" : "s",
		 stats_format_duration(st->warmup_ns, d, sizeof(d)), cause);
}

/* The slower run never settled and was still getting faster. */
static bool still_warming(const struct analysis *a)
{
	return a->steady < 0 && a->phase_count >= 2 &&
	       a->phase[a->phase_count - 1].median_ns < 0.9 * a->phase[0].median_ns;
}

/* The shares of @ns that are the environment's, the work's and unexplained;
 * the largest environment cause in *@top. */
static double split_shares(const double ns[ATTRIB_CAUSE_COUNT], double *env, double *work,
			   double *unexplained, unsigned *top)
{
	double total = 0;

	*env = *work = *unexplained = 0;
	*top = ATTRIB_CAUSE_COUNT;
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
		total += ns[c];
	if (!(total > 0))
		return 0;
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		if (diff_cause_is_environment((enum attrib_cause)c)) {
			*env += ns[c] / total;
			if (*top == ATTRIB_CAUSE_COUNT || ns[c] > ns[*top])
				*top = c;
		} else if (c == ATTRIB_UNEXPLAINED) {
			*unexplained += ns[c] / total;
		} else {
			*work += ns[c] / total;
		}
	}
	return total;
}

/*
 * The steady states do not differ. The means may, by the warm-up: a warm-up
 * whose excess is mostly the environment's (a busy machine at the start) is
 * the environment verdict; any other (jit, first calls, page faults, cache
 * warm-up, or on-CPU time no counter explains) is the warmup verdict.
 */
static void verdict_unchanged(const struct diff_side *base, const struct diff_side *current,
			      double threshold, struct diff_result *r)
{
	double mean_delta = r->current.mean_ns - r->base.mean_ns;
	double warm_delta = r->current.warmup_ns / (double)current->region->count -
			    r->base.warmup_ns / (double)base->region->count;
	char change[128], mean[24], wb[128], wc[128], pct[16];

	change_text(r, change, sizeof(change));
	percent(r->mean_rel, mean, sizeof(mean));
	if (fabs(r->mean_rel) >= threshold && warm_delta * mean_delta > 0 &&
	    fabs(warm_delta) >= 0.5 * fabs(mean_delta)) {
		const struct diff_side_stats *w = warm_delta > 0 ? &r->current : &r->base;
		double env, work, unexplained;
		unsigned top;

		split_shares(w->warmup_cause_ns, &env, &work, &unexplained, &top);
		warmup_text("current", &r->current, wc, sizeof(wc));
		warmup_text("base", &r->base, wb, sizeof(wb));
		if (env < 0.5) {
			r->verdict = DIFF_WARMUP;
			snprintf(r->evidence, sizeof(r->evidence),
				 "warmup: the mean of all iterations %s but the steady states are "
				 "the same (%s); the warm-up makes %s of the difference (%s; %s)",
				 mean, change, share_text(warm_delta / mean_delta, pct, sizeof(pct)),
				 wc, wb);
		} else {
			r->verdict = DIFF_ENVIRONMENT;
			snprintf(r->evidence, sizeof(r->evidence),
				 "environment: the mean of all iterations %s but the steady states "
				 "are the same (%s); the %s run's early iterations were slowed by "
				 "%s (%.0f %% of their excess; %s; %s)",
				 mean, change, warm_delta > 0 ? "current" : "base",
				 environment_phrase[top], env * 100, wc, wb);
		}
		return;
	}
	r->verdict = DIFF_NO_CHANGE;
	if (r->is_significant)
		snprintf(r->evidence, sizeof(r->evidence),
			 "no-change: %s, below the threshold of %.3g %%", change, threshold * 100);
	else
		snprintf(r->evidence, sizeof(r->evidence), "no-change: %s, not significant",
			 change);
	if (fabs(r->mean_rel) >= threshold) {
		size_t at = strlen(r->evidence);
		bool slower = mean_delta > 0;
		double env, work, unexplained;
		unsigned top;

		explain_excess(slower ? current : base, slower ? &r->current : &r->base,
			       slower ? base : current, r);
		r->excess_is_base = !slower;
		split_shares(r->cause_share, &env, &work, &unexplained, &top);
		if (env >= 0.5)
			snprintf(r->evidence + at, sizeof(r->evidence) - at,
				 "; the mean of all iterations %s comes from slow iterations, "
				 "%.0f %% of their excess %s", mean, env * 100,
				 environment_phrase[top]);
		else
			snprintf(r->evidence + at, sizeof(r->evidence) - at,
				 "; the mean of all iterations %s comes from slow iterations", mean);
	}
}

static void verdict_changed(const struct diff_side *base, const struct diff_side *current,
			    double threshold, struct diff_result *r)
{
	bool slower = r->shift_ns > 0;
	const struct diff_side *slow = slower ? current : base, *fast = slower ? base : current;
	double w = r->work_share;
	char change[128], work[128], env[160], what[256];

	explain_excess(slow, slower ? &r->current : &r->base, fast, r);
	r->excess_is_base = !slower;
	change_text(r, change, sizeof(change));
	work_text(r, threshold, work, sizeof(work));
	causes_text(r, false, env, sizeof(env));
	if (r->work_measure != DIFF_WORK_UNKNOWN && w >= DIFF_WORK_SHARE) {
		r->verdict = slower ? DIFF_REGRESSION : DIFF_IMPROVEMENT;
		snprintf(r->evidence, sizeof(r->evidence), "%s: %s and %s: the work %s",
			 diff_verdict_name(r->verdict), change, work,
			 slower ? "grew" : "shrank");
		if (r->has_excess && r->env_share >= 0.25) {
			size_t at = strlen(r->evidence);

			snprintf(r->evidence + at, sizeof(r->evidence) - at,
				 " (besides, %s)", env);
		}
		return;
	}
	if (still_warming(slow->analysis) && !still_warming(fast->analysis)) {
		const struct analysis *a = slow->analysis;
		char first[32], last[32];

		r->verdict = DIFF_WARMUP;
		snprintf(r->evidence, sizeof(r->evidence),
			 "warmup: %s, but the %s run never reached a steady state: its iterations "
			 "were still getting faster (%s, then %s)",
			 change, slower ? "current" : "base",
			 stats_format_duration(a->phase[0].median_ns, first, sizeof(first)),
			 stats_format_duration(a->phase[a->phase_count - 1].median_ns, last,
					       sizeof(last)));
		return;
	}
	if ((r->work_measure == DIFF_WORK_UNKNOWN || !(w >= DIFF_WORK_NONE)) && r->has_excess &&
	    r->env_share >= DIFF_ENV_SHARE) {
		r->verdict = DIFF_ENVIRONMENT;
		snprintf(r->evidence, sizeof(r->evidence), "environment: %s but %s and %s%s",
			 change, work, env, slower ? "" : " in the base run");
		return;
	}
	r->verdict = DIFF_INCONCLUSIVE;
	if (!r->has_excess)
		snprintf(what, sizeof(what), "the %s run's iterations are not slower than the "
			 "other's steady state", slower ? "current" : "base");
	else if (r->work_measure == DIFF_WORK_UNKNOWN || !(w >= DIFF_WORK_NONE))
		snprintf(what, sizeof(what), "the environment explains only %.0f %% of the excess "
			 "(unexplained %.0f %%)", r->env_share * 100, r->unexplained_share * 100);
	else
		snprintf(what, sizeof(what), "evidence both ways: the work carries %.0f %% of the "
			 "change and %s", w * 100, env);
	snprintf(r->evidence, sizeof(r->evidence), "inconclusive: %s; %s; %s", change, work, what);
}

int diff_compare(const struct diff_side *base, const struct diff_side *current,
		 double threshold, struct diff_result *r)
{
	const struct analysis *a = base->analysis, *b = current->analysis;
	double *x = NULL, *y = NULL, med;
	size_t n = 0, m = 0;
	int err = 0;

	memset(r, 0, sizeof(*r));
	side_stats(base, &r->base);
	side_stats(current, &r->current);
	r->median_rel = NAN;
	r->mean_rel = r->base.mean_ns > 0 ? r->current.mean_ns / r->base.mean_ns - 1 : NAN;
	r->work_rel = r->work_share = NAN;
	if (r->base.count < DIFF_MIN_ITERATIONS || r->current.count < DIFF_MIN_ITERATIONS) {
		r->verdict = DIFF_INCONCLUSIVE;
		r->base.median_ns = a->ref_stats.median;
		r->current.median_ns = b->ref_stats.median;
		r->median_rel = r->base.median_ns > 0 ? r->current.median_ns / r->base.median_ns - 1
						       : NAN;
		r->shift_ns = r->low_ns = r->high_ns = NAN;
		r->shift_rel = r->low_rel = r->high_rel = NAN;
		snprintf(r->evidence, sizeof(r->evidence),
			 "inconclusive: too few iterations to compare (base %zu, current %zu in "
			 "their steady state or last phase; %d needed)",
			 r->base.count, r->current.count, DIFF_MIN_ITERATIONS);
		return 0;
	}
	x = reference_sample(base, &r->base, &n);
	y = reference_sample(current, &r->current, &m);
	if (!x || !y) {
		err = -ENOMEM;
		goto out;
	}
	err = diff_hodges_lehmann(x, n, y, m, DIFF_CONFIDENCE, &r->shift_ns, &r->low_ns,
				  &r->high_ns);
	if (err)
		goto out;
	/* the medians of what is compared (x and y are sorted now) */
	r->base.median_ns = r->base.count == a->ref_count ? a->ref_stats.median
							  : sorted_median(x, n);
	r->current.median_ns = r->current.count == b->ref_count ? b->ref_stats.median
								: sorted_median(y, m);
	med = r->base.median_ns;
	r->median_rel = r->current.median_ns / med - 1;
	r->shift_rel = r->shift_ns / med;
	r->low_rel = r->low_ns / med;
	r->high_rel = r->high_ns / med;
	r->is_significant = r->low_ns > 0 || r->high_ns < 0;
	work_change(base, current, r);
	if (r->is_significant && fabs(r->shift_rel) >= threshold)
		verdict_changed(base, current, threshold, r);
	else
		verdict_unchanged(base, current, threshold, r);
out:
	free(x);
	free(y);
	return err;
}

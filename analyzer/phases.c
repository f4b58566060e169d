/*
 * Phases and classification of a region's iteration times (phases.h).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "changepoint.h"
#include "phases.h"
#include "stats.h"

const char *phases_class_name(enum phases_class c)
{
	switch (c) {
	case PHASES_TOO_FEW: return "too-few";
	case PHASES_FLAT: return "flat";
	case PHASES_WARMUP: return "warmup";
	case PHASES_SLOWDOWN: return "slowdown";
	case PHASES_NO_STEADY_STATE: return "no-steady-state";
	}
	return "?";
}

/* Median (and in *@mad the MAD) of the values of ns[first..last] that are
 * not outliers (all of them if every one is), into @scratch. */
static double span_median(const uint64_t *ns, const unsigned char *out, size_t first,
			  size_t last, uint64_t *scratch, double *mad)
{
	size_t m = 0;

	for (size_t i = first; i <= last; i++)
		if (!out[i])
			scratch[m++] = ns[i];
	if (m == 0)
		for (size_t i = first; i <= last; i++)
			scratch[m++] = ns[i];
	stats_sort(scratch, m);
	*mad = stats_mad_sorted(scratch, m);
	return stats_quantile_sorted(scratch, m, 0.5);
}

/* Phases @a and @b are one: their medians differ by no more than the
 * tolerance, or than the noise of their iterations (noise_mads x 1.4826 x
 * the larger MAD: on a shared VM two stretches of one steady state differ
 * by a few per cent, within the spread of the noisier one). */
static int is_close(const struct phases_options *o, const struct phase *a, const struct phase *b)
{
	double small = a->median_ns < b->median_ns ? a->median_ns : b->median_ns;
	double noise = o->noise_mads * 1.4826 * (a->mad_ns > b->mad_ns ? a->mad_ns : b->mad_ns);
	double tolerance = o->tolerance_rel * small;

	if (tolerance < o->tolerance_ns)
		tolerance = o->tolerance_ns;
	if (tolerance < noise)
		tolerance = noise;
	return fabs(a->median_ns - b->median_ns) <= tolerance;
}

void phases_classify(struct phases *p, size_t n, const struct phases_options *options)
{
	static const struct phases_options defaults = PHASES_OPTIONS_DEFAULT;
	const struct phases_options *o = options ? options : &defaults;
	const struct phase *last;
	int faster_before = 0;

	p->steady = -1;
	if (!p->count) {
		p->classification = PHASES_TOO_FEW;
		return;
	}
	last = &p->phase[p->count - 1];
	for (size_t i = 0; i + 1 < p->count; i++)
		faster_before |= p->phase[i].median_ns < last->median_ns &&
				 !is_close(o, &p->phase[i], last);
	if (p->count == 1)
		p->classification = PHASES_FLAT;
	else if ((last->last - last->first + 1) * 4 < n)
		p->classification = PHASES_NO_STEADY_STATE;
	else
		p->classification = faster_before ? PHASES_SLOWDOWN : PHASES_WARMUP;
	if (p->classification != PHASES_NO_STEADY_STATE)
		p->steady = (long)p->count - 1;
}

/* Phases @i .. @j (inclusive) of @p become one. */
static void join_phases(struct phases *p, size_t i, size_t j, const uint64_t *ns,
			const unsigned char *out, uint64_t *scratch)
{
	struct phase *a = &p->phase[i];

	a->last = p->phase[j].last;
	a->median_ns = span_median(ns, out, a->first, a->last, scratch, &a->mad_ns);
	memmove(&p->phase[i + 1], &p->phase[j + 1], (p->count - j - 1) * sizeof(*p->phase));
	p->count -= j - i;
}

/*
 * Step 3, until nothing changes:
 *  - neighbours whose medians are within the tolerance merge;
 *  - a short phase (at most max(min_iterations, 2 % of the iterations))
 *    between two that are within the tolerance of each other is absorbed
 *    with both: a stall or a few slower iterations after a sleep in the
 *    middle of a steady state is not a phase (its iterations show as slow
 *    ones), and without this the two halves around it stay apart.
 */
static void merge_phases(struct phases *p, const uint64_t *ns, const unsigned char *out, size_t n,
			 const struct phases_options *o, uint64_t *scratch)
{
	size_t short_len = n / 50 > o->min_iterations ? n / 50 : o->min_iterations;
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 1; i < p->count;) {
			if (is_close(o, &p->phase[i - 1], &p->phase[i])) {
				join_phases(p, i - 1, i, ns, out, scratch);
				changed = true;
			} else {
				i++;
			}
		}
		for (size_t i = 1; i + 1 < p->count;) {
			const struct phase *mid = &p->phase[i];

			if (mid->last - mid->first + 1 <= short_len &&
			    is_close(o, &p->phase[i - 1], &p->phase[i + 1])) {
				join_phases(p, i - 1, i + 1, ns, out, scratch);
				changed = true;
			} else {
				i++;
			}
		}
	}
}

int phases_find(const uint64_t *ns, size_t n, const struct phases_options *options,
		struct phases *p)
{
	static const struct phases_options defaults = PHASES_OPTIONS_DEFAULT;
	const struct phases_options *o = options ? options : &defaults;
	unsigned char *out = NULL;
	double *kept = NULL;
	size_t *index = NULL, *ends = NULL, nends = 0, m = 0;
	uint64_t *scratch = NULL;
	long outliers;
	int err = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->steady = -1;
	if (n < o->min_iterations || n < 4) {
		p->classification = PHASES_TOO_FEW;
		return 0;
	}
	out = malloc(n);
	kept = malloc(n * sizeof(*kept));
	index = malloc(n * sizeof(*index));
	scratch = malloc(n * sizeof(*scratch));
	if (!out || !kept || !index || !scratch)
		goto done;
	{
		/* the outlier test works on doubles: convert once */
		double *x = kept;

		for (size_t i = 0; i < n; i++)
			x[i] = (double)ns[i];
		outliers = changepoint_outliers(x, n, 200, 3, out);
		if (outliers < 0) {
			err = (int)outliers;
			goto done;
		}
		/* Three or more far-out iterations in a row are a phase (a
		 * warm-up's first iterations), not outliers. */
		for (size_t i = 0; i < n;) {
			size_t run = 0;

			while (i + run < n && out[i + run])
				run++;
			if (run >= 3) {
				memset(out + i, 0, run);
				outliers -= (long)run;
			}
			i += run ? run : 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (!out[i]) {
				x[m] = x[i]; /* m <= i: in place */
				index[m++] = i;
			}
		}
	}
	p->outliers = (size_t)outliers;
	{
		double mad, median = span_median(ns, out, 0, n - 1, scratch, &mad);
		double floor = 0.001 * median * 0.001 * median + 1;

		err = changepoint_pelt(kept, m, changepoint_default_penalty(m), floor, 2, &ends,
				       &nends);
		if (err)
			goto done;
	}
	p->phase = malloc(nends * sizeof(*p->phase));
	if (!p->phase) {
		err = -ENOMEM;
		goto done;
	}
	/* Segments of kept values back to iteration spans: each ends where the
	 * next begins, outliers included in the span that holds them. */
	for (size_t s = 0; s < nends; s++) {
		struct phase *ph = &p->phase[p->count];

		ph->first = s == 0 ? 0 : p->phase[p->count - 1].last + 1;
		ph->last = s + 1 == nends ? n - 1 : index[ends[s]] - 1;
		ph->median_ns = span_median(ns, out, ph->first, ph->last, scratch, &ph->mad_ns);
		p->count++;
	}
	merge_phases(p, ns, out, n, o, scratch);
	phases_classify(p, n, o);
	err = 0;
done:
	free(out);
	free(kept);
	free(index);
	free(scratch);
	free(ends);
	if (err)
		phases_free(p);
	return err;
}

void phases_free(struct phases *p)
{
	free(p->phase);
	p->phase = NULL;
	p->count = 0;
}

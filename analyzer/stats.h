/*
 * stats: robust statistics over uint64 samples (iteration durations in ns,
 * counter deltas), and a text histogram.
 *
 * Quantiles use linear interpolation between the order statistics
 * (Hyndman & Fan definition 7, the default of R, NumPy and Excel's
 * PERCENTILE.INC): for sorted x[0..n-1] and 0 <= q <= 1,
 *     h = (n - 1) q,  Q(q) = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])
 * so Q(0) = min, Q(1) = max, and the median of an even n is the mean of the
 * two middle values.
 *
 * MAD is the raw median absolute deviation, median(|x_i - median(x)|),
 * without the 1.4826 factor that makes it estimate a normal sigma.
 *
 * Cost: stats_summarize() sorts one copy of the samples (radix sort: 10
 * million samples in well under a second) and finds the MAD by walking out
 * from the median over the sorted copy, without a second sort.
 */
#ifndef ITERPROF_STATS_H
#define ITERPROF_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct stats_summary {
	size_t n;
	uint64_t min, max;
	uint64_t total; /* sum, saturated at UINT64_MAX */
	double mean;
	double median, p90, p99;
	double mad;
};

/*
 * Summarize @n samples (@values is not modified). Returns 0, -EINVAL for
 * n == 0, or -ENOMEM.
 */
int stats_summarize(const uint64_t *values, size_t n, struct stats_summary *summary);

/* The same over @n >= 1 values already sorted ascending; no allocation. */
void stats_summarize_sorted(const uint64_t *sorted, size_t n, struct stats_summary *summary);

/* Sort @n values ascending in place. Radix sort with a scratch buffer; falls
 * back to an in-place sort if that cannot be allocated. */
void stats_sort(uint64_t *values, size_t n);

/* Quantile @q (0..1, clamped) of @n >= 1 values sorted ascending; see top. */
double stats_quantile_sorted(const uint64_t *sorted, size_t n, double q);

/* Quantile @q of unsorted values (sorts a copy). 0, -EINVAL (n == 0) or
 * -ENOMEM. */
int stats_quantile(const uint64_t *values, size_t n, double q, double *result);

/* A sorted array; several of them summarised as one sample. */
struct stats_run {
	const uint64_t *values;
	size_t len;
};

/* stats_summarize over the union of @count runs, each sorted ascending,
 * without merging them (same definitions; the mean is the exact sum over
 * n). With no value at all, everything is 0. */
void stats_summarize_runs(const struct stats_run *runs, unsigned count,
			  struct stats_summary *summary);

/* Quantile @q (as stats_quantile_sorted) and MAD around @median of the
 * union of @count sorted runs; 0 without any value. */
double stats_quantile_runs(const struct stats_run *runs, unsigned count, double q);
double stats_mad_runs(const struct stats_run *runs, unsigned count, double median);

/* The @k-th smallest (0-based, k < n) of @n >= 1 values, found by
 * reordering them in place (expected O(n)). */
uint64_t stats_select(uint64_t *values, size_t n, size_t k);

/* MAD of @n >= 1 sorted values around their median. O(n), no allocation. */
double stats_mad_sorted(const uint64_t *sorted, size_t n);

/*
 * Histogram: bins are log-spaced between min and max, because iteration
 * times have long right tails (a page fault, a preemption) that would
 * squeeze a linear histogram's body into one bin; over a narrow range
 * log-spaced bins are almost linear anyway. Bin i holds
 *     lower[i] <= x < lower[i + 1]  (the last bin includes max).
 * All samples equal: one bin.
 */
#define STATS_HISTOGRAM_MAX_BINS 64

struct stats_histogram {
	unsigned bins;
	uint64_t lower[STATS_HISTOGRAM_MAX_BINS + 1]; /* lower[bins] = max */
	uint64_t count[STATS_HISTOGRAM_MAX_BINS];
};

/* Build a histogram of @n >= 1 values sorted ascending with at most
 * @max_bins bins (1..STATS_HISTOGRAM_MAX_BINS). Empty bins at the ends are
 * kept: they show the gaps. */
void stats_histogram_build(const uint64_t *sorted, size_t n, unsigned max_bins,
			   struct stats_histogram *histogram);

/* The same over the union of @count sorted runs (see stats_run); no bin
 * without any value. */
void stats_histogram_build_runs(const struct stats_run *runs, unsigned count, unsigned max_bins,
				struct stats_histogram *histogram);

/*
 * Print the histogram, one line per bin, each at most @width columns
 * (>= 40), each starting with @indent:
 *     <indent>1.20 µs - 1.35 µs |#########                     | 1234
 * Bin bounds are durations in ns, printed with stats_format_duration().
 */
void stats_histogram_print(const struct stats_histogram *histogram, FILE *out,
			   const char *indent, unsigned width);

/* Format @ns as a human duration with 3 significant digits: "812 ns",
 * "1.23 µs", "45.6 ms", "2.00 s". Returns @buf. */
char *stats_format_duration(double ns, char *buf, size_t len);

/* Columns @s takes on a terminal (UTF-8 continuation bytes take none). */
size_t stats_display_width(const char *s);

#endif /* ITERPROF_STATS_H */

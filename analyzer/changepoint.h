/*
 * changepoint: where a series of iteration times changes its level or its
 * spread, found exactly by PELT (Killick, Fearnhead & Eckley, "Optimal
 * detection of changepoints with a linear computational cost", JASA 2012).
 *
 * A segmentation of x[0..n-1] into segments [a, b) costs
 *     sum over segments of  m log(max(var(x[a..b)), var_floor))  +  penalty per change,
 * m = b - a, var the segment's maximum-likelihood variance: twice the
 * negative log-likelihood of independent normal samples with a mean and a
 * variance of their own per segment, constants dropped (the cost the
 * warmup_stats work of Barrett et al., "Virtual Machine Warmup Blows Hot and
 * Cold", OOPSLA 2017, uses with PELT, with a penalty of 15 log n). PELT finds
 * the segmentation of least cost, exactly, pruning every candidate start that
 * can no longer begin the last segment (for this cost splitting a segment
 * never costs more than keeping it, so the pruning is exact); with changes
 * spread through the series it runs in linear time.
 *
 * var_floor keeps runs of equal values (a coarse clock) from costing -inf:
 * a segment's variance counts as at least that much. Callers pass the
 * square of the smallest difference in time that matters to them.
 *
 * Outliers are the caller's to remove first: a single slow iteration is, to
 * this cost, a segment of its own when it is far enough out.
 */
#ifndef ITERPROF_CHANGEPOINT_H
#define ITERPROF_CHANGEPOINT_H

#include <stddef.h>

/* The penalty per change that warmup_stats uses: 15 log n. */
double changepoint_default_penalty(size_t n);

/*
 * Segment @n >= 1 values into segments of at least @min_segment (>= 2)
 * values each. On success, returns 0 and sets *ends to a malloc'ed array of
 * *count segment ends (each segment's end, exclusive, increasing; the last
 * is n): segment i is [ends[i - 1], ends[i]), with ends[-1] taken as 0. A
 * series shorter than 2 * min_segment is one segment. Returns -EINVAL (n ==
 * 0, min_segment < 2, penalty < 0 or not finite, var_floor <= 0) or
 * -ENOMEM. Memory: about 36 bytes per value while it runs.
 */
int changepoint_pelt(const double *x, size_t n, double penalty, double var_floor,
		     size_t min_segment, size_t **ends, size_t *count);

/*
 * Mark outliers before segmenting: in consecutive blocks of @window values
 * (the last block takes the remainder; >= 4), a value is an outlier when it
 * lies outside Tukey's fences Q1 - k IQR, Q3 + k IQR of its block (k = 3:
 * "far out"; warmup_stats uses these fences over windows of 200). Blocks
 * rather than a window sliding per value: one sort per block, so 10 million
 * values cost a few sorts of 200 each per thousand. is_outlier[i] is set to
 * 1 or 0. Returns the number of outliers, or -EINVAL (window < 4, k < 0) or
 * -ENOMEM.
 */
long changepoint_outliers(const double *x, size_t n, size_t window, double k,
			  unsigned char *is_outlier);

#endif /* ITERPROF_CHANGEPOINT_H */

/*
 * PELT over the normal mean-and-variance cost (changepoint.h).
 *
 * Segment costs come from prefix sums of x and x^2 in O(1) each. The values
 * are centred on their mean first: the variance is a difference of two large
 * sums, and centring keeps them small (iteration times of 10^5 ns with a
 * spread of 10 ns would otherwise lose digits over millions of values).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "changepoint.h"

double changepoint_default_penalty(size_t n)
{
	return n > 1 ? 15.0 * log((double)n) : 0.0;
}

struct prefix {
	const double *s1, *s2; /* s1[i] = sum of x[0..i), s2 the squares */
	double var_floor;
};

/* The cost of segment [a, b), b - a >= 2. */
static double segment_cost(const struct prefix *p, size_t a, size_t b)
{
	double m = (double)(b - a);
	double mean = (p->s1[b] - p->s1[a]) / m;
	double var = (p->s2[b] - p->s2[a]) / m - mean * mean;

	if (!(var > p->var_floor))
		var = p->var_floor;
	return m * log(var);
}

int changepoint_pelt(const double *x, size_t n, double penalty, double var_floor,
		     size_t min_segment, size_t **ends, size_t *count)
{
	double *s1 = NULL, *s2 = NULL, *f = NULL, centre = 0;
	uint32_t *last = NULL, *cand = NULL;
	size_t ncand = 0, k = 0, *out = NULL;
	struct prefix p;
	int err = -ENOMEM;

	*ends = NULL;
	*count = 0;
	if (n == 0 || min_segment < 2 || !(penalty >= 0) || isinf(penalty) || !(var_floor > 0))
		return -EINVAL;
	if (n > UINT32_MAX - 1)
		return -EINVAL; /* indices are kept in 32 bits (memory) */
	if (n < 2 * min_segment) {
		out = malloc(sizeof(*out));
		if (!out)
			return -ENOMEM;
		out[0] = n;
		*ends = out;
		*count = 1;
		return 0;
	}
	s1 = malloc((n + 1) * sizeof(*s1));
	s2 = malloc((n + 1) * sizeof(*s2));
	f = malloc((n + 1) * sizeof(*f));
	last = malloc((n + 1) * sizeof(*last));
	cand = malloc((n + 1) * sizeof(*cand));
	if (!s1 || !s2 || !f || !last || !cand)
		goto out;
	for (size_t i = 0; i < n; i++)
		centre += x[i] / (double)n;
	s1[0] = s2[0] = 0;
	for (size_t i = 0; i < n; i++) {
		double v = x[i] - centre;

		s1[i + 1] = s1[i] + v;
		s2[i + 1] = s2[i] + v * v;
	}
	p = (struct prefix){ .s1 = s1, .s2 = s2, .var_floor = var_floor };

	/* f[t]: the least cost of x[0..t) plus one penalty per segment, so
	 * that f[0] = -penalty makes the first segment free of it. */
	f[0] = -penalty;
	for (size_t t = 1; t <= n; t++)
		f[t] = INFINITY;
	for (size_t t = min_segment; t <= n; t++) {
		size_t fresh = t - min_segment, kept = 0;
		double best = INFINITY;
		uint32_t arg = 0;

		/* A segment ending at t may start at fresh when x[0..fresh)
		 * has a segmentation (fresh = 0, or fresh >= min_segment). */
		if (fresh == 0 || fresh >= min_segment)
			cand[ncand++] = (uint32_t)fresh;
		for (size_t i = 0; i < ncand; i++) {
			double v = f[cand[i]] + segment_cost(&p, cand[i], t) + penalty;

			if (v < best) {
				best = v;
				arg = cand[i];
			}
		}
		f[t] = best;
		last[t] = arg;
		/* Pruning: a start that cannot beat f[t] now never will. */
		for (size_t i = 0; i < ncand; i++) {
			if (f[cand[i]] + segment_cost(&p, cand[i], t) <= f[t])
				cand[kept++] = cand[i];
		}
		ncand = kept;
	}

	for (size_t t = n; t > 0; t = last[t])
		k++;
	out = malloc(k * sizeof(*out));
	if (!out)
		goto out;
	for (size_t t = n, i = k; t > 0; t = last[t])
		out[--i] = t;
	*ends = out;
	*count = k;
	err = 0;
out:
	free(s1);
	free(s2);
	free(f);
	free(last);
	free(cand);
	return err;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Quantile q of @n >= 1 sorted values, interpolated (as stats.h). */
static double quantile_sorted(const double *v, size_t n, double q)
{
	double h = (double)(n - 1) * q;
	size_t i = (size_t)h;

	return i + 1 < n ? v[i] + (h - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

long changepoint_outliers(const double *x, size_t n, size_t window, double k,
			  unsigned char *is_outlier)
{
	double *sorted;
	long found = 0;

	if (window < 4 || !(k >= 0))
		return -EINVAL;
	sorted = malloc((n < 2 * window ? (n ? n : 1) : 2 * window) * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t start = 0; start < n;) {
		/* the last block takes a remainder shorter than a window */
		size_t m = n - start < 2 * window ? n - start : window;
		double q1, q3, low, high;

		for (size_t i = 0; i < m; i++)
			sorted[i] = x[start + i];
		qsort(sorted, m, sizeof(*sorted), compare_double);
		q1 = quantile_sorted(sorted, m, 0.25);
		q3 = quantile_sorted(sorted, m, 0.75);
		low = q1 - k * (q3 - q1);
		high = q3 + k * (q3 - q1);
		for (size_t i = start; i < start + m; i++) {
			is_outlier[i] = x[i] < low || x[i] > high;
			found += is_outlier[i];
		}
		start += m;
	}
	free(sorted);
	return found;
}

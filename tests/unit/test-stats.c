/*
 * Unit tests of analyzer/stats.c on arrays whose answers are known by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#include "synthetic.h"
#include "unit-test.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(b) > 1 ? fabs(b) : 1);
}

static void summarize(const uint64_t *v, size_t n, struct stats_summary *s)
{
	int err = stats_summarize(v, n, s);

	CHECK(err == 0, "stats_summarize: %d", err);
}

static void test_single(void)
{
	uint64_t v[] = { 42 };
	struct stats_summary s;

	summarize(v, 1, &s);
	CHECK(s.n == 1 && s.min == 42 && s.max == 42, "min %llu max %llu",
	      (unsigned long long)s.min, (unsigned long long)s.max);
	CHECK(near(s.median, 42) && near(s.p90, 42) && near(s.p99, 42), "median %g", s.median);
	CHECK(near(s.mean, 42), "mean %g", s.mean);
	CHECK(near(s.mad, 0), "mad %g", s.mad);
	CHECK(s.total == 42, "total");
}

static void test_odd(void)
{
	/* sorted: 1 2 3 4 100; median 3; deviations 2 1 0 1 97 -> 0 1 1 2 97 */
	uint64_t v[] = { 100, 3, 1, 4, 2 };
	struct stats_summary s;

	summarize(v, 5, &s);
	CHECK(s.min == 1 && s.max == 100, "min/max");
	CHECK(near(s.median, 3), "median %g", s.median);
	CHECK(near(s.mean, 22), "mean %g", s.mean);
	CHECK(near(s.mad, 1), "mad %g", s.mad);
	/* p90: h = 4 * 0.9 = 3.6 -> 4 + 0.6 * 96 = 61.6 */
	CHECK(near(s.p90, 61.6), "p90 %g", s.p90);
	/* p99: h = 3.96 -> 4 + 0.96 * 96 = 96.16 */
	CHECK(near(s.p99, 96.16), "p99 %g", s.p99);
	CHECK(v[0] == 100 && v[4] == 2, "input left alone");
}

static void test_even(void)
{
	/* sorted 10 20 30 40; median 25; deviations 15 5 5 15 -> mad 10 */
	uint64_t v[] = { 40, 10, 30, 20 };
	struct stats_summary s;

	summarize(v, 4, &s);
	CHECK(near(s.median, 25), "median %g", s.median);
	CHECK(near(s.mad, 10), "mad %g", s.mad);
	CHECK(near(s.mean, 25), "mean %g", s.mean);
	/* p90: h = 2.7 -> 30 + 0.7 * 10 = 37 */
	CHECK(near(s.p90, 37), "p90 %g", s.p90);

	/* sorted 1 2 3 4 5 6; median 3.5; deviations 2.5 1.5 .5 .5 1.5 2.5
	 * -> sorted .5 .5 1.5 1.5 2.5 2.5 -> mad 1.5 */
	uint64_t w[] = { 6, 5, 4, 3, 2, 1 };
	summarize(w, 6, &s);
	CHECK(near(s.median, 3.5), "median %g", s.median);
	CHECK(near(s.mad, 1.5), "mad %g", s.mad);
}

static void test_duplicates(void)
{
	uint64_t v[] = { 7, 7, 7, 7, 7, 7, 7 };
	uint64_t w[] = { 5, 5, 5, 5, 9, 1000, 5, 5 };
	struct stats_summary s;

	summarize(v, 7, &s);
	CHECK(near(s.median, 7) && near(s.mad, 0) && near(s.p99, 7), "all equal");
	/* sorted 5 5 5 5 5 5 9 1000: median 5, deviations 0 x6, 4, 995 -> 0 */
	summarize(w, 8, &s);
	CHECK(near(s.median, 5), "median %g", s.median);
	CHECK(near(s.mad, 0), "mad %g", s.mad);
	CHECK(s.max == 1000, "max");
	/* two values: median = mean of both, mad = half the distance */
	uint64_t x[] = { 100, 200 };
	summarize(x, 2, &s);
	CHECK(near(s.median, 150) && near(s.mad, 50), "median %g mad %g", s.median, s.mad);
}

static void test_quantile(void)
{
	uint64_t v[] = { 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };
	double q;

	CHECK(stats_quantile_sorted(v, 11, 0) == 0, "q0");
	CHECK(stats_quantile_sorted(v, 11, 1) == 100, "q1");
	CHECK(near(stats_quantile_sorted(v, 11, 0.25), 25), "q.25");
	CHECK(near(stats_quantile_sorted(v, 11, 0.99), 99), "q.99");
	CHECK(stats_quantile_sorted(v, 11, -1) == 0, "q<0 clamps");
	CHECK(stats_quantile_sorted(v, 11, 2) == 100, "q>1 clamps");
	CHECK(stats_quantile(v, 0, 0.5, &q) < 0, "n=0 refused");
	CHECK(stats_quantile(v, 11, 0.5, &q) == 0 && near(q, 50), "q %g", q);

	struct stats_summary s;
	CHECK(stats_summarize(v, 0, &s) < 0, "empty summary refused");

	/* large values near 2^64 stay exact where they are equal */
	uint64_t big[] = { UINT64_MAX - 1, UINT64_MAX - 1, UINT64_MAX };
	summarize(big, 3, &s);
	CHECK(s.max == UINT64_MAX && s.total == UINT64_MAX, "saturated total");
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* MAD by the definition: sort the deviations and take their median. */
static double mad_by_definition(const uint64_t *sorted, size_t n)
{
	double m = stats_quantile_sorted(sorted, n, 0.5);
	double *d = malloc(n * sizeof(*d));
	double r;

	for (size_t i = 0; i < n; i++)
		d[i] = fabs((double)sorted[i] - m);
	for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
		for (size_t j = i; j > 0 && d[j - 1] > d[j]; j--) {
			double t = d[j];
			d[j] = d[j - 1];
			d[j - 1] = t;
		}
	r = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
	free(d);
	return r;
}

static void test_sort_and_mad_random(void)
{
	enum { N = 100000 };
	uint64_t *a = malloc(N * sizeof(*a)), *b = malloc(N * sizeof(*b));
	int same = 1, mad_ok = 1;

	for (size_t i = 0; i < N; i++)
		a[i] = b[i] = (i % 3 == 0) ? rng() : 1000000 + rng() % 5000;
	stats_sort(a, N);
	qsort(b, N, sizeof(*b), cmp_u64);
	for (size_t i = 0; i < N; i++)
		same &= a[i] == b[i];
	CHECK(same, "radix sort agrees with qsort");

	/* every value under 2^32: the in-place 32-bit path (odd and even n,
	 * UINT32_MAX itself, an odd number of digit passes) */
	for (size_t n = 64; n <= 70001; n += 69937) {
		same = 1;
		for (size_t i = 0; i < n; i++)
			a[i] = b[i] = i == 7 ? UINT32_MAX : (rng() & 0xffffff);
		stats_sort(a, n);
		qsort(b, n, sizeof(*b), cmp_u64);
		for (size_t i = 0; i < n; i++)
			same &= a[i] == b[i];
		CHECK(same, "32-bit radix sort of %zu values agrees with qsort", n);
	}

	for (unsigned trial = 0; trial < 200; trial++) {
		size_t n = 1 + rng() % 60;
		uint64_t v[60];

		for (size_t i = 0; i < n; i++)
			v[i] = rng() % 20;
		stats_sort(v, n);
		if (!near(stats_mad_sorted(v, n), mad_by_definition(v, n)))
			mad_ok = 0;
	}
	CHECK(mad_ok, "MAD walk agrees with the definition");
	free(a);
	free(b);
}

static void test_histogram(void)
{
	uint64_t v[1000];
	struct stats_histogram h;
	uint64_t sum = 0;
	int increasing = 1;

	for (size_t i = 0; i < 1000; i++)
		v[i] = 1000 + i * i; /* 1000 .. 999001 */
	stats_histogram_build(v, 1000, 12, &h);
	CHECK(h.bins >= 2 && h.bins <= 12, "bins %u", h.bins);
	for (unsigned i = 0; i < h.bins; i++) {
		sum += h.count[i];
		increasing &= h.lower[i] < h.lower[i + 1];
	}
	CHECK(sum == 1000, "counts sum to n: %llu", (unsigned long long)sum);
	CHECK(increasing, "bounds increase");
	CHECK(h.lower[0] == 1000 && h.lower[h.bins] == 999001, "bounds are min and max");
	/* log spacing: the bins' ratio is constant, about (999001/1000)^(1/12) */
	CHECK(h.lower[1] > 1500 && h.lower[1] < 2000, "first edge %llu",
	      (unsigned long long)h.lower[1]);

	uint64_t same[] = { 5, 5, 5 };
	stats_histogram_build(same, 3, 12, &h);
	CHECK(h.bins == 1 && h.count[0] == 3, "one bin for equal values");

	uint64_t small[] = { 0, 1, 1, 2, 3 };
	stats_histogram_build(small, 5, 12, &h);
	CHECK(h.bins == 4 && h.count[1] == 2 && h.count[3] == 1, "one bin per small integer");

	/* the printout fits its width */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int fits = 1;

	stats_histogram_build(v, 1000, 12, &h);
	stats_histogram_print(&h, f, "    ", 100);
	fclose(f);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		fits &= stats_display_width(line) <= 100;
	CHECK(fits, "histogram lines fit 100 columns");
	free(text);
}

static void test_format(void)
{
	char buf[32];

	CHECK(!strcmp(stats_format_duration(812, buf, sizeof(buf)), "812 ns"), "%s", buf);
	CHECK(!strcmp(stats_format_duration(1234, buf, sizeof(buf)), "1.23 µs"), "%s", buf);
	CHECK(!strcmp(stats_format_duration(999.7, buf, sizeof(buf)), "1.00 µs"), "%s", buf);
	CHECK(!strcmp(stats_format_duration(45600000, buf, sizeof(buf)), "45.6 ms"), "%s", buf);
	CHECK(!strcmp(stats_format_duration(2e9, buf, sizeof(buf)), "2.00 s"), "%s", buf);
	CHECK(!strcmp(stats_format_duration(12.5, buf, sizeof(buf)), "12.5 ns"), "%s", buf);
	CHECK(stats_display_width("1.23 µs") == 7, "display width");
}

/* stats_select against a sort, on shapes quickselect handles badly when
 * written carelessly: sorted, reversed, constant, two values. */
static void test_select(void)
{
	enum { N = 1001 };
	static uint64_t v[N], sorted[N];

	for (unsigned shape = 0; shape < 5; shape++) {
		synthetic_seed(shape + 1);
		for (size_t i = 0; i < N; i++)
			v[i] = shape == 0   ? (uint64_t)(synthetic_uniform() * 1e6)
			       : shape == 1 ? i
			       : shape == 2 ? N - i
			       : shape == 3 ? 42
					    : (uint64_t)(synthetic_uniform() < 0.5 ? 1 : 9);
		memcpy(sorted, v, sizeof(v));
		stats_sort(sorted, N);
		for (size_t k = 0; k < N; k += 37) {
			uint64_t copy[N];

			memcpy(copy, v, sizeof(v));
			CHECK(stats_select(copy, N, k) == sorted[k], "shape %u k %zu", shape, k);
		}
		memcpy(sorted, v, sizeof(v));
		CHECK(stats_select(sorted, 1, 0) == v[0], "one value");
	}
}

/* stats_summarize_runs over a sample split in sorted runs must equal
 * stats_summarize over the whole: odd and even counts, ties, one run, empty
 * runs. */
static void test_runs(void)
{
	enum { N = 2001 };
	static uint64_t v[N], all[N];

	for (unsigned trial = 0; trial < 40; trial++) {
		struct stats_run runs[5];
		size_t n = N - trial % 2, cut[6] = { 0 };
		unsigned count = 1 + trial % 5;
		struct stats_summary want, got;

		synthetic_seed(100 + trial);
		for (size_t i = 0; i < n; i++)
			v[i] = trial % 3 == 0 ? (uint64_t)(synthetic_uniform() * 10)
					      : (uint64_t)(1000 + 50 * synthetic_normal() +
							   (i < n / 10 ? 5000 : 0));
		memcpy(all, v, n * sizeof(*v));
		stats_summarize(all, n, &want);
		for (unsigned r = 1; r < count; r++)
			cut[r] = trial % 4 == 1 && r == 1 ? cut[r - 1] /* an empty run */
							  : cut[r - 1] + n / count;
		cut[count] = n;
		for (unsigned r = 0; r < count; r++) {
			stats_sort(v + cut[r], cut[r + 1] - cut[r]);
			runs[r] = (struct stats_run){ v + cut[r], cut[r + 1] - cut[r] };
		}
		stats_summarize_runs(runs, count, &got);
		CHECK(got.n == want.n && got.min == want.min && got.max == want.max &&
			      got.total == want.total,
		      "trial %u: n/min/max/total", trial);
		CHECK(got.median == want.median && got.p90 == want.p90 && got.p99 == want.p99,
		      "trial %u: quantiles %g %g %g, expected %g %g %g", trial, got.median, got.p90,
		      got.p99, want.median, want.p90, want.p99);
		CHECK(got.mad == want.mad, "trial %u: MAD %g, expected %g", trial, got.mad, want.mad);
		CHECK(fabs(got.mean - want.mean) <= 1e-9 * want.mean, "trial %u: mean", trial);
		stats_sort(all, n);
		CHECK(stats_quantile_runs(runs, count, 0.95) == stats_quantile_sorted(all, n, 0.95),
		      "trial %u: p95", trial);
		{
			struct stats_histogram hw, hg;

			stats_histogram_build(all, n, 12, &hw);
			stats_histogram_build_runs(runs, count, 12, &hg);
			CHECK(!memcmp(&hw, &hg, sizeof(hw)), "trial %u: histogram", trial);
		}
	}
}

int main(void)
{
	test_select();
	test_runs();
	test_single();
	test_odd();
	test_even();
	test_duplicates();
	test_quantile();
	test_sort_and_mad_random();
	test_histogram();
	test_format();
	return unit_test_finish();
}

/*
 * Unit tests of analyzer/changepoint.c on synthetic series whose segments
 * are known: normal noise (a fixed-seed generator, so every run sees the
 * same numbers) around levels that change at chosen indices.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "changepoint.h"

#include "synthetic.h"
#include "unit-test.h"

/* x[i] = level of its segment + sd of its segment * noise. */
static void fill(double *x, size_t n, const size_t *bounds, const double *level, const double *sd,
		 unsigned segments, uint64_t seed)
{
	synthetic_seed(seed);
	for (size_t i = 0, s = 0; i < n; i++) {
		while (s + 1 < segments && i >= bounds[s])
			s++;
		x[i] = level[s] + sd[s] * synthetic_normal();
	}
}

/* Segment, and check the ends are @want (each within @slack). */
static void expect(const char *what, const double *x, size_t n, const size_t *want, size_t nwant,
		   size_t slack)
{
	size_t *ends, count;
	int err = changepoint_pelt(x, n, changepoint_default_penalty(n), 1e-6, 2, &ends, &count);

	CHECK(err == 0, "%s: %d", what, err);
	if (err)
		return;
	CHECK(count == nwant, "%s: %zu segments, expected %zu", what, count, nwant);
	for (size_t i = 0; i < count && i < nwant; i++)
		CHECK(ends[i] + slack >= want[i] && ends[i] <= want[i] + slack,
		      "%s: segment %zu ends at %zu, expected %zu", what, i, ends[i], want[i]);
	CHECK(count == 0 || ends[count - 1] == n, "%s: the last end is n", what);
	free(ends);
}

static void test_flat(void)
{
	static double x[2000];
	const size_t bounds[] = { 2000 }, want[] = { 2000 };
	const double level[] = { 1e5 }, sd[] = { 100 };

	for (uint64_t seed = 1; seed <= 5; seed++) {
		fill(x, 2000, bounds, level, sd, 1, seed);
		expect("flat", x, 2000, want, 1, 0);
	}
}

static void test_step(void)
{
	static double x[600];
	const size_t bounds[] = { 200, 600 }, want[] = { 200, 600 };
	const double level[] = { 100, 50 }, sd[] = { 1, 1 };

	for (uint64_t seed = 1; seed <= 5; seed++) {
		fill(x, 600, bounds, level, sd, 2, seed);
		expect("step", x, 600, want, 2, 0);
	}
}

/* Warm-up: a slow first phase, a faster second, then steady. */
static void test_warmup(void)
{
	static double x[400];
	const size_t bounds[] = { 10, 60, 400 }, want[] = { 10, 60, 400 };
	const double level[] = { 3e5, 1.5e5, 1e5 }, sd[] = { 3e3, 2e3, 1e3 };

	for (uint64_t seed = 1; seed <= 5; seed++) {
		fill(x, 400, bounds, level, sd, 3, seed);
		expect("warm-up", x, 400, want, 3, 1);
	}
}

/* The spread changes, not the level. */
static void test_variance(void)
{
	static double x[500];
	const size_t bounds[] = { 250, 500 }, want[] = { 250, 500 };
	const double level[] = { 1000, 1000 }, sd[] = { 1, 10 };

	for (uint64_t seed = 1; seed <= 5; seed++) {
		fill(x, 500, bounds, level, sd, 2, seed);
		expect("variance", x, 500, want, 2, 10);
	}
}

/* A coarse clock: equal values cost the floor, not -inf; a level change in
 * such a series is still found. */
static void test_constant(void)
{
	static double x[300];
	const size_t one[] = { 300 }, two[] = { 100, 300 };

	for (int i = 0; i < 300; i++)
		x[i] = 1000;
	expect("constant", x, 300, one, 1, 0);
	for (int i = 0; i < 100; i++)
		x[i] = 2000;
	expect("constant step", x, 300, two, 2, 0);
}

/* Many values far from 0 with a small spread: no loss of digits. (PELT is
 * linear when changes keep coming; with few changes in a long series its
 * pruning weakens, so the long series here changes every 2 000 values.) */
static void test_large(void)
{
	enum { N = 40000, SEGMENTS = 20 };
	double *x = malloc(N * sizeof(*x));
	size_t bounds[SEGMENTS];
	double level[SEGMENTS], sd[SEGMENTS];

	CHECK(x != NULL, "malloc");
	if (!x)
		return;
	for (int i = 0; i < SEGMENTS; i++) {
		bounds[i] = (size_t)(i + 1) * (N / SEGMENTS);
		level[i] = 1e9 + (i % 2) * 50;
		sd[i] = 10;
	}
	fill(x, N, bounds, level, sd, SEGMENTS, 7);
	expect("large", x, N, bounds, SEGMENTS, 20);
	free(x);
}

static void test_edges(void)
{
	double x[5] = { 1, 2, 3, 4, 5 };
	size_t *ends = NULL, count = 9;

	CHECK(changepoint_pelt(x, 0, 1, 1, 2, &ends, &count) == -EINVAL, "n = 0");
	CHECK(changepoint_pelt(x, 5, 1, 1, 1, &ends, &count) == -EINVAL, "min_segment 1");
	CHECK(changepoint_pelt(x, 5, -1, 1, 2, &ends, &count) == -EINVAL, "penalty < 0");
	CHECK(changepoint_pelt(x, 5, INFINITY, 1, 2, &ends, &count) == -EINVAL, "penalty inf");
	CHECK(changepoint_pelt(x, 5, 1, 0, 2, &ends, &count) == -EINVAL, "var_floor 0");
	CHECK(changepoint_pelt(x, 1, 0, 1, 2, &ends, &count) == 0 && count == 1 && ends[0] == 1,
	      "n = 1: one segment");
	free(ends);
	/* penalty 0 and every segment of 2 would fit best: the minimum
	 * length holds */
	CHECK(changepoint_pelt(x, 5, 0, 1e-9, 2, &ends, &count) == 0, "penalty 0");
	for (size_t i = 0; i < count; i++)
		CHECK(ends[i] - (i ? ends[i - 1] : 0) >= 2, "segment %zu shorter than 2", i);
	free(ends);
	CHECK(changepoint_default_penalty(1) == 0, "penalty of n = 1");
	CHECK(fabs(changepoint_default_penalty(1000) - 15 * log(1000.0)) < 1e-9, "15 log n");
}

/* Spikes in noise are marked, exactly those; clean noise has none. */
static void test_outliers(void)
{
	enum { N = 1000 };
	static double x[N];
	static unsigned char out[N];
	const size_t bounds[] = { N }, spikes[] = { 0, 7, 333, 640, 999 };
	const double level[] = { 1e5 }, sd[] = { 100 };
	long found;

	for (uint64_t seed = 1; seed <= 5; seed++) {
		fill(x, N, bounds, level, sd, 1, seed);
		found = changepoint_outliers(x, N, 200, 3, out);
		CHECK(found == 0, "clean noise, seed %llu: %ld outliers", (unsigned long long)seed,
		      found);
		for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++)
			x[spikes[i]] = 1e5 + 5000.0 * (double)(i + 1);
		found = changepoint_outliers(x, N, 200, 3, out);
		CHECK(found == 5, "5 spikes, seed %llu: %ld outliers", (unsigned long long)seed,
		      found);
		for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++)
			CHECK(out[spikes[i]], "spike at %zu not marked", spikes[i]);
	}
	/* a remainder shorter than a window joins the last block */
	CHECK(changepoint_outliers(x, 250, 200, 3, out) >= 0, "n = 250");
	CHECK(changepoint_outliers(x, 3, 200, 3, out) == 0, "n = 3: one block, no outlier");
	CHECK(changepoint_outliers(x, 10, 3, 3, out) == -EINVAL, "window 3");
	CHECK(changepoint_outliers(x, 10, 200, -1, out) == -EINVAL, "k < 0");
}

int main(void)
{
	test_outliers();
	test_flat();
	test_step();
	test_warmup();
	test_variance();
	test_constant();
	test_large();
	test_edges();
	return unit_test_finish();
}

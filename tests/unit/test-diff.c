/*
 * Unit tests of analyzer/diff.c: the Hodges–Lehmann shift and its rank
 * interval on samples whose answer can be counted by hand, and the verdict
 * vocabulary.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

#include "unit-test.h"

int main(void)
{
	double x[10], y[10], shift, low, high;

	/* x = 1..10, y = x + 5 (shuffled): the 100 differences are 5 + (j - i);
	 * n = m = 10 at 95 %: c = floor(50 - 1.96 sqrt(100 * 21 / 12)) = 24,
	 * and the 24th smallest j - i is -3 (1+2+...+6 = 21 at most -4, 28 at
	 * most -3): the interval is [2, 8] around 5 */
	for (int i = 0; i < 10; i++) {
		x[i] = i + 1;
		y[(i * 7) % 10] = i + 6;
	}
	CHECK(diff_hodges_lehmann(x, 10, y, 10, 0.95, &shift, &low, &high) == 0, "runs");
	CHECK(shift == 5 && low == 2 && high == 8, "shift %g [%g, %g]", shift, low, high);
	CHECK(x[0] == 1 && x[9] == 10 && y[0] == 6 && y[9] == 15, "samples sorted");

	/* no shift: 0 inside the interval; a wider confidence, a wider one */
	{
		double a[10], b[10], l99, h99;

		for (int i = 0; i < 10; i++)
			a[i] = b[9 - i] = 100 + i;
		CHECK(diff_hodges_lehmann(a, 10, b, 10, 0.95, &shift, &low, &high) == 0 &&
			      shift == 0 && low < 0 && high > 0,
		      "no shift: %g [%g, %g]", shift, low, high);
		CHECK(diff_hodges_lehmann(a, 10, b, 10, 0.99, &shift, &l99, &h99) == 0 &&
			      l99 <= low && h99 >= high && (l99 < low || h99 > high),
		      "99 %%: [%g, %g] vs [%g, %g]", l99, h99, low, high);
	}

	/* an outlier moves the mean, not the shift: 1000 iterations of 100 ns
	 * against 1000 of 110 ns with one of 10 ms */
	{
		double *a = malloc(1000 * sizeof(*a)), *b = malloc(1000 * sizeof(*b));

		for (int i = 0; i < 1000; i++) {
			a[i] = 100 + (i % 3);
			b[i] = 110 + (i % 3);
		}
		b[500] = 1e7;
		CHECK(diff_hodges_lehmann(a, 1000, b, 1000, 0.95, &shift, &low, &high) == 0 &&
			      shift == 10 && low <= 10 && high >= 10 && low > 8 && high < 12,
		      "outlier: %g [%g, %g]", shift, low, high);
		free(a);
		free(b);
	}

	/* one iteration each: the interval is every difference there is */
	{
		double a = 3, b = 7;

		CHECK(diff_hodges_lehmann(&a, 1, &b, 1, 0.95, &shift, &low, &high) == 0 &&
			      shift == 4 && low == 4 && high == 4,
		      "one each: %g [%g, %g]", shift, low, high);
		CHECK(diff_hodges_lehmann(&a, 0, &b, 1, 0.95, &shift, &low, &high) == -EINVAL,
		      "empty");
	}

	/* the verdicts: as documented, parsed back */
	{
		static const char *const want[] = { "regression", "improvement", "no-change",
						    "environment", "warmup", "inconclusive" };

		CHECK(sizeof(want) / sizeof(want[0]) == DIFF_VERDICT_COUNT, "6 verdicts");
		for (unsigned v = 0; v < DIFF_VERDICT_COUNT; v++)
			CHECK(!strcmp(diff_verdict_name(v), want[v]) &&
				      diff_verdict_parse(want[v]) == v,
			      "verdict %u", v);
		CHECK(diff_verdict_parse("regressions") == DIFF_VERDICT_COUNT, "unknown name");
		CHECK(diff_cause_is_environment(ATTRIB_PREEMPTION) &&
			      diff_cause_is_environment(ATTRIB_STEAL) &&
			      !diff_cause_is_environment(ATTRIB_JIT) &&
			      !diff_cause_is_environment(ATTRIB_MORE_WORK) &&
			      !diff_cause_is_environment(ATTRIB_UNEXPLAINED),
		      "environment causes");
	}
	return unit_test_finish();
}

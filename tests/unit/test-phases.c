/*
 * Unit tests of analyzer/phases.c: synthetic iteration times (seeded normal
 * noise around known levels) and the classification each must get.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phases.h"

#include "synthetic.h"
#include "unit-test.h"

/* ns[i]: the level of the phase holding i (phases end at ends[]), with 1 %
 * normal noise. */
static void fill(uint64_t *ns, size_t n, const size_t *ends, const double *level, uint64_t seed)
{
	synthetic_seed(seed);
	for (size_t i = 0, s = 0; i < n; i++) {
		while (i >= ends[s])
			s++;
		ns[i] = (uint64_t)(level[s] * (1 + 0.01 * synthetic_normal()));
	}
}

static void expect(const char *what, const uint64_t *ns, size_t n, enum phases_class want,
		   size_t want_phases, size_t steady_first)
{
	struct phases p;
	int err = phases_find(ns, n, NULL, &p);

	CHECK(err == 0, "%s: %d", what, err);
	if (err)
		return;
	CHECK(p.classification == want, "%s: %s, expected %s", what,
	      phases_class_name(p.classification), phases_class_name(want));
	CHECK(p.count == want_phases, "%s: %zu phases, expected %zu", what, p.count, want_phases);
	if (want == PHASES_FLAT || want == PHASES_WARMUP || want == PHASES_SLOWDOWN) {
		CHECK(p.steady == (long)p.count - 1, "%s: steady phase %ld", what, p.steady);
		if (p.steady >= 0)
			CHECK(p.phase[p.steady].first + 1 >= steady_first &&
				      p.phase[p.steady].first <= steady_first + 1,
			      "%s: steady from %zu, expected %zu", what, p.phase[p.steady].first,
			      steady_first);
	} else {
		CHECK(p.steady == -1, "%s: steady phase %ld", what, p.steady);
	}
	for (size_t i = 1; i < p.count; i++)
		CHECK(p.phase[i].first == p.phase[i - 1].last + 1, "%s: phases contiguous", what);
	CHECK(p.count == 0 || (p.phase[0].first == 0 && p.phase[p.count - 1].last == n - 1),
	      "%s: phases cover every iteration", what);
	phases_free(&p);
}

int main(void)
{
	static uint64_t ns[2000];

	for (uint64_t seed = 1; seed <= 5; seed++) {
		const size_t flat[] = { 500 }, warm[] = { 10, 60, 400 }, slow[] = { 300, 400 },
			     late[] = { 1900, 2000 }, small[] = { 250, 500 };
		const double flat_l[] = { 1e5 }, warm_l[] = { 3e5, 1.5e5, 1e5 },
			     slow_l[] = { 1e5, 1.5e5 }, late_l[] = { 1e5, 2e5 },
			     small_l[] = { 1e5, 1.01e5 };

		fill(ns, 500, flat, flat_l, seed);
		expect("flat", ns, 500, PHASES_FLAT, 1, 0);
		/* a few far-out iterations are outliers, not phases */
		ns[100] = ns[350] = 900000;
		expect("flat with 2 outliers", ns, 500, PHASES_FLAT, 1, 0);
		fill(ns, 400, warm, warm_l, seed);
		expect("warm-up", ns, 400, PHASES_WARMUP, 3, 60);
		fill(ns, 400, slow, slow_l, seed);
		expect("slowdown", ns, 400, PHASES_SLOWDOWN, 2, 300);
		fill(ns, 2000, late, late_l, seed);
		expect("change at the end", ns, 2000, PHASES_NO_STEADY_STATE, 2, 0);
		fill(ns, 500, small, small_l, seed);
		expect("a 1 % step, within the 2 % tolerance", ns, 500, PHASES_FLAT, 1, 0);
	}
	/* A 4 % step: a phase when the iterations vary by 0.5 %, not when
	 * they vary by 10 % (within the noisier half's spread). */
	{
		static const size_t ends[] = { 250, 500 };
		static const double levels[] = { 1.04e5, 1e5 };

		for (uint64_t seed = 1; seed <= 3; seed++) {
			synthetic_seed(seed);
			for (size_t i = 0; i < 500; i++)
				ns[i] = (uint64_t)(levels[i >= ends[0]] *
						   (1 + 0.005 * synthetic_normal()));
			expect("4 % step, 0.5 % noise", ns, 500, PHASES_WARMUP, 2, 250);
			for (size_t i = 0; i < 500; i++)
				ns[i] = (uint64_t)(levels[i >= ends[0]] *
						   (1 + 0.10 * synthetic_normal()));
			expect("4 % step, 10 % noise", ns, 500, PHASES_FLAT, 1, 0);
		}
	}
	/* A stall of 5 iterations 10 % slower in the middle of a steady
	 * state: slow iterations, not a phase splitting it in three. */
	for (uint64_t seed = 1; seed <= 3; seed++) {
		synthetic_seed(seed);
		for (size_t i = 0; i < 400; i++)
			ns[i] = (uint64_t)(75000 * (1 + 0.01 * synthetic_normal()) *
					   (i >= 302 && i < 307 ? 1.10 : 1));
		expect("a 5-iteration stall", ns, 400, PHASES_FLAT, 1, 0);
	}
	expect("5 iterations", ns, 5, PHASES_TOO_FEW, 0, 0);
	CHECK(!strcmp(phases_class_name(PHASES_NO_STEADY_STATE), "no-steady-state"), "name");
	return unit_test_finish();
}

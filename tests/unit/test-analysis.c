/*
 * Unit tests of analyzer/analysis.c through the whole reading path: a
 * trace built byte by byte (trace-builder.h) with a known warm-up and
 * known causes injected at known iterations, read by recording_open_buffer
 * and analysed; the answers are known by construction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "recording.h"

#include "synthetic.h"
#include "trace-builder.h"
#include "unit-test.h"

enum { TASK_CLOCK, MINOR_FAULTS, VOLUNTARY, INVOLUNTARY, RUN_DELAY, COUNTERS };

#define BASE_NS 1000000000ull
#define STEADY_NS 10000.0

/* What to inject at one iteration. */
struct inject {
	size_t at;           /* 0-based */
	double cpu_ns, off_ns;
	uint64_t faults, voluntary, involuntary, run_delay_ns;
};

/* Build a trace of @n iterations: iteration 0 a slow first call (200 µs,
 * 50 faults), 1..warmup-1 decaying from 3x to 1x, then STEADY_NS with 1 %
 * noise; @inj on top. Returns the model (recording_free). */
static struct recording *build(size_t n, size_t warmup, const struct inject *inj, size_t ninj,
			       uint64_t seed)
{
	struct tb b;
	struct tb_chunk c;
	struct recording *rec = NULL;
	char why[256];
	uint64_t start = BASE_NS;

	tb_init(&b, 1u << 22, COUNTERS);
	tb_counter(&b, TASK_CLOCK, ITP_COUNTER_TASK_CLOCK, "task-clock", 1, NULL);
	tb_counter(&b, MINOR_FAULTS, ITP_COUNTER_MINOR_FAULTS, "minor-faults", 1, NULL);
	tb_counter(&b, VOLUNTARY, ITP_COUNTER_VOLUNTARY_SWITCHES, "voluntary-switches", 1, NULL);
	tb_counter(&b, INVOLUNTARY, ITP_COUNTER_INVOLUNTARY_SWITCHES, "involuntary-switches", 1,
		   NULL);
	tb_counter(&b, RUN_DELAY, ITP_COUNTER_RUN_DELAY, "run-delay", 1, NULL);
	c = tb_chunk(&b, 77, 0, 0);
	tb_rec_thread(&b, &c, 0, 77, "bench-thread-77");
	tb_rec_region(&b, &c, 1, 0, "work");
	synthetic_seed(seed);
	for (size_t i = 0; i < n; i++) {
		double cpu = STEADY_NS * (1 + 0.01 * synthetic_normal()), off = 100;
		uint64_t v[COUNTERS] = { 0 };

		if (i == 0) {
			cpu = 200000;
			v[MINOR_FAULTS] = 50;
		} else if (i < warmup) {
			cpu *= 1 + 2.0 * (double)(warmup - i) / (double)warmup;
		}
		for (size_t k = 0; k < ninj; k++) {
			if (inj[k].at != i)
				continue;
			cpu += inj[k].cpu_ns;
			off += inj[k].off_ns;
			v[MINOR_FAULTS] += inj[k].faults;
			v[VOLUNTARY] += inj[k].voluntary;
			v[INVOLUNTARY] += inj[k].involuntary;
			v[RUN_DELAY] += inj[k].run_delay_ns;
		}
		v[TASK_CLOCK] = (uint64_t)cpu;
		tb_rec_iteration(&b, &c, (uint32_t)(2 + i), 0, 0, 0, start, (uint64_t)(cpu + off), v);
		start += (uint64_t)(cpu + off) + 50;
	}
	tb_footer(&b, n, 0);
	if (recording_open_buffer(b.buf, b.size, "analysis.trace", &rec, why, sizeof(why)))
		printf("recording_open_buffer: %s\n", why);
	tb_free(&b);
	return rec;
}

static const struct recording_region *region_of(const struct recording *rec)
{
	return &rec->processes[0].threads[0].regions[0];
}

static void test_causes(void)
{
	const struct inject inj[] = {
		{ .at = 100, .cpu_ns = 40000, .faults = 20 },                 /* page-faults */
		{ .at = 200, .off_ns = 100000, .voluntary = 1 },              /* blocking */
		{ .at = 300, .off_ns = 80000, .involuntary = 1,
		  .run_delay_ns = 80000 },                                    /* preemption */
		{ .at = 400, .cpu_ns = 30000 },                               /* unexplained */
	};
	const enum attrib_cause want[] = { ATTRIB_PAGE_FAULTS, ATTRIB_BLOCKING, ATTRIB_PREEMPTION,
					   ATTRIB_UNEXPLAINED };

	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct recording *rec = build(600, 20, inj, 4, seed);
		const struct recording_region *r;
		struct analysis a;
		double ns[ATTRIB_CAUSE_COUNT];
		size_t wrong = 0;

		CHECK(rec != NULL, "seed %llu: trace read", (unsigned long long)seed);
		if (!rec)
			continue;
		r = region_of(rec);
		CHECK(analysis_run(&rec->processes[0], r, &a) == 0, "analysis_run");
		CHECK(a.classification == PHASES_WARMUP, "seed %llu: %s", (unsigned long long)seed,
		      phases_class_name(a.classification));
		CHECK(a.steady >= 0 && a.ref_first >= 15 && a.ref_first <= 25,
		      "seed %llu: steady from %zu", (unsigned long long)seed, a.ref_first + 1);
		CHECK(a.phase_count >= 2 && a.phase[0].first == 0 && a.phase[0].last == 0,
		      "the first call is a phase of its own");
		CHECK(fabs(a.ref_stats.median - STEADY_NS - 100) < 0.01 * STEADY_NS,
		      "steady median %g", a.ref_stats.median);
		CHECK(a.slow_count == 4, "seed %llu: %zu slow", (unsigned long long)seed, a.slow_count);
		for (size_t k = 0; k < 4; k++) {
			enum attrib_cause got = analysis_explain(&a, r, inj[k].at, ns);
			double excess = 0;

			for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
				excess += ns[c];
			CHECK(analysis_is_slow(&a, r, inj[k].at) && got == want[k] &&
				      ns[want[k]] > 0.9 * excess,
			      "seed %llu: iteration %zu: %s (%.0f %%), expected %s",
			      (unsigned long long)seed, inj[k].at + 1,
			      got < ATTRIB_CAUSE_COUNT ? attrib_cause_name(got) : "none",
			      excess > 0 ? 100 * ns[got < ATTRIB_CAUSE_COUNT ? got : 0] / excess : 0,
			      attrib_cause_name(want[k]));
			CHECK(a.cause_iterations[want[k]] == 1, "one iteration of %s",
			      attrib_cause_name(want[k]));
		}
		for (size_t i = a.ref_first; i < r->count; i++)
			wrong += analysis_is_slow(&a, r, i) && i != 100 && i != 200 && i != 300 &&
				 i != 400;
		CHECK(wrong == 0, "%zu clean iterations flagged slow", wrong);
		/* the first call: 50 faults and first-call time, mostly */
		CHECK(analysis_explain(&a, r, 0, ns) < ATTRIB_CAUSE_COUNT &&
			      ns[ATTRIB_PAGE_FAULTS] > 0 && ns[ATTRIB_FIRST_CALL] > 0 &&
			      ns[ATTRIB_UNEXPLAINED] == 0,
		      "first call: page-faults %g first-call %g unexplained %g",
		      ns[ATTRIB_PAGE_FAULTS], ns[ATTRIB_FIRST_CALL], ns[ATTRIB_UNEXPLAINED]);
		CHECK(a.model.cost_samples[ATTRIB_COST_MINOR_FAULT] > 0,
		      "fault cost estimated from the trace");
		CHECK(a.phase[0].counter_median[MINOR_FAULTS] == 50 &&
			      a.phase[a.reference].counter_median[MINOR_FAULTS] == 0,
		      "faults fall from 50 to 0");
		CHECK(strstr(a.verdict, "warm-up then flat") && strstr(a.verdict, "4 of"),
		      "verdict: %s", a.verdict);
		analysis_free(&a);
		recording_free(rec);
	}
}

/* Longer than ANALYSIS_RAW_LIMIT: segmented on block medians, still exact
 * where it matters. */
static void test_long(void)
{
	const struct inject inj[] = { { .at = 15000, .off_ns = 60000, .voluntary = 1 } };
	struct recording *rec = build(20000, 100, inj, 1, 9);
	struct analysis a;

	CHECK(rec != NULL, "long trace read");
	if (!rec)
		return;
	CHECK(analysis_run(&rec->processes[0], region_of(rec), &a) == 0, "analysis_run");
	CHECK(a.classification == PHASES_WARMUP && a.ref_first >= 80 && a.ref_first <= 110 &&
		      a.ref_last == 19999,
	      "long: %s, steady %zu-%zu", phases_class_name(a.classification), a.ref_first + 1,
	      a.ref_last + 1);
	CHECK(a.slow_count == 1 && a.cause_iterations[ATTRIB_BLOCKING] == 1, "long: %zu slow",
	      a.slow_count);
	CHECK(a.all_stats.n == 20000 && a.all_stats.max >= 200000, "overall statistics");
	analysis_free(&a);
	recording_free(rec);
}

static void test_too_few(void)
{
	struct recording *rec = build(5, 0, NULL, 0, 1);
	struct analysis a;

	CHECK(rec && analysis_run(&rec->processes[0], region_of(rec), &a) == 0, "too few: run");
	if (!rec)
		return;
	CHECK(a.classification == PHASES_TOO_FEW && !a.has_threshold && a.slow_count == 0 &&
		      a.ref_count == 5 && strstr(a.verdict, "too few"),
	      "too few: %s, %s", phases_class_name(a.classification), a.verdict);
	analysis_free(&a);
	recording_free(rec);
}

int main(void)
{
	test_causes();
	test_long();
	test_too_few();
	return unit_test_finish();
}

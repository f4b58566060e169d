/*
 * Unit tests of analyzer/attrib.c: the split of an iteration's excess on
 * constructed samples whose right answer is known, the per-event cost
 * estimator, and the vocabulary.
 */
#include <math.h>
#include <string.h>

#include "attrib.h"

#include "unit-test.h"

static struct attrib_model model(void)
{
	struct attrib_model m;

	for (unsigned s = 0; s < ATTRIB_SIGNAL_COUNT; s++)
		m.signal[s] = NAN;
	m.duration_ns = 10000;
	m.signal[ATTRIB_SIG_CPU_NS] = 9900;
	m.signal[ATTRIB_SIG_RUN_DELAY_NS] = 0;
	m.signal[ATTRIB_SIG_MINOR_FAULTS] = 0;
	m.signal[ATTRIB_SIG_MAJOR_FAULTS] = 0;
	m.signal[ATTRIB_SIG_VOLUNTARY] = 0;
	m.signal[ATTRIB_SIG_INVOLUNTARY] = 0;
	m.signal[ATTRIB_SIG_MIGRATIONS] = 0;
	attrib_estimator_finish(NULL, &m); /* calibration costs */
	return m;
}

/* A sample like the reference, @extra_cpu and @extra_off ns slower. */
static struct attrib_sample sample(const struct attrib_model *m, double extra_cpu,
				   double extra_off)
{
	struct attrib_sample s = { 0 };

	memcpy(s.signal, m->signal, sizeof(s.signal));
	s.signal[ATTRIB_SIG_CPU_NS] += extra_cpu;
	s.duration_ns = m->duration_ns + extra_cpu + extra_off;
	return s;
}

/* Split @s and check cause @want has @share (+-0.5 %) of the excess, and
 * that the parts add up to the excess. */
static void expect(const char *what, const struct attrib_model *m, const struct attrib_sample *s,
		   enum attrib_cause want, double share)
{
	double ns[ATTRIB_CAUSE_COUNT], sum = 0;
	double excess = attrib_explain(m, s, ns);

	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
		sum += ns[c];
	CHECK(excess > 0 && fabs(sum - excess) < 1e-6 * excess, "%s: parts %g, excess %g", what, sum,
	      excess);
	CHECK(fabs(ns[want] / excess - share) < 0.005, "%s: %s %.3f, expected %.3f", what,
	      attrib_cause_name(want), ns[want] / excess, share);
	if (share > 0.5)
		CHECK(attrib_primary(ns) == want, "%s: primary %s", what,
		      attrib_cause_name(attrib_primary(ns)));
}

int main(void)
{
	struct attrib_model m = model();
	struct attrib_sample s;
	double ns[ATTRIB_CAUSE_COUNT];

	/* preempted for 5 µs: run delay measured */
	s = sample(&m, 0, 5000);
	s.signal[ATTRIB_SIG_RUN_DELAY_NS] = 5000;
	s.signal[ATTRIB_SIG_INVOLUNTARY] = 1;
	expect("run delay", &m, &s, ATTRIB_PREEMPTION, 1);

	/* slept 50 µs */
	s = sample(&m, 0, 50000);
	s.signal[ATTRIB_SIG_VOLUNTARY] = 1;
	expect("sleep", &m, &s, ATTRIB_BLOCKING, 1);

	/* preempted, no run delay in the trace: by the kind of switch */
	m.signal[ATTRIB_SIG_RUN_DELAY_NS] = NAN;
	s = sample(&m, 0, 8000);
	s.signal[ATTRIB_SIG_RUN_DELAY_NS] = NAN;
	s.signal[ATTRIB_SIG_INVOLUNTARY] = 1;
	expect("involuntary, no run delay", &m, &s, ATTRIB_PREEMPTION, 1);
	s.signal[ATTRIB_SIG_VOLUNTARY] = 1;
	expect("one of each", &m, &s, ATTRIB_BLOCKING, 0.5);
	m = model();

	/* 10 faults at the calibration cost (2 µs) and nothing else */
	s = sample(&m, 10 * attrib_cost_default_ns(ATTRIB_COST_MINOR_FAULT), 0);
	s.signal[ATTRIB_SIG_MINOR_FAULTS] = 10;
	expect("page faults", &m, &s, ATTRIB_PAGE_FAULTS, 1);
	/* the same faults with as much again unexplained on-CPU time */
	s = sample(&m, 20 * attrib_cost_default_ns(ATTRIB_COST_MINOR_FAULT), 0);
	s.signal[ATTRIB_SIG_MINOR_FAULTS] = 10;
	expect("half page faults", &m, &s, ATTRIB_UNEXPLAINED, 0.5);
	/* more faults than the excess: scaled down to it */
	s = sample(&m, 1000, 0);
	s.signal[ATTRIB_SIG_MINOR_FAULTS] = 100;
	expect("faults over-explain", &m, &s, ATTRIB_PAGE_FAULTS, 1);

	/* a major fault: slept on I/O */
	s = sample(&m, 0, 100000);
	s.signal[ATTRIB_SIG_MAJOR_FAULTS] = 1;
	s.signal[ATTRIB_SIG_VOLUNTARY] = 1;
	expect("major fault", &m, &s, ATTRIB_MAJOR_FAULTS, 1);

	/* the first iteration of a warm-up, nothing counted */
	s = sample(&m, 40000, 0);
	s.is_first = s.is_warmup = true;
	expect("first call", &m, &s, ATTRIB_FIRST_CALL, 1);
	s.is_first = false;
	expect("warm-up, not first", &m, &s, ATTRIB_UNEXPLAINED, 1);

	/* with hardware counters: twice the instructions, twice the time */
	m.signal[ATTRIB_SIG_INSTRUCTIONS] = 30000;
	m.signal[ATTRIB_SIG_CYCLES] = 29700;
	s = sample(&m, 9900, 0);
	s.signal[ATTRIB_SIG_INSTRUCTIONS] = 60000;
	s.signal[ATTRIB_SIG_CYCLES] = 59400;
	expect("more work", &m, &s, ATTRIB_MORE_WORK, 1);
	/* the same instructions and cycles taking twice as long: frequency */
	s = sample(&m, 9900, 0);
	expect("frequency", &m, &s, ATTRIB_FREQUENCY, 1);
	/* cache misses: cache-warmup before the steady state; stalls count
	 * as cycles, so the cycle rate stays the reference's */
	m.signal[ATTRIB_SIG_CACHE_MISSES] = 0;
	s = sample(&m, 100 * attrib_cost_default_ns(ATTRIB_COST_CACHE_MISS), 0);
	s.signal[ATTRIB_SIG_CACHE_MISSES] = 100;
	s.signal[ATTRIB_SIG_CYCLES] =
		m.signal[ATTRIB_SIG_CYCLES] * s.signal[ATTRIB_SIG_CPU_NS] / m.signal[ATTRIB_SIG_CPU_NS];
	expect("cache misses", &m, &s, ATTRIB_CACHE_MISSES, 1);
	s.is_warmup = true;
	expect("cache warm-up", &m, &s, ATTRIB_CACHE_WARMUP, 1);
	m = model();

	/* without task-clock, only the run delay is placed */
	m.signal[ATTRIB_SIG_CPU_NS] = NAN;
	s = sample(&m, 0, 4000);
	s.signal[ATTRIB_SIG_CPU_NS] = NAN;
	s.signal[ATTRIB_SIG_RUN_DELAY_NS] = 1000;
	expect("no task-clock", &m, &s, ATTRIB_UNEXPLAINED, 0.75);
	m = model();

	/* not slower: nothing */
	s = sample(&m, -100, 0);
	CHECK(attrib_explain(&m, &s, ns) == 0 && attrib_primary(ns) == ATTRIB_CAUSE_COUNT,
	      "faster iteration");

	/* the cost estimator: clean samples at 1.5 µs a fault, one with a
	 * switch (ignored), one with a migration (ignored) */
	{
		struct attrib_estimator *e = attrib_estimator_new();

		for (int k = 1; k <= 9; k++) {
			s = sample(&m, 1500.0 * k, 0);
			s.signal[ATTRIB_SIG_MINOR_FAULTS] = k;
			attrib_estimator_add(e, &m, &s);
		}
		s = sample(&m, 900000, 0);
		s.signal[ATTRIB_SIG_MINOR_FAULTS] = 1;
		s.signal[ATTRIB_SIG_INVOLUNTARY] = 1;
		attrib_estimator_add(e, &m, &s);
		s.signal[ATTRIB_SIG_INVOLUNTARY] = 0;
		s.signal[ATTRIB_SIG_MIGRATIONS] = 1;
		attrib_estimator_add(e, &m, &s);
		attrib_estimator_finish(e, &m);
		CHECK(fabs(m.cost_ns[ATTRIB_COST_MINOR_FAULT] - 1500) < 1e-9 &&
			      m.cost_samples[ATTRIB_COST_MINOR_FAULT] == 9,
		      "fault cost %g from %zu", m.cost_ns[ATTRIB_COST_MINOR_FAULT],
		      m.cost_samples[ATTRIB_COST_MINOR_FAULT]);
		/* interrupts: per event, not per iteration. 50 iterations
		 * with one tick at 3 µs, 20 in a storm with 16 softirqs at
		 * 10 µs each: the middle 80 % of the 370 interrupts are 13
		 * ticks and 283 storm softirqs */
		m.signal[ATTRIB_SIG_INTERRUPTS] = 0;
		for (int k = 0; k < 70; k++) {
			double n = k < 50 ? 1 : 16;

			s = sample(&m, n * (k < 50 ? 3000 : 10000), 0);
			s.signal[ATTRIB_SIG_INTERRUPTS] = n;
			attrib_estimator_add(e, &m, &s);
		}
		attrib_estimator_finish(e, &m);
		CHECK(fabs(m.cost_ns[ATTRIB_COST_INTERRUPT] - (13 * 3000.0 + 283 * 10000.0) / 296) <
				      1e-6 &&
			      m.cost_samples[ATTRIB_COST_INTERRUPT] == 70,
		      "interrupt cost %g from %zu", m.cost_ns[ATTRIB_COST_INTERRUPT],
		      m.cost_samples[ATTRIB_COST_INTERRUPT]);
		m.signal[ATTRIB_SIG_INTERRUPTS] = NAN;
		CHECK(m.cost_samples[ATTRIB_COST_MIGRATION] == 0 &&
			      m.cost_ns[ATTRIB_COST_MIGRATION] ==
				      attrib_cost_default_ns(ATTRIB_COST_MIGRATION),
		      "migration: calibration");
		attrib_estimator_free(e);
	}

	/* the vocabulary: as documented, unique */
	{
		static const char *const want[] = {
			"jit", "first-call", "cache-warmup", "cache-misses", "page-faults",
			"major-faults", "preemption", "blocking", "migration", "frequency",
			"cgroup-throttle", "steal", "interrupts", "sibling-threads", "more-work",
			"unexplained",
		};

		CHECK(sizeof(want) / sizeof(want[0]) == ATTRIB_CAUSE_COUNT, "16 causes");
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			CHECK(attrib_cause_name(c) && !strcmp(attrib_cause_name(c), want[c]) &&
				      attrib_cause_meaning(c)[0],
			      "cause %u", c);
		CHECK(attrib_cause_name(ATTRIB_CAUSE_COUNT) == NULL, "past the end");
	}
	return unit_test_finish();
}

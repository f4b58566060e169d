/*
 * Unit tests of diff_compare() (analyzer/diff.c): the verdict and its
 * evidence on pairs of traces built byte by byte (trace-builder.h), read
 * and analysed as `iterprof diff` does, with the answer known by
 * construction: the work measure (instructions when both traces count
 * them, else on-CPU time), regression against environment, "evidence both
 * ways", no work measure, a run still warming up, a warm-up of the mean,
 * the threshold, too few iterations, and a last phase too short to compare.
 * Each comparison's evidence is printed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "diff.h"
#include "recording.h"

#include "synthetic.h"
#include "trace-builder.h"
#include "unit-test.h"

enum { TASK_CLOCK, VOLUNTARY, INVOLUNTARY, RUN_DELAY, INSTRUCTIONS, COUNTERS };

#define BASE_NS 1000000000ull

/* One side of a comparison: every iteration @cpu_ns on a CPU (x @noise
 * relative normal noise, x shape(i)) plus @off_ns off it; iterations
 * [@preempt_first, @preempt_last) also wait @preempt_ns for a CPU (one
 * involuntary switch, the run delay counted: preemption). */
struct spec {
	size_t n;
	double cpu_ns, noise, off_ns;
	double preempt_ns;
	size_t preempt_first, preempt_last;
	double instructions; /* every iteration's (the shape changes only the
				time); 0: no instructions counter */
	double (*shape)(size_t i, size_t n); /* NULL: 1 */
	bool no_task_clock;  /* task-clock does not count: no work measure */
	uint64_t seed;
};

struct side {
	struct recording *rec;
	struct analysis analysis;
	struct diff_side side;
};

/* Build, read and analyse @s into @out; false (said) on failure. */
static bool side_open(const struct spec *s, struct side *out)
{
	struct tb b;
	struct tb_chunk c;
	char why[256];
	uint64_t start = BASE_NS;
	unsigned counters = s->instructions > 0 ? COUNTERS : INSTRUCTIONS;
	const struct recording_process *p;

	memset(out, 0, sizeof(*out));
	tb_init(&b, 1u << 22, counters);
	tb_counter(&b, TASK_CLOCK, ITP_COUNTER_TASK_CLOCK, "task-clock", !s->no_task_clock,
		   "not allowed");
	tb_counter(&b, VOLUNTARY, ITP_COUNTER_VOLUNTARY_SWITCHES, "voluntary-switches", 1, NULL);
	tb_counter(&b, INVOLUNTARY, ITP_COUNTER_INVOLUNTARY_SWITCHES, "involuntary-switches", 1,
		   NULL);
	tb_counter(&b, RUN_DELAY, ITP_COUNTER_RUN_DELAY, "run-delay", 1, NULL);
	if (s->instructions > 0)
		tb_counter(&b, INSTRUCTIONS, ITP_COUNTER_EVENT, "instructions", 1, NULL);
	c = tb_chunk(&b, 77, 0, 0);
	tb_rec_thread(&b, &c, 0, 77, "bench");
	tb_rec_region(&b, &c, 1, 0, "step");
	synthetic_seed(s->seed);
	for (size_t i = 0; i < s->n; i++) {
		double f = s->shape ? s->shape(i, s->n) : 1;
		double cpu = s->cpu_ns * f * (1 + s->noise * synthetic_normal()), off = s->off_ns;
		uint64_t v[COUNTERS] = { 0 };

		if (i >= s->preempt_first && i < s->preempt_last) {
			off += s->preempt_ns;
			v[INVOLUNTARY] = 1;
			v[RUN_DELAY] = (uint64_t)s->preempt_ns;
		}
		v[TASK_CLOCK] = s->no_task_clock ? ITP_VALUE_UNAVAILABLE : (uint64_t)cpu;
		v[INSTRUCTIONS] = (uint64_t)s->instructions;
		tb_rec_iteration(&b, &c, (uint32_t)(2 + i), 0, 0, 0, start, (uint64_t)(cpu + off),
				 v);
		start += (uint64_t)(cpu + off) + 50;
	}
	tb_footer(&b, s->n, 0);
	if (recording_open_buffer(b.buf, b.size, "diff.trace", &out->rec, why, sizeof(why))) {
		printf("recording_open_buffer: %s\n", why);
		tb_free(&b);
		return false;
	}
	tb_free(&b);
	p = &out->rec->processes[0];
	if (analysis_run(p, &p->threads[0].regions[0], &out->analysis)) {
		printf("analysis_run failed\n");
		recording_free(out->rec);
		out->rec = NULL;
		return false;
	}
	out->side = (struct diff_side){ p, &p->threads[0], &p->threads[0].regions[0],
					&out->analysis };
	return true;
}

static void side_close(struct side *s)
{
	if (!s->rec)
		return;
	analysis_free(&s->analysis);
	recording_free(s->rec);
}

/* Compare the traces of @base and @current at @threshold into @r; false
 * (said) when they could not be built. */
static bool compare(const char *what, const struct spec *base, const struct spec *current,
		    double threshold, struct diff_result *r)
{
	struct side b = { 0 }, c = { 0 };
	bool ok = side_open(base, &b) && side_open(current, &c);

	CHECK(ok, "%s: traces built and analysed", what);
	if (ok) {
		ok = diff_compare(&b.side, &c.side, threshold, r) == 0;
		CHECK(ok, "%s: diff_compare", what);
		printf("%s: %s\n", what, r->evidence);
	}
	side_close(&b);
	side_close(&c);
	return ok;
}

/* 400 iterations of 100 µs on a CPU (1 % noise), 1 µs off it */
#define STEADY(seed_, instr_)                                                             \
	(struct spec)                                                                     \
	{                                                                                 \
		.n = 400, .cpu_ns = 100000, .noise = 0.01, .off_ns = 1000,                \
		.instructions = (instr_), .seed = (seed_)                                 \
	}

/* (a) the work measure is instructions when both traces count them. */
static void test_instructions(void)
{
	struct diff_result r;
	struct spec base = STEADY(1, 200000), cur = STEADY(2, 400000);

	/* twice the instructions and twice the time on a CPU: the work grew */
	cur.cpu_ns = 200000;
	if (compare("doubled", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_REGRESSION, "doubled: %s", diff_verdict_name(r.verdict));
		CHECK(r.work_measure == DIFF_WORK_INSTRUCTIONS && fabs(r.work_rel - 1) < 0.01 &&
			      r.work_share > 0.9 && r.work_share < 1.1,
		      "doubled: %s %+.3f, share %.3f", diff_work_measure_name(r.work_measure),
		      r.work_rel, r.work_share);
		CHECK(r.is_significant && r.shift_rel > 0.9 && r.shift_rel < 1.1 &&
			      r.low_rel <= r.shift_rel && r.shift_rel <= r.high_rel,
		      "doubled: shift %+.3f [%+.3f, %+.3f]", r.shift_rel, r.low_rel, r.high_rel);
		CHECK(strstr(r.evidence, "regression: ") == r.evidence &&
			      strstr(r.evidence, "instructions +100 %") &&
			      strstr(r.evidence, "the work grew"),
		      "doubled: %s", r.evidence);
	}
	/* reversed: the same evidence, an improvement */
	if (compare("halved", &cur, &base, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_IMPROVEMENT && strstr(r.evidence, "instructions -50 %") &&
			      strstr(r.evidence, "the work shrank"),
		      "halved: %s", r.evidence);

	/* the same instructions, 100 µs more off the CPU waiting for it in
	 * every iteration: the environment, the instructions say so */
	cur = STEADY(2, 200000);
	cur.preempt_ns = 100000;
	cur.preempt_last = cur.n;
	if (compare("preempted", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_ENVIRONMENT, "preempted: %s", diff_verdict_name(r.verdict));
		CHECK(r.work_measure == DIFF_WORK_INSTRUCTIONS && fabs(r.work_rel) < 0.01 &&
			      fabs(r.work_share) < 0.05,
		      "preempted: %s %+.3f, share %.3f", diff_work_measure_name(r.work_measure),
		      r.work_rel, r.work_share);
		CHECK(r.has_excess && !r.excess_is_base && r.env_share > 0.9 &&
			      r.cause_share[ATTRIB_PREEMPTION] > 0.9,
		      "preempted: environment %.2f, preemption %.2f", r.env_share,
		      r.cause_share[ATTRIB_PREEMPTION]);
		CHECK(strstr(r.evidence, "environment: ") == r.evidence &&
			      strstr(r.evidence, "but instructions unchanged (") &&
			      strstr(r.evidence, "of the excess is preemption by other tasks"),
		      "preempted: %s", r.evidence);
	}

	/* the same instructions but 50 % more time on the CPU (a slower clock
	 * no counter shows): the instructions say the work did not change,
	 * and nothing explains the excess — not a regression ... */
	cur = STEADY(2, 200000);
	cur.cpu_ns = 150000;
	if (compare("slower CPU", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_INCONCLUSIVE && r.work_measure == DIFF_WORK_INSTRUCTIONS &&
			      fabs(r.work_rel) < 0.01,
		      "slower CPU: %s, %s %+.3f", diff_verdict_name(r.verdict),
		      diff_work_measure_name(r.work_measure), r.work_rel);
		CHECK(strstr(r.evidence, "instructions unchanged (") &&
			      strstr(r.evidence, "the environment explains only 0 %"),
		      "slower CPU: %s", r.evidence);
	}
	/* ... while the same traces without instructions are one: on-CPU
	 * time is the work measure then */
	base.instructions = cur.instructions = 0;
	if (compare("slower CPU, no instructions", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_REGRESSION && r.work_measure == DIFF_WORK_ON_CPU &&
			      fabs(r.work_rel - 0.5) < 0.01 &&
			      strstr(r.evidence, "on-CPU time +50 %"),
		      "no instructions: %s, %s", diff_verdict_name(r.verdict), r.evidence);
	/* and so it is when only one of the two traces counts instructions */
	base.instructions = 200000;
	if (compare("instructions in the base only", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_REGRESSION && r.work_measure == DIFF_WORK_ON_CPU,
		      "base only: %s, %s", diff_verdict_name(r.verdict),
		      diff_work_measure_name(r.work_measure));
}

/* No work measure at all (neither instructions nor task-clock): the
 * environment verdict rests on the excess alone. */
static void test_no_work_measure(void)
{
	struct diff_result r;
	struct spec base = STEADY(13, 0), cur = STEADY(14, 0);

	base.no_task_clock = cur.no_task_clock = true;
	cur.preempt_ns = 100000;
	cur.preempt_last = cur.n;
	if (compare("no work measure, preempted", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_ENVIRONMENT && r.work_measure == DIFF_WORK_UNKNOWN &&
			      isnan(r.work_rel) && r.env_share > 0.9 &&
			      strstr(r.evidence, "but no counter of the work (instructions or "
						 "on-CPU time)"),
		      "no work measure, preempted: %s, %s", diff_verdict_name(r.verdict),
		      r.evidence);
	/* twice as slow, nothing to say why: never a regression without a
	 * work measure */
	cur.preempt_ns = 0;
	cur.cpu_ns = 200000;
	if (compare("no work measure, slower", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_INCONCLUSIVE && r.work_measure == DIFF_WORK_UNKNOWN,
		      "no work measure, slower: %s", r.evidence);
}

/* (b) evidence both ways: the work carries between a quarter and a half of
 * the change, the environment the rest. */
static void test_both_ways(void)
{
	struct diff_result r;
	struct spec base = STEADY(3, 200000), cur = STEADY(4, 210000);

	/* +5 % instructions and on-CPU time (5 µs), +10 µs of preemption: the
	 * work carries 5 / 15 of the change */
	cur.cpu_ns = 105000;
	cur.preempt_ns = 10000;
	cur.preempt_last = cur.n;
	if (compare("both ways", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_INCONCLUSIVE, "both ways: %s",
		      diff_verdict_name(r.verdict));
		CHECK(r.work_share >= DIFF_WORK_NONE && r.work_share < DIFF_WORK_SHARE &&
			      fabs(r.work_share - 1.0 / 3) < 0.05,
		      "both ways: work share %.3f", r.work_share);
		CHECK(strstr(r.evidence, "inconclusive: ") == r.evidence &&
			      strstr(r.evidence, "instructions +5.0 %") &&
			      strstr(r.evidence, "evidence both ways: the work carries 3") &&
			      strstr(r.evidence, "preemption by other tasks"),
		      "both ways: %s", r.evidence);
	}
	/* the same with the work at +15 µs: three quarters, a regression, the
	 * preemption mentioned besides */
	cur.cpu_ns = 115000;
	cur.instructions = 230000;
	cur.preempt_ns = 5000;
	if (compare("mostly work", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_REGRESSION && r.work_share > 0.6 && r.work_share < 0.9 &&
			      strstr(r.evidence, "instructions +15 %"),
		      "mostly work: %s (share %.2f)", r.evidence, r.work_share);
}

/* A run that never settles: 3x, 2x, then its last 15 % at 1.3x. */
static double staircase(size_t i, size_t n)
{
	return i < n / 2 ? 3 : i < n * 85 / 100 ? 2 : 1.3;
}

/* Its first 30 iterations 10x. */
static double warm_start(size_t i, size_t n)
{
	(void)n;
	return i < 30 ? 10 : 1;
}

/* (c) warm-up: a run still warming up, and a warm-up that makes the means
 * differ while the steady states do not. */
static void test_warmup(void)
{
	struct diff_result r;
	struct spec base = STEADY(5, 200000), cur = STEADY(6, 200000);
	struct side s;

	/* the time on the CPU falls by steps, the instructions stay flat: the
	 * work did not change, the run never settled */
	cur.shape = staircase;
	if (side_open(&cur, &s)) {
		CHECK(s.analysis.steady < 0 &&
			      s.analysis.classification == PHASES_NO_STEADY_STATE &&
			      s.analysis.phase_count >= 2,
		      "staircase: %s, %zu phases", phases_class_name(s.analysis.classification),
		      s.analysis.phase_count);
		side_close(&s);
	}
	if (compare("still warming", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_WARMUP && r.is_significant && r.shift_rel > 0.25 &&
			      r.work_measure == DIFF_WORK_INSTRUCTIONS && fabs(r.work_rel) < 0.01,
		      "still warming: %s, shift %+.3f", diff_verdict_name(r.verdict), r.shift_rel);
		CHECK(strstr(r.evidence, "warmup: ") == r.evidence &&
			      strstr(r.evidence, "the current run never reached a steady state") &&
			      strstr(r.evidence, "still getting faster"),
		      "still warming: %s", r.evidence);
	}
	/* reversed: the base is the one still warming */
	if (compare("base still warming", &cur, &base, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_WARMUP && strstr(r.evidence, "the base run never reached"),
		      "base still warming: %s", r.evidence);
	/* without instructions on-CPU time is the work measure: it carries the
	 * whole change, and a change of the work outranks an unfinished
	 * warm-up */
	base.instructions = cur.instructions = 0;
	if (compare("still warming, on-CPU", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_REGRESSION && r.work_measure == DIFF_WORK_ON_CPU,
		      "still warming, on-CPU: %s", r.evidence);

	/* 30 iterations of 10x the time on the CPU at the start, the same
	 * steady state: the mean differs by the warm-up */
	base = STEADY(7, 200000);
	cur = STEADY(8, 200000);
	cur.shape = warm_start;
	if (compare("warm start", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_WARMUP && r.mean_rel > 0.5 && fabs(r.shift_rel) < 0.02 &&
			      r.current.warmup_iterations >= 28 &&
			      r.current.warmup_iterations <= 32,
		      "warm start: %s, mean %+.3f, shift %+.3f, %zu warm-up iterations",
		      diff_verdict_name(r.verdict), r.mean_rel, r.shift_rel,
		      r.current.warmup_iterations);
		CHECK(strstr(r.evidence, "warmup: the mean of all iterations +") == r.evidence &&
			      strstr(r.evidence, "the steady states are the same") &&
			      strstr(r.evidence, "current: 3"),
		      "warm start: %s", r.evidence);
	}
	/* the same 30 iterations slowed by preemption instead: the environment
	 * slowed the early iterations */
	cur.shape = NULL;
	cur.preempt_ns = 900000;
	cur.preempt_first = 0;
	cur.preempt_last = 30;
	if (compare("preempted start", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_ENVIRONMENT && r.mean_rel > 0.5 &&
			      strstr(r.evidence, "the current run's early iterations were slowed "
						 "by preemption by other tasks"),
		      "preempted start: %s", r.evidence);
}

/* (d) the threshold: 2 % by default, a fraction of the base median. */
static void test_threshold(void)
{
	struct diff_result r;
	struct spec base = STEADY(9, 0), cur = STEADY(10, 0);

	/* 0.1 % noise: a 1 % shift is significant but below 2 %, 5 % is not */
	base.noise = cur.noise = 0.001;
	cur.cpu_ns = 101000;
	if (compare("+1 %", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.verdict == DIFF_NO_CHANGE && r.is_significant &&
			      fabs(r.shift_rel - 0.01) < 0.002,
		      "+1 %%: %s, shift %+.4f [%+.4f, %+.4f]", diff_verdict_name(r.verdict),
		      r.shift_rel, r.low_rel, r.high_rel);
		CHECK(strstr(r.evidence, "no-change: ") == r.evidence &&
			      strstr(r.evidence, "below the threshold of 2 %"),
		      "+1 %%: %s", r.evidence);
	}
	/* a lower threshold makes it a change */
	if (compare("+1 % at 0.5 %", &base, &cur, 0.005, &r))
		CHECK(r.verdict == DIFF_REGRESSION, "+1 %% at 0.5 %%: %s", r.evidence);
	cur.cpu_ns = 105000;
	if (compare("+5 %", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_REGRESSION && fabs(r.shift_rel - 0.05) < 0.005 &&
			      strstr(r.evidence, "on-CPU time +5.0 %"),
		      "+5 %%: %s", r.evidence);
	if (compare("-5 %", &cur, &base, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_IMPROVEMENT, "-5 %%: %s", r.evidence);
	/* a higher one does not */
	if (compare("+5 % at 10 %", &base, &cur, 0.10, &r))
		CHECK(r.verdict == DIFF_NO_CHANGE &&
			      strstr(r.evidence, "below the threshold of 10 %"),
		      "+5 %% at 10 %%: %s", r.evidence);
	/* the same work twice with 1 % noise: no change, and not significant
	 * or below the threshold */
	base.noise = cur.noise = 0.01;
	cur.cpu_ns = 100000;
	if (compare("same", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_NO_CHANGE && fabs(r.shift_rel) < 0.005,
		      "same: %s", r.evidence);
}

/* Its last 5 iterations 4x on the CPU: a last phase too short to compare. */
static double short_last_phase(size_t i, size_t n)
{
	return i >= n - 5 ? 4 : 1;
}

/* A last phase under 10 iterations: the second half is compared, and the
 * work measure is that of the second half too, not of the short phase. */
static void test_second_half(void)
{
	struct diff_result r;
	struct spec base = STEADY(15, 0), cur = STEADY(16, 0);

	/* preempted throughout, the same on-CPU time but in the last 5 */
	cur.shape = short_last_phase;
	cur.preempt_ns = 100000;
	cur.preempt_last = cur.n;
	if (compare("short last phase", &base, &cur, DIFF_THRESHOLD, &r)) {
		CHECK(r.current.first == 200 && r.current.count == 200,
		      "short last phase: compared %zu-%zu", r.current.first + 1,
		      r.current.first + r.current.count);
		CHECK(r.verdict == DIFF_ENVIRONMENT && r.work_measure == DIFF_WORK_ON_CPU &&
			      fabs(r.work_rel) < 0.02,
		      "short last phase: %s, on-CPU %+.3f: %s", diff_verdict_name(r.verdict),
		      r.work_rel, r.evidence);
	}
}

/* (e) too few iterations to compare. */
static void test_too_few(void)
{
	struct diff_result r;
	struct spec base = STEADY(11, 0), cur = STEADY(12, 0);

	cur.n = 6;
	cur.cpu_ns = 200000;
	if (compare("6 iterations", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_INCONCLUSIVE && r.current.count == 6 &&
			      isnan(r.shift_ns) && r.median_rel > 0.9 &&
			      strstr(r.evidence, "inconclusive: too few iterations to compare "
						 "(base 400, current 6"),
		      "6 iterations: %s", r.evidence);
	base.n = 9;
	cur.n = 400;
	if (compare("9 iterations", &base, &cur, DIFF_THRESHOLD, &r))
		CHECK(r.verdict == DIFF_INCONCLUSIVE && strstr(r.evidence, "(base 9, current 400"),
		      "9 iterations: %s", r.evidence);
}

int main(void)
{
	test_instructions();
	test_no_work_measure();
	test_both_ways();
	test_warmup();
	test_threshold();
	test_too_few();
	test_second_half();
	return unit_test_finish();
}

/*
 * Unit tests of analyzer/envjoin.c and of the causes it feeds: a timeline
 * built in memory with known steal, cgroup throttling, a sibling thread on
 * one CPU, a cpufreq frequency drop, thermal throttle events and an
 * interrupt burst, joined to iterations placed in and out of them, then
 * split by attrib_explain(); and a timeline written with the sampler's
 * record encoders (env-sampler.c) and read back by the reader
 * (env-timeline.c) before the join, so that the steal and thermal throttle
 * fields go through the file format too.
 *
 * Steal and thermal throttling cannot be caused on purpose on a test
 * machine. Their joining is tested here and, on real recordings whose
 * timeline file is rewritten by tests/tools/env-inject, end to end by
 * tests/e2e/test_env_recorded.py.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "attrib.h"
#include "env-sampler.h"
#include "envjoin.h"

#include "unit-test.h"

#define MS 1000000ull
#define SAMPLES 101 /* every 10 ms over 1 s */

static uint64_t times[SAMPLES];

/* A series over the sample times, v[k] = f(k), in a static pool. */
static struct env_series series(uint64_t (*f)(size_t k))
{
	static uint64_t pool[32][SAMPLES];
	static unsigned used;
	struct env_series s = { SAMPLES, times, pool[used++ % 32] };

	for (size_t k = 0; k < SAMPLES; k++)
		s.v[k] = f(k);
	return s;
}

static uint64_t zero(size_t k) { (void)k; return 0; }
static uint64_t missing(size_t k) { (void)k; return ENV_MISSING; }
/* one 10 ms tick of steal between 490 and 500 ms */
static uint64_t steal0(size_t k) { return k >= 50 ? 10 * MS : 0; }
/* throttled 5 ms per sample from 700 to 800 ms */
static uint64_t ramp(size_t k, size_t from, size_t to, uint64_t step)
{
	return k <= from ? 0 : (k >= to ? to - from : k - from) * step;
}
static uint64_t throttled(size_t k) { return ramp(k, 70, 80, 5 * MS); }
/* the sibling runs 4 ms per sample from 300 to 400 ms, on CPU 0 */
static uint64_t sibling_cpu(size_t k) { return ramp(k, 30, 40, 4 * MS); }
/* the thread itself waits that long for a CPU then, and when throttled */
static uint64_t self_delay(size_t k) { return ramp(k, 30, 40, 4 * MS) + ramp(k, 70, 80, 5 * MS); }
static uint64_t self_cpu(size_t k) { return k * 5 * MS; }
static uint64_t cpu_of_sibling(size_t k) { (void)k; return 0; }
/* 2 GHz, 1 GHz from 900 to 950 ms */
static uint64_t freq0(size_t k) { return k > 90 && k <= 95 ? 1000000 : 2000000; }
/* 100 interrupts per sample from 200 to 250 ms on CPU 0 */
static uint64_t irqs0(size_t k) { return ramp(k, 20, 25, 100); }
/* two thermal throttle events between 600 and 610 ms on CPU 0, after 3
 * before the timeline began (the count is cumulative since boot) */
static uint64_t thermal0(size_t k) { return k >= 61 ? 5 : 3; }

static struct env_timeline timeline(void)
{
	static struct env_cpu cpus[2];
	static struct env_task tasks[2];
	struct env_timeline tl;

	memset(&tl, 0, sizeof(tl));
	for (size_t k = 0; k < SAMPLES; k++)
		times[k] = 1000 * MS + k * 10 * MS;
	for (unsigned c = 0; c < 2; c++) {
		cpus[c].steal_ns = series(c == 0 ? steal0 : zero);
		cpus[c].irq_count = series(c == 0 ? irqs0 : zero);
		cpus[c].softirq_count = series(zero);
		cpus[c].freq_khz = series(c == 0 ? freq0 : missing);
		/* CPU 1 as on a machine without the counters */
		cpus[c].throttle_count = series(c == 0 ? thermal0 : missing);
	}
	tasks[0] = (struct env_task){ .pid = 100, .tid = 100, .comm = "bench" };
	tasks[0].cpu_ns = series(self_cpu);
	tasks[0].run_delay_ns = series(self_delay);
	tasks[0].last_cpu = series(cpu_of_sibling);
	tasks[1] = (struct env_task){ .pid = 100, .tid = 101, .comm = "busy-helper" };
	tasks[1].cpu_ns = series(sibling_cpu);
	tasks[1].run_delay_ns = series(zero);
	tasks[1].last_cpu = series(cpu_of_sibling);
	tl.ncpus = 2;
	tl.cpus = cpus;
	tl.ntasks = 2;
	tl.tasks = tasks;
	tl.cg_throttled_ns = series(throttled);
	tl.start_ns = times[0];
	tl.end_ns = times[SAMPLES - 1];
	return tl;
}

static void joined(struct env_join *j, uint64_t at_ms, int cpu, bool has_interrupts,
		   double sig[ATTRIB_SIGNAL_COUNT])
{
	for (unsigned k = 0; k < ATTRIB_SIGNAL_COUNT; k++)
		sig[k] = NAN;
	env_join_signals(j, 1000 * MS + at_ms * MS + MS / 3, 75000, cpu, has_interrupts, sig);
}

static void test_join(void)
{
	struct env_timeline tl = timeline();
	struct env_join *j = env_join_new(&tl, 100, 100);
	double sig[ATTRIB_SIGNAL_COUNT];
	char names[2][16];
	double cpu[2];

	CHECK(j != NULL, "env_join_new");
	joined(j, 495, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_STEAL_NS] == 10 * MS, "steal in its window: %g",
	      sig[ATTRIB_SIG_STEAL_NS]);
	joined(j, 495, 1, true, sig);
	CHECK(sig[ATTRIB_SIG_STEAL_NS] == 0, "no steal on the other CPU: %g",
	      sig[ATTRIB_SIG_STEAL_NS]);
	joined(j, 300, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_STEAL_NS] == 0, "no steal elsewhere: %g", sig[ATTRIB_SIG_STEAL_NS]);
	joined(j, 355, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_SIBLING_SHARE] == 1, "sibling on its CPU: %g",
	      sig[ATTRIB_SIG_SIBLING_SHARE]);
	CHECK(sig[ATTRIB_SIG_THROTTLE_SHARE] == 0, "not throttled then: %g",
	      sig[ATTRIB_SIG_THROTTLE_SHARE]);
	joined(j, 355, 1, true, sig);
	CHECK(sig[ATTRIB_SIG_SIBLING_SHARE] == 0, "sibling on the other CPU: %g",
	      sig[ATTRIB_SIG_SIBLING_SHARE]);
	joined(j, 755, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_THROTTLE_SHARE] == 1, "throttled: %g",
	      sig[ATTRIB_SIG_THROTTLE_SHARE]);
	CHECK(sig[ATTRIB_SIG_SIBLING_SHARE] == 0, "no sibling then: %g",
	      sig[ATTRIB_SIG_SIBLING_SHARE]);
	joined(j, 925, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_FREQ_KHZ] == 1000000, "frequency drop: %g", sig[ATTRIB_SIG_FREQ_KHZ]);
	joined(j, 100, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_FREQ_KHZ] == 2000000, "frequency: %g", sig[ATTRIB_SIG_FREQ_KHZ]);
	joined(j, 100, 1, true, sig);
	CHECK(isnan(sig[ATTRIB_SIG_FREQ_KHZ]), "no frequency on CPU 1: %g",
	      sig[ATTRIB_SIG_FREQ_KHZ]);
	/* thermal throttle events: in the window on the iteration's CPU only */
	joined(j, 605, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_THERMAL_EVENTS] == 2, "throttle events in the window: %g",
	      sig[ATTRIB_SIG_THERMAL_EVENTS]);
	joined(j, 595, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_THERMAL_EVENTS] == 0, "none in the window before: %g",
	      sig[ATTRIB_SIG_THERMAL_EVENTS]);
	joined(j, 615, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_THERMAL_EVENTS] == 0, "none in the window after: %g",
	      sig[ATTRIB_SIG_THERMAL_EVENTS]);
	joined(j, 605, 1, true, sig);
	CHECK(isnan(sig[ATTRIB_SIG_THERMAL_EVENTS]), "CPU 1 has no counter: %g",
	      sig[ATTRIB_SIG_THERMAL_EVENTS]);
	/* where it ran is not known: the average over the CPUs that count */
	joined(j, 605, -1, true, sig);
	CHECK(sig[ATTRIB_SIG_THERMAL_EVENTS] == 1, "average CPU: %g",
	      sig[ATTRIB_SIG_THERMAL_EVENTS]);
	/* the trace counted interrupts: the timeline's are not used */
	joined(j, 225, 0, true, sig);
	CHECK(isnan(sig[ATTRIB_SIG_INTERRUPTS]), "interrupts overwritten: %g",
	      sig[ATTRIB_SIG_INTERRUPTS]);
	/* it did not: 100 per 10 ms prorated to 75 µs */
	joined(j, 225, 0, false, sig);
	CHECK(fabs(sig[ATTRIB_SIG_INTERRUPTS] - 0.75) < 1e-9, "prorated interrupts: %g",
	      sig[ATTRIB_SIG_INTERRUPTS]);
	/* outside the timeline: nothing joined */
	joined(j, 5000, 0, false, sig);
	CHECK(isnan(sig[ATTRIB_SIG_STEAL_NS]) && isnan(sig[ATTRIB_SIG_INTERRUPTS]),
	      "joined outside the timeline");
	/* back in time after later iterations: the cursor searches */
	joined(j, 495, 0, true, sig);
	CHECK(sig[ATTRIB_SIG_STEAL_NS] == 10 * MS, "steal after going back: %g",
	      sig[ATTRIB_SIG_STEAL_NS]);
	/* the process's other threads by CPU time */
	CHECK(env_join_siblings(j, times[0], times[SAMPLES - 1], 2, names, cpu) == 1,
	      "one sibling");
	CHECK(!strcmp(names[0], "busy-helper") && cpu[0] == 40 * MS, "sibling %s %g", names[0],
	      cpu[0]);
	env_join_free(j);
}

static struct attrib_model model(void)
{
	struct attrib_model m;

	for (unsigned s = 0; s < ATTRIB_SIGNAL_COUNT; s++)
		m.signal[s] = NAN;
	m.duration_ns = 75000;
	m.signal[ATTRIB_SIG_CPU_NS] = 74000;
	m.signal[ATTRIB_SIG_RUN_DELAY_NS] = 0;
	m.signal[ATTRIB_SIG_MINOR_FAULTS] = 0;
	m.signal[ATTRIB_SIG_VOLUNTARY] = 0;
	m.signal[ATTRIB_SIG_INVOLUNTARY] = 0;
	m.signal[ATTRIB_SIG_INTERRUPTS] = 0;
	m.signal[ATTRIB_SIG_CODE_EVENTS] = 0;
	m.signal[ATTRIB_SIG_FREQ_KHZ] = 2000000;
	m.signal[ATTRIB_SIG_THERMAL_EVENTS] = 0;
	attrib_estimator_finish(NULL, &m);
	return m;
}

static struct attrib_sample sample(const struct attrib_model *m, double extra_cpu,
				   double extra_wait)
{
	struct attrib_sample s = { 0 };

	memcpy(s.signal, m->signal, sizeof(s.signal));
	s.signal[ATTRIB_SIG_CPU_NS] += extra_cpu;
	s.signal[ATTRIB_SIG_RUN_DELAY_NS] += extra_wait;
	if (extra_wait > 0)
		s.signal[ATTRIB_SIG_INVOLUNTARY] = 1;
	s.duration_ns = m->duration_ns + extra_cpu + extra_wait;
	return s;
}

static void test_causes(void)
{
	struct attrib_model m = model();
	double ns[ATTRIB_CAUSE_COUNT];
	struct attrib_sample s;

	/* waiting for a CPU while a sibling ran there */
	s = sample(&m, 0, 4 * MS);
	s.signal[ATTRIB_SIG_SIBLING_SHARE] = 1;
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_SIBLING_THREADS && ns[ATTRIB_PREEMPTION] == 0,
	      "sibling: %g %g", ns[ATTRIB_SIBLING_THREADS], ns[ATTRIB_PREEMPTION]);
	/* half throttled, half of the rest the sibling */
	s.signal[ATTRIB_SIG_THROTTLE_SHARE] = 0.5;
	s.signal[ATTRIB_SIG_SIBLING_SHARE] = 0.5;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_CGROUP_THROTTLE] - 2 * MS) < 1 &&
		      fabs(ns[ATTRIB_SIBLING_THREADS] - 1 * MS) < 1 &&
		      fabs(ns[ATTRIB_PREEMPTION] - 1 * MS) < 1,
	      "three-way split: %g %g %g", ns[ATTRIB_CGROUP_THROTTLE],
	      ns[ATTRIB_SIBLING_THREADS], ns[ATTRIB_PREEMPTION]);
	/* no timeline: all preemption */
	s = sample(&m, 0, 4 * MS);
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_PREEMPTION && ns[ATTRIB_PREEMPTION] == 4 * MS,
	      "preemption: %g", ns[ATTRIB_PREEMPTION]);
	/* on-CPU time while the CPU's steal was high */
	s = sample(&m, 2 * MS, 0);
	s.signal[ATTRIB_SIG_STEAL_NS] = 10 * MS;
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_STEAL && ns[ATTRIB_UNEXPLAINED] == 0, "steal: %g %g",
	      ns[ATTRIB_STEAL], ns[ATTRIB_UNEXPLAINED]);
	/* steal smaller than the excess: the rest stays unexplained */
	s.signal[ATTRIB_SIG_STEAL_NS] = 0.5 * MS;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_STEAL] - 0.5 * MS) < 1 && fabs(ns[ATTRIB_UNEXPLAINED] - 1.5 * MS) < 1,
	      "steal capped: %g %g", ns[ATTRIB_STEAL], ns[ATTRIB_UNEXPLAINED]);
	/* code generated: jit before steal and first-call */
	s = sample(&m, 3 * MS, 0);
	s.signal[ATTRIB_SIG_CODE_EVENTS] = 2;
	s.signal[ATTRIB_SIG_STEAL_NS] = 10 * MS;
	s.is_first = s.is_warmup = true;
	attrib_explain(&m, &s, ns);
	CHECK(ns[ATTRIB_JIT] == 3 * MS && ns[ATTRIB_FIRST_CALL] == 0 && ns[ATTRIB_STEAL] == 0,
	      "jit: %g first-call %g steal %g", ns[ATTRIB_JIT], ns[ATTRIB_FIRST_CALL],
	      ns[ATTRIB_STEAL]);
	/* in a warm-up iteration that generated code the page faults are the
	 * compiler's: jit's */
	s.signal[ATTRIB_SIG_MINOR_FAULTS] = 500; /* x 2 µs = 1 ms */
	attrib_explain(&m, &s, ns);
	CHECK(ns[ATTRIB_PAGE_FAULTS] == 0 && fabs(ns[ATTRIB_JIT] - 3 * MS) < 1,
	      "warm-up faults are jit's: %g %g", ns[ATTRIB_PAGE_FAULTS], ns[ATTRIB_JIT]);
	/* after the warm-up, page faults keep their share beside jit */
	s.is_first = s.is_warmup = false;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_PAGE_FAULTS] - 1 * MS) < 1 && fabs(ns[ATTRIB_JIT] - 2 * MS) < 1,
	      "faults and jit: %g %g", ns[ATTRIB_PAGE_FAULTS], ns[ATTRIB_JIT]);
	/* interrupts x their cost (3 µs calibration) */
	s = sample(&m, 30000, 0);
	s.signal[ATTRIB_SIG_INTERRUPTS] = 10;
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_INTERRUPTS && fabs(ns[ATTRIB_INTERRUPTS] - 30000) < 1,
	      "interrupts: %g", ns[ATTRIB_INTERRUPTS]);
	/* the CPU at half its frequency, no cycle counter */
	s = sample(&m, 74000, 0);
	s.signal[ATTRIB_SIG_FREQ_KHZ] = 1000000;
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_FREQUENCY && fabs(ns[ATTRIB_FREQUENCY] - 74000) < 1,
	      "frequency: %g", ns[ATTRIB_FREQUENCY]);
}

/* Thermal throttle events around the iteration: `frequency` takes the
 * on-CPU excess that jit and steal leave, and only that; never with a
 * cycle counter, nor when the reference saw as many events. */
static void test_thermal_causes(void)
{
	struct attrib_model m = model();
	double ns[ATTRIB_CAUSE_COUNT];
	struct attrib_sample s;

	/* no events: the excess stays unexplained */
	s = sample(&m, 2 * MS, 0);
	s.signal[ATTRIB_SIG_FREQ_KHZ] = NAN;
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_UNEXPLAINED && ns[ATTRIB_FREQUENCY] == 0,
	      "no events: %g %g", ns[ATTRIB_UNEXPLAINED], ns[ATTRIB_FREQUENCY]);
	/* two events: all of it */
	s.signal[ATTRIB_SIG_THERMAL_EVENTS] = 2;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_FREQUENCY] - 2 * MS) < 1 && ns[ATTRIB_UNEXPLAINED] == 0,
	      "throttled: %g %g", ns[ATTRIB_FREQUENCY], ns[ATTRIB_UNEXPLAINED]);
	/* the off-CPU part of the excess is not the core's speed */
	s = sample(&m, 2 * MS, 1 * MS);
	s.signal[ATTRIB_SIG_FREQ_KHZ] = NAN;
	s.signal[ATTRIB_SIG_THERMAL_EVENTS] = 2;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_FREQUENCY] - 2 * MS) < 1 && fabs(ns[ATTRIB_PREEMPTION] - 1 * MS) < 1,
	      "on-CPU part only: %g %g", ns[ATTRIB_FREQUENCY], ns[ATTRIB_PREEMPTION]);
	/* steal is measured time: first, frequency takes what it leaves */
	s = sample(&m, 2 * MS, 0);
	s.signal[ATTRIB_SIG_FREQ_KHZ] = NAN;
	s.signal[ATTRIB_SIG_THERMAL_EVENTS] = 2;
	s.signal[ATTRIB_SIG_STEAL_NS] = 0.5 * MS;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_STEAL] - 0.5 * MS) < 1 && fabs(ns[ATTRIB_FREQUENCY] - 1.5 * MS) < 1 &&
		      ns[ATTRIB_UNEXPLAINED] == 0,
	      "steal then frequency: %g %g %g", ns[ATTRIB_STEAL], ns[ATTRIB_FREQUENCY],
	      ns[ATTRIB_UNEXPLAINED]);
	/* code made executable: jit's */
	s.signal[ATTRIB_SIG_STEAL_NS] = 0;
	s.signal[ATTRIB_SIG_CODE_EVENTS] = 1;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_JIT] - 2 * MS) < 1 && ns[ATTRIB_FREQUENCY] == 0, "jit first: %g %g",
	      ns[ATTRIB_JIT], ns[ATTRIB_FREQUENCY]);
	/* the first iteration: frequency rather than first-call */
	s.signal[ATTRIB_SIG_CODE_EVENTS] = 0;
	s.is_first = s.is_warmup = true;
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_FREQUENCY] - 2 * MS) < 1 && ns[ATTRIB_FIRST_CALL] == 0,
	      "before first-call: %g %g", ns[ATTRIB_FREQUENCY], ns[ATTRIB_FIRST_CALL]);
	s.is_first = s.is_warmup = false;
	/* the reference's window saw as many: throttling is the steady state */
	m.signal[ATTRIB_SIG_THERMAL_EVENTS] = 2;
	attrib_explain(&m, &s, ns);
	CHECK(ns[ATTRIB_FREQUENCY] == 0 && attrib_primary(ns) == ATTRIB_UNEXPLAINED,
	      "persistent throttling: %g", ns[ATTRIB_FREQUENCY]);
	/* no reference (no counters on the machine): nothing to compare */
	m.signal[ATTRIB_SIG_THERMAL_EVENTS] = NAN;
	attrib_explain(&m, &s, ns);
	CHECK(ns[ATTRIB_FREQUENCY] == 0, "no reference: %g", ns[ATTRIB_FREQUENCY]);
	/* a cycle counter at the reference's rate says the core was not slow */
	m = model();
	m.signal[ATTRIB_SIG_CYCLES] = 148000; /* 2 cycles per ns */
	s = sample(&m, 2 * MS, 0);
	s.signal[ATTRIB_SIG_FREQ_KHZ] = NAN;
	s.signal[ATTRIB_SIG_THERMAL_EVENTS] = 2;
	s.signal[ATTRIB_SIG_CYCLES] = 2 * s.signal[ATTRIB_SIG_CPU_NS];
	attrib_explain(&m, &s, ns);
	CHECK(ns[ATTRIB_FREQUENCY] == 0 && attrib_primary(ns) == ATTRIB_UNEXPLAINED,
	      "cycles say otherwise: %g", ns[ATTRIB_FREQUENCY]);
	/* and measure the loss when they did drop (at 1 cycle per ns, half) */
	s.signal[ATTRIB_SIG_CYCLES] = s.signal[ATTRIB_SIG_CPU_NS];
	attrib_explain(&m, &s, ns);
	CHECK(fabs(ns[ATTRIB_FREQUENCY] - s.signal[ATTRIB_SIG_CPU_NS] / 2) < 1,
	      "cycles measure it: %g", ns[ATTRIB_FREQUENCY]);
}

/*
 * The same joins over a file: a timeline written with the sampler's
 * encoders, read back by the reader. Samples every 10 ms from 1 s on, 2
 * CPUs; on CPU 1 one tick of steal (10 ms) between samples 20 and 21 and 3
 * thermal throttle events between samples 40 and 41; CPU 0 has neither.
 */
static void test_file(void)
{
	struct env_buf b = { 0 };
	struct env_timeline tl;
	struct env_join *j;
	struct attrib_model m = model();
	struct attrib_sample s;
	double ns[ATTRIB_CAUSE_COUNT];
	char why[256] = "";
	int err;

	env_buf_header(&b, &(struct env_header_info){ .interval_ns = 10 * MS, .start_ns = 1000 * MS,
						      .cpu_count = 2, .clk_tck = 100, .pid = 100,
						      .clock_id = CLOCK_MONOTONIC });
	for (uint64_t k = 0; k < 60; k++) {
		uint64_t t = 1000 * MS + k * 10 * MS;

		env_buf_sample(&b, t, (uint32_t)k, 0, 0);
		for (uint32_t c = 0; c < 2; c++) {
			struct env_cpu_values v = { .steal_ns = 70 * MS, .freq_khz = ENV_MISSING,
						    .throttle_count = 7 };

			if (c == 1 && k > 20)
				v.steal_ns += 10 * MS;
			if (c == 1 && k > 40)
				v.throttle_count += 3;
			env_buf_cpu(&b, t + 1000, c, &v);
		}
	}
	CHECK(!b.is_out_of_memory, "encoder out of memory");
	err = env_timeline_load_buffer(b.data, b.len, "test.timeline", &tl, why, sizeof(why));
	CHECK(err == 0, "load: %d %s", err, why);
	env_buf_free(&b);
	if (err)
		return;
	j = env_join_new(&tl, 100, 100);
	CHECK(j != NULL, "env_join_new");
	/* an iteration of 1 ms in [205, 206] ms after the start, on CPU 1 */
	for (unsigned k = 0; k < ATTRIB_SIGNAL_COUNT; k++)
		s.signal[k] = m.signal[k];
	s.signal[ATTRIB_SIG_CPU_NS] += 1 * MS;
	s.duration_ns = m.duration_ns + 1 * MS;
	s.is_first = s.is_warmup = false;
	s.signal[ATTRIB_SIG_FREQ_KHZ] = NAN;
	env_join_signals(j, 1205 * MS, 1 * MS, 1, true, s.signal);
	CHECK(s.signal[ATTRIB_SIG_STEAL_NS] == 10 * MS && s.signal[ATTRIB_SIG_THERMAL_EVENTS] == 0,
	      "file: steal %g thermal %g", s.signal[ATTRIB_SIG_STEAL_NS],
	      s.signal[ATTRIB_SIG_THERMAL_EVENTS]);
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_STEAL && ns[ATTRIB_FREQUENCY] == 0,
	      "file: steal %g frequency %g", ns[ATTRIB_STEAL], ns[ATTRIB_FREQUENCY]);
	/* the same on CPU 0: nothing */
	env_join_signals(j, 1205 * MS, 1 * MS, 0, true, s.signal);
	CHECK(s.signal[ATTRIB_SIG_STEAL_NS] == 0 && s.signal[ATTRIB_SIG_THERMAL_EVENTS] == 0,
	      "file, CPU 0: steal %g thermal %g", s.signal[ATTRIB_SIG_STEAL_NS],
	      s.signal[ATTRIB_SIG_THERMAL_EVENTS]);
	/* [405, 406] ms on CPU 1: throttled */
	env_join_signals(j, 1405 * MS, 1 * MS, 1, true, s.signal);
	CHECK(s.signal[ATTRIB_SIG_STEAL_NS] == 0 && s.signal[ATTRIB_SIG_THERMAL_EVENTS] == 3,
	      "file: steal %g thermal %g", s.signal[ATTRIB_SIG_STEAL_NS],
	      s.signal[ATTRIB_SIG_THERMAL_EVENTS]);
	attrib_explain(&m, &s, ns);
	CHECK(attrib_primary(ns) == ATTRIB_FREQUENCY && ns[ATTRIB_STEAL] == 0 &&
		      ns[ATTRIB_UNEXPLAINED] == 0,
	      "file: frequency %g steal %g", ns[ATTRIB_FREQUENCY], ns[ATTRIB_STEAL]);
	/* a window later: nothing */
	env_join_signals(j, 1415 * MS, 1 * MS, 1, true, s.signal);
	CHECK(s.signal[ATTRIB_SIG_THERMAL_EVENTS] == 0, "file, later: thermal %g",
	      s.signal[ATTRIB_SIG_THERMAL_EVENTS]);
	env_join_free(j);
	env_timeline_free(&tl);
}

int main(void)
{
	test_join();
	test_causes();
	test_thermal_causes();
	test_file();
	return unit_test_finish();
}

/*
 * attrib: see attrib.h for the rules; doc/causes.md for the vocabulary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attrib.h"

/* Which part of the excess a cause's estimate is taken from. */
enum side {
	SIDE_RESIDUAL, /* no estimator: gets what the rules hand it */
	SIDE_ON_CPU,
	SIDE_OFF_CPU,
	SIDE_ON_CPU_REST, /* takes from what the on-CPU estimators left */
};

typedef double (*estimate_fn)(const struct attrib_model *m, const struct attrib_sample *s);

struct cause_row {
	const char *name;
	const char *meaning;
	enum side side;
	estimate_fn estimate; /* ns of the excess it explains, >= 0 */
};

/* The extra count of a signal over the reference: NAN if either is
 * missing, never negative. */
static double excess(const struct attrib_model *m, const struct attrib_sample *s,
		     enum attrib_signal k)
{
	double d = s->signal[k] - m->signal[k];

	if (isnan(d))
		return NAN;
	return d > 0 ? d : 0;
}

/* excess() with a missing signal as 0: for counts whose absence means
 * "no evidence". */
static double excess0(const struct attrib_model *m, const struct attrib_sample *s,
		      enum attrib_signal k)
{
	double d = excess(m, s, k);

	return isnan(d) ? 0 : d;
}

/* A share signal of the environment timeline, 0 without one. */
static double share(const struct attrib_sample *s, enum attrib_signal k)
{
	double v = s->signal[k];

	return isnan(v) || v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Time waiting for a CPU is split three ways: the cgroup's quota ran out,
 * else a sibling thread had the CPU, else another task did. */
static double est_run_delay(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_RUN_DELAY_NS) * (1 - share(s, ATTRIB_SIG_THROTTLE_SHARE)) *
	       (1 - share(s, ATTRIB_SIG_SIBLING_SHARE));
}

static double est_throttle(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_RUN_DELAY_NS) * share(s, ATTRIB_SIG_THROTTLE_SHARE);
}

static double est_siblings(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_RUN_DELAY_NS) * (1 - share(s, ATTRIB_SIG_THROTTLE_SHARE)) *
	       share(s, ATTRIB_SIG_SIBLING_SHARE);
}

static double est_interrupts(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_INTERRUPTS) * m->cost_ns[ATTRIB_COST_INTERRUPT];
}

/* Rest estimators: what they return is capped by what is left. Code made
 * executable during the iteration: the time not explained otherwise was
 * the JIT's (compilation is CPU work no counter here names). */
static double est_jit(const struct attrib_model *m, const struct attrib_sample *s)
{
	(void)m;
	/* perf map entries are dated by the timeline's window: at least half
	 * an entry expected in the iteration */
	return s->signal[ATTRIB_SIG_CODE_EVENTS] > 0 || s->signal[ATTRIB_SIG_CODE_MAP] >= 0.5
		       ? INFINITY
		       : 0;
}

static double est_steal(const struct attrib_model *m, const struct attrib_sample *s)
{
	double steal = s->signal[ATTRIB_SIG_STEAL_NS];

	(void)m;
	return steal > 0 ? steal : 0;
}

static double est_minor_faults(const struct attrib_model *m, const struct attrib_sample *s)
{
	/* A warm-up iteration that made code executable was compiling: the
	 * pages its compiler touched are the compilation's (jit, which takes
	 * the rest of the on-CPU excess), not a cause of their own. */
	if (s->is_warmup && excess0(m, s, ATTRIB_SIG_CODE_EVENTS) > 0)
		return 0;
	return excess0(m, s, ATTRIB_SIG_MINOR_FAULTS) * m->cost_ns[ATTRIB_COST_MINOR_FAULT];
}

/* A major fault's wait for the disk is off-CPU (blocking, split below);
 * its handling on the CPU costs about what a minor fault's does. */
static double est_major_faults(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_MAJOR_FAULTS) * m->cost_ns[ATTRIB_COST_MINOR_FAULT];
}

static double est_migrations(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_MIGRATIONS) * m->cost_ns[ATTRIB_COST_MIGRATION];
}

static double est_cache(const struct attrib_model *m, const struct attrib_sample *s)
{
	return excess0(m, s, ATTRIB_SIG_CACHE_MISSES) * m->cost_ns[ATTRIB_COST_CACHE_MISS];
}

static double est_cache_warmup(const struct attrib_model *m, const struct attrib_sample *s)
{
	return s->is_warmup ? est_cache(m, s) : 0;
}

static double est_cache_misses(const struct attrib_model *m, const struct attrib_sample *s)
{
	return s->is_warmup ? 0 : est_cache(m, s);
}

/* The CPU ran slower: cycles per ns of task-clock below the reference's.
 * The time lost is what the iteration's cycles would have taken at the
 * reference rate, subtracted from its task-clock. Drops under 3 % are
 * left alone: cycles and task-clock are not read at the same instant. */
static double est_frequency(const struct attrib_model *m, const struct attrib_sample *s)
{
	double cpu = s->signal[ATTRIB_SIG_CPU_NS], cycles = s->signal[ATTRIB_SIG_CYCLES];
	double ref_rate = m->signal[ATTRIB_SIG_CYCLES] / m->signal[ATTRIB_SIG_CPU_NS];
	double lost;

	if (isnan(cycles) && s->signal[ATTRIB_SIG_FREQ_KHZ] > 0 &&
	    m->signal[ATTRIB_SIG_FREQ_KHZ] > 0 && cpu > 0) {
		/* No cycle counter: the frequency the timeline sampled. */
		double ratio = s->signal[ATTRIB_SIG_FREQ_KHZ] / m->signal[ATTRIB_SIG_FREQ_KHZ];

		return ratio < 0.97 ? cpu * (1 - ratio) : 0;
	}
	if (isnan(cpu) || isnan(cycles) || !(ref_rate > 0) || !(cpu > 0))
		return 0;
	if (cycles / cpu >= 0.97 * ref_rate)
		return 0;
	lost = cpu - cycles / ref_rate;
	return lost > 0 ? lost : 0;
}

/* The thermal throttle counters of the iteration's CPU rose in the
 * timeline's window around it more than around the reference's (persistent
 * throttling is the steady state's, not this iteration's): the core ran
 * slower for part of that window. The counters say that it throttled, not
 * for how long, so this only takes what the causes measured in time or
 * seen in the iteration itself (jit, steal) leave. And only without a
 * cycle counter: cycles per ns of task-clock measure the speed itself
 * (est_frequency), and say otherwise when they did not drop. */
static bool is_thermal_throttled(const struct attrib_model *m, const struct attrib_sample *s)
{
	return isnan(s->signal[ATTRIB_SIG_CYCLES]) && excess(m, s, ATTRIB_SIG_THERMAL_EVENTS) > 0;
}

/* Extra instructions at the reference's time per instruction; under 1 %
 * more is noise (interrupt handlers, counter reads). */
static double est_more_work(const struct attrib_model *m, const struct attrib_sample *s)
{
	double extra = excess(m, s, ATTRIB_SIG_INSTRUCTIONS);
	double ref = m->signal[ATTRIB_SIG_INSTRUCTIONS], cpu = m->signal[ATTRIB_SIG_CPU_NS];

	if (isnan(extra) || !(ref > 0) || isnan(cpu) || extra < 0.01 * ref)
		return 0;
	return extra * cpu / ref;
}

/* The vocabulary. */
static const struct cause_row attrib_causes[ATTRIB_CAUSE_COUNT] = {
	[ATTRIB_JIT] = { "jit", "code was generated or loaded (JIT compilation, dlopen)",
			 SIDE_ON_CPU_REST, est_jit },
	[ATTRIB_FIRST_CALL] = { "first-call",
				"the first iteration's extra on-CPU time that no counter explains "
				"(lazy binding, initialisation, cold code)",
				SIDE_RESIDUAL, NULL },
	[ATTRIB_CACHE_WARMUP] = { "cache-warmup",
				  "cache misses above the steady state's, before the steady state",
				  SIDE_ON_CPU, est_cache_warmup },
	[ATTRIB_CACHE_MISSES] = { "cache-misses",
				  "cache misses above the steady state's, in the steady state",
				  SIDE_ON_CPU, est_cache_misses },
	[ATTRIB_PAGE_FAULTS] = { "page-faults", "minor page faults (a page mapped or zeroed)",
				 SIDE_ON_CPU, est_minor_faults },
	[ATTRIB_MAJOR_FAULTS] = { "major-faults", "major page faults (a page read from disk)",
				  SIDE_ON_CPU, est_major_faults },
	[ATTRIB_PREEMPTION] = { "preemption",
				"another task had the CPU: run-queue delay, involuntary switches",
				SIDE_OFF_CPU, est_run_delay },
	[ATTRIB_BLOCKING] = { "blocking",
			      "the thread slept: voluntary switches (I/O, locks, sleeps)",
			      SIDE_RESIDUAL, NULL },
	[ATTRIB_MIGRATION] = { "migration", "the thread moved to another CPU (cold caches there)",
			       SIDE_ON_CPU, est_migrations },
	[ATTRIB_FREQUENCY] = { "frequency", "the CPU ran at a lower frequency (throttling)",
			       SIDE_ON_CPU, est_frequency },
	[ATTRIB_CGROUP_THROTTLE] = { "cgroup-throttle", "the cgroup's CPU quota ran out",
				     SIDE_OFF_CPU, est_throttle },
	[ATTRIB_STEAL] = { "steal", "the hypervisor ran another guest on this vCPU",
			   SIDE_ON_CPU_REST, est_steal },
	[ATTRIB_INTERRUPTS] = { "interrupts", "interrupt and softirq handlers ran on the CPU",
				SIDE_ON_CPU, est_interrupts },
	[ATTRIB_SIBLING_THREADS] = { "sibling-threads",
				     "other threads of the process took the CPU",
				     SIDE_OFF_CPU, est_siblings },
	[ATTRIB_MORE_WORK] = { "more-work", "the iteration executed more instructions",
			       SIDE_ON_CPU, est_more_work },
	[ATTRIB_UNEXPLAINED] = { "unexplained", "what the signals in the trace do not explain",
				 SIDE_RESIDUAL, NULL },
};

const char *attrib_cause_name(enum attrib_cause cause)
{
	return (unsigned)cause < ATTRIB_CAUSE_COUNT ? attrib_causes[cause].name : NULL;
}

const char *attrib_cause_meaning(enum attrib_cause cause)
{
	return (unsigned)cause < ATTRIB_CAUSE_COUNT ? attrib_causes[cause].meaning : NULL;
}

static const struct {
	const char *name;
	double default_ns;
} costs[ATTRIB_COST_COUNT] = {
	/* trap, allocation and zeroing of a 4 KiB page: 2.6 µs measured on
	 * the x86-64 VMs this was written on (a burst of 200 in one
	 * iteration), less on bare metal */
	[ATTRIB_COST_MINOR_FAULT] = { "minor fault", 2000 },
	/* the refill of a working set of a few hundred KiB on the new CPU */
	[ATTRIB_COST_MIGRATION] = { "migration", 5000 },
	/* a last-level miss served from DRAM */
	[ATTRIB_COST_CACHE_MISS] = { "cache miss", 80 },
	/* entry, a handler and exit; a network softirq handling a batch of
	 * packets takes several times more, which the trace then tells */
	[ATTRIB_COST_INTERRUPT] = { "interrupt", 3000 },
};

const char *attrib_cost_name(enum attrib_cost cost)
{
	return (unsigned)cost < ATTRIB_COST_COUNT ? costs[cost].name : NULL;
}

double attrib_cost_default_ns(enum attrib_cost cost)
{
	return (unsigned)cost < ATTRIB_COST_COUNT ? costs[cost].default_ns : NAN;
}

/* ------------------------------------------------------------------------
 * Per-event costs from the trace.
 */

/* Ratios kept per cost at most; when full every other one is dropped and
 * only every (stride)th later one is taken, so the kept ones stay spread
 * over the whole trace. */
#define ESTIMATOR_CAP 4096

/* one clean iteration: task-clock excess per event, and its events */
struct cost_sample {
	double ratio, events;
};

struct attrib_estimator {
	struct cost_sample sample[ATTRIB_COST_COUNT][ESTIMATOR_CAP];
	size_t count[ATTRIB_COST_COUNT];
	size_t seen[ATTRIB_COST_COUNT];
	size_t stride[ATTRIB_COST_COUNT];
};

struct attrib_estimator *attrib_estimator_new(void)
{
	struct attrib_estimator *e = calloc(1, sizeof(*e));

	if (e)
		for (unsigned k = 0; k < ATTRIB_COST_COUNT; k++)
			e->stride[k] = 1;
	return e;
}

static void estimator_keep(struct attrib_estimator *e, enum attrib_cost k, double ratio,
			   double events)
{
	if (e->seen[k]++ % e->stride[k])
		return;
	if (e->count[k] == ESTIMATOR_CAP) {
		for (size_t i = 0; i < ESTIMATOR_CAP / 2; i++)
			e->sample[k][i] = e->sample[k][2 * i];
		e->count[k] = ESTIMATOR_CAP / 2;
		e->stride[k] *= 2;
	}
	e->sample[k][e->count[k]++] = (struct cost_sample){ ratio, events };
}

void attrib_estimator_add(struct attrib_estimator *e, const struct attrib_model *m,
			  const struct attrib_sample *s)
{
	/* the event k's count, and the counts that must be 0 for the on-CPU
	 * excess to be that event's alone */
	static const struct {
		enum attrib_signal event, quiet;
	} use[ATTRIB_COST_COUNT] = {
		[ATTRIB_COST_MINOR_FAULT] = { ATTRIB_SIG_MINOR_FAULTS, ATTRIB_SIG_MIGRATIONS },
		[ATTRIB_COST_MIGRATION] = { ATTRIB_SIG_MIGRATIONS, ATTRIB_SIG_MINOR_FAULTS },
		[ATTRIB_COST_CACHE_MISS] = { ATTRIB_SIG_CACHE_MISSES, ATTRIB_SIG_MINOR_FAULTS },
		[ATTRIB_COST_INTERRUPT] = { ATTRIB_SIG_INTERRUPTS, ATTRIB_SIG_MINOR_FAULTS },
	};
	double cpu = excess(m, s, ATTRIB_SIG_CPU_NS);
	bool switched;

	if (!e || isnan(cpu))
		return;
	/* A context switch runs the scheduler and the wake-up path on the
	 * thread's task-clock: not a clean sample of a fault or a miss. But a
	 * thread changes CPU only by being switched out and in: a migration's
	 * samples are all of that kind. */
	switched = excess0(m, s, ATTRIB_SIG_VOLUNTARY) + excess0(m, s, ATTRIB_SIG_INVOLUNTARY) +
			   excess0(m, s, ATTRIB_SIG_SWITCHES) > 0;
	for (unsigned k = 0; k < ATTRIB_COST_COUNT; k++) {
		double n = excess(m, s, use[k].event);

		if (isnan(n) || n < 1 || excess0(m, s, use[k].quiet) > 0 ||
		    (switched && k != ATTRIB_COST_MIGRATION))
			continue;
		estimator_keep(e, k, cpu / n, n);
	}
}

static int compare_ratio(const void *a, const void *b)
{
	double x = ((const struct cost_sample *)a)->ratio, y = ((const struct cost_sample *)b)->ratio;

	return (x > y) - (x < y);
}

/* The median of the samples' ratios (sorted), one vote an iteration. */
static double median_ratio(const struct cost_sample *c, size_t n)
{
	return n % 2 ? c[n / 2].ratio : (c[n / 2 - 1].ratio + c[n / 2].ratio) / 2;
}

/* The mean cost of one event over the middle 80 % of the events (sorted by
 * their iteration's ratio): an iteration with 16 interrupts weighs 16
 * times one with 1. */
static double trimmed_event_mean(const struct cost_sample *c, size_t n)
{
	double total = 0, low, high, at = 0, cpu = 0, events = 0;

	for (size_t i = 0; i < n; i++)
		total += c[i].events;
	low = total * 0.1;
	high = total * 0.9;
	for (size_t i = 0; i < n; i++) {
		double from = at > low ? at : low, to = at + c[i].events < high ? at + c[i].events : high;

		if (to > from) {
			cpu += c[i].ratio * (to - from);
			events += to - from;
		}
		at += c[i].events;
	}
	return events > 0 ? cpu / events : median_ratio(c, n);
}

void attrib_estimator_finish(struct attrib_estimator *e, struct attrib_model *m)
{
	for (unsigned k = 0; k < ATTRIB_COST_COUNT; k++) {
		size_t n = e ? e->count[k] : 0;
		struct cost_sample *c = e ? e->sample[k] : NULL;
		double cost, low = costs[k].default_ns / 10, high = costs[k].default_ns * 10;

		m->cost_ns[k] = costs[k].default_ns;
		m->cost_samples[k] = 0;
		if (!n)
			continue;
		qsort(c, n, sizeof(*c), compare_ratio);
		/* Few samples: the smallest, so that one iteration that did
		 * other work besides its events does not make them look
		 * expensive. Either way within a factor of 10 of the
		 * calibration: an estimate beyond that says the samples were
		 * not clean. An interrupt's cost depends on what its handler
		 * found to do (a network softirq handles a batch of packets:
		 * the heavier the storm, the larger the batch), and the
		 * iterations with many interrupts are the ones to explain: per
		 * event, not per iteration. */
		if (n < ATTRIB_MIN_COST_SAMPLES)
			cost = c[0].ratio;
		else if (k == ATTRIB_COST_INTERRUPT)
			cost = trimmed_event_mean(c, n);
		else
			cost = median_ratio(c, n);
		m->cost_ns[k] = cost < low ? low : cost > high ? high : cost;
		m->cost_samples[k] = e->seen[k];
	}
}

void attrib_estimator_free(struct attrib_estimator *e)
{
	free(e);
}

/* ------------------------------------------------------------------------
 * The split.
 */

/* Run the estimators of @side into @ns; scale them to fit @budget. Returns
 * what they explain (<= budget). */
static double explain_side(const struct attrib_model *m, const struct attrib_sample *s,
			   enum side side, double budget, double ns[ATTRIB_CAUSE_COUNT])
{
	double sum = 0;

	if (!(budget > 0))
		return 0;
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		if (attrib_causes[c].side != side || !attrib_causes[c].estimate)
			continue;
		ns[c] = attrib_causes[c].estimate(m, s);
		sum += ns[c];
	}
	if (sum > budget) {
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
			if (attrib_causes[c].side == side)
				ns[c] *= budget / sum;
		sum = budget;
	}
	return sum;
}

/* Off-CPU time the direct signals left: whose kind of context switch? */
static void explain_off_cpu_rest(const struct attrib_model *m, const struct attrib_sample *s,
				 double rest, double ns[ATTRIB_CAUSE_COUNT])
{
	double vol = excess0(m, s, ATTRIB_SIG_VOLUNTARY), invol = excess0(m, s, ATTRIB_SIG_INVOLUNTARY);
	double major = excess0(m, s, ATTRIB_SIG_MAJOR_FAULTS);
	double blocking;

	if (!(rest > 0))
		return;
	if (!isnan(s->signal[ATTRIB_SIG_RUN_DELAY_NS]) && !isnan(m->signal[ATTRIB_SIG_RUN_DELAY_NS])) {
		/* Waiting for a CPU was measured: the rest is sleeping if
		 * the thread slept at all, else waiting the run delay did
		 * not see yet (it is updated when the thread runs again). */
		if (vol + major > 0)
			invol = 0;
		else if (invol + excess0(m, s, ATTRIB_SIG_SWITCHES) > 0)
			invol = 1;
	} else if (vol + invol == 0 && excess0(m, s, ATTRIB_SIG_SWITCHES) > 0) {
		/* perf's context-switches alone: the kind is not known;
		 * without run delay a switch is most often a preemption on
		 * a busy machine, a sleep otherwise: say unexplained */
		ns[ATTRIB_UNEXPLAINED] += rest;
		return;
	}
	if (vol + invol == 0 && major > 0)
		vol = major;
	if (vol + invol == 0) {
		ns[ATTRIB_UNEXPLAINED] += rest;
		return;
	}
	{
		/* waiting for a CPU, split as est_run_delay() does */
		double wait = rest * invol / (vol + invol);
		double throttled = wait * share(s, ATTRIB_SIG_THROTTLE_SHARE);
		double siblings = (wait - throttled) * share(s, ATTRIB_SIG_SIBLING_SHARE);

		ns[ATTRIB_CGROUP_THROTTLE] += throttled;
		ns[ATTRIB_SIBLING_THREADS] += siblings;
		ns[ATTRIB_PREEMPTION] += wait - throttled - siblings;
	}
	blocking = rest * vol / (vol + invol);
	/* major faults sleep on I/O: a voluntary switch each */
	if (major > 0) {
		double part = blocking * (major < vol ? major / vol : 1);

		ns[ATTRIB_MAJOR_FAULTS] += part;
		blocking -= part;
	}
	ns[ATTRIB_BLOCKING] += blocking;
}

double attrib_explain(const struct attrib_model *m, const struct attrib_sample *s,
		      double ns[ATTRIB_CAUSE_COUNT])
{
	double excess_ns = s->duration_ns - m->duration_ns;
	double cpu = s->signal[ATTRIB_SIG_CPU_NS], ref_cpu = m->signal[ATTRIB_SIG_CPU_NS];
	double total = 0;

	memset(ns, 0, ATTRIB_CAUSE_COUNT * sizeof(*ns));
	if (!(excess_ns > 0))
		return 0;
	if (isnan(cpu) || isnan(ref_cpu)) {
		/* Without task-clock only time measured directly can be
		 * placed: the run-queue delay. */
		double delay = est_run_delay(m, s);

		ns[ATTRIB_PREEMPTION] = delay < excess_ns ? delay : excess_ns;
		ns[ATTRIB_UNEXPLAINED] = excess_ns - ns[ATTRIB_PREEMPTION];
		return excess_ns;
	}
	{
		double on = cpu - ref_cpu;
		double off = (s->duration_ns - cpu) - (m->duration_ns - ref_cpu);
		double rest;

		rest = off - explain_side(m, s, SIDE_OFF_CPU, off, ns);
		explain_off_cpu_rest(m, s, rest, ns);
		rest = on - explain_side(m, s, SIDE_ON_CPU, on, ns);
		/* what the per-event estimates left, in table order */
		for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT && rest > 0; c++) {
			double part;

			if (attrib_causes[c].side != SIDE_ON_CPU_REST)
				continue;
			part = attrib_causes[c].estimate(m, s);
			part = part < rest ? part : rest;
			ns[c] += part;
			rest -= part;
		}
		if (rest > 0 && is_thermal_throttled(m, s)) {
			ns[ATTRIB_FREQUENCY] += rest;
			rest = 0;
		}
		if (rest > 0)
			ns[s->is_first && s->is_warmup ? ATTRIB_FIRST_CALL : ATTRIB_UNEXPLAINED] +=
				rest;
	}
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
		total += ns[c];
	if (!(total > 0)) {
		memset(ns, 0, ATTRIB_CAUSE_COUNT * sizeof(*ns));
		ns[ATTRIB_UNEXPLAINED] = excess_ns;
		return excess_ns;
	}
	/* On-CPU and off-CPU excesses add up to the duration's, unless one
	 * of them is negative (less off-CPU time than usual): then the parts
	 * are scaled to the real excess. */
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
		ns[c] *= excess_ns / total;
	return excess_ns;
}

enum attrib_cause attrib_primary(const double ns[ATTRIB_CAUSE_COUNT])
{
	enum attrib_cause best = ATTRIB_CAUSE_COUNT;

	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++)
		if (ns[c] > 0 && (best == ATTRIB_CAUSE_COUNT || ns[c] > ns[best]))
			best = c;
	return best;
}

/*
 * attrib: where a slow iteration's extra time went.
 *
 * An iteration's excess is its duration minus the reference (the steady
 * state's median). attrib_explain() splits it over the causes below, from
 * the signals the trace has for that iteration compared with their
 * reference medians (doc/causes.md has the rules in prose):
 *
 *   off-CPU excess   (duration - task-clock, over the reference's)
 *     preemption       run-queue delay measured directly (schedstat); the
 *                      rest of the off-CPU time by the kinds of context
 *                      switch: involuntary -> preemption, voluntary ->
 *                      blocking, and of the blocking the share of major
 *                      faults among the voluntary switches -> major-faults
 *     cgroup-throttle  of the time waiting for a CPU, the share the
 *                      environment timeline says the cgroup was throttled
 *     sibling-threads  of the rest of it, the share other threads of the
 *                      process ran on the thread's CPU meanwhile
 *   on-CPU excess    (task-clock over the reference's)
 *     page-faults      extra minor faults x the cost of one
 *     major-faults     extra major faults x the cost of a minor one (their
 *                      wait is off-CPU, above)
 *     migration        extra migrations x the cost of one
 *     frequency        cycles per ns of task-clock below the reference's;
 *                      without a cycle counter, the sampled frequency below
 *                      the reference's
 *     more-work        extra instructions x the reference time per
 *                      instruction
 *     cache-misses     extra cache misses x the cost of one
 *                      (cache-warmup before the steady state)
 *     interrupts       extra interrupts and softirqs x the cost of one
 *     then, of what the above leave:
 *     jit              all of it when the process made code executable
 *                      during the iteration (code-events, perf map)
 *     steal            up to the steal time of the CPU around it
 *     frequency        all of it when the CPU's thermal throttle counters
 *                      rose around the iteration more than around the
 *                      reference's and no cycle counter measured the speed
 *                      (the counters say that it throttled, not how long)
 *     what is left     first-call for the first iteration of a warm-up,
 *                      unexplained otherwise
 * When the estimates of one side add up to more than that side's excess
 * they are scaled down to it (per-event costs are estimates). The parts are
 * finally scaled so that the shares add up to the excess exactly.
 *
 * Per-event costs come from the trace when it can tell them: the ratio
 * (task-clock excess / event excess) over the iterations with that event
 * and no context switch (attrib_estimator_*): its median over at least
 * ATTRIB_MIN_COST_SAMPLES of them (for interrupts, whose cost depends on
 * the handler's batch, the mean per event over the middle 80 % of the
 * events), its smallest value over fewer, kept
 * within a factor of 10 of a calibration constant; with no such iteration,
 * the calibration constant itself (the model records which).
 *
 * Adding a cause is one step in three places: its value in enum
 * attrib_cause, its row in attrib_causes[] in attrib.c (name, meaning, the
 * side of the excess it takes from, its estimator), and, if it reads a
 * signal not listed yet, the signal in enum attrib_signal (filled by
 * analysis.c from the trace).
 */
#ifndef ITERPROF_ATTRIB_H
#define ITERPROF_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>

/* The fixed vocabulary, in the order outputs list causes. */
enum attrib_cause {
	ATTRIB_JIT,
	ATTRIB_FIRST_CALL,
	ATTRIB_CACHE_WARMUP,
	ATTRIB_CACHE_MISSES,
	ATTRIB_PAGE_FAULTS,
	ATTRIB_MAJOR_FAULTS,
	ATTRIB_PREEMPTION,
	ATTRIB_BLOCKING,
	ATTRIB_MIGRATION,
	ATTRIB_FREQUENCY,
	ATTRIB_CGROUP_THROTTLE,
	ATTRIB_STEAL,
	ATTRIB_INTERRUPTS,
	ATTRIB_SIBLING_THREADS,
	ATTRIB_MORE_WORK,
	ATTRIB_UNEXPLAINED,
	ATTRIB_CAUSE_COUNT
};

/* "page-faults", ...; NULL past the end. */
const char *attrib_cause_name(enum attrib_cause cause);
/* One line: what the cause means, for documentation and `--help`. */
const char *attrib_cause_meaning(enum attrib_cause cause);

/* What the trace may say about one iteration; NAN where it has no value. */
enum attrib_signal {
	ATTRIB_SIG_CPU_NS,        /* task-clock: ns on a CPU */
	ATTRIB_SIG_RUN_DELAY_NS,  /* ns runnable but waiting for a CPU (schedstat) */
	ATTRIB_SIG_MINOR_FAULTS,
	ATTRIB_SIG_MAJOR_FAULTS,
	ATTRIB_SIG_VOLUNTARY,     /* context switches: the thread slept */
	ATTRIB_SIG_INVOLUNTARY,   /* context switches: the thread was preempted */
	ATTRIB_SIG_SWITCHES,      /* context switches of either kind (perf) */
	ATTRIB_SIG_MIGRATIONS,
	ATTRIB_SIG_INSTRUCTIONS,
	ATTRIB_SIG_CYCLES,
	ATTRIB_SIG_CACHE_MISSES,
	ATTRIB_SIG_INTERRUPTS,    /* interrupts + softirqs while on the CPU */
	ATTRIB_SIG_CODE_EVENTS,   /* calls that made code executable (process) */
	ATTRIB_SIG_CODE_BYTES,
	/* joined from the environment timeline (envjoin.c) */
	ATTRIB_SIG_CODE_MAP,      /* perf map / jitdump entries expected in it */
	ATTRIB_SIG_STEAL_NS,      /* steal time of its CPU around it */
	ATTRIB_SIG_THROTTLE_SHARE, /* 0..1: of its waiting for a CPU, throttled */
	ATTRIB_SIG_SIBLING_SHARE, /* 0..1: of the rest, sibling threads ran */
	ATTRIB_SIG_FREQ_KHZ,      /* frequency of its CPU (a level) */
	ATTRIB_SIG_THERMAL_EVENTS, /* thermal throttle events of its CPU around it */
	ATTRIB_SIGNAL_COUNT
};

/* Events whose cost per occurrence is estimated. */
enum attrib_cost {
	ATTRIB_COST_MINOR_FAULT,
	ATTRIB_COST_MIGRATION,
	ATTRIB_COST_CACHE_MISS,
	ATTRIB_COST_INTERRUPT,
	ATTRIB_COST_COUNT
};

#define ATTRIB_MIN_COST_SAMPLES 5

struct attrib_sample {
	double duration_ns;
	double signal[ATTRIB_SIGNAL_COUNT]; /* NAN: not in the trace */
	bool is_warmup;   /* before the steady state */
	bool is_first;    /* the region's first iteration */
};

struct attrib_model {
	double duration_ns;                 /* the reference duration */
	double signal[ATTRIB_SIGNAL_COUNT]; /* reference values, NAN if none */
	double cost_ns[ATTRIB_COST_COUNT];  /* per event */
	size_t cost_samples[ATTRIB_COST_COUNT]; /* 0: the calibration constant */
};

/* The name of a cost ("minor fault", ...) and its calibration constant. */
const char *attrib_cost_name(enum attrib_cost cost);
double attrib_cost_default_ns(enum attrib_cost cost);

/*
 * The cost estimator: feed it the samples of the reference and warm-up
 * iterations after the model's reference values are set; it keeps at most
 * a bounded number of ratios per event (memory independent of the trace's
 * length). attrib_estimator_finish() writes the costs into the model.
 */
struct attrib_estimator;
struct attrib_estimator *attrib_estimator_new(void);
void attrib_estimator_add(struct attrib_estimator *e, const struct attrib_model *model,
			  const struct attrib_sample *sample);
void attrib_estimator_finish(struct attrib_estimator *e, struct attrib_model *model);
void attrib_estimator_free(struct attrib_estimator *e);

/*
 * Split the excess of @sample over @model->duration_ns: @ns[c] receives the
 * part of cause c (they add up to the excess). Returns the excess, or 0
 * (and all parts 0) when the iteration is not slower than the reference.
 */
double attrib_explain(const struct attrib_model *model, const struct attrib_sample *sample,
		      double ns[ATTRIB_CAUSE_COUNT]);

/* The cause with the largest part (ties: the earlier in the vocabulary), or
 * ATTRIB_CAUSE_COUNT when all parts are 0. */
enum attrib_cause attrib_primary(const double ns[ATTRIB_CAUSE_COUNT]);

#endif /* ITERPROF_ATTRIB_H */

/*
 * diff: is one run of a region slower than another, and why — the
 * statistics and the verdict of `iterprof diff` (doc/diff.md has them for
 * users; cmd-diff.c pairs the regions and prints).
 *
 * 1. Change. The steady states (each run's reference: analysis.h) are
 *    compared with the Hodges–Lehmann estimate of the shift — the median
 *    of every difference current − base between one iteration of each —
 *    and its distribution-free confidence interval from the Mann–Whitney
 *    rank statistic (normal approximation): rank-based, so a few huge
 *    outliers do not move it, and no resampling, so the same two traces
 *    always give the same interval. At most DIFF_SAMPLE evenly spaced
 *    iterations of each reference are used (the interval is then that of
 *    DIFF_SAMPLE samples: wider, not narrower). A change is reported when
 *    the interval excludes 0 and the shift is at least the threshold (a
 *    fraction of the base median).
 * 2. Work or environment. The slower run's reference iterations are
 *    explained against the faster run's reference (attrib.c, with the
 *    slower run's own counters and environment join): the share of their
 *    excess that is the environment (preemption, blocking, migrations,
 *    frequency, cgroup throttling, steal, interrupts, sibling threads,
 *    major faults) and the share that is work (more work, page faults,
 *    jit, cache misses). The work measure itself — the median
 *    instructions where both traces count them, else the median on-CPU
 *    time, of the iterations compared — says how much of the change of
 *    the median the work accounts for (work share).
 * 3. Warm-up. The mean of all iterations (what a harness that averages
 *    everything reports) is split into the part before the reference and
 *    the rest: when the steady states do not differ but the means do, and
 *    the warm-up part carries at least half of that, the verdict is warmup;
 *    so it is when the slower run never reached a steady state and was
 *    still getting faster.
 */
#ifndef ITERPROF_DIFF_H
#define ITERPROF_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis.h"
#include "recording.h"

#define DIFF_SAMPLE 1000       /* iterations of each reference, at most */
#define DIFF_EXPLAIN_SAMPLE 4096 /* iterations explained, at most */
#define DIFF_MIN_ITERATIONS 10 /* in each reference, to compare at all */
#define DIFF_CONFIDENCE 0.95
#define DIFF_THRESHOLD 0.02    /* default: changes below 2 % are not reported */
#define DIFF_WORK_SHARE 0.5    /* work share at least: the work changed */
#define DIFF_WORK_NONE 0.25    /* work share below: the work did not change */
#define DIFF_ENV_SHARE 0.5     /* environment share of the excess at least */

enum diff_verdict {
	DIFF_REGRESSION,
	DIFF_IMPROVEMENT,
	DIFF_NO_CHANGE,
	DIFF_ENVIRONMENT,
	DIFF_WARMUP,
	DIFF_INCONCLUSIVE,
	DIFF_VERDICT_COUNT
};

/* "regression", "improvement", "no-change", "environment", "warmup",
 * "inconclusive" */
const char *diff_verdict_name(enum diff_verdict v);
/* The verdict named @name, or DIFF_VERDICT_COUNT. */
enum diff_verdict diff_verdict_parse(const char *name);

/* One run's stream of a region, analysed (analysis_run_env). */
struct diff_side {
	const struct recording_process *process;
	const struct recording_thread *thread;
	const struct recording_region *region;
	const struct analysis *analysis;
};

enum diff_work_measure { DIFF_WORK_UNKNOWN, DIFF_WORK_INSTRUCTIONS, DIFF_WORK_ON_CPU };

/* "instructions", "on-cpu-time", or NULL */
const char *diff_work_measure_name(enum diff_work_measure m);

/* What a side contributes, computed by diff_compare(). */
struct diff_side_stats {
	size_t first, count;   /* the iterations compared (0-based): the
				  reference, or the second half of the run
				  when its last phase is too short */
	double median_ns;      /* of the iterations compared */
	double mean_ns;        /* of every iteration */
	size_t warmup_iterations; /* before the reference */
	double warmup_ns;      /* their total duration */
	double warmup_cause_ns[ATTRIB_CAUSE_COUNT]; /* their excess, by cause */
	double cpu_ns;         /* median on-CPU time of the iterations
				  compared, or NAN */
	double instructions;   /* their median instructions, or NAN */
};

struct diff_result {
	enum diff_verdict verdict;
	struct diff_side_stats base, current;
	/* the change of the steady state, current against base */
	double median_rel;     /* current median / base median - 1 */
	double shift_ns, low_ns, high_ns; /* Hodges–Lehmann, its interval */
	double shift_rel, low_rel, high_rel; /* the same / base median */
	bool is_significant;   /* the interval excludes 0 */
	double mean_rel;       /* the means of every iteration */
	/* the work */
	enum diff_work_measure work_measure;
	double work_rel;       /* its change, or NAN */
	double work_share;     /* of the change of the median, or NAN */
	/* the slower run's excess over the faster one's steady state */
	bool has_excess;
	bool excess_is_base;   /* the base was the slower run */
	double excess_ns;      /* total over the iterations explained */
	double cause_share[ATTRIB_CAUSE_COUNT];
	double env_share, work_cause_share, unexplained_share;
	char evidence[600];    /* "environment: median +340 % but ..." */
};

/* Whether a cause is the environment's (true) or the work's (false;
 * unexplained is neither: see diff_result). */
bool diff_cause_is_environment(enum attrib_cause c);

/*
 * Hodges–Lehmann shift of @y against @x (the median of y[j] - x[i]) and its
 * two-sided @confidence interval from the Mann–Whitney statistic (normal
 * approximation). Sorts @x and @y. Returns 0, -EINVAL for an empty sample,
 * -ENOMEM.
 */
int diff_hodges_lehmann(double *x, size_t n, double *y, size_t m, double confidence,
			double *shift, double *low, double *high);

/* Compare @current against @base into @out with @threshold (a fraction).
 * 0 or -ENOMEM. */
int diff_compare(const struct diff_side *base, const struct diff_side *current,
		 double threshold, struct diff_result *out);

#endif /* ITERPROF_DIFF_H */

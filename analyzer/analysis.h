/*
 * analysis: what `iterprof report` concludes about one region stream —
 * its phases and classification (phases.c), the reference (steady-state)
 * statistics, the slow iterations and the causes of every slow and warm-up
 * iteration's excess (attrib.c), and a one-sentence verdict.
 *
 * Steps (doc/report.md has them for users):
 * 1. Phases. Streams of up to ANALYSIS_RAW_LIMIT iterations are segmented
 *    as they are; longer ones as their first ANALYSIS_HEAD iterations
 *    followed by the medians of equal blocks of the rest (about
 *    ANALYSIS_BLOCKS of them, each the median of at most 63 evenly spaced
 *    iterations of the block), because PELT is quadratic on a flat series
 *    and a warm-up lives at the start. Phase spans are mapped back to
 *    iterations and their medians recomputed from every iteration. A first
 *    iteration far above its phase (> 2x its median) is a phase of its own:
 *    a first call is a warm-up of one iteration.
 * 2. Reference: the steady phase, or the last phase when the stream has no
 *    steady state, or every iteration when there are too few to classify.
 *    Its median, MAD, p95 and p99 are exact (every iteration, sorted); the
 *    reference value of each counter is its median over at most
 *    ANALYSIS_SAMPLE evenly spaced iterations of the phase.
 * 3. Slow: a reference iteration above
 *        median + max(ANALYSIS_SLOW_MADS x 1.4826 x MAD,
 *                     ANALYSIS_SLOW_REL x median, ANALYSIS_SLOW_NS).
 *    1.4826 x MAD estimates a normal sigma; the floors keep a nanosecond of
 *    jitter on a very stable benchmark from being an outlier.
 * 4. Causes: per-event costs estimated from the trace (attrib.h), then
 *    every slow and every warm-up iteration's excess over the reference
 *    median split over the causes, summed per phase and over the slow
 *    iterations.
 */
#ifndef ITERPROF_ANALYSIS_H
#define ITERPROF_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrib.h"
#include "envjoin.h"
#include "phases.h"
#include "recording.h"
#include "stats.h"

#define ANALYSIS_RAW_LIMIT 6000
#define ANALYSIS_HEAD 2000
#define ANALYSIS_BLOCKS 1000
#define ANALYSIS_SAMPLE 65536
/* spans of at least this many iterations are sorted as two halves at once */
#define ANALYSIS_SPLIT_SORT (1u << 20)
#define ANALYSIS_SLOW_MADS 5.0
#define ANALYSIS_SLOW_REL 0.05
#define ANALYSIS_SLOW_NS 2000.0
#define ANALYSIS_EXAMPLES 5 /* slow iterations named per cause */
#define ANALYSIS_HISTOGRAM_BINS 12 /* of the reference durations */
#define ANALYSIS_JOIN_SAMPLE 4096 /* iterations for the joined references */

struct analysis_phase {
	size_t first, last;   /* 0-based, inclusive */
	double median_ns;
	const char *label;    /* "warm-up", "steady", "faster", "changing", "reference" */
	double excess_ns;     /* over the reference median, of its iterations
				 that were slower (warm-up) or slow (steady) */
	double cause_ns[ATTRIB_CAUSE_COUNT];
	double counter_median[ITP_MAX_COUNTERS]; /* NAN: no value */
	double code_bytes;    /* made executable in its iterations with jit */
	char siblings[80];    /* with sibling-threads: "'name' 290 ms, ..." */
};

struct analysis {
	enum phases_class classification;
	size_t phase_count;
	struct analysis_phase *phase; /* malloc'ed */
	long steady;          /* index of the steady phase, or -1 */
	long reference;       /* index of the reference phase, or -1: every iteration */
	size_t ref_first, ref_last; /* the reference iterations */
	size_t ref_count;

	struct stats_summary ref_stats; /* of the reference durations */
	struct stats_summary all_stats; /* of every duration */
	double p95_ns;
	struct stats_histogram histogram; /* of the reference durations */

	bool has_threshold;   /* false for too-few */
	double threshold_ns;
	size_t slow_count;
	double slow_rate;     /* slow_count / ref_count */
	double slow_excess_ns;
	size_t cause_iterations[ATTRIB_CAUSE_COUNT]; /* slow, by primary cause */
	double cause_ns[ATTRIB_CAUSE_COUNT];         /* slow excess, by cause */
	size_t examples[ATTRIB_CAUSE_COUNT][ANALYSIS_EXAMPLES]; /* 0-based */
	size_t example_count[ATTRIB_CAUSE_COUNT];

	struct attrib_model model;
	int signal_counter[ATTRIB_SIGNAL_COUNT]; /* counter index, or -1 */
	int signal_counter2[ATTRIB_SIGNAL_COUNT]; /* a second one added, or -1 */
	int cpu_counter;      /* ITP_COUNTER_CPU's index, or -1 */
	struct env_join *env; /* the environment timeline, or NULL */
	double code_bytes;    /* made executable in slow iterations with jit */
	char siblings[80];    /* with sibling-threads among the slow causes */
	char verdict[800];
};

/*
 * Analyse @region of @process into @out (free with analysis_free).
 * Returns 0 or -ENOMEM.
 */
int analysis_run(const struct recording_process *process, const struct recording_region *region,
		 struct analysis *out);
/* The same, with the environment timeline joined (@env: the region's
 * thread's join, used again by analysis_explain() and freed by
 * analysis_free(); NULL: none). */
int analysis_run_env(const struct recording_process *process,
		     const struct recording_region *region, struct env_join *env,
		     struct analysis *out);
void analysis_free(struct analysis *a);

/* Index of the phase holding iteration @i. */
size_t analysis_phase_of(const struct analysis *a, size_t i);

/* "2.1 MB", "12 KB", "497 bytes" */
const char *analysis_format_bytes(double bytes, char *buf, size_t len);

bool analysis_is_slow(const struct analysis *a, const struct recording_region *region, size_t i);

/*
 * Causes of iteration @i's excess into @ns (see attrib_explain) when it is
 * slow or before the reference; its primary cause, or ATTRIB_CAUSE_COUNT
 * (all @ns 0) for an iteration that is neither or not slower.
 */
enum attrib_cause analysis_explain(const struct analysis *a, const struct recording_region *region,
				   size_t i, double ns[ATTRIB_CAUSE_COUNT]);

/*
 * The excess of iteration @i of @a's region over another run's reference
 * (@model: that run's analysis' model), split over the causes into @ns with
 * this run's signals (and its environment join). The iteration is taken as
 * a steady one. Returns the excess explained (0 when not slower). Used by
 * `iterprof diff` to tell why one run is slower than another.
 */
double analysis_explain_against(const struct analysis *a, const struct recording_region *r,
				size_t i, const struct attrib_model *model,
				double ns[ATTRIB_CAUSE_COUNT]);

#endif /* ITERPROF_ANALYSIS_H */

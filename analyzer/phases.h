/*
 * phases: a region's iteration times split into phases and classified, in
 * the manner of warmup_stats (Barrett et al., OOPSLA 2017):
 *
 * 1. far-out outliers are set aside (changepoint_outliers: Tukey's fences,
 *    k = 3, per block of 200), so that one slow iteration is not a phase;
 *    three or more in a row are kept (a warm-up's first iterations);
 * 2. the rest is segmented by PELT (changepoint_pelt, penalty 15 log n,
 *    variance floor (0.1 % of the overall median)^2 + 1 ns^2);
 * 3. neighbouring segments whose medians differ by no more than the
 *    tolerance are merged: max(tolerance_ns, tolerance_rel x the smaller
 *    median, noise_mads x 1.4826 x the larger MAD of the two) (defaults
 *    100 ns, 2 % and 1): a change smaller than that is not one a user would
 *    act on, nor one the iterations' own spread can show; and a short phase
 *    (at most max(min_iterations, 2 % of n) iterations) between two that
 *    are within the tolerance of each other is absorbed with them: a stall
 *    in the middle of a steady state is slow iterations, not a phase;
 * 4. classification, from the phases left:
 *      too-few          fewer than min_iterations (default 10) iterations;
 *      flat             one phase;
 *      no-steady-state  the last phase holds fewer than a quarter of the
 *                       iterations (the run ends still changing);
 *      warmup           no earlier phase is faster than the last (beyond
 *                       the tolerance);
 *      slowdown         an earlier phase is faster than the last.
 *    The last phase is the steady state whenever the class is flat, warmup
 *    or slowdown.
 * Outliers stay in the phase whose span holds them.
 */
#ifndef ITERPROF_PHASES_H
#define ITERPROF_PHASES_H

#include <stddef.h>
#include <stdint.h>

enum phases_class {
	PHASES_TOO_FEW,
	PHASES_FLAT,
	PHASES_WARMUP,
	PHASES_SLOWDOWN,
	PHASES_NO_STEADY_STATE,
};

/* "too-few", "flat", "warmup", "slowdown", "no-steady-state" */
const char *phases_class_name(enum phases_class c);

struct phase {
	size_t first, last; /* 0-based, inclusive */
	double median_ns;   /* of its iterations that are not outliers */
	double mad_ns;      /* of the same */
};

struct phases {
	enum phases_class classification;
	size_t count;        /* phases (0 for too-few) */
	struct phase *phase; /* malloc'ed */
	long steady;         /* index of the steady phase, or -1 */
	size_t outliers;     /* iterations set aside before segmenting */
};

struct phases_options {
	size_t min_iterations; /* fewer: too-few (default 10) */
	double tolerance_ns;   /* merge phases closer than this (default 100) */
	double tolerance_rel;  /* or closer than this fraction (default 0.02) */
	double noise_mads;     /* or than this many 1.4826 x MAD of the noisier
				  phase (default 1) */
};

#define PHASES_OPTIONS_DEFAULT                                                              \
	{ .min_iterations = 10, .tolerance_ns = 100, .tolerance_rel = 0.02, .noise_mads = 1 }

/* Find the phases of @n iteration times @ns. 0, or -ENOMEM / -EINVAL.
 * Free with phases_free. */
int phases_find(const uint64_t *ns, size_t n, const struct phases_options *options,
		struct phases *out);
void phases_free(struct phases *p);

/* Step 4 alone: classify @p's phases (spans and medians set) of a stream
 * of @n iterations and set its steady phase; for callers that changed the
 * phases (recomputed medians, split one). */
void phases_classify(struct phases *p, size_t n, const struct phases_options *options);

#endif /* ITERPROF_PHASES_H */

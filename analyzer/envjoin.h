/*
 * envjoin: the environment timeline of a recording (env-timeline.h) joined
 * to the iterations of one thread, by time and by the CPU each iteration
 * ended on.
 *
 * The timeline is sampled every few milliseconds; an iteration is usually
 * much shorter. Each iteration is given the values of the sampling window
 * around it — from the last sample at or before its start to the first at
 * or after its end — and what it can say about that window:
 *
 *   steal ns          steal time of the iteration's CPU in the window
 *   throttle share    cgroup throttled time / the thread's own run-queue
 *                     delay in the window (capped at 1): how much of its
 *                     waiting for a CPU the quota explains
 *   sibling share     CPU time of the process's other threads that last
 *                     ran on the iteration's CPU / the thread's run-queue
 *                     delay in the window (capped at 1)
 *   code map          perf map and jitdump entries the process added,
 *                     prorated by the iteration's share of the window
 *   frequency         the CPU's sampled frequency (a level)
 *   thermal events    the CPU's thermal throttle count (core + package)
 *                     increase in the window, not prorated: the counter
 *                     says the core throttled somewhere in the window, not
 *                     when nor for how long; NAN where the machine has no
 *                     such counter
 *   interrupts        only when the trace has no per-thread count: the
 *                     CPU's interrupts + softirqs in the window, prorated
 *                     by the iteration's duration
 *
 * Windows repeat from one iteration to the next, so they are computed once
 * and cached: the join costs a comparison per iteration.
 */
#ifndef ITERPROF_ENVJOIN_H
#define ITERPROF_ENVJOIN_H

#include <stdint.h>

#include "attrib.h"
#include "env-timeline.h"

struct env_join;

/* A join for thread @tid of process @pid; NULL when out of memory. */
struct env_join *env_join_new(const struct env_timeline *tl, int pid, int tid);
void env_join_free(struct env_join *j);

/* Set the joined signals of an iteration (@cpu: where it ended, -1 when not
 * recorded) in @signal; signals the timeline cannot give are left as they
 * are (NAN from the caller). @has_interrupts: the trace counted them. */
void env_join_signals(struct env_join *j, uint64_t start_ns, uint64_t duration_ns, int cpu,
		      bool has_interrupts, double signal[ATTRIB_SIGNAL_COUNT]);

/* Other threads of the process, by CPU time in [from, to]: up to @max of
 * them, largest first, in @names (16 bytes each) and @cpu_ns. Returns how
 * many. */
unsigned env_join_siblings(const struct env_join *j, uint64_t from, uint64_t to, unsigned max,
			   char names[][16], double cpu_ns[]);

#endif /* ITERPROF_ENVJOIN_H */

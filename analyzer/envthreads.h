/*
 * envthreads: the CPU time the process's other threads used while one
 * thread's iterations ran, on any CPU, and their names, from the
 * environment timeline (env-timeline.h). Where envjoin.h's sibling share
 * asks "did another thread of the process take this iteration's CPU",
 * this asks "what else was the process doing meanwhile" — a JIT compiler
 * or a garbage collector busy on the other core, which slows nothing and
 * would otherwise go unseen.
 *
 * `iterprof record` samples every thread's cumulative CPU time (schedstat)
 * every 10 ms from outside the process; nothing is read on the
 * per-iteration path. The threads are grouped by name (eight
 * "numba-worker" threads are one entry) and their cumulative times
 * resampled on the timeline's sample clock once, when the object is made.
 * A window's CPU time is then interpolated linearly inside the sample
 * intervals it overlaps: the resolution is the sampling interval (a burst
 * shorter than 10 ms is spread over its interval) and the kernel's update
 * of a running thread's time (a scheduler tick, 1-10 ms).
 */
#ifndef ITERPROF_ENVTHREADS_H
#define ITERPROF_ENVTHREADS_H

#include <stddef.h>
#include <stdint.h>

#include "env-timeline.h"

#define ENV_THREADS_NAMES 32 /* named groups kept; the rest are "(others)" */

struct env_threads;

struct env_threads_name {
	char name[16];
	double cpu_ns;
	unsigned threads;        /* threads of that name in the process */
};

/* The other threads of process @pid than @tid in @tl. NULL when out of
 * memory; the caller frees it with env_threads_free(). @tl must outlive it. */
struct env_threads *env_threads_new(const struct env_timeline *tl, int pid, int tid);
void env_threads_free(struct env_threads *th);

/* CPU time, ns, the other threads used in [@start_ns, @start_ns +
 * @duration_ns]; 0 when there are none; NAN when the window is outside the
 * timeline. Cheapest for windows in ascending order (a cursor). */
double env_threads_cpu_ns(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns);

/* The name of the group that used the most CPU in that window, or NULL
 * (none used any, or outside the timeline). The string is @th's. */
const char *env_threads_top_of(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns);

/* Totals over a set of windows (a phase's iterations, the slow ones):
 * env_threads_clear(), env_threads_add() for each, then env_threads_top().
 * Windows may overlap or come in any order. */
void env_threads_clear(struct env_threads *th);
void env_threads_add(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns);

/* The added windows' totals: up to @max groups, most CPU first, with some
 * CPU time, in @out; how many in *@count. Returns their total CPU time over
 * every group (NAN when no added window was inside the timeline). */
double env_threads_top(struct env_threads *th, unsigned max, struct env_threads_name *out,
		       unsigned *count);

#endif /* ITERPROF_ENVTHREADS_H */

/*
 * The environment timeline of a recording (<dir>/iterprof-env.timeline,
 * include/iterprof/env-format.h) read into series the analyzer can join with
 * iterations: every time stamp is CLOCK_MONOTONIC ns, the clock of the
 * iterations' start_ns.
 *
 * Series are per quantity: sample times and values, ENV_MISSING where the
 * value could not be read. Cumulative quantities (times, counts) are read
 * over an interval with env_series_delta(); levels (frequency, last CPU,
 * procs_running) at a time with env_series_at().
 */
#ifndef ITERPROF_ENV_TIMELINE_H
#define ITERPROF_ENV_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENV_MISSING UINT64_MAX

struct env_series {            /* one cumulative quantity over time */
	size_t n;
	uint64_t *t;               /* sample times, ns, ascending */
	uint64_t *v;               /* values, ENV_MISSING where not read */
};

struct env_cpu {               /* one CPU */
	struct env_series steal_ns, irq_ns, softirq_ns, idle_ns, irq_count, softirq_count;
	struct env_series freq_khz;      /* a level, not cumulative */
	struct env_series throttle_count;
};

struct env_task {              /* one thread of the command */
	int pid, tid;
	char comm[16];             /* last name seen */
	struct env_series cpu_ns, run_delay_ns;
	struct env_series last_cpu;      /* a level */
};

struct env_code {
	int pid;
	struct env_series map_entries, map_bytes, dump_entries, dump_bytes;
};

struct env_source {
	char name[32];
	bool is_available;
	char why[128];
};

struct env_timeline {
	uint64_t interval_ns, start_ns, end_ns;
	unsigned ncpus;
	struct env_cpu *cpus;      /* [ncpus] */
	struct env_series procs_running, procs_blocked;
	struct env_series psi_cpu_some_ns, psi_io_some_ns, psi_mem_some_ns;
	struct env_series cg_nr_throttled, cg_throttled_ns, cg_nr_periods;
	uint64_t cg_quota_us, cg_period_us;   /* last seen; ENV_MISSING when no quota/unknown */
	char cg_path[256];
	size_t ntasks;
	struct env_task *tasks;
	size_t ncode;
	struct env_code *code;
	size_t nsources;
	struct env_source *sources;
	/* Beyond the fields above (additions): the "full" pressure totals,
	 * and the sampler's own CPU time, cumulative, one point per sample
	 * (its cost: env_series_delta over the run / samples). */
	struct env_series psi_cpu_full_ns, psi_io_full_ns, psi_mem_full_ns;
	struct env_series sampler_cpu_ns;
	size_t samples;            /* SAMPLE records read */
};

/* Load <dir>/iterprof-env.timeline. 0, -ENOENT when the recording has none
 * (recorded with --no-env or by an older iterprof), or -errno with a reason
 * in why[why_size] for an unreadable or corrupt file. On success the caller
 * frees *@tl's arrays with env_timeline_free(); on failure *@tl is empty. */
int env_timeline_load(const char *dir, struct env_timeline *tl, char *why, size_t why_size);

/* The timeline of the recording that holds @path (a recording directory, or
 * a trace file in one): env_timeline_load() of that directory; a reason in
 * @why names the file. */
int env_timeline_load_beside(const char *path, struct env_timeline *tl, char *why,
			     size_t why_size);

/* The same over a timeline held in memory (@name stands for its file name in
 * messages); @data is not needed after return. For tests and fuzzing. */
int env_timeline_load_buffer(const void *data, size_t size, const char *name,
			     struct env_timeline *tl, char *why, size_t why_size);

/* Free what a load allocated and empty *@tl. Accepts NULL. */
void env_timeline_free(struct env_timeline *tl);

/* A cumulative series' increase over [from, to] ns, linearly interpolated
 * between samples (clamped at the series' ends); ENV_MISSING when the series
 * has no readable value around that interval. */
uint64_t env_series_delta(const struct env_series *s, uint64_t from, uint64_t to);

/* A level series' value at time t (the last sample at or before t). */
uint64_t env_series_at(const struct env_series *s, uint64_t t);

/* A series with a point at every sample's time (the first CPU's steal, else
 * the runnable-task count: both read at every sample), or NULL when the
 * timeline has neither. */
const struct env_series *env_timeline_clock(const struct env_timeline *tl);

/* The task with @tid, or NULL. */
const struct env_task *env_timeline_task(const struct env_timeline *tl, int tid);

/* The source called @name, or NULL. */
const struct env_source *env_timeline_source(const struct env_timeline *tl, const char *name);

#endif /* ITERPROF_ENV_TIMELINE_H */

/*
 * The environment sampler of `iterprof record`: a thread of the launcher that
 * samples system-wide state and the command's threads every interval and
 * appends it to <recording>/iterprof-env.timeline (include/iterprof/
 * env-format.h, doc/environment.md). Nothing of it runs in the benchmark.
 *
 * Also the record encoders (env_buf_*), which tests use to write timelines
 * with known contents.
 */
#ifndef ITERPROF_ENV_SAMPLER_H
#define ITERPROF_ENV_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iterprof/env-format.h"

/* Accepted --env-interval range, and the default. Measured on the 2-vCPU
 * VM, the sampler thread used 1.4-2.5 % of a CPU at 10 ms, 1.2-1.6 % at
 * 20 ms, 1.5-4.5 % at 5 ms: an empty timer wake-up alone costs 35-75 us of
 * CPU there, so ~1 % is out of reach at 5-10 ms. 10 ms samples every USER_HZ
 * tick of /proc/stat and keeps the analyzer's windows at 10 ms; 20 ms would
 * save ~0.5 % of a CPU for windows twice as wide (doc/environment.md). */
#define ENV_INTERVAL_MIN_NS 100000ull        /* 100 us */
#define ENV_INTERVAL_MAX_NS 10000000000ull   /* 10 s */
#define ENV_INTERVAL_DEFAULT_NS 10000000ull  /* 10 ms */

/*
 * Parse a --env-interval DURATION: a decimal number with an optional unit,
 * "us", "ms" (the default) or "s" ("10ms", "500us", "1s", "2.5ms", "5").
 * Returns 0 with *@ns set, -EINVAL for text that is not a duration, -ERANGE
 * for one outside [ENV_INTERVAL_MIN_NS, ENV_INTERVAL_MAX_NS].
 */
int env_interval_parse(const char *text, uint64_t *ns);

/* ---- record encoders -------------------------------------------------- */

/* Bytes being assembled before one write(). Zero-initialise; free data. */
struct env_buf {
	uint8_t *data;
	size_t len, capacity;
	bool is_out_of_memory; /* an append failed: write nothing */
};

struct env_header_info {
	uint64_t interval_ns, start_ns;
	uint32_t cpu_count, clk_tck, pid;
	uint32_t clock_id;
};

struct env_cpu_values {
	uint64_t steal_ns, irq_ns, softirq_ns, idle_ns;
	uint64_t irq_count, softirq_count, freq_khz, throttle_count;
};

struct env_system_values {
	uint64_t procs_running, procs_blocked;
	uint64_t psi_cpu_some_ns, psi_cpu_full_ns, psi_io_some_ns, psi_io_full_ns;
	uint64_t psi_mem_some_ns, psi_mem_full_ns;
};

struct env_cgroup_info {
	uint64_t quota_us, period_us; /* ITP_ENV_MISSING: none / unknown */
	uint32_t version;             /* 1, 2, or 0 when not found */
	const char *path;
};

struct env_cgroup_stat {
	uint64_t nr_periods, nr_throttled, throttled_ns;
};

struct env_task_values {
	uint64_t cpu_ns, run_delay_ns, last_cpu;
};

struct env_code_values {
	uint64_t map_entries, map_bytes, dump_entries, dump_bytes;
};

/* Append one record (or the file header) to @b. On out of memory the buffer
 * remembers it and env_buf_write() refuses. */
void env_buf_header(struct env_buf *b, const struct env_header_info *h);
void env_buf_sample(struct env_buf *b, uint64_t time_ns, uint32_t seq, uint32_t flags,
		    uint64_t sampler_cpu_ns);
void env_buf_source(struct env_buf *b, uint64_t time_ns, uint16_t source, bool is_available,
		    int error, const char *name, const char *why);
void env_buf_cpu(struct env_buf *b, uint64_t time_ns, uint32_t cpu,
		 const struct env_cpu_values *v);
void env_buf_system(struct env_buf *b, uint64_t time_ns, const struct env_system_values *v);
void env_buf_cgroup(struct env_buf *b, uint64_t time_ns, const struct env_cgroup_info *c);
void env_buf_cgroup_stat(struct env_buf *b, uint64_t time_ns, const struct env_cgroup_stat *v);
void env_buf_task(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid,
		  const struct env_task_values *v);
void env_buf_thread_name(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid,
			 const char *comm);
void env_buf_task_end(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid);
void env_buf_code(struct env_buf *b, uint64_t time_ns, uint32_t pid,
		  const struct env_code_values *v);

/* Append @b's bytes to @fd with write() (all of them, retrying short
 * writes) and empty @b. 0 or -errno (-ENOMEM if an append had failed). */
int env_buf_write(struct env_buf *b, int fd);

/* Free @b's bytes. */
void env_buf_free(struct env_buf *b);

/* ---- the sampler ------------------------------------------------------- */

struct env_sampler;

/*
 * Create @file (O_EXCL, 0600), write its header, and prepare to sample the
 * machine and the process tree of @pid every @interval_ns. Nothing is
 * sampled yet. Returns 0 with *@out set (free with env_sampler_close), or
 * -errno with a one-line reason in @why ("<file>: <strerror>").
 */
int env_sampler_open(const char *file, pid_t pid, uint64_t interval_ns,
		     struct env_sampler **out, char *why, size_t why_len);

/*
 * Take one sample now and append it to the file (@is_last: the command has
 * ended; the sample says so). Once a write has failed, samples are no longer
 * written (env_sampler_close reports that failure). For the thread below and
 * for measuring the cost of a sample.
 */
void env_sampler_sample(struct env_sampler *s, bool is_last);

/*
 * Start sampling from a thread of its own: a first sample at once, then one
 * every interval. The thread blocks every signal, so the launcher's signal
 * handling is unchanged. 0 or -errno (with @why).
 */
int env_sampler_start(struct env_sampler *s, char *why, size_t why_len);

/*
 * Stop the thread if started, after it has taken a last sample (the command
 * has ended), close the file and free @s. Accepts NULL. Returns 0, or the
 * -errno of the first failed write with a one-line reason in @why (the file
 * then ends at the last sample written).
 */
int env_sampler_close(struct env_sampler *s, char *why, size_t why_len);

#endif /* ITERPROF_ENV_SAMPLER_H */

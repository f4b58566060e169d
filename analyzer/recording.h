/*
 * A recording: a directory of trace files (or one file) read as a whole.
 * Implemented in recording.c over trace-reader.c.
 */
#ifndef ITERPROF_RECORDING_H
#define ITERPROF_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "column.h"
#include "iterprof/trace-format.h"
#include "trace-reader.h"

#define RECORDING_NO_STACK UINT32_MAX

struct recording_summary {
	unsigned processes;        /* trace files (process images) */
	unsigned threads;          /* threads that wrote at least one record */
	unsigned regions;          /* distinct (process, thread, region) streams */
	uint64_t iterations;
	uint64_t dropped;
	/* files without a clean-exit footer, not counting images that ended
	 * by exec (a later exec_generation of their pid exists), which never
	 * write one */
	unsigned truncated_files;
	/* The first non-empty counters_note of the files: why counters are
	 * degraded on this machine, for the launcher to print once. */
	char counters_note[128];
	unsigned functions_patched;  /* -f: functions patched, over all files */
	/* -f: patched functions that no process ever completed a call of,
	 * comma-separated and cut to fit */
	char never_called[256];
};

/*
 * Count what @path (a recording directory or one trace file) holds.
 * Returns 0, or -errno with a one-line reason in @why (e.g. -EINVAL for a
 * corrupt file: "<file>: byte <offset>: <what is wrong>").
 */
int recording_summarize(const char *path, struct recording_summary *summary,
			char *why, size_t why_len);

/*
 * The model: what a recording holds, per process image, thread and region.
 *
 * Per-iteration data is columnar (one array per field): 8 bytes for the
 * start, and for the duration, flags and each counter that counts the
 * narrowest width that holds its values (column.h): a counter that stays 0
 * costs nothing, one that does not count has no column at all.
 */
struct recording_counter {
	char name[33];
	uint16_t id;      /* ITP_COUNTER_* */
	uint16_t source;  /* ITP_SOURCE_* */
	uint32_t error;   /* errno when it does not count */
	bool is_counting; /* its values are data */
	bool is_kernel;   /* includes kernel mode */
	bool is_user_read; /* read in user space (mmap page + rdpmc/PMU registers) */
	char why[81];     /* why it does not count ("" if it does) */
};

/*
 * Call stacks (trace format 1.4, doc/stacks.md).
 *
 * A region keeps the samples of those of its outermost iterations the shim
 * kept stacks for (warm-up, slow, a reservoir of the others, or all): one
 * recording_sampled per such iteration, in iteration order, over a shared
 * array of (stack, kind, count) entries. 24 bytes per kept iteration and 8
 * per entry: the shim keeps a few hundred iterations by default, and even
 * --stacks=all of 10 million iterations with 3 entries each stays under
 * half a gigabyte.
 */
struct recording_sample {
	uint32_t stack;   /* index in the thread's stacks[]; RECORDING_NO_STACK
			     while reading (then the stack id) */
	uint8_t kind;     /* ITP_SAMPLE_* */
	uint16_t samples;
};

struct recording_sampled {
	uint64_t iteration; /* 0-based index in the region */
	uint32_t first;     /* its entries: samples[first .. first + count - 1] */
	uint32_t count;
	uint16_t lost;      /* samples the shim could not store or unwind */
	uint16_t kept;      /* ITP_KEPT_*: why the shim kept them */
};

struct recording_region_stacks {
	size_t count, capacity;          /* of iterations[] */
	struct recording_sampled *iterations;
	size_t sample_count, sample_capacity; /* of samples[] */
	struct recording_sample *samples;
};

/* A distinct call stack of a thread (ITP_REC_STACK). */
struct recording_stack {
	uint32_t id;          /* as in the trace: 1, 2, 3... */
	uint32_t first_frame; /* frames[first_frame ..] of the thread */
	uint16_t frame_count;
	uint16_t flags;       /* ITP_STACK_* */
};

/* An object mapped in a process image (ITP_REC_MODULE). */
struct recording_module {
	uint64_t start, end, bias;
	char *path;           /* owned; "" for the vdso or no file */
	uint8_t build_id[ITP_MODULE_BUILD_ID_MAX];
	uint8_t build_id_len;
};

/* One region of one thread: its iterations, in the order they ended.
 * Durations, flags and counter values are columns of the narrowest width
 * that holds them (column.h); read them with the recording_* accessors. */
struct recording_region {
	char *name;
	size_t count;
	size_t capacity;       /* of start_ns */
	uint64_t *start_ns;    /* the clock_id time stamps of the trace */
	struct column duration_ns;
	struct column flags;   /* ITP_ITER_* */
	/* values[c]: delta of counter c over each iteration, or
	 * ITP_VALUE_UNAVAILABLE; only when has_values[c] (the counter counts) */
	struct column values[ITP_MAX_COUNTERS];
	bool has_values[ITP_MAX_COUNTERS];
	uint32_t min_depth;    /* nesting depth: 0 = outermost */
	struct recording_region_stacks stacks; /* empty without stacks */
};

/* The kept iteration @i of @region (index in region->stacks.iterations),
 * or NULL when the shim kept no stacks for it. O(log kept). */
const struct recording_sampled *recording_sampled_of(const struct recording_region *region,
						     size_t i);

static inline uint64_t recording_duration(const struct recording_region *region, size_t i)
{
	return column_get(&region->duration_ns, i);
}

static inline uint16_t recording_flags(const struct recording_region *region, size_t i)
{
	return (uint16_t)column_get(&region->flags, i);
}

/* Counter @c's delta over iteration @i, or ITP_VALUE_UNAVAILABLE. */
static inline uint64_t recording_value(const struct recording_region *region, unsigned c,
				       size_t i)
{
	return region->has_values[c] ? column_get(&region->values[c], i) : ITP_VALUE_UNAVAILABLE;
}

struct recording_thread {
	uint32_t tid;
	uint32_t thread_seq;
	char name[17];         /* "" if its THREAD record was lost */
	uint64_t iterations;
	uint64_t dropped;      /* iterations the shim dropped (DROPPED records) */
	uint64_t lost_records; /* gaps in the record sequence */
	unsigned region_count;
	struct recording_region *regions; /* in order of first use */
	unsigned note_count;
	char **notes;          /* NOTE records, in order */
	/* STACK records, sorted by id (look one up with
	 * recording_stack_index); frames of all of them in one array,
	 * innermost first per stack */
	size_t stack_count, stack_capacity;
	struct recording_stack *stacks;
	size_t frame_count, frame_capacity;
	uint64_t *frames;
	/* samples whose stack is not in the trace (a lost STACK record) or
	 * whose iteration is (a lost or dropped ITERATION): counted here,
	 * left out of the regions */
	uint64_t orphan_samples;
};

/* Index in @thread->stacks of the stack with trace id @id, or -1. */
long recording_stack_index(const struct recording_thread *thread, uint32_t id);

struct recording_process {
	char *file;            /* path of the trace file */
	/* The file's header and footer as the reader decoded them (pid,
	 * command line, machine, clock...). What the recording concludes from
	 * the whole directory (ended by exec, truncated) is below. */
	struct trace_file_info header;
	unsigned counter_count;
	struct recording_counter counters[ITP_MAX_COUNTERS];

	bool is_ended_by_exec; /* footer says exec, or no footer but a later
				  image of the pid exists */
	bool is_truncated;     /* (!header.has_footer && !is_ended_by_exec) ||
				  header.is_cut */

	uint64_t iterations;   /* read from the file */
	/* the threads' DROPPED records, or the footer's count if larger (on
	 * a full disk drops reach only the footer) */
	uint64_t dropped;
	/* [0]: reason unknown, including drops only the footer counts */
	uint64_t dropped_by_reason[ITP_DROP_REASON_MAX + 1];
	uint64_t lost_records;
	unsigned thread_count;
	struct recording_thread *threads; /* in the order they started writing */
	unsigned function_count;
	struct recording_function *functions; /* in the order the shim wrote them */
	unsigned module_count;
	struct recording_module *modules; /* in the order the shim wrote them */
};

/* What became of a `-f PATTERN` in a process image (ITP_REC_FUNCTION). */
struct recording_function {
	uint16_t status; /* ITP_FUNCTION_* */
	char *pattern, *name, *module, *reason; /* owned; "" when absent */
};

struct recording {
	char *path;            /* as given to recording_open() */
	unsigned process_count;
	struct recording_process *processes; /* by pid, then exec_generation */
};

/*
 * Read @path: a directory (every iterprof-*.trace file in it) or one trace
 * file. On success *@out is the model; free it with recording_free().
 * Returns 0 or -errno with a one-line reason in @why:
 *     -EINVAL, -EPROTONOSUPPORT  a bad file: "<file>: byte <offset>: <why>"
 *     -ENOENT (no trace file in a directory), -EACCES, ...:
 *                                "<path>: <why>"
 *     -ENOMEM
 */
int recording_open(const char *path, struct recording **out, char *why, size_t why_len);

/* The same over one trace held in memory (@name stands for its file name);
 * the buffer is not needed after return. For tests and fuzzing. */
int recording_open_buffer(const void *data, size_t size, const char *name,
			  struct recording **out, char *why, size_t why_len);

/* What to do about a recording recording_open() refused with @err, to
 * print after its reason: " (the trace is damaged; record it again)", or "". */
const char *recording_open_hint(int err);

/* Free a model. Accepts NULL. */
void recording_free(struct recording *recording);

/* Index of the counter of @process with id @id that counts, or -1. */
int recording_counter_index(const struct recording_process *process, uint16_t id);

#endif /* ITERPROF_RECORDING_H */

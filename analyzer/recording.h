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
};

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
};

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

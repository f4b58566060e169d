/*
 * A recording: a directory of trace files (or one file) read as a whole.
 * Implemented in recording.c over trace-reader.c.
 */
#ifndef ITERPROF_RECORDING_H
#define ITERPROF_RECORDING_H

#include <stddef.h>
#include <stdint.h>

struct recording_summary {
	unsigned processes;        /* trace files (process images) */
	unsigned threads;          /* threads that wrote at least one record */
	unsigned regions;          /* distinct (process, thread, region) streams */
	uint64_t iterations;
	uint64_t dropped;
	unsigned truncated_files;  /* files without a clean-exit footer */
	/* The first non-empty counters_note of the files: why counters are
	 * degraded on this machine, for the launcher to print once. */
	char counters_note[128];
};

/*
 * Count what @path (a recording directory or one trace file) holds.
 * Returns 0, or -errno with a one-line reason in @why (e.g. -EINVAL for a
 * corrupt file: "<file>: byte <offset>: <what is wrong>").
 */
int recording_summarize(const char *path, struct recording_summary *summary,
			char *why, size_t why_len);

#endif /* ITERPROF_RECORDING_H */

/*
 * trace_reader: reads one trace file (include/iterprof/trace-format.h) and
 * streams each thread's records in order.
 *
 * The file is untrusted input: it may come from a crashed process, a full
 * disk, another version of iterprof or a random file. Every length is checked
 * against the bytes that remain before it is used. Failures return -errno and
 * put one line in the caller's @why buffer, always of the form
 *     <file>: byte <offset>: <what is wrong>
 * for a bad file, so that a user can look at the bytes:
 *     -EINVAL           corrupt, or not an iterprof trace at all
 *     -EPROTONOSUPPORT  a format version this reader does not read
 *     other -errno      open/mmap failed ("<file>: <strerror>")
 *
 * What is not an error:
 *  - no clean-exit footer, or a file cut inside a chunk: the file is
 *    "truncated" and is read up to its last whole record;
 *  - gaps in a thread's record sequence numbers: counted as lost records.
 *
 * Usage:
 *     struct trace_reader *r;
 *     if (trace_reader_open(path, &r, why, sizeof(why)) < 0) ...
 *     for (unsigned t = 0; t < trace_reader_thread_count(r); t++) {
 *             struct trace_cursor c;
 *             struct trace_record rec;
 *             trace_cursor_init(&c, r, t);
 *             while ((err = trace_cursor_next(&c, &rec, why, sizeof(why))) > 0)
 *                     ...
 *     }
 *     trace_reader_close(r);
 */
#ifndef ITERPROF_TRACE_READER_H
#define ITERPROF_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iterprof/trace-codec.h"
#include "iterprof/trace-format.h"

/* One counter descriptor, decoded; strings are always NUL-terminated. */
struct trace_counter {
	uint16_t id;     /* ITP_COUNTER_* */
	uint16_t source; /* ITP_SOURCE_* */
	uint32_t flags;  /* ITP_COUNTER_* flags */
	uint32_t error;  /* errno of the failure when it does not count */
	bool is_counting; /* flags & ITP_COUNTER_COUNTS: its values are data */
	char name[ITP_CD_NAME_LEN + 1];
	char why[ITP_CD_WHY_LEN + 1];
};

/* The file header and footer, decoded; strings are always NUL-terminated. */
struct trace_file_info {
	uint16_t version_major, version_minor;
	uint32_t header_size, chunk_size, flags, counter_count;
	uint32_t pid, ppid, exec_generation, clock_id, clock_read_cost_ns, uid;
	uint32_t time_source;  /* ITP_TIME_* */
	uint64_t tsc_hz;       /* with ITP_TIME_TSC */
	uint64_t start_ns, start_realtime_ns, config_flags;
	/* call stacks (since 1.4; all 0 in older files: stacks off) */
	uint32_t stacks_mode;      /* ITP_STACKS_* */
	uint32_t stacks_error;     /* errno why they were asked for and not
				      captured, else 0 */
	uint32_t fault_period;     /* one page fault in this many sampled */
	uint32_t cpu_period_us;    /* an on-CPU sample every this many us */
	uint32_t stack_copy_bytes; /* user stack copied per sample */
	char stacks_why[ITP_STACKS_WHY_LEN + 1];
	char host[ITP_HOST_LEN + 1];
	char kernel[ITP_KERNEL_LEN + 1];
	char cpu_model[ITP_CPU_MODEL_LEN + 1];
	char exe[ITP_EXE_LEN + 1];
	char cmdline[ITP_CMDLINE_LEN + 1];
	char counters_note[ITP_COUNTERS_NOTE_LEN + 1];
	struct trace_counter counters[ITP_MAX_COUNTERS];

	bool has_footer;      /* the writer exited cleanly */
	uint32_t end_reason;  /* footer fields, 0 without footer */
	uint64_t end_ns, footer_iterations, footer_dropped, footer_chunks_used;

	bool is_cut;          /* the file ends inside a chunk */
	bool is_truncated;    /* !has_footer || is_cut */
	uint64_t file_size;
	uint64_t chunk_count; /* whole chunks, plus the cut one if any */
	uint64_t unused_chunks; /* chunks with magic 0 (reserved, never written) */
};

/* A thread of the file: the chunks sharing (tid, thread_seq). */
struct trace_thread_info {
	uint32_t tid;
	uint32_t thread_seq;
	uint32_t chunk_count;
};

/* One record. Pointers point into the file mapping: they are valid until
 * trace_reader_close(). Strings are not NUL-terminated; use the lengths. */
struct trace_record {
	enum itp_record_type type;
	uint32_t seq;
	uint32_t size;   /* bytes, header included */
	uint64_t offset; /* byte offset of the record in the file */
	union {
		struct {
			uint32_t tid;
			uint32_t name_len;
			const char *name;
		} thread;
		struct {
			uint16_t id;
			uint16_t name_len;
			const char *name;
		} region;
		/* decoded; values[i] for i < counter_count, each a delta
		 * or ITP_VALUE_UNAVAILABLE */
		struct itp_iteration iteration;
		struct {
			uint32_t count;
			uint32_t reason; /* ITP_DROP_* */
		} dropped;
		struct {
			uint32_t len;
			const char *text;
		} note;
		struct {
			uint16_t status; /* ITP_FUNCTION_* */
			uint16_t pattern_len, name_len, module_len, reason_len;
			const char *pattern, *name, *module, *reason;
		} function;
		/* ITP_REC_MODULE; build_id_len <= ITP_MODULE_BUILD_ID_MAX,
		 * start < end */
		struct {
			uint64_t start, end, bias;
			uint16_t path_len; /* 0: the vdso or no file */
			uint8_t build_id_len;
			const unsigned char *build_id;
			const char *path;
		} module;
		/* ITP_REC_STACK; id != 0, 1 <= frame_count <=
		 * ITP_STACK_MAX_FRAMES; read frames with trace_stack_frame() */
		struct {
			uint32_t id;
			uint16_t frame_count;
			uint16_t flags; /* ITP_STACK_* */
			const unsigned char *frames;
		} stack;
		/* ITP_REC_SAMPLES; every entry has a stack id != 0 and, in a
		 * file of a version this reader knows, a known kind; read them
		 * with trace_samples_entry() */
		struct {
			uint32_t count;
			uint16_t lost;
			uint16_t kept; /* ITP_KEPT_* */
			const unsigned char *entries;
		} samples;
	};
};

/* One entry of an ITP_REC_SAMPLES record. */
struct trace_sample_entry {
	uint32_t stack_id;
	uint8_t kind;     /* ITP_SAMPLE_* */
	uint16_t samples;
};

/* Frame @i (< frame_count) of an ITP_REC_STACK record: innermost first. */
uint64_t trace_stack_frame(const struct trace_record *record, unsigned i);

/* Entry @i (< count) of an ITP_REC_SAMPLES record. */
void trace_samples_entry(const struct trace_record *record, uint32_t i,
			 struct trace_sample_entry *entry);

/* Where a thread's stream is; fill with trace_cursor_init(). */
struct trace_cursor {
	const struct trace_reader *reader;
	unsigned thread;
	uint32_t chunk;      /* index in the thread's chunk list */
	uint64_t pos;        /* offset inside the current chunk */
	uint64_t next_seq;   /* the seq the next record should have */
	uint64_t prev_start_ns; /* of the chunk's previous ITERATION (delta base) */
	bool seen_record;
	bool done;
	uint32_t begin_chunk; /* the range read: chunk indexes begin..end-1 */
	uint32_t drop_first;  /* first chunk read whose pages are not dropped */
	uint32_t end_chunk;
	uint64_t lost_records; /* seq gaps so far */
	uint64_t records;      /* records returned so far */
	uint32_t first_seq;    /* of the first record returned, if any */
	uint64_t first_offset; /* and its byte offset */
	/* An ITERATION_BATCH being returned entry by entry, as ITERATION
	 * records carrying the batch's seq, size and offset. */
	const unsigned char *batch_p, *batch_end;
	uint32_t batch_left;
	uint16_t batch_flags;
	uint32_t batch_seq, batch_size;
	uint64_t batch_offset;
};

struct trace_reader;

/*
 * Map @path read-only and validate its header and chunk index.
 * On success *@out is the reader (free it with trace_reader_close()).
 */
int trace_reader_open(const char *path, struct trace_reader **out, char *why,
		      size_t why_len);

/*
 * The same over @size bytes at @data, which the caller keeps alive and
 * unchanged until trace_reader_close(); @name stands for the file name in
 * reasons. For tests and fuzzing.
 */
int trace_reader_open_buffer(const void *data, size_t size, const char *name,
			     struct trace_reader **out, char *why, size_t why_len);

/* Unmap and free. Accepts NULL. */
void trace_reader_close(struct trace_reader *reader);

/* The file name given to open. Owned by the reader. */
const char *trace_reader_name(const struct trace_reader *reader);

/* The decoded header and footer. Owned by the reader. */
const struct trace_file_info *trace_reader_info(const struct trace_reader *reader);

/* Threads, ordered by thread_seq (the order in which they started writing). */
unsigned trace_reader_thread_count(const struct trace_reader *reader);
const struct trace_thread_info *trace_reader_thread(const struct trace_reader *reader,
						    unsigned index);

/* Start reading thread @thread from its first record. */
void trace_cursor_init(struct trace_cursor *cursor, const struct trace_reader *reader,
		       unsigned thread);

/* The same over the thread's chunks @first .. @end - 1 only (indexes in its
 * chunk list, end <= chunk_count): chunks decode independently, so parts of
 * one thread can be read in parallel. The seq gap between two parts is the
 * caller's to count (first_seq of one, next_seq of the one before). */
void trace_cursor_init_range(struct trace_cursor *cursor, const struct trace_reader *reader,
			     unsigned thread, uint32_t first, uint32_t end);

/*
 * The thread's next record in *@record. Returns 1, 0 at the end of the
 * thread's records, or -EINVAL for a corrupt record (with the reason in
 * @why). After 0 or an error, the cursor stays where it is.
 */
int trace_cursor_next(struct trace_cursor *cursor, struct trace_record *record,
		      char *why, size_t why_len);

/* A short human name for an ITP_DROP_* reason ("trace full"). Static. */
const char *trace_drop_reason_name(uint32_t reason);

#endif /* ITERPROF_TRACE_READER_H */

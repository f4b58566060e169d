/*
 * trace_builder: writes synthetic trace files byte by byte, following
 * include/iterprof/trace-format.h, for the reader's tests. It uses only the
 * format header's constants, never the reader's code, so that a reader bug
 * cannot hide behind a builder that shares it.
 *
 *     struct tb b;
 *     tb_init(&b, 4096, 2);
 *     tb_counter(&b, 0, ITP_COUNTER_TASK_CLOCK, "task-clock", 1, NULL);
 *     struct tb_chunk c = tb_chunk(&b, 101, 0, 0);
 *     tb_rec_thread(&b, &c, 0, 101, "main");
 *     ...
 *     tb_footer(&b, iterations, dropped);
 *     use b.buf, b.size; tb_free(&b);
 *
 * Out of memory or a record that does not fit aborts: these are tests.
 */
#ifndef ITERPROF_TRACE_BUILDER_H
#define ITERPROF_TRACE_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iterprof/trace-format.h"

struct tb {
	unsigned char *buf;
	size_t size;
	uint32_t chunk_size;
	uint32_t counter_count;
	uint64_t chunks_used; /* like the shim's: chunk positions up to the last
				 one handed out to a thread */
};

/* A chunk being filled: its offset in the file and the next record's. */
struct tb_chunk {
	size_t offset;
	size_t pos;
	uint64_t prev_start_ns; /* of the chunk's last ITERATION: the delta base */
};

static inline void tb_put16(struct tb *b, size_t off, uint16_t v)
{
	for (unsigned i = 0; i < 2; i++)
		b->buf[off + i] = (unsigned char)(v >> (8 * i));
}

static inline void tb_put32(struct tb *b, size_t off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		b->buf[off + i] = (unsigned char)(v >> (8 * i));
}

static inline void tb_put64(struct tb *b, size_t off, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		b->buf[off + i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t tb_get32(const struct tb *b, size_t off)
{
	return (uint32_t)b->buf[off] | (uint32_t)b->buf[off + 1] << 8 |
	       (uint32_t)b->buf[off + 2] << 16 | (uint32_t)b->buf[off + 3] << 24;
}

static inline void tb_puts(struct tb *b, size_t off, const char *s, size_t field_len)
{
	size_t n = strlen(s);

	if (n >= field_len)
		n = field_len - 1;
	memcpy(b->buf + off, s, n);
}

static inline void tb_grow(struct tb *b, size_t size)
{
	unsigned char *p = realloc(b->buf, size);

	if (!p) {
		fprintf(stderr, "trace builder: out of memory\n");
		abort();
	}
	if (size > b->size)
		memset(p + b->size, 0, size - b->size);
	b->buf = p;
	b->size = size;
}

/* A header of a process that is still running: no footer, no chunk. */
static inline void tb_init(struct tb *b, uint32_t chunk_size, uint32_t counter_count)
{
	memset(b, 0, sizeof(*b));
	b->chunk_size = chunk_size;
	b->counter_count = counter_count;
	tb_grow(b, ITP_HEADER_SIZE);
	memcpy(b->buf + ITP_OFF_MAGIC, ITP_MAGIC, ITP_MAGIC_LEN);
	tb_put16(b, ITP_OFF_VERSION_MAJOR, ITP_VERSION_MAJOR);
	tb_put16(b, ITP_OFF_VERSION_MINOR, ITP_VERSION_MINOR);
	tb_put32(b, ITP_OFF_HEADER_SIZE, ITP_HEADER_SIZE);
	tb_put32(b, ITP_OFF_ENDIAN_TAG, ITP_ENDIAN_TAG);
	tb_put32(b, ITP_OFF_CHUNK_SIZE, chunk_size);
	tb_put32(b, ITP_OFF_FLAGS, ITP_FILE_LITTLE_ENDIAN);
	tb_put32(b, ITP_OFF_COUNTER_COUNT, counter_count);
	tb_put32(b, ITP_OFF_PID, 4242);
	tb_put32(b, ITP_OFF_PPID, 1);
	tb_put32(b, ITP_OFF_EXEC_GENERATION, 0);
	tb_put32(b, ITP_OFF_CLOCK_ID, 1); /* CLOCK_MONOTONIC */
	tb_put64(b, ITP_OFF_START_NS, 1000000000ull);
	tb_put64(b, ITP_OFF_START_REALTIME_NS, 1700000000000000000ull);
	tb_put32(b, ITP_OFF_CLOCK_READ_COST_NS, 20);
	tb_put32(b, ITP_OFF_UID, 1000);
	tb_puts(b, ITP_OFF_HOST, "testhost", ITP_HOST_LEN);
	tb_puts(b, ITP_OFF_KERNEL, "Linux 6.1.0-test", ITP_KERNEL_LEN);
	tb_puts(b, ITP_OFF_CPU_MODEL, "Test CPU @ 3.00GHz", ITP_CPU_MODEL_LEN);
	tb_puts(b, ITP_OFF_EXE, "/usr/bin/bench", ITP_EXE_LEN);
	tb_puts(b, ITP_OFF_CMDLINE, "bench --size 10", ITP_CMDLINE_LEN);
}

/* Counter descriptor @i; @why only matters when it does not count. */
static inline void tb_counter(struct tb *b, unsigned i, uint16_t id, const char *name,
			      int counts, const char *why)
{
	size_t d = itp_counter_desc_offset(i);

	tb_put16(b, d + ITP_CD_OFF_ID, id);
	tb_put16(b, d + ITP_CD_OFF_SOURCE, ITP_SOURCE_PERF);
	tb_put32(b, d + ITP_CD_OFF_FLAGS, counts ? ITP_COUNTER_COUNTS : 0);
	tb_put32(b, d + ITP_CD_OFF_ERROR, counts ? 0 : 13 /* EACCES */);
	tb_puts(b, d + ITP_CD_OFF_NAME, name, ITP_CD_NAME_LEN);
	if (why)
		tb_puts(b, d + ITP_CD_OFF_WHY, why, ITP_CD_WHY_LEN);
}

/* Append a chunk of @tid (header written, magic last as the shim does). */
static inline struct tb_chunk tb_chunk(struct tb *b, uint32_t tid, uint32_t thread_seq,
				       uint32_t chunk_seq)
{
	struct tb_chunk c = { .offset = b->size, .pos = ITP_CHUNK_HEADER_SIZE };

	tb_grow(b, b->size + b->chunk_size);
	tb_put32(b, c.offset + ITP_CH_OFF_TID, tid);
	tb_put32(b, c.offset + ITP_CH_OFF_THREAD_SEQ, thread_seq);
	tb_put32(b, c.offset + ITP_CH_OFF_CHUNK_SEQ, chunk_seq);
	tb_put32(b, c.offset + ITP_CH_OFF_MAGIC, ITP_CHUNK_MAGIC);
	b->chunks_used = (b->size - ITP_HEADER_SIZE) / b->chunk_size;
	return c;
}

/* Append a chunk that was reserved but never used: all zeros. */
static inline void tb_unused_chunk(struct tb *b)
{
	tb_grow(b, b->size + b->chunk_size);
}

/* Reserve a record of @size bytes in @c; returns its offset in the file.
 * The caller writes the payload, then tb_commit() stores the word. */
static inline size_t tb_record(struct tb *b, struct tb_chunk *c, uint32_t size, uint32_t seq)
{
	size_t off = c->offset + c->pos;

	if (size % 8 || c->pos + size > b->chunk_size) {
		fprintf(stderr, "trace builder: record of %u bytes does not fit\n", size);
		abort();
	}
	tb_put32(b, off + ITP_REC_OFF_SEQ, seq);
	c->pos += size;
	return off;
}

static inline size_t tb_commit(struct tb *b, size_t off, uint32_t type, uint32_t size)
{
	tb_put32(b, off, ITP_RECORD_WORD(type, size));
	return off;
}

static inline size_t tb_rec_thread(struct tb *b, struct tb_chunk *c, uint32_t seq,
				   uint32_t tid, const char *name)
{
	size_t off = tb_record(b, c, ITP_THREAD_RECORD_SIZE, seq);

	tb_put32(b, off + ITP_THREAD_OFF_TID, tid);
	memcpy(b->buf + off + ITP_THREAD_OFF_NAME, name,
	       strnlen(name, ITP_THREAD_NAME_LEN));
	return tb_commit(b, off, ITP_REC_THREAD, ITP_THREAD_RECORD_SIZE);
}

static inline size_t tb_rec_region(struct tb *b, struct tb_chunk *c, uint32_t seq,
				   uint16_t id, const char *name)
{
	size_t len = strlen(name);
	uint32_t size = (uint32_t)((ITP_REGION_OFF_NAME + len + 1 + 7) & ~(size_t)7);
	size_t off = tb_record(b, c, size, seq);

	tb_put16(b, off + ITP_REGION_OFF_ID, id);
	tb_put16(b, off + ITP_REGION_OFF_NAME_LEN, (uint16_t)len);
	memcpy(b->buf + off + ITP_REGION_OFF_NAME, name, len);
	return tb_commit(b, off, ITP_REC_REGION, size);
}

/* LEB128: 7 bits a byte, low first, high bit set on all but the last. */
static inline size_t tb_varint(struct tb *b, size_t off, uint64_t v)
{
	while (v >= 0x80) {
		b->buf[off++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	b->buf[off++] = (unsigned char)v;
	return off;
}

static inline size_t tb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * An ITERATION record in the variable-length layout of trace-codec.h:
 * region_id and flags at 8 and 10, then varints depth, zigzag start delta
 * (from the chunk's previous ITERATION), duration, time_enabled,
 * time_enabled - time_running (0 here), value + 1 per counter (0 for
 * ITP_VALUE_UNAVAILABLE), zero padding to 8.
 * @values: counter_count values (NULL: all ITP_VALUE_UNAVAILABLE).
 */
static inline size_t tb_rec_iteration(struct tb *b, struct tb_chunk *c, uint32_t seq,
				      uint16_t region_id, uint16_t flags, uint32_t depth,
				      uint64_t start_ns, uint64_t duration_ns,
				      const uint64_t *values)
{
	int64_t delta = (int64_t)(start_ns - c->prev_start_ns);
	uint64_t zigzag = ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);
	uint64_t fields[5 + ITP_MAX_COUNTERS];
	size_t n = 0, len = 12, off, p;
	uint32_t size;

	fields[n++] = depth;
	fields[n++] = zigzag;
	fields[n++] = duration_ns;
	fields[n++] = duration_ns; /* time_enabled */
	fields[n++] = 0;           /* enabled - running: not multiplexed */
	for (uint32_t i = 0; i < b->counter_count; i++) {
		uint64_t v = values ? values[i] : ITP_VALUE_UNAVAILABLE;

		fields[n++] = v == ITP_VALUE_UNAVAILABLE ? 0 : v + 1;
	}
	for (size_t i = 0; i < n; i++)
		len += tb_varint_len(fields[i]);
	size = (uint32_t)((len + 7) & ~(size_t)7);
	off = tb_record(b, c, size, seq);
	tb_put16(b, off + ITP_ITER_OFF_REGION_ID, region_id);
	tb_put16(b, off + ITP_ITER_OFF_FLAGS, flags);
	p = off + 12;
	for (size_t i = 0; i < n; i++)
		p = tb_varint(b, p, fields[i]);
	c->prev_start_ns = start_ns;
	return tb_commit(b, off, ITP_REC_ITERATION, size);
}

/* An ITERATION_BATCH record of @room bytes holding @count entries of
 * (region, start, duration), as the shim's -f fast path writes them; @count
 * may be cut below the entries written (a crash before the count store). */
static inline size_t tb_rec_batch(struct tb *b, struct tb_chunk *c, uint32_t seq, uint32_t room,
				  unsigned entries, const uint16_t *regions,
				  const uint64_t *starts, const uint64_t *durations,
				  uint32_t count)
{
	size_t off = tb_record(b, c, room, seq), p = off + ITP_BATCH_OFF_ENTRIES;

	tb_put16(b, off + ITP_BATCH_OFF_FLAGS, ITP_ITER_COUNTERS_MISSING);
	tb_put32(b, off + ITP_BATCH_OFF_COUNT, count);
	for (unsigned i = 0; i < entries; i++) {
		int64_t delta = (int64_t)(starts[i] - c->prev_start_ns);

		p = tb_varint(b, p, regions[i]);
		p = tb_varint(b, p, ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63));
		p = tb_varint(b, p, durations[i]);
		c->prev_start_ns = starts[i];
	}
	return tb_commit(b, off, ITP_REC_ITERATION_BATCH, room);
}

static inline size_t tb_rec_dropped(struct tb *b, struct tb_chunk *c, uint32_t seq,
				    uint32_t count, uint32_t reason)
{
	size_t off = tb_record(b, c, ITP_DROPPED_RECORD_SIZE, seq);

	tb_put32(b, off + ITP_DROPPED_OFF_COUNT, count);
	tb_put32(b, off + ITP_DROPPED_OFF_REASON, reason);
	return tb_commit(b, off, ITP_REC_DROPPED, ITP_DROPPED_RECORD_SIZE);
}

static inline size_t tb_rec_note(struct tb *b, struct tb_chunk *c, uint32_t seq,
				 const char *text)
{
	size_t len = strlen(text);
	uint32_t size = (uint32_t)((ITP_NOTE_OFF_TEXT + len + 1 + 7) & ~(size_t)7);
	size_t off = tb_record(b, c, size, seq);

	tb_put32(b, off + ITP_NOTE_OFF_LEN, (uint32_t)len);
	memcpy(b->buf + off + ITP_NOTE_OFF_TEXT, text, len);
	return tb_commit(b, off, ITP_REC_NOTE, size);
}

/* The header's call-stack fields (format 1.4). */
static inline void tb_stacks(struct tb *b, uint32_t mode, uint32_t error, const char *why)
{
	tb_put32(b, ITP_OFF_STACKS_MODE, mode);
	tb_put32(b, ITP_OFF_STACKS_ERROR, error);
	tb_put32(b, ITP_OFF_FAULT_PERIOD, 1);
	tb_put32(b, ITP_OFF_CPU_PERIOD_US, 100);
	tb_put32(b, ITP_OFF_STACK_COPY_BYTES, 16384);
	if (why)
		tb_puts(b, ITP_OFF_STACKS_WHY, why, ITP_STACKS_WHY_LEN);
}

/* An ITP_REC_MODULE: build-id of @build_id_len bytes of @build_id, then
 * the path. */
static inline size_t tb_rec_module(struct tb *b, struct tb_chunk *c, uint32_t seq,
				   uint64_t start, uint64_t end, uint64_t bias, const char *path,
				   const uint8_t *build_id, uint8_t build_id_len)
{
	size_t len = strlen(path);
	uint32_t size = (uint32_t)((ITP_MODULE_OFF_STRINGS + build_id_len + len + 1 + 7) &
				   ~(size_t)7);
	size_t off = tb_record(b, c, size, seq);

	tb_put64(b, off + ITP_MODULE_OFF_START, start);
	tb_put64(b, off + ITP_MODULE_OFF_END, end);
	tb_put64(b, off + ITP_MODULE_OFF_BIAS, bias);
	tb_put16(b, off + ITP_MODULE_OFF_PATH_LEN, (uint16_t)len);
	b->buf[off + ITP_MODULE_OFF_BUILD_ID_LEN] = build_id_len;
	memcpy(b->buf + off + ITP_MODULE_OFF_STRINGS, build_id, build_id_len);
	memcpy(b->buf + off + ITP_MODULE_OFF_STRINGS + build_id_len, path, len);
	return tb_commit(b, off, ITP_REC_MODULE, size);
}

/* An ITP_REC_STACK of @frame_count addresses, innermost first. */
static inline size_t tb_rec_stack(struct tb *b, struct tb_chunk *c, uint32_t seq, uint32_t id,
				  uint16_t flags, const uint64_t *frames, uint16_t frame_count)
{
	uint32_t size = ITP_STACK_OFF_FRAMES + 8u * frame_count;
	size_t off = tb_record(b, c, size, seq);

	tb_put32(b, off + ITP_STACK_OFF_ID, id);
	tb_put16(b, off + ITP_STACK_OFF_FRAME_COUNT, frame_count);
	tb_put16(b, off + ITP_STACK_OFF_FLAGS, flags);
	for (unsigned i = 0; i < frame_count; i++)
		tb_put64(b, off + ITP_STACK_OFF_FRAMES + 8 * i, frames[i]);
	return tb_commit(b, off, ITP_REC_STACK, size);
}

/* One entry of an ITP_REC_SAMPLES record. */
struct tb_sample {
	uint32_t stack_id;
	uint8_t kind;
	uint16_t samples;
};

/* An ITP_REC_SAMPLES of @count entries, for the ITERATION before it. */
static inline size_t tb_rec_samples(struct tb *b, struct tb_chunk *c, uint32_t seq,
				    uint16_t lost, uint16_t kept, const struct tb_sample *e,
				    uint32_t count)
{
	uint32_t size = ITP_SAMPLES_OFF_ENTRIES + ITP_SAMPLES_ENTRY_SIZE * count;
	size_t off = tb_record(b, c, size, seq);

	tb_put32(b, off + ITP_SAMPLES_OFF_COUNT, count);
	tb_put16(b, off + ITP_SAMPLES_OFF_LOST, lost);
	tb_put16(b, off + ITP_SAMPLES_OFF_KEPT, kept);
	for (uint32_t i = 0; i < count; i++) {
		size_t x = off + ITP_SAMPLES_OFF_ENTRIES + ITP_SAMPLES_ENTRY_SIZE * i;

		tb_put32(b, x, e[i].stack_id);
		b->buf[x + 4] = e[i].kind;
		tb_put16(b, x + 6, e[i].samples);
	}
	return tb_commit(b, off, ITP_REC_SAMPLES, size);
}

/* The clean-exit footer, magic stored last. */
static inline void tb_footer(struct tb *b, uint64_t iterations, uint64_t dropped)
{
	size_t f = ITP_OFF_FOOTER;

	tb_put32(b, f + ITP_FT_OFF_REASON, ITP_END_EXIT);
	tb_put64(b, f + ITP_FT_OFF_END_NS, 2000000000ull);
	tb_put64(b, f + ITP_FT_OFF_ITERATIONS, iterations);
	tb_put64(b, f + ITP_FT_OFF_DROPPED, dropped);
	tb_put64(b, f + ITP_FT_OFF_CHUNKS_USED, b->chunks_used);
	tb_put32(b, f + ITP_FT_OFF_MAGIC, ITP_FOOTER_MAGIC);
}

static inline void tb_free(struct tb *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* Write the trace to @path; 0 or -1. */
static inline int tb_write(const struct tb *b, const char *path)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(b->buf, 1, b->size, f) == b->size;
	return fclose(f) == 0 && ok ? 0 : -1;
}

#endif /* ITERPROF_TRACE_BUILDER_H */

/*
 * Unit tests of analyzer/trace-reader.c and recording.c over synthetic traces
 * built byte by byte (trace-builder.h): the right records in the right order,
 * truncated files read up to their last record, and damaged files rejected
 * with a reason naming the byte, never a crash (run under ASan/UBSan in the
 * sanitizer build).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recording.h"
#include "trace-builder.h"
#include "trace-reader.h"

#include "unit-test.h"

#define BASE_NS 1000000000ull /* the builder's start_ns */

/* Offsets in the fixture that tests damage on purpose. */
struct fixture {
	size_t a_chunk0, a_chunk1, b_chunk0;
	size_t a_thread_rec;   /* THREAD record of thread A */
	size_t a_second_iter;  /* an ITERATION record in A's chunk 0 */
	size_t b_region_rec;   /* first REGION record of thread B */
};

/*
 * A valid trace of process 4242 with two counters (task-clock counts,
 * minor-faults does not) and two threads whose chunks are interleaved and
 * out of order in the file:
 *     chunk 0 (byte 4096)   thread B (tid 202, thread_seq 1) chunk_seq 0
 *     chunk 1 (byte 8192)   thread A (tid 101, thread_seq 0) chunk_seq 1
 *     chunk 2 (byte 12288)  unused (zeros)
 *     chunk 3 (byte 16384)  thread A chunk_seq 0
 * Thread A: THREAD, REGION loop=0, 6 iterations of loop (100..600 ns), a
 * NOTE and 3 dropped; thread B: REGION work=0, loop=1, a lost record, 2
 * iterations of work, 1 of loop.
 */
static void build_fixture(struct tb *b, struct fixture *fx, bool with_footer)
{
	struct tb_chunk b0, a1, a0;
	uint64_t v[2];

	tb_init(b, 4096, 2);
	tb_counter(b, 0, ITP_COUNTER_TASK_CLOCK, "task-clock", 1, NULL);
	tb_counter(b, 1, ITP_COUNTER_MINOR_FAULTS, "minor-faults", 0,
		   "perf_event_open: EACCES (perf_event_paranoid 3)");
	b0 = tb_chunk(b, 202, 1, 0);
	a1 = tb_chunk(b, 101, 0, 1);
	tb_unused_chunk(b);
	a0 = tb_chunk(b, 101, 0, 0);
	fx->b_chunk0 = b0.offset;
	fx->a_chunk1 = a1.offset;
	fx->a_chunk0 = a0.offset;

	fx->a_thread_rec = tb_rec_thread(b, &a0, 0, 101, "main");
	tb_rec_region(b, &a0, 1, 0, "loop");
	for (unsigned i = 0; i < 3; i++) {
		v[0] = 90 * (i + 1);
		v[1] = 7;
		size_t off = tb_rec_iteration(b, &a0, 2 + i, 0, 0, 0, BASE_NS + 1000 * i,
					      100 * (i + 1), v);
		if (i == 1)
			fx->a_second_iter = off;
	}
	for (unsigned i = 3; i < 5; i++) {
		v[0] = 90 * (i + 1);
		v[1] = 7;
		tb_rec_iteration(b, &a1, 2 + i, 0, 0, 0, BASE_NS + 1000 * i, 100 * (i + 1), v);
	}
	tb_rec_note(b, &a1, 7, "this thread has no counters: perf_event_open: EMFILE");
	tb_rec_dropped(b, &a1, 8, 3, ITP_DROP_TRACE_FULL);
	v[0] = ITP_VALUE_UNAVAILABLE; /* a read that failed */
	tb_rec_iteration(b, &a1, 9, 0, ITP_ITER_READ_FAILED, 0, BASE_NS + 5000, 600, v);

	tb_rec_thread(b, &b0, 0, 202, "worker");
	fx->b_region_rec = tb_rec_region(b, &b0, 1, 0, "work");
	tb_rec_region(b, &b0, 2, 1, "loop");
	/* seq 3 lost */
	v[0] = 1000;
	v[1] = 0;
	tb_rec_iteration(b, &b0, 4, 0, 0, 1, BASE_NS + 700, 5000, v);
	tb_rec_iteration(b, &b0, 5, 0, 0, 1, BASE_NS + 500, 6000, v); /* start goes back */
	tb_rec_iteration(b, &b0, 6, 1, 0, 0, BASE_NS + 400, 12000, NULL);
	if (with_footer)
		tb_footer(b, 9, 3);
}

/* Read every record of every thread; returns the record count or a
 * negative error (with @why set). */
static long read_all(struct trace_reader *r, char *why, size_t why_len)
{
	long records = 0;

	for (unsigned t = 0; t < trace_reader_thread_count(r); t++) {
		struct trace_cursor c;
		struct trace_record rec;
		int err;

		trace_cursor_init(&c, r, t);
		while ((err = trace_cursor_next(&c, &rec, why, why_len)) > 0)
			records++;
		if (err < 0)
			return err;
	}
	return records;
}

static void test_valid_order(void)
{
	struct tb b;
	struct fixture fx;
	struct trace_reader *r;
	char why[256] = "";
	int err;

	build_fixture(&b, &fx, true);
	err = trace_reader_open_buffer(b.buf, b.size, "fixture.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (err) {
		tb_free(&b);
		return;
	}
	const struct trace_file_info *info = trace_reader_info(r);
	CHECK(info->pid == 4242 && info->counter_count == 2, "pid %u", info->pid);
	CHECK(!strcmp(info->cmdline, "bench --size 10"), "cmdline '%s'", info->cmdline);
	CHECK(info->has_footer && !info->is_truncated && !info->is_cut, "clean file");
	CHECK(info->counters[0].is_counting && !info->counters[1].is_counting, "counts flags");
	CHECK(!strcmp(info->counters[1].why, "perf_event_open: EACCES (perf_event_paranoid 3)"),
	      "why '%s'", info->counters[1].why);
	CHECK(info->unused_chunks == 1, "unused %llu", (unsigned long long)info->unused_chunks);
	CHECK(trace_reader_thread_count(r) == 2, "threads %u", trace_reader_thread_count(r));

	/* thread A first (thread_seq 0), its chunk_seq 0 before 1 */
	const struct trace_thread_info *ta = trace_reader_thread(r, 0);
	CHECK(ta->tid == 101 && ta->chunk_count == 2, "thread 0 tid %u", ta->tid);
	struct trace_cursor c;
	struct trace_record rec;
	static const enum itp_record_type a_types[] = {
		ITP_REC_THREAD,	   ITP_REC_REGION,    ITP_REC_ITERATION, ITP_REC_ITERATION,
		ITP_REC_ITERATION, ITP_REC_ITERATION, ITP_REC_ITERATION, ITP_REC_NOTE,
		ITP_REC_DROPPED,   ITP_REC_ITERATION,
	};
	unsigned n = 0, iter = 0;
	bool types_ok = true, values_ok = true, seq_ok = true;

	trace_cursor_init(&c, r, 0);
	while ((err = trace_cursor_next(&c, &rec, why, sizeof(why))) > 0) {
		if (n >= sizeof(a_types) / sizeof(a_types[0]) || rec.type != a_types[n])
			types_ok = false;
		seq_ok &= rec.seq == n;
		if (rec.type == ITP_REC_ITERATION) {
			uint64_t want_cpu = iter < 5 ? 90 * (iter + 1) : ITP_VALUE_UNAVAILABLE;

			values_ok &= rec.iteration.duration_ns == 100 * (iter + 1) &&
				     rec.iteration.start_ns == BASE_NS + 1000 * iter &&
				     rec.iteration.values[0] == want_cpu &&
				     rec.iteration.region_id == 0;
			iter++;
		}
		if (rec.type == ITP_REC_THREAD)
			values_ok &= rec.thread.tid == 101 && rec.thread.name_len == 4 &&
				     !memcmp(rec.thread.name, "main", 4);
		if (rec.type == ITP_REC_DROPPED)
			values_ok &= rec.dropped.count == 3 &&
				     rec.dropped.reason == ITP_DROP_TRACE_FULL;
		n++;
	}
	CHECK(err == 0, "thread A: %s", why);
	CHECK(n == 10 && types_ok && seq_ok, "thread A: %u records, types %d seq %d", n,
	      types_ok, seq_ok);
	CHECK(values_ok && iter == 6, "thread A values (%u iterations)", iter);
	CHECK(c.lost_records == 0, "no loss in A");

	trace_cursor_init(&c, r, 1);
	n = 0;
	while ((err = trace_cursor_next(&c, &rec, why, sizeof(why))) > 0) {
		if (n == 4)
			CHECK(rec.iteration.start_ns == BASE_NS + 500 &&
				      rec.iteration.depth == 1 &&
				      rec.iteration.duration_ns == 6000,
			      "backwards start decoded: %llu",
			      (unsigned long long)rec.iteration.start_ns);
		if (n == 5)
			CHECK(rec.iteration.values[0] == ITP_VALUE_UNAVAILABLE &&
				      rec.iteration.values[1] == ITP_VALUE_UNAVAILABLE,
			      "unavailable values");
		n++;
	}
	CHECK(err == 0 && n == 6, "thread B: %u records: %s", n, why);
	CHECK(c.lost_records == 1, "one lost record in B: %llu",
	      (unsigned long long)c.lost_records);
	trace_reader_close(r);

	/* the same through the model */
	struct recording *rec_model;
	err = recording_open_buffer(b.buf, b.size, "fixture.trace", &rec_model, why, sizeof(why));
	CHECK(err == 0, "recording: %s", why);
	if (!err) {
		const struct recording_process *p = &rec_model->processes[0];
		const struct recording_thread *a = &p->threads[0], *bt = &p->threads[1];

		CHECK(rec_model->process_count == 1 && p->thread_count == 2, "shape");
		CHECK(!p->is_truncated && p->header.has_footer, "not truncated");
		CHECK(p->iterations == 9 && p->dropped == 3 && p->lost_records == 1,
		      "iterations %llu dropped %llu lost %llu", (unsigned long long)p->iterations,
		      (unsigned long long)p->dropped, (unsigned long long)p->lost_records);
		CHECK(p->dropped_by_reason[ITP_DROP_TRACE_FULL] == 3, "by reason");
		CHECK(!strcmp(a->name, "main") && !strcmp(bt->name, "worker"), "names");
		CHECK(a->region_count == 1 && a->regions[0].count == 6 &&
			      !strcmp(a->regions[0].name, "loop"),
		      "A regions");
		CHECK(recording_duration(&a->regions[0], 5) == 600 &&
			      a->regions[0].start_ns[2] == BASE_NS + 2000,
		      "A columns");
		CHECK(a->regions[0].has_values[0] && !a->regions[0].has_values[1],
		      "a column for the counting counter only");
		CHECK(recording_value(&a->regions[0], 0, 4) == 450 &&
			      recording_value(&a->regions[0], 0, 5) == ITP_VALUE_UNAVAILABLE &&
			      recording_value(&a->regions[0], 1, 4) == ITP_VALUE_UNAVAILABLE,
		      "counter column");
		CHECK(a->note_count == 1 && strstr(a->notes[0], "EMFILE"), "note");
		CHECK(bt->region_count == 2 && !strcmp(bt->regions[0].name, "work") &&
			      bt->regions[0].count == 2 && bt->regions[1].count == 1 &&
			      bt->regions[0].min_depth == 1,
		      "B regions");
		CHECK(recording_counter_index(p, ITP_COUNTER_TASK_CLOCK) == 0 &&
			      recording_counter_index(p, ITP_COUNTER_MINOR_FAULTS) == -1,
		      "counter index");
	}
	recording_free(rec_model);
	tb_free(&b);
}

static void test_no_footer(void)
{
	struct tb b;
	struct fixture fx;
	struct trace_reader *r;
	char why[256] = "";
	int err;

	build_fixture(&b, &fx, false);
	err = trace_reader_open_buffer(b.buf, b.size, "nofooter.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (!err) {
		const struct trace_file_info *info = trace_reader_info(r);

		CHECK(!info->has_footer && info->is_truncated && !info->is_cut, "truncated");
		CHECK(read_all(r, why, sizeof(why)) == 16, "all 16 records: %s", why);
		trace_reader_close(r);
	}

	/* cut inside A's chunk 0, in the middle of its first ITERATION */
	size_t cut = fx.a_chunk0 + 100;
	err = trace_reader_open_buffer(b.buf, cut, "cut.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open cut: %s", why);
	if (!err) {
		const struct trace_file_info *info = trace_reader_info(r);

		CHECK(info->is_cut && info->is_truncated, "cut");
		/* A: THREAD, REGION from chunk 0, 5 records of chunk 1; B: 6 */
		long n = read_all(r, why, sizeof(why));
		CHECK(n == 2 + 5 + 6, "records of a cut file: %ld %s", n, why);
		trace_reader_close(r);
	}
	tb_free(&b);
}

/* Every prefix of a valid file reads (as truncated) or is refused with a
 * reason naming a byte. */
static void test_every_truncation(void)
{
	struct tb b;
	struct fixture fx;
	char why[256];
	long full;
	unsigned bad_reason = 0, not_truncated = 0, read_errors = 0, opened = 0;
	struct trace_reader *r;

	build_fixture(&b, &fx, true);
	trace_reader_open_buffer(b.buf, b.size, "full", &r, why, sizeof(why));
	full = read_all(r, why, sizeof(why));
	trace_reader_close(r);

	for (size_t len = 0; len < b.size; len++) {
		/* a copy of exactly len bytes, so ASan sees any overread */
		unsigned char *copy = malloc(len ? len : 1);
		struct recording *model;
		int err;

		memcpy(copy, b.buf, len);
		why[0] = '\0';
		err = trace_reader_open_buffer(copy, len, "cut.trace", &r, why, sizeof(why));
		if (err) {
			bad_reason += !strstr(why, "byte ");
		} else {
			long n = read_all(r, why, sizeof(why));

			opened++;
			read_errors += n < 0;
			if (n >= 0 && n < full && !trace_reader_info(r)->is_truncated)
				not_truncated++;
			trace_reader_close(r);
		}
		err = recording_open_buffer(copy, len, "cut.trace", &model, why, sizeof(why));
		if (err)
			bad_reason += !strstr(why, "byte ");
		recording_free(model);
		free(copy);
	}
	CHECK(bad_reason == 0, "%u refusals without a byte offset", bad_reason);
	CHECK(read_errors == 0, "%u cut files failed to read", read_errors);
	CHECK(not_truncated == 0, "%u cut files lost records without being truncated",
	      not_truncated);
	CHECK(opened > 0, "some prefixes open");
	tb_free(&b);
}

/* Single-bit flips anywhere never crash; refusals name a byte. */
static void test_bit_flips(void)
{
	struct tb b;
	struct fixture fx;
	char why[256];
	unsigned bad_reason = 0, refused = 0, accepted = 0;

	build_fixture(&b, &fx, true);
	for (size_t byte = 0; byte < b.size; byte++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct trace_reader *r;
			struct recording *model;
			int err;

			b.buf[byte] ^= (unsigned char)(1u << bit);
			err = trace_reader_open_buffer(b.buf, b.size, "flip.trace", &r, why,
						       sizeof(why));
			if (!err) {
				if (read_all(r, why, sizeof(why)) < 0)
					bad_reason += !strstr(why, "byte ");
				trace_reader_close(r);
			} else {
				bad_reason += !strstr(why, "byte ");
			}
			err = recording_open_buffer(b.buf, b.size, "flip.trace", &model, why,
						    sizeof(why));
			if (err) {
				refused++;
				bad_reason += !strstr(why, "byte ");
			} else {
				accepted++;
			}
			recording_free(model);
			b.buf[byte] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK(bad_reason == 0, "%u refusals without a byte offset", bad_reason);
	printf("bit flips: %u accepted, %u refused\n", accepted, refused);
	tb_free(&b);
}

/* Damage @b by @damage and expect the open or the read to fail with @err
 * and a reason containing @want. */
static void expect_reason(struct tb *b, int want_err, const char *want, const char *what)
{
	struct trace_reader *r;
	char why[256] = "";
	int err = trace_reader_open_buffer(b->buf, b->size, "bad.trace", &r, why, sizeof(why));

	if (!err) {
		long n = read_all(r, why, sizeof(why));

		err = n < 0 ? (int)n : 0;
		trace_reader_close(r);
	}
	CHECK(err == want_err && strstr(why, want), "%s: err %d, reason '%s', want '%s'", what,
	      err, why, want);
}

static void test_reasons(void)
{
	struct tb b;
	struct fixture fx;
	char want[128];

	build_fixture(&b, &fx, true);
	b.buf[0] = 'X';
	expect_reason(&b, -EINVAL, "bad.trace: byte 0: not an iterprof trace", "magic");
	memset(b.buf, 0, 8);
	expect_reason(&b, -EINVAL, "bad.trace: byte 0: header never written", "zero magic");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put16(&b, ITP_OFF_VERSION_MAJOR, 2);
	tb_put16(&b, ITP_OFF_VERSION_MINOR, 0);
	expect_reason(&b, -EPROTONOSUPPORT,
		      "bad.trace: byte 8: written by a newer iterprof (format 2.0); this "
		      "iterprof reads format 1.x",
		      "future version");
	tb_put16(&b, ITP_OFF_VERSION_MAJOR, 0);
	expect_reason(&b, -EPROTONOSUPPORT, "byte 8: format 0.0", "version 0");
	tb_put16(&b, ITP_OFF_VERSION_MAJOR, 1);
	tb_put16(&b, ITP_OFF_VERSION_MINOR, 9);
	expect_reason(&b, 0, "", "a newer minor is read");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put32(&b, ITP_OFF_ENDIAN_TAG, 0x04030201);
	expect_reason(&b, -EINVAL, "byte 16: written on a big-endian machine", "endian");
	tb_put32(&b, ITP_OFF_ENDIAN_TAG, ITP_ENDIAN_TAG);
	tb_put32(&b, ITP_OFF_CHUNK_SIZE, 5000);
	expect_reason(&b, -EINVAL, "byte 20: impossible chunk size 5000", "chunk size");
	tb_put32(&b, ITP_OFF_CHUNK_SIZE, 4096);
	tb_put32(&b, ITP_OFF_COUNTER_COUNT, 33);
	expect_reason(&b, -EINVAL, "byte 28: 33 counters", "counter count");
	/* descriptors 16.. live in the second header page (1.3) */
	tb_put32(&b, ITP_OFF_COUNTER_COUNT, 17);
	tb_put32(&b, ITP_OFF_HEADER_SIZE, 4096);
	expect_reason(&b, -EINVAL, "byte 28: 17 counters in a 4096-byte header", "counters, old header");
	tb_put32(&b, ITP_OFF_HEADER_SIZE, ITP_HEADER_SIZE);
	tb_put32(&b, ITP_OFF_COUNTER_COUNT, 2);
	tb_put32(&b, ITP_OFF_HEADER_SIZE, 100);
	expect_reason(&b, -EINVAL, "byte 12: impossible header size 100", "header size");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put32(&b, fx.a_chunk1, 0xdeadbeef);
	snprintf(want, sizeof(want), "bad.trace: byte %zu: bad chunk magic 0xdeadbeef",
		 fx.a_chunk1);
	expect_reason(&b, -EINVAL, want, "chunk magic");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_THREAD, 8192));
	snprintf(want, sizeof(want),
		 "bad.trace: byte %zu: record of 8192 bytes does not fit its chunk (4064 bytes "
		 "left)",
		 fx.a_thread_rec);
	expect_reason(&b, -EINVAL, want, "record larger than its chunk");
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_THREAD, 12));
	snprintf(want, sizeof(want), "byte %zu: impossible record size 12", fx.a_thread_rec);
	expect_reason(&b, -EINVAL, want, "size not a multiple of 8");
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_ITERATION, 0));
	expect_reason(&b, -EINVAL, "impossible record size 0", "type with size 0");
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_TYPE_MAX + 1, 32));
	snprintf(want, sizeof(want), "byte %zu: unknown record type %u", fx.a_thread_rec,
		 ITP_REC_TYPE_MAX + 1);
	expect_reason(&b, -EINVAL, want, "unknown type");
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_THREAD, 16));
	expect_reason(&b, -EINVAL, "too short for its type", "short THREAD");
	tb_put32(&b, fx.a_thread_rec, ITP_RECORD_WORD(ITP_REC_THREAD, 32));
	tb_put32(&b, fx.a_thread_rec + ITP_THREAD_OFF_TID, 999);
	expect_reason(&b, -EINVAL, "thread record for tid 999 in a chunk of tid 101", "tid");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put32(&b, fx.a_second_iter + ITP_REC_OFF_SEQ, 1);
	snprintf(want, sizeof(want), "byte %zu: record seq 1 after seq 2 (out of order)",
		 fx.a_second_iter);
	expect_reason(&b, -EINVAL, want, "seq backwards");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	tb_put16(&b, fx.b_region_rec + ITP_REGION_OFF_NAME_LEN, 200);
	expect_reason(&b, -EINVAL, "region name of 200 bytes in a 24-byte record", "name len");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	/* B's chunk claims to be A's chunk 0 */
	tb_put32(&b, fx.b_chunk0 + ITP_CH_OFF_TID, 101);
	tb_put32(&b, fx.b_chunk0 + ITP_CH_OFF_THREAD_SEQ, 0);
	expect_reason(&b, -EINVAL, "chunk 0 of thread 101 appears twice", "duplicate chunk");
	tb_free(&b);

	build_fixture(&b, &fx, true);
	/* an ITERATION whose varints run past the record: all bytes 0xff */
	memset(b.buf + fx.a_second_iter + 12, 0xff, 12);
	snprintf(want, sizeof(want), "byte %zu: iteration record", fx.a_second_iter);
	expect_reason(&b, -EINVAL, want, "varint overrun");
	tb_free(&b);

	/* short files */
	build_fixture(&b, &fx, true);
	b.size = 0;
	expect_reason(&b, -EINVAL, "byte 0: empty file", "empty");
	b.size = 5;
	expect_reason(&b, -EINVAL, "byte 5: file ends inside the 4096-byte header", "5 bytes");
	b.size = 100;
	expect_reason(&b, -EINVAL, "byte 100: file ends inside the 4096-byte header", "100 bytes");
	b.size = 4096;
	expect_reason(&b, -EINVAL, "byte 4096: file ends inside the 8192-byte header", "one page");
	b.size = ITP_HEADER_SIZE;
	expect_reason(&b, 0, "", "a header alone reads (no threads)");
	tb_free(&b);
}

/* On a full disk drops reach only the footer: it is then the total. */
static void test_footer_drops(void)
{
	struct tb b;
	struct fixture fx;
	struct recording *rec;
	char why[256] = "";
	int err;

	build_fixture(&b, &fx, false);
	tb_footer(&b, 9, 10);
	err = recording_open_buffer(b.buf, b.size, "drops.trace", &rec, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (!err) {
		const struct recording_process *p = &rec->processes[0];

		CHECK(p->dropped == 10 && p->dropped_by_reason[ITP_DROP_TRACE_FULL] == 3 &&
			      p->dropped_by_reason[0] == 7,
		      "dropped %llu", (unsigned long long)p->dropped);
		CHECK(!p->is_ended_by_exec && !p->is_truncated, "exited");
		recording_free(rec);
	}
	/* a footer written at exec */
	tb_put32(&b, ITP_OFF_FOOTER + ITP_FT_OFF_REASON, ITP_END_EXEC);
	err = recording_open_buffer(b.buf, b.size, "exec.trace", &rec, why, sizeof(why));
	CHECK(err == 0 && rec->processes[0].is_ended_by_exec && !rec->processes[0].is_truncated,
	      "footer reason exec: %s", why);
	recording_free(rec);
	tb_free(&b);
}

static char tmpdir[64];

static void test_files(void)
{
	struct tb b;
	struct fixture fx;
	char path[128], why[256];
	struct recording *rec;
	struct trace_reader *r;
	int err;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/iterprof-unit-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	/* empty directory */
	err = recording_open(tmpdir, &rec, why, sizeof(why));
	CHECK(err == -ENODATA && strstr(why, "no trace files in") &&
		      strstr(why, "(was it written by iterprof record?)"),
	      "empty dir: %d %s", err, why);

	/* image 0 of pid 4242 ended by exec (no footer), image 1 exited */
	build_fixture(&b, &fx, false);
	snprintf(path, sizeof(path), "%s/iterprof-4242.trace", tmpdir);
	CHECK(tb_write(&b, path) == 0, "write %s", path);
	tb_put32(&b, ITP_OFF_EXEC_GENERATION, 1);
	tb_footer(&b, 9, 3);
	snprintf(path, sizeof(path), "%s/iterprof-4242.1.trace", tmpdir);
	CHECK(tb_write(&b, path) == 0, "write %s", path);
	/* pid 77, written last, sorts first */
	tb_put32(&b, ITP_OFF_EXEC_GENERATION, 0);
	tb_put32(&b, ITP_OFF_PID, 77);
	snprintf(path, sizeof(path), "%s/iterprof-77.trace", tmpdir);
	CHECK(tb_write(&b, path) == 0, "write %s", path);
	tb_free(&b);
	/* not a trace by name: ignored */
	snprintf(path, sizeof(path), "%s/notes.txt", tmpdir);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("hello\n", f);
		fclose(f);
	}

	err = recording_open(tmpdir, &rec, why, sizeof(why));
	CHECK(err == 0, "dir: %s", why);
	if (!err) {
		CHECK(rec->process_count == 3, "3 processes: %u", rec->process_count);
		CHECK(rec->processes[0].header.pid == 77 && rec->processes[1].header.pid == 4242 &&
			      rec->processes[1].header.exec_generation == 0 &&
			      rec->processes[2].header.exec_generation == 1,
		      "order by pid then generation");
		CHECK(rec->processes[1].is_ended_by_exec && !rec->processes[1].is_truncated,
		      "image replaced by exec is not truncated");
		CHECK(!rec->processes[2].is_truncated, "last image clean");
		recording_free(rec);
	}

	struct recording_summary sum;
	err = recording_summarize(tmpdir, &sum, why, sizeof(why));
	CHECK(err == 0 && sum.processes == 3 && sum.threads == 6 && sum.iterations == 27 &&
		      sum.truncated_files == 0 && sum.regions == 9,
	      "summary: %d %u %u %llu", err, sum.processes, sum.threads,
	      (unsigned long long)sum.iterations);

	snprintf(path, sizeof(path), "%s/iterprof-77.trace", tmpdir);
	err = trace_reader_open(path, &r, why, sizeof(why));
	CHECK(err == 0, "open file: %s", why);
	trace_reader_close(r);
	err = recording_open(path, &rec, why, sizeof(why));
	CHECK(err == 0 && rec->process_count == 1, "one file: %s", why);
	recording_free(rec);

	snprintf(path, sizeof(path), "%s/missing.trace", tmpdir);
	err = recording_open(path, &rec, why, sizeof(why));
	CHECK(err == -ENOENT && strstr(why, "missing.trace: No such file or directory"),
	      "missing: %d %s", err, why);
	err = trace_reader_open(tmpdir, &r, why, sizeof(why));
	CHECK(err == -EISDIR, "directory as a file: %d %s", err, why);

	/* a corrupt file fails the directory */
	snprintf(path, sizeof(path), "%s/iterprof-99.trace", tmpdir);
	f = fopen(path, "w");
	if (f) {
		fputs("not a trace at all, just text\n", f);
		fclose(f);
	}
	err = recording_open(tmpdir, &rec, why, sizeof(why));
	CHECK(err == -EINVAL && strstr(why, "iterprof-99.trace: byte 0: not an iterprof trace"),
	      "corrupt in dir: %d %s", err, why);

	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", tmpdir);
}

/*
 * ITERATION_BATCH: its entries come back as ITERATION records (depth 0, no
 * counter values), their start times chained with the ITERATION records
 * around them; a batch whose count is below its entries (the shim died
 * between an entry and its count) gives count entries; one whose count runs
 * past its bytes is damage, reported at the batch.
 */
static void test_batches(void)
{
	static const uint16_t regions[4] = { 0, 1, 0, 1 };
	static const uint64_t starts[4] = { BASE_NS + 300, BASE_NS + 290, BASE_NS + 5000,
					    BASE_NS + 1000000 };
	static const uint64_t durations[4] = { 20, 0, 123456, 7 };
	struct tb b;
	struct tb_chunk c;
	struct trace_reader *r;
	struct trace_cursor cur;
	struct trace_record rec;
	char why[256] = "";
	uint64_t want_start[] = { BASE_NS + 100, starts[0], starts[1], starts[2], BASE_NS + 2000000 };
	unsigned got = 0;
	size_t batch;
	int err;

	tb_init(&b, 4096, 1);
	tb_counter(&b, 0, ITP_COUNTER_TASK_CLOCK, "task-clock", 0, "disabled (--no-counters)");
	c = tb_chunk(&b, 7, 0, 0);
	tb_rec_thread(&b, &c, 0, 7, "main");
	tb_rec_region(&b, &c, 1, 0, "a");
	tb_rec_region(&b, &c, 2, 1, "b");
	tb_rec_iteration(&b, &c, 3, 0, ITP_ITER_COUNTERS_MISSING, 0, BASE_NS + 100, 50, NULL);
	/* 4 entries written, the 4th not yet counted */
	batch = tb_rec_batch(&b, &c, 4, 64, 4, regions, starts, durations, 3);
	c.prev_start_ns = starts[2]; /* what a reader has after 3 entries */
	tb_rec_iteration(&b, &c, 5, 1, ITP_ITER_COUNTERS_MISSING, 0, BASE_NS + 2000000, 60,
			 NULL);
	err = trace_reader_open_buffer(b.buf, b.size, "batch.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (err) {
		tb_free(&b);
		return;
	}
	trace_cursor_init(&cur, r, 0);
	while ((err = trace_cursor_next(&cur, &rec, why, sizeof(why))) > 0) {
		if (rec.type != ITP_REC_ITERATION)
			continue;
		CHECK(got < 5, "iteration %u of 5", got);
		if (got >= 5)
			break;
		CHECK(rec.iteration.start_ns == want_start[got], "iteration %u starts at %llu", got,
		      (unsigned long long)rec.iteration.start_ns);
		CHECK(rec.iteration.depth == 0 &&
			      rec.iteration.flags == ITP_ITER_COUNTERS_MISSING &&
			      rec.iteration.values[0] == ITP_VALUE_UNAVAILABLE,
		      "iteration %u: depth %u flags %u", got, rec.iteration.depth,
		      rec.iteration.flags);
		if (got >= 1 && got <= 3) {
			CHECK(rec.iteration.region_id == regions[got - 1] &&
				      rec.iteration.duration_ns == durations[got - 1] &&
				      rec.seq == 4,
			      "entry %u: region %u duration %llu seq %u", got - 1,
			      rec.iteration.region_id,
			      (unsigned long long)rec.iteration.duration_ns, rec.seq);
		}
		got++;
	}
	CHECK(err == 0 && got == 5, "read %u iterations: %s", got, why);
	CHECK(cur.lost_records == 0, "no lost records: %llu",
	      (unsigned long long)cur.lost_records);
	trace_reader_close(r);

	/* A count beyond the entries the bytes hold. */
	tb_put32(&b, batch + ITP_BATCH_OFF_COUNT, 40);
	err = trace_reader_open_buffer(b.buf, b.size, "batch.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (!err) {
		trace_cursor_init(&cur, r, 0);
		while ((err = trace_cursor_next(&cur, &rec, why, sizeof(why))) > 0)
			;
		CHECK(err == -EINVAL && strstr(why, "iteration batch"),
		      "a count past the bytes is damage: %d %s", err, why);
		trace_reader_close(r);
	}
	tb_free(&b);
}

int main(void)
{
	test_valid_order();
	test_no_footer();
	test_footer_drops();
	test_reasons();
	test_every_truncation();
	test_bit_flips();
	test_files();
	test_batches();
	return unit_test_finish();
}

/*
 * Unit tests of reading a long thread in two parts at once
 * (analyzer/recording.c: load_part, part_join): a trace of many small chunks
 * with records whose effect depends on order — a REGION record in the
 * middle, a region id never named, notes and drops in both halves, seq gaps
 * inside a part and exactly at the parts' boundary, counter values that
 * need a wider column only in the second half — must read as one cursor
 * reads it (ITERPROF_REPORT_SERIAL=1), and as the test knows it was built.
 */
#include <stdlib.h>
#include <string.h>

#include "recording.h"

#include "trace-builder.h"
#include "unit-test.h"

#define N 20000
#define B_FROM 6000  /* region "b" is named here */
#define BASE_NS 1000000000ull

static uint64_t duration_of(size_t i) { return 1000 + i; }
static uint64_t clock_of(size_t i) { return i < N / 2 ? i % 200 : 100000 + i; }
static uint64_t faults_of(size_t i) { return i % 5 ? 0 : 300; }
/* region id of iteration i: 2 (never named) every 100th, b after B_FROM
 * every other, else a */
static uint16_t id_of(size_t i) { return i % 100 == 0 ? 2 : i >= B_FROM && i % 2 ? 1 : 0; }

struct builder {
	struct tb b;
	struct tb_chunk c;
	uint32_t chunk_seq, seq;
	uint32_t gap_chunk; /* the first record of this chunk skips 7 seqs */
	bool in_new_chunk;
};

/* Room for a record of up to 64 bytes in the current chunk. */
static void room(struct builder *w)
{
	w->in_new_chunk = false;
	if (w->c.pos + 64 <= w->b.chunk_size)
		return;
	w->c = tb_chunk(&w->b, 301, 0, ++w->chunk_seq);
	w->in_new_chunk = true;
}

static uint32_t next_seq(struct builder *w)
{
	if (w->in_new_chunk && w->chunk_seq == w->gap_chunk)
		w->seq += 7;
	return w->seq++;
}

/* Build the trace; returns its chunk count. */
static uint32_t build(struct builder *w, uint32_t gap_chunk)
{
	memset(w, 0, sizeof(*w));
	w->gap_chunk = gap_chunk;
	tb_init(&w->b, 4096, 2);
	tb_counter(&w->b, 0, ITP_COUNTER_TASK_CLOCK, "task-clock", 1, NULL);
	tb_counter(&w->b, 1, ITP_COUNTER_MINOR_FAULTS, "minor-faults", 1, NULL);
	w->c = tb_chunk(&w->b, 301, 0, 0);
	tb_rec_thread(&w->b, &w->c, next_seq(w), 301, "parts");
	tb_rec_region(&w->b, &w->c, next_seq(w), 0, "a");
	tb_rec_note(&w->b, &w->c, next_seq(w), "early note");
	tb_rec_dropped(&w->b, &w->c, next_seq(w), 3, ITP_DROP_TRACE_FULL);
	for (size_t i = 0; i < N; i++) {
		uint64_t v[2] = { clock_of(i), faults_of(i) };

		if (i == B_FROM) {
			room(w);
			tb_rec_region(&w->b, &w->c, next_seq(w), 1, "b");
		}
		if (i == 500)
			w->seq += 2; /* two records lost inside the first part */
		if (i == N - 10) {
			room(w);
			tb_rec_note(&w->b, &w->c, next_seq(w), "late note");
			room(w);
			tb_rec_dropped(&w->b, &w->c, next_seq(w), 4, ITP_DROP_UNBALANCED);
		}
		room(w);
		tb_rec_iteration(&w->b, &w->c, next_seq(w), id_of(i), 0, 0, BASE_NS + 10000 * i,
				 duration_of(i), v);
	}
	tb_footer(&w->b, N, 7);
	return w->chunk_seq + 1;
}

static void check_model(const char *how, const struct recording *rec)
{
	const struct recording_process *p = &rec->processes[0];
	const struct recording_thread *t = &p->threads[0];
	static const char *const names[] = { "a", "(unnamed region 2)", "b" };
	size_t next[3] = { 0 }, bad = 0;

	CHECK(p->thread_count == 1 && !strcmp(t->name, "parts"), "%s: one thread", how);
	CHECK(t->iterations == N && p->iterations == N, "%s: %llu iterations", how,
	      (unsigned long long)t->iterations);
	CHECK(t->lost_records == 9, "%s: lost records %llu, expected 2 + 7", how,
	      (unsigned long long)t->lost_records);
	CHECK(t->dropped == 7 && p->dropped_by_reason[ITP_DROP_TRACE_FULL] == 3 &&
		      p->dropped_by_reason[ITP_DROP_UNBALANCED] == 4,
	      "%s: drops", how);
	CHECK(t->note_count == 2 && !strcmp(t->notes[0], "early note") &&
		      !strcmp(t->notes[1], "late note"),
	      "%s: notes in order", how);
	CHECK(t->region_count == 3, "%s: %u regions", how, t->region_count);
	if (t->region_count != 3)
		return;
	for (unsigned r = 0; r < 3; r++)
		CHECK(!strcmp(t->regions[r].name, names[r]), "%s: region %u: %s", how, r,
		      t->regions[r].name);
	/* every iteration where it belongs, in order, with its values */
	for (size_t i = 0; i < N; i++) {
		unsigned r = id_of(i) == 0 ? 0 : id_of(i) == 2 ? 1 : 2;
		const struct recording_region *region = &t->regions[r];
		size_t k = next[r]++;

		bad += k >= region->count || recording_duration(region, k) != duration_of(i) ||
		       region->start_ns[k] != BASE_NS + 10000 * i ||
		       recording_value(region, 0, k) != clock_of(i) ||
		       recording_value(region, 1, k) != faults_of(i);
	}
	CHECK(bad == 0, "%s: %zu iterations misplaced or wrong", how, bad);
	CHECK(next[0] == t->regions[0].count && next[1] == t->regions[1].count &&
		      next[2] == t->regions[2].count,
	      "%s: region counts", how);
}

int main(void)
{
	struct builder w;
	uint32_t chunks = build(&w, UINT32_MAX);
	struct recording *rec;
	char why[256];

	tb_free(&w.b);
	/* the reader splits at chunks / 2: put the second gap there */
	build(&w, chunks / 2);
	CHECK(chunks >= 64, "%u chunks: enough to be read in two parts", chunks);
	for (int serial = 0; serial < 2; serial++) {
		if (serial)
			setenv("ITERPROF_REPORT_SERIAL", "1", 1);
		rec = NULL;
		CHECK(recording_open_buffer(w.b.buf, w.b.size, "parts.trace", &rec, why,
					    sizeof(why)) == 0,
		      "read: %s", why);
		if (rec)
			check_model(serial ? "one part" : "two parts", rec);
		recording_free(rec);
	}
	tb_free(&w.b);

	/* column_append: every width combination keeps the values */
	for (unsigned a = 0; a < 5; a++)
		for (unsigned b = 0; b < 5; b++) {
			static const uint64_t big[] = { 0, 200, 60000, 4000000000ull, 1ull << 40 };
			struct column x = { 0 }, y = { 0 };
			size_t wrong = 0;

			for (size_t i = 0; i < 1000; i++) {
				column_push(&x, i % 7 ? big[a] : 0);
				column_push(&y, i % 3 ? big[b] : UINT64_MAX);
			}
			CHECK(column_append(&x, &y) == 0 && x.count == 2000, "append %u %u", a, b);
			for (size_t i = 0; i < 2000; i++)
				wrong += column_get(&x, i) != (i < 1000 ? (i % 7 ? big[a] : 0)
									: ((i - 1000) % 3 ? big[b] : UINT64_MAX));
			CHECK(wrong == 0, "append %u %u: %zu wrong", a, b, wrong);
			column_free(&x);
			column_free(&y);
		}
	return unit_test_finish();
}

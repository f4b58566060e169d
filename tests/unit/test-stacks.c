/*
 * Unit tests of call stacks (trace format 1.4): the reader's MODULE, STACK
 * and SAMPLES records and stacks header fields, the damage it refuses, the
 * model recording.c builds from them, and the differential ranking of
 * stackview.c with shares computed by hand.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "recording.h"
#include "stackview.h"
#include "synthetic.h"
#include "trace-builder.h"
#include "trace-reader.h"

#include "unit-test.h"

#define BASE_NS 1000000000ull

static const uint8_t build_id[20] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6,
				      7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

struct offsets {
	size_t module, stack1, stack2, samples;
};

/* One thread: THREAD, REGION, MODULE, ITERATION 0, STACK 2, STACK 1,
 * SAMPLES, ITERATION 1 (none), ITERATION 2, SAMPLES. */
static void build_small(struct tb *b, struct offsets *o)
{
	const uint64_t f1[3] = { 0x400100, 0x400200, 0x9000 }, f2[1] = { 0x400300 };
	const struct tb_sample s0[2] = { { 1, ITP_SAMPLE_FAULT, 7 }, { 2, ITP_SAMPLE_CPU, 3 } },
			       s2[1] = { { 2, ITP_SAMPLE_SWITCH, 1 } };
	struct tb_chunk c;

	tb_init(b, 4096, 0);
	tb_stacks(b, ITP_STACKS_SLOW, 0, NULL);
	c = tb_chunk(b, 7, 0, 0);
	tb_rec_thread(b, &c, 0, 7, "main");
	tb_rec_region(b, &c, 1, 0, "work");
	o->module = tb_rec_module(b, &c, 2, 0x400000, 0x500000, 0x400000, "/nonexistent/bench",
				  build_id, sizeof(build_id));
	tb_rec_iteration(b, &c, 3, 0, 0, 0, BASE_NS, 1000, NULL);
	o->stack2 = tb_rec_stack(b, &c, 4, 2, 0, f2, 1);
	o->stack1 = tb_rec_stack(b, &c, 5, 1, ITP_STACK_BROKEN, f1, 3);
	o->samples = tb_rec_samples(b, &c, 6, 4, ITP_KEPT_WARMUP, s0, 2);
	tb_rec_iteration(b, &c, 7, 0, 0, 0, BASE_NS + 2000, 1000, NULL);
	tb_rec_iteration(b, &c, 8, 0, 0, 0, BASE_NS + 4000, 1000, NULL);
	tb_rec_samples(b, &c, 9, 0, ITP_KEPT_RESERVOIR, s2, 1);
	tb_footer(b, 3, 0);
}

static void test_reader_records(void)
{
	struct tb b;
	struct offsets o;
	struct trace_reader *r;
	struct trace_cursor cur;
	struct trace_record rec;
	char why[256] = "";
	unsigned modules = 0, stacks = 0, samples = 0;
	int err;

	build_small(&b, &o);
	tb_stacks(&b, ITP_STACKS_ALL, 0, NULL);
	err = trace_reader_open_buffer(b.buf, b.size, "s.trace", &r, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (err) {
		tb_free(&b);
		return;
	}
	CHECK(trace_reader_info(r)->stacks_mode == ITP_STACKS_ALL &&
		      trace_reader_info(r)->fault_period == 1 &&
		      trace_reader_info(r)->cpu_period_us == 100 &&
		      trace_reader_info(r)->stack_copy_bytes == 16384,
	      "header stacks fields");
	trace_cursor_init(&cur, r, 0);
	while ((err = trace_cursor_next(&cur, &rec, why, sizeof(why))) > 0) {
		if (rec.type == ITP_REC_MODULE) {
			modules++;
			CHECK(rec.offset == o.module && rec.module.start == 0x400000 &&
				      rec.module.end == 0x500000 && rec.module.bias == 0x400000 &&
				      rec.module.build_id_len == 20 &&
				      !memcmp(rec.module.build_id, build_id, 20) &&
				      rec.module.path_len == strlen("/nonexistent/bench") &&
				      !memcmp(rec.module.path, "/nonexistent/bench",
					      rec.module.path_len),
			      "module record");
		} else if (rec.type == ITP_REC_STACK) {
			stacks++;
			if (rec.stack.id == 1)
				CHECK(rec.stack.frame_count == 3 && rec.stack.flags == ITP_STACK_BROKEN &&
					      trace_stack_frame(&rec, 0) == 0x400100 &&
					      trace_stack_frame(&rec, 2) == 0x9000,
				      "stack 1");
			else
				CHECK(rec.stack.id == 2 && rec.stack.frame_count == 1 &&
					      trace_stack_frame(&rec, 0) == 0x400300,
				      "stack 2");
		} else if (rec.type == ITP_REC_SAMPLES) {
			struct trace_sample_entry e;

			if (!samples++) {
				CHECK(rec.samples.count == 2 && rec.samples.lost == 4 &&
					      rec.samples.kept == ITP_KEPT_WARMUP,
				      "samples record");
				trace_samples_entry(&rec, 1, &e);
				CHECK(e.stack_id == 2 && e.kind == ITP_SAMPLE_CPU && e.samples == 3,
				      "samples entry");
			}
		}
	}
	CHECK(err == 0, "read: %s", why);
	CHECK(modules == 1 && stacks == 2 && samples == 2, "%u modules %u stacks %u samples",
	      modules, stacks, samples);
	trace_reader_close(r);
	tb_free(&b);
}

static void test_model(void)
{
	struct tb b;
	struct offsets o;
	struct recording *rec;
	char why[256] = "";
	int err;

	build_small(&b, &o);
	err = recording_open_buffer(b.buf, b.size, "s.trace", &rec, why, sizeof(why));
	CHECK(err == 0, "recording: %s", why);
	if (!err) {
		const struct recording_process *p = &rec->processes[0];
		const struct recording_thread *t = &p->threads[0];
		const struct recording_region *r = &t->regions[0];
		const struct recording_sampled *s;

		CHECK(p->header.stacks_mode == ITP_STACKS_SLOW, "mode");
		CHECK(p->module_count == 1 && !strcmp(p->modules[0].path, "/nonexistent/bench") &&
			      p->modules[0].build_id_len == 20 && p->modules[0].build_id[0] == 0xde,
		      "module kept");
		CHECK(t->stack_count == 2 && t->stacks[0].id == 1 && t->stacks[1].id == 2 &&
			      t->stacks[0].frame_count == 3 &&
			      t->frames[t->stacks[0].first_frame + 1] == 0x400200 &&
			      t->frames[t->stacks[1].first_frame] == 0x400300,
		      "stacks sorted by id with their frames");
		CHECK(recording_stack_index(t, 2) == 1 && recording_stack_index(t, 3) == -1,
		      "stack lookup");
		CHECK(r->stacks.count == 2, "%zu kept iterations", r->stacks.count);
		s = recording_sampled_of(r, 0);
		CHECK(s && s->count == 2 && s->lost == 4 && s->kept == ITP_KEPT_WARMUP &&
			      r->stacks.samples[s->first].stack == 0 &&
			      r->stacks.samples[s->first].samples == 7 &&
			      r->stacks.samples[s->first + 1].stack == 1,
		      "iteration 0's samples, stack ids resolved to indexes");
		CHECK(recording_sampled_of(r, 1) == NULL, "iteration 1 kept nothing");
		s = recording_sampled_of(r, 2);
		CHECK(s && s->count == 1 && r->stacks.samples[s->first].kind == ITP_SAMPLE_SWITCH,
		      "iteration 2's samples");
		CHECK(t->orphan_samples == 0, "no orphans");
		recording_free(rec);
	}
	tb_free(&b);

	/* a SAMPLES whose stack was never written: an orphan, not an error */
	build_small(&b, &o);
	tb_put32(&b, o.stack2 + ITP_STACK_OFF_ID, 9);
	err = recording_open_buffer(b.buf, b.size, "s.trace", &rec, why, sizeof(why));
	CHECK(err == 0, "lost stack: %s", why);
	if (!err) {
		CHECK(rec->processes[0].threads[0].orphan_samples == 4, "orphans %llu",
		      (unsigned long long)rec->processes[0].threads[0].orphan_samples);
		recording_free(rec);
	}
	tb_free(&b);

	/* the same stack id twice: its samples could mean either */
	build_small(&b, &o);
	tb_put32(&b, o.stack2 + ITP_STACK_OFF_ID, 1);
	err = recording_open_buffer(b.buf, b.size, "s.trace", &rec, why, sizeof(why));
	CHECK(err == -EINVAL && strstr(why, "stack id 1 written twice"), "duplicate: %d %s", err,
	      why);
	tb_free(&b);
}

/* Open and read @b; expect @want_err and @want in the reason. */
static void expect_reason(struct tb *b, int want_err, const char *want, const char *what)
{
	struct trace_reader *r;
	struct trace_cursor c;
	struct trace_record rec;
	char why[256] = "";
	int err = trace_reader_open_buffer(b->buf, b->size, "bad.trace", &r, why, sizeof(why));

	if (!err) {
		trace_cursor_init(&c, r, 0);
		while ((err = trace_cursor_next(&c, &rec, why, sizeof(why))) > 0)
			;
		trace_reader_close(r);
	}
	CHECK(err == want_err && strstr(why, want), "%s: err %d, reason '%s', want '%s'", what,
	      err, why, want);
}

static void test_damage(void)
{
	struct tb b;
	struct offsets o;
	char want[160];

	/* each damage on a fresh copy */
#define DAMAGE(code, fmt, off, what)                                                   \
	do {                                                                           \
		build_small(&b, &o);                                                   \
		code;                                                                  \
		snprintf(want, sizeof(want), "bad.trace: byte %zu: " fmt, (size_t)(off)); \
		expect_reason(&b, -EINVAL, want, what);                                \
		tb_free(&b);                                                           \
	} while (0)

	DAMAGE(b.buf[o.module + ITP_MODULE_OFF_BUILD_ID_LEN] = 65, "module build-id of 65 bytes",
	       o.module, "build-id too long");
	DAMAGE(tb_put16(&b, o.module + ITP_MODULE_OFF_PATH_LEN, 200), "module record needs",
	       o.module, "path past the record");
	DAMAGE(tb_put64(&b, o.module + ITP_MODULE_OFF_END, 0x400000), "module range", o.module,
	       "empty module");
	DAMAGE(tb_put32(&b, o.module, ITP_RECORD_WORD(ITP_REC_MODULE, 32)),
	       "record of type 8 is 32 bytes, too short for its type", o.module, "short MODULE");
	DAMAGE(tb_put32(&b, o.stack1 + ITP_STACK_OFF_ID, 0), "stack id 0", o.stack1, "stack 0");
	DAMAGE(tb_put16(&b, o.stack1 + ITP_STACK_OFF_FRAME_COUNT, 0), "stack of 0 frames",
	       o.stack1, "no frames");
	DAMAGE(tb_put16(&b, o.stack1 + ITP_STACK_OFF_FRAME_COUNT, 129), "stack of 129 frames",
	       o.stack1, "too many frames");
	DAMAGE(tb_put16(&b, o.stack1 + ITP_STACK_OFF_FRAME_COUNT, 4),
	       "stack of 4 frames in a 40-byte record", o.stack1, "frames past the record");
	DAMAGE(tb_put32(&b, o.stack1, ITP_RECORD_WORD(ITP_REC_STACK, 8)),
	       "record of type 9 is 8 bytes, too short for its type",
	       o.stack1, "short STACK");
	DAMAGE(tb_put32(&b, o.samples + ITP_SAMPLES_OFF_COUNT, 0x40000000),
	       "1073741824 sample entries in a 32-byte record", o.samples, "count past the record");
	DAMAGE(tb_put32(&b, o.samples + ITP_SAMPLES_OFF_ENTRIES + 8, 0),
	       "sample entry 1 names stack 0", o.samples + ITP_SAMPLES_OFF_ENTRIES + 8,
	       "entry of stack 0");
	DAMAGE(b.buf[o.samples + ITP_SAMPLES_OFF_ENTRIES + 4] = 7, "sample entry 0 of unknown kind 7",
	       o.samples + ITP_SAMPLES_OFF_ENTRIES, "unknown kind");
	DAMAGE(tb_put32(&b, o.samples, ITP_RECORD_WORD(ITP_REC_SAMPLES, 8)),
	       "record of type 10 is 8 bytes, too short for its type", o.samples, "short SAMPLES");
	DAMAGE(tb_put32(&b, ITP_OFF_STACKS_MODE, 3), "unknown stacks mode 3", ITP_OFF_STACKS_MODE,
	       "stacks mode");
	/* the stack records in a file older than 1.4 */
	DAMAGE(tb_put16(&b, ITP_OFF_VERSION_MINOR, 3), "unknown record type 8", o.module,
	       "MODULE in a 1.3 file");
#undef DAMAGE
}

/* A 1.3 file: the stacks fields were reserved, whatever they hold. */
static void test_old_version(void)
{
	struct tb b;
	struct tb_chunk c;
	struct recording *rec;
	char why[256] = "";
	int err;

	tb_init(&b, 4096, 0);
	tb_put16(&b, ITP_OFF_VERSION_MINOR, 3);
	tb_stacks(&b, ITP_STACKS_ALL, 0, NULL);
	c = tb_chunk(&b, 7, 0, 0);
	tb_rec_thread(&b, &c, 0, 7, "main");
	tb_rec_region(&b, &c, 1, 0, "work");
	tb_rec_iteration(&b, &c, 2, 0, 0, 0, BASE_NS, 1000, NULL);
	tb_footer(&b, 1, 0);
	err = recording_open_buffer(b.buf, b.size, "old.trace", &rec, why, sizeof(why));
	CHECK(err == 0, "1.3: %s", why);
	if (!err) {
		CHECK(rec->processes[0].header.stacks_mode == ITP_STACKS_OFF &&
			      rec->processes[0].header.fault_period == 0 &&
			      rec->processes[0].threads[0].regions[0].stacks.count == 0,
		      "1.3 reads as stacks off");
		recording_free(rec);
	}
	tb_free(&b);
}

static void test_rank(void)
{
	struct stackview_entry top[STACKVIEW_TOP];
	unsigned n;

	{
		/* shares .57 .30 .09 .04 against .10 .10 .80 0: differences
		 * .47 .20 -.71; .04 is under the 5 % floor */
		const uint64_t set[4] = { 57, 30, 9, 4 }, steady[4] = { 10, 10, 80, 0 };

		n = stackview_rank(set, steady, 4, top, STACKVIEW_TOP);
		CHECK(n == 3, "%u kept", n);
		CHECK(n == 3 && top[0].group == 0 && top[1].group == 1 && top[2].group == 2,
		      "order %u %u %u", top[0].group, top[1].group, top[2].group);
		CHECK(fabs(top[0].share - 0.57) < 1e-12 && fabs(top[0].steady_share - 0.10) < 1e-12 &&
			      fabs(top[2].share - 0.09) < 1e-12 &&
			      fabs(top[2].steady_share - 0.80) < 1e-12 && top[0].samples == 57 &&
			      top[0].steady_samples == 10,
		      "shares");
	}
	{
		/* no steady samples: steady shares 0, ranked by share; a
		 * tie on the difference goes to more samples */
		const uint64_t set[3] = { 10, 30, 10 }, steady[3] = { 0, 0, 0 };

		n = stackview_rank(set, steady, 3, top, STACKVIEW_TOP);
		CHECK(n == 3 && top[0].group == 1 && top[1].group == 0 && top[2].group == 2 &&
			      top[0].steady_share == 0 && fabs(top[0].share - 0.6) < 1e-12,
		      "without steady: %u %u %u", top[0].group, top[1].group, top[2].group);
	}
	{
		/* seven stacks of 1/7 each, one steady: the five others
		 * lead (lower group first on a full tie) */
		const uint64_t set[7] = { 1, 1, 1, 1, 1, 1, 1 }, steady[7] = { 1, 0, 0, 0, 0, 0, 0 };

		n = stackview_rank(set, steady, 7, top, STACKVIEW_TOP);
		CHECK(n == 5 && top[0].group == 1 && top[4].group == 5, "top five: %u, %u..%u", n,
		      top[0].group, top[4].group);
	}
	{
		const uint64_t set[2] = { 0, 0 }, steady[2] = { 5, 5 };

		CHECK(stackview_rank(set, steady, 2, top, STACKVIEW_TOP) == 0, "empty set");
	}
	CHECK(stackview_kind_of(ATTRIB_PAGE_FAULTS) == ITP_SAMPLE_FAULT &&
		      stackview_kind_of(ATTRIB_MAJOR_FAULTS) == ITP_SAMPLE_FAULT &&
		      stackview_kind_of(ATTRIB_BLOCKING) == ITP_SAMPLE_SWITCH &&
		      stackview_kind_of(ATTRIB_STEAL) == ITP_SAMPLE_SWITCH &&
		      stackview_kind_of(ATTRIB_UNEXPLAINED) == ITP_SAMPLE_CPU &&
		      stackview_kind_of(ATTRIB_FIRST_CALL) == ITP_SAMPLE_CPU,
	      "kinds of causes");
}

enum { TASK_CLOCK, MINOR_FAULTS, VOLUNTARY, COUNTERS };

/*
 * 600 iterations of 10 µs (1 % noise), a warm-up of 20, a page-fault burst
 * at 100 and a sleep at 200; stacks 1 (touch), 2 (common), 3 (read),
 * 4 (compute):
 *   100 (kept slow):       fault 1 x8, 2 x2; cpu 4 x5; lost 1
 *   200 (kept slow):       switch 3 x1; cpu 4 x3
 *   300..309 (reservoir):  fault 2 x1, cpu 4 x10 each; 305 also switch 4 x1
 *   400 (kept slow by the shim, steady for the analysis): fault 1 x50
 */
static struct recording *build_view(void)
{
	const uint64_t frames[4] = { 0x1000, 0x2000, 0x3000, 0x4000 };
	struct tb b;
	struct tb_chunk c;
	struct recording *rec = NULL;
	char why[256];
	uint64_t start = BASE_NS;
	uint32_t seq = 0;

	tb_init(&b, 1u << 20, COUNTERS);
	tb_stacks(&b, ITP_STACKS_SLOW, 0, NULL);
	tb_counter(&b, TASK_CLOCK, ITP_COUNTER_TASK_CLOCK, "task-clock", 1, NULL);
	tb_counter(&b, MINOR_FAULTS, ITP_COUNTER_MINOR_FAULTS, "minor-faults", 1, NULL);
	tb_counter(&b, VOLUNTARY, ITP_COUNTER_VOLUNTARY_SWITCHES, "voluntary-switches", 1, NULL);
	c = tb_chunk(&b, 77, 0, 0);
	tb_rec_thread(&b, &c, seq++, 77, "bench");
	tb_rec_region(&b, &c, seq++, 0, "work");
	synthetic_seed(5);
	for (size_t i = 0; i < 600; i++) {
		double cpu = 10000 * (1 + 0.01 * synthetic_normal()), off = 100;
		uint64_t v[COUNTERS] = { 0 };

		if (i < 20)
			cpu *= 1 + 2.0 * (double)(20 - i) / 20;
		if (i == 100) {
			cpu += 40000;
			v[MINOR_FAULTS] = 20;
		}
		if (i == 200) {
			off += 100000;
			v[VOLUNTARY] = 1;
		}
		v[TASK_CLOCK] = (uint64_t)cpu;
		tb_rec_iteration(&b, &c, seq++, 0, 0, 0, start, (uint64_t)(cpu + off), v);
		start += (uint64_t)(cpu + off) + 50;
		if (i == 100) {
			const struct tb_sample s[3] = { { 1, ITP_SAMPLE_FAULT, 8 },
							{ 2, ITP_SAMPLE_FAULT, 2 },
							{ 4, ITP_SAMPLE_CPU, 5 } };

			for (uint32_t k = 0; k < 4; k++)
				tb_rec_stack(&b, &c, seq++, k + 1, 0, &frames[k], 1);
			tb_rec_samples(&b, &c, seq++, 1, ITP_KEPT_SLOW, s, 3);
		} else if (i == 200) {
			const struct tb_sample s[2] = { { 3, ITP_SAMPLE_SWITCH, 1 },
							{ 4, ITP_SAMPLE_CPU, 3 } };

			tb_rec_samples(&b, &c, seq++, 0, ITP_KEPT_SLOW, s, 2);
		} else if (i >= 300 && i < 310) {
			const struct tb_sample s[3] = { { 2, ITP_SAMPLE_FAULT, 1 },
							{ 4, ITP_SAMPLE_CPU, 10 },
							{ 4, ITP_SAMPLE_SWITCH, 1 } };

			tb_rec_samples(&b, &c, seq++, 0, ITP_KEPT_RESERVOIR, s, i == 305 ? 3 : 2);
		} else if (i == 400) {
			const struct tb_sample s[1] = { { 1, ITP_SAMPLE_FAULT, 50 } };

			tb_rec_samples(&b, &c, seq++, 0, ITP_KEPT_SLOW, s, 1);
		}
	}
	tb_footer(&b, 600, 0);
	if (recording_open_buffer(b.buf, b.size, "view.trace", &rec, why, sizeof(why)))
		printf("recording_open_buffer: %s\n", why);
	tb_free(&b);
	return rec;
}

static void test_view(void)
{
	struct recording *rec = build_view();
	const struct recording_region *r;
	const uint32_t identity[4] = { 0, 1, 2, 3 };
	struct stackview v;
	struct analysis a;
	double ns[ATTRIB_CAUSE_COUNT];
	uint64_t samples;
	uint32_t top;

	CHECK(rec != NULL, "view trace read");
	if (!rec)
		return;
	r = &rec->processes[0].threads[0].regions[0];
	CHECK(analysis_run(&rec->processes[0], r, &a) == 0, "analysis");
	CHECK(analysis_explain(&a, r, 100, ns) == ATTRIB_PAGE_FAULTS &&
		      analysis_explain(&a, r, 200, ns) == ATTRIB_BLOCKING &&
		      analysis_explain(&a, r, 400, ns) == ATTRIB_CAUSE_COUNT,
	      "the analysis sees the injections");
	CHECK(stackview_compute(&rec->processes[0].threads[0], r, &a, identity, 4, &v) == 0,
	      "compute");
	CHECK(v.iterations_with_samples == 13 && v.steady_iterations == 10 && v.lost == 1 &&
		      v.samples[ITP_SAMPLE_FAULT] == 70 && v.samples[ITP_SAMPLE_SWITCH] == 2 &&
		      v.samples[ITP_SAMPLE_CPU] == 108,
	      "totals: %zu kept, %zu steady, %llu lost, %llu/%llu/%llu", v.iterations_with_samples,
	      v.steady_iterations, (unsigned long long)v.lost,
	      (unsigned long long)v.samples[ITP_SAMPLE_FAULT],
	      (unsigned long long)v.samples[ITP_SAMPLE_SWITCH],
	      (unsigned long long)v.samples[ITP_SAMPLE_CPU]);
	CHECK(v.cause_count == 2, "%u causes", v.cause_count);
	if (v.cause_count == 2) {
		const struct stackview_cause *pf = &v.causes[0], *bl = &v.causes[1];

		/* fault samples: 8 of 10 in stack 1 (steady 0 of 10: the
		 * shim's "slow" 400 is not a steady sample), 2 in stack 2
		 * (steady 10 of 10) */
		CHECK(pf->cause == ATTRIB_PAGE_FAULTS && pf->kind == ITP_SAMPLE_FAULT &&
			      pf->iteration_count == 1 && pf->iterations[0] == 100 &&
			      pf->samples == 10 && pf->steady_iterations == 10 &&
			      pf->steady_samples == 10,
		      "page-faults cause");
		CHECK(pf->top_count == 2 && pf->top[0].group == 0 && pf->top[0].stack == 0 &&
			      fabs(pf->top[0].share - 0.8) < 1e-12 && pf->top[0].steady_share == 0 &&
			      pf->top[1].group == 1 && fabs(pf->top[1].share - 0.2) < 1e-12 &&
			      fabs(pf->top[1].steady_share - 1.0) < 1e-12,
		      "page-faults top");
		/* switch samples: 1 in stack 3; steady: 1 in stack 4 */
		CHECK(bl->cause == ATTRIB_BLOCKING && bl->kind == ITP_SAMPLE_SWITCH &&
			      bl->iterations[0] == 200 && bl->samples == 1 && bl->steady_samples == 1 &&
			      bl->top_count == 1 && bl->top[0].group == 2 &&
			      fabs(bl->top[0].share - 1.0) < 1e-12 && bl->top[0].steady_share == 0,
		      "blocking");
	}
	stackview_iteration(r, 100, identity, &samples, &top);
	CHECK(samples == 15 && top == 0, "iteration 101: %llu samples, top %u",
	      (unsigned long long)samples, top);
	stackview_iteration(r, 101, identity, &samples, &top);
	CHECK(samples == 0 && top == STACKVIEW_NO_GROUP, "iteration 102 has none");
	stackview_free(&v);
	analysis_free(&a);
	recording_free(rec);
}

/* Names through the symbolizer: a module whose file does not exist gives
 * no function names, only the module; an address outside every module is
 * unknown. */
static void test_names_and_flame(void)
{
	struct tb b;
	struct offsets o;
	struct recording *rec;
	struct stack_names *names;
	struct stack_frame *f;
	const uint32_t *group;
	uint32_t groups;
	size_t count;
	char why[256], *text = NULL;
	size_t len = 0;
	FILE *mem;
	struct stackview_flame *flame;

	build_small(&b, &o);
	if (recording_open_buffer(b.buf, b.size, "s.trace", &rec, why, sizeof(why))) {
		CHECK(0, "%s", why);
		tb_free(&b);
		return;
	}
	CHECK(stack_names_new(&rec->processes[0], &names) == 0, "names");
	CHECK(stack_names_groups(names, 0, &group, &groups) == 0 && groups == 2, "groups");
	CHECK(!strcmp(stack_names_folded(names, group[0]), "[unknown];[bench];[bench]"),
	      "folded '%s'", stack_names_folded(names, group[0]));
	CHECK(stack_names_frames(names, 0, 0, &f, &count) == 0 && count == 3, "frames");
	CHECK(f[0].lookup == 0x400100 && f[0].has_offset && f[0].offset == 0x100 &&
		      f[1].address == 0x400200 && f[1].lookup == 0x4001ff && f[1].offset == 0x1ff &&
		      !f[2].has_offset && f[2].module == NULL,
	      "frame addresses");
	free(f);

	flame = stackview_flame_new();
	mem = open_memstream(&text, &len);
	CHECK(flame && mem, "flame");
	stackview_flame_add(flame, "my loop;x", stack_names_folded(names, group[0]), 2);
	stackview_flame_add(flame, "my loop;x", stack_names_folded(names, group[1]), 1);
	stackview_flame_add(flame, "my loop;x", stack_names_folded(names, group[0]), 3);
	stackview_flame_print(flame, mem);
	fclose(mem);
	CHECK(text && !strcmp(text, "my_loop:x;[bench] 1\nmy_loop:x;[unknown];[bench];[bench] 5\n"),
	      "folded lines '%s'", text);
	free(text);
	stackview_flame_free(flame);
	stack_names_free(names);
	recording_free(rec);
	tb_free(&b);
}

/* Three threads: 7 and 8 run iterations (7 with the no-stacks note when
 * @notes > 0, 8 too when @notes > 1); 9 runs none (it never tried). */
static void build_threads(struct tb *b, uint32_t mode, uint32_t error, const char *why,
			  unsigned notes)
{
	struct tb_chunk c;

	tb_init(b, 4096, 0);
	tb_stacks(b, mode, error, why);
	for (uint32_t tid = 7; tid <= 9; tid++) {
		uint32_t seq = 0;

		c = tb_chunk(b, tid, tid - 7, 0);
		tb_rec_thread(b, &c, seq++, tid, "t");
		if (tid - 7 < notes)
			tb_rec_note(b, &c, seq++, ITP_NOTE_NO_STACKS "perf events: Operation not "
								     "permitted");
		if (tid == 9)
			continue;
		tb_rec_region(b, &c, seq++, 0, "work");
		tb_rec_iteration(b, &c, seq++, 0, 0, 0, BASE_NS, 1000, NULL);
	}
	tb_footer(b, 2, 0);
}

/* Why stacks are missing: the header's reason for the whole process, the
 * threads' notes per thread, and a process only when every thread that
 * tried failed (doc/stacks.md). */
static void test_capture_errors(void)
{
	static const struct {
		uint32_t mode, error;
		const char *why;
		unsigned notes;
		const char *want_process, *want_thread[3];
		unsigned failed, threads;
	} cases[] = {
		{ ITP_STACKS_SLOW, 0, NULL, 0, NULL, { NULL, NULL, NULL }, 0, 2 },
		{ ITP_STACKS_SLOW, 0, NULL, 1, "perf events: Operation not permitted",
		  { "perf events: Operation not permitted", NULL, NULL }, 1, 2 },
		{ ITP_STACKS_ALL, 0, NULL, 2, "perf events: Operation not permitted",
		  { "perf events: Operation not permitted", "perf events: Operation not permitted",
		    NULL },
		  2, 2 },
		{ ITP_STACKS_SLOW, ENOENT, "libunwind-x86_64.so.8 not found", 0,
		  "libunwind-x86_64.so.8 not found",
		  { "libunwind-x86_64.so.8 not found", "libunwind-x86_64.so.8 not found",
		    "libunwind-x86_64.so.8 not found" },
		  3, 3 },
		{ ITP_STACKS_SLOW, EOPNOTSUPP, NULL, 0, "Operation not supported",
		  { "Operation not supported", "Operation not supported", "Operation not supported" },
		  3, 3 },
		/* off: a note (an old shim's) or an error says nothing */
		{ ITP_STACKS_OFF, 0, NULL, 2, NULL, { NULL, NULL, NULL }, 0, 0 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tb b;
		struct recording *rec;
		char why[256] = "";
		int err;

		build_threads(&b, cases[k].mode, cases[k].error, cases[k].why, cases[k].notes);
		err = recording_open_buffer(b.buf, b.size, "e.trace", &rec, why, sizeof(why));
		CHECK(err == 0, "case %zu: %s", k, why);
		if (!err) {
			const struct recording_process *p = &rec->processes[0];
			unsigned failed_threads = 99, threads = 99;
			const char *got = stackview_process_error(p, &failed_threads, &threads);

			CHECK(p->thread_count == 3, "case %zu: %u threads", k, p->thread_count);
			CHECK(cases[k].want_process ? got && !strcmp(got, cases[k].want_process)
						    : got == NULL,
			      "case %zu: process error '%s', want '%s'", k, got ? got : "(null)",
			      cases[k].want_process ? cases[k].want_process : "(null)");
			CHECK(failed_threads == cases[k].failed && threads == cases[k].threads,
			      "case %zu: %u of %u threads failed, want %u of %u", k, failed_threads,
			      threads,
			      cases[k].failed, cases[k].threads);
			for (unsigned t = 0; t < 3 && t < p->thread_count; t++) {
				const char *want = cases[k].want_thread[t];

				got = stackview_thread_error(p, t);
				CHECK(want ? got && !strcmp(got, want) : got == NULL,
				      "case %zu thread %u: '%s', want '%s'", k, t,
				      got ? got : "(null)", want ? want : "(null)");
			}
			recording_free(rec);
		}
		tb_free(&b);
	}
}

int main(void)
{
	test_reader_records();
	test_model();
	test_damage();
	test_old_version();
	test_rank();
	test_view();
	test_names_and_flame();
	test_capture_errors();
	return unit_test_finish();
}

/*
 * The ITERATION record codec (include/iterprof/trace-codec.h): round trips,
 * edge values, and malformed input that must be refused, not misread.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "iterprof/trace-codec.h"

#include "unit-test.h"

#define CHECK1(cond) CHECK(cond, "%s", "")

static void roundtrip(const struct itp_iteration *in, unsigned counters, uint64_t prev)
{
	uint8_t rec[ITP_ITER_RECORD_MAX(ITP_MAX_COUNTERS) + 8];
	struct itp_iteration out;
	uint32_t size;

	memset(rec, 0xa5, sizeof(rec));
	size = itp_iteration_encode(rec, in, counters, prev);
	CHECK1(size % 8 == 0);
	CHECK1(size <= ITP_ITER_RECORD_MAX(counters));
	CHECK1(itp_iteration_decode(rec, size, counters, prev, &out) == 0);
	CHECK1(out.region_id == in->region_id && out.flags == in->flags && out.depth == in->depth);
	CHECK1(out.start_ns == in->start_ns && out.duration_ns == in->duration_ns);
	CHECK1(out.enabled == in->enabled && out.running == in->running);
	for (unsigned i = 0; i < counters; i++)
		CHECK1(out.values[i] == in->values[i]);
	/* Every proper prefix that cuts a varint must be refused. */
	for (uint32_t cut = ITP_ITER_OFF_PAYLOAD; cut < size; cut++) {
		struct itp_iteration scratch;
		const uint8_t *p = rec + ITP_ITER_OFF_PAYLOAD;
		int complete = 1;
		uint64_t v;

		/* A cut right after the last varint still decodes (padding). */
		for (unsigned k = 0; k < 5 + counters; k++)
			if (itp_get_varint(&p, rec + cut, &v))
				complete = 0;
		CHECK1(itp_iteration_decode(rec, cut, counters, prev, &scratch) == (complete ? 0 : -1));
	}
}

int main(void)
{
	struct itp_iteration it;

	memset(&it, 0, sizeof(it));
	roundtrip(&it, 0, 0);
	roundtrip(&it, 8, 0);

	it.region_id = 65535;
	it.flags = ITP_ITER_SCALED;
	it.depth = 31;
	it.start_ns = 1234567890123456789ull;
	it.duration_ns = 987654;
	it.enabled = 987000;
	it.running = 493500;
	for (unsigned i = 0; i < ITP_MAX_COUNTERS; i++)
		it.values[i] = i % 3 == 0 ? ITP_VALUE_UNAVAILABLE : (uint64_t)i << (4 * (i % 16));
	roundtrip(&it, ITP_MAX_COUNTERS, 0);
	/* Start before the previous one (nested regions are written inner first). */
	roundtrip(&it, 8, it.start_ns + 5000);
	roundtrip(&it, 8, it.start_ns - 5000);
	/* Extremes. */
	it.values[1] = UINT64_MAX - 1;
	it.duration_ns = UINT64_MAX;
	it.enabled = UINT64_MAX;
	it.running = 0;
	roundtrip(&it, 8, 0);

	/* Typical record: a short iteration with quiet counters fits in 32 bytes. */
	{
		uint8_t rec[ITP_ITER_RECORD_MAX(8)];
		struct itp_iteration t = { .start_ns = 1000000, .duration_ns = 2500,
					   .enabled = 2400, .running = 2400 };

		t.values[0] = 2300;
		CHECK1(itp_iteration_encode(rec, &t, 8, 997000) <= 32);
	}

	/* Malformed: running > enabled, an 11-byte varint, too many counters. */
	{
		uint8_t rec[64] = { 0 };
		struct itp_iteration out;
		uint8_t *p = rec + ITP_ITER_OFF_PAYLOAD;

		p = itp_put_varint(p, 0);   /* depth */
		p = itp_put_varint(p, 0);   /* start */
		p = itp_put_varint(p, 10);  /* duration */
		p = itp_put_varint(p, 5);   /* enabled */
		p = itp_put_varint(p, 6);   /* enabled - running > enabled */
		CHECK1(itp_iteration_decode(rec, (uint32_t)(p - rec), 0, 0, &out) == -1);
		memset(rec + ITP_ITER_OFF_PAYLOAD, 0xff, 11);
		rec[ITP_ITER_OFF_PAYLOAD + 11] = 0;
		CHECK1(itp_iteration_decode(rec, sizeof(rec), 0, 0, &out) == -1);
		CHECK1(itp_iteration_decode(rec, sizeof(rec), ITP_MAX_COUNTERS + 1, 0, &out) == -1);
	}

	return unit_test_finish();
}

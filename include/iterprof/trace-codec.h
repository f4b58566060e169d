/*
 * Encoding and decoding of ITERATION records (trace-format.h), shared by the
 * shim that writes them and the analyzer that reads them.
 *
 * Why variable-length: the trace is written through a shared file mapping,
 * and every first store into a page of it is a page fault (about 7 us on
 * these VMs, measured with scripts/bench-overhead). A fixed 112-byte record
 * faulted every 36 iterations and was the largest part of the shim's cost
 * above the counter reads; LEB128 varints bring a typical record to 32 bytes.
 *
 * Payload from offset 12 of the record (after word, seq, region_id, flags):
 *   varint  depth
 *   varint  zigzag(start_ns - previous start_ns): the previous ITERATION of
 *           the same chunk, 0 for the chunk's first (starts are not monotonic
 *           when regions nest: the inner iteration is written first)
 *   varint  duration_ns
 *   varint  time_enabled delta
 *   varint  time_enabled - time_running (0 unless multiplexed)
 *   varint  value[i] + 1 for each of counter_count counters, 0 standing for
 *           ITP_VALUE_UNAVAILABLE
 * then zero padding to a multiple of 8. A varint is at most 10 bytes.
 */
#ifndef ITERPROF_TRACE_CODEC_H
#define ITERPROF_TRACE_CODEC_H

#include <stdint.h>
#include <string.h>

#include "iterprof/trace-format.h"

#define ITP_ITER_OFF_PAYLOAD 12u
/* Largest encoded ITERATION record, for a writer's reservation. */
#define ITP_ITER_RECORD_MAX(counter_count) \
	((ITP_ITER_OFF_PAYLOAD + 10u * (5u + (counter_count)) + 7u) & ~7u)

struct itp_iteration {
	uint16_t region_id;
	uint16_t flags;
	uint32_t depth;
	uint64_t start_ns;
	uint64_t duration_ns;
	uint64_t enabled;
	uint64_t running;
	uint64_t values[ITP_MAX_COUNTERS];
};

static inline uint8_t *itp_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Decode one varint from [*p, end). 0 on success, -1 if cut short or longer
 * than 10 bytes. */
static inline int itp_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t result = 0;
	unsigned shift = 0;
	const uint8_t *q = *p;

	/* One byte is the common case (a counter that did not move is 1):
	 * decided before the loop, reading a 10-million-iteration trace
	 * takes a fifth less time. */
	if (q < end && *q < 0x80) {
		*v = *q;
		*p = q + 1;
		return 0;
	}
	while (q < end && shift < 70) {
		uint8_t byte = *q++;

		result |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*p = q;
			*v = result;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

static inline uint64_t itp_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t itp_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/*
 * Encode @it into @rec (at least ITP_ITER_RECORD_MAX bytes) after the 8-byte
 * record header, which the caller commits. Returns the record's total size.
 */
static inline uint32_t itp_iteration_encode(uint8_t *rec, const struct itp_iteration *it,
					    unsigned counter_count, uint64_t prev_start_ns)
{
	uint8_t *p = rec + ITP_ITER_OFF_PAYLOAD;
	uint32_t size;

	memcpy(rec + ITP_ITER_OFF_REGION_ID, &it->region_id, 2);
	memcpy(rec + ITP_ITER_OFF_FLAGS, &it->flags, 2);
	p = itp_put_varint(p, it->depth);
	p = itp_put_varint(p, itp_zigzag((int64_t)(it->start_ns - prev_start_ns)));
	p = itp_put_varint(p, it->duration_ns);
	p = itp_put_varint(p, it->enabled);
	p = itp_put_varint(p, it->enabled - it->running);
	for (unsigned i = 0; i < counter_count; i++)
		p = itp_put_varint(p, it->values[i] == ITP_VALUE_UNAVAILABLE ? 0 : it->values[i] + 1);
	size = (uint32_t)(p - rec);
	while (size & 7u)
		rec[size++] = 0;
	return size;
}

/*
 * Decode an ITERATION record of @size bytes (header included). Returns 0, or
 * -1 when the payload is cut short or malformed (the caller reports where).
 */
static inline int itp_iteration_decode(const uint8_t *rec, uint32_t size, unsigned counter_count,
				       uint64_t prev_start_ns, struct itp_iteration *it)
{
	const uint8_t *p = rec + ITP_ITER_OFF_PAYLOAD, *end = rec + size;
	uint64_t v, gap;

	if (size < ITP_ITER_OFF_PAYLOAD || counter_count > ITP_MAX_COUNTERS)
		return -1;
	memcpy(&it->region_id, rec + ITP_ITER_OFF_REGION_ID, 2);
	memcpy(&it->flags, rec + ITP_ITER_OFF_FLAGS, 2);
	if (itp_get_varint(&p, end, &v) || v > UINT32_MAX)
		return -1;
	it->depth = (uint32_t)v;
	if (itp_get_varint(&p, end, &v))
		return -1;
	it->start_ns = prev_start_ns + (uint64_t)itp_unzigzag(v);
	if (itp_get_varint(&p, end, &it->duration_ns) || itp_get_varint(&p, end, &it->enabled) ||
	    itp_get_varint(&p, end, &gap) || gap > it->enabled)
		return -1;
	it->running = it->enabled - gap;
	for (unsigned i = 0; i < counter_count; i++) {
		if (itp_get_varint(&p, end, &v))
			return -1;
		it->values[i] = v == 0 ? ITP_VALUE_UNAVAILABLE : v - 1;
	}
	return 0;
}

/* Append one ITERATION_BATCH entry at @p (ITP_BATCH_ENTRY_MAX bytes free);
 * returns the end of what was written. */
static inline uint8_t *itp_batch_entry_encode(uint8_t *p, uint16_t region_id, uint64_t start_ns,
					      uint64_t duration_ns, uint64_t prev_start_ns)
{
	p = itp_put_varint(p, region_id);
	p = itp_put_varint(p, itp_zigzag((int64_t)(start_ns - prev_start_ns)));
	return itp_put_varint(p, duration_ns);
}

/* Decode one ITERATION_BATCH entry from [*p, end) into @it (depth 0, no
 * counter values). 0, or -1 when it is cut short or malformed. */
static inline int itp_batch_entry_decode(const uint8_t **p, const uint8_t *end,
					 uint64_t prev_start_ns, struct itp_iteration *it)
{
	uint64_t v;

	if (itp_get_varint(p, end, &v) || v > UINT16_MAX)
		return -1;
	it->region_id = (uint16_t)v;
	if (itp_get_varint(p, end, &v))
		return -1;
	it->start_ns = prev_start_ns + (uint64_t)itp_unzigzag(v);
	if (itp_get_varint(p, end, &it->duration_ns))
		return -1;
	it->depth = 0;
	it->enabled = it->running = 0;
	for (unsigned i = 0; i < ITP_MAX_COUNTERS; i++)
		it->values[i] = ITP_VALUE_UNAVAILABLE;
	return 0;
}

#endif /* ITERPROF_TRACE_CODEC_H */

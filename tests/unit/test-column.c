/*
 * Unit tests of analyzer/column.c: values come back as appended at every
 * width, the column widens only as far as its values need, and
 * UINT64_MAX (not available) survives every width.
 */
#include <stdint.h>
#include <stdlib.h>

#include "column.h"

#include "synthetic.h"
#include "unit-test.h"

/* Append @n values (the first @n of @in), check the width, then read them
 * back one by one and by ranges. */
static void round_trip(const char *what, const uint64_t *in, size_t n, uint8_t want_width)
{
	struct column c = { 0 };
	uint64_t *out = malloc(n * sizeof(*out) + 1);
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		CHECK(column_push(&c, in[i]) == 0, "%s: push %zu", what, i);
	CHECK(c.count == n && c.width == want_width, "%s: count %zu width %u, expected width %u",
	      what, c.count, c.width, want_width);
	column_shrink(&c);
	CHECK(c.capacity == n, "%s: shrunk to %zu", what, c.capacity);
	for (size_t i = 0; i < n; i++)
		bad += column_get(&c, i) != in[i];
	CHECK(bad == 0, "%s: %zu values differ", what, bad);
	if (n > 10) {
		column_get_range(&c, 3, n - 5, out);
		bad = 0;
		for (size_t i = 0; i < n - 5; i++)
			bad += out[i] != in[3 + i];
		CHECK(bad == 0, "%s: range: %zu values differ", what, bad);
	}
	column_free(&c);
	CHECK(c.count == 0 && c.data == NULL, "%s: freed", what);
	free(out);
}

int main(void)
{
	enum { N = 3000 };
	static uint64_t v[N];

	for (size_t i = 0; i < N; i++)
		v[i] = 0;
	round_trip("all zero", v, N, 0);

	synthetic_seed(7);
	for (size_t i = 0; i < N; i++)
		v[i] = (uint64_t)(synthetic_uniform() * 254); /* 0..253 */
	v[N / 2] = UINT64_MAX;
	round_trip("bytes with one not available", v, N, 1);

	v[N - 1] = 255; /* all-ones of a byte is a value: needs 2 */
	round_trip("255 needs two bytes", v, N, 2);

	/* widening late, after many narrow values, keeps the early ones */
	for (size_t i = 0; i < N; i++)
		v[i] = i % 3 ? 1 : UINT64_MAX;
	v[N - 2] = 70000;
	round_trip("late widening to 4", v, N, 4);
	v[N - 2] = UINT32_MAX;
	round_trip("UINT32_MAX needs 8", v, N, 8);
	v[N - 2] = UINT64_MAX - 1;
	round_trip("UINT64_MAX - 1", v, N, 8);

	/* the first value decides nothing: zeros, then a large one */
	for (size_t i = 0; i < N; i++)
		v[i] = i < N - 1 ? 0 : 123456789012ull;
	round_trip("zeros then wide", v, N, 8);
	round_trip("one value", v + N - 1, 1, 8);
	return unit_test_finish();
}

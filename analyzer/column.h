/*
 * column: a growable array of uint64 values stored in the narrowest width
 * (0, 1, 2, 4 or 8 bytes per value) that holds every value appended so far.
 *
 * Why: a report reads every iteration of a trace into memory, with up to 16
 * counters each. Stored as uint64 that is 8 bytes per counter per iteration,
 * 80+ bytes an iteration with the default software set; but most of those
 * values are small (0 or 1 page fault, context switch or migration, a
 * task-clock of a few µs), so 1 or 2 bytes hold them, and a counter that
 * stayed 0 takes no memory at all. The goal it serves: <= 48 bytes of memory
 * per iteration for a 10-million-iteration report (scripts/bench-report).
 *
 * UINT64_MAX (ITP_VALUE_UNAVAILABLE: the shim could not read the value) is
 * stored as the width's all-ones pattern, so a real value of all-ones needs
 * the next width. A column widens when a value does not fit: every value is
 * copied once per widening, at most four times per column.
 */
#ifndef ITERPROF_COLUMN_H
#define ITERPROF_COLUMN_H

#include <stddef.h>
#include <stdint.h>

struct column {
	void *data;     /* count values of width bytes; NULL while width is 0 */
	size_t count;
	size_t capacity;
	uint8_t width;  /* 0 (every value so far is 0), 1, 2, 4 or 8 */
};

/* Append @v. Returns 0 or -ENOMEM (the column is unchanged). */
int column_push_slow(struct column *column, uint64_t v);

/* The common case inline: room left and @v fits the width. Reading a
 * 10-million-iteration trace pushes 100 million values. */
static inline int column_push(struct column *column, uint64_t v)
{
	size_t i = column->count;

	if (i < column->capacity) {
		switch (column->width) {
		case 1:
			if (v < UINT8_MAX) {
				((uint8_t *)column->data)[i] = (uint8_t)v;
				column->count++;
				return 0;
			}
			break;
		case 2:
			if (v < UINT16_MAX) {
				((uint16_t *)column->data)[i] = (uint16_t)v;
				column->count++;
				return 0;
			}
			break;
		case 4:
			if (v < UINT32_MAX) {
				((uint32_t *)column->data)[i] = (uint32_t)v;
				column->count++;
				return 0;
			}
			break;
		case 8:
			((uint64_t *)column->data)[i] = v;
			column->count++;
			return 0;
		default:
			if (!v) {
				column->count++;
				return 0;
			}
		}
	}
	return column_push_slow(column, v);
}

/* Append every value of @from to @to (widening @to if need be). 0 or
 * -ENOMEM (@to unchanged). */
int column_append(struct column *to, const struct column *from);

/* Release the spare capacity kept for appends. */
void column_shrink(struct column *column);

/* Free the values; the column is empty again. Accepts an empty column. */
void column_free(struct column *column);

/* Value @i (< count). */
static inline uint64_t column_get(const struct column *column, size_t i)
{
	switch (column->width) {
	case 1: {
		uint8_t v = ((const uint8_t *)column->data)[i];
		return v == UINT8_MAX ? UINT64_MAX : v;
	}
	case 2: {
		uint16_t v = ((const uint16_t *)column->data)[i];
		return v == UINT16_MAX ? UINT64_MAX : v;
	}
	case 4: {
		uint32_t v = ((const uint32_t *)column->data)[i];
		return v == UINT32_MAX ? UINT64_MAX : v;
	}
	case 8:
		return ((const uint64_t *)column->data)[i];
	default:
		return 0;
	}
}

/* Values @first .. @first + @n - 1 into @out: the fast way over many. */
void column_get_range(const struct column *column, size_t first, size_t n, uint64_t *out);

#endif /* ITERPROF_COLUMN_H */

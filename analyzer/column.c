/*
 * column: see column.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "column.h"

/* The narrowest width that holds @v: all-ones of a width is taken by
 * UINT64_MAX. */
static uint8_t width_of(uint64_t v)
{
	if (v == 0)
		return 0;
	if (v == UINT64_MAX)
		return 1;
	if (v < UINT8_MAX)
		return 1;
	if (v < UINT16_MAX)
		return 2;
	if (v < UINT32_MAX)
		return 4;
	return 8;
}

static void put(void *data, uint8_t width, size_t i, uint64_t v)
{
	switch (width) {
	case 1:
		((uint8_t *)data)[i] = (uint8_t)v; /* UINT64_MAX -> all-ones */
		break;
	case 2:
		((uint16_t *)data)[i] = (uint16_t)v;
		break;
	case 4:
		((uint32_t *)data)[i] = (uint32_t)v;
		break;
	case 8:
		((uint64_t *)data)[i] = v;
		break;
	}
}

/* Re-store the column @width bytes a value, with room for @capacity. */
static int widen(struct column *column, uint8_t width, size_t capacity)
{
	void *data = malloc(capacity * width);

	if (!data)
		return -ENOMEM;
	for (size_t i = 0; i < column->count; i++)
		put(data, width, i, column_get(column, i));
	free(column->data);
	column->data = data;
	column->width = width;
	column->capacity = capacity;
	return 0;
}

/* Room for @capacity values at the present width (a width-0 column only
 * counts). 0 or -ENOMEM (the column unchanged). */
static int reserve(struct column *column, size_t capacity)
{
	if (column->width) {
		void *data = realloc(column->data, capacity * column->width);

		if (!data)
			return -ENOMEM;
		column->data = data;
	}
	column->capacity = capacity;
	return 0;
}

int column_push_slow(struct column *column, uint64_t v)
{
	uint8_t need = width_of(v);

	/* Doubling keeps appends O(1); column_shrink gives the spare half
	 * back once the column is complete. */
	if (column->count == column->capacity &&
	    reserve(column, column->capacity ? column->capacity * 2 : 256))
		return -ENOMEM;
	if (need > column->width && widen(column, need, column->capacity))
		return -ENOMEM;
	put(column->data, column->width, column->count++, v);
	return 0;
}

void column_shrink(struct column *column)
{
	void *data;

	if (!column->width || column->count == column->capacity) {
		column->capacity = column->count;
		return;
	}
	data = realloc(column->data, (column->count ? column->count : 1) * column->width);
	if (data) /* keeping the larger block is harmless */
		column->data = data;
	column->capacity = column->count;
}

void column_free(struct column *column)
{
	free(column->data);
	memset(column, 0, sizeof(*column));
}

void column_get_range(const struct column *column, size_t first, size_t n, uint64_t *out)
{
	size_t i;

	switch (column->width) {
	case 0:
		memset(out, 0, n * sizeof(*out));
		break;
	case 1:
		for (i = 0; i < n; i++) {
			uint8_t v = ((const uint8_t *)column->data)[first + i];
			out[i] = v == UINT8_MAX ? UINT64_MAX : v;
		}
		break;
	case 2:
		for (i = 0; i < n; i++) {
			uint16_t v = ((const uint16_t *)column->data)[first + i];
			out[i] = v == UINT16_MAX ? UINT64_MAX : v;
		}
		break;
	case 4:
		for (i = 0; i < n; i++) {
			uint32_t v = ((const uint32_t *)column->data)[first + i];
			out[i] = v == UINT32_MAX ? UINT64_MAX : v;
		}
		break;
	default:
		memcpy(out, (const uint64_t *)column->data + first, n * sizeof(*out));
	}
}

int column_append(struct column *to, const struct column *from)
{
	size_t count = to->count + from->count;
	uint8_t width = from->width > to->width ? from->width : to->width;

	if (!from->count)
		return 0;
	if (width > to->width ? widen(to, width, count)
			      : count > to->capacity && reserve(to, count))
		return -ENOMEM;
	if (!width) {
		to->count = count;
		return 0;
	}
	if (from->width == to->width) {
		memcpy((char *)to->data + to->count * width, from->data, from->count * width);
	} else {
		for (size_t i = 0; i < from->count; i++)
			put(to->data, width, to->count + i, column_get(from, i));
	}
	to->count = count;
	return 0;
}

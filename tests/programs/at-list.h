/*
 * The iteration lists of the test programs' options ("60,130,200", ranges
 * "60-62,100"), shared by inject.c and stackpaths.c.
 */
#ifndef ITERPROF_TEST_AT_LIST_H
#define ITERPROF_TEST_AT_LIST_H

#include <stdlib.h>

/* Parse @s into at most @max 1-based iterations: how many, -1 if bad. */
static int parse_at(const char *s, long *at, int max)
{
	int n = 0;

	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s || a < 1)
			return -1;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			if (end == s + 1 || b < a)
				return -1;
			s = end;
		}
		for (long i = a; i <= b; i++) {
			if (n == max)
				return -1;
			at[n++] = i;
		}
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return n;
}

/* 1 when iteration @i is one of the @n in @at. */
static int is_at(const long *at, int n, long i)
{
	for (int k = 0; k < n; k++)
		if (at[k] == i)
			return 1;
	return 0;
}

#endif /* ITERPROF_TEST_AT_LIST_H */

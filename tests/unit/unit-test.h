/*
 * The few lines every unit test shares: a CHECK that counts and reports, and
 * the closing line ctest and CI read ("N passed, N failed").
 */
#ifndef ITERPROF_UNIT_TEST_H
#define ITERPROF_UNIT_TEST_H

#include <stdio.h>

static unsigned passed, failed;

/* CHECK(condition, printf-format, args...): count, and say what failed. */
#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			passed++;                                          \
		} else {                                                   \
			failed++;                                          \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* Print the closing line; the exit status of main. */
static inline int unit_test_finish(void)
{
	printf("%u passed, %u failed\n", passed, failed);
	return failed != 0;
}

#endif /* ITERPROF_UNIT_TEST_H */

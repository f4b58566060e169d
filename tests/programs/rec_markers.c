/*
 * rec_markers N [REGION]: N iterations of REGION (default "loop"), each a
 * begin/end marker pair around a little arithmetic. Prints a checksum and a
 * line every 100 iterations on stdout, so a test can compare the output of a
 * plain run with the output under `iterprof record`.
 */
#include <stdio.h>
#include <stdlib.h>

#include <iterprof/iterprof.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	const char *region = argc > 2 ? argv[2] : "loop";
	volatile unsigned long sum = 0;

	for (long i = 0; i < n; i++) {
		iterprof_iter_begin(region);
		for (long j = 0; j < 1000; j++)
			sum += (unsigned long)(i ^ j);
		iterprof_iter_end(region);
		if (i % 100 == 99)
			printf("iteration %ld\n", i + 1);
	}
	printf("sum=%lu\n", (unsigned long)sum);
	return 0;
}

/*
 * rec_dropped N: N iterations of region "outer", each opening "inner" and
 * closing "outer" while "inner" is still open, which drops that "inner"
 * iteration (include/iterprof/iterprof.h). A recording must show N
 * iterations and N dropped.
 */
#include <stdlib.h>

#include <iterprof/iterprof.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10;

	for (long i = 0; i < n; i++) {
		iterprof_iter_begin("outer");
		iterprof_iter_begin("inner");
		iterprof_iter_end("outer");
	}
	return 0;
}

/*
 * rec_threads THREADS N: THREADS threads each run N iterations of region
 * "work"; the main thread runs none. A recording must show THREADS threads
 * and THREADS*N iterations.
 */
#include <pthread.h>
#include <stdlib.h>

#include <iterprof/iterprof.h>

static long iterations;

static void *worker(void *arg)
{
	volatile unsigned long sum = 0;

	(void)arg;
	for (long i = 0; i < iterations; i++) {
		iterprof_iter_begin("work");
		for (long j = 0; j < 1000; j++)
			sum += (unsigned long)(i * j);
		iterprof_iter_end("work");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t threads[64];

	iterations = argc > 2 ? atol(argv[2]) : 100;
	if (count < 1 || count > 64)
		return 2;
	for (int i = 0; i < count; i++)
		if (pthread_create(&threads[i], NULL, worker, NULL))
			return 3;
	for (int i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
	return 0;
}

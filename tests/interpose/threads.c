/*
 * thread_step called from 4 threads at once (a barrier lines them up), never
 * from main. Thread k makes 1000 + 250*k calls, so each thread's stream can
 * be told apart by its count. Prints the per-thread counts as
 *	thread-calls thread_step N0 N1 N2 N3
 * and their total as the usual "calls" line.
 */
#include <pthread.h>

#include "itp.h"

#define THREADS 4

unsigned long thread_step(unsigned long x);

static _Thread_local unsigned long calls_here;
static pthread_barrier_t start_line;
static unsigned long per_thread[THREADS];
static uint64_t per_thread_sum[THREADS];

ITP_NOINLINE unsigned long thread_step(unsigned long x)
{
	calls_here++;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdUL;
	x ^= x >> 33;
	return x;
}

static void *worker(void *arg)
{
	long k = (long)(intptr_t)arg;
	long n = itp_opaque(1000 + 250 * k);
	uint64_t sum = ITP_CHECKSUM_INIT;

	pthread_barrier_wait(&start_line);
	for (long i = 0; i < n; i++)
		sum = itp_mix(sum, thread_step((unsigned long)(i * THREADS + k)));
	per_thread[k] = calls_here;
	per_thread_sum[k] = sum;
	return NULL;
}

int main(void)
{
	pthread_t threads[THREADS];
	unsigned long total = 0;
	uint64_t sum = ITP_CHECKSUM_INIT;

	pthread_barrier_init(&start_line, NULL, THREADS);
	for (long k = 0; k < THREADS; k++)
		if (pthread_create(&threads[k], NULL, worker, (void *)(intptr_t)k)) {
			printf("pthread_create failed\n");
			return 1;
		}
	for (int k = 0; k < THREADS; k++)
		pthread_join(threads[k], NULL);

	printf("thread-calls thread_step");
	for (int k = 0; k < THREADS; k++) {
		printf(" %lu", per_thread[k]);
		total += per_thread[k];
		sum = itp_mix(sum, per_thread_sum[k]);
	}
	printf("\n");
	printf("calls thread_step %lu\n", total);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

/*
 * env_threads [-b BUSY_MS] [-t THREADS] [-s] [-d DELAY_MS]: after DELAY_MS
 * (default 0), start a thread named "busy-helper" that spins until it has
 * used BUSY_MS (default 300) of CPU time, while the main thread sleeps in
 * pthread_join. THREADS (default 0) more threads, named "idle-N", sleep
 * until the helper is done, or spin too with -s. The environment timeline
 * of `iterprof record` must show the helper with its name and ~BUSY_MS of
 * on-CPU time. Prints its pid.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long busy_ms = 300;
static int others_spin;
static atomic_int is_done;

static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *busy(void *arg)
{
	volatile unsigned long sum = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "busy-helper");
	while (thread_cpu_ms() < (double)busy_ms)
		for (int i = 0; i < 10000; i++)
			sum += (unsigned long)i;
	atomic_store(&is_done, 1);
	return NULL;
}

static void *other(void *arg)
{
	volatile unsigned long sum = 0;
	char name[16];

	snprintf(name, sizeof(name), "idle-%ld", (long)(size_t)arg);
	pthread_setname_np(pthread_self(), name);
	while (!atomic_load(&is_done)) {
		if (others_spin)
			for (int i = 0; i < 10000; i++)
				sum += (unsigned long)i;
		else
			usleep(1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t helper, threads[64];
	long delay_ms = 0;
	int count = 0, c;

	while ((c = getopt(argc, argv, "b:t:sd:")) != -1) {
		switch (c) {
		case 'b':
			busy_ms = atol(optarg);
			break;
		case 't':
			count = atoi(optarg);
			break;
		case 's':
			others_spin = 1;
			break;
		case 'd':
			delay_ms = atol(optarg);
			break;
		default:
			return 2;
		}
	}
	if (count < 0 || count > 64)
		return 2;
	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	if (delay_ms > 0)
		usleep((useconds_t)delay_ms * 1000);
	for (long i = 0; i < count; i++)
		if (pthread_create(&threads[i], NULL, other, (void *)(size_t)i))
			return 3;
	if (pthread_create(&helper, NULL, busy, NULL))
		return 3;
	pthread_join(helper, NULL);
	for (int i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
	/* a few samples after the helper has ended */
	usleep(30000);
	return 0;
}

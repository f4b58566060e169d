/*
 * sigstorm: a SIGPROF timer fires every 100 us of CPU time while the main
 * loop iterates, and the handler marks an iteration of its own. Handlers that
 * interrupt the shim itself must pass through (counted as dropped) without
 * corrupting the main loop's stream.
 *
 *   sigstorm N  -> N iterations of "loop"; prints how often the handler ran
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include <iterprof/iterprof.h>

static volatile sig_atomic_t handled;
static volatile unsigned long sink;

static void on_prof(int sig)
{
	(void)sig;
	iterprof_iter_begin("handler");
	handled++;
	iterprof_iter_end("handler");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	struct itimerval every = { { 0, 100 }, { 0, 100 } };
	struct sigaction sa = { .sa_handler = on_prof, .sa_flags = SA_RESTART };
	int errno_changes = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL);
	setitimer(ITIMER_PROF, &every, NULL);
	for (long i = 0; i < n; i++) {
		errno = 1234;
		iterprof_iter_begin("loop");
		for (int k = 0; k < 20000; k++)
			sink += (unsigned long)k;
		iterprof_iter_end("loop");
		errno_changes += errno != 1234;
	}
	setitimer(ITIMER_PROF, &(struct itimerval){ 0 }, NULL);
	printf("sigstorm: %ld iterations, %d handler calls, errno changed %d times\n", n,
	       (int)handled, errno_changes);
	return 0;
}

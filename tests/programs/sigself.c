/*
 * sigself: a benchmark with signal handling of its own, to show that the
 * shim's sampling leaves it alone (tests/e2e/test_stacks.py).
 *
 *   sigself [-n ITERS]
 *
 * The main thread installs
 *  - a SIGALRM handler with SA_ONSTACK on a sigaltstack; raise(SIGALRM)
 *    every 20th of its iterations: the handler checks that it runs on the
 *    alternate stack (the address of one of its locals is inside it);
 *  - a SIGPROF handler driven by setitimer(ITIMER_PROF, 1 ms), so it fires
 *    inside the main thread's iterations (the only thread that does not
 *    block it);
 * and runs ITERS (default 200) iterations of region "main" of ~200 µs of
 * busy work. A worker thread blocks every signal (pthread_sigmask) and runs
 * ITERS / 2 iterations of region "worker": busy work, nanosleep(1 ms) every
 * 10th, and every 5th a read() on a pipe that a feeder thread (also
 * blocking every signal) answers ~1 ms after being asked. With every signal
 * blocked, neither call may fail with EINTR; the worker counts each one.
 *
 * Both iterating threads check that their signal mask inside each
 * iteration and after the loop is the one they set, and that errno survives
 * the markers (set to 1234 before iterprof_iter_begin/iterprof_iter_end,
 * checked after). After the run the main thread checks its handlers
 * (sigaction) and its alternate stack (sigaltstack) are unchanged.
 *
 * Prints deterministic facts on stdout, one per line (SIGPROF: only whether
 * it ran, the count depends on the CPU time); exit 0 when all are as
 * expected, 1 otherwise or on a system call failure, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

#define ALTSTACK_SIZE (64 * 1024)
#define MARKER_ERRNO 1234

static volatile unsigned long sink;
static char *altstack;
static volatile sig_atomic_t alrm_count, alrm_off_stack, prof_count;

/* errno checks and mask checks, per thread */
static long errno_bad[2], mask_bad[2];
static long eintr_count;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void busy(long units)
{
	unsigned long x = sink;

	for (long i = 0; i < units; i++) {
		x = x * 6364136223846793005u + (unsigned long)i;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

static void on_alrm(int sig)
{
	char here;
	int saved = errno;

	(void)sig;
	if (&here < altstack || &here >= altstack + ALTSTACK_SIZE)
		alrm_off_stack++;
	alrm_count++;
	errno = EIO; /* a handler that uses errno and restores it */
	errno = saved;
}

static void on_prof(int sig)
{
	int saved = errno;

	(void)sig;
	prof_count++;
	errno = EAGAIN;
	errno = saved;
}

static int same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < NSIG; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

/* One marked iteration in thread @who (0 main, 1 worker): errno must
 * survive both markers, the mask must be @mask inside. */
static void marked(int who, const char *region, const sigset_t *mask, void (*body)(long),
		   long i)
{
	sigset_t now;

	errno = MARKER_ERRNO;
	iterprof_iter_begin(region);
	if (errno != MARKER_ERRNO)
		errno_bad[who]++;
	if (pthread_sigmask(SIG_BLOCK, NULL, &now) || !same_mask(&now, mask))
		mask_bad[who]++;
	body(i);
	errno = MARKER_ERRNO;
	iterprof_iter_end(region);
	if (errno != MARKER_ERRNO)
		errno_bad[who]++;
}

/* ------------------------------------------------------------------------
 * The worker and its feeder: every signal blocked.
 */
static int request_pipe[2], data_pipe[2];
static long worker_iterations;
static sigset_t all_signals;

static void *feeder(void *arg)
{
	char c;

	(void)arg;
	for (;;) {
		ssize_t r = read(request_pipe[0], &c, 1);
		struct timespec ts = { 0, 1000 * 1000 };

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		while (write(data_pipe[1], &c, 1) != 1)
			if (errno != EINTR)
				die("feeder write");
	}
}

static void worker_body(long i)
{
	busy(150000);
	if (i % 10 == 0) {
		struct timespec ts = { 0, 1000 * 1000 };

		while (nanosleep(&ts, &ts)) {
			if (errno != EINTR)
				die("nanosleep");
			eintr_count++;
		}
	}
	if (i % 5 == 0) {
		char c = 'r';
		ssize_t r;

		if (write(request_pipe[1], &c, 1) != 1)
			die("request write");
		while ((r = read(data_pipe[0], &c, 1)) != 1) {
			if (r == 0 || errno != EINTR)
				die("read");
			eintr_count++;
		}
	}
}

static void *worker(void *arg)
{
	sigset_t now;

	(void)arg;
	/* set by the creator (pthread_create inherits the mask); checked */
	if (pthread_sigmask(SIG_BLOCK, NULL, &now) || !same_mask(&now, &all_signals))
		mask_bad[1]++;
	for (long i = 1; i <= worker_iterations; i++)
		marked(1, "worker", &all_signals, worker_body, i);
	if (pthread_sigmask(SIG_BLOCK, NULL, &now) || !same_mask(&now, &all_signals))
		mask_bad[1]++;
	return NULL;
}

/* ------------------------------------------------------------------------
 */
static void main_body(long i)
{
	busy(150000);
	if (i % 20 == 0)
		raise(SIGALRM);
}

static const char *yes(int v)
{
	return v ? "yes" : "no";
}

int main(int argc, char **argv)
{
	long iterations = 200;
	struct sigaction alrm = { 0 }, prof = { 0 }, after;
	stack_t ss = { 0 }, ss_after;
	struct itimerval timer = { { 0, 1000 }, { 0, 1000 } }, stop = { { 0, 0 }, { 0, 0 } };
	sigset_t main_mask, old, now;
	pthread_t worker_thread, feeder_thread;
	int handlers_same, altstack_same, ok;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			iterations = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: sigself [-n ITERS]\n");
			return 2;
		}
	}
	if (iterations < 20) {
		fprintf(stderr, "sigself: -n must be at least 20\n");
		return 2;
	}
	worker_iterations = iterations / 2;

	altstack = malloc(ALTSTACK_SIZE);
	if (!altstack)
		die("malloc");
	ss.ss_sp = altstack;
	ss.ss_size = ALTSTACK_SIZE;
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	alrm.sa_handler = on_alrm;
	alrm.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&alrm.sa_mask);
	prof.sa_handler = on_prof;
	prof.sa_flags = SA_RESTART;
	sigemptyset(&prof.sa_mask);
	if (sigaction(SIGALRM, &alrm, NULL) || sigaction(SIGPROF, &prof, NULL))
		die("sigaction");
	/* the main thread's own mask: SIGUSR2 blocked, to see that the markers
	 * keep a mask that is not empty */
	sigemptyset(&main_mask);
	sigaddset(&main_mask, SIGUSR2);
	if (pthread_sigmask(SIG_SETMASK, &main_mask, NULL))
		die("pthread_sigmask");

	if (pipe(request_pipe) || pipe(data_pipe))
		die("pipe");
	/* the threads inherit every signal blocked */
	sigfillset(&all_signals);
	if (pthread_sigmask(SIG_SETMASK, &all_signals, &old) || !same_mask(&old, &main_mask))
		die("pthread_sigmask");
	if (pthread_sigmask(SIG_BLOCK, NULL, &all_signals))
		die("pthread_sigmask"); /* what "all" is here (not SIGKILL...) */
	if (pthread_create(&feeder_thread, NULL, feeder, NULL) ||
	    pthread_create(&worker_thread, NULL, worker, NULL))
		die("pthread_create");
	if (pthread_sigmask(SIG_SETMASK, &main_mask, NULL))
		die("pthread_sigmask");

	if (setitimer(ITIMER_PROF, &timer, NULL))
		die("setitimer");
	for (long i = 1; i <= iterations; i++)
		marked(0, "main", &main_mask, main_body, i);
	pthread_join(worker_thread, NULL);
	/* SIGPROF needs CPU time: the worker's counts too, but on a busy
	 * machine keep the main thread going until one came (at most ~2 s) */
	for (int k = 0; !prof_count && k < 10000; k++)
		busy(100000);
	if (setitimer(ITIMER_PROF, &stop, NULL))
		die("setitimer");
	close(request_pipe[1]);
	pthread_join(feeder_thread, NULL);

	if (pthread_sigmask(SIG_BLOCK, NULL, &now) || !same_mask(&now, &main_mask))
		mask_bad[0]++;
	handlers_same = !sigaction(SIGALRM, NULL, &after) && after.sa_handler == on_alrm &&
			(after.sa_flags & (SA_ONSTACK | SA_RESTART)) == (SA_ONSTACK | SA_RESTART);
	handlers_same = handlers_same && !sigaction(SIGPROF, NULL, &after) &&
			after.sa_handler == on_prof && (after.sa_flags & SA_RESTART);
	altstack_same = !sigaltstack(NULL, &ss_after) && ss_after.ss_sp == altstack &&
			ss_after.ss_size == ALTSTACK_SIZE && !(ss_after.ss_flags & SS_DISABLE);

	printf("sigself: main iterations %ld, worker iterations %ld\n", iterations,
	       worker_iterations);
	printf("SIGALRM handled: %d\n", (int)alrm_count);
	printf("SIGALRM on altstack: %s\n", yes(alrm_count && !alrm_off_stack));
	printf("SIGPROF handled: %s\n", yes(prof_count > 0));
	printf("signal masks unchanged: %s\n", yes(!mask_bad[0] && !mask_bad[1]));
	printf("handlers unchanged: %s\n", yes(handlers_same));
	printf("altstack unchanged: %s\n", yes(altstack_same));
	printf("EINTR in blocked thread: %ld\n", eintr_count);
	printf("errno preserved: %s\n", yes(!errno_bad[0] && !errno_bad[1]));
	ok = alrm_count == iterations / 20 && !alrm_off_stack && prof_count > 0 && !mask_bad[0] &&
	     !mask_bad[1] && handlers_same && altstack_same && !eintr_count && !errno_bad[0] &&
	     !errno_bad[1];
	ss.ss_flags = SS_DISABLE;
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	free(altstack);
	return ok ? 0 : 1;
}

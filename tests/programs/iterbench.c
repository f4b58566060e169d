/*
 * iterbench: a benchmark with predictable behaviour, for end-to-end tests.
 *
 *   iterbench [-n ITERS] [-t THREADS] [-r REGION] [-w WORK]
 *             [-p PAGES] [-s MS] [-a ITER] [-K ITER] [-N] [-f] [-x PROG ARGS...]
 *
 *   -n  iterations per thread (default 100)
 *   -t  threads running the loop at once (default 1: the main thread)
 *   -r  region name (default "loop")
 *   -w  busy-work units per iteration (default 1000)
 *   -p  touch PAGES fresh pages in the iteration given by -a (every one if no -a)
 *   -s  sleep MS milliseconds in the iteration given by -a (every one if no -a)
 *   -a  the 1-based iteration that -p / -s apply to
 *   -K  SIGKILL itself in the middle of this 1-based iteration (main thread)
 *   -S  crash with SIGSEGV (a store through NULL) in this 1-based iteration
 *   -N  also mark a nested region "<REGION>.inner" inside each iteration
 *   -f  fork after the loop: the child runs the same loop, then exits
 *   -x  after the loop (and fork), exec PROG ARGS... (the rest of the line);
 *       if the exec fails, run the loop again as region "after-exec", exit 127
 *
 * Prints "iterbench: pid P ran N iterations in T thread(s)" on stdout.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

static long iterations = 100, work = 1000, pages, sleep_ms, at_iteration, kill_at, segv_at;
static int *volatile null_pointer;
static const char *region = "loop";
static char inner[300];
static int nested;
static volatile unsigned long sink;

static void busy(long units)
{
	for (long i = 0; i < units; i++)
		sink += (unsigned long)i * 2654435761u;
}

static void touch_pages(long n)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	for (long i = 0; i < n; i++)
		p[i * page] = 1;
	munmap(p, (size_t)(n * page));
}

static void *run_loop(void *arg)
{
	int is_main = arg != NULL;

	for (long i = 1; i <= iterations; i++) {
		int is_target = !at_iteration || i == at_iteration;

		iterprof_iter_begin(region);
		busy(work);
		if (nested) {
			iterprof_iter_begin(inner);
			busy(work / 2);
			iterprof_iter_end(inner);
		}
		if (pages && is_target)
			touch_pages(pages);
		if (sleep_ms && is_target) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
		if (is_main && kill_at == i)
			raise(SIGKILL);
		if (is_main && segv_at == i)
			*null_pointer = 1;
		iterprof_iter_end(region);
	}
	return NULL;
}

static void run_threads(long threads)
{
	pthread_t tids[64];

	if (threads > 64)
		threads = 64;
	if (threads <= 1) {
		run_loop((void *)1);
	} else {
		for (long t = 0; t < threads; t++)
			pthread_create(&tids[t], NULL, run_loop, t == 0 ? (void *)1 : NULL);
		for (long t = 0; t < threads; t++)
			pthread_join(tids[t], NULL);
	}
	printf("iterbench: pid %d ran %ld iterations in %ld thread(s)\n", (int)getpid(),
	       iterations * threads, threads);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long threads = 1;
	int do_fork = 0, opt;

	while ((opt = getopt(argc, argv, "+n:t:r:w:p:s:a:K:S:Nfx")) != -1) {
		switch (opt) {
		case 'n': iterations = atol(optarg); break;
		case 't': threads = atol(optarg); break;
		case 'r': region = optarg; break;
		case 'w': work = atol(optarg); break;
		case 'p': pages = atol(optarg); break;
		case 's': sleep_ms = atol(optarg); break;
		case 'a': at_iteration = atol(optarg); break;
		case 'K': kill_at = atol(optarg); break;
		case 'S': segv_at = atol(optarg); break;
		case 'N': nested = 1; break;
		case 'f': do_fork = 1; break;
		case 'x': goto exec_rest;
		default:
			fprintf(stderr, "usage: see the comment at the top of iterbench.c\n");
			return 2;
		}
	}
exec_rest:
	snprintf(inner, sizeof(inner), "%s.inner", region);
	run_threads(threads);
	if (do_fork) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			run_threads(threads);
			exit(0);
		}
		waitpid(pid, &status, 0);
	}
	if (opt == 'x' && optind < argc) {
		execv(argv[optind], argv + optind);
		perror("execv");
		region = "after-exec";
		run_threads(threads);
		return 127;
	}
	return 0;
}

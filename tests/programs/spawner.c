/*
 * spawner: iterations that create processes with posix_spawn, vfork+exec and
 * system(), to check that those paths (which share the parent's memory for a
 * moment) do not corrupt the parent's recording.
 *
 *   spawner N   -> N iterations of region "spawn", each running /bin/true 3 ways
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

extern char **environ;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10;
	char *child_argv[] = { "true", NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status;

		iterprof_iter_begin("spawn");
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, child_argv, environ) == 0)
			waitpid(pid, &status, 0);
		pid = vfork();
		if (pid == 0) {
			execv("/bin/true", child_argv);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, &status, 0);
		if (system("/bin/true") != 0)
			fprintf(stderr, "spawner: system failed\n");
		iterprof_iter_end("spawn");
	}
	printf("spawner: %ld iterations\n", n);
	return 0;
}

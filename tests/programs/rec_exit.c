/*
 * rec_exit STATUS [SIGNAL]: exit with STATUS, or with SIGNAL given, die of
 * that signal (default action restored first), so that the launcher's exit
 * status can be compared with the program's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 2) {
		int sig = atoi(argv[2]);

		signal(sig, SIG_DFL);
		kill(getpid(), sig);
		return 100; /* not reached unless the signal is blocked */
	}
	return argc > 1 ? atoi(argv[1]) : 0;
}

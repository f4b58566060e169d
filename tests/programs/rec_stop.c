/*
 * rec_stop PIDFILE: write our pid to PIDFILE, stop ourselves with SIGSTOP,
 * and once continued exit with status 5. Checks that the launcher waits
 * through a stop without hanging or returning early.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	FILE *f;

	if (argc != 2 || !(f = fopen(argv[1], "w")))
		return 2;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0)
		return 3;
	raise(SIGSTOP);
	return 5;
}

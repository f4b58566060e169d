/*
 * rec_signal_wait READY RESULT: count SIGINT, SIGUSR1 and SIGHUP; on SIGTERM
 * write "INT n USR1 n HUP n TERM 1" to RESULT and exit 0. READY is created
 * once the handlers are in place, so a test knows when to send signals.
 * Gives up after 60 s (SIGALRM kills it) so that a lost signal fails the
 * test instead of hanging it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_int, got_usr1, got_hup, got_term;

static void on_signal(int sig)
{
	if (sig == SIGINT)
		got_int++;
	else if (sig == SIGUSR1)
		got_usr1++;
	else if (sig == SIGHUP)
		got_hup++;
	else if (sig == SIGTERM)
		got_term++;
}

int main(int argc, char **argv)
{
	struct sigaction action;
	sigset_t block, old;
	FILE *out;
	int fd;

	if (argc != 3)
		return 2;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	/* Blocked until sigsuspend: no signal slips between test and wait. */
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGUSR1, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	alarm(60);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 3;
	close(fd);
	while (!got_term)
		sigsuspend(&old);
	out = fopen(argv[2], "w");
	if (!out)
		return 4;
	fprintf(out, "INT %d USR1 %d HUP %d TERM %d\n", (int)got_int,
		(int)got_usr1, (int)got_hup, (int)got_term);
	return fclose(out) == 0 ? 0 : 5;
}

/*
 * execchain: runs 3 iterations of region "step<K>", then replaces itself
 * through a different exec function at each step:
 *   step 1 --execl--> step 2 --execlp--> step 3 --execle--> step 4 (exits)
 * Every image's trace must end with an exec (or exit) footer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <iterprof/iterprof.h>

extern char **environ;

int main(int argc, char **argv)
{
	int step = argc > 1 ? atoi(argv[1]) : 1;
	char region[16], next[16];

	snprintf(region, sizeof(region), "step%d", step);
	for (int i = 0; i < 3; i++) {
		iterprof_iter_begin(region);
		iterprof_iter_end(region);
	}
	snprintf(next, sizeof(next), "%d", step + 1);
	switch (step) {
	case 1:
		execl("/proc/self/exe", argv[0], next, (char *)NULL);
		break;
	case 2:
		execlp("/proc/self/exe", argv[0], next, (char *)NULL);
		break;
	case 3:
		execle("/proc/self/exe", argv[0], next, (char *)NULL, environ);
		break;
	default:
		printf("execchain: done at step %d\n", step);
		return 0;
	}
	perror("exec");
	return 127;
}

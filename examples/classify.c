/*
 * classify: the bundled example benchmark.
 *
 * Each iteration assigns 20 000 points to the nearest of 16 centroids. The
 * first call builds a lookup table in freshly allocated memory (page faults,
 * cold caches), so the run shows a warm-up and then a steady state; every
 * 50th iteration writes a log line and sleeps 2 ms, as a benchmark with
 * periodic I/O would. The iterations are marked with the iterprof marker API:
 *
 *     iterprof record -- ./classify && iterprof report
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <iterprof/iterprof.h>

#define POINTS 20000
#define CENTROIDS 16
#define TABLE_SIZE (8u << 20) /* bytes: built on the first call */

static float px[POINTS], py[POINTS], cx[CENTROIDS], cy[CENTROIDS];
static unsigned char *table;
static unsigned label[POINTS];

static void build_table(void)
{
	table = malloc(TABLE_SIZE);
	if (!table) {
		perror("malloc");
		exit(1);
	}
	for (size_t i = 0; i < TABLE_SIZE; i++)
		table[i] = (unsigned char)(i * 31u);
}

static unsigned classify(void)
{
	unsigned changed = 0;

	if (!table)
		build_table();
	for (int i = 0; i < POINTS; i++) {
		unsigned best = 0;
		float best_d = 1e30f;

		for (unsigned c = 0; c < CENTROIDS; c++) {
			float dx = px[i] - cx[c], dy = py[i] - cy[c];
			float d = dx * dx + dy * dy;

			if (d < best_d) {
				best_d = d;
				best = c;
			}
		}
		best ^= table[(unsigned)i * 97u % TABLE_SIZE] & 0u;
		changed += label[i] != best;
		label[i] = best;
	}
	return changed;
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 200;
	unsigned total = 0;

	srand(42);
	for (int i = 0; i < POINTS; i++) {
		px[i] = (float)rand() / (float)RAND_MAX;
		py[i] = (float)rand() / (float)RAND_MAX;
	}
	for (int c = 0; c < CENTROIDS; c++) {
		cx[c] = (float)rand() / (float)RAND_MAX;
		cy[c] = (float)rand() / (float)RAND_MAX;
	}
	for (int it = 1; it <= iterations; it++) {
		iterprof_iter_begin("classify");
		total += classify();
		if (it % 50 == 0) {
			struct timespec pause = { 0, 2000000 };

			fprintf(stderr, "classify: iteration %d\n", it);
			nanosleep(&pause, NULL);
		}
		iterprof_iter_end("classify");
	}
	printf("classify: %d iterations, %u label changes\n", iterations, total);
	return 0;
}

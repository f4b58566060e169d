/*
 * Recursion: only the outermost call per thread is an iteration.
 *   fib      doubly recursive; main calls it 12 times.
 *   descend  linear recursion 3000 deep (deeper than any small fixed shadow
 *            stack); main calls it 5 times.
 * Both print every call they counted and, as "outer", the calls main made.
 * At -O2 and above the compilers turn part of the recursion into loops, so
 * how many calls the machine code makes varies with the build (the counters
 * keep counting source-level calls); the outermost count does not vary, and
 * it is the one a recording must match.
 */
#include "itp.h"

unsigned long fib(unsigned long n);
unsigned long descend(unsigned long depth, unsigned long acc);

static unsigned long calls_fib, calls_descend;

ITP_NOINLINE unsigned long fib(unsigned long n)
{
	calls_fib++;
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

ITP_NOINLINE unsigned long descend(unsigned long depth, unsigned long acc)
{
	calls_descend++;
	if (depth == 0)
		return acc;
	/* Not a tail call: the result is used after the inner call returns. */
	return (descend(depth - 1, acc * 31 + depth) ^ depth) + 1;
}

int main(void)
{
	uint64_t sum = ITP_CHECKSUM_INIT;
	long fib_outer = 0, descend_outer = 0;
	unsigned long fib_true, descend_true;

	for (long i = 0; i < 12; i++, fib_outer++)
		sum = itp_mix(sum, fib((unsigned long)itp_opaque(8 + i)));
	for (long i = 0; i < 5; i++, descend_outer++)
		sum = itp_mix(sum, descend((unsigned long)itp_opaque(3000), (unsigned long)i));

	/* Source-level counts have a closed form: fib(n) makes 2*fib(n+1)-1 calls. */
	fib_true = 0;
	for (long i = 0; i < 12; i++) {
		unsigned long a = 0, b = 1;

		for (long j = 0; j < 8 + i + 1; j++) {
			unsigned long t = a + b;
			a = b;
			b = t;
		}
		fib_true += 2 * a - 1;
	}
	descend_true = 5 * 3001;
	if (calls_fib != fib_true || calls_descend != descend_true) {
		printf("miscounted: fib %lu (want %lu), descend %lu (want %lu)\n",
		       calls_fib, fib_true, calls_descend, descend_true);
		return 1;
	}
	printf("calls fib %lu outer %ld\n", calls_fib, fib_outer);
	printf("calls descend %lu outer %ld\n", calls_descend, descend_outer);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

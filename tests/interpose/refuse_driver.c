/*
 * Driver for the refuse_*.S functions: built once per file with
 * -DTARGET=<function>. Every refusal target has the signature
 *	long f(long x, long b, long c, long d)
 * (most use only x; refuse_unrelocatable's also reads d, in rcx). The
 * arguments are kept >= 1 because refuse_branch_into's loop needs it.
 * With -DNEIGHBOUR=<function>, that function (the one placed right after
 * the target) is called too, so that a patch spilling over the target's end
 * shows up as a wrong checksum or a crash.
 * Prints the true call count and a checksum, like the rest of the corpus.
 */
#include "itp.h"

#ifndef TARGET
#error "build with -DTARGET=<function name>"
#endif

#define STRINGIFY2(x) #x
#define STRINGIFY(x) STRINGIFY2(x)

long TARGET(long x, long b, long c, long d);
#ifdef NEIGHBOUR
long NEIGHBOUR(long x);
#endif

int main(void)
{
	long n = itp_opaque(500);
	uint64_t sum = ITP_CHECKSUM_INIT;
	unsigned long calls = 0;

	for (long i = 0; i < n; i++, calls++) {
		sum = itp_mix(sum, (uint64_t)TARGET(i % 50 + 1, 0, 0, i & 1));
#ifdef NEIGHBOUR
		sum = itp_mix(sum, (uint64_t)NEIGHBOUR(i));
#endif
	}
	printf("calls %s %lu\n", STRINGIFY(TARGET), calls);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

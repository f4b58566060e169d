/*
 * id: a function that may be too small to patch. At -O1 and above it is
 * `mov %edi,%eax; ret` (3 bytes; 7 with endbr64 under -fcf-protection), less
 * than a 5-byte jump: the patcher may refuse it, saying "refused". At -O0 it
 * is long enough and every call must be counted.
 *
 * A counter inside id would make it long, so main counts the calls instead.
 * Every call has a different argument and every result is used, and the asm
 * barrier in id hides that it returns its argument, so no call can be
 * folded, merged or deleted: one loop iteration is one call.
 */
#include "itp.h"

int id(int x);

ITP_NOINLINE int id(int x)
{
	__asm__("" : "+r"(x));
	return x;
}

int main(void)
{
	long n = itp_opaque(3000);
	uint64_t sum = ITP_CHECKSUM_INIT;
	unsigned long calls = 0;

	for (long i = 0; i < n; i++, calls++)
		sum = itp_mix(sum, (uint64_t)id((int)i));
	printf("calls id %lu\n", calls);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

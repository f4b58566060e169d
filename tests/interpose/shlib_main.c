/*
 * Calls lib_step of libitp_work.so (libitp_work.c) directly and through the
 * library's own lib_run. Linked with -L<dir> -litp_work -Wl,-rpath,$ORIGIN so
 * the library is found next to the executable.
 */
#include "itp.h"

long lib_step(long x);
long lib_run(long n, long seed);
unsigned long lib_step_calls(void);

int main(void)
{
	long n = itp_opaque(1500);
	uint64_t sum = ITP_CHECKSUM_INIT;

	for (long i = 0; i < n; i++)
		sum = itp_mix(sum, (uint64_t)lib_step(i));
	sum = itp_mix(sum, (uint64_t)lib_run(n + 321, itp_opaque(77)));

	printf("calls lib_step %lu\n", lib_step_calls());
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

/*
 * libitp_work.so: a shared library whose function lib_step is benchmarked.
 * It is called from the executable (through the PLT) and from lib_run inside
 * the library, so both a caller in another object and one in the same object
 * must be counted: capturing only the calls that go through the executable's
 * GOT would miss the second kind.
 */
#include "itp.h"

long lib_step(long x);
long lib_run(long n, long seed);
unsigned long lib_step_calls(void);

static unsigned long calls_lib_step;

ITP_NOINLINE long lib_step(long x)
{
	calls_lib_step++;
	return (x ^ (x >> 3)) * 2654435761L + 17;
}

long lib_run(long n, long seed)
{
	long s = 0;

	for (long i = 0; i < n; i++)
		s += lib_step(i ^ seed) >> 5;
	return s;
}

unsigned long lib_step_calls(void)
{
	return calls_lib_step;
}

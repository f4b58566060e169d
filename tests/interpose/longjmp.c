/*
 * longjmp out of a benchmarked function back to a setjmp in its caller.
 *   jumper       every 5th call longjmps out of itself;
 *   jumper_deep  every 7th call calls bail(), which longjmps: the jump passes
 *                over jumper_deep's frame from below;
 *   jumps_inside does its own setjmp and longjmps back into itself from a
 *                callee, then returns normally: every call must count.
 * A recording may drop the calls that left by longjmp, and only those, and
 * only if it counts them as dropped ("abnormal K" says how many there were);
 * the program must neither crash nor change its output.
 */
#include <setjmp.h>

#include "itp.h"

long jumper(long x);
long jumper_deep(long x);
long jumps_inside(long x);

static jmp_buf caller_env;
static unsigned long calls_jumper, calls_jumper_deep, calls_jumps_inside;

ITP_NOINLINE long jumper(long x)
{
	calls_jumper++;
	if (x % 5 == 0)
		longjmp(caller_env, 1);
	return x * 7 + 1;
}

static ITP_NOINLINE void bail(long x)
{
	longjmp(caller_env, (int)(x & 0xff) + 1);
}

ITP_NOINLINE long jumper_deep(long x)
{
	long y;

	calls_jumper_deep++;
	y = x * 3 + 2;
	if (x % 7 == 0)
		bail(y);
	return y ^ (y >> 2);
}

static ITP_NOINLINE void bounce(jmp_buf *env, long x)
{
	longjmp(*env, (int)(x & 0x3f) + 1);
}

ITP_NOINLINE long jumps_inside(long x)
{
	jmp_buf env;
	volatile long r = x;
	int v;

	calls_jumps_inside++;
	v = setjmp(env);
	if (v == 0) {
		if (x % 3 == 0)
			bounce(&env, x);
		return r * 5;
	}
	return r + v;
}

/* One call under a setjmp; 1 when it came back by longjmp. */
static int try_jumper(long i, volatile uint64_t *sum)
{
	if (setjmp(caller_env))
		return 1;
	*sum = itp_mix(*sum, (uint64_t)jumper(i));
	return 0;
}

static int try_jumper_deep(long i, volatile uint64_t *sum)
{
	int v = setjmp(caller_env);

	if (v) {
		*sum = itp_mix(*sum, (uint64_t)v);
		return 1;
	}
	*sum = itp_mix(*sum, (uint64_t)jumper_deep(i));
	return 0;
}

int main(void)
{
	long n = itp_opaque(1000);
	volatile uint64_t sum = ITP_CHECKSUM_INIT;
	long jumped = 0, jumped_deep = 0;

	for (long i = 0; i < n; i++)
		jumped += try_jumper(i, &sum);
	for (long i = 0; i < n; i++)
		jumped_deep += try_jumper_deep(i, &sum);
	for (long i = 0; i < n; i++)
		sum = itp_mix(sum, (uint64_t)jumps_inside(i));

	printf("calls jumper %lu abnormal %ld\n", calls_jumper, jumped);
	printf("calls jumper_deep %lu abnormal %ld\n", calls_jumper_deep, jumped_deep);
	printf("calls jumps_inside %lu\n", calls_jumps_inside);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

/*
 * Argument and return passing an entry patch must not disturb (SysV x86-64):
 *   many_args     10 integer arguments (4 of them on the stack) and 4
 *                 doubles; the result depends on every one, so a trampoline
 *                 that moves the stack pointer before the function reads its
 *                 stack arguments changes the checksum;
 *   sum_big       a 48-byte struct passed by value (in memory, on the stack);
 *   make_big      a 48-byte struct returned through a hidden pointer (rdi in,
 *                 rax out);
 *   two_doubles   a struct returned in xmm0:xmm1;
 *   two_longs     a struct returned in rax:rdx.
 * All exported, so the compilers keep their ABI as written.
 */
#include "itp.h"

struct big {
	long v[6];
};

struct pair_d {
	double a, b;
};

struct pair_l {
	long a, b;
};

long many_args(long a0, long a1, long a2, long a3, long a4, long a5, long a6, long a7,
	       long a8, long a9, double d0, double d1, double d2, double d3);
long sum_big(struct big b);
struct big make_big(long seed);
struct pair_d two_doubles(double x);
struct pair_l two_longs(long x);

static unsigned long calls_many_args, calls_sum_big, calls_make_big, calls_two_doubles,
	calls_two_longs;

ITP_NOINLINE long many_args(long a0, long a1, long a2, long a3, long a4, long a5, long a6,
			    long a7, long a8, long a9, double d0, double d1, double d2,
			    double d3)
{
	calls_many_args++;
	return a0 + 3 * a1 + 5 * a2 + 7 * a3 + 11 * a4 + 13 * a5 + 17 * a6 + 19 * a7 +
	       23 * a8 + 29 * a9 + (long)(d0 * 31.0) + (long)(d1 * 37.0) +
	       (long)(d2 * 41.0) + (long)(d3 * 43.0);
}

ITP_NOINLINE long sum_big(struct big b)
{
	calls_sum_big++;
	return b.v[0] - 2 * b.v[1] + 3 * b.v[2] - 4 * b.v[3] + 5 * b.v[4] - 6 * b.v[5];
}

ITP_NOINLINE struct big make_big(long seed)
{
	struct big b;

	calls_make_big++;
	for (int i = 0; i < 6; i++)
		b.v[i] = seed * (i + 1) + i;
	return b;
}

ITP_NOINLINE struct pair_d two_doubles(double x)
{
	struct pair_d p = { x * 0.5, x + 0.25 };

	calls_two_doubles++;
	return p;
}

ITP_NOINLINE struct pair_l two_longs(long x)
{
	struct pair_l p = { x * 9, x ^ 0x5a5a };

	calls_two_longs++;
	return p;
}

int main(void)
{
	long n = itp_opaque(800);
	uint64_t sum = ITP_CHECKSUM_INIT;

	for (long i = 0; i < n; i++) {
		double d = itp_opaque_double((double)i);
		long r = many_args(i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, i + 8,
				   i + 9, d * 0.5, d * 0.25, d * 0.125, d + 0.75);
		struct big b = make_big(i);
		struct pair_d pd = two_doubles(d);
		struct pair_l pl = two_longs(i);

		sum = itp_mix(sum, (uint64_t)r);
		sum = itp_mix(sum, (uint64_t)sum_big(b));
		sum = itp_mix(sum, (uint64_t)b.v[5]);
		sum = itp_mix_double(sum, pd.a);
		sum = itp_mix_double(sum, pd.b);
		sum = itp_mix(sum, (uint64_t)pl.a);
		sum = itp_mix(sum, (uint64_t)pl.b);
	}
	printf("calls many_args %lu\n", calls_many_args);
	printf("calls sum_big %lu\n", calls_sum_big);
	printf("calls make_big %lu\n", calls_make_big);
	printf("calls two_doubles %lu\n", calls_two_doubles);
	printf("calls two_longs %lu\n", calls_two_longs);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

/*
 * Floating point and vector registers across a patched entry and return
 * (SSE2 only: no AVX is assumed on the test machines).
 *   vec_step    GCC vector extension: two 4-float vectors in xmm0, xmm1, a
 *               double in xmm2, a vector returned in xmm0;
 *   sse_step    SSE2 intrinsics on two __m128d arguments;
 *   float_step  scalar float and double arithmetic, float returned;
 *   ld_step     long double: arguments on the stack, result in x87 st(0).
 */
#include <emmintrin.h>

#include "itp.h"

typedef float v4f __attribute__((vector_size(16)));

v4f vec_step(v4f a, v4f b, double s);
__m128d sse_step(__m128d x, __m128d y);
float float_step(float f, double d);
long double ld_step(long double x, long double y);

static unsigned long calls_vec_step, calls_sse_step, calls_float_step, calls_ld_step;

ITP_NOINLINE v4f vec_step(v4f a, v4f b, double s)
{
	v4f k = { (float)s, (float)(s * 0.5), 1.0f, -1.0f };

	calls_vec_step++;
	return a * b + k;
}

ITP_NOINLINE __m128d sse_step(__m128d x, __m128d y)
{
	calls_sse_step++;
	return _mm_add_pd(_mm_mul_pd(x, y), _mm_sqrt_pd(_mm_add_pd(x, _mm_set1_pd(1.0))));
}

ITP_NOINLINE float float_step(float f, double d)
{
	calls_float_step++;
	return (float)(f * 1.5f + d / 3.0);
}

ITP_NOINLINE long double ld_step(long double x, long double y)
{
	calls_ld_step++;
	return x * y / 7.0L + 0.5L;
}

int main(void)
{
	long n = itp_opaque(700);
	uint64_t sum = ITP_CHECKSUM_INIT;
	v4f acc = { 1.0f, 2.0f, 3.0f, 4.0f };
	__m128d dacc = _mm_set_pd(0.5, 0.25);
	float f = 0.125f;
	long double ld = 1.0L;

	for (long i = 0; i < n; i++) {
		double d = itp_opaque_double((double)(i % 17));
		v4f b = { (float)d, 0.5f, 0.25f, (float)(d * 0.001) };
		double lanes[2];

		acc = vec_step(acc, b, d * 0.01);
		for (int j = 0; j < 4; j++)
			if (acc[j] > 1e6f || acc[j] < -1e6f)
				acc[j] = 1.0f; /* keep it finite and away from rounding cliffs */
		dacc = sse_step(dacc, _mm_set1_pd(d * 0.001));
		f = float_step(f, d);
		if (f > 1e4f)
			f = 0.125f;
		ld = ld_step(ld, (long double)d + 1.0L);
		if (ld > 1e6L)
			ld = 1.0L;

		for (int j = 0; j < 4; j++)
			sum = itp_mix_double(sum, (double)acc[j]);
		_mm_storeu_pd(lanes, dacc);
		sum = itp_mix_double(sum, lanes[0]);
		sum = itp_mix_double(sum, lanes[1]);
		sum = itp_mix_double(sum, (double)f);
		sum = itp_mix_double(sum, (double)ld);
	}
	printf("calls vec_step %lu\n", calls_vec_step);
	printf("calls sse_step %lu\n", calls_sse_step);
	printf("calls float_step %lu\n", calls_float_step);
	printf("calls ld_step %lu\n", calls_ld_step);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

/*
 * C++ exceptions and a patched frame.
 *   ns::may_throw        throws itself on every 7th call; the caller catches;
 *   ns::passes_through   calls raise() (not benchmarked), which throws on
 *                        every 4th call: the exception unwinds through the
 *                        patched frame from below;
 *   ns::catches_inside   throws and catches within its own body on every 5th
 *                        call, and always returns normally.
 * The unwinder reads each frame's return address to find the caller's
 * unwind table entry: a return address replaced by a trampoline's must not
 * crash it. A recording may drop the calls that left by an exception, and
 * only those, if it counts them as dropped ("abnormal K" says how many);
 * ns::catches_inside must be counted exactly.
 */
#include <stdexcept>

#include "itp.h"

namespace ns {

struct Odd {
	long value;
};

static unsigned long calls_may_throw, calls_passes_through, calls_catches_inside;

ITP_NOINLINE long may_throw(long x)
{
	calls_may_throw++;
	if (x % 7 == 3)
		throw std::runtime_error("seven");
	return x * 5 + 1;
}

static ITP_NOINLINE long raise(long x)
{
	if (x % 4 == 1)
		throw Odd{ x };
	return x - 1;
}

ITP_NOINLINE long passes_through(long x)
{
	long y;

	calls_passes_through++;
	y = raise(x * 3) + 2;
	return y ^ x;
}

ITP_NOINLINE long catches_inside(long x)
{
	calls_catches_inside++;
	try {
		if (x % 5 == 0)
			throw Odd{ x };
		return raise(x * 2 + 1 + (x & 1)) + 3;
	} catch (const Odd &odd) {
		return -odd.value;
	}
}

} // namespace ns

int main()
{
	long n = itp_opaque(600);
	uint64_t sum = ITP_CHECKSUM_INIT;
	long thrown = 0, thrown_through = 0;

	for (long i = 0; i < n; i++) {
		try {
			sum = itp_mix(sum, static_cast<uint64_t>(ns::may_throw(i)));
		} catch (const std::runtime_error &) {
			thrown++;
		}
		try {
			sum = itp_mix(sum, static_cast<uint64_t>(ns::passes_through(i)));
		} catch (const ns::Odd &odd) {
			thrown_through++;
			sum = itp_mix(sum, static_cast<uint64_t>(odd.value));
		}
		sum = itp_mix(sum, static_cast<uint64_t>(ns::catches_inside(i)));
	}
	printf("calls ns::may_throw %lu abnormal %ld\n", ns::calls_may_throw, thrown);
	printf("calls ns::passes_through %lu abnormal %ld\n", ns::calls_passes_through,
	       thrown_through);
	printf("calls ns::catches_inside %lu\n", ns::calls_catches_inside);
	printf("checksum %016llx\n", static_cast<unsigned long long>(sum));
	return 0;
}

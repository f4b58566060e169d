/*
 * C++ names: a recording's region is the demangled name.
 *   ns::Worker::step(int)       a member function defined out of line;
 *   ns::Circle::area() const    a virtual const member called through a
 *                               base pointer whose dynamic type the compiler
 *                               cannot see (no devirtualisation);
 *   ns::scale<int>(int, int)    one instantiation of a function template;
 *                               ns::scale<double> is called too and must
 *                               not be counted under the <int> pattern.
 */
#include "itp.h"

namespace ns {

static unsigned long calls_step, calls_area;
template <typename T> static unsigned long calls_scale;

class Worker {
public:
	explicit Worker(long seed) : state_(seed) {}
	int step(int x);

private:
	long state_;
};

ITP_NOINLINE int Worker::step(int x)
{
	calls_step++;
	state_ = state_ * 6364136223846793005L + x;
	return static_cast<int>(state_ >> 33);
}

struct Shape {
	virtual ~Shape() = default;
	virtual double area() const = 0;
};

struct Circle : Shape {
	explicit Circle(double r) : r_(r) {}
	double area() const override;
	double r_;
};

struct Square : Shape {
	explicit Square(double s) : s_(s) {}
	double area() const override;
	double s_;
};

ITP_NOINLINE double Circle::area() const
{
	calls_area++;
	return 3.25 * r_ * r_;
}

ITP_NOINLINE double Square::area() const
{
	return s_ * s_;
}

template <typename T> ITP_NOINLINE T scale(T x, T k)
{
	calls_scale<T>++;
	return x * k + static_cast<T>(1);
}

} // namespace ns

int main()
{
	long n = itp_opaque(1200);
	uint64_t sum = ITP_CHECKSUM_INIT;
	ns::Worker worker(itp_opaque(12345));
	ns::Circle circle(itp_opaque_double(1.5));
	ns::Square square(itp_opaque_double(2.5));
	ns::Shape *shapes[2] = { &circle, &square };

	for (long i = 0; i < n; i++) {
		sum = itp_mix(sum, static_cast<uint64_t>(worker.step(static_cast<int>(i))));
		sum = itp_mix_double(sum, shapes[itp_opaque(i) % 3 == 0]->area());
		sum = itp_mix(sum, static_cast<uint64_t>(ns::scale<int>(static_cast<int>(i),
									 static_cast<int>(itp_opaque(3)))));
		if (i % 2)
			sum = itp_mix_double(sum, ns::scale<double>(itp_opaque_double(0.5 * i), 1.5));
	}
	printf("calls ns::Worker::step %lu\n", ns::calls_step);
	printf("calls ns::Circle::area %lu\n", ns::calls_area);
	printf("calls ns::scale<int> %lu\n", ns::calls_scale<int>);
	printf("checksum %016llx\n", static_cast<unsigned long long>(sum));
	return 0;
}

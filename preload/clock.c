/*
 * The shim's clock: time stamps of iterations, in CLOCK_MONOTONIC ns.
 *
 * Why not clock_gettime alone: on these VMs one vDSO read costs 22-30 ns and
 * rdtsc 10-14 ns (../shared/reference/costs.md), and an iteration takes two.
 * For -f interception, whose goal is 30 ns per call in all, the difference
 * decides. So where the TSC is trustworthy the shim reads it and converts:
 *
 *     ns = base_ns + ((tsc - base_tsc) * mult) >> 32
 *
 * Trustworthy means what the kernel itself concluded: /proc/cpuinfo has
 * constant_tsc and nonstop_tsc (rate independent of frequency and sleep
 * states) and the kernel's clocksource is "tsc" (it switches away from a TSC
 * it finds unstable or unsynchronised across CPUs). Otherwise, or with
 * ITERPROF_CLOCK=monotonic, every stamp is a vDSO clock_gettime.
 *
 * Calibration: against CLOCK_MONOTONIC over CALIBRATION_NS at start-up (an
 * error of about 3e-5 from the clock's read jitter), then refined whenever a
 * thread starts a new trace chunk (clock_resync, at most every
 * RESYNC_INTERVAL_NS) from the whole time since start-up. A resync never
 * makes the clock jump: it keeps the converted time continuous at the resync
 * point and slews the rate so that the remaining offset to CLOCK_MONOTONIC
 * is worked off over SLEW_NS (bounded at 1000 ppm), as NTP does. Stamps
 * therefore stay within microseconds of CLOCK_MONOTONIC, the clock the
 * launcher samples the environment with.
 *
 * Concurrency: two parameter slots. A resync (serialised by the trace writer
 * lock) fills the inactive slot, then publishes its index. Readers take the
 * published slot and check its sequence number around the read, so they
 * never wait on a writer: not even a signal handler that interrupts a resync
 * on the same thread, whose active slot is never the one being written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define CALIBRATION_NS 1000000u     /* 1 ms of spinning per process start */
#define RESYNC_INTERVAL_NS 50000000u
#define SLEW_NS 1000000000u
#define SLEW_MAX_PPM 1000
#define STEP_NS 1000000 /* an offset this large is stepped, not slewed */

struct shim_tsc shim_tsc;

#if defined(__x86_64__)
static struct {
	uint64_t origin_tsc, origin_ns; /* the first calibration pair */
	uint64_t last_resync_tsc;
	uint64_t resync_interval_ticks;
} calibration;

static bool flag_listed(const char *flags, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = flags; (p = strstr(p, name)); p += len) {
		if ((p == flags || p[-1] == ' ' || p[-1] == '\t') &&
		    (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* Does the kernel trust the TSC as a clock? See the top of the file. */
static bool tsc_is_trustworthy(void)
{
	char buf[8192], *flags, *eol;

	if (sysinfo_read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			      buf, sizeof(buf)) <= 0 ||
	    strncmp(buf, "tsc\n", 4) != 0)
		return false;
	if (sysinfo_read_file("/proc/cpuinfo", buf, sizeof(buf)) <= 0)
		return false;
	flags = strstr(buf, "\nflags");
	if (!flags)
		return false;
	eol = strchr(flags + 1, '\n');
	if (eol)
		*eol = '\0';
	return flag_listed(flags, "constant_tsc") && flag_listed(flags, "nonstop_tsc");
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(SHIM_CLOCK_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One (tsc, ns) pair: the tsc read halfway through the clock read, from the
 * tightest of a few brackets (a bracket hit by an interrupt is much wider). */
static void sample_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = tsc_read(), n = monotonic_ns(), t1 = tsc_read();

		/* The first always: gcc -O2 cannot see that a pair is found. */
		if (i == 0 || t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}

/* mult of @ns over @ticks: ns per tick in 32.32 fixed point. */
static uint64_t rate(uint64_t ns, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ns << 32) / ticks);
}

static void publish(uint64_t base_tsc, uint64_t base_ns, uint64_t mult)
{
	unsigned next = 1u - __atomic_load_n(&shim_tsc.active, __ATOMIC_RELAXED);
	struct shim_tsc_slot *s = &shim_tsc.slot[next];

	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED); /* odd: being written */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->base_tsc, base_tsc, __ATOMIC_RELAXED);
	__atomic_store_n(&s->base_ns, base_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&s->mult, mult, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&shim_tsc.active, next, __ATOMIC_RELEASE);
}

void clock_init(void)
{
	const char *want = getenv("ITERPROF_CLOCK");
	uint64_t tsc0, ns0, tsc1, ns1, mult;

	shim_tsc.is_used = false;
	if (want && !strcmp(want, "monotonic"))
		return;
	if (!tsc_is_trustworthy()) {
		shim_log("clock: the TSC is not a trustworthy clock here: clock_gettime");
		return;
	}
	sample_pair(&tsc0, &ns0);
	do
		sample_pair(&tsc1, &ns1);
	while (ns1 - ns0 < CALIBRATION_NS);
	if (tsc1 <= tsc0)
		return;
	mult = rate(ns1 - ns0, tsc1 - tsc0);
	/* Between 100 MHz and 20 GHz, or something is off: keep the vDSO. */
	if (mult > ((uint64_t)10 << 32) || mult < ((uint64_t)1 << 32) / 20)
		return;
	calibration.origin_tsc = tsc0;
	calibration.origin_ns = ns0;
	calibration.last_resync_tsc = tsc1;
	calibration.resync_interval_ticks =
		(uint64_t)(((unsigned __int128)RESYNC_INTERVAL_NS << 32) / mult);
	publish(tsc1, ns1, mult);
	shim_tsc.is_used = true;
	shim_log("clock: TSC at %.3f MHz, converted to CLOCK_MONOTONIC",
		 clock_tsc_hz() / 1e6);
}

void clock_resync(void)
{
	const struct shim_tsc_slot *s;
	uint64_t tsc, ns, ours, mult;
	int64_t offset, slew;

	if (!shim_tsc.is_used)
		return;
	tsc = tsc_read();
	if (tsc - calibration.last_resync_tsc < calibration.resync_interval_ticks)
		return;
	sample_pair(&tsc, &ns);
	calibration.last_resync_tsc = tsc;
	s = &shim_tsc.slot[__atomic_load_n(&shim_tsc.active, __ATOMIC_ACQUIRE)];
	ours = s->base_ns + (uint64_t)(((__int128)(int64_t)(tsc - s->base_tsc) * s->mult) >> 32);
	mult = rate(ns - calibration.origin_ns, tsc - calibration.origin_tsc);
	offset = (int64_t)(ns - ours);
	if (offset > STEP_NS || offset < -STEP_NS) {
		/* A VM paused or restored: follow the clock at once. */
		publish(tsc, ns, mult);
		return;
	}
	slew = (int64_t)(((__int128)offset * (int64_t)mult) / SLEW_NS);
	if (slew > (int64_t)(mult / 1000000 * SLEW_MAX_PPM))
		slew = (int64_t)(mult / 1000000 * SLEW_MAX_PPM);
	if (slew < -(int64_t)(mult / 1000000 * SLEW_MAX_PPM))
		slew = -(int64_t)(mult / 1000000 * SLEW_MAX_PPM);
	publish(tsc, ours, (uint64_t)((int64_t)mult + slew));
}

double clock_tsc_hz(void)
{
	const struct shim_tsc_slot *s = &shim_tsc.slot[shim_tsc.active];

	return shim_tsc.is_used && s->mult ? 1e9 * 4294967296.0 / (double)s->mult : 0;
}
#else
void clock_init(void) { shim_tsc.is_used = false; }
void clock_resync(void) {}
double clock_tsc_hz(void) { return 0; }
#endif

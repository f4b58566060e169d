/*
 * Unit tests of analyzer/envthreads.c: a timeline built in memory with the
 * benchmark thread, a "gc" thread busy over 100 ms, two "worker" threads
 * busy 20 % of the time all along, a thread that appears halfway with a
 * large CPU time already used, and a thread of another process; windows
 * placed in and across the sample intervals, alone and as sets.
 */
#include <math.h>
#include <string.h>

#include "envthreads.h"

#include "unit-test.h"

#define MS 1000000ull
#define SAMPLES 101 /* every 10 ms over 1 s, from 1 s */
#define T(ms) (1000 * MS + (uint64_t)(ms) * MS)

static uint64_t times[SAMPLES];
static uint64_t values[8][SAMPLES];

static struct env_series series(unsigned slot, size_t first, uint64_t (*f)(size_t k))
{
	struct env_series s = { SAMPLES - first, times + first, values[slot] };

	for (size_t k = first; k < SAMPLES; k++)
		values[slot][k - first] = f(k);
	return s;
}

static uint64_t zero(size_t k) { (void)k; return 0; }
static uint64_t all_busy(size_t k) { return k * 10 * MS; }
/* 10 ms per 10 ms sample from 300 to 400 ms */
static uint64_t gc(size_t k) { return (k <= 30 ? 0 : k >= 40 ? 10 : k - 30) * 10 * MS; }
static uint64_t worker(size_t k) { return k * 2 * MS; }
/* from 500 ms: 5 s used before it was first seen, then 1 ms per sample */
static uint64_t late(size_t k) { return 5000 * MS + (k - 50) * MS; }

static struct env_timeline timeline(void)
{
	static struct env_cpu cpu;
	static struct env_task tasks[6];
	static const struct { int pid, tid; const char *comm; } who[6] = {
		{ 100, 100, "bench" }, { 100, 101, "gc" }, { 100, 102, "worker" },
		{ 100, 103, "worker" }, { 100, 104, "late" }, { 200, 200, "gc" },
	};
	struct env_timeline tl;

	memset(&tl, 0, sizeof(tl));
	for (size_t k = 0; k < SAMPLES; k++)
		times[k] = T(k * 10);
	cpu.steal_ns = series(0, 0, zero);
	tl.ncpus = 1;
	tl.cpus = &cpu;
	for (unsigned i = 0; i < 6; i++) {
		memset(&tasks[i], 0, sizeof(tasks[i]));
		tasks[i].pid = who[i].pid;
		tasks[i].tid = who[i].tid;
		strcpy(tasks[i].comm, who[i].comm);
	}
	tasks[0].cpu_ns = series(1, 0, all_busy);
	tasks[1].cpu_ns = series(2, 0, gc);
	tasks[2].cpu_ns = series(3, 0, worker);
	tasks[3].cpu_ns = series(4, 0, worker);
	tasks[4].cpu_ns = series(5, 50, late);
	tasks[5].cpu_ns = series(6, 0, all_busy);
	tl.ntasks = 6;
	tl.tasks = tasks;
	return tl;
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e3; /* 1 µs of rounding */
}

static void test_windows(const struct env_timeline *tl)
{
	struct env_threads *th = env_threads_new(tl, 100, 100);
	const char *top;
	double v;

	CHECK(th != NULL, "new");
	if (!th)
		return;
	/* the gc burst: gc 100 ms, 2 workers 20 ms each; not the thread
	 * itself, not the other process's */
	v = env_threads_cpu_ns(th, T(300), 100 * MS);
	CHECK(near(v, 140e6), "burst: %.0f", v);
	/* half a sample interval, prorated: gc 5 ms, workers 2 x 1 ms */
	v = env_threads_cpu_ns(th, T(305), 5 * MS);
	CHECK(near(v, 7e6), "half an interval: %.0f", v);
	/* across an interval boundary: 395-415 ms: gc 5, workers 2 x 4 */
	v = env_threads_cpu_ns(th, T(395), 20 * MS);
	CHECK(near(v, 13e6), "across a boundary: %.0f", v);
	/* the late thread: none of its 5 s before it was seen */
	v = env_threads_cpu_ns(th, T(450), 100 * MS);
	CHECK(near(v, 40e6 + 5e6), "late thread: %.0f", v);
	/* back in time (the cursor moves back) */
	v = env_threads_cpu_ns(th, T(0), 100 * MS);
	CHECK(near(v, 40e6), "back in time: %.0f", v);
	/* outside the timeline; partly outside: clamped */
	CHECK(isnan(env_threads_cpu_ns(th, T(2000), MS)), "after the timeline");
	CHECK(isnan(env_threads_cpu_ns(th, T(0) - 20 * MS, 10 * MS)), "before the timeline");
	v = env_threads_cpu_ns(th, T(0) - 20 * MS, 30 * MS);
	CHECK(near(v, 4e6), "partly before: %.0f", v);

	top = env_threads_top_of(th, T(300), 100 * MS);
	CHECK(top && !strcmp(top, "gc"), "top of the burst: %s", top ? top : "(none)");
	top = env_threads_top_of(th, T(100), 100 * MS);
	CHECK(top && !strcmp(top, "worker"), "top elsewhere: %s", top ? top : "(none)");
	CHECK(!env_threads_top_of(th, T(2000), MS), "top outside");
	env_threads_free(th);
}

static void test_sets(const struct env_timeline *tl)
{
	struct env_threads *th = env_threads_new(tl, 100, 100);
	struct env_threads_name top[4];
	unsigned count;
	double v;

	CHECK(th != NULL, "new");
	if (!th)
		return;
	/* nothing added: not known */
	env_threads_clear(th);
	CHECK(isnan(env_threads_top(th, 4, top, &count)) && count == 0, "empty set");
	/* any order, overlapping windows count twice */
	env_threads_add(th, T(350), 50 * MS);
	env_threads_add(th, T(300), 50 * MS);
	env_threads_add(th, T(300), 10 * MS);
	v = env_threads_top(th, 4, top, &count);
	CHECK(near(v, 154e6), "set total: %.0f", v);
	CHECK(count == 2, "set names: %u", count);
	CHECK(count >= 1 && !strcmp(top[0].name, "gc") && near(top[0].cpu_ns, 110e6) &&
		      top[0].threads == 1,
	      "first: %s %.0f %u", top[0].name, top[0].cpu_ns, top[0].threads);
	CHECK(count >= 2 && !strcmp(top[1].name, "worker") && near(top[1].cpu_ns, 44e6) &&
		      top[1].threads == 2,
	      "second: %s %.0f %u", top[1].name, top[1].cpu_ns, top[1].threads);
	/* the largest only; the total is still every group's */
	v = env_threads_top(th, 1, top, &count);
	CHECK(count == 1 && !strcmp(top[0].name, "gc") && near(v, 154e6), "top 1: %u %.0f",
	      count, v);
	/* cleared: a new set */
	env_threads_clear(th);
	env_threads_add(th, T(500), 100 * MS);
	v = env_threads_top(th, 4, top, &count);
	CHECK(near(v, 50e6) && count == 2 && !strcmp(top[0].name, "worker") &&
		      !strcmp(top[1].name, "late"),
	      "second set: %.0f %u", v, count);
	/* a set outside the timeline */
	env_threads_clear(th);
	env_threads_add(th, T(5000), MS);
	CHECK(isnan(env_threads_top(th, 4, top, &count)), "set outside");
	env_threads_free(th);

	/* a process with no other thread: 0, known */
	th = env_threads_new(tl, 200, 200);
	CHECK(th && env_threads_cpu_ns(th, T(100), 100 * MS) == 0, "no other thread");
	CHECK(th && !env_threads_top_of(th, T(100), 100 * MS), "no other thread: no name");
	env_threads_free(th);
	env_threads_free(NULL);
}

static void test_no_timeline(void)
{
	struct env_timeline tl;
	struct env_threads *th;

	memset(&tl, 0, sizeof(tl));
	th = env_threads_new(&tl, 1, 1);
	CHECK(th && isnan(env_threads_cpu_ns(th, 0, MS)), "empty timeline");
	env_threads_free(th);
}

/* More names than ENV_THREADS_NAMES: the rest are one "(others)" group. */
static void test_many_names(void)
{
	static struct env_task tasks[ENV_THREADS_NAMES + 5];
	struct env_timeline tl = timeline();
	struct env_threads_name top[ENV_THREADS_NAMES + 2];
	struct env_threads *th;
	unsigned count;
	double v;

	for (unsigned i = 0; i < ENV_THREADS_NAMES + 5; i++) {
		memset(&tasks[i], 0, sizeof(tasks[i]));
		tasks[i].pid = 300;
		tasks[i].tid = 300 + (int)i;
		snprintf(tasks[i].comm, sizeof(tasks[i].comm), "t%u", i);
		tasks[i].cpu_ns = (struct env_series){ SAMPLES, times, values[3] }; /* worker */
	}
	tl.ntasks = ENV_THREADS_NAMES + 5;
	tl.tasks = tasks;
	th = env_threads_new(&tl, 300, 300); /* t0 is the thread itself */
	CHECK(th != NULL, "new");
	if (!th)
		return;
	env_threads_clear(th);
	env_threads_add(th, T(0), 100 * MS);
	v = env_threads_top(th, ENV_THREADS_NAMES + 2, top, &count);
	CHECK(near(v, (ENV_THREADS_NAMES + 4) * 20e6), "many: total %.0f", v);
	CHECK(count == ENV_THREADS_NAMES + 1, "many: %u groups", count);
	CHECK(count && !strcmp(top[0].name, "(others)") && top[0].threads == 4 &&
		      near(top[0].cpu_ns, 80e6),
	      "many: %s %u %.0f", top[0].name, top[0].threads, top[0].cpu_ns);
	env_threads_free(th);
}

int main(void)
{
	struct env_timeline tl = timeline();

	test_windows(&tl);
	test_sets(&tl);
	test_no_timeline();
	test_many_names();
	return unit_test_finish();
}

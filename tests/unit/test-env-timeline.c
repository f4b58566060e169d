/*
 * Unit tests of the environment timeline: the writer's encoders
 * (analyzer/env-sampler.c) and the reader (analyzer/env-timeline.c) over a
 * file of known records — interpolation on known points, values carried
 * forward for threads whose records were skipped, missing and not-sampled
 * values, a truncated last record, damaged files refused with a reason —
 * and the sampler itself on this process, with a write that fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env-sampler.h"
#include "env-timeline.h"

#include "unit-test.h"

#define T0 1000000000ull    /* the first sample */
#define STEP 10000000ull    /* 10 ms between samples */
#define T(k) (T0 + (k) * STEP)
#define M ITP_ENV_MISSING
#define NS ITP_ENV_NOT_SAMPLED

static struct env_cpu_values cpu_values(uint64_t steal)
{
	return (struct env_cpu_values){ .steal_ns = steal, .irq_ns = 0, .softirq_ns = 0,
					.idle_ns = 0, .irq_count = 0, .softirq_count = 0,
					.freq_khz = M, .throttle_count = M };
}

/*
 * Five samples, 10 ms apart, of a machine with 2 CPUs:
 *   cpu0 steal = 1000 * k ns; irq_count read in samples 0, 2, 4 only
 *   cpu1 steal = 1000 * k, missing in sample 2
 *   procs_running = k + 1; pressure read in samples 0 and 4 only
 *   cgroup /sys/fs/cgroup/cpu/bench, quota 50000/100000 us; cpu.stat in 0, 2, 4
 *   thread 101 "worker", renamed "renamed" in sample 3: cpu_ns 0, 1 ms,
 *     (unchanged: no record in samples 2 and 3), 5 ms
 *   thread 102 "helper": samples 0 and 1, then TASK_END in sample 2
 *   process 42's perf map: missing in sample 0, 3 entries / 0x600 bytes in
 *     sample 1, unchanged since (no record)
 */
static void build(struct env_buf *b)
{
	env_buf_header(b, &(struct env_header_info){ .interval_ns = STEP, .start_ns = T0,
						     .cpu_count = 2, .clk_tck = 100, .pid = 42,
						     .clock_id = CLOCK_MONOTONIC });
	for (uint64_t k = 0; k < 5; k++) {
		struct env_cpu_values c0 = cpu_values(1000 * k), c1 = cpu_values(1000 * k);
		struct env_system_values sys = { .procs_running = k + 1, .procs_blocked = 0 };
		uint64_t psi = (k == 0 || k == 4) ? 100 * k : NS;
		uint64_t task_cpu[5] = { 0, 1000000, 1000000, 1000000, 5000000 };

		env_buf_sample(b, T(k), (uint32_t)k, k % 2 == 0 ? ITP_ENV_SAMPLE_RESCAN : 0,
			       1000 * k);
		if (k == 0) {
			env_buf_source(b, T(k), ITP_ENV_SRC_STAT, true, 0, "stat", "");
			env_buf_source(b, T(k), ITP_ENV_SRC_CPUFREQ, false, ENOENT, "cpufreq",
				       "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq: "
				       "No such file or directory");
			env_buf_cgroup(b, T(k), &(struct env_cgroup_info){
							.quota_us = 50000, .period_us = 100000,
							.version = 1,
							.path = "/sys/fs/cgroup/cpu/bench" });
		}
		c0.irq_count = k % 2 ? NS : 10 * k;
		if (k == 2)
			c1.steal_ns = M;
		env_buf_cpu(b, T(k) + 100, 0, &c0);
		env_buf_cpu(b, T(k) + 100, 1, &c1);
		sys.psi_cpu_some_ns = sys.psi_cpu_full_ns = sys.psi_io_some_ns = psi;
		sys.psi_io_full_ns = sys.psi_mem_some_ns = sys.psi_mem_full_ns = psi;
		env_buf_system(b, T(k) + 100, &sys);
		if (k % 2 == 0)
			env_buf_cgroup_stat(b, T(k) + 200,
					    &(struct env_cgroup_stat){ k, k / 2, 1000 * k });
		if (k == 0)
			env_buf_thread_name(b, T(k) + 300, 42, 101, "worker");
		if (k == 3)
			env_buf_thread_name(b, T(k) + 300, 42, 101, "renamed");
		if (k != 2 && k != 3)
			env_buf_task(b, T(k) + 300, 42, 101,
				     &(struct env_task_values){ task_cpu[k], 10 * k, k % 2 });
		if (k == 0)
			env_buf_thread_name(b, T(k) + 400, 42, 102, "helper");
		if (k < 2)
			env_buf_task(b, T(k) + 400, 42, 102,
				     &(struct env_task_values){ 777 * (k + 1), 0, 1 });
		if (k == 2)
			env_buf_task_end(b, T(k) + 400, 42, 102);
		if (k == 0)
			env_buf_code(b, T(k) + 500, 42, &(struct env_code_values){ M, M, M, M });
		if (k == 1)
			env_buf_code(b, T(k) + 500, 42,
				     &(struct env_code_values){ 3, 0x600, M, M });
	}
}

static int load(const struct env_buf *b, size_t size, struct env_timeline *tl, char *why)
{
	return env_timeline_load_buffer(b->data, size, "test.timeline", tl, why, 512);
}

static void test_known_timeline(void)
{
	struct env_buf b = { 0 };
	struct env_timeline tl;
	const struct env_task *t;
	const struct env_source *src;
	char why[512] = "";
	int err;

	build(&b);
	CHECK(!b.is_out_of_memory, "encoder out of memory");
	err = load(&b, b.len, &tl, why);
	CHECK(err == 0, "load: %d %s", err, why);
	if (err)
		goto out;
	CHECK(tl.interval_ns == STEP && tl.start_ns == T0 && tl.ncpus == 2 && tl.samples == 5,
	      "header: %llu %llu %u %zu", (unsigned long long)tl.interval_ns,
	      (unsigned long long)tl.start_ns, tl.ncpus, tl.samples);
	CHECK(tl.end_ns == T(4) + 300, "end_ns %llu", (unsigned long long)tl.end_ns);

	/* interpolation between known points: steal = 1000 * k at T(k) + 100 */
	const struct env_series *steal = &tl.cpus[0].steal_ns;
	CHECK(steal->n == 5, "cpu0 steal points %zu", steal->n);
	CHECK(env_series_delta(steal, T(0) + 100, T(2) + 100) == 2000, "exact points");
	CHECK(env_series_delta(steal, T(0) + 100 + STEP / 2, T(2) + 100) == 1500,
	      "half a sample in: %llu",
	      (unsigned long long)env_series_delta(steal, T(0) + 100 + STEP / 2, T(2) + 100));
	CHECK(env_series_delta(steal, T(1) + 100 + STEP / 4, T(1) + 100 + STEP * 3 / 4) == 500,
	      "inside one sample: %llu",
	      (unsigned long long)env_series_delta(steal, T(1) + 100 + STEP / 4,
						   T(1) + 100 + STEP * 3 / 4));
	CHECK(env_series_delta(steal, 0, T(0)) == 0, "before the first sample: clamped");
	CHECK(env_series_delta(steal, T(4) + 100, T(4) + 1000 * STEP) == 0,
	      "after the last sample: clamped");
	CHECK(env_series_delta(steal, 0, UINT64_MAX) == 4000, "the whole run");
	CHECK(env_series_delta(steal, T(3), T(1)) == 0, "a reversed interval");

	/* missing in the middle: exact points around it still read, an
	 * interval with an end next to it does not */
	steal = &tl.cpus[1].steal_ns;
	CHECK(steal->n == 5 && steal->v[2] == ENV_MISSING, "cpu1 steal[2] missing");
	CHECK(env_series_delta(steal, T(1) + 100, T(3) + 100) == 2000,
	      "around a missing point: %llu",
	      (unsigned long long)env_series_delta(steal, T(1) + 100, T(3) + 100));
	CHECK(env_series_delta(steal, T(1) + 100 + STEP / 2, T(3) + 100) == ENV_MISSING,
	      "next to a missing point");

	/* a level, and a series that is missing throughout */
	CHECK(env_series_at(&tl.procs_running, T(2) + 101) == 3, "procs_running at T2");
	CHECK(env_series_at(&tl.procs_running, T(2) + 99) == 2, "procs_running before T2");
	CHECK(env_series_at(&tl.procs_running, T(0)) == ENV_MISSING, "before any sample");
	CHECK(tl.cpus[0].freq_khz.n == 5 &&
		      env_series_at(&tl.cpus[0].freq_khz, T(3)) == ENV_MISSING &&
		      env_series_delta(&tl.cpus[0].freq_khz, T(0), T(4)) == ENV_MISSING,
	      "freq missing");

	/* not sampled: no point at all */
	CHECK(tl.cpus[0].irq_count.n == 3, "irq_count points %zu", tl.cpus[0].irq_count.n);
	CHECK(env_series_delta(&tl.cpus[0].irq_count, T(0) + 100, T(3) + 100) == 30,
	      "irq_count interpolated over a sample it was not read in: %llu",
	      (unsigned long long)env_series_delta(&tl.cpus[0].irq_count, T(0) + 100,
						   T(3) + 100));
	CHECK(tl.psi_cpu_some_ns.n == 2 && tl.psi_mem_full_ns.n == 2, "pressure points %zu",
	      tl.psi_cpu_some_ns.n);
	CHECK(tl.sampler_cpu_ns.n == 5 &&
		      env_series_delta(&tl.sampler_cpu_ns, T(0), T(4)) == 4000,
	      "sampler cpu");

	/* cgroup */
	CHECK(!strcmp(tl.cg_path, "/sys/fs/cgroup/cpu/bench"), "cg_path '%s'", tl.cg_path);
	CHECK(tl.cg_quota_us == 50000 && tl.cg_period_us == 100000, "quota");
	CHECK(tl.cg_nr_throttled.n == 3 &&
		      env_series_delta(&tl.cg_nr_throttled, 0, UINT64_MAX) == 2 &&
		      env_series_delta(&tl.cg_throttled_ns, 0, UINT64_MAX) == 4000,
	      "cgroup stat");

	/* thread 101: records skipped in samples 2 and 3, carried forward */
	t = env_timeline_task(&tl, 101);
	CHECK(t && t->pid == 42 && !strcmp(t->comm, "renamed"), "task 101 '%s'",
	      t ? t->comm : "(none)");
	if (t) {
		CHECK(t->cpu_ns.n == 5 && t->cpu_ns.t[2] == T(2) && t->cpu_ns.v[3] == 1000000,
		      "carried forward: %zu points", t->cpu_ns.n);
		CHECK(env_series_delta(&t->cpu_ns, T(1) + 300, T(3)) == 0,
		      "did not run in samples 2-3: %llu",
		      (unsigned long long)env_series_delta(&t->cpu_ns, T(1) + 300, T(3)));
		CHECK(env_series_delta(&t->cpu_ns, T(3), T(4) + 300) == 4000000,
		      "ran between samples 3 and 4");
		CHECK(env_series_at(&t->last_cpu, T(3) + 1) == 1, "last cpu carried");
		CHECK(env_series_delta(&t->run_delay_ns, 0, UINT64_MAX) == 40, "run delay");
	}
	/* thread 102: ended in sample 2, nothing carried after that */
	t = env_timeline_task(&tl, 102);
	CHECK(t && !strcmp(t->comm, "helper") && t->cpu_ns.n == 2, "task 102: %zu points",
	      t ? t->cpu_ns.n : 0);
	CHECK(env_timeline_task(&tl, 103) == NULL, "no task 103");
	CHECK(tl.ntasks == 2, "%zu tasks", tl.ntasks);

	/* code maps: carried forward from sample 1 to the end */
	CHECK(tl.ncode == 1 && tl.code[0].pid == 42, "code entries %zu", tl.ncode);
	if (tl.ncode == 1) {
		const struct env_code *c = &tl.code[0];

		CHECK(c->map_entries.n == 5 && env_series_at(&c->map_entries, T(4) + 600) == 3 &&
			      env_series_at(&c->map_bytes, T(4) + 600) == 0x600 &&
			      env_series_at(&c->map_entries, T(0) + 600) == ENV_MISSING &&
			      env_series_at(&c->dump_entries, T(4) + 600) == ENV_MISSING,
		      "code series");
	}

	src = env_timeline_source(&tl, "cpufreq");
	CHECK(src && !src->is_available && strstr(src->why, "No such file"), "cpufreq source");
	src = env_timeline_source(&tl, "stat");
	CHECK(src && src->is_available && !src->why[0], "stat source");
	CHECK(tl.nsources == 2, "%zu sources", tl.nsources);
	env_timeline_free(&tl);
	env_timeline_free(&tl); /* empty: harmless */
	env_timeline_free(NULL);
out:
	env_buf_free(&b);
}

/* The size of the last record of @b (walking from the header). */
static size_t last_record_size(const struct env_buf *b)
{
	size_t off = ITP_ENV_HEADER_SIZE, size = 0;

	while (off < b->len) {
		memcpy(&size, b->data + off + ITP_ENV_REC_OFF_SIZE, 4);
		size &= 0xffffffffu;
		off += size;
	}
	return size;
}

static void test_truncated(void)
{
	struct env_buf b = { 0 };
	struct env_timeline tl;
	char why[512] = "";
	size_t last;
	int err;

	build(&b);
	last = last_record_size(&b);
	/* cut inside the last record (thread 101's TASK of sample 4): read up
	 * to the one before, and the thread's values carried to sample 4 */
	err = load(&b, b.len - 5, &tl, why);
	CHECK(err == 0, "cut inside the last record: %s", why);
	if (!err) {
		const struct env_task *t = env_timeline_task(&tl, 101);

		CHECK(tl.samples == 5, "samples %zu", tl.samples);
		CHECK(t && t->cpu_ns.n == 5 && t->cpu_ns.t[4] == T(4) && t->cpu_ns.v[4] == 1000000,
		      "the cut TASK record is not read");
		env_timeline_free(&tl);
	}
	/* cut inside its header */
	err = load(&b, b.len - last + 3, &tl, why);
	CHECK(err == 0, "cut inside the last record's header: %s", why);
	if (!err)
		env_timeline_free(&tl);
	/* nothing but the header */
	err = load(&b, ITP_ENV_HEADER_SIZE, &tl, why);
	CHECK(err == 0 && tl.samples == 0 && tl.ncpus == 2, "header only: %s", why);
	if (!err) {
		CHECK(env_series_delta(&tl.cpus[0].steal_ns, 0, 1) == ENV_MISSING,
		      "no sample: missing");
		env_timeline_free(&tl);
	}
	env_buf_free(&b);
}

/* Load @b with @size bytes after the bytes at @offset are set to @bytes. */
static int load_damaged(const struct env_buf *b, size_t offset, const void *bytes, size_t n,
			char *why)
{
	struct env_timeline tl;
	uint8_t *copy = malloc(b->len);
	int err;

	memcpy(copy, b->data, b->len);
	memcpy(copy + offset, bytes, n);
	err = env_timeline_load_buffer(copy, b->len, "bad.timeline", &tl, why, 512);
	free(copy);
	if (!err)
		env_timeline_free(&tl);
	CHECK(!err || (tl.ncpus == 0 && tl.cpus == NULL), "a failed load leaves it empty");
	return err;
}

static void test_damage(void)
{
	struct env_buf b = { 0 };
	struct env_timeline tl;
	char why[512];
	uint32_t v32;
	uint16_t v16;
	int err;

	build(&b);
	err = load_damaged(&b, 0, "NOTENV01", 8, why);
	CHECK(err == -EINVAL && strstr(why, "bad.timeline: byte 0: not an iterprof environment"),
	      "bad magic: %d %s", err, why);
	err = load_damaged(&b, 0, "\0\0\0\0\0\0\0\0", 8, why);
	CHECK(err == -EINVAL && strstr(why, "never written"), "zero magic: %s", why);
	v16 = 2;
	err = load_damaged(&b, ITP_ENV_OFF_VERSION_MAJOR, &v16, 2, why);
	CHECK(err == -EPROTONOSUPPORT && strstr(why, "newer iterprof"), "major 2: %s", why);
	v32 = 0;
	err = load_damaged(&b, ITP_ENV_OFF_CPU_COUNT, &v32, 4, why);
	CHECK(err == -EINVAL && strstr(why, "byte 40") && strstr(why, "CPU count 0"),
	      "no CPU: %s", why);
	v32 = 0x04030201;
	err = load_damaged(&b, ITP_ENV_OFF_ENDIAN_TAG, &v32, 4, why);
	CHECK(err == -EINVAL && strstr(why, "big-endian"), "endian: %s", why);
	v32 = 60;
	err = load_damaged(&b, ITP_ENV_OFF_HEADER_SIZE, &v32, 4, why);
	CHECK(err == -EINVAL && strstr(why, "header size 60"), "header size: %s", why);
	/* the first record (SAMPLE, at 64) */
	v32 = 44;
	err = load_damaged(&b, ITP_ENV_HEADER_SIZE + ITP_ENV_REC_OFF_SIZE, &v32, 4, why);
	CHECK(err == -EINVAL && strstr(why, "byte 64: record size 44"), "size: %s", why);
	v32 = 24;
	err = load_damaged(&b, ITP_ENV_HEADER_SIZE + ITP_ENV_REC_OFF_SIZE, &v32, 4, why);
	CHECK(err == -EINVAL && strstr(why, "fewer than its 40"), "too small: %s", why);
	v16 = 99;
	err = load_damaged(&b, ITP_ENV_HEADER_SIZE + ITP_ENV_REC_OFF_TYPE, &v16, 2, why);
	CHECK(err == -EINVAL && strstr(why, "unknown record type 99"), "unknown type: %s", why);
	{
		/* in a file of a newer minor, an unknown type is skipped */
		uint8_t *copy = malloc(b.len);

		memcpy(copy, b.data, b.len);
		copy[ITP_ENV_OFF_VERSION_MINOR] = ITP_ENV_VERSION_MINOR + 1;
		memcpy(copy + ITP_ENV_HEADER_SIZE + ITP_ENV_REC_OFF_TYPE, &v16, 2);
		err = env_timeline_load_buffer(copy, b.len, "newer.timeline", &tl, why, 512);
		CHECK(err == 0 && tl.samples == 4, "newer minor: %d %s", err, why);
		if (!err)
			env_timeline_free(&tl);
		free(copy);
	}
	{
		/* the second sample's time before the first one's */
		uint64_t t = 5;
		size_t second = ITP_ENV_HEADER_SIZE;
		uint32_t size;
		int k = 0;

		/* find the second SAMPLE record */
		while (second < b.len) {
			memcpy(&v16, b.data + second, 2);
			if (v16 == ITP_ENV_REC_SAMPLE && k++ == 1)
				break;
			memcpy(&size, b.data + second + 4, 4);
			second += size;
		}
		err = load_damaged(&b, second + ITP_ENV_REC_OFF_TIME_NS, &t, 8, why);
		CHECK(err == -EINVAL && strstr(why, "before the previous sample"), "time: %s", why);
	}
	{
		/* a CPU record for a CPU the header does not have */
		struct env_buf c = { 0 };

		env_buf_header(&c, &(struct env_header_info){ .interval_ns = STEP, .start_ns = T0,
							      .cpu_count = 1, .clk_tck = 100 });
		env_buf_sample(&c, T0, 0, 0, 0);
		env_buf_cpu(&c, T0, 1, &(struct env_cpu_values){ 0 });
		err = env_timeline_load_buffer(c.data, c.len, "cpu.timeline", &tl, why, 512);
		CHECK(err == -EINVAL && strstr(why, "CPU record for CPU 1 of 1"), "cpu: %s", why);
		/* a SOURCE whose strings run past it */
		c.len = ITP_ENV_HEADER_SIZE;
		env_buf_source(&c, T0, 1, true, 0, "stat", "");
		v16 = 200;
		memcpy(c.data + ITP_ENV_HEADER_SIZE + ITP_ENV_SOURCE_OFF_WHY_LEN, &v16, 2);
		err = env_timeline_load_buffer(c.data, c.len, "src.timeline", &tl, why, 512);
		CHECK(err == -EINVAL && strstr(why, "run past"), "source: %s", why);
		err = env_timeline_load_buffer(c.data, 0, "empty.timeline", &tl, why, 512);
		CHECK(err == -EINVAL && strstr(why, "empty"), "empty: %s", why);
		err = env_timeline_load_buffer(c.data, 40, "short.timeline", &tl, why, 512);
		CHECK(err == -EINVAL && strstr(why, "ends inside the header"), "short: %s", why);
		env_buf_free(&c);
	}
	env_buf_free(&b);
}

static void test_files(void)
{
	char dir[] = "/tmp/test-env-timeline-XXXXXX", file[PATH_MAX], why[512];
	struct env_timeline tl;
	struct env_buf b = { 0 };
	int err, fd;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	err = env_timeline_load(dir, &tl, why, sizeof(why));
	CHECK(err == -ENOENT && strstr(why, "--no-env"), "no timeline: %d %s", err, why);
	snprintf(file, sizeof(file), "%s/%s", dir, ITP_ENV_FILE_NAME);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	build(&b);
	CHECK(env_buf_write(&b, fd) == 0 && b.len == 0, "env_buf_write");
	close(fd);
	err = env_timeline_load(dir, &tl, why, sizeof(why));
	CHECK(err == 0 && tl.samples == 5, "load from the directory: %s", why);
	if (!err)
		env_timeline_free(&tl);
	unlink(file);

	/* a write that fails says why */
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		build(&b);
		CHECK(env_buf_write(&b, fd) == -ENOSPC, "ENOSPC");
		close(fd);
	}
	env_buf_free(&b);
	rmdir(dir);
}

static void busy_ms(unsigned ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* The sampler on this very process: a few samples, read back. Then the same
 * with the file's descriptor replaced by /dev/full: the failure is reported
 * by env_sampler_close, once, with the file's name. */
static void test_sampler(void)
{
	char dir[] = "/tmp/test-env-sampler-XXXXXX", file[PATH_MAX], why[512] = "";
	struct env_sampler *s;
	struct env_timeline tl;
	const struct env_task *me;
	int err;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(file, sizeof(file), "%s/%s", dir, ITP_ENV_FILE_NAME);
	err = env_sampler_open(file, getpid(), 1000000, &s, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (err)
		return;
	for (int i = 0; i < 6; i++) {
		busy_ms(2);
		env_sampler_sample(s, i == 5);
	}
	err = env_sampler_close(s, why, sizeof(why));
	CHECK(err == 0, "close: %s", why);
	err = env_sampler_open(file, getpid(), 1000000, &s, why, sizeof(why));
	CHECK(err == -EEXIST && strstr(why, file), "O_EXCL: %d %s", err, why);

	err = env_timeline_load(dir, &tl, why, sizeof(why));
	CHECK(err == 0, "load: %s", why);
	if (!err) {
		CHECK(tl.samples == 6, "samples %zu", tl.samples);
		CHECK(tl.cpus[0].steal_ns.n == 6 && tl.cpus[0].steal_ns.v[0] != ENV_MISSING,
		      "cpu0 steal read");
		me = env_timeline_task(&tl, (int)gettid());
		CHECK(me && me->pid == getpid() && !strcmp(me->comm, "test-env-timeli"),
		      "this thread: %s", me ? me->comm : "(none)");
		if (me)
			CHECK(env_series_delta(&me->cpu_ns, me->cpu_ns.t[0],
					       me->cpu_ns.t[me->cpu_ns.n - 1]) >= 8000000,
			      "at least 4 x 2 ms on CPU: %llu",
			      (unsigned long long)env_series_delta(&me->cpu_ns, me->cpu_ns.t[0],
								   me->cpu_ns.t[me->cpu_ns.n - 1]));
		CHECK(env_timeline_source(&tl, "stat") &&
			      env_timeline_source(&tl, "stat")->is_available,
		      "/proc/stat read");
		CHECK(tl.ncode == 1 && env_series_at(&tl.code[0].map_entries, UINT64_MAX - 2) ==
						 ENV_MISSING,
		      "no perf map: missing");
		env_timeline_free(&tl);
	}
	unlink(file);

	/* the output file's descriptor is the last one the sampler opened */
	err = env_sampler_open(file, getpid(), 1000000, &s, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	if (!err) {
		int full = open("/dev/full", O_WRONLY), target = -1;
		char link[64], path[PATH_MAX];

		for (int fd = 0; fd < 1024; fd++) {
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
			n = readlink(link, path, sizeof(path) - 1);
			if (n > 0 && (path[n] = '\0', !strcmp(path, file)))
				target = fd;
		}
		CHECK(full >= 0 && target >= 0, "found the descriptor");
		if (full >= 0 && target >= 0)
			dup2(full, target);
		for (int i = 0; i < 3; i++)
			env_sampler_sample(s, i == 2);
		err = env_sampler_close(s, why, sizeof(why));
		CHECK(err == -ENOSPC && strstr(why, file) && strstr(why, "No space left"),
		      "ENOSPC reported: %d %s", err, why);
		if (full >= 0)
			close(full);
	}
	unlink(file);
	rmdir(dir);
}

static void test_interval_parse(void)
{
	static const struct {
		const char *text;
		int err;
		uint64_t ns;
	} cases[] = {
		{ "10ms", 0, 10000000 }, { "500us", 0, 500000 }, { "1s", 0, 1000000000 },
		{ "5", 0, 5000000 },	 { "2.5ms", 0, 2500000 }, { "100us", 0, 100000 },
		{ "0.1ms", 0, 100000 },	 { "10s", 0, 10000000000ull },
		{ "99us", -ERANGE, 0 },	 { "11s", -ERANGE, 0 },   { "0", -ERANGE, 0 },
		{ "5x", -EINVAL, 0 },	 { "", -EINVAL, 0 },	  { "-5ms", -EINVAL, 0 },
		{ "ms", -EINVAL, 0 },	 { "5 ms", -EINVAL, 0 },  { "inf", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ns = 0;
		int err = env_interval_parse(cases[i].text, &ns);

		CHECK(err == cases[i].err && (err || ns == cases[i].ns), "'%s': %d %llu",
		      cases[i].text, err, (unsigned long long)ns);
	}
}

int main(void)
{
	test_known_timeline();
	test_truncated();
	test_damage();
	test_files();
	test_sampler();
	test_interval_parse();
	return unit_test_finish();
}

/*
 * synth-trace: write one trace file that looks like what the shim writes for
 * a default `iterprof record` on the project's VMs (no PMU: the eight software
 * counters), holding N iterations of one region "work", for timing `iterprof
 * report` on traces larger than any test records (scripts/bench-report).
 *
 *   synth-trace [--iterations N] [--seed S] [--threads T] [--list] OUT.trace
 *
 * N iterations in all (default 10,000,000), shared by T threads (default 1),
 * each with its THREAD and REGION records and its own chunks, interleaved in
 * the file in the order a shim would have handed them out. The stream is
 * deterministic from the seed:
 *   - a warm-up of WARMUP_ITERATIONS per thread, from ~20x the steady time
 *     down to 1x, with minor page faults falling to zero;
 *   - a steady phase around STEADY_NS with ~1.5 % noise, task-clock about
 *     the duration;
 *   - SLOW_RATE of the steady iterations slowed by one of three causes:
 *     page faults (task-clock grows with the duration), a sleep (a voluntary
 *     switch, duration far above task-clock) or a preemption (an involuntary
 *     switch, run-delay about the excess).
 * --list also prints every iteration as one line on stdout (tid, start_ns
 * relative to the header's start_ns, duration_ns, then the counters in table
 * order), to check what `iterprof report --iterations` reads back.
 *
 * Memory: one chunk per thread. A 10M-iteration trace is ~320 MB of file;
 * trace-builder.h's whole-file buffer would hold all of it, so each thread
 * builds its chunk in a one-chunk window (a struct tb whose chunk sits right
 * after a scratch header) and writes it at its real offset when full.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "iterprof/trace-codec.h"
#include "iterprof/trace-format.h"
#include "synthetic.h"
#include "trace-builder.h"

#define DEFAULT_ITERATIONS 10000000ull
#define MAX_THREADS 256u /* a 68 KiB window each */
#define SEGMENT_CHUNKS 16u /* the shim reserves the file 16 chunks at a time */

#define STEADY_NS 800.0
#define STEADY_NOISE 0.015    /* relative standard deviation */
#define WARMUP_ITERATIONS 50
#define WARMUP_FACTOR 19.0    /* the first iteration takes 1 + 19 = 20x */
#define WARMUP_DECAY 8.0      /* iterations; 19 e^(-49/8) = 0.04 at the end */
#define WARMUP_FAULTS 30.0    /* minor faults of the first iteration */
#define WARMUP_FAULT_DECAY 5.0 /* none left after ~17 iterations */
#define SLOW_RATE 0.001
#define FAULT_NS 700.0        /* one minor fault, zeroing its page, on a VM */

/*
 * What the shim measures on the 2-vCPU VMs (recordings of
 * tests/programs/iterbench, release build): the task-clock of an empty
 * iteration, 0.9 - 1.3 us, which it subtracts from every task-clock and
 * which therefore shows in time_enabled (the counters' interval includes
 * part of the two read() calls, the timed one does not); and the time from
 * one iteration's end to the next one's start, 2.0 - 2.8 us (the shim's
 * counter and clock reads), which sets the start deltas' varint sizes.
 */
#define TASK_CLOCK_BIAS_NS 1100u
#define SHIM_GAP_NS 2000.0
#define SHIM_GAP_SPREAD_NS 800.0
#define CLOCK_READ_COST_NS 15u
#define TSC_HZ 2596110755ull
#define START_NS 3600000000000ull /* an hour after boot */
#define PID 4242u
#define REGION_NAME "work"

/* The counter table a default record writes without a PMU (the default
 * hardware set is left out when none of it opens), in the shim's order. */
enum { TASK_CLOCK, MINOR_FAULTS, MAJOR_FAULTS, CONTEXT_SWITCHES, MIGRATIONS,
       VOLUNTARY_SWITCHES, INVOLUNTARY_SWITCHES, RUN_DELAY, COUNTER_COUNT };

static const struct {
	uint16_t id;
	uint16_t source;
	const char *name;
} counters[COUNTER_COUNT] = {
	[TASK_CLOCK] = { ITP_COUNTER_TASK_CLOCK, ITP_SOURCE_PERF, "task-clock" },
	[MINOR_FAULTS] = { ITP_COUNTER_MINOR_FAULTS, ITP_SOURCE_PERF, "minor-faults" },
	[MAJOR_FAULTS] = { ITP_COUNTER_MAJOR_FAULTS, ITP_SOURCE_PERF, "major-faults" },
	[CONTEXT_SWITCHES] = { ITP_COUNTER_CONTEXT_SWITCHES, ITP_SOURCE_PERF,
			       "context-switches" },
	[MIGRATIONS] = { ITP_COUNTER_MIGRATIONS, ITP_SOURCE_PERF, "cpu-migrations" },
	[VOLUNTARY_SWITCHES] = { ITP_COUNTER_VOLUNTARY_SWITCHES, ITP_SOURCE_RUSAGE,
				 "voluntary-switches" },
	[INVOLUNTARY_SWITCHES] = { ITP_COUNTER_INVOLUNTARY_SWITCHES, ITP_SOURCE_RUSAGE,
				   "involuntary-switches" },
	[RUN_DELAY] = { ITP_COUNTER_RUN_DELAY, ITP_SOURCE_SCHEDSTAT, "run-delay" },
};

/* One thread of the synthetic benchmark and the chunk it is filling. */
struct thread {
	struct tb window;      /* scratch header, then the chunk being filled */
	struct tb_chunk chunk; /* offsets within window */
	bool has_chunk;
	uint64_t chunk_index;  /* the chunk's position in the file */
	uint32_t tid;
	uint32_t thread_seq;
	uint32_t chunk_seq;    /* of the next chunk */
	uint32_t record_seq;
	uint64_t done;         /* iterations written */
	uint64_t quota;
	struct itp_iteration next; /* generated, not yet written */
	uint64_t next_end_ns;
};

static struct {
	int fd;
	const char *path;
	uint64_t next_chunk;
	uint32_t next_thread_seq;
	bool is_listing;
} out = { .fd = -1 };

static void die(const char *what, int err)
{
	fprintf(stderr, "synth-trace: %s: %s: %s\n", out.path, what, strerror(err));
	exit(1);
}

static void write_at(const void *buf, size_t len, uint64_t offset)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(out.fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write", n < 0 ? errno : EIO);
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
}

static uint64_t chunk_offset(uint64_t index)
{
	return ITP_HEADER_SIZE + index * ITP_DEFAULT_CHUNK_SIZE;
}

static void flush_chunk(struct thread *t)
{
	if (t->has_chunk)
		write_at(t->window.buf + ITP_HEADER_SIZE, ITP_DEFAULT_CHUNK_SIZE,
			 chunk_offset(t->chunk_index));
}

/*
 * Make room for a record of @size bytes in @t's chunk, taking the file's next
 * chunk when it does not fit, as trace_writer_reserve() does: the shim asks
 * for ITP_ITER_RECORD_MAX(ITP_MAX_COUNTERS) bytes before every ITERATION, so
 * its chunks end up to that much short of full, and so do ours.
 */
static void reserve(struct thread *t, uint32_t size)
{
	if (t->has_chunk && t->chunk.pos + size <= ITP_DEFAULT_CHUNK_SIZE)
		return;
	flush_chunk(t);
	if (t->chunk_seq == 0)
		t->thread_seq = out.next_thread_seq++;
	/* tb_chunk appends: cut the window back to its header so that the
	 * new chunk lands (zeroed) where the old one was. */
	t->window.size = ITP_HEADER_SIZE;
	t->chunk = tb_chunk(&t->window, t->tid, t->thread_seq, t->chunk_seq++);
	t->chunk_index = out.next_chunk++;
	t->has_chunk = true;
}

/* Uniform in [lo, hi). */
static double uniform(double lo, double hi)
{
	return lo + (hi - lo) * synthetic_uniform();
}

static uint64_t ns(double v)
{
	return v > 0 ? (uint64_t)(v + 0.5) : 0;
}

/*
 * Generate @t's next iteration, starting at @start_ns, into t->next. The
 * counters of the three kinds of slow iteration are what the shim sees for
 * them: a fault storm is on-CPU time, a sleep is a voluntary switch with
 * the CPU idle, a preemption an involuntary one with the thread runnable
 * (schedstat's run-delay) all along.
 */
static void generate(struct thread *t, uint64_t start_ns)
{
	struct itp_iteration *it = &t->next;
	uint64_t *v = it->values;
	double duration = STEADY_NS * (1 + STEADY_NOISE * synthetic_normal());
	double cpu, enabled;

	memset(it, 0, sizeof(*it));
	if (t->done < WARMUP_ITERATIONS) {
		double i = (double)t->done;

		duration *= 1 + WARMUP_FACTOR * exp(-i / WARMUP_DECAY);
		v[MINOR_FAULTS] = (uint64_t)(WARMUP_FAULTS * exp(-i / WARMUP_FAULT_DECAY));
	}
	/* The clock stamps sit just outside the counter reads, and the bias
	 * the shim subtracts is a median: task-clock lands within a few tens
	 * of ns of the duration, either side. */
	cpu = duration * 0.97 + uniform(-20, 20);
	if (t->done >= WARMUP_ITERATIONS && synthetic_uniform() < SLOW_RATE) {
		double u = synthetic_uniform(), extra, delay;

		if (u < 1.0 / 3) {
			uint64_t faults = (uint64_t)uniform(4, 64);

			extra = (double)faults * FAULT_NS * uniform(0.8, 1.2);
			v[MINOR_FAULTS] += faults;
			cpu += extra;
		} else if (u < 2.0 / 3) {
			/* nanosleep of 50 us - 1 ms; waking up takes a few us
			 * of run-queue wait. */
			delay = uniform(2000, 20000);
			extra = uniform(50000, 1000000) + delay;
			v[CONTEXT_SWITCHES] = v[VOLUNTARY_SWITCHES] = 1;
			v[RUN_DELAY] = ns(delay);
			cpu += 1500; /* the syscall and the switch, both ways */
		} else {
			/* Another task's slice: 0.1 - 4 ms runnable, then
			 * back, now and then on another CPU. */
			extra = uniform(100000, 4000000);
			v[CONTEXT_SWITCHES] = v[INVOLUNTARY_SWITCHES] = 1;
			v[MIGRATIONS] = synthetic_uniform() < 0.25;
			v[RUN_DELAY] = ns(extra * uniform(0.97, 1.0));
			cpu += 300;
		}
		duration += extra;
	}
	v[TASK_CLOCK] = ns(cpu);
	enabled = cpu + TASK_CLOCK_BIAS_NS + uniform(0, 300);
	it->region_id = 0;
	it->start_ns = start_ns;
	it->duration_ns = ns(duration);
	it->enabled = it->running = ns(enabled);
	t->next_end_ns = start_ns + it->duration_ns;
}

static void write_prerequisites(struct thread *t)
{
	/* The field's size, so that tb_rec_thread's strnlen bound is inside
	 * the object (gcc -O1 warns about a shorter literal). */
	static const char name[ITP_THREAD_NAME_LEN] = "synth-bench";

	reserve(t, ITP_THREAD_RECORD_SIZE);
	tb_rec_thread(&t->window, &t->chunk, t->record_seq++, t->tid, name);
	reserve(t, (ITP_REGION_OFF_NAME + sizeof(REGION_NAME) + 7) & ~7u);
	tb_rec_region(&t->window, &t->chunk, t->record_seq++, 0, REGION_NAME);
}

/*
 * Write t->next with the shim's own encoder (trace-codec.h) rather than
 * tb_rec_iteration, which stores time_enabled = duration: this way every
 * field, and so every record's size, is what the shim would have written.
 */
static void write_iteration(struct thread *t)
{
	const struct itp_iteration *it = &t->next;
	uint32_t size;
	size_t off;

	if (t->done == 0)
		write_prerequisites(t);
	reserve(t, ITP_ITER_RECORD_MAX(ITP_MAX_COUNTERS));
	size = itp_iteration_encode(t->window.buf + t->chunk.offset + t->chunk.pos, it,
				    COUNTER_COUNT, t->chunk.prev_start_ns);
	off = tb_record(&t->window, &t->chunk, size, t->record_seq++);
	tb_commit(&t->window, off, ITP_REC_ITERATION, size);
	t->chunk.prev_start_ns = it->start_ns;
	t->done++;
	if (out.is_listing) {
		printf("%u\t%llu\t%llu", t->tid, (unsigned long long)(it->start_ns - START_NS),
		       (unsigned long long)it->duration_ns);
		for (unsigned i = 0; i < COUNTER_COUNT; i++)
			printf("\t%llu", (unsigned long long)it->values[i]);
		putchar('\n');
	}
}

/* "model name" of /proc/cpuinfo into @buf, as the shim's sysinfo does. */
static void read_cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, size, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, size, "%s", colon);
		break;
	}
	fclose(f);
}

/* The header as the shim fills it on this machine; counters as above. */
static void fill_header(struct tb *h, uint64_t iterations, uint64_t seed, unsigned threads)
{
	char text[ITP_CMDLINE_LEN], exe[ITP_EXE_LEN] = "synth-trace";
	struct utsname u;
	ssize_t n;

	tb_init(h, ITP_DEFAULT_CHUNK_SIZE, COUNTER_COUNT);
	tb_put32(h, ITP_OFF_PID, PID);
	tb_put64(h, ITP_OFF_START_NS, START_NS);
	tb_put32(h, ITP_OFF_CLOCK_READ_COST_NS, CLOCK_READ_COST_NS);
	tb_put32(h, ITP_OFF_UID, (uint32_t)getuid());
	tb_put64(h, ITP_OFF_CONFIG_FLAGS,
		 ITP_CONFIG_RUSAGE | ITP_CONFIG_SCHEDSTAT | ITP_CONFIG_ON_SWITCH);
	tb_put32(h, ITP_OFF_TASK_CLOCK_BIAS_NS, TASK_CLOCK_BIAS_NS);
	tb_put32(h, ITP_OFF_TIME_SOURCE, ITP_TIME_TSC);
	tb_put64(h, ITP_OFF_TSC_HZ, TSC_HZ);
	/* Clear tb_init's test strings before putting the real ones. */
	memset(h->buf + ITP_OFF_HOST, 0, ITP_OFF_COUNTERS_NOTE - ITP_OFF_HOST);
	if (uname(&u) == 0) {
		tb_puts(h, ITP_OFF_HOST, u.nodename, ITP_HOST_LEN);
		snprintf(text, sizeof(text), "%s %s", u.sysname, u.release);
		tb_puts(h, ITP_OFF_KERNEL, text, ITP_KERNEL_LEN);
	}
	read_cpu_model(text, ITP_CPU_MODEL_LEN);
	tb_puts(h, ITP_OFF_CPU_MODEL, text, ITP_CPU_MODEL_LEN);
	/* Name the generator, not a benchmark that never ran. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	tb_puts(h, ITP_OFF_EXE, exe, ITP_EXE_LEN);
	snprintf(text, sizeof(text), "synth-trace --iterations %llu --seed %llu --threads %u",
		 (unsigned long long)iterations, (unsigned long long)seed, threads);
	tb_puts(h, ITP_OFF_CMDLINE, text, ITP_CMDLINE_LEN);
	for (unsigned i = 0; i < COUNTER_COUNT; i++) {
		size_t d = itp_counter_desc_offset(i);

		tb_counter(h, i, counters[i].id, counters[i].name, 1, NULL);
		tb_put16(h, d + ITP_CD_OFF_SOURCE, counters[i].source);
		tb_put32(h, d + ITP_CD_OFF_FLAGS, ITP_COUNTER_COUNTS | ITP_COUNTER_KERNEL);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: synth-trace [--iterations N] [--seed S] [--threads T] [--list] "
		   "OUT.trace\n");
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-';
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t iterations = DEFAULT_ITERATIONS, seed = 1, threads = 1, end_ns = START_NS;
	uint64_t state, chunks;
	struct thread *ts;
	struct tb header;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:t:lh", options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, &iterations))
				goto bad_usage;
			break;
		case 's':
			if (!parse_u64(optarg, &seed))
				goto bad_usage;
			break;
		case 't':
			if (!parse_u64(optarg, &threads) || threads < 1 || threads > MAX_THREADS)
				goto bad_usage;
			break;
		case 'l':
			out.is_listing = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc - 1)
		goto bad_usage;
	out.path = argv[optind];

	/* xorshift64* never leaves 0: spread the seed (splitmix64's
	 * finaliser) and keep it odd. */
	state = seed + 0x9e3779b97f4a7c15ull;
	state = (state ^ (state >> 30)) * 0xbf58476d1ce4e5b9ull;
	state = (state ^ (state >> 27)) * 0x94d049bb133111ebull;
	synthetic_seed((state ^ (state >> 31)) | 1);

	out.fd = open(out.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out.fd < 0)
		die("cannot create", errno);
	ts = calloc(threads, sizeof(*ts));
	if (!ts)
		die("threads", ENOMEM);
	for (unsigned i = 0; i < threads; i++) {
		struct thread *t = &ts[i];

		tb_init(&t->window, ITP_DEFAULT_CHUNK_SIZE, COUNTER_COUNT);
		t->tid = PID + i;
		t->quota = iterations / threads + (i < iterations % threads);
		/* Threads start a little apart, as pthread_create spaces them. */
		if (t->quota)
			generate(t, START_NS + 50000 + 30000 * (uint64_t)i);
	}

	/* Write iterations in the order they end, across threads, so that the
	 * threads take chunks in the order the shim would hand them out. */
	for (uint64_t left = iterations; left; left--) {
		struct thread *t = NULL;

		for (unsigned i = 0; i < threads; i++) {
			if (ts[i].done < ts[i].quota && (!t || ts[i].next_end_ns < t->next_end_ns))
				t = &ts[i];
		}
		write_iteration(t);
		if (t->next_end_ns > end_ns)
			end_ns = t->next_end_ns;
		if (t->done < t->quota)
			generate(t, t->next_end_ns + ns(SHIM_GAP_NS + uniform(0, SHIM_GAP_SPREAD_NS)));
	}
	for (unsigned i = 0; i < threads; i++) {
		flush_chunk(&ts[i]);
		tb_free(&ts[i].window);
	}
	free(ts);

	/* The shim reserves a segment at a time: space never handed out reads
	 * as zeros, to the end of the last segment. */
	chunks = (out.next_chunk + SEGMENT_CHUNKS - 1) / SEGMENT_CHUNKS * SEGMENT_CHUNKS;
	if (ftruncate(out.fd, (off_t)chunk_offset(chunks)))
		die("ftruncate", errno);
	fill_header(&header, iterations, seed, (unsigned)threads);
	header.chunks_used = out.next_chunk;
	tb_footer(&header, iterations, 0);
	tb_put64(&header, ITP_OFF_FOOTER + ITP_FT_OFF_END_NS, end_ns + 20000);
	write_at(header.buf, ITP_HEADER_SIZE, 0);
	tb_free(&header);
	if (close(out.fd))
		die("close", errno);
	if (out.is_listing && fflush(stdout))
		die("stdout", errno);
	return 0;

bad_usage:
	usage(stderr);
	return 2;
}

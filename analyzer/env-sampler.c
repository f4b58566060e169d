/*
 * env-sampler: the environment timeline's writer (env-format.h).
 *
 * `iterprof record` samples, from a thread of the launcher, what the
 * benchmark cannot see of itself: time the hypervisor stole, interrupts and
 * softirqs per CPU, system pressure, cgroup throttling, and the CPU time and
 * run delay of every thread of the command. Nothing runs in the benchmark's
 * processes; the cost is the launcher's (doc/environment.md has the numbers).
 *
 * Cost rules, measured on the 2-vCPU VM (doc/environment.md):
 *   - every file is opened once and re-read with pread() at offset 0: /proc
 *     and /sys regenerate their text at offset 0, and an open of a /proc
 *     file costs as much as the read;
 *   - the process tree is rescanned only every ~50 ms (RESCAN_NS) and at the
 *     last sample; between rescans a thread costs one schedstat read, plus a
 *     stat read only if it ran (its last CPU cannot have changed otherwise);
 *   - one write() per sample; a thread whose values did not change writes
 *     no TASK record (the reader carries the values forward).
 *
 * The sampler must never make `record` fail: a source it cannot read is
 * recorded as missing, with why, and a failed write stops the timeline,
 * which env_sampler_close() reports once.
 */
#define _GNU_SOURCE /* pread, O_CLOEXEC, eventfd, timerfd */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "env-sampler.h"

#define MISSING ITP_ENV_MISSING

/* Task lists, cgroup and code-map files are looked for this often. */
#define RESCAN_NS 50000000ull
/* A chunk of a JIT code map read at once, and the most read per file and
 * sample (a JIT that writes megabytes at start-up is caught up over a few
 * samples instead of making one sample long). */
#define CODE_CHUNK 65536u
/* Samples are written at each rescan, or sooner past this many bytes. */
#define WRITE_BATCH 65536u
#define CODE_READ_MAX (1u << 20)

/* ---- duration parsing ------------------------------------------------- */

int env_interval_parse(const char *text, uint64_t *ns)
{
	double value, scale;
	char *end;

	if (!text || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
		return -EINVAL;
	errno = 0;
	value = strtod(text, &end);
	if (errno || end == text)
		return -EINVAL;
	if (!*end || !strcmp(end, "ms"))
		scale = 1e6;
	else if (!strcmp(end, "us"))
		scale = 1e3;
	else if (!strcmp(end, "s"))
		scale = 1e9;
	else
		return -EINVAL;
	value *= scale;
	if (!(value >= (double)ENV_INTERVAL_MIN_NS - 0.5 &&
	      value <= (double)ENV_INTERVAL_MAX_NS + 0.5))
		return -ERANGE;
	*ns = (uint64_t)(value + 0.5);
	return 0;
}

/* ---- record encoders -------------------------------------------------- */

/* @size zeroed bytes at the end of @b, or NULL (out of memory, noted). */
static uint8_t *buf_append(struct env_buf *b, size_t size)
{
	uint8_t *p;

	if (b->is_out_of_memory)
		return NULL;
	if (b->len + size > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;

		while (capacity < b->len + size)
			capacity *= 2;
		p = realloc(b->data, capacity);
		if (!p) {
			b->is_out_of_memory = true;
			return NULL;
		}
		b->data = p;
		b->capacity = capacity;
	}
	p = b->data + b->len;
	memset(p, 0, size);
	b->len += size;
	return p;
}

static uint8_t *record_begin(struct env_buf *b, uint16_t type, size_t size, uint64_t time_ns)
{
	uint8_t *p = buf_append(b, size);

	if (p) {
		itp_env_put16(p + ITP_ENV_REC_OFF_TYPE, type);
		itp_env_put32(p + ITP_ENV_REC_OFF_SIZE, (uint32_t)size);
		itp_env_put64(p + ITP_ENV_REC_OFF_TIME_NS, time_ns);
	}
	return p;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

void env_buf_header(struct env_buf *b, const struct env_header_info *h)
{
	uint8_t *p = buf_append(b, ITP_ENV_HEADER_SIZE);

	if (!p)
		return;
	memcpy(p + ITP_ENV_OFF_MAGIC, ITP_ENV_MAGIC, ITP_ENV_MAGIC_LEN);
	itp_env_put16(p + ITP_ENV_OFF_VERSION_MAJOR, ITP_ENV_VERSION_MAJOR);
	itp_env_put16(p + ITP_ENV_OFF_VERSION_MINOR, ITP_ENV_VERSION_MINOR);
	itp_env_put32(p + ITP_ENV_OFF_HEADER_SIZE, ITP_ENV_HEADER_SIZE);
	itp_env_put32(p + ITP_ENV_OFF_ENDIAN_TAG, ITP_ENV_ENDIAN_TAG);
	itp_env_put32(p + ITP_ENV_OFF_CLOCK_ID, h->clock_id);
	itp_env_put64(p + ITP_ENV_OFF_INTERVAL_NS, h->interval_ns);
	itp_env_put64(p + ITP_ENV_OFF_START_NS, h->start_ns);
	itp_env_put32(p + ITP_ENV_OFF_CPU_COUNT, h->cpu_count);
	itp_env_put32(p + ITP_ENV_OFF_CLK_TCK, h->clk_tck);
	itp_env_put32(p + ITP_ENV_OFF_PID, h->pid);
}

void env_buf_sample(struct env_buf *b, uint64_t time_ns, uint32_t seq, uint32_t flags,
		    uint64_t sampler_cpu_ns)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_SAMPLE, ITP_ENV_SAMPLE_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_SAMPLE_OFF_SEQ, seq);
	itp_env_put32(p + ITP_ENV_SAMPLE_OFF_FLAGS, flags);
	itp_env_put64(p + ITP_ENV_SAMPLE_OFF_SAMPLER_CPU_NS, sampler_cpu_ns);
}

void env_buf_source(struct env_buf *b, uint64_t time_ns, uint16_t source, bool is_available,
		    int error, const char *name, const char *why)
{
	/* cut so that a record stays far below ITP_ENV_MAX_RECORD */
	size_t name_len = strnlen(name ? name : "", 63);
	size_t why_len = strnlen(why ? why : "", 1023);
	size_t size = align8(ITP_ENV_SOURCE_OFF_STRINGS + name_len + 1 + why_len + 1);
	uint8_t *p = record_begin(b, ITP_ENV_REC_SOURCE, size, time_ns);

	if (!p)
		return;
	itp_env_put16(p + ITP_ENV_SOURCE_OFF_SOURCE, source);
	itp_env_put16(p + ITP_ENV_SOURCE_OFF_FLAGS, is_available ? ITP_ENV_SOURCE_AVAILABLE : 0);
	itp_env_put32(p + ITP_ENV_SOURCE_OFF_ERROR, (uint32_t)error);
	itp_env_put16(p + ITP_ENV_SOURCE_OFF_NAME_LEN, (uint16_t)name_len);
	itp_env_put16(p + ITP_ENV_SOURCE_OFF_WHY_LEN, (uint16_t)why_len);
	if (name_len)
		memcpy(p + ITP_ENV_SOURCE_OFF_STRINGS, name, name_len);
	if (why_len)
		memcpy(p + ITP_ENV_SOURCE_OFF_STRINGS + name_len + 1, why, why_len);
}

void env_buf_cpu(struct env_buf *b, uint64_t time_ns, uint32_t cpu,
		 const struct env_cpu_values *v)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_CPU, ITP_ENV_CPU_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_CPU_OFF_CPU, cpu);
	itp_env_put64(p + ITP_ENV_CPU_OFF_STEAL_NS, v->steal_ns);
	itp_env_put64(p + ITP_ENV_CPU_OFF_IRQ_NS, v->irq_ns);
	itp_env_put64(p + ITP_ENV_CPU_OFF_SOFTIRQ_NS, v->softirq_ns);
	itp_env_put64(p + ITP_ENV_CPU_OFF_IDLE_NS, v->idle_ns);
	itp_env_put64(p + ITP_ENV_CPU_OFF_IRQ_COUNT, v->irq_count);
	itp_env_put64(p + ITP_ENV_CPU_OFF_SOFTIRQ_COUNT, v->softirq_count);
	itp_env_put64(p + ITP_ENV_CPU_OFF_FREQ_KHZ, v->freq_khz);
	itp_env_put64(p + ITP_ENV_CPU_OFF_THROTTLE_COUNT, v->throttle_count);
}

void env_buf_system(struct env_buf *b, uint64_t time_ns, const struct env_system_values *v)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_SYSTEM, ITP_ENV_SYSTEM_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PROCS_RUNNING, v->procs_running);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PROCS_BLOCKED, v->procs_blocked);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_CPU_SOME, v->psi_cpu_some_ns);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_CPU_FULL, v->psi_cpu_full_ns);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_IO_SOME, v->psi_io_some_ns);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_IO_FULL, v->psi_io_full_ns);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_MEM_SOME, v->psi_mem_some_ns);
	itp_env_put64(p + ITP_ENV_SYSTEM_OFF_PSI_MEM_FULL, v->psi_mem_full_ns);
}

void env_buf_cgroup(struct env_buf *b, uint64_t time_ns, const struct env_cgroup_info *c)
{
	size_t path_len = strnlen(c->path ? c->path : "", PATH_MAX);
	size_t size = align8(ITP_ENV_CGROUP_OFF_PATH + path_len + 1);
	uint8_t *p = record_begin(b, ITP_ENV_REC_CGROUP, size, time_ns);

	if (!p)
		return;
	itp_env_put64(p + ITP_ENV_CGROUP_OFF_QUOTA_US, c->quota_us);
	itp_env_put64(p + ITP_ENV_CGROUP_OFF_PERIOD_US, c->period_us);
	itp_env_put32(p + ITP_ENV_CGROUP_OFF_VERSION, c->version);
	itp_env_put16(p + ITP_ENV_CGROUP_OFF_PATH_LEN, (uint16_t)path_len);
	if (path_len)
		memcpy(p + ITP_ENV_CGROUP_OFF_PATH, c->path, path_len);
}

void env_buf_cgroup_stat(struct env_buf *b, uint64_t time_ns, const struct env_cgroup_stat *v)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_CGROUP_STAT, ITP_ENV_CGSTAT_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put64(p + ITP_ENV_CGSTAT_OFF_NR_PERIODS, v->nr_periods);
	itp_env_put64(p + ITP_ENV_CGSTAT_OFF_NR_THROTTLED, v->nr_throttled);
	itp_env_put64(p + ITP_ENV_CGSTAT_OFF_THROTTLED_NS, v->throttled_ns);
}

void env_buf_task(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid,
		  const struct env_task_values *v)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_TASK, ITP_ENV_TASK_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_TASK_OFF_PID, pid);
	itp_env_put32(p + ITP_ENV_TASK_OFF_TID, tid);
	itp_env_put64(p + ITP_ENV_TASK_OFF_CPU_NS, v->cpu_ns);
	itp_env_put64(p + ITP_ENV_TASK_OFF_RUN_DELAY_NS, v->run_delay_ns);
	itp_env_put64(p + ITP_ENV_TASK_OFF_LAST_CPU, v->last_cpu);
}

void env_buf_thread_name(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid,
			 const char *comm)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_THREAD_NAME, ITP_ENV_NAME_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_NAME_OFF_PID, pid);
	itp_env_put32(p + ITP_ENV_NAME_OFF_TID, tid);
	memcpy(p + ITP_ENV_NAME_OFF_COMM, comm, strnlen(comm, ITP_ENV_COMM_LEN - 1));
}

void env_buf_task_end(struct env_buf *b, uint64_t time_ns, uint32_t pid, uint32_t tid)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_TASK_END, ITP_ENV_END_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_END_OFF_PID, pid);
	itp_env_put32(p + ITP_ENV_END_OFF_TID, tid);
}

void env_buf_code(struct env_buf *b, uint64_t time_ns, uint32_t pid,
		  const struct env_code_values *v)
{
	uint8_t *p = record_begin(b, ITP_ENV_REC_CODE, ITP_ENV_CODE_SIZE, time_ns);

	if (!p)
		return;
	itp_env_put32(p + ITP_ENV_CODE_OFF_PID, pid);
	itp_env_put64(p + ITP_ENV_CODE_OFF_MAP_ENTRIES, v->map_entries);
	itp_env_put64(p + ITP_ENV_CODE_OFF_MAP_BYTES, v->map_bytes);
	itp_env_put64(p + ITP_ENV_CODE_OFF_DUMP_ENTRIES, v->dump_entries);
	itp_env_put64(p + ITP_ENV_CODE_OFF_DUMP_BYTES, v->dump_bytes);
}

int env_buf_write(struct env_buf *b, int fd)
{
	size_t done = 0;

	if (b->is_out_of_memory) {
		b->len = 0;
		b->is_out_of_memory = false;
		return -ENOMEM;
	}
	while (done < b->len) {
		ssize_t n = write(fd, b->data + done, b->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			b->len = 0;
			return err;
		}
		done += (size_t)n;
	}
	b->len = 0;
	return 0;
}

void env_buf_free(struct env_buf *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- the sampler's state ----------------------------------------------- */

/* A /proc or /sys file kept open and re-read at offset 0. */
struct kept_file {
	int fd;    /* -1 when it could not be opened */
	int error; /* errno of that failure */
};

struct env_thread {
	pid_t tid;
	/* -1 when not kept open (the launcher ran out of descriptors): then
	 * opened for each read */
	int schedstat_fd, stat_fd, children_fd;
	struct env_task_values last; /* as last written */
	char comm[ITP_ENV_COMM_LEN]; /* as last written */
	bool is_written;             /* its TASK record exists */
	bool is_seen;                /* listed by the rescan in progress */
	bool is_gone;
};

/* A JIT code map file of one process, read incrementally. */
struct code_file {
	int fd;          /* -1 until the file exists */
	uint64_t offset; /* bytes parsed */
	uint64_t entries, bytes;
	bool is_header_read; /* jitdump: the file header is behind offset */
	bool is_swapped;     /* jitdump written in the other byte order */
	bool is_damaged;     /* jitdump: not one; stop reading */
};

struct env_process {
	pid_t pid;
	DIR *task_dir; /* /proc/PID/task, kept open: rewound at each rescan */
	struct env_thread *threads;
	size_t thread_count, thread_capacity;
	struct code_file map, dump;
	struct env_code_values code_written;
	bool is_code_written;
	bool is_seen;
};

struct source_state {
	bool is_reported;
	int error; /* 0: available */
};

struct env_sampler {
	int fd;
	char *file;
	pid_t pid;
	uint64_t interval_ns;
	unsigned rescan_every; /* samples */
	unsigned interrupts_every; /* samples: /proc/interrupts is costly */
	uint32_t seq;
	unsigned cpu_count;
	long clk_tck;
	struct env_buf buf;
	int write_error;

	struct source_state sources[ITP_ENV_SRC_MAX + 1];

	struct kept_file stat, interrupts, softirqs, psi[3];
	struct kept_file *freq, *core_throttle, *package_throttle; /* [cpu_count] */
	char *text;            /* what a read returned, NUL-terminated */
	size_t text_capacity;
	struct env_cpu_values *cpus; /* this sample's, [cpu_count] */
	uint64_t *column_sums;       /* [cpu_count] */
	uint64_t *column_row;        /* [cpu_count]: one row's counts */
	int *column_cpu;             /* [cpu_count]: CPU of a column */

	/* the command's cgroup */
	struct kept_file cgroup_list; /* /proc/PID/cgroup */
	char cg_line[PATH_MAX];       /* the /proc/PID/cgroup line it comes from */
	char cg_dir[PATH_MAX];
	uint32_t cg_version;
	struct kept_file cg_stat;
	struct kept_file cg_quota[2]; /* v1 cfs_quota_us, cfs_period_us; v2 cpu.max */
	uint64_t cg_quota_us, cg_period_us;
	bool is_cgroup_written;
	char cg_why[PATH_MAX + 128];  /* why cpu.stat is not read */

	/* the command's processes */
	struct env_process *procs;
	size_t proc_count, proc_capacity;
	bool has_children_files; /* /proc/PID/task/TID/children */

	/* the thread */
	pthread_t thread;
	bool is_started;
	int stop_fd, timer_fd;
};

static const char *const source_names[ITP_ENV_SRC_MAX + 1] = {
	[ITP_ENV_SRC_STAT] = "stat",
	[ITP_ENV_SRC_INTERRUPTS] = "interrupts",
	[ITP_ENV_SRC_SOFTIRQS] = "softirqs",
	[ITP_ENV_SRC_CPUFREQ] = "cpufreq",
	[ITP_ENV_SRC_THERMAL_THROTTLE] = "thermal_throttle",
	[ITP_ENV_SRC_PRESSURE_CPU] = "pressure_cpu",
	[ITP_ENV_SRC_PRESSURE_IO] = "pressure_io",
	[ITP_ENV_SRC_PRESSURE_MEMORY] = "pressure_memory",
	[ITP_ENV_SRC_CGROUP] = "cgroup",
	[ITP_ENV_SRC_TASK_SCHEDSTAT] = "task_schedstat",
	[ITP_ENV_SRC_TASK_STAT] = "task_stat",
};

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/*
 * Say that source @id is available (@error 0) or not, in a SOURCE record,
 * when that differs from what was said last. @fmt formats the reason; it is
 * formatted only then, so the usual call costs a comparison.
 */
static void source_note(struct env_sampler *s, uint64_t t, unsigned id, int error,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void source_note(struct env_sampler *s, uint64_t t, unsigned id, int error,
			const char *fmt, ...)
{
	struct source_state *st = &s->sources[id];
	char why[512] = "";
	va_list ap;

	if (st->is_reported && st->error == error)
		return;
	st->is_reported = true;
	st->error = error;
	if (error && fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	env_buf_source(&s->buf, t, (uint16_t)id, !error, error, source_names[id], why);
}

static void kept_open(struct kept_file *k, const char *path)
{
	k->fd = open(path, O_RDONLY | O_CLOEXEC);
	k->error = k->fd < 0 ? errno : 0;
}

static void kept_close(struct kept_file *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

/*
 * Read the whole file behind @fd from offset 0 into s->text, NUL-terminated.
 * /proc files made by single_open() and sysfs attributes return all of their
 * text in one read, so a short read is the end (@is_one_read); /proc/
 * interrupts returns at most a page per read and is read until 0. *@t is the
 * middle of the reads. Returns the length or -errno.
 */
static ssize_t text_read(struct env_sampler *s, int fd, bool is_one_read, uint64_t *t)
{
	uint64_t t0 = now_ns();
	size_t len = 0;

	for (;;) {
		size_t room;
		ssize_t n;

		if (s->text_capacity - len < 512) {
			size_t capacity = s->text_capacity ? s->text_capacity * 2 : 16384;
			char *p = realloc(s->text, capacity);

			if (!p)
				return -ENOMEM;
			s->text = p;
			s->text_capacity = capacity;
		}
		room = s->text_capacity - 1 - len;
		n = pread(fd, s->text + len, room, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		len += (size_t)n;
		if (n == 0 || (is_one_read && (size_t)n < room))
			break;
	}
	s->text[len] = '\0';
	*t = t0 + (now_ns() - t0) / 2;
	return (ssize_t)len;
}

/* A small file (schedstat, stat, a sysfs attribute) into @buf; its length,
 * or -errno. */
static ssize_t small_read(int fd, char *buf, size_t size)
{
	ssize_t n;

	do
		n = pread(fd, buf, size - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/* The unsigned decimal at *@p (after blanks), advancing @p; false if none. */
static bool parse_u64(const char **p, uint64_t *v)
{
	const char *q = *p;
	char *end;

	while (*q == ' ' || *q == '\t')
		q++;
	if (!isdigit((unsigned char)*q))
		return false;
	errno = 0;
	*v = strtoull(q, &end, 10);
	if (errno)
		return false;
	*p = end;
	return true;
}

static uint64_t ticks_to_ns(const struct env_sampler *s, uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000000u / (uint64_t)s->clk_tck);
}

/* ---- system-wide sources ---------------------------------------------- */

/* /proc/stat: the cpuN lines' idle, irq, softirq and steal ticks; procs_*. */
static uint64_t read_proc_stat(struct env_sampler *s, struct env_system_values *sys)
{
	uint64_t t = now_ns();
	ssize_t n;

	if (s->stat.fd < 0) {
		source_note(s, t, ITP_ENV_SRC_STAT, s->stat.error, "/proc/stat: %s",
			    strerror(s->stat.error));
		return t;
	}
	n = text_read(s, s->stat.fd, true, &t);
	if (n < 0) {
		source_note(s, t, ITP_ENV_SRC_STAT, (int)-n, "/proc/stat: %s", strerror((int)-n));
		return t;
	}
	for (const char *line = s->text; *line;) {
		const char *eol = strchr(line, '\n');
		const char *p = line;
		uint64_t v[8];

		if (!strncmp(line, "cpu", 3) && isdigit((unsigned char)line[3])) {
			unsigned long cpu = strtoul(line + 3, (char **)&p, 10);
			unsigned got = 0;

			/* user nice system idle iowait irq softirq steal ... */
			while (got < 8 && parse_u64(&p, &v[got]))
				got++;
			if (cpu < s->cpu_count && got == 8) {
				s->cpus[cpu].idle_ns = ticks_to_ns(s, v[3]);
				s->cpus[cpu].irq_ns = ticks_to_ns(s, v[5]);
				s->cpus[cpu].softirq_ns = ticks_to_ns(s, v[6]);
				s->cpus[cpu].steal_ns = ticks_to_ns(s, v[7]);
			}
		} else if (!strncmp(line, "procs_running ", 14)) {
			p = line + 14;
			parse_u64(&p, &sys->procs_running);
		} else if (!strncmp(line, "procs_blocked ", 14)) {
			p = line + 14;
			parse_u64(&p, &sys->procs_blocked);
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	source_note(s, t, ITP_ENV_SRC_STAT, 0, NULL);
	return t;
}

/*
 * /proc/interrupts or /proc/softirqs: a header of "CPUn" columns (online
 * CPUs only), then one row per interrupt source with a count per column.
 * Adds up every row per CPU, the numbered IRQs and the named ones (LOC, RES,
 * CAL, TLB...); ERR and MIS are machine-wide counts, not per CPU, and are
 * left out. Sets *field of each CPU in s->cpus.
 */
static void read_per_cpu_counts(struct env_sampler *s, struct kept_file *k, const char *path,
				unsigned source, bool is_one_read, size_t field)
{
	uint64_t t = now_ns();
	unsigned columns = 0;
	const char *p, *line;
	ssize_t n;

	if (k->fd < 0) {
		source_note(s, t, source, k->error, "%s: %s", path, strerror(k->error));
		return;
	}
	n = text_read(s, k->fd, is_one_read, &t);
	if (n < 0) {
		source_note(s, t, source, (int)-n, "%s: %s", path, strerror((int)-n));
		return;
	}
	line = s->text;
	for (p = line; *p && *p != '\n';) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, "CPU", 3) && isdigit((unsigned char)p[3])) {
			unsigned long cpu = strtoul(p + 3, (char **)&p, 10);

			if (columns < s->cpu_count)
				s->column_cpu[columns++] = cpu < s->cpu_count ? (int)cpu : -1;
		} else {
			while (*p && *p != ' ' && *p != '\n')
				p++;
		}
	}
	if (!columns) {
		source_note(s, t, source, EPROTO, "%s: no CPU columns in its first line", path);
		return;
	}
	memset(s->column_sums, 0, columns * sizeof(*s->column_sums));
	for (line = strchr(s->text, '\n'); line && *++line; line = strchr(line, '\n')) {
		const char *colon = strchr(line, ':');
		const char *eol = strchr(line, '\n');
		const char *name = line;
		unsigned c;

		if (!colon || (eol && colon > eol))
			continue;
		while (*name == ' ')
			name++;
		if (!strncmp(name, "ERR:", 4) || !strncmp(name, "MIS:", 4))
			continue;
		p = colon + 1;
		for (c = 0; c < columns; c++)
			if (!parse_u64(&p, &s->column_row[c]))
				break;
		if (c < columns)
			continue; /* not a per-CPU row */
		for (c = 0; c < columns; c++)
			s->column_sums[c] += s->column_row[c];
	}
	for (unsigned c = 0; c < columns; c++) {
		if (s->column_cpu[c] >= 0)
			*(uint64_t *)((char *)&s->cpus[s->column_cpu[c]] + field) = s->column_sums[c];
	}
	source_note(s, t, source, 0, NULL);
}

/* cpuN/cpufreq/scaling_cur_freq and cpuN/thermal_throttle/ *_count. */
static void read_cpu_sysfs(struct env_sampler *s)
{
	uint64_t t = now_ns();
	int freq_error = 0, throttle_error = 0;
	unsigned freq_cpu = 0, throttle_cpu = 0;
	char buf[64];

	for (unsigned cpu = 0; cpu < s->cpu_count; cpu++) {
		uint64_t total = 0;
		bool has_throttle = false;
		const char *p = buf;
		ssize_t n = 0;

		if (s->freq[cpu].fd >= 0 && (n = small_read(s->freq[cpu].fd, buf, sizeof(buf))) > 0 &&
		    parse_u64(&p, &s->cpus[cpu].freq_khz)) {
			/* read */
		} else if (!freq_error) {
			freq_error = s->freq[cpu].fd < 0 ? s->freq[cpu].error
				     : n < 0		 ? (int)-n
							 : EPROTO;
			freq_cpu = cpu;
		}
		for (int k = 0; k < 2; k++) {
			struct kept_file *f = k ? &s->package_throttle[cpu] : &s->core_throttle[cpu];
			uint64_t v;

			p = buf;
			if (f->fd >= 0 && small_read(f->fd, buf, sizeof(buf)) > 0 && parse_u64(&p, &v)) {
				total += v;
				has_throttle = true;
			}
		}
		if (has_throttle)
			s->cpus[cpu].throttle_count = total;
		else if (!throttle_error) {
			throttle_error = s->core_throttle[cpu].fd < 0 ? s->core_throttle[cpu].error : EIO;
			throttle_cpu = cpu;
		}
	}
	source_note(s, t, ITP_ENV_SRC_CPUFREQ, freq_error,
		    "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_cur_freq: %s", freq_cpu,
		    strerror(freq_error));
	source_note(s, t, ITP_ENV_SRC_THERMAL_THROTTLE, throttle_error,
		    "/sys/devices/system/cpu/cpu%u/thermal_throttle/core_throttle_count: %s",
		    throttle_cpu, strerror(throttle_error));
}

/* /proc/pressure/{cpu,io,memory}: "some ... total=US" and "full ... total=US". */
static void read_pressure(struct env_sampler *s, struct env_system_values *sys)
{
	static const char *const names[3] = { "cpu", "io", "memory" };
	static const unsigned ids[3] = { ITP_ENV_SRC_PRESSURE_CPU, ITP_ENV_SRC_PRESSURE_IO,
					 ITP_ENV_SRC_PRESSURE_MEMORY };
	uint64_t *some[3] = { &sys->psi_cpu_some_ns, &sys->psi_io_some_ns, &sys->psi_mem_some_ns };
	uint64_t *full[3] = { &sys->psi_cpu_full_ns, &sys->psi_io_full_ns, &sys->psi_mem_full_ns };
	char buf[512];

	for (int i = 0; i < 3; i++) {
		uint64_t t = now_ns();
		const char *line;
		int error;
		ssize_t n;

		if (s->psi[i].fd < 0) {
			source_note(s, t, ids[i], s->psi[i].error, "/proc/pressure/%s: %s", names[i],
				    strerror(s->psi[i].error));
			continue;
		}
		n = small_read(s->psi[i].fd, buf, sizeof(buf));
		t = now_ns();
		error = n < 0 ? (int)-n : 0;
		for (line = n > 0 ? buf : ""; *line;) {
			const char *total = strstr(line, "total=");
			const char *eol = strchr(line, '\n');
			uint64_t us;

			if (total && (!eol || total < eol)) {
				total += 6;
				if (!parse_u64(&total, &us))
					; /* a malformed total: left missing */
				else if (!strncmp(line, "some ", 5))
					*some[i] = us * 1000;
				else if (!strncmp(line, "full ", 5))
					*full[i] = us * 1000;
			}
			if (!eol)
				break;
			line = eol + 1;
		}
		if (!error && *some[i] == MISSING)
			error = EPROTO;
		source_note(s, t, ids[i], error, "/proc/pressure/%s: %s", names[i],
			    error == EPROTO ? "no \"some ... total=\" line" : strerror(error));
	}
}

/* ---- the command's cgroup ---------------------------------------------- */

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Is @token one of the comma-separated words of @list? */
static bool has_token(const char *list, const char *token)
{
	size_t len = strlen(token);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, token, len) && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

/* "<base><path>" without a trailing "/" for the root cgroup; "" if it
 * does not fit. */
static void cgroup_dir(char *dir, size_t size, const char *base, const char *path)
{
	size_t b = strlen(base), p = strcmp(path, "/") ? strlen(path) : 0;

	if (b + p >= size) {
		dir[0] = '\0';
		return;
	}
	memcpy(dir, base, b);
	memcpy(dir + b, path, p);
	dir[b + p] = '\0';
}

/* A decimal, "-1" or "max" from the kept file @k, and with @second the
 * number after it (cpu.max: "max 100000"); MISSING for none. */
static uint64_t read_quota(const struct kept_file *k, uint64_t *second)
{
	char buf[128];
	const char *p = buf;
	uint64_t v = MISSING;

	if (second)
		*second = MISSING;
	if (k->fd < 0 || small_read(k->fd, buf, sizeof(buf)) <= 0)
		return MISSING;
	if (!parse_u64(&p, &v))
		v = MISSING; /* "-1" (v1) or "max" (v2): no quota */
	if (second) {
		while (*p && *p != ' ')
			p++;
		if (!parse_u64(&p, second))
			*second = MISSING;
	}
	return v;
}

/*
 * Find the cgroup of the command's first pid (again: a test, or a job
 * system, may move it after it started) and its quota; write a CGROUP record
 * when any of it changed. On cgroup v1 the cpu controller's hierarchy, at
 * /sys/fs/cgroup/<controllers> (e.g. cpu,cpuacct) or /sys/fs/cgroup/cpu; on
 * v2 the unified one, at /sys/fs/cgroup or, in the hybrid layout,
 * /sys/fs/cgroup/unified.
 */
static void cgroup_resolve(struct env_sampler *s)
{
	char dir[PATH_MAX] = "", v2_line[PATH_MAX] = "", line_found[PATH_MAX] = "";
	char path[PATH_MAX + 32];
	uint64_t t = now_ns(), quota = MISSING, period = MISSING;
	uint32_t version = 0;
	ssize_t n;

	if (s->cgroup_list.fd < 0) {
		snprintf(s->cg_why, sizeof(s->cg_why), "/proc/%d/cgroup: %s", (int)s->pid,
			 strerror(s->cgroup_list.error));
		goto out;
	}
	n = text_read(s, s->cgroup_list.fd, true, &t);
	if (n < 0) {
		/* the command has been reaped: keep what was found */
		if (s->is_cgroup_written)
			return;
		snprintf(s->cg_why, sizeof(s->cg_why), "/proc/%d/cgroup: %s", (int)s->pid,
			 strerror((int)-n));
		goto out;
	}
	for (char *line = s->text, *next; line && *line; line = next) {
		char *controllers, *cg;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		controllers = strchr(line, ':');
		cg = controllers ? strchr(controllers + 1, ':') : NULL;
		if (!cg)
			continue;
		if (!strcmp(line, s->cg_line)) {
			/* as at the last rescan: no need to look for it again */
			snprintf(dir, sizeof(dir), "%s", s->cg_dir);
			version = s->cg_version;
			break;
		}
		if (!strncmp(line, "0::", 3)) {
			snprintf(v2_line, sizeof(v2_line), "%s", line);
			continue;
		}
		*controllers++ = '\0';
		*cg++ = '\0';
		if (!has_token(controllers, "cpu"))
			continue;
		/* the hierarchy is mounted under the controllers' names */
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", controllers);
		if (!path_exists(path))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu");
		cgroup_dir(dir, sizeof(dir), path, cg);
		cg[-1] = controllers[-1] = ':';
		snprintf(line_found, sizeof(line_found), "%s", line);
		version = 1;
		break;
	}
	if (!version && v2_line[0]) {
		cgroup_dir(dir, sizeof(dir),
			   path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup"
									 : "/sys/fs/cgroup/unified",
			   v2_line + 3);
		snprintf(line_found, sizeof(line_found), "%s", v2_line);
		version = 2;
	}
	if (!version)
		snprintf(s->cg_why, sizeof(s->cg_why),
			 "/proc/%d/cgroup: neither a cpu controller (v1) nor a unified (v2) line",
			 (int)s->pid);
out:
	if (strcmp(dir, s->cg_dir) || version != s->cg_version) {
		static const char *const files[3][2] = {
			{ NULL, NULL },
			{ "cpu.cfs_quota_us", "cpu.cfs_period_us" },
			{ "cpu.max", NULL },
		};

		kept_close(&s->cg_stat);
		kept_close(&s->cg_quota[0]);
		kept_close(&s->cg_quota[1]);
		if (version) {
			snprintf(path, sizeof(path), "%s/cpu.stat", dir);
			kept_open(&s->cg_stat, path);
			if (s->cg_stat.fd < 0)
				snprintf(s->cg_why, sizeof(s->cg_why), "%s: %s", path,
					 strerror(s->cg_stat.error));
			for (int i = 0; i < 2; i++) {
				if (!files[version][i])
					continue;
				snprintf(path, sizeof(path), "%s/%s", dir, files[version][i]);
				kept_open(&s->cg_quota[i], path);
			}
		}
	}
	if (version == 1) {
		quota = read_quota(&s->cg_quota[0], NULL);
		period = read_quota(&s->cg_quota[1], NULL);
	} else if (version == 2) {
		quota = read_quota(&s->cg_quota[0], &period);
	}
	if (version && line_found[0])
		snprintf(s->cg_line, sizeof(s->cg_line), "%s", line_found);
	if (!s->is_cgroup_written || strcmp(dir, s->cg_dir) || version != s->cg_version ||
	    quota != s->cg_quota_us || period != s->cg_period_us) {
		snprintf(s->cg_dir, sizeof(s->cg_dir), "%s", dir);
		s->cg_version = version;
		s->cg_quota_us = quota;
		s->cg_period_us = period;
		s->is_cgroup_written = true;
		env_buf_cgroup(&s->buf, t,
			       &(struct env_cgroup_info){ .quota_us = quota,
							  .period_us = period,
							  .version = version,
							  .path = dir });
	}
}

/* The cgroup's cpu.stat: nr_periods, nr_throttled, throttled_time (v1, ns)
 * or throttled_usec (v2). */
static void read_cgroup_stat(struct env_sampler *s)
{
	struct env_cgroup_stat v = { MISSING, MISSING, MISSING };
	uint64_t t = now_ns();
	int error = 0;
	ssize_t n;

	if (!s->cg_version || s->cg_stat.fd < 0) {
		error = s->cg_version ? s->cg_stat.error : ENOENT;
	} else if ((n = text_read(s, s->cg_stat.fd, true, &t)) < 0) {
		error = (int)-n;
		snprintf(s->cg_why, sizeof(s->cg_why), "%s/cpu.stat: %s", s->cg_dir,
			 strerror(error));
	} else {
		for (const char *line = s->text; line && *line;) {
			const char *p = strchr(line, ' ');
			uint64_t value;

			if (p && parse_u64(&p, &value)) {
				if (!strncmp(line, "nr_periods ", 11))
					v.nr_periods = value;
				else if (!strncmp(line, "nr_throttled ", 13))
					v.nr_throttled = value;
				else if (!strncmp(line, "throttled_time ", 15))
					v.throttled_ns = value;
				else if (!strncmp(line, "throttled_usec ", 15))
					v.throttled_ns = value * 1000;
			}
			line = strchr(line, '\n');
			if (line)
				line++;
		}
		if (v.nr_periods == MISSING) {
			error = ENODATA;
			snprintf(s->cg_why, sizeof(s->cg_why),
				 "%s/cpu.stat: no nr_periods (the cpu controller is not enabled "
				 "for this cgroup)", s->cg_dir);
		}
	}
	source_note(s, t, ITP_ENV_SRC_CGROUP, error, "%s", s->cg_why);
	env_buf_cgroup_stat(&s->buf, t, &v);
}

/* ---- the command's processes and threads ------------------------------- */

static struct env_process *process_find(struct env_sampler *s, pid_t pid)
{
	for (size_t i = 0; i < s->proc_count; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

static struct env_process *process_add(struct env_sampler *s, pid_t pid)
{
	struct env_process *p;

	if (s->proc_count == s->proc_capacity) {
		size_t capacity = s->proc_capacity ? s->proc_capacity * 2 : 8;

		p = realloc(s->procs, capacity * sizeof(*p));
		if (!p)
			return NULL;
		s->procs = p;
		s->proc_capacity = capacity;
	}
	p = &s->procs[s->proc_count++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->map.fd = p->dump.fd = -1;
	p->is_seen = true;
	return p;
}

static void thread_close(struct env_thread *th)
{
	if (th->schedstat_fd >= 0)
		close(th->schedstat_fd);
	if (th->stat_fd >= 0)
		close(th->stat_fd);
	if (th->children_fd >= 0)
		close(th->children_fd);
	th->schedstat_fd = th->stat_fd = th->children_fd = -1;
}

/* Open /proc/@pid/task/@tid/@name; -1 with errno. */
static int task_open(pid_t pid, pid_t tid, const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Read /proc/@pid/task/@th/@name through its kept @fd, or by opening it
 * when there is none. Length, or -errno (-ESRCH, -ENOENT: gone). */
static ssize_t task_read(pid_t pid, const struct env_thread *th, int fd, const char *name,
			 char *buf, size_t size)
{
	ssize_t n;

	if (fd >= 0)
		return small_read(fd, buf, size);
	fd = task_open(pid, th->tid, name);
	if (fd < 0)
		return -errno;
	n = small_read(fd, buf, size);
	close(fd);
	return n;
}

static struct env_thread *thread_add(struct env_process *p, pid_t tid, bool has_children)
{
	struct env_thread *th;

	if (p->thread_count == p->thread_capacity) {
		size_t capacity = p->thread_capacity ? p->thread_capacity * 2 : 8;

		th = realloc(p->threads, capacity * sizeof(*th));
		if (!th)
			return NULL;
		p->threads = th;
		p->thread_capacity = capacity;
	}
	th = &p->threads[p->thread_count++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	/* Kept open: a /proc open costs as much as the read. Out of
	 * descriptors (EMFILE), the thread is read by opening each time. */
	th->schedstat_fd = task_open(p->pid, tid, "schedstat");
	th->stat_fd = task_open(p->pid, tid, "stat");
	th->children_fd = has_children ? task_open(p->pid, tid, "children") : -1;
	th->last = (struct env_task_values){ MISSING, MISSING, MISSING };
	th->is_seen = true;
	return th;
}

/* Add the pids listed in @text (blank-separated) that are not known yet. */
static void processes_add_listed(struct env_sampler *s, const char *text)
{
	const char *p = text;
	uint64_t pid;

	while (*p) {
		while (*p && !isdigit((unsigned char)*p))
			p++;
		if (!parse_u64(&p, &pid))
			break;
		if (pid > 0 && pid <= INT_MAX && !process_find(s, (pid_t)pid))
			process_add(s, (pid_t)pid);
	}
}

/* List the threads of @p (marking them seen, adding new ones) and, with
 * children files, add the processes they started. false if @p is gone. The
 * directory stays open: rewinding it costs a fifth of the path walk of an
 * opendir() (63 -> ~15 us per rescan on the 2-vCPU VM, caches cold). */
static bool process_scan(struct env_sampler *s, size_t index)
{
	struct dirent *entry;
	size_t listed = 0;
	DIR *d = s->procs[index].task_dir;

	if (!d) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/task", (int)s->procs[index].pid);
		d = s->procs[index].task_dir = opendir(path);
		if (!d)
			return false;
	} else {
		rewinddir(d);
	}
	/* a process reaped since lists nothing (readdir fails: ENOENT) */
	while ((entry = readdir(d))) {
		struct env_process *p = &s->procs[index]; /* process_add may move it */
		struct env_thread *th = NULL;
		char *end;
		long tid = strtol(entry->d_name, &end, 10);

		if (tid <= 0 || *end)
			continue;
		listed++;
		for (size_t i = 0; i < p->thread_count; i++)
			if (p->threads[i].tid == tid && !p->threads[i].is_gone)
				th = &p->threads[i];
		if (th)
			th->is_seen = true;
		else
			th = thread_add(p, (pid_t)tid, s->has_children_files);
		if (th && s->has_children_files) {
			char buf[4096];

			if (task_read(p->pid, th, th->children_fd, "children", buf, sizeof(buf)) > 0)
				processes_add_listed(s, buf);
		}
	}
	return listed > 0;
}

/* Without children files (CONFIG_PROC_CHILDREN): every process's parent from
 * /proc/PID/stat, and the known set closed under "child of". */
static void processes_add_by_parent(struct env_sampler *s)
{
	struct pair {
		pid_t pid, ppid;
	} *pairs = NULL;
	size_t count = 0, capacity = 0;
	struct dirent *entry;
	bool is_added = true;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((entry = readdir(d))) {
		char path[64], buf[512];
		const char *p;
		long pid = strtol(entry->d_name, (char **)&p, 10);
		uint64_t ppid;
		int fd;

		if (pid <= 0 || *p)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (small_read(fd, buf, sizeof(buf)) > 0 && (p = strrchr(buf, ')')) &&
		    p[1] == ' ' && p[2] && p[3] == ' ') {
			p += 4; /* ") S " */
			if (parse_u64(&p, &ppid) && count < SIZE_MAX / 2) {
				if (count == capacity) {
					struct pair *more;

					capacity = capacity ? capacity * 2 : 256;
					more = realloc(pairs, capacity * sizeof(*pairs));
					if (!more) {
						close(fd);
						break;
					}
					pairs = more;
				}
				pairs[count++] = (struct pair){ (pid_t)pid, (pid_t)ppid };
			}
		}
		close(fd);
	}
	closedir(d);
	while (is_added) {
		is_added = false;
		for (size_t i = 0; i < count; i++) {
			if (!process_find(s, pairs[i].pid) && process_find(s, pairs[i].ppid)) {
				process_add(s, pairs[i].pid);
				is_added = true;
			}
		}
	}
	free(pairs);
}

static void code_file_close(struct code_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* Close what @p keeps open (its threads' files aside). */
static void process_close(struct env_process *p)
{
	code_file_close(&p->map);
	code_file_close(&p->dump);
	if (p->task_dir)
		closedir(p->task_dir);
	p->task_dir = NULL;
}

static void code_read(struct env_sampler *s, struct env_process *p);

/* Drop the threads marked gone (their TASK_END written). */
static void process_compact(struct env_process *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->thread_count; i++) {
		if (p->threads[i].is_gone)
			continue;
		p->threads[kept++] = p->threads[i];
	}
	p->thread_count = kept;
}

static void thread_end(struct env_sampler *s, uint64_t t, const struct env_process *p,
		       struct env_thread *th)
{
	if (th->is_gone)
		return;
	if (th->is_written)
		env_buf_task_end(&s->buf, t, (uint32_t)p->pid, (uint32_t)th->tid);
	thread_close(th);
	th->is_gone = true;
}

/*
 * Find the command's processes and their threads: the known processes'
 * thread lists, the children each thread started, new code-map files.
 * Threads no longer listed end (TASK_END); processes gone are read a last
 * time for their code maps and forgotten.
 */
static void tasks_rescan(struct env_sampler *s)
{
	uint64_t t = now_ns();
	size_t kept = 0;

	if (!s->proc_count && !process_add(s, s->pid))
		return;
	for (size_t i = 0; i < s->proc_count; i++) {
		s->procs[i].is_seen = false;
		for (size_t k = 0; k < s->procs[i].thread_count; k++)
			s->procs[i].threads[k].is_seen = false;
	}
	if (!s->has_children_files)
		processes_add_by_parent(s);
	/* processes added while scanning are scanned in the same pass */
	for (size_t i = 0; i < s->proc_count; i++)
		s->procs[i].is_seen = process_scan(s, i);
	for (size_t i = 0; i < s->proc_count; i++) {
		struct env_process *p = &s->procs[i];

		for (size_t k = 0; k < p->thread_count; k++)
			if (!p->threads[k].is_seen)
				thread_end(s, t, p, &p->threads[k]);
		process_compact(p);
		if (!p->is_seen) {
			code_read(s, p);
			process_close(p);
			free(p->threads);
			continue;
		}
		s->procs[kept++] = *p;
	}
	s->proc_count = kept;
}

/* From /proc/PID/task/TID/stat: comm (field 2) and processor (field 39). */
static bool parse_task_stat(const char *buf, char comm[ITP_ENV_COMM_LEN], uint64_t *cpu)
{
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	const char *p;
	size_t len;

	if (!open || !close || close < open)
		return false;
	len = (size_t)(close - open - 1);
	if (len > ITP_ENV_COMM_LEN - 1)
		len = ITP_ENV_COMM_LEN - 1;
	memset(comm, 0, ITP_ENV_COMM_LEN);
	memcpy(comm, open + 1, len);
	/* field 3 (state) follows ") "; field 39 is 36 fields later */
	p = close + 2;
	for (int field = 3; field < 39; field++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	return parse_u64(&p, cpu);
}

/* One sample of every thread: schedstat always, stat when it ran (or at a
 * rescan: threads can be renamed by others without running). */
static void read_tasks(struct env_sampler *s, bool is_rescan)
{
	int schedstat_error = 0, stat_error = 0;
	uint64_t t = now_ns();

	for (size_t i = 0; i < s->proc_count; i++) {
		struct env_process *p = &s->procs[i];

		for (size_t k = 0; k < p->thread_count; k++) {
			struct env_thread *th = &p->threads[k];
			struct env_task_values v = th->last;
			char buf[1024], comm[ITP_ENV_COMM_LEN];
			const char *q = buf;
			uint64_t t0 = now_ns();
			ssize_t n;

			memcpy(comm, th->comm, sizeof(comm));
			n = task_read(p->pid, th, th->schedstat_fd, "schedstat", buf, sizeof(buf));
			t = t0 + (now_ns() - t0) / 2;
			if (n == 0 || n == -ESRCH || n == -ENOENT) {
				thread_end(s, t, p, th);
				continue;
			}
			if (n < 0 || !parse_u64(&q, &v.cpu_ns) || !parse_u64(&q, &v.run_delay_ns)) {
				if (!schedstat_error)
					schedstat_error = n < 0 ? (int)-n : EPROTO;
				v.cpu_ns = v.run_delay_ns = MISSING;
			}
			if (!th->is_written || is_rescan || v.cpu_ns != th->last.cpu_ns ||
			    v.run_delay_ns != th->last.run_delay_ns || v.cpu_ns == MISSING) {
				n = task_read(p->pid, th, th->stat_fd, "stat", buf, sizeof(buf));
				if (n == 0 || n == -ESRCH || n == -ENOENT) {
					thread_end(s, t, p, th);
					continue;
				}
				if (n < 0 || !parse_task_stat(buf, comm, &v.last_cpu)) {
					if (!stat_error)
						stat_error = n < 0 ? (int)-n : EPROTO;
					v.last_cpu = MISSING;
				}
			}
			if (memcmp(comm, th->comm, sizeof(comm)) || !th->is_written) {
				memcpy(th->comm, comm, sizeof(comm));
				env_buf_thread_name(&s->buf, t, (uint32_t)p->pid, (uint32_t)th->tid,
						    comm);
			}
			if (!th->is_written || memcmp(&v, &th->last, sizeof(v))) {
				env_buf_task(&s->buf, t, (uint32_t)p->pid, (uint32_t)th->tid, &v);
				th->last = v;
				th->is_written = true;
			}
		}
		process_compact(p);
	}
	source_note(s, t, ITP_ENV_SRC_TASK_SCHEDSTAT, schedstat_error,
		    "/proc/PID/task/TID/schedstat: %s",
		    schedstat_error == EPROTO ? "unexpected contents" : strerror(schedstat_error));
	source_note(s, t, ITP_ENV_SRC_TASK_STAT, stat_error, "/proc/PID/task/TID/stat: %s",
		    stat_error == EPROTO ? "unexpected contents" : strerror(stat_error));
}

/* ---- JIT code maps ----------------------------------------------------- */

/* perf map: lines "START SIZE name", START and SIZE in hex. Parses the whole
 * lines after f->offset. */
static void perf_map_read(struct env_sampler *s, struct code_file *f)
{
	size_t total = 0;

	while (total < CODE_READ_MAX) {
		ssize_t n;
		char *last, *line;

		if (s->text_capacity < CODE_CHUNK + 1) {
			char *p = realloc(s->text, CODE_CHUNK + 1);

			if (!p)
				return;
			s->text = p;
			s->text_capacity = CODE_CHUNK + 1;
		}
		do
			n = pread(f->fd, s->text, CODE_CHUNK, (off_t)f->offset);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return;
		s->text[n] = '\0';
		last = memrchr(s->text, '\n', (size_t)n);
		if (!last) {
			if (n < (ssize_t)CODE_CHUNK)
				return; /* a line being written */
			f->offset += (uint64_t)n; /* a line longer than a chunk: skip it */
			continue;
		}
		*last = '\0';
		for (line = s->text; line && line <= last; ) {
			char *eol = strchr(line, '\n');
			char *p = line;
			unsigned long long start, size;

			if (eol)
				*eol = '\0';
			errno = 0;
			start = strtoull(line, &p, 16);
			(void)start;
			if (p != line && *p == ' ') {
				char *q = p + 1;

				size = strtoull(q, &p, 16);
				if (p != q && !errno) {
					f->entries++;
					f->bytes += size;
				}
			}
			line = eol ? eol + 1 : NULL;
		}
		f->offset += (uint64_t)(last - s->text) + 1;
		total += (size_t)(last - s->text) + 1;
		if (n < (ssize_t)CODE_CHUNK)
			return;
	}
}

static uint32_t get32(const uint8_t *p, bool is_swapped)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;

	return is_swapped ? __builtin_bswap32(v) : v;
}

static uint64_t get64(const uint8_t *p, bool is_swapped)
{
	uint64_t lo = get32(p, false), hi = get32(p + 4, false);
	uint64_t v = lo | hi << 32;

	return is_swapped ? __builtin_bswap64(v) : v;
}

#define JITDUMP_MAGIC 0x4A695444u /* "JiTD" */
#define JITDUMP_HEADER_MIN 40u
#define JITDUMP_RECORD_HEADER 16u
#define JIT_CODE_LOAD 0u
#define JIT_CODE_LOAD_OFF_CODE_SIZE 40u /* after id, size, timestamp, pid,
					  tid, vma, code_addr */

/*
 * jitdump (tools/perf/Documentation/jitdump-specification.txt): a header
 * (magic "JiTD" 0x4A695444 in the writer's byte order, version, total_size =
 * the header's size, ...), then records of {u32 id, u32 total_size, u64
 * timestamp, payload}. JIT_CODE_LOAD (id 0) has code_size at byte 40. Only
 * records wholly in the file are counted (the JIT may be writing one).
 */
static void jitdump_read(struct env_sampler *s, struct code_file *f)
{
	uint8_t buf[CODE_CHUNK];
	uint64_t parsed = 0;
	struct stat st;

	if (fstat(f->fd, &st) != 0 || (uint64_t)st.st_size <= f->offset)
		return;
	if (!f->is_header_read) {
		uint32_t magic, size;

		if (pread(f->fd, buf, JITDUMP_HEADER_MIN, 0) != JITDUMP_HEADER_MIN)
			return; /* being written */
		magic = get32(buf, false);
		if (magic != JITDUMP_MAGIC && magic != __builtin_bswap32(JITDUMP_MAGIC)) {
			f->is_damaged = true;
			return;
		}
		f->is_swapped = magic != JITDUMP_MAGIC;
		size = get32(buf + 8, f->is_swapped);
		if (size < 12) {
			f->is_damaged = true;
			return;
		}
		f->offset = size;
		f->is_header_read = true;
	}
	while (parsed < CODE_READ_MAX && f->offset < (uint64_t)st.st_size) {
		ssize_t n;
		size_t pos = 0;

		do
			n = pread(f->fd, buf, sizeof(buf), (off_t)f->offset);
		while (n < 0 && errno == EINTR);
		if (n < (ssize_t)JITDUMP_RECORD_HEADER)
			return;
		while (pos + JITDUMP_RECORD_HEADER <= (size_t)n) {
			uint32_t id = get32(buf + pos, f->is_swapped);
			uint32_t size = get32(buf + pos + 4, f->is_swapped);

			if (size < JITDUMP_RECORD_HEADER) {
				f->is_damaged = true;
				return;
			}
			if (f->offset + pos + size > (uint64_t)st.st_size)
				break; /* not wholly written yet */
			if (id == JIT_CODE_LOAD) {
				if (size < JIT_CODE_LOAD_OFF_CODE_SIZE + 8) {
					f->is_damaged = true;
					return;
				}
				if (pos + JIT_CODE_LOAD_OFF_CODE_SIZE + 8 > (size_t)n)
					break; /* read again from this record */
				f->entries++;
				f->bytes += get64(buf + pos + JIT_CODE_LOAD_OFF_CODE_SIZE,
						  f->is_swapped);
			}
			pos += size; /* may pass the buffer: the code is skipped */
		}
		if (!pos)
			return;
		f->offset += pos;
		parsed += pos;
	}
}

/* Open /tmp/perf-<pid>.map or /tmp/jit-<pid>.dump if it exists now. */
static void code_file_open(struct code_file *f, bool is_dump, pid_t pid)
{
	char path[64];

	if (f->fd >= 0 || f->is_damaged)
		return;
	if (is_dump)
		snprintf(path, sizeof(path), "/tmp/jit-%d.dump", (int)pid);
	else
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)pid);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
}

/* The process's perf map and jitdump: new entries since the last read, and
 * a CODE record when the totals changed. */
static void code_read(struct env_sampler *s, struct env_process *p)
{
	struct env_code_values v;

	if (p->map.fd >= 0)
		perf_map_read(s, &p->map);
	if (p->dump.fd >= 0 && !p->dump.is_damaged)
		jitdump_read(s, &p->dump);
	v.map_entries = p->map.fd >= 0 ? p->map.entries : MISSING;
	v.map_bytes = p->map.fd >= 0 ? p->map.bytes : MISSING;
	v.dump_entries = p->dump.fd >= 0 && !p->dump.is_damaged ? p->dump.entries : MISSING;
	v.dump_bytes = p->dump.fd >= 0 && !p->dump.is_damaged ? p->dump.bytes : MISSING;
	if (!p->is_code_written || memcmp(&v, &p->code_written, sizeof(v))) {
		env_buf_code(&s->buf, now_ns(), (uint32_t)p->pid, &v);
		p->code_written = v;
		p->is_code_written = true;
	}
}

/* ---- one sample --------------------------------------------------------- */

void env_sampler_sample(struct env_sampler *s, bool is_last)
{
	struct env_system_values sys;
	uint64_t t = now_ns(), stat_t;
	bool is_rescan = is_last || s->seq % s->rescan_every == 0;
	int err;

	if (s->write_error)
		return;
	env_buf_sample(&s->buf, t, s->seq,
		       (is_rescan ? ITP_ENV_SAMPLE_RESCAN : 0) | (is_last ? ITP_ENV_SAMPLE_LAST : 0),
		       clock_ns(CLOCK_THREAD_CPUTIME_ID));
	if (is_rescan) {
		tasks_rescan(s);
		/* Not in the last sample: the command is a zombie by then, and
		 * an exiting task is put back in the root cgroup (v1). */
		if (!is_last || !s->is_cgroup_written)
			cgroup_resolve(s);
	}
	/* Looked for at every sample until found (a failed open, ~2 us): the
	 * entries a runtime wrote before the first reading count as its
	 * baseline, so a late first reading would hide its first compilations. */
	for (size_t i = 0; i < s->proc_count; i++) {
		code_file_open(&s->procs[i].map, false, s->procs[i].pid);
		code_file_open(&s->procs[i].dump, true, s->procs[i].pid);
	}

	for (unsigned cpu = 0; cpu < s->cpu_count; cpu++)
		s->cpus[cpu] = (struct env_cpu_values){ MISSING, MISSING, MISSING, MISSING,
							MISSING, MISSING, MISSING, MISSING };
	memset(&sys, 0xff, sizeof(sys)); /* every field MISSING */
	stat_t = read_proc_stat(s, &sys);
	if (is_last || s->seq % s->interrupts_every == 0)
		read_per_cpu_counts(s, &s->interrupts, "/proc/interrupts", ITP_ENV_SRC_INTERRUPTS,
				    false, offsetof(struct env_cpu_values, irq_count));
	else
		for (unsigned cpu = 0; cpu < s->cpu_count; cpu++)
			s->cpus[cpu].irq_count = ITP_ENV_NOT_SAMPLED;
	read_per_cpu_counts(s, &s->softirqs, "/proc/softirqs", ITP_ENV_SRC_SOFTIRQS, true,
			    offsetof(struct env_cpu_values, softirq_count));
	read_cpu_sysfs(s);
	/* A CPU record is stamped with the /proc/stat read: its times are the
	 * quantities that matter most and move most. */
	for (unsigned cpu = 0; cpu < s->cpu_count; cpu++)
		env_buf_cpu(&s->buf, stat_t, cpu, &s->cpus[cpu]);
	/* Pressure totals are read at each rescan only (~50 ms): three reads,
	 * 22 us of a 165 us sample on the 2-vCPU VM, for totals that
	 * schedstat's run delay of each thread already gives exactly. */
	if (is_rescan)
		read_pressure(s, &sys);
	else
		sys.psi_cpu_some_ns = sys.psi_cpu_full_ns = sys.psi_io_some_ns =
			sys.psi_io_full_ns = sys.psi_mem_some_ns = sys.psi_mem_full_ns =
				ITP_ENV_NOT_SAMPLED;
	env_buf_system(&s->buf, stat_t, &sys);
	/* cpu.stat moves at most once per CFS period (100 ms by default):
	 * read at each rescan (~50 ms) only. */
	if (is_rescan)
		read_cgroup_stat(s);
	read_tasks(s, is_rescan);
	for (size_t i = 0; i < s->proc_count; i++)
		code_read(s, &s->procs[i]);

	s->seq++;
	/* One write per rescan (~50 ms), not per sample: a write costs 16 us
	 * of a sample on the 2-vCPU VM; a killed launcher loses at most the
	 * samples since the last one. */
	if (is_rescan || s->buf.len >= WRITE_BATCH) {
		err = env_buf_write(&s->buf, s->fd);
		if (err)
			s->write_error = err;
	}
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Budget of the /proc/interrupts reads: a share of one CPU; and the
 * longest time between two reads, in rescans (~50 ms each). */
#define INTERRUPTS_BUDGET_PER_MILLE 1.0
#define INTERRUPTS_MAX_RESCANS 5

/*
 * Every how many samples to read /proc/interrupts. One read walks every
 * possible IRQ number, used or not, with a descriptor lookup each: 82 us of
 * CPU on the 2-vCPU VM for 20 IRQs in use (117 us when caches are cold, as
 * they are 10 ms after the last sample), where /proc/stat costs 10 us and
 * /proc/softirqs 3.5 us. So its cost is measured here (the cheapest of 3
 * reads) and it is read every sample when that costs at most 0.1 % of a CPU,
 * else every k-th sample, k = cost / budget rounded up, but at least every 5
 * rescans (~250 ms). Here: every 9 samples at 10 ms (~90 ms).
 */
static unsigned interrupts_cadence(struct env_sampler *s)
{
	double budget_ns = (double)s->interval_ns * INTERRUPTS_BUDGET_PER_MILLE / 1000.0;
	uint64_t best = UINT64_MAX;
	unsigned every;

	if (s->interrupts.fd < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t;

		if (text_read(s, s->interrupts.fd, false, &t) < 0)
			return 1;
		t = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
		if (t < best)
			best = t;
	}
	every = (unsigned)((double)best / budget_ns + 0.999);
	if (every < 1)
		every = 1;
	if (every > s->rescan_every * INTERRUPTS_MAX_RESCANS)
		every = s->rescan_every * INTERRUPTS_MAX_RESCANS;
	return every;
}

int env_sampler_open(const char *file, pid_t pid, uint64_t interval_ns,
		     struct env_sampler **out, char *why, size_t why_len)
{
	struct env_sampler *s;
	char path[128];
	long n;
	int err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->file = strdup(file))) {
		free(s);
		snprintf(why, why_len, "%s: out of memory", file);
		return -ENOMEM;
	}
	s->fd = s->stop_fd = s->timer_fd = -1;
	s->stat.fd = s->interrupts.fd = s->softirqs.fd = s->cgroup_list.fd = s->cg_stat.fd = -1;
	for (int i = 0; i < 3; i++)
		s->psi[i].fd = -1;
	s->pid = pid;
	s->interval_ns = interval_ns;
	s->rescan_every = interval_ns >= RESCAN_NS ? 1 : (unsigned)(RESCAN_NS / interval_ns);
	n = sysconf(_SC_NPROCESSORS_CONF);
	s->cpu_count = n < 1 ? 1 : n > (long)ITP_ENV_MAX_CPUS ? ITP_ENV_MAX_CPUS : (unsigned)n;
	s->clk_tck = sysconf(_SC_CLK_TCK);
	if (s->clk_tck <= 0)
		s->clk_tck = 100;
	s->cg_quota_us = s->cg_period_us = MISSING;

	s->cpus = calloc(s->cpu_count, sizeof(*s->cpus));
	s->column_sums = calloc(s->cpu_count, sizeof(*s->column_sums));
	s->column_cpu = calloc(s->cpu_count, sizeof(*s->column_cpu));
	s->column_row = calloc(s->cpu_count, sizeof(*s->column_row));
	s->freq = calloc(s->cpu_count, sizeof(*s->freq));
	s->core_throttle = calloc(s->cpu_count, sizeof(*s->core_throttle));
	s->package_throttle = calloc(s->cpu_count, sizeof(*s->package_throttle));
	for (unsigned cpu = 0; s->freq && cpu < s->cpu_count; cpu++)
		s->freq[cpu].fd = -1;
	for (unsigned cpu = 0; s->core_throttle && cpu < s->cpu_count; cpu++)
		s->core_throttle[cpu].fd = -1;
	for (unsigned cpu = 0; s->package_throttle && cpu < s->cpu_count; cpu++)
		s->package_throttle[cpu].fd = -1;
	if (!s->cpus || !s->column_sums || !s->column_cpu || !s->column_row || !s->freq ||
	    !s->core_throttle || !s->package_throttle) {
		snprintf(why, why_len, "%s: out of memory", file);
		err = -ENOMEM;
		goto fail;
	}
	/* cpufreq and thermal_throttle are looked for once: reopening absent
	 * files on every rescan would cost 3 opens per CPU each time. */
	for (unsigned cpu = 0; cpu < s->cpu_count; cpu++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_cur_freq",
			 cpu);
		kept_open(&s->freq[cpu], path);
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%u/thermal_throttle/core_throttle_count", cpu);
		kept_open(&s->core_throttle[cpu], path);
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%u/thermal_throttle/package_throttle_count",
			 cpu);
		kept_open(&s->package_throttle[cpu], path);
	}
	kept_open(&s->stat, "/proc/stat");
	kept_open(&s->interrupts, "/proc/interrupts");
	s->interrupts_every = interrupts_cadence(s);
	kept_open(&s->softirqs, "/proc/softirqs");
	kept_open(&s->psi[0], "/proc/pressure/cpu");
	kept_open(&s->psi[1], "/proc/pressure/io");
	kept_open(&s->psi[2], "/proc/pressure/memory");
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	kept_open(&s->cgroup_list, path);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	s->has_children_files = path_exists(path);

	s->fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", file, strerror(errno));
		goto fail;
	}
	env_buf_header(&s->buf, &(struct env_header_info){ .interval_ns = interval_ns,
							   .start_ns = now_ns(),
							   .cpu_count = s->cpu_count,
							   .clk_tck = (uint32_t)s->clk_tck,
							   .pid = (uint32_t)pid,
							   .clock_id = CLOCK_MONOTONIC });
	err = env_buf_write(&s->buf, s->fd);
	if (err) {
		snprintf(why, why_len, "%s: write: %s", file, strerror(-err));
		goto fail;
	}
	*out = s;
	return 0;

fail:
	env_sampler_close(s, NULL, 0);
	return err;
}

static void *sampler_thread(void *arg)
{
	struct env_sampler *s = arg;

	env_sampler_sample(s, false);
	for (;;) {
		struct pollfd fds[2] = { { .fd = s->timer_fd, .events = POLLIN },
					 { .fd = s->stop_fd, .events = POLLIN } };
		uint64_t expirations;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		/* More than one expiration: a sample took longer than the
		 * interval (or the thread was not scheduled); the missed ones
		 * are skipped, not caught up. */
		if (fds[0].revents && read(s->timer_fd, &expirations, sizeof(expirations)) > 0)
			env_sampler_sample(s, false);
	}
	env_sampler_sample(s, true);
	return NULL;
}

int env_sampler_start(struct env_sampler *s, char *why, size_t why_len)
{
	struct itimerspec period = {
		.it_interval = { (time_t)(s->interval_ns / 1000000000u),
				 (long)(s->interval_ns % 1000000000u) },
	};
	sigset_t all, old;
	int err;

	period.it_value = period.it_interval;
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->timer_fd < 0 || s->stop_fd < 0 || timerfd_settime(s->timer_fd, 0, &period, NULL)) {
		err = -errno;
		snprintf(why, why_len, "%s: cannot start the sampler: %s", s->file, strerror(errno));
		return err;
	}
	/* The thread inherits a mask that blocks every signal: the launcher's
	 * forwarding handler runs in the main thread only, as before. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&s->thread, NULL, sampler_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		snprintf(why, why_len, "%s: cannot start the sampler: %s", s->file, strerror(-err));
		return err;
	}
	s->is_started = true;
	return 0;
}

int env_sampler_close(struct env_sampler *s, char *why, size_t why_len)
{
	int err;

	if (!s)
		return 0;
	if (s->is_started) {
		uint64_t one = 1;

		if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one)) {
			/* an eventfd write of 1 cannot fail; join anyway */
		}
		pthread_join(s->thread, NULL);
	}
	err = s->write_error;
	if (err && why)
		snprintf(why, why_len, "%s: write: %s (the timeline ends at the last sample "
			 "written)", s->file, strerror(-err));
	if (s->fd >= 0 && close(s->fd) != 0 && !err) {
		err = -errno;
		if (why)
			snprintf(why, why_len, "%s: close: %s", s->file, strerror(errno));
	}
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	kept_close(&s->stat);
	kept_close(&s->interrupts);
	kept_close(&s->softirqs);
	for (int i = 0; i < 3; i++)
		kept_close(&s->psi[i]);
	kept_close(&s->cgroup_list);
	kept_close(&s->cg_stat);
	for (unsigned cpu = 0; s->freq && cpu < s->cpu_count; cpu++)
		kept_close(&s->freq[cpu]);
	for (unsigned cpu = 0; s->core_throttle && cpu < s->cpu_count; cpu++)
		kept_close(&s->core_throttle[cpu]);
	for (unsigned cpu = 0; s->package_throttle && cpu < s->cpu_count; cpu++)
		kept_close(&s->package_throttle[cpu]);
	for (size_t i = 0; i < s->proc_count; i++) {
		for (size_t k = 0; k < s->procs[i].thread_count; k++)
			thread_close(&s->procs[i].threads[k]);
		free(s->procs[i].threads);
		process_close(&s->procs[i]);
	}
	free(s->procs);
	free(s->freq);
	free(s->core_throttle);
	free(s->package_throttle);
	free(s->cpus);
	free(s->column_sums);
	free(s->column_cpu);
	free(s->column_row);
	free(s->text);
	env_buf_free(&s->buf);
	free(s->file);
	free(s);
	return err;
}

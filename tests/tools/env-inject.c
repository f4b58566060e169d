/*
 * env-inject: the test tool that puts steal time and thermal throttle
 * events into a recorded environment timeline (not installed).
 *
 *   env-inject FILE [--steal CPU:T_NS:NS]... [--throttle CPU:T_NS:COUNT]...
 *
 * Steal and thermal throttling cannot be caused on purpose on a test
 * machine, so tests/e2e/test_env_recorded.py records a real benchmark and
 * then rewrites its timeline (FILE, <recording>/iterprof-env.timeline, the
 * format of include/iterprof/env-format.h) in place, as if the machine had
 * had them:
 *
 *   --steal CPU:T_NS:NS       CPU's cumulative steal time grows by NS ns at
 *                             CLOCK_MONOTONIC time T_NS: NS is added to the
 *                             steal_ns of every CPU record of CPU stamped at
 *                             or after T_NS. A reader interpolating between
 *                             samples sees the increase in the sampling
 *                             window that holds T_NS, and only there.
 *   --throttle CPU:T_NS:COUNT the same for the thermal throttle count. A
 *                             machine without the counters (the value is
 *                             ITP_ENV_MISSING) is first given counters at 0
 *                             on every CPU, and its thermal_throttle SOURCE
 *                             records are marked available.
 *
 * Only CPU and SOURCE records are changed, in place: the file keeps its
 * size and every other byte. Each T_NS must lie between two CPU records of
 * its CPU, so that the increase falls inside the timeline.
 *
 * Prints "env-inject: R CPU records changed" on stdout. Exit 0; 2 on bad
 * usage, a file that is not a timeline, or a time outside it; 1 when the
 * file cannot be read or written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iterprof/env-format.h>

#define MAX_CHANGES 64

struct change {
	bool is_throttle; /* else steal */
	uint32_t cpu;
	uint64_t t, amount;
	bool has_before, has_after; /* CPU records of cpu on both sides of t */
};

static int usage(void)
{
	fprintf(stderr, "usage: env-inject FILE [--steal CPU:T_NS:NS]... "
			"[--throttle CPU:T_NS:COUNT]...\n");
	return 2;
}

/* "CPU:T_NS:AMOUNT" into @c; false when it is not that. */
static bool parse_change(const char *arg, struct change *c)
{
	char *end;
	unsigned long long cpu, t, amount;

	errno = 0;
	cpu = strtoull(arg, &end, 10);
	if (errno || end == arg || *end != ':' || cpu >= ITP_ENV_MAX_CPUS)
		return false;
	arg = end + 1;
	t = strtoull(arg, &end, 10);
	if (errno || end == arg || *end != ':')
		return false;
	arg = end + 1;
	amount = strtoull(arg, &end, 10);
	if (errno || end == arg || *end)
		return false;
	c->cpu = (uint32_t)cpu;
	c->t = t;
	c->amount = amount;
	return true;
}

/* The whole file, in a buffer the caller frees; NULL with errno set. */
static uint8_t *read_all(int fd, size_t *size)
{
	struct stat st;
	uint8_t *data;
	size_t got = 0;

	if (fstat(fd, &st))
		return NULL;
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data)
		return NULL;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than fstat said */
			if (n < 0 && errno == EINTR)
				continue;
			free(data);
			return NULL;
		}
		got += (size_t)n;
	}
	*size = got;
	return data;
}

static int write_all(int fd, const uint8_t *data, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* A SOURCE record of thermal_throttle: say it was read. */
static void mark_available(uint8_t *r, uint32_t size)
{
	uint16_t name_len = itp_env_get16(r + ITP_ENV_SOURCE_OFF_NAME_LEN);
	size_t why_at = ITP_ENV_SOURCE_OFF_STRINGS + (size_t)name_len + 1;

	itp_env_put16(r + ITP_ENV_SOURCE_OFF_FLAGS, ITP_ENV_SOURCE_AVAILABLE);
	itp_env_put32(r + ITP_ENV_SOURCE_OFF_ERROR, 0);
	itp_env_put16(r + ITP_ENV_SOURCE_OFF_WHY_LEN, 0);
	if (why_at < size)
		memset(r + why_at, 0, size - why_at);
}

/*
 * Apply @changes to the records of @data. Returns the CPU records changed,
 * or -1 after printing why the file is not a timeline this tool can change.
 */
static long inject(uint8_t *data, size_t size, struct change *changes, size_t nchanges)
{
	bool has_throttle = false;
	uint32_t ncpus;
	size_t off;
	long changed = 0;

	if (size < ITP_ENV_HEADER_SIZE || memcmp(data, ITP_ENV_MAGIC, ITP_ENV_MAGIC_LEN) ||
	    itp_env_get16(data + ITP_ENV_OFF_VERSION_MAJOR) != ITP_ENV_VERSION_MAJOR ||
	    itp_env_get32(data + ITP_ENV_OFF_ENDIAN_TAG) != ITP_ENV_ENDIAN_TAG ||
	    itp_env_get32(data + ITP_ENV_OFF_HEADER_SIZE) < ITP_ENV_HEADER_SIZE ||
	    itp_env_get32(data + ITP_ENV_OFF_HEADER_SIZE) > size) {
		fprintf(stderr, "env-inject: not an environment timeline of version %d\n",
			ITP_ENV_VERSION_MAJOR);
		return -1;
	}
	ncpus = itp_env_get32(data + ITP_ENV_OFF_CPU_COUNT);
	for (size_t k = 0; k < nchanges; k++) {
		if (changes[k].cpu >= ncpus) {
			fprintf(stderr,
				"env-inject: CPU %" PRIu32 " not in the timeline (%" PRIu32
				" CPUs)\n",
				changes[k].cpu, ncpus);
			return -1;
		}
		has_throttle |= changes[k].is_throttle;
	}
	/* Records up to the last whole one: a cut last record stays as it is
	 * (the reader ignores it too). */
	for (off = itp_env_get32(data + ITP_ENV_OFF_HEADER_SIZE);
	     off + ITP_ENV_RECORD_HEADER_SIZE <= size;) {
		uint8_t *r = data + off;
		uint16_t type = itp_env_get16(r + ITP_ENV_REC_OFF_TYPE);
		uint32_t rsize = itp_env_get32(r + ITP_ENV_REC_OFF_SIZE);
		uint64_t t = itp_env_get64(r + ITP_ENV_REC_OFF_TIME_NS);

		if (rsize < ITP_ENV_RECORD_HEADER_SIZE || rsize % 8 || rsize > ITP_ENV_MAX_RECORD) {
			fprintf(stderr, "env-inject: record of %" PRIu32 " bytes at offset %zu\n",
				rsize, off);
			return -1;
		}
		if (off + rsize > size)
			break;
		if (type == ITP_ENV_REC_SOURCE && has_throttle &&
		    rsize > ITP_ENV_SOURCE_OFF_STRINGS &&
		    itp_env_get16(r + ITP_ENV_SOURCE_OFF_SOURCE) == ITP_ENV_SRC_THERMAL_THROTTLE)
			mark_available(r, rsize);
		if (type == ITP_ENV_REC_CPU && rsize >= ITP_ENV_CPU_SIZE) {
			uint32_t cpu = itp_env_get32(r + ITP_ENV_CPU_OFF_CPU);
			uint64_t steal = itp_env_get64(r + ITP_ENV_CPU_OFF_STEAL_NS);
			uint64_t throttles = itp_env_get64(r + ITP_ENV_CPU_OFF_THROTTLE_COUNT);
			bool is_changed = false;

			if (has_throttle && throttles == ITP_ENV_MISSING) {
				throttles = 0;
				is_changed = true;
			}
			for (size_t k = 0; k < nchanges; k++) {
				struct change *c = &changes[k];
				uint64_t *v = c->is_throttle ? &throttles : &steal;

				if (c->cpu != cpu)
					continue;
				if (t < c->t) {
					c->has_before = true;
					continue;
				}
				c->has_after = true;
				/* a value not read (or not sampled) stays so */
				if (*v < ITP_ENV_NOT_SAMPLED) {
					*v += c->amount;
					is_changed = true;
				}
			}
			itp_env_put64(r + ITP_ENV_CPU_OFF_STEAL_NS, steal);
			itp_env_put64(r + ITP_ENV_CPU_OFF_THROTTLE_COUNT, throttles);
			changed += is_changed;
		}
		off += rsize;
	}
	for (size_t k = 0; k < nchanges; k++)
		if (!changes[k].has_before || !changes[k].has_after) {
			fprintf(stderr,
				"env-inject: time %" PRIu64 " is not between two samples "
				"of CPU %" PRIu32 "\n",
				changes[k].t, changes[k].cpu);
			return -1;
		}
	return changed;
}

int main(int argc, char **argv)
{
	struct change changes[MAX_CHANGES];
	size_t nchanges = 0, size = 0;
	const char *path;
	uint8_t *data;
	long changed;
	int fd;

	if (argc < 2 || argv[1][0] == '-')
		return usage();
	path = argv[1];
	for (int i = 2; i < argc; i++) {
		bool is_throttle = !strcmp(argv[i], "--throttle");

		if ((!is_throttle && strcmp(argv[i], "--steal")) || i + 1 >= argc ||
		    nchanges == MAX_CHANGES)
			return usage();
		changes[nchanges] = (struct change){ .is_throttle = is_throttle };
		if (!parse_change(argv[++i], &changes[nchanges]))
			return usage();
		nchanges++;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "env-inject: %s: %s\n", path, strerror(errno));
		return 1;
	}
	data = read_all(fd, &size);
	if (!data) {
		fprintf(stderr, "env-inject: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	changed = inject(data, size, changes, nchanges);
	if (changed < 0) {
		free(data);
		close(fd);
		return 2;
	}
	if (write_all(fd, data, size) || close(fd)) {
		fprintf(stderr, "env-inject: %s: %s\n", path, strerror(errno));
		free(data);
		return 1;
	}
	free(data);
	printf("env-inject: %ld CPU records changed\n", changed);
	return 0;
}

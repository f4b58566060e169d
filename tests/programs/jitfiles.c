/*
 * jitfiles: a benchmark whose "JIT" is known only through the files it
 * writes for profilers, for tests/e2e/test_jit_files.py.
 *
 *   jitfiles --format map|dump [-n N] [-w US] [--at LIST] [--slow LIST] [-k K]
 *
 *   --format   map: /tmp/perf-<pid>.map, one "START SIZE name" line per
 *              code object; dump: /tmp/jit-<pid>.dump, jitdump
 *              (tools/perf/Documentation/jitdump-specification.txt): the
 *              file header, then one JIT_CODE_LOAD record per code object
 *   -n         iterations of region "step" (default 40)
 *   -w         on-CPU work per iteration in µs (default 20000)
 *   --at LIST  1-based iterations that "compile" (at-list.h): 3 times the
 *              work more, in K slices, each followed by the entry of the
 *              code object it made (a JIT announces a function once it is
 *              compiled); at most 64 of them
 *   --slow LIST  iterations that do the same extra work but write nothing:
 *              slow for another reason, which `jit` must not be charged
 *   -k         code objects per compiling iteration (default 5)
 *
 * What it does not do is the point: it never makes memory executable (no
 * mmap or mprotect with PROT_EXEC, no dlopen), so the shim's code-events
 * stay 0 and only the files, read by `iterprof record`'s environment
 * sampler from outside (analyzer/env-sampler.c), can tell the analyzer
 * that code was made. The code objects' addresses are made up.
 *
 * Where the files are: the sampler reads /tmp/perf-<pid>.map and
 * /tmp/jit-<pid>.dump only (perf's own lookup of a jitdump goes through the
 * runtime's mmap of the file with PROT_EXEC, in the perf.data; a runtime
 * writing for perf puts it there or in ~/.debug/jit). That mmap is left
 * out: the sampler does not need it and the shim would count it as a code
 * event, which is what this program must not have.
 *
 * Work is spun on the thread's CPU clock, so an iteration does the same
 * on-CPU work however often it is preempted: the excess of a compiling
 * iteration is on-CPU (where `jit` is charged), the rest is the machine's.
 *
 * The file is created with its empty state (jitdump: the header) before the
 * loop, and the loop starts 50 ms later: the sampler takes what it first
 * reads as the runtime's baseline (env-sampler.c, env_sampler_sample), so
 * entries it has not seen empty first would never count. Each entry is one
 * write(2) (the sampler counts whole lines and whole records only, but a
 * single write also keeps a reader from waiting on a half). The file is
 * removed at exit.
 *
 * Prints "jitfiles: pid P file PATH" at start and "jitfiles: pid P wrote E
 * entries" at exit on stdout; exit 0, 2 on bad usage, 1 on a failed write.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "at-list.h"

#include <iterprof/iterprof.h>

#define MAX_AT 64
#define CODE_SIZE 16u /* bytes of "code" per jitdump record */
#define CODE_BASE 0x7f0000000000ull

static volatile unsigned long sink;
static int fd = -1;
static int is_dump;
static char path[64];
static long entries;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy for @us µs of this thread's CPU time. */
static void spin_us(double us)
{
	uint64_t end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + (uint64_t)(us * 1000);

	while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (unsigned i = 0; i < 2000; i++)
			sink += i * 2654435761u;
}

static void write_all(const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
}

static void put32(unsigned char **p, uint32_t v)
{
	memcpy(*p, &v, 4);
	*p += 4;
}

static void put64(unsigned char **p, uint64_t v)
{
	memcpy(*p, &v, 8);
	*p += 8;
}

/* The file, with what a runtime writes at start-up: nothing (perf map) or
 * the 40-byte jitdump header (magic, version 1, header size, e_machine
 * x86-64, pad, pid, timestamp, flags), in this machine's byte order. */
static void code_file_create(void)
{
	unsigned char header[40], *p = header;

	snprintf(path, sizeof(path), is_dump ? "/tmp/jit-%d.dump" : "/tmp/perf-%d.map",
		 (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	if (!is_dump)
		return;
	put32(&p, 0x4A695444); /* "JiTD" */
	put32(&p, 1);
	put32(&p, sizeof(header));
	put32(&p, 62);
	put32(&p, 0);
	put32(&p, (uint32_t)getpid());
	put64(&p, clock_ns(CLOCK_MONOTONIC));
	put64(&p, 0);
	write_all(header, sizeof(header));
}

/* One code object: a perf map line, or a JIT_CODE_LOAD record (header: id
 * 0, total size, timestamp; pid, tid, vma, code_addr, code_size,
 * code_index, the name with its NUL, the code). */
static void code_file_add(long iteration, int k)
{
	uint64_t addr = CODE_BASE + (uint64_t)entries * 0x1000;
	unsigned char rec[160], *p = rec;
	char name[48];
	int len = snprintf(name, sizeof(name), "jitfiles_fn_%ld_%d", iteration, k);

	if (!is_dump) {
		char line[96];
		int n = snprintf(line, sizeof(line), "%llx %x %s\n", (unsigned long long)addr,
				 CODE_SIZE, name);

		write_all(line, (size_t)n);
		entries++;
		return;
	}
	put32(&p, 0);
	put32(&p, (uint32_t)(16 + 4 + 4 + 8 * 4 + (size_t)len + 1 + CODE_SIZE));
	put64(&p, clock_ns(CLOCK_MONOTONIC));
	put32(&p, (uint32_t)getpid());
	put32(&p, (uint32_t)gettid());
	put64(&p, addr);
	put64(&p, addr);
	put64(&p, CODE_SIZE);
	put64(&p, (uint64_t)entries);
	memcpy(p, name, (size_t)len + 1);
	p += len + 1;
	memset(p, 0xc3, CODE_SIZE); /* bytes in a file, never executed */
	p += CODE_SIZE;
	write_all(rec, (size_t)(p - rec));
	entries++;
}

static void usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of tests/programs/jitfiles.c\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long iterations = 40, at[MAX_AT], slow[MAX_AT];
	double work_us = 20000;
	int at_count = 0, slow_count = 0, per_compile = 5, has_format = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--format")) {
			if (strcmp(v, "map") && strcmp(v, "dump"))
				usage();
			is_dump = !strcmp(v, "dump");
			has_format = 1;
		} else if (!strcmp(a, "-n")) {
			iterations = atol(v);
		} else if (!strcmp(a, "-w")) {
			work_us = atof(v);
		} else if (!strcmp(a, "--at")) {
			at_count = parse_at(v, at, MAX_AT);
			if (at_count < 0)
				usage();
		} else if (!strcmp(a, "--slow")) {
			slow_count = parse_at(v, slow, MAX_AT);
			if (slow_count < 0)
				usage();
		} else if (!strcmp(a, "-k")) {
			per_compile = atoi(v);
		} else {
			usage();
		}
	}
	if (!has_format || iterations < 1 || !(work_us > 0) || per_compile < 1 || per_compile > 1000)
		usage();

	code_file_create();
	printf("jitfiles: pid %d file %s\n", (int)getpid(), path);
	fflush(stdout);
	usleep(50000);

	for (long i = 1; i <= iterations; i++) {
		iterprof_iter_begin("step");
		spin_us(work_us / 2);
		if (is_at(at, at_count, i) || is_at(slow, slow_count, i)) {
			for (int k = 0; k < per_compile; k++) {
				spin_us(3 * work_us / per_compile);
				if (is_at(at, at_count, i))
					code_file_add(i, k);
			}
		}
		spin_us(work_us - work_us / 2);
		iterprof_iter_end("step");
	}

	close(fd);
	unlink(path);
	printf("jitfiles: pid %d wrote %ld entries\n", (int)getpid(), entries);
	return 0;
}

/*
 * env_perfmap [SLEEP_MS]: what a JIT leaves for profilers, in small. Writes
 * /tmp/perf-<pid>.map with 3 entries of 0x100, 0x200 and 0x300 bytes, and
 * /tmp/jit-<pid>.dump (jitdump, tools/perf/Documentation/jitdump-
 * specification.txt) with a DEBUG_INFO record and 2 JIT_CODE_LOAD records of
 * 16 and 32 code bytes; then sleeps SLEEP_MS (default 200) and exits. The
 * files are left for the caller to remove (it is told the pid).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A JIT_CODE_LOAD record: header, pid, tid, vma, code_addr, code_size,
 * code_index, name, code. */
static void code_load(FILE *f, uint64_t addr, uint64_t size, uint64_t index, const char *name)
{
	uint32_t id = 0, pid = (uint32_t)getpid(), tid = pid;
	uint32_t total = (uint32_t)(16 + 4 + 4 + 8 * 4 + strlen(name) + 1 + size);
	uint64_t t = now_ns();
	unsigned char code[64] = { 0xc3 };

	fwrite(&id, 4, 1, f);
	fwrite(&total, 4, 1, f);
	fwrite(&t, 8, 1, f);
	fwrite(&pid, 4, 1, f);
	fwrite(&tid, 4, 1, f);
	fwrite(&addr, 8, 1, f);
	fwrite(&addr, 8, 1, f);
	fwrite(&size, 8, 1, f);
	fwrite(&index, 8, 1, f);
	fwrite(name, strlen(name) + 1, 1, f);
	fwrite(code, size, 1, f);
}

int main(int argc, char **argv)
{
	long sleep_ms = argc > 1 ? atol(argv[1]) : 200;
	char path[64];
	FILE *f;

	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 3;
	fprintf(f, "7f0000001000 100 jitted_one\n");
	fprintf(f, "7f0000002000 200 jitted_two\n");
	fprintf(f, "7f0000003000 300 jitted_three\n");
	fclose(f);

	snprintf(path, sizeof(path), "/tmp/jit-%d.dump", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 3;
	{
		uint32_t header[6] = { 0x4A695444, 1, 40, 62, 0, (uint32_t)getpid() };
		uint64_t t = now_ns(), flags = 0;
		/* DEBUG_INFO: code_addr, nr_entry 0 */
		uint32_t debug[2] = { 2, 16 + 16 };
		uint64_t debug_body[3] = { now_ns(), 0x7f0000004000, 0 };

		fwrite(header, sizeof(header), 1, f);
		fwrite(&t, 8, 1, f);
		fwrite(&flags, 8, 1, f);
		fwrite(debug, sizeof(debug), 1, f);
		fwrite(debug_body, sizeof(debug_body), 1, f);
	}
	code_load(f, 0x7f0000004000, 16, 1, "jit_a");
	code_load(f, 0x7f0000005000, 32, 2, "jit_b");
	fclose(f);

	usleep((useconds_t)sleep_ms * 1000);
	return 0;
}

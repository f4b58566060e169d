/*
 * execwatch: which interposable calls make memory executable, per iteration.
 *
 * A stand-in for the iterprof shim's code-event counters, to check the JIT
 * corpus by hand (tests/jit/README.md): preloaded instead of the shim, it
 * defines iterprof_iter_begin/end itself (so the scripts' markers number the
 * iterations) and interposes the libc calls a JIT goes through -- mmap,
 * mmap64, mprotect, pkey_mprotect, memfd_create, dlopen, and
 * syscall() with those numbers -- and at exit prints to stderr, for each
 * iteration with at least one call that made memory executable (and for the
 * time outside iterations, as iteration 0), how many such calls and bytes:
 *
 *     gcc -shared -fPIC -O2 -o execwatch.so execwatch.c -ldl
 *     LD_PRELOAD=$PWD/execwatch.so luajit luajit_warmup.lua 200
 *     execwatch: iteration 1: 1 calls, 65536 bytes (mprotect 1)
 *     ...
 *     execwatch: 200 iterations; 2 with calls; outside iterations: 0 calls
 *
 * What it cannot see is what no interposition sees either: system calls the
 * dynamic linker makes itself (the mmaps of the objects a dlopen loads: that
 * is why dlopen counts, with the executable bytes it added) and code written
 * into memory that is already executable (V8's RWX code space).
 * EXECWATCH_VERBOSE=1 prints every such call as it happens. Each marker also
 * makes a failing write(-1, "iteration begin N") so that strace shows the
 * iterations among the system calls (tests/jit/README.md).
 *
 * Single-region, single-counting-thread by design: calls from any thread
 * count towards the iteration open at the time, as the shim's process-wide
 * counters do. Not part of the build; x86-64 and aarch64 Linux, glibc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ITERATIONS 100000

enum call { CALL_MMAP, CALL_MPROTECT, CALL_PKEY_MPROTECT, CALL_MEMFD, CALL_DLOPEN,
	    CALL_SYSCALL, CALL_KINDS };
static const char *const call_names[CALL_KINDS] = { "mmap", "mprotect", "pkey_mprotect",
						    "memfd_create", "dlopen", "syscall" };

struct tally {
	_Atomic unsigned long calls[CALL_KINDS];
	_Atomic unsigned long bytes;
};

/* Index 0: outside iterations; i: iteration i. Static: no allocation in the
 * interposers (malloc may itself mmap). 100,000 x 64 bytes = 6.4 MB of bss,
 * touched only where used. */
static struct tally tallies[MAX_ITERATIONS + 1];
static _Atomic unsigned long iteration_count;
static _Atomic unsigned long current; /* 0 between end and begin */
static int depth;		      /* marker nesting, main thread */
static int verbose = -1;

static void note(enum call kind, unsigned long bytes, const char *what)
{
	unsigned long i = atomic_load(&current);

	if (i > MAX_ITERATIONS)
		i = 0;
	atomic_fetch_add(&tallies[i].calls[kind], 1);
	atomic_fetch_add(&tallies[i].bytes, bytes);
	if (verbose < 0) {
		const char *v = getenv("EXECWATCH_VERBOSE");
		verbose = v && *v == '1';
	}
	if (verbose) {
		char line[160];
		int n = snprintf(line, sizeof(line), "execwatch: iteration %lu tid %ld: %s %lu bytes\n",
				 i, (long)gettid(), what, bytes);
		if (n > 0)
			(void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
}

/* The next definition of @name (libc's): resolved on first use. */
#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* A write(2) to fd -1 that fails with EBADF and does nothing else, so that
 * `strace -f -e trace=write,mmap,mprotect ...` shows where each iteration
 * begins and ends among the system calls. */
static void mark_for_strace(const char *what, unsigned long i)
{
	char text[48];
	int n = snprintf(text, sizeof(text), "%s %lu", what, i);

	if (n > 0)
		(void)!write(-1, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

void iterprof_iter_begin(const char *region)
{
	(void)region;
	if (depth++ == 0) {
		unsigned long i = atomic_fetch_add(&iteration_count, 1) + 1;

		mark_for_strace("iteration begin", i);
		atomic_store(&current, i);
	}
}

void iterprof_iter_end(const char *region)
{
	(void)region;
	if (depth > 0 && --depth == 0) {
		mark_for_strace("iteration end", atomic_load(&current));
		atomic_store(&current, 0);
	}
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	REAL(mmap);
	void *p = real_mmap(addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED && (prot & PROT_EXEC))
		note(CALL_MMAP, len, "mmap");
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

int mprotect(void *addr, size_t len, int prot)
{
	REAL(mprotect);
	int rc = real_mprotect(addr, len, prot);

	if (rc == 0 && (prot & PROT_EXEC))
		note(CALL_MPROTECT, len, "mprotect");
	return rc;
}

int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	REAL(pkey_mprotect);
	int rc = real_pkey_mprotect(addr, len, prot, pkey);

	if (rc == 0 && (prot & PROT_EXEC))
		note(CALL_PKEY_MPROTECT, len, "pkey_mprotect");
	return rc;
}

/* mremap keeps the protection it finds: whether it moved executable memory
 * only /proc/self/maps could tell. Passed through, not counted (none of the
 * corpus's engines mremaps code: LuaJIT's mremap calls are its allocator's). */
void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	REAL(mremap);
	void *new_addr = NULL;
	va_list ap;

	va_start(ap, flags);
	if (flags & MREMAP_FIXED)
		new_addr = va_arg(ap, void *);
	va_end(ap);
	return real_mremap(old, old_len, new_len, flags, new_addr);
}

int memfd_create(const char *name, unsigned int flags)
{
	REAL(memfd_create);
	int fd = real_memfd_create(name, flags);

	if (fd >= 0)
		note(CALL_MEMFD, 0, "memfd_create");
	return fd;
}

static int add_exec_bytes(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X))
			*(unsigned long *)data += info->dlpi_phdr[i].p_memsz;
	return 0;
}

static unsigned long loaded_exec_bytes(void)
{
	unsigned long total = 0;

	dl_iterate_phdr(add_exec_bytes, &total);
	return total;
}

void *dlopen(const char *file, int mode)
{
	REAL(dlopen);
	unsigned long before = loaded_exec_bytes();
	void *h = real_dlopen(file, mode);
	unsigned long after = loaded_exec_bytes();

	if (h && after > before)
		note(CALL_DLOPEN, after - before, "dlopen");
	return h;
}

/* syscall(2) with the numbers above: V8 and others call some of them so. */
long syscall(long number, ...)
{
	REAL(syscall);
	long a[6];
	va_list ap;
	long rc;

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	rc = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (rc != -1) {
		if ((number == SYS_mmap || number == SYS_mprotect || number == SYS_pkey_mprotect) &&
		    (a[2] & PROT_EXEC))
			note(CALL_SYSCALL, (unsigned long)a[1], "syscall(mmap/mprotect)");
		else if (number == SYS_memfd_create)
			note(CALL_SYSCALL, 0, "syscall(memfd_create)");
	}
	return rc;
}

__attribute__((destructor)) static void execwatch_report(void)
{
	unsigned long n = atomic_load(&iteration_count), with = 0;

	for (unsigned long i = 0; i <= n && i <= MAX_ITERATIONS; i++) {
		unsigned long calls = 0;
		char kinds[200] = "";
		size_t used = 0;

		for (int k = 0; k < CALL_KINDS; k++) {
			unsigned long c = atomic_load(&tallies[i].calls[k]);
			int w;

			if (!c)
				continue;
			calls += c;
			w = snprintf(kinds + used, sizeof(kinds) - used, "%s%s %lu",
				     used ? ", " : "", call_names[k], c);
			if (w > 0 && (size_t)w < sizeof(kinds) - used)
				used += (size_t)w;
		}
		if (i > 0 && calls)
			with++;
		if (calls || i == 0)
			fprintf(stderr, "execwatch: %s %lu: %lu calls, %lu bytes%s%s%s\n",
				i ? "iteration" : "outside iterations", i, calls,
				atomic_load(&tallies[i].bytes), used ? " (" : "", kinds,
				used ? ")" : "");
	}
	fprintf(stderr, "execwatch: %lu iterations; %lu with calls\n", n, with);
}

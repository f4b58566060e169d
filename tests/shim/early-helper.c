/*
 * libshimt-early.so: preloaded beside the shim (before or after it in
 * LD_PRELOAD) by tests/e2e/test_shim_transparency.py, to call the shim's
 * wrappers at the two awkward moments:
 *
 * - its constructor generates code (mmap PROT_EXEC, mprotect to READ|EXEC,
 *   runs it) and dlopens a library, before the shim's constructor has run
 *   (when listed after the shim: ld.so runs the last preload's constructor
 *   first) or just after it;
 * - it interposes dlsym, and its dlsym maps executable memory: the shim's
 *   dlsym(RTLD_NEXT, "mmap") comes here, and the mmap made here goes back
 *   into the shim's wrapper while that lookup is under way. The real dlsym
 *   is reached by a tail call so that it sees the shim as its caller
 *   (RTLD_NEXT is relative to the caller); built with -O2, where GCC makes
 *   the last call a jump.
 *
 * Stdout must be the same with and without the shim; stderr says how often
 * the shim's lookups came through here (at exit).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

typedef void *(*dlsym_fn)(void *, const char *);

static unsigned lookups_of_memory_calls;

static dlsym_fn real_dlsym(void)
{
	static dlsym_fn real;

	if (!real)
		real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!real)
		real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	return real;
}

void *dlsym(void *handle, const char *name)
{
	if (!strcmp(name, "mmap") || !strcmp(name, "mprotect") || !strcmp(name, "mremap")) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (p != MAP_FAILED)
			munmap(p, 4096);
		__atomic_fetch_add(&lookups_of_memory_calls, 1, __ATOMIC_RELAXED);
	}
	return real_dlsym()(handle, name);
}

/* Generate a function that returns at once, make it executable, call it. */
static const char *generate_and_run(void)
{
#if defined(__x86_64__)
	static const uint8_t code[] = { 0xc3 }; /* ret */
#elif defined(__aarch64__)
	static const uint8_t code[] = { 0xc0, 0x03, 0x5f, 0xd6 }; /* ret */
#endif
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return "mmap failed";
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return "mprotect failed";
	__builtin___clear_cache((char *)p, (char *)p + sizeof(code));
	((void (*)(void))p)();
	munmap(p, 4096);
	return "ran";
}

__attribute__((constructor)) static void early_constructor(void)
{
	void *exec = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *libm = dlopen("libm.so.6", RTLD_NOW);
	double (*cosine)(double) = libm ? (double (*)(double))dlsym(libm, "cos") : NULL;

	printf("early: mmap exec %s\n", exec == MAP_FAILED ? "failed" : "ok");
	printf("early: generated code %s\n", generate_and_run());
	printf("early: dlopen libm %s, cos(0) = %g\n", libm ? "ok" : dlerror(),
	       cosine ? cosine(0.0) : -1.0);
	fflush(stdout);
}

__attribute__((destructor)) static void early_destructor(void)
{
	fprintf(stderr, "early-helper: lookups of memory calls: %u\n", lookups_of_memory_calls);
}

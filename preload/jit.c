/*
 * Code generation and loading, seen from inside the process: the calls that
 * make memory executable. A JIT compiler (LLVM's MCJIT under numba, LuaJIT's
 * mcode areas, V8's code space) maps memory with PROT_EXEC or flips it to
 * PROT_EXEC with mprotect, sometimes maps a memfd twice (RW and RX), and a
 * plug-in is loaded with dlopen. Each such call is a "code event"; the bytes
 * it makes executable are counted too. Both totals are process-wide (a JIT
 * often compiles on a thread of its own), and every iteration records their
 * change (VALUE_CODE_EVENTS, VALUE_CODE_BYTES in counters.c): two relaxed
 * loads at begin and end, nothing else on the iteration path.
 *
 * The wrappers must never change a call's result or errno, and must work at
 * any moment, including before the shim is initialised and while dlsym is
 * looking up the real function (dlsym may allocate, and an allocator other
 * than glibc's may mmap through the PLT, back into us): during the lookup
 * the call is made with the raw system call, which is what the libc wrapper
 * does on Linux anyway. The cost when no executable memory is involved is
 * one predictable branch per call, on calls that are system calls.
 *
 * Perf map files (/tmp/perf-PID.map) and jitdump files that some runtimes
 * write are read from outside by `iterprof record` (the environment
 * timeline), not intercepted here: they are written with stdio, past any
 * interposition of write().
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

uint64_t jit_code_events;
uint64_t jit_code_bytes;

static __thread int jit_resolving;

static void note_code(size_t bytes)
{
	__atomic_fetch_add(&jit_code_events, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&jit_code_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
}

/*
 * Executable ranges this process made, so that an mremap of one (rare: a
 * code area grown in place) counts as code too. A small table: runtimes keep
 * a handful of code areas; when it is full the oldest entry is overwritten,
 * and an mremap of a forgotten range is missed, never wrongly counted.
 */
#define EXEC_RANGES 64
static struct {
	pthread_mutex_t lock;
	uintptr_t start[EXEC_RANGES], end[EXEC_RANGES];
	unsigned next;
} exec_ranges = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void remember_range(const void *addr, size_t len)
{
	pthread_mutex_lock(&exec_ranges.lock);
	exec_ranges.start[exec_ranges.next] = (uintptr_t)addr;
	exec_ranges.end[exec_ranges.next] = (uintptr_t)addr + len;
	exec_ranges.next = (exec_ranges.next + 1) % EXEC_RANGES;
	pthread_mutex_unlock(&exec_ranges.lock);
}

/* Forget @addr's range; true when it was one of ours. */
static bool take_range(const void *addr)
{
	bool found = false;

	pthread_mutex_lock(&exec_ranges.lock);
	for (unsigned i = 0; i < EXEC_RANGES; i++) {
		if (exec_ranges.end[i] && (uintptr_t)addr >= exec_ranges.start[i] &&
		    (uintptr_t)addr < exec_ranges.end[i]) {
			exec_ranges.start[i] = exec_ranges.end[i] = 0;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&exec_ranges.lock);
	return found;
}

/* [@addr, +@len) became executable: count it and remember the range, with
 * errno as the wrapped call left it. */
static void code_made(void *addr, size_t len)
{
	int saved_errno = errno;

	note_code(len);
	remember_range(addr, len);
	errno = saved_errno;
}

/* The next definition of @name, or NULL while a lookup is under way on this
 * thread (the caller then makes the system call itself). */
static void *real_function(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (likely(f) || jit_resolving)
		return f;
	jit_resolving = 1;
	f = dlsym(RTLD_NEXT, name);
	jit_resolving = 0;
	__atomic_store_n(slot, f, __ATOMIC_RELAXED);
	return f;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*mprotect_fn)(void *, size_t, int);
typedef int (*pkey_mprotect_fn)(void *, size_t, int, int);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);

static void *call_mmap(const char *name, void *addr, size_t len, int prot, int flags, int fd,
		       off_t off)
{
	static void *real;
	mmap_fn f = (mmap_fn)real_function(&real, name);
	void *p;

	if (likely(f))
		p = f(addr, len, prot, flags, fd, off);
	else
		p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (unlikely(prot & PROT_EXEC) && p != MAP_FAILED)
		code_made(p, len);
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return call_mmap("mmap", addr, len, prot, flags, fd, off);
}

/* The same function on 64-bit Linux (off_t is 64 bits); a program built
 * with _FILE_OFFSET_BITS=64 on a 32-bit target would call it. */
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return call_mmap("mmap64", addr, len, prot, flags, fd, off);
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	static void *real;
	mprotect_fn f = (mprotect_fn)real_function(&real, "mprotect");
	int r;

	r = likely(f) ? f(addr, len, prot) : (int)syscall(SYS_mprotect, addr, len, prot);
	if (unlikely(prot & PROT_EXEC) && r == 0)
		code_made(addr, len);
	return r;
}

EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	static void *real;
	pkey_mprotect_fn f = (pkey_mprotect_fn)real_function(&real, "pkey_mprotect");
	int r;

	r = likely(f) ? f(addr, len, prot, pkey)
		      : (int)syscall(SYS_pkey_mprotect, addr, len, prot, pkey);
	if (unlikely(prot & PROT_EXEC) && r == 0)
		code_made(addr, len);
	return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	static void *real;
	mremap_fn f = (mremap_fn)real_function(&real, "mremap");
	void *new_addr = NULL, *p;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (likely(f))
		p = f(old, old_len, new_len, flags, new_addr);
	else
		p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	/* Only the ranges made executable before: the table walk runs on
	 * mremap calls alone, which are rare and cost a syscall. */
	if (p != MAP_FAILED && take_range(old))
		code_made(p, new_len);
	return p;
}

struct objects_walk {
	unsigned long long adds; /* dlpi_adds: objects ever loaded */
	unsigned skip;           /* objects loaded before the dlopen */
	unsigned index;
	uint64_t bytes;          /* executable PT_LOAD bytes of the new ones */
};

static int count_new_objects(struct dl_phdr_info *info, size_t size, void *data)
{
	struct objects_walk *w = data;

	(void)size;
	w->adds = info->dlpi_adds;
	if (w->index++ < w->skip)
		return 0;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			w->bytes += ph->p_memsz;
	}
	return 0;
}

static int count_objects(struct dl_phdr_info *info, size_t size, void *data)
{
	struct objects_walk *w = data;

	(void)size;
	w->adds = info->dlpi_adds;
	w->index++;
	return 0;
}

void jit_before_dlopen(struct jit_dlopen *state)
{
	struct objects_walk w = { 0 };

	dl_iterate_phdr(count_objects, &w);
	state->adds = w.adds;
	state->objects = w.index;
}

void jit_after_dlopen(const struct jit_dlopen *state)
{
	struct objects_walk w = { .skip = state->objects };

	dl_iterate_phdr(count_new_objects, &w);
	/* New objects go to the end of the list; nothing new when dlopen only
	 * found an object already loaded. */
	if (w.adds != state->adds && w.index > state->objects)
		note_code((size_t)w.bytes);
}

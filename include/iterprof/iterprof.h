/*
 * iterprof marker API: mark the iterations of a benchmark.
 *
 *     #include <iterprof/iterprof.h>
 *     for (int i = 0; i < n; i++) {
 *         iterprof_iter_begin("parse");
 *         parse(input);
 *         iterprof_iter_end("parse");
 *     }
 *
 * A program that includes this header needs no library at link time. Under
 * `iterprof record` the preloaded shim (libiterprof.so) defines the two
 * functions and every begin/end pair becomes one recorded iteration with its
 * counters; without the shim the calls do nothing (one indirect call to an
 * empty function after a one-time lookup).
 *
 * Why a lookup and not a weak symbol: a weak undefined reference in a non-PIE
 * executable is resolved to 0 by the static linker and never reaches the
 * dynamic linker, so a preloaded definition would be ignored. dlsym() is in
 * libc itself since glibc 2.34, so no -ldl is needed there (older glibc: add
 * -ldl).
 *
 * Semantics:
 *  - A region is named by a NUL-terminated string; each thread has its own
 *    iteration stream per region.
 *  - Regions may nest (begin "outer", begin "inner", end "inner", end
 *    "outer"). A begin of a region that is already open in this thread
 *    (recursion) does not start a new iteration: only the outermost pair counts.
 *  - An end whose region is not open is ignored; an end that closes a region
 *    below other open ones drops those (they are counted as dropped).
 *
 * Other languages call the two plain C symbols through their FFI, e.g. Python:
 *     ctypes.CDLL(None).iterprof_iter_begin(b"step")
 * (they exist only when the shim is loaded).
 *
 * Define ITERPROF_NO_MARKER_MACROS before including this header to get only
 * the prototypes (the shim itself does).
 */
#ifndef ITERPROF_ITERPROF_H
#define ITERPROF_ITERPROF_H

#ifdef __cplusplus
extern "C" {
#endif

/* Defined by libiterprof.so; absent when the program runs without it. */
void iterprof_iter_begin(const char *region);
void iterprof_iter_end(const char *region);

#ifndef ITERPROF_NO_MARKER_MACROS
#include <dlfcn.h>

typedef void (*iterprof_marker_fn)(const char *region);

static inline void iterprof_marker_nop_(const char *region)
{
	(void)region;
}

/*
 * Resolve @name once per translation unit and call it. Two threads racing on
 * the first call both store the same pointer, so relaxed atomics suffice.
 * The first argument of dlsym is RTLD_DEFAULT ((void *)0 in glibc and musl),
 * spelled out so that the header does not need _GNU_SOURCE.
 */
static inline void iterprof_marker_call_(iterprof_marker_fn *slot,
					 const char *name, const char *region)
{
	iterprof_marker_fn fn = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (__builtin_expect(fn == 0, 0)) {
		void *symbol = dlsym((void *)0, name);

		fn = symbol ? (iterprof_marker_fn)symbol : iterprof_marker_nop_;
		__atomic_store_n(slot, fn, __ATOMIC_RELAXED);
	}
	fn(region);
}

static iterprof_marker_fn iterprof_begin_slot_ __attribute__((unused));
static iterprof_marker_fn iterprof_end_slot_ __attribute__((unused));

#define iterprof_iter_begin(region)                                            \
	iterprof_marker_call_(&iterprof_begin_slot_, "iterprof_iter_begin", (region))
#define iterprof_iter_end(region)                                              \
	iterprof_marker_call_(&iterprof_end_slot_, "iterprof_iter_end", (region))
#endif /* ITERPROF_NO_MARKER_MACROS */

#ifdef __cplusplus
}
#endif

#endif /* ITERPROF_ITERPROF_H */

/*
 * The fast path of -f interception: clock-only iterations of patched
 * functions (`iterprof record --no-counters -f`), entered from the
 * trampolines (patch-entry-x86_64.S) before anything else.
 *
 * Why a separate path: the full one (patch_on_entry/patch_on_exit) calls
 * ordinary C, so the trampolines must first save every caller-saved register,
 * vector registers included - 16 ymm or xmm stores and loads each way, an
 * XGETBV, and the call into markers.c with its locks-free but general
 * bookkeeping: 175-235 ns per call here, against a goal of 30. These two
 * functions are instead compiled with -mgeneral-regs-only (no vector
 * register can be touched, so none needs saving) and
 * no_caller_saved_registers (the compiler saves exactly the integer
 * registers they use), and they call nothing: the clock is rdtsc converted
 * inline (clock.c), the iteration is a batch entry of a few bytes written
 * inline (trace_writer_batch_add). Whatever they
 * cannot do - first call of a site in a thread, recursion through another
 * patched function, a full chunk, counters to read, a signal handler
 * re-entering, a forked child - they decline by returning 0, and the
 * trampoline takes the full path, which handles every case.
 *
 * Both also set the busy flags of the shadow stack and of the markers, so a
 * signal handler that calls a marker or a patched function meanwhile passes
 * through (as on the full path).
 */
#include "patch.h"
#include "shim.h"
#include "thread.h"

uintptr_t patch_fast_entry(uint32_t index, uintptr_t *slot)
{
	struct shadow_stack *sh = &patch_shadow;
	struct thread_state *ts = markers_thread;
	const struct site_cache_entry *c;
	struct shadow_entry *e;

	if (unlikely(sh->is_busy || markers_busy))
		return 0;
	if (sh->depth) {
		/* Recursion straight into the open call: not an iteration, and
		 * nothing to capture. The full path handles the rest (stale
		 * entries of frames left by longjmp, other patched callers). */
		e = &sh->entries[sh->depth - 1];
		if (e->site == index && e->slot > slot)
			return patch_sites[index].resume;
		return 0;
	}
	if (unlikely(!ts || shim_config.has_counters || !shim_tsc.is_used || ts->depth ||
		     ts->generation != trace_writer_generation() ||
		     __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_READY))
		return 0;
	c = &ts->site_cache[index % SITE_CACHE_SIZE];
	if (unlikely(c->site_plus_one != index + 1))
		return 0;
	sh->is_busy = 1;
	e = &sh->entries[0];
	e->site = index;
	e->is_fast = true;
	e->region = c->region;
	e->slot = slot;
	e->return_address = *slot;
	sh->depth = 1;
	ts->fast_depth = 1;
	*slot = (uintptr_t)patch_exit_trampoline;
	sh->is_busy = 0;
	/* Last, so the interval holds as little of our own work as it can. */
	e->begin_tsc = tsc_read();
	return patch_sites[index].resume;
}

uintptr_t patch_fast_exit(uintptr_t *slot)
{
	uint64_t end_tsc = tsc_read(), start_ns, duration_ns;
	struct shadow_stack *sh = &patch_shadow;
	struct thread_state *ts = markers_thread;
	struct shadow_entry *e = &sh->entries[0];

	sh->exit_tsc = end_tsc;
	if (unlikely(sh->is_busy || markers_busy || sh->depth != 1 || e->slot != slot ||
		     !e->is_fast || !ts || ts->generation != trace_writer_generation() ||
		     !ts->is_thread_emitted || ts->has_pending_drops ||
		     !ts->regions[e->region].is_emitted))
		return 0;
	sh->is_busy = 1;
	markers_busy = 1;
	tsc_interval_to_ns(e->begin_tsc, end_tsc, &start_ns, &duration_ns);
	if (unlikely(!trace_writer_batch_add(&ts->cursor, e->region, start_ns, duration_ns))) {
		/* A new chunk is needed: the full path gets it. */
		markers_busy = 0;
		sh->is_busy = 0;
		return 0;
	}
	ts->iterations++;
	ts->fast_depth = 0;
	sh->depth = 0;
	markers_busy = 0;
	sh->is_busy = 0;
	return e->return_address;
}

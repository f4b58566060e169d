/*
 * The per-thread state behind the markers (markers.c). Shared with the -f
 * fast path (patch-fast.c), which writes clock-only iterations of patched
 * functions itself instead of calling into markers.c: that path is compiled
 * without vector registers and may call nothing, so what it needs of this
 * state is defined here, inline.
 */
#ifndef ITERPROF_THREAD_H
#define ITERPROF_THREAD_H

#include "iterprof/trace-codec.h"
#include "shim.h"

#define MAX_REGIONS 64    /* per thread; more are dropped and counted */
#define MAX_DEPTH 32      /* regions open at once in one thread */
#define DROP_REASONS (ITP_DROP_REASON_MAX + 1)
#define SITE_CACHE_SIZE 16 /* patched functions a thread alternates between */

struct region {
	uint32_t name_len;
	bool is_emitted; /* REGION record written in the current file */
	char name[ITP_NAME_MAX + 1];
};

struct open_iteration {
	uint16_t region;
	uint32_t recursion; /* nested begins of the same region */
	uint64_t start_ns;
	struct counter_snapshot begin;
};

/* Which region of this thread a patched function (site) records into. */
struct site_cache_entry {
	uint32_t site_plus_one; /* 0: empty */
	uint16_t region;
};

struct thread_state {
	struct thread_state *next; /* registry */
	pid_t tid;
	uint32_t generation;      /* writer generation it was set up for */
	bool is_thread_emitted;   /* THREAD record written in the current file */
	bool is_counters_noted;
	int counters_error;
	struct thread_counters counters;
	/* NULL with stacks off or unavailable (stacks_error says why). */
	struct stack_sampler *stacks;
	int stacks_error;
	bool is_stacks_noted;
	struct chunk_cursor cursor;
	uint64_t iterations;
	uint64_t dropped;
	uint32_t pending_drops[DROP_REASONS];
	bool has_pending_drops;
	unsigned last_region;
	unsigned nregions;
	struct region regions[MAX_REGIONS];
	unsigned depth;
	/* 1 while a fast-path iteration is open: it is not on stack[], but
	 * marker iterations inside it are one level deeper. */
	unsigned fast_depth;
	struct open_iteration stack[MAX_DEPTH];
	struct site_cache_entry site_cache[SITE_CACHE_SIZE];
};

/* Initial-exec TLS: no allocation on first access (general-dynamic may call
 * malloc), and reachable from the fast path without a call. */
extern __thread struct thread_state *markers_thread
	__attribute__((tls_model("initial-exec"), visibility("hidden")));
/* Set while this thread is inside a marker: a signal handler that calls a
 * marker meanwhile passes through instead of corrupting the state. */
extern __thread int markers_busy __attribute__((tls_model("initial-exec"), visibility("hidden")));

#endif /* ITERPROF_THREAD_H */

/*
 * Internal interfaces of the shim (libiterprof.so). Nothing here is exported:
 * the shim is built with -fvisibility=hidden and a version script that keeps
 * only the marker API (libiterprof.map).
 *
 * Modules:
 *   config.c        what the launcher asked for, read once from the environment
 *   clock.c         time stamps: the TSC converted to CLOCK_MONOTONIC, or the vDSO
 *   sysinfo.c       host, kernel, CPU, command line for the trace header
 *   counters.c      per-thread software counters: one perf group + rusage/schedstat
 *   trace-writer.c  the crash-safe mmap'd trace file, chunk by chunk
 *   markers.c       per-thread state, regions, iterations, the exported API
 *   lifecycle.c     initialisation, fork, thread exit, process exit
 *   exec.c          exec* wrappers: a footer before the image is replaced
 *   jit.c           mmap/mprotect/mremap/dlopen: code made executable
 *   dlopen-search.c dlopen's library search done for the program's caller
 */
#ifndef ITERPROF_SHIM_H
#define ITERPROF_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "iterprof/trace-codec.h"
#include "iterprof/trace-format.h"

struct perf_event_mmap_page;

#define SHIM_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Stores of trace fields (little-endian, the only order iterprof runs on;
 * memcpy because record fields are not aligned). */
static inline void put_u16(uint8_t *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static inline void put_u32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline void put_u64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

/* ---- config.c -------------------------------------------------------- */

enum sched_policy {
	SCHED_READ_AUTO,   /* around iterations with a context switch (default) */
	SCHED_READ_ALWAYS, /* at every begin and end */
	SCHED_READ_OFF,
};

/* An event of `record -e` (ITERPROF_EVENTS), as the launcher resolved it. */
#define SHIM_EVENTS_MAX 8
struct shim_event {
	char name[ITP_CD_NAME_LEN];
	uint32_t type;
	uint64_t config, config1, config2;
	bool exclude_user, exclude_kernel;
	bool is_mode_given; /* :u or :k: no fallback to user mode */
};

struct shim_config {
	char output_dir[4096];
	bool is_enabled;      /* ITERPROF_OUTPUT was set */
	bool follow_exec;     /* ITERPROF_FOLLOW != "0" */
	bool is_verbose;      /* ITERPROF_VERBOSE=1: diagnostics on stderr */
	enum sched_policy sched;
	bool has_counters;    /* ITERPROF_COUNTERS != "off": clock only when off */
	bool has_software;    /* ... and != "events": the software set too */
	unsigned stacks_mode; /* ITERPROF_STACKS: ITP_STACKS_* (off without
				 counters: --no-counters is the clock only) */
	unsigned stack_cpu_us;       /* ITERPROF_STACK_CPU_US (default 1000) */
	unsigned stack_fault_period; /* ITERPROF_STACK_FAULTS (default 32) */
	int inject_perf_errno; /* tests: perf_event_open fails with this errno */
	bool is_syscall_read;  /* ITERPROF_PERF_READ=syscall: never in user space */
	bool is_no_long_counters; /* ITERPROF_TEST_NO_LONG_COUNTERS=1 */
	char functions[16384]; /* -f patterns, newline-separated ("" = none) */
	int launcher_pid;      /* iterprof record's pid: its children report -f */
	unsigned event_count;  /* -e events besides the software set */
	struct shim_event events[SHIM_EVENTS_MAX];
};

extern struct shim_config shim_config;

/* Fill shim_config from the environment. Allocates nothing. */
void config_load(void);
/* Remove the shim and its variables from the environment (--no-follow). */
void config_stop_following(void);
/* One diagnostic line on stderr, only with ITERPROF_VERBOSE=1. */
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- clock.c ------------------------------------------------------------ */

/*
 * Every *_ns stamp is CLOCK_MONOTONIC: the clock the launcher can read too,
 * so environment samples join the iterations by time. Where the TSC can be
 * trusted it is read instead (10-14 ns against 22-30 ns for the vDSO here,
 * costs.md) and converted (clock.c explains how and when).
 *
 * The conversion below is also used by the -f fast path (patch-fast.c), which
 * is compiled without vector registers: keep it integer-only and call-free.
 */
#define SHIM_CLOCK_ID CLOCK_MONOTONIC

struct shim_tsc_slot {
	uint32_t seq;      /* odd while being written */
	uint64_t base_tsc;
	uint64_t base_ns;
	uint64_t mult;     /* ns per tick, 32.32 fixed point */
};

struct shim_tsc {
	bool is_used;
	unsigned active;   /* published slot */
	struct shim_tsc_slot slot[2];
};

extern struct shim_tsc shim_tsc;

/* Decide on the TSC and calibrate it (spins about 1 ms when it is used). */
void clock_init(void);
/* Refine the TSC conversion; called with the trace writer lock held, when a
 * thread starts a new chunk. Cheap when the last resync is recent. */
void clock_resync(void);
/* The calibrated TSC frequency, 0 when the TSC is not used. */
double clock_tsc_hz(void);

#if defined(__x86_64__)
static inline uint64_t tsc_read(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
#else
static inline uint64_t tsc_read(void) { return 0; }
#endif

/* Stamps of a TSC interval [@begin, @end] in ns: the start converted, the
 * duration scaled by the same rate (so a resync between the two reads can
 * never make a duration jump). */
static inline void tsc_interval_to_ns(uint64_t begin, uint64_t end, uint64_t *start_ns,
				      uint64_t *duration_ns)
{
	const struct shim_tsc_slot *s;
	uint64_t base_tsc, base_ns, mult;
	uint32_t seq;

	do {
		s = &shim_tsc.slot[__atomic_load_n(&shim_tsc.active, __ATOMIC_ACQUIRE)];
		seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		base_tsc = __atomic_load_n(&s->base_tsc, __ATOMIC_RELAXED);
		base_ns = __atomic_load_n(&s->base_ns, __ATOMIC_RELAXED);
		mult = __atomic_load_n(&s->mult, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1u) || seq != __atomic_load_n(&s->seq, __ATOMIC_RELAXED));
	*start_ns = base_ns + (uint64_t)(((__int128)(int64_t)(begin - base_tsc) * (int64_t)mult) >> 32);
	*duration_ns = end > begin ? (uint64_t)(((unsigned __int128)(end - begin) * mult) >> 32) : 0;
}

/* One TSC stamp in ns (the TSC must be in use). */
static inline uint64_t tsc_to_ns(uint64_t tsc)
{
	uint64_t ns, unused;

	tsc_interval_to_ns(tsc, tsc, &ns, &unused);
	return ns;
}

static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	if (likely(shim_tsc.is_used))
		return tsc_to_ns(tsc_read());
	clock_gettime(SHIM_CLOCK_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- sysinfo.c -------------------------------------------------------- */

/* Read a small file (/proc, /sys) into @buf, NUL-terminated, at most size-1
 * bytes. Returns the bytes read, or -1 if it cannot be opened. */
ssize_t sysinfo_read_file(const char *path, char *buf, size_t size);
/* Fill the descriptive fields of a trace header page (host, kernel, ...). */
void sysinfo_fill_header(uint8_t *header);

/* ---- counters.c -------------------------------------------------------- */

/* Perf events of the group, in group order. The leader is minor-faults, not
 * task-clock: measured on kernel 6.18 here, a group led by task-clock (or
 * cpu-clock) leaves every sibling software event at 0. */
enum {
	PERF_SLOT_MINOR_FAULTS,
	PERF_SLOT_TASK_CLOCK,
	PERF_SLOT_MAJOR_FAULTS,
	PERF_SLOT_CONTEXT_SWITCHES,
	PERF_SLOT_MIGRATIONS,
	PERF_SLOT_SOFTWARE_COUNT,
	/* Tracepoints, in the same group when they can be opened (root,
	 * tracefs mounted): interrupts serviced while the thread ran. */
	PERF_SLOT_IRQS = PERF_SLOT_SOFTWARE_COUNT,
	PERF_SLOT_SOFTIRQS,
	PERF_SLOT_COUNT,
};

/* Counter values in trace order (header counters[] and iteration values[]). */
enum {
	VALUE_TASK_CLOCK,
	VALUE_MINOR_FAULTS,
	VALUE_MAJOR_FAULTS,
	VALUE_CONTEXT_SWITCHES,
	VALUE_MIGRATIONS,
	VALUE_VOLUNTARY_SWITCHES,
	VALUE_INVOLUNTARY_SWITCHES,
	VALUE_RUN_DELAY,
	VALUE_CPU,          /* CPU at the end: a level, not a delta */
	VALUE_IRQS,
	VALUE_SOFTIRQS,
	VALUE_CODE_EVENTS,  /* process-wide, jit.c */
	VALUE_CODE_BYTES,
	VALUE_COUNT,
};

/* -e events are opened in groups of at most this many: a group larger than
 * the PMU's counters could never be scheduled (it would never count), while
 * groups of 4 fit every x86 and arm64 PMU and are time-multiplexed by the
 * kernel when there are more of them than counters (then scaled). */
#define EVENT_GROUP_SIZE 4
#define EVENT_GROUPS_MAX ((SHIM_EVENTS_MAX + EVENT_GROUP_SIZE - 1) / EVENT_GROUP_SIZE)

/* What a reading knows of a group of -e events (counter_snapshot). */
enum {
	EVENTS_NOT_READ,    /* no values */
	EVENTS_TIMES_EQUAL, /* values; enabled == running, times not known */
	EVENTS_TIMES_EXACT, /* values and times */
};

/* One reading of a thread's counters. */
struct counter_snapshot {
	uint64_t enabled;
	uint64_t running;
	uint64_t perf[PERF_SLOT_COUNT];
	uint64_t voluntary;
	uint64_t involuntary;
	uint64_t run_delay;
	uint64_t code_events, code_bytes; /* jit.c totals */
	unsigned cpu;      /* at the end reading */
	bool is_valid;     /* the group read succeeded */
	/* -e events (events.c), by group of EVENT_GROUP_SIZE */
	uint64_t event[SHIM_EVENTS_MAX];
	/* per group: enabled and running times, when event_state says so */
	uint64_t event_times[EVENT_GROUPS_MAX][2];
	uint8_t event_state[EVENT_GROUPS_MAX]; /* EVENTS_* */
};

struct thread_counters {
	int perf_fd[PERF_SLOT_COUNT]; /* -1 when not open */
	int schedstat_fd;             /* -1 when not open */
	int event_fd[SHIM_EVENTS_MAX]; /* -e events; -1 when not open */
	/* Their mmap pages, for reads in user space (user-read.h); a group is
	 * read there when all its members have one, else with read(). */
	const struct perf_event_mmap_page *event_page[SHIM_EVENTS_MAX];
	uint8_t group_read[EVENT_GROUPS_MAX]; /* USER_READ_NO, _EXTEND, _64 */
	/* events_read's fast path (events.c): the one group read in user
	 * space, its size and whether it needs sign extension; 0: none */
	uint8_t fast_kind;
	bool has_perf;
	/* Last rusage/schedstat reading and the context-switch count it was
	 * taken at, for SCHED_READ_AUTO. */
	struct counter_snapshot last_sched;
	uint64_t last_sched_switches;
	bool has_last_sched;
};

/* Process-wide: decide which counters really count here (opens and closes a
 * probe group) and describe them into the header's counter table. */
void counters_probe(uint8_t *header);
/* Open this thread's counters. Returns 0 or -errno (then has_perf is false). */
int counters_open(struct thread_counters *tc);
/* Close what counters_open opened; safe on a closed or half-open set. */
void counters_close(struct thread_counters *tc);
/* Forget fds inherited through fork without touching them (an ioctl or read
 * on an inherited perf fd acts on the parent's thread). Closes them. */
void counters_drop_inherited(struct thread_counters *tc);
/* Read at iteration begin / end. */
void counters_read_begin(struct thread_counters *tc, struct counter_snapshot *s);
void counters_read_end(struct thread_counters *tc, const struct counter_snapshot *begin,
		       struct counter_snapshot *end);
/* Deltas end - begin into values[events_value_count()]; returns ITP_ITER_*
 * flags. */
unsigned counters_delta(const struct thread_counters *tc, const struct counter_snapshot *begin,
			const struct counter_snapshot *end, uint64_t *values);
/* ---- events.c: the -e events ----------------------------------------------- */

/* Probe the -e events once per process (open each, diagnose what fails) and
 * describe them in the header after the software set; sets counter_count. */
void events_probe(uint8_t *header);
/* Counters per iteration in the trace: VALUE_COUNT + the -e events. */
unsigned events_value_count(void);
/* Open / close this thread's -e groups (fds in @tc). */
void events_open(struct thread_counters *tc);
void events_close(struct thread_counters *tc);
/* After fork, in the child: forget the mmap pages (not inherited). */
void events_forget_pages(struct thread_counters *tc);
/* Read the groups into @s. */
void events_read(const struct thread_counters *tc, struct counter_snapshot *s);
/* Deltas into values[VALUE_COUNT...]: scaled when a group ran part of the
 * time (ITP_ITER_SCALED returned), unavailable when it did not run. */
unsigned events_delta(const struct counter_snapshot *begin, const struct counter_snapshot *end,
		      uint64_t *values);

/* Read one group with the same syscall as the per-iteration path (bench). */
int counters_group_read(const struct thread_counters *tc, struct counter_snapshot *s);

/* ---- jit.c ---------------------------------------------------------------- */

/* Calls that made memory executable in this process, and their bytes. */
extern uint64_t jit_code_events;
extern uint64_t jit_code_bytes;

/* Around dlopen (patch.c wraps it): the objects it loads count as code. */
struct jit_dlopen {
	unsigned long long adds;
	unsigned objects;
};
void jit_before_dlopen(struct jit_dlopen *state);
void jit_after_dlopen(const struct jit_dlopen *state);

/* ---- dlopen-search.c ------------------------------------------------- */

/* What the real dlopen must be given so that it finds what it would have
 * found for @caller (a return address in the program) rather than for the
 * shim: 0 with that name in @path (size @size), -ENOENT when @file is to be
 * passed unchanged. Keeps nothing and calls nothing that sets dlerror. */
int dlopen_search(const char *file, const void *caller, char *path, size_t size);
/* After a dlopen of the bare name @name opened the object at @path. */
void dlopen_search_remember(const char *name, const char *path);

/* ---- trace-writer.c ----------------------------------------------------- */

struct chunk_cursor {
	uint8_t *base;     /* mapped chunk, NULL when none */
	uint32_t used;     /* bytes used, records start at ITP_CHUNK_HEADER_SIZE */
	uint32_t chunk_seq;
	uint32_t thread_seq;
	uint32_t record_seq;
	uint64_t prev_start_ns; /* of the chunk's last ITERATION (trace-codec.h) */
	/* The open ITERATION_BATCH, the chunk's last record, or NULL. */
	uint8_t *batch;
	uint32_t batch_used;    /* bytes of it filled (header included) */
	uint32_t batch_count;
};

/* Compute the process-wide header fields once (machine info, counter probe). */
void trace_writer_prepare_template(void);
/* Create this process image's trace file and fill its header. 0 or -errno. */
int trace_writer_open(void);
/* Reserve @size bytes for a record in the thread's chunk, moving to a new
 * chunk when full (which resets prev_start_ns). Returns NULL when the trace
 * has no space left. */
uint8_t *trace_writer_reserve(struct chunk_cursor *cur, pid_t tid, uint32_t size);
/* Room for @size more bytes in the thread's current chunk: where they go, or
 * NULL when a new chunk is needed (trace_writer_reserve gets it). Chunks are
 * always ITP_DEFAULT_CHUNK_SIZE bytes. */
static inline uint8_t *trace_writer_room(struct chunk_cursor *cur, uint32_t size)
{
	if (likely(cur->base && cur->used + size <= ITP_DEFAULT_CHUNK_SIZE))
		return cur->base + cur->used;
	return NULL;
}
/* Publish a record reserved with trace_writer_reserve (release store);
 * @size may be less than was reserved. */
static inline void trace_writer_commit(struct chunk_cursor *cur, uint8_t *rec, uint32_t type,
				       uint32_t size)
{
	put_u32(rec + ITP_REC_OFF_SEQ, cur->record_seq++);
	/* The word last, with release semantics: a reader that sees it sees
	 * the whole record. */
	__atomic_store_n((uint32_t *)rec, ITP_RECORD_WORD(type, size), __ATOMIC_RELEASE);
	cur->used += size;
}
/* Close the open batch: cut its size to what is filled, so that another
 * record can follow it. trace_writer_reserve does it first. */
static inline void trace_writer_close_batch(struct chunk_cursor *cur)
{
	uint32_t size = (cur->batch_used + 7u) & ~7u;

	cur->used -= ITP_BATCH_ROOM - size;
	__atomic_store_n((uint32_t *)cur->batch, ITP_RECORD_WORD(ITP_REC_ITERATION_BATCH, size),
			 __ATOMIC_RELEASE);
	cur->batch = NULL;
}

/*
 * Write a clock-only, outermost iteration as an ITERATION_BATCH entry (3-6
 * bytes instead of a 32-byte ITERATION record: every 4 KiB page of the trace
 * costs about 1 us to bring in here, so bytes are time). Opens a batch when
 * there is none or it is full. Calls nothing (the -f fast path uses it).
 * Returns false when the chunk has no room for a new batch: then
 * trace_writer_reserve must get a new chunk first.
 */
static inline bool trace_writer_batch_add(struct chunk_cursor *cur, uint16_t region,
					  uint64_t start_ns, uint64_t duration_ns)
{
	uint8_t *p;

	if (!cur->batch || cur->batch_used + ITP_BATCH_ENTRY_MAX > ITP_BATCH_ROOM) {
		uint8_t *rec;

		if (cur->batch)
			trace_writer_close_batch(cur);
		rec = trace_writer_room(cur, ITP_BATCH_ROOM);
		if (!rec)
			return false;
		/* The room is zeros: chunks are handed out zeroed and nothing
		 * is written past a record's committed end. */
		put_u16(rec + ITP_BATCH_OFF_FLAGS, ITP_ITER_COUNTERS_MISSING);
		trace_writer_commit(cur, rec, ITP_REC_ITERATION_BATCH, ITP_BATCH_ROOM);
		cur->batch = rec;
		cur->batch_used = ITP_BATCH_OFF_ENTRIES;
		cur->batch_count = 0;
	}
	p = itp_batch_entry_encode(cur->batch + cur->batch_used, region, start_ns, duration_ns,
				   cur->prev_start_ns);
	cur->batch_used = (uint32_t)(p - cur->batch);
	cur->prev_start_ns = start_ns;
	__atomic_store_n((uint32_t *)(cur->batch + ITP_BATCH_OFF_COUNT), ++cur->batch_count,
			 __ATOMIC_RELEASE);
	return true;
}

/* Write the footer with an ITP_END_* reason. Returns false when there was
 * nothing to close (no file, already closed, or called in a vfork child). */
bool trace_writer_close(uint64_t iterations, uint64_t dropped, uint32_t reason);
/* Take the footer back: an exec failed and the process goes on. */
void trace_writer_reopen(void);
/* In a forked child: forget the parent's file (a new one is made lazily). */
void trace_writer_after_fork_child(void);
/* True when a file is open for this process. */
bool trace_writer_is_open(void);
/* Writer generation: bumped in a forked child, so that each thread state
 * notices on its next marker that it must start over in the child's file.
 * Read on every marker, hence inline. */
extern uint32_t trace_writer_fork_generation;
static inline uint32_t trace_writer_generation(void)
{
	return __atomic_load_n(&trace_writer_fork_generation, __ATOMIC_RELAXED);
}
/* Remember a one-line note for the header (first one wins). */
void trace_writer_set_counters_note(const char *note);
/* Lock/unlock the writer around fork so the child never inherits it held. */
void trace_writer_lock(void);
void trace_writer_unlock(void);

/* ---- markers.c / lifecycle.c --------------------------------------------- */

/* Per-process lifecycle state. */
enum shim_state {
	SHIM_UNINITIALISED,
	SHIM_INITIALISING,
	SHIM_READY,
	SHIM_DISABLED, /* not configured, or initialisation failed */
	SHIM_FINISHED, /* process exiting: markers pass through */
};

extern int shim_state;

/* Around exec: close the trace with ITP_END_EXEC; undo if exec returns. */
bool shim_before_exec(void);
void shim_after_failed_exec(bool was_closed);

/* Initialise once; safe to call from any thread and from other libraries'
 * constructors. Returns true when markers should record. */
bool shim_ensure_ready(void);
/* Iterations of a region of the calling thread; what the exported markers and
 * the patched functions' hooks call. @end_ns is read by the caller, first. */
void markers_begin(const char *region);
void markers_end(const char *region, uint64_t end_ns);
/* The open iteration of @region (and any inside it) will never end: a
 * patched function was left by longjmp or an exception. Counted as dropped. */
void markers_abandon(const char *region);
/* -f fast path (patch-fast.c): remember which region of this thread @site
 * records into; end a fast-path iteration that the fast exit could not
 * write; or drop it (its frame was unwound). */
void markers_cache_site(uint32_t site, const char *region);
void markers_end_fast(uint16_t region, uint64_t begin_tsc, uint64_t end_tsc);
void markers_abandon_fast(void);
/* Write an ITP_REC_FUNCTION record (what became of a -f pattern). */
void markers_write_function(uint16_t status, const char *pattern, const char *name,
			    const char *module, const char *reason);
/* Thread registry, walked at fork and exit. */
void markers_after_fork_child(void);
void markers_totals(uint64_t *iterations, uint64_t *dropped);
void markers_registry_lock(void);
void markers_registry_unlock(void);
void markers_init_thread_key(void);

#endif /* ITERPROF_SHIM_H */

/*
 * The marker API and the per-thread state behind it.
 *
 * Every thread that calls a marker gets its own state (counters, chunk,
 * regions, stack of open iterations), set up at its first call: lazily rather
 * than by wrapping pthread_create, which would miss threads made with raw
 * clone() and threads that existed before the shim was ready. The state is
 * mmap'd once and reached through an initial-exec TLS pointer, which needs no
 * allocation (general-dynamic TLS may call malloc on first access). The
 * per-iteration path allocates nothing and takes no lock.
 *
 * Order of reads: at begin the counters are read before the clock, at end the
 * clock before the counters, so that the measured interval contains as little
 * of the shim's own work as possible.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ITERPROF_NO_MARKER_MACROS
#include "iterprof/iterprof.h"
#include "iterprof/trace-codec.h"
#include "shim.h"
#include "stacks.h"
#include "thread.h"

__thread struct thread_state *markers_thread;
__thread int markers_busy;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_state *registry;
/* Totals of threads that have exited (their state is gone). */
static uint64_t exited_iterations, exited_dropped;
static pthread_key_t thread_key;

void markers_registry_lock(void) { pthread_mutex_lock(&registry_lock); }
void markers_registry_unlock(void) { pthread_mutex_unlock(&registry_lock); }

static void registry_remove_locked(struct thread_state *ts)
{
	for (struct thread_state **p = &registry; *p; p = &(*p)->next) {
		if (*p == ts) {
			*p = ts->next;
			return;
		}
	}
}

/* Thread exit: close its counters and give its memory back. */
static void thread_state_destroy(void *arg)
{
	struct thread_state *ts = arg;

	if (!ts)
		return;
	pthread_mutex_lock(&registry_lock);
	registry_remove_locked(ts);
	exited_iterations += ts->iterations;
	exited_dropped += ts->dropped;
	pthread_mutex_unlock(&registry_lock);
	counters_close(&ts->counters);
	stacks_thread_close(ts->stacks);
	if (markers_thread == ts)
		markers_thread = NULL;
	munmap(ts, sizeof(*ts));
}

void markers_init_thread_key(void)
{
	pthread_key_create(&thread_key, thread_state_destroy);
}

void markers_totals(uint64_t *iterations, uint64_t *dropped)
{
	pthread_mutex_lock(&registry_lock);
	*iterations = exited_iterations;
	*dropped = exited_dropped;
	for (struct thread_state *ts = registry; ts; ts = ts->next) {
		*iterations += ts->iterations;
		*dropped += ts->dropped;
	}
	pthread_mutex_unlock(&registry_lock);
}

/*
 * In a forked child only the forking thread exists. The other threads' states
 * are unreachable garbage: unmap them. Every inherited perf fd is closed
 * (they measure the parent's threads). The surviving thread is set up again
 * at its next marker, for the child's own file.
 */
void markers_after_fork_child(void)
{
	struct thread_state *ts = registry, *next;

	pthread_mutex_init(&registry_lock, NULL);
	registry = NULL;
	exited_iterations = exited_dropped = 0;
	for (; ts; ts = next) {
		next = ts->next;
		counters_drop_inherited(&ts->counters);
		stacks_drop_inherited(ts->stacks);
		ts->stacks = NULL;
		if (ts == markers_thread) {
			ts->next = NULL;
			registry = ts;
		} else {
			munmap(ts, sizeof(*ts));
		}
	}
}

static void drop(struct thread_state *ts, unsigned reason, uint32_t count)
{
	ts->pending_drops[reason] += count;
	ts->has_pending_drops = true;
	ts->dropped += count;
}

/* Set up (or, in a forked child, reset) the calling thread's state. */
static struct thread_state *thread_setup(void)
{
	struct thread_state *ts = markers_thread;
	uint32_t generation = trace_writer_generation();

	if (!ts) {
		void *p = mmap(NULL, sizeof(*ts), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		ts = p;
		pthread_mutex_lock(&registry_lock);
		ts->next = registry;
		registry = ts;
		pthread_mutex_unlock(&registry_lock);
		markers_thread = ts;
		pthread_setspecific(thread_key, ts);
	} else {
		/* Forked child: iterations open at the fork began in the parent
		 * and their begin counters are the parent's; discard them. */
		memset(&ts->cursor, 0, sizeof(ts->cursor));
		memset(ts->pending_drops, 0, sizeof(ts->pending_drops));
		ts->has_pending_drops = false;
		ts->iterations = ts->dropped = 0;
		ts->depth = 0;
		for (unsigned i = 0; i < ts->nregions; i++)
			ts->regions[i].is_emitted = false;
	}
	ts->tid = (pid_t)syscall(SYS_gettid);
	ts->generation = generation;
	ts->fast_depth = 0;
	ts->is_thread_emitted = false;
	ts->is_counters_noted = false;
	ts->counters_error = counters_open(&ts->counters);
	if (ts->stacks)
		stacks_thread_close(ts->stacks);
	ts->is_stacks_noted = false;
	ts->stacks_error = stacks_thread_open(&ts->stacks);
	return ts;
}

static inline struct thread_state *thread_get(void)
{
	struct thread_state *ts = markers_thread;

	if (likely(ts && ts->generation == trace_writer_generation()))
		return ts;
	return thread_setup();
}

/* Index of @name in the thread's regions, created when @create; -1 if none. */
static int region_find(struct thread_state *ts, const char *name, bool create)
{
	unsigned i = ts->last_region;
	size_t len;

	if (!name)
		name = "(null)";
	/* Most loops use one region: try the last one first. strcmp, not a
	 * pointer compare: callers may reuse one buffer for several names. */
	if (i < ts->nregions && !strncmp(ts->regions[i].name, name, ITP_NAME_MAX))
		return (int)i;
	for (i = 0; i < ts->nregions; i++) {
		if (!strncmp(ts->regions[i].name, name, ITP_NAME_MAX)) {
			ts->last_region = i;
			return (int)i;
		}
	}
	if (!create || ts->nregions == MAX_REGIONS)
		return -1;
	len = strnlen(name, ITP_NAME_MAX);
	i = ts->nregions++;
	memcpy(ts->regions[i].name, name, len);
	ts->regions[i].name[len] = '\0';
	ts->regions[i].name_len = (uint32_t)len;
	ts->regions[i].is_emitted = false;
	ts->last_region = i;
	return (int)i;
}


static uint32_t padded(uint32_t n) { return (n + 7u) & ~7u; }

static bool emit_thread(struct thread_state *ts)
{
	uint8_t *rec = trace_writer_reserve(&ts->cursor, ts->tid, ITP_THREAD_RECORD_SIZE);
	char name[ITP_THREAD_NAME_LEN] = "";

	if (!rec)
		return false;
	prctl(PR_GET_NAME, name);
	memset(rec, 0, ITP_THREAD_RECORD_SIZE);
	put_u32(rec + ITP_THREAD_OFF_TID, (uint32_t)ts->tid);
	memcpy(rec + ITP_THREAD_OFF_NAME, name, ITP_THREAD_NAME_LEN);
	trace_writer_commit(&ts->cursor, rec, ITP_REC_THREAD, ITP_THREAD_RECORD_SIZE);
	ts->is_thread_emitted = true;
	return true;
}

static bool emit_note(struct thread_state *ts, const char *text)
{
	uint32_t len = (uint32_t)strlen(text);
	uint32_t size = padded(ITP_NOTE_OFF_TEXT + len + 1);
	uint8_t *rec = trace_writer_reserve(&ts->cursor, ts->tid, size);

	if (!rec)
		return false;
	memset(rec, 0, size);
	put_u32(rec + ITP_NOTE_OFF_LEN, len);
	memcpy(rec + ITP_NOTE_OFF_TEXT, text, len);
	trace_writer_commit(&ts->cursor, rec, ITP_REC_NOTE, size);
	return true;
}

static bool emit_region(struct thread_state *ts, unsigned id)
{
	struct region *r = &ts->regions[id];
	uint32_t size = padded(ITP_REGION_OFF_NAME + r->name_len + 1);
	uint8_t *rec = trace_writer_reserve(&ts->cursor, ts->tid, size);

	if (!rec)
		return false;
	memset(rec, 0, size);
	put_u16(rec + ITP_REGION_OFF_ID, (uint16_t)id);
	put_u16(rec + ITP_REGION_OFF_NAME_LEN, (uint16_t)r->name_len);
	memcpy(rec + ITP_REGION_OFF_NAME, r->name, r->name_len);
	trace_writer_commit(&ts->cursor, rec, ITP_REC_REGION, size);
	r->is_emitted = true;
	return true;
}

static bool emit_drops(struct thread_state *ts)
{
	for (unsigned reason = 1; reason < DROP_REASONS; reason++) {
		uint8_t *rec;

		if (!ts->pending_drops[reason])
			continue;
		rec = trace_writer_reserve(&ts->cursor, ts->tid, ITP_DROPPED_RECORD_SIZE);
		if (!rec)
			return false;
		put_u32(rec + ITP_DROPPED_OFF_COUNT, ts->pending_drops[reason]);
		put_u32(rec + ITP_DROPPED_OFF_REASON, reason);
		trace_writer_commit(&ts->cursor, rec, ITP_REC_DROPPED, ITP_DROPPED_RECORD_SIZE);
		ts->pending_drops[reason] = 0;
	}
	ts->has_pending_drops = false;
	return true;
}

/* The records that must precede an iteration of @region, once each. */
static bool emit_prerequisites(struct thread_state *ts, unsigned region)
{
	if (unlikely(!ts->is_thread_emitted) && !emit_thread(ts))
		return false;
	if (unlikely(ts->counters_error && !ts->is_counters_noted)) {
		char text[128];

		snprintf(text, sizeof(text), "this thread has no counters: perf_event_open: %s",
			 strerror(-ts->counters_error));
		if (!emit_note(ts, text))
			return false;
		ts->is_counters_noted = true;
	}
	if (unlikely(ts->stacks_error && !ts->is_stacks_noted)) {
		char text[200];

		/* The prefix is a contract: the analyzer recognises it. */
		snprintf(text, sizeof(text), ITP_NOTE_NO_STACKS "perf events: %s",
			 strerror(-ts->stacks_error));
		if (!emit_note(ts, text))
			return false;
		ts->is_stacks_noted = true;
	}
	if (unlikely(ts->has_pending_drops) && !emit_drops(ts))
		return false;
	if (unlikely(!ts->regions[region].is_emitted) && !emit_region(ts, region))
		return false;
	return true;
}

/* A clock-only, outermost iteration: an entry of the chunk's batch. */
static bool write_batch_entry(struct thread_state *ts, uint16_t region, uint64_t start_ns,
			      uint64_t duration_ns)
{
	if (trace_writer_batch_add(&ts->cursor, region, start_ns, duration_ns))
		return true;
	/* A new chunk first. */
	return trace_writer_reserve(&ts->cursor, ts->tid, ITP_BATCH_ROOM) &&
	       trace_writer_batch_add(&ts->cursor, region, start_ns, duration_ns);
}

/* True when the iteration's record was written. */
static bool write_iteration(struct thread_state *ts, const struct open_iteration *o,
			    uint64_t end_ns, const struct counter_snapshot *end)
{
	struct itp_iteration it;
	uint32_t size;
	uint8_t *rec;

	if (unlikely(!emit_prerequisites(ts, o->region)))
		goto dropped;
	if (!shim_config.has_counters && o == ts->stack && !ts->fast_depth) {
		if (!write_batch_entry(ts, o->region, o->start_ns, end_ns - o->start_ns))
			goto dropped;
		ts->iterations++;
		return false; /* a batch entry: no SAMPLES can follow it */
	}
	rec = trace_writer_reserve(&ts->cursor, ts->tid, ITP_ITER_RECORD_MAX(ITP_MAX_COUNTERS));
	if (unlikely(!rec))
		goto dropped;
	it.region_id = o->region;
	it.flags = (uint16_t)counters_delta(&ts->counters, &o->begin, end, it.values);
	it.depth = (uint32_t)(o - ts->stack) + ts->fast_depth;
	it.start_ns = o->start_ns;
	it.duration_ns = end_ns - o->start_ns;
	it.enabled = it.running = 0;
	if (end->is_valid && o->begin.is_valid) {
		it.enabled = end->enabled - o->begin.enabled;
		it.running = end->running - o->begin.running;
	}
	size = itp_iteration_encode(rec, &it, events_value_count(), ts->cursor.prev_start_ns);
	ts->cursor.prev_start_ns = it.start_ns;
	trace_writer_commit(&ts->cursor, rec, ITP_REC_ITERATION, size);
	ts->iterations++;
	return true;
dropped:
	/* No space: the drop is counted; it reaches the file only if space
	 * comes back, and the footer always. */
	ts->pending_drops[ITP_DROP_TRACE_FULL]++;
	ts->has_pending_drops = true;
	ts->dropped++;
	return false;
}

void markers_begin(const char *region)
{
	int saved_errno = errno;
	struct thread_state *ts;
	struct open_iteration *o;
	int id;

	if (unlikely(__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_READY) &&
	    !shim_ensure_ready())
		goto out;
	if (unlikely(markers_busy)) {
		if (markers_thread)
			drop(markers_thread, ITP_DROP_REENTERED, 1);
		goto out;
	}
	markers_busy = 1;
	ts = thread_get();
	if (unlikely(!ts))
		goto unbusy;
	id = region_find(ts, region, true);
	if (unlikely(id < 0)) {
		drop(ts, ITP_DROP_TOO_MANY_REGIONS, 1);
		goto unbusy;
	}
	/* Recursion or re-entry of an open region: only the outermost pair
	 * is an iteration. */
	for (unsigned d = 0; d < ts->depth; d++) {
		if (ts->stack[d].region == id) {
			ts->stack[d].recursion++;
			goto unbusy;
		}
	}
	if (unlikely(ts->depth == MAX_DEPTH)) {
		drop(ts, ITP_DROP_TOO_DEEP, 1);
		goto unbusy;
	}
	o = &ts->stack[ts->depth++];
	o->region = (uint16_t)id;
	o->recursion = 0;
	/* Stacks of outermost iterations only; their samples cover the
	 * inner ones. */
	if (ts->stacks && o == ts->stack && !ts->fast_depth)
		stacks_start(ts->stacks);
	if (likely(shim_config.has_counters))
		counters_read_begin(&ts->counters, &o->begin);
	else
		o->begin.is_valid = false; /* --no-counters: the clock alone */
	o->start_ns = clock_now_ns();
unbusy:
	markers_busy = 0;
out:
	errno = saved_errno;
}

void markers_end(const char *region, uint64_t end_ns)
{
	int saved_errno = errno;
	/* Not zeroed: ~200 bytes at every iteration; counters_read_end sets
	 * what the delta reads (as counters_read_begin does for o->begin). */
	struct counter_snapshot end;
	struct thread_state *ts;
	struct open_iteration *o;
	int id, k;

	if (unlikely(__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_READY))
		goto out;
	if (unlikely(markers_busy))
		goto out;
	ts = markers_thread;
	/* No state, or a forked child whose open iterations began in the
	 * parent: there is nothing this end can close. */
	if (unlikely(!ts || ts->generation != trace_writer_generation() || !ts->depth))
		goto out;
	markers_busy = 1;
	id = region_find(ts, region, false);
	for (k = (int)ts->depth - 1; k >= 0; k--) {
		if (ts->stack[k].region == id)
			break;
	}
	if (unlikely(k < 0 || id < 0))
		goto unbusy; /* end without begin: ignored */
	o = &ts->stack[k];
	if (o->recursion) {
		o->recursion--;
		goto unbusy;
	}
	if (unlikely(k != (int)ts->depth - 1)) {
		/* Closing an outer region closes the inner ones that never
		 * ended: they are not iterations, only drops. */
		drop(ts, ITP_DROP_UNBALANCED, ts->depth - 1 - (unsigned)k);
	}
	if (likely(shim_config.has_counters))
		counters_read_end(&ts->counters, &o->begin, &end);
	else
		end.is_valid = false;
	if (ts->stacks && k == 0 && !ts->fast_depth) {
		/* Stack records first: an iteration's SAMPLES record follows
		 * its ITERATION record directly. */
		bool can_write = emit_prerequisites(ts, o->region);
		bool has_samples = stacks_finish(ts->stacks, end_ns - o->start_ns,
						 can_write ? &ts->cursor : NULL, ts->tid);

		if (write_iteration(ts, o, end_ns, &end) && has_samples)
			stacks_write_samples(ts->stacks, &ts->cursor, ts->tid);
	} else {
		write_iteration(ts, o, end_ns, &end);
	}
	ts->depth = (unsigned)k;
unbusy:
	markers_busy = 0;
out:
	errno = saved_errno;
}

void markers_abandon(const char *region)
{
	struct thread_state *ts = markers_thread;
	int id, k;

	if (!ts || ts->generation != trace_writer_generation() || markers_busy)
		return;
	markers_busy = 1;
	id = region_find(ts, region, false);
	for (k = (int)ts->depth - 1; k >= 0; k--) {
		if (ts->stack[k].region == id)
			break;
	}
	if (k >= 0 && id >= 0) {
		drop(ts, ITP_DROP_UNWOUND, ts->depth - (unsigned)k);
		ts->depth = (unsigned)k;
		if (k == 0 && ts->stacks && !ts->fast_depth)
			stacks_finish(ts->stacks, 0, NULL, 0); /* stop, drain */
	}
	markers_busy = 0;
}

void markers_cache_site(uint32_t site, const char *region)
{
	struct thread_state *ts = markers_thread;
	int id;

	if (!ts || ts->generation != trace_writer_generation() || markers_busy)
		return;
	id = region_find(ts, region, false);
	if (id >= 0) {
		ts->site_cache[site % SITE_CACHE_SIZE].site_plus_one = site + 1;
		ts->site_cache[site % SITE_CACHE_SIZE].region = (uint16_t)id;
	}
}

void markers_end_fast(uint16_t region, uint64_t begin_tsc, uint64_t end_tsc)
{
	struct thread_state *ts = markers_thread;
	uint64_t start_ns, duration_ns;

	/* A forked child: the iteration began in the parent. */
	if (!ts || ts->generation != trace_writer_generation() || markers_busy)
		return;
	markers_busy = 1;
	ts->fast_depth = 0;
	tsc_interval_to_ns(begin_tsc, end_tsc, &start_ns, &duration_ns);
	if (unlikely(!emit_prerequisites(ts, region)))
		goto dropped;
	if (!write_batch_entry(ts, region, start_ns, duration_ns))
		goto dropped;
	ts->iterations++;
	markers_busy = 0;
	return;
dropped:
	drop(ts, ITP_DROP_TRACE_FULL, 1);
	markers_busy = 0;
}

void markers_abandon_fast(void)
{
	struct thread_state *ts = markers_thread;

	if (!ts || ts->generation != trace_writer_generation() || !ts->fast_depth)
		return;
	ts->fast_depth = 0;
	if (!markers_busy)
		drop(ts, ITP_DROP_UNWOUND, 1);
}

void markers_write_function(uint16_t status, const char *pattern, const char *name,
			    const char *module, const char *reason)
{
	const char *strings[4] = { pattern, name, module, reason };
	uint16_t lengths[4];
	uint32_t size = ITP_FUNCTION_OFF_STRINGS;
	struct thread_state *ts;
	uint8_t *rec, *p;

	if (markers_busy)
		return;
	markers_busy = 1;
	ts = thread_get();
	if (!ts || (!ts->is_thread_emitted && !emit_thread(ts)))
		goto out;
	for (int i = 0; i < 4; i++) {
		/* Each string is cut to 1000 bytes so the record fits a chunk. */
		lengths[i] = (uint16_t)strnlen(strings[i] ? strings[i] : "", 1000);
		size += lengths[i] + 1u;
	}
	size = padded(size);
	rec = trace_writer_reserve(&ts->cursor, ts->tid, size);
	if (!rec)
		goto out;
	memset(rec, 0, size);
	put_u16(rec + ITP_FUNCTION_OFF_STATUS, status);
	put_u16(rec + ITP_FUNCTION_OFF_PATTERN_LEN, lengths[0]);
	put_u16(rec + ITP_FUNCTION_OFF_NAME_LEN, lengths[1]);
	put_u16(rec + ITP_FUNCTION_OFF_MODULE_LEN, lengths[2]);
	put_u16(rec + ITP_FUNCTION_OFF_REASON_LEN, lengths[3]);
	p = rec + ITP_FUNCTION_OFF_STRINGS;
	for (int i = 0; i < 4; i++) {
		if (lengths[i])
			memcpy(p, strings[i], lengths[i]);
		p += lengths[i] + 1u;
	}
	trace_writer_commit(&ts->cursor, rec, ITP_REC_FUNCTION, size);
out:
	markers_busy = 0;
}

__attribute__((visibility("default"))) void iterprof_iter_begin(const char *region)
{
	markers_begin(region);
}

__attribute__((visibility("default"))) void iterprof_iter_end(const char *region)
{
	markers_end(region, clock_now_ns());
}

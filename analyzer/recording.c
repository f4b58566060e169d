/*
 * recording: a directory of trace files (or one file) read into the model
 * declared in recording.h, through trace_reader.
 *
 * A file that fails to read fails the whole recording: a report that
 * silently left out a process would be wrong without saying so. A file
 * that is merely truncated is read and flagged.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iterprof/env-format.h"
#include "recording.h"
#include "trace-reader.h"

#define TRACE_PREFIX "iterprof-"
#define TRACE_SUFFIX ".trace"

static void region_free(struct recording_region *region)
{
	free(region->name);
	free(region->start_ns);
	column_free(&region->duration_ns);
	column_free(&region->flags);
	for (unsigned c = 0; c < ITP_MAX_COUNTERS; c++)
		column_free(&region->values[c]);
	free(region->stacks.iterations);
	free(region->stacks.samples);
}

static void thread_free(struct recording_thread *thread)
{
	for (unsigned i = 0; i < thread->region_count; i++)
		region_free(&thread->regions[i]);
	free(thread->regions);
	for (unsigned i = 0; i < thread->note_count; i++)
		free(thread->notes[i]);
	free(thread->notes);
	free(thread->stacks);
	free(thread->frames);
}

static void function_free(struct recording_function *f)
{
	free(f->pattern);
	free(f->name);
	free(f->module);
	free(f->reason);
}

static void process_free(struct recording_process *process)
{
	for (unsigned i = 0; i < process->thread_count; i++)
		thread_free(&process->threads[i]);
	free(process->threads);
	for (unsigned i = 0; i < process->function_count; i++)
		function_free(&process->functions[i]);
	free(process->functions);
	for (unsigned i = 0; i < process->module_count; i++)
		free(process->modules[i].path);
	free(process->modules);
	free(process->file);
}

void recording_free(struct recording *rec)
{
	if (!rec)
		return;
	for (unsigned i = 0; i < rec->process_count; i++)
		process_free(&rec->processes[i]);
	free(rec->processes);
	free(rec->path);
	free(rec);
}

int recording_counter_index(const struct recording_process *process, uint16_t id)
{
	for (unsigned c = 0; c < process->counter_count; c++)
		if (process->counters[c].id == id && process->counters[c].is_counting)
			return (int)c;
	return -1;
}

/* realloc that leaves *@ptr alone on failure. */
static int grow(void **ptr, size_t count, size_t size)
{
	void *p = realloc(*ptr, count * size);

	if (!p && count)
		return -ENOMEM;
	*ptr = p;
	return 0;
}

/* Make room for @more elements of @size bytes after @count in *@ptr of
 * *@capacity, doubling. 0 or -ENOMEM (nothing changed). */
static int reserve(void **ptr, size_t *capacity, size_t count, size_t more, size_t size)
{
	size_t want = *capacity ? *capacity : 16;

	if (count + more <= *capacity)
		return 0;
	while (want < count + more)
		want *= 2;
	if (grow(ptr, want, size))
		return -ENOMEM;
	*capacity = want;
	return 0;
}

/* Shrink *@ptr to @count elements: the doubling's spare half is only
 * needed while reading. */
static void fit(void **ptr, size_t *capacity, size_t count, size_t size)
{
	if (count < *capacity && count && !grow(ptr, count, size))
		*capacity = count;
}

const struct recording_sampled *recording_sampled_of(const struct recording_region *region,
						     size_t i)
{
	const struct recording_region_stacks *st = &region->stacks;
	size_t lo = 0, hi = st->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->iterations[mid].iteration < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->count && st->iterations[lo].iteration == i ? &st->iterations[lo] : NULL;
}

long recording_stack_index(const struct recording_thread *thread, uint32_t id)
{
	size_t lo = 0, hi = thread->stack_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (thread->stacks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < thread->stack_count && thread->stacks[lo].id == id ? (long)lo : -1;
}

/* Set the start column of @region to @capacity entries (grow or shrink);
 * the other columns grow by themselves. */
static int region_reserve(struct recording_region *region, size_t capacity)
{
	if (grow((void **)&region->start_ns, capacity, sizeof(uint64_t)))
		return -ENOMEM;
	region->capacity = capacity;
	return 0;
}

/* The region of @thread called @name (@len bytes), created if new.
 * Returns its index or -ENOMEM. */
static int thread_region(struct recording_thread *thread, const char *name, size_t len)
{
	struct recording_region *region;

	len = strnlen(name, len);
	for (unsigned i = 0; i < thread->region_count; i++)
		if (strlen(thread->regions[i].name) == len &&
		    !memcmp(thread->regions[i].name, name, len))
			return (int)i;
	if (grow((void **)&thread->regions, thread->region_count + 1, sizeof(*region)))
		return -ENOMEM;
	region = &thread->regions[thread->region_count];
	memset(region, 0, sizeof(*region));
	region->name = strndup(name, len);
	if (!region->name)
		return -ENOMEM;
	region->min_depth = UINT32_MAX;
	return (int)thread->region_count++;
}

static int region_append(struct recording_region *region,
			 const struct recording_process *process,
			 const struct trace_record *rec)
{
	size_t i = region->count;

	/* Doubling keeps appends O(1); the spare half goes at the end
	 * (region_reserve to the count), so it costs memory only while
	 * reading. */
	if (i == region->capacity &&
	    region_reserve(region, region->capacity ? region->capacity * 2 : 256))
		return -ENOMEM;
	if (column_push(&region->duration_ns, rec->iteration.duration_ns) ||
	    column_push(&region->flags, rec->iteration.flags))
		return -ENOMEM;
	for (unsigned c = 0; c < process->counter_count; c++) {
		if (!process->counters[c].is_counting)
			continue;
		region->has_values[c] = true;
		if (column_push(&region->values[c], rec->iteration.values[c]))
			return -ENOMEM;
	}
	region->start_ns[i] = rec->iteration.start_ns;
	if (rec->iteration.depth < region->min_depth)
		region->min_depth = rec->iteration.depth;
	region->count++;
	return 0;
}

/*
 * One part of a thread's chunks, read by load_part(): by the calling thread,
 * or by a worker when the thread is long enough to split in two (chunks
 * decode independently). What a part reads that belongs to the process
 * (FUNCTION records, drop reasons) is kept in the part and added in order
 * when the parts are joined.
 */
struct load_part {
	/* in */
	const struct recording_process *process; /* counters */
	const struct trace_reader *reader;
	unsigned index;
	uint32_t first_chunk, end_chunk;
	bool is_continuation; /* not the thread's first part */
	/* out */
	struct recording_thread thread;
	unsigned function_count;
	struct recording_function *functions;
	uint64_t dropped_by_reason[ITP_DROP_REASON_MAX + 1];
	int *region_of_id; /* region id -> region index + 1, 0 unbound */
	size_t ids;
	/* per region of thread: in a continuation, the region id its
	 * iterations had when no REGION record of this part named it (the
	 * part before may have), else -1 */
	int *unresolved;
	bool records_before_iteration; /* leading is taken */
	unsigned module_count;
	struct recording_module *modules;
	/* The ITERATION record read last, which a SAMPLES record after it
	 * belongs to. */
	struct {
		bool is_set;
		bool has_samples; /* a SAMPLES record took it already */
		uint32_t depth;
		int region;
		size_t index;
	} last;
	/* In a continuation, a SAMPLES record before any ITERATION: it
	 * belongs to the last iteration of the part before (joined then). */
	struct recording_region_stacks leading;
	uint64_t records;
	uint32_t first_seq, last_seq;
	uint64_t first_offset;
	int err;
	char why[512];
};

static void part_free(struct load_part *lp)
{
	thread_free(&lp->thread);
	for (unsigned i = 0; i < lp->function_count; i++)
		function_free(&lp->functions[i]);
	free(lp->functions);
	free(lp->region_of_id);
	free(lp->unresolved);
	for (unsigned i = 0; i < lp->module_count; i++)
		free(lp->modules[i].path);
	free(lp->modules);
	free(lp->leading.iterations);
	free(lp->leading.samples);
}

/* Note region @idx of @lp's thread as named (-1) or standing for @id. */
static int part_mark(struct load_part *lp, int idx, int id)
{
	if (grow((void **)&lp->unresolved, lp->thread.region_count, sizeof(*lp->unresolved)))
		return -ENOMEM;
	lp->unresolved[idx] = id;
	return 0;
}

/* Iterations of region id @id go to region @idx of @lp's thread from now
 * on. 0 or -ENOMEM. */
static int part_bind(struct load_part *lp, size_t id, int idx)
{
	if (id >= lp->ids) {
		if (grow((void **)&lp->region_of_id, id + 1, sizeof(*lp->region_of_id)))
			return -ENOMEM;
		memset(lp->region_of_id + lp->ids, 0, (id + 1 - lp->ids) * sizeof(*lp->region_of_id));
		lp->ids = id + 1;
	}
	lp->region_of_id[id] = idx + 1;
	return 0;
}

/* The region of @thread called @name (@len bytes), created if new, and a
 * new one noted as named in @lp. Its index or -ENOMEM. */
static int part_named_region(struct load_part *lp, struct recording_thread *thread,
			     const char *name, size_t len)
{
	int idx = thread_region(thread, name, len);

	if (idx < 0 || ((unsigned)idx + 1 == thread->region_count && part_mark(lp, idx, -1)))
		return -ENOMEM;
	return idx;
}

/* The region of @lp's thread for an iteration of region id @id. */
static int part_region_of(struct load_part *lp, uint16_t id)
{
	char name[40];
	int idx;

	if (id < lp->ids && lp->region_of_id[id])
		return lp->region_of_id[id] - 1;
	/* Its REGION record was lost (a seq gap says so), or, in a
	 * continuation, is in the part before: keep the iterations under a
	 * name that says it until the parts are joined. */
	snprintf(name, sizeof(name), "(unnamed region %u)", id);
	idx = thread_region(&lp->thread, name, sizeof(name));
	if (idx < 0 || part_mark(lp, idx, lp->is_continuation ? id : -1))
		return -ENOMEM;
	/* bound to it until a REGION record names the id: once per id, not
	 * once per iteration */
	return part_bind(lp, id, idx) ? -ENOMEM : idx;
}

/* Append a kept iteration (@iteration) with the entries of SAMPLES record
 * @rec to @st; stack ids are resolved when the thread is whole. Entries of
 * kinds a newer shim added are left out. 0 or -ENOMEM. */
static int stacks_append(struct recording_region_stacks *st, uint64_t iteration,
			 const struct trace_record *rec)
{
	struct recording_sampled *s;

	if (reserve((void **)&st->iterations, &st->capacity, st->count, 1,
		    sizeof(*st->iterations)) ||
	    reserve((void **)&st->samples, &st->sample_capacity, st->sample_count,
		    rec->samples.count, sizeof(*st->samples)))
		return -ENOMEM;
	if (st->sample_count + rec->samples.count > UINT32_MAX)
		return -ENOMEM; /* entries are indexed by 32 bits */
	s = &st->iterations[st->count++];
	s->iteration = iteration;
	s->first = (uint32_t)st->sample_count;
	s->count = 0;
	s->lost = rec->samples.lost;
	s->kept = rec->samples.kept;
	for (uint32_t i = 0; i < rec->samples.count; i++) {
		struct trace_sample_entry e;

		trace_samples_entry(rec, i, &e);
		if (e.kind < ITP_SAMPLE_FAULT || e.kind > ITP_SAMPLE_KIND_MAX)
			continue;
		st->samples[st->sample_count++] = (struct recording_sample){
			.stack = e.stack_id, .kind = e.kind, .samples = e.samples };
		s->count++;
	}
	return 0;
}

/* Append @from's kept iterations to @to, their iteration indexes moved by
 * @offset. 0 or -ENOMEM. */
static int stacks_join(struct recording_region_stacks *to,
		       const struct recording_region_stacks *from, uint64_t offset)
{
	size_t base = to->sample_count;

	if (!from->count)
		return 0;
	if (reserve((void **)&to->iterations, &to->capacity, to->count, from->count,
		    sizeof(*to->iterations)) ||
	    reserve((void **)&to->samples, &to->sample_capacity, to->sample_count,
		    from->sample_count, sizeof(*to->samples)) ||
	    base + from->sample_count > UINT32_MAX)
		return -ENOMEM;
	if (from->sample_count)
		memcpy(to->samples + base, from->samples,
		       from->sample_count * sizeof(*from->samples));
	to->sample_count += from->sample_count;
	for (size_t i = 0; i < from->count; i++) {
		struct recording_sampled s = from->iterations[i];

		s.iteration += offset;
		s.first += (uint32_t)base;
		to->iterations[to->count++] = s;
	}
	return 0;
}

static uint64_t samples_total(const struct trace_record *rec)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < rec->samples.count; i++) {
		struct trace_sample_entry e;

		trace_samples_entry(rec, i, &e);
		n += e.samples;
	}
	return n;
}

/* A SAMPLES record: to the outermost iteration read just before it. */
static int part_samples(struct load_part *lp, const struct trace_record *rec)
{
	struct recording_thread *thread = &lp->thread;

	if (!lp->last.is_set && lp->is_continuation && !lp->records_before_iteration) {
		lp->records_before_iteration = true;
		return stacks_append(&lp->leading, 0, rec);
	}
	/* Its iteration lost (a seq gap) or dropped, nested (a damaged
	 * trace), or given samples already: nowhere to put them. */
	if (!lp->last.is_set || lp->last.depth || lp->last.has_samples) {
		thread->orphan_samples += samples_total(rec);
		return 0;
	}
	lp->last.has_samples = true;
	return stacks_append(&thread->regions[lp->last.region].stacks, lp->last.index, rec);
}

/* A STACK record: its frames to the thread's. */
static int part_stack(struct load_part *lp, const struct trace_record *rec)
{
	struct recording_thread *t = &lp->thread;
	unsigned n = rec->stack.frame_count;

	if (reserve((void **)&t->stacks, &t->stack_capacity, t->stack_count, 1,
		    sizeof(*t->stacks)) ||
	    reserve((void **)&t->frames, &t->frame_capacity, t->frame_count, n,
		    sizeof(*t->frames)) ||
	    t->frame_count + n > UINT32_MAX)
		return -ENOMEM;
	t->stacks[t->stack_count++] = (struct recording_stack){
		.id = rec->stack.id,
		.first_frame = (uint32_t)t->frame_count,
		.frame_count = (uint16_t)n,
		.flags = rec->stack.flags,
	};
	for (unsigned i = 0; i < n; i++)
		t->frames[t->frame_count++] = trace_stack_frame(rec, i);
	return 0;
}

static int part_module(struct load_part *lp, const struct trace_record *rec)
{
	struct recording_module m = {
		.start = rec->module.start,
		.end = rec->module.end,
		.bias = rec->module.bias,
		.build_id_len = rec->module.build_id_len,
	};

	memcpy(m.build_id, rec->module.build_id, m.build_id_len);
	m.path = strndup(rec->module.path, rec->module.path_len);
	if (!m.path || grow((void **)&lp->modules, lp->module_count + 1, sizeof(*lp->modules))) {
		free(m.path);
		return -ENOMEM;
	}
	lp->modules[lp->module_count++] = m;
	return 0;
}

/* Read @lp's chunks into it; sets lp->err (0 or -errno, lp->why). */
static void load_part(struct load_part *lp)
{
	struct recording_thread *thread = &lp->thread;
	struct trace_cursor cursor;
	struct trace_record rec;
	int err = 0, idx;

	thread->tid = trace_reader_thread(lp->reader, lp->index)->tid;
	thread->thread_seq = trace_reader_thread(lp->reader, lp->index)->thread_seq;
	trace_cursor_init_range(&cursor, lp->reader, lp->index, lp->first_chunk, lp->end_chunk);
	while ((err = trace_cursor_next(&cursor, &rec, lp->why, sizeof(lp->why))) > 0) {
		switch (rec.type) {
		case ITP_REC_THREAD:
			memcpy(thread->name, rec.thread.name, rec.thread.name_len);
			thread->name[rec.thread.name_len] = '\0';
			break;
		case ITP_REC_REGION:
			idx = part_named_region(lp, thread, rec.region.name, rec.region.name_len);
			if (idx < 0 || part_bind(lp, rec.region.id, idx))
				goto nomem;
			break;
		case ITP_REC_ITERATION_BATCH:
			break; /* never returned: the cursor gives its entries */
		case ITP_REC_ITERATION:
			idx = part_region_of(lp, rec.iteration.region_id);
			if (idx < 0 || region_append(&thread->regions[idx], lp->process, &rec))
				goto nomem;
			thread->iterations++;
			lp->last.is_set = true;
			lp->last.has_samples = false;
			lp->last.depth = rec.iteration.depth;
			lp->last.region = idx;
			lp->last.index = thread->regions[idx].count - 1;
			lp->records_before_iteration = true;
			break;
		case ITP_REC_MODULE:
			if (part_module(lp, &rec))
				goto nomem;
			break;
		case ITP_REC_STACK:
			if (part_stack(lp, &rec))
				goto nomem;
			break;
		case ITP_REC_SAMPLES:
			if (part_samples(lp, &rec))
				goto nomem;
			break;
		case ITP_REC_DROPPED:
			thread->dropped += rec.dropped.count;
			lp->dropped_by_reason[rec.dropped.reason <= ITP_DROP_REASON_MAX
						      ? rec.dropped.reason
						      : 0] += rec.dropped.count;
			break;
		case ITP_REC_FUNCTION: {
			struct recording_function f = {
				.status = rec.function.status,
				.pattern = strndup(rec.function.pattern, rec.function.pattern_len),
				.name = strndup(rec.function.name, rec.function.name_len),
				.module = strndup(rec.function.module, rec.function.module_len),
				.reason = strndup(rec.function.reason, rec.function.reason_len),
			};

			if (!f.pattern || !f.name || !f.module || !f.reason ||
			    grow((void **)&lp->functions, lp->function_count + 1,
				 sizeof(*lp->functions))) {
				function_free(&f);
				goto nomem;
			}
			lp->functions[lp->function_count++] = f;
			break;
		}
		case ITP_REC_NOTE: {
			char *text = strndup(rec.note.text, rec.note.len);

			if (!text || grow((void **)&thread->notes, thread->note_count + 1,
					  sizeof(*thread->notes))) {
				free(text);
				goto nomem;
			}
			thread->notes[thread->note_count++] = text;
			break;
		}
		}
	}
	thread->lost_records = cursor.lost_records;
	lp->records = cursor.records;
	lp->first_seq = cursor.first_seq;
	lp->first_offset = cursor.first_offset;
	lp->last_seq = (uint32_t)(cursor.next_seq - 1);
	lp->err = err < 0 ? err : 0;
	return;

nomem:
	snprintf(lp->why, sizeof(lp->why), "%s: out of memory reading thread %" PRIu32,
		 trace_reader_name(lp->reader), thread->tid);
	lp->err = -ENOMEM;
}

static void *load_part_worker(void *arg)
{
	load_part(arg);
	return NULL;
}

/* Append @from's iterations to @to. */
static int region_join(struct recording_region *to, struct recording_region *from)
{
	if (!from->count)
		return 0;
	if (region_reserve(to, to->count + from->count) ||
	    stacks_join(&to->stacks, &from->stacks, to->count))
		return -ENOMEM;
	memcpy(to->start_ns + to->count, from->start_ns, from->count * sizeof(*to->start_ns));
	if (column_append(&to->duration_ns, &from->duration_ns) ||
	    column_append(&to->flags, &from->flags))
		return -ENOMEM;
	for (unsigned c = 0; c < ITP_MAX_COUNTERS; c++) {
		if (!from->has_values[c])
			continue;
		to->has_values[c] = true;
		if (column_append(&to->values[c], &from->values[c]))
			return -ENOMEM;
	}
	to->count += from->count;
	if (from->min_depth < to->min_depth)
		to->min_depth = from->min_depth;
	return 0;
}

/* Join @next, the part after @lp, into @lp. */
static int part_join(struct load_part *lp, struct load_part *next)
{
	struct recording_thread *t = &lp->thread, *u = &next->thread;

	if (next->records && lp->records) {
		/* the seq gap between the parts, as one cursor would see it */
		uint32_t delta = next->first_seq - (lp->last_seq + 1);

		if (delta >= 0x80000000u) {
			snprintf(lp->why, sizeof(lp->why),
				 "%s: byte %" PRIu64 ": record seq %" PRIu32 " after seq %" PRIu32
				 " (out of order)",
				 trace_reader_name(lp->reader), next->first_offset, next->first_seq,
				 lp->last_seq);
			return -EINVAL;
		}
		t->lost_records += delta;
	}
	if (next->records) {
		lp->last_seq = next->last_seq;
		if (!lp->records) {
			lp->first_seq = next->first_seq;
			lp->first_offset = next->first_offset;
		}
		lp->records += next->records;
	}
	if (!t->name[0])
		memcpy(t->name, u->name, sizeof(t->name));
	/* samples written at the top of the next part's first chunk belong
	 * to this part's last iteration */
	if (next->leading.count) {
		uint64_t n = 0;

		for (size_t i = 0; i < next->leading.sample_count; i++)
			n += next->leading.samples[i].samples;
		if (!lp->last.is_set || lp->last.depth || lp->last.has_samples) {
			t->orphan_samples += n;
		} else {
			lp->last.has_samples = true;
			if (stacks_join(&t->regions[lp->last.region].stacks, &next->leading,
					lp->last.index))
				return -ENOMEM;
		}
	}
	t->orphan_samples += u->orphan_samples;
	if (u->stack_count) {
		if (reserve((void **)&t->stacks, &t->stack_capacity, t->stack_count, u->stack_count,
			    sizeof(*t->stacks)) ||
		    reserve((void **)&t->frames, &t->frame_capacity, t->frame_count,
			    u->frame_count, sizeof(*t->frames)) ||
		    t->frame_count + u->frame_count > UINT32_MAX)
			return -ENOMEM;
		for (size_t i = 0; i < u->stack_count; i++) {
			struct recording_stack st = u->stacks[i];

			st.first_frame += (uint32_t)t->frame_count;
			t->stacks[t->stack_count++] = st;
		}
		memcpy(t->frames + t->frame_count, u->frames, u->frame_count * sizeof(*u->frames));
		t->frame_count += u->frame_count;
	}
	for (unsigned i = 0; i < next->module_count; i++) {
		if (grow((void **)&lp->modules, lp->module_count + 1, sizeof(*lp->modules)))
			return -ENOMEM;
		lp->modules[lp->module_count++] = next->modules[i];
		next->modules[i].path = NULL;
	}
	t->iterations += u->iterations;
	t->dropped += u->dropped;
	t->lost_records += u->lost_records;
	for (unsigned r = 0; r <= ITP_DROP_REASON_MAX; r++)
		lp->dropped_by_reason[r] += next->dropped_by_reason[r];
	for (unsigned i = 0; i < u->note_count; i++) {
		if (grow((void **)&t->notes, t->note_count + 1, sizeof(*t->notes)))
			return -ENOMEM;
		t->notes[t->note_count++] = u->notes[i];
		u->notes[i] = NULL;
	}
	for (unsigned i = 0; i < next->function_count; i++) {
		if (grow((void **)&lp->functions, lp->function_count + 1, sizeof(*lp->functions)))
			return -ENOMEM;
		lp->functions[lp->function_count++] = next->functions[i];
		memset(&next->functions[i], 0, sizeof(next->functions[i]));
	}
	for (unsigned r = 0; r < u->region_count; r++) {
		struct recording_region *from = &u->regions[r];
		const char *name = from->name;
		int idx, id = next->unresolved[r];

		/* an id the part before named */
		if (id >= 0 && (size_t)id < lp->ids && lp->region_of_id[id])
			name = t->regions[lp->region_of_id[id] - 1].name;
		idx = part_named_region(lp, t, name, strlen(name));
		if (idx < 0 || region_join(&t->regions[idx], from))
			return -ENOMEM;
	}
	return 0;
}

static int stack_compare(const void *a, const void *b)
{
	const struct recording_stack *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* The thread is whole: sort its stacks by id for lookups and point its
 * samples at them. 0, -EINVAL (a stack id written twice) or -ENOMEM. */
static int thread_finish_stacks(struct recording_thread *thread, const char *file, char *why,
				size_t why_len)
{
	if (thread->stack_count) /* qsort of NULL is undefined, even of 0 */
		qsort(thread->stacks, thread->stack_count, sizeof(*thread->stacks), stack_compare);
	for (size_t i = 1; i < thread->stack_count; i++)
		if (thread->stacks[i].id == thread->stacks[i - 1].id) {
			/* the shim writes each stack once: its samples could
			 * not say which of the two they mean */
			snprintf(why, why_len, "%s: thread %" PRIu32 ": stack id %" PRIu32
				 " written twice", file, thread->tid, thread->stacks[i].id);
			return -EINVAL;
		}
	fit((void **)&thread->stacks, &thread->stack_capacity, thread->stack_count,
	    sizeof(*thread->stacks));
	fit((void **)&thread->frames, &thread->frame_capacity, thread->frame_count,
	    sizeof(*thread->frames));
	for (unsigned r = 0; r < thread->region_count; r++) {
		struct recording_region_stacks *st = &thread->regions[r].stacks;

		for (size_t i = 0; i < st->sample_count; i++) {
			long k = recording_stack_index(thread, st->samples[i].stack);

			if (k < 0) { /* its STACK record was lost */
				thread->orphan_samples += st->samples[i].samples;
				st->samples[i].stack = RECORDING_NO_STACK;
			} else {
				st->samples[i].stack = (uint32_t)k;
			}
		}
		fit((void **)&st->iterations, &st->capacity, st->count, sizeof(*st->iterations));
		fit((void **)&st->samples, &st->sample_capacity, st->sample_count,
		    sizeof(*st->samples));
	}
	return 0;
}

/* Threads of at least this many chunks (64 KiB each by default) are read
 * in two parts at once when a second CPU is online. */
#define PARALLEL_MIN_CHUNKS 32

/* Read one thread's records into @thread. */
static int load_thread(struct recording_process *process, struct recording_thread *thread,
		       const struct trace_reader *reader, unsigned index, char *why,
		       size_t why_len)
{
	uint32_t chunks = trace_reader_thread(reader, index)->chunk_count;
	struct load_part part[2];
	unsigned parts = 1;
	pthread_t worker;
	int err;

	memset(part, 0, sizeof(part));
	for (unsigned k = 0; k < 2; k++) {
		part[k].process = process;
		part[k].reader = reader;
		part[k].index = index;
	}
	part[0].end_chunk = chunks;
	if (chunks >= PARALLEL_MIN_CHUNKS && sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
	    !getenv("ITERPROF_REPORT_SERIAL")) {
		part[0].end_chunk = chunks / 2;
		part[1].first_chunk = chunks / 2;
		part[1].end_chunk = chunks;
		part[1].is_continuation = true;
		if (!pthread_create(&worker, NULL, load_part_worker, &part[1]))
			parts = 2;
		else
			part[0].end_chunk = chunks; /* no thread: one part after all */
	}
	load_part(&part[0]);
	if (parts == 2)
		pthread_join(worker, NULL);
	err = part[0].err;
	if (!err && parts == 2) {
		err = part[1].err;
		if (err)
			memcpy(part[0].why, part[1].why, sizeof(part[0].why));
		else
			err = part_join(&part[0], &part[1]);
	}
	if (parts == 2)
		part_free(&part[1]);
	if (err) {
		snprintf(why, why_len, "%s", part[0].why);
		part_free(&part[0]);
		return err;
	}
	/* the thread and the process take what the part read */
	*thread = part[0].thread;
	memset(&part[0].thread, 0, sizeof(part[0].thread));
	for (unsigned r = 0; r <= ITP_DROP_REASON_MAX; r++)
		process->dropped_by_reason[r] += part[0].dropped_by_reason[r];
	for (unsigned i = 0; i < part[0].function_count; i++) {
		if (grow((void **)&process->functions, process->function_count + 1,
			 sizeof(*process->functions))) {
			part_free(&part[0]);
			snprintf(why, why_len, "%s: out of memory", trace_reader_name(reader));
			return -ENOMEM;
		}
		process->functions[process->function_count++] = part[0].functions[i];
		memset(&part[0].functions[i], 0, sizeof(part[0].functions[i]));
	}
	if (part[0].module_count) {
		if (grow((void **)&process->modules, process->module_count + part[0].module_count,
			 sizeof(*process->modules))) {
			part_free(&part[0]);
			snprintf(why, why_len, "%s: out of memory", trace_reader_name(reader));
			return -ENOMEM;
		}
		memcpy(process->modules + process->module_count, part[0].modules,
		       part[0].module_count * sizeof(*part[0].modules));
		process->module_count += part[0].module_count;
		part[0].module_count = 0;
	}
	part_free(&part[0]);
	err = thread_finish_stacks(thread, trace_reader_name(reader), why, why_len);
	if (err)
		return err;
	for (unsigned i = 0; i < thread->region_count; i++) {
		struct recording_region *region = &thread->regions[i];

		if (region->count && region_reserve(region, region->count))
			return -ENOMEM;
		column_shrink(&region->duration_ns);
		column_shrink(&region->flags);
		for (unsigned c = 0; c < ITP_MAX_COUNTERS; c++)
			column_shrink(&region->values[c]);
		if (region->min_depth == UINT32_MAX)
			region->min_depth = 0;
	}
	return 0;
}

static int load_process(struct recording_process *p, const struct trace_reader *reader,
			char *why, size_t why_len)
{
	const struct trace_file_info *info = trace_reader_info(reader);
	int err;

	p->file = strdup(trace_reader_name(reader));
	if (!p->file)
		goto nomem;
	p->header = *info;
	p->counter_count = info->counter_count;
	for (unsigned c = 0; c < info->counter_count; c++) {
		const struct trace_counter *tc = &info->counters[c];
		struct recording_counter *rc = &p->counters[c];

		snprintf(rc->name, sizeof(rc->name), "%s", tc->name);
		rc->id = tc->id;
		rc->source = tc->source;
		rc->error = tc->error;
		rc->is_counting = tc->is_counting;
		rc->is_kernel = tc->flags & ITP_COUNTER_KERNEL;
		rc->is_user_read = tc->flags & ITP_COUNTER_USER_READ;
		snprintf(rc->why, sizeof(rc->why), "%s", tc->is_counting ? "" : tc->why);
	}
	p->is_truncated = info->is_truncated;

	p->thread_count = trace_reader_thread_count(reader);
	p->threads = calloc(p->thread_count ? p->thread_count : 1, sizeof(*p->threads));
	if (!p->threads)
		goto nomem;
	for (unsigned t = 0; t < p->thread_count; t++) {
		err = load_thread(p, &p->threads[t], reader, t, why, why_len);
		if (err)
			return err;
		p->iterations += p->threads[t].iterations;
		p->dropped += p->threads[t].dropped;
		p->lost_records += p->threads[t].lost_records;
	}
	/* Drops are written as DROPPED records only when there is space for
	 * them; on a full disk only the footer counts them. The footer is then
	 * the total, and what no record explains has no known reason. */
	if (p->header.has_footer && p->header.footer_dropped > p->dropped) {
		p->dropped_by_reason[0] += p->header.footer_dropped - p->dropped;
		p->dropped = p->header.footer_dropped;
	}
	return 0;

nomem:
	snprintf(why, why_len, "%s: out of memory", trace_reader_name(reader));
	return -ENOMEM;
}

/* Append one more process to @rec, read from @reader. */
static int recording_add(struct recording *rec, const struct trace_reader *reader, char *why,
			 size_t why_len)
{
	struct recording_process *p;

	if (grow((void **)&rec->processes, rec->process_count + 1, sizeof(*p))) {
		snprintf(why, why_len, "%s: out of memory", trace_reader_name(reader));
		return -ENOMEM;
	}
	p = &rec->processes[rec->process_count++];
	memset(p, 0, sizeof(*p));
	return load_process(p, reader, why, why_len);
}

static int recording_add_file(struct recording *rec, const char *file, char *why,
			      size_t why_len)
{
	struct trace_reader *reader;
	int err = trace_reader_open(file, &reader, why, why_len);

	if (err)
		return err;
	err = recording_add(rec, reader, why, why_len);
	trace_reader_close(reader);
	return err;
}

static int process_compare(const void *a, const void *b)
{
	const struct recording_process *x = a, *y = b;

	if (x->header.pid != y->header.pid)
		return x->header.pid < y->header.pid ? -1 : 1;
	if (x->header.exec_generation != y->header.exec_generation)
		return x->header.exec_generation < y->header.exec_generation ? -1 : 1;
	return strcmp(x->file, y->file);
}

static bool is_trace_name(const char *name)
{
	size_t len = strlen(name);

	return len > strlen(TRACE_PREFIX) + strlen(TRACE_SUFFIX) &&
	       !strncmp(name, TRACE_PREFIX, strlen(TRACE_PREFIX)) &&
	       !strcmp(name + len - strlen(TRACE_SUFFIX), TRACE_SUFFIX);
}

static int recording_add_directory(struct recording *rec, const char *dir, char *why,
				   size_t why_len)
{
	struct dirent **names = NULL;
	int n, err = 0;
	unsigned files = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", dir, strerror(errno));
		return err;
	}
	for (int i = 0; i < n; i++) {
		char *file;

		/* Only traces: the launcher's iterprof-env.timeline (and
		 * anything else) is not ours to read here. */
		if (err || !is_trace_name(names[i]->d_name) ||
		    !strcmp(names[i]->d_name, ITP_ENV_FILE_NAME))
			continue;
		if (asprintf(&file, "%s/%s", dir, names[i]->d_name) < 0) {
			snprintf(why, why_len, "%s: out of memory", dir);
			err = -ENOMEM;
			continue;
		}
		err = recording_add_file(rec, file, why, why_len);
		free(file);
		files++;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!err && !files) {
		snprintf(why, why_len, "no trace files in %s (was it written by iterprof record?)",
			 dir);
		err = -ENODATA;
	}
	return err;
}

/* Facts that need every file: which images ended by exec. */
static void recording_finish(struct recording *rec)
{
	qsort(rec->processes, rec->process_count, sizeof(*rec->processes), process_compare);
	for (unsigned i = 0; i < rec->process_count; i++) {
		struct recording_process *p = &rec->processes[i];
		bool has_later = i + 1 < rec->process_count && rec->processes[i + 1].header.pid == p->header.pid;

		/* An exec replaces the image without an exit, so its file has no
		 * footer; the next image's file shows that is what happened. */
		p->is_ended_by_exec = (p->header.has_footer && p->header.end_reason == ITP_END_EXEC) ||
				      (!p->header.has_footer && has_later);
		p->is_truncated = (!p->header.has_footer && !p->is_ended_by_exec) || p->header.is_cut;
	}
}

static struct recording *recording_new(const char *path, char *why, size_t why_len)
{
	struct recording *rec = calloc(1, sizeof(*rec));

	if (rec && !(rec->path = strdup(path))) {
		free(rec);
		rec = NULL;
	}
	if (!rec)
		snprintf(why, why_len, "%s: out of memory", path);
	return rec;
}

int recording_open(const char *path, struct recording **out, char *why, size_t why_len)
{
	struct recording *rec;
	struct stat st;
	int err;

	*out = NULL;
	if (stat(path, &st) < 0) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return err;
	}
	rec = recording_new(path, why, why_len);
	if (!rec)
		return -ENOMEM;
	if (S_ISDIR(st.st_mode))
		err = recording_add_directory(rec, path, why, why_len);
	else
		err = recording_add_file(rec, path, why, why_len);
	if (err) {
		recording_free(rec);
		return err;
	}
	recording_finish(rec);
	*out = rec;
	return 0;
}

int recording_open_buffer(const void *data, size_t size, const char *name,
			  struct recording **out, char *why, size_t why_len)
{
	struct trace_reader *reader;
	struct recording *rec;
	int err;

	*out = NULL;
	rec = recording_new(name, why, why_len);
	if (!rec)
		return -ENOMEM;
	err = trace_reader_open_buffer(data, size, name, &reader, why, why_len);
	if (!err) {
		err = recording_add(rec, reader, why, why_len);
		trace_reader_close(reader);
	}
	if (err) {
		recording_free(rec);
		return err;
	}
	recording_finish(rec);
	*out = rec;
	return 0;
}

/* Did any process complete an iteration of region @name? */
static bool function_was_called(const struct recording *rec, const char *name)
{
	for (unsigned i = 0; i < rec->process_count; i++) {
		const struct recording_process *p = &rec->processes[i];

		for (unsigned t = 0; t < p->thread_count; t++)
			for (unsigned r = 0; r < p->threads[t].region_count; r++)
				if (p->threads[t].regions[r].count &&
				    !strcmp(p->threads[t].regions[r].name, name))
					return true;
	}
	return false;
}

int recording_summarize(const char *path, struct recording_summary *summary, char *why,
			size_t why_len)
{
	struct recording *rec;
	int err;

	memset(summary, 0, sizeof(*summary));
	err = recording_open(path, &rec, why, why_len);
	if (err)
		return err;
	summary->processes = rec->process_count;
	for (unsigned i = 0; i < rec->process_count; i++) {
		const struct recording_process *p = &rec->processes[i];

		summary->threads += p->thread_count;
		for (unsigned t = 0; t < p->thread_count; t++)
			summary->regions += p->threads[t].region_count;
		summary->iterations += p->iterations;
		summary->dropped += p->dropped;
		summary->truncated_files += p->is_truncated;
		for (unsigned f = 0; f < p->function_count; f++) {
			const struct recording_function *fn = &p->functions[f];

			if (fn->status != ITP_FUNCTION_PATCHED)
				continue;
			summary->functions_patched++;
			if (!function_was_called(rec, fn->name) &&
			    !strstr(summary->never_called, fn->name)) {
				size_t used = strlen(summary->never_called);

				snprintf(summary->never_called + used,
					 sizeof(summary->never_called) - used, "%s%s",
					 used ? ", " : "", fn->name);
			}
		}
		if (!summary->counters_note[0] && p->header.counters_note[0]) {
			/* the summary's field is one byte shorter: cut the note */
			size_t n = strnlen(p->header.counters_note, sizeof(summary->counters_note) - 1);

			memcpy(summary->counters_note, p->header.counters_note, n);
			summary->counters_note[n] = '\0';
		}
	}
	recording_free(rec);
	return 0;
}

const char *recording_open_hint(int err)
{
	switch (err) {
	case -EINVAL:
		return " (the trace is damaged; record it again)";
	case -EPROTONOSUPPORT:
		return " (read it with the iterprof that wrote it)";
	case -ENODATA: /* the reason already says what to do */
		return "";
	case -ENOMEM:
		return "";
	default:
		return " (give a recording directory or a trace file written by "
		       "'iterprof record')";
	}
}

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
}

static void thread_free(struct recording_thread *thread)
{
	for (unsigned i = 0; i < thread->region_count; i++)
		region_free(&thread->regions[i]);
	free(thread->regions);
	for (unsigned i = 0; i < thread->note_count; i++)
		free(thread->notes[i]);
	free(thread->notes);
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

/* Read one thread's records into @thread. */
static int load_thread(struct recording_process *process, struct recording_thread *thread,
		       const struct trace_reader *reader, unsigned index, char *why,
		       size_t why_len)
{
	struct trace_cursor cursor;
	struct trace_record rec;
	int *region_of_id = NULL; /* region id -> region index + 1, 0 unbound */
	size_t ids = 0;
	int err = 0, idx;

	thread->tid = trace_reader_thread(reader, index)->tid;
	thread->thread_seq = trace_reader_thread(reader, index)->thread_seq;
	trace_cursor_init(&cursor, reader, index);
	while ((err = trace_cursor_next(&cursor, &rec, why, why_len)) > 0) {
		switch (rec.type) {
		case ITP_REC_THREAD:
			memcpy(thread->name, rec.thread.name, rec.thread.name_len);
			thread->name[rec.thread.name_len] = '\0';
			break;
		case ITP_REC_REGION:
			idx = thread_region(thread, rec.region.name, rec.region.name_len);
			if (idx < 0)
				goto nomem;
			if (rec.region.id >= ids) {
				size_t n = (size_t)rec.region.id + 1;

				if (grow((void **)&region_of_id, n, sizeof(*region_of_id)))
					goto nomem;
				memset(region_of_id + ids, 0, (n - ids) * sizeof(*region_of_id));
				ids = n;
			}
			region_of_id[rec.region.id] = idx + 1;
			break;
		case ITP_REC_ITERATION_BATCH:
			break; /* never returned: the cursor gives its entries */
		case ITP_REC_ITERATION:
			if (rec.iteration.region_id < ids && region_of_id[rec.iteration.region_id]) {
				idx = region_of_id[rec.iteration.region_id] - 1;
			} else {
				/* Its REGION record was lost (a seq gap says so):
				 * keep the iterations under a name that says it. */
				char name[40];

				snprintf(name, sizeof(name), "(unnamed region %u)",
					 rec.iteration.region_id);
				idx = thread_region(thread, name, sizeof(name));
				if (idx < 0)
					goto nomem;
			}
			if (region_append(&thread->regions[idx], process, &rec))
				goto nomem;
			thread->iterations++;
			break;
		case ITP_REC_DROPPED:
			thread->dropped += rec.dropped.count;
			process->dropped_by_reason[rec.dropped.reason <= ITP_DROP_REASON_MAX
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
			    grow((void **)&process->functions, process->function_count + 1,
				 sizeof(*process->functions))) {
				function_free(&f);
				goto nomem;
			}
			process->functions[process->function_count++] = f;
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
	free(region_of_id);
	if (err < 0)
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

nomem:
	free(region_of_id);
	snprintf(why, why_len, "%s: out of memory reading thread %" PRIu32,
		 trace_reader_name(reader), thread->tid);
	return -ENOMEM;
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

		if (err || !is_trace_name(names[i]->d_name))
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

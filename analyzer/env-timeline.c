/*
 * env-timeline: the environment timeline (include/iterprof/env-format.h)
 * read into series (env-timeline.h).
 *
 * The file is untrusted input: every length is checked against the bytes
 * that remain before it is used, and a refusal is one line, "<file>: byte
 * <offset>: <what is wrong>". A record cut short at the end is what a killed
 * launcher leaves: the file is read up to its last whole record.
 *
 * TASK and CODE records are written only when their values changed; the
 * reader carries a thread's last values forward to every later sample until
 * its TASK_END (a process's code totals to the end of the file), so that
 * each series has one point per sample and interpolation between two points
 * never spreads over samples in which nothing changed.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env-timeline.h"
#include "iterprof/env-format.h"

/* ---- series ------------------------------------------------------------ */

/* Append (@t, @v). The arrays' capacity is implied by n: 16, then the
 * powers of two, so no field is needed for it. 0 or -ENOMEM. */
static int series_push(struct env_series *s, uint64_t t, uint64_t v)
{
	if (s->n == 0 || (s->n >= 16 && !(s->n & (s->n - 1)))) {
		size_t capacity = s->n ? s->n * 2 : 16;
		uint64_t *nt = realloc(s->t, capacity * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		s->t = nt;
		nt = realloc(s->v, capacity * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		s->v = nt;
	}
	s->t[s->n] = t;
	s->v[s->n] = v;
	s->n++;
	return 0;
}

static void series_free(struct env_series *s)
{
	free(s->t);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Index of the last sample at or before @t, or -1 when @t is before all. */
static ptrdiff_t series_find(const struct env_series *s, uint64_t t)
{
	size_t lo = 0, hi = s->n; /* first index with time > t is in [lo, hi] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->t[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

/* The cumulative value at @x, interpolated between the samples around it
 * and clamped at the ends; false if one of those samples is missing. */
static bool series_interpolate(const struct env_series *s, uint64_t x, uint64_t *out)
{
	ptrdiff_t i;
	uint64_t v0, v1, t0, t1;

	if (!s->n)
		return false;
	i = series_find(s, x);
	if (i < 0) {
		*out = s->v[0];
		return s->v[0] != ENV_MISSING;
	}
	if ((size_t)i == s->n - 1 || s->t[i] == x) {
		*out = s->v[i];
		return s->v[i] != ENV_MISSING;
	}
	v0 = s->v[i];
	v1 = s->v[i + 1];
	t0 = s->t[i];
	t1 = s->t[i + 1]; /* > x >= t0 */
	if (v0 == ENV_MISSING || v1 == ENV_MISSING)
		return false;
	if (v1 <= v0) {
		*out = v0; /* not increasing (a reset): no slope to follow */
		return true;
	}
	*out = v0 + (uint64_t)((unsigned __int128)(v1 - v0) * (x - t0) / (t1 - t0));
	return true;
}

uint64_t env_series_delta(const struct env_series *s, uint64_t from, uint64_t to)
{
	uint64_t a, b;

	if (!s || !series_interpolate(s, from, &a) || !series_interpolate(s, to, &b))
		return ENV_MISSING;
	return b > a && to > from ? b - a : 0;
}

uint64_t env_series_at(const struct env_series *s, uint64_t t)
{
	ptrdiff_t i;

	if (!s || !s->n)
		return ENV_MISSING;
	i = series_find(s, t);
	return i < 0 ? ENV_MISSING : s->v[i];
}

const struct env_series *env_timeline_clock(const struct env_timeline *tl)
{
	if (tl->ncpus && tl->cpus[0].steal_ns.n)
		return &tl->cpus[0].steal_ns;
	if (tl->procs_running.n)
		return &tl->procs_running;
	return NULL;
}

const struct env_task *env_timeline_task(const struct env_timeline *tl, int tid)
{
	for (size_t i = 0; tl && i < tl->ntasks; i++)
		if (tl->tasks[i].tid == tid)
			return &tl->tasks[i];
	return NULL;
}

const struct env_source *env_timeline_source(const struct env_timeline *tl, const char *name)
{
	for (size_t i = 0; tl && i < tl->nsources; i++)
		if (!strcmp(tl->sources[i].name, name))
			return &tl->sources[i];
	return NULL;
}

static void cpu_free(struct env_cpu *c)
{
	series_free(&c->steal_ns);
	series_free(&c->irq_ns);
	series_free(&c->softirq_ns);
	series_free(&c->idle_ns);
	series_free(&c->irq_count);
	series_free(&c->softirq_count);
	series_free(&c->freq_khz);
	series_free(&c->throttle_count);
}

void env_timeline_free(struct env_timeline *tl)
{
	if (!tl)
		return;
	for (unsigned i = 0; tl->cpus && i < tl->ncpus; i++)
		cpu_free(&tl->cpus[i]);
	free(tl->cpus);
	for (size_t i = 0; i < tl->ntasks; i++) {
		series_free(&tl->tasks[i].cpu_ns);
		series_free(&tl->tasks[i].run_delay_ns);
		series_free(&tl->tasks[i].last_cpu);
	}
	free(tl->tasks);
	for (size_t i = 0; i < tl->ncode; i++) {
		series_free(&tl->code[i].map_entries);
		series_free(&tl->code[i].map_bytes);
		series_free(&tl->code[i].dump_entries);
		series_free(&tl->code[i].dump_bytes);
	}
	free(tl->code);
	free(tl->sources);
	series_free(&tl->procs_running);
	series_free(&tl->procs_blocked);
	series_free(&tl->psi_cpu_some_ns);
	series_free(&tl->psi_io_some_ns);
	series_free(&tl->psi_mem_some_ns);
	series_free(&tl->psi_cpu_full_ns);
	series_free(&tl->psi_io_full_ns);
	series_free(&tl->psi_mem_full_ns);
	series_free(&tl->cg_nr_throttled);
	series_free(&tl->cg_throttled_ns);
	series_free(&tl->cg_nr_periods);
	series_free(&tl->sampler_cpu_ns);
	memset(tl, 0, sizeof(*tl));
}

/* ---- the loader ---------------------------------------------------------- */

/* What the loader keeps per task or code entry of the timeline. */
struct entry_state {
	bool is_live;    /* a TASK_END has not been read (tasks) */
	bool is_touched; /* a record of it in the current sample */
};

/* (pid, tid) -> task index, pid | CODE_KEY -> code index: the latest entry
 * with that key. Open addressing, linear probing, never deleted from. */
#define CODE_KEY (1ull << 63)

struct key_slot {
	uint64_t key;
	size_t index_plus_1; /* 0: empty */
};

struct loader {
	const uint8_t *data;
	size_t size;
	const char *name;
	char *why;
	size_t why_size;
	struct env_timeline *tl;
	uint16_t minor;

	struct key_slot *slots;
	size_t slot_count, used_slots;
	struct entry_state *task_state, *code_state;
	size_t task_capacity, code_capacity, source_capacity;
	size_t *live; /* indices of live tasks */
	size_t live_count, live_capacity;
	bool is_in_sample;
	uint64_t sample_t;
	uint64_t last_time;
};

static int damage(struct loader *l, size_t offset, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int damage(struct loader *l, size_t offset, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(l->why, l->why_size, "%s: byte %zu: ", l->name, offset);

	if (n >= 0 && (size_t)n < l->why_size) {
		va_start(ap, fmt);
		vsnprintf(l->why + n, l->why_size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int out_of_memory(struct loader *l)
{
	snprintf(l->why, l->why_size, "%s: out of memory", l->name);
	return -ENOMEM;
}

static uint64_t key_hash(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return key;
}

static struct key_slot *slot_find(struct loader *l, uint64_t key)
{
	size_t mask = l->slot_count - 1;

	for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask)
		if (!l->slots[i].index_plus_1 || l->slots[i].key == key)
			return &l->slots[i];
}

/* The index stored for @key, or -1. */
static ptrdiff_t key_get(struct loader *l, uint64_t key)
{
	struct key_slot *slot;

	if (!l->slot_count)
		return -1;
	slot = slot_find(l, key);
	return slot->index_plus_1 ? (ptrdiff_t)slot->index_plus_1 - 1 : -1;
}

static int key_set(struct loader *l, uint64_t key, size_t index)
{
	struct key_slot *slot;

	if ((l->used_slots + 1) * 2 > l->slot_count) {
		size_t count = l->slot_count ? l->slot_count * 2 : 64;
		struct key_slot *old = l->slots;
		size_t old_count = l->slot_count;

		l->slots = calloc(count, sizeof(*l->slots));
		if (!l->slots) {
			l->slots = old;
			return -ENOMEM;
		}
		l->slot_count = count;
		for (size_t i = 0; i < old_count; i++)
			if (old[i].index_plus_1)
				*slot_find(l, old[i].key) = old[i];
		free(old);
	}
	slot = slot_find(l, key);
	if (!slot->index_plus_1)
		l->used_slots++;
	slot->key = key;
	slot->index_plus_1 = index + 1;
	return 0;
}

/* Grow *@array of *@capacity elements of @size to hold @count. */
static int reserve(void **array, size_t *capacity, size_t count, size_t size)
{
	void *p;
	size_t n;

	if (count <= *capacity)
		return 0;
	n = *capacity ? *capacity * 2 : 16;
	while (n < count)
		n *= 2;
	p = realloc(*array, n * size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*capacity = n;
	return 0;
}

/* The live task (@pid, @tid), created (live, no points) if there is none.
 * Its index, or -ENOMEM. */
static ptrdiff_t task_get(struct loader *l, uint32_t pid, uint32_t tid)
{
	struct env_timeline *tl = l->tl;
	uint64_t key = (uint64_t)pid << 32 | tid;
	ptrdiff_t i = key_get(l, key);
	size_t capacity = l->task_capacity;
	struct env_task *task;

	if (i >= 0 && l->task_state[i].is_live)
		return i;
	if (reserve((void **)&tl->tasks, &capacity, tl->ntasks + 1, sizeof(*tl->tasks)))
		return -ENOMEM;
	capacity = l->task_capacity;
	if (reserve((void **)&l->task_state, &capacity, tl->ntasks + 1, sizeof(*l->task_state)))
		return -ENOMEM;
	l->task_capacity = capacity;
	if (reserve((void **)&l->live, &l->live_capacity, l->live_count + 1, sizeof(*l->live)))
		return -ENOMEM;
	i = (ptrdiff_t)tl->ntasks;
	if (key_set(l, key, (size_t)i))
		return -ENOMEM;
	task = &tl->tasks[tl->ntasks++];
	memset(task, 0, sizeof(*task));
	task->pid = (int)pid;
	task->tid = (int)tid;
	l->task_state[i] = (struct entry_state){ .is_live = true };
	l->live[l->live_count++] = (size_t)i;
	return i;
}

static void task_end(struct loader *l, size_t index)
{
	l->task_state[index].is_live = false;
	for (size_t k = 0; k < l->live_count; k++) {
		if (l->live[k] == index) {
			l->live[k] = l->live[--l->live_count];
			break;
		}
	}
}

static ptrdiff_t code_get(struct loader *l, uint32_t pid)
{
	struct env_timeline *tl = l->tl;
	ptrdiff_t i = key_get(l, CODE_KEY | pid);
	size_t capacity = l->code_capacity;

	if (i >= 0)
		return i;
	if (reserve((void **)&tl->code, &capacity, tl->ncode + 1, sizeof(*tl->code)))
		return -ENOMEM;
	capacity = l->code_capacity;
	if (reserve((void **)&l->code_state, &capacity, tl->ncode + 1, sizeof(*l->code_state)))
		return -ENOMEM;
	l->code_capacity = capacity;
	i = (ptrdiff_t)tl->ncode;
	if (key_set(l, CODE_KEY | pid, (size_t)i))
		return -ENOMEM;
	memset(&tl->code[i], 0, sizeof(tl->code[i]));
	tl->code[i].pid = (int)pid;
	l->code_state[i] = (struct entry_state){ 0 };
	tl->ncode++;
	return i;
}

/* Push (@t, @v) on @s unless @t goes back in time (damage). A value not
 * sampled on purpose is no point at all. */
static int push(struct loader *l, size_t offset, struct env_series *s, uint64_t t, uint64_t v)
{
	if (v == ITP_ENV_NOT_SAMPLED)
		return 0;
	if (s->n && t < s->t[s->n - 1])
		return damage(l, offset, "time %" PRIu64 " before the previous sample's %" PRIu64,
			      t, s->t[s->n - 1]);
	return series_push(s, t, v) ? out_of_memory(l) : 0;
}

static struct env_series *last_point_series(struct env_series *s)
{
	return s->n ? s : NULL;
}

/* The end of a sample: threads and processes that wrote nothing in it
 * keep their values, at the sample's time. */
static int sample_close(struct loader *l, size_t offset)
{
	struct env_timeline *tl = l->tl;
	int err = 0;

	if (!l->is_in_sample)
		return 0;
	for (size_t k = 0; k < l->live_count && !err; k++) {
		size_t i = l->live[k];
		struct env_task *task = &tl->tasks[i];

		if (l->task_state[i].is_touched) {
			l->task_state[i].is_touched = false;
			continue;
		}
		if (!last_point_series(&task->cpu_ns))
			continue;
		err = push(l, offset, &task->cpu_ns, l->sample_t,
			   task->cpu_ns.v[task->cpu_ns.n - 1]);
		if (!err)
			err = push(l, offset, &task->run_delay_ns, l->sample_t,
				   task->run_delay_ns.v[task->run_delay_ns.n - 1]);
		if (!err)
			err = push(l, offset, &task->last_cpu, l->sample_t,
				   task->last_cpu.v[task->last_cpu.n - 1]);
	}
	for (size_t i = 0; i < tl->ncode && !err; i++) {
		struct env_code *c = &tl->code[i];

		if (l->code_state[i].is_touched) {
			l->code_state[i].is_touched = false;
			continue;
		}
		if (!c->map_entries.n)
			continue;
		err = push(l, offset, &c->map_entries, l->sample_t,
			   c->map_entries.v[c->map_entries.n - 1]);
		if (!err)
			err = push(l, offset, &c->map_bytes, l->sample_t,
				   c->map_bytes.v[c->map_bytes.n - 1]);
		if (!err)
			err = push(l, offset, &c->dump_entries, l->sample_t,
				   c->dump_entries.v[c->dump_entries.n - 1]);
		if (!err)
			err = push(l, offset, &c->dump_bytes, l->sample_t,
				   c->dump_bytes.v[c->dump_bytes.n - 1]);
	}
	l->is_in_sample = false;
	return err;
}

/* Copy the string of @len bytes at @p into @dst of @size, cut and
 * NUL-terminated, stopping at an embedded NUL. */
static void copy_string(char *dst, size_t size, const uint8_t *p, size_t len)
{
	size_t n = strnlen((const char *)p, len);

	if (n > size - 1)
		n = size - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static int read_source(struct loader *l, const uint8_t *r, size_t offset, uint32_t size)
{
	struct env_timeline *tl = l->tl;
	size_t name_len = itp_env_get16(r + ITP_ENV_SOURCE_OFF_NAME_LEN);
	size_t why_len = itp_env_get16(r + ITP_ENV_SOURCE_OFF_WHY_LEN);
	struct env_source src = { 0 };
	size_t i;

	if (ITP_ENV_SOURCE_OFF_STRINGS + name_len + 1 + why_len + 1 > size)
		return damage(l, offset, "SOURCE strings of %zu and %zu bytes run past the "
			      "record's %" PRIu32, name_len, why_len, size);
	copy_string(src.name, sizeof(src.name), r + ITP_ENV_SOURCE_OFF_STRINGS, name_len);
	copy_string(src.why, sizeof(src.why), r + ITP_ENV_SOURCE_OFF_STRINGS + name_len + 1,
		    why_len);
	src.is_available = itp_env_get16(r + ITP_ENV_SOURCE_OFF_FLAGS) & ITP_ENV_SOURCE_AVAILABLE;
	for (i = 0; i < tl->nsources; i++)
		if (!strcmp(tl->sources[i].name, src.name))
			break;
	if (i == tl->nsources) {
		if (reserve((void **)&tl->sources, &l->source_capacity, tl->nsources + 1,
			    sizeof(*tl->sources)))
			return out_of_memory(l);
		tl->nsources++;
	}
	tl->sources[i] = src;
	return 0;
}

/* The smallest size of each record type. */
static uint32_t min_size(uint16_t type)
{
	switch (type) {
	case ITP_ENV_REC_SAMPLE: return ITP_ENV_SAMPLE_SIZE;
	case ITP_ENV_REC_SOURCE: return ITP_ENV_SOURCE_OFF_STRINGS + 2;
	case ITP_ENV_REC_CPU: return ITP_ENV_CPU_SIZE;
	case ITP_ENV_REC_SYSTEM: return ITP_ENV_SYSTEM_SIZE;
	case ITP_ENV_REC_CGROUP: return ITP_ENV_CGROUP_OFF_PATH + 1;
	case ITP_ENV_REC_CGROUP_STAT: return ITP_ENV_CGSTAT_SIZE;
	case ITP_ENV_REC_TASK: return ITP_ENV_TASK_SIZE;
	case ITP_ENV_REC_THREAD_NAME: return ITP_ENV_NAME_SIZE;
	case ITP_ENV_REC_TASK_END: return ITP_ENV_END_SIZE;
	case ITP_ENV_REC_CODE: return ITP_ENV_CODE_SIZE;
	default: return ITP_ENV_RECORD_HEADER_SIZE;
	}
}

static int read_record(struct loader *l, const uint8_t *r, size_t offset, uint16_t type,
		       uint32_t size, uint64_t t)
{
	struct env_timeline *tl = l->tl;
	ptrdiff_t i;
	int err = 0;

	if (t > tl->end_ns)
		tl->end_ns = t;
	switch (type) {
	case ITP_ENV_REC_SAMPLE:
		err = sample_close(l, offset);
		if (err)
			return err;
		l->is_in_sample = true;
		l->sample_t = t;
		tl->samples++;
		return push(l, offset, &tl->sampler_cpu_ns, t,
			    itp_env_get64(r + ITP_ENV_SAMPLE_OFF_SAMPLER_CPU_NS));
	case ITP_ENV_REC_SOURCE:
		return read_source(l, r, offset, size);
	case ITP_ENV_REC_CPU: {
		uint32_t cpu = itp_env_get32(r + ITP_ENV_CPU_OFF_CPU);
		struct env_cpu *c;

		if (cpu >= tl->ncpus)
			return damage(l, offset, "CPU record for CPU %" PRIu32 " of %u", cpu,
				      tl->ncpus);
		c = &tl->cpus[cpu];
		if ((err = push(l, offset, &c->steal_ns, t, itp_env_get64(r + ITP_ENV_CPU_OFF_STEAL_NS))) ||
		    (err = push(l, offset, &c->irq_ns, t, itp_env_get64(r + ITP_ENV_CPU_OFF_IRQ_NS))) ||
		    (err = push(l, offset, &c->softirq_ns, t,
				itp_env_get64(r + ITP_ENV_CPU_OFF_SOFTIRQ_NS))) ||
		    (err = push(l, offset, &c->idle_ns, t, itp_env_get64(r + ITP_ENV_CPU_OFF_IDLE_NS))) ||
		    (err = push(l, offset, &c->irq_count, t,
				itp_env_get64(r + ITP_ENV_CPU_OFF_IRQ_COUNT))) ||
		    (err = push(l, offset, &c->softirq_count, t,
				itp_env_get64(r + ITP_ENV_CPU_OFF_SOFTIRQ_COUNT))) ||
		    (err = push(l, offset, &c->freq_khz, t, itp_env_get64(r + ITP_ENV_CPU_OFF_FREQ_KHZ))))
			return err;
		return push(l, offset, &c->throttle_count, t,
			    itp_env_get64(r + ITP_ENV_CPU_OFF_THROTTLE_COUNT));
	}
	case ITP_ENV_REC_SYSTEM:
		if ((err = push(l, offset, &tl->procs_running, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PROCS_RUNNING))) ||
		    (err = push(l, offset, &tl->procs_blocked, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PROCS_BLOCKED))) ||
		    (err = push(l, offset, &tl->psi_cpu_some_ns, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_CPU_SOME))) ||
		    (err = push(l, offset, &tl->psi_cpu_full_ns, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_CPU_FULL))) ||
		    (err = push(l, offset, &tl->psi_io_some_ns, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_IO_SOME))) ||
		    (err = push(l, offset, &tl->psi_io_full_ns, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_IO_FULL))) ||
		    (err = push(l, offset, &tl->psi_mem_some_ns, t,
				itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_MEM_SOME))))
			return err;
		return push(l, offset, &tl->psi_mem_full_ns, t,
			    itp_env_get64(r + ITP_ENV_SYSTEM_OFF_PSI_MEM_FULL));
	case ITP_ENV_REC_CGROUP: {
		size_t len = itp_env_get16(r + ITP_ENV_CGROUP_OFF_PATH_LEN);

		if (ITP_ENV_CGROUP_OFF_PATH + len + 1 > size)
			return damage(l, offset, "CGROUP path of %zu bytes runs past the record's "
				      "%" PRIu32, len, size);
		tl->cg_quota_us = itp_env_get64(r + ITP_ENV_CGROUP_OFF_QUOTA_US);
		tl->cg_period_us = itp_env_get64(r + ITP_ENV_CGROUP_OFF_PERIOD_US);
		copy_string(tl->cg_path, sizeof(tl->cg_path), r + ITP_ENV_CGROUP_OFF_PATH, len);
		return 0;
	}
	case ITP_ENV_REC_CGROUP_STAT:
		if ((err = push(l, offset, &tl->cg_nr_periods, t,
				itp_env_get64(r + ITP_ENV_CGSTAT_OFF_NR_PERIODS))) ||
		    (err = push(l, offset, &tl->cg_nr_throttled, t,
				itp_env_get64(r + ITP_ENV_CGSTAT_OFF_NR_THROTTLED))))
			return err;
		return push(l, offset, &tl->cg_throttled_ns, t,
			    itp_env_get64(r + ITP_ENV_CGSTAT_OFF_THROTTLED_NS));
	case ITP_ENV_REC_TASK: {
		struct env_task *task;

		i = task_get(l, itp_env_get32(r + ITP_ENV_TASK_OFF_PID), itp_env_get32(r + ITP_ENV_TASK_OFF_TID));
		if (i < 0)
			return out_of_memory(l);
		task = &tl->tasks[i];
		l->task_state[i].is_touched = true;
		if ((err = push(l, offset, &task->cpu_ns, t, itp_env_get64(r + ITP_ENV_TASK_OFF_CPU_NS))) ||
		    (err = push(l, offset, &task->run_delay_ns, t,
				itp_env_get64(r + ITP_ENV_TASK_OFF_RUN_DELAY_NS))))
			return err;
		return push(l, offset, &task->last_cpu, t, itp_env_get64(r + ITP_ENV_TASK_OFF_LAST_CPU));
	}
	case ITP_ENV_REC_THREAD_NAME:
		i = task_get(l, itp_env_get32(r + ITP_ENV_NAME_OFF_PID), itp_env_get32(r + ITP_ENV_NAME_OFF_TID));
		if (i < 0)
			return out_of_memory(l);
		copy_string(tl->tasks[i].comm, sizeof(tl->tasks[i].comm),
			    r + ITP_ENV_NAME_OFF_COMM, ITP_ENV_COMM_LEN);
		return 0;
	case ITP_ENV_REC_TASK_END:
		i = key_get(l, (uint64_t)itp_env_get32(r + ITP_ENV_END_OFF_PID) << 32 |
				       itp_env_get32(r + ITP_ENV_END_OFF_TID));
		if (i >= 0 && l->task_state[i].is_live)
			task_end(l, (size_t)i);
		return 0;
	case ITP_ENV_REC_CODE: {
		struct env_code *c;

		i = code_get(l, itp_env_get32(r + ITP_ENV_CODE_OFF_PID));
		if (i < 0)
			return out_of_memory(l);
		c = &tl->code[i];
		l->code_state[i].is_touched = true;
		if ((err = push(l, offset, &c->map_entries, t,
				itp_env_get64(r + ITP_ENV_CODE_OFF_MAP_ENTRIES))) ||
		    (err = push(l, offset, &c->map_bytes, t,
				itp_env_get64(r + ITP_ENV_CODE_OFF_MAP_BYTES))) ||
		    (err = push(l, offset, &c->dump_entries, t,
				itp_env_get64(r + ITP_ENV_CODE_OFF_DUMP_ENTRIES))))
			return err;
		return push(l, offset, &c->dump_bytes, t, itp_env_get64(r + ITP_ENV_CODE_OFF_DUMP_BYTES));
	}
	}
	/* an unknown type: a newer minor added it (skip), or damage */
	if (l->minor > ITP_ENV_VERSION_MINOR)
		return 0;
	return damage(l, offset, "unknown record type %u", type);
}

static int read_header(struct loader *l)
{
	struct env_timeline *tl = l->tl;
	const uint8_t *h = l->data;
	uint16_t major;
	uint32_t header_size, tag, ncpus;

	if (l->size < ITP_ENV_MAGIC_LEN) {
		if (!l->size)
			return damage(l, 0, "empty file (the header was never written)");
		return damage(l, l->size, "the file ends inside the header");
	}
	if (memcmp(h, ITP_ENV_MAGIC, ITP_ENV_MAGIC_LEN)) {
		static const uint8_t zeros[ITP_ENV_MAGIC_LEN];

		if (!memcmp(h, zeros, sizeof(zeros)))
			return damage(l, 0, "header never written (zero magic)");
		return damage(l, 0, "not an iterprof environment timeline (bad magic)");
	}
	if (l->size < ITP_ENV_HEADER_SIZE)
		return damage(l, l->size, "the file ends inside the header");
	major = itp_env_get16(h + ITP_ENV_OFF_VERSION_MAJOR);
	l->minor = itp_env_get16(h + ITP_ENV_OFF_VERSION_MINOR);
	if (major != ITP_ENV_VERSION_MAJOR) {
		snprintf(l->why, l->why_size,
			 "%s: byte %d: written by %s iterprof (timeline format %u.%u); this "
			 "iterprof reads format %u.x",
			 l->name, ITP_ENV_OFF_VERSION_MAJOR,
			 major > ITP_ENV_VERSION_MAJOR ? "a newer" : "an older", major, l->minor,
			 ITP_ENV_VERSION_MAJOR);
		return -EPROTONOSUPPORT;
	}
	header_size = itp_env_get32(h + ITP_ENV_OFF_HEADER_SIZE);
	if (header_size < ITP_ENV_HEADER_SIZE || header_size > 4096 || header_size % 8)
		return damage(l, ITP_ENV_OFF_HEADER_SIZE, "header size %" PRIu32
			      " (expected 64 to 4096, a multiple of 8)", header_size);
	if (header_size > l->size)
		return damage(l, l->size, "the file ends inside the header");
	tag = itp_env_get32(h + ITP_ENV_OFF_ENDIAN_TAG);
	if (tag != ITP_ENV_ENDIAN_TAG)
		return damage(l, ITP_ENV_OFF_ENDIAN_TAG, "%s",
			      tag == __builtin_bswap32(ITP_ENV_ENDIAN_TAG)
				      ? "written on a big-endian machine"
				      : "bad endian tag");
	ncpus = itp_env_get32(h + ITP_ENV_OFF_CPU_COUNT);
	if (!ncpus || ncpus > ITP_ENV_MAX_CPUS)
		return damage(l, ITP_ENV_OFF_CPU_COUNT, "CPU count %" PRIu32 " (expected 1 to %u)",
			      ncpus, ITP_ENV_MAX_CPUS);
	tl->interval_ns = itp_env_get64(h + ITP_ENV_OFF_INTERVAL_NS);
	tl->start_ns = itp_env_get64(h + ITP_ENV_OFF_START_NS);
	tl->end_ns = tl->start_ns;
	tl->cg_quota_us = tl->cg_period_us = ENV_MISSING;
	tl->cpus = calloc(ncpus, sizeof(*tl->cpus));
	if (!tl->cpus)
		return out_of_memory(l);
	tl->ncpus = ncpus;
	return (int)header_size;
}

int env_timeline_load_buffer(const void *data, size_t size, const char *name,
			     struct env_timeline *tl, char *why, size_t why_size)
{
	struct loader l = { .data = data, .size = size, .name = name, .why = why,
			    .why_size = why_size, .tl = tl };
	size_t offset;
	int err;

	memset(tl, 0, sizeof(*tl));
	err = read_header(&l);
	if (err < 0)
		goto out;
	for (offset = (size_t)err, err = 0; offset < size && !err;) {
		const uint8_t *r = l.data + offset;
		uint16_t type;
		uint32_t rsize;

		if (size - offset < ITP_ENV_RECORD_HEADER_SIZE)
			break; /* cut inside a record header: the launcher was killed */
		type = itp_env_get16(r + ITP_ENV_REC_OFF_TYPE);
		rsize = itp_env_get32(r + ITP_ENV_REC_OFF_SIZE);
		if (rsize < ITP_ENV_RECORD_HEADER_SIZE || rsize % 8) {
			err = damage(&l, offset, "record size %" PRIu32
				     " (a multiple of 8, at least 16)", rsize);
			break;
		}
		if (rsize > size - offset)
			break; /* the last record, cut short */
		if (type <= ITP_ENV_REC_TYPE_MAX && rsize < min_size(type)) {
			err = damage(&l, offset, "record of type %u has %" PRIu32
				     " bytes, fewer than its %" PRIu32, type, rsize,
				     min_size(type));
			break;
		}
		err = read_record(&l, r, offset, type, rsize, itp_env_get64(r + ITP_ENV_REC_OFF_TIME_NS));
		offset += rsize;
	}
	if (!err)
		err = sample_close(&l, offset);
out:
	free(l.slots);
	free(l.task_state);
	free(l.code_state);
	free(l.live);
	if (err)
		env_timeline_free(tl);
	return err;
}

int env_timeline_load(const char *dir, struct env_timeline *tl, char *why, size_t why_size)
{
	char *path = NULL;
	uint8_t *data = NULL;
	size_t size = 0;
	struct stat st;
	int fd, err;

	memset(tl, 0, sizeof(*tl));
	if (asprintf(&path, "%s/%s", dir, ITP_ENV_FILE_NAME) < 0) {
		snprintf(why, why_size, "%s: out of memory", dir);
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			snprintf(why, why_size, "%s: no environment timeline (recorded with "
				 "--no-env or by an older iterprof)", dir);
		else
			snprintf(why, why_size, "%s: %s", path, strerror(errno));
		free(path);
		return err;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = fstat(fd, &st) != 0 ? -errno : -EINVAL;
		snprintf(why, why_size, "%s: %s", path,
			 err == -EINVAL ? "not a regular file" : strerror(-err));
		goto out;
	}
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		err = -ENOMEM;
		snprintf(why, why_size, "%s: out of memory", path);
		goto out;
	}
	/* read what is there now; a file still being written ends anywhere */
	while (size < (size_t)st.st_size) {
		ssize_t n = read(fd, data + size, (size_t)st.st_size - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			snprintf(why, why_size, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	err = env_timeline_load_buffer(data, size, path, tl, why, why_size);
out:
	free(data);
	close(fd);
	free(path);
	return err;
}

int env_timeline_load_beside(const char *path, struct env_timeline *tl, char *why,
			     size_t why_size)
{
	char dir[4096], reason[256];
	struct stat st;
	int err;

	snprintf(dir, sizeof(dir), "%s", path);
	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');

		if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
	}
	err = env_timeline_load(dir, tl, reason, sizeof(reason));
	if (err)
		snprintf(why, why_size, "%s/iterprof-env.timeline: %s", dir, reason);
	return err;
}

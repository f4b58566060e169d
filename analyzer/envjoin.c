/*
 * envjoin: see envjoin.h.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "envjoin.h"

/* What a window says, per CPU where it differs by CPU. */
struct window {
	size_t first, last;      /* sample indexes; first == SIZE_MAX: none */
	uint64_t from, to;
	double throttled_ns;     /* NAN: not known */
	double run_delay_ns;     /* the thread's own, NAN: not known */
	double code_map;
	double *steal_ns;        /* [ncpus] */
	double *interrupts;
	double *siblings_ns;
	double *freq_khz;
	double *throttles;       /* thermal throttle events */
};

struct env_join {
	const struct env_timeline *tl;
	int pid, tid;
	const struct env_task *self;
	const struct env_series *clock; /* the sample times */
	size_t cursor;
	struct window w;
	double *storage;
};

struct env_join *env_join_new(const struct env_timeline *tl, int pid, int tid)
{
	struct env_join *j = calloc(1, sizeof(*j));
	unsigned n = tl->ncpus ? tl->ncpus : 1;

	if (!j)
		return NULL;
	j->storage = calloc(5 * (size_t)n, sizeof(double));
	if (!j->storage) {
		free(j);
		return NULL;
	}
	j->tl = tl;
	j->pid = pid;
	j->tid = tid;
	j->self = env_timeline_task(tl, tid);
	j->clock = env_timeline_clock(tl);
	j->w.first = SIZE_MAX;
	j->w.steal_ns = j->storage;
	j->w.interrupts = j->storage + n;
	j->w.siblings_ns = j->storage + 2 * (size_t)n;
	j->w.freq_khz = j->storage + 3 * (size_t)n;
	j->w.throttles = j->storage + 4 * (size_t)n;
	return j;
}

void env_join_free(struct env_join *j)
{
	if (!j)
		return;
	free(j->storage);
	free(j);
}

static double delta(const struct env_series *s, uint64_t from, uint64_t to)
{
	uint64_t v = s->n ? env_series_delta(s, from, to) : ENV_MISSING;

	return v == ENV_MISSING ? NAN : (double)v;
}

static double sum_known(double a, double b)
{
	return isnan(a) ? b : isnan(b) ? a : a + b;
}

/* Index of the last sample at or before @t (0 if none), moving the cursor
 * from where the previous iteration left it. */
static size_t sample_at_or_before(struct env_join *j, uint64_t t)
{
	const uint64_t *ts = j->clock->t;
	size_t n = j->clock->n, i = j->cursor < n ? j->cursor : n - 1;

	if (ts[i] > t) {
		/* back in time (another region's order): search */
		size_t lo = 0, hi = i;

		while (lo < hi) {
			size_t mid = lo + (hi - lo + 1) / 2;

			if (ts[mid] <= t)
				lo = mid;
			else
				hi = mid - 1;
		}
		i = lo;
	}
	while (i + 1 < n && ts[i + 1] <= t)
		i++;
	j->cursor = i;
	return i;
}

static void fill_window(struct env_join *j, size_t first, size_t last)
{
	const struct env_timeline *tl = j->tl;
	struct window *w = &j->w;

	w->first = first;
	w->last = last;
	w->from = j->clock->t[first];
	w->to = j->clock->t[last];
	w->throttled_ns = delta(&tl->cg_throttled_ns, w->from, w->to);
	w->run_delay_ns = j->self ? delta(&j->self->run_delay_ns, w->from, w->to) : NAN;
	w->code_map = 0;
	for (size_t k = 0; k < tl->ncode; k++) {
		if (tl->code[k].pid != j->pid)
			continue;
		w->code_map = sum_known(w->code_map, delta(&tl->code[k].map_entries, w->from, w->to));
		w->code_map = sum_known(w->code_map, delta(&tl->code[k].dump_entries, w->from, w->to));
	}
	for (unsigned c = 0; c < tl->ncpus; c++) {
		const struct env_cpu *cpu = &tl->cpus[c];
		uint64_t f = cpu->freq_khz.n ? env_series_at(&cpu->freq_khz, w->to) : ENV_MISSING;

		w->steal_ns[c] = delta(&cpu->steal_ns, w->from, w->to);
		w->interrupts[c] = sum_known(delta(&cpu->irq_count, w->from, w->to),
					     delta(&cpu->softirq_count, w->from, w->to));
		w->freq_khz[c] = f == ENV_MISSING ? NAN : (double)f;
		w->throttles[c] = delta(&cpu->throttle_count, w->from, w->to);
		w->siblings_ns[c] = 0;
	}
	for (size_t k = 0; k < tl->ntasks; k++) {
		const struct env_task *t = &tl->tasks[k];
		uint64_t where;
		double used;

		if (t->pid != j->pid || t->tid == j->tid)
			continue;
		used = delta(&t->cpu_ns, w->from, w->to);
		where = t->last_cpu.n ? env_series_at(&t->last_cpu, w->to) : ENV_MISSING;
		if (isnan(used) || where >= tl->ncpus)
			continue;
		w->siblings_ns[where] += used;
	}
}

static double share_of(double part, double whole)
{
	if (isnan(part) || isnan(whole))
		return NAN;
	if (!(whole > 0))
		return 0;
	return part >= whole ? 1 : part / whole;
}

void env_join_signals(struct env_join *j, uint64_t start_ns, uint64_t duration_ns, int cpu,
		      bool has_interrupts, double signal[ATTRIB_SIGNAL_COUNT])
{
	const struct env_timeline *tl = j->tl;
	uint64_t end = start_ns + duration_ns;
	size_t first, last;
	struct window *w = &j->w;
	double steal = 0, interrupts = 0, siblings = 0, freq = NAN, throttles = NAN;
	double span;

	if (!j->clock || !j->clock->n || end < j->clock->t[0] || start_ns > j->clock->t[j->clock->n - 1])
		return; /* outside the timeline */
	first = sample_at_or_before(j, start_ns);
	last = first;
	while (last + 1 < j->clock->n && j->clock->t[last] < end)
		last++;
	if (last == first && last + 1 < j->clock->n)
		last++;
	if (first != w->first || last != w->last)
		fill_window(j, first, last);
	span = (double)(w->to - w->from);
	if ((unsigned)cpu < tl->ncpus) {
		steal = w->steal_ns[cpu];
		interrupts = w->interrupts[cpu];
		siblings = w->siblings_ns[cpu];
		freq = w->freq_khz[cpu];
		throttles = w->throttles[cpu];
	} else {
		/* where it ran is not known: the average CPU */
		for (unsigned c = 0; c < tl->ncpus; c++) {
			steal = sum_known(steal, w->steal_ns[c] / tl->ncpus);
			interrupts = sum_known(interrupts, w->interrupts[c] / tl->ncpus);
			siblings = sum_known(siblings, w->siblings_ns[c] / tl->ncpus);
			throttles = sum_known(throttles, w->throttles[c] / tl->ncpus);
		}
	}
	signal[ATTRIB_SIG_STEAL_NS] = steal;
	signal[ATTRIB_SIG_THROTTLE_SHARE] = share_of(w->throttled_ns, w->run_delay_ns);
	signal[ATTRIB_SIG_SIBLING_SHARE] = share_of(siblings, w->run_delay_ns);
	/* entries expected in the iteration: the window's, spread over it
	 * (the window may hold the end of the run, when a runtime writes more
	 * entries after the measured loop) */
	signal[ATTRIB_SIG_CODE_MAP] = span > 0 ? w->code_map * (double)duration_ns / span : 0;
	signal[ATTRIB_SIG_FREQ_KHZ] = freq;
	/* not prorated: which of the window's iterations the core was slower
	 * in is not known; attrib.c charges only those with an excess */
	signal[ATTRIB_SIG_THERMAL_EVENTS] = throttles;
	if (!has_interrupts && span > 0 && !isnan(interrupts))
		signal[ATTRIB_SIG_INTERRUPTS] = interrupts * (double)duration_ns / span;
}

unsigned env_join_siblings(const struct env_join *j, uint64_t from, uint64_t to, unsigned max,
			   char names[][16], double cpu_ns[])
{
	const struct env_timeline *tl = j->tl;
	unsigned count = 0;

	for (size_t k = 0; k < tl->ntasks; k++) {
		const struct env_task *t = &tl->tasks[k];
		double used;
		unsigned at;

		if (t->pid != j->pid || t->tid == j->tid)
			continue;
		used = delta(&t->cpu_ns, from, to);
		if (!(used > 0))
			continue;
		/* insertion into the top @max, largest first */
		for (at = count; at > 0 && cpu_ns[at - 1] < used; at--)
			;
		if (at >= max)
			continue;
		if (count < max)
			count++;
		for (unsigned m = count - 1; m > at; m--) {
			cpu_ns[m] = cpu_ns[m - 1];
			memcpy(names[m], names[m - 1], 16);
		}
		cpu_ns[at] = used;
		memcpy(names[at], t->comm, 16);
		names[at][15] = '\0';
	}
	return count;
}

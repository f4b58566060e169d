/*
 * envthreads: see envthreads.h.
 *
 * Made once per thread's region: the other threads' cumulative CPU times,
 * summed per name, on the sample clock (cum[group][sample]) and over all
 * groups (total[sample]). A window's time is then two interpolations of
 * total[]; a set of windows is a weight per sample interval (how much of
 * the interval the windows cover), so that a phase of a million iterations
 * costs a pass over its iterations and one over the intervals, not one per
 * iteration and group.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "envthreads.h"

struct env_threads {
	const uint64_t *t;        /* the sample clock, @tl's */
	size_t n;
	unsigned ngroups;
	struct env_threads_name group[ENV_THREADS_NAMES + 1];
	double *cum;              /* [ngroups][n], ns since each thread's first sample */
	double *total;            /* [n] */
	double *weight;           /* [n]: interval k is [t[k], t[k + 1]] */
	size_t touched_lo, touched_hi; /* the weights set since the clear */
	bool is_added;
	size_t cursor;
};

/* The times every sample writes; a thread's series has a point at some of
 * them (from its first sample to its end: env-timeline.c carries its
 * values forward). Without the timeline's own clock, the process's longest
 * thread series. */
static const struct env_series *sample_clock(const struct env_timeline *tl, int pid)
{
	const struct env_series *longest = env_timeline_clock(tl);

	if (longest)
		return longest;
	for (size_t k = 0; k < tl->ntasks; k++)
		if (tl->tasks[k].pid == pid &&
		    (!longest || tl->tasks[k].cpu_ns.n > longest->n))
			longest = &tl->tasks[k].cpu_ns;
	return longest;
}

/* The group of threads named @comm: a new one while there is room, then
 * the last, "(others)". */
static unsigned group_of(struct env_threads *th, const char *comm)
{
	unsigned g;

	for (g = 0; g < th->ngroups && g < ENV_THREADS_NAMES; g++)
		if (!strncmp(th->group[g].name, comm, sizeof(th->group[g].name)))
			return g;
	if (g == ENV_THREADS_NAMES)
		strcpy(th->group[g].name, "(others)");
	else
		memcpy(th->group[g].name, comm, sizeof(th->group[g].name));
	th->group[g].name[sizeof(th->group[g].name) - 1] = '\0';
	if (th->ngroups == g)
		th->ngroups = g + 1;
	return g;
}

/* Add series @s (cumulative, with ENV_MISSING holes) to @cum on the clock,
 * as ns since its first readable value: interpolated between its points,
 * held where a value is missing or decreases (a cumulative time never
 * does; a reset must not count as time). */
static void resample_add(const struct env_series *s, const uint64_t *t, size_t n, double *cum)
{
	double base = NAN, held = 0;
	size_t i = 0;

	for (size_t k = 0; k < s->n && isnan(base); k++)
		if (s->v[k] != ENV_MISSING)
			base = (double)s->v[k];
	if (isnan(base))
		return;
	for (size_t k = 0; k < n; k++) {
		uint64_t x = t[k];
		double v = NAN;

		while (i + 1 < s->n && s->t[i + 1] <= x)
			i++;
		if (x >= s->t[0] && s->v[i] != ENV_MISSING) {
			v = (double)s->v[i];
			if (i + 1 < s->n && s->t[i] < x && s->v[i + 1] != ENV_MISSING &&
			    s->v[i + 1] > s->v[i])
				v += (double)(s->v[i + 1] - s->v[i]) * (double)(x - s->t[i]) /
				     (double)(s->t[i + 1] - s->t[i]);
		}
		if (!isnan(v) && v - base > held)
			held = v - base;
		cum[k] += held;
	}
}

struct env_threads *env_threads_new(const struct env_timeline *tl, int pid, int tid)
{
	const struct env_series *clock = sample_clock(tl, pid);
	struct env_threads *th = calloc(1, sizeof(*th));
	size_t n = clock ? clock->n : 0;
	unsigned member[ENV_THREADS_NAMES + 1] = { 0 };

	if (!th)
		return NULL;
	th->t = n ? clock->t : NULL;
	th->n = n;
	for (size_t k = 0; k < tl->ntasks; k++)
		if (tl->tasks[k].pid == pid && tl->tasks[k].tid != tid)
			member[group_of(th, tl->tasks[k].comm)]++;
	th->cum = calloc((size_t)th->ngroups * n + 2 * n + 1, sizeof(double));
	if (!th->cum) {
		free(th);
		return NULL;
	}
	th->total = th->cum + (size_t)th->ngroups * n;
	th->weight = th->total + n;
	for (unsigned g = 0; g < th->ngroups; g++)
		th->group[g].threads = member[g];
	for (size_t k = 0; k < tl->ntasks && n; k++) {
		const struct env_task *task = &tl->tasks[k];

		if (task->pid != pid || task->tid == tid || !task->cpu_ns.n)
			continue;
		resample_add(&task->cpu_ns, th->t, n,
			     th->cum + (size_t)group_of(th, task->comm) * n);
	}
	for (unsigned g = 0; g < th->ngroups; g++)
		for (size_t s = 0; s < n; s++)
			th->total[s] += th->cum[(size_t)g * n + s];
	env_threads_clear(th);
	return th;
}

void env_threads_free(struct env_threads *th)
{
	if (!th)
		return;
	free(th->cum);
	free(th);
}

/* The interval holding @x (t[k] <= x < t[k + 1]; the last one for x at the
 * end), moving the cursor from where the last window left it. */
static size_t interval_of(struct env_threads *th, uint64_t x)
{
	size_t k = th->cursor < th->n - 1 ? th->cursor : th->n - 2;

	if (th->t[k] > x) {
		size_t lo = 0, hi = k;   /* the last t[] <= x is in [lo, hi] */

		while (lo < hi) {
			size_t mid = lo + (hi - lo + 1) / 2;

			if (th->t[mid] <= x)
				lo = mid;
			else
				hi = mid - 1;
		}
		k = lo;
	}
	while (k + 2 < th->n && th->t[k + 1] <= x)
		k++;
	th->cursor = k;
	return k;
}

/* Clamp [start, start + duration] to the clock; false when it is outside. */
static bool clamp_window(const struct env_threads *th, uint64_t start_ns, uint64_t duration_ns,
			 uint64_t *a, uint64_t *b)
{
	uint64_t end = start_ns + duration_ns;

	if (th->n < 2 || end < th->t[0] || start_ns > th->t[th->n - 1])
		return false;
	*a = start_ns < th->t[0] ? th->t[0] : start_ns;
	*b = end > th->t[th->n - 1] ? th->t[th->n - 1] : end;
	return true;
}

/* Cumulative series @c at @x, inside interval @k. */
static double value_at(const struct env_threads *th, const double *c, size_t k, uint64_t x)
{
	uint64_t t0 = th->t[k], t1 = th->t[k + 1];

	if (x <= t0 || t1 <= t0)
		return c[k];
	if (x >= t1)
		return c[k + 1];
	return c[k] + (c[k + 1] - c[k]) * (double)(x - t0) / (double)(t1 - t0);
}

double env_threads_cpu_ns(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns)
{
	uint64_t a, b;
	size_t ka, kb;

	if (!clamp_window(th, start_ns, duration_ns, &a, &b))
		return NAN;
	ka = interval_of(th, a);
	kb = interval_of(th, b);
	return value_at(th, th->total, kb, b) - value_at(th, th->total, ka, a);
}

const char *env_threads_top_of(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns)
{
	uint64_t a, b;
	size_t ka, kb;
	double best = 0;
	const char *name = NULL;

	if (!clamp_window(th, start_ns, duration_ns, &a, &b))
		return NULL;
	ka = interval_of(th, a);
	kb = interval_of(th, b);
	for (unsigned g = 0; g < th->ngroups; g++) {
		const double *c = th->cum + (size_t)g * th->n;
		double used = value_at(th, c, kb, b) - value_at(th, c, ka, a);

		if (used > best) {
			best = used;
			name = th->group[g].name;
		}
	}
	return name;
}

void env_threads_clear(struct env_threads *th)
{
	if (th->touched_lo <= th->touched_hi && th->n)
		memset(th->weight + th->touched_lo, 0,
		       (th->touched_hi - th->touched_lo + 1) * sizeof(double));
	th->touched_lo = SIZE_MAX;
	th->touched_hi = 0;
	th->is_added = false;
}

void env_threads_add(struct env_threads *th, uint64_t start_ns, uint64_t duration_ns)
{
	uint64_t a, b;
	size_t k;

	if (!clamp_window(th, start_ns, duration_ns, &a, &b))
		return;
	th->is_added = true;
	for (k = interval_of(th, a); k + 1 < th->n && th->t[k] < b; k++) {
		uint64_t from = a > th->t[k] ? a : th->t[k];
		uint64_t to = b < th->t[k + 1] ? b : th->t[k + 1];

		if (to <= from || th->t[k + 1] <= th->t[k])
			continue;
		th->weight[k] += (double)(to - from) / (double)(th->t[k + 1] - th->t[k]);
		if (k < th->touched_lo)
			th->touched_lo = k;
		if (k > th->touched_hi)
			th->touched_hi = k;
	}
}

double env_threads_top(struct env_threads *th, unsigned max, struct env_threads_name *out,
		       unsigned *count)
{
	double total = 0;

	*count = 0;
	if (!th->is_added)
		return NAN;
	for (unsigned g = 0; g < th->ngroups; g++) {
		const double *c = th->cum + (size_t)g * th->n;
		struct env_threads_name entry = th->group[g];
		unsigned at;

		entry.cpu_ns = 0;
		for (size_t k = th->touched_lo; k <= th->touched_hi && k + 1 < th->n; k++)
			entry.cpu_ns += th->weight[k] * (c[k + 1] - c[k]);
		total += entry.cpu_ns;
		if (!(entry.cpu_ns > 0))
			continue;
		/* insertion into the top @max, largest first */
		for (at = *count; at > 0 && out[at - 1].cpu_ns < entry.cpu_ns; at--)
			;
		if (at >= max)
			continue;
		if (*count < max)
			(*count)++;
		memmove(out + at + 1, out + at, (*count - 1 - at) * sizeof(*out));
		out[at] = entry;
	}
	return total;
}

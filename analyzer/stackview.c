/*
 * stackview: the differential view of call stacks per region, and its
 * text, JSON, CSV and folded (flame graph) forms. See stackview.h; the
 * rules for users are in doc/stacks.md.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-out.h"
#include "stackview.h"
#include "symbolize.h"

/* Frames one address may stand for (inline chains deeper than this are
 * cut at the outer end by the symbolizer). */
#define INLINE_MAX 8

uint8_t stackview_kind_of(enum attrib_cause cause)
{
	switch (cause) {
	case ATTRIB_PAGE_FAULTS:
	case ATTRIB_MAJOR_FAULTS:
		return ITP_SAMPLE_FAULT;
	case ATTRIB_BLOCKING:
	case ATTRIB_PREEMPTION:
	case ATTRIB_MIGRATION:
	case ATTRIB_SIBLING_THREADS:
	case ATTRIB_CGROUP_THROTTLE:
	case ATTRIB_STEAL:
		return ITP_SAMPLE_SWITCH;
	default:
		return ITP_SAMPLE_CPU;
	}
}

const char *stackview_kind_name(uint8_t kind)
{
	switch (kind) {
	case ITP_SAMPLE_FAULT:
		return "fault";
	case ITP_SAMPLE_SWITCH:
		return "switch";
	case ITP_SAMPLE_CPU:
		return "cpu";
	}
	return "unknown";
}

/* ------------------------------------------------------------------------
 * Names
 */

struct stack_names {
	const struct recording_process *process;
	struct symbolizer *symbolizer; /* made at the first lookup */
	uint32_t **group;              /* per thread, NULL until asked for */
	uint32_t group_count, group_capacity;
	char **folded;                 /* per group, owned */
	uint32_t *slots;               /* hash of folded -> group + 1 */
	size_t slot_count;             /* power of two */
};

int stack_names_new(const struct recording_process *process, struct stack_names **out)
{
	struct stack_names *n = calloc(1, sizeof(*n));

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->process = process;
	n->group = calloc(process->thread_count ? process->thread_count : 1, sizeof(*n->group));
	if (!n->group) {
		free(n);
		return -ENOMEM;
	}
	*out = n;
	return 0;
}

void stack_names_free(struct stack_names *n)
{
	if (!n)
		return;
	symbolizer_free(n->symbolizer);
	for (unsigned t = 0; t < n->process->thread_count; t++)
		free(n->group[t]);
	free(n->group);
	for (uint32_t g = 0; g < n->group_count; g++)
		free(n->folded[g]);
	free(n->folded);
	free(n->slots);
	free(n);
}

static int names_symbolizer(struct stack_names *n)
{
	const struct recording_process *p = n->process;
	int err;

	if (n->symbolizer)
		return 0;
	err = symbolizer_new(&n->symbolizer);
	if (err)
		return err;
	for (unsigned i = 0; i < p->module_count; i++) {
		const struct recording_module *m = &p->modules[i];
		struct sym_module sm = {
			.start = m->start,
			.end = m->end,
			.bias = m->bias,
			.path = m->path,
			.build_id = m->build_id_len ? m->build_id : NULL,
			.build_id_len = m->build_id_len,
		};

		/* -EINVAL (an empty range) cannot come from a trace the
		 * reader accepted; only running out of memory stops us */
		if (symbolizer_add_module(n->symbolizer, &sm) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

/* The recorded module holding @addr, or NULL. */
static const struct recording_module *module_of(const struct recording_process *p,
						uint64_t addr)
{
	for (unsigned i = 0; i < p->module_count; i++)
		if (addr >= p->modules[i].start && addr < p->modules[i].end)
			return &p->modules[i];
	return NULL;
}

int stack_names_frames(struct stack_names *n, unsigned thread, uint32_t stack,
		       struct stack_frame **frames, size_t *count)
{
	const struct recording_thread *t = &n->process->threads[thread];
	const struct recording_stack *st = &t->stacks[stack];
	struct stack_frame *f;
	size_t k = 0;

	*frames = NULL;
	*count = 0;
	if (names_symbolizer(n))
		return -ENOMEM;
	f = calloc((size_t)st->frame_count * INLINE_MAX, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (unsigned j = 0; j < st->frame_count; j++) {
		uint64_t address = t->frames[st->first_frame + j];
		/* a return address is the instruction after the call: the
		 * byte before it is inside the call, on the caller's line */
		uint64_t lookup = j && address ? address - 1 : address;
		const struct recording_module *m = module_of(n->process, lookup);
		struct sym_frame sf[INLINE_MAX];
		unsigned got = symbolizer_lookup(n->symbolizer, lookup, sf, INLINE_MAX);

		for (unsigned i = 0; i < got; i++, k++) {
			f[k] = (struct stack_frame){
				.function = sf[i].function,
				.file = sf[i].file,
				.line = sf[i].line,
				.module = sf[i].module,
				.inlined = sf[i].inlined,
				.address = address,
				.lookup = lookup,
				.has_offset = m != NULL,
				.offset = m ? lookup - m->bias : 0,
			};
		}
	}
	*frames = f;
	*count = k;
	return 0;
}

/* Append @s to @buf (of *@len, *@cap), made safe for the folded format
 * unless @is_separator. */
static int fold_append(char **buf, size_t *len, size_t *cap, const char *s, bool is_separator)
{
	size_t n = strlen(s);

	if (*len + n + 2 > *cap) {
		size_t want = (*len + n + 2) * 2;
		char *p = realloc(*buf, want);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = want;
	}
	for (; *s; s++) {
		char c = *s;

		/* ';' separates frames, the last space the count */
		if (is_separator)
			;
		else if (c == ';')
			c = ':';
		else if (c == ' ')
			c = '_';
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		(*buf)[(*len)++] = c;
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* The folded name of a frame without a function: "[module]", or
 * "[unknown]" outside every module. */
static const char *fold_unnamed(const struct stack_frame *f, char *buf, size_t len)
{
	if (!f->module)
		return "[unknown]";
	if (f->module[0] == '[')
		return f->module;
	snprintf(buf, len, "[%s]", f->module);
	return buf;
}

static uint64_t hash_string(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The group of folded string @s (taken over: freed here if the group
 * exists). Its id, or -ENOMEM. */
static int64_t names_intern(struct stack_names *n, char *s)
{
	size_t mask, i;

	if ((size_t)n->group_count * 2 >= n->slot_count) {
		size_t count = n->slot_count ? n->slot_count * 2 : 256;
		uint32_t *slots = calloc(count, sizeof(*slots));

		if (!slots) {
			free(s);
			return -ENOMEM;
		}
		for (uint32_t g = 0; g < n->group_count; g++) {
			for (i = hash_string(n->folded[g]) & (count - 1); slots[i];
			     i = (i + 1) & (count - 1))
				;
			slots[i] = g + 1;
		}
		free(n->slots);
		n->slots = slots;
		n->slot_count = count;
	}
	mask = n->slot_count - 1;
	for (i = hash_string(s) & mask; n->slots[i]; i = (i + 1) & mask)
		if (!strcmp(n->folded[n->slots[i] - 1], s)) {
			free(s);
			return n->slots[i] - 1;
		}
	if (n->group_count == n->group_capacity) {
		uint32_t cap = n->group_capacity ? n->group_capacity * 2 : 64;
		char **p = realloc(n->folded, cap * sizeof(*p));

		if (!p) {
			free(s);
			return -ENOMEM;
		}
		n->folded = p;
		n->group_capacity = cap;
	}
	n->folded[n->group_count] = s;
	n->slots[i] = n->group_count + 1;
	return n->group_count++;
}

int stack_names_groups(struct stack_names *n, unsigned thread, const uint32_t **group,
		       uint32_t *group_count)
{
	const struct recording_thread *t = &n->process->threads[thread];
	uint32_t *g;

	if (n->group[thread])
		goto done;
	g = calloc(t->stack_count ? t->stack_count : 1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	for (size_t s = 0; s < t->stack_count; s++) {
		struct stack_frame *f;
		size_t count, len = 0, cap = 0;
		char *buf = NULL, tmp[300];
		int64_t id;

		if (stack_names_frames(n, thread, (uint32_t)s, &f, &count))
			goto nomem;
		for (size_t k = count; k-- > 0;) {
			if ((len && fold_append(&buf, &len, &cap, ";", true)) ||
			    fold_append(&buf, &len, &cap,
					f[k].function ? f[k].function
						      : fold_unnamed(&f[k], tmp, sizeof(tmp)),
					false)) {
				free(f);
				free(buf);
				goto nomem;
			}
		}
		free(f);
		if (!buf && !(buf = strdup("[unknown]")))
			goto nomem;
		id = names_intern(n, buf);
		if (id < 0)
			goto nomem;
		g[s] = (uint32_t)id;
	}
	n->group[thread] = g;
done:
	*group = n->group[thread];
	*group_count = n->group_count;
	return 0;
nomem:
	free(g);
	return -ENOMEM;
}

const char *stack_names_folded(const struct stack_names *n, uint32_t group)
{
	return group < n->group_count ? n->folded[group] : "[unknown]";
}

/* ------------------------------------------------------------------------
 * The view
 */

unsigned stackview_rank(const uint64_t *set, const uint64_t *steady, uint32_t groups,
			struct stackview_entry *top, unsigned max)
{
	uint64_t total = 0, steady_total = 0;
	unsigned count = 0;

	for (uint32_t g = 0; g < groups; g++) {
		total += set[g];
		steady_total += steady[g];
	}
	if (!total)
		return 0;
	for (uint32_t g = 0; g < groups; g++) {
		struct stackview_entry e = {
			.group = g,
			.stack = RECORDING_NO_STACK,
			.samples = set[g],
			.steady_samples = steady[g],
			.share = (double)set[g] / (double)total,
			.steady_share = steady_total ? (double)steady[g] / (double)steady_total : 0,
		};
		double diff = e.share - e.steady_share;
		unsigned at;

		if (!set[g] || e.share < STACKVIEW_MIN_SHARE)
			continue;
		/* insertion into the sorted top: few groups pass the share */
		for (at = count; at > 0; at--) {
			const struct stackview_entry *o = &top[at - 1];
			double od = o->share - o->steady_share;

			if (od > diff || (od == diff && o->samples >= e.samples))
				break;
		}
		if (at >= max)
			continue;
		if (count < max)
			count++;
		memmove(&top[at + 1], &top[at], (count - 1 - at) * sizeof(*top));
		top[at] = e;
	}
	return count;
}

bool stackview_is_comparison(const struct recording_sampled *s)
{
	return (s->kept & (ITP_KEPT_RESERVOIR | ITP_KEPT_ALL)) ||
	       !(s->kept & (ITP_KEPT_SLOW | ITP_KEPT_WARMUP));
}

void stackview_free(struct stackview *v)
{
	if (!v)
		return;
	for (unsigned k = 0; k < v->cause_count; k++)
		free(v->causes[k].iterations);
	memset(v, 0, sizeof(*v));
}

/* Where a kept iteration goes: a cause, the steady set, or neither. */
#define SET_STEADY ATTRIB_CAUSE_COUNT
#define SET_NONE (ATTRIB_CAUSE_COUNT + 1)

/* Samples of @kind in the kept iterations @set[] == @which, per stack
 * into @per_stack (zeroed first). Returns their total. */
static uint64_t count_set(const struct recording_region *r, const uint8_t *set, unsigned which,
			  uint8_t kind, uint64_t *per_stack, size_t stacks)
{
	const struct recording_region_stacks *st = &r->stacks;
	uint64_t total = 0;

	memset(per_stack, 0, stacks * sizeof(*per_stack));
	for (size_t k = 0; k < st->count; k++) {
		const struct recording_sampled *s = &st->iterations[k];

		if (set[k] != which)
			continue;
		for (uint32_t e = s->first; e < s->first + s->count; e++) {
			const struct recording_sample *x = &st->samples[e];

			if (x->kind != kind || x->stack == RECORDING_NO_STACK || x->stack >= stacks)
				continue;
			per_stack[x->stack] += x->samples;
			total += x->samples;
		}
	}
	return total;
}

/* Fill cause @c of @v from the kept iterations marked for it. */
static int view_cause(struct stackview *v, const struct recording_thread *t,
		      const struct recording_region *r, const uint8_t *set, enum attrib_cause cause,
		      const uint32_t *group, uint32_t groups, uint64_t *per_stack,
		      uint64_t *steady_stack, uint64_t *by_group, uint64_t *steady_group)
{
	struct stackview_cause *c = &v->causes[v->cause_count];
	const struct recording_region_stacks *st = &r->stacks;
	uint8_t kind = stackview_kind_of(cause);
	uint64_t total;

	total = count_set(r, set, cause, kind, per_stack, t->stack_count);
	if (!total)
		return 0;
	memset(c, 0, sizeof(*c));
	c->cause = cause;
	c->kind = kind;
	c->samples = total;
	c->steady_iterations = v->steady_iterations;
	c->steady_samples = count_set(r, set, SET_STEADY, kind, steady_stack, t->stack_count);
	for (size_t k = 0; k < st->count; k++)
		c->iteration_count += set[k] == cause;
	c->iterations = malloc(c->iteration_count * sizeof(*c->iterations));
	if (!c->iterations)
		return -ENOMEM;
	c->iteration_count = 0;
	for (size_t k = 0; k < st->count; k++)
		if (set[k] == cause)
			c->iterations[c->iteration_count++] = st->iterations[k].iteration;

	memset(by_group, 0, groups * sizeof(*by_group));
	memset(steady_group, 0, groups * sizeof(*steady_group));
	for (size_t s = 0; s < t->stack_count; s++) {
		by_group[group[s]] += per_stack[s];
		steady_group[group[s]] += steady_stack[s];
	}
	c->top_count = stackview_rank(by_group, steady_group, groups, c->top, STACKVIEW_TOP);
	/* what each group shows: its stack with the most samples */
	for (unsigned k = 0; k < c->top_count; k++) {
		uint64_t best = 0;

		for (size_t s = 0; s < t->stack_count; s++)
			if (group[s] == c->top[k].group && per_stack[s] > best) {
				best = per_stack[s];
				c->top[k].stack = (uint32_t)s;
			}
	}
	v->cause_count++;
	return 0;
}

int stackview_compute(const struct recording_thread *t, const struct recording_region *r,
		      const struct analysis *a, const uint32_t *group, uint32_t groups,
		      struct stackview *v)
{
	const struct recording_region_stacks *st = &r->stacks;
	size_t stacks = t->stack_count ? t->stack_count : 1;
	uint8_t *set = NULL;
	uint64_t *per_stack = NULL, *steady_stack = NULL, *by_group = NULL,
		 *steady_group = NULL;
	int err = -ENOMEM;

	memset(v, 0, sizeof(*v));
	v->iterations_with_samples = st->count;
	if (!st->count)
		return 0;
	set = malloc(st->count);
	per_stack = malloc(stacks * sizeof(*per_stack));
	steady_stack = malloc(stacks * sizeof(*steady_stack));
	by_group = malloc((groups ? groups : 1) * sizeof(*by_group));
	steady_group = malloc((groups ? groups : 1) * sizeof(*steady_group));
	if (!set || !per_stack || !steady_stack || !by_group || !steady_group)
		goto out;
	for (size_t k = 0; k < st->count; k++) {
		const struct recording_sampled *s = &st->iterations[k];
		size_t i = (size_t)s->iteration;
		double ns[ATTRIB_CAUSE_COUNT];
		enum attrib_cause cause = ATTRIB_CAUSE_COUNT;

		for (uint32_t e = s->first; e < s->first + s->count; e++)
			v->samples[st->samples[e].kind] += st->samples[e].samples;
		v->lost += s->lost;
		set[k] = SET_NONE;
		if (i >= r->count)
			continue;
		cause = analysis_explain(a, r, i, ns);
		if (cause < ATTRIB_CAUSE_COUNT) {
			set[k] = (uint8_t)cause;
		} else if (a->ref_count && i >= a->ref_first && i <= a->ref_last &&
			   !analysis_is_slow(a, r, i) && stackview_is_comparison(s)) {
			set[k] = SET_STEADY;
			v->steady_iterations++;
		}
	}
	for (unsigned c = 0; c < ATTRIB_CAUSE_COUNT; c++) {
		err = view_cause(v, t, r, set, c, group, groups, per_stack, steady_stack, by_group,
				 steady_group);
		if (err)
			goto out;
	}
	/* the cause with the most samples first, as the slow line lists
	 * the one with the most iterations first */
	for (unsigned i = 1; i < v->cause_count; i++)
		for (unsigned j = i; j > 0 && v->causes[j].samples > v->causes[j - 1].samples; j--) {
			struct stackview_cause tmp = v->causes[j];

			v->causes[j] = v->causes[j - 1];
			v->causes[j - 1] = tmp;
		}
	err = 0;
out:
	if (err)
		stackview_free(v);
	free(set);
	free(per_stack);
	free(steady_stack);
	free(by_group);
	free(steady_group);
	return err;
}

void stackview_iteration(const struct recording_region *region, size_t i, const uint32_t *group,
			 uint64_t *samples, uint32_t *top_group)
{
	const struct recording_sampled *s = recording_sampled_of(region, i);
	const struct recording_region_stacks *st = &region->stacks;
	uint64_t best = 0;

	*samples = 0;
	*top_group = STACKVIEW_NO_GROUP;
	if (!s)
		return;
	for (uint32_t e = s->first; e < s->first + s->count; e++)
		*samples += st->samples[e].samples;
	/* groups of the iteration's own entries: a handful, so quadratic */
	for (uint32_t e = s->first; e < s->first + s->count; e++) {
		uint64_t n = 0;
		uint32_t g;

		if (st->samples[e].stack == RECORDING_NO_STACK)
			continue;
		g = group[st->samples[e].stack];
		for (uint32_t f = s->first; f < s->first + s->count; f++)
			if (st->samples[f].stack != RECORDING_NO_STACK &&
			    group[st->samples[f].stack] == g)
				n += st->samples[f].samples;
		if (n > best || (n == best && g < *top_group)) {
			best = n;
			*top_group = g;
		}
	}
}

/* ------------------------------------------------------------------------
 * Text
 */

/* Append printf output to @buf of @len at *@at; never past the end. */
static void __attribute__((format(printf, 4, 5)))
buf_add(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

/* "1-3, 140, 200": 1-based, runs joined, at most 6 pieces then "+N". */
static void iterations_text(const size_t *it, size_t n, char *buf, size_t len)
{
	size_t at = 0, pieces = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < n;) {
		size_t end = k;

		while (end + 1 < n && it[end + 1] == it[end] + 1)
			end++;
		if (pieces == 6) {
			buf_add(buf, len, &at, " and %zu more", n - k);
			return;
		}
		buf_add(buf, len, &at, "%s%zu", pieces ? ", " : "", it[k] + 1);
		if (end > k)
			buf_add(buf, len, &at, "-%zu", it[end] + 1);
		pieces++;
		k = end + 1;
	}
}

/* One frame as the text report names it: "touch (file.c:42)",
 * "[libfoo.so+0x1a2b]", "[vdso]", "[unknown]". */
static void frame_text(const struct stack_frame *f, char *buf, size_t len)
{
	if (f->function) {
		const char *base = f->file ? strrchr(f->file, '/') : NULL;

		base = base ? base + 1 : f->file;
		if (base && f->line)
			snprintf(buf, len, "%s (%s:%u)", f->function, base, f->line);
		else if (base)
			snprintf(buf, len, "%s (%s)", f->function, base);
		else
			snprintf(buf, len, "%s", f->function);
	} else if (!f->module) {
		snprintf(buf, len, "[unknown]");
	} else if (f->module[0] == '[' || !f->has_offset) {
		snprintf(buf, len, "%s", f->module);
	} else {
		snprintf(buf, len, "[%s+0x%" PRIx64 "]", f->module, f->offset);
	}
	for (char *c = buf; *c; c++) /* a name from a file must not move the cursor */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* "86 % a (f.c:1) ← b ← c  [steady 0 %]" */
static int entry_text(const struct stackview_entry *e, struct stack_names *names,
		      unsigned thread, char *buf, size_t len)
{
	struct stack_frame *f;
	size_t count, at = 0;
	char one[400];

	if (stack_names_frames(names, thread, e->stack, &f, &count))
		return -ENOMEM;
	buf_add(buf, len, &at, "%.0f %% ", 100 * e->share);
	for (size_t k = 0; k < count && k < STACKVIEW_TEXT_FRAMES; k++) {
		frame_text(&f[k], one, sizeof(one));
		buf_add(buf, len, &at, "%s%s", k ? " \u2190 " : "", one);
	}
	if (count > STACKVIEW_TEXT_FRAMES)
		buf_add(buf, len, &at, " \u2190 \u2026");
	buf_add(buf, len, &at, "  [steady %.0f %%]", 100 * e->steady_share);
	free(f);
	return 0;
}

int stackview_text(const struct stackview *v, struct stack_names *names, unsigned thread,
		   stackview_line_fn *line, void *arg)
{
	char buf[2048], its[160];

	if (!v->iterations_with_samples)
		return 0;
	if (!v->cause_count) {
		snprintf(buf, sizeof(buf),
			 "where, by call stacks: no slow or warm-up iteration has samples of "
			 "the kind its cause needs (%zu iteration%s with samples)",
			 v->iterations_with_samples, v->iterations_with_samples == 1 ? "" : "s");
		line(arg, "      ", buf);
		return 0;
	}
	if (v->steady_iterations)
		snprintf(buf, sizeof(buf),
			 "where, by call stacks (slow and warm-up iterations against %zu steady "
			 "one%s):",
			 v->steady_iterations, v->steady_iterations == 1 ? "" : "s");
	else
		snprintf(buf, sizeof(buf), "where, by call stacks (slow and warm-up iterations; "
					   "no steady one has samples to compare with):");
	line(arg, "      ", buf);
	for (unsigned k = 0; k < v->cause_count; k++) {
		const struct stackview_cause *c = &v->causes[k];
		size_t at = 0;

		iterations_text(c->iterations, c->iteration_count, its, sizeof(its));
		buf_add(buf, sizeof(buf), &at, "%s in iteration%s %s, %" PRIu64 " sample%s: ",
			attrib_cause_name(c->cause), c->iteration_count == 1 ? "" : "s", its,
			c->samples, c->samples == 1 ? "" : "s");
		if (!c->top_count) {
			buf_add(buf, sizeof(buf), &at, "no stack has %.0f %% of them",
				100 * STACKVIEW_MIN_SHARE);
			line(arg, "        ", buf);
			continue;
		}
		for (unsigned e = 0; e < c->top_count; e++) {
			if (entry_text(&c->top[e], names, thread, buf + at, sizeof(buf) - at))
				return -ENOMEM;
			line(arg, e ? "          " : "        ", buf);
			at = 0;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * JSON
 */

static json_t *json_frames(struct stack_names *names, unsigned thread, uint32_t stack)
{
	struct stack_frame *f;
	size_t count;
	json_t *list;

	if (stack_names_frames(names, thread, stack, &f, &count))
		return NULL;
	list = json_array();
	for (size_t k = 0; list && k < count; k++) {
		json_t *o = json_object();
		char address[24];

		snprintf(address, sizeof(address), "0x%" PRIx64, f[k].address);
		json_set(o, "function", json_text_or_null(f[k].function));
		json_set(o, "file", json_text_or_null(f[k].file));
		json_set(o, "line", f[k].line ? json_u64(f[k].line) : json_null());
		json_set(o, "module", json_text_or_null(f[k].module));
		json_set(o, "inlined", json_boolean(f[k].inlined));
		json_set(o, "address", json_string(address));
		json_add(list, o);
	}
	free(f);
	return list;
}

static json_t *json_cause(const struct stackview_cause *c, struct stack_names *names,
			  unsigned thread)
{
	const struct recording_thread *t;
	json_t *o = json_object(), *its = json_array(), *top = json_array();

	if (!o || !its || !top) {
		json_decref(o);
		json_decref(its);
		json_decref(top);
		return NULL;
	}
	t = &names->process->threads[thread];
	json_set(o, "cause", json_string(attrib_cause_name(c->cause)));
	json_set(o, "kind", json_string(stackview_kind_name(c->kind)));
	for (size_t k = 0; k < c->iteration_count; k++)
		json_add(its, json_u64(c->iterations[k] + 1));
	json_set(o, "iterations", its);
	json_set(o, "samples", json_u64(c->samples));
	json_set(o, "steady_iterations", json_u64(c->steady_iterations));
	json_set(o, "steady_samples", json_u64(c->steady_samples));
	for (unsigned k = 0; k < c->top_count; k++) {
		const struct stackview_entry *e = &c->top[k];
		json_t *je = json_object();

		json_set(je, "share", json_real(e->share));
		json_set(je, "steady_share", json_real(e->steady_share));
		json_set(je, "samples", json_u64(e->samples));
		json_set(je, "steady_samples", json_u64(e->steady_samples));
		json_set(je, "folded", json_text(stack_names_folded(names, e->group)));
		json_set(je, "truncated",
			 json_boolean(t->stacks[e->stack].flags & ITP_STACK_TRUNCATED));
		json_set(je, "broken", json_boolean(t->stacks[e->stack].flags & ITP_STACK_BROKEN));
		json_set(je, "frames", json_frames(names, thread, e->stack));
		json_add(top, je);
	}
	json_set(o, "top", top);
	return o;
}

/* ------------------------------------------------------------------------
 * Why stacks are missing: the process could not load the unwinder (the
 * header says so), or its threads could not open their perf events (each
 * says so in a NOTE: the shim opens them per thread, after the header is
 * written).
 */

static const char *note_error(const struct recording_thread *t)
{
	size_t prefix = strlen(ITP_NOTE_NO_STACKS);

	for (unsigned i = 0; i < t->note_count; i++) {
		if (!strncmp(t->notes[i], ITP_NOTE_NO_STACKS, prefix))
			return t->notes[i] + prefix;
	}
	return NULL;
}

static const char *header_error(const struct trace_file_info *h)
{
	if (h->stacks_mode == ITP_STACKS_OFF || !h->stacks_error)
		return NULL;
	return h->stacks_why[0] ? h->stacks_why : strerror((int)h->stacks_error);
}

const char *stackview_thread_error(const struct recording_process *p, unsigned thread)
{
	const char *why = header_error(&p->header);

	if (why || p->header.stacks_mode == ITP_STACKS_OFF || thread >= p->thread_count)
		return why;
	return note_error(&p->threads[thread]);
}

const char *stackview_process_error(const struct recording_process *p, unsigned *failed,
				    unsigned *threads)
{
	const char *why = header_error(&p->header), *first = NULL;

	*failed = *threads = 0;
	if (p->header.stacks_mode == ITP_STACKS_OFF)
		return NULL;
	for (unsigned t = 0; t < p->thread_count; t++) {
		const char *thread_why = why ? why : note_error(&p->threads[t]);

		/* A thread that never began an iteration never tried. */
		if (!thread_why && !p->threads[t].iterations)
			continue;
		++*threads;
		if (thread_why) {
			++*failed;
			first = first ? first : thread_why;
		}
	}
	if (why && !*threads)
		*failed = *threads = 1; /* no thread at all: the process's reason */
	return why ? why : first;
}

json_t *stackview_json(const struct recording_process *p, const struct stackview *v,
		       struct stack_names *names, unsigned thread)
{
	const char *error = stackview_thread_error(p, thread);
	const struct trace_file_info *h = &p->header;
	json_t *o, *samples, *causes;

	if (h->stacks_mode == ITP_STACKS_OFF)
		return json_null();
	o = json_object();
	samples = json_object();
	causes = json_array();
	if (!o || !samples || !causes) {
		json_decref(o);
		json_decref(samples);
		json_decref(causes);
		return NULL;
	}
	json_set(o, "mode", json_string(h->stacks_mode == ITP_STACKS_SLOW  ? "slow"
					: h->stacks_mode == ITP_STACKS_ALL ? "all"
									   : "unknown"));
	json_set(o, "fault_period", json_u64(h->fault_period));
	json_set(o, "cpu_period_us", json_u64(h->cpu_period_us));
	json_set(o, "error", error ? json_text(error) : json_null());
	json_set(o, "iterations_with_samples", json_u64(v ? v->iterations_with_samples : 0));
	for (uint8_t k = ITP_SAMPLE_FAULT; k <= ITP_SAMPLE_KIND_MAX; k++)
		json_set(samples, stackview_kind_name(k), json_u64(v ? v->samples[k] : 0));
	json_set(o, "samples", samples);
	json_set(o, "lost", json_u64(v ? v->lost : 0));
	json_set(o, "steady_iterations", json_u64(v ? v->steady_iterations : 0));
	for (unsigned k = 0; v && k < v->cause_count; k++)
		json_add(causes, json_cause(&v->causes[k], names, thread));
	json_set(o, "causes", causes);
	return o;
}

/* ------------------------------------------------------------------------
 * Folded stacks
 */

struct flame_line {
	char *text; /* "prefix;folded" */
	uint64_t count;
};

struct stackview_flame {
	size_t count, capacity;
	struct flame_line *lines;
};

struct stackview_flame *stackview_flame_new(void)
{
	return calloc(1, sizeof(struct stackview_flame));
}

void stackview_flame_free(struct stackview_flame *fl)
{
	if (!fl)
		return;
	for (size_t i = 0; i < fl->count; i++)
		free(fl->lines[i].text);
	free(fl->lines);
	free(fl);
}

int stackview_flame_add(struct stackview_flame *fl, const char *prefix, const char *folded,
			uint64_t count)
{
	char *text = NULL;
	size_t len = 0, cap = 0;

	if (!count)
		return 0;
	/* folded is safe already; the region name comes from the program */
	if (fold_append(&text, &len, &cap, prefix[0] ? prefix : "[region]", false) ||
	    fold_append(&text, &len, &cap, ";", true)) {
		free(text);
		return -ENOMEM;
	}
	if (len + strlen(folded) + 1 > cap) {
		char *p = realloc(text, len + strlen(folded) + 1);

		if (!p) {
			free(text);
			return -ENOMEM;
		}
		text = p;
	}
	strcpy(text + len, folded);
	if (fl->count == fl->capacity) {
		size_t want = fl->capacity ? fl->capacity * 2 : 256;
		struct flame_line *p = realloc(fl->lines, want * sizeof(*p));

		if (!p) {
			free(text);
			return -ENOMEM;
		}
		fl->lines = p;
		fl->capacity = want;
	}
	fl->lines[fl->count++] = (struct flame_line){ text, count };
	return 0;
}

static int flame_compare(const void *a, const void *b)
{
	return strcmp(((const struct flame_line *)a)->text, ((const struct flame_line *)b)->text);
}

int stackview_flame_print(struct stackview_flame *fl, FILE *out)
{
	qsort(fl->lines, fl->count, sizeof(*fl->lines), flame_compare);
	for (size_t i = 0; i < fl->count;) {
		uint64_t n = 0;
		size_t j = i;

		for (; j < fl->count && !strcmp(fl->lines[j].text, fl->lines[i].text); j++)
			n += fl->lines[j].count;
		if (fprintf(out, "%s %" PRIu64 "\n", fl->lines[i].text, n) < 0)
			return -EIO;
		i = j;
	}
	return 0;
}

/*
 * stackview: which code the slow and warm-up iterations of a region ran,
 * from the call stacks the shim sampled (trace format 1.4; doc/stacks.md).
 *
 * The view is differential: for each cause that is the primary cause of
 * some warm-up or slow iterations (analysis.h), the samples of the kind
 * that explains it (stackview_kind_of) in those iterations are compared
 * with the same kind of samples in the steady iterations the shim kept
 * stacks of; the stacks whose share grew the most are the answer. A stack
 * that is as common in steady iterations says nothing about the excess.
 *
 * Stacks are compared by their symbolised function names ("groups"), not
 * by addresses: two on-CPU samples a few instructions apart in the same
 * function are the same place for a reader, and counted apart no stack of
 * a hot loop would reach a visible share.
 *
 * Usage, per process image:
 *     struct stack_names *names;
 *     stack_names_new(process, &names);
 *     stack_names_groups(names, thread_index, &group, &group_count);
 *     stackview_compute(thread, region, analysis, group, group_count, &view);
 *     ... stackview_text / stackview_json ...
 *     stackview_free(&view);
 *     stack_names_free(names);
 */
#ifndef ITERPROF_STACKVIEW_H
#define ITERPROF_STACKVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "analysis.h"
#include "attrib.h"
#include "recording.h"

#define STACKVIEW_TOP 5            /* stacks shown per cause, at most */
#define STACKVIEW_MIN_SHARE 0.05   /* of the cause's samples, to be shown */
#define STACKVIEW_TEXT_FRAMES 4    /* frames per stack in the text report */
#define STACKVIEW_NO_GROUP UINT32_MAX

/* The ITP_SAMPLE_* kind whose samples explain @cause: fault samples for
 * page-faults and major-faults, switch samples for the off-CPU causes
 * (blocking, preemption, migration, sibling-threads, cgroup-throttle,
 * steal), on-CPU samples for the rest. */
uint8_t stackview_kind_of(enum attrib_cause cause);
/* "fault", "switch", "cpu"; "unknown" for another value. Static. */
const char *stackview_kind_name(uint8_t kind);

/* ------------------------------------------------------------------------
 * Names: the stacks of one process image symbolised (symbolize.h), and
 * grouped by their function names.
 */
struct stack_names;

/* For @process (kept, not copied: it must outlive the names). Nothing is
 * symbolised before it is asked for. 0 or -ENOMEM. */
int stack_names_new(const struct recording_process *process, struct stack_names **out);
void stack_names_free(struct stack_names *names);

/* The group of each stack of thread @thread (index in process->threads):
 * *@group[s] for stack s, STACKVIEW_NO_GROUP never; *@group_count: groups
 * of the whole process so far (ids are below it). The array belongs to
 * @names. 0 or -ENOMEM. */
int stack_names_groups(struct stack_names *names, unsigned thread, const uint32_t **group,
		       uint32_t *group_count);

/* The group's folded form: function names outermost first joined by ';'
 * ("main;do_iteration;touch_fresh_pages"), inline frames included; a frame
 * without a name is "[module]" or "[unknown]"; ';', spaces and control
 * characters inside names are replaced (by ':', '_', '?') so that flame
 * graph tools split it right. Belongs to @names. */
const char *stack_names_folded(const struct stack_names *names, uint32_t group);

/* One frame of a symbolised stack. Strings belong to @names. */
struct stack_frame {
	const char *function; /* NULL when unknown */
	const char *file;     /* source file as in the debug info, or NULL */
	unsigned line;        /* 0 when unknown */
	const char *module;   /* file name of the module, "[vdso]", or NULL */
	bool inlined;         /* inlined into the next (outer) frame */
	uint64_t address;     /* as recorded: the sampled instruction for the
				 stack's first frame, return addresses after */
	uint64_t lookup;      /* what was symbolised: address, or address - 1 */
	bool has_offset;      /* lookup is in a recorded module: */
	uint64_t offset;      /* lookup - its load bias (an ELF address) */
};

/* Stack @stack of thread @thread symbolised, innermost first, inline frames
 * expanded: *@frames (malloc'ed, the caller frees it) of *@count. 0 or
 * -ENOMEM. */
int stack_names_frames(struct stack_names *names, unsigned thread, uint32_t stack,
		       struct stack_frame **frames, size_t *count);

/* ------------------------------------------------------------------------
 * Why stacks are missing although they were asked for.
 */

/* Why thread @thread (index in @p->threads) of @p has no call stacks: the
 * process's reason (the header's: no unwinder, not x86-64) or the thread's
 * own (its ITP_NOTE_NO_STACKS note: its perf events failed to open); NULL
 * when it has them or stacks are off. Belongs to @p (or is static). */
const char *stackview_thread_error(const struct recording_process *p, unsigned thread);

/* Why threads of @p have no call stacks, NULL when none lacks them (or
 * stacks are off): the header's reason, else the first failed thread's.
 * *@failed of the *@threads that tried (began an iteration, or wrote the
 * note) failed; *@failed == *@threads > 0 is a process without stacks.
 * Belongs to @p (or is static). */
const char *stackview_process_error(const struct recording_process *p, unsigned *failed,
				    unsigned *threads);

/* ------------------------------------------------------------------------
 * The differential view of one region.
 */
struct stackview_entry {
	uint32_t group;
	uint32_t stack;           /* the thread's stack of the group with the
				     most samples in the set: what is shown */
	uint64_t samples, steady_samples;
	double share, steady_share; /* of the set's / the steady samples */
};

struct stackview_cause {
	enum attrib_cause cause;
	uint8_t kind;             /* ITP_SAMPLE_* */
	size_t iteration_count;   /* its iterations with kept stacks: */
	size_t *iterations;       /* 0-based, ascending (malloc'ed) */
	uint64_t samples;         /* of the kind, in them */
	size_t steady_iterations;
	uint64_t steady_samples;  /* of the kind */
	unsigned top_count;
	struct stackview_entry top[STACKVIEW_TOP];
};

struct stackview {
	size_t iterations_with_samples; /* kept iterations of the region */
	uint64_t samples[ITP_SAMPLE_KIND_MAX + 1]; /* by kind, all of them */
	uint64_t lost;
	size_t steady_iterations; /* steady, not slow, kept for comparison */
	unsigned cause_count;     /* causes with samples of their kind */
	struct stackview_cause causes[ATTRIB_CAUSE_COUNT]; /* by samples */
};

/*
 * Rank groups by share in a set minus share in the steady set: @set[g]
 * and @steady[g] are the samples of group g (< @groups) in each. Keeps at
 * most @max (<= STACKVIEW_TOP) with a share of at least
 * STACKVIEW_MIN_SHARE, largest difference first (ties: more samples, then
 * the lower group) into @top; returns how many. Sets stack to
 * RECORDING_NO_STACK (the caller knows the stacks).
 */
unsigned stackview_rank(const uint64_t *set, const uint64_t *steady, uint32_t groups,
			struct stackview_entry *top, unsigned max);

/* Is kept iteration @s a fair sample of the steady state? Not when the
 * shim kept it only for being slow or early by its own running estimate:
 * those would bias the comparison towards what the slow ones do. */
bool stackview_is_comparison(const struct recording_sampled *s);

/*
 * Compute the view of @region of @thread, analysed as @a, with @group the
 * group of each of the thread's stacks (< @groups). Free with
 * stackview_free(). 0 or -ENOMEM.
 */
int stackview_compute(const struct recording_thread *thread,
		      const struct recording_region *region, const struct analysis *a,
		      const uint32_t *group, uint32_t groups, struct stackview *out);
void stackview_free(struct stackview *view);

/* ------------------------------------------------------------------------
 * Output.
 */

/* Receives each line of the text view (without newline) and the indent
 * it goes under, to wrap it like the report's other lines. */
typedef void stackview_line_fn(void *arg, const char *indent, const char *text);

/* The text lines of @view (nothing when it has no samples). 0 or -ENOMEM. */
int stackview_text(const struct stackview *view, struct stack_names *names, unsigned thread,
		   stackview_line_fn *line, void *arg);

/* The region's "stacks" member (doc/report-json.md): null when @process
 * recorded no stacks. @view may be NULL when the region has none. NULL
 * when out of memory. */
json_t *stackview_json(const struct recording_process *process, const struct stackview *view,
		       struct stack_names *names, unsigned thread);

/* Iteration @i of @region: its samples (all kinds) in *@samples and the
 * group with the most of them in *@group (STACKVIEW_NO_GROUP: none). */
void stackview_iteration(const struct recording_region *region, size_t i, const uint32_t *group,
			 uint64_t *samples, uint32_t *top_group);

/* Folded stacks for flame graph tools: lines "prefix;folded COUNT". */
struct stackview_flame;

struct stackview_flame *stackview_flame_new(void);
void stackview_flame_free(struct stackview_flame *flame);
/* Add @count samples of @folded under @prefix (a region name, made safe
 * here). 0 or -ENOMEM. */
int stackview_flame_add(struct stackview_flame *flame, const char *prefix, const char *folded,
			uint64_t count);
/* Print the lines, sorted, equal stacks added up. 0 or -EIO. */
int stackview_flame_print(struct stackview_flame *flame, FILE *out);

#endif /* ITERPROF_STACKVIEW_H */

/*
 * Event names, as `iterprof record -e` and `iterprof events` take them, and
 * what they become for perf_event_open.
 *
 * A name is one of:
 *   - a libpfm4 event string: the generic names perf uses (`cycles`,
 *     `instructions`, `cache-misses`, `L1-dcache-load-misses`, `task-clock`,
 *     ...), `perf::PAGE-FAULTS`, or any event of the machine's PMU
 *     (`INST_RETIRED:ANY_P`, `arm_ac57::INST_RETIRED`), with libpfm4's
 *     modifiers;
 *   - a sysfs PMU event, `PMU/EVENT/` or `PMU/term=value,.../`, encoded from
 *     /sys/bus/event_source/devices/PMU/{type,events,format};
 * optionally followed by perf's modifiers `:u` (user mode only) or `:k`
 * (kernel mode only).
 */
#ifndef ITERPROF_EVENTS_H
#define ITERPROF_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iterprof/trace-format.h"

#define EVENTS_MAX 8 /* -e events per recording, besides the software set */

struct event_spec {
	char name[ITP_CD_NAME_LEN]; /* as typed (cut to fit the trace's table) */
	uint32_t type;
	uint64_t config, config1, config2;
	bool exclude_user, exclude_kernel;
	bool is_mode_given; /* :u or :k: do not fall back to user mode */
};

/* Resolve one name. 0, or -EINVAL with a one-line reason in @why. */
int events_resolve(const char *name, struct event_spec *ev, char *why, size_t why_len);
/* Resolve a comma-separated list (commas inside PMU/.../ belong to it) into
 * @out (at most @max). 0, or -EINVAL with the reason naming the event. */
int events_parse_list(const char *list, struct event_spec *out, size_t max, size_t *count,
		      char *why, size_t why_len);
/* Try to open @ev on this thread; 0 or a positive errno. Without :u/:k, an
 * EACCES on kernel mode is retried user-only (then ev->exclude_kernel is
 * set), as the shim will do. */
int events_try_open(struct event_spec *ev);
/* The ITERPROF_EVENTS value for the shim: one line per event,
 * "name type config config1 config2 exclude_user exclude_kernel mode_given".
 * The caller frees it. NULL on allocation failure. */
char *events_to_env(const struct event_spec *evs, size_t count);

#endif /* ITERPROF_EVENTS_H */

/*
 * Call stacks of iterations, sampled by the kernel and unwound at the
 * iteration's end (stacks.c says how and why; doc/stacks.md).
 */
#ifndef ITERPROF_STACKS_H
#define ITERPROF_STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct chunk_cursor;
struct stack_sampler;

/* Bytes of user stack the kernel copies with each sample: the frames of a
 * benchmark's call path, and of an interpreter's C stack, fit in 8 KiB. */
#define STACK_COPY_BYTES 8192u

/* Load the unwinder when stacks are on and fill the header's stacks_*
 * fields (the trace file template). Single-threaded, at start. */
void stacks_probe(uint8_t *header);

/* The calling thread's sampler: *out stays NULL with stacks off or
 * unavailable in the process (returns 0: the header says why) or when this
 * thread cannot have them (returns -errno: a NOTE beginning ITP_NOTE_NO_STACKS
 * says why, and the analyzer reads a process whose every thread wrote one as
 * a process without stacks). */
int stacks_thread_open(struct stack_sampler **out);
void stacks_thread_close(struct stack_sampler *s);
/* In a forked child: release what the parent's thread owned. */
void stacks_drop_inherited(struct stack_sampler *s);

/* An outermost iteration begins: sample it. */
void stacks_start(struct stack_sampler *s);
/* It ended after @duration_ns: stop sampling, drain the samples and, when
 * the iteration's stacks are kept, unwind them and write the MODULE and
 * STACK records they need. True when a SAMPLES record must follow the
 * iteration's record (stacks_write_samples). @c NULL: nothing can be
 * written (no space, or an iteration abandoned): only drain. */
bool stacks_finish(struct stack_sampler *s, uint64_t duration_ns, struct chunk_cursor *c,
		   pid_t tid);
bool stacks_write_samples(struct stack_sampler *s, struct chunk_cursor *c, pid_t tid);

/* patch.c: the real return addresses of patched calls, put back into a
 * sample's stack copy [sp, sp + size) in place of the exit trampoline. */
void patch_restore_return_addresses(uint8_t *copy, uint64_t sp, uint64_t size);
bool patch_is_active(void);

#endif /* ITERPROF_STACKS_H */

/*
 * Function interception by name (`iterprof record -f PATTERN`): every call
 * of a matched function is one iteration of the region named after it.
 * patch.c orchestrates (modules, symbols, reporting, the run-time hooks);
 * patch-x86.c decides what can be patched and relocates instructions;
 * patch-entry-x86_64.S holds the trampolines. See doc/interception.md.
 */
#ifndef ITERPROF_PATCH_H
#define ITERPROF_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <capstone/capstone.h>

struct x86_plan {
	uintptr_t patch_at;  /* where the jmp goes: the entry, or after endbr64 */
	unsigned moved;      /* bytes of whole instructions the jmp overlaps */
	unsigned resume_len;
	uint8_t resume[112]; /* relocated instructions + jmp back, for resume_at */
};

/* Can the function [@function, +@size) be patched? If so fill @plan with the
 * resume code to be placed at @resume_at. 0, or -EINVAL/-ENOMEM with the
 * reason in @why. */
int x86_plan(csh cs, uintptr_t function, uint64_t size, uintptr_t resume_at,
	     struct x86_plan *plan, char *why, size_t why_len);
/* `jmp rel32` placed at @at to @target (the caller checked the reach). */
void x86_make_jmp(uint8_t out[5], uintptr_t at, uintptr_t target);
int x86_disassembler_open(csh *cs);
void x86_disassembler_close(csh *cs);
#endif

/* Apply the -f patterns of the configuration to every loaded object. Called
 * once from initialisation, while the process is single-threaded. */
void patch_init(void);
/* After a successful dlopen: patch what the patterns match in new objects. */
void patch_after_dlopen(void);
/* True when -f patterns were given. */
bool patch_is_active(void);

#endif /* ITERPROF_PATCH_H */

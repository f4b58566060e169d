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

/* ---- run time (patch.c, patch-fast.c, patch-entry-x86_64.S) ------------- */

#define SHADOW_DEPTH 64

/* A patched function: where its relocated entry instructions continue, and
 * the region its iterations go to. */
struct patch_site {
	uintptr_t function;
	uintptr_t resume;   /* relocated instructions, then back to the body */
	char *region;       /* display name: the region of the iterations */
};

/* One patched call whose return the shim captured. */
struct shadow_entry {
	uint32_t site;
	bool is_fast;             /* begun by patch_fast_entry (clock only) */
	uint16_t region;          /* is_fast: the thread's region id */
	uintptr_t *slot;          /* where the caller's return address lives */
	uintptr_t return_address; /* what was there */
	uint64_t begin_tsc;       /* is_fast: when the iteration began */
};

struct shadow_stack {
	unsigned depth;
	int is_busy;
	uint64_t exit_tsc; /* stamped by patch_fast_exit for the slow exit */
	struct shadow_entry entries[SHADOW_DEPTH];
};

extern struct patch_site *patch_sites __attribute__((visibility("hidden")));
extern __thread struct shadow_stack patch_shadow
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/* Called by the trampolines (patch-entry-x86_64.S). patch_fast_* preserve
 * every register but %rax (the attribute makes the compiler save what they
 * use; patch-fast.c uses no vector register) and return 0 when the full
 * path must run: patch_on_entry/patch_on_exit, behind a save of every
 * caller-saved register. Each returns where to jump next. */
#if defined(__x86_64__)
uintptr_t patch_fast_entry(uint32_t index, uintptr_t *slot)
	__attribute__((no_caller_saved_registers));
uintptr_t patch_fast_exit(uintptr_t *slot) __attribute__((no_caller_saved_registers));
#endif
uintptr_t patch_on_entry(uint64_t index, uintptr_t *slot);
uintptr_t patch_on_exit(uintptr_t *slot);
void patch_entry_common(void);
void patch_exit_trampoline(void);

/* Apply the -f patterns of the configuration to every loaded object. Called
 * once from initialisation, while the process is single-threaded. */
void patch_init(void);
/* After a successful dlopen: patch what the patterns match in new objects. */
void patch_after_dlopen(void);
/* True when -f patterns were given. */
bool patch_is_active(void);

#endif /* ITERPROF_PATCH_H */

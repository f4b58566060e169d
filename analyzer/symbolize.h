/*
 * symbolize: instruction addresses of a recorded process image -> function,
 * source file and line, through elfutils' libdwfl (doc/stacks.md).
 *
 * The shim records each module's path, build-id and load addresses
 * (ITP_REC_MODULE); the program has exited by the time the analyzer runs,
 * so modules are reported to libdwfl "offline" at the recorded addresses.
 * Debug information is found the standard way (build-id under
 * /usr/lib/debug/.build-id, .gnu_debuglink, /usr/lib/debug/<path>). When
 * the file on disk no longer has the recorded build-id (rebuilt since the
 * recording) and no debug file with that build-id exists, its addresses are
 * not symbolised: names from another build would be wrong names.
 *
 * Inline frames: one address can stand for several frames (a function
 * inlined into another); symbolizer_lookup returns all of them, innermost
 * first, each with its own source position. Names are demangled (C++ and
 * Rust, legacy and v0).
 *
 * Usage:
 *     struct symbolizer *s;
 *     symbolizer_new(&s);
 *     symbolizer_add_module(s, &module);      // each ITP_REC_MODULE
 *     n = symbolizer_lookup(s, addr, frames, 8);
 *     ...
 *     symbolizer_free(s);
 * One symbolizer per process image (its modules). Not thread-safe.
 */
#ifndef ITERPROF_SYMBOLIZE_H
#define ITERPROF_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct symbolizer;

/* A module as the shim recorded it (ITP_REC_MODULE). */
struct sym_module {
	uint64_t start, end;     /* [start, end): its mapped addresses */
	uint64_t bias;           /* address = ELF virtual address + bias */
	const char *path;        /* "" for the vdso or an object without file */
	const uint8_t *build_id; /* NULL or build_id_len bytes */
	unsigned build_id_len;
};

/* One frame of an address. Strings belong to the symbolizer and live until
 * symbolizer_free; equal strings are one pointer (interned), so they can be
 * compared and hashed by address. */
struct sym_frame {
	const char *function; /* demangled name (C++ with its parameter list,
				 Rust without its hash); NULL when unknown.
				 The real (outermost) frame is named by the
				 symbol table, so a cold part reads "f.cold";
				 inlined frames by their DWARF origin */
	const char *file;     /* source file as the debug info names it,
				 joined to its directory by libdw: absolute
				 for a local build
				 ("/src/proj/bench.c"), often relative for
				 distribution packages built with prefix
				 maps ("./malloc/malloc.c", "../sysdeps/...");
				 NULL when unknown */
	unsigned line;        /* 0 when unknown */
	const char *module;   /* file name of the module (no directory),
				 "[vdso]" for a module recorded without path,
				 or NULL when the address is in no recorded
				 module (JIT code, anonymous memory) */
	uint64_t offset;      /* address - start of the function's symbol (0
				 when unknown, and for inlined frames) */
	bool inlined;         /* inlined into the next frame of this lookup */
};

/* 0, or -ENOMEM. */
int symbolizer_new(struct symbolizer **out);
void symbolizer_free(struct symbolizer *s);

/* Adds a module (copied). Never fails because of the file: a missing or
 * changed file only makes its addresses unknown (symbolizer_lookup gives
 * the module name and no function). 0, -EINVAL (start >= end, or a
 * build_id_len without build_id), -ENOMEM. The file is opened on the first
 * lookup of an address in the module, not here. */
int symbolizer_add_module(struct symbolizer *s, const struct sym_module *m);

/* Frames of @addr, an instruction address (for a return address pass
 * address - 1, the call), innermost first, at most @max (>= 1). Returns
 * how many were filled, always >= 1: an address that cannot be resolved
 * gives one frame with function NULL. When @max cuts the chain, the last
 * frame returned still has inlined set. Results are cached per address
 * (the first lookup in a module opens its file and reads its debug
 * information; later ones of the same address are a hash probe). Adding a
 * module empties the cache. */
unsigned symbolizer_lookup(struct symbolizer *s, uint64_t addr, struct sym_frame *frames,
			   unsigned max);

/* Why the module containing @addr has no names (file missing, build-id
 * changed, no symbols, no file at all: the vdso), or NULL when it has or
 * when no module contains it. For a one-line note in the report: one line,
 * "<path>: <why>" ("[vdso]: ..." for the vdso). Owned by the symbolizer. */
const char *symbolizer_module_problem(struct symbolizer *s, uint64_t addr);

/* The display name of a mangled C++ (_Z) or Rust (_ZN...17h<hash>E legacy,
 * _R v0) symbol name: C++ with its parameter list, Rust without the legacy
 * hash. NULL when @name is not mangled (a C name), not a valid mangling, too
 * long to demangle safely, or memory ran out. The caller frees the result. */
char *sym_demangle(const char *name);

#endif /* ITERPROF_SYMBOLIZE_H */

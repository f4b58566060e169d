/*
 * Finding functions by name in a loaded module, for `iterprof record -f`.
 *
 * A symbol table holds every function symbol of one ELF module (executable or
 * shared object) with its run-time address and its names: as in the symbol
 * table (mangled) and as a user types it (demangled, C++ without parameters,
 * Rust without the hash). Demangling is libiberty's (C++ and Rust, legacy and
 * v0), ELF reading elfutils' libelf and libdw.
 *
 * Runs inside the benchmarked process, in the shim's constructor and at
 * dlopen: it allocates, but never writes to stdout/stderr and never exits;
 * every failure is a -errno return. Not thread-safe by itself: one caller at
 * a time per table (the patcher holds its lock), and symbols_set_debug_roots
 * only before any load.
 */
#ifndef ITERPROF_SYMBOLS_H
#define ITERPROF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbol {
	uintptr_t address;   /* run-time address: st_value + load bias */
	uint64_t size;       /* st_size (0 if unknown) */
	const char *name;    /* display name: demangled; C++ without parameter list
				(ns::Class::method), Rust without the ::h<hash> suffix;
				equal to mangled for C. A compiler clone keeps its
				suffix as in C ("ns::f.cold", "ns::f.constprop.0"),
				so that "ns::f" names the function alone. */
	const char *mangled; /* as in the symbol table, without an @VERSION suffix */
	const char *long_name; /* C++ with its parameter list, Rust with its hash
				  (legacy) or disambiguators (v0); NULL for others */
	bool is_global;      /* STB_GLOBAL, STB_WEAK or STB_GNU_UNIQUE (exported/visible),
				else static */
	bool is_ifunc;       /* STT_GNU_IFUNC: @address is the resolver's, which
				returns the implementation's address */
};

/*
 * Every STT_FUNC and STT_GNU_IFUNC symbol with st_shndx != SHN_UNDEF of one
 * module, sorted by address (then mangled name), without duplicates. Strings
 * are owned by the table and live as long as it.
 */
struct symbol_table;

/*
 * Load the function symbols of the ELF file @path (ET_EXEC or ET_DYN) loaded
 * with @load_bias (dl_iterate_phdr's dlpi_addr: 0 for a non-PIE executable).
 * Reads .symtab; if the file has none (stripped), the symbols of its separate
 * debuginfo, found by build-id (<root>/.build-id/xx/rest.debug) or by
 * .gnu_debuglink (the file's directory, its .debug/ subdirectory, then
 * <root>/<directory>/ for each debug root), and .dynsym in every case. A
 * debug file is used only if its build-id equals the file's (or, when the
 * file has none, if its CRC equals the debuglink's): stale debuginfo would
 * give wrong addresses, and the patcher writes code at those addresses.
 * Symbols are deduplicated by address and name.
 * Returns 0 or -errno: -ENOEXEC for a file that is not an ELF executable or
 * shared object or is malformed, errno of open() otherwise. *out is owned by
 * the caller (symbol_table_free); it is set only on success. A module without
 * any function symbol gives an empty table, not an error.
 */
int symbol_table_load(const char *path, uintptr_t load_bias, struct symbol_table **out);
/* Free a table and all its strings. Accepts NULL. */
void symbol_table_free(struct symbol_table *table);
size_t symbol_table_count(const struct symbol_table *table);
/* Symbol @i (0 <= i < count), in address order; NULL when out of range.
 * Owned by the table. */
const struct symbol *symbol_table_get(const struct symbol_table *table, size_t i);

/*
 * True if @sym matches the glob @glob (fnmatch, no FNM_PATHNAME), tried
 * against the display name, the long name (C++ with parameters, Rust with its
 * hash) and the mangled name.
 */
bool symbol_matches(const struct symbol *sym, const char *glob);

/*
 * Up to @max distinct display names closest to @glob (edit distance on the
 * display name, ignoring glob metacharacters), best first, ties in name order,
 * for "nothing matched; did you mean ..." messages. The names are owned by
 * the table. Returns how many were stored in @out.
 */
size_t symbol_table_closest(const struct symbol_table *table, const char *glob, const char **out,
			    size_t max);

/*
 * The symbol containing @address (for refusals such as "a branch from
 * <function> jumps into ..."), or NULL: the one with the highest start whose
 * [address, address + size) holds it (a size 0 symbol holds only its own
 * address); a global one among aliases. Owned by the table.
 */
const struct symbol *symbol_table_find_address(const struct symbol_table *table,
					       uintptr_t address);

/*
 * Where separate debuginfo is looked for: a NULL-terminated list of
 * directories, replacing the default { "/usr/lib/debug", NULL }; NULL
 * restores the default. The list is not copied: it must stay valid while
 * tables are loaded. For tests (a temporary directory first), and for a
 * later ITERPROF_DEBUG_DIRS.
 */
void symbols_set_debug_roots(const char *const *roots);

/*
 * The display name and the long form of a mangled name, as
 * symbol_table_load computes them: for C++ the name without and with its
 * parameter list, for Rust the path without and with its hash
 * (legacy) or disambiguators (v0). For any other name, *display is a copy
 * of @mangled and *full is NULL. Returns 0 or -ENOMEM; both strings are
 * owned by the caller (free). Exposed for the tests.
 */
int symbols_demangle(const char *mangled, char **display, char **full);

/* A -f pattern: "GLOB" or "GLOB@MODULE". */
struct symbol_pattern {
	char glob[256];
	char module[256]; /* "" = any module */
};

/* Split @text at its first '@' (no function name has one). Returns 0, or
 * -EINVAL for an empty glob, an empty module after '@', or a part too long. */
int symbol_pattern_parse(const char *text, struct symbol_pattern *out);

/*
 * Does the pattern's module part accept the module at @path? "" accepts all;
 * "main" = the main executable (@is_main); a part with a '/' = that exact
 * path; otherwise the basename of @path equals the module part, or starts
 * with it followed by '.' or '-' (so "libc" and "libc.so.6" both match
 * /lib/x86_64-linux-gnu/libc.so.6, and the executable's basename matches it).
 */
bool symbol_pattern_accepts_module(const struct symbol_pattern *p, const char *path, bool is_main);

#endif /* ITERPROF_SYMBOLS_H */

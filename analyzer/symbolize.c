/*
 * symbolize: see symbolize.h.
 *
 * A module is looked at only when an address in it is first looked up (a
 * big program maps hundreds of libraries and its stacks touch a few): its
 * file is opened, its build-id compared with the recorded one, and it is
 * reported to libdwfl at the recorded bias. An address is resolved once;
 * its frames go to a cache, their strings to an intern table, both owned
 * here until symbolizer_free.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <libiberty/demangle.h>

#include "symbolize.h"

/* Frames kept per address: deeper inline chains lose their middle frames. */
#define SYM_MAX_FRAMES 32

/*
 * libiberty's C++ demangler keeps arrays sized by the name on the stack,
 * about 80 bytes per character of the mangled name, plus recursion: 8192
 * characters is some 650 KiB, well inside a default 8 MiB thread stack.
 * Longer names (rare even in template-heavy code) stay mangled.
 */
#define DEMANGLE_MAX_LENGTH 8192

/* Where distributions install debug files named by build-id. */
#define BUILD_ID_DEBUG_DIR "/usr/lib/debug/.build-id"

enum module_state {
	MODULE_NEW,      /* no address looked up in it yet */
	MODULE_REPORTED, /* reported to libdwfl: names come from there */
	MODULE_UNUSABLE, /* no names: problem says why */
};

struct module {
	uint64_t start, end, bias;
	char *path;         /* "" for the vdso or an object without file */
	uint8_t *build_id;  /* NULL when not recorded */
	unsigned build_id_len;
	const char *name;   /* interned: basename of path, or "[vdso]" */
	enum module_state state;
	Dwfl_Module *dwfl_module;
	char *problem;      /* NULL, or why it has no names */
	bool is_symbols_checked;
};

/* A cached lookup: frames[first .. first + count) of the symbolizer. */
struct cached {
	uint64_t addr;
	uint32_t first;
	uint32_t count; /* 0: an empty slot (a lookup gives at least 1) */
};

struct symbolizer {
	Dwfl *dwfl;
	struct module *modules;
	size_t nmodules, modules_cap;

	/* Open addressing, capacity a power of two, at most half full. */
	struct cached *cache;
	size_t cache_cap, cache_used;
	struct sym_frame *frames;
	size_t nframes, frames_cap;

	/* Interned strings, the same way; each one malloc'd. */
	char **strings;
	size_t strings_cap, strings_used;
};

/*
 * Offline reporting: libdwfl gets each module's file and address from us,
 * and finds its debug information itself (build-id under /usr/lib/debug,
 * .gnu_debuglink, /usr/lib/debug/<path>; debuginfod too when the
 * environment sets DEBUGINFOD_URLS).
 */
static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* ---- demangling --------------------------------------------------------------------------- */

char *sym_demangle(const char *name)
{
	char *out;

	if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	if (strlen(name) > DEMANGLE_MAX_LENGTH)
		return NULL;
	/* Rust first: a legacy Rust name (_ZN...17h<hash>E) is also a valid
	 * C++ name, which the C++ demangler would give with its hash. */
	out = cplus_demangle(name, DMGL_RUST);
	if (!out)
		out = cplus_demangle(name, DMGL_GNU_V3 | DMGL_PARAMS | DMGL_ANSI);
	return out;
}

/* ---- interned strings --------------------------------------------------------------------- */

static uint64_t hash_string(const char *str)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *str; str++)
		h = (h ^ (unsigned char)*str) * 0x100000001b3ull;
	return h;
}

static int strings_grow(struct symbolizer *s)
{
	size_t cap = s->strings_cap ? 2 * s->strings_cap : 256;
	char **strings = calloc(cap, sizeof(*strings));
	size_t i;

	if (!strings)
		return -ENOMEM;
	for (i = 0; i < s->strings_cap; i++) {
		size_t j;

		if (!s->strings[i])
			continue;
		j = hash_string(s->strings[i]) & (cap - 1);
		while (strings[j])
			j = (j + 1) & (cap - 1);
		strings[j] = s->strings[i];
	}
	free(s->strings);
	s->strings = strings;
	s->strings_cap = cap;
	return 0;
}

/* The symbolizer's copy of @str (NULL for NULL, or when out of memory:
 * a frame then lacks that string, which is what a caller can show). */
static const char *intern(struct symbolizer *s, const char *str)
{
	size_t i;
	char *copy;

	if (!str)
		return NULL;
	if (2 * (s->strings_used + 1) > s->strings_cap && strings_grow(s))
		return NULL;
	i = hash_string(str) & (s->strings_cap - 1);
	while (s->strings[i]) {
		if (!strcmp(s->strings[i], str))
			return s->strings[i];
		i = (i + 1) & (s->strings_cap - 1);
	}
	copy = strdup(str);
	if (!copy)
		return NULL;
	s->strings[i] = copy;
	s->strings_used++;
	return copy;
}

/* The interned display name of symbol @name: demangled when mangled. */
static const char *intern_display_name(struct symbolizer *s, const char *name)
{
	const char *at = strchr(name, '@');
	char *bare = NULL, *demangled;
	const char *out;

	/* A versioned symbol ("__libc_start_main@@GLIBC_2.34"): the version
	 * is the linker's business, not the reader's. */
	if (at && at != name) {
		bare = strndup(name, (size_t)(at - name));
		if (bare)
			name = bare;
	}
	demangled = sym_demangle(name);
	out = intern(s, demangled ? demangled : name);
	free(demangled);
	free(bare);
	return out;
}

/* ---- the address cache -------------------------------------------------------------------- */

static size_t hash_address(uint64_t x)
{
	/* splitmix64's finalizer: nearby addresses spread over the table */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (size_t)x;
}

static const struct cached *cache_find(const struct symbolizer *s, uint64_t addr)
{
	size_t i;

	if (!s->cache_cap)
		return NULL;
	i = hash_address(addr) & (s->cache_cap - 1);
	while (s->cache[i].count) {
		if (s->cache[i].addr == addr)
			return &s->cache[i];
		i = (i + 1) & (s->cache_cap - 1);
	}
	return NULL;
}

static void cache_put(struct cached *table, size_t cap, const struct cached *entry)
{
	size_t i = hash_address(entry->addr) & (cap - 1);

	while (table[i].count)
		i = (i + 1) & (cap - 1);
	table[i] = *entry;
}

static int cache_grow(struct symbolizer *s)
{
	size_t cap = s->cache_cap ? 2 * s->cache_cap : 1024;
	struct cached *table = calloc(cap, sizeof(*table));
	size_t i;

	if (!table)
		return -ENOMEM;
	for (i = 0; i < s->cache_cap; i++)
		if (s->cache[i].count)
			cache_put(table, cap, &s->cache[i]);
	free(s->cache);
	s->cache = table;
	s->cache_cap = cap;
	return 0;
}

/* Remember the @n frames of @addr. Out of memory, it remembers nothing:
 * the next lookup of @addr resolves it again. */
static void cache_insert(struct symbolizer *s, uint64_t addr, const struct sym_frame *frames,
			 unsigned n)
{
	struct cached entry = { .addr = addr, .count = n };

	if (s->nframes + n > UINT32_MAX)
		return;
	if (s->nframes + n > s->frames_cap) {
		size_t cap = s->frames_cap ? 2 * s->frames_cap : 1024;
		struct sym_frame *grown;

		while (cap < s->nframes + n)
			cap *= 2;
		grown = realloc(s->frames, cap * sizeof(*grown));
		if (!grown)
			return;
		s->frames = grown;
		s->frames_cap = cap;
	}
	if (2 * (s->cache_used + 1) > s->cache_cap && cache_grow(s))
		return;
	entry.first = (uint32_t)s->nframes;
	memcpy(s->frames + s->nframes, frames, n * sizeof(*frames));
	s->nframes += n;
	cache_put(s->cache, s->cache_cap, &entry);
	s->cache_used++;
}

/* A new module can own addresses that were looked up as in no module. */
static void cache_clear(struct symbolizer *s)
{
	if (s->cache_cap)
		memset(s->cache, 0, s->cache_cap * sizeof(*s->cache));
	s->cache_used = 0;
	s->nframes = 0;
}

/* ---- modules ------------------------------------------------------------------------------ */

static void module_set_problem(struct module *m, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* m->problem from @format; left NULL when out of memory (a missing note). */
static void module_set_problem(struct module *m, const char *format, ...)
{
	va_list ap;
	int len;

	va_start(ap, format);
	len = vsnprintf(NULL, 0, format, ap);
	va_end(ap);
	if (len < 0)
		return;
	free(m->problem);
	m->problem = malloc((size_t)len + 1);
	if (!m->problem)
		return;
	va_start(ap, format);
	vsnprintf(m->problem, (size_t)len + 1, format, ap);
	va_end(ap);
}

static struct module *module_find(struct symbolizer *s, uint64_t addr)
{
	size_t i;

	/* Linear: only addresses missing from the cache come here. */
	for (i = 0; i < s->nmodules; i++)
		if (s->modules[i].start <= addr && addr < s->modules[i].end)
			return &s->modules[i];
	return NULL;
}

/*
 * Whether the ELF file @path has the build-id @id (@len bytes): 1 if it
 * has, 0 if it has another or none, -errno when it cannot be opened, or
 * -ENOEXEC when it is no ELF file.
 */
static int file_has_build_id(const char *path, const uint8_t *id, unsigned len)
{
	const void *file_id;
	ssize_t file_len;
	Elf *elf;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		ret = -ENOEXEC;
		goto out;
	}
	file_len = dwelf_elf_gnu_build_id(elf, &file_id);
	ret = len && file_len == (ssize_t)len && !memcmp(file_id, id, len);
out:
	elf_end(elf);
	close(fd);
	return ret;
}

/* Whether /usr/lib/debug/.build-id/xx/rest.debug has m's recorded
 * build-id; then @path holds its name. */
static bool find_debug_by_build_id(const struct module *m, char *path, size_t size)
{
	size_t used;
	unsigned i;

	if (m->build_id_len < 2)
		return false;
	used = (size_t)snprintf(path, size, BUILD_ID_DEBUG_DIR "/%02x/", m->build_id[0]);
	for (i = 1; i < m->build_id_len && used + 3 < size; i++)
		used += (size_t)snprintf(path + used, size - used, "%02x", m->build_id[i]);
	if (i < m->build_id_len || used + sizeof(".debug") > size)
		return false;
	memcpy(path + used, ".debug", sizeof(".debug"));
	return file_has_build_id(path, m->build_id, m->build_id_len) == 1;
}

/* Report @file to libdwfl as module @m. */
static void module_report(struct symbolizer *s, struct module *m, const char *file)
{
	Dwfl_Module *mod;

	dwfl_report_begin_add(s->dwfl);
	/*
	 * add_p_vaddr: the recorded bias is what is added to ELF virtual
	 * addresses (dlpi_addr); with false, libdwfl would take it for the
	 * address of the first segment, which differs when that segment's
	 * p_vaddr is not 0 (prelinked objects). An ET_EXEC ignores it.
	 */
	mod = dwfl_report_elf(s->dwfl, m->path, file, -1, m->bias, true);
	if (!mod)
		module_set_problem(m, "%s: %s", m->path, dwfl_errmsg(-1));
	/* Other modules stay reported: begin_add marks none for removal. */
	dwfl_report_end(s->dwfl, NULL, NULL);
	if (!mod) {
		m->state = MODULE_UNUSABLE;
		return;
	}
	m->dwfl_module = mod;
	m->state = MODULE_REPORTED;
}

/* Look at module @m's file, once: report it, or say why its addresses get
 * no names. */
static void module_open(struct symbolizer *s, struct module *m)
{
	char debug_path[sizeof(BUILD_ID_DEBUG_DIR) + 2 * 64 + 16];
	int has_id;

	if (m->state != MODULE_NEW)
		return;
	m->state = MODULE_UNUSABLE;
	if (!m->path[0]) {
		/*
		 * The vdso is the kernel's, and the analysing machine may run
		 * another kernel than the recording one: its vdso could give
		 * wrong names, so it gives none.
		 */
		module_set_problem(m, "%s: no file to read its symbols from", m->name);
		return;
	}
	has_id = file_has_build_id(m->path, m->build_id, m->build_id_len);
	if (has_id == -ENOENT || has_id == -ENOTDIR) {
		module_set_problem(m, "%s: no such file", m->path);
		return;
	}
	if (has_id == -ENOEXEC) {
		module_set_problem(m, "%s: not an ELF file", m->path);
		return;
	}
	if (has_id < 0) {
		module_set_problem(m, "%s: %s", m->path, strerror(-has_id));
		return;
	}
	if (!m->build_id || has_id == 1) {
		/* Without a recorded build-id there is nothing to check:
		 * trust the file. */
		module_report(s, m, m->path);
		return;
	}
	/*
	 * Rebuilt since the recording. The debug file of the recorded build
	 * has the symbol table and the DWARF at the same addresses: report it
	 * in place of the executable (its code is not needed).
	 */
	if (find_debug_by_build_id(m, debug_path, sizeof(debug_path))) {
		module_report(s, m, debug_path);
		return;
	}
	module_set_problem(m, "%s: rebuilt since the recording (build-id differs)", m->path);
}

/* ---- resolving ---------------------------------------------------------------------------- */

/* The name of function DIE @die (a subprogram, or an inlined instance whose
 * name is on its abstract origin), demangled. */
static const char *die_function_name(struct symbolizer *s, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *linkage, *name;
	char *demangled;

	/* The linkage name has the C++ class and namespaces, DW_AT_name not. */
	linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!linkage) /* before DWARF 4 */
		linkage = dwarf_formstring(
			dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	demangled = sym_demangle(linkage);
	if (demangled) {
		name = intern(s, demangled);
		free(demangled);
		return name;
	}
	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
	return intern(s, name ? name : linkage);
}

/* The source position of @addr, from the line table. */
static void address_position(struct symbolizer *s, Dwfl_Module *mod, uint64_t addr,
			     const char **file, unsigned *line)
{
	Dwfl_Line *l = dwfl_module_getsrc(mod, addr);
	int lineno = 0;

	*file = NULL;
	*line = 0;
	if (!l)
		return;
	*file = intern(s, dwfl_lineinfo(l, NULL, &lineno, NULL, NULL, NULL));
	*line = lineno > 0 ? (unsigned)lineno : 0;
}

/* Where inlined subroutine @die was called: the position of the frame it
 * was inlined into. */
static void call_position(struct symbolizer *s, Dwarf_Die *die, const char **file,
			  unsigned *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word index, lineno;
	Dwarf_Files *files;
	Dwarf_Die cu;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (!dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &lineno) &&
	    lineno <= UINT32_MAX)
		*line = (unsigned)lineno;
	/* The file index is into the line table of the DIE's own unit (a
	 * partial unit, after dwz, has its own). */
	if (!dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &index) &&
	    dwarf_diecu(die, &cu, NULL, NULL) && !dwarf_getsrcfiles(&cu, &files, &nfiles) &&
	    index < nfiles)
		*file = intern(s, dwarf_filesrc(files, index, NULL, NULL));
}

/*
 * The frames of @addr in reported module @m, innermost first, at most
 * @max (>= 1). Without DWARF one frame, from the symbol table.
 */
static unsigned resolve_in_module(struct symbolizer *s, struct module *m, uint64_t addr,
				  struct sym_frame *out, unsigned max)
{
	Dwfl_Module *mod = m->dwfl_module;
	Dwarf_Die *cudie, *scopes = NULL, *subprogram = NULL;
	Dwarf_Addr bias;
	GElf_Off symbol_offset = 0;
	GElf_Sym sym;
	const char *symbol, *file;
	unsigned line, n = 0;
	int nscopes = 0, i;

	symbol = dwfl_module_addrinfo(mod, addr, &symbol_offset, &sym, NULL, NULL, NULL);
	address_position(s, mod, addr, &file, &line);
	cudie = dwfl_module_addrdie(mod, addr, &bias);
	if (cudie)
		nscopes = dwarf_getscopes(cudie, addr - bias, &scopes);
	/*
	 * Past the innermost inlined instance, dwarf_getscopes goes on with
	 * the scopes of its abstract origin (where the function is written),
	 * not those it was inlined into; the chain of DIE parents of the
	 * innermost scope is the concrete nesting: every inlined level.
	 */
	if (nscopes > 0) {
		Dwarf_Die innermost = scopes[0];

		free(scopes);
		scopes = NULL;
		nscopes = dwarf_getscopes_die(&innermost, &scopes);
	}

	/* Scopes go from the innermost out: lexical blocks, the inlined
	 * subroutines, the subprogram, then the unit. Each inlined one is a
	 * frame at the current position; its call site is the position of
	 * the next one out. */
	for (i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_subprogram) {
			subprogram = &scopes[i];
			break;
		}
		if (tag != DW_TAG_inlined_subroutine)
			continue;
		/* Too deep: the middle frames go, the real function stays. */
		if (n + 1 < max) {
			out[n] = (struct sym_frame){
				.function = die_function_name(s, &scopes[i]),
				.file = file,
				.line = line,
				.module = m->name,
				.inlined = true,
			};
			n++;
		}
		call_position(s, &scopes[i], &file, &line);
	}

	/* The real function: the symbol's name goes with its offset (and
	 * says f.cold for f's cold part); DWARF's when there is no symbol. */
	out[n] = (struct sym_frame){
		.function = symbol ? intern_display_name(s, symbol) : NULL,
		.file = file,
		.line = line,
		.module = m->name,
		.offset = symbol ? symbol_offset : 0,
	};
	if (!symbol && subprogram)
		out[n].function = die_function_name(s, subprogram);
	free(scopes);
	return n + 1;
}

static unsigned resolve(struct symbolizer *s, uint64_t addr, struct sym_frame *out,
			unsigned max)
{
	struct module *m = module_find(s, addr);

	memset(out, 0, sizeof(*out));
	if (!m)
		return 1;
	out->module = m->name;
	module_open(s, m);
	if (m->state != MODULE_REPORTED)
		return 1;
	return resolve_in_module(s, m, addr, out, max);
}

/* ---- the API ------------------------------------------------------------------------------ */

int symbolizer_new(struct symbolizer **out)
{
	struct symbolizer *s;

	*out = NULL;
	/* A report must not wait on the network: libdwfl asks debuginfod
	 * servers for missing debug files when DEBUGINFOD_URLS is set (as
	 * Debian's login shells do). ITERPROF_DEBUGINFOD=1 allows it. */
	if (!getenv("ITERPROF_DEBUGINFOD") || strcmp(getenv("ITERPROF_DEBUGINFOD"), "1"))
		unsetenv("DEBUGINFOD_URLS");
	/* libdwfl does this too, but file_has_build_id calls libelf first. */
	elf_version(EV_CURRENT);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dwfl = dwfl_begin(&offline_callbacks);
	if (!s->dwfl) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void symbolizer_free(struct symbolizer *s)
{
	size_t i;

	if (!s)
		return;
	dwfl_end(s->dwfl);
	for (i = 0; i < s->nmodules; i++) {
		free(s->modules[i].path);
		free(s->modules[i].build_id);
		free(s->modules[i].problem);
	}
	free(s->modules);
	for (i = 0; i < s->strings_cap; i++)
		free(s->strings[i]);
	free(s->strings);
	free(s->cache);
	free(s->frames);
	free(s);
}

int symbolizer_add_module(struct symbolizer *s, const struct sym_module *sm)
{
	const char *path = sm->path ? sm->path : "";
	const char *slash = strrchr(path, '/');
	struct module m = {
		.start = sm->start,
		.end = sm->end,
		.bias = sm->bias,
		.state = MODULE_NEW,
	};

	if (sm->start >= sm->end || (sm->build_id_len && !sm->build_id))
		return -EINVAL;
	if (s->nmodules == s->modules_cap) {
		size_t cap = s->modules_cap ? 2 * s->modules_cap : 16;
		struct module *grown = realloc(s->modules, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->modules = grown;
		s->modules_cap = cap;
	}
	m.name = intern(s, !path[0] ? "[vdso]" : slash && slash[1] ? slash + 1 : path);
	m.path = strdup(path);
	if (sm->build_id_len) {
		m.build_id = malloc(sm->build_id_len);
		if (m.build_id)
			memcpy(m.build_id, sm->build_id, sm->build_id_len);
		m.build_id_len = sm->build_id_len;
	}
	if (!m.name || !m.path || (sm->build_id_len && !m.build_id)) {
		free(m.path);
		free(m.build_id);
		return -ENOMEM;
	}
	s->modules[s->nmodules++] = m;
	cache_clear(s);
	return 0;
}

unsigned symbolizer_lookup(struct symbolizer *s, uint64_t addr, struct sym_frame *frames,
			   unsigned max)
{
	struct sym_frame found[SYM_MAX_FRAMES];
	const struct sym_frame *from = found;
	const struct cached *c;
	unsigned n;

	assert(max >= 1);
	if (!max)
		return 0;
	c = cache_find(s, addr);
	if (c) {
		from = s->frames + c->first;
		n = c->count;
	} else {
		n = resolve(s, addr, found, SYM_MAX_FRAMES);
		cache_insert(s, addr, found, n);
	}
	if (n > max)
		n = max;
	memcpy(frames, from, n * sizeof(*frames));
	return n;
}

const char *symbolizer_module_problem(struct symbolizer *s, uint64_t addr)
{
	struct module *m = module_find(s, addr);
	Dwarf_Addr bias;

	if (!m)
		return NULL;
	module_open(s, m);
	if (m->state == MODULE_REPORTED && !m->is_symbols_checked) {
		/* Asked only here: it makes libdwfl look for debug files. */
		m->is_symbols_checked = true;
		if (dwfl_module_getsymtab(m->dwfl_module) <= 0 &&
		    !dwfl_module_getdwarf(m->dwfl_module, &bias))
			module_set_problem(m, "%s: no symbols", m->path);
	}
	return m->problem;
}

/*
 * Function symbols of one loaded module, by name (symbols.h).
 *
 * Loading goes in three passes over a growing string pool:
 *   1. collect: every defined function of .symtab (or of the separate
 *      debuginfo's) and of .dynsym, names copied into the pool;
 *   2. sort by address and name, merge duplicates (a symbol is usually in
 *      both .symtab and .dynsym);
 *   3. demangle each surviving name once, into the same pool.
 * The pool is one allocation owned by the table, so that a table of a large
 * C++ library is three blocks, not hundreds of thousands.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <elfutils/libdwelf.h>
#include <libiberty/demangle.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols.h"

/* A table entry: the public symbol and, for lookups by address, the highest
 * end of any symbol at or before this one (symbols may nest or overlap). */
struct symbol_table {
	struct symbol *symbols;
	uintptr_t *max_end; /* max over j <= i of symbols[j] end (size 0: address + 1) */
	size_t count;
	char *pool; /* every string of the table */
};

/* ---- debug roots ---------------------------------------------------------- */

static const char *const default_debug_roots[] = {"/usr/lib/debug", NULL};
static const char *const *debug_roots = default_debug_roots;

void symbols_set_debug_roots(const char *const *roots)
{
	debug_roots = roots ? roots : default_debug_roots;
}

/* ---- string pool ------------------------------------------------------------ */

/* Strings are referred to by offset while the pool grows (realloc moves it). */
struct pool {
	char *data;
	size_t used;
	size_t capacity;
};

#define POOL_NONE SIZE_MAX

/* Append @len bytes of @s and a NUL. Returns the offset, or POOL_NONE when
 * out of memory. */
static size_t pool_add(struct pool *p, const char *s, size_t len)
{
	size_t offset = p->used;

	if (len > SIZE_MAX / 4 - p->used)
		return POOL_NONE;
	if (p->used + len + 1 > p->capacity) {
		size_t capacity = p->capacity ? p->capacity : 4096;
		char *data;

		while (capacity < p->used + len + 1)
			capacity *= 2;
		data = realloc(p->data, capacity);
		if (!data)
			return POOL_NONE;
		p->data = data;
		p->capacity = capacity;
	}
	memcpy(p->data + p->used, s, len);
	p->data[p->used + len] = '\0';
	p->used += len + 1;
	return offset;
}

/* ---- collecting -------------------------------------------------------------- */

struct pending {
	uint64_t value; /* st_value */
	uint64_t size;
	size_t mangled; /* pool offsets */
	size_t display;
	size_t long_name; /* POOL_NONE when none */
	bool is_global;
	bool is_ifunc;
};

struct collection {
	struct pending *items;
	size_t count;
	size_t capacity;
	struct pool pool;
};

static int collection_add(struct collection *c, const GElf_Sym *sym, const char *name)
{
	/* A versioned name in .symtab ("memcpy@@GLIBC_2.14"): the version is
	 * not part of the function's name, and '@' separates the module in a
	 * pattern. No mangled C++ or Rust name contains '@'. */
	size_t len = strcspn(name, "@");
	struct pending *p;

	if (c->count == c->capacity) {
		size_t capacity = c->capacity ? c->capacity * 2 : 256;
		struct pending *items;

		if (capacity > SIZE_MAX / sizeof(*items))
			return -ENOMEM;
		items = realloc(c->items, capacity * sizeof(*items));
		if (!items)
			return -ENOMEM;
		c->items = items;
		c->capacity = capacity;
	}
	p = &c->items[c->count];
	p->mangled = pool_add(&c->pool, name, len);
	if (p->mangled == POOL_NONE)
		return -ENOMEM;
	p->value = sym->st_value;
	p->size = sym->st_size;
	p->display = POOL_NONE;
	p->long_name = POOL_NONE;
	p->is_global = GELF_ST_BIND(sym->st_info) == STB_GLOBAL ||
		       GELF_ST_BIND(sym->st_info) == STB_WEAK ||
		       GELF_ST_BIND(sym->st_info) == STB_GNU_UNIQUE;
	p->is_ifunc = GELF_ST_TYPE(sym->st_info) == STT_GNU_IFUNC;
	c->count++;
	return 0;
}

/* Add the defined functions of every section of @type (SHT_SYMTAB or
 * SHT_DYNSYM) of @elf. Unreadable sections and names are skipped: a damaged
 * table gives fewer symbols, not a failure. Returns 0 or -ENOMEM. */
static int collect_section_type(Elf *elf, Elf64_Word type, struct collection *c)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		Elf_Data *data;
		size_t entsize, count, i;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != type)
			continue;
		data = elf_getdata(scn, NULL);
		entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
		if (!data || !data->d_buf || !entsize)
			continue;
		count = data->d_size / entsize;
		if (count > INT32_MAX) /* gelf_getsym takes an int */
			count = INT32_MAX;
		for (i = 0; i < count; i++) {
			GElf_Sym sym;
			const char *name;
			int type_of;
			int err;

			/* gelf_getsym checks @i against the data's size. */
			if (!gelf_getsym(data, (int)i, &sym))
				break;
			type_of = GELF_ST_TYPE(sym.st_info);
			if (type_of != STT_FUNC && type_of != STT_GNU_IFUNC)
				continue;
			/* SHN_ABS: an absolute value, which the load bias
			 * does not move; not code of this module. */
			if (sym.st_shndx == SHN_UNDEF || sym.st_shndx == SHN_ABS ||
			    sym.st_value == 0)
				continue;
			/* elf_strptr checks the section index, the offset
			 * and that the string ends inside the section. */
			name = elf_strptr(elf, shdr.sh_link, sym.st_name);
			if (!name || !name[0] || name[0] == '@')
				continue;
			err = collection_add(c, &sym, name);
			if (err)
				return err;
		}
	}
	return 0;
}

static bool has_section_type(Elf *elf, Elf64_Word type)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;

		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == type && shdr.sh_size)
			return true;
	}
	return false;
}

/* ---- opening ELF files --------------------------------------------------------- */

struct elf_file {
	int fd;
	Elf *elf;
};

/*
 * Open @path as an ELF executable or shared object. ELF_C_READ, not
 * ELF_C_READ_MMAP: libelf then reads only the pieces asked for (headers,
 * symbol tables), and a file truncated while we read it gives a read
 * error instead of a SIGBUS in the benchmarked program.
 * Returns 0 or -errno; on success the caller closes @f with elf_file_close.
 */
static int elf_file_open(const char *path, struct elf_file *f)
{
	GElf_Ehdr ehdr;

	f->elf = NULL;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	errno = 0;
	f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &ehdr) ||
	    (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN)) {
		/* libelf's error codes are private; ENOMEM aside, every
		 * failure here means "not a usable ELF file". */
		int err = !f->elf && errno == ENOMEM ? -ENOMEM : -ENOEXEC;

		elf_end(f->elf);
		close(f->fd);
		f->elf = NULL;
		f->fd = -1;
		return err;
	}
	return 0;
}

static void elf_file_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

/* ---- separate debuginfo ----------------------------------------------------------- */

/*
 * CRC-32 of the whole file @fd (IEEE 802.3, as zlib's crc32 and the
 * .gnu_debuglink's), or false when it cannot be read. Reads the whole debug
 * file: only done for files without a build-id, rare on current distributions.
 */
static bool file_crc32(int fd, uint32_t *crc)
{
	enum { CHUNK = 64 * 1024 };
	uint32_t *table = malloc(256 * sizeof(*table) + CHUNK);
	unsigned char *buf = (unsigned char *)(table + 256);
	uint32_t c = 0xffffffffu;
	off_t offset = 0;
	bool is_ok = false;

	if (!table)
		return false;
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t t = n;

		for (int k = 0; k < 8; k++)
			t = t & 1 ? 0xedb88320u ^ (t >> 1) : t >> 1;
		table[n] = t;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			is_ok = n == 0;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			c = table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
		offset += n;
	}
	free(table);
	*crc = ~c;
	return is_ok;
}

/* What identifies the file whose debuginfo we look for. */
struct debug_identity {
	const unsigned char *build_id; /* NULL when the file has none */
	size_t build_id_size;
	uint32_t link_crc;
};

/* Open @candidate if it is the debuginfo of the file @id describes and has
 * a symbol table. */
static bool debug_file_try(const char *candidate, const struct debug_identity *id,
			   struct elf_file *out)
{
	const void *build_id;
	ssize_t size;

	if (!candidate || elf_file_open(candidate, out))
		return false;
	size = dwelf_elf_gnu_build_id(out->elf, &build_id);
	if (id->build_id) {
		if (size != (ssize_t)id->build_id_size ||
		    memcmp(build_id, id->build_id, id->build_id_size))
			goto reject;
	} else {
		uint32_t crc;

		if (!file_crc32(out->fd, &crc) || crc != id->link_crc)
			goto reject;
	}
	if (!has_section_type(out->elf, SHT_SYMTAB))
		goto reject;
	return true;
reject:
	elf_file_close(out);
	return false;
}

/* asprintf that gives NULL on failure. Owned by the caller. */
static char *path_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_format(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static bool debug_candidate(char *path, const struct debug_identity *id, struct elf_file *out)
{
	bool is_found = debug_file_try(path, id, out);

	free(path);
	return is_found;
}

/*
 * Find the separate debuginfo of @elf (the file @path): by build-id under
 * each debug root, then by .gnu_debuglink in the places gdb looks. Returns
 * true with @out open.
 */
static bool debug_file_find(const char *path, Elf *elf, struct elf_file *out)
{
	struct debug_identity id = {0};
	const void *build_id;
	ssize_t build_id_size = dwelf_elf_gnu_build_id(elf, &build_id);
	const char *link;
	GElf_Word crc = 0;
	const char *slash;
	char *dir;
	size_t r;
	bool is_found = false;

	/* A build-id is 20 bytes (sha1) in practice; 64 is generous. */
	if (build_id_size > 1 && build_id_size <= 64) {
		char hex[2 * 64 + 1];
		const unsigned char *b = build_id;

		id.build_id = build_id;
		id.build_id_size = (size_t)build_id_size;
		for (ssize_t i = 0; i < build_id_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", b[i]);
		for (r = 0; debug_roots[r]; r++)
			if (debug_candidate(path_format("%s/.build-id/%.2s/%s.debug",
							debug_roots[r], hex, hex + 2),
					    &id, out))
				return true;
	}

	link = dwelf_elf_gnu_debuglink(elf, &crc);
	if (!link || !link[0])
		return false;
	id.link_crc = crc;
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return false;
	if (debug_candidate(path_format("%s/%s", dir, link), &id, out) ||
	    debug_candidate(path_format("%s/.debug/%s", dir, link), &id, out)) {
		is_found = true;
		goto out;
	}
	for (r = 0; debug_roots[r]; r++) {
		if (debug_candidate(path_format("%s/%s/%s", debug_roots[r], dir, link), &id,
				    out)) {
			is_found = true;
			break;
		}
	}
out:
	free(dir);
	return is_found;
}

/* ---- demangling ------------------------------------------------------------------------ */

/*
 * libiberty's C++ demangler puts arrays sized by the name on the stack: about
 * 2 components of 32 bytes and one 8-byte pointer per character of the
 * mangled name (cp-demangle.c, d_demangle_callback), plus recursion. We may
 * run on the thread that called dlopen, whose stack we did not choose: a name
 * that would take more than a quarter of the stack left stays mangled.
 */
#define DEMANGLE_BYTES_PER_CHAR 80
#define DEMANGLE_MAX_LENGTH 4096

static size_t demangle_length_limit(void)
{
	pthread_attr_t attr;
	void *stack;
	size_t stack_size;
	char here;
	size_t limit = 1024; /* when the stack cannot be measured: 80 KiB */

	if (pthread_getattr_np(pthread_self(), &attr))
		return limit;
	if (!pthread_attr_getstack(&attr, &stack, &stack_size) && (char *)stack < &here &&
	    &here < (char *)stack + stack_size) {
		size_t left = (size_t)(&here - (char *)stack);

		limit = left / 4 / DEMANGLE_BYTES_PER_CHAR;
	}
	pthread_attr_destroy(&attr);
	return limit < DEMANGLE_MAX_LENGTH ? limit : DEMANGLE_MAX_LENGTH;
}

/*
 * @display with the clone suffixes of @mangled appended (".cold",
 * ".constprop.0", ".isra.0.cold"): without DMGL_PARAMS libiberty leaves
 * them out, and then "f" would name f's cold part as well as f. Appended as
 * in the symbol table, not as libiberty's " [clone .cold]", so that a C++
 * clone reads like a C one (f.cold). A mangled C++ name has no '.' but
 * there. Takes @display, returns the result (or NULL).
 */
static char *append_clone_suffix(char *display, const char *mangled)
{
	const char *clone = strchr(mangled, '.');
	char *joined;

	if (!clone || !display)
		return display;
	joined = path_format("%s%s", display, clone);
	free(display);
	return joined;
}

static int demangle_limited(const char *mangled, size_t max_length, char **display, char **full)
{
	size_t len = strlen(mangled);

	*display = NULL;
	*full = NULL;
	if (len > 2 && len <= max_length && mangled[0] == '_' &&
	    (mangled[1] == 'Z' || mangled[1] == 'R')) {
		/* Rust first: a legacy Rust name is also a valid C++ name
		 * (_ZN...17h<hash>E), as cplus_demangle's DMGL_AUTO does. */
		*full = cplus_demangle(mangled, DMGL_RUST | DMGL_VERBOSE);
		if (*full) {
			*display = cplus_demangle(mangled, DMGL_RUST);
		} else {
			*full = cplus_demangle(mangled, DMGL_GNU_V3 | DMGL_PARAMS | DMGL_ANSI);
			/* Without DMGL_PARAMS the demangler leaves out the
			 * parameter list, cv/ref qualifiers and a template's
			 * return type, and keeps template arguments and
			 * operator names whole: ns::C<int>::operator()
			 * is what a user types. */
			if (*full)
				*display = append_clone_suffix(
					cplus_demangle(mangled, DMGL_GNU_V3 | DMGL_ANSI), mangled);
		}
		if (*full && !*display)
			*display = strdup(*full);
		if (*display)
			return 0;
		free(*full);
		*full = NULL;
	}
	*display = strdup(mangled);
	return *display ? 0 : -ENOMEM;
}

int symbols_demangle(const char *mangled, char **display, char **full)
{
	return demangle_limited(mangled, demangle_length_limit(), display, full);
}

/* ---- loading ------------------------------------------------------------------------------ */

static int pending_compare(const void *a, const void *b, void *pool)
{
	const struct pending *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return strcmp((const char *)pool + x->mangled, (const char *)pool + y->mangled);
}

/* Sort, and merge entries of the same address and name (.symtab and
 * .dynsym, or a symbol listed twice). Returns the new count. */
static size_t collection_dedup(struct collection *c)
{
	size_t kept = 0;

	if (!c->count)
		return 0;
	qsort_r(c->items, c->count, sizeof(*c->items), pending_compare, c->pool.data);
	for (size_t i = 1; i < c->count; i++) {
		struct pending *last = &c->items[kept];
		const struct pending *next = &c->items[i];

		if (next->value == last->value &&
		    !strcmp(c->pool.data + next->mangled, c->pool.data + last->mangled)) {
			last->is_global |= next->is_global;
			last->is_ifunc |= next->is_ifunc;
			if (next->size > last->size)
				last->size = next->size;
		} else {
			c->items[++kept] = *next;
		}
	}
	return kept + 1;
}

static int collection_demangle(struct collection *c)
{
	size_t max_length = demangle_length_limit();

	for (size_t i = 0; i < c->count; i++) {
		struct pending *p = &c->items[i];
		char *display, *full;
		int err;

		/* The pool may move in pool_add: copy nothing out of it
		 * across a call, and pass the demangler a stable pointer. */
		err = demangle_limited(c->pool.data + p->mangled, max_length, &display, &full);
		if (err)
			return err;
		if (!strcmp(display, c->pool.data + p->mangled))
			p->display = p->mangled;
		else
			p->display = pool_add(&c->pool, display, strlen(display));
		if (full)
			p->long_name = pool_add(&c->pool, full, strlen(full));
		free(display);
		free(full);
		if (p->display == POOL_NONE || (full && p->long_name == POOL_NONE))
			return -ENOMEM;
	}
	return 0;
}

static int table_build(struct collection *c, uintptr_t load_bias, struct symbol_table **out)
{
	struct symbol_table *t = calloc(1, sizeof(*t));
	uintptr_t max_end = 0;

	if (!t)
		return -ENOMEM;
	if (c->count) {
		t->symbols = calloc(c->count, sizeof(*t->symbols));
		t->max_end = calloc(c->count, sizeof(*t->max_end));
		if (!t->symbols || !t->max_end) {
			symbol_table_free(t);
			return -ENOMEM;
		}
	}
	t->pool = c->pool.data;
	c->pool.data = NULL;
	t->count = c->count;
	for (size_t i = 0; i < c->count; i++) {
		const struct pending *p = &c->items[i];
		struct symbol *s = &t->symbols[i];
		uintptr_t end;

		s->address = (uintptr_t)p->value + load_bias;
		s->size = p->size;
		s->mangled = t->pool + p->mangled;
		s->name = t->pool + p->display;
		s->long_name = p->long_name == POOL_NONE ? NULL : t->pool + p->long_name;
		s->is_global = p->is_global;
		s->is_ifunc = p->is_ifunc;
		end = s->address + (s->size ? s->size : 1);
		if (end < s->address) /* wraps: a corrupt size */
			end = UINTPTR_MAX;
		if (end > max_end)
			max_end = end;
		t->max_end[i] = max_end;
	}
	*out = t;
	return 0;
}

int symbol_table_load(const char *path, uintptr_t load_bias, struct symbol_table **out)
{
	struct elf_file file = {.fd = -1}, debug = {.fd = -1};
	struct collection c = {0};
	int err;

	if (!path || !out)
		return -EINVAL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	err = elf_file_open(path, &file);
	if (err)
		return err;

	if (has_section_type(file.elf, SHT_SYMTAB))
		err = collect_section_type(file.elf, SHT_SYMTAB, &c);
	else if (debug_file_find(path, file.elf, &debug))
		err = collect_section_type(debug.elf, SHT_SYMTAB, &c);
	if (!err)
		err = collect_section_type(file.elf, SHT_DYNSYM, &c);
	if (err)
		goto out;

	c.count = collection_dedup(&c);
	err = collection_demangle(&c);
	if (!err)
		err = table_build(&c, load_bias, out);
out:
	elf_file_close(&debug);
	elf_file_close(&file);
	free(c.items);
	free(c.pool.data);
	return err;
}

void symbol_table_free(struct symbol_table *table)
{
	if (!table)
		return;
	free(table->symbols);
	free(table->max_end);
	free(table->pool);
	free(table);
}

size_t symbol_table_count(const struct symbol_table *table)
{
	return table ? table->count : 0;
}

const struct symbol *symbol_table_get(const struct symbol_table *table, size_t i)
{
	return table && i < table->count ? &table->symbols[i] : NULL;
}

/* ---- queries ------------------------------------------------------------------------------------ */

bool symbol_matches(const struct symbol *sym, const char *glob)
{
	if (!sym || !glob)
		return false;
	return !fnmatch(glob, sym->name, 0) || (sym->long_name && !fnmatch(glob, sym->long_name, 0)) ||
	       !fnmatch(glob, sym->mangled, 0);
}

const struct symbol *symbol_table_find_address(const struct symbol_table *table,
					       uintptr_t address)
{
	const struct symbol *best = NULL;
	size_t low = 0, high;

	if (!table || !table->count)
		return NULL;
	/* First symbol starting after @address. */
	high = table->count;
	while (low < high) {
		size_t mid = low + (high - low) / 2;

		if (table->symbols[mid].address <= address)
			low = mid + 1;
		else
			high = mid;
	}
	/* Walk back while some symbol at or before i may still reach
	 * @address; stop below the best start found. */
	for (size_t i = low; i-- > 0 && table->max_end[i] > address;) {
		const struct symbol *s = &table->symbols[i];
		uintptr_t end = s->address + (s->size ? s->size : 1);

		if (best && s->address != best->address)
			break;
		if (end < s->address)
			end = UINTPTR_MAX;
		if (address >= end)
			continue;
		if (!best || (s->is_global && !best->is_global) ||
		    (s->is_global == best->is_global && s->size > best->size))
			best = s;
	}
	return best;
}

/* The glob without its metacharacters: '*' and '?' dropped, a bracket
 * expression dropped whole, an escaped character kept. */
static void glob_literal(const char *glob, char *out, size_t size)
{
	size_t n = 0;

	for (const char *g = glob; *g && n + 1 < size; g++) {
		if (*g == '*' || *g == '?')
			continue;
		if (*g == '[') {
			const char *close = g[1] ? strchr(g + 2, ']') : NULL;

			if (close) {
				g = close;
				continue;
			}
		}
		if (*g == '\\' && g[1])
			g++;
		out[n++] = *g;
	}
	out[n] = '\0';
}

#define CLOSEST_MAX_LENGTH 255

/* Levenshtein distance of @a (length @la) and @b, both at most
 * CLOSEST_MAX_LENGTH characters (longer names are cut). */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
	size_t row[CLOSEST_MAX_LENGTH + 1];
	size_t lb = strnlen(b, CLOSEST_MAX_LENGTH);

	for (size_t j = 0; j <= la; j++)
		row[j] = j;
	for (size_t i = 1; i <= lb; i++) {
		size_t diagonal = row[0];

		row[0] = i;
		for (size_t j = 1; j <= la; j++) {
			size_t above = row[j];
			size_t best = diagonal + (a[j - 1] != b[i - 1]);

			if (above + 1 < best)
				best = above + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diagonal = above;
		}
	}
	return row[la];
}

size_t symbol_table_closest(const struct symbol_table *table, const char *glob, const char **out,
			    size_t max)
{
	char literal[CLOSEST_MAX_LENGTH + 1];
	size_t literal_length;
	size_t *distances;
	size_t kept = 0;

	if (!table || !glob || !out || !max)
		return 0;
	distances = calloc(max, sizeof(*distances));
	if (!distances)
		return 0;
	glob_literal(glob, literal, sizeof(literal));
	literal_length = strlen(literal);
	for (size_t i = 0; i < table->count; i++) {
		const char *name = table->symbols[i].name;
		size_t name_length = strnlen(name, CLOSEST_MAX_LENGTH);
		size_t lower_bound = name_length > literal_length ? name_length - literal_length
								  : literal_length - name_length;
		size_t distance, at;
		bool is_duplicate = false;

		if (kept == max && lower_bound > distances[kept - 1])
			continue;
		distance = edit_distance(literal, literal_length, name);
		for (size_t k = 0; k < kept && !is_duplicate; k++)
			is_duplicate = !strcmp(out[k], name);
		if (is_duplicate)
			continue;
		/* Position: after every better or equal entry with a name
		 * sorting before ours. */
		for (at = 0; at < kept; at++)
			if (distance < distances[at] ||
			    (distance == distances[at] && strcmp(name, out[at]) < 0))
				break;
		if (at == max)
			continue;
		if (kept < max)
			kept++;
		memmove(&out[at + 1], &out[at], (kept - 1 - at) * sizeof(*out));
		memmove(&distances[at + 1], &distances[at], (kept - 1 - at) * sizeof(*distances));
		out[at] = name;
		distances[at] = distance;
	}
	free(distances);
	return kept;
}

/* ---- patterns ------------------------------------------------------------------------------------- */

int symbol_pattern_parse(const char *text, struct symbol_pattern *out)
{
	const char *at;
	size_t glob_length;

	if (!text || !out)
		return -EINVAL;
	at = strchr(text, '@');
	glob_length = at ? (size_t)(at - text) : strlen(text);
	if (glob_length == 0 || glob_length >= sizeof(out->glob))
		return -EINVAL;
	if (at && (!at[1] || strlen(at + 1) >= sizeof(out->module)))
		return -EINVAL;
	memcpy(out->glob, text, glob_length);
	out->glob[glob_length] = '\0';
	strcpy(out->module, at ? at + 1 : "");
	return 0;
}

bool symbol_pattern_accepts_module(const struct symbol_pattern *p, const char *path, bool is_main)
{
	const char *base;
	size_t n;

	if (!p || !p->module[0])
		return true;
	if (!strcmp(p->module, "main"))
		return is_main;
	if (!path)
		return false;
	if (strchr(p->module, '/'))
		return !strcmp(p->module, path);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	n = strlen(p->module);
	return !strncmp(base, p->module, n) && (base[n] == '\0' || base[n] == '.' || base[n] == '-');
}

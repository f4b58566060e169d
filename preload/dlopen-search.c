/*
 * dlopen's search for the program's caller, not the shim.
 *
 * Why this exists: glibc's dlopen looks a bare file name (no '/') up along
 * the DT_RPATH / DT_RUNPATH of the object that called it, found from
 * dlopen's return address, and expands $ORIGIN in a file name relative to
 * that object. The shim's dlopen wrapper calls the real dlopen itself, so
 * without this the caller would be libiterprof.so (which has neither tag)
 * and a plug-in found through its loader's RUNPATH would not be found at
 * all. glibc has no public way to pass a caller, so the wrapper does the
 * caller-dependent part of the search here and hands the real dlopen a full
 * path; everything else (objects already loaded, LD_LIBRARY_PATH without a
 * RUNPATH, the main program's RPATH, ld.so.cache, the default directories)
 * glibc still does itself, as it would for the caller.
 *
 * glibc's order (elf/dl-load.c, _dl_map_object), for a caller C:
 *   1. an object already loaded under that name;
 *   2. if C has no DT_RUNPATH: C's DT_RPATH, its loaders' DT_RPATH, the main
 *      program's DT_RPATH;
 *   3. LD_LIBRARY_PATH;  4. C's DT_RUNPATH;  5. ld.so.cache, default dirs.
 * With the shim as the caller glibc does 1, the main program's DT_RPATH, 3
 * and 5. So only C's DT_RPATH (when C has no RUNPATH), or LD_LIBRARY_PATH
 * then C's DT_RUNPATH (when it has one) are tried here.
 *
 * Not reproduced (documented in doc/shim.md): the RPATH of the objects that
 * loaded C (glibc's private l_loader chain); glibc-hwcaps subdirectories of
 * C's directories; $LIB (its value is fixed when glibc is built: the search
 * is left to glibc unchanged); setuid programs (AT_SECURE).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "shim.h"

#define SEARCH_PATH_MAX 4096

/* What ld.so accepts: its own class and machine (others it skips). */
#define NATIVE_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)
#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#else
#error "dlopen-search.c: add this architecture's e_machine"
#endif

/* ---- LD_LIBRARY_PATH as ld.so read it -------------------------------- */

/* ld.so reads LD_LIBRARY_PATH once at start-up and ignores later setenv()s,
 * so it is copied as early as possible: at the first dlopen or by this
 * constructor, whichever comes first (both before main() changes it). */
static char library_path[SEARCH_PATH_MAX];
static int library_path_state; /* 0 not read, 1 read, -1 too long */
static pthread_once_t library_path_once = PTHREAD_ONCE_INIT;

static void read_library_path(void)
{
	const char *s = getenv("LD_LIBRARY_PATH");

	if (s && strlen(s) >= sizeof(library_path)) {
		library_path_state = -1;
		return;
	}
	if (s)
		strcpy(library_path, s);
	library_path_state = 1;
}

__attribute__((constructor)) static void dlopen_search_constructor(void)
{
	pthread_once(&library_path_once, read_library_path);
}

/* ---- the loaded objects ---------------------------------------------- */

struct object_tags {
	const char *soname, *rpath, *runpath; /* NULL when absent */
};

/* The string table address: glibc relocates the dynamic section's pointers
 * in place; objects whose section is read-only (the vDSO) keep offsets. */
static const char *string_table(const struct dl_phdr_info *info, const ElfW(Dyn) *dyn)
{
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_STRTAB) {
			uintptr_t p = (uintptr_t)dyn->d_un.d_ptr;

			return (const char *)(p < info->dlpi_addr ? p + info->dlpi_addr : p);
		}
	}
	return NULL;
}

static const ElfW(Dyn) *dynamic_section(const struct dl_phdr_info *info)
{
	for (unsigned i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			return (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	return NULL;
}

static void read_tags(const struct dl_phdr_info *info, struct object_tags *tags)
{
	const ElfW(Dyn) *dyn = dynamic_section(info);
	const char *strtab = dyn ? string_table(info, dyn) : NULL;

	memset(tags, 0, sizeof(*tags));
	if (!strtab)
		return;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SONAME)
			tags->soname = strtab + dyn->d_un.d_val;
		else if (dyn->d_tag == DT_RPATH)
			tags->rpath = strtab + dyn->d_un.d_val;
		else if (dyn->d_tag == DT_RUNPATH)
			tags->runpath = strtab + dyn->d_un.d_val;
	}
}

struct caller_walk {
	uintptr_t address;
	unsigned index;
	bool is_found, is_main;
	const char *name; /* dlpi_name: "" for the main program */
	struct object_tags tags;
};

static int find_caller(struct dl_phdr_info *info, size_t size, void *data)
{
	struct caller_walk *w = data;
	unsigned index = w->index++;

	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && w->address >= start &&
		    w->address < start + ph->p_memsz) {
			w->is_found = true;
			w->is_main = index == 0;
			w->name = info->dlpi_name;
			read_tags(info, &w->tags);
			return 1;
		}
	}
	return 0;
}

struct name_walk {
	const char *name;
	bool is_loaded;
};

/* Step 1 of glibc's search, seen through what is public: the name is an
 * object's path, its DT_SONAME, or a DT_NEEDED entry of any object (each
 * needed name was loaded under that name). */
static int find_name(struct dl_phdr_info *info, size_t size, void *data)
{
	struct name_walk *w = data;
	const ElfW(Dyn) *dyn = dynamic_section(info);
	const char *strtab = dyn ? string_table(info, dyn) : NULL;

	(void)size;
	if (!strcmp(info->dlpi_name, w->name))
		w->is_loaded = true;
	for (; strtab && dyn->d_tag != DT_NULL && !w->is_loaded; dyn++)
		if ((dyn->d_tag == DT_SONAME || dyn->d_tag == DT_NEEDED) &&
		    !strcmp(strtab + dyn->d_un.d_val, w->name))
			w->is_loaded = true;
	return w->is_loaded;
}

/* ---- names the wrapper resolved itself ------------------------------- */

/* glibc remembers the name an object was opened by, so a later dlopen of
 * the same bare name from anywhere finds it. An object this wrapper opened
 * by its full path is remembered by that path only; this table gives the
 * bare name back. Small: when it is full the oldest entry is forgotten. */
#define RESOLVED_NAMES 16
static struct {
	pthread_mutex_t lock;
	char name[RESOLVED_NAMES][256];
	char path[RESOLVED_NAMES][SEARCH_PATH_MAX];
	unsigned next;
} resolved = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int is_path_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	return !strcmp(info->dlpi_name, (const char *)data);
}

void dlopen_search_remember(const char *name, const char *path)
{
	if (!name || !path || strlen(name) >= sizeof(resolved.name[0]) ||
	    strlen(path) >= sizeof(resolved.path[0]))
		return;
	pthread_mutex_lock(&resolved.lock);
	strcpy(resolved.name[resolved.next], name);
	strcpy(resolved.path[resolved.next], path);
	resolved.next = (resolved.next + 1) % RESOLVED_NAMES;
	pthread_mutex_unlock(&resolved.lock);
}

static bool find_resolved(const char *name, char *path, size_t size)
{
	bool is_found = false;

	pthread_mutex_lock(&resolved.lock);
	for (unsigned i = 0; i < RESOLVED_NAMES && !is_found; i++) {
		if (strcmp(resolved.name[i], name) ||
		    !dl_iterate_phdr(is_path_loaded, resolved.path[i]))
			continue;
		is_found = strlen(resolved.path[i]) < size;
		if (is_found)
			strcpy(path, resolved.path[i]);
	}
	pthread_mutex_unlock(&resolved.lock);
	return is_found;
}

/* ---- expanding and trying directories -------------------------------- */

/* @s at a '$': the length of the token $NAME or ${NAME} (as ld.so: NAME not
 * followed by a name character), 0 when it is another. */
static size_t token_length(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len >= n + 3 && s[1] == '{' && !strncmp(s + 2, name, n) && s[n + 2] == '}')
		return n + 3;
	if (len >= n + 1 && !strncmp(s + 1, name, n) &&
	    (len == n + 1 || !(s[n + 1] == '_' || (s[n + 1] >= '0' && s[n + 1] <= '9') ||
			       (s[n + 1] >= 'A' && s[n + 1] <= 'Z') ||
			       (s[n + 1] >= 'a' && s[n + 1] <= 'z'))))
		return n + 1;
	return 0;
}

/*
 * Copy [@s, +@len) to @out with $ORIGIN and $PLATFORM replaced, as ld.so
 * does. 0; -ENOENT when a token has no value here (ld.so drops such a path
 * element); -EOPNOTSUPP for $LIB, whose value only glibc knows; -ENAMETOOLONG.
 */
static int expand_tokens(const char *s, size_t len, const char *origin, char *out, size_t size)
{
	size_t used = 0;

	for (size_t i = 0; i < len;) {
		const char *value = NULL;
		size_t n = 0, vlen;

		if (s[i] == '$') {
			if ((n = token_length(s + i, len - i, "ORIGIN")))
				value = origin;
			else if ((n = token_length(s + i, len - i, "PLATFORM")))
				value = (const char *)getauxval(AT_PLATFORM);
			else if (token_length(s + i, len - i, "LIB"))
				return -EOPNOTSUPP;
			if (n && !value)
				return -ENOENT;
		}
		if (!n) {
			value = s + i;
			n = 1;
		}
		vlen = value == s + i ? 1 : strlen(value);
		if (used + vlen >= size)
			return -ENAMETOOLONG;
		memcpy(out + used, value, vlen);
		used += vlen;
		i += n;
	}
	out[used] = '\0';
	return 0;
}

/* The directory ld.so gives $ORIGIN for an object named @name ("" is the
 * main program: the directory of /proc/self/exe). False when unknown. */
static bool object_origin(const char *name, bool is_main, char *out, size_t size)
{
	const char *slash;
	ssize_t n;

	if (is_main) {
		n = readlink("/proc/self/exe", out, size - 1);
		if (n <= 0)
			return false;
		out[n] = '\0';
	} else {
		if (strlen(name) >= size)
			return false;
		strcpy(out, name);
	}
	slash = strrchr(out, '/');
	if (!slash)
		return false;
	out[slash == out ? 1 : slash - out] = '\0';
	return true;
}

/* Whether ld.so would take the file at @path: it skips what it cannot open
 * and ELF files of another class or machine, and stops at anything else
 * (an invalid file then fails the dlopen with glibc's own message). */
static bool would_take(const char *path)
{
	ElfW(Ehdr) header;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, &header, sizeof(header));
	close(fd);
	if (n == (ssize_t)sizeof(header) && !memcmp(header.e_ident, ELFMAG, SELFMAG) &&
	    (header.e_ident[EI_CLASS] != NATIVE_CLASS || header.e_machine != NATIVE_MACHINE))
		return false;
	return true;
}

/*
 * Search the directories of @list (':'-separated, tokens relative to
 * @origin) for @name. 0 with the path in @out; -ENOENT when none has it;
 * -EOPNOTSUPP when the list cannot be expanded here.
 */
static int search_list(const char *list, const char *origin, const char *name, char *out,
		       size_t size)
{
	char dir[SEARCH_PATH_MAX];

	for (const char *s = list; s; s = strchr(s, ':') ? strchr(s, ':') + 1 : NULL) {
		size_t len = strcspn(s, ":");
		int err = expand_tokens(s, len, origin, dir, sizeof(dir));

		if (err == -EOPNOTSUPP)
			return err;
		if (err)
			continue;
		/* An empty element is the current directory, as in ld.so. */
		if ((size_t)snprintf(out, size, "%s/%s", dir[0] ? dir : ".", name) >= size)
			continue;
		if (would_take(out))
			return 0;
	}
	return -ENOENT;
}

int dlopen_search(const char *file, const void *caller, char *path, size_t size)
{
	struct caller_walk w = { .address = (uintptr_t)caller };
	struct name_walk names = { .name = file };
	char origin[SEARCH_PATH_MAX];
	bool has_origin;
	int err;

	if (!file || getauxval(AT_SECURE))
		return -ENOENT;
	if (strchr(file, '/') && !strchr(file, '$'))
		return -ENOENT;
	if (!strchr(file, '/') && find_resolved(file, path, size))
		return 0;
	dl_iterate_phdr(find_caller, &w);
	if (!w.is_found)
		return -ENOENT;
	has_origin = object_origin(w.name, w.is_main, origin, sizeof(origin));
	if (strchr(file, '/')) {
		/* A file name with a token: glibc expands it for the caller. A
		 * file that is not there is left to glibc, whose message then
		 * names it as the program wrote it. */
		err = has_origin ? expand_tokens(file, strlen(file), origin, path, size) : -ENOENT;
		return err || access(path, F_OK) ? -ENOENT : 0;
	}
	if (w.tags.runpath) {
		char main_origin[SEARCH_PATH_MAX];

		pthread_once(&library_path_once, read_library_path);
		if (library_path_state < 0)
			return -ENOENT;
		err = -ENOENT;
		if (library_path[0] && object_origin("", true, main_origin, sizeof(main_origin)))
			err = search_list(library_path, main_origin, file, path, size);
		if (err == -ENOENT)
			err = search_list(w.tags.runpath, has_origin ? origin : NULL, file, path,
					  size);
	} else if (w.tags.rpath && !w.is_main) {
		err = search_list(w.tags.rpath, has_origin ? origin : NULL, file, path, size);
	} else {
		return -ENOENT; /* glibc's search for the shim is the caller's */
	}
	if (err)
		return -ENOENT;
	/* An object already loaded under the name wins over any directory. */
	dl_iterate_phdr(find_name, &names);
	return names.is_loaded ? -ENOENT : 0;
}

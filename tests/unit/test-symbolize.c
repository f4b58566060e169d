/*
 * Unit tests of analyzer/symbolize.c on this very process: its own
 * executable (built with -g), libc and the vdso, found through
 * dl_iterate_phdr as the shim records them, and on modules that cannot be
 * symbolised (wrong build-id, missing file, not ELF).
 *
 * The line checks need this file's debug information at -O0 (a Debug
 * build, as scripts/test makes).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

#include "unit-test.h"

#define MAX_IMAGE_MODULES 64
#define MAX_BUILD_ID 64

/* The modules of this process, as the shim records them. */
struct image_module {
	struct sym_module m;
	char path[PATH_MAX];
	char name[PATH_MAX]; /* dlpi_name */
	uint8_t build_id[MAX_BUILD_ID];
};

static struct image_module image[MAX_IMAGE_MODULES];
static unsigned image_count;

/* ---- functions to find ----------------------------------------------------------------- */

static volatile int sink;

enum { PLAIN_FIRST_LINE = __LINE__ };
static __attribute__((noinline)) void plain_function(void)
{
	sink = sink * 3 + 1;
	sink = sink * 5 + 2;
}
enum { PLAIN_LAST_LINE = __LINE__ };

/* Where the inlined code was: the return address of a call made from it. */
static uintptr_t leaf_pc;
static unsigned leaf_line, middle_line, caller_line;

static __attribute__((noinline)) void record_return_address(void)
{
	leaf_pc = (uintptr_t)__builtin_return_address(0);
}

static inline __attribute__((always_inline)) void inlined_leaf(void)
{
	leaf_line = __LINE__ + 1;
	record_return_address();
}

/* Two levels: each one must be a frame of its own. */
static inline __attribute__((always_inline)) void inlined_middle(void)
{
	sink++;
	middle_line = __LINE__ + 1;
	inlined_leaf();
}

static __attribute__((noinline)) void inline_caller(void)
{
	caller_line = __LINE__ + 1;
	inlined_middle();
	sink++;
}

/* Mangled names in the symbol table, as C++ and Rust compilers write them. */
static __attribute__((noinline)) int cxx_named(int x) __asm__("_ZN2ns5inner4workEi");
static __attribute__((noinline)) int cxx_named(int x)
{
	return x * 7 + sink;
}

#define RUST_LEGACY_NAME "_ZN4core3fmt5write17h0123456789abcdefE"
static __attribute__((noinline)) int rust_named(int x) __asm__(RUST_LEGACY_NAME);
static __attribute__((noinline)) int rust_named(int x)
{
	return x * 11 + sink;
}

/* ---- this process's modules ------------------------------------------------------------ */

/* The NT_GNU_BUILD_ID note in the PT_NOTE segment @ph, mapped at @bias. */
static unsigned note_build_id(const ElfW(Phdr) *ph, uintptr_t bias, uint8_t *out)
{
	const char *p = (const char *)(bias + ph->p_vaddr);
	const char *end = p + ph->p_memsz;

	while (p + sizeof(ElfW(Nhdr)) <= end) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
		const char *name = p + sizeof(*nh);
		const char *desc = name + ((nh->n_namesz + 3) & ~3u);

		if (desc + nh->n_descsz > end)
			break;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
		    nh->n_descsz <= MAX_BUILD_ID) {
			memcpy(out, desc, nh->n_descsz);
			return nh->n_descsz;
		}
		p = desc + ((nh->n_descsz + 3) & ~3u);
	}
	return 0;
}

static int collect_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct image_module *im;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned id_len = 0;
	int i;

	if (image_count == MAX_IMAGE_MODULES)
		return 1;
	im = &image[image_count];
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD) {
			uint64_t a = info->dlpi_addr + ph->p_vaddr;

			if (a < lo)
				lo = a;
			if (a + ph->p_memsz > hi)
				hi = a + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !id_len) {
			id_len = note_build_id(ph, info->dlpi_addr, im->build_id);
		}
	}
	if (lo >= hi)
		return 0;
	snprintf(im->name, sizeof(im->name), "%s", info->dlpi_name ? info->dlpi_name : "");
	/* dl_iterate_phdr names the executable "" and the vdso
	 * linux-vdso.so.1; the shim records the one by /proc/self/exe and the
	 * other without path. */
	if (image_count == 0 && !im->name[0]) {
		ssize_t len = readlink("/proc/self/exe", im->path, sizeof(im->path) - 1);

		im->path[len > 0 ? len : 0] = '\0';
	} else if (im->name[0] == '/') {
		memcpy(im->path, im->name, sizeof(im->path));
	}
	im->m = (struct sym_module){
		.start = lo,
		.end = hi,
		.bias = info->dlpi_addr,
		.path = im->path,
		.build_id = id_len ? im->build_id : NULL,
		.build_id_len = id_len,
	};
	image_count++;
	return 0;
}

static const struct image_module *image_module_of(uintptr_t addr)
{
	unsigned i;

	for (i = 0; i < image_count; i++)
		if (image[i].m.start <= addr && addr < image[i].m.end)
			return &image[i];
	return NULL;
}

static struct symbolizer *new_symbolizer_of_image(void)
{
	struct symbolizer *s;
	unsigned i;
	int err = symbolizer_new(&s);

	CHECK(err == 0, "symbolizer_new: %d", err);
	if (err)
		exit(1);
	for (i = 0; i < image_count; i++) {
		err = symbolizer_add_module(s, &image[i].m);
		CHECK(err == 0, "add %s: %d", image[i].path, err);
	}
	return s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return s && n >= m && !strcmp(s + n - m, suffix);
}

static const char *or_null(const char *s)
{
	return s ? s : "(null)";
}

/* ---- the tests -------------------------------------------------------------------------- */

static void test_own_function(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	uintptr_t addr = (uintptr_t)&plain_function + 4;
	struct sym_frame f[8];
	unsigned n = symbolizer_lookup(s, addr, f, 8);

	CHECK(n == 1, "%u frames", n);
	CHECK(f[0].function && !strcmp(f[0].function, "plain_function"), "function %s",
	      or_null(f[0].function));
	CHECK(f[0].module && !strcmp(f[0].module, "test-symbolize"), "module %s",
	      or_null(f[0].module));
	CHECK(ends_with(f[0].file, "/tests/unit/test-symbolize.c"), "file %s", or_null(f[0].file));
	CHECK(f[0].line > PLAIN_FIRST_LINE && f[0].line < PLAIN_LAST_LINE, "line %u, not in %d..%d",
	      f[0].line, PLAIN_FIRST_LINE, PLAIN_LAST_LINE);
	CHECK(f[0].offset == 4, "offset %llu", (unsigned long long)f[0].offset);
	CHECK(!f[0].inlined, "inlined");
	CHECK(symbolizer_module_problem(s, addr) == NULL, "problem %s",
	      or_null(symbolizer_module_problem(s, addr)));
	symbolizer_free(s);
}

static void test_inlined(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	struct sym_frame f[8], again[8], one;
	uintptr_t call;
	unsigned n;

	inline_caller();
	/* The return address follows the call; the call is the byte before. */
	call = leaf_pc - 1;
	n = symbolizer_lookup(s, call, f, 8);
	CHECK(n == 3, "%u frames", n);
	if (n != 3)
		goto out;
	CHECK(f[0].function && !strcmp(f[0].function, "inlined_leaf"), "inner %s",
	      or_null(f[0].function));
	CHECK(f[0].inlined, "inner not inlined");
	CHECK(f[0].line == leaf_line, "inner line %u, want %u", f[0].line, leaf_line);
	CHECK(ends_with(f[0].file, "test-symbolize.c"), "inner file %s", or_null(f[0].file));
	CHECK(f[0].offset == 0, "inner offset %llu", (unsigned long long)f[0].offset);
	CHECK(f[1].function && !strcmp(f[1].function, "inlined_middle"), "middle %s",
	      or_null(f[1].function));
	CHECK(f[1].inlined, "middle not inlined");
	CHECK(f[1].line == middle_line, "middle line %u, want %u", f[1].line, middle_line);
	CHECK(ends_with(f[1].file, "test-symbolize.c"), "middle file %s", or_null(f[1].file));
	CHECK(f[2].function && !strcmp(f[2].function, "inline_caller"), "outer %s",
	      or_null(f[2].function));
	CHECK(!f[2].inlined, "outer inlined");
	CHECK(f[2].line == caller_line, "outer line %u, want %u", f[2].line, caller_line);
	CHECK(ends_with(f[2].file, "test-symbolize.c"), "outer file %s", or_null(f[2].file));
	CHECK(f[2].offset == call - (uintptr_t)&inline_caller, "outer offset %llu",
	      (unsigned long long)f[2].offset);
	CHECK(f[0].module == f[2].module && f[0].file == f[2].file, "strings not interned");

	/* Cached: the same frames, the same (interned) strings. */
	n = symbolizer_lookup(s, call, again, 8);
	CHECK(n == 3 && !memcmp(f, again, 3 * sizeof(*f)), "cached lookup differs");
	/* Cut to one frame: the innermost. */
	n = symbolizer_lookup(s, call, &one, 1);
	CHECK(n == 1 && one.function == f[0].function && one.inlined, "max 1: %u %s", n,
	      or_null(one.function));
out:
	symbolizer_free(s);
}

static void test_mangled_symbols(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	struct sym_frame f;

	symbolizer_lookup(s, (uintptr_t)&cxx_named, &f, 1);
	CHECK(f.function && !strcmp(f.function, "ns::inner::work(int)"), "C++ %s",
	      or_null(f.function));
	CHECK(f.offset == 0, "offset %llu", (unsigned long long)f.offset);
	symbolizer_lookup(s, (uintptr_t)&rust_named + 1, &f, 1);
	CHECK(f.function && !strcmp(f.function, "core::fmt::write"), "Rust %s",
	      or_null(f.function));
	symbolizer_free(s);
}

static void check_demangle(const char *mangled, const char *want)
{
	char *got = sym_demangle(mangled);

	if (want)
		CHECK(got && !strcmp(got, want), "%s: %s, want %s", mangled, or_null(got), want);
	else
		CHECK(!got, "%s: %s, want NULL", mangled, got);
	free(got);
}

static void test_demangle(void)
{
	check_demangle(RUST_LEGACY_NAME, "core::fmt::write");
	check_demangle("_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example");
	check_demangle("_ZNSt6vectorIiSaIiEE9push_backERKi",
		       "std::vector<int, std::allocator<int> >::push_back(int const&)");
	check_demangle("_Z3fooi.cold", "foo(int) [clone .cold]");
	check_demangle("main", NULL);
	check_demangle("_Z", NULL);
	check_demangle("_Zgarbage!", NULL);
	check_demangle("", NULL);
	check_demangle(NULL, NULL);
}

/* A libc function, through libc's own module (and its separate debug
 * information when libc6-dbg is installed). */
static void test_libc(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	uintptr_t addr = (uintptr_t)&getpid;
	const struct image_module *im = image_module_of(addr);
	struct sym_frame f;

	CHECK(im && strstr(im->path, "/libc.so"), "getpid in %s", im ? im->path : "no module");
	symbolizer_lookup(s, addr, &f, 1);
	CHECK(f.module && !strncmp(f.module, "libc.so", 7), "module %s", or_null(f.module));
	CHECK(f.function && strstr(f.function, "getpid"), "function %s", or_null(f.function));
	CHECK(f.offset == 0, "offset %llu", (unsigned long long)f.offset);
	symbolizer_free(s);
}

static void test_vdso(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	const struct image_module *vdso = NULL;
	struct sym_frame f;
	const char *problem;
	unsigned i;

	for (i = 0; i < image_count; i++)
		if (!strncmp(image[i].name, "linux-vdso", 10))
			vdso = &image[i];
	if (!vdso) {
		printf("skip test_vdso: no vdso mapped\n");
		symbolizer_free(s);
		return;
	}
	CHECK(!vdso->path[0], "vdso path %s", vdso->path);
	symbolizer_lookup(s, vdso->m.start + 16, &f, 1);
	CHECK(f.module && !strcmp(f.module, "[vdso]"), "module %s", or_null(f.module));
	CHECK(!f.function && !f.file && !f.line, "function %s", or_null(f.function));
	problem = symbolizer_module_problem(s, vdso->m.start);
	CHECK(problem && !strncmp(problem, "[vdso]: ", 8), "problem %s", or_null(problem));
	symbolizer_free(s);
}

static void check_unknown(struct symbolizer *s, uint64_t addr, const char *module)
{
	struct sym_frame f[4];
	unsigned n;

	memset(f, 0xa5, sizeof(f));
	n = symbolizer_lookup(s, addr, f, 4);
	CHECK(n == 1, "%#llx: %u frames", (unsigned long long)addr, n);
	CHECK(!f[0].function && !f[0].file && !f[0].line && !f[0].offset && !f[0].inlined,
	      "%#llx: function %s", (unsigned long long)addr, or_null(f[0].function));
	if (module)
		CHECK(f[0].module && !strcmp(f[0].module, module), "%#llx: module %s, want %s",
		      (unsigned long long)addr, or_null(f[0].module), module);
	else
		CHECK(!f[0].module, "%#llx: module %s", (unsigned long long)addr, f[0].module);
}

static void test_no_module(void)
{
	struct symbolizer *s = new_symbolizer_of_image();
	struct symbolizer *empty;
	int err;

	check_unknown(s, 0, NULL);
	check_unknown(s, 8, NULL);
	check_unknown(s, UINT64_MAX, NULL);
	CHECK(symbolizer_module_problem(s, 0) == NULL, "problem at 0");
	symbolizer_free(s);

	err = symbolizer_new(&empty);
	CHECK(err == 0, "symbolizer_new: %d", err);
	check_unknown(empty, (uintptr_t)&plain_function, NULL);
	CHECK(symbolizer_module_problem(empty, (uintptr_t)&plain_function) == NULL, "problem");
	symbolizer_free(empty);
	symbolizer_free(NULL);
}

/* A module added after a lookup owns the addresses that had none. */
static void test_add_after_lookup(void)
{
	struct symbolizer *s;
	uintptr_t addr = (uintptr_t)&plain_function;
	const struct image_module *self = image_module_of(addr);
	struct sym_frame f;
	int err = symbolizer_new(&s);

	CHECK(err == 0 && self, "setup");
	if (err || !self)
		return;
	check_unknown(s, addr, NULL);
	err = symbolizer_add_module(s, &self->m);
	CHECK(err == 0, "add: %d", err);
	symbolizer_lookup(s, addr, &f, 1);
	CHECK(f.function && !strcmp(f.function, "plain_function"), "function %s",
	      or_null(f.function));
	symbolizer_free(s);
}

/* Only the executable, with the recorded build-id changed: a rebuild. */
static void test_wrong_build_id(void)
{
	uintptr_t addr = (uintptr_t)&plain_function;
	const struct image_module *self = image_module_of(addr);
	struct sym_module m;
	uint8_t id[MAX_BUILD_ID];
	struct symbolizer *s;
	const char *problem;
	int err;

	CHECK(self && self->m.build_id_len >= 8, "no build-id in the test executable");
	if (!self || self->m.build_id_len < 8)
		return;
	m = self->m;
	memcpy(id, m.build_id, m.build_id_len);
	id[0] ^= 0xff;
	id[m.build_id_len - 1] ^= 0x5a;
	m.build_id = id;
	err = symbolizer_new(&s);
	CHECK(err == 0, "symbolizer_new: %d", err);
	err = symbolizer_add_module(s, &m);
	CHECK(err == 0, "add: %d", err);
	check_unknown(s, addr, "test-symbolize");
	problem = symbolizer_module_problem(s, addr);
	CHECK(problem && strstr(problem, "build-id") && strstr(problem, self->path), "problem %s",
	      or_null(problem));
	symbolizer_free(s);

	/* Without a recorded build-id the file is trusted. */
	m.build_id = NULL;
	m.build_id_len = 0;
	err = symbolizer_new(&s);
	CHECK(err == 0, "symbolizer_new: %d", err);
	err = symbolizer_add_module(s, &m);
	CHECK(err == 0, "add: %d", err);
	CHECK(!symbolizer_module_problem(s, addr), "problem without build-id");
	symbolizer_free(s);
}

/*
 * libc "rebuilt": its recorded build-id, with another ELF file (this
 * executable) at its path. Its names must then come from the debug file of
 * the recorded build-id, when libc6-dbg installed one.
 */
static void test_rebuilt_with_debug_file(void)
{
	uintptr_t addr = (uintptr_t)&getpid;
	const struct image_module *libc = image_module_of(addr);
	char debug[PATH_MAX];
	const uint8_t *im_id;
	struct sym_module m;
	struct symbolizer *s;
	struct sym_frame f;
	size_t used;
	unsigned i;
	int err;

	if (!libc || libc->m.build_id_len < 2)
		return;
	im_id = libc->build_id;
	used = (size_t)snprintf(debug, sizeof(debug), "/usr/lib/debug/.build-id/%02x/", im_id[0]);
	for (i = 1; i < libc->m.build_id_len; i++)
		used += (size_t)snprintf(debug + used, sizeof(debug) - used, "%02x", im_id[i]);
	snprintf(debug + used, sizeof(debug) - used, ".debug");
	if (access(debug, R_OK)) {
		printf("skip test_rebuilt_with_debug_file: no %s\n", debug);
		return;
	}
	m = libc->m;
	m.path = image[0].path;
	err = symbolizer_new(&s);
	CHECK(err == 0, "symbolizer_new: %d", err);
	err = symbolizer_add_module(s, &m);
	CHECK(err == 0, "add: %d", err);
	symbolizer_lookup(s, addr, &f, 1);
	CHECK(f.function && strstr(f.function, "getpid"), "function %s", or_null(f.function));
	CHECK(f.module && !strcmp(f.module, "test-symbolize"), "module %s", or_null(f.module));
	CHECK(!symbolizer_module_problem(s, addr), "problem %s",
	      or_null(symbolizer_module_problem(s, addr)));
	symbolizer_free(s);
}

static void test_bad_files(void)
{
	char not_elf[] = "/tmp/test-symbolize-XXXXXX";
	static const uint8_t some_id[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct sym_module missing = {
		.start = 0x10000000, .end = 0x10002000, .bias = 0x10000000,
		.path = "/nonexistent/dir/libgone.so.1",
		.build_id = some_id, .build_id_len = sizeof(some_id),
	};
	struct sym_module garbage = {
		.start = 0x20000000, .end = 0x20001000, .bias = 0x20000000,
		.path = not_elf,
	};
	struct symbolizer *s;
	const char *problem;
	int fd, err;

	fd = mkstemp(not_elf);
	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	if (fd < 0)
		return;
	CHECK(write(fd, "not an ELF file at all\n", 23) == 23, "write");
	close(fd);

	err = symbolizer_new(&s);
	CHECK(err == 0, "symbolizer_new: %d", err);
	err = symbolizer_add_module(s, &missing);
	CHECK(err == 0, "add missing: %d", err);
	err = symbolizer_add_module(s, &garbage);
	CHECK(err == 0, "add not ELF: %d", err);

	check_unknown(s, 0x10000100, "libgone.so.1");
	problem = symbolizer_module_problem(s, 0x10001fff);
	CHECK(problem && strstr(problem, "/nonexistent/dir/libgone.so.1") &&
		      strstr(problem, "no such file"),
	      "problem %s", or_null(problem));

	check_unknown(s, 0x20000000, strrchr(not_elf, '/') + 1);
	problem = symbolizer_module_problem(s, 0x20000fff);
	CHECK(problem && strstr(problem, "not an ELF"), "problem %s", or_null(problem));
	CHECK(!symbolizer_module_problem(s, 0x20001000), "problem past the end");

	/* A directory, and an empty range. */
	missing.path = "/";
	missing.start = 0x30000000;
	missing.end = 0x30001000;
	err = symbolizer_add_module(s, &missing);
	CHECK(err == 0, "add /: %d", err);
	check_unknown(s, 0x30000000, "/");
	CHECK(symbolizer_module_problem(s, 0x30000000) != NULL, "no problem for /");
	missing.end = missing.start;
	err = symbolizer_add_module(s, &missing);
	CHECK(err == -EINVAL, "empty range: %d", err);

	symbolizer_free(s);
	unlink(not_elf);
}

int main(void)
{
	dl_iterate_phdr(collect_module, NULL);
	CHECK(image_count >= 2, "%u modules", image_count);
	CHECK(image_count && ends_with(image[0].path, "/test-symbolize"), "executable %s",
	      image[0].path);

	test_own_function();
	test_inlined();
	test_mangled_symbols();
	test_demangle();
	test_libc();
	test_vdso();
	test_no_module();
	test_add_after_lookup();
	test_wrong_build_id();
	test_rebuilt_with_debug_file();
	test_bad_files();
	return unit_test_finish();
}

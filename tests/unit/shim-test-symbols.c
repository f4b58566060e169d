/*
 * Unit tests of preload/symbols.c: function symbols found by name with the
 * address the dynamic linker gave them, in this executable, in a dlopen'ed
 * fixture library (tests/fixtures/symbols-fixture.c, mangled names given as
 * assembler labels), in a library built from real C++ here, and in stripped
 * libraries whose symbols only their separate debuginfo has (built here with
 * cc and objcopy in a temporary directory, removed unless a check failed).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbols.h"

#include "unit-test.h"

#ifndef SYMBOLS_FIXTURE
#error "SYMBOLS_FIXTURE: path of the fixture library, set by tests/CMakeLists.txt"
#endif

/* ---- helpers ------------------------------------------------------------- */

static char tmpdir[] = "/tmp/iterprof-symbols-XXXXXX";

static const struct symbol *by_name(const struct symbol_table *t, const char *name)
{
	for (size_t i = 0; i < symbol_table_count(t); i++) {
		const struct symbol *s = symbol_table_get(t, i);

		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

static size_t count_matches(const struct symbol_table *t, const char *glob)
{
	size_t n = 0;

	for (size_t i = 0; i < symbol_table_count(t); i++)
		n += symbol_matches(symbol_table_get(t, i), glob);
	return n;
}

/* The only match of @glob in @t, or NULL (none or several). */
static const struct symbol *only_match(const struct symbol_table *t, const char *glob)
{
	const struct symbol *found = NULL;

	for (size_t i = 0; i < symbol_table_count(t); i++) {
		const struct symbol *s = symbol_table_get(t, i);

		if (symbol_matches(s, glob)) {
			if (found)
				return NULL;
			found = s;
		}
	}
	return found;
}

/* Run a shell command in tmpdir; true when it succeeded. */
static bool shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool shell(const char *fmt, ...)
{
	char command[8192];
	va_list ap;
	int n, status;

	n = snprintf(command, sizeof(command), "cd '%s' && (", tmpdir);
	va_start(ap, fmt);
	n += vsnprintf(command + n, sizeof(command) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(command + n, sizeof(command) - (size_t)n, ")");
	status = system(command);
	if (status != 0)
		printf("command failed (%d): %s\n", status, command);
	return status == 0;
}

static bool write_file(const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static struct symbol_table *load(const char *path, uintptr_t bias)
{
	struct symbol_table *t = NULL;
	int err = symbol_table_load(path, bias, &t);

	CHECK(err == 0 && t, "symbol_table_load(%s): %s", path, strerror(-err));
	return t;
}

/* ---- this executable --------------------------------------------------------- */

static __attribute__((noinline, used)) int test_static_function(int x)
{
	return x * 7;
}

int test_exported_function(int x);
__attribute__((noinline, used)) int test_exported_function(int x)
{
	return x * 11;
}

static int main_bias_callback(struct dl_phdr_info *info, size_t size, void *data)
{
	/* The first object dl_iterate_phdr reports is the executable. */
	*(uintptr_t *)data = info->dlpi_addr;
	return 1;
}

static void test_executable(void)
{
	uintptr_t bias = 0;
	struct symbol_table *t;
	const struct symbol *s;

	dl_iterate_phdr(main_bias_callback, &bias);
	t = load("/proc/self/exe", bias);
	if (!t)
		return;
	s = by_name(t, "test_static_function");
	CHECK(s && s->address == (uintptr_t)&test_static_function, "static in executable: %#lx",
	      s ? (unsigned long)s->address : 0ul);
	CHECK(s && !s->is_global && s->size > 0, "static is local, has a size");
	s = by_name(t, "test_exported_function");
	CHECK(s && s->address == (uintptr_t)&test_exported_function, "exported in executable");
	CHECK(s && s->is_global && !s->long_name && s->name == s->mangled, "C name is its own");
	CHECK(symbol_table_find_address(t, (uintptr_t)&test_static_function + 1) ==
		      by_name(t, "test_static_function"),
	      "address inside a function");
	CHECK(symbol_table_find_address(t, 0) == NULL, "address 0");
	/* main, from "main@main" as the shim will see it. */
	CHECK(only_match(t, "main") != NULL, "main found");
	symbol_table_free(t);
}

/* ---- the fixture library ------------------------------------------------------- */

static void test_fixture(void)
{
	void *handle = dlopen(SYMBOLS_FIXTURE, RTLD_NOW | RTLD_LOCAL);
	struct link_map *map = NULL;
	struct symbol_table *t;
	const struct symbol *s, *cold;
	void *(*static_address)(void);
	const char *closest[4];
	size_t n;

	CHECK(handle != NULL, "dlopen %s: %s", SYMBOLS_FIXTURE, dlerror());
	if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &map) || !map)
		return;
	t = load(map->l_name, map->l_addr);
	if (!t)
		goto out;

	/* C: exported and static, at the address the process uses. */
	s = only_match(t, "fixture_exported");
	CHECK(s && s->address == (uintptr_t)dlsym(handle, "fixture_exported") && s->is_global,
	      "exported function");
	*(void **)&static_address = dlsym(handle, "fixture_static_address");
	s = only_match(t, "fixture_static");
	CHECK(s && static_address && s->address == (uintptr_t)static_address() && !s->is_global,
	      "static function");
	CHECK(count_matches(t, "fixture_*") >= 4, "glob on C names: %zu",
	      count_matches(t, "fixture_*"));
	CHECK(count_matches(t, "*kernel") == 2 && count_matches(t, "alpha_kernel?") == 1,
	      "globs *kernel, alpha_kernel?");

	/* C++: display name without parameters, found by name, glob, long
	 * name and mangled name, each the same symbol. */
	s = by_name(t, "ns::Class::method");
	CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZN2ns5Class6methodEv"),
	      "ns::Class::method at its address");
	CHECK(s && s->long_name && !strcmp(s->long_name, "ns::Class::method()"), "long name %s",
	      s && s->long_name ? s->long_name : "(null)");
	CHECK(count_matches(t, "ns::Class::method") == 2, "both overloads of ns::Class::method: %zu",
	      count_matches(t, "ns::Class::method"));
	CHECK(count_matches(t, "*::method") == 3, "*::method: overloads and the template: %zu",
	      count_matches(t, "*::method"));
	s = only_match(t, "ns::Class::method(int) const");
	CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZNK2ns5Class6methodEi"),
	      "const overload by long name");
	CHECK(only_match(t, "_ZNK2ns5Class6methodEi") == s, "same by mangled name");
	CHECK(only_match(t, "ns::Class<int>::method") != NULL, "template by display name");
	CHECK(only_match(t, "ns::Class<*>::method") == only_match(t, "ns::Class<int>::method"),
	      "template by glob");
	s = only_match(t, "ns::Class::operator< <int>");
	CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZN2ns5ClassltIiEEbT_"),
	      "templated operator<");
	/* The .cold fragment is not the function. */
	cold = by_name(t, "ns::Class::method.cold");
	CHECK(cold && !symbol_matches(cold, "ns::Class::method") &&
		      symbol_matches(cold, "ns::Class::method*"),
	      "a clone keeps its suffix");

	/* Rust: with and without the hash, both manglings. */
	s = only_match(t, "crate::module::func::h0123456789abcdef");
	CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZN5crate6module4func17h0123456789abcdefE"),
	      "Rust legacy with hash");
	CHECK(s && !strcmp(s->name, "crate::module::func"), "Rust display name %s",
	      s ? s->name : "(null)");
	CHECK(count_matches(t, "crate::module::func") == 2, "legacy and v0 by path: %zu",
	      count_matches(t, "crate::module::func"));
	CHECK(count_matches(t, "crate::*::func") == 2, "Rust glob");
	s = only_match(t, "_RNvNtCs1234_5crate6module4func");
	CHECK(s && !strcmp(s->name, "crate::module::func"), "Rust v0 by mangled name");

	/* An ifunc: marked, and its symbol is the resolver, not what dlsym
	 * gives (the implementation). */
	s = only_match(t, "fixture_ifunc");
	CHECK(s && s->is_ifunc && s->address != (uintptr_t)dlsym(handle, "fixture_ifunc"),
	      "ifunc marked");
	CHECK(s && symbol_table_find_address(t, s->address) == s,
	      "the global alias wins over the static resolver");

	/* Nothing matched: closest names, best first. */
	n = symbol_table_closest(t, "alpha_kernl", closest, 3);
	CHECK(n == 3 && !strcmp(closest[0], "alpha_kernel") && !strcmp(closest[1], "alpha_kernels") &&
		      !strcmp(closest[2], "beta_kernel"),
	      "closest: %zu %s %s %s", n, n > 0 ? closest[0] : "", n > 1 ? closest[1] : "",
	      n > 2 ? closest[2] : "");
	n = symbol_table_closest(t, "*alpha_k[eE]rnl", closest, 1);
	CHECK(n == 1 && !strcmp(closest[0], "alpha_kernel"), "closest ignores glob characters: %s",
	      n ? closest[0] : "");
	n = symbol_table_closest(t, "ns::Clas::method", closest, 4);
	CHECK(n >= 1 && !strcmp(closest[0], "ns::Class::method"),
	      "closest names are distinct display names");
	for (size_t i = 1; i < n; i++)
		CHECK(strcmp(closest[i], closest[0]), "duplicate %s", closest[i]);

	/* Sorted by address, no duplicate (.symtab and .dynsym both have the
	 * exported functions). */
	for (size_t i = 1; i < symbol_table_count(t); i++) {
		const struct symbol *a = symbol_table_get(t, i - 1), *b = symbol_table_get(t, i);

		CHECK(a->address < b->address ||
			      (a->address == b->address && strcmp(a->mangled, b->mangled) < 0),
		      "order at %zu: %s %s", i, a->mangled, b->mangled);
	}
	CHECK(symbol_table_get(t, symbol_table_count(t)) == NULL, "get out of range");
	symbol_table_free(t);
out:
	dlclose(handle);
}

/* ---- demangling helper ------------------------------------------------------------ */

static void check_demangle(const char *mangled, const char *display, const char *full)
{
	char *d = NULL, *f = NULL;
	int err = symbols_demangle(mangled, &d, &f);

	CHECK(err == 0 && d && !strcmp(d, display), "%s: display %s, want %s", mangled,
	      d ? d : "(null)", display);
	CHECK(full ? f && !strcmp(f, full) : !f, "%s: long %s, want %s", mangled, f ? f : "(null)",
	      full ? full : "(null)");
	free(d);
	free(f);
}

static void test_demangle(void)
{
	check_demangle("_ZN5crate6module4func17h0123456789abcdefE", "crate::module::func",
		       "crate::module::func::h0123456789abcdef");
	check_demangle("_RNvNtCs1234_5crate6module4func", "crate::module::func",
		       "crate[3c1c0]::module::func");
	/* LLVM's suffix on a promoted local is not a clone: the function. */
	check_demangle("_ZN5crate6module4func17h0123456789abcdefE.llvm.12345",
		       "crate::module::func", "crate::module::func::h0123456789abcdef");
	check_demangle("_ZNK2ns5Class6methodEi", "ns::Class::method", "ns::Class::method(int) const");
	check_demangle("_ZNKR2ns5Class1fEv", "ns::Class::f", "ns::Class::f() const &");
	check_demangle("_ZNKSt8functionIFviEEclEi", "std::function<void (int)>::operator()",
		       "std::function<void (int)>::operator()(int) const");
	check_demangle("_ZN2ns3fooIFviEEEvT_", "ns::foo<void (int)>",
		       "void ns::foo<void (int)>(void (int))");
	check_demangle("_ZN2ns5ClassltIiEEbT_", "ns::Class::operator< <int>",
		       "bool ns::Class::operator< <int>(int)");
	check_demangle("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()",
		       "main::{lambda()#1}::operator()() const");
	check_demangle("_ZN2ns5Class6methodEv.cold", "ns::Class::method.cold",
		       "ns::Class::method() [clone .cold]");
	check_demangle("_ZN2ns4workEi.constprop.0.isra.0", "ns::work.constprop.0.isra.0",
		       "ns::work(int) [clone .constprop.0] [clone .isra.0]");
	/* Not mangled, or not valid: the name itself. */
	check_demangle("main", "main", NULL);
	check_demangle("_Z", "_Z", NULL);
	check_demangle("_ZN2ns", "_ZN2ns", NULL);
	check_demangle("_Rfoo", "_Rfoo", NULL);
}

/* ---- patterns -------------------------------------------------------------------------- */

static void test_patterns(void)
{
	struct symbol_pattern p;
	char long_text[300];

	CHECK(symbol_pattern_parse("foo", &p) == 0 && !strcmp(p.glob, "foo") && !p.module[0],
	      "plain glob");
	CHECK(symbol_pattern_parse("memcpy@libc.so.6", &p) == 0 && !strcmp(p.glob, "memcpy") &&
		      !strcmp(p.module, "libc.so.6"),
	      "glob@module");
	CHECK(symbol_pattern_parse("ns::*::run@main", &p) == 0 && !strcmp(p.glob, "ns::*::run") &&
		      !strcmp(p.module, "main"),
	      "C++ glob@main");
	CHECK(symbol_pattern_parse("", &p) == -EINVAL, "empty");
	CHECK(symbol_pattern_parse("@libc", &p) == -EINVAL, "empty glob");
	CHECK(symbol_pattern_parse("foo@", &p) == -EINVAL, "empty module");
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	CHECK(symbol_pattern_parse(long_text, &p) == -EINVAL, "glob too long");
	long_text[255] = '\0';
	CHECK(symbol_pattern_parse(long_text, &p) == 0 && strlen(p.glob) == 255, "255 fits");
	long_text[255] = 'x';
	long_text[3] = '@';
	CHECK(symbol_pattern_parse(long_text, &p) == -EINVAL, "module too long");

	symbol_pattern_parse("f", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/lib/x86_64-linux-gnu/libc.so.6", false),
	      "no module: any");
	symbol_pattern_parse("f@main", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/usr/bin/bench", true) &&
		      !symbol_pattern_accepts_module(&p, "/lib/libmain.so", false),
	      "main");
	symbol_pattern_parse("f@bench", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/usr/bin/bench", true), "executable's basename");
	symbol_pattern_parse("f@libc", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/lib/x86_64-linux-gnu/libc.so.6", false) &&
		      symbol_pattern_accepts_module(&p, "/lib/libc-2.31.so", false) &&
		      !symbol_pattern_accepts_module(&p, "/lib/x86_64-linux-gnu/libcrypto.so.3", false) &&
		      symbol_pattern_accepts_module(&p, "/lib/libc", false),
	      "libc prefix");
	symbol_pattern_parse("f@libc.so.6", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/lib/x86_64-linux-gnu/libc.so.6", false) &&
		      !symbol_pattern_accepts_module(&p, "/lib/x86_64-linux-gnu/libc.so", false),
	      "libc.so.6 exact");
	symbol_pattern_parse("f@libstdc++", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", false),
	      "libstdc++");
	symbol_pattern_parse("f@/opt/lib/libx.so", &p);
	CHECK(symbol_pattern_accepts_module(&p, "/opt/lib/libx.so", false) &&
		      !symbol_pattern_accepts_module(&p, "/usr/lib/libx.so", false),
	      "full path");
}

/* ---- real C++ ----------------------------------------------------------------------------- */

static const char cxx_source[] =
	"namespace ns {\n"
	"class Class { public: int method(int x); static long method(long x); };\n"
	"int Class::method(int x) { return x + 1; }\n"
	"long Class::method(long x) { return x + 2; }\n"
	"template <typename T> T twice(T x) { return x + x; }\n"
	"template int twice<int>(int);\n"
	"template double twice<double>(double);\n"
	"template <typename T> struct Box { T value; T get() const; };\n"
	"template <typename T> T Box<T>::get() const { return value; }\n"
	"template struct Box<double>;\n"
	"struct Functor { int operator()(int x) const { return x * 5; } };\n"
	"int use_functor(int x) { return Functor()(x); }\n"
	"}\n"
	"namespace { __attribute__((noinline)) int helper(int x) { return x * 9; } }\n"
	"extern \"C\" void *helper_address() { return (void *)&helper; }\n"
	"template struct ns::Box<int>;\n"
	"int (ns::Functor::*keep)(int) const = &ns::Functor::operator();\n";

static void test_cxx(void)
{
	char path[4096];
	void *handle;
	struct link_map *map = NULL;
	struct symbol_table *t;
	const struct symbol *s;
	void *(*helper_address)(void);

	if (!write_file("cxx.cc", cxx_source) ||
	    !shell("c++ -shared -fPIC -O1 -g -o libcxx.so cxx.cc || "
		   "clang++ -shared -fPIC -O1 -g -o libcxx.so cxx.cc")) {
		CHECK(0, "building the C++ fixture");
		return;
	}
	snprintf(path, sizeof(path), "%s/libcxx.so", tmpdir);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(handle != NULL, "dlopen %s: %s", path, dlerror());
	if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &map) || !map)
		return;
	t = load(map->l_name, map->l_addr);
	if (t) {
		CHECK(count_matches(t, "ns::Class::method") == 2, "two overloads by display name");
		s = only_match(t, "ns::Class::method(int)");
		CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZN2ns5Class6methodEi"),
		      "overload by parameters");
		CHECK(count_matches(t, "*::method") == 2, "*::method");
		s = only_match(t, "ns::twice<int>");
		CHECK(s && s->address == (uintptr_t)dlsym(handle, "_ZN2ns5twiceIiEET_S1_"),
		      "function template instance");
		CHECK(count_matches(t, "ns::twice<*>") == 2, "function template glob");
		CHECK(count_matches(t, "ns::Box<*>::get") == 2 &&
			      only_match(t, "ns::Box<double>::get") != NULL,
		      "class template member");
		CHECK(only_match(t, "ns::Functor::operator()") != NULL, "operator()");
		*(void **)&helper_address = dlsym(handle, "helper_address");
		s = only_match(t, "*::helper");
		CHECK(s && helper_address && s->address == (uintptr_t)helper_address() &&
			      !s->is_global && !strcmp(s->name, "(anonymous namespace)::helper"),
		      "anonymous namespace: %s", s ? s->name : "(none)");
		symbol_table_free(t);
	}
	dlclose(handle);
}

/* ---- separate debuginfo ---------------------------------------------------------------------- */

static const char debug_source[] =
	"__attribute__((noinline)) static int dbg_static(int x) { return x * 13; }\n"
	"int dbg_exported(int x);\n"
	"int dbg_exported(int x) { return dbg_static(x) + 1; }\n";

/* The address of dbg_static in the unstripped @name, for comparison. */
static uintptr_t reference_address(const char *name, uintptr_t bias)
{
	char path[4096];
	struct symbol_table *t;
	const struct symbol *s;
	uintptr_t address = 0;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	t = load(path, bias);
	s = t ? only_match(t, "dbg_static") : NULL;
	if (s)
		address = s->address;
	symbol_table_free(t);
	return address;
}

/* Load @name with @bias: does the table have dbg_static at @want (0: not
 * at all), and dbg_exported in any case (.dynsym)? */
static void check_stripped(const char *name, uintptr_t bias, uintptr_t want, const char *what)
{
	char path[4096];
	struct symbol_table *t;
	const struct symbol *s;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	t = load(path, bias);
	if (!t)
		return;
	s = only_match(t, "dbg_static");
	if (want)
		CHECK(s && s->address == want, "%s: dbg_static at %#lx, want %#lx", what,
		      s ? (unsigned long)s->address : 0ul, (unsigned long)want);
	else
		CHECK(!s, "%s: dbg_static found", what);
	CHECK(only_match(t, "dbg_exported") != NULL, "%s: exported from .dynsym", what);
	symbol_table_free(t);
}

static void test_debuginfo(void)
{
	const uintptr_t bias = 0x7f0000000000;
	char root[4096], other_root[4096];
	const char *roots[3];
	uintptr_t want;

	snprintf(root, sizeof(root), "%s/debugroot", tmpdir);
	snprintf(other_root, sizeof(other_root), "%s/otherroot", tmpdir);
	roots[0] = other_root;
	roots[1] = root;
	roots[2] = NULL;
	if (!write_file("dbg.c", debug_source) ||
	    !shell("cc -shared -fPIC -O1 -g -Wl,--build-id -o libid.so dbg.c && "
		   "cc -shared -fPIC -O1 -g -Wl,--build-id=none -o liblink.so dbg.c && "
		   "cc -shared -fPIC -O0 -g -Wl,--build-id=none -o libother.so dbg.c && "
		   "mkdir -p stripped/.debug debugroot otherroot && "
		   /* by build-id */
		   "objcopy --only-keep-debug libid.so libid.debug && "
		   "objcopy --strip-all libid.so stripped/libid.so && "
		   "id=$(readelf -n libid.so | sed -n 's/.*Build ID: //p') && "
		   "mkdir -p debugroot/.build-id/$(echo $id | cut -c1-2) && "
		   "cp libid.debug debugroot/.build-id/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-).debug && "
		   /* by debuglink, in .debug/ and under a root */
		   "objcopy --only-keep-debug liblink.so liblink.debug && "
		   "objcopy --strip-all --add-gnu-debuglink=liblink.debug liblink.so stripped/liblink.so && "
		   "cp liblink.debug stripped/.debug/liblink.debug && "
		   "mkdir -p \"debugroot/$PWD/stripped\" && "
		   "cp liblink.debug \"debugroot/$PWD/stripped/liblink.debug\" && "
		   /* a debuglink whose file is of another build: wrong CRC */
		   "objcopy --only-keep-debug libother.so libother.debug && "
		   "mkdir -p stale/.debug && cp stripped/liblink.so stale/liblink.so && "
		   "cp libother.debug stale/.debug/liblink.debug && "
		   /* no symbols at all */
		   "objcopy --strip-all libid.so stripped/libnone.so")) {
		CHECK(0, "building the debuginfo fixtures");
		return;
	}

	want = reference_address("libid.so", bias);
	CHECK(want != 0, "reference address");
	check_stripped("stripped/libid.so", bias, 0, "build-id, default roots");
	symbols_set_debug_roots(roots);
	check_stripped("stripped/libid.so", bias, want, "build-id");
	symbols_set_debug_roots(NULL);

	want = reference_address("liblink.so", bias);
	check_stripped("stripped/liblink.so", bias, want, "debuglink in .debug/");
	check_stripped("stale/liblink.so", bias, 0, "debuglink with another build's file");
	/* Without the copy in .debug/, only the one under a root is left. */
	shell("rm stripped/.debug/liblink.debug");
	check_stripped("stripped/liblink.so", bias, 0, "debuglink, not under default roots");
	symbols_set_debug_roots(roots);
	check_stripped("stripped/liblink.so", bias, want, "debuglink under a root");
	symbols_set_debug_roots(NULL);
	check_stripped("stripped/libnone.so", bias, 0, "no debuginfo");
}

/* ---- files that are not (good) ELF ------------------------------------------------------------------ */

static int load_error(const char *name)
{
	char path[4096];
	struct symbol_table *t = (struct symbol_table *)&t; /* must stay untouched */
	int err;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	err = symbol_table_load(path, 0, &t);
	if (err)
		CHECK(t == (struct symbol_table *)&t, "%s: *out set on failure", name);
	else
		symbol_table_free(t);
	return err;
}

static void test_bad_files(void)
{
	char path[4096];
	unsigned seed = 12345;
	int corrupt_failed = 0;
	int err;

	write_file("text", "not an ELF file\n");
	write_file("empty", "");
	CHECK(load_error("missing") == -ENOENT, "missing file");
	CHECK(load_error("text") == -ENOEXEC, "text file");
	CHECK(load_error("empty") == -ENOEXEC, "empty file");
	CHECK(load_error(".") == -ENOEXEC, "directory");
	if (!shell("cc -c -o object.o dbg.c && head -c 64 libid.so > header-only.so && "
		   "head -c 3000 libid.so > truncated.so && chmod 000 text")) {
		CHECK(0, "building bad files");
		return;
	}
	CHECK(load_error("object.o") == -ENOEXEC, "relocatable object");
	err = load_error("header-only.so");
	CHECK(err == -ENOEXEC || err == 0, "ELF header only: %d", err);
	load_error("truncated.so"); /* anything but a crash */
	if (geteuid() != 0)
		CHECK(load_error("text") == -EACCES, "unreadable");
	CHECK(symbol_table_load(NULL, 0, NULL) == -EINVAL, "NULL path");

	/* Corrupt bytes: in the ELF header, section headers or anywhere. No
	 * crash, no leak (ASan), an error or a table. */
	snprintf(path, sizeof(path), "%s/libid.so", tmpdir);
	for (int round = 0; round < 300; round++) {
		char copy[4096];
		int in, out;
		struct stat st;
		char *bytes;

		snprintf(copy, sizeof(copy), "%s/corrupt.so", tmpdir);
		in = open(path, O_RDONLY);
		if (in < 0 || fstat(in, &st) || !(bytes = malloc((size_t)st.st_size))) {
			corrupt_failed++;
			if (in >= 0)
				close(in);
			break;
		}
		if (read(in, bytes, (size_t)st.st_size) != st.st_size)
			corrupt_failed++;
		close(in);
		for (int k = 0; k < 1 + round % 8; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			/* Half in the first 64 bytes and the last 2 KiB
			 * (section headers), half anywhere. */
			if (k % 2 == 0)
				at = (seed >> 8) % 64;
			else if (k % 4 == 1)
				at = (size_t)st.st_size - 1 - (seed >> 8) % 2048;
			else
				at = (seed >> 8) % (size_t)st.st_size;
			bytes[at] ^= (char)(1u << (seed >> 28 & 7)) | (char)(seed >> 16);
		}
		out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0 || write(out, bytes, (size_t)st.st_size) != st.st_size)
			corrupt_failed++;
		if (out >= 0)
			close(out);
		free(bytes);
		load_error("corrupt.so");
	}
	CHECK(corrupt_failed == 0, "writing corrupt copies");
}

/* ---- system libraries ---------------------------------------------------------------------------------- */

static void test_libc(void)
{
	void *handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	struct link_map *map = NULL;
	struct symbol_table *t;
	struct timespec t0, t1;
	const struct symbol *s;
	size_t ifuncs;

	if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &map) || !map) {
		CHECK(0, "libc.so.6 not found");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t = load(map->l_name, map->l_addr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (t) {
		printf("# %s: %zu functions in %.1f ms\n", map->l_name, symbol_table_count(t),
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		CHECK(symbol_table_count(t) > 1000, "libc has functions");
		s = only_match(t, "getpid");
		CHECK(s && s->address == (uintptr_t)dlsym(handle, "getpid"), "getpid in libc");
		/* memcpy@@GLIBC_2.14 is an ifunc; memcpy@GLIBC_2.2.5 (memmove
		 * under the old name) is not. */
		ifuncs = 0;
		for (size_t i = 0; i < symbol_table_count(t); i++) {
			s = symbol_table_get(t, i);
			ifuncs += !strcmp(s->name, "memcpy") && s->is_ifunc;
		}
		CHECK(count_matches(t, "memcpy") >= 1 && ifuncs >= 1,
		      "memcpy, both versions, one ifunc: %zu %zu", count_matches(t, "memcpy"), ifuncs);
		symbol_table_free(t);
	}
	dlclose(handle);
}

int main(void)
{
	bool keep;

	if (!mkdtemp(tmpdir)) {
		printf("mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_executable();
	test_fixture();
	test_demangle();
	test_patterns();
	test_cxx();
	test_debuginfo();
	test_bad_files();
	test_libc();
	symbol_table_free(NULL);

	keep = failed != 0;
	if (keep)
		printf("# fixtures kept in %s\n", tmpdir);
	else
		shell("chmod -R u+rwX . && cd / && rm -rf '%s'", tmpdir);
	return unit_test_finish();
}

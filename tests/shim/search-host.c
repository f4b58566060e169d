/*
 * search-host MID: dlopen calls whose result depends on the caller, printed
 * so that a run under the shim can be compared line by line with a run
 * without it (tests/e2e/test_shim_transparency.py). MID is one of the
 * libshimt-mid-*.so; the plug-in is libshimt-foo.so in MID's directory/sub.
 * Handles are printed as "same as" relations, never as addresses.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void *(*mid_open)(const char *name);

/* One dlopen through MID (or by the program itself when @from_main),
 * printed with its dlerror() text and errno. */
static void *try_open(const char *label, const char *name, int from_main)
{
	void *h;
	int err;

	errno = 4321; /* what a dlopen leaves in errno must not change either */
	h = from_main ? dlopen(name, RTLD_NOW) : mid_open(name);
	err = errno;
	if (h) {
		int (*foo)(void) = (int (*)(void))dlsym(h, "shimt_foo");

		printf("%s: ok%s errno=%d\n", label, foo && foo() == 42 ? " shimt_foo=42" : "",
		       err);
	} else {
		printf("%s: fail: %s\n", label, dlerror());
	}
	return h;
}

int main(int argc, char **argv)
{
	void *mid, *plugin, *again, *by_main, *by_origin, *libc_mid, *libc_main;

	if (argc != 2) {
		fprintf(stderr, "usage: search-host MID\n");
		return 2;
	}
	mid = dlopen(argv[1], RTLD_NOW);
	if (!mid || !(mid_open = (void *(*)(const char *))dlsym(mid, "shimt_mid_open"))) {
		fprintf(stderr, "search-host: %s\n", dlerror());
		return 2;
	}
	printf("mid: %s\n", strrchr(argv[1], '/') + 1);
	try_open("missing", "libshimt-missing.so", 0);
	try_open("missing-origin", "$ORIGIN/sub/libshimt-missing.so", 0);
	plugin = try_open("bare", "libshimt-foo.so", 0);
	again = try_open("again", "libshimt-foo.so", 0);
	/* glibc remembers the name an object was opened by: the program now
	 * finds it too, whatever its own search path. */
	by_main = try_open("bare-from-main", "libshimt-foo.so", 1);
	by_origin = try_open("origin-in-name", "$ORIGIN/sub/libshimt-foo.so", 0);
	libc_mid = try_open("loaded", "libc.so.6", 0);
	libc_main = try_open("loaded-from-main", "libc.so.6", 1);
	printf("again is bare: %d\n", again && again == plugin);
	printf("bare-from-main is bare: %d\n", by_main && by_main == plugin);
	printf("origin-in-name is bare: %d\n", by_origin && by_origin == plugin);
	printf("loaded is loaded-from-main: %d\n", libc_mid && libc_mid == libc_main);
	return 0;
}

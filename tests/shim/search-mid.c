/*
 * The library that loads the plug-in (tests/e2e/test_shim_transparency.py).
 * Built three times: with DT_RUNPATH $ORIGIN/sub, with DT_RPATH $ORIGIN/sub,
 * and with neither. glibc searches a bare name along the RPATH/RUNPATH of
 * dlopen's caller, so this dlopen must be called from here, not from the
 * program: what it finds depends on which library made the call.
 */
#include <dlfcn.h>

void *shimt_mid_open(const char *name);
void *shimt_mid_open(const char *name)
{
	return dlopen(name, RTLD_NOW);
}

/*
 * Before `iterprof record` runs anything: find the command the way a shell
 * would, and tell whether the dynamic loader will honour LD_PRELOAD for it.
 *
 * The shim is injected with LD_PRELOAD, which the loader silently ignores for
 * a static binary (no program interpreter) and for a program run in secure
 * mode (set-user-ID or set-group-ID). Without this check such a run would
 * "succeed" and record nothing; with it, the user hears why before the
 * benchmark wastes their time.
 *
 * Both functions return 0 or -errno and put a one-line reason in @why (no
 * "iterprof:" prefix and no file name: the caller prints "<command>: <why>").
 * -ENOENT means "not found" (a shell's exit 127); any other error means
 * "found but cannot be run under the shim" (a shell's exit 126).
 */
#ifndef ITERPROF_EXEC_CHECK_H
#define ITERPROF_EXEC_CHECK_H

#include <stddef.h>

/*
 * Resolve @command as a shell does: a name containing '/' is used as is,
 * otherwise the first executable regular file named @command in $PATH (or the
 * system default path when PATH is unset; an empty PATH entry is the current
 * directory). On success *@resolved is a malloc'd path the caller frees.
 */
int exec_check_resolve(const char *command, char **resolved, char *why,
		       size_t why_len);

/*
 * Check that @path is an executable regular file into which the loader will
 * preload a library: a dynamically linked ELF (it has PT_INTERP), not
 * set-user-ID/set-group-ID; or a "#!" script (or a file the shell would run
 * with /bin/sh) whose interpreter passes the same ELF checks, one level deep.
 */
int exec_check_preloadable(const char *path, char *why, size_t why_len);

#endif /* ITERPROF_EXEC_CHECK_H */

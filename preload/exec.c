/*
 * exec* wrappers. A successful exec replaces the process image without
 * running exit handlers, so without these the trace of the old image would
 * have no footer and read as "truncated". Each wrapper writes the footer
 * (reason ITP_END_EXEC) and calls the real function; if that returns, the
 * exec failed and the footer is taken back so recording goes on.
 *
 * Every public exec function is wrapped because glibc's execv, execvp and
 * execl* call execve internally, past any interposition. posix_spawn and
 * system() exec in a child that shares our memory (CLONE_VFORK): they are
 * not wrapped, and trace_writer_close refuses to act outside the process
 * that owns the file. The real functions are looked up with
 * dlsym(RTLD_NEXT) on first use: exec is never a hot path.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_LIST_ARGS 4096 /* execl* arguments kept on the stack */

extern char **environ;

static void *real_function(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Call @call with the trace closed; reopen it when exec fails. */
#define WRAP_EXEC(name, type, ...)                                                 \
	do {                                                                       \
		static type real;                                                  \
		bool was_closed;                                                   \
		int result, saved_errno;                                           \
                                                                                   \
		if (!real)                                                         \
			real = (type)real_function(name);                          \
		if (!real) {                                                       \
			errno = ENOSYS;                                            \
			return -1;                                                 \
		}                                                                  \
		was_closed = shim_before_exec();                                   \
		result = real(__VA_ARGS__);                                        \
		saved_errno = errno;                                               \
		shim_after_failed_exec(was_closed);                                \
		errno = saved_errno;                                               \
		return result;                                                     \
	} while (0)

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	WRAP_EXEC("execve", execve_fn, path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	WRAP_EXEC("execv", execv_fn, path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	WRAP_EXEC("execvp", execv_fn, file, argv);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	WRAP_EXEC("execvpe", execve_fn, file, argv, envp);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	WRAP_EXEC("fexecve", fexecve_fn, fd, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		    int flags)
{
	WRAP_EXEC("execveat", execveat_fn, dirfd, path, argv, envp, flags);
}

/*
 * execl, execlp, execle: collect the variadic list into an argv on the stack
 * and go through the wrappers above. execle's environment follows the
 * terminating NULL.
 */
enum exec_list_kind { EXEC_LIST_PATH, EXEC_LIST_SEARCH, EXEC_LIST_ENVP };

static int exec_list(enum exec_list_kind kind, const char *path, const char *arg0, va_list ap)
{
	char *argv[MAX_LIST_ARGS + 1];
	char **envp = environ;
	int n = 0;

	argv[n++] = (char *)arg0;
	while (arg0 && n < MAX_LIST_ARGS) {
		argv[n] = va_arg(ap, char *);
		if (!argv[n])
			break;
		n++;
	}
	if (n == MAX_LIST_ARGS) {
		errno = E2BIG;
		return -1;
	}
	if (kind == EXEC_LIST_ENVP)
		envp = va_arg(ap, char **);
	if (kind == EXEC_LIST_SEARCH)
		return execvp(path, argv);
	return execve(path, argv, envp);
}

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int result;

	va_start(ap, arg);
	result = exec_list(EXEC_LIST_PATH, path, arg, ap);
	va_end(ap);
	return result;
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int result;

	va_start(ap, arg);
	result = exec_list(EXEC_LIST_SEARCH, file, arg, ap);
	va_end(ap);
	return result;
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int result;

	va_start(ap, arg);
	result = exec_list(EXEC_LIST_ENVP, path, arg, ap);
	va_end(ap);
	return result;
}

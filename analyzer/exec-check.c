/*
 * Find a command and check that LD_PRELOAD will reach it. See exec-check.h.
 *
 * Why PT_INTERP and not PT_DYNAMIC: a static-pie binary has a PT_DYNAMIC
 * segment (it relocates itself) but no program interpreter, and only the
 * interpreter (ld.so) reads LD_PRELOAD. Detectors that test PT_DYNAMIC call
 * static-pie binaries dynamic and then record nothing.
 */
#define _GNU_SOURCE /* asprintf, AT_EACCESS */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "exec-check.h"

/* The kernel reads this much of a file to find "#!" and the interpreter
 * (BINPRM_BUF_SIZE). */
#define EXEC_CHECK_HEAD_SIZE 256

/* What the kernel and the shell do with a file, from its first bytes. */
enum exec_format {
	EXEC_FORMAT_ELF,
	EXEC_FORMAT_SCRIPT, /* "#!interpreter" */
	EXEC_FORMAT_SHELL,  /* anything else: execvp() and shells run it with /bin/sh */
};

static int fail(int err, char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int err, char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return err;
}

static bool is_executable_file(const char *path)
{
	struct stat st;

	/* AT_EACCESS: exec checks the effective ids, as a shell's search does. */
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

static bool is_regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Returns a malloc'd "dir/name" (the caller frees it), or NULL. */
static char *join_path(const char *dir, size_t dir_len, const char *name)
{
	char *path;

	if (dir_len == 0) { /* an empty PATH entry means the current directory */
		dir = ".";
		dir_len = 1;
	}
	if (asprintf(&path, "%.*s/%s", (int)dir_len, dir, name) < 0)
		return NULL;
	return path;
}

int exec_check_resolve(const char *command, char **resolved, char *why,
		       size_t why_len)
{
	const char *search = getenv("PATH");
	char default_path[256];
	char *not_executable = NULL;

	*resolved = NULL;
	if (!*command)
		return fail(-ENOENT, why, why_len, "command not found");
	if (strchr(command, '/')) {
		if (access(command, F_OK) != 0 && errno == ENOENT)
			return fail(-ENOENT, why, why_len, "no such file or directory");
		*resolved = strdup(command);
		return *resolved ? 0 : fail(-ENOMEM, why, why_len, "out of memory");
	}
	if (!search) {
		size_t n = confstr(_CS_PATH, default_path, sizeof(default_path));

		if (n == 0 || n > sizeof(default_path))
			strcpy(default_path, "/bin:/usr/bin");
		search = default_path;
	}
	for (const char *entry = search;; entry++) {
		size_t len = strcspn(entry, ":");
		char *candidate = join_path(entry, len, command);

		if (!candidate) {
			free(not_executable);
			return fail(-ENOMEM, why, why_len, "out of memory");
		}
		if (is_executable_file(candidate)) {
			free(not_executable);
			*resolved = candidate;
			return 0;
		}
		/* Like bash: a non-executable file is only reported (126) when
		 * no executable one comes later in PATH. */
		if (!not_executable && is_regular_file(candidate))
			not_executable = candidate;
		else
			free(candidate);
		entry += len;
		if (!*entry)
			break;
	}
	if (not_executable) {
		*resolved = not_executable;
		return 0;
	}
	return fail(-ENOENT, why, why_len, "command not found");
}

/* Stat @path and check that exec would accept it as a file to run. */
static int check_runnable(const char *path, struct stat *st, char *why,
			  size_t why_len)
{
	if (stat(path, st) != 0) {
		int err = errno;

		return fail(err == ENOTDIR ? -ENOENT : -err, why, why_len, "%s",
			    strerror(err));
	}
	if (S_ISDIR(st->st_mode))
		return fail(-EISDIR, why, why_len, "is a directory");
	if (!S_ISREG(st->st_mode))
		return fail(-EACCES, why, why_len, "not a regular file");
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0)
		return fail(-EACCES, why, why_len,
			    "permission denied (not executable: chmod +x it)");
	return 0;
}

/*
 * Secure mode: the loader drops LD_PRELOAD when exec changes the process's
 * credentials. The kernel ignores these bits on "#!" scripts, so only ELF
 * files are checked. A set-group-ID bit without group execute is the
 * mandatory-locking mark, not set-group-ID.
 */
static int check_not_secure(const char *path, const struct stat *st, char *why,
			    size_t why_len)
{
	if (st->st_mode & S_ISUID)
		return fail(-EPERM, why, why_len,
			    "set-user-ID, so the loader runs it in secure mode and "
			    "ignores LD_PRELOAD (record a copy without the bit: "
			    "chmod u-s)");
	if ((st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP))
		return fail(-EPERM, why, why_len,
			    "set-group-ID, so the loader runs it in secure mode and "
			    "ignores LD_PRELOAD (record a copy without the bit: "
			    "chmod g-s)");
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		return fail(-EPERM, why, why_len,
			    "has file capabilities, so the loader runs it in secure "
			    "mode and ignores LD_PRELOAD (record a copy without "
			    "them: setcap -r)");
	return 0;
}

/*
 * The loader named by PT_INTERP must exist, or exec fails with ENOENT on a
 * file that plainly exists (a binary built for musl on a glibc system, or
 * for another distribution's loader path). Shells say "required file not
 * found", exit 127; we say which file.
 */
static int check_loader_present(int fd, const GElf_Phdr *interp, char *why,
				size_t why_len)
{
	char loader[PATH_MAX];
	ssize_t n;

	if (interp->p_filesz < 2 || interp->p_filesz > sizeof(loader))
		return 0; /* malformed: let exec say what it thinks */
	n = pread(fd, loader, interp->p_filesz, (off_t)interp->p_offset);
	if (n != (ssize_t)interp->p_filesz || loader[n - 1] != 0)
		return 0;
	if (access(loader, F_OK) != 0 && errno == ENOENT)
		return fail(-ENOENT, why, why_len,
			    "its program interpreter %s does not exist (built "
			    "for another system or C library?)", loader);
	return 0;
}

/* Does the ELF file open on @fd have a program interpreter? */
static int check_elf_interpreter(int fd, char *why, size_t why_len)
{
	GElf_Ehdr ehdr;
	GElf_Phdr interp;
	size_t count;
	bool has_interp = false;
	Elf *elf;
	int err = 0;

	/* A libelf too old for this ELF version cannot tell us anything:
	 * let the run go ahead rather than refuse a good program. */
	if (elf_version(EV_CURRENT) == EV_NONE)
		return 0;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) ||
	    elf_getphdrnum(elf, &count) != 0) {
		err = fail(-ENOEXEC, why, why_len, "not a valid ELF file (%s)",
			   elf_errmsg(-1));
		goto out;
	}
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
		err = fail(-ENOEXEC, why, why_len,
			   "not an executable ELF file (ELF type %u)",
			   (unsigned)ehdr.e_type);
		goto out;
	}
	for (size_t i = 0; i < count && !has_interp; i++) {
		if (gelf_getphdr(elf, (int)i, &interp) && interp.p_type == PT_INTERP)
			has_interp = true;
	}
	if (!has_interp)
		err = fail(-ENOEXEC, why, why_len,
			   "statically linked (no program interpreter), so the "
			   "shim cannot be preloaded (link it dynamically, e.g. "
			   "without -static/-static-pie)");
	else
		err = check_loader_present(fd, &interp, why, why_len);
out:
	elf_end(elf); /* accepts NULL */
	return err;
}

/*
 * Read the first bytes of @path into @head (NUL-terminated) and classify
 * them. An unreadable file (mode --x) cannot be inspected: it is reported as
 * ELF with *fd = -1, and the run goes ahead unchecked.
 */
static enum exec_format read_format(const char *path, int *fd,
				    char head[EXEC_CHECK_HEAD_SIZE + 1])
{
	ssize_t n;

	head[0] = 0;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return EXEC_FORMAT_ELF;
	do
		n = pread(*fd, head, EXEC_CHECK_HEAD_SIZE, 0);
	while (n < 0 && errno == EINTR);
	head[n > 0 ? n : 0] = 0;
	if (n >= 4 && !memcmp(head, "\177ELF", 4))
		return EXEC_FORMAT_ELF;
	if (n >= 2 && head[0] == '#' && head[1] == '!')
		return EXEC_FORMAT_SCRIPT;
	return EXEC_FORMAT_SHELL;
}

/* Checks of one ELF file: secure mode first (it applies even when the file
 * cannot be read), then the interpreter. */
static int check_elf(const char *path, const struct stat *st, int fd, char *why,
		     size_t why_len)
{
	int err = check_not_secure(path, st, why, why_len);

	if (err || fd < 0)
		return err;
	return check_elf_interpreter(fd, why, why_len);
}

/*
 * The interpreter named after "#!": up to the first blank or newline, as the
 * kernel parses it. Returns a malloc'd string (the caller frees it), "" when
 * none is named, or NULL when out of memory.
 */
static char *script_interpreter(const char *head)
{
	const char *start = head + 2 + strspn(head + 2, " \t");

	return strndup(start, strcspn(start, " \t\n"));
}

/* One level: the interpreter must itself be a preloadable ELF (an
 * interpreter that is a script is accepted unchecked). */
static int check_interpreter(const char *interp, char *why, size_t why_len)
{
	char head[EXEC_CHECK_HEAD_SIZE + 1];
	char reason[256];
	struct stat st;
	int fd;
	int err;

	err = check_runnable(interp, &st, reason, sizeof(reason));
	if (err)
		return fail(err, why, why_len, "bad interpreter %s: %s", interp,
			    reason);
	if (read_format(interp, &fd, head) == EXEC_FORMAT_ELF) {
		err = check_elf(interp, &st, fd, reason, sizeof(reason));
		if (err)
			fail(err, why, why_len, "interpreter %s: %s", interp, reason);
	}
	if (fd >= 0)
		close(fd);
	return err;
}

int exec_check_preloadable(const char *path, char *why, size_t why_len)
{
	char head[EXEC_CHECK_HEAD_SIZE + 1];
	enum exec_format format;
	char *interp;
	struct stat st;
	int fd;
	int err;

	err = check_runnable(path, &st, why, why_len);
	if (err)
		return err;
	format = read_format(path, &fd, head);
	switch (format) {
	case EXEC_FORMAT_ELF:
		err = check_elf(path, &st, fd, why, why_len);
		break;
	case EXEC_FORMAT_SCRIPT:
		interp = script_interpreter(head);
		if (!interp)
			err = fail(-ENOMEM, why, why_len, "out of memory");
		else if (!*interp)
			err = fail(-ENOEXEC, why, why_len,
				   "no interpreter named after #!");
		else
			err = check_interpreter(interp, why, why_len);
		free(interp);
		break;
	case EXEC_FORMAT_SHELL:
		err = check_interpreter("/bin/sh", why, why_len);
		break;
	}
	if (fd >= 0)
		close(fd);
	return err;
}

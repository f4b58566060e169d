/*
 * errno-calls: the interposed memory calls (mmap, mmap64, mprotect,
 * pkey_mprotect, mremap) made to fail in each way the kernel reports, and
 * to succeed with PROT_EXEC, each printed as its result and errno, so that
 * a run under the shim is compared line by line with a plain run
 * (tests/e2e/test_shim_transparency.py). Before every call errno is set to
 * a marker value: a success must leave it as the real call would. The calls
 * run inside one iteration of region "calls"; the successful executable
 * ones are EXEC_CALLS (printed), which the shim must count as code events.
 * Addresses are printed as relations ("at the address asked"), never raw.
 * ENOSYS (pkey_mprotect on an old kernel) prints the same with or without
 * the shim too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iterprof/iterprof.h"

#define MARK 9999
#define PAGE 4096

static void show(const char *what, int failed)
{
	int err = errno;

	printf("%-40s %s errno=%s\n", what, failed ? "fail" : "ok",
	       err == MARK ? "unchanged" : strerrorname_np(err) ? strerrorname_np(err) : "?");
}

static void *checked_map(const char *what, void *p)
{
	show(what, p == MAP_FAILED);
	return p == MAP_FAILED ? NULL : p;
}

/* A range nothing maps: the allocator works top-down from far above 8 GiB
 * and only a MAP_FIXED_NOREPLACE probe (undone at once) touches it. */
static void *unmapped_range(size_t len)
{
	for (uintptr_t a = (uintptr_t)1 << 33; a < (uintptr_t)1 << 40; a <<= 1) {
		void *p = mmap((void *)a, len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == (void *)a) {
			munmap(p, len);
			return p;
		}
		if (p != MAP_FAILED)
			munmap(p, len);
	}
	return NULL;
}

int main(void)
{
	char file[] = "/tmp/iterprof-errno-calls-XXXXXX";
	int fd = mkstemp(file), ro;
	void *p, *q, *shared, *target, *hole = unmapped_range(4 * PAGE);
	int exec_calls = 0;

	if (fd < 0 || ftruncate(fd, 4 * PAGE) || (ro = open(file, O_RDONLY)) < 0 || !hole) {
		perror("errno-calls: setting up");
		return 2;
	}
	unlink(file);
	/* Where mremap MREMAP_FIXED moves a range (it replaces this). */
	target = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	if (target == MAP_FAILED || shared == MAP_FAILED) {
		perror("errno-calls: mmap");
		return 2;
	}

	iterprof_iter_begin("calls");
	errno = MARK;
	checked_map("mmap len 0 (EINVAL)", mmap(NULL, 0, PROT_READ | PROT_EXEC,
						  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	errno = MARK;
	checked_map("mmap bad fd (EBADF)", mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, 77,
						  0));
	errno = MARK;
	checked_map("mmap rw-shared of a read-only fd (EACCES)",
		    mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, ro, 0));
	errno = MARK;
	checked_map("mmap huge (ENOMEM)", mmap(NULL, (SIZE_MAX >> 1) & ~(size_t)(PAGE - 1),
					       PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
					       -1, 0));
	errno = MARK;
	checked_map("mmap64 len 0 (EINVAL)", mmap64(NULL, 0, PROT_READ | PROT_EXEC,
						    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	errno = MARK;
	p = checked_map("mmap exec anonymous", mmap(NULL, 2 * PAGE, PROT_READ | PROT_EXEC,
						    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	exec_calls += p != NULL;
	errno = MARK;
	q = checked_map("mmap64 exec of the file", mmap64(NULL, PAGE, PROT_READ | PROT_EXEC,
							  MAP_PRIVATE, ro, 0));
	exec_calls += q != NULL;
	errno = MARK;
	show("mmap fixed-noreplace on it (EEXIST)",
	     mmap(p, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		  -1, 0) == MAP_FAILED);

	errno = MARK;
	show("mprotect unaligned (EINVAL)", mprotect((char *)p + 1, PAGE, PROT_READ | PROT_EXEC));
	errno = MARK;
	show("mprotect unmapped (ENOMEM)", mprotect(hole, PAGE, PROT_READ | PROT_EXEC));
	errno = MARK;
	show("mprotect write of a shared read-only file (EACCES)",
	     mprotect(shared, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) != 0);
	errno = MARK;
	show("mprotect exec", mprotect(p, PAGE, PROT_READ | PROT_EXEC) != 0);
	exec_calls++;
	errno = MARK;
	show("mprotect read only", mprotect(p, PAGE, PROT_READ) != 0);
	errno = MARK;
	show("pkey_mprotect bad key (EINVAL)", pkey_mprotect(p, PAGE, PROT_READ | PROT_EXEC, 999));
	errno = MARK;
	show("pkey_mprotect unmapped (ENOMEM)", pkey_mprotect(hole, PAGE, PROT_EXEC, -1));
	errno = MARK;
	if (pkey_mprotect(p, PAGE, PROT_READ | PROT_EXEC, -1) == 0) {
		show("pkey_mprotect exec", 0);
		exec_calls++;
	} else {
		show("pkey_mprotect exec", 1);
	}

	errno = MARK;
	show("mremap unmapped (EFAULT)", mremap(hole, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED);
	errno = MARK;
	show("mremap bad flags (EINVAL)", mremap(p, PAGE, PAGE, 0x40000) == MAP_FAILED);
	errno = MARK;
	show("mremap fixed without maymove (EINVAL)",
	     mremap(p, PAGE, PAGE, MREMAP_FIXED, target) == MAP_FAILED);
	errno = MARK;
	/* The fifth argument must reach the kernel: the range lands at @target. */
	q = mremap(p, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	show(q == target ? "mremap fixed (at the address asked)" : "mremap fixed (elsewhere)",
	     q == MAP_FAILED);
	exec_calls += q != MAP_FAILED;
	errno = MARK;
	show("munmap", munmap(target, 4 * PAGE) != 0);
	iterprof_iter_end("calls");
	printf("exec calls %d\n", exec_calls);
	return 0;
}

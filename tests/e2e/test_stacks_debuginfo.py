#!/usr/bin/env python3
"""Call stacks symbolised from separate debug information under
/usr/lib/debug (doc/stacks.md, "Names"; analyzer/symbolize.c: libdwfl's
standard debuginfo lookup by build-id).

A small program is built here with -g and a build-id of its own (random per
run: no installed debug file can match it by chance), its debug information
split off with `objcopy --only-keep-debug` and the program stripped of
everything but its dynamic symbols (`objcopy --strip-all`): its code has no
name, file or line of its own. Its iterations touch fresh pages in
touch_pages at the line marked LINE:touch. Recorded once with
--stacks=all (names are found at report time, not when recording):
 - reported without the debug file: no frame of the program names
   touch_pages or a file:line (else the check below proves nothing);
 - reported with the debug file installed at
   /usr/lib/debug/.build-id/<xx>/<rest>.debug: the page-fault samples' stacks
   name touch_pages at debugprog.c:<LINE:touch>, and its caller do_iteration,
   in the program's module; the text report shows
   "touch_pages (debugprog.c:LINE)".
The debug file is removed afterwards whatever happens. Writing
/usr/lib/debug needs root: without it the test is skipped, saying so.

Why not libc6-dbg (Debian's separate debug files for glibc) in scripts/deps:
it is ~60 MB to download and install, and only test-symbolize's
test_rebuilt_with_debug_file uses it (that test skips without it); this test
covers the same lookup with a file made for it, on every machine where the
tests run as root.
"""
import os
import secrets
import shutil
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, SOURCE_DIR, Workdir, cause_stacks, expect, main,  # noqa: E402
                     run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEBUG_ROOT = "/usr/lib/debug/.build-id"
PAGES = 512
N = 40

PROGRAM = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <iterprof/iterprof.h>

__attribute__((noinline)) static void touch_pages(char *p, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		p[i * 4096] = (char)i; /* LINE:touch */
}

__attribute__((noinline)) static void do_iteration(size_t pages)
{
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	touch_pages(p, pages);
	__asm__ volatile("" : : "r"(p) : "memory");
	munmap(p, pages * 4096);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	size_t pages = argc > 2 ? (size_t)atoi(argv[2]) : 512;

	/* every tenth iteration touches 8 times the pages: slow by page
	 * faults, so that report always has stacks to show for a cause (a run
	 * flat from its first iteration had none) */
	for (int i = 0; i < n; i++) {
		iterprof_iter_begin("step");
		do_iteration(i % 10 == 9 ? 8 * pages : pages);
		iterprof_iter_end("step");
	}
	return 0;
}
"""


def touch_line():
    lines = [k for k, text in enumerate(PROGRAM.lstrip("\n").splitlines(), 1)
             if "LINE:touch" in text]
    expect(len(lines) == 1, "LINE:touch")
    return lines[0]


def program_frames(data, module):
    """Every frame of the program's module in the JSON report's stacks, and
    the stacks; (None, why) when stacks are unavailable."""
    stacks, error = cause_stacks(data)
    if stacks is None:
        return None, error
    return [f for stack in stacks for f in stack if f.get("module") == module], stacks


def test_separate_debug_file_gives_names_and_lines():
    if os.geteuid() != 0:
        print("skip: writing /usr/lib/debug/.build-id needs root")
        return
    for tool in ("cc", "objcopy"):
        if not shutil.which(tool):
            print(f"skip: no {tool}")
            return
    src = W.join("debugprog.c")
    with open(src, "w") as f:
        f.write(textwrap.dedent(PROGRAM).lstrip("\n"))
    build_id = secrets.token_hex(20)
    full, prog = W.join("debugprog.full"), W.join("debugprog")
    run(["cc", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls",
         f"-Wl,--build-id=0x{build_id}", "-I", os.path.join(SOURCE, "include"), "-o", full,
         src], check=0)
    debug_dir = os.path.join(DEBUG_ROOT, build_id[:2])
    debug_file = os.path.join(debug_dir, build_id[2:] + ".debug")
    expect(not os.path.exists(debug_file), f"{debug_file} exists already")
    run(["objcopy", "--strip-all", full, prog], check=0)
    os.chmod(prog, 0o755)
    syms = run(["readelf", "-sW", prog], check=0).stdout
    expect("touch_pages" not in syms and "do_iteration" not in syms,
           f"{prog} still names its functions:\n{syms}")
    line = touch_line()

    data = W.join("debug.data")
    run([ITERPROF, "record", "-q", "--no-env", "-o", data, "--stacks=all", "--stack-faults",
         "8", "--", prog, str(N), str(PAGES)], timeout=120, check=0)
    ours, stacks = program_frames(data, "debugprog")
    if ours is None:
        print(f"skip: stacks unavailable: {stacks}")
        return
    expect(ours, f"no frame in the module debugprog: {stacks[:5]}")
    named = [f for f in ours if f.get("function") or f.get("file")]
    expect(not named, f"without the debug file, frames of the stripped program have names "
           f"or lines: {named[:5]}")

    made_dir = not os.path.isdir(debug_dir)
    try:
        os.makedirs(debug_dir, exist_ok=True)
        run(["objcopy", "--only-keep-debug", full, debug_file], check=0)
        ours, stacks = program_frames(data, "debugprog")
        at_line = [f for f in ours if f.get("function") == "touch_pages"
                   and (f.get("file") or "").endswith("debugprog.c") and f.get("line") == line]
        expect(at_line, f"with {debug_file}: no frame touch_pages (debugprog.c:{line}):\n"
               + "\n".join(" <- ".join(f"{f.get('function')} ({f.get('file')}:{f.get('line')})"
                                       f" [{f.get('module')}]" for f in s) for s in stacks[:5]))
        callers = {f.get("function") for f in ours}
        expect({"do_iteration", "main"} <= callers,
               f"with {debug_file}: the callers are not named: {sorted(map(str, callers))}")
        text = " ".join(run([ITERPROF, "report", data], check=0).stdout.split())
        expect(f"touch_pages (debugprog.c:{line})" in text,
               f"the text report lacks 'touch_pages (debugprog.c:{line})':\n{text[:3000]}")
    finally:
        if os.path.exists(debug_file):
            os.unlink(debug_file)
        if made_dir:
            try:
                os.rmdir(debug_dir)
            except OSError:
                pass


if __name__ == "__main__":
    main([test_separate_debug_file_gives_names_and_lines], workdir=W)

"""End-to-end: the shim's interposed calls never change what the program sees.

The shim exports mmap, mmap64, mprotect, pkey_mprotect, mremap and dlopen
(to count code made executable). Each program here (tests/shim/, built into
build/tests/shim) prints what its calls returned; it runs plainly, with the
shim preloaded (inert: no ITERPROF_OUTPUT, but every wrapper in place) and
under `iterprof record`, and the three outputs must be identical. Expected
lines are also checked directly, so that the comparison cannot pass on a
program that does nothing.

- dlopen searches a bare name along the RPATH/RUNPATH of its caller and
  expands $ORIGIN for it; the wrapper must search for the program's caller,
  not for libiterprof.so (search-host + libshimt-mid-*.so).
- failing calls keep their result and errno; successful ones leave errno
  alone (errno-calls), and the successful executable ones are counted.
- the wrappers work before the shim's constructor and while the shim's own
  dlsym lookup is under way (libshimt-early.so interposes dlsym).
"""
import os
import re

from harness import (BUILD_DIR, SHIM, Workdir, expect, main, record, regions,
                     report_json, run)

W = Workdir()
SHIM_DIR = os.path.join(BUILD_DIR, "tests", "shim")


def shimt(name):
    return os.path.join(SHIM_DIR, name)


def three_runs(cmd, name, preload=None):
    """stdout of CMD plain, with the shim preloaded and under record; all
    three must be equal. PRELOAD, a library preloaded after the shim (and
    alone in the plain run). Returns (plain stdout, record's run)."""
    plain = run(cmd, env={"LD_PRELOAD": preload} if preload else None, check=0)
    shim_first = ":".join(p for p in (SHIM, preload) if p)
    preloaded = run(cmd, env={"LD_PRELOAD": shim_first}, check=0)
    # through env(1), so that `iterprof record` itself does not load PRELOAD
    recorded = record(W.join(name), ["env", f"LD_PRELOAD={shim_first}", *cmd] if preload
                      else cmd, options=["--force"])
    for label, p in (("preloaded", preloaded), ("recorded", recorded)):
        expect(p.stdout == plain.stdout,
               f"{name}: {label} output differs from the plain run:\n"
               f"--- plain\n{plain.stdout}--- {label}\n{p.stdout}")
    return plain.stdout, recorded


def test_dlopen_searches_for_the_caller():
    found = {"runpath": True, "rpath": True, "plain": False}
    for host in ("search-host", "search-host-runpath"):
        for variant, is_found in found.items():
            mid = shimt(f"libshimt-mid-{variant}.so")
            out, _ = three_runs([shimt(host), mid], f"{host}-{variant}")
            lines = dict(line.split(": ", 1) for line in out.splitlines())
            # the plug-in is in MID's $ORIGIN/sub: found by a bare name only
            # through MID's RUNPATH or RPATH (the program's RUNPATH is not
            # searched for a call made by MID)
            want = "ok shimt_foo=42 errno=4321" if is_found else None
            if want:
                expect(lines["bare"] == want and lines["again"] == want,
                       f"{host} {variant}: {out}")
                expect(lines["again is bare"] == "1" and
                       lines["bare-from-main is bare"] == "1", f"{host} {variant}: {out}")
            else:
                expect(lines["bare"].startswith("fail: libshimt-foo.so: cannot open"),
                       f"{host} {variant}: {out}")
            # a library the program loads itself once MID opened it by name
            main_found = is_found or host == "search-host-runpath"
            expect(lines["bare-from-main"].startswith("ok") == main_found,
                   f"{host} {variant}: {out}")
            # $ORIGIN in a file name is MID's directory, whatever MID's tags
            expect(lines["origin-in-name"] == "ok shimt_foo=42 errno=4321",
                   f"{host} {variant}: {out}")
            expect(re.fullmatch(r"fail: libshimt-missing\.so: cannot open shared object file: "
                                r"No such file or directory", lines["missing"]),
                   f"{host} {variant}: {out}")
            expect(lines["missing-origin"].startswith(
                "fail: $ORIGIN/sub/libshimt-missing.so: cannot open"), f"{host} {variant}: {out}")
            expect(lines["loaded is loaded-from-main"] == "1", f"{host} {variant}: {out}")


def test_memory_calls_keep_result_and_errno():
    out, _ = three_runs([shimt("errno-calls")], "errno-calls")
    lines = {}
    for line in out.splitlines()[:-1]:
        what, result, errno = line.rsplit(None, 2)
        lines[what] = (result, errno)
    for what, want in (("mmap len 0 (EINVAL)", ("fail", "errno=EINVAL")),
                       ("mmap rw-shared of a read-only fd (EACCES)", ("fail", "errno=EACCES")),
                       ("mmap huge (ENOMEM)", ("fail", "errno=ENOMEM")),
                       ("mmap64 len 0 (EINVAL)", ("fail", "errno=EINVAL")),
                       ("mprotect unmapped (ENOMEM)", ("fail", "errno=ENOMEM")),
                       ("mprotect write of a shared read-only file (EACCES)",
                        ("fail", "errno=EACCES")),
                       ("mremap unmapped (EFAULT)", ("fail", "errno=EFAULT")),
                       ("mmap exec anonymous", ("ok", "errno=unchanged")),
                       ("mprotect exec", ("ok", "errno=unchanged")),
                       ("mremap fixed (at the address asked)", ("ok", "errno=unchanged"))):
        expect(lines.get(what) == want, f"{what}: {lines.get(what)}, expected {want}\n{out}")
    # the wrappers were on the path: each successful executable call is one
    # code event of the iteration that made it
    exec_calls = int(out.splitlines()[-1].split()[-1])
    calls = regions(report_json(W.join("errno-calls"), ["--iterations"]), "calls")
    expect(len(calls) == 1 and calls[0]["iterations"] == 1, f"one iteration: {calls}")
    counters = calls[0]["per_iteration"][0]["counters"]
    expect(exec_calls >= 4 and counters.get("code-events") == exec_calls,
           f"code events {counters.get('code-events')}, expected {exec_calls}")


def test_early_start_up_and_dlsym_recursion():
    early = shimt("libshimt-early.so")
    cmd = [shimt("early-main")]
    # record puts the shim first: the helper's constructor then runs before
    # the shim's
    out, recorded = three_runs(cmd, "early", preload=early)
    expect(out == ("early: mmap exec ok\nearly: generated code ran\n"
                   "early: dlopen libm ok, cos(0) = 1\nmain: mmap exec ok, dlopen libm ok\n"),
           out)
    # and the helper first: the shim's constructor runs first
    helper_first = run(cmd, env={"LD_PRELOAD": f"{early}:{SHIM}"}, check=0)
    expect(helper_first.stdout == out, f"helper first:\n{helper_first.stdout}")
    # the shim's lookups of the real functions came through the helper's
    # dlsym, which called back into the wrappers during the lookup
    for label, p in (("record", recorded), ("helper first", helper_first)):
        m = re.search(r"early-helper: lookups of memory calls: (\d+)", p.stderr)
        expect(m and int(m.group(1)) >= 1, f"{label}: no lookup came through: {p.stderr}")


if __name__ == "__main__":
    main([test_dlopen_searches_for_the_caller, test_memory_calls_keep_result_and_errno,
          test_early_start_up_and_dlsym_recursion], workdir=W)

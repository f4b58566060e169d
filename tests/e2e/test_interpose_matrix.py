#!/usr/bin/env python3
"""End-to-end: `iterprof record -f FUNC` over the corpus in tests/interpose/,
built every way a user's benchmark might be built.

Matrix, per program: {gcc, clang} (g++/clang++ for C++) x {-O0 -O1 -O2 -O3
-Os} x {PIE (-fPIE -pie), non-PIE (-fno-pie -no-pie)} x
{-fcf-protection=full, -fcf-protection=none}: 40 builds, 2 at a time. A
compiler that is not installed is skipped with a printed reason.

Each build is checked in two steps.

Plain (always): the build has the benchmarked functions as symbols of their
own (`nm`: defined, not cloned by GCC into `.constprop`/`.isra` copies that
would take the calls), the program exits with its documented status, writes
nothing on stderr, prints a `calls NAME N [outer M] [abnormal K]` line per
function, and prints the same stdout in every build of the matrix (the
checksums do not depend on compiler or flags).

Recorded (unless ITERPROF_INTERPOSE_PLAIN_ONLY=1), twice: with the default
counters (the full path of the trampolines) and with --no-counters (the fast
path, patch-fast.c, wherever the TSC is the clock):
`iterprof record -q [--no-counters] -f PATTERN... -o DIR -- PROG`, then
`iterprof report --format json DIR`:
  - exit status and stdout are those of the plain run; stderr is the plain
    run's once the lines starting with "iterprof" are taken out;
  - one process was recorded, and it has no region other than the requested
    functions;
  - the iterations of the region named after each function (summed over the
    threads) equal the printed true count; for recursion the outermost
    calls ("outer M"), since only the outermost call per thread is an
    iteration;
  - threads.c: one stream per thread, and the per-thread iteration counts are
    the per-thread call counts the program printed;
  - calls that leave by a C++ exception or longjmp ("abnormal K"): the
    recorded count may fall short of the true one by at most K, and only if
    the process's `dropped` is at least the total shortfall of the process:
    the patcher may give up on an iteration whose function never returned,
    but must say so. The program must not crash and its output must not
    change;
  - tiny.c's `id` may be too short to patch (3 bytes at -O1 and above): then
    stderr must have a line containing "refused" and "id" and the report
    no region `id`; otherwise the count must be exact. tiny is recorded
    without -q so that the refusal is printed whatever -q silences.

Region names: the demangled name without parameters (`ns::Worker::step`) is
what the program prints; the full demangled name with parameters
(`ns::Worker::step(int)`, `int ns::scale<int>(int, int)`) is accepted too.

libitp_work.so's lib_step is requested as `lib_step@libitp_work.so` in PIE
builds and as plain `lib_step` in non-PIE builds; ns::Worker::step and
ns::scale<int> by their mangled names in non-PIE builds and by their
demangled names in PIE builds (the region is the demangled name either way).

Environment: ITERPROF_INTERPOSE_PLAIN_ONLY=1 builds and runs without
iterprof; ITERPROF_INTERPOSE_PROGRAMS=a,b limits the programs;
ITERPROF_INTERPOSE_CONFIGS=REGEX limits the builds by name (e.g.
'gcc-O2-pie-cfnone').
"""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, main, report_json, run_group  # noqa: E402

SOURCE_DIR = os.environ.get(
    "ITERPROF_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CORPUS = os.path.join(SOURCE_DIR, "tests", "interpose")
PLAIN_ONLY = os.environ.get("ITERPROF_INTERPOSE_PLAIN_ONLY", "") not in ("", "0")
ONLY_PROGRAMS = [p for p in os.environ.get("ITERPROF_INTERPOSE_PROGRAMS", "").split(",") if p]
ONLY_CONFIGS = re.compile(os.environ.get("ITERPROF_INTERPOSE_CONFIGS", ""))
WORKERS = 2
LIBRARY = "libitp_work.so"

COMPILERS = {"c": {"gnu": "gcc", "llvm": "clang"},
             "c++": {"gnu": "g++", "llvm": "clang++"}}
OPT_LEVELS = ["-O0", "-O1", "-O2", "-O3", "-Os"]

CALLS_LINE = re.compile(r"^calls (\S+) (\d+)(?: outer (\d+))?(?: abnormal (\d+))?$")
THREAD_CALLS_LINE = re.compile(r"^thread-calls (\S+)((?: \d+)+)$")

W = Workdir()


class Target:
    """A benchmarked function. NAME is the demangled name without
    parameters (what the program prints, and the expected region name);
    FULL what `nm -C` prints for it; MANGLED its symbol, when it differs;
    MODULE the file defining it, when not the executable."""

    def __init__(self, name, full=None, module=None, mangled=None):
        self.name = name
        self.full = full or name
        self.module = module
        self.mangled = mangled

    def pattern(self, config):
        """Half the builds (PIE or not) ask in another form the issue allows."""
        if self.module and config.pie:
            return f"{self.name}@{self.module}"
        if self.mangled and not config.pie:
            return self.mangled
        return self.name

    def region_names(self):
        return {self.name, self.full}


class Program:
    def __init__(self, name, lang, sources, targets, status=0, library=None,
                 may_refuse=False):
        self.name = name
        self.lang = lang
        self.sources = sources
        self.targets = targets
        self.status = status
        self.library = library          # sources of libitp_work.so, if any
        self.may_refuse = may_refuse    # a target may be refused as too short


PROGRAMS = [
    Program("exe_funcs", "c", ["exe_funcs.c"],
            [Target("mix_static"), Target("mix_exported"), Target("by_pointer"),
             Target("compare_keys")], status=3),
    Program("shlib", "c", ["shlib_main.c"], [Target("lib_step", module=LIBRARY)],
            library=["libitp_work.c"]),
    Program("recursive", "c", ["recursive.c"], [Target("fib"), Target("descend")]),
    Program("threads", "c", ["threads.c"], [Target("thread_step")]),
    Program("longjmp", "c", ["longjmp.c"],
            [Target("jumper"), Target("jumper_deep"), Target("jumps_inside")]),
    Program("many_args", "c", ["many_args.c"],
            [Target("many_args"), Target("sum_big"), Target("make_big"),
             Target("two_doubles"), Target("two_longs")]),
    Program("vector_math", "c", ["vector_math.c"],
            [Target("vec_step"), Target("sse_step"), Target("float_step"),
             Target("ld_step")]),
    Program("tiny", "c", ["tiny.c"], [Target("id")], may_refuse=True),
    Program("cxx_member", "c++", ["cxx_member.cc"],
            [Target("ns::Worker::step", "ns::Worker::step(int)",
                    mangled="_ZN2ns6Worker4stepEi"),
             Target("ns::Circle::area", "ns::Circle::area() const"),
             Target("ns::scale<int>", "int ns::scale<int>(int, int)",
                    mangled="_ZN2ns5scaleIiEET_S1_S1_")]),
    Program("cxx_exceptions", "c++", ["cxx_exceptions.cc"],
            [Target("ns::may_throw", "ns::may_throw(long)"),
             Target("ns::passes_through", "ns::passes_through(long)"),
             Target("ns::catches_inside", "ns::catches_inside(long)")]),
]


class Config:
    def __init__(self, family, compiler, opt, pie, cf):
        self.family, self.compiler, self.opt, self.pie, self.cf = family, compiler, opt, pie, cf
        self.name = f"{compiler}{opt}-{'pie' if pie else 'nopie'}-cf{cf}"

    def flags(self):
        pie = ["-fPIE", "-pie"] if self.pie else ["-fno-pie", "-no-pie"]
        return [self.opt, *pie, f"-fcf-protection={self.cf}"]


def configs(lang, skipped):
    out = []
    for family, compiler in COMPILERS[lang].items():
        if shutil.which(compiler) is None:
            skipped.add(f"{compiler}: not installed (not found in PATH)")
            continue
        for opt in OPT_LEVELS:
            for pie in (True, False):
                for cf in ("full", "none"):
                    c = Config(family, compiler, opt, pie, cf)
                    if ONLY_CONFIGS.search(c.name):
                        out.append(c)
    return out


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def sh(args, cwd=None, timeout=120):
    return run_group(args, timeout=timeout, cwd=cwd)


def build(prog, config, outdir):
    """Build PROG in OUTDIR; its executable's path."""
    os.makedirs(outdir, exist_ok=True)
    common = [config.compiler, *config.flags(), "-Wall", "-Wextra", "-I", CORPUS]
    exe = os.path.join(outdir, prog.name)
    link = ["-lpthread", "-lm"]
    if prog.library:
        p = sh([config.compiler, config.opt, f"-fcf-protection={config.cf}", "-fPIC",
                "-shared", "-Wall", "-Wextra", "-I", CORPUS, "-o",
                os.path.join(outdir, LIBRARY),
                *[os.path.join(CORPUS, s) for s in prog.library]])
        check(p.returncode == 0, f"building {LIBRARY} failed:\n{p.stderr}")
        link = ["-L", outdir, "-litp_work", "-Wl,-rpath,$ORIGIN", *link]
    p = sh([*common, "-o", exe, *[os.path.join(CORPUS, s) for s in prog.sources], *link])
    check(p.returncode == 0, f"build failed:\n{p.stderr}")
    return exe


def check_symbols(prog, exe):
    """Each target is a defined function symbol, and GCC did not clone it."""
    tables = {}

    def symbols(path, demangle):
        if (path, demangle) not in tables:
            p = sh(["nm", *(["-C"] if demangle else []), "--defined-only", path])
            check(p.returncode == 0, f"nm {path}: {p.stderr}")
            tables[path, demangle] = [line.split(" ", 2) for line in p.stdout.splitlines()
                                      if line.count(" ") >= 2]
        return tables[path, demangle]

    for t in prog.targets:
        path = os.path.join(os.path.dirname(exe), t.module) if t.module else exe
        syms = symbols(path, True)
        check(any(kind in "tTwW" and sym == t.full for _, kind, sym in syms),
              f"{t.full} is not a function symbol of {os.path.basename(path)}")
        if t.mangled:
            check(any(sym == t.mangled for _, _, sym in symbols(path, False)),
                  f"no symbol {t.mangled} in {os.path.basename(path)}")
        clones = [sym for _, _, sym in syms
                  if (sym.startswith(t.full + " [clone .") or sym.startswith(t.name + "."))
                  and ("constprop" in sym or "isra" in sym)]
        check(not clones, f"the compiler cloned {t.full}: {clones} (calls would go "
              "to the clone, so the named symbol's count is not the true count)")


def parse_counts(prog, stdout):
    """{name: (true, outer or None, abnormal or 0)} and {name: [per-thread]}."""
    counts, per_thread = {}, {}
    for line in stdout.splitlines():
        m = CALLS_LINE.match(line)
        if m:
            counts[m.group(1)] = (int(m.group(2)),
                                  int(m.group(3)) if m.group(3) else None,
                                  int(m.group(4)) if m.group(4) else 0)
        m = THREAD_CALLS_LINE.match(line)
        if m:
            per_thread[m.group(1)] = [int(v) for v in m.group(2).split()]
    for t in prog.targets:
        check(t.name in counts, f"no 'calls {t.name} N' line in\n{stdout}")
    for name, values in per_thread.items():
        check(sum(values) == counts[name][0],
              f"per-thread counts {values} do not add up to {counts[name][0]}")
    return counts, per_thread


def run_plain(prog, exe):
    p = sh([exe], timeout=60)
    check(p.returncode == prog.status,
          f"plain run: exit {p.returncode}, expected {prog.status}\n{p.stdout}{p.stderr}")
    check(p.stderr == "", f"plain run wrote on stderr: {p.stderr!r}")
    return p


def check_recorded(prog, config, exe, plain, counts, per_thread, outdir, options):
    """Record EXE with every target requested and OPTIONS; 'refused' when
    the tiny target was refused, else None."""
    out = os.path.join(outdir, "rec" + "".join(options))
    args = [ITERPROF, "record"] + options
    if not prog.may_refuse:
        args.append("-q")
    for t in prog.targets:
        args += ["-f", t.pattern(config)]
    args += ["-o", out, "--", exe]
    p = sh(args, timeout=120)
    what = f"{' '.join(args[1:-1])} {os.path.basename(exe)}"
    check(p.returncode == plain.returncode,
          f"{what}: exit {p.returncode}, plain {plain.returncode}\nstderr:\n{p.stderr}")
    check(p.stdout == plain.stdout,
          f"{what}: stdout differs:\n{p.stdout}\nplain:\n{plain.stdout}\nstderr:\n{p.stderr}")
    own = [line for line in p.stderr.splitlines() if not line.startswith("iterprof")]
    check(own == plain.stderr.splitlines(),
          f"{what}: stderr other than iterprof's lines: {own}")

    doc = report_json(out)
    check(len(doc["processes"]) == 1,
          f"{what}: {len(doc['processes'])} processes recorded, expected 1")
    process = doc["processes"][0]
    wanted = set().union(*(t.region_names() for t in prog.targets))
    stray = sorted({r["name"] for r in doc["regions"]} - wanted)
    check(not stray, f"{what}: regions nobody asked for: {stray}")

    outcome = None
    shortfall = 0
    for t in prog.targets:
        true, outer, abnormal = counts[t.name]
        expected = outer if outer is not None else true
        regs = [r for r in doc["regions"] if r["name"] in t.region_names()]
        got = sum(r["iterations"] for r in regs)
        if prog.may_refuse and not regs:
            refusal = [line for line in p.stderr.splitlines()
                       if "refused" in line and re.search(rf"\b{re.escape(t.name)}\b", line)]
            check(refusal, f"{what}: no region {t.name!r} and no line saying it was "
                  f"refused:\n{p.stderr}")
            outcome = "refused"
            continue
        if abnormal:
            missing = expected - got
            check(0 <= missing <= abnormal,
                  f"{what}: {t.name}: {got} iterations, true {expected} of which {abnormal} "
                  f"left by exception/longjmp")
            shortfall += missing
        else:
            check(got == expected, f"{what}: {t.name}: {got} iterations, true count "
                  f"{expected}{' (outermost calls)' if outer is not None else ''}")
        if t.name in per_thread:
            by_tid = sorted(r["iterations"] for r in regs)
            check(len({r["tid"] for r in regs}) == len(per_thread[t.name]),
                  f"{what}: {t.name}: streams of {len({r['tid'] for r in regs})} threads, "
                  f"expected {len(per_thread[t.name])}")
            check(by_tid == sorted(per_thread[t.name]),
                  f"{what}: {t.name}: per-thread iterations {by_tid}, "
                  f"per-thread calls {sorted(per_thread[t.name])}")
    check(shortfall <= process["dropped"],
          f"{what}: {shortfall} iterations missing but only {process['dropped']} "
          "counted as dropped")
    return outcome


def one_build(prog, config):
    """Build and check PROG in CONFIG: (stdout of the plain run, outcome)."""
    outdir = W.join(prog.name, config.name)
    exe = build(prog, config, outdir)
    check_symbols(prog, exe)
    plain = run_plain(prog, exe)
    counts, per_thread = parse_counts(prog, plain.stdout)
    outcome = None
    if not PLAIN_ONLY:
        for options in ([], ["--no-counters"]):
            outcome = check_recorded(prog, config, exe, plain, counts, per_thread, outdir,
                                     options)
    shutil.rmtree(outdir, ignore_errors=True)
    return plain.stdout, outcome


def run_matrix(prog):
    skipped = set()
    cfgs = configs(prog.lang, skipped)
    for why in sorted(skipped):
        print(f"     {prog.name}: skipping {why}")
    if not cfgs:
        print(f"     {prog.name}: no configuration to build")
        return
    start = time.monotonic()
    failures, stdouts, refused = [], {}, 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        jobs = {pool.submit(one_build, prog, c): c for c in cfgs}
        for job in concurrent.futures.as_completed(jobs):
            c = jobs[job]
            try:
                stdouts[c.name], outcome = job.result()
                refused += outcome == "refused"
            except Failure as e:
                failures.append(f"{c.name}: {e}")
            except subprocess.TimeoutExpired as e:
                failures.append(f"{c.name}: timed out: {e.cmd}")
            except (OSError, AssertionError, ValueError, KeyError) as e:
                # e.g. iterprof not executable, report failing or not JSON
                failures.append(f"{c.name}: {type(e).__name__}: {e}")

    # Every build prints the same: the checksums do not depend on the compiler.
    variants = {}
    for name, stdout in stdouts.items():
        variants.setdefault(stdout, []).append(name)
    if len(variants) > 1:
        common = max(variants, key=lambda out: len(variants[out]))
        for stdout, names in variants.items():
            if stdout != common:
                failures.append(f"{', '.join(sorted(names))}: stdout differs from the "
                                f"other builds':\n{stdout}vs\n{common}")
                for name in names:
                    del stdouts[name]

    per_compiler = ", ".join(
        f"{cc} {sum(c.name in stdouts for c in cfgs if c.compiler == cc)}/"
        f"{sum(c.compiler == cc for c in cfgs)}"
        for cc in sorted({c.compiler for c in cfgs}))
    mode = "built and ran plainly" if PLAIN_ONLY else "passed"
    extra = f"; {refused} refused as too short" if prog.may_refuse and not PLAIN_ONLY else ""
    print(f"     {prog.name}: {len(stdouts)}/{len(cfgs)} configurations {mode} "
          f"({per_compiler}{extra}) in {time.monotonic() - start:.0f} s")
    for f in sorted(failures)[:8]:
        print("       " + f.replace("\n", "\n         "))
    if len(failures) > 8:
        print(f"       ... and {len(failures) - 8} more")
    if failures:
        raise AssertionError(f"{len(failures)} of {len(cfgs)} configurations failed")


def make_test(prog):
    def test():
        run_matrix(prog)
    test.__name__ = f"test_{prog.name}"
    return test


if __name__ == "__main__":
    chosen = [p for p in PROGRAMS if not ONLY_PROGRAMS or p.name in ONLY_PROGRAMS]
    if PLAIN_ONLY:
        print("ITERPROF_INTERPOSE_PLAIN_ONLY: building and running without iterprof")
    main([make_test(p) for p in chosen], W)

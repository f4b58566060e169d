#!/usr/bin/env python3
"""Call stacks (`iterprof record --stacks=off|slow|all`, doc/stacks.md)
against programs whose slow iterations happen at known call paths.

tests/programs/stackpaths.c runs region "step" (~300 µs of busy work in
base_work an iteration) and injects, at given iterations:
 - a page-fault burst (2000 fresh pages) at
   do_iteration -> prepare_input -> fill_buffer -> touch_fresh_pages, the
   write on the line marked LINE:touch: the report's page-faults stacks
   (kind "fault") must name touch_fresh_pages at that file:line with the
   three callers deeper in the same stack;
 - a blocking read() on a pipe (~20 ms) at do_iteration -> wait_for_input,
   the call on the line marked LINE:read: blocking stacks (kind "switch")
   must hold wait_for_input at that line under the read;
 - ~5 ms of extra busy work in extra_helper (loop at LINE:extra): the
   on-CPU cause of those iterations (no instructions counter without a PMU:
   "unexplained"; with one "more-work") has kind "cpu" stacks through
   extra_helper, with a share far above their steady share (0: steady
   iterations never call it);
 - ~5 ms in generated code (no symbol, no unwind table, a frame-pointer
   prologue as JITs emit): those frames must come out unknown (function and
   module null), and the stack either continues with the program's real
   callers or stops there: never names that are not on the call path.
Each is checked for the program built with frame pointers (stackpaths-fp)
and without (stackpaths-nofp, -fomit-frame-pointer): the unwinder must not
depend on them. The expected lines are read from the source's markers.

Also: --stacks=off records nothing of stacks ("stacks": null, header mode
off, --flame exits 2); --stacks=all with --flame slow/steady writes folded
stacks that flame-graph tools read; the CSV and text reports carry the
stacks; the programs' output is the same with and without the shim,
including tests/programs/sigself.c's facts about its own signal handling
(SIGALRM on a sigaltstack, SIGPROF from ITIMER_PROF, a thread blocking
every signal that must see no EINTR, masks and errno unchanged); a Python
program's stacks name real symbols or say "unknown", never garbage.

Recordings use --stack-cpu-us 100 (CPU_OPTIONS): the default period
samples no thread whose iterations are as short as stackpaths' ~300 µs.

The machine is a noisy shared 2-vCPU VM: the runs are pinned to one CPU
(taskset), shares are asserted with wide margins, times never; a scenario
whose injected iterations the report gave another cause (the machine took
the time) is run again, up to ATTEMPTS times.

When the report says stacks are unavailable here (the "error" member: no
perf_event sampling, ...), the tests that need stacks print "skip: ..."
and return.
"""
import csv
import glob
import io
import os
import re
import struct
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, SOURCE_DIR, Workdir, expect, main, program,  # noqa: E402
                     regions, report_json, run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STACKPATHS_C = os.path.join(SOURCE, "tests", "programs", "stackpaths.c")
VARIANTS = ("stackpaths-fp", "stackpaths-nofp")
ATTEMPTS = 3
TIMEOUT = 120
N = 200
FAULTS_AT = (40, 80, 120)
BLOCK_AT = (50, 100, 150)
EXTRA_AT = (60, 110, 160)
JIT_AT = (70, 130, 170)
PAGES = 2000
# The samples that explain each cause (doc/report-json.md, STACKS); "cpu"
# for the others.
KIND_OF = {"page-faults": "fault", "major-faults": "fault", "blocking": "switch",
           "preemption": "switch", "migration": "switch", "sibling-threads": "switch",
           "cgroup-throttle": "switch", "steal": "switch"}
# The functions a stack through stackpaths may name, outermost last; and
# what libc and the loader put under main.
STACKPATHS_FUNCTIONS = {"base_work", "extra_helper", "touch_fresh_pages", "fill_buffer",
                        "prepare_input", "wait_for_input", "run_jit_code", "do_iteration",
                        "main"}
START_FUNCTIONS = re.compile(r"^(_start|__libc_start_main.*|__libc_start_call_main)$")
# An on-CPU sample every 100 µs of CPU time: the default period (1 ms,
# doc/stacks.md) samples only threads whose iterations typically last half
# of it, and stackpaths' last ~300 µs; 100 µs gives ~3 samples to a steady
# iteration and ~50 to one with 5 ms of extra work.
CPU_OPTIONS = ("--stack-cpu-us", "100")
CALLERS = ("run_jit_code", "do_iteration", "main")  # under generated code
ADDRESS = re.compile(r"^0x[0-9a-f]+$")

_serial = [0]


class Skip(Exception):
    """The feature reports stacks unavailable on this machine."""


def marker_line(tag, path=STACKPATHS_C):
    """1-based line of the comment /* LINE:TAG */ in PATH."""
    with open(path) as f:
        lines = [n for n, text in enumerate(f, 1) if f"/* LINE:{tag} */" in text]
    expect(len(lines) == 1, f"{path}: {len(lines)} lines marked LINE:{tag}")
    return lines[0]


def pin_cpu():
    """The last CPU this process may use: one for the whole recording
    (launcher, program, helper threads), the same for every run."""
    return str(max(os.sched_getaffinity(0)))


class Recording:
    """One `iterprof record --stacks=MODE` of CMD, pinned to one CPU, and
    its JSON report with --iterations."""

    def __init__(self, name, cmd, mode="slow", env=None, pin=True, check=0):
        _serial[0] += 1
        self.name = f"{name}-{_serial[0]}"
        self.data = W.join(self.name + ".data")
        args = [ITERPROF, "record", "-o", self.data, "-q", "--no-env", f"--stacks={mode}",
                *(CPU_OPTIONS if mode != "off" else ()), "--", *cmd]
        if pin:
            args = ["taskset", "-c", pin_cpu(), *args]
        self.process = run(args, timeout=TIMEOUT, env=env, check=check)
        expect(os.path.isdir(self.data), f"{self.name}: no recording: exit "
               f"{self.process.returncode}, stderr:\n{self.process.stderr}")
        self.doc = report_json(self.data, ("--iterations",))

    def region(self, name="step"):
        found = regions(self.doc, name)
        expect(len(found) == 1, f"{self.name}: {len(found)} regions {name!r}")
        return found[0]

    def stacks(self, name="step", need=True):
        """The region's "stacks" member; raises Skip when the feature says
        stacks are unavailable."""
        r = self.region(name)
        expect("stacks" in r, f"{self.name}: region {name!r} has no member 'stacks' "
               f"(iterprof without call stacks?)")
        s = r["stacks"]
        if need:
            expect(s is not None, f"{self.name}: region {name!r}: stacks null")
            if s.get("error"):
                raise Skip(f"stacks unavailable: {s['error']}")
        return s


def skippable(test):
    """Run TEST; a Skip prints its reason and counts as a pass."""
    def wrapper():
        try:
            test()
        except Skip as e:
            print(f"skip: {test.__name__}: {e}")
    wrapper.__name__ = test.__name__
    return wrapper


# ------------------------------------------------------------------------
# Reading stacks


def fname(frame):
    return frame.get("function")


def describe_stack(top):
    frames = " <- ".join(
        f"{fname(f) or '?'}"
        + (f" ({os.path.basename(f['file'])}:{f['line']})" if f.get("file") else "")
        + (f" [{f['module']}]" if f.get("module") else " [?]")
        for f in top["frames"])
    flags = "".join(f" {k}" for k in ("broken", "truncated") if top.get(k))
    return (f"share {top['share']:.2f} steady {top.get('steady_share', 0):.2f} "
            f"samples {top['samples']}{flags}: {frames}")


def describe_cause(c):
    return (f"cause {c['cause']} kind {c['kind']} iterations {c['iterations'][:12]} "
            f"samples {c['samples']} steady {c.get('steady_iterations')}/"
            f"{c.get('steady_samples')}:\n      "
            + "\n      ".join(describe_stack(t) for t in c["top"]))


def check_shape(rec, s):
    """What every stacks member must look like, whatever the machine did."""
    for member in ("mode", "fault_period", "cpu_period_us", "error", "iterations_with_samples",
                   "samples", "lost", "causes"):
        expect(member in s, f"{rec.name}: stacks has no {member!r}: {sorted(s)}")
    expect(s["mode"] in ("slow", "all"), f"{rec.name}: mode {s['mode']!r}")
    expect(set(s["samples"]) >= {"fault", "switch", "cpu"},
           f"{rec.name}: samples {s['samples']}")
    for c in s["causes"]:
        expect(c["kind"] in ("fault", "switch", "cpu"), f"{rec.name}: kind {c['kind']!r}")
        expected_kind = KIND_OF.get(c["cause"], "cpu")
        expect(c["kind"] == expected_kind,
               f"{rec.name}: cause {c['cause']} has kind {c['kind']}, not {expected_kind}")
        total = 0.0
        for top in c["top"]:
            expect(0 <= top["share"] <= 1 + 1e-9 and 0 <= top["steady_share"] <= 1 + 1e-9,
                   f"{rec.name}: shares out of range: {describe_stack(top)}")
            expect(top["frames"], f"{rec.name}: a stack without frames in {c['cause']}")
            expect(top["share"] >= 0.05 - 1e-9,
                   f"{rec.name}: a top stack under 5 %: {describe_stack(top)}")
            total += top["share"]
            for f in top["frames"]:
                expect(isinstance(f.get("address"), str) and ADDRESS.match(f["address"]),
                       f"{rec.name}: frame address {f.get('address')!r}")
                expect(isinstance(f.get("inlined"), bool), f"{rec.name}: inlined {f}")
                name = fname(f)
                expect(name is None or (isinstance(name, str) and name.strip() == name
                                        and name and name.isprintable()),
                       f"{rec.name}: function name {name!r}")
                expect(f.get("line") is None or (isinstance(f["line"], int) and f["line"] > 0),
                       f"{rec.name}: line {f.get('line')!r}")
        expect(total <= 1 + 1e-6, f"{rec.name}: shares of {c['cause']} add up to {total}")


def subsequence(frames, names):
    """Index of the frame named NAMES[0] followed, deeper, by the others in
    order (innermost first), or None."""
    for start, f in enumerate(frames):
        if fname(f) != names[0]:
            continue
        k = 1
        for g in frames[start + 1:]:
            if k < len(names) and fname(g) == names[k]:
                k += 1
        if k == len(names):
            return start
    return None


def causes_holding(s, iterations, kind):
    """The cause entries of KIND whose iterations include any of ITERATIONS."""
    return [c for c in s["causes"]
            if c["kind"] == kind and set(c["iterations"]) & set(iterations)]


def path_share(cause, path, at_line=None, lines=None):
    """Sum of (share, steady_share) over CAUSE's top stacks that hold the
    functions PATH (innermost first, not necessarily adjacent), the first
    of them in stackpaths.c at AT_LINE (or a line in LINES)."""
    share = steady = 0.0
    for top in cause["top"]:
        k = subsequence(top["frames"], path)
        if k is None:
            continue
        f = top["frames"][k]
        if at_line is not None or lines is not None:
            ok_line = lines if lines is not None else (at_line,)
            if not (f.get("file") or "").endswith("stackpaths.c") or f.get("line") not in ok_line:
                continue
        share += top["share"]
        steady += top["steady_share"]
    return share, steady


def per_iteration_causes(rec, at):
    its = rec.region()["per_iteration"]
    return {i: its[i - 1]["cause"] for i in at}


def scenario(name, variant, args, check):
    """Record VARIANT ARGS up to ATTEMPTS times until CHECK(rec) returns no
    problem (a list of strings); raise with every attempt's problems."""
    failures = []
    for attempt in range(ATTEMPTS):
        rec = Recording(f"{name}-{variant}", [program(variant), "-n", str(N), *args])
        s = rec.stacks()
        check_shape(rec, s)
        problems = check(rec, s)
        if not problems:
            if failures:
                print(f"  {name} {variant}: passed at attempt {attempt + 1}")
            return rec
        failures.append(f"  attempt {attempt + 1} ({rec.data}):\n    " + "\n    ".join(problems))
        print(failures[-1])
    raise AssertionError(f"{name} {variant}: no attempt passed:\n" + "\n".join(failures))


def at_list(at):
    return ",".join(map(str, at))


# ------------------------------------------------------------------------
# Known call paths


@skippable
def test_page_faults_name_the_faulting_line():
    line = marker_line("touch")
    path = ["touch_fresh_pages", "fill_buffer", "prepare_input", "do_iteration"]

    for variant in VARIANTS:
        def check(rec, s):
            problems = []
            causes = per_iteration_causes(rec, FAULTS_AT)
            for i in FAULTS_AT:
                faults = rec.region()["per_iteration"][i - 1]["counters"].get("minor-faults")
                expect(faults is None or faults >= PAGES,
                       f"{rec.name}: iteration {i}: {faults} minor faults")
            expect(s["samples"]["fault"] > 0, f"{rec.name}: no fault samples: {s['samples']}")
            entries = [c for c in s["causes"] if c["cause"] == "page-faults"]
            if not entries:
                return [f"no page-faults stacks; causes of {FAULTS_AT}: {causes}; "
                        f"stacks causes: {[c['cause'] for c in s['causes']]}"]
            c = entries[0]
            missing = [i for i in FAULTS_AT if causes[i] == "page-faults"
                       and i not in c["iterations"]]
            expect(not missing, f"{rec.name}: iterations {missing} are page-faults but not in "
                   f"its stacks: {describe_cause(c)}")
            if not any(causes[i] == "page-faults" for i in FAULTS_AT):
                problems.append(f"the injected iterations' causes: {causes}")
            # one fault in fault_period is sampled: the burst's share of
            # them, unless the ring had no room (lost)
            expected = PAGES * sum(causes[i] == "page-faults" for i in FAULTS_AT) / max(
                1, s["fault_period"])
            expect(c["samples"] + s["lost"] >= 0.5 * expected,
                   f"{rec.name}: {c['samples']} fault samples ({s['lost']} lost) in the "
                   f"page-faults iterations; {expected:.0f} expected (period "
                   f"{s['fault_period']})")
            share, steady = path_share(c, path, at_line=line)
            if share < 0.5:
                problems.append(f"{'<-'.join(path)} at stackpaths.c:{line}: share {share:.2f} "
                                f"(want >= 0.5):\n    {describe_cause(c)}")
            for top in c["top"]:
                k = subsequence(top["frames"], path)
                if k is not None:
                    expect(top["frames"][k].get("module") == variant,
                           f"{rec.name}: module of touch_fresh_pages: {describe_stack(top)}")
            return problems

        rec = scenario("faults", variant, ["--faults-at", at_list(FAULTS_AT),
                                           "--pages", str(PAGES)], check)
        # the text report names the function and its line under the cause
        text = run([ITERPROF, "report", rec.data], check=0).stdout
        words = " ".join(text.split())
        expect(f"touch_fresh_pages (stackpaths.c:{line})" in words,
               f"{rec.name}: 'touch_fresh_pages (stackpaths.c:{line})' not in the text "
               f"report:\n{text}")


@skippable
def test_blocking_read_names_its_caller():
    line = marker_line("read")

    for variant in VARIANTS:
        def check(rec, s):
            causes = per_iteration_causes(rec, BLOCK_AT)
            expect(s["samples"]["switch"] > 0, f"{rec.name}: no switch samples: {s['samples']}")
            entries = [c for c in s["causes"] if c["cause"] == "blocking"]
            if not entries:
                return [f"no blocking stacks; causes of {BLOCK_AT}: {causes}; stacks causes: "
                        f"{[c['cause'] for c in s['causes']]}"]
            c = entries[0]
            share, steady = path_share(c, ["wait_for_input", "do_iteration"], at_line=line)
            if share < 0.5:
                return [f"wait_for_input (stackpaths.c:{line}) <- do_iteration: share "
                        f"{share:.2f} (want >= 0.5):\n    {describe_cause(c)}"]
            for top in c["top"]:
                k = subsequence(top["frames"], ["wait_for_input", "do_iteration"])
                if k is not None and top["share"] >= 0.2:
                    # under wait_for_input: read() in libc (a name or
                    # unknown, never one of the program's functions)
                    for f in top["frames"][:k]:
                        expect(fname(f) not in STACKPATHS_FUNCTIONS,
                               f"{rec.name}: {fname(f)} above wait_for_input: "
                               f"{describe_stack(top)}")
            return []

        scenario("block", variant, ["--block-at", at_list(BLOCK_AT)], check)


def extra_lines():
    line = marker_line("extra")
    # samples land on any instruction of the loop: its three lines
    return tuple(range(line - 1, line + 2))


@skippable
def test_extra_work_is_in_the_helper():
    lines = extra_lines()

    for variant in VARIANTS:
        def check(rec, s):
            causes = per_iteration_causes(rec, EXTRA_AT)
            expect(s["samples"]["cpu"] > 0, f"{rec.name}: no cpu samples: {s['samples']}")
            entries = causes_holding(s, EXTRA_AT, "cpu")
            if not entries:
                return [f"no cpu stacks for {EXTRA_AT} (causes {causes}); stacks causes: "
                        f"{[(c['cause'], c['iterations'][:10]) for c in s['causes']]}"]
            best = max(entries, key=lambda c: path_share(c, ["extra_helper"])[0])
            share, steady = path_share(best, ["extra_helper", "do_iteration"], lines=lines)
            if share < 0.5 or share - steady < 0.4:
                return [f"extra_helper (stackpaths.c:{lines[0]}-{lines[-1]}) <- do_iteration: "
                        f"share {share:.2f}, steady {steady:.2f} (want >= 0.5 and 0.4 above "
                        f"steady):\n    {describe_cause(best)}"]
            expect(steady <= 0.1, f"{rec.name}: extra_helper runs in no steady iteration, yet "
                   f"steady share {steady:.2f}:\n    {describe_cause(best)}")
            return []

        rec = scenario("extra", variant, ["--extra-at", at_list(EXTRA_AT)], check)
        check_csv(rec)


def check_csv(rec):
    """--format csv: stack_samples and top_stack of the injected iterations
    (kept: slow), folded outermost first."""
    p = run([ITERPROF, "report", "--format", "csv", rec.data], check=0)
    rows = [row for row in csv.DictReader(io.StringIO(p.stdout)) if row["region"] == "step"]
    expect(len(rows) == N, f"{rec.name}: {len(rows)} csv rows")
    expect("stack_samples" in rows[0] and "top_stack" in rows[0],
           f"{rec.name}: csv columns {list(rows[0])}")
    for i in EXTRA_AT:
        row = rows[i - 1]
        expect(int(row["index"]) == i, f"{rec.name}: csv row {i}: {row}")
        expect(row["stack_samples"] not in ("", "0"),
               f"{rec.name}: iteration {i} (slow, kept) without stack samples: {row}")
        names = row["top_stack"].split(";")
        expect("extra_helper" in names and "do_iteration" in names
               and names.index("do_iteration") < names.index("extra_helper"),
               f"{rec.name}: iteration {i}: top_stack {row['top_stack']!r} is not "
               f"...;do_iteration;...;extra_helper (outermost first)")


# ------------------------------------------------------------------------
# Generated code


@skippable
def test_generated_code_frames_are_unknown():
    probe = run([program("stackpaths"), "-n", "1", "--jit-at", "1"], timeout=30)
    if probe.returncode == 3:
        print(f"skip: {probe.stderr.strip()}")
        return

    for variant in VARIANTS:
        def check(rec, s):
            causes = per_iteration_causes(rec, JIT_AT)
            entries = causes_holding(s, JIT_AT, "cpu")
            if not entries:
                return [f"no cpu stacks for {JIT_AT} (causes {causes}); stacks causes: "
                        f"{[(c['cause'], c['iterations'][:10]) for c in s['causes']]}"]
            problems, jit_share = [], 0.0
            for c in entries:
                for top in c["top"]:
                    frames = top["frames"]
                    if fname(frames[0]) is not None or frames[0].get("module") is not None:
                        continue
                    jit_share += top["share"]
                    # after the unknown frames: the real callers, or nothing
                    rest = [f for f in frames if fname(f) is not None]
                    wrong = [fname(f) for f in rest if fname(f) not in STACKPATHS_FUNCTIONS
                             and not START_FUNCTIONS.match(fname(f))]
                    expect(not wrong, f"{rec.name}: names under generated code that are not "
                           f"on the call path: {wrong}: {describe_stack(top)}")
                    names = [fname(f) for f in rest]
                    # nothing named under it: the unwinder must say it
                    # stopped there (it cannot have reached the outermost
                    # frame through code it knows nothing of)
                    expect(names or top.get("broken") is True,
                           f"{rec.name}: a stack that ends in generated code is not marked "
                           f"broken: {top.get('broken')!r}: {describe_stack(top)}")
                    # the generated code is one frame (it calls nothing): one
                    # unknown frame, then its real caller, run_jit_code, and
                    # the rest of the path; or, broken, a beginning of that
                    # path. Not a frame invented from a stack word (an
                    # unwinder that takes the saved frame pointer for the
                    # return address shows a second unknown frame and
                    # skips run_jit_code).
                    leading = next((k for k, f in enumerate(frames)
                                    if fname(f) is not None or f.get("module") is not None),
                                   len(frames))
                    expect(leading == 1 or (top.get("broken") is True and leading == len(frames)),
                           f"{rec.name}: {leading} unknown frames for one frame of generated "
                           f"code: {describe_stack(top)}")
                    chain = [n for n in names if n in CALLERS]
                    if top.get("broken") is True:
                        expect(chain == list(CALLERS[:len(chain)]) and names == chain,
                               f"{rec.name}: not the callers of the generated code: "
                               f"{describe_stack(top)}")
                    else:
                        expect(names[:len(CALLERS)] == list(CALLERS),
                               f"{rec.name}: under generated code, not "
                               f"{' <- '.join(CALLERS)}: {describe_stack(top)}")
                    # module null: anonymous memory, named by nothing
                    for f in frames:
                        if fname(f) is None and f.get("module") is not None:
                            expect(f["module"] in (variant, "[vdso]") or f["module"].startswith(
                                ("libc", "ld-linux")),
                                f"{rec.name}: unknown frame in module {f['module']}: "
                                f"{describe_stack(top)}")
            if jit_share < 0.5:
                problems.append(f"stacks innermost in generated code (function and module "
                                f"null): share {jit_share:.2f} (want >= 0.5):\n    "
                                + "\n    ".join(describe_cause(c) for c in entries))
            return problems

        scenario("jit", variant, ["--jit-at", at_list(JIT_AT)], check)


@skippable
def test_patched_function_stacks_reach_main():
    """-f: while a patched function runs, its caller's return address on the
    stack is the shim's exit trampoline; the stacks must go through it to
    the real callers (main), not stop at the trampoline."""
    line = marker_line("touch")
    path = ["touch_fresh_pages", "fill_buffer", "prepare_input", "do_iteration", "main"]
    failures = []
    # Up to ATTEMPTS recordings: on a loaded machine the fault bursts can be
    # charged to preemption, and then the page-faults cause has no stacks to
    # show. A trampoline frame in a stack fails at once: no noise makes one.
    for attempt in range(ATTEMPTS):
        data = W.join(f"patched-{attempt}.data")
        run(["taskset", "-c", pin_cpu(), ITERPROF, "record", "-q", "--no-env", "-o", data,
             "-f", "do_iteration", "--", program("stackpaths-nofp"), "--no-markers", "1",
             "-n", str(N), "--faults-at", at_list(FAULTS_AT), "--pages", str(PAGES)],
            timeout=TIMEOUT, check=0)
        doc = report_json(data, ("--iterations",))
        found = regions(doc, "do_iteration")
        expect(len(found) == 1, f"regions do_iteration: {len(found)}")
        s = found[0]["stacks"]
        expect(s is not None, "-f iterations have no stacks")
        if s.get("error"):
            raise Skip(f"stacks unavailable: {s['error']}")
        tops = [t for c in s["causes"] if c["cause"] == "page-faults" for t in c["top"]]
        good = [t for t in tops if subsequence(t["frames"], path) is not None
                and t["frames"][0].get("line") == line]
        names = [fname(f) for t in tops for f in t["frames"]]
        expect(not any(n and "patch_" in n for n in names),
               f"the shim's trampoline in a stack: {names}")
        if good and not any(t.get("broken") for t in good):
            if failures:
                print(f"  passed at attempt {attempt + 1}")
            return
        failures.append(f"  attempt {attempt + 1} ({data}): causes "
                        f"{[c['cause'] for c in s['causes']]}:\n    "
                        + "\n    ".join(describe_stack(t) for t in tops))
        print(failures[-1])
    raise AssertionError("no page-faults stack through the patched do_iteration to main:\n"
                         + "\n".join(failures))


# ------------------------------------------------------------------------
# Modes and outputs


def trace_files(data):
    return sorted(glob.glob(os.path.join(data, "iterprof-*.trace")))


def header_stacks_mode(path):
    """stacks_mode at ITP_OFF_STACKS_MODE (3808) of a trace header
    (include/iterprof/trace-format.h), little-endian."""
    with open(path, "rb") as f:
        head = f.read(3812)
    expect(len(head) == 3812, f"{path}: short header")
    return struct.unpack_from("<I", head, 3808)[0]


def test_stacks_off_records_nothing():
    line = marker_line("touch")
    args = ["-n", str(N), "--faults-at", at_list(FAULTS_AT), "--extra-at", at_list(EXTRA_AT)]
    for variant in VARIANTS:
        rec = Recording(f"off-{variant}", [program(variant), *args], mode="off")
        for r in rec.doc["regions"]:
            expect("stacks" in r and r["stacks"] is None,
                   f"{rec.name}: region {r['name']}: stacks {r.get('stacks')!r}, not null")
        files = trace_files(rec.data)
        expect(files, f"{rec.name}: no trace files in {rec.data}")
        for path in files:
            mode = header_stacks_mode(path)
            expect(mode == 0, f"{path}: stacks_mode {mode} in the header, not 0 (off)")
        text = run([ITERPROF, "report", rec.data], check=0).stdout
        expect("touch_fresh_pages" not in text and "extra_helper" not in text
               and f"stackpaths.c:{line}" not in text,
               f"{rec.name}: the text report names stacks that were not recorded:\n{text}")
        p = run([ITERPROF, "report", "--format", "csv", rec.data], check=0)
        rows = [row for row in csv.DictReader(io.StringIO(p.stdout)) if row["region"] == "step"]
        expect(rows and all(row.get("stack_samples") in ("", "0", None)
                            and not row.get("top_stack") for row in rows),
               f"{rec.name}: csv stack columns filled with stacks off")
        for kind in ("slow", "steady", "all"):
            p = run([ITERPROF, "report", "--flame", kind, rec.data], check=None)
            lines = p.stderr.strip().splitlines()
            expect(p.returncode == 2 and not p.stdout and len(lines) == 1
                   and lines[0].startswith("iterprof: "),
                   f"{rec.name}: --flame {kind} without stacks: exit {p.returncode}, stdout "
                   f"{p.stdout[:200]!r}, stderr {p.stderr!r} (want exit 2, one line)")


def folded(data, *options, check_region="step"):
    """`iterprof report --flame ...` as [(frames outermost first, count)]."""
    p = run([ITERPROF, "report", "--flame", *options, data], check=0)
    out = []
    for line in p.stdout.splitlines():
        stack, _, count = line.rpartition(" ")
        expect(stack and count.isdigit() and int(count) > 0,
               f"--flame {options}: not 'stack count': {line!r}")
        frames = stack.split(";")
        expect(frames[0] == check_region and all(frames),
               f"--flame {options}: not 'region;outer;...;inner': {line!r}")
        out.append((frames, int(count)))
    return out


def count_with(stacks, name):
    return sum(n for frames, n in stacks if name in frames)


@skippable
def test_flame_slow_and_steady():
    for variant in VARIANTS:
        rec = Recording(f"flame-{variant}", [program(variant), "-n", str(N), "--extra-at",
                                             at_list(EXTRA_AT), "--faults-at",
                                             at_list(FAULTS_AT)], mode="all")
        s = rec.stacks()
        check_shape(rec, s)
        expect(s["mode"] == "all", f"{rec.name}: mode {s['mode']!r}")
        # --stacks=all: every iteration has samples (each runs >= 300 µs
        # on the CPU; one sample per cpu_period_us)
        if s["cpu_period_us"] and s["cpu_period_us"] <= 100:
            expect(s["iterations_with_samples"] >= 0.9 * N,
                   f"{rec.name}: {s['iterations_with_samples']} of {N} iterations with samples "
                   f"(cpu period {s['cpu_period_us']} µs)")
        slow, steady, every = (folded(rec.data, kind) for kind in ("slow", "steady", "all"))
        expect(slow and steady and every, f"{rec.name}: empty folded output: "
               f"{len(slow)}, {len(steady)}, {len(every)} lines")
        expect(count_with(slow, "extra_helper") > 0,
               f"{rec.name}: extra_helper not in the slow stacks:\n"
               + "\n".join(f"{';'.join(f)} {n}" for f, n in slow[:20]))
        expect(count_with(steady, "extra_helper") == 0,
               f"{rec.name}: extra_helper in the steady stacks (it runs only in slow ones)")
        expect(count_with(steady, "base_work") > 0,
               f"{rec.name}: base_work not in the steady stacks")
        expect(sum(n for _, n in every) >= sum(n for _, n in slow) + sum(n for _, n in steady)
               - 1e-9, f"{rec.name}: --flame all has fewer samples than slow + steady")
        for f, _ in slow + steady:
            if "extra_helper" in f or "touch_fresh_pages" in f:
                expect("do_iteration" in f and f.index("do_iteration") < max(
                    f.index(n) for n in ("extra_helper", "touch_fresh_pages") if n in f),
                    f"{rec.name}: not outermost first: {';'.join(f)}")
        cpu = folded(rec.data, "slow", "--flame-kind", "cpu")
        fault = folded(rec.data, "slow", "--flame-kind", "fault")
        expect(count_with(cpu, "extra_helper") > 0 and count_with(fault, "extra_helper") == 0,
               f"{rec.name}: --flame-kind: extra_helper in cpu {count_with(cpu, 'extra_helper')}"
               f", in fault {count_with(fault, 'extra_helper')}")
        expect(count_with(fault, "touch_fresh_pages") > 0,
               f"{rec.name}: touch_fresh_pages not in --flame slow --flame-kind fault")


# ------------------------------------------------------------------------
# The program's own behaviour


def test_program_output_unchanged():
    args = ["-n", str(N), "--faults-at", at_list(FAULTS_AT), "--block-at", "30,90",
            "--extra-at", at_list(EXTRA_AT)]
    for variant in VARIANTS:
        bare = run([program(variant), *args], timeout=TIMEOUT, check=0)
        rec = Recording(f"same-{variant}", [program(variant), *args], mode="all")
        expect(rec.process.stdout == bare.stdout,
               f"{variant}: stdout differs under the shim:\n{rec.process.stdout!r}\nwithout:\n"
               f"{bare.stdout!r}")
        expect(" eintr 0" in bare.stdout, f"{variant}: {bare.stdout!r}")


SIGSELF_FACTS = ["SIGALRM handled: 10", "SIGALRM on altstack: yes", "SIGPROF handled: yes",
                 "signal masks unchanged: yes", "handlers unchanged: yes",
                 "altstack unchanged: yes", "EINTR in blocked thread: 0",
                 "errno preserved: yes"]


def test_own_signal_handling_unchanged():
    bare = run([program("sigself")], timeout=TIMEOUT)
    expect(bare.returncode == 0, f"sigself alone: exit {bare.returncode}\n{bare.stdout}"
           f"{bare.stderr}")
    for fact in SIGSELF_FACTS:
        expect(fact in bare.stdout.splitlines(), f"sigself alone: no {fact!r}:\n{bare.stdout}")
    for mode in ("all", "slow"):
        rec = Recording(f"sigself-{mode}", [program("sigself")], mode=mode, check=None)
        p = rec.process
        expect(p.returncode == 0 and p.stdout == bare.stdout,
               f"sigself under the shim (--stacks={mode}): exit {p.returncode}, stdout:\n"
               f"{p.stdout}\nwithout:\n{bare.stdout}\nstderr:\n{p.stderr}")
        for name, iterations in (("main", 200), ("worker", 100)):
            r = rec.region(name)
            expect(r["iterations"] == iterations,
                   f"{rec.name}: region {name}: {r['iterations']} iterations")
        try:
            s_main, s_worker = rec.stacks("main"), rec.stacks("worker")
        except Skip as e:
            print(f"skip: sigself stacks: {e}")
            continue
        check_shape(rec, s_main)
        check_shape(rec, s_worker)
        if mode == "all":
            # sampling must not need signals: the thread blocking every
            # signal has its stacks too
            for name, s in (("main", s_main), ("worker", s_worker)):
                expect(s["iterations_with_samples"] > 0 and sum(s["samples"].values()) > 0,
                       f"{rec.name}: region {name}: no samples: {s}")


# ------------------------------------------------------------------------
# An interpreter


PY_SCRIPT = """
import sys
import iterprof

BIG, SMALL = 32 << 20, 64 << 10
total = 0
for i in range(1, 61):
    with iterprof.iteration("step"):
        n = BIG if i % 15 == 0 else SMALL
        buf = bytearray(n)              # zero-filled: every page touched
        for k in range(0, n, 4096):
            buf[k] = 1
        total += sum(buf[::4096])
        del buf
print("total", total)
# where each module was loaded, for the test to check the names
with open(sys.argv[1], "w") as f, open("/proc/self/maps") as maps:
    f.write(maps.read())
"""


class ElfFunctions:
    """The function symbols of an ELF file and of its separate debug file
    (found by build-id, when installed): [(start, end, name)] in file
    virtual addresses, and the load bias from /proc/PID/maps lines."""

    def __init__(self, path):
        self.path = path
        self.ranges = []
        files = [path]
        m = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", path], check=None).stdout)
        if m:
            debug = f"/usr/lib/debug/.build-id/{m.group(1)[:2]}/{m.group(1)[2:]}.debug"
            if os.path.exists(debug):
                files.append(debug)
        for f in files:
            for line in run(["readelf", "-sW", f], check=None).stdout.splitlines():
                parts = line.split()
                # Num: Value Size Type Bind Vis Ndx Name
                if len(parts) >= 8 and parts[3] in ("FUNC", "IFUNC") and parts[6] != "UND":
                    value, size = int(parts[1], 16), int(parts[2], 0)
                    self.ranges.append((value, value + max(size, 1), parts[7].split("@")[0]))
        first_load = re.search(r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)",
                               run(["readelf", "-lW", path], check=None).stdout, re.M)
        self.first_vaddr = int(first_load.group(2), 16) & ~0xfff if first_load else 0

    def names_at(self, vaddr):
        return {name for lo, hi, name in self.ranges if lo <= vaddr < hi}


def module_bases(maps_text):
    """Path -> lowest address of its mapping at file offset 0."""
    bases = {}
    for line in maps_text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("/") and int(parts[2], 16) == 0:
            start = int(parts[0].split("-")[0], 16)
            bases[parts[5]] = min(start, bases.get(parts[5], start))
    return bases


def name_problem(frame, objects):
    """Why FRAME's function name is not what its address holds, or None.
    The name must be that of a function symbol covering the address (or
    the address - 1: a return address) in the module's file, when the file
    has one there; an inlined frame's name comes from debug information
    only (its outer frame at the same address is checked)."""
    name, module = fname(frame), frame.get("module")
    if name is None or frame["inlined"] or module not in objects:
        return None
    elf, base = objects[module]
    address = int(frame["address"], 16)
    names = set()
    for a in (address, address - 1):
        names |= elf.names_at(a - base)
    if not names:
        return None  # no symbol covers it: a name from elsewhere cannot be checked
    plain = {n.split(".")[0] for n in names}  # foo.constprop.0 is foo in DWARF
    if name in names or name.split("(")[0] in plain or name in plain:
        return None
    return f"{name} at {frame['address']} in {module}, where {elf.path} has {sorted(names)}"


@skippable
def test_python_frames_are_named_or_unknown():
    path = W.join("bytearrays.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(PY_SCRIPT).lstrip())
    python = os.path.realpath(sys.executable)
    env = {"PYTHONPATH": os.path.join(SOURCE, "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    bare = run([python, path, W.join("maps-bare")], env=env, timeout=TIMEOUT, check=0)
    maps = W.join("maps-recorded")
    failures = []
    # Up to ATTEMPTS recordings: on a loaded machine the 32 MB iterations'
    # excess can be charged to preemption, leaving no fault-kind cause.
    for attempt in range(ATTEMPTS):
        rec = Recording("python", [python, path, maps], mode="all", env=env)
        expect(rec.process.stdout == bare.stdout, f"python stdout differs under the shim: "
               f"{rec.process.stdout!r} != {bare.stdout!r}")
        s = rec.stacks()
        check_shape(rec, s)
        expect(s["samples"]["fault"] > 0 and s["iterations_with_samples"] > 0,
               f"{rec.name}: no fault samples: {s['samples']}, "
               f"{s['iterations_with_samples']} iterations with samples")
        faults = [c for c in s["causes"] if c["kind"] == "fault"]
        if faults:
            break
        failures.append(f"{rec.name}: no fault-kind cause (the 32 MB iterations fault 8192 "
                        f"times each):\n" + "\n".join(describe_cause(c) for c in s["causes"]))
        print(failures[-1])
    expect(faults, "\n".join(failures))
    with open(maps) as f:
        bases = module_bases(f.read())
    objects = {}  # module name -> (ElfFunctions, load bias)
    for file, base in bases.items():
        try:
            elf = ElfFunctions(file)
        except (OSError, ValueError):
            continue
        for name in (os.path.basename(file), os.path.basename(os.path.realpath(file))):
            objects.setdefault(name, (elf, base - elf.first_vaddr))
    named, problems = 0, []
    for c in s["causes"]:
        for top in c["top"]:
            for f in top["frames"]:
                if fname(f) is None:
                    continue
                named += 1
                expect(f.get("module") is not None,
                       f"{rec.name}: {fname(f)} in no module: {describe_stack(top)}")
                why = name_problem(f, objects)
                if why:
                    problems.append(f"{why}: {describe_stack(top)}")
    expect(named > 0, f"{rec.name}: no named frame at all:\n"
           + "\n".join(describe_cause(c) for c in s["causes"]))
    expect(not problems, f"{rec.name}: names the addresses do not hold:\n"
           + "\n".join(problems[:10]))


if __name__ == "__main__":
    main([test_page_faults_name_the_faulting_line, test_blocking_read_names_its_caller,
          test_extra_work_is_in_the_helper, test_generated_code_frames_are_unknown,
          test_stacks_off_records_nothing, test_flame_slow_and_steady,
          test_program_output_unchanged, test_own_signal_handling_unchanged,
          test_python_frames_are_named_or_unknown,
          test_patched_function_stacks_reach_main], workdir=W)

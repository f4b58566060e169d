#!/usr/bin/env python3
"""Real JIT engines under `iterprof record`: the corpus of tests/jit.

Each script marks one iteration (region "step") per call of a function that
its engine compiles in the first iterations and never again
(tests/jit/README.md says what each engine does and what strace shows):

 - numba (Debian's python3-numba, /usr/bin/python3): the first call compiles
   (LLVM MCJIT: mmap, then mprotect(PROT_READ|PROT_EXEC) of the code); a
   variant calls the function with float32 data at iteration RETYPE_AT, which
   compiles a second specialisation there.
 - LuaJIT: traces committed in iterations 1 and 11, each an
   mprotect(PROT_READ|PROT_EXEC) of the 64 KiB machine-code area.
 - Node.js (V8): TurboFan code for the function within the first iterations
   (--no-use-osr: no on-stack-replacement code finalised at a random later
   iteration). V8 writes code into a code space it mapped read-write-execute
   at start-up, so no interposable call marks a compilation; --perf-basic-prof
   makes V8 write a line per code object to /tmp/perf-<pid>.map, which the
   script reads between iterations as its ground truth.

Each script writes the engine's own account of what it compiled in which
iteration (--log): that is the ground truth the checks compare with.

Checks, for each runtime:
 (a) exactly N iterations (CSV rows and JSON);
     the engine compiled in the expected iterations and never in the last
     half (the corpus does what it claims; checkable without the shim's JIT
     counters);
 (b) the shim's per-iteration `code-events` counter is > 0 in the iterations
     where the engine compiled and 0 in the others (numba, LuaJIT; Node: what
     the shim saw is printed);
 (c) `code-bytes` >= 4096 where `code-events` > 0;
 (d) analyzer: `jit` is the primary cause of numba's iteration 1 (and of the
     variant's iteration RETYPE_AT); the warm-up of LuaJIT and Node names
     `jit` among its causes; and no iteration of the last half, where no
     engine compiles anything, has a share of `jit`. These are the functions
     after test_node_tiers, separate from the rest.

A runtime that is not installed is skipped with the reason printed (scripts/
deps-jit installs them); the closing line counts the skips.
"""
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, SOURCE_DIR, Workdir, expect, record, report_json  # noqa: E402
from harness import jit_is_primary  # noqa: E402
from harness import run as run_cmd  # noqa: E402

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
JIT_DIR = os.path.join(SOURCE, "tests", "jit")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-numba installs for it

N_NUMBA = 200
RETYPE_AT = 50
N_LUAJIT = 400
LUAJIT_COMPILE_BY = 100  # every trace is committed by this iteration
N_NODE = 300
NODE_COMPILE_BY = 100    # step's TurboFan code is created by this iteration
NODE_FLAGS = ("--perf-basic-prof", "--no-use-osr")
MIN_CODE_BYTES = 4096
ATTEMPTS = 3             # recordings for a cause check a busy machine can spoil
RECORD_TIMEOUT = 60      # each run takes 0.1-3 s alone


class Skip(Exception):
    """The runtime is not there: skip with this reason."""


# ------------------------------------------------------------------------
# Running and reading


def int_or_none(text):
    return int(text) if text not in ("", None) else None


class JitRun:
    """One recording of a tests/jit script: the CSV rows and the JSON region
    of "step", and the script's own log (its engine's ground truth)."""

    _serial = 0

    def __init__(self, name, cmd, n, env=None, perf_map=False):
        JitRun._serial += 1
        self.name = f"{name}-{JitRun._serial}"
        self.n = n
        self.data, self.log_path = W.join(self.name + ".data"), W.join(self.name + ".log")
        started = time.monotonic()
        try:
            p = record(self.data, [*cmd, str(n), "--log", self.log_path], options=("-q",),
                       timeout=RECORD_TIMEOUT, env=env)
        finally:
            if perf_map:
                self.remove_perf_maps()
        self.seconds = time.monotonic() - started
        expect("markers on" in p.stdout,
               f"{self.name}: the script did not find the shim's markers:\n{p.stdout}{p.stderr}")
        out = run_cmd([ITERPROF, "report", "--format", "csv", self.data], check=0).stdout
        reader = csv.DictReader(io.StringIO(out))
        self.columns = reader.fieldnames or []
        self.rows = [row for row in reader if row["region"] == "step"]
        self.doc = report_json(self.data, ("--iterations",))
        steps = [r for r in self.doc["regions"] if r["name"] == "step"]
        expect(len(steps) == 1, f"{self.name}: one region 'step': {len(steps)}")
        self.region = steps[0]
        self.its = self.region["per_iteration"]
        with open(self.log_path) as f:
            self.log = [line.split() for line in f]

    def remove_perf_maps(self):
        """node --perf-basic-prof leaves /tmp/perf-<pid>.map behind; the
        trace files are named after the same pids (iterprof-<pid>.trace)."""
        names = os.listdir(self.data) if os.path.isdir(self.data) else []
        for name in names:
            if name.startswith("iterprof-") and name.endswith(".trace"):
                pid = name[len("iterprof-"):-len(".trace")].split(".")[0]
                if pid.isdigit():
                    try:
                        os.unlink(f"/tmp/perf-{pid}.map")
                    except FileNotFoundError:
                        pass

    def it(self, i):
        return self.its[i - 1]

    def counter(self, i, name):
        """The shim's counter NAME for iteration I, from the CSV row."""
        return int_or_none(self.rows[i - 1].get(name))

    def has_counter(self, name):
        return name in self.columns

    def ns(self, i):
        return int(self.rows[i - 1]["ns"])

    def describe(self, i):
        it = self.it(i)
        shares = {k: round(v, 3) for k, v in it["shares"].items()}
        counters = {k: v for k, v in it["counters"].items() if v}
        return (f"iteration {i}: {it['ns']} ns, phase {it['phase']}, slow {it['slow']}, "
                f"cause {it['cause']}, shares {shares}, counters {counters}")

    def phases(self):
        return [(p["first"], p["last"], p["label"], round(p["median_ns"]),
                 {k: round(v, 3) for k, v in p["causes"].items()})
                for p in self.region["phases"]]

    def summary(self):
        return (f"{self.name}: {self.region['classification']}; phases {self.phases()}; "
                f"verdict: {self.region['verdict']}")

    def measured(self, compiled):
        """What was measured, for the record."""
        steady = statistics.median(self.ns(i) for i in range(self.n // 2, self.n + 1))
        bytes_ = ""
        if self.has_counter("code-bytes"):
            seen = {i: (self.counter(i, "code-events"), self.counter(i, "code-bytes"))
                    for i in range(1, self.n + 1) if self.counter(i, "code-events")}
            bytes_ = f"; code events/bytes by iteration {seen}"
        print(f"  {self.name}: {self.n} iterations in {self.seconds:.2f} s; iteration 1 "
              f"{self.ns(1) / 1e6:.2f} ms, steady median (last half) {steady / 1e3:.1f} µs; "
              f"engine compiled in iterations {compiled}{bytes_}")

    def check_count(self):
        """(a)"""
        expect(len(self.rows) == self.n, f"{self.name}: {len(self.rows)} CSV rows, not {self.n}")
        expect(self.region["iterations"] == self.n and len(self.its) == self.n,
               f"{self.name}: JSON {self.region['iterations']} iterations, not {self.n}")
        expect([int(r["index"]) for r in self.rows] == list(range(1, self.n + 1)),
               f"{self.name}: CSV indexes are not 1..{self.n}")
        expect(len(self.log) == self.n, f"{self.name}: the script logged {len(self.log)} "
               f"iterations, not {self.n}")

    def check_code_counters(self, compiled):
        """(b) and (c): code-events > 0 exactly in COMPILED (and so 0 in the
        last half), code-bytes >= MIN_CODE_BYTES where there are events."""
        for name in ("code-events", "code-bytes"):
            expect(self.has_counter(name),
                   f"{self.name}: the shim recorded no '{name}' counter (CSV columns: "
                   f"{', '.join(self.columns)})")
        events = {i: self.counter(i, "code-events") for i in range(1, self.n + 1)}
        missing = [i for i in compiled if not events[i]]
        extra = [i for i, e in events.items() if e and i not in compiled]
        expect(not missing, f"{self.name}: the engine compiled in iterations {missing}, "
               f"code-events there: {[events[i] for i in missing]}")
        expect(not extra, f"{self.name}: code-events in iterations where the engine compiled "
               f"nothing: {[(i, events[i]) for i in extra]}")
        for i in compiled:
            b = self.counter(i, "code-bytes")
            expect(b is not None and b >= MIN_CODE_BYTES,
                   f"{self.name}: iteration {i}: {events[i]} code events, {b} code bytes")


def skip_unless(cond, why):
    if not cond:
        raise Skip(why)


# ------------------------------------------------------------------------
# The runtimes: what runs them, and the ground truth of their logs

_cache = {}


def numba_cmd():
    if "numba" not in _cache:
        skip_unless(os.access(SYSTEM_PYTHON, os.X_OK), f"no {SYSTEM_PYTHON}")
        p = subprocess.run([SYSTEM_PYTHON, "-c", "import numba, numpy"], capture_output=True,
                           text=True, timeout=60)
        skip_unless(p.returncode == 0, f"numba is not installed for {SYSTEM_PYTHON} "
                    f"(scripts/deps-jit installs python3-numba): "
                    f"{(p.stderr.strip().splitlines() or ['?'])[-1]}")
        _cache["numba"] = [SYSTEM_PYTHON, os.path.join(JIT_DIR, "numba_warmup.py")]
    return _cache["numba"]


def numba_compiled(r):
    """Iterations in which numba compiled a specialisation (INDEX COMPILED NS)."""
    return [int(f[0]) for f in r.log if int(f[1]) > 0]


def luajit_cmd():
    luajit = shutil.which("luajit")
    skip_unless(luajit, "no luajit on PATH (scripts/deps-jit installs luajit)")
    return [luajit, os.path.join(JIT_DIR, "luajit_warmup.lua")]


def luajit_compiled(r):
    """Iterations in which LuaJIT committed a trace (INDEX TRACES ABORTS NS)."""
    return [int(f[0]) for f in r.log if int(f[1]) > 0]


def node_cmd():
    """node with the flags, and the environment that points the script at the
    addon, built here into the work directory."""
    if "node" not in _cache:
        node = shutil.which("node")
        skip_unless(node, "no node on PATH (scripts/deps-jit installs nodejs)")
        header = "/usr/include/node/node_api.h"
        skip_unless(os.path.exists(header), f"no {header} to build the N-API addon "
                    "(scripts/deps-jit installs the headers)")
        gcc = shutil.which("gcc") or shutil.which("cc")
        skip_unless(gcc, "no C compiler to build the N-API addon")
        addon = W.join("iterprof_node.node")
        run_cmd([gcc, "-shared", "-fPIC", "-O2", "-I/usr/include/node", "-o", addon,
                 os.path.join(JIT_DIR, "iterprof_node.c")], check=0)
        p = run_cmd([node, "-e", f"require({addon!r})"])
        expect(p.returncode == 0, f"node cannot load the addon {addon}:\n{p.stderr}")
        _cache["node"] = ([node, *NODE_FLAGS, os.path.join(JIT_DIR, "node_warmup.js")],
                          {"ITERPROF_NODE_ADDON": addon})
    return _cache["node"]


def node_code_objects(r):
    """{iteration: [names of code objects V8 created in it]}
    (INDEX CODE NS NAMES)."""
    out = {}
    for f in r.log:
        expect(int(f[1]) >= 0, f"{r.name}: no perf map: {NODE_FLAGS[0]} did not work")
        if int(f[1]) > 0:
            out[int(f[0])] = f[3].split("|")
    return out


def node_step_compiled(r):
    """Iterations in which V8 created code for step (any tier but the
    interpreter's)."""
    return [i for i, names in node_code_objects(r).items()
            if any(n.startswith("JS:") and n[3:4] in "^+*" and n[4:] == "step" for n in names)]


def numba_run(retype=False):
    key = ("numba-run", retype)
    if key not in _cache:
        cmd = numba_cmd() + (["--retype-at", str(RETYPE_AT)] if retype else [])
        _cache[key] = JitRun("numba-retype" if retype else "numba", cmd, N_NUMBA)
    return _cache[key]


def luajit_run():
    if "luajit-run" not in _cache:
        _cache["luajit-run"] = JitRun("luajit", luajit_cmd(), N_LUAJIT)
    return _cache["luajit-run"]


def node_run():
    if "node-run" not in _cache:
        cmd, env = node_cmd()
        _cache["node-run"] = JitRun("node", cmd, N_NODE, env=env, perf_map=True)
    return _cache["node-run"]


# ------------------------------------------------------------------------
# (a)-(c): the corpus and the shim's counters


def test_numba_first_call():
    r = numba_run()
    compiled = numba_compiled(r)
    r.measured(compiled)
    r.check_count()
    expect(compiled == [1], f"{r.name}: numba compiled in iterations {compiled}, not [1]")
    expect(r.ns(1) > 100 * statistics.median(r.ns(i) for i in range(2, r.n + 1)),
           f"{r.name}: iteration 1 ({r.ns(1)} ns) is not the compilation")
    r.check_code_counters(compiled)


def test_numba_retype():
    r = numba_run(retype=True)
    compiled = numba_compiled(r)
    r.measured(compiled)
    r.check_count()
    expect(compiled == [1, RETYPE_AT],
           f"{r.name}: numba compiled in iterations {compiled}, not [1, {RETYPE_AT}]")
    r.check_code_counters(compiled)


def test_luajit_traces():
    r = luajit_run()
    compiled = luajit_compiled(r)
    r.measured(compiled)
    r.check_count()
    expect(compiled and compiled[0] == 1 and compiled[-1] <= LUAJIT_COMPILE_BY,
           f"{r.name}: LuaJIT committed traces in iterations {compiled}: not from iteration 1 "
           f"to {LUAJIT_COMPILE_BY} at most")
    aborts = [int(f[0]) for f in r.log if int(f[2]) > 0]
    expect(not aborts, f"{r.name}: trace recordings aborted in iterations {aborts} (an aborted "
           "loop is retried later: compilation in the steady state)")
    r.check_code_counters(compiled)


def test_node_tiers():
    r = node_run()
    compiled = node_step_compiled(r)
    code = node_code_objects(r)
    r.measured(compiled)
    print(f"  {r.name}: V8 code objects by iteration (perf map): "
          + "; ".join(f"{i}: {len(v)}" for i, v in sorted(code.items())))
    r.check_count()
    optimized = [i for i in compiled
                 if any(n == "JS:*step" for n in code[i])]
    expect(optimized and optimized[-1] <= NODE_COMPILE_BY,
           f"{r.name}: TurboFan code for step in iterations {optimized}: none, or after "
           f"iteration {NODE_COMPILE_BY}")
    late = [i for i in compiled if i > r.n // 2]
    expect(not late, f"{r.name}: V8 compiled step in the last half: {late}")
    # V8 makes no interposable call per compilation here (RWX code space):
    # what the shim saw is printed, not asserted; bytes where it saw events.
    if r.has_counter("code-events"):
        seen = [(i, r.counter(i, "code-events"), r.counter(i, "code-bytes"))
                for i in range(1, r.n + 1) if r.counter(i, "code-events")]
        print(f"  {r.name}: the shim's code events (iteration, events, bytes): {seen or 'none'}")
        for i, e, b in seen:
            expect(b is not None and b >= MIN_CODE_BYTES,
                   f"{r.name}: iteration {i}: {e} code events, {b} code bytes")
    else:
        print(f"  {r.name}: the shim records no code-events counter yet")


# ------------------------------------------------------------------------
# (d): the analyzer names the cause `jit`. A busy machine can make another
# cause (preemption) primary in one recording: up to ATTEMPTS recordings.


def attempts(make_run, check, need_code_events=True):
    """CHECK(run) returns None when it passes, else what failed; a new
    recording each time, up to ATTEMPTS. Without the shim's code counters
    at all (NEED_CODE_EVENTS), the first recording decides: nothing could
    name jit."""
    problems = []
    for k in range(ATTEMPTS):
        r = make_run(k)
        expect(not need_code_events or r.has_counter("code-events"),
               f"{r.name}: the shim records no code-events counter: nothing can attribute "
               f"time to jit yet\n{r.summary()}")
        problem = check(r)
        if problem is None:
            if problems:
                print("  passed after:\n    " + "\n    ".join(problems))
            return
        problems.append(f"{r.summary()}\n      {problem}")
    raise AssertionError("\n".join(problems))


def fresh_numba(retype):
    def make(k):
        if k == 0:
            return numba_run(retype)
        cmd = numba_cmd() + (["--retype-at", str(RETYPE_AT)] if retype else [])
        return JitRun("numba-retype" if retype else "numba", cmd, N_NUMBA)
    return make


def primary_jit(iterations):
    def check(r):
        bad = [r.describe(i) for i in iterations if not jit_is_primary(r, i)]
        return "primary cause is not jit: " + "; ".join(bad) if bad else None
    return check


def warmup_names_jit(r):
    warm = [p for p in r.region["phases"] if p["label"] == "warm-up"]
    if not warm:
        return "no warm-up phase"
    if not any("jit" in p["causes"] for p in warm):
        return "no warm-up phase names jit among its causes"
    return None


def test_numba_jit_cause():
    attempts(fresh_numba(False), primary_jit([1]))


def test_numba_retype_jit_cause():
    attempts(fresh_numba(True), primary_jit([1, RETYPE_AT]))


def luajit_names_jit(r):
    """jit is the primary cause of iteration 1 (where LuaJIT commits its
    first traces) and the phase holding it names jit. That phase is the
    warm-up, except where the analyzer finds no steady state at all: these
    VMs run the same 40 us iteration at levels 3.5 % apart for stretches
    (seen: 39.6, 40.9 and 42.3 us in one run, in 3 recordings in a row), and
    then every phase is 'changing' (issue 5's classification, tested apart);
    the jit attribution must hold all the same."""
    problem = primary_jit([1])(r)
    if problem is not None:
        return problem
    if r.region["classification"] != "no-steady-state":
        return warmup_names_jit(r)
    first = r.region["phases"][0]
    if "jit" not in first["causes"]:
        return f"no steady state, and its first phase {first} does not name jit"
    return None


def test_luajit_jit_cause():
    def make(k):
        return luajit_run() if k == 0 else JitRun("luajit", luajit_cmd(), N_LUAJIT)
    attempts(make, luajit_names_jit)


def test_node_jit_cause():
    # V8 makes no interposable call when it compiles here (its code space is
    # RWX from start-up; tests/jit/README.md): the shim's code-events stay 0
    # in node's iterations, and only the perf map V8 writes under
    # --perf-basic-prof (read from outside the process) can tell the
    # analyzer. Hence no code-events precondition here.
    def make(k):
        return node_run() if k == 0 else node_again()

    def check(r):
        problem = warmup_names_jit(r)
        if problem is None:
            return None
        return (f"{problem} (V8 compiled step in iterations {node_step_compiled(r)}; no "
                f"interposable call marks a V8 compilation: only /tmp/perf-<pid>.map does)")
    attempts(make, check, need_code_events=False)


def no_jit_in_last_half(r):
    """No iteration of the last half -- where the engine compiled nothing
    (checked above from its own log) -- has a share of `jit`."""
    bad = [r.describe(i) for i in range(r.n // 2 + 1, r.n + 1)
           if r.it(i)["shares"].get("jit")]
    return ("jit named where the engine compiled nothing: " + "; ".join(bad[:5])
            + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")) if bad else None


def test_no_jit_in_the_last_half():
    # What the analyzer must not invent: numba and LuaJIT compile nothing
    # after iteration 50 and 11 (their logs, checked above), node nothing
    # after its first iterations (the perf map); the code node runs after
    # its loop (writing the log) is not the last iterations' either.
    failures, skipped = [], []
    for name, make in (("numba", lambda k: numba_run(True) if k == 0 else
                        JitRun("numba-retype", numba_cmd() + ["--retype-at", str(RETYPE_AT)],
                               N_NUMBA)),
                       ("luajit", lambda k: luajit_run() if k == 0 else
                        JitRun("luajit", luajit_cmd(), N_LUAJIT)),
                       ("node", lambda k: node_run() if k == 0 else node_again())):
        try:
            attempts(make, no_jit_in_last_half, need_code_events=(name != "node"))
        except Skip as e:
            print(f"  {name}: skipped: {e}")
            skipped.append(name)
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    expect(not failures, "\n".join(failures))
    if len(skipped) == 3:
        raise Skip("no runtime installed")


def node_again():
    cmd, env = node_cmd()
    return JitRun("node", cmd, N_NODE, env=env, perf_map=True)


# ------------------------------------------------------------------------


def main(tests):
    """Run the tests in order: ok, skip (with the reason) or FAIL each;
    the closing line counts them; exit 1 if any failed. The work directory is
    kept when one failed."""
    passed = failed = skipped = 0
    for t in tests:
        try:
            t()
            passed += 1
            print(f"ok   {t.__name__}")
        except Skip as e:
            skipped += 1
            print(f"skip {t.__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - report and continue
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    if failed:
        print(f"work directory kept: {W.path}")
    else:
        W.cleanup()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main([test_numba_first_call, test_numba_retype, test_luajit_traces, test_node_tiers,
          # (d) the analyzer's part
          test_numba_jit_cause, test_numba_retype_jit_cause, test_luajit_jit_cause,
          test_node_jit_cause, test_no_jit_in_the_last_half])

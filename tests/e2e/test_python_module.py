#!/usr/bin/env python3
"""The Python module python/iterprof (ctypes over the marker API) and
`python3 -m iterprof.run`, in real programs under `iterprof record`.

Each test writes a small Python script into the work directory, runs it with
this interpreter (sys.executable: the real binary, not a pyenv shim that
would exec through bash) and PYTHONPATH=<source>/python, and checks what a
person can predict:

 - counts: 37 `with iterprof.iteration("a")` blocks, 11 calls of an
   @iterprof.iterations function, 5 begin()/end() pairs, 9 calls of an
   @iterprof.iterations("named") function -> exactly 37, 11, 5, 9
   iterations, nothing dropped;
 - nesting: re-entered blocks, a decorated recursive function, two regions
   nested -> only the outermost pair of a region counts;
 - exceptions: blocks and decorated calls that raise still end their
   iteration (the later ones of the same region are counted, not taken for
   re-entries) and the exception reaches the caller;
 - threads: two threads -> two streams of the region, 25 iterations each;
 - no shim: the module is a no-op (active() False, iterations(f) is f) and
   the script's stdout is byte-identical with and without the shim;
 - the wrapper: attributes of the wrapped object read and set live through
   it (a dispatcher's compile() and signatures), __name__/__doc__/signature,
   method binding, pickling by reference;
 - iterprof.run with a function of an importable module (mod:f) and with one
   the script defines (__main__:f and bench:f for bench.py): exact call counts,
   --region, sys.argv / __name__ / __file__ / sys.path[0] as the script sees
   them, its stdout byte-identical to `python3 script.py ...`, its exit status
   (sys.exit(N), an uncaught exception) passed through, the traceback free of
   the runner's frames;
 - bad inputs: exit 2 and exactly one line `iterprof.run: ...` on stderr;
 - sleeps: a function that sleeps 20 ms per call, 5 calls -> 5 iterations of
   at least 20 ms each;
 - overhead: ns per `with` block with and without the shim, printed (not
   asserted: a shared machine), and the iteration count of that run checked.
"""
import json
import os
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SOURCE_DIR, Workdir, expect, main, record, regions,  # noqa: E402
                     report_json, run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PYTHON = sys.executable
ENV = {"PYTHONPATH": os.path.join(SOURCE, "python"),
       "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
TIMEOUT = 60
_serial = [0]


def script(name, text, directory=None):
    """Write TEXT (dedented) to NAME in the work directory (or DIRECTORY);
    return its path."""
    directory = directory or W.path
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip())
    return path


def recorded(cmd, check=0, cwd=None):
    """Run CMD under iterprof record; (process result, report JSON with
    --iterations)."""
    _serial[0] += 1
    data = W.join(f"r{_serial[0]}.data")
    p = record(data, cmd, options=("-q",), check=check, env=ENV, timeout=TIMEOUT, cwd=cwd)
    return p, report_json(data, ("--iterations",))


def plain(cmd, cwd=None):
    """Run CMD without the shim."""
    return run(cmd, env=ENV, timeout=TIMEOUT, cwd=cwd)


def counts(doc):
    """{region name: [iterations of each stream]}"""
    found = {}
    for r in doc["regions"]:
        found.setdefault(r["name"], []).append(r["iterations"])
    return found


def dropped(doc):
    return sum(p["dropped"] for p in doc["processes"])


def one(doc, name):
    found = regions(doc, name)
    expect(len(found) == 1, f"one stream of region {name!r}: {counts(doc)}")
    return found[0]


# ------------------------------------------------------------------------
# The module


COUNTS = """
    import iterprof

    print("active", iterprof.active())
    for i in range(37):
        with iterprof.iteration("a"):
            sum(range(100))

    @iterprof.iterations
    def b(x):
        return x + 1

    @iterprof.iterations("named")
    def c():
        return "c"

    total = sum(b(i) for i in range(11))
    results = [c() for _ in range(9)]
    for i in range(5):
        iterprof.begin("e")
        iterprof.end("e")
    print("b", total, "c", results.count("c"), b.__name__, b.__wrapped__.__name__)
"""


def test_counts():
    p, doc = recorded([PYTHON, script("counts.py", COUNTS)])
    expect(p.stdout.splitlines()[0] == "active True",
           f"the script did not find the shim: {p.stdout!r}")
    expect("b 66 c 9 b b" in p.stdout, f"decorated functions returned wrong values: {p.stdout!r}")
    got = counts(doc)
    expect(got == {"a": [37], "b": [11], "named": [9], "e": [5]},
           f"iterations per region: {got}, expected a 37, b 11, named 9, e 5")
    expect(dropped(doc) == 0, f"{dropped(doc)} iterations dropped")


NESTING = """
    import iterprof

    it = iterprof.iteration("n")
    for i in range(7):                  # 7 iterations of n: the inner ones re-enter
        with it:
            with iterprof.iteration("n"):
                with it:
                    pass

    @iterprof.iterations
    def fact(k):                        # recursion: one iteration per outermost call
        return 1 if k <= 1 else k * fact(k - 1)

    print([fact(6) for _ in range(3)])

    for i in range(4):                  # two regions nested: both count
        with iterprof.iteration("outer"):
            with iterprof.iteration("inner"):
                pass
        iterprof.begin("manual")        # begin/end re-entered by hand
        iterprof.begin("manual")
        iterprof.end("manual")
        iterprof.end("manual")
    iterprof.end("never-begun")         # ignored
"""


def test_nesting_counts_only_the_outermost():
    p, doc = recorded([PYTHON, script("nesting.py", NESTING)])
    expect(p.stdout.strip() == "[720, 720, 720]", f"fact through the wrapper: {p.stdout!r}")
    got = counts(doc)
    expect(got == {"n": [7], "fact": [3], "outer": [4], "inner": [4], "manual": [4]},
           f"iterations per region: {got}, expected n 7, fact 3, outer 4, inner 4, manual 4")
    expect(dropped(doc) == 0, f"{dropped(doc)} iterations dropped")


EXCEPTIONS = """
    import time
    import iterprof

    caught = 0
    for i in range(6):
        try:
            with iterprof.iteration("x"):
                time.sleep(0.002)
                raise KeyError(i)
        except KeyError:
            caught += 1
    for i in range(3):                  # would be re-entries if one above stayed open
        with iterprof.iteration("x"):
            pass

    @iterprof.iterations
    def fails(i):
        raise ValueError(i)

    for i in range(4):
        try:
            fails(i)
        except ValueError as e:
            caught += 1
            assert e.args == (i,)
    print("caught", caught)
"""


def test_exceptions_end_the_iteration():
    p, doc = recorded([PYTHON, script("exceptions.py", EXCEPTIONS)])
    expect(p.stdout.strip() == "caught 10", f"exceptions did not reach the caller: {p.stdout!r}")
    got = counts(doc)
    expect(got == {"x": [9], "fails": [4]},
           f"iterations per region: {got}, expected x 9 (6 raising, 3 after), fails 4")
    raised = one(doc, "x")["per_iteration"][:6]
    short = [(it["index"], it["ns"]) for it in raised if it["ns"] < 2_000_000]
    expect(not short, f"iterations ended before the block raised (< 2 ms): {short}")


THREADS = """
    import threading
    import iterprof

    def work():
        for i in range(25):
            with iterprof.iteration("t"):
                sum(range(1000))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
"""


def test_threads_have_streams_of_their_own():
    _, doc = recorded([PYTHON, script("threads.py", THREADS)])
    streams = regions(doc, "t")
    expect(len(streams) == 2 and [r["iterations"] for r in streams] == [25, 25],
           f"two streams of 25 iterations expected: {counts(doc)}")
    expect(len({r["tid"] for r in streams}) == 2, "two distinct threads")


NOOP = """
    import os
    import iterprof

    def f(x):
        return x * 3

    g = iterprof.iterations(f)
    h = iterprof.iterations("h")(f)
    out = []
    for i in range(5):
        with iterprof.iteration("a") as bound:
            out.append(g(i) + h(i))
        iterprof.begin("b")
        iterprof.end("b")
    try:
        with iterprof.iteration("a"):
            raise RuntimeError("through")
    except RuntimeError as e:
        out.append(str(e))
    print(out, bound)
    with open(os.environ["NOOP_STATE"], "w") as state:
        print(iterprof.active(), g is f, h is f, type(iterprof.iteration("a")).__name__,
              file=state)
"""


def test_without_the_shim_a_noop():
    path = script("noop.py", NOOP)
    state = W.join("noop.state")
    ENV["NOOP_STATE"] = state
    try:
        bare = plain([PYTHON, path])
        with open(state) as f:
            bare_state = f.read().split()
        p, doc = recorded([PYTHON, path])
        with open(state) as f:
            shim_state = f.read().split()
    finally:
        del ENV["NOOP_STATE"]
    expect(bare.returncode == 0 and bare.stderr == "",
           f"without the shim: exit {bare.returncode}, stderr {bare.stderr!r}")
    expect(bare_state == ["False", "True", "True", "_NoIteration"],
           f"without the shim: active, iterations(f) is f (twice), context type: {bare_state}")
    expect(shim_state[:3] == ["True", "False", "False"],
           f"with the shim: active, iterations(f) is f (twice): {shim_state}")
    expect(p.stdout == bare.stdout,
           f"stdout differs with the shim:\n{p.stdout!r}\nwithout:\n{bare.stdout!r}")
    expect(counts(doc) == {"a": [6], "f": [5], "h": [5], "b": [5]},
           f"with the shim: {counts(doc)}")


TRANSPARENT = """
    import inspect
    import pickle
    import iterprof

    class Kernel:                       # stands for a numba dispatcher
        def __init__(self):
            self.signatures = []
        def compile(self, sig):
            self.signatures.append(sig)
        def __call__(self, x):
            return x * 2

    kernel = iterprof.iterations("kernel")(Kernel())
    kernel.compile("(f8,)")             # attributes are the wrapped object's, live
    kernel.signatures.append("(i8,)")
    kernel.extra = 5
    print(kernel(21), kernel.signatures, kernel.__wrapped__.extra, type(kernel).__name__)

    @iterprof.iterations
    def f(a, b=2):
        "doc"
        return a + b

    class C:
        @iterprof.iterations
        def m(self, x):
            return self, x

    c = C()
    print(f(1), f.__name__, f.__doc__, inspect.signature(f), c.m(3)[0] is c, C.m.region)
    print(pickle.loads(pickle.dumps(f)) is f)
"""


def test_the_wrapper_is_transparent():
    p, doc = recorded([PYTHON, script("transparent.py", TRANSPARENT)])
    expect(p.stdout.splitlines() == [
        "42 ['(f8,)', '(i8,)'] 5 Iterations",
        "3 f doc (a, b=2) True C.m",
        "True"], f"through the wrapper: {p.stdout!r}")
    expect(counts(doc) == {"kernel": [1], "f": [1], "C.m": [1]}, f"iterations {counts(doc)}")


# ------------------------------------------------------------------------
# python3 -m iterprof.run

MODULE = """
    calls = 0

    def f(x):
        global calls
        calls += 1
        return x * 2

    def twice(x):                       # the module's own calls get the wrapper too
        return f(x) + f(x)
"""

IMPORTER = """
    import sys
    import mod
    from mod import f

    print("argv", sys.argv, "name", __name__, "path0", sys.path[0] == __file__.rsplit("/", 1)[0])
    print("file", __file__)
    print(sum(f(i) for i in range(13)), sum(mod.f(i) for i in range(4)), mod.twice(5))
    print("calls", mod.calls, "wraps", getattr(f, "__wrapped__", f).__name__)
    sys.exit(3)
"""


def test_run_importable_module():
    directory = W.join("importable")
    script("mod.py", MODULE, directory)
    path = script("importer.py", IMPORTER, directory)
    bare = plain([PYTHON, path, "a", "b"], cwd=W.path)
    expect(bare.returncode == 3, f"plain run: exit {bare.returncode}\n{bare.stderr}")
    for options, region in (((), "f"), (("--region", "work"), "work")):
        cmd = [PYTHON, "-m", "iterprof.run", *options, "mod:f", path, "a", "b"]
        p, doc = recorded(cmd, check=3, cwd=W.path)
        expect(p.stdout == bare.stdout,
               f"{cmd}: stdout differs from python3 {path} a b:\n{p.stdout}\nplain:\n{bare.stdout}")
        expect(f"argv ['{path}', 'a', 'b'] name __main__ path0 True" in p.stdout,
               f"what the script saw: {p.stdout!r}")
        expect("calls 19" in p.stdout, f"19 calls of f expected: {p.stdout!r}")
        expect(counts(doc) == {region: [19]},
               f"{cmd}: iterations {counts(doc)}, expected {region} 19 (13 + 4 + 2 from mod)")


SCRIPT = """
    import os
    import sys

    def f(x):
        \"\"\"doc of f\"\"\"
        return x + 1

    def main():
        print("argv", sys.argv[1:], "name", __name__, "path0", sys.path[0])
        print("file", __file__, "argv0", sys.argv[0], "doc", f.__doc__, "name", f.__name__)
        import __main__
        print("module", __main__.__dict__ is globals(), sorted(globals())[:9])
        total = 0
        for i in range(17):
            total += f(i)
        print("total", total)
        return int(os.environ.get("SCRIPT_STATUS", "0"))

    if __name__ == "__main__":
        sys.exit(main())
"""


def test_run_function_of_the_script():
    directory = W.join("own")
    path = script("bench.py", SCRIPT, directory)
    rel = os.path.relpath(path, W.path)
    ENV["SCRIPT_STATUS"] = "4"
    try:
        bare = plain([PYTHON, rel, "x", "--y"], cwd=W.path)
        expect(bare.returncode == 4 and "total 153" in bare.stdout,
               f"plain run: exit {bare.returncode}\n{bare.stdout}{bare.stderr}")
        expect(f"path0 {directory}" in bare.stdout and "module True" in bare.stdout,
               f"plain run: {bare.stdout}")
        for target in ("__main__:f", "bench:f"):
            cmd = [PYTHON, "-m", "iterprof.run", target, rel, "x", "--y"]
            p, doc = recorded(cmd, check=4, cwd=W.path)
            expect(p.stdout == bare.stdout,
                   f"{cmd}: stdout differs from python3 {rel} x --y:\n{p.stdout}\n"
                   f"plain:\n{bare.stdout}")
            expect(counts(doc) == {"f": [17]}, f"{cmd}: iterations {counts(doc)}, expected f 17")
    finally:
        del ENV["SCRIPT_STATUS"]


FAILING = """
    def f():
        raise LookupError("from the script")

    for i in range(3):
        try:
            f()
        except LookupError:
            pass
    f()
"""


def without_frames_of(traceback_text, path):
    """TRACEBACK_TEXT without the entries of frames in PATH (the `File`
    line and the indented source lines under it)."""
    out, skipping = [], False
    for line in traceback_text.splitlines(keepends=True):
        if line.startswith("  File "):
            skipping = line.startswith(f'  File "{path}"')
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def test_run_uncaught_exception():
    path = script("failing.py", FAILING)
    bare = plain([PYTHON, path])
    p, doc = recorded([PYTHON, "-m", "iterprof.run", "__main__:f", path], check=1)
    expect(bare.returncode == 1, f"plain run: exit {bare.returncode}")
    # The one frame allowed in addition: the wrapper's call (a frame a
    # decorator cannot remove from a traceback passing through it).
    wrapper = os.path.join(SOURCE, "python", "iterprof", "__init__.py")
    expect(p.stderr.count(f'File "{wrapper}"') == 1,
           f"one frame of the wrapper expected in the traceback:\n{p.stderr}")
    expect(without_frames_of(p.stderr, wrapper) == bare.stderr,
           f"traceback differs from python3's (but for the wrapper's frame):\n{p.stderr}\n"
           f"python3's:\n{bare.stderr}")
    expect("run.py" not in p.stderr, f"the runner's frames in the traceback:\n{p.stderr}")
    expect(counts(doc) == {"f": [4]}, f"iterations {counts(doc)}, expected f 4")


def test_run_bad_inputs():
    path = script("good.py", "def f():\n    pass\nf()\n")
    directory = W.join("adir")
    os.makedirs(directory, exist_ok=True)
    cases = [
        (["f", path], "not MODULE:FUNCTION"),
        (["no_such_module_xyz:f", path], "no module named 'no_such_module_xyz'"),
        (["json:no_such_function", path], "has no attribute 'no_such_function'"),
        (["__main__:g", path], "defines no 'g'"),
        (["good:ff", path], "did you mean 'f'?"),
        (["__main__:f", W.join("missing.py")], "missing.py: no such file"),
        (["__main__:f", directory], "is a directory"),
        (["--bogus", "__main__:f", path], "unknown option '--bogus'"),
        (["--region"], "--region needs a NAME"),
        (["__main__:f"], "missing SCRIPT"),
        ([], "missing MODULE:FUNCTION and SCRIPT"),
        (["__main__:Class.method", path], "only a module-level function"),
    ]
    for args, what in cases:
        p = plain([PYTHON, "-m", "iterprof.run", *args])
        lines = p.stderr.splitlines()
        expect(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("iterprof.run: ")
               and what in lines[0] and p.stdout == "",
               f"iterprof.run {args}: exit {p.returncode} (2 expected), stderr {p.stderr!r} "
               f"(one line with {what!r} expected), stdout {p.stdout!r}")
    # Under record too: the status is the command's, nothing recorded.
    p = record(W.join("bad.data"), [PYTHON, "-m", "iterprof.run", "__main__:g", path],
               options=("-q",), check=2, env=ENV, timeout=TIMEOUT)
    expect(p.stderr.startswith("iterprof.run: "), f"under record: {p.stderr!r}")
    h = plain([PYTHON, "-m", "iterprof.run", "--help"])
    expect(h.returncode == 0 and h.stdout.startswith("usage: python3 -m iterprof.run"),
           f"--help: exit {h.returncode}, {h.stdout[:80]!r}")


SLEEPER = """
    import time

    def nap():
        time.sleep(0.020)

    for _ in range(5):
        nap()
"""


def test_sleeps_are_iterations():
    path = script("sleeper.py", SLEEPER)
    _, doc = recorded([PYTHON, "-m", "iterprof.run", "__main__:nap", path])
    naps = one(doc, "nap")
    durations = [it["ns"] for it in naps["per_iteration"]]
    expect(len(durations) == 5, f"5 iterations expected: {durations}")
    expect(all(ns >= 20_000_000 for ns in durations),
           f"every iteration sleeps 20 ms: {[ns / 1e6 for ns in durations]} ms")


# ------------------------------------------------------------------------
# The cost of a `with` block: printed for doc/python.md, not asserted.

OVERHEAD = """
    import json
    import sys
    import timeit
    import iterprof

    class Empty:
        __slots__ = ()
        def __enter__(self):
            pass
        def __exit__(self, exc_type, exc, tb):
            return False

    N, ROUNDS = int(sys.argv[1]), int(sys.argv[2])
    g = {"empty": Empty(), "it": iterprof.iteration("overhead"), "iterprof": iterprof,
         "name": b"overhead"}
    statements = {
        "empty with": "with empty: pass",
    }
    if iterprof.active():  # the floor: the two ctypes calls, without the module
        import ctypes
        process = ctypes.CDLL(None)
        g["b"], g["e"] = process.iterprof_iter_begin, process.iterprof_iter_end
        for fn in (g["b"], g["e"]):
            fn.argtypes, fn.restype = (ctypes.c_char_p,), None
        statements["ctypes begin+end"] = "b(name); e(name)"
    statements.update({
        "with it": "with it: pass",
        "with iterprof.iteration(name)": "with iterprof.iteration('overhead'): pass",
        "begin(name); end(name)": "iterprof.begin('overhead'); iterprof.end('overhead')",
    })
    best = {k: float("inf") for k in statements}
    for _ in range(ROUNDS):          # interleaved: each round measures all of them
        for k, s in statements.items():
            best[k] = min(best[k], timeit.timeit(s, globals=g, number=N) / N * 1e9)
    print(json.dumps({"active": iterprof.active(), "ns": best}))
"""


def test_overhead_printed():
    n, rounds = 20000, 5
    path = script("overhead.py", OVERHEAD)
    bare = json.loads(plain([PYTHON, path, str(n), str(rounds)]).stdout)
    p, doc = recorded([PYTHON, path, str(n), str(rounds)])
    shim = json.loads(p.stdout)
    _serial[0] += 1
    data = W.join(f"r{_serial[0]}.data")
    p2 = record(data, [PYTHON, path, str(n), str(rounds)], options=("-q", "--no-counters"),
                env=ENV, timeout=TIMEOUT)
    clock = json.loads(p2.stdout)
    expect(not bare["active"] and shim["active"] and clock["active"], "active() in the three runs")
    expect(counts(doc) == {"overhead": [4 * n * rounds]},
           f"{4 * n * rounds} iterations of 'overhead' expected: {counts(doc)}")
    for label, result in (("no shim", bare), ("shim, default counters", shim),
                          ("shim, --no-counters", clock)):
        empty = result["ns"]["empty with"]  # the same run's: runs differ on a shared machine
        print(f"  {label}: " + ", ".join(
            f"{k} {v:.0f} ns ({v / empty:.2f}x)" for k, v in result["ns"].items()))


if __name__ == "__main__":
    main([test_counts, test_nesting_counts_only_the_outermost, test_exceptions_end_the_iteration,
          test_threads_have_streams_of_their_own, test_without_the_shim_a_noop,
          test_the_wrapper_is_transparent,
          test_run_importable_module, test_run_function_of_the_script,
          test_run_uncaught_exception, test_run_bad_inputs, test_sleeps_are_iterations,
          test_overhead_printed], W)

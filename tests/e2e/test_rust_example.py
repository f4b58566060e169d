#!/usr/bin/env python3
"""examples/rust-criterion: a real criterion 0.3 benchmark, built offline from
Debian's crates by scripts/build-rust-example, recorded with
`iterprof record -f training_step` (issue 3) without changing a line of it.

The bench binary calls training_step exactly N times and exits when
ITERPROF_EXAMPLE_CALLS=N is set, so the count iterprof must record is known;
without it, it is an ordinary criterion run. The build is skipped (with the
reason printed) only when there is no Rust toolchain and none can be
installed; the -f checks wait until `iterprof record --help` offers -f."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, SOURCE_DIR, Workdir, expect, main,  # noqa: E402
                     record, report_json, run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(SOURCE, "scripts", "build-rust-example")
SKIP_STATUS = 77  # scripts/build-rust-example: no toolchain, none installable

# rustc's legacy mangling of iterprof_criterion_example::training_step: the
# path, then a hash of the crate's metadata (17h + 16 hex digits).
MANGLED = re.compile(
    r"^_ZN26iterprof_criterion_example13training_step17h[0-9a-f]{16}E$")

BENCH = None  # path of the bench executable, set by build()


def build():
    """Run scripts/build-rust-example; return the bench executable's path.
    Exits 0 with the reason printed when there is no toolchain."""
    # A cold build takes 45-90 s on 2 vCPUs with nothing else running (several
    # minutes when the machine is busy); a warm one under a second.
    p = subprocess.run([BUILD_SCRIPT], capture_output=True, text=True,
                       timeout=290)
    if p.returncode == SKIP_STATUS:
        why = p.stderr.strip().splitlines()[-1:] or ["(no reason given)"]
        print(f"skip: no Rust toolchain to build examples/rust-criterion: {why[0]}")
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(0)
    tail = "\n".join(p.stderr.splitlines()[-30:])
    expect(p.returncode == 0,
           f"{BUILD_SCRIPT}: exit {p.returncode}\nstderr (end):\n{tail}")
    lines = p.stdout.strip().splitlines()
    expect(lines, f"{BUILD_SCRIPT} printed no path\nstderr (end):\n{tail}")
    path = lines[-1]
    expect(re.search(r"/build/rust-criterion/release/deps/step-[0-9a-f]+$", path)
           and os.access(path, os.X_OK), f"not the bench executable: {path!r}")
    return path


def bench_env(**extra):
    # CRITERION_HOME: criterion writes its reports there, not in ./target.
    env = {"CRITERION_HOME": W.join("criterion")}
    env.update(extra)
    return env


def function_option_offered():
    """Whether this iterprof has `record -f` (issue 3). '--force' must not
    count, hence the look for -f as a word of its own."""
    p = run([ITERPROF, "record", "--help"])
    return re.search(r"(^|[\s,])-f([,\s]|$)", p.stdout + p.stderr, re.M) is not None


def training_step_regions(doc):
    """The regions of training_step itself: the demangled or mangled name,
    not criterion's closure step::bench_training_step::{{closure}}."""
    return [r for r in doc["regions"] if "training_step" in r["name"]
            and "bench_training_step" not in r["name"]]


def criterion_interval_ns(stdout):
    """Criterion's estimate of the time per call, in ns: (low, point, high),
    as it prints them ("time: [87.0 µs 108.7 µs 133.9 µs]")."""
    unit = r"(ns|µs|us|ms|s)"
    m = re.search(rf"training_step\s+time:\s+\[(\S+) {unit} (\S+) {unit} (\S+) {unit}\]",
                  stdout)
    expect(m, f"no criterion estimate in:\n{stdout}")
    scale = {"ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
    return tuple(float(m.group(i)) * scale[m.group(i + 1)] for i in (1, 3, 5))


def criterion_measured_calls(stdout):
    """The calls criterion made while measuring, as it prints them
    ("Collecting 10 samples in estimated 1.0001 s (112k iterations)"): rounded
    to 3 digits above 10 000."""
    m = re.search(r"Collecting \d+ samples in estimated .*\(([\d.]+)([kM]?) iterations\)",
                  stdout)
    expect(m, f"no sample count in criterion's output:\n{stdout}")
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]


def test_fixed_calls_plain():
    p = run([BENCH], env=bench_env(ITERPROF_EXAMPLE_CALLS="500"), check=0)
    expect(p.stdout == "calls training_step 500\n", repr(p.stdout))
    p = run([BENCH], env=bench_env(ITERPROF_EXAMPLE_CALLS="7",
                                   ITERPROF_EXAMPLE_WORK="2"), check=0)
    expect(p.stdout == "calls training_step 7\n", repr(p.stdout))
    p = run([BENCH], env=bench_env(ITERPROF_EXAMPLE_CALLS="1",
                                   ITERPROF_EXAMPLE_WORK="0"), check=2)
    expect("ITERPROF_EXAMPLE_WORK=0" in p.stderr, p.stderr)


def cpu_seconds_per_call(work, calls=2000):
    """CPU time per call of training_step without iterprof: the whole
    process's (set-up is ~1 ms of ~60), the best of three runs, so that a busy
    machine does not decide."""
    code = ("import resource,subprocess,sys;"
            "subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
            "r=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(r.ru_utime+r.ru_stime)")
    best = None
    for _ in range(3):
        p = run([sys.executable, "-c", code, BENCH], check=0,
                env=bench_env(ITERPROF_EXAMPLE_CALLS=str(calls),
                              ITERPROF_EXAMPLE_WORK=work))
        t = float(p.stdout) / calls
        best = t if best is None else min(best, t)
    return best


def test_work_switch_doubles_the_time():
    # ITERPROF_EXAMPLE_WORK=2 is issue 7's "genuinely slower body". These
    # VMs run the same work up to 2x slower for stretches (CI measured
    # 2.44 once): three rounds, each measuring both, the ratio of a round
    # where the machine kept one speed must be in range.
    seen = []
    for _ in range(3):
        one, two = cpu_seconds_per_call("1"), cpu_seconds_per_call("2")
        seen.append(f"work 1: {one * 1e6:.1f} µs per call, work 2: {two * 1e6:.1f} µs")
        if 1.6 <= two / one <= 2.4:
            return
        print(f"  {seen[-1]}: again")
    expect(False, "; ".join(seen))


def test_symbol_in_binary():
    p = run(["nm", BENCH], check=0)
    names = [f[2] for f in (line.split() for line in p.stdout.splitlines())
             if len(f) == 3 and f[1] in "Tt" and MANGLED.match(f[2])]
    expect(len(names) == 1, f"want one text symbol like {MANGLED.pattern}, "
           f"got {names}")
    p = run(["nm", "-C", BENCH], check=0)
    expect(re.search(r" [Tt] iterprof_criterion_example::training_step$", p.stdout, re.M),
           "nm -C: no iterprof_criterion_example::training_step")


def test_record_fixed_calls():
    out = W.join("fixed.data")
    p = record(out, [BENCH], options=["-q", "-f", "training_step"], check=0,
               env=bench_env(ITERPROF_EXAMPLE_CALLS="500"))
    expect(p.stdout == "calls training_step 500\n",
           f"the program's output changed under -f: {p.stdout!r}")
    regions = training_step_regions(report_json(out))
    expect([r["iterations"] for r in regions] == [500],
           f"want one training_step region of 500 iterations, got "
           f"{[(r['name'], r['iterations']) for r in regions]}")


def test_stacks_name_rust_functions():
    """Call stacks through a Rust binary: frames demangled (legacy symbols,
    hash dropped), training_step under the program's own callers."""
    out = W.join("stacks.data")
    # On-CPU samples are taken only in iterations typically longer than half
    # the period (doc/stacks.md), and the period is at least 50 µs (a sample
    # costs up to 33 µs here; at 10 µs this run never ended): three times the
    # default work makes training_step ~90 µs, well over twice 50 µs.
    record(out, [BENCH], options=["-q", "-f", "training_step", "--stacks=all",
                                  "--stack-cpu-us", "50"], check=0,
           env=bench_env(ITERPROF_EXAMPLE_CALLS="500", ITERPROF_EXAMPLE_WORK="3"))
    p = run([ITERPROF, "report", "--flame", "all", "--flame-kind", "cpu", out], check=0)
    expect(p.returncode == 0, f"report --flame: {p.returncode}: {p.stderr}")
    lines = p.stdout.splitlines()
    leaf = [ln for ln in lines if ";iterprof_criterion_example::training_step" in ln]
    expect(leaf, "no stack through iterprof_criterion_example::training_step:\n"
           + "\n".join(lines[:10]))
    mangled = [ln for ln in lines if "_ZN" in ln or re.search(r"::h[0-9a-f]{16}", ln)]
    expect(not mangled, f"names left mangled: {mangled[:3]}")
    # under it, the program's own frames down to main (the shim's
    # trampoline replaced by the real return addresses)
    expect(any(";main;" in ln or ln.split(";")[1:2] == ["_start"] for ln in leaf)
           and not any("patch_" in ln for ln in leaf),
           f"training_step's callers: {leaf[:3]}")


def test_record_criterion_run():
    # A real criterion run: 0.5 s warm-up, 1 s measurement (the example's
    # settings; criterion 0.3 takes whole seconds only on its command line).
    out = W.join("criterion.data")
    p = record(out, [BENCH, "--bench", "--sample-size", "10"],
               options=["-q", "-f", "training_step"], check=0, cwd=W.path,
               env=bench_env())
    regions = training_step_regions(report_json(out))
    expect(len(regions) == 1, f"want one training_step region (criterion calls it "
           f"on its main thread), got {[(r['name'], r['iterations']) for r in regions]}")
    region = regions[0]
    # Every call is an iteration: at least those criterion measured (it also
    # warms up), allowing for the rounding of the count it prints.
    measured = criterion_measured_calls(p.stdout)
    expect(region["iterations"] >= 0.99 * measured,
           f"{region['iterations']} iterations recorded, criterion measured "
           f"~{measured:.0f} calls")
    # And iterprof's time per call agrees with criterion's estimate: ~30 µs
    # of work against tens of ns of interception. Mean against mean:
    # criterion's estimate is a slope over batches of calls, which a busy
    # machine inflates as much as it inflates our mean (a CPU hog taking half
    # the core doubles both), while most single calls - our median - run
    # uninterrupted.
    low, estimate, high = criterion_interval_ns(p.stdout)
    median, mean = region["stats"]["median_ns"], region["stats"]["mean_ns"]
    expect(0.5 * low <= mean <= 2.0 * high,
           f"iterprof mean {mean:.0f} ns, criterion [{low:.0f} {estimate:.0f} "
           f"{high:.0f}] ns")
    # The interception leaves the body's cost alone (issue 3's goal is
    # <= 30 ns per call against ~30 µs of work): the median call under -f
    # against the CPU time per call of the same body run without iterprof.
    plain = cpu_seconds_per_call("1") * 1e9
    expect(median <= 1.5 * plain,
           f"a call takes {median / 1e3:.1f} µs under -f (median), "
           f"{plain / 1e3:.1f} µs without iterprof")


if __name__ == "__main__":
    BENCH = build()
    tests = [test_fixed_calls_plain, test_work_switch_doubles_the_time,
             test_symbol_in_binary]
    if function_option_offered():
        tests += [test_record_fixed_calls, test_stacks_name_rust_functions,
                  test_record_criterion_run]
    else:
        print("skip: -f not implemented yet (iterprof record --help does not "
              "offer it): test_record_fixed_calls, test_record_criterion_run")
    main(tests, W)

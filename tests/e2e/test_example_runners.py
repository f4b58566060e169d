#!/usr/bin/env python3
"""The examples' one-command runners, run as a user would run them (with
ITERPROF set to this build's iterprof, so that they build nothing), and
what they print checked:

 - examples/rust-criterion/diff-demo DIR: records the criterion benchmark
   quiet, beside a CPU hog on its CPU, and with twice the work, and prints
   two diffs; the first must say `environment` (preemption or steal named,
   the work measure's evidence given), the second `regression` (the work
   measure grew). About 13 s here.
 - examples/python-numba/run --out DIR: records bench.py cold and warm and
   prints the cold run's report and `iterprof diff --threshold 10 WARM
   COLD`; the report must show iteration 1 as a phase of its own whose
   cause is jit (as harness.jit_is_primary allows: or the machine took a
   quarter of its excess and jit is the largest of the rest), and the diff
   must say `warmup`. The classification of the rest is not checked here
   (test_numba_example.py does): a step of the host's speed inside the run
   makes it slowdown or no-steady-state now and then, which the diff
   verdict survives. About 3 s here (numba compiles in each run).

test_rust_diff.py and test_numba_example.py check the same scenarios in
detail, step by step; this test checks that the scripts users are pointed
to (README.md, the examples' READMEs) still work end to end: their paths,
their parsing of the CPU, their options, their output.

Both scenarios are timing-sensitive on these shared VMs (test_rust_diff.py
and test_numba_example.py say how): a runner whose answer is wrong is run
again, at most ATTEMPTS times in all, each failure printed; the test fails
when no run gives the right answer. Skipped, with the reason printed, as the
detailed tests are: without a Rust toolchain (scripts/build-rust-example
exits 77), or without numba for /usr/bin/python3."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noise  # noqa: E402
from harness import ITERPROF, SOURCE_DIR, Workdir, attempts, expect, main, run  # noqa: E402

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DIFF_DEMO = os.path.join(SOURCE, "examples", "rust-criterion", "diff-demo")
NUMBA_RUN = os.path.join(SOURCE, "examples", "python-numba", "run")
BUILD_RUST = os.path.join(SOURCE, "scripts", "build-rust-example")
SKIP_STATUS = 77  # scripts/build-rust-example: no toolchain, none installable
ATTEMPTS = 3
MACHINE = ("preemption", "interrupts", "steal", "cgroup-throttle")  # as harness.py
MACHINE_SHARE = 0.25


def run_runner(args, timeout):
    """Run a runner with ITERPROF set; its output, checked to exit 0."""
    start = time.monotonic()
    p = run(args, env={"ITERPROF": ITERPROF}, timeout=timeout)
    print(f"  {os.path.relpath(args[0], SOURCE)}: exit {p.returncode} in "
          f"{time.monotonic() - start:.0f} s")
    expect(p.returncode == 0, f"{args}: exit {p.returncode}\nstdout:\n{p.stdout}\n"
           f"stderr (end):\n{p.stderr[-3000:]}")
    return p.stdout


def sections(stdout):
    """The output split at its '== ' headings: {heading: text}."""
    parts = re.split(r"^== (.*)$", stdout, flags=re.M)
    return {parts[k]: parts[k + 1] for k in range(1, len(parts) - 1, 2)}


def verdict_of(text, region):
    """The verdict of REGION in a diff's text output, its evidence sentence
    and the summary line: 'REGION (COMMAND, thread NAME): VERDICT', the
    sentence last among the pair's indented lines."""
    heads = re.findall(r"^(\S*" + re.escape(region) + r"\S*) \(.*, thread .*\): (\S+)$", text,
                       re.M)
    expect(len(heads) == 1, f"want one pair of {region}, got {heads}:\n{text}")
    verdict = heads[0][1]
    evidence = re.findall(r"^  (" + re.escape(verdict) + r": .*)$", text, re.M)
    expect(len(evidence) == 1, f"no evidence sentence for {verdict}:\n{text}")
    summary = re.findall(r"^\d+ regions? compared: .*$", text, re.M)
    return verdict, evidence[0], summary[0] if summary else ""


def run_attempts(name, check):
    """CHECK(DIR) in W/NAME-1, W/NAME-2, ... until it passes (harness.attempts)."""
    attempts(lambda suffix: check(W.join(name + (suffix or "-1"))), ATTEMPTS)


def skip(why):
    print(f"skip: {why}")


# ------------------------------------------------------------ diff-demo

def test_rust_diff_demo():
    p = subprocess.run([BUILD_RUST], capture_output=True, text=True, timeout=290)
    if p.returncode == SKIP_STATUS:
        skip("no Rust toolchain for examples/rust-criterion: "
             + (p.stderr.strip().splitlines() or ["(no reason given)"])[-1])
        return
    expect(p.returncode == 0, f"{BUILD_RUST}: exit {p.returncode}\n{p.stderr[-2000:]}")
    # its hog must neither disturb nor be disturbed by the environment tests
    # of other build trees (test_rust_diff.py takes the same lock)
    with noise.Exclusive("env-tests", timeout=600) as lock:
        if lock.waited >= 1:
            print(f"  waited {lock.waited:.0f} s for the environment tests")
        run_attempts("diff-demo", check_diff_demo)


def check_diff_demo(out):
    stdout = run_runner([DIFF_DEMO, out], timeout=300)
    estimates = re.findall(r"^  (quiet|hog|doubled) +criterion: time: +\[.+\]$", stdout, re.M)
    expect(estimates == ["quiet", "hog", "doubled"],
           f"criterion's estimates of the three runs: {estimates}\n{stdout}")
    for name in ("quiet", "hog", "doubled"):
        expect(os.path.isdir(os.path.join(out, name)), f"no recording {out}/{name}")
    parts = sections(stdout)
    hog = [t for h, t in parts.items() if h.endswith("(a CPU hog on the same CPU)")]
    doubled = [t for h, t in parts.items() if h.endswith("(twice the work per call)")]
    expect(len(hog) == 1 and len(doubled) == 1, f"two diffs, headed as documented:\n{stdout}")
    verdict, evidence, summary = verdict_of(hog[0], "training_step")
    print(f"  hog: {evidence}")
    expect(verdict == "environment" and summary == "1 region compared: 1 environment",
           f"a CPU hog: {verdict} ({summary}): {evidence}")
    expect(re.search(r"preemption|steal", evidence), f"names no preemption or steal: {evidence}")
    expect(re.search(r" but (on-CPU time|instructions) (unchanged \(|[+-])", evidence),
           f"gives no work evidence: {evidence}")
    verdict, evidence, summary = verdict_of(doubled[0], "training_step")
    print(f"  doubled: {evidence}")
    expect(verdict == "regression" and summary == "1 region compared: 1 regression",
           f"twice the work: {verdict} ({summary}): {evidence}")
    expect(re.search(r" and (on-CPU time|instructions) \+[0-9.]+ %: the work grew", evidence),
           f"gives no work evidence: {evidence}")


# ------------------------------------------------------------ numba run

def test_numba_run():
    p = subprocess.run(["/usr/bin/python3", "-c", "import numba, numpy"], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        skip("no numba for /usr/bin/python3 (scripts/deps-jit installs python3-numba): "
             + (p.stderr.strip().splitlines() or ["?"])[-1])
        return
    run_attempts("numba", check_numba_run)


def causes_of(text):
    """'jit 83 %, preemption 11 %, blocking 5 %; 7.3 MB ...' -> {cause: share}"""
    return {m.group(1): int(m.group(2)) / 100
            for m in re.finditer(r"([a-z-]+) (\d+) %", text.split(";")[0])}


def check_numba_run(out):
    stdout = run_runner([NUMBA_RUN, "--out", out], timeout=300)
    for name in ("cold.data", "warm.data"):
        expect(os.path.isdir(os.path.join(out, name)), f"no recording {out}/{name}")
    parts = sections(stdout)
    report = [t for h, t in parts.items() if h.startswith("iterprof report ")]
    diff = [t for h, t in parts.items() if h.startswith("iterprof diff ")]
    expect(len(report) == 1 and len(diff) == 1, f"a report and a diff:\n{stdout}")
    report = report[0]
    expect(re.search(r'^    region "classify": 300 iterations, ', report, re.M),
           f"no region classify of 300 iterations:\n{report}")
    # the phase row of iteration 1 alone: "1   417 ms  warm-up   jit 83 %, ..."
    # (its label is "changing" in a run without a steady state)
    row = re.search(r"^      1 +\S+ \S+ +(warm-up|changing) +(.*)$", report, re.M)
    expect(row is not None, f"iteration 1 is not a phase of its own:\n{report}")
    row = row.group(2)
    causes = causes_of(row)
    machine = sum(v for c, v in causes.items() if c in MACHINE)
    rest = {c: v for c, v in causes.items() if c not in MACHINE}
    expect(causes and (max(causes, key=causes.get) == "jit" or
                       (machine >= MACHINE_SHARE and rest and
                        max(rest, key=rest.get) == "jit")),
           f"iteration 1's causes: {row}")
    verdict, evidence, summary = verdict_of(diff[0], "classify")
    print(f"  diff: {evidence}")
    expect(verdict == "warmup" and summary == "1 region compared: 1 warmup",
           f"warm -> cold: {verdict} ({summary}): {evidence}")


if __name__ == "__main__":
    noise.install_signal_handlers()
    main([test_rust_diff_demo, test_numba_run], W)

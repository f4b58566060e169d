"""Shared helpers for the end-to-end tests (standard library only).

Each test_*.py is a standalone script: it runs real programs under
`iterprof record`, reads the result with `iterprof report --format json`, and
asserts what can be predicted. A failed check raises AssertionError, which
makes the script exit non-zero; ctest reports it.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ITERPROF = os.environ.get("ITERPROF", "iterprof")
SHIM = os.environ.get("ITERPROF_SHIM", "")
PROGRAMS = os.environ.get("ITERPROF_PROGRAMS", "")
SOURCE_DIR = os.environ.get("ITERPROF_SOURCE_DIR", "")
BUILD_DIR = os.environ.get("ITERPROF_BUILD_DIR", "")


def program(name):
    """Path of a test program built from tests/programs/<name>.c."""
    return os.path.join(PROGRAMS, name)


class Workdir:
    """A temporary directory removed at exit unless the test failed."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="iterprof-test-")

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def run_group(args, timeout=120, **kw):
    """subprocess.run with text output captured, in a session of its own so
    that a timeout kills the whole process tree: iterprof record, the program
    it runs and what that starts (a hung program must not outlive the test
    and eat the CPU of the tests after it)."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kw) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
        return subprocess.CompletedProcess(args, p.returncode, out, err)


def run(args, timeout=120, env=None, check=None, **kw):
    """Run a command, capture text output. check=N asserts the exit status."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = run_group(args, timeout=timeout, env=full_env, **kw)
    if check is not None and p.returncode != check:
        raise AssertionError(
            f"{args}: exit {p.returncode}, expected {check}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def record(out, cmd, options=(), check=0, **kw):
    """iterprof record -o OUT [options] -- CMD..."""
    return run([ITERPROF, "record", "-o", out, *options, "--", *cmd],
               check=check, **kw)


def report_json(path, options=()):
    """The report of a trace as a Python object."""
    p = run([ITERPROF, "report", "--format", "json", *options, path], check=0)
    return json.loads(p.stdout)


def cause_stacks(path):
    """The stacks the JSON report shows by cause: (a list of each top
    stack's frames, None), or (None, why) when the recording says call
    stacks are unavailable."""
    stacks = []
    for r in report_json(path)["regions"]:
        s = r["stacks"]
        expect(s is not None, f"{path}: region {r['name']}: stacks null")
        if s.get("error"):
            return None, s["error"]
        for c in s["causes"]:
            stacks += [top["frames"] for top in c["top"]]
    return stacks, None


def regions(doc, name=None):
    """The regions of a report document, optionally only those named NAME."""
    return [r for r in doc["regions"] if name is None or r["name"] == name]


# The machine's causes: a share of an iteration's excess the benchmark did
# not cause (run-queue delay and interrupts the trace measured, not a guess).
MACHINE = ("preemption", "interrupts", "steal", "cgroup-throttle")
MACHINE_SHARE = 0.25


def jit_is_primary(r, i):
    """Iteration I of R (it(i): its per-iteration report entry; describe(i):
    a line about it) has jit as its primary cause; or the machine took at
    least MACHINE_SHARE of its excess and jit is still the largest of the
    other causes, as test_report_causes allows for injected causes."""
    it = r.it(i)
    if it["cause"] == "jit":
        return True
    shares = it["shares"]
    machine = sum(shares.get(c, 0) for c in MACHINE)
    others = {c: v for c, v in shares.items() if c not in MACHINE}
    if shares.get("jit") and machine >= MACHINE_SHARE and max(others, key=others.get) == "jit":
        print(f"  {r.name}: iteration {i}: the machine took {machine:.0%} of the excess; jit "
              f"is the largest of the rest: {r.describe(i)}")
        return True
    return False


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def near(value, target, tolerance):
    return abs(value - target) <= tolerance


def attempts(check, n):
    """Run CHECK(suffix) on new recordings until it passes, at most N times:
    these VMs change speed by up to 2x for stretches, on-CPU time alike, and
    without a PMU nothing in a trace tells that from a change of the work, so
    a verdict is asserted on recordings made at one speed. SUFFIX is "" the
    first time, then "-2", "-3", ... (for new recording names). Every failed
    attempt is printed, so a test that only passes on the last one shows it."""
    for i in range(n):
        try:
            check("" if i == 0 else f"-{i + 1}")
            return
        except AssertionError as e:
            if i == n - 1:
                raise
            print(f"  attempt {i + 1} failed, recording again: {e}")
            time.sleep(2)


def main(tests, workdir=None):
    """Run test functions in order; report each; exit 1 if any failed.

    WORKDIR, a Workdir shared by the tests, is removed when all passed and
    kept (its path printed) for a look when one failed."""
    failed = 0
    for t in tests:
        try:
            t()
            print(f"ok   {t.__name__}")
        except Exception as e:  # noqa: BLE001 - report and continue
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    if workdir is not None:
        if failed:
            print(f"work directory kept: {workdir.path}")
        else:
            workdir.cleanup()
    sys.exit(1 if failed else 0)

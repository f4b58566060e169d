#!/usr/bin/env python3
"""Issue 7, scenario 1: `iterprof diff` on a real criterion 0.3 benchmark
(examples/rust-criterion) tells a slower machine from slower code.

Four recordings of the same bench binary, `iterprof record -f
training_step -- taskset -c CPU BENCH --bench`, each a short criterion run:

    quiet    ITERPROF_EXAMPLE_WORK=400: ~9-11 ms of work per call
    hog      the same, with `stress-ng --cpu 1 --taskset CPU` on the same CPU
    doubled  ITERPROF_EXAMPLE_WORK=800: twice the work per call
    quiet2   quiet again: what the machine's own noise does

and what diff must say about them: quiet -> hog is `environment`
(preemption, with on-CPU time unchanged: this machine has no PMU, so on-CPU
time is the work's evidence), quiet -> doubled is `regression` (+100 %),
quiet -> quiet2 is not a regression.

Why the scenario is built so (measured on the project's 2-vCPU VM, HZ=250,
EEVDF, autogroup on): a 30 us call is rarely preempted mid-call, since a
hog is switched in at a tick (4 ms here) or at the end of a slice, so it
would change only a tail. 400 passes make a call 9-11 ms, longer than two
ticks, and the hog pinned to the benchmark's CPU takes half of it (one
stress-ng worker; in its own session it is also its own autogroup, so more
workers would not take more): every hog iteration was preempted (141 of
141 in every run, 2-3 involuntary switches each), median 17-23 ms against
8.9-9.4 ms quiet, run delay 8-12 ms per iteration (median 8.0 or 12.0 ms:
two or three 4 ms ticks), on-CPU median 9.0-9.4 ms, as quiet. Doubled:
17.8-22.5 ms. Iterations per run (criterion: 0.5 s warm-up, 2 s
measurement): 228-338 quiet, 141-196 hog or doubled; 3-4 s each, the test
15-30 s in all. Other work on the machine (the other vCPU busy) makes the
same work's on-CPU time up to 25 % longer, invisible in the trace: a run
beside it is recorded again once (MachineLoad, the figures printed).

Skipped, with the reason printed, when there is no Rust toolchain or
stress-ng is missing and cannot be installed. Until `iterprof diff` exists,
the checks of its answers fail with "pending: iterprof diff not built yet".
The stress-ng this test starts is killed on every way out: when its `with`
block is left (also by SIGTERM, SIGINT, SIGHUP: install_signal_handlers),
and by the kernel when this process dies (PR_SET_PDEATHSIG; stress-ng's
workers follow their parent); --timeout bounds it whatever happens.
"""
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noise  # noqa: E402
from harness import (ITERPROF, SOURCE_DIR, Workdir, expect, main,  # noqa: E402
                     record, report_json, run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(SOURCE, "scripts", "build-rust-example")
DEPS_SCRIPT = os.path.join(SOURCE, "scripts", "deps")
SKIP_STATUS = 77  # scripts/build-rust-example: no toolchain, none installable

WORK = 400          # passes per call: ~10 ms, longer than a scheduler tick
# criterion 0.3 takes whole seconds; 2 s gives 141 iterations (warm-up
# included) even when each call takes 20 ms: criterion's smallest plan is 55
# calls for 10 samples, doubled to fill 2 s.
CRITERION_ARGS = ["--bench", "--measurement-time", "2"]
HOG_SECONDS = 120   # stress-ng's own bound: a hog run takes ~4 s
DISTURBED = 0.05    # a run without the hog with more run delay than this
                    # share of its time was disturbed: record it again
OTHER_LOAD = 0.15   # so was any run beside other work of more than 0.15 CPUs
                    # (measured: 0.16-0.35 CPUs of other work made the same
                    # work's on-CPU time 4-25 % longer)

BENCH = None        # the bench executable, set by build()
CPU = None          # the CPU the benchmark and the hog share
RUNS = {}           # name -> Run
RECORDED = {}       # name -> recordings made of it
PENDING = "pending: iterprof diff not built yet"
# the quiet -> doubled pair test_doubled_is_regression found a regression
# in (it records a new pair when the first is not one): test_fail_on and
# test_text_and_markdown use the same
DOUBLED_PAIR = ["quiet", "doubled"]
HOG_PAIR = ["quiet", "hog"]
START = time.monotonic()


def build():
    """Run scripts/build-rust-example; return the bench executable's path.
    Exits 0 with the reason printed when there is no toolchain."""
    # cold: 45-90 s on 2 vCPUs (minutes on a busy machine); warm: ~1 s
    p = subprocess.run([BUILD_SCRIPT], capture_output=True, text=True, timeout=290)
    if p.returncode == SKIP_STATUS:
        why = p.stderr.strip().splitlines()[-1:] or ["(no reason given)"]
        skip(f"no Rust toolchain to build examples/rust-criterion: {why[0]}")
    tail = "\n".join(p.stderr.splitlines()[-30:])
    expect(p.returncode == 0, f"{BUILD_SCRIPT}: exit {p.returncode}\nstderr (end):\n{tail}")
    lines = p.stdout.strip().splitlines()
    expect(lines and os.access(lines[-1], os.X_OK),
           f"{BUILD_SCRIPT} printed no executable\nstderr (end):\n{tail}")
    return lines[-1]


def skip(why):
    print(f"skip: {why}")
    print("0 passed, 0 failed, 1 skipped")
    W.cleanup()
    sys.exit(0)


def ensure_stress_ng():
    """stress-ng on PATH, installed by scripts/deps when missing; skip
    (exit 0, reason printed) when it cannot be installed."""
    if shutil.which("stress-ng"):
        return
    p = subprocess.run([DEPS_SCRIPT], capture_output=True, text=True, timeout=600)
    if shutil.which("stress-ng") is None:
        why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        skip(f"no stress-ng, and scripts/deps could not install it: {why}")


def bench_cpu():
    """The CPU benchmark and hog share: the first this process may use."""
    return min(os.sched_getaffinity(0))


def _die_with_parent():
    """In the child before exec: SIGKILL when the test dies, even by
    SIGKILL (prctl PR_SET_PDEATHSIG = 1). stress-ng's workers set the same
    on themselves (SIGALRM), so the whole tree goes."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


class Hog:
    """`stress-ng --cpu 1 --taskset CPU` from entering to leaving, in a
    session (process group) of its own that leaving kills as a whole."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            ["stress-ng", "--cpu", "1", "--taskset", str(self.cpu),
             "--timeout", f"{HOG_SECONDS}s", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_for_worker()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_for_worker(self):
        """Until a worker (a child of stress-ng) is running, at most 5 s."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            expect(self.process.poll() is None,
                   f"stress-ng exited at once: status {self.process.returncode}")
            try:
                with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                    if f.read().split():
                        time.sleep(0.2)  # let it reach its loop
                        return
            except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
                time.sleep(0.5)
                return
            time.sleep(0.05)
        raise AssertionError("stress-ng started no worker in 5 s")

    def __exit__(self, *exc):
        if self.process is None:
            return False
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the workers too: the group is empty when killpg finds no one
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.process = None
        return False


class MachineLoad:
    """What else used the machine while the `with` block ran: CPU time of
    every CPU (/proc/stat) less that of this test's children (iterprof,
    the benchmark, the hog: reaped by then), in CPUs, and the host's steal.
    A quiet run beside a busy other vCPU runs its work up to twice slower
    (a shared physical core, as far as the guest can tell), so it says why
    a run's on-CPU time moved."""

    @staticmethod
    def _stat():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return user + nice + system + irq + softirq, steal

    @staticmethod
    def _children():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def __enter__(self):
        self.start = time.monotonic()
        self.busy0, self.steal0 = self._stat()
        self.children0 = self._children()
        return self

    def __exit__(self, *exc):
        tick = os.sysconf("SC_CLK_TCK")
        busy, steal = self._stat()
        wall = max(1e-3, time.monotonic() - self.start)
        self.seconds = wall
        self.other = max(0.0, (busy - self.busy0) / tick
                         - (self._children() - self.children0)) / wall
        self.steal = (steal - self.steal0) / tick / wall
        return False


class Run:
    """One recording and what the test measured of it."""

    def __init__(self, name, work, path, load, criterion):
        self.name, self.work, self.path = name, work, path
        self.seconds, self.other_load, self.steal = load.seconds, load.other, load.steal
        self.criterion = criterion
        doc = report_json(path, ["--iterations"])
        steps = [r for r in doc["regions"] if "training_step" in r["name"]
                 and "bench_training_step" not in r["name"]]
        expect(len(steps) == 1, f"{name}: want one training_step region, got "
               f"{[(r['name'], r['iterations']) for r in doc['regions']]}")
        self.region = r = steps[0]
        its = r["per_iteration"]
        self.iterations = len(its)
        self.median_ns = r["stats"]["median_ns"]
        self.total_ns = r["stats"]["total_ns"]
        self.cpu_median_ns = r["counters"]["task-clock"]["median"]
        self.run_delay_ns = r["counters"]["run-delay"]["total"] or 0
        self.run_delay_median_ns = r["counters"]["run-delay"]["median"] or 0
        self.preempted = sum(1 for i in its
                             if (i["counters"].get("involuntary-switches") or 0) > 0
                             or (i["counters"].get("run-delay") or 0) > 0)

    def steady_median_ns(self):
        """The median of the reference iterations (the steady state, else
        what report compares against), or of all when there is none."""
        ref = self.region["reference"]
        return ref["median_ns"] if ref else self.median_ns

    def run_delay_share(self):
        return self.run_delay_ns / max(1, self.total_ns)

    def is_unsettled(self):
        """iterprof found no steady state: the VM changed speed during the
        run (seen: a quiet run at 20 ms an iteration, then 13 ms for its
        last 15, no other load, no run delay), which no baseline survives."""
        return self.region["classification"] == "no-steady-state"

    def is_disturbed(self, hog=False):
        """Something else than this test used the machine: other load, or
        (without the hog) run delay or a run that never settled."""
        return (self.other_load > OTHER_LOAD
                or (not hog and (self.run_delay_share() > DISTURBED or self.is_unsettled())))

    def disturbance(self, hog=False):
        what = [f"other load {self.other_load:.2f} CPUs"]
        if not hog:
            what.append(f"run delay {self.run_delay_share():.1%} of its time")
            if self.is_unsettled():
                what.append("no steady state")
        return ", ".join(what)

    def disturbance_score(self, hog=False):
        """Which of two recordings was disturbed less: the other work's CPUs
        plus, without the hog, the share of time waiting for the CPU and 1
        for a run that never settled."""
        return self.other_load + (0 if hog else self.run_delay_share() + self.is_unsettled())

    def describe(self):
        ref = self.region["reference"] or {}
        ref_text = (f"reference {ref['first']}-{ref['last']} {ref['median_ns'] / 1e6:.2f} ms"
                    if ref else "no reference")
        return (f"{self.name:8} work {self.work}: {self.iterations} iterations "
                f"({self.region['classification']}, {ref_text}), median "
                f"{self.median_ns / 1e6:.2f} ms, on-CPU median {self.cpu_median_ns / 1e6:.2f} ms, "
                f"run delay {self.run_delay_ns / max(1, self.iterations) / 1e6:.2f} ms per "
                f"iteration (median {self.run_delay_median_ns / 1e6:.2f} ms), preempted "
                f"{self.preempted}/{self.iterations}; criterion {self.criterion}; "
                f"{self.seconds:.1f} s, other load {self.other_load:.2f} CPUs, steal "
                f"{self.steal:.2f} CPUs")


def criterion_estimate(stdout):
    m = re.search(r"training_step\s+time:\s+\[([^\]]*)\]", stdout)
    return f"[{m.group(1)}]" if m else "(no estimate)"


def record_run(name, work, hog=False, again=True):
    """Record one criterion run into W/NAME (W/NAME-2, ... when recorded
    again); return its Run. When something else visibly disturbed it, and
    AGAIN, once more, and keep the less disturbed of the two."""
    RECORDED[name] = RECORDED.get(name, 0) + 1
    out = W.join(name if RECORDED[name] == 1 else f"{name}-{RECORDED[name]}")
    env = {"ITERPROF_EXAMPLE_WORK": str(work), "CRITERION_HOME": W.join("criterion")}
    cmd = ["taskset", "-c", str(CPU), BENCH, *CRITERION_ARGS]
    with MachineLoad() as load:
        if hog:
            with Hog(CPU):
                p = record(out, cmd, options=["-q", "-f", "training_step"], check=0,
                           cwd=W.path, env=env, timeout=120)
        else:
            p = record(out, cmd, options=["-q", "-f", "training_step"], check=0,
                       cwd=W.path, env=env, timeout=120)
    r = Run(name, work, out, load, criterion_estimate(p.stdout))
    print(f"  {r.describe()}")
    if again and r.is_disturbed(hog):
        print(f"  {name}: disturbed ({r.disturbance(hog)}), recording it again")
        second = record_run(name, work, hog, again=False)
        r = min((r, second), key=lambda x: x.disturbance_score(hog))
        print(f"  {name}: keeping {os.path.basename(r.path)}")
    return r


def record_all():
    """The four recordings, one at a time on the machine: the environment
    tests' lock keeps their hogs and storms (other build trees' suites) off
    this run, and this hog off theirs."""
    with noise.Exclusive("env-tests", timeout=600) as lock:
        if lock.waited >= 1:
            print(f"  waited {lock.waited:.0f} s for another run of the environment tests")
        RUNS["quiet"] = record_run("quiet", WORK)
        RUNS["hog"] = record_run("hog", WORK, hog=True)
        RUNS["doubled"] = record_run("doubled", 2 * WORK)
        RUNS["quiet2"] = record_run("quiet2", WORK)


# ---------------------------------------------------------------- diff

def diff_available():
    p = run([ITERPROF, "diff", "--help"])
    return p.returncode == 0


def diff(base, current, options=(), check=0):
    return run([ITERPROF, "diff", *options, RUNS[base].path, RUNS[current].path],
               check=check)


def diff_pair(base, current):
    """The one training_step pair of `diff --format json`, the figures printed."""
    expect(DIFF_BUILT, PENDING)
    p = diff(base, current, ["--format", "json"])
    doc = json.loads(p.stdout)
    expect(doc.get("schema") == "iterprof.diff/1", f"schema {doc.get('schema')!r}")
    pairs = [x for x in doc["pairs"] if "training_step" in x["region"]
             and "bench_training_step" not in x["region"]]
    expect(len(pairs) == 1, f"want one training_step pair, got "
           f"{[(x['region'], x['command']) for x in doc['pairs']]}; unpaired "
           f"{doc.get('unpaired')}")
    pair = pairs[0]
    print(f"  {base} -> {current}: {describe_pair(pair)}")
    return pair


def describe_pair(pair):
    change, work, excess = pair["change"], pair["work"], pair["excess"]

    def pct(x):
        return "null" if x is None else f"{x:+.1%}"

    text = (f"verdict {pair['verdict']}, median {pct(change['median'])} "
            f"[{pct(change.get('ci_low'))}, {pct(change.get('ci_high'))}], "
            f"work ({work['measure']}) {pct(work['change'])}, work share "
            f"{pct(work['share'])}")
    if excess:
        causes = ", ".join(f"{k} {v:.0%}" for k, v in
                           sorted(excess["causes"].items(), key=lambda kv: -kv[1]))
        text += (f"; excess of the {excess['run']} run: environment "
                 f"{excess['environment']:.0%}, work {excess['work']:.0%}, unexplained "
                 f"{excess['unexplained']:.0%} ({causes})")
    return text + f'; evidence: "{pair["evidence"]}"'


def largest_cause(excess):
    return max(excess["causes"].items(), key=lambda kv: kv[1])[0] if excess["causes"] else None


def test_scenario_as_designed():
    """Not diff's doing: the hog took the CPU from (nearly) every iteration,
    so the median moved, and the doubled work doubled the time."""
    quiet, hog, doubled = RUNS["quiet"], RUNS["hog"], RUNS["doubled"]
    # Steady states, as diff compares them: the VM sometimes runs the first
    # seconds of a quiet run slower (seen: 20 ms an iteration until iteration
    # 74, then 12 ms), which moves the median of all iterations by 40 %.
    q, h, d = quiet.steady_median_ns(), hog.steady_median_ns(), doubled.steady_median_ns()
    expect(hog.preempted >= 0.9 * hog.iterations,
           f"only {hog.preempted} of {hog.iterations} hog iterations were preempted")
    expect(h >= 1.4 * q, f"hog steady median {h / 1e6:.2f} ms, quiet {q / 1e6:.2f} ms")
    expect(hog.run_delay_median_ns >= 0.25 * q,
           f"hog run delay median {hog.run_delay_median_ns / 1e6:.2f} ms per iteration")
    expect(1.5 <= d / q <= 2.6,
           f"doubled steady median {d / 1e6:.2f} ms, quiet {q / 1e6:.2f} ms")


def check_or_fresh_pair(pair, check, names, work, hog=False, base_again=False):
    """CHECK(*PAIR); when it fails, the same pair once more, recorded back
    to back as NAMES (the current run with WORK, beside the hog if HOG;
    BASE_AGAIN: the quiet base may be recorded again when disturbed), PAIR
    then naming them, and CHECK again. These VMs change speed between two
    runs seconds apart (CI: quiet 12.28 ms against 9.9 ms in other runs,
    doubled 19.54 ms: +59 %, on-CPU alike; the same work's on-CPU time by up
    to 1.7x, no steal shown)."""
    try:
        check(*pair)
        return
    except AssertionError as e:
        print(f"  {pair[0]} -> {pair[1]}: {e}: recording a new pair")
    base, current = names
    with noise.Exclusive("env-tests", timeout=600):
        RUNS[base] = record_run(base, WORK, again=base_again)
        RUNS[current] = record_run(current, work, hog=hog, again=False)
    pair[:] = names
    check(*pair)


def test_hog_is_environment():
    check_or_fresh_pair(HOG_PAIR, check_hog, ["quiet6", "hog6"], WORK, hog=True,
                        base_again=True)


def check_hog(base, current):
    pair = diff_pair(base, current)
    expect(pair["verdict"] == "environment", f"verdict {pair['verdict']}, want environment")
    expect(re.search(r"preemption|steal", pair["evidence"]),
           f"the evidence names neither preemption nor steal: {pair['evidence']!r}")
    expect(pair["change"]["median"] >= 0.3, f"median change {pair['change']['median']}")
    excess = pair["excess"]
    expect(excess is not None, "no excess explained")
    expect(excess["run"] == "current", f"excess of the {excess['run']} run, want current")
    expect(largest_cause(excess) in ("preemption", "steal"),
           f"largest cause of the excess: {largest_cause(excess)} ({excess['causes']})")
    expect(excess["environment"] >= 0.5, f"environment share {excess['environment']}")
    work = pair["work"]
    # No hardware PMU here: the work's evidence is on-CPU time; with one,
    # instructions.
    want = "on-cpu-time" if pair["base"].get("instructions_median") is None else "instructions"
    expect(work["measure"] == want, f"work measure {work['measure']}, want {want}")
    # The host moves on-CPU time of the same work by up to ~20 % between
    # runs seconds apart; the hog's +70-100 % is far outside that.
    expect(work["change"] is not None and abs(work["change"]) <= 0.3,
           f"work change {work['change']}: on-CPU time should not change")
    # The sentence carries that evidence, as diff.c writes it: "but on-CPU
    # time unchanged (+1.9 %)" when the change is below the threshold (2 %),
    # else "but on-CPU time +5.3 %" (instructions with a PMU).
    what = "instructions" if want == "instructions" else "on-CPU time"
    m = re.search(r"but " + re.escape(what) + r" (unchanged \(([+-][0-9.]+) %\)|([+-][0-9.]+) %)"
                  r" and ", pair["evidence"])
    expect(m is not None, f"the evidence does not give the {what}: {pair['evidence']!r}")
    said = float(m.group(2) if m.group(2) is not None else m.group(3)) / 100
    expect(abs(said - work["change"]) < 0.006,
           f"the evidence says {what} {said:+.1%}, work.change is {work['change']:+.1%}")
    expect((m.group(2) is not None) == (abs(work["change"]) < 0.02),
           f"'unchanged' below the 2 % threshold only: {pair['evidence']!r}, work.change "
           f"{work['change']:+.2%}")


def check_doubled(base, current):
    pair = diff_pair(base, current)
    expect(pair["verdict"] == "regression", f"verdict {pair['verdict']}, want regression")
    expect(pair["change"]["significant"], "the change is not significant")
    expect(0.6 <= pair["change"]["median"] <= 1.6, f"median change {pair['change']['median']}")
    work = pair["work"]
    expect(work["change"] is not None and 0.6 <= work["change"] <= 1.6,
           f"work change {work['change']}, want about +100 %")


def test_doubled_is_regression():
    check_or_fresh_pair(DOUBLED_PAIR, check_doubled, ["quiet5", "doubled5"], 2 * WORK)


def test_quiet_twice_is_not_regression():
    base, current = "quiet", "quiet2"
    pair = diff_pair(base, current)
    for k in (3, 4):
        if pair["verdict"] != "regression":
            break
        # Without a PMU the work's evidence is on-CPU time, and these VMs run
        # the same work up to 2x slower for stretches (CI: quiet 9.95 ms,
        # quiet2 12.45 ms, on-CPU alike, and quiet2 recorded again at 12.45):
        # a new pair, recorded back to back, up to twice.
        print(f"  {base} -> {current} regression: recording a new pair")
        base, current = f"quiet{k}a", f"quiet{k}b"
        with noise.Exclusive("env-tests", timeout=600):
            RUNS[base] = record_run(base, WORK, again=False)
            RUNS[current] = record_run(current, WORK, again=False)
        pair = diff_pair(base, current)
    busy = [f"{r.name} ({r.disturbance()})" for r in (RUNS[base], RUNS[current])
            if r.is_disturbed()]
    if pair["verdict"] == "regression" and busy:
        # Other work on the machine made the same work slower in one run
        # (shown above): diff cannot tell that from slower code without an
        # instructions counter, and this test cannot make the machine quiet.
        print(f"  {base} -> {current}: regression not counted: other work disturbed "
              f"{'; '.join(busy)}")
        return
    expect(pair["verdict"] != "regression",
           f"two quiet runs: verdict regression ({describe_pair(pair)})")


def test_fail_on():
    expect(DIFF_BUILT, PENDING)
    base, doubled = DOUBLED_PAIR
    p = diff(base, doubled, ["--fail-on", "regression"], check=None)
    expect(p.returncode == 3, f"--fail-on regression, {base} -> {doubled}: exit "
           f"{p.returncode}, want 3\n{p.stdout}{p.stderr}")
    p = diff(*HOG_PAIR, ["--fail-on", "regression"], check=None)
    expect(p.returncode == 0, f"--fail-on regression, {HOG_PAIR[0]} -> {HOG_PAIR[1]}: exit "
           f"{p.returncode}, want 0\n{p.stdout}{p.stderr}")


def test_text_and_markdown():
    expect(DIFF_BUILT, PENDING)
    p = diff(*HOG_PAIR, ["--format", "md"], check=0)
    rows = [line for line in p.stdout.splitlines() if line.lstrip().startswith("|")]
    expect(len(rows) >= 3 and re.match(r"^\s*\|[\s:|-]+\|\s*$", rows[1]),
           f"no Markdown table (header, separator, row) in:\n{p.stdout}")
    # the verdict cell of the training_step row (the evidence may say
    # "environment" too)
    cells = [[c.strip() for c in row.strip().strip("|").split(" | ")] for row in rows[2:]]
    steps = [c for c in cells if "training_step" in c[0] and "bench_training_step" not in c[0]]
    expect(len(steps) == 1 and steps[0][1] == "**environment**",
           f"the Markdown table does not give the verdict environment:\n{p.stdout}")
    p = diff(*DOUBLED_PAIR, check=0)
    # "REGION (COMMAND, thread NAME): VERDICT", then the evidence sentence
    heads = [line for line in p.stdout.splitlines() if "training_step" in line
             and "bench_training_step" not in line and ", thread " in line]
    expect(len(heads) == 1 and heads[0].endswith("): regression"),
           f"the text does not give the verdict regression:\n{p.stdout}")
    expect(re.search(r"^  regression: median \+", p.stdout, re.M),
           f"no evidence sentence:\n{p.stdout}")


if __name__ == "__main__":
    noise.install_signal_handlers()
    BENCH = build()
    ensure_stress_ng()
    CPU = bench_cpu()
    DIFF_BUILT = diff_available()
    if not DIFF_BUILT:
        print(PENDING)
    print(f"recording {os.path.basename(BENCH)} pinned to CPU {CPU} "
          f"(ITERPROF_EXAMPLE_WORK={WORK}, {' '.join(CRITERION_ARGS)}):")
    try:
        record_all()
    except SystemExit:  # SIGTERM, SIGINT, SIGHUP: the hog is gone; so go the runs
        W.cleanup()
        raise
    except Exception as e:  # noqa: BLE001 - say what failed, keep the runs
        print(f"FAIL recording: {e}")
        print(f"work directory kept: {W.path}")
        sys.exit(1)
    try:
        main([test_scenario_as_designed, test_hog_is_environment, test_doubled_is_regression,
              test_quiet_twice_is_not_regression, test_fail_on, test_text_and_markdown], W)
    finally:
        print(f"test time {time.monotonic() - START:.0f} s")

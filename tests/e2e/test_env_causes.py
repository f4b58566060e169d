#!/usr/bin/env python3
"""iterprof report against ground truth: disturbances made from outside the
benchmark, attributed to the environment causes (doc/causes.md).

Each test runs tests/programs/inject (a steady ~75 µs-per-iteration loop,
region "step", pinned to the first allowed CPU; --log FILE gives what the
program saw of each iteration) under `iterprof record` in one scenario of
tests/e2e/noise.py, then reads `iterprof report --format json --iterations`:

 - cgroup quota (CpuQuotaCgroup, 20 ms every 100 ms, with a spinning
   process in the same cgroup on the other CPU so that the quota runs out
   early in each period): the thread is throttled once a period; the
   iterations that hold a throttle are cgroup-throttle;
 - softirq storm (SoftirqFlood: loopback UDP from the other CPU, RPS
   steering the receive work to the benchmark's CPU, in bursts of 20 ms
   every 200 ms): the iterations of the bursts that slowed the program
   down have many interrupts (counter `interrupts`, or `irqs` +
   `softirqs`) and cause interrupts (their extra time is task-clock: this
   kernel has no IRQ time accounting);
 - inject --hog (a thread of the same process spinning on its CPU at known
   iterations): sibling-threads;
 - another process spinning on the same CPU half of every 10 ms
   (HogProcess): preemption, not sibling-threads;
 - SIGSTOP/SIGCONT from outside (SigStopper, 5 stops of 30 ms): one
   iteration at least 30 ms long per stop that landed inside an iteration
   (the others landed between two and show as a 30 ms gap), off-CPU
   (blocking or preemption).

Ground truth comes from the drivers (cgroup cpu.stat sampled during the run,
the burst times of the flood, the times of the stops: CLOCK_MONOTONIC, the
trace's clock) and from the program's log. Each scenario that fails is run
once more (the machine is a shared 2-vCPU VM: other guests, and the other
test ctest runs at the same time, take the CPU for milliseconds at times);
the failure of the first run is printed. Checks that nothing on the machine
can excuse (the scenario did not happen, the JSON contradicts itself) fail
at once.

PENDING ANALYZER CHANGE. The checks made through pending() below depend on
the environment-timeline change of the shim and analyzer (the counters of
interrupts, the causes cgroup-throttle, interrupts and sibling-threads being
assigned); they fail without it (the committed analyzer of 30366ee says
preemption for throttles and for the sibling thread, unexplained for the
storm, and records no interrupt counter):
  - test_cgroup_quota_is_cgroup_throttle: cause cgroup-throttle;
  - test_softirq_storm_is_interrupts: the interrupt counters and cause
    interrupts;
  - test_sibling_thread_is_sibling_threads: cause sibling-threads;
  - test_hog_process_is_preemption: "never sibling-threads" (it only means
    something once something assigns sibling-threads).
Everything else holds with or without it. ITERPROF_PENDING=report prints
the pending checks' failures instead of failing (to run the rest without
the change).

These tests disturb the whole machine while they run (a spinning process
on CPU 0 or 1, a UDP storm on CPU 0 with lo's rps_cpus changed, a
real-time sender on CPU 1 10 % of the time): timing tests ctest runs at
the same time may see it, and this one sees theirs. noise.py restores
rps_cpus and removes its cgroups at exit, also after a failure.
"""
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program  # noqa: E402
import noise  # noqa: E402

W = Workdir()
ATTEMPTS = 2             # a scenario that fails is run once more
CLOCK_MONOTONIC = 1
OFF_CPU = ("preemption", "blocking")
ON_CPU = ("page-faults", "major-faults", "migration", "frequency", "more-work", "cache-misses",
          "cache-warmup", "first-call", "interrupts", "jit")
PENDING_REPORT = os.environ.get("ITERPROF_PENDING") == "report"

_serial = [0]


class Skip(Exception):
    """The machine cannot make the scenario: print why, pass."""


def pending(cond, what):
    """A check that depends on the pending analyzer change (module
    docstring)."""
    if cond:
        return
    if PENDING_REPORT:
        print(f"  pending (not enforced: ITERPROF_PENDING=report): {what}")
        return
    raise AssertionError(f"[needs the pending analyzer change] {what}")


def share(shares, causes):
    return sum(shares.get(c, 0) for c in causes)


def fmt_shares(shares):
    return {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


class Recording:
    """inject under `iterprof record`: the report's region "step", its
    process, and the program's log.

    WRAP turns the inject command line into the one to record (e.g. run it
    in a cgroup); DURING(pid of inject), when given, runs while it runs."""

    def __init__(self, name, args, n, wrap=None, during=None, timeout=120):
        _serial[0] += 1
        self.name = f"{name}-{_serial[0]}"
        self.data, log = W.join(self.name + ".data"), W.join(self.name + ".log")
        self.n = n
        cmd = [program("inject"), "-n", str(n), "--log", log, *args]
        if wrap:
            cmd = wrap(cmd)
        p = subprocess.Popen([ITERPROF, "record", "-q", "-o", self.data, "--", *cmd],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            if during:
                pid = noise.find_descendant(p.pid, "inject")
                expect(pid is not None, f"{self.name}: inject did not start under record")
                during(pid)
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()
            raise
        expect(p.returncode == 0, f"{self.name}: record exit {p.returncode}\n{out}\n{err}")
        rep = subprocess.run([ITERPROF, "report", "--format", "json", "--iterations", self.data],
                             capture_output=True, text=True, timeout=120)
        expect(rep.returncode == 0, f"{self.name}: report exit {rep.returncode}: {rep.stderr}")
        self.doc = json.loads(rep.stdout)
        steps = [r for r in self.doc["regions"] if r["name"] == "step"]
        expect(len(steps) == 1, f"{self.name}: one region 'step': {len(steps)}")
        self.r = steps[0]
        procs = [q for q in self.doc["processes"]
                 if (q["pid"], q["exec_generation"]) == (self.r["pid"], self.r["exec_generation"])]
        expect(len(procs) == 1, f"{self.name}: the process of region 'step'")
        self.proc = procs[0]
        expect(self.proc["clock_id"] == CLOCK_MONOTONIC,
               f"{self.name}: trace clock {self.proc['clock_id']}, not CLOCK_MONOTONIC: the "
               f"drivers' times cannot be laid over it")
        self.its = self.r["per_iteration"]
        expect(len(self.its) == n, f"{self.name}: {len(self.its)} iterations, not {n}")
        with open(log) as f:
            # INDEX INJECTED LOST_NS CHUNK_NS OUTER_NS WORK_NS CPU_BEGIN CPU_END
            self.log = [[int(v) for v in line.split()] for line in f]
        expect(len(self.log) == n, f"{self.name}: log of {len(self.log)} iterations")
        ref = self.r["reference"]
        self.first, self.last = ref["first"], ref["last"]
        self.median = ref["median_ns"]
        self.threshold = self.r["slow"]["threshold_ns"]
        self.check_consistent()

    # ---- what the report says ----

    def it(self, i):
        return self.its[i - 1]

    def start(self, i):
        """CLOCK_MONOTONIC ns at which iteration I began."""
        return self.proc["start_ns"] + self.it(i)["start_ns"]

    def end(self, i):
        return self.start(i) + self.it(i)["ns"]

    def in_reference(self, i):
        return self.first <= i <= self.last

    def counter(self, i, name):
        return self.it(i)["counters"].get(name)

    def counts(self, name):
        c = self.r["counters"].get(name)
        return bool(c and c["counts"])

    def interrupt_counters(self):
        """The counters of interrupts serviced while the thread ran: one
        "interrupts", or "irqs" and "softirqs" (whichever count)."""
        if self.counts("interrupts"):
            return ["interrupts"]
        return [name for name in ("irqs", "softirqs") if self.counts(name)]

    def interrupts(self, i):
        return sum(self.counter(i, name) or 0 for name in self.interrupt_counters())

    def cpu_of_program(self):
        return self.log[0][6]

    def gaps(self):
        """[(i, ns)]: the time between the end of iteration i and the start
        of iteration i + 1 (the loop's own code between its markers)."""
        return [(i, self.start(i + 1) - self.end(i)) for i in range(1, self.n)]

    def where(self, t):
        """("iteration", i) or ("gap", i) holding time T, or None outside
        the loop."""
        lo, hi = 1, self.n
        if t < self.start(1) or t >= self.end(self.n):
            return None
        while lo < hi:  # last iteration starting at or before t
            mid = (lo + hi + 1) // 2
            if self.start(mid) <= t:
                lo = mid
            else:
                hi = mid - 1
        return ("iteration", lo) if t < self.end(lo) else ("gap", lo)

    def overlapping(self, windows, margin_ns=0):
        """Iterations overlapping any of WINDOWS [(start_ns, end_ns)],
        each widened by MARGIN_NS at its end."""
        out, k = [], 0
        windows = sorted(windows)
        for i in range(1, self.n + 1):
            s, e = self.start(i), self.end(i)
            while k < len(windows) and windows[k][1] + margin_ns < s:
                k += 1
            if any(ws < e and s < we + margin_ns for ws, we in windows[k:k + 2]):
                out.append(i)
        return out

    def excess(self, i):
        return self.it(i)["ns"] - self.median

    def describe(self, i):
        it, row = self.it(i), self.log[i - 1]
        counters = {k: v for k, v in it["counters"].items() if v}
        return (f"iteration {i}: {it['ns']} ns, slow {it['slow']}, cause {it['cause']}, "
                f"shares {fmt_shares(it['shares'])}, counters {counters}; program: lost "
                f"{row[2]} ns, outer {row[4]} ns")

    def summary(self):
        phases = [(p["first"], p["last"], p["label"], round(p["median_ns"]))
                  for p in self.r["phases"]]
        causes = {c: (v["iterations"], round(v["excess_ns"] / 1e6, 2))
                  for c, v in self.r["causes"].items() if v["iterations"]}
        return (f"{self.name}: {self.r['classification']}, reference {self.first}-{self.last} "
                f"median {self.median:.0f} ns threshold {self.threshold:.0f} ns, slow "
                f"{self.r['slow']['count']} ({self.r['slow']['excess_ns'] / 1e6:.2f} ms), "
                f"causes (iterations, ms) {causes}; speed spread {self.speed_spread():.3f}; "
                f"phases {phases}")

    def check_consistent(self):
        """What the JSON says of itself, whatever the machine did."""
        expect([it["index"] for it in self.its] == list(range(1, self.n + 1)),
               f"{self.name}: indexes are not 1..{self.n}")
        for it in self.its:
            if it["slow"]:
                expect(it["cause"] is not None,
                       f"{self.name}: slow without a cause: {self.describe(it['index'])}")
            if it["cause"] is not None:
                expect(abs(sum(it["shares"].values()) - 1) < 1e-6 and
                       it["shares"].get(it["cause"]) == max(it["shares"].values()),
                       f"{self.name}: shares do not add up or do not match the cause: "
                       f"{self.describe(it['index'])}")
        total = sum(v["excess_ns"] for v in self.r["causes"].values())
        expect(abs(total - self.r["slow"]["excess_ns"]) <= 1e-6 * total + 1000,
               f"{self.name}: the causes' excess {total} != slow excess "
               f"{self.r['slow']['excess_ns']}")

    def cause_share(self, causes):
        """Part of the slow iterations' excess the report gives CAUSES
        (region "causes"); None without slow excess."""
        total = self.r["slow"]["excess_ns"]
        if not total:
            return None
        return sum(self.r["causes"][c]["excess_ns"] for c in causes) / total

    def all_phases_share(self, causes):
        """The same over the excess of every phase (before the reference:
        all its iterations above the reference median; in it: the slow
        ones): holds the iterations a phase split keeps out of the
        reference."""
        total = sum(p["excess_ns"] for p in self.r["phases"])
        if not total:
            return None
        return sum(p["excess_ns"] * share(p["causes"], causes) for p in self.r["phases"]) / total

    # ---- ground truth: the program's log ----

    def speed_spread(self, skip=None):
        """Largest / smallest median chunk (the CPU's speed as the program
        saw it) over blocks of 1/20 of the run, leaving out the iterations
        in SKIP: 1.0 when the CPU kept one speed."""
        skip = set(skip or ())
        chunks = [row[3] for row in self.log[10:] if row[0] not in skip and row[3]]
        size = max(10, len(chunks) // 20)
        blocks = [statistics.median(chunks[k:k + size])
                  for k in range(0, len(chunks) - size + 1, size)]
        return max(blocks) / min(blocks) if blocks and min(blocks) > 0 else float("inf")


def attempts(scenario):
    """Run SCENARIO(); once more if it fails (printing the first failure)."""
    for k in range(ATTEMPTS):
        try:
            scenario()
            return
        except Skip as e:
            print(f"  skip: {e}")
            return
        except AssertionError as e:
            if k + 1 == ATTEMPTS:
                raise
            print(f"  attempt {k + 1} failed, running the scenario again: {e}")


def skip_unless(*drivers):
    for d in drivers:
        if d.skip_reason:
            raise Skip(f"{type(d).__name__}: {d.skip_reason}")


def program_cpu():
    """The CPU inject pins itself to: the first allowed one."""
    return noise.online_cpus()[0]


# ------------------------------------------------------------------------
# cgroup CPU quota

QUOTA_US, PERIOD_US = 20000, 100000


def test_cgroup_quota_is_cgroup_throttle():
    # 3000 iterations of ~75 µs: ~0.25 s on the CPU, ~10 ms of it a period
    # (the other ~10 ms of the quota go to the spinning process): ~2.5 s.
    def scenario():
        cg = noise.CpuQuotaCgroup(QUOTA_US, PERIOD_US)
        skip_unless(cg)
        other = noise.other_cpu(program_cpu())
        with cg:
            hog = None
            if other is not None:
                hog = noise.HogProcess(other, 1.0, wrap=cg.run_args)
                skip_unless(hog)
            with hog or contextlib.nullcontext(), noise.Sampler(cg.stat, 0.005) as sampler:
                run = Recording("cgroup", [], 3000, wrap=cg.run_args)
                hog_ns = hog.cpu_time_ns() if hog else 0
            stat = cg.stat()
        check_cgroup(run, sampler, stat, hog_ns)
    attempts(scenario)


def check_cgroup(run, sampler, stat, hog_ns):
    loop = (run.start(1), run.end(run.n))
    # nr_throttled grows when the period timer lifts a throttle: as a long
    # iteration ends
    before, after = sampler.at(loop[0]), sampler.after(loop[1])
    throttles = after["nr_throttled"] - before["nr_throttled"]
    periods = after["nr_periods"] - before["nr_periods"]
    # a throttle stops the thread until the next period: at least the
    # period less the quota less the part of the period before the quota
    # ran out; 40 ms is far above anything else here but host stalls
    long_ns = (PERIOD_US - QUOTA_US) * 1000 // 2
    long_its = [i for i in range(1, run.n + 1) if run.it(i)["ns"] >= long_ns]
    long_gaps = [i for i, g in run.gaps() if g >= long_ns]
    print(f"  {run.summary()}")
    print(f"  cgroup over the whole test: {stat} (the spinning process in it used "
          f"{hog_ns / 1e6:.0f} ms); during the loop "
          f"({(loop[1] - loop[0]) / 1e9:.2f} s): {periods} periods, {throttles} throttled, "
          f"{(after['throttled_ns'] - before['throttled_ns']) / 1e6:.0f} ms throttled; "
          f"{len(long_its)} iterations >= {long_ns / 1e6:.0f} ms, {len(long_gaps)} such gaps "
          f"between iterations")
    expect(throttles >= 5, f"the cgroup was throttled {throttles} times during the loop "
           f"(cpu.stat: {before} -> {after}): the scenario did not happen")
    found = len(long_its) + len(long_gaps)
    # at most one throttle a period, and a throttle of the spinning
    # process's CPU only may leave the benchmark's running to the period's
    # end (cgroup v1 hands out runtime in 5 ms slices per CPU)
    expect(0.7 * throttles - 1 <= found <= throttles + 2,
           f"{found} long iterations or gaps for {throttles} throttles:\n"
           + "\n".join(run.describe(i) for i in long_its))
    for i in long_its:
        expect(share(run.it(i)["shares"], ON_CPU) < 0.1,
               f"a throttled iteration's excess is on-CPU: {run.describe(i)}")
    named = [i for i in long_its if run.it(i)["cause"] == "cgroup-throttle"]
    print(f"  throttled iterations with primary cause cgroup-throttle: {len(named)} of "
          f"{len(long_its)}: " + "; ".join(f"{i} {run.it(i)['cause']}" for i in long_its[:8]))
    whole = run.all_phases_share(("cgroup-throttle",))
    print(f"  cgroup-throttle share: of the slow excess {run.cause_share(('cgroup-throttle',))}, "
          f"of every phase's excess {whole}")
    pending(long_its and len(named) >= 0.8 * len(long_its),
            f"primary cause cgroup-throttle for {len(named)} of {len(long_its)} throttled "
            f"iterations, e.g. {run.describe(long_its[0]) if long_its else None}")
    pending(whole is not None and whole >= 0.6,
            f"cgroup-throttle {whole} of the excess of every phase, not >= 60 %")
    in_ref = [i for i in long_its if run.in_reference(i)]
    if not in_ref:
        # the reference is the last phase; the CPU's speed changes between
        # throttles and splits such runs in phases at times (the program
        # saw it: speed spread 1.5-1.9 in throttled runs here, 1.05-1.3
        # in others); the shares above hold those iterations
        expect(run.speed_spread(long_its) > 1.05,
               f"the reference holds none of the throttled iterations though the CPU kept "
               f"one speed: {run.summary()}")
        print("  note: the reference holds none of the throttled iterations (the CPU speed "
              "changed): the region's slow-iteration causes are not checked")
        return
    for i in in_ref:
        expect(run.it(i)["slow"], f"throttled, in the reference and not slow: {run.describe(i)}")
    slow_share = run.cause_share(("cgroup-throttle",))
    pending(slow_share is not None and slow_share >= 0.6,
            f"cgroup-throttle {slow_share} of the slow iterations' excess, not >= 60 %: "
            f"{run.r['causes']}")


# ------------------------------------------------------------------------
# softirq storm

FLOOD_ON_MS, FLOOD_OFF_MS = 20, 180


def test_softirq_storm_is_interrupts():
    # 25000 iterations of ~75 µs: ~2 s, about 10 bursts of 20 ms.
    def scenario():
        tracefs = noise.Tracefs()
        flood = noise.SoftirqFlood(program_cpu(), FLOOD_ON_MS, FLOOD_OFF_MS)
        skip_unless(tracefs, flood)
        with tracefs, flood:
            run = Recording("softirq", [], 25000)
        check_softirq(run, flood, flood.bursts())
    attempts(scenario)


def check_softirq(run, flood, bursts):
    windows = [(s, e) for s, e, _ in bursts]
    # the backlog the sender filled is processed after it stopped: 1 ms
    inside = [i for i in run.overlapping(windows, margin_ns=1000000) if i > 10]
    near = set(run.overlapping(windows, margin_ns=20000000))
    outside = [i for i in range(11, run.n + 1) if i not in near]
    net_rx = flood.net_rx()
    print(f"  {run.summary()}")
    print(f"  NET_RX softirqs per CPU during the test: {net_rx}; {len(bursts)} bursts, "
          f"{sum(n for _, _, n in bursts)} datagrams; {len(inside)} iterations inside bursts, "
          f"{len(outside)} away from them")
    cpu = run.cpu_of_program()
    expect(cpu == flood.cpu, f"inject ran on CPU {cpu}, the flood hit CPU {flood.cpu}")
    expect(len(inside) >= 100 and len(outside) >= 1000,
           f"{len(inside)} iterations inside bursts, {len(outside)} outside: bursts {bursts}")
    expect(net_rx.get(flood.cpu, 0) >= 2000,
           f"{net_rx.get(flood.cpu)} NET_RX softirqs on CPU {flood.cpu}: no storm")
    # Ground truth: the program's own clock around each iteration
    # (OUTER_NS), burst by burst. The softirqs come every few µs, so they
    # make every ~1 µs chunk of the busy work longer rather than a few much
    # longer (LOST_NS stays 0 at times): compare whole iterations. Measured
    # here: most bursts make the iterations in them 1.8-2.5 times slower;
    # some do nothing visible: the sender got less of its CPU (under 2,000
    # datagrams in the burst), or another task on the benchmark's CPU took
    # the softirqs in its own context (a loaded machine: 8 of 25 bursts
    # were heavy in the worst run).
    has_counter = bool(run.interrupt_counters())
    away = statistics.median(run.log[i - 1][4] for i in outside)
    hit = []  # iterations in the bursts that slowed the program down
    for s, e, n in bursts:
        its = [i for i in run.overlapping([(s, e)], margin_ns=1000000) if i > 10]
        if not its:
            continue
        outer = statistics.median(run.log[i - 1][4] for i in its)
        irq = (f", interrupts median {statistics.median(run.interrupts(i) for i in its)}"
               if has_counter else "")
        print(f"    burst at {(s - run.start(1)) / 1e6:.0f} ms, {n} datagrams: {len(its)} "
              f"iterations, median {statistics.median(run.it(i)['ns'] for i in its):.0f} ns, "
              f"by the program's clock {outer:.0f} ns{irq}")
        if outer >= 1.3 * away:
            hit += its
    heavy = sum(1 for s, e, _ in bursts if set(run.overlapping([(s, e)])) & set(hit))
    print(f"  {heavy} bursts made the iterations in them 30 % slower by the program's clock "
          f"(median {away:.0f} ns away from bursts)")
    expect(heavy >= 3, f"only {heavy} bursts slowed the program down: the storm did not reach "
           f"it")
    if run.counts("task-clock"):
        off = statistics.median(run.it(i)["ns"] - run.counter(i, "task-clock") for i in hit)
        print(f"  median off-CPU time in those bursts {off:.0f} ns (softirqs run in the "
              f"thread's context: its task-clock)")
    counters = {name: run.r["counters"][name] for name in ("interrupts", "irqs", "softirqs")
                if name in run.r["counters"]}
    if counters and not has_counter and os.geteuid() != 0:
        raise Skip(f"the interrupt counters do not count here: {counters}")
    pending(has_counter, f"a counter of interrupts ('interrupts', or 'irqs' and 'softirqs') "
            f"counts: {counters or 'none recorded'} ({run.proc['counters_note']})")
    if has_counter:
        irq_hit = [run.interrupts(i) for i in hit]
        irq_out = [run.interrupts(i) for i in outside]
        print(f"  interrupts ({' + '.join(run.interrupt_counters())}) per iteration: in those "
              f"bursts median "
              f"{statistics.median(irq_hit)} mean {statistics.mean(irq_hit):.2f}; away median "
              f"{statistics.median(irq_out)} mean {statistics.mean(irq_out):.3f}")
        # measured: 26,000-47,000 NET_RX softirqs a second in a busy
        # thread on the target CPU during bursts, ~3-6 in a 135 µs
        # iteration; the timer tick (every 4 ms) brings ~0.05 an iteration
        expect(statistics.median(irq_hit) >= 2 and statistics.median(irq_out) <= 0.5 and
               statistics.mean(irq_hit) >= 10 * statistics.mean(irq_out),
               "the interrupts counter does not show the storm (see above)")
    # The iterations of those bursts the report explains (all that are
    # slower than the reference median have a cause, in the reference or
    # not: a storm splits a run in phases at times), less those where the
    # machine took a quarter of the excess off the CPU: a task sharing the
    # CPU is charged the softirqs that hit it, and the benchmark then
    # waits for it longer (preemption, rightly)
    explained = [i for i in hit if run.it(i)["cause"] is not None and run.excess(i) > 0]
    on_cpu = [i for i in explained
              if (run.counter(i, "run-delay") or 0) < 0.25 * run.excess(i)]
    by_cause = {}
    for i in on_cpu:
        by_cause[run.it(i)["cause"]] = by_cause.get(run.it(i)["cause"], 0) + 1
    excess = sum(run.excess(i) for i in on_cpu)
    irq_excess = sum(run.excess(i) * run.it(i)["shares"].get("interrupts", 0) for i in on_cpu)
    print(f"  explained iterations in those bursts: {len(explained)}, {len(on_cpu)} of them "
          f"mostly on the CPU: primary causes {by_cause}, interrupts "
          f"{irq_excess / max(excess, 1):.0%} of their excess")
    expect(len(on_cpu) >= 20, f"only {len(on_cpu)} explained iterations (not preempted) in "
           f"the bursts that slowed the program")
    pending(irq_excess >= 0.6 * excess,
            f"interrupts {irq_excess / max(excess, 1):.0%} of the excess of the explained "
            f"iterations in the bursts (primary causes {by_cause}), e.g. "
            f"{run.describe(on_cpu[0]) if on_cpu else None}")


# ------------------------------------------------------------------------
# a thread of the process on the same CPU; another process


def test_sibling_thread_is_sibling_threads():
    # inject --hog: the thread spins up to 20 ms on the benchmark's CPU in
    # the middle of the injected iterations, the benchmark waits runnable
    # (0.4-5 ms here, until the scheduler preempts the hog). 4000
    # iterations (~300 ms), the injections from ~110 ms after the start to
    # ~35 ms before the end: `record` samples the threads' CPU time every
    # 10 ms, looks for new threads every 50 ms and cannot read the time of
    # a thread that has exited. In 300-iteration runs (~45 ms) the first
    # and the last injection were preemption in most runs, and in runs of
    # 3000 the first one (at ~40 ms) in 2 of 6.
    at = [1500, 2000, 2500, 3000, 3500]

    def scenario():
        run = Recording("sibling", ["--hog", "--at", ",".join(map(str, at))], 4000)
        check_sibling(run, at)
    attempts(scenario)


def check_sibling(run, at):
    print(f"  {run.summary()}")
    for i in at:
        print(f"    {run.describe(i)}")
        if run.counts("run-delay"):
            expect(run.counter(i, "run-delay") >= 200000,
                   f"under 200 µs waiting for the CPU: {run.describe(i)}")
        if run.in_reference(i):
            expect(run.it(i)["slow"], f"injected, in the reference and not slow: "
                   f"{run.describe(i)}")
        expect(share(run.it(i)["shares"], ON_CPU) < 0.1,
               f"the excess of a preempted iteration is on-CPU: {run.describe(i)}")
    named = [i for i in at if run.it(i)["cause"] == "sibling-threads"]
    # one of five may be the machine's (another task took the CPU longer)
    pending(len(named) >= len(at) - 1,
            f"primary cause sibling-threads in {len(named)} of the {len(at)} iterations "
            f"{at}: " + "; ".join(f"{i} {run.it(i)['cause']}" for i in at))


def test_hog_process_is_preemption():
    # another process spinning 5 ms of every 10 ms on the benchmark's CPU:
    # about one iteration in 70 waits for it, ~1-5 ms
    def scenario():
        hog = noise.HogProcess(program_cpu(), 0.5, period_ms=10)
        skip_unless(hog)
        with hog:
            cpu0, t0 = hog.cpu_time_ns(), time.monotonic()
            run = Recording("hogproc", [], 10000)
            hog_share = (hog.cpu_time_ns() - cpu0) / 1e9 / (time.monotonic() - t0)
        check_hog_process(run, hog_share)
    attempts(scenario)


def check_hog_process(run, hog_share):
    delayed = [i for i in range(1, run.n + 1)
               if (run.counter(i, "run-delay") or 0) >= 1000000]
    # A wait the counters hold but the duration does not: the switch came
    # between the shim's counter reads and its clock read at a marker (a
    # syscall's return is where a woken task preempts): 1-4 of ~100 such
    # iterations here, their run-delay up to 60 times their duration (and
    # the program's own clock around the markers saw the wait)
    outside = [i for i in delayed if run.counter(i, "run-delay") > run.it(i)["ns"]]
    waited = [i for i in delayed if i not in outside]
    print(f"  {run.summary()}")
    print(f"  the hog process had {hog_share:.0%} of a CPU; {len(waited)} iterations waited "
          f">= 1 ms for the CPU (and {len(outside)} counted such a wait outside their "
          f"duration: {[run.describe(i) for i in outside[:2]]})")
    expect(hog_share >= 0.2, f"the hog process ran {hog_share:.0%} of the time")
    expect(run.counts("run-delay"), "run-delay does not count: cannot see the hog")
    expect(len(waited) >= 20, f"only {len(waited)} iterations waited >= 1 ms for the CPU")
    causes = {}
    for i in waited:
        causes[run.it(i)["cause"]] = causes.get(run.it(i)["cause"], 0) + 1
    print(f"  their primary causes: {causes}")
    expect(causes.get("preemption", 0) >= 0.9 * len(waited),
           f"primary cause preemption in {causes.get('preemption', 0)} of {len(waited)} "
           f"iterations that waited for the hog process: {causes}")
    pre = run.cause_share(("preemption",))
    expect(pre is not None and pre >= 0.6, f"preemption {pre} of the slow excess: "
           f"{run.r['causes']}")
    sib = run.cause_share(("sibling-threads",))
    # nothing assigns sibling-threads before the pending change: this
    # check only means something after it
    pending(not causes.get("sibling-threads") and (sib or 0) <= 0.05,
            f"another process's time called sibling-threads: {causes}, {sib} of the excess")


# ------------------------------------------------------------------------
# SIGSTOP / SIGCONT

STOPS, STOP_MS, EVERY_MS = 5, 30, 150


def test_sigstop_is_off_cpu():
    # 20000 iterations of ~75 µs (1.5 s); 5 stops of 30 ms, 150 ms apart,
    # from 200 ms after inject started (its calibration takes ~50 ms)
    def scenario():
        box = {}

        def during(pid):
            with noise.SigStopper(pid, STOP_MS, EVERY_MS, STOPS) as stopper:
                box["stopper"] = stopper
        run = Recording("sigstop", [], 20000, during=during)
        check_sigstop(run, box["stopper"])
    attempts(scenario)


def check_sigstop(run, stopper):
    print(f"  {run.summary()}")
    expect(not stopper.errors, f"stops not made: {stopper.errors}")
    expect(len(stopper.windows) == STOPS, f"{len(stopper.windows)} stops made, not {STOPS}")
    long_ns = STOP_MS * 1000000 * 0.95
    long_its = [i for i in range(1, run.n + 1) if run.it(i)["ns"] >= long_ns]
    long_gaps = [i for i, g in run.gaps() if g >= long_ns]
    # where each stop was: the iteration or gap holding its middle
    landed = [run.where((a + b) // 2) for a, b in stopper.windows]
    print(f"  stops (ms after the first iteration began): "
          f"{[round((a - run.start(1)) / 1e6, 1) for a, _ in stopper.windows]}, "
          f"{[round((b - a) / 1e6, 2) for a, b in stopper.windows]} ms long; landed in {landed}")
    print(f"  iterations >= {long_ns / 1e6:.1f} ms: {long_its}; such gaps after iterations "
          f"{long_gaps}")
    expect(None not in landed, f"a stop outside the loop: {landed}")
    in_its = sorted(i for kind, i in landed if kind == "iteration")
    in_gaps = sorted(i for kind, i in landed if kind == "gap")
    # A stop between two iterations (the loop's own code and the marker
    # calls, 6-7 µs of every ~77 µs) makes no long iteration but a long
    # gap. The signal is taken on the way back to user space, at the end of
    # the shim's syscalls there more often than the time share says: 8 of
    # 40 stops (20 %) with the shim reading interrupt counters, 2 of 15
    # without; 3 of 5 in one run.
    expect(long_its == in_its and long_gaps == in_gaps,
           f"the long iterations {long_its} and gaps {long_gaps} are not those holding the "
           f"stops {in_its} and {in_gaps}:\n" + "\n".join(run.describe(i) for i in long_its))
    expect(len(in_its) >= 2, f"only {len(in_its)} of {STOPS} stops inside iterations (the "
           f"others between them): too few to check")
    expect(len(long_its) == STOPS - len(in_gaps),
           f"{len(long_its)} iterations >= {long_ns / 1e6:.1f} ms for {STOPS} stops, "
           f"{len(in_gaps)} of them between iterations")
    ref_cpu = (run.r["phases"][-1]["counter_medians"].get("task-clock")
               if run.counts("task-clock") else None)
    for i in long_its:
        it = run.it(i)
        print(f"    {run.describe(i)}")
        expect(it["ns"] >= STOP_MS * 1000000 - 1000000, f"shorter than the stop: "
               f"{run.describe(i)}")
        # the machine's part: on-CPU time beyond the reference's (the host
        # stole the vCPU while the guest counted the thread as running:
        # 3.2 ms of one such iteration once, 10 % of its excess, "steal")
        machine = 0
        if ref_cpu is not None:
            machine = max(0, run.counter(i, "task-clock") - ref_cpu)
            expect(it["ns"] - run.counter(i, "task-clock") >= STOP_MS * 1000000 - 1000000,
                   f"less off-CPU time than the stop: {run.describe(i)}")
        off = share(it["shares"], OFF_CPU)
        expect(it["cause"] in OFF_CPU and off >= 0.95 - machine / run.excess(i),
               f"a stopped iteration's excess is not off-CPU ({off:.1%}, the machine's on-CPU "
               f"part {machine} ns): {run.describe(i)}")
        expect(share(it["shares"], ON_CPU) <= 0.02,
               f"on-CPU causes in a stopped iteration: {run.describe(i)}")


if __name__ == "__main__":
    noise.install_signal_handlers()
    # one run of these tests at a time on the machine (two builds' suites
    # at once would each see the other's storm and hogs)
    with noise.Exclusive("env-tests", timeout=600) as lock:
        if lock.waited >= 1:
            print(f"  waited {lock.waited:.0f} s for another run of these tests to end")
        main([test_cgroup_quota_is_cgroup_throttle, test_softirq_storm_is_interrupts,
              test_sibling_thread_is_sibling_threads, test_hog_process_is_preemption,
              test_sigstop_is_off_cpu], workdir=W)

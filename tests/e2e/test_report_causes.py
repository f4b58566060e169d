#!/usr/bin/env python3
"""iterprof report against ground truth: causes injected at known iterations.

tests/programs/inject runs a loop of fixed busy work (region "step", about
75 µs an iteration, pinned to one CPU) and injects one known cause at the
iterations given by --at: fresh pages (page-faults), a sleep (blocking), a
competing thread on the same CPU (preemption), a move to the other CPU
(migration) or more of the same work (on-CPU time: with no hardware PMU there
is no instructions counter, so the report calls it unexplained; with one,
more-work). `iterprof report --format json --iterations` must find those
iterations slow, name the injected cause, and call no other iteration slow
that was not.

These tests run on shared 2-vCPU VMs, so the program's own log (--log, see
tests/programs/inject.c) is the ground truth for what the machine did: the
busy work runs in ~1 µs chunks between clock reads, so the program sees the
time it lost to interruptions inside the work (the timer tick alone costs
40-100 µs every 4 ms there; the host stalls the vCPU for milliseconds at
times) and the speed the CPU ran at (it changes by 10-50 % within a run at
times, as the host schedules other guests on the same cores). Hence:

 - A run whose CPU speed changed has real phases: the report may rightly
   call it slowdown or no-steady-state, and the reference (the last phase)
   may then hold none of the injected iterations. The classification is
   checked (flat or warmup) only in runs where the program saw one speed
   throughout (Run.steady), and each scenario is run for two iteration
   counts, each up to ATTEMPTS times with a new seed until one run passes
   every check; the problems of the runs that did not are printed. Checks
   that no machine noise can excuse (an injected iteration in the reference
   that is not slow, the JSON contradicting itself, a counter that does not
   show the injection) fail at once.
 - An injected iteration in which the machine took a large part of the time
   itself (the program lost it inside its busy work; for an off-CPU
   injection the task-clock grew by it: stolen time the guest counts as
   running; another task had the CPU: ctest runs two tests at once) may have
   "unexplained" or "preemption" as its primary cause, as long as the
   injected cause has a share (Run.machine_ns).
 - Quiet runs: with 75 µs iterations 2-5 % of them hold a timer tick and
   really are slower than the slow threshold, so "slow rate <= 1 %" is
   checked on 5 µs iterations (a tick lands in 0.2 % of them), and on
   75 µs iterations against the program's clock: an iteration it did not see
   slower must not be slow (<= 1 %), one it saw far slower must be. The
   median of REPEATS runs decides.

A stall in the middle of a run (after a sleep or a host stall the vCPU runs
15-25 % slower for 3-5 iterations) must not split a flat run in three
(phases.c absorbs a short phase between two at the same level): the
classification and "the reference holds the injected iteration" checks
hold for such runs too.
"""
import csv
import io
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program, record, report_json  # noqa: E402
from harness import run as run_cmd  # noqa: E402

W = Workdir()
ATTEMPTS = 6
SIZES = (200, 300)      # iterations of each scenario's runs
REPEATS = 5             # quiet runs; the median decides
INJECTIONS = 5
FIRST_AT = 60           # injected iterations are after this one...
SPACING = 20            # ... and at least this far apart
PAGES = 200             # ~400-600 µs of page faults on the project's VMs
SLEEP_US = 1000
WORK_FACTOR = 4
STEADY_SPREAD = 1.05    # a run is steady if its CPU speed stayed within this
RATE_SPREAD = 1.25      # the same, for the slow rate of 5 µs iterations
UNEXPLAINED_MAX = 0.30  # of the excess of the injected iterations
MACHINE_SHARE = 0.25    # more of an injected iteration's excess: the machine's
OFF_CPU = ("preemption", "blocking")

_serial = [0]


def positions(seed, n):
    """INJECTIONS iterations in FIRST_AT..n-10, at least SPACING apart."""
    rng = random.Random(seed)
    while True:
        at = sorted(rng.sample(range(FIRST_AT, n - 10), INJECTIONS))
        if all(b - a >= SPACING for a, b in zip(at, at[1:])):
            return at


class Run:
    """One recording of inject: the report's region and the program's log."""

    def __init__(self, name, args, n, at=()):
        _serial[0] += 1
        self.name = f"{name}-{_serial[0]}"
        self.data, log = W.join(self.name + ".data"), W.join(self.name + ".log")
        self.n, self.at = n, list(at)
        cmd = [program("inject"), "-n", str(n), "--log", log, *args]
        if at:
            cmd += ["--at", ",".join(map(str, at))]
        # --no-env: these causes come from the thread's own counters; the
        # environment sampler (a thread of the launcher, sanitized in the
        # sanitize build and several times heavier there) would compete with
        # the pinned benchmark and its start-up calibration
        # (tests/e2e/test_env_causes.py tests the environment's causes).
        record(self.data, cmd, options=("-q", "--no-env"), timeout=60)
        self.doc = report_json(self.data, ("--iterations",))
        steps = [r for r in self.doc["regions"] if r["name"] == "step"]
        expect(len(steps) == 1, f"{self.name}: one region 'step': {len(steps)}")
        self.r = steps[0]
        self.its = self.r["per_iteration"]
        expect(len(self.its) == n, f"{self.name}: {len(self.its)} iterations, not {n}")
        with open(log) as f:
            # INDEX INJECTED LOST_NS CHUNK_NS OUTER_NS WORK_NS CPU_BEGIN CPU_END
            self.log = [[int(v) for v in line.split()] for line in f]
        expect(len(self.log) == n and all(len(row) == 8 for row in self.log),
               f"{self.name}: log of {len(self.log)} iterations")
        ref = self.r["reference"]
        self.first, self.last = ref["first"], ref["last"]
        self.median = ref["median_ns"]
        self.threshold = self.r["slow"]["threshold_ns"]
        self.check_consistent()

    def it(self, i):
        return self.its[i - 1]

    def in_reference(self, i):
        return self.first <= i <= self.last

    def excess(self, i):
        return self.it(i)["ns"] - self.median

    def reference_counter(self, name):
        return self.r["phases"][-1]["counter_medians"].get(name)

    def describe(self, i):
        it, row = self.it(i), self.log[i - 1]
        shares = {k: round(v, 3) for k, v in it["shares"].items()}
        counters = {k: v for k, v in it["counters"].items() if v}
        return (f"iteration {i}: {it['ns']} ns, slow {it['slow']}, cause {it['cause']}, "
                f"shares {shares}, counters {counters}; program: lost {row[2]} ns, "
                f"chunk {row[3]} ns, outer {row[4]} ns")

    def summary(self):
        phases = [(p["first"], p["last"], p["label"], round(p["median_ns"]))
                  for p in self.r["phases"]]
        return (f"{self.name}: {self.r['classification']}, reference {self.first}-{self.last} "
                f"median {self.median:.0f} ns threshold {self.threshold:.0f} ns, injected at "
                f"{self.at}, speed spread {self.speed_spread():.3f}; phases {phases}")

    def check_consistent(self):
        """What the JSON says of itself, whatever the machine did."""
        slow = [it["index"] for it in self.its if it["slow"]]
        expect([it["index"] for it in self.its] == list(range(1, self.n + 1)),
               f"{self.name}: indexes are not 1..{self.n}")
        expect(slow == [it["index"] for it in self.its
                        if self.in_reference(it["index"]) and it["ns"] > self.threshold],
               f"{self.name}: the slow iterations are not the reference's above the threshold")
        expect(self.r["slow"]["count"] == len(slow),
               f"{self.name}: slow.count {self.r['slow']['count']} != {len(slow)} flags")
        for it in self.its:
            if it["slow"]:
                expect(it["cause"] is not None,
                       f"{self.name}: slow without a cause: {self.describe(it['index'])}")
            if it["cause"] is not None:
                expect(abs(sum(it["shares"].values()) - 1) < 1e-6 and
                       it["shares"].get(it["cause"]) == max(it["shares"].values()),
                       f"{self.name}: shares do not add up or do not match the cause: "
                       f"{self.describe(it['index'])}")

    # ---- ground truth: the program's log ----

    def speed_spread(self):
        """Largest / smallest median chunk over blocks of 10 iterations
        (not injected, after the first 10): 1.0 when the CPU kept one
        speed."""
        chunks = [row[3] for row in self.log[10:] if not row[1]]
        blocks = [statistics.median(chunks[k:k + 10]) for k in range(0, len(chunks) - 9, 10)]
        return max(blocks) / min(blocks) if blocks and min(blocks) > 0 else float("inf")

    def steady(self):
        return self.speed_spread() <= STEADY_SPREAD

    def machine_ns(self, i, kind):
        """Time the machine took in injected iteration I, besides the
        injection of KIND ("pages", "work", "sleep", "hog"):
         - the time the program lost inside its busy work;
         - pages: the injection's time beyond 1.5 x its median in this run
           (the same faults cost 2-4 times more at times: the host's own
           faults behind the guest's);
         - sleep, hog: the task-clock beyond the reference's (the injection
           runs for microseconds on the CPU; the rest is time the host stole
           while the guest counted it as running: waking from a halt);
         - all but hog: the run-queue delay (another task had the CPU: the
           other tests ctest runs in parallel). The hog's is the injection."""
        row, it = self.log[i - 1], self.it(i)
        machine = row[2]
        if kind == "pages":
            outside = [self.log[j - 1][4] - self.log[j - 1][5] for j in self.at]
            machine += max(0, row[4] - row[5] - 1.5 * statistics.median(outside))
        cpu, ref_cpu = it["counters"].get("task-clock"), self.reference_counter("task-clock")
        if kind in ("sleep", "hog") and cpu is not None and ref_cpu is not None:
            machine = max(machine, cpu - ref_cpu)
        delay = it["counters"].get("run-delay") or 0
        if kind == "sleep":
            machine += delay
        elif kind != "hog":
            machine = max(machine, delay)
        return machine


def counts(run, name):
    c = run.r["counters"].get(name)
    return bool(c and c["counts"])


class Problems:
    """What failed in one run that another run may pass."""

    def __init__(self):
        self.items = []

    def add(self, text, kind="cause"):
        self.items.append((kind, text))



def check_injected(run, causes, problems, kind):
    """Every injected iteration: slow if in the reference (at once), and
    its primary cause in CAUSES; or, when the machine took a large part of
    its excess (Run.machine_ns), "unexplained" or "preemption" (what the
    machine's part is called) as long as a cause in CAUSES has a share."""
    inside = [i for i in run.at if run.in_reference(i)]
    for i in inside:
        expect(run.it(i)["slow"], f"{run.summary()}\ninjected and in the reference, not slow: "
               f"{run.describe(i)}")
    if not inside:
        problems.add("the reference holds none of the injected iterations (cannot check "
                     "that they are slow)", "phases")
    for i in run.at:
        it = run.it(i)
        if it["cause"] in causes:
            continue
        machine = run.machine_ns(i, kind)
        if (it["cause"] in ("unexplained", "preemption")
                and machine >= MACHINE_SHARE * run.excess(i)
                and any(it["shares"].get(c, 0) > 0 for c in causes)):
            print(f"  {run.name}: the machine took {machine:.0f} ns of injected "
                  f"{run.describe(i)}")
            continue
        problems.add(f"primary cause not {'/'.join(causes)} (the machine took {machine:.0f} "
                     f"ns): {run.describe(i)}")


def clean(run, kind):
    """The injected iterations the machine took little of."""
    return [i for i in run.at if run.machine_ns(i, kind) < MACHINE_SHARE * run.excess(i)]


def check_unexplained(run, problems, kind):
    """Over the injected iterations the machine did not disturb much."""
    quiet = clean(run, kind)
    total = sum(run.excess(i) for i in quiet)
    unexplained = sum(run.excess(i) * run.it(i)["shares"].get("unexplained", 0) for i in quiet)
    if not quiet:
        problems.add("the machine disturbed every injected iteration")
    elif unexplained >= UNEXPLAINED_MAX * total:
        problems.add(f"unexplained {unexplained / total:.0%} of the injected iterations' "
                     f"excess (limit {UNEXPLAINED_MAX:.0%}): "
                     + "; ".join(run.describe(i) for i in quiet))


def check_classification(run, problems):
    if run.steady() and run.r["classification"] not in ("flat", "warmup"):
        problems.add(f"the CPU kept one speed (spread {run.speed_spread():.3f}) but the run "
                     f"is {run.r['classification']}", "phases")


def check_pinned(run):
    """The benchmark thread is pinned: no migration but those injected. Not
    asserted: the VM's kernel has been seen to count one, once every few
    dozen runs, in an iteration the host stalled, the program on the same
    CPU before and after. Printed, for the record."""
    if not counts(run, "cpu-migrations"):
        return
    for it in run.its:
        if it["counters"]["cpu-migrations"] and it["index"] not in run.at:
            row = run.log[it["index"] - 1]
            print(f"  note: {run.name}: pinned, yet a migration counted (CPU {row[6]} before, "
                  f"{row[7]} after): {run.describe(it['index'])}")


def scenario(name, args, check):
    """For each of SIZES, run CHECK(run, problems) on up to ATTEMPTS
    recordings (a new seed each) until one has no problem. A check that
    must hold in every run raises instead."""
    for size in SIZES:
        failures = []
        for attempt in range(ATTEMPTS):
            r = Run(name, args, size, positions(1000 * attempt + size, size))
            problems = Problems()
            check_pinned(r)
            check(r, problems)
            check_classification(r, problems)
            if not problems.items:
                if failures:
                    print(f"  {name} (n={size}): passed at attempt {attempt + 1}")
                break
            failures.append(f"  attempt {attempt + 1}: {r.summary()}\n    "
                            + "\n    ".join(text for _, text in problems.items))
            print(failures[-1])
        else:
            raise AssertionError(f"{name} (n={size}): no attempt passed:\n"
                                 + "\n".join(failures))


# ------------------------------------------------------------------------
# Scenarios


def test_page_faults():
    def check(run, problems):
        for i in run.at:
            expect(run.it(i)["counters"]["minor-faults"] >= PAGES,
                   f"{run.name}: minor faults: {run.describe(i)}")
        check_injected(run, ("page-faults",), problems, "pages")
        check_unexplained(run, problems, "pages")
    scenario("pages", ["--pages", str(PAGES)], check)


def test_sleep_is_blocking():
    def check(run, problems):
        for i in run.at:
            expect(run.it(i)["ns"] >= SLEEP_US * 1000,
                   f"{run.name}: shorter than the sleep: {run.describe(i)}")
            if counts(run, "voluntary-switches"):
                expect(run.it(i)["counters"]["voluntary-switches"] >= 1,
                       f"{run.name}: no voluntary switch: {run.describe(i)}")
        check_injected(run, ("blocking",), problems, "sleep")
        check_unexplained(run, problems, "sleep")
    scenario("sleep", ["--sleep-us", str(SLEEP_US)], check)


def test_competing_process_is_preemption():
    """Another process on the benchmark's CPU (a thread of the benchmark's
    own is sibling-threads: tests/e2e/test_env_causes.py)."""
    def check(run, problems):
        for i in run.at:
            if counts(run, "involuntary-switches"):
                expect(run.it(i)["counters"]["involuntary-switches"] >= 1,
                       f"{run.name}: no involuntary switch: {run.describe(i)}")
            if counts(run, "run-delay"):
                expect(run.it(i)["counters"]["run-delay"] >= 100000,
                       f"{run.name}: under 100 µs waiting for the CPU: {run.describe(i)}")
        check_injected(run, ("preemption",), problems, "hog")
        check_unexplained(run, problems, "hog")
    scenario("hog", ["--hog-process"], check)


def test_more_work_is_on_cpu():
    # No instructions counter without a PMU: on-CPU excess nothing explains
    # is "unexplained"; with one it is "more-work". Either way not off-CPU.
    def check(run, problems):
        for i in run.at:
            # Not in every run: the VM runs the same work up to 2x faster or
            # slower for stretches, and CI once saw an injected iteration in
            # a fast stretch of a slow run (142 µs against a 145 µs median
            # work): a new recording then.
            if run.it(i)["ns"] < 2 * run.median:
                problems.add(f"not longer: {run.describe(i)}")
        for i in clean(run, "work"):
            off = sum(run.it(i)["shares"].get(c, 0) for c in OFF_CPU)
            if off >= 0.5:
                problems.add(f"off-CPU causes {off:.0%} of the excess: {run.describe(i)}")
        check_injected(run, ("unexplained", "more-work"), problems, "work")
    scenario("work", ["--work-factor", str(WORK_FACTOR)], check)


def test_migration_is_counted():
    # sched_setaffinity to the other CPU: one migration, and the thread
    # sleeps while the kernel moves it (a voluntary switch). The extra time
    # is 50-300 µs on the project's VMs (mostly on-CPU: the other vCPU wakes
    # from a halt), while the model charges a migration its calibration
    # cost, 5 µs (it cannot learn it from the trace: see the final report),
    # so the primary cause is not asserted. The migration must be counted in
    # its iteration only, and be part of the explanation of an explained
    # iteration that ran longer on the CPU than the reference.
    probe = run_cmd([program("inject"), "-n", "1", "--migrate", "--at", "1"], timeout=30)
    if probe.returncode == 3:
        print(f"skip: {probe.stderr.strip()}")
        return

    def check(run, problems):
        if not counts(run, "cpu-migrations"):
            print("skip: cpu-migrations does not count here")
            return
        ref_cpu = run.reference_counter("task-clock")
        for i in run.at:
            it = run.it(i)
            expect(it["counters"]["cpu-migrations"] == 1,
                   f"{run.name}: one migration: {run.describe(i)}")
            expect(run.log[i - 1][6] != run.log[i - 1][7],
                   f"{run.name}: the program did not change CPU: {run.describe(i)}")
            on_cpu_more = ref_cpu is not None and it["counters"]["task-clock"] > ref_cpu
            if it["cause"] is not None and on_cpu_more and not it["shares"].get("migration"):
                problems.add(f"explained without the migration: {run.describe(i)}")
    scenario("migrate", ["--migrate"], check)


# ------------------------------------------------------------------------
# Quiet runs


def classification_problems(runs):
    out = []
    for r in runs:
        problems = Problems()
        check_classification(r, problems)
        out += [f"{r.summary()}: {text}" for _, text in problems.items]
    return out


def check_against_program_clock(runs):
    """In every run: slow iterations are slower by the program's clock
    around them (the median run: <= 1 % that are not), and iterations far
    slower by its clock inside them are slow."""
    false_rates, missed = [], []
    for r in runs:
        reference = range(r.first, r.last + 1)
        margin = r.threshold - r.median
        outer = statistics.median(r.log[i - 1][4] for i in reference)
        work = statistics.median(r.log[i - 1][5] for i in reference)
        slow = [i for i in reference if r.it(i)["slow"]]
        false = [i for i in slow if r.log[i - 1][4] < outer + margin / 2]
        false_rates.append(len(false) / len(reference))
        if false:
            print(f"  {r.name}: slow, but not by the program's clock: "
                  + "; ".join(r.describe(i) for i in false))
        must = [i for i in reference if r.log[i - 1][5] > work + margin + 0.1 * r.median]
        missed += [f"{r.name} {r.describe(i)}" for i in must if not r.it(i)["slow"]]
        ticks = sum(1 for i in slow if r.log[i - 1][2] >= margin / 2)
        print(f"  {r.name}: {len(slow)} of {len(reference)} slow, {ticks} of them interrupted "
              f"in the busy work (the program lost over half the margin), speed spread "
              f"{r.speed_spread():.3f}")
    summaries = "\n".join(r.summary() for r in runs)
    expect(statistics.median(false_rates) <= 0.01,
           f"slow iterations the program did not see slower: {false_rates}\n{summaries}")
    expect(not missed, "iterations far slower by the program's clock are not slow:\n"
           + "\n".join(missed))
    wrong = classification_problems(runs)
    expect(len(wrong) <= len(runs) // 2, "\n".join(wrong))


def test_quiet_short_iterations():
    # 5 µs iterations (about 8 µs with the shim's counter reads): a timer
    # tick (every 4 ms) lands in about 0.2 % of them, so the slow rate
    # itself must be <= 1 % (10 µs iterations measured about 1 %: too
    # close), in runs the program saw keep one speed (within RATE_SPREAD:
    # the threshold is at least 2 µs, 40 %, above the median; a CPU slowing
    # down by more than that makes really slower stretches): up to
    # 3 x REPEATS runs to find REPEATS such.
    runs, steady = [], []
    while len(runs) < 3 * REPEATS and len(steady) < REPEATS:
        runs.append(Run("quiet5", ["--work-us", "5"], 400))
        if runs[-1].speed_spread() <= RATE_SPREAD:
            steady.append(runs[-1])
    check_against_program_clock(runs)
    if len(steady) < 3:
        print(f"  note: the CPU speed changed in {len(runs) - len(steady)} of {len(runs)} "
              f"runs: slow rate not checked")
        return
    rates = [r.r["slow"]["rate"] for r in steady]
    expect(statistics.median(rates) <= 0.01,
           f"slow rates {rates} of quiet steady runs: median above 1 %\n"
           + "\n".join(r.summary() for r in steady))


def test_quiet_agrees_with_the_program_clock():
    # 75 µs iterations: 2-5 % of them hold a timer tick and really are slow.
    check_against_program_clock([Run("quiet75", [], 400) for _ in range(REPEATS)])


# ------------------------------------------------------------------------
# Other outputs of the same recording


def test_csv_and_text_agree_with_json():
    r = Run("formats", ["--pages", str(PAGES)], 300, positions(7, 300))
    p = run_cmd([ITERPROF, "report", "--format", "csv", r.data], check=0)
    rows = [row for row in csv.DictReader(io.StringIO(p.stdout)) if row["region"] == "step"]
    expect(len(rows) == r.n, f"{len(rows)} csv rows for {r.n} iterations")
    for row, it in zip(rows, r.its):
        expect(int(row["index"]) == it["index"] and int(row["ns"]) == it["ns"],
               f"csv row {row} is not iteration {it['index']}")
        expect(row["slow"] in ("0", "1") and (row["slow"] == "1") == it["slow"],
               f"csv slow {row['slow']!r} != json {it['slow']}: iteration {it['index']}")
        expect((row["cause"] or None) == it["cause"],
               f"csv cause {row['cause']!r} != json {it['cause']!r}: iteration {it['index']}")
        expect(int(row["minor-faults"]) == it["counters"]["minor-faults"],
               f"csv minor-faults {row['minor-faults']} != json: iteration {it['index']}")
    expect(sum(row["slow"] == "1" for row in rows) == r.r["slow"]["count"], "slow count")
    text = run_cmd([ITERPROF, "report", r.data], check=0).stdout
    # the text report wraps the verdict at 100 columns: compare the words
    words = " ".join(text.split())
    expect(r.r["verdict"] and " ".join(r.r["verdict"].split()) in words,
           f"verdict {r.r['verdict']!r} not in the text report:\n{text}")
    if any(r.it(i)["cause"] == "page-faults" for i in r.at):
        expect("page-faults" in text, f"page-faults not named in the text report:\n{text}")


if __name__ == "__main__":
    main([test_page_faults, test_sleep_is_blocking, test_competing_process_is_preemption,
          test_more_work_is_on_cpu, test_migration_is_counted,
          test_quiet_short_iterations, test_quiet_agrees_with_the_program_clock,
          test_csv_and_text_agree_with_json], workdir=W)

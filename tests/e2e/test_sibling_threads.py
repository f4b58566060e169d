#!/usr/bin/env python3
"""End-to-end: the process's other threads, per iteration and by name
(`other_threads_cpu_ns`, `other_threads_top`, `other_threads` of phases and
slow iterations, the CSV columns and the text line; doc/report.md).

tests/programs/sibling_burst: the benchmark thread pinned to the first
allowed CPU runs 50 iterations of 30 ms; a thread named "gc-worker", pinned
to the second CPU, spins during iterations 20-29 only and sleeps otherwise.
It slows nothing (another core): this is visibility, not a cause. The
program logs, per iteration, the CPU time gc-worker used between the
markers (its thread CPU clock): the ground truth.

What is checked always (nothing on the machine excuses it):
  - every iteration has a value; iterations 5-15 and 35-50 (gc-worker
    asleep, by construction: their truth is 0) have under 10 % of their
    duration;
  - iterations 19-30 together have the gc-worker's CPU time of 20-29 within
    30 % (+ 5 ms): the timeline is sampled every 10 ms and the kernel
    updates a running thread's time at its ticks, so the time may spread
    to the iterations beside the burst but not be lost or made up;
  - the name: 'gc-worker' is the top thread of every burst iteration that
    has other-thread time, of the phase holding them, in the JSON, the CSV
    (whose values equal the JSON's) and the text lines, which are shown
    exactly where the JSON's shares say (the region's from 10 %; a phase's
    or the slow iterations' from 10 % and 1.5 times the region's); the
    region's total is the sum of its iterations'.
What needs the worker to have had its core (the 2 vCPUs are shared with
other tests and guests): each iteration of 20-29 in which its clock says it
ran at least 80 % of the time has other-thread CPU time of at least 50 % of
its duration; and when it had 70 % of iterations 20-29 and its core in 5 of
them, the region (19 % other-thread time then) has a text line naming it. A run where it had
less is run again (3 attempts); if none had it, those checks are made only
for the iterations that qualify, and the test says so.
"""
import csv
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program, record, run  # noqa: E402

W = Workdir()
N, FIRST, LAST, MS = 50, 20, 29, 30
QUIET = list(range(5, 16)) + list(range(35, N + 1))
BURST = range(FIRST, LAST + 1)
ATTEMPTS = 3
_serial = [0]


class Skip(Exception):
    """The machine cannot run the scenario."""


class Recorded:
    """One recording of sibling_burst: the report as JSON, CSV and text, and
    the program's log."""

    def __init__(self, options=(), args=()):
        _serial[0] += 1
        self.dir = W.join(f"rec{_serial[0]}")
        log = W.join(f"log{_serial[0]}")
        p = record(self.dir, [program("sibling_burst"), "-n", str(N), "-m", str(MS),
                              "-f", str(FIRST), "-l", str(LAST), "-o", log, *args],
                   options, check=None)
        if p.returncode == 3:
            raise Skip("sibling_burst needs two allowed CPUs")
        expect(p.returncode == 0, f"record: exit {p.returncode}: {p.stderr}")
        self.truth = {}
        with open(log) as f:
            for line in f:
                i, _, _, cpu = map(int, line.split())
                self.truth[i] = cpu
        self.doc = _json(self.dir)
        regions = [r for r in self.doc["regions"] if r["name"] == "step"]
        expect(len(regions) == 1, f"{len(regions)} regions named step")
        self.region = regions[0]
        self.its = {it["index"]: it for it in self.region["per_iteration"]}
        expect(len(self.its) == N, f"{len(self.its)} iterations, not {N}")
        self.csv = {int(row["index"]): row for row in csv.DictReader(io.StringIO(
            run([ITERPROF, "report", "--format", "csv", self.dir], check=0).stdout))}
        self.text = run([ITERPROF, "report", self.dir], check=0).stdout

    def other(self, i):
        return self.its[i]["other_threads_cpu_ns"]

    def ns(self, i):
        return self.its[i]["ns"]

    def describe(self, i):
        v = self.other(i)
        return (f"iteration {i}: {self.ns(i) / 1e6:.1f} ms, other threads "
                f"{'null' if v is None else f'{v / 1e6:.1f} ms'} "
                f"({self.its[i]['other_threads_top']}), gc-worker's own clock "
                f"{self.truth[i] / 1e6:.1f} ms")


def _json(path):
    import json
    return json.loads(run([ITERPROF, "report", "--format", "json", "--iterations", path],
                          check=0).stdout)


def other_lines(text):
    """The text report's "other threads used" lines, each with its wrapped
    continuation lines (indented 2 more) joined."""
    out, lines = [], text.splitlines()
    for k, ln in enumerate(lines):
        if "other threads used" not in ln:
            continue
        whole = ln.strip()
        for more in lines[k + 1:]:
            if not more.startswith(" " * 8) or "other threads used" in more:
                break
            whole += " " + more.strip()
        out.append(whole)
    return out


def span_of(p):
    return (f"iteration {p['first']}" if p["first"] == p["last"]
            else f"iterations {p['first']}-{p['last']}")


def check_always(r):
    """What holds however busy the machine was."""
    for i in range(1, N + 1):
        expect(r.other(i) is not None and r.other(i) >= 0,
               f"no other-threads time: {r.describe(i)}")
    for i in QUIET:
        expect(r.truth[i] == 0, f"sibling_burst: gc-worker ran outside its burst: "
               f"{r.describe(i)}")
        expect(r.other(i) <= 0.10 * r.ns(i), f"a quiet iteration: {r.describe(i)}")
    truth = sum(r.truth[i] for i in BURST)
    seen = sum(r.other(i) for i in range(FIRST - 1, LAST + 2))
    expect(truth > 0, "gc-worker did not run at all")
    expect(abs(seen - truth) <= 0.3 * truth + 5e6,
           f"iterations {FIRST - 1}-{LAST + 1} have {seen / 1e6:.1f} ms of other threads' CPU "
           f"time, gc-worker's clock says {truth / 1e6:.1f} ms")
    for i in BURST:
        if r.other(i) > 0:
            expect(r.its[i]["other_threads_top"] == "gc-worker",
                   f"top thread not gc-worker: {r.describe(i)}")
    # the phase holding the burst names gc-worker first
    phase = r.region["phases"][r.its[(FIRST + LAST) // 2]["phase"]]
    other = phase["other_threads"]
    expect(other is not None and other["threads"] and
           other["threads"][0]["name"] == "gc-worker" and other["threads"][0]["threads"] == 1,
           f"phase {phase['first']}-{phase['last']}: other_threads {other}")
    expect(abs(other["share"] * sum(r.ns(i) for i in range(phase["first"], phase["last"] + 1))
               - other["cpu_ns"]) <= 1e3, f"phase share does not match cpu_ns: {other}")
    # the CSV says what the JSON says
    for i in range(1, N + 1):
        row = r.csv[i]
        expect(abs(float(row["other_threads_cpu_ns"]) - r.other(i)) <= 1,
               f"CSV {row['other_threads_cpu_ns']} vs JSON: {r.describe(i)}")
        expect(row["other_threads_top"] == (r.its[i]["other_threads_top"] or ""),
               f"CSV top {row['other_threads_top']!r} vs JSON: {r.describe(i)}")
    # the text lines, exactly where the JSON says the share is high enough:
    # the region's from 10 %, a phase's or the slow iterations' when it
    # also stands out (1.5 times the region's)
    lines = other_lines(r.text)
    region = r.region["other_threads"]
    expect(abs(region["cpu_ns"] - sum(r.other(i) for i in range(1, N + 1))) <= 1e3,
           f"the region's other_threads {region} is not the sum of its iterations'")
    groups = [({"first": 1, "last": N}, region["share"])]
    if len(r.region["phases"]) > 1:
        groups += [(p, p["other_threads"]["share"]) for p in r.region["phases"]]
    slow = r.region["slow"]
    if slow["count"]:
        groups.append(({"slow": slow["count"]}, slow["other_threads"]["share"]))
    shown = False
    for k, (g, share) in enumerate(groups):
        span = (f"the {g['slow']} slow iteration{'s' if g['slow'] > 1 else ''}" if "slow" in g
                else span_of(g))
        wanted = share >= 0.10 and (k == 0 or share >= 1.5 * region["share"])
        has_line = [ln for ln in lines if f"during {span} (" in ln]
        expect(bool(has_line) == wanted, f"{span}: share {share:.1%}, text lines: {lines}")
        expect(all("'gc-worker'" in ln for ln in has_line),
               f"{span}: gc-worker not named: {has_line}")
        shown |= k == 0 and wanted
    long_lines = [ln for ln in r.text.splitlines()
                  if "other threads" in ln and len(ln) > 100]
    expect(not long_lines, f"text over 100 columns: {long_lines}")
    return shown


def test_other_threads_of_a_burst():
    for attempt in range(1, ATTEMPTS + 1):
        try:
            r = Recorded()
        except Skip as e:
            print(f"  skip: {e}")
            return
        print(f"  attempt {attempt}:")
        for i in (FIRST - 1, FIRST, (FIRST + LAST) // 2, LAST, LAST + 1, 40):
            print(f"    {r.describe(i)}")
        shown = check_always(r)
        # the iterations in which gc-worker had its core (its clock says so)
        had_core = [i for i in BURST if r.truth[i] >= 0.8 * r.ns(i)]
        for i in had_core:
            expect(r.other(i) >= 0.5 * r.ns(i), f"a burst iteration: {r.describe(i)}")
        share = sum(r.truth[i] for i in BURST) / sum(r.ns(i) for i in BURST)
        if len(had_core) < 5 or share < 0.7:
            print(f"  gc-worker had {share:.0%} of a CPU during its burst, its core in "
                  f"{len(had_core)} of its {len(BURST)} iterations (the machine is busy): "
                  f"run again")
            continue
        expect(shown, "the region has under 10 % of other-thread time though gc-worker had "
               "its core")
        expect(any("'gc-worker'" in ln for ln in other_lines(r.text)),
               "'gc-worker' is not in the text")
        return
    print(f"  gc-worker never had its core in {ATTEMPTS} runs: the per-iteration share of "
          f"the burst iterations was not checked (the rest was)")


def test_without_timeline():
    try:
        r = Recorded(["--no-env"], [])
    except Skip as e:
        print(f"  skip: {e}")
        return
    for i in range(1, N + 1):
        expect(r.its[i]["other_threads_cpu_ns"] is None and
               r.its[i]["other_threads_top"] is None, f"--no-env: {r.its[i]}")
        expect(r.csv[i]["other_threads_cpu_ns"] == "" and r.csv[i]["other_threads_top"] == "",
               f"--no-env: CSV {r.csv[i]}")
    expect(all(p["other_threads"] is None for p in r.region["phases"]),
           "--no-env: phases' other_threads not null")
    expect(r.region["slow"]["other_threads"] is None, "--no-env: slow other_threads not null")
    expect(r.region["other_threads"] is None, "--no-env: the region's other_threads not null")
    expect("other threads used" not in r.text, "--no-env: a text line")


if __name__ == "__main__":
    main([test_other_threads_of_a_burst, test_without_timeline], W)

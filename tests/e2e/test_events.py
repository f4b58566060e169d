#!/usr/bin/env python3
"""End-to-end: `iterprof events` and `iterprof record -e`.

What is countable depends on the machine, so each test asks the machine
first (as the user would, with `iterprof events`) and checks what follows
from the answer: a countable event has per-iteration values that agree with
what the program did, an uncountable one has none (never zeros) and a
reason, and a machine without a hardware PMU says so once.
"""
import os

from harness import ITERPROF, Workdir, expect, main, program, record, regions, report_json, run

ITERBENCH = program("iterbench")


def has_cpu_pmu():
    return any(os.path.exists(f"/sys/bus/event_source/devices/{n}")
               for n in ("cpu", "cpu_core", "armv8_pmuv3", "armv8_pmuv3_0"))


def event_line(out, name):
    for line in out.splitlines():
        if line.split()[:1] == [name]:
            return line
    return None


def test_events_lists_by_trying():
    p = run([ITERPROF, "events"], check=0)
    task = event_line(p.stdout, "task-clock")
    expect(task and task.endswith(" ok"), f"task-clock countable: {task!r}")
    cycles = event_line(p.stdout, "cycles")
    expect(cycles is not None, "cycles listed")
    if not has_cpu_pmu():
        expect("no hardware PMU" in cycles, f"cycles without a PMU: {cycles!r}")
    expect("countable here" in p.stdout.splitlines()[-1], "a closing count")
    only = run([ITERPROF, "events", "task"], check=0)
    names = [line.split()[0] for line in only.stdout.splitlines() if line.startswith("  ")]
    expect(names == ["task-clock"], f"pattern 'task' lists {names}")
    glob = run([ITERPROF, "events", "--all", "perf::*MISSES*"], check=0)
    expect("perf::" in glob.stdout, "--all lists libpfm4's events")
    for bad in (["--bogus"], ["a", "b"]):
        p = run([ITERPROF, "events", *bad], check=2)
        expect(p.stderr.startswith("iterprof: events:") and len(p.stderr.splitlines()) == 1,
               f"one error line for {bad}: {p.stderr!r}")


def test_default_run_says_once_what_hardware_is_missing():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "5"])
    lines = [l for l in p.stderr.splitlines() if "hardware counters unavailable" in l]
    if has_cpu_pmu():
        expect(not lines, f"a PMU exists, yet: {lines}")
    else:
        expect(len(lines) == 1 and "no hardware PMU" in lines[0],
               f"said once, with the reason: {p.stderr!r}")
    q = record(w.join("q"), [ITERBENCH, "-n", "5"], options=["-q"])
    expect("hardware" not in q.stderr, f"-q says nothing: {q.stderr!r}")
    w.cleanup()


def test_uncountable_event_has_no_values_and_a_reason():
    if has_cpu_pmu():
        print("skip: this machine has a hardware PMU (cycles may count)")
        return
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "10"], options=["-e", "cycles"])
    expect("cycles: not counted here: no hardware PMU" in p.stderr, p.stderr)
    doc = report_json(w.join("t"), ["--iterations"])
    r = regions(doc, "loop")[0]
    c = r["counters"]["cycles"]
    expect(not c["counts"] and "no hardware PMU" in c["why"] and c["unavailable"] == 10,
           f"cycles: {c}")
    expect(all(it["counters"]["cycles"] is None for it in r["per_iteration"]),
           "no value, never 0")
    w.cleanup()


def test_sysfs_event_counts_on_cpu_ticks():
    # msr/tsc/ per thread counts TSC ticks while the thread is on a CPU: a
    # real non-software event this VM has (root only).
    probe = run([ITERPROF, "events", "msr/tsc/"], check=0)
    line = event_line(probe.stdout, "msr/tsc/")
    if not line or not line.endswith(" ok"):
        print(f"skip: msr/tsc/ not countable here: {line!r}")
        return
    w = Workdir()
    at, ms = 4, 20
    record(w.join("t"), [ITERBENCH, "-n", "12", "-w", "200000", "-s", str(ms), "-a", str(at)],
           options=["-e", "msr/tsc/"])
    doc = report_json(w.join("t"), ["--iterations"])
    hz = doc["processes"][0]["tsc_hz"] or 2e9
    its = regions(doc, "loop")[0]["per_iteration"]
    for i, it in enumerate(its):
        ticks, cpu = it["counters"]["msr/tsc/"], it["counters"]["task-clock"]
        expect(ticks is not None and ticks > 0, f"iteration {i + 1}: msr/tsc/ {ticks}")
        on_cpu_ns = ticks / hz * 1e9
        expect(0.5 * cpu <= on_cpu_ns <= 1.5 * cpu + 5000,
               f"iteration {i + 1}: {on_cpu_ns:.0f} ns of ticks vs task-clock {cpu} ns")
    slept = its[at - 1]
    expect(slept["counters"]["msr/tsc/"] / hz * 1e9 < 0.5 * slept["ns"],
           f"the {ms} ms sleep is not counted: {slept}")
    w.cleanup()


def test_bad_event_lists_are_refused():
    w = Workdir()
    cases = [
        (["-e", "no_such_event_xyz"], "unknown event 'no_such_event_xyz'"),
        (["-e", "nosuchpmu/foo/"], "no PMU 'nosuchpmu'"),
        (["-e", "cycles", "--no-counters"], "-e and --no-counters"),
        (["-e", "cycles,cycles"], "listed twice"),
        (["-e", ",cycles"], "empty"),
        (["--no-software"], "--no-software without -e"),
    ]
    for options, want in cases:
        p = run([ITERPROF, "record", "-o", w.join("t"), *options, "--", ITERBENCH, "-n", "1"],
                check=2)
        expect(want in p.stderr and len(p.stderr.splitlines()) == 1,
               f"{options}: {p.stderr!r}")
        expect(not os.path.exists(w.join("t")), f"{options}: nothing recorded")
    w.cleanup()


def test_no_software_counts_only_the_events():
    # --no-software: the -e events and the clock, no software set (described
    # as disabled, never read: no values). msr/tsc/ is the one non-software
    # event this VM has (root); no PMU here, so it is read with read().
    line = event_line(run([ITERPROF, "events", "msr/tsc/"], check=0).stdout, "msr/tsc/")
    if not line or not line.endswith(" ok"):
        print(f"skip: msr/tsc/ not countable here: {line!r}")
        return
    w = Workdir()
    record(w.join("t"), [ITERBENCH, "-n", "6", "-w", "100000"],
           options=["--no-software", "-e", "msr/tsc/"])
    doc = report_json(w.join("t"), ["--iterations"])
    counters = {c["name"]: c for c in doc["processes"][0]["counters"]}
    for name in ("task-clock", "minor-faults", "context-switches", "run-delay"):
        expect(not counters[name]["counts"] and "--no-software" in counters[name]["why"],
               f"{name}: {counters[name]}")
    tsc = counters["msr/tsc/"]
    expect(tsc["counts"] and not tsc["user_read"], f"msr/tsc/ counts, with read(): {tsc}")
    r = regions(doc, "loop")[0]
    expect(r["iterations"] == 6, f"6 iterations: {r['iterations']}")
    for it in r["per_iteration"]:
        expect(it["counters"]["task-clock"] is None and it["counters"]["msr/tsc/"] > 0,
               f"iteration {it['index']}: {it['counters']}")
    # A software-set event in -e would need the software set.
    p = run([ITERPROF, "record", "-o", w.join("u"), "--no-software", "-e", "task-clock", "--",
             ITERBENCH, "-n", "1"], check=2)
    expect("--no-software" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr)
    w.cleanup()


if __name__ == "__main__":
    main([test_events_lists_by_trying, test_default_run_says_once_what_hardware_is_missing,
          test_uncountable_event_has_no_values_and_a_reason, test_sysfs_event_counts_on_cpu_ticks,
          test_bad_event_lists_are_refused, test_no_software_counts_only_the_events])

#!/usr/bin/env python3
"""End-to-end: the shim's clock (preload/clock.c) and clock-only recording.

Where the kernel trusts the TSC the shim stamps iterations with rdtsc and
converts to CLOCK_MONOTONIC; elsewhere, or with ITERPROF_CLOCK=monotonic, it
calls clock_gettime. Either way sleeps must measure as sleeps, and stamps
must agree with CLOCK_MONOTONIC as this test reads it. With --no-counters
outermost iterations are written as ITERATION_BATCH entries, which must be
as crash-safe as records.
"""
import os
import signal
import time

from harness import Workdir, expect, main, program, record, regions, report_json

ITERBENCH = program("iterbench")


def kernel_trusts_tsc():
    """The rule clock.c applies: clocksource tsc, constant and nonstop TSC."""
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            if f.read().strip() != "tsc":
                return False
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "constant_tsc" in flags and "nonstop_tsc" in flags


def loop(doc):
    found = regions(doc, "loop")
    expect(len(found) == 1, f"one region 'loop', got {[r['name'] for r in doc['regions']]}")
    return found[0]


def test_sleeps_measure_as_sleeps_on_either_clock():
    for clock in ("auto", "monotonic"):
        w = Workdir()
        env = {"ITERPROF_CLOCK": clock} if clock != "auto" else {}
        at, ms = 7, 5
        record(w.join("t"), [ITERBENCH, "-n", "30", "-s", str(ms), "-a", str(at)],
               options=["--no-counters"], env=env)
        doc = report_json(w.join("t"), ["--iterations"])
        process = doc["processes"][0]
        want = "tsc" if clock == "auto" and kernel_trusts_tsc() else "clock_gettime"
        expect(process["time_source"] == want,
               f"ITERPROF_CLOCK={clock}: time source {process['time_source']}, want {want}")
        if want == "tsc":
            expect(1e8 < process["tsc_hz"] < 2e10, f"tsc_hz {process['tsc_hz']}")
        r = loop(doc)
        expect(r["iterations"] == 30, f"{clock}: {r['iterations']} iterations")
        ns = [it["ns"] for it in r["per_iteration"]]
        expect(ms * 1_000_000 <= ns[at - 1] <= ms * 1_000_000 + 50_000_000,
               f"{clock}: the {ms} ms sleep took {ns[at - 1]} ns")
        others = ns[:at - 1] + ns[at:]
        expect(max(others) < ms * 1_000_000,
               f"{clock}: iterations without a sleep took up to {max(others)} ns")
        w.cleanup()


def test_stamps_agree_with_clock_monotonic():
    # 40 iterations of 20 ms: long enough for the TSC conversion to be
    # refined several times (every 50 ms at most) while stamps are taken.
    w = Workdir()
    before = time.monotonic_ns()
    record(w.join("t"), [ITERBENCH, "-n", "40", "-s", "20"], options=["--no-counters"])
    after = time.monotonic_ns()
    doc = report_json(w.join("t"), ["--iterations"])
    base = doc["processes"][0]["start_ns"]
    its = loop(doc)["per_iteration"]
    starts = [base + it["start_ns"] for it in its]
    ends = [s + it["ns"] for s, it in zip(starts, its)]
    expect(before <= starts[0] and ends[-1] <= after,
           f"iterations [{starts[0]}, {ends[-1]}] outside the run [{before}, {after}] "
           "of CLOCK_MONOTONIC")
    for i in range(1, len(its)):
        expect(starts[i] >= ends[i - 1],
               f"iteration {i + 1} starts {ends[i - 1] - starts[i]} ns before "
               f"iteration {i} ends")
    for i, it in enumerate(its):
        expect(20_000_000 <= it["ns"] <= 80_000_000,
               f"iteration {i + 1} with a 20 ms sleep took {it['ns']} ns")
    w.cleanup()


def test_sigkill_leaves_every_batched_iteration():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "5000", "-w", "10", "-K", "4000"],
               options=["--no-counters"], check=None)
    expect(p.returncode == 128 + signal.SIGKILL, f"exit status {p.returncode}")
    doc = report_json(w.join("t"))
    got = loop(doc)["iterations"]
    expect(got == 3999, f"{got} iterations, want the 3999 that ended before the kill")
    w.cleanup()


if __name__ == "__main__":
    main([test_sleeps_measure_as_sleeps_on_either_clock, test_stamps_agree_with_clock_monotonic,
          test_sigkill_leaves_every_batched_iteration])

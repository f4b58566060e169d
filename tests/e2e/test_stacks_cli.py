#!/usr/bin/env python3
"""Call stacks (doc/stacks.md): bad input to the stack options, and a
recording whose threads could not capture stacks.

Bad input: `record --stacks=bogus`, `--stack-cpu-us` and `--stack-faults`
values that are not whole numbers in range, a missing value, `--stacks=slow
--no-counters`; `report --flame bogus`, `--flame-kind bogus`, either with no
value, `--flame-kind` without `--flame`. Each must be refused before anything
runs: one stderr line beginning "iterprof: ", exit status 2, nothing on
stdout, and (record) no output directory and no program run.

Capture failure: the shim's test hook ITERPROF_INJECT_PERF_ERRNO=N
(preload/config.c) makes every perf_event_open of the process fail with
errno N, those of the stack sampler included (stacks.c:
sampler_open_events): stacks were asked for and none could be captured, as
under a seccomp filter or perf_event_paranoid. doc/stacks.md promises then:
the text report prints "call stacks: not captured (<why>)" under the
process, every region's JSON `stacks.error` carries the reason, and
`report --flame` exits 2 with one line saying why. A control recording
without the hook must have error null and a --flame that exits 0 (else the
assertions above could not fail for the right reason). Two errnos: ENOSYS
(no perf_event_open at all) and EPERM (the shim retries without kernel
samples, which fails too).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program, run  # noqa: E402

W = Workdir()
N = 60
# What perf_event_open failed with, and strerror's words for it.
INJECTED = {"38": "Function not implemented", "1": "Operation not permitted"}


def one_error_line(p, what):
    lines = p.stderr.strip().splitlines()
    expect(p.returncode == 2 and not p.stdout and len(lines) == 1
           and lines[0].startswith("iterprof: "),
           f"{what}: exit {p.returncode}, stdout {p.stdout[:200]!r}, stderr {p.stderr!r} "
           f"(want exit 2, no output, one line 'iterprof: ...')")
    return lines[0]


def test_bad_record_options():
    marker = W.join("ran")
    # the command would create MARKER if it ran
    cmd = ["sh", "-c", f"touch {marker}"]
    cases = [
        (["--stacks=bogus"], "--stacks=bogus"),
        (["--stacks="], "--stacks="),
        (["--stacks=SLOW"], "--stacks=SLOW"),
        (["--stack-cpu-us", "-1"], "-1"),
        (["--stack-cpu-us", "0"], "0"),
        (["--stack-cpu-us", "x"], "x"),
        (["--stack-cpu-us", "100x"], "100x"),
        (["--stack-cpu-us", ""], "stack-cpu-us"),
        (["--stack-cpu-us", "1000001"], "1000001"),
        # below ITP_STACK_CPU_US_MIN: a period shorter than a sample's cost
        (["--stack-cpu-us", "10"], "from 50"),
        (["--stack-cpu-us", "49"], "from 50"),
        (["--stack-faults", "-1"], "-1"),
        (["--stack-faults", "0"], "0"),
        (["--stack-faults", "x"], "x"),
        (["--stack-faults", "2.5"], "2.5"),
        (["--stack-faults", "99999999999999999999"], "99999999999999999999"),
        (["--stacks=slow", "--no-counters"], "--no-counters"),
        (["--stacks=all", "--no-counters"], "--no-counters"),
    ]
    for options, word in cases:
        out = W.join("bad.data")
        p = run([ITERPROF, "record", "-o", out, *options, "--", *cmd], timeout=30)
        line = one_error_line(p, f"record {options}")
        expect(word in line, f"record {options}: the error does not name {word!r}: {line!r}")
        expect(not os.path.exists(out), f"record {options}: {out} created")
        expect(not os.path.exists(marker), f"record {options}: the command ran")
    # a missing value: the option is the last argument
    for option in ("--stack-cpu-us", "--stack-faults", "--stacks"):
        p = run([ITERPROF, "record", option], timeout=30)
        line = one_error_line(p, f"record {option} (no value)")
        expect(option in line, f"record {option}: the error does not name it: {line!r}")
    # off with --no-counters is fine: nothing to sample with
    out = W.join("off.data")
    run([ITERPROF, "record", "-q", "--no-env", "-o", out, "--stacks=off", "--no-counters",
         "--", *cmd], timeout=60, check=0)
    expect(os.path.exists(marker), "--stacks=off --no-counters: the command did not run")


def test_bad_report_options():
    data = W.join("plain.data")
    run([ITERPROF, "record", "-q", "--no-env", "-o", data, "--stacks=all", "--",
         program("stackpaths"), "-n", "30"], timeout=60, check=0)
    cases = [
        (["--flame", "bogus"], "bogus"),
        (["--flame", "SLOW"], "SLOW"),
        (["--flame", ""], "--flame"),
        (["--flame", "slow", "--flame-kind", "bogus"], "bogus"),
        (["--flame", "slow", "--flame-kind", "faults"], "faults"),
        (["--flame-kind", "cpu"], "--flame"),
    ]
    for options, word in cases:
        p = run([ITERPROF, "report", *options, data], timeout=60)
        line = one_error_line(p, f"report {options}")
        expect(word in line, f"report {options}: the error does not name {word!r}: {line!r}")
    for option in ("--flame", "--flame-kind"):
        p = run([ITERPROF, "report", option], timeout=60)
        line = one_error_line(p, f"report {option} (no value)")
        expect(option in line, f"report {option}: the error does not name it: {line!r}")
    # the control: the same recording and a good set print folded stacks
    p = run([ITERPROF, "report", "--flame", "all", data], timeout=60)
    expect(p.returncode == 0, f"--flame all: exit {p.returncode}: {p.stderr!r}")


def record_stackpaths(name, env=None, mode="all", threads=False):
    data = W.join(name + ".data")
    cmd = [program("rec_threads"), "3", "50"] if threads else [program("stackpaths"), "-n", str(N),
                                                    "--faults-at", "30", "--pages", "500"]
    run([ITERPROF, "record", "-q", "--no-env", "-o", data, f"--stacks={mode}",
         "--stack-cpu-us", "100", "--", *cmd], env=env, timeout=120, check=0)
    return data


def stacks_members(data):
    doc = json.loads(run([ITERPROF, "report", "--format", "json", data], check=0).stdout)
    expect(doc["regions"], f"{data}: no regions")
    return [(r["name"], r["stacks"]) for r in doc["regions"]]


def test_capture_failure_is_the_stacks_error():
    control = record_stackpaths("control")
    members = stacks_members(control)
    if any(s and s.get("error") for _, s in members):
        # stacks unavailable here for another reason (no libunwind): the
        # control cannot show the difference the injection makes
        print(f"skip: control recording without stacks: {members[0][1]['error']}")
        return
    expect(all(s and s["error"] is None and s["iterations_with_samples"] > 0
               for _, s in members), f"control: {members}")
    text = run([ITERPROF, "report", control], check=0).stdout
    expect("not captured" not in text and "no call stacks" not in text,
           f"control: the report says stacks are missing:\n{text}")
    p = run([ITERPROF, "report", "--flame", "all", control], check=None)
    expect(p.returncode == 0 and p.stdout, f"control --flame all: exit {p.returncode}, "
           f"{len(p.stdout)} bytes, stderr {p.stderr!r}")

    for errno_value, words in INJECTED.items():
        for mode, threads in (("all", False), ("slow", False), ("slow", True)):
            what = f"inject {errno_value} --stacks={mode}{' threads' if threads else ''}"
            data = record_stackpaths(f"inject-{errno_value}-{mode}-{threads}", mode=mode,
                                     threads=threads,
                                     env={"ITERPROF_INJECT_PERF_ERRNO": errno_value})
            members = stacks_members(data)
            for name, s in members:
                expect(s is not None and s["mode"] == mode,
                       f"{what}: region {name}: stacks {s!r} (want mode {mode})")
                expect(isinstance(s["error"], str) and words in s["error"],
                       f"{what}: region {name}: stacks.error {s['error']!r}, want the "
                       f"reason {words!r}")
                expect(s["iterations_with_samples"] == 0 and not any(s["samples"].values())
                       and not s["causes"], f"{what}: region {name}: stacks anyway: {s}")
            text = run([ITERPROF, "report", data], check=0).stdout
            expect(f"call stacks: not captured (perf events: {words})" in text,
                   f"{what}: no 'call stacks: not captured (perf events: {words})' line:\n"
                   f"{text}")
            expect("not captured in" not in text,
                   f"{what}: every thread failed, yet the report counts a part:\n{text}")
            for kind in ("slow", "steady", "all"):
                p = run([ITERPROF, "report", "--flame", kind, data], check=None)
                line = one_error_line(p, f"{what}: --flame {kind}")
                expect("not captured" in line and words in line,
                       f"{what}: --flame {kind}: the error does not say why: {line!r}")


if __name__ == "__main__":
    main([test_bad_record_options, test_bad_report_options,
          test_capture_failure_is_the_stacks_error], workdir=W)

#!/usr/bin/env python3
"""Code announced only through a perf map or a jitdump file is charged to
`jit` in the iterations that wrote it, and in no other.

tests/programs/jitfiles runs N iterations of WORK_US µs of on-CPU work; in
the iterations AT it also "compiles": 3 x WORK_US µs more, in K slices each
followed by one entry appended to /tmp/perf-<pid>.map (--format map) or one
JIT_CODE_LOAD record to /tmp/jit-<pid>.dump (--format dump); the iterations
DECOYS do the same extra work and write nothing. It never makes
memory executable, so the shim's code-events counter stays 0: only the
files, which the launcher's environment sampler reads every 10 ms
(analyzer/env-sampler.c), can tell. The analyzer joins the new entries to
iterations by sampling window, prorated by the iteration's share of the
window, and an iteration with at least half an entry expected counts as
generating code (analyzer/envjoin.c, est_jit in analyzer/attrib.c;
doc/causes.md).

Checks, for each format:
 - the sampler counted all the entries (env-dump), the shim's code-events
   are 0 in every iteration;
 - the compiling iterations have `jit` as primary cause (harness.jit_is_primary);
 - no other iteration after the first has a `jit` share, except the
   neighbours of a compiling iteration, which may have a small one (below);
   in particular not the decoys, as slow as the compilations but far from
   them: `jit` is named for the files' entries, not for on-CPU excess that
   nothing else explains (only slow iterations have shares, so without the
   decoys this check could hardly fail);
 - with --no-env (no timeline: the files are not read) the compiling
   iterations and the decoys are still slow, and no iteration has a `jit`
   share.

A recording is made again (up to ATTEMPTS) only when the machine visibly
spoiled it: the compiling iterations or the decoys were not twice as slow
as the median (they do 4 times the work). A wrong cause is never retried away.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD_DIR, Workdir, expect, jit_is_primary, main,  # noqa: E402
                     program, record, regions, report_json, run)

W = Workdir()
ENV_DUMP = os.path.join(BUILD_DIR, "tests", "tools", "env-dump")
TIMELINE = "iterprof-env.timeline"
CPU = str(max(os.sched_getaffinity(0)))  # the benchmark's; the launcher may use the other

N = 40
WORK_US = 20000
AT = (12, 25)
K = 5                 # entries per compiling iteration
WARMUP = 1            # the first iteration may be charged anything
ADJACENT = {i + d for i in AT for d in (-1, 1)}
# Slow without code, at least 6 iterations (120 ms, 12 sampling intervals)
# from a compilation: no window can hold both.
DECOYS = (6, 18, 32)
# The neighbours of a compiling iteration may share its sampling window: the
# window of an iteration runs from the last sample at or before its start to
# the first at or after its end, so with a 10 ms interval it reaches up to
# 10 ms into the iteration after, and the last entry, written 10 ms before
# the compiling iteration ends, may be first seen in the next one's window.
# A neighbour can then be called code-generating, and `jit` can take its
# on-CPU excess; but a neighbour does only WORK_US of CPU work (spun on the
# thread's CPU clock), so that excess is noise (interrupts, marker costs),
# far below a compilation's 3 x WORK_US. A quarter of WORK_US is allowed: 12
# times less than a misplaced compilation would show, well above the noise.
ADJACENT_JIT_NS = WORK_US * 1000 / 4
ATTEMPTS = 3
TIMEOUT = 60          # a recording takes ~1.1 s alone


class Run:
    """One recording of jitfiles in FORMAT: its report's region "step" with
    the iterations, and the pid (the name of its files in /tmp)."""

    serial = 0

    def __init__(self, fmt, options=()):
        Run.serial += 1
        self.name = f"{fmt}-{Run.serial}"
        self.fmt = fmt
        self.data = W.join(self.name + ".data")
        cmd = ["taskset", "-c", CPU, program("jitfiles"), "--format", fmt, "-n", str(N),
               "-w", str(WORK_US), "--at", ",".join(map(str, AT)),
               "--slow", ",".join(map(str, DECOYS)), "-k", str(K)]
        try:
            p = record(self.data, cmd, options=("-q", *options), timeout=TIMEOUT, check=None)
        finally:
            remove_files(self.data)
        expect(p.returncode == 0, f"{self.name}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        words = p.stdout.split()
        expect(f"{len(AT) * K} entries" in p.stdout, f"{self.name}: {p.stdout}")
        self.pid = int(words[words.index("pid") + 1])
        doc = report_json(self.data, ("--iterations",))
        steps = regions(doc, "step")
        expect(len(steps) == 1, f"{self.name}: {len(steps)} regions 'step'")
        self.region = steps[0]
        self.its = self.region["per_iteration"]
        expect(len(self.its) == N, f"{self.name}: {len(self.its)} iterations, not {N}")
        ref = self.region.get("reference") or {}
        self.ref_ns = ref.get("median_ns") or statistics.median(it["ns"] for it in self.its)

    def it(self, i):
        return self.its[i - 1]

    def describe(self, i):
        it = self.it(i)
        shares = {k: round(v, 3) for k, v in it["shares"].items()}
        counters = {k: v for k, v in it["counters"].items() if v}
        return (f"iteration {i}: {it['ns'] / 1e6:.1f} ms, slow {it['slow']}, cause "
                f"{it['cause']}, shares {shares}, counters {counters}")

    def jit_ns(self, i):
        """The time charged to jit: its share of the excess over the
        reference median."""
        it = self.it(i)
        return it["shares"].get("jit", 0) * max(0, it["ns"] - self.ref_ns)

    def disturbed(self):
        """Why the machine visibly spoiled the recording, or None: each
        compiling iteration and decoy does 4 times the work of the others."""
        median = statistics.median(it["ns"] for it in self.its)
        short = [self.describe(i) for i in (*AT, *DECOYS) if self.it(i)["ns"] < 2 * median]
        return (f"slow iterations not twice the median {median / 1e6:.1f} ms: "
                + "; ".join(short)) if short else None


def remove_files(data):
    """The program removes its file at exit; a killed one leaves it. Its pid
    is in the trace's name (iterprof-<pid>.trace)."""
    names = os.listdir(data) if os.path.isdir(data) else []
    for name in names:
        if name.startswith("iterprof-") and name.endswith(".trace"):
            pid = name[len("iterprof-"):-len(".trace")].split(".")[0]
            for path in (f"/tmp/perf-{pid}.map", f"/tmp/jit-{pid}.dump"):
                if pid.isdigit() and os.path.exists(path):
                    os.unlink(path)


def recording(fmt, options=()):
    """A recording the machine did not visibly spoil, in up to ATTEMPTS."""
    spoiled = []
    for _ in range(ATTEMPTS):
        r = Run(fmt, options)
        why = r.disturbed()
        if why is None:
            if spoiled:
                print(f"  {fmt}: recorded again after: " + "; ".join(spoiled))
            return r
        spoiled.append(f"{r.name}: {why}")
    raise AssertionError("the machine disturbed every recording: " + "\n".join(spoiled))


def entries_seen(r):
    """The entries the sampler counted in the program's file (env-dump)."""
    doc = json.loads(run([ENV_DUMP, r.data], check=0).stdout)
    code = [c for c in doc["code"] if c["pid"] == r.pid]
    expect(len(code) == 1, f"{r.name}: no CODE series for pid {r.pid}")
    key = "dump_entries" if r.fmt == "dump" else "map_entries"
    values = [v for v in code[0][key]["v"] if v is not None]
    return values[-1] if values else None


def check_charged(fmt):
    r = recording(fmt)
    print("  " + "\n  ".join(r.describe(i) for i in sorted({*AT, *ADJACENT, *DECOYS})))
    seen = entries_seen(r)
    expect(seen == len(AT) * K, f"{r.name}: the sampler counted {seen} entries, not "
           f"{len(AT) * K}: nothing to join")
    events = [(i, r.it(i)["counters"].get("code-events")) for i in range(1, N + 1)]
    expect(all(e is not None for _, e in events),
           f"{r.name}: no code-events counter: {r.it(1)['counters']}")
    expect(all(e == 0 for _, e in events),
           f"{r.name}: the shim saw code made executable: {[x for x in events if x[1]]}")
    bad = [r.describe(i) for i in AT if not jit_is_primary(r, i)]
    expect(not bad, f"{r.name}: jit is not the primary cause: " + "; ".join(bad))
    unseen = [r.describe(i) for i in DECOYS if not r.it(i)["slow"]]
    expect(not unseen, f"{r.name}: decoys not reported slow: " + "; ".join(unseen))
    stray = [r.describe(i) for i in range(WARMUP + 1, N + 1)
             if i not in AT and i not in ADJACENT and r.it(i)["shares"].get("jit")]
    expect(not stray, f"{r.name}: jit charged far from the compilations: " + "; ".join(stray))
    near = [f"{r.describe(i)} ({r.jit_ns(i) / 1e6:.2f} ms jit)" for i in sorted(ADJACENT)
            if r.jit_ns(i) > ADJACENT_JIT_NS]
    expect(not near, f"{r.name}: more than {ADJACENT_JIT_NS / 1e6:.0f} ms of jit next to a "
           "compilation: " + "; ".join(near))


def check_no_env(fmt):
    r = recording(fmt, ("--no-env",))
    expect(TIMELINE not in os.listdir(r.data), f"{r.name}: a timeline with --no-env")
    slow = [r.describe(i) for i in (*AT, *DECOYS) if not r.it(i)["slow"]]
    expect(not slow, f"{r.name}: not reported slow: " + "; ".join(slow))
    charged = [r.describe(i) for i in range(1, N + 1) if r.it(i)["shares"].get("jit")]
    expect(not charged, f"{r.name}: jit charged without a timeline: " + "; ".join(charged))


def test_perf_map_charged():
    check_charged("map")


def test_jitdump_charged():
    check_charged("dump")


def test_perf_map_no_env():
    check_no_env("map")


def test_jitdump_no_env():
    check_no_env("dump")


if __name__ == "__main__":
    main([test_perf_map_charged, test_jitdump_charged, test_perf_map_no_env,
          test_jitdump_no_env], workdir=W)

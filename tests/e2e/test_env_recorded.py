#!/usr/bin/env python3
"""Steal and thermal throttling joined to iterations on RECORDED timelines.

Steal and thermal throttling cannot be caused on purpose on a test machine.
So a real benchmark is recorded (tests/programs/inject under `iterprof
record`, pinned to one CPU, with F times its work at a few spaced
"candidate" iterations: slower iterations whose excess is on-CPU time no
counter here names, `unexplained` without a PMU), and then its timeline file
is rewritten by tests/tools/env-inject as if the machine had had:

 - one tick (10 ms) of steal on the benchmark's CPU at the middle of some
   candidates,
 - one thermal throttle event on that CPU at the middle of others,
 - both on the OTHER CPU at the middle of a candidate left alone (the join
   must use the iteration's CPU),

and `iterprof report --format json --iterations` is run on the recording
before and after. The join works per sampling window (doc/causes.md): an
iteration "sees" an injection when its window (from the last sample at or
before its start to the first at or after its end, on the sample clock)
overlaps the two samples of the injected CPU around the injection. The
checks:

 - a candidate given steal: its primary cause becomes `steal`, which takes
   its on-CPU rest (at least half its excess; no more than what was
   `unexplained`/`first-call` before), `frequency` does not move;
 - a candidate given a throttle event: the same with `frequency`, and
   `steal` does not move;
 - every iteration whose window saw no injection on its own CPU (the other
   candidates, slow with an unexplained on-CPU excess, among them) keeps
   exactly the cause and shares it had before;
 - an iteration that saw one only gains the injected cause's share, at the
   expense of `unexplained`/`first-call`.

Which candidates are used is decided from the first report: those whose
excess was mostly on-CPU and unexplained (the shared 2-vCPU machine
preempts some of them; those keep an off-CPU cause and are left out). The
scenario is run again (up to ATTEMPTS times) when too few candidates
qualify.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD_DIR, ITERPROF, Workdir, expect, main, program, run  # noqa: E402

W = Workdir()
ENV_DUMP = os.path.join(BUILD_DIR, "tests", "tools", "env-dump")
ENV_INJECT = os.path.join(BUILD_DIR, "tests", "tools", "env-inject")
ATTEMPTS = 3
N = 2700
CANDIDATES = list(range(300, N - 299, 300))   # 300, 600, ..., 2400
WORK_FACTOR = 20                               # ~1.5 ms instead of ~75 µs
STEAL_NS = 10_000_000                          # one USER_HZ tick of steal
RESTS = ("unexplained", "first-call")          # where an unnamed on-CPU excess goes
EPS = 1e-6

_serial = [0]


class NotEnough(Exception):
    """Too few candidates qualified in this recording: record again."""


def report(data):
    p = run([ITERPROF, "report", "--format", "json", "--iterations", data], check=0)
    doc = json.loads(p.stdout)
    steps = [r for r in doc["regions"] if r["name"] == "step"]
    expect(len(steps) == 1, f"{data}: one region 'step': {len(steps)}")
    procs = [q for q in doc["processes"]
             if (q["pid"], q["exec_generation"]) == (steps[0]["pid"],
                                                     steps[0]["exec_generation"])]
    expect(len(procs) == 1, f"{data}: the process of region 'step'")
    its = steps[0]["per_iteration"]
    expect(len(its) == N, f"{data}: {len(its)} iterations, not {N}")
    return procs[0], its


def rest_share(it):
    return sum(it["shares"].get(c, 0) for c in RESTS)


def fmt(it):
    shares = {k: round(v, 3) for k, v in sorted(it["shares"].items(), key=lambda kv: -kv[1])}
    return (f"iteration {it['index']}: {it['ns']} ns, slow {it['slow']}, cause {it['cause']}, "
            f"shares {shares}, cpu {it['counters'].get('cpu')}")


def last_at_or_before(ts, t):
    lo, hi = 0, len(ts) - 1
    if ts[0] > t:
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ts[mid] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


def window(clock, start, end):
    """The join's sampling window of an iteration (envjoin.c)."""
    first = last_at_or_before(clock, start)
    last = first
    while last + 1 < len(clock) and clock[last] < end:
        last += 1
    if last == first and last + 1 < len(clock):
        last += 1
    return clock[first], clock[last]


def bracket(ts, t):
    """(p, q): the samples of a CPU around time T, p < T <= q; the
    injection raises the CPU's series between them."""
    q = next(k for k, v in enumerate(ts) if v >= t)
    return ts[q - 1], ts[q]


def overlaps(win, br):
    return win[0] < br[1] and win[1] > br[0]


def scenario():
    _serial[0] += 1
    name = f"rec-{_serial[0]}"
    data, log = W.join(name + ".data"), W.join(name + ".log")
    at = ",".join(str(i) for i in CANDIDATES)
    p = run([ITERPROF, "record", "-q", "-o", data, "--", program("inject"), "-n", str(N),
             "--at", at, "--work-factor", str(WORK_FACTOR), "--log", log], timeout=300)
    expect(p.returncode == 0, f"{name}: record exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    proc, before = report(data)
    base = proc["start_ns"]
    start = {it["index"]: base + it["start_ns"] for it in before}
    end = {it["index"]: start[it["index"]] + it["ns"] for it in before}
    cpu_of = {it["index"]: it["counters"].get("cpu") for it in before}
    dump = json.loads(run([ENV_DUMP, data], check=0).stdout)
    ncpus = dump["ncpus"]
    times = [c["steal_ns"]["t"] for c in dump["cpus"]]
    clock = times[0]   # the join's sample clock: CPU 0's records
    expect(len(clock) > 10, f"{name}: {len(clock)} samples in the timeline")
    expect(all(v is not None for v in dump["cpus"][0]["steal_ns"]["v"]),
           f"{name}: steal not read from /proc/stat")
    win = {i: window(clock, start[i], end[i]) for i in start}

    # candidates whose excess is mostly an unexplained on-CPU one
    def qualifies(i):
        it = before[i - 1]
        return (it["cause"] in RESTS and rest_share(it) >= 0.6 and cpu_of[i] is not None
                and 0 <= cpu_of[i] < ncpus)
    eligible = [i for i in CANDIDATES if qualifies(i)]
    seen_before = [(i, before[i - 1]["cause"], round(rest_share(before[i - 1]), 2))
                   for i in CANDIDATES]
    print(f"  {name}: candidates (cause, unexplained share) {seen_before}")

    # (kind, cpu, time, amount, iteration) for each injection; an
    # iteration picked must see its own injection only
    injections, picked = [], {}

    def sees(i, inj):
        kind, cpu, t, amount, _ = inj
        return cpu == cpu_of[i] and overlaps(win[i], bracket(times[cpu], t))

    # the last one is kept as a control: slow, unexplained, and seeing no
    # injection, it must keep its causes
    for i in eligible[:-1]:
        kind = "steal" if sum(k == "steal" for k in picked.values()) <= \
            sum(k == "frequency" for k in picked.values()) else "frequency"
        if sum(1 for k in picked.values() if k == kind) >= 2:
            continue
        mid = (start[i] + end[i]) // 2
        inj = (kind, cpu_of[i], mid, STEAL_NS if kind == "steal" else 1, i)
        if any(sees(i, other) for other in injections) or any(sees(j, inj) for j in picked):
            continue
        injections.append(inj)
        picked[i] = kind
    controls = [i for i in eligible if i not in picked
                and not any(sees(i, inj) for inj in injections)]
    kinds = set(picked.values())
    if kinds != {"steal", "frequency"} or not controls:
        raise NotEnough(f"{name}: picked {picked}, controls {controls} of eligible {eligible}")
    # the other CPU: both kinds at a control's time, which must not see them
    other = None
    if ncpus > 1:
        c = controls[0]
        other = (cpu_of[c] + 1) % ncpus
        mid = (start[c] + end[c]) // 2
        injections.append(("steal", other, mid, STEAL_NS, None))
        injections.append(("frequency", other, mid, 1, None))

    injected = W.join(name + "-injected.data")
    shutil.copytree(data, injected)
    args = [ENV_INJECT, os.path.join(injected, "iterprof-env.timeline")]
    for kind, cpu, t, amount, _ in injections:
        args += ["--steal" if kind == "steal" else "--throttle", f"{cpu}:{t}:{amount}"]
    p = run(args, check=0)
    expect(p.stdout.startswith("env-inject: ") and int(p.stdout.split()[1]) > 0,
           f"{name}: env-inject changed nothing: {p.stdout}")
    print(f"  {name}: picked {picked}, controls {controls}, other CPU {other}; {p.stdout.strip()}")

    # the rewritten timeline reads back with the injected amounts
    dump2 = json.loads(run([ENV_DUMP, injected], check=0).stdout)
    src = [s for s in dump2["sources"] if s["name"] == "thermal_throttle"]
    expect(src and src[0]["available"], f"{name}: thermal_throttle not marked available: {src}")

    _, after = report(injected)
    problems = []
    for i in range(1, N + 1):
        b, a = before[i - 1], after[i - 1]
        seen = {inj[0] for inj in injections if sees(i, inj)}
        if i in picked:
            kind = picked[i]
            still = "frequency" if kind == "steal" else "steal"
            gained = a["shares"].get(kind, 0) - b["shares"].get(kind, 0)
            if a["cause"] != kind or gained < 0.5 or gained > rest_share(b) + EPS:
                problems.append(f"{kind} injected, gained {gained:.3f} of the excess "
                                f"(unexplained before {rest_share(b):.3f}):\n    before "
                                f"{fmt(b)}\n    after  {fmt(a)}")
            if abs(a["shares"].get(still, 0) - b["shares"].get(still, 0)) > EPS:
                problems.append(f"{kind} injected, but {still} moved:\n    before {fmt(b)}\n"
                                f"    after  {fmt(a)}")
        elif not seen:
            same = (a["cause"] == b["cause"] and set(a["shares"]) == set(b["shares"])
                    and all(abs(a["shares"][k] - v) <= EPS for k, v in b["shares"].items()))
            if not same:
                what = "control candidate" if i in controls else "iteration"
                problems.append(f"{what} that saw no injection changed:\n    before {fmt(b)}"
                                f"\n    after  {fmt(a)}")
        else:
            # in an injected window: window resolution may charge it, but
            # only the injected causes, from what was unexplained
            for k in set(a["shares"]) | set(b["shares"]):
                d = a["shares"].get(k, 0) - b["shares"].get(k, 0)
                if k in seen:
                    ok = d >= -EPS
                elif k in RESTS:
                    ok = d <= EPS
                else:
                    ok = abs(d) <= EPS
                if not ok:
                    problems.append(f"in a window with {sorted(seen)}, {k} moved by {d:.3f}:"
                                    f"\n    before {fmt(b)}\n    after  {fmt(a)}")
                    break
    expect(not problems, f"{name}: " + "\n  ".join(problems))


def test_steal_and_thermal_on_recorded_timelines():
    for k in range(ATTEMPTS):
        try:
            scenario()
            return
        except NotEnough as e:
            if k + 1 == ATTEMPTS:
                raise AssertionError(f"too few usable candidates in {ATTEMPTS} recordings "
                                     f"(the machine preempted them): {e}")
            print(f"  recording again: {e}")


def test_env_inject_refuses():
    # a time outside the timeline, a CPU it does not have, not a timeline
    data = W.join("refuse.data")
    run([ITERPROF, "record", "-q", "-o", data, "--", program("inject"), "-n", "50"],
        check=0, timeout=120)
    path = os.path.join(data, "iterprof-env.timeline")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        original = f.read()
    for args, what in ((["--steal", "0:1:5"], "before the timeline"),
                       (["--throttle", "4096:1:1"], "a CPU it does not have"),
                       (["--steal", "zero"], "bad usage")):
        p = subprocess.run([ENV_INJECT, path, *args], capture_output=True, text=True)
        expect(p.returncode == 2 and p.stderr.startswith(("env-inject: ", "usage: ")),
               f"{what}: exit {p.returncode}, {p.stderr!r}")
        with open(path, "rb") as f:
            expect(f.read() == original, f"{what}: the file changed")
    expect(os.path.getsize(path) == size, "size changed")
    bogus = W.join("bogus.timeline")
    with open(bogus, "wb") as f:
        f.write(b"\0" * 128)
    p = subprocess.run([ENV_INJECT, bogus, "--steal", "0:1:5"], capture_output=True, text=True)
    expect(p.returncode == 2 and "not an environment timeline" in p.stderr,
           f"not a timeline: exit {p.returncode}, {p.stderr!r}")


if __name__ == "__main__":
    main([test_steal_and_thermal_on_recorded_timelines, test_env_inject_refuses], W)

#!/usr/bin/env python3
"""iterprof record's environment timeline (iterprof-env.timeline).

The launcher samples the machine and the command's threads while the command
runs; tests/tools/env-dump prints the timeline as JSON through the analyzer's
reader. What can be predicted: a thread that spins for 300 ms of CPU shows
~300 ms of on-CPU time under its own name; samples are an interval apart;
every CPU has steal/irq/softirq series; the command's cgroup is found, also
after it is moved; sources this machine lacks are missing with a reason; a
JIT's perf map and jitdump are counted; --no-env writes nothing; a bad
--env-interval is refused; a killed launcher leaves a readable file."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD_DIR, ITERPROF, Workdir, expect, main, program,  # noqa: E402
                     record, run)

W = Workdir()
ENV_DUMP = os.path.join(BUILD_DIR, "tests", "tools", "env-dump")
TIMELINE = "iterprof-env.timeline"


def dump(out):
    p = run([ENV_DUMP, out], check=0)
    return json.loads(p.stdout)


def last(series):
    values = [v for v in series["v"] if v is not None]
    return values[-1] if values else None


def delta(series):
    values = [v for v in series["v"] if v is not None]
    return values[-1] - values[0] if values else None


def source(doc, name):
    found = [s for s in doc["sources"] if s["name"] == name]
    expect(len(found) == 1, f"source {name}: {doc['sources']}")
    return found[0]


def expected_cgroup_dir(pid="self"):
    """The cpu cgroup directory of a process, as the sampler finds it."""
    v2 = None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f.read().splitlines():
            hid, controllers, path = line.split(":", 2)
            if hid == "0" and controllers == "":
                v2 = path
            elif "cpu" in controllers.split(","):
                base = f"/sys/fs/cgroup/{controllers}"
                if not os.path.exists(base):
                    base = "/sys/fs/cgroup/cpu"
                return base + ("" if path == "/" else path)
    if v2 is None:
        return None
    base = ("/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers")
            else "/sys/fs/cgroup/unified")
    return base + ("" if v2 == "/" else v2)


def test_busy_thread_and_samples():
    out = W.join("busy.data")
    record(out, [program("env_threads"), "-b", "300", "-t", "2"],
           options=["--env-interval", "5ms"])
    expect(os.path.isfile(os.path.join(out, TIMELINE)), "no timeline written")
    doc = dump(out)
    expect(doc["interval_ns"] == 5000000, doc["interval_ns"])

    busy = [t for t in doc["tasks"] if t["comm"] == "busy-helper"]
    expect(len(busy) == 1, f"busy-helper: {[t['comm'] for t in doc['tasks']]}")
    on_cpu = delta(busy[0]["cpu_ns"])
    expect(0.7 * 300e6 <= on_cpu <= 1.3 * 300e6, f"busy-helper on CPU {on_cpu / 1e6:.1f} ms")
    names = sorted(t["comm"] for t in doc["tasks"])
    expect("idle-0" in names and "idle-1" in names and "env_threads" in names, names)
    expect(all(t["pid"] == busy[0]["pid"] for t in doc["tasks"]), "one process")

    times = doc["procs_running"]["t"]
    expect(len(times) == doc["samples"] and len(times) >= 20, f"{len(times)} samples")
    spacing = statistics.median(b - a for a, b in zip(times, times[1:]))
    expect(2.5e6 <= spacing <= 7.5e6, f"median spacing {spacing / 1e6:.2f} ms")

    expect(doc["ncpus"] == os.cpu_count(), f"ncpus {doc['ncpus']}")
    for cpu, c in enumerate(doc["cpus"]):
        for name in ("steal_ns", "irq_ns", "softirq_ns", "idle_ns", "softirq_count"):
            s = c[name]
            expect(len(s["t"]) == doc["samples"] and None not in s["v"],
                   f"cpu{cpu} {name}: {len(s['t'])} points of {doc['samples']}")
        expect(len(c["irq_count"]["t"]) >= 2 and None not in c["irq_count"]["v"],
               f"cpu{cpu} irq_count")
        expect(c["irq_count"]["v"][-1] >= c["irq_count"]["v"][0], "irq_count goes down")
    expect(source(doc, "stat")["available"], "/proc/stat not read")

    # The sampler says what it cost (its own CPU time, cumulative).
    s = doc["sampler_cpu_ns"]
    share = (s["v"][-1] - s["v"][0]) / (s["t"][-1] - s["t"][0])
    print(f"  sampler: {doc['samples']} samples, {100 * share:.2f} % of a CPU at 5 ms, "
          f"{os.path.getsize(os.path.join(out, TIMELINE))} bytes")


def test_cgroup_found_and_sources_missing():
    out = W.join("sources.data")
    record(out, [program("env_threads"), "-b", "50"], options=["--env-interval", "5ms"])
    doc = dump(out)
    want = expected_cgroup_dir()
    expect(doc["cg_path"] and os.path.isdir(doc["cg_path"]), f"cg_path {doc['cg_path']!r}")
    if want is not None:
        expect(doc["cg_path"] == want, f"cg_path {doc['cg_path']} != {want}")
    cg = source(doc, "cgroup")
    if cg["available"]:
        expect(len(doc["cg_nr_periods"]["t"]) >= 2, "cpu.stat read")
    else:
        expect(cg["why"], "cgroup missing without a reason")
    for name, path in (("cpufreq", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"),
                       ("thermal_throttle",
                        "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count")):
        src = source(doc, name)
        if os.path.exists(path):
            expect(src["available"], f"{name}: {src}")
        else:
            expect(not src["available"] and path in src["why"]
                   and "No such file" in src["why"], f"{name}: {src}")
            field = "freq_khz" if name == "cpufreq" else "throttle_count"
            expect(all(v is None for c in doc["cpus"] for v in c[field]["v"]),
                   f"{field}: missing values must be null, never 0")


def cgroup_root():
    """Where a test may create a cpu cgroup with a quota, and its version."""
    if os.geteuid() != 0:
        return None, None
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
        return "/sys/fs/cgroup/cpu", 1
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            if "cpu" in f.read().split():
                return "/sys/fs/cgroup", 2
    except OSError:
        pass
    return None, None


def test_cgroup_move_and_throttling():
    root, version = cgroup_root()
    if root is None:
        print("  (skipped: needs root and a cpu cgroup controller)")
        return
    cg = os.path.join(root, f"iterprof-env-test-{os.getpid()}")
    os.mkdir(cg)
    try:
        if version == 1:
            with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
                f.write("20000")
        else:
            with open(os.path.join(cg, "cpu.max"), "w") as f:
                f.write("20000 100000")
        out = W.join("cgroup.data")
        # The helper starts spinning after 300 ms: the command is moved
        # into the throttled cgroup right after it starts.
        proc = subprocess.Popen([ITERPROF, "record", "-q", "-o", out, "--env-interval", "5ms",
                                 "--", program("env_threads"), "-d", "300", "-b", "200"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        child = None
        deadline = time.monotonic() + 10
        while child is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    pids = f.read().split()
                child = int(pids[0]) if pids else None
            except OSError:
                pass
            time.sleep(0.005)
        expect(child is not None, "the command's pid was not found")
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(child))
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        expect(proc.returncode == 0, f"exit {proc.returncode}: {err}")
        doc = dump(out)
        expect(doc["cg_path"] == cg, f"cg_path {doc['cg_path']} != {cg}")
        expect(doc["cg_quota_us"] == 20000 and doc["cg_period_us"] == 100000,
               f"quota {doc['cg_quota_us']}/{doc['cg_period_us']}")
        throttled = delta(doc["cg_nr_throttled"])
        expect(throttled is not None and throttled >= 1, f"nr_throttled {throttled}")
        expect(delta(doc["cg_throttled_ns"]) > 0, "throttled time")
        busy = [t for t in doc["tasks"] if t["comm"] == "busy-helper"]
        expect(busy and delta(busy[0]["run_delay_ns"]) > 100e6,
               "200 ms of CPU at 20 % of a CPU: the throttled helper waits")
    finally:
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)


def test_perf_map_and_jitdump():
    out = W.join("jit.data")
    p = record(out, [program("env_perfmap"), "200"], options=["--env-interval", "5ms"])
    pid = int(p.stdout.split()[1])
    try:
        doc = dump(out)
        code = [c for c in doc["code"] if c["pid"] == pid]
        expect(len(code) == 1, f"no CODE series for {pid}: {[c['pid'] for c in doc['code']]}")
        c = code[0]
        expect(last(c["map_entries"]) == 3 and last(c["map_bytes"]) == 0x600,
               f"perf map: {last(c['map_entries'])} entries, {last(c['map_bytes'])} bytes")
        expect(c["map_entries"]["v"][-1] == 3, "the series ends at 3 entries")
        expect(last(c["dump_entries"]) == 2 and last(c["dump_bytes"]) == 48,
               f"jitdump: {last(c['dump_entries'])} loads, {last(c['dump_bytes'])} bytes")
    finally:
        for f in (f"/tmp/perf-{pid}.map", f"/tmp/jit-{pid}.dump"):
            if os.path.exists(f):
                os.unlink(f)


def test_no_env():
    out = W.join("noenv.data")
    record(out, [program("rec_markers"), "20"], options=["--no-env"])
    expect(os.listdir(out) and TIMELINE not in os.listdir(out), os.listdir(out))
    p = run([ENV_DUMP, out])
    expect(p.returncode == 3 and "--no-env" in p.stderr, p.stderr)


def test_bad_interval():
    for value in ("5x", "50us", "20s", "", "-5ms", "0", "ms"):
        out = W.join("bad.data")
        p = run([ITERPROF, "record", "-o", out, "--env-interval", value, "--",
                 program("rec_exit"), "0"], check=2)
        lines = [line for line in p.stderr.splitlines() if line]
        expect(len(lines) == 1 and lines[0].startswith("iterprof: --env-interval"),
               f"{value!r}: {p.stderr!r}")
        expect(not os.path.exists(out), f"{value!r}: output created")
    p = run([ITERPROF, "record", "--help"], check=0)
    expect("--env-interval" in p.stdout and "--no-env" in p.stdout, "help")
    for value in ("100us", "10s", "7"):
        out = W.join(f"good-{value}.data")
        record(out, [program("rec_exit"), "0"], options=["--env-interval", value])


def test_force_and_report_with_timeline():
    out = W.join("force.data")
    record(out, [program("rec_markers"), "20"])
    old = set(os.listdir(out))
    expect(TIMELINE in old, old)
    p = run([ITERPROF, "report", out], check=0)
    expect("iterprof-env" not in p.stdout + p.stderr, "report mentions the timeline")
    record(out, [program("rec_markers"), "20"], options=["--force"])
    new = set(os.listdir(out))
    expect(TIMELINE in new and not (old - {TIMELINE}) & new, f"{old} -> {new}")
    # A timeline that is a symlink is not ours to delete.
    linked = W.join("linked.data")
    os.mkdir(linked)
    precious = W.join("precious-timeline")
    with open(precious, "w") as f:
        f.write("x")
    os.symlink(precious, os.path.join(linked, TIMELINE))
    p = record(linked, [program("rec_exit"), "0"], options=["--force"], check=2)
    expect(TIMELINE in p.stderr and os.path.exists(precious), p.stderr)


def test_killed_launcher_leaves_a_readable_file():
    out = W.join("killed.data")
    proc = subprocess.Popen([ITERPROF, "record", "-q", "-o", out, "--env-interval", "5ms", "--",
                             program("env_threads"), "-b", "5000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        time.sleep(0.6)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the orphaned command
    doc = dump(out)
    expect(doc["samples"] >= 5, f"{doc['samples']} samples before the kill")


if __name__ == "__main__":
    main([test_busy_thread_and_samples, test_cgroup_found_and_sources_missing,
          test_cgroup_move_and_throttling, test_perf_map_and_jitdump, test_no_env,
          test_bad_interval, test_force_and_report_with_timeline,
          test_killed_launcher_leaves_a_readable_file], workdir=W)

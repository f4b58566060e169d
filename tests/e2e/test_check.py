#!/usr/bin/env python3
"""End-to-end: `iterprof check`, the machine inspection (doc/check.md).

What it finds depends on the machine, so each test reads the machine's
state itself (the same /proc and /sys files) and checks that the finding
agrees: the PMU, perf_event_paranoid, the hypervisor flag. The cgroup CPU
quota is checked for real in a cgroup this test creates (as root), with a
quota of half a CPU, and removes again.
"""
import errno
import json
import os
import pty
import subprocess
import time

from harness import ITERPROF, expect, main, run

SEVERITIES = ("ok", "info", "warning", "severe")
# Measured over the 0.2 s window or moving averages: may change between
# two runs, so their severities are not compared across runs.
MEASURED = {"steal", "other-load", "load-average", "cpu-pressure"}


def has_cpu_pmu():
    return any(os.path.exists(f"/sys/bus/event_source/devices/{n}")
               for n in ("cpu", "cpu_core", "armv8_pmuv3", "armv8_pmuv3_0"))


def check_json(*options, check=None, **kw):
    p = run([ITERPROF, "check", "--format", "json", *options], check=check, **kw)
    expect(p.returncode in (0, 3), f"exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout), p


def finding(doc, fid):
    found = [f for f in doc["findings"] if f["id"] == fid]
    expect(len(found) == 1, f"one finding {fid}: {[f['id'] for f in doc['findings']]}")
    return found[0]


def text_findings(out):
    """(severity, id) of each block of the text output, in order."""
    blocks = []
    for line in out.splitlines():
        words = line.split()
        if words and not line.startswith(" ") and words[0] in SEVERITIES and len(words) > 2:
            blocks.append((words[0], words[1]))
    return blocks


def test_json_document():
    doc, p = check_json()
    expect(doc["schema"] == "iterprof.check/1", doc["schema"])
    expect(doc["kernel"].split()[:2] == ["Linux", os.uname().release], doc["kernel"])
    expect(doc["host"] == os.uname().nodename, doc["host"])
    expect(doc["online_cpus"] == os.cpu_count(), f"{doc['online_cpus']} vs {os.cpu_count()}")
    expect(150 <= doc["window_ms"] <= 5000, f"window {doc['window_ms']} ms")
    ids = [f["id"] for f in doc["findings"]]
    expect(len(ids) == len(set(ids)), f"ids unique: {ids}")
    for want in ("cpus", "pmu", "perf-event-paranoid", "tracefs", "hypervisor", "steal",
                 "cgroup-cpu-quota", "isolated-cpus", "smt", "cpufreq-governor", "turbo",
                 "aslr", "thp", "swap", "other-load", "load-average", "cpu-pressure"):
        expect(want in ids, f"finding {want} in {ids}")
    counts = {s: 0 for s in SEVERITIES}
    for f in doc["findings"]:
        expect(f["severity"] in SEVERITIES, f)
        expect(f["found"], f"found says something: {f}")
        counts[f["severity"]] += 1
        if f["unknown"]:
            # unknown is never dressed up as a value or as ok
            expect(f["severity"] == "info" and "value" not in f and
                   f["found"].startswith("unknown: "), f"unknown finding: {f}")
        if f["severity"] in ("warning", "severe"):
            expect(f["consequence"] and f["action"], f"says why and what to do: {f}")
    summary = doc["summary"]
    expect(all(summary[s] == counts[s] for s in SEVERITIES), f"{summary} vs {counts}")
    expect(summary["unknown"] == sum(f["unknown"] for f in doc["findings"]), summary)
    expect(p.returncode == (3 if counts["severe"] else 0),
           f"exit {p.returncode} with {counts['severe']} severe")
    cpus = finding(doc, "cpus")
    expect(cpus["value"] == os.cpu_count(), cpus)


def test_pmu_and_paranoid_match_the_machine():
    doc, p = check_json()
    pmu = finding(doc, "pmu")
    if has_cpu_pmu():
        print(f"note: this machine has a CPU PMU: {pmu['severity']}: {pmu['found']}")
    else:
        expect(pmu["severity"] == "severe" and "no hardware PMU" in pmu["found"],
               f"no PMU is severe: {pmu}")
        expect(p.returncode == 3, f"no PMU: exit 3, got {p.returncode}")
    with open("/proc/sys/kernel/perf_event_paranoid") as f:
        level = int(f.read())
    paranoid = finding(doc, "perf-event-paranoid")
    expect(paranoid["value"] == level and f"is {level}" in paranoid["found"],
           f"perf_event_paranoid {level}: {paranoid}")


def test_hypervisor_is_named():
    doc, _ = check_json()
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    hv = finding(doc, "hypervisor")
    if "hypervisor" in flags:
        expect(hv["severity"] == "warning" and isinstance(hv.get("value"), str) and hv["value"]
               and hv["found"].startswith("running under " + hv["value"]),
               f"the cpuinfo flag says a hypervisor: {hv}")
        steal = finding(doc, "steal")
        expect(steal["unknown"] or isinstance(steal["value"], (int, float)), steal)
    else:
        print(f"note: no 'hypervisor' cpu flag: {hv['severity']}: {hv['found']}")


def test_text_agrees_with_json():
    text = run([ITERPROF, "check"], env={"NO_COLOR": "1"})
    doc, p = check_json()
    blocks = text_findings(text.stdout)
    expect([b[1] for b in blocks] == [f["id"] for f in doc["findings"]],
           f"same findings in the same order: {blocks}")
    flat = " ".join(text.stdout.split())
    for (severity, fid), f in zip(blocks, doc["findings"]):
        if fid in MEASURED or fid == "cgroup-cpu-quota":  # throttling can move on
            continue
        expect(severity == f["severity"], f"{fid}: text {severity}, json {f['severity']}")
        for key in ("found", "consequence", "action"):
            expect(not f[key] or " ".join(f[key].split()) in flat,
                   f"{fid}: the text shows the {key}: {f[key]!r}")
    expect(text.returncode == (3 if any(s == "severe" for s, _ in blocks) else 0),
           f"text: exit {text.returncode}")
    for line in text.stdout.splitlines():
        expect(len(line) <= 100, f"{len(line)} columns: {line!r}")
        expect("\033" not in line, f"no colour without a terminal: {line!r}")
    # the closing summary counts the blocks above it
    last = " ".join(text.stdout.rstrip().split("\n\n")[-1].split())
    n_severe = sum(1 for s, _ in blocks if s == "severe")
    n_warn = sum(1 for s, _ in blocks if s == "warning")
    expect(last.startswith(f"{n_severe} severe") and f", {n_warn} warning" in last,
           f"summary {last!r} for {n_severe} severe, {n_warn} warnings")


def test_colour_only_on_a_terminal():
    def on_tty(env):
        master, slave = pty.openpty()
        full = dict(os.environ)
        full.pop("NO_COLOR", None)
        full.update(env)
        proc = subprocess.Popen([ITERPROF, "check"], stdout=slave, stderr=subprocess.PIPE,
                                env=full)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as e:  # EIO: the child closed the terminal
                if e.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        proc.wait(timeout=60)
        return out.decode()
    expect("\033[" in on_tty({}), "colour on a terminal")
    expect("\033[" not in on_tty({"NO_COLOR": "1"}), "no colour with NO_COLOR")


def test_quiet_prints_nothing():
    doc, _ = check_json()
    p = run([ITERPROF, "check", "-q"])
    expect(p.stdout == "" and p.stderr == "", f"-q: {p.stdout!r} {p.stderr!r}")
    if not has_cpu_pmu():
        expect(p.returncode == 3, f"-q still exits 3 without a PMU: {p.returncode}")
    else:
        expect(p.returncode in (0, 3), p.returncode)


def test_usage():
    for bad, named in ((["--bogus"], "--bogus"), (["-Z"], "-Z"), (["--format", "xml"], "xml"),
                       (["extra"], "extra")):
        p = run([ITERPROF, "check", *bad], check=2)
        expect(p.stdout == "" and len(p.stderr.splitlines()) == 1 and
               p.stderr.startswith("iterprof: check: ") and named in p.stderr,
               f"one error line naming {named}: {p.stderr!r}")
    p = run([ITERPROF, "check", "--bogus"], check=2)
    expect("--help" in p.stderr, f"points to --help: {p.stderr!r}")
    for h in ("--help", "-h"):
        p = run([ITERPROF, "check", h], check=0)
        expect(p.stdout.startswith("usage: iterprof check") and "exit status" in p.stdout,
               p.stdout)
    p = run([ITERPROF, "--help"], check=0)
    expect("check" in p.stdout and "3 check found something severe" in p.stdout, p.stdout)


# ---------------------------------------------------------------------------
# The cgroup CPU quota, for real.

def mounts():
    """(fstype, mount point, super options) of every mount."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            yield fields[dash + 1], fields[4].replace("\\040", " "), fields[dash + 3]


def make_quota_cgroup(name):
    """Create cgroup NAME with a quota of 0.5 CPUs (50000 of 100000 us).
    Returns (directory, None) or (None, why not)."""
    v1 = [mnt for fstype, mnt, opts in mounts()
          if fstype == "cgroup" and "cpu" in opts.split(",")]
    v2 = [mnt for fstype, mnt, _ in mounts() if fstype == "cgroup2"]
    why = "no cgroup hierarchy with the cpu controller is mounted"
    if v1:
        path = os.path.join(v1[0], name)
        files = (("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000"))
    elif v2:
        try:
            with open(os.path.join(v2[0], "cgroup.subtree_control")) as f:
                enabled = f.read().split()
        except OSError as e:
            return None, f"{v2[0]}/cgroup.subtree_control: {e.strerror}"
        if "cpu" not in enabled:
            return None, f"the cpu controller is not enabled in {v2[0]}/cgroup.subtree_control"
        path = os.path.join(v2[0], name)
        files = (("cpu.max", "50000 100000"),)
    else:
        return None, why
    try:
        os.mkdir(path)
    except OSError as e:
        return None, f"cannot create {path}: {e.strerror} (not root, or a read-only cgroupfs)"
    try:
        for fname, value in files:
            with open(os.path.join(path, fname), "w") as f:
                f.write(value)
    except OSError as e:
        remove_cgroup(path)
        return None, f"cannot set the quota in {path}: {e.strerror}"
    return path, None


def remove_cgroup(path):
    # The exited child can take a moment to leave the cgroup.
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.1)
    os.rmdir(path)


def test_cgroup_quota_is_found():
    path, why = make_quota_cgroup(f"iterprof-check-test-{os.getpid()}")
    if not path:
        print(f"skip: no writable cgroup for a CPU quota: {why}")
        return
    try:
        script = f'echo $$ > "{path}/cgroup.procs" && exec "$0" check --format json'
        p = run(["sh", "-c", script, ITERPROF])
        expect(p.returncode == 3, f"a quota below the CPUs is severe: exit {p.returncode}, "
                                  f"{p.stderr}")
        quota = finding(json.loads(p.stdout), "cgroup-cpu-quota")
        expect(quota["severity"] == "severe" and abs(quota["value"] - 0.5) < 1e-9,
               f"0.5 CPUs, severe: {quota}")
        expect(path in quota["found"] and "0.50 CPUs" in quota["found"], quota["found"])
        expect(path in quota["action"], f"says which file to change: {quota['action']}")
        # the same process outside the cgroup has no such quota
        outside = finding(check_json()[0], "cgroup-cpu-quota")
        expect(path not in outside["found"], f"outside: {outside}")
    finally:
        remove_cgroup(path)
    expect(not os.path.exists(path), f"{path} removed")


if __name__ == "__main__":
    main([
        test_json_document,
        test_pmu_and_paranoid_match_the_machine,
        test_hypervisor_is_named,
        test_text_agrees_with_json,
        test_colour_only_on_a_terminal,
        test_quiet_prints_nothing,
        test_usage,
        test_cgroup_quota_is_found,
    ])

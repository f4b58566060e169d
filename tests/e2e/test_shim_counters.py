"""End-to-end: the shim knows which counters really count, and falls back.

As root every software counter counts. As an unprivileged user with
perf_event_paranoid=2 only exclude_kernel=1 opens, and context switches and
migrations then read 0: the trace must say they do not count (and why) and
take switches from getrusage instead. Without perf_event_open at all
(injected failure), task-clock comes from the thread CPU clock and faults and
switches from getrusage.
"""
import os
import shutil
import subprocess
import tempfile

from harness import ITERPROF, Workdir, expect, main, program, record, regions, report_json

ITERBENCH = program("iterbench")
SLEEP_AT, SLEEP_MS, PAGES_AT, PAGES = 5, 5, 3, 64


def iterations(doc):
    loop = regions(doc, "loop")
    expect(len(loop) == 1, "one loop stream")
    return loop[0]["per_iteration"], loop[0]["counters"]


def bench_args():
    return [ITERBENCH, "-n", "10", "-s", str(SLEEP_MS), "-a", str(SLEEP_AT)]


def test_root_counts_everything():
    if os.geteuid() != 0:
        print("skip: not root")
        return
    w = Workdir()
    record(w.join("t"), bench_args())
    its, counters = iterations(report_json(w.join("t"), ["--iterations"]))
    for name in ("task-clock", "minor-faults", "context-switches", "cpu-migrations",
                 "voluntary-switches", "involuntary-switches", "run-delay"):
        expect(counters[name]["counts"], f"{name} counts as root")
    expect(its[SLEEP_AT - 1]["counters"]["context-switches"] >= 1, "switch counted")
    w.cleanup()


def test_unprivileged_user_falls_back_to_getrusage():
    paranoid = int(open("/proc/sys/kernel/perf_event_paranoid").read())
    if os.geteuid() != 0 or paranoid < 2 or not shutil.which("setpriv"):
        print(f"skip: needs root (to become nobody), setpriv and perf_event_paranoid >= 2 "
              f"(is {paranoid})")
        return
    out = tempfile.mkdtemp(prefix="iterprof-nobody-")
    os.chmod(out, 0o777)
    trace = os.path.join(out, "t")
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
           ITERPROF, "record", "-q", "-o", trace, "--", *bench_args()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    doc = report_json(trace, ["--iterations"])
    its, counters = iterations(doc)
    for name in ("context-switches", "cpu-migrations"):
        expect(not counters[name]["counts"], f"{name} does not count for nobody")
        expect("exclude_kernel" in (counters[name]["why"] or ""),
               f"{name}: why = {counters[name]['why']}")
        expect(its[SLEEP_AT - 1]["counters"][name] is None,
               f"{name} is not available, not 0: {its[SLEEP_AT - 1]['counters'][name]}")
    for name in ("task-clock", "minor-faults", "voluntary-switches"):
        expect(counters[name]["counts"], f"{name} counts for nobody")
    sleep = its[SLEEP_AT - 1]
    expect(sleep["counters"]["voluntary-switches"] >= 1, f"switch from getrusage: {sleep}")
    notes = " ".join(pr.get("counters_note") or "" for pr in doc["processes"])
    expect("paranoid" in notes, f"the trace says why: {doc['processes']}")
    shutil.rmtree(out, ignore_errors=True)


def test_without_perf_event_open():
    w = Workdir()
    for effect in (["-s", str(SLEEP_MS), "-a", str(SLEEP_AT)],
                   ["-p", str(PAGES), "-a", str(PAGES_AT)]):
        out = w.join("t" + effect[0])
        record(out, [ITERBENCH, "-n", "10", *effect],
               env={"ITERPROF_INJECT_PERF_ERRNO": "38"})  # ENOSYS
        doc = report_json(out, ["--iterations"])
        its, counters = iterations(doc)
        expect(counters["task-clock"]["counts"], "task-clock from the thread CPU clock")
        expect(not counters["context-switches"]["counts"], "no perf: no switch counter")
        expect("perf_event_open" in (counters["context-switches"]["why"] or ""),
               counters["context-switches"])
        if effect[0] == "-s":
            sleep = its[SLEEP_AT - 1]
            expect(sleep["counters"]["voluntary-switches"] >= 1, f"getrusage switches: {sleep}")
            off_cpu = sleep["ns"] - sleep["counters"]["task-clock"]
            expect(off_cpu >= SLEEP_MS * 900_000, f"off-CPU {off_cpu} ns")
        else:
            faults = its[PAGES_AT - 1]["counters"]["minor-faults"]
            expect(PAGES <= faults <= PAGES + 16, f"{faults} faults from getrusage")
    w.cleanup()


def test_sched_off_marks_counters_disabled():
    w = Workdir()
    record(w.join("t"), bench_args(), options=["--sched=off"])
    its, counters = iterations(report_json(w.join("t"), ["--iterations"]))
    for name in ("voluntary-switches", "involuntary-switches", "run-delay"):
        expect(not counters[name]["counts"] and "disabled" in counters[name]["why"],
               f"{name}: {counters[name]}")
        expect(its[0]["counters"][name] is None, f"{name} not available")
    w.cleanup()


if __name__ == "__main__":
    main([test_root_counts_everything, test_unprivileged_user_falls_back_to_getrusage,
          test_without_perf_event_open, test_sched_off_marks_counters_disabled])

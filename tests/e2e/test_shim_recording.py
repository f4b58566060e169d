"""End-to-end: what the shim records for programs whose behaviour is known.

Each test runs a real program under `iterprof record` and checks counts a
person can predict: iterations per thread and process, fresh pages touched,
sleeps, a SIGKILL in the middle.
"""
import os
import re
import signal
import subprocess

from harness import (Workdir, expect, main, program, record, regions,
                     report_json, run)

ITERBENCH = program("iterbench")


def by_name(doc, name):
    found = regions(doc, name)
    expect(found, f"no region named {name!r} in {[r['name'] for r in doc['regions']]}")
    return found


def per_iteration(path):
    return report_json(path, ["--iterations"])


def counters_available(doc):
    """Names of counters that really count in this recording."""
    names = set()
    for r in doc["regions"]:
        for name, c in r["counters"].items():
            if c.get("counts"):
                names.add(name)
    return names


def test_threads_each_have_a_stream():
    w = Workdir()
    record(w.join("t"), [ITERBENCH, "-n", "200", "-t", "4"])
    doc = report_json(w.join("t"))
    loops = by_name(doc, "loop")
    expect(len(loops) == 4, f"4 thread streams expected, got {len(loops)}")
    expect(all(r["iterations"] == 200 for r in loops),
           f"200 iterations each: {[r['iterations'] for r in loops]}")
    expect(len({r["tid"] for r in loops}) == 4, "distinct thread ids")
    expect(len({r["pid"] for r in loops}) == 1, "one process")
    w.cleanup()


def test_nested_regions():
    w = Workdir()
    record(w.join("t"), [ITERBENCH, "-n", "150", "-N"])
    doc = report_json(w.join("t"))
    expect(by_name(doc, "loop")[0]["iterations"] == 150, "outer region count")
    expect(by_name(doc, "loop.inner")[0]["iterations"] == 150, "inner region count")
    w.cleanup()


def test_fork_child_writes_its_own_trace():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "100", "-t", "2", "-f"])
    doc = report_json(w.join("t"))
    loops = by_name(doc, "loop")
    pids = {r["pid"] for r in loops}
    expect(len(pids) == 2, f"parent and child: {pids}")
    for pid in pids:
        mine = [r for r in loops if r["pid"] == pid]
        expect(len(mine) == 2 and all(r["iterations"] == 100 for r in mine),
               f"pid {pid}: {[(r['tid'], r['iterations']) for r in mine]}")
    expect(p.stdout.count("ran 200 iterations") == 2, p.stdout)
    w.cleanup()


def test_exec_is_followed_and_no_follow_stops_it():
    w = Workdir()
    cmd = [ITERBENCH, "-n", "50", "-x", ITERBENCH, "-n", "70", "-r", "second"]
    record(w.join("follow"), cmd)
    doc = report_json(w.join("follow"))
    first, second = by_name(doc, "loop"), by_name(doc, "second")
    expect(first[0]["iterations"] == 50 and second[0]["iterations"] == 70,
           "both programs recorded")
    expect(first[0]["pid"] == second[0]["pid"], "exec keeps the pid")
    files = sorted(f for f in os.listdir(w.join("follow")) if f.endswith(".trace"))
    expect(len(files) == 2, f"one file per program image: {files}")

    record(w.join("nofollow"), cmd, options=["--no-follow"])
    doc = report_json(w.join("nofollow"))
    expect(by_name(doc, "loop")[0]["iterations"] == 50, "first program recorded")
    expect(not regions(doc, "second"), "exec'd program not recorded with --no-follow")
    w.cleanup()


def test_failed_exec_keeps_recording():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "20", "-x", w.join("no-such-program")], check=127)
    doc = report_json(w.join("t"))
    expect(by_name(doc, "loop")[0]["iterations"] == 20, "before the failed exec")
    expect(by_name(doc, "after-exec")[0]["iterations"] == 20, "after the failed exec")
    rep = run([os.environ["ITERPROF"], "report", w.join("t")], check=0)
    expect("truncated" not in rep.stdout, "the footer taken back at the failed exec is "
           "written again at exit")
    expect("truncated" not in p.stderr, p.stderr)
    w.cleanup()


def test_exec_closes_the_old_image_cleanly():
    w = Workdir()
    cmd = [ITERBENCH, "-n", "5", "-x", ITERBENCH, "-n", "5", "-r", "second"]
    for options in ([], ["--no-follow"]):
        out = w.join("t" + "".join(options))
        p = record(out, cmd, options=options)
        expect("truncated" not in p.stderr, f"{options}: {p.stderr}")
        rep = run([os.environ["ITERPROF"], "report", out], check=0)
        expect("truncated" not in rep.stdout, f"{options}: {rep.stdout}")
    w.cleanup()


def test_every_exec_function_is_wrapped():
    w = Workdir()
    p = record(w.join("t"), [program("execchain")])
    expect("done at step 4" in p.stdout, p.stdout)
    expect("truncated" not in p.stderr, f"execl/execlp/execle close the old image: {p.stderr}")
    doc = report_json(w.join("t"))
    for step in range(1, 5):
        expect(by_name(doc, f"step{step}")[0]["iterations"] == 3, f"step {step}")
    expect(len([f for f in os.listdir(w.join("t")) if f.endswith(".trace")]) == 4,
           "four images, four files")
    w.cleanup()


def test_fresh_pages_show_as_minor_faults():
    w = Workdir()
    pages, at = 256, 10
    record(w.join("t"), [ITERBENCH, "-n", "40", "-p", str(pages), "-a", str(at)])
    loop = by_name(per_iteration(w.join("t")), "loop")[0]
    its = loop["per_iteration"]
    expect(len(its) == 40, "40 iterations")
    faults = its[at - 1]["counters"]["minor-faults"]
    expect(pages <= faults <= pages + 16, f"iteration {at}: {faults} minor faults for {pages} pages")
    quiet = [it["counters"]["minor-faults"] for it in its[at:]]
    expect(max(quiet) <= 4, f"later iterations touch no new pages: {quiet}")
    w.cleanup()


def test_sleep_is_off_cpu_and_a_voluntary_switch():
    w = Workdir()
    at, ms = 7, 5
    record(w.join("t"), [ITERBENCH, "-n", "30", "-s", str(ms), "-a", str(at)])
    doc = per_iteration(w.join("t"))
    it = by_name(doc, "loop")[0]["per_iteration"][at - 1]
    c = it["counters"]
    expect(it["ns"] >= ms * 1_000_000, f"duration {it['ns']} ns >= {ms} ms")
    off_cpu = it["ns"] - c["task-clock"]
    expect(off_cpu >= ms * 900_000, f"off-CPU {off_cpu} ns for a {ms} ms sleep")
    expect(c["voluntary-switches"] >= 1, f"voluntary switch recorded: {c}")
    if "context-switches" in counters_available(doc):
        expect(c["context-switches"] >= 1, f"context switch counted: {c}")
    w.cleanup()


def test_sigkill_leaves_every_committed_iteration():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "100", "-K", "40"], check=None)
    expect(p.returncode == 128 + signal.SIGKILL, f"exit status {p.returncode}")
    rep = run([os.environ.get("ITERPROF", "iterprof"), "report", w.join("t")], check=0)
    expect("truncated" in rep.stdout + rep.stderr, "report notes the truncation")
    doc = report_json(w.join("t"))
    expect(by_name(doc, "loop")[0]["iterations"] == 39,
           "the 39 iterations ended before the kill are all there")
    w.cleanup()


def test_sigsegv_leaves_every_committed_iteration():
    w = Workdir()
    p = record(w.join("t"), [ITERBENCH, "-n", "100", "-S", "25"], check=None)
    expect(p.returncode == 128 + signal.SIGSEGV, f"exit status {p.returncode}")
    doc = report_json(w.join("t"))
    expect(by_name(doc, "loop")[0]["iterations"] == 24, "the 24 iterations before the crash")
    w.cleanup()


def test_markers_through_python_ctypes():
    w = Workdir()
    script = ("import ctypes\n"
              "lib = ctypes.CDLL(None)\n"
              "for i in range(17):\n"
              "    lib.iterprof_iter_begin(b'py-step')\n"
              "    sum(range(1000))\n"
              "    lib.iterprof_iter_end(b'py-step')\n"
              "print('done')\n")
    p = record(w.join("t"), ["python3", "-c", script])
    expect(p.stdout == "done\n", p.stdout)
    expect(by_name(report_json(w.join("t")), "py-step")[0]["iterations"] == 17, "17 iterations")
    w.cleanup()


def test_program_output_and_status_unchanged():
    w = Workdir()
    cmd = [ITERBENCH, "-n", "20", "-t", "2"]
    plain = run(cmd, check=0)
    recorded = record(w.join("t"), cmd)
    same = lambda s: re.sub(r"pid \d+", "pid N", s)  # noqa: E731
    expect(same(plain.stdout) == same(recorded.stdout),
           f"same stdout:\n{plain.stdout}\nvs\n{recorded.stdout}")
    expect(plain.stderr == "", f"the program itself writes nothing on stderr: {plain.stderr}")
    w.cleanup()


def test_spawn_vfork_system_do_not_corrupt_the_parent():
    w = Workdir()
    p = record(w.join("t"), [program("spawner"), "25"])
    expect("spawner: 25 iterations" in p.stdout, p.stdout)
    doc = report_json(w.join("t"))
    spawn = by_name(doc, "spawn")
    expect(len(spawn) == 1 and spawn[0]["iterations"] == 25,
           f"parent's stream intact: {[(r['pid'], r['iterations']) for r in spawn]}")
    w.cleanup()


def test_markers_without_shim_are_harmless():
    p = run([ITERBENCH, "-n", "1000", "-N"], check=0)
    expect("ran 1000 iterations" in p.stdout, p.stdout)


def test_non_pie_program_is_recorded():
    w = Workdir()
    src = os.path.join(os.environ["ITERPROF_SOURCE_DIR"], "tests", "programs", "iterbench.c")
    exe = w.join("iterbench-nopie")
    inc = os.path.join(os.environ["ITERPROF_SOURCE_DIR"], "include")
    run(["cc", "-O2", "-no-pie", "-fno-pie", "-I", inc, "-o", exe, src, "-lpthread"], check=0)
    record(w.join("t"), [exe, "-n", "33"])
    expect(by_name(report_json(w.join("t")), "loop")[0]["iterations"] == 33, "33 iterations")
    w.cleanup()


if __name__ == "__main__":
    main([test_threads_each_have_a_stream, test_nested_regions,
          test_fork_child_writes_its_own_trace, test_exec_is_followed_and_no_follow_stops_it,
          test_failed_exec_keeps_recording, test_exec_closes_the_old_image_cleanly,
          test_every_exec_function_is_wrapped,
          test_fresh_pages_show_as_minor_faults, test_sleep_is_off_cpu_and_a_voluntary_switch,
          test_sigkill_leaves_every_committed_iteration,
          test_sigsegv_leaves_every_committed_iteration, test_markers_through_python_ctypes, test_program_output_and_status_unchanged,
          test_spawn_vfork_system_do_not_corrupt_the_parent,
          test_markers_without_shim_are_harmless, test_non_pie_program_is_recorded])

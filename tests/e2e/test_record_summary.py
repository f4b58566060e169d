#!/usr/bin/env python3
"""iterprof record: the summary line after the run says what was recorded.

These need the real shim (preload/) and recording_summarize()
(analyzer/recording.c): the counts are those the shim wrote."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Workdir, expect, main, program, record  # noqa: E402

W = Workdir()


def summary(p):
    lines = [line for line in p.stderr.splitlines()
             if line.startswith("iterprof: recorded ")]
    expect(len(lines) == 1, f"want one summary line, got {p.stderr!r}")
    return lines[0]


def test_one_process_exact_counts():
    out = W.join("one.data")
    p = record(out, [program("rec_markers"), "1000"], check=0)
    expect(summary(p) == f"iterprof: recorded 1 process, 1 thread, 1 region, "
           f"1000 iterations in {out}", summary(p))
    expect("no iteration" not in p.stderr, p.stderr)


def test_threads():
    p = record(W.join("threads.data"), [program("rec_threads"), "4", "50"], check=0)
    m = re.match(r"iterprof: recorded 1 process, (\d+) threads, (\d+) regions, "
                 r"200 iterations in ", summary(p))
    expect(m and int(m.group(1)) in (4, 5) and m.group(2) == "4", summary(p))


def test_dropped():
    p = record(W.join("dropped.data"), [program("rec_dropped"), "10"], check=0)
    expect(re.search(r" 10 iterations in \S+, 10 dropped$", summary(p)), summary(p))


def test_exec_is_followed():
    cmd = ["/bin/sh", "-c", f"exec {program('rec_markers')} 100"]
    p = record(W.join("follow.data"), cmd, check=0)
    expect(re.match(r"iterprof: recorded 2 processes, 1 thread, 1 region, "
                    r"100 iterations in ", summary(p)), summary(p))
    p = record(W.join("nofollow.data"), cmd, options=["--no-follow"], check=0)
    expect(" 0 iterations in " in summary(p), summary(p))
    expect("--no-follow" in p.stderr, p.stderr)


def test_no_iteration():
    p = record(W.join("none.data"), [program("rec_exit"), "0"], check=0)
    expect(" 0 iterations in " in summary(p), summary(p))
    expect("recorded no iteration" in p.stderr
           and "iterprof_iter_begin" in p.stderr, p.stderr)


def test_killed_is_truncated():
    p = record(W.join("killed.data"), [program("rec_exit"), "0", "9"], check=137)
    expect("1 file truncated" in summary(p), summary(p))


def test_shim_not_loaded():
    # A library that loads but is not the shim: nothing is written, and the
    # launcher says so instead of printing an empty summary.
    src = W.join("notshim.c")
    with open(src, "w") as f:
        f.write("int iterprof_not_the_shim;\n")
    lib = W.join("libnotshim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True)
    p = record(W.join("noshim.data"), [program("rec_markers"), "10"], check=0,
               env={"ITERPROF_SHIM_PATH": lib})
    expect("iterprof: no process was recorded: the shim did not load" in p.stderr,
           p.stderr)
    expect("iterprof: recorded" not in p.stderr, p.stderr)


def test_quiet():
    p = record(W.join("quiet.data"), [program("rec_exit"), "0"], options=["-q"],
               check=0)
    expect(p.stderr == "", p.stderr)


if __name__ == "__main__":
    main([test_one_process_exact_counts, test_threads, test_dropped,
             test_exec_is_followed, test_no_iteration, test_killed_is_truncated,
             test_shim_not_loaded, test_quiet], workdir=W)

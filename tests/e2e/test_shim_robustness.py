"""End-to-end: the shim under adverse conditions.

Signal handlers calling markers, libraries whose constructors call markers
before the shim's own constructor, a full disk, no file descriptors left,
SIGKILL at random moments, and the installed tree.
"""
import os
import random
import re
import signal
import subprocess
import time

from harness import (ITERPROF, SOURCE_DIR, BUILD_DIR, Workdir, expect, main, program,
                     record, regions, report_json, run)

ITERBENCH = program("iterbench")
INCLUDE = os.path.join(SOURCE_DIR, "include")


def test_signal_handlers_calling_markers():
    w = Workdir()
    p = record(w.join("t"), [program("sigstorm"), "3000"])
    m = re.search(r"(\d+) iterations, (\d+) handler calls, errno changed (\d+)", p.stdout)
    expect(m, p.stdout)
    handled, errno_changes = int(m.group(2)), int(m.group(3))
    expect(errno_changes == 0, "markers preserve errno")
    doc = report_json(w.join("t"))
    loop = regions(doc, "loop")
    expect(len(loop) == 1 and loop[0]["iterations"] == 3000, "every main-loop iteration")
    handler = regions(doc, "handler")
    recorded = handler[0]["iterations"] if handler else 0
    dropped = sum(pr.get("dropped", 0) for pr in doc["processes"])
    expect(handled > 0, "the timer fired")
    expect(recorded + dropped == handled,
           f"handler iterations {recorded} + dropped {dropped} == handler calls {handled}")
    w.cleanup()


def test_library_constructor_calls_markers_first():
    w = Workdir()
    lib = w.join("libearly.so")
    src = w.join("early.c")
    with open(src, "w") as f:
        f.write('#include <iterprof/iterprof.h>\n'
                '__attribute__((constructor)) static void early(void) {\n'
                '  for (int i = 0; i < 5; i++) { iterprof_iter_begin("ctor");'
                ' iterprof_iter_end("ctor"); }\n}\n'
                'int early_value(void) { return 7; }\n')
    run(["cc", "-O2", "-shared", "-fPIC", "-I", INCLUDE, "-o", lib, src], check=0)
    main_src = w.join("main.c")
    with open(main_src, "w") as f:
        f.write('#include <stdio.h>\nint early_value(void);\n'
                'int main(void) { printf("%d\\n", early_value()); return 0; }\n')
    exe = w.join("early")
    run(["cc", "-O2", "-o", exe, main_src, lib, "-Wl,-rpath," + w.path], check=0)
    p = record(w.join("t"), [exe])
    expect(p.stdout == "7\n", p.stdout)
    ctor = regions(report_json(w.join("t")), "ctor")
    expect(ctor and ctor[0]["iterations"] == 5, "iterations from a library constructor")
    w.cleanup()


def test_full_disk_drops_instead_of_crashing():
    w = Workdir()
    mnt = w.join("small")
    os.mkdir(mnt)
    # A private mount namespace with a 256 KiB tmpfs: room for the header and
    # a few chunks only.
    script = (f"mount -t tmpfs -o size=256k none {mnt} && "
              f"{ITERPROF} record -q -o {mnt}/t -- {ITERBENCH} -n 200000 -w 10 && "
              f"{ITERPROF} report --format json {mnt}/t > {w.join('report.json')}")
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       timeout=120)
    if "unshare" in p.stderr and p.returncode != 0 and "ran" not in p.stdout:
        print(f"skip: cannot make a private tmpfs here: {p.stderr.strip()}")
        return
    expect(p.returncode == 0, f"the benchmark survives a full disk: {p.returncode} {p.stderr}")
    expect("ran 200000 iterations" in p.stdout, p.stdout)
    import json
    doc = json.load(open(w.join("report.json")))
    recorded = sum(r["iterations"] for r in doc["regions"])
    dropped = sum(pr.get("dropped", 0) for pr in doc["processes"])
    expect(0 < recorded < 200000, f"some iterations recorded: {recorded}")
    expect(recorded + dropped == 200000, f"recorded {recorded} + dropped {dropped} == 200000")
    w.cleanup()


def test_no_file_descriptors_left_for_counters():
    w = Workdir()
    # 4 threads need 4 x 6 fds for counters; with a limit of 16 some threads
    # cannot open theirs. They still record iterations (time only), flagged.
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    p = subprocess.run([ITERPROF, "record", "-q", "-o", w.join("t"), "--", ITERBENCH,
                        "-n", "50", "-t", "4"], capture_output=True, text=True,
                       preexec_fn=limit, timeout=60)
    expect(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    doc = report_json(w.join("t"))
    loops = regions(doc, "loop")
    expect(len(loops) == 4 and all(r["iterations"] == 50 for r in loops),
           f"all iterations recorded: {[r['iterations'] for r in loops]}")
    w.cleanup()


def test_random_sigkills_leave_readable_traces():
    w = Workdir()
    rng = random.Random(1234)
    for attempt in range(15):
        out = w.join(f"t{attempt}")
        proc = subprocess.Popen([ITERPROF, "record", "-q", "-o", out, "--", ITERBENCH,
                                 "-n", "100000000", "-t", "2", "-w", "200"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Kill only once the trace file exists: before that there is nothing
        # to leave readable (a slow start, e.g. under the sanitizers on a busy
        # machine, would otherwise make the kill land before the shim began).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                os.path.isdir(out) and any(f.endswith(".trace") for f in os.listdir(out))):
            time.sleep(0.01)
        time.sleep(0.05 + rng.random() * 0.2)
        # Kill the benchmark itself (the launcher's child), not the launcher.
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        for c in children:
            os.kill(int(c), signal.SIGKILL)
        proc.wait(timeout=60)
        expect(proc.returncode == 128 + signal.SIGKILL, f"exit {proc.returncode}")
        p = run([ITERPROF, "report", "--format", "json", out])
        expect(p.returncode == 0, f"attempt {attempt}: report failed: {p.stderr}")
    w.cleanup()


def test_installed_tree_works_without_environment():
    w = Workdir()
    prefix = w.join("prefix")
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix], check=0)
    iterprof = os.path.join(prefix, "bin", "iterprof")
    expect(os.path.exists(os.path.join(prefix, "lib", "iterprof", "libiterprof.so")), "shim")
    pc_dir = os.path.join(prefix, "lib", "pkgconfig")
    if not os.path.isdir(pc_dir):
        pc_dir = next(os.path.join(r, d) for r, ds, _ in os.walk(prefix) for d in ds
                      if d == "pkgconfig")
    cflags = run(["pkg-config", "--cflags", "iterprof"], env={"PKG_CONFIG_PATH": pc_dir},
                 check=0).stdout.split()
    exe = w.join("bench")
    src = os.path.join(SOURCE_DIR, "tests", "programs", "iterbench.c")
    run(["cc", "-O2", *cflags, "-o", exe, src, "-lpthread"], check=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITERPROF")}
    p = subprocess.run([iterprof, "record", "-o", w.join("t"), "--", exe, "-n", "12"],
                       capture_output=True, text=True, env=env, timeout=60)
    expect(p.returncode == 0, p.stderr)
    p = subprocess.run([iterprof, "report", "--format", "json", w.join("t")],
                       capture_output=True, text=True, env=env, timeout=60)
    import json
    expect(json.loads(p.stdout)["regions"][0]["iterations"] == 12, "12 iterations")
    w.cleanup()


if __name__ == "__main__":
    main([test_signal_handlers_calling_markers, test_library_constructor_calls_markers_first,
          test_full_disk_drops_instead_of_crashing, test_no_file_descriptors_left_for_counters,
          test_random_sigkills_leave_readable_traces,
          test_installed_tree_works_without_environment])

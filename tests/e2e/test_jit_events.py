#!/usr/bin/env python3
"""Code made executable, counted per iteration, and the cause `jit`.

tests/programs/jitgen.c generates machine code at chosen iterations the
ways JIT engines do (mprotect to READ|EXEC, a fresh executable mapping, a
memfd mapped twice, an executable mapping grown with mremap) and can dlopen
a library at one iteration: the shim's counters code-events and code-bytes
must say exactly which iterations did it and how many bytes, and the report
must name `jit` for the iterations that spent their time generating code.
Real engines (numba, LuaJIT, Node.js): tests/e2e/test_jit_runtimes.py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD_DIR, ITERPROF, Workdir, expect, main, program,  # noqa: E402
                     record, regions, report_json, run)

W = Workdir()
PAGE = os.sysconf("SC_PAGESIZE")
FIXTURE = os.path.join(BUILD_DIR, "tests", "fixtures", "libsymbols-fixture.so")


def run_jitgen(name, args):
    out = W.join(name + ".data")
    p = record(out, [program("jitgen"), *args], options=["-q"])
    expect(p.stdout == "", f"{name}: jitgen printed {p.stdout!r}")
    doc = report_json(out, ["--iterations"])
    (region,) = regions(doc, "step")
    return region


def code_iterations(region):
    """{iteration: (events, bytes)} for the iterations with code events."""
    found = {}
    for it in region["per_iteration"]:
        c = it["counters"]
        expect(c.get("code-events") is not None and c.get("code-bytes") is not None,
               f"iteration {it['index']}: no code counters: {c}")
        if c["code-events"] or c["code-bytes"]:
            found[it["index"]] = (c["code-events"], c["code-bytes"])
    return found


def test_each_style_is_counted_exactly():
    # (style, events per generation, pages per generation of 3 pages)
    for style, events, pages in (("mprotect", 1, 3), ("mmap", 1, 3), ("memfd", 1, 3),
                                 ("mremap", 2, 9)):
        region = run_jitgen(style, ["-n", "60", "--at", "7,33", "--pages", "3",
                                    "--style", style])
        got = code_iterations(region)
        want = {7: (events, pages * PAGE), 33: (events, pages * PAGE)}
        print(f"  {style}: {got}")
        expect(got == want, f"{style}: code events {got}, expected {want}")


def test_dlopen_counts_the_new_objects_code():
    # the executable PT_LOAD bytes of the library, as the ELF headers say
    out = subprocess.run(["readelf", "-lW", FIXTURE], capture_output=True, text=True,
                         check=True).stdout
    size = sum(int(line.split()[5], 16) for line in out.splitlines()
               if line.split()[:1] == ["LOAD"] and "E" in line.split()[6:-1])
    region = run_jitgen("dlopen", ["-n", "40", "--dlopen", FIXTURE, "--dlopen-at", "25"])
    got = code_iterations(region)
    print(f"  dlopen: {got} (readelf: {size} executable bytes)")
    expect(got == {25: (1, size)}, f"dlopen: {got}, expected {{25: (1, {size})}}")
    # a library already loaded (the C library itself) loads no new code
    region = run_jitgen("dlopen-again", ["-n", "40", "--dlopen", "libc.so.6",
                                         "--dlopen-at", "25"])
    got = code_iterations(region)
    expect(got == {}, f"dlopen of a loaded library counted: {got}")


def test_compilation_is_jit():
    """Iteration 1 and iteration 150 compile for 3 ms of CPU time and
    generate code: jit explains those 3 ms, with the bytes. On a busy
    machine the same iterations may also wait for the CPU (preemption): the
    on-CPU part is what is checked."""
    region = run_jitgen("compile", ["-n", "300", "--at", "1,150", "--pages", "4",
                                    "--compile-us", "3000"])
    its = {it["index"]: it for it in region["per_iteration"]}
    steady = region["reference"]["median_ns"]
    for i in (1, 150):
        it = its[i]
        excess = it["ns"] - steady
        jit_ns = excess * it["shares"].get("jit", 0)
        print(f"  iteration {i}: {it['ns'] / 1e3:.0f} µs, cause {it['cause']}, "
              f"jit {jit_ns / 1e3:.0f} µs, shares {it['shares']}")
        expect(2.4e6 <= jit_ns <= 4e6, f"iteration {i}: jit {jit_ns:.0f} ns of 3 ms compiled")
        on_cpu_others = {c: v for c, v in it["shares"].items()
                         if c not in ("jit", "preemption", "blocking") and v > 0.1}
        expect(not on_cpu_others, f"iteration {i}: other on-CPU causes {on_cpu_others}")
        if it["shares"].get("preemption", 0) < 0.3:
            expect(it["cause"] == "jit", f"iteration {i}: cause {it['cause']}")
    expect(its[150]["slow"], "iteration 150 not slow")
    expect(region["causes"]["jit"]["excess_ns"] >= 2.4e6, f"causes: {region['causes']['jit']}")
    # the bytes are told where jit is: iteration 1's phase, the slow ones
    first = region["phases"][0]
    expect(first["causes"].get("jit", 0) > 0 and first["code_bytes"] == 4 * PAGE,
           f"first phase: causes {first['causes']}, code_bytes {first['code_bytes']}")
    expect(region["slow"]["code_bytes"] == 4 * PAGE, f"slow: {region['slow']}")
    text = run([ITERPROF, "report", W.join("compile.data")], check=0).stdout
    expect(f"{4 * PAGE / 1e3:.0f} KB of code made executable" in text,
           f"the text report does not tell the code generated:\n{text}")
    # no other iteration is blamed on jit
    others = [i for i, it in its.items() if it["cause"] == "jit" and i not in (1, 150)]
    expect(not others, f"jit blamed for iterations without code: {others}")


def test_no_code_no_counts():
    region = run_jitgen("none", ["-n", "200"])
    expect(code_iterations(region) == {}, "code events without any code generated")


if __name__ == "__main__":
    main([test_each_style_is_counted_exactly, test_dlopen_counts_the_new_objects_code,
          test_compilation_is_jit, test_no_code_no_counts], workdir=W)

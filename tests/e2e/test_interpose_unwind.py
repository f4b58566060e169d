"""End-to-end: calls that leave a patched function by an exception or longjmp
are dropped with the reason "unwound", exactly as many as the program says
left abnormally; calls that catch inside are complete iterations."""
import os
import re

from harness import SOURCE_DIR, Workdir, expect, main, record, regions, report_json, run

CORPUS = os.path.join(SOURCE_DIR, "tests", "interpose")


def check(w, source, compiler, patterns):
    exe = w.join(os.path.basename(source) + "-" + compiler)
    run([compiler, "-O2", "-I", CORPUS, "-o", exe, os.path.join(CORPUS, source)], check=0)
    plain = run([exe])
    p = record(w.join("t-" + compiler), [exe], options=[x for pat in patterns for x in ("-f", pat)],
               check=plain.returncode)
    expect(p.stdout == plain.stdout, "same output")
    doc = report_json(w.join("t-" + compiler))
    abnormal = 0
    for name, calls, _outer, left in re.findall(r"calls (\S+) (\d+)(?: outer (\d+))?(?: abnormal (\d+))?",
                                                plain.stdout):
        if name not in patterns:
            continue
        left = int(left or 0)
        abnormal += left
        got = sum(r["iterations"] for r in regions(doc, name))
        expect(got == int(calls) - left, f"{compiler} {name}: {got} iterations, "
               f"{calls} calls of which {left} left abnormally")
    unwound = sum(pr["dropped_by_reason"].get("unwound", 0) for pr in doc["processes"])
    expect(unwound == abnormal, f"{compiler}: {unwound} dropped as unwound, {abnormal} expected")


def test_exceptions():
    w = Workdir()
    for compiler in ("g++", "clang++"):
        check(w, "cxx_exceptions.cc", compiler,
              ["ns::may_throw", "ns::passes_through", "ns::catches_inside"])
    w.cleanup()


def test_longjmp():
    w = Workdir()
    for compiler in ("gcc", "clang"):
        check(w, "longjmp.c", compiler, ["jumper", "jumper_deep", "jumps_inside"])
    w.cleanup()


if __name__ == "__main__":
    main([test_exceptions, test_longjmp])

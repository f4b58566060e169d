#!/usr/bin/env python3
"""End-to-end: `iterprof record -f FUNC` refuses, with a stated reason, what
it cannot patch safely, and says so when a pattern matches nothing; the
program runs normally either way.

One program per refusal reason, each a hand-written x86-64 function in
tests/interpose/refuse_*.S (with an ELF size and @function type) called by
tests/interpose/refuse_driver.c; the .S files say why each function triggers
its reason and no other:

  refuse_too_short.S      (a) 3-byte function, the next one right after it
  refuse_branch_into.S    (b) a loop branching back to entry+2
  refuse_early_ret.S      (c) `ret` at entry+3, then int3 padding
  refuse_unrelocatable.S  (d) `jrcxz` (rel8 only, no rel32 form) at entry

The contract checked (the exact wording is the patcher's; these keywords,
case-insensitive, are what the tests rely on):
  - the command's exit status and stdout are those of a plain run, and its
    stderr is the plain run's once the lines starting with "iterprof" are
    taken out;
  - one line of stderr contains "refused", the function's name and the
    reason's keyword: (a) "too short", (b) "branch into" (or "branch"
    followed later by "into": "a branch at +8 jumps into..."), (c) "ret" as a
    word, (d) "cannot relocate" or "unsupported instruction"; and none of the
    other reasons' keywords (for (a) a mention of the ret is allowed: a
    3-byte function necessarily ends in one);
  - the recording has no region named after the refused function;
  - a pattern that matches nothing: a line of stderr names the pattern and
    says it matched nothing (contains "match"), a line contains "did you
    mean" and the closest real name, and the command still runs normally.

ITERPROF_INTERPOSE_PLAIN_ONLY=1 only builds the programs and runs them
without iterprof.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, Workdir, expect, main, regions,  # noqa: E402
                     report_json, run)

SOURCE_DIR = os.environ.get(
    "ITERPROF_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CORPUS = os.path.join(SOURCE_DIR, "tests", "interpose")
PLAIN_ONLY = os.environ.get("ITERPROF_INTERPOSE_PLAIN_ONLY", "") not in ("", "0")
W = Workdir()

# reason: (function, .S file, keyword regexes (any one), extra driver flags)
REASONS = {
    "too short": ("too_short", "refuse_too_short.S", [r"too short"],
                  ["-DNEIGHBOUR=next_function"]),
    "branch into": ("branch_into", "refuse_branch_into.S", [r"\bbranch\b.*\binto\b"], []),
    "ret": ("early_ret", "refuse_early_ret.S", [r"\bret\b"], []),
    "cannot relocate": ("unrelocatable", "refuse_unrelocatable.S",
                        [r"cannot relocate", r"unsupported instruction"], []),
}


def compiler():
    for cc in ("cc", "gcc", "clang"):
        p = subprocess.run(["sh", "-c", f"command -v {cc}"], capture_output=True, text=True)
        if p.returncode == 0:
            return cc
    raise AssertionError("no C compiler (cc, gcc, clang) in PATH")


def build(function, asm, flags):
    exe = W.join(f"refuse_{function}")
    run([compiler(), "-O2", "-Wall", "-Wextra", "-I", CORPUS, f"-DTARGET={function}", *flags,
         "-o", exe, os.path.join(CORPUS, "refuse_driver.c"), os.path.join(CORPUS, asm)],
        check=0)
    return exe


def record_like_plain(exe, pattern, out):
    """Run EXE plainly and under `iterprof record -f PATTERN`; check that the
    program did the same; the recorded run."""
    plain = run([exe], check=0)
    expect(plain.stderr == "", f"plain run wrote on stderr: {plain.stderr!r}")
    expect(re.search(r"^calls \S+ 500$", plain.stdout, re.M), plain.stdout)
    if PLAIN_ONLY:
        return None
    p = run([ITERPROF, "record", "-f", pattern, "-o", out, "--", exe])
    expect(p.returncode == plain.returncode,
           f"-f {pattern}: exit {p.returncode}, plain {plain.returncode}\n{p.stderr}")
    expect(p.stdout == plain.stdout,
           f"-f {pattern}: stdout differs:\n{p.stdout}\nplain:\n{plain.stdout}\n{p.stderr}")
    own = [line for line in p.stderr.splitlines() if not line.startswith("iterprof")]
    expect(own == [], f"-f {pattern}: stderr other than iterprof's lines: {own}")
    return p


def check_refusal(reason):
    function, asm, keywords, flags = REASONS[reason]
    exe = build(function, asm, flags)
    out = W.join(f"rec-{function}")
    p = record_like_plain(exe, function, out)
    if p is None:
        return
    lines = [line for line in p.stderr.splitlines()
             if re.search(r"refused", line, re.I) and re.search(rf"\b{function}\b", line)]
    expect(lines, f"no line saying {function} was refused:\n{p.stderr}")
    reasoned = [line for line in lines
                if any(re.search(k, line, re.I) for k in keywords)]
    expect(reasoned, f"{function} refused but not for {reason!r} "
           f"({' or '.join(keywords)}): {lines}")
    others = [k for r, (_, _, ks, _) in REASONS.items() if r != reason for k in ks
              if not (reason == "too short" and k == r"\bret\b")]
    for line in reasoned:
        wrong = [k for k in others if re.search(k, line, re.I)]
        expect(not wrong, f"{function}: one reason expected, the line also matches "
               f"{wrong}: {line}")
    doc = report_json(out)
    expect(not regions(doc, function), f"{function} was refused but has a region")


def test_refuses_too_short():
    check_refusal("too short")


def test_refuses_branch_into_patched_bytes():
    check_refusal("branch into")


def test_refuses_ret_in_patched_bytes():
    check_refusal("ret")


def test_refuses_unrelocatable_instruction():
    check_refusal("cannot relocate")


def test_pattern_matching_nothing():
    function, asm, _, flags = REASONS["too short"]
    exe = build(function, asm, flags)
    pattern = "too_shrt"
    p = record_like_plain(exe, pattern, W.join("rec-nothing"))
    if p is None:
        return
    said = [line for line in p.stderr.splitlines()
            if pattern in line and re.search(r"match", line, re.I)]
    expect(said, f"no line saying {pattern!r} matched nothing:\n{p.stderr}")
    expect(any(re.search(r"did you mean", line, re.I) and "too_short" in line
               for line in p.stderr.splitlines()),
           f"no 'did you mean' line naming too_short:\n{p.stderr}")


if __name__ == "__main__":
    main([test_refuses_too_short, test_refuses_branch_into_patched_bytes,
          test_refuses_ret_in_patched_bytes, test_refuses_unrelocatable_instruction,
          test_pattern_matching_nothing], W)

#!/usr/bin/env python3
"""Call stacks through an interpreter and a JIT (doc/stacks.md, "Frames"):
they may stop at, or pass through, frames nothing names; those must be
shown as unknown, never as garbage.

Recorded with --stacks=all and an on-CPU sample every 100 µs:
 - Python (the interpreter running these tests) through `python3 -m
   iterprof.run script:work`, where work() allocates and touches a
   bytearray (page faults) and loops in the interpreter;
 - LuaJIT (when installed: scripts/deps-jit), a loop LuaJIT compiles to
   machine code in anonymous memory in its first iterations, then runs
   there (~1 ms an iteration), with the markers called through the FFI.

For each, every frame of every stack in the three outputs must be well
formed:
 - JSON: function null or a non-empty printable string without surrounding
   blanks; module null or a printable name; line null or > 0; the address a
   user-space address (0 < a < 2^47); a frame with no module has no name;
 - text report ("where, by call stacks" lines, unwrapped): each frame is
   `[unknown]`, `[module+0xOFFSET]`, `[module]`, or a name optionally
   followed by ` (file:line)` or ` (file)`; printable;
 - --flame all: each frame between `;` non-empty, printable, without blanks,
   and either a name, `[unknown]` or `[module]`.
And some frames are named (main, or libc's functions under it, at least); for LuaJIT, the samples taken in its machine code show as
`[unknown]` in the text and the folded stacks, and as function and module
null in JSON.
"""
import os
import re
import shutil
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, SOURCE_DIR, Workdir, cause_stacks, expect, main,  # noqa: E402
                     run)

W = Workdir()
SOURCE = SOURCE_DIR or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ADDRESS_LIMIT = 1 << 47
NAMED_LOCATION = re.compile(r"^(?P<name>[^\s\[\]][^\x00-\x1f\x7f]*?)"
                            r"(?: \((?P<file>[^\s():]+)(?::(?P<line>[1-9][0-9]*))?\))?$")
MODULE_OFFSET = re.compile(r"^\[(?P<module>[^\s\[\]]+)\+0x(?P<offset>[0-9a-f]+)\]$")
MODULE_ONLY = re.compile(r"^\[[^\s\[\]]+\]$")
# "86 % a (f.c:1) ← b ← …  [steady 0 %]"; a wrap may fall on the two blanks
ENTRY = re.compile(r"(\d+) % (.*?)\s+\[steady \d+ %\]")
# what libc and the loader put under any program's main
START = {"main", "_start", "__libc_start_main", "__libc_start_call_main"}

PY_SCRIPT = """
import sys

def work(i):
    n = (8 << 20) if i % 10 == 0 else (256 << 10)
    buf = bytearray(n)
    for k in range(0, n, 4096):
        buf[k] = 1
    total = 0
    for k in range(3000):
        total += k * i
    return total + sum(buf[::4096])

total = 0
for i in range(1, 81):
    total += work(i)
print("total", total)
"""

LUA_SCRIPT = """
local ffi = require("ffi")
ffi.cdef [[
void iterprof_iter_begin(const char *region);
void iterprof_iter_end(const char *region);
]]
local have = pcall(function()
  return ffi.C.iterprof_iter_begin ~= nil and ffi.C.iterprof_iter_end ~= nil
end)
local function step(k)
  local s = 0
  for i = 1, 300000 do
    if i % 4 == 0 then s = s + i * k else s = s - i end
  end
  return s
end
local total = 0
-- every 25th iteration runs the compiled loop three times: slow, on the
-- CPU, so that report has stacks in it to show whatever else the run did
for i = 1, tonumber(arg[1]) do
  if have then ffi.C.iterprof_iter_begin("step") end
  for _ = 1, (i % 25 == 0) and 3 or 1 do
    total = total + step(i)
  end
  if have then ffi.C.iterprof_iter_end("step") end
end
print("total", total, have)
"""


def pin_cpu():
    return str(max(os.sched_getaffinity(0)))


def record(name, cmd, env=None):
    data = W.join(name + ".data")
    p = run(["taskset", "-c", pin_cpu(), ITERPROF, "record", "-q", "--no-env", "-o", data,
             "--stacks=all", "--stack-cpu-us", "100", "--", *cmd], env=env, timeout=180,
            check=0)
    return data, p


def check_json(name, stacks):
    for frames in stacks:
        expect(frames, f"{name}: a stack without frames")
        for f in frames:
            fn, module = f.get("function"), f.get("module")
            expect(fn is None or (isinstance(fn, str) and fn and fn == fn.strip()
                                  and fn.isprintable()), f"{name}: function {fn!r}: {f}")
            expect(module is None or (isinstance(module, str) and module
                                      and module.isprintable()), f"{name}: module {f}")
            expect(f.get("line") is None or (isinstance(f["line"], int) and f["line"] > 0),
                   f"{name}: line {f}")
            address = int(f["address"], 16)
            expect(0 < address < ADDRESS_LIMIT, f"{name}: address {f['address']}: {f}")
            # a name needs a module to come from (JIT code has none)
            expect(module is not None or fn is None, f"{name}: a name in no module: {f}")


def text_frames(name, data):
    """The frames of the text report's stacks, as shown."""
    lines = run([ITERPROF, "report", data], check=0).stdout.splitlines()
    blocks, k = [], 0
    while k < len(lines):
        if lines[k].strip().startswith("where, by call stacks"):
            indent = len(lines[k]) - len(lines[k].lstrip())
            block = [lines[k].strip()]
            k += 1
            while k < len(lines) and len(lines[k]) - len(lines[k].lstrip()) > indent:
                block.append(lines[k].strip())
                k += 1
            blocks.append(" ".join(block))
        else:
            k += 1
    frames = []
    for block in blocks:
        expect(block.isprintable(), f"{name}: unprintable text: {block!r}")
        entries = ENTRY.findall(block)
        expect(entries, f"{name}: no stack in {block!r}")
        for _, stack in entries:
            shown = stack.split(" \u2190 ")
            if shown[-1] == "\u2026":
                shown.pop()
            frames += shown
    return frames


def check_text(name, frames):
    expect(frames, f"{name}: the text report shows no stack")
    for f in frames:
        m = NAMED_LOCATION.match(f)
        ok = (f == "[unknown]" or MODULE_OFFSET.match(f) or MODULE_ONLY.match(f)
              or (m and m.group("name").strip() == m.group("name")))
        expect(ok, f"{name}: text frame {f!r} is not a name, [unknown], [module] or "
               f"[module+0x...]")
        m = MODULE_OFFSET.match(f)
        if m:
            expect(int(m.group("offset"), 16) < 1 << 40, f"{name}: absurd offset: {f!r}")


def flame_frames(name, data):
    p = run([ITERPROF, "report", "--flame", "all", data], check=0)
    frames = []
    for line in p.stdout.splitlines():
        stack, _, count = line.rpartition(" ")
        expect(count.isdigit() and stack, f"{name}: folded line {line!r}")
        parts = stack.split(";")
        expect(parts[0] == "step", f"{name}: folded line {line!r}")
        frames += parts[1:]
    expect(frames, f"{name}: --flame all is empty")
    for f in frames:
        expect(f and f.isprintable() and " " not in f
               and (not f.startswith("[") or f == "[unknown]" or MODULE_ONLY.match(f)),
               f"{name}: folded frame {f!r}")
    return frames


def check_all(name, data):
    stacks, error = cause_stacks(data)
    if stacks is None:
        print(f"skip: {name}: stacks unavailable: {error}")
        return None
    check_json(name, stacks)
    text = text_frames(name, data)
    check_text(name, text)
    folded = flame_frames(name, data)
    named = {f["function"] for s in stacks for f in s if f.get("function")}
    print(f"{name}: {len(stacks)} stacks, {len(named)} names; text {len(text)} frames, "
          f"{text.count('[unknown]')} [unknown]; folded {len(folded)} frames, "
          f"{folded.count('[unknown]')} [unknown]")
    expect(START & (named | set(folded)),
           f"{name}: none of {sorted(START)} named: JSON {sorted(named)[:30]}")
    return stacks, text, folded


def test_python_interpreter():
    path = W.join("work.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(PY_SCRIPT).lstrip())
    env = {"PYTHONPATH": os.path.join(SOURCE, "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    bare = run([sys.executable, path], env=env, timeout=120, check=0)
    data, p = record("python", [sys.executable, "-m", "iterprof.run", "--region", "step",
                                "work:work", path], env=env)
    expect(p.stdout == bare.stdout, f"python: output differs: {p.stdout!r} {bare.stdout!r}")
    check_all("python", data)


def test_luajit_machine_code():
    luajit = shutil.which("luajit")
    if not luajit:
        print("skip: no luajit on PATH (scripts/deps-jit installs luajit)")
        return
    path = W.join("loop.lua")
    with open(path, "w") as f:
        f.write(textwrap.dedent(LUA_SCRIPT).lstrip())
    data, p = record("luajit", [luajit, path, "150"])
    expect(p.stdout.split()[-1] == "true", f"luajit: markers not found: {p.stdout!r}")
    got = check_all("luajit", data)
    if not got:
        return
    stacks, text, folded = got
    # the compiled loop runs in anonymous memory: its samples are unknown
    unknown = [f for s in stacks for f in s if f.get("function") is None
               and f.get("module") is None]
    expect(unknown, "luajit: no frame with function and module null in JSON")
    expect("[unknown]" in text, f"luajit: no [unknown] in the text report: {text[:40]}")
    expect("[unknown]" in folded, "luajit: no [unknown] in --flame all")


if __name__ == "__main__":
    main([test_python_interpreter, test_luajit_machine_code], workdir=W)

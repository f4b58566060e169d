#!/usr/bin/env python3
"""`iterprof diff` pairs regions by the process command, then by name alone.

Each recording runs a shell script that starts several processes with the
same region name ("step"): tests/programs/inject and copies of it under
other file names (the command is the executable's file name). Only one
process's work is doubled in CURRENT; the diff must pair each process with
its own counterpart (by command, and by occurrence for the same command
twice), so that the doubled one, and only it, is a regression. A region left
over under one name on each side pairs by its name alone, whatever the
command; under a name two processes share it does not.

A threshold of 20 % is used throughout: this test is about which streams
are compared, not about the smallest change found; the same work runs up to
~8 % faster or slower from one run to the next on these VMs (doc/diff.md,
Limits), and twice the work is +100 %."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ITERPROF, Workdir, attempts, expect, main, program, record,  # noqa: E402
                     run)

W = Workdir()
CPU = str(max(os.sched_getaffinity(0)))
UNITS = 3000000  # ~0.8 ms of busy work an iteration here
N = 100
THRESHOLD = "20"
CHANGED = ("regression", "improvement")


def copy_of_inject(name):
    """tests/programs/inject under another file name: another command."""
    path = W.join(name)
    if not os.path.exists(path):
        shutil.copy2(program("inject"), path)
    return path


def record_script(name, steps):
    """Record, pinned to one CPU, a shell script running STEPS in order,
    each (executable, units): N iterations of region "step". Returns the
    recording's path."""
    out = W.join(name)
    script = "; ".join(f"{exe} -n {N} --units {units} >/dev/null" for exe, units in steps)
    record(out, ["taskset", "-c", CPU, "sh", "-c", "set -e; " + script], options=["-q"],
           timeout=240)
    return out


def diff_json(base, current, check=0):
    p = run([ITERPROF, "diff", "--format", "json", "--threshold", THRESHOLD, base, current],
            check=check, timeout=120)
    doc = json.loads(p.stdout)
    for pair in doc["pairs"]:
        print(f"  {pair['base']['command']} pid {pair['base']['pid']} -> "
              f"{pair['current']['command']} pid {pair['current']['pid']}: {pair['verdict']}: "
              f"{pair['evidence']}")
    return doc


def by_command(doc):
    pairs = {}
    for p in doc["pairs"]:
        expect(p["region"] == "step", f"region {p['region']}")
        expect(p["command"] == p["current"]["command"],
               f"the pair's command is the current run's: {p['command']}")
        pairs.setdefault(p["command"], []).append(p)
    return pairs


def test_pairs_by_command():
    attempts(check_by_command, 4)


def check_by_command(attempt):
    inject, other = program("inject"), copy_of_inject("inject-other")
    base = record_script("two" + attempt, [(inject, UNITS), (other, UNITS)])
    # the other order in CURRENT: pairing by position would compare each
    # process with the wrong one
    current = record_script("two-doubled" + attempt, [(other, 2 * UNITS), (inject, UNITS)])
    doc = diff_json(base, current)
    pairs = by_command(doc)
    expect(sorted(pairs) == ["inject", "inject-other"] and doc["unpaired"] == [],
           f"pairs {sorted(pairs)}, unpaired {doc['unpaired']}")
    same, doubled = pairs["inject"][0], pairs["inject-other"][0]
    for p in (same, doubled):
        expect(p["base"]["command"] == p["current"]["command"],
               f"paired {p['base']['command']} with {p['current']['command']}")
    # the work measure tells the pairs apart whatever the machine did
    # (on-CPU time does not count the time other tasks took the CPU)
    expect(0.6 <= doubled["work"]["change"] <= 1.5 and abs(same["work"]["change"]) < 0.2,
           f"work: doubled {doubled['work']}, same {same['work']}")
    expect(doubled["verdict"] == "regression",
           f"the doubled process: {doubled['verdict']}, {doubled['change']}")
    expect(same["verdict"] not in CHANGED, f"the same process: {same['verdict']}")
    expect(doc["verdicts"]["regression"] == 1, f"verdicts {doc['verdicts']}")


def test_pairs_by_occurrence():
    attempts(check_by_occurrence, 4)


def check_by_occurrence(attempt):
    inject = program("inject")
    base = record_script("twice" + attempt, [(inject, UNITS), (inject, UNITS)])
    current = record_script("twice-second-doubled" + attempt,
                            [(inject, UNITS), (inject, 2 * UNITS)])
    doc = diff_json(base, current)
    pairs = by_command(doc).get("inject", [])
    expect(len(pairs) == 2 and doc["unpaired"] == [],
           f"{len(pairs)} pairs, unpaired {doc['unpaired']}")
    # the k-th process of the command with the k-th: the processes in the
    # order of their pids (sequential here)
    base_pids = sorted(p["base"]["pid"] for p in pairs)
    current_pids = sorted(p["current"]["pid"] for p in pairs)
    for p in pairs:
        expect(base_pids.index(p["base"]["pid"]) == current_pids.index(p["current"]["pid"]),
               f"pid {p['base']['pid']} paired with pid {p['current']['pid']}")
    first = next(p for p in pairs if p["current"]["pid"] == current_pids[0])
    second = next(p for p in pairs if p["current"]["pid"] == current_pids[1])
    expect(0.6 <= second["work"]["change"] <= 1.5 and abs(first["work"]["change"]) < 0.2,
           f"work: second {second['work']}, first {first['work']}")
    expect(second["verdict"] == "regression",
           f"the second, doubled: {second['verdict']}, {second['change']}")
    expect(first["verdict"] not in CHANGED,
           f"the first, the same: {first['verdict']}, {first['change']}")


def test_pairs_by_name_alone():
    attempts(check_by_name, 4)


def check_by_name(attempt):
    inject, renamed = program("inject"), copy_of_inject("inject-renamed")
    base = record_script("one" + attempt, [(inject, UNITS)])
    current = record_script("renamed-doubled" + attempt, [(renamed, 2 * UNITS)])
    # the command differs, the region is the only "step" on each side
    doc = diff_json(base, current)
    expect(len(doc["pairs"]) == 1 and doc["unpaired"] == [],
           f"pairs {len(doc['pairs'])}, unpaired {doc['unpaired']}")
    p = doc["pairs"][0]
    expect(p["command"] == "inject-renamed" and p["base"]["command"] == "inject"
           and p["current"]["command"] == "inject-renamed",
           f"commands {p['base']['command']} -> {p['current']['command']}")
    expect(0.6 <= p["work"]["change"] <= 1.5 and p["verdict"] == "regression",
           f"twice the work under another name: {p['verdict']}, {p['work']}")
    # the text names the current command and says nothing is left over
    text = run([ITERPROF, "diff", "--threshold", THRESHOLD, base, current], check=0).stdout
    expect("step (inject-renamed, thread " in text and "only in" not in text, f"text:\n{text}")


def test_name_alone_must_be_unique():
    # no timing involved: which streams pair, not how they compare
    inject, other = program("inject"), copy_of_inject("inject-other")
    renamed = copy_of_inject("inject-renamed")
    two = record_script("two-of-a-name", [(inject, UNITS), (other, UNITS)])
    one = record_script("renamed", [(renamed, UNITS)])
    # "step" twice in the base, once in the current under a third command:
    # which of the two it is cannot be told, so nothing pairs
    p = run([ITERPROF, "diff", two, one], check=2)
    expect(p.stdout == "" and p.stderr.count("\n") == 1 and "no region" in p.stderr,
           f"ambiguous name: {p.stderr!r}")
    # one of the base's commands also in the current: that one pairs by
    # command, the other is left over and listed
    mixed = record_script("inject-and-renamed", [(inject, UNITS), (renamed, UNITS)])
    doc = diff_json(two, mixed)
    cmds = sorted((p["base"]["command"], p["current"]["command"]) for p in doc["pairs"])
    left = sorted((u["side"], u["command"]) for u in doc["unpaired"])
    # inject pairs with inject; then "step" is left once on each side
    # (inject-other, inject-renamed): it pairs by name alone
    expect(cmds == [("inject", "inject"), ("inject-other", "inject-renamed")] and left == [],
           f"pairs {cmds}, unpaired {left}")
    # with a third process in the base nothing is unique any more
    three = record_script("three", [(inject, UNITS), (other, UNITS), (other, UNITS)])
    doc = diff_json(three, mixed)
    cmds = sorted((p["base"]["command"], p["current"]["command"]) for p in doc["pairs"])
    left = sorted((u["side"], u["command"]) for u in doc["unpaired"])
    expect(cmds == [("inject", "inject")] and
           left == [("base", "inject-other"), ("base", "inject-other"),
                    ("current", "inject-renamed")],
           f"pairs {cmds}, unpaired {left}")
    text = run([ITERPROF, "diff", three, mixed], check=0).stdout
    expect(text.count("only in base: step (inject-other, pid ") == 2 and
           "only in current: step (inject-renamed, pid " in text, f"text:\n{text}")


if __name__ == "__main__":
    main([test_pairs_by_command, test_pairs_by_occurrence, test_pairs_by_name_alone,
          test_name_alone_must_be_unique], W)

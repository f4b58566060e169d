#!/usr/bin/env python3
"""iterprof record: options, command checks, output directory, exit status.

What a user sees before and after the command runs. None of this depends on
what the shim records, only on it loading (the summary line)."""
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program, record, run  # noqa: E402

W = Workdir()


def stderr_lines(p):
    return [line for line in p.stderr.splitlines() if line]


def compile_c(name, source, flags):
    """Compile SOURCE with cc FLAGS into the work dir; None if cc refuses
    (e.g. no static libc installed)."""
    src = W.join(name + ".c")
    with open(src, "w") as f:
        f.write(source)
    out = W.join(name)
    p = subprocess.run(["cc", *flags, "-o", out, src], capture_output=True)
    return out if p.returncode == 0 else None


def test_help():
    p = run([ITERPROF, "record", "--help"], check=0)
    expect(p.stdout.startswith("usage: iterprof record"), p.stdout)
    for word in ("iterprof_iter_begin", "iterprof_iter_end", "--force",
                 "--no-follow", "--sched", "exit status", "128+N"):
        expect(word in p.stdout, f"--help does not mention {word}")
    expect(p.stderr == "", p.stderr)
    run([ITERPROF, "record", "-h"], check=0)


def test_usage_errors():
    for args in (["--bogus", "true"], ["-x", "true"], ["--sched=sometimes", "true"],
                 ["-o"], []):
        p = run([ITERPROF, "record", *args], check=2)
        lines = stderr_lines(p)
        expect(len(lines) == 1 and lines[0].startswith("iterprof: "),
               f"{args}: want one error line, got {p.stderr!r}")
    p = run([ITERPROF, "record", "--frobnicate", "true"], check=2)
    expect("--frobnicate" in p.stderr, p.stderr)


def test_options_stop_at_command():
    # "-q" after the command belongs to the command, not to iterprof.
    out = W.join("stop.data")
    p = run([ITERPROF, "record", "-o", out, program("rec_env"), "-q", "--force"],
            check=0)
    expect("argc=3" in p.stdout, p.stdout)
    expect("iterprof: recorded" in p.stderr, "-q after the command was taken "
           "as an option: " + p.stderr)


def test_command_not_found():
    out = W.join("nf.data")
    p = record(out, ["iterprof-no-such-command-xyz"], check=127)
    expect(stderr_lines(p) == ["iterprof: iterprof-no-such-command-xyz: "
                               "command not found"], p.stderr)
    p = record(out, ["./no/such/file"], check=127)
    expect(len(stderr_lines(p)) == 1, p.stderr)
    expect(not os.path.exists(out), "output created for a command not found")


def test_not_executable():
    out = W.join("nx.data")
    path = W.join("plain-file")
    with open(path, "w") as f:
        f.write("echo hi\n")
    os.chmod(path, 0o644)
    p = record(out, [path], check=126)
    expect(len(stderr_lines(p)) == 1 and "permission denied" in p.stderr, p.stderr)
    p = record(out, [W.path], check=126)
    expect("is a directory" in p.stderr, p.stderr)
    expect(not os.path.exists(out), "output created for a non-executable")


def test_static_binaries_refused():
    src = "int main(void) { return 0; }\n"
    tried = 0
    for name, flags in (("static", ["-static"]), ("static-pie", ["-static-pie"])):
        exe = compile_c(name, src, flags)
        if exe is None:
            print(f"  (skipped {name}: cc {' '.join(flags)} failed)")
            continue
        tried += 1
        out = W.join(name + ".data")
        p = record(out, [exe], check=126)
        lines = stderr_lines(p)
        expect(len(lines) == 1 and "statically linked" in lines[0]
               and exe in lines[0], f"{name}: {p.stderr!r}")
        expect(not os.path.exists(out), f"{name}: output created")
        # A script whose interpreter is static is refused the same way.
        script = W.join(name + ".sh")
        with open(script, "w") as f:
            f.write(f"#!{exe}\n")
        os.chmod(script, 0o755)
        p = record(out, [script], check=126)
        expect("interpreter" in p.stderr and "statically linked" in p.stderr,
               p.stderr)
    expect(tried > 0 or shutil.which("cc") is None, "no static binary could be built")


def test_setuid_refused():
    for bit, word in ((stat.S_ISUID, "set-user-ID"), (stat.S_ISGID, "set-group-ID")):
        copy = W.join("suid-copy")
        shutil.copy(program("rec_exit"), copy)
        os.chmod(copy, 0o755 | bit)
        if not os.stat(copy).st_mode & bit:
            print(f"  (skipped {word}: the file system dropped the bit)")
            continue
        p = record(W.join("suid.data"), [copy], check=126)
        expect(len(stderr_lines(p)) == 1 and word in p.stderr, p.stderr)
        os.unlink(copy)


def test_missing_program_interpreter():
    # A dynamic binary whose PT_INTERP names a loader that does not exist
    # (as a binary built for musl on glibc): 127 like a shell, not a
    # mysterious exec failure.
    copy = W.join("bad-interp")
    data = bytearray(open(program("rec_exit"), "rb").read())
    i = data.find(b"/ld-")
    expect(i > 0, "no loader path found in rec_exit")
    data[i:i + 4] = b"/zz-"
    with open(copy, "wb") as f:
        f.write(data)
    os.chmod(copy, 0o755)
    p = record(W.join("bi.data"), [copy], check=127)
    expect("program interpreter" in p.stderr, p.stderr)


def test_exec_failure_in_child():
    # A file that passes the checks but that the kernel refuses (ELF for
    # another machine): the child reports it once, the launcher exits 126
    # and leaves no empty recording behind.
    copy = W.join("foreign-elf")
    data = bytearray(open(program("rec_exit"), "rb").read())
    machine = int.from_bytes(data[18:20], "little")
    data[18:20] = (0xB7 if machine != 0xB7 else 0x3E).to_bytes(2, "little")
    with open(copy, "wb") as f:
        f.write(data)
    os.chmod(copy, 0o755)
    out = W.join("foreign.data")
    p = record(out, [copy], check=126)
    lines = stderr_lines(p)
    expect(len(lines) == 1 and "cannot execute" in lines[0], p.stderr)
    expect(not os.path.exists(out), "empty recording left behind")


def test_shebang_script():
    script = W.join("run-markers.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n{program('rec_markers')} 200\nexit 7\n")
    os.chmod(script, 0o755)
    plain = run([program("rec_markers"), "200"], check=0)
    p = record(W.join("script.data"), [script], check=7)
    expect(p.stdout == plain.stdout, "script output differs under record")
    expect("iterprof: recorded" in p.stderr, p.stderr)
    # A file without "#!" is run by /bin/sh, as a shell would.
    bare = W.join("bare.sh")
    with open(bare, "w") as f:
        f.write("echo bare-ok\nexit 4\n")
    os.chmod(bare, 0o755)
    p = record(W.join("bare.data"), [bare], check=4)
    expect(p.stdout == "bare-ok\n", p.stdout)


def test_path_search_and_argv0():
    env = {"PATH": os.path.dirname(program("rec_env")) + ":" + os.environ.get("PATH", "")}
    p = record(W.join("argv0.data"), ["rec_env", "a", "b"], env=env, check=0)
    expect("argv0=rec_env\n" in p.stdout and "argc=3" in p.stdout, p.stdout)


def test_environment():
    out = W.join("env.data")
    p = record(out, [program("rec_env")], check=0,
               env={"ITERPROF_VERBOSE": "1", "ITERPROF_FOLLOW": "0"})
    env = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    expect(env["LD_PRELOAD"].endswith("/libiterprof.so")
           and os.path.isabs(env["LD_PRELOAD"]), env["LD_PRELOAD"])
    expect(env["ITERPROF_OUTPUT"] == os.path.realpath(out), env["ITERPROF_OUTPUT"])
    expect(env["ITERPROF_SCHED"] == "auto", env["ITERPROF_SCHED"])
    # Stray variables from the user's shell do not change the recording.
    expect("ITERPROF_VERBOSE unset" in p.stdout, p.stdout)
    expect("ITERPROF_FOLLOW unset" in p.stdout, p.stdout)

    p = record(W.join("env2.data"), [program("rec_env")],
               options=["--no-follow", "--sched=always", "-v"], check=0,
               env={"LD_PRELOAD": "/nonexistent/libother.so"})
    env = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    shim, other = env["LD_PRELOAD"].split(":")
    expect(shim.endswith("/libiterprof.so") and other == "/nonexistent/libother.so",
           env["LD_PRELOAD"])
    expect(env["ITERPROF_FOLLOW"] == "0", p.stdout)
    expect(env["ITERPROF_SCHED"] == "always", p.stdout)
    expect(env["ITERPROF_VERBOSE"] == "1", p.stdout)
    p = record(W.join("env3.data"), [program("rec_env")], options=["--sched=off"])
    expect("ITERPROF_SCHED=off" in p.stdout, p.stdout)


def test_exit_status_passthrough():
    for status in (0, 1, 3, 42, 255):
        record(W.join(f"exit{status}.data"), [program("rec_exit"), str(status)],
               check=status)
    # Killed by signal N: 128+N, like a shell.
    record(W.join("term.data"), [program("rec_exit"), "0", "15"], check=143)
    record(W.join("kill.data"), [program("rec_exit"), "0", "9"], check=137)


def test_status_kept_with_sigchld_ignored():
    # Started with SIGCHLD ignored, the kernel would reap the child itself
    # and its status would be lost.
    import signal
    p = subprocess.run([ITERPROF, "record", "-q", "-o", W.join("chld.data"),
                        program("rec_exit"), "7"], capture_output=True, text=True,
                       timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    expect(p.returncode == 7, f"exit {p.returncode}: {p.stderr}")


def test_existing_output():
    out = W.join("exists.data")
    record(out, [program("rec_exit"), "0"], check=0)
    p = record(out, [program("rec_exit"), "0"], check=2)
    expect(stderr_lines(p) == [f"iterprof: {out}: already exists (use --force to "
                               "replace it, or -o to choose another path)"], p.stderr)
    old = set(os.listdir(out))
    expect(old and all(re.fullmatch(r"iterprof-\d+(\.\d+)?\.trace", n) or
                       n == "iterprof-env.timeline" for n in old), f"unexpected files {old}")
    record(out, [program("rec_exit"), "0"], options=["--force"], check=0)
    new = set(os.listdir(out))
    traces = {n for n in old if n.endswith(".trace")}
    expect(new and traces and not (traces & new), f"--force kept old traces: {old} -> {new}")


def test_force_refuses_foreign_files():
    out = W.join("mixed.data")
    os.mkdir(out)
    for name in ("iterprof-1.trace", "notes.txt"):
        with open(os.path.join(out, name), "w") as f:
            f.write("keep me\n")
    p = record(out, [program("rec_exit"), "0"], options=["--force"], check=2)
    expect(len(stderr_lines(p)) == 1 and "notes.txt" in p.stderr, p.stderr)
    expect(sorted(os.listdir(out)) == ["iterprof-1.trace", "notes.txt"],
           "--force deleted something while refusing")
    # A symlink named like a trace is not a trace: its target must survive.
    linkdir = W.join("link.data")
    os.mkdir(linkdir)
    precious = W.join("precious")
    with open(precious, "w") as f:
        f.write("x")
    os.symlink(precious, os.path.join(linkdir, "iterprof-2.trace"))
    record(linkdir, [program("rec_exit"), "0"], options=["--force"], check=2)
    expect(os.path.exists(precious), "symlink target deleted")
    # A regular file is never replaced.
    afile = W.join("a-file")
    with open(afile, "w") as f:
        f.write("data\n")
    record(afile, [program("rec_exit"), "0"], options=["--force"], check=2)
    expect(open(afile).read() == "data\n", "file replaced")


def test_stdout_unchanged():
    plain = run([program("rec_markers"), "500"], check=0)
    p = record(W.join("stdout.data"), [program("rec_markers"), "500"], check=0)
    expect(p.stdout == plain.stdout, "stdout differs under record")
    expect(plain.stdout.count("\n") == 6, plain.stdout)


def test_summary_and_quiet():
    p = record(W.join("summary.data"), [program("rec_markers"), "100"], check=0)
    lines = [line for line in stderr_lines(p) if line.startswith("iterprof: recorded")]
    expect(len(lines) == 1 and re.match(
        r"iterprof: recorded \d+ process(es)?, \d+ threads?, \d+ regions?, "
        r"\d+ iterations? in .*summary\.data", lines[0]), p.stderr)
    expect("iterprof" not in p.stdout, "launcher wrote on stdout")
    p = record(W.join("quiet.data"), [program("rec_markers"), "100"],
               options=["-q"], check=0)
    expect(p.stderr == "", f"-q still printed: {p.stderr!r}")


def test_no_shim_found():
    # The shim is looked up next to the executable; a copy of iterprof in a
    # directory without ../lib/iterprof says so and exits 1.
    bindir = W.join("lonely", "bin")
    os.makedirs(bindir)
    copy = os.path.join(bindir, "iterprof")
    shutil.copy(ITERPROF, copy)
    env = {"ITERPROF_SHIM_PATH": ""}
    p = run([copy, "record", "-o", W.join("lonely.data"), program("rec_exit")],
            env=env, check=1)
    expect(len(stderr_lines(p)) == 1 and "cannot find the shim" in p.stderr, p.stderr)


if __name__ == "__main__":
    main([test_help, test_usage_errors, test_options_stop_at_command,
             test_command_not_found, test_not_executable,
             test_static_binaries_refused, test_setuid_refused,
             test_missing_program_interpreter, test_exec_failure_in_child,
             test_shebang_script, test_path_search_and_argv0, test_environment,
             test_exit_status_passthrough, test_status_kept_with_sigchld_ignored,
             test_existing_output,
             test_force_refuses_foreign_files, test_stdout_unchanged,
             test_summary_and_quiet, test_no_shim_found], workdir=W)

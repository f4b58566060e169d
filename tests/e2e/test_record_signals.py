#!/usr/bin/env python3
"""iterprof record: signals reach the command once, and the launcher never
hangs or returns early.

A signal another process sends to the launcher is forwarded to the command;
a signal the terminal sends reaches the command directly through the shared
process group and must not be forwarded a second time."""
import os
import pty
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ITERPROF, Workdir, expect, main, program  # noqa: E402

W = Workdir()


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def launch(name, args, options=()):
    return subprocess.Popen(
        [ITERPROF, "record", "-q", "-o", W.join(name + ".data"), *options, "--",
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, timeout=30):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("launcher hung")
    return p.returncode, out, err


def signal_wait(name):
    """Start rec_signal_wait under record; return (popen, result path)."""
    ready, result = W.join(name + ".ready"), W.join(name + ".result")
    p = launch(name, [program("rec_signal_wait"), ready, result])
    wait_for(lambda: os.path.exists(ready) or p.poll() is not None, "ready file")
    if p.poll() is not None:
        raise AssertionError(f"exited early: {finish(p)}")
    return p, result


def test_kill_term_reaches_child():
    p, result = signal_wait("term")
    os.kill(p.pid, signal.SIGTERM)
    status, out, err = finish(p)
    expect(status == 0, f"exit {status}: {err}")
    expect(open(result).read() == "INT 0 USR1 0 HUP 0 TERM 1\n", open(result).read())


def test_other_signals_forwarded_once():
    p, result = signal_wait("usr1")
    for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT):
        os.kill(p.pid, sig)
        time.sleep(0.1)  # standard signals coalesce: send them one by one
    os.kill(p.pid, signal.SIGTERM)
    status, out, err = finish(p)
    expect(status == 0, f"exit {status}: {err}")
    expect(open(result).read() == "INT 1 USR1 1 HUP 1 TERM 1\n", open(result).read())


def test_unhandled_signal_kills_with_128_plus_n():
    # rec_stop stops itself; SIGTERM sent to the launcher kills it (default
    # action applies to a stopped process after SIGCONT only, so continue).
    pidfile = W.join("unhandled.pid")
    p = launch("unhandled", [program("rec_stop"), pidfile])
    wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().endswith("\n"),
             "pid file")
    os.kill(p.pid, signal.SIGTERM)
    os.kill(p.pid, signal.SIGCONT)
    status, out, err = finish(p)
    expect(status == 128 + signal.SIGTERM, f"exit {status}: {err}")


def process_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_stopped_child_does_not_end_the_wait():
    pidfile = W.join("stop.pid")
    p = launch("stop", [program("rec_stop"), pidfile])
    wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().endswith("\n"),
             "pid file")
    child = int(open(pidfile).read())
    wait_for(lambda: process_state(child) == "T", "child to stop")
    time.sleep(0.2)
    expect(p.poll() is None, "launcher returned while the child was stopped")
    # SIGCONT sent to the launcher is forwarded and wakes the child.
    os.kill(p.pid, signal.SIGCONT)
    status, out, err = finish(p)
    expect(status == 5, f"exit {status}: {err}")


def test_terminal_interrupt_not_doubled():
    # Under a pseudo-terminal, ^C makes the terminal send SIGINT to the whole
    # foreground process group: the command gets it once, from the kernel,
    # and the launcher must not forward its own copy.
    ready, result = W.join("tty.ready"), W.join("tty.result")
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execv(ITERPROF, [ITERPROF, "record", "-q", "-o", W.join("tty.data"),
                                "--", program("rec_signal_wait"), ready, result])
        finally:
            os._exit(99)
    try:
        wait_for(lambda: os.path.exists(ready), "ready file")
        os.write(master, b"\x03")
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:
            # Drain the terminal so the launcher never blocks writing to it.
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    os.read(master, 4096)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("launcher hung under a terminal")
    finally:
        os.close(master)
    expect(os.waitstatus_to_exitcode(status) == 0, f"status {status}")
    expect(open(result).read() == "INT 1 USR1 0 HUP 0 TERM 1\n", open(result).read())


if __name__ == "__main__":
    main([test_kill_term_reaches_child, test_other_signals_forwarded_once,
             test_unhandled_signal_kills_with_128_plus_n,
             test_stopped_child_does_not_end_the_wait,
             test_terminal_interrupt_not_doubled], workdir=W)

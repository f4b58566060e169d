"""Scenario drivers for the environment tests: known disturbances of a
running benchmark, made from outside it (standard library only).

Each driver is a context manager. Its `skip_reason` is None when this
machine can make the disturbance, else one line saying why not (check it
before entering; entering a driver that cannot work raises RuntimeError with
that line). Leaving the `with` block undoes everything the driver changed,
also after an exception: processes it started are killed, cgroups removed,
sysfs settings restored. A test killed by SIGTERM, SIGINT or SIGHUP unwinds
too (install_signal_handlers); after a SIGKILL the next driver of the same
kind repairs what the dead one left (a cgroup named iterprof-noise-<dead
pid>, the original rps_cpus saved in a file under /run).

    CpuQuotaCgroup(quota_us, period_us)   a cgroup with a CPU quota
    SoftirqFlood(cpu)                     NET_RX softirqs on CPU `cpu`
    SigStopper(pid, stop_ms, every_ms, count)   SIGSTOP/SIGCONT from outside
    HogProcess(cpu, duty)                 another process spinning on `cpu`
    Tracefs()                             tracefs mounted (for the irq
                                          tracepoints the shim counts)
    Sampler(fn, interval)                 fn() sampled in a thread (ground
                                          truth: a cgroup's cpu.stat)

Times the drivers log (SoftirqFlood.bursts, SigStopper.windows) are
CLOCK_MONOTONIC nanoseconds (time.monotonic_ns), the clock of the trace
(its processes' clock_id 1), so they can be laid over the iterations:
process start_ns + per_iteration start_ns.

What was measured on the project's 2-vCPU VMs (Debian 12, kernel 6.18,
cgroup v1 cpu controller, no IRQ time accounting) is with each driver.
"""
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

PROGRAMS = os.environ.get("ITERPROF_PROGRAMS", "")
CGROUP_ROOT = "/sys/fs/cgroup"
TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
RPS_FILE = "/sys/class/net/lo/queues/rx-0/rps_cpus"
RPS_SAVED = "/run/iterprof-noise-rps_cpus.orig"
LOCK_DIR = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
NAME_PREFIX = "iterprof-noise-"


def _read(path):
    with open(path) as f:
        return f.read()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_process(p, timeout=5.0):
    """SIGTERM, then SIGKILL: end a Popen this module started, and reap it."""
    if p is None or p.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, timeout)):
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _raise_exit(signum, frame):  # noqa: ARG001 - signal handler signature
    raise SystemExit(128 + signum)


def install_signal_handlers():
    """Turn SIGTERM, SIGHUP and SIGINT into SystemExit, so that `with`
    blocks unwind and the drivers restore what they changed when the test
    is killed politely (ctest's timeout, a terminal)."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _raise_exit)


class Exclusive:
    """Holds the lock file LOCK_DIR/iterprof-noise-NAME.lock (flock) from
    entering to leaving, waiting up to TIMEOUT seconds for another holder:
    two tests that change the same system setting (rps_cpus), or two runs
    of tests that disturb the machine, one after the other. skip_reason
    after a timeout. The kernel drops the lock when its holder dies."""

    def __init__(self, name, timeout=300.0):
        self.path = os.path.join(LOCK_DIR, f"{NAME_PREFIX}{name}.lock")
        self.timeout = timeout
        self.fd = None
        self.waited = 0.0
        self.skip_reason = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start > self.timeout:
                    os.close(self.fd)
                    self.fd = None
                    self.skip_reason = (f"{self.path} held by another process for "
                                        f"{self.timeout:.0f} s")
                    raise RuntimeError(self.skip_reason) from None
                time.sleep(0.05)
        self.waited = time.monotonic() - start
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None
        return False


def online_cpus():
    """The CPUs this process may run on, sorted."""
    return sorted(os.sched_getaffinity(0))


def other_cpu(cpu):
    """An allowed CPU other than CPU, or None."""
    others = [c for c in online_cpus() if c != cpu]
    return others[0] if others else None


def descendants(pid):
    """Pids of the descendants of PID (children first), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = _read(f"/proc/{p}/task/{t}/children").split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.append(k)
                    todo.append(k)
    return out


def find_descendant(pid, comm, timeout=10.0):
    """The pid of a descendant of PID whose comm is COMM (after its exec),
    waiting up to TIMEOUT seconds; None if none appeared."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in descendants(pid):
            try:
                if _read(f"/proc/{d}/comm").strip() == comm[:15]:
                    return d
            except OSError:
                pass
        time.sleep(0.002)
    return None


def thread_ids(pid):
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def softirqs(kind="NET_RX"):
    """Per-CPU counts of softirq KIND from /proc/softirqs: {cpu: count}."""
    lines = _read("/proc/softirqs").splitlines()
    cpus = [int(c[3:]) for c in lines[0].split()]
    for line in lines[1:]:
        name, *values = line.split()
        if name.rstrip(":") == kind:
            return dict(zip(cpus, map(int, values)))
    return {}


def cpu_stat_times(cpu):
    """/proc/stat times of CPU in USER_HZ ticks: {"user", "system", "irq",
    "softirq", "steal", ...}."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    for line in _read("/proc/stat").splitlines():
        if line.startswith(f"cpu{cpu} "):
            return dict(zip(names, map(int, line.split()[1:9])))
    return {}


# ------------------------------------------------------------------------
# tracefs: the irq tracepoints the shim's `interrupts` counter counts


def tracefs_dir():
    """The mounted tracefs with the irq events, or None."""
    for d in TRACEFS_DIRS:
        if os.path.exists(os.path.join(d, "events/irq/softirq_entry/id")):
            return d
    return None


class Tracefs:
    """Makes tracefs available (mounting it at /sys/kernel/tracing when it
    is not mounted anywhere, and unmounting it at exit): the shim finds
    the irq:irq_handler_entry and irq:softirq_entry tracepoints there.
    skip_reason when not root, or the irq tracepoints do not exist."""

    def __init__(self):
        self.mounted = False
        self.skip_reason = None
        if tracefs_dir():
            return
        if os.geteuid() != 0:
            self.skip_reason = "tracefs is not mounted and mounting it needs root"
        elif not os.path.isdir(TRACEFS_DIRS[0]):
            self.skip_reason = f"{TRACEFS_DIRS[0]} does not exist (kernel without tracefs)"

    def __enter__(self):
        if self.skip_reason:
            raise RuntimeError(self.skip_reason)
        if not tracefs_dir():
            p = subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS_DIRS[0]],
                               capture_output=True, text=True)
            if p.returncode != 0:
                self.skip_reason = f"mount -t tracefs failed: {p.stderr.strip()}"
                raise RuntimeError(self.skip_reason)
            self.mounted = True
            if not tracefs_dir():
                self.__exit__(None, None, None)
                self.skip_reason = "no irq:softirq_entry tracepoint in tracefs"
                raise RuntimeError(self.skip_reason)
        return self

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", TRACEFS_DIRS[0]], capture_output=True)
            self.mounted = False
        return False


# ------------------------------------------------------------------------
# CpuQuotaCgroup


def _cgroup_v2_root():
    """The mount point of a cgroup v2 hierarchy whose cpu controller is
    available (not bound to v1), or None."""
    for root in (CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")):
        try:
            if "cpu" in _read(os.path.join(root, "cgroup.controllers")).split():
                return root
        except OSError:
            pass
    return None


def _cgroup_v1_root():
    for root in (os.path.join(CGROUP_ROOT, "cpu"), os.path.join(CGROUP_ROOT, "cpu,cpuacct")):
        if os.path.exists(os.path.join(root, "cpu.cfs_quota_us")):
            return root
    return None


def _remove_cgroup(path, timeout=5.0):
    """Kill what is left in the cgroup at PATH, wait for it to empty and
    remove it. Returns None, or why it could not."""
    procs = os.path.join(path, "cgroup.procs")
    deadline = time.monotonic() + timeout
    while True:
        try:
            pids = [int(p) for p in _read(procs).split()]
        except FileNotFoundError:
            return None
        except OSError as e:
            return f"{procs}: {e}"
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(path)
            return None
        except FileNotFoundError:
            return None
        except OSError as e:
            if time.monotonic() > deadline:
                return f"rmdir {path}: {e}"
        time.sleep(0.02)


class CpuQuotaCgroup:
    """A cgroup whose processes together get QUOTA_US of CPU time every
    PERIOD_US (CFS bandwidth control), then wait for the next period.

    cgroup v2 when a v2 hierarchy has the cpu controller (a child with
    cpu.max; cpu is enabled in the parent's cgroup.subtree_control for the
    time of the test if it was not), else v1 (cpu.cfs_quota_us,
    cpu.cfs_period_us). The cgroup is a child of the hierarchy's root named
    iterprof-noise-<pid of this test>-<n>.

        with CpuQuotaCgroup(20000, 100000) as cg:
            subprocess.run(cg.run_args(["./bench"]))
            print(cg.stat())   # {"nr_periods", "nr_throttled", "throttled_ns"}

    Measured here (v1): `sh -c 'while :; do :; done'` for 1 s under 20 ms per
    100 ms: 11 periods, 10 throttled, 798 ms throttled."""

    _serial = 0

    def __init__(self, quota_us, period_us=100000):
        self.quota_us, self.period_us = int(quota_us), int(period_us)
        self.path = None
        self.version = None
        self.enabled_cpu_in = None  # parent whose subtree_control we changed
        self.skip_reason = None
        self.root = _cgroup_v2_root()
        if self.root:
            self.version = 2
        else:
            self.root = _cgroup_v1_root()
            self.version = 1 if self.root else None
        if self.version is None:
            self.skip_reason = ("no cgroup cpu controller: neither cgroup v2 with cpu in "
                                "cgroup.controllers nor v1 under /sys/fs/cgroup/cpu")
        elif os.geteuid() != 0 and not os.access(self.root, os.W_OK):
            self.skip_reason = f"cannot create cgroups under {self.root} (not root)"
        elif not 1000 <= self.quota_us or not 1000 <= self.period_us <= 1000000:
            self.skip_reason = "quota and period must be >= 1 ms, the period <= 1 s"

    def _remove_stale(self):
        """Remove cgroups an earlier test left behind when it was killed."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        for name in names:
            if not name.startswith(NAME_PREFIX):
                continue
            try:
                pid = int(name[len(NAME_PREFIX):].split("-")[0])
            except ValueError:
                continue
            if not _pid_alive(pid):
                _remove_cgroup(os.path.join(self.root, name))

    def __enter__(self):
        if self.skip_reason:
            raise RuntimeError(self.skip_reason)
        self._remove_stale()
        CpuQuotaCgroup._serial += 1
        self.path = os.path.join(self.root, f"{NAME_PREFIX}{os.getpid()}-{self._serial}")
        try:
            if self.version == 2:
                control = os.path.join(self.root, "cgroup.subtree_control")
                if "cpu" not in _read(control).split():
                    _write(control, "+cpu")
                    self.enabled_cpu_in = control
                os.mkdir(self.path)
                _write(os.path.join(self.path, "cpu.max"), f"{self.quota_us} {self.period_us}")
            else:
                os.mkdir(self.path)
                _write(os.path.join(self.path, "cpu.cfs_period_us"), str(self.period_us))
                _write(os.path.join(self.path, "cpu.cfs_quota_us"), str(self.quota_us))
        except OSError as e:
            self.__exit__(None, None, None)
            self.skip_reason = f"cannot set up a cgroup with a CPU quota: {e}"
            raise RuntimeError(self.skip_reason) from e
        return self

    def __exit__(self, *exc):
        problems = []
        if self.path:
            why = _remove_cgroup(self.path)
            if why:
                problems.append(why)
            self.path = None
        if self.enabled_cpu_in:
            try:
                _write(self.enabled_cpu_in, "-cpu")
            except OSError as e:  # another cgroup may use it by now
                problems.append(f"{self.enabled_cpu_in}: -cpu: {e}")
            self.enabled_cpu_in = None
        if problems:
            print("noise: CpuQuotaCgroup cleanup: " + "; ".join(problems), file=sys.stderr)
        return False

    def procs_file(self):
        return os.path.join(self.path, "cgroup.procs")

    def run_args(self, args):
        """A command line that moves itself into the cgroup and then execs
        ARGS (the same pid: what is started under it is in the cgroup)."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', self.procs_file(), *args]

    def pids(self):
        try:
            return [int(p) for p in _read(self.procs_file()).split()]
        except OSError:
            return []

    def stat(self):
        """{"nr_periods", "nr_throttled", "throttled_ns"} from cpu.stat (v2
        gives throttled_usec: converted)."""
        values = {}
        for line in _read(os.path.join(self.path, "cpu.stat")).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                values[key] = int(value)
        if "throttled_usec" in values:
            throttled = values["throttled_usec"] * 1000
        else:
            throttled = values.get("throttled_time", 0)
        return {"nr_periods": values.get("nr_periods", 0),
                "nr_throttled": values.get("nr_throttled", 0),
                "throttled_ns": throttled}


# ------------------------------------------------------------------------
# SoftirqFlood


class SoftirqFlood:
    """A storm of NET_RX softirqs on CPU `cpu`, in the context of whatever
    runs there (the benchmark), from processes on another CPU.

    How: Receive Packet Steering for lo is set to CPU's mask
    (/sys/class/net/lo/queues/rx-0/rps_cpus, restored at exit, also by the
    next flood if this test was killed), and tests/programs/udpflood sends
    UDP datagrams over lo from the other CPU to a udpflood receiver on that
    other CPU. Every datagram is queued to CPU's backlog; the sender's CPU
    sends CPU an IPI (a function-call IPI: not an irq:irq_handler_entry
    event) and CPU runs the NET_RX softirq on the way out of it, in the
    interrupted task's context, which delivers the datagrams to the socket
    and wakes the receiver. Without IRQ time accounting in the kernel
    (CONFIG_IRQ_TIME_ACCOUNTING unset here) that time is the task's
    task-clock: on-CPU time only a count of interrupts explains.

    The sender sends one datagram a syscall (BATCH, most IPIs), in bursts
    of ON_MS every ON_MS + OFF_MS (continuously with on_ms=None) for at
    most SECONDS, as SCHED_FIFO (FIFO, a priority; 0: not real-time);
    `bursts()` gives the bursts sent so far as (start_ns, end_ns,
    datagrams; the log file is removed on leaving). The receiver reads (READ=False: it only binds, the socket
    fills and the kernel drops the rest). Both start on entering; the flood
    goes on until exit.

    Measured on the project's 2-vCPU VM (kernel 6.18), a busy thread pinned
    on the target CPU, `perf stat -e irq:softirq_entry -t TID`: 79 softirqs
    in 2 s quiet, 52,787 in 2 s of storm (26,000/s; 26,000-47,000/s in
    other runs); `perf record -e irq:softirq_entry -C 0`: 26,705-43,550
    NET_RX entries a second with the busy thread as `comm`, and ksoftirqd/0
    on the CPU 2-9 ms a second: the softirqs run in the thread's context,
    not in ksoftirqd. /proc/softirqs NET_RX counts the same on both CPUs
    (one raise on the sender's CPU per IPI to the target). Inject's 75 µs
    iterations inside 20 ms bursts took 1.8-3.5 times longer (the median
    over a burst), with 6-16 softirqs each (the shim's irqs + softirqs
    counters), ~0 outside; their task-clock grew as much (no off-CPU time).
    Not every burst does it: without SCHED_FIFO a busy sender CPU made 900-
    2,000 datagrams a burst instead of 3,000-6,000 and most bursts then
    slowed nothing; with it 7-15 of 9-20 bursts a run did, on a machine
    loaded by other jobs. A task sharing the target CPU takes the softirqs
    that hit while it runs (and the time they take counts as its run
    time)."""

    def __init__(self, cpu, on_ms=20, off_ms=180, seconds=120, size=16, batch=1, read=True,
                 fifo=1):
        self.cpu, self.read, self.fifo = cpu, read, fifo
        self.on_ms, self.off_ms, self.seconds, self.size = on_ms, off_ms, seconds, size
        self.batch = batch
        self.sender_cpu = other_cpu(cpu)
        self.receiver = self.sender = None
        self.saved_rps = None
        self.lock = None
        self.port = None
        self.log = None
        self.final_bursts = []
        self.before = self.after = None
        self.skip_reason = None
        self.program = os.path.join(PROGRAMS, "udpflood")
        if os.geteuid() != 0:
            self.skip_reason = "setting rps_cpus of lo needs root"
        elif self.sender_cpu is None:
            self.skip_reason = "needs a second CPU for the sender"
        elif cpu not in online_cpus():
            self.skip_reason = f"CPU {cpu} is not allowed here"
        elif not os.path.exists(RPS_FILE):
            self.skip_reason = f"{RPS_FILE} does not exist (kernel without RPS)"
        elif not os.access(self.program, os.X_OK):
            self.skip_reason = f"{self.program} is not built"

    @staticmethod
    def _mask(cpu):
        # rps_cpus is a hex bitmap in 32-bit groups separated by commas
        bits = 1 << cpu
        groups = []
        while True:
            groups.append(f"{bits & 0xffffffff:08x}")
            bits >>= 32
            if not bits:
                break
        return ",".join(reversed(groups))

    @staticmethod
    def restore_saved():
        """Put back an rps_cpus a killed test left changed (call with the
        rps lock held: then no live flood owns the saved file)."""
        try:
            saved = _read(RPS_SAVED).strip()
        except OSError:
            return
        _, _, value = saved.partition(" ")
        try:
            _write(RPS_FILE, value)
            os.unlink(RPS_SAVED)
        except OSError as e:
            print(f"noise: cannot restore {RPS_FILE} from {RPS_SAVED}: {e}", file=sys.stderr)

    def __enter__(self):
        if self.skip_reason:
            raise RuntimeError(self.skip_reason)
        # one flood at a time: a second would save the first's mask as the
        # original and put it back last
        self.lock = Exclusive("rps")
        self.lock.__enter__()
        try:
            self.restore_saved()
            self.saved_rps = _read(RPS_FILE).strip()
            _write(RPS_SAVED, f"{os.getpid()} {self.saved_rps}\n")
            _write(RPS_FILE, self._mask(self.cpu))
            self.receiver = subprocess.Popen(
                [self.program, "--receive", "--cpu", str(self.sender_cpu),
                 "--seconds", str(self.seconds)] + ([] if self.read else ["--no-read"]),
                stdout=subprocess.PIPE, text=True)
            line = self.receiver.stdout.readline().split()
            if len(line) != 3 or line[:2] != ["udpflood:", "port"]:
                raise RuntimeError(f"udpflood --receive said {line!r}")
            self.port = int(line[2])
            fd, self.log = tempfile.mkstemp(prefix="iterprof-udpflood-bursts-")
            os.close(fd)
            args = [self.program, "--port", str(self.port), "--cpu", str(self.sender_cpu),
                    "--seconds", str(self.seconds), "--size", str(self.size),
                    "--batch", str(self.batch), "--fifo", str(self.fifo), "--log", self.log]
            if self.on_ms:
                args += ["--on-ms", str(self.on_ms), "--off-ms", str(self.off_ms)]
            self.before = softirqs()
            self.sender = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        _kill_process(self.sender)
        self.after = softirqs()
        _kill_process(self.receiver)
        if self.log:
            self.final_bursts = self.bursts()
            try:
                os.unlink(self.log)
            except OSError:
                pass
            self.log = None
        for p in (self.sender, self.receiver):
            if p is not None and p.stdout:
                p.stdout.close()
        if self.saved_rps is not None:
            try:
                _write(RPS_FILE, self.saved_rps)
                os.unlink(RPS_SAVED)
            except OSError as e:
                print(f"noise: cannot restore {RPS_FILE} to {self.saved_rps}: {e}",
                      file=sys.stderr)
            self.saved_rps = None
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None
        return False

    def bursts(self):
        """[(start_ns, end_ns, datagrams)] of the bursts ended so far (all
        of them after leaving)."""
        if not self.log:
            return self.final_bursts
        try:
            lines = _read(self.log).splitlines()
        except OSError:
            return []
        return [tuple(map(int, line.split())) for line in lines if len(line.split()) == 3]

    def net_rx(self):
        """NET_RX softirqs per CPU from entering to leaving (or to now)."""
        after = self.after or softirqs()
        return {c: after[c] - self.before.get(c, 0) for c in after} if self.before else {}


# ------------------------------------------------------------------------
# SigStopper


class SigStopper:
    """Stops process PID with SIGSTOP for STOP_MS, COUNT times, one stop
    every EVERY_MS, the first DELAY_MS after entering, from a thread of this
    process. `windows` lists (stop_ns, cont_ns): when SIGSTOP and SIGCONT
    were sent (CLOCK_MONOTONIC). Leaving waits for the stops to end (or,
    after an exception, cancels the rest) and always sends a final SIGCONT
    if a stop is pending. `errors` lists what went wrong (the process ended
    early).

    Measured here: windows of 30.2-30.8 ms for stop_ms=30. A stopped
    thread switches out voluntarily (a stop is a sleep). The signal is
    taken on the way back to user space, so a stop can land between two
    iterations of the benchmark (in its own code or the shim's syscalls
    there, more often than the time share says: at the end of the shim's
    syscalls): of the stops of 5 per run of inject (72-82 µs iterations,
    6-7 µs between them: 8 % of the time), 8 of 40 landed between
    iterations with the shim reading interrupt counters, 2 of 15 with the
    committed one."""

    def __init__(self, pid, stop_ms=30, every_ms=150, count=5, delay_ms=200):
        self.pid = pid
        self.stop_ms, self.every_ms, self.count, self.delay_ms = stop_ms, every_ms, count, delay_ms
        self.windows = []
        self.errors = []
        self.skip_reason = None if every_ms > stop_ms else "every_ms must exceed stop_ms"
        self._cancel = threading.Event()
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = None

    def _sleep_until(self, t_ns):
        delay = (t_ns - time.monotonic_ns()) / 1e9
        return delay <= 0 or not self._cancel.wait(delay)

    def _run(self):
        start = time.monotonic_ns() + int(self.delay_ms * 1e6)
        for k in range(self.count):
            if not self._sleep_until(start + int(k * self.every_ms * 1e6)):
                return
            try:
                with self._lock:
                    os.kill(self.pid, signal.SIGSTOP)
                    self._stopped = True
                    t_stop = time.monotonic_ns()
                # not cancellable: a stop always lasts its time
                time.sleep(max(0.0, (t_stop + self.stop_ms * 1e6 - time.monotonic_ns()) / 1e9))
                with self._lock:
                    os.kill(self.pid, signal.SIGCONT)
                    self._stopped = False
                    self.windows.append((t_stop, time.monotonic_ns()))
            except ProcessLookupError:
                self.errors.append(f"process {self.pid} gone before stop {k + 1}")
                return

    def __enter__(self):
        if self.skip_reason:
            raise RuntimeError(self.skip_reason)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout=None):
        """Wait until every stop was made (or failed)."""
        if self._thread:
            self._thread.join(timeout)

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self._cancel.set()
        self.wait(30)
        with self._lock:
            if self._stopped:
                try:
                    os.kill(self.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                self._stopped = False
        return False


# ------------------------------------------------------------------------
# HogProcess

_HOG_CODE = r"""
import os, sys, time
cpu, duty = int(sys.argv[1]), float(sys.argv[2])
period, seconds = float(sys.argv[3]), float(sys.argv[4])
os.sched_setaffinity(0, {cpu})
parent = os.getppid()
end = time.monotonic() + seconds
busy = duty * period
t = time.monotonic()
print("ready", flush=True)
while t < end and os.getppid() == parent:
    while time.monotonic() - t < busy:
        pass
    t += period
    rest = t - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    else:
        t = time.monotonic()
"""


class HogProcess:
    """Another process (python3) spinning pinned to CPU: busy DUTY of every
    PERIOD_MS (duty 1.0: all the time), for at most SECONDS; it exits when
    this process dies. WRAP, a function of a command line (e.g.
    CpuQuotaCgroup.run_args), starts it elsewhere.

    Measured here with duty 0.5 and inject on the same CPU: the hog got
    27-36 % of the CPU (EEVDF shares it; the wake-ups after its sleeps
    preempt the benchmark), 70-200 of 10,000 75 µs iterations waited 1-5 ms
    for the CPU (run-delay), preemption 93 % of the slow excess."""

    def __init__(self, cpu, duty=0.5, period_ms=10, seconds=120, wrap=None):
        self.cpu, self.duty, self.period_ms, self.seconds = cpu, duty, period_ms, seconds
        self.wrap = wrap
        self.process = None
        self.skip_reason = None
        if cpu not in online_cpus():
            self.skip_reason = f"CPU {cpu} is not allowed here"
        elif not 0 < duty <= 1:
            self.skip_reason = "duty must be in (0, 1]"

    def __enter__(self):
        if self.skip_reason:
            raise RuntimeError(self.skip_reason)
        args = [sys.executable, "-c", _HOG_CODE, str(self.cpu), str(self.duty),
                str(self.period_ms / 1000), str(self.seconds)]
        if self.wrap:
            args = self.wrap(args)
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            if self.process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"hog process did not start: exit {self.process.poll()}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def cpu_time_ns(self):
        """The hog's CPU time so far (utime + stime, in ns)."""
        try:
            fields = _read(f"/proc/{self.pid}/stat").rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1000000000 // os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc):
        _kill_process(self.process)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        return False


# ------------------------------------------------------------------------
# Sampler


class Sampler:
    """Calls FN every INTERVAL seconds in a thread from entering to leaving
    (once more on leaving): `samples` lists (CLOCK_MONOTONIC ns, value).
    For ground truth during a run, e.g. Sampler(cgroup.stat, 0.005)."""

    def __init__(self, fn, interval=0.005):
        self.fn, self.interval = fn, interval
        self.samples = []
        self.errors = []
        self.skip_reason = None
        self._done = threading.Event()
        self._thread = None

    def _sample(self):
        try:
            value = self.fn()
        except Exception as e:  # noqa: BLE001 - kept for the test to see
            self.errors.append(repr(e))
            return
        self.samples.append((time.monotonic_ns(), value))

    def _run(self):
        while not self._done.is_set():
            self._sample()
            self._done.wait(self.interval)

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self._sample()
        return False

    def at(self, t_ns):
        """The value of the last sample taken at or before T_NS (the first
        sample if none was)."""
        best = self.samples[0][1]
        for t, v in self.samples:
            if t > t_ns:
                break
            best = v
        return best

    def after(self, t_ns):
        """The value of the first sample taken at or after T_NS (the last
        sample if none was)."""
        for t, v in self.samples:
            if t >= t_ns:
                return v
        return self.samples[-1][1]

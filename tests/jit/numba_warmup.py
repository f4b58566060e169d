"""numba warm-up under iterprof: one iteration (region "step") per call of a
numba-compiled function, N calls.

    /usr/bin/python3 numba_warmup.py N [--retype-at K] [--log PATH]

(Debian's python3-numba installs for the system interpreter, /usr/bin/python3.)

kernel() is an @numba.jit(nopython=True) loop over a numpy array of 100,000
numbers (about 100 µs a call once compiled on the project's VMs). numba
compiles it at its first call, for the argument types of that call: iteration
1 runs numba's type inference and LLVM (about 0.2 s), and LLVM's MCJIT maps
the machine code with mmap and makes it executable with
mprotect(PROT_READ|PROT_EXEC) (tests/jit/README.md); later calls with the same
types run the compiled code and compile nothing.

--retype-at K: iteration K calls kernel() with float32 data instead of
float64: numba compiles a second specialisation then, in the middle of the
run (iteration K only; the others keep float64).

The markers are iterprof_iter_begin/end, called through ctypes: the shim
defines them when the script runs under `iterprof record`; without it they
are missing and the script runs without markers.

--log PATH: numba's own account, for the tests: one line per iteration,
"INDEX COMPILED NS": the specialisations numba compiled during the iteration
(growth of kernel.signatures) and the iteration's duration
(time.perf_counter_ns around the markers).
"""
import argparse
import ctypes
import sys
import time

import numba
import numpy as np

SIZE = 100_000


@numba.jit(nopython=True)
def kernel(values):
    total = 0.0
    for i in range(values.shape[0]):
        x = values[i]
        total += x * x / (1.0 + abs(x))
    return total


def markers():
    """iterprof_iter_begin and _end from the process (the shim), or two
    functions that do nothing when the shim is not loaded."""
    process = ctypes.CDLL(None)
    try:
        begin, end = process.iterprof_iter_begin, process.iterprof_iter_end
    except AttributeError:
        return (lambda region: None), (lambda region: None), False
    for f in (begin, end):
        f.argtypes, f.restype = [ctypes.c_char_p], None
    return begin, end, True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="iterations")
    parser.add_argument("--retype-at", type=int, default=0, metavar="K",
                        help="call with float32 data at iteration K (a second compilation)")
    parser.add_argument("--log", metavar="PATH", help="write INDEX COMPILED NS per iteration")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("N must be at least 1")

    begin, end, have_markers = markers()
    data64 = np.random.default_rng(1).random(SIZE) * 2.0 - 1.0
    data32 = data64.astype(np.float32)
    region = b"step"
    log = []
    checksum = 0.0
    for i in range(1, args.n + 1):
        data = data32 if i == args.retype_at else data64
        compiled = len(kernel.signatures)
        t0 = time.perf_counter_ns()
        begin(region)
        checksum += kernel(data)
        end(region)
        t1 = time.perf_counter_ns()
        log.append((i, len(kernel.signatures) - compiled, t1 - t0))

    if args.log:
        with open(args.log, "w") as f:
            f.writelines(f"{i} {c} {ns}\n" for i, c, ns in log)
    print(f"numba_warmup: {args.n} iterations, markers "
          f"{'on' if have_markers else 'off (not under iterprof)'}, "
          f"{len(kernel.signatures)} specialisations, checksum {checksum:.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A numba benchmark that iterprof records without a marker in it.

    /usr/bin/python3 bench.py [--calls N] [--warmup]

classify(values) is an @numba.jit(nopython=True) function: it assigns each of
20,000 numbers (a fixed array, generated from a seed) to the nearest of 16
centroids and returns the sum of the labels. The script calls it N times
(default 300) in a loop and prints what it did. numba compiles classify for
the argument types of its first call, so the first call takes a few hundred
milliseconds of type inference and LLVM, the others about 16 µs. (Why
20,000: its 160 KB stay in the cache. With 100,000 numbers, 800 KB streamed
from memory, the steady median moved between 77 and 100 µs from one run to
the next on the project's shared 2-vCPU VM, and shifted within runs; with
20,000 it stayed at 16 µs.)

--warmup compiles classify before the loop, without calling it:
classify.compile(SIGNATURE) builds exactly the specialisation the first call
would (C-contiguous 1-d float64 array), so the first call of the loop runs
compiled code. Nothing is called on the side: the loop's calls are all the
calls of classify the script makes, with and without --warmup. That first
call is still slower than the others (about 0.1 ms against 16 µs here: all on
the CPU, no page fault, nothing compiled -- classify.signatures does not
grow), which iterprof shows as a one-iteration warm-up, cause first-call.

The function has no iterprof marker. iterprof records every call of it as one
iteration through `python3 -m iterprof.run` (doc/python.md):

    iterprof record -- /usr/bin/python3 -m iterprof.run bench:classify bench.py
    iterprof record -- /usr/bin/python3 -m iterprof.run bench:classify bench.py --warmup

(with the project's python/ directory on PYTHONPATH; ./run does it all).
"""
import argparse
import sys
import time

import numba
import numpy as np

SIZE = 20_000
SEED = 42
CENTROIDS = np.linspace(-1.0, 1.0, 16)  # a global array: numba makes it a constant
SIGNATURE = "(float64[::1],)"           # the type of the measured calls' argument


@numba.jit(nopython=True)
def classify(values):
    total = 0
    for i in range(values.shape[0]):
        x = values[i]
        best = 0
        best_distance = abs(x - CENTROIDS[0])
        for c in range(1, CENTROIDS.shape[0]):
            distance = abs(x - CENTROIDS[c])
            if distance < best_distance:
                best_distance = distance
                best = c
        total += best
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, metavar="N",
                        help="calls of classify to make (default 300)")
    parser.add_argument("--warmup", action="store_true",
                        help="compile classify before the first call (classify.compile)")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")

    values = np.random.default_rng(SEED).uniform(-1.0, 1.0, SIZE)
    compile_ns = 0
    if args.warmup:
        t0 = time.perf_counter_ns()
        classify.compile(SIGNATURE)
        compile_ns = time.perf_counter_ns() - t0
    compiled_before = len(classify.signatures)

    checksum = 0
    durations = []
    for _ in range(args.calls):
        t0 = time.perf_counter_ns()
        checksum += classify(values)
        durations.append(time.perf_counter_ns() - t0)

    compiled = len(classify.signatures) - compiled_before
    rest = sorted(durations[1:]) or durations
    how = (f"warm: compiled before the first call in {compile_ns / 1e6:.0f} ms"
           if args.warmup else "cold: the first call compiles")
    print(f"bench: {args.calls} calls of classify ({how}); first call "
          f"{durations[0] / 1e6:.3f} ms, median of the others {rest[len(rest) // 2] / 1e3:.1f} µs "
          f"(perf_counter_ns around each call); {compiled} specialisation(s) compiled during "
          f"the calls; checksum {checksum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

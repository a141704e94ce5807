"""Benchmark: compile time and memory against function length (both should grow linearly).

    python benchmarks/compile_time.py                  # 625 to 10,000 lines
    python benchmarks/compile_time.py --sizes 100 200  # quicker

Compiles two kinds of straight-line functions of growing length: "fresh",
where each line defines a new name (``v7 = math.sin(v6) * x + v4 * y``: a
sin, two multiplications and an addition, with fan-out), and "rebound",
where every line assigns the same name again (``v = math.sin(v) * x + v * y``),
which makes the namer keep thousands of live ``v_<k>`` apart. For each size
it prints the CPU time (the process's, so the worker thread diffc compiles
in is counted, and other programs' load is not), the time per line, and the
peak memory traced by :mod:`tracemalloc` (in a second compile, since tracing
slows Python down).
"""

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffc  # noqa: E402

SIZES = (625, 1250, 2500, 5000, 10_000)


def source(n: int) -> str:
    lines = ["    v0 = x * y"] + [f"    v{i} = math.sin(v{i - 1}) * x + v{max(i - 3, 0)} * y" for i in range(1, n)]
    return "import math\n\n\ndef f(x, y):\n" + "\n".join(lines) + f"\n    return v{n - 1}\n"


def rebound(n: int) -> str:
    lines = ["    v = x * y"] + ["    v = math.sin(v) * x + v * y"] * (n - 1)
    return "import math\n\n\ndef f(x, y):\n" + "\n".join(lines) + "\n    return v\n"


def measure(text: str) -> tuple[float, int]:
    """(CPU seconds, peak bytes) of compiling ``text``."""
    start = time.process_time()
    diffc.compile_source(text)
    seconds = time.process_time() - start
    tracemalloc.start()
    diffc.compile_source(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="function lengths, in lines")
    args = parser.parse_args(argv)
    print(f"{'kind':<8} {'lines':>6} {'CPU s':>7} {'ms per line':>12} {'peak MB':>8} {'KB per line':>12}")
    for kind, make in (("fresh", source), ("rebound", rebound)):
        per_line = []
        for n in args.sizes:
            seconds, peak = measure(make(n))
            per_line.append(seconds / n * 1e3)
            print(f"{kind:<8} {n:>6} {seconds:>7.2f} {per_line[-1]:>12.3f} {peak / 1e6:>8.1f} {peak / n / 1e3:>12.1f}",
                  flush=True)
        print(f"{kind}: time per line, longest / shortest: {per_line[-1] / per_line[0]:.2f}  (linear: about 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

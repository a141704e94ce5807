"""Benchmark: compile time against function length (it should grow linearly).

    python benchmarks/compile_time.py

Compiles straight-line functions of growing length (each line a sin, two
multiplications and an addition, with fan-out) and prints the time per line.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffc  # noqa: E402


def source(n: int) -> str:
    lines = ["    v0 = x * y"] + [f"    v{i} = math.sin(v{i - 1}) * x + v{max(i - 3, 0)} * y" for i in range(1, n)]
    return "import math\n\n\ndef f(x, y):\n" + "\n".join(lines) + f"\n    return v{n - 1}\n"


def main() -> int:
    print(f"{'lines':>6} {'compile ms':>11} {'us per line':>12}")
    first = None
    for n in (100, 200, 400, 800, 1600):
        text = source(n)
        start = time.perf_counter()
        diffc.compile_source(text)
        elapsed = time.perf_counter() - start
        per_line = elapsed / n * 1e6
        first = first or per_line
        print(f"{n:>6} {elapsed * 1e3:>11.0f} {per_line:>12.0f}")
    print(f"time per line, longest / shortest: {per_line / first:.2f}  (linear growth: about 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

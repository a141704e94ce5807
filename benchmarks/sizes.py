"""Compile time and generated size against function length, for one tool and one length.

    python benchmarks/sizes.py diffc 1000    # prints one JSON line

run.py starts one process per (tool, length) and stops it after its time
limit. The function is straight_line.source(n): n scalar operations with
fan-out. The time covers source text to a callable gradient (diffc:
compile_source + exec; sympy: building the expression, diff, and
lambdify(cse=True)); the size is the generated source's lines and bytes.
The result is checked against the hand-written adjoints at one point, and
the check is reported (it is not timed).
"""

import inspect
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from straight_line import hand_source, source  # noqa: E402

POINT = (0.7, -1.3, 0.4)


def _exec(text, name):
    namespace: dict = {}
    exec(compile(text, f"<{name}>", "exec"), namespace)
    return namespace[name]


def diffc_build(n):
    import diffc

    start = time.perf_counter()
    module = diffc.compile_source(source(n), "chain.py")
    fn = _exec(module.text, "chain_grad")
    return time.perf_counter() - start, fn, module.text


def sympy_build(n):
    import sympy

    start = time.perf_counter()
    symbols = sympy.symbols("x y z")
    namespace = {"math": sympy}
    exec(compile(source(n).replace("import math\n", ""), "<chain>", "exec"), namespace)
    expr = namespace["chain"](*symbols)
    fn = sympy.lambdify(symbols, [sympy.diff(expr, s) for s in symbols], modules="math", cse=True)
    elapsed = time.perf_counter() - start
    return elapsed, fn, inspect.getsource(fn)


def main(argv=None) -> int:
    tool, n = (sys.argv[1:] if argv is None else argv)
    n = int(n)
    elapsed, fn, text = {"diffc": diffc_build, "sympy": sympy_build}[tool](n)
    mine = fn(*POINT)
    ref = _exec(hand_source(n), "chain_hand")(*POINT)
    err = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(mine, ref))
    print(json.dumps({"tool": tool, "ops": n, "compile_s": elapsed, "lines": text.count("\n") + 1,
                      "bytes": len(text.encode()), "rel_err": err}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

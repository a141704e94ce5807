"""Write docs/reference.md: every call diffc knows, from the operation catalogue (diffc.ops.primitives),
with what its gradient is and its convention at kinks.

    python tools/reference_table.py > docs/reference.md

tests/test_derive_rules.py checks that the committed table is current. A call that is not in the
table has no rule: it is kept as forward code, and refused with a located error only when a
gradient must cross it (the value it is called on depends on a differentiated parameter).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffc.ops.primitives import BUILTINS, MATH_FUNCTIONS, METHODS, NUMPY_FUNCTIONS, SPECIAL_FUNCTIONS  # noqa: E402
from diffc.ops.rules import NONDIFF, VJPS  # noqa: E402

KINKS = {
    "abs": "0 at 0", "max": "the first of equal arguments takes it all",
    "min": "the first of equal arguments takes it all",
    "math.fabs": "0 at 0", "math.hypot": "0 where every argument is 0",
    "numpy.abs": "0 at 0", "numpy.absolute": "0 at 0", "numpy.fabs": "0 at 0",
    "numpy.maximum": "ties: the first argument", "numpy.minimum": "ties: the first argument",
    "numpy.fmax": "ties: the first argument; the argument that is not NaN",
    "numpy.fmin": "ties: the first argument; the argument that is not NaN",
    "numpy.max": "the first extreme (C order over several axes)", "numpy.amax": "the first extreme",
    "numpy.min": "the first extreme (C order over several axes)", "numpy.amin": "the first extreme",
    "numpy.clip": "x where lo <= x <= hi, else the bound that was returned",
    "numpy.where": "only the branch taken; inf/NaN in the other does not leak",
    "numpy.hypot": "0 where both are 0", "numpy.linalg.norm": "0 at 0",
    "numpy.remainder": "1 in x, -floor(x / y) in y", "numpy.mod": "1 in x, -floor(x / y) in y",
    "numpy.sort": "each element's gradient goes back where it came from (ties: stable order)",
    "numpy.partition": "as np.sort, by np.argpartition", "numpy.prod": "exact where elements are 0",
    "numpy.cumprod": "exact where elements are 0", "numpy.linalg.pinv": "where the rank is locally constant",
    "numpy.linalg.cholesky": "lower triangle only (NumPy reads only that)",
    "numpy.einsum": "literal subscripts; refused: '...', a letter repeated in one operand",
    "numpy.pad": "constant mode only",
    "numpy.linalg.slogdet": "read by index: [1] (logdet); [0] is flat", "numpy.gradient": "rank 1, or with axis=",
    "numpy.cross": "vectors of 2 or 3 on the last axis", "numpy.average": "no weights",
    "scipy.special.xlogy": "0 in y where x == 0", "scipy.special.xlog1py": "0 in y where x == 0",
}


def _gradient(op: str) -> str:
    if op in NONDIFF:
        return "zero (piecewise constant, or not a number)"
    if op in VJPS:
        return "rule"
    return "none: refused when active"


def rows():
    yield from ((name, name, f"{lo}..{hi if hi is not None else ''}", "") for name, (lo, hi) in BUILTINS.items())
    yield from ((f"math.{n}", f"math.{n}", f"{lo}..{hi if hi is not None else ''}", "")
                for n, (lo, hi) in MATH_FUNCTIONS.items())
    yield from ((f"np.{n}", f"numpy.{n}", f"{lo}..{hi if hi is not None else ''}", ", ".join(kw))
                for n, (lo, hi, kw, _) in NUMPY_FUNCTIONS.items())
    yield from ((f"scipy.special.{n}", f"scipy.special.{n}", f"{lo}..{hi}", ", ".join(kw))
                for n, (lo, hi, kw, _) in SPECIAL_FUNCTIONS.items())
    yield from ((f"x.{m}()", f"numpy.{f}" if f != "astype" else "astype", "", "") for m, f in METHODS.items())


def render() -> str:
    lines = ["# Every call diffc knows", "",
             "Generated from diffc's operation catalogue by `python tools/reference_table.py`; a test checks",
             "it is current. Any other call is kept as forward code and refused, with its line, only when",
             "a gradient must cross it.", "",
             "| call | op | positional arguments | literal keywords | gradient | at kinks |",
             "|---|---|---|---|---|---|"]
    for call, op, arity, keywords in rows():
        lines.append(f"| `{call}` | `{op}` | {arity} | {keywords} | {_gradient(op)} | {KINKS.get(op, '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")

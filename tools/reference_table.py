"""Write docs/reference.md: every call diffc knows, from the operation catalogue (diffc.ops.catalogue),
with what its gradient is, whether forward mode has its tangent, and its convention at kinks.

    python tools/reference_table.py > docs/reference.md

tests/test_derive_rules.py checks that the committed table is current. A call that is not in the
table has no rule: it is kept as forward code, and refused with a located error only when a
gradient must cross it (the value it is called on depends on a differentiated parameter).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffc.ops.catalogue import OPS  # noqa: E402
from diffc.ops.op import FLAT  # noqa: E402


def _gradient(op) -> str:
    if op.grad == FLAT:
        return "zero (piecewise constant, or not a number)"
    if op.vjp is not None:
        return "rule"
    return "none: refused when active"


def _forward(op) -> str:
    if op.grad == FLAT:
        return "zero"
    if op.jvp is not None:
        return "rule"
    return "none: refused when active"


def _arity(op) -> str:
    low, high = op.arity
    return f"{low}..{high if high is not None else ''}"


def _spelling(source: str) -> str:
    return "np." + source[len("numpy."):] if source.startswith("numpy.") else source


def rows():
    """(call, op record, arity, keywords): builtins, then math, numpy and scipy.special, then methods."""
    called = [(source, op) for op in OPS.values() for source in op.sources]
    for prefix in ("", "math.", "numpy.", "scipy.special."):
        for source, op in called:
            if source.rpartition(".")[0] + ("." if "." in source else "") == prefix or \
                    prefix == "numpy." and source.startswith("numpy.linalg."):
                words = (*op.keywords, *(f"{k} (an array)" for k in op.array_keywords))
                yield _spelling(source), op, _arity(op), ", ".join(words) if "." in source else ""
    for op in OPS.values():
        for m in op.methods:
            yield f"x.{m}()", op, "", ""


def render() -> str:
    lines = ["# Every call diffc knows", "",
             "Generated from diffc's operation catalogue by `python tools/reference_table.py`; a test checks",
             "it is current. Any other call is kept as forward code and refused, with its line, only when",
             "a gradient must cross it.", "",
             "| call | op | positional arguments | literal keywords | gradient | forward mode | at kinks |",
             "|---|---|---|---|---|---|---|"]
    for call, op, arity, keywords in rows():
        lines.append(f"| `{call}` | `{op.name}` | {arity} | {keywords} | {_gradient(op)} | {_forward(op)} | "
                     f"{op.kinks} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")

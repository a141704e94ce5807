"""Straight-line scalar functions of any length, and their backward pass written the textbook way.

    python benchmarks/straight_line.py --write    # (re)writes cases/scalar_chain.py and cases/scalar_chain_hand.py

Each line of ``chain(x, y, z)`` is one operation, in turn a product with an
input, a sine, a sum with an earlier value (``v[k // 2]``: shared
subexpressions, fan-out) and a tanh, so values stay bounded at any length.
``hand_source`` writes the backward pass as a person following the lecture's
recipe would: adjoints in reverse order, ``+=`` where a value fans out.
The same generator feeds the compile-time sweep (sizes.py).
"""

import os
import sys

INPUTS = ("x", "y", "z")


def _ops(n: int):
    """(target, kind, operands) for each of the n operations."""
    ops = [("v0", "mul", ("x", "y"))]
    for k in range(1, n):
        prev = f"v{k - 1}"
        kind = ("mul", "sin", "add", "tanh")[k % 4]
        if kind == "mul":
            ops.append((f"v{k}", kind, (prev, INPUTS[k % 3])))
        elif kind == "add":
            ops.append((f"v{k}", kind, (prev, f"v{k // 2}")))
        else:
            ops.append((f"v{k}", kind, (prev,)))
    return ops


def _expr(kind, operands):
    if kind == "mul":
        return f"{operands[0]} * {operands[1]}"
    if kind == "add":
        return f"{operands[0]} + {operands[1]}"
    return f"math.{kind}({operands[0]})"


def source(n: int, name: str = "chain") -> str:
    """A module defining ``name(x, y, z)``: n scalar operations in a row."""
    body = [f"    {target} = {_expr(kind, operands)}" for target, kind, operands in _ops(n)]
    return (f'"""A straight-line scalar function of {n} operations (written by benchmarks/straight_line.py)."""\n\n'
            f"import math\n\n\ndef {name}(x, y, z):\n" + "\n".join(body) + f"\n    return v{n - 1}\n")


def hand_source(n: int, name: str = "chain") -> str:
    """The forward pass, then the adjoints by hand: returns (dx, dy, dz)."""
    ops = _ops(n)
    lines = [f"    {target} = {_expr(kind, operands)}" for target, kind, operands in ops]
    seen = {f"v{n - 1}"}
    lines.append(f"    dv{n - 1} = 1.0")

    def add(var, term):
        lines.append(f"    d{var} {'+=' if var in seen else '='} {term}")
        seen.add(var)

    for target, kind, operands in reversed(ops):
        g = f"d{target}"
        if kind == "mul":
            a, b = operands
            add(a, f"{g} * {b}")
            add(b, f"{g} * {a}")
        elif kind == "add":
            for a in operands:
                add(a, g)
        elif kind == "sin":
            add(operands[0], f"{g} * math.cos({operands[0]})")
        else:  # tanh: the derivative from the output
            add(operands[0], f"{g} * (1.0 - {target} * {target})")
    returns = ", ".join(f"d{v}" if v in seen else "0.0" for v in INPUTS)
    return (f'"""The backward pass of {name}, adjoint by adjoint (written by benchmarks/straight_line.py)."""\n\n'
            f"import math\n\n\ndef {name}_hand(x, y, z):\n" + "\n".join(lines) + f"\n    return {returns}\n")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--write"]:
        print(__doc__)
        return 2
    cases = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    with open(os.path.join(cases, "scalar_chain.py"), "w") as out:
        out.write(source(100))
    with open(os.path.join(cases, "scalar_chain_hand.py"), "w") as out:
        out.write(hand_source(100))
    return 0


if __name__ == "__main__":
    sys.exit(main())

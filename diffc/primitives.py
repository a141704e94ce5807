"""The primitives diffc knows: how source calls map to IR ops.

An op is named by a string: Python operators by a short word (``add``,
``mul``, ``neg``, ``gt`` ...), builtins by their name (``abs``, ``max``),
library functions by their dotted module path (``math.exp``). This module
says which library names exist and how many arguments each takes; the
derivative of each op is in :mod:`diffc.rules`.
"""

from __future__ import annotations

import ast
import math

BINOPS = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.Mod: "mod",
    ast.FloorDiv: "floordiv",
}
UNARYOPS = {ast.USub: "neg", ast.UAdd: "pos"}
COMPAREOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}

# Arity of each supported callable: (fewest, most) arguments; None = no limit.
MATH_FUNCTIONS = {
    "exp": (1, 1), "log": (1, 2), "log2": (1, 1), "log10": (1, 1), "log1p": (1, 1),
    "expm1": (1, 1), "sqrt": (1, 1), "pow": (2, 2), "sin": (1, 1), "cos": (1, 1),
    "tan": (1, 1), "asin": (1, 1), "acos": (1, 1), "atan": (1, 1), "atan2": (2, 2),
    "sinh": (1, 1), "cosh": (1, 1), "tanh": (1, 1), "hypot": (1, None), "erf": (1, 1),
    "erfc": (1, 1), "fabs": (1, 1),
    # Piecewise constant: zero gradient almost everywhere.
    "floor": (1, 1), "ceil": (1, 1), "trunc": (1, 1),
}
MATH_CONSTANTS = {name: getattr(math, name) for name in ("pi", "e", "tau", "inf", "nan")}
BUILTINS = {"abs": (1, 1), "max": (2, None), "min": (2, None), "float": (1, 1), "round": (1, 1), "int": (1, 1)}

LIBRARIES = {"math": (MATH_FUNCTIONS, MATH_CONSTANTS)}


def library_function(module: str, name: str):
    """(op, arity) for ``module.name``, or None if diffc has no such function."""
    functions, _ = LIBRARIES.get(module, ({}, {}))
    if name in functions:
        return f"{module}.{name}", functions[name]
    return None


def library_constant(module: str, name: str):
    """The value of ``module.name`` if it is a known constant, else None."""
    _, constants = LIBRARIES.get(module, ({}, {}))
    return constants.get(name)

"""Derive the local derivatives of diffc's smooth elementwise functions with sympy and print them.

    python tools/derive_rules.py > docs/elementwise_derivatives.md

The output is committed; tests/test_derive_rules.py derives it again (it fails if the committed
table is stale) and checks every rule of the compiler against these derivatives at sample points.
The compiler itself never imports sympy: its rules (diffc/rules*.py) are written by hand in
numerically stable forms (exp(x - logaddexp(x, y)) rather than exp(x) / (exp(x) + exp(y)),
s (1 - s) from expit's output); this table is the reference they are checked against.
Piecewise-constant and routing functions (maximum, fmax, remainder ...) are not here: their
gradients are conventions at kinks, pinned by their own tests.
"""

from __future__ import annotations

import sympy

x, y = sympy.symbols("x y", real=True)
_LN2 = sympy.log(2)

# op -> (sympy expression in x (and y), sample points inside the domain)
SIGNED, POSITIVE, UNIT, ABOVE_ONE = [-1.3, -0.4, 0.6, 1.7], [0.3, 0.8, 1.9], [-0.7, 0.2, 0.6], [1.2, 1.8, 3.5]
UNARY = {
    "numpy.exp": (sympy.exp(x), SIGNED), "numpy.log": (sympy.log(x), POSITIVE),
    "numpy.log1p": (sympy.log(1 + x), POSITIVE), "numpy.expm1": (sympy.exp(x) - 1, SIGNED),
    "numpy.sqrt": (sympy.sqrt(x), POSITIVE), "numpy.cbrt": (sympy.cbrt(x), POSITIVE), "numpy.square": (x ** 2, SIGNED),
    "numpy.abs": (sympy.Abs(x), SIGNED), "numpy.absolute": (sympy.Abs(x), SIGNED),
    "numpy.fabs": (sympy.Abs(x), SIGNED), "numpy.sin": (sympy.sin(x), SIGNED),
    "numpy.cos": (sympy.cos(x), SIGNED), "numpy.tan": (sympy.tan(x), SIGNED),
    "numpy.tanh": (sympy.tanh(x), SIGNED), "numpy.arcsin": (sympy.asin(x), UNIT),
    "numpy.arccos": (sympy.acos(x), UNIT), "numpy.arctan": (sympy.atan(x), SIGNED),
    "numpy.sinh": (sympy.sinh(x), SIGNED), "numpy.cosh": (sympy.cosh(x), SIGNED),
    "numpy.arcsinh": (sympy.asinh(x), SIGNED), "numpy.arccosh": (sympy.acosh(x), ABOVE_ONE),
    "numpy.arctanh": (sympy.atanh(x), UNIT), "numpy.exp2": (2 ** x, SIGNED),
    "numpy.log2": (sympy.log(x) / _LN2, POSITIVE), "numpy.log10": (sympy.log(x) / sympy.log(10), POSITIVE),
    "numpy.reciprocal": (1 / x, POSITIVE), "numpy.negative": (-x, SIGNED),
    "numpy.deg2rad": (x * sympy.pi / 180, SIGNED), "numpy.radians": (x * sympy.pi / 180, SIGNED),
    "numpy.rad2deg": (x * 180 / sympy.pi, SIGNED), "numpy.degrees": (x * 180 / sympy.pi, SIGNED),
    "numpy.real": (x, SIGNED),
    "scipy.special.expit": (1 / (1 + sympy.exp(-x)), SIGNED), "scipy.special.logit": (sympy.log(x / (1 - x)),
                                                                                      [0.2, 0.5, 0.9]),
    "scipy.special.erf": (sympy.erf(x), SIGNED), "scipy.special.erfc": (sympy.erfc(x), SIGNED),
    "scipy.special.gammaln": (sympy.loggamma(x), POSITIVE), "scipy.special.digamma": (sympy.digamma(x), POSITIVE),
    "scipy.special.psi": (sympy.digamma(x), POSITIVE),
}
PAIRS = [(0.3, 1.7), (-0.4, 1.3), (1.6, -0.8), (-1.1, -0.2)]
POSITIVE_PAIRS = [(0.3, 1.7), (0.7, 1.2), (0.45, 2.2)]
BINARY = {
    "numpy.add": (x + y, PAIRS), "numpy.subtract": (x - y, PAIRS), "numpy.multiply": (x * y, PAIRS),
    "numpy.divide": (x / y, PAIRS), "numpy.true_divide": (x / y, PAIRS), "numpy.power": (x ** y, POSITIVE_PAIRS),
    "numpy.arctan2": (sympy.atan2(x, y), PAIRS), "numpy.hypot": (sympy.sqrt(x ** 2 + y ** 2), PAIRS),
    "numpy.logaddexp": (sympy.log(sympy.exp(x) + sympy.exp(y)), PAIRS),
    "numpy.logaddexp2": (sympy.log(2 ** x + 2 ** y) / _LN2, PAIRS),
    "scipy.special.xlogy": (x * sympy.log(y), POSITIVE_PAIRS),
    "scipy.special.xlog1py": (x * sympy.log(1 + y), POSITIVE_PAIRS),
}
# Elementwise functions whose gradient is a convention at kinks rather than a formula.
PIECEWISE = {"numpy.maximum", "numpy.minimum", "numpy.fmax", "numpy.fmin", "numpy.remainder", "numpy.mod",
             "numpy.where", "numpy.clip", "numpy.copy"}


def derive() -> dict:
    """op -> the simplified partial derivative in each argument, as text."""
    table = {}
    for op, (expr, _) in {**UNARY, **BINARY}.items():
        variables = (x,) if op in UNARY else (x, y)
        table[op] = [str(sympy.simplify(sympy.diff(expr, v))) for v in variables]
    return table


def render(table: dict) -> str:
    lines = ["# Local derivatives of the smooth elementwise functions", "",
             "Derived by sympy with `python tools/derive_rules.py`; checked to be current, and against",
             "the compiler's own rules, by tests/test_derive_rules.py. `d/dx` is the derivative in the",
             "first argument, `d/dy` in the second.", "", "| function | d/dx | d/dy |", "|---|---|---|"]
    for op, parts in table.items():
        lines.append(f"| `{op}` | `{parts[0]}` | {f'`{parts[1]}`' if len(parts) > 1 else ''} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(derive()), end="")

"""Every operator and math function: central differences and sympy agree with diffc."""

import math
import types

import pytest
from conftest import central_difference, run_generated

import diffc

# (expression in x and y, points away from kinks and domain edges)
POSITIVE = [(0.3, 1.7), (0.7, 1.2), (0.45, 2.2)]
SIGNED = [(0.3, 1.7), (-0.4, 1.3), (1.6, -0.8), (-1.1, -0.2)]
CASES = [
    ("x + y", SIGNED), ("x - y", SIGNED), ("x * y", SIGNED), ("x / y", SIGNED), ("-x * y", SIGNED),
    ("+x * y", SIGNED), ("x ** 3", SIGNED), ("x ** 2 * y", SIGNED), ("x ** -2", SIGNED),
    ("x ** 0.5", POSITIVE), ("x ** y", POSITIVE), ("2.0 ** x", SIGNED), ("y ** 0 + x", SIGNED),
    ("x ** 1 * y", SIGNED), ("abs(x) * y", SIGNED), ("max(x, y)", SIGNED), ("min(x, y)", SIGNED),
    ("max(x, y, 0.5)", SIGNED), ("min(x, 2.0, y)", SIGNED), ("max(x * y, x, y)", SIGNED),
    ("x % y", POSITIVE), ("(x // y) * x", POSITIVE), ("float(x) * y", SIGNED),
    ("round(y) * x", POSITIVE), ("int(y) * x", POSITIVE),
    ("math.exp(x)", SIGNED), ("math.log(x)", POSITIVE), ("math.log(x, y)", POSITIVE),
    ("math.log(x, 2.0)", POSITIVE), ("math.log2(x)", POSITIVE), ("math.log10(x)", POSITIVE),
    ("math.log1p(x)", POSITIVE), ("math.expm1(x)", SIGNED), ("math.sqrt(x)", POSITIVE),
    ("math.pow(x, y)", POSITIVE), ("math.pow(x, 3)", SIGNED), ("math.sin(x)", SIGNED),
    ("math.cos(x)", SIGNED), ("math.tan(x)", SIGNED), ("math.asin(x)", POSITIVE),
    ("math.acos(x)", POSITIVE), ("math.atan(x)", SIGNED), ("math.atan2(x, y)", SIGNED),
    ("math.sinh(x)", SIGNED), ("math.cosh(x)", SIGNED), ("math.tanh(x)", SIGNED),
    ("math.hypot(x, y)", SIGNED), ("math.hypot(x, y, 0.5)", SIGNED), ("math.erf(x)", SIGNED),
    ("math.erfc(x)", SIGNED), ("math.fabs(x) * y", SIGNED), ("math.floor(y) * x", POSITIVE),
    ("math.ceil(y) * x", POSITIVE), ("math.trunc(y) * x", POSITIVE), ("math.pi * x + math.e * y", SIGNED),
    ("math.tau * x * y", SIGNED), ("min(x, math.inf) * y", SIGNED),
]


def _compile(expr):
    text = f"import math\n\n\ndef f(x, y):\n    return {expr}\n"
    user = run_generated(text)["f"]
    return user, run_generated(diffc.compile_source(text).text)["f_grad"]


@pytest.mark.parametrize("expr,points", CASES, ids=[c[0] for c in CASES])
def test_against_central_differences(expr, points):
    user, grad = _compile(expr)
    for point in points:
        analytic = grad(*point)
        for i in range(2):
            numeric = central_difference(user, point, i)
            assert analytic[i] == pytest.approx(numeric, rel=1e-6, abs=1e-7), (expr, point, i)


def _sympy_namespace():
    sympy = pytest.importorskip("sympy")
    m = types.SimpleNamespace(
        exp=sympy.exp, log=lambda x, b=None: sympy.log(x) if b is None else sympy.log(x, b),
        log2=lambda x: sympy.log(x, 2), log10=lambda x: sympy.log(x, 10), log1p=lambda x: sympy.log(1 + x),
        expm1=lambda x: sympy.exp(x) - 1, sqrt=sympy.sqrt, pow=sympy.Pow, sin=sympy.sin, cos=sympy.cos,
        tan=sympy.tan, asin=sympy.asin, acos=sympy.acos, atan=sympy.atan, atan2=sympy.atan2,
        sinh=sympy.sinh, cosh=sympy.cosh, tanh=sympy.tanh,
        hypot=lambda *a: sympy.sqrt(sum(v**2 for v in a)), erf=sympy.erf, erfc=sympy.erfc, fabs=sympy.Abs,
        floor=sympy.floor, ceil=sympy.ceiling, trunc=lambda v: sympy.sign(v) * sympy.floor(sympy.Abs(v)),
        pi=sympy.pi, e=sympy.E, tau=2 * sympy.pi, inf=sympy.oo,
    )
    return sympy, {"math": m, "abs": sympy.Abs, "max": sympy.Max, "min": sympy.Min, "float": lambda v: v,
                   "round": lambda v: sympy.floor(v + sympy.Rational(1, 2)), "int": sympy.floor}


# sympy leaves derivatives of floor-like functions unevaluated; finite differences cover them.
_PIECEWISE = ("%", "//", "round", "int(", "floor", "ceil", "trunc")
SYMPY_CASES = [c for c in CASES if not any(p in c[0] for p in _PIECEWISE)]


@pytest.mark.parametrize("expr,points", SYMPY_CASES, ids=[c[0] for c in SYMPY_CASES])
def test_against_sympy(expr, points):
    sympy, namespace = _sympy_namespace()
    x, y = sympy.symbols("x y", real=True)
    expression = eval(expr, namespace, {"x": x, "y": y})
    derivatives = [sympy.diff(expression, v) for v in (x, y)]
    _, grad = _compile(expr)
    for px, py in points:
        analytic = grad(px, py)
        for i, d in enumerate(derivatives):
            expected = float(d.subs({x: px, y: py}).evalf())
            assert analytic[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (expr, (px, py), i)


def test_every_math_function_is_covered():
    from diffc.ops.catalogue import OPS

    tested = " ".join(c[0] for c in CASES)
    assert [op for op in OPS if op.startswith("math.") and f"{op}(" not in tested] == []


def test_max_tie_goes_to_the_first_argument():
    _, grad = _compile("max(x, y)")
    assert grad(1.0, 1.0) == (1.0, 0.0)
    _, grad = _compile("min(x, y)")
    assert grad(1.0, 1.0) == (1.0, 0.0)


def test_abs_has_zero_gradient_at_zero():
    _, grad = _compile("abs(x) + y")
    assert grad(0.0, 1.0) == (0.0, 1.0)
    assert grad(-2.0, 1.0) == (-1.0, 1.0)


def test_math_module_alias_and_from_imports():
    text = "import math as m\nfrom math import exp as ex, sin\n\n\ndef f(x):\n    return ex(x) * sin(x) + m.cos(x)\n"
    out = diffc.compile_source(text).text
    assert "import math as m" in out and "from math import exp as ex, sin" in out
    grad = run_generated(out)["f_grad"]
    user = run_generated(text)["f"]
    assert grad(0.4) == pytest.approx(central_difference(user, [0.4], 0), rel=1e-7)
    assert math.isfinite(grad(0.4))

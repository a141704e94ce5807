"""Elementwise functions: ``math``'s and NumPy's, one record per function and library.

Each formula is written once, with operators (``g / f.sqrt(1 - x * x)``), and shared by the
``math`` and the NumPy spelling of the function: ``f`` calls the library of the record it serves,
so ``math.asin``'s gradient calls ``math.sqrt`` and ``np.arcsin``'s calls ``np.sqrt``. Adding an
elementwise NumPy function is one line below: ``unary("name", formula, domain)``.

Guarantees: every gradient has its input's shape (broadcasting is undone by the reverse pass for
records that broadcast). Conventions at kinks follow the builtins': routers (``np.maximum``,
``np.fmax`` ...) give ties to the first argument, ``abs``/``fabs`` have gradient 0 at 0,
``hypot`` 0 where every argument is 0, the remainder 1 in x and -floor(x / y) in y.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .algebra import formula, nonzero, nonzero_array, sign, where_zero
from .op import FLAT, define, per_input, variadic
from .python import ADD, COPY_JVP, DIV, MOD, MUL, POW, SUB, div_jvp, mul_jvp, select_jvp

_F, _E = S.same_as_first, S.elementwise
SIGNED, POSITIVE, UNIT, ABOVE_ONE = (-1.5, 1.5), (0.3, 2.0), (-0.8, 0.8), (1.2, 3.0)


def unary(name, rule, domain=SIGNED, **facts):
    """``np.name``: an elementwise function of one array (``rule`` a formula ``(g, ans, x, f)``)."""
    define(f"numpy.{name}", formula("numpy", rule), arity=(1, 1), shape=_F,
           elementwise=True, domain=domain, **facts)


def binary(name, rule, domain=SIGNED, **facts):
    """``np.name``: an elementwise function of two arrays that broadcast (``rule`` a rule in the one
    signature)."""
    define(f"numpy.{name}", rule, arity=(2, 2), shape=_E, broadcasts=True,
           elementwise=True, domain=domain, **facts)


def scalar(name, rule, arity=(1, 1), domain=SIGNED, **facts):
    """``math.name``: a function of numbers (``rule`` a formula ``(g, ans, x, f)``)."""
    scalar_rule(name, formula("math", rule), arity, domain, **facts)


def scalar_rule(name, rule, arity=(1, 1), domain=SIGNED, **facts):
    """``math.name``: a function of numbers (``rule`` in the one signature)."""
    define(f"math.{name}", rule, arity=arity, shape=S.scalar, scalar_only=True,
           domain=domain, **facts)


def flat(name, arity=(1, 1), shape=_F, **facts):
    """``np.name``: piecewise constant (zero gradient almost everywhere)."""
    define(f"numpy.{name}", arity=arity, shape=shape, grad=FLAT, **facts)


# ----------------------------------------------------------------------------
# One formula per function, shared by math and NumPy: (g, ans, x, f)
# ----------------------------------------------------------------------------
EXP = lambda g, ans, x, f: g * ans  # noqa: E731
LOG1P = lambda g, ans, x, f: g / (1 + x)  # noqa: E731
EXPM1 = lambda g, ans, x, f: g * (ans + 1)  # noqa: E731
SQRT = lambda g, ans, x, f: g / (2 * ans)  # noqa: E731
SIN = lambda g, ans, x, f: g * f.cos(x)  # noqa: E731
COS = lambda g, ans, x, f: -g * f.sin(x)  # noqa: E731
TAN = lambda g, ans, x, f: g * (1 + ans * ans)  # noqa: E731
ASIN = lambda g, ans, x, f: g / f.sqrt(1 - x * x)  # noqa: E731
ACOS = lambda g, ans, x, f: -g / f.sqrt(1 - x * x)  # noqa: E731
ATAN = lambda g, ans, x, f: g / (1 + x * x)  # noqa: E731
SINH = lambda g, ans, x, f: g * f.cosh(x)  # noqa: E731
COSH = lambda g, ans, x, f: g * f.sinh(x)  # noqa: E731
TANH = lambda g, ans, x, f: g * (1 - ans * ans)  # noqa: E731
LOG2 = lambda g, ans, x, f: g / (x * f.log(2))  # noqa: E731
LOG10 = lambda g, ans, x, f: g / (x * f.log(10))  # noqa: E731


def _atan2(b, g, ans, ins, i, params):
    y, x = ins
    r2 = b.add(b.mul(x, x), b.mul(y, y))
    return b.div(b.mul(g, x), r2) if i == 0 else b.div(b.mul(b.neg(g), y), r2)


# ----------------------------------------------------------------------------
# math
# ----------------------------------------------------------------------------
def _log_rule(b, g, ans, ins, i, params):
    if len(ins) == 1:
        return b.div(g, ins[0])
    x, base = ins
    log_base = b.call("scalar_log", base)
    if i == 0:
        return b.div(g, b.mul(x, log_base))
    return b.div(b.mul(b.neg(g), ans), b.mul(base, log_base))


def _erf(g, ans, x, f):
    return g * (2 / f.sqrt(f.pi)) * f.exp(-(x * x))


scalar("exp", EXP)
scalar_rule("log", _log_rule, arity=(1, 2), domain=POSITIVE)
scalar("log2", LOG2, domain=POSITIVE)
scalar("log10", LOG10, domain=POSITIVE)
scalar("log1p", LOG1P, domain=POSITIVE)
scalar("expm1", EXPM1)
scalar("sqrt", SQRT, domain=POSITIVE)
scalar_rule("pow", POW, arity=(2, 2), domain=(0.5, 2.0))
scalar("sin", SIN)
scalar("cos", COS)
scalar("tan", TAN, domain=UNIT)
scalar("asin", ASIN, domain=UNIT)
scalar("acos", ACOS, domain=UNIT)
scalar("atan", ATAN)
scalar_rule("atan2", _atan2, arity=(2, 2))
scalar("sinh", SINH)
scalar("cosh", COSH)
scalar("tanh", TANH)
# x / hypot(x, ...): hypot is 0 only where every argument is 0, so dividing by 1 there gives 0, the
# subgradient that keeps the gradient odd (as abs at 0, and np.linalg.norm at 0).
scalar_rule("hypot", variadic(lambda b, g, ans, ins, i: b.div(b.mul(g, ins[i]), nonzero(b, ans))), arity=(1, None),
       kinks="0 where every argument is 0")
scalar("erf", _erf)
scalar("erfc", lambda g, ans, x, f: _erf(-g, ans, x, f))
scalar_rule("fabs", per_input(lambda b, g, ans, x: b.mul(g, sign(b, x))), kinks="0 at 0")
for _name in ("floor", "ceil", "trunc"):  # piecewise constant
    define(f"math.{_name}", arity=(1, 1), shape=S.scalar, grad=FLAT, scalar_only=True)

# ----------------------------------------------------------------------------
# NumPy, one argument
# ----------------------------------------------------------------------------
_ABS = lambda g, ans, x, f: g * f.sign(x)  # noqa: E731
unary("exp", EXP)
unary("log", lambda g, ans, x, f: g / x, POSITIVE)
unary("log1p", LOG1P, POSITIVE)
unary("expm1", EXPM1)
unary("sqrt", SQRT, POSITIVE)
unary("square", lambda g, ans, x, f: g * 2 * x)
unary("abs", _ABS, result_kind="keep", kinks="0 at 0")
unary("absolute", _ABS, result_kind="keep", kinks="0 at 0")
unary("fabs", _ABS, kinks="0 at 0")
unary("sin", SIN)
unary("cos", COS)
unary("tan", TAN, UNIT)
unary("tanh", TANH)
unary("arcsin", ASIN, UNIT)
unary("arccos", ACOS, UNIT)
unary("arctan", ATAN)
unary("sinh", SINH)
unary("cosh", COSH)
unary("arccosh", lambda g, ans, x, f: g / f.sqrt(x * x - 1), ABOVE_ONE)
unary("arcsinh", lambda g, ans, x, f: g / f.sqrt(x * x + 1))
unary("arctanh", lambda g, ans, x, f: g / (1 - x * x), UNIT)
unary("exp2", lambda g, ans, x, f: g * ans * f.log(2))
unary("log2", LOG2, POSITIVE)
unary("log10", LOG10, POSITIVE)
unary("reciprocal", lambda g, ans, x, f: -g * (ans * ans), POSITIVE)
unary("negative", lambda g, ans, x, f: -g)
unary("copy", lambda g, ans, x, f: g, methods=("copy",), jvp=COPY_JVP)
unary("cbrt", lambda g, ans, x, f: g / (3 * ans * ans), POSITIVE)
unary("deg2rad", lambda g, ans, x, f: g * (f.pi / 180))
unary("radians", lambda g, ans, x, f: g * (f.pi / 180))
unary("rad2deg", lambda g, ans, x, f: g * (180 / f.pi))
unary("degrees", lambda g, ans, x, f: g * (180 / f.pi))
unary("real", lambda g, ans, x, f: g)  # diffc's values are real: np.real is the identity
for _name in ("sign", "floor", "ceil", "rint"):
    flat(_name)
for _name in ("isnan", "isfinite", "logical_not"):
    flat(_name, result_kind="b")

# ----------------------------------------------------------------------------
# NumPy, two arguments (they broadcast)
# ----------------------------------------------------------------------------
binary("add", ADD, pattern="add gate: distributes")
binary("subtract", SUB, pattern="add gate: distributes")
binary("multiply", MUL, jvp=mul_jvp, pattern="mul gate: switches")
binary("divide", DIV, (0.5, 2.0), jvp=div_jvp)
binary("true_divide", DIV, (0.5, 2.0), jvp=div_jvp)
binary("power", POW, (0.5, 2.0))
binary("arctan2", _atan2)
# x / hypot(x, y), and 0 where both are 0 (as abs at 0 and np.linalg.norm at 0).
binary("hypot", per_input(lambda b, g, ans, x, y: b.div(b.mul(g, x), nonzero_array(b, ans)),
                          lambda b, g, ans, x, y: b.div(b.mul(g, y), nonzero_array(b, ans))),
       kinks="0 where both are 0")
# exp(x - ans) rather than exp(x) / (exp(x) + exp(y)): no overflow.
binary("logaddexp", formula("numpy", lambda g, ans, x, y, f: g * f.exp(x - ans),
                            lambda g, ans, x, y, f: g * f.exp(y - ans)))
binary("logaddexp2", formula("numpy", lambda g, ans, x, y, f: g * f.exp2(x - ans),
                             lambda g, ans, x, y, f: g * f.exp2(y - ans)))
binary("remainder", MOD, (0.5, 2.0), kinks="1 in x, -floor(x / y) in y")
binary("mod", MOD, (0.5, 2.0), kinks="1 in x, -floor(x / y) in y")
# Routers: the first of equal arguments takes the gradient.
binary("maximum", per_input(lambda b, g, ans, x, y: where_zero(b, b.compare("ge", x, y), g),
                            lambda b, g, ans, x, y: where_zero(b, b.compare("gt", y, x), g)),
       result_kind="keep", pattern="max gate: routes", kinks="ties: the first argument")
binary("minimum", per_input(lambda b, g, ans, x, y: where_zero(b, b.compare("le", x, y), g),
                            lambda b, g, ans, x, y: where_zero(b, b.compare("lt", y, x), g)),
       result_kind="keep", pattern="min gate: routes", kinks="ties: the first argument")


def _fmax_cond(b, x, y, order):
    """Where x takes the gradient of np.fmax/np.fmin: x wins (ties to x), or y is NaN."""
    return b.call("logical_or", b.compare(order, x, y), b.call("isnan", y))


for _name, _order in (("fmax", "ge"), ("fmin", "le")):
    binary(_name, per_input(lambda b, g, ans, x, y, o=_order: where_zero(b, _fmax_cond(b, x, y, o), g),
                            lambda b, g, ans, x, y, o=_order: where_zero(b, _fmax_cond(b, x, y, o), g, False)),
           kinks="ties: the first argument; the argument that is not NaN")
for _name in ("logical_and", "logical_or"):
    flat(_name, arity=(2, 2), shape=_E, result_kind="b")
define("numpy.where", per_input(lambda b, g, ans, c, x, y: None, lambda b, g, ans, c, x, y: where_zero(b, c, g),
                                lambda b, g, ans, c, x, y: where_zero(b, c, g, take_if_true=False)),
       jvp=lambda b, dots, ans, ins, params: select_jvp(
           b, dots, ins, lambda c, x, y: b.call("where", c, x, y)),
       arity=(3, 3), shape=_E, broadcasts=True, elementwise=True,
       kinks="only the branch taken; inf/NaN in the other does not leak")


def clip_bounds(ins, params):
    """(x, lo, hi) of np.clip, bounds given by position or keyword; a missing bound is Const(None)."""
    given = [*ins[1:3], *[Const(None)] * (3 - len(ins))]
    for k, names in ((0, ("a_min", "min")), (1, ("a_max", "max"))):
        for name in names:
            if name in params:
                given[k] = Const(params[name])
    return ins[0], given[0], given[1]


def _number(atom):
    value = getattr(atom, "value", None)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _clip(b, g, ans, ins, i, params):
    """np.clip(x, lo, hi) is np.minimum(np.maximum(x, lo), hi): x takes the gradient where lo <= x <= hi,
    lo where it is above x (and not above hi), hi where it is below x or below lo (then the result
    is hi, as in NumPy). A bound of None takes part in nothing."""
    x, lo, hi = clip_bounds(ins, params)
    has_lo, has_hi = lo != Const(None), hi != Const(None)
    ordered = not (has_lo and has_hi) or _number(lo) is not None and _number(hi) is not None and \
        _number(lo) <= _number(hi)
    if i == 0:
        conds = [b.compare("ge", x, lo)] if has_lo else []
        conds += [b.compare("le", x, hi)] if has_hi else []
        if not conds:
            return g
        cond = conds[0] if len(conds) == 1 else b.call("logical_and", *conds)
    elif i == 1:
        cond = b.compare("lt", x, lo)
        if not ordered:
            cond = b.call("logical_and", cond, b.compare("le", lo, hi))
    else:
        cond = b.compare("gt", x, hi)
        if not ordered:
            cond = b.call("logical_or", cond, b.compare("gt", lo, hi))
    return where_zero(b, cond, g)


define("numpy.clip", _clip, methods=("clip",), arity=(1, 3),
       keywords=("a_min", "a_max", "min", "max"), shape=S.clip, broadcasts=True, elementwise=True,
       kinks="x where lo <= x <= hi, else the bound that was returned")

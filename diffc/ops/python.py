"""Python's own operations: operators (``+``, ``*``, ``**``, comparisons ...), the conditional
expression, and the builtins diffc knows (``abs``, ``max``, ``min``, ``float``, ``round`` ...).

Guarantees: each record's rule is exact wherever the op is differentiable. Tie convention for
``max``/``min``: the whole gradient goes to the argument the builtin returned, the first of equal
arguments. ``abs`` has gradient 0 at 0; ``x ** y`` follows JAX at 0 (``0 ** 0`` has gradient 0 in
both arguments). Comparisons (``in`` too), ``//`` and the bitwise operators are piecewise constant.
``float(x)`` and ``x.item()`` take a number or any array of one element and give a number; the
gradient goes back in ``x``'s shape.
"""

from __future__ import annotations

import ast
import math

from ..ir import Const, Ref, is_number
from . import shapes as S
from .algebra import ONE, ZERO, NoRule, formula, reshape_like, sign
from .op import FLAT, define, per_input, variadic
from .tangents import diagonal, linear, zero_like

BINOPS = {
    ast.MatMult: "matmul", ast.BitAnd: "bitand", ast.BitOr: "bitor", ast.Add: "add", ast.Sub: "sub",
    ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow", ast.Mod: "mod", ast.FloorDiv: "floordiv",
}
UNARYOPS = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert"}
COMPAREOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne",
              ast.In: "in", ast.NotIn: "notin"}
_E, _F = S.elementwise, S.same_as_first
_ARITH = dict(shape=_E, broadcasts=True, elementwise=True)


def _pow_base(b, g, ans, x, y):
    """y * x ** (y - 1); for a variable y, x ** 1 where y == 0 (JAX's choice), so 0 ** 0 has gradient 0."""
    if is_number(y, 0):
        return None
    exponent = b.sub(y, ONE) if is_number(y) else b.select(b.compare("eq", y, ZERO), ONE, b.sub(y, ONE))
    return b.mul(b.mul(g, y), b.pow(x, exponent))


def _positive(atom) -> bool:
    value = atom.value if isinstance(atom, (Const, Ref)) else None
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _pow_exponent(b, g, ans, x, y):
    """x ** y * log(x), with JAX's 0 where x == 0 (x ** y is flat there for y > 0)."""
    if is_number(x, 0):
        return None
    if _positive(x):
        return b.mul(b.mul(g, ans), b.call(b.lib("log"), x))
    # log(1) where x == 0, NaN below 0 (x ** y has no derivative in y there); never a domain error.
    if b.numpy:
        safe = b.select(b.compare("eq", x, ZERO), Const(1.0), x)
    else:
        below = b.emit("select", b.compare("eq", x, ZERO), Const(1.0), Ref("math", "nan", math.nan))
        safe = b.emit("select", b.compare("gt", x, ZERO), x, below)
    log_x = b.call(b.lib("log"), safe)
    return b.mul(b.mul(g, ans), log_x)


POW = per_input(_pow_base, _pow_exponent)
# x * x: one term, g * 2 * x, rather than the same product twice.
MUL = formula("numpy", lambda g, ans, x, y, f: g * 2 * x if x.atom is y.atom else g * y,
              lambda g, ans, x, y, f: None if x.atom is y.atom else g * x)
ADD = formula("numpy", lambda g, ans, x, y, f: g, lambda g, ans, x, y, f: g)
SUB = formula("numpy", lambda g, ans, x, y, f: g, lambda g, ans, x, y, f: -g)
DIV = formula("numpy", lambda g, ans, x, y, f: g / y, lambda g, ans, x, y, f: -g * x / (y * y))
# x % y == x - y * floor(x / y)
MOD = formula("numpy", lambda g, ans, x, y, f: g, lambda g, ans, x, y, f: -g * (x // y))
IDENTITY = per_input(lambda b, g, ans, x: g)


def _router(strict: str, loose: str):
    """max/min: the argument the builtin returned (the first of ties) takes it all."""

    def rule(b, g, ans, ins, i):
        conds = [b.compare(strict if j < i else loose, ins[i], other)
                 for j, other in enumerate(ins) if j != i]
        cond = conds[0] if len(conds) == 1 else b.emit("and", *conds)
        return b.select(cond, g, ZERO)

    return variadic(rule)


def _to_number(b, g, ans, x):
    """float(x), x.item(): the gradient (a number) reshaped to x's shape, unless x is a number already."""
    if b.shape(x) == ():
        return g
    if b.rank(x):  # np.reshape, as g may be a Python float (which has no .reshape)
        return b.emit("reshape", g, b.shape_of(x))
    return reshape_like(b, g, x, ans)


def _no_boolean_operands(b, g, ans, ins, i, params):
    raise NoRule("'and' and 'or' return one of their operands: diffc does not differentiate that",
                 "use a conditional expression (a if c else b), or np.where")


def select_jvp(b, dots, ins, choose):
    """The tangent of the branch taken: ``dot_x if c else dot_y`` (np.where(c, dot_x, dot_y))."""
    _, dx, dy = dots
    if dx is None and dy is None:
        return None
    return choose(ins[0], dx if dx is not None else zero_like(b, ins[1]),
                  dy if dy is not None else zero_like(b, ins[2]))


def mul_jvp(b, dots, ans, ins, params):
    """The product rule as a person writes it: dot_x * y + x * dot_y."""
    (x, y), (dx, dy) = ins, dots
    if x is y:
        return diagonal(MUL)(b, dots, ans, ins, params)
    parts = [p for p in (dx is not None and b.mul(dx, y), dy is not None and b.mul(x, dy)) if p is not False]
    return parts[0] if len(parts) == 1 else b.add(*parts)


def div_jvp(b, dots, ans, ins, params):
    """d(x / y) = (dot_x - out * dot_y) / y."""
    (x, y), (dx, dy) = ins, dots
    if x is y:
        return diagonal(DIV)(b, dots, ans, ins, params)
    if dy is None:
        return b.div(dx, y)
    moved = b.mul(ans, dy)
    return b.div(b.neg(moved) if dx is None else b.sub(dx, moved), y)


COPY_JVP = linear(0)  # np.copy(x), x.astype(float) ...: a copy of the tangent (never an alias of it)

# ----------------------------------------------------------------------------
# Operators: add distributes, mul switches, neg flips
# ----------------------------------------------------------------------------
define("add", ADD, **_ARITH, result_kind="keep", pattern="add gate: distributes", symbol="+")
define("sub", SUB, **_ARITH, result_kind="keep", pattern="add gate: distributes", symbol="-")
define("mul", MUL, jvp=mul_jvp, **_ARITH, result_kind="keep", pattern="mul gate: switches", symbol="*")
define("div", DIV, jvp=div_jvp, **_ARITH, symbol="/", domain=(0.5, 2.0))
define("pow", POW, **_ARITH, symbol="**", domain=(0.5, 2.0))
define("mod", MOD, **_ARITH, result_kind="keep", symbol="%", domain=(0.5, 2.0))
define("floordiv", shape=_E, grad=FLAT, result_kind="keep", symbol="//")
define("bitand", shape=_E, grad=FLAT, result_kind="b", symbol="&")
define("bitor", shape=_E, grad=FLAT, result_kind="b", symbol="|")
define("neg", formula("numpy", lambda g, ans, x, f: -g), shape=_F, elementwise=True, result_kind="keep", symbol="-")
define("pos", IDENTITY, shape=_F, elementwise=True, result_kind="keep", symbol="+")
define("invert", shape=_F, grad=FLAT, result_kind="b", symbol="~")
for _op, _symbol in [("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("eq", "=="), ("ne", "!=")]:
    define(_op, shape=_E, grad=FLAT, result_kind="b", symbol=_symbol)
# 'seed' in dropout_param: membership, one bool (see diffc.frontend.sequences.membership)
define("in", shape=S.scalar, grad=FLAT, result_kind="b", symbol="in")
define("notin", shape=S.scalar, grad=FLAT, result_kind="b", symbol="not in")
# A conditional expression routes the gradient into the branch it took.
define("select", per_input(lambda b, g, ans, c, x, y: None, lambda b, g, ans, c, x, y: b.select(c, g, ZERO),
                           lambda b, g, ans, c, x, y: b.select(c, ZERO, g)), **_ARITH, symbol="if",
       jvp=lambda b, dots, ans, ins, params: select_jvp(b, dots, ins, b.select))
define("and", _no_boolean_operands, jvp=diagonal(_no_boolean_operands), shape=_E)
define("or", _no_boolean_operands, jvp=diagonal(_no_boolean_operands))
define("not", grad=FLAT)
define("copy", IDENTITY, shape=_F, elementwise=True, view=True, pattern="copy", symbol="=", takes_sequences="all")
# The fused sigmoid gate (see diffc.ad.fuse): local gradient (1 - s) * s.
define("sigmoid", formula("numpy", lambda g, s, x, f: g * (1 - s) * s), shape=_F, elementwise=True,
       pattern="sigmoid gate", symbol="sigmoid")

# ----------------------------------------------------------------------------
# Builtins
# ----------------------------------------------------------------------------
define("abs", per_input(lambda b, g, ans, x: b.mul(g, sign(b, x))), arity=(1, 1), shape=_F,
       elementwise=True, result_kind="keep", kinks="0 at 0")
define("max", _router("gt", "ge"), arity=(2, None), shape=S.scalar, scalar_only=True,
       pattern="max gate: routes", kinks="the first of equal arguments takes it all")
define("min", _router("lt", "le"), arity=(2, None), shape=S.scalar, scalar_only=True,
       pattern="min gate: routes", kinks="the first of equal arguments takes it all")
# float(x) and x.item() take a number or any array of one element (shape (1,), (1, 1) ...): a number
# out, its gradient back in x's shape. Not scalar_only: x need not be a number.
define("float", per_input(_to_number), jvp=linear(0), arity=(1, 1), shape=S.scalar)  # float(dot_x), dot_x.item()
define("round", arity=(1, 1), shape=_F, grad=FLAT, scalar_only=True)
define("int", arity=(1, 1), shape=S.scalar, grad=FLAT, scalar_only=True)
define("bool", arity=(1, 1), grad=FLAT)
define("len", arity=(1, 1), shape=S.scalar, grad=FLAT, result_kind="i")

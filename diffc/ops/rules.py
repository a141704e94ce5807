"""Local derivative rules: one short entry per primitive.

Each entry maps an op to its vector-Jacobian product, one function per input:
given the builder ``b``, the upstream gradient ``g``, the op's output
``ans`` and its inputs, it returns the downstream gradient for that input
(upstream x local), or None for a gradient that is identically zero.
Rules build IR through the builder rather than text, so what they produce
can itself be differentiated again.

Ops listed in ``NONDIFF`` have a zero gradient almost everywhere
(comparisons, rounding); they are not the same as an op with no rule, which
the reverse pass refuses when a gradient must cross it.

Tie convention for ``max``/``min``: the whole gradient goes to the argument
that the call returned, which for Python's builtins is the first of equal
arguments. ``abs`` has gradient 0 at 0.
"""

from __future__ import annotations

import math

from ..ir import Builder, Const, Ref, is_number

VJPS: dict = {}

# Zero gradient almost everywhere: the output is piecewise constant.
# Only ops whose output is piecewise constant in every input belong here: ``and``/``or`` (which
# return an operand), ``np.full`` (its fill value), ``np.arange`` (its start and step) and casts
# (``astype``: a float cast is the identity) have rules in diffc.rules_front instead.
NONDIFF = frozenset({
    "gt", "ge", "lt", "le", "eq", "ne", "not", "floordiv", "bitand", "bitor", "invert",
    "round", "int", "bool", "len", "math.floor", "math.ceil", "math.trunc",
    "numpy.sign", "numpy.floor", "numpy.ceil", "numpy.rint", "numpy.isnan", "numpy.isfinite",
    "numpy.logical_not", "numpy.logical_and", "numpy.logical_or", "numpy.zeros",
    "numpy.ones", "numpy.eye", "numpy.zeros_like", "numpy.ones_like",
    "numpy.argmax", "numpy.argmin", "numpy.shape", "numpy.ndim", "numpy.size",
    "numpy.int64", "numpy.int32", "numpy.int16", "numpy.int8", "numpy.uint64", "numpy.uint32", "numpy.uint16",
    "numpy.uint8", "numpy.intp", "numpy.int_", "numpy.bool_",
})

ZERO = Const(0.0)
ONE = Const(1)


class NeedsShapes(Exception):
    """A rule cannot be written without knowing its operands' ranks."""


def defvjp(op: str, *per_input) -> None:
    """Register one rule per positional input: ``rule(b, g, ans, *ins)``."""
    VJPS[op] = lambda b, g, ans, ins, i, params: per_input[i](b, g, ans, *ins)


def defvjp_n(op: str, rule) -> None:
    """Register a rule for a variadic op: ``rule(b, g, ans, ins, i)``."""
    VJPS[op] = lambda b, g, ans, ins, i, params: rule(b, g, ans, ins, i)


def defvjp_full(op: str, rule) -> None:
    """Register a rule that also needs the call's literal arguments: ``rule(b, g, ans, ins, i, params)``."""
    VJPS[op] = rule


def vjp(b: Builder, eqn, g, i: int):
    """The gradient flowing into input ``i`` of ``eqn``, or None for zero."""
    return VJPS[eqn.op](b, g, eqn.out, eqn.ins, i, eqn.params)


def has_rule(op: str) -> bool:
    return op in VJPS or op in NONDIFF


# ----------------------------------------------------------------------------
# Python operators
# ----------------------------------------------------------------------------
# add distributes, mul switches, neg flips.
defvjp("add", lambda b, g, ans, x, y: g, lambda b, g, ans, x, y: g)
defvjp("sub", lambda b, g, ans, x, y: g, lambda b, g, ans, x, y: b.neg(g))
# x * x: one term, g * 2 * x, rather than the same product twice.
defvjp("mul", lambda b, g, ans, x, y: b.mul(b.mul(g, Const(2)), x) if x is y else b.mul(g, y),
       lambda b, g, ans, x, y: None if x is y else b.mul(g, x))
defvjp(
    "div",
    lambda b, g, ans, x, y: b.div(g, y),
    lambda b, g, ans, x, y: b.div(b.mul(b.neg(g), x), b.mul(y, y)),
)
defvjp("neg", lambda b, g, ans, x: b.neg(g))
defvjp("pos", lambda b, g, ans, x: g)
defvjp("copy", lambda b, g, ans, x: g)
# x % y == x - y * floor(x / y)
defvjp(
    "mod",
    lambda b, g, ans, x, y: g,
    lambda b, g, ans, x, y: b.mul(b.neg(g), b.emit("floordiv", x, y)),
)


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


defvjp("pow", _pow_base, _pow_exponent)
# A conditional expression routes the gradient into the branch it took.
defvjp(
    "select",
    lambda b, g, ans, c, x, y: None,
    lambda b, g, ans, c, x, y: b.select(c, g, ZERO),
    lambda b, g, ans, c, x, y: b.select(c, ZERO, g),
)
# ----------------------------------------------------------------------------
# Python builtins
# ----------------------------------------------------------------------------


def nonzero(b, x):
    """``x``, or 1 where ``x`` is 0: a divisor that is safe where the numerator is 0 too."""
    return b.emit("select", b.compare("ne", x, ZERO), x, Const(1.0))


def _sign(b, x):
    if b.numpy:
        return b.call("numpy.sign", x)
    # (x > 0) - (x < 0): -1, 0 or 1, and 0 at 0.
    return b.sub(b.compare("gt", x, ZERO), b.compare("lt", x, ZERO))


def _router(strict: str, loose: str):
    """max/min: the argument the builtin returned (the first of ties) takes it all."""

    def rule(b, g, ans, ins, i):
        conds = [b.compare(strict if j < i else loose, ins[i], other)
                 for j, other in enumerate(ins) if j != i]
        cond = conds[0] if len(conds) == 1 else b.emit("and", *conds)
        return b.select(cond, g, ZERO)

    return rule


# The fused sigmoid gate (see diffc.fuse): local gradient (1 - s) * s.
defvjp("sigmoid", lambda b, g, ans, x: b.mul(b.mul(g, b.sub(ONE, ans)), ans))
defvjp("abs", lambda b, g, ans, x: b.mul(g, _sign(b, x)))
defvjp_n("max", _router("gt", "ge"))
defvjp_n("min", _router("lt", "le"))
defvjp("float", lambda b, g, ans, x: g)

# ----------------------------------------------------------------------------
# math
# ----------------------------------------------------------------------------


def _log_rule(b, g, ans, ins, i):
    if len(ins) == 1:
        return b.div(g, ins[0])
    x, base = ins
    log_base = b.call("math.log", base)
    if i == 0:
        return b.div(g, b.mul(x, log_base))
    return b.div(b.mul(b.neg(g), ans), b.mul(base, log_base))


def _atan2_rule(b, g, ans, ins, i):
    y, x = ins
    r2 = b.add(b.mul(x, x), b.mul(y, y))
    return b.div(b.mul(g, x), r2) if i == 0 else b.div(b.mul(b.neg(g), y), r2)


def _sqrt_one_minus_square(b, x):
    return b.call("math.sqrt", b.sub(ONE, b.mul(x, x)))


def _erf_local(b, g, x):
    two_over_sqrt_pi = b.div(Const(2), b.call("math.sqrt", Ref("math", "pi")))
    return b.mul(b.mul(g, two_over_sqrt_pi), b.call("math.exp", b.neg(b.mul(x, x))))


defvjp("math.exp", lambda b, g, ans, x: b.mul(g, ans))
defvjp_n("math.log", _log_rule)
defvjp("math.log2", lambda b, g, ans, x: b.div(g, b.mul(x, b.call("math.log", Const(2)))))
defvjp("math.log10", lambda b, g, ans, x: b.div(g, b.mul(x, b.call("math.log", Const(10)))))
defvjp("math.log1p", lambda b, g, ans, x: b.div(g, b.add(ONE, x)))
defvjp("math.expm1", lambda b, g, ans, x: b.mul(g, b.add(ans, ONE)))
defvjp("math.sqrt", lambda b, g, ans, x: b.div(g, b.mul(Const(2), ans)))
defvjp("math.pow", _pow_base, _pow_exponent)
defvjp("math.sin", lambda b, g, ans, x: b.mul(g, b.call("math.cos", x)))
defvjp("math.cos", lambda b, g, ans, x: b.mul(b.neg(g), b.call("math.sin", x)))
defvjp("math.tan", lambda b, g, ans, x: b.mul(g, b.add(ONE, b.mul(ans, ans))))
defvjp("math.asin", lambda b, g, ans, x: b.div(g, _sqrt_one_minus_square(b, x)))
defvjp("math.acos", lambda b, g, ans, x: b.div(b.neg(g), _sqrt_one_minus_square(b, x)))
defvjp("math.atan", lambda b, g, ans, x: b.div(g, b.add(ONE, b.mul(x, x))))
defvjp_n("math.atan2", _atan2_rule)
defvjp("math.sinh", lambda b, g, ans, x: b.mul(g, b.call("math.cosh", x)))
defvjp("math.cosh", lambda b, g, ans, x: b.mul(g, b.call("math.sinh", x)))
defvjp("math.tanh", lambda b, g, ans, x: b.mul(g, b.sub(ONE, b.mul(ans, ans))))
# x / hypot(x, ...): hypot is 0 only where every argument is 0, so dividing by 1 there gives 0, the
# subgradient that keeps the gradient odd (as abs at 0, and np.linalg.norm at 0).
defvjp_n("math.hypot", lambda b, g, ans, ins, i: b.div(b.mul(g, ins[i]), nonzero(b, ans)))
defvjp("math.erf", lambda b, g, ans, x: _erf_local(b, g, x))
defvjp("math.erfc", lambda b, g, ans, x: _erf_local(b, b.neg(g), x))
defvjp("math.fabs", lambda b, g, ans, x: b.mul(g, _sign(b, x)))


# The numpy sections of the table (linear algebra apart), and the rules for sequences, casts and fills.
from . import (  # noqa: E402,F401
    rules_front,
    rules_linalg,
    rules_linalg_more,
    rules_more,
    rules_numpy,
    rules_special,
)

"""More of the numpy rule table (see :mod:`diffc.ops.rules`): elementwise functions of one and two
arguments, cumulative ops, and the shape and indexing functions (flip, roll, repeat, tile, moveaxis,
take, pad, sort ...).

Each gradient has its input's shape. Where NumPy has a call that undoes the op (np.flip undoes
np.flip, np.roll by -shift undoes np.roll, np.moveaxis back undoes np.moveaxis) the rule writes it;
where the transpose is a scatter or a sum of copies, a run-time helper (diffc.helpers_more) does
it. Conventions at kinks follow the builtins': np.fmax/np.fmin route to the first of equal
arguments (and to the argument that is not NaN), np.fabs has gradient 0 at 0, np.remainder has
gradient 1 in x and -floor(x / y) in y (it jumps where x / y is an integer).
"""

from __future__ import annotations

import math

from ..ir import Const, Ref
from .rules import ONE, VJPS, ZERO, NeedsShapes, defvjp, defvjp_full
from .rules_front import NoRule
from .rules_numpy import BROADCASTING, ELEMENTWISE, _mean, _np, _where_zero, reshape_like

_BINARY = {_np(f) for f in "arctan2 hypot logaddexp logaddexp2 remainder mod fmax fmin".split()}
_UNARY = {_np(f) for f in "fabs arccosh arcsinh arctanh deg2rad degrees rad2deg radians real".split()}
BROADCASTING |= _BINARY
ELEMENTWISE |= _BINARY | _UNARY


def arg(ins, params, position, keyword, default=None):
    """A literal argument given by position or keyword (an atom if given by position and not literal)."""
    if keyword in params:
        return params[keyword]
    if position < len(ins):
        atom = ins[position]
        return atom.value if isinstance(atom, Const) else atom
    return default


# ----------------------------------------------------------------------------
# Elementwise
# ----------------------------------------------------------------------------
def _atan2(b, g, ans, y, x, i):
    r2 = b.add(b.mul(x, x), b.mul(y, y))
    return b.div(b.mul(g, x), r2) if i == 0 else b.div(b.mul(b.neg(g), y), r2)


defvjp(_np("arctan2"), lambda b, g, ans, y, x: _atan2(b, g, ans, y, x, 0),
       lambda b, g, ans, y, x: _atan2(b, g, ans, y, x, 1))


def _nonzero(b, x):
    """``x``, or 1 where it is 0 (elementwise)."""
    return b.call(_np("where"), b.compare("ne", x, ZERO), x, Const(1.0))


# x / hypot(x, y), and 0 where both are 0 (as abs at 0 and np.linalg.norm at 0).
defvjp(_np("hypot"), lambda b, g, ans, x, y: b.div(b.mul(g, x), _nonzero(b, ans)),
       lambda b, g, ans, x, y: b.div(b.mul(g, y), _nonzero(b, ans)))
# exp(x - ans) rather than exp(x) / (exp(x) + exp(y)): no overflow.
defvjp(_np("logaddexp"), lambda b, g, ans, x, y: b.mul(g, b.call(_np("exp"), b.sub(x, ans))),
       lambda b, g, ans, x, y: b.mul(g, b.call(_np("exp"), b.sub(y, ans))))
defvjp(_np("logaddexp2"), lambda b, g, ans, x, y: b.mul(g, b.call(_np("exp2"), b.sub(x, ans))),
       lambda b, g, ans, x, y: b.mul(g, b.call(_np("exp2"), b.sub(y, ans))))
# x % y == x - y * floor(x / y)
for _name in ("remainder", "mod"):
    defvjp(_np(_name), lambda b, g, ans, x, y: g,
           lambda b, g, ans, x, y: b.mul(b.neg(g), b.emit("floordiv", x, y)))


def _fmax_cond(b, x, y, order):
    """Where x takes the gradient of np.fmax/np.fmin: x wins (ties to x), or y is NaN."""
    return b.call(_np("logical_or"), b.compare(order, x, y), b.call(_np("isnan"), y))


defvjp(_np("fmax"), lambda b, g, ans, x, y: _where_zero(b, _fmax_cond(b, x, y, "ge"), g),
       lambda b, g, ans, x, y: _where_zero(b, _fmax_cond(b, x, y, "ge"), g, take_if_true=False))
defvjp(_np("fmin"), lambda b, g, ans, x, y: _where_zero(b, _fmax_cond(b, x, y, "le"), g),
       lambda b, g, ans, x, y: _where_zero(b, _fmax_cond(b, x, y, "le"), g, take_if_true=False))
defvjp(_np("fabs"), lambda b, g, ans, x: b.mul(g, b.call(_np("sign"), x)))
defvjp(_np("arccosh"), lambda b, g, ans, x: b.div(g, b.call(_np("sqrt"), b.sub(b.mul(x, x), ONE))))
defvjp(_np("arcsinh"), lambda b, g, ans, x: b.div(g, b.call(_np("sqrt"), b.add(b.mul(x, x), ONE))))
defvjp(_np("arctanh"), lambda b, g, ans, x: b.div(g, b.sub(ONE, b.mul(x, x))))
_PI = Ref("numpy", "pi", math.pi)
for _name in ("deg2rad", "radians"):
    defvjp(_np(_name), lambda b, g, ans, x: b.mul(g, b.div(_PI, Const(180))))
for _name in ("rad2deg", "degrees"):
    defvjp(_np(_name), lambda b, g, ans, x: b.mul(g, b.div(Const(180), _PI)))
defvjp(_np("real"), lambda b, g, ans, x: g)  # diffc's values are real: np.real is the identity


# ----------------------------------------------------------------------------
# Cumulative ops and differences
# ----------------------------------------------------------------------------
def _cumsum(b, g, ans, ins, i, params):
    """The transpose of a running sum is a running sum from the other end."""
    axis = arg(ins, params, 1, "axis")
    if axis is None:
        back = b.call(_np("flip"), b.call(_np("cumsum"), b.call(_np("flip"), g)))
        return reshape_like(b, back, ins[0], ans)
    flip = lambda v: b.emit(_np("flip"), v, axis=axis)  # noqa: E731
    return flip(b.emit(_np("cumsum"), flip(g), axis=axis))


def _cumprod(b, g, ans, ins, i, params):
    axis = arg(ins, params, 1, "axis")
    return b.emit("_cumprod_grad", g, ins[0]) if axis is None else b.emit("_cumprod_grad", g, ins[0], axis=axis)


def _diff(b, g, ans, ins, i, params):
    n, axis = arg(ins, params, 1, "n", 1), arg(ins, params, 2, "axis", -1)
    if not isinstance(n, int) or not isinstance(axis, int):
        raise NoRule("np.diff needs a literal n and axis for its gradient", "write them as numbers")
    return b.emit("_diff_grad", g, n=n, axis=axis) if i == 0 else None


defvjp_full(_np("cumsum"), _cumsum)
defvjp_full(_np("cumprod"), _cumprod)
defvjp_full(_np("diff"), _diff)

# ----------------------------------------------------------------------------
# Shapes: the inverse motion
# ----------------------------------------------------------------------------


def _literal(value, what):
    if not isinstance(value, (int, tuple)) or isinstance(value, bool):
        raise NoRule(f"{what} must be a literal integer (or tuple) for diffc to write the gradient",
                     "write it as a number")
    return value


def _flip(b, g, ans, ins, i, params):
    axis = arg(ins, params, 1, "axis")
    return b.call(_np("flip"), g) if axis is None else b.emit(_np("flip"), g, axis=axis)


def _roll(b, g, ans, ins, i, params):
    if i:
        return None
    shift, axis = ins[1], arg(ins, params, 2, "axis")
    back = b.neg(shift) if not isinstance(getattr(shift, "value", None), tuple) else \
        Const(tuple(-s for s in shift.value))
    return b.call(_np("roll"), g, back) if axis is None else b.emit(_np("roll"), g, back, axis=axis)


def _moveaxis(b, g, ans, ins, i, params):
    return None if i else b.call(_np("moveaxis"), g, ins[2], ins[1])


def _swapaxes(b, g, ans, ins, i, params):
    return None if i else b.call(_np("swapaxes"), g, ins[1], ins[2])


def _rollaxis(b, g, ans, ins, i, params):
    if i:
        return None
    start = arg(ins, params, 2, "start", 0)
    return b.emit("_rollaxis_grad", g, ins[0], ins[1], Const(start))


def _reshape(b, g, ans, ins, i, params):
    return None if i else reshape_like(b, g, ins[0], ans)


def _band(name):
    def rule(b, g, ans, ins, i, params):
        k = arg(ins, params, 1, "k", 0)
        return b.call(_np(name), g) if k == 0 else b.emit(_np(name), g, k=_literal(k, "k"))

    return rule


def _diag(b, g, ans, ins, i, params):
    k = _literal(arg(ins, params, 1, "k", 0), "k")
    rank = b.rank(ins[0])
    if rank == 1:  # np.diag made a matrix from x: x's gradient is its diagonal
        return b.call(_np("diag"), g) if k == 0 else b.emit(_np("diag"), g, k=k)
    if rank == 2:  # np.diag took the diagonal of x
        return b.emit("_diagonal_grad", g, ins[0], Const(k))
    return b.emit("_diag_grad", g, ins[0], Const(k))  # a vector or a matrix: decided at run time


def _diagonal(b, g, ans, ins, i, params):
    offset = _literal(arg(ins, params, 1, "offset", 0), "offset")
    a1, a2 = _literal(arg(ins, params, 2, "axis1", 0), "axis1"), _literal(arg(ins, params, 3, "axis2", 1), "axis2")
    return b.emit("_diagonal_grad", g, ins[0], Const(offset), Const(a1), Const(a2))


for _name, _rule in [("flip", _flip), ("roll", _roll), ("moveaxis", _moveaxis), ("swapaxes", _swapaxes),
                     ("rollaxis", _rollaxis), ("atleast_1d", _reshape), ("atleast_2d", _reshape),
                     ("atleast_3d", _reshape), ("tril", _band("tril")), ("triu", _band("triu")),
                     ("diag", _diag), ("diagonal", _diagonal)]:
    defvjp_full(_np(_name), _rule)

# ----------------------------------------------------------------------------
# Copies and selections: sums of copies, scatters
# ----------------------------------------------------------------------------


def _repeat(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis")
    return b.emit("_repeat_grad", g, ins[0], ins[1]) if axis is None else \
        b.emit("_repeat_grad", g, ins[0], ins[1], axis=_literal(axis, "axis"))


def _tile(b, g, ans, ins, i, params):
    return None if i else b.emit("_tile_grad", g, ins[0], ins[1])


def _take(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis")
    return b.emit("_take_grad", g, ins[0], ins[1]) if axis is None else \
        b.emit("_take_grad", g, ins[0], ins[1], axis=_literal(axis, "axis"))


def _take_along_axis(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis", -1)  # NumPy 2.3 and later: -1 by default
    return b.emit("_take_along_axis_grad", g, ins[0], ins[1], Const(axis))


def _pad(b, g, ans, ins, i, params):
    mode = arg(ins, params, 2, "mode", "constant")
    if mode != "constant":
        raise NoRule(f"the gradient of np.pad in mode {mode!r} is not supported", "use mode='constant'")
    return b.emit("_pad_grad", g, ins[0], ins[1]) if i == 0 else None


def _append(b, g, ans, ins, i, params):
    axis = arg(ins, params, 2, "axis")
    if i > 1:
        return None
    return b.emit("_append_grad", g, ins[0], ins[1], Const(i)) if axis is None else \
        b.emit("_append_grad", g, ins[0], ins[1], Const(i), axis=_literal(axis, "axis"))


def _sort(b, g, ans, ins, i, params):
    """Each element of the sorted array came from one element of x: the gradient goes back there
    (equal elements: in the order a stable sort keeps them)."""
    if i:
        return None
    axis = arg(ins, params, 1, "axis", -1)
    if axis is None:
        order = b.emit(_np("argsort"), b.call(_np("ravel"), ins[0]), kind="stable")
        return reshape_like(b, b.emit("_sort_grad", g, order), ins[0], ans)
    order = b.emit(_np("argsort"), ins[0], axis=_literal(axis, "axis"), kind="stable")
    return b.emit("_sort_grad", g, order, axis=axis)


def _partition(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis", -1)
    if axis is None:
        order = b.call(_np("argpartition"), b.call(_np("ravel"), ins[0]), ins[1])
        return reshape_like(b, b.emit("_sort_grad", g, order), ins[0], ans)
    order = b.emit(_np("argpartition"), ins[0], ins[1], axis=_literal(axis, "axis"))
    return b.emit("_sort_grad", g, order, axis=axis)


def _average(b, g, ans, ins, i, params):
    return _mean(b, g, ans, ins, i, params)


for _name, _rule in [("repeat", _repeat), ("tile", _tile), ("take", _take), ("take_along_axis", _take_along_axis),
                     ("pad", _pad), ("append", _append), ("sort", _sort), ("partition", _partition),
                     ("average", _average)]:
    defvjp_full(_np(_name), _rule)


def _gradient(b, g, ans, ins, i, params):
    axis = params.get("axis")
    if axis is None and b.rank(ins[0]) is None:
        raise NeedsShapes("np.gradient needs its argument's rank (of rank 1 it returns one array)")
    if axis is None and b.rank(ins[0]) != 1:
        raise NoRule("np.gradient of an array of rank other than 1 returns a list: its gradient is not supported",
                     "pass axis=... to get one array")
    return b.emit("_gradient_grad", g) if axis is None else b.emit("_gradient_grad", g, axis=_literal(axis, "axis"))


defvjp_full(_np("gradient"), _gradient)
assert all(op in VJPS for op in _BINARY | _UNARY)

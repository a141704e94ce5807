"""Reductions (``np.sum``, ``np.mean``, ``np.max``, ``np.prod`` ...), running ones (``np.cumsum``,
``np.cumprod``) and differences (``np.diff``, ``np.gradient``).

Guarantees: a reduction's gradient spreads the upstream gradient back over the reduced axes (put
back with size 1, then broadcast), so it has the input's shape; ``np.max``/``np.min`` route it to
the first extreme (in C order over several axes), ``np.prod`` is exact where elements are 0.
Axes must be literal: a rule that needs them refuses otherwise.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .algebra import NeedsShapes, NoRule, arg, literal, reshape_like, spread
from .op import FLAT, Call, call_arg, define
from .tangents import linear

_REDUCE = dict(arity=(1, 2), keywords=("axis", "keepdims"), shape=S.reduction)


def _axis(params, ins, b=None):
    call = Call(ins, params)
    axis = call_arg(call, 1, "axis", None)
    if b is not None and b.rank(ins[0]) == 0:  # NumPy lets a number be reduced over axis 0 or -1
        axis = None
    return axis, call_arg(call, -1, "keepdims", False)


def _count(b, x, ans, axis):
    if axis is None:  # x.size if x is known to be an array; np.size(x) also counts a float as 1
        rank = b.rank(x)
        return b.emit("size", x, _style=("attr", "size")) if rank else b.call("size", x)
    if isinstance(axis, int):
        return b.emit("getitem", b.shape_of(x), Const(axis), index=("atom", 1))
    size = lambda v: b.emit("size", v, _style=("attr", "size"))  # noqa: E731
    return b.emit("floordiv", size(x), size(ans))


def _sum(b, g, ans, ins, i, params):
    axis, keepdims = _axis(params, ins, b)
    return b.call("full_like", ins[0], spread(b, g, axis, keepdims)) if i == 0 else None


def mean_rule(b, g, ans, ins, i, params):
    """np.mean: each element gets an equal share of the gradient."""
    axis, keepdims = _axis(params, ins, b)
    if i:
        return None
    share = b.div(spread(b, g, axis, keepdims), _count(b, ins[0], ans, axis))
    return b.call("full_like", ins[0], share)


def _router(pick):
    def rule(b, g, ans, ins, i, params):
        axis, keepdims = _axis(params, ins, b)
        if i:
            return None
        if isinstance(axis, tuple):  # several axes: the first extreme over them, in C order
            return b.mul(b.emit("_first_mask_axes", ins[0], Const(axis), Const(pick)), spread(b, g, axis, keepdims))
        mask = b.emit("_first_mask", ins[0], axis=axis, pick=pick) if axis is not None else \
            b.emit("_first_mask", ins[0], pick=pick)
        return b.mul(mask, spread(b, g, axis, keepdims))

    return rule


def _mask(b, x, axis, pick):
    """1 at the first extreme of ``x`` along ``axis`` (in C order over several axes), else 0."""
    if isinstance(axis, tuple):
        return b.emit("_first_mask_axes", x, Const(axis), Const(pick))
    return b.emit("_first_mask", x, axis=axis, pick=pick) if axis is not None else b.emit("_first_mask", x, pick=pick)


def reduce_sum(b, x, axis, keepdims):
    """np.sum(x, axis=axis, keepdims=keepdims), its defaults left out."""
    extra = {"axis": axis} if axis is not None else {}
    return b.emit("sum", x, **extra, **({"keepdims": True} if keepdims else {}))


def _weighted(local):
    """The tangent of a reduction whose local derivative is ``local(b, x, axis)``: the sum of it times
    the tangent over the reduced axes."""

    def jvp(b, dots, ans, ins, params):
        if dots[0] is None:
            return None
        axis, keepdims = _axis(params, ins, b)
        return reduce_sum(b, b.mul(local(b, ins[0], axis), dots[0]), axis, keepdims)

    return jvp


def _prod_others_of(b, x, axis):
    if isinstance(axis, tuple):
        return b.emit("_prod_others_axes", x, Const(axis))
    return b.emit("_prod_others", x, axis=axis) if axis is not None else b.emit("_prod_others", x)


def _average_jvp(b, dots, ans, ins, params):
    """np.average is linear in a (weights as they are); its tangent in the weights is not written yet."""
    if len(dots) > 2 and dots[2] is not None:
        raise NoRule("the forward-mode tangent of np.average in its weights is not written yet",
                     "use the reverse mode (diffc.grad), or write sum(a * w) / sum(w) out")
    return _LINEAR(b, dots, ans, ins, params)


_LINEAR = linear(0)
_MAX, _MIN = (_weighted(lambda b, x, axis, p=pick: _mask(b, x, axis, p)) for pick in ("max", "min"))
_PTP = lambda b, dots, ans, ins, params: None if dots[0] is None else b.sub(  # noqa: E731  (max - min)
    _MAX(b, dots, ans, ins, params), _MIN(b, dots, ans, ins, params))


def _ptp(b, g, ans, ins, i, params):
    """np.ptp = max - min: the gradient goes to the first maximum, and minus it to the first minimum."""
    if i:
        return None
    return b.sub(_router("max")(b, g, ans, ins, 0, params), _router("min")(b, g, ans, ins, 0, params))


def _prod(b, g, ans, ins, i, params):
    axis, keepdims = _axis(params, ins, b)
    if i:
        return None
    if isinstance(axis, tuple):  # several axes: flattened into one by a helper
        return b.mul(b.emit("_prod_others_axes", ins[0], Const(axis)), spread(b, g, axis, keepdims))
    others = b.emit("_prod_others", ins[0], axis=axis) if axis is not None else b.emit("_prod_others", ins[0])
    return b.mul(others, spread(b, g, axis, keepdims))


_FIRST = "the first extreme (C order over several axes)"
define("numpy.sum", _sum, jvp=_LINEAR, methods=("sum",), **_REDUCE, shape_args=(1,), result_kind="keep")
define("numpy.mean", mean_rule, jvp=_LINEAR, methods=("mean",), **_REDUCE, shape_args=(1,))
def _average(b, g, ans, ins, i, params):
    """np.average: the mean, or with weights sum(a * w) / sum(w) over the axis (a helper places 1-D
    weights along the axis, as NumPy does, and sums their gradient back)."""
    if params.get("returned"):
        raise NoRule("np.average(..., returned=True) returns a pair: its gradient is not supported",
                     "compute np.average(a, axis, weights) and np.sum(weights) on their own lines")
    weights = ins[2] if len(ins) > 2 and not (isinstance(ins[2], Const) and ins[2].value is None) else None
    if weights is None:
        return mean_rule(b, g, ans, ins[:2], i, params) if i == 0 else None
    if i == 1:
        return None
    axis, keepdims = _axis(params, ins)
    return b.emit("_average_grad", g, ins[0], weights, Const(axis), Const(bool(keepdims)), Const(i // 2))


define("numpy.average", _average, jvp=_average_jvp, arity=(1, 3), keywords=("axis", "keepdims", "returned"),
       array_keywords=("weights",), positional=("a", "axis", "weights"), shape=S.reduction,
       kinks="weights: NumPy divides by their sum (a zero sum is NumPy's ZeroDivisionError); "
             "refused: returned=True when active")
define("numpy.max", _router("max"), jvp=_MAX, methods=("max",), **_REDUCE, shape_args=(1,), result_kind="keep",
       pattern="max gate: routes", kinks=_FIRST)
define("numpy.min", _router("min"), jvp=_MIN, methods=("min",), **_REDUCE, shape_args=(1,), result_kind="keep",
       pattern="min gate: routes", kinks=_FIRST)
define("numpy.amax", _router("max"), jvp=_MAX, **_REDUCE, shape_args=(1,), kinks="the first extreme")
define("numpy.amin", _router("min"), jvp=_MIN, **_REDUCE, shape_args=(1,), kinks="the first extreme")
define("numpy.ptp", _ptp, jvp=_PTP, **_REDUCE, shape_args=(1,),
       kinks="g to the first maximum, -g to the first minimum (so 0 where all are equal)")
define("numpy.prod", _prod, jvp=_weighted(_prod_others_of), methods=("prod",), **_REDUCE, shape_args=(1,),
       result_kind="keep",
       kinks="exact where elements are 0")
for _name in ("argmax", "argmin"):
    define(f"numpy.{_name}", methods=(_name,), arity=(1, 2), keywords=("axis",),
           grad=FLAT, result_kind="i", shape_args=(1,))


# ----------------------------------------------------------------------------
# Running sums and products, differences
# ----------------------------------------------------------------------------
def _cumsum(b, g, ans, ins, i, params):
    """The transpose of a running sum is a running sum from the other end."""
    axis = arg(ins, params, 1, "axis")
    if axis is None:
        back = b.call("flip", b.call("cumsum", b.call("flip", g)))
        return reshape_like(b, back, ins[0], ans)
    flip = lambda v: b.emit("flip", v, axis=axis)  # noqa: E731
    return flip(b.emit("cumsum", flip(g), axis=axis))


def _cumprod(b, g, ans, ins, i, params):
    axis = arg(ins, params, 1, "axis")
    return b.emit("_cumprod_grad", g, ins[0]) if axis is None else b.emit("_cumprod_grad", g, ins[0], axis=axis)


def _diff(b, g, ans, ins, i, params):
    n, axis = arg(ins, params, 1, "n", 1), arg(ins, params, 2, "axis", -1)
    if not isinstance(n, int) or not isinstance(axis, int):
        raise NoRule("np.diff needs a literal n and axis for its gradient", "write them as numbers")
    return b.emit("_diff_grad", g, n=n, axis=axis) if i == 0 else None


def _gradient(b, g, ans, ins, i, params):
    axis = params.get("axis")
    if axis is None and b.rank(ins[0]) is None:
        raise NeedsShapes("np.gradient needs its argument's rank (of rank 1 it returns one array)")
    if axis is None and b.rank(ins[0]) != 1:
        raise NoRule("np.gradient of an array of rank other than 1 returns a list: its gradient is not supported",
                     "pass axis=... to get one array")
    return b.emit("_gradient_grad", g) if axis is None else b.emit("_gradient_grad", g, axis=literal(axis, "axis"))


define("numpy.cumsum", _cumsum, jvp=_LINEAR, methods=("cumsum",), arity=(1, 2), keywords=("axis",),
       shape=S.cumulative, result_kind="keep")
define("numpy.cumprod", _cumprod, methods=("cumprod",), arity=(1, 2),
       keywords=("axis",), shape=S.cumulative, kinks="exact where elements are 0")
define("numpy.diff", _diff, jvp=_LINEAR, arity=(1, 3), keywords=("n", "axis"))
define("numpy.gradient", _gradient, jvp=_LINEAR, arity=(1, 1), keywords=("axis",),
       shape=S.same_as_first, kinks="rank 1, or with axis=")

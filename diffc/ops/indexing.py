"""Indexing and shape manipulation: ``x[i]``, ``x[i] = v``, ``np.reshape``, ``np.transpose``,
``np.concatenate``/``stack``, ``np.flip``, ``np.roll``, ``np.take``, ``np.pad``, ``np.sort`` ...

Guarantees: each gradient has its input's shape and is exact. Where NumPy has a call that undoes
the op (np.flip undoes np.flip, np.roll by -shift undoes np.roll, np.moveaxis back undoes
np.moveaxis) the rule writes it; indexing scatters the gradient (``np.add.at``, so repeated
indices add up); where the transpose is a scatter or a sum of copies a run-time helper
(:mod:`diffc.backends.runtime_more`) does it. ``x[i] = v`` on an index that may repeat gives the
gradient to the last write only, as NumPy keeps only it.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .algebra import ZERO, NeedsShapes, NoRule, arg, literal, reshape_like, unbroadcast, where_zero
from .op import FLAT, Call, call_arg, define
from .tangents import joint, linear

_U, _F = None, S.same_as_first


def _getitem_shape(shapes, eqn, in_shapes):
    shape, index = S.known(in_shapes[0]), eqn.params["index"]
    if shape is None:
        return None
    items = index[1] if index[0] == "tuple" else [index]
    if all(item[0] == "atom" and shapes.kind(eqn.ins[item[1]]) == "i" for item in items) \
            and len(items) <= len(shape):
        # Integer-array ("fancy") indexing of the leading axes: the index arrays broadcast together.
        index_shapes = [S.known(in_shapes[item[1]]) for item in items]
        joined = shapes.broadcast(*index_shapes)
        return None if joined is None else joined + tuple(shape[len(items):])
    out, dim = [], 0
    for item in items:
        kind = item[0]
        if kind == "none":
            out.append(1)
            continue
        if dim >= len(shape) or kind == "ellipsis":
            return None
        if kind == "slice":
            out.append(shape[dim] if item[1:] == (None, None, None) else None)
        elif kind == "atom" and isinstance(eqn.ins[item[1]], Const) and type(eqn.ins[item[1]].value) is int:
            pass  # an integer index drops the dim
        elif kind == "atom" and in_shapes[item[1]] == () and not isinstance(eqn.ins[item[1]], Const):
            pass  # a scalar variable used as an index
        else:
            return None  # fancy or boolean indexing
        dim += 1
    return tuple(out) + tuple(shape[dim:])


def _reshape_back(b, g, ans, ins, i, params):
    return None if i else reshape_like(b, g, ins[0], ans)


def _transpose(b, g, ans, ins, i, params):
    axes = call_arg(Call(ins, params), 1, "axes", None)
    if i:
        return None
    if axes is None:  # g.T, unless g may be a number (the transpose of a number is that number)
        return b.T(g) if b.rank(ans) else b.call("transpose", g)
    inverse = tuple(sorted(range(len(axes)), key=lambda k: axes[k]))
    return b.call("transpose", g, Const(inverse))




def _only_reshapes(index) -> bool:
    if index[0] == "tuple":
        return all(_only_reshapes(item) for item in index[1])
    return index[0] in ("none", "ellipsis") or index == ("slice", None, None, None)


def _getitem(b, g, ans, ins, i, params):
    if i:
        return None
    if _only_reshapes(params["index"]):  # x[:, None] and the like select every element
        return _reshape_back(b, g, ans, ins, 0, params)
    basic = _basic(params["index"], ins, b)
    return b.emit("scatter_add", ins[0], g, *ins[1:], index=_shift(params["index"], 1), basic=basic)


def _basic(index, ins, b) -> bool:
    """True if the index selects no element twice: slices, None, and integer scalars."""
    if index[0] == "tuple":
        return all(_basic(item, ins, b) for item in index[1])
    if index[0] == "atom":
        atom = ins[index[1]]
        return (isinstance(atom, Const) and type(atom.value) is int) or (
            b.shape(atom) == () and b.shapes is not None and b.shapes.kind(atom) == "i")
    return True


def _setitem(b, g, ans, ins, i, params):
    index_atoms = ins[2:]
    if i == 0:
        return b.emit("zero_at", g, ZERO, *index_atoms, index=params["index"])
    if i == 1:
        index = _shift(params["index"], -1)
        part = b.emit("getitem", g, *index_atoms, index=index)
        if not _basic(index, (None, *index_atoms), b):  # an index may repeat: only the last write counts
            mask = b.emit("_last_writes", ins[0], *index_atoms, index=index)
            part = where_zero(b, mask, part)  # not part * mask: 0 * inf would be NaN
        return unbroadcast(b, part, ins[1], None)
    return None


def _shift(index, by):
    if index[0] == "tuple":
        return ("tuple", tuple(_shift(item, by) for item in index[1]))
    if index[0] == "slice":
        return ("slice", *(None if p is None else p + by for p in index[1:]))
    if index[0] == "atom":
        return ("atom", index[1] + by)
    return index




def _take_along(b, g, axis, start, stop):
    """g[..., start:stop, ...] on ``axis`` (or a single index when stop is None)."""
    items = []
    ins = [g]

    def atom(a):
        ins.append(a)
        return len(ins) - 1

    part = ("atom", atom(start)) if stop is None else ("slice", atom(start), atom(stop), None)
    if axis >= 0:
        items = [("slice", None, None, None)] * axis + [part]
    else:
        items = [("ellipsis",), part] + [("slice", None, None, None)] * (-axis - 1)
    return b.emit("getitem", *ins, index=("tuple", tuple(items)) if len(items) > 1 else items[0])


def _concat_axis(b, op, ins, params):
    axis = params.get("axis", 0)
    if op in ("hstack", "vstack"):
        rank = b.rank(ins[0])
        if rank is None:
            raise NeedsShapes(f"np.{op} needs its operands' ranks")
        if op == "hstack":
            return ("concatenate", 1 if rank > 1 else 0)
        return ("stack", 0) if rank == 1 else ("concatenate", 0)
    return (op, axis)


def _sequence_rule(op):
    def rule(b, g, ans, ins, i, params):
        kind, axis = _concat_axis(b, op, ins, params)
        if kind == "stack":
            return _take_along(b, g, axis, Const(i), None)
        size = lambda v: b.emit("getitem", b.shape_of(v), Const(axis), index=("atom", 1))  # noqa: E731
        start = Const(0)
        for earlier in ins[:i]:
            start = size(earlier) if start == Const(0) else b.add(start, size(earlier))
        stop = size(ins[i]) if start == Const(0) else b.add(start, size(ins[i]))
        return _take_along(b, g, axis, start, stop)

    return rule


def _flip(b, g, ans, ins, i, params):
    axis = arg(ins, params, 1, "axis")
    return b.call("flip", g) if axis is None else b.emit("flip", g, axis=axis)


def _roll(b, g, ans, ins, i, params):
    if i:
        return None
    shift, axis = ins[1], arg(ins, params, 2, "axis")
    back = b.neg(shift) if not isinstance(getattr(shift, "value", None), tuple) else \
        Const(tuple(-s for s in shift.value))
    return b.call("roll", g, back) if axis is None else b.emit("roll", g, back, axis=axis)


def _moveaxis(b, g, ans, ins, i, params):
    return None if i else b.call("moveaxis", g, ins[2], ins[1])


def _swapaxes(b, g, ans, ins, i, params):
    return None if i else b.call("swapaxes", g, ins[1], ins[2])


def _rollaxis(b, g, ans, ins, i, params):
    if i:
        return None
    start = arg(ins, params, 2, "start", 0)
    return b.emit("_rollaxis_grad", g, ins[0], ins[1], Const(start))


def _band(name):
    def rule(b, g, ans, ins, i, params):
        k = arg(ins, params, 1, "k", 0)
        return b.call(name, g) if k == 0 else b.emit(name, g, k=literal(k, "k"))

    return rule


def _diag(b, g, ans, ins, i, params):
    k = literal(arg(ins, params, 1, "k", 0), "k")
    rank = b.rank(ins[0])
    if rank == 1:  # np.diag made a matrix from x: x's gradient is its diagonal
        return b.call("diag", g) if k == 0 else b.emit("diag", g, k=k)
    if rank == 2:  # np.diag took the diagonal of x
        return b.emit("_diagonal_grad", g, ins[0], Const(k))
    return b.emit("_diag_grad", g, ins[0], Const(k))  # a vector or a matrix: decided at run time


def _diagonal(b, g, ans, ins, i, params):
    offset = literal(arg(ins, params, 1, "offset", 0), "offset")
    a1, a2 = literal(arg(ins, params, 2, "axis1", 0), "axis1"), literal(arg(ins, params, 3, "axis2", 1), "axis2")
    return b.emit("_diagonal_grad", g, ins[0], Const(offset), Const(a1), Const(a2))



# ----------------------------------------------------------------------------
# Copies and selections: sums of copies, scatters
# ----------------------------------------------------------------------------


def _repeat(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis")
    return b.emit("_repeat_grad", g, ins[0], ins[1]) if axis is None else \
        b.emit("_repeat_grad", g, ins[0], ins[1], axis=literal(axis, "axis"))


def _tile(b, g, ans, ins, i, params):
    return None if i else b.emit("_tile_grad", g, ins[0], ins[1])


def _take(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis")
    return b.emit("_take_grad", g, ins[0], ins[1]) if axis is None else \
        b.emit("_take_grad", g, ins[0], ins[1], axis=literal(axis, "axis"))


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
        b.emit("_append_grad", g, ins[0], ins[1], Const(i), axis=literal(axis, "axis"))


def _sort(b, g, ans, ins, i, params):
    """Each element of the sorted array came from one element of x: the gradient goes back there
    (equal elements: in the order a stable sort keeps them)."""
    if i:
        return None
    axis = arg(ins, params, 1, "axis", -1)
    if axis is None:
        order = b.emit("argsort", b.call("ravel", ins[0]), kind="stable")
        return reshape_like(b, b.emit("_sort_grad", g, order), ins[0], ans)
    order = b.emit("argsort", ins[0], axis=literal(axis, "axis"), kind="stable")
    return b.emit("_sort_grad", g, order, axis=axis)


def _partition(b, g, ans, ins, i, params):
    if i:
        return None
    axis = arg(ins, params, 2, "axis", -1)
    if axis is None:
        order = b.call("argpartition", b.call("ravel", ins[0]), ins[1])
        return reshape_like(b, b.emit("_sort_grad", g, order), ins[0], ans)
    order = b.emit("argpartition", ins[0], ins[1], axis=literal(axis, "axis"))
    return b.emit("_sort_grad", g, order, axis=axis)


# ----------------------------------------------------------------------------
# Forward rules that are not the op applied to the tangent
# ----------------------------------------------------------------------------
def _pad_jvp(b, dots, ans, ins, params):
    """np.pad in constant mode pads the tangent with zeros."""
    mode = arg(ins, params, 2, "mode", "constant")
    if mode != "constant":
        raise NoRule(f"the derivative of np.pad in mode {mode!r} is not supported", "use mode='constant'")
    if dots[0] is None:
        return None
    return b.emit("pad", dots[0], *ins[1:], **{k: v for k, v in params.items() if k != "constant_values"})


def _sort_jvp(order):
    """Each element of the result came from one element of x: the tangent comes from there too."""

    def jvp(b, dots, ans, ins, params):
        if dots[0] is None:
            return None
        axis = arg(ins, params, 2 if order == "argpartition" else 1, "axis", -1)
        kth = ins[1:2] if order == "argpartition" else ()
        extra = {"kind": "stable"} if order == "argsort" else {}
        if axis is None:
            where = b.emit(order, b.call("ravel", ins[0]), *kth, **extra)
            return b.emit("getitem", b.call("ravel", dots[0]), where, index=("atom", 1))
        where = b.emit(order, ins[0], *kth, axis=literal(axis, "axis"), **extra)
        return b.emit("take_along_axis", dots[0], where, axis=axis)

    return jvp


_LINEAR = linear(0)


# ----------------------------------------------------------------------------
# The records
# ----------------------------------------------------------------------------
def _array_op(name, rule, arity, keywords=(), shape=_U, jvp=_LINEAR, **facts):
    define(f"numpy.{name}", rule, arity=arity, keywords=keywords, shape=shape,
           jvp=jvp if rule is not None else None, **facts)


define("getitem", _getitem, jvp=_LINEAR, shape=_getitem_shape, view=True, symbol="[ ]", takes_sequences="rest")
define("setitem", _setitem, jvp=joint((0, 1)), shape=_F, view=True, symbol="[ ]=")
define("scatter_add", shape=_F)  # the backward ops of indexing: no rule of their own
define("zero_at", shape=_F, view=True)
# acc + (g scattered at index): the running sum of a gradient, written in place into its fresh accumulator
# (``acc[i] += g``, ``np.add.at`` for an index that may repeat); its result shares the accumulator's name.
define("index_add", shape=_F, view=True)
_array_op("reshape", _reshape_back, (2, 2), methods=("reshape",), shape_args=(1,), view=True, result_kind="keep")
_array_op("ravel", _reshape_back, (1, 1), methods=("ravel", "flatten"), view=True, result_kind="keep")
_array_op("squeeze", _reshape_back, (1, 2), ("axis",), methods=("squeeze",), shape_args=(1,), view=True,
          result_kind="keep")
_array_op("expand_dims", _reshape_back, (2, 2), ("axis",), shape=S.expand_dims, shape_args=(1,), view=True,
          result_kind="keep")
_array_op("transpose", _transpose, (1, 2), ("axes",), shape=S.transpose, shape_args=(1,), methods=("transpose",),
          attribute="T", view=True, result_kind="keep")
for _name in ("atleast_1d", "atleast_2d", "atleast_3d"):
    _array_op(_name, _reshape_back, (1, 1))
for _name in ("concatenate", "stack"):
    _array_op(_name, _sequence_rule(_name), (1, 2), ("axis",), jvp=joint(), sequence=True, result_kind="keep")
for _name in ("hstack", "vstack"):
    _array_op(_name, _sequence_rule(_name), (1, 1), jvp=joint(), sequence=True)
_array_op("flip", _flip, (1, 2), ("axis",), shape=_F)
_array_op("roll", _roll, (2, 3), ("axis",), shape=_F)
_array_op("moveaxis", _moveaxis, (3, 3))
_array_op("rollaxis", _rollaxis, (2, 3), ("start",))
_array_op("swapaxes", _swapaxes, (3, 3), methods=("swapaxes",))
_array_op("tril", _band("tril"), (1, 2), ("k",), shape=_F)
_array_op("triu", _band("triu"), (1, 2), ("k",), shape=_F)
_array_op("diag", _diag, (1, 2), ("k",))
_array_op("diagonal", _diagonal, (1, 4), ("offset", "axis1", "axis2"), methods=("diagonal",))
_array_op("repeat", _repeat, (2, 3), ("axis",), methods=("repeat",))
_array_op("tile", _tile, (2, 2))
_array_op("take", _take, (2, 3), ("axis",), methods=("take",))
_array_op("take_along_axis", _take_along_axis, (2, 3), ("axis",))
_array_op("pad", _pad, (2, 3), ("mode", "constant_values"), jvp=_pad_jvp, kinks="constant mode only")
_array_op("append", _append, (2, 3), ("axis",), jvp=joint((0, 1)))
_array_op("sort", _sort, (1, 2), ("axis", "kind"), shape=S.cumulative, jvp=_sort_jvp("argsort"),
    kinks="each element's gradient goes back where it came from (ties: stable order)")
_array_op("partition", _partition, (2, 3), ("axis",), shape=_F, jvp=_sort_jvp("argpartition"),
          kinks="as np.sort, by np.argpartition")
# Only the rules of np.sort and np.partition call these (no source name: a user's call stays opaque).
define("numpy.broadcast_to")  # only the forward rules write it: a tangent to an output's shape
define("numpy.argsort")
define("numpy.argpartition")
# What an array's shape says: numbers, no gradient.
_array_op("shape", None, (1, 1), shape=lambda shapes, eqn, in_shapes: (None,), grad=FLAT, attribute="shape",
    result_kind="i")  # a tuple of ints: x.shape[0] is a scalar
_array_op("ndim", None, (1, 1), shape=S.scalar, grad=FLAT, attribute="ndim", result_kind="i")
_array_op("size", None, (1, 1), shape=S.scalar, grad=FLAT, attribute="size", result_kind="i")

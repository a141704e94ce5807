"""The ops only the reverse pass writes, as records of their own, so a gradient can be differentiated again.

``diffc.grad(diffc.grad(f))`` and ``diffc.hvp`` compose at the IR level (:func:`diffc.compiler.compose`):
the outer transform runs on the inner one's forward and backward items, so every op a reverse rule
emits needs rules too. These are the run-time helpers (:mod:`diffc.backends.runtime`) that are
linear in the gradient they get, and the backward ops of indexing:

- ``_unbroadcast(g, x)`` sums ``g`` to ``x``'s shape: its transpose spreads back
  (``np.full_like(g, gg)``); ``x`` is only a template for the shape.
- ``_matmul_grad(g, a, b, i)`` / ``_dot_grad`` are ``d<g, a @ b>/d(a or b)``: bilinear in ``g`` and
  the other operand. For ``i == 1`` (``r = a^T g``), ``<gg, r> = <g, a @ gg>``, so ``g`` gets
  ``a @ gg`` and ``a`` gets ``_matmul_grad(g, a, gg, 0)``; ``i == 0`` mirrors it.
- ``_cast_grad(g, dtype)`` is ``g`` or zero, its own transpose.
- ``scatter_add(x, g, *index)`` (zeros like ``x``, ``g`` added at index) and ``index_add(acc, g, *index)``
  (``acc`` plus that, in place): their transposes read ``gg[index]``; their tangents are written as
  new arrays (``acc + scatter``), never into an array in place.
- ``zero_at(g, 0, *index)`` (``g`` with zeros at index) is a projection, its own transpose.
- ``make_struct`` (the gradient of a dict, tuple or list parameter): each part's rule reads that part.
- ``_first_mask``, ``_first_mask_axes`` and ``_last_writes`` are boolean masks: no gradient.

The loops' tape (``new_stack``, ``push``, ``pop``) is not a record: its rules need the transform's
own stacks (:mod:`diffc.ad.reverse` and :mod:`diffc.ad.forward`: the adjoint of a pop pushes the
popped value's gradient, the adjoint of a push pops it back, in the mirrored order). Every other
helper has no record, so a second derivative through it is refused at its line.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .indexing import _shift  # also: indexing's records exist before their rules are set here
from .op import FLAT, REGISTRY, RULE, define
from .tangents import zero_like


def _like(k):
    return lambda shapes, eqn, in_shapes: in_shapes[k]


def _operand(shapes, eqn, in_shapes):
    """The shape of the operand whose gradient ``helper(g, a, b, i)`` is."""
    return in_shapes[1 if eqn.ins[3].value == 0 else 2]


def _unbroadcast(b, g, ans, ins, i, params):
    return b.emit("full_like", ins[0], g) if i == 0 else None


def _unbroadcast_jvp(b, dots, ans, ins, params):
    return None if dots[0] is None else b.emit("_unbroadcast", dots[0], ins[1])


def _product_grad(helper, product):
    """The rules of ``helper(g, a, b, i)`` = d<g, product(a, b)>/d(input i of the product)."""

    def vjp(b, gg, ans, ins, k, params):
        g, x, y, which = ins
        which = which.value
        if k == 0:  # <gg, r> = <g, product(x, gg)> (i == 1) or <g, product(gg, y)> (i == 0)
            return b.emit(product, x, gg) if which == 1 else b.emit(product, gg, y)
        if k == 1 and which == 1:
            return b.emit(helper, g, x, gg, Const(0))
        if k == 2 and which == 0:
            return b.emit(helper, g, gg, y, Const(1))
        return None  # the operand whose gradient this is: only its shape is read

    def jvp(b, dots, ans, ins, params):
        g, x, y, which = ins
        other = 1 if which.value == 1 else 2
        total = None
        for k in (0, other):
            if dots[k] is not None:
                args = list(ins)
                args[k] = dots[k]
                part = b.emit(helper, *args)
                total = part if total is None else b.add(total, part)
        return total

    return vjp, jvp


def _cast(b, g, ans, ins, i, params):
    return b.emit("_cast_grad", g, ins[1]) if i == 0 else None


def _cast_jvp(b, dots, ans, ins, params):
    return None if dots[0] is None else b.emit("_cast_grad", dots[0], ins[1])


def _gather(b, gg, ins, params):
    """``gg[index]``: the transpose of adding ``g`` at the index (repeats: each reads its element)."""
    return b.emit("getitem", gg, *ins[2:], index=_shift(params["index"], -1))


def _scatter(b, gg, ans, ins, i, params):
    return _gather(b, gg, ins, params) if i == 1 else None


def _scatter_jvp(b, dots, ans, ins, params):
    return None if dots[1] is None else b.emit("scatter_add", ins[0], dots[1], *ins[2:], **params)


def _index_add(b, gg, ans, ins, i, params):
    if i == 0:
        return gg
    return _gather(b, gg, ins, params) if i == 1 else None


def _index_add_jvp(b, dots, ans, ins, params):
    """``dot_acc + (dot_g scattered at index)``, as new arrays: nothing written into a tangent in place."""
    part = None if dots[1] is None else b.emit("scatter_add", ins[0], dots[1], *ins[2:], **params)
    if dots[0] is None:
        return part
    return dots[0] if part is None else b.add(dots[0], part)


def _zero_at(b, gg, ans, ins, i, params):
    return b.emit("zero_at", gg, *ins[1:], **params) if i == 0 else None


def _zero_at_jvp(b, dots, ans, ins, params):
    # written in place only where nothing else reads the tangent (diffc.passes.sharing), as the value
    return None if dots[0] is None else b.emit("zero_at", dots[0], *ins[1:], **params)


define("_unbroadcast", _unbroadcast, jvp=_unbroadcast_jvp, shape=_like(1))
_vjp, _jvp = _product_grad("_matmul_grad", "matmul")
define("_matmul_grad", _vjp, jvp=_jvp, shape=_operand)
_vjp, _jvp = _product_grad("_dot_grad", "dot")
define("_dot_grad", _vjp, jvp=_jvp, shape=_operand)
define("_cast_grad", _cast, jvp=_cast_jvp, shape=_like(0))
for _name in ("_first_mask", "_first_mask_axes", "_last_writes"):
    define(_name, grad=FLAT, result_kind="b")
def _struct(b, gg, ans, ins, i, params):
    """The gradient of a container parameter, ``{"W": grad_W, ...}``: each part's gradient is that part of gg."""
    return b.emit("field", gg, key=params["keys"][i])


def _struct_jvp(b, dots, ans, ins, params):
    if all(d is None for d in dots):
        return None
    return b.emit("make_struct", *(d if d is not None else zero_like(b, a) for d, a in zip(dots, ins)), **params)


REGISTRY["make_struct"].vjp, REGISTRY["make_struct"].jvp, REGISTRY["make_struct"].grad = _struct, _struct_jvp, RULE
# The backward ops of indexing, defined with their forward op (diffc/ops/indexing.py): their rules here.
for _name, _rule, _tangent in (("scatter_add", _scatter, _scatter_jvp), ("index_add", _index_add, _index_add_jvp),
                               ("zero_at", _zero_at, _zero_at_jvp)):
    REGISTRY[_name].vjp, REGISTRY[_name].jvp, REGISTRY[_name].grad = _rule, _tangent, RULE
del _vjp, _jvp, _name, _rule, _tangent, S

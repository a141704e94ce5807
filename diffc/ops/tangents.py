"""What the forward (tangent) rules share: the generic derivations and the zero tangent.

One rule signature for every op: ``jvp(b, dots, ans, ins, params)`` returns the tangent of the
op's output given ``dots``, the tangent of each input (None for an input that does not depend on
a differentiated parameter: a zero tangent, never materialised), built as IR through the Builder
``b``; None for an identically zero tangent.

The derivations, each sound for the ops it is given to:

- :func:`diagonal`, for elementwise ops (and functions of numbers): the Jacobian is diagonal,
  so the tangent is the sum over the inputs of the reverse rule applied to the input's tangent
  (``vjp(dot_i)`` is ``dot_i`` times the local derivative, elementwise), without summing back
  broadcast axes; where that sum may lack some of the output's axes (``x + b`` with ``b`` not
  differentiated and of a larger shape), it is broadcast to the output's shape.
- :func:`linear`: an op linear in one input (``np.sum``, ``np.reshape``, ``x[i]``, ``.T``):
  the op applied to that input's tangent, its other arguments as they are.
- :func:`joint`: an op linear in several inputs together (``np.concatenate``, ``np.stack``, a list
  that becomes an array, ``x[i] = v``): the op applied to the tangents, a zero for an input
  that has none.
- :func:`multilinear`: an op linear in each input separately (``@``, ``np.outer``, ``np.einsum``):
  the sum over the inputs of the op with that one input replaced by its tangent (product rule).
- :func:`symmetric`: an op whose Jacobian is symmetric (softmax): its reverse rule applied to the
  tangent.

In every one, an input the rule does not differentiate is an integer, an axis, a shape, an index or
(np.full_like's first argument) a template for the shape: its derivative is zero, as the record's
reverse rule says (it returns None for it), so a tangent given for it (an integer parameter such
as labels ``y``, when every parameter is differentiated) contributes nothing.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .op import REGISTRY


def zero_like(b, x):
    """A zero tangent for the value ``x``: 0.0 for a number, else zeros of its shape (as floats)."""
    shape = b.shape(x)
    if isinstance(x, Const) or shape == () or not (b.numpy and b.shapes is not None or isinstance(shape, tuple)):
        return Const(0.0)
    return b.emit("zeros_like", x)


def _elementwise_eqn(e) -> bool:
    op = REGISTRY.get(e.op)
    return op is not None and (op.elementwise or op.shape in (S.elementwise, S.same_as_first))


def _full_shape(b, start, total, dots, ans, ins) -> bool:
    """True if the tangent ``total`` (made by ``b.eqns[start:]``) provably has ``ans``'s shape; ``dots``:
    the tangents that gave a term (each term has at least its tangent's shape, its input's)."""
    out = b.shape(ans)
    if out == () or not b.numpy:
        return True
    if out is not None and any(d is not None and b.shape(a) == out for a, d in zip(ins, dots)):
        return True  # one term has the output's shape already
    # Every input without a tangent is a number, or is read (elementwise) by the terms: the sum of
    # the terms broadcasts against all of them, as the output does.
    made = b.eqns[start:]
    reads = {id(a) for e in made for a in e.ins}
    elementwise = all(_elementwise_eqn(e) for e in made)
    return all(d is not None or isinstance(a, Const) or b.shape(a) == () or (elementwise and id(a) in reads)
               for a, d in zip(ins, dots))


def diagonal(vjp):
    """The forward rule of an elementwise op (or a function of numbers) from its reverse rule."""

    def jvp(b, dots, ans, ins, params):
        start = len(b.eqns)
        total, terms = None, [None] * len(dots)
        for i, dot in enumerate(dots):
            if dot is None:
                continue
            part = vjp(b, dot, ans, ins, i, params)
            if part is not None:
                terms[i] = dot
                total = part if total is None else b.add(total, part)
        if total is not None and not _full_shape(b, start, total, terms, ans, ins):
            total = b.call("broadcast_to", total, b.call("shape", ans))
        return total

    return jvp


def symmetric(vjp, position=0):
    """The forward rule of an op of one input whose Jacobian is symmetric: its reverse rule."""

    def jvp(b, dots, ans, ins, params):
        return None if dots[position] is None else vjp(b, dots[position], ans, ins, position, params)

    return jvp


def _emit(b, ans, ins, params):
    """The op of ``ans`` again, on other inputs (its keyword arguments kept)."""
    return b.emit(b.primitive, *ins, **params)  # b.primitive: set by the forward transform


def linear(position=0):
    """An op linear in input ``position``."""

    def jvp(b, dots, ans, ins, params):
        if dots[position] is None:
            return None
        args = list(ins)
        args[position] = dots[position]
        return _emit(b, ans, args, params)

    return jvp


def joint(positions=None):
    """An op linear in the inputs at ``positions`` together (None: all of them)."""

    def jvp(b, dots, ans, ins, params):
        chosen = range(len(ins)) if positions is None else positions
        if all(dots[i] is None for i in chosen):
            return None
        args = list(ins)
        for i in chosen:
            args[i] = dots[i] if dots[i] is not None else zero_like(b, ins[i])
        return _emit(b, ans, args, params)

    return jvp


def multilinear(positions=(0, 1)):
    """An op linear in each input at ``positions`` separately: the product rule."""

    def jvp(b, dots, ans, ins, params):
        total = None
        for i in positions:
            if dots[i] is None:
                continue
            args = list(ins)
            args[i] = dots[i]
            part = _emit(b, ans, args, params)
            total = part if total is None else b.add(total, part)
        return total

    return jvp

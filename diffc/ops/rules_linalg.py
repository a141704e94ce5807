"""The linear-algebra section of the rule table (see :mod:`diffc.ops.rules`): ``@``, ``np.matmul``,
``np.dot``, ``np.outer``, ``np.inner``, ``np.linalg.norm`` and ``np.trace``.

``@``/``np.matmul`` and ``np.dot`` agree when both operands have rank at most 2 or the second is
1-D; above that, matmul broadcasts stacks of matrices over the leading axes and dot contracts the
last axis of its first operand with the second to last of its second, keeping every other axis of
both. Each rule is written for the operands' ranks when they are known, and otherwise calls a
run-time helper (:mod:`diffc.backends.runtime`) that is right for every rank.
"""

from __future__ import annotations

from ..ir import Const
from .rules import VJPS, NeedsShapes, defvjp, nonzero
from .rules_numpy import _np, reshape_like, unbroadcast

defvjp("matmul", lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 0),
       lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 1))


def matmul_vjp(b, g, ans, x, y, i, dot=False):
    """x @ y (or np.dot(x, y) with ``dot``). Written for the operands' ranks when known, else by a
    helper that checks them at run time. The two agree when both ranks are at most 2 or y is 1-D;
    above that, matmul broadcasts stacks of matrices and dot contracts x's last axis with y's
    second to last, keeping every other axis of both."""
    rx, ry = b.rank(x), b.rank(y)
    if rx == 0 or ry == 0:  # a scalar operand: elementwise, summed back into the scalar
        part = b.mul(g, y if i == 0 else x)
        return b.call("numpy.sum", part) if (rx if i == 0 else ry) == 0 else part
    if rx is None or ry is None:
        return b.emit("_dot_grad" if dot else "_matmul_grad", g, x, y, Const(i))
    if rx > 2 or ry > 2:
        return _tensordot_grad(b, g, x, y, i, rx, ry) if dot else _batched_grad(b, g, ans, x, y, i, rx, ry)
    if i == 0:
        if ry == 1:
            return b.call("numpy.outer", g, y) if rx == 2 else b.mul(g, y)
        return b.emit("matmul", g, b.T(y)) if rx == 2 else b.emit("matmul", y, g)
    if rx == 1:
        return b.call("numpy.outer", x, g) if ry == 2 else b.mul(g, x)
    return b.emit("matmul", b.T(x), g)


def _batched_grad(b, g, ans, x, y, i, rx, ry):
    """x @ y with a stack of matrices: the matrix rule on the last two axes, summed over broadcast ones."""
    out = b.shape(ans)
    if rx < 2 or ry < 2 or not isinstance(out, tuple):  # a vector against a stack: the helper promotes it
        return b.emit("_matmul_grad", g, x, y, Const(i))
    swap = lambda v, r: b.T(v) if r == 2 else b.call("numpy.swapaxes", v, Const(-1), Const(-2))  # noqa: E731
    if i == 0:
        return unbroadcast(b, b.emit("matmul", g, swap(y, ry)), x, out[:-2] + b.shape(x)[-2:])
    return unbroadcast(b, b.emit("matmul", swap(x, rx), g), y, out[:-2] + b.shape(y)[-2:])


def _tensordot_grad(b, g, x, y, i, rx, ry):
    """np.dot(x, y) = np.tensordot(x, y, axes=(rx - 1, ry - 2)): the gradient contracts g with the other."""
    if i == 0:
        if ry == 1:
            return b.emit("numpy.tensordot", g, y, axes=0)
        return b.emit("numpy.tensordot", g, y, axes=(tuple(range(rx - 1, rx + ry - 2)), (*range(ry - 2), ry - 1)))
    lead = tuple(range(rx - 1))
    part = b.emit("numpy.tensordot", x, g, axes=(lead, lead))
    return part if ry == 1 else b.call("numpy.moveaxis", part, Const(0), Const(-2))


VJPS[_np("matmul")] = VJPS["matmul"]
defvjp(_np("dot"), lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 0, dot=True),
       lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 1, dot=True))


def _outer(b, g, ans, x, y, i):
    if b.rank(x) == 1 and b.rank(y) == 1:
        return b.emit("matmul", g, y) if i == 0 else b.emit("matmul", x, g)
    other = b.call(_np("ravel"), y if i == 0 else x)
    flat = b.emit("matmul", g, other) if i == 0 else b.emit("matmul", other, g)
    return reshape_like(b, flat, x if i == 0 else y, ans)


def _inner(b, g, ans, x, y, i):
    ranks = (b.rank(x), b.rank(y))
    if ranks == (1, 1):
        return b.mul(g, y if i == 0 else x)
    if ranks == (2, 2):
        return b.emit("matmul", g, y) if i == 0 else b.emit("matmul", b.T(g), x)
    if ranks == (2, 1):
        return b.call(_np("outer"), g, y) if i == 0 else b.emit("matmul", b.T(x), g)
    if ranks == (1, 2):
        return b.emit("matmul", g, y) if i == 0 else b.call(_np("outer"), g, x)
    raise NeedsShapes("np.inner needs its operands' ranks (1 or 2)")


defvjp(_np("outer"), lambda b, g, ans, x, y: _outer(b, g, ans, x, y, 0),
       lambda b, g, ans, x, y: _outer(b, g, ans, x, y, 1))
defvjp(_np("inner"), lambda b, g, ans, x, y: _inner(b, g, ans, x, y, 0),
       lambda b, g, ans, x, y: _inner(b, g, ans, x, y, 1))
# x / norm(x), and 0 at x == 0 (the subgradient that keeps the gradient odd, as abs at 0), so that
# np.linalg.norm(x) ** 2 has its true gradient 2 * x there. The norm is a scalar: a plain if.
defvjp(_np("linalg.norm"), lambda b, g, ans, x: b.div(b.mul(g, x), nonzero(b, ans)))


def _trace(b, g, ans, x):
    """np.trace sums the diagonal of x's first two axes; any further axes stay, and so does g's."""
    shape = b.shape_of(x)
    rows = b.emit("getitem", shape, Const(0), index=("atom", 1))
    cols = b.emit("getitem", shape, Const(1), index=("atom", 1))
    eye = b.call(_np("eye"), rows, cols)
    return b.mul(g, eye) if b.rank(x) == 2 else b.emit(_np("tensordot"), eye, g, axes=0)  # an outer product


defvjp(_np("trace"), _trace)

"""Products and linear algebra beyond rules_linalg (see :mod:`diffc.ops.rules`): ``np.einsum``,
``np.tensordot``, ``np.kron``, ``np.cross``, and ``np.linalg.inv``, ``solve``, ``det``, ``pinv`` and
``cholesky``.

An einsum's gradient is an einsum: the operand's subscripts become the output, the upstream
gradient takes the output's place. ``inv``, ``det`` and ``solve`` are written out for matrices
(and stacks of them); ``pinv`` holds where the rank of its argument does not change nearby;
``cholesky`` reads only the lower triangle of its argument, as NumPy does, so its gradient lives
there. ``slogdet`` is read by index (``np.linalg.slogdet(A)[1]``; unpacking it is refused by the frontend);
``eigh`` and ``qr`` return tuples and have no rule yet: refused when active.
"""

from __future__ import annotations

from ..ir import Const
from .rules import defvjp_full
from .rules_front import NoRule
from .rules_more import arg
from .rules_numpy import _np

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_parts(spec: str, n: int):
    """(input subscripts, output subscripts) of an einsum, the implicit output made explicit."""
    spec = spec.replace(" ", "")
    if "." in spec:
        raise NoRule("the gradient of an einsum with '...' is not supported", "write every axis out with a letter")
    inputs, arrow, out = spec.partition("->")
    subs = inputs.split(",")
    if len(subs) != n:
        raise NoRule("the einsum's subscripts do not match its operands", "give one subscript per operand")
    if not arrow:
        letters = "".join(subs)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return subs, out


def _einsum(b, g, ans, ins, i, params):
    spec = getattr(ins[0], "value", None)
    if i == 0:
        return None
    if not isinstance(spec, str):
        raise NoRule("np.einsum needs its subscripts as a literal string", "write the subscripts out")
    subs, out = _einsum_parts(spec, len(ins) - 1)
    mine = subs[i - 1]
    if len(set(mine)) != len(mine):
        raise NoRule(f"the gradient of an einsum that repeats a letter within an operand ('{mine}') is not "
                     "supported", "take the diagonal with np.diagonal first")
    others = [(s, x) for k, (s, x) in enumerate(zip(subs, ins[1:])) if k != i - 1]
    operands = [x for _, x in others] + [g]
    letters = [s for s, _ in others] + [out]
    if not set(mine) <= set("".join(letters)):  # a letter summed out of this operand alone: broadcast back
        operands.append(b.call(_np("ones_like"), ins[i]))
        letters.append(mine)
    return b.call(_np("einsum"), Const(",".join(letters) + "->" + mine), *operands)


def _tensordot(b, g, ans, ins, i, params):
    if i > 1:
        return None
    axes = arg(ins, params, 2, "axes", 2)
    if not isinstance(axes, (int, tuple, list)):
        raise NoRule("np.tensordot needs literal axes for its gradient", "write the axes out")
    return b.emit("_tensordot_grad", g, ins[0], ins[1], Const(axes), Const(i))


defvjp_full(_np("einsum"), _einsum)
defvjp_full(_np("tensordot"), _tensordot)
defvjp_full(_np("kron"), lambda b, g, ans, ins, i, params: b.emit("_kron_grad", g, ins[0], ins[1], Const(i)))
defvjp_full(_np("cross"), lambda b, g, ans, ins, i, params: b.emit("_cross_grad", g, ins[0], ins[1], Const(i)))


def _swap(b, x):
    """The transpose of a matrix, or of each matrix of a stack."""
    return b.T(x) if b.rank(x) == 2 else b.call(_np("swapaxes"), x, Const(-1), Const(-2))


def _inv(b, g, ans, ins, i, params):
    """d(A^-1) = -A^-1 dA A^-1, so the gradient is -A^-T g A^-T."""
    t = _swap(b, ans)
    return b.neg(b.emit("matmul", b.emit("matmul", t, g), t))


def _det(b, g, ans, ins, i, params):
    """d det(A) = det(A) tr(A^-1 dA): the gradient is g det(A) A^-T."""
    t = _swap(b, b.call(_np("linalg.inv"), ins[0]))
    if b.rank(ins[0]) == 2:
        return b.mul(b.mul(g, ans), t)
    scale = b.emit("getitem", b.mul(g, ans), index=("tuple", (("ellipsis",), ("none",), ("none",))))
    return b.mul(scale, t)


def _solve(b, g, ans, ins, i, params):
    return b.emit("_solve_grad", g, ins[0], ans, Const(i))


defvjp_full(_np("linalg.inv"), _inv)
defvjp_full(_np("linalg.det"), _det)
defvjp_full(_np("linalg.solve"), _solve)
defvjp_full(_np("linalg.pinv"), lambda b, g, ans, ins, i, params: b.emit("_pinv_grad", g, ins[0], ans))
defvjp_full(_np("linalg.cholesky"), lambda b, g, ans, ins, i, params: b.emit("_cholesky_grad", g, ans))


def _slogdet(b, g, ans, ins, i, params):
    """np.linalg.slogdet(A) is the pair (sign, logdet), read as [0] and [1]: the gradient of the pair is
    the pair's shape (NumPy stacks it: g[0] for the sign, flat almost everywhere, g[1] for logdet), and
    d logdet = tr(A^-1 dA), so A's gradient is g[1] A^-T."""
    part = b.emit("getitem", g, Const(1), index=("atom", 1))
    t = _swap(b, b.call(_np("linalg.inv"), ins[0]))
    if b.rank(ins[0]) == 2:
        return b.mul(part, t)
    return b.mul(b.emit("getitem", part, index=("tuple", (("ellipsis",), ("none",), ("none",)))), t)


defvjp_full(_np("linalg.slogdet"), _slogdet)

"""Products and linear algebra: ``@``, ``np.matmul``, ``np.dot``, ``np.outer``, ``np.inner``,
``np.trace``, ``np.linalg.norm``, ``np.einsum``, ``np.tensordot``, ``np.kron``, ``np.cross`` and
``np.linalg.inv``, ``solve``, ``det``, ``pinv``, ``cholesky``, ``slogdet``.

``@``/``np.matmul`` and ``np.dot`` agree when both operands have rank at most 2 or the second is
1-D; above that, matmul broadcasts stacks of matrices over the leading axes and dot contracts the
last axis of its first operand with the second to last of its second, keeping every other axis of
both. Each rule is written for the operands' ranks when they are known, and otherwise calls a
run-time helper (:mod:`diffc.backends.runtime`) that is right for every rank. An einsum's
gradient is an einsum; ``inv``, ``det`` and ``solve`` are written out for matrices (and stacks of
them); ``pinv`` holds where the rank of its argument does not change nearby; ``cholesky`` reads
only the lower triangle, as NumPy does. ``slogdet`` is read by index (``np.linalg.slogdet(A)[1]``).
``eigh`` and ``qr`` return tuples (``w, v = np.linalg.eigh(A)``, ``q, r = np.linalg.qr(A)``): their
items are fields of the call's result and its gradient is the tuple of theirs. ``eigh`` reads one
triangle of its argument, as NumPy does, and its eigenvector gradient is refused at run time where
eigenvalues repeat (unless the loss does not depend on the choice of basis there); ``qr`` is the
reduced factorisation of a matrix with at least as many rows as columns and full column rank.
``eigvalsh`` is eigh's eigenvalue rule, the eigenvectors computed again in the backward pass.
"""

from __future__ import annotations

from ..ir import Const
from . import shapes as S
from .algebra import NeedsShapes, NoRule, arg, nonzero, reshape_like, swap_last, unbroadcast
from .op import define, per_input
from .tangents import linear, multilinear


def matmul_vjp(b, g, ans, x, y, i, dot=False):
    """x @ y (or np.dot(x, y) with ``dot``). Written for the operands' ranks when known, else by a
    helper that checks them at run time. The two agree when both ranks are at most 2 or y is 1-D;
    above that, matmul broadcasts stacks of matrices and dot contracts x's last axis with y's
    second to last, keeping every other axis of both."""
    rx, ry = b.rank(x), b.rank(y)
    if rx == 0 or ry == 0:  # a scalar operand: elementwise, summed back into the scalar
        part = b.mul(g, y if i == 0 else x)
        return b.call("sum", part) if (rx if i == 0 else ry) == 0 else part
    if rx is None or ry is None:
        return b.emit("_dot_grad" if dot else "_matmul_grad", g, x, y, Const(i))
    if rx > 2 or ry > 2:
        return _tensordot_grad(b, g, x, y, i, rx, ry) if dot else _batched_grad(b, g, ans, x, y, i, rx, ry)
    if i == 0:
        if ry == 1:
            return b.call("outer", g, y) if rx == 2 else b.mul(g, y)
        return b.emit("matmul", g, b.T(y)) if rx == 2 else b.emit("matmul", y, g)
    if rx == 1:
        return b.call("outer", x, g) if ry == 2 else b.mul(g, x)
    return b.emit("matmul", b.T(x), g)


def _batched_grad(b, g, ans, x, y, i, rx, ry):
    """x @ y with a stack of matrices: the matrix rule on the last two axes, summed over broadcast ones."""
    out = b.shape(ans)
    if rx < 2 or ry < 2 or not isinstance(out, tuple):  # a vector against a stack: the helper promotes it
        return b.emit("_matmul_grad", g, x, y, Const(i))
    swap = lambda v, r: b.T(v) if r == 2 else b.call("swapaxes", v, Const(-1), Const(-2))  # noqa: E731
    if i == 0:
        return unbroadcast(b, b.emit("matmul", g, swap(y, ry)), x, out[:-2] + b.shape(x)[-2:])
    return unbroadcast(b, b.emit("matmul", swap(x, rx), g), y, out[:-2] + b.shape(y)[-2:])


def _tensordot_grad(b, g, x, y, i, rx, ry):
    """np.dot(x, y) = np.tensordot(x, y, axes=(rx - 1, ry - 2)): the gradient contracts g with the other."""
    if i == 0:
        if ry == 1:
            return b.emit("tensordot", g, y, axes=0)
        return b.emit("tensordot", g, y, axes=(tuple(range(rx - 1, rx + ry - 2)), (*range(ry - 2), ry - 1)))
    lead = tuple(range(rx - 1))
    part = b.emit("tensordot", x, g, axes=(lead, lead))
    return part if ry == 1 else b.call("moveaxis", part, Const(0), Const(-2))




def _outer(b, g, ans, x, y, i):
    if b.rank(x) == 1 and b.rank(y) == 1:
        return b.emit("matmul", g, y) if i == 0 else b.emit("matmul", x, g)
    other = b.call("ravel", y if i == 0 else x)
    flat = b.emit("matmul", g, other) if i == 0 else b.emit("matmul", other, g)
    return reshape_like(b, flat, x if i == 0 else y, ans)


def _inner(b, g, ans, x, y, i):
    ranks = (b.rank(x), b.rank(y))
    if ranks == (1, 1):
        return b.mul(g, y if i == 0 else x)
    if ranks == (2, 2):
        return b.emit("matmul", g, y) if i == 0 else b.emit("matmul", b.T(g), x)
    if ranks == (2, 1):
        return b.call("outer", g, y) if i == 0 else b.emit("matmul", b.T(x), g)
    if ranks == (1, 2):
        return b.emit("matmul", g, y) if i == 0 else b.call("outer", g, x)
    raise NeedsShapes("np.inner needs its operands' ranks (1 or 2)")


# x / norm(x), and 0 at x == 0 (the subgradient that keeps the gradient odd, as abs at 0), so that
# np.linalg.norm(x) ** 2 has its true gradient 2 * x there. The norm is a scalar: a plain if.


def _trace(b, g, ans, x):
    """np.trace sums the diagonal of x's first two axes; any further axes stay, and so does g's."""
    shape = b.shape_of(x)
    rows = b.emit("getitem", shape, Const(0), index=("atom", 1))
    cols = b.emit("getitem", shape, Const(1), index=("atom", 1))
    eye = b.call("eye", rows, cols)
    return b.mul(g, eye) if b.rank(x) == 2 else b.emit("tensordot", eye, g, axes=0)  # an outer product


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
        operands.append(b.call("ones_like", ins[i]))
        letters.append(mine)
    return b.call("einsum", Const(",".join(letters) + "->" + mine), *operands)


def _tensordot(b, g, ans, ins, i, params):
    if i > 1:
        return None
    axes = arg(ins, params, 2, "axes", 2)
    if not isinstance(axes, (int, tuple, list)):
        raise NoRule("np.tensordot needs literal axes for its gradient", "write the axes out")
    return b.emit("_tensordot_grad", g, ins[0], ins[1], Const(axes), Const(i))




def _inv(b, g, ans, ins, i, params):
    """d(A^-1) = -A^-1 dA A^-1, so the gradient is -A^-T g A^-T."""
    t = swap_last(b, ans)
    return b.neg(b.emit("matmul", b.emit("matmul", t, g), t))


def _det(b, g, ans, ins, i, params):
    """d det(A) = det(A) tr(A^-1 dA): the gradient is g det(A) A^-T."""
    t = swap_last(b, b.call("inv", ins[0]))
    if b.rank(ins[0]) == 2:
        return b.mul(b.mul(g, ans), t)
    scale = b.emit("getitem", b.mul(g, ans), index=("tuple", (("ellipsis",), ("none",), ("none",))))
    return b.mul(scale, t)


def _solve(b, g, ans, ins, i, params):
    return b.emit("_solve_grad", g, ins[0], ans, Const(i))




def _slogdet(b, g, ans, ins, i, params):
    """np.linalg.slogdet(A) is the pair (sign, logdet), read as [0] and [1]: the gradient of the pair is
    the pair's shape (NumPy stacks it: g[0] for the sign, flat almost everywhere, g[1] for logdet), and
    d logdet = tr(A^-1 dA), so A's gradient is g[1] A^-T."""
    part = b.emit("getitem", g, Const(1), index=("atom", 1))
    t = swap_last(b, b.call("inv", ins[0]))
    if b.rank(ins[0]) == 2:
        return b.mul(part, t)
    return b.mul(b.emit("getitem", part, index=("tuple", (("ellipsis",), ("none",), ("none",)))), t)


def _eigh_shape(shapes, eqn, in_shapes):
    shape = S.known(in_shapes[0])
    return None if shape is None or len(shape) < 2 else S.Parts((shape[:-1], shape))


def _eigvalsh_shape(shapes, eqn, in_shapes):
    shape = S.known(in_shapes[0])
    return None if shape is None or len(shape) < 2 else shape[:-1]


def _qr_shape(shapes, eqn, in_shapes):
    shape = S.known(in_shapes[0])
    if shape is None or len(shape) < 2 or eqn.params.get("mode", "reduced") != "reduced":
        return None
    m, n = shape[-2:]
    k = min(m, n) if isinstance(m, int) and isinstance(n, int) else n if shapes.same(m, n) else None
    return S.Parts((shape[:-1] + (k,), shape[:-2] + (k, n)))


def _eigh(b, g, ans, ins, i, params):
    """w, v = np.linalg.eigh(A): g is the pair (gw, gv); a helper writes V (diag(gw) + F * V^T gv) V^T
    with F[i, j] = 1 / (w[j] - w[i]) off the diagonal, folded onto the triangle NumPy reads."""
    uplo = params.get("UPLO", "L")
    if uplo not in ("L", "U"):
        raise NoRule("np.linalg.eigh needs UPLO='L' or 'U' as a literal for its gradient", "write it out")
    return b.emit("_eigh_grad", g, ans) if uplo == "L" else b.emit("_eigh_grad", g, ans, Const(uplo))


def _eigvalsh(b, g, ans, ins, i, params):
    """np.linalg.eigvalsh(A): the eigenvalue part of eigh's rule, with the eigenvectors computed again."""
    uplo = params.get("UPLO", "L")
    if uplo not in ("L", "U"):
        raise NoRule("np.linalg.eigvalsh needs UPLO='L' or 'U' as a literal for its gradient", "write it out")
    pair = b.emit("eigh", ins[0], **({} if uplo == "L" else {"UPLO": uplo}))
    rest = () if uplo == "L" else (Const(uplo),)
    return b.emit("_eigh_grad", b.emit("tuple", g), pair, *rest)


def _qr(b, g, ans, ins, i, params):
    """q, r = np.linalg.qr(A), reduced, A with m >= n and full column rank: (gq + q copyltu(M)) r^-T
    with M = r gr^T - gq^T q (a helper; it refuses m < n and a rank-deficient A at run time)."""
    if params.get("mode", "reduced") != "reduced":
        raise NoRule(f"the gradient of np.linalg.qr(..., mode={params['mode']!r}) is not supported",
                     "use the default mode='reduced' (q, r = np.linalg.qr(A))")
    return b.emit("_qr_grad", g, ans)


# ----------------------------------------------------------------------------
# Forward rules of the matrix functions (the others are linear in each operand)
# ----------------------------------------------------------------------------
def _mT(b, v, like):
    """The transpose of ``v`` (a matrix, or a stack of them, of the rank of ``like``)."""
    return b.T(v) if b.rank(like) == 2 else b.call("swapaxes", v, Const(-1), Const(-2))


def _trace_last(b, m, like):
    """The trace of a matrix, or of each matrix of a stack."""
    return b.call("trace", m) if b.rank(like) == 2 else b.emit("trace", m, axis1=-2, axis2=-1)


def _one(rule):
    def jvp(b, dots, ans, ins, params):
        return None if dots[0] is None else rule(b, dots[0], ans, ins[0])

    return jvp


def _inv_jvp(b, dA, ans, A):
    """d(A^-1) = -A^-1 dA A^-1."""
    return b.neg(b.emit("matmul", b.emit("matmul", ans, dA), ans))


def _det_jvp(b, dA, ans, A):
    """d det(A) = det(A) tr(A^-1 dA)."""
    return b.mul(ans, _trace_last(b, b.call("solve", A, dA), A))


def _slogdet_jvp(b, dA, ans, A):
    """(sign, logdet): the sign is flat, d logdet = tr(A^-1 dA)."""
    part = _trace_last(b, b.call("solve", A, dA), A)
    return b.emit("tuple", Const(0.0) if b.rank(A) == 2 else b.call("zeros_like", part), part)


def _norm_jvp(b, dx, ans, x):
    """d |x| = <x, dx> / |x|, and 0 at x == 0 (as the reverse rule)."""
    return b.div(b.call("sum", b.mul(x, dx)), nonzero(b, ans))


def _pinv_jvp(b, dA, P, A):
    """d(A+) = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P, P = A+ (where the rank of A
    does not change nearby)."""
    mm = lambda x, y: b.emit("matmul", x, y)  # noqa: E731
    dAT, PT = _mT(b, dA, A), _mT(b, P, A)
    PPT_dAT = mm(mm(P, PT), dAT)
    dAT_PTP = mm(dAT, mm(PT, P))
    first = b.neg(mm(mm(P, dA), P))
    second = b.sub(PPT_dAT, mm(mm(PPT_dAT, A), P))
    third = b.sub(dAT_PTP, mm(mm(P, A), dAT_PTP))
    return b.add(b.add(first, second), third)


def _cholesky_jvp(b, dA, L, A):
    """dL = L Phi(L^-1 dA L^-T), Phi: the lower triangle with half the diagonal. NumPy reads only A's
    lower triangle, so dA is taken as the symmetric matrix of its lower triangle."""
    sym = b.add(b.call("tril", dA), _mT(b, b.emit("tril", dA, k=-1), A))
    inner = b.call("solve", L, _mT(b, b.call("solve", L, sym), A))
    n = b.emit("getitem", b.shape_of(A), Const(-1), index=("atom", 1))
    phi = b.sub(b.call("tril", inner), b.div(b.mul(inner, b.call("eye", n)), Const(2)))
    return b.emit("matmul", L, phi)


def _solve_jvp(b, dots, ans, ins, params):
    """X = A^-1 B: dX = A^-1 (dB - dA X)."""
    dA, dB = dots
    if dA is None and dB is None:
        return None
    A = ins[0]
    if dA is None:
        return b.call("solve", A, dB)
    moved = b.emit("matmul", dA, ans)
    return b.call("solve", A, b.neg(moved) if dB is None else b.sub(dB, moved))


def _einsum_jvp(b, dots, ans, ins, params):
    if isinstance(getattr(ins[0], "value", None), str) or dots[0] is None:
        return multilinear(range(1, len(ins)))(b, dots, ans, ins, params)
    raise NoRule("np.einsum needs its subscripts as a literal string", "write the subscripts out")


# ----------------------------------------------------------------------------
# The records
# ----------------------------------------------------------------------------
_PRODUCT = multilinear((0, 1))
_MATMUL = per_input(lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 0),
                    lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 1))
_DOT = per_input(lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 0, dot=True),
                 lambda b, g, ans, x, y: matmul_vjp(b, g, ans, x, y, 1, dot=True))
_TWO = dict(arity=(2, 2))
define("matmul", _MATMUL, jvp=_PRODUCT, shape=S.matmul, result_kind="keep", symbol="@")
define("numpy.matmul", _MATMUL, jvp=_PRODUCT, **_TWO, shape=S.matmul, symbol="@")
define("numpy.dot", _DOT, jvp=_PRODUCT, methods=("dot",), **_TWO, shape=S.matmul, result_kind="keep",
       symbol="@")
define("numpy.outer", per_input(lambda b, g, ans, x, y: _outer(b, g, ans, x, y, 0),
                                lambda b, g, ans, x, y: _outer(b, g, ans, x, y, 1)),
       jvp=_PRODUCT, **_TWO, shape=S.outer, result_kind="keep")
define("numpy.inner", per_input(lambda b, g, ans, x, y: _inner(b, g, ans, x, y, 0),
                                lambda b, g, ans, x, y: _inner(b, g, ans, x, y, 1)), jvp=_PRODUCT, **_TWO)
define("numpy.trace", per_input(_trace), jvp=linear(0), arity=(1, 1), shape=S.trace)
# x / norm(x), and 0 at x == 0 (the subgradient that keeps the gradient odd, as abs at 0), so that
# np.linalg.norm(x) ** 2 has its true gradient 2 * x there. The norm is a scalar: a plain if.
define("numpy.linalg.norm", per_input(lambda b, g, ans, x: b.div(b.mul(g, x), nonzero(b, ans))),
       jvp=_one(_norm_jvp), arity=(1, 1), shape=S.scalar, kinks="0 at 0")
define("numpy.einsum", _einsum, jvp=_einsum_jvp, arity=(2, None),
       kinks="literal subscripts; refused: '...', a letter repeated in one operand")
define("numpy.tensordot", _tensordot, jvp=_PRODUCT, arity=(2, 3), keywords=("axes",))
define("numpy.kron", lambda b, g, ans, ins, i, params: b.emit("_kron_grad", g, ins[0], ins[1], Const(i)),
       jvp=_PRODUCT, **_TWO)
define("numpy.cross", lambda b, g, ans, ins, i, params: b.emit("_cross_grad", g, ins[0], ins[1], Const(i)),
       jvp=_PRODUCT, **_TWO, kinks="vectors of 2 or 3 on the last axis")
define("numpy.linalg.inv", _inv, jvp=_one(_inv_jvp), arity=(1, 1), shape=S.same_as_first)
define("numpy.linalg.solve", _solve, jvp=_solve_jvp, **_TWO)
define("numpy.linalg.det", _det, jvp=_one(_det_jvp), arity=(1, 1))
define("numpy.linalg.pinv", lambda b, g, ans, ins, i, params: b.emit("_pinv_grad", g, ins[0], ans),
       jvp=_one(_pinv_jvp), arity=(1, 1), kinks="where the rank is locally constant")
define("numpy.linalg.cholesky", lambda b, g, ans, ins, i, params: b.emit("_cholesky_grad", g, ans),
       jvp=_one(_cholesky_jvp), arity=(1, 1), shape=S.same_as_first,
       kinks="lower triangle only (NumPy reads only that)")
define("numpy.linalg.slogdet", _slogdet, jvp=_one(_slogdet_jvp), arity=(1, 1),
       kinks="read by index: [1] (logdet); [0] is flat")
_EIGEN = ("symmetric input; reads the lower triangle (UPLO='U': the upper), as NumPy does; where eigenvalues "
          "repeat, each one's gradient uses the eigenvector NumPy picked (a subgradient: the largest gets v v^T), "
          "and a function of them that does not tell them apart gets its true gradient")
define("numpy.linalg.eigh", _eigh, arity=(1, 1), keywords=("UPLO",), shape=_eigh_shape, parts=2,
       kinks=_EIGEN + "; eigenvector gradient where eigenvalues are distinct, refused at run time where two "
             "coincide unless the loss does not depend on the basis chosen there")
define("numpy.linalg.eigvalsh", _eigvalsh, arity=(1, 1), keywords=("UPLO",), shape=_eigvalsh_shape,
       kinks=_EIGEN)
define("numpy.linalg.qr", _qr, arity=(1, 1), keywords=("mode",), shape=_qr_shape, parts=2,
       kinks="reduced mode; m >= n and full column rank (refused at run time otherwise); "
             "mode='complete', 'r', 'raw' refused when active")

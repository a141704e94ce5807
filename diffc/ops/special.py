"""scipy.special: ``expit``, ``logit``, ``erf``, ``erfc``, ``gammaln``, ``digamma``/``psi``,
``xlogy``, ``xlog1py``, ``logsumexp``, ``softmax``, ``log_softmax``.

SciPy is optional: these records exist whether or not it is installed, and generated code calls
scipy.special only where the user's own code did (digamma' = polygamma(1, .), gammaln' = digamma).
Each rule is written in a numerically stable form: expit' = s (1 - s) from the output, logsumexp'
= exp(x - lse), softmax' = s (g - sum(g s)), log_softmax' = g - exp(out) sum(g). xlogy and xlog1py
are 0 wherever x is 0, whatever y is: there the gradient in y is 0 (not 0 / 0 at y == 0), and
the gradient in x is log(y) (log1p(y)), its true value for y > 0 (y > -1).
"""

from __future__ import annotations

import math

from ..ir import Const
from . import shapes as S
from .algebra import ZERO, V, arg, formula, spread
from .op import define
from .tangents import symmetric

_S = "scipy.special."
POSITIVE = (0.3, 2.0)


def unary(name, rule, domain=(-1.5, 1.5)):
    """``scipy.special.name``: elementwise, one argument (``rule`` a formula ``(g, ans, x, f)``)."""
    define(_S + name, formula("scipy.special", rule), arity=(1, 1), shape=S.same_as_first,
           elementwise=True, domain=domain)


def _erf(g, ans, x, f):
    return g * (2 / math.sqrt(math.pi)) * V(x.b, x.b.call("exp", (-(x * x)).atom))


def _x_zero(x, part):
    """``part`` where x != 0, else 0: x log(y) is 0 wherever x is 0, whatever y is."""
    b = x.b
    return V(b, b.call("where", b.compare("eq", x.atom, ZERO), ZERO, part.atom))


def _numpy(v, name):
    return V(v.b, v.b.call(name, v.atom))


unary("expit", lambda g, s, x, f: g * s * (1 - s))
unary("logit", lambda g, ans, x, f: g / (x * (1 - x)), (0.1, 0.9))
unary("erf", _erf)
unary("erfc", lambda g, ans, x, f: _erf(-g, ans, x, f))
unary("gammaln", lambda g, ans, x, f: g * f.digamma(x), POSITIVE)
unary("digamma", lambda g, ans, x, f: g * f.polygamma(1, x), POSITIVE)
unary("psi", lambda g, ans, x, f: g * f.polygamma(1, x), POSITIVE)
for _name, _log in (("xlogy", "log"), ("xlog1py", "log1p")):
    define(_S + _name, formula("scipy.special", lambda g, ans, x, y, f, log=_log: g * _numpy(y, log),
                               lambda g, ans, x, y, f, log=_log: _x_zero(x, g * x / (y if log == "log" else 1 + y))),
           arity=(2, 2), shape=S.elementwise, broadcasts=True, elementwise=True,
           domain=POSITIVE, kinks="0 in y where x == 0")


def _axis(ins, params, b):
    axis = arg(ins, params, 1, "axis")
    return None if b.rank(ins[0]) == 0 else axis


def _logsumexp(b, g, ans, ins, i, params):
    if i:
        return None
    axis, keepdims = _axis(ins, params, b), params.get("keepdims", False)
    return b.mul(spread(b, g, axis, keepdims), b.call("exp", b.sub(ins[0], spread(b, ans, axis, keepdims))))


def _softmax(b, g, ans, ins, i, params):
    if i:
        return None
    axis = _axis(ins, params, b)
    gs = b.mul(g, ans)
    total = b.call("sum", gs) if axis is None else b.emit("sum", gs, axis=axis, keepdims=True)
    return b.sub(gs, b.mul(ans, total))


def _log_softmax(b, g, ans, ins, i, params):
    if i:
        return None
    axis = _axis(ins, params, b)
    total = b.call("sum", g) if axis is None else b.emit("sum", g, axis=axis, keepdims=True)
    return b.sub(g, b.mul(b.call("exp", ans), total))


def _logsumexp_jvp(b, dots, ans, ins, params):
    """d lse = sum(exp(x - lse) dx) over the reduced axes."""
    if dots[0] is None:
        return None
    axis, keepdims = _axis(ins, params, b), params.get("keepdims", False)
    weights = b.call("exp", b.sub(ins[0], spread(b, ans, axis, keepdims)))
    return _sum(b, b.mul(weights, dots[0]), axis, keepdims)


def _log_softmax_jvp(b, dots, ans, ins, params):
    """d log_softmax(x) = dx - sum(softmax(x) dx) over the axis."""
    if dots[0] is None:
        return None
    axis = _axis(ins, params, b)
    return b.sub(dots[0], _sum(b, b.mul(b.call("exp", ans), dots[0]), axis, axis is not None))


def _sum(b, x, axis, keepdims):
    extra = {"axis": axis} if axis is not None else {}
    return b.emit("sum", x, **extra, **({"keepdims": True} if keepdims else {}))


define(_S + "polygamma")  # only digamma's rule calls it: no rule of its own (refused if differentiated again)
define(_S + "logsumexp", _logsumexp, jvp=_logsumexp_jvp, arity=(1, 2), keywords=("axis", "keepdims"),
       shape=S.reduction)
define(_S + "softmax", _softmax, jvp=symmetric(_softmax), arity=(1, 2), keywords=("axis",), shape=S.same_as_first)
define(_S + "log_softmax", _log_softmax, jvp=_log_softmax_jvp, arity=(1, 2), keywords=("axis",),
       shape=S.same_as_first)


# ----------------------------------------------------------------------------
# The softmax family as fused gates (found by diffc.ad.fuse_softmax in the user's own code).
# A gate keeps the user's last operation (``_orig``: op, params, and the slice of the gate's inputs
# it reads), which the emitter writes as it was, so the forward pass computes what the user wrote.
# The gate's first input is the value the softmax is taken of; the gradient flows to it alone
# (the other inputs are the gate's own intermediates, or values its rule reads).
# ----------------------------------------------------------------------------
GATE_OPS = ("softmax_gate", "log_softmax_gate", "picked_log_softmax_gate", "log_softmax_sub_gate",
            "logsumexp_gate", "shift_gate")
_SUM, _EXPAND, _MEAN, _FULL_LIKE = "sum", "expand_dims", "mean", "full_like"


def gate_original(eqn):
    """The equation as the user wrote it (what the emitter and the evaluator run)."""
    from ..ir import Eqn

    op, params, lo, hi = eqn.params["_orig"]
    return Eqn(op, tuple(eqn.ins[lo:hi]), eqn.out, dict(params), eqn.lineno, eqn.col)


def _gate_shape(shapes, eqn, in_shapes):
    from .op import REGISTRY

    original = gate_original(eqn)
    lo = eqn.params["_orig"][2]
    rule = getattr(REGISTRY.get(original.op), "shape", None)
    return S.unknown(shapes, original, in_shapes) if rule is None else \
        rule(shapes, original, in_shapes[lo:lo + len(original.ins)])


def _along(b, x, axis):
    """The sum of ``x`` along the gate's axis, kept as a size-1 axis (all of it for axis None)."""
    return b.call(_SUM, x) if axis is None else b.emit(_SUM, x, axis=axis, keepdims=True)


def _softmax_gate(b, g, p, ins, i, params):
    """p = softmax(z): p * (g - sum(g p))."""
    return None if i else b.mul(p, b.sub(g, _along(b, b.mul(g, p), params["axis"])))


def _log_softmax_gate(b, g, ans, ins, i, params):
    """log(p) with p = softmax(z): g - p sum(g), p the forward's own softmax (ins[1])."""
    return None if i else b.sub(g, b.mul(ins[1], _along(b, g, params["axis"])))


def _log_softmax_sub_gate(b, g, ans, ins, i, params):
    """z - logsumexp(z) (keepdims): g - p sum(g), with p = e / S from the forward's exp and sum."""
    return None if i else b.sub(g, b.mul(b.div(ins[3], ins[4]), _along(b, g, params["axis"])))


def _logsumexp_gate(b, g, ans, ins, i, params):
    """L = log(sum(e)), e = exp(z): g * e / S (the softmax of z). Not shift-invariant: z gets it all."""
    if i:
        return None
    axis, keepdims = params["axis"], params["keepdims"]
    return b.mul(spread(b, g, axis, keepdims), b.div(ins[2], spread(b, ins[1], axis, keepdims)))


def _shift_gate(b, g, ans, ins, i, params):
    """z = s - m with m constant along the axes the softmax-family gates reading z sum over: those
    gates' gradients sum to zero along them, so m's is exactly zero (diffc.ad.fuse_softmax)."""
    return g if i == 0 else None


def _fill_value(b, g):
    """c if ``g`` is ``np.full_like(x, c)`` with c a number: made in this block by the rule of a sum
    or a mean whose result is a number (so its gradient c is one)."""
    for eqn in reversed(b.eqns[-64:]):
        if eqn.out is g:
            origin = eqn.origin
            if eqn.op == _FULL_LIKE and len(eqn.ins) == 2 and origin is not None and \
                    origin.op in (_SUM, _MEAN) and b.shape(origin.out) == ():
                return eqn.ins[1]
            return None
    return None


def _same_dim(a, b_) -> bool:
    return a is not None and a == b_ and (isinstance(a, int) or isinstance(a, S.Sym))


def _one_per_slice(b, q, p, idx, index, params) -> bool:
    """True if ``p[idx]`` provably picks exactly one element of each slice the softmax is taken
    over, each once: a single element of a softmax over everything (or of a vector), or
    ``p[np.arange(N), y]`` of an (N, C) softmax over axis 1 with y of shape (N,)."""
    axis, rank = params["axis"], b.rank(p)
    if b.shape(q) == () and (axis is None or rank == 1):
        return True
    if rank != 2 or axis not in (1, -1) or not params.get("_rows") or len(idx) != 2 or \
            index != ("tuple", (("atom", 1), ("atom", 2))) or b.shapes is None:
        return False
    # idx[0] enumerates every row of p once (proven where the gate was made), idx[1] one column each.
    return _same_dim(S.known(b.shape(p))[0], (S.known(b.shape(idx[1])) or (None,))[0]) and \
        b.rank(idx[1]) == 1 and b.shapes.kind(idx[1]) == "i"


def _picked_log_softmax_gate(b, g, ans, ins, i, params):
    """log(p[idx]) with p = softmax(z): with G the gradient scattered to idx, G - p sum(G); where idx
    picks one element per slice, sum(G) is g itself, so G - p g (and g a number where it is one)."""
    from .indexing import _basic, _shift

    if i:
        return None
    q, p, idx, index = ins[1], ins[2], ins[3:], params["_index"]
    if _one_per_slice(b, q, p, idx, index, params):
        c = _fill_value(b, g)
        value = g if c is None else c
        picked = b.emit("scatter_add", p, value, *idx, index=_shift(index, 1), basic=True)
        spread_g = value if c is not None or params["axis"] is None or b.rank(p) == 1 else \
            b.call(_EXPAND, g, Const(1))
        return b.sub(picked, b.mul(p, spread_g))
    picked = b.emit("scatter_add", p, g, *idx, index=_shift(index, 1), basic=_basic(index, (p, *idx), b))
    return b.sub(picked, b.mul(p, _along(b, picked, params["axis"])))


for _name, _rule, _pattern in (
        ("softmax_gate", _softmax_gate, "softmax gate"),
        ("log_softmax_gate", _log_softmax_gate, "log-softmax gate"),
        ("picked_log_softmax_gate", _picked_log_softmax_gate, "log-softmax gate, picked"),
        ("log_softmax_sub_gate", _log_softmax_sub_gate, "log-softmax gate"),
        ("logsumexp_gate", _logsumexp_gate, "log-sum-exp gate"),
        ("shift_gate", _shift_gate, "shift: no gradient to the shift")):
    define(_name, _rule, shape=_gate_shape, pattern=_pattern, symbol=_name[:-5])

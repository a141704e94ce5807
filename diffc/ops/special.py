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

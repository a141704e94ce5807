"""The scipy.special section of the rule table (see :mod:`diffc.ops.rules`).

SciPy is optional: these rules exist whether or not it is installed, and generated code calls
scipy.special only where the user's own code did (digamma' = polygamma(1, .), gammaln' = digamma).
Each is written in a numerically stable form: expit' = s (1 - s) from the output, logsumexp'
= exp(x - lse), softmax' = s (g - sum(g s)), log_softmax' = g - exp(out) sum(g). xlogy and xlog1py
are 0 wherever x is 0, whatever y is: there the gradient in y is 0 (not 0 / 0 at y == 0), and
the gradient in x is log(y) (log1p(y)), its true value for y > 0 (y > -1).
"""

from __future__ import annotations

import math

from ..ir import Const
from .rules import ONE, ZERO, defvjp, defvjp_full
from .rules_more import arg
from .rules_numpy import BROADCASTING, ELEMENTWISE, _np, _spread

_S = "scipy.special."
_BINARY = {_S + "xlogy", _S + "xlog1py"}
BROADCASTING |= _BINARY
ELEMENTWISE |= _BINARY | {_S + f for f in "expit logit erf erfc gammaln digamma psi".split()}


def _erf_local(b, g, x):
    two_over_sqrt_pi = Const(2 / math.sqrt(math.pi))
    return b.mul(b.mul(g, two_over_sqrt_pi), b.call(_np("exp"), b.neg(b.mul(x, x))))


defvjp(_S + "expit", lambda b, g, ans, x: b.mul(b.mul(g, ans), b.sub(ONE, ans)))
defvjp(_S + "logit", lambda b, g, ans, x: b.div(g, b.mul(x, b.sub(ONE, x))))
defvjp(_S + "erf", lambda b, g, ans, x: _erf_local(b, g, x))
defvjp(_S + "erfc", lambda b, g, ans, x: _erf_local(b, b.neg(g), x))
defvjp(_S + "gammaln", lambda b, g, ans, x: b.mul(g, b.call(_S + "digamma", x)))
defvjp(_S + "digamma", lambda b, g, ans, x: b.mul(g, b.call(_S + "polygamma", Const(1), x)))
defvjp(_S + "psi", lambda b, g, ans, x: b.mul(g, b.call(_S + "polygamma", Const(1), x)))


def _x_zero(b, x, part):
    """``part`` where x != 0, else 0: x log(y) is 0 wherever x is 0, whatever y is."""
    return b.call(_np("where"), b.compare("eq", x, ZERO), ZERO, part)


defvjp(_S + "xlogy", lambda b, g, ans, x, y: b.mul(g, b.call(_np("log"), y)),
       lambda b, g, ans, x, y: _x_zero(b, x, b.div(b.mul(g, x), y)))
defvjp(_S + "xlog1py", lambda b, g, ans, x, y: b.mul(g, b.call(_np("log1p"), y)),
       lambda b, g, ans, x, y: _x_zero(b, x, b.div(b.mul(g, x), b.add(ONE, y))))


def _axis(ins, params, b):
    axis = arg(ins, params, 1, "axis")
    return None if b.rank(ins[0]) == 0 else axis


def _logsumexp(b, g, ans, ins, i, params):
    if i:
        return None
    axis, keepdims = _axis(ins, params, b), params.get("keepdims", False)
    return b.mul(_spread(b, g, axis, keepdims), b.call(_np("exp"), b.sub(ins[0], _spread(b, ans, axis, keepdims))))


def _softmax(b, g, ans, ins, i, params):
    if i:
        return None
    axis = _axis(ins, params, b)
    gs = b.mul(g, ans)
    total = b.call(_np("sum"), gs) if axis is None else b.emit(_np("sum"), gs, axis=axis, keepdims=True)
    return b.sub(gs, b.mul(ans, total))


def _log_softmax(b, g, ans, ins, i, params):
    if i:
        return None
    axis = _axis(ins, params, b)
    total = b.call(_np("sum"), g) if axis is None else b.emit(_np("sum"), g, axis=axis, keepdims=True)
    return b.sub(g, b.mul(b.call(_np("exp"), ans), total))


defvjp_full(_S + "logsumexp", _logsumexp)
defvjp_full(_S + "softmax", _softmax)
defvjp_full(_S + "log_softmax", _log_softmax)

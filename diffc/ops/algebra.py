"""What the reverse rules share: constants, the two refusals, and the gradient motions every family
needs (undo broadcasting, reshape back, put reduced axes back, route through a mask).

Every helper builds IR through the Builder it is given, so what the rules produce can be
differentiated again. :func:`unbroadcast` is the one place broadcasting is undone: the reverse
pass applies it to each input of an op whose record says it broadcasts.
"""

from __future__ import annotations

import math

from ..ir import Const, Ref
from .op import neutral
from .shapes import Sym, known

ZERO = Const(0.0)
ONE = Const(1)


class NeedsShapes(Exception):
    """A rule cannot be written without knowing its operands' ranks."""


class NoRule(Exception):
    """A gradient would have to cross an operation diffc cannot differentiate."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


def arg(ins, params, position, keyword, default=None):
    """A literal argument given by position or keyword (an atom if given by position and not literal)."""
    if keyword in params:
        return params[keyword]
    if position < len(ins):
        atom = ins[position]
        return atom.value if isinstance(atom, Const) else atom
    return default


def literal(value, what):
    """``value`` if it is a literal integer or tuple, else a refusal naming ``what``."""
    if not isinstance(value, (int, tuple)) or isinstance(value, bool):
        raise NoRule(f"{what} must be a literal integer (or tuple) for diffc to write the gradient",
                     "write it as a number")
    return value


def nonzero(b, x):
    """``x``, or 1 where ``x`` is 0: a divisor that is safe where the numerator is 0 too."""
    return b.emit("select", b.compare("ne", x, ZERO), x, Const(1.0))


def nonzero_array(b, x):
    """``x``, or 1 where it is 0 (elementwise)."""
    return b.call("where", b.compare("ne", x, ZERO), x, Const(1.0))


def sign(b, x):
    """-1, 0 or 1 (and 0 at 0): np.sign on arrays, (x > 0) - (x < 0) on numbers."""
    if b.numpy:
        return b.call("sign", x)
    return b.sub(b.compare("gt", x, ZERO), b.compare("lt", x, ZERO))


def where_zero(b, cond, g, take_if_true=True):
    """``g`` where ``cond`` holds (or where it does not), else 0: a router."""
    return b.call("where", cond, g, ZERO) if take_if_true else b.call("where", cond, ZERO, g)


def spread(b, g, axis, keepdims):
    """The reduced gradient with the reduced axes put back (size 1), ready to broadcast."""
    if axis is None or keepdims:
        return g
    return b.call("expand_dims", g, Const(axis))


def reshape_like(b, g, x, ans):
    """``g`` (the gradient of ``ans``) reshaped to ``x``'s shape: ``g.reshape(x.shape)`` where both are
    known to be arrays, else ``np.reshape(g, np.shape(x))``, which also takes numbers."""
    if b.rank(x) and b.rank(ans):
        return b.emit("reshape", g, b.shape_of(x), _style=("method", "reshape"))
    return b.call("reshape", g, b.call("shape", x))


def swap_last(b, x):
    """The transpose of a matrix, or of each matrix of a stack."""
    return b.T(x) if b.rank(x) == 2 else b.call("swapaxes", x, Const(-1), Const(-2))


def unbroadcast(b, g, x, out_shape):
    """``g`` (of shape ``out_shape``) summed back to the shape of ``x``."""
    sx, S = b.shape(x), b.shapes
    # Equal shapes need no sum, but two unknown dims (None) are not known to be equal: y[1:] - w of
    # shapes (?, 3) and (?, 3) may be (0, 3) - (1, 3).
    if sx is not None and sx == out_shape and not (isinstance(sx, tuple) and None in sx):
        return g
    sx, out_shape = known(sx), known(out_shape)
    if sx is not None and out_shape is not None and len(sx) <= len(out_shape):
        lead = len(out_shape) - len(sx)
        kept, exact = [], True
        for i, d in enumerate(sx):
            o = out_shape[lead + i]
            if S.same(d, o) or (d == 1 and o == 1):
                continue
            if d == 1:
                kept.append(i)
            elif not (isinstance(S.find(d), Sym) and isinstance(S.find(o), Sym)):
                exact = False
        if exact:
            if not lead and not kept:
                return g
            # -g summed is the sum of g negated (exactly): negate the small result, not the large g.
            negated = next((e.ins[0] for e in reversed(b.eqns[-4:]) if getattr(e, "out", None) is g and
                            e.op == "neg"), None)
            if negated is not None:
                g = negated
            if lead:
                g = b.emit("sum", g, axis=0 if lead == 1 else tuple(range(lead)))
            if kept:
                g = b.emit("sum", g, axis=kept[0] if len(kept) == 1 else tuple(kept), keepdims=True)
            return g if negated is None else b.neg(g)
    if not b.numpy:
        return g
    return b.emit("_unbroadcast", g, x)


def selection_mask(eqns, part):
    """(condition, taken when true) if a rule just made ``part`` (the last of ``eqns``) by routing the
    gradient to some elements only: np.where(cond, g, 0), or _first_mask(...) * g for np.max.

    The reverse pass masks the local gradients upstream of it the same way, so that an inf or NaN in
    a value the forward pass discarded (the branch np.where did not take, the side of np.maximum that
    lost, what np.clip cut off, what np.max did not pick) cannot leak into the gradient as 0 * inf.
    A part that was then summed back to its input's shape is not the last equation: no mask.
    """
    eqn = eqns[-1] if eqns else None
    if part is None or getattr(eqn, "out", None) is not part:
        return None
    if eqn.op == "where":
        if eqn.ins[2] == ZERO:
            return eqn.ins[0], True
        return (eqn.ins[0], False) if eqn.ins[1] == ZERO else None
    if eqn.op == "mul" and any(getattr(e, "out", None) is eqn.ins[0] and e.op == "_first_mask" for e in eqns):
        return eqn.ins[0], True
    return None


def shapes_differ(a: tuple, b: tuple) -> bool:
    """True if two shapes provably differ: other ranks, or a dim that is 1 against one that is not
    (a symbol is a size known not to be 1; two symbols may still be equal)."""
    return len(a) != len(b) or any(x is not None and y is not None and (x == 1) != (y == 1) for x, y in zip(a, b))


# ----------------------------------------------------------------------------
# Builder values with operators, so that a rule reads like its formula
# ----------------------------------------------------------------------------
def lift(v):
    """The atom of a :class:`V`, a number as a Const (its type kept: 2 stays an int), else ``v``."""
    if isinstance(v, V):
        return v.atom
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Const(v)
    return v


class V:
    """An atom that records arithmetic into the Builder: ``-g * x / (y * y)`` appends neg, mul, mul
    and div equations in Python's evaluation order (the order nested ``b.div(b.mul(...))`` calls
    would append them), and the Builder folds ``x * 1`` and the like as it always does."""

    __slots__ = ("b", "atom")

    def __init__(self, b, atom):
        self.b, self.atom = b, atom

    def _op(self, op, *ins):
        return V(self.b, self.b.emit(op, *(lift(a) for a in ins)))

    def __add__(self, o):
        return self._op("add", self, o)

    def __radd__(self, o):
        return self._op("add", o, self)

    def __sub__(self, o):
        return self._op("sub", self, o)

    def __rsub__(self, o):
        return self._op("sub", o, self)

    def __mul__(self, o):
        return self._op("mul", self, o)

    def __rmul__(self, o):
        return self._op("mul", o, self)

    def __truediv__(self, o):
        return self._op("div", self, o)

    def __rtruediv__(self, o):
        return self._op("div", o, self)

    def __floordiv__(self, o):
        return self._op("floordiv", self, o)

    def __pow__(self, o):
        return self._op("pow", self, o)

    def __neg__(self):
        return self._op("neg", self)


class Lib:
    """The functions of one library as calls that record into the Builder: ``f.cos(x)`` appends
    ``scalar_cos`` (math's) or ``cos`` (NumPy's): the library the rule's own op belongs to."""

    def __init__(self, b, module: str):
        self.b, self.module = b, module

    @property
    def pi(self):
        return V(self.b, Ref(self.module, "pi", math.pi))

    def __getattr__(self, name):
        return lambda *args: V(self.b, self.b.call(neutral(f"{self.module}.{name}"), *(lift(a) for a in args)))


def formula(module: str, *per_input):
    """A rule from one formula per input, written with operators: ``formula_k(g, ans, *ins, f)`` on
    :class:`V` values, ``f`` the functions of ``module`` (None: an identically zero gradient)."""

    def rule(b, g, ans, ins, i, params):
        part = per_input[i](V(b, g), V(b, ans), *(V(b, a) for a in ins), Lib(b, module))
        return None if part is None else lift(part)

    return rule

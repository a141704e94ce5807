"""The numpy section of the rule table (see :mod:`diffc.ops.rules`).

The gradient of a variable always has that variable's shape and no Jacobian
is ever formed: elementwise rules multiply by the local derivative,
reductions spread the gradient back over the reduced axes, indexing
scatters it (``np.add.at``, so repeated indices add up). Broadcasting is
undone by one helper, :func:`unbroadcast`, applied by the reverse pass.
Routers (``np.maximum``, ``np.minimum``, ``np.max``, ``np.min``) follow the
builtins' tie convention: the first of equal arguments takes the gradient.
"""

from __future__ import annotations

from ..ir import Const
from .primitives import call_arg
from .rules import ONE, VJPS, ZERO, NeedsShapes, defvjp, defvjp_full
from .shapes import Sym, known

# Ops whose inputs broadcast against each other: the reverse pass sums each
# input's gradient back to that input's shape.
BROADCASTING = {
    "add", "sub", "mul", "div", "pow", "mod", "select", "numpy.add", "numpy.subtract", "numpy.multiply",
    "numpy.divide", "numpy.true_divide", "numpy.power", "numpy.maximum", "numpy.minimum", "numpy.where",
    "numpy.clip",
}
# Ops whose output element depends only on the input elements at the same place (under broadcasting).
ELEMENTWISE = BROADCASTING | {
    "neg", "pos", "abs", "sigmoid", "copy", "float", "numpy.copy", "numpy.negative", "numpy.square",
    *(f"numpy.{f}" for f in "exp log log1p expm1 sqrt abs absolute sin cos tan tanh arcsin arccos arctan sinh cosh "
      "exp2 log2 log10 reciprocal".split()),
}


def unbroadcast(b, g, x, out_shape):
    """``g`` (of shape ``out_shape``) summed back to the shape of ``x``."""
    sx, S = b.shape(x), b.shapes
    if sx is not None and sx == out_shape:
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
            if lead:
                g = b.emit("numpy.sum", g, axis=0 if lead == 1 else tuple(range(lead)))
            if kept:
                g = b.emit("numpy.sum", g, axis=kept[0] if len(kept) == 1 else tuple(kept), keepdims=True)
            return g
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
    if eqn.op == "numpy.where":
        if eqn.ins[2] == ZERO:
            return eqn.ins[0], True
        return (eqn.ins[0], False) if eqn.ins[1] == ZERO else None
    if eqn.op == "mul" and any(getattr(e, "out", None) is eqn.ins[0] and e.op == "_first_mask" for e in eqns):
        return eqn.ins[0], True
    return None


def _where_zero(b, cond, g, take_if_true=True):
    return b.call("numpy.where", cond, g, ZERO) if take_if_true else b.call("numpy.where", cond, ZERO, g)


# ----------------------------------------------------------------------------
# Elementwise functions
# ----------------------------------------------------------------------------
def _np(name):
    return f"numpy.{name}"


defvjp(_np("exp"), lambda b, g, ans, x: b.mul(g, ans))
defvjp(_np("log"), lambda b, g, ans, x: b.div(g, x))
defvjp(_np("log1p"), lambda b, g, ans, x: b.div(g, b.add(ONE, x)))
defvjp(_np("expm1"), lambda b, g, ans, x: b.mul(g, b.add(ans, ONE)))
defvjp(_np("sqrt"), lambda b, g, ans, x: b.div(g, b.mul(Const(2), ans)))
defvjp(_np("square"), lambda b, g, ans, x: b.mul(b.mul(g, Const(2)), x))
defvjp(_np("abs"), lambda b, g, ans, x: b.mul(g, b.call(_np("sign"), x)))
VJPS[_np("absolute")] = VJPS[_np("abs")]
defvjp(_np("sin"), lambda b, g, ans, x: b.mul(g, b.call(_np("cos"), x)))
defvjp(_np("cos"), lambda b, g, ans, x: b.mul(b.neg(g), b.call(_np("sin"), x)))
defvjp(_np("tan"), lambda b, g, ans, x: b.mul(g, b.add(ONE, b.mul(ans, ans))))
defvjp(_np("tanh"), lambda b, g, ans, x: b.mul(g, b.sub(ONE, b.mul(ans, ans))))
defvjp(_np("arcsin"), lambda b, g, ans, x: b.div(g, b.call(_np("sqrt"), b.sub(ONE, b.mul(x, x)))))
defvjp(_np("arccos"), lambda b, g, ans, x: b.div(b.neg(g), b.call(_np("sqrt"), b.sub(ONE, b.mul(x, x)))))
defvjp(_np("arctan"), lambda b, g, ans, x: b.div(g, b.add(ONE, b.mul(x, x))))
defvjp(_np("sinh"), lambda b, g, ans, x: b.mul(g, b.call(_np("cosh"), x)))
defvjp(_np("cosh"), lambda b, g, ans, x: b.mul(g, b.call(_np("sinh"), x)))
defvjp(_np("exp2"), lambda b, g, ans, x: b.mul(b.mul(g, ans), b.call(_np("log"), Const(2))))
defvjp(_np("log2"), lambda b, g, ans, x: b.div(g, b.mul(x, b.call(_np("log"), Const(2)))))
defvjp(_np("log10"), lambda b, g, ans, x: b.div(g, b.mul(x, b.call(_np("log"), Const(10)))))
defvjp(_np("reciprocal"), lambda b, g, ans, x: b.mul(b.neg(g), b.mul(ans, ans)))
defvjp(_np("negative"), lambda b, g, ans, x: b.neg(g))
defvjp(_np("copy"), lambda b, g, ans, x: g)
for _name, _op in [("add", "add"), ("subtract", "sub"), ("multiply", "mul"), ("divide", "div"),
                   ("true_divide", "div"), ("power", "pow")]:
    VJPS[_np(_name)] = VJPS[_op]

# Routers: the first of equal arguments takes the gradient.
defvjp(_np("maximum"), lambda b, g, ans, x, y: _where_zero(b, b.compare("ge", x, y), g),
       lambda b, g, ans, x, y: _where_zero(b, b.compare("gt", y, x), g))
defvjp(_np("minimum"), lambda b, g, ans, x, y: _where_zero(b, b.compare("le", x, y), g),
       lambda b, g, ans, x, y: _where_zero(b, b.compare("lt", y, x), g))
defvjp(_np("where"), lambda b, g, ans, c, x, y: None, lambda b, g, ans, c, x, y: _where_zero(b, c, g),
       lambda b, g, ans, c, x, y: _where_zero(b, c, g, take_if_true=False))


def clip_bounds(ins, params):
    """(x, lo, hi) of np.clip, bounds given by position or keyword; a missing bound is Const(None)."""
    given = [*ins[1:3], *[Const(None)] * (3 - len(ins))]
    for k, names in ((0, ("a_min", "min")), (1, ("a_max", "max"))):
        for name in names:
            if name in params:
                given[k] = Const(params[name])
    return ins[0], given[0], given[1]


def _number(atom):
    value = getattr(atom, "value", None)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _clip(b, g, ans, ins, i, params):
    """np.clip(x, lo, hi) is np.minimum(np.maximum(x, lo), hi): x takes the gradient where lo <= x <= hi,
    lo where it is above x (and not above hi), hi where it is below x or below lo (then the result
    is hi, as in NumPy). A bound of None takes part in nothing."""
    x, lo, hi = clip_bounds(ins, params)
    has_lo, has_hi = lo != Const(None), hi != Const(None)
    ordered = not (has_lo and has_hi) or _number(lo) is not None and _number(hi) is not None and \
        _number(lo) <= _number(hi)
    if i == 0:
        conds = [b.compare("ge", x, lo)] if has_lo else []
        conds += [b.compare("le", x, hi)] if has_hi else []
        if not conds:
            return g
        cond = conds[0] if len(conds) == 1 else b.call(_np("logical_and"), *conds)
    elif i == 1:
        cond = b.compare("lt", x, lo)
        if not ordered:
            cond = b.call(_np("logical_and"), cond, b.compare("le", lo, hi))
    else:
        cond = b.compare("gt", x, hi)
        if not ordered:
            cond = b.call(_np("logical_or"), cond, b.compare("gt", lo, hi))
    return _where_zero(b, cond, g)


defvjp_full(_np("clip"), _clip)

# ----------------------------------------------------------------------------
# Reductions
# ----------------------------------------------------------------------------
def _axis(params, ins, b=None):
    class _E:
        pass

    e = _E()
    e.params, e.ins = params, ins
    axis = call_arg(e, 1, "axis", None)
    if b is not None and b.rank(ins[0]) == 0:  # NumPy lets a number be reduced over axis 0 or -1
        axis = None
    return axis, call_arg(e, -1, "keepdims", False)


def _spread(b, g, axis, keepdims):
    """The reduced gradient with the reduced axes put back (size 1), ready to broadcast."""
    if axis is None or keepdims:
        return g
    return b.call(_np("expand_dims"), g, Const(axis))


def _count(b, x, ans, axis):
    if axis is None:  # x.size if x is known to be an array; np.size(x) also counts a float as 1
        rank = b.rank(x)
        return b.emit(_np("size"), x, _style=("attr", "size")) if rank else b.call(_np("size"), x)
    if isinstance(axis, int):
        return b.emit("getitem", b.shape_of(x), Const(axis), index=("atom", 1))
    size = lambda v: b.emit(_np("size"), v, _style=("attr", "size"))  # noqa: E731
    return b.emit("floordiv", size(x), size(ans))


def _sum(b, g, ans, ins, i, params):
    axis, keepdims = _axis(params, ins, b)
    return b.call(_np("full_like"), ins[0], _spread(b, g, axis, keepdims)) if i == 0 else None


def _mean(b, g, ans, ins, i, params):
    axis, keepdims = _axis(params, ins, b)
    if i:
        return None
    share = b.div(_spread(b, g, axis, keepdims), _count(b, ins[0], ans, axis))
    return b.call(_np("full_like"), ins[0], share)


def _router(pick):
    def rule(b, g, ans, ins, i, params):
        axis, keepdims = _axis(params, ins, b)
        if i:
            return None
        if isinstance(axis, tuple):  # several axes: the first extreme over them, in C order
            return b.mul(b.emit("_first_mask_axes", ins[0], Const(axis), Const(pick)), _spread(b, g, axis, keepdims))
        mask = b.emit("_first_mask", ins[0], axis=axis, pick=pick) if axis is not None else \
            b.emit("_first_mask", ins[0], pick=pick)
        return b.mul(mask, _spread(b, g, axis, keepdims))

    return rule


def _prod(b, g, ans, ins, i, params):
    axis, keepdims = _axis(params, ins, b)
    if i:
        return None
    if isinstance(axis, tuple):  # several axes: flattened into one by a helper
        return b.mul(b.emit("_prod_others_axes", ins[0], Const(axis)), _spread(b, g, axis, keepdims))
    others = b.emit("_prod_others", ins[0], axis=axis) if axis is not None else b.emit("_prod_others", ins[0])
    return b.mul(others, _spread(b, g, axis, keepdims))


defvjp_full(_np("sum"), _sum)
defvjp_full(_np("mean"), _mean)
defvjp_full(_np("max"), _router("max"))
defvjp_full(_np("min"), _router("min"))
VJPS[_np("amax")], VJPS[_np("amin")] = VJPS[_np("max")], VJPS[_np("min")]
defvjp_full(_np("prod"), _prod)


# ----------------------------------------------------------------------------
# Shapes and indexing
# ----------------------------------------------------------------------------
def reshape_like(b, g, x, ans):
    """``g`` (the gradient of ``ans``) reshaped to ``x``'s shape: ``g.reshape(x.shape)`` where both are
    known to be arrays, else ``np.reshape(g, np.shape(x))``, which also takes numbers."""
    if b.rank(x) and b.rank(ans):
        return b.emit(_np("reshape"), g, b.shape_of(x), _style=("method", "reshape"))
    return b.call(_np("reshape"), g, b.call(_np("shape"), x))


def _reshape_back(b, g, ans, ins, i, params):
    return None if i else reshape_like(b, g, ins[0], ans)


def _transpose(b, g, ans, ins, i, params):
    axes = call_arg(type("E", (), {"params": params, "ins": ins})(), 1, "axes", None)
    if i:
        return None
    if axes is None:  # g.T, unless g may be a number (the transpose of a number is that number)
        return b.T(g) if b.rank(ans) else b.call(_np("transpose"), g)
    inverse = tuple(sorted(range(len(axes)), key=lambda k: axes[k]))
    return b.call(_np("transpose"), g, Const(inverse))


for _name in ("reshape", "ravel", "squeeze", "expand_dims"):
    defvjp_full(_np(_name), _reshape_back)
defvjp_full(_np("transpose"), _transpose)


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
            part = _where_zero(b, mask, part)  # not part * mask: 0 * inf would be NaN
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


defvjp_full("getitem", _getitem)
defvjp_full("setitem", _setitem)


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


for _name in ("concatenate", "stack", "hstack", "vstack"):
    defvjp_full(_np(_name), _sequence_rule(_name))

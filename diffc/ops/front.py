"""The ops the frontend makes itself: sequences, casts, fills, constructors, containers.

A list or tuple literal (``[a, b]``) that reaches NumPy is a stack of its items, so its gradient
is an array and each item gets its slice back (unstack); ``np.array([...])`` is the same. Casts
to a float type are the identity for the gradient; casts to an integer or bool type cut it (zero
derivative almost everywhere); a cast to another array's type (``x.astype(y.dtype)``) is one or the
other by ``y``'s kind, decided at run time where it is not known; a cast whose target type is not
known otherwise is refused if a gradient must cross it. ``np.full``/``np.full_like`` pass the
gradient to their fill value only; ``np.arange``'s values depend on its start and step, which is
refused; ``np.linspace``'s are ``start + (stop - start) * k / div``, linear in start and stop
(``num`` and ``endpoint`` stay). An ``opaque`` equation is a call diffc has no record for, kept as
plain forward code: fine while none of its inputs is active. ``x.dtype`` is a value with no gradient.
"""

from __future__ import annotations

from ..ir import Const, Eqn, If, Loop, Var
from . import shapes as S
from .algebra import NoRule, arg, shapes_differ, unbroadcast
from .op import FLAT, call_arg, define, per_input
from .tangents import joint, linear

_F = S.same_as_first
FLOAT_TYPES = ("float64", "float32", "float16", "double", "single", "half", "longdouble", "float_")
INT_TYPES = ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "intp", "int_", "bool_")


def _unstack(b, g, ans, ins, i, params):
    return b.emit("getitem", g, Const(i), index=("atom", 1))


def _array(b, g, ans, ins, i, params):
    if "_seq" in params:  # np.array([a, b]): a stack
        shapes = [b.shape(a) for a in ins]
        if all(isinstance(s, tuple) for s in shapes) and any(shapes_differ(shapes[0], s) for s in shapes[1:]):
            raise NoRule("the items of this list have different shapes, so they do not stack into one array",
                         "give every item the same shape, or use np.concatenate")
        return _unstack(b, g, ans, ins, i, params)
    return g  # np.array(x), np.asarray(x): x's values


def _array_shape(shapes, eqn, in_shapes):
    if "_seq" not in eqn.params:
        return in_shapes[0]
    first = S.known(in_shapes[0])
    if first is None or any(s != first for s in in_shapes):
        return None
    return (1 if len(in_shapes) == 1 else S.Sym(f"len{len(in_shapes)}"), *first)


def _list_shape(shapes, eqn, in_shapes):
    return (1 if len(eqn.ins) == 1 else S.Sym(f"len{len(eqn.ins)}"),) if all(s == () for s in in_shapes) else None


def _astype(b, g, ans, ins, i, params):
    cast = params.get("_cast")
    if cast is None and "_dtype" in params:  # x.astype(y.dtype): the kind of y, where it is known
        dtype = ins[params["_dtype"]]
        kind = b.shapes.kind(dtype) if b.shapes is not None else None
        if kind is None:  # known only at run time: the helper passes g or cuts it
            return b.emit("_cast_grad", g, dtype)
        cast = "f" if kind == "f" else "i" if kind in ("i", "u", "b") else None
    if cast == "f":
        return g
    if cast in ("i", "b"):
        return None
    raise NoRule("cannot tell which type this cast converts to, so its gradient is unknown",
                 "write the type out: .astype(float) keeps the gradient, .astype(int) cuts it")


def _fill(position):
    """np.full(shape, v), np.full_like(x, v): only the fill value ``v`` has a gradient."""

    def rule(b, g, ans, ins, i, params):
        return unbroadcast(b, g, ins[i], b.shape(ans)) if i == position else None

    return rule


def _astype_jvp(b, dots, ans, ins, params):
    """A cast to a float type casts the tangent too; to an integer type, no tangent; a kind known only at
    run time, the reverse rule's helper (it passes the tangent or cuts it); else the reverse rule's refusal."""
    if dots[0] is None:
        return None
    part = _astype(b, dots[0], ans, ins, 0, params)
    return linear(0)(b, dots, ans, ins, params) if part is dots[0] else part


def _arange_jvp(b, dots, ans, ins, params):
    for i, dot in enumerate(dots):
        if dot is not None:
            _arange(b, dot, ans, ins, i, params)  # refuses a start or step that depends on the parameters
    return None  # np.arange(n): integers, flat in n


def _arange(b, g, ans, ins, i, params):
    if len(ins) > 1 and i != 1:
        raise NoRule("np.arange's values depend on its start and step: diffc has no rule for that",
                     "compute start + step * np.arange(n) instead")
    return None


def _linspace(b, g, ans, ins, i, params):
    """np.linspace(start, stop, num, endpoint): element k is start + (stop - start) * t_k, with t =
    np.linspace(0.0, 1.0, num, endpoint); the gradient contracts g's first axis with t or 1 - t."""
    if i > 1:
        return None
    num = arg(ins, params, 2, "num", 50)
    endpoint = arg(ins, params, 3, "endpoint", True)
    rest = () if endpoint is True else (endpoint if isinstance(endpoint, Var) else Const(endpoint),)
    t = b.call("linspace", Const(0.0), Const(1.0), num if isinstance(num, Var) else Const(num), *rest)
    weight = t if i == 1 else b.sub(Const(1.0), t)
    out = b.shape(ans)
    part = b.emit("matmul", weight, g) if out is not None and len(out) == 1 else \
        b.emit("tensordot", weight, g, axes=1)
    return unbroadcast(b, part, ins[i], None if out is None else out[1:])


def _linspace_shape(shapes, eqn, in_shapes):
    num = call_arg(eqn, 2, "num", 50)
    rest = shapes.broadcast(in_shapes[0], in_shapes[1])
    return None if S.known(rest) is None else (1 if num == 1 else None, *rest)


# ----------------------------------------------------------------------------
# Sequences and containers
# ----------------------------------------------------------------------------
# takes_sequences: which inputs may be a list or tuple of active values (its gradient is a stacked array).
_JOINT = joint()
define("list", _unstack, jvp=_JOINT, shape=_list_shape, takes_sequences="all")
define("tuple", _unstack, jvp=_JOINT, takes_sequences="all")
define("numpy.array", _array, jvp=_JOINT, arity=(1, None), shape=_array_shape, takes_sequences="all")
define("numpy.asarray", _array, jvp=_JOINT, arity=(1, 1), shape=_F, view=True, takes_sequences="all")
define("field", shape=lambda shapes, eqn, in_shapes: shapes.field_shape(eqn), view=True)  # the item itself
define("make_struct")
define("opaque")  # a call diffc has no record for: forward code, refused when active

# ----------------------------------------------------------------------------
# Casts: to a float type the identity for the gradient, to an integer type a cut
# ----------------------------------------------------------------------------
for _name in FLOAT_TYPES:
    define(f"numpy.{_name}", per_input(lambda b, g, ans, x: g), jvp=linear(0), arity=(1, 1), shape=_F)
for _name in INT_TYPES:
    define(f"numpy.{_name}", arity=(1, 1), shape=_F, grad=FLAT)
define("astype", _astype, jvp=_astype_jvp, methods=("astype",), shape=_F)
# x.dtype as a value (np.zeros(D, dtype=x.dtype), y.astype(x.dtype)): no derivative flows through a type.
# Its kind (diffc.passes.shapes) is the kind of x, so that a cast to it is known to keep or cut the gradient.
define("dtype", attribute="dtype", grad=FLAT)

# ----------------------------------------------------------------------------
# Fills and constructors
# ----------------------------------------------------------------------------
_DTYPE = ("dtype",)
define("numpy.full", _fill(1), jvp=linear(1), arity=(2, 2), keywords=_DTYPE, shape_args=(0, 1, 2))
define("numpy.full_like", _fill(1), jvp=linear(1), arity=(2, 2), keywords=_DTYPE, shape=_F)
define("numpy.linspace", _linspace, jvp=joint((0, 1)), arity=(2, 4), keywords=("num", "endpoint"),
       shape=_linspace_shape,
       kinks="start and stop (arrays broadcast, new axis first); num and endpoint are constants")
define("numpy.arange", _arange, jvp=_arange_jvp, arity=(1, 3), keywords=_DTYPE, result_kind="i", shape_args=(0, 1, 2))
for _name, _arity, _shape, _shape_args in [("zeros", (1, 1), None, (0, 1, 2)), ("ones", (1, 1), None, (0, 1, 2)),
                                           ("eye", (1, 2), None, (0, 1, 2)), ("zeros_like", (1, 1), _F, ()),
                                           ("ones_like", (1, 1), _F, ())]:
    define(f"numpy.{_name}", arity=_arity, keywords=_DTYPE, shape=_shape, grad=FLAT, shape_args=_shape_args)


def sequence_vars(items) -> set[int]:
    """Ids of the variables that may hold a Python list or tuple (made by a literal, passed on by
    copies, branches and loops)."""
    seqs: set[int] = set()

    def block(items):
        for item in items:
            if isinstance(item, Eqn):
                if item.op in ("list", "tuple") or item.op == "copy" and _in(item.ins[0], seqs):
                    seqs.add(id(item.out))
            elif isinstance(item, If):
                block(item.then)
                block(item.orelse)
                seqs.update(id(p.out) for p in item.phis if _in(p.then, seqs) or _in(p.orelse, seqs))
            elif isinstance(item, Loop):
                while True:
                    before = len(seqs)
                    for c in item.carried:
                        if _in(c.init, seqs) or _in(c.end, seqs):
                            seqs.update((id(c.start), id(c.final)))
                    block(item.cond)
                    block(item.body)
                    if len(seqs) == before:
                        break

    block(items)
    return seqs


def _in(atom, ids) -> bool:
    return isinstance(atom, Var) and id(atom) in ids

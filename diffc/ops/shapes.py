"""Symbolic shapes, so that the backward pass can be written exactly.

A shape is a tuple of dims or None (unknown). A dim is the literal ``1``,
a :class:`Sym` (a named size known not to be 1, such as ``N`` or ``W1.0``),
or None (a size nothing is known about). Parameter shapes come from the
decorator's first call (size-1 dims stay ``1``, every other dim gets its own
symbol, and the compiled function is cached per pattern) or from the CLI's
``--shape X=N,D``. Without them shapes are unknown and the generated code
falls back on small run-time helpers that are right for every shape.

The per-op shape rules here are the generic ones (elementwise, reductions, matmul ...), named by
the records of :mod:`diffc.ops.catalogue`; inference over a whole function is
:mod:`diffc.passes.shapes`.

Broadcasting two symbols that are both known not to be 1 proves them equal
(NumPy would raise otherwise), so they are unified; this is what turns
``X @ W + b`` into ``grad_b = np.sum(grad_scores, axis=0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Const, Ref, Var
from .op import call_arg


@dataclass(frozen=True)
class Sym:
    name: str


@dataclass(frozen=True)
class Opaque:
    """The unknown shape of a parameter: equal only to itself, so ``x * np.exp(x)`` still
    provably has the shape of ``x`` when nothing else is known."""

    name: str


@dataclass(frozen=True)
class Parts:
    """The shapes of the items of a tuple a call returns (``np.linalg.eigh``'s ``(w, v)``)."""

    items: tuple


def known(shape):
    """``shape`` if it is a tuple of dims, else None."""
    return shape if isinstance(shape, tuple) else None


class Shapes:
    def __init__(self):
        self.parent: dict[Sym, Sym] = {}
        self.of: dict[int, tuple | None] = {}
        self.kinds: dict[int, str] = {}  # id(var) -> numpy dtype kind ('b', 'i', 'f') where known
        self.shape_values: dict[int, tuple] = {}  # id(var) -> the shape it holds (x.shape)
        self.dim_values: dict[int, object] = {}  # id(var) -> the dim it holds (x.shape[0])
        self.fields: dict[str, object] = {}  # 'params["W1"]' -> the shape of that part of a container
        self.numbers: set[int] = set()  # id(var): a number, whatever its rule says (see passes.shapes.scalar_output)

    def field_shape(self, eqn):
        container = eqn.ins[0]
        name = f"{getattr(container, 'hint', '?')}[{eqn.params['key']!r}]"
        if name in self.fields:
            return self.fields[name]
        parts = self.of.get(id(container))
        if isinstance(parts, Parts):
            key = eqn.params["key"]
            return parts.items[key] if type(key) is int and 0 <= key < len(parts.items) else None
        return Opaque(name) if isinstance(self.of.get(id(container)), Opaque) or \
            self.of.get(id(container)) is None else None

    def kind(self, atom) -> str | None:
        if isinstance(atom, Const):
            return {bool: "b", int: "i", float: "f"}.get(type(atom.value))
        return self.kinds.get(id(atom))

    # -- dims -------------------------------------------------------------------
    def find(self, d):
        while isinstance(d, Sym) and d in self.parent:
            d = self.parent[d]
        return d

    def same(self, a, b) -> bool:
        a, b = self.find(a), self.find(b)
        return a is not None and a == b

    def broadcast_dim(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == 1:
            return b
        if b == 1:
            return a
        if isinstance(a, Sym) and isinstance(b, Sym):
            if a != b:
                self.parent[b] = a  # both are not 1, so NumPy needs them equal
            return a
        # An unknown size against one known not to be 1: it is 1 or equal, the result is the known one.
        return a if isinstance(a, Sym) else b if isinstance(b, Sym) else None

    def broadcast(self, *shapes):
        if any(s is None for s in shapes):
            return None
        opaque = {s for s in shapes if isinstance(s, Opaque)}
        if opaque:
            return opaque.pop() if len(opaque) == 1 and all(s == () or s in opaque for s in shapes) else None
        rank = max(len(s) for s in shapes)
        out = []
        for i in range(rank):
            dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
            d = dims[0]
            for other in dims[1:]:
                d = self.broadcast_dim(d, other)
            out.append(d)
        return tuple(out)

    def resolve(self, shape):
        return tuple(self.find(d) for d in shape) if isinstance(shape, tuple) else shape

    # -- atoms ------------------------------------------------------------------
    def get(self, atom):
        if isinstance(atom, (Const, Ref)):
            return () if isinstance(getattr(atom, "value", None), (int, float, bool)) else None
        return self.resolve(self.of.get(id(atom)))

    def set(self, var: Var, shape) -> None:
        self.of[id(var)] = shape


def _axes(axis, rank):
    if axis is None:
        return tuple(range(rank))
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, int) and -rank <= a < rank for a in axes):
        return None
    return tuple(sorted(a % rank for a in axes))


def reduce_shape(shape, axis, keepdims):
    if axis is None and not keepdims:
        return ()
    if not isinstance(shape, tuple):
        return None
    axes = _axes(axis, len(shape))
    if axes is None:
        return None
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _matmul(S: Shapes, a, b, dot=False):
    """The shape of a @ b (or np.dot(a, b)) for operands of rank 1 or more."""
    a, b = known(a), known(b)
    if a is None or b is None or not a or not b:
        return None
    S.broadcast_dim(a[-1], b[-2] if len(b) > 1 else b[0])  # the contracted sizes agree
    if len(b) == 1:
        return tuple(a[:-1])
    if dot:  # every axis of a but its last, then every axis of b but its second to last
        return tuple(a[:-1]) + tuple(b[:-2]) + (b[-1],)
    stack = S.broadcast(tuple(a[:-2]), tuple(b[:-2]))  # matmul broadcasts the stacks of matrices
    return stack + tuple(a[-2:-1]) + (b[-1],)


def elementwise(S: Shapes, eqn, shapes):
    return S.broadcast(*shapes)


def same_as_first(S, eqn, shapes):
    return shapes[0]


def scalar(S, eqn, shapes):
    return ()


def unknown(S, eqn, shapes):
    return None


def matmul(S, eqn, shapes):
    a, b = shapes[:2]
    if a == () or b == ():
        return S.broadcast(a, b)
    return _matmul(S, a, b, dot=eqn.op == "dot")


def trace(S, eqn, shapes):
    """np.trace keeps every axis of x after its first two."""
    shape = known(shapes[0])
    return tuple(shape[2:]) if shape is not None and len(shape) >= 2 else None


def clip(S, eqn, shapes):
    """np.clip broadcasts x against its bounds; a bound of None takes no part."""
    return S.broadcast(*(s for a, s in zip(eqn.ins, shapes) if a != Const(None)))


def reduction(S, eqn, shapes):
    return reduce_shape(shapes[0], call_arg(eqn, 1, "axis", None), call_arg(eqn, -1, "keepdims", False))


def transpose(S, eqn, shapes):
    shape = known(shapes[0])
    if shape is None:
        return None
    axes = call_arg(eqn, 1, "axes", None)
    if axes is None:
        return tuple(reversed(shape))
    if isinstance(axes, tuple) and len(axes) == len(shape) and \
            sorted(a % len(shape) for a in axes) == list(range(len(shape))):
        return tuple(shape[a] for a in axes)
    return None


def expand_dims(S, eqn, shapes):
    shape, axis = known(shapes[0]), call_arg(eqn, 1, "axis", None)
    if shape is None:
        return None
    axes = _axes(axis, len(shape) + (len(axis) if isinstance(axis, tuple) else 1))
    if axes is None:
        return None
    dims = iter(shape)
    return tuple(1 if i in axes else next(dims) for i in range(len(shape) + len(axes)))


def outer(S, eqn, shapes):
    a, b = known(shapes[0]), known(shapes[1])
    if a is not None and b is not None and len(a) == 1 and len(b) == 1:
        return (a[0], b[0])
    return None


def cumulative(S, eqn, shapes):
    """np.cumsum, np.cumprod, np.sort: x's shape along an axis, flattened without one."""
    shape = known(shapes[0])
    if call_arg(eqn, 1, "axis", -1 if eqn.op == "sort" else None) is not None:
        return shape
    return None if shape is None else ((shape[0],) if len(shape) == 1 else (None,) if shape else (1,))

"""The operation catalogue: every primitive's record, and the lookups the compiler needs.

Importing this module defines every record (the family modules, in order); the rest of diffc
asks it about ops and never reads a family module's tables. Lookups: by the name the user
called (:func:`library_function`, :func:`builtin`), by array method or attribute
(:func:`method`, :func:`attribute`), by IR op (:func:`get`, :func:`shape_rule`, :func:`vjp`,
:func:`has_rule`, :func:`cuts`). The sets below (``BROADCASTING``, ``ELEMENTWISE``,
``VIEW_OPS`` ...) are computed from the records, for the passes that test membership.

Guarantee: an op with no record, or a record without a rule, has no gradient: the frontend keeps
such a call as forward code and the reverse pass refuses it, with its line, when a gradient must
cross it.
"""

from __future__ import annotations

import math

from . import custom, elementwise, front, higher, indexing, linalg, python, reductions, special  # noqa: F401  (define records)
from . import shapes as S
from .op import FLAT, REGISTRY, RULE, Op
from .tangents import diagonal

OPS: dict[str, Op] = REGISTRY
BINOPS, UNARYOPS, COMPAREOPS = python.BINOPS, python.UNARYOPS, python.COMPAREOPS
FLOAT_TYPES, INT_TYPES = front.FLOAT_TYPES, front.INT_TYPES
LIBRARIES = ("math", "numpy", "scipy.special")
CONSTANTS = {
    "math": {name: getattr(math, name) for name in ("pi", "e", "tau", "inf", "nan")},
    "numpy": {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan},
}

# Forward rules derived generically: an elementwise op (or a function of numbers) has a diagonal
# Jacobian, so its tangent is its reverse rule applied to each input's tangent (diffc.ops.tangents).
for _op in REGISTRY.values():
    if _op.jvp is None and _op.vjp is not None and (_op.elementwise or _op.scalar_only):
        _op.jvp = diagonal(_op.vjp)

_BY_SOURCE = {source: op for op in OPS.values() for source in op.sources}
_BY_METHOD = {m: op for op in OPS.values() for m in op.methods}
_BY_ATTRIBUTE = {op.attribute: op for op in OPS.values() if op.attribute}


def _where(test) -> frozenset:
    return frozenset(name for name, op in OPS.items() if test(op))


BROADCASTING = _where(lambda op: op.broadcasts)
ELEMENTWISE = _where(lambda op: op.elementwise)
NONDIFF = _where(lambda op: op.grad == FLAT)
VIEW_OPS = _where(lambda op: op.view)
SCALAR_ONLY = _where(lambda op: op.scalar_only)
INT_OPS = _where(lambda op: op.result_kind == "i")
BOOL_OPS = BOOLEAN_OPS = _where(lambda op: op.result_kind == "b")
INT_KEEPING = _where(lambda op: op.result_kind == "keep")
SEQUENCE_FUNCTIONS = _where(lambda op: op.sequence)
PATTERNS = {name: op.pattern for name, op in OPS.items() if op.pattern}
SYMBOLS = {name: op.symbol for name, op in OPS.items() if op.symbol}
METHODS = {m: op.name for m, op in _BY_METHOD.items()}


def get(name: str) -> Op | None:
    """The record of IR op ``name``, or None (a run-time helper, a stack op)."""
    return OPS.get(name)


def library_function(module: str, name: str):
    """(op, (fewest, most) arguments) for ``module.name``, or None if diffc has no such function."""
    op = _BY_SOURCE.get(f"{module}.{name}")
    return None if op is None else (op.name, op.arity)


def builtin(name: str):
    """(op, arity) for the builtin ``name``, or None."""
    op = _BY_SOURCE.get(name)
    return None if op is None else (op.name, op.arity)


def library_constant(module: str, name: str):
    """The value of ``module.name`` if it is a known constant, else None."""
    return CONSTANTS.get(module, {}).get(name)


def method(name: str) -> str | None:
    """The op an array method stands for (``x.sum()``: ``sum``), or None."""
    op = _BY_METHOD.get(name)
    return None if op is None else op.name


def attribute(name: str) -> str | None:
    """The op an array attribute stands for (``x.T``: ``transpose``), or None."""
    op = _BY_ATTRIBUTE.get(name)
    return None if op is None else op.name


def shape_args(name: str) -> tuple:
    """The positions of op ``name``'s arguments that are shapes or axes, not arrays."""
    op = OPS.get(name)
    return op.shape_args if op is not None else ()


def keywords(name: str) -> tuple:
    """The literal keywords a call of ``name`` may pass."""
    op = OPS.get(name)
    return op.keywords if op is not None else ()


def array_keywords(name: str) -> tuple[tuple, tuple]:
    """(keywords that may be arrays, names of the positional parameters) of op ``name``: such a
    keyword becomes an input at its parameter's position (``np.average(a, axis, weights)``)."""
    op = OPS.get(name)
    return (op.array_keywords, op.positional) if op is not None else ((), ())


def parts(name: str, params: dict | None = None) -> int:
    """How many arrays a call of op ``name`` with literal ``params`` returns as a tuple (0: one value;
    ``np.linalg.qr(A, mode='r')`` returns R alone)."""
    op = OPS.get(name)
    if op is None or (params or {}).get("mode") == "r":
        return 0
    return op.parts


def shape_rule(name: str):
    """The shape rule of op ``name``: unknown for an op without one."""
    op = OPS.get(name)
    return op.shape if op is not None and op.shape is not None else S.unknown


def has_rule(name: str) -> bool:
    """True if a gradient can cross op ``name``: it has a rule or is piecewise constant."""
    op = OPS.get(name)
    return op is not None and op.grad in (RULE, FLAT) and (op.grad == FLAT or op.vjp is not None)


def differentiable(name: str) -> bool:
    """True if op ``name`` has a reverse rule."""
    op = OPS.get(name)
    return op is not None and op.vjp is not None


def vjp(b, eqn, g, i: int):
    """The gradient flowing into input ``i`` of ``eqn``, or None for zero."""
    return OPS[eqn.op].vjp(b, g, eqn.out, eqn.ins, i, eqn.params)


def cuts(eqn) -> bool:
    """True if ``eqn``'s output has a zero derivative almost everywhere (its output is never active)."""
    return eqn.op in NONDIFF or (eqn.op == "astype" and eqn.params.get("_cast") in ("i", "b"))


def accepts_sequence(eqn, i: int) -> bool:
    """True if input ``i`` of ``eqn`` may be a list or tuple of active values."""
    op = OPS.get(eqn.op)
    takes = op.takes_sequences if op is not None else None
    return takes == "all" or (takes == "rest" and i > 0)  # a list used as an index is not differentiated

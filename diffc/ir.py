"""The intermediate representation: a flat list of equations in A-normal form.

Modelled on JAX's ``Jaxpr``: every equation applies one primitive ``op`` to
atoms (variables, constants or references to module constants) and binds one
fresh :class:`Var`. Variables are single-assignment; a user's re-assignment of
a name creates a new ``Var`` with the same ``hint``, and the namer decides at
emission time whether the two can share the Python name. Each equation keeps
the source line it came from.

:class:`Builder` is how the frontend and the derivative rules append
equations. It folds the algebra a person would never write (``x * 1``,
``x / 1``, ``x ** 1``, ``x ** 0``, ``-(-c)``, arithmetic on two literals), so rules can be
written plainly and their output stays readable and differentiable again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class Var:
    """A single-assignment variable.

    ``hint`` is the user's name for it (None for a compiler temporary).
    ``primal`` is set on gradient variables: the variable whose gradient
    this is. Identity is object identity.
    """

    __slots__ = ("hint", "primal", "is_param", "label")

    def __init__(self, hint: str | None = None, *, primal: Var | None = None, is_param: bool = False,
                 label: str | None = None):
        self.hint = hint
        self.primal = primal
        self.is_param = is_param
        self.label = label  # a name to use if it gets a line, without forcing one (a branch's flag)

    def __repr__(self) -> str:
        if self.primal is not None:
            return f"grad({self.primal!r})"
        return f"%{self.hint or 't'}{id(self) % 10000}"


@dataclass(frozen=True)
class Const:
    """A literal number (int, float or bool)."""

    value: int | float | bool


@dataclass(frozen=True)
class Ref:
    """A constant referenced by name: ``math.pi`` (module='math', name='pi')
    or a numeric constant defined at the top of the user's module
    (module=None). ``value`` is its number, for folding and for checks."""

    module: str | None
    name: str
    value: float | int | None = None


Atom = Var | Const | Ref


@dataclass(eq=False)
class Eqn:
    """``out = op(*ins, **params)``, from source line ``lineno``."""

    op: str
    ins: tuple
    out: Var
    params: dict = field(default_factory=dict)
    lineno: int | None = None
    col: int | None = None
    # For backward equations: the forward equation whose rule made it.
    origin: Eqn | None = None

    def __repr__(self) -> str:
        args = ", ".join(map(repr, self.ins))
        extra = f", {self.params}" if self.params else ""
        return f"{self.out!r} = {self.op}({args}{extra})"


@dataclass(eq=False)
class Function:
    """One user function lowered to IR."""

    name: str
    params: list[Var]
    eqns: list[Eqn]
    out: Atom
    lineno: int
    # Parameter names with default values, as source text.
    defaults: dict[str, str] = field(default_factory=dict)
    kwonly: list[str] = field(default_factory=list)
    posonly: int = 0
    containers: set = field(default_factory=set)  # ids of parameters that are dicts, tuples or lists
    aux: list = field(default_factory=list)  # with has_aux: the returned values after the first, passed through


def is_number(atom, value=None) -> bool:
    """True if ``atom`` is a literal number (equal to ``value`` if given)."""
    if not isinstance(atom, Const) or isinstance(atom.value, bool):
        return False
    return value is None or atom.value == value


def _fold(fn, *values):
    try:
        result = fn(*values)
    except (ArithmeticError, ValueError):
        return None
    if isinstance(result, float) and not math.isfinite(result):
        return None
    return Const(result)


_FOLD = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
}


# Ops that build an array like their first input: given an integer input, they build a float one.
_LIKE = {"numpy.zeros_like", "numpy.ones_like", "numpy.full_like", "scatter_add"}


class Builder:
    """Appends equations to ``eqns``, simplifying as it goes."""

    def __init__(self, eqns: list[Eqn], lineno: int | None = None, col: int | None = None,
                 origin: Eqn | None = None, *, numpy: bool = False, shapes=None):
        self.eqns = eqns
        self.lineno = lineno
        self.col = col
        self.origin = origin
        self.numpy = numpy  # values may be arrays: rules use numpy, not math
        self.shapes = shapes

    def lib(self, name: str) -> str:
        return f"numpy.{name}" if self.numpy else f"math.{name}"

    def shape(self, atom):
        return self.shapes.get(atom) if self.shapes is not None else None

    def rank(self, atom):
        shape = self.shape(atom)
        return len(shape) if isinstance(shape, tuple) else None

    def T(self, x):
        return self.emit("numpy.transpose", x, _style=("attr", "T"))

    def shape_of(self, x):
        return self.emit("numpy.shape", x, _style=("attr", "shape"))

    def emit(self, op: str, *ins, out: Var | None = None, **params) -> Atom:
        folded = self._simplify(op, ins)
        if folded is None and op == "neg" and isinstance(ins[0], Var):
            # -(-x) is x: the same variable, so that passes that track arrays see it is shared.
            folded = next((e.ins[0] for e in reversed(self.eqns[-8:])
                           if isinstance(e, Eqn) and e.out is ins[0] and e.op == "neg"), None)
        if folded is not None and out is None:
            return folded
        if op in _LIKE and self.shapes is not None:
            if op == "numpy.full_like" and out is None and self.shapes.get(ins[0]) == () and \
                    self.shapes.kind(ins[0]) != "f" and self.shapes.get(ins[1]) == ():
                return ins[1]  # filling a number with a number: that number
            if self.shapes.kind(ins[0]) in ("b", "i", "u"):
                params = {**params, "dtype": float}  # a gradient is real even where its value is an integer
        out = out if out is not None else Var()
        self.eqns.append(Eqn(op, tuple(ins), out, params, self.lineno, self.col, self.origin))
        return out

    @staticmethod
    def _simplify(op: str, ins: tuple):
        if op in _FOLD and len(ins) == 2 and all(is_number(a) for a in ins):
            return _fold(_FOLD[op], ins[0].value, ins[1].value)
        if op == "mul":
            a, b = ins
            if is_number(a, 1):
                return b
            if is_number(b, 1):
                return a
        if op in ("div", "pow") and is_number(ins[1], 1):
            return ins[0]
        if op == "pow" and is_number(ins[1], 0):
            return Const(1)  # x ** 0 == 1 for every x, nan and 0 included
        if op == "neg" and is_number(ins[0]):
            return Const(-ins[0].value)
        return None

    # Short names used by the rules.
    def add(self, a, b):
        return self.emit("add", a, b)

    def sub(self, a, b):
        return self.emit("sub", a, b)

    def mul(self, a, b):
        return self.emit("mul", a, b)

    def div(self, a, b):
        return self.emit("div", a, b)

    def pow(self, a, b):
        return self.emit("pow", a, b)

    def neg(self, a):
        return self.emit("neg", a)

    def call(self, fn: str, *args):
        return self.emit(fn, *args)

    def select(self, cond, a, b):
        if self.numpy:
            return self.emit("numpy.where", cond, a, b)
        return self.emit("select", cond, a, b)

    def compare(self, op: str, a, b):
        return self.emit(op, a, b)


# ----------------------------------------------------------------------------
# Structured control flow. A block is a list of items: Eqn, If or Loop.
# ----------------------------------------------------------------------------
@dataclass(eq=False)
class Phi:
    """After an ``if``: ``out`` is ``then`` if the branch was taken, else ``orelse``."""

    out: Var
    then: Atom
    orelse: Atom


@dataclass(eq=False)
class If:
    cond: Atom
    then: list
    orelse: list
    phis: list
    lineno: int | None = None
    col: int | None = None


@dataclass(eq=False)
class Carry:
    """A value a loop updates: ``init`` before it, ``start``/``end`` in each iteration, ``final`` after."""

    init: Atom
    start: Var
    end: Atom
    final: Var


@dataclass(eq=False)
class Loop:
    """``for target in range(*args)`` (kind "range") or ``while test`` (kind "while", with the
    items computing ``test`` in ``cond``). ``reverse`` marks the backward loop, which mirrors
    ``mirror`` and starts each iteration by popping ``restores`` ((value, stack) pairs)."""

    kind: str
    target: Var | None
    args: tuple
    cond: list
    test: Atom | None
    carried: list
    body: list
    lineno: int | None = None
    col: int | None = None
    saves: list = field(default_factory=list)  # forward: (stack, value) pushed each iteration
    counter: Var | None = None  # forward while loops: the trip count, for the backward loop
    mirror: Loop | None = None
    restores: list = field(default_factory=list)


def walk(items):
    """Every Eqn in a block, nested blocks included, in order."""
    for item in items:
        if isinstance(item, Eqn):
            yield item
        elif isinstance(item, If):
            yield from walk(item.then)
            yield from walk(item.orelse)
        else:
            yield from walk(item.cond)
            yield from walk(item.body)


def item_reads(item) -> list:
    """The atoms an item reads from outside itself (for an If or a Loop: all reads inside it too)."""
    if isinstance(item, Eqn):
        return list(item.ins)
    if isinstance(item, If):
        reads = [item.cond, *(p.then for p in item.phis), *(p.orelse for p in item.phis)]
        return reads + [a for sub in (item.then, item.orelse) for i in sub for a in item_reads(i)]
    reads = [*item.args, *(c.init for c in item.carried), *(c.end for c in item.carried)]
    if item.test is not None:
        reads.append(item.test)
    reads += [v for _, v in item.saves] + [v for _, v in item.restores]
    return reads + [a for sub in (item.cond, item.body) for i in sub for a in item_reads(i)]


def item_defs(item) -> list:
    """The variables an item makes visible after it."""
    if isinstance(item, Eqn):
        return [item.out]
    if isinstance(item, If):
        return [p.out for p in item.phis]
    return [c.final for c in item.carried]


def substitute(items, subst: dict):
    """Replace variables (by id) in every read of ``items``, nested blocks included."""

    def s(a):
        return subst.get(id(a), a) if isinstance(a, Var) else a

    for item in items:
        if isinstance(item, Eqn):
            item.ins = tuple(s(a) for a in item.ins)
        elif isinstance(item, If):
            item.cond = s(item.cond)
            for phi in item.phis:
                phi.then, phi.orelse = s(phi.then), s(phi.orelse)
            substitute(item.then, subst)
            substitute(item.orelse, subst)
        else:
            item.args = tuple(s(a) for a in item.args)
            item.test = s(item.test)
            for c in item.carried:
                c.init, c.end = s(c.init), s(c.end)
            substitute(item.cond, subst)
            substitute(item.body, subst)


def each_item(items):
    """Every item of a block, nested blocks included, in order."""
    for item in items:
        yield item
        if isinstance(item, If):
            yield from each_item(item.then)
            yield from each_item(item.orelse)
        elif isinstance(item, Loop):
            yield from each_item(item.cond)
            yield from each_item(item.body)

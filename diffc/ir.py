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
    this is (with ``tangent``, forward mode: the variable whose tangent this is, named
    ``dot_<name>``). Identity is object identity.
    """

    __slots__ = ("hint", "primal", "is_param", "label", "tangent")

    def __init__(self, hint: str | None = None, *, primal: Var | None = None, is_param: bool = False,
                 label: str | None = None, tangent: bool = False):
        self.hint = hint
        self.primal = primal
        self.is_param = is_param
        self.label = label  # a name to use if it gets a line, without forcing one (a branch's flag)
        self.tangent = tangent

    def __repr__(self) -> str:
        if self.primal is not None:
            return f"{'dot' if self.tangent else 'grad'}({self.primal!r})"
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

# Ops that add into their first input's array in place: the reverse pass makes them only on an array
# it owns (a running sum's fresh zeros), so their result and that input are one value under one name.
ACCUMULATES = {"index_add"}


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

    # The interface every IR item has (see "Traversal" below).
    def reads(self) -> list:
        return list(self.ins)

    def defs(self) -> list:
        return [self.out]

    def blocks(self) -> tuple:
        return ()

    def header_defs(self) -> list:
        return []

    def merged(self) -> list:
        """An accumulation (``acc[i] += g``) gives its result its accumulator's name."""
        if self.op in ACCUMULATES and isinstance(self.ins[0], Var):
            return [(self.out, self.ins[0])]
        return []

    def map_reads(self, s) -> None:
        self.ins = tuple(s(a) for a in self.ins)


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
_LIKE = {"zeros_like", "ones_like", "full_like", "scatter_add"}


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
        """The op ``name`` computes on arrays (NumPy's) or, in code on numbers only, math's."""
        return name if self.numpy else f"scalar_{name}"

    def shape(self, atom):
        return self.shapes.get(atom) if self.shapes is not None else None

    def rank(self, atom):
        shape = self.shape(atom)
        return len(shape) if isinstance(shape, tuple) else None

    def T(self, x):
        return self.emit("transpose", x, _style=("attr", "T"))

    def shape_of(self, x):
        return self.emit("shape", x, _style=("attr", "shape"))

    def emit(self, op: str, *ins, out: Var | None = None, **params) -> Atom:
        folded = self._simplify(op, ins)
        if folded is None and op == "neg" and isinstance(ins[0], Var):
            # -(-x) is x: the same variable, so that passes that track arrays see it is shared.
            folded = next((e.ins[0] for e in reversed(self.eqns[-8:])
                           if isinstance(e, Eqn) and e.out is ins[0] and e.op == "neg"), None)
        if folded is not None and out is None:
            return folded
        if op in _LIKE and self.shapes is not None:
            if op == "full_like" and out is None and self.shapes.get(ins[0]) == () and \
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
            return self.emit("where", cond, a, b)
        return self.emit("select", cond, a, b)

    def compare(self, op: str, a, b):
        return self.emit(op, a, b)


# ----------------------------------------------------------------------------
# Structured control flow. A block is a list of items: Eqn, If or Loop.
# Every item answers the same questions (what it reads itself, what it makes visible after it, its
# nested blocks, what its header defines inside them, which variables it merges under one name), so a
# pass walks the IR through the helpers below instead of dispatching on the item's type.
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

    def reads(self) -> list:
        """What the ``if`` reads itself: its condition and its phis' two sides (not its nested items)."""
        return [self.cond, *(p.then for p in self.phis), *(p.orelse for p in self.phis)]

    def defs(self) -> list:
        return [p.out for p in self.phis]

    def blocks(self) -> tuple:
        return (self.then, self.orelse)

    def header_defs(self) -> list:
        return []

    def merged(self) -> list:
        """The groups of atoms that share one name: each phi's out and its two sides."""
        return [(p.out, p.then, p.orelse) for p in self.phis]

    def map_reads(self, s) -> None:
        self.cond = s(self.cond)
        for phi in self.phis:
            phi.then, phi.orelse = s(phi.then), s(phi.orelse)


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
    ``mirror``."""

    kind: str
    target: Var | None
    args: tuple
    cond: list
    test: Atom | None
    carried: list
    body: list
    lineno: int | None = None
    col: int | None = None
    mirror: Loop | None = None

    def reads(self) -> list:
        """What the loop reads itself: its range, its test, its carried values' inits and ends."""
        own = [*self.args, *(c.init for c in self.carried), *(c.end for c in self.carried)]
        return own if self.test is None else [*own, self.test]

    def defs(self) -> list:
        return [c.final for c in self.carried]

    def blocks(self) -> tuple:
        return (self.cond, self.body)

    def header_defs(self) -> list:
        """Variables the loop's header defines inside it: the carried values' starts and the target."""
        return [c.start for c in self.carried] + ([self.target] if self.target is not None else [])

    def merged(self) -> list:
        """The groups of atoms that share one name: each carried value's init, start, end and final."""
        return [(c.init, c.start, c.end, c.final) for c in self.carried]

    def map_reads(self, s) -> None:
        self.args = tuple(s(a) for a in self.args)
        self.test = s(self.test)
        for c in self.carried:
            c.init, c.end = s(c.init), s(c.end)


Item = Eqn | If | Loop


# ----------------------------------------------------------------------------
# Traversal
# ----------------------------------------------------------------------------
def each_item(items):
    """Every item of a block, nested blocks included, in order."""
    for item in items:
        yield item
        if not isinstance(item, Eqn):  # a fast path: most items are equations
            for block in item.blocks():
                yield from each_item(block)


def each_in_block(items):
    """(item, the block holding it) for every item, nested blocks included, in order."""
    for item in items:
        yield item, items
        for block in item.blocks():
            yield from each_in_block(block)


def all_blocks(items):
    """``items`` and every block nested in it."""
    yield items
    for item in each_item(items):
        yield from item.blocks()


def walk(items):
    """Every Eqn in a block, nested blocks included, in order."""
    for item in items:
        if isinstance(item, Eqn):
            yield item
        else:
            for block in item.blocks():
                yield from walk(block)


def item_reads(item) -> list:
    """The atoms an item reads from outside itself (for an If or a Loop: all reads inside it too)."""
    return [*item.reads(), *(a for block in item.blocks() for inner in block for a in item_reads(inner))]


def item_defs(item) -> list:
    """The variables an item makes visible after it."""
    return item.defs()


def deep_defs(item) -> list:
    """Every variable an item defines, its nested blocks' and its header's included."""
    return [*item.defs(), *(v for inner in each_item([item]) for v in
                            ([] if inner is item else inner.defs()) + inner.header_defs())]


def var_reads(item) -> list:
    """The variables among what an item reads itself."""
    return [a for a in item.reads() if isinstance(a, Var)]


def substitute(items, subst: dict):
    """Replace variables (by id) in every read of ``items``, nested blocks included."""

    def s(a):
        return subst.get(id(a), a) if isinstance(a, Var) else a

    for item in each_item(items):
        item.map_reads(s)

"""May-alias analysis for in-place writes (``x[i] = v``, ``x += v`` on an array).

The IR treats an in-place write as a new value of the name written; that is
Python's meaning only when no other live name shares the array's memory.
Each variable has a set of *roots*: the arrays whose memory it may share.
A view (``x[0]``, ``x.T``, ``y = x``) has its operand's roots; a
conditional expression or an ``if`` that merges two values has the roots of
both; a loop-carried value has the roots of its value before the loop and of
what the body assigns it from (a zero-trip loop leaves the first, a second
iteration sees the second); ``for row in X`` makes ``row`` a view of ``X``.
An entry read by key from a dict (``d['k']``, ``d.get('k')``) has the root
``("in", r)`` for each root ``r`` of the dict: it shares what is inside the
dict, not the dict, so rebinding a key (``d['k'] = v``) leaves it alone
while a write into the entry's array still reaches the dict (:func:`touched`).
A write is refused (:mod:`diffc.frontend.assign`) when another name that is
read later may share a root. :class:`Aliases` holds the roots of every
variable of a function and the helpers inlined into it.
"""

from __future__ import annotations

import ast

from ..ir import Var
from ..ops.catalogue import VIEW_OPS  # ops whose result shares memory with their first input

_VIEW_METHODS = {"reshape", "ravel", "transpose", "squeeze", "view", "T", "asarray", "real", "flat"}


class Aliases:
    """The roots of every variable lowered so far (shared by a function and the helpers inlined into it)."""

    def __init__(self):
        self.roots_of: dict[int, frozenset] = {}  # id(var) -> ids of the arrays it may share memory with

    def roots(self, atom) -> frozenset:
        if not isinstance(atom, Var):
            return frozenset()
        return self.roots_of.get(id(atom), frozenset((id(atom),)))

    def set(self, out: Var, roots) -> None:
        self.roots_of[id(out)] = frozenset(roots)

    def shares(self, out: Var, *sources) -> None:
        """``out`` may share memory with any of ``sources``."""
        self.roots_of[id(out)] = frozenset().union(*(self.roots(s) for s in sources))

    def note(self, op: str, ins, out: Var) -> None:
        """Record what the result of one equation may share."""
        first = ins[0] if ins else None
        if op in VIEW_OPS and op != "field" and isinstance(first, Var):  # a field: see part_of
            self.shares(out, first)
        elif op == "select":  # c = b if s else a: c is b or a
            self.shares(out, out, ins[1], ins[2])
        elif op in ("opaque", "list", "tuple", "make_struct"):  # a list or dict holds its items; a call may view
            self.shares(out, out, *ins)

    def part_of(self, out: Var, container: Var, key) -> None:
        """``out`` is item ``key`` of the tuple a library call returned (``w, v = np.linalg.eigh(a)``): a
        write into it is seen through the tuple (its root), not through the tuple's other items."""
        self.roots_of[id(out)] = frozenset({id(out), ("item", id(container), key)})

    def item_of(self, out: Var, container, *others) -> None:
        """``out`` is an entry read by key from ``container`` (``d['k']``, ``d.get('k', default)``): it
        shares the memory inside the container (a root ``("in", r)``), not the container itself, so that
        rebinding a key (``d['k'] = v``) does not change it (see :func:`touched`)."""
        inside = {("in", r) for r in self.roots(container) if not isinstance(r, tuple)}
        self.roots_of[id(out)] = frozenset({id(out), *inside}).union(*(self.roots(o) for o in others))

    def by_loop(self, body: list, name: str, env: dict) -> frozenset:
        """Roots that ``name`` may share after an iteration of ``body``: those of every name read by an
        assignment of ``name`` in the body that may make a view (not arithmetic); ``env`` maps names to
        variables before the loop."""
        roots = frozenset()
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if not isinstance(node, ast.Assign):
                continue
            pairs = [(t, node.value) for t in node.targets]
            for target in node.targets:  # b, d = c, 0
                if isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)):
                    pairs += list(zip(target.elts, node.value.elts))
            for target, value in pairs:
                if isinstance(target, ast.Name) and target.id == name and _may_view(value):
                    for read in (n.id for n in ast.walk(value) if isinstance(n, ast.Name)):
                        if isinstance(env.get(read), Var):
                            roots |= self.roots(env[read])
        return roots


def _may_view(node: ast.expr) -> bool:
    if isinstance(node, (ast.Name, ast.Subscript, ast.IfExp)):
        return True
    if isinstance(node, ast.Attribute):
        return node.attr in _VIEW_METHODS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in _VIEW_METHODS or _may_view(node.func.value)
    return False


def touched(roots: frozenset, key_write: bool) -> frozenset:
    """The roots a value must not share for a write into a value with ``roots`` to go unseen. Writing into
    an array changes what is inside it and what holds it; rebinding a key of a dict (``key_write``)
    changes only the dict (and what holds it): an entry read from it before is still the old object."""
    if key_write:
        return frozenset(r for r in roots if not isinstance(r, tuple))
    return roots | {("in", r) for r in roots if not isinstance(r, tuple)} | {r[1] for r in roots
                                                                            if isinstance(r, tuple)}

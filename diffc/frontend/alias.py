"""May-alias analysis for in-place writes (``x[i] = v``, ``x += v`` on an array).

The IR treats an in-place write as a new value of the name written; that is
Python's meaning only when no other live name shares the array's memory.
Each variable has a set of *roots*: the arrays whose memory it may share.
A view (``x[0]``, ``x.T``, ``y = x``) has its operand's roots; a
conditional expression or an ``if`` that merges two values has the roots of
both; a loop-carried value has the roots of its value before the loop and of
what the body assigns it from (a zero-trip loop leaves the first, a second
iteration sees the second); ``for row in X`` makes ``row`` a view of ``X``.
A write is refused when another name that is read later may share a root.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Var

# Ops whose result shares memory with their first input.
VIEW_OPS = {"copy", "getitem", "setitem", "zero_at", "numpy.transpose", "numpy.reshape", "numpy.ravel",
            "numpy.expand_dims", "numpy.squeeze", "numpy.asarray"}
_VIEW_METHODS = {"reshape", "ravel", "transpose", "squeeze", "view", "T", "asarray", "real", "flat"}


class AliasMixin:
    """The aliasing part of :class:`diffc.frontend.Frontend` (``self.alias``: id -> frozenset of roots)."""

    def roots(self, atom) -> frozenset:
        if not isinstance(atom, Var):
            return frozenset()
        return self.alias.get(id(atom), frozenset((id(atom),)))

    def shares(self, out: Var, *sources) -> None:
        """``out`` may share memory with any of ``sources``."""
        self.alias[id(out)] = frozenset().union(*(self.roots(s) for s in sources))

    def note_aliases(self, op: str, ins, out: Var) -> None:
        first = ins[0] if ins else None
        if op in VIEW_OPS and isinstance(first, Var):
            self.shares(out, first)
        elif op == "select":  # c = b if s else a: c is b or a
            self.shares(out, out, ins[1], ins[2])
        elif op in ("opaque", "list", "tuple", "make_struct"):  # a list or dict holds its items; a call may view
            self.shares(out, out, *ins)

    def aliased_by_loop(self, body: list, name: str) -> frozenset:
        """Roots that ``name`` may share after an iteration of ``body``: those of every name read by an
        assignment of ``name`` in the body that may make a view (not arithmetic)."""
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
                        if isinstance(self.env.get(read), Var):
                            roots |= self.roots(self.env[read])
        return roots

    def check_mutation(self, target: ast.expr, stmt: ast.stmt):
        if not isinstance(target, ast.Name):
            self.fail(UnsupportedError, target, "only a named array can be changed in place",
                      "assign the array to a name first")
        var = self.env.get(target.id)
        if not isinstance(var, Var):
            return
        if id(var) in self.seqs:
            self.fail(UnsupportedError, stmt, f"'{target.id}' is a list or tuple: changing it in place is not "
                      "supported", f"build a new one, or make it an array first: '{target.id} = "
                      f"np.array({target.id})'")
        mine = self.roots(var)
        if mine & self.borrowed or id(var) in self.borrowed:
            self.fail(UnsupportedError, stmt, f"'{target.id}' is the caller's array: changing it in place inside "
                      f"'{self.fdef.name}' is not supported", f"copy it first, for example "
                      f"'{target.id} = {target.id}.copy()'")
        for name, other in self.env.items():
            # Inside a loop or a branch, a read anywhere in the same statement may come after the write;
            # a plain assignment reads its right side and index before it writes.
            within = name in self.read_within and stmt is not getattr(self, "top_statement", None)
            later = self.last_read.get(name, -1) > self.stmt_index or within
            if name != target.id and isinstance(other, Var) and later and self.roots(other) & mine:
                self.fail(UnsupportedError, stmt,
                          f"'{target.id}' is changed in place while '{name}' still refers to the same array",
                          f"copy it first, for example '{target.id} = {target.id}.copy()'")


    def check_dict_write(self, name: str, stmt: ast.stmt):
        """``d['k'] = v`` makes a new dict in the IR: refused while another name read later refers to ``d``."""
        var = self.env[name]
        for other_name, other in self.env.items():
            within = other_name in self.read_within and stmt is not getattr(self, "top_statement", None)
            later = self.last_read.get(other_name, -1) > self.stmt_index or within
            if other_name != name and isinstance(other, Var) and later and id(var) in self.roots(other):
                self.fail(UnsupportedError, stmt, f"'{name}' is changed in place while '{other_name}' still refers "
                          "to the same dict", f"build '{other_name}' after the last change of '{name}'")


def _may_view(node: ast.expr) -> bool:
    if isinstance(node, (ast.Name, ast.Subscript, ast.IfExp)):
        return True
    if isinstance(node, ast.Attribute):
        return node.attr in _VIEW_METHODS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in _VIEW_METHODS or _may_view(node.func.value)
    return False

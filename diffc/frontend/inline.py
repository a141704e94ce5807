"""A helper's body lowered in place of its call: its parameters bound to the caller's atoms, its
equations written into the caller's. Shared by ordinary calls (:mod:`diffc.frontend.calls`) and calls of
functions with rules of their own (:mod:`diffc.frontend.custom_calls`), which import it, not each other.
"""

from __future__ import annotations

import ast


def body(lo, fdef: ast.FunctionDef, source, scope, values: dict):
    """The body of ``fdef`` lowered in place, its parameters bound to ``values``; the atom it returns."""
    sub = lo.nested(fdef, scope, source)
    sub.env = dict(values)
    sub.borrowed = set().union(*(lo.aliases.roots(v) for v in values.values()))
    return sub.body()

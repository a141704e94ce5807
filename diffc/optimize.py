"""Cleanup passes between the reverse transform and the emitter.

They decide which values get a line of their own. A value gets a line (is
*named*) when the user named it, when it is the function's output, when it
is a parameter's gradient, when it is the gradient of a named value, or
when it is used more than once. Everything else is a single-use temporary
and is written inline in the expression that uses it. Copies of unnamed
gradients are propagated away, so no line is a copy of a copy, and values
nothing needs are dropped. All passes are deterministic (list order only).
"""

from __future__ import annotations

from .ir import Eqn, Var


def dce(eqns: list[Eqn], roots: list) -> list[Eqn]:
    """Keep only the equations whose results the roots need."""
    needed = {id(r) for r in roots if isinstance(r, Var)}
    kept = []
    for eqn in reversed(eqns):
        if id(eqn.out) in needed:
            kept.append(eqn)
            needed.update(id(a) for a in eqn.ins if isinstance(a, Var))
    return kept[::-1]


def use_counts(eqns: list[Eqn], roots: list) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in [*(a for e in eqns for a in e.ins), *roots]:
        if isinstance(a, Var):
            counts[id(a)] = counts.get(id(a), 0) + 1
    return counts


def propagate_copies(eqns: list[Eqn], keep) -> list[Eqn]:
    """Remove ``out = copy(a)`` where ``out`` is not kept, using ``a`` in its place."""
    replace: dict[int, object] = {}
    result = []
    for eqn in eqns:
        if replace:
            eqn.ins = tuple(replace.get(id(a), a) if isinstance(a, Var) else a for a in eqn.ins)
        if eqn.op == "copy" and not keep(eqn.out):
            replace[id(eqn.out)] = eqn.ins[0]
        else:
            result.append(eqn)
    return result


def plan(forward: list[Eqn], backward: list[Eqn], params: list[Var], roots: list):
    """The equations to emit, and the ids of the variables written inline."""
    eqns = dce(forward + backward, roots)
    counts = use_counts(eqns, roots)
    root_ids = {id(r) for r in roots if isinstance(r, Var)}
    named = {id(p) for p in params} | root_ids
    for eqn in eqns:
        v = eqn.out
        if eqn.op in ("setitem", "scatter_add", "zero_at"):
            named.add(id(v))  # written as statements of their own
        elif v.primal is None:
            if v.hint is not None or counts.get(id(v), 0) > 1 or id(v) in root_ids:
                named.add(id(v))
        elif id(v.primal) in named:
            named.add(id(v))
    eqns = propagate_copies(eqns, lambda v: id(v) in named)
    counts = use_counts(eqns, roots)
    inline = {id(e.out) for e in eqns if id(e.out) not in named and counts.get(id(e.out), 0) == 1}
    return eqns, inline

"""Reverse mode: from forward equations to backward equations.

Visits the forward equations in reverse order, starting from
``grad_out = 1.0``. For each equation it asks the rule table for the
gradient flowing into each input (downstream = upstream x local). A value
used more than once receives several contributions, which are added once,
right after the last of them arrives (the copy gate). Gradients that are
identically zero stay symbolic (absent) and produce no code; only inputs
that depend on the parameters asked for (``wrt``) get gradients at all.
"""

from __future__ import annotations

from .ir import Builder, Const, Eqn, Function, Var
from .rules import NONDIFF, vjp


def active_vars(fn: Function, wrt: list[Var]) -> set[int]:
    """Ids of the variables whose value depends on a parameter in ``wrt``."""
    active = {id(v) for v in wrt}
    for eqn in fn.eqns:
        if eqn.op not in NONDIFF and any(id(a) in active for a in eqn.ins if isinstance(a, Var)):
            active.add(id(eqn.out))
    return active


def live_forward(fn: Function) -> list[Eqn]:
    """The forward equations the output depends on (the user's dead code dropped)."""
    needed = {id(fn.out)}
    kept = []
    for eqn in reversed(fn.eqns):
        if id(eqn.out) in needed:
            kept.append(eqn)
            needed.update(id(a) for a in eqn.ins if isinstance(a, Var))
    return kept[::-1]


def backward(fn: Function, forward: list[Eqn], wrt: list[Var]) -> tuple[list[Eqn], list[Var]]:
    """Backward equations and, for each parameter in ``wrt``, its gradient variable."""
    active = active_vars(fn, wrt)
    eqns: list[Eqn] = []
    grads: dict[int, Var] = {}
    contributions: dict[int, list] = {}
    made_here: set[int] = set()  # backward temporaries not yet given a role

    def materialize(v: Var, builder: Builder) -> None:
        parts = contributions.pop(id(v), [])
        if not parts:
            return
        first = parts[0]
        if len(parts) == 1 and isinstance(first, Var) and id(first) in made_here:
            made_here.discard(id(first))
            first.primal = v  # the rule's result is this variable's gradient
            grads[id(v)] = first
            return
        out = Var(primal=v)
        if len(parts) == 1:
            builder.emit("copy", first, out=out)
        else:
            total = first
            for part in parts[1:-1]:
                total = builder.emit("add", total, part, out=Var())
            builder.emit("add", total, parts[-1], out=out)
        grads[id(v)] = out

    def track(builder_eqns_start: int) -> None:
        made_here.update(id(e.out) for e in eqns[builder_eqns_start:])

    first_use: dict[int, int] = {}
    for index, eqn in enumerate(forward):
        for a in eqn.ins:
            if isinstance(a, Var):
                first_use.setdefault(id(a), index)

    if isinstance(fn.out, Var) and id(fn.out) in active:
        contributions[id(fn.out)] = [Const(1.0)]
        materialize(fn.out, Builder(eqns, fn.lineno))

    for index in range(len(forward) - 1, -1, -1):
        eqn = forward[index]
        b = Builder(eqns, eqn.lineno, eqn.col, origin=eqn)
        g = grads.get(id(eqn.out))
        if g is not None and eqn.op not in NONDIFF:
            for i, a in enumerate(eqn.ins):
                if isinstance(a, Var) and id(a) in active:
                    start = len(eqns)
                    part = vjp(b, eqn.op, g, eqn.out, eqn.ins, i)
                    track(start)
                    if part is not None:
                        contributions.setdefault(id(a), []).append(part)
        seen = set()
        for a in eqn.ins:
            if isinstance(a, Var) and first_use[id(a)] == index and id(a) not in seen:
                seen.add(id(a))
                materialize(a, b)

    result = []
    tail = Builder(eqns, fn.lineno)
    for p in wrt:
        materialize(p, tail)
        if id(p) not in grads:
            # Not reached by the output: a zero of its type, written once.
            grads[id(p)] = Var(primal=p)
            tail.emit("copy", Const(0.0), out=grads[id(p)])
        result.append(grads[id(p)])
    return eqns, result

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
from .rules import NONDIFF, NeedsShapes, vjp
from .rules_numpy import BROADCASTING, unbroadcast


class ReverseError(Exception):
    """A rule could not be applied; carries the forward equation for locating it."""

    def __init__(self, eqn: Eqn, message: str, hint: str, needs_shapes: bool = False):
        super().__init__(message)
        self.eqn, self.message, self.hint, self.needs_shapes = eqn, message, hint, needs_shapes


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


def _preserves_shape(eqn: Eqn, shapes) -> bool:
    """True if every array input of ``eqn`` provably has its output's shape."""
    out = shapes.get(eqn.out) if shapes is not None else None
    return out is not None and all(not isinstance(a, Var) or shapes.get(a) == out for a in eqn.ins)


def backward(fn: Function, forward: list[Eqn], wrt: list[Var], *, numpy: bool = False,
             shapes=None, record: dict | None = None) -> tuple[list[Eqn], list[Var]]:
    """Backward equations and, for each parameter in ``wrt``, its gradient variable.

    A gradient that comes out of one branch of ``np.where(c, a, b)`` is zero
    where the branch was not taken. Upstream of it, through ops that keep
    the shape, each local gradient is masked the same way, so an inf or NaN
    in the branch not taken (``np.where(x > 0, np.sqrt(x), 0)``) cannot leak
    into the result.

    ``record``, if given, receives the gradient sent along each edge of the
    graph: ``record[(id(eqn), i)]`` is what input ``i`` of ``eqn`` received.
    """
    active = active_vars(fn, wrt)
    masks: dict[int, tuple] = {}  # id(gradient var) -> (condition, taken when true)
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
            if id(first) in masks:
                masks[id(out)] = masks[id(first)]
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
        materialize(fn.out, Builder(eqns, fn.lineno, numpy=numpy, shapes=shapes))

    for index in range(len(forward) - 1, -1, -1):
        eqn = forward[index]
        b = Builder(eqns, eqn.lineno, eqn.col, origin=eqn, numpy=numpy, shapes=shapes)
        g = grads.get(id(eqn.out))
        if g is not None and eqn.op in ("tuple", "list"):
            raise ReverseError(eqn, "a tuple of values that depend on the parameters cannot be differentiated here",
                               "use the values directly instead of packing them in a tuple")
        if g is not None and eqn.op not in NONDIFF:
            for i, a in enumerate(eqn.ins):
                if isinstance(a, Var) and id(a) in active:
                    start = len(eqns)
                    try:
                        part = vjp(b, eqn, g, i)
                        if part is not None and eqn.op in BROADCASTING:
                            part = unbroadcast(b, part, a, shapes.get(eqn.out) if shapes is not None else None)
                        same_shape = shapes is not None and shapes.get(a) is not None and \
                            shapes.get(a) == shapes.get(eqn.out)
                        if part is not None and eqn.op == "numpy.where" and same_shape:
                            masks[id(part)] = (eqn.ins[0], i == 1)
                        elif part is not None and id(g) in masks and _preserves_shape(eqn, shapes):
                            cond, taken = masks[id(g)]
                            part = b.call("numpy.where", cond, part, Const(0.0)) if taken else \
                                b.call("numpy.where", cond, Const(0.0), part)
                            masks[id(part)] = (cond, taken)
                    except NeedsShapes as exc:
                        raise ReverseError(eqn, str(exc), "give the parameters' shapes (CLI: --shape NAME=N,D; "
                                                          "the decorator knows them from the call)",
                                           needs_shapes=True) from None
                    track(start)
                    if part is not None:
                        contributions.setdefault(id(a), []).append(part)
                        if record is not None:
                            record[(id(eqn), i)] = part
        seen = set()
        for a in eqn.ins:
            if isinstance(a, Var) and first_use[id(a)] == index and id(a) not in seen:
                seen.add(id(a))
                materialize(a, b)

    if record is not None:
        record["grads"] = grads
    result = []
    tail = Builder(eqns, fn.lineno, numpy=numpy, shapes=shapes)
    for p in wrt:
        materialize(p, tail)
        if id(p) not in grads:
            # Not reached by the output: a zero of its type, written once.
            grads[id(p)] = Var(primal=p)
            scalar = shapes is not None and shapes.get(p) == ()
            if numpy and not scalar:
                tail.emit("numpy.zeros_like", p, out=grads[id(p)])
            else:
                tail.emit("copy", Const(0.0), out=grads[id(p)])
        result.append(grads[id(p)])
    return eqns, result

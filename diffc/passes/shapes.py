"""Shape inference: the shape (and, where known, the dtype kind) of every variable of a function.

Each equation's shape comes from its op's shape rule in the catalogue (:mod:`diffc.ops.catalogue`);
branches join (a shape both sides agree on, else unknown) and loops iterate until the carried
shapes settle (or become unknown). What a math function or ``range`` reads is a number, so an
unknown parameter shape seen there is ``()``: inference then runs once more with that. The output
of a gradient is a number (the generated code checks it before its backward pass), and so is each
operand of an elementwise or broadcasting operation whose result is a number (:func:`scalar_output`).
"""

from __future__ import annotations

from ..ir import Const, Eqn, Function, If, each_item, walk
from ..ops import catalogue as C
from ..ops.shapes import Opaque, Shapes, known


def infer(fn: Function, param_shapes: dict[str, tuple | None], param_kinds: dict[str, str] | None = None,
          numbers: frozenset = frozenset()) -> Shapes:
    """Shapes (and, where known, dtype kinds) of every variable of ``fn`` given its parameters' (``numbers``:
    the ids of variables known to be numbers whatever their rules say)."""
    S = Shapes()
    S.numbers = set(numbers)
    S.fields = {k: v for k, v in param_shapes.items() if "[" in k}
    for p in fn.params:
        S.set(p, () if id(p) in S.numbers else param_shapes.get(p.hint))
        if (param_kinds or {}).get(p.hint):
            S.kinds[id(p)] = param_kinds[p.hint]
    infer_block(S, fn.eqns)
    # What goes into a math function or a range() is a number: an unknown parameter shape seen
    # there is (), and everything is inferred again with that.
    scalar = {S.get(a) for a in _scalar_uses(fn.eqns) if isinstance(S.get(a), Opaque)}
    if scalar:
        again = {**param_shapes, **{p.hint: () if S.get(p) in scalar else param_shapes.get(p.hint)
                                    for p in fn.params}}
        again.update({k: () for k, v in S.fields.items() if v in scalar})
        for eqn in _fields(fn.eqns):
            if S.get(eqn.out) in scalar:
                again[f"{eqn.ins[0].hint}[{eqn.params['key']!r}]"] = ()
        return infer(fn, again, param_kinds, numbers)
    return S


def scalar_output(fn: Function, param_shapes: dict, param_kinds: dict | None, S: Shapes) -> Shapes:
    """Shapes again, knowing that ``fn.out`` is a number: a gradient's generated code checks that before
    its backward pass runs, so its backward lines may rely on it. A broadcasting or elementwise operation
    (``a + b``, ``np.exp(a)``) whose result is a number has numbers for operands (broadcasting never
    lowers a rank), so in ``nll + 0.5 * lam * np.dot(w, w)`` every term is a number and the backward pass
    needs no ``_unbroadcast``. Only top-level equations are followed (not into branches or loops)."""
    numbers: set[int] = set()
    while True:
        found = _numbers_behind(fn, S) - numbers
        if not found:
            return S
        numbers |= found
        try:
            S = infer(fn, param_shapes, param_kinds, frozenset(numbers))
        except Exception:  # noqa: BLE001 - numbers a rule cannot take (np.transpose(a, (2, 0, 1)) of a
            return S  # number): such a function never returns a number; its run-time check says so


def _numbers_behind(fn: Function, S: Shapes) -> set[int]:
    defs = {id(item.out): item for item in fn.eqns if isinstance(item, Eqn)}
    found, todo, seen = set(), [fn.out], set()
    while todo:
        v = todo.pop()
        if isinstance(v, Const) or id(v) in seen or known(S.get(v)) not in ((), None):
            continue
        seen.add(id(v))
        if known(S.get(v)) is None:
            found.add(id(v))
        eqn = defs.get(id(v))
        op = C.get(eqn.op) if eqn is not None else None
        if op is not None and (op.broadcasts or op.elementwise) and op.name != "select":
            todo.extend(eqn.ins)
    return found


def array_ids(items: list, shapes: Shapes | None, rank: int = 2) -> set[int]:
    """The ids of the variables ``items`` define that are arrays of known rank ``rank`` or more (inferred on
    a copy of ``shapes``, backward items included); empty without shapes or where a rule cannot tell."""
    import copy

    if shapes is None:
        return set()
    S = copy.deepcopy(shapes)
    try:
        infer_block(S, items)
    except Exception:  # a shape rule that cannot read a backward op: release nothing
        return set()
    return {id(v) for item in each_item(items) for v in item.defs()
            if isinstance(S.get(v), tuple) and len(S.get(v)) >= rank}


def _fields(items):
    return [e for e in walk(items) if e.op == "field"]


def _scalar_uses(items):
    for item in items:
        if isinstance(item, Eqn):
            if item.op in C.SCALAR_ONLY:
                yield from item.ins
        elif isinstance(item, If):
            yield from _scalar_uses(item.then)
            yield from _scalar_uses(item.orelse)
        else:
            yield from item.args
            yield from _scalar_uses(item.cond)
            yield from _scalar_uses(item.body)


# The run-time helpers the backward items call (diffc/backends/runtime*.py) are not ops of the catalogue:
# the shapes of those whose result has the shape of one argument.
_HELPERS = {"_first_mask": 0, "_first_mask_axes": 0, "_prod_others": 0, "_prod_others_axes": 0, "_unbroadcast": 1}


def _nothing(atom) -> bool:
    return isinstance(atom, Const) and atom.value is None


def infer_block(S: Shapes, items) -> None:
    """Shapes of every variable ``items`` define, given those of what they read (already in ``S``)."""
    for item in items:
        if isinstance(item, If):
            infer_block(S, item.then)
            infer_block(S, item.orelse)
            for phi in item.phis:
                a, b = S.get(phi.then), S.get(phi.orelse)
                if _nothing(phi.then) or _nothing(phi.orelse):  # a branch's value (diffc.passes.expose)
                    a = b = b if _nothing(phi.then) else a
                S.set(phi.out, a if a == b else None)
                kind = S.kind(phi.then)
                if kind is not None and kind == S.kind(phi.orelse):
                    S.kinds[id(phi.out)] = kind
            continue
        if not isinstance(item, Eqn):  # a loop: carried values keep their shape, or it is unknown
            for c in item.carried:
                S.set(c.start, S.get(c.init))
            if item.target is not None:
                S.set(item.target, ())
                S.kinds[id(item.target)] = "i"
            for _ in range(2):
                infer_block(S, item.cond)
                infer_block(S, item.body)
                changed = False
                for c in item.carried:
                    if S.get(c.end) != S.get(c.start):
                        S.set(c.start, None)
                        changed = True
                if not changed:
                    break
            for c in item.carried:
                S.set(c.final, S.get(c.start))
            continue
        eqn = item
        if id(eqn.out) in S.numbers:
            S.set(eqn.out, ())
        elif eqn.op in _HELPERS:
            S.set(eqn.out, S.get(eqn.ins[_HELPERS[eqn.op]]))
        else:
            S.set(eqn.out, C.shape_rule(eqn.op)(S, eqn, [S.get(a) for a in eqn.ins]))
        first = eqn.ins[0] if eqn.ins else None
        if eqn.op == "shape" and known(S.get(first)) is not None:
            S.shape_values[id(eqn.out)] = S.get(first)
        elif eqn.op == "getitem" and id(first) in S.shape_values and eqn.params["index"][0] == "atom":
            index = eqn.ins[eqn.params["index"][1]]
            dims = S.shape_values[id(first)]
            if isinstance(index, Const) and type(index.value) is int and -len(dims) <= index.value < len(dims):
                S.dim_values[id(eqn.out)] = dims[index.value]
        elif eqn.op == "arange" and len(eqn.ins) == 1:
            S.set(eqn.out, (S.dim_values.get(id(first)),))
        if eqn.op in C.INT_OPS:
            S.kinds[id(eqn.out)] = "i"
        elif eqn.op in C.BOOL_OPS or eqn.op in ("bitand", "bitor") and all(S.kind(a) == "b" for a in eqn.ins):
            S.kinds[id(eqn.out)] = "b"
        elif eqn.op == "list" and eqn.ins and all(S.kind(a) == "i" for a in eqn.ins):
            S.kinds[id(eqn.out)] = "i"
        elif eqn.op in ("copy", "getitem", "setitem", "dtype") and S.kind(eqn.ins[0]):  # x.dtype: x's kind
            S.kinds[id(eqn.out)] = S.kind(eqn.ins[0])
        elif eqn.op in C.INT_KEEPING and eqn.ins and all(S.kind(a) in ("i", "b") for a in eqn.ins):
            S.kinds[id(eqn.out)] = "i"  # integers in, integers out: its gradient is built as floats



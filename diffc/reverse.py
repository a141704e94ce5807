"""Reverse mode: from forward items to backward items.

Visits a block's items in reverse order, starting from ``grad_out = 1.0``.
For an equation it asks the rule table for the gradient flowing into each
input (downstream = upstream x local). A value used more than once receives
several contributions, added once, right after the last arrives (the copy
gate). Gradients that are identically zero stay symbolic (absent) and make
no code; only values that depend on the parameters asked for (``wrt``) get
gradients at all.

Control flow mirrors the forward code. An ``if`` becomes an ``if`` on the
same recorded condition, each branch sending its gradients out through a
phi. A loop becomes a loop over the same iterations in reverse: every value
the backward body needs that the forward loop overwrites is pushed onto a
list (a stack) where it is made, and popped at the start of the matching
backward block; the gradients of loop-carried values, and sums for values
from outside the loop, are carried through the backward loop.

A gradient that comes out of one branch of ``np.where(c, a, b)`` is zero
where the branch was not taken; upstream of it, through ops that keep the
shape, each local gradient is masked the same way, so an inf or NaN in the
branch not taken (``np.where(x > 0, np.sqrt(x), 0)``) cannot leak.
"""

from __future__ import annotations

from .ir import Builder, Carry, Const, Eqn, Function, If, Loop, Phi, Var, item_defs, item_reads
from .rules import NONDIFF, NeedsShapes, vjp
from .rules_numpy import BROADCASTING, unbroadcast


class FieldPart:
    """A gradient for one part (``params["W1"]``) of a container parameter."""

    __slots__ = ("key", "grad")

    def __init__(self, key, grad):
        self.key, self.grad = key, grad


def _split(parts):
    """(plain parts, {key: parts of that field}) in first-seen order."""
    plain, fields = [], {}
    for part in parts or []:
        if isinstance(part, FieldPart):
            fields.setdefault(part.key, []).append(part.grad)
        else:
            plain.append(part)
    return plain, fields


class ReverseError(Exception):
    """A rule could not be applied; carries the forward equation for locating it."""

    def __init__(self, eqn: Eqn, message: str, hint: str, needs_shapes: bool = False):
        super().__init__(message)
        self.eqn, self.message, self.hint, self.needs_shapes = eqn, message, hint, needs_shapes


def active_vars(fn: Function, wrt: list[Var]) -> set[int]:
    """Ids of the variables whose value depends on a parameter in ``wrt``."""
    active = {id(v) for v in wrt}

    def block(items):
        for item in items:
            if isinstance(item, Eqn):
                if item.op not in NONDIFF and any(id(a) in active for a in item.ins if isinstance(a, Var)):
                    active.add(id(item.out))
            elif isinstance(item, If):
                block(item.then)
                block(item.orelse)
                for phi in item.phis:
                    if id(phi.then) in active or id(phi.orelse) in active:
                        active.add(id(phi.out))
            else:
                while True:  # a loop-carried value may become active in a later iteration
                    before = len(active)
                    for c in item.carried:
                        if id(c.init) in active or id(c.end) in active:
                            active.update((id(c.start), id(c.final)))
                    block(item.cond)
                    block(item.body)
                    if len(active) == before:
                        break

    block(fn.eqns)
    return active


def live_forward(fn: Function) -> list:
    """The forward items the output depends on (the user's dead code dropped)."""

    def block(items, needed: set) -> list:
        kept = []
        for item in reversed(items):
            if isinstance(item, Eqn):
                if id(item.out) in needed:
                    kept.append(item)
                    needed.update(id(a) for a in item.ins if isinstance(a, Var))
            elif isinstance(item, If):
                item.phis = [p for p in item.phis if id(p.out) in needed]
                if item.phis:
                    item.then = block(item.then, {id(p.then) for p in item.phis})
                    item.orelse = block(item.orelse, {id(p.orelse) for p in item.phis})
                    kept.append(item)
                    needed.update(id(a) for a in item_reads(item) if isinstance(a, Var))
            else:
                from .optimize import _live_reads

                inner = {id(c.end) for c in item.carried if id(c.final) in needed} | {id(item.test)}
                while True:  # what the kept updates read may need other carried values
                    reads = _live_reads([*item.cond, *item.body], set(inner))
                    more = {id(c.end) for c in item.carried if id(c.start) in reads} - inner
                    if not more:
                        break
                    inner |= more
                if inner - {id(item.test)}:
                    item.carried = [c for c in item.carried if id(c.end) in inner]
                    item.cond = block(item.cond, {id(item.test)})
                    item.body = block(item.body, {id(c.end) for c in item.carried})
                    kept.append(item)
                    needed.update(id(a) for a in item_reads(item) if isinstance(a, Var))
        return kept[::-1]

    fn.eqns = block(fn.eqns, {id(fn.out)})
    return fn.eqns


def _defs_deep(items, into: set):
    for item in items:
        into.update(id(v) for v in item_defs(item))
        if isinstance(item, If):
            _defs_deep(item.then, into)
            _defs_deep(item.orelse, into)
        elif isinstance(item, Loop):
            into.update(id(c.start) for c in item.carried)
            if item.target is not None:
                into.add(id(item.target))
            _defs_deep(item.cond, into)
            _defs_deep(item.body, into)
    return into


def _substitute(items, subst: dict):
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
            _substitute(item.then, subst)
            _substitute(item.orelse, subst)
        else:
            item.args = tuple(s(a) for a in item.args)
            item.test = s(item.test)
            for c in item.carried:
                c.init, c.end = s(c.init), s(c.end)
            _substitute(item.cond, subst)
            _substitute(item.body, subst)


def _preserves_shape(eqn: Eqn, shapes) -> bool:
    """True if every array input of ``eqn`` provably has its output's shape."""
    out = shapes.get(eqn.out) if shapes is not None else None
    return out is not None and all(not isinstance(a, Var) or shapes.get(a) == out for a in eqn.ins)


class _Reverse:
    def __init__(self, fn, wrt, numpy, shapes, record):
        self.fn, self.numpy, self.shapes, self.record = fn, numpy, shapes, record
        self.active = active_vars(fn, wrt)
        self.grads: dict[int, Var] = {}
        self.vars: dict[int, Var] = {}
        self.masks: dict[int, tuple] = {}  # id(gradient var) -> (condition, taken when true)
        self.made_here: set[int] = set()  # backward temporaries not yet given a role
        self.backward_of: dict[int, list] = {}  # id(forward block) -> its backward block
        self.where: dict[int, tuple] = {}  # id(var) -> (forward block, item) that defines it
        self.stacks: list[Eqn] = []  # the lists that loops push onto, made at the start
        self._index(fn.eqns)
        from .optimize import groups

        self.same_name = groups(fn.eqns)  # values an if or a loop writes under one name

    def _index(self, items):
        for item in items:
            for v in item_defs(item):
                self.where[id(v)] = (items, item)
            if isinstance(item, If):
                self._index(item.then)
                self._index(item.orelse)
            elif isinstance(item, Loop):
                for v in [*(c.start for c in item.carried), *([item.target] if item.target else [])]:
                    self.where[id(v)] = (item.body, None)  # made by the loop header
                self._index(item.cond)
                self._index(item.body)

    def builder(self, items, origin=None):
        return Builder(items, getattr(origin, "lineno", None), getattr(origin, "col", None),
                       origin=origin if isinstance(origin, Eqn) else None, numpy=self.numpy, shapes=self.shapes)

    def zero(self, items, like: Var):
        scalar = self.shapes is None or self.shapes.get(like) == ()
        if not self.numpy or scalar:
            return Const(0.0)
        return self.builder(items).emit("numpy.zeros_like", like)

    def add(self, v, part):
        self.vars[id(v)] = v
        return part

    def total(self, items, parts, like: Var):
        """The sum of ``parts`` as one atom, written at the end of ``items`` (zero if there are none)."""
        if not parts:
            return self.zero(items, like)
        b = self.builder(items)
        total = parts[0]
        for part in parts[1:]:
            total = b.emit("add", total, part, out=Var(primal=like))
        return total

    # -- blocks -----------------------------------------------------------------
    def block(self, items, seeds: dict, params=(), sums: dict | None = None, direct=()) -> tuple[list, dict]:
        """Backward items for ``items`` and the contributions it sends to values defined outside it.

        ``params`` are treated as defined before the block's first item (the function's parameters).
        ``sums`` (a loop body's) keeps a running sum per outside value instead: each contribution is
        added where it arises, ``sums[id(v)] = [first, latest]``, except for the ``direct`` ids (the
        loop's own carried values, whose contributions make their carried gradient).
        """
        bwd: list = []
        self.backward_of[id(items)] = bwd
        contributions = {k: list(v) for k, v in seeds.items()}
        defined = {id(v) for item in items for v in item_defs(item)} | {id(p) for p in params}

        class Contributions(dict):
            def setdefault(inner, key, default=None):  # noqa: N805
                if sums is None or key in defined or key in seeds or key in direct:
                    return dict.setdefault(inner, key, default)
                return _Adder(self, bwd, sums, key)

        contributions = Contributions(contributions)
        first_use: dict[int, int] = {}
        for index, item in enumerate(items):
            for a in item_reads(item):
                if isinstance(a, Var):
                    first_use.setdefault(id(a), index)

        def materialize(v, b):
            parts = contributions.pop(id(v), [])
            if not parts:
                return
            if any(isinstance(part, FieldPart) for part in parts):
                self.grads[id(v)] = self.assemble(v, parts[::-1], b)
                return
            first = parts[0]
            if len(parts) == 1 and isinstance(first, Var) and id(first) in self.made_here:
                self.made_here.discard(id(first))
                first.primal = v  # the rule's result is this variable's gradient
                self.grads[id(v)] = first
                return
            sibling = getattr(first, "primal", None)
            if len(parts) == 1 and sibling is not None and id(v) in self.same_name and \
                    self.same_name.get(id(sibling)) == self.same_name[id(v)]:
                self.grads[id(v)] = first  # the same Python name: the same gradient, no copy
                return
            out = Var(primal=v)
            if len(parts) == 1:
                b.emit("copy", first, out=out)
                if id(first) in self.masks:
                    self.masks[id(out)] = self.masks[id(first)]
            else:
                total = first
                for part in parts[1:-1]:
                    total = b.emit("add", total, part, out=Var())
                b.emit("add", total, parts[-1], out=out)
            self.grads[id(v)] = out

        for index in range(len(items) - 1, -1, -1):
            item = items[index]
            b = self.builder(bwd, item)
            for v in item_defs(item):
                materialize(v, b)
            if isinstance(item, Eqn):
                self.eqn(item, b, contributions)
            elif isinstance(item, If):
                self.branch(item, bwd, contributions)
            else:
                self.loop(item, bwd, contributions)
            seen = set()
            for a in item_reads(item):
                if isinstance(a, Var) and id(a) in defined and first_use.get(id(a)) == index and id(a) not in seen:
                    seen.add(id(a))
                    materialize(a, b)
        for p in params:  # a parameter that no item reads (the function returns it as it is)
            materialize(p, self.builder(bwd))
        return bwd, {k: parts for k, parts in contributions.items() if k not in defined}

    def assemble(self, v, parts, b):
        """The gradient of a container parameter: its parts' gradients, in a dict or tuple like it."""
        _, fields = _split(parts)
        keys = list(fields)
        if all(type(k) is int for k in keys):
            keys = list(range(max(keys) + 1))
            kind = "tuple"
        else:
            kind = "dict"
        atoms = []
        for key in keys:
            if key in fields:
                atoms.append(self.total(b.eqns, fields[key], v))
            else:
                atoms.append(self.zero(b.eqns, b.emit("field", v, key=key)))
        return b.emit("make_struct", *atoms, out=Var(primal=v), keys=tuple(keys), kind=kind)

    def eqn(self, eqn: Eqn, b: Builder, contributions: dict):
        g = self.grads.get(id(eqn.out))
        if eqn.op == "field":
            container = eqn.ins[0]
            if g is not None and isinstance(container, Var) and id(container) in self.active:
                contributions.setdefault(id(container), []).append(self.add(container, FieldPart(eqn.params["key"], g)))
                if self.record is not None:
                    self.record[(id(eqn), 0)] = g
            return
        if g is None or eqn.op in NONDIFF:
            if g is not None and eqn.op in ("tuple", "list"):
                raise ReverseError(eqn, "a tuple of values that depend on the parameters cannot be "
                                        "differentiated here", "use the values directly instead of packing them")
            return
        shapes = self.shapes
        for i, a in enumerate(eqn.ins):
            if not (isinstance(a, Var) and id(a) in self.active):
                continue
            start = len(b.eqns)
            try:
                part = vjp(b, eqn, g, i)
                if part is not None and eqn.op in BROADCASTING:
                    part = unbroadcast(b, part, a, shapes.get(eqn.out) if shapes is not None else None)
                same_shape = shapes is not None and shapes.get(a) is not None and shapes.get(a) == shapes.get(eqn.out)
                if part is not None and eqn.op == "numpy.where" and same_shape:
                    self.masks[id(part)] = (eqn.ins[0], i == 1)
                elif part is not None and id(g) in self.masks and _preserves_shape(eqn, shapes):
                    cond, taken = self.masks[id(g)]
                    part = b.call("numpy.where", cond, part, Const(0.0)) if taken else \
                        b.call("numpy.where", cond, Const(0.0), part)
                    self.masks[id(part)] = (cond, taken)
            except NeedsShapes as exc:
                hint = "give the parameters' shapes (CLI: --shape NAME=N,D; the decorator knows them from the call)"
                raise ReverseError(eqn, str(exc), hint, needs_shapes=True) from None
            self.made_here.update(id(e.out) for e in b.eqns[start:] if isinstance(e, Eqn))
            if part is not None:
                contributions.setdefault(id(a), []).append(self.add(a, part))
                if self.record is not None:
                    self.record[(id(eqn), i)] = part

    # -- control flow -----------------------------------------------------------
    def branch(self, item: If, bwd: list, contributions: dict):
        seeds = ({}, {})
        for phi in item.phis:
            g = self.grads.get(id(phi.out))
            for side, atom in ((0, phi.then), (1, phi.orelse)):
                if g is not None and isinstance(atom, Var) and id(atom) in self.active:
                    seeds[side].setdefault(id(atom), []).append(self.add(atom, g))
        then_bwd, then_out = self.block(item.then, seeds[0])
        else_bwd, else_out = self.block(item.orelse, seeds[1])
        phis, sent = [], []
        for key in dict.fromkeys([*then_out, *else_out]):
            v = self.vars[key]
            then_plain, then_fields = _split(then_out.get(key))
            else_plain, else_fields = _split(else_out.get(key))
            for field in dict.fromkeys([*then_fields, *else_fields]):  # a container: field by field
                out = self.merge(phis, then_bwd, else_bwd, then_fields.get(field), else_fields.get(field), v)
                sent.append((v, FieldPart(field, out)))
            if then_plain or else_plain:
                sent.append((v, self.merge(phis, then_bwd, else_bwd, then_plain, else_plain, v)))
        if phis:
            bwd.append(If(item.cond, then_bwd, else_bwd, phis, item.lineno, item.col))
        for v, part in sent:  # after the if: a running sum adds them there
            contributions.setdefault(id(v), []).append(part)

    def merge(self, phis, then_bwd, else_bwd, then_parts, else_parts, v):
        a = _defined_in(then_bwd, self.total(then_bwd, then_parts, v))
        c = _defined_in(else_bwd, self.total(else_bwd, else_parts, v))
        out = Var(primal=v)
        self.made_here.add(id(out))
        phis.append(Phi(out, a, c))
        return out

    def loop(self, item: Loop, bwd: list, contributions: dict):
        carried = [c for c in item.carried if id(c.start) in self.active]
        if not carried and not any(id(a) in self.active for a in item_reads(item) if isinstance(a, Var)):
            return
        b = self.builder(bwd, item)
        seeds, starts = {}, {}
        for c in carried:
            g = self.grads.get(id(c.final)) or self.zero(bwd, c.final)
            start = Var(primal=c.end if isinstance(c.end, Var) else None)
            starts[id(c)] = (g, start)
            if isinstance(c.end, Var) and id(c.end) in self.active:
                seeds.setdefault(id(c.end), []).append(self.add(c.end, start))
        sums: dict = {}
        body, out = self.block(item.body, seeds, sums=sums, direct={id(c.start) for c in carried})
        back_carried, sent = [], []
        for c in carried:
            g, start = starts[id(c)]
            end = _defined_in(body, self.total(body, out.pop(id(c.start), None), c.start))
            final = Var(primal=c.init if isinstance(c.init, Var) else None)
            self.made_here.add(id(final))
            back_carried.append(Carry(g, start, end, final))
            if isinstance(c.init, Var) and id(c.init) in self.active:
                sent.append((c.init, final))
        for key, (start, end) in sums.items():  # values from outside the loop: their gradients add up
            key, field = key if isinstance(key, tuple) else (key, None)
            v = self.vars[key]
            final = Var(primal=v) if field is None else Var(label=("grad_", v, f"_{field}"))
            self.made_here.add(id(final))
            like = v if field is None else self.builder(bwd).emit("field", v, key=field)
            back_carried.append(Carry(self.zero(bwd, like), start, end, final))
            sent.append((v, final if field is None else FieldPart(field, final)))
        target = self.tape(item, body)
        if item.kind == "while":  # count the trips, to take as many backward
            start, final = Var("trips"), Var("trips")
            end = Builder(item.body).emit("add", start, Const(1), out=Var("trips"))
            item.carried.append(Carry(Const(0), start, end, final))
            args = (final,)
        else:
            args = item.args
        bwd.append(Loop("reverse", target, args, [], None, back_carried, body, item.lineno, item.col,
                        mirror=item))
        for v, final in sent:  # after the loop: a running sum adds them there
            contributions.setdefault(id(v), []).append(self.add(v, final))
        del b

    def tape(self, item: Loop, body: list):
        """Save what the backward body reads of the forward loop's values; returns the backward loop's target."""
        inner = _defs_deep([*item.cond, *item.body], set())
        inner.update(id(c.start) for c in item.carried)
        target = None
        if item.target is not None:
            inner.add(id(item.target))
        needed = []
        seen = set()
        for eqn_or_item in _all_items(body):
            for a in item_reads(eqn_or_item) if not isinstance(eqn_or_item, Eqn) else eqn_or_item.ins:
                if isinstance(a, Var) and id(a) in inner and id(a) not in seen:
                    seen.add(id(a))
                    needed.append(a)
        subst, pushes, pops = {}, [], []
        for v in needed:
            shadow = Var(v.hint, label=None if v.hint else ("", v))
            subst[id(v)] = shadow
            if v is item.target:
                target = shadow  # the backward loop's header gives it back
                continue
            stack = Var(label=("saved_", v))  # named after the value it keeps
            self.stacks.append(Eqn("new_stack", (), stack))
            block, defining = self.where[id(v)]
            pushes.append((block, defining, Eqn("push", (stack, v), Var())))
            pops.append((block, Eqn("pop", (stack,), shadow)))
        _substitute(body, subst)
        for block, defining, push in pushes:
            position = 0 if defining is None else next(i for i, it in enumerate(block) if it is defining) + 1
            block.insert(position, push)
        for block, pop in pops:
            self.backward_of.get(id(block), body).insert(0, pop)
        return target


class _Adder:
    """Stands in for a contribution list inside a loop body: appending adds to the running sum."""

    def __init__(self, reverse, bwd, sums, key):
        self.reverse, self.bwd, self.sums, self.key = reverse, bwd, sums, key

    def append(self, part):
        v = self.reverse.vars[self.key]
        key = self.key
        label = None
        if isinstance(part, FieldPart):  # one running sum per part of a container
            label = ("grad_", v, f"_{part.key}")
            key, part = (self.key, part.key), part.grad
        if key not in self.sums:
            start = Var(primal=None if label else v, label=label)
            self.sums[key] = [start, start]
        latest = self.sums[key][1]
        self.sums[key][1] = self.reverse.builder(self.bwd).emit(
            "add", latest, part, out=Var(primal=None if label else v, label=label))


def _all_items(items):
    for item in items:
        yield item
        if isinstance(item, If):
            yield from _all_items(item.then)
            yield from _all_items(item.orelse)
        elif isinstance(item, Loop):
            yield from _all_items(item.cond)
            yield from _all_items(item.body)


def _defined_in(block: list, atom, primal=None):
    """``atom`` as a variable assigned in ``block`` (phis and loops need one), copying if need be."""
    if isinstance(atom, Var) and any(atom is d for item in block for d in item_defs(item)):
        return atom
    out = Var(primal=primal or getattr(atom, "primal", None))
    block.append(Eqn("copy", (atom,), out))
    return out


def backward(fn: Function, forward: list, wrt: list[Var], *, numpy: bool = False,
             shapes=None, record: dict | None = None) -> tuple[list, list[Var]]:
    """Backward items and, for each parameter in ``wrt``, its gradient variable.

    ``record``, if given, receives the gradient sent along each edge of the
    graph: ``record[(id(eqn), i)]`` is what input ``i`` of ``eqn`` received,
    and ``record["grads"]`` maps each variable to its gradient.
    """
    r = _Reverse(fn, wrt, numpy, shapes, record)
    seeds = {}
    if isinstance(fn.out, Var) and id(fn.out) in r.active:
        seeds[id(fn.out)] = [r.add(fn.out, Const(1.0))]
    bwd, outer = r.block(forward, seeds, params=fn.params)
    tail = r.builder(bwd)
    result = []
    for p in wrt:
        parts = outer.pop(id(p), [])
        if parts and id(p) not in r.grads:
            if len(parts) == 1 and isinstance(parts[0], Var) and id(parts[0]) in r.made_here:
                parts[0].primal = p
                r.grads[id(p)] = parts[0]
            else:
                out = Var(primal=p)
                total = parts[0]
                for part in parts[1:-1]:
                    total = tail.emit("add", total, part, out=Var())
                if len(parts) == 1:
                    tail.emit("copy", parts[0], out=out)
                else:
                    tail.emit("add", total, parts[-1], out=out)
                r.grads[id(p)] = out
        if id(p) not in r.grads:
            # Not reached by the output: a zero of its type, written once.
            r.grads[id(p)] = Var(primal=p)
            scalar = shapes is not None and shapes.get(p) == ()
            if id(p) in getattr(fn, "containers", ()):
                tail.emit("make_struct", out=r.grads[id(p)], keys=(), kind="dict")
            elif numpy and not scalar:
                tail.emit("numpy.zeros_like", p, out=r.grads[id(p)])
            else:
                tail.emit("copy", Const(0.0), out=r.grads[id(p)])
        result.append(r.grads[id(p)])
    if record is not None:
        record["grads"] = r.grads
    forward[:0] = r.stacks  # the loops' stacks are made before anything runs
    return bwd, result

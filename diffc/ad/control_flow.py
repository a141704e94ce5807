"""Reverse mode through control flow: branches and loops (see :mod:`diffc.ad.reverse`).

An ``if`` becomes an ``if`` on the same recorded condition; what each branch
sends to values outside it is merged by phis. A loop becomes a loop over the
same iterations in reverse: what the backward body needs of the forward
loop's values is pushed onto a list where it is made and popped at the start
of the matching backward block; the gradients of carried values, and
running sums for values from outside the loop, are carried through it.
"""

from __future__ import annotations

from ..ir import (
    Builder,
    Carry,
    Const,
    Eqn,
    If,
    Loop,
    Phi,
    Var,
    deep_defs,
    each_item,
    item_defs,
    item_reads,
    substitute,
    var_reads,
)


class FieldPart:
    """A gradient for one part (``params["W1"]``) of a container parameter."""

    __slots__ = ("key", "grad")

    def __init__(self, key, grad):
        self.key, self.grad = key, grad


def split_parts(parts):
    """(plain parts, {key: parts of that field}) in first-seen order."""
    plain, fields = [], {}
    for part in parts or []:
        if isinstance(part, FieldPart):
            fields.setdefault(part.key, []).append(part.grad)
        else:
            plain.append(part)
    return plain, fields


class FlowReverse:
    """The control-flow part of the reverse pass: branches and loops, for the :class:`diffc.ad.reverse._Reverse`
    it is given (whose blocks, gradients and activity it reads and extends)."""

    def __init__(self, rv):
        self.rv = rv
        self.stack_grads: dict[int, Var] = {}  # id(an inner tape's stack) -> the stack of its values' gradients

    def branch(self, item: If, bwd: list, contributions: dict):
        seeds = ({}, {})
        for phi in item.phis:
            g = self.rv.grads.get(id(phi.out))
            for side, atom in ((0, phi.then), (1, phi.orelse)):
                if g is not None and isinstance(atom, Var) and id(atom) in self.rv.active:
                    seeds[side].setdefault(id(atom), []).append(self.rv.add(atom, g))
        then_bwd, then_out = self.rv.block(item.then, seeds[0])
        else_bwd, else_out = self.rv.block(item.orelse, seeds[1])
        phis, sent = [], []
        running = getattr(contributions, "running", lambda key: None)
        for key in dict.fromkeys([*then_out, *else_out]):
            v = self.rv.vars[key]
            then_plain, then_fields = split_parts(then_out.get(key))
            else_plain, else_fields = split_parts(else_out.get(key))
            outer = running(key)  # in a loop body: each branch adds into the running sum itself
            for field in dict.fromkeys([*then_fields, *else_fields]):  # a container: field by field
                if outer is not None:
                    self.thread(phis, then_bwd, else_bwd, then_fields.get(field), else_fields.get(field), outer, field)
                    continue
                out = self.merge(phis, then_bwd, else_bwd, then_fields.get(field), else_fields.get(field), v)
                sent.append((v, FieldPart(field, out)))
            if (then_plain or else_plain) and outer is not None:
                self.thread(phis, then_bwd, else_bwd, then_plain, else_plain, outer, None)
            elif then_plain or else_plain:
                sent.append((v, self.merge(phis, then_bwd, else_bwd, then_plain, else_plain, v)))
        if phis:
            bwd.append(If(item.cond, then_bwd, else_bwd, phis, item.lineno, item.col))
        for v, part in sent:  # after the if: a running sum adds them there
            contributions.setdefault(id(v), []).append(part)

    def merge(self, phis, then_bwd, else_bwd, then_parts, else_parts, v):
        a = _defined_in(then_bwd, self.rv.total(then_bwd, then_parts, v))
        c = _defined_in(else_bwd, self.rv.total(else_bwd, else_parts, v))
        out = Var(primal=v)
        self.rv.made_here.add(id(out))
        phis.append(Phi(out, a, c))
        return out

    def thread(self, phis, then_bwd, else_bwd, then_parts, else_parts, outer: RunningSum, field):
        """Each branch adds its parts to the enclosing loop's running sum; a phi joins the two sums."""
        latest = outer.latest(field)
        sides = []
        for block, parts in ((then_bwd, then_parts), (else_bwd, else_parts)):
            acc = latest
            for part in parts or ():
                acc = outer.accumulate(block, acc, part, field)
            sides.append(_defined_in(block, acc))
        out = outer.new_var(field)
        phis.append(Phi(out, *sides))
        outer.advance(field, out)

    def loop(self, item: Loop, bwd: list, contributions: dict):
        carried = [c for c in item.carried if id(c.start) in self.rv.active]
        if not carried and not any(id(a) in self.rv.active for a in item_reads(item) if isinstance(a, Var)):
            return
        b = self.rv.builder(bwd, item)
        seeds, starts = {}, {}
        for c in carried:
            g = self.rv.grads.get(id(c.final)) or self.rv.zero(bwd, c.final)
            start = Var(primal=c.end if isinstance(c.end, Var) else None)
            starts[id(c)] = (g, start)
            if isinstance(c.end, Var) and id(c.end) in self.rv.active:
                seeds.setdefault(id(c.end), []).append(self.rv.add(c.end, start))
        sums: dict = {}
        body, out = self.rv.block(item.body, seeds, sums=sums, direct={id(c.start) for c in carried})
        back_carried, sent = [], []
        for c in carried:
            g, start = starts[id(c)]
            end = _defined_in(body, self.rv.total(body, out.pop(id(c.start), None), c.start))
            final = Var(primal=c.init if isinstance(c.init, Var) else None)
            self.rv.made_here.add(id(final))
            back_carried.append(Carry(g, start, end, final))
            if isinstance(c.init, Var) and id(c.init) in self.rv.active:
                sent.append((c.init, final))
        threaded = []
        for key, (start, end) in sums.items():  # values from outside the loop: their gradients add up
            key, field = key if isinstance(key, tuple) else (key, None)
            v = self.rv.vars[key]
            final = Var(primal=v) if field is None else Var(label=("grad_", v, f"_{field}"))
            self.rv.made_here.add(id(final))
            outer = getattr(contributions, "running", lambda key: None)(id(v))
            if outer is not None:  # inside another loop's body: carry its running sum on, not zeros added after
                back_carried.append(Carry(outer.latest(field), start, end, final))
                threaded.append((outer, field, final))
                continue
            like = v if field is None else self.rv.builder(bwd).emit("field", v, key=field)
            init = self.rv.zero(bwd, like)
            if not isinstance(init, Const):
                self.rv.owned.add(id(final))
            back_carried.append(Carry(init, start, end, final))
            sent.append((v, final if field is None else FieldPart(field, final)))
        target = self.tape(item, body)
        if item.kind == "while":  # count the trips, to take as many backward
            start, final = Var("trips"), Var("trips")
            end = Builder(item.body).emit("add", start, Const(1), out=Var("trips"))
            item.carried.append(Carry(Const(0), start, end, final))
            # An enclosing loop's tape saves the count of each of its iterations: say where it is made.
            self.rv.where[id(start)] = (item.body, None)
            self.rv.where[id(end)] = (item.body, item.body[-1])
            self.rv.where[id(final)] = (self.rv.parent[id(item)], item)
            args = (final,)
        else:
            args = item.args
        # The backward loop of a backward loop (a gradient differentiated again) runs forwards again.
        kind = "range" if item.kind == "reverse" else "reverse"
        bwd.append(Loop(kind, target, args, [], None, back_carried, body, item.lineno, item.col, mirror=item))
        for v, final in sent:  # after the loop: a running sum adds them there
            contributions.setdefault(id(v), []).append(self.rv.add(v, final))
        for outer, field, final in threaded:
            outer.advance(field, final)
        del b

    def tape_adjoint(self, eqn: Eqn, g, b: Builder, contributions: dict):
        """The adjoint of an inner tape (a gradient differentiated again, :func:`diffc.compiler.compose`).
        ``v = pop(S)`` pushes v's gradient onto a stack of S's gradients; ``push(S, v)``, reached later
        in the backward order, pops it back into v's gradient: each iteration's in the mirrored order.
        Neither happens if the popped value gets no gradient."""
        stack = eqn.ins[0]
        if eqn.op == "pop":
            if g is None:
                return
            grads = Var(label=("saved_", eqn.out))
            self.stack_grads[id(stack)] = grads
            self.rv.stacks.append(Eqn("new_stack", (), grads))
            b.emit("push", grads, g)
            return
        grads, value = self.stack_grads.get(id(stack)), eqn.ins[1]
        if grads is not None and isinstance(value, Var) and id(value) in self.rv.active:
            part = b.emit("pop", grads, out=Var())
            self.rv.made_here.add(id(part))
            contributions.setdefault(id(value), []).append(self.rv.add(value, part))

    def tape(self, item: Loop, body: list):
        """Save what the backward body reads of the forward loop's values; returns the backward loop's target."""
        inner = {id(v) for v in deep_defs(item)} - {id(v) for v in item.defs()}
        target = None
        needed = []
        seen = set()
        for inner_item in each_item(body):
            for a in var_reads(inner_item):
                if id(a) in inner and id(a) not in seen:
                    seen.add(id(a))
                    needed.append(a)
        recompute = self.recomputable(item, needed, inner)
        if item.target is not None and any(item.target in e.ins for e in recompute) and item.target not in needed:
            needed.append(item.target)
        subst, pushes, pops = {}, [], []
        for v in needed:
            again = any(v is e.out for e in recompute)  # the forward value may have no name: no label from it
            shadow = Var(v.hint, label=None if v.hint or again else ("", v))
            subst[id(v)] = shadow
            if v is item.target:
                target = shadow  # the backward loop's header gives it back
                continue
            if any(v is e.out for e in recompute):
                continue  # computed again at the start of the backward body, from what it was computed from
            stack = Var(label=("saved_", v))  # named after the value it keeps
            self.rv.stacks.append(Eqn("new_stack", (), stack))
            block, defining = self.rv.where[id(v)]
            pushes.append((block, defining, Eqn("push", (stack, v), Var())))
            pops.append((block, Eqn("pop", (stack,), shadow)))
        substitute(body, subst)
        for block, defining, push in pushes:
            position = 0 if defining is None else next(i for i, it in enumerate(block) if it is defining) + 1
            block.insert(position, push)
        for block, pop in pops:
            self.rv.backward_of.get(id(block), body).insert(0, pop)
        again = []
        for e in recompute:  # in forward order: each reads only values from outside, the target or the ones before
            out = subst.setdefault(id(e.out), Var(e.out.hint))
            again.append(Eqn(e.op, tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in e.ins), out,
                             dict(e.params), e.lineno, e.col))
        body[0:0] = again
        return target

    def recomputable(self, item: Loop, needed: list, inner: set) -> list:
        """The equations of the loop body that make a value the backward body reads and are cheaper to
        compute again there than to save: ``xs[i]`` and scalar arithmetic of the loop's target, of
        numbers, and of values from outside the loop (which no iteration changes: a value the loop
        changes is carried, so inside it). In forward order; each reads only such values."""
        if self.rv.shapes is None:
            return []
        made = {id(e.out): e for e in item.body if isinstance(e, Eqn)}  # the body's top level only
        memo: dict[int, bool] = {}

        def cheap(a) -> bool:
            if not isinstance(a, Var) or a is item.target or id(a) not in inner:
                return True
            if id(a) not in memo:
                memo[id(a)] = False  # no cycles in SSA, but stay safe
                e = made.get(id(a))
                memo[id(a)] = e is not None and _cheap_op(e, self.rv.shapes, self.rv.sequences) and \
                    all(cheap(x) for x in e.ins)
            return memo[id(a)]

        wanted = {id(v) for v in needed if v is not item.target and cheap(v)}
        todo = list(wanted)
        while todo:  # what a recomputed value is computed from, if made in the loop, is recomputed too
            e = made[todo.pop()]
            for a in e.ins:
                if isinstance(a, Var) and id(a) in made and id(a) not in wanted:
                    wanted.add(id(a))
                    todo.append(id(a))
        return [e for e in item.body if isinstance(e, Eqn) and id(e.out) in wanted]


class RunningSum:
    """Stands in for a contribution list inside a loop body: appending adds to the running sum."""

    def __init__(self, reverse, bwd, sums, key):
        self.reverse, self.bwd, self.sums, self.key = reverse, bwd, sums, key

    def latest(self, field=None) -> Var:
        """The running sum so far (of the container part ``field``, if given), its start if nothing was added."""
        v = self.reverse.vars[self.key]
        key = self.key if field is None else (self.key, field)
        if key not in self.sums:
            label = None if field is None else ("grad_", v, f"_{field}")
            start = Var(primal=None if label else v, label=label)
            self.sums[key] = [start, start]
        return self.sums[key][1]

    def advance(self, field, value: Var) -> None:
        """``value`` is the running sum from now on (an inner loop carried it on from :meth:`latest`)."""
        self.sums[self.key if field is None else (self.key, field)][1] = value

    def new_var(self, field) -> Var:
        v = self.reverse.vars[self.key]
        return Var(primal=v) if field is None else Var(label=("grad_", v, f"_{field}"))

    def append(self, part):
        field = None
        if isinstance(part, FieldPart):  # one running sum per part of a container
            field, part = part.key, part.grad
        self.advance(field, self.accumulate(self.bwd, self.latest(field), part, field))

    def accumulate(self, block: list, latest, part, field) -> Var:
        """``latest + part``, written at the end of ``block``: ``latest[index] += g`` when ``part`` is a
        scatter this block made for it (``_scatter``), else a new sum."""
        out = self.new_var(field)
        scatter = self._scatter(block, part, self.reverse.vars[self.key] if field is None else None)
        if scatter is not None:  # acc[index] += g into the sum's own zeros, not zeros + a zero array set at index
            block.remove(scatter)
            return self.reverse.builder(block).emit("index_add", latest, *scatter.ins[1:], out=out, **scatter.params)
        return self.reverse.builder(block).emit("add", latest, part, out=out)

    def _scatter(self, block, part, like):
        """The ``scatter_add`` equation of ``block`` that made ``part`` (the gradient of ``x[index]``) for this
        sum alone, if the running sum can take it in place instead: the sum starts from zeros of its own
        (an array, made by :meth:`zero` for the loop), so nothing else holds it, and no tool records ``part``."""
        r = self.reverse
        scatter = r.scatter_of(block, part)
        if scatter is None:
            return None
        if like is not None and not r.zero_is_array(like):
            return None
        if like is None and not (r.numpy and r.shapes is not None):  # a field's zeros: as zero() makes them
            return None
        return scatter


# Ops on numbers cheap enough to compute again in the backward loop rather than save (on the same
# inputs as forward: what did not fail there does not fail here).
_SCALAR_ARITHMETIC = {"add", "sub", "mul", "neg", "mod", "floordiv"}


def _cheap_op(e: Eqn, shapes, sequences) -> bool:
    """``x[index]`` with every index a number (a view or an element, not a copy), or arithmetic of numbers."""
    if e.params.get("_raise") or e.params.get("_carry"):
        return False
    if e.op == "getitem":
        return id(e.ins[0]) not in sequences and all(shapes.get(a) == () for a in e.ins[1:])
    if e.op == "field":  # params["W"]: a look-up in a container no iteration changes
        return True
    return e.op in _SCALAR_ARITHMETIC and all(shapes.get(a) == () for a in (*e.ins, e.out))


def _defined_in(block: list, atom, primal=None):
    """``atom`` as a variable assigned in ``block`` (phis and loops need one), copying if need be."""
    if isinstance(atom, Var) and any(atom is d for item in block for d in item_defs(item)):
        return atom
    out = Var(primal=primal or getattr(atom, "primal", None))
    block.append(Eqn("copy", (atom,), out))
    return out

"""Reverse mode: from forward items to backward items.

Activity analysis decides what is differentiated: a value is active when it
depends on a parameter in ``wrt`` (through anything but an op with a zero
derivative, :func:`diffc.ops.catalogue.cuts`). A gradient that must cross an
equation with no rule (an opaque call, a list used where it cannot be) stops
compilation with a located error; inactive code needs no rule.

Visits a block's items in reverse order, starting from ``grad_out = 1.0`` (a vector-Jacobian
product: from its cotangent parameters).
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

from ..ir import Builder, Const, Eqn, Function, If, Var, each_in_block, item_defs, item_reads, walk
from ..ops.algebra import NeedsShapes, NoRule, selection_mask, unbroadcast
from ..ops.catalogue import BROADCASTING, ELEMENTWISE, accepts_sequence, cuts, differentiable, vjp
from ..ops.front import sequence_vars
from ..passes.liveness import groups, live_items
from .control_flow import FieldPart, FlowReverse, RunningSum, split_parts
from .transpose import transpose_custom_jvp

# Elementwise arithmetic: a fresh array of its operands' broadcast shape.
_ARITHMETIC = ("add", "sub", "mul", "div", "neg")


class ReverseError(Exception):
    """A rule could not be applied; carries the forward equation for locating it."""

    def __init__(self, eqn: Eqn, message: str, hint: str, needs_shapes: bool = False, error_class=None):
        super().__init__(message)
        self.eqn, self.message, self.hint, self.needs_shapes = eqn, message, hint, needs_shapes
        self.error_class = error_class


def active_vars(fn: Function, wrt: list[Var]) -> set[int]:
    """Ids of the variables whose value depends on a parameter in ``wrt``."""
    active = {id(v) for v in wrt}

    def block(items):
        for item in items:
            if isinstance(item, Eqn):
                if not cuts(item) and any(id(a) in active for a in item.ins if isinstance(a, Var)):
                    active.add(id(item.out))
                    if item.op == "push":  # a gradient differentiated again: what is popped from it is active
                        active.add(id(item.ins[0]))
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


def useful_vars(fn: Function) -> set[int]:
    """Ids of the variables the output depends on: only they need a gradient. A value that depends on
    a parameter but not reaching the output (an aux output such as a hand-written dW) is forward code.

    Not the liveness of :mod:`diffc.passes.liveness`, on purpose: it follows values (through data
    and an if's condition), not the items that compute them (a loop's bounds need no gradient)."""
    edges: dict[int, list] = {}

    def block(items):
        for item in items:
            if isinstance(item, Eqn):
                edges.setdefault(id(item.out), []).extend(item.ins)
                if item.op == "push":  # a tape's stack holds what is pushed (a gradient differentiated again)
                    edges.setdefault(id(item.ins[0]), []).append(item.ins[1])
            elif isinstance(item, If):
                block(item.then)
                block(item.orelse)
                for phi in item.phis:
                    edges.setdefault(id(phi.out), []).extend((phi.then, phi.orelse, item.cond))
            else:
                for c in item.carried:
                    edges.setdefault(id(c.start), []).extend((c.init, c.end))
                    edges.setdefault(id(c.final), []).extend((c.init, c.start, c.end))
                block(item.cond)
                block(item.body)

    block(fn.eqns)
    useful, todo = set(), [fn.out]
    while todo:
        atom = todo.pop()
        if isinstance(atom, Var) and id(atom) not in useful:
            useful.add(id(atom))
            todo.extend(edges.get(id(atom), ()))
    return useful


def live_forward(fn: Function) -> list:
    """The forward items the output depends on (the user's dead code dropped)."""
    fn.eqns = live_items(fn.eqns, {id(fn.out)} | {id(a) for a in fn.aux})
    return fn.eqns


def _preserves_shape(eqn: Eqn, shapes) -> bool:
    """True if ``eqn`` is elementwise and every array input provably has its output's shape (so a mask
    on its output applies to its inputs element by element: not so for a square matmul or x[::-1])."""
    if eqn.op not in ELEMENTWISE:
        return False
    out = shapes.get(eqn.out) if shapes is not None else None
    return out is not None and all(not isinstance(a, Var) or shapes.get(a) == out for a in eqn.ins)


class _Reverse:
    def __init__(self, fn, wrt, numpy, shapes, record):
        self.fn, self.numpy, self.shapes, self.record = fn, numpy, shapes, record
        self.active = active_vars(fn, wrt) & useful_vars(fn)
        self.sequences = sequence_vars(fn.eqns)  # may hold a Python list or tuple
        self.grads: dict[int, Var] = {}
        self.vars: dict[int, Var] = {}
        self.masks: dict[int, tuple] = {}  # id(gradient var) -> (condition, taken when true)
        self.made_here: set[int] = set()  # backward temporaries not yet given a role
        self.owned: set[int] = set()  # loops' running sums of fresh zeros, which nothing else holds
        self.field_grads: set[int] = set()  # gradients of params["W"] that only the field's own rule reads
        self.backward_of: dict[int, list] = {}  # id(forward block) -> its backward block
        self.where: dict[int, tuple] = {}  # id(var) -> (forward block, item) that defines it
        self.parent: dict[int, list] = {}  # id(forward item) -> the block it is in
        self.stacks: list[Eqn] = []  # the lists that loops push onto, made at the start
        self._index(fn.eqns)
        self.same_name = groups(fn.eqns)  # values an if or a loop writes under one name
        self.flow = FlowReverse(self)  # branches and loops
        self.seed = None  # the seed when it is a constant the rules fold (fast form, scalar code)

    def _index(self, items):
        for item, block in each_in_block(items):
            self.parent[id(item)] = block
            for v in item.defs():
                self.where[id(v)] = (block, item)
            for v in item.header_defs():
                self.where[id(v)] = (item.body, None)  # made by the loop header, at the start of its body

    def builder(self, items, origin=None):
        return Builder(items, getattr(origin, "lineno", None), getattr(origin, "col", None),
                       origin=origin if isinstance(origin, Eqn) else None, numpy=self.numpy, shapes=self.shapes)

    def zero_is_array(self, like) -> bool:
        """True if :meth:`zero` of ``like`` is a fresh array (``np.zeros_like``), not the number 0.0."""
        shape = None if self.shapes is None or not isinstance(like, Var) else self.shapes.get(like)
        # An array whose shape is known needs zeros of it even where the module does not use numpy.
        return shape != () and (self.numpy and self.shapes is not None or isinstance(shape, tuple))

    def zero(self, items, like: Var):
        if not self.zero_is_array(like):
            return Const(0.0)
        return self.builder(items).emit("zeros_like", like)

    def add(self, v, part):
        self.vars[id(v)] = v
        return part

    def total(self, items, parts, like: Var):
        """The sum of ``parts`` as one atom, written at the end of ``items`` (zero if there are none)."""
        if not parts:
            return self.zero(items, like)
        if len(parts) == 1:
            return parts[0]
        return self.sum_parts(self.builder(items), parts, Var(primal=like), lambda: Var(primal=like))

    def scatter_of(self, block: list, part):
        """The ``scatter_add`` at the top level of ``block`` that made ``part`` (the gradient of
        ``x[index]``: zeros set at index) for one sum alone, if no tool records it; else None."""
        if self.record is not None or not isinstance(part, Var) or \
                id(part) not in self.made_here and id(part) not in self.field_grads:
            return None
        eqn = next((e for e in reversed(block) if isinstance(e, Eqn) and e.out is part), None)
        return eqn if eqn is not None and eqn.op == "scatter_add" else None

    def fresh_full(self, block: list, part, out: Var, parts: list) -> bool:
        """True if ``part`` is an array a rule just made by arithmetic (``g * e / S``), which only this sum
        reads and which provably has the whole shape of the value ``out`` is the gradient of: the sum's
        scatters may then add into it in place (``grad_s = t7; grad_s[y[i]] -= g``, not zeros, a set and
        an add of whole arrays). The name sharing of :mod:`diffc.passes.sharing` still copies it if an
        older reader appears."""
        like = out.primal
        if self.record is not None or self.shapes is None or not isinstance(part, Var) or like is None or \
                id(part) not in self.made_here or sum(p is part for p in parts) != 1:
            return False
        target = self.shapes.get(like)
        if not isinstance(target, tuple) or not target:
            return False
        made = {id(e.out): e for e in block if isinstance(e, Eqn)}
        if id(part) not in made or any(part is a for e in block if isinstance(e, Eqn) for a in e.ins):
            return False

        def shape(a, depth=0):  # (), target, or None (unknown or other)
            if isinstance(a, Const):
                return () if type(a.value) in (int, float) else None
            source = a.primal if a.primal is not None else a  # a gradient has its value's shape
            known = self.shapes.get(source) if id(source) in self.shapes.of else None
            if known == () or known is not None and self._same_shape(known, target):
                return () if known == () else target
            eqn = made.get(id(a))
            if eqn is not None and eqn.op == "copy" and depth <= 8:
                return shape(eqn.ins[0], depth + 1)
            if eqn is None or depth > 8 or eqn.op not in _ARITHMETIC:
                return None
            sides = [shape(x, depth + 1) for x in eqn.ins]
            if None in sides:
                return None
            return target if target in sides else ()

        return made[id(part)].op in _ARITHMETIC and shape(part) == target

    def _same_shape(self, a, b) -> bool:
        return isinstance(a, tuple) and len(a) == len(b) and all(
            x == 1 and y == 1 or self.shapes.same(x, y) for x, y in zip(a, b))

    def sum_parts(self, b: Builder, parts: list, out: Var, between=Var) -> Var:
        """``out`` = the sum of two or more ``parts`` (``between()`` makes the partial sums). Where one
        part is an array only this sum holds (a loop's running sum of fresh zeros, or else a fresh
        scatter), the scatters among the others are added into it in place (``acc[index] += g``)
        rather than each made as a whole array and added."""
        scatters = {id(p): self.scatter_of(b.eqns, p) for p in parts}
        acc = next((p for p in parts if isinstance(p, Var) and id(p) in self.owned), None) or \
            next((p for p in parts if scatters[id(p)] is None and self.fresh_full(b.eqns, p, out, parts)), None) or \
            next((p for p in parts if scatters[id(p)] is not None), None)
        in_place = acc is not None and any(scatters[id(p)] is not None for p in parts if p is not acc)
        at = next(k for k, p in enumerate(parts) if p is acc) if in_place else 0  # else: the sum as written
        acc, rest = parts[at], parts[:at] + parts[at + 1:]
        total = acc
        for k, part in enumerate(rest):
            target = out if k == len(rest) - 1 else between()
            scatter = scatters[id(part)] if in_place else None
            if scatter is not None:
                b.eqns.remove(scatter)
                total = b.emit("index_add", total, *scatter.ins[1:], out=target, **scatter.params)
            else:
                total = b.emit("add", total, part, out=target)
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
                return inner.running(key) or dict.setdefault(inner, key, default)

            def running(inner, key):  # noqa: N805
                """The loop body's running sum for the outside value ``key``; None outside a loop body."""
                if sums is None or key in defined or key in seeds or key in direct:
                    return None
                return RunningSum(self, bwd, sums, key)

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
            if len(parts) == 1 and first is self.seed:  # the output's gradient: 1.0, folded by each rule
                self.grads[id(v)] = first
                return
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
                self.sum_parts(b, parts, out)
            self.grads[id(v)] = out

        for index in range(len(items) - 1, -1, -1):
            item = items[index]
            b = self.builder(bwd, item)
            for v in item_defs(item):
                materialize(v, b)
            if isinstance(item, Eqn):
                self.eqn(item, b, contributions)
            elif isinstance(item, If):
                self.flow.branch(item, bwd, contributions)
            else:
                self.flow.loop(item, bwd, contributions)
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
        _, fields = split_parts(parts)
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
        if eqn.op in ("push", "pop"):  # the inner tape of a gradient differentiated again
            if id(eqn.ins[0]) in self.active:
                self.flow.tape_adjoint(eqn, g, b, contributions)
            return
        if eqn.op == "field":
            container = eqn.ins[0]
            if g is not None and isinstance(container, Var) and id(container) in self.active:
                if isinstance(g, Var) and g.primal is eqn.out:  # its own gradient var: read here alone
                    self.field_grads.add(id(g))
                contributions.setdefault(id(container), []).append(self.add(container, FieldPart(eqn.params["key"], g)))
                if self.record is not None:
                    self.record[(id(eqn), 0)] = g
            return
        if eqn.op == "custom_jvp" and g is not None:  # a user's forward rule, transposed
            return transpose_custom_jvp(self, eqn, b, g, contributions)
        if g is None or cuts(eqn):
            return
        shapes = self.shapes
        for i, a in enumerate(eqn.ins):
            if not (isinstance(a, Var) and id(a) in self.active):
                continue
            self.refuse_unruled(eqn, i, a)
            start = len(b.eqns)
            try:
                part = vjp(b, eqn, g, i)
                if part is not None and eqn.op in BROADCASTING:
                    part = unbroadcast(b, part, a, shapes.get(eqn.out) if shapes is not None else None)
                mask = selection_mask(b.eqns[start:], part)  # np.where, np.maximum, np.clip, np.max ...
                if mask is not None:
                    self.masks[id(part)] = mask
                elif part is not None and part is not g and id(g) in self.masks and _preserves_shape(eqn, shapes):
                    cond, taken = self.masks[id(g)]
                    part = b.call("where", cond, part, Const(0.0)) if taken else \
                        b.call("where", cond, Const(0.0), part)
                    self.masks[id(part)] = (cond, taken)
            except NoRule as exc:
                raise ReverseError(eqn, exc.message, exc.hint) from None
            except NeedsShapes as exc:
                hint = "give the parameters' shapes (CLI: --shape NAME=N,D; the decorator knows them from the call)"
                raise ReverseError(eqn, str(exc), hint, needs_shapes=True) from None
            self.made_here.update(id(e.out) for e in b.eqns[start:] if isinstance(e, Eqn))
            if part is not None:
                contributions.setdefault(id(a), []).append(self.add(a, part))
                if self.record is not None:
                    self.record[(id(eqn), i)] = part

    def refuse_unruled(self, eqn: Eqn, i: int, a: Var):
        """Activity analysis: a gradient must cross input ``i`` of ``eqn``; refuse if nothing says how."""
        from ..errors import UnknownCallError, UnsupportedError

        if eqn.op == "opaque":  # a method diffc does not know is unsupported, a function has no rule
            cls = UnsupportedError if eqn.params["_method"] else UnknownCallError
            raise ReverseError(eqn, *eqn.params["_why"], error_class=cls)
        if not differentiable(eqn.op):
            raise ReverseError(eqn, f"'{eqn.op}' has no derivative rule", "compute it from supported operations")
        if id(a) in self.sequences and not accepts_sequence(eqn, i):
            raise ReverseError(eqn, "a list or tuple of values that depend on the parameters is used here in a "
                                    "way diffc cannot differentiate",
                               "index it with a literal integer (t[0]), unpack it (p, q = t), or make it an "
                               "array first (np.array(t))")


def _refuse_active_effects(fn: Function, forward: list, wrt: list[Var]) -> None:
    """A call kept for its effect (np.random.seed(s)) may change its arguments in place, which no rule
    follows: refused if one of them depends on ``wrt`` (whether or not the output reads it)."""
    effects = [e for e in walk(forward) if e.params.get("_raise") == "call"]
    active = active_vars(fn, wrt) if effects else set()
    for eqn in effects:
        if any(isinstance(a, Var) and id(a) in active for a in eqn.ins):
            raise ReverseError(eqn, *eqn.params["_why"])


def _seed_folds(fn: Function, shapes) -> bool:
    """True if the seed 1.0 may be a constant folded into its uses (``grad_out * z`` is ``z``): every
    parameter a number that is not an integer (the fold keeps ``z``'s type, and an int64 could overflow
    where ``1.0 * z`` would not); array code keeps its one ``grad_out = 1.0`` line, which costs nothing there."""
    return shapes is not None and all(shapes.get(p) == () and shapes.kind(p) not in ("b", "i", "u")
                                      for p in fn.params)


def backward(fn: Function, forward: list, wrt: list[Var], *, numpy: bool = False,
             shapes=None, record: dict | None = None, seeds=None, fast: bool = False) -> tuple[list, list[Var]]:
    """Backward items and, for each parameter in ``wrt``, its gradient variable.

    ``seeds``, if given, pairs returned values with the gradients they start from (a vector-Jacobian
    product's cotangent parameters, :mod:`diffc.ad.seeds`); by default the output starts from 1.0.
    With ``fast``, in scalar code (:func:`_seed_folds`) that 1.0 is the constant itself rather than
    a ``grad_out = 1.0`` line, so that the rules fold it (``grad_out * z`` is ``z``).

    ``record``, if given, receives the gradient sent along each edge of the
    graph: ``record[(id(eqn), i)]`` is what input ``i`` of ``eqn`` received,
    and ``record["grads"]`` maps each variable to its gradient.
    """
    r = _Reverse(fn, wrt, numpy, shapes, record)
    _refuse_active_effects(fn, forward, wrt)
    start, copies = {}, []
    writes = any(e.op == "setitem" for e in walk(forward))  # then the backward pass writes in place (zero_at)
    if seeds is None:
        seeds = [(fn.out, Const(1.0))]
        if fast and _seed_folds(fn, shapes):
            r.seed = seeds[0][1]
    for value, seed in seeds:
        if isinstance(value, Var) and id(value) in r.active:
            if isinstance(seed, Var) and writes and (shapes is None or shapes.get(value) != ()):
                seed = r.builder(copies).call("array_copy", seed)  # never a write into the caller's array
            start.setdefault(id(value), []).append(r.add(value, seed))
            if isinstance(seed, Var):  # a cotangent parameter: the value's gradient itself, if alone
                r.made_here.add(id(seed))
    bwd, outer = r.block(forward, start, params=fn.params)
    bwd[:0] = copies
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
            shape = None if shapes is None else shapes.get(p)
            if id(p) in getattr(fn, "containers", ()):
                tail.emit("make_struct", out=r.grads[id(p)], keys=(), kind="dict")
            elif numpy and shape != () or isinstance(shape, tuple) and shape != ():  # an array: zeros of it
                tail.emit("zeros_like", p, out=r.grads[id(p)])
            else:
                tail.emit("copy", Const(0.0), out=r.grads[id(p)])
        result.append(r.grads[id(p)])
    if record is not None:
        record["grads"] = r.grads
    forward[:0] = r.stacks  # the loops' stacks are made before anything runs
    return bwd, result

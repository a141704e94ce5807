"""Forward mode: the tangent of every active value, computed beside it.

Activity analysis is the reverse mode's (:func:`diffc.ad.reverse.active_vars`): a value carries a
tangent only if it depends on a parameter in ``wrt``; a value that does not has a zero tangent,
which is never written. Each forward equation with an active input is followed by the equations of
its tangent, built by the op's forward rule (its record's ``jvp`` slot, see
:mod:`diffc.ops.tangents`); the tangent variable is named ``dot_<name>`` after the value. An op
with no forward rule, an opaque call, or a list used where it cannot be, stops compilation with a
located error, exactly where the reverse mode would refuse; code with no active input needs none.

Control flow needs no tape: the tangents run alongside the primal values, inside the same
branches and loops. A branch gets one more phi per active value it merges (``dot_y`` is whatever
the branch taken made it); a loop carries the tangent of each active carried value beside it.
"""

from __future__ import annotations

from ..ir import Builder, Carry, Eqn, Function, If, Phi, Var, walk
from ..ops.algebra import NeedsShapes, NoRule
from ..ops.catalogue import VIEW_OPS, accepts_sequence, cuts, get
from ..ops.front import sequence_vars
from ..ops.tangents import zero_like
from ..passes.sharing import IN_PLACE, MAY_RETURN_INPUT
from .reverse import ReverseError, active_vars

ForwardError = ReverseError  # the same located refusal as the reverse mode's


class _Forward:
    def __init__(self, fn: Function, wrt: list[Var], tangents: list[Var], numpy: bool, shapes):
        self.numpy, self.shapes = numpy, shapes
        self.active = active_vars(fn, wrt)
        self.sequences = sequence_vars(fn.eqns)
        self.dots: dict[int, object] = {id(p): t for p, t in zip(wrt, tangents)}
        self.writes = any(e.op in IN_PLACE for e in walk(fn.eqns))  # x[i] = v somewhere: tangents must own their arrays
        self.callers = {id(t) for t in tangents}  # tangents that may be (views of) the caller's arrays
        self.stacks: dict[int, Var] = {}  # id(an inner tape's stack) -> the stack of its values' tangents

    def builder(self, items, origin=None):
        return Builder(items, getattr(origin, "lineno", None), getattr(origin, "col", None),
                       origin=origin if isinstance(origin, Eqn) else None, numpy=self.numpy, shapes=self.shapes)

    def dot(self, atom):
        return self.dots.get(id(atom)) if isinstance(atom, Var) else None

    def zero(self, items, like):
        return zero_like(self.builder(items), like)

    def block(self, items) -> list:
        out: list = []
        for item in items:
            if isinstance(item, Eqn):
                out.append(item)
                self.eqn(item, out)
            elif isinstance(item, If):
                self.branch(item)
                out.append(item)
            else:
                self.loop(item, out)
                out.append(item)
        return out

    def tape(self, eqn: Eqn, out: list):
        """An inner tape (a gradient differentiated again): each pushed value's tangent goes onto a stack of
        tangents beside it, and comes off it where the value is popped."""
        stack = eqn.ins[0]
        if eqn.op == "push":
            dot = self.dot(eqn.ins[1])
            if dot is not None:
                tangents = self.stacks.setdefault(id(stack), Var(label=("saved_dot_", eqn.ins[1])))
                self.builder(out, eqn).emit("push", tangents, dot)
        elif id(stack) in self.stacks:
            self.dots[id(eqn.out)] = self.builder(out, eqn).emit("pop", self.stacks[id(stack)],
                                                                 out=Var(primal=eqn.out, tangent=True))

    def eqn(self, eqn: Eqn, out: list):
        if eqn.op in ("push", "pop"):
            return self.tape(eqn, out)
        dots = [self.dot(a) for a in eqn.ins]
        if all(d is None for d in dots) or cuts(eqn) or eqn.params.get("_raise"):
            return
        b = self.builder(out, eqn)
        start = len(out)
        if eqn.op == "field":  # a part of a container parameter: the same part of its tangent
            tangent = b.emit("field", dots[0], **eqn.params)
        else:
            for i, a in enumerate(eqn.ins):
                if dots[i] is not None:
                    self.refuse_unruled(eqn, i, a)
            b.primitive = eqn.op
            try:
                tangent = get(eqn.op).jvp(b, dots, eqn.out, eqn.ins, eqn.params)
            except NoRule as exc:
                raise ForwardError(eqn, exc.message, exc.hint) from None
            except NeedsShapes as exc:
                hint = "give the parameters' shapes (CLI: --shape NAME=N,D; the decorator knows them from the call)"
                raise ForwardError(eqn, str(exc), hint, needs_shapes=True) from None
        if tangent is None:
            return
        made = {id(v) for e in out[start:] for v in e.defs()}  # a custom_jvp rule may make an if or a loop
        shared = isinstance(tangent, Var) and id(tangent) not in made and id(tangent) in self.callers
        if self.writes and self.numpy and eqn.op not in VIEW_OPS and isinstance(tangent, Var) and \
                (shared or id(tangent) in made and getattr(out[-1], "op", None) in MAY_RETURN_INPUT):
            # The value is a new array but its tangent is the caller's (x + 1.0: dot_x), or a read-only
            # view (np.broadcast_to): a copy, so that writing into the value's tangent in place
            # (x[0] = ...) writes into neither the caller's dot_x nor a read-only view. (The emitter
            # copies before writing into an array something else still reads, as for any alias.)
            tangent = b.call("array_copy", tangent)
            made.add(id(tangent))
            shared = False
        elif eqn.op in VIEW_OPS and any(id(d) in self.callers for d in dots if isinstance(d, Var)):
            shared = True  # a view of the caller's tangent, as the value is a view of the caller's value
        if isinstance(tangent, Var) and id(tangent) in made and tangent.primal is None and tangent.hint is None:
            tangent.primal, tangent.tangent = eqn.out, True  # the rule's result is this value's tangent
        else:  # a tangent that exists already (dot_y = dot_x): a line of its own if the value has one
            carry = {"_carry": True} if eqn.params.get("_carry") else {}  # the value a loop starts from
            tangent = b.emit("copy", tangent, out=Var(primal=eqn.out, tangent=True), **carry)
        if shared:
            self.callers.add(id(tangent))
        self.dots[id(eqn.out)] = tangent

    def refuse_unruled(self, eqn: Eqn, i: int, a: Var):
        """Activity analysis: a tangent must cross input ``i`` of ``eqn``; refuse if nothing says how."""
        from ..errors import UnknownCallError, UnsupportedError

        if eqn.op == "opaque":
            cls = UnsupportedError if eqn.params["_method"] else UnknownCallError
            raise ForwardError(eqn, *eqn.params["_why"], error_class=cls)
        op = get(eqn.op)
        if op is None or op.jvp is None:
            raise ForwardError(eqn, f"'{eqn.op}' has no forward-mode (tangent) rule",
                               "compute it from supported operations, or use the reverse mode (diffc.grad, diffc.vjp)")
        if id(a) in self.sequences and not accepts_sequence(eqn, i):
            raise ForwardError(eqn, "a list or tuple of values that depend on the parameters is used here in a "
                                    "way diffc cannot differentiate",
                               "index it with a literal integer (t[0]), unpack it (p, q = t), or make it an "
                               "array first (np.array(t))")

    def branch(self, item: If):
        item.then = self.block(item.then)
        item.orelse = self.block(item.orelse)
        for phi in list(item.phis):
            then, orelse = self.dot(phi.then), self.dot(phi.orelse)
            if then is None and orelse is None:
                continue
            then = then if then is not None else self.zero(item.then, phi.then)
            orelse = orelse if orelse is not None else self.zero(item.orelse, phi.orelse)
            out = Var(primal=phi.out, tangent=True)
            item.phis.append(Phi(out, then, orelse))
            self.dots[id(phi.out)] = out

    def loop(self, item, before: list):
        carried = [c for c in item.carried if id(c.start) in self.active]
        starts = {}
        for c in carried:
            init = self.dot(c.init)
            starts[id(c)] = (init if init is not None else self.zero(before, c.init), Var(primal=c.start, tangent=True))
            self.dots[id(c.start)] = starts[id(c)][1]
        item.cond = self.block(item.cond)
        item.body = self.block(item.body)
        for c in carried:
            init, start = starts[id(c)]
            end = self.dot(c.end)
            end = end if end is not None else self.zero(item.body, c.end)
            final = Var(primal=c.final, tangent=True)
            item.carried.append(Carry(init, start, end, final))
            self.dots[id(c.final)] = final


def forward(fn: Function, items: list, wrt: list[Var], tangents: list[Var], *, numpy: bool = False,
            shapes=None) -> tuple[list, object]:
    """The forward items with their tangents interleaved, and the output's tangent (an atom).

    ``tangents`` are the parameters holding the tangent of each parameter in ``wrt``.
    """
    f = _Forward(fn, wrt, tangents, numpy, shapes)
    result = f.block(items)
    result[:0] = [Eqn("new_stack", (), stack) for stack in f.stacks.values()]  # made before anything runs
    out = f.dot(fn.out)
    if out is None:  # the output does not depend on wrt: a zero tangent of its kind
        out = Var(primal=fn.out if isinstance(fn.out, Var) else None, tangent=True)
        made = next((e for e in walk(result) if e.out is fn.out), None)
        if made is not None and made.op == "tuple":  # a tuple of values (of several shapes): a tuple of zeros
            f.builder(result).emit("tuple", *(f.zero(result, a) for a in made.ins), out=out)
        else:
            f.builder(result).emit("copy", f.zero(result, fn.out), out=out)
    return result, out

"""Reverse mode through a ``@diffc.custom_jvp`` function: its forward rule, transposed.

The user's forward rule gives the tangent of the value as a function of the arguments' tangents,
linear in them (the Jacobian applied to them). Its transpose is the reverse rule: the gradient of
``<tangent, g>`` with respect to the tangents is ``J^T g``, one gradient per argument. So the rule's
template is instantiated in the backward block with a variable for each active argument's tangent
(set to zeros of the argument: for a function linear in them, where they are evaluated does not
matter), and the reverse pass runs on that small function, seeded with the upstream gradient ``g``
at the tangent; what reaches each tangent variable is its argument's gradient, as in JAX, where
``grad`` of a ``custom_jvp`` function transposes its rule. A rule that is not linear in the tangents
is not a derivative; ``check_grad`` reports the mismatch.
"""

from __future__ import annotations

from ..ir import Const, Eqn, Function, Var, deep_defs
from ..passes.shapes import infer_block


def transpose_custom_jvp(r, eqn: Eqn, b, g, contributions: dict) -> None:
    """The gradients the custom_jvp equation ``eqn`` sends to its arguments, from the upstream ``g``
    (``r``: the reverse pass at work, whose own class transposes the rule: no import of it here)."""
    rule = eqn.params["_rule"]
    ans, args = eqn.out, eqn.ins[1:]
    active = [isinstance(a, Var) and id(a) in r.active for a in args]
    dots = []
    for a, on in zip(args, active):
        if not on:
            dots.append(None)
            continue
        dot = Var(f"dot_{a.hint}" if a.hint else None)
        if r.zero_is_array(a):
            b.emit("zeros_like", a, out=dot)
        else:
            b.emit("copy", Const(0.0), out=dot)
        dots.append(dot)
        if r.shapes is not None:
            r.shapes.set(dot, r.shapes.get(a))  # a tangent has its argument's shape
    items: list = []
    tangent = rule.instantiate(items, ans, args, dots=dots)[0]
    if r.shapes is not None:
        infer_block(r.shapes, items)  # so that the reverse rules know what they may leave unsummed
    if not isinstance(tangent, Var):
        return  # a literal: no tangent variable depends on the tangents, so no gradient
    wrt = [d for d in dots if d is not None]
    mini = Function(f"<the rule of {rule.name}>", wrt, items, tangent, eqn.lineno or 0)
    inner = type(r)(mini, wrt, r.numpy, r.shapes, None)
    seeds = {id(tangent): [inner.add(tangent, g)]} if id(tangent) in inner.active else {}
    bwd, outer = inner.block(items, seeds, params=wrt)
    r.stacks.extend(inner.stacks)
    b.eqns.extend(items)
    b.eqns.extend(bwd)
    made = {id(v) for item in [*items, *bwd] for v in deep_defs(item)}
    for k, (a, dot) in enumerate(zip(args, dots)):
        part = inner.grads.get(id(dot)) if dot is not None else None
        if part is None:
            continue  # the rule does not read this tangent: no gradient
        if isinstance(part, Var) and id(part) in made:
            part.primal = None  # the gradient of the tangent variable is the argument's: named by its role
            r.made_here.add(id(part))
        contributions.setdefault(id(a), []).append(r.add(a, part))
        if r.record is not None:
            r.record[(id(eqn), 1 + k)] = part

"""Liveness and name groups: the analyses over IR blocks that several passes share.

:func:`live_items` is the one liveness analysis: the reverse pass's input (the user's dead code
dropped, :func:`diffc.ad.reverse.live_forward`) and the cleanup's dead-code elimination
(:func:`diffc.passes.cleanup.dce`) are both it. An item is live when a value it makes is needed or
it is kept for what it does (the loops' tape, :data:`EFFECTS`, and the user's ``raise``); a branch
keeps only the phis that are needed, a loop only the carried values whose final value is needed or
whose next value a live update reads, found by iterating to a fixed point. Two other walks look
alike and are not this one, on purpose: :func:`diffc.ad.reverse.useful_vars` asks which values the
output depends on through data and branch conditions (not loop bounds: they need no gradient), and
the activity analysis runs forwards from the parameters.

:func:`groups` says which values control flow makes share one Python name.
"""

from __future__ import annotations

from ..ir import Eqn, If, Var, each_item, walk

# Equations kept for what they do, not for a value (the loops' tape).
EFFECTS = {"push", "pop", "new_stack"}


def is_effect(eqn) -> bool:
    """True if the equation is kept for what it does: the tape, or the user's ``raise``."""
    return eqn.op in EFFECTS or bool(eqn.params.get("_raise"))


def has_effects(item) -> bool:
    """True if the item is, or holds, an equation kept for what it does."""
    return any(is_effect(e) for e in walk([item]))


def _var_ids(atoms) -> set:
    return {id(a) for a in atoms if isinstance(a, Var)}


def live_items(items: list, needed: set, *, prune: bool = True) -> list:
    """The items of a block that the ``needed`` variable ids, and the tape, need.

    ``needed`` is updated in place with what the live items read. With ``prune`` the items' nested
    blocks, phis and carried values are cut to what is live, in place; without it nothing changes
    (a loop asks that way what an iteration would read)."""
    kept = []
    for item in reversed(items):
        if isinstance(item, Eqn):
            live = id(item.out) in needed or is_effect(item)
            if live:
                needed.update(_var_ids(item.ins))
        elif isinstance(item, If):
            phis = [p for p in item.phis if id(p.out) in needed]
            then_needed = {id(p.then) for p in phis} | needed
            else_needed = {id(p.orelse) for p in phis} | needed
            then = live_items(item.then, then_needed, prune=prune)
            orelse = live_items(item.orelse, else_needed, prune=prune)
            # Kept too when a later item reads a value made in a branch (the same branch's backward code, when
            # a custom_jvp rule with an if is transposed: diffc.ad.transpose), though no phi is needed.
            live = bool(phis) or has_effects(item) or bool(then) or bool(orelse)
            if prune:
                item.phis, item.then, item.orelse = phis, then, orelse
            if live:
                needed.update(_var_ids([item.cond]), then_needed, else_needed)
        else:
            inner = {id(c.end) for c in item.carried if id(c.final) in needed} | needed | {id(item.test)}
            while True:  # what the live updates read may need other carried values
                reads = set(inner)
                live_items([*item.cond, *item.body], reads, prune=False)
                more = {id(c.end) for c in item.carried if id(c.start) in reads} - inner
                if not more:
                    break
                inner |= more
            carried = [c for c in item.carried if id(c.end) in inner]
            body = live_items(item.body, inner, prune=prune)
            cond = live_items(item.cond, inner, prune=prune)
            live = bool(carried) or has_effects(item)
            if prune:
                item.carried, item.body, item.cond = carried, body, cond
            if live:
                needed.update(inner, _var_ids(item.args), _var_ids(c.init for c in carried), _var_ids([item.test]))
        if live:
            kept.append(item)
    return kept[::-1]


def groups(items) -> dict[int, int]:
    """Variables control flow makes share one Python name (an if's phi and its two sides, a loop's
    carried value in all its forms): id(var) -> id of its group."""
    parent: dict[int, int] = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    def union(*vs):
        ids = [find(id(v)) for v in vs if isinstance(v, Var)]
        for other in ids[1:]:
            parent[other] = ids[0]
        for v in vs:
            if isinstance(v, Var):
                parent.setdefault(id(v), id(v))

    for item in each_item(items):
        for members in item.merged():
            union(*members)
    return {k: find(k) for k in parent}

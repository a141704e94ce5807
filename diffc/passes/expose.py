"""Branch values made visible by phis, so that a gradient's IR can be differentiated again.

The reverse pass mirrors an ``if`` of the forward code with an ``if`` on the same condition, whose
lines read the forward branch's values directly (Python keeps a name after its block). That is
not single assignment as the IR's passes read it: a value made in a branch is seen after the
``if`` only through a phi. :func:`expose_branch_values` rewrites a gradient's items
(:func:`diffc.compiler.compose`) so that every value a branch makes and something after its ``if``
reads leaves the ``if`` through a phi: the branch's value where it was made, ``None`` on the other
side (never read there: the mirrored ``if`` takes the same side). The shape pass gives such a phi
the shape of its real side. Innermost ``if``s first, so a value of a nested branch goes out
through each ``if`` around it.
"""

from __future__ import annotations

from collections import Counter

from ..ir import Const, If, Phi, Var, each_item, item_defs

NOTHING = Const(None)  # the side of a phi where the branch did not make the value


def _reads(items) -> Counter:
    counts: Counter = Counter()
    for item in each_item(items):
        counts.update(id(a) for a in item.reads() if isinstance(a, Var))
    return counts


def expose_branch_values(items: list) -> None:
    """Add the phis (in place) and read them after each ``if`` instead of the branch's values."""
    for item in list(each_item(items))[::-1]:  # innermost first: a nested if comes after its parent
        if not isinstance(item, If):
            continue
        total, inside = _reads(items), _reads([item])
        made = [(v, side) for side, block in enumerate(item.blocks()) for it in block for v in item_defs(it)]
        subst = {}
        for v, side in made:
            if total[id(v)] > inside[id(v)]:  # read after the if
                out = Var(v.hint, label=v.label)
                item.phis.append(Phi(out, v, NOTHING) if side == 0 else Phi(out, NOTHING, v))
                subst[id(v)] = out
        if subst:
            _substitute_outside(items, item, subst)


def _substitute_outside(items: list, skip: If, subst: dict) -> None:
    """Replace reads of ``subst``'s variables everywhere but inside ``skip`` (whose phis read them)."""

    def s(a):
        return subst.get(id(a), a) if isinstance(a, Var) else a

    for item in items:
        if item is skip:
            continue
        item.map_reads(s)
        for block in item.blocks():
            _substitute_outside(block, skip, subst)

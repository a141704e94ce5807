"""The rule for values that share one Python name (see :mod:`diffc.passes.cleanup`).

Control flow makes groups of values share a name: an if's branches, a loop's iterations. The
rule, checked here once for every block before emission: a member may be assigned only when no
later read needs an older one (the read moves first, or the old value is kept under a name of
its own), and an array is written in place only when nothing else still reads it (an alias, a
view, a loop's stack): otherwise it is copied first.
"""

from __future__ import annotations

from ..ir import (
    ACCUMULATES,
    Eqn,
    Loop,
    Var,
    deep_defs,
    each_in_block,
    each_item,
    item_reads,
    substitute,
    var_reads,
    walk,
)
from .liveness import EFFECTS

# Statements that write into their first input's array when the emitter gives the result the same name.
IN_PLACE = {"setitem", "zero_at", "index_add"}
# Statements written over two lines (``out = ...`` first): their other inputs are read after ``out`` is bound.
TWO_LINES = {"setitem", "zero_at", "scatter_add", "index_add"}
# Calls whose result may be their first argument itself.
MAY_RETURN_INPUT = {"_unbroadcast", "asarray", "broadcast_to", "atleast_1d"}


def keep_old_values(block: list, group: dict, roots: dict | None = None) -> None:
    """One rule for every block: a name that a group of values shares (an if's branches, a loop's
    iterations) may be assigned a new member only if no later read needs the old one.

    When an item assigns a member and a later item (or the item itself, for a statement written
    over two lines) still reads an older member, the reading equation is moved before the
    assignment when it can be (its inputs exist already); otherwise the old value is kept under a
    name of its own (``a, b = b, a`` in a loop). A write in place into an array (``g[i] = 0.0``) is
    never made while the old array is still read, under its own name or an alias: the write then
    reads the kept copy, so that the emitter copies the array before writing into it."""
    top = roots is None
    if top:
        roots = memory_roots(block)
    for item in block:
        for inner in item.blocks():
            keep_old_values(inner, group, roots)
    index = 0
    while index < len(block):
        if not _keep_one(block, index, group, roots):
            index += 1
    if top:
        _own_arrays(block, group)


def _own_arrays(items: list, group: dict) -> None:
    """Arrays written in place under a shared name are the writer's own: where such a group takes
    its value from an array that is read again later (under another name, or a view of it), or a
    loop's stack keeps it, the value is copied (``np.copy``) instead of shared."""
    writers = [e for e in walk(items) if e.op in IN_PLACE and isinstance(e.ins[0], Var)]
    if not writers:
        return
    order, loops, reads = {}, {}, {}  # id(item) -> position, enclosing loops; id(var) -> its readers

    def visit(block, enclosing):
        for item in block:
            order[id(item)], loops[id(item)] = len(order), enclosing
            for a in var_reads(item):
                reads.setdefault(id(a), []).append(item)
            for inner in item.blocks():
                visit(inner, enclosing | ({id(item)} if isinstance(item, Loop) else set()))

    visit(items, frozenset())

    def after(reader, mark) -> bool:  # may ``reader`` run after ``mark``?
        return order[id(reader)] > order[id(mark)] or bool(loops[id(reader)] & loops[id(mark)])

    for gid in {group[id(w.out)] for w in writers if group.get(id(w.out)) == group.get(id(w.ins[0])) is not None}:
        roots = memory_roots(items, exclude=gid, group=group)
        for entry in [e for e in walk(items) if e.op == "copy" and group.get(id(e.out)) == gid
                      and isinstance(e.ins[0], Var) and group.get(id(e.ins[0])) != gid]:
            root = roots.get(id(entry.ins[0]), id(entry.ins[0]))
            shared = [v for v in _vars(items) if roots.get(id(v), id(v)) == root and group.get(id(v)) != gid]
            for v in shared:
                readers = reads.get(id(v), [])
                seen = not readers or any(after(r, entry) and not _passes_on(r, root, roots) for r in readers)
                if seen:
                    entry.op = "array_copy"
                    break
    everything = memory_roots(items, group=group)
    written = {everything.get(id(w.ins[0]), id(w.ins[0])) for w in writers}
    pushes = {id(e) for e in walk(items) if e.op == "push" and isinstance(e.ins[1], Var)}
    for push, block in [(e, b) for e, b in each_in_block(items) if id(e) in pushes]:
        if everything.get(id(push.ins[1]), id(push.ins[1])) in written:
            saved = Var(label=("", push.ins[1]))
            block.insert(next(i for i, e in enumerate(block) if e is push), Eqn("array_copy", (push.ins[1],), saved))
            push.ins = (push.ins[0], saved)


def _passes_on(reader, root, roots) -> bool:
    """True if ``reader`` only hands the array on to another alias of it (whose reads count instead)."""
    if isinstance(reader, Eqn):
        return roots.get(id(reader.out), id(reader.out)) == root
    return False


def _vars(items):
    """Every variable the items define or read, nested blocks and loop headers included."""
    for item in each_item(items):
        yield from item.defs()
        yield from var_reads(item)
        yield from (v for members in item.merged() for v in members if isinstance(v, Var))
        yield from item.header_defs()


def _keep_one(block: list, index: int, group: dict, roots: dict) -> bool:
    """Repairs the first conflict the item at ``index`` makes; True if the block changed."""
    item = block[index]
    written = {group[id(d)] for d in deep_defs(item) if id(d) in group}
    if not written:
        return False
    own = {id(d) for d in deep_defs(item)}
    defined_at = {id(d): i for i, it in enumerate(block) for d in deep_defs(it)}

    def is_stale(a):
        return isinstance(a, Var) and group.get(id(a)) in written and id(a) not in own and \
            defined_at.get(id(a), -1) <= index

    # Arrays from before the item that it writes into in place (the result shares their name).
    olds = [e.ins[0] for e in walk([item]) if e.op in IN_PLACE and isinstance(e.ins[0], Var)
            and id(e.ins[0]) not in own and group.get(id(e.ins[0])) == group.get(id(e.out)) is not None]
    if isinstance(item, Eqn) and item.op in TWO_LINES:
        stale = next((a for a in item.ins[1:] if is_stale(a)), None)
        if stale is not None:  # out = old.copy(); out[i] = stale: the second line reads the new out
            _keep_copy(block, stale, index, defined_at, roots, including_item=True)
            return True
    for position in range(index + 1, len(block)):
        later = block[position]
        stale = next((a for a in item_reads(later) if is_stale(a)), None)
        if stale is None:
            continue
        positions = _movable(block, index, position, group)
        if positions is not None:
            _move_before(block, index, positions)  # read the old value before the new one is made
        else:
            _keep_copy(block, stale, index, defined_at, roots, including_item=any(stale is o for o in olds))
        return True
    for old in olds:  # an alias of the array (a copy, a view) is read after the write: copy, then write
        root = roots.get(id(old), id(old))
        for position in range(index + 1, len(block)):
            # An alias made after the write is one of the new array (one of the old would read the old
            # array or an earlier alias of it, caught where it does).
            if any(isinstance(a, Var) and a is not old and id(a) not in own and roots.get(id(a), id(a)) == root
                   and defined_at.get(id(a), -1) <= index for a in item_reads(block[position])):
                positions = _movable(block, index, position, group)
                if positions is not None:  # use the alias before the write
                    _move_before(block, index, positions)
                    return True
                copy = Var(label=("", old))
                roots[id(copy)] = root
                block.insert(index, Eqn("copy", (old,), copy, {"_keep": True}))
                substitute([item], {id(old): copy})
                return True
    return False


def _movable(block: list, index: int, position: int, group: dict) -> list[int] | None:
    """The positions of ``block[position]`` and of the equations it needs that were made after
    ``index``, if all of them can be computed before position ``index`` instead; else None."""
    made = {id(d): i for i, it in enumerate(block[index:position], index) for d in deep_defs(it)}
    chosen, todo = set(), [position]
    while todo:
        at = todo.pop()
        eqn = block[at]
        if at == index or not isinstance(eqn, Eqn) or eqn.op in EFFECTS or \
                id(eqn.out) in group and eqn.op not in ACCUMULATES and not _heads_sum(block, at, group):
            return None  # a running sum's step may move (checked again), and the fresh array it starts from
        chosen.add(at)
        todo += [made[id(a)] for a in eqn.ins if isinstance(a, Var) and id(a) in made and made[id(a)] not in chosen]
    return sorted(chosen)


def _heads_sum(block: list, at: int, group: dict) -> bool:
    """True if ``block[at]`` makes the array a sum adds into in place (``t = g * p`` before ``t[j] += h``):
    every other value under its name is an accumulation into it made later in this block."""
    gid = group[id(block[at].out)]
    others = {vid for vid, g in group.items() if g == gid and vid != id(block[at].out)}
    later = {id(e.out) for e in block[at + 1:] if isinstance(e, Eqn) and e.op in ACCUMULATES}
    return others <= later


def _move_before(block: list, index: int, positions: list[int]) -> None:
    moved = [block[p] for p in positions]
    for p in reversed(positions):
        del block[p]
    block[index:index] = moved


def _keep_copy(block: list, stale: Var, index: int, defined_at: dict, roots: dict, including_item: bool) -> None:
    """``stale`` copied where it is made, under a name of its own; the reads from ``index`` on use it."""
    copy = Var(label=("", stale))
    roots[id(copy)] = roots.get(id(stale), id(stale))
    substitute(block[index if including_item else index + 1:], {id(stale): copy})
    block.insert(defined_at.get(id(stale), -1) + 1, Eqn("copy", (stale,), copy, {"_keep": True}))


def memory_roots(items, exclude=None, group=None) -> dict[int, int]:
    """id(var) -> id of the array it may share memory with: through copies, views and writes in
    place, and (given ``group``) through an if's branches and a loop's iterations, except those of
    the group ``exclude``."""
    from ..frontend.lower import VIEW_OPS

    parent: dict[int, int] = {}

    def find(x):
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    def union(a, b):
        if isinstance(a, Var) and isinstance(b, Var):
            ra, rb = find(id(a)), find(id(b))
            if ra != rb:
                parent[ra] = rb

    for eqn in walk(items):
        if eqn.op in VIEW_OPS | MAY_RETURN_INPUT and eqn.ins and isinstance(eqn.ins[0], Var):
            union(eqn.out, eqn.ins[0])
    if group is not None:  # values an if or a loop gives one name: one array, unless ``exclude``d
        for item in each_item(items):
            for m in item.merged():
                if exclude is None or group.get(id(m[0])) != exclude:
                    for other in m[1:]:
                        union(m[0], other)
    return {k: find(k) for k in parent}

"""Cleanup passes between the reverse transform and the emitter.

They decide which values get a line of their own. A value gets a line (is
*named*) when the user named it, when it is the function's output, when it
is a parameter's gradient, when it is the gradient of a named value, when it
is used more than once, or when control flow assigns it (a phi or a value a
loop carries). Everything else is a single-use temporary and is written
inline in the expression that uses it, if that use is in the same block and
no name it reads is re-assigned in between. Copies of unnamed gradients are
propagated away, so no line is a copy of a copy, and values nothing needs
are dropped. All passes are deterministic (list order only).
"""

from __future__ import annotations

from .ir import Eqn, If, Loop, Var, each_item, item_defs, item_reads, substitute, walk

# Equations kept for what they do, not for a value (the loops' tape).
EFFECTS = {"push", "pop", "new_stack"}
# Inlining stops at this depth of nested operations: longer chains read better, and compile in
# linear time, as lines of their own.
MAX_INLINE_DEPTH = 8


def dce(items: list, needed: set) -> list:
    """Keep only what the ``needed`` ids (updated in place) and the tape need."""
    kept = []
    for item in reversed(items):
        if isinstance(item, Eqn):
            if id(item.out) in needed or item.op in EFFECTS:
                kept.append(item)
                needed.update(id(a) for a in item.ins if isinstance(a, Var))
        elif isinstance(item, If):
            item.phis = [p for p in item.phis if id(p.out) in needed]
            item.then = dce(item.then, {id(p.then) for p in item.phis} | needed)
            item.orelse = dce(item.orelse, {id(p.orelse) for p in item.phis} | needed)
            if item.phis or _has_effects(item):
                kept.append(item)
                needed.update(id(a) for a in item_reads(item) if isinstance(a, Var))
        else:
            inner = {id(c.end) for c in item.carried if id(c.final) in needed} | needed | {id(item.test)}
            while True:
                reads = _live_reads([*item.cond, *item.body], set(inner))
                more = {id(c.end) for c in item.carried if id(c.start) in reads} - inner
                if not more:
                    break
                inner |= more
            item.carried = [c for c in item.carried if id(c.end) in inner]
            item.body = dce(item.body, inner)
            if item.carried or _has_effects(item):
                kept.append(item)
                needed.update(id(a) for a in item_reads(item) if isinstance(a, Var))
    return kept[::-1]


def _live_reads(items: list, needed: set) -> set:
    """What ``dce(items, needed)`` would keep reading, without changing ``items``."""
    for item in reversed(items):
        if isinstance(item, Eqn):
            if id(item.out) in needed or item.op in EFFECTS:
                needed.update(id(a) for a in item.ins if isinstance(a, Var))
        elif isinstance(item, If):
            phis = [p for p in item.phis if id(p.out) in needed]
            if phis or _has_effects(item):
                needed.add(id(item.cond))
                needed |= _live_reads(item.then, {id(p.then) for p in phis} | needed)
                needed |= _live_reads(item.orelse, {id(p.orelse) for p in phis} | needed)
        else:
            inner = {id(c.end) for c in item.carried if id(c.final) in needed} | needed | {id(item.test)}
            reads = _live_reads([*item.cond, *item.body], set(inner))
            while True:
                more = {id(c.end) for c in item.carried if id(c.start) in reads} - inner
                if not more:
                    break
                inner |= more
                reads = _live_reads([*item.cond, *item.body], set(inner))
            needed |= reads | {id(a) for a in item.args if isinstance(a, Var)}
            needed |= {id(c.init) for c in item.carried if id(c.end) in inner and isinstance(c.init, Var)}
            needed.add(id(item.test))
    return needed


def _has_effects(item) -> bool:
    blocks = [item.then, item.orelse] if isinstance(item, If) else [item.cond, item.body]
    return any((isinstance(i, Eqn) and i.op in EFFECTS) or (not isinstance(i, Eqn) and _has_effects(i))
               for block in blocks for i in block)


def groups(items) -> dict[int, int]:
    """Variables control flow makes share one Python name: id(var) -> id of its group."""
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
        if isinstance(item, If):
            for phi in item.phis:
                union(phi.out, phi.then, phi.orelse)
        elif isinstance(item, Loop):
            for c in item.carried:
                union(c.init, c.start, c.end, c.final)
    return {k: find(k) for k in parent}


def normalize(items: list) -> None:
    """Give every phi member and loop initial value a variable of its own, assigned where it belongs."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, If):
            normalize(item.then)
            normalize(item.orelse)
            for block, side in ((item.then, "then"), (item.orelse, "orelse")):
                seen: set[int] = set()
                for phi in item.phis:
                    atom = getattr(phi, side)
                    local = isinstance(atom, Var) and any(atom is d for i in block for d in item_defs(i))
                    if not local or id(atom) in seen:
                        copy = Var(atom.hint if isinstance(atom, Var) else None)
                        block.append(Eqn("copy", (atom,), copy))
                        setattr(phi, side, copy)
                        atom = copy
                    seen.add(id(atom))
        elif isinstance(item, Loop):
            normalize(item.body)
            made_for_loop = {id(i.out) for i in items[:index] if isinstance(i, Eqn) and i.params.get("_carry")}
            ends: set[int] = set()  # two carried values may end equal: each needs a variable of its own
            for c in item.carried:
                local = isinstance(c.end, Var) and any(c.end is d for i in item.body for d in item_defs(i))
                if not local or c.end is c.start or id(c.end) in ends:
                    copy = Var(c.start.hint, primal=c.start.primal)
                    item.body.append(Eqn("copy", (c.end,), copy))
                    c.end = copy
                ends.add(id(c.end))
                if id(c.init) in made_for_loop:
                    continue  # the frontend's own copy, made for this loop
                copy = Var(c.start.hint, primal=c.start.primal)
                items.insert(index, Eqn("copy", (c.init,), copy))
                c.init = copy


# Statements that write into their first input's array when the emitter gives the result the same name.
IN_PLACE = {"setitem", "zero_at"}
# Statements written over two lines (``out = ...`` first): their other inputs are read after ``out`` is bound.
TWO_LINES = {"setitem", "zero_at", "scatter_add"}
# Calls whose result may be their first argument itself.
MAY_RETURN_INPUT = {"_unbroadcast", "numpy.asarray", "numpy.broadcast_to", "numpy.atleast_1d"}


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
        for inner in ([item.then, item.orelse] if isinstance(item, If) else
                      [item.cond, item.body] if isinstance(item, Loop) else []):
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
            for a in item_reads(item) if isinstance(item, Eqn) else _own_reads(item):
                if isinstance(a, Var):
                    reads.setdefault(id(a), []).append(item)
            for inner in ([item.then, item.orelse] if isinstance(item, If) else
                          [item.cond, item.body] if isinstance(item, Loop) else []):
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
                    entry.op = "numpy.copy"
                    break
    everything = memory_roots(items, group=group)
    written = {everything.get(id(w.ins[0]), id(w.ins[0])) for w in writers}
    for block, push in [(b, e) for b in _blocks(items) for e in b
                        if isinstance(e, Eqn) and e.op == "push" and isinstance(e.ins[1], Var)]:
        if everything.get(id(push.ins[1]), id(push.ins[1])) in written:
            saved = Var(label=("", push.ins[1]))
            block.insert(next(i for i, e in enumerate(block) if e is push), Eqn("numpy.copy", (push.ins[1],), saved))
            push.ins = (push.ins[0], saved)


def _own_reads(item) -> list:
    """What an If or a Loop reads itself (not its nested items)."""
    if isinstance(item, If):
        return [item.cond, *(p.then for p in item.phis), *(p.orelse for p in item.phis)]
    return [*item.args, item.test, *(c.init for c in item.carried), *(c.end for c in item.carried)]


def _passes_on(reader, root, roots) -> bool:
    """True if ``reader`` only hands the array on to another alias of it (whose reads count instead)."""
    if isinstance(reader, Eqn):
        return roots.get(id(reader.out), id(reader.out)) == root
    return False


def _vars(items):
    for item in each_item(items):
        if isinstance(item, Eqn):
            yield item.out
            yield from (a for a in item.ins if isinstance(a, Var))
        else:
            yield from (a for a in _own_reads(item) if isinstance(a, Var))
            yield from _group_vars(item)


def _group_vars(item):
    if isinstance(item, If):
        return [v for p in item.phis for v in (p.out, p.then, p.orelse) if isinstance(v, Var)]
    return [v for c in item.carried for v in (c.init, c.start, c.end, c.final) if isinstance(v, Var)] + \
        ([item.target] if item.target is not None else [])


def _blocks(items):
    yield items
    for item in each_item(items):
        if isinstance(item, If):
            yield item.then
            yield item.orelse
        elif isinstance(item, Loop):
            yield item.cond
            yield item.body


def _keep_one(block: list, index: int, group: dict, roots: dict) -> bool:
    """Repairs the first conflict the item at ``index`` makes; True if the block changed."""
    item = block[index]
    written = {group[id(d)] for d in _deep_defs(item) if id(d) in group}
    if not written:
        return False
    own = {id(d) for d in _deep_defs(item)}
    defined_at = {id(d): i for i, it in enumerate(block) for d in _deep_defs(it)}

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
            if any(isinstance(a, Var) and a is not old and id(a) not in own and roots.get(id(a), id(a)) == root
                   for a in item_reads(block[position])):
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
    made = {id(d): i for i, it in enumerate(block[index:position], index) for d in _deep_defs(it)}
    chosen, todo = set(), [position]
    while todo:
        at = todo.pop()
        eqn = block[at]
        if at == index or not isinstance(eqn, Eqn) or eqn.op in EFFECTS or id(eqn.out) in group:
            return None
        chosen.add(at)
        todo += [made[id(a)] for a in eqn.ins if isinstance(a, Var) and id(a) in made and made[id(a)] not in chosen]
    return sorted(chosen)


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
    from .frontend import VIEW_OPS

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

    for item in each_item(items):
        if isinstance(item, Eqn):
            if item.op in VIEW_OPS | MAY_RETURN_INPUT and item.ins and isinstance(item.ins[0], Var):
                union(item.out, item.ins[0])
        elif group is not None:
            members = [(p.out, p.then, p.orelse) for p in item.phis] if isinstance(item, If) else \
                [(c.init, c.start, c.end, c.final) for c in item.carried]
            for m in members:
                if exclude is None or group.get(id(m[0])) != exclude:
                    for other in m[1:]:
                        union(m[0], other)
    return {k: find(k) for k in parent}


def use_counts(items, roots) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in [*(a for item in items for a in item_reads(item)), *roots]:
        if isinstance(a, Var):
            counts[id(a)] = counts.get(id(a), 0) + 1
    return counts


def propagate_copies(items: list, keep, replace=None) -> list:
    """Remove ``out = copy(a)`` where ``out`` is not kept, using ``a`` in its place (nested blocks too)."""
    replace = {} if replace is None else replace
    result = []
    for item in items:
        if replace:
            substitute([item], replace)
        if isinstance(item, Eqn) and item.op == "copy" and not keep(item.out):
            replace[id(item.out)] = item.ins[0]
            continue
        if isinstance(item, If):
            item.then = propagate_copies(item.then, keep, replace)
            item.orelse = propagate_copies(item.orelse, keep, replace)
        elif isinstance(item, Loop):
            item.body = propagate_copies(item.body, keep, replace)
        result.append(item)
    return result


def plan(forward: list, backward: list, params: list[Var], roots: list):
    """The items to emit, the ids of the variables written inline, and the name groups."""
    items = dce(forward + backward, {id(r) for r in roots if isinstance(r, Var)})
    normalize(items)
    group = groups(items)
    counts = use_counts(items, roots)
    root_ids = {id(r) for r in roots if isinstance(r, Var)}
    named = {id(p) for p in params} | root_ids | set(group)
    for item in each_item(items):
        if isinstance(item, Loop) and item.target is not None:
            named.add(id(item.target))
        if not isinstance(item, Eqn):
            continue
        v = item.out
        if item.op in ("setitem", "scatter_add", "zero_at", "pop", "new_stack", "push") or item.params.get("_keep"):
            named.add(id(v))  # written as statements of their own, or a copy that must stay
        elif v.primal is None:
            if v.hint is not None or counts.get(id(v), 0) > 1:
                named.add(id(v))
        elif id(v.primal) in named:
            named.add(id(v))
    items = propagate_copies(items, lambda v: id(v) in named)
    # After the copies are gone, so that the reads it checks are the reads that will be written.
    keep_old_values(items, group)
    named |= {id(e.out) for e in walk(items) if e.params.get("_keep")}
    counts = use_counts(items, roots)
    inline: set[int] = set()
    _choose_inline(items, named, counts, group, inline)
    return items, inline, group


def _choose_inline(items: list, named: set, counts: dict, group: dict, inline: set) -> None:
    """Mark single-use temporaries whose one use is a later equation of the same block."""
    position = {}
    for index, item in enumerate(items):
        if isinstance(item, Eqn):
            position[id(item.out)] = index
        elif isinstance(item, If):
            _choose_inline(item.then, named, counts, group, inline)
            _choose_inline(item.orelse, named, counts, group, inline)
        else:
            _choose_inline(item.body, named, counts, group, inline)
            for eqn in item.cond:  # a while loop's test is written in its header
                inline.add(id(eqn.out))
    depth: dict[int, int] = {}  # how deep the expression written for an inlined variable is
    reads: dict[int, set] = {}  # the name groups it reads
    for index, item in enumerate(items):
        if not isinstance(item, Eqn):
            continue
        mine = {group[id(a)] for a in item.ins if isinstance(a, Var) and id(a) in group}
        level = 1
        for a in item.ins:
            if not isinstance(a, Var) or id(a) not in position or id(a) in named or counts.get(id(a)) != 1:
                continue
            if depth.get(id(a), 1) >= MAX_INLINE_DEPTH:
                continue  # a long chain (a sum of many terms) gets lines of its own
            shared = reads.get(id(a), set())
            if shared and any(group.get(id(d)) in shared for i in items[position[id(a)] + 1:index]
                              for d in _deep_defs(i)):
                continue  # a name it reads is assigned again before the use
            inline.add(id(a))
            level = max(level, depth.get(id(a), 1) + 1)
            mine |= shared
        depth[id(item.out)], reads[id(item.out)] = level, mine


def _deep_defs(item) -> list:
    if isinstance(item, Eqn):
        return [item.out]
    found = list(item_defs(item))
    blocks = [item.then, item.orelse] if isinstance(item, If) else [item.body]
    for block in blocks:
        for inner in block:
            found += _deep_defs(inner)
    if isinstance(item, Loop):
        found += [c.start for c in item.carried]
    return found

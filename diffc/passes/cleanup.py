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

import bisect

from ..ir import (
    Const,
    Eqn,
    If,
    Loop,
    Var,
    all_blocks,
    deep_defs,
    each_item,
    item_defs,
    item_reads,
    substitute,
    var_reads,
    walk,
)
from ..ops.custom import IDENTITIES
from .liveness import groups, live_items
from .sharing import IN_PLACE, keep_old_values, memory_roots

# Inlining stops at this depth of nested operations: longer chains read better, and compile in
# linear time, as lines of their own.
MAX_INLINE_DEPTH = 8


def dce(items: list, needed: set) -> list:
    """Keep only what the ``needed`` ids (updated in place) and the tape need (see :mod:`.liveness`)."""
    return live_items(items, needed)


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
                    copy = Var(c.start.hint, primal=c.start.primal, tangent=c.start.tangent)
                    item.body.append(Eqn("copy", (c.end,), copy))
                    c.end = copy
                ends.add(id(c.end))
                if id(c.init) in made_for_loop:
                    continue  # the frontend's own copy, made for this loop
                copy = Var(c.start.hint, primal=c.start.primal, tangent=c.start.tangent)
                items.insert(index, Eqn("copy", (c.init,), copy))
                c.init = copy


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


def drop_unread_stacks(items: list, roots: set) -> list:
    """Without the loops' stacks whose popped values nothing reads (a value the backward pass came
    to need only for what it no longer computes): their pushes and pops go, then what only the
    pushes read. ``dce`` keeps the tape as an effect, so this is asked separately."""
    while True:
        items = dce(items, set(roots))
        read = {id(a) for item in each_item(items) for a in item.reads() if isinstance(a, Var)} | roots
        dead = {id(e.ins[0]) for e in walk(items) if e.op == "pop" and id(e.out) not in read}
        if not dead:
            return items
        for block in list(all_blocks(items)):
            block[:] = [e for e in block if not (isinstance(e, Eqn) and (
                e.op == "new_stack" and id(e.out) in dead or e.op in ("push", "pop") and id(e.ins[0]) in dead))]


def erase_identities(items: list, keep: bool = False) -> set[int]:
    """Once differentiated, ``stop_gradient(x)`` and a custom rule's call are their first input (a copy):
    generated code never calls diffc (:mod:`diffc.ops.custom`). Returns the ids of the copies' results.
    With ``keep``, the equations are replaced by copies in their blocks, not changed: the tools read the
    original's inputs (a custom rule's edges) afterwards."""
    erased = set()
    for block in list(all_blocks(items)):
        for index, eqn in enumerate(block):
            if isinstance(eqn, Eqn) and eqn.op in IDENTITIES:
                if keep:
                    block[index] = Eqn("copy", eqn.ins[:1], eqn.out, {}, eqn.lineno, eqn.col, eqn.origin)
                else:
                    eqn.op, eqn.ins, eqn.params = "copy", eqn.ins[:1], {}
                erased.add(id(eqn.out))
    return erased


_STATEMENTS = ("setitem", "scatter_add", "zero_at", "index_add", "pop", "new_stack", "push")


def plan(forward: list, backward: list, params: list[Var], roots: list, *, fast: bool = False,
         renamed: dict | None = None, numbers=frozenset()):
    """The items to emit, the ids of the variables written inline, and the name groups.

    With ``fast`` (the form the decorator runs), a gradient that is a copy of another value gets no line
    of its own (``grad_x = grad_q``: ``grad_q`` is used in its place; a returned one is the value it
    copied: ``renamed`` receives those roots, ``id(copy) -> atom``), and an integer literal beside a value
    that is a float in backward arithmetic is written as a float (``1.0 - L``): CPython's float operations
    are quicker on two floats, and the result is the same number. The gradients whose ids are in
    ``numbers`` (scalars) and that nothing but the return reads are written in the return itself."""
    erased = erase_identities(forward) | erase_identities(backward)  # a rule's code may stop gradients too
    items = drop_unread_stacks(forward + backward, {id(r) for r in roots if isinstance(r, Var)})
    normalize(items)
    group = groups(items)
    writes_in_place(items, backward, group, params)
    floats = float_literals(forward, backward) if fast else set()
    counts = use_counts(items, roots)
    root_ids = {id(r) for r in roots if isinstance(r, Var)}
    named = {id(p) for p in params} | root_ids | set(group)
    named.update(id(v) for item in each_item(items) for v in item.header_defs())  # a loop's target
    for item in walk(items):
        v = item.out
        if item.op in _STATEMENTS or \
                item.params.get("_keep"):
            named.add(id(v))  # written as statements of their own, or a copy that must stay
        elif v.primal is None:
            if v.hint is not None and not (fast and numbers) or counts.get(id(v), 0) > 1 and id(v) not in erased:
                named.add(id(v))
        elif id(v.primal) in named:
            named.add(id(v))
    params_ids = {id(p) for p in params}
    keep = (lambda v: id(v) in named) if not fast else \
        (lambda v: id(v) in named and (v.primal is None or id(v) in group or id(v) in params_ids))
    replace: dict = {}
    items = propagate_copies(items, keep, replace)
    if fast and fold_ones(items, backward, floats):
        items = propagate_copies(items, keep, replace)
    if renamed is not None:
        renamed.update((k, _final(replace, a)) for k, a in replace.items() if k in root_ids)
    roots = [_final(replace, r) for r in roots]
    # After the copies are gone, so that the reads it checks are the reads that will be written.
    keep_old_values(items, group)
    named |= {id(e.out) for e in walk(items) if e.params.get("_keep")}
    counts = use_counts(items, roots)
    inline: set[int] = set()
    if fast and numbers:
        # A number's gradient read by the return alone is written there (return ds * x0, ...), as the
        # line that computes it would be: a pseudo-equation for the return lets the usual checks decide.
        top = {id(i.out): i for i in items if isinstance(i, Eqn)}
        named -= {id(r) for r in roots if isinstance(r, Var) and id(r) in numbers and id(r) in top and
                  id(r) not in group and not top[id(r)].params.get("_keep") and top[id(r)].op not in _STATEMENTS}
        items.append(Eqn("tuple", tuple(roots), Var()))
        _choose_inline(items, named, counts, group, inline)
        items.pop()
    else:
        _choose_inline(items, named, counts, group, inline)
    return items, inline, group


# Ops whose result may be one of their inputs itself (b if flag else b, max(a, b), a or b, a call
# of the user's, np.asarray(b)): for writes in place, their result shares memory with every input.
_MAY_BE_AN_INPUT = {"select", "opaque", "or", "and", "max", "min", "asarray", "atleast_1d", "atleast_2d",
                    "atleast_3d", "broadcast_to", "real", "float", "float64", "double", "float_", "array",
                    "astype", "_unbroadcast"}


def _may_share(items: list, roots: dict) -> dict:
    """``roots`` (id -> memory root) with the results of :data:`_MAY_BE_AN_INPUT` joined to their inputs."""
    parent = dict(roots)

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for eqn in walk(items):
        if eqn.op in _MAY_BE_AN_INPUT or eqn.op.startswith(("numpy.", "math.", "scipy.")):
            for a in eqn.ins:
                if isinstance(a, Var):
                    ra, rb = find(id(eqn.out)), find(id(a))
                    if ra != rb:
                        parent[ra] = rb
    return {k: find(k) for k in list(parent) + [id(v) for e in walk(items) for v in e.ins if isinstance(v, Var)]}


def writes_in_place(items: list, backward: list, group: dict, params: list[Var]) -> None:
    """The user's ``dW[:, j] += X[i]`` writes into dW, as in the user's code, instead of copying it
    (``dW_1 = dW.copy(); dW_1[:, j] = ...``, a whole array per write): each ``setitem`` whose array
    and result bear the user's same name joins the name group of that array, so that it is written
    in place. :func:`keep_old_values` then keeps a copy wherever the old array is still read (under
    its name or an alias, or on a loop's stack). Never into a parameter's memory: the caller's
    arrays are not written."""
    roots = _may_share(items, memory_roots(items, group=group))
    theirs = {roots.get(id(p), id(p)) for p in params}
    hints: dict[int, set] = {}  # memory root -> the user's names of the values that share it
    for item in each_item(items):
        for v in item.defs():
            if v.hint is not None:
                hints.setdefault(roots.get(id(v), id(v)), set()).add(v.hint)
    # What the backward pass reads of the forward arrays: an old array it reads stays a copy of its own
    # (written in place, the read would have to move into the forward lines).
    late = {id(a) for item in each_item(backward) for a in var_reads(item)}
    late_roots = {roots.get(vid, vid) for vid in late}
    made: dict[int, int] = {}
    for at, eqn in enumerate(walk(items)):
        made[id(eqn.out)] = at
        a = eqn.ins[0] if eqn.op == "setitem" and eqn.ins else None
        if not isinstance(a, Var) or a.hint is None or a.hint != eqn.out.hint or a.is_param or \
                roots.get(id(a), id(a)) in theirs or len(hints.get(roots.get(id(a), id(a)), ())) > 1:
            continue  # also not where the user's code shares the array under another name (binary = margins)
        root = roots.get(id(a), id(a))
        if id(a) in late or root in late_roots and any(
                vid in late and roots.get(vid, vid) == root for vid, when in made.items() if when < at):
            continue
        old, new = group.setdefault(id(a), id(a)), group.get(id(eqn.out), id(eqn.out))
        group[id(eqn.out)] = old
        if new != old:
            for k, g in group.items():
                if g == new:
                    group[k] = old


def _final(replace: dict, atom):
    """What ``atom`` stands for once every copy in ``replace`` is gone (a copy of a copy too)."""
    while isinstance(atom, Var) and id(atom) in replace:
        atom = replace[id(atom)]
    return atom


# Ops whose result is a float (or a float array) whatever their inputs: an integer literal beside one
# gives the same number as a float literal.
_FLOAT_RESULT = {"sigmoid", "div", *(f"{prefix}{name}" for prefix in ("scalar_", "") for name in (
    "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "erf", "erfc"))}
_ARITHMETIC = ("add", "sub", "mul")


def float_literals(forward: list, backward: list) -> None:
    """``1 - L`` -> ``1.0 - L`` where L is a float: a product, sum or difference of floats, a float
    literal, or the result of an op in :data:`_FLOAT_RESULT`. Backward items only (the user's lines stay
    as written). Bit-identical: a small integer converts exactly, and NumPy keeps a float32 array's dtype
    under a Python float as under a Python int."""
    floats: set[int] = set()

    def is_float(a) -> bool:
        return isinstance(a, Const) and type(a.value) is float or isinstance(a, Var) and id(a) in floats

    for eqn in walk(forward + backward):
        if eqn.op in _FLOAT_RESULT or eqn.op in _ARITHMETIC and any(is_float(a) for a in eqn.ins):
            floats.add(id(eqn.out))
    for eqn in walk(backward):
        if eqn.op in _ARITHMETIC and len(eqn.ins) == 2 and any(is_float(a) for a in eqn.ins):
            eqn.ins = tuple(Const(float(a.value)) if isinstance(a, Const) and type(a.value) is int and
                            abs(a.value) < 2 ** 53 else a for a in eqn.ins)
    return floats


def fold_ones(items: list, backward: list, floats: set) -> bool:
    """``1.0 * t`` -> ``t`` where t is a float the backward pass made (the seed 1.0 meeting an array
    gradient, once its copy is gone): the same numbers; never a forward value or a parameter, so that
    no gradient returned is one of the caller's arrays. True if any changed (a copy now)."""
    made = {id(e.out) for e in walk(backward)}
    readers: dict[int, list] = {}
    for item in each_item(items):
        for a in var_reads(item):
            readers.setdefault(id(a), []).append(item)
    changed = False
    for eqn in walk(backward):
        if eqn.op == "mul" and len(eqn.ins) == 2:
            # 1.0 * t5 * 2.0 * W: t5 a forward number, but what reads the product makes a new value anyway
            passed_on = readers.get(id(eqn.out)) and all(isinstance(r, Eqn) and r.op in ("mul", "div", "add", "sub")
                                                         for r in readers[id(eqn.out)])
            for one, t in (eqn.ins, eqn.ins[::-1]):
                if isinstance(one, Const) and type(one.value) is float and one.value == 1.0 and \
                        isinstance(t, Var) and (id(t) in made or passed_on) and id(t) in floats:
                    eqn.op, eqn.ins, changed = "copy", (t,), True
                    break
    return changed


def plan_kept(forward: list, backward: list):
    """The plan when every value must keep a line and a name of its own (the tools' traced code)."""
    items = forward + backward
    erase_identities(items, keep=True)
    normalize(items)
    group = groups(items)
    keep_old_values(items, group)
    return items, set(), group


def _choose_inline(items: list, named: set, counts: dict, group: dict, inline: set, roots=None) -> None:
    """Mark single-use temporaries whose one use is a later equation of the same block.

    Not across a write in place into an array the temporary's expression reads (itself or a view
    of it, ``roots``): written at its use, the expression would read the array after the write."""
    if roots is None:
        roots = memory_roots(items, group=group)
    position = {}
    for index, item in enumerate(items):
        if isinstance(item, Eqn):
            position[id(item.out)] = index
        elif isinstance(item, If):
            _choose_inline(item.then, named, counts, group, inline, roots)
            _choose_inline(item.orelse, named, counts, group, inline, roots)
        else:
            _choose_inline(item.body, named, counts, group, inline, roots)
            for eqn in item.cond:  # a while loop's test is written in its header
                inline.add(id(eqn.out))
    writes: list[tuple[int, set]] = []  # (position, the arrays written in place there), in order
    for index, item in enumerate(items):
        arrays = {roots.get(id(e.ins[0]), id(e.ins[0])) for e in walk([item])
                  if e.op in IN_PLACE and isinstance(e.ins[0], Var)}
        if arrays:
            writes.append((index, arrays))
    depth: dict[int, int] = {}  # how deep the expression written for an inlined variable is
    reads: dict[int, set] = {}  # the name groups it reads
    memory: dict[int, set] = {}  # the arrays it reads
    for index, item in enumerate(items):
        if not isinstance(item, Eqn):
            continue
        mine = {group[id(a)] for a in item.ins if isinstance(a, Var) and id(a) in group}
        arrays = {roots.get(id(a), id(a)) for a in item.ins if isinstance(a, Var)}
        level = 1
        for a in item.ins:
            if not isinstance(a, Var) or id(a) not in position or id(a) in named or counts.get(id(a)) != 1:
                continue
            if depth.get(id(a), 1) >= MAX_INLINE_DEPTH:
                continue  # a long chain (a sum of many terms) gets lines of its own
            shared = reads.get(id(a), set())
            if shared and any(group.get(id(d)) in shared for i in items[position[id(a)] + 1:index]
                              for d in deep_defs(i)):
                continue  # a name it reads is assigned again before the use
            if items[position[id(a)]].op == "opaque" and any(e.params.get("_raise") == "call" for i in
                                                             items[position[id(a)] + 1:index] for e in walk([i])):
                continue  # np.random.rand() is not moved past np.random.seed(0)
            read = memory.get(id(a), set())
            first = bisect.bisect_right(writes, position[id(a)], key=lambda w: w[0])
            if any(written & read for at, written in writes[first:] if at < index):
                continue  # an array it reads is written in place before the use
            inline.add(id(a))
            level = max(level, depth.get(id(a), 1) + 1)
            mine |= shared
            arrays |= read
        depth[id(item.out)], reads[id(item.out)], memory[id(item.out)] = level, mine, arrays



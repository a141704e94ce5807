"""List and tuple literals: resolved at compile time where a person would, stacked where NumPy meets them.

A literal ``[a, a * a, 2]`` or ``(a, 2.0 * a)`` is one equation (it stays a
Python list or tuple in the generated code) whose items the frontend
remembers. Indexed by a literal integer, unpacked, iterated by ``for``,
passed to ``sum``/``max``/``min``/``len``, it is simply its items: no
container is differentiated. Passed to a NumPy function it is a stack,
``np.array([...])``, whose gradient goes back item by item. A comprehension
or generator expression over such a literal (or over ``range`` of literal
integers, ``zip`` or ``enumerate`` of them) is resolved the same way, item by
item; ``sum(...)`` of one over a run-time sequence is a loop keeping a
running sum. Anything else
done with a list of active values (a variable index, arithmetic on the list,
changing it in place) is left to the reverse pass, which refuses it when a
gradient would have to cross it.

Each function takes the :class:`~diffc.frontend.lower.Frontend` being lowered (``lo``) first;
``lo.seqs`` maps a literal's variable to its items and kind.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Const, Var
from ..ops.catalogue import shape_args  # arguments that are shapes or axes: a tuple there stays a tuple
from .scope import GlobalLiteral


def sequence(lo, node: ast.expr, items: list, kind: str) -> Var:
    out = lo.emit(kind.lower(), items, node)
    lo.seqs[id(out)] = (items, kind)
    return out


def items_of(lo, node: ast.expr):
    """The items of ``node`` if it is a list or tuple literal or a name bound to one, else None.
    A literal is lowered here (the caller must not lower it again)."""
    if isinstance(node, ast.Name) and isinstance(lo.env.get(node.id), Var):
        found = lo.seqs.get(id(lo.env[node.id]))
        return None if found is None else found[0]
    if isinstance(node, ast.Name) and node.id not in lo.env and isinstance(lo.scope.lookup(node.id), GlobalLiteral):
        atom = lo.expr(node)  # SCALES, WEIGHTS: a module-level literal (a dict gives its keys)
        return lo.seqs[id(atom)][0] if id(atom) in lo.seqs else [Const(k) for k in lo.dicts[id(atom)]]
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return comprehension_items(lo, node)
    if isinstance(node, (ast.List, ast.Tuple)):
        atom = lo.expr(node)
        return lo.seqs[id(atom)][0] if id(atom) in lo.seqs else [Const(v) for v in atom.value]
    return None


def item(lo, base: Var, node: ast.Subscript):
    """``t[k]`` for a literal integer ``k``: the item itself, or None if ``k`` is not a literal."""
    index = node.slice
    negative = isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
    literal = index.operand if negative else index
    if not (isinstance(literal, ast.Constant) and type(literal.value) is int):
        return None
    items = lo.seqs[id(base)][0]
    k = -literal.value if negative else literal.value
    return items[k] if -len(items) <= k < len(items) else None  # out of range: Python's IndexError


def stacked(lo, atom, node: ast.expr, op: str, position: int):
    """A list or tuple literal passed to NumPy function ``op``: ``np.array(...)`` of its items."""
    if not isinstance(atom, Var) or id(atom) not in lo.seqs or position in shape_args(op):
        return atom
    key = (id(atom), id(lo.eqns))  # one stack per list and block
    if key not in lo.stacks:
        items, kind = lo.seqs[id(atom)]
        lo.stacks[key] = lo.emit("array", items, node, _seq=kind)
        lo.stacks[key].label = atom.hint  # b = [1, a * a, 2]; np.sum(b): the array keeps the name b
    return lo.stacks[key]


def module_literal(lo, value, node: ast.Name):
    """A module-level tuple, list or dict of numbers and strings, used by name: its items are known here."""
    if isinstance(value, dict):
        return make_dict(lo, {k: module_literal(lo, v, node) for k, v in value.items()}, node)
    if isinstance(value, (tuple, list)):
        out = sequence(lo, node, [module_literal(lo, v, node) for v in value], type(value).__name__.title())
        out.label = node.id
        return out
    return Const(value)


def builtin_on_items(lo, node: ast.Call):
    """``sum``, ``max``, ``min``, ``len`` or ``sorted`` of a list or tuple literal (``sorted`` of items
    known here), or None if it is not one."""
    func = node.func
    if not (isinstance(func, ast.Name) and func.id in ("sum", "max", "min", "len", "sorted")
            and func.id not in lo.env and lo.scope.lookup(func.id) is None and len(node.args) == 1
            and not node.keywords):
        return None
    items = items_of(lo, node.args[0])
    if items is None:
        return None
    if func.id == "sorted":
        if not all(isinstance(i, Const) for i in items):
            return None
        return sequence(lo, node, sorted(items, key=lambda c: c.value), "List")
    if func.id == "len" or func.id == "sum" and not items:
        return Const(len(items))  # sum([]) == 0 == len([])
    if not items:
        lo.fail(UnsupportedError, node, f"{func.id}() of an empty sequence", "give it at least one value")
    if func.id != "sum":
        return items[0] if len(items) == 1 else lo.emit(func.id, tuple(items), node)
    total = items[0]
    for item in items[1:]:
        total = lo.emit("add", (total, item), node)
    return total


def unroll(lo, stmt: ast.For, items: list) -> None:
    """``for v in [a, b]: body``: the body once per item, with ``v`` bound to it."""
    for item in items:
        lo.bind(stmt.target.id, item, stmt)
        for inner in stmt.body:
            lo.statement(inner)


def seq_kind(lo, node: ast.expr) -> str:
    """'List' or 'Tuple': how a stack of ``node``'s items is written."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return type(node).__name__
    if isinstance(node, ast.Name):
        return lo.seqs[id(lo.env[node.id])][1]
    return "List"


def literal_items(lo, node: ast.expr):
    """The items of an iterable known at compile time: a literal, range of literal integers, zip or
    enumerate of those; else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords and \
            node.func.id in ("range", "zip", "enumerate") and node.func.id not in lo.env and \
            lo.scope.lookup(node.func.id) is None:
        if node.func.id == "range":
            try:
                bounds = [ast.literal_eval(a) for a in node.args]
            except ValueError:
                return None
            if not 1 <= len(bounds) <= 3 or not all(type(b) is int for b in bounds):
                return None
            return [Const(k) for k in range(*bounds)]
        parts = [literal_items(lo, a) for a in node.args]
        if not parts or any(p is None for p in parts) or node.func.id == "enumerate" and len(parts) != 1:
            return None
        if node.func.id == "enumerate":
            return [(Const(k), item) for k, item in enumerate(parts[0])]
        return list(zip(*parts))
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return None
    return items_of(lo, node)


def comprehension_items(lo, node):
    """``[f(x) for x in xs]`` over an iterable known at compile time: the list of its items, or None."""
    gen = node.generators[0]
    items = literal_items(lo, gen.iter)
    if items is None:
        return None
    names = [t.id for t in ast.walk(gen.target) if isinstance(t, ast.Name)]
    saved = {n: lo.env[n] for n in names if n in lo.env}
    out = []
    try:
        for item in items:
            bind_target(lo, gen.target, item, node)
            tests = [lo.expr(test) for test in gen.ifs]
            if any(not isinstance(t, Const) for t in tests):
                lo.fail(UnsupportedError, gen.ifs[0], "a condition in a comprehension must be known when "
                        "compiling here", "write the loop out with an 'if' inside")
            if all(t.value for t in tests):
                out.append(lo.expr(node.elt))
    finally:  # the comprehension's names are its own, as in Python 3
        for n in names:
            lo.env.pop(n, None)
        lo.env.update(saved)
    return out


def bind_target(lo, target, item, node):
    if isinstance(target, ast.Name):
        lo.env[target.id] = item
        return
    parts = item if isinstance(item, tuple) else lo.seqs.get(id(item), (None,))[0]
    if parts is None or len(parts) != len(target.elts):
        lo.fail(UnsupportedError, node, "this comprehension cannot unpack its items into "
                f"{len(target.elts)} names", "use as many names as each item has values")
    for t, part in zip(target.elts, parts):
        bind_target(lo, t, part, node)


def sum_loop(lo, node):
    """``sum(f(x) for x in X)`` over a run-time sequence: ``total = 0; for x in X: total += f(x)``."""
    from .scope import identifiers

    gen = node.generators[0]
    taken = identifiers(lo.fdef) | set(lo.env)
    total = next(n for n in ("total", *(f"total_{k}" for k in range(1, 1000))) if n not in taken)

    def at(n):
        return ast.copy_location(n, node)

    update = at(ast.AugAssign(at(ast.Name(total, ast.Store())), ast.Add(), node.elt))
    body = [at(ast.If(at(ast.BoolOp(ast.And(), list(gen.ifs))) if len(gen.ifs) > 1 else gen.ifs[0], [update],
                      [])) if gen.ifs else update]
    names = [t.id for t in ast.walk(gen.target) if isinstance(t, ast.Name)]
    saved = {n: lo.env[n] for n in names if n in lo.env}
    lo.env[total] = lo.emit("copy", (Const(0),), node, Var(total))
    try:
        lo.statement(at(ast.For(gen.target, gen.iter, body, [])))  # a for statement, as written out
    finally:
        for n in names:
            lo.env.pop(n, None)
        lo.env.update(saved)
    return lo.env.pop(total)


def make_dict(lo, items: dict, node, name=None) -> Var:
    """A dict built in the function (``grads = {}; grads['W1'] = dW1``): its keys are known here, so
    reads are its items; the dict itself is forward code (an aux output), with no gradient rule."""
    out = lo.emit("make_struct", tuple(items.values()), node, Var(name), keys=tuple(items), kind="dict")
    lo.dicts[id(out)] = items
    return out


def dict_key(lo, node):
    """The key of ``d['key']`` when ``d`` names a dict built in the function, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
            isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        var = lo.env.get(node.value.id)
        if isinstance(var, Var) and id(var) in lo.dicts:
            return node.slice.value
    return None


def known_item(lo, base, index: ast.expr):
    """``d[k]`` known here: of a dict built here or a module-level one, with ``k`` a name bound to a
    literal (``for k in sorted(WEIGHTS)`` unrolled), or ``p['k']`` after ``p['k'] = v`` (``v``; another key
    is read from ``p`` as it was before the writes, which did not change it). ``lo.written`` maps a dict
    written into to (the dict before the writes or None, {key: value written}, keys written on a path
    through a branch or a loop, whose value is not known here: refused). Else None."""
    if id(base) in lo.written and isinstance(index, ast.Constant) and isinstance(index.value, str):
        before, written, unknown = lo.written[id(base)]
        if index.value in written:
            return written[index.value]
        if index.value in unknown or before is None:
            lo.fail(UnsupportedError, index, f"this reads the key {index.value!r} of a dict written into on a "
                    "path through a branch or a loop: diffc cannot tell which value it reads",
                    "keep the value in a variable and read that")
        out = lo.emit("getitem", (before, Const(index.value)), index, index=("atom", 1))
        lo.aliases.item_of(out, before)
        return out
    if id(base) in lo.dicts and isinstance(index, ast.Name):
        return _dict_item(lo, base, lo.expr(index))
    return None


def merge_written(lo, a, b, keys=()) -> tuple:
    """What is known of the keys written into ``a`` or ``b`` (the two sides of an ``if``; for a loop, the
    value before it twice, and ``keys`` its body writes): the dict before the writes if they share it;
    keys written on either side are not known after."""
    sides = [lo.written.get(id(v), (v, {}, frozenset())) for v in (a, b)]
    before = sides[0][0] if sides[0][0] is sides[1][0] else None
    return before, {}, frozenset(keys).union(*(set(w) | u for _, w, u in sides))


def _dict_item(lo, base: Var, key):
    if isinstance(key, Var):  # k = 'a', a copy of the literal in this block
        key = next((e.ins[0] for e in reversed(lo.eqns) if getattr(e, "out", None) is key and e.op == "copy"),
                   None)
    if isinstance(key, Const) and key.value in lo.dicts[id(base)]:
        return lo.dicts[id(base)][key.value]
    return None

"""Assignments: binding names, unpacking, and writes in place (``x[i] = v``, ``x += v``, ``d['k'] = v``).

A write in place makes a new value of the name written (the IR has values,
not memory). That is Python's meaning only when no other name read later
may share the array (:class:`diffc.frontend.alias.Aliases`), when the array
is not the caller's (an inlined helper's parameter) and when it is not a
list or tuple; otherwise the write is refused with a hint to copy first.
A dict built in the function (``grads = {}``) gets a new version per write,
refused while another name read later refers to the old one.

Each function takes the :class:`~diffc.frontend.lower.Frontend` being lowered (``lo``) first.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Const, Var
from ..ops import catalogue as P
from . import sequences
from .alias import touched
from .desugar import field_label, only_appended_and_summed


def aug_assign(lo, stmt: ast.AugAssign) -> None:
    """``x += v``, ``x[i] += v``, ``grads['W1'] += v``: the new value under the same name."""
    op = P.BINOPS[type(stmt.op)]
    key = sequences.dict_key(lo, stmt.target)
    if key is not None:  # grads['W1'] += reg * W1
        name = stmt.target.value.id
        check_dict_write(lo, name, stmt)
        items = lo.dicts[id(lo.env[name])]
        if key not in items:
            lo.fail(UnsupportedError, stmt.target, f"'{name}' has no key {key!r} here",
                    "assign it before adding to it")
        items = {**items, key: lo.emit(op, (items[key], lo.expr(stmt.value)), stmt)}
        lo.env[name] = sequences.make_dict(lo, items, stmt, name)
        return
    if isinstance(stmt.target, ast.Subscript):
        check_mutation(lo, stmt.target.value, stmt)
        x = lo.name(stmt.target.value)
        ins, index = lo.index([x], stmt.target.slice)
        old = lo.emit("getitem", ins, stmt.target, index=index)
        rhs = sequences.stacked(lo, lo.expr(stmt.value), stmt.value, "setitem", 1)  # x[:2] += [a, b]
        new = lo.emit(op, (old, rhs), stmt)
        setitem(lo, stmt.target, x, new, ins[1:], _shift_index(index, 1), stmt)
        return
    if lo.uses_numpy:
        check_mutation(lo, stmt.target, stmt)
    old = lo.name(stmt.target)
    rhs = lo.expr(stmt.value)
    lo.env[stmt.target.id] = lo.emit(op, (old, rhs), stmt, Var(stmt.target.id))
    return


def assign(lo, stmt) -> None:
    """``a = v``, ``a, b = v``, ``x[i] = v``, ``grads['W1'] = v``, ``terms = []``."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    if any(isinstance(t, (ast.Tuple, ast.List)) for t in targets):
        unpack(lo, targets, stmt.value)
        return
    if isinstance(stmt.value, ast.List) and not stmt.value.elts and len(targets) == 1 and \
            isinstance(targets[0], ast.Name) and only_appended_and_summed(lo.fdef, targets[0].id):
        # A list that is only appended to and summed is its running sum.
        lo.lists.add(targets[0].id)
        lo.bind(targets[0].id, Const(0.0), stmt)
        return
    value = lo.expr(stmt.value)
    for target in targets:
        if sequences.dict_key(lo, target) is not None:  # grads['W1'] = dW1: a new dict with that key
            check_dict_write(lo, target.value.id, stmt)
            items = {**lo.dicts[id(lo.env[target.value.id])], target.slice.value: value}
            lo.env[target.value.id] = sequences.make_dict(lo, items, stmt, target.value.id)
        elif isinstance(target, ast.Subscript):
            key_write = isinstance(target.slice, ast.Constant) and isinstance(target.slice.value, str)
            check_mutation(lo, target.value, stmt, key_write)
            x = lo.name(target.value)
            value = sequences.stacked(lo, value, stmt.value, "setitem", 1)  # x[:2] = [a, b]: an array
            ins, index = lo.index([x, value], target.slice)
            setitem(lo, target, x, value, ins[2:], index, stmt)
            if key_write:  # p['k'] = v: a later p['k'] is v itself, another key the dict's before the writes
                before, written, unknown = lo.written.get(id(x), (x, {}, frozenset()))
                lo.written[id(lo.env[target.value.id])] = (before, {**written, target.slice.value: value}, unknown)
        else:
            value = lo.bind(target.id, value, stmt)
    return


def setitem(lo, target: ast.Subscript, x, value, index_atoms, index, stmt):
    # ``index`` positions count in the setitem's inputs: (x, value, *index_atoms).
    name = target.value.id
    lo.env[name] = lo.emit("setitem", (x, value, *index_atoms), stmt, Var(name), index=index)


def unpack(lo, targets, value_node):
    if len(targets) == 1 and isinstance(value_node, ast.Name) and \
            id(lo.env.get(value_node.id)) in lo.containers:
        container = lo.env[value_node.id]
        names = [t.id for t in targets[0].elts]
        if lo.results.get(id(container), len(names)) != len(names):  # r = np.linalg.qr(A); q, r = r
            lo.fail(UnsupportedError, value_node, f"cannot unpack {lo.results[id(container)]} values into "
                    f"{len(names)} names", "use as many names as values")
        values = [lo.emit("field", (container,), value_node, key=i) for i in range(len(names))]
        if id(container) in lo.results:
            for k, value in enumerate(values):
                lo.aliases.part_of(value, container, k)
        for value, i in zip(values, range(len(names))):
            value.label = field_label(container, i)
        for name, value in zip(names, values):
            lo.bind(name, value, value_node)
        return
    if len(targets) == 1 and isinstance(value_node, ast.Name) and isinstance(lo.env.get(value_node.id), Var) \
            and id(lo.env[value_node.id]) in lo.seqs:  # p, q = t, with t = (a, 2.0 * a)
        items = lo.seqs[id(lo.env[value_node.id])][0]
        names = [t.id for t in targets[0].elts]
        if len(names) != len(items):
            lo.fail(UnsupportedError, value_node, f"cannot unpack {len(items)} values into {len(names)} names",
                    "use as many names as values")
        for name, value in zip(names, items):
            lo.bind(name, value, value_node)
        return
    if len(targets) != 1 or any(not isinstance(t, ast.Name) for t in targets[0].elts):
        lo.fail(UnsupportedError, value_node, "only one target list of plain names can be unpacked into, "
                "as in 'a, b = b, a * b'", "assign each part on its own line")
    if not isinstance(value_node, (ast.Tuple, ast.List)):
        unpack_value(lo, targets[0], value_node)
        return
    names = [t.id for t in targets[0].elts]
    if len(names) != len(value_node.elts):
        lo.fail(UnsupportedError, value_node,
                f"cannot unpack {len(value_node.elts)} values into {len(names)} names",
                "use as many names as values")
    values = [lo.expr(v) for v in value_node.elts]  # all of the right side first
    for name, value in zip(names, values):
        lo.bind(name, value, value_node)


def unpack_value(lo, target, value_node):
    """``out, cache = helper(x)`` (a helper returning a tuple: its items), ``N, D = X.shape`` or
    ``a, b = x`` (an array's rows): each name is bound to one part."""
    names = [t.id for t in target.elts]
    value = lo.expr(value_node)
    if isinstance(value, Var) and id(value) in lo.results:  # w, v = np.linalg.eigh(A)
        if lo.results[id(value)] != len(names):
            lo.fail(UnsupportedError, value_node, f"cannot unpack {lo.results[id(value)]} values into "
                    f"{len(names)} names", "use as many names as values")
        items = [lo.emit("field", (value,), value_node, key=k) for k in range(len(names))]
        for k, item in enumerate(items):
            lo.aliases.part_of(item, value, k)
    elif isinstance(value, Var) and id(value) in lo.seqs:
        items = lo.seqs[id(value)][0]
        if len(items) != len(names):
            lo.fail(UnsupportedError, value_node, f"cannot unpack {len(items)} values into {len(names)} names",
                    "use as many names as values")
    elif isinstance(value, Const) and isinstance(value.value, tuple):
        if len(value.value) != len(names):
            lo.fail(UnsupportedError, value_node, f"cannot unpack {len(value.value)} values into "
                    f"{len(names)} names", "use as many names as values")
        items = [Const(v) for v in value.value]
    elif isinstance(value, Var) and (lo.uses_numpy or id(value) in lo.containers or _is_shape(value_node)):
        # Python unpacks a shape tuple or an array's rows: item k is value[k].
        items = [lo.emit("getitem", (value, Const(k)), value_node, index=("atom", 1), _unpack=len(names))
                 for k in range(len(names))]  # the count is checked where the shapes are known
    else:
        lo.fail(UnsupportedError, value_node, "a number cannot be unpacked into several names",
                "unpack a tuple, as in 'a, b = b, a * b', or assign each part on its own line")
    for name, item in zip(names, items):
        lo.bind(name, item, value_node)


def _is_shape(node: ast.expr) -> bool:
    """``X.shape``: a tuple whatever X is, even in a module that never names NumPy (``(X * X).sum()``)."""
    return isinstance(node, ast.Attribute) and node.attr == "shape"


def check_mutation(lo, target: ast.expr, stmt: ast.stmt, key_write: bool = False):
    """Refuse a write in place into ``target`` that the IR's value semantics would not follow. ``key_write``:
    ``d['key'] = v``, allowed into the caller's dict when no caller reads it afterwards."""
    if not isinstance(target, ast.Name):
        lo.fail(UnsupportedError, target, "only a named array can be changed in place",
                "assign the array to a name first")
    var = lo.env.get(target.id)
    if not isinstance(var, Var):
        return
    if id(var) in lo.seqs:
        lo.fail(UnsupportedError, stmt, f"'{target.id}' is a list or tuple: changing it in place is not "
                "supported", f"build a new one, or make it an array first: '{target.id} = "
                f"np.array({target.id})'")
    mine = lo.aliases.roots(var)
    if (mine & lo.borrowed or id(var) in lo.borrowed) and not (key_write and unread_by_callers(lo, mine)):
        # The IR's write makes a new dict the caller does not see: right only if the caller never looks.
        if key_write:
            lo.fail(UnsupportedError, stmt, f"'{target.id}' is the caller's: writing a key into it inside "
                    f"'{lo.fdef.name}' is supported only where no caller reads it after the call",
                    f"copy it first ('{target.id} = dict({target.id})'), or return the value instead")
        lo.fail(UnsupportedError, stmt, f"'{target.id}' is the caller's array: changing it in place inside "
                f"'{lo.fdef.name}' is not supported", f"copy it first, for example "
                f"'{target.id} = {target.id}.copy()'")
    for name, other in lo.env.items():
        # Inside a loop or a branch, a read anywhere in the same statement may come after the write;
        # a plain assignment reads its right side and index before it writes.
        within = name in lo.read_within and stmt is not lo.top_statement
        later = lo.last_read.get(name, -1) > lo.stmt_index or within
        if name != target.id and later and _may_see(lo, other, mine, key_write):
            lo.fail(UnsupportedError, stmt,
                    f"'{target.id}' is changed in place while '{name}' still refers to the same array",
                    f"copy it first, for example '{target.id} = {target.id}.copy()'")


def unread_by_callers(lo, roots: frozenset) -> bool:
    """True if no function ``lo`` is inlined into reads a name that may share ``roots`` after the call
    (its arguments are read before the body runs; a call inside a loop may run again)."""
    while lo.parent is not None:
        caller, top = lo.parent, lo.parent.top_statement
        call_only = isinstance(top, (ast.Assign, ast.Return)) and isinstance(top.value, ast.Call)
        for name, other in caller.env.items():
            if not _may_see(lo, other, roots, True):
                continue
            if caller.last_read.get(name, -1) > caller.stmt_index:
                return False
            if name in caller.read_within and not (call_only and _only_arguments(top, name)):
                return False
        lo = caller
    return True


def _may_see(lo, other, roots: frozenset, key_write: bool) -> bool:
    """True if the value ``other`` may see a write into an array or dict with ``roots``."""
    if not isinstance(other, Var):
        return False
    return bool(lo.aliases.roots(other) & touched(roots, key_write))


def _only_arguments(stmt: ast.Assign | ast.Return, name: str) -> bool:
    """True if every read of ``name`` in ``stmt`` is a whole argument of the call it assigns."""
    call = stmt.value
    arguments = {id(a) for a in [*call.args, *(k.value for k in call.keywords)]}
    return all(id(n) in arguments for n in ast.walk(stmt) if isinstance(n, ast.Name) and n.id == name)


def check_dict_write(lo, name: str, stmt: ast.stmt):
    """``d['k'] = v`` makes a new dict in the IR: refused while another name read later refers to ``d``."""
    var = lo.env[name]
    for other_name, other in lo.env.items():
        within = other_name in lo.read_within and stmt is not lo.top_statement
        later = lo.last_read.get(other_name, -1) > lo.stmt_index or within
        if other_name != name and isinstance(other, Var) and later and id(var) in lo.aliases.roots(other):
            lo.fail(UnsupportedError, stmt, f"'{name}' is changed in place while '{other_name}' still refers "
                    "to the same dict", f"build '{other_name}' after the last change of '{name}'")


def _shift_index(index, shift):
    if index[0] == "tuple":
        return ("tuple", tuple(_shift_index(i, shift) for i in index[1]))
    if index[0] == "slice":
        return ("slice", *(None if p is None else p + shift for p in index[1:]))
    if index[0] == "atom":
        return ("atom", index[1] + shift)
    return index

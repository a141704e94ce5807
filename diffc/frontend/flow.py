"""Lowering control flow: ``if``, ``for`` and ``while`` into If and Loop items.

An ``if`` lowers both branches from the same environment and merges the
names they assign with phis; a loop finds the names its body assigns that
exist before it (carried values), gives each a start and an end, and merges
them after the loop. A ``for`` over a sequence is a loop over its indices.

Each function takes the :class:`~diffc.frontend.lower.Frontend` being lowered (``lo``) first.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Builder, Carry, Const, Eqn, If, Loop, Phi, Var, item_defs
from . import sequences
from .desugar import LOOP_LOCAL, RAISED, replace_breaks, stored_names, without_continue


def lower_block(lo, stmts: list, env: dict) -> tuple[list, dict]:
    """Lower ``stmts`` into a new block starting from ``env``; returns the block and the env after it."""
    outer_eqns, outer_env = lo.eqns, lo.env
    lo.eqns, lo.env = [], env
    try:
        for stmt in stmts:
            lo.statement(stmt)
        return lo.eqns, lo.env
    finally:
        lo.eqns, lo.env = outer_eqns, outer_env


def merge(lo, name, value, block, node):
    """``value`` as a variable assigned in ``block`` (a phi or loop member), copying if need be."""
    if isinstance(value, Var) and any(value is d for item in block for d in item_defs(item)):
        return value
    builder = Builder(block, lo.source.lineno(node), getattr(node, "col_offset", 0))
    return builder.emit("copy", value, out=Var(None if name.startswith("<") else name))


def if_statement(lo, test, body, orelse, node):
    cond = lo.expr(test) if isinstance(test, ast.expr) else test
    if isinstance(cond, Var) and cond.hint is None:
        cond.label = "took_if"  # the name of the recorded branch, if the backward pass needs it
    before = dict(lo.env)
    then_block, then_env = lower_block(lo, body, dict(before))
    else_block, else_env = lower_block(lo, orelse, dict(before))
    # A branch that raises never reaches what follows: a name the other branch assigns is that value.
    raised = then_env.pop(RAISED, False), else_env.pop(RAISED, False)
    if all(raised):
        lo.env[RAISED] = True
    phis = []
    for name in dict.fromkeys([*then_env, *else_env]):
        a, b = then_env.get(name), else_env.get(name)
        if raised[0] and a is None and b is not LOOP_LOCAL:
            a = Const(None)
        if raised[1] and b is None and a is not LOOP_LOCAL:
            b = Const(None)
        if a is None or b is None or a is LOOP_LOCAL or b is LOOP_LOCAL:
            lo.env.pop(name, None)  # assigned on one path only
            continue
        if a is b:
            lo.env[name] = a
            continue
        out = Var(None if name.startswith("<") else name)
        lo.fresh.add(id(out))
        phis.append(Phi(out, _merge(lo, name, a, then_block, node, raised[0]),
                        _merge(lo, name, b, else_block, node, raised[1])))
        lo.aliases.shares(out, a, b)  # it is one or the other
        _tuple_result(lo, name, out, (a, b), node, "is the tuple a library call returns on one path only")
        if id(a) in lo.written or id(b) in lo.written:  # p['k'] = v on one path
            lo.written[id(out)] = sequences.merge_written(lo, a, b)
        lo.env[name] = out
    lo.eqns.append(If(cond, then_block, else_block, phis, lo.source.lineno(node), node.col_offset))


def _tuple_result(lo, name, out, values, node, why, loop=False):
    """``out`` (a branch's or a loop's value of ``name``) is the tuple of a library call (``t =
    np.linalg.eigh(a)`` on both paths) if every value is one of that size; a mix, or a loop, is refused."""
    sizes = {lo.results.get(id(v)) if isinstance(v, Var) else None for v in values}
    if sizes == {None}:
        return
    if loop or len(sizes) != 1:
        lo.fail(UnsupportedError, node, f"'{name}' {why}: its items cannot be followed",
                "unpack it where it is made, as in 'w, v = np.linalg.eigh(A)'")
    lo.results[id(out)] = sizes.pop()
    lo.containers.add(id(out))


def _merge(lo, name, value, block, node, raises: bool):
    """:func:`merge`; in a block that ends in a raise statement, before it (the value is never read)."""
    if not raises:
        return merge(lo, name, value, block, node)
    raise_eqn = block.pop()
    value = merge(lo, name, value, block, node)
    block.append(raise_eqn)
    return value


def loop(lo, kind, node, target, args, body, test=None):
    names = [n for n in stored_names(body) if n != target]
    carried = [n for n in names if n in lo.env and lo.env[n] is not LOOP_LOCAL]
    key_writes: dict = {}  # name -> the string keys the body writes into it
    for t in (t for stmt in body for t in ast.walk(stmt)):
        if isinstance(t, ast.Subscript) and isinstance(t.ctx, ast.Store) and isinstance(t.value, ast.Name) and \
                isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
            key_writes.setdefault(t.value.id, set()).add(t.slice.value)
    carries = {}
    for name in carried:
        init = Builder(lo.eqns, lo.source.lineno(node), node.col_offset).emit(
            "copy", lo.env[name], out=Var(name), _carry=True)
        lo.aliases.shares(init, lo.env[name])
        start = Var(name)
        # The value before the loop, or what an earlier iteration assigned it from.
        lo.aliases.set(start, lo.aliases.roots(init) | {id(start)} | lo.aliases.by_loop(body, name, lo.env))
        carries[name] = (init, start)
        if name in key_writes:  # p['k'] = v in the body: the keys written are not known in the body
            lo.written[id(start)] = sequences.merge_written(lo, lo.env[name], lo.env[name], key_writes[name])
    env = dict(lo.env)
    env.update({name: start for name, (_, start) in carries.items()})
    target_var = None
    if target is not None:
        target_var = Var(target)
        env[target] = target_var
    cond, test_atom = [], None
    if test is not None:
        outer_eqns, outer_env = lo.eqns, lo.env
        lo.eqns, lo.env = cond, env
        try:
            test_atom = lo.expr(test)
        finally:
            lo.eqns, lo.env = outer_eqns, outer_env
    prefix = []
    if kind == "sequence":  # for row in X: a loop over the indices, row = X[k] first in the body
        sequence = args[0]
        length = lo.emit("len", (sequence,), node)
        index = target_var
        target_var = Var("k")
        env[target] = index
        lo.aliases.shares(index, sequence)  # for row in X: row is a view of X
        prefix = [("getitem", (sequence, target_var), index)]
        args, kind = (length,), "range"
    body_block, body_env = lower_block(lo, body, env)
    for op, ins, out in prefix:
        body_block.insert(0, _eqn(lo, op, ins, out, node))
    items = []
    for name, (init, start) in carries.items():
        end = body_env.get(name)
        if end is start or end is None or end is LOOP_LOCAL:
            _tuple_result(lo, name, init, (lo.env[name],), node, "")  # the same tuple after the loop
            lo.env[name] = init
            continue
        final = Var(name)
        _tuple_result(lo, name, final, (lo.env[name], end), node, "is carried through a loop", loop=True)
        items.append(Carry(init, start, merge(lo, name, end, body_block, node), final))
        lo.aliases.set(final, lo.aliases.roots(start) | lo.aliases.roots(end) | {id(final)})  # zero trips: init
        lo.env[name] = final
        if name in key_writes:
            lo.written[id(final)] = lo.written[id(start)]
    for name in names:
        if name not in carries:
            lo.env[name] = LOOP_LOCAL
    if target is not None:
        lo.env[target] = LOOP_LOCAL
    lo.eqns.append(Loop(kind, target_var, tuple(args), cond, test_atom, items, body_block,
                        lo.source.lineno(node), node.col_offset))


def _eqn(lo, op, ins, out, node):

    return Eqn(op, tuple(ins), out, {"index": ("atom", 1)}, lo.source.lineno(node), node.col_offset)


def without_break(lo, stmt):
    """A loop with ``break`` as a loop with a flag: a while loop tests it, a for loop's
    iterations after the break do nothing."""
    from .scope import identifiers

    taken = identifiers(lo.fdef) | set(lo.env)
    flag = next(n for n in ("broke", *(f"broke_{k}" for k in range(1, 1000))) if n not in taken)
    lo.env[flag] = lo.emit("copy", (Const(False),), stmt, Var(flag))
    body = replace_breaks(stmt.body, flag)
    not_broke = ast.UnaryOp(ast.Not(), ast.Name(flag, ast.Load()))
    ast.copy_location(not_broke, stmt)
    ast.copy_location(not_broke.operand, stmt)
    if isinstance(stmt, ast.While):
        test = ast.copy_location(ast.BoolOp(ast.And(), [stmt.test, not_broke]), stmt)
        return ast.copy_location(ast.While(test, body, []), stmt)
    guarded = ast.copy_location(ast.If(not_broke, without_continue(body), []), stmt)
    return ast.copy_location(ast.For(stmt.target, stmt.iter, [guarded], []), stmt)


def for_statement(lo, stmt: ast.For):
    if isinstance(stmt.target, ast.Tuple):
        items = sequences.literal_items(lo, stmt.iter)
        if items is not None:  # for p, q in zip([a, b], [c, d]): unrolled, as for v in [a, b]
            for item in items:
                sequences.bind_target(lo, stmt.target, item, stmt)
                for inner in stmt.body:
                    lo.statement(inner)
            return
        stmt = zip_loop(lo, stmt)
    it = stmt.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and \
            "range" not in lo.env and lo.scope.lookup("range") is None:
        if not 1 <= len(it.args) <= 3 or it.keywords:
            lo.fail(UnsupportedError, it, "range() takes 1 to 3 arguments here", "write range(stop) or "
                    "range(start, stop, step)")
        args = [lo.expr(a) for a in it.args]
        loop(lo, "range", stmt, stmt.target.id, args, stmt.body)
    else:
        sequence = lo.expr(it)
        if isinstance(sequence, Var) and id(sequence) in lo.seqs:  # for v in [a, b]: unrolled
            sequences.unroll(lo, stmt, lo.seqs[id(sequence)][0])
        else:
            loop(lo, "sequence", stmt, stmt.target.id, [sequence], stmt.body)


def zip_loop(lo, stmt: ast.For) -> ast.For:
    """``for a, b in zip(A, B)`` as ``for k in range(min(len(A), len(B))): a = A[k]; b = B[k]``;
    ``for i, a in enumerate(A)`` as ``for i in range(len(A)): a = A[i]``."""
    from .scope import identifiers

    call, names = stmt.iter, [t.id for t in stmt.target.elts]
    func = call.func.id
    if func in lo.env or lo.scope.lookup(func) is not None:
        lo.fail(UnsupportedError, call.func, f"'{func}' here is not the builtin", "unpack inside the loop body")
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args) or \
            (func == "enumerate" and len(call.args) != 1) or (func == "zip" and len(call.args) != len(names)) \
            or (func == "enumerate" and len(names) != 2):
        lo.fail(UnsupportedError, call, f"this {func}(...) loop cannot be unpacked into {len(names)} names",
                "write 'for a, b in zip(A, B)' or 'for i, a in enumerate(A)', one name per sequence")
    taken = identifiers(lo.fdef) | set(lo.env)
    seqs = []
    for arg in call.args:  # each sequence once, before the loop, under a name of its own
        if isinstance(arg, ast.Name):
            seqs.append(arg.id)
            continue
        name = next(n for n in ("seq", *(f"seq_{k}" for k in range(1, 1000))) if n not in taken)
        taken.add(name)
        lo.bind(name, lo.expr(arg), arg)
        seqs.append(name)

    def node(n):
        return ast.copy_location(n, stmt)

    def load(name):
        return node(ast.Name(name, ast.Load()))

    def length(name):
        return node(ast.Call(load("len"), [load(name)], []))

    if func == "enumerate":
        index, pairs = names[0], [(names[1], seqs[0])]
        count = length(seqs[0])
    else:
        index = next(n for n in ("k", *(f"k_{j}" for j in range(1, 1000))) if n not in taken)
        pairs = list(zip(names, seqs))
        count = length(seqs[0]) if len(seqs) == 1 else node(ast.Call(load("min"), [length(s) for s in seqs], []))
    body = [node(ast.Assign([node(ast.Name(n, ast.Store()))], node(ast.Subscript(load(s), load(index), ast.Load())),
                            lineno=stmt.lineno)) for n, s in pairs]
    loop = ast.For(node(ast.Name(index, ast.Store())), node(ast.Call(load("range"), [count], [])),
                   body + stmt.body, [])
    return node(loop)

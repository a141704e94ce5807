"""Lowering control flow: ``if``, ``for`` and ``while`` into If and Loop items.

An ``if`` lowers both branches from the same environment and merges the
names they assign with phis; a loop finds the names its body assigns that
exist before it (carried values), gives each a start and an end, and merges
them after the loop. A ``for`` over a sequence is a loop over its indices.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Builder, Carry, Const, Eqn, If, Loop, Phi, Var, item_defs
from .desugar import LOOP_LOCAL, _replace_breaks, _stored_names, without_continue


class FlowMixin:
    """The control-flow part of :class:`diffc.frontend.Frontend`."""

    def block(self, stmts: list, env: dict) -> tuple[list, dict]:
        """Lower ``stmts`` into a new block starting from ``env``; returns the block and the env after it."""
        outer_eqns, outer_env = self.eqns, self.env
        self.eqns, self.env = [], env
        try:
            for stmt in stmts:
                self.statement(stmt)
            return self.eqns, self.env
        finally:
            self.eqns, self.env = outer_eqns, outer_env

    def merge(self, name, value, block, node):
        """``value`` as a variable assigned in ``block`` (a phi or loop member), copying if need be."""
        if isinstance(value, Var) and any(value is d for item in block for d in item_defs(item)):
            return value
        builder = Builder(block, self.source.lineno(node), getattr(node, "col_offset", 0))
        return builder.emit("copy", value, out=Var(None if name.startswith("<") else name))

    def if_statement(self, test, body, orelse, node):
        cond = self.expr(test) if isinstance(test, ast.expr) else test
        if isinstance(cond, Var) and cond.hint is None:
            cond.label = "took_if"  # the name of the recorded branch, if the backward pass needs it
        before = dict(self.env)
        then_block, then_env = self.block(body, dict(before))
        else_block, else_env = self.block(orelse, dict(before))
        phis = []
        for name in dict.fromkeys([*then_env, *else_env]):
            a, b = then_env.get(name), else_env.get(name)
            if a is None or b is None or a is LOOP_LOCAL or b is LOOP_LOCAL:
                self.env.pop(name, None)  # assigned on one path only
                continue
            if a is b:
                self.env[name] = a
                continue
            out = Var(None if name.startswith("<") else name)
            self.fresh.add(id(out))
            phis.append(Phi(out, self.merge(name, a, then_block, node), self.merge(name, b, else_block, node)))
            self.shares(out, a, b)  # it is one or the other
            self.env[name] = out
        self.eqns.append(If(cond, then_block, else_block, phis, self.source.lineno(node), node.col_offset))

    def loop(self, kind, node, target, args, body, test=None):
        names = [n for n in _stored_names(body) if n != target]
        carried = [n for n in names if n in self.env and self.env[n] is not LOOP_LOCAL]
        carries = {}
        for name in carried:
            init = Builder(self.eqns, self.source.lineno(node), node.col_offset).emit(
                "copy", self.env[name], out=Var(name), _carry=True)
            self.shares(init, self.env[name])
            start = Var(name)
            # The value before the loop, or what an earlier iteration assigned it from.
            self.alias[id(start)] = self.roots(init) | {id(start)} | self.aliased_by_loop(body, name)
            carries[name] = (init, start)
        env = dict(self.env)
        env.update({name: start for name, (_, start) in carries.items()})
        target_var = None
        if target is not None:
            target_var = Var(target)
            env[target] = target_var
        cond, test_atom = [], None
        if test is not None:
            outer_eqns, outer_env = self.eqns, self.env
            self.eqns, self.env = cond, env
            try:
                test_atom = self.expr(test)
            finally:
                self.eqns, self.env = outer_eqns, outer_env
        prefix = []
        if kind == "sequence":  # for row in X: a loop over the indices, row = X[k] first in the body
            sequence = args[0]
            length = self.emit("len", (sequence,), node)
            index = target_var
            target_var = Var("k")
            env[target] = index
            self.shares(index, sequence)  # for row in X: row is a view of X
            prefix = [("getitem", (sequence, target_var), index)]
            args, kind = (length,), "range"
        body_block, body_env = self.block(body, env)
        for op, ins, out in prefix:
            body_block.insert(0, self._eqn(op, ins, out, node))
        items = []
        for name, (init, start) in carries.items():
            end = body_env.get(name)
            if end is start or end is None or end is LOOP_LOCAL:
                self.env[name] = init
                continue
            final = Var(name)
            items.append(Carry(init, start, self.merge(name, end, body_block, node), final))
            self.alias[id(final)] = self.roots(start) | self.roots(end) | {id(final)}  # zero trips: init
            self.env[name] = final
        for name in names:
            if name not in carries:
                self.env[name] = LOOP_LOCAL
        if target is not None:
            self.env[target] = LOOP_LOCAL
        self.eqns.append(Loop(kind, target_var, tuple(args), cond, test_atom, items, body_block,
                              self.source.lineno(node), node.col_offset))

    def _eqn(self, op, ins, out, node):

        return Eqn(op, tuple(ins), out, {"index": ("atom", 1)}, self.source.lineno(node), node.col_offset)

    def without_break(self, stmt):
        """A loop with ``break`` as a loop with a flag: a while loop tests it, a for loop's
        iterations after the break do nothing."""
        from .scope import identifiers

        taken = identifiers(self.fdef) | set(self.env)
        flag = next(n for n in ("broke", *(f"broke_{k}" for k in range(1, 1000))) if n not in taken)
        self.env[flag] = self.emit("copy", (Const(False),), stmt, Var(flag))
        body = _replace_breaks(stmt.body, flag)
        not_broke = ast.UnaryOp(ast.Not(), ast.Name(flag, ast.Load()))
        ast.copy_location(not_broke, stmt)
        ast.copy_location(not_broke.operand, stmt)
        if isinstance(stmt, ast.While):
            test = ast.copy_location(ast.BoolOp(ast.And(), [stmt.test, not_broke]), stmt)
            return ast.copy_location(ast.While(test, body, []), stmt)
        guarded = ast.copy_location(ast.If(not_broke, without_continue(body), []), stmt)
        return ast.copy_location(ast.For(stmt.target, stmt.iter, [guarded], []), stmt)

    def for_statement(self, stmt: ast.For):
        if isinstance(stmt.target, ast.Tuple):
            items = self.literal_items(stmt.iter)
            if items is not None:  # for p, q in zip([a, b], [c, d]): unrolled, as for v in [a, b]
                for item in items:
                    self._bind_target(stmt.target, item, stmt)
                    for inner in stmt.body:
                        self.statement(inner)
                return
            stmt = self.zip_loop(stmt)
        it = stmt.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and \
                "range" not in self.env and self.scope.lookup("range") is None:
            if not 1 <= len(it.args) <= 3 or it.keywords:
                self.fail(UnsupportedError, it, "range() takes 1 to 3 arguments here", "write range(stop) or "
                          "range(start, stop, step)")
            args = [self.expr(a) for a in it.args]
            self.loop("range", stmt, stmt.target.id, args, stmt.body)
        else:
            sequence = self.expr(it)
            if isinstance(sequence, Var) and id(sequence) in self.seqs:  # for v in [a, b]: unrolled
                self.unroll(stmt, self.seqs[id(sequence)][0])
            else:
                self.loop("sequence", stmt, stmt.target.id, [sequence], stmt.body)

    def zip_loop(self, stmt: ast.For) -> ast.For:
        """``for a, b in zip(A, B)`` as ``for k in range(min(len(A), len(B))): a = A[k]; b = B[k]``;
        ``for i, a in enumerate(A)`` as ``for i in range(len(A)): a = A[i]``."""
        from .scope import identifiers

        call, names = stmt.iter, [t.id for t in stmt.target.elts]
        func = call.func.id
        if func in self.env or self.scope.lookup(func) is not None:
            self.fail(UnsupportedError, call.func, f"'{func}' here is not the builtin", "unpack inside the loop body")
        if call.keywords or any(isinstance(a, ast.Starred) for a in call.args) or \
                (func == "enumerate" and len(call.args) != 1) or (func == "zip" and len(call.args) != len(names)) \
                or (func == "enumerate" and len(names) != 2):
            self.fail(UnsupportedError, call, f"this {func}(...) loop cannot be unpacked into {len(names)} names",
                      "write 'for a, b in zip(A, B)' or 'for i, a in enumerate(A)', one name per sequence")
        taken = identifiers(self.fdef) | set(self.env)
        seqs = []
        for arg in call.args:  # each sequence once, before the loop, under a name of its own
            if isinstance(arg, ast.Name):
                seqs.append(arg.id)
                continue
            name = next(n for n in ("seq", *(f"seq_{k}" for k in range(1, 1000))) if n not in taken)
            taken.add(name)
            self.bind(name, self.expr(arg), arg)
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

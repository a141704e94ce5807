"""Unrolling control flow at given arguments: the path a call actually takes.

``unroll(fn, args, scope)`` evaluates the forward equations one by one,
follows the branch each ``if`` takes and repeats each loop's body as many
times as it runs, and returns a straight-line function with one equation per
gate that was evaluated. The tracer draws and explains that path
(``diffc graph``/``diffc explain`` on code with branches and loops).
"""

from __future__ import annotations

import ast

from ..backends.emit import Writer, index_ast
from ..errors import DiffcError
from ..ir import Const, Eqn, Function, If, Var

MAX_EQUATIONS = 20000  # a graph larger than this is not worth drawing


class _Unroller:
    def __init__(self, scope, namespace: dict):
        self.scope, self.namespace = scope, namespace
        self.values: dict[int, object] = {}
        self.eqns: list[Eqn] = []
        self.imported: set[str] = set()

    def atom(self, env, a):
        return env.get(id(a), a) if isinstance(a, Var) else a

    def value(self, a):
        return a.value if isinstance(a, Const) else self.values[id(a)] if isinstance(a, Var) else a.value

    def evaluate(self, eqn: Eqn):
        writer = Writer([eqn], set(), self.scope)
        names = {}
        if eqn.op == "setitem":  # x[index] = v on a copy: the old x stays as it was
            args = [writer.atom(a) for a in eqn.ins]
            target = ast.Subscript(ast.Name("_new", ast.Load()), index_ast(eqn.params["index"], args), ast.Store())
            code = ast.Module([ast.Assign([target], args[1], lineno=0)], [])
        else:
            code = ast.Expression(writer.value(eqn))
        for node, var in writer.names:
            node.id = names.setdefault(id(var), f"_v{len(names)}")
            self.namespace[node.id] = self.values[id(var)]
        missing = writer.globals_used - self.imported
        if missing:  # import each library once, not once per evaluated gate
            self.namespace.update(self._imports(missing))
            self.imported |= missing
        if eqn.op == "setitem":
            self.namespace["_new"] = self.values[id(eqn.ins[0])].copy()
            exec(compile(ast.fix_missing_locations(code), "<diffc unroll>", "exec"), self.namespace)
            return self.namespace["_new"]
        return eval(compile(ast.fix_missing_locations(code), "<diffc unroll>", "eval"), self.namespace)

    def _imports(self, used):
        namespace: dict = {}
        exec("\n".join(self.scope.import_lines(used)), namespace)
        namespace.pop("__builtins__", None)
        return namespace

    def run(self, items, env: dict):
        for item in items:
            if isinstance(item, Eqn) and item.op == "copy" and item.params.get("_carry"):
                env[id(item.out)] = self.atom(env, item.ins[0])  # the loop's own copy: not a gate
            elif isinstance(item, Eqn):
                new = Eqn(item.op, tuple(self.atom(env, a) for a in item.ins), Var(item.out.hint),
                          dict(item.params), item.lineno, item.col)
                new.out.label = item.out.label
                self.values[id(new.out)] = self.evaluate(new)
                env[id(item.out)] = new.out
                self.eqns.append(new)
                if len(self.eqns) > MAX_EQUATIONS:
                    raise DiffcError(f"the path taken has more than {MAX_EQUATIONS} gates: too many to draw",
                                     hint="draw it at smaller arguments (fewer loop iterations)")
            elif isinstance(item, If):
                taken = bool(self.value(self.atom(env, item.cond)))
                self.run(item.then if taken else item.orelse, env)
                for phi in item.phis:
                    env[id(phi.out)] = self.atom(env, phi.then if taken else phi.orelse)
            else:
                for c in item.carried:
                    env[id(c.start)] = self.atom(env, c.init)
                if item.kind == "while":
                    while True:
                        self.run(item.cond, env)
                        if not self.value(self.atom(env, item.test)):
                            break
                        self._iteration(item, env)
                else:
                    for i in range(*(self.value(self.atom(env, a)) for a in item.args)):
                        env[id(item.target)] = Const(i)
                        self._iteration(item, env)
                for c in item.carried:
                    env[id(c.final)] = env[id(c.start)]

    def _iteration(self, loop, env):
        self.run(loop.body, env)
        for c in loop.carried:
            env[id(c.start)] = self.atom(env, c.end)


def has_control_flow(fn: Function) -> bool:
    return any(item.blocks() for item in fn.eqns)


def unroll(fn: Function, args: dict, scope) -> Function:
    """``fn`` as the straight line of gates a call with ``args`` evaluates."""
    u = _Unroller(scope, {})
    env: dict = {}
    for p in fn.params:
        u.values[id(p)] = args[p.hint]
    u.run(fn.eqns, env)
    out = u.atom(env, fn.out)
    return Function(fn.name, fn.params, u.eqns, out, fn.lineno, fn.defaults, fn.kwonly, fn.posonly,
                    fn.containers)

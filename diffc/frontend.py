"""From a fenced ``ast.FunctionDef`` to IR (A-normal form).

Every operator and call becomes one equation with a fresh variable; an
assignment gives that variable the user's name, so the forward lines keep
the user's names. Re-assigning a name makes a new variable with the same
name hint (single assignment), so the backward pass can still see every
value it needs. Names are resolved here: locals first, then the module's
imports and numeric constants (:mod:`diffc.scope`), then the builtins with a
rule. Problems are collected and raised together as located errors.

Arrays can be changed in place (``x[i] = v``). The IR treats that as a new
value of ``x``; it is only the same as Python's meaning when no other name
still refers to the old array (an alias ``y = x`` or a view ``r = x[0]``),
so that case is refused with a hint to copy first.
"""

from __future__ import annotations

import ast

from . import fence
from . import primitives as P
from .errors import DiffcError, ErrorGroup, NameResolutionError, UnknownCallError, UnsupportedError
from .ir import Builder, Carry, Const, Function, If, Loop, Phi, Ref, Var, item_defs
from .rules import has_rule
from .scope import FromImport, GlobalConst, ModuleAlias, ModuleFunction, Scope
from .source import Source

# Ops whose result shares memory with their first input.
VIEW_OPS = {"copy", "getitem", "setitem", "zero_at", "numpy.transpose", "numpy.reshape", "numpy.ravel",
            "numpy.expand_dims", "numpy.squeeze"}


class _Failed(Exception):
    """Unwinds the current statement after an error has been recorded."""


RETURN = "<return>"  # the environment's name for the value being returned
LOOP_LOCAL = object()  # marks a name assigned only inside a loop


def _ends_in_return(stmts) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    return isinstance(last, ast.Return) or (
        isinstance(last, ast.If) and _ends_in_return(last.body) and _ends_in_return(last.orelse))


def _has_return(node) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _field_label(container, key) -> str | None:
    text = f"{container.hint}_{key}"
    return text if text.isidentifier() else None


def _ends_in(stmts, kind) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    return isinstance(last, kind) or (
        isinstance(last, ast.If) and _ends_in(last.body, kind) and _ends_in(last.orelse, kind))


def _loop_exits(node, kind) -> bool:
    """True if ``node`` holds a ``kind`` (Break or Continue) of the loop around it (not of an inner loop)."""
    if isinstance(node, kind):
        return True
    if isinstance(node, (ast.For, ast.While)):
        return False
    return any(_loop_exits(child, kind) for child in ast.iter_child_nodes(node))


def without_continue(stmts: list) -> list:
    """A loop body with every ``continue`` gone: what follows an ``if`` that continues moves
    into the branch that does not."""
    out = []
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Continue):
            return out
        if isinstance(stmt, ast.If) and _loop_exits(stmt, ast.Continue):
            rest = stmts[index + 1:]
            body = stmt.body if _ends_in(stmt.body, ast.Continue) else stmt.body + rest
            orelse = stmt.orelse if _ends_in(stmt.orelse, ast.Continue) else stmt.orelse + rest
            new = ast.If(test=stmt.test, body=without_continue(body) or [ast.Pass()],
                         orelse=without_continue(orelse))
            return out + [ast.copy_location(new, stmt)]
        out.append(stmt)
    return out


def _replace_breaks(stmts: list, flag: str) -> list:
    """``break`` becomes ``flag = True; continue`` (nested loops keep their own)."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, ast.Break):
            assign = ast.Assign([ast.Name(flag, ast.Store())], ast.Constant(True), lineno=stmt.lineno)
            out += [ast.copy_location(assign, stmt), ast.copy_location(ast.Continue(), stmt)]
        elif isinstance(stmt, ast.If):
            new = ast.If(test=stmt.test, body=_replace_breaks(stmt.body, flag),
                         orelse=_replace_breaks(stmt.orelse, flag))
            out.append(ast.copy_location(new, stmt))
        else:
            out.append(stmt)
    return out


def _is_container(fdef, name: str) -> bool:
    """True if ``name`` is only read as ``name[<constant>]`` or unpacked (``a, b = name``), with at
    least one string key or one unpacking: ``x[0]`` alone is read as indexing an array."""
    uses, allowed, telling = 0, set(), False
    for node in ast.walk(fdef):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name \
                and isinstance(node.slice, ast.Constant) and type(node.slice.value) in (str, int) \
                and isinstance(node.ctx, ast.Load):
            allowed.add(id(node.value))
            telling |= type(node.slice.value) is str
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == name and \
                len(node.targets) == 1 and isinstance(node.targets[0], (ast.Tuple, ast.List)):
            allowed.add(id(node.value))
            telling = True
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            uses += 1
            if id(node) not in allowed:
                return False
    return uses > 0 and telling


def single_exit(stmts: list) -> list:
    """Rewrite early returns inside ``if`` so that every path ends in a return:
    what follows an ``if`` whose branch returns moves into the branch that does not."""
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, ast.If) and _has_return(stmt):
            rest = stmts[index + 1:]
            body = stmt.body if _ends_in_return(stmt.body) else stmt.body + rest
            orelse = stmt.orelse if _ends_in_return(stmt.orelse) else stmt.orelse + rest
            new = ast.If(test=stmt.test, body=single_exit(body), orelse=single_exit(orelse))
            return stmts[:index] + [ast.copy_location(new, stmt)]
    return stmts


def _only_appended_and_summed(fdef, name: str) -> bool:
    """True if every read of ``name`` is ``name.append(x)`` as a statement or ``sum(name)``."""
    allowed, reads = set(), 0
    for node in ast.walk(fdef):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "append" and \
                isinstance(node.value.func.value, ast.Name) and node.value.func.value.id == name:
            allowed.add(id(node.value.func.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sum" and \
                len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id == name:
            allowed.add(id(node.args[0]))
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            reads += 1
            if id(node) not in allowed:
                return False
    return True


def _stored_names(stmts) -> list[str]:
    names = []
    for stmt in stmts:
        if isinstance(stmt, ast.Break):
            continue
        for node in ast.walk(stmt):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "append" and isinstance(node.func.value, ast.Name):
                target = node.func.value.id  # terms.append(x) changes terms
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                target = node.id
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and \
                    isinstance(node.value, ast.Name):
                target = node.value.id
            if target is not None and target not in names:
                names.append(target)
    return names


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class Frontend:
    def __init__(self, fdef: ast.FunctionDef, scope: Scope, source: Source, parent: Frontend | None = None):
        self.fdef = fdef
        self.scope = scope
        self.source = source
        self.env: dict[str, object] = {}
        # An inlined helper writes into its caller's equations and shares its bookkeeping.
        self.eqns = parent.eqns if parent else []
        self.errors: list[DiffcError] = parent.errors if parent else []
        self.fresh: set[int] = parent.fresh if parent else set()
        self.group: dict[int, int] = parent.group if parent else {}  # id(var) -> id of the array it shares memory with
        self.calls: tuple[str, ...] = (*parent.calls, fdef.name) if parent else (fdef.name,)
        # Parameters that are dicts, tuples or lists, read only as p["key"], p[0] or a, b = p.
        self.containers: set[int] = parent.containers if parent else set()
        self.borrowed: set[int] = set()  # a helper's parameters: the caller's values
        self.lists: set[str] = set()  # lists built with append and reduced with sum(): running sums
        self.assigned_later: set[str] = {
            t.id for node in ast.walk(fdef) for t in [getattr(node, "target", None), *getattr(node, "targets", [])]
            if isinstance(t, ast.Name)
        }
        self.uses_numpy = any(isinstance(b, ModuleAlias) and b.module.split(".")[0] == "numpy"
                              or isinstance(b, FromImport) and b.module.split(".")[0] == "numpy"
                              for b in scope.bindings.values())

    # -- helpers --------------------------------------------------------------
    def fail(self, cls, node, message, hint=None):
        self.errors.append(self.source.error(cls, node, message, hint))
        raise _Failed

    def emit(self, op: str, ins, node: ast.AST, out: Var | None = None, **params) -> Var:
        out = out if out is not None else Var()
        self.fresh.add(id(out))
        Builder(self.eqns, self.source.lineno(node), node.col_offset).emit(op, *ins, out=out, **params)
        first = ins[0] if ins else None
        if op in VIEW_OPS and isinstance(first, Var):
            self.group[id(out)] = self.group.get(id(first), id(first))
        return out

    # -- function -------------------------------------------------------------
    def lower(self) -> Function:
        args = self.fdef.args
        params = [Var(a.arg, is_param=True) for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        for p in params:
            self.env[p.hint] = p
            if _is_container(self.fdef, p.hint):
                self.containers.add(id(p))
        positional = [*args.posonlyargs, *args.args]
        defaults = {a.arg: ast.unparse(d) for a, d in zip(positional[len(positional) - len(args.defaults):],
                                                         args.defaults)}
        defaults.update({a.arg: ast.unparse(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        out = self.body()
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ErrorGroup(self.errors)
        return Function(
            self.fdef.name, params, self.eqns, out, self.source.lineno(self.fdef), defaults,
            [a.arg for a in args.kwonlyargs], len(args.posonlyargs), set(self.containers),
        )

    def body(self):
        """Lower the function's statements; returns the atom it returns."""
        out = None
        statements = single_exit(list(self.fdef.body))
        self.read_after = [set().union(*(_reads(s) for s in statements[i + 1:])) for i in range(len(statements))]
        for index, stmt in enumerate(statements):
            if self.parent_statement is None:
                self.fresh.clear()
            self.stmt_index = index
            self.read_within = _reads(stmt)
            try:
                out = self.statement(stmt) or out
            except _Failed:
                if self.parent_statement is not None:
                    raise
                # Bind what the statement assigns, so its later uses do not cascade into more errors.
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        self.env.setdefault(node.id, Var(node.id))
        return self.env.get(RETURN, out)

    parent_statement = None

    def inline(self, node: ast.Call, name: str):
        """A call to a function of the same module: its body, lowered in place."""
        if name in self.calls:
            self.fail(UnsupportedError, node, f"recursive call to '{name}' cannot be differentiated",
                      "rewrite the recursion as a loop")
        fdef, source, scope = self.scope.helper(name)
        problems = fence.check(fdef, source)
        if problems:
            self.errors.extend(problems)
            raise _Failed
        args = fdef.args
        params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        values = dict(zip(params, (self.expr(a) for a in node.args)))
        if len(node.args) > len(params):
            self.fail(UnsupportedError, node, f"'{name}' takes {len(params)} argument(s), got {len(node.args)}",
                      f"call it as {name}({', '.join(params)})")
        for kw in node.keywords:
            if kw.arg not in params or kw.arg in values:
                self.fail(UnsupportedError, kw, f"'{name}' has no parameter '{kw.arg}' to pass here",
                          f"its parameters are: {', '.join(params)}")
            values[kw.arg] = self.expr(kw.value)
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        for param in params:
            if param not in values:
                if param not in defaults:
                    self.fail(UnsupportedError, node, f"missing argument '{param}' in the call to '{name}'",
                              f"call it as {name}({', '.join(params)})")
                values[param] = Const(ast.literal_eval(defaults[param]))
        sub = Frontend(fdef, scope, source, parent=self)
        sub.parent_statement = self.stmt_index
        sub.env = dict(values)
        sub.borrowed = {id(v) for v in values.values() if isinstance(v, Var)}
        sub.borrowed |= {self.group.get(i, i) for i in sub.borrowed}
        return sub.body()

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
            self.env[name] = out
        self.eqns.append(If(cond, then_block, else_block, phis, self.source.lineno(node), node.col_offset))

    def loop(self, kind, node, target, args, body, test=None):
        names = [n for n in _stored_names(body) if n != target]
        carried = [n for n in names if n in self.env and self.env[n] is not LOOP_LOCAL]
        carries = {}
        for name in carried:
            init = Builder(self.eqns, self.source.lineno(node), node.col_offset).emit(
                "copy", self.env[name], out=Var(name), _carry=True)
            carries[name] = (init, Var(name))
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
            self.env[name] = final
        for name in names:
            if name not in carries:
                self.env[name] = LOOP_LOCAL
        if target is not None:
            self.env[target] = LOOP_LOCAL
        self.eqns.append(Loop(kind, target_var, tuple(args), cond, test_atom, items, body_block,
                              self.source.lineno(node), node.col_offset))

    def _eqn(self, op, ins, out, node):
        from .ir import Eqn

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
        it = stmt.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and \
                "range" not in self.env and self.scope.lookup("range") is None:
            if not 1 <= len(it.args) <= 3 or it.keywords:
                self.fail(UnsupportedError, it, "range() takes 1 to 3 arguments here", "write range(stop) or "
                          "range(start, stop, step)")
            args = [self.expr(a) for a in it.args]
            self.loop("range", stmt, stmt.target.id, args, stmt.body)
        else:
            self.loop("sequence", stmt, stmt.target.id, [self.expr(it)], stmt.body)

    def statement(self, stmt: ast.stmt):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # terms.append(x)
            call = stmt.value
            name = call.func.value.id
            if name not in self.lists:
                self.fail(UnsupportedError, call.func, f"'{name}.append' is only supported on a list made empty in "
                          "this function and reduced with sum()", f"start it with '{name} = []'")
            self.env[name] = self.emit("add", (self.env[name], self.expr(call.args[0])), stmt, Var(name))
            return None
        if isinstance(stmt, (ast.Expr, ast.Pass)):
            return None  # the docstring (the fence refused every other bare expression)
        if isinstance(stmt, ast.Return):
            self.env[RETURN] = value = self.expr(stmt.value)
            return value
        if isinstance(stmt, ast.If):
            self.if_statement(stmt.test, stmt.body, stmt.orelse, stmt)
            return None
        if isinstance(stmt, (ast.For, ast.While)) and any(_loop_exits(s, ast.Break) for s in stmt.body):
            stmt = self.without_break(stmt)
        if isinstance(stmt, ast.For):
            body = without_continue(stmt.body)
            self.for_statement(ast.copy_location(ast.For(stmt.target, stmt.iter, body, []), stmt))
            return None
        if isinstance(stmt, ast.While):
            self.loop("while", stmt, None, (), without_continue(stmt.body), test=stmt.test)
            return None
        if isinstance(stmt, ast.AugAssign):
            op = P.BINOPS[type(stmt.op)]
            if isinstance(stmt.target, ast.Subscript):
                self.check_mutation(stmt.target.value, stmt)
                x = self.name(stmt.target.value)
                ins, index = self.index([x], stmt.target.slice)
                old = self.emit("getitem", ins, stmt.target, index=index)
                new = self.emit(op, (old, self.expr(stmt.value)), stmt)
                self.setitem(stmt.target, x, new, ins[1:], _shift_index(index, 1), stmt)
                return None
            if self.uses_numpy:
                self.check_mutation(stmt.target, stmt)
            old = self.name(stmt.target)
            rhs = self.expr(stmt.value)
            self.env[stmt.target.id] = self.emit(op, (old, rhs), stmt, Var(stmt.target.id))
            return None
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if any(isinstance(t, (ast.Tuple, ast.List)) for t in targets):
            self.unpack(targets, stmt.value)
            return None
        if isinstance(stmt.value, ast.List) and not stmt.value.elts and len(targets) == 1 and \
                isinstance(targets[0], ast.Name) and _only_appended_and_summed(self.fdef, targets[0].id):
            # A list that is only appended to and summed is its running sum.
            self.lists.add(targets[0].id)
            self.bind(targets[0].id, Const(0.0), stmt)
            return None
        value = self.expr(stmt.value)
        for target in targets:
            if isinstance(target, ast.Subscript):
                self.check_mutation(target.value, stmt)
                x = self.name(target.value)
                ins, index = self.index([x, value], target.slice)
                self.setitem(target, x, value, ins[2:], index, stmt)
            else:
                value = self.bind(target.id, value, stmt)
        return None

    def setitem(self, target: ast.Subscript, x, value, index_atoms, index, stmt):
        # ``index`` positions count in the setitem's inputs: (x, value, *index_atoms).
        name = target.value.id
        self.env[name] = self.emit("setitem", (x, value, *index_atoms), stmt, Var(name), index=index)

    def check_mutation(self, target: ast.expr, stmt: ast.stmt):
        if not isinstance(target, ast.Name):
            self.fail(UnsupportedError, target, "only a named array can be changed in place",
                      "assign the array to a name first")
        var = self.env.get(target.id)
        if var is None:
            return
        group = self.group.get(id(var), id(var))
        if group in self.borrowed or id(var) in self.borrowed:
            self.fail(UnsupportedError, stmt, f"'{target.id}' is the caller's array: changing it in place inside "
                      f"'{self.fdef.name}' is not supported", f"copy it first, for example "
                      f"'{target.id} = {target.id}.copy()'")
        later = self.read_after[self.stmt_index]
        for name, other in self.env.items():
            if name != target.id and isinstance(other, Var) and name in later and \
                    self.group.get(id(other), id(other)) == group:
                self.fail(UnsupportedError, stmt,
                          f"'{target.id}' is changed in place while '{name}' still refers to the same array",
                          f"copy it first, for example '{target.id} = {target.id}.copy()'")

    def unpack(self, targets, value_node):
        if len(targets) == 1 and isinstance(value_node, ast.Name) and \
                id(self.env.get(value_node.id)) in self.containers:
            container = self.env[value_node.id]
            names = [t.id for t in targets[0].elts]
            values = [self.emit("field", (container,), value_node, key=i) for i in range(len(names))]
            for value, i in zip(values, range(len(names))):
                value.label = _field_label(container, i)
            for name, value in zip(names, values):
                self.bind(name, value, value_node)
            return
        if len(targets) != 1 or not isinstance(value_node, (ast.Tuple, ast.List)):
            self.fail(UnsupportedError, value_node, "only a tuple of values can be unpacked, as in 'a, b = b, a * b'",
                      "assign each part on its own line")
        names = [t.id for t in targets[0].elts]
        if len(names) != len(value_node.elts):
            self.fail(UnsupportedError, value_node,
                      f"cannot unpack {len(value_node.elts)} values into {len(names)} names",
                      "use as many names as values")
        values = [self.expr(v) for v in value_node.elts]  # all of the right side first
        for name, value in zip(names, values):
            self.bind(name, value, value_node)

    def bind(self, name: str, value, node: ast.AST) -> Var:
        hint = None if name.startswith("<") else name
        if isinstance(value, Var) and value.hint is None and id(value) in self.fresh:
            value.hint = hint  # the equation that made it now carries the user's name
            var = value
        else:
            var = self.emit("copy", (value,), node, Var(hint))
        self.env[name] = var
        return var

    # -- expressions ----------------------------------------------------------
    def expr(self, node: ast.expr):
        if isinstance(node, ast.Constant):
            return Const(node.value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                return Const(-node.operand.value)  # a negative literal
            return self.emit(P.UNARYOPS[type(node.op)], (self.expr(node.operand),), node)
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            return self.emit(P.BINOPS[type(node.op)], (left, right), node)
        if isinstance(node, ast.Compare):
            left, right = self.expr(node.left), self.expr(node.comparators[0])
            return self.emit(P.COMPAREOPS[type(node.ops[0])], (left, right), node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return self.emit(op, tuple(self.expr(v) for v in node.values), node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.emit("not", (self.expr(node.operand),), node)
        if isinstance(node, ast.IfExp):
            cond = self.expr(node.test)
            if all(isinstance(b, (ast.Name, ast.Constant)) for b in (node.body, node.orelse)):
                return self.emit("select", (cond, self.expr(node.body), self.expr(node.orelse)), node)
            # Only the chosen branch may run (the other could fail): a real if.
            key = f"<ifexp {id(node)}>"
            branches = [ast.copy_location(ast.Assign([ast.Name(key, ast.Store())], b, lineno=b.lineno), b)
                        for b in (node.body, node.orelse)]
            self.if_statement(cond, [branches[0]], [branches[1]], node)
            value = self.env.pop(key)
            value.hint = None
            return value
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value)
            if id(base) in self.containers:  # params["W1"]: one part of a container parameter
                out = self.emit("field", (base,), node, key=node.slice.value)
                out.label = _field_label(base, node.slice.value)
                return out
            ins, index = self.index([base], node.slice)
            return self.emit("getitem", ins, node, index=index)
        if isinstance(node, ast.Tuple):
            items = [self.expr(e) for e in node.elts]
            if all(isinstance(a, Const) for a in items):
                return Const(tuple(a.value for a in items))
            return self.emit("tuple", items, node)
        if isinstance(node, ast.List):  # a list stays a list: as an index it means fancy indexing
            return self.emit("list", [self.expr(e) for e in node.elts], node)
        raise AssertionError(f"fence let through {type(node).__name__}")  # pragma: no cover

    def index(self, ins: list, node: ast.expr):
        """The index template of a subscript; its variable parts are appended to ``ins``."""

        def part(n):
            if n is None:
                return None
            ins.append(self.expr(n))
            return len(ins) - 1

        def item(n):
            if isinstance(n, ast.Slice):
                return ("slice", part(n.lower), part(n.upper), part(n.step))
            if isinstance(n, ast.Constant) and n.value is None or self._is_newaxis(n):
                return ("none",)
            if isinstance(n, ast.Constant) and n.value is Ellipsis:
                return ("ellipsis",)
            return ("atom", part(n))

        if isinstance(node, ast.Tuple):
            return ins, ("tuple", tuple(item(e) for e in node.elts))
        return ins, item(node)

    def _is_newaxis(self, node):
        return isinstance(node, ast.Attribute) and node.attr == "newaxis" and \
            self._module_of(node.value) == "numpy"

    def name(self, node: ast.Name):
        if self.env.get(node.id) is LOOP_LOCAL:
            self.fail(UnsupportedError, node, f"'{node.id}' is assigned only inside a loop and used after it",
                      f"give '{node.id}' a value before the loop too")
        if node.id in self.env:
            return self.env[node.id]
        if node.id in self.assigned_later:
            self.fail(NameResolutionError, node, f"'{node.id}' is used before it is assigned",
                      "assign it on an earlier line")
        binding = self.scope.lookup(node.id)
        if isinstance(binding, GlobalConst):
            return Ref(None, node.id, binding.value)
        if isinstance(binding, FromImport):
            value = P.library_constant(binding.module, binding.attr)
            if value is not None:
                return Ref(binding.module, binding.attr, value)
        if binding is None and node.id not in P.BUILTINS:
            self.fail(NameResolutionError, node, f"name '{node.id}' is not defined",
                      "pass it as a parameter, or define it as a number at the top of the module")
        self.fail(UnsupportedError, node, f"'{node.id}' is not a number",
                  "diffc differentiates functions of numbers and arrays; pass the value as a parameter")

    def attribute(self, node: ast.Attribute):
        module = self._module_of(node.value)
        if module is not None:
            value = P.library_constant(module, node.attr)
            if value is not None:
                return Ref(module, node.attr, value)
        elif node.attr in P.ATTRIBUTES:
            op = "numpy." + P.ATTRIBUTES[node.attr]
            return self.emit(op, (self.expr(node.value),), node, _style=("attr", node.attr))
        self.fail(UnsupportedError, node, f"'{ast.unparse(node)}' is not supported",
                  "use a number, a parameter, a constant such as math.pi, or .T/.shape/.ndim/.size of an array")

    def _module_of(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id not in self.env:
            binding = self.scope.lookup(node.id)
            if isinstance(binding, ModuleAlias):
                return ".".join([binding.module, *reversed(parts)])
        return None

    # -- calls ----------------------------------------------------------------
    def call(self, node: ast.Call) -> Var:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "sum" and "sum" not in self.env and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in self.lists:
            return self.name(node.args[0])
        if isinstance(func, ast.Attribute) and self._module_of(func.value) is None and func.attr in P.METHODS \
                and not (isinstance(func.value, ast.Name) and func.value.id not in self.env):
            return self.method(node)
        op, params = self.callee(node)
        if op.startswith("call:"):
            return self.inline(node, op[len("call:"):])
        args = node.args
        if op[len("numpy."):] in P.SEQUENCE_FUNCTIONS and op.startswith("numpy."):
            if not isinstance(args[0], (ast.Tuple, ast.List)):
                self.fail(UnsupportedError, args[0], f"'{ast.unparse(func)}' needs a literal tuple or list of arrays",
                          "write the arrays out, as in np.concatenate((a, b), axis=0)")
            if len(args) > 1:
                params["axis"] = self.literal(args[1])
            items = [self.expr(e) for e in args[0].elts]
            return self.emit(op, items, node, **params, _seq=type(args[0]).__name__)
        return self.emit(op, tuple(self.expr(a) for a in args), node, **params)

    def method(self, node: ast.Call) -> Var:
        func = node.func
        name = P.METHODS[func.attr]
        op = "astype" if name == "astype" else f"numpy.{name}"
        receiver = self.expr(func.value)
        if op == "astype":  # the dtype is written out as the user wrote it
            return self.emit(op, (receiver,), node, _style=("method", func.attr),
                             _raw=tuple(ast.unparse(a) for a in [*node.args, *node.keywords]))
        args = [self.expr(a) for a in node.args]
        if name in ("reshape", "transpose") and len(args) > 1:
            items = args
            args = [Const(tuple(a.value for a in items)) if all(isinstance(a, Const) for a in items)
                    else self.emit("tuple", items, node)]
        params = self.keywords(node, op)
        return self.emit(op, (receiver, *args), node, **params, _style=("method", func.attr))

    def keywords(self, node: ast.Call, op: str) -> dict:
        params = {}
        allowed = P.numpy_keywords(op)
        for kw in node.keywords:
            if kw.arg not in allowed:
                self.fail(UnsupportedError, kw, f"keyword argument '{kw.arg}' is not supported here",
                          f"supported keywords: {', '.join(allowed)}" if allowed else "pass arguments by position")
            params[kw.arg] = self.literal(kw.value)
        return params

    def literal(self, node):
        if self._is_newaxis(node):
            return None
        try:
            return ast.literal_eval(node)
        except ValueError:
            self.fail(UnsupportedError, node, "this argument must be a literal such as 1, (0, 1) or True",
                      "write the value out; diffc needs it to write the gradient")

    def callee(self, node: ast.Call) -> tuple[str, dict]:
        func = node.func
        text = ast.unparse(func)
        if isinstance(func, ast.Attribute):
            module = self._module_of(func.value)
            if module is None:
                if isinstance(func.value, ast.Name) and func.value.id in self.env:
                    self.fail(UnsupportedError, func, f"the method '{func.attr}' is not supported",
                              f"supported methods: {', '.join(sorted(P.METHODS))}")
                self.fail(UnknownCallError, func, f"cannot differentiate call to '{text}'",
                          "diffc knows math, numpy and abs/max/min; import them at module level")
            qualified, found = f"{module}.{func.attr}", P.library_function(module, func.attr)
        else:
            if func.id in self.env:
                self.fail(UnsupportedError, func, f"'{func.id}' is a local variable, not a function",
                          "call a math or numpy function or a builtin")
            binding = self.scope.lookup(func.id)
            if isinstance(binding, FromImport):
                qualified = f"{binding.module}.{binding.attr}"
                found = P.library_function(binding.module, binding.attr)
            elif isinstance(binding, ModuleFunction) and self.scope.helper(func.id) is not None:
                return f"call:{func.id}", {}
            elif binding is None and func.id in P.BUILTINS:
                qualified, found = func.id, (func.id, P.BUILTINS[func.id])
            else:
                qualified, found = func.id, None
        if found is None or not has_rule(found[0]):
            self.fail(UnknownCallError, func, f"cannot differentiate call to '{qualified}': it has no derivative rule",
                      "rewrite it with supported functions (see the README's list) or compute it outside")
        op, (low, high) = found
        params = self.keywords(node, op)
        n = len(node.args)
        if n < low or (high is not None and n > high):
            expected = str(low) if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            self.fail(UnsupportedError, node, f"'{text}' takes {expected} argument(s), got {n}",
                      "max() and min() need their values listed, as in max(a, b)" if op in ("max", "min")
                      else f"call it with {expected} argument(s)")
        return op, params


def _shift_index(index, shift):
    if index[0] == "tuple":
        return ("tuple", tuple(_shift_index(i, shift) for i in index[1]))
    if index[0] == "slice":
        return ("slice", *(None if p is None else p + shift for p in index[1:]))
    if index[0] == "atom":
        return ("atom", index[1] + shift)
    return index


def lower(fdef: ast.FunctionDef, scope: Scope, source: Source) -> Function:
    return Frontend(fdef, scope, source).lower()

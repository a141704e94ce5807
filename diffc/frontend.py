"""From a fenced ``ast.FunctionDef`` to IR (A-normal form).

Every operator and call becomes one equation with a fresh variable; an
assignment gives that variable the user's name, so the forward lines keep
the user's names. Re-assigning a name makes a new variable with the same
name hint (single assignment), so the backward pass can still see every
value it needs. Names are resolved here: locals first, then the module's
imports and numeric constants (:mod:`diffc.scope`), then the builtins with a
rule. Problems are collected and raised together as located errors.
"""

from __future__ import annotations

import ast

from . import primitives as P
from .errors import DiffcError, ErrorGroup, NameResolutionError, UnknownCallError, UnsupportedError
from .ir import Builder, Const, Function, Ref, Var
from .rules import has_rule
from .scope import FromImport, GlobalConst, ModuleAlias, ModuleFunction, Scope
from .source import Source


class _Failed(Exception):
    """Unwinds the current statement after an error has been recorded."""


class Frontend:
    def __init__(self, fdef: ast.FunctionDef, scope: Scope, source: Source):
        self.fdef = fdef
        self.scope = scope
        self.source = source
        self.env: dict[str, object] = {}
        self.eqns = []
        self.errors: list[DiffcError] = []
        self.fresh: set[int] = set()
        self.assigned_later: set[str] = {
            t.id for node in ast.walk(fdef) for t in [getattr(node, "target", None), *getattr(node, "targets", [])]
            if isinstance(t, ast.Name)
        }

    # -- helpers --------------------------------------------------------------
    def fail(self, cls, node, message, hint=None):
        self.errors.append(self.source.error(cls, node, message, hint))
        raise _Failed

    def emit(self, op: str, ins, node: ast.AST, out: Var | None = None) -> Var:
        out = out if out is not None else Var()
        self.fresh.add(id(out))
        Builder(self.eqns, self.source.lineno(node), node.col_offset).emit(op, *ins, out=out)
        return out

    # -- function -------------------------------------------------------------
    def lower(self) -> Function:
        args = self.fdef.args
        params = [Var(a.arg, is_param=True) for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        for p in params:
            self.env[p.hint] = p
        positional = [*args.posonlyargs, *args.args]
        defaults = {a.arg: ast.unparse(d) for a, d in zip(positional[len(positional) - len(args.defaults):],
                                                         args.defaults)}
        defaults.update({a.arg: ast.unparse(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        out = None
        for stmt in self.fdef.body:
            self.fresh = set()
            try:
                out = self.statement(stmt) or out
            except _Failed:
                # Bind what the statement assigns, so its later uses do not cascade into more errors.
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        self.env.setdefault(node.id, Var(node.id))
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ErrorGroup(self.errors)
        return Function(
            self.fdef.name, params, self.eqns, out, self.source.lineno(self.fdef), defaults,
            [a.arg for a in args.kwonlyargs], len(args.posonlyargs),
        )

    def statement(self, stmt: ast.stmt):
        if isinstance(stmt, (ast.Expr, ast.Pass)):
            return None  # the docstring (the fence refused every other bare expression)
        if isinstance(stmt, ast.Return):
            return self.expr(stmt.value)
        if isinstance(stmt, ast.AugAssign):
            old = self.name(stmt.target)
            rhs = self.expr(stmt.value)
            self.env[stmt.target.id] = self.emit(P.BINOPS[type(stmt.op)], (old, rhs), stmt,
                                                 Var(stmt.target.id))
            return None
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if any(isinstance(t, (ast.Tuple, ast.List)) for t in targets):
            self.unpack(targets, stmt.value)
        else:
            value = self.expr(stmt.value)
            for target in targets:
                value = self.bind(target.id, value, stmt)
        return None

    def unpack(self, targets, value_node):
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
        if isinstance(value, Var) and value.hint is None and id(value) in self.fresh:
            value.hint = name  # the equation that made it now carries the user's name
            var = value
        else:
            var = self.emit("copy", (value,), node, Var(name))
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
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                return Const(-node.operand.value)  # a negative literal
            return self.emit(P.UNARYOPS[type(node.op)], (self.expr(node.operand),), node)
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            return self.emit(P.BINOPS[type(node.op)], (left, right), node)
        if isinstance(node, ast.Call):
            op = self.callee(node)
            return self.emit(op, tuple(self.expr(a) for a in node.args), node)
        raise AssertionError(f"fence let through {type(node).__name__}")  # pragma: no cover

    def name(self, node: ast.Name):
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
                  "diffc differentiates functions of numbers; pass the value as a parameter")

    def attribute(self, node: ast.Attribute):
        module = self._module_of(node.value)
        if module is not None:
            value = P.library_constant(module, node.attr)
            if value is not None:
                return Ref(module, node.attr, value)
        self.fail(UnsupportedError, node, f"'{ast.unparse(node)}' is not a supported constant",
                  "use a number, a parameter, or a constant such as math.pi")

    def _module_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name) and node.id not in self.env:
            binding = self.scope.lookup(node.id)
            if isinstance(binding, ModuleAlias):
                return binding.module
        return None

    def callee(self, node: ast.Call) -> str:
        func = node.func
        text = ast.unparse(func)
        if isinstance(func, ast.Attribute):
            module = self._module_of(func.value)
            if module is None:
                if isinstance(func.value, ast.Name) and func.value.id in self.env:
                    self.fail(UnsupportedError, func, f"method calls such as '{text}()' are not supported yet",
                              "call a math function instead")
                self.fail(UnknownCallError, func, f"cannot differentiate call to '{text}'",
                          "diffc knows the math module and abs/max/min; import math at module level")
            qualified, found = f"{module}.{func.attr}", P.library_function(module, func.attr)
        else:
            if func.id in self.env:
                self.fail(UnsupportedError, func, f"'{func.id}' is a local variable, not a function",
                          "call a math function or a builtin")
            binding = self.scope.lookup(func.id)
            if isinstance(binding, FromImport):
                qualified = f"{binding.module}.{binding.attr}"
                found = P.library_function(binding.module, binding.attr)
            elif isinstance(binding, ModuleFunction):
                self.fail(UnsupportedError, func, f"calls to other functions ('{func.id}') are not supported yet",
                          f"inline the body of '{func.id}' here")
            elif binding is None and func.id in P.BUILTINS:
                qualified, found = func.id, (func.id, P.BUILTINS[func.id])
            else:
                qualified, found = func.id, None
        if found is None or not has_rule(found[0]):
            self.fail(UnknownCallError, func, f"cannot differentiate call to '{qualified}': it has no derivative rule",
                      "rewrite it with supported functions (see the README's list) or compute it outside")
        op, (low, high) = found
        n = len(node.args)
        if n < low or (high is not None and n > high):
            expected = str(low) if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            self.fail(UnsupportedError, node, f"'{text}' takes {expected} argument(s), got {n}",
                      "max() and min() need their values listed, as in max(a, b)" if op in ("max", "min")
                      else f"call it with {expected} argument(s)")
        return op


def lower(fdef: ast.FunctionDef, scope: Scope, source: Source) -> Function:
    return Frontend(fdef, scope, source).lower()

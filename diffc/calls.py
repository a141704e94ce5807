"""Lowering calls: library functions, array methods, and helpers of the same module.

A call to a function of the user's module is inlined: its body is lowered in
place with its parameters bound to the arguments (recursion is refused). A
call to a library function becomes one equation, its literal keyword
arguments kept as parameters of the equation.
"""

from __future__ import annotations

import ast

from . import fence
from . import primitives as P
from .errors import UnknownCallError, UnsupportedError
from .ir import Const, Var
from .rules import has_rule
from .scope import FromImport, ModuleFunction


class CallsMixin:
    """The call-lowering part of :class:`diffc.frontend.Frontend`."""

    def inline(self, node: ast.Call, name: str):
        """A call to a function of the same module: its body, lowered in place."""
        if name in self.calls:
            self.fail(UnsupportedError, node, f"recursive call to '{name}' cannot be differentiated",
                      "rewrite the recursion as a loop")
        fdef, source, scope = self.scope.helper(name)
        problems = fence.check(fdef, source)
        if problems:
            self.errors.extend(problems)
            raise self.Failed
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
        sub = type(self)(fdef, scope, source, parent=self)
        sub.parent_statement = self.stmt_index
        sub.env = dict(values)
        sub.borrowed = {id(v) for v in values.values() if isinstance(v, Var)}
        sub.borrowed |= {self.group.get(i, i) for i in sub.borrowed}
        return sub.body()

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

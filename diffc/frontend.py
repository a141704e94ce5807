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

from . import primitives as P
from .errors import DiffcError, ErrorGroup, NameResolutionError, UnknownCallError, UnsupportedError
from .ir import Builder, Const, Function, Ref, Var
from .rules import has_rule
from .scope import FromImport, GlobalConst, ModuleAlias, ModuleFunction, Scope
from .source import Source

# Ops whose result shares memory with their first input.
VIEW_OPS = {"copy", "getitem", "setitem", "zero_at", "numpy.transpose", "numpy.reshape", "numpy.ravel",
            "numpy.expand_dims", "numpy.squeeze"}


class _Failed(Exception):
    """Unwinds the current statement after an error has been recorded."""


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class Frontend:
    def __init__(self, fdef: ast.FunctionDef, scope: Scope, source: Source):
        self.fdef = fdef
        self.scope = scope
        self.source = source
        self.env: dict[str, object] = {}
        self.eqns = []
        self.errors: list[DiffcError] = []
        self.fresh: set[int] = set()
        self.group: dict[int, int] = {}  # id(var) -> id of the array it shares memory with
        self.assigned_later: set[str] = {
            t.id for node in ast.walk(fdef) for t in [getattr(node, "target", None), *getattr(node, "targets", [])]
            if isinstance(t, ast.Name)
        }
        body = fdef.body
        self.read_after = [set().union(*(_reads(s) for s in body[i + 1:])) for i in range(len(body))]
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
        positional = [*args.posonlyargs, *args.args]
        defaults = {a.arg: ast.unparse(d) for a, d in zip(positional[len(positional) - len(args.defaults):],
                                                         args.defaults)}
        defaults.update({a.arg: ast.unparse(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        out = None
        for index, stmt in enumerate(self.fdef.body):
            self.fresh = set()
            self.stmt_index = index
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
        later = self.read_after[self.stmt_index]
        for name, other in self.env.items():
            if name != target.id and isinstance(other, Var) and name in later and \
                    self.group.get(id(other), id(other)) == group:
                self.fail(UnsupportedError, stmt,
                          f"'{target.id}' is changed in place while '{name}' still refers to the same array",
                          f"copy it first, for example '{target.id} = {target.id}.copy()'")

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
        if isinstance(node, ast.Compare):
            left, right = self.expr(node.left), self.expr(node.comparators[0])
            return self.emit(P.COMPAREOPS[type(node.ops[0])], (left, right), node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            ins, index = self.index([self.expr(node.value)], node.slice)
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
        if isinstance(func, ast.Attribute) and self._module_of(func.value) is None and func.attr in P.METHODS \
                and not (isinstance(func.value, ast.Name) and func.value.id not in self.env):
            return self.method(node)
        op, params = self.callee(node)
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

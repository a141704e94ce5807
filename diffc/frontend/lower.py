"""From a fenced ``ast.FunctionDef`` to IR (A-normal form).

Every operator and call becomes one equation with a fresh variable; an
assignment gives that variable the user's name, so the forward lines keep
the user's names. Re-assigning a name makes a new variable with the same
name hint (single assignment), so the backward pass can still see every
value it needs. Names are resolved here: locals first, then the module's
imports and numeric constants (:mod:`diffc.frontend.scope`), then the builtins with a
rule. Problems are collected and raised together as located errors.

Arrays can be changed in place (``x[i] = v``). The IR treats that as a new
value of ``x``; it is only the same as Python's meaning when no other name
may still refer to the old array (an alias ``y = x``, a view ``r = x[0]``,
through a branch or a loop: :mod:`diffc.frontend.alias`), so that case is refused
with a hint to copy first. List and tuple literals are resolved at compile
time or stacked (:mod:`diffc.frontend.sequences`); a call diffc has no rule for is
kept as forward code (an ``opaque`` equation), refused by the reverse pass
only if a gradient must cross it.
"""

from __future__ import annotations

import ast

from ..errors import DiffcError, ErrorGroup, NameResolutionError, UnsupportedError
from ..ir import Builder, Const, Function, Ref, Var
from ..ops import catalogue as P
from . import assign, calls, custom_calls, flow, sequences
from .alias import VIEW_OPS, Aliases
from .desugar import (
    AUX,
    LOOP_LOCAL,
    RETURN,
    field_label,
    is_container,
    loop_exits,
    reads,
    single_exit,
    split_aux,
    without_continue,
)
from .scope import FromImport, GlobalConst, GlobalLiteral, ModuleAlias, OtherGlobal, Scope
from .source import Source

__all__ = ["VIEW_OPS", "Frontend", "lower"]


class _Failed(Exception):
    """Unwinds the current statement after an error has been recorded."""


class Frontend:
    """The state of lowering one function (and the helpers inlined into it), and the lowering of its
    statements and expressions. Calls (:mod:`~diffc.frontend.calls`), control flow
    (:mod:`~diffc.frontend.flow`), list and tuple literals (:mod:`~diffc.frontend.sequences`) and
    assignments (:mod:`~diffc.frontend.assign`) are lowered by functions of those modules, which take
    this object as their first argument; what may share memory is an :class:`Aliases` of its own."""

    def __init__(self, fdef: ast.FunctionDef, scope: Scope, source: Source, parent: Frontend | None = None):
        self.fdef = fdef
        self.scope = scope
        self.source = source
        self.env: dict[str, object] = {}
        # An inlined helper writes into its caller's equations and shares its bookkeeping.
        self.eqns = parent.eqns if parent else []
        self.errors: list[DiffcError] = parent.errors if parent else []
        self.fresh: set[int] = parent.fresh if parent else set()
        self.aliases: Aliases = parent.aliases if parent else Aliases()
        self.seqs: dict[int, tuple] = parent.seqs if parent else {}  # id(var) -> (items, kind) of a list/tuple literal
        self.stacks: dict[tuple, Var] = parent.stacks if parent else {}  # np.array of a literal, per block
        self.dicts: dict[int, dict] = parent.dicts if parent else {}  # id(var) -> {key: atom} of a dict built here
        self.written: dict[int, tuple] = parent.written if parent else {}  # id(var) -> keys written: see known_item
        self.calls: tuple[str, ...] = (*parent.calls, fdef.name) if parent else (fdef.name,)
        self.parent, self.root = parent, parent.root if parent else self  # the caller; the function differentiated
        # Parameters that are dicts, tuples or lists, read only as p["key"], p[0] or a, b = p.
        self.containers: set[int] = parent.containers if parent else set()
        self.results: dict[int, int] = parent.results if parent else {}  # id(var) -> items of a library tuple
        self.borrowed: set[int] = set()  # a helper's parameters: the caller's values
        self.lists: set[str] = set()  # lists built with append and reduced with sum(): running sums
        self.assigned_later: set[str] = {
            t.id for node in ast.walk(fdef) for t in [getattr(node, "target", None), *getattr(node, "targets", [])]
            if isinstance(t, ast.Name)
        }
        # Whether values may be arrays, for which ``w *= 2`` writes into memory ``w`` may share (for a
        # number it rebinds): NumPy named, arrays passed (the decorator sees them), or an attribute of a
        # value read (``(w + b).sum()``, ``X.shape``), which numbers do not have.
        self.uses_numpy = bool(parent and parent.uses_numpy) or (
            any(isinstance(b, ModuleAlias) and b.module.split(".")[0] == "numpy"
                or isinstance(b, FromImport) and b.module.split(".")[0] == "numpy" for b in scope.bindings.values())
            or scope.arrays or _reads_attributes(fdef, scope))

    # -- helpers --------------------------------------------------------------
    def fail(self, cls, node, message, hint=None):
        self.errors.append(self.source.error(cls, node, message, hint))
        raise _Failed

    def refuse(self, errors: list) -> None:
        """Record errors found elsewhere (a helper's fence) and unwind the statement."""
        self.errors.extend(errors)
        raise _Failed

    def nested(self, fdef: ast.FunctionDef, scope: Scope, source: Source) -> Frontend:
        """A frontend for a helper inlined into the current statement: it writes into these equations."""
        sub = Frontend(fdef, scope, source, parent=self)
        sub.parent_statement = self.stmt_index
        return sub

    def emit(self, op: str, ins, node: ast.AST, out: Var | None = None, **params) -> Var:
        out = out if out is not None else Var()
        self.fresh.add(id(out))
        Builder(self.eqns, self.source.lineno(node), node.col_offset).emit(op, *ins, out=out, **params)
        self.aliases.note(op, ins, out)
        return out

    # -- function -------------------------------------------------------------
    has_aux = False  # the top-level function returns (value, aux...): only the value is differentiated

    def lower(self) -> Function:
        args = self.fdef.args
        params = [Var(a.arg, is_param=True) for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        for p in params:
            self.env[p.hint] = p
            if is_container(self.fdef, p.hint, p.hint in getattr(self.scope, "structs", ())):
                self.containers.add(id(p))
        positional = [*args.posonlyargs, *args.args]
        defaults = {a.arg: ast.unparse(d) for a, d in zip(positional[len(positional) - len(args.defaults):],
                                                          args.defaults)}
        defaults.update({a.arg: ast.unparse(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        out = self.body()
        aux = self.aux_values(out) if self.has_aux and not self.errors else []
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ErrorGroup(self.errors)
        if aux:
            out, aux = aux[0], aux[1:]
        return Function(
            self.fdef.name, params, self.eqns, out, self.source.lineno(self.fdef), defaults,
            [a.arg for a in args.kwonlyargs], len(args.posonlyargs), set(self.containers), aux,
        )

    def aux_values(self, out) -> list:
        """With has_aux: the returned value and the values passed through after it."""
        returns = [n for n in ast.walk(self.fdef) if isinstance(n, ast.Return)]
        where = returns[-1] if returns else self.fdef
        if self.aux_untupled and len(self.aux_arity) > 1:  # 'return scores' beside 'return loss, grads'
            where = self.aux_untupled[0]
        if self.aux_arity and len(self.aux_arity) == 1 and 0 not in self.aux_arity:
            values = [out, *(self.env.get(AUX.format(k)) for k in range(1, next(iter(self.aux_arity))))]
            if all(isinstance(v, (Var, Const, Ref)) for v in values):
                return values
        if self.aux_arity == {0} and isinstance(out, Var) and id(out) in self.seqs and self.seqs[id(out)][0]:
            return list(self.seqs[id(out)][0])  # return result, with result = (loss, dW)
        raise self.source.error(UnsupportedError, where.value if isinstance(where, ast.Return) else where,
                                "with has_aux, the function must return a tuple (value, aux, ...), every return "
                                "with as many parts", "write 'return loss, extra' on every path (a path that "
                                "returns something else, such as the scores when y is None, belongs in "
                                "another function), or drop has_aux")

    def body(self):
        """Lower the function's statements; returns the atom it returns."""
        out = None
        statements = list(self.fdef.body)
        if self.has_aux and self.parent_statement is None and not hasattr(self, "aux_arity"):
            statements, self.aux_arity, self.aux_untupled = split_aux(statements)
        statements = single_exit(statements)
        self.last_read: dict[str, int] = {}  # name -> the last top-level statement that reads it
        for index, stmt in enumerate(statements):
            for name in reads(stmt):
                self.last_read[name] = index
        for index, stmt in enumerate(statements):
            if self.parent_statement is None:
                self.fresh.clear()
            self.stmt_index = index
            self.top_statement = stmt
            self.read_within = reads(stmt)
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

    def statement(self, stmt: ast.stmt):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # terms.append(x), np.random.seed(0)
            call = stmt.value
            if not calls.appends(call):
                return calls.effect(self, call)  # a statement, kept where it is
            name = call.func.value.id
            if name not in self.lists:
                self.fail(UnsupportedError, call.func, f"'{name}.append' is only supported on a list made empty in "
                          "this function and reduced with sum()", f"start it with '{name} = []'")
            self.env[name] = self.emit("add", (self.env[name], self.expr(call.args[0])), stmt, Var(name))
            return None
        if isinstance(stmt, (ast.Expr, ast.Pass)):
            return None  # the docstring (the fence refused every other bare expression)
        if isinstance(stmt, ast.Delete):  # del a, b (names, at the top level: the fence saw to it)
            for target in stmt.targets:
                self.name(target)  # an unbound name is refused, as Python raises
                del self.env[target.id]
            return None
        if isinstance(stmt, ast.Return):
            self.env[RETURN] = value = self.expr(stmt.value)
            return value
        if isinstance(stmt, ast.If):
            flow.if_statement(self, stmt.test, stmt.body, stmt.orelse, stmt)
            return None
        if isinstance(stmt, ast.Raise):  # the last statement of a branch (the fence saw to it)
            calls.raise_exception(self, stmt)
            return None
        if isinstance(stmt, (ast.For, ast.While)) and any(loop_exits(s, ast.Break) for s in stmt.body):
            stmt = flow.without_break(self, stmt)
        if isinstance(stmt, ast.For):
            body = without_continue(stmt.body)
            flow.for_statement(self, ast.copy_location(ast.For(stmt.target, stmt.iter, body, []), stmt))
            return None
        if isinstance(stmt, ast.While):
            flow.loop(self, "while", stmt, None, (), without_continue(stmt.body), test=stmt.test)
            return None
        if isinstance(stmt, ast.AugAssign):
            assign.aug_assign(self, stmt)
            return None
        assign.assign(self, stmt)
        return None

    def bind(self, name: str, value, node: ast.AST) -> Var:
        if name.startswith("<aux "):  # a value returned after the first (has_aux): the value itself
            self.env[name] = value
            return value
        hint = None if name.startswith("<") else name
        if isinstance(value, Var) and value.hint is None and id(value) in self.fresh:
            value.hint = hint  # the equation that made it now carries the user's name
            var = value
        else:
            var = self.emit("copy", (value,), node, Var(hint))
            if id(value) in self.seqs:
                self.seqs[id(var)] = self.seqs[id(value)]
            if id(value) in self.dicts:
                self.dicts[id(var)] = self.dicts[id(value)]
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
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.Is, ast.IsNot)):  # y is None
            return calls.is_none(self, node)
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
            flow.if_statement(self, cond, [branches[0]], [branches[1]], node)
            value = self.env.pop(key)
            value.hint = None
            return value
        if isinstance(node, ast.Call):
            return calls.call(self, node)
        if isinstance(node, ast.Dict):
            items = dict(zip((k.value for k in node.keys), (self.expr(v) for v in node.values)))
            return sequences.make_dict(self, items, node)
        if isinstance(node, ast.Subscript) and sequences.dict_key(self, node) is not None:
            items = self.dicts[id(self.env[node.value.id])]
            if node.slice.value not in items:
                self.fail(UnsupportedError, node, f"'{node.value.id}' has no key {node.slice.value!r} here",
                          "assign it before reading it")
            return items[node.slice.value]
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value)
            found = sequences.known_item(self, base, node.slice)  # WEIGHTS[key]; p['k'] after p['k'] = v
            if found is not None:
                return found
            if id(base) in self.seqs:  # t[0] of t = (a, 2.0 * a): the item itself
                found = sequences.item(self, base, node)
                if found is not None:
                    return found
            if id(base) in self.results:  # np.linalg.eigh(A)[1]: one part of a library call's tuple
                return calls.result_item(self, base, node)
            if id(base) in self.containers:  # params["W1"]: one part of a container parameter
                out = self.emit("field", (base,), node, key=node.slice.value)
                out.label = field_label(base, node.slice.value)
                return out
            ins, index = self.index([base], node.slice)
            out = self.emit("getitem", ins, node, index=index)
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                self.aliases.item_of(out, base)  # bn_param['mode']: an entry of a dict
            return out
        if isinstance(node, ast.Tuple):
            items = [self.expr(e) for e in node.elts]
            if all(isinstance(a, Const) for a in items):
                return Const(tuple(a.value for a in items))
            return sequences.sequence(self, node, items, "Tuple")
        if isinstance(node, ast.ListComp):
            items = sequences.comprehension_items(self, node)
            if items is None:
                self.fail(UnsupportedError, node, "a list comprehension over a sequence known only at run time is "
                          "not supported here", "iterate over a literal list or range(3), or sum a generator: "
                          "sum(f(x) for x in X)")
            return sequences.sequence(self, node, items, "List")
        if isinstance(node, ast.GeneratorExp):
            self.fail(UnsupportedError, node, "a generator expression is supported only inside sum(...) or where "
                      "its items are known here", "write sum(f(x) for x in X), or a list comprehension")
        if isinstance(node, ast.List):  # a list stays a list: as an index it means fancy indexing
            return sequences.sequence(self, node, [self.expr(e) for e in node.elts], "List")
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
            if isinstance(n, ast.Constant) and n.value is None or self.is_newaxis(n):
                return ("none",)
            if isinstance(n, ast.Constant) and n.value is Ellipsis:
                return ("ellipsis",)
            return ("atom", part(n))

        if isinstance(node, ast.Tuple):
            return ins, ("tuple", tuple(item(e) for e in node.elts))
        return ins, item(node)

    def is_newaxis(self, node):
        return isinstance(node, ast.Attribute) and node.attr == "newaxis" and \
            self.module_of(node.value) == "numpy"

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
        if isinstance(binding, GlobalLiteral):  # SCALES = [1.0, 2.0] at the top of the module
            return sequences.module_literal(self, binding.value, node)
        if isinstance(binding, FromImport):
            value = P.library_constant(binding.module, binding.attr)
            if value is not None:
                return Ref(binding.module, binding.attr, value)
        if isinstance(binding, OtherGlobal) and binding.refusal:
            self.fail(UnsupportedError, node, binding.refusal, binding.hint)
        if binding is None and P.builtin(node.id) is None:
            self.fail(NameResolutionError, node, f"name '{node.id}' is not defined",
                      "pass it as a parameter, or define it as a number at the top of the module")
        self.fail(UnsupportedError, node, f"'{node.id}' is not a number",
                  "diffc differentiates functions of numbers and arrays; pass the value as a parameter")

    def attribute(self, node: ast.Attribute):
        module = self.module_of(node.value)
        if module is not None:
            value = P.library_constant(module, node.attr)
            if value is not None:
                return Ref(module, node.attr, value)
        elif P.attribute(node.attr) is not None:
            op = P.attribute(node.attr)
            return self.emit(op, (self.expr(node.value),), node, _style=("attr", node.attr))
        self.fail(UnsupportedError, node, f"'{ast.unparse(node)}' is not supported",
                  "use a number, a parameter, a constant such as math.pi, or .T/.shape/.ndim/.size of an array")

    def module_of(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id not in self.env:
            binding = self.scope.lookup(node.id)
            if isinstance(binding, ModuleAlias):
                return ".".join([binding.module, *reversed(parts)])
        return None


def lower(fdef: ast.FunctionDef, scope: Scope, source: Source, has_aux: bool = False) -> Function:
    wrapper = custom_calls.own_rule(fdef, scope)  # a function with a rule of its own: differentiated by its rule
    front = Frontend(wrapper or fdef, scope, source)
    if wrapper is not None:
        front.calls = ()  # the call in the wrapper is to the function itself, not a recursion
    front.has_aux = has_aux
    return front.lower()


def _reads_attributes(fdef: ast.FunctionDef, scope: Scope) -> bool:
    """True if ``fdef`` reads an attribute of a value (``x.shape``, ``(w + b).sum()``), not of a module."""
    for node in ast.walk(fdef):
        if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and isinstance(
                scope.bindings.get(node.value.id), (ModuleAlias, FromImport))):
            return True
    return False

"""The emitter: IR to Python source text, through stdlib ``ast``.

Each kept equation becomes one line ``name = expression``; single-use
temporaries are written inline (see :mod:`diffc.optimize`). A few exact
rewrites make the text read as a person would write it: ``-(a * b)``
becomes ``-a * b`` and ``a + -b`` becomes ``a - b`` (negation is exact in
floating point, so the values are bit-identical). Library functions are
spelled through the user's own imports (:meth:`diffc.scope.Scope.reference`).
The output is a pure function of the input: same IR, same text.
"""

from __future__ import annotations

import ast
import math

from .frontend import VIEW_OPS
from .fuse import sigmoid_expression
from .ir import Const, Eqn, Function, Ref, Var
from .naming import Namer
from .optimize import plan
from .primitives import BINOPS, COMPAREOPS, UNARYOPS
from .scope import Scope

_BINOP_NODES = {op: node for node, op in BINOPS.items()}
_UNARY_NODES = {op: node for node, op in UNARYOPS.items()}
_COMPARE_NODES = {op: node for node, op in COMPAREOPS.items()}


# Ops written as statements of their own rather than as an expression.
STATEMENT_OPS = {"setitem", "scatter_add", "zero_at"}


def index_ast(template, args: list[ast.expr]) -> ast.expr:
    """The subscript of an indexing template (see the frontend) over argument nodes."""
    kind = template[0]
    if kind == "tuple":
        return ast.Tuple([index_ast(t, args) for t in template[1]], ast.Load())
    if kind == "slice":
        return ast.Slice(*(None if p is None else args[p] for p in template[1:]))
    if kind == "none":
        return ast.Constant(None)
    if kind == "ellipsis":
        return ast.Constant(Ellipsis)
    return args[template[1]]


def _is_basic(template, ins) -> bool:
    """True if the index can select no element twice (slices, None, literal integers)."""
    kind = template[0]
    if kind == "tuple":
        return all(_is_basic(t, ins) for t in template[1])
    if kind == "atom":
        return isinstance(ins[template[1]], Const) and type(ins[template[1]].value) is int
    return True


class _Writer:
    """Builds expression trees for equations, inlining single-use temporaries."""

    def __init__(self, eqns: list[Eqn], inline: set[int], scope: Scope):
        self.defs = {id(e.out): e for e in eqns}
        self.inline = inline
        self.scope = scope
        self.names: list[tuple[ast.Name, Var]] = []
        self.globals_used: set[str] = set()
        self.helpers: set[str] = set()

    def numpy(self, attr: str) -> ast.expr:
        return self.global_ref(self.scope.reference("numpy", attr))

    def global_ref(self, text: str) -> ast.expr:
        self.globals_used.add(text.split(".")[0])
        return ast.parse(text, mode="eval").body

    def atom(self, a) -> ast.expr:
        if isinstance(a, Var):
            if id(a) in self.inline:
                return self.value(self.defs[id(a)])
            node = ast.Name(id="?", ctx=ast.Load())
            self.names.append((node, a))
            return node
        if isinstance(a, Const):
            v = a.value
            if type(v) in (int, float) and (v < 0 or math.copysign(1, v) < 0):
                return ast.UnaryOp(ast.USub(), ast.Constant(-v))
            return ast.Constant(v)
        if isinstance(a, Ref):
            return self.global_ref(a.name if a.module is None else self.scope.reference(a.module, a.name))
        raise TypeError(a)  # pragma: no cover

    def value(self, eqn: Eqn) -> ast.expr:
        op, args = eqn.op, [self.atom(a) for a in eqn.ins]
        params = eqn.params
        keywords = [ast.keyword(k, ast.Constant(v)) for k, v in params.items() if not k.startswith("_")
                    and k != "index"]
        style = params.get("_style")
        if style is not None and style[0] == "attr":
            return ast.Attribute(args[0], style[1], ast.Load())
        if op == "astype":
            raw = [ast.parse(text, mode="eval").body for text in params["_raw"]]
            for node in raw:
                self.globals_used.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            return ast.Call(ast.Attribute(args[0], "astype", ast.Load()), raw, [])
        if style is not None and style[0] == "method":
            return ast.Call(ast.Attribute(args[0], style[1], ast.Load()), args[1:], keywords)
        if "_seq" in params:
            args = [(ast.List if params["_seq"] == "List" else ast.Tuple)(args, ast.Load())]
        if op == "getitem":
            return ast.Subscript(args[0], index_ast(params["index"], args), ast.Load())
        if op == "tuple":
            return ast.Tuple(args, ast.Load())
        if op == "list":
            return ast.List(args, ast.Load())
        if op.startswith("_"):
            self.helpers.add(op)
            if op == "_first_mask":  # which extreme: np.argmax or np.argmin
                args = [self.numpy("argmax" if params["pick"] == "max" else "argmin"), *args]
                keywords = [k for k in keywords if k.arg != "pick"]
            return ast.Call(ast.Name(op, ast.Load()), args, keywords)
        if op == "copy":
            return args[0]
        if op == "sigmoid":
            return sigmoid_expression(eqn, args[0], self.atom,
                                      lambda module, attr: self.global_ref(self.scope.reference(module, attr)))
        if op in _BINOP_NODES:
            return ast.BinOp(args[0], _BINOP_NODES[op](), args[1])
        if op in _UNARY_NODES:
            return ast.UnaryOp(_UNARY_NODES[op](), args[0])
        if op in _COMPARE_NODES:
            return ast.Compare(args[0], [_COMPARE_NODES[op]()], [args[1]])
        if op == "and":
            return ast.BoolOp(ast.And(), args)
        if op == "select":
            return ast.IfExp(args[0], args[1], args[2])
        if "." in op:
            module, _, attr = op.rpartition(".")
            func = self.global_ref(self.scope.reference(module, attr))
        else:
            func = ast.Name(id=op, ctx=ast.Load())
        return ast.Call(func, args, keywords)

    def statements(self, eqn: Eqn, target: str, args: list[ast.expr]) -> list[ast.stmt]:
        """The lines of a statement op (see STATEMENT_OPS), after naming."""
        index = eqn.params["index"]
        name = ast.Name(target, ast.Load())
        store = ast.Subscript(ast.Name(target, ast.Load()), index_ast(index, args), ast.Store())
        if eqn.op == "setitem":
            lines = [] if isinstance(args[0], ast.Name) and args[0].id == target else [
                ast.Assign([ast.Name(target, ast.Store())], _method(args[0], "copy"), lineno=0)]
            return [*lines, ast.Assign([store], args[1], lineno=0)]
        if eqn.op == "zero_at":  # in place when nothing reads the old gradient any more
            same = isinstance(args[0], ast.Name) and args[0].id == target
            copy = [] if same else [ast.Assign([ast.Name(target, ast.Store())], _method(args[0], "copy"), lineno=0)]
            return [*copy, ast.Assign([store], ast.Constant(0.0), lineno=0)]
        # scatter_add: the gradient of x[index] is zero but at index, where it adds up.
        zeros = ast.Call(self.numpy("zeros_like"), [args[0]], [])
        first = ast.Assign([ast.Name(target, ast.Store())], zeros, lineno=0)
        if _is_basic(index, eqn.ins):
            return [first, ast.Assign([store], args[1], lineno=0)]
        add_at = ast.Call(ast.Attribute(self.numpy("add"), "at", ast.Load()),
                          [name, index_ast(index, args), args[1]], [])
        return [first, ast.Expr(add_at)]


def _method(obj: ast.expr, name: str) -> ast.expr:
    return ast.Call(ast.Attribute(obj, name, ast.Load()), [], [])


class _Tidy(ast.NodeTransformer):
    """Exact rewrites that make expressions read as a person writes them."""

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub):
            inner = node.operand
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, (ast.Mult, ast.Div)):
                inner.left = self.visit_UnaryOp(ast.UnaryOp(ast.USub(), inner.left))
                return inner
            if isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.USub):
                return inner.operand
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        right = node.right
        if isinstance(node.op, (ast.Add, ast.Sub)) and isinstance(right, ast.UnaryOp) \
                and isinstance(right.op, ast.USub) and not isinstance(right.operand, ast.Constant):
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            node.right = right.operand
        return node


def signature(fn: Function) -> str:
    parts = []
    positional = len(fn.params) - len(fn.kwonly)
    for index, p in enumerate(fn.params):
        if index == positional and fn.kwonly:
            parts.append("*")
        text = p.hint if p.hint not in fn.defaults else f"{p.hint}={fn.defaults[p.hint]}"
        parts.append(text)
        if fn.posonly and index == fn.posonly - 1:
            parts.append("/")
    return ", ".join(parts)


def emit_function(fn: Function, name: str, forward: list[Eqn], backward: list[Eqn], grads: list[Var],
                  *, bare: bool, with_value: bool, scope: Scope, source_line=None,
                  trace: dict | None = None) -> tuple[str, set[str], set[str]]:
    """The text of one generated function, the global names and the helpers it uses.

    ``source_line(lineno)``, if given, turns on provenance comments.
    ``trace``, if given, asks for a function that keeps every value under a
    name of its own and returns ``locals()``; ``trace`` receives the names.
    """
    roots = [fn.out, *grads]

    if trace is None:
        eqns, inline = plan(forward, backward, fn.params, roots)
    else:
        eqns, inline = forward + backward, set()
    writer = _Writer(eqns, inline, scope)
    statements = []
    for eqn in eqns:
        if id(eqn.out) in inline:
            continue
        start = len(writer.names)
        if eqn.op in STATEMENT_OPS:
            value = [writer.atom(a) for a in eqn.ins]  # built into lines once names are known
        else:
            value = writer.value(eqn)
        statements.append((eqn, value, [v for _, v in writer.names[start:]]))
    ret_start = len(writer.names)
    returned = [writer.atom(g) for g in grads]
    value_ret = writer.atom(fn.out) if with_value else None
    ret_reads = [v for _, v in writer.names[ret_start:]]

    namer = Namer(scope.reserved, unique=trace is not None)
    output = fn.out if isinstance(fn.out, Var) else None
    names = namer.assign(fn.params, [(e.out, reads) for e, _, reads in statements], ret_reads, output,
                         floors=_inplace_floors(statements))
    for node, v in writer.names:
        node.id = names[id(v)]

    lines = [f"def {name}({signature(fn)}):"]
    forward_ids = {id(e) for e in forward}
    section = None
    last_origin_line = None
    for eqn, value, _ in statements:
        here = "forward" if id(eqn) in forward_ids else "backward"
        if here != section:
            lines.append(f"    # {here}")
            section = here
        if source_line is not None and here == "backward" and eqn.origin is not None \
                and eqn.origin.lineno != last_origin_line:
            last_origin_line = eqn.origin.lineno
            text = source_line(eqn.origin.lineno)
            if text:
                lines.append(f"    # grad of: {text.strip()}")
        if eqn.op in STATEMENT_OPS:
            for stmt in writer.statements(eqn, names[id(eqn.out)], value):
                lines.append("    " + ast.unparse(_Tidy().visit(stmt)))
            continue
        target = ast.Name(id=names[id(eqn.out)], ctx=ast.Store())
        stmt = ast.Assign([target], _Tidy().visit(value), lineno=0)
        lines.append("    " + ast.unparse(stmt))
    if trace is not None:
        trace.update(names)
        lines.append("    return locals()")
        return "\n".join(lines) + "\n", writer.globals_used, writer.helpers
    grads_text = ", ".join(ast.unparse(_Tidy().visit(r)) for r in returned)
    if not bare:
        grads_text = f"({grads_text},)" if len(returned) == 1 else grads_text
    if with_value:
        grads_text = grads_text if bare or len(returned) == 1 else f"({grads_text})"
        grads_text = f"{ast.unparse(value_ret)}, {grads_text}"
    lines.append(f"    return {grads_text}")
    return "\n".join(lines) + "\n", writer.globals_used, writer.helpers


def _inplace_floors(statements) -> dict[int, int]:
    """For ``x[i] = v`` (and zeroing part of a gradient): how long the old ``x``, or an alias
    or view of it, is still read.

    The namer lets the new ``x`` reuse the old one's name, and so change the
    array in place, only after that point; before it, the emitter copies.
    """
    root: dict[int, int] = {}
    last: dict[int, int] = {}
    defined: dict[int, int] = {}
    for index, (eqn, _, reads) in enumerate(statements):
        defined[id(eqn.out)] = index
        for v in reads:
            last[id(v)] = index
    for eqn, _, _ in statements:
        if eqn.op in VIEW_OPS and eqn.ins and isinstance(eqn.ins[0], Var):
            root[id(eqn.out)] = root.get(id(eqn.ins[0]), id(eqn.ins[0]))
    floors = {}
    for index, (eqn, _, _) in enumerate(statements):
        if eqn.op in ("setitem", "zero_at") and isinstance(eqn.ins[0], Var):
            group = root.get(id(eqn.ins[0]), id(eqn.ins[0]))
            # Only what existed before this line can see the old array change.
            members = [v for v in last if root.get(v, v) == group and defined.get(v, -1) < index]
            floors[id(eqn.ins[0])] = max((last[v] for v in members), default=-1)
    return floors

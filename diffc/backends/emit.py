"""The emitter: IR to Python source text, through stdlib ``ast``.

It only emits: the cleanup pass (:mod:`diffc.passes.cleanup`) has decided which
equations get a line and which single-use temporaries are written inline. The
:class:`Writer` builds each line's expression; :class:`~diffc.backends.layout.Layout`
lays the blocks out as lines, the namer names them, and exact rewrites
(:mod:`diffc.backends.tidy`) make the text read as a person would write it.
Library functions are spelled through the user's own imports
(:meth:`diffc.scope.Scope.reference`). The output is a pure function of the
input: same IR, same text.
"""

from __future__ import annotations

import ast
import math

from ..ad.fuse import sigmoid_expression
from ..frontend.scope import Scope
from ..ir import Const, Eqn, Function, Ref, Var, each_item, walk
from ..ops.catalogue import BINOPS, COMPAREOPS, UNARYOPS
from ..ops.special import gate_original
from ..passes.naming import Namer
from . import jax as jax_backend
from . import math as math_backend
from . import numpy as numpy_backend
from .layout import Layout, memory_sets
from .table import spelling
from .tidy import Tidy

_BINOP_NODES = {op: node for node, op in BINOPS.items()}
_UNARY_NODES = {op: node for node, op in UNARYOPS.items()}
_COMPARE_NODES = {op: node for node, op in COMPAREOPS.items()}


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


def index_value_ast(template, args: list[ast.expr]) -> ast.expr:
    """The same index as a value (an argument of np.add.at): a slice is written ``slice(lo, hi, step)``."""
    if template[0] == "tuple":
        return ast.Tuple([index_value_ast(t, args) for t in template[1]], ast.Load())
    if template[0] == "slice":
        parts = [ast.Constant(None) if p is None else args[p] for p in template[1:]]
        if template[3] is None:  # no step: slice(lo, hi), and slice(None) for ':'
            parts = parts[:1] if template[1:3] == (None, None) else parts[:2]
        return ast.Call(ast.Name("slice", ast.Load()), parts, [])
    return index_ast(template, args)


def _is_basic(template, ins) -> bool:
    """True if the index can select no element twice (slices, None, literal integers)."""
    kind = template[0]
    if kind == "tuple":
        return all(_is_basic(t, ins) for t in template[1])
    if kind == "atom":
        return isinstance(ins[template[1]], Const) and type(ins[template[1]].value) is int
    return True


# The libraries generated code calls, by the name compile_source's ``backend`` flag gives: math for
# numbers, then the array library (the last one writes the statement ops and the helpers).
BACKENDS = {
    "numpy": (math_backend.BACKEND, numpy_backend.BACKEND),
    "jax": (math_backend.BACKEND, jax_backend.BACKEND),
}
DEFAULT_BACKENDS = BACKENDS["numpy"]


class Writer:
    """Builds expression trees for equations, inlining single-use temporaries."""

    def __init__(self, eqns: list[Eqn], inline: set[int], scope: Scope, backends=None):
        self.defs = {id(e.out): e for e in eqns}
        self.inline = inline
        self.scope = scope
        self.backends = backends if backends is not None else DEFAULT_BACKENDS
        self.names: list[tuple[ast.Name, Var]] = []
        self.globals_used: set[str] = set()
        self.local_globals: set[str] = set()  # builtins (range) and loop dummies (_): no local takes them
        self.helpers: set[str] = set()

    def builtin(self, name: str) -> str:
        """How generated code calls the builtin ``name``: ``builtins.name`` where a parameter or a module
        global of that name would shadow it."""
        if name in self.scope.avoid or name in self.scope.bindings:
            return ast.unparse(self.global_ref(self.scope.reference("builtins", name)))
        self.local_globals.add(name)
        return name

    def numpy(self, attr: str) -> ast.expr:
        """The array library's ``attr`` (np.zeros_like, or jnp.zeros_like under the JAX backend)."""
        return self.global_ref(self.scope.reference(self.backends[-1].module, attr))

    def global_ref(self, text: str) -> ast.expr:
        self.globals_used.add(text.split(".")[0])
        return ast.parse(text, mode="eval").body

    def raw(self, text: str) -> ast.expr:
        """An expression copied from the user's code; the global names it reads are imported."""
        node = ast.parse(text, mode="eval").body
        self.globals_used.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        return node

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
        if "_orig" in eqn.params:  # a fused gate: its forward is the user's own last operation
            return self.value(gate_original(eqn))
        op, args = eqn.op, [self.atom(a) for a in eqn.ins]
        params = eqn.params
        keywords = [ast.keyword(k, ast.Name(v.__name__, ast.Load()) if isinstance(v, type) else ast.Constant(v))
                    for k, v in params.items() if not k.startswith("_") and k not in ("index", "basic")]
        style = params.get("_style")
        if style is not None and style[0] == "attr":
            return ast.Attribute(args[0], style[1], ast.Load())
        if op in ("opaque", "astype"):  # a call written as the user wrote it (an input, or its text)
            parts, named = [], []
            for key, (kind, value) in params["_args"]:
                arg = self.raw(value) if kind == "raw" else args[value]
                arg = ast.Starred(arg, ast.Load()) if kind == "star" else arg  # np.random.rand(*x.shape)
                (named.append(ast.keyword(key, arg)) if key else parts.append(arg))
            func = ast.Attribute(args[0], "astype", ast.Load()) if op == "astype" else \
                self.raw(params["_callee"]) if params["_method"] is None else \
                ast.Attribute(args[0], params["_method"], ast.Load())
            return ast.Call(func, parts, named)
        if style is not None and style[0] == "method":
            return ast.Call(ast.Attribute(args[0], style[1], ast.Load()), args[1:], keywords)
        if "_seq" in params:
            args = [(ast.List if params["_seq"] == "List" else ast.Tuple)(args, ast.Load())]
        if op == "getitem":
            return ast.Subscript(args[0], index_ast(params["index"], args), ast.Load())
        if op == "field":
            return ast.Subscript(args[0], ast.Constant(params["key"]), ast.Load())
        if op == "make_struct":
            if params["kind"] == "dict":
                return ast.Dict([ast.Constant(k) for k in params["keys"]], args)
            return (ast.List if params["kind"] == "list" else ast.Tuple)(args, ast.Load())
        if op == "tuple":
            return ast.Tuple(args, ast.Load())
        if op == "list":
            return ast.List(args, ast.Load())
        if op.startswith("_"):
            self.helpers.add(op)
            helper = ast.Name(self.scope.helper_name(op), ast.Load())
            if op == "_last_writes":  # the index itself, as a value: np.index_exp[...]
                exp = ast.Subscript(self.numpy("index_exp"), index_ast(params["index"], [None, *args[1:]]),
                                    ast.Load())
                return ast.Call(helper, [args[0], exp], [])
            if op == "_first_mask":  # which extreme: np.argmax or np.argmin
                args = [self.numpy("argmax" if params["pick"] == "max" else "argmin"), *args]
                keywords = [k for k in keywords if k.arg != "pick"]
            return ast.Call(helper, args, keywords)
        if op == "copy":
            return args[0]
        if op == "sigmoid":
            return sigmoid_expression(eqn, args[0], self.atom, self.function)
        if op in _BINOP_NODES:
            return ast.BinOp(args[0], _BINOP_NODES[op](), args[1])
        if op in _UNARY_NODES:
            return ast.UnaryOp(_UNARY_NODES[op](), args[0])
        if op in _COMPARE_NODES:
            return ast.Compare(args[0], [_COMPARE_NODES[op]()], [args[1]])
        if op in ("and", "or"):
            return ast.BoolOp(ast.And() if op == "and" else ast.Or(), args)
        if op == "not":
            return ast.UnaryOp(ast.Not(), args[0])
        if op == "select":
            return ast.IfExp(args[0], args[1], args[2])
        return ast.Call(self.function(op), args, keywords)

    def function(self, op: str) -> ast.expr:
        """The function generated code calls for ``op``: its backend's spelling, else the builtin."""
        text = spelling(self.backends, op)
        if text is None and "." in op:  # a rule written before the IR was library-neutral
            raise ValueError(f"op {op!r} is named by a library: IR ops are named by meaning (diffc.ops.op.neutral)")
        if text is None:
            return ast.parse(self.builtin(op), mode="eval").body
        module, _, attr = text.rpartition(".")
        return self.global_ref(self.scope.reference(module, attr))

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
        basic = eqn.params.get("basic") or _is_basic(index, eqn.ins)
        if eqn.op == "index_add":  # acc[index] += g in place (the accumulator is the backward pass's own)
            if self.backends[-1].functional_scatter:  # JAX: acc.at[index].add(g), a new array
                at = ast.Subscript(ast.Attribute(args[0], "at", ast.Load()), index_ast(index, args), ast.Load())
                added = ast.Call(ast.Attribute(at, "add", ast.Load()), [args[1]], [])
                return [ast.Assign([ast.Name(target, ast.Store())], added, lineno=0)]
            same = isinstance(args[0], ast.Name) and args[0].id == target
            copy = [] if same else [ast.Assign([ast.Name(target, ast.Store())], _method(args[0], "copy"), lineno=0)]
            if basic or eqn.params.get("unique"):  # no element selected twice: += is exact
                if isinstance(args[1], ast.UnaryOp) and isinstance(args[1].op, ast.USub):  # += -g is -= g
                    return [*copy, ast.AugAssign(store, ast.Sub(), args[1].operand)]
                return [*copy, ast.AugAssign(store, ast.Add(), args[1])]
            add_at = ast.Call(ast.Attribute(self.numpy("add"), "at", ast.Load()),
                              [name, index_value_ast(index, args), args[1]], [])
            return [*copy, ast.Expr(add_at)]  # an index that may repeat: each repeat adds
        # scatter_add: the gradient of x[index] is zero but at index, where it adds up.
        dtype = [ast.keyword("dtype", ast.Name("float", ast.Load()))] if eqn.params.get("dtype") else []
        zeros = ast.Call(self.numpy("zeros_like"), [args[0]], dtype)
        if self.backends[-1].functional_scatter:  # JAX: zeros_like(x).at[index].add(g), a new array
            at = ast.Subscript(ast.Attribute(zeros, "at", ast.Load()), index_ast(index, args), ast.Load())
            added = ast.Call(ast.Attribute(at, "add", ast.Load()), [args[1]], [])
            return [ast.Assign([ast.Name(target, ast.Store())], added, lineno=0)]
        first = ast.Assign([ast.Name(target, ast.Store())], zeros, lineno=0)
        if basic or eqn.params.get("unique"):
            return [first, ast.Assign([store], args[1], lineno=0)]
        add_at = ast.Call(ast.Attribute(self.numpy("add"), "at", ast.Load()),
                          [name, index_value_ast(index, args), args[1]], [])
        return [first, ast.Expr(add_at)]


def _method(obj: ast.expr, name: str) -> ast.expr:
    return ast.Call(ast.Attribute(obj, name, ast.Load()), [], [])


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


def emit_function(fn: Function, name: str, items: list, inline: set[int], group: dict[int, int], backward: list,
                  grads: list[Var], *, bare: bool, with_value: bool, scope: Scope, source_line=None,
                  trace: dict | None = None, check_scalar: str | None = None,
                  backends=None, arrays: set[int] = frozenset(),
                  cotangent_checks=()) -> tuple[str, set[str], set[str]]:
    """The text of one generated function, the global names and the helpers it uses.

    ``items``, ``inline`` and ``group`` are the cleanup pass's plan (:mod:`diffc.passes.cleanup`): the
    items to write, the variables written inline, the values that share a name; the top-level items
    of ``backward`` are written under a ``# backward`` comment.
    ``check_scalar``, the user's function name, asks for a check after the forward pass that its
    value is a scalar (when that is not proven at compile time).
    ``cotangent_checks``, (cotangent, returned value, what to call it) triples of a vector-Jacobian
    product, asks for the same place to check that each cotangent has its value's shape.
    ``source_line(lineno)``, if given, turns on provenance comments. ``backends``: the libraries
    that spell the ops (one of :data:`BACKENDS`; default NumPy's).
    ``trace``, if given, asks for a function that keeps every value under a
    name of its own and returns ``locals()``; ``trace`` receives the names.
    ``arrays`` holds the ids of the variables known to be arrays: each is deleted (``del``) after the
    top-level line that last reads it, unless it is returned or a parameter or shares memory with one.
    """
    writer = Writer([e for e in walk(items)], inline, scope, backends)
    layout = Layout(writer, inline, {id(i) for i in backward})
    with scope.avoiding(p.hint for p in fn.params):  # a parameter never shadows a library function
        layout.flatten(items, 1)
        ret_start = len(writer.names)
        returned = [writer.atom(g) for g in grads]
        value_ret = writer.atom(fn.out) if with_value else None
        aux_ret = [writer.atom(a) for a in fn.aux]
    ret_reads = [v for _, v in writer.names[ret_start:]]
    # Nor does a local: one named like a global the generated code calls (cos = 2.0 beside math's cos)
    # is renamed.
    calls = writer.globals_used | writer.local_globals | {scope.helper_name(h) for h in writer.helpers}
    namer = Namer(scope.reserved, unique=trace is not None, calls=calls)
    output = fn.out if isinstance(fn.out, Var) else None
    members = [v for item in each_item(items) for v in _group_members(item)]
    last = layout.last_use(ret_reads)
    names = namer.assign(fn.params, layout.events, last, group, output, members)
    layout.name_dummies(names, last, fn.params)
    if trace is None and arrays:
        shared = memory_sets(items)
        held = set().union(*(shared.get(id(v), {id(v)}) for v in [*fn.params, *ret_reads]))
        keep = {vid for vid in names if shared.get(vid, {vid}) & held}
        for eqn in walk(items):  # a part of a container parameter, or held by a container: del frees nothing
            if eqn.op == "field":
                keep.add(id(eqn.out))
            elif eqn.op in ("make_struct", "tuple", "list"):
                keep.update(id(a) for a in eqn.ins)
        # Merged by control flow: every value of a group some if or loop merges (a name shared only by a
        # chain of writes in place, margins[i] = 0 after margins = ..., may be deleted).
        flow = {group[id(v)] for v in members if id(v) in group}
        layout.release(names, last, set(arrays), keep, {vid for vid, gid in group.items() if gid in flow})
    for node, v in writer.names:
        node.id = names[id(v)]

    lines = [f"def {name}({signature(fn)}):"]
    layout.write(items, 1, lines, names, source_line)
    if check_scalar and trace is None and isinstance(fn.out, Var):
        at = lines.index("    # backward") if "    # backward" in lines else len(lines)
        lines[at:at] = _scalar_check(writer, names[id(fn.out)], check_scalar, with_value)
    if cotangent_checks and trace is None:
        at = lines.index("    # backward") if "    # backward" in lines else len(lines)
        lines[at:at] = [line for c, v, what in cotangent_checks
                        for line in _cotangent_check(writer, names[id(c)], names[id(v)], what)]
    if trace is not None:
        trace.update(names)
        lines.append("    return locals()")
        return "\n".join(lines) + "\n", writer.globals_used, writer.helpers
    grads_text = ", ".join(ast.unparse(Tidy().visit(r)) for r in returned)
    if not bare:
        grads_text = f"({grads_text},)" if len(returned) == 1 else grads_text
    aux_text = ", ".join(ast.unparse(Tidy().visit(a)) for a in aux_ret)
    aux_text = f"({aux_text})" if len(aux_ret) > 1 else aux_text  # JAX's has_aux: one value, or a tuple
    if with_value:
        grads_text = grads_text if bare or len(returned) == 1 else f"({grads_text})"
        value_text = f"({ast.unparse(value_ret)}, {aux_text})" if aux_ret else ast.unparse(value_ret)
        grads_text = f"{value_text}, {grads_text}"
    elif aux_ret:
        grads_text = f"({grads_text}), {aux_text}" if not bare and len(returned) > 1 else f"{grads_text}, {aux_text}"
    lines.append(f"    return {grads_text}")
    return "\n".join(lines) + "\n", writer.globals_used, writer.helpers


def _scalar_check(writer: Writer, value: str, function: str, with_value: bool) -> list[str]:
    """Lines that raise unless ``value`` is a scalar: the gradient of an array is not defined."""
    ndim, shape = (ast.unparse(writer.numpy(attr)) for attr in ("ndim", "shape"))
    what = "value_and_grad" if with_value else "grad"
    message = (f"{function} returned a value of shape {{{shape}({value})}}; {what} needs a scalar output: "
               "return a scalar such as np.sum(...) or np.mean(...) of it, or use diffc.vjp or diffc.jacobian")
    return [f"    if {ndim}({value}) != 0:", f"        raise ValueError(f{message!r})"]


def _cotangent_check(writer: Writer, cotangent: str, value: str, what: str) -> list[str]:
    """Lines that raise unless the cotangent ``cotangent`` has the shape of the returned ``value``
    (``what`` says which, to the user): one of another shape would broadcast into the gradient of
    another product."""
    shape = ast.unparse(writer.numpy("shape"))
    message = f"{cotangent} must have the shape of {what}, %s, not %s"
    return [f"    if {shape}({cotangent}) != {shape}({value}):",
            f"        raise ValueError({message!r} % ({shape}({value}), {shape}({cotangent})))"]


def _group_members(item) -> list:
    return [m for members in item.merged() for m in members if isinstance(m, Var)]



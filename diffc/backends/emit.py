"""The emitter: IR to Python source text, through stdlib ``ast``.

Each kept equation becomes one line ``name = expression``; single-use
temporaries are written inline (see :mod:`diffc.passes.cleanup`). A few exact
rewrites make the text read as a person would write it: ``-(a * b)``
becomes ``-a * b`` and ``a + -b`` becomes ``a - b`` (negation is exact in
floating point, so the values are bit-identical). Library functions are
spelled through the user's own imports (:meth:`diffc.scope.Scope.reference`).
The output is a pure function of the input: same IR, same text.
"""

from __future__ import annotations

import ast
import itertools
import math

from ..ad.fuse import sigmoid_expression
from ..frontend.lower import VIEW_OPS
from ..frontend.scope import Scope
from ..ir import Const, Eqn, Function, If, Ref, Var, walk
from ..ops.catalogue import BINOPS, BOOLEAN_OPS, COMPAREOPS, UNARYOPS, spelling
from ..passes.cleanup import each_item, groups, keep_old_values, normalize, plan
from ..passes.naming import Namer
from ..passes.sharing import MAY_RETURN_INPUT

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


class _Writer:
    """Builds expression trees for equations, inlining single-use temporaries."""

    def __init__(self, eqns: list[Eqn], inline: set[int], scope: Scope):
        self.defs = {id(e.out): e for e in eqns}
        self.inline = inline
        self.scope = scope
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
        return self.global_ref(self.scope.reference("numpy", attr))

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
        op, args = eqn.op, [self.atom(a) for a in eqn.ins]
        params = eqn.params
        keywords = [ast.keyword(k, ast.Name(v.__name__, ast.Load()) if isinstance(v, type) else ast.Constant(v))
                    for k, v in params.items() if not k.startswith("_") and k not in ("index", "basic")]
        style = params.get("_style")
        if style is not None and style[0] == "attr":
            return ast.Attribute(args[0], style[1], ast.Load())
        if op == "opaque":  # a call diffc has no rule for, written as the user wrote it
            parts, named = [], []
            for key, (kind, value) in params["_args"]:
                arg = args[value] if kind == "in" else self.raw(value)
                (named.append(ast.keyword(key, arg)) if key else parts.append(arg))
            func = self.raw(params["_callee"]) if params["_method"] is None else \
                ast.Attribute(args[0], params["_method"], ast.Load())
            return ast.Call(func, parts, named)
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
            return sigmoid_expression(eqn, args[0], self.atom,
                                      lambda module, attr: self.global_ref(self.scope.reference(module, attr)))
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
        if spelling(op) is not None:
            module, _, attr = spelling(op).rpartition(".")
            func = self.global_ref(self.scope.reference(module, attr))
        else:
            func = ast.parse(self.builtin(op), mode="eval").body
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
        dtype = [ast.keyword("dtype", ast.Name("float", ast.Load()))] if eqn.params.get("dtype") else []
        zeros = ast.Call(self.numpy("zeros_like"), [args[0]], dtype)
        first = ast.Assign([ast.Name(target, ast.Store())], zeros, lineno=0)
        if eqn.params.get("basic") or _is_basic(index, eqn.ins):
            return [first, ast.Assign([store], args[1], lineno=0)]
        add_at = ast.Call(ast.Attribute(self.numpy("add"), "at", ast.Load()),
                          [name, index_value_ast(index, args), args[1]], [])
        return [first, ast.Expr(add_at)]


def _method(obj: ast.expr, name: str) -> ast.expr:
    return ast.Call(ast.Attribute(obj, name, ast.Load()), [], [])


def memory_sets(items) -> dict[int, frozenset]:
    """id(var) -> the ids of the arrays whose memory it may share: through views, both sides of a
    select, an if's phis and a loop's carried values (for variables that may share any)."""
    roots: dict[int, frozenset] = {}

    def of(a) -> frozenset:
        return roots.get(id(a), frozenset((id(a),))) if isinstance(a, Var) else frozenset()

    def join(out, *sources):
        roots[id(out)] = of(out).union(*(of(a) for a in sources))

    def visit(block):
        for item in block:
            if isinstance(item, Eqn):
                if item.op in VIEW_OPS | MAY_RETURN_INPUT and item.ins and isinstance(item.ins[0], Var):
                    join(item.out, item.ins[0])
                elif item.op == "select":
                    join(item.out, *item.ins[1:3])
            elif isinstance(item, If):
                visit(item.then)
                visit(item.orelse)
                for phi in item.phis:
                    join(phi.out, phi.then, phi.orelse)
            else:
                for c in item.carried:
                    join(c.start, c.init)
                for _ in range(2):  # the second pass: a later iteration starts from what this one ends with
                    visit(item.cond)
                    visit(item.body)
                    for c in item.carried:
                        join(c.start, c.end)
                for c in item.carried:
                    join(c.final, c.start)

    visit(items)
    return roots


class _Tidy(ast.NodeTransformer):
    """Exact rewrites that make expressions read as a person writes them.

    ``-(a * b)`` becomes ``-a * b`` only where ``a`` cannot be a boolean array (NumPy refuses to
    negate one): not a comparison, a logical operation, or a name in ``booleans`` that one made."""

    def __init__(self, booleans=frozenset()):
        self.booleans = booleans

    def _maybe_bool(self, node) -> bool:
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            return True
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, (ast.Not, ast.Invert))
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor))
        if isinstance(node, ast.Name):
            return node.id in self.booleans
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            return name.startswith("logical_") or name in ("isnan", "isfinite")
        return False

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub):
            inner = node.operand
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, (ast.Mult, ast.Div)) and \
                    not self._maybe_bool(inner.left):
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


def emit_function(fn: Function, name: str, forward: list, backward: list, grads: list[Var],
                  *, bare: bool, with_value: bool, scope: Scope, source_line=None,
                  trace: dict | None = None, check_scalar: str | None = None) -> tuple[str, set[str], set[str]]:
    """The text of one generated function, the global names and the helpers it uses.

    ``check_scalar``, the user's function name, asks for a check after the forward pass that its
    value is a scalar (when that is not proven at compile time).
    ``source_line(lineno)``, if given, turns on provenance comments.
    ``trace``, if given, asks for a function that keeps every value under a
    name of its own and returns ``locals()``; ``trace`` receives the names.
    """
    roots = [fn.out, *grads, *fn.aux]
    if trace is None:
        items, inline, group = plan(forward, backward, fn.params, roots)
    else:
        items = forward + backward
        normalize(items)
        items, inline, group = items, set(), groups(items)
        keep_old_values(items, group)
    writer = _Writer([e for e in walk(items)], inline, scope)
    layout = _Layout(writer, inline)
    layout.backward_ids = {id(i) for i in backward}
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
    for node, v in writer.names:
        node.id = names[id(v)]

    lines = [f"def {name}({signature(fn)}):"]
    layout.write(items, 1, lines, names, source_line)
    if check_scalar and trace is None and isinstance(fn.out, Var):
        at = lines.index("    # backward") if "    # backward" in lines else len(lines)
        lines[at:at] = _scalar_check(writer, names[id(fn.out)], check_scalar, with_value)
    if trace is not None:
        trace.update(names)
        lines.append("    return locals()")
        return "\n".join(lines) + "\n", writer.globals_used, writer.helpers
    grads_text = ", ".join(ast.unparse(_Tidy().visit(r)) for r in returned)
    if not bare:
        grads_text = f"({grads_text},)" if len(returned) == 1 else grads_text
    aux_text = ", ".join(ast.unparse(_Tidy().visit(a)) for a in aux_ret)
    aux_text = f"({aux_text})" if len(aux_ret) > 1 else aux_text  # JAX's has_aux: one value, or a tuple
    if with_value:
        grads_text = grads_text if bare or len(returned) == 1 else f"({grads_text})"
        value_text = f"({ast.unparse(value_ret)}, {aux_text})" if aux_ret else ast.unparse(value_ret)
        grads_text = f"{value_text}, {grads_text}"
    elif aux_ret:
        grads_text = f"({grads_text}), {aux_text}" if not bare and len(returned) > 1 else f"{grads_text}, {aux_text}"
    lines.append(f"    return {grads_text}")
    return "\n".join(lines) + "\n", writer.globals_used, writer.helpers


def _scalar_check(writer: _Writer, value: str, function: str, with_value: bool) -> list[str]:
    """Lines that raise unless ``value`` is a scalar: the gradient of an array is not defined."""
    ndim, shape = (ast.unparse(writer.numpy(attr)) for attr in ("ndim", "shape"))
    what = "value_and_grad" if with_value else "grad"
    message = (f"{function} returned a value of shape {{{shape}({value})}}; {what} needs a scalar output: "
               "return a scalar such as np.sum(...) or np.mean(...) of it")
    return [f"    if {ndim}({value}) != 0:", f"        raise ValueError(f{message!r})"]


def _group_members(item) -> list:
    if isinstance(item, If):
        return [m for p in item.phis for m in (p.out, p.then, p.orelse) if isinstance(m, Var)]
    if isinstance(item, Eqn) or not hasattr(item, "carried"):
        return []
    return [m for c in item.carried for m in (c.init, c.start, c.end, c.final) if isinstance(m, Var)]


class _Layout:
    """Blocks as lines: first flattened (for naming, with each loop's extent), then written out."""

    def __init__(self, writer: _Writer, inline: set[int]):
        self.writer, self.inline = writer, inline
        self.values: dict[int, object] = {}  # id(item) -> its expression(s), built before naming
        self.reads: list[list[Var]] = []  # per line: the variables it reads
        self.events: list[tuple[int, Var]] = []  # (line, variable defined there)
        self.loops: list[tuple[int, int]] = []  # (first line, last line) of each loop
        self.setitems: list[tuple[int, Eqn]] = []
        self.dummies: dict[int, object] = {}  # id(loop) -> its first line, then its dummy variable
        self.builtins: dict[int, tuple] = {}  # id(loop) -> how it spells range and reversed
        self.late_reads: list[tuple[int, list]] = []  # statements that bind their name, then read these
        self.booleans: set[str] = set()  # names written with a boolean value so far

    def _line(self, build, defines=()):
        start = len(self.writer.names)
        value = build()
        self.reads.append([v for _, v in self.writer.names[start:]])
        index = len(self.reads) - 1
        self.events.extend((index, v) for v in defines)
        return value, index

    def flatten(self, items, depth):
        w = self.writer
        if depth == 1:
            self.items = items
        for item in items:
            if isinstance(item, Eqn):
                if id(item.out) in self.inline:
                    continue
                if item.op in STATEMENT_OPS or item.op in ("push", "pop", "new_stack"):
                    first = []

                    def build(item=item, first=first):
                        atoms = [w.atom(item.ins[0])] if item.ins else []
                        first.append(len(w.names))
                        return atoms + [w.atom(a) for a in item.ins[1:]]
                    value, index = self._line(build, [item.out])
                    if item.op in ("setitem", "zero_at"):
                        self.setitems.append((index, item))
                    if item.op in STATEMENT_OPS:  # out = ...; out[index] = value: value is read after
                        self.late_reads.append((index, [v for _, v in w.names[first[0]:]]))
                else:
                    value, _ = self._line(lambda item=item: w.value(item), [item.out])
                self.values[id(item)] = value
            elif isinstance(item, If):
                self.values[id(item)], _ = self._line(lambda item=item: w.atom(item.cond))
                self.flatten(item.then, depth + 1)
                self._line(lambda: None)
                self.flatten(item.orelse, depth + 1)
            else:
                def header(item=item):
                    if item.kind == "while":
                        return [w.atom(item.test)]
                    return [w.atom(a) for a in item.args]
                self.values[id(item)], first = self._line(header, [item.target] if item.target else [])
                if item.kind != "while":
                    if item.target is None:  # a counted loop: its variable is a dummy (named after naming)
                        self.dummies[id(item)] = first
                    self.builtins[id(item)] = (w.builtin("range"),
                                               w.builtin("reversed") if item.kind == "reverse" else None)
                self.flatten(item.body, depth + 1)
                self.loops.append((first, len(self.reads) - 1))

    def name_dummies(self, names: dict[int, str], last: dict[int, int], params: list[Var]) -> None:
        """A counted loop's dummy variable is ``_``, unless that clobbers a value read from the loop on
        (the user's own ``_``, say) or a parameter: then ``__``, and so on."""
        latest: dict[str, int] = {p.hint: len(self.reads) for p in params}
        for vid, index in last.items():
            name = names.get(vid)
            if name is not None:
                latest[name] = max(latest.get(name, -1), index)
        for loop, first in self.dummies.items():
            self.dummies[loop] = next(d for d in ("_" * k for k in itertools.count(1))
                                      if latest.get(d, -1) < first)

    def last_use(self, returned: list[Var]) -> dict[int, int]:
        last: dict[int, int] = {}
        defined: dict[int, int] = {id(v): i for i, v in self.events}
        for index, reads in enumerate(self.reads):
            for v in reads:
                last[id(v)] = index
        end = len(self.reads)
        for v in returned:
            last[id(v)] = end
        for index, late in self.late_reads:  # the name the statement binds cannot be theirs
            for v in late:
                last[id(v)] = max(last[id(v)], index + 0.5)
        for first, final in self.loops:  # read in a loop, made before it: needed until the loop ends
            for index in range(first, final + 1):
                for v in self.reads[index]:
                    if defined.get(id(v), -1) < first:
                        last[id(v)] = max(last[id(v)], final)
        # x[i] = v writes in place only when nothing reads the old x, or an alias or view of it, later.
        roots = memory_sets(self.items)
        for index, eqn in self.setitems:
            old = eqn.ins[0]
            if isinstance(old, Var):
                group = roots.get(id(old), frozenset((id(old),)))
                members = [v for v in last if roots.get(v, frozenset((v,))) & group and defined.get(v, -1) < index]
                last[id(old)] = max([last.get(id(old), -1)] + [last[v] for v in members])
        return last

    section = None

    def write(self, items, depth, lines, names, source_line):
        pad = "    " * depth
        w = self.writer
        start = len(lines)
        last_origin = None
        for item in items:
            if depth == 1:
                here = "backward" if id(item) in self.backward_ids or self.section == "backward" else "forward"
                if here != self.section:
                    lines.append(f"    # {here}")
                    self.section = here
            if isinstance(item, Eqn):
                if id(item.out) in self.inline:
                    continue
                value, target = self.values[id(item)], names.get(id(item.out))
                if source_line is not None and depth == 1 and item.origin is not None and \
                        item.origin.lineno != last_origin:
                    last_origin = item.origin.lineno
                    text = source_line(item.origin.lineno)
                    if text:
                        lines.append(f"{pad}# grad of: {text.strip()}")
                if item.op == "push":
                    lines.append(f"{pad}{ast.unparse(value[0])}.append({ast.unparse(value[1])})")
                elif item.op == "pop":
                    lines.append(f"{pad}{target} = {ast.unparse(value[0])}.pop()")
                elif item.op == "new_stack":
                    lines.append(f"{pad}{target} = []")
                elif item.params.get("_raise"):  # the user's raise statement
                    lines.append(f"{pad}raise {ast.unparse(value)}")
                elif item.op in STATEMENT_OPS:
                    tidy = _Tidy(self.booleans)
                    lines.extend(pad + ast.unparse(tidy.visit(s)) for s in w.statements(item, target, value))
                else:
                    tidy = _Tidy(self.booleans).visit(value)
                    # -(-x) tidied to x would make a new array an alias that no pass has seen
                    text = ast.unparse(value if isinstance(tidy, ast.Name) and item.op != "copy" else tidy)
                    if item.op in BOOLEAN_OPS and target:
                        self.booleans.add(target)  # -(target * x) must not become -target * x
                    if item.op != "copy" or text != target:  # x = x says nothing
                        lines.append(f"{pad}{target} = {text}")
            elif isinstance(item, If):
                head = len(lines)
                lines.append(f"{pad}if {ast.unparse(self.values[id(item)])}:")
                self.write(item.then, depth + 1, lines, names, source_line)
                mark = len(lines)
                lines.append(f"{pad}else:")
                self.write(item.orelse, depth + 1, lines, names, source_line)
                if lines[-1] == f"{pad}    pass":
                    del lines[mark:]  # no else branch to write
                elif lines[head + 1:mark] == [f"{pad}    pass"]:  # only an else branch: if not ...
                    test = ast.unparse(_Tidy().visit(ast.UnaryOp(ast.Not(), self.values[id(item)])))
                    lines[head:mark + 1] = [f"{pad}if {test}:"]
            else:
                header = [ast.unparse(a) for a in self.values[id(item)]]
                target = names[id(item.target)] if item.target is not None else self.dummies.get(id(item))
                range_, reversed_ = self.builtins.get(id(item), (None, None))
                if item.kind == "while":
                    lines.append(f"{pad}while {header[0]}:")
                elif item.kind == "reverse" and item.mirror.kind == "while":
                    lines.append(f"{pad}for {target} in {range_}({header[0]}):")
                elif item.kind == "reverse":
                    lines.append(f"{pad}for {target} in {reversed_}({range_}({', '.join(header)})):")
                else:
                    lines.append(f"{pad}for {target} in {range_}({', '.join(header)}):")
                self.write(item.body, depth + 1, lines, names, source_line)
        if depth > 1 and len(lines) == start:
            lines.append(f"{pad}pass")

"""A function's computational graph, evaluated: every value and every gradient.

``trace_source`` (for files; the CLI) and ``trace_live`` (for live
functions; ``diffc.draw`` and ``diffc.explain``) build the graph the lecture
draws: one node per input, one per gate, one for the output; an edge per
value that flows from a node into a gate. With arguments, the generated
gradient is run in a form that keeps every value under its own name, and
each edge carries the forward value and the gradient sent back along it.
Without arguments the graph is built from the source alone and nothing runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..compiler import emit_traced, join_module, module_parts, prepare
from ..deep import deep
from ..errors import DiffcError, SelectionError, UnsupportedError
from ..frontend.scope import Scope
from ..frontend.source import Source
from ..ir import Const, Ref, Var
from ..ops.catalogue import SYMBOLS, get
from .interpret import has_control_flow, unroll

_SYMBOLS = SYMBOLS  # an operator's symbol, from its record


def format_value(value) -> str:
    """A number as the lecture writes it (2 decimals, integers bare); an array by its shape and mean
    unless it is small."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None and isinstance(value, np.ndarray) and value.ndim > 0:
        if value.size <= 4 and value.ndim == 1:
            return "[" + ", ".join(format_value(v) for v in value.tolist()) + "]"
        if value.size <= 4:
            return "[" + ", ".join(format_value(row) for row in value) + "]"
        return f"{value.shape} mean={format_value(float(np.mean(value)))}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):  # a tuple of arrays (np.linalg.eigh's pair, or its gradient)
        return "(" + ", ".join(format_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) < 1e6:
        return str(int(number))
    if 0.01 <= abs(number) < 1e4:
        return f"{number:.2f}"
    return f"{number:.3g}"


@dataclass
class Node:
    key: str
    label: str
    kind: str  # "input", "gate" or "output"
    name: str | None = None  # the value it produces
    eqn: object = None


@dataclass
class Edge:
    src: str
    dst: str
    name: str
    value: object = None
    grad: object = None


@dataclass
class Trace:
    function: str
    nodes: list[Node]
    edges: list[Edge]
    evaluated: bool
    output_name: str
    output_value: object = None
    args: dict = field(default_factory=dict)
    # For explain: the pipeline's pieces and what the run left behind.
    prepared: object = None
    names: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    scope: object = None
    globals: dict = field(default_factory=dict)

    def value(self, atom):
        if isinstance(atom, (Const, Ref)):
            return atom.value
        name = self.names.get(id(atom))
        return self.env.get(name) if name is not None else None

    def name(self, atom) -> str:
        if isinstance(atom, Const):
            return repr(atom.value)
        if isinstance(atom, Ref):
            return atom.name if atom.module is None else f"{atom.module}.{atom.name}"
        return self.names.get(id(atom)) or atom.hint or "?"


def gate_label(eqn) -> str:
    op = eqn.op
    record = get(op)
    label = _SYMBOLS.get(op) or (record.spelling if record and record.spelling else op).rpartition(".")[2]
    constants = [(i, a) for i, a in enumerate(eqn.ins) if isinstance(a, (Const, Ref))]
    if op in _SYMBOLS and op not in ("getitem", "setitem", "copy", "sigmoid") and len(eqn.ins) == 2 \
            and len(constants) == 1:
        i, const = constants[0]
        text = repr(const.value) if isinstance(const, Const) else const.name
        label = f"{label} {text}" if i == 1 else f"{text} {label}"
    axis = eqn.params.get("axis")
    if axis is not None:
        label += f" axis={axis}"
    return label


def _build(fdef, scope: Scope, source: Source, args: dict | None, *, wrt=None, shapes=None, fuse=True) -> Trace:
    try:
        return _build_unchecked(fdef, scope, source, args, wrt=wrt, shapes=shapes, fuse=fuse)
    except DiffcError:
        raise
    except Exception as exc:  # the user's code failed at these values (a TypeError, a math domain error)
        raise DiffcError(f"evaluating '{fdef.name}' at the given values failed: {type(exc).__name__}: {exc}",
                         filename=source.filename, lineno=source.lineno(fdef),
                         hint="check the values given with --at (types, shapes, domains)") from None


def _build_unchecked(fdef, scope, source, args, *, wrt=None, shapes=None, fuse=True) -> Trace:
    record: dict = {}
    transform = None
    if args is not None:  # branches and loops: the path this call takes
        transform = lambda fn: unroll(fn, args, scope) if has_control_flow(fn) else fn  # noqa: E731
    p = prepare(fdef, scope, source, wrt=wrt, shapes=shapes, fuse=fuse, record=record, transform=transform)
    if args is None and has_control_flow(p.fn):
        raise UnsupportedError("a graph of code with branches or loops needs values: the path depends on them",
                               filename=source.filename, lineno=source.lineno(fdef),
                               hint="give the arguments with --at NAME=VALUE")
    names: dict = {}
    env: dict = {}
    if args is not None:
        text, used, helpers = emit_traced(p, f"{fdef.name}_trace", names)
        namespace: dict = {}
        exec(compile(join_module(None, module_parts(scope, used, helpers), [text]), "<diffc trace>", "exec"),
             namespace)
        env = namespace[f"{fdef.name}_trace"](**args)
    else:
        for i, eqn in enumerate(p.forward):
            names[id(eqn.out)] = eqn.out.hint or f"t{i + 1}"
        for param in p.fn.params:
            names[id(param)] = param.hint
    trace = Trace(fdef.name, [], [], args is not None, "", args=args or {}, prepared=p, names=names, env=env,
                  record=record, scope=scope, globals=namespace if args is not None else {})
    producer: dict[int, str] = {}
    grads = record.get("grads", {})
    used_params = {id(a) for e in p.forward for a in e.ins} | {id(p.fn.out)}
    for param in p.fn.params:
        if id(param) in used_params:
            key = f"in_{param.hint}"
            trace.nodes.append(Node(key, param.hint, "input", param.hint))
            producer[id(param)] = key
    for index, eqn in enumerate(p.forward):
        key = f"gate{index + 1}"
        trace.nodes.append(Node(key, gate_label(eqn), "gate", trace.name(eqn.out), eqn))
        for i, atom in enumerate(eqn.ins):
            if isinstance(atom, Var) and id(atom) in producer:
                part = record.get((id(eqn), i))
                trace.edges.append(Edge(producer[id(atom)], key, trace.name(atom), trace.value(atom),
                                        None if part is None else trace.value(part)))
        producer[id(eqn.out)] = key
    out = p.fn.out
    trace.output_name = out.hint if isinstance(out, Var) and out.hint else fdef.name
    if isinstance(out, Var) and not out.hint:
        for edge in trace.edges:  # the unnamed result is called after the function, as in df/dx
            edge.name = fdef.name if edge.name == trace.name(out) else edge.name
        trace.names[id(out)] = fdef.name if args is None else trace.names[id(out)]
    if isinstance(out, Var) and id(out) in producer:
        trace.nodes.append(Node("output", trace.output_name, "output", trace.name(out)))
        seed = grads.get(id(out))
        trace.edges.append(Edge(producer[id(out)], "output", trace.output_name, trace.value(out),
                                None if seed is None else trace.value(seed)))
    trace.output_value = trace.value(out) if args is not None else None
    return trace


def _bind_args(fdef, given: dict, defaults: dict, filename: str) -> dict:
    params = [a.arg for a in [*fdef.args.posonlyargs, *fdef.args.args, *fdef.args.kwonlyargs]]
    unknown = [name for name in given if name not in params]
    if unknown:
        raise SelectionError(f"'{fdef.name}' has no parameter '{unknown[0]}'", filename=filename,
                             lineno=fdef.lineno, hint=f"its parameters are: {', '.join(params)}")
    args = {**defaults, **given}
    missing = [name for name in params if name not in args]
    if missing:
        raise SelectionError(f"no value for parameter '{missing[0]}' of '{fdef.name}'", filename=filename,
                             lineno=fdef.lineno, hint=f"give one with --at {missing[0]}=VALUE")
    return {name: args[name] for name in params}


@deep
def trace_source(text: str, filename: str, function: str | None, args: dict | None, **options) -> Trace:
    """The graph of ``function`` in a module's source, evaluated at ``args`` (None: structure only)."""
    source = Source(text, filename)
    tree = source.parse()
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if function is None:
        if len(defs) != 1:
            raise SelectionError("name the function with -f NAME", filename=filename,
                                 hint=f"functions in this file: {', '.join(defs) or 'none'}")
        function = next(iter(defs))
    if function not in defs:
        raise SelectionError(f"no top-level function named '{function}'", filename=filename,
                             hint=f"functions in this file: {', '.join(defs) or 'none'}")
    fdef = defs[function]
    defaults = {}
    positional = [*fdef.args.posonlyargs, *fdef.args.args]
    for arg, default in zip(positional[len(positional) - len(fdef.args.defaults):], fdef.args.defaults):
        defaults[arg.arg] = ast.literal_eval(default)
    bound = None if args is None else _bind_args(fdef, args, defaults, filename)
    scope = Scope.from_module(tree, source.text, source)
    return _build(fdef, scope, source, bound, shapes=_shapes_of(bound), **options)


@deep
def trace_live(fn, args: tuple, kwargs: dict, **options) -> Trace:
    """The graph of a live function evaluated at ``fn(*args, **kwargs)``."""
    import inspect

    from ..frontend.live import definition, refuse_unsupported
    from ..frontend.scope import identifiers

    refuse_unsupported(fn)
    fdef, source = definition(fn)  # the source checked to be the code that runs
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    scope = Scope.from_globals(getattr(fn, "__globals__", {}), identifiers(fdef))
    return _build(fdef, scope, source, dict(bound.arguments), shapes=_shapes_of(bound.arguments), **options)


def _shapes_of(args):
    """Exact shapes for the values given, so the traced code needs no shape helpers."""
    if args is None:
        return None
    from ..arguments import pattern, shapes_of

    return shapes_of({name: pattern(value) for name, value in args.items()})

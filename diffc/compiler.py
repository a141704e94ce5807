"""The pipeline, end to end: source text -> AST -> fence -> IR -> reverse -> emit.

``compile_source`` turns the text of a module into the text of a module of
gradient functions; it never imports or runs the user's code. Errors in
several functions are collected and raised together.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

from .ad.fuse import fuse_sigmoids
from .ad.reverse import ReverseError, backward, live_forward
from .backends.emit import emit_function
from .backends.runtime import closure, helper_text
from .deep import deep
from .errors import (
    DiffcError,
    ErrorGroup,
    InternalError,
    SelectionError,
    ShapesNeededError,
    UnsupportedError,
    flatten,
)
from .frontend import fence, methods
from .frontend import lower as frontend
from .frontend.desugar import without_scalar_checks
from .frontend.scope import Scope, check_decorators, shadowed_numbers
from .frontend.source import Source
from .ir import Var, walk
from .ops.shapes import Opaque, Sym
from .passes.shapes import infer

MODES = ("grad", "value_and_grad")


@dataclass
class CompiledFunction:
    name: str  # the user's function
    grad_name: str  # the generated function
    text: str
    wrt: tuple[str, ...]
    bare: bool


@dataclass
class CompiledModule:
    text: str
    functions: list[CompiledFunction] = field(default_factory=list)


def resolve_wrt(fdef: ast.FunctionDef, wrt, source: Source) -> tuple[list[int], bool]:
    """Parameter positions to differentiate, and whether the result is a bare value."""
    args = fdef.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    if not names:
        raise source.error(SelectionError, fdef, f"function '{fdef.name}' has no parameters to differentiate",
                           "add the inputs you want gradients for as parameters")
    if wrt is None:
        return list(range(len(names))), len(names) == 1
    bare = isinstance(wrt, (str, int))
    if not bare and not isinstance(wrt, (tuple, list)):
        raise source.error(SelectionError, fdef, f"wrt must be a parameter name, a position, or a tuple or list "
                           f"of them, not {wrt!r}", f"its parameters are: {', '.join(names)}")
    chosen = [wrt] if bare else list(wrt)
    if not chosen:
        raise source.error(SelectionError, fdef, "wrt is empty", "name at least one parameter")
    positions = []
    for item in chosen:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise source.error(SelectionError, fdef, f"wrt entries must be parameter names or positions, not {item!r}")
        if isinstance(item, int):
            if not -len(names) <= item < len(names):
                raise source.error(SelectionError, fdef, f"function '{fdef.name}' has no parameter at position {item}",
                                   f"its parameters are: {', '.join(names)}")
            index = item % len(names)
        elif item in names:
            index = names.index(item)
        else:
            raise source.error(SelectionError, fdef, f"function '{fdef.name}' has no parameter '{item}'",
                               f"its parameters are: {', '.join(names)}")
        if index in positions:
            raise source.error(SelectionError, fdef, f"parameter '{names[index]}' is listed twice in wrt")
        positions.append(index)
    return positions, bare


def parse_shape(spec: str):
    """A shape written as text: 'N,D' -> (N, D); '1,H' -> (1, H); '' or '()' -> (); '?' is an unknown size.

    A suffix ':int', ':bool' or ':float' gives the dtype kind: ``(shape, kind)`` is returned then.
    """
    spec, _, kind = spec.partition(":")
    if kind:
        kinds = {"int": "i", "bool": "b", "float": "f"}
        if kind.strip() not in kinds:
            raise ValueError(f"unknown dtype kind {kind!r}: use int, bool or float")
        return parse_shape(spec), kinds[kind.strip()]
    spec = spec.strip().strip("()")
    if not spec:
        return ()
    dims = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        dims.append(1 if part == "1" else None if part == "?" else Sym(part))
    return tuple(dims)


@dataclass
class Prepared:
    """A function taken through the pipeline up to, not including, the emitter."""

    fdef: ast.FunctionDef
    fn: object
    wrt: list
    bare: bool
    forward: list
    backward: list
    grads: list
    shapes: object


def prepare(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, shapes: dict | None = None,
            fuse: bool = True, record: dict | None = None, transform=None, has_aux: bool = False) -> Prepared:
    """Fence, lower, fuse, infer shapes and run the reverse pass on one function.

    ``shapes`` maps parameter names to shapes (tuples of 1,
    :class:`~diffc.shapes.Sym` or None, optionally paired with a dtype kind);
    parameters not in it are scalars in a module that does not import numpy,
    and of unknown shape otherwise. ``fuse`` recognises composite gates such
    as the sigmoid (:mod:`diffc.ad.fuse`); ``record`` is passed to the reverse pass; ``transform``,
    if given, rewrites the lowered function first (the tracer unrolls control flow with it); with
    ``has_aux`` the function returns ``(value, aux...)`` and only ``value`` is differentiated.
    """
    if source.filename.startswith("<diffc "):  # a gradient diffc wrote: differentiated again
        without_scalar_checks(fdef)
    errors = fence.check(fdef, source)
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorGroup(errors)
    positions, bare = resolve_wrt(fdef, wrt, source)
    fn = frontend.lower(fdef, scope, source, has_aux=has_aux)
    if fuse:
        fuse_sigmoids(fn)
    if transform is not None:
        fn = transform(fn)
    wrt_vars = [fn.params[i] for i in positions]
    forward = live_forward(fn)
    numpy = scope.uses_module("numpy")
    shapes = dict(shapes or {})
    kinds = {k: v[1] for k, v in shapes.items() if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str)}
    shapes.update({k: shapes[k][0] for k in kinds})
    param_shapes = {p.hint: shapes.get(p.hint, Opaque(p.hint) if numpy else ()) for p in fn.params}
    param_shapes.update({k: v for k, v in shapes.items() if "[" in k})  # parts of container parameters
    inferred = infer(fn, param_shapes, kinds)
    check_scalar_output(fdef, fn, inferred, source)
    try:
        bwd, grads = backward(fn, forward, wrt_vars, numpy=numpy, shapes=inferred, record=record)
    except ReverseError as exc:
        node = ast.Module(body=[])
        node.lineno, node.col_offset = (exc.eqn.lineno or fdef.lineno) - source.line_offset, exc.eqn.col or 0
        cls = exc.error_class or (ShapesNeededError if exc.needs_shapes else UnsupportedError)
        raise source.error(cls, node, exc.message, exc.hint) from None
    return Prepared(fdef, fn, wrt_vars, bare, forward, bwd, grads, inferred)


def check_scalar_output(fdef: ast.FunctionDef, fn, shapes, source: Source) -> None:
    """A gradient needs a scalar output: refuse one that is provably not (an array, a list or a
    tuple); ``fn.scalar_proven`` says whether the generated code must check it at run time."""
    from .ops.front import sequence_vars

    returns = [n for n in ast.walk(fdef) if isinstance(n, ast.Return) and n.value is not None]
    where = returns[-1].value if returns else fdef
    out = fn.out
    if isinstance(out, Var) and id(out) in sequence_vars(fn.eqns):
        raise source.error(UnsupportedError, where, f"'{fdef.name}' returns a list or tuple; a gradient needs a "
                           "single scalar output", "to differentiate the first value and pass the rest through, "
                           "as in 'return loss, dW', use has_aux=True (diffc.grad(f, has_aux=True), "
                           "compile_source(..., has_aux=True), or --has-aux on the command line)")
    shape = shapes.get(out)
    if isinstance(shape, tuple) and shape:
        dims = ", ".join(_dim_text(d, shapes) for d in shape) + ("," if len(shape) == 1 else "")
        raise source.error(UnsupportedError, where, f"'{fdef.name}' returns an array of shape ({dims}); a gradient "
                           "needs a scalar output", "return a scalar such as np.sum(...) or np.mean(...) of it")
    fn.scalar_proven = shape == ()
    for eqn in walk(fn.eqns):  # N, D = X.shape with X of another rank: Python's ValueError, at compile time
        held = shapes.shape_values.get(id(eqn.ins[0])) if eqn.op == "getitem" and "_unpack" in eqn.params else None
        if isinstance(held, tuple) and len(held) != eqn.params["_unpack"]:
            node = ast.Module(body=[])
            node.lineno, node.col_offset = (eqn.lineno or fdef.lineno) - source.line_offset, eqn.col or 0
            raise source.error(UnsupportedError, node, f"cannot unpack a shape of {len(held)} dimension(s) into "
                               f"{eqn.params['_unpack']} names", "use one name per dimension")


def _dim_text(d, shapes) -> str:
    d = shapes.find(d)
    if isinstance(d, Sym):
        name, _, axis = d.name.rpartition(".")
        if d.name.startswith("len") and d.name[3:].isdigit():  # the length of a literal list
            return d.name[3:]
        return f"{name}.shape[{axis}]" if axis.isdigit() and name else d.name
    return "?" if d is None else str(d)


@deep
def compile_function(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, mode: str = "grad",
                     comments: bool = False, name: str | None = None, shapes: dict | None = None,
                     fuse: bool = True, has_aux: bool = False) -> tuple[CompiledFunction, set[str], set[str]]:
    """Compile one function definition (see :func:`prepare` for the arguments).

    Returns the compiled function, the global names its text uses and the
    helpers it calls.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    p = prepare(fdef, scope, source, wrt=wrt, shapes=shapes, fuse=fuse, has_aux=has_aux)
    grad_name = name or f"{fdef.name}_{mode}"
    text, used, helpers = emit_function(
        p.fn, grad_name, p.forward, p.backward, p.grads, bare=p.bare, with_value=(mode == "value_and_grad"),
        scope=scope, source_line=source.line if comments else None,
        check_scalar=None if getattr(p.fn, "scalar_proven", False) else fdef.name,
    )
    self_check(text, fdef, source, scope, used, helpers)
    for number in shadowed_numbers(text, scope, used):
        raise source.error(UnsupportedError, fdef, f"'{number}' is both a module-level number that '{fdef.name}' "
                           "or a function it calls reads and a variable in the code inlined into its gradient",
                           f"rename the variable '{number}'")
    check_gradient_shapes(p, source)
    return CompiledFunction(fdef.name, grad_name, text, tuple(v.hint for v in p.wrt), p.bare), used, helpers


def self_check(text: str, fdef: ast.FunctionDef, source: Source, scope: Scope, used: set[str],
               helpers: set[str]) -> None:
    """Generated code is checked before it is handed out: it compiles, and every name it reads (each
    returned gradient included) is a parameter, a name it assigns, an import, a helper or a builtin.
    A failure is diffc's bug, reported against the user's function."""
    import builtins

    def internal(problem: str):
        return source.error(InternalError, fdef, f"diffc wrote code for '{fdef.name}' that {problem}: this is a bug "
                            "in diffc", "please report it with this function; meanwhile, rewriting the function "
                            "(or differentiating it another way) avoids it")

    try:
        tree = ast.parse(text)
        compile(tree, f"<diffc {fdef.name}>", "exec")
    except SyntaxError as exc:
        raise internal(f"does not compile ({exc.msg}, generated line {exc.lineno})") from None
    func = tree.body[0]
    known = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
    known |= {scope.helper_name(h) for h in closure(helpers)}  # as renamed away from the user's names
    known |= {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    known |= {name for name in used if scope.lookup(name) is not None}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known \
                and not hasattr(builtins, node.id):
            raise internal(f"reads the name '{node.id}', which it never defines")


def check_gradient_shapes(p: Prepared, source: Source) -> None:
    """Each gradient must have its parameter's shape: where both are known (shapes inferred through
    the backward items too, on a copy) and provably differ, it is diffc's bug."""
    import copy

    from .ir import Loop
    from .ops.algebra import shapes_differ
    from .passes.shapes import infer_block

    if any(isinstance(item, Loop) for item in p.backward):
        return  # a backward loop's stacks have no shapes to compare
    shapes = copy.deepcopy(p.shapes)
    try:
        infer_block(shapes, p.backward)
    except Exception:  # a shape rule that cannot read a backward op: nothing to compare
        return
    for param, grad in zip(p.wrt, p.grads):
        want, got = shapes.get(param), shapes.get(grad)
        if isinstance(want, tuple) and isinstance(got, tuple) and shapes_differ(want, got):
            raise source.error(InternalError, p.fdef, f"diffc wrote a gradient for '{param.hint}' of shape {got}, "
                               f"not its shape {want}: this is a bug in diffc", "please report it with this function")


def module_parts(scope: Scope, used: set[str], helpers: set[str]) -> list[str]:
    """Import lines and helper definitions for a generated module."""
    parts = []
    helper_texts = []
    if helpers:
        alias = scope.module_alias("numpy")
        used = used | {alias}
        names = {h: scope.helper_name(h) for h in closure(helpers)}
        helper_texts = [helper_text(h, alias, names) for h in closure(helpers)]
    imports = scope.import_lines(used)
    if imports:
        parts.append("\n".join(imports))
    return parts + helper_texts


def join_module(header: str | None, parts: list[str], bodies: list[str]) -> str:
    head = header + "\n" + parts[0] if header and parts else header or (parts[0] if parts else "")
    return "\n\n\n".join([p for p in [head, *parts[1:]] if p] + [b.rstrip("\n") for b in bodies]) + "\n"


@deep
def compile_source(text: str, filename: str = "<source>", *, functions=None, wrt=None, mode: str = "grad",
                   comments: bool = False, shapes: dict | None = None, fuse: bool = True,
                   has_aux: bool = False) -> CompiledModule:
    """Compile every top-level function of a module (or those named in ``functions``).

    Returns a :class:`CompiledModule` whose ``text`` is a standalone Python
    module defining ``NAME_grad`` (or ``NAME_value_and_grad``) for each. With ``has_aux`` each
    function returns ``(value, aux...)``: ``NAME_grad`` returns ``(grads, aux)`` and
    ``NAME_value_and_grad`` returns ``((value, aux), grads)``, as JAX does.
    """
    source = Source(text, filename)
    tree = source.parse()
    scope = Scope.from_module(tree, source.text, source)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if functions is None:
        selected = list(defs.values())
        if not selected:
            raise DiffcError("no top-level function to differentiate", filename=filename,
                             hint="define a function with 'def' at the top level of the file")
    else:
        selected = []
        for fname in [functions] if isinstance(functions, str) else functions:
            if "." in fname:  # Class.method: a function of the attributes of self it reads
                selected.append(methods.method_def(tree, fname, wrt, source))
                continue
            if fname not in defs:
                known = ", ".join(defs) or "none"
                raise SelectionError(f"no top-level function named '{fname}'", filename=filename,
                                     hint=f"functions in this file: {known}")
            selected.append(defs[fname])
    compiled, bodies, used, helpers, errors = [], [], set(), set(), []
    for fdef in selected:
        try:
            check_decorators(fdef, source)
            cf, names, needs = compile_function(fdef, scope, source, wrt=wrt, mode=mode, comments=comments,
                                                shapes=shapes, fuse=fuse, has_aux=has_aux)
        except DiffcError as exc:
            errors.extend(flatten(exc))
            continue
        compiled.append(cf)
        bodies.append(cf.text)
        used |= names
        helpers |= needs
    params = {a.arg for fdef in selected for a in [*fdef.args.posonlyargs, *fdef.args.args, *fdef.args.kwonlyargs]}
    for name in shapes or {}:
        if name.split("[")[0] not in params:
            errors.append(SelectionError(f"a shape was given for '{name}', which is not a parameter of any "
                                         "function compiled", filename=filename,
                                         hint=f"parameters: {', '.join(sorted(params))}"))
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorGroup(errors)
    header = f"# Generated by diffc from {os.path.basename(filename)}: plain Python, edit freely."
    return CompiledModule(join_module(header, module_parts(scope, used, helpers), bodies), compiled)

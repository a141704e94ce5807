"""The entry points: source text -> AST -> fence -> IR -> reverse (or forward) -> cleanup -> emit.

The passes and the order they run in are :data:`diffc.pipeline.PASSES` (``diffc f.py --dump-after
PASS`` prints what any of them made, through :func:`dump_source` and :mod:`diffc.ir_text`); this
module runs them for each mode: ``compile_function`` (grad, value_and_grad, vjp),
``compile_forward`` (jvp), a transform of a diffc gradient composed on the IR (``compose_inner``).
``compile_source`` turns the text of a module into the text of a module of gradient functions; it
never imports or runs the user's code. Errors in several functions are collected and raised together.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
from dataclasses import dataclass, field

from .ad.forward import ForwardError, forward
from .arguments import parse_shape, resolve_wrt  # noqa: F401  (parse_shape: imported from here by the CLI and tests)
from .backends.emit import BACKENDS, emit_function
from .backends.runtime import closure, helper_text
from .backends.table import refusal
from .deep import deep
from .errors import (
    DiffcError,
    ErrorGroup,
    SelectionError,
    ShapesNeededError,
    UnsupportedError,
    flatten,
)
from .frontend import methods
from .frontend.scope import Scope, check_decorators, shadowed_numbers
from .frontend.source import Source
from .ir import Builder, Const, Eqn, If, Var, walk
from .ops.shapes import Opaque
from .passes.cleanup import plan
from .passes.expose import expose_branch_values
from .passes.shapes import infer
from .passes.verify import self_check
from .pipeline import (  # noqa: F401 (PASS_NAMES, Prepared, prepare, emit_traced: imported from here too)
    MODES,
    PASS_NAMES,
    PASSES,
    Prepared,
    _array_code,
    _is_array,
    _refuse_output,
    describe,
    emit_traced,
    prepare,
    run_passes,
)


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


# -- forward mode: its own passes after liveness (diffc/ad/forward.py) --------------------------------
def _tangent_names(fn, wrt, reserved) -> list[str]:
    """``dot_<name>`` for each parameter in ``wrt``, clear of every other name of the module."""
    taken = set(reserved) | {p.hint for p in fn.params}
    names = []
    for p in wrt:
        name, k = f"dot_{p.hint}", 0
        while name in taken:
            k += 1
            name = f"dot_{p.hint}_{k}"
        taken.add(name)
        names.append(name)
    return names


# -- higher order: a transform of a transform, composed on the IR (diffc/ops/higher.py has the rules) -----
def compose(p: Prepared):
    """The function a gradient computes, as IR: the forward and backward items of ``p`` (after the
    passes up to fills), returning its gradient (a tuple of them unless bare)."""
    items, out = [*p.forward, *_scalar_check(p), *p.backward], p.grads[0] if p.bare else Var()
    if not p.bare:
        items.append(Eqn("tuple", tuple(p.grads), out))
    expose_branch_values(items)  # the backward if reads the forward branch's values: through phis
    return dataclasses.replace(p.fn, eqns=items, out=out, aux=[])


def _scalar_check(p: Prepared) -> list:
    """The check a gradient's generated code makes that the function's value is a number, unless that is
    proven (its backward lines rely on it), as IR: ``if np.ndim(out) != 0: raise ValueError(...)``."""
    out = p.fn.out
    if getattr(p.fn, "scalar_proven", False) or not isinstance(out, Var):
        return []
    check, raised = [], []
    b = Builder(check, p.fn.lineno)
    cond = b.emit("ne", b.emit("ndim", out), Const(0))
    shape = Builder(raised, p.fn.lineno).emit("tuple", Builder(raised).emit("shape", out))
    message = Const(f"{p.fdef.name} returned a value of shape %s; grad needs a scalar output: return a scalar "
                    "such as np.sum(...) or np.mean(...) of it")
    text = Builder(raised, p.fn.lineno).emit("mod", message, shape)
    Builder(raised, p.fn.lineno).emit("opaque", text, _callee="ValueError", _method=None, _args=((None, ("in", 0)),),
                                      _why=("an exception is never differentiated", ""), _raise=True)
    return [*check, If(cond, raised, [], [], p.fn.lineno)]


def compose_inner(p: Prepared) -> None:
    """Fill ``p.fn`` with the IR of the transforms ``p.inner`` applied to ``p.fdef`` (each a gradient, run
    through the reverse pipeline on the one under it), and resolve ``p``'s own ``wrt``: ``p`` then
    goes on from the live pass. A gradient that is an array is refused for a further gradient."""
    if p.has_aux:
        raise p.source.error(UnsupportedError, p.fdef, "has_aux is not for a gradient of a gradient",
                             "differentiate the gradient without has_aux")
    fn = None
    for level, (mode, wrt) in enumerate(p.inner):
        if mode != "grad":
            raise ValueError(f"only a gradient is composed on the IR, not {mode!r}")
        q = Prepared(p.fdef, p.scope, p.source, wrt_spec=wrt, param_shapes=p.param_shapes, fuse=p.fuse and not level)
        if fn is None:
            run_passes(q, stop="live")
        else:
            q.fn, q.inner = fn, p.inner[:level]
            q.positions, q.bare = resolve_wrt(p.fdef, wrt, p.source)
            run_passes(q, start="live", stop="live")
        # No softmax gates (the gates pass): their records have reverse rules only, and a gradient
        # differentiated again needs every op it holds to have the outer transform's rule.
        run_passes(q, start="shapes", stop="shapes")
        run_passes(q, start="reverse", stop="fills")
        fn = compose(q)
    p.fn, p.fuse = fn, False
    p.positions, p.bare = resolve_wrt(p.fdef, p.wrt_spec, p.source)


def compile_forward(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, comments: bool = False,
                    name: str | None = None, shapes: dict | None = None, fuse: bool = True, has_aux: bool = False,
                    backend: str = "numpy", inner: tuple = ()):
    """Compile the forward-mode derivative of one function (the arguments as
    :func:`diffc.compiler.compile_function`'s); returns (compiled function, globals used, helpers).

    The compiler's passes up to liveness (fence, lower, fuse, live) run as for the reverse mode;
    then shapes (an array output is fine here), the forward transform instead of the reverse one,
    cleanup, emission and the same checks of the generated code."""
    from .backends.emit import BACKENDS
    from .backends.runtime import closure

    if has_aux:
        raise source.error(UnsupportedError, fdef, "has_aux is for the reverse mode",
                           "in forward mode every returned value gets its tangent: return a tuple")
    p = Prepared(fdef, scope, source, wrt_spec=wrt, param_shapes=shapes, fuse=fuse, mode="jvp", comments=comments,
                 grad_name=name or f"{fdef.name}_jvp", inner=tuple(inner))
    if p.inner:  # the tangent of a gradient (diffc.hvp): forward over reverse
        compose_inner(p)
        run_passes(p, start="live", stop="live")
    else:
        run_passes(p, stop="live")
    fn, wrt_vars = p.fn, p.wrt
    shapes = dict(shapes or {})
    # Arrays passed to a function that calls no NumPy (x * y): the rules must still write NumPy.
    numpy = _array_code(scope, fn) or any(_is_array(s) for s in shapes.values())
    kinds = {k: v[1] for k, v in shapes.items() if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str)}
    shapes.update({k: shapes[k][0] for k in kinds})
    param_shapes = {v.hint: shapes.get(v.hint, Opaque(v.hint) if numpy else ()) for v in fn.params}
    param_shapes.update({k: v for k, v in shapes.items() if "[" in k})
    inferred = infer(fn, param_shapes, kinds)
    tangents = [Var(n, is_param=True) for n in _tangent_names(fn, wrt_vars, scope.reserved)]
    for param, t in zip(wrt_vars, tangents):  # a tangent has its parameter's shape
        inferred.set(t, inferred.get(param))
    try:
        items, out = forward(fn, p.forward, wrt_vars, tangents, numpy=numpy, shapes=inferred)
    except ForwardError as exc:
        node = ast.Module(body=[])
        node.lineno, node.col_offset = (exc.eqn.lineno or fdef.lineno) - source.line_offset, exc.eqn.col or 0
        cls = exc.error_class or (ShapesNeededError if exc.needs_shapes else UnsupportedError)
        raise source.error(cls, node, exc.message, exc.hint) from None
    signature = dataclasses.replace(fn, params=[*fn.params, *tangents], defaults={}, kwonly=[])
    planned, inline, group = plan(items, [], signature.params, [fn.out, out])
    backends = BACKENDS[backend]
    for eqn in walk(planned):  # what the backend cannot write (an in-place update under JAX), at its line
        why = refusal(backends, eqn.op)
        if why is not None:
            node = ast.Module(body=[])
            node.lineno, node.col_offset = (eqn.lineno or fdef.lineno) - source.line_offset, eqn.col or 0
            raise source.error(UnsupportedError, node, why,
                               backends[-1].helpers_how if eqn.op.startswith("_") else backends[-1].how)
    text, used, helpers = emit_function(signature, p.grad_name, planned, inline, group, [], [out], bare=True,
                                        with_value=True, scope=scope, backends=backends,
                                        source_line=source.line if comments else None)
    text = text.replace(":\n    # forward\n", ":\n", 1)  # forward code only: no section heading
    if comments:  # the emitter's provenance comments, above each group of tangent lines
        text = re.sub(r"^(\s*)# grad of: ", r"\1# tangent of: ", text, flags=re.M)
    self_check(text, fdef, source, scope, used, closure(helpers))
    for number in shadowed_numbers(text, scope, used):
        raise source.error(UnsupportedError, fdef, f"'{number}' is both a module-level number that '{fdef.name}' "
                           "or a function it calls reads and a variable in the code inlined into its derivative",
                           f"rename the variable '{number}'")
    compiled = CompiledFunction(fdef.name, p.grad_name, text, tuple(v.hint for v in wrt_vars), True)
    return compiled, used, helpers


# ----------------------------------------------------------------------------
# The decorator API: diffc.jvp
# ----------------------------------------------------------------------------


@deep
def compile_function(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, mode: str = "grad",
                     comments: bool = False, name: str | None = None, shapes: dict | None = None,
                     fuse: bool = True, has_aux: bool = False, backend: str = "numpy",
                     inner: tuple = (), fast: bool = False) -> tuple[CompiledFunction, set[str], set[str]]:
    """Compile one function definition (see :func:`prepare` for the arguments).

    ``fast`` writes the form the decorator runs rather than the lecture's (the CLI's default): the
    seed ``grad_out = 1.0`` folded into its uses in scalar code, no ``grad_x = grad_q`` copy lines,
    float literals beside float values (``1.0 - L``); the same values (:func:`diffc.passes.cleanup.plan`).

    Returns the compiled function, the global names its text uses and the
    helpers it calls. ``inner`` (see :func:`compose_inner`): differentiate the gradient that
    those transforms make of the function, not the function.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, not {backend!r}")
    if mode == "jvp":  # forward mode: its own passes after liveness (compile_forward above)
        return compile_forward(fdef, scope, source, wrt=wrt, comments=comments, name=name, shapes=shapes,
                               fuse=fuse, has_aux=has_aux, backend=backend, inner=inner)
    if mode == "vjp" and has_aux:
        raise source.error(UnsupportedError, fdef, "has_aux is for a gradient, not a vector-Jacobian product",
                           "a vjp takes a cotangent for every returned value: give a zero one for a value "
                           "that does not count")
    p = Prepared(fdef, scope, source, wrt_spec=wrt, param_shapes=shapes, fuse=fuse, has_aux=has_aux, mode=mode,
                 comments=comments, grad_name=name or f"{fdef.name}_{mode}", backend=backend, inner=tuple(inner),
                 fast=fast)
    if p.inner:
        compose_inner(p)
        run_passes(p, start="live")
    else:
        run_passes(p)
    return CompiledFunction(fdef.name, p.grad_name, p.text, tuple(v.hint for v in p.wrt), p.bare), p.used, p.helpers


def module_parts(scope: Scope, used: set[str], helpers: set[str], backend: str = "numpy") -> list[str]:
    """Import lines and helper definitions for a generated module (helpers call ``backend``'s arrays)."""
    parts = []
    helper_texts = []
    if helpers:
        alias = scope.module_alias(BACKENDS[backend][-1].module)
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
                   has_aux: bool = False, backend: str = "numpy", fast: bool = False) -> CompiledModule:
    """Compile every top-level function of a module (or those named in ``functions``); ``backend``
    names the array library generated code calls ("numpy", or "jax": see diffc/backends/).

    Returns a :class:`CompiledModule` whose ``text`` is a standalone Python
    module defining ``NAME_grad`` (or ``NAME_value_and_grad``) for each. With ``has_aux`` each
    function returns ``(value, aux...)``: ``NAME_grad`` returns ``(grads, aux)`` and
    ``NAME_value_and_grad`` returns ``((value, aux), grads)``, as JAX does.
    """
    source, scope, selected = _select(text, filename, functions, wrt)
    compiled, bodies, used, helpers, errors = [], [], set(), set(), []
    for fdef in selected:
        try:
            check_decorators(fdef, source, scope.understood)
            cf, names, needs = compile_function(fdef, scope, source, wrt=wrt, mode=mode, comments=comments,
                                                shapes=shapes, fuse=fuse, has_aux=has_aux, backend=backend,
                                                fast=fast)
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
    return CompiledModule(join_module(header, module_parts(scope, used, helpers, backend), bodies), compiled)


def _select(text: str, filename: str, functions, wrt=None) -> tuple[Source, Scope, list]:
    """The module's source and scope, and the top-level functions to compile (all, or those named)."""
    source = Source(text, filename)
    tree = source.parse()
    scope = Scope.from_module(tree, source.text, source)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if functions is None:  # functions with rules of their own, and the rules, are helpers (diffc.custom)
        selected = [fdef for name, fdef in defs.items() if name not in scope.not_compiled]
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
    return source, scope, selected


@deep
def dump_source(text: str, filename: str, after: str, *, functions=None, wrt=None, mode: str = "grad",
                shapes: dict | None = None, fuse: bool = True, has_aux: bool = False, fast: bool = False) -> str:
    """The IR of each function (or those named) right after pass ``after`` (one of :data:`PASS_NAMES`),
    as text: what ``diffc f.py --dump-after PASS`` prints. The passes after it do not run."""
    if after not in PASS_NAMES:
        raise ValueError(f"no pass named {after!r}: the passes are {', '.join(PASS_NAMES)}")
    source, scope, selected = _select(text, filename, functions, wrt)
    parts = []
    for fdef in selected:
        check_decorators(fdef, source, scope.understood)
        p = Prepared(fdef, scope, source, wrt_spec=wrt, param_shapes=shapes, fuse=fuse, has_aux=has_aux, mode=mode,
                     grad_name=f"{fdef.name}_{mode}", fast=fast)
        run_passes(p, stop=after)
        parts.append(f"# {fdef.name} after {after}\n{describe(p, after)}")
    return "\n".join(parts)

"""The pipeline, end to end: source text -> AST -> fence -> IR -> reverse -> cleanup -> emit.

:data:`PASSES` lists the passes in the order they run on each function, and
:func:`run_passes` runs them; each reads and fills a :class:`Prepared`.
``diffc f.py --dump-after PASS`` prints what any of them made
(:func:`dump_source`, through :mod:`diffc.ir_text`).
``compile_source`` turns the text of a module into the text of a module of
gradient functions; it never imports or runs the user's code. Errors in
several functions are collected and raised together.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import re
from dataclasses import dataclass, field

from .ad.forward import ForwardError, forward
from .ad.fuse import fuse_sigmoids
from .ad.fuse_softmax import fuse_softmax
from .ad.reverse import ReverseError, backward, live_forward
from .ad.seeds import cotangent_vars, output_parts
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
from .frontend import fence, methods
from .frontend import lower as frontend
from .frontend.desugar import without_scalar_checks
from .frontend.scope import Scope, check_decorators, shadowed_numbers
from .frontend.source import Source
from .ir import Builder, Const, Eqn, If, Var, walk
from .ir_text import format_function
from .ops.shapes import Opaque
from .passes.cleanup import plan, plan_kept
from .passes.expose import expose_branch_values
from .passes.fills import keep_scalar_fills
from .passes.shapes import array_ids, infer, scalar_output
from .passes.unique import mark_unique_scatters
from .passes.verify import check_gradient_shapes, check_scalar_output, self_check

MODES = ("grad", "value_and_grad", "jvp", "vjp")  # jvp: forward mode (diffc/jvp.py); vjp: diffc/vjp.py


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


@dataclass(eq=False)
class Prepared:
    """One function on its way through the pipeline: what the user asked for, then what each pass made.

    Each pass of :data:`PASSES` reads and fills some of these fields (``fn`` after lowering,
    ``forward`` after liveness, ``shapes``, then ``backward`` and ``grads`` after the reverse pass,
    ``items``/``inline``/``group`` after cleanup, ``text`` after emission)."""

    fdef: ast.FunctionDef
    scope: Scope
    source: Source
    wrt_spec: object = None
    param_shapes: dict | None = None
    fuse: bool = True
    record: dict | None = None
    transform: object = None
    has_aux: bool = False
    mode: str = "grad"
    comments: bool = False
    grad_name: str | None = None
    backend: str = "numpy"  # the library generated code calls for arrays: a name in BACKENDS
    trace: dict | None = None  # for the tools: keep every value under a name of its own (see emit_function)
    inner: tuple = ()  # (mode, wrt) of each transform under this one, innermost first: see compose_inner
    fast: bool = False  # the form the decorator runs: seed folded, gradient aliases propagated (passes/cleanup.py)
    # Made by the passes:
    positions: list = field(default_factory=list)
    bare: bool = False
    fn: object = None
    wrt: list = field(default_factory=list)
    forward: list = field(default_factory=list)
    shapes: object = None
    backward: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    items: list = field(default_factory=list)
    inline: set = field(default_factory=set)
    group: dict = field(default_factory=dict)
    text: str = ""
    used: set = field(default_factory=set)
    helpers: set = field(default_factory=set)
    outputs: list = field(default_factory=list)  # mode "vjp": the returned values, each seeded by
    cotangents: list = field(default_factory=list)  # its cotangent parameter (diffc.ad.seeds)


# -- the passes, in order (each takes the Prepared and fills its part) -------------------------------
def fence_pass(p: Prepared) -> None:
    """Refuse what diffc does not compile, with located errors; resolve ``wrt``."""
    if p.source.filename.startswith("<diffc "):  # a gradient diffc wrote: differentiated again
        without_scalar_checks(p.fdef)
    errors = fence.check(p.fdef, p.source)
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorGroup(errors)
    p.positions, p.bare = resolve_wrt(p.fdef, p.wrt_spec, p.source)


def lower_pass(p: Prepared) -> None:
    """The AST to IR (:mod:`diffc.frontend.lower`)."""
    p.fn = frontend.lower(p.fdef, p.scope, p.source, has_aux=p.has_aux)


def fuse_pass(p: Prepared) -> None:
    """Composite gates as one equation, such as the sigmoid (:mod:`diffc.ad.fuse`)."""
    if p.fuse:
        fuse_sigmoids(p.fn)


def unroll_pass(p: Prepared) -> None:
    """The tools' rewrite of the lowered function, if any (the tracer unrolls control flow with it)."""
    if p.transform is not None:
        p.fn = p.transform(p.fn)


def live_pass(p: Prepared) -> None:
    """The user's dead code dropped: the forward items the outputs depend on."""
    p.wrt = [p.fn.params[i] for i in p.positions]
    p.forward = live_forward(p.fn)


def shapes_pass(p: Prepared) -> None:
    """Shapes and dtype kinds, from the parameters' (:mod:`diffc.ops.shapes`); a non-scalar output refused."""
    numpy = _array_code(p.scope, p.fn)
    shapes = dict(p.param_shapes or {})
    kinds = {k: v[1] for k, v in shapes.items() if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str)}
    shapes.update({k: shapes[k][0] for k in kinds})
    param_shapes = {v.hint: shapes.get(v.hint, Opaque(v.hint) if numpy else ()) for v in p.fn.params}
    param_shapes.update({k: v for k, v in shapes.items() if "[" in k})  # parts of container parameters
    p.shapes = infer(p.fn, param_shapes, kinds)
    if p.inner and p.mode != "vjp":  # a gradient of a gradient (a vjp of one takes an array)
        _refuse_array_gradient(p)
    check_scalar_output(p.fdef, p.fn, p.shapes, p.source, scalar=p.mode != "vjp")
    if p.mode in ("grad", "value_and_grad"):  # the output is a number from here on (checked, if not proven)
        p.shapes = scalar_output(p.fn, param_shapes, kinds, p.shapes)
    if p.mode == "vjp":  # one cotangent parameter per returned value, of its shape
        p.outputs, is_tuple = output_parts(p.fn, functools.partial(_refuse_output, p))
        p.cotangents = cotangent_vars(p.fn, p.outputs, is_tuple, p.scope.reserved)
        for value, cotangent in zip(p.outputs, p.cotangents):
            p.shapes.set(cotangent, p.shapes.get(value) if isinstance(value, Var) else ())


def _refuse_output(p: Prepared, message: str, hint: str):
    returns = [n for n in ast.walk(p.fdef) if isinstance(n, ast.Return) and n.value is not None]
    raise p.source.error(UnsupportedError, returns[-1].value if returns else p.fdef, message, hint)


def gates_pass(p: Prepared) -> None:
    """The softmax family as fused gates, and the max shift's zero gradient dropped
    (:mod:`diffc.ad.fuse_softmax`); after shapes, which say what is a number."""
    if p.fuse:
        fuse_softmax(p.fn, p.shapes, builtin_range=p.scope.lookup("range") is None)


def reverse_pass(p: Prepared) -> None:
    """Activity analysis and the backward items (:mod:`diffc.ad.reverse`)."""
    try:
        p.backward, p.grads = backward(p.fn, p.forward, p.wrt, numpy=p.scope.uses_module("numpy"),
                                       shapes=p.shapes, record=p.record,
                                       seeds=list(zip(p.outputs, p.cotangents)) if p.mode == "vjp" else None,
                                       fast=p.fast and p.trace is None)
    except ReverseError as exc:
        node = ast.Module(body=[])
        node.lineno, node.col_offset = (exc.eqn.lineno or p.fdef.lineno) - p.source.line_offset, exc.eqn.col or 0
        cls = exc.error_class or (ShapesNeededError if exc.needs_shapes else UnsupportedError)
        raise p.source.error(cls, node, exc.message, exc.hint) from None


def fills_pass(p: Prepared) -> None:
    """Constant gradients kept as numbers until they meet an array (:mod:`diffc.passes.fills`); scatters
    whose index selects no element twice marked, to be written ``t[index] = g`` (:mod:`diffc.passes.unique`)."""
    if p.trace is None:
        keep_scalar_fills(p.backward, p.shapes)
        mark_unique_scatters(p.forward, p.backward, p.shapes)


def cleanup_pass(p: Prepared) -> None:
    """What gets a line, what is written inline, which values share a name (:mod:`diffc.passes.cleanup`)."""
    roots = [*p.outputs, *p.grads] if p.mode == "vjp" else [p.fn.out, *p.grads, *p.fn.aux]
    if p.trace is None:
        renamed: dict = {}
        scalar = p.shapes is not None and all(p.shapes.get(v) == () for v in p.fn.params)
        numbers = {id(g) for g in p.grads} if scalar and p.mode != "vjp" else set()
        p.items, p.inline, p.group = plan(p.forward, p.backward, [*p.fn.params, *p.cotangents], roots, fast=p.fast,
                                          renamed=renamed, numbers=numbers)
        p.grads = [renamed.get(id(g), g) for g in p.grads]  # a gradient that was a copy: what it copied
    else:  # every value kept, none inline: the tools read each one
        p.items, p.inline, p.group = plan_kept(p.forward, p.backward)


def emit_pass(p: Prepared) -> None:
    """Python text (:mod:`diffc.backends.emit`); names are chosen there (:mod:`diffc.passes.naming`),
    since a name's lifetime is counted in the lines the emitter lays out. What the backend cannot
    write (an in-place update under JAX) is refused here, with its line."""
    backends = BACKENDS[p.backend]
    for eqn in walk(p.items):
        why = refusal(backends, eqn.op)
        if why is not None:
            node = ast.Module(body=[])
            node.lineno, node.col_offset = (eqn.lineno or p.fdef.lineno) - p.source.line_offset, eqn.col or 0
            how = backends[-1].helpers_how if eqn.op.startswith("_") else backends[-1].how
            raise p.source.error(UnsupportedError, node, why, how)
    fn, checks = p.fn, ()
    check_scalar = None if getattr(p.fn, "scalar_proven", False) else \
        f"the gradient of {p.fdef.name}" if p.inner else p.fdef.name
    if p.mode == "vjp":  # the cotangents come last: every parameter is positional, defaults are the caller's
        fn = dataclasses.replace(p.fn, params=[*p.fn.params, *p.cotangents], defaults={}, kwonly=[])
        tuple_out = len(p.outputs) > 1 or p.outputs[0] is not p.fn.out
        checks = [(c, v, f"item {k} of {p.fdef.name}'s output" if tuple_out else f"{p.fdef.name}'s output")
                  for k, (v, c) in enumerate(zip(p.outputs, p.cotangents))
                  if isinstance(v, Var) and p.shapes.get(v) != ()]  # a cotangent of another shape is refused
        check_scalar = None
    p.text, p.used, p.helpers = emit_function(
        fn, p.grad_name, p.items, p.inline, p.group, p.backward, p.grads, bare=p.bare,
        with_value=(p.mode == "value_and_grad"), scope=p.scope,
        source_line=p.source.line if p.comments else None, trace=p.trace,
        check_scalar=check_scalar, backends=backends, arrays=array_ids(p.items, p.shapes), cotangent_checks=checks)


def verify_pass(p: Prepared) -> None:
    """The generated code checked before it is handed out (it compiles, reads only names it has,
    shadows no module number, gives each gradient its parameter's shape)."""
    if p.trace is not None:
        return
    self_check(p.text, p.fdef, p.source, p.scope, p.used, closure(p.helpers))
    for number in shadowed_numbers(p.text, p.scope, p.used):
        raise p.source.error(UnsupportedError, p.fdef, f"'{number}' is both a module-level number that "
                             f"'{p.fdef.name}' or a function it calls reads and a variable in the code inlined "
                             "into its gradient", f"rename the variable '{number}'")
    check_gradient_shapes(p, p.source)


PASSES = (
    ("fence", fence_pass),
    ("lower", lower_pass),
    ("fuse", fuse_pass),
    ("unroll", unroll_pass),
    ("live", live_pass),
    ("shapes", shapes_pass),
    ("gates", gates_pass),
    ("reverse", reverse_pass),
    ("fills", fills_pass),
    ("cleanup", cleanup_pass),
    ("emit", emit_pass),
    ("verify", verify_pass),
)
PASS_NAMES = tuple(name for name, _ in PASSES)


def run_passes(p: Prepared, start: str = "fence", stop: str = "verify") -> Prepared:
    """Run the passes from ``start`` to ``stop``, both included, in the order of :data:`PASSES`."""
    first, last = PASS_NAMES.index(start), PASS_NAMES.index(stop)
    for _, run in PASSES[first:last + 1]:
        run(p)
    return p


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
    p = Prepared(fdef, scope, source, wrt_spec=wrt, param_shapes=shapes, fuse=fuse, record=record,
                 transform=transform, has_aux=has_aux)
    return run_passes(p, stop="reverse")


def emit_traced(p: Prepared, name: str, names: dict) -> tuple[str, set[str], set[str]]:
    r"""The rest of the pipeline for a :func:`prepare`\ d function, every value kept under a name of its
    own (``names`` receives them): the text of a function returning ``locals()``, its globals, helpers."""
    p.grad_name, p.trace, p.bare = name, names, True
    run_passes(p, start="cleanup", stop="emit")
    return p.text, p.used, p.helpers


def describe(p: Prepared, after: str) -> str:
    """What pass ``after`` made, as text (see :mod:`diffc.ir_text`)."""
    if after == "fence":
        return ast.unparse(p.fdef) + "\n"
    if after in ("emit", "verify"):
        return p.text
    if after == "cleanup":
        return format_function(p.fn, p.items, backward_ids={id(i) for i in p.backward}, grads=p.grads,
                               inline=p.inline)
    if after in ("reverse", "fills"):
        return format_function(p.fn, p.forward, p.backward, grads=p.grads)
    if after == "shapes":
        return format_function(p.fn, shapes=p.shapes)
    return format_function(p.fn)


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


def _array_code(scope: Scope, fn) -> bool:
    """True if ``fn``'s parameters may be arrays: the module uses NumPy, or the function reads an array's
    attribute or method (``X.shape``, ``(X * X).sum()``) on something. Otherwise a parameter is a number."""
    return scope.uses_module("numpy") or any(e.params.get("_style", ("",))[0] in ("attr", "method")
                                             for e in walk(fn.eqns))


def _is_array(spec) -> bool:
    """True if a parameter's shape (optionally paired with a dtype kind) is an array's."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
        spec = spec[0]
    return isinstance(spec, tuple) and len(spec) > 0


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


def _refuse_array_gradient(p: Prepared) -> None:
    """A gradient of a gradient needs a scalar one: refuse an array or a tuple with what to use instead."""
    from .ops.front import sequence_vars

    shape, out = p.shapes.get(p.fn.out), p.fn.out
    made = next((e for e in p.fn.eqns if isinstance(e, Eqn) and e.out is out), None)
    container = made.params["kind"] if made is not None and made.op == "make_struct" else None
    tuple_out = container or isinstance(out, Var) and id(out) in sequence_vars(p.fn.eqns) and "tuple"
    if tuple_out or isinstance(shape, tuple) and shape:
        what = f"a {tuple_out}" if tuple_out else f"an array of {len(shape)} dimension(s)"
        raise p.source.error(UnsupportedError, p.fdef, f"the gradient of '{p.fdef.name}' is {what}: a gradient of it "
                             "needs a scalar", "for second derivatives use diffc.hessian(f, wrt=...) or "
                             "diffc.hvp(f, wrt=...) (CLI: --hessian), or differentiate a scalar of the gradient "
                             "(a gradient with respect to one number, or np.sum of it)")


def compile_forward(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, comments: bool = False,
                    name: str | None = None, shapes: dict | None = None, fuse: bool = True, has_aux: bool = False,
                    backend: str = "numpy", inner: tuple = ()):
    """Compile the forward-mode derivative of one function (the arguments as
    :func:`diffc.compiler.compile_function`'s); returns (compiled function, globals used, helpers).

    The compiler's passes up to liveness (fence, lower, fuse, live) run as for the reverse mode;
    then shapes (an array output is fine here), the forward transform instead of the reverse one,
    cleanup, emission and the same checks of the generated code."""
    from .backends.emit import BACKENDS, emit_function
    from .backends.runtime import closure
    from .backends.table import refusal
    from .passes.cleanup import plan
    from .passes.verify import self_check

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

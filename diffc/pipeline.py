"""The passes, in the order they run on each function, and the record they fill.

:data:`PASSES` lists the passes (fence, lower, fuse, unroll, live, shapes, gates, reverse, fills,
cleanup, emit, verify); :func:`run_passes` runs them, each reading and filling a :class:`Prepared`.
The entry points that use them (``compile_function``, ``compile_source``, forward mode, composition
of transforms) are in :mod:`diffc.compiler`, which imports this module and is never imported by it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from dataclasses import dataclass, field

from .ad.fuse import fuse_sigmoids
from .ad.fuse_softmax import fuse_softmax
from .ad.reverse import ReverseError, backward, live_forward
from .ad.seeds import cotangent_vars, output_parts
from .arguments import parse_shape, resolve_wrt  # noqa: F401  (parse_shape: imported from here by the CLI and tests)
from .backends.emit import BACKENDS, emit_function
from .backends.runtime import closure
from .backends.table import refusal
from .errors import (
    ErrorGroup,
    ShapesNeededError,
    UnsupportedError,
)
from .frontend import fence
from .frontend import lower as frontend
from .frontend.desugar import without_scalar_checks
from .frontend.scope import Scope, shadowed_numbers
from .frontend.source import Source
from .ir import Eqn, Var, walk
from .ir_text import format_function
from .ops.shapes import Opaque
from .passes.cleanup import plan, plan_kept
from .passes.fills import keep_scalar_fills
from .passes.shapes import array_ids, infer, scalar_output
from .passes.unique import mark_unique_scatters
from .passes.verify import check_gradient_shapes, check_scalar_output, self_check

MODES = ("grad", "value_and_grad", "jvp", "vjp")  # jvp: forward mode (diffc/jvp.py); vjp: diffc/vjp.py


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

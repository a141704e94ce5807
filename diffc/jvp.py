"""Forward mode end to end: ``diffc.jvp(fn, wrt=...)`` and ``diffc f.py --mode forward``.

The generated function ``NAME_jvp`` takes the function's arguments, then one tangent per
parameter in ``wrt`` (``dot_x``, in the order of ``wrt``), and returns ``(value, tangent of the
output)``: a number, an array, or a tuple of tangents for a tuple output. Its body is the forward
code with a ``dot_<name>`` line beside each line that depends on a differentiated parameter
(:mod:`diffc.ad.forward`), under the reverse mode's naming, standalone and determinism rules.

The generated signature has no defaults and no keyword-only marker (the tangents come last, so
every parameter before them is positional); ``diffc.jvp`` fills defaults in from the function.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re

from .ad.forward import ForwardError, forward
from .errors import ShapesNeededError, UnsupportedError
from .frontend.scope import Scope, shadowed_numbers
from .frontend.source import Source
from .ir import Var, walk
from .ops.shapes import Opaque
from .passes.shapes import infer


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


def _is_array(spec) -> bool:
    """True if a parameter's shape (optionally paired with a dtype kind) is an array's."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
        spec = spec[0]
    return isinstance(spec, tuple) and len(spec) > 0


def compile_forward(fdef: ast.FunctionDef, scope: Scope, source: Source, *, wrt=None, comments: bool = False,
                    name: str | None = None, shapes: dict | None = None, fuse: bool = True, has_aux: bool = False,
                    backend: str = "numpy"):
    """Compile the forward-mode derivative of one function (the arguments as
    :func:`diffc.compiler.compile_function`'s); returns (compiled function, globals used, helpers).

    The compiler's passes up to liveness (fence, lower, fuse, live) run as for the reverse mode;
    then shapes (an array output is fine here), the forward transform instead of the reverse one,
    cleanup, emission and the same checks of the generated code."""
    from .backends.emit import BACKENDS, emit_function
    from .backends.runtime import closure
    from .backends.table import refusal
    from .compiler import CompiledFunction, Prepared, run_passes
    from .passes.cleanup import plan
    from .passes.verify import self_check

    if has_aux:
        raise source.error(UnsupportedError, fdef, "has_aux is for the reverse mode",
                           "in forward mode every returned value gets its tangent: return a tuple")
    p = Prepared(fdef, scope, source, wrt_spec=wrt, param_shapes=shapes, fuse=fuse, mode="jvp", comments=comments,
                 grad_name=name or f"{fdef.name}_jvp")
    run_passes(p, stop="live")
    fn, wrt_vars = p.fn, p.wrt
    shapes = dict(shapes or {})
    # Arrays passed to a function that calls no NumPy (x * y): the rules must still write NumPy.
    numpy = scope.uses_module("numpy") or any(_is_array(s) for s in shapes.values())
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
@functools.cache
def _jvp_function_class():
    from .api import GradFunction

    class JvpFunction(GradFunction):
        """The forward-mode derivative of a Python function, compiled by diffc: called with ``fn``'s
        arguments and one tangent per parameter in ``wrt``, it returns ``(value, tangent)``. The
        code is specialised to the arguments' shapes and cached, as :class:`diffc.api.GradFunction`'s
        (through the full path: the tangents come after the function's own parameters, which the
        generated dispatcher of GradFunction does not take)."""

        __slots__ = ()

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # GradFunction gives each gradient a class of its own, for its dispatcher: here, one of this class.
            self.__class__ = type("JvpFunction", (JvpFunction,), {"__slots__": (), "__module__": __name__})

        def _remember(self, values, run):  # no dispatcher: every call takes the full path
            pass

        def _forget(self):
            self._cache.clear()
            self._generic = None

        def _compile(self, shapes, structs=frozenset()):
            generated, inlined = super()._compile(shapes, structs)
            generated.__defaults__ = generated.__kwdefaults__ = None  # the tangents come last: defaults are filled here
            return generated, inlined

        def __call__(self, *args, **kwargs):
            count = len(self._wrt_names)
            if len(args) < count:
                raise TypeError(f"{self.__name__} takes {self._fdef.name}'s arguments, then {count} tangent(s) "
                                f"({', '.join('dot_' + n for n in self._wrt_names)}); got {len(args)} argument(s)")
            primals, tangents = list(args[:len(args) - count]), list(args[len(args) - count:])
            for name in self._params[len(primals):]:  # defaults and keywords, in parameter order
                if name in kwargs:
                    primals.append(kwargs.pop(name))
                elif name in self._defaults:
                    primals.append(self._defaults[name])
                else:
                    raise TypeError(f"{self.__name__} is missing the argument '{name}'")
            if kwargs:
                raise TypeError(f"{self.__name__} got unexpected keyword argument(s): {', '.join(kwargs)}")
            args = (*primals, *tangents)
            return self._find(args, {})(*args)

        def __repr__(self) -> str:
            return f"<diffc forward-mode derivative {self.__qualname__}>"

    return JvpFunction


def jvp(fn=None, *, wrt=None):
    """The forward-mode derivative of ``fn``: ``diffc.jvp(fn, wrt="x")(*args, dot_x)`` returns
    ``(fn(*args), the derivative of fn at args in the direction dot_x)``.

    ``wrt`` takes a name, a position, or a tuple or list of them, as :func:`diffc.grad` does (None:
    every parameter); the call takes one tangent per parameter in ``wrt``, in that order, after
    ``fn``'s arguments. The output may be a number, an array or a tuple (a tuple of tangents).
    The result's ``.source`` is the generated code (``NAME_jvp``).
    """
    import inspect

    if fn is None:
        return lambda f: jvp(f, wrt=wrt)
    if inspect.ismethod(fn) and not isinstance(fn.__self__, type) and wrt is not None:
        return _method_jvp(fn, wrt)  # net.loss with wrt="params": a function of self.params
    return _jvp_function_class()(fn, wrt, "jvp")


def _method_jvp(method, wrt):
    """The forward-mode derivative of a bound method with respect to attributes of its object it reads
    (as :class:`diffc.api.MethodGradFunction`): called with the method's arguments, then the tangents."""
    from .api import MethodGradFunction
    from .frontend import methods
    from .frontend.live import definition, refuse_unsupported

    result = MethodGradFunction.__new__(MethodGradFunction)
    fn, result._object = method.__func__, method.__self__
    refuse_unsupported(fn)
    fdef, source = definition(fn, method=True)
    result._qualname = fn.__qualname__
    function, result._attrs = methods.as_function(fdef, type(result._object).__name__, wrt, source)
    result._gradient = _jvp_function_class()(fn, wrt, "jvp", False, (function, source))
    result.__name__, result.__qualname__ = result._gradient.__name__, result._gradient.__qualname__
    return result

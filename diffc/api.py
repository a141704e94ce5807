"""The Python API: ``grad``, ``value_and_grad`` and compiling live functions.

``grad(fn)`` reads ``fn``'s source (a module on disk, a Jupyter/IPython
cell, or a function diffc generated), compiles it exactly as the CLI would,
and executes the generated module in a fresh namespace. The result, a
:class:`GradFunction`, calls the generated code directly (one dictionary
look-up per call picks the variant for the arguments' shapes), with
``.source`` holding the generated code. Names outside the function resolve
through ``fn.__globals__`` (aliases such as ``import math as m`` are kept).
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache

from .compiler import compile_function, join_module, module_parts
from .errors import DiffcError, SelectionError, ShapesNeededError
from .scope import Scope, identifiers
from .shapes import Sym
from .source import Source

_GENERATED = "__diffc_source__"
_counter = 0


def _function_source(fn) -> Source:
    generated = getattr(fn, _GENERATED, None)
    if generated is not None:  # differentiating a gradient diffc made: higher order
        return Source(generated, f"<diffc {fn.__name__}>")
    try:
        lines, start = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or "<unknown>"
    except (OSError, TypeError) as exc:
        raise DiffcError(
            f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {exc}",
            hint="define the function in a file or a notebook cell, or use diffc.compile_source(text)",
        ) from None
    file_lines = linecache.getlines(filename) or None
    return Source("".join(lines), filename, line_offset=max(start - 1, 0), file_lines=file_lines)


def _find_def(tree: ast.Module, name: str, source: Source) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise SelectionError(f"cannot find the definition of '{name}' in its source", filename=source.filename,
                         hint="diffc differentiates functions defined with 'def', not lambdas")


def _pattern(value):
    """What a compiled gradient depends on: a scalar, or an array's rank and which of its dims are 1
    (for a dict, tuple or list: the same for each part)."""
    if isinstance(value, (float, int)):
        return ()
    if isinstance(value, dict):
        return ("struct", tuple((k, _pattern(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return ("struct", tuple((i, _pattern(v)) for i, v in enumerate(value)))
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and hasattr(value, "ndim"):
        return tuple(d == 1 for d in shape), getattr(getattr(value, "dtype", None), "kind", None)
    return None


def _shapes(pattern: dict) -> dict:
    shapes = {}
    for name, p in pattern.items():
        if p is None or p == ():
            shapes[name] = p
        elif p[0] == "struct":
            shapes[name] = None
            parts = _shapes({f"{name}[{key!r}]": part for key, part in p[1]})
            shapes.update({k: v for k, v in parts.items() if v is not None})
        else:
            ones, kind = p
            shapes[name] = (tuple(1 if one else Sym(f"{name}.{i}") for i, one in enumerate(ones)), kind)
    return shapes


class GradFunction:
    """The gradient of a Python function, compiled by diffc.

    Calling it runs plain generated code. For NumPy arguments the code is
    specialised to the pattern of shapes seen (each array's rank and which
    of its dims are 1, not its sizes) and cached, so ``X @ W + b`` gets
    ``grad_b = np.sum(grad, axis=0)``; ``.source`` is the code of the last
    call (before any call, the code for unknown shapes, as the CLI writes it).
    """

    def __init__(self, fn, wrt, mode):
        if not callable(fn):
            raise TypeError(f"diffc.grad expects a function, got {type(fn).__name__}")
        self.__wrapped_function__ = fn
        self._wrt, self._mode = wrt, mode
        self._source = _function_source(fn)
        tree = self._source.parse()
        self._fdef = _find_def(tree, fn.__name__, self._source)
        self._globals = getattr(fn, "__globals__", {})
        self._names = identifiers(self._fdef)
        params = self._fdef.args
        self._params = [a.arg for a in [*params.posonlyargs, *params.args, *params.kwonlyargs]]
        defaults = getattr(fn, "__defaults__", None) or ()
        self._defaults = {**dict(zip(self._params[len(self._params) - len(defaults):], defaults)),
                          **(getattr(fn, "__kwdefaults__", None) or {})}
        self._cache: dict = {}
        try:
            # Compiled now, for unknown shapes, so that errors show at once.
            self._last = self._generic = self._compile(None)
        except ShapesNeededError:
            self._last = self._generic = None  # written at the first call, when the shapes are known
        self.__name__ = f"{fn.__name__}_{mode}"
        self.__qualname__ = f"{getattr(fn, '__qualname__', fn.__name__)}_{mode}"
        self.__doc__ = f"Gradient of {fn.__name__}, generated by diffc."
        self.__module__ = getattr(fn, "__module__", None)

    def _compile(self, shapes):
        global _counter
        scope = Scope.from_globals(self._globals, self._names)
        compiled, used, helpers = compile_function(self._fdef, scope, self._source, wrt=self._wrt,
                                                   mode=self._mode, shapes=shapes)
        text = join_module(None, module_parts(scope, used, helpers), [compiled.text])
        _counter += 1
        filename = f"<diffc {compiled.grad_name} #{_counter}>"
        # Register the text so tracebacks and inspect show the generated lines.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        namespace: dict = {"__name__": getattr(self.__wrapped_function__, "__module__", "__diffc__")}
        exec(compile(text, filename, "exec"), namespace)
        generated = namespace[compiled.grad_name]
        generated.source = text
        setattr(generated, _GENERATED, compiled.text)
        if self._defaults and generated.__defaults__ is None:
            generated.__defaults__ = getattr(self.__wrapped_function__, "__defaults__", None)
            generated.__kwdefaults__ = getattr(self.__wrapped_function__, "__kwdefaults__", None)
        return generated

    def __call__(self, *args, **kwargs):
        key = tuple(_pattern(a) for a in args) + tuple(sorted((k, _pattern(v)) for k, v in kwargs.items()))
        generated = self._cache.get(key)
        if generated is None:
            pattern = {name: _pattern(self._defaults[name]) for name in self._params if name in self._defaults}
            pattern.update(zip(self._params, (_pattern(a) for a in args)))
            pattern.update({k: _pattern(v) for k, v in kwargs.items()})
            generated = self._cache[key] = self._compile(_shapes(pattern))
        self._last = generated
        return generated(*args, **kwargs)

    @property
    def source(self) -> str:
        if self._last is None:
            raise AttributeError("this gradient needs its arguments' shapes: call it once, then read .source")
        return self._last.source

    @property
    def __diffc_source__(self) -> str:
        return getattr(self._generic or self._last, _GENERATED)

    @property
    def __globals__(self) -> dict:
        return (self._generic or self._last).__globals__

    def __repr__(self) -> str:
        return f"<diffc gradient {self.__qualname__}>"


def compile_live(fn, *, wrt=None, mode: str = "grad") -> GradFunction:
    """Compile the gradient of a live function ``fn``."""
    return GradFunction(fn, wrt, mode)


def _decorator(mode: str, fn, wrt):
    if fn is None:
        return functools.partial(_decorator, mode, wrt=wrt)
    return compile_live(fn, wrt=wrt, mode=mode)


def grad(fn=None, *, wrt=None):
    """The gradient of ``fn`` as a plain generated Python function.

    Usable as ``@diffc.grad``, ``@diffc.grad(wrt="x")`` or
    ``diffc.grad(f, wrt=("x", "z"))``. ``wrt`` takes parameter names or
    positions: None means every parameter (a tuple in parameter order, or a
    bare value for a one-parameter function); one name or position gives a
    bare gradient; a tuple or list gives a tuple in that order. The result
    takes the same arguments as ``fn``; its ``.source`` is the generated code.
    """
    return _decorator("grad", fn, wrt)


def value_and_grad(fn=None, *, wrt=None):
    """Like :func:`grad`, but the result returns ``(value, gradients)``."""
    return _decorator("value_and_grad", fn, wrt)

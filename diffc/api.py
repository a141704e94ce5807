"""The Python API: ``grad``, ``value_and_grad`` and compiling live functions.

``grad(fn)`` reads ``fn``'s source (a module on disk, a Jupyter/IPython
cell, or a function diffc generated), compiles it exactly as the CLI would,
and executes the generated module in a fresh namespace. The result is the
generated function itself (no wrapper, no per-call overhead), with
``.source`` holding the generated code. Names outside the function resolve
through ``fn.__globals__`` (aliases such as ``import math as m`` are kept).
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache

from .compiler import compile_function
from .errors import DiffcError, SelectionError
from .scope import Scope, identifiers
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


def compile_live(fn, *, wrt=None, mode: str = "grad"):
    """Compile and load the gradient of a live function ``fn``."""
    global _counter
    if not callable(fn):
        raise TypeError(f"diffc.grad expects a function, got {type(fn).__name__}")
    source = _function_source(fn)
    tree = source.parse()
    fdef = _find_def(tree, fn.__name__, source)
    scope = Scope.from_globals(getattr(fn, "__globals__", {}), identifiers(fdef))
    compiled, used = compile_function(fdef, scope, source, wrt=wrt, mode=mode)
    imports = scope.import_lines(used)
    text = ("\n".join(imports) + "\n\n\n" if imports else "") + compiled.text
    _counter += 1
    filename = f"<diffc {compiled.grad_name} #{_counter}>"
    # Register the text so tracebacks and inspect show the generated lines.
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace: dict = {"__name__": getattr(fn, "__module__", "__diffc__")}
    exec(compile(text, filename, "exec"), namespace)
    generated = namespace[compiled.grad_name]
    generated.source = text
    setattr(generated, _GENERATED, compiled.text)
    generated.__wrapped_function__ = fn
    generated.__qualname__ = f"{getattr(fn, '__qualname__', fn.__name__)}_{mode}"
    if getattr(fn, "__defaults__", None) and generated.__defaults__ is None:
        generated.__defaults__ = fn.__defaults__
    return generated


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

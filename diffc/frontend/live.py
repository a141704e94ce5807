"""Live functions: which callables diffc accepts, their checked source, and running generated code.

``diffc.grad`` differentiates the text of a ``def``; this module makes sure
that text is the function the user will call:

- only a plain function (or a gradient diffc made) is accepted; a bound
  method, a classmethod or staticmethod object, a lambda, a builtin, a
  ``functools.partial`` or a callable object is refused at ``grad()`` time;
- a function wrapped by a decorator (``__wrapped__`` is set) is refused: its
  source is the undecorated function's;
- a function reading variables of an enclosing function (a closure) is
  refused: diffc resolves names through the module's globals only;
- the live code object must match a compile of the source diffc parsed (same
  lines, columns, constants and local names): a file edited after import is
  refused instead of differentiating text that is not the running code.

Generated code runs with the user's module globals (``build``): module-level
numbers are read when the gradient is called, as the function reads them;
the generated imports and helpers are closure variables of the generated
function, so nothing is added to the user's module.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import linecache
import types
from collections import ChainMap
from copy import deepcopy

from ..deep import deep
from ..errors import DiffcError, SelectionError, UnsupportedError
from .source import Source

GENERATED = "__diffc_source__"
_FUTURE_FLAGS = functools.reduce(
    lambda a, b: a | b, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names))
_METHOD = "a method is differentiated with respect to attributes of its object it reads"
_METHOD_HINT = "name them with wrt, as in diffc.grad(model.loss, wrt='params') for self.params; or move the " \
               "computation into a module-level function that takes the values it needs as parameters"
_FUNCTION_HINT = "move the computation into a module-level function that takes the values it needs as parameters"


def _where(fn) -> dict:
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if not isinstance(code, types.CodeType):
        return {}
    line = linecache.getline(code.co_filename, code.co_firstlineno) or None
    return {"filename": code.co_filename, "lineno": code.co_firstlineno, "source_line": line}


def refuse_unsupported(fn) -> None:
    """Raise a clear error unless ``fn`` is a plain Python function (or a gradient diffc made)."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if getattr(fn, GENERATED, None) is not None:
        if getattr(getattr(fn, "generated", None) or fn, "__diffc_stopped__", False):
            raise UnsupportedError(f"the derivative {name} was compiled from code that stops gradients "
                                   "(diffc.stop_gradient, a @diffc.non_differentiable function), which its "
                                   "generated code no longer marks: differentiating it again would send gradients "
                                   "through the stopped values", **_where(getattr(fn, "__wrapped_function__", fn)),
                                   hint="differentiate the first derivative written out as a function (without "
                                        "stop_gradient), or compute the second derivative without stopping gradients")
        return
    if hasattr(fn, "__wrapped_function__") and getattr(fn, "generated", True) is None:  # a GradFunction
        raise SelectionError(f"the gradient {name} has not been compiled yet: it needs its arguments' shapes",
                             hint="call it once, then differentiate it again")
    if isinstance(fn, (staticmethod, classmethod)):
        kind = type(fn).__name__
        raise SelectionError(f"diffc.grad got a {kind} object", **_where(fn.__func__),
                             hint=f"pass the function under it, {kind}.__func__, or m{_FUNCTION_HINT[1:]}")
    if inspect.ismethod(fn):
        raise SelectionError(f"'{name}' is a method bound to {type(fn.__self__).__name__!r}: {_METHOD}",
                             **_where(fn), hint=_METHOD_HINT)
    if isinstance(fn, functools.partial):
        raise SelectionError("diffc.grad got a functools.partial", **_where(fn.func),
                             hint="differentiate the function itself and choose its inputs with wrt=")
    if isinstance(fn, type):
        raise SelectionError(f"diffc.grad got the class {name!r}, not a function", hint=_FUNCTION_HINT)
    if not callable(fn):
        raise SelectionError(f"diffc.grad expects a function, got {type(fn).__name__}",
                             hint="pass a function defined with 'def'")
    if not isinstance(fn, types.FunctionType) and getattr(fn, "__wrapped__", None) is not None:
        raise SelectionError(f"'{name}' is wrapped by a decorator (a {type(fn).__name__}): diffc would differentiate "
                             "the function without it", **_where(inspect.unwrap(fn)),
                             hint=f"differentiate the undecorated function (diffc.grad({name}.__wrapped__)) and "
                                  "apply what the decorator does in the function itself")
    if not isinstance(fn, types.FunctionType):
        what = "a built-in function" if inspect.isbuiltin(fn) or type(fn).__name__ == "ufunc" else \
            f"a callable object of type {type(fn).__name__!r}"
        raise SelectionError(f"diffc.grad got {what} ({name}); it differentiates Python functions defined with 'def'",
                             hint="write the computation as a module-level function")
    if fn.__name__ == "<lambda>":
        raise SelectionError("diffc.grad got a lambda", **_where(fn), hint="define the function with 'def'")


def find_def(tree: ast.Module, name: str, source: Source) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise SelectionError(f"cannot find the definition of '{name}' in its source", filename=source.filename,
                         hint="diffc differentiates functions defined with 'def', not lambdas")


def function_source(fn) -> Source:
    generated = getattr(fn, GENERATED, None)
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


@deep  # deepcopy and compile recurse once per level of nesting (see diffc.deep)
def definition(fn, method: bool = False) -> tuple[ast.FunctionDef, Source]:
    """The parsed ``def`` of the live function ``fn``, checked to be the code that runs (``method``: the
    function under a bound method, differentiated as :mod:`diffc.frontend.methods` says)."""
    source = function_source(fn)
    fdef = find_def(source.parse(), fn.__name__, source)
    code = getattr(fn, "__code__", None)
    if getattr(fn, GENERATED, None) is None and isinstance(code, types.CodeType) \
            and not code.co_filename.startswith("<diffc "):
        _check_live(fn, fdef, source, method)
    return fdef, source


def _check_live(fn, fdef: ast.FunctionDef, source: Source, method: bool = False) -> None:
    name = fn.__name__
    if getattr(fn, "__wrapped__", None) is not None:
        node = fdef.decorator_list[0] if fdef.decorator_list else fdef
        shown = ", ".join("@" + ast.unparse(d) for d in fdef.decorator_list) or "a decorator using functools.wraps"
        raise source.error(UnsupportedError, node, f"'{name}' is wrapped by {shown}: diffc would differentiate "
                           "the function without its decorator",
                           f"differentiate the undecorated function (diffc.grad({name}.__wrapped__)) and apply what "
                           "the decorator does in the function itself")
    owner = fn.__qualname__.split(".")[-2:-1]
    static = "staticmethod" in [ast.unparse(d) for d in fdef.decorator_list]
    if owner and owner != ["<locals>"] and not method and not static:
        raise source.error(SelectionError, fdef, f"'{fn.__qualname__}' is a method of class '{owner[0]}': "
                           f"{_METHOD}", "differentiate it bound to an object: " + _METHOD_HINT)
    if fn.__code__.co_freevars:
        raise source.error(UnsupportedError, fdef, f"'{name}' reads variables of the function around it "
                           f"({', '.join(fn.__code__.co_freevars)}): diffc resolves names in the module only",
                           "pass them as parameters, or define the function at module level")
    if _features(_compiled(fdef, source, fn.__code__)) != _features(fn.__code__):
        raise source.error(SelectionError, fdef, f"the source of '{name}' changed since it was imported: "
                           "the text in the file is not the code that runs",
                           "reload the module (importlib.reload) or restart the interpreter, then call diffc.grad")


def _compiled(fdef: ast.FunctionDef, source: Source, live: types.CodeType):
    """The code object Python makes from ``fdef`` where the live function's text stands in its file."""
    tree = ast.Module([_moved(fdef, source)], [])
    try:
        code = compile(tree, source.filename, "exec", flags=live.co_flags & _FUTURE_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError, TypeError):  # pragma: no cover - the text parsed, so it compiles
        return None
    return next((c for c in code.co_consts if isinstance(c, types.CodeType)), None)


def _moved(fdef: ast.FunctionDef, source: Source) -> ast.FunctionDef:
    copy = deepcopy(fdef)
    ast.increment_lineno(copy, source.line_offset)
    for node in ast.walk(copy):
        if source.col_shift and hasattr(node, "col_offset") and node.col_offset is not None:
            node.col_offset += source.col_shift
            if getattr(node, "end_col_offset", None) is not None:
                node.end_col_offset += source.col_shift
    return copy


def _features(code):
    """What a source edit changes in a code object, independent of where the def stands (class, function)."""
    if code is None:
        return None
    consts = tuple(_features(c) if isinstance(c, types.CodeType) else (type(c), c) for c in code.co_consts)
    positions = frozenset(p for p in code.co_positions() if None not in p)
    return (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_varnames, consts,
            code.co_firstlineno, positions)


def names_of(fn) -> dict:
    """The names a function sees: its module's globals, and for generated code its closure too."""
    target = getattr(fn, "generated", None) or fn  # a GradFunction: its generated function
    globals_ = getattr(target, "__globals__", {})
    code, cells = getattr(target, "__code__", None), getattr(target, "__closure__", None) or ()
    if code is None or not cells:
        return globals_
    return ChainMap({n: c.cell_contents for n, c in zip(code.co_freevars, cells)}, globals_)


def real_globals(fn) -> dict:
    target = getattr(fn, "generated", None) or fn
    return getattr(target, "__globals__", {})


_FACTORY = "__diffc_factory__"


_NUMBERS, _CHANGED = "__diffc_numbers__", "__diffc_changed__"


def build(text: str, filename: str, name: str, globals_: dict, reads=(), changed=None):
    """The function ``name`` defined by the generated module ``text``, running with ``globals_``.

    The module's imports and helpers become locals of a factory function, so
    the generated function sees them as closure variables and every other
    global name (a module-level number) in ``globals_``, when it runs.
    ``reads`` are the names it must find there: one that the generated module
    defines too would be shadowed, so that is refused. Each call first checks
    that they are still numbers, calling ``changed()`` if not (the check runs
    inside the function, so it costs a few attribute reads, not a call).
    """
    tree = ast.parse(text, filename)
    defined = {a.asname or a.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               for a in node.names} | {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    clash = sorted(defined & set(reads) | {_NUMBERS, _CHANGED} & set(reads))
    if clash:
        raise DiffcError(f"the module-level name '{clash[0]}' is also a name the generated code defines",
                         filename=globals_.get("__file__"), hint=f"rename '{clash[0]}' in your module")
    factory = ast.parse(f"def {_FACTORY}({_NUMBERS}, {_CHANGED}):\n    pass\n").body[0]
    if reads:
        generated = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
        test = " or ".join(f"type({n}) not in {_NUMBERS}" for n in reads)
        check = ast.parse(f"if {test}:\n    {_CHANGED}()\n").body[0]
        for node in ast.walk(check):  # shown as the def line in a traceback
            node.lineno = node.end_lineno = generated.lineno
            node.col_offset, node.end_col_offset = 0, 0
        generated.body.insert(0, check)
    factory.body = [*tree.body, ast.Return(ast.Name(name, ast.Load()))]
    module = ast.Module([factory], [])
    ast.fix_missing_locations(module)
    code = compile(module, filename, "exec", dont_inherit=True)
    factory_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(factory_code, globals_)((float, int), changed)

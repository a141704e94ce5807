"""What a compiled gradient depends on in its arguments, and gradients in the arguments' structure.

A gradient is compiled per *pattern* of its arguments (:func:`pattern`):
for a scalar, nothing; for an array, its rank, which of its dims are 1 and
its dtype kind; for a list, tuple or dict, the same for each part. The
shapes the compiler is given (:func:`shapes_of`) are symbolic sizes with
those 1s. A gradient of a list, tuple or dict argument is given back in the
argument's structure (:func:`like`), zeros for parts nothing reads. A
call finds its variant without working its pattern out when each argument
is a number, a NumPy scalar, an array, or a list, tuple or dict of them: a
test generated from :func:`guard_key` (:func:`guard`) tells that an
argument has the pattern.
Before compiling, which parameters to differentiate (:func:`resolve_wrt`,
refused with a located error) and shapes written as text
(:func:`parse_shape`, the CLI's ``--shape``).
"""

from __future__ import annotations

import ast
import sys

from .errors import SelectionError
from .frontend.source import Source
from .ops.shapes import Sym

_INT = ((), "i")  # a Python int: a number whose gradient must still be a float (see shapes.kind)


def guard_key(value):
    """What the dispatcher tests of ``value`` so as to know its :func:`pattern` without working it out, or None
    (another type, or a container holding one: its pattern is worked out at each call).

    A number or a NumPy scalar has its pattern by its type alone (a NumPy scalar's shape is always (),
    its dtype kind fixed by its type). A NumPy array (exactly ``np.ndarray``) has it by its rank, which of
    its dims are 1 and its dtype: the key holds the dtype object itself, tested by identity (the same
    object has the same kind; an equal one that is not the same fails the test and takes the full path).
    A list or tuple (exactly) by its type, length and items' keys; a dict (exactly) by its keys in order
    and its values' keys.
    """
    t = type(value)
    if issubclass(t, (float, int)):
        return t
    if t is list or t is tuple or t is dict:
        parts = tuple(map(guard_key, value.values() if t is dict else value))
        if None in parts:
            return None
        return ("dict", tuple(value), parts) if t is dict else ("sequence", t, parts)
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if issubclass(t, np.generic):
        return t
    if t is np.ndarray:
        return "array", value.ndim, tuple(d == 1 for d in value.shape), value.dtype
    return None


def guard(expr: str, key, const, fresh) -> str:
    """A Python test that the value of ``expr`` has guard key ``key`` (see :func:`guard_key`).

    ``const(obj, hint)`` gives the name under which the test reads an object (a type, a dtype, a builtin; never
    a name a parameter could hide), ``fresh()`` a new local name the test may assign. ``expr`` is
    evaluated once (a parameter's name, or an item of a container: bound to a local at its first read).
    Cheap reads first: an array's shape tuple costs three times its ``len`` (dim 0), so a 1-D or 2-D array's
    1-dims are read from ``len`` and ``size`` (for 2-D: with dim 0 neither 0 nor 1, dim 1 is 1 exactly when
    size == len).
    """
    name = first = expr
    if not expr.isidentifier():
        name = fresh()
        first = f"({name} := {expr})"
    is_type = f"{const(type)}({first}) is"
    if isinstance(key, type):
        return f"{is_type} {const(key)}"
    length = const(len)
    if key[0] == "sequence":
        _, kind, parts = key
        items = [guard(f"{name}[{i}]", part, const, fresh) for i, part in enumerate(parts)]
        return " and ".join([f"{is_type} {const(kind)} and {length}({name}) == {len(parts)}", *items])
    if key[0] == "dict":
        _, keys, parts = key
        items = [guard(f"{name}[{k!r}]" if type(k) in (str, int) else f"{name}[{const(k, 'key')}]", part, const, fresh)
                 for k, part in zip(keys, parts)]
        return " and ".join([f"{is_type} {const(dict)} and {const(tuple)}({name}) == {const(keys, 'keys')}", *items])
    _, ndim, ones, dtype = key
    np = sys.modules["numpy"]
    test = f"{is_type} {const(np.ndarray)} and {name}.ndim == {ndim} and {name}.dtype is {const(dtype, dtype.name)}"
    if ndim == 1:
        return f"{test} and {length}({name}) {'==' if ones[0] else '!='} 1"
    if ndim == 2:
        if ones[0]:  # dim 0 is 1: size is dim 1
            return f"{test} and {length}({name}) == 1 and {name}.size {'==' if ones[1] else '!='} 1"
        # dim 0 >= 2: dim 1 is 1 iff size == dim 0; dim 0 == 0 fails both tests (the full path then)
        rows = fresh()
        return (f"{test} and ({rows} := {length}({name})) {'> 1' if ones[1] else '!= 1'} "
                f"and {name}.size {'==' if ones[1] else '!='} {rows}")
    if ndim and not any(ones):
        return f"{test} and 1 not in {name}.shape"
    if ndim:
        shape = fresh()
        dims = [f"{shape}[{i}] {'==' if one else '!='} 1" for i, one in enumerate(ones)]
        dims[0] = f"({shape} := {name}.shape){dims[0][len(shape):]}"
        return f"{test} and {' and '.join(dims)}"
    return test


def pattern(value):
    """What a compiled gradient depends on: a scalar, or an array's rank and which of its dims are 1
    (for a dict, tuple or list: the same for each part)."""
    if isinstance(value, float):
        return ()
    if isinstance(value, int):  # bool too
        return _INT
    if isinstance(value, dict):
        return ("struct", tuple((k, pattern(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return ("struct", tuple((i, pattern(v)) for i, v in enumerate(value)))
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and hasattr(value, "ndim"):
        return tuple(d == 1 for d in shape), getattr(getattr(value, "dtype", None), "kind", None)
    return None


def shapes_of(patterns: dict) -> dict:
    """Symbolic shapes for the compiler from the arguments' patterns (a part of a container as NAME[KEY])."""
    shapes = {}
    for name, p in patterns.items():
        if p is None or p == ():
            shapes[name] = p
        elif p[0] == "struct":
            shapes[name] = None
            parts = shapes_of({f"{name}[{key!r}]": part for key, part in p[1]})
            shapes.update({k: v for k, v in parts.items() if v is not None})
        else:
            ones, kind = p
            shapes[name] = (tuple(1 if one else Sym(f"{name}.{i}") for i, one in enumerate(ones)), kind)
    return shapes


def zero_like(value):
    """A zero gradient with the structure and shape of ``value``."""
    if isinstance(value, (list, tuple)):
        return type(value)(zero_like(v) for v in value)
    if isinstance(value, dict):
        return {k: zero_like(v) for k, v in value.items()}
    if hasattr(value, "shape") and getattr(value, "ndim", 0):
        import numpy as np

        return np.zeros(value.shape)
    return 0.0


_LEAVES = set()  # types seen whose values get their gradient as it is (not float, int, a list, tuple or dict)


def like(value, grad):
    """``grad``, a tuple, an array or ``{}`` (nothing used), in the structure of the argument ``value``."""
    t = type(value)
    if t is float or t is int:
        return float(grad) if getattr(grad, "ndim", None) == 0 else grad  # a number, not a NumPy scalar
    if t in _LEAVES or not isinstance(value, (list, tuple, dict)):
        _LEAVES.add(t)
        return grad  # an array (the common case: tested first, as this runs at each call of a method's gradient)
    if isinstance(value, (list, tuple)):
        if isinstance(grad, dict):  # {0: g0, 2: g2}: each part at its own index, zeros between
            return type(value)(like(v, grad[i]) if i in grad else zero_like(v) for i, v in enumerate(value))
        if isinstance(grad, (list, tuple)) or getattr(grad, "ndim", 0):
            parts = list(grad)
        else:
            parts = []
        return type(value)(like(v, parts[i]) if i < len(parts) else zero_like(v) for i, v in enumerate(value))
    if isinstance(value, dict) and isinstance(grad, dict):  # every key of the argument, in its order
        out = {k: (grad[k] if type(v) in _LEAVES else like(v, grad[k])) if k in grad else zero_like(v)
               for k, v in value.items()}
        if not grad.keys() <= value.keys():
            out.update({k: g for k, g in grad.items() if k not in value})
        return out
    return grad


def ragged(value) -> bool:
    import numpy as np

    return isinstance(value, (list, tuple)) and len({np.shape(v) for v in value}) > 1


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

"""``check_grad(..., mode="jvp" | "vjp")`` and ``diffc check --mode``: the forward mode and the
vector-Jacobian product checked numerically (see :mod:`diffc.tools.gradcheck`).

JVP: the tangent of each returned value along random directions ``v`` (one per parameter checked)
against the central difference ``(fn(x + h v) - fn(x - h v)) / 2h``.
VJP, with a random cotangent ``u`` (one per returned value): the dot-product test
``<u, J v> == <J^T u, v>`` against the forward mode, for a random ``v``; and each gradient against
central differences of ``<u, fn(args)>``, for parameters of at most ``SMALL`` elements. Every
comparison is float64, with the CS231n relative error and the absolute floor of ``check_grad``.
"""

from __future__ import annotations

import inspect

from ..errors import DiffcError


def _random(rng, like):
    import numpy as np

    return rng.standard_normal(np.shape(like)) if np.ndim(like) else float(rng.standard_normal())


def _compare(name, analytic, numeric, rtol, atol):
    import numpy as np

    from .numeric import ParamCheck

    a = np.ravel(np.asarray(analytic, dtype=np.float64))
    n = np.ravel(np.asarray(numeric, dtype=np.float64))
    shape_ok = np.shape(analytic) == np.shape(numeric)
    diff = np.abs(a - n) if shape_ok else np.array(np.inf)
    rel = float(np.max(diff / np.maximum(np.abs(a) + np.abs(n), 1e-8))) if diff.size else 0.0
    abs_err = float(np.max(diff)) if diff.size else 0.0
    ok = shape_ok and bool(np.all(np.isfinite(a))) and (rel <= rtol or abs_err <= atol)
    return ParamCheck(name, rel, abs_err, analytic, numeric, ok)


def _items(value) -> list:
    return list(value) if isinstance(value, tuple) else [value]


def _failing(what: str, name: str, exc: Exception) -> DiffcError:
    return DiffcError(f"diffc's {what} of '{name}' failed at these values: {type(exc).__name__}: {exc}",
                      hint="the derivative may not exist there (sqrt or log at 0, a division by zero): try other "
                           "values; if it exists, this is a bug in diffc (DIFFC_DEBUG=1 shows the traceback)")


def check_mode(fn, args, wrt, mode: str, rtol: float, atol: float, h: float):
    """The :class:`~diffc.tools.gradcheck.CheckReport` of ``fn``'s JVP or VJP at ``args``."""
    import numpy as np

    from ..jvp import jvp
    from ..vjp import vjp
    from .numeric import CheckReport, _as_float64, numeric_gradient

    if inspect.ismethod(fn) and not isinstance(fn.__self__, type):
        raise DiffcError(f"check_grad(mode={mode!r}) takes a plain function, not the bound method "
                         f"'{fn.__qualname__}'", hint="check a function of the arrays differentiated")
    made = (jvp if mode == "jvp" else vjp)(fn, wrt=wrt)  # first: it refuses a bad fn or wrt with a clear error
    names = list(inspect.signature(fn).parameters)
    items = [wrt] if isinstance(wrt, (str, int)) else list(wrt) if wrt is not None else list(range(len(names)))
    positions = [names.index(w) if isinstance(w, str) else w % len(names) for w in items]
    bare = wrt is not None and isinstance(wrt, (str, int)) or wrt is None and len(names) == 1
    args = [_as_float64(a) if i in positions else a for i, a in enumerate(args)]
    name = getattr(fn, "__name__", "function")
    value = fn(*args)
    outputs = _items(value)
    labels = [f"output[{k}]" for k in range(len(outputs))] if isinstance(value, tuple) else ["output"]
    rng = np.random.default_rng(0)
    v = [_random(rng, args[p]) for p in positions]

    def along(sign):
        moved = list(args)
        for p, d in zip(positions, v):
            moved[p] = args[p] + sign * h * d
        return _items(fn(*moved))

    def tangents():
        derivative = jvp(fn, wrt=wrt) if mode == "vjp" else made  # a refusal is the caller's to report
        try:
            _, tangent = derivative(*args, *v)
        except Exception as exc:  # noqa: BLE001 - the generated code failed at these values
            raise _failing("forward-mode derivative", name, exc) from None
        return _items(tangent)

    if mode == "jvp":
        numeric = [(p - m) / (2 * h) for p, m in zip(along(1), along(-1))]
        rows = [_compare(f"d {label}", t, n, rtol, atol) for label, t, n in zip(labels, tangents(), numeric)]
        return CheckReport(name, rows, mode="jvp")
    u = [_random(rng, o) for o in outputs]
    try:
        grads = made(*args, *u)
    except Exception as exc:  # noqa: BLE001
        raise _failing("vector-Jacobian product", name, exc) from None
    grads = [grads] if bare else list(grads)
    rows, notes = [], []
    try:
        forward = sum(float(np.sum(a * t)) for a, t in zip(u, tangents()))
    except DiffcError as exc:
        notes.append(f"dot-product test not run: the forward mode refuses '{name}': {exc.message}")
    else:
        reverse = sum(float(np.sum(g * d)) for g, d in zip(grads, v))
        rows.append(_compare("<J^T u, v>", reverse, forward, rtol, atol))

    def weighted(*a):
        return sum(float(np.sum(w * o)) for w, o in zip(u, _items(fn(*a))))

    for p, g in zip(positions, grads):
        if np.size(args[p]) > SMALL:
            notes.append(f"{names[p]}: {np.size(args[p])} elements, more than {SMALL}: not checked against "
                         "central differences")
            continue
        rows.append(_compare(names[p], g, numeric_gradient(weighted, args, p, h), rtol, atol))
    return CheckReport(name, rows, mode="vjp", notes=notes)


SMALL = 2000  # the most elements a parameter may have for its VJP to be checked against central differences

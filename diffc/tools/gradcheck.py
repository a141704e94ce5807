"""Numeric gradient checking: diffc's gradient against central differences.

``check_grad(fn, *args)`` evaluates the gradient diffc generates and a
central finite difference of ``fn`` in float64, element by element, and
reports the CS231n relative error ``|a - n| / max(|a| + |n|, 1e-8)`` per
parameter. A parameter passes when its largest relative error is at most
``rtol`` or its largest absolute error is at most ``atol`` (the absolute
floor keeps gradients that are zero from failing on rounding noise).

``mode="jvp"`` checks the forward mode (:func:`diffc.jvp`): the tangent of each returned value along
random directions against the central difference along them. ``mode="vjp"`` checks the
vector-Jacobian product (:func:`diffc.vjp`) with a random cotangent ``u``: against the forward mode
by the dot-product test ``<u, J v> == <J^T u, v>`` for a random ``v``, and, for parameters of at
most ``modecheck.SMALL`` elements, each gradient against central differences of ``<u, fn(args)>``.
The random values are float64 from a fixed seed: a check is repeatable.
"""

from __future__ import annotations

import os

from ..api import compile_live
from ..errors import DiffcError, GradientCheckError
from .numeric import CheckReport, ParamCheck, _as_float64, numeric_gradient

__all__ = ["CheckReport", "ParamCheck", "check_grad", "numeric_gradient"]


def _structure(value):
    if isinstance(value, dict):  # keys, not their order
        return ("dict", tuple(sorted((repr(k), _structure(v)) for k, v in value.items())))
    if isinstance(value, (tuple, list)):
        return ("seq", tuple(_structure(v) for v in value))
    return "leaf"


def _flat(value):
    import numpy as np

    if isinstance(value, dict):
        value = [value[k] for k in sorted(value, key=repr)]
    if isinstance(value, (tuple, list)):
        parts = [_flat(v) for v in value]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.ravel(np.asarray(value, dtype=np.float64))


def check_grad(fn, *args, wrt=None, rtol: float = 1e-5, atol: float = 1e-7, h: float = 1e-6,
               raise_on_error: bool = True, mode: str = "grad") -> CheckReport:
    """Compare diffc's gradient of ``fn`` at ``args`` with finite differences.

    Returns a :class:`CheckReport`; raises :class:`GradientCheckError` with
    the report when a parameter exceeds the tolerance (unless
    ``raise_on_error`` is False). ``mode`` "jvp" or "vjp" checks :func:`diffc.jvp` or
    :func:`diffc.vjp` instead (see the module), for functions with any output.
    """
    import inspect

    import numpy as np

    if mode not in ("grad", "jvp", "vjp"):
        raise ValueError(f"mode must be 'grad', 'jvp' or 'vjp', not {mode!r}")
    if mode != "grad":
        from .modecheck import check_mode

        report = check_mode(fn, args, wrt, mode, rtol, atol, h)
        if raise_on_error and not report.ok:
            raise GradientCheckError(str(report), report)
        return report

    gfn = compile_live(fn, wrt=wrt, mode="grad")  # first: it refuses a bad fn or wrt with a clear error
    names = list(inspect.signature(fn).parameters)
    if wrt is None:
        positions = list(range(len(names)))
    else:
        items = [wrt] if isinstance(wrt, (str, int)) else list(wrt)
        positions = [names.index(w) if isinstance(w, str) else w % len(names) for w in items]
    # Only what is differentiated becomes float64: a loop bound or labels keep their type.
    args = [_as_float64(a) if i in positions and not isinstance(a, int) or i in positions and wrt is not None
            else a for i, a in enumerate(args)]
    name = getattr(fn, "__name__", "function")
    try:
        grads = gfn(*args)
    except Exception as exc:  # a point where the derivative does not exist (sqrt at 0), or a bug
        raise DiffcError(f"diffc's gradient of '{name}' failed at these values: {type(exc).__name__}: {exc}",
                         hint="the derivative may not exist there (sqrt or log at 0, a division by zero): try "
                              "other values; if it exists, this is a bug in diffc (DIFFC_DEBUG=1 shows the "
                              "traceback)") from (exc if os.environ.get("DIFFC_DEBUG") else None)
    if len(positions) == 1 and (wrt is None or isinstance(wrt, (str, int))):
        grads = (grads,)
    results = []
    for pos, analytic in zip(positions, grads):
        try:
            numeric = numeric_gradient(fn, args, pos, h)
        except Exception as exc:  # fn fails a step h away: the values are at the edge of its domain
            value = args[pos]
            if isinstance(value, int) or getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u"):
                raise DiffcError(f"'{names[pos]}' of '{name}' is an integer that cannot be varied (a loop count, "
                                 f"an index or labels): with it nudged by {h:g}, '{name}' raised "
                                 f"{type(exc).__name__}: {exc}",
                                 hint="leave it out: name the parameters to check with wrt=") from None
            raise DiffcError(f"the finite difference of '{name}' in '{names[pos]}' failed: evaluating it {h:g} "
                             f"away from the given values raised {type(exc).__name__}: {exc}",
                             hint="the values are at the edge of the function's domain: check at a point "
                                  "inside it") from None
        a, n = _flat(analytic), _flat(numeric)
        shape_ok = a.shape == n.shape and _structure(analytic) == _structure(numeric)
        diff = np.abs(a - n) if shape_ok else np.array(np.inf)
        rel = float(np.max(diff / np.maximum(np.abs(a) + np.abs(n), 1e-8))) if diff.size else 0.0
        abs_err = float(np.max(diff)) if diff.size else 0.0
        ok = shape_ok and bool(np.all(np.isfinite(a))) and (rel <= rtol or abs_err <= atol)
        results.append(ParamCheck(names[pos], rel, abs_err, analytic, numeric, ok))
    report = CheckReport(name, results)
    if raise_on_error and not report.ok:
        raise GradientCheckError(str(report), report)
    return report

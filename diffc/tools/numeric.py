"""The pieces every check shares: a parameter's result (:class:`ParamCheck`), the report
(:class:`CheckReport`), float64 copies of the arguments and central differences of a function with
respect to one of them. :mod:`.gradcheck` (the gradient) and :mod:`.modecheck` (jvp and vjp) both
build on it; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParamCheck:
    name: str
    rel_error: float
    abs_error: float
    analytic: object
    numeric: object
    ok: bool


@dataclass
class CheckReport:
    function: str
    params: list[ParamCheck]
    mode: str = "grad"  # "grad", "jvp" or "vjp": what was checked
    notes: list = field(default_factory=list)  # what was not checked, and why

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.params)

    def __str__(self) -> str:
        title = {"grad": "gradient check", "jvp": "forward-mode (jvp) check", "vjp": "vector-Jacobian (vjp) check"}
        rows = [f"{title[self.mode]} of {self.function}:"]
        for p in self.params:
            status = "ok" if p.ok else "MISMATCH"
            rows.append(f"  {p.name:<12} rel error {p.rel_error:.2e}  abs error {p.abs_error:.2e}  {status}")
            if not p.ok:
                rows.append(f"    diffc:   {p.analytic!r}")
                rows.append(f"    numeric: {p.numeric!r}")
        rows += [f"  ({note})" for note in self.notes]
        return "\n".join(rows)


def _as_float64(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        # Integer arrays are labels or indices: they keep their type.
        return value.astype(np.float64) if value.dtype.kind in "fc" else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        return {k: _as_float64(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_as_float64(v) for v in value)
    return value


def _with(args, index, value):
    return [*args[:index], value, *args[index + 1:]]


def numeric_gradient(fn, args: list, index: int, h: float = 1e-6):
    """Central differences of ``fn`` with respect to ``args[index]`` (a number, an array, or a dict,
    tuple or list of them, for which the result has the same structure)."""
    import numpy as np

    x = args[index]
    if isinstance(x, (dict, tuple, list)):
        keys = list(x) if isinstance(x, dict) else range(len(x))
        parts = {}
        for key in keys:
            def part_fn(*a, key=key):
                container = dict(a[index]) if isinstance(x, dict) else list(a[index])
                container[key] = a[-1]
                container = container if isinstance(x, (dict, list)) else tuple(container)
                return fn(*_with(list(a[:-1]), index, container))
            parts[key] = numeric_gradient(part_fn, [*args, x[key]], len(args), h)
        return parts if isinstance(x, dict) else type(x)(parts[k] for k in keys)
    if isinstance(x, float):
        def at(value):
            return float(fn(*args[:index], value, *args[index + 1:]))
        return (at(x + h) - at(x - h)) / (2 * h)
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = float(fn(*args[:index], x.copy(), *args[index + 1:]))
        x[i] = old - h
        minus = float(fn(*args[:index], x.copy(), *args[index + 1:]))
        x[i] = old
        out[i] = (plus - minus) / (2 * h)
    return out

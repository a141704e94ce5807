"""The systems compared: how each one is built for a case and called.

``build(system, case, inputs)`` returns a :class:`Built` (the gradient
callable, its arguments in that system's own types, converted once outside
the timing, and a converter of its result to NumPy for the check), or raises
:class:`Unavailable` with the reason a system cannot run the case. Every
peer is optional: a missing library is reported as "not installed".
"""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass

import numpy as np
import peer_code
from suite import ROOT, Case, load

SYSTEMS = ["diffc", "diffc-gen", "hand", "jax", "jax-jit", "torch", "autograd", "tangent", "sympy"]
LABELS = {
    "forward": "forward only (NumPy)",
    "diffc": "diffc decorator",
    "diffc-gen": "diffc generated fn",
    "hand": "hand-written",
    "jax": "JAX grad",
    "jax-jit": "JAX jit(grad)",
    "torch": "PyTorch eager",
    "autograd": "HIPS autograd",
    "tangent": "tangent-ad",
    "sympy": "sympy lambdify",
}
NUMPY_MEMORY = {"forward", "diffc", "diffc-gen", "hand", "autograd", "tangent"}  # seen by tracemalloc


class Unavailable(Exception):
    """This system cannot run this case; the message says why."""


@dataclass
class Built:
    call: object
    args: tuple
    to_numpy: object = None  # result -> list of float64 arrays, in wrt order
    build_s: float | None = None  # time spent building before the first call, where reported apart


def _as_list(result, n):
    if n == 1 and not isinstance(result, (tuple, list)):
        result = (result,)
    return [np.asarray(r, dtype=np.float64) for r in result]


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise Unavailable(f"not installed (pip install \".[bench]\"): no module {module}") from None


def params(case: Case) -> list:
    return list(inspect.signature(load(case)).parameters)


def _positions(case: Case) -> tuple:
    names = params(case)
    return tuple(names.index(w) for w in case.wrt)


def _variant(case: Case, system: str):
    name = case.variants.get(system)
    return getattr(peer_code, name) if name else None


PRELOAD = {"diffc": ["diffc"], "diffc-gen": ["diffc"], "jax": ["jax", "jax.numpy"], "jax-jit": ["jax", "jax.numpy"],
           "torch": ["torch"], "autograd": ["autograd", "autograd.numpy"], "tangent": ["tangent"],
           "sympy": ["sympy"]}


def preload(system: str) -> None:
    """Import a system's library, so that first-call times measure compiling, not importing."""
    for module in PRELOAD.get(system, []):
        try:
            __import__(module)
        except ImportError:
            pass


def build(system: str, case: Case, inputs: tuple) -> Built:
    return BUILDERS[system](case, inputs)


def _forward(case, inputs):
    return Built(load(case), inputs)


def _hand(case, inputs):
    return Built(case.hand, inputs)


def _diffc(case, inputs):
    import diffc

    return Built(diffc.grad(load(case), wrt=case.wrt), inputs)


def _diffc_gen(case, inputs):
    import diffc
    from diffc.compiler import parse_shape

    path = os.path.join(ROOT, case.path)
    with open(path) as f:
        text = f.read()
    shapes = {name: parse_shape(spec) for name, spec in case.shapes.items()} or None
    start = time.perf_counter()
    module = diffc.compile_source(text, path, functions=[case.func], wrt=case.wrt, shapes=shapes, fast=True)
    namespace: dict = {}
    exec(compile(module.text, f"<diffc {case.func}_grad>", "exec"), namespace)
    return Built(namespace[f"{case.func}_grad"], inputs, build_s=time.perf_counter() - start)


def _jax(case, inputs, jit=False):
    jax = _require("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    fn = _variant(case, "jax-jit" if jit else "jax") or load(case, np=jnp, math=jnp)
    grad = jax.grad(fn, argnums=_positions(case))
    grad = jax.jit(grad) if jit else grad
    args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in inputs)
    block = jax.block_until_ready
    return Built(lambda *a: block(grad(*a)), args)


def _torch(case, inputs):
    torch = _require("torch")
    if os.environ.get("BENCH_TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
    fn = _variant(case, "torch") or load(case, np=torch, math=torch)
    names = params(case)
    args = []
    for name, a in zip(names, inputs):
        if isinstance(a, np.ndarray):
            a = torch.from_numpy(a.copy())
            args.append(a.requires_grad_(True) if name in case.wrt else a)
        elif name in case.wrt:
            args.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
        else:
            args.append(a)
    pos = _positions(case)
    autograd_grad = torch.autograd.grad

    def call(*a):
        return autograd_grad(fn(*a), [a[i] for i in pos])

    return Built(call, tuple(args), to_numpy=lambda r: [t.detach().numpy().astype(np.float64) for t in r])


def _autograd(case, inputs):
    autograd = _require("autograd")
    import autograd.numpy as anp

    fn = _variant(case, "autograd") or load(case, np=anp, math=anp)
    return Built(autograd.grad(fn, argnum=_positions(case)), inputs)


def _tangent(case, inputs):
    tangent = _require("tangent")
    # tangent differentiates NumPy calls, not the math module: math.exp is read as np.exp.
    return Built(tangent.grad(load(case, math=np), wrt=_positions(case)), inputs)


def _sympy(case, inputs):
    if not case.scalar:
        raise Unavailable("scalar cases only (sympy differentiates expressions, not NumPy arrays)")
    sympy = _require("sympy")
    start = time.perf_counter()
    symbols = sympy.symbols(params(case))
    expr = load(case, math=sympy)(*symbols)
    wrt = [symbols[i] for i in _positions(case)]
    call = sympy.lambdify(symbols, [sympy.diff(expr, s) for s in wrt], modules="math", cse=True)
    return Built(call, inputs, build_s=time.perf_counter() - start)


BUILDERS = {"forward": _forward, "hand": _hand, "diffc": _diffc, "diffc-gen": _diffc_gen, "jax": _jax,
            "jax-jit": lambda case, inputs: _jax(case, inputs, jit=True), "torch": _torch, "autograd": _autograd,
            "tangent": _tangent, "sympy": _sympy}


def to_numpy(built: Built, result, n: int) -> list:
    return built.to_numpy(result) if built.to_numpy else _as_list(result, n)

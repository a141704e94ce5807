"""The benchmark's cases: where each function's source lives, its inputs, and its hand-written gradient.

Every case is a plain Python file (examples/ or benchmarks/cases/) that diffc
compiles as a user would. The hand-written gradient of each case is the
reference (1.00) that every other system's result is checked against and
timed against; it returns the gradients in the order of ``wrt``.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from two_layer import hand_written as _two_layer_hand  # noqa: E402


@dataclass
class Case:
    id: str
    label: str
    path: str  # relative to the repository root
    func: str
    wrt: tuple
    make_inputs: object  # rng -> tuple of arguments (NumPy / float, float64)
    hand: object  # (*args) -> tuple of gradients, in wrt order
    shapes: dict = field(default_factory=dict)  # as the CLI's --shape, for diffc.compile_source
    scalar: bool = False
    quick: bool = True  # part of --quick
    variants: dict = field(default_factory=dict)  # system -> function name in peer_code.py (when the source won't do)
    note: str = ""


_counter = itertools.count()


def load(case: Case, **rebind):
    """A fresh module object of the case's source file (so inspect finds the source), with globals rebound."""
    path = os.path.join(ROOT, case.path)
    name = f"bench_case_{case.id}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for key, value in rebind.items():  # looked up at call time: np -> jax.numpy, math -> torch, ...
        setattr(module, key, value)
    return getattr(module, case.func)


# ---- hand-written gradients (the 1.00) ----

def _lecture_hand(x, y, z):
    """As the lecture writes it: the forward pass, then the backward pass."""
    q = x + y
    f = q * z  # noqa: F841 (the forward pass computes the value, as every system here does)
    dq = z
    return dq, dq, q


def _neuron_hand(w0, x0, w1, x1, w2):
    s3 = w0 * x0 + w1 * x1 + w2
    L = 1.0 / (1.0 + math.exp(-s3))
    ds = (1.0 - L) * L
    return ds * x0, ds * w0, ds * x1, ds * w1, ds


def _chain_hand(x, y, z):
    from cases.scalar_chain_hand import chain_hand
    return chain_hand(x, y, z)


def _wx_hand(W, x):
    g = 2.0 * (W @ x)
    return np.outer(g, x), W.T @ g


def _two_layer(W1, b1, W2, b2, X, y, reg):
    return _two_layer_hand(W1, b1, W2, b2, X, y, reg)[1]


def _svm_hand(W, X, y, reg):
    """CS231n's vectorized SVM gradient."""
    N = X.shape[0]
    scores = X @ W
    rows = np.arange(N)
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1.0)
    margins[rows, y] = 0
    binary = (margins > 0).astype(X.dtype)
    binary[rows, y] = -np.sum(binary, axis=1)
    return (X.T @ binary / N + 2 * reg * W,)


def _softmax_loop_hand(W, X, y, reg):
    """The naive loop, with the gradient of each row's scores written in the loop."""
    N = X.shape[0]
    scores = X @ W
    dscores = np.empty_like(scores)
    for i in range(N):
        s = scores[i] - np.max(scores[i])
        p = np.exp(s)
        p /= np.sum(p)
        p[y[i]] -= 1.0
        dscores[i] = p
    return (X.T @ dscores / N + reg * W,)


# ---- inputs ----

def _net_inputs(N, D, H, C):
    def make(rng):
        return (rng.normal(size=(D, H)) * 0.01, rng.normal(size=H) * 0.01, rng.normal(size=(H, C)) * 0.01,
                rng.normal(size=C) * 0.01, rng.normal(size=(N, D)), rng.integers(0, C, size=N), 1e-3)
    return make


def _linear_inputs(N, D, C):
    def make(rng):
        return rng.normal(size=(D, C)) * 0.001, rng.normal(size=(N, D)), rng.integers(0, C, size=N), 2.5e-4
    return make


NET_SHAPES = {"W1": "D,H", "b1": "H", "W2": "H,C", "b2": "C", "X": "N,D", "y": "N:int", "reg": ""}
LINEAR_SHAPES = {"W": "D,C", "X": "N,D", "y": "N:int", "reg": ""}
NET = ("W1", "b1", "W2", "b2")

CASES = [
    Case("lecture", "lecture (x + y) * z", "examples/lecture.py", "f", ("x", "y", "z"),
         lambda rng: (-2.0, 5.0, -4.0), _lecture_hand, scalar=True),
    Case("neuron", "sigmoid neuron", "examples/lecture.py", "neuron", ("w0", "x0", "w1", "x1", "w2"),
         lambda rng: (2.0, -1.0, -3.0, -2.0, -3.0), _neuron_hand, scalar=True),
    Case("chain100", "scalar chain, 100 ops", "benchmarks/cases/scalar_chain.py", "chain", ("x", "y", "z"),
         lambda rng: (0.7, -1.3, 0.4), _chain_hand, scalar=True),
    Case("wx", "sum((W @ x) ** 2), W 512x512", "benchmarks/cases/wx_square.py", "wx_square", ("W", "x"),
         lambda rng: (rng.normal(size=(512, 512)), rng.normal(size=512)), _wx_hand, shapes={"W": "M,D", "x": "D"}),
    Case("net_small", "two-layer net N=64 D=100 H=50", "examples/two_layer_net.py", "two_layer_loss", NET,
         _net_inputs(64, 100, 50, 10), _two_layer, shapes=NET_SHAPES, variants={"torch": "two_layer_torch"}),
    Case("net_large", "two-layer net N=1024 D=3072 H=512", "examples/two_layer_net.py", "two_layer_loss", NET,
         _net_inputs(1024, 3072, 512, 10), _two_layer, shapes=NET_SHAPES, quick=False,
         variants={"torch": "two_layer_torch"}),
    Case("svm", "SVM N=500 D=3073 C=10", "examples/svm.py", "svm_loss", ("W",), _linear_inputs(500, 3073, 10),
         _svm_hand, shapes=LINEAR_SHAPES,
         variants={"jax": "svm_jax", "jax-jit": "svm_jax", "autograd": "svm_autograd", "torch": "svm_torch"}),
    Case("softmax_loop_500", "naive softmax loop N=500 D=3073", "benchmarks/cases/softmax_loop.py",
         "softmax_loop_loss", ("W",), _linear_inputs(500, 3073, 10), _softmax_loop_hand, shapes=LINEAR_SHAPES,
         variants={"torch": "softmax_loop_torch"}),
    Case("softmax_loop_8000", "naive softmax loop N=8000 D=3073", "benchmarks/cases/softmax_loop.py",
         "softmax_loop_loss", ("W",), _linear_inputs(8000, 3073, 10), _softmax_loop_hand, shapes=LINEAR_SHAPES,
         quick=False, variants={"torch": "softmax_loop_torch"}),
]
BY_ID = {case.id: case for case in CASES}

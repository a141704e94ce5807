"""Shared helpers: load user code from real files (so the decorator can read
its source) and run generated code."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI (CI=true) replays the same examples every run; elsewhere each run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
_ids = itertools.count()


def run_generated(text: str) -> dict:
    """Execute a generated module's text; returns its namespace."""
    namespace: dict = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return namespace


def central_difference(fn, args, index, h=1e-6):
    args = list(args)
    plus = args[:index] + [args[index] + h] + args[index + 1:]
    minus = args[:index] + [args[index] - h] + args[index + 1:]
    return (fn(*plus) - fn(*minus)) / (2 * h)


def numeric_gradient(fn, args, index, h=1e-6):
    """Central differences of ``fn(*args)`` in ``args[index]`` (a float or an array), in float64."""
    import numpy as np

    x = np.array(args[index], dtype=float)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        at = lambda value: fn(*args[:index], value if x.shape else float(value), *args[index + 1:])  # noqa: E731
        grad[i] = (at(plus) - at(minus)) / (2 * h)
    return grad


def check_gradients(grads, fn, args, rtol=1e-6, atol=1e-8):
    """Each gradient in ``grads`` (one, or a tuple) has its argument's shape and matches the central
    difference of ``fn`` at ``args``."""
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, g in enumerate(grads):
        expected = numeric_gradient(fn, args, i)
        assert np.shape(g) == np.shape(args[i]), f"gradient {i} has shape {np.shape(g)}, not {np.shape(args[i])}"
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=atol, err_msg=f"gradient {i}")


@pytest.fixture
def make_module(tmp_path):
    """Write ``source`` to a file and import it as a fresh module."""

    def make(source: str):
        name = f"user_module_{next(_ids)}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return make

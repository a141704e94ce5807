"""The JAX backend (diffc/backends/jax.py): the same IR, spelled by jax.numpy.

The user writes NumPy; ``compile_source(..., backend="jax")`` writes a gradient module that calls
jax.numpy. Gradients are checked against central differences of the user's NumPy function, in
float64 (jax_enable_x64). In-place updates are refused with their line; the gradient of a
subscript is written functionally (``.at[index].add``). Skipped where jax is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc
from diffc.compiler import compile_source

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(7)


def _check(src, name, shapes, args):
    text = compile_source(src, "f.py", shapes=shapes, backend="jax").text
    assert "import jax.numpy as jnp" in text and "np." not in text.replace("jnp.", ""), text
    namespace = run_generated(text)
    user = run_generated(src)[name]
    grads = namespace[f"{name}_grad"](*(jax.numpy.asarray(a) for a in args))
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, g in enumerate(grads):
        assert isinstance(g, jax.Array)
        expected = numeric_gradient(user, args, i)
        assert np.shape(g) == np.shape(expected)
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6, atol=1e-8)
    return text


def test_a_layer_is_written_with_jax_numpy():
    src = ("import numpy as np\n\n\ndef f(W, x, b):\n"
           "    h = np.tanh(W @ x + b)\n    return np.sum(h * h) + np.log(np.sum(np.exp(x)))\n")
    text = _check(src, "f", {"W": (3, 4), "x": (4,), "b": (3,)},
                  [RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)])
    assert "jnp.tanh(" in text and "jnp.exp(" in text


def test_broadcasting_is_summed_back_over_scalar_vector_and_matrix_shapes():
    src = "import numpy as np\n\n\ndef f(a, b):\n    return np.sum(np.maximum(a * b, 0.1) / (1.0 + b * b))\n"
    for sa, sb in (((), (3,)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 3), ())):
        args = [RNG.normal(size=sa) if sa else float(RNG.normal()), RNG.normal(size=sb) if sb else float(RNG.normal())]
        _check(src, "f", {"a": sa, "b": sb}, args)


def test_the_gradient_of_a_subscript_is_a_functional_scatter():
    src = "import numpy as np\n\n\ndef f(x, i):\n    return np.sum(x[1:] * x[:-1]) + np.sum(x[i] ** 2)\n"
    text = compile_source(src, "f.py", shapes={"x": (5,), "i": ((3,), "i")}, wrt="x", backend="jax").text
    assert ".at[" in text and "add.at" not in text, text
    x, i = RNG.normal(size=5), np.array([0, 2, 2])
    grad = run_generated(text)["f_grad"](jax.numpy.asarray(x), i)
    expected = numeric_gradient(lambda x: run_generated(src)["f"](x, i), [x], 0)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-6, atol=1e-8)


def test_an_in_place_update_is_refused_with_its_line():
    src = "import numpy as np\n\n\ndef f(x):\n    y = x * 2.0\n    y[0] = 1.0\n    return np.sum(y * x)\n"
    with pytest.raises(diffc.UnsupportedError) as info:
        compile_source(src, "f.py", shapes={"x": (3,)}, backend="jax")
    assert info.value.lineno == 6 and "in place" in str(info.value)
    compile_source(src, "f.py", shapes={"x": (3,)})  # NumPy writes it


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend must be one of"):
        compile_source("def f(x):\n    return x * x\n", "f.py", backend="torch")


def test_without_shapes_the_helpers_are_written_with_jax_numpy():
    src = "import numpy as np\n\n\ndef f(W, x, b):\n    h = np.tanh(W @ x + b)\n    return np.sum(h * h)\n"
    text = _check(src, "f", None, [RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)])
    assert "def _matmul_grad" in text and "jnp.swapaxes" in text


def test_a_helper_that_writes_in_place_is_refused_with_its_line():
    src = "import numpy as np\n\n\ndef f(x):\n    y = x * 2.0\n    return np.max(y, axis=0).sum()\n"
    with pytest.raises(diffc.UnsupportedError) as info:
        compile_source(src, "f.py", backend="jax")
    assert info.value.lineno == 6 and "_first_mask" in str(info.value) and "shapes" in info.value.hint


def test_a_loops_running_sum_is_added_at_its_index_functionally():
    # grad_x[i] += g (in place, NumPy) is grad_x = grad_x.at[i].add(g) in JAX; labels may repeat
    src = ("import numpy as np\n\n\ndef f(x, w):\n    s = 0.0\n    for i in range(3):\n"
           "        s = s + np.sum(np.tanh(x[i] * w)) + x[i, 0] * x[[0, 0, 1], 1].sum()\n    return s\n")
    shapes = {"x": diffc.compiler.parse_shape("N,D"), "w": diffc.compiler.parse_shape("D")}
    text = _check(src, "f", shapes, [RNG.normal(size=(3, 2)), RNG.normal(size=2)])
    assert "grad_x = grad_x.at[i].add(" in text and "+=" not in text, text

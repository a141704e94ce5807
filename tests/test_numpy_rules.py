"""Every numpy rule against central differences, over scalar, vector, matrix and
broadcasting shapes, through the shape-specialised decorator and through the
CLI's shape-agnostic code. Every gradient has its variable's shape.

Each case computes ``np.sum(EXPR * r)`` with a fixed random ``r`` of the
output's shape, so every entry of the Jacobian is exercised (a plain sum
would hide a transposed or permuted gradient).
"""

import numpy as np
import pytest
from conftest import check_gradients, run_generated

import diffc
from diffc.compiler import parse_shape

RNG = np.random.default_rng(1234)


def arr(shape, low=-1.5, high=1.5):
    return RNG.uniform(low, high, size=shape) if shape != () else float(RNG.uniform(low, high))


# (expression over a, b, c; input shapes; value range)
CASES = [
    # elementwise arithmetic with broadcasting
    ("a + b", [(3,), (3,)], None), ("a - b", [(3, 2), (2,)], None), ("a * b", [(3, 2), (3, 1)], None),
    ("a / b", [(1, 2), (2, 1)], (0.5, 2.0)), ("a * b", [(), (3, 2)], None), ("a - b", [(3, 2), ()], None),
    ("a ** 2 + a ** 3", [(3, 2)], None), ("a ** b", [(3,), (3,)], (0.5, 2.0)), ("-a * b", [(2, 3), (1, 3)], None),
    ("np.add(a, b) * np.multiply(a, b)", [(2, 3), (3,)], None), ("np.subtract(a, b) / np.divide(a, 2.0)",
                                                                  [(2, 3), (2, 1)], (0.5, 2.0)),
    ("np.power(a, 3)", [(3,)], None),
    # elementwise functions
    *[(f"np.{f}(a)", [shape], None) for f in ["exp", "sin", "cos", "tanh", "arctan", "sinh", "cosh", "square",
                                                "expm1", "exp2", "negative", "abs", "absolute"]
      for shape in [(), (3,), (3, 2)]],
    *[(f"np.{f}(a)", [(3, 2)], (0.2, 0.9)) for f in ["log", "log1p", "sqrt", "log2", "log10", "reciprocal",
                                                      "arcsin", "arccos", "tan"]],
    ("np.sign(a) * b", [(3,), (3,)], None),
    # routers and selections
    ("np.maximum(a, b)", [(3, 2), (2,)], None), ("np.minimum(a, b)", [(3, 2), (3, 1)], None),
    ("np.maximum(0, a)", [(4, 3)], None), ("np.where(a > 0, a * b, b)", [(3, 2), (3, 2)], None),
    ("np.where(a > b, a, 2.0 * b)", [(3, 2), (2,)], None), ("np.clip(a, -0.5, 0.5)", [(3, 4)], None),
    ("np.clip(a, b, 1.0)", [(3, 2), (3, 2)], None),
    # linear algebra
    ("a @ b", [(3, 2), (2, 4)], None), ("a @ b", [(3, 2), (2,)], None), ("a @ b", [(2,), (2, 3)], None),
    ("a @ b", [(2,), (2,)], None), ("np.dot(a, b)", [(3, 2), (2, 4)], None), ("a.dot(b)", [(3, 2), (2,)], None),
    ("np.matmul(a, b)", [(2,), (2, 3)], None), ("np.dot(a, b)", [(), (3,)], None),
    ("np.outer(a, b)", [(3,), (4,)], None), ("np.inner(a, b)", [(3,), (3,)], None),
    ("np.inner(a, b)", [(2, 3), (4, 3)], None), ("np.linalg.norm(a)", [(3,)], None),
    ("np.linalg.norm(a)", [(3, 2)], None), ("np.trace(a)", [(3, 3)], None), ("np.trace(a @ b)", [(3, 2), (2, 3)], None),
    # reductions
    *[(f"np.{f}(a{axis})", [(3, 4)], None) for f in ["sum", "mean", "max", "min", "prod"]
      for axis in ["", ", axis=0", ", axis=1", ", axis=-1", ", axis=1, keepdims=True"]],
    ("np.sum(a, axis=(0, 1))", [(2, 3, 2)], None), ("np.mean(a, axis=(0, 2), keepdims=True)", [(2, 3, 2)], None),
    ("a.sum(axis=0) + a.mean() + a.max(axis=1).sum() + a.min()", [(3, 4)], None), ("a.prod(axis=0)", [(3, 2)], None),
    ("np.amax(a, axis=0) + np.amin(a, 1).sum()", [(3, 4)], None), ("np.sum(a)", [()], None),
    # shapes and indexing
    ("a.T @ b", [(3, 2), (3,)], None), ("np.transpose(a, (2, 0, 1))", [(2, 3, 4)], None),
    ("a.transpose()", [(2, 3)], None), ("a.reshape(6) * b", [(2, 3), (6,)], None),
    ("np.reshape(a, (3, 2))", [(2, 3)], None), ("a.reshape(3, -1)", [(2, 3)], None), ("a.ravel()", [(2, 3)], None),
    ("np.expand_dims(a, 1) * b", [(3,), (3, 2)], None), ("np.squeeze(a)", [(3, 1)], None),
    ("a[:, None] * b", [(3,), (3, 2)], None), ("a[:, np.newaxis] - b[None, :]", [(3,), (2,)], None),
    ("a[1:]", [(4, 2)], None), ("a[::-1, 1]", [(4, 2)], None), ("a[1]", [(4, 2)], None), ("a[-1, -2]", [(4, 2)], None),
    ("a[a > 0]", [(4, 3)], None), ("a[[0, 0, 2]]", [(4, 2)], None), ("a[np.arange(3), [1, 0, 1]]", [(3, 2)], None),
    ("a[..., 0]", [(2, 3, 2)], None),
    ("np.concatenate((a, b))", [(2, 3), (4, 3)], None), ("np.concatenate([a, b], axis=1)", [(2, 3), (2, 1)], None),
    ("np.concatenate((a, b, a), axis=-1)", [(2, 3), (2, 1)], None), ("np.stack((a, b))", [(3,), (3,)], None),
    ("np.stack((a, b), axis=1)", [(3, 2), (3, 2)], None), ("np.stack((a, b), axis=-1)", [(3,), (3,)], None),
    ("np.hstack((a, b))", [(3,), (2,)], None), ("np.hstack((a, b))", [(2, 3), (2, 1)], None),
    ("np.vstack((a, b))", [(3,), (3,)], None), ("np.vstack((a, b))", [(2, 3), (1, 3)], None),
    ("a.copy() * np.copy(b)", [(3,), (3,)], None),
]


def make_source(expr, n):
    names = "abc"[:n]
    return f"import numpy as np\n\n\ndef f({', '.join(names)}, r):\n    return np.sum(({expr}) * r)\n"


def inputs(shapes, value_range):
    low, high = value_range or (-1.5, 1.5)
    return [arr(s, low, high) for s in shapes]


def check(grads, user, args):
    check_gradients(tuple(grads), user, args)


@pytest.mark.parametrize("expr,shapes,value_range", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_rule(expr, shapes, value_range, make_module):
    text = make_source(expr, len(shapes))
    args = inputs(shapes, value_range)
    user = run_generated(text)["f"]
    out = eval(expr, {"np": np}, dict(zip("abc", args)))
    r = arr(np.shape(out))
    args_r = [*args, r]
    loss = lambda *a: user(*a, r)  # noqa: E731
    wrt = tuple(range(len(shapes)))
    # Through the decorator: code specialised to these shapes.
    module = make_module(text)
    specialised = diffc.grad(module.f, wrt=wrt)
    check(specialised(*args_r), loss, args)
    # Through the CLI's path: no shapes known, the same code must hold for every shape.
    try:
        generic_text = diffc.compile_source(text, wrt=wrt).text
    except diffc.ShapesNeededError:
        # A few rules need ranks: the CLI then takes --shape, here given symbolically.
        spec = {name: parse_shape(",".join(f"{name}{i}" if n != 1 else "1" for i, n in enumerate(np.shape(a))))
                for name, a in zip("abc", args)}
        generic_text = diffc.compile_source(text, wrt=wrt, shapes=spec).text
    check(run_generated(generic_text)["f_grad"](*args_r), loss, args)


def test_specialised_code_reads_like_the_lecture(make_module):
    module = make_module("import numpy as np\n\n\ndef f(W, x):\n    q = np.dot(W, x)\n    return np.sum(q ** 2)\n")
    g = diffc.grad(module.f)
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    dW, dx = g(W, x)
    np.testing.assert_allclose(dW, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(dx, [-0.112, 0.636])
    assert "grad_W = np.outer(grad_q, x)" in g.source and "grad_x = W.T @ grad_q" in g.source
    assert "_unbroadcast" not in g.source and "_matmul_grad" not in g.source


def test_bias_gradient_is_a_sum_over_the_batch(make_module):
    module = make_module("import numpy as np\n\n\ndef f(X, W, b):\n    z = X @ W + b\n    return np.sum(z * z)\n")
    g = diffc.grad(module.f)
    X, W, b = arr((5, 3)), arr((3, 2)), arr((2,))
    g(X, W, b)
    assert "grad_b = np.sum(grad_z, axis=0)" in g.source


def test_specialisations_are_cached_per_pattern(make_module):
    module = make_module("import numpy as np\n\n\ndef f(a, b):\n    return np.sum(a * b)\n")
    g = diffc.grad(module.f)
    g(arr((3, 2)), arr((2,)))
    first = g.source
    g(arr((5, 4)), arr((4,)))  # other sizes, same pattern: same code
    assert g.source == first
    g(arr((3, 2)), arr((1, 2)))
    assert "keepdims=True" in g.source


def test_nan_in_the_branch_not_taken_does_not_leak():
    text = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))\n"
    grad = run_generated(diffc.compile_source(text).text)["f_grad"]
    x = np.array([-1.0, 0.0, 4.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        g = grad(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [0.0, 0.0, 0.25])
    text = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.where(x <= 0, 0.0, np.log(x) * 2.0))\n"
    grad = run_generated(diffc.compile_source(text).text)["f_grad"]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(grad(x), [0.0, 0.0, 0.5])


def test_router_ties_go_to_the_first(make_module):
    module = make_module("import numpy as np\n\n\ndef f(a, b):\n    return np.sum(np.maximum(a, b)) + np.max(a)\n")
    g = diffc.grad(module.f)
    ga, gb = g(np.array([1.0, 2.0, 2.0]), np.array([1.0, 0.0, 3.0]))
    np.testing.assert_array_equal(ga, [1.0, 2.0, 0.0])  # tie at 0 -> a; max of a: first 2.0 at index 1
    np.testing.assert_array_equal(gb, [0.0, 0.0, 1.0])


def test_repeated_indices_add_up():
    text = "import numpy as np\n\n\ndef f(x, i):\n    return np.sum(x[i] * 2.0)\n"
    grad = run_generated(diffc.compile_source(text, wrt="x").text)["f_grad"]
    np.testing.assert_array_equal(grad(np.zeros(3), np.array([0, 0, 2, 0])), [6.0, 0.0, 2.0])

"""Constant gradients kept as numbers (diffc/passes/fills.py): ``np.full_like(t, c) * 2 * W`` is written
``c * 2 * W``. Each rewrite is checked against central differences over scalar, vector, matrix and
broadcasting shapes, through the decorator (shapes known) and the CLI's code (shapes unknown)."""

import numpy as np
import pytest
from conftest import check_gradients, run_generated

import diffc

RNG = np.random.default_rng(7)


def arr(shape):
    return RNG.uniform(0.5, 1.5, size=shape) if shape != () else float(RNG.uniform(0.5, 1.5))


CASES = [
    ("np.sum(a)", [(3, 2)]),  # the fill is the returned gradient: it must stay an array of a's shape
    ("np.mean(a)", [(4,)]),
    ("np.sum(a * a) * 0.5", [(3, 2)]),  # fill * 2 * a: a number meeting a
    ("np.sum(a * a) + np.mean(a * b)", [(3, 2), (3, 2)]),
    ("np.sum(a * b)", [(2, 3), (3,)]),  # a * b broadcasts: the fill meets b of another shape, stays an array
    ("np.sum(a - b)", [(2, 3), (3,)]),  # -fill summed back to b's shape: needs the array
    ("np.sum(a / b) + np.mean(np.log(a))", [(3, 2), (2,)]),
    ("np.sum(a * a) + np.sum(a[1:])", [(3, 2)]),  # a slice's gradient is scattered: the array
    ("np.mean(a @ b) + np.sum(b * b)", [(2, 3), (3, 4)]),  # the fill is a matmul operand
    ("np.sum(a * a) * b", [(3,), ()]),
    ("np.sum(a * a)", [()]),  # a number: nothing to keep
    ("np.sum(-a * a) + np.sum(a * a * a)", [(2, 2)]),
    # a reduction over some axes: its gradient is an array that broadcasts into the input's shape
    ("np.sum(np.sum(a * b, axis=1, keepdims=True) * c)", [(3, 2), (3, 2), (3, 1)]),
    ("np.sum(np.mean(a * a, axis=0) * b)", [(3, 2), (2,)]),
    ("np.sum(np.sum(np.exp(a), axis=-1) * b)", [(2, 3, 4), (2, 3)]),
    ("np.sum(np.sum(a * b, axis=0, keepdims=True) * c)", [(3, 2), (2,), (1, 2)]),
    ("np.sum(np.exp(a) / np.sum(np.exp(a), axis=1, keepdims=True) * b)", [(3, 4), (3, 4)]),
    ("np.sum(np.mean(a * b, axis=(0, 2)) * c)", [(2, 3, 4), (2, 3, 4), (3,)]),
]


def source(expr, n):
    return f"import numpy as np\n\n\ndef f({', '.join('abc'[:n])}):\n    return {expr}\n"


@pytest.mark.parametrize("expr,shapes", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_fill_rewrites_keep_the_gradient(expr, shapes, make_module):
    text = source(expr, len(shapes))
    args = [arr(s) for s in shapes]
    user = run_generated(text)["f"]
    g = diffc.grad(make_module(text).f, wrt=tuple(range(len(shapes))))
    grads = g(*args)
    check_gradients(tuple(grads), user, args)
    for grad, a in zip(grads, args):
        assert np.shape(grad) == np.shape(a) and np.asarray(grad).dtype == np.float64
    generic = run_generated(diffc.compile_source(text, wrt=tuple(range(len(shapes)))).text)["f_grad"]
    check_gradients(tuple(generic(*args)), user, args)


def test_a_constant_gradient_meets_the_array_as_a_number(make_module):
    module = make_module("import numpy as np\n\n\ndef f(W, X, reg):\n"
                         "    return np.sum(X @ W) + reg * np.sum(W * W)\n")
    g = diffc.grad(module.f, wrt=0)
    W, X = arr((4, 3)), arr((5, 4))
    check_gradients(g(W, X, 0.3), lambda W: module.f(W, X, 0.3), [W])
    # The matmul operand stays an array; the regulariser's gradient is a number times W.
    assert g.source.count("full_like") == 1 and "np.sum(W * W)" in g.source and "reg * 2 * W" in g.source


def test_a_returned_constant_gradient_has_its_shape_and_dtype(make_module):
    module = make_module("import numpy as np\n\n\ndef f(W, c):\n    return c * np.sum(W) + np.mean(W)\n")
    g = diffc.grad(module.f, wrt=0)
    for W in (arr((3, 4)), arr((5,)), arr((2, 1, 3))):
        dW = g(W, 2.0)
        assert dW.shape == W.shape and dW.dtype == np.float64
        np.testing.assert_allclose(dW, np.full(W.shape, 2.0 + 1.0 / W.size))


def test_a_row_sum_s_gradient_meets_the_array_as_a_column(make_module):
    module = make_module("import numpy as np\n\n\ndef f(s, r):\n    e = np.exp(s)\n"
                         "    return np.sum(e / np.sum(e, axis=1, keepdims=True) * r)\n")
    g = diffc.grad(module.f, wrt=0)
    s, r = arr((4, 3)), arr((4, 3))
    check_gradients(g(s, r), lambda s: module.f(s, r), [s])
    assert "full_like" not in g.source


def test_float32_keeps_its_dtype(make_module):
    module = make_module("import numpy as np\n\n\ndef f(W):\n    return np.sum(W * W)\n")
    W = arr((3, 2)).astype(np.float32)
    dW = diffc.grad(module.f)(W)
    assert dW.dtype == np.float32
    np.testing.assert_allclose(dW, 2 * W, rtol=1e-6)


NET = """import numpy as np


def loss(W1, b1, W2, b2, X, y, reg):
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    data_loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    return data_loss + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
"""


def hand_written(W1, b1, W2, b2, X, y, reg):
    N = X.shape[0]
    h_pre = X @ W1 + b1
    hidden = np.maximum(0, h_pre)
    scores = hidden @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dW2 = hidden.T @ dscores + reg * W2
    db2 = np.sum(dscores, axis=0)
    dhidden = dscores @ W2.T
    dhidden[h_pre <= 0] = 0
    dW1 = X.T @ dhidden + reg * W1
    db1 = np.sum(dhidden, axis=0)
    return dW1, db1, dW2, db2


def test_large_values_are_released_after_their_last_use(make_module):
    """Peak memory of the two-layer net's gradient at most 1.1x the hand-written backward pass (measured
    as the benchmark does, with tracemalloc); before the del lines and the constant fills it was 1.8x."""
    import gc
    import tracemalloc

    module = make_module(NET)
    g = diffc.grad(module.loss, wrt=(0, 1, 2, 3))
    rng = np.random.default_rng(0)
    N, D, H, C = 256, 768, 128, 10
    args = (rng.normal(size=(D, H)) * 0.01, np.zeros(H), rng.normal(size=(H, C)) * 0.01, np.zeros(C),
            rng.normal(size=(N, D)), rng.integers(0, C, size=N), 0.1)
    ours = g(*args)  # compiled before measuring
    for mine, theirs in zip(ours, hand_written(*args)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    assert "del " in g.source

    def peak(fn):
        gc.collect()
        tracemalloc.start()
        try:
            fn(*args)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(g) <= 1.1 * peak(hand_written)


def test_a_name_given_again_is_not_deleted(make_module):
    """``del`` frees a name only when no later value still needs it under that name."""
    module = make_module("import numpy as np\n\n\ndef f(A, B):\n    C = A @ B\n    C = np.tanh(C)\n"
                         "    D = C * A[:, :1]\n    C = D @ B.T\n    return np.sum(C * C) + np.sum(D)\n")
    g = diffc.grad(module.f)
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    check_gradients(tuple(g(A, B)), module.f, [A, B])


def test_a_loop_local_array_is_not_deleted_after_the_loop(make_module):
    """A value made inside a loop body is never deleted after the loop: with no iteration it has no name."""
    module = make_module("import numpy as np\n\n\ndef f(A, n):\n    s = np.sum(A * A)\n    for i in range(n):\n"
                         "        B = A @ A.T\n        s = s + np.sum(B * B)\n    return s\n")
    g = diffc.grad(module.f, wrt=0)
    A = np.random.default_rng(2).normal(size=(3, 3))
    for n in (0, 2):
        check_gradients(g(A, n), lambda A, n=n: module.f(A, n), [A])


@pytest.mark.parametrize("shapes", [[(4, 3), (3,)], [(4, 3), (4, 1)], [(2, 4, 3), (4, 3)], [(3,), ()]])
def test_a_negated_gradient_is_summed_then_negated(shapes, make_module):
    """``a - b`` with b broadcast: b's gradient is ``-np.sum(g, ...)``, not ``np.sum(-g, ...)`` (a copy of g)."""
    module = make_module("import numpy as np\n\n\ndef f(a, b):\n    return np.sum(np.tanh(a - b) * a)\n")
    g = diffc.grad(module.f)
    args = [arr(s) for s in shapes]
    check_gradients(tuple(g(*args)), module.f, args)
    if shapes[1]:
        assert "np.sum(-" not in g.source and "-np.sum(" in g.source, g.source


def test_a_loop_s_initial_value_is_not_deleted_before_the_loop(make_module):
    """Fuzz seed 9 program 170: the loop carries y4 (read through its carried group, not by a line of its own)."""
    module = make_module("import numpy as np\n\n\ndef f(a):\n    y4 = np.zeros_like(a)\n"
                         "    for i5 in range(1, len(a)):\n        y4[i5] = a[i5] * a[i5 - 1]\n"
                         "    p6 = y4\n    return np.sum(p6 * p6)\n")
    a = np.random.default_rng(4).normal(size=(3, 2))
    check_gradients(diffc.grad(module.f)(a), module.f, [a])

"""Writes in place where a person would write them (issue 12): the user's ``dW[:, j] += X[i]`` into dW
itself (no copy of the whole array per write), and a rule's fresh array taking a sum's scatter in place
(``grad_s = g * e / S; grad_s[y[i]] -= g``, not zeros, a set and an add); the emitted code, and the
gradients (and the user's own aux values) against central differences and the user's function."""

import numpy as np
from conftest import ROOT, numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape

RNG = np.random.default_rng(3)


def _compile(source, shapes, **kwargs):
    return diffc.compile_source(source, shapes={k: parse_shape(v) for k, v in shapes.items()}, **kwargs).text


def test_a_students_column_writes_go_into_dw_itself():
    source = (ROOT / "examples" / "cs231n_svm.py").read_text()
    shapes = {"W": "D,C", "X": "N,D", "y": "N:int", "reg": ""}
    text = _compile(source, shapes, functions="svm_loss_naive", wrt="W", has_aux=True)
    assert "dW[:, j] = dW[:, j] + X[i]" in text and ".copy()" not in text
    W, X, y = RNG.normal(size=(5, 3)) * 0.1, RNG.normal(size=(7, 5)), RNG.integers(0, 3, size=7)
    user = run_generated(source)["svm_loss_naive"]
    grad, dW = run_generated(text)["svm_loss_naive_grad"](W, X, y, 0.1)
    np.testing.assert_allclose(dW, user(W, X, y, 0.1)[1], rtol=1e-12)  # the user's own gradient, unchanged
    np.testing.assert_allclose(grad, numeric_gradient(lambda *a: user(*a)[0], [W, X, y, 0.1], 0), rtol=1e-6)
    np.testing.assert_allclose(grad, dW, rtol=1e-10)


def test_a_write_into_a_parameter_or_what_may_be_one_is_the_users_write():
    for body in ("    w = a if flag else a * 2.0\n    w[0] = 0.0\n    return np.sum(w * w)\n",
                 "    a[1] = 2.0 * a[1]\n    a[0] = a[0] + 1.0\n    return np.sum(a * a) * flag\n"):
        source = "import numpy as np\n\n\ndef f(a, flag):\n" + body
        user = run_generated(source)["f"]
        a = RNG.normal(size=3)
        for fast in (False, True):
            given = a.copy()
            grad = run_generated(_compile(source, {"a": "N", "flag": ""}, wrt="a", fast=fast))["f_grad"](given, 1)
            if body.startswith("    a[1]"):  # a parameter's own writes: on a copy (never more than the user's)
                np.testing.assert_array_equal(given, a)
            expected = numeric_gradient(lambda x, user=user: user(x.copy(), 1), [a], 0)
            np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def test_the_loop_cross_entropy_subtracts_in_place():
    source = (ROOT / "benchmarks" / "cases" / "softmax_loop.py").read_text()
    shapes = {"W": "D,C", "X": "N,D", "y": "N:int", "reg": ""}
    text = _compile(source, shapes, wrt="W")
    backward = text.split("# backward", 1)[1]
    assert "grad_s[y[i]] -= grad_loss" in backward and "zeros_like(s)" not in backward
    W, X, y = RNG.normal(size=(4, 3)), RNG.normal(size=(6, 4)), RNG.integers(0, 3, size=6)
    user = run_generated(source)["softmax_loop_loss"]
    np.testing.assert_allclose(run_generated(text)["softmax_loop_loss_grad"](W, X, y, 0.1),
                               numeric_gradient(user, [W, X, y, 0.1], 0), rtol=1e-6, atol=1e-9)


def test_a_fresh_part_smaller_than_the_value_is_not_written_in_place():
    # g * b has b's shape (C,), not s's (N, C): the scatter of s[i] cannot go into it
    source = ("import numpy as np\n\n\ndef f(s, b):\n    t = 0.0\n    for i in range(s.shape[0]):\n"
              "        t = t + np.sum(s * b) + s[i, 0] * 3.0\n    return t\n")
    s, b = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    user = run_generated(source)["f"]
    for fast in (False, True):
        grads = run_generated(_compile(source, {"s": "N,C", "b": "C"}, fast=fast))["f_grad"](s, b)
        for i in (0, 1):
            np.testing.assert_allclose(grads[i], numeric_gradient(user, [s, b], i), rtol=1e-6, atol=1e-9)


def test_the_fast_form_of_array_code_folds_the_seed_and_writes_float_literals(make_module):
    # the decorator's form: no 1.0 * (seed) and 1.0 - t * t beside np.tanh's float result; the same numbers
    source = "import numpy as np\n\n\ndef g(W, X, b):\n    return np.sum(np.tanh(X @ W + b))\n"
    W, X, b = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 4)), RNG.normal(size=3)
    grad = diffc.grad(make_module(source).g)
    fast = grad(W, X, b)
    text = grad.source
    assert "1.0 *" not in text and "1.0 - " in text and "1 - " not in text
    plain = run_generated(_compile(source, {"W": "D,C", "X": "N,D", "b": "C"}))["g_grad"](W, X, b)
    user = run_generated(source)["g"]
    for i in range(3):
        np.testing.assert_array_equal(fast[i], plain[i])
        np.testing.assert_allclose(fast[i], numeric_gradient(user, [W, X, b], i), rtol=1e-6, atol=1e-9)

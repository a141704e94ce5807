"""Parameters that are dicts, tuples or lists: the gradient has the same structure."""

import numpy as np
import pytest
from conftest import run_generated

import diffc

SOURCE = '''import numpy as np


def loss(params, X, y):
    W1, b1 = params["W1"], params["b1"]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ params["W2"] + params["b2"]
    N = X.shape[0]
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    return -np.sum(np.log(probs[np.arange(N), y])) / N


def pair(ab, x):
    a, b = ab
    return np.sum(a * x + b * b)


def loop_over_parts(ws, x):
    total = 0.0
    for k in range(3):
        if k > 0:
            total = total + ws["scale"] * x ** k
        else:
            total = total + ws["shift"]
    return total
'''
RNG = np.random.default_rng(5)
PARAMS = {"W1": RNG.normal(size=(3, 4)), "b1": RNG.normal(size=4), "W2": RNG.normal(size=(4, 2)),
          "b2": RNG.normal(size=2)}
X, Y = RNG.normal(size=(5, 3)), RNG.integers(0, 2, size=5)


@pytest.fixture
def module(make_module):
    return make_module(SOURCE)


def test_dict_of_arrays(module):
    report = diffc.check_grad(module.loss, PARAMS, X, Y, wrt="params")
    assert report.ok
    grads = diffc.grad(module.loss, wrt="params")(PARAMS, X, Y)
    assert list(grads) == ["W1", "b1", "W2", "b2"]
    assert all(grads[k].shape == PARAMS[k].shape for k in PARAMS)
    generated = run_generated(diffc.compile_source(SOURCE, functions="loss", wrt="params").text)["loss_grad"]
    for key, value in generated(PARAMS, X, Y).items():
        np.testing.assert_allclose(value, grads[key], rtol=1e-12)


def test_tuple_unpacking(module):
    ab = (RNG.normal(size=3), RNG.normal(size=3))
    assert diffc.check_grad(module.pair, ab, 0.7).ok
    grad_ab, _ = diffc.grad(module.pair)(ab, 0.7)
    assert isinstance(grad_ab, tuple) and len(grad_ab) == 2


def test_parts_inside_loops_and_branches(module):
    assert diffc.check_grad(module.loop_over_parts, {"scale": 1.5, "shift": -0.5}, 0.8).ok


def test_the_gradient_dict_reads_like_cs231n():
    text = diffc.compile_source(SOURCE, functions="loss", wrt="params",
                                shapes={"params['W1']": diffc.compiler.parse_shape("D,H"),
                                        "params['b1']": diffc.compiler.parse_shape("H"),
                                        "params['W2']": diffc.compiler.parse_shape("H,C"),
                                        "params['b2']": diffc.compiler.parse_shape("C"),
                                        "X": diffc.compiler.parse_shape("N,D"),
                                        "y": diffc.compiler.parse_shape("N:int")}).text
    assert "grad_params = {'W1': grad_W1, 'b1': grad_b1, 'W2': grad_params_W2, 'b2':" in text
    assert "_unbroadcast" not in text and "grad_b1 = np.sum(grad_t1, axis=0)" in text

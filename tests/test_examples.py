"""The examples: golden generated files, their gradients against finite
differences (through the committed file and through the decorator), and
training the two-layer net."""

import importlib
import io
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc
from diffc.cli import main as diffc_main

sys.path.insert(0, str(ROOT / "examples"))
regenerate = importlib.import_module("regenerate")


@pytest.mark.parametrize("name", list(regenerate.EXAMPLES))
def test_golden_file(name):
    out = io.StringIO()
    with redirect_stdout(out):
        assert diffc_main([str(ROOT / "examples" / name), *regenerate.EXAMPLES[name], "--stdout"]) == 0
    golden = ROOT / "examples" / name.replace(".py", "_grad.py")
    assert out.getvalue() == golden.read_text(), "regenerate with: python examples/regenerate.py"


def generated(name, function):
    return run_generated((ROOT / "examples" / f"{name}_grad.py").read_text())[f"{function}_grad"]


def test_lecture_vectorized_values():
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    dW, dx = generated("lecture_vectorized", "wx_norm")(W, x)
    np.testing.assert_allclose(dW, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(dx, [-0.112, 0.636])
    text = (ROOT / "examples" / "lecture_vectorized_grad.py").read_text()
    assert "grad_W = np.outer(grad_q, x)" in text and "grad_x = W.T @ grad_q" in text


RNG = np.random.default_rng(7)
N, D, H, C = 6, 4, 5, 3
X, Y = RNG.normal(size=(N, D)), RNG.integers(0, C, size=N)


NETS = [
    ("svm", "svm_loss", [RNG.normal(size=(D, C)) * 0.5, X, Y, 0.1], 1),
    ("softmax", "softmax_loss", [RNG.normal(size=(D, C)) * 0.5, X, Y, 0.1], 1),
    ("two_layer_net", "two_layer_loss", [RNG.normal(size=(D, H)), RNG.normal(size=H), RNG.normal(size=(H, C)),
                                         RNG.normal(size=C), X, Y, 0.05], 4),
    ("three_layer_net", "three_layer_loss", [RNG.normal(size=(D, H)), RNG.normal(size=H), RNG.normal(size=(H, 4)),
                                             RNG.normal(size=4), RNG.normal(size=(4, C)), RNG.normal(size=C), X, Y], 6),
]


@pytest.mark.parametrize("module,function,args,n_wrt", NETS, ids=[n[0] for n in NETS])
def test_network_gradients(module, function, args, n_wrt):
    user = getattr(importlib.import_module(module), function)
    from_file = generated(module, function)(*args)
    from_file = from_file if isinstance(from_file, tuple) else (from_file,)
    from_decorator = diffc.grad(user, wrt=tuple(range(n_wrt)))(*args)
    for i in range(n_wrt):
        expected = numeric_gradient(user, list(args), i)
        assert np.shape(from_file[i]) == np.shape(args[i])
        np.testing.assert_allclose(from_file[i], expected, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(from_decorator[i], expected, rtol=1e-5, atol=1e-8)
    diffc.check_grad(user, *args, wrt=tuple(range(n_wrt)))


def test_training_reaches_95_percent():
    train = importlib.import_module("train_two_layer")
    _, accuracy = train.train(log_every=0)
    assert accuracy >= 0.95

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


@pytest.mark.parametrize("name", list(regenerate.FAST))
def test_fast_golden_file(name):
    """The fast form (what the decorator runs) of each example in regenerate.FAST, pinned too."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert diffc_main([str(ROOT / "examples" / name), *regenerate.FAST[name], "--fast", "--stdout"]) == 0
    golden = ROOT / "examples" / name.replace(".py", "_fast_grad.py")
    assert out.getvalue() == golden.read_text(), "regenerate with: python examples/regenerate.py"


@pytest.mark.parametrize("function,args", [("f", [-2.0, 5.0, -4.0]), ("f", [0.3, -1.7, 2.5]),
                                           ("neuron", [2.0, -1.0, -3.0, -2.0, -3.0]),
                                           ("neuron", [0.4, 1.3, -0.8, 0.2, 0.1])])
def test_lecture_both_forms(function, args):
    """The lecture's form and the fast form give the same numbers, and both match central differences;
    the fast form has no seed line, no copy lines and float literals; the decorator runs it."""
    user = getattr(importlib.import_module("lecture"), function)
    fast_text = (ROOT / "examples" / "lecture_fast_grad.py").read_text()
    fast = run_generated(fast_text)[f"{function}_grad"](*args)
    plain = generated("lecture", function)(*args)
    assert fast == plain
    for i in range(len(args)):
        np.testing.assert_allclose(fast[i], numeric_gradient(user, list(args), i), rtol=1e-6, atol=1e-8)
    assert "grad_out = 1.0" not in fast_text and "1 - L" not in fast_text and "1.0 - L" in fast_text
    assert "grad_x = grad_q" not in fast_text
    decorated = diffc.grad(user)
    assert decorated(*args) == fast
    assert decorated.source.split("\n\n\n")[-1].strip() in fast_text


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


def test_control_flow_examples(make_module):
    module = importlib.import_module("control_flow")
    lecture = generated("lecture", "neuron")(2.0, -1.0, -3.0, -2.0, -3.0)
    assert generated("control_flow", "neuron")(2.0, -1.0, -3.0, -2.0, -3.0) == pytest.approx(lecture, rel=1e-12)
    for name, args in [("fixed_point", [0.5, 4]), ("piecewise", [0.7, 1.3]), ("piecewise", [-0.4, 0.8]),
                       ("grow", [1.0])]:
        user = getattr(module, name)
        grads = generated("control_flow", name)(*args)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for i, arg in enumerate(args):
            if isinstance(arg, float):
                assert grads[i] == pytest.approx(float(numeric_gradient(user, list(args), i)), rel=1e-6)
    text = (ROOT / "examples" / "control_flow_grad.py").read_text()
    assert "for _ in reversed(range(n)):" in text and "y = saved_y.pop()" in text and "if took_if:" in text


def test_numpy_loop_examples():
    module = importlib.import_module("loops_numpy")
    rng = np.random.default_rng(2)
    args = [rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(4, 2)), 4]
    grads = generated("loops_numpy", "rnn")(*args)
    for i in range(4):
        np.testing.assert_allclose(grads[i], numeric_gradient(module.rnn, args, i), rtol=1e-6, atol=1e-9)
    params = {"W1": rng.normal(size=(2, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 3)),
              "b2": rng.normal(size=3)}
    grad_params = generated("loops_numpy", "two_layer")(params, X[:, :2], Y)[0]
    assert diffc.check_grad(module.two_layer, params, X[:, :2], Y, wrt="params").ok
    expected = diffc.grad(module.two_layer, wrt="params")(params, X[:, :2], Y)
    for key in params:
        np.testing.assert_allclose(grad_params[key], expected[key], rtol=1e-10)


def test_readme_shows_the_current_loop_code():
    text = (ROOT / "examples" / "control_flow_grad.py").read_text()
    fixed = text[text.index("def fixed_point_grad"):text.index("\n\n\ndef piecewise_grad")]
    assert fixed in (ROOT / "README.md").read_text()

"""Methods (issue 11): CS231n's TwoLayerNet.loss reading self.params, differentiated with respect to
the parameters it reads from self, through the decorator and the CLI, against central differences."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc

# Assignment 1 (classifiers/neural_net.py), as students write it: the hand-written grads beside the loss.
NET1 = textwrap.dedent("""
    from builtins import range
    from builtins import object
    import numpy as np


    class TwoLayerNet(object):
        def __init__(self, input_size, hidden_size, output_size, std=1e-4):
            self.params = {}
            self.params['W1'] = std * np.random.randn(input_size, hidden_size)
            self.params['b1'] = np.zeros(hidden_size)
            self.params['W2'] = std * np.random.randn(hidden_size, output_size)
            self.params['b2'] = np.zeros(output_size)

        def loss(self, X, y=None, reg=0.0):
            # Unpack variables from the params dictionary
            W1, b1 = self.params['W1'], self.params['b1']
            W2, b2 = self.params['W2'], self.params['b2']
            N, D = X.shape

            # Compute the forward pass
            scores = None
            h1 = np.maximum(0, X.dot(W1) + b1)
            scores = h1.dot(W2) + b2

            # If the targets are not given then jump out, we're done
            if y is None:
                return scores

            # Compute the loss
            loss = None
            shifted = scores - np.max(scores, axis=1, keepdims=True)
            exp_scores = np.exp(shifted)
            probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
            loss = -np.sum(np.log(probs[range(N), y])) / N
            loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

            # Backward pass: compute gradients
            grads = {}
            dscores = probs.copy()
            dscores[range(N), y] -= 1
            dscores /= N
            grads['W2'] = h1.T.dot(dscores) + 2 * reg * W2
            grads['b2'] = np.sum(dscores, axis=0)
            dh1 = dscores.dot(W2.T)
            dh1[h1 <= 0] = 0
            grads['W1'] = X.T.dot(dh1) + 2 * reg * W1
            grads['b1'] = np.sum(dh1, axis=0)

            return loss, grads
""")

# Assignment 2 (fc_net.py): layers returning (out, cache), and the regularisation in self.reg.
NET2 = textwrap.dedent("""
    import numpy as np


    def affine_forward(x, w, b):
        out = x.reshape(x.shape[0], -1).dot(w) + b
        cache = (x, w, b)
        return out, cache


    def relu_forward(x):
        out = np.maximum(0, x)
        cache = x
        return out, cache


    def softmax_loss(x, y):
        shifted_logits = x - np.max(x, axis=1, keepdims=True)
        Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
        log_probs = shifted_logits - np.log(Z)
        probs = np.exp(log_probs)
        N = x.shape[0]
        loss = -np.sum(log_probs[np.arange(N), y]) / N
        dx = probs.copy()
        dx[np.arange(N), y] -= 1
        dx /= N
        return loss, dx


    class TwoLayerNet(object):
        def __init__(self, input_dim=6, hidden_dim=5, num_classes=3, weight_scale=1e-1, reg=0.0):
            self.params = {}
            self.reg = reg
            self.params['W1'] = weight_scale * np.random.randn(input_dim, hidden_dim)
            self.params['b1'] = np.zeros(hidden_dim)
            self.params['W2'] = weight_scale * np.random.randn(hidden_dim, num_classes)
            self.params['b2'] = np.zeros(num_classes)

        def loss(self, X, y):
            W1, b1 = self.params['W1'], self.params['b1']
            W2, b2 = self.params['W2'], self.params['b2']
            h1, cache1 = affine_forward(X, W1, b1)
            a1, cache_relu = relu_forward(h1)
            scores, cache2 = affine_forward(a1, W2, b2)
            loss, dscores = softmax_loss(scores, y)
            loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
            return loss, dscores
""")

rng = np.random.default_rng(3)
X, Y = rng.normal(size=(6, 4)), np.array([0, 1, 2, 2, 1, 0])


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))


def numeric_params(loss, params):
    """Central differences of ``loss()`` in each array of the dict ``params`` (changed in place, restored)."""
    grads = {}
    for key, value in params.items():
        def at(v, key=key, old=value):
            params[key] = v
            try:
                return loss()
            finally:
                params[key] = old
        grads[key] = numeric_gradient(at, [value], 0)
    return grads


def test_two_layer_net_loss_method_through_the_decorator(make_module):
    module = make_module(NET1)
    np.random.seed(0)
    net = module.TwoLayerNet(4, 5, 3, std=1e-1)
    grads, student = diffc.grad(net.loss, wrt="params", has_aux=True)(X, Y, reg=0.1)
    numeric = numeric_params(lambda: net.loss(X, Y, reg=0.1)[0], net.params)
    assert list(grads) == ["W1", "b1", "W2", "b2"]  # CS231n's grads: one entry per parameter
    for key in net.params:
        assert grads[key].shape == net.params[key].shape
        assert rel_error(grads[key], numeric[key]) < 1e-6
        assert rel_error(grads[key], student[key]) < 1e-8  # the student's hand-written gradient agrees
    with pytest.raises(ValueError, match=r"y is None: this path returns scores, not \(value, aux...\)"):
        diffc.grad(net.loss, wrt="params", has_aux=True)(X)  # no labels: no loss to differentiate
    # The attributes are read when the gradient is called: new weights, new gradient.
    g = diffc.grad(net.loss, wrt="params", has_aux=True)
    net.params["W2"] = net.params["W2"] * 2.0
    again, _ = g(X, Y, reg=0.1)
    numeric = numeric_params(lambda: net.loss(X, Y, reg=0.1)[0], net.params)
    assert rel_error(again["W2"], numeric["W2"]) < 1e-6


def test_a_method_reading_another_attribute_takes_it_as_a_constant(make_module):
    module = make_module(NET2)
    np.random.seed(1)
    net = module.TwoLayerNet(input_dim=4, reg=0.3)
    grads, _ = diffc.grad(net.loss, wrt="params", has_aux=True)(X, Y)
    numeric = numeric_params(lambda: net.loss(X, Y)[0], net.params)
    for key in net.params:
        assert rel_error(grads[key], numeric[key]) < 1e-6
    (value, _), grads2 = diffc.value_and_grad(net.loss, wrt="params", has_aux=True)(X, Y)
    assert value == pytest.approx(net.loss(X, Y)[0]) and rel_error(grads2["W1"], numeric["W1"]) < 1e-6


@pytest.mark.parametrize("source,extra", [(NET1, [0.1]), (NET2, [])])
def test_two_layer_net_loss_method_through_the_cli(tmp_path, make_module, source, extra):
    path = tmp_path / "model.py"
    path.write_text(source)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "--function", "TwoLayerNet.loss",
                             "--wrt", "params", "--has-aux", "--stdout"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    module = make_module(source)
    np.random.seed(2)
    net = module.TwoLayerNet(4, 5, 3, 1e-1) if extra else module.TwoLayerNet(input_dim=4, reg=0.2)
    grad = run_generated(result.stdout)["TwoLayerNet_loss_grad"]
    attributes = [net.params] if extra else [net.params, net.reg]  # self.params, then self.reg: first read first
    signature = "params, X, y=None, reg=0.0" if extra else "params, reg, X, y"
    assert f"def TwoLayerNet_loss_grad({signature}):" in result.stdout
    grads, _ = grad(*attributes, X, Y, *extra)
    numeric = numeric_params(lambda: net.loss(X, Y, *extra)[0], net.params)
    for key in net.params:
        assert rel_error(grads[key], numeric[key]) < 1e-6


REFUSED = {
    "write": ("self.cache = h\n", "'self.cache' is assigned here"),
    "write_item": ("self.params['W'] = W * 2.0\n", "writes into self.params"),
    "augmented": ("self.count += 1\n", "'self.count' is assigned here"),
    "method_call": ("h = self.forward(h)\n", r"'self.forward\(...\)' calls a method"),
    "bare_self": ("h = helper(self, h)\n", "'self' is used here other than by reading one of its attributes"),
    "nested": ("h = h * self.config.scale\n", "reads an attribute of an attribute of self"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_a_method_does_to_self_beyond_reading_is_refused_at_its_line(make_module, case):
    line, message = REFUSED[case]
    module = make_module(f"""
        import numpy as np


        def helper(model, h):
            return h


        class Model:
            def __init__(self):
                self.params = {{'W': np.ones(3)}}

            def loss(self, x):
                W = self.params['W']
                h = W * x
                {line.strip()}
                return np.sum(h * h)
    """)
    with pytest.raises(diffc.DiffcError, match=message) as info:
        diffc.grad(module.Model().loss, wrt="params")
    assert info.value.lineno == 16 and info.value.hint


def test_a_method_needs_wrt_naming_an_attribute_it_reads(make_module):
    module = make_module("""
        import numpy as np


        class Model:
            params = {'W': np.ones(3)}

            def loss(self, x, scale):
                return np.sum(self.params['W'] * x) * scale
    """)
    model = module.Model()
    with pytest.raises(diffc.SelectionError, match="is a method bound to 'Model'") as info:
        diffc.grad(model.loss)
    assert "wrt='params'" in info.value.hint
    with pytest.raises(diffc.SelectionError, match="'weights' is not one of them") as info:
        diffc.grad(model.loss, wrt="weights")
    assert "it reads: self.params" in info.value.hint
    grads, g_scale = diffc.grad(model.loss, wrt=("params", "scale"))(np.arange(3.0), 2.0)
    assert np.allclose(grads["W"], 2.0 * np.arange(3.0)) and g_scale == pytest.approx(3.0)


def test_the_cli_names_what_is_wrong_with_a_method(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(NET1)

    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), *args, "--stdout"],
                              capture_output=True, text=True, timeout=60)

    assert "no top-level class named 'Net'" in run("-f", "Net.loss", "--wrt", "params").stderr
    assert "class 'TwoLayerNet' has no method 'forward'" in run("-f", "TwoLayerNet.forward").stderr
    result = run("-f", "TwoLayerNet.loss")
    assert result.returncode == 1 and "name one with wrt" in result.stderr and "model.py:15" in result.stderr


def test_a_method_with_a_name_equal_to_an_attribute_it_reads_is_refused(make_module):
    module = make_module("""
        import numpy as np


        class Model:
            params = {'W': np.ones(3)}

            def loss(self, x):
                params = self.params['W'] * 2.0
                return np.sum(params * x)
    """)
    with pytest.raises(diffc.UnsupportedError, match="reads self.params and also has a name 'params'") as info:
        diffc.grad(module.Model().loss, wrt="params")
    assert "rename" in info.value.hint

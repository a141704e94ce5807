"""``del`` of names at the top level of a function unbinds them (generated code frees large arrays so,
and a generated file can be read by diffc again); a later read is refused as Python raises; ``del`` of
an item, or inside a branch or loop, is refused with its line."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, check_gradients, run_generated

import diffc

SOURCE = '''
import numpy as np

def f(W, x):
    h = W @ x
    y = np.tanh(h)
    del h
    return np.sum(y ** 2)

def read_after(W, x):
    h = W @ x
    del h
    return np.sum(h)

def in_branch(W, x):
    h = W @ x
    if np.sum(x) > 0:
        del h
    return np.sum(W)

def an_item(W, x):
    h = W @ x
    del h[0]
    return np.sum(h)
'''


def test_del_of_names_unbinds_them(make_module):
    mod = make_module(SOURCE)
    W, x = np.random.default_rng(0).normal(size=(2, 3)), np.arange(3.0)
    check_gradients(diffc.grad(mod.f)(W, x), mod.f, (W, x))
    with pytest.raises(diffc.NameResolutionError, match="'h' is used before it is assigned"):
        diffc.grad(mod.read_after)
    for name in ("in_branch", "an_item"):
        with pytest.raises(diffc.UnsupportedError, match="'del' is supported only for plain names") as info:
            diffc.grad(getattr(mod, name))
        assert ".py:" in str(info.value)


def test_a_generated_file_with_del_lines_is_read_again(tmp_path):
    """The CLI's shaped output frees arrays with del; its forward-mode derivative (a Hessian-vector
    product of the loss, by forward over reverse) reads it back and matches central differences."""
    src = tmp_path / "net.py"
    src.write_text("import numpy as np\n\n\ndef loss(W1, W2, X):\n    h = np.maximum(X @ W1, 0.0)\n"
                   "    s = h @ W2\n    return np.sum(s ** 2)\n")
    shapes = ["--shape", "W1=6,4", "--shape", "W2=4,3", "--shape", "X=5,6"]
    subprocess.run([sys.executable, str(ROOT / "cli.py"), str(src), *shapes], check=True, capture_output=True)
    grad_text = (tmp_path / "net_grad.py").read_text()
    assert "\n    del " in grad_text
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(tmp_path / "net_grad.py"), "--mode", "forward",
                          "--stdout"], check=True, capture_output=True, text=True).stdout
    jvp = run_generated(out)["loss_grad_jvp"]
    grad = run_generated(grad_text)["loss_grad"]
    rng = np.random.default_rng(1)
    args = [rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=(5, 6))]
    dots = [rng.normal(size=a.shape) for a in args]
    _, tangent = jvp(*args, *dots)
    h = 1e-6
    plus = grad(*[a + h * d for a, d in zip(args, dots)])
    minus = grad(*[a - h * d for a, d in zip(args, dots)])
    for t, p, m in zip(tangent, plus, minus):
        np.testing.assert_allclose(t, (p - m) / (2 * h), rtol=1e-5, atol=1e-7)

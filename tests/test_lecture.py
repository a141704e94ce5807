"""The lecture's worked examples reproduce exactly, and the golden file is pinned."""

import math

import pytest
from conftest import ROOT, run_generated

import diffc

LECTURE = ROOT / "examples" / "lecture.py"
GOLDEN = ROOT / "examples" / "lecture_grad.py"


@pytest.fixture(scope="module")
def generated():
    return run_generated(diffc.compile_source(LECTURE.read_text(), str(LECTURE)).text)


def test_add_then_multiply(generated):
    # f = (x + y) * z at (-2, 5, -4): q = 3, df/dx = df/dy = z = -4, df/dz = q = 3
    assert generated["f_grad"](-2.0, 5.0, -4.0) == (-4.0, -4.0, 3.0)


def test_sigmoid_neuron(generated):
    grads = generated["neuron_grad"](2.0, -1.0, -3.0, -2.0, -3.0)
    assert [round(g, 2) for g in grads] == [-0.20, 0.39, -0.39, -0.59, 0.20]


def test_sigmoid_gate_local_gradient(generated):
    # The whole sigmoid as one gate: at output 0.73 its local gradient (1 - s) * s is 0.20.
    s = 1.0 / (1.0 + math.exp(-1.0))
    assert round(s, 2) == 0.73
    dw2 = generated["neuron_grad"](2.0, -1.0, -3.0, -2.0, -3.0)[4]  # s3 = 1, ds/dw2 = ds/ds3
    assert dw2 == pytest.approx((1 - s) * s, rel=1e-12)
    assert round(dw2, 2) == 0.20


def test_golden_file_matches():
    text = diffc.compile_source(LECTURE.read_text(), str(LECTURE)).text
    assert text == GOLDEN.read_text(), "regenerate with: python cli.py examples/lecture.py"


def test_golden_reads_like_the_lecture():
    text = GOLDEN.read_text()
    for line in ["grad_L = 1.0", "grad_s2 = grad_s3", "grad_w2 = grad_s3", "grad_w0 = grad_s0 * x0",
                 "return grad_w0, grad_x0, grad_w1, grad_x1, grad_w2", "q = x + y", "grad_z = grad_out * q"]:
        assert f"    {line}\n" in text
    assert "diffc" not in text.split("\n", 1)[1]  # nothing of diffc past the header comment


def test_decorator_gives_the_same_numbers(make_module):
    module = make_module(LECTURE.read_text())
    assert diffc.grad(module.f)(-2.0, 5.0, -4.0) == (-4.0, -4.0, 3.0)
    neuron = diffc.grad(module.neuron)(2.0, -1.0, -3.0, -2.0, -3.0)
    from_file = run_generated(GOLDEN.read_text())["neuron_grad"](2.0, -1.0, -3.0, -2.0, -3.0)
    assert neuron == from_file
    diffc.check_grad(module.neuron, 2.0, -1.0, -3.0, -2.0, -3.0)


def test_readme_shows_the_current_generated_code():
    readme = (ROOT / "README.md").read_text()
    assert GOLDEN.read_text() in readme
    assert "python -m pip install \".[test]\" && python -m pytest" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pip install ".[test]" && python -m pytest' in ci

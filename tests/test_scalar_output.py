"""A gradient's output is a number (checked by the generated code before its backward pass when shapes
cannot prove it), and so is every operand of an elementwise or broadcasting operation whose result is a
number: without any shapes, ``nll + 0.5 * lam * np.dot(w, w)`` needs no ``_unbroadcast``."""

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc

LOGISTIC = '''
import numpy as np


def logistic_loss(w, X, y, lam):
    z = X @ w
    p = 1.0 / (1.0 + np.exp(-z))
    nll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return nll + 0.5 * lam * np.dot(w, w)


def scaled(a, b):
    return np.exp(a) * b
'''


def test_terms_of_a_scalar_output_are_numbers_without_shapes():
    text = diffc.compile_source(LOGISTIC, "logistic.py").text
    body = text[text.index("def logistic_loss_grad"):]
    backward = body[body.index("# backward"):body.index("grad_out = 1.0") + 200].splitlines()[1:6]
    assert backward[1:] == ["    grad_nll = grad_out", "    grad_t8 = grad_out * t9", "    grad_t9 = grad_out * t8",
                            "    grad_lam = grad_t8 * 0.5"], backward
    rng = np.random.default_rng(3)
    args = [rng.normal(size=3), rng.normal(size=(5, 3)), (rng.random(5) > 0.5).astype(float), 0.3]
    grads = run_generated(text)["logistic_loss_grad"](*args)
    f = run_generated(LOGISTIC)["logistic_loss"]
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, numeric_gradient(f, args, i), rtol=1e-6, atol=1e-9)


def test_a_non_scalar_output_still_fails_before_the_backward_pass():
    """``np.exp(a) * b`` is a number only if a and b are: the backward lines rely on it, so arrays must
    still be stopped by the generated check, never given a gradient of the wrong shape."""
    text = diffc.compile_source(LOGISTIC, "logistic.py", functions=["scaled"]).text
    assert "_unbroadcast" not in text
    grad = run_generated(text)["scaled_grad"]
    assert grad(0.5, 2.0) == pytest.approx((2.0 * np.exp(0.5), np.exp(0.5)))
    with pytest.raises(ValueError, match="needs a scalar output"):
        grad(np.ones(3), 2.0)
    with pytest.raises(ValueError, match="needs a scalar output"):
        grad(0.5, np.ones(3))


def test_numbers_a_rule_cannot_take_keep_the_shapes_as_they_were():
    """Fuzz 5150:2388: for the output ``np.where(s, s, a)`` to be a number, ``a`` would be one, but
    ``np.transpose(a, (2, 0, 1))`` needs three axes: such a function never returns a number. The
    inference keeps what it knew (no ZeroDivisionError from the rule), and the array is refused."""
    src = ("import numpy as np\n\n\ndef f(a):\n    for w in [np.sum(np.transpose(a, (2, 0, 1)))]:\n"
           "        s = w\n    return np.where(s, s, a)\n")
    text = diffc.compile_source(src, "f.py").text
    with pytest.raises(ValueError, match="needs a scalar output"):
        run_generated(text)["f_grad"](np.ones((2, 2, 3)))
    with pytest.raises(diffc.UnsupportedError, match="returns an array of shape"):
        diffc.compile_source(src, "f.py", shapes={"a": (2, 2, 3)})

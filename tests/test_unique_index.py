"""Scatters with an index proven unique (diffc/passes/unique.py) are written ``t[index] = g`` rather than
``np.add.at``; where an element may be selected twice, ``np.add.at`` stays (a plain assignment would
keep only one of the repeated gradients)."""

import numpy as np
import pytest
from conftest import check_gradients

import diffc

CASES = [
    # (expression, a's shape, y, unique?)
    ("a[np.arange(a.shape[0]), y]", (4, 3), [2, 0, 2, 1], True),
    ("a[np.arange(y.shape[0]), y] * a[np.arange(y.shape[0]), y]", (4, 3), [0, 0, 0, 0], True),
    ("a[y, np.arange(a.shape[1])]", (4, 3), [1, 1, 3], True),  # the arange in the second place
    ("a[np.arange(a.shape[0]), y, 1]", (4, 3, 2), [2, 0, 2, 1], True),  # with an integer
    ("a[np.arange(y.shape[0]), :, y]", (4, 3, 2), [1, 0, 0, 1], True),  # with a slice
    ("a[np.arange(y.shape[0]), y]", (4, 3), [2, 2], True),  # fewer rows than the array has
    ("a[np.arange(4), y]", (4, 3), [2, 0, 2, 1], False),  # a literal length is not compared with y's
    ("a[y, y]", (4, 4), [1, 1, 2], False),  # repeats: add.at
    ("a[y]", (4, 3), [0, 0, 3], False),
    ("a[np.arange(3)[::-1], y]", (4, 3), [0, 1, 0], False),  # not np.arange itself: not proven
    ("a[np.arange(1, 4), y]", (4, 3), [0, 1, 0], False),  # two arguments: not proven here
]


@pytest.mark.parametrize("expr,shape,y,unique", CASES, ids=[c[0] for c in CASES])
def test_unique_index(expr, shape, y, unique, make_module):
    module = make_module(f"import numpy as np\n\n\ndef f(a, y, r):\n    return np.sum(({expr}) * r)\n")
    rng = np.random.default_rng(5)
    a, y = rng.normal(size=shape), np.array(y)
    r = rng.normal(size=np.shape(eval(expr, {"np": np}, {"a": a, "y": y})))
    g = diffc.grad(module.f, wrt=0)
    check_gradients(g(a, y, r), lambda a: module.f(a, y, r), [a])
    assert ("np.add.at" not in g.source) == unique, g.source
    generic = diffc.compile_source(module.__loader__.get_source(module.__name__), wrt=0)  # no shapes: add.at
    assert "np.add.at" in generic.text


def test_two_layer_net_assigns_the_correct_class_gradient():
    text = open("examples/two_layer_net_grad.py").read()
    assert "np.add.at" not in text and "t6[t2, y] = t5" in text  # probs - onehot: the fused gate (ad/fuse_softmax.py)

"""Subscript assignment on arrays, as CS231n code writes it: the gradient is right,
values the backward pass needs survive the write, and aliasing is refused."""

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc

RNG = np.random.default_rng(3)

CASES = [
    # body (in a, b, r), shapes of a and b
    ("m = a * 1.0\n    m[1] = 0.0\n    return np.sum(m * r)", (4, 3), (3,)),
    ("m = a * 2.0\n    m[1] += b\n    return np.sum(m * r)", (4, 3), (3,)),
    ("m = a * 2.0\n    m[:, 0] = b[0] * 3.0\n    return np.sum(m * r)", (4, 3), (3,)),
    ("h = a * b\n    h[h < 0] = 0\n    return np.sum(h * r)", (4, 3), (3,)),
    ("h = a - 0.1\n    h[np.arange(4), [0, 2, 1, 0]] = b[1]\n    return np.sum(h * r)", (4, 3), (3,)),
    ("m = a * b\n    s = np.sum(m * m)\n    m[0] = 0.0\n    return s + np.sum(m * r)", (4, 3), (3,)),
    ("m = np.maximum(0, a)\n    m[[0, 2]] *= b\n    return np.sum(m * r)", (4, 3), (3,)),
    ("a[0] = 1.0\n    return np.sum(a * b * r)", (4, 3), (3,)),
    # A repeated index: NumPy keeps the last write, so the earlier value gets no gradient.
    ("m = a * 1.0\n    m[[0, 0, 2]] = b\n    return np.sum(m * r)", (4,), (3,)),
    ("m = a * 1.0\n    m[[1, 1], [0, 0]] = b * 2.0\n    return np.sum(m * r)", (3, 2), (2,)),
]


@pytest.mark.parametrize("body,shape_a,shape_b", CASES, ids=[c[0].split("\n")[1].strip() for c in CASES])
def test_setitem_gradients(body, shape_a, shape_b, make_module):
    text = f"import numpy as np\n\n\ndef f(a, b, r):\n    {body}\n"
    a, b, r = RNG.normal(size=shape_a), RNG.normal(size=shape_b), RNG.normal(size=shape_a)
    user = run_generated(text)["f"]
    loss = lambda a_, b_: user(a_.copy(), b_.copy(), r)  # noqa: E731  (the user's f may write into a)
    expected = [numeric_gradient(loss, [a, b], i) for i in range(2)]
    module = make_module(text)
    for grad in (diffc.grad(module.f, wrt=("a", "b")), run_generated(diffc.compile_source(text, wrt=("a", "b"))
                                                                       .text)["f_grad"]):
        got = grad(a.copy(), b.copy(), r)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-9)


def test_old_value_needed_by_backward_is_copied_not_clobbered():
    text = ("import numpy as np\n\n\ndef f(a):\n    m = a * 2.0\n    s = np.sum(m * m)\n"
            "    m[0] = 0.0\n    return s + np.sum(m)\n")
    out = diffc.compile_source(text).text
    assert "m_1 = m.copy()" in out and "m_1[0] = 0.0" in out


def test_write_in_place_when_nothing_needs_the_old_value():
    text = "import numpy as np\n\n\ndef f(a):\n    h = a * 2.0\n    h[h < 0] = 0\n    return np.sum(h)\n"
    out = diffc.compile_source(text).text
    assert "h[t1] = 0" in out and ".copy()" not in out.split("# backward")[0]


@pytest.mark.parametrize("body,message", [
    ("v = a\n    v[0] = 1.0\n    return np.sum(a)", "'v' is changed in place while 'a' still refers"),
    ("v = a[0]\n    a[1] = 2.0\n    return np.sum(v)", "'a' is changed in place while 'v' still refers"),
    ("v = a.T\n    v += 1.0\n    return np.sum(a)", "'v' is changed in place while 'a' still refers"),
    ("s = 0.0\n    for i in range(2):\n        v = a * 1.0\n        w = v\n        v[0] = 1.0\n"
     "        s = s + np.sum(w)\n    return s", "'v' is changed in place while 'w' still refers"),
])
def test_aliasing_is_refused(body, message):
    with pytest.raises(diffc.UnsupportedError, match=message) as info:
        diffc.compile_source(f"import numpy as np\n\n\ndef f(a):\n    {body}\n", "alias.py")
    written = message.split("'")[1]  # the error points at the line that writes into it
    assert info.value.source_line.strip().startswith((f"{written}[", f"{written} +="))
    assert "copy" in info.value.hint

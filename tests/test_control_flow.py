"""Control flow and helpers: every construct against central differences, through
the decorator and through the CLI's code, at points away from branch switches."""

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc

HEADER = "import math\nimport numpy as np\n\n\n"
SCALAR_CASES = {
    "if_else": ("def f(x, y):\n    if x > 0:\n        z = x * y\n    else:\n        z = math.exp(y)\n"
                "    return z * x\n", [(0.7, 1.3), (-0.4, 0.8)]),
    "if_without_else": ("def f(x, y):\n    z = x * 2.0\n    if y > 1.0:\n        z = z * y\n    return z + x\n",
                        [(0.7, 1.3), (0.7, 0.2)]),
    "elif_chain": ("def f(x):\n    if x < -1.0:\n        y = -x\n    elif x < 1.0:\n        y = x * x\n"
                   "    else:\n        y = math.log(x) + 1.0\n    return y * 3.0\n", [(-2.0,), (0.3,), (2.5,)]),
    "early_return": ("def f(x, y):\n    if x > 1.0:\n        return x * y\n    s = math.sin(x)\n"
                     "    if s > 0.5:\n        return s * y * y\n    return s + y\n",
                     [(2.0, 0.5), (0.9, 0.5), (0.1, 0.5)]),
    "nested_if": ("def f(x, y):\n    z = 0.0\n    if x > 0:\n        if y > 0:\n            z = x * y\n"
                  "        else:\n            z = x - y\n    else:\n        z = y * y\n    return z\n",
                  [(1.0, 2.0), (1.0, -2.0), (-1.0, 2.0)]),
    "conditional_expression": ("def f(x, y):\n    a = x if x > y else y\n    b = math.sqrt(x) if x > 0 else -x\n"
                               "    return a * b\n", [(2.0, 1.0), (0.5, 1.0), (-1.0, 0.5)]),
    "bool_ops": ("def f(x, y):\n    if x > 0 and not y > 2.0 or x > 5.0:\n        return x * y\n    return x + y\n",
                 [(1.0, 1.0), (1.0, 3.0), (-1.0, 1.0), (6.0, 3.0)]),
    "for_range": ("def f(x, n):\n    y = x\n    for i in range(n):\n        y = math.sin(y) + x\n    return y\n",
                  [(0.5, 3), (0.5, 0), (1.2, 5)]),
    "for_range_uses_index": ("def f(x):\n    s = 0.0\n    for i in range(1, 6, 2):\n        s = s + x ** i / i\n"
                             "    return s\n", [(0.7,), (-1.3,)]),
    "while_data_dependent": ("def f(x):\n    t = 0.0\n    while x < 10.0:\n        x = x * 1.5\n        t = t + x\n"
                             "    return t\n", [(1.0,), (3.0,), (12.0,)]),
    "nested_loops": ("def f(x, y):\n    s = 0.0\n    for i in range(3):\n        for j in range(2):\n"
                     "            s = s + x * y ** j + i * x\n        x = x * 0.9\n    return s\n", [(0.5, 1.5)]),
    "loop_with_branch": ("def f(x):\n    y = x\n    for i in range(6):\n        if y > 1.0:\n            y = y * 0.5\n"
                         "        else:\n            y = y * y + 0.7\n    return y\n", [(0.3,), (1.7,)]),
    "loop_aug_assign": ("def f(x, w):\n    acc = 0.0\n    for k in range(4):\n        acc += w * x ** k\n"
                        "        w *= 0.5\n    return acc\n", [(0.9, 1.1)]),
    "gradient_descent": ("def f(target, w0, lr):\n    w = w0\n    for step in range(5):\n"
                         "        w = w - lr * 2.0 * (w - target)\n    return (w - 1.0) ** 2\n", [(0.5, 3.0, 0.1)]),
    "break": ("def f(x, n):\n    y = x\n    for i in range(n):\n        if y > 3.0:\n            break\n"
              "        y = y * 1.7 + math.sin(x)\n    return y\n", [(0.5, 6), (0.2, 6), (4.0, 3)]),
    "break_in_while": ("def f(x):\n    s = 0.0\n    while x < 100.0:\n        x = x * 2.0\n"
                       "        if s > 5.0:\n            break\n        s = s + x\n    return s\n", [(0.3,), (2.0,)]),
    "continue": ("def f(x):\n    s = 0.0\n    k = 0.0\n    while k < 8.0:\n        k = k + 1.0\n"
                 "        if k > 4.0 and x > 0:\n            continue\n        s = s + x * k\n    return s\n",
                 [(0.5,), (-0.5,)]),
    "list_append_sum": ("def f(x, w):\n    terms = []\n    for k in range(4):\n"
                        "        terms.append(w * math.sin(k * x))\n    return sum(terms)\n", [(0.3, 1.2)]),
    "helpers": ("def sigmoid(z):\n    return 1.0 / (1.0 + math.exp(-z))\n\n\ndef f(w0, x0, w1, x1, w2):\n"
                "    return sigmoid(w0 * x0 + w1 * x1 + w2)\n", [(2.0, -1.0, -3.0, -2.0, -3.0)]),
    "helper_calls_helper_in_loop": ("def square(v):\n    return v * v\n\n\ndef damp(v, rate=0.5):\n"
                                    "    return square(v) * rate\n\n\ndef f(x):\n    for i in range(3):\n"
                                    "        x = damp(x) + x\n    return x\n", [(0.3,)]),
}


def _check(source, point):
    user = run_generated(HEADER + source)["f"]
    expected = [None if isinstance(p, int) else numeric_gradient(user, list(point), i) for i, p in enumerate(point)]
    generated = run_generated(diffc.compile_source(HEADER + source).text)["f_grad"](*point)
    generated = generated if isinstance(generated, tuple) else (generated,)
    for i, (g, e) in enumerate(zip(generated, expected)):
        if isinstance(point[i], int):
            continue  # an integer bound: no derivative
        assert float(g) == pytest.approx(float(e), rel=1e-6, abs=1e-8), (i, point)
    # Unknown shapes (a module that imports numpy): a zero may be a 0-d array, np.zeros_like(x).
    return tuple(float(g) for g in generated)


@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_scalar_control_flow(name, make_module):
    source, points = SCALAR_CASES[name]
    module = make_module(HEADER + source)
    for point in points:
        from_file = _check(source, point)
        from_decorator = diffc.grad(module.f)(*point)
        from_decorator = from_decorator if isinstance(from_decorator, tuple) else (from_decorator,)
        assert tuple(float(g) for g in from_decorator) == pytest.approx(from_file, rel=1e-12)


def test_helper_gives_the_same_gradients_as_inline():
    helper, point = SCALAR_CASES["helpers"]
    inline = ("def f(w0, x0, w1, x1, w2):\n    s0 = w0 * x0\n    s1 = w1 * x1\n    s2 = s0 + s1\n    s3 = s2 + w2\n"
              "    return 1.0 / (1.0 + math.exp(-s3))\n")
    assert _check(helper, point[0]) == pytest.approx(_check(inline, point[0]), rel=1e-15)
    assert "(1 - out) * out" in diffc.compile_source(HEADER + helper, functions="f").text


def test_rnn_loop():
    source = ("def f(Wh, Wx, h0, x, T):\n    h = h0\n    for t in range(T):\n"
              "        h = np.tanh(Wh @ h + Wx @ x[t])\n    return np.sum(h * h)\n")
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)) * 0.5, rng.normal(size=3),
            rng.normal(size=(4, 2)), 4]
    user = run_generated(HEADER + source)["f"]
    for grads in (run_generated(diffc.compile_source(HEADER + source, wrt=(0, 1, 2, 3)).text)["f_grad"](*args),
                  diffc.grad(user if False else _module_f(source), wrt=(0, 1, 2, 3))(*args)):
        for i in range(4):
            np.testing.assert_allclose(grads[i], numeric_gradient(user, args, i), rtol=1e-6, atol=1e-9)


def _module_f(source):
    import importlib.util
    import tempfile

    path = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    path.write(HEADER + source)
    path.close()
    spec = importlib.util.spec_from_file_location("rnn_module", path.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def test_loop_over_rows_of_an_array():
    source = "def f(X, w):\n    s = 0.0\n    for row in X:\n        s = s + np.tanh(np.dot(row, w))\n    return s\n"
    rng = np.random.default_rng(1)
    args = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    user = run_generated(HEADER + source)["f"]
    grads = run_generated(diffc.compile_source(HEADER + source).text)["f_grad"](*args)
    for i in range(2):
        np.testing.assert_allclose(grads[i], numeric_gradient(user, args, i), rtol=1e-6, atol=1e-9)


def test_loop_keeps_its_shape_in_the_generated_code():
    text = diffc.compile_source(HEADER + SCALAR_CASES["for_range"][0]).text
    body = text.split("def f_grad", 1)[1]
    assert body.count("for ") == 2 and "reversed(range(n))" in body and "saved_y.append(y)" in body
    assert "        y = saved_y.pop()\n        grad_x = grad_x + grad_y\n        grad_y = grad_y * math.cos(y)\n" \
        in body


def test_list_used_otherwise_is_refused():
    source = "def f(x):\n    terms = []\n    terms.append(x)\n    return terms[0]\n"
    with pytest.raises(diffc.UnsupportedError, match="only supported on a list made empty"):
        diffc.compile_source(HEADER + source)

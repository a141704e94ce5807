"""Code as people already write it (issue 11): CS231n files unchanged, checked against central
differences through the decorator, compile_source and the CLI."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc

sys.path.insert(0, str(ROOT / "examples"))
import cs231n_svm  # noqa: E402

SVM_SRC = (ROOT / "examples" / "cs231n_svm.py").read_text()
rng = np.random.default_rng(7)
W0, X0, Y0 = rng.normal(size=(5, 3)) * 0.01, rng.normal(size=(8, 5)), rng.integers(0, 3, 8)


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))


def loss_only(f):
    return lambda W, X, y, reg: f(W, X, y, reg)[0]


@pytest.mark.parametrize("name", ["svm_loss_naive", "svm_loss_vectorized"])
def test_cs231n_svm_unchanged_with_has_aux(name):
    f = getattr(cs231n_svm, name)
    loss, dW = f(W0, X0, Y0, 0.1)
    numeric = numeric_gradient(loss_only(f), [W0, X0, Y0, 0.1], 0)
    grad_W, aux = diffc.grad(f, wrt="W", has_aux=True)(W0, X0, Y0, 0.1)
    assert rel_error(grad_W, numeric) < 1e-6
    assert rel_error(grad_W, dW) < 1e-9  # the student's hand-written dW agrees
    np.testing.assert_allclose(aux, dW)  # passed through unchanged
    (value, aux2), grad2 = diffc.value_and_grad(f, wrt="W", has_aux=True)(W0, X0, Y0, 0.1)
    assert value == pytest.approx(loss) and np.allclose(aux2, dW) and np.allclose(grad2, grad_W)
    # The committed generated file, made by the CLI with --has-aux (examples/regenerate.py).
    grad_file, aux_file = run_generated((ROOT / "examples" / "cs231n_svm_grad.py").read_text())[f"{name}_grad"](
        W0, X0, Y0, 0.1)
    assert rel_error(grad_file, numeric) < 1e-6 and np.allclose(aux_file, dW)


def test_cs231n_svm_cli_and_compile_source(tmp_path):
    path = tmp_path / "svm.py"
    path.write_text(SVM_SRC)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "--has-aux", "--wrt", "W",
                             "--stdout"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == diffc.compile_source(SVM_SRC, str(path), wrt="W", has_aux=True).text
    namespace = run_generated(result.stdout)
    numeric = numeric_gradient(loss_only(cs231n_svm.svm_loss_naive), [W0, X0, Y0, 0.1], 0)
    for name in ("svm_loss_naive", "svm_loss_vectorized"):
        grad_W, dW = namespace[f"{name}_grad"](W0, X0, Y0, 0.1)
        assert rel_error(grad_W, numeric) < 1e-6 and np.allclose(dW, cs231n_svm.svm_loss_naive(W0, X0, Y0, 0.1)[1])
    # 'from builtins import range' leaves range the builtin: plain loops, not a call diffc keeps opaque.
    assert "for i in range(num_train):" in result.stdout and "for j in range(num_classes):" in result.stdout


def test_without_has_aux_the_error_names_it():
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(SVM_SRC, "svm.py", functions="svm_loss_naive", wrt="W")
    assert "has_aux" in str(info.value) and "--has-aux" in str(info.value)
    assert info.value.lineno == 51  # the return line
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(ROOT / "examples" / "cs231n_svm.py"),
                             "--stdout"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--has-aux" in result.stderr


def test_has_aux_shapes_of_the_result(make_module):
    m = make_module("""
        import math

        def f(x, y):
            a = x * y
            if x > 0:
                return math.sin(a), a, 2.0
            return a * a, x, 3.0

        def g(x):
            return x * x, x + 1.0

        def h(x):
            return x * x
    """)
    grads, aux = diffc.grad(m.f, has_aux=True)(0.5, 3.0)
    assert grads == pytest.approx((3.0 * np.cos(1.5), 0.5 * np.cos(1.5))) and aux == (1.5, 2.0)
    grads, aux = diffc.grad(m.f, has_aux=True)(-0.5, 3.0)
    assert grads == pytest.approx((2 * -1.5 * 3.0, 2 * -1.5 * -0.5)) and aux == (-0.5, 3.0)
    assert diffc.grad(m.g, has_aux=True)(3.0) == (6.0, 4.0)  # one parameter, one aux: bare values
    assert diffc.value_and_grad(m.g, has_aux=True)(3.0) == ((9.0, 4.0), 6.0)
    with pytest.raises(diffc.DiffcError, match="must return a tuple"):
        diffc.grad(m.h, has_aux=True)


def test_helpers_returning_tuples_are_inlined_and_unpacked(make_module):
    m = make_module("""
        from builtins import range
        import numpy as np

        def affine_forward(x, w, b):
            out = None
            N = x.shape[0]
            out = x.reshape(N, -1).dot(w) + b
            cache = (x, w, b)
            return out, cache

        def relu_forward(x):
            out = np.maximum(0, x)
            cache = x
            return out, cache

        def loss(x, w, b):
            N, D = x.shape
            out, cache = affine_forward(x, w, b)
            h, _ = relu_forward(out)
            return np.sum(h ** 2) / N + D
    """)
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    g = diffc.grad(m.loss)
    got = g(x, w, b)
    for i, part in enumerate(got):
        assert rel_error(part, numeric_gradient(m.loss, [x, w, b], i)) < 1e-6
    assert "cache" not in g.source  # an unused cache costs nothing
    text = diffc.compile_source(open(m.__file__).read(), "m.py",
                                functions="loss").text
    again = run_generated(text)["loss_grad"](x, w, b)
    for a, c in zip(again, got):
        np.testing.assert_allclose(a, c)


def test_a_top_level_alias_written_in_place_is_read_before_the_write(make_module):
    m = make_module("""
        import numpy as np

        def f(W, X):
            margins = np.maximum(0, X.dot(W))
            loss = np.sum(margins ** 2)
            binary = margins
            binary[margins > 0] = 1
            return loss + np.sum(binary)
    """)
    W, X = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    assert rel_error(diffc.grad(m.f, wrt="W")(W, X), numeric_gradient(m.f, [W, X], 0)) < 1e-6
    late = textwrap.dedent("""
        import numpy as np

        def f(W):
            margins = np.maximum(0, W)
            binary = margins
            binary[margins > 0] = 1
            return np.sum(binary * margins)
    """)
    with pytest.raises(diffc.DiffcError, match="still refers to the same array"):
        diffc.compile_source(late, "f.py")


IDIOMS = """
from builtins import range
from builtins import object
import numpy as np


def zipped(W, X, y):
    loss = 0.0
    for x_i, y_i in zip(X, y):
        s = x_i.dot(W)
        loss += s[y_i]
    return loss


def enum(W, X):
    loss = 0.0
    for i, x_i in enumerate(X * 2.0):
        loss += (i + 1) * np.sum(x_i.dot(W) ** 2)
    return loss


def item(W, X):
    s = np.sum(X.dot(W))
    return s.item() * 3.0 + float(np.sum(W ** 2))


def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
        for j in range(num_classes):
            dW[:, j] += X[i] * p[j]
        dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    N, D = X.shape
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[range(N), y]).sum() / N + reg * np.sum(W * W)
    p[range(N), y] -= 1
    dW = X.T.dot(p) / N + 2 * reg * W
    return loss, dW
"""


@pytest.mark.parametrize("name", ["zipped", "enum", "item"])
def test_zip_enumerate_item_float(make_module, name):
    m = make_module(IDIOMS)
    f = getattr(m, name)
    args = [W0, X0] + ([Y0] if name == "zipped" else [])
    numeric = numeric_gradient(f, args, 0)
    assert rel_error(diffc.grad(f, wrt="W")(*args), numeric) < 1e-6
    text = diffc.compile_source(IDIOMS, "idioms.py", functions=name, wrt="W").text
    assert rel_error(run_generated(text)[f"{name}_grad"](*args), numeric) < 1e-6
    assert "in zip(" not in text and "in enumerate(X" not in text
    assert ("in range(" in text) == (name != "item")


@pytest.mark.parametrize("name", ["softmax_loss_naive", "softmax_loss_vectorized"])
def test_softmax_with_hand_written_gradient(make_module, name):
    # dW depends on W here (through p) but never reaches the loss: forward code, no gradient of its own.
    m = make_module(IDIOMS)
    f = getattr(m, name)
    loss, dW = f(W0, X0, Y0, 0.1)
    numeric = numeric_gradient(loss_only(f), [W0, X0, Y0, 0.1], 0)
    grad_W, aux = diffc.grad(f, wrt="W", has_aux=True)(W0, X0, Y0, 0.1)
    assert rel_error(grad_W, numeric) < 1e-6 and rel_error(grad_W, dW) < 1e-8 and np.allclose(aux, dW)
    text = diffc.compile_source(IDIOMS, "idioms.py", functions=name, wrt="W", has_aux=True).text
    assert "grad_dW" not in text
    grad_W2, aux2 = run_generated(text)[f"{name}_grad"](W0, X0, Y0, 0.1)
    assert rel_error(grad_W2, numeric) < 1e-6 and np.allclose(aux2, dW)


MOMENTS = """
import numpy as np


def f(x):
    a = np.sum(np.var(x, axis=0) * np.std(x, axis=1, keepdims=True, ddof=1))
    return a + x.var() + x.std(0).sum() + np.var(x, ddof=1) + np.sum(x.var(axis=(0,), keepdims=True) ** 2)


def bn(x, gamma, beta):
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    out = gamma * xhat + beta
    return np.sum(out * np.cos(x)), (xhat, var)
"""


def test_var_and_std_as_means(make_module):
    m = make_module(MOMENTS)
    x = rng.normal(size=(5, 3))
    numeric = numeric_gradient(m.f, [x], 0)
    assert rel_error(diffc.grad(m.f)(x), numeric) < 1e-6
    text = diffc.compile_source(MOMENTS, "m.py", functions="f").text
    assert rel_error(run_generated(text)["f_grad"](x), numeric) < 1e-6
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    grads, (xhat, var) = diffc.grad(m.bn, has_aux=True)(x, gamma, beta)
    np.testing.assert_allclose(var, np.var(x, axis=0))
    for i, part in enumerate(grads):
        assert rel_error(part, numeric_gradient(lambda *a: m.bn(*a)[0], [x, gamma, beta], i)) < 1e-6


DICTS = """
import numpy as np


def two_layer(W1, W2, X, reg):
    grads = {}
    h = np.maximum(0, X.dot(W1))
    s = h.dot(W2)
    loss = np.sum(s ** 2) / 2 + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    ds = s
    grads['W2'] = h.T.dot(ds)
    dh = ds.dot(W2.T)
    dh[h <= 0] = 0
    grads['W1'] = X.T.dot(dh)
    grads['W2'] += reg * W2
    grads['W1'] += reg * W1
    return loss, grads


def reads(x):
    d = {'a': x * 2.0}
    d['b'] = d['a'] * x
    return d['b'] + d['a']


def shared(x):
    d = {'a': x}
    e = d
    d['a'] = x * 2.0
    return e['a']
"""


def test_a_dict_of_gradients_built_in_the_function(make_module):
    m = make_module(DICTS)
    W1, W2, X = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(5, 3))
    (g1, g2), grads = diffc.grad(m.two_layer, wrt=("W1", "W2"), has_aux=True)(W1, W2, X, 0.1)
    assert rel_error(g1, numeric_gradient(loss_only(m.two_layer), [W1, W2, X, 0.1], 0)) < 1e-6
    assert rel_error(g2, numeric_gradient(loss_only(m.two_layer), [W1, W2, X, 0.1], 1)) < 1e-6
    assert list(grads) == ["W2", "W1"] and rel_error(grads["W1"], g1) < 1e-9 and rel_error(grads["W2"], g2) < 1e-9
    text = diffc.compile_source(DICTS, "d.py", functions="two_layer", wrt=("W1", "W2"), has_aux=True).text
    assert "grads = {'W2': " in text
    (h1, _), again = run_generated(text)["two_layer_grad"](W1, W2, X, 0.1)
    assert np.allclose(h1, g1) and np.allclose(again["W1"], grads["W1"])
    assert diffc.grad(m.reads)(1.5) == pytest.approx(4 * 1.5 + 2.0)  # 2x^2 + 2x, read back at compile time
    with pytest.raises(diffc.DiffcError, match="still refers to the same dict"):
        diffc.grad(m.shared)


COMPREHENSIONS = """
import numpy as np


def l2(W1, W2, reg):
    ws = [W1, W2]
    return 0.5 * reg * sum(np.sum(w ** 2) for w in ws)


def over_array(X, w):
    return sum(np.tanh(x.dot(w)) for x in X)


def over_range(x, n):
    return sum(x ** k for k in range(n) if k != 1)


def listcomp(a, b):
    xs = [a, b, a * b]
    ys = [np.sin(x) for x in xs]
    w = 3.0
    s = sum(i * w for i, w in enumerate(xs)) + sum(p * q for p, q in zip(xs, ys))
    return np.sum(ys) + sum([y * 2 for y in ys]) + s * w


def powers(x):
    return np.sum(np.array([x ** k for k in range(4)]))
"""


@pytest.mark.parametrize("name,args", [
    ("l2", [rng.normal(size=(2, 3)), rng.normal(size=3), 0.3]),
    ("over_array", [rng.normal(size=(4, 3)), rng.normal(size=3)]),
    ("over_range", [0.7, 5]),
    ("listcomp", [0.4, -1.2]),
    ("powers", [0.9]),
])
def test_comprehensions_and_generator_expressions(make_module, name, args):
    m = make_module(COMPREHENSIONS)
    f = getattr(m, name)
    wrt = [i for i, a in enumerate(args) if not isinstance(a, int)]
    grads = diffc.grad(f, wrt=wrt)(*args)
    text = diffc.compile_source(COMPREHENSIONS, "c.py", functions=name, wrt=wrt).text
    again = run_generated(text)[f"{name}_grad"](*args)
    for i, g, h in zip(wrt, grads, again):
        numeric = numeric_gradient(f, args, i)
        assert rel_error(np.asarray(g), numeric) < 1e-6 and rel_error(np.asarray(h), numeric) < 1e-6


def test_comprehensions_refused_where_they_cannot_be_resolved():
    source = textwrap.dedent("""
        import numpy as np

        def f(X):
            rows = [np.sum(x) for x in X]
            return rows[0]

        def g(X):
            return np.sum(x for x in X)
    """)
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(source, "c.py", functions="f")
    assert info.value.lineno == 5 and "known only at run time" in str(info.value)
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(source, "c.py", functions="g")
    assert info.value.lineno == 9 and "only inside sum" in str(info.value)


def test_zip_and_enumerate_of_literal_lists_are_unrolled(make_module):
    m = make_module("""
        def a(x, y):
            for p, q in zip([x, y], [y, x]):
                x = x + p * q
            return x

        def b(x):
            for i, p in enumerate([x, x * 2]):
                x = x + p * i
            return x * x
    """)
    assert diffc.grad(m.a)(0.3, -0.7) == pytest.approx((1 + 2 * -0.7, 2 * 0.3))  # a(x, y) = x + 2xy
    assert diffc.grad(m.b)(0.3) == pytest.approx(2 * 9 * 0.3)  # b(x) = (3x)^2


def test_has_aux_with_a_list_argument(make_module):
    # The decorator gives a list argument a list gradient: the aux output stays beside it.
    m = make_module("""
        import numpy as np

        def f(ws, x):
            a, b = ws
            loss = np.sum(a * x) + b * b
            return loss, b * 3.0
    """)
    ws, x = [np.array([1.0, 2.0]), 0.5], np.array([0.3, -0.2])
    (g_ws, g_x), aux = diffc.grad(m.f, has_aux=True)(ws, x)
    assert isinstance(g_ws, list) and np.allclose(g_ws[0], x) and g_ws[1] == pytest.approx(1.0)
    assert np.allclose(g_x, ws[0]) and aux == pytest.approx(1.5)
    (value, aux2), (g_ws2, _) = diffc.value_and_grad(m.f, has_aux=True)(ws, x)
    assert value == pytest.approx(np.sum(ws[0] * x) + 0.25) and aux2 == pytest.approx(1.5)
    assert isinstance(g_ws2, list)


def test_refusals_name_the_real_reason_at_their_line():
    source = textwrap.dedent("""
        import numpy as np

        def loss(W, X, y=None):
            scores = X.dot(W)
            if y is None:
                return scores
            return np.sum(scores[range(X.shape[0]), y]), scores

        def loss2(W, X, flag):
            scores = X.dot(W)
            if flag > 0:
                return np.sum(scores)
            return np.sum(scores ** 2), scores
    """)
    # 'if y is None: return scores' beside 'return loss, extra': with has_aux, that path raises (issue 11).
    grad = run_generated(diffc.compile_source(source, "l.py", functions="loss", wrt="W", has_aux=True).text)[
        "loss_grad"]
    W, X, y = rng.normal(size=(3, 2)), rng.normal(size=(4, 3)), np.array([0, 1, 1, 0])
    g_W, _ = grad(W, X, y)
    assert rel_error(g_W, numeric_gradient(lambda W: np.sum(X.dot(W)[range(4), y]), [W], 0)) < 1e-6
    with pytest.raises(ValueError, match="y is None: this path returns scores"):
        grad(W, X)
    with pytest.raises(diffc.DiffcError) as info:  # 'is' is refused where it is not 'is None'
        diffc.compile_source(source.replace("y is None", "y is X"), "l.py", functions="loss", has_aux=True)
    assert info.value.lineno == 6 and "'is' comparisons" in str(info.value)
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(source, "l.py", functions="loss2", has_aux=True)
    assert info.value.lineno == 13 and "every return with as many parts" in str(info.value)


def test_unpacking_a_shape_of_another_rank_is_refused_where_shapes_are_known(make_module):
    m = make_module("""
        import numpy as np

        def f(X):
            N, D = X.shape
            return np.sum(X ** 2) * N / D
    """)
    g = diffc.grad(m.f)
    X = rng.normal(size=(2, 3))
    assert rel_error(g(X), numeric_gradient(m.f, [X], 0)) < 1e-6
    with pytest.raises(diffc.DiffcError, match=r"cannot unpack a shape of 3 dimension\(s\) into 2 names"):
        g(np.ones((2, 3, 4)))  # Python raises ValueError here; diffc says so at compile time

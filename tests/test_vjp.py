"""Vector-Jacobian products and Jacobians (issue 13): ``diffc.vjp``, ``diffc.jacobian``, ``--vjp``,
``--jacobian``, and ``check_grad`` / ``diffc check`` in each mode.

The corpus (tests/vector_corpus.py: affine, ReLU, softmax, batchnorm, an RNN step, an LSTM-like cell
returning a tuple) over a few shapes, broadcasting included, through vjp, jvp and jacobian: each
against central differences, and against each other (the dot-product test <u, J v> == <J^T u, v>).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import vector_corpus as corpus
from conftest import ROOT, numeric_gradient, run_generated

import diffc

CORPUS = ROOT / "tests" / "vector_corpus.py"
GOLDEN = ROOT / "tests" / "golden" / "affine_vjp.py"
GOLDEN_ARGS = ["-f", "affine", "--vjp", "--shape", "X=N,D", "--shape", "W=D,H", "--shape", "b=H"]


def _rng(seed=13):
    return np.random.default_rng(seed)


def _cases():
    """(name, id, make the arguments): a few shapes per function, b of shape (H,) broadcast over rows."""
    cases = []
    for n, d, h in [(1, 3, 2), (4, 3, 5)]:
        cases.append(("affine", f"{n}x{d}x{h}", lambda r, n=n, d=d, h=h: [r.normal(size=(n, d)), r.normal(size=(d, h)),
                                                                           r.normal(size=h)]))
        cases.append(("rnn_step", f"{n}x{d}x{h}", lambda r, n=n, d=d, h=h: [
            r.normal(size=(n, d)), r.normal(size=(n, h)), r.normal(size=(d, h)) / 2, r.normal(size=(h, h)) / 2,
            r.normal(size=h)]))
    cases.append(("affine", "vector", lambda r: [r.normal(size=3), r.normal(size=(3, 2)), r.normal(size=2)]))
    cases.append(("rnn_step", "vector", lambda r: [r.normal(size=3), r.normal(size=2), r.normal(size=(3, 2)),
                                                   r.normal(size=(2, 2)), r.normal(size=2)]))
    for shape in [(5,), (2, 4)]:
        label = "x".join(map(str, shape))
        cases.append(("relu", label, lambda r, s=shape: [r.normal(size=s) + 0.05]))  # away from the kink
        cases.append(("softmax", label, lambda r, s=shape: [r.normal(size=s)]))
    for n, d in [(3, 2), (5, 4)]:
        cases.append(("batchnorm", f"{n}x{d}", lambda r, n=n, d=d: [r.normal(size=(n, d)), r.normal(size=d),
                                                                     r.normal(size=d)]))
    for n, h in [(1, 2), (3, 3)]:
        cases.append(("lstm_cell", f"{n}x{h}", lambda r, n=n, h=h: [r.normal(size=(n, 4)), r.normal(size=(n, h)),
                                                                     r.normal(size=(4, 2 * h)),
                                                                     r.normal(size=2 * h)]))
    return cases


CASES = _cases()
IDS = [f"{name}-{label}" for name, label, _ in CASES]


def _items(value):
    return list(value) if isinstance(value, tuple) else [value]


def _weighted(fn, u):
    """<u, fn(*args)>: the number whose gradient a VJP with cotangent u is."""
    return lambda *args: sum(float(np.sum(w * o)) for w, o in zip(u, _items(fn(*args))))


def _numeric_jacobian(fn, args, index, h=1e-6):
    """Central differences, column by column: one array per item of the output, of its shape + args[index]'s."""
    x = np.asarray(args[index], dtype=float)
    out = _items(fn(*args))
    jac = [np.zeros(np.shape(o) + x.shape) for o in out]
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        up = _items(fn(*args[:index], plus, *args[index + 1:]))
        down = _items(fn(*args[:index], minus, *args[index + 1:]))
        for k in range(len(out)):
            jac[k][(Ellipsis, *i)] = (up[k] - down[k]) / (2 * h)
    return jac


@pytest.mark.parametrize("name,label,make", CASES, ids=IDS)
def test_vjp_matches_central_differences(name, label, make):
    r = _rng()
    args = make(r)
    fn = getattr(corpus, name)
    u = [r.normal(size=np.shape(o)) for o in _items(fn(*args))]
    grads = diffc.vjp(fn)(*args, *u)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(args)
    for i, g in enumerate(grads):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, numeric_gradient(_weighted(fn, u), args, i), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,label,make", CASES, ids=IDS)
def test_jvp_matches_central_differences(name, label, make):
    r = _rng(5)
    args = make(r)
    fn = getattr(corpus, name)
    v = [r.normal(size=np.shape(a)) for a in args]
    h = 1e-6
    plus = _items(fn(*[a + h * d for a, d in zip(args, v)]))
    minus = _items(fn(*[a - h * d for a, d in zip(args, v)]))
    _, tangent = diffc.jvp(fn)(*args, *v)
    for t, p, m in zip(_items(tangent), plus, minus):
        np.testing.assert_allclose(t, (p - m) / (2 * h), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,label,make", CASES, ids=IDS)
def test_vjp_and_jvp_pass_the_dot_product_test(name, label, make):
    r = _rng(7)
    args = make(r)
    fn = getattr(corpus, name)
    u = [r.normal(size=np.shape(o)) for o in _items(fn(*args))]
    v = [r.normal(size=np.shape(a)) for a in args]
    _, tangent = diffc.jvp(fn)(*args, *v)
    grads = _items(diffc.vjp(fn)(*args, *u))
    forward = sum(np.sum(a * t) for a, t in zip(u, _items(tangent)))
    reverse = sum(np.sum(g * d) for g, d in zip(grads, v))
    assert forward == pytest.approx(reverse, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name,label,make", CASES, ids=IDS)
def test_jacobian_matches_central_differences_and_the_vjp(name, label, make):
    r = _rng(11)
    args = make(r)
    fn = getattr(corpus, name)
    jacobian = diffc.jacobian(fn)
    result = jacobian(*args)
    per_item = list(result) if isinstance(fn(*args), tuple) else [result]
    outputs = _items(fn(*args))
    for k, jacs in enumerate(per_item):
        jacs = [jacs] if len(args) == 1 else jacs  # one parameter: bare, as diffc.grad's
        assert len(jacs) == len(args)
        for i, jac in enumerate(jacs):
            assert jac.shape == np.shape(outputs[k]) + np.shape(args[i]), "JAX's shape: out.shape + x.shape"
            np.testing.assert_allclose(jac, _numeric_jacobian(fn, args, i)[k], rtol=1e-5, atol=1e-7)
    # Each row of the Jacobian is a VJP with a unit cotangent: contracted with u it is the VJP with u.
    u = [r.normal(size=np.shape(o)) for o in outputs]
    grads = _items(diffc.vjp(fn)(*args, *u))
    rows = [[jacs] if len(args) == 1 else jacs for jacs in per_item]
    for i, g in enumerate(grads):
        contracted = sum(np.tensordot(u[k], rows[k][i], axes=np.ndim(u[k])) for k in range(len(u)))
        np.testing.assert_allclose(contracted, g, rtol=1e-10, atol=1e-12)


def test_jacobian_takes_the_mode_with_fewer_passes():
    r = _rng()
    X, W, b = r.normal(size=(2, 3)), r.normal(size=(3, 4)), r.normal(size=4)
    wide = diffc.jacobian(corpus.affine)  # 8 outputs, 22 inputs: row by row
    jac = wide(X, W, b)
    assert wide.mode == "reverse" and "def affine_vjp(X, W, b, grad_out):" in wide.source
    narrow = diffc.jacobian(corpus.affine, wrt="b")  # 8 outputs, 4 inputs: column by column
    jb = narrow(X, W, b)
    assert narrow.mode == "forward" and "def affine_jvp(" in narrow.source
    np.testing.assert_allclose(jb, jac[2], rtol=0, atol=0)  # both exact: 1 where the column is b's
    np.testing.assert_array_equal(jb[1], np.eye(4))


def test_jacobian_shapes_for_scalar_inputs_and_outputs(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x, s):\n    return np.sin(x) * s\n\n\n"
                         "def g(x):\n    return np.sum(x ** 2)\n\n\ndef k(s):\n    return s * s\n")
    x = np.array([0.1, 0.2, 0.3])
    jx, js = diffc.jacobian(module.f)(x, 2.0)
    assert jx.shape == (3, 3) and js.shape == (3,), "a scalar parameter: out.shape"
    np.testing.assert_allclose(js, np.sin(x))
    np.testing.assert_allclose(jx, np.diag(2.0 * np.cos(x)))
    gx = diffc.jacobian(module.g)(x)
    assert gx.shape == (3,), "a scalar output: the gradient's shape"
    np.testing.assert_allclose(gx, 2 * x)
    assert diffc.jacobian(module.k)(3.0) == 6.0
    assert isinstance(diffc.jacobian(module.k)(3.0), float)


def test_jacobian_falls_back_on_the_other_mode_when_one_is_refused(make_module):
    """np.cumprod has no forward rule: a Jacobian that would go column by column goes row by row."""
    module = make_module("import numpy as np\n\n\ndef f(x, s):\n    return np.cumprod(x * s)\n")
    x = np.array([0.5, 1.5, 2.0, 1.2])
    jacobian = diffc.jacobian(module.f, wrt="s")  # 4 outputs, 1 input: forward preferred, but refused
    js = jacobian(x, 2.0)
    assert jacobian.mode == "reverse"
    np.testing.assert_allclose(js, [k * np.prod((x * 2.0)[:k]) / 2.0 for k in range(1, 5)])


# ----------------------------------------------------------------------------
# The generated code and the API
# ----------------------------------------------------------------------------
def test_vjp_code_is_golden():
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(CORPUS), *GOLDEN_ARGS, "--stdout"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if os.environ.get("DIFFC_UPDATE_GOLDEN"):
        GOLDEN.write_text(result.stdout)
    assert result.stdout == GOLDEN.read_text(), "golden affine_vjp.py changed (DIFFC_UPDATE_GOLDEN=1 rewrites it)"
    r = _rng()
    X, W, b, g = r.normal(size=(4, 3)), r.normal(size=(3, 2)), r.normal(size=2), r.normal(size=(4, 2))
    dX, dW, db = run_generated(GOLDEN.read_text())["affine_vjp"](X, W, b, g)
    np.testing.assert_allclose(dX, g @ W.T)
    np.testing.assert_allclose(dW, X.T @ g)
    np.testing.assert_allclose(db, g.sum(axis=0))


def test_the_cotangent_is_named_after_the_returned_variable():
    source = CORPUS.read_text()
    text = diffc.compile_source(source, functions=["affine", "rnn_step", "lstm_cell", "relu"], mode="vjp").text
    assert "def affine_vjp(X, W, b, grad_out):" in text
    assert "def rnn_step_vjp(x, h, Wx, Wh, b, grad_next_h):" in text
    assert "def lstm_cell_vjp(x, c, W, b, grad_next_h, grad_next_c):" in text
    assert "def relu_vjp(x, grad_out):" in text  # an expression with no name
    unnamed = diffc.compile_source("import math\n\n\ndef f(x):\n    return x * 2.0, math.sin(x)\n", mode="vjp").text
    assert "def f_vjp(x, grad_out0, grad_out1):" in unnamed
    assert run_generated(unnamed)["f_vjp"](0.0, 1.0, 1.0) == 3.0
    clash = diffc.compile_source("def f(x, grad_out):\n    return x * grad_out\n", wrt="x", mode="vjp").text
    assert "def f_vjp(x, grad_out, grad_out_1):" in clash
    assert run_generated(clash)["f_vjp"](2.0, 3.0, 0.5) == 1.5


def test_a_scalar_output_takes_a_number_and_gives_the_gradient():
    text = (ROOT / "examples" / "lecture.py").read_text()
    vjp = run_generated(diffc.compile_source(text, mode="vjp").text)
    grad = run_generated(diffc.compile_source(text).text)
    assert vjp["f_vjp"](-2.0, 5.0, -4.0, 1.0) == grad["f_grad"](-2.0, 5.0, -4.0) == (-4.0, -4.0, 3.0)
    assert vjp["f_vjp"](-2.0, 5.0, -4.0, 2.0) == (-8.0, -8.0, 6.0)
    assert "ndim" not in diffc.compile_source(text, mode="vjp").text  # a number: no shape to check


def test_wrt_by_name_position_and_tuple():
    r = _rng()
    X, W, b, g = r.normal(size=(3, 2)), r.normal(size=(2, 4)), r.normal(size=4), r.normal(size=(3, 4))
    np.testing.assert_allclose(diffc.vjp(corpus.affine, wrt="W")(X, W, b, g), X.T @ g)
    np.testing.assert_allclose(diffc.vjp(corpus.affine, wrt=-1)(X, W, b, g), g.sum(axis=0))
    db, dX = diffc.vjp(corpus.affine, wrt=("b", "X"))(X, W, b, g)
    np.testing.assert_allclose(db, g.sum(axis=0))
    np.testing.assert_allclose(dX, g @ W.T)
    jb, jX = diffc.jacobian(corpus.affine, wrt=("b", 0))(X, W, b)
    assert jb.shape == (3, 4, 4) and jX.shape == (3, 4, 3, 2)


def test_defaults_keywords_and_the_decorator(make_module):
    module = make_module("import diffc\nimport numpy as np\n\n\ndef f(x, k=3.0):\n    return x * k\n\n\n"
                         "@diffc.vjp(wrt='x')\ndef g(x, y):\n    return x * y\n")
    x, u = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    np.testing.assert_allclose(diffc.vjp(module.f, wrt="x")(x, u), 3.0 * u)
    np.testing.assert_allclose(diffc.vjp(module.f, wrt="x")(x, u, k=5.0), 5.0 * u)
    np.testing.assert_allclose(diffc.vjp(module.f, wrt="x")(x, 4.0, u), 4.0 * u)
    np.testing.assert_allclose(module.g(x, x, u), x * u)
    with pytest.raises(TypeError, match="cotangent"):
        diffc.vjp(module.f)()
    with pytest.raises(TypeError, match="grad_out"):
        diffc.vjp(module.f, wrt="x")(u)


def test_a_cotangent_of_another_shape_is_refused():
    r = _rng()
    X, W, b = r.normal(size=(3, 2)), r.normal(size=(2, 4)), r.normal(size=4)
    vjp = diffc.vjp(corpus.affine)
    for wrong in [np.ones(4), np.ones((1, 4)), 1.0]:  # each would broadcast into another product
        with pytest.raises(ValueError, match=r"grad_out must have the shape of affine's output, \(3, 4\)"):
            vjp(X, W, b, wrong)
    generic = run_generated(diffc.compile_source(CORPUS.read_text(), functions=["lstm_cell"], mode="vjp").text)
    with pytest.raises(ValueError, match="grad_next_c must have the shape of item 1 of lstm_cell's output"):
        generic["lstm_cell_vjp"](r.normal(size=(3, 4)), np.ones((3, 2)), r.normal(size=(4, 4)), b, np.ones((3, 2)),
                                 np.ones(2))


def test_the_callers_cotangent_is_never_written_into(make_module):
    """y[0] = 0.0 in the function: its gradient zeroes grad_y[0]; the backward pass copies the caller's
    cotangent first (grad_y = np.copy(grad_y)), inside a loop too."""
    module = make_module("import numpy as np\n\n\ndef f(x):\n    y = x * 2.0\n    y[0] = 0.0\n    return y\n\n\n"
                         "def g(x, n):\n    y = np.zeros_like(x)\n    for i in range(n):\n"
                         "        y[i] = x[i] * 3.0\n    return y\n")
    u = np.array([1.0, 2.0, 3.0])
    vjp = diffc.vjp(module.f)
    np.testing.assert_allclose(vjp(np.ones(3), u), [0.0, 4.0, 6.0])
    np.testing.assert_allclose(diffc.vjp(module.g, wrt="x")(np.ones(3), 2, u), [3.0, 6.0, 0.0])
    assert u.tolist() == [1.0, 2.0, 3.0]
    assert "    grad_y = np.copy(grad_y)\n    grad_y[0] = 0.0\n" in vjp.source  # the code the call ran


def test_grad_of_an_array_output_names_vjp_and_jacobian(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x):\n    return x * 2.0\n")
    with pytest.raises(diffc.UnsupportedError, match="returns an array of shape") as info:
        diffc.grad(module.f)(np.ones(3))
    assert info.value.lineno == 5 and "diffc.vjp" in info.value.hint and "diffc.jacobian" in info.value.hint
    with pytest.raises(diffc.UnsupportedError, match="returns a list or tuple") as info:
        diffc.compile_source(CORPUS.read_text(), "vector_corpus.py", functions=["lstm_cell"])
    line = CORPUS.read_text().splitlines().index("    return next_h, next_c") + 1
    assert info.value.lineno == line and "diffc.vjp" in info.value.hint
    generic = run_generated(diffc.compile_source("import numpy as np\n\n\ndef f(x):\n    return x * 2.0\n").text)
    with pytest.raises(ValueError, match="grad needs a scalar output.*diffc.vjp or diffc.jacobian"):
        generic["f_grad"](np.ones(3))


@pytest.mark.parametrize("body,message", [
    ("    return {'a': x * 2.0}\n", "returns a dict"),
    ("    return (x, (x, x))\n", "a tuple holding a list or tuple"),
    ("    if x > 0:\n        t = (x, x)\n    else:\n        t = (x, -x)\n    return t\n", "made in a branch or a loop"),
    ("    return np.linalg.eigh(x)\n", "the tuple a call returns"),
])
def test_what_a_vjp_cannot_seed_is_refused_at_the_return(body, message):
    with pytest.raises(diffc.UnsupportedError, match=message) as info:
        diffc.compile_source(f"import numpy as np\n\n\ndef f(x):\n{body}", "user.py", mode="vjp")
    assert info.value.filename == "user.py" and info.value.lineno == body.count("\n") + 4


def test_the_items_of_a_call_returning_a_tuple_get_a_cotangent_each(make_module):
    module = make_module("import numpy as np\n\n\ndef f(A):\n    w, v = np.linalg.eigh(A)\n    return w, v\n")
    r = _rng()
    A = r.normal(size=(3, 3))
    A = A + A.T
    report = diffc.check_grad(module.f, A, mode="vjp", raise_on_error=False)
    assert "def f_vjp(A, grad_w, grad_v):" in diffc.vjp(module.f).source
    assert report.ok and [p.name for p in report.params] == ["A"]  # eigh has no forward rule: no dot test
    assert "dot-product test not run: the forward mode refuses 'f'" in str(report)


def test_has_aux_is_refused():
    with pytest.raises(diffc.UnsupportedError, match="has_aux"):
        diffc.compile_source("def f(x):\n    return x, x\n", mode="vjp", has_aux=True)


def test_a_jacobian_of_a_container_parameter_is_refused(make_module):
    module = make_module("def f(p):\n    return p['a'] * 2.0\n")
    with pytest.raises(diffc.UnsupportedError, match="numbers or arrays"):
        diffc.jacobian(module.f)({"a": 1.0})


# ----------------------------------------------------------------------------
# check_grad and diffc check in each mode
# ----------------------------------------------------------------------------
def test_check_grad_in_each_mode_passes_on_the_corpus():
    r = _rng()
    args = [r.normal(size=(3, 4)), r.normal(size=(3, 2)), r.normal(size=(4, 4)), r.normal(size=4)]
    for mode in ("jvp", "vjp"):
        report = diffc.check_grad(corpus.lstm_cell, *args, mode=mode)
        assert report.ok and report.mode == mode
    report = diffc.check_grad(corpus.lstm_cell, *args, mode="vjp", wrt=("W", "b"))
    assert [p.name for p in report.params] == ["<J^T u, v>", "W", "b"]
    assert str(report).startswith("vector-Jacobian (vjp) check of lstm_cell:\n  <J^T u, v>")
    jvp = diffc.check_grad(corpus.lstm_cell, *args, mode="jvp")
    assert [p.name for p in jvp.params] == ["d output[0]", "d output[1]"]


@pytest.mark.parametrize("mode", ["jvp", "vjp"])
def test_check_grad_catches_a_wrong_rule(mode, monkeypatch):
    from diffc.ir import Const
    from diffc.ops.catalogue import OPS

    slot = "jvp" if mode == "jvp" else "vjp"
    real = getattr(OPS["tanh"], slot)

    def wrong(b, *args):  # twice the right derivative
        result = real(b, *args)
        return None if result is None else b.mul(result, Const(2.0))

    monkeypatch.setattr(OPS["tanh"], slot, wrong)
    r = _rng()
    x, h, Wx, Wh, b = (r.normal(size=s) for s in [(2, 3), (2, 2), (3, 2), (2, 2), (2,)])
    report = diffc.check_grad(corpus.rnn_step, x, h, Wx, Wh, b, mode=mode, raise_on_error=False)
    assert not report.ok and "MISMATCH" in str(report)
    with pytest.raises(diffc.GradientCheckError):
        diffc.check_grad(corpus.rnn_step, x, h, Wx, Wh, b, mode=mode)


def test_check_grad_in_grad_mode_is_unchanged(make_module):
    module = make_module("def f(x, y):\n    return x * y\n")
    assert str(diffc.check_grad(module.f, 2.0, 3.0)).startswith("gradient check of f:\n  x            rel error")


def test_a_big_parameter_is_checked_by_the_dot_product_test_only(monkeypatch):
    from diffc.tools import modecheck

    monkeypatch.setattr(modecheck, "SMALL", 10)
    r = _rng()
    report = diffc.check_grad(corpus.affine, r.normal(size=(2, 3)), r.normal(size=(3, 4)), r.normal(size=4),
                              mode="vjp")
    assert [p.name for p in report.params] == ["<J^T u, v>", "X", "b"] and report.ok
    assert "W: 12 elements, more than 10: not checked against central differences" in str(report)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_diffc_check_modes(tmp_path):
    at = ["--at", "x=[[0.5, -1.0, 2.0]]", "--at", "h=[[0.1, 0.2]]", "--at", "Wx=[[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]]",
          "--at", "Wh=[[0.1, -0.2], [0.3, 0.4]]", "--at", "b=[0.01, -0.02]"]
    for mode in ("vjp", "jvp"):
        result = _cli("check", CORPUS, "-f", "rnn_step", "--mode", mode, *at)
        assert result.returncode == 0, result.stderr
        assert ("vector-Jacobian (vjp) check of rnn_step" if mode == "vjp" else "forward-mode (jvp) check") \
            in result.stdout and "MISMATCH" not in result.stdout
    refused = _cli("check", CORPUS, "-f", "rnn_step", *at)
    assert refused.returncode == 1 and "--mode vjp" in refused.stderr


# ----------------------------------------------------------------------------
# The CLI: --vjp and --jacobian, run as standalone files
# ----------------------------------------------------------------------------
def test_cli_vjp_and_jacobian_files_run(tmp_path):
    source = tmp_path / "layers.py"
    source.write_text(CORPUS.read_text())
    assert _cli(source, "--vjp").returncode == 0
    assert _cli(source, "--jacobian").returncode == 0
    vjps = run_generated((tmp_path / "layers_vjp.py").read_text())
    jacobians_text = (tmp_path / "layers_jacobian.py").read_text()
    assert "import diffc" not in jacobians_text and "def rnn_step_jacobian(x, h, Wx, Wh, b):" in jacobians_text
    jacobians = run_generated(jacobians_text)
    r = _rng(3)
    for name, _, make in CASES:
        args = make(r)
        fn = getattr(corpus, name)
        outputs = _items(fn(*args))
        u = [r.normal(size=np.shape(o)) for o in outputs]
        expected = _items(diffc.vjp(fn)(*args, *u))
        for g, e in zip(_items(vjps[f"{name}_vjp"](*args, *u)), expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
        from_file = jacobians[f"{name}_jacobian"](*args)
        per_item = list(from_file) if len(outputs) > 1 else [from_file]
        from_api = diffc.jacobian(fn)(*args)
        for k, jacs in enumerate(per_item):
            for i, jac in enumerate(jacs):
                np.testing.assert_allclose(jac, (from_api[k] if len(outputs) > 1 else from_api)[i],
                                           rtol=1e-10, atol=1e-12)


def test_cli_jacobian_of_one_parameter_is_bare(tmp_path):
    written = _cli(ROOT / "examples" / "lecture.py", "-f", "f", "--wrt", "x", "--jacobian", "--stdout")
    assert written.returncode == 0, written.stderr
    assert "import numpy as np" in written.stdout  # the seeds are arrays, though lecture.py has no numpy
    assert "    return jacobians[0]\n" in written.stdout
    assert float(run_generated(written.stdout)["f_jacobian"](-2.0, 5.0, -4.0)) == -4.0


def test_cli_refusals(tmp_path):
    source = tmp_path / "layers.py"
    source.write_text(CORPUS.read_text())
    for flags, other in [(["--vjp", "--has-aux"], "--has-aux"), (["--vjp", "--mode", "forward"], "--mode forward"),
                         (["--jacobian", "--vjp"], "--vjp"), (["--vjp", "--value-and-grad"], "--value-and-grad")]:
        result = _cli(source, *flags, "--stdout")
        assert result.returncode == 2 and other in result.stderr, result.stderr
    same = _cli(source, "--vjp", "-o", source)
    assert same.returncode != 0 and "same file" in same.stderr and source.read_text() == CORPUS.read_text()
    mine = tmp_path / "mine_vjp.py"
    mine.write_text("# my own file\n")
    kept = _cli(source, "--vjp", "-o", mine)
    assert kept.returncode != 0 and mine.read_text() == "# my own file\n"  # not diffc's: kept


def test_readme_shows_the_golden_vjp_and_the_corpus_affine():
    readme = (ROOT / "README.md").read_text()
    body = GOLDEN.read_text().split("\n\n\n")[1]
    assert "```python\n" + body + "```" in readme, "README's vjp example is tests/golden/affine_vjp.py's function"
    affine = CORPUS.read_text().split("\n\n\n")[1]
    assert affine.startswith("def affine(") and "```python\n" + affine + "\n```" in readme
    assert "def lstm_cell_vjp(x, c, W, b, grad_next_h, grad_next_c):" in diffc.compile_source(
        CORPUS.read_text(), functions=["lstm_cell"], mode="vjp").text  # as the README says


def test_cli_jacobian_refuses_a_container_parameter_at_its_function():
    from diffc.jacobian import jacobian_source

    with pytest.raises(diffc.UnsupportedError, match="'p' is a dict, list or tuple") as info:
        jacobian_source("def f(p, x):\n    return p['a'] * x\n", "user.py")
    assert (info.value.filename, info.value.lineno) == ("user.py", 1)


# ----------------------------------------------------------------------------
# The soundness fuzzer's programs (tests/fuzz_gen.py), as vector-Jacobian products
# ----------------------------------------------------------------------------
def _fuzz_vjp_outcome(seed, index):
    """OK, REFUSED or SKIPPED, else a string that says what went wrong (WRONG or CRASH): the VJP with a
    random cotangent u, along a random direction v, against central differences of <u, f> along v."""
    import warnings

    import fuzz

    source, params, args, _, mode = fuzz.program(seed, index)
    namespace = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            with fuzz.time_limit(2.0):
                exec(compile(source, "<fuzz>", "exec"), namespace)
                user = namespace["f"]
                value = user(*fuzz.fresh(args))
                if isinstance(value, (tuple, list, dict)) or not np.all(np.isfinite(value)):
                    return "SKIPPED"
        except (Exception, fuzz.Timeout):
            return "SKIPPED"
        names = user.__code__.co_varnames[:user.__code__.co_argcount]
        where = [names.index(p) for p in params]
        rng = np.random.default_rng(index)
        u = rng.normal(size=np.shape(value)) if np.ndim(value) else float(rng.normal())
        v = [rng.normal(size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.normal()) for k in where]

        def along(h):
            moved = fuzz.fresh(args)
            for k, d in zip(where, v):
                moved[k] = moved[k] + h * d
            return float(np.sum(u * np.asarray(user(*moved))))

        try:
            with fuzz.time_limit(4.0):
                numeric = [(along(h) - along(-h)) / (2 * h) for h in (1e-4, 1e-5, 1e-6)]
        except (Exception, fuzz.Timeout):
            return "SKIPPED"
        if not all(np.isclose(numeric[0], n, rtol=1e-3, atol=1e-5) for n in numeric[1:]):
            return "SKIPPED"  # not smooth at the point
        try:
            with fuzz.time_limit(20.0):
                if mode == "decorator":
                    vjp = diffc.vjp(fuzz.load_module(source).f, wrt=tuple(params))
                else:
                    vjp = run_generated(diffc.compile_source(source, wrt=tuple(params), mode="vjp").text)["f_vjp"]
                given = np.copy(u)
                grads = vjp(*fuzz.fresh(args), u)
                if not np.array_equal(given, u):
                    return f"WRONG {seed}:{index} ({mode}): the vjp wrote into the caller's cotangent\n{source}"
        except diffc.DiffcError:
            return "REFUSED"
        except (Exception, fuzz.Timeout) as exc:
            return f"CRASH {seed}:{index} ({mode}) {type(exc).__name__}: {exc}\n{source}"
    shapes_ok = all(np.shape(g) == np.shape(args[k]) for g, k in zip(grads, where))
    reverse = sum(float(np.sum(g * d)) for g, d in zip(grads, v))
    if not shapes_ok or not np.isclose(reverse, numeric[-1], rtol=1e-4, atol=1e-6):
        return f"WRONG {seed}:{index} ({mode}): <J^T u, v> {reverse}, central differences {numeric[-1]}\n{source}"
    return "OK"


def test_fuzz_programs_as_vector_jacobian_products():
    """Random NumPy programs (branches, loops, indexing, broadcasting): each VJP matches central
    differences of <u, f> along a random direction, or diffc refuses; nothing crashes."""
    outcomes = [_fuzz_vjp_outcome("vjp-ci", i) for i in range(300)]
    bad = [o for o in outcomes if o not in ("OK", "REFUSED", "SKIPPED")]
    assert not bad, "\n\n".join(bad[:5])
    assert outcomes.count("OK") > 200, {o: outcomes.count(o) for o in set(outcomes)}


def test_jacobian_falls_back_when_the_chosen_mode_is_refused_at_the_call():
    """A refusal that comes only with the arguments' shapes (at the first call) also falls back."""
    class RefusedAtCall:
        def __call__(self, *args, **kwargs):
            raise diffc.UnsupportedError("refused for these shapes")

    r = _rng()
    X, W, b = r.normal(size=(3, 2)), r.normal(size=(2, 4)), r.normal(size=4)
    jacobian = diffc.jacobian(corpus.affine, wrt="b")  # 12 outputs, 4 inputs: forward first
    jacobian._modes["jvp"] = RefusedAtCall()
    jb = jacobian(X, W, b)
    assert jacobian.mode == "reverse" and isinstance(jacobian._modes["jvp"], diffc.UnsupportedError)
    np.testing.assert_array_equal(jb, np.broadcast_to(np.eye(4), (3, 4, 4)))

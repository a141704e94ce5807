"""Second derivatives (issue 13): a gradient differentiated again on the IR (diffc.compiler.compose_inner),
``diffc.hvp`` and ``diffc.hessian``, for scalar, NumPy and loop code, against central differences of
the gradient; Hessians of quadratic forms exactly; the rules of the ops only reverse rules write
(diffc/ops/higher.py) through code for known shapes (the decorator) and for any shape (compile_source).
"""

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc
from diffc.compiler import _select, compile_function, join_module, module_parts

RNG = np.random.default_rng(1313)

SOURCE = """
import numpy as np


def net(W, x, b):
    return np.sum(np.tanh(W @ x + b) ** 2)


def scaled(a, W, x):
    return np.sum(np.tanh(a * (W @ x) + 1.0) ** 2)


def loop(x):
    s = 0.0
    for i in range(3):
        s = s + np.sin(x[i]) * x[i]
    return s


def scalar_loop(x, y):
    s = 0.0
    for i in range(3):
        s = s + np.sin(s + x) * y
    return s


def layer(X, W, b):
    h = np.maximum(X @ W + b, 0.0)
    return np.mean(np.exp(0.1 * h), axis=0).sum() + np.sum(np.dot(h, h.T), axis=1).mean()


def written(x):
    y = x * 1.0
    y[0] = 2.0 * x[1]
    return np.sum(np.exp(y) * x)


def cast(x, y):
    return np.sum(x.astype(y.dtype) ** 3)


def quadratic(x, A):
    return x @ A @ x


def least_squares(w, X, y):
    return 0.5 * np.sum((X @ w - y) ** 2)


def product(x):
    return np.prod(x) * 2.0
"""


@pytest.fixture
def user(make_module):
    return make_module(SOURCE)


def _generic(name, mode, wrt, inner, text=SOURCE):
    """The generated function for unknown shapes (as the CLI writes it), run from its text."""
    source, scope, selected = _select(text, "user.py", [name])
    compiled, used, helpers = compile_function(selected[0], scope, source, wrt=wrt, mode=mode, inner=inner)
    return run_generated(join_module(None, module_parts(scope, used, helpers), [compiled.text]))[compiled.grad_name]


def _hvp_by_differences(gradient, args, k, v, h=1e-6):
    plus, minus = list(args), list(args)
    plus[k], minus[k] = args[k] + h * v, args[k] - h * v
    return (np.asarray(gradient(*plus)) - np.asarray(gradient(*minus))) / (2 * h)


CASES = [  # (function, arguments, the position differentiated)
    ("net", lambda: (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)), 0),
    ("net", lambda: (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)), 1),
    ("net", lambda: (RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2)), RNG.normal(size=(3, 1))), 2),  # broadcast
    ("loop", lambda: (RNG.normal(size=3),), 0),
    ("layer", lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=4)), 1),
    ("layer", lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=4)), 2),
    ("written", lambda: (RNG.normal(size=4),), 0),
    ("cast", lambda: (RNG.normal(size=4), np.ones(2)), 0),
]


@pytest.mark.parametrize("name, make, k", CASES)
def test_hvp_matches_central_differences_of_the_gradient(user, name, make, k):
    args = make()
    v = RNG.normal(size=np.shape(args[k]))
    gradient = diffc.grad(getattr(user, name), wrt=k)
    expected = _hvp_by_differences(gradient, args, k, v)
    product = diffc.hvp(getattr(user, name), wrt=k)(*args, v)  # code for these shapes
    assert np.shape(product) == np.shape(args[k])
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-7)
    value, product = _generic(name, "jvp", k, (("grad", k),))(*args, v)  # code for any shape: the helpers' rules
    np.testing.assert_allclose(value, gradient(*args), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-7)


def test_the_issue_reproducers_grad_of_grad_of_numpy_and_loop_code(user):
    W, x = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    inner = diffc.grad(user.scaled, wrt=0)  # a number: its gradient is a gradient of a scalar
    outer = diffc.grad(inner, wrt=(0, 1, 2))
    for k, got in enumerate(outer(0.7, W, x)):
        np.testing.assert_allclose(got, numeric_gradient(inner, [0.7, W, x], k), rtol=1e-5, atol=1e-7)
    generic = _generic("scaled", "grad", (0, 1, 2), (("grad", 0),))
    for k, got in enumerate(generic(0.7, W, x)):
        np.testing.assert_allclose(got, numeric_gradient(inner, [0.7, W, x], k), rtol=1e-5, atol=1e-7)
    for w1 in (0, 1):  # a loop: the inner tape's pops get gradients pushed, its pushes pop them back
        first = diffc.grad(user.scalar_loop, wrt=w1)
        for w2 in (0, 1):
            got = diffc.grad(first, wrt=w2)(0.3, 0.7)
            assert got == pytest.approx(numeric_gradient(first, [0.3, 0.7], w2), rel=1e-6)
            assert _generic("scalar_loop", "grad", w2, (("grad", w1),))(0.3, 0.7) == pytest.approx(got, rel=1e-12)


def test_third_order_scalar():
    def cube(x, y):
        return x * x * x * y

    third = diffc.grad(diffc.grad(diffc.grad(cube, wrt=0), wrt=0), wrt=0)
    assert third(2.0, 3.0) == pytest.approx(18.0)


def test_a_gradient_that_is_an_array_is_refused_for_grad_and_pointed_to_hessian(user):
    gradient = diffc.grad(user.net, wrt=1)
    with pytest.raises(diffc.UnsupportedError) as info:
        diffc.grad(gradient, wrt=1)(RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3))
    assert "the gradient of 'net' is an array" in str(info.value) and "diffc.hessian" in str(info.value)
    assert info.value.lineno is not None


def test_a_helper_with_no_rule_is_refused_at_its_line(user):
    with pytest.raises(diffc.DiffcError) as info:
        diffc.hvp(user.product)(RNG.normal(size=3), RNG.normal(size=3))
    assert "_prod_others" in str(info.value) and "has no forward-mode" in str(info.value)
    assert "return np.prod(x) * 2.0" in str(info.value)


def test_hessians_of_quadratic_forms_are_exact(user):
    A, x = RNG.normal(size=(4, 4)), RNG.normal(size=4)
    np.testing.assert_allclose(diffc.hessian(user.quadratic, wrt=0)(x, A), A + A.T, rtol=1e-12, atol=1e-12)
    X, y, w = RNG.normal(size=(6, 3)), RNG.normal(size=6), RNG.normal(size=3)
    H = diffc.hessian(user.least_squares, wrt="w")(w, X, y)
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H, X.T @ X, rtol=1e-12, atol=1e-12)


def test_hvp_is_the_hessian_times_v_and_tuples_nest_as_jax(user):
    W, x, b = RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)
    H = diffc.hessian(user.net, wrt=(0, 1))(W, x, b)
    assert [[np.shape(block) for block in row] for row in H] == [[(3, 4, 3, 4), (3, 4, 4)], [(4, 3, 4), (4, 4)]]
    np.testing.assert_allclose(H[0][1], np.moveaxis(H[1][0], 0, -1), rtol=1e-10, atol=1e-12)  # symmetric
    V, v = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    pW, px = diffc.hvp(user.net, wrt=(0, 1))(W, x, b, (V, v))
    np.testing.assert_allclose(pW, np.tensordot(H[0][0], V, 2) + H[0][1] @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(px, np.tensordot(H[1][0], V, 2) + H[1][1] @ v, rtol=1e-10, atol=1e-12)
    one = diffc.hessian(user.loop)(x[:3])
    np.testing.assert_allclose(one, np.diag(2 * np.cos(x[:3]) - x[:3] * np.sin(x[:3])), rtol=1e-10, atol=1e-12)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def _standalone(path, name):
    """The generated module at ``path``, imported with diffc made impossible to import."""
    spec = importlib.util.spec_from_file_location(f"generated_{name}", path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("diffc")
    sys.modules["diffc"] = None  # the file imports nothing of diffc
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules["diffc"] = saved
    return module


def test_cli_hessian_writes_a_standalone_file(tmp_path, user):
    path = tmp_path / "user.py"
    path.write_text(SOURCE)
    result = _cli(path, "-f", "least_squares", "--wrt", "w", "--hessian", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    generated = _standalone(tmp_path / "user_hessian.py", "ls")
    X, y, w = RNG.normal(size=(6, 3)), RNG.normal(size=6), RNG.normal(size=3)
    np.testing.assert_allclose(generated.least_squares_hessian(w, X, y), X.T @ X, rtol=1e-12, atol=1e-12)
    v = RNG.normal(size=3)
    gradient, product = generated.least_squares_hvp(w, X, y, v)
    np.testing.assert_allclose(gradient, diffc.grad(user.least_squares, wrt=0)(w, X, y), rtol=1e-12)
    np.testing.assert_allclose(product, X.T @ X @ v, rtol=1e-10, atol=1e-12)
    text = (tmp_path / "user_hessian.py").read_text()
    assert "diffc" not in text.split("\n", 1)[1]  # below the header line: nothing of diffc

    result = _cli(path, "-f", "net", "--wrt", "W", "--wrt", "x", "--hessian", "-o", tmp_path / "net_h.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    W, x, b = RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)
    H = _standalone(tmp_path / "net_h.py", "net").net_hessian(W, x, b)
    expected = diffc.hessian(user.net, wrt=(0, 1))(W, x, b)
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(H[i][j], expected[i][j], rtol=1e-12, atol=1e-12)


def test_cli_hvp_of_scalar_loop_code(tmp_path):
    source = ("import math\n\n\ndef f(x, y):\n    s = x\n    for i in range(3):\n"
              "        s = math.sin(s) * y + x\n    return s * s\n")
    (tmp_path / "s.py").write_text(source)
    result = _cli("s.py", "--hessian", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    generated = _standalone(tmp_path / "s_hessian.py", "s")
    gradient = run_generated(diffc.compile_source(source).text)["f_grad"]
    H = generated.f_hessian(0.4, 1.3)
    for i in range(2):
        for j in range(2):
            expected = numeric_gradient(lambda x, y, i=i: gradient(x, y)[i], [0.4, 1.3], j)
            assert H[i][j] == pytest.approx(expected, rel=1e-6)
    assert _cli("s.py", "--hvp", "--value-and-grad", cwd=tmp_path).returncode == 2


def test_accumulated_gradients_of_a_loop_differentiated_again(make_module):
    """The inner backward loop adds into its own zeros in place (grad_z[i] += ...); the outer transform
    reads them only after the loop, and its tangents of them are new arrays."""
    m = make_module("""
        import numpy as np


        def f(a, x):
            z = a * x
            s = 0.0
            for i in range(4):
                s = s + np.sin(z[i]) * z[i]
            return s
        """)
    x = RNG.normal(size=4)
    inner = diffc.grad(m.f, wrt=0)
    got = diffc.grad(inner, wrt=(0, 1))(0.7, x)
    for k in range(2):
        np.testing.assert_allclose(got[k], numeric_gradient(inner, [0.7, x], k), rtol=1e-6, atol=1e-8)
    v = RNG.normal(size=4)
    gradient = diffc.grad(m.f, wrt=1)
    np.testing.assert_allclose(diffc.hvp(m.f, wrt=1)(0.7, x, v), _hvp_by_differences(gradient, [0.7, x], 1, v),
                               rtol=1e-5, atol=1e-7)


def test_while_loop_and_branch_differentiated_again(make_module):
    m = make_module("""
        import math


        def f(x, y):
            s = x
            k = 0
            while k < 3:
                if s > 0:
                    s = math.sin(s) * y
                else:
                    s = s * s * y
                k = k + 1
            return s * x
        """)
    for w1 in (0, 1):
        first = diffc.grad(m.f, wrt=w1)
        for w2 in (0, 1):
            for at in ([0.4, 1.3], [-0.4, 0.8]):
                got = diffc.grad(first, wrt=w2)(*at)
                assert got == pytest.approx(numeric_gradient(first, at, w2), rel=1e-6)


def test_value_and_grad_of_a_gradient(make_module):
    m = make_module("""
        def f(x, y):
            return x * x * x * y
        """)
    value, second = diffc.value_and_grad(diffc.grad(m.f, wrt=0), wrt=(0, 1))(2.0, 3.0)
    assert value == pytest.approx(36.0) and second == (pytest.approx(36.0), pytest.approx(12.0))


def test_readme_hvp_of_the_two_layer_net_is_the_generated_code():
    """The README's Hessian-vector product of the two-layer net: its call, and its lines as generated."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import two_layer_net
    finally:
        sys.path.remove(str(ROOT / "examples"))
    N, D, H, C = 5, 4, 6, 3
    W1, b1, W2, b2 = RNG.normal(size=(D, H)), RNG.normal(size=H), RNG.normal(size=(H, C)), RNG.normal(size=C)
    X, y, reg, V = RNG.normal(size=(N, D)), RNG.integers(0, C, size=N), 0.1, RNG.normal(size=(H, C))
    hvp = diffc.hvp(two_layer_net.two_layer_loss, wrt="W2")
    Hv = hvp(W1, b1, W2, b2, X, y, reg, V)
    gradient = diffc.grad(two_layer_net.two_layer_loss, wrt="W2")
    expected = _hvp_by_differences(lambda W2: gradient(W1, b1, W2, b2, X, y, reg), [W2], 0, V)
    np.testing.assert_allclose(Hv, expected, rtol=1e-5, atol=1e-7)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Hessian-vector products"):readme.index("## NumPy")]
    assert 'hvp = diffc.hvp(two_layer_loss, wrt="W2")\nHv = hvp(W1, b1, W2, b2, X, y, reg, V)' in section
    shown = section.split("```python\n")[2].split("```")[0]
    source = hvp.source
    for part in shown.split("    ...\n"):
        assert part in source, part


def test_hessian_of_numbers_is_numbers_and_agrees_with_grad_of_grad(make_module):
    m = make_module("""
        import math


        def g(x, w):
            return math.tanh(w * x)
        """)
    H = diffc.hessian(m.g)(0.5, -1.2)
    assert all(type(h) is float for row in H for h in row)
    for i in range(2):
        assert diffc.grad(diffc.grad(m.g, wrt=i), wrt=(0, 1))(0.5, -1.2) == pytest.approx(H[i], rel=1e-12)
    assert diffc.hvp(m.g, wrt="x")(0.5, -1.2, 2.0) == pytest.approx(2.0 * H[0][0], rel=1e-12)


def test_hvp_of_a_dict_parameter_and_its_refusals(make_module):
    m = make_module("""
        import numpy as np


        def f(params, x):
            return np.sum(np.tanh(params["W"] @ x) ** 2) * params["a"]
        """)
    params, x = {"W": RNG.normal(size=(2, 3)), "a": 0.5}, RNG.normal(size=3)
    V = {"W": RNG.normal(size=(2, 3)), "a": 1.0}
    got = diffc.hvp(m.f, wrt="params")(params, x, V)
    gradient, h = diffc.grad(m.f, wrt="params"), 1e-6
    plus = gradient({k: params[k] + h * V[k] for k in params}, x)
    minus = gradient({k: params[k] - h * V[k] for k in params}, x)
    for key in params:
        np.testing.assert_allclose(got[key], (plus[key] - minus[key]) / (2 * h), rtol=1e-5, atol=1e-7)
    with pytest.raises(diffc.UnsupportedError, match="the gradient of 'f' is a dict"):
        diffc.grad(gradient, wrt="x")(params, x)
    with pytest.raises(diffc.DiffcError, match="'params' is a dict"):
        diffc.hessian(m.f, wrt="params")(params, x)


def test_an_array_valued_function_is_refused_not_summed(make_module):
    """The inner gradient's check that the function's value is a number stays in the composed code: for
    unknown shapes it raises at run time (never the second derivative of the sum), for known ones the
    decorator refuses at its line."""
    source = "import numpy as np\n\n\ndef bad(x):\n    return np.tanh(x) * 2.0\n"
    source_, scope, selected = _select(source, "bad.py", ["bad"])
    for mode, inner in (("jvp", (("grad", 0),)), ("grad", (("grad", 0),))):  # the CLI's code: shapes unknown
        compiled, used, helpers = compile_function(selected[0], scope, source_, wrt=0, mode=mode, inner=inner)
        run = run_generated(join_module(None, module_parts(scope, used, helpers), [compiled.text]))[compiled.grad_name]
        args = (np.ones(3), np.ones(3)) if mode == "jvp" else (np.ones(3),)
        with pytest.raises(ValueError, match=r"bad returned a value of shape \(3,\)"):
            run(*args)
    m = make_module(source)
    with pytest.raises(diffc.UnsupportedError, match="'bad' returns an array") as info:
        diffc.hvp(m.bad)(np.ones(3), np.ones(3))
    assert info.value.lineno == 5


def test_an_array_gradient_is_refused_at_run_time_for_unknown_shapes():
    source = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.tanh(x))\n"
    source_, scope, selected = _select(source, "f.py", ["f"])
    compiled, used, helpers = compile_function(selected[0], scope, source_, wrt=0, inner=(("grad", 0),))
    run = run_generated(join_module(None, module_parts(scope, used, helpers), [compiled.text]))[compiled.grad_name]
    assert run(0.3) == pytest.approx(-2 * np.tanh(0.3) * (1 - np.tanh(0.3) ** 2))
    with pytest.raises(ValueError, match=r"the gradient of f returned a value of shape \(3,\)"):
        run(np.ones(3))


def test_a_branch_whose_values_only_the_backward_lines_read_is_kept(make_module):
    """In a composed gradient the function's value is dead (its gradient is seeded with 1.0), so the forward
    if has no phi anyone reads; its branch's values are still read by the backward if."""
    source = ("import numpy as np\n\n\ndef f(a, n):\n    if n > 1:\n        return np.sum(a * a * a)\n"
              "    return np.sum(a * a)\n")
    m = make_module(source)
    a, v = RNG.normal(size=3), RNG.normal(size=3)
    for n in (0, 2):
        expected = (6 * a if n else 2 * np.ones(3)) * v
        np.testing.assert_allclose(diffc.hvp(m.f, wrt=0)(a, n, v), expected, rtol=1e-12)
        value, product = _generic("f", "jvp", 0, (("grad", 0),), source)(a, n, v)
        np.testing.assert_allclose(product, expected, rtol=1e-12)
        second = diffc.grad(diffc.grad(m.f, wrt=0), wrt=0)(0.7, n)
        assert second == pytest.approx(6 * 0.7 if n else 2.0, rel=1e-12)


def test_a_tuple_output_with_no_tangent_gets_a_tuple_of_zeros():
    """Forward mode: a tuple output that does not depend on wrt (a Hessian that is zero, or any function
    returning a tuple) was np.zeros_like of the tuple: a crash for items of other shapes."""
    source = "import numpy as np\n\n\ndef f(x, y):\n    return y, np.sum(y) * 2.0\n"
    jvp = run_generated(diffc.compile_source(source, wrt="x", mode="jvp").text)["f_jvp"]
    value, tangent = jvp(1.0, np.ones(3), 1.0)
    assert type(tangent) is tuple and np.array_equal(tangent[0], np.zeros(3)) and tangent[1] == 0.0
    linear = "import numpy as np\n\n\ndef g(a, b, r):\n    return np.sum(b * r)\n"
    product = _generic("g", "jvp", (0, 1), (("grad", (0, 1)),), linear)(np.ones((1, 3)), np.ones(2), np.ones(2),
                                                                      np.ones((1, 3)), np.ones(2))[1]
    assert np.array_equal(product[0], np.zeros((1, 3))) and np.array_equal(product[1], np.zeros(2))


def test_grad_of_grad_through_a_branch_not_taken(make_module):
    """The mirrored backward if reads the forward branch's values through phis (passes/expose.py): the
    outer gradient of a value the other branch made was zeros_like of a name never assigned."""
    m = make_module("""
        import numpy as np


        def f(b, c):
            if np.sum(b) > 0.0:
                v = b * c
            else:
                t = np.exp(np.array([c, 2.0 * c]))
                v = np.sum(t) + np.zeros(3)
            return np.sum(v * b)
        """)
    inner = diffc.grad(m.f, wrt=1)
    outer = diffc.grad(inner, wrt=(0, 1))
    for b in (np.array([0.5, 1.0, 0.2]), np.array([-0.5, -1.0, 0.2])):
        got = outer(b, 0.3)
        for k in range(2):
            np.testing.assert_allclose(got[k], numeric_gradient(inner, [b, 0.3], k), rtol=1e-6, atol=1e-8)


def test_vjp_and_jacobian_of_a_gradient_agree_with_the_hessian(user):
    """Reverse over reverse (diffc.vjp of a gradient, composed on the IR) and diffc.jacobian of a gradient
    give the Hessian's products and the Hessian itself: the three modes agree."""
    W, x, b, v = RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3), RNG.normal(size=4)
    H = diffc.hessian(user.net, wrt=1)(W, x, b)
    np.testing.assert_allclose(diffc.vjp(diffc.grad(user.net, wrt=1), wrt=1)(W, x, b, v), H @ v, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(diffc.jacobian(diffc.grad(user.net, wrt=1), wrt=1)(W, x, b), H, rtol=1e-10,
                               atol=1e-12)
    xs = RNG.normal(size=3)
    np.testing.assert_allclose(diffc.vjp(diffc.grad(user.loop), wrt=0)(xs, v[:3]),
                               diffc.hessian(user.loop)(xs) @ v[:3], rtol=1e-10, atol=1e-12)


def test_defaults_and_keyword_only_parameters_of_a_gradient_differentiated_again(make_module):
    m = make_module("""
        import numpy as np


        def f(x, y=2.0, *, z=3.0):
            return np.sin(x) * y * z
        """)
    second = diffc.grad(diffc.grad(m.f, wrt="x"), wrt=("x", "y"))
    assert second(0.5) == (pytest.approx(-np.sin(0.5) * 6), pytest.approx(np.cos(0.5) * 3))
    assert second(0.5, 1.0, z=2.0) == (pytest.approx(-np.sin(0.5) * 2), pytest.approx(np.cos(0.5) * 2))
    assert diffc.hvp(m.f, wrt="x")(0.5, 1.0) == pytest.approx(-np.sin(0.5) * 6)
    H = diffc.hessian(m.f, wrt=("x", "y"))(0.5, z=1.0)
    assert H == ((pytest.approx(-np.sin(0.5) * 2), pytest.approx(np.cos(0.5))), (pytest.approx(np.cos(0.5)), 0.0))


def test_hvp_through_nested_while_and_for_loops(make_module):
    """Tangent stacks beside the inner tape of nested loops (a while's trip count taped too)."""
    source = """
        import numpy as np


        def f(W, x, n):
            h = x
            k = 0
            while k < n:
                for j in range(2):
                    h = np.tanh(W @ h + 0.1 * j)
                k = k + 1
            return np.sum(h * h)
        """
    m = make_module(source)
    W, x, V, v = RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(3, 3)), RNG.normal(size=3)
    gradient, h = diffc.grad(m.f, wrt=(0, 1)), 1e-6
    plus, minus = gradient(W + h * V, x + h * v, 2), gradient(W - h * V, x - h * v, 2)
    expected = [(p - q) / (2 * h) for p, q in zip(plus, minus)]
    generic = _generic("f", "jvp", (0, 1), (("grad", (0, 1)),), textwrap.dedent(source))
    for got in (diffc.hvp(m.f, wrt=(0, 1))(W, x, 2, (V, v)), generic(W, x, 2, V, v)[1]):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)

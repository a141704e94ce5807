"""The Python API and the shape of the generated code."""

import pytest
from conftest import central_difference, run_generated

import diffc


def grad_of(source: str, name="f", **kw):
    return run_generated(diffc.compile_source(source, **kw).text)[f"{name}_grad"]


def assert_matches_numeric(source, *point, name="f"):
    user = run_generated(source)[name]
    grads = grad_of(source, name)(*point)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, g in enumerate(grads):
        assert g == pytest.approx(central_difference(user, point, i), rel=1e-6, abs=1e-8), i


# --- wrt -------------------------------------------------------------------
SRC = "def f(x, y, z):\n    q = x + y\n    return q * z\n"


@pytest.mark.parametrize("wrt,expected", [
    (None, (-4.0, -4.0, 3.0)), ("x", -4.0), (0, -4.0), (-1, 3.0), (("x", "z"), (-4.0, 3.0)),
    (["z", "x"], (3.0, -4.0)), (("y",), (-4.0,)), ((2, 0), (3.0, -4.0)),
])
def test_wrt_forms(make_module, wrt, expected):
    module = make_module(SRC)
    assert diffc.grad(module.f, wrt=wrt)(-2.0, 5.0, -4.0) == expected


def test_decorator_forms(make_module):
    module = make_module("""
        import diffc

        @diffc.grad
        def f(x, y):
            return x * y

        @diffc.grad(wrt="y")
        def g(x, y):
            return x * y
    """)
    assert module.f(2.0, 3.0) == (3.0, 2.0)
    assert module.g(2.0, 3.0) == 2.0
    assert "def g_grad(x, y):" in module.g.source
    assert "diffc" not in module.f.source


def test_one_parameter_gives_a_bare_gradient(make_module):
    module = make_module("import math\ndef f(x):\n    return math.sin(x)\n")
    assert diffc.grad(module.f)(0.0) == 1.0


def test_unknown_wrt_is_a_located_error(make_module):
    module = make_module("def f(x, y):\n    return x * y\n")
    with pytest.raises(diffc.SelectionError, match="has no parameter 'q'") as info:
        diffc.grad(module.f, wrt="q")
    assert info.value.lineno == 1 and "its parameters are: x, y" in str(info.value)
    with pytest.raises(diffc.SelectionError, match="position 5"):
        diffc.grad(module.f, wrt=5)


def test_value_and_grad(make_module):
    module = make_module(SRC)
    value, grads = diffc.value_and_grad(module.f)(-2.0, 5.0, -4.0)
    assert value == -12.0 and grads == (-4.0, -4.0, 3.0)
    assert diffc.value_and_grad(module.f, wrt="z")(-2.0, 5.0, -4.0) == (-12.0, 3.0)


def test_check_grad_reports_and_raises(make_module):
    module = make_module("import math\ndef f(x, y):\n    return math.sin(x) * y\n")
    report = diffc.check_grad(module.f, 0.3, 2.0)
    assert report.ok and [p.name for p in report.params] == ["x", "y"]
    assert all(p.rel_error < 1e-6 for p in report.params)
    assert "rel error" in str(report)


def test_check_grad_catches_a_wrong_gradient(make_module, monkeypatch):
    module = make_module("def f(x):\n    return x * x\n")
    import diffc.tools.gradcheck as check

    real = check.compile_live
    monkeypatch.setattr(check, "compile_live", lambda fn, **kw: (lambda x: 3 * real(fn, **kw)(x)))
    with pytest.raises(diffc.GradientCheckError, match="MISMATCH"):
        diffc.check_grad(module.f, 1.5)


def test_higher_order(make_module):
    module = make_module("import math\ndef f(x):\n    return math.sin(x) * x\n")
    second = diffc.grad(diffc.grad(module.f))
    x = 0.7
    import math

    assert second(x) == pytest.approx(2 * math.cos(x) - x * math.sin(x), rel=1e-12)


def test_source_attribute_is_standalone(make_module):
    module = make_module("from math import sin\ndef f(x):\n    return sin(x)\n")
    g = diffc.grad(module.f)
    assert g.source.startswith("from math import sin, cos\n") or "from math import" in g.source
    namespace = run_generated(g.source)
    assert namespace["f_grad"](0.0) == 1.0


def test_defaults_and_keyword_only(make_module):
    module = make_module("def f(x, y=2.0, *, z=3.0):\n    return x * y * z\n")
    g = diffc.grad(module.f)
    assert g(1.0) == (6.0, 3.0, 2.0)
    assert g(1.0, z=1.0) == (2.0, 1.0, 2.0)
    text = diffc.compile_source("def f(x, y=2.0, *, z=3.0):\n    return x * y * z\n").text
    assert "def f_grad(x, y=2.0, *, z=3.0):" in text


# --- statements ------------------------------------------------------------
def test_reassignment_keeps_needed_values():
    src = "import math\n\ndef f(x, y):\n    x = x * y\n    x = math.sin(x)\n    return x * y\n"
    assert_matches_numeric(src, 0.4, 1.3)
    text = diffc.compile_source(src).text
    assert "x_1 = x * y" in text  # the old x is still needed by grad_y


def test_reassignment_reuses_the_name_when_safe():
    src = "def f(x, y):\n    s = x + y\n    s += 1.0\n    s *= 2.0\n    return s\n"
    text = diffc.compile_source(src).text
    assert "    s = s + 1.0\n    s = s * 2.0\n" in text
    assert_matches_numeric(src, 0.4, 1.3)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_augmented_assignment(op):
    assert_matches_numeric(f"def f(x, y):\n    a = x + 0.5\n    a {op} y\n    return a * x\n", 0.8, 1.3)


def test_tuple_assignment_and_swap():
    src = "def f(a, b):\n    a, b = b, a * b\n    a, b = b, a\n    return a * a + 3.0 * b\n"
    assert_matches_numeric(src, 0.7, -1.2)


def test_chained_and_copy_assignments():
    assert_matches_numeric("def f(x):\n    a = b = x * 2.0\n    c = a\n    return c * b\n", 0.9)


def test_docstring_comments_and_bare_return_expression():
    src = 'import math\n\ndef f(x, y):\n    """Doc."""\n    # a comment\n    return math.exp(x) * y  # trailing\n'
    assert_matches_numeric(src, 0.2, 1.5)


def test_fan_out_adds():
    src = "def f(x):\n    y = x * 3.0\n    z = y * x\n    return z + x\n"
    text = diffc.compile_source(src).text
    assert "grad_x = grad_out + grad_z * y + grad_y * 3.0" in text
    square = diffc.compile_source("def f(x):\n    return x * x\n").text
    assert "grad_x = grad_out * 2 * x" in square
    assert_matches_numeric(src, 1.5)


def test_unused_parameter_gets_a_zero():
    src = "def f(x, y):\n    return x * 2.0\n"
    text = diffc.compile_source(src).text
    assert "grad_y = 0.0" in text
    assert grad_of(src)(1.0, 5.0) == (2.0, 0.0)


def test_constant_output_and_integer_constants():
    assert grad_of("def f(x):\n    return 3\n")(1.0) == 0.0
    assert_matches_numeric("def f(x):\n    return 2 * x ** 3 - 1 + (-1) * x\n", 1.5)


def test_module_constants_are_copied():
    src = "EPS = 1e-8\n\ndef f(x):\n    return x / (x * x + EPS)\n"
    text = diffc.compile_source(src).text
    assert "EPS = 1e-8" in text
    assert_matches_numeric(src, 0.5)


def test_user_names_never_collide():
    src = ("import math\nt1 = 2.0\n\ndef f(x, grad_x, out, np):\n    t2 = x * grad_x\n"
           "    return math.exp(t2 * np) * out * t1\n")
    text = diffc.compile_source(src).text
    assert "grad_x_1" in text and "grad_grad_x" in text
    assert_matches_numeric(src, 0.3, 0.5, 1.5, 0.7)


def test_param_named_like_a_module():
    src = "from math import sin\n\ndef f(x, math):\n    return sin(x) * math\n"
    text = diffc.compile_source(src).text
    assert "from math import sin, cos" in text
    assert_matches_numeric(src, 0.3, 2.0)


def test_no_redundant_lines():
    text = diffc.compile_source("import math\n\ndef f(x, y):\n    return math.exp(x * 1.0) / y + x ** 1\n").text
    backward = text.split("# backward", 1)[1]
    for junk in ["* 1.0", "+ 0", "* 0", "0 *", "1.0 *"]:
        assert junk not in backward


def test_deterministic():
    src = "import math\n\ndef f(a, b, c):\n    d = a * b + math.sin(c)\n    e = d * d / (1.0 + c * c)\n    return e\n"
    assert diffc.compile_source(src).text == diffc.compile_source(src).text


def test_comments_flag():
    src = "def f(x, y):\n    q = x + y\n    return q * x\n"
    text = diffc.compile_source(src, comments=True).text
    assert "# grad of: q = x + y" in text and "# grad of: return q * x" in text


def test_function_from_an_ipython_cell():
    globalipapp = pytest.importorskip("IPython.testing.globalipapp")
    shell = globalipapp.start_ipython()
    shell.run_cell("import diffc, math\ndef f(x, y):\n    return math.sin(x) * y\n", store_history=True)
    result = shell.run_cell("g = diffc.grad(f)\nvalue = g(0.0, 2.0)", store_history=True)
    assert result.error_in_exec is None
    assert shell.user_ns["value"] == (2.0, 0.0)
    failed = shell.run_cell("def h(x):\n    return sorted(x)\ndiffc.grad(h)", store_history=True)
    assert isinstance(failed.error_in_exec, diffc.UnknownCallError)
    assert failed.error_in_exec.lineno == 2 and "sorted(x)" in failed.error_in_exec.source_line


def test_compile_source_with_a_filename():
    module = diffc.compile_source("def f(x):\n    return x * x\n", "mine.py")
    assert module.text.startswith("# Generated by diffc from mine.py")
    assert [f.grad_name for f in module.functions] == ["f_grad"]


def test_sigmoid_is_one_gate_unless_told_otherwise():
    src = "import math\n\ndef f(x, w):\n    s = w * x\n    L = 1.0 / (1.0 + math.exp(-s))\n    return L\n"
    fused = diffc.compile_source(src).text
    assert "    L = 1.0 / (1.0 + math.exp(-s))\n" in fused and "grad_s = grad_L * (1 - L) * L" in fused
    chain = diffc.compile_source(src, fuse=False).text
    assert "math.exp(-s)" in chain and "(1 - L)" not in chain
    for text in (fused, chain):
        grad = run_generated(text)["f_grad"]
        assert grad(0.3, -1.2) == pytest.approx(grad_of(src)(0.3, -1.2), rel=1e-12)
    assert_matches_numeric(src, 0.3, -1.2)
    # A named exp is the user's own gate: no fusion.
    named = "import math\n\ndef f(x):\n    e = math.exp(-x)\n    return 1.0 / (1.0 + e)\n"
    assert "(1 - " not in diffc.compile_source(named).text

"""Issue 8, frontend side: correct or refused, never silently wrong.

Each case from the issue is pinned: the gradient against central differences, or the located
refusal. Activity analysis: what touches an active value has a rule or is refused; what does not
needs no rule at all.
"""

import textwrap

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc
from diffc import compiler, pipeline

X3 = np.array([0.3, -0.5, 1.2])
Y3 = np.array([0.9, 0.1, -0.4])


def _grad_matches(make_module, body, *args, wrt=0):
    """diffc.grad of ``f`` (defined by ``body``) at ``args`` against central differences, and the
    CLI's generated file (no shapes known) giving the same numbers."""
    source = "import math\nimport numpy as np\n\n\n" + textwrap.dedent(body)
    module = make_module(source)
    got = diffc.grad(module.f, wrt=wrt)(*args)
    expected = numeric_gradient(module.f, list(args), wrt)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    generated = run_generated(diffc.compile_source(source, functions="f", wrt=wrt).text)["f_grad"]
    np.testing.assert_allclose(generated(*args), expected, rtol=1e-6, atol=1e-8)
    return module


def _refused(body, message, line, cls=diffc.UnsupportedError, wrt=None, shapes=None):
    source = "import math\nimport numpy as np\n\n\n" + textwrap.dedent(body)
    with pytest.raises(cls) as info:
        diffc.compile_source(source, "user.py", functions="f", wrt=wrt, shapes=shapes)
    error = diffc.errors.flatten(info.value)[0]
    assert message in error.message, error.message
    assert (error.filename, error.lineno) == ("user.py", line) and error.col_offset is not None
    return error


# -- case 1 and case 10: lists and tuples of active values ------------------------------------------
LISTS = [
    ("def f(a):\n    b = [1, a * a, 2]\n    return np.sum(b)\n", (0.7,)),
    ("def f(a):\n    x = [1.0, a, 3.0]\n    return x[0] * x[1]\n", (0.7,)),
    ("def f(a):\n    t = (a, 2.0 * a)\n    return t[0] * t[-1]\n", (0.7,)),
    ("def f(x):\n    return np.mean([x, x + 2])\n", (X3,)),
    ("def f(x):\n    return np.linalg.norm((x, x + 2))\n", (X3,)),
    ("def f(x, y):\n    return np.max([x, y])\n", (X3, Y3)),
    ("def f(x):\n    return np.sum(np.exp([x, 2 * x]))\n", (X3,)),
    ("def f(a):\n    return sum([a, a * a])\n", (0.7,)),
    ("def f(a, b):\n    return np.sum(np.array([a, b * a]))\n", (0.7, 0.4)),
    ("def f(a, b):\n    return np.sum(np.array([a, b * a]))\n", (X3, Y3)),
    ("def f(a, b):\n    s = 0.0\n    for v in [a, b]:\n        s = s + v * v\n    return s\n", (0.7, 0.4)),
    ("def f(a):\n    t = (a, 2.0 * a)\n    p, q = t\n    return p * q\n", (0.7,)),
    ("def f(x):\n    return np.sum(np.array([[x[0], x[1]], [x[2], 1.0]]) ** 2)\n", (X3,)),
    ("def f(x):\n    t = (x, x * 2)\n    return np.sum(np.concatenate(t) ** 2)\n", (X3,)),
    ("def f(x):\n    return np.sum(np.stack([x, x * x]) * np.array([[1.0], [2.0]]))\n", (X3,)),
    ("def f(a):\n    return max([a, 2 * a, 3.0]) + len((a, a)) * a\n", (0.7,)),
    ("def f(x):\n    s = 0.0\n    for v in (x, 2 * x):\n        if np.sum(v) > 0:\n            break\n"
     "        s = s + np.sum(v ** 2)\n    return s\n", (-X3,)),
    ("def f(x, c):\n    t = [x, x] if c > 0 else [x, 2 * x]\n    return np.sum(np.array(t))\n", (X3, -1.0)),
    ("def f(x):\n    y = np.zeros(3)\n    y[0:2] = [x[2], x[0] * x[1]]\n    return np.sum(y ** 2)\n", (X3,)),
    ("def f(x):\n    y = x * 1.0\n    y[0:2] += [x[2], x[0] * x[1]]\n    return np.sum(y ** 2)\n", (X3,)),
    ("def f(a):\n    c = [1, a * a, 2]\n    return np.sum(c) * np.max(c)\n", (0.7,)),
    ("def f(a):\n    s = a * sum([])\n    for v in []:\n        s = s + v\n    return s + a * a\n", (0.7,)),
]


@pytest.mark.parametrize("body,args", LISTS, ids=[b.splitlines()[-1].strip() for b, _ in LISTS])
def test_lists_and_tuples_of_active_values(make_module, body, args):
    _grad_matches(make_module, body, *args)


def test_a_literal_list_reads_as_written():
    text = diffc.compile_source("import numpy as np\n\n\ndef f(a):\n    x = [1.0, a, 3.0]\n"
                                "    for v in [a, x[2]]:\n        a = a * v\n    return x[0] * a\n").text
    assert "[" not in text.split("# backward")[0]  # indexing and the loop resolved at compile time


def test_a_ragged_list_is_refused_when_shapes_are_known(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x, y):\n    return np.sum(np.array([x, y * x[0]]))\n")
    with pytest.raises(diffc.UnsupportedError, match="different shapes") as info:
        diffc.grad(module.f)(X3, 0.5)
    assert info.value.lineno == 5
    np.testing.assert_allclose(diffc.grad(module.f)(X3, Y3)[1], X3[0] * np.ones(3))  # equal shapes stack


@pytest.mark.parametrize("body,message,line", [
    ("def f(x):\n    t = [x, x * 2]\n    s = 0.0\n    for i in range(2):\n        s = s + np.sum(t[i])\n"
     "    return s\n", "a list or tuple of values that depend on the parameters", 9),
    ("def f(x, c):\n    t = [x, x] if c > 0 else [x, 2 * x]\n    return np.sum(t)\n",
     "a list or tuple of values that depend on the parameters", 7),
    ("def f(x):\n    t = [x, 2 * x]\n    t.append(x)\n    return np.sum(t)\n", "'t.append' is only supported", 7),
    ("def f(x):\n    t = [x, 2 * x]\n    t[0] = x * 3\n    return np.sum(t)\n", "'t' is a list or tuple", 7),
    ("def f(x):\n    t = [x, 2 * x]\n    return np.sum(t * 2)\n", "a list or tuple of values", 7),
])
def test_what_is_not_handled_on_lists_is_refused(body, message, line):
    _refused(body, message, line)


# -- activity: inactive code needs no rule, active code without one is refused ----------------------
INACTIVE = [
    ("def f(a, b):\n    return np.sum(np.stack([a, b]) * np.array([[1.0], [2.0]]))\n", (X3, Y3)),
    ("def f(x):\n    return np.sum(x * np.ones(3) * 2)\n", (X3,)),
    ("def f(x, consts):\n    return x * sorted(consts)[0]\n", (0.7, [3.0, 1.0])),
    ("def f(x):\n    return np.sum(x * np.random.default_rng(0).normal(size=3))\n", (X3,)),
    ("def f(x):\n    return np.sum(x * np.cumsum(np.ones(3)))\n", (X3,)),
    ("def f(x):\n    return np.sum(x[np.argsort(x)] ** 2)\n", (X3,)),
]


@pytest.mark.parametrize("body,args", INACTIVE, ids=[b.splitlines()[-1].strip() for b, _ in INACTIVE])
def test_inactive_calls_need_no_rule(make_module, body, args):
    _grad_matches(make_module, body, *args)


def test_an_inactive_call_is_copied_as_written():
    text = diffc.compile_source("import numpy as np\n\n\ndef f(x):\n"
                                "    return np.sum(x * np.random.default_rng(0).normal(size=3))\n").text
    assert "np.random.default_rng(0).normal(size=3)" in text


def test_only_the_differentiated_parameters_are_active(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x, y):\n    return np.sum(x * np.nancumsum(y))\n")
    grad = diffc.grad(module.f, wrt="x")(X3, Y3)
    np.testing.assert_allclose(grad, np.nancumsum(Y3))
    with pytest.raises(diffc.UnknownCallError, match="'numpy.nancumsum'"):
        diffc.grad(module.f, wrt="y")(X3, Y3)


@pytest.mark.parametrize("body,message,cls", [
    ("def f(x):\n    return np.sum(np.nancumsum(x))\n", "cannot differentiate call to 'numpy.nancumsum'",
     diffc.UnknownCallError),
    ("def f(x):\n    return np.sum(x.conj())\n", "the method 'conj' is not supported", diffc.UnsupportedError),
    ("def f(x):\n    return x[0] and x[1]\n", "'and' and 'or' return one of their operands", diffc.UnsupportedError),
    ("def f(x):\n    return np.sum(np.arange(x[0], 3.0))\n", "np.arange's values depend on its start",
     diffc.UnsupportedError),
    ("def f(x):\n    return np.sum(x.astype('f8') * x)\n", "cannot tell which type this cast converts to",
     diffc.UnsupportedError),
])
def test_active_values_without_a_rule_are_refused(body, message, cls):
    error = _refused(body, message, 6, cls)
    assert error.hint


@pytest.mark.parametrize("call", ["y.sort()", "np.nancumsum(np.ones(3), out=y)", "np.fill_diagonal(y, 0.0)"])
def test_a_call_that_changes_an_array_in_place_is_refused(call):
    _refused(f"def f(x):\n    y = x * 1.0\n    z = {call}\n    return np.sum(y * x)\n", "changes an array in place", 7)


def test_a_module_level_list_in_a_call_is_its_value(make_module):
    # issue 11: sorted(CONSTS) of a module-level list nothing changes is resolved when compiling.
    source = "import numpy as np\n\nCONSTS = [3.0, 1.0]\n\n\ndef f(x):\n    return x * sorted(CONSTS)[0] * CONSTS[0]\n"
    assert diffc.grad(make_module(source).f)(2.0) == pytest.approx(3.0)
    assert run_generated(diffc.compile_source(source).text)["f_grad"](2.0) == pytest.approx(3.0)


def test_a_module_variable_in_a_call_is_refused_with_a_hint():
    error = _refused("CONSTS = [3.0, 1.0]\nCONSTS.sort()\n\n\ndef f(x):\n    return x * sorted(CONSTS)[0]\n",
                     "the module-level list 'CONSTS' may be changed in place", 10)
    assert "parameter" in error.hint


@pytest.mark.parametrize("body,args", [
    ("def f(x):\n    return np.sum(np.full(3, x[0]) * x)\n", (X3,)),
    ("def f(x):\n    return np.sum(np.full_like(x, x[1]) * x)\n", (X3,)),
    ("def f(x):\n    return np.sum(np.full((2, 3), x) ** 2)\n", (X3,)),
])
def test_a_fill_value_has_a_gradient(make_module, body, args):
    _grad_matches(make_module, body, *args)


# -- case 17: casts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body,args", [
    ("def f(x):\n    return np.sum(x.astype(float) * x)\n", (X3,)),
    ("def f(x):\n    return np.sum(x.astype(np.float64) ** 2)\n", (X3,)),
    ("def f(x):\n    return np.float64(x) * x\n", (0.7,)),
    ("def f(x):\n    return float(x) * x\n", (0.7,)),
    ("def f(x):\n    return np.sum(x.astype(int) * x)\n", (X3 * 3,)),
    ("def f(x):\n    return np.sum(np.int64(x[2]) * x)\n", (X3 * 3,)),
    ("def f(x):\n    return np.sum((x > 0).astype(float) * x)\n", (X3,)),
])
def test_float_casts_keep_the_gradient_int_casts_cut_it(make_module, body, args):
    _grad_matches(make_module, body, *args)


# -- case 12: aliasing through control flow -----------------------------------------------------------
@pytest.mark.parametrize("body,line", [
    ("def f(a, s):\n    b = a * 2.0\n    c = b if s > 0 else a * 3.0\n    c[0] = 5.0\n    return np.sum(b)\n", 8),
    ("def f(a, s):\n    b = a * 2.0\n    c = b[0:2] if s > 0 else a * 3.0\n    c[0] = 5.0\n    return np.sum(b)\n",
     8),
    ("def f(a, s):\n    b = a * 2.0\n    if s > 0:\n        c = b\n    else:\n        c = a * 3.0\n    c[0] = 5.0\n"
     "    return np.sum(b)\n", 11),
    ("def f(a, n):\n    b = a * 2.0\n    c = b\n    for i in range(n):\n        c = c * 2.0\n    c[0] = 5.0\n"
     "    return np.sum(b * c)\n", 10),
    ("def f(a):\n    b = a * np.ones((2, 3))\n    for row in b:\n        row *= 2.0\n    return np.sum(b)\n", 8),
    ("def f(a):\n    b = a\n    s = 0.0\n    for i in range(2):\n        b[0] = 1.0\n        s = s + np.sum(a)\n"
     "    return s\n", 9),
    ("def f(a):\n    b = a * 1.0\n    c = a * 2.0\n    for i in range(2):\n        c[0] = 1.0\n        c = b\n"
     "    return np.sum(b)\n", 9),
    ("def f(a):\n    b = a * 1.0\n    c = a * 2.0\n    for i in range(2):\n        b[0] = 1.0\n        b, d = c, 0.0\n"
     "    return np.sum(c * a)\n", 9),
    ("def f(a):\n    b = a * 1.0\n    t = [b, a]\n    b[0] = 5.0\n    return np.sum(np.array(t) * a)\n", 8),
])
def test_aliasing_through_control_flow_is_refused(body, line):
    error = _refused(body, "still refers to the same array", line)
    assert ".copy()" in error.hint


def test_a_copy_in_a_branch_is_not_an_alias(make_module):
    body = ("def f(a, s):\n    b = a * 2.0\n    c = b.copy() if s > 0 else a * 3.0\n    c[0] = 5.0\n"
            "    return np.sum(b * c)\n")
    _grad_matches(make_module, body, X3, 1.0)
    _grad_matches(make_module, body, X3, -1.0)


# -- the output must be a scalar ----------------------------------------------------------------------
def test_an_array_output_is_a_compile_error_when_shapes_are_known(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x):\n    return x * 2.0\n\n\ndef g(W, x):\n"
                         "    return np.dot(W, x)\n")
    with pytest.raises(diffc.UnsupportedError, match=r"returns an array of shape \(x.shape\[0\],\)") as info:
        diffc.grad(module.f)(X3)
    assert info.value.lineno == 5 and "np.sum" in info.value.hint
    with pytest.raises(diffc.UnsupportedError, match=r"returns an array of shape \(W.shape\[0\],\)"):
        diffc.grad(module.g)(np.ones((2, 3)), X3)
    _refused("def f(x):\n    return x * 2.0\n", "returns an array of shape (N,)", 6,
             shapes={"x": compiler.parse_shape("N")})


def test_an_array_output_raises_at_run_time_when_shapes_are_unknown():
    source = "import numpy as np\n\n\ndef f(x):\n    return x * 2.0\n"
    generated = run_generated(diffc.compile_source(source).text)["f_grad"]
    with pytest.raises(ValueError, match=r"f returned a value of shape \(3,\); grad needs a scalar output"):
        generated(X3)
    assert generated(0.5) == 2.0


def test_a_provably_scalar_output_has_no_check():
    text = diffc.compile_source("import numpy as np\n\n\ndef f(x):\n    return np.sum(x * 2.0)\n").text
    assert "ndim" not in text


def test_a_returned_tuple_or_list_is_refused():
    _refused("def f(x):\n    t = (x, x * 2)\n    return t\n", "returns a list or tuple", 7)
    _refused("def f(x):\n    return [x, x * 2]\n", "returns a list or tuple", 6)


# -- generated code is checked before it is handed out ------------------------------------------------
def test_generated_code_that_does_not_compile_is_an_internal_error(monkeypatch):
    real = pipeline.emit_function

    def broken(*args, **kwargs):
        text, used, helpers = real(*args, **kwargs)
        return text.replace("return ", "return (", 1), used, helpers

    monkeypatch.setattr(pipeline, "emit_function", broken)  # the emit pass (diffc/pipeline.py)
    with pytest.raises(diffc.InternalError, match="does not compile") as info:
        diffc.compile_source("def f(x):\n    return x * x\n", "user.py")
    assert info.value.lineno == 1 and "bug" in info.value.message and "report" in info.value.hint


def test_generated_code_reading_an_undefined_name_is_an_internal_error(monkeypatch):
    real = pipeline.emit_function

    def broken(*args, **kwargs):
        text, used, helpers = real(*args, **kwargs)
        return text.replace("return grad_x", "return grad_y"), used, helpers

    monkeypatch.setattr(pipeline, "emit_function", broken)  # the emit pass (diffc/pipeline.py)
    with pytest.raises(diffc.InternalError, match="'grad_y', which it never defines"):
        diffc.compile_source("def f(x):\n    return x * x\n", "user.py")


def test_a_gradient_with_a_run_time_check_can_be_differentiated_again(make_module):
    module = make_module("import numpy as np\n\n\ndef f(x):\n    return x ** 3 * np.exp(x)\n")
    first = diffc.grad(module.f)
    assert "needs a scalar output" in first.__diffc_source__  # the output's shape is not known yet
    x = 0.5
    assert diffc.grad(first)(x) == pytest.approx((6 * x + 6 * x ** 2 + x ** 3) * np.exp(x), rel=1e-12)


def test_a_gradient_of_the_wrong_shape_is_an_internal_error(monkeypatch):
    from diffc.ops.catalogue import OPS

    broken = lambda b, g, ans, ins, i, params: b.call("sum", b.mul(g, ans))  # noqa: E731  (drops the shape)
    monkeypatch.setattr(OPS["exp"], "vjp", broken)
    with pytest.raises(diffc.InternalError, match="gradient for 'x' of shape"):
        diffc.compile_source("import numpy as np\n\n\ndef f(x):\n    return np.sum(np.exp(x))\n", "user.py",
                             shapes={"x": compiler.parse_shape("N")})

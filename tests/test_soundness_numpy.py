"""Soundness of the NumPy and math rules (issues 8 and 10): each case a minimal reproducer,
checked against central differences (or the documented convention at a kink) through both
compile paths: the decorator, which knows the shapes, and ``compile_source`` without shapes,
whose code must hold for every shape (it calls the run-time helpers of diffc.backends.runtime).
"""

import warnings

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc

RNG = np.random.default_rng(8)


def R(*shape):
    return RNG.normal(size=shape) if shape else float(RNG.normal())


def gradients(make_module, body, args, wrt=None, header="import math\nimport numpy as np\n\n\n", strict=True):
    """The gradients of ``f`` (defined by ``body``) at ``args``, by the decorator and by the generic code."""
    text = header + body
    wrt = tuple(range(len(args))) if wrt is None else wrt
    module = make_module(text)
    with warnings.catch_warnings():
        # A gradient at a kink must not divide by zero on the way (unless the function itself does).
        warnings.simplefilter("error" if strict else "ignore")
        by_decorator = diffc.grad(module.f, wrt=wrt)(*args)
        generic = run_generated(diffc.compile_source(text, wrt=wrt).text)["f_grad"](*args)
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)  # noqa: E731
    return module.f, as_tuple(by_decorator), as_tuple(generic), wrt


def check(make_module, body, args, wrt=None, expected=None, **kw):
    f, by_decorator, generic, wrt = gradients(make_module, body, args, wrt, **kw)
    for k, i in enumerate(wrt):
        want = numeric_gradient(f, list(args), i) if expected is None else expected[k]
        for path, got in (("decorator", by_decorator[k]), ("generic", generic[k])):
            assert np.shape(got) == np.shape(args[i]), f"{path}: gradient {i} has shape {np.shape(got)}"
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=f"{path}, gradient {i}")


# ----------------------------------------------------------------------------------------------
# Issue 8 case 3, issue 10 item 2: np.dot and matmul for every rank
# ----------------------------------------------------------------------------------------------
SHAPES = [(), (3,), (2, 3), (3, 3), (2, 3, 3), (1, 3, 3), (2, 2, 3)]
PRODUCTS = [(form, a, b) for form in ("a @ b", "np.dot(a, b)", "np.matmul(a, b)", "a.dot(b)")
            for a in SHAPES for b in SHAPES if not (form == "a.dot(b)" and a == ())]


def _valid(form, a, b):
    try:
        eval(form, {"np": np}, {"a": np.ones(a) if a else 1.0, "b": np.ones(b) if b else 1.0})
    except (ValueError, AttributeError, TypeError):
        return False
    return True


@pytest.mark.parametrize("form,sa,sb", [p for p in PRODUCTS if _valid(*p)], ids=str)
def test_dot_and_matmul_every_rank(form, sa, sb, make_module):
    # np.sin makes every entry of the product count differently (a plain sum would hide a transpose).
    check(make_module, f"def f(a, b):\n    return np.sum(np.sin({form}))\n", [R(*sa), R(*sb)])


@pytest.mark.parametrize("form", ["a @ b", "np.dot(a, b)"])
@pytest.mark.parametrize("sa,sb", [((2, 1, 2, 3), (5, 3, 4)), ((3,), (2, 1, 3, 4)), ((2, 1, 2, 3), (3,)),
                                   ((2, 3), (4, 1, 3, 2))])
def test_dot_and_matmul_rank_4(form, sa, sb, make_module):
    check(make_module, f"def f(a, b):\n    return np.sum(np.sin({form}))\n", [R(*sa), R(*sb)])


def test_dot_rank_3_is_not_matmul(make_module):
    check(make_module, "def f(a, b):\n    return np.sum(np.dot(a, b) * np.arange(16.0).reshape(2, 2, 4))\n",
          [R(2, 3), R(2, 3, 4)])


@pytest.mark.parametrize("body", [
    "def f(a, b):\n    return a @ b\n",
    "def f(a, b):\n    return np.dot(a, a) + a.dot(b)\n",
    "def f(a, b):\n    return np.matmul(a, b) * 2.0\n",
])
def test_vector_products_returned_as_they_are(body, make_module):
    check(make_module, body, [R(3), R(3)])


def test_power_iteration_loses_shapes_in_the_loop(make_module):
    body = ("def f(A, v):\n    for i in range(3):\n        v = A @ v\n        v = v / np.linalg.norm(v)\n"
            "    return v @ v[::-1] + np.dot(v, v)\n")
    check(make_module, body, [R(3, 3), R(3)])


@pytest.mark.parametrize("rows", [1, 2])
def test_a_slice_that_may_be_empty_is_not_assumed_the_shape_of_another(rows, make_module):
    # Fuzz 11:961: y[1:] - w with shapes (?, 3) and (?, 3) is (0, 3) - (1, 3) for two rows: w's gradient
    # must be summed back (it was passed on with shape (0, 3): a crash in the generated code).
    body = "def f(a):\n    w = a[1:]\n    y = w * 1.0\n    y[1:] -= w\n    return np.sum(y * y)\n"
    check(make_module, body, [R(rows, 3)])


# ----------------------------------------------------------------------------------------------
# Issue 8 case 4, issue 10 item 4: powers, hypot and norm at 0 (JAX's values: x ** y has gradient
# 0 in y where x == 0 and 0 in x where y == 0; hypot and norm have gradient 0 at 0, as abs does)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,expected", [
    ([0.0, 2.0], None), ([0.0, 1.0], None), ([2.0, 0.0], None), ([1.5, -2.0], None), ([3.0, 0.5], None),
    ([0.0, 0.0], [0.0, 0.0]),  # 0 ** y is undefined for y < 0: no central difference, JAX's values
])
def test_scalar_power_at_zero(args, expected, make_module):
    for header in ("import math\n\n\n", "import math\nimport numpy as np\n\n\n"):
        check(make_module, "def f(x, y):\n    return x ** y + math.pow(x, y)\n", args, header=header,
              expected=expected)


@pytest.mark.parametrize("x,y", [
    (np.array([0.0, 0.0, 2.0, 1.5]), np.array([2.0, 1.0, 0.0, 0.5])),
    (np.zeros((2, 3)), np.array([1.0, 2.0, 3.0])),
    (0.0, np.array([1.0, 2.0, 3.0])),
    (np.array([[0.5], [1.0]]), 0.0),
])
def test_numpy_power_at_zero(x, y, make_module):
    check(make_module, "def f(x, y):\n    return np.sum(np.power(x, y) + x ** y)\n", [x, y])


def test_numpy_zero_to_the_zero(make_module):
    x, y = np.array([0.0, 0.0, 1.0]), np.array([0.0, 2.0, 0.0])
    check(make_module, "def f(x, y):\n    return np.sum(np.power(x, y))\n", [x, y],
          expected=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_zero_base_and_constant_bases(make_module):
    check(make_module, "def f(a):\n    return 0.0 ** a + 2.0 ** a + math.e ** a\n", [1.5])
    check(make_module, "def f(a):\n    return np.sum(0.0 ** a + 2.0 ** a)\n", [np.array([0.5, 2.0])])


def test_negative_base_in_the_exponent_is_nan_not_a_crash(make_module):
    f, by_decorator, generic, _ = gradients(make_module, "def f(x, y):\n    return x ** y\n", [-2.0, 2.0],
                                            header="import math\n\n\n")
    for grads in (by_decorator, generic):
        assert grads[0] == pytest.approx(-4.0) and np.isnan(grads[1])


@pytest.mark.parametrize("args", [[0.0, 0.0], [0.0, 2.0], [3.0, -4.0]])
def test_hypot_at_zero(args, make_module):
    check(make_module, "def f(a, b):\n    return math.hypot(a, b) + math.hypot(a, b, a)\n", args)


@pytest.mark.parametrize("x", [np.zeros(3), np.zeros((2, 2)), np.array([3.0, -4.0])])
def test_norm_at_zero(x, make_module):
    check(make_module, "def f(x):\n    return np.linalg.norm(x) + np.linalg.norm(x) ** 2\n", [x])


# ----------------------------------------------------------------------------------------------
# Issue 8 case 5: indexing that mixes integer arrays, masks, slices, None and Ellipsis
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index,shape", [
    ("[[0, 1, 2], :, :]", (4, 3, 5)), ("[3, 2:, [1, 3]]", (4, 4, 5)), ("[:, [0, 2]]", (3, 4)),
    ("[[0, 0, 2], 1:]", (3, 4)), ("[[2, 0, 2], 1::2]", (3, 4)), ("[[[0, 1], [1, 1]], ::-1]", (3, 4)),
    ("[None, [0, 0], ..., 1]", (3, 4, 2)), ("[..., [1, 1]]", (3, 4)), ("[1:, x[0] > 0]", (3, 4)),
    ("[x > 0]", (3, 4)), ("[:2, None, [0, 0, 3]]", (3, 4)),
])
def test_mixed_fancy_and_slice_indexing(index, shape, make_module):
    check(make_module, f"def f(x):\n    return np.sum(np.sin(x{index}))\n", [R(*shape)])


@pytest.mark.parametrize("index,shape,value", [
    ("[[0, 2], :]", (3, 4), (2, 4)), ("[:, [0, 2]]", (3, 4), (3, 2)), ("[1, 1:, [0, 2]]", (3, 3, 4), (2,)),
    ("[[0, 0, 2], 1:]", (3, 4), (3, 3)), ("[..., [1, 1]]", (3, 4), ()), ("[:, x[0] > 0]", (3, 4), ()),
    ("[[2, 0], ::2]", (3, 4), (2, 2)), ("[None, [0, 2]]", (3, 4), (1, 2, 4)),
])
@pytest.mark.parametrize("op", ["=", "+=", "*="])
def test_mixed_indexing_in_place(index, shape, value, op, make_module):
    body = f"def f(x, v):\n    y = x * 1.0\n    y{index} {op} v * np.sum(x)\n    return np.sum(np.sin(y))\n"
    check(make_module, body, [R(*shape), R(*value)])


# ----------------------------------------------------------------------------------------------
# Issue 8 case 7: np.mean of a Python float
# ----------------------------------------------------------------------------------------------
def test_mean_of_a_float(make_module):
    check(make_module, "def f(x):\n    return np.mean(x) * x\n", [0.7])
    check(make_module, "def f(x, y):\n    return np.mean(x * y) + np.mean(y) * np.mean(x)\n", [0.7, R(3)])


# ----------------------------------------------------------------------------------------------
# Issue 8 case 13, issue 10 item 3: np.clip with array bounds, bounds out of order, None bounds
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [
    [(3,), (2, 3), (2, 1)], [(3,), (), ()], [(), (4,), (4,)], [(3, 1), (4,), ()], [(6,), (6,), (6,)],
    [(), (), ()], [(2, 3), (3,), (2, 1)],
])
def test_clip_with_array_bounds(shapes, make_module):
    check(make_module, "def f(x, lo, hi):\n    return np.sum(np.sin(np.clip(x, lo, hi)))\n", [R(*s) for s in shapes])


def test_clip_bounds_out_of_order_give_hi(make_module):
    # lo > hi everywhere: NumPy returns hi, so hi takes the whole gradient and lo none.
    x, lo, hi = np.array([-1.0, 0.2, 3.0]), np.array([0.5, 0.5, 0.5]), np.array([0.1, 0.1, 0.1])
    check(make_module, "def f(x, lo, hi):\n    return np.sum(np.sin(np.clip(x, lo, hi)))\n",
          [x, lo, hi])
    check(make_module, "def f(x, lo):\n    return np.sum(np.clip(x, lo, 0.1))\n", [x, lo])


@pytest.mark.parametrize("call", ["np.clip(x, None, 0.5)", "np.clip(x, 0.0, None)", "x.clip(None, 0.5)",
                                  "np.clip(x, a_min=-0.2, a_max=0.5)", "np.clip(x, -0.3, a_max=0.5)",
                                  "x.clip(min=-0.3)", "np.clip(x, max=0.2)"])
def test_clip_with_one_bound_and_keywords(call, make_module):
    check(make_module, f"def f(x):\n    return np.sum(np.sin({call}))\n", [R(5)])


# ----------------------------------------------------------------------------------------------
# Issue 8 case 18 (part): an inf or NaN the forward pass discarded does not leak as 0 * inf
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,expected", [
    ("np.clip(np.exp(-1000.0 * x), 0.0, 1.0)", [0.0, -1000.0, 0.0, 0.0]),  # exp(1000) = inf, clipped to 1
    ("np.maximum(np.log(x), 0.0)", [0.0, 0.0, 0.0, 0.5]),  # log(0) = -inf and log(-1) = nan lose to 0
    ("np.minimum(0.0, -np.sqrt(x) * 2.0)", [0.0, 0.0, -2 ** 0.5, -(2 ** -0.5)]),
    ("np.where(x > 0.1, x, np.exp(1000.0 * x))", [0.0, 1000.0, 1.0, 1.0]),
    ("np.max(np.log(x + 1.0))", [0.0, 0.0, 0.0, 1 / 3]),  # log(0) = -inf is not the max
    ("np.min(-np.log(np.abs(x)), axis=0, keepdims=True)", [0.0, 0.0, 0.0, -0.5]),
])
def test_discarded_inf_and_nan_do_not_leak(expr, expected, make_module):
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    f, by_decorator, generic, _ = gradients(make_module, f"def f(x):\n    return np.sum({expr})\n", [x],
                                            strict=False)
    for grads in (by_decorator, generic):
        np.testing.assert_allclose(grads[0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("expr", [
    "np.where(A > 0, A @ A, 0.0)",  # the mask of np.where is not a mask of A @ A's inputs
    "np.minimum(A, np.power(np.abs(np.dot(A, A)) + 0.5, A))",
    "np.maximum(A.T, 0.2) * A",
    "np.clip(A @ A.T, -0.5, 0.5)",
])
def test_masks_stop_at_operations_that_are_not_elementwise(expr, make_module):
    check(make_module, f"def f(A):\n    return np.sum(np.sin({expr}))\n", [R(3, 3)])


@pytest.mark.parametrize("expr", ["np.max(x, axis=0)", "np.prod(x, axis=0)", "np.min(x, axis=-1, keepdims=True)"])
def test_a_number_reduced_over_axis_0(expr, make_module):
    # NumPy reduces a number over axis 0 or -1 as if no axis were given (the decorator knows x is one).
    module = make_module(f"import numpy as np\n\n\ndef f(x):\n    return {expr} * x\n")
    assert diffc.grad(module.f)(0.7) == pytest.approx(1.4)


@pytest.mark.parametrize("expr,args", [
    ("np.sum(np.expand_dims(b, 0) * b)", [0.7]), ("np.squeeze(b) * 2.0", [R(1)]),
    ("np.sum(np.sin(np.outer(b, c)))", [0.7, R(3)]), ("np.sum(np.sin(np.outer(c, b)))", [0.7, R(2, 2)]),
    ("np.sum(np.ravel(b)) * b", [0.7]), ("np.sum(np.reshape(b, (1, 1))) * b", [0.7]),
    ("np.transpose(b) * 2.0", [0.7]), ("np.sum(np.sin(b.T))", [R(2, 3)]),
])
def test_shape_changes_of_a_number(expr, args, make_module):
    # The gradient is reshaped with np.reshape(g, np.shape(b)): b.shape fails on a float, g.reshape on a float.
    check(make_module, f"def f(b, c=0.0):\n    return {expr}\n", args)


@pytest.mark.parametrize("shape", [(2, 3), (3, 3), (2, 2, 3), (3, 2, 2, 2)])
def test_trace_of_every_rank(shape, make_module):
    # np.trace sums the diagonal of the first two axes and keeps the others.
    check(make_module, "def f(a):\n    return np.sum(np.sin(np.trace(a)))\n", [R(*shape)])


@pytest.mark.parametrize("body", ["sum(sin(trace(a)))", "sum(sin(dot(a, b)))", "sum(sin(matmul(a, b)))",
                                  "sum(sin(a @ b))"])
def test_new_numpy_calls_are_imported_in_the_users_style(body, make_module):
    # Generated code names np.tensordot, np.moveaxis, np.swapaxes through the user's own imports.
    check(make_module, f"def f(a, b):\n    return {body}\n", [R(2, 2, 3), R(1, 3, 2)],
          header="from numpy import dot, matmul, sin, sum, trace\n\n\n")


def test_a_write_numpy_discards_gets_zero_not_nan(make_module):
    # y[[0, 0, 1]] = v: NumPy keeps the second write to y[0]; the first gets 0, even where the gradient is inf.
    body = "def f(x, v):\n    y = x * 1.0\n    y[[0, 0, 1]] = v * 2.0\n    return np.sum(np.exp(y * 1000.0))\n"
    f, by_decorator, generic, _ = gradients(make_module, body, [np.array([0.1, 0.2, 0.3]), np.array([0.5, 1.0, -1.0])],
                                            strict=False)
    for grads in (by_decorator, generic):
        assert grads[1][0] == 0.0 and grads[1][1] == np.inf and grads[1][2] == 0.0

"""The rules added for real NumPy and SciPy code (diffc.ops.elementwise, reductions, indexing, linalg, special)
against central differences, over scalar, vector, matrix and broadcasting shapes, through the
decorator (code specialised to the shapes) and through compile_source without shapes (the
shape-generic code the CLI writes). Kinks are checked for their documented convention.

Each case computes ``np.sum(EXPR * r)`` with a fixed random ``r`` of the output's shape, so that
a transposed or permuted gradient cannot pass.
"""

import numpy as np
import pytest
from conftest import check_gradients, numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape

sp = pytest.importorskip("scipy.special")
pytestmark = pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
RNG = np.random.default_rng(4321)
SHAPES = [(), (3,), (3, 2)]


def arr(shape, low=-1.5, high=1.5):
    return RNG.uniform(low, high, size=shape) if shape != () else float(RNG.uniform(low, high))


POS = (0.2, 0.9)
CASES = [
    # elementwise, one argument
    *[(f"np.{f}(a)", [s], None) for f in "fabs arcsinh deg2rad degrees rad2deg radians real".split() for s in SHAPES],
    *[(f"np.{f}(a)", [s], (1.2, 3.0)) for f in ["arccosh"] for s in SHAPES],
    *[(f"np.{f}(a)", [s], (-0.8, 0.8)) for f in ["arctanh"] for s in SHAPES],
    # elementwise, two arguments, broadcasting
    *[(f"np.{f}(a, b)", shapes, None) for f in "arctan2 hypot logaddexp logaddexp2 fmax fmin".split()
      for shapes in ([(), ()], [(3,), (3,)], [(3, 2), (2,)], [(3, 1), (1, 2)], [(), (2, 3)])],
    *[(f"np.{f}(a, b)", shapes, (0.3, 2.0)) for f in ["remainder", "mod"]
      for shapes in ([(3,), (3,)], [(3, 2), (2,)], [(), (2, 3)])],
    ("a % b", [(3, 2), (2,)], (0.3, 2.0)),
    # cumulative, differences
    ("np.cumsum(a)", [(4,)], None), ("np.cumsum(a)", [(3, 2)], None), ("np.cumsum(a, axis=0)", [(3, 2)], None),
    ("np.cumsum(a, 1)", [(3, 2)], None), ("a.cumsum(axis=-1)", [(2, 3)], None),
    ("np.cumprod(a)", [(4,)], None), ("np.cumprod(a, axis=1)", [(3, 4)], None), ("a.cumprod()", [(2, 3)], None),
    ("np.diff(a)", [(5,)], None), ("np.diff(a, 2)", [(5,)], None), ("np.diff(a, axis=0)", [(4, 3)], None),
    ("np.diff(a, n=2, axis=1)", [(2, 5)], None),
    # moving and copying
    ("np.flip(a)", [(3, 2)], None), ("np.flip(a, 0)", [(3, 2)], None), ("np.flip(a, axis=1)", [(3, 2)], None),
    ("np.roll(a, 1)", [(4,)], None), ("np.roll(a, -2, axis=1)", [(2, 4)], None), ("np.roll(a, 3)", [(2, 3)], None),
    ("np.repeat(a, 2)", [(3,)], None), ("np.repeat(a, 3, axis=0)", [(2, 2)], None),
    ("a.repeat(2, axis=1)", [(2, 3)], None),
    ("np.repeat(a, [1, 3], axis=0)", [(2, 3)], None), ("np.repeat(a, 2)", [(2, 2)], None),
    ("np.tile(a, 2)", [(3,)], None), ("np.tile(a, (2, 1))", [(3,)], None), ("np.tile(a, (1, 2, 3))", [(2, 2)], None),
    ("np.moveaxis(a, 0, -1)", [(2, 3, 4)], None), ("np.rollaxis(a, 2)", [(2, 3, 4)], None),
    ("np.rollaxis(a, 0, 3)", [(2, 3, 4)], None), ("np.swapaxes(a, 0, 2)", [(2, 3, 4)], None),
    ("a.swapaxes(0, 1)", [(2, 3)], None),
    ("np.atleast_1d(a)", [()], None), ("np.atleast_2d(a)", [(3,)], None), ("np.atleast_3d(a)", [(3, 2)], None),
    ("np.tril(a)", [(3, 3)], None), ("np.triu(a, 1)", [(3, 4)], None), ("np.tril(a, k=-1)", [(4, 3)], None),
    ("np.diag(a)", [(3,)], None), ("np.diag(a, 1)", [(3,)], None), ("np.diag(a)", [(3, 4)], None),
    ("np.diag(a, k=-1)", [(3, 3)], None), ("np.diagonal(a)", [(3, 4)], None),
    ("np.diagonal(a, 1, 1, 2)", [(2, 3, 4)], None), ("a.diagonal()", [(3, 3)], None),
    # selections
    ("np.take(a, [0, 2, 2])", [(2, 3)], None), ("np.take(a, [1, 1, 0], axis=1)", [(2, 3)], None),
    ("a.take([[0, 1], [1, 1]], axis=0)", [(2, 3)], None),
    ("np.take_along_axis(a, np.argsort(a, axis=1), axis=1)", [(3, 4)], None),
    ("np.take_along_axis(a, np.array([[0], [2], [2]]), 1)", [(3, 4)], None),
    ("np.take_along_axis(a, np.array([1, 1, 0, 5]), None)", [(2, 3)], None),
    *([("np.take_along_axis(a, np.array([[3, 0], [1, 1], [2, 2]]))", [(3, 4)], None)]
      if "axis=-1" in str(__import__("inspect").signature(np.take_along_axis)) else []),
    ("np.pad(a, 1)", [(3,)], None), ("np.pad(a, ((1, 0), (2, 3)))", [(2, 2)], None),
    ("np.pad(a, (1, 2), mode='constant', constant_values=3.0)", [(2, 2)], None),
    ("np.append(a, b)", [(2, 2), (3,)], None), ("np.append(a, b, axis=0)", [(2, 3), (1, 3)], None),
    ("np.append(a, b, axis=1)", [(2, 3), (2, 2)], None),
    ("np.sort(a)", [(5,)], None), ("np.sort(a, axis=0)", [(3, 4)], None), ("np.sort(a, axis=None)", [(3, 2)], None),
    ("np.partition(a, 2)", [(5,)], None), ("np.partition(a, 1, axis=0)", [(3, 4)], None),
    ("np.average(a)", [(3, 2)], None), ("np.average(a, axis=1)", [(3, 2)], None), ("np.average(a, 0)", [(3, 2)], None),
    ("np.max(a, axis=(0, 2))", [(2, 3, 4)], None), ("np.min(a, axis=(1, 2), keepdims=True)", [(2, 3, 4)], None),
    ("a.max(axis=(0, 1))", [(3, 4)], None), ("np.prod(a, axis=(0, 2))", [(2, 3, 2)], None),
    ("a.prod(axis=(0, 1), keepdims=True)", [(2, 2, 3)], None),
    ("np.gradient(a)", [(5,)], None), ("np.gradient(a, axis=1)", [(3, 4)], None),
    ("np.gradient(a, axis=0)", [(4, 2)], None),
    # products
    ("np.cross(a, b)", [(3,), (3,)], None), ("np.cross(a, b)", [(4, 3), (3,)], None),
    ("np.cross(a, b)", [(2,), (2,)], None), ("np.cross(a, b)", [(4, 2), (4, 3)], None),
    ("np.kron(a, b)", [(2,), (3,)], None), ("np.kron(a, b)", [(2, 3), (3, 2)], None),
    ("np.kron(a, b)", [(2,), (2, 3)], None),
    ("np.tensordot(a, b)", [(2, 3), (2, 3)], None), ("np.tensordot(a, b, 1)", [(2, 3), (3, 4)], None),
    ("np.tensordot(a, b, axes=0)", [(2,), (3,)], None),
    ("np.tensordot(a, b, axes=([0, 2], [2, 1]))", [(2, 3, 4), (5, 4, 2)], None),
    ("np.tensordot(a, b, axes=(1, 0))", [(2, 3), (3,)], None),
    ("np.einsum('ij,jk->ik', a, b)", [(2, 3), (3, 4)], None), ("np.einsum('ij,jk', a, b)", [(2, 3), (3, 4)], None),
    ("np.einsum('ij->ji', a)", [(2, 3)], None), ("np.einsum('ij->', a)", [(2, 3)], None),
    ("np.einsum('i,j->ij', a, b)", [(2,), (3,)], None),
    ("np.einsum('bij,bjk->bik', a, b)", [(2, 3, 4), (2, 4, 2)], None),
    ("np.einsum('ij,ij,ij->i', a, b, c)", [(2, 3), (2, 3), (2, 3)], None),
    ("np.einsum('ij,k->i', a, b)", [(2, 3), (4,)], None),
    # the same array in two places
    ("np.einsum('ij,ij->i', a, a)", [(2, 3)], None), ("np.tensordot(a, a)", [(2, 3)], None),
    ("np.kron(a, a)", [(2,)], None), ("np.linalg.solve(a + 3 * np.eye(3), a)", [(3, 3)], None),
    ("np.append(a, a * 2.0)", [(2,)], None),
    # linear algebra
    ("np.linalg.inv(a + 3 * np.eye(3))", [(3, 3)], None), ("np.linalg.inv(a + 3 * np.eye(2))", [(4, 2, 2)], None),
    ("np.linalg.det(a)", [(3, 3)], None), ("np.linalg.det(a)", [(2, 3, 3)], None),
    ("np.linalg.solve(a + 3 * np.eye(3), b)", [(3, 3), (3,)], None),
    ("np.linalg.solve(a + 3 * np.eye(3), b)", [(3, 3), (3, 2)], None),
    ("np.linalg.pinv(a)", [(3, 2)], None), ("np.linalg.pinv(a)", [(2, 4)], None),
    ("np.linalg.pinv(a)", [(3, 3)], None),
    ("np.linalg.cholesky(a @ a.T + 3 * np.eye(3))", [(3, 3)], None),
    ("np.linalg.slogdet(a + 3 * np.eye(3))[1]", [(3, 3)], None),
    ("np.linalg.slogdet(a + 3 * np.eye(2))[1]", [(4, 2, 2)], None),
    ("np.linalg.slogdet(a)[0] * np.linalg.slogdet(a)[1]", [(3, 3)], None),
    ("np.linalg.cholesky(a + 4 * np.eye(3))", [(3, 3)], None),
    # scipy.special
    *[(f"sp.{f}(a)", [s], None) for f in "expit erf erfc".split() for s in SHAPES],
    *[(f"sp.{f}(a)", [s], POS) for f in "logit".split() for s in SHAPES],
    *[(f"sp.{f}(a)", [s], (0.5, 3.0)) for f in "gammaln digamma psi".split() for s in SHAPES],
    *[(f"sp.{f}(a, b)", shapes, POS) for f in ["xlogy", "xlog1py"]
      for shapes in ([(), ()], [(3,), (3,)], [(3, 2), (2,)], [(), (2, 3)])],
    ("sp.logsumexp(a)", [(3, 2)], None), ("sp.logsumexp(a, axis=1)", [(3, 2)], None),
    ("sp.logsumexp(a, axis=0, keepdims=True)", [(3, 2)], None), ("sp.logsumexp(a)", [()], None),
    ("sp.softmax(a)", [(4,)], None), ("sp.softmax(a, axis=1)", [(3, 4)], None), ("sp.softmax(a)", [(3, 2)], None),
    ("sp.log_softmax(a)", [(4,)], None), ("sp.log_softmax(a, axis=0)", [(3, 4)], None),
]

HEADER = "import numpy as np\nimport scipy.special as sp\n\n\n"


def make_source(expr, n):
    names = "abc"[:n]
    return f"{HEADER}def f({', '.join(names)}, r):\n    return np.sum(({expr}) * r)\n"


def check(grads, user, args):
    check_gradients(grads, user, args, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("expr,shapes,value_range", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_rule(expr, shapes, value_range, make_module):
    text = make_source(expr, len(shapes))
    low, high = value_range or (-1.5, 1.5)
    args = [arr(s, low, high) for s in shapes]
    user = run_generated(text)["f"]
    out = eval(expr, {"np": np, "sp": sp}, dict(zip("abc", args)))
    r = arr(np.shape(out))
    loss = lambda *a: user(*a, r)  # noqa: E731
    wrt = tuple(range(len(shapes)))
    specialised = diffc.grad(make_module(text).f, wrt=wrt)
    check(specialised(*args, r), loss, args)
    try:
        generic_text = diffc.compile_source(text, wrt=wrt).text
    except diffc.ShapesNeededError:
        spec = {name: parse_shape(",".join(f"{name}{i}" if n != 1 else "1" for i, n in enumerate(np.shape(a))))
                for name, a in zip("abc", args)}
        generic_text = diffc.compile_source(text, wrt=wrt, shapes=spec).text
    check(run_generated(generic_text)["f_grad"](*args, r), loss, args)


# ----------------------------------------------------------------------------
# scipy.special however the user imports it; derivatives that need other special functions
# (digamma, polygamma) are spelled through the user's own import.
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("header,call,spelled", [
    ("from scipy.special import gammaln, expit", "gammaln(x) + expit(x)", "digamma(x)"),
    ("from scipy import special", "special.gammaln(x)", "special.digamma(x)"),
    ("import scipy.special as sp", "sp.digamma(x)", "sp.polygamma(1, x)"),
    ("import scipy.special", "scipy.special.gammaln(x)", "scipy.special.digamma(x)"),
])
def test_scipy_special_import_styles(header, call, spelled, make_module):
    text = f"import numpy as np\n{header}\n\n\ndef f(x):\n    return np.sum({call} * x)\n"
    x = np.array([0.7, 1.5, 2.5])
    generated = diffc.compile_source(text).text
    assert spelled in generated
    user = run_generated(text)["f"]
    check((run_generated(generated)["f_grad"](x),), user, [x])
    check((diffc.grad(make_module(text).f)(x),), user, [x])


# ----------------------------------------------------------------------------
# Kinks: the documented conventions, pinned
# ----------------------------------------------------------------------------
def grad_of(body, *args, wrt=None):
    """The gradient of ``def f(...): return body`` through compile_source (no shapes)."""
    names = "abc"[:len(args)]
    text = f"{HEADER}def f({', '.join(names)}):\n    return {body}\n"
    generic = run_generated(diffc.compile_source(text, wrt=wrt).text)["f_grad"](*args)
    return generic


def test_fabs_has_gradient_zero_at_zero():
    np.testing.assert_array_equal(grad_of("np.sum(np.fabs(a))", np.array([-1.0, 0.0, 2.0])), [-1.0, 0.0, 1.0])


def test_fmax_fmin_ties_go_to_the_first_and_nan_loses():
    a, b = np.array([1.0, 2.0, np.nan, 0.5]), np.array([1.0, np.nan, 3.0, 0.7])
    ga, gb = grad_of("np.sum(np.fmax(a, b))", a, b)
    np.testing.assert_array_equal(ga, [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(gb, [0.0, 0.0, 1.0, 1.0])
    ga, gb = grad_of("np.sum(np.fmin(a, b))", a, b)
    np.testing.assert_array_equal(ga, [1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.0, 0.0, 1.0, 0.0])


def test_hypot_has_gradient_zero_at_the_origin():
    ga, gb = grad_of("np.sum(np.hypot(a, b))", np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    np.testing.assert_array_equal(ga, [0.0, 0.6])
    np.testing.assert_array_equal(gb, [0.0, 0.8])


def test_remainder_at_a_jump_takes_the_right_hand_side():
    ga, gb = grad_of("np.sum(np.remainder(a, b))", np.array([2.0, -1.0]), np.array([1.0, 0.75]))
    np.testing.assert_array_equal(ga, [1.0, 1.0])
    np.testing.assert_array_equal(gb, [-2.0, 2.0])  # -floor(a / b)


def test_max_over_several_axes_routes_to_the_first_extreme_in_c_order():
    x = np.array([[[1.0, 3.0], [3.0, 0.0]], [[3.0, 2.0], [1.0, 1.0]]])
    g = grad_of("np.sum(np.max(a, axis=(1, 2)) * np.array([1.0, 2.0]))", x)
    expected = np.zeros_like(x)
    expected[0, 0, 1], expected[1, 0, 0] = 1.0, 2.0
    np.testing.assert_array_equal(g, expected)
    g = grad_of("np.sum(np.min(a, axis=(0, 2)))", x)
    expected = np.zeros_like(x)
    expected[0, 0, 0], expected[0, 1, 1] = 1.0, 1.0
    np.testing.assert_array_equal(g, expected)


def test_sort_with_ties_is_a_permutation_of_the_gradient():
    r = np.array([1.0, 10.0, 100.0])
    g = grad_of("np.sum(np.sort(a) * np.array([1.0, 10.0, 100.0]))", np.array([1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(g, [10.0, 100.0, 1.0])  # the stable order: ties keep their order
    assert sorted(g) == sorted(r)


def test_cumprod_with_zeros_is_exact():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    user = lambda a: float(np.sum(np.cumprod(a) * np.arange(1.0, 5.0)))  # noqa: E731
    g = grad_of("np.sum(np.cumprod(a) * np.arange(1.0, 5.0))", x)
    np.testing.assert_allclose(g, numeric_gradient(user, [x], 0), atol=1e-8)
    np.testing.assert_array_equal(g, [1.0, 22.0, 0.0, 0.0])  # 1 + 2 * 0, 2 * 2 + 3 * 2 * 3


def test_prod_over_several_axes_with_zeros_is_exact():
    x = np.array([[[2.0, 0.0], [3.0, 1.0]], [[0.0, 0.0], [5.0, 2.0]]])
    g = grad_of("np.sum(np.prod(a, axis=(0, 2)))", x)
    np.testing.assert_array_equal(g, [[[0.0, 0.0], [10.0, 30.0]], [[0.0, 0.0], [6.0, 15.0]]])


def test_xlogy_at_x_zero():
    ga, gb = grad_of("np.sum(sp.xlogy(a, b))", np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 4.0]))
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(ga, np.log([0.0, 2.0, 4.0]))
    np.testing.assert_array_equal(gb, [0.0, 0.0, 0.5])  # x log(y) is 0 wherever x is 0


def test_logsumexp_and_logaddexp_do_not_overflow():
    x = np.array([1000.0, 1000.0])
    np.testing.assert_allclose(grad_of("sp.logsumexp(a)", x), [0.5, 0.5])
    ga, gb = grad_of("np.sum(np.logaddexp(a, b))", x, np.array([1000.0, -1000.0]))
    np.testing.assert_allclose(ga, [0.5, 1.0])
    np.testing.assert_allclose(gb, [0.5, 0.0])


# ----------------------------------------------------------------------------
# What is refused: located errors, never a wrong gradient
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("call,message,cls", [
    ("np.einsum('...i->...', x)", "einsum with '...'", diffc.UnsupportedError),
    ("np.einsum('ii->', x)", "repeats a letter within an operand", diffc.UnsupportedError),
    ("np.pad(x, 1, mode='reflect')", "np.pad in mode 'reflect'", diffc.UnsupportedError),
    ("np.linspace(0.0, x[0], 5, retstep=True)", "keyword argument 'retstep'", diffc.UnsupportedError),
    ("np.linalg.qr(x, mode='complete')[0]", "mode='complete'", diffc.UnsupportedError),
    ("np.average(x, weights=x, returned=True)[0]", "returned=True", diffc.UnsupportedError),
])
def test_refused_with_a_location(call, message, cls):
    text = f"import numpy as np\n\n\ndef f(x):\n    return np.sum({call})\n"
    with pytest.raises(cls, match=message) as info:
        diffc.compile_source(text, shapes={"x": (3, 3)})
    assert ":5:" in str(info.value)


def test_np_gradient_of_a_matrix_needs_an_axis():
    text = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.gradient(x))\n"
    with pytest.raises(diffc.UnsupportedError, match="pass axis="):
        diffc.compile_source(text, shapes={"x": (3, 3)})
    with pytest.raises(diffc.ShapesNeededError):
        diffc.compile_source(text)


def test_inactive_calls_need_no_rule():
    text = "import numpy as np\n\n\ndef f(x):\n    t = np.linspace(0.0, 1.0, 3)\n    return np.sum(x * t)\n"
    g = run_generated(diffc.compile_source(text).text)["f_grad"](np.ones(3))
    np.testing.assert_array_equal(g, [0.0, 0.5, 1.0])

"""Rule inputs the other rule tests do not reach, or reach only where a wrong rule gives the
right number (found by tools/mutate.py: each case here kills at least one mutant of a rule).

Every case is checked against central differences in float64, through the decorator (code
specialised to the shapes) and through compile_source (code for every shape), over scalar,
vector, matrix and broadcast shapes. ``np.sum(EXPR * r)`` with a random ``r`` weighs each
output element differently, so a transposed or permuted gradient shows.
"""

import math

import numpy as np
import pytest
from conftest import check_gradients, numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape

RNG = np.random.default_rng(2026)


def arr(shape, low=-1.5, high=1.5):
    return RNG.uniform(low, high, size=shape) if shape != () else float(RNG.uniform(low, high))


# (expression over a, b, c; input shapes; value range)
NUMPY_CASES = [
    # lo and hi of np.clip both active, each bound deciding somewhere (lo < hi everywhere)
    ("np.clip(a, -np.abs(b) - 0.1, np.abs(c) + 0.1)", [(4, 3), (4, 3), (4, 3)], None),
    ("np.clip(a, -0.2, np.abs(b))", [(3, 2), (3, 2)], None),
    ("np.clip(a, b * 0.5 - 0.8, 0.4)", [(3,), (3,)], None),
    # the conditional expression routes into the branch taken, elementwise and scalar
    ("a * b if np.sum(a) > -10.0 else b", [(3,), (3,)], None),
    ("b if np.sum(a) < -10.0 else a * b", [(2, 3), (3,)], None),
    # np.where with both branches active and broadcast
    ("np.where(a > 0, b * a, c)", [(3, 2), (2,), (3, 1)], None),
    # division and powers: each operand, broadcast both ways
    ("np.true_divide(a, b)", [(3, 2), (2,)], (0.5, 2.0)), ("np.divide(a, b)", [(2,), (3, 2)], (0.5, 2.0)),
    ("b / a", [(3, 1), (1, 2)], (0.5, 2.0)), ("a ** b", [(3, 2), ()], (0.5, 2.0)),
    ("np.power(a, b)", [(), (3,)], (0.5, 2.0)), ("b ** a", [(2, 3), (3,)], (0.5, 2.0)),
    ("a - b", [(2, 1), (2, 3)], None), ("np.subtract(b, a)", [(3,), (2, 3)], None),
    # routers: each argument wins somewhere
    ("np.maximum(b, a)", [(3, 2), (3, 2)], None), ("np.minimum(b, a)", [(4,), (4,)], None),
    # linear algebra, each operand, each rank pattern
    ("np.dot(b, a)", [(2,), (3, 2)], None), ("a @ b", [(2, 3), (3,)], None), ("b @ a", [(3, 2), (4, 3)], None),
    ("np.outer(b, a)", [(2, 3), (4,)], None), ("np.inner(b, a)", [(3,), (2, 3)], None),
    ("np.inner(a, b)", [(2, 3), (3,)], None), ("np.inner(a, b)", [(3,), (2, 3)], None),
    ("np.linalg.norm(a - b)", [(3, 2), (2,)], None), ("np.trace(a) * b", [(3, 4), (2,)], None),
    # sequences: every part, at every position
    ("np.concatenate((b, a, b))", [(2, 3), (1, 3)], None), ("np.stack((b, a, a), axis=1)", [(3,), (3,)], None),
    ("np.hstack((b, a))", [(2, 3), (2, 2)], None), ("np.vstack((b, a))", [(2, 3), (1, 3)], None),
    ("np.concatenate((a, b, c), axis=1)", [(2, 1), (2, 3), (2, 2)], None),
    # reductions with the reduced values used again
    ("np.prod(a, axis=1) * b", [(3, 2), (3,)], (0.5, 1.5)), ("np.mean(a, axis=0) * b", [(3, 2), (2,)], None),
    ("np.max(a, axis=0) - np.min(a, axis=1).sum()", [(3, 4)], None),
    # elementwise functions at shapes that broadcast into the rest
    ("np.tan(a) * b", [(3,), (2, 3)], (-0.9, 0.9)), ("np.arcsin(a) + np.arccos(b)", [(3,), (3,)], (-0.8, 0.8)),
    ("np.log1p(a) * np.expm1(b)", [(2, 2), (2,)], (0.2, 1.0)), ("np.reciprocal(a) * b", [(3,), (3,)], (0.5, 2.0)),
    ("np.sqrt(a) * np.exp2(b)", [(2, 3), (3,)], (0.3, 1.5)), ("np.log2(a) + np.log10(b)", [(3,), (3,)], (0.3, 2.0)),
    # the front rules (diffc/ops/front.py): float casts, np.asarray, np.full's fill value
    ("np.asarray(a) * b", [(3,), (3,)], None), ("np.double(a) * np.longdouble(b)", [(2, 3), (3,)], None),
    ("np.full((2, 3), a) * b", [(3,), (2, 3)], None),
    ("np.full((2, 3), np.sum(a)) * b", [(3,), (3,)], None),
    # indexing and writing into a copy
    ("a[1:, ::-1] * b", [(3, 2), (2,)], None), ("a[[1, 0, 1], 0]", [(2, 3)], None),
]

SCALAR_CASES = [
    # (source of f(x, y), points): scalar code, no numpy
    ("return 1.0 / (1.0 + math.exp(-(x * y)))", [(0.3, 1.7), (-0.8, 0.4)]),  # the fused sigmoid gate
    ("return x * y if x > 0 else y - x", [(0.3, 1.7), (-0.8, 0.4)]),
    ("return x % y * y", [(2.3, 0.7), (5.1, 1.3)]),
    ("return (x - y) / (y * x)", [(0.3, 1.7), (-0.8, 0.4)]),
    ("return y ** x", [(0.3, 1.7), (1.8, 0.4)]),
    ("return math.pow(y, x) + math.log(y, x)", [(1.3, 1.7), (2.8, 0.4)]),
    ("return math.atan2(y, x)", [(0.3, 1.7), (-0.8, 0.4)]),
    ("return max(y, x * 2.0)", [(0.3, 1.7), (0.8, 0.4)]),
    ("return min(y, x * 2.0)", [(0.3, 1.7), (0.8, 0.4)]),
    ("return math.hypot(y, x)", [(0.3, 1.7), (-0.8, 0.4)]),
    ("return abs(x - y) * y", [(0.3, 1.7), (0.8, 0.4)]),
    # a copy (z = x) whose gradient matters; three-way routers, each argument winning somewhere
    ("z = x\n    w = z * y\n    return max(w, y, x) + min(x, w, y) + w", [(0.3, 1.7), (-0.8, 0.4), (1.5, 0.9)]),
    # a conditional expression between names is a select: each branch, taken and not taken
    ("z = x if x > y else y\n    return z * x", [(0.3, 1.7), (0.8, 0.4)]),
    ("z = y if x > 0 else x\n    return z * y * x", [(0.3, 1.7), (-0.8, 0.4)]),
]


def make_source(expr, n):
    names = "abc"[:n]
    return f"import numpy as np\n\n\ndef f({', '.join(names)}, r):\n    return np.sum(({expr}) * r)\n"


def check(grads, loss, args):
    check_gradients(tuple(grads), loss, args)


@pytest.mark.parametrize("expr,shapes,value_range", NUMPY_CASES, ids=[f"{c[0]} {c[1]}" for c in NUMPY_CASES])
def test_numpy_rule_input(expr, shapes, value_range, make_module):
    low, high = value_range or (-1.5, 1.5)
    args = [arr(s, low, high) for s in shapes]
    text = make_source(expr, len(shapes))
    user = run_generated(text)["f"]
    r = arr(np.shape(eval(expr, {"np": np}, dict(zip("abc", args)))))
    loss = lambda *a: user(*a, r)  # noqa: E731
    wrt = tuple(range(len(shapes)))
    check(diffc.grad(make_module(text).f, wrt=wrt)(*args, r), loss, args)
    try:
        generic = diffc.compile_source(text, wrt=wrt).text
    except diffc.ShapesNeededError:  # a few rules need ranks: given symbolically, as the CLI takes them
        spec = {n: parse_shape(",".join(f"{n}{i}" if d != 1 else "1" for i, d in enumerate(np.shape(a))))
                for n, a in zip("abc", args)}
        generic = diffc.compile_source(text, wrt=wrt, shapes=spec).text
    check(run_generated(generic)["f_grad"](*args, r), loss, args)


@pytest.mark.parametrize("body,points", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_rule_input(body, points):
    text = f"import math\n\n\ndef f(x, y):\n    {body}\n"
    user = run_generated(text)["f"]
    grad = run_generated(diffc.compile_source(text).text)["f_grad"]
    for point in points:
        analytic = grad(*point)
        for i in range(2):
            numeric = numeric_gradient(user, list(point), i)
            assert analytic[i] == pytest.approx(float(numeric), rel=1e-6, abs=1e-8), (body, point, i)
            assert math.isfinite(analytic[i])


@pytest.mark.parametrize("cast", ["float32", "single", "float16", "half"])
def test_low_precision_float_casts_pass_the_gradient(cast):
    """A cast to a narrower float keeps the gradient (1); too coarse for central differences."""
    if not hasattr(np, cast):
        pytest.skip(f"this NumPy has no np.{cast}")
    text = f"import numpy as np\n\n\ndef f(a, b):\n    return np.sum(np.{cast}(a) * b)\n"
    a, b = np.array([0.5, -1.25]), np.array([2.0, 3.0])
    ga, gb = run_generated(diffc.compile_source(text).text)["f_grad"](a, b)
    np.testing.assert_allclose(ga, b, rtol=1e-6)
    np.testing.assert_allclose(gb, a, rtol=1e-3)


def test_or_of_active_values_is_refused():
    with pytest.raises(diffc.DiffcError):
        diffc.compile_source("def f(x, y):\n    return (x or y) * 2.0\n")

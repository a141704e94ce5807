"""A walk over the operation catalogue (diffc/ops/): every record with a reverse rule is checked
against central differences, and a record without a case here fails the walk, so a new entry
cannot go untested.

Elementwise NumPy and scipy.special records, and ``math`` records, need no case of their own:
their record's sampling ``domain`` is enough, and they are checked over scalar, vector, matrix
and broadcast shapes (``math`` over numbers). Every other record names its cases in ``CASES``
(an expression over arrays ``a``, ``b``, ``c`` with their shapes and value range), in
``SCALAR_CASES`` (a function body over numbers ``x``, ``y``), in ``REFUSALS`` (a rule that always
refuses, with a located error), or in ``ELSEWHERE`` (the test that covers what central
differences cannot: float16 casts). Each array case computes
``np.sum(EXPR * r)`` with a fixed random ``r``, so that a transposed or permuted gradient shows,
through the decorator (code specialised to the shapes) and through compile_source (code for
every shape).
"""

import math

import numpy as np
import pytest
from conftest import check_gradients, numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape
from diffc.ops.catalogue import OPS

RNG = np.random.default_rng(909)
UNARY_SHAPES = [[()], [(3,)], [(2, 3)]]
BINARY_SHAPES = [[(), ()], [(3,), (3,)], [(2, 3), (2, 3)], [(2, 3), (3,)], [(3, 1), (1, 2)], [(), (2, 2)]]
P, U = (0.5, 2.0), (-0.8, 0.8)

CASES = {
    "add": [("a + b", [(2, 3), (3,)], None)], "sub": [("a - b", [(3, 1), (1, 2)], None)],
    "mul": [("a * b", [(2, 3), ()], None), ("a * a", [(3,)], None)],
    "div": [("a / b", [(2, 3), (3,)], P), ("b / a", [(), (2,)], P)],
    "pow": [("a ** b", [(3, 2), ()], P), ("b ** a", [(2, 3), (3,)], P), ("a ** 3", [(3,)], None)],
    "mod": [("a % b * b", [(3,), (3,)], P)],
    "neg": [("-a * b", [(3,), (2, 3)], None)], "pos": [("+a * b", [(2, 2), (2,)], None)],
    "copy": [("np.copy(a) * b + a.copy()", [(3,), (3,)], None)],
    "sigmoid": [("1.0 / (1.0 + np.exp(-a))", [(2, 3)], None)],
    # The softmax family's fused gates (diffc/ad/fuse_softmax.py; more in tests/test_softmax_gates.py).
    "softmax_gate": [("np.exp(a) / np.sum(np.exp(a), axis=1, keepdims=True)", [(2, 3)], None)],
    "log_softmax_gate": [("np.log(np.exp(a) / np.sum(np.exp(a)))", [(4,)], None)],
    "picked_log_softmax_gate": [("np.log((np.exp(a) / np.sum(np.exp(a), axis=1, keepdims=True))[[0, 1, 1], [2, 0, 2]])",
                                 [(2, 3)], None)],
    "log_softmax_sub_gate": [("a - np.log(np.sum(np.exp(a), axis=0, keepdims=True))", [(3, 2)], None)],
    "logsumexp_gate": [("np.log(np.sum(np.exp(a), axis=1))", [(2, 3)], None)],
    "abs": [("abs(a) * b", [(3,), (3,)], None)],
    "where": [("np.where(a > 0, b * a, c)", [(3, 2), (2,), (3, 1)], None)],
    "clip": [("np.clip(a, -0.5, 0.5)", [(2, 3)], None), ("np.clip(a, -np.abs(b) - 0.1, np.abs(c) + 0.1)",
                                                                  [(4, 3), (4, 3), (4, 3)], None)],
    "list": [("np.array([a, b * a])", [(), ()], None)],
    "tuple": [("np.stack((a, b))", [(3,), (3,)], None)],
    "array": [("np.array([a, b]) * c", [(3,), (3,), (2, 3)], None), ("np.array(a)", [(3,)], None)],
    "asarray": [("np.asarray(a) * b", [(3,), (3,)], None)],
    "float64": [("np.float64(a) * b", [(3,), (3,)], None)],
    "double": [("np.double(a) * b", [(2, 3), (3,)], None)],
    "longdouble": [("np.longdouble(a) * b", [(3,), (3,)], None)],
    "astype": [("a.astype(float) * b", [(3,), (3,)], None)],
    "full": [("np.full((2, 3), np.sum(a)) * b", [(3,), (2, 3)], None)],
    "full_like": [("np.full_like(b, np.sum(a)) * b", [(3,), (2, 3)], None)],
    "arange": [("np.arange(3) * a", [(3,)], None)],
    "getitem": [("a[1:, ::-1] * b", [(3, 2), (2,)], None), ("a[[1, 0, 1], 0]", [(2, 3)], None)],
    "setitem": [("_setitem(a, b)", [(3,), (2,)], None)],  # x[1:] = v on a copy (a helper below)
    "reshape": [("np.reshape(a, (3, 2)) * b", [(2, 3), (2,)], None), ("a.reshape(6)", [(2, 3)], None)],
    "ravel": [("np.ravel(a) * b", [(2, 3), (6,)], None), ("a.flatten()", [(3, 2)], None)],
    "squeeze": [("np.squeeze(a) * b", [(3, 1), (3,)], None)],
    "expand_dims": [("np.expand_dims(a, 0) * b", [(3,), (2, 3)], None)],
    "transpose": [("np.transpose(a) * b", [(2, 3), (3, 2)], None), ("a.T @ b", [(2, 3), (2,)], None),
                        ("np.transpose(a, (1, 2, 0))", [(2, 3, 2)], None)],
    "atleast_1d": [("np.atleast_1d(a) * b", [(), (3,)], None)],
    "atleast_2d": [("np.atleast_2d(a) * b", [(3,), (2, 3)], None)],
    "atleast_3d": [("np.atleast_3d(a)", [(2, 3)], None)],
    "concatenate": [("np.concatenate((b, a, b))", [(2, 3), (1, 3)], None)],
    "stack": [("np.stack((b, a, a), axis=1)", [(3,), (3,)], None)],
    "hstack": [("np.hstack((b, a))", [(2, 3), (2, 2)], None)],
    "vstack": [("np.vstack((b, a))", [(2, 3), (1, 3)], None)],
    "flip": [("np.flip(a, axis=0) * b", [(2, 3), (3,)], None), ("np.flip(a)", [(3, 2)], None)],
    "roll": [("np.roll(a, 1) * b", [(4,), (4,)], None), ("np.roll(a, -1, axis=1)", [(2, 3)], None)],
    "moveaxis": [("np.moveaxis(a, 0, -1)", [(2, 3, 2)], None)],
    "rollaxis": [("np.rollaxis(a, 2)", [(2, 3, 2)], None)],
    "swapaxes": [("np.swapaxes(a, 0, 1) * b", [(2, 3), (2,)], None)],
    "tril": [("np.tril(a)", [(3, 3)], None)], "triu": [("np.triu(a, 1)", [(3, 3)], None)],
    "diag": [("np.diag(a)", [(3,)], None), ("np.diag(a) * b", [(3, 3), (3,)], None)],
    "diagonal": [("np.diagonal(a)", [(3, 3)], None)],
    "repeat": [("np.repeat(a, 2)", [(3,)], None), ("np.repeat(a, 2, axis=1)", [(2, 3)], None)],
    "tile": [("np.tile(a, 2) * b", [(3,), (6,)], None)],
    "take": [("np.take(a, [2, 0, 2])", [(3,)], None)],
    "take_along_axis": [("np.take_along_axis(a, np.array([[0], [2]]), axis=1)", [(2, 3)], None)],
    "pad": [("np.pad(a, 1)", [(2, 3)], None)],
    "append": [("np.append(a, b)", [(3,), (2,)], None)],
    "sort": [("np.sort(a)", [(2, 4)], None), ("np.sort(a, axis=None)", [(2, 3)], None)],
    "partition": [("np.partition(a, 1)", [(5,)], None)],
    "matmul": [("a @ b", [(2, 3), (3,)], None), ("b @ a", [(3, 2), (4, 3)], None)],
    "array_matmul": [("np.matmul(a, b)", [(2, 3), (3, 2)], None)],
    "dot": [("np.dot(b, a)", [(2,), (3, 2)], None), ("a.dot(b)", [(2, 3), (3,)], None)],
    "outer": [("np.outer(b, a)", [(2, 3), (4,)], None)],
    "inner": [("np.inner(b, a)", [(3,), (2, 3)], None), ("np.inner(a, b)", [(2, 3), (2, 3)], None)],
    "trace": [("np.trace(a) * b", [(3, 4), (2,)], None)],
    "norm": [("np.linalg.norm(a - b)", [(3, 2), (2,)], None)],
    "einsum": [("np.einsum('ij,jk->ik', a, b)", [(2, 3), (3, 2)], None)],
    "tensordot": [("np.tensordot(a, b, axes=1)", [(2, 3), (3, 2)], None)],
    "kron": [("np.kron(a, b)", [(2,), (3,)], None)],
    "cross": [("np.cross(a, b)", [(3,), (3,)], None)],
    "inv": [("np.linalg.inv(a + 3 * np.eye(3))", [(3, 3)], None)],
    "solve": [("np.linalg.solve(a + 3 * np.eye(3), b)", [(3, 3), (3,)], None)],
    "det": [("np.linalg.det(a + 3 * np.eye(3))", [(3, 3)], None)],
    "pinv": [("np.linalg.pinv(a)", [(3, 2)], None)],
    "cholesky": [("np.linalg.cholesky(a @ a.T + 3 * np.eye(3))", [(3, 3)], None)],
    "slogdet": [("np.linalg.slogdet(a + 3 * np.eye(3))[1]", [(3, 3)], None)],
    "eigh": [("np.linalg.eigh(a + a.T)[0] * b", [(3, 3), (3,)], None),
             ("np.linalg.eigh(a)[1] ** 2", [(4, 4)], None),  # squares: the sign NumPy picks drops out
             ("np.linalg.eigh(a, UPLO='U')[1][:, 1] ** 2 * b", [(3, 3), (2, 1)], None),
             ("np.linalg.eigh(a + np.swapaxes(a, -1, -2))[0]", [(2, 3, 3)], None),
             ("np.linalg.eigh(a)[1] ** 2", [(2, 3, 3)], None)],
    "eigvalsh": [("np.linalg.eigvalsh(a)", [(3, 3)], None),
                 ("np.linalg.eigvalsh(a, UPLO='U') * b", [(2, 3, 3), (3,)], None)],
    "qr": [("np.linalg.qr(a)[0]", [(4, 3)], None), ("np.linalg.qr(a)[1] * b", [(3, 3), (3,)], None),
           ("np.linalg.qr(a)[0] * np.linalg.qr(a)[1][0]", [(4, 2)], None),
           ("np.linalg.qr(a)[1]", [(2, 4, 3)], None), ("np.linalg.qr(a)[0]", [(1, 1)], None)],
    "sum": [("np.sum(a, axis=0) * b", [(2, 3), (3,)], None), ("a.sum(axis=1, keepdims=True)", [(2, 3)], None)],
    "mean": [("np.mean(a, axis=0) * b", [(3, 2), (2,)], None), ("a.mean()", [(2, 3)], None)],
    "average": [("np.average(a, axis=1)", [(2, 3)], None), ("np.average(a, weights=b)", [(), ()], P),
                ("np.average(a, axis=1, weights=b)", [(2, 3), (3,)], P),
                ("np.average(a, weights=b) * c", [(2, 3), (2, 3), (2,)], P),
                ("np.average(a, 0, b)", [(3,), (3,)], P), ("np.average(a, 0, b)", [(3, 2), (3, 2)], P),
                ("np.average(a, axis=(0, 2), weights=b, keepdims=True)", [(2, 3, 2), (2, 2)], P),
                ("np.average(a, weights=b, axis=-1)", [(2, 3), (3,)], P)],
    "linspace": [("np.linspace(a, b, 5)", [(), ()], None), ("np.linspace(a, b, num=4, endpoint=False)",
                                                               [(2, 3), (3,)], None),
                 ("np.linspace(a, 1.0, 3, False) * b", [(3,), (3, 3)], None),
                 ("np.linspace(a, b, 1)", [(2,), ()], None), ("np.linspace(a, b, 2)", [(3, 1), (1, 2)], None)],
    "ptp": [("np.ptp(a)", [(3,)], None), ("np.ptp(a) * b", [(), (2,)], None),
            ("np.ptp(a, axis=1) * b", [(2, 3), (2,)], None),
            ("np.ptp(a, axis=(0, 2), keepdims=True)", [(2, 3, 2)], None)],
    "array_max": [("np.max(a, axis=0) * b", [(3, 4), (4,)], None), ("a.max()", [(2, 3)], None)],
    "array_min": [("np.min(a, axis=1)", [(3, 4)], None)],
    "amax": [("np.amax(a)", [(3,)], None), ("np.amax(a, axis=(0, 1))", [(2, 3, 2)], None)],
    "amin": [("np.amin(a, axis=0)", [(2, 3)], None),
             ("np.amin(a, axis=(0, 2), keepdims=True) * b", [(2, 3, 2), (3, 1)], None)],
    "prod": [("np.prod(a, axis=1) * b", [(3, 2), (3,)], (0.5, 1.5))],
    "cumsum": [("np.cumsum(a, axis=1)", [(2, 3)], None), ("np.cumsum(a)", [(2, 2)], None)],
    "cumprod": [("np.cumprod(a)", [(4,)], (0.5, 1.5))],
    "diff": [("np.diff(a)", [(4,)], None), ("np.diff(a, 2, axis=0)", [(4, 2)], None)],
    "gradient": [("np.gradient(a)", [(5,)], None)],
    "logsumexp": [("sp.logsumexp(a, axis=1)", [(2, 3)], None), ("sp.logsumexp(a)", [(3,)], None)],
    "softmax": [("sp.softmax(a, axis=0)", [(3, 2)], None)],
    "log_softmax": [("sp.log_softmax(a)", [(4,)], None)],
}
# Code over numbers: (body of f(x, y), value range).
SCALAR_CASES = {
    "select": ("return x * y if x > 0 else y - x", None),
    "max": ("return max(y, x * 2.0, x)", None),
    "min": ("return min(y, x * 2.0)", None),
    "float": ("return float(x) * y", None),
    "scalar_log": ("return math.log(y, x) + math.log(x)", P),
}
# Records whose rule refuses (with a located error): (body of f(x, y), what the error says).
REFUSALS = {
    "and": ("return (x and y) * x", "'and' and 'or' return one of their operands"),
    "or": ("return (x or y) * y", "'and' and 'or' return one of their operands"),
}
# Checked by another test: what central differences cannot check.
ELSEWHERE = {
    **{t: "tests/test_rule_coverage.py::test_low_precision_float_casts_pass_the_gradient"
       for t in ("float32", "float16", "single", "half")},
    "float_": "an alias NumPy 2 removed; the same rule as numpy.float64",
    "shift_gate": "tests/test_softmax_gates.py: the max shift of a softmax, at tied maxima too",
    "custom_vjp": "tests/test_custom_rules.py: the call of a @diffc.custom_vjp function, whose rule is the user's",
    "custom_jvp": "tests/test_custom_rules.py: the call of a @diffc.custom_jvp function (reverse: its rule transposed)",
    # Ops only a reverse rule writes, differentiated again (second derivatives, diffc/ops/higher.py).
    **{t: "tests/test_higher.py: second derivatives against central differences of the gradient"
       for t in ("_unbroadcast", "_matmul_grad", "_dot_grad", "_cast_grad", "scatter_add", "index_add", "zero_at",
                 "make_struct")},
}


def arr(shape, low, high):
    return RNG.uniform(low, high, size=shape) if shape != () else float(RNG.uniform(low, high))


def _automatic(op) -> bool:
    return op.domain is not None and op.sources and (op.elementwise or op.scalar_only)


def _array_cases():
    for name, op in OPS.items():
        if op.vjp is None or not _automatic(op) or op.scalar_only:
            continue
        alias = "sp" if op.spelling.startswith("scipy.special.") else "np"
        call = f"{alias}.{op.spelling.rpartition('.')[2]}"
        n = op.arity[0]
        for shapes in (UNARY_SHAPES if n == 1 else BINARY_SHAPES):
            yield name, f"{call}({', '.join('abc'[:n])})", shapes, op.domain
    for name, cases in CASES.items():
        for expr, shapes, value_range in cases:
            yield name, expr, shapes, value_range or (-1.5, 1.5)


def _scalar_cases():
    for name, op in OPS.items():
        if op.vjp is not None and _automatic(op) and op.scalar_only:
            args = "x, y" if op.arity[0] == 2 or op.arity[1] is None else "x"
            yield name, f"return {op.spelling}({args}) * y", op.domain
    for name, (body, value_range) in SCALAR_CASES.items():
        yield name, body, value_range or (-1.5, 1.5)


ARRAY_CASES, SCALAR = list(_array_cases()), list(_scalar_cases())


def test_every_record_with_a_rule_has_a_case():
    covered = {c[0] for c in ARRAY_CASES} | {c[0] for c in SCALAR} | set(REFUSALS) | set(ELSEWHERE)
    untested = sorted(name for name, op in OPS.items() if op.vjp is not None and name not in covered)
    assert untested == [], "give these records a sampling domain (elementwise) or a case in tests/test_catalogue.py"
    named = set(CASES) | set(SCALAR_CASES) | set(REFUSALS) | set(ELSEWHERE)
    assert named <= set(OPS), "a case names an op with no record"


def _source(expr, n):
    names = "abc"[:n]
    return (f"import numpy as np\nimport scipy.special as sp\n\n\ndef f({', '.join(names)}, r):\n"
            f"    return np.sum(({expr}) * r)\n")


SETITEM = "\n\ndef _setitem(a, b):\n    z = a * 1.0\n    z[1:] = b * 2.0\n    return z\n"


def _setitem(a, b):
    z = a * 1.0
    z[1:] = b * 2.0
    return z


@pytest.mark.parametrize("name,expr,shapes,value_range", ARRAY_CASES,
                         ids=[f"{c[0]}: {c[1]} {c[2]}" for c in ARRAY_CASES])
def test_array_record(name, expr, shapes, value_range, make_module):
    special = pytest.importorskip("scipy.special")
    args = [arr(s, *value_range) for s in shapes]
    text = _source(expr, len(shapes)) + (SETITEM if "_setitem" in expr else "")
    value = eval(expr, {"np": np, "sp": special, "_setitem": _setitem}, dict(zip("abc", args)))
    r = arr(np.shape(value), -1.5, 1.5)
    user = run_generated(text)["f"]
    loss = lambda *a: user(*a, r)  # noqa: E731
    wrt = tuple(range(len(args)))
    check_gradients(tuple(diffc.grad(make_module(text).f, wrt=wrt)(*args, r)), loss, args)
    try:
        generic = diffc.compile_source(text, wrt=wrt).text
    except diffc.ShapesNeededError:  # a few rules need ranks: given symbolically, as the CLI takes them
        spec = {n: parse_shape(",".join(f"{n}{i}" if d != 1 else "1" for i, d in enumerate(np.shape(a))))
                for n, a in zip("abc", args)}
        generic = diffc.compile_source(text, wrt=wrt, shapes=spec).text
    check_gradients(tuple(run_generated(generic)["f_grad"](*args, r)), loss, args)


@pytest.mark.parametrize("name,body,value_range", SCALAR, ids=[f"{c[0]}: {c[1]}" for c in SCALAR])
def test_scalar_record(name, body, value_range):
    text = f"import math\n\n\ndef f(x, y):\n    {body}\n"
    user = run_generated(text)["f"]
    grad = run_generated(diffc.compile_source(text).text)["f_grad"]
    for _ in range(3):
        point = [float(RNG.uniform(*value_range)) for _ in range(2)]
        analytic = grad(*point)
        for i in range(2):
            numeric = numeric_gradient(user, point, i)
            assert analytic[i] == pytest.approx(float(numeric), rel=1e-6, abs=1e-8), (body, point, i)
            assert math.isfinite(analytic[i])


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusing_record(name):
    body, message = REFUSALS[name]
    with pytest.raises(diffc.DiffcError, match=message) as info:
        diffc.compile_source(f"def f(x, y):\n    {body}\n", "user.py")
    assert info.value.lineno == 2


def test_builder_values_record_what_nested_calls_would():
    """A rule written with operators appends the equations nested Builder calls would, in the same
    order, with the Builder's folding (x * 1 is x) and numbers as literals of their own type."""
    from diffc.ir import Builder, Const, Var
    from diffc.ops.algebra import Lib, V, lift

    eqns = []
    b = Builder(eqns)
    g, x, y = (V(b, Var(name)) for name in "gxy")
    out = -g * x / (y * y) + 2 * Lib(b, "math").cos(x) * 1
    assert [e.op for e in eqns] == ["neg", "mul", "mul", "div", "scalar_cos", "mul", "add"]
    assert eqns[5].ins[0] == Const(2) and type(eqns[5].ins[0].value) is int
    assert lift(out) is eqns[-1].out

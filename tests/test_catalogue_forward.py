"""The catalogue walk, forward mode: every record with a reverse rule has a forward rule (or is listed
in ``FORWARD_REFUSED`` with the reason, and refused with a located error), and each forward rule
is checked against central differences on the cases of tests/test_catalogue.py.

Each case is the expression itself (an array, a number or a tuple), not a sum of it, so the
tangent's shape is checked too: ``diffc.jvp`` in every argument at once, with random tangents,
against ``(EXPR(args + h v) - EXPR(args - h v)) / 2h``, through the decorator (code specialised to
the shapes) and through compile_source (code for every shape).
"""

import numpy as np
import pytest
from conftest import run_generated
from test_catalogue import ARRAY_CASES, ELSEWHERE, REFUSALS, SCALAR, SETITEM, _setitem, arr

import diffc
from diffc.compiler import parse_shape
from diffc.ops.catalogue import OPS

RNG = np.random.default_rng(1313)
# Records with a reverse rule but no forward rule: refused, with a located error, when a tangent must cross.
FORWARD_REFUSED = {
    "eigh": ("np.linalg.eigh(a + a.T)[0]", "the tangent of an eigendecomposition is not written yet; the reverse "
             "mode has it"),
    "eigvalsh": ("np.linalg.eigvalsh(a + a.T)", "as eigh"),
    "qr": ("np.linalg.qr(a)[0]", "the tangent of a QR decomposition is not written yet; the reverse mode has it"),
    "cumprod": ("np.cumprod(a)", "the tangent of a running product, exact where elements are 0, is a "
                      "sum of products for each element: not written yet; the reverse mode has it"),
}


# Fused gates (softmax_gate, ...) are made by the reverse pipeline's gates pass only (diffc/ad/fuse_softmax.py,
# after shapes); forward mode never meets them, so they need no forward rule.
REVERSE_ONLY = sorted(name for name in OPS if name.endswith("_gate"))


def test_every_record_with_a_reverse_rule_has_a_forward_rule():
    missing = sorted(name for name, op in OPS.items() if op.vjp is not None and op.jvp is None)
    assert missing == sorted([*FORWARD_REFUSED, *REVERSE_ONLY]), \
        "give these records a jvp rule, or list them in FORWARD_REFUSED"
    orphans = sorted(name for name, op in OPS.items() if op.jvp is not None and op.vjp is None)
    assert orphans == [], "a forward rule without a reverse rule: the catalogue walk has no case for it"


def _source(expr, n):
    return (f"import numpy as np\nimport scipy.special as sp\n\n\ndef f({', '.join('abc'[:n])}):\n"
            f"    return {expr}\n") + (SETITEM if "_setitem" in expr else "")


def _along(fn, args, tangents, h=1e-6):
    """The central difference of ``fn`` at ``args`` in the direction ``tangents``."""
    plus = fn(*[a + h * t for a, t in zip(args, tangents)])
    minus = fn(*[a - h * t for a, t in zip(args, tangents)])
    if isinstance(plus, tuple):
        return tuple((np.asarray(p) - np.asarray(m)) / (2 * h) for p, m in zip(plus, minus))
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


def _same(tangent, expected, value, what):
    if isinstance(expected, tuple):
        assert isinstance(tangent, tuple) and len(tangent) == len(expected), what
        for t, e, v in zip(tangent, expected, value):
            _same(t, e, v, what)
        return
    assert np.shape(tangent) == np.shape(value), f"{what}: tangent {np.shape(tangent)}, value {np.shape(value)}"
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-7, err_msg=what)


FORWARD_CASES = [c for c in ARRAY_CASES if c[0] not in FORWARD_REFUSED]


@pytest.mark.parametrize("name,expr,shapes,value_range", FORWARD_CASES,
                         ids=[f"{c[0]}: {c[1]} {c[2]}" for c in FORWARD_CASES])
def test_array_record_forward(name, expr, shapes, value_range, make_module):
    special = pytest.importorskip("scipy.special")
    args = [arr(s, *value_range) for s in shapes]
    # np.average's tangent in its weights is refused (FORWARD_WEIGHTS): differentiated in a only.
    wrt = (0,) if name == "average" and len(shapes) > 1 else tuple(range(len(args)))
    tangents = [arr(s, -1.0, 1.0) if i in wrt else np.zeros(s) if s else 0.0 for i, s in enumerate(shapes)]
    text = _source(expr, len(shapes))
    user = lambda *a: eval(expr, {"np": np, "sp": special, "_setitem": _setitem}, dict(zip("abc", a)))  # noqa: E731
    value = user(*args)
    expected = _along(user, args, tangents)
    got_value, tangent = diffc.jvp(make_module(text).f, wrt=wrt)(*args, *[tangents[i] for i in wrt])
    _same(tangent, expected, value, f"{expr} (decorator)")
    try:
        generic = diffc.compile_source(text, wrt=wrt, mode="jvp").text
    except diffc.ShapesNeededError:
        spec = {n: parse_shape(",".join(f"{n}{i}" if d != 1 else "1" for i, d in enumerate(np.shape(a))))
                for n, a in zip("abc", args)}
        generic = diffc.compile_source(text, wrt=wrt, mode="jvp", shapes=spec).text
    _, tangent = run_generated(generic)["f_jvp"](*args, *[tangents[i] for i in wrt])
    _same(tangent, expected, value, f"{expr} (compile_source)")


def test_the_tangent_in_np_average_weights_is_refused_where_it_is():
    text = "import numpy as np\n\n\ndef f(a, w):\n    return np.average(a, weights=w)\n"
    with pytest.raises(diffc.UnsupportedError, match="weights") as info:
        diffc.compile_source(text, "user.py", mode="jvp")
    assert info.value.lineno == 5


@pytest.mark.parametrize("name,body,value_range", SCALAR, ids=[f"{c[0]}: {c[1]}" for c in SCALAR])
def test_scalar_record_forward(name, body, value_range):
    text = f"import math\n\n\ndef f(x, y):\n    {body}\n"
    user = run_generated(text)["f"]
    jvp = run_generated(diffc.compile_source(text, mode="jvp").text)["f_jvp"]
    for _ in range(3):
        point = [float(RNG.uniform(*value_range)) for _ in range(2)]
        direction = [float(RNG.uniform(-1, 1)) for _ in range(2)]
        value, tangent = jvp(*point, *direction)
        assert value == user(*point)
        assert tangent == pytest.approx(float(_along(user, point, direction)), rel=1e-6, abs=1e-8), (body, point)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusing_record_forward(name):
    body, message = REFUSALS[name]
    with pytest.raises(diffc.DiffcError, match=message) as info:
        diffc.compile_source(f"def f(x, y):\n    {body}\n", "user.py", mode="jvp")
    assert info.value.lineno == 2


@pytest.mark.parametrize("name", sorted(FORWARD_REFUSED))
def test_record_without_a_forward_rule_is_refused(name):
    expr, _ = FORWARD_REFUSED[name]
    text = f"import numpy as np\n\n\ndef f(a):\n    return {expr}\n"
    with pytest.raises(diffc.UnsupportedError, match="no forward-mode") as info:
        diffc.compile_source(text, "user.py", mode="jvp")
    assert info.value.lineno == 5
    diffc.compile_source(text, "user.py")  # the reverse mode has it


@pytest.mark.parametrize("name", sorted(n for n in ELSEWHERE if n in OPS and OPS[n].vjp is not None  # the casts
                                         and (OPS[n].spelling or "").startswith("numpy.")
                                         and OPS[n].spelling != "numpy.float_" and n not in REVERSE_ONLY))
def test_low_precision_casts_pass_the_tangent(name):
    """What central differences cannot check in float16: the cast passes the tangent, cast too."""
    text = f"import numpy as np\n\n\ndef f(a, b):\n    return np.{OPS[name].spelling.partition('.')[2]}(a) * b\n"
    a, b, da = np.array([0.5, 1.25]), np.array([2.0, -1.0]), np.array([1.0, 0.5])
    _, tangent = run_generated(diffc.compile_source(text, wrt="a", mode="jvp").text)["f_jvp"](a, b, da)
    np.testing.assert_allclose(tangent, da * b)

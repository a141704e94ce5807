"""The softmax family as fused gates (diffc/ad/fuse_softmax.py): softmax, log-softmax, log-sum-exp,
the cross-entropy, and the max shift that gets no gradient where it provably has none.

Every pattern is checked against central differences over 1-D and 2-D inputs and both axes, at
random points and at points where the max is tied (the shift's gradient is zero there too),
compiled with shapes (the decorator's code) and without (code for every shape).
"""

import os

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape

RNG = np.random.default_rng(1212)


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
HERE = os.path.dirname(os.path.abspath(__file__))

# {M}: the max shift's reduction arguments, {K}: the sum's; for 1-D inputs both are empty.
PATTERNS = {
    "softmax_named": ("z = s - np.max(s{M})\n    e = np.exp(z)\n    p = e / np.sum(e{K})\n"
                      "    return np.sum(p * r)", True),
    "softmax_twice": ("p = np.exp(s) / np.sum(np.exp(s){K})\n    return np.sum(p * r)", True),
    "softmax_shift_unnamed": ("p = np.exp(s - np.max(s{M})) / np.sum(np.exp(s - np.max(s{M})){K})\n"
                              "    return np.sum(p * r)", False),  # two shifts: each its own exp
    "log_of_softmax": ("s = s - np.max(s{M})\n    e = np.exp(s)\n    p = e / np.sum(e{K})\n"
                       "    return np.sum(np.log(p) * r)", True),
    "log_softmax_sub": ("z = s - np.max(s{M})\n    lp = z - np.log(np.sum(np.exp(z){K}))\n"
                        "    return np.sum(lp * r)", True),
    "logsumexp": ("z = s - np.max(s{M})\n    return np.sum(np.log(np.sum(np.exp(z){K})) * r[0])", False),
    "logsumexp_plus_max": ("m = np.max(s{M})\n    return np.sum((m + np.log(np.sum(np.exp(s - m){K}))) * r[0])",
                           False),
}


def source(body, axis):
    m = "" if axis is None else f", axis={axis}, keepdims=True"
    return f"import numpy as np\n\n\ndef f(s, r):\n    {body.format(M=m, K=m)}\n"


def points(shape, axis):
    """A random point, and one with the max tied along the axis (in every slice)."""
    s = RNG.normal(size=shape)
    tied = s.copy()
    if len(shape) == 1:
        tied[1] = tied[3] = tied.max() + 0.5
    elif axis in (1, -1):
        tied[:, 0] = tied[:, 2] = tied.max() + 0.5
    else:
        tied[0, :] = tied[2, :] = tied.max() + 0.5
    return [s, tied]


CASES = [((5,), None), ((5,), 0), ((4, 5), 1), ((4, 5), 0), ((4, 5), -1)]


def check(src, args, wrt="s", shapes=None, **options):
    """The generated gradient (with shapes, and without) against central differences; returns the
    text compiled with shapes."""
    namespace: dict = {}
    exec(compile(src, "<user>", "exec"), namespace)
    numeric = numeric_gradient(namespace["f"], args, 0)
    texts = []
    for given in (shapes, None):
        text = diffc.compile_source(src, "f.py", wrt=wrt, shapes=given, **options).text
        grad = run_generated(text)["f_grad"](*args)
        assert rel_error(grad, numeric) < 1e-6, text
        texts.append(text)
    return texts[0]


@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("name", list(PATTERNS))
def test_each_pattern_matches_central_differences(name, shape, axis):
    body, shift_free = PATTERNS[name]
    src = source(body, axis)
    r = RNG.normal(size=shape)
    shapes = {"s": parse_shape(",".join("NC"[-len(shape):])), "r": parse_shape(",".join("NC"[-len(shape):]))}
    # lse(s - max(s)) = lse(s) - max(s) has a kink where the max is tied: its random point only.
    for s in points(shape, axis)[:1 if name == "logsumexp" else 2]:
        text = check(src, [s, r], shapes=shapes)
        # The max shift's gradient: gone where the gates make it zero, kept where it is not.
        assert ("_first_mask" not in text) == shift_free, text
        assert "np.exp" in text.split("# backward")[0]
        chain = diffc.compile_source(src, "f.py", wrt="s", shapes=shapes, fuse=False).text
        assert ("_first_mask" in chain) == ("max" in body), chain


def test_gates_are_made_and_the_forward_is_as_written():
    src = source(PATTERNS["log_of_softmax"][0], 1)
    shapes = {"s": parse_shape("N,C"), "r": parse_shape("N,C")}
    ir = diffc.compiler.dump_source(src, "f.py", "gates", wrt="s", shapes=shapes)
    assert "softmax_gate(" in ir and "log_softmax_gate(" in ir and "shift_gate(" in ir
    text = diffc.compile_source(src, "f.py", wrt="s", shapes=shapes).text
    forward = text.split("# backward")[0]
    for line in ("s = s - np.max(s, axis=1, keepdims=True)", "e = np.exp(s)",
                 "p = e / np.sum(e, axis=1, keepdims=True)", "np.log(p)"):
        assert line in forward
    unfused = diffc.compiler.dump_source(src, "f.py", "gates", wrt="s", shapes=shapes, fuse=False)
    assert "_gate(" not in unfused


TWO_LAYER_BACKWARD = """\
    # backward
    grad_out = 1.0
    grad_data_loss = grad_out
    grad_reg_loss = grad_out
    t4 = grad_reg_loss * t3
    t5 = -grad_data_loss / N
    t6 = np.zeros_like(probs)
    t6[t2, y] = t5
    grad_scores = t6 - probs * t5
    del probs, t6
    grad_b2 = np.sum(grad_scores, axis=0)
"""


def test_two_layer_net_loss_has_the_textbook_backward():
    """probs - onehot, scaled: no argmax recomputed, no chain through exp and sum, scores not kept."""
    path = os.path.join(HERE, "..", "examples", "two_layer_net.py")
    with open(path) as f:
        src = f.read()
    shapes = {"W1": "D,H", "b1": "H", "W2": "H,C", "b2": "C", "X": "N,D", "y": "N:int", "reg": ""}
    text = diffc.compile_source(src, "two_layer_net.py", functions="two_layer_loss", wrt=["W1", "b1", "W2", "b2"],
                                shapes={k: parse_shape(v) for k, v in shapes.items()}).text
    assert TWO_LAYER_BACKWARD in text
    assert "    scores = scores - np.max(scores, axis=1, keepdims=True)\n" in text
    assert "    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)\n" in text


CE = """
import numpy as np


def picked(s, y):
    N = s.shape[0]
    s = s - np.max(s, axis=1, keepdims=True)
    p = np.exp(s) / np.sum(np.exp(s), axis=1, keepdims=True)
    return -np.sum(np.log(p[np.arange(N), y])) / N


def picked_columns(s, y):
    C = s.shape[1]
    s = s - np.max(s, axis=0, keepdims=True)
    p = np.exp(s) / np.sum(np.exp(s), axis=0, keepdims=True)
    return -np.sum(np.log(p[y, np.arange(C)]) * np.arange(1.0, C + 1.0))


def picked_repeated(s, y):
    s = s - np.max(s, axis=1, keepdims=True)
    p = np.exp(s) / np.sum(np.exp(s), axis=1, keepdims=True)
    rows = np.array([0, 0, 2, 3])
    return -np.sum(np.log(p[rows, y]))


def picked_one(s, y):
    s = s - np.max(s)
    p = np.exp(s) / np.sum(np.exp(s))
    return -np.log(p[y[0]])


def loop(s, y):
    loss = 0.0
    for i in range(s.shape[0]):
        z = s[i] - np.max(s[i])
        loss = loss - z[y[i]] + np.log(np.sum(np.exp(z)))
    return loss / s.shape[0]


def loop_plus(s, y):
    loss = 0.0
    for i in range(s.shape[0]):
        z = s[i] - np.max(s[i])
        loss += -z[y[i]] + np.log(np.sum(np.exp(z)))
    return loss


def loop_not_ce(s, y):
    loss = 0.0
    for i in range(s.shape[0]):
        z = s[i] - np.max(s[i])
        loss = loss + z[y[i]] + np.log(np.sum(np.exp(z)))
    return loss


def rows(s, y):
    N = s.shape[0]
    z = s - np.max(s, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z), axis=1)) - z[np.arange(N), y])


def rows_plus(s, y):
    N = s.shape[0]
    z = s - np.max(s, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z), axis=1)) + z[np.arange(N), y])


def rows_some(s, y):
    z = s - np.max(s, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z), axis=1))[:3] - z[np.arange(3), y[:3]])


def naive(s, y):
    loss = 0.0
    for i in range(s.shape[0]):
        scores = s[i] * 1.0
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
    return loss / s.shape[0]


def used_twice(s, y):
    z = s - np.max(s, axis=1, keepdims=True)
    e = np.exp(z)
    total = np.sum(e, axis=1, keepdims=True)
    p = e / total
    return np.sum(np.log(p[np.arange(s.shape[0]), y])) + np.sum(total ** 2) * 1e-3


def probs_used_twice(s, y):
    z = s - np.max(s, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    return np.sum(np.log(p[np.arange(s.shape[0]), y])) + np.sum(p * p)
"""

# name: (the max shift's gradient is provably zero, s's shape)
CE_CASES = {"picked": (True, (4, 5)), "picked_columns": (True, (5, 4)), "picked_repeated": (True, (4, 5)),
            "picked_one": (True, (6,)), "loop": (True, (4, 5)), "loop_plus": (True, (4, 5)),
            "loop_not_ce": (False, (4, 5)), "rows": (True, (4, 5)), "rows_plus": (False, (4, 5)),
            "rows_some": (False, (4, 5)), "naive": (True, (4, 5)), "used_twice": (False, (4, 5)),
            "probs_used_twice": (True, (4, 5))}


@pytest.mark.parametrize("name", list(CE_CASES))
def test_cross_entropy_forms(name, make_module):
    shift_free, shape = CE_CASES[name]
    y = np.array([1, 0, 3, 3])
    f = getattr(make_module(CE), name)
    s = RNG.normal(size=shape)
    tied = s.copy()
    tied[..., 0] = tied[..., 2] = s.max() + 1.0  # the max tied in every row (and a column tie)
    for point in (s, tied) if shift_free else (s,):  # else the max's kink is the function's own
        numeric = numeric_gradient(f, [point, y], 0)
        for shapes in ({"s": parse_shape("N,C" if len(shape) == 2 else "C"), "y": parse_shape("M:int")}, None):
            text = diffc.compile_source(CE, "ce.py", functions=name, wrt="s", shapes=shapes).text
            grad = run_generated(text)[f"{name}_grad"](point.copy(), y)
            assert rel_error(grad, numeric) < 1e-6, text
            if shapes is not None:
                assert ("_first_mask" not in text) == shift_free, text
        assert rel_error(diffc.grad(f, wrt="s")(point.copy(), y), numeric) < 1e-6


def test_an_intermediate_with_another_use_keeps_the_chain():
    text = diffc.compile_source(CE, "ce.py", functions="used_twice", wrt="s",
                                shapes={"s": parse_shape("N,C"), "y": parse_shape("N:int")}).text
    assert "grad_e" in text and "grad_total" in text  # the chain through the exp and the sum


def test_no_fuse_keeps_the_chain():
    shapes = {"s": parse_shape("N,C"), "y": parse_shape("N:int")}
    text = diffc.compile_source(CE, "ce.py", functions="picked", wrt="s", shapes=shapes, fuse=False).text
    # the chain: the max shift's mask and the exp/sum chain (the pick itself is an indexed write, its
    # row index np.arange(N) being unique: diffc/passes/unique.py)
    assert "_first_mask(np.argmax, s, axis=1)" in text and "(t3 * t3)" in text
    fused = diffc.compile_source(CE, "ce.py", functions="picked", wrt="s", shapes=shapes).text
    assert "_first_mask" not in fused and "np.add.at" not in fused


def test_explain_shows_the_gates(make_module):
    """The tracer's table names the gates; the shift passes p - onehot to s and nothing to the max."""
    module = make_module("import numpy as np\n\n\ndef f(s, y):\n    z = s - np.max(s)\n"
                         "    p = np.exp(z) / np.sum(np.exp(z))\n    return -np.log(p[y])\n")
    s = np.array([1.0, 2.0, 0.5])
    explanation = diffc.explain(module.f, s, 1)
    patterns = [row["pattern"] for row in explanation.rows]
    assert "log-softmax gate, picked" in patterns and "shift: no gradient to the shift" in patterns
    p = np.exp(s) / np.sum(np.exp(s))
    shift = next(row for row in explanation.rows if row["pattern"].startswith("shift"))
    np.testing.assert_allclose(shift["inputs"][0]["downstream"], p - np.eye(3)[1])
    assert len(shift["inputs"]) == 1 or shift["inputs"][1]["downstream"] is None  # the max: no gradient
    assert not any(row["pattern"] == "max gate: routes" for row in explanation.rows)


def test_cs231n_vectorized_rows_by_builtin_range(make_module):
    """p[range(N), y] with range the builtin and N = X.shape[0] picks one element per row: the textbook
    form; a range that is not the builtin keeps the general scatter (np.add.at, then the row sums)."""
    from test_real_code import IDIOMS

    shapes = {"W": parse_shape("D,C"), "X": parse_shape("N,D"), "y": parse_shape("N:int"), "reg": ()}
    W, X, y = RNG.normal(size=(5, 3)), RNG.normal(size=(4, 5)), np.array([2, 0, 2, 1])
    f = make_module(IDIOMS).softmax_loss_vectorized
    numeric = numeric_gradient(lambda *a: f(*a)[0], [W, X, y, 0.1], 0)
    for header, textbook in (("from builtins import range\n", True), ("from builtins import range as range\n", True),
                             ("", True)):
        src = IDIOMS.replace("from builtins import range\n", header)
        text = diffc.compile_source(src, "i.py", functions="softmax_loss_vectorized", wrt="W", has_aux=True,
                                    shapes=shapes).text
        assert ("np.add.at" not in text) == textbook and "_first_mask" not in text, text
        grad, _ = run_generated(text)["softmax_loss_vectorized_grad"](W, X, y, 0.1)
        assert rel_error(grad, numeric) < 1e-6
    mine = IDIOMS.replace("from builtins import range\n", "from mylib import range\n")
    text = diffc.compile_source(mine, "i.py", functions="softmax_loss_vectorized", wrt="W", has_aux=True,
                                shapes=shapes).text
    assert "np.add.at" in text and "_first_mask" not in text


def test_axes_agree_after_normalising():
    """The shift along axis 1 and the softmax along axis -1 of a matrix: the same axis (known from the
    rank); of unknown rank they are not provably the same, and the shift keeps its gradient."""
    src = ("import numpy as np\n\n\ndef f(s, r):\n    z = s - np.max(s, axis=1, keepdims=True)\n"
           "    p = np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)\n    return np.sum(p * r)\n")
    s, r = points((4, 5), 1)[1], RNG.normal(size=(4, 5))
    shapes = {"s": parse_shape("N,C"), "r": parse_shape("N,C")}
    assert "_first_mask" not in check(src, [s, r], shapes=shapes)
    assert "_first_mask" in diffc.compile_source(src, "f.py", wrt="s").text
    wrong = src.replace("axis=-1", "axis=0")  # shift per row, softmax per column: m keeps its gradient
    assert "_first_mask" in check(wrong, [points((4, 5), 1)[0], r], shapes=shapes)

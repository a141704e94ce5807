"""Loops that read ``xs[i]`` add the gradient into the backward pass's own accumulator in place
(``grad_xs[i] += g``; ``np.add.at`` where the index may repeat), not a whole zero array per iteration
(issue 12): the emitted code, and gradients against central differences for rows, columns, fancy and
repeated indices, nested loops, branches around and inside loops, and a gradient read in the loop."""

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc
from diffc.compiler import parse_shape

HEADER = "import numpy as np\n\n\n"


def _grad_text(source, shapes=None, wrt=None):
    shapes = None if shapes is None else {k: parse_shape(v) for k, v in shapes.items()}
    return diffc.compile_source(HEADER + source, shapes=shapes, wrt=wrt).text


def _backward_loop(text):
    """The generated function's backward part (from ``# backward`` on)."""
    return text.split("# backward", 1)[1]


def _check(source, args, shapes=None, wrt=None, rtol=1e-6):
    user = run_generated(HEADER + source)["f"]
    positions = range(len(args)) if wrt is None else wrt
    for given in (None, shapes) if shapes else (None,):
        text = _grad_text(source, given, wrt)
        grads = run_generated(text)["f_grad"](*args)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for g, i in zip(grads, positions):
            np.testing.assert_allclose(g, numeric_gradient(user, args, i), rtol=rtol, atol=1e-9,
                                       err_msg=f"gradient {i}, shapes {given}")
    return text


def test_softmax_loop_adds_each_row_in_place():
    source = (ROOT / "benchmarks" / "cases" / "softmax_loop.py").read_text()
    shapes = {"W": parse_shape("D,C"), "X": parse_shape("N,D"), "y": parse_shape("N:int"), "reg": ()}
    for given in (None, shapes):
        back = _backward_loop(diffc.compile_source(source, shapes=given).text)
        loop = back.split("for i in reversed(range(N)):", 1)[1].split("    grad_X", 1)[0]
        assert "grad_scores[i] += " in loop, loop
        assert "zeros_like(scores)" not in loop, loop  # no whole array per iteration


def test_rows():
    source = ("def f(xs, w):\n    s = 0.0\n    for i in range(xs.shape[0]):\n"
              "        s = s + np.sum(np.tanh(xs[i] * w))\n    return s\n")
    rng = np.random.default_rng(0)
    text = _check(source, [rng.normal(size=(5, 3)), rng.normal(size=3)], {"xs": "N,D", "w": "D"})
    assert "grad_xs[i] += " in text and text.count("np.zeros_like(xs)") == 1


def test_columns():
    source = ("def f(x, w):\n    s = 0.0\n    for j in range(x.shape[1]):\n"
              "        s = s + w[j] * np.sum(np.sin(x[:, j]))\n    return s\n")
    rng = np.random.default_rng(1)
    text = _check(source, [rng.normal(size=(4, 3)), rng.normal(size=3)], {"x": "N,C", "w": "C"})
    assert "grad_x[:, j] += " in text and "grad_w[j] += " in text


def test_labels_from_an_int_array_may_repeat():
    # y[i] with y of unknown kind: np.add.at (exact if it repeats); with y an int array: +=.
    source = ("def f(s, y):\n    loss = 0.0\n    for i in range(y.shape[0]):\n"
              "        loss = loss + s[y[i]] ** 2 * (i + 1)\n    return loss\n")
    s, y = np.array([0.3, -1.2, 0.8, 2.0]), np.array([1, 1, 3, 1, 0])
    user = run_generated(HEADER + source)["f"]
    for shapes, spelled in ((None, "np.add.at(grad_s, "), ({"s": "C", "y": "N:int"}, "grad_s[t")):
        text = _grad_text(source, shapes, wrt=0)
        assert spelled in text, text
        np.testing.assert_allclose(run_generated(text)["f_grad"](s, y), numeric_gradient(user, [s, y], 0),
                                   rtol=1e-6, atol=1e-9)


def test_fancy_index_with_repeats_in_a_loop():
    source = ("def f(x):\n    s = 0.0\n    for k in range(3):\n"
              "        s = s + np.sum(x[[0, 2, 0]] * (k + 1.0)) + np.sum(x[1:] ** 2)\n    return s\n")
    text = _check(source, [np.array([0.5, -1.0, 2.0, 0.7])], {"x": "N"})
    assert "np.add.at(grad_x, " in text


def test_nested_loops():
    source = ("def f(x):\n    s = 0.0\n    for i in range(x.shape[0]):\n        for j in range(x.shape[1]):\n"
              "            s = s + np.cos(x[i, j]) * x[i, 0]\n    return s\n")
    rng = np.random.default_rng(2)
    text = _check(source, [rng.normal(size=(3, 4))], {"x": "N,D"})
    assert "grad_x[i, j] += " in text


def test_gradient_read_inside_the_loop():
    # x is carried and read whole and by row: its gradient is read in each backward iteration.
    source = ("def f(x, v):\n    s = 0.0\n    for i in range(3):\n        s = s + np.sum(x[i] * v)\n"
              "        x = x * 0.9 + np.sum(x[i]) * v[i % 2]\n        v = v * x[i, 0]\n    return s + np.sum(x * v)\n")
    rng = np.random.default_rng(3)
    _check(source, [rng.normal(size=(4, 2)), rng.normal(size=2)], {"x": "N,D", "v": "D"})


def test_whole_array_and_rows_in_one_loop():
    # the running sum of x's gradient gets a whole-array part and a row part in each iteration
    source = ("def f(x, w):\n    s = 0.0\n    for i in range(x.shape[0]):\n"
              "        s = s + np.sum(x * w[i]) * np.sum(x[i] ** 2)\n    return s\n")
    rng = np.random.default_rng(4)
    _check(source, [rng.normal(size=(3, 2)), rng.normal(size=3)], {"x": "N,D", "w": "N"})


@pytest.mark.parametrize("flag", [1.0, -1.0])
def test_loop_inside_a_branch(flag):
    source = ("def f(x, c):\n    s = 0.0\n    if c > 0:\n        for i in range(x.shape[0]):\n"
              "            s = s + np.exp(x[i]) * c\n    else:\n        s = np.sum(x) * c\n    return s\n")
    text = _check(source, [np.array([0.1, -0.4, 0.3]), flag], {"x": "N", "c": ""})
    assert "grad_x[i] += " in text


def test_branch_inside_a_loop():
    source = ("def f(x, w):\n    s = 0.0\n    for i in range(x.shape[0]):\n        if x[i, 0] > 0:\n"
              "            s = s + np.sum(x[i] * w)\n        else:\n            s = s - np.sum(x[i, 1:] ** 2)\n"
              "    return s\n")
    x = np.array([[0.5, 1.0, -2.0], [-0.3, 0.2, 0.4], [1.5, -0.7, 0.1]])
    _check(source, [x, np.array([0.3, -0.2, 0.9])], {"x": "N,D", "w": "D"})


def test_accumulator_of_an_int_array_is_float():
    # the gradient of an int-valued array is real: the accumulator is made with dtype=float
    source = ("def f(x, n):\n    s = 0.0\n    for i in range(3):\n        s = s + x[i] * n[i]\n    return s\n")
    text = _grad_text(source, {"x": "N", "n": "N:int"}, wrt=0)
    assert "grad_x[i] += " in text
    np.testing.assert_allclose(run_generated(text)["f_grad"](np.array([0.5, 1.0, 2.0]), np.array([2, 3, 4])),
                               [2.0, 3.0, 4.0])


def test_buffer_written_in_a_loop_copies_nothing_per_iteration():
    # grad_y[i] is read (a view, for rows), then zeroed in place: the row's sum into grad_x moves before
    # the zeroing rather than copying grad_y in every iteration.
    source = ("def f(x):\n    y = np.zeros_like(x)\n    for i in range(x.shape[0]):\n        y[i] = x[i] * 2.0\n"
              "    return np.sum(y * y)\n")
    rng = np.random.default_rng(5)
    for shape in ((4,), (4, 3)):
        text = _check(source, [rng.normal(size=shape)], {"x": "N" if len(shape) == 1 else "N,D"})
        assert ".copy()" not in _backward_loop(text) and "grad_x[i] += " in text, text


def test_svm_naive_adds_into_its_own_scores_gradient():
    text = (ROOT / "examples" / "cs231n_svm_grad.py").read_text().split("def svm_loss_vectorized_grad")[0]
    back = _backward_loop(text)
    assert "grad_scores[j] += " in back and "grad_scores[y[i]] += " in back
    assert back.count("zeros_like(scores)") == 1  # once per row, none per class


def test_straight_line_elements_share_one_array():
    # x[0] * x[1] + sin(x[2]) + x[0]: the elements' gradients are added into one array (index 0 twice: +=)
    source = "def f(x):\n    return x[0] * x[1] + np.sin(x[2]) + x[0] + np.sum(x[[1, 1, 3]] ** 2)\n"
    x = np.array([0.4, -1.3, 0.9, 2.0])
    for shapes in ({"x": "N"}, None):
        text = _check(source, [x], shapes)
        assert text.count("zeros_like(x)") == 1 and text.count("grad_x[0] += ") == 2, text
        assert "np.add.at(grad_x, " in text


def test_branch_merge_adds_in_place():
    source = ("def f(x, c):\n    if c > 0:\n        s = x[0] * x[2] + np.sum(np.tanh(x))\n    else:\n"
              "        s = x[1] ** 3\n    return s * x[0]\n")
    for c in (1.0, -1.0):
        _check(source, [np.array([0.4, -1.3, 0.9]), c], {"x": "N", "c": ""})


def test_repeated_part_is_counted_twice():
    # a gradient that reaches the same value twice through one variable (x[0] + x[0] after CSE-like reuse)
    source = "def f(x):\n    t = x[1]\n    u = t + t\n    return u * x[0] + x[0]\n"
    _check(source, [np.array([0.4, -1.3, 0.9])], {"x": "N"})


# -- the loop tape: values cheap to compute again are not saved (issue 12, item 10) -------------------
def test_rows_and_labels_are_read_again_not_saved():
    source = (ROOT / "benchmarks" / "cases" / "softmax_loop.py").read_text()
    shapes = {"W": parse_shape("D,C"), "X": parse_shape("N,D"), "y": parse_shape("N:int"), "reg": ()}
    text = diffc.compile_source(source, shapes=shapes).text
    # exp(s) and its sum; not scores[i] nor y[i], nor s (read only for the shape of a zero array
    # before the label's gradient was subtracted in place: tests/test_in_place_writes.py)
    assert text.count(" = []") == 2, text
    # the max shift gets no gradient (the cross-entropy, diffc/ad/fuse_softmax.py): no mask of scores[i]
    assert "_first_mask" not in text and "[y[i]] -= " in text


def test_recomputed_index_arithmetic():
    # xs[i - 1] and xs[2 * i % 3]: the index is arithmetic of the target, computed again backwards
    source = ("def f(xs, w):\n    s = 0.0\n    for i in range(1, xs.shape[0]):\n"
              "        s = s + np.sum(np.tanh(xs[i - 1] * w) * xs[(2 * i) % 3])\n    return s\n")
    rng = np.random.default_rng(6)
    text = _check(source, [rng.normal(size=(4, 2)), rng.normal(size=2)], {"xs": "N,D", "w": "D"})
    assert text.count(" = []") == 2 and "xs[2 * i % 3]" in text, text  # tanh's value and the product


def test_carried_array_is_still_saved():
    # y changes in the loop: y[i - 1] must be saved, not read again from the final y
    source = ("def f(x, w):\n    y = np.zeros(4)\n    for i in range(1, 4):\n"
              "        y[i] = y[i - 1] * w + x[i]\n    return np.sum(y * y)\n")
    text = _check(source, [np.array([0.3, -0.5, 0.8, 1.1]), 0.7], {"x": "N", "w": ""})
    assert "saved_y" in text


def test_inner_loop_reads_an_array_the_outer_loop_changes():
    # x[j] is computed again in the inner backward loop from x, which the outer loop saves per iteration
    source = ("def f(x, w):\n    s = 0.0\n    for k in range(2):\n        for j in range(3):\n"
              "            s = s + np.sin(x[j] * w)\n        x = x * 1.5 + s\n        x[k] = x[k] * w\n"
              "    return s + np.sum(x)\n")
    _check(source, [np.array([0.3, -0.5, 0.8]), 0.7], {"x": "N", "w": ""})


def test_a_stack_whose_pops_nobody_reads_is_dropped():
    # the tape as the reverse pass may leave it: t pushed forward, popped backward, the pop unread
    from diffc.ir import Carry, Const, Eqn, Loop, Var, walk
    from diffc.passes.cleanup import plan

    x, n, i, t, stack, acc = Var("x", is_param=True), Var("n", is_param=True), Var("i"), Var("t"), Var(), Var()
    start, end, final = Var("s"), Var("s"), Var("s")
    forward = [Eqn("new_stack", (), stack),
               Loop("range", i, (n,), [], None, [Carry(Const(0.0), start, end, final)],
                    [Eqn("mul", (x, i), t), Eqn("push", (stack, t), Var()), Eqn("add", (start, x), end)])]
    back_i, popped, gstart, gend, gfinal = Var("i"), Var("t"), Var(), Var(), Var()
    backward = [Loop("reverse", back_i, (n,), [], None, [Carry(Const(0.0), gstart, gend, gfinal)],
                     [Eqn("pop", (stack,), popped), Eqn("add", (gstart, back_i), gend)])]
    items, _, _ = plan(forward, backward, [x, n], [final, gfinal, acc])
    assert not [e for e in walk(items) if e.op in ("new_stack", "push", "pop")]
    assert not [e for e in walk(items) if e.op == "mul"]  # what only the push read goes too


def test_rows_of_a_dict_part():
    # p["W"][i] in a loop: the part's running sum is added into in place too
    source = ("def f(p, x):\n    s = 0.0\n    for i in range(3):\n        if x[i] > 0:\n"
              "            s = s + np.sum(np.tanh(p['W'][i] * x[i]))\n        s = s + p['b'][i] ** 2\n    return s\n")
    rng = np.random.default_rng(7)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=3), np.array([0.5, -0.3, 0.8])
    user = run_generated(HEADER + source)["f"]
    shapes = {"p['W']": parse_shape("N,D"), "p['b']": parse_shape("N"), "x": parse_shape("N")}
    for given in (None, shapes):
        text = diffc.compile_source(HEADER + source, wrt="p", shapes=given).text
        g = run_generated(text)["f_grad"]({"W": W, "b": b}, x)
        np.testing.assert_allclose(g["W"], numeric_gradient(lambda W: user({"W": W, "b": b}, x), [W], 0), atol=1e-8)
        np.testing.assert_allclose(g["b"], numeric_gradient(lambda b: user({"W": W, "b": b}, x), [b], 0), atol=1e-8)
    assert "[i] += " in _backward_loop(text), text


def test_break_and_nested_branches_in_a_loop():
    # x[i + 1] is read in a branch only some iterations take: neither saved nor computed again outside it
    source = ("def f(x):\n    s = 0.0\n    for i in range(x.shape[0]):\n        if x[i] > 2.0:\n            break\n"
              "        s = s + x[i + 1] * x[i]\n    return s\n")
    _check(source, [np.array([0.5, 1.0, 3.0, 0.2])], {"x": "N"})

"""Forward mode (issue 13): ``diffc.jvp`` and ``diffc f.py --mode forward``.

The lecture's examples as golden files; a corpus of functions with vector outputs (layers, a loop,
a branch, a while loop, a tuple output) against central differences along random directions, and
against the reverse mode by the dot-product test ``<u, J v> == <J^T u, v>``; the API's ``wrt``,
defaults and errors; the CLI.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, run_generated

import diffc

LECTURE = ROOT / "examples" / "lecture.py"
GOLDEN = ROOT / "tests" / "golden" / "lecture_jvp.py"
RNG = np.random.default_rng(13)

CORPUS = '''
import numpy as np


def affine(W, x, b):
    return W @ x + b


def relu(x):
    return np.maximum(x, 0.0)


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def batchnorm(x, gamma, beta):
    mu = np.mean(x, axis=0)
    var = np.mean((x - mu) ** 2, axis=0)
    return gamma * (x - mu) / np.sqrt(var + 1e-5) + beta


def rnn_step(h, x, Wh, Wx, b):
    return np.tanh(h @ Wh + x @ Wx + b)


def loop(x, n):
    y = x
    for i in range(n):
        y = np.sin(y) * x + y
    return y


def branch(x):
    if np.sum(x) > 0:
        y = x * x
    else:
        y = -np.exp(x)
    return y


def grow(x):
    s = x
    while np.max(np.abs(s)) < 10.0:
        s = s * 2.0 + x
    return s


def pair(x, y):
    return x * y, np.sin(x)


def two_layer_loss(X, W1, b1, W2):
    h = np.maximum(X @ W1 + b1, 0.0)
    scores = h @ W2
    return np.sum(scores ** 2) / X.shape[0]
'''

# name -> (the arguments, the positions differentiated)
CASES = {
    "affine": (lambda: [RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=3)], (0, 1, 2)),
    "relu": (lambda: [RNG.normal(size=(2, 5))], (0,)),
    "softmax": (lambda: [RNG.normal(size=5)], (0,)),
    "batchnorm": (lambda: [RNG.normal(size=(4, 3)), RNG.normal(size=3), RNG.normal(size=3)], (0, 1, 2)),
    "rnn_step": (lambda: [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 3)) / 2,
                          RNG.normal(size=(4, 3)) / 2, RNG.normal(size=3)], (0, 1, 2, 3, 4)),
    "loop": (lambda: [RNG.uniform(0.2, 0.9, size=3), 4], (0,)),
    "branch": (lambda: [RNG.normal(size=4) + 1.0], (0,)),
    "grow": (lambda: [RNG.uniform(0.5, 1.0, size=3)], (0,)),
    "pair": (lambda: [RNG.normal(size=3), RNG.normal(size=3)], (0, 1)),
    "two_layer_loss": (lambda: [RNG.normal(size=(5, 4)), RNG.normal(size=(4, 6)), RNG.normal(size=6),
                                RNG.normal(size=(6, 3))], (0, 1, 2, 3)),
}


@pytest.fixture
def corpus(make_module):
    return make_module(CORPUS)


def _along(fn, args, wrt, tangents, h=1e-6):
    def at(sign):
        moved = list(args)
        for i, t in zip(wrt, tangents):
            moved[i] = args[i] + sign * h * t
        return fn(*moved)

    plus, minus = at(1), at(-1)
    if isinstance(plus, tuple):
        return tuple((p - m) / (2 * h) for p, m in zip(plus, minus))
    return (plus - minus) / (2 * h)


def _parts(value):
    return list(value) if isinstance(value, tuple) else [value]


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_central_differences(name, corpus):
    make, wrt = CASES[name]
    args = make()
    tangents = [RNG.normal(size=np.shape(args[i])) for i in wrt]
    fn = getattr(corpus, name)
    value, tangent = diffc.jvp(fn, wrt=wrt)(*args, *tangents)
    expected = _along(fn, args, wrt, tangents)
    for v, want, t, e in zip(_parts(value), _parts(fn(*args)), _parts(tangent), _parts(expected)):
        np.testing.assert_allclose(v, want)
        assert np.shape(t) == np.shape(want), "a tangent has its output's shape"
        np.testing.assert_allclose(t, e, rtol=1e-5, atol=1e-7)
    # The same through compile_source (code for every shape), run as a standalone module.
    generic = run_generated(diffc.compile_source(CORPUS, functions=[name], wrt=wrt, mode="jvp").text)
    _, tangent = generic[f"{name}_jvp"](*args, *tangents)
    for t, e in zip(_parts(tangent), _parts(expected)):
        np.testing.assert_allclose(t, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
def test_dot_product_test_against_the_reverse_mode(name, make_module):
    """<u, J v> (forward) equals <J^T u, v> (reverse, the gradient of <u, f>)."""
    make, wrt = CASES[name]
    args = make()
    fn = getattr(make_module(CORPUS), name)
    outputs = _parts(fn(*args))
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    us = [f"u{k}" for k in range(len(outputs))]
    call = f"{name}({', '.join(params)})"
    if isinstance(fn(*args), tuple):
        terms = " + ".join(f"np.sum(out[{k}] * {u})" for k, u in enumerate(us))
        body = f"    out = {call}\n    return {terms}\n"
    else:
        body = f"    return np.sum({call} * u0)\n"
    text = CORPUS + f"\n\ndef weighted({', '.join([*params, *us])}):\n{body}"
    weighted = make_module(text).weighted
    u = [RNG.normal(size=np.shape(o)) for o in outputs]
    v = [RNG.normal(size=np.shape(args[i])) for i in wrt]
    _, tangent = diffc.jvp(fn, wrt=wrt)(*args, *v)
    forward = sum(np.sum(a * t) for a, t in zip(u, _parts(tangent)))
    grads = diffc.grad(weighted, wrt=tuple(wrt))(*args, *u)
    reverse = sum(np.sum(g * d) for g, d in zip(grads, v))
    assert forward == pytest.approx(reverse, rel=1e-9, abs=1e-12)


def test_scalar_output_tangent_is_the_gradient_along_v(corpus):
    args, wrt = CASES["two_layer_loss"][0](), (0, 1, 2, 3)
    v = [RNG.normal(size=np.shape(a)) for a in args]
    _, tangent = diffc.jvp(corpus.two_layer_loss)(*args, *v)
    grads = diffc.grad(corpus.two_layer_loss, wrt=wrt)(*args)
    assert tangent == pytest.approx(sum(np.sum(g * d) for g, d in zip(grads, v)), rel=1e-10)


def test_two_layer_net_with_integer_labels_differentiated_too(make_module):
    """Every parameter differentiated, the labels y included: y only indexes, so its tangent adds nothing
    (as the reverse mode gives it a zero gradient); the tangent is the gradient along v."""
    module = make_module((ROOT / "examples" / "two_layer_net.py").read_text())
    args = [RNG.normal(size=(4, 6)) * 0.5, RNG.normal(size=6), RNG.normal(size=(6, 3)) * 0.5, RNG.normal(size=3),
            RNG.normal(size=(5, 4)), np.array([0, 2, 1, 1, 0]), 0.1]
    v = [RNG.normal(size=np.shape(a)) for a in args]
    _, tangent = diffc.jvp(module.two_layer_loss)(*args, *v)
    grads = diffc.grad(module.two_layer_loss, wrt=(0, 1, 2, 3, 4, 6))(*args)
    along = sum(np.sum(g * d) for g, d in zip(grads, [*v[:5], v[6]]))
    assert tangent == pytest.approx(along, rel=1e-10)
    generic = diffc.compile_source((ROOT / "examples" / "two_layer_net.py").read_text(), mode="jvp").text
    assert "    dot_t4 = dot_probs[t3, y]\n" in generic
    assert run_generated(generic)["two_layer_loss_jvp"](*args, *v)[1] == pytest.approx(along, rel=1e-10)


def test_forward_over_reverse_gives_hessian_vector_products(make_module):
    """diffc.jvp(diffc.grad(f)) on scalar code: the tangent of the gradient is H v."""
    module = make_module("import math\n\n\ndef f(x, y):\n    return math.sin(x) * y * y + x * math.exp(y)\n")
    x, y, vx, vy = 0.5, 1.5, 0.3, -0.7
    grads, tangent = diffc.jvp(diffc.grad(module.f))(x, y, vx, vy)
    hessian = [[-math.sin(x) * y * y, 2 * math.cos(x) * y + math.exp(y)],
               [2 * math.cos(x) * y + math.exp(y), 2 * math.sin(x) + x * math.exp(y)]]
    assert grads == pytest.approx(diffc.grad(module.f)(x, y))
    assert tangent == pytest.approx((hessian[0][0] * vx + hessian[0][1] * vy, hessian[1][0] * vx + hessian[1][1] * vy))


# ----------------------------------------------------------------------------
# The generated code
# ----------------------------------------------------------------------------
def test_lecture_forward_code_is_golden():
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(LECTURE), "--mode", "forward", "--stdout"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if os.environ.get("DIFFC_UPDATE_GOLDEN"):
        GOLDEN.write_text(result.stdout)
    assert result.stdout == GOLDEN.read_text(), "golden lecture_jvp.py changed (DIFFC_UPDATE_GOLDEN=1 rewrites it)"


def test_lecture_forward_code_reads_like_the_lecture():
    text = GOLDEN.read_text()
    for line in ["def f_jvp(x, y, z, dot_x, dot_y, dot_z):", "q = x + y", "dot_q = dot_x + dot_y", "out = q * z",
                 "dot_out = dot_q * z + q * dot_z", "return out, dot_out", "dot_s3 = dot_s2 + dot_w2",
                 "dot_L = dot_s3 * (1 - L) * L", "return L, dot_L"]:
        assert line in text
    namespace = run_generated(text)
    assert namespace["f_jvp"](-2.0, 5.0, -4.0, 1.0, 0.0, 0.0) == (-12.0, -4.0)  # df/dx = -4
    assert namespace["f_jvp"](-2.0, 5.0, -4.0, 0.0, 0.0, 1.0) == (-12.0, 3.0)  # df/dz = 3
    _, dx0 = namespace["neuron_jvp"](2.0, -1.0, -3.0, -2.0, -3.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    assert round(dx0, 2) == 0.39  # the lecture's dx0


def test_readme_shows_the_forward_code_beside_the_reverse_code():
    """The README's two columns are the generated f_grad and f_jvp, line by line."""
    reverse = (ROOT / "examples" / "lecture_grad.py").read_text().split("\n\n\n")[1].splitlines()
    forward = GOLDEN.read_text().split("\n\n\n")[1].splitlines()
    width = max(map(len, reverse)) + 4
    rows = [(a.ljust(width) + b).rstrip() for a, b in zip(reverse + [""] * len(forward), forward + [""] * len(reverse))
            if a or b]
    assert "\n".join(rows) + "\n```" in (ROOT / "README.md").read_text()


def test_control_flow_tangents_run_inside_the_same_loops_and_branches():
    text = diffc.compile_source(CORPUS, functions=["loop", "branch", "grow"], wrt="x", mode="jvp").text
    assert "saved_" not in text and "reversed(" not in text  # no tape
    assert "    for i in range(n):\n" in text and "        dot_y = dot_t1 * x + t1 * dot_x + dot_y\n" in text
    assert "    if took_if:\n        y = x * x\n        dot_y = dot_x * 2 * x\n" in text
    assert "        dot_s = dot_s * 2.0 + dot_x\n" in text


def test_comments_name_the_line_each_tangent_comes_from():
    text = diffc.compile_source(LECTURE.read_text(), functions=["f"], mode="jvp", comments=True).text
    assert "    # tangent of: q = x + y\n    dot_q = dot_x + dot_y\n" in text and "grad of" not in text


def test_item_of_an_array_of_one_element():
    text = diffc.compile_source("import numpy as np\n\n\ndef f(x):\n    return x.item() * 2.0\n", mode="jvp").text
    assert "dot_out = dot_x.item() * 2.0" in text
    assert run_generated(text)["f_jvp"](np.array([[1.5]]), np.array([[1.0]])) == (3.0, 2.0)


def test_only_active_values_get_a_tangent():
    text = diffc.compile_source("import math\n\n\ndef f(x, y):\n    a = math.sin(y)\n    b = x * a\n"
                                "    return b + y\n", wrt="x", mode="jvp").text
    assert "dot_a" not in text and "dot_y" not in text
    assert "def f_jvp(x, y, dot_x):" in text and "dot_b = dot_x * a" in text


def test_the_output_does_not_depend_on_wrt():
    ns = run_generated(diffc.compile_source("import numpy as np\n\n\ndef f(x, y):\n    return y * 2.0\n",
                                            wrt="x", mode="jvp").text)
    assert ns["f_jvp"](1.0, np.ones(3), 1.0)[1].tolist() == [0.0, 0.0, 0.0]


def test_broadcast_by_an_inactive_operand_gives_the_full_tangent():
    """x + B with B not differentiated and of a larger shape: the tangent has the output's shape (sum
    counts each element of dot_x twice)."""
    ns = run_generated(diffc.compile_source("import numpy as np\n\n\ndef f(x, B):\n    return np.sum(x + B)\n",
                                            wrt="x", mode="jvp").text)
    assert ns["f_jvp"](np.ones(3), np.ones((2, 3)), np.array([1.0, 2.0, 3.0]))[1] == 12.0


def test_tangent_of_a_copy_is_a_copy():
    """x = np.copy(x); x[0] = ...: writing into the copy's tangent must not write into the caller's dot_x."""
    text = "import numpy as np\n\n\ndef f(x, y):\n    x = np.copy(x)\n    x[0] = y * 3.0\n    return x\n"
    jvp = run_generated(diffc.compile_source(text, mode="jvp").text)["f_jvp"]
    dot_x = np.ones(3)
    _, tangent = jvp(np.zeros(3), 2.0, dot_x, 1.0)
    assert tangent.tolist() == [3.0, 1.0, 1.0] and dot_x.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("value,expected", [("x + 1.0", [[0.0, 2.0, 2.0]] * 2),
                                            ("x + B", [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])])
def test_a_new_value_written_in_place_owns_its_tangent(value, expected):
    """z = x + 1.0 (dot_z is dot_x) or x + B (np.broadcast_to, a read-only view), then z[0] = ...: the
    tangent's write goes into a copy, never into the caller's dot_x nor a read-only view."""
    text = f"import numpy as np\n\n\ndef f(x, B):\n    z = {value}\n    z[0] = 1.0\n    return z * B\n"
    jvp = run_generated(diffc.compile_source(text, wrt="x", mode="jvp").text)["f_jvp"]
    dot_x, B = np.ones(3), np.full((2, 3), 2.0)
    _, tangent = jvp(np.zeros(3), B, dot_x)
    assert tangent.tolist() == expected and dot_x.tolist() == [1.0, 1.0, 1.0]


def test_a_view_of_the_callers_tangent_is_copied_before_a_new_value_writes_into_it():
    text = "import numpy as np\n\n\ndef f(x):\n    v = x[0:2]\n    z = v + 1.0\n    z[0] = 5.0\n    return z\n"
    jvp = run_generated(diffc.compile_source(text, mode="jvp").text)["f_jvp"]
    dot_x = np.ones(3)
    assert jvp(np.zeros(3), dot_x)[1].tolist() == [0.0, 1.0] and dot_x.tolist() == [1.0, 1.0, 1.0]


def test_nested_loops_carry_tangents_without_extra_copies():
    """CS231n's svm_loss_naive: the tangents of loss and dW are carried through both loops as the
    values are (no dot_loss_1 = dot_loss before the inner loop), and no tangent is copied needlessly."""
    text = diffc.compile_source((ROOT / "examples" / "cs231n_svm.py").read_text(), functions=["svm_loss_naive"],
                                mode="jvp").text
    assert "dot_loss_1" not in text and "np.copy(" not in text
    assert "                    dot_loss = dot_loss + dot_margin\n" in text


# ----------------------------------------------------------------------------
# The API and the CLI
# ----------------------------------------------------------------------------
def test_wrt_by_name_position_and_tuple(corpus):
    W, x, b = CASES["affine"][0]()
    dW, dx, db = (RNG.normal(size=np.shape(a)) for a in (W, x, b))
    assert np.allclose(diffc.jvp(corpus.affine, wrt="x")(W, x, b, dx)[1], W @ dx)
    assert np.allclose(diffc.jvp(corpus.affine, wrt=0)(W, x, b, dW)[1], dW @ x)
    assert np.allclose(diffc.jvp(corpus.affine, wrt=("b", "W"))(W, x, b, db, dW)[1], db + dW @ x)
    assert "def affine_jvp(W, x, b, dot_b, dot_W):" in diffc.jvp(corpus.affine, wrt=("b", "W")).source


def test_defaults_are_filled_in(make_module):
    module = make_module("def f(x, k=3.0):\n    return x * k\n")
    assert diffc.jvp(module.f, wrt="x")(2.0, 1.0) == (6.0, 3.0)
    assert diffc.jvp(module.f, wrt="x")(2.0, 1.0, k=4.0) == (8.0, 4.0)
    assert diffc.jvp(module.f, wrt="x")(2.0, 5.0, 1.0) == (10.0, 5.0)
    with pytest.raises(TypeError, match="tangent"):
        diffc.jvp(module.f, wrt="x")()
    with pytest.raises(TypeError, match=r"takes at most 2 argument\(s\) of f, then 1 tangent\(s\) \(dot_x\)"):
        diffc.jvp(module.f, wrt="x")(2.0, 5.0, 6.0, 1.0)
    with pytest.raises(TypeError, match=r"missing the argument 'x' \(it takes f's arguments, then 1 tangent"):
        diffc.jvp(module.f, wrt="x")(1.0, k=2.0)


def test_a_method_with_respect_to_attributes_of_its_object(make_module):
    module = make_module("import numpy as np\n\n\nclass Net:\n    def __init__(self):\n"
                         "        self.params = {'W': np.ones((2, 2))}\n\n"
                         "    def loss(self, X, scale=2.0):\n        return np.sum(X @ self.params['W']) * scale\n")
    net, X = module.Net(), np.arange(4.0).reshape(2, 2)
    jvp = diffc.jvp(net.loss, wrt="params")
    assert jvp(X, {"W": np.eye(2)}) == (24.0, 12.0)  # the default scale
    assert jvp(X, 3.0, {"W": np.eye(2)}) == (36.0, 18.0)
    assert "def Net_loss_jvp(params, X, scale, dot_params):" in jvp.source


def test_decorator_form(make_module):
    module = make_module("import diffc\n\n\n@diffc.jvp(wrt='x')\ndef f(x, y):\n    return x * y\n")
    assert module.f(2.0, 3.0, 1.0) == (6.0, 3.0)


def test_a_tangent_name_never_shadows_a_parameter():
    text = diffc.compile_source("def f(x, dot_x):\n    return x * dot_x\n", wrt="x", mode="jvp").text
    assert "def f_jvp(x, dot_x, dot_x_1):" in text
    assert run_generated(text)["f_jvp"](2.0, 3.0, 1.0) == (6.0, 3.0)


def test_an_op_without_a_forward_rule_is_refused_where_it_is():
    text = "import numpy as np\n\n\ndef f(x):\n    y = x * 2.0\n    return np.cumprod(y)\n"
    with pytest.raises(diffc.UnsupportedError, match="no forward-mode") as info:
        diffc.compile_source(text, "user.py", mode="jvp")
    assert (info.value.lineno, info.value.filename) == (6, "user.py")


def test_an_unknown_call_is_refused_only_when_active():
    text = "import numpy as np\n\n\ndef f(x, y):\n    z = np.frobnicate(y)\n    return x * z\n"
    assert run_generated(diffc.compile_source(text, wrt="x", mode="jvp").text)  # inactive: forward code
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(text, "user.py", wrt="y", mode="jvp")
    assert info.value.lineno == 5


def test_cli_mode_forward(tmp_path):
    source = tmp_path / "lec.py"
    source.write_text(LECTURE.read_text())
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(source), "--mode", "forward"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "lec_jvp.py").read_text()
    assert run_generated(written)["f_jvp"](-2.0, 5.0, -4.0, 0.0, 1.0, 0.0) == (-12.0, -4.0)
    bad = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(source), "--mode", "forward",
                          "--value-and-grad", "--stdout"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--mode forward" in bad.stderr
    dump = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(source), "--mode", "forward",
                           "--dump-after", "live"], capture_output=True, text=True, timeout=120)
    assert dump.returncode == 2 and "--dump-after" in dump.stderr  # the passes it lists are the reverse mode's


# ----------------------------------------------------------------------------
# The soundness fuzzer's programs (tests/fuzz_gen.py), in forward mode
# ----------------------------------------------------------------------------
def _fuzz_outcome(seed, index):
    """OK, REFUSED or SKIPPED, else a string that says what went wrong (WRONG or CRASH)."""
    import warnings

    import fuzz

    source, params, args, _, mode = fuzz.program(seed, index)
    namespace = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            with fuzz.time_limit(2.0):
                exec(compile(source, "<fuzz>", "exec"), namespace)
                user = namespace["f"]
                value = user(*fuzz.fresh(args))
                if isinstance(value, (tuple, list, dict)) or not np.all(np.isfinite(value)):
                    return "SKIPPED"
        except (Exception, fuzz.Timeout):
            return "SKIPPED"
        names = user.__code__.co_varnames[:user.__code__.co_argcount]
        where = [names.index(p) for p in params]
        rng = np.random.default_rng(index)
        v = [rng.normal(size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.normal()) for k in where]

        def along(h):
            moved = fuzz.fresh(args)
            for k, d in zip(where, v):
                moved[k] = moved[k] + h * d
            return np.asarray(user(*moved))

        try:
            with fuzz.time_limit(4.0):
                numeric = [(along(h) - along(-h)) / (2 * h) for h in (1e-4, 1e-5, 1e-6)]
        except (Exception, fuzz.Timeout):
            return "SKIPPED"
        if not all(np.allclose(numeric[0], n, rtol=1e-3, atol=1e-5) for n in numeric[1:]):
            return "SKIPPED"  # not smooth at the point
        try:
            with fuzz.time_limit(20.0):
                if mode == "decorator":
                    jvp = diffc.jvp(fuzz.load_module(source).f, wrt=tuple(params))
                else:
                    jvp = run_generated(diffc.compile_source(source, wrt=tuple(params), mode="jvp").text)["f_jvp"]
                _, tangent = jvp(*fuzz.fresh(args), *v)
        except diffc.DiffcError:
            return "REFUSED"
        except (Exception, fuzz.Timeout) as exc:
            return f"CRASH {seed}:{index} ({mode}) {type(exc).__name__}: {exc}\n{source}"
    if np.shape(tangent) != np.shape(value) or not np.allclose(tangent, numeric[-1], rtol=1e-4, atol=1e-6):
        return f"WRONG {seed}:{index} ({mode}): tangent {tangent}, central differences {numeric[-1]}\n{source}"
    return "OK"


def test_fuzz_programs_in_forward_mode():
    """Random NumPy programs (branches, loops, indexing, broadcasting): each tangent matches central
    differences along a random direction, or diffc refuses; nothing crashes."""
    outcomes = [_fuzz_outcome("forward-ci", i) for i in range(300)]
    bad = [o for o in outcomes if o not in ("OK", "REFUSED", "SKIPPED")]
    assert not bad, "\n\n".join(bad[:5])
    assert outcomes.count("OK") > 200, {o: outcomes.count(o) for o in set(outcomes)}

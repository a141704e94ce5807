"""Idioms of real code (issue 11), written as students write them and checked against central differences
through the decorator and the CLI: ``x.item()`` and ``float(x)`` on an array of one element (a number out,
the gradient back in x's shape), ``x.dtype`` of any array as a value (``np.zeros(D, dtype=h.dtype)``,
``y.astype(h.dtype)``), and CS231n's ``dropout_forward`` unchanged (``np.random.seed`` kept as a statement
before the ``np.random.rand(*x.shape)`` it seeds, ``'seed' in dropout_param``)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, check_gradients, numeric_gradient, run_generated

import diffc


def cli(tmp_path, source, *options):
    """The generated module of ``source`` (written to a file) as the CLI writes it."""
    path = tmp_path / "user.py"
    path.write_text(source)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "--stdout", *options],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


rng = np.random.default_rng(11)

# ----------------------------------------------------------------------------
# 1. x.item(), float(x): a number out of an array of one element
# ----------------------------------------------------------------------------
ITEMS = textwrap.dedent('''
    import numpy as np


    def item_squared(x):
        return x.item() * x.item()


    def item_and_sum(x, w):
        return float(np.sum(w * x ** 2)) + 3.0 * x.item() ** 3


    def float_of(x):
        return float(x) * float(x) + float(x)
''')
ONE_ELEMENT = [np.array([1.5]), np.array([[1.5]]), np.array(1.5)]


def item_and_sum(module):
    """The function itself for central differences (which pass a 0-d parameter as a float: no .item())."""
    return lambda x, w: module.item_and_sum(np.asarray(x), w)


@pytest.mark.parametrize("x", ONE_ELEMENT, ids=lambda x: str(x.shape))
def test_item_of_one_element_through_the_decorator(make_module, x):
    module = make_module(ITEMS)
    g = diffc.grad(module.item_squared)(x)
    assert np.shape(g) == x.shape and np.allclose(g, 2 * x)  # was refused: "returns an array of shape (1,)"
    w = rng.normal(size=3)  # w * x ** 2 broadcasts x against w
    check_gradients(diffc.grad(module.item_and_sum)(x, w), item_and_sum(module), [x, w])


@pytest.mark.parametrize("x", [np.array(1.5), 1.5], ids=["0-d", "float"])
def test_float_of_a_number_or_0d_array(make_module, x):
    module = make_module(ITEMS)
    g = diffc.grad(module.float_of)(x)
    assert g == pytest.approx(2 * 1.5 + 1) and np.shape(g) == ()


def test_item_of_one_element_through_the_cli(tmp_path, make_module):
    module = make_module(ITEMS)
    generated = run_generated(cli(tmp_path, ITEMS))  # no shapes: right for every shape of one element
    w = rng.normal(size=3)
    for x in ONE_ELEMENT:
        g = generated["item_squared_grad"](x)
        assert np.shape(g) == x.shape and np.allclose(g, 2 * x)  # was the number 3.0 for x of shape (1,)
        check_gradients(generated["item_and_sum_grad"](x, w), item_and_sum(module), [x, w])
    for x in (np.array(1.5), 1.5):
        assert generated["float_of_grad"](x) == pytest.approx(4.0)
    shaped = run_generated(cli(tmp_path, ITEMS, "-f", "item_squared", "--shape", "x=1,1"))["item_squared_grad"]
    assert np.shape(shaped(np.array([[1.5]]))) == (1, 1)


# ----------------------------------------------------------------------------
# 2. x.dtype as a value, for any array
# ----------------------------------------------------------------------------
DTYPES = textwrap.dedent('''
    import numpy as np


    def first_row_kept(x, w):
        h = x * w
        acc = np.zeros(h.shape[1], dtype=h.dtype)
        acc[0] = np.sum(h ** 2)
        return np.sum(acc * w[0])


    def cast_like(x, labels):
        h = np.tanh(x)
        return np.sum(h * labels.astype(h.dtype)) + np.sum(x.astype(labels.dtype) * h)


    def same_type(x):
        d = x.dtype
        y = x * 2.0
        return np.sum(y.astype(d) ** 2)
''')
X, W = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
LABELS = np.array([[0, 1, 2, 1]] * 3)
XS = X + 0.25  # far from integers: x.astype(int) is flat there


def _check_dtypes(grads):
    """``grads`` maps each function to its gradient function (with respect to x only)."""
    module = grads["module"]
    # acc is a float array because h is: an int array would truncate the write and lose the gradient.
    check_gradients(grads["first_row_kept"](X, W), lambda x: module.first_row_kept(x, W), [X])
    check_gradients(grads["cast_like"](XS, LABELS), lambda x: module.cast_like(x, LABELS), [XS])
    check_gradients(grads["same_type"](X), module.same_type, [X])
    x32 = X.astype(np.float32)
    assert grads["same_type"](x32) == pytest.approx(8 * x32, rel=1e-5)


def test_dtype_of_any_array_through_the_decorator(make_module):
    module = make_module(DTYPES)
    grads = {name: diffc.grad(getattr(module, name), wrt="x") for name in ("first_row_kept", "cast_like",
                                                                           "same_type")}
    _check_dtypes({**grads, "module": module})
    assert "_cast_grad" not in grads["same_type"].source  # x's kind is known from the call: float


def test_dtype_of_any_array_through_the_cli(tmp_path, make_module):
    text = cli(tmp_path, DTYPES, "--wrt", "x")
    assert "np.zeros(h.shape[1], dtype=h.dtype)" in text
    generated = run_generated(text)  # kinds unknown: the cast keeps or cuts the gradient at run time
    _check_dtypes({name: generated[f"{name}_grad"] for name in ("first_row_kept", "cast_like", "same_type")}
                  | {"module": make_module(DTYPES)})


def test_a_cast_to_an_int_arrays_type_cuts_the_gradient(make_module):
    module = make_module(DTYPES)
    g = diffc.grad(module.cast_like, wrt="x")(XS, LABELS)
    h = np.tanh(XS)
    assert np.allclose(g, (1 - h ** 2) * (LABELS + XS.astype(int)))  # no term for x.astype(int)


# ----------------------------------------------------------------------------
# 3. CS231n's dropout_forward, unchanged
# ----------------------------------------------------------------------------
DROPOUT = textwrap.dedent('''
    import numpy as np


    def dropout_forward(x, dropout_param):
        p, mode = dropout_param['p'], dropout_param['mode']
        if 'seed' in dropout_param:
            np.random.seed(dropout_param['seed'])

        mask = None
        out = None

        if mode == 'train':
            mask = (np.random.rand(*x.shape) < p) / p
            out = x * mask
        elif mode == 'test':
            out = x

        cache = (dropout_param, mask)
        out = out.astype(x.dtype, copy=False)

        return out, cache


    def loss(x, dropout_param, c):
        return np.sum(dropout_forward(x, dropout_param)[0] * c)


    def loss_and_cache(x, dropout_param, c):
        out, cache = dropout_forward(x, dropout_param)
        return np.sum(out * c), cache
''')
XD, CD = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))


def _check_dropout(loss, loss_and_cache, module):
    for mode in ("train", "test"):
        param = {"p": 0.5, "mode": mode, "seed": 231}  # the same mask in every evaluation
        numeric = numeric_gradient(lambda x, param=param: module.loss(x, dict(param), CD), [XD], 0)
        assert np.allclose(loss(XD, dict(param), CD), numeric, rtol=1e-6, atol=1e-8)
        g, (returned_param, mask) = loss_and_cache(XD, dict(param), CD)
        assert np.allclose(g, numeric, rtol=1e-6, atol=1e-8) and returned_param == param
        assert (mask is None) == (mode == "test")
        if mode == "train":
            assert 0 < np.count_nonzero(mask) < mask.size  # dropout did drop some units
    g, (_, mask) = loss_and_cache(XD, {"p": 0.5, "mode": "train"}, CD)  # unseeded: the mask it drew
    assert np.array_equal(g, CD * mask)


def test_dropout_forward_as_written_through_the_decorator(make_module):
    module = make_module(DROPOUT)
    _check_dropout(diffc.grad(module.loss, wrt="x"), diffc.grad(module.loss_and_cache, wrt="x", has_aux=True),
                   module)


def test_dropout_forward_as_written_through_the_cli(tmp_path, make_module):
    text = cli(tmp_path, DROPOUT, "-f", "loss_and_cache", "--wrt", "x", "--has-aux")
    seed, rand = text.index("np.random.seed(dropout_param['seed'])"), text.index("np.random.rand(*x.shape)")
    assert text.count("np.random.seed(") == 1 and seed < rand  # kept, in its place, before the draw
    assert "'seed' in dropout_param" in text
    # Without --wrt the dict is differentiated too, and the seed depends on it: refused at the call.
    with pytest.raises(diffc.UnsupportedError, match="np.random.seed.*side effects") as info:
        diffc.compile_source(DROPOUT, "layers.py", functions="loss")
    assert info.value.lineno == 8 and "--wrt" in info.value.hint  # np.random.seed(...)
    plain = run_generated(cli(tmp_path, DROPOUT, "-f", "loss", "--wrt", "x"))["loss_grad"]
    _check_dropout(plain, run_generated(text)["loss_and_cache_grad"], make_module(DROPOUT))


def test_membership_in_a_dict_parameter(make_module):
    module = make_module("""
        def f(x, d):
            y = x * d['a']
            if 'b' in d:
                y = y * d['b']
            if 'c' not in d:
                y = y * x
            return y
    """)
    grad = diffc.grad(module.f, wrt="x")
    assert grad(3.0, {"a": 2.0}) == pytest.approx(12.0)
    assert grad(3.0, {"a": 2.0, "b": 5.0, "c": 0.0}) == pytest.approx(10.0)


# ----------------------------------------------------------------------------
# What stays refused, where it happens
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("body,message,line", [
    ("    np.random.seed(int(x))\n    print(x)\n    return x", "called for its side effects on a value that "
     "depends on the parameters", 6),
    ("    d = {'a': 1.0}\n    d.update(b=2.0)\n    return x * d['a']", "may change 'd' in place", 6),
    ("    h(x)\n    return x", "is called only for its effect", 5),
    ("    return np.sum(x.reshape(*x.shape))", "starred expressions are not supported as arguments of 'x.reshape'", 5),
])
def test_effects_and_starred_arguments_refused_at_their_line(body, message, line):
    source = f"import numpy as np\n\n\ndef f(x):\n{body}\n\n\ndef h(x):\n    return x\n"
    with pytest.raises(diffc.UnsupportedError, match=message) as info:
        diffc.compile_source(source, "e.py", functions="f")
    assert info.value.lineno == line and info.value.hint


def test_a_draw_is_not_written_inline_after_a_seed():
    # t[0] is the draw itself, read once after the seed: written inline, it would be drawn after it.
    source = "import numpy as np\n\n\ndef f(x):\n    t = (np.random.rand(3), 1.0)\n    np.random.seed(0)\n" \
             "    return np.sum(x) * np.sum(t[0])\n"
    text = diffc.compile_source(source).text
    assert text.index("np.random.rand(3)") < text.index("np.random.seed(0)")
    np.random.seed(5)
    expected = np.sum(np.random.rand(3))
    np.random.seed(5)
    assert np.allclose(run_generated(text)["f_grad"](np.ones(2)), expected)


def test_a_draw_is_not_moved_past_a_later_seed():
    source = textwrap.dedent('''
        import numpy as np


        def f(x):
            a = np.random.rand(3)
            np.random.seed(0)
            return np.sum(x * (a + np.random.rand(3)))
    ''')
    text = diffc.compile_source(source).text
    lines = [line.strip() for line in text.splitlines()]
    first = next(i for i, line in enumerate(lines) if "np.random.rand(3)" in line)
    assert first < lines.index("np.random.seed(0)") < max(i for i, line in enumerate(lines) if "rand(3)" in line)
    np.random.seed(5)
    a = np.random.rand(3)
    np.random.seed(0)
    expected = a + np.random.rand(3)
    np.random.seed(5)
    assert np.allclose(run_generated(text)["f_grad"](np.ones(3)), expected)


def test_an_effect_call_on_a_value_the_gradient_reads_is_refused():
    # mylib.normalize_(X) may change X in place after X @ W, and the gradient of W reads X: without the
    # refusal, the generated gradient would read the changed X. Calls known to leave their arguments
    # alone (print, np.random.seed) may still take the function's values.
    source = textwrap.dedent('''
        import numpy as np
        import mylib


        def f(W, X):
            loss = np.sum(X @ W)
            mylib.normalize_(X)
            return loss


        def g(W, X, d):
            np.random.seed(d['seed'])
            print(X.shape)
            return np.sum(X @ W)
    ''')
    with pytest.raises(diffc.UnsupportedError, match="cannot tell whether it changes that value") as info:
        diffc.compile_source(source, "m.py", functions="f", wrt="W")
    assert info.value.lineno == 8 and "outside the function" in info.value.hint
    text = diffc.compile_source(source, "m.py", functions="g", wrt="W").text
    assert "np.random.seed(d['seed'])" in text and "print(X.shape)" in text

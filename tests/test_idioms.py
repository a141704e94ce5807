"""Idioms of real code (issue 11): CS231n's batchnorm_forward as written (string modes, dict.get with a
default, raise in a branch, writes into the bn_param dict, np.zeros(D, dtype=x.dtype)), 'out=' refused
with a hint naming it, checked against central differences through the decorator and the CLI."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, numeric_gradient, run_generated

import diffc

BATCHNORM = textwrap.dedent('''
    import numpy as np


    def batchnorm_forward(x, gamma, beta, bn_param):
        mode = bn_param['mode']
        eps = bn_param.get('eps', 1e-5)
        momentum = bn_param.get('momentum', 0.9)

        N, D = x.shape
        running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
        running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))

        out, cache = None, None
        if mode == 'train':
            sample_mean = np.mean(x, axis=0)
            sample_var = np.var(x, axis=0)
            x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
            out = gamma * x_hat + beta
            cache = (x, x_hat, sample_mean, sample_var, gamma, beta, eps)
            running_mean = momentum * running_mean + (1 - momentum) * sample_mean
            running_var = momentum * running_var + (1 - momentum) * sample_var
        elif mode == 'test':
            x_hat = (x - running_mean) / np.sqrt(running_var + eps)
            out = gamma * x_hat + beta
        else:
            raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

        # Store the updated running means back into bn_param
        bn_param['running_mean'] = running_mean
        bn_param['running_var'] = running_var

        return out, cache


    def loss(x, gamma, beta, bn_param, dout):
        out, cache = batchnorm_forward(x, gamma, beta, bn_param)
        return np.sum(out * dout), cache
''')

rng = np.random.default_rng(11)
X, GAMMA, BETA, DOUT = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(5, 3))
RUNNING = {"running_mean": rng.normal(size=3), "running_var": rng.uniform(0.5, 2.0, size=3)}


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))


def check_batchnorm(grad, loss, mode):
    """The gradient wrt x, gamma, beta against central differences (the dict is copied per call: the
    user's function writes into it)."""
    param = {"mode": mode, **RUNNING}
    value = lambda x, gamma, beta: loss(x, gamma, beta, dict(param), DOUT)[0]  # noqa: E731
    (g_x, g_gamma, g_beta), cache = grad(X, GAMMA, BETA, dict(param), DOUT)
    for i, g in enumerate((g_x, g_gamma, g_beta)):
        assert rel_error(g, numeric_gradient(value, [X, GAMMA, BETA], i)) < 1e-6
    assert (cache is None) == (mode == "test")


@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_forward_as_written_through_the_decorator(make_module, mode):
    module = make_module(BATCHNORM)
    grad = diffc.grad(module.loss, wrt=("x", "gamma", "beta"), has_aux=True)
    check_batchnorm(grad, module.loss, mode)
    with pytest.raises(ValueError, match='Invalid forward batchnorm mode "eval"'):
        grad(X, GAMMA, BETA, {"mode": "eval"}, DOUT)  # the gradient raises where the function does


def test_batchnorm_forward_as_written_through_the_cli(tmp_path, make_module):
    path = tmp_path / "layers.py"
    path.write_text(BATCHNORM)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "-f", "loss", "--has-aux",
                             "--wrt", "x", "--wrt", "gamma", "--wrt", "beta", "--stdout"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "raise ValueError('Invalid forward batchnorm mode \"%s\"' % mode)" in result.stdout
    assert "np.zeros(D, dtype=x.dtype)" in result.stdout
    grad, module = run_generated(result.stdout)["loss_grad"], make_module(BATCHNORM)
    for mode in ("train", "test"):
        check_batchnorm(grad, module.loss, mode)
    with pytest.raises(ValueError, match="Invalid forward batchnorm mode"):
        grad(X, GAMMA, BETA, {"mode": "eval"}, DOUT)


def test_a_raise_in_a_branch_of_the_function_itself(make_module):
    module = make_module("""
        import numpy as np


        def f(x, mode):
            if mode == 'sq':
                return np.sum(x * x)
            elif mode == 'cube':
                return np.sum(x ** 3)
            else:
                raise ValueError('unknown mode %s' % mode)


        def validate(x):
            if x < 0:
                raise ValueError("negative")
            return x * x
    """)
    x = rng.normal(size=4)
    grad = diffc.grad(module.f, wrt="x")
    assert rel_error(grad(x, "sq"), 2 * x) < 1e-12 and rel_error(grad(x, "cube"), 3 * x ** 2) < 1e-12
    with pytest.raises(ValueError, match="unknown mode abs"):
        grad(x, "abs")
    validate = diffc.grad(module.validate)
    assert validate(3.0) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="negative"):
        validate(-1.0)  # a check that only raises is kept: nothing reads what it computes


def test_a_helper_returning_after_a_write_into_the_callers_dict(make_module):
    module = make_module("""
        def f(x, p):
            return h(x, p)


        def h(x, p):
            p['k'] = 2.0 * x
            return p['k'] * x + p['j']
    """)
    assert diffc.grad(module.f, wrt="x")(3.0, {"j": 1.0}) == pytest.approx(12.0)
    with pytest.raises(diffc.UnsupportedError, match="supported only where no caller reads it after the call"):
        diffc.compile_source("def f(x, p):\n    return h(x, p) * p['k']\n\n\n"
                             "def h(x, p):\n    p['k'] = 2.0 * x\n    return x\n", wrt="x")


def test_a_write_into_the_callers_dict_that_the_caller_reads_again_is_refused(make_module):
    module = make_module("""
        def f(x, p):
            y = helper(x, p)
            return y * p['k']


        def helper(x, p):
            p['k'] = 2.0 * x
            return x * x
    """)
    with pytest.raises(diffc.UnsupportedError, match="supported only where no caller reads it after the call"):
        diffc.grad(module.f, wrt="x")


@pytest.mark.parametrize("body,message,line", [
    ("    raise ValueError('always')\n    return x", "only as the last statement of an 'if' or 'else'", 3),
    ("    if x > 0:\n        raise ValueError(f'bad {x}')\n    return x", "f-strings are not supported", 4),
    ("    if x > 0:\n        raise\n    return x", "a bare 'raise'", 4),
])
def test_raises_diffc_cannot_follow_are_refused_at_their_line(body, message, line):
    with pytest.raises(diffc.DiffcError, match=message) as info:
        diffc.compile_source(f"\ndef f(x):\n{body}\n", "r.py")
    assert info.value.lineno == line


@pytest.mark.parametrize("line", ["np.cumsum(x, out=out)", "c = np.cumsum(x, out=out)", "c = np.exp(x, out=out)",
                                  "c = x.cumsum(out=out)"])
def test_out_is_refused_with_a_hint_naming_the_keyword(line):
    source = f"import numpy as np\n\n\ndef f(x):\n    out = np.zeros(3)\n    {line}\n    return np.sum(out)\n"
    with pytest.raises(diffc.UnsupportedError, match="with out= changes an array in place") as info:
        diffc.compile_source(source, "o.py")
    assert info.value.lineno == 6 and "drop out= and assign the result: 'out = " in info.value.hint


CONSTANTS = textwrap.dedent("""
    import numpy as np

    WEIGHTS = {'b': 2.0, 'a': 1.0, 'c': -0.5}
    SCALES = [1.0, 2.0, 3.0]
    SHIFTS = (0.5, -1.0)


    def weighted(x):
        total = 0.0
        for key in sorted(WEIGHTS):
            total = total + WEIGHTS[key] * np.sum(x ** 2)
        return total


    def scaled(x):
        total = 0.0
        for s in SCALES:
            total = total + s * np.sum(np.sin(s * x))
        for shift in SHIFTS:
            total = total + np.sum((x - shift) ** 2) * len(SCALES)
        return total
""")


def test_module_level_list_dict_and_tuple_constants_in_loops(make_module, tmp_path):
    module = make_module(CONSTANTS)
    x = rng.normal(size=4)
    path = tmp_path / "consts.py"
    path.write_text(CONSTANTS)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "--stdout"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    generated = run_generated(result.stdout)
    for name in ("weighted", "scaled"):
        numeric = numeric_gradient(getattr(module, name), [x], 0)
        assert rel_error(diffc.grad(getattr(module, name))(x), numeric) < 1e-6
        assert rel_error(generated[f"{name}_grad"](x), numeric) < 1e-6
    # The decorator compiled the list's items in: a change to the list compiles the gradient again.
    grad = diffc.grad(module.scaled)
    grad(x)
    module.SCALES.append(-2.0)
    assert rel_error(grad(x), numeric_gradient(module.scaled, [x], 0)) < 1e-6
    module.WEIGHTS["d"] = 4.0
    assert rel_error(diffc.grad(module.weighted)(x), numeric_gradient(module.weighted, [x], 0)) < 1e-6


@pytest.mark.parametrize("change", ["SCALES.append(4.0)", "SCALES[0] = 5.0", "SCALES += [1.0]",
                                    "def setup():\n    SCALES.extend([1.0])"])
def test_a_module_level_list_changed_in_the_file_is_refused_by_the_cli(change):
    source = CONSTANTS + "\n" + change + "\n"
    with pytest.raises(diffc.DiffcError, match="module-level (list|variable) 'SCALES'.*not certain") as info:
        diffc.compile_source(source, "consts.py", functions="scaled")
    assert info.value.lineno is not None and info.value.hint


def test_a_module_level_list_passed_to_a_call_without_a_rule_is_written_out(make_module):
    source = "import numpy as np\n\nSCALES = [1.0, 2.0, 4.0]\n\n\ndef f(x):\n    return x * np.percentile(SCALES, 50)\n"
    text = diffc.compile_source(source).text
    assert "np.percentile([1.0, 2.0, 4.0], 50)" in text  # the generated module has no SCALES of its own
    assert run_generated(text)["f_grad"](3.0) == pytest.approx(2.0)
    assert diffc.grad(make_module(source).f)(3.0) == pytest.approx(2.0)


def test_a_key_written_into_a_dict_parameter_reads_back_as_the_value_written(make_module):
    # Was an IndexError from the generated gradient: p['k'] read back through the write, as an array index.
    source = "def f(x, p):\n    p['k'] = 2.0 * x\n    return p['k'] * x + p['j']\n"
    assert run_generated(diffc.compile_source(source, wrt="x").text)["f_grad"](3.0, {"j": 1.0}) == \
        pytest.approx(12.0)
    assert diffc.grad(make_module(source).f, wrt="x")(3.0, {"j": 1.0}) == pytest.approx(12.0)


@pytest.mark.parametrize("body,expected", [
    ("    if x > 0:\n        p['k'] = 3.0 * x\n    return p['j'] * x\n", 2.0),  # another key: as before
    ("    for i in range(3):\n        p['k'] = 3.0 * x\n    return p['j'] * x\n", 2.0),
    ("    p['k'] = 2.0 * x\n    if x > 0:\n        p['k'] = 3.0 * x\n    return p['k'] * x\n", None),
    ("    for i in range(3):\n        p['k'] = p['j'] * x\n    return p['k'] * x\n", None),
])
def test_a_key_written_on_a_branch_or_in_a_loop_is_read_back_or_refused(body, expected):
    source = f"def f(x, p):\n{body}"
    if expected is None:  # which write it reads is known only at run time: refused (was an IndexError)
        with pytest.raises(diffc.UnsupportedError, match="of a dict written into on a path through a branch"):
            diffc.compile_source(source, wrt="x")
        return
    assert run_generated(diffc.compile_source(source, wrt="x").text)["f_grad"](3.0, {"j": 2.0}) == \
        pytest.approx(expected)


def test_a_raise_in_a_loop_and_is_none_tests(make_module):
    module = make_module("""
        def grow(x):
            s = 0.0
            for i in range(3):
                if s > 100.0:
                    raise ValueError('too big')
                s = s + x * x
            return s


        def pick(x, y=None):
            if x is None:
                return 0.0
            if y is not None:
                return x * y
            return x * x
    """)
    grow = diffc.grad(module.grow)
    assert grow(2.0) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="too big"):
        grow(10.0)
    pick = diffc.grad(module.pick, wrt="x")
    assert pick(2.0) == pytest.approx(4.0) and pick(2.0, 5.0) == pytest.approx(5.0)
    assert "isinstance(y, type(None))" in diffc.compile_source(
        "def pick(x, y=None):\n    if y is None:\n        return x * x\n    return x * y\n", wrt="x").text

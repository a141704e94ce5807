"""Hostile input (issue 10): no crash, no lost file, no recursion limit reachable.

CLI tests run ``python cli.py`` in a subprocess and check the exit status,
stderr and the file system afterwards. Gradients are checked against
central differences.
"""

import hashlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, central_difference, numeric_gradient, run_generated

import diffc


def run(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def generated(path, *args):
    """Compile ``path`` with the CLI to stdout and run the result."""
    result = run(path, "--stdout", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, run_generated(result.stdout)


# -- crash 5 and 6: a user's name never shadows what the generated code calls ------------------------

def test_local_shadowing_an_imported_derivative(tmp_path):
    path = write(tmp_path / "f.py", """\
        from math import sin, cos


        def f(x):
            cos = 2.0
            return sin(x) * cos
        """)
    text, ns = generated(path)
    assert "cos_1 = 2.0" in text  # the user's local is renamed, math's cos keeps its name
    for x in (0.3, -1.2, 2.0):
        assert ns["f_grad"](x) == pytest.approx(2.0 * math.cos(x), rel=1e-12)


def test_local_shadowing_an_imported_derivative_through_the_api(make_module):
    m = make_module("""\
        from math import sin, cos


        def f(x):
            cos = 2.0
            return sin(x) * cos
        """)
    assert diffc.grad(m.f)(0.7) == pytest.approx(2.0 * math.cos(0.7), rel=1e-12)


def test_parameters_named_like_helpers(tmp_path):
    path = write(tmp_path / "f.py", """\
        import numpy as np


        def f(_matmul_grad, _unbroadcast, A):
            return np.sum(np.tanh(_matmul_grad @ A) * _unbroadcast)
        """)
    text, ns = generated(path)
    assert "def _unbroadcast_(" in text and "def _matmul_grad_(" in text
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(3, 4)), rng.normal(size=(1, 5)), rng.normal(size=(4, 5))]  # broadcast (1, 5)

    def f(m, u, A):
        return np.sum(np.tanh(m @ A) * u)

    grads = ns["f_grad"](*args)
    for i in range(3):
        assert grads[i].shape == args[i].shape
        np.testing.assert_allclose(grads[i], numeric_gradient(f, args, i), rtol=1e-6, atol=1e-8)


def test_parameter_named_like_the_module_of_a_derivative(tmp_path):
    path = write(tmp_path / "f.py", """\
        import math
        from math import sin


        def f(x, math):
            return sin(x) * math
        """)
    _, ns = generated(path)
    gx, gm = ns["f_grad"](0.4, 3.0)
    assert gx == pytest.approx(3.0 * math.cos(0.4)) and gm == pytest.approx(math.sin(0.4))


def test_parameter_named_like_numpy_alias(tmp_path):
    path = write(tmp_path / "f.py", """\
        import numpy


        def f(x, np):
            return numpy.sum(numpy.exp(x) * np)
        """)
    _, ns = generated(path)
    x, w = np.array([0.1, -0.4]), np.array([[2.0, 3.0], [1.0, -1.0]])
    gx, gw = ns["f_grad"](x, w)
    np.testing.assert_allclose(gx, np.exp(x) * w.sum(axis=0))
    np.testing.assert_allclose(gw, np.broadcast_to(np.exp(x), w.shape))


def test_parameters_named_like_builtins_and_the_loop_dummy(tmp_path):
    path = write(tmp_path / "f.py", """\
        def f(x, reversed, _, n: int = 3):
            for i in range(n):
                x = x * reversed
            while x < 100.0:
                x = x * _
            return x
        """)
    text, ns = generated(path)
    assert "builtins.reversed(range(n))" in text and "for __ in range(" in text

    def f(x, r, u, n=3):
        for _ in range(n):
            x = x * r
        while x < 100.0:
            x = x * u
        return x

    args = [1.3, 1.7, 1.9]
    grads = ns["f_grad"](*args)
    for i in range(3):
        assert grads[i] == pytest.approx(central_difference(f, args, i), rel=1e-6)


def test_a_users_underscore_is_not_clobbered_by_a_loop_dummy(tmp_path):
    path = write(tmp_path / "f.py", """\
        def f(x, n: int = 3):
            _ = x * 2.0
            for i in range(n):
                x = x * _
            return x * _
        """)
    _, ns = generated(path)
    gx, _gn = ns["f_grad"](0.7)
    assert gx == pytest.approx(central_difference(lambda x: x * (2 * x) ** 4, [0.7], 0), rel=1e-6)


# -- crash 7: deep and long expressions -------------------------------------------------------------

def _sum_source(terms: int) -> str:
    return "def f(x):\n    return " + " + ".join(["x*x"] * terms) + "\n"


@pytest.mark.parametrize("terms", [1000, 10_000])
def test_long_sums_compile(tmp_path, terms):
    path = tmp_path / "f.py"
    path.write_text(_sum_source(terms))
    result = run(path, "-o", tmp_path / "g.py")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "g.py").read_text()
    ns: dict = {}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 40_000))  # Python itself needs room to compile 10,000 levels
    try:
        exec(compile(text, "g.py", "exec"), ns)
    finally:
        sys.setrecursionlimit(old)
    assert ns["f_grad"](0.5) == pytest.approx(terms * 1.0)


def test_long_sum_through_the_api_and_the_tools(tmp_path, make_module):
    m = make_module(_sum_source(1000))
    limit = sys.getrecursionlimit()
    assert diffc.grad(m.f)(0.25) == pytest.approx(500.0)
    assert sys.getrecursionlimit() == limit  # raised only while compiling
    path = tmp_path / "f.py"
    path.write_text(_sum_source(1000))
    for command in (["explain"], ["graph"], ["check"]):
        result = run(*command, path, "--at", "x=0.5")
        assert result.returncode == 0, result.stderr


def test_too_deep_is_a_located_error(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(_sum_source(25_000))
    result = run(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:2:5: error: this expression is nested more than 20,000")
    assert "Traceback" not in result.stderr and not (tmp_path / "f_grad.py").exists()


@pytest.mark.parametrize("body, expected", [
    ("(" * 100 + "x" + ")" * 100 + " * x", lambda x: 2 * x),
    ("-" * 1000 + "x", lambda x: 1.0),
    ("math.sin(" * 100 + "x" + ")" * 100, None),
    ("h(" * 100 + "x" + ")" * 100, None),
], ids=["parens", "negations", "math-calls", "helper-calls"])
def test_deep_nesting(tmp_path, body, expected):
    path = tmp_path / "f.py"
    path.write_text(f"import math\n\n\ndef h(u):\n    return 0.5 * u + math.sin(u)\n\n\ndef f(x):\n"
                    f"    return {body}\n")
    _, ns = generated(path, "-f", "f")
    user: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), user)
    x = 0.3
    want = expected(x) if expected else central_difference(user["f"], [x], 0)
    assert ns["f_grad"](x) == pytest.approx(want, rel=1e-6)


def _digest(folder) -> dict:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else "dir"
            for name in sorted(os.listdir(folder))}

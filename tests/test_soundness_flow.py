"""Soundness through loops and branches (issue 8 cases 2, 8, 9, 11; issue 10 crash 1).

Each case is a minimal reproducer of a wrong gradient or a crash that the reverse transform
and the naming of shared values used to make, checked against central differences. A random
program generator then mixes what made them: values carried through loops inside larger
expressions, buffers filled in loops, several assignments to one name per branch, arrays
re-indexed as a whole, nested loops of every kind (for and while, with branches, break and
continue). Branches test a flag and while loops count with integers, so finite differences
never cross a switch: any mismatch is a bug.

    python tests/test_soundness_flow.py --seconds 60 --seed 7   # a longer campaign
"""

from __future__ import annotations

import math
import random
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import numeric_gradient, run_generated  # noqa: E402

import diffc  # noqa: E402
from diffc.errors import DiffcError  # noqa: E402


def gradients(source: str, args: list, wrt=None):
    """(diffc's gradients, the numeric ones) of the source's function ``f`` at ``args``."""
    source = textwrap.dedent(source)
    text = diffc.compile_source(source, wrt=wrt).text
    compile(text, "<generated>", "exec")
    grads = run_generated(text)["f_grad"](*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    user = run_generated(source)["f"]
    positions = range(len(args)) if wrt is None else [wrt] if isinstance(wrt, int) else wrt
    expected = []
    for i, analytic in zip(positions, grads):
        h = 1e-6 / max(1.0, float(np.max(np.abs(analytic))))
        expected.append(numeric_gradient(user, list(args), i, h))
    return grads, expected


def assert_gradients(source, args, wrt=None):
    grads, expected = gradients(source, args, wrt)
    for analytic, numeric in zip(grads, expected):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


X = np.array([0.3, -0.5, 1.2])
B = np.array([0.1, 0.2, 0.3])

# -- issue 8 case 2: a buffer filled in a loop --------------------------------------------
BUFFER = """
import numpy as np
def f(x):
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i]
    return np.sum(y * y)
"""
BUFFER_ROWS = """
import numpy as np
def f(x):
    h = np.zeros((len(x), 3))
    for t in range(len(h)):
        h[t] = x[t]
    return np.sum(h * h)
"""
# The gradient flowing into the loop is shared with another value's gradient (grad_b).
BUFFER_SHARED = """
import numpy as np
def f(x, b):
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i] * 2.0
    w = y + b
    return np.sum(w * w)
"""
# A forward array pushed on the loop's stack, then changed in place.
PUSHED_THEN_WRITTEN = """
import numpy as np
def f(x):
    y = x * 1.0
    s = 0.0
    for i in range(len(x)):
        s = s + np.sum(np.sin(y))
        y[i] = y[i] * 2.0
    return s
"""
BUFFER_RECURRENT = """
import numpy as np
def f(x):
    h = np.zeros((4, 3))
    h[0] = x
    for t in range(1, 4):
        h[t] = np.tanh(h[t - 1] * x + 0.1)
    return np.sum(h * h)
"""


@pytest.mark.parametrize("source, args", [
    (BUFFER, [X]), (BUFFER_ROWS, [X]), (BUFFER_SHARED, [X, B]), (PUSHED_THEN_WRITTEN, [X]), (BUFFER_RECURRENT, [X]),
], ids=["buffer", "rows", "shared", "pushed", "recurrent"])
def test_buffer_filled_in_a_loop(source, args):
    assert_gradients(source, args)


def test_buffer_gradient_is_not_aliased_then_zeroed():
    text = diffc.compile_source(BUFFER).text
    assert "grad_y_1 = grad_y\n" not in text  # the alias that was zeroed before it was read


# -- issue 8 case 8: a carried value inside a larger expression ---------------------------
@pytest.mark.parametrize("source, args", [
    ("def f(x):\n    p = 0.0\n    for i in range(3):\n        p = p * x + 1.0\n    return p\n", [0.7]),
    ("def f(g, beta):\n    m = 0.0\n    for i in range(3):\n        m = m * beta + (1 - beta) * g\n    return m\n",
     [0.7, 0.9]),
    ("def f(r):\n    p = 1.0\n    for i in range(3):\n        p = p * (1 + r) - 1.0\n    return p\n", [0.7]),
    ("import numpy as np\ndef f(g, beta):\n    m = 0.0\n    for i in range(len(g)):\n"
     "        m = m * beta + (1 - beta) * g[i]\n    return m\n", [X, 0.9]),
], ids=["horner", "momentum", "compound", "momentum-array"])
def test_carried_value_inside_an_expression(source, args):
    assert_gradients(source, args)


def test_horner_value():
    (grad,), _ = gradients("def f(x):\n    p = 0.0\n    for i in range(3):\n        p = p * x + 1.0\n    return p\n",
                           [0.7])
    assert grad == pytest.approx(2.4)


# -- issue 8 case 9: two assignments to one name in a branch ------------------------------
ELSE_TWICE = """
import math
def f(x):
    if x > 5.0:
        y = x
    else:
        y = x * 2.0
        y = math.sin(y)
    return y
"""
RETURN_THEN_TWICE = """
import math
def f(x):
    if x > 5.0:
        return x
    y = x * 2.0
    y = math.sin(y)
    return y
"""
THEN_TWICE_IN_LOOP = """
import math
def f(x, n):
    y = x
    for i in range(n):
        if i > 0:
            y = y * 2.0
            y = math.sin(y) + x
        else:
            y = y * x
    return y
"""


@pytest.mark.parametrize("source", [ELSE_TWICE, RETURN_THEN_TWICE], ids=["else", "early-return"])
def test_two_assignments_in_a_branch(source):
    (grad,), _ = gradients(source, [0.3])
    assert grad == pytest.approx(2 * math.cos(0.6))


def test_two_assignments_in_a_branch_in_a_loop():
    assert_gradients(THEN_TWICE_IN_LOOP, [0.3, 3], wrt=0)


# -- issue 8 case 11: a carried array re-indexed as a whole --------------------------------
@pytest.mark.parametrize("body", ["x = x[::-1]", "x = x[::-1] * x", "x = x[::-1]\n        x = x * 2.0"],
                         ids=["reverse", "reverse-times", "two-lines"])
def test_carried_array_reindexed(body):
    source = f"import numpy as np\ndef f(x):\n    for k in range(3):\n        {body}\n" \
             "    return np.sum(x * np.arange(3.0))\n"
    assert_gradients(source, [X])


def test_statement_does_not_overwrite_its_own_value():
    # grad_buf_1 = np.zeros_like(buf_2); grad_buf_1[::-1] = grad_buf_1: the value had the result's name
    source = """
import numpy as np
def f(x1, v):
    a = v * 1.0
    buf = np.zeros(3)
    for k1 in range(1):
        buf = a * x1 + v
        buf = buf[::-1]
        a = np.tanh(buf)
    return np.sum(a * a) * 0.5 + np.sum(buf * v)
"""
    assert_gradients(source, [0.89, X])


def test_reversed_twice_is_not_zero():
    source = "import numpy as np\ndef f(x):\n    for k in range(2):\n        x = x[::-1]\n" \
             "    return np.sum(x * np.arange(3.0))\n"
    (grad,), _ = gradients(source, [X])
    np.testing.assert_allclose(grad, [0.0, 1.0, 2.0])


# -- issue 10 crash 1: nested loops of every kind -----------------------------------------
FOR = "for k{d} in range(n):"
WHILE = "j{d} = 0\n{pad}while j{d} < n:"
WHILE_DATA = "while x < {limit}:"
NESTINGS = {
    "for-in-for": (FOR, FOR), "while-in-for": (FOR, WHILE), "for-in-while": (WHILE, FOR),
    "while-in-while": (WHILE, WHILE), "data-while-in-for": (FOR, WHILE_DATA),
    "data-while-in-while": (WHILE, WHILE_DATA),
}
BODIES = {
    "plain": ["x = x + 0.3 * math.sin(x) * y"],
    "branch": ["if k > 0:", "    x = x * 1.1 + y", "else:", "    x = x + 0.3 * y", "    x = math.sin(x) + 0.6"],
    "break": ["x = x * 1.2 + 0.1 * y", "if s > 2:", "    break"],
    "continue": ["if s % 3 == 0:", "    continue", "x = x * 1.3 + 0.2 * y"],
}


def nested_program(outer: str, inner: str, body: list[str]) -> str:
    lines = ["import math", "def f(x, y, n):", "    s = 0", "    k = 0"]

    def head(template, depth):
        pad = "    " * depth
        text = template.format(d=depth, pad=pad, limit="1.0 + 0.5 * k" if depth > 1 else "1.0")
        return [pad + line.strip() for line in text.split("\n")]

    lines += head(outer, 1)
    lines += head(inner, 2)
    lines += ["            " + line for line in ["s = s + 1", *body]]
    if inner.startswith("j"):
        lines.insert(len(lines) - len(body) - 1, "            j2 = j2 + 1")
    lines += ["        k = k + 1"]
    if outer.startswith("j"):
        lines += ["        j1 = j1 + 1"]
    lines += ["    return x * y + s"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("nesting", list(NESTINGS))
def test_nested_loops(nesting, body):
    outer, inner = NESTINGS[nesting]
    source = nested_program(outer, inner, BODIES[body])
    for n in (0, 1, 3):
        assert_gradients(source, [0.35, 0.4, n], wrt=(0, 1))


def test_while_in_for_from_the_issue():
    source = "def f(x, n):\n    for k in range(n):\n        while x < 1.0:\n            x = x + 0.3\n" \
             "        x = x * 0.5\n    return x * x\n"
    assert_gradients(source, [0.2, 3], wrt=0)


# -- a random program generator ------------------------------------------------------------
SCALAR = ["{a} * {b} + 0.5", "{a} * (1.0 + {b}) - 0.25", "math.sin({a}) * {b}", "{a} * {b} + (1 - {b}) * {c}",
          "math.tanh({a} + {b})", "{a} - {b} * {c}", "{a} * {a} * 0.5 + {b}"]
ARRAY = ["{A} * {a} + v", "np.tanh({A}) * {b}", "{A}[::-1] * {a}", "{A}[::-1]", "{A} * {B} * 0.5 + {a}",
         "np.sin({A}) + {B}[::-1]"]


class Generator:
    """Random programs of ``f(x0, x1, v, flag, m)``: two scalars, a vector of 3, a branch flag and a trip count."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.counter = 0

    def scalar(self):
        r = self.rng
        a, b, c = (r.choice(["s0", "s1", "x0", "x1"]) for _ in range(3))
        return r.choice(["s0", "s1"]), r.choice(SCALAR).format(a=a, b=b, c=c)

    def array(self):
        r = self.rng
        A, B = r.choice(["a", "buf"]), r.choice(["a", "buf", "v"])
        a, b = r.choice(["s0", "s1", "x0", "x1"]), r.choice(["s0", "x1", "0.5"])
        template = r.choice(ARRAY)
        # A view is only ever assigned to the name it views: two names for one array, one of them
        # then changed in place, is aliasing (refused or not, it is not this file's subject).
        target = A if template == "{A}[::-1]" else r.choice(["a", "buf"])
        return target, template.format(A=A, B=B, a=a, b=b)

    def block(self, depth, in_loop) -> list[str]:
        r = self.rng
        lines = []
        for _ in range(r.randint(1, 3)):
            kind = r.randint(0, 9) if depth < 3 else r.randint(0, 3)
            if kind <= 1:
                lines.append("{} = {}".format(*self.scalar()))
            elif kind == 2:
                lines.append("{} = {}".format(*self.array()))
            elif kind == 3 and in_loop:
                i = in_loop[-1]
                target = r.choice(["buf", "a"])
                value = r.choice(["{t}[{i}] * s0", "s1 * 0.5", "a[{i}] + x0", "math.sin(s0) * v[{i}]"])
                op = r.choice(["=", "+="])
                lines.append(f"{target}[{i} % 3] {op} " + value.format(t=target, i=f"{i} % 3"))
            elif kind == 3:
                lines.append("{} = {}".format(*self.scalar()))
            elif kind in (4, 5):  # a branch, maybe with several assignments to one name
                lines.append("if flag > 0:")
                lines += ["    " + line for line in self.block(depth + 1, in_loop)]
                if r.random() < 0.7:
                    lines.append("else:")
                    lines += ["    " + line for line in self.block(depth + 1, in_loop)]
            elif kind in (6, 7):
                self.counter += 1
                k = f"k{self.counter}"
                lines.append(f"for {k} in range(m):")
                lines += ["    " + line for line in self.block(depth + 1, [*in_loop, k]) + self.exit(k)]
            else:
                self.counter += 1
                j = f"j{self.counter}"
                lines += [f"{j} = 0", f"while {j} < m:"]
                body = self.block(depth + 1, [*in_loop, j])
                lines += ["    " + line for line in [f"{j} = {j} + 1", *body, *self.exit(j)]]
        return lines

    def exit(self, counter) -> list[str]:
        roll = self.rng.random()
        if roll < 0.15:
            return [f"if {counter} >= 1:", "    break"]
        if roll < 0.3:
            return [f"if {counter} == 1:", "    continue"]
        return []

    def program(self) -> str:
        lines = ["s0 = x0 * 0.5", "s1 = x1 + 0.25", "a = v * 1.0", "buf = np.zeros(3)", *self.block(0, [])]
        if self.rng.random() < 0.2:
            lines[4:4] = ["if flag < 0:", "    return s0 * x1 + np.sum(a)"]
        lines.append("return s0 * x1 + s1 + np.sum(a * a) * 0.5 + np.sum(buf * v)")
        body = "\n".join("    " + line for line in lines)
        return f"import math\nimport numpy as np\n\n\ndef f(x0, x1, v, flag, m):\n{body}\n"


def check_program(source: str, rng: random.Random) -> str | None:
    """None if diffc's gradient matches central differences (or diffc refused); else a description."""
    args = [rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9), np.array([rng.uniform(-0.9, 0.9) for _ in range(3)]),
            rng.choice([-1, 1]), rng.randint(0, 3)]
    user = run_generated(source)["f"]
    try:
        with np.errstate(all="ignore"):
            value = user(*args)
    except (ArithmeticError, ValueError):
        return None  # the program itself fails there (math.sin of an overflowed value)
    if not math.isfinite(value) or abs(value) > 1e4:
        return None
    try:
        grads, expected = gradients(source, args, wrt=(0, 1, 2))
    except DiffcError:
        return None
    except Exception as exc:  # noqa: BLE001 - any crash is a finding
        return f"crash: {type(exc).__name__}: {exc} at {args}"
    if any(np.max(np.abs(g)) > 1e3 for g in [*grads, *expected]):
        return None  # a loop amplified the input: finite differences say nothing reliable there
    for analytic, numeric in zip(grads, expected):
        if not np.allclose(analytic, numeric, rtol=1e-4, atol=1e-5):
            return f"wrong at {args}: {grads} != {expected}"
    return None


@pytest.mark.parametrize("seed", range(150))
def test_random_programs(seed):
    rng = random.Random(seed)
    source = Generator(rng).program()
    problem = check_program(source, rng)
    assert problem is None, f"{problem}\n{source}"


def campaign(seconds: float, seed: int) -> int:
    import time

    rng = random.Random(seed)
    end, count, failures = time.time() + seconds, 0, 0
    while time.time() < end:
        program_seed = rng.randrange(1 << 30)
        program_rng = random.Random(program_seed)
        source = Generator(program_rng).program()
        problem = check_program(source, program_rng)
        count += 1
        if problem:
            failures += 1
            print(f"--- program seed {program_seed}: {problem}\n{source}")
    print(f"{count} programs, {failures} failures")
    return failures


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    options = parser.parse_args()
    print(f"seed {options.seed}")
    sys.exit(1 if campaign(options.seconds, options.seed) else 0)


# --- found by tests/fuzz.py after the merge: a view of a gradient read after a write in place ---
BUFFER_SOURCE = """
import numpy as np

def f(a):
    y = np.zeros_like(a)
    for i in range(len(a)):
        y[i] = a[i] ** 2
    return np.sum(y)
"""


@pytest.mark.parametrize("shape", [(3,), (2, 3), (3, 1, 2)])
def test_rows_of_a_buffer_gradient_are_read_before_they_are_zeroed(shape, make_module):
    # grad_y[i] is a view of a row; the inliner wrote its use after grad_y[i] = 0.0 (zero for rank >= 2)
    a = np.random.default_rng(0).normal(size=shape)
    expected = 2 * a
    namespace = run_generated(diffc.compile_source(BUFFER_SOURCE, "buf.py").text)
    np.testing.assert_allclose(namespace["f_grad"](a), expected, rtol=1e-12)
    module = make_module(BUFFER_SOURCE)
    np.testing.assert_allclose(diffc.grad(module.f)(a), expected, rtol=1e-12)


def test_negated_product_with_a_boolean_mask_is_not_rewritten_into_a_boolean_negation(make_module):
    source = "import numpy as np\n\ndef f(b):\n    v = -((b > 0.1) * b)\n    return np.sum(v)\n"
    b = np.array([-1.0, 0.5, 2.0])
    namespace = run_generated(diffc.compile_source(source, "neg.py").text)
    np.testing.assert_allclose(namespace["f_grad"](b), [0.0, -1.0, -1.0])
    np.testing.assert_allclose(diffc.grad(make_module(source).f)(b), [0.0, -1.0, -1.0])


# --- found by tests/fuzz.py (seed 101): aliases the in-place checks did not see ---------------
def test_augmented_assignment_reads_its_target_so_an_alias_is_refused():
    # w4 *= 2.0 doubles the array v1 still refers to, and v1 += w4 reads it after: refused, not 2 [4]
    source = ("import numpy as np\n\ndef f(b):\n    v1 = b * 1.0\n    w4 = v1\n    w4 *= 2.0\n"
              "    v1 += w4\n    return np.sum(w4)\n")
    with pytest.raises(diffc.DiffcError, match="'w4' is changed in place while 'v1' still refers"):
        diffc.compile_source(source, "aug.py")


@pytest.mark.parametrize("choice", ["b if flag else b", "b if flag else b * 3.0"])
def test_a_write_into_an_array_a_branch_chose_copies_what_the_backward_pass_reads(choice, make_module):
    # w = b (by a branch) then w[0] = 0.5 changed b itself, and the backward pass read cos(b) after it
    source = (f"import numpy as np\n\ndef f(b, flag):\n    s = np.sin(b)\n    w = {choice}\n"
              "    w[0] = 0.5\n    return np.sum(s) + np.sum(w)\n")
    b = np.array([[-0.25], [0.8]])
    expected = np.cos(b)
    expected[1:] += 1.0  # flag is true: w is b, and its first entry is overwritten
    grad = diffc.grad(make_module(source).f, wrt="b")
    np.testing.assert_allclose(grad(b.copy(), 1), expected, rtol=1e-12)
    shapes = {"b": diffc.compiler.parse_shape("N,1")}
    namespace = run_generated(diffc.compile_source(source, "sel.py", wrt="b", shapes=shapes).text)
    np.testing.assert_allclose(namespace["f_grad"](b.copy(), 1), expected, rtol=1e-12)

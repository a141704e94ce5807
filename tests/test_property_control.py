"""Random programs with branches and loops: diffc must agree with finite differences.

Branches test a flag parameter and loops run over an integer parameter,
neither of them differentiated, so finite differences never cross a branch
switch: any mismatch is a bug, not a flaky test.
"""

import math

from conftest import run_generated
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import diffc

SMOOTH = ["{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / (1.5 + {b} * {b})", "math.sin({a})", "math.tanh({a}) * {b}",
          "{a} ** 2", "math.exp(math.tanh({a}))", "-{a}"]


@st.composite
def blocks(draw, names, depth):
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 5)) if depth < 2 else 0
        if kind == 4:
            then = draw(blocks(list(names), depth + 1))
            orelse = draw(blocks(list(names), depth + 1))
            lines.append("if flag > 0:")
            lines += ["    " + line for line in then]
            if draw(st.booleans()):
                lines.append("else:")
                lines += ["    " + line for line in orelse]
        elif kind == 5:
            body = draw(blocks(list(names), depth + 1))
            lines.append(f"for k{depth} in range(m):")
            lines += ["    " + line for line in body]
        else:
            a, b = draw(st.sampled_from(names)), draw(st.sampled_from([*names, "0.5", "2.0"]))
            target = draw(st.sampled_from(names))  # re-assign an existing name: it is defined on every path
            lines.append(f"{target} = {draw(st.sampled_from(SMOOTH)).format(a=a, b=b)}")
    return lines


@st.composite
def programs(draw):
    names = ["x0", "x1", "v"]
    lines = ["v = x0 * 0.5"] + draw(blocks(names, 0))
    body = "\n".join("    " + line for line in [*lines, "return x0 + x1 * v"])
    point = draw(st.lists(st.floats(-1.2, 1.2), min_size=2, max_size=2))
    return f"import math\n\n\ndef f(x0, x1, flag, m):\n{body}\n", point, draw(st.sampled_from([-1, 1])), \
        draw(st.integers(0, 3))


AMPLIFIED = ("import math\n\n\ndef f(x0, x1, flag, m):\n    v = x0 * 0.5\n    for k0 in range(m):\n"
             "        for k1 in range(m):\n            x0 = x0 + x0\n        x0 = x0 + x0\n"
             "    x0 = x0 / (1.5 + x0 * x0)\n    return x0 + x1 * v\n", [0.0, 0.0], -1, 3)


SHARED_END = ("import math\n\n\ndef f(x0, x1, flag, m):\n    v = x0 * 0.5\n    for k0 in range(m):\n"
              "        x0 = x0 + x1\n        x1 = x0 + x0\n    return x0 + x1 * v\n", [0.3, -0.7], -1, 2)


def _same(a, b) -> bool:
    """The same numbers (nan where the other has nan), for one gradient or a tuple of them."""
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    return len(a) == len(b) and all(x == y or x != x and y != y for x, y in zip(a, b))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(AMPLIFIED)  # x0 doubled 12 times: d/dx0 = 4096 / 1.5
@example(SHARED_END)  # both carried gradients end as one value: each still needs its own name
@example((SHARED_END[0], [0.0, 0.0], -1, 0))
@example(("import math\n\n\ndef f(x0, x1, flag, m):\n    v = x0 * 0.5\n    x0 = x0 + x0\n    for k0 in range(m):\n"
          "        if flag > 0:\n            x0 = x0 + x0\n        else:\n            x0 = x0 + x0\n"
          "            x0 = x0 + x1\n    return x0 + x1 * v\n", [0.0, 0.0], -1, 1))  # an old value read in a branch
@given(programs())
def test_random_programs_with_control_flow(case):
    source, point, flag, m = case
    user = run_generated(source)["f"]
    value = user(*point, flag, m)
    assume(math.isfinite(value) and abs(value) < 1e6)
    grads = run_generated(diffc.compile_source(source, wrt=("x0", "x1")).text)["f_grad"](*point, flag, m)
    fast = run_generated(diffc.compile_source(source, wrt=("x0", "x1"), fast=True).text)["f_grad"](*point, flag, m)
    assert _same(fast, grads), source  # the fast form (the decorator's) computes the same numbers
    for i, analytic in enumerate(grads):
        # Loops can amplify an input a thousandfold: the step shrinks as the gradient grows, so
        # that the step seen after the amplification stays small.
        h = 1e-6 / max(1.0, abs(analytic))

        def central(step, i=i):
            plus, minus = list(point), list(point)
            plus[i] += step
            minus[i] -= step
            return (user(*plus, flag, m) - user(*minus, flag, m)) / (2 * step)

        def ratio(step, analytic=analytic):  # the error over its tolerance at this step
            numeric = central(step)
            tolerance = 1e-5 * max(1.0, abs(analytic), abs(numeric)) + 1e-15 * max(1.0, abs(value)) / step
            return abs(analytic - numeric) / tolerance

        # Where the small step loses digits to rounding, one 8 times larger decides: a wrong
        # gradient fails at both.
        numeric = central(h)
        assert min(ratio(h), ratio(8 * h)) <= 1.0, (source, point, flag, m, i, analytic, numeric)

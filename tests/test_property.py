"""Random straight-line scalar programs: diffc must agree with finite differences.

Any mismatch is a bug: the generated programs avoid kinks and domain edges
(only smooth operations on bounded values), so the numeric gradient is
accurate to far better than the tolerance.
"""

import math

from conftest import run_generated
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import diffc

# Templates for one assignment, in two operands a and b (names or constants).
SMOOTH = [
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / (1.5 + {b} * {b})", "math.sin({a})", "math.cos({a}) * {b}",
    "math.tanh({a})", "math.exp(math.tanh({a}))", "math.sqrt(1.0 + {a} * {a})", "math.log(2.0 + math.sin({a}))",
    "{a} ** 2", "{a} ** 3 - {b}", "-{a}", "math.atan({a}) * {b}", "math.hypot({a}, {b}, 1.0)",
    "math.erf({a})", "math.log1p({a} * {a})", "2.0 ** math.sin({a})", "math.cosh(math.sin({a}))",
]
AUG = ["+=", "-=", "*="]


@st.composite
def programs(draw):
    n_params = draw(st.integers(1, 3))
    names = [f"x{i}" for i in range(n_params)]
    lines = []
    for step in range(draw(st.integers(1, 8))):
        def operand(step=step):
            if draw(st.booleans()) or step == 0:
                return draw(st.sampled_from(names))
            return repr(draw(st.sampled_from([0.5, 2.0, -1.5, 3])))
        kind = draw(st.integers(0, 9))
        if kind == 0 and len(names) >= 2:
            a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            if a != b:
                lines.append(f"{a}, {b} = {b}, {a} * 0.5 + {b}")  # a swap-like tuple assignment
                continue
        if kind == 1:
            lines.append(f"{draw(st.sampled_from(names))} {draw(st.sampled_from(AUG))} {operand()}")
            continue
        expr = draw(st.sampled_from(SMOOTH)).format(a=draw(st.sampled_from(names)), b=operand())
        target = draw(st.sampled_from(names)) if draw(st.booleans()) else f"v{step}"
        if target not in names:
            names.append(target)
        lines.append(f"{target} = {expr}")
    result = " + ".join(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)))
    body = "\n".join(f"    {line}" for line in [*lines, f"return {result}"])
    params = ", ".join(f"x{i}" for i in range(n_params))
    point = draw(st.lists(st.floats(-1.5, 1.5), min_size=n_params, max_size=n_params))
    return f"import math\n\n\ndef f({params}):\n{body}\n", point


class _PreciseMath:
    """``math`` for a generated program, in mpmath's arbitrary precision (``pow`` is ``**``)."""

    def __getattr__(self, name):
        import mpmath

        return {"atan": mpmath.atan, "log1p": lambda x: mpmath.log(1 + x), "hypot": lambda *xs: mpmath.sqrt(
            sum(x * x for x in xs))}.get(name) or getattr(mpmath, name)


def precise_derivative(source: str, point: list, i: int) -> float:
    """The derivative in argument ``i`` by a central difference in 50-digit arithmetic (step 1e-20)."""
    import mpmath

    namespace: dict = {}
    exec(compile(source.replace("import math\n", ""), "<precise>", "exec"), {"math": _PreciseMath()}, namespace)
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        plus = [mpmath.mpf(x) for x in point]
        minus = list(plus)
        plus[i] += h
        minus[i] -= h
        return float((namespace["f"](*plus) - namespace["f"](*minus)) / (2 * h))


def test_the_precise_oracle_decides_where_float64_differences_cannot():
    # Found by this test's generator: every float64 step is off by 1e-3 or more; diffc's 15964552.0662843
    # agrees with the 50-digit difference to 1e-12.
    source = ("import math\n\n\ndef f(x0):\n    x0 = x0 + x0\n    x0 += 0.5\n    x0 = x0 + 0.5\n    x0 = x0 + 3\n"
              "    x0 = x0 ** 3 - x0\n    v5 = math.cos(x0) * x0\n    return v5 ** 3 - 0.5\n")
    analytic = run_generated(diffc.compile_source(source).text)["f_grad"](0.0)
    assert abs(analytic - precise_derivative(source, [0.0], 0)) <= 1e-9 * abs(analytic)
    assert abs(analytic - precise_derivative(source, [0.0], 0) * (1 + 1e-6)) > 1e-9 * abs(analytic)


def _same(a, b) -> bool:
    """The same numbers (nan where the other has nan), for one gradient or a tuple of them."""
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    return len(a) == len(b) and all(x == y or x != x and y != y for x, y in zip(a, b))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_match_finite_differences(case):
    source, point = case
    user = run_generated(source)["f"]
    value = user(*point)
    assume(math.isfinite(value) and abs(value) < 1e6)
    grads = run_generated(diffc.compile_source(source).text)["f_grad"](*point)
    fast = run_generated(diffc.compile_source(source, fast=True).text)["f_grad"](*point)
    assert _same(fast, grads), source  # the fast form (the decorator's) computes the same numbers
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, analytic in enumerate(grads):
        def error(h, i=i, analytic=analytic):
            plus, minus = list(point), list(point)
            plus[i] += h
            minus[i] -= h
            numeric = (user(*plus) - user(*minus)) / (2 * h)
            tolerance = 1e-5 * max(1.0, abs(analytic), abs(numeric)) + 1e-15 * max(1.0, abs(value)) / h
            return abs(analytic - numeric) / tolerance, numeric

        # A steep function gets a small step; where that step loses digits to rounding (a value of
        # 1e5 and a step of 1e-13), one 8 times larger decides: a wrong gradient fails at both.
        h = 1e-6 / max(1.0, abs(analytic))
        (ratio, numeric), (ratio8, _) = error(h), error(8 * h)
        if min(ratio, ratio8) > 1.0:
            # A steep, oscillating program (cos of x ** 3 near 2e5) can lose every digit of a float64
            # difference to rounding: the same program evaluated in 50-digit arithmetic decides.
            numeric = precise_derivative(source, point, i)
            assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (source, point, i, analytic, numeric)

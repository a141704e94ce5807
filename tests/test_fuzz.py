"""A few hundred programs of the soundness fuzzer (tests/fuzz.py) from a fixed seed: every
gradient is right or refused, nothing crashes, no non-scalar output is differentiated.

``python tests/fuzz.py --seconds N --seed S`` runs a longer campaign from another seed.
"""

import fuzz
import numpy as np
import pytest

SEED = "ci-2026"
PROGRAMS = 500


def test_fuzz_campaign_from_a_fixed_seed():
    result = fuzz.campaign(SEED, programs=PROGRAMS, shrink_budget=60.0, per_failure=20.0, max_shrink=3)
    assert result.programs == PROGRAMS
    # The generator must mostly write programs that run: a generator whose programs all fail
    # before diffc sees them would pass while testing nothing.
    assert result.counts["SKIPPED"] < PROGRAMS // 4, result.summary()
    assert result.counts["OK"] > PROGRAMS // 3, result.summary()
    reports = "\n\n".join(fuzz.report(f) for f in result.failures if f.shrunk) or \
        "\n".join(f"{f.outcome.kind} {f.seed}:{f.index} {f.outcome.detail}" for f in result.failures[:10])
    if result.failures:
        pytest.fail(f"{result.summary()}\n\n{reports}", pytrace=False)


def test_the_oracle_catches_a_wrong_gradient(monkeypatch):
    """The checker itself: a gradient that is off by 10% is WRONG, one of the wrong shape too."""
    source = "import numpy as np\n\n\ndef f(a, r, n, flag):\n    return np.sum(np.sin(a) * r)\n"
    args = [np.array([0.3, -0.7]), np.array([1.0, 2.0]), 1, 1]
    assert fuzz.classify(source, ["a"], args).kind == "OK"
    real = fuzz.gradient_function

    def scaled(source, params, mode):
        grad = real(source, params, mode)
        return lambda *a: tuple(g * 1.1 for g in grad(*a))

    monkeypatch.setattr(fuzz, "gradient_function", scaled)
    assert fuzz.classify(source, ["a"], args).kind == "WRONG"
    monkeypatch.setattr(fuzz, "gradient_function", lambda *a: lambda *b: (0.0,))
    assert fuzz.classify(source, ["a"], args).kind == "WRONG"
    nonscalar = "import numpy as np\n\n\ndef f(a, r, n, flag):\n    return a * 2.0\n"
    monkeypatch.setattr(fuzz, "gradient_function", lambda *a: lambda *b: (np.ones(2) * 2.0,))
    assert fuzz.classify(nonscalar, ["a"], args).kind == "NONSCALAR-ACCEPTED"


def test_the_same_seed_writes_the_same_programs():
    assert fuzz.program(SEED, 7)[0] == fuzz.program(SEED, 7)[0]
    assert fuzz.program(SEED, 7)[0] != fuzz.program(SEED, 8)[0]


def test_a_jump_at_the_point_is_not_judged():
    """``if a:`` at exactly a == 0.0 jumps there: central differences see a slope that no derivative
    has, so the program is skipped, not reported WRONG; a step away from the jump it is judged."""
    source = "def f(a, r, n, flag):\n    if a:\n        pass\n    else:\n        a = 0.1\n    return a\n"
    assert fuzz.classify(source, ["a"], [0.0, 1.0, 1, 1]).kind == "SKIPPED"
    assert fuzz.classify(source, ["a"], [0.5, 1.0, 1, 1]).kind == "OK"


@pytest.mark.parametrize("scale", ["27.0", "35.0"])
def test_a_chaotic_point_is_not_judged_but_a_huge_wrong_gradient_is(monkeypatch, scale):
    """Seed 9, program 972: ``sin`` of a number near 1e12 has a gradient of 1e12 that is right but
    that no float64 difference can see (the step it asks for, 1e-18, leaves ``a`` unchanged and the
    numeric gradient is exactly 0). The step never goes below the argument's resolution, so the
    differences disagree and the point is skipped; a wrong gradient of 1e12 on a smooth function is
    still WRONG. Seed 20261129, program 1157: with a gradient of 4e15 (exp(35)) the steps' spread
    must be judged at the numeric values' own scale, not the analytic one's."""
    chaotic = f"import numpy as np\n\n\ndef f(a, r, n, flag):\n    return np.sum(np.sin(np.exp({scale} + a)))\n"
    args = [np.array([0.84, 1.17]), np.array([1.0, 2.0]), 1, 1]
    assert fuzz.classify(chaotic, ["a"], args).kind == "SKIPPED"
    smooth = "import numpy as np\n\n\ndef f(a, r, n, flag):\n    return np.sum(a * r)\n"
    monkeypatch.setattr(fuzz, "gradient_function", lambda *a: lambda *b: (np.array([1e12, 2.0]),))
    assert fuzz.classify(smooth, ["a"], args).kind == "WRONG"


def test_a_gradient_that_is_rounding_noise_is_not_judged():
    """Seed 777, program 36: every row of s is the same, so p is 1 for every b and the gradient is 0;
    float64 leaves 1.57 of terms of 1e15 that cancel (1.5e-4 in long double). Skipped as rounding, not
    reported WRONG; the oracle tests above still catch a wrong gradient."""
    source = ("import numpy as np\n\n\ndef f(b, r, n, flag):\n    s = 0.0\n    for w in b * np.expm1(3):\n"
              "        s = w * w\n    s = np.multiply(np.maximum(s, r), s)\n    p = 1.0\n"
              "    for k in range(len(s)):\n        p = p * (1 + s) - s[k]\n    return np.sum(p)\n")
    b = np.array([[-0.008102, -1.000004], [1.032473, 0.358295], [0.88013, 0.046725]])
    r = np.array([[[-0.881649, -0.169992]], [[1.428892, 0.649133]], [[-0.711107, 0.058968]]])
    outcome = fuzz.classify(source, ["b"], [b, r, 3, 1])
    assert outcome.kind in ("SKIPPED", "OK"), outcome.detail

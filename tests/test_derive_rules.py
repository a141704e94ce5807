"""The sympy-derived table of elementwise derivatives (tools/derive_rules.py): the committed
docs/elementwise_derivatives.md is current, every smooth elementwise NumPy and scipy.special
function with a rule is in it, and the compiler's hand-written rules agree with it at sample points.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import run_generated

import diffc

pytest.importorskip("sympy")
pytest.importorskip("scipy.special")
ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("derive_rules", ROOT / "tools" / "derive_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


def test_committed_table_is_current():
    committed = (ROOT / "docs" / "elementwise_derivatives.md").read_text()
    assert TOOL.render(TOOL.derive()) == committed, "regenerate: python tools/derive_rules.py > " \
                                                    "docs/elementwise_derivatives.md"


def test_every_elementwise_function_with_a_rule_is_derived():
    from diffc.ops.catalogue import ELEMENTWISE

    library = {op for op in ELEMENTWISE if op.startswith(("numpy.", "scipy."))}
    missing = library - set(TOOL.UNARY) - set(TOOL.BINARY) - TOOL.PIECEWISE
    assert missing == set()


def _source(op, n):
    module, _, name = op.rpartition(".")
    alias = "np" if module == "numpy" else "sp"
    args = "a" if n == 1 else "a, b"
    header = "import numpy as np\nimport scipy.special as sp\n\n\n"
    return f"{header}def f({args}):\n    return np.sum({alias}.{name}({args}))\n"


@pytest.mark.parametrize("op", [*TOOL.UNARY, *TOOL.BINARY])
def test_rule_agrees_with_sympy(op):
    import sympy

    expr, points = {**TOOL.UNARY, **TOOL.BINARY}[op]
    variables = (TOOL.x,) if op in TOOL.UNARY else (TOOL.x, TOOL.y)
    args = [np.array(points, dtype=float)] if op in TOOL.UNARY else \
        [np.array([p[k] for p in points], dtype=float) for k in range(2)]
    grad = run_generated(diffc.compile_source(_source(op, len(variables))).text)["f_grad"]
    got = grad(*args)
    got = got if isinstance(got, tuple) else (got,)
    for k, v in enumerate(variables):
        derivative = sympy.lambdify(variables, sympy.diff(expr, v), modules=["scipy", "numpy"])
        expected = np.broadcast_to(derivative(*args), args[0].shape)
        np.testing.assert_allclose(got[k], expected, rtol=1e-9, atol=1e-12, err_msg=f"{op}, argument {k}")

"""The library-neutral IR and the backend tables (diffc/ops/op.py's naming, diffc/backends/table.py)."""

from __future__ import annotations

from diffc.backends.emit import BACKENDS
from diffc.backends.table import spelling
from diffc.compiler import dump_source
from diffc.ops.catalogue import OPS
from diffc.ops.op import neutral


def test_ops_are_named_by_meaning_not_by_library():
    assert [neutral(q) for q in ("numpy.exp", "math.exp", "numpy.linalg.inv", "scipy.special.expit",
                                 "numpy.max", "numpy.add", "numpy.sum")] == \
        ["exp", "scalar_exp", "inv", "expit", "array_max", "array_add", "sum"]
    assert not [name for name in OPS if "." in name]


def test_every_library_function_is_spelled_by_a_backend_and_by_its_own_library():
    for name, op in OPS.items():
        if op.spelling is not None:
            assert spelling(BACKENDS["numpy"], name) == op.spelling
            if not op.spelling.startswith("math."):
                assert spelling(BACKENDS["jax"], name) == "jax." + op.spelling
    assert spelling(BACKENDS["numpy"], "add") is None  # an operator: written x + y by every backend


def test_the_ir_text_shows_neutral_names():
    src = "import numpy as np\nimport math\n\n\ndef f(x, y):\n    return np.sum(np.exp(x)) * math.exp(y)\n"
    text = dump_source(src, "f.py", "lower")
    assert "= exp(x)" in text and "= sum(" in text and "= scalar_exp(y)" in text and "numpy." not in text


def test_the_gradient_of_item_of_an_array_is_reshaped_by_a_neutral_op():
    from conftest import numeric_gradient, run_generated

    from diffc.compiler import compile_source
    src = "import numpy as np\n\n\ndef f(x):\n    return x.item() * 3.0 + np.sum(x * x)\n"
    text = compile_source(src, "f.py", shapes={"x": (1, 1)}).text
    import numpy as np
    x = np.array([[0.7]])
    np.testing.assert_allclose(run_generated(text)["f_grad"](x), numeric_gradient(run_generated(src)["f"], [x], 0))


def test_a_library_named_op_is_not_written_as_a_builtin():
    import pytest

    from diffc.backends.emit import Writer
    from diffc.frontend.scope import Scope
    from diffc.ir import Eqn, Var
    with pytest.raises(ValueError, match="named by a library"):
        Writer([], set(), Scope({}, set())).value(Eqn("numpy.reshape", (Var("g"),), Var()))

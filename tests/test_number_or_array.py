"""Whether a parameter is a number or an array, decided right in both directions: a module that never
names NumPy may still pass arrays (``N, D = X.shape``, ``(X * X).sum()``), and a math function, ``float``
or ``int`` given an array is refused at compile time with the line, as Python would raise TypeError."""

import numpy as np
import pytest
from conftest import check_gradients

import diffc

NO_NUMPY_NAMES = '''
import numpy

def mean_square(X):
    N, D = X.shape
    return (X * X).sum() / N

def trace_like(X):
    return (X.T * X.T).sum() * X.shape[0]
'''


def test_array_attributes_make_a_parameter_an_array_without_numpy_named(make_module):
    mod = make_module(NO_NUMPY_NAMES)
    X = np.random.default_rng(0).normal(size=(3, 4))
    check_gradients((diffc.grad(mod.mean_square)(X),), mod.mean_square, (X,))
    check_gradients((diffc.grad(mod.trace_like)(X),), mod.trace_like, (X,))


def test_unpacking_a_shape_of_the_wrong_rank_is_refused(make_module):
    mod = make_module(NO_NUMPY_NAMES)
    with pytest.raises(diffc.UnsupportedError, match="cannot unpack a shape of 1 dimension"):
        diffc.grad(mod.mean_square)(np.ones(3))


SCALAR_ONLY = '''
import math
import numpy as np

def f(x):
    return math.exp(x) * 2.0

def g(x):
    return float(x) * 2.0 + np.sum(x)

def h(x):
    return math.atan2(x, 2.0)
'''


@pytest.mark.parametrize("name, what", [("f", r"math\.exp takes a number"), ("g", r"float\(\) takes a number"),
                                        ("h", r"math\.atan2 takes a number")])
def test_a_math_function_of_an_array_is_refused_at_compile_time(make_module, name, what):
    fn = getattr(make_module(SCALAR_ONLY), name)
    with pytest.raises(TypeError):  # what Python does
        fn(np.array([0.5]))
    with pytest.raises(diffc.UnsupportedError, match=what) as info:
        diffc.grad(fn)(np.array([0.5]))
    assert ".py:" in str(info.value) and "x.item()" in str(info.value)
    for x in (0.5, np.array(0.5)):  # numbers and 0-d arrays are numbers
        check_gradients((diffc.grad(fn)(x),), fn, (x,))


def test_a_gradient_given_by_index_lands_at_its_index():
    """``like`` puts a gradient {0: g0, 2: g2} of a list argument at indices 0 and 2 (zeros at 1)."""
    from diffc.arguments import like

    value = [np.ones(2), np.ones(3), np.ones(4)]
    out = like(value, {0: np.full(2, 5.0), 2: np.full(4, 7.0)})
    assert isinstance(out, list) and [np.shape(o) for o in out] == [(2,), (3,), (4,)]
    np.testing.assert_array_equal(out[1], np.zeros(3))
    np.testing.assert_array_equal(out[2], np.full(4, 7.0))


ALIAS_WRITE = '''
def h(b):
    w = b
    w *= 2.0
    return (w + b).sum()

def k(b):
    w = b
    w *= 2.0
    return w + b
'''


def test_a_write_in_place_through_an_alias_is_refused_without_numpy_named(make_module, tmp_path):
    """``w = b; w *= 2.0`` writes into b when b is an array (Python gives 4 b, not 3 b): refused, in a
    module that never names NumPy, whether the arrays are seen (the decorator) or read (``.sum()``)."""
    mod = make_module(ALIAS_WRITE)
    assert mod.h(np.array([1.0])) == 4.0
    for fn in (mod.h, mod.k):
        with pytest.raises(diffc.UnsupportedError, match="'w' is changed in place while 'b'"):
            diffc.grad(fn)(np.array([1.0]) if fn is mod.h else np.array(1.0))
    with pytest.raises(diffc.DiffcError, match="changed in place"):
        diffc.compile_source(ALIAS_WRITE, "alias.py", functions=["h"])
    assert diffc.grad(mod.k)(1.0) == 3.0  # numbers: the write rebinds w, b is left alone

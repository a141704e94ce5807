"""The decorator's fast call path (issue 12) still gives each pattern of arguments its own variant.

A gradient's calls go through a dispatcher keyed on the argument types (numbers) or types, exact
shapes and dtypes (arrays). Each test first calls with one pattern (so that the fast path has an
entry), then with another that must not reuse it, then with the first again. No timings here:
benchmarks/call_overhead.py measures the cost.
"""

import numpy as np
import pytest
from conftest import numeric_gradient

import diffc
from diffc import api

LECTURE = "def f(x, y, z):\n    q = x + y\n    return q * z\n"
PRODUCT = "import numpy as np\n\n\ndef f(a, b):\n    return np.sum(a * b * b)\n"


def check(module, g, args):
    """``g(*args)`` against central differences, each gradient with its argument's shape."""
    grads = g(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, grad in enumerate(grads):
        assert np.shape(grad) == np.shape(args[i]), i
        np.testing.assert_allclose(grad, numeric_gradient(module.f, args, i), rtol=1e-6, atol=1e-8)
    return grads


def test_int_after_float_gets_float_gradients(make_module):
    module = make_module(LECTURE)
    g = diffc.grad(module.f)
    for _ in range(2):
        assert g(-2.0, 5.0, -4.0) == (-4.0, -4.0, 3.0)
        grads = g(-2, 5, -4)  # the int variant builds its gradients as floats
        assert grads == (-4.0, -4.0, 3.0) and all(type(d) is float for d in grads)
        assert g(True, 5.0, -4) == (-4.0, -4.0, 6.0) and all(type(d) is float for d in g(True, 5.0, -4))


def test_int_after_float_gets_the_int_variant(make_module):
    # The variant for a float builds d/dx of np.mean(x) with np.full_like(x, ...): for an int that
    # truncates (2.5 instead of 3.0). The int has its own pattern, so its own variant.
    module = make_module("import numpy as np\n\n\ndef f(x):\n    return np.mean(x) * x * 0.5\n")
    g = diffc.grad(module.f)
    for _ in range(2):
        assert g(3.0) == 3.0
        assert g(3) == 3.0
        assert g(True) == 1.0


def test_numpy_scalars_and_mixed_number_types(make_module):
    module = make_module(LECTURE)
    g = diffc.grad(module.f)
    for args in [(1.5, 2.0, 3.0), (np.float64(1.5), 2.0, 3.0), (np.float32(1.5), 2.0, 3.0), (1.5, 2, 3.0),
                 (np.float64(1.5), np.float64(2.0), np.float64(3.0)), (1.5, 2.0, 3.0)]:
        assert [float(d) for d in g(*args)] == pytest.approx([3.0, 3.0, 3.5]), args


def test_scalar_then_array_then_scalar(make_module):
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.3, 2.0, -1.0])
    for _ in range(2):
        check(module, g, (1.5, 2.0))
        check(module, g, (a, b))
        check(module, g, (a, 2.0))
        check(module, g, (1.5, b))


def test_rank_and_size_one_dims_get_their_own_variant(make_module):
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    rng = np.random.default_rng(0)
    shapes = [((3, 2), (2,)), ((3, 2), (1, 2)), ((3, 2), (3, 1)), ((3, 2), (3, 2)), ((1, 2), (3, 2)),
              ((5, 4), (4,)), ((4,), (4,)), ((1,), (4,)), ((2, 3, 4), (3, 1)), ((3, 2), (2,))]
    for _ in range(2):
        for sa, sb in shapes:
            check(module, g, (rng.normal(size=sa), rng.normal(size=sb)))
    g(np.ones((3, 2)), np.ones((1, 2)))
    assert "keepdims=True" in g.source  # .source follows the last call on the fast path too
    g(np.ones((3, 2)), np.ones((2,)))
    assert "keepdims=True" not in g.source


def test_int_array_after_float_array(make_module):
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    for _ in range(2):
        ga, gb = g(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
        np.testing.assert_allclose(ga, [9.0, 16.0])
        ga, gb = g(np.array([1, 2]), np.array([3, 4]))
        assert ga.dtype.kind == "f" and gb.dtype.kind == "f"
        np.testing.assert_allclose(gb, [6.0, 16.0])


def test_containers_keyword_arguments_and_defaults(make_module):
    module = make_module("def f(x, y=2.0):\n    return x[0] * y + x[1]\n")
    g = diffc.grad(module.f, wrt="x")
    for _ in range(2):
        assert g([1.0, 3.0]) == [2.0, 1.0]
        assert g((1.0, 3.0), 5.0) == (5.0, 1.0)
        np.testing.assert_allclose(g(np.array([1.0, 3.0]), 5.0), [5.0, 1.0])
        assert g([1.0, 3.0], y=4.0) == [4.0, 1.0]
        assert g(x=(1.0, 3.0)) == (2.0, 1.0)
    scalar = make_module("def f(x, y=2.0):\n    return x * y\n")
    h = diffc.grad(scalar.f)
    for _ in range(2):
        assert h(3.0) == (2.0, 3.0)  # the default's gradient is given too
        assert h(3.0, 4.0) == (4.0, 3.0)
        assert h(3.0, y=5.0) == (5.0, 3.0)
        with pytest.raises(diffc.DiffcError, match="returns an array"):  # a new pattern: compiled, refused
            h(3.0, np.array([1.0, 2.0]))
        assert h(3.0, 4.0) == (4.0, 3.0)


def test_many_sizes_of_one_pattern(make_module, monkeypatch):
    monkeypatch.setattr(api, "_GUARDS", 2)  # most patterns take the full path
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    rng = np.random.default_rng(1)
    for n in [2, 3, 4, 2, 5, 3, 1, 2]:
        check(module, g, (rng.normal(size=(n, 3)), rng.normal(size=3)))


def test_module_numbers_and_helpers_are_read_at_call_time(make_module):
    module = make_module("""
        import numpy as np

        K = 2.0

        def square(x):
            return x * x

        def cube(x):
            return x * x * x

        def f(x):
            return K * np.sum(square(x))
    """)
    g = diffc.grad(module.f)
    for _ in range(2):
        assert g(3.0) == 12.0
        np.testing.assert_allclose(g(np.array([1.0, 3.0])), [4.0, 12.0])
    module.K = 5.0
    assert g(3.0) == 30.0
    module.square = module.cube  # on the fast path too, the next call compiles f's gradient again
    assert g(2.0) == pytest.approx(60.0)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [15.0, 60.0])
    assert g(2.0) == pytest.approx(60.0)


def test_the_gradient_is_still_a_plain_callable(make_module):
    import inspect

    module = make_module("def f(x, y=2.0, *, z=1.0):\n    return x * y * z\n")
    g = diffc.grad(module.f, wrt="x")
    assert callable(g) and str(inspect.signature(g)) == "(x, y=2.0, *, z=1.0)"
    assert g(1.0) == 2.0 and g(1.0, z=3.0) == 6.0 and g.__call__(1.0, 4.0) == 4.0
    assert "def f_grad(x, y=2.0, *, z=1.0)" in g.source


def counting_patterns(monkeypatch):
    """A list that grows by one for each argument whose pattern the full call path works out."""
    seen: list = []

    def counted(value):
        seen.append(value)
        return pattern(value)

    pattern = api.pattern
    monkeypatch.setattr(api, "pattern", counted)
    return seen


def test_float_and_int_arrays_alternately_and_dtypes_of_one_kind(make_module, monkeypatch):
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    floats = np.array([1.5, 2.0]), np.array([3.0, 4.0])
    ints = np.array([1, 2]), np.array([3, 4])
    singles = floats[0].astype(np.float32), floats[1].astype(np.float32)
    for _ in range(2):  # each pattern once, so that each has its test
        for args in (floats, ints, singles):
            g(*args)
    seen = counting_patterns(monkeypatch)
    for _ in range(3):
        ga, gb = g(*floats)
        np.testing.assert_allclose(ga, [9.0, 16.0])
        np.testing.assert_allclose(gb, [9.0, 16.0])
        ga, gb = g(*ints)  # the float variant would build int zeros for these (np.zeros_like): wrong
        assert ga.dtype.kind == "f" and gb.dtype.kind == "f"
        np.testing.assert_allclose(gb, [6.0, 16.0])
        ga, gb = g(*singles)
        np.testing.assert_allclose(gb, [9.0, 16.0], rtol=1e-6)
    assert seen == []  # every call took the dispatcher's tests


@pytest.mark.parametrize("shapes", [
    [(3,), (1,), (3,), (0,)],
    [(3, 2), (3, 1), (1, 2), (1, 1), (2, 2), (0, 2), (0, 1), (2, 0), (3, 2)],
    [(2, 3, 4), (2, 1, 4), (1, 1, 1), (2, 3, 1), (2, 3, 4)],
])
def test_size_one_dims_alternately(make_module, shapes):
    # A variant for a dim that is not 1 run on a dim that is 1 gives a gradient of the wrong shape
    # (grad_b of X * b is summed over the broadcast dims only when b's dim is 1).
    module = make_module(PRODUCT)
    g = diffc.grad(module.f)
    rng = np.random.default_rng(2)
    for _ in range(2):
        for shape in shapes:
            full = tuple(max(d, 2) if d != 0 else 0 for d in shape)
            check(module, g, (rng.normal(size=full), rng.normal(size=shape)))
            check(module, g, (rng.normal(size=shape), rng.normal(size=full)))


def test_zero_d_arrays_numpy_scalars_and_numbers(make_module, monkeypatch):
    module = make_module("import numpy as np\n\n\ndef f(x, y):\n    return np.sum(x * y * y)\n")
    g = diffc.grad(module.f)
    calls = [(np.array(1.5), np.array(2.0)), (1.5, 2.0), (np.float64(1.5), np.float32(2.0)),
             (np.array(1.5), np.array([2.0])), (np.int64(3), 2.0), (np.array(3), np.array(2)), (3, 2)]
    for _ in range(2):
        for args in calls:
            gx, gy = g(*args)
            assert np.shape(gx) == np.shape(args[0]) and np.shape(gy) == np.shape(args[1]), args
            np.testing.assert_allclose(gx, np.asarray(args[1], float) ** 2, rtol=1e-6)
            np.testing.assert_allclose(gy, 2.0 * np.asarray(args[0], float) * np.asarray(args[1], float), rtol=1e-6)
    seen = counting_patterns(monkeypatch)
    for args in calls:
        g(*args)
    assert seen == []


def test_keyword_arguments_and_defaults_take_the_fast_path(make_module, monkeypatch):
    module = make_module("import numpy as np\n\n\ndef f(x, y=2.0, *, z=1.0):\n    return np.sum(x * y * z)\n")
    g = diffc.grad(module.f)
    a = np.array([1.0, 3.0])
    calls = [((a,), {}), ((a, 5.0), {}), ((a,), {"y": 5.0}), ((), {"x": a, "z": a}), ((a,), {"z": np.ones((1, 2))}),
             ((a, 4), {}), ((a,), {"z": 3})]
    for _ in range(2):
        for args, kwargs in calls:
            gx, gy, gz = g(*args, **kwargs)
            values = dict(zip("xy", args), **kwargs)
            full = [values["x"], values.get("y", 2.0), values.get("z", 1.0)]
            for i, grad in enumerate((gx, gy, gz)):
                assert np.shape(grad) == np.shape(full[i])
                numeric = numeric_gradient(lambda x, y, z: module.f(x, y, z=z), full, i)
                np.testing.assert_allclose(grad, numeric, rtol=1e-6)
    seen = counting_patterns(monkeypatch)
    for args, kwargs in calls:
        g(*args, **kwargs)
    assert seen == []
    with pytest.raises(TypeError, match=r"f_grad\(\) got an unexpected keyword argument 'w'"):
        g(a, w=1.0)
    with pytest.raises(TypeError, match=r"f_grad\(\) missing 1 required positional argument: 'x'"):
        g()


def test_a_keyword_only_parameter_after_a_default_gets_its_structure(make_module):
    # The defaults of positional parameters were once paired with the last parameters, keyword-only ones
    # included: y's default was missing, so its gradient came back as an array, not a tuple.
    module = make_module("def f(x, y=(1.0, 2.0), *, z=3.0):\n    return x * y[0] * z\n")
    g = diffc.grad(module.f, wrt="y")
    for _ in range(2):
        assert g(2.0) == (6.0, 0.0)
        assert g(2.0, z=1.0) == (2.0, 0.0)


def test_a_dict_argument_whose_keys_change(make_module, monkeypatch):
    module = make_module("import numpy as np\n\n\ndef f(p, x):\n    return np.sum(p['w'] * x * x)\n")
    g = diffc.grad(module.f, wrt="p")
    calls = [({"w": 2.0}, {"w": 9.0}), ({"w": 2.0, "v": 1.0}, {"w": 9.0, "v": 0.0}),
             ({"v": 1.0, "w": 2.0}, {"v": 0.0, "w": 9.0}), ({"w": 2}, {"w": 9.0}),
             ({"v": np.ones(2), "w": np.array([1.0, 2.0])}, {"v": [0.0, 0.0], "w": [9.0, 9.0]}),
             ({"v": np.ones(2), "w": np.array([[1.0, 2.0]])}, {"v": [0.0, 0.0], "w": [[9.0, 9.0]]}),
             ({"v": [1.0, 2.0], "w": 2.0}, {"v": [0.0, 0.0], "w": 9.0}), ({"w": (2.0,)}, None)]
    for _ in range(2):
        for p, expected in calls:
            if expected is None:  # w a tuple: a tuple times a float raises in f, and in its gradient
                with pytest.raises(TypeError, match="can't multiply sequence"):
                    g(p, 3.0)
                continue
            grad = g(p, 3.0)
            assert list(grad) == list(p)  # the argument's keys, in its order
            for k, v in expected.items():
                if isinstance(p[k], (list, float)):
                    assert type(grad[k]) is type(p[k]), (p, k)
                assert np.shape(grad[k]) == np.shape(v), (p, k)
                np.testing.assert_allclose(grad[k], v)
        with pytest.raises(KeyError):  # as f raises
            g({"v": 1.0}, 3.0)
    seen = counting_patterns(monkeypatch)
    for p, expected in calls:
        if expected is not None:
            g(p, 3.0)
    assert seen == []


@pytest.mark.parametrize("kind", [list, tuple])
def test_sequences_whose_length_type_and_shapes_change(make_module, kind, monkeypatch):
    module = make_module("import numpy as np\n\n\ndef f(xs, w):\n    return np.sum(xs[0] * w) + np.sum(xs[1] ** 2)\n")
    g = diffc.grad(module.f)
    a, b, w = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([3.0, 4.0])
    calls = [kind([a, b]), kind([a, b, a]), kind([a, np.array([[0.5, -1.0]])]), [a, b], (a, b), kind([a, 2.0]),
             kind([a, np.array([0.5])]), kind([a, np.array(0.5)]), kind([a, 2])]
    for _ in range(2):
        for xs in calls:
            gxs, gw = g(xs, w)
            assert type(gxs) is type(xs) and len(gxs) == len(xs)
            np.testing.assert_allclose(gw, xs[0])
            np.testing.assert_allclose(gxs[0], w)
            assert np.shape(gxs[1]) == np.shape(xs[1])
            np.testing.assert_allclose(gxs[1], 2 * np.asarray(xs[1]))
            assert all(np.all(part == 0) for part in gxs[2:])
    seen = counting_patterns(monkeypatch)
    for xs in calls:
        g(xs, w)
    assert seen == []


def test_a_ragged_sequence_is_refused_on_the_fast_path_too(make_module):
    module = make_module("import numpy as np\n\n\ndef f(xs, i):\n    return np.sum(xs[i])\n")
    g = diffc.grad(module.f, wrt="xs")
    same, ragged = [np.ones(2), np.ones(2)], [np.ones(2), np.ones(3)]
    for _ in range(2):
        assert [list(d) for d in g(same, 1)] == [[0.0, 0.0], [1.0, 1.0]]
        with pytest.raises(diffc.DiffcError, match="holds arrays of different shapes"):
            g(ragged, 1)


def test_a_method_s_params_whose_shapes_change(make_module):
    module = make_module("""
        import numpy as np


        class Net:
            def __init__(self):
                self.params = {'W': np.ones((3, 2)), 'b': np.zeros(2)}

            def loss(self, X):
                return np.sum((X @ self.params['W'] + self.params['b']) ** 2)
    """)
    net = module.Net()
    g = diffc.grad(net.loss, wrt="params")
    X = np.arange(12.0).reshape(4, 3) / 10
    for b in [np.zeros(2), np.zeros((1, 2)), np.zeros(2), np.float64(0.0), np.zeros((4, 2))]:
        net.params["b"] = b
        for _ in range(2):
            grads = g(X)
            assert list(grads) == ["W", "b"] and np.shape(grads["b"]) == np.shape(b)
            scores = X @ net.params["W"] + b
            np.testing.assert_allclose(grads["W"], X.T @ (2 * scores))
            summed = np.sum(2 * scores, axis=0, keepdims=b.ndim == 2) if b.ndim and b.shape[0] != 4 else 2 * scores
            np.testing.assert_allclose(grads["b"], np.sum(2 * scores) if b.ndim == 0 else summed)


def test_parameters_named_like_the_dispatcher_s_own_names(make_module):
    module = make_module("def f(type, len, _dself, _d0, /, float=1.0):\n    return type * len * _dself * _d0 * float\n")
    g = diffc.grad(module.f)
    for _ in range(2):
        assert g(1.0, 2.0, 3.0, 4.0) == (24.0, 12.0, 8.0, 6.0, 24.0)
        assert g(1, 2, 3, 4, float=2) == (48.0, 24.0, 16.0, 12.0, 24.0)


def random_value(rng, depth=0):
    """A number, NumPy scalar, array (ranks 0-3, dims 0-3, four dtypes) or, near the top, a list, tuple or dict."""
    kind = rng.integers(0, 9 if depth < 2 else 6)
    if kind == 0:
        return [1.5, 2, True, -0.0][rng.integers(0, 4)]
    if kind == 1:
        return [np.float64(1.5), np.float32(2.0), np.int64(3), np.bool_(True)][rng.integers(0, 4)]
    if kind <= 5:
        shape = tuple(int(d) for d in rng.integers(0, 4, size=rng.integers(0, 4)))
        dtype = [np.float64, np.float32, np.int64, np.bool_][rng.integers(0, 4)]
        return np.zeros(shape, dtype=dtype)
    items = [random_value(rng, depth + 1) for _ in range(rng.integers(0, 3))]
    if kind == 6:
        return items
    if kind == 7:
        return tuple(items)
    keys = ["a", "b", "c"][:len(items)]
    return dict(zip(rng.permutation(keys).tolist(), items))


def test_the_dispatcher_picks_the_variant_of_exactly_the_arguments_pattern(make_module, monkeypatch):
    # Each variant returns the pattern it was made for: on every call, that must be the arguments' own pattern.
    module = make_module("def f(a, b, *, c=1.0):\n    return a * b * c\n")
    g = diffc.grad(module.f)
    monkeypatch.setattr(api, "_GUARDS", 200)

    def variant(key, args, kwargs):
        g._cache[key] = run = lambda *args, **kwargs: key  # noqa: E731
        return run

    monkeypatch.setattr(g, "_variant", variant)
    rng = np.random.default_rng(12)
    shapes = [(), (0,), (1,), (3,), (0, 1), (0, 3), (1, 0), (2, 1), (1, 2), (1, 1), (2, 3), (2, 3, 4), (2, 1, 4),
              (1, 1, 1), (0, 1, 3)]
    pool = [np.ones(shape, dtype) for shape in shapes for dtype in (np.float64, np.int64)]  # neighbours
    pool += [1.5, 2, True, np.float64(1.0), np.float32(1.0), np.int64(1), {"a": 1.0, "b": 2.0}, {"b": 1.0, "a": 2.0},
             {"a": 1.0, "c": 2.0}, {"a": 1.0}, {"a": 1.0, "b": 2}, [1.0, 2.0], (1.0, 2.0), [1.0, 2.0, 3.0],
             [1.0, np.ones(2)]]
    pool += [random_value(rng) for _ in range(12)]
    misses = []
    miss = g._miss
    monkeypatch.setattr(g, "_miss", lambda values: misses.append(values) or miss(values))
    for _ in range(3000):
        a, b = pool[rng.integers(0, len(pool))], pool[rng.integers(0, 3)]
        if rng.integers(0, 8) == 0:
            c = pool[rng.integers(0, 2)]
            assert g(a, b, c=c) == (api.pattern(a), api.pattern(b), ("c", api.pattern(c)))
        else:
            assert g(b=b, a=a) == (api.pattern(a), api.pattern(b), ("c", ()))
    assert len(misses) < 1000 and len(g._guards) == 200, (len(misses), len(g._guards))  # most calls: the tests

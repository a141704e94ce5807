"""Soundness of the live API and of module scope (issue 8 cases 6, 14, 15, 16, 18; issue 10 item 9).

Each case ends in a right gradient (checked against central differences) or
a located error with a hint, never a silently wrong number.
"""

import functools
import math
import textwrap

import numpy as np
import pytest
from conftest import numeric_gradient, run_generated

import diffc

# --- case 14: the CLI copies a module constant only when its value is certain ----------------
UNCERTAIN = {
    "augmented": ("K = 2.5\nK += 1.0\n", "changed by '+=' on line 2"),
    "tuple": ("K, B = 1.0, 2.0\n", "assigned by unpacking on line 1"),
    "if": ("K = 1.0\nif True:\n    K = 3.0\n", "assigned inside an 'if' on line 3"),
    "loop": ("for K in range(3):\n    pass\n", "a loop variable on line 1"),
    "assigned in a loop": ("K = 1.0\nwhile False:\n    K = 2.0\n", "assigned inside a 'while' loop on line 3"),
    "with": ("K = 1.0\nwith open(__file__) as K:\n    pass\n", "bound by 'with' on line 2"),
    "try": ("try:\n    K = 1.0\nexcept ImportError:\n    K = 2.0\n", "assigned inside a 'try' on line 2"),
    "global": ("K = 1.0\ndef bump():\n    global K\n    K = 2.0\n", "declared 'global' on line 3"),
    "twice": ("K = 1.0\nK = 2.0\n", "assigned more than once (lines 1, 2)"),
    "del": ("K = 1.0\ndel K\n", "deleted on line 2"),
    "walrus": ("K = 1.0\nprint(K := 3.0)\n", "assigned by ':=' on line 2"),
    "star import": ("K = 1.0\nfrom os.path import *\n", "'from ... import *' on line 2"),
    "globals()": ("K = 1.0\nglobals()['K'] = 2.0\n", "globals()"),
}


@pytest.mark.parametrize("case", UNCERTAIN)
def test_an_uncertain_module_constant_is_refused_where_it_is_used(case):
    prelude, reason = UNCERTAIN[case]
    text = prelude + "def f(x):\n    return K * x\n"
    with pytest.raises(diffc.DiffcError) as info:
        diffc.compile_source(text, "m.py", functions="f")
    err = info.value
    assert err.lineno == text.count("\n") and err.source_line.strip() == "return K * x"
    assert "'K' is not certain" in err.message and reason in err.message
    assert err.hint == "define it once as a literal at the top level, or pass it as a parameter"


def test_a_certain_module_constant_is_copied():
    text = textwrap.dedent("""\
        K = 2.5
        A = B = 0.5
        E: float = 1e-3
        L = [K for K in range(3)]  # the comprehension's K is its own

        def f(x):
            return K * x * x + A * x + B + E * x
    """)
    namespace = run_generated(diffc.compile_source(text, "m.py").text)
    assert namespace["f_grad"](2.0) == pytest.approx(2 * 2.5 * 2.0 + 0.5 + 1e-3, rel=1e-12)


def test_a_decorated_function_in_a_file_is_refused():
    text = "def double(g):\n    return g\n\n@double\ndef f(x):\n    return x * x\n"
    with pytest.raises(diffc.UnsupportedError, match="decorated with @double") as info:
        diffc.compile_source(text, "m.py")
    assert info.value.lineno == 4
    helper = "def double(g):\n    return g\n\n@double\ndef h(x):\n    return x * x\n\ndef f(x):\n    return h(x)\n"
    with pytest.raises(diffc.UnsupportedError, match="'h' is decorated with @double") as info:
        diffc.compile_source(helper, "m.py", functions="f")
    assert info.value.lineno == 4


# --- case 15: the decorator reads module numbers when the gradient runs -----------------------
def test_a_reassigned_module_number_is_read_at_call_time(make_module):
    module = make_module("""
        import numpy as np
        REG = 0.1

        def penalty(w):
            return REG * np.sum(w * w)

        def f(w, x):
            return np.sum(w * x) + penalty(w)
    """)
    before = set(vars(module))
    g = diffc.grad(module.f, wrt="w")
    w, x = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    np.testing.assert_allclose(g(w, x), x + 0.2 * w)
    module.REG = 5.0
    np.testing.assert_allclose(g(w, x), x + 10.0 * w)  # the cached variant too
    np.testing.assert_allclose(g(w, x), numeric_gradient(module.f, [w, x], 0), rtol=1e-6)
    module.REG = 2  # an int is still a number
    np.testing.assert_allclose(g(w, x), x + 4.0 * w)
    assert set(vars(module)) == before  # nothing generated leaks into the user's module
    assert "REG = 0.1  # its value when compiled" in g.source
    assert run_generated(g.source)["f_grad"](w, x) is not None  # .source stays standalone


def test_a_module_number_that_stops_being_a_number_is_an_error(make_module):
    module = make_module("REG = 0.5\ndef f(x):\n    return REG * x * x\n")
    g = diffc.grad(module.f)
    assert g(2.0) == 2.0
    module.REG = [1.0, 2.0]
    with pytest.raises(diffc.DiffcError, match="reads the module-level number 'REG', which is now list"):
        g(2.0)


def test_a_number_of_another_module_read_by_an_inlined_helper_is_refused(make_module):
    other = make_module("C = 3.0\ndef g(x):\n    return C * x * x\n")
    module = make_module(f"from {other.__name__} import g\nC = 100.0\ndef f(x):\n    return g(x) + C * x\n")
    with pytest.raises(diffc.UnsupportedError, match="'C' is a module-level number of") as info:
        diffc.grad(module.f)
    assert info.value.filename == other.__file__ and info.value.lineno == 3


# --- case 16: decorators and what diffc.grad accepts -------------------------------------------
def test_a_function_wrapped_by_a_decorator_is_refused(make_module):
    module = make_module("""
        import functools

        def double(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return 2.0 * fn(*args)
            return wrapper

        @double
        def f(x):
            return x * x
    """)
    assert module.f(3.0) == 18.0
    with pytest.raises(diffc.UnsupportedError, match="'f' is wrapped by @double") as info:
        diffc.grad(module.f)
    assert info.value.lineno == 10 and "f.__wrapped__" in info.value.hint
    assert diffc.grad(module.f.__wrapped__)(3.0) == 6.0  # the undecorated function, as the hint says


def test_diffc_s_own_decorator_and_a_registering_decorator_are_understood(make_module):
    module = make_module("""
        import diffc
        SEEN = []

        def register(fn):
            SEEN.append(fn)
            return fn

        @register
        def f(x):
            return x * x * x

        @diffc.grad
        def g(x):
            return x * x
    """)
    assert diffc.grad(module.f)(2.0) == 12.0 and module.g(3.0) == 6.0


def test_a_closure_is_refused(make_module):
    module = make_module("""
        K = 1.0

        def make():
            K = 5.0
            def f(x):
                return K * x
            return f
    """)
    with pytest.raises(diffc.UnsupportedError, match=r"reads variables of the function around it \(K\)"):
        diffc.grad(module.make())


class Model:
    def loss(self, x):
        return x * x

    @classmethod
    def cls_loss(cls, x):
        return x * x

    @staticmethod
    def static_loss(x):
        return x * x * x

    def __call__(self, x):
        return x * x


@pytest.mark.parametrize("fn,message", [
    (Model().loss, "is a method bound to 'Model'"),
    (Model.cls_loss, "is a method bound to 'type'"),
    (Model.__dict__["static_loss"], "got a staticmethod object"),
    (Model.__dict__["cls_loss"], "got a classmethod object"),
    (lambda x: x * x, "got a lambda"),
    (math.sin, "built-in function"),
    (np.sin, "built-in function"),
    (functools.partial(pow, 2.0), "functools.partial"),
    (Model(), "a callable object of type 'Model'"),
    (Model, "the class 'Model'"),
    (functools.lru_cache(Model.static_loss), r"wrapped by a decorator \(a _lru_cache_wrapper\)"),
    (3.0, "expects a function, got float"),
])
def test_what_is_not_a_plain_function_is_refused_at_grad_time(fn, message):
    with pytest.raises(diffc.SelectionError, match=message) as info:
        diffc.grad(fn)
    assert info.value.hint


def test_a_staticmethod_taken_from_its_class_is_a_function():
    assert diffc.grad(Model.static_loss)(2.0) == 12.0


def test_a_method_taken_from_its_class_is_refused():
    with pytest.raises(diffc.SelectionError, match="'Model.loss' is a method of class 'Model'") as info:
        diffc.grad(Model.loss)
    assert info.value.source_line.strip() == "def loss(self, x):"


def test_a_wrapped_helper_is_refused(make_module):
    module = make_module("""
        import functools

        def double(fn):
            @functools.wraps(fn)
            def wrapper(x):
                return 2.0 * fn(x)
            return wrapper

        @double
        def h(x):
            return x * x

        def f(x):
            return h(x) + x
    """)
    assert module.f(1.0) == 3.0
    with pytest.raises(diffc.UnsupportedError, match="'h' is wrapped by @double"):
        diffc.grad(module.f)


@pytest.mark.parametrize("wrt", [1.5, {"x": 1}, None.__class__])
def test_a_wrt_of_the_wrong_type_is_a_located_error(make_module, wrt):
    module = make_module("def f(x, y):\n    return x * y\n")
    with pytest.raises(diffc.SelectionError, match="wrt must be a parameter name, a position") as info:
        diffc.grad(module.f, wrt=wrt)
    assert info.value.lineno == 1
    with pytest.raises(diffc.SelectionError, match="wrt must be"):
        diffc.check_grad(module.f, 1.0, 2.0, wrt=wrt)
    with pytest.raises(diffc.SelectionError, match="has no parameter 'q'"):
        diffc.check_grad(module.f, 1.0, 2.0, wrt="q")


# --- case 18: the live code must be the parsed source; unused arrays get zeros ------------------
def test_a_source_edited_after_import_is_refused(make_module):
    module = make_module("def f(x):\n    return x * x\n")
    with open(module.__file__, "w") as handle:
        handle.write("def f(x):\n    return x * x * x\n")
    with pytest.raises(diffc.SelectionError, match="the source of 'f' changed since it was imported") as info:
        diffc.grad(module.f)
    assert "reload" in info.value.hint
    moved = make_module("def f(x):\n    return x * x\n")
    with open(moved.__file__, "w") as handle:  # same text, one line lower: another function now stands there
        handle.write("\ndef f(x):\n    return x * x\n")
    with pytest.raises(diffc.SelectionError, match="changed since it was imported"):
        diffc.grad(moved.f)


@pytest.mark.parametrize("imports", ["import math\n", "import math\nimport numpy as np\n"])
def test_an_unused_array_parameter_gets_zeros_of_its_shape(make_module, imports):
    module = make_module(imports + "def f(x, y):\n    return math.sin(x)\n")
    gx, gy = diffc.grad(module.f)(1.0, np.ones((2, 3)))
    assert gx == pytest.approx(math.cos(1.0))
    assert isinstance(gy, np.ndarray) and gy.shape == (2, 3) and not gy.any()


# --- case 6: list and tuple parameters ------------------------------------------------------------
@pytest.fixture
def sequences(make_module):
    return make_module("""
        import numpy as np

        def f(xs):
            return np.sum(xs[0]) * np.sum(xs[1] ** 2)

        def g(xs):
            return np.sum(xs[0] * xs[1])

        def h(xs, w):
            return np.sum(xs[1] * w)
    """)


def _numeric_parts(fn, xs, *rest):
    out = []
    for i in range(len(xs)):
        def part(v, i=i):
            items = list(xs)
            items[i] = v
            return fn(type(xs)(items), *rest)
        out.append(numeric_gradient(part, [np.asarray(xs[i], dtype=float)], 0))
    return out


@pytest.mark.parametrize("kind", [list, tuple])
def test_a_sequence_of_arrays_of_different_shapes(sequences, kind):
    xs = kind([np.array([1.0, 2.0]), np.array([0.5, -1.0, 2.0])])
    grad = diffc.grad(sequences.f)(xs)
    assert type(grad) is kind and [g.shape for g in grad] == [(2,), (3,)]
    for got, expected in zip(grad, _numeric_parts(sequences.f, xs)):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("kind", [list, tuple])
def test_a_sequence_of_equal_shapes_keeps_its_type(sequences, kind):
    xs = kind([np.array([1.0, 2.0]), np.array([3.0, -1.0])])
    grad = diffc.grad(sequences.g)(xs)
    assert type(grad) is kind and len(grad) == 2
    for got, expected in zip(grad, _numeric_parts(sequences.g, xs)):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    value, grad = diffc.value_and_grad(sequences.g)(xs)
    assert value == pytest.approx(1.0) and type(grad) is kind


def test_a_list_used_as_an_array_gets_a_list_back(make_module):
    module = make_module("import numpy as np\ndef f(xs):\n    return np.sum(np.square(xs))\n")
    grad = diffc.grad(module.f)([1.0, 2.0])
    assert grad == [2.0, 4.0] and type(grad[0]) is float


def test_unread_items_of_a_sequence_get_zeros(sequences):
    xs = [np.array([1.0, 2.0]), np.array([3.0, -1.0, 1.0]), 4.0]
    w = np.array([2.0, 0.5, 1.0])
    gxs, gw = diffc.grad(sequences.h)(xs, w)
    assert type(gxs) is list and len(gxs) == 3
    np.testing.assert_allclose(gxs[0], [0.0, 0.0])
    np.testing.assert_allclose(gxs[1], w)
    assert gxs[2] == 0.0
    np.testing.assert_allclose(gw, xs[1])


def test_a_module_number_named_like_a_generated_helper(make_module):
    # The helper is written under another name (_unbroadcast_), so the number keeps its own.
    module = make_module("import numpy as np\n_unbroadcast = 2.0\n"
                         "def f(x, b):\n    return np.sum(x + b) * _unbroadcast\n")
    gx, gb = diffc.grad(module.f)(np.ones((2, 3)), np.ones(3))
    assert np.array_equal(gx, np.full((2, 3), 2.0)) and np.array_equal(gb, np.full(3, 4.0))


def test_a_sequence_of_different_shapes_read_as_one_array_is_a_located_error(make_module):
    module = make_module("""
        import numpy as np

        def f(xs):
            s = 0.0
            for v in xs:
                s = s + np.sum(v * v)
            return s
    """)
    g = diffc.grad(module.f)
    grad = g((np.ones(2), np.array([1.0, 3.0])))
    assert type(grad) is tuple and np.allclose(grad[1], [2.0, 6.0])
    with pytest.raises(diffc.UnsupportedError, match="'xs' holds arrays of different shapes") as info:
        g([np.ones(2), np.ones(3)])
    assert info.value.lineno == 4 and info.value.col_offset == 6


def test_a_second_derivative_reads_module_numbers_live_too(make_module):
    module = make_module("import math\nREG = 0.5\ndef f(x):\n    return REG * math.sin(x) * x\n")
    second = diffc.grad(diffc.grad(module.f))
    x = 0.7
    assert second(x) == pytest.approx(0.5 * (2 * math.cos(x) - x * math.sin(x)), rel=1e-12)
    module.REG = 2.0
    assert second(x) == pytest.approx(2.0 * (2 * math.cos(x) - x * math.sin(x)), rel=1e-12)


def test_a_helper_replaced_after_compiling_is_compiled_again(make_module):
    module = make_module("""
        import numpy as np

        def penalty(w):
            return np.sum(w * w)

        def cubes(w):
            return np.sum(w * w * w)

        def f(w):
            return penalty(w) + np.sum(w)
    """)
    g = diffc.grad(module.f)
    w = np.array([1.0, 2.0])
    np.testing.assert_allclose(g(w), 2 * w + 1)
    module.penalty = module.cubes  # f calls the new function: so must its gradient
    np.testing.assert_allclose(g(w), 3 * w * w + 1)
    np.testing.assert_allclose(g(w), numeric_gradient(module.f, [w], 0), rtol=1e-6)


@pytest.mark.parametrize("rebinding", ["def h(x):\n    return x\ng = h\n", "def g(x):\n    return x\n"])
def test_a_helper_whose_name_is_rebound_in_the_file_is_refused(rebinding):
    text = "def g(x):\n    return x * x\n" + rebinding + "def f(x):\n    return g(x)\n"
    with pytest.raises(diffc.UnsupportedError, match="which function 'g' is when called is not certain") as info:
        diffc.compile_source(text, "m.py", functions="f")
    assert info.value.source_line.strip() == "return g(x)" and "do not rebind" in info.value.hint


def test_a_dict_argument_gets_every_key_back(make_module):
    module = make_module("import numpy as np\ndef f(p, x):\n    return np.sum(p['w'] * x)\n")
    params = {"b": np.ones(2), "w": np.array([1.0, 2.0]), "scale": 3.0}
    grad = diffc.grad(module.f, wrt="p")(params, np.array([0.5, -1.0]))
    assert list(grad) == ["b", "w", "scale"]
    np.testing.assert_allclose(grad["w"], [0.5, -1.0])
    assert not grad["b"].any() and grad["b"].shape == (2,) and grad["scale"] == 0.0
    assert diffc.check_grad(module.f, params, np.array([0.5, -1.0]), wrt="p").ok


SHADOW = "K = 2.0\n\ndef h(x):\n    return K * x\n\ndef f(x):\n    K = 3.0\n    return h(x) * K\n"


def test_a_helper_s_module_number_and_a_caller_s_variable_of_the_same_name(make_module):
    # The caller's variable is renamed (K_1): no local takes a global the generated code reads.
    text = diffc.compile_source(SHADOW, "m.py", functions="f").text  # it gave 9.0 [6.0]
    assert "K_1 = 3.0" in text and run_generated(text)["f_grad"](1.0) == 6.0
    module = make_module(SHADOW)
    assert diffc.grad(module.f)(1.0) == 6.0
    renamed = make_module(SHADOW.replace("K = 3.0", "L = 3.0").replace("* K\n", "* L\n"))
    assert diffc.grad(renamed.f)(1.0) == 6.0


# --- integer arguments: differentiated at that real number, never truncated -----------------
# A gradient built like an integer input (np.full_like(x, g), np.zeros_like(x) + np.add.at) is a
# float array; np.full_like on an int array truncated it (np.sum(x) * 0.3 gave [0 0 0]).
INTEGRAL = {
    # source body, argument, exact gradient
    "int array, full_like": ("return np.sum(x) * 0.3", np.array([1, 2, 3]), np.full(3, 0.3)),
    "int number, mean": ("return np.mean(x) * x * 0.5", 3, 3.0),
    "int array, square": ("return np.sum(x * x)", np.array([1, 2, 3]), np.array([2.0, 4.0, 6.0])),
    "bool array": ("return np.sum(x) * 0.3", np.array([True, False]), np.full(2, 0.3)),
    "numpy int scalar": ("return np.mean(x) * 0.25", np.int64(3), 0.25),
    "int arithmetic first": ("return np.mean(x * 2) + np.sum(x[[0, 0]]) * 0.5", np.array([1, 2, 3]),
                             np.array([5 / 3, 2 / 3, 2 / 3])),
    "list of ints": ("return x[0] * 0.5 + x[1] * x[1]", [1, 2], [0.5, 4.0]),
}


@pytest.mark.parametrize("case", INTEGRAL)
def test_integer_arguments_get_float_gradients(make_module, case):
    body, arg, expected = INTEGRAL[case]
    module = make_module(f"import numpy as np\n\ndef f(x):\n    {body}\n")
    got = diffc.grad(module.f)(arg)
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=1e-12)
    assert np.asarray(got).dtype.kind == "f"


def test_integer_kind_from_the_cli_shape_builds_float_gradients():
    text = "import numpy as np\n\ndef f(x):\n    return np.sum(x) * 0.3 + np.mean(x[[0, 0]])\n"
    shapes = {"x": diffc.compiler.parse_shape("N:int")}
    namespace = run_generated(diffc.compile_source(text, "m.py", shapes=shapes).text)
    np.testing.assert_allclose(namespace["f_grad"](np.array([1, 2, 3])), [1.3, 0.3, 0.3], rtol=1e-12)


def test_integer_arguments_not_differentiated_stay_integers(make_module):
    module = make_module("""
        import numpy as np

        def f(x, n):
            s = 0.0
            for i in range(n):
                s = s + x * x
            return s
    """)
    assert diffc.grad(module.f, wrt="x")(3, 2) == 12.0
    assert diffc.grad(module.f)(3, 2) == (12.0, 0.0)  # a loop count keeps its type; its gradient is 0

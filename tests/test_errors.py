"""The error corpus: every refusal names its class, line, column and a hint."""

import pytest

import diffc
from diffc.errors import DiffcError, flatten

CASES = [
    # (source body lines after 'def f(x, y):', error class, line, col (1-based), message part)
    ("    try:\n        z = x\n    except Exception:\n        z = y\n    return z", diffc.UnsupportedError, 5, 5,
     "'try'"),
    ("    with open('f') as h:\n        z = x\n    return z", diffc.UnsupportedError, 5, 5, "'with'"),
    ("    global G\n    return x", diffc.UnsupportedError, 5, 5, "'global'"),
    ("    g = lambda v: v\n    return x", diffc.UnsupportedError, 5, 9, "'lambda'"),
    ("    def g(v):\n        return v\n    return x", diffc.UnsupportedError, 5, 5, "nested function"),
    ("    print(x)\n    return x", diffc.UnsupportedError, 5, 5, "side effects"),
    ("    z = sorted(x)\n    return z", diffc.UnknownCallError, 5, 9, "cannot differentiate call to 'sorted'"),
    ("    z = math.gamma(x)\n    return z", diffc.UnknownCallError, 5, 9, "'math.gamma'"),
    ("    z = math.exp(x, y)\n    return z", diffc.UnsupportedError, 5, 9, "takes 1 argument"),
    ("    z = max(x)\n    return z", diffc.UnsupportedError, 5, 9, "takes at least 2 argument(s), got 1"),
    ("    z = {x: y}\n    return z", diffc.UnsupportedError, 5, 9, "only dicts with string keys"),
    ("    return x + q", diffc.NameResolutionError, 5, 16, "name 'q' is not defined"),
    ("    z = w * 2\n    w = x\n    return z", diffc.NameResolutionError, 5, 9, "'w' is used before"),
    ("    return x, y", diffc.UnsupportedError, 5, 12, "returns a list or tuple"),
    ("    z = x * y", diffc.UnsupportedError, 4, 1, "no return statement"),
    ("    z = x < y < 1.0\n    return z", diffc.UnsupportedError, 5, 9, "chained comparisons"),
    ("    z = x ^ y\n    return z", diffc.UnsupportedError, 5, 9, "'^' has no derivative"),
    ("    z = x.conjugate()\n    return z", diffc.UnsupportedError, 5, 9, "method 'conjugate' is not supported"),
    ("    z = x.real\n    return z", diffc.UnsupportedError, 5, 9, "'x.real' is not supported"),
    ("    x.a = y\n    return y", diffc.UnsupportedError, 5, 5, "assignment to an attribute"),
    ("    z = x\n    z[0] = y\n    return x", diffc.UnsupportedError, 6, 5,
     "'z' is changed in place while 'x' still refers to the same array"),
    ("    z = math.exp(*x)\n    return z", diffc.UnsupportedError, 5, 18, "starred expressions"),
    ("    z = math.exp(x=x)\n    return z", diffc.UnsupportedError, 5, 18, "keyword argument 'x' is not supported"),
    ("    z = 'a'\n    return x", diffc.UnsupportedError, 5, 9, "str constants"),
    ("    z = (v := x)\n    return z", diffc.UnsupportedError, 5, 10, "assignment expressions"),
    ("    z = math\n    return z", diffc.UnsupportedError, 5, 9, "'math' is not a number"),
    ("    z = math.nope\n    return z", diffc.UnsupportedError, 5, 9, "'math.nope'"),
    ("    a, b = x * 2.0\n    return a", diffc.UnsupportedError, 5, 12, "a number cannot be unpacked"),
    ("    x //= y\n    return x", None, None, None, None),  # supported: zero gradient
    ("    assert x > 0\n    return x", diffc.UnsupportedError, 5, 5, "'assert'"),
    ("    z = (yield x)\n    return z", diffc.UnsupportedError, 5, 10, "generators are not supported"),
    ("    while x < 1.0:\n        x = x * 2.0\n    else:\n        x = 0.0\n    return x", diffc.UnsupportedError,
     8, 9, "'while ... else' is not supported"),
    ("    for i in range(3):\n        return x\n    return y", diffc.UnsupportedError, 6, 9,
     "'return' inside a loop"),
    ("    for i in range(3):\n        x = x * y\n    else:\n        x = 0.0\n    return x", diffc.UnsupportedError,
     8, 9, "'for ... else' is not supported"),
    ("    for i in range(3):\n        last = x * i\n    return last", diffc.UnsupportedError, 7, 12,
     "'last' is assigned only inside a loop and used after it"),
    ("    if x > 0:\n        return x\n    y = x * 2", diffc.UnsupportedError, 4, 1, "not every path through 'f'"),
    ("    return x\n    z = y", diffc.UnsupportedError, 6, 5, "comes after 'return'"),
    ("    return f(x, y)", diffc.UnsupportedError, 5, 12, "recursive call to 'f'"),
    ("    return mutate(x)", diffc.UnsupportedError, 13, 5, "'v' is the caller's array"),
    ("    return helper(x, z=1.0)", diffc.UnsupportedError, 5, 22, "'helper' has no parameter 'z'"),
    ("    return helper(x, y)", diffc.UnsupportedError, 5, 12, "'helper' takes 1 argument(s), got 2"),
]


def compile_case(body):
    source = (f"import math\n\n\ndef f(x, y):\n{body}\n\n\ndef helper(v):\n    return v\n\n\n"
              "def mutate(v):\n    v[0] = 1.0\n    return v\n")
    return diffc.compile_source(source, "case.py", functions="f")


@pytest.mark.parametrize("body,cls,line,col,message", CASES, ids=[c[4] or c[0] for c in CASES])
def test_error_corpus(body, cls, line, col, message):
    if cls is None:
        compile_case(body)
        return
    with pytest.raises(DiffcError) as info:
        compile_case(body)
    error = flatten(info.value)[0]
    assert type(error) is cls
    assert (error.filename, error.lineno, error.col_offset + 1) == ("case.py", line, col)
    assert message in error.message
    assert error.hint, "every refusal suggests a rewrite"
    text = str(error)
    assert text.startswith(f"case.py:{line}:{col}: error: ")
    assert "\n    " in text and "^" in text  # the source line and a caret


def test_several_problems_are_reported_together():
    with pytest.raises(diffc.ErrorGroup) as info:
        compile_case("    try:\n        y = 1\n    finally:\n        y = 2\n    assert y\n    return y")
    assert [e.lineno for e in info.value.errors] == [5, 9]


def test_syntax_error_is_located():
    with pytest.raises(diffc.SourceSyntaxError) as info:
        diffc.compile_source("def f(x):\n    return x +\n", "bad.py")
    assert info.value.lineno == 2 and info.value.filename == "bad.py"


def test_missing_function_name():
    with pytest.raises(diffc.SelectionError, match="no top-level function named 'g'"):
        diffc.compile_source("def f(x):\n    return x\n", functions=["g"])


def test_star_args_and_async():
    with pytest.raises(DiffcError, match=r"'\*args'"):
        diffc.compile_source("def f(*args):\n    return 1.0\n")
    with pytest.raises(DiffcError, match="async"):
        diffc.compile_source("async def f(x):\n    return x\n")


def test_decorator_error_points_into_the_real_file(make_module):
    module = make_module("import math\n\n\ndef f(x):\n    y = sorted(x)\n    return y\n")
    with pytest.raises(diffc.UnknownCallError) as info:
        diffc.grad(module.f)
    assert info.value.lineno == 5 and info.value.filename.endswith(".py")
    assert info.value.source_line.strip() == "y = sorted(x)"


def test_indented_method_columns_are_right(make_module):
    module = make_module("class A:\n    @staticmethod\n    def f(x):\n        return sorted(x)\n")
    with pytest.raises(diffc.UnknownCallError) as info:
        diffc.grad(module.A.f)
    assert (info.value.lineno, info.value.col_offset) == (4, 15)

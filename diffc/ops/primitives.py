"""The primitives diffc knows: how source calls map to IR ops.

An op is named by a string: Python operators by a short word (``add``,
``mul``, ``neg``, ``gt`` ...), builtins by their name (``abs``, ``max``),
library functions by their dotted module path (``math.exp``). This module
says which library names exist and how many arguments each takes; the
derivative of each op is in :mod:`diffc.ops.rules`.
"""

from __future__ import annotations

import ast
import math

from . import shapes as S

BINOPS = {
    ast.MatMult: "matmul",
    ast.BitAnd: "bitand",
    ast.BitOr: "bitor",
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.Mod: "mod",
    ast.FloorDiv: "floordiv",
}
UNARYOPS = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert"}
COMPAREOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}

# Arity of each supported callable: (fewest, most) arguments; None = no limit.
MATH_FUNCTIONS = {
    "exp": (1, 1), "log": (1, 2), "log2": (1, 1), "log10": (1, 1), "log1p": (1, 1),
    "expm1": (1, 1), "sqrt": (1, 1), "pow": (2, 2), "sin": (1, 1), "cos": (1, 1),
    "tan": (1, 1), "asin": (1, 1), "acos": (1, 1), "atan": (1, 1), "atan2": (2, 2),
    "sinh": (1, 1), "cosh": (1, 1), "tanh": (1, 1), "hypot": (1, None), "erf": (1, 1),
    "erfc": (1, 1), "fabs": (1, 1),
    # Piecewise constant: zero gradient almost everywhere.
    "floor": (1, 1), "ceil": (1, 1), "trunc": (1, 1),
}
MATH_CONSTANTS = {name: getattr(math, name) for name in ("pi", "e", "tau", "inf", "nan")}
BUILTINS = {"abs": (1, 1), "max": (2, None), "min": (2, None), "float": (1, 1), "round": (1, 1), "int": (1, 1),
            "bool": (1, 1), "len": (1, 1)}

# ---------------------------------------------------------------------------
# numpy: name -> (fewest, most positional arguments, keywords, shape rule)
# ---------------------------------------------------------------------------
_E, _R, _S, _U, _F = S.elementwise, S.reduction, S.scalar, S.unknown, S.same_as_first
_UNARY = ("exp log log1p expm1 sqrt square abs absolute sign sin cos tan tanh arcsin arccos arctan sinh cosh "
          "exp2 log2 log10 reciprocal negative floor ceil rint isnan isfinite logical_not copy").split()
_BINARY = "add subtract multiply divide true_divide power maximum minimum logical_and logical_or".split()
NUMPY_FUNCTIONS = {name: (1, 1, (), _F) for name in _UNARY}
NUMPY_FUNCTIONS.update({name: (2, 2, (), _E) for name in _BINARY})
NUMPY_FUNCTIONS.update({name: (1, 2, ("axis", "keepdims"), _R) for name in "sum mean max min amax amin prod".split()})
NUMPY_FUNCTIONS.update({
    "where": (3, 3, (), _E), "clip": (1, 3, ("a_min", "a_max", "min", "max"), S.clip),
    "dot": (2, 2, (), S.matmul), "matmul": (2, 2, (), S.matmul), "outer": (2, 2, (), S.outer),
    "inner": (2, 2, (), _U), "trace": (1, 1, (), S.trace), "linalg.norm": (1, 1, (), _S),
    "transpose": (1, 2, ("axes",), S.transpose), "reshape": (2, 2, (), _U), "ravel": (1, 1, (), _U),
    "expand_dims": (2, 2, ("axis",), S.expand_dims), "squeeze": (1, 2, ("axis",), _U),
    "concatenate": (1, 2, ("axis",), _U), "stack": (1, 2, ("axis",), _U), "hstack": (1, 1, (), _U),
    "vstack": (1, 1, (), _U),
    # No gradient: shapes, constructors, indices.
    "arange": (1, 3, ("dtype",), _U), "zeros": (1, 1, ("dtype",), _U), "ones": (1, 1, ("dtype",), _U),
    "full": (2, 2, ("dtype",), _U), "eye": (1, 2, ("dtype",), _U), "zeros_like": (1, 1, ("dtype",), _F),
    "ones_like": (1, 1, ("dtype",), _F), "full_like": (2, 2, ("dtype",), _F),
    "argmax": (1, 2, ("axis",), _U), "argmin": (1, 2, ("axis",), _U),
    "shape": (1, 1, (), lambda shapes, eqn, in_shapes: (None,)),  # a tuple of ints: x.shape[0] is a scalar
    "ndim": (1, 1, (), _S), "size": (1, 1, (), _S),
    # np.array([a, b]) stacks a literal list (see diffc.sequences); np.array(x) copies x.
    "array": (1, None, (), lambda shapes, eqn, in_shapes: _array_shape(shapes, eqn, in_shapes)),
    "asarray": (1, 1, (), _F),
})
# Added families (rules in diffc.rules_more, rules_linalg_more, rules_special).
NUMPY_FUNCTIONS.update({name: (1, 1, (), _F) for name in
                        "fabs arccosh arcsinh arctanh deg2rad degrees rad2deg radians real".split()})
NUMPY_FUNCTIONS.update({name: (2, 2, (), _E) for name in
                        "arctan2 hypot logaddexp logaddexp2 remainder mod fmax fmin".split()})
NUMPY_FUNCTIONS.update({
    "cumsum": (1, 2, ("axis",), S.cumulative), "cumprod": (1, 2, ("axis",), S.cumulative),
    "diff": (1, 3, ("n", "axis"), _U), "flip": (1, 2, ("axis",), _F), "roll": (2, 3, ("axis",), _F),
    "repeat": (2, 3, ("axis",), _U), "tile": (2, 2, (), _U), "moveaxis": (3, 3, (), _U),
    "rollaxis": (2, 3, ("start",), _U), "swapaxes": (3, 3, (), _U), "atleast_1d": (1, 1, (), _U),
    "atleast_2d": (1, 1, (), _U), "atleast_3d": (1, 1, (), _U), "tril": (1, 2, ("k",), _F),
    "triu": (1, 2, ("k",), _F), "diag": (1, 2, ("k",), _U), "diagonal": (1, 4, ("offset", "axis1", "axis2"), _U),
    "take": (2, 3, ("axis",), _U), "take_along_axis": (2, 3, ("axis",), _U),
    "pad": (2, 3, ("mode", "constant_values"), _U), "append": (2, 3, ("axis",), _U),
    "sort": (1, 2, ("axis", "kind"), S.cumulative), "partition": (2, 3, ("axis",), _F), "cross": (2, 2, (), _U),
    "kron": (2, 2, (), _U), "tensordot": (2, 3, ("axes",), _U), "einsum": (2, None, (), _U),
    "average": (1, 2, ("axis", "keepdims"), _R), "gradient": (1, 1, ("axis",), _F),
    "linalg.inv": (1, 1, (), _F), "linalg.solve": (2, 2, (), _U), "linalg.det": (1, 1, (), _U),
    "linalg.pinv": (1, 1, (), _U), "linalg.cholesky": (1, 1, (), _F), "linalg.slogdet": (1, 1, (), _U),
})
# Casts: to a float type the identity for the gradient, to an integer type a cut.
NUMPY_FUNCTIONS.update({name: (1, 1, (), _F) for name in (
    "float64 float32 float16 double single half longdouble float_ "
    "int64 int32 int16 int8 uint64 uint32 uint16 uint8 intp int_ bool_").split()})
# Functions whose first argument is a sequence of arrays.
SEQUENCE_FUNCTIONS = {"concatenate", "stack", "hstack", "vstack"}
NUMPY_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

# Array methods and attributes: name -> the numpy function they stand for.
METHODS = {
    "sum": "sum", "mean": "mean", "max": "max", "min": "min", "prod": "prod", "dot": "dot",
    "reshape": "reshape", "transpose": "transpose", "copy": "copy", "ravel": "ravel", "flatten": "ravel",
    "squeeze": "squeeze", "clip": "clip", "argmax": "argmax", "argmin": "argmin", "astype": "astype",
    "cumsum": "cumsum", "cumprod": "cumprod", "repeat": "repeat", "swapaxes": "swapaxes",
    "diagonal": "diagonal", "take": "take",
}
ATTRIBUTES = {"T": "transpose", "shape": "shape", "ndim": "ndim", "size": "size"}

# scipy.special (optional: the rules exist whether or not SciPy is installed): name -> (arity, keywords, shape)
SPECIAL_FUNCTIONS = {name: (1, 1, (), _F) for name in "expit logit erf erfc gammaln digamma psi".split()}
SPECIAL_FUNCTIONS.update({name: (2, 2, (), _E) for name in ("xlogy", "xlog1py")})
SPECIAL_FUNCTIONS.update({"logsumexp": (1, 2, ("axis", "keepdims"), _R), "softmax": (1, 2, ("axis",), _F),
                          "log_softmax": (1, 2, ("axis",), _F)})

LIBRARIES = {"math": (MATH_FUNCTIONS, MATH_CONSTANTS),
             "scipy.special": ({k: v[:2] for k, v in SPECIAL_FUNCTIONS.items()}, {})}


def library_function(module: str, name: str):
    """(op, arity) for ``module.name``, or None if diffc has no such function."""
    if module.split(".")[0] == "numpy":
        name = f"{module[len('numpy.'):]}.{name}" if "." in module else name
        if name in NUMPY_FUNCTIONS:
            low, high, _, _ = NUMPY_FUNCTIONS[name]
            return f"numpy.{name}", (low, high)
        return None
    functions, _ = LIBRARIES.get(module, ({}, {}))
    if name in functions:
        return f"{module}.{name}", functions[name]
    return None


def library_constant(module: str, name: str):
    """The value of ``module.name`` if it is a known constant, else None."""
    if module == "numpy":
        return NUMPY_CONSTANTS.get(name)
    _, constants = LIBRARIES.get(module, ({}, {}))
    return constants.get(name)


def numpy_keywords(op: str) -> tuple:
    if op.startswith("scipy.special."):
        return SPECIAL_FUNCTIONS[op[len("scipy.special."):]][2]
    return NUMPY_FUNCTIONS[op[len("numpy."):]][2] if op.startswith("numpy.") else ()


def call_arg(eqn, position: int, keyword: str, default=None):
    """A literal argument of a call, given by position or by keyword."""
    if keyword in eqn.params:
        return eqn.params[keyword]
    if 0 < position < len(eqn.ins):
        atom = eqn.ins[position]
        return getattr(atom, "value", default)
    return default


def _array_shape(shapes, eqn, in_shapes):
    if "_seq" not in eqn.params:
        return in_shapes[0]
    first = S.known(in_shapes[0])
    if first is None or any(s != first for s in in_shapes):
        return None
    return (1 if len(in_shapes) == 1 else S.Sym(f"len{len(in_shapes)}"), *first)


def _getitem_shape(shapes, eqn, in_shapes):
    from ..ir import Const

    shape, index = S.known(in_shapes[0]), eqn.params["index"]
    if shape is None:
        return None
    items = index[1] if index[0] == "tuple" else [index]
    if all(item[0] == "atom" and shapes.kind(eqn.ins[item[1]]) == "i" for item in items) \
            and len(items) <= len(shape):
        # Integer-array ("fancy") indexing of the leading axes: the index arrays broadcast together.
        index_shapes = [S.known(in_shapes[item[1]]) for item in items]
        joined = shapes.broadcast(*index_shapes)
        return None if joined is None else joined + tuple(shape[len(items):])
    out, dim = [], 0
    for item in items:
        kind = item[0]
        if kind == "none":
            out.append(1)
            continue
        if dim >= len(shape) or kind == "ellipsis":
            return None
        if kind == "slice":
            out.append(shape[dim] if item[1:] == (None, None, None) else None)
        elif kind == "atom" and isinstance(eqn.ins[item[1]], Const) and type(eqn.ins[item[1]].value) is int:
            pass  # an integer index drops the dim
        elif kind == "atom" and in_shapes[item[1]] == () and not isinstance(eqn.ins[item[1]], Const):
            pass  # a scalar variable used as an index
        else:
            return None  # fancy or boolean indexing
        dim += 1
    return tuple(out) + tuple(shape[dim:])


_OP_SHAPES = {
    "matmul": S.matmul, "getitem": _getitem_shape, "setitem": _F, "copy": _F, "neg": _F, "pos": _F, "sigmoid": _F,
    "abs": _F, "float": _F, "invert": _F, "round": _F, "int": _S, "len": _S, "tuple": _U, "astype": _F,
    "field": lambda shapes, eqn, in_shapes: shapes.field_shape(eqn),
    "make_struct": _U,
    "list": lambda shapes, eqn, in_shapes: (1 if len(eqn.ins) == 1 else S.Sym(f"len{len(eqn.ins)}"),)
    if all(s == () for s in in_shapes) else None,
}


def shape_rule(op: str):
    if op in _OP_SHAPES:
        return _OP_SHAPES[op]
    if op in BINOPS.values() or op in COMPAREOPS.values() or op in ("select", "and"):
        return _E
    if op.startswith("numpy."):
        return NUMPY_FUNCTIONS[op[len("numpy."):]][3] if op[len("numpy."):] in NUMPY_FUNCTIONS else _U
    if op.startswith("scipy.special.") and op[len("scipy.special."):] in SPECIAL_FUNCTIONS:
        return SPECIAL_FUNCTIONS[op[len("scipy.special."):]][3]
    if op.startswith("math.") or op in ("max", "min"):
        return _S
    return _U

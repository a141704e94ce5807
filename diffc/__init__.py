"""diffc: a source-to-source symbolic differentiation compiler for Python.

diffc reads an ordinary Python function and writes its gradient as a flat,
readable Python function: the forward lines, then the backward lines, as a
person would write them by hand (CS231n lecture 4).

    >>> import diffc, math
    >>> def f(x, y, z):
    ...     q = x + y
    ...     return q * z
    >>> diffc.grad(f)(-2.0, 5.0, -4.0)
    (-4.0, -4.0, 3.0)
"""

from .api import grad, value_and_grad
from .check import CheckReport, check_grad
from .compiler import CompiledModule, compile_source
from .errors import (
    DiffcError,
    ErrorGroup,
    GradientCheckError,
    NameResolutionError,
    SelectionError,
    ShapesNeededError,
    SourceSyntaxError,
    UnknownCallError,
    UnsupportedError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckReport",
    "CompiledModule",
    "DiffcError",
    "ErrorGroup",
    "GradientCheckError",
    "NameResolutionError",
    "SelectionError",
    "ShapesNeededError",
    "SourceSyntaxError",
    "UnknownCallError",
    "UnsupportedError",
    "check_grad",
    "compile_source",
    "grad",
    "value_and_grad",
    "__version__",
]

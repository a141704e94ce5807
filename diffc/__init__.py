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

from .api import GradFunction, grad, value_and_grad
from .compiler import CompiledModule, compile_source
from .custom import custom_jvp, custom_vjp, non_differentiable, stop_gradient
from .errors import (
    DiffcError,
    ErrorGroup,
    GradientCheckError,
    InternalError,
    NameResolutionError,
    SelectionError,
    ShapesNeededError,
    SourceSyntaxError,
    UnknownCallError,
    UnsupportedError,
)
from .hessian import hessian, hvp
from .jacobian import jacobian
from .jvp import jvp
from .tools.gradcheck import CheckReport, check_grad
from .vjp import vjp

__version__ = "0.1.0"


def draw(fn, *args, **kwargs):
    """The computational graph of ``fn`` at these arguments, with values and gradients on every edge.

    Returns a :class:`diffc.graph.Graph`: it shows as SVG in Jupyter (with
    Graphviz installed), ``.dot`` is its DOT text, ``.save("f.svg")`` writes it.
    """
    from .tools.evaluate import trace_live
    from .tools.graph import Graph

    return Graph(trace_live(fn, args, kwargs))


def explain(fn, *args, **kwargs):
    """The backward pass of ``fn`` at these arguments, gate by gate.

    Returns a :class:`diffc.explainer.Explanation`: ``print()`` it for the
    table; ``.rows`` has the same as data.
    """
    from .tools.evaluate import trace_live
    from .tools.explain import explain_trace

    return explain_trace(trace_live(fn, args, kwargs))

__all__ = [
    "CheckReport",
    "CompiledModule",
    "DiffcError",
    "ErrorGroup",
    "GradientCheckError",
    "InternalError",
    "NameResolutionError",
    "SelectionError",
    "ShapesNeededError",
    "SourceSyntaxError",
    "UnknownCallError",
    "UnsupportedError",
    "GradFunction",
    "check_grad",
    "draw",
    "explain",
    "compile_source",
    "custom_jvp",
    "custom_vjp",
    "grad",
    "jacobian",
    "hessian",
    "hvp",
    "jvp",
    "non_differentiable",
    "stop_gradient",
    "value_and_grad",
    "vjp",
    "__version__",
]

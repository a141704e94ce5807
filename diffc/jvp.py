"""Forward mode end to end: ``diffc.jvp(fn, wrt=...)`` and ``diffc f.py --mode forward``.

The generated function ``NAME_jvp`` takes the function's arguments, then one tangent per
parameter in ``wrt`` (``dot_x``, in the order of ``wrt``), and returns ``(value, tangent of the
output)``: a number, an array, or a tuple of tangents for a tuple output. Its body is the forward
code with a ``dot_<name>`` line beside each line that depends on a differentiated parameter
(:mod:`diffc.ad.forward`), under the reverse mode's naming, standalone and determinism rules.

The generated signature has no defaults and no keyword-only marker (the tangents come last, so
every parameter before them is positional); ``diffc.jvp`` fills defaults in from the function.
"""

from __future__ import annotations

import functools


@functools.cache
def _jvp_function_class():
    from .trailing import TrailingFunction

    class JvpFunction(TrailingFunction):
        """The forward-mode derivative of a Python function, compiled by diffc: called with ``fn``'s
        arguments and one tangent per parameter in ``wrt``, it returns ``(value, tangent)`` (cached and
        called as :class:`diffc.trailing.TrailingFunction`'s)."""

        __slots__ = ()
        _word = "tangent"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # GradFunction gives each gradient a class of its own, for its dispatcher: here, one of this class.
            self.__class__ = type("JvpFunction", (JvpFunction,), {"__slots__": (), "__module__": __name__})

        def _trailing(self) -> list[str]:
            return ["dot_" + n for n in self._wrt_names]

        def __repr__(self) -> str:
            return f"<diffc forward-mode derivative {self.__qualname__}>"

    return JvpFunction


def jvp(fn=None, *, wrt=None):
    """The forward-mode derivative of ``fn``: ``diffc.jvp(fn, wrt="x")(*args, dot_x)`` returns
    ``(fn(*args), the derivative of fn at args in the direction dot_x)``.

    ``wrt`` takes a name, a position, or a tuple or list of them, as :func:`diffc.grad` does (None:
    every parameter); the call takes one tangent per parameter in ``wrt``, in that order, after
    ``fn``'s arguments. The output may be a number, an array or a tuple (a tuple of tangents).
    The result's ``.source`` is the generated code (``NAME_jvp``).
    """
    import inspect

    if fn is None:
        return lambda f: jvp(f, wrt=wrt)
    if inspect.ismethod(fn) and not isinstance(fn.__self__, type) and wrt is not None:
        return _method_jvp(fn, wrt)  # net.loss with wrt="params": a function of self.params
    return _jvp_function_class()(fn, wrt, "jvp")


def _method_jvp(method, wrt):
    """The forward-mode derivative of a bound method with respect to attributes of its object it reads
    (as :class:`diffc.api.MethodGradFunction`): called with the method's arguments, then the tangents."""
    from .api import MethodGradFunction
    from .frontend import methods
    from .frontend.live import definition, refuse_unsupported

    result = MethodGradFunction.__new__(MethodGradFunction)
    fn, result._object = method.__func__, method.__self__
    refuse_unsupported(fn)
    fdef, source = definition(fn, method=True)
    result._qualname = fn.__qualname__
    function, result._attrs = methods.as_function(fdef, type(result._object).__name__, wrt, source)
    result._gradient = _jvp_function_class()(fn, wrt, "jvp", False, (function, source))
    result.__name__, result.__qualname__ = result._gradient.__name__, result._gradient.__qualname__
    return result

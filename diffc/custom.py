"""User-defined rules: ``@diffc.custom_vjp`` with ``@fn.defvjp``, ``stop_gradient``, ``@non_differentiable``.

All of them leave the user's code running exactly as written: the decorators return the function
itself (marked with a :class:`CustomRule` in ``__diffc_custom__``), and ``stop_gradient`` returns its
argument. They only change what diffc writes for a function that calls them:

- a call of a ``custom_vjp`` function: its body inlined as forward code that is never
  differentiated, and the rule given by ``defvjp`` inlined into the backward pass
  (``rule(*args, ans, g)`` returns the gradient of each argument: one value for a function of one
  argument, else a tuple with one item per argument, None for no gradient);
- a call of a ``custom_jvp`` function: the same in forward mode, with the rule given by ``defjvp``
  (``rule(*args, ans, *dots)`` returns the tangent of the value, linear in ``dots``); reverse mode
  uses it transposed, as JAX does;
- ``stop_gradient(x)``: ``x``, through which no gradient flows (forward mode too);
- a call of a ``non_differentiable`` function: its body inlined on inputs whose gradient is
  stopped, so its result is a constant (an argmax, a data augmentation, a mask).

The generated code is plain Python: the bodies and rules are copied in, diffc is never imported.
The same decorators written in a file are recognised by the CLI from the text
(:mod:`diffc.frontend.custom_calls`).
"""

from __future__ import annotations

__all__ = ["CustomRule", "custom_jvp", "custom_vjp", "non_differentiable", "stop_gradient"]

MARK = "__diffc_custom__"


class CustomRule:
    """What diffc knows of a decorated function: ``kind`` ("vjp" or "non_differentiable") and the rule."""

    def __init__(self, kind: str, fun):
        self.kind, self.fun, self.rule = kind, fun, None

    def defvjp(self, rule):
        """Give the function its backward rule ``rule(*args, ans, g)``; returns ``rule`` (usable as a decorator)."""
        if not callable(rule):
            raise TypeError(f"defvjp expects a function rule(*args, ans, g), got {type(rule).__name__}")
        self.rule = rule  # (in __dict__: a compiled gradient checks there that the rule is still the one it inlined)
        return rule

    def defjvp(self, rule):
        """Give the function its forward rule ``rule(*args, ans, *dots)`` (the tangent of the value from one
        tangent per argument); returns ``rule``."""
        return self.defvjp(rule)

    def __repr__(self) -> str:
        return f"<diffc {self.kind} rule of {getattr(self.fun, '__qualname__', self.fun)!r}>"


def _plain(fun, decorator: str):
    import types

    if not isinstance(fun, types.FunctionType):
        raise TypeError(f"@diffc.{decorator} decorates a function defined with 'def', not {type(fun).__name__}")
    if getattr(fun, MARK, None) is not None:
        raise TypeError(f"'{fun.__name__}' is already decorated with a diffc rule ({getattr(fun, MARK).kind})")
    return fun


def custom_vjp(fun):
    """Mark ``fun`` as having its own backward rule, given by ``@fun.defvjp`` (names after JAX's).

    ``fun`` is returned as it is (calling it runs it, at full speed), with ``fun.defvjp``::

        @diffc.custom_vjp
        def softplus(z):
            return np.log1p(np.exp(z))

        @softplus.defvjp
        def _(z, ans, g):          # the arguments, the function's value, the upstream gradient
            return g / (1.0 + np.exp(-z))
    """
    fun = _plain(fun, "custom_vjp")
    record = CustomRule("vjp", fun)
    setattr(fun, MARK, record)
    fun.defvjp = record.defvjp
    return fun


def custom_jvp(fun):
    """Mark ``fun`` as having its own forward-mode rule, given by ``@fun.defjvp`` (names after JAX's):
    ``rule(*args, ans, *dots)`` returns the tangent of the value, ``dots`` one tangent per argument (0.0
    for an argument not differentiated), linear in the tangents. Reverse mode uses it transposed."""
    fun = _plain(fun, "custom_jvp")
    record = CustomRule("jvp", fun)
    setattr(fun, MARK, record)
    fun.defjvp = record.defjvp
    return fun


def non_differentiable(fun):
    """Mark ``fun``'s result as a constant for diffc: no gradient flows through a call of it (as if its
    arguments went through :func:`stop_gradient`). ``fun`` is returned as it is."""
    fun = _plain(fun, "non_differentiable")
    setattr(fun, MARK, CustomRule("non_differentiable", fun))
    return fun


def stop_gradient(x):
    """``x`` itself; diffc sends no gradient through it (generated code uses the value as a constant)."""
    return x

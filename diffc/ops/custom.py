"""The ops of user-defined rules: ``diffc.stop_gradient``, the call of a ``custom_vjp`` (``custom_jvp``) function.

``stop_gradient(x)`` is ``x`` with a zero derivative: its output is never active, in either mode.
``custom_vjp(ans, *args)`` is ``ans`` (the value of the user's function, computed by its body
inlined on inputs that go through ``stop_gradient``, so the body itself is never differentiated);
its gradient into ``args[k]`` is what the user's rule returns for that argument. The rule was
lowered by the frontend into a :class:`RuleTemplate` (a block of IR over placeholders for the
arguments, ``ans`` and ``g``); the reverse pass instantiates it where the gradient flows, once per
upstream gradient (the placeholders replaced by the forward values and the upstream gradient, the
rule's own variables fresh), and reads each argument's gradient from it. Forward mode has no rule
for it: refused with a located error, as JAX refuses a ``custom_vjp`` function under ``jvp``.
``custom_jvp(ans, *args)`` is the same with a forward rule (the tangent of ``ans`` from the
arguments' tangents, a zero one for an argument without); reverse mode transposes it
(:mod:`diffc.ad.transpose`), as JAX does.

After differentiation both are the identity (:func:`diffc.passes.cleanup.erase_identities`), so
generated code never calls diffc.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..ir import Const
from . import shapes as S
from .algebra import ZERO, NoRule
from .op import FLAT, define

IDENTITIES = ("stop_gradient", "custom_vjp", "custom_jvp")  # written as their first input once differentiated


@dataclass(eq=False)
class RuleTemplate:
    """A user's backward rule as IR: ``items`` compute ``outputs`` (one atom or None per argument of
    the function) from the placeholder variables ``args``, ``ans`` and ``g``."""

    name: str  # the user's function, for messages
    args: list
    ans: object
    g: object  # a reverse rule's upstream gradient (None for a forward rule)
    items: list
    outputs: list
    dots: list = field(default_factory=list)  # a forward rule's tangents of the arguments
    _made: dict = field(default_factory=dict)  # (id(block), id(g)) -> the instantiated outputs

    def instantiate(self, block: list, ans, ins: tuple, g=None, dots=()) -> list:
        """The rule's items appended to ``block`` with the placeholders bound; the outputs. One
        instantiation per block and upstream gradient: every argument's gradient comes from it."""
        key = (id(block), id(g), *map(id, dots))
        if key not in self._made:
            memo = {id(p): a for p, a in zip(self.args, ins)}
            memo.update({id(p): ZERO if d is None else d for p, d in zip(self.dots, dots)})  # no tangent: zero
            memo[id(self.ans)] = ans
            if self.g is not None:
                memo[id(self.g)] = g
            items, outputs = copy.deepcopy((self.items, self.outputs), memo)  # the rule's own variables fresh
            block.extend(items)
            self._made[key] = (outputs, g, dots, block)  # kept alive: their ids stay theirs
        return self._made[key][0]

    def __repr__(self) -> str:  # as --dump-after shows it
        return f"<the rule of {self.name!r}>"

    def __deepcopy__(self, memo):  # an equation holding the template may be copied: the template is shared
        return self


def _custom_vjp(b, g, ans, ins, i, params):
    if i == 0:
        return None  # the value of the body, which is computed on stopped inputs
    rule: RuleTemplate = params["_rule"]
    part, x = rule.instantiate(b.eqns, ans, ins[1:], g)[i - 1], ins[i]
    if part is None or not b.numpy:
        return part
    shape = b.shape(x)
    if shape is not None and shape == b.shape(ans) and not (isinstance(shape, tuple) and None in shape) or \
            b.shape(ans) == ():  # a number's gradient is never summed down to an argument
        return part
    # An argument the function broadcast (mul(x, 2.0 * np.ones(3)) with x a number): a rule may return its
    # gradient with the value's shape, as an elementwise formula gives it; summed back to the argument's
    # shape at run time (a gradient of the argument's shape passes unchanged).
    return b.emit("_unbroadcast", part, x)


def _custom_jvp(b, dots, ans, ins, params):
    name = params["_rule"].name
    raise NoRule(f"'{name}' has a custom reverse-mode rule (@diffc.custom_vjp), which forward mode cannot use",
                 f"differentiate in reverse mode (diffc.grad, diffc.vjp), or call the function without a custom "
                 f"rule here (an undecorated copy of '{name}')")


def _custom_jvp_tangent(b, dots, ans, ins, params):
    part = params["_rule"].instantiate(b.eqns, ans, ins[1:], dots=dots[1:])[0]
    if part is None or isinstance(part, Const) and part.value == 0:
        return None  # no tangent (the rule read only tangents that are zero)
    shape = b.shape(ans)
    if not b.numpy or shape == () or shape is not None and not (isinstance(shape, tuple) and None in shape) and \
            any(d is not None and b.shape(a) == shape for a, d in zip(ins[1:], dots[1:])):
        return part  # an argument with a tangent has the value's shape: so has the rule's tangent
    # A rule may give the tangent of an argument the function broadcast (x + b with b a number, only b
    # differentiated): broadcast to the value's shape, as the tangent of the value must be.
    return b.call("broadcast_to", part, b.call("shape", ans))


def _custom_jvp_reverse(b, g, ans, ins, i, params):
    """Never called by the reverse pass, which transposes the user's forward rule (:mod:`diffc.ad.transpose`)."""
    name = params["_rule"].name
    raise NoRule(f"the gradient through '{name}' (@diffc.custom_jvp) is its forward rule transposed, which only "
                 "the reverse pass writes", "differentiate the function with diffc.grad")


define("stop_gradient", sources=("diffc.stop_gradient",), arity=(1, 1), shape=S.same_as_first, view=True, grad=FLAT)
define("custom_jvp", _custom_jvp_reverse, jvp=_custom_jvp_tangent, shape=S.same_as_first, view=True,
       pattern="your forward rule (defjvp)")
define("custom_vjp", _custom_vjp, jvp=_custom_jvp, shape=S.same_as_first, view=True, pattern="your rule (defvjp)")

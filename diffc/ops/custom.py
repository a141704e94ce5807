"""The ops of user-defined rules: ``diffc.stop_gradient`` and the call of a ``@diffc.custom_vjp`` function.

``stop_gradient(x)`` is ``x`` with a zero derivative: its output is never active, in either mode.
``custom_vjp(ans, *args)`` is ``ans`` (the value of the user's function, computed by its body
inlined on inputs that go through ``stop_gradient``, so the body itself is never differentiated);
its gradient into ``args[k]`` is what the user's rule returns for that argument. The rule was
lowered by the frontend into a :class:`RuleTemplate` (a block of IR over placeholders for the
arguments, ``ans`` and ``g``); the reverse pass instantiates it where the gradient flows, once per
upstream gradient (the placeholders replaced by the forward values and the upstream gradient, the
rule's own variables fresh), and reads each argument's gradient from it. Forward mode has no rule
for it: refused with a located error, as JAX refuses a ``custom_vjp`` function under ``jvp``.

After differentiation both are the identity (:func:`diffc.passes.cleanup.erase_identities`), so
generated code never calls diffc.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from . import shapes as S
from .algebra import NoRule
from .op import FLAT, define

IDENTITIES = ("stop_gradient", "custom_vjp")  # written as their first input once differentiated


@dataclass(eq=False)
class RuleTemplate:
    """A user's backward rule as IR: ``items`` compute ``outputs`` (one atom or None per argument of
    the function) from the placeholder variables ``args``, ``ans`` and ``g``."""

    name: str  # the user's function, for messages
    args: list
    ans: object
    g: object
    items: list
    outputs: list
    _made: dict = field(default_factory=dict)  # (id(block), id(g)) -> the instantiated outputs

    def instantiate(self, block: list, ans, ins: tuple, g) -> list:
        """The rule's items appended to ``block`` with the placeholders bound; the outputs. One
        instantiation per block and upstream gradient: every argument's gradient comes from it."""
        key = (id(block), id(g))
        if key not in self._made:
            memo = {id(p): a for p, a in zip(self.args, ins)}
            memo[id(self.ans)], memo[id(self.g)] = ans, g
            items, outputs = copy.deepcopy((self.items, self.outputs), memo)  # the rule's own variables fresh
            block.extend(items)
            self._made[key] = (outputs, g, block)  # g and block kept alive: their ids stay theirs
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
    if shape is not None and shape == b.shape(ans) and not (isinstance(shape, tuple) and None in shape):
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


define("stop_gradient", sources=("diffc.stop_gradient",), arity=(1, 1), shape=S.same_as_first, view=True, grad=FLAT)
define("custom_vjp", _custom_vjp, jvp=_custom_jvp, shape=S.same_as_first, view=True, pattern="your rule (defvjp)")

"""Calls of functions with user-defined rules (:mod:`diffc.custom`), and finding those functions.

A function decorated ``@diffc.custom_vjp`` (or ``@custom_vjp`` after ``from diffc import
custom_vjp``, or ``@dc.custom_vjp`` after ``import diffc as dc``) and given a rule by
``@NAME.defvjp`` (or a top-level ``NAME.defvjp(rule)``), likewise ``@diffc.custom_jvp`` with
``@NAME.defjvp``, or decorated ``@diffc.non_differentiable``, is found in a file's text or from the live
objects by :mod:`diffc.frontend.customs`; its :class:`~diffc.frontend.customs.Custom` is what the scope
answers for either.

A call of such a function is inlined like any helper's (:func:`diffc.frontend.calls.inline`),
with two differences (:func:`call`): the body runs on the arguments through ``stop_gradient``,
so it is forward code that is never differentiated; and for a ``custom_vjp`` function its value
passes through a ``custom_vjp`` equation whose gradient is the user's rule, lowered here into a
:class:`~diffc.ops.custom.RuleTemplate` (the rule's body in the supported subset, like any
function's, with placeholders for the arguments, ``ans`` and ``g``); a ``custom_jvp`` function's
through a ``custom_jvp`` equation whose tangent is its rule's (placeholders for the arguments, ``ans``
and one tangent per argument). A missing rule, a rule of the wrong arity, one returning the wrong
number of gradients, or a function with a rule returning a tuple is refused with a located error.
"""

from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..ir import Const, Var
from ..ops.custom import RuleTemplate
from . import fence
from .customs import RULES, Custom, decorator_kind
from .inline import body


# -- lowering a call ------------------------------------------------------------------------------
def stopped(lo) -> None:
    """Note that the function differentiated stops a gradient its generated code will not show (the stop is
    erased: :func:`diffc.passes.cleanup.erase_identities`), so that the result is not differentiated again
    (the inputs a custom_vjp function's body gets are stopped too, but differentiating the generated
    code again differentiates that body and the rule as plain code, as JAX does)."""
    lo.root.scope.stopped = True


def call(lo, node: ast.Call, name: str, custom: Custom, fdef, source, scope, values: dict):
    """A call of the custom function ``name`` (``values``: its parameters' atoms, in order)."""

    inputs = {}
    for param, value in values.items():
        if isinstance(value, Var) and (id(value) in lo.seqs or id(value) in lo.containers):
            lo.fail(UnsupportedError, node, f"'{name}' has a custom rule and is passed a list, tuple or dict as "
                    f"'{param}'", "pass it arrays and numbers (np.array(t), or the items one by one)")
        inputs[param] = lo.emit("stop_gradient", (value,), node) if isinstance(value, Var) else value
    ans = body(lo, fdef, source, scope, inputs)
    if custom.kind == "non_differentiable":
        stopped(lo)
        return ans
    if isinstance(ans, Var) and (id(ans) in lo.seqs or id(ans) in lo.results or id(ans) in lo.dicts):
        lo.fail(UnsupportedError, node, f"'{name}' has a custom rule and returns a tuple, list or dict: a rule is for "
                "a function returning one array or number", "give each output a function (and a rule) of its own")
    template = template_of(lo, node, name, custom, list(values))
    return lo.emit(RULES[custom.kind][0], (ans, *values.values()), node, _rule=template)


def template_of(lo, node: ast.Call, name: str, custom: Custom, params: list) -> RuleTemplate:
    """The rule of ``name`` lowered into a template, checked for its arity and what it returns: a
    ``defvjp`` rule takes the arguments, ``ans`` and ``g`` and returns one gradient per argument; a
    ``defjvp`` rule takes the arguments, ``ans`` and one tangent per argument and returns ``ans``'s."""
    decorator, method, extra = RULES[custom.kind]
    loaded = custom.rule()
    n = len(params)
    vjp = custom.kind == "vjp"
    if loaded is None:
        what = "the gradient of each argument" if vjp else "the tangent of the value"
        lo.fail(UnsupportedError, node, f"'{name}' is decorated with @diffc.{decorator} but has no rule",
                f"give it one after its definition: @{name}.{method}, then def _({', '.join(params)}, {extra}): "
                f"return {what}")
    rdef, rsource, rscope = loaded
    problems = fence.check(rdef, rsource)
    if problems:
        lo.refuse(problems)
    args = rdef.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    wanted = [*params, "ans", "g"] if vjp else [*params, "ans", *(f"dot_{p}" for p in params)]
    if len(names) != len(wanted) or args.vararg or args.kwarg or args.kwonlyargs:
        after = "then its value and the upstream gradient" if vjp else "then its value and a tangent per argument"
        lo.refuse([rsource.error(
            UnsupportedError, rdef, f"the rule '{rdef.name}' of '{name}' takes {len(names)} argument(s): a rule "
            f"takes the {n} argument(s) of '{name}', {after}", f"def {rdef.name}({', '.join(wanted)}): ...")])
    placeholders = [Var(p) for p in names]
    sub = lo.nested(rdef, rscope, rsource)
    sub.eqns = items = []  # the rule's items go to the template, not into the forward code
    sub.env = {p.hint: p for p in placeholders}
    out = sub.body()
    found = lo.seqs.get(id(out))
    if isinstance(out, Const) and isinstance(out.value, tuple):  # (None, None): every item a literal
        outputs = [Const(v) for v in out.value]
    elif found is not None and found[1] == "Tuple":
        outputs = list(found[0])
    else:
        outputs = [out]
    if len(outputs) != (n if vjp else 1):
        where = next((r for r in ast.walk(rdef) if isinstance(r, ast.Return)), rdef)
        lo.refuse([rsource.error(
            UnsupportedError, where, f"the rule '{rdef.name}' of '{name}' returns {len(outputs)} "
            + (f"gradient(s) for {n} argument(s)" if vjp else "values: a forward rule returns the value's tangent"),
            "return one gradient per argument, in order: a tuple for several (None for an argument with no "
            "gradient)" if vjp else "return one tangent")])
    outputs = [None if isinstance(o, Const) and o.value is None else o for o in outputs]
    if vjp:
        return RuleTemplate(name, placeholders[:n], placeholders[n], placeholders[n + 1], items, outputs)
    return RuleTemplate(name, placeholders[:n], placeholders[n], None, items, outputs, placeholders[n + 1:])


# -- differentiating a function with a rule itself ------------------------------------------------
def own_rule(fdef: ast.FunctionDef, scope) -> ast.FunctionDef | None:
    """For ``fdef`` decorated with a diffc rule (``diffc.grad(softplus)``, ``diffc f.py -f softplus``): a
    function of the same parameters returning a call of it, so that its rule is used; else None."""
    if scope.custom(fdef.name) is None or not any(decorator_kind(d, scope.bindings) for d in fdef.decorator_list):
        return None
    args = fdef.args
    call = ast.Call(ast.Name(fdef.name, ast.Load()), [ast.Name(a.arg, ast.Load()) for a in [*args.posonlyargs,
                                                                                              *args.args]],
                    [ast.keyword(a.arg, ast.Name(a.arg, ast.Load())) for a in args.kwonlyargs])
    wrapper = ast.FunctionDef(name=fdef.name, args=args, body=[ast.Return(call)], decorator_list=[], returns=None)
    for node in ast.walk(wrapper.body[0]):
        ast.copy_location(node, fdef)
    return ast.copy_location(wrapper, fdef)

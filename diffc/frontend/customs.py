"""Functions with rules of their own, found: ``@diffc.custom_vjp`` / ``custom_jvp`` /
``non_differentiable`` and ``@f.defvjp`` rules, from a module's text (the CLI) or from live objects (the
decorator). What a call of one lowers to is :mod:`diffc.frontend.custom_calls`; this module only
recognises them, so that :mod:`diffc.frontend.scope` can list them without importing the lowering.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import UnsupportedError
from .bindings import FromImport, ModuleAlias

KINDS = {"custom_vjp": "vjp", "custom_jvp": "jvp", "non_differentiable": "non_differentiable"}
# kind -> (decorator, the method giving the rule, the rule's parameters after the function's)
RULES = {"vjp": ("custom_vjp", "defvjp", "ans, g"), "jvp": ("custom_jvp", "defjvp", "ans, dot_...")}


@dataclass
class Custom:
    """A function with a user-defined rule: ``kind`` ("vjp" or "non_differentiable"), and ``rule()``
    giving the rule's (definition, source, scope), or None when it has none."""

    kind: str
    rule: object = None  # () -> (FunctionDef, Source, Scope) | None


# -- finding them ---------------------------------------------------------------------------------
def decorator_kind(node: ast.expr, bindings: dict) -> str | None:
    """"vjp" or "non_differentiable" for a diffc decorator (``@diffc.custom_vjp``, ``@custom_vjp``), else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            bindings.get(node.value.id) == ModuleAlias("diffc"):
        return KINDS.get(node.attr)
    if isinstance(node, ast.Name):
        binding = bindings.get(node.id)
        if isinstance(binding, FromImport) and binding.module == "diffc":
            return KINDS.get(binding.attr)
    return None


def rule_of(node: ast.expr, kinds: dict) -> str | None:
    """The custom_vjp (custom_jvp) function ``f`` a decorator ``@f.defvjp`` (``@f.defjvp``), or a call, gives a
    rule to."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            kinds.get(node.value.id) in RULES and node.attr == RULES[kinds[node.value.id]][1]:
        return node.value.id
    return None


def static_customs(tree: ast.Module, bindings: dict):
    """From a module's text: {name: kind} of the decorated functions, {name: rule's FunctionDef} of the
    custom_vjp functions given a rule, and the decorators understood (by id) of each def."""
    kinds: dict[str, str] = {}
    rules: dict[str, ast.FunctionDef] = {}
    understood: dict[int, set] = {}
    defs = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[stmt.name] = stmt
            for node in stmt.decorator_list:
                kind, target = decorator_kind(node, bindings), rule_of(node, kinds)
                if kind is not None:
                    kinds[stmt.name] = kind
                elif target is not None:
                    rules[target] = stmt
                else:
                    continue
                understood.setdefault(id(stmt), set()).add(id(node))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # softplus.defvjp(softplus_rule)
            target, args = rule_of(stmt.value.func, kinds), stmt.value.args
            if target is not None and len(args) == 1 and isinstance(args[0], ast.Name) and args[0].id in defs:
                rules[target] = defs[args[0].id]
            elif target is not None:  # a lambda, a function from elsewhere: refused where the rule is needed
                rules[target] = args[0] if len(args) == 1 else stmt.value
    return kinds, rules, understood


def static_rule(rule, source, scope, check):
    """The (definition, source, scope) of a rule found in a module's text, or None; ``check(fdef)`` refuses a
    definition with other decorators."""
    if rule is None:
        return None
    if not isinstance(rule, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise source.error(UnsupportedError, rule, "a rule must be a function defined with 'def' at the top level "
                           "of the module, its name given to defvjp (or defjvp)",
                           "def my_rule(z, ans, g): ..., then softplus.defvjp(my_rule); or decorate it")
    check(rule)
    return rule, source, scope


def live_custom(obj, make_scope, inlined: list | None) -> Custom | None:
    """The :class:`Custom` of a live decorated function (see :mod:`diffc.custom`), else None.
    ``make_scope(fn, fdef)`` gives the scope of a function read from its source."""
    from ..custom import MARK
    from .live import definition

    record = getattr(obj, MARK, None)
    if record is None or getattr(record, "fun", None) is not obj:
        return None

    def rule():
        fn = record.rule
        if fn is None:
            return None
        if inlined is not None:  # a compiled gradient stays right only while this is the rule
            inlined.append((record.__dict__, "rule", fn))
        fdef, source = definition(fn)
        return fdef, source, make_scope(fn, fdef)

    return Custom(record.kind, rule)

"""Methods: ``TwoLayerNet.loss(self, X, y)`` as a function of the attributes it reads from ``self``.

CS231n's models keep their weights in ``self.params`` (a dict) and read them
in ``loss``: ``W1, b1 = self.params['W1'], self.params['b1']``. diffc
differentiates such a method as the function it is of the attributes it
reads: ``self`` is replaced by one parameter per attribute read
(``self.params`` -> ``params``, ``self.reg`` -> ``reg``), in the order of
their first read, so ``loss(self, X, y)`` becomes
``TwoLayerNet_loss(params, reg, X, y)``, and a gradient with respect to
``params`` is a dict like CS231n's ``grads``. Attributes that are not
differentiated are read as they are, as constants of the computation
(their values cannot depend on the ones differentiated).

Refused, at the line that does it: a write to ``self`` (``self.x = v``,
``self.params['W1'] = v``, ``self.x += v``), a call of another method
(``self.forward(X)``), ``self`` used other than by reading one attribute
(``helper(self)``, ``self.a.b``), a method reading no attribute to
differentiate, and a parameter or local name equal to an attribute read.
"""

from __future__ import annotations

import ast
from copy import deepcopy

from ..errors import SelectionError, UnsupportedError
from .scope import identifiers
from .source import Source


def find_method(tree: ast.Module, qualname: str, source: Source) -> ast.FunctionDef:
    """The ``def`` of ``Class.method`` at the top level of ``tree``."""
    owner, _, name = qualname.partition(".")
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    if owner not in classes:
        known = ", ".join(classes) or "none"
        raise SelectionError(f"no top-level class named '{owner}' for '{qualname}'", filename=source.filename,
                             hint=f"classes in this file: {known}")
    defs = {n.name: n for n in classes[owner].body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if name not in defs:
        raise SelectionError(f"class '{owner}' has no method '{name}'", filename=source.filename,
                             hint=f"its methods: {', '.join(defs) or 'none'}")
    return defs[name]


def as_function(fdef: ast.FunctionDef, owner: str, wrt, source: Source) -> tuple[ast.FunctionDef, list[str]]:
    """``fdef`` (a method of class ``owner``) as a function of the attributes of ``self`` it reads, named
    ``Owner_method``; returns it and the attributes, in the order they stand in its parameters."""
    qualname = f"{owner}.{fdef.name}"
    for decorator in fdef.decorator_list:
        raise source.error(UnsupportedError, decorator, f"'{qualname}' is decorated with "
                           f"@{ast.unparse(decorator)}: diffc differentiates plain methods",
                           "differentiate a method without a decorator")
    args = fdef.args
    if args.posonlyargs or not args.args:
        raise source.error(SelectionError, fdef, f"'{qualname}' has no 'self' parameter",
                           "a method diffc differentiates takes self first, as in 'def loss(self, X, y)'")
    me = args.args[0].arg
    reads: list[str] = []
    parents = {id(child): node for node in ast.walk(fdef) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(fdef):
        if not (isinstance(node, ast.Name) and node.id == me) or node is args.args[0]:
            continue
        attribute = parents.get(id(node))
        if not isinstance(attribute, ast.Attribute) or isinstance(node.ctx, ast.Store):
            raise source.error(UnsupportedError, node, f"'{me}' is used here other than by reading one of its "
                               "attributes", f"read what is needed as {me}.params, {me}.reg, ...")
        _check_read(attribute, parents, me, source)
        if attribute.attr not in reads:
            reads.append(attribute.attr)
    wanted = [w for w in ([wrt] if isinstance(wrt, str) else wrt or []) if isinstance(w, str)]
    params = [a.arg for a in [*args.args[1:], *args.kwonlyargs]]
    if wrt is None or not any(w in reads for w in wanted):
        what = f"'{wanted[0]}'" if wanted and wanted[0] not in params else "the attribute to differentiate"
        raise source.error(SelectionError, fdef, f"'{qualname}' is a method: diffc differentiates it with respect "
                           f"to attributes of {me} it reads, and {what} is not one of them",
                           f"name one with wrt, as in wrt='params' for {me}.params (it reads: "
                           f"{', '.join(f'{me}.{r}' for r in reads) or 'nothing from ' + me})")
    taken = identifiers(ast.Module(fdef.body, [])) | set(params)
    for attr in reads:
        if attr in taken:
            raise source.error(UnsupportedError, fdef, f"'{qualname}' reads {me}.{attr} and also has a name "
                               f"'{attr}': as a function of {me}.{attr}, the two would clash",
                               f"rename the parameter or variable '{attr}'")
    function = deepcopy(fdef)
    function.name = f"{owner}_{fdef.name}"
    function.args.args[:1] = [ast.copy_location(ast.arg(attr), fdef.args.args[0]) for attr in reads]
    function.body = [_Unself(me).visit(stmt) for stmt in function.body]
    return function, reads


def _check_read(attribute: ast.Attribute, parents: dict, me: str, source: Source) -> None:
    """Refuse a write into ``self`` or a call of a method."""
    above = parents.get(id(attribute))
    text = ast.unparse(attribute)
    if isinstance(attribute.ctx, (ast.Store, ast.Del)):
        raise source.error(UnsupportedError, attribute, f"'{text}' is assigned here: diffc does not follow writes "
                           f"to {me}", "keep the value in a local variable and return it (with has_aux) instead")
    if isinstance(above, ast.Subscript) and above.value is attribute and isinstance(above.ctx, (ast.Store, ast.Del)):
        raise source.error(UnsupportedError, above, f"'{ast.unparse(above)}' writes into {text}: diffc does not "
                           f"follow writes to {me}", "build a new dict in the method and return it (with has_aux)")
    if isinstance(above, ast.Call) and above.func is attribute:
        raise source.error(UnsupportedError, above, f"'{text}(...)' calls a method: diffc does not inline methods",
                           "move that computation into a module-level function and call it")
    if isinstance(above, ast.Attribute):
        raise source.error(UnsupportedError, above, f"'{ast.unparse(above)}' reads an attribute of an attribute "
                           f"of {me}", f"read {text} only, as in {text}['key']")


class _Unself(ast.NodeTransformer):
    """``self.attr`` -> ``attr``, keeping the location for errors."""

    def __init__(self, me: str):
        self.me = me

    def visit_Attribute(self, node: ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == self.me:
            return ast.copy_location(ast.Name(node.attr, ast.Load()), node)
        return self.generic_visit(node)


def attribute_values(obj, attrs: list[str], qualname: str) -> list:
    """The values of ``obj``'s attributes ``attrs``, read when a method's gradient is called."""
    missing = [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise SelectionError(f"'{qualname}' reads self.{missing[0]}, which this {type(obj).__name__} does not have",
                             hint=f"set self.{missing[0]} (in __init__) before calling the gradient")
    return [getattr(obj, a) for a in attrs]


def method_def(tree: ast.Module, qualname: str, wrt, source: Source) -> ast.FunctionDef:
    """The method ``Class.method`` of the module ``tree`` as a function (see :func:`as_function`)."""
    function, _ = as_function(find_method(tree, qualname, source), qualname.partition(".")[0], wrt, source)
    return function

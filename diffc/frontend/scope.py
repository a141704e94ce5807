"""What the names outside a function mean: imports, aliases and constants.

A :class:`Scope` answers two questions: what does a global name used in the
function refer to (``m`` is the module ``math``, ``ex`` is ``math.exp``,
``EPS`` is the constant 1e-08), and how should generated code refer to a
library function such as ``math.cos`` (through the user's own alias, adding
an import only when the user has none).

It is built either statically from a module's AST (the CLI never imports the
user's file) or from a live function's ``__globals__`` (the decorator).
"""

from __future__ import annotations

import ast
import contextlib
import sys
import types
from copy import deepcopy

from ..custom import stop_gradient
from ..errors import UnsupportedError
from .bindings import (
    Binding,
    FromImport,
    GlobalConst,
    GlobalLiteral,
    ModuleAlias,
    ModuleFunction,
    OtherGlobal,
    Snapshot,
)
from .certain import HINT, literal_container, literal_value, only_read, uncertain
from .customs import Custom, live_custom, static_customs, static_rule

# Libraries whose functions have derivative rules.
KNOWN_MODULES = ("math", "numpy", "numpy.linalg", "scipy.special")
_CONVENTIONAL = {"numpy": "np", "jax.numpy": "jnp"}  # jax.numpy: the JAX backend's (diffc/backends/jax.py)
# Modules that "from package import name" can bind (their functions have rules).
_SUBMODULES = {"scipy.special", "numpy.linalg"}




def _literal_number(node: ast.expr):
    """The number a literal like ``1e-8`` or ``-3`` denotes, else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value
    return None


def identifiers(tree: ast.AST) -> set[str]:
    """Every identifier spelled in ``tree``: names, arguments, definitions, aliases."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


class Scope:
    def __init__(self, bindings: dict[str, Binding], reserved: set[str], helpers=None, customs=None):
        # Insertion order is the order of the user's imports: generated
        # files list their imports in that order.
        self.bindings = bindings
        self.reserved = set(reserved) | set(bindings)
        # name -> a function returning (FunctionDef, Source, Scope) of a helper defined in the module
        self._helpers = helpers or {}
        # name -> the Custom of a helper with a user-defined rule (diffc.frontend.custom_calls)
        self._customs = customs or {}
        self.not_compiled: set[str] = set()  # functions with rules, and the rules: helpers, not compiled alone
        self.understood: dict[int, set] = {}  # id(def) -> ids of its diffc decorators (read from a file)
        self.stopped = False  # set by lowering a stop_gradient or a non_differentiable call (see custom_calls)
        # Parameters the caller passes as a list, tuple or dict (the decorator sees the arguments).
        self.structs: frozenset[str] = frozenset()
        self.arrays = False  # the caller passes arrays (the decorator sees them): w *= 2 may write in place
        self.inlined: list | None = None  # live helpers inlined: (namespace, name, function)
        self.show_live = False  # write live numbers' current values too (the decorator's .source)
        # The parameters of the function being emitted: a global spelled with one of these names would
        # be shadowed inside it, so references go through another name (see avoiding()).
        self.avoid: frozenset[str] = frozenset()
        self.helper_names: dict[str, str] = {}  # run-time helper -> its name in generated modules

    @contextlib.contextmanager
    def avoiding(self, names):
        """Within the block, :meth:`reference` never answers with a name in ``names``."""
        old, self.avoid = self.avoid, frozenset(names)
        try:
            yield
        finally:
            self.avoid = old

    def helper_name(self, helper: str) -> str:
        """The name of a run-time helper (see :mod:`diffc.backends.runtime`) in generated code: its own, unless
        the user's module spells that identifier (as a parameter, say), then with '_' appended."""
        if helper not in self.helper_names:
            name = helper
            while name in self.reserved or name in self.bindings or name in self.helper_names.values():
                name += "_"
            self.helper_names[helper] = name
            self.reserved.add(name)
        return self.helper_names[helper]

    def helper(self, name: str):
        """(definition, source, scope) of the module function ``name``, or None."""
        found = self._helpers.get(name)
        return found() if found is not None else None

    def custom(self, name: str):
        """The :class:`~diffc.frontend.custom_calls.Custom` of the module function ``name``, or None."""
        return self._customs.get(name)

    # -- construction -----------------------------------------------------
    @classmethod
    def from_module(cls, tree: ast.Module, text: str | None = None, source=None) -> Scope:
        bindings: dict[str, Binding] = {}
        helpers = {}
        understood: dict[int, set] = {}  # id(def) -> ids of its diffc decorators (see custom_calls)
        for stmt in tree.body:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        bindings[alias.asname] = ModuleAlias(alias.name)
                    else:
                        top = alias.name.split(".")[0]
                        bindings[top] = ModuleAlias(top)
            elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
                for alias in stmt.names:
                    if stmt.module == "builtins" and alias.asname in (None, alias.name):
                        continue  # 'from builtins import range' (Python 2 compatibility): the builtin itself
                    if f"{stmt.module}.{alias.name}" in _SUBMODULES:  # from scipy import special
                        bindings[alias.asname or alias.name] = ModuleAlias(f"{stmt.module}.{alias.name}")
                    elif alias.name != "*":
                        bindings[alias.asname or alias.name] = FromImport(stmt.module, alias.name)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bindings[stmt.name] = ModuleFunction(stmt.name)
                helpers[stmt.name] = (lambda fdef: lambda: (check_decorators(fdef, source, understood), fdef, source,
                                                            scope)[1:])(stmt)
            elif isinstance(stmt, ast.ClassDef):
                bindings[stmt.name] = OtherGlobal("a class")
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = _literal_number(stmt.value)
                container = literal_value(stmt.value)
                for target in targets:
                    if isinstance(target, ast.Name):
                        if value is not None and target.id not in bindings:
                            spelled = ast.get_source_segment(text, stmt.value) if text else None
                            bindings[target.id] = GlobalConst(value, spelled or ast.unparse(stmt.value))
                        elif container is not None and target.id not in bindings and only_read(tree, target.id):
                            bindings[target.id] = GlobalLiteral(container, ast.unparse(stmt.value))
                        elif container is not None and target.id not in bindings:
                            bindings[target.id] = OtherGlobal("a module-level variable", (
                                f"the module-level {type(container).__name__} '{target.id}' may be changed in "
                                "place in this file: its value is not certain"),
                                "do not change it (build a new one under another name), or pass it as a parameter")
                        else:
                            bindings[target.id] = OtherGlobal("a module-level variable")
        for name, reason in uncertain(tree).items():
            if name in helpers:  # a function defined at the top level, and bound again
                bindings[name] = OtherGlobal("a function", f"which function '{name}' is when called is not "
                                             f"certain: {reason}", "define it once with 'def' and do not rebind it")
            elif name not in bindings or isinstance(bindings[name], (GlobalConst, GlobalLiteral, OtherGlobal)):
                bindings[name] = OtherGlobal("a module-level variable", f"the value of the module-level variable "
                                             f"'{name}' is not certain: {reason}", HINT)
        kinds, rules, found = static_customs(tree, bindings)
        understood.update(found)
        customs = {}
        for name, kind in kinds.items():
            if isinstance(bindings.get(name), ModuleFunction):
                customs[name] = Custom(kind, (lambda rule: lambda: static_rule(
                    rule, source, scope, lambda fdef: check_decorators(fdef, source, understood)))(rules.get(name)))
        scope = cls(bindings, identifiers(tree), helpers, customs)
        scope.not_compiled = set(kinds) | {getattr(rule, "name", None) for rule in rules.values()}
        scope.understood = understood
        return scope

    @classmethod
    def from_globals(cls, globals_, names: set[str], home: dict | None = None, inlined: list | None = None,
                     root: Scope | None = None) -> Scope:
        """The scope of a live function whose module namespace is ``globals_``.

        Numbers are read live: generated code runs with ``home`` (the
        differentiated function's module dict) as its globals. A helper from
        another module cannot read its own module's numbers that way, so their
        use there is refused. Each helper function inlined is recorded in
        ``inlined`` as (namespace, name, function): the gradient is right only
        while the name still means that function. A helper's numbers are
        also bound in the ``root`` scope (the differentiated function's), whose
        generated module reads them.
        """
        home = globals_ if home is None else home
        bindings: dict[str, Binding] = {}
        helpers, customs = {}, {}
        for name in sorted(names):
            if name not in globals_:
                continue
            binding = _classify(globals_[name], name)
            if isinstance(binding, GlobalConst):
                binding = GlobalConst(binding.value, binding.text, live=True)
                if globals_ is not home and getattr(globals_, "maps", [None])[-1] is not home:
                    binding = OtherGlobal("a number of another module", (
                        f"'{name}' is a module-level number of {globals_.get('__name__', 'another module')!r}, "
                        "read by a function inlined from there: the gradient can read only the differentiated "
                        "function's module"), "pass it as a parameter")
            if isinstance(binding, GlobalLiteral) and type(binding.value) is not tuple and inlined is not None:
                maps = getattr(globals_, "maps", [globals_])
                inlined.append((next(m for m in maps if name in m), name, Snapshot(binding.value)))
            if binding is not None:
                bindings[name] = binding
            if isinstance(binding, ModuleFunction):
                helpers[name] = (lambda fn, key: lambda: _live_helper(fn, home, inlined, globals_, key, root or scope))(
                    globals_[name], name)
                custom = live_custom(globals_[name], lambda fn, fdef: Scope.from_globals(
                    getattr(fn, "__globals__", {}), identifiers(fdef), home, inlined, root or scope), inlined)
                if custom is not None:
                    customs[name] = custom
        scope = cls(bindings, names, helpers, customs)
        scope.inlined = inlined
        if root is not None:
            for name, binding in bindings.items():
                if isinstance(binding, GlobalConst):
                    root.bindings.setdefault(name, binding)
                    root.reserved.add(name)
        return scope

    # -- queries ------------------------------------------------------------
    def lookup(self, name: str) -> Binding | None:
        return self.bindings.get(name)

    def reference(self, module: str, attr: str) -> str:
        """Source text that names ``module.attr`` in generated code."""
        for name, binding in self.bindings.items():
            if binding == FromImport(module, attr) and name not in self.avoid:
                return name
        for name, binding in self.bindings.items():
            if name in self.avoid:
                continue
            if binding == ModuleAlias(module):
                return f"{name}.{attr}"
            if isinstance(binding, ModuleAlias) and module.startswith(binding.module + "."):
                return f"{name}{module[len(binding.module):]}.{attr}"  # np.linalg.norm
        # The user has no way to spell it: add an import, in the user's style.
        from_style = any(isinstance(b, FromImport) and b.module == module for b in self.bindings.values())
        if from_style and attr not in self.reserved and attr not in self.bindings and "." not in attr:
            self.bindings[attr] = FromImport(module, attr)
            self.reserved.add(attr)
            return attr
        return f"{self._add_module(module)}.{attr}"

    def uses_module(self, module: str) -> bool:
        """True if the user imported ``module`` or something from it."""
        return any(isinstance(b, (ModuleAlias, FromImport)) and b.module.split(".")[0] == module
                   for b in self.bindings.values())

    def module_alias(self, module: str) -> str:
        """The name generated code uses for ``module`` itself (imported if the user has none)."""
        for name, binding in self.bindings.items():
            if binding == ModuleAlias(module) and name not in self.avoid:
                return name
        return self._add_module(module)

    def _add_module(self, module: str) -> str:
        alias = _CONVENTIONAL.get(module, module)
        while alias in self.reserved or alias in self.bindings or alias in self.avoid:
            alias += "_"
        self.bindings[alias] = ModuleAlias(module)
        self.reserved.add(alias)
        return alias

    def import_lines(self, used: set[str]) -> list[str]:
        """Import statements (and constant definitions) for the global names in ``used``."""
        imports, constants = [], []
        from_groups: dict[str, list[str]] = {}
        for name, binding in self.bindings.items():
            if name not in used:
                continue
            if isinstance(binding, ModuleAlias):
                same = name == binding.module
                imports.append(f"import {binding.module}" + ("" if same else f" as {name}"))
            elif isinstance(binding, FromImport):
                item = binding.attr if name == binding.attr else f"{binding.attr} as {name}"
                if binding.module not in from_groups:
                    from_groups[binding.module] = []
                    imports.append(binding.module)  # placeholder keeps first-seen order
                from_groups[binding.module].append(item)
            elif isinstance(binding, GlobalConst) and (not binding.live or self.show_live):
                note = "  # its value when compiled: the gradient reads the module's at each call" * binding.live
                constants.append(f"{name} = {binding.text}{note}")
        lines = [
            f"from {line} import {', '.join(from_groups[line])}" if line in from_groups else line
            for line in imports
        ]
        return lines + ([""] + constants if constants and lines else constants)


def shadowed_numbers(text: str, scope: Scope, used: set[str]) -> list[str]:
    """Module numbers the generated function ``text`` reads by name that are also its own variables
    (a helper reads the global ``K``, its caller has a local ``K``): the code would read the local."""
    func = ast.parse(text).body[0]
    local = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(n for n in used & local if isinstance(scope.lookup(n), GlobalConst))


UNDERSTOOD_DECORATORS = ("staticmethod",)


def check_decorators(fdef: ast.FunctionDef, source, understood: dict | None = None) -> None:
    """Refuse a ``def`` read from source whose decorators may change what calling it does (``understood``:
    id(def) -> ids of its diffc decorators, which do not: see :mod:`diffc.frontend.custom_calls`)."""
    known = (understood or {}).get(id(fdef), ())
    for node in fdef.decorator_list:
        if ast.unparse(node) not in UNDERSTOOD_DECORATORS and id(node) not in known:
            raise source.error(UnsupportedError, node, f"'{fdef.name}' is decorated with @{ast.unparse(node)}: "
                               "diffc would differentiate the function without its decorator",
                               "differentiate a function without the decorator (write what the decorator does "
                               "into the function, or move the computation into an undecorated function)")


def _classify(obj, name: str) -> Binding | None:
    import builtins

    if getattr(builtins, name, None) is obj:
        return None  # the builtin itself, imported from builtins or not
    if obj is stop_gradient:
        return FromImport("diffc", "stop_gradient")
    if isinstance(obj, types.ModuleType):
        return ModuleAlias(obj.__name__)
    for module in KNOWN_MODULES:
        mod = sys.modules.get(module)
        # `from math import pi` binds a float: recognise it by name.
        if mod is not None and type(obj) is float and getattr(mod, name, None) == obj:
            return FromImport(module, name)
    if type(obj) in (int, float):
        return GlobalConst(obj, repr(obj))
    if type(obj) in (tuple, list, dict) and literal_container(obj):
        return GlobalLiteral(deepcopy(obj), repr(obj))  # its value now: see Snapshot
    for module in KNOWN_MODULES:
        mod = sys.modules.get(module)
        attr = getattr(obj, "__name__", None)
        if mod is not None and isinstance(attr, str) and getattr(mod, attr, None) is obj:
            return FromImport(module, attr)
    if isinstance(obj, types.FunctionType):
        return ModuleFunction(name)
    return OtherGlobal(type(obj).__name__)


def _live_helper(fn, home: dict, inlined: list | None, namespace, name: str, root: Scope):
    """A live helper function's definition, source and scope (for inlining)."""
    from .live import definition

    fdef, source = definition(fn)
    maps = getattr(namespace, "maps", [namespace])  # a ChainMap: a gradient's closure, then its module
    if inlined is not None and next(m for m in maps if name in m) is maps[-1]:
        inlined.append((maps[-1], name, fn))
    return fdef, source, Scope.from_globals(getattr(fn, "__globals__", {}), identifiers(fdef), home, inlined, root)

"""Which module-level numbers have a value the CLI can copy into generated code.

The CLI never runs the user's file, so a module constant used by a
differentiated function is copied into the generated module as text. That is
only right when its value is certain: one plain top-level assignment of a
literal number (``K = 2.5``, ``EPS: float = 1e-8``, ``A = B = 0.5``), and no
other write to the name anywhere in the module: not reassigned, augmented
(``K += 1``), deleted, unpacked into (``A, B = 1.0, 2.0``), assigned inside an
``if``, a loop, a ``with`` or a ``try``, bound by ``for``/``with``/``import``/
``def``/``class``/``except``/``:=``, declared ``global`` in a function, or
possibly replaced by a later ``from m import *`` or a ``globals()`` write.

``uncertain(tree)`` maps each name that fails this to the reason, so that a
use of it in a differentiated function is refused with a located error.

A module-level tuple, list or dict literal of numbers and strings is certain
under the same rules and when nothing may change it in place (``only_read``:
every use reads it, indexes it or calls a method that only reads).
"""

from __future__ import annotations

import ast

_KINDS = {ast.If: "an 'if'", ast.For: "a 'for' loop", ast.AsyncFor: "a 'for' loop", ast.While: "a 'while' loop",
          ast.With: "a 'with'", ast.AsyncWith: "a 'with'", ast.Try: "a 'try'", ast.Match: "a 'match'"}
if hasattr(ast, "TryStar"):
    _KINDS[ast.TryStar] = "a 'try'"
HINT = "define it once as a literal at the top level, or pass it as a parameter"


def _stores(node: ast.AST):
    """(name, node) for each name an expression or simple statement binds in the module's scope."""
    local = set()  # comprehension variables belong to the comprehension
    for n in ast.walk(node):
        if isinstance(n, ast.comprehension):
            local.update(id(t) for t in ast.walk(n.target))
        elif isinstance(n, ast.Lambda):
            local.update(id(t) for t in ast.walk(n.body))
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)) and id(n) not in local:
            yield n.id, n
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            yield n.name, n
        elif isinstance(n, ast.MatchMapping) and n.rest:
            yield n.rest, n


def _how(stmt: ast.stmt, target: ast.AST, inside: str | None) -> tuple[str, bool]:
    """How ``stmt`` writes the name ``target`` and whether it is a plain top-level assignment."""
    line = f"line {stmt.lineno}"
    if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Del):
        return f"deleted on {line}", False
    if isinstance(stmt, ast.AugAssign):
        return f"changed by '{ast.unparse(stmt).split()[1]}' on {line}", False
    if isinstance(stmt, (ast.For, ast.AsyncFor)) and any(t is target for t in ast.walk(stmt.target)):
        return f"a loop variable on {line}", False
    if isinstance(stmt, (ast.With, ast.AsyncWith)) and any(target is t for item in stmt.items
                                                            for t in ast.walk(item)):
        return f"bound by 'with' on {line}", False
    if inside is not None:
        return f"assigned inside {inside} on {line}", False
    if isinstance(stmt, ast.Assign) and target in stmt.targets or \
            isinstance(stmt, ast.AnnAssign) and stmt.simple and stmt.value is not None:
        return f"assigned on {line}", True
    if isinstance(stmt, ast.AnnAssign):
        return f"annotated on {line}", False
    if isinstance(stmt, ast.Assign) and any(target is t for whole in stmt.targets for t in ast.walk(whole)):
        return f"assigned by unpacking on {line}", False
    return f"assigned by ':=' on {line}", False


def writes(tree: ast.Module) -> dict[str, list[tuple[int, str, bool]]]:
    """Each global name the module's code writes: (line, how, plain top-level assignment; None for a
    definition: def, class or import)."""
    found: dict[str, list[tuple[int, str, bool]]] = {}

    def note(name, line, how, plain: bool | None = False):  # None: a def, class or import
        found.setdefault(name, []).append((line, how, plain))

    def visit(body, inside):
        for stmt in body:
            line = stmt.lineno
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(stmt, ast.ClassDef) else "def"
                note(stmt.name, line, f"defined by '{kind}' on line {line}", None)
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Global):
                        for name in node.names:
                            note(name, node.lineno, f"declared 'global' on line {node.lineno}, so a function "
                                 "may change it")
                for expr in [*stmt.decorator_list, *getattr(stmt, "bases", [])]:
                    for name, _ in _stores(expr):
                        note(name, line, f"assigned by ':=' on line {line}")
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    name = "*" if alias.name == "*" else alias.asname or alias.name.split(".")[0]
                    note(name, line, f"imported on line {line}", None)
                continue
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
                continue  # an annotation alone binds nothing
            kind = _KINDS.get(type(stmt))
            for field, value in ast.iter_fields(stmt):
                if field in ("body", "orelse", "finalbody"):
                    visit(value, inside or kind)
                elif field == "handlers":
                    for handler in value:
                        if handler.name:
                            note(handler.name, handler.lineno, f"bound by 'except' on line {handler.lineno}")
                        visit(handler.body, inside or kind)
                elif field == "cases":
                    for case in value:
                        for name, _ in _stores(case.pattern):
                            note(name, case.pattern.lineno, f"bound by 'case' on line {case.pattern.lineno}")
                        visit(case.body, inside or kind)
                else:
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, ast.AST):
                            for name, target in _stores(item):
                                note(name, line, *_how(stmt, target, inside))

    visit(tree.body, None)
    return found


def uncertain(tree: ast.Module) -> dict[str, str]:
    """Names the module writes whose value is not certain, each with the reason."""
    found = writes(tree)
    calls_globals = any(isinstance(n, ast.Name) and n.id in ("globals", "vars") for n in ast.walk(tree))
    stars = [line for line, _, _ in found.pop("*", [])]
    reasons = {}
    for name, places in found.items():
        if len(places) == 1 and places[0][2] is None:
            continue  # defined once by a def, class or import: not a constant, and certain
        plain = [line for line, _, is_plain in places if is_plain]
        other = [(line, how) for line, how, is_plain in places if is_plain is False]
        if other:
            reasons[name] = f"it is {other[0][1]}"
        elif len(places) > len(plain):
            reasons[name] = f"it is bound more than once (lines {', '.join(str(p[0]) for p in places)})"
        elif len(plain) > 1:
            reasons[name] = f"it is assigned more than once (lines {', '.join(map(str, plain))})"
        elif any(star > plain[0] for star in stars):
            reasons[name] = f"a 'from ... import *' on line {max(stars)} may replace it"
        elif calls_globals:
            reasons[name] = "the module calls globals() or vars(), which may change it"
    return reasons


def literal_container(value) -> bool:
    """True for a tuple, list or dict (keys and items) of numbers and strings, nested or not."""
    if type(value) in (int, float, str, bool):
        return True
    if type(value) in (tuple, list):
        return all(literal_container(v) for v in value)
    if type(value) is dict:
        return all(literal_container(k) and literal_container(v) for k, v in value.items())
    return False


_READING = {"items", "keys", "values", "index", "count", "get", "copy"}


def only_read(tree: ast.AST, name: str) -> bool:
    """True if no code in ``tree`` may change the container ``name`` in place: every use of the name
    reads it whole, indexes it, or calls one of its methods that only read (``items``, ``get``)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)):
            continue
        above = parents.get(id(node))
        if isinstance(above, ast.Attribute) and above.attr not in _READING:
            return False
        if isinstance(above, ast.Subscript) and not isinstance(above.ctx, ast.Load):
            return False
        if isinstance(above, ast.AugAssign):
            return False
    return True


def literal_value(node: ast.expr):
    """The value of a tuple, list or dict literal of numbers and strings, else None."""
    if not isinstance(node, (ast.Tuple, ast.List, ast.Dict)):
        return None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if literal_container(value) else None

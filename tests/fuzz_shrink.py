"""A small test-case shrinker on Python source (used by tests/fuzz.py).

``shrink(source, still_fails)`` returns the smallest program it finds for which
``still_fails(text)`` holds, by greedy one-step edits on the AST, each kept only if
the failure persists: delete a statement, replace a compound statement by its body,
replace an expression by one of its operands or by a constant, drop an element of
a list or tuple, lower an integer constant. It is deterministic: the edits are tried
in a fixed order (statements first, which remove the most).
"""

from __future__ import annotations

import ast
import copy
import time


def _slots(tree):
    """Every (parent, field, index, node) in breadth-first order; index is None for a single child."""
    out = []
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                out += [(parent, field, i, v) for i, v in enumerate(value) if isinstance(v, ast.AST)]
            elif isinstance(value, ast.AST):
                out.append((parent, field, None, value))
    return out


def _loads(node):
    """The operands an expression could be replaced by (never a function being called)."""
    if isinstance(node, ast.Call):
        return [a for a in node.args if not isinstance(a, ast.Starred)] + [k.value for k in node.keywords]
    if isinstance(node, ast.Subscript):
        return [node.value]
    if isinstance(node, ast.Attribute):
        return [node.value] if not isinstance(node.value, ast.Name) or node.value.id not in ("np", "math") else []
    return [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr) and not isinstance(c, ast.Slice)
            and isinstance(getattr(c, "ctx", ast.Load()), ast.Load)]


def _edits(tree, statements: bool):
    """Candidate edits as (slot number, variant) pairs."""
    edits = []
    for k, (parent, field, index, node) in enumerate(_slots(tree)):
        if statements and isinstance(node, ast.stmt) and index is not None:
            if not (isinstance(parent, ast.FunctionDef) and isinstance(node, ast.Return)
                    and index == len(parent.body) - 1):
                edits.append((k, "delete"))
            if isinstance(node, (ast.If, ast.For, ast.While)):
                edits.append((k, "inline"))
                if isinstance(node, ast.If) and node.orelse:
                    edits.append((k, "inline_else"))
        elif not statements and isinstance(node, ast.expr) and isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            if isinstance(parent, ast.Call) and field == "func":
                continue
            if index is not None and isinstance(parent, (ast.List, ast.Tuple)) and len(getattr(parent, field)) > 1:
                edits.append((k, "drop"))
            edits += [(k, ("child", j)) for j in range(len(_loads(node)))]
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value > 1:
                edits += [(k, ("int", 1)), (k, ("int", node.value - 1))]
            elif not isinstance(node, ast.Constant) and not isinstance(node, ast.Name):
                edits.append((k, ("const", 1.0)))
    return edits


def _apply(tree, edit):
    tree = copy.deepcopy(tree)
    k, variant = edit
    parent, field, index, node = _slots(tree)[k]
    seq = getattr(parent, field) if index is not None else None
    if variant == "delete":
        del seq[index]
        if not seq:
            seq.append(ast.Pass())
    elif variant in ("inline", "inline_else"):
        seq[index:index + 1] = node.orelse if variant == "inline_else" else node.body
    elif variant == "drop":
        del seq[index]
    else:
        kind, arg = variant
        new = _loads(node)[arg] if kind == "child" else ast.Constant(arg)
        if index is None:
            setattr(parent, field, new)
        else:
            seq[index] = new
    return ast.fix_missing_locations(tree)


def _size(text: str) -> tuple[int, int]:
    return len(text.splitlines()), len(text)


def shrink(source: str, still_fails, budget: float = 20.0) -> str:
    """The smallest variant of ``source`` found within ``budget`` seconds that still fails."""
    deadline = time.monotonic() + budget
    best = ast.unparse(ast.parse(source))
    if not still_fails(best):  # the unparsed text must fail the same way; else keep the original
        best = source
    for statements in (True, False, True, False):
        progress = True
        while progress and time.monotonic() < deadline:
            progress = False
            tree = ast.parse(best)
            for edit in _edits(tree, statements):
                if time.monotonic() > deadline:
                    break
                try:
                    text = ast.unparse(_apply(tree, edit))
                    ast.parse(text)
                except Exception:  # an edit that makes no valid tree: skip it
                    continue
                if _size(text) < _size(best) and still_fails(text):
                    best, progress = text, True
                    break
    return best

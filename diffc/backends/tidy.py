"""Exact rewrites of generated expressions, so that they read as a person writes them.

``-(a * b)`` becomes ``-a * b`` and ``a + -b`` becomes ``a - b``: negation is exact in floating
point, so the values are bit-identical; ``-(-x)`` becomes ``x``. A boolean array is never negated
(NumPy refuses to).
"""

from __future__ import annotations

import ast


class Tidy(ast.NodeTransformer):
    """Exact rewrites that make expressions read as a person writes them.

    ``-(a * b)`` becomes ``-a * b`` only where ``a`` cannot be a boolean array (NumPy refuses to
    negate one): not a comparison, a logical operation, or a name in ``booleans`` that one made."""

    def __init__(self, booleans=frozenset()):
        self.booleans = booleans

    def _maybe_bool(self, node) -> bool:
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            return True
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, (ast.Not, ast.Invert))
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor))
        if isinstance(node, ast.Name):
            return node.id in self.booleans
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            return name.startswith("logical_") or name in ("isnan", "isfinite")
        return False

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub):
            inner = node.operand
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, (ast.Mult, ast.Div)) and \
                    not self._maybe_bool(inner.left):
                inner.left = self.visit_UnaryOp(ast.UnaryOp(ast.USub(), inner.left))
                return inner
            if isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.USub):
                return inner.operand
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        right = node.right
        if isinstance(node.op, (ast.Add, ast.Sub)) and isinstance(right, ast.UnaryOp) \
                and isinstance(right.op, ast.USub) and not isinstance(right.operand, ast.Constant):
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            node.right = right.operand
        return node

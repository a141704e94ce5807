"""User source text and where it came from, for located errors.

A :class:`Source` maps AST positions back to the user's file: a function
taken from a live module by the decorator is parsed on its own, so its line
numbers are shifted (``line_offset``) and, if it was indented (a method or
a notebook cell's nested block), its columns too (``col_shift``).
"""

from __future__ import annotations

import ast
import textwrap

from ..deep import MAX_DEPTH, deep
from ..errors import DiffcError, SourceSyntaxError, UnsupportedError


class Source:
    def __init__(self, text: str, filename: str = "<source>", *, line_offset: int = 0,
                 file_lines: list[str] | None = None):
        dedented = textwrap.dedent(text)
        self.text = dedented
        self.filename = filename
        self.line_offset = line_offset
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        self.col_shift = len(first) - len(first.lstrip()) if dedented != text else 0
        self._lines = file_lines if file_lines is not None else text.splitlines()
        self._lines_offset = 0 if file_lines is not None else line_offset

    def line(self, lineno: int | None) -> str | None:
        """The user's source line ``lineno`` (1-based, in the file's numbering)."""
        if lineno is None:
            return None
        index = lineno - 1 - self._lines_offset
        return self._lines[index] if 0 <= index < len(self._lines) else None

    def lineno(self, node: ast.AST) -> int | None:
        n = getattr(node, "lineno", None)
        return None if n is None else n + self.line_offset

    def error(self, cls: type[DiffcError], node: ast.AST | None, message: str, hint: str | None = None):
        lineno = self.lineno(node) if node is not None else None
        col = getattr(node, "col_offset", None)
        if col is not None:
            col += self.col_shift
        return cls(message, filename=self.filename, lineno=lineno, col_offset=col,
                   source_line=self.line(lineno), hint=hint)

    @deep
    def parse(self) -> ast.Module:
        """The module's AST; a syntax error, or nesting deeper than diffc's passes allow, is a DiffcError."""
        try:
            tree = ast.parse(self.text, filename=self.filename)
        except RecursionError:  # deeper than even the deep stack parses: far past what Python compiles
            raise self.error(UnsupportedError, None, "the code is nested too deeply to parse",
                             "split the long expression into several assignments") from None
        except ValueError as exc:  # null bytes, on Pythons that do not call it a SyntaxError
            raise SourceSyntaxError(f"invalid source: {exc}", filename=self.filename,
                                    hint="diffc reads Python source text; is this a binary file?") from None
        except SyntaxError as exc:
            lineno = None if exc.lineno is None else exc.lineno + self.line_offset
            col = None if exc.offset is None else max(exc.offset - 1, 0) + self.col_shift
            raise SourceSyntaxError(
                f"invalid syntax: {exc.msg}", filename=self.filename, lineno=lineno,
                col_offset=col, source_line=self.line(lineno),
                hint="diffc reads ordinary Python; fix the syntax error first",
            ) from None
        too_deep = _too_deep(tree)
        if too_deep is not None:
            raise self.error(UnsupportedError, too_deep, f"this expression is nested more than {MAX_DEPTH:,} "
                             "levels deep", "split it into several assignments (Python itself compiles about "
                             "3,000 levels)")
        return tree


def _too_deep(tree: ast.AST) -> ast.AST | None:
    """The statement holding a node nested deeper than MAX_DEPTH, or None (an iterative walk)."""
    stack = [(tree, 0, tree)]
    while stack:
        node, depth, statement = stack.pop()
        if depth > MAX_DEPTH:
            return statement
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, child if isinstance(child, ast.stmt) else statement))
    return None

"""Errors diffc raises about the user's code.

Every error diffc raises about a user's function is a :class:`DiffcError`.
It carries ``filename``, ``lineno`` (1-based), ``col_offset`` (0-based, as in
:mod:`ast`) and the offending ``source_line``, and ``str()`` reads like a
compiler message::

    f.py:12:9: error: cannot differentiate call to 'sorted'
        y = sorted(x)
            ^
    hint: ...

The column printed is 1-based (``col_offset + 1``), as gcc and ruff print it.
"""

from __future__ import annotations

_WIDTH = 160  # longest source line shown whole under a message


class DiffcError(Exception):
    """Base class of every error diffc raises about the user's code."""

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        lineno: int | None = None,
        col_offset: int | None = None,
        source_line: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col_offset = col_offset
        self.source_line = source_line
        self.hint = hint

    @property
    def location(self) -> str:
        parts = [self.filename or "<source>"]
        if self.lineno is not None:
            parts.append(str(self.lineno))
            if self.col_offset is not None:
                parts.append(str(self.col_offset + 1))
        return ":".join(parts)

    def __str__(self) -> str:
        lines = [f"{self.location}: error: {self.message}"]
        if self.source_line is not None:
            text = self.source_line.rstrip("\n")
            col = min(self.col_offset, len(text)) if self.col_offset is not None else None
            if len(text) > _WIDTH:  # a line of a 10,000-term sum: the part around the column
                start = max(0, min((col or 0) - _WIDTH // 4, len(text) - _WIDTH))
                clipped = text[start:start + _WIDTH]
                text = ("..." if start else "") + clipped + ("..." if start + _WIDTH < len(text) else "")
                col = None if col is None else col - start + (3 if start else 0)
            lines.append("    " + text)
            if col is not None:
                lines.append("    " + " " * col + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class SourceSyntaxError(DiffcError):
    """The input is not valid Python."""


class UnsupportedError(DiffcError):
    """A construct diffc cannot differentiate (yet)."""


class UnknownCallError(UnsupportedError):
    """A call to a function that has no derivative rule."""


class ShapesNeededError(UnsupportedError):
    """The gradient can only be written once the parameters' ranks are known."""


class InternalError(DiffcError):
    """diffc produced something wrong (generated code that does not compile): a bug in diffc."""


class NameResolutionError(DiffcError):
    """A name that is not defined where it is used."""


class SelectionError(DiffcError):
    """A function or parameter that was asked for does not exist."""


class GradientCheckError(DiffcError):
    """diffc's gradient disagrees with finite differences (see check_grad)."""

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report

    def __str__(self) -> str:
        return self.message


class UsageError(Exception):
    """Bad command-line usage found after argparse (an option's value): the CLI prints it as argparse
    does and exits 2. Not a :class:`DiffcError`: it is about the command line, not the user's code."""


class ErrorGroup(DiffcError):
    """Several errors found in one pass; ``errors`` lists them in source order."""

    def __init__(self, errors: list[DiffcError]) -> None:
        first = errors[0]
        super().__init__(
            first.message,
            filename=first.filename,
            lineno=first.lineno,
            col_offset=first.col_offset,
            source_line=first.source_line,
            hint=first.hint,
        )
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def flatten(error: DiffcError) -> list[DiffcError]:
    """The individual errors inside ``error`` (itself unless it is a group)."""
    if isinstance(error, ErrorGroup):
        return [e for sub in error.errors for e in flatten(sub)]
    return [error]

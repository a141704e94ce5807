"""What a name in a user's module is bound to (an import, a number, a literal, a function of the
module, anything else): plain records, shared by :mod:`diffc.frontend.scope`, which resolves names,
and the modules that read its answers.
"""

from __future__ import annotations

import ast  # noqa: F401 (annotations of the records)
from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleAlias:
    module: str


@dataclass(frozen=True)
class FromImport:
    module: str
    attr: str


@dataclass(frozen=True)
class GlobalConst:
    value: int | float
    text: str
    live: bool = False  # read from the user's module when the gradient runs (the decorator), not copied


@dataclass(frozen=True)
class GlobalLiteral:
    """A module-level tuple, list or dict of numbers and strings that nothing changes (``SCALES = [1.0,
    2.0]``, ``WEIGHTS = {'a': 1.0}``): the frontend uses its value as if written in the function."""

    value: object
    text: str


@dataclass(frozen=True)
class Snapshot:
    """The value a list or dict of the user's module had when a gradient was compiled from it: the
    gradient is compiled again when the list or dict no longer equals it."""

    value: object

    def still(self, current) -> bool:
        return type(current) is type(self.value) and current == self.value


@dataclass(frozen=True)
class ModuleFunction:
    name: str


@dataclass(frozen=True)
class OtherGlobal:
    what: str
    refusal: str | None = None  # why a use of it in a differentiated function is refused, with a hint
    hint: str | None = None


Binding = ModuleAlias | FromImport | GlobalConst | GlobalLiteral | ModuleFunction | OtherGlobal

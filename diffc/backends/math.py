"""The math backend: functions of numbers (``scalar_exp`` ...) spelled by Python's math module."""

from __future__ import annotations

from .table import Backend, library_spellings

BACKEND = Backend("math", library_spellings("math."), module="math")

"""The NumPy backend: array ops spelled by NumPy (and scipy.special), arrays updated in place.

Its table is read from the records' ``spelling`` (the catalogue names each array op by the NumPy
function the user calls), so a new NumPy function needs no line here. In-place statement ops are
written ``x[i] = v`` and ``np.add.at(x, i, v)`` (diffc/backends/emit.py); the run-time helpers
are NumPy code.
"""

from __future__ import annotations

from .table import Backend, library_spellings

BACKEND = Backend("numpy", library_spellings("numpy.", "scipy.special."), module="numpy")

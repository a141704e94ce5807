"""The JAX backend: array ops spelled by ``jax.numpy`` (and ``jax.scipy.special``).

Selected by ``compile_source(..., backend="jax")``: the user writes NumPy; the generated module
calls ``jnp.exp``, ``jnp.sum`` ... for the forward pass and the gradient alike. JAX arrays are
immutable, so the statement ops that write into an array are refused (``x[i] = v`` in the user's
code, with its line), except the gradient of a subscript, which JAX writes functionally:
``jnp.zeros_like(x).at[index].add(g)``. Of the run-time helpers, those that only call functions
jax.numpy has are written with ``jnp``; a gradient that needs another is refused (give the
parameters' shapes: then most need none). Nothing here imports jax.
"""

from __future__ import annotations

from .table import Backend, library_spellings


def _jax(spelling: str) -> str:
    """NumPy's (scipy.special's) function as JAX spells it: numpy.linalg.inv -> jax.numpy.linalg.inv."""
    return "jax." + spelling


BACKEND = Backend("jax", library_spellings("numpy.", "scipy.special.", rename=_jax), module="jax.numpy",
                  in_place=False, functional_scatter=True, helpers=frozenset({"_unbroadcast", "_matmul_grad"}),
                  how="JAX arrays cannot be changed in place: build the array without item assignment "
                      "(np.where, np.concatenate), or compile with backend='numpy'",
                  helpers_how="give the parameters' shapes (shapes=...), or compile with backend='numpy'")

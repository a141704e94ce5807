"""What a backend is: the table the emitter reads to write an op of the library-neutral IR.

The IR names ops by meaning ("exp", "sum", "scatter_add"); a backend says how one library writes
them: a function spelling (``module.attr``) per op, the module its array functions come from, and
whether it can write the statement ops that update an array in place (``x[i] = v``,
``np.add.at``) and the run-time helpers (NumPy code). The emitter asks a program's backends in
order (:func:`spelling`); an op no backend spells is written as a Python operator, a builtin or
a run-time helper. :func:`refusal` says what a backend cannot write, for a located error.
Adding a backend is one module that builds a :class:`Backend` (see numpy.py, math.py, jax.py)
and a name in ``diffc.backends.emit.BACKENDS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Statement ops that write into an array: the backend must be able to mutate its arrays.
IN_PLACE_OPS = ("setitem", "zero_at")


@dataclass(frozen=True)
class Backend:
    """How one library writes the IR's ops."""

    name: str
    spellings: dict = field(default_factory=dict)  # op -> "module.attr" the generated code calls
    module: str = "numpy"  # where its array functions come from (zeros_like, ndim, shape)
    in_place: bool = True  # writes IN_PLACE_OPS (x[i] = v); False: they are refused
    functional_scatter: bool = False  # scatter_add as zeros_like(x).at[i].add(g), not np.add.at
    helpers: frozenset | None = None  # the run-time helpers it may call (runtime*.py, written with its
    # module for np): None, every one; a helper that writes into an array is left out where in_place is False
    how: str = ""  # for a refusal: how to write the code instead
    helpers_how: str = ""  # for a refusal of a helper

    def spelling(self, op: str) -> str | None:
        return self.spellings.get(op)


def library_spellings(*prefixes: str, rename=None) -> dict:
    """op -> spelling for every record spelled by a function of one of ``prefixes`` (its library),
    ``rename(spelling)`` mapping it to another library's name for the same function."""
    from ..ops.catalogue import OPS

    return {op.name: (rename(op.spelling) if rename else op.spelling) for op in OPS.values()
            if op.spelling and op.spelling.startswith(prefixes)}


def spelling(backends, op: str) -> str | None:
    """The function (``module.attr``) the first of ``backends`` that spells ``op`` calls, or None."""
    for backend in backends:
        text = backend.spelling(op)
        if text is not None:
            return text
    return None


def refusal(backends, op: str) -> str | None:
    """Why the array backend (the last of ``backends``) cannot write ``op``, or None if it can."""
    array = backends[-1]
    if op in IN_PLACE_OPS and not array.in_place:
        return f"the {array.name} backend cannot write into an array in place (x[i] = v)"
    if op.startswith("_") and array.helpers is not None and op not in array.helpers:
        return f"this gradient needs the run-time helper {op}, which the {array.name} backend does not have"
    return None

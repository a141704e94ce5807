"""Scatters whose index selects no element twice are written as an indexed assignment.

The gradient of ``x[index]`` is zero except at ``index``, where the upstream gradient adds up: with
an integer-array ("fancy") index that may repeat an element, the emitter writes it
``t = np.zeros_like(x); np.add.at(t, index, g)``, which is exact for repeats and slow. When the index
provably selects each element at most once, ``t[index] = g`` into the fresh zeros is the same array,
many times faster. This pass marks those scatters (``unique=True``); the emitter reads the mark.

The proof: one component of the (tuple) index is ``np.arange(n)`` (one argument: the values
0..n-1, distinct and non-negative), and every other component is a slice, ``None``, an integer
(a literal, or a variable of shape ``()`` that is not a boolean), or an array of shape ``(n,)``
(proven by shape inference; another ``np.arange`` included). The index arrays then broadcast to
``(n,)`` without repeating the ``np.arange``, so two selected elements differ in that coordinate.
Anything else (an ellipsis, an array of another shape, no shapes at all) keeps ``np.add.at``.
"""

from __future__ import annotations

from ..ir import Const, Var, walk

SCATTERS = ("scatter_add", "index_add")  # into fresh zeros, and into a running sum in place
ARANGE = "arange"


def mark_unique_scatters(forward: list, backward: list, shapes) -> None:
    """Set ``unique=True`` on each fancy-indexed scatter of ``backward`` whose index is proven unique."""
    if shapes is None:
        return
    made = {id(e.out): e for e in walk(forward + backward)}
    for eqn in walk(backward):
        if eqn.op in SCATTERS and not eqn.params.get("basic") and _unique(eqn, made, shapes):
            eqn.params["unique"] = True


def _arange_length(atom, made):
    """``n`` if ``atom`` is ``np.arange(n)`` (one argument), else None."""
    eqn = made.get(id(atom)) if isinstance(atom, Var) else None
    if eqn is None or eqn.op != ARANGE or len(eqn.ins) != 1 or any(not k.startswith("_") for k in eqn.params):
        return None
    return eqn


def _unique(eqn, made, S) -> bool:
    index = eqn.params["index"]
    items = index[1] if index[0] == "tuple" else [index]
    if any(item[0] not in ("atom", "slice", "none") for item in items):
        return False
    atoms = [eqn.ins[item[1]] for item in items if item[0] == "atom"]
    for anchor in atoms:
        if _arange_length(anchor, made) is None:
            continue
        shape = S.get(anchor)
        if not (isinstance(shape, tuple) and len(shape) == 1 and shape[0] is not None):
            continue
        if all(a is anchor or _scalar(a, S) or _same_length(S.get(a), shape[0], S) for a in atoms):
            return True
    return False


def _scalar(atom, S) -> bool:
    if isinstance(atom, Const):
        return type(atom.value) is int
    return S.get(atom) == () and S.kind(atom) != "b"


def _same_length(shape, n, S) -> bool:
    return isinstance(shape, tuple) and len(shape) == 1 and (shape[0] == n == 1 or S.same(shape[0], n))

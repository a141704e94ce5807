"""The output cotangents of a vector-Jacobian product (``diffc.vjp``, ``diffc f.py --vjp``).

A gradient's backward pass starts from ``grad_out = 1.0``; a VJP's starts from a parameter of the
generated function instead, one per returned value: ``grad_<name>`` after the returned variable
(``grad_out`` for an expression with no name; ``grad_out0``, ``grad_out1``, ... for the unnamed
items of a returned tuple). What a VJP cannot seed is refused at the return, with a located error:
a tuple whose items are themselves lists or tuples, a dict, a tuple made differently on
different paths (in the branches of an if, in a loop), or the tuple a call returns whole
(``return np.linalg.eigh(A)``: unpacked, its items are fine).
"""

from __future__ import annotations

from ..ir import Eqn, Var
from ..ops.catalogue import parts as call_parts
from ..ops.front import sequence_vars


def _defining(fn, var):
    """The top-level equation that defines ``var`` (None for a parameter or a value a block made)."""
    return next((e for e in fn.eqns if isinstance(e, Eqn) and e.out is var), None)


def output_parts(fn, refuse) -> tuple[list, bool]:
    """The returned values a cotangent is seeded on, and True if the function returns a tuple (or
    list) of them. ``refuse(message, hint)`` raises the located error for an output a VJP cannot seed."""
    out, seqs = fn.out, sequence_vars(fn.eqns)
    eqn = _defining(fn, out) if isinstance(out, Var) else None
    while eqn is not None and eqn.op == "copy" and isinstance(eqn.ins[0], Var) and id(eqn.ins[0]) in seqs:
        eqn = _defining(fn, eqn.ins[0])  # t = (a, b); u = t; return u
    if eqn is not None and call_parts(eqn.op, eqn.params):  # np.linalg.eigh(A): a tuple no equation makes item by item
        refuse(f"'{fn.name}' returns the tuple a call returns; a vector-Jacobian product takes one cotangent "
               "per item, so it needs to see the items", "unpack the call and return its items, as in "
               "'w, v = np.linalg.eigh(A)' then 'return w, v'")
    if eqn is not None and eqn.op == "make_struct":
        refuse(f"'{fn.name}' returns a dict; a vector-Jacobian product takes an array, a number or a tuple "
               "of them as the output", "return a tuple of the values instead")
    if eqn is not None and eqn.op in ("tuple", "list"):
        parts = list(eqn.ins)
        if any(isinstance(a, Var) and id(a) in seqs for a in parts):
            refuse(f"'{fn.name}' returns a tuple holding a list or tuple; a vector-Jacobian product takes a "
                   "flat tuple of arrays or numbers", "return the inner values as items of one flat tuple")
        return parts, True
    if isinstance(out, Var) and id(out) in seqs:
        refuse(f"'{fn.name}' returns a list or tuple made in a branch or a loop; a vector-Jacobian product "
               "needs to see the tuple the function returns", "build the returned tuple in the return "
               "statement, from values computed before it (return h, c)")
    return [out], False


def cotangent_vars(fn, parts: list, is_tuple: bool, reserved) -> list[Var]:
    """One parameter per returned value, named ``grad_<name>`` and clear of every other name of the
    module, of the function's parameters and of each other."""
    taken = set(reserved) | {p.hint for p in fn.params}
    names = []
    for k, part in enumerate(parts):
        hint = part.hint if isinstance(part, Var) and part.hint is not None and part.primal is None else None
        base = f"grad_{hint}" if hint else f"grad_out{k}" if is_tuple else "grad_out"
        name, n = base, 0
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(Var(name, is_param=True))
    return names

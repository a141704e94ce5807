"""Rules for the ops the frontend makes itself: sequences, casts, fills, opaque calls.

A list or tuple literal (``[a, b]``) that reaches NumPy is a stack of its
items, so its gradient is an array and each item gets its slice back
(unstack); ``np.array([...])`` is the same. Casts to a float type are the
identity for the gradient; casts to an integer or bool type cut it (zero
derivative almost everywhere), and a cast whose target type is not known is
refused if a gradient must cross it.

:func:`cuts` says which equations have a zero derivative, which is what the
activity analysis (:func:`diffc.reverse.active_vars`) uses: everything else
that reads an active value either has a rule or is refused (:class:`NoRule`,
or an op missing from the table). An ``opaque`` equation is a call diffc
has no rule for, kept as plain forward code: fine while none of its inputs
is active.
"""

from __future__ import annotations

from ..ir import Const, Eqn, If, Loop, Var
from .rules import NONDIFF, VJPS, defvjp, defvjp_full
from .rules_numpy import unbroadcast


class NoRule(Exception):
    """A gradient would have to cross an operation diffc cannot differentiate."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


def cuts(eqn: Eqn) -> bool:
    """True if ``eqn``'s output has a zero derivative almost everywhere (its output is never active)."""
    return eqn.op in NONDIFF or (eqn.op == "astype" and eqn.params.get("_cast") in ("i", "b"))


def _unstack(b, g, ans, ins, i, params):
    return b.emit("getitem", g, Const(i), index=("atom", 1))


def _differ(a: tuple, b: tuple) -> bool:
    """True if two shapes provably differ: other ranks, or a dim that is 1 against one that is not
    (a symbol is a size known not to be 1; two symbols may still be equal)."""
    return len(a) != len(b) or any(x is not None and y is not None and (x == 1) != (y == 1) for x, y in zip(a, b))


def _array(b, g, ans, ins, i, params):
    if "_seq" in params:  # np.array([a, b]): a stack
        shapes = [b.shape(a) for a in ins]
        if all(isinstance(s, tuple) for s in shapes) and any(_differ(shapes[0], s) for s in shapes[1:]):
            raise NoRule("the items of this list have different shapes, so they do not stack into one array",
                         "give every item the same shape, or use np.concatenate")
        return _unstack(b, g, ans, ins, i, params)
    return g  # np.array(x), np.asarray(x): x's values


defvjp_full("list", _unstack)
defvjp_full("tuple", _unstack)
defvjp_full("numpy.array", _array)
VJPS["numpy.asarray"] = VJPS["numpy.array"]
FLOAT_TYPES = ("float64", "float32", "float16", "double", "single", "half", "longdouble", "float_")
INT_TYPES = ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "intp", "int_", "bool_")
for _name in FLOAT_TYPES:
    defvjp(f"numpy.{_name}", lambda b, g, ans, x: g)


def _astype(b, g, ans, ins, i, params):
    if params.get("_cast") == "f":
        return g
    raise NoRule("cannot tell which type this cast converts to, so its gradient is unknown",
                 "write the type out: .astype(float) keeps the gradient, .astype(int) cuts it")


def _fill(position):
    """np.full(shape, v), np.full_like(x, v): only the fill value ``v`` has a gradient."""

    def rule(b, g, ans, ins, i, params):
        return unbroadcast(b, g, ins[i], b.shape(ans)) if i == position else None

    return rule


def _arange(b, g, ans, ins, i, params):
    if len(ins) > 1 and i != 1:
        raise NoRule("np.arange's values depend on its start and step: diffc has no rule for that",
                     "compute start + step * np.arange(n) instead")
    return None


def _no_boolean_operands(b, g, ans, ins, i, params):
    raise NoRule("'and' and 'or' return one of their operands: diffc does not differentiate that",
                 "use a conditional expression (a if c else b), or np.where")


defvjp_full("astype", _astype)
defvjp_full("numpy.full", _fill(1))
defvjp_full("numpy.full_like", _fill(1))
defvjp_full("numpy.arange", _arange)
defvjp_full("and", _no_boolean_operands)
defvjp_full("or", _no_boolean_operands)

# Which inputs may take a list or tuple of active values (its gradient is a stacked array).
_TAKES_SEQUENCES = {"list": None, "tuple": None, "numpy.array": None, "numpy.asarray": None, "copy": None,
                    "getitem": "index"}


def accepts_sequence(eqn: Eqn, i: int) -> bool:
    """True if input ``i`` of ``eqn`` may be a list or tuple of active values."""
    if eqn.op not in _TAKES_SEQUENCES:
        return False
    return _TAKES_SEQUENCES[eqn.op] is None or i > 0  # a list used as an index is not differentiated


def sequence_vars(items) -> set[int]:
    """Ids of the variables that may hold a Python list or tuple (made by a literal, passed on by
    copies, branches and loops)."""
    seqs: set[int] = set()

    def block(items):
        for item in items:
            if isinstance(item, Eqn):
                if item.op in ("list", "tuple") or item.op == "copy" and _in(item.ins[0], seqs):
                    seqs.add(id(item.out))
            elif isinstance(item, If):
                block(item.then)
                block(item.orelse)
                seqs.update(id(p.out) for p in item.phis if _in(p.then, seqs) or _in(p.orelse, seqs))
            elif isinstance(item, Loop):
                while True:
                    before = len(seqs)
                    for c in item.carried:
                        if _in(c.init, seqs) or _in(c.end, seqs):
                            seqs.update((id(c.start), id(c.final)))
                    block(item.cond)
                    block(item.body)
                    if len(seqs) == before:
                        break

    block(items)
    return seqs


def _in(atom, ids) -> bool:
    return isinstance(atom, Var) and id(atom) in ids

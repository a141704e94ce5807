"""Gate fusion: recognise composite gates whose local gradient is simpler as a whole.

The lecture's sigmoid gate: ``c / (c + exp(-x))`` with ``c == 1``, whose
intermediate values the user did not name, becomes one ``sigmoid`` equation.
Its local gradient is ``(1 - s) * s``, so the backward line reads
``grad_s3 = grad_L * (1 - L) * L`` instead of three lines through the exp
chain. The forward line is written exactly as the user wrote it.
"""

from __future__ import annotations

from ..ir import Eqn, Function, Var, is_number, item_reads

EXPS = ("scalar_exp", "exp")


def _uses(fn: Function) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in [*(a for item in fn.eqns for a in item_reads(item)), fn.out]:
        if isinstance(a, Var):
            counts[id(a)] = counts.get(id(a), 0) + 1
    return counts


def fuse_sigmoids(fn: Function) -> Function:
    """Fuse sigmoids in every block (nested blocks included)."""
    uses = _uses(fn)
    _fuse_block(fn.eqns, uses)
    return fn


def _fuse_block(items: list, uses: dict) -> None:
    defs = {id(e.out): e for e in items if isinstance(e, Eqn)}
    for item in items:
        for block in item.blocks():
            _fuse_block(block, uses)

    def temp_def(atom, op_ok):
        """The equation defining ``atom`` if it is an unnamed, single-use temporary made by an allowed op."""
        if not isinstance(atom, Var) or atom.hint is not None or uses.get(id(atom)) != 1:
            return None
        eqn = defs.get(id(atom))
        return eqn if eqn is not None and op_ok(eqn.op) else None

    removed: set[int] = set()
    for eqn in items:
        if not isinstance(eqn, Eqn) or eqn.op != "div" or not is_number(eqn.ins[0], 1):
            continue
        add = temp_def(eqn.ins[1], lambda op: op == "add")
        if add is None:
            continue
        position = 0 if is_number(add.ins[0], 1) else 1 if is_number(add.ins[1], 1) else None
        if position is None:
            continue
        exp = temp_def(add.ins[1 - position], lambda op: op in EXPS)
        neg = exp and temp_def(exp.ins[0], lambda op: op == "neg")
        if not neg:
            continue
        removed.update({id(add), id(exp), id(neg)})
        eqn.params = {"_form": (eqn.ins[0], add.ins[position], position, exp.op)}
        eqn.op, eqn.ins = "sigmoid", (neg.ins[0],)
    if removed:
        items[:] = [e for e in items if id(e) not in removed]


def sigmoid_expression(eqn: Eqn, x, atom, function):
    """The user's spelling of a fused sigmoid, as an AST: ``c / (c + exp(-x))`` (``function(op)``:
    the function the backend calls for ``op``)."""
    import ast

    numerator, one, position, exp_op = eqn.params["_form"]
    exp = ast.Call(function(exp_op), [ast.UnaryOp(ast.USub(), x)], [])
    parts = [atom(one), exp] if position == 0 else [exp, atom(one)]
    return ast.BinOp(atom(numerator), ast.Div(), ast.BinOp(parts[0], ast.Add(), parts[1]))

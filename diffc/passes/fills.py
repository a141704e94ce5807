"""Constant gradients stay numbers: ``np.full_like(t, c) * 2 * W`` becomes ``c * 2 * W``.

The gradient of a full reduction (``np.sum(t)``, ``np.mean(t)``) is one number spread over ``t``'s
shape: the rules write ``np.full_like(t, c)``. A person keeps the number and lets it meet the array
it multiplies (``dW = X.T @ dh + 2 * reg * W``), which saves building and reading a whole array of
one value. This pass, run on the backward items after the reverse pass, does the same.

A *fill* is a value known to be ``broadcast_to(c, L)``: ``c`` a number (shape ``()``) or a float
array that broadcasts into ``L`` without growing it (the gradient of ``np.sum(e, axis=1,
keepdims=True)``, of shape ``(N, 1)`` against ``e``'s ``(N, C)``), ``L`` the shape of the array it
was made like. Over the backward block (and, separately, each nested block):

- ``np.full_like(x, c)`` with such a ``c`` and no forced dtype is a fill of ``x``'s shape;
- a copy of a fill, its negation, and ``+ - * /`` of fills of the same shape and numbers are fills
  whose number is the same operation on the numbers (the equation now computes a number; the array,
  if anything still reads it, is built right after it as ``np.full_like(x, number)``);
- ``+ - * /`` of a fill and an array of exactly the shape ``L`` (proven by shape inference) reads the
  number instead: broadcasting the number against that array gives the same values and the same
  shape ``L``, so the result is unchanged (its dtype too: the other operand is a float array or of
  unknown kind, and the numbers are float gradients, never integer literals).

Anything else (a returned gradient, an index, a matmul operand, a reduction, a use in another
block) still reads the array, which is built exactly as before, so a returned gradient keeps its
parameter's shape. Arrays nothing reads any more are dropped by the cleanup's dead-code pass.
"""

from __future__ import annotations

import copy

from ..ir import Const, Eqn, Var

FULL_LIKE = "full_like"
ARITH = ("add", "sub", "mul", "div")
_NOT_FLOAT = ("b", "i", "u")


def keep_scalar_fills(backward: list, shapes) -> None:
    """Rewrite ``backward`` in place (see the module docstring); nothing happens without shapes."""
    if shapes is None:
        return
    from .shapes import infer_block

    S = copy.deepcopy(shapes)
    try:
        infer_block(S, backward)
    except Exception:  # a shape rule that cannot read a backward op: keep the arrays
        return
    _block(backward, S)


def _same_shape(S, a, b) -> bool:
    """True if shapes ``a`` and ``b`` are provably equal (not merely broadcastable)."""
    if a is None or b is None:
        return False
    if not isinstance(a, tuple) or not isinstance(b, tuple):
        return a == b  # two unknown parameter shapes: equal only to themselves
    return len(a) == len(b) and all(x == 1 and y == 1 or S.same(x, y) for x, y in zip(a, b))


def _is_number(S, atom, floats=False) -> bool:
    """A number (shape ``()``); with ``floats``, not an integer literal or value (a fill's own number,
    which must keep the result a float array)."""
    if isinstance(atom, Const):
        return not isinstance(atom.value, bool) and (isinstance(atom.value, float) or not floats)
    return S.get(atom) == () and not (floats and S.kind(atom) in _NOT_FLOAT)


def _fits(S, value, shape) -> bool:
    """True if ``value`` is a float array that broadcasts into ``shape`` (a tuple) without growing it:
    each of its dims is 1 or provably the dim of ``shape`` it meets (``np.sum(e, axis=1, keepdims=True)``'s
    gradient against ``e``)."""
    own = S.get(value)
    if not isinstance(value, Var) or not isinstance(own, tuple) or not isinstance(shape, tuple) or \
            len(own) > len(shape) or S.kind(value) in _NOT_FLOAT:
        return False
    return all(d == 1 or S.same(d, e) for d, e in zip(own, shape[len(shape) - len(own):]))


def _numbers(ins: tuple, fills: dict) -> tuple:
    """``ins`` with each fill replaced by its number."""
    return tuple(fills[id(a)][0] if isinstance(a, Var) and id(a) in fills else a for a in ins)


def _block(items: list, S) -> None:
    fills: dict[int, tuple] = {}  # id(var) -> (its number, the array it is like, that array's shape)
    made: dict[int, Eqn] = {}  # id(var) -> the equation of this block that made it
    before_flow: set[int] = set()  # the variables this block made before its latest if or loop
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if not isinstance(item, Eqn):
            for block in item.blocks():
                _block(block, S)
            before_flow.update(made)
            continue
        eqn = item
        made[id(eqn.out)] = eqn
        if eqn.op == FULL_LIKE and "dtype" not in eqn.params and len(eqn.ins) == 2:
            like, value = eqn.ins
            shape = S.get(like)
            if shape not in (None, ()) and S.kind(like) not in _NOT_FLOAT and (
                    _is_number(S, value, floats=True) or _fits(S, value, shape)):
                fills[id(eqn.out)] = (value, like, shape)
            continue
        mine = [fills[id(a)] for a in eqn.ins if isinstance(a, Var) and id(a) in fills]
        if not mine:
            continue
        if eqn.op == "copy":
            fills[id(eqn.out)] = mine[0]
            continue
        if eqn.op not in ("neg", *ARITH):
            continue
        _, like, shape = mine[0]
        others = [a for a in eqn.ins if not (isinstance(a, Var) and id(a) in fills)]
        numbers = _numbers(eqn.ins, fills)
        if all(_same_shape(S, f[2], shape) for f in mine) and all(_is_number(S, a) for a in others):
            # A fill from fills and numbers: compute the number, build the array after it if read.
            number = Var()
            items[index - 1] = made[id(number)] = Eqn(eqn.op, numbers, number, dict(eqn.params), eqn.lineno,
                                                      eqn.col, eqn.origin)
            items.insert(index, Eqn(FULL_LIKE, (like, number), eqn.out, {}, eqn.lineno, eqn.col, eqn.origin))
            index += 1
            fills[id(eqn.out)] = (number, like, shape)
        elif eqn.op in ARITH and len(mine) == 1 and len(others) == 1 and isinstance(others[0], Var) and \
                _same_shape(S, S.get(others[0]), shape) and S.kind(others[0]) not in _NOT_FLOAT:
            eqn.ins = numbers  # the number meets an array of the fill's own shape
        else:
            continue
        for a in numbers:  # a number made before a loop keeps its line there, not recomputed after it
            if isinstance(a, Var) and id(a) in before_flow:
                made[id(a)].params["_keep"] = True

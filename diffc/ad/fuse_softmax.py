"""The softmax family as fused gates, and the max shift that gets no gradient.

Recognised in the user's own code, after shape inference (so that scalars are known):

- softmax: ``exp(z) / sum(exp(z), axis=k, keepdims=True)`` (or a sum over everything), the exp
  named or not, written once or twice; its gradient is ``p * (g - sum(g p, k))``;
- log-softmax: ``log(p)`` of such a p (``g - p sum(g, k)``), ``log(p[idx])`` (the gradient
  scattered to idx, then the same; where idx picks one element per row, such as
  ``p[np.arange(N), y]``, the textbook ``probs - onehot``), and ``z - log(sum(exp(z), k, keepdims))``;
- log-sum-exp: ``log(sum(exp(z), ...))``, gradient ``g * exp(z) / sum``;
- the max shift ``z = s - m``, m a scalar or ``max(s, axis=k, keepdims=True)``: softmax(s - m) =
  softmax(s), so where every use of z that carries a gradient is one of the gates above along an
  axis m is constant on (or the cross-entropy: ``log(sum(exp(z))) - z[j]`` on numbers, or
  ``log(sum(exp(z), axis=1)) - z[np.arange(N), y]`` row by row, through ``+``, ``-`` and negation
  only), the gradients z receives sum to zero along m's axes and m's is
  exactly zero: the shift passes the gradient to s and none to m. A log-sum-exp alone is not shift
  invariant (lse(s - m) = lse(s) - m), so there m keeps its gradient.

Soundness: a gate is made only when its intermediate values have no other use that carries a
gradient (else the chain stays, differentiated as it is); axis and keepdims are literal and agree.
A gate keeps the user's last operation, which the emitter writes as it was (see
:func:`diffc.ops.special.gate_original`): the forward pass computes exactly what the user wrote.
"""

from __future__ import annotations

from ..ir import Const, Eqn, Function, Var, each_in_block, each_item, walk
from ..ops.catalogue import cuts
from ..ops.shapes import Sym, known
from ..ops.special import GATE_OPS

EXP, LOG, SUM = "exp", "log", "sum"
EXTREMES = ("array_max", "amax", "array_min", "amin")
ARANGE = "arange"
# Gates whose gradient sums to zero along their axis (all of it for axis None).
ZERO_SUM = ("softmax_gate", "log_softmax_gate", "picked_log_softmax_gate", "log_softmax_sub_gate")


class _Graph:
    """Definitions, and for each value the items that read it in a way that carries a gradient (a
    gate carries one to its first input only, a shift gate to s only)."""

    builtin_range = False

    def __init__(self, fn: Function):
        self.defs: dict[int, tuple] = {}  # id(var) -> (eqn, id(block))
        self.carrying: dict[int, list] = {}
        edges: dict[int, list] = {}  # id(var) -> (reader, input) pairs
        for item, block in each_in_block(fn.eqns):
            if isinstance(item, Eqn):
                self.defs[id(item.out)] = (item, id(block))
                if not cuts(item):
                    for a in (item.ins[:1] if item.op in GATE_OPS else item.ins):
                        if isinstance(a, Var):
                            edges.setdefault(id(item.out), []).append((item, a))
            else:  # an if or a loop: what it reads itself carries (conservatively)
                for a in item.reads():
                    if isinstance(a, Var):
                        self.carrying.setdefault(id(a), []).append(item)
                for group in item.merged():
                    for out in group:
                        for a in group:
                            if isinstance(a, Var) and isinstance(out, Var) and a is not out:
                                edges.setdefault(id(out), []).append((item, a))
        reached, todo = set(), [fn.out]
        while todo:
            v = todo.pop()
            if isinstance(v, Var) and id(v) not in reached:
                reached.add(id(v))
                for reader, a in edges.get(id(v), ()):
                    if isinstance(reader, Eqn):
                        self.carrying.setdefault(id(a), []).append(reader)
                    todo.append(a)
        if isinstance(fn.out, Var):
            self.carrying.setdefault(id(fn.out), []).append(None)  # the output itself

    def eqn(self, atom, op, block=None):
        """The equation defining ``atom`` if its op is ``op`` (one of, for a tuple) in ``block``."""
        if not isinstance(atom, Var) or id(atom) not in self.defs:
            return None
        eqn, where = self.defs[id(atom)]
        ok = eqn.op in op if isinstance(op, tuple) else eqn.op == op
        return eqn if ok and (block is None or where == block) else None

    def only(self, atom, *readers) -> bool:
        """True if every use of ``atom`` that carries a gradient is one of ``readers``."""
        return all(any(r is x for x in readers) for r in self.carrying.get(id(atom), ()))

    def block(self, eqn):
        return self.defs[id(eqn.out)][1]


def _public(eqn) -> bool:
    """True if the call passes a keyword (out=, where=, dtype= ...)."""
    return any(not k.startswith("_") for k in eqn.params)


def _plain(eqn) -> bool:
    """One argument, no keyword."""
    return len(eqn.ins) == 1 and not _public(eqn)


def _reduction(eqn):
    """(axis, keepdims) of a reduction whose arguments are literal (an int axis or None), or None."""
    params = {k: v for k, v in eqn.params.items() if not k.startswith("_")}
    if set(params) - {"axis", "keepdims"} or len(eqn.ins) > 2:
        return None
    axis = params.get("axis")
    if len(eqn.ins) == 2:
        atom = eqn.ins[1]
        if "axis" in params or not isinstance(atom, Const):
            return None
        axis = atom.value
    keepdims = params.get("keepdims", False)
    if (axis is not None and type(axis) is not int) or type(keepdims) is not bool:
        return None
    return axis, keepdims


def _set_orig(eqn, op, ins, lo, **params):
    """Make ``eqn`` the gate ``op`` over ``ins``; the user's op reads ``ins[lo:lo + len(its ins)]``."""
    params["_orig"] = (eqn.op, eqn.params, lo, lo + len(eqn.ins))
    eqn.op, eqn.params, eqn.ins = op, params, tuple(ins)


def fuse_softmax(fn: Function, shapes, builtin_range: bool = False) -> Function:
    """Fuse the softmax family in every block (see the module docstring). ``builtin_range``: the name
    ``range`` is the builtin in the user's module."""
    builtin_range = builtin_range and not any(v.hint == "range" for item in each_item(fn.eqns)
                                              for v in item.defs()) and all(p.hint != "range" for p in fn.params)
    for phase in (_softmax, _logs, _log_softmax_sub, _shifts):
        graph = _Graph(fn)
        graph.builtin_range = builtin_range
        for eqn in list(walk(fn.eqns)):
            if eqn.op not in GATE_OPS:
                phase(graph, eqn, shapes)
    return fn


def _made(graph, eqn, op, ins, lo, **params):
    _set_orig(eqn, op, ins, lo, **params)
    graph.carrying.setdefault(id(ins[0]), []).append(eqn)


def _softmax(graph, eqn, shapes):
    """p = e1 / S, S = sum(e2, k, keepdims), e1 and e2 exp(z)."""
    if eqn.op != "div" or not all(isinstance(a, Var) for a in eqn.ins):
        return
    block = graph.block(eqn)
    e1, total = eqn.ins
    s_eqn = graph.eqn(total, SUM, block)
    reduced = s_eqn and _reduction(s_eqn)
    if not reduced or (reduced[0] is not None and not reduced[1]):
        return
    exp1, exp2 = graph.eqn(e1, EXP, block), graph.eqn(s_eqn.ins[0], EXP, block)
    if not (exp1 and exp2 and _plain(exp1) and _plain(exp2) and exp1.ins[0] is exp2.ins[0]):
        return
    if graph.only(total, eqn) and graph.only(e1, eqn, s_eqn) and graph.only(exp2.out, eqn, s_eqn):
        _made(graph, eqn, "softmax_gate", (exp1.ins[0], e1, total), 1, axis=reduced[0])


def _logs(graph, eqn, shapes):
    """log(p), log(p[idx]) of a softmax gate p; log(sum(exp(z))) (log-sum-exp)."""
    if eqn.op != LOG or not _plain(eqn) or not isinstance(eqn.ins[0], Var):
        return
    block, x = graph.block(eqn), eqn.ins[0]
    p_eqn = graph.eqn(x, "softmax_gate", block)
    if p_eqn is not None:
        if graph.only(x, eqn):
            _made(graph, eqn, "log_softmax_gate", (p_eqn.ins[0], x), 1, axis=p_eqn.params["axis"])
        return
    q_eqn = graph.eqn(x, "getitem", block)
    if q_eqn is not None:
        p = q_eqn.ins[0]
        p_eqn = graph.eqn(p, "softmax_gate", block)
        if p_eqn is None or not (graph.only(x, eqn) and graph.only(p, q_eqn)):
            return
        index = q_eqn.params["index"]
        rows = len(q_eqn.ins) > 1 and _every_row(graph, q_eqn.ins[1], p, shapes)
        _made(graph, eqn, "picked_log_softmax_gate", (p_eqn.ins[0], x, *q_eqn.ins), 1,
              axis=p_eqn.params["axis"], _index=index, _rows=rows)
        return
    s_eqn = graph.eqn(x, SUM, block)
    reduced = s_eqn and _reduction(s_eqn)
    exp = reduced and graph.eqn(s_eqn.ins[0], EXP, block)
    if exp and _plain(exp) and graph.only(x, eqn) and graph.only(exp.out, s_eqn):
        _made(graph, eqn, "logsumexp_gate", (exp.ins[0], x, exp.out), 1, axis=reduced[0], keepdims=reduced[1])


def _every_row(graph, rows, p, shapes) -> bool:
    """True if ``rows`` is ``np.arange(n)`` or the builtin ``range(n)``, n provably p's first dim:
    every row of p, each once."""
    dims = known(shapes.get(p)) if shapes is not None else None
    n = dims[0] if dims else None
    if not isinstance(n, (Sym, int)) or n == 1:
        return False
    arange = graph.eqn(rows, ARANGE)
    if arange is not None:
        return len(arange.ins) == 1 and not _public(arange) and known(shapes.get(rows)) == (n,)
    call = graph.eqn(rows, "opaque")
    if call is None or not graph.builtin_range or call.params.get("_callee") != "range" or \
            call.params.get("_method") is not None or call.params.get("_args") != ((None, ("in", 0)),):
        return False
    return len(call.ins) == 1 and shapes.dim_values.get(id(call.ins[0])) == n


def _log_softmax_sub(graph, eqn, shapes):
    """z - L with L = log(sum(exp(z), k, keepdims=True)) (or over everything): log-softmax."""
    if eqn.op != "sub" or not isinstance(eqn.ins[1], Var):
        return
    z, lse = eqn.ins
    l_eqn = graph.eqn(lse, "logsumexp_gate", graph.block(eqn))
    if l_eqn is None or l_eqn.ins[0] is not z or not graph.only(lse, eqn):
        return
    if l_eqn.params["axis"] is not None and not l_eqn.params["keepdims"]:
        return
    _made(graph, eqn, "log_softmax_sub_gate", (z, z, lse, l_eqn.ins[2], l_eqn.ins[1]), 1,
          axis=l_eqn.params["axis"])


def _constant_along(graph, s, m, shapes):
    """'all' if m is a number, k if it is ``max(s, axis=k, keepdims=True)``, else None."""
    m_eqn = graph.eqn(m, EXTREMES)
    reduced = m_eqn and _reduction(m_eqn)
    if reduced and reduced[0] is not None and reduced[1] and m_eqn.ins[0] is s:
        return reduced[0]
    if (reduced and reduced == (None, False)) or (shapes is not None and shapes.get(m) == ()):
        return "all"
    return None


def _same_axis(a, b, rank) -> bool:
    if a == b:
        return True
    return rank is not None and isinstance(a, int) and isinstance(b, int) and a % rank == b % rank


def _shifts(graph, eqn, shapes):
    """z = s - m, m constant along the axes over which every gradient z receives sums to zero."""
    if eqn.op != "sub" or not all(isinstance(a, Var) for a in eqn.ins) or eqn.ins[0] is eqn.ins[1]:
        return
    s, m = eqn.ins
    z = eqn.out
    along = _constant_along(graph, s, m, shapes)
    if along is None:
        return
    readers = graph.carrying.get(id(z), [])
    rank = _rank(shapes, z)
    zero_sum = readers and all(
        isinstance(r, Eqn) and r.op in ZERO_SUM and r.ins[0] is z and
        (along == "all" or (r.params["axis"] is not None and _same_axis(r.params["axis"], along, rank)))
        for r in readers)
    if zero_sum or _cross_entropy(graph, z, readers, shapes, along):
        _set_orig(eqn, "shift_gate", eqn.ins, 0)


def _rank(shapes, atom):
    shape = shapes.get(atom) if shapes is not None else None
    return len(shape) if isinstance(shape, tuple) else None


def _cross_entropy(graph, z, readers, shapes, along) -> bool:
    """True if z's gradient-carrying uses are a log-sum-exp L and a pick x = z[...] with one element
    in each slice L sums over, meeting elementwise (through +, - and negation, shapes unchanged)
    with opposite signs: ``lse(z) - z[j]`` on numbers, or ``lse(z, axis=1) - z[np.arange(N), y]``
    on rows. Their gradients into z, g p and -g at the pick, then sum to zero in each slice."""
    if shapes is None or len(readers) != 2 or not all(isinstance(r, Eqn) for r in readers):
        return False
    lse = next((r for r in readers if r.op == "logsumexp_gate"), None)
    pick = next((r for r in readers if r.op == "getitem"), None)
    if lse is None or pick is None or lse.ins[0] is not z or pick.ins[0] is not z:
        return False
    shape, rank = shapes.get(lse.out), _rank(shapes, z)
    if shape != shapes.get(pick.out):
        return False
    if shape == ():  # a number: the log-sum-exp of all of z, one element of it
        if along != "all" or not (lse.params["axis"] is None or rank == 1):
            return False
    elif not _rows_case(graph, z, lse, pick, shapes, along):
        return False
    signs_pick, signs_lse = _signs(graph, pick.out, shapes, shape), _signs(graph, lse.out, shapes, shape)
    meet = next((v for v in signs_pick if v in signs_lse), None)
    return meet is not None and signs_pick[meet] == -signs_lse[meet]


def _rows_case(graph, z, lse, pick, shapes, along) -> bool:
    """z an (N, C) matrix shifted along its rows, L = lse(z, axis=1) of shape (N,), and the pick
    z[rows, cols] with rows every row once and cols a vector of N integers."""
    if _rank(shapes, z) != 2 or lse.params["axis"] not in (1, -1) or lse.params["keepdims"]:
        return False
    if along != "all" and not _same_axis(along, 1, 2):
        return False
    if pick.params["index"] != ("tuple", (("atom", 1), ("atom", 2))) or len(pick.ins) != 3:
        return False
    n = known(shapes.get(z))[0]
    cols = pick.ins[2]
    return _every_row(graph, pick.ins[1], z, shapes) and known(shapes.get(cols)) == (n,) and \
        shapes.kind(cols) == "i" and shapes.get(lse.out) == (n,)


def _signs(graph, v, shapes, shape, limit=64) -> dict:
    """The values ``v`` reaches through +, - and negation that keep its ``shape`` (so each passes
    the gradient back elementwise, times 1 or -1), each its only use that carries a gradient, with
    the sign v has in each (in order)."""
    out: dict[int, int] = {}
    sign = 1
    while len(out) < limit:
        readers = graph.carrying.get(id(v), [])
        if len(readers) != 1 or not isinstance(readers[0], Eqn):
            break
        r = readers[0]
        if r.op not in ("add", "sub", "neg") or shapes.get(r.out) != shape or \
                (r.op != "neg" and r.ins[0] is r.ins[1]):
            break
        if r.op == "neg" or (r.op == "sub" and r.ins[1] is v):
            sign = -sign
        out[id(r.out)] = sign
        v = r.out
    return out


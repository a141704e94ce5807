"""The IR as text, for whoever debugs the compiler (``diffc f.py --dump-after PASS``).

One line per equation, ``out = op(in, ..., key=value)``; an ``if`` and a loop
are written with their nested blocks indented under them, their phis and
carried values spelled out. Variables are named by the user's name
(``x``, ``q``), by the value whose gradient they are (``grad.x``), or as
temporaries ``%1``, ``%2`` in order of first appearance; a name the user
re-assigned gets a suffix (``q``, ``q.1``). The text depends only on the IR's
structure, never on object identities, so tests can compare it.
"""

from __future__ import annotations

from .ir import Const, Eqn, Function, If, Loop, Ref, Var


class Printer:
    """Names variables on first sight and formats items; one printer per function keeps names stable
    across the forward and backward blocks."""

    def __init__(self, inline: set[int] | None = None):
        self.names: dict[int, str] = {}
        self.order: list[Var] = []  # the variables named, in order
        self.taken: set[str] = set()
        self.temps = 0
        self.inline = inline or set()  # ids of the variables the emitter writes inline

    def name(self, v: Var) -> str:
        known = self.names.get(id(v))
        if known is not None:
            return known
        if v.primal is not None:
            base = f"grad.{self.name(v.primal)}"
        elif v.hint is not None:
            base = v.hint
        elif isinstance(v.label, tuple):  # (prefix, variable[, suffix]): named after that variable
            base = v.label[0] + self.name(v.label[1]) + (v.label[2] if len(v.label) > 2 else "")
        elif v.label:
            base = v.label
        else:
            self.temps += 1
            base = f"%{self.temps}"
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}.{k}"
        self.taken.add(name)
        self.names[id(v)] = name
        self.order.append(v)
        return name

    def atom(self, a) -> str:
        if isinstance(a, Var):
            return self.name(a)
        if isinstance(a, Const):
            return repr(a.value)
        if isinstance(a, Ref):
            return a.name if a.module is None else f"{a.module}.{a.name}"
        return self.value(a)

    def value(self, v) -> str:
        """A parameter's value: atoms by name, containers element by element, the rest by repr."""
        if isinstance(v, (Var, Const, Ref)):
            return self.atom(v)
        if isinstance(v, tuple):
            inner = ", ".join(self.value(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k!r}: {self.value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, type):
            return v.__name__
        return repr(v)

    def eqn(self, e: Eqn) -> str:
        args = [self.atom(a) for a in e.ins] + [f"{k}={self.value(v)}" for k, v in e.params.items()]
        mark = "  # inline" if id(e.out) in self.inline else ""
        return f"{self.name(e.out)} = {e.op}({', '.join(args)}){mark}"

    def block(self, items: list, depth: int, lines: list[str]) -> None:
        pad = "  " * depth
        if not items:
            lines.append(f"{pad}pass")
        for item in items:
            if isinstance(item, Eqn):
                lines.append(pad + self.eqn(item))
            elif isinstance(item, If):
                lines.append(f"{pad}if {self.atom(item.cond)}:")
                self.block(item.then, depth + 1, lines)
                lines.append(f"{pad}else:")
                self.block(item.orelse, depth + 1, lines)
                for phi in item.phis:
                    lines.append(f"{pad}{self.name(phi.out)} = phi({self.atom(phi.then)}, {self.atom(phi.orelse)})")
            else:
                self.loop(item, depth, lines)

    def loop(self, item: Loop, depth: int, lines: list[str]) -> None:
        pad = "  " * depth
        target = self.name(item.target) if item.target is not None else "_"
        if item.kind == "while":
            lines.append(f"{pad}while {self.atom(item.test)}:")
            lines.append(f"{pad}  test:")
            self.block(item.cond, depth + 2, lines)
        else:
            lines.append(f"{pad}for {target} in {item.kind}({', '.join(self.atom(a) for a in item.args)}):")
        for c in item.carried:
            lines.append(f"{pad}  carry {self.name(c.start)}: init {self.atom(c.init)}, "
                         f"next {self.atom(c.end)}, after {self.name(c.final)}")
        lines.append(f"{pad}  body:")
        self.block(item.body, depth + 2, lines)


def format_items(items: list, printer: Printer | None = None) -> str:
    """A block as text, one item per line (nested blocks indented)."""
    lines: list[str] = []
    (printer or Printer()).block(items, 0, lines)
    return "\n".join(lines) + "\n"


def format_function(fn: Function, forward: list | None = None, backward: list | None = None, *,
                    grads: list | None = None, inline: set[int] | None = None, backward_ids: set[int] | None = None,
                    shapes=None) -> str:
    """A function as text: its signature, its items (``fn.eqns``, or ``forward`` then ``backward``), what
    it returns and, if given, its gradients. ``backward_ids`` marks where the backward items start in a
    single list of ``forward`` items; ``shapes`` (:class:`diffc.ops.shapes.Shapes`) adds each variable's
    shape after the items; ``inline`` marks the variables the emitter writes inline."""
    p = Printer(inline)
    params = ", ".join(p.name(v) for v in fn.params)
    lines = [f"function {fn.name}({params}):"]
    items = fn.eqns if forward is None else forward
    if backward is not None:
        lines.append("  # forward")
        p.block(items, 1, lines)
        lines.append("  # backward")
        p.block(backward, 1, lines)
    elif backward_ids:
        at = next((i for i, item in enumerate(items) if id(item) in backward_ids), len(items))
        lines.append("  # forward")
        p.block(items[:at], 1, lines)
        lines.append("  # backward")
        p.block(items[at:], 1, lines)
    else:
        p.block(items, 1, lines)
    returned = [p.atom(fn.out)] + [p.atom(a) for a in fn.aux]
    lines.append(f"  return {', '.join(returned)}")
    if grads is not None:
        lines.append(f"  gradients {', '.join(p.atom(g) for g in grads)}")
    if shapes is not None:
        lines.append("shapes:")
        for v in list(p.order):
            shape = shapes.get(v)
            if shape is not None:
                kind = shapes.kind(v)
                lines.append(f"  {p.name(v)}: {shape_text(shape, shapes)}" + (f" {kind}" if kind else ""))
    return "\n".join(lines) + "\n"


def shape_text(shape, shapes) -> str:
    """A shape as ``(N, D)``: symbols by name, unknown sizes as ``?``; not a tuple: its repr."""
    if not isinstance(shape, tuple):
        return repr(shape)
    dims = []
    for d in shape:
        d = shapes.find(d)
        dims.append("?" if d is None else str(getattr(d, "name", d)))
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

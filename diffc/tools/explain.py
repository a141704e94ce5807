"""The backward pass narrated as the lecture narrates it, one gate at a time.

For each gate, in backward order: the upstream gradient, the local gradient
of each input (its formula from the rule table, and its number), the
downstream gradient = upstream x local, and the gradient-flow pattern
(add distributes, mul switches, max routes, a fan-out adds). The formulas
come from the same rules that write the generated code, evaluated with an
upstream gradient of 1 (for scalars) or kept symbolic as ``g`` (for arrays).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..backends.emit import Writer
from ..backends.tidy import Tidy
from ..ir import Builder, Const, Var
from ..ops.algebra import unbroadcast
from ..ops.catalogue import BROADCASTING, PATTERNS, vjp
from .evaluate import Trace, format_value


@dataclass
class Explanation:
    function: str
    args: dict
    value: object
    rows: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        head = ", ".join(f"{k}={format_value(v)}" for k, v in self.args.items())
        lines = [f"backward pass of {self.function}({head}) = {format_value(self.value)}", ""]
        table = [("gate", "upstream", "local gradient", "downstream = upstream x local", "")]
        for row in self.rows:
            for i, item in enumerate(row["inputs"] or [{}]):
                table.append((row["gate"] if i == 0 else "", row["upstream_text"] if i == 0 else "",
                              item.get("local_text", ""), item.get("downstream_text", ""),
                              row["pattern"] if i == 0 else ""))
        widths = [max(len(r[c]) for r in table) for c in range(5)]
        for r in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        return "\n".join(lines) + "\n"


def _local_formula(trace: Trace, eqn, i: int, scalar_upstream: bool):
    """The local gradient of input ``i`` of ``eqn`` as text (and its value, for scalars)."""
    p = trace.prepared
    if eqn.op == "field":  # one item of a tuple (w, v = np.linalg.eigh(a)) or a dict: g goes into that item
        return f"g into item {eqn.params['key']!r}", None
    if eqn.op == "custom_jvp":  # the reverse pass transposes the user's forward rule (diffc.ad.transpose)
        return "its defjvp rule, transposed", None
    scratch: list = []
    b = Builder(scratch, numpy=trace.scope.uses_module("numpy"), shapes=p.shapes)
    g = Const(1) if scalar_upstream else Var("g")
    part = vjp(b, eqn, g, i)
    if part is not None and eqn.op in BROADCASTING:
        part = unbroadcast(b, part, eqn.ins[i], p.shapes.get(eqn.out))
    if part is None:
        return "0", 0.0
    writer = Writer(scratch, {id(e.out) for e in scratch}, trace.scope)
    expr = writer.atom(part)
    for node, var in writer.names:
        node.id = "g" if var is g else trace.name(var)
    text = ast.unparse(Tidy().visit(expr))
    if not scalar_upstream:
        return text, None
    try:
        value = eval(compile(text, "<local>", "eval"), {**trace.globals, **trace.env})  # noqa: S307 (our text)
    except Exception:  # a local gradient that cannot be evaluated is shown as a formula only
        value = None
    return text, value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def explain_trace(trace: Trace) -> Explanation:
    import numpy as np

    p = trace.prepared
    fname = trace.function
    out_var = p.fn.out

    def display(atom):
        return fname if atom is out_var and not atom.hint else trace.name(atom)

    grads = trace.record.get("grads", {})
    explanation = Explanation(fname, dict(trace.args), trace.output_value)
    uses: dict[int, int] = {}
    for eqn in p.forward:
        for a in {id(a): a for a in eqn.ins if isinstance(a, Var)}.values():
            uses[id(a)] = uses.get(id(a), 0) + 1
    seen: dict[int, int] = {}
    for eqn in reversed(p.forward):
        g = grads.get(id(eqn.out))
        if g is None:
            continue
        upstream = trace.value(g)
        scalar = not isinstance(upstream, (tuple, list, dict)) and np.ndim(upstream) == 0
        out_name = display(eqn.out)
        writer = Writer([eqn], set(), trace.scope)
        expr = writer.value(eqn)
        for node, var in writer.names:
            node.id = display(var)
        row = {"gate": f"{out_name} = {ast.unparse(Tidy().visit(expr))}", "output": out_name,
               "upstream": upstream, "upstream_text": f"d{fname}/d{out_name} = {format_value(upstream)}",
               "pattern": PATTERNS.get(eqn.op, ""), "inputs": []}
        for i, atom in enumerate(eqn.ins):
            part = trace.record.get((id(eqn), i))
            if part is None or not isinstance(atom, Var):
                continue
            name = display(atom)
            formula, local = _local_formula(trace, eqn, i, scalar)
            downstream = trace.value(part)
            local_text = f"d{out_name}/d{name} = {formula}"
            if local is not None and formula != format_value(local) and not _is_number(formula):
                local_text += f" = {format_value(local)}"
            if scalar and local is not None:
                down_text = f"d{fname}/d{name} = {format_value(upstream)} x {format_value(local)} = " \
                            f"{format_value(downstream)}"
            else:
                down_text = f"d{fname}/d{name} = {format_value(downstream)}"
            seen[id(atom)] = seen.get(id(atom), 0) + 1
            if uses.get(id(atom), 0) > 1 and seen[id(atom)] == uses[id(atom)] and id(atom) in grads:
                total = format_value(trace.value(grads[id(atom)]))
                down_text += f"  (fan-out: {uses[id(atom)]} uses add up to {total})"
            row["inputs"].append({"name": name, "local": formula, "local_value": local, "downstream": downstream,
                                  "local_text": local_text, "downstream_text": down_text})
        explanation.rows.append(row)
    return explanation

"""Drawing a traced computational graph: DOT text always, SVG/PNG through Graphviz.

As in the lecture, each edge is labelled with the value that flows forward
(green) and, beneath it, the gradient that flows back (red). The DOT text is
written by hand (no dependency); pictures need Graphviz's ``dot`` program
(Debian: ``apt-get install graphviz``).
"""

from __future__ import annotations

import shutil
import subprocess

from .errors import DiffcError
from .trace import Trace, format_value

GREEN, RED = "#1b7f3b", "#c62828"
FORMATS = ("dot", "svg", "png")


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_dot(trace: Trace) -> str:
    lines = [f"digraph {_quote(trace.function)} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=12];', '  edge [fontname="Helvetica", fontsize=11];']
    if trace.evaluated:
        lines.append(f'  label=<values in <font color="{GREEN}">green</font>, gradients in '
                     f'<font color="{RED}">red</font>>; labelloc=b; fontname="Helvetica"; fontsize=11;')
    for node in trace.nodes:
        shape = "circle" if node.kind == "gate" and len(node.label) <= 3 else \
            "box" if node.kind == "gate" else "plaintext"
        extra = ', style="rounded"' if shape == "box" else ""
        lines.append(f"  {_quote(node.key)} [label={_quote(node.label)}, shape={shape}{extra}];")
    for edge in trace.edges:
        parts = [_html(edge.name)]
        if trace.evaluated:
            parts.append(f'<font color="{GREEN}">{_html(format_value(edge.value))}</font>')
            if edge.grad is not None:
                parts.append(f'<font color="{RED}">{_html(format_value(edge.grad))}</font>')
        lines.append(f"  {_quote(edge.src)} -> {_quote(edge.dst)} [label=<{'<br/>'.join(parts)}>];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_dot() -> bool:
    return shutil.which("dot") is not None


def render(dot_text: str, fmt: str) -> bytes:
    """The picture of ``dot_text`` in ``fmt`` ("svg" or "png"), made by Graphviz."""
    if fmt == "dot":
        return dot_text.encode()
    if not have_dot():
        raise DiffcError(f"drawing .{fmt} needs Graphviz's 'dot' program, which is not installed",
                         hint="install it (Debian/Ubuntu: apt-get install graphviz) or write .dot text instead")
    result = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=60)
    if result.returncode != 0:
        raise DiffcError(f"Graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


class Graph:
    """A drawn graph: ``.dot`` text, ``.svg()``, ``.save(path)``; shows as SVG in Jupyter."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.dot = to_dot(trace)

    def svg(self) -> str:
        return render(self.dot, "svg").decode()

    def _repr_svg_(self):
        return self.svg() if have_dot() else None

    def save(self, path: str) -> str:
        fmt = str(path).rsplit(".", 1)[-1].lower()
        if fmt not in FORMATS:
            raise DiffcError(f"cannot tell the format of '{path}'", hint="end the name with .svg, .png or .dot")
        data = render(self.dot, fmt)
        with open(path, "wb") as handle:
            handle.write(data)
        return str(path)

    def __str__(self) -> str:
        return self.dot

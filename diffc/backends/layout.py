"""Blocks as lines: the emitter's layout of the cleanup pass's items (see :mod:`diffc.backends.emit`).

:class:`Layout` first flattens the items into lines, building each line's expression through the
emitter's writer and recording which variables each line defines and reads, and each loop's
extent: the namer (:mod:`diffc.passes.naming`) decides from these lifetimes which values may share
a Python name. Then it writes the lines out, indented, under the names chosen. A write in place
(``x[i] = v``) keeps its array's name only when nothing reads the old array, or an alias or a view
of it (:func:`memory_sets`), later.
"""

from __future__ import annotations

import ast
import itertools

from ..frontend.lower import VIEW_OPS
from ..ir import Eqn, If, Var
from ..ops.catalogue import BOOLEAN_OPS
from ..passes.sharing import MAY_RETURN_INPUT
from .tidy import Tidy

# Ops written as statements of their own rather than as an expression.
STATEMENT_OPS = {"setitem", "scatter_add", "zero_at", "index_add"}


def memory_sets(items) -> dict[int, frozenset]:
    """id(var) -> the ids of the arrays whose memory it may share: through views, both sides of a
    select, an if's phis and a loop's carried values (for variables that may share any).

    Not :func:`diffc.passes.sharing.memory_roots`, which the cleanup uses: that one is a partition
    (union-find) and leaves ``select`` out, this one also follows ``np.where``'s two sides. Merging
    them would change which writes the emitter makes in place; they stay apart until a test shows
    one answer serves both."""
    roots: dict[int, frozenset] = {}

    def of(a) -> frozenset:
        return roots.get(id(a), frozenset((id(a),))) if isinstance(a, Var) else frozenset()

    def join(out, *sources):
        roots[id(out)] = of(out).union(*(of(a) for a in sources))

    def visit(block):
        for item in block:
            if isinstance(item, Eqn):
                if item.op in VIEW_OPS | MAY_RETURN_INPUT and item.ins and isinstance(item.ins[0], Var):
                    join(item.out, item.ins[0])
                elif item.op == "select":
                    join(item.out, *item.ins[1:3])
            elif isinstance(item, If):
                visit(item.then)
                visit(item.orelse)
                for phi in item.phis:
                    join(phi.out, phi.then, phi.orelse)
            else:
                for c in item.carried:
                    join(c.start, c.init)
                for _ in range(2):  # the second pass: a later iteration starts from what this one ends with
                    visit(item.cond)
                    visit(item.body)
                    for c in item.carried:
                        join(c.start, c.end)
                for c in item.carried:
                    join(c.final, c.start)

    visit(items)
    return roots


class Layout:
    """Blocks as lines: first flattened (for naming, with each loop's extent), then written out."""

    def __init__(self, writer, inline: set[int], backward_ids: set[int]):
        """``writer`` builds expressions (:class:`diffc.backends.emit.Writer`); ``inline`` holds the ids of
        the variables written inline, ``backward_ids`` those of the top-level backward items."""
        self.writer, self.inline, self.backward_ids = writer, inline, backward_ids
        self.values: dict[int, object] = {}  # id(item) -> its expression(s), built before naming
        self.reads: list[list[Var]] = []  # per line: the variables it reads
        self.events: list[tuple[int, Var]] = []  # (line, variable defined there)
        self.loops: list[tuple[int, int]] = []  # (first line, last line) of each loop
        self.setitems: list[tuple[int, Eqn]] = []
        self.dummies: dict[int, object] = {}  # id(loop) -> its first line, then its dummy variable
        self.builtins: dict[int, tuple] = {}  # id(loop) -> how it spells range and reversed
        self.late_reads: list[tuple[int, list]] = []  # statements that bind their name, then read these
        self.booleans: set[str] = set()  # names written with a boolean value so far
        self.spans: list[tuple[object, int, int]] = []  # (top-level item, its first line, its last line)
        self.releases: dict[int, list[str]] = {}  # id(top-level item) -> the names deleted after it

    def _line(self, build, defines=()):
        start = len(self.writer.names)
        value = build()
        self.reads.append([v for _, v in self.writer.names[start:]])
        index = len(self.reads) - 1
        self.events.extend((index, v) for v in defines)
        return value, index

    def flatten(self, items, depth):
        if depth == 1:
            self.items = items
        for item in items:
            if depth == 1 and not (isinstance(item, Eqn) and id(item.out) in self.inline):
                self.spans.append((item, len(self.reads), None))
            self._flatten_item(item, depth)
            if depth == 1 and self.spans and self.spans[-1][0] is item:
                self.spans[-1] = (item, self.spans[-1][1], len(self.reads) - 1)

    def _flatten_item(self, item, depth):
        w = self.writer
        if isinstance(item, Eqn):
            if id(item.out) in self.inline:
                return
            if item.op in STATEMENT_OPS or item.op in ("push", "pop", "new_stack"):
                first = []

                def build(item=item, first=first):
                    atoms = [w.atom(item.ins[0])] if item.ins else []
                    first.append(len(w.names))
                    return atoms + [w.atom(a) for a in item.ins[1:]]
                value, index = self._line(build, [item.out])
                if item.op in ("setitem", "zero_at", "index_add"):
                    self.setitems.append((index, item))
                if item.op in STATEMENT_OPS:  # out = ...; out[index] = value: value is read after
                    self.late_reads.append((index, [v for _, v in w.names[first[0]:]]))
            else:
                value, _ = self._line(lambda item=item: w.value(item), [item.out])
            self.values[id(item)] = value
        elif isinstance(item, If):
            self.values[id(item)], _ = self._line(lambda item=item: w.atom(item.cond))
            self.flatten(item.then, depth + 1)
            self._line(lambda: None)
            self.flatten(item.orelse, depth + 1)
        else:
            def header(item=item):
                if item.kind == "while":
                    return [w.atom(item.test)]
                return [w.atom(a) for a in item.args]
            self.values[id(item)], first = self._line(header, [item.target] if item.target else [])
            if item.kind != "while":
                if item.target is None:  # a counted loop: its variable is a dummy (named after naming)
                    self.dummies[id(item)] = first
                self.builtins[id(item)] = (w.builtin("range"),
                                           w.builtin("reversed") if item.kind == "reverse" else None)
            self.flatten(item.body, depth + 1)
            self.loops.append((first, len(self.reads) - 1))

    def release(self, names: dict[int, str], last: dict[int, int], arrays: set[int], keep: set[int],
                merged: set[int]) -> None:
        """Plan ``del name`` lines: after the top-level item holding an array's last read, for an array a
        top-level line made (never one a loop or an if made, never inside one), that is not kept (returned,
        a parameter, or sharing memory with one of those: ``keep`` holds ids already closed over aliases),
        and whose name no other value still holds after that item. A value ``merged`` with others under
        one name (an if's phi and its sides, a loop's carried value) is never deleted: its reads through
        the group (a loop's initial value) are not lines of their own."""
        top = {first for item, first, _ in self.spans if isinstance(item, Eqn)}  # the lines of top-level equations
        defined = {id(v): index for index, v in self.events}
        holders: dict[str, list[int]] = {}
        for vid, name in names.items():
            holders.setdefault(name, []).append(vid)
        for item, first, final in self.spans[:-1]:  # after the last item the function returns anyway
            out = []
            for index, v in self.events:
                vid = id(v)
                if vid not in arrays or vid in keep or vid in merged or vid not in last or index not in top or \
                        not first <= int(last[vid]) <= final or vid not in names:
                    continue
                name = names[vid]
                if any(other != vid and (other in keep or other in merged or other not in defined or
                                         defined[other] <= final < last.get(other, final + 1))
                       for other in holders[name]):
                    continue  # the name holds (or may hold) another value still needed after this item
                if name not in out:
                    out.append(name)
            if out:
                self.releases[id(item)] = out

    def name_dummies(self, names: dict[int, str], last: dict[int, int], params: list[Var]) -> None:
        """A counted loop's dummy variable is ``_``, unless that clobbers a value read from the loop on
        (the user's own ``_``, say) or a parameter: then ``__``, and so on."""
        latest: dict[str, int] = {p.hint: len(self.reads) for p in params}
        for vid, index in last.items():
            name = names.get(vid)
            if name is not None:
                latest[name] = max(latest.get(name, -1), index)
        for loop, first in self.dummies.items():
            self.dummies[loop] = next(d for d in ("_" * k for k in itertools.count(1))
                                      if latest.get(d, -1) < first)

    def last_use(self, returned: list[Var]) -> dict[int, int]:
        last: dict[int, int] = {}
        defined: dict[int, int] = {id(v): i for i, v in self.events}
        for index, reads in enumerate(self.reads):
            for v in reads:
                last[id(v)] = index
        end = len(self.reads)
        for v in returned:
            last[id(v)] = end
        for index, late in self.late_reads:  # the name the statement binds cannot be theirs
            for v in late:
                last[id(v)] = max(last[id(v)], index + 0.5)
        for first, final in self.loops:  # read in a loop, made before it: needed until the loop ends
            for index in range(first, final + 1):
                for v in self.reads[index]:
                    if defined.get(id(v), -1) < first:
                        last[id(v)] = max(last[id(v)], final)
        # x[i] = v writes in place only when nothing reads the old x, or an alias or view of it, later.
        roots = memory_sets(self.items)
        for index, eqn in self.setitems:
            old = eqn.ins[0]
            if isinstance(old, Var):
                group = roots.get(id(old), frozenset((id(old),)))
                members = [v for v in last if roots.get(v, frozenset((v,))) & group and defined.get(v, -1) < index]
                last[id(old)] = max([last.get(id(old), -1)] + [last[v] for v in members])
        return last

    section = None

    def write(self, items, depth, lines, names, source_line):
        pad = "    " * depth
        w = self.writer
        start = len(lines)
        last_origin = None
        for item in items:
            if depth == 1:
                here = "backward" if id(item) in self.backward_ids or self.section == "backward" else "forward"
                if here != self.section:
                    lines.append(f"    # {here}")
                    self.section = here
            if isinstance(item, Eqn):
                if id(item.out) in self.inline:
                    continue
                value, target = self.values[id(item)], names.get(id(item.out))
                if source_line is not None and depth == 1 and item.origin is not None and \
                        item.origin.lineno != last_origin:
                    last_origin = item.origin.lineno
                    text = source_line(item.origin.lineno)
                    if text:
                        lines.append(f"{pad}# grad of: {text.strip()}")
                if item.op == "push":
                    lines.append(f"{pad}{ast.unparse(value[0])}.append({ast.unparse(value[1])})")
                elif item.op == "pop":
                    lines.append(f"{pad}{target} = {ast.unparse(value[0])}.pop()")
                elif item.op == "new_stack":
                    lines.append(f"{pad}{target} = []")
                elif item.params.get("_raise") == "call":  # a call made for its effect (np.random.seed)
                    lines.append(f"{pad}{ast.unparse(value)}")
                elif item.params.get("_raise"):  # the user's raise statement
                    lines.append(f"{pad}raise {ast.unparse(value)}")
                elif item.op in STATEMENT_OPS:
                    tidy = Tidy(self.booleans)
                    lines.extend(pad + ast.unparse(tidy.visit(s)) for s in w.statements(item, target, value))
                else:
                    tidy = Tidy(self.booleans).visit(value)
                    # -(-x) tidied to x would make a new array an alias that no pass has seen
                    text = ast.unparse(value if isinstance(tidy, ast.Name) and item.op != "copy" else tidy)
                    if item.op in BOOLEAN_OPS and target:
                        self.booleans.add(target)  # -(target * x) must not become -target * x
                    if item.op != "copy" or text != target:  # x = x says nothing
                        lines.append(f"{pad}{target} = {text}")
            elif isinstance(item, If):
                head = len(lines)
                lines.append(f"{pad}if {ast.unparse(self.values[id(item)])}:")
                self.write(item.then, depth + 1, lines, names, source_line)
                mark = len(lines)
                lines.append(f"{pad}else:")
                self.write(item.orelse, depth + 1, lines, names, source_line)
                if lines[-1] == f"{pad}    pass":
                    del lines[mark:]  # no else branch to write
                elif lines[head + 1:mark] == [f"{pad}    pass"]:  # only an else branch: if not ...
                    test = ast.unparse(Tidy().visit(ast.UnaryOp(ast.Not(), self.values[id(item)])))
                    lines[head:mark + 1] = [f"{pad}if {test}:"]
            else:
                self._write_loop(item, depth, lines, names, source_line)
            if depth == 1 and id(item) in self.releases:  # large values nothing reads any more
                names_ = ", ".join(self.releases[id(item)])
                if lines[-1].startswith(f"{pad}del "):
                    lines[-1] += f", {names_}"  # freed after consecutive lines: one del line
                else:
                    lines.append(f"{pad}del {names_}")
        if depth > 1 and len(lines) == start:
            lines.append(f"{pad}pass")

    def _write_loop(self, item, depth, lines, names, source_line):
        pad = "    " * depth
        header = [ast.unparse(a) for a in self.values[id(item)]]
        target = names[id(item.target)] if item.target is not None else self.dummies.get(id(item))
        range_, reversed_ = self.builtins.get(id(item), (None, None))
        if item.kind == "while":
            lines.append(f"{pad}while {header[0]}:")
        elif item.kind == "reverse" and item.mirror.kind == "while":
            lines.append(f"{pad}for {target} in {range_}({header[0]}):")
        elif item.kind == "reverse":
            lines.append(f"{pad}for {target} in {reversed_}({range_}({', '.join(header)})):")
        else:
            lines.append(f"{pad}for {target} in {range_}({', '.join(header)}):")
        self.write(item.body, depth + 1, lines, names, source_line)

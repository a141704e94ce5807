"""Rewrites of the syntax before lowering, and the questions they ask of it.

Every path through a function ends in one return (``single_exit``); a loop
body loses its ``continue`` (what follows moves under an ``if``) and its
``break`` (a flag the loop tests). Also here: which parameters are
containers (``params["W1"]``) and which lists are only appended to and
summed (running sums), and the names a block assigns.
"""

from __future__ import annotations

import ast

RETURN = "<return>"  # the environment's name for the value being returned
LOOP_LOCAL = object()  # marks a name assigned only inside a loop


RAISED = "<raised>"  # the environment's mark of a block that ends in 'raise'


def ends_in_return(stmts) -> bool:
    """True if every path through ``stmts`` ends in a return (or raises)."""
    if not stmts:
        return False
    last = stmts[-1]
    return isinstance(last, (ast.Return, ast.Raise)) or (
        isinstance(last, ast.If) and ends_in_return(last.body) and ends_in_return(last.orelse))


def _has_return(node) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def field_label(container, key) -> str | None:
    text = f"{container.hint}_{key}"
    return text if text.isidentifier() else None


def _ends_in(stmts, kind) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    return isinstance(last, kind) or (
        isinstance(last, ast.If) and _ends_in(last.body, kind) and _ends_in(last.orelse, kind))


def loop_exits(node, kind) -> bool:
    """True if ``node`` holds a ``kind`` (Break or Continue) of the loop around it (not of an inner loop)."""
    if isinstance(node, kind):
        return True
    if isinstance(node, (ast.For, ast.While)):
        return False
    return any(loop_exits(child, kind) for child in ast.iter_child_nodes(node))


def without_continue(stmts: list) -> list:
    """A loop body with every ``continue`` gone: what follows an ``if`` that continues moves
    into the branch that does not."""
    out = []
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Continue):
            return out
        if isinstance(stmt, ast.If) and loop_exits(stmt, ast.Continue):
            rest = stmts[index + 1:]
            body = stmt.body if _ends_in(stmt.body, ast.Continue) else stmt.body + rest
            orelse = stmt.orelse if _ends_in(stmt.orelse, ast.Continue) else stmt.orelse + rest
            new = ast.If(test=stmt.test, body=without_continue(body) or [ast.Pass()],
                         orelse=without_continue(orelse))
            return out + [ast.copy_location(new, stmt)]
        out.append(stmt)
    return out


def replace_breaks(stmts: list, flag: str) -> list:
    """``break`` becomes ``flag = True; continue`` (nested loops keep their own)."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, ast.Break):
            assign = ast.Assign([ast.Name(flag, ast.Store())], ast.Constant(True), lineno=stmt.lineno)
            out += [ast.copy_location(assign, stmt), ast.copy_location(ast.Continue(), stmt)]
        elif isinstance(stmt, ast.If):
            new = ast.If(test=stmt.test, body=replace_breaks(stmt.body, flag),
                         orelse=replace_breaks(stmt.orelse, flag))
            out.append(ast.copy_location(new, stmt))
        else:
            out.append(stmt)
    return out


def is_container(fdef, name: str, known: bool = False) -> bool:
    """True if ``name`` is only read as ``name[<constant>]`` or unpacked (``a, b = name``), with at
    least one string key or one unpacking: ``x[0]`` alone is read as indexing an array, unless
    ``known`` (the decorator saw a list, tuple or dict argument)."""
    uses, allowed, telling = 0, set(), False
    for node in ast.walk(fdef):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name \
                and isinstance(node.slice, ast.Constant) and type(node.slice.value) in (str, int) \
                and isinstance(node.ctx, ast.Load):
            allowed.add(id(node.value))
            telling |= type(node.slice.value) is str
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == name and \
                len(node.targets) == 1 and isinstance(node.targets[0], (ast.Tuple, ast.List)):
            allowed.add(id(node.value))
            telling = True
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            uses += 1
            if id(node) not in allowed:
                return False
    return uses > 0 and (telling or known)


def single_exit(stmts: list) -> list:
    """Rewrite early returns inside ``if`` so that every path ends in a return:
    what follows an ``if`` whose branch returns moves into the branch that does not."""
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, ast.If) and _has_return(stmt):
            rest = stmts[index + 1:]
            body = stmt.body if ends_in_return(stmt.body) else stmt.body + rest
            orelse = stmt.orelse if ends_in_return(stmt.orelse) else stmt.orelse + rest
            new = ast.If(test=stmt.test, body=single_exit(body), orelse=single_exit(orelse))
            return stmts[:index] + [ast.copy_location(new, stmt)]
    return stmts


def only_appended_and_summed(fdef, name: str) -> bool:
    """True if every read of ``name`` is ``name.append(x)`` as a statement or ``sum(name)``."""
    allowed, reads = set(), 0
    for node in ast.walk(fdef):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "append" and \
                isinstance(node.value.func.value, ast.Name) and node.value.func.value.id == name:
            allowed.add(id(node.value.func.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sum" and \
                len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id == name:
            allowed.add(id(node.args[0]))
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            reads += 1
            if id(node) not in allowed:
                return False
    return True


def stored_names(stmts) -> list[str]:
    names = []
    for stmt in stmts:
        if isinstance(stmt, ast.Break):
            continue
        for node in ast.walk(stmt):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "append" and isinstance(node.func.value, ast.Name):
                target = node.func.value.id  # terms.append(x) changes terms
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                target = node.id
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and \
                    isinstance(node.value, ast.Name):
                target = node.value.id
            if target is not None and target not in names:
                names.append(target)
    return names


def reads(node: ast.AST) -> set[str]:
    """The names ``node`` reads; ``x += v`` reads ``x`` too (its target's context says Store)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return names | {n.target.id for n in ast.walk(node) if isinstance(n, ast.AugAssign)
                    and isinstance(n.target, ast.Name)}


def without_scalar_checks(fdef) -> None:
    """Drop the check diffc writes after a forward pass (``if np.ndim(out) != 0: raise ValueError(...)``)
    from a gradient diffc generated, so that it can be differentiated again (higher order). Only the
    exact form diffc writes is dropped; the outer gradient checks its own output."""

    def is_check(stmt) -> bool:
        test = getattr(stmt, "test", None)
        return isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1 and \
            isinstance(stmt.body[0], ast.Raise) and isinstance(test, ast.Compare) and \
            isinstance(test.left, ast.Call) and isinstance(test.left.func, ast.Attribute) and \
            test.left.func.attr == "ndim" and "needs a scalar output" in ast.unparse(stmt.body[0])

    fdef.body = [stmt for stmt in fdef.body if not is_check(stmt)]


AUX = "<aux {}>"  # the environment's names of the values returned after the first, with has_aux


def split_aux(stmts: list) -> tuple[list, set]:
    """With has_aux: every ``return v, a1, a2`` becomes ``<aux 1> = a1; <aux 2> = a2; return v``.
    Returns the statements, the set of arities seen (0 for a return that is not a tuple literal) and
    the returns that are not tuple literals."""
    arities: set = set()
    untupled: list = []  # returns that are not a tuple literal, for the error
    tupled = any(isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple) and len(n.value.elts) > 1
                 for stmt in stmts for n in ast.walk(stmt))

    def rewrite(block: list) -> list:
        out = []
        for stmt in block:
            if tupled and isinstance(stmt, ast.If) and is_none_test(stmt.test) and stmt.body and \
                    isinstance(stmt.body[-1], ast.Return) and not isinstance(stmt.body[-1].value, ast.Tuple):
                # CS231n's 'if y is None: return scores' beside 'return loss, grads': no loss on that path
                stmt = ast.copy_location(ast.If(stmt.test, [*stmt.body[:-1], _no_value(stmt.body[-1], stmt.test)],
                                                stmt.orelse), stmt)
            if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Tuple) and stmt.value.elts and \
                    not any(isinstance(e, ast.Starred) for e in stmt.value.elts):
                elts = stmt.value.elts
                arities.add(len(elts))
                for k, elt in enumerate(elts[1:], 1):
                    assign = ast.Assign([ast.Name(AUX.format(k), ast.Store())], elt, lineno=elt.lineno)
                    out.append(ast.copy_location(assign, elt))
                out.append(ast.copy_location(ast.Return(elts[0]), stmt))
                continue
            if isinstance(stmt, ast.Return):
                arities.add(0)
                untupled.append(stmt)
            if isinstance(stmt, ast.If):
                stmt = ast.copy_location(ast.If(stmt.test, rewrite(stmt.body), rewrite(stmt.orelse)), stmt)
            out.append(stmt)
        return out

    return rewrite(stmts), arities, untupled


def is_none_test(test: ast.expr) -> bool:
    """True for ``name is None``."""
    return isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is) and \
        isinstance(test.left, ast.Name) and isinstance(test.comparators[0], ast.Constant) and \
        test.comparators[0].value is None


def _no_value(ret: ast.Return, test: ast.expr | None = None) -> ast.Raise:
    """``return scores`` on a path with no value to differentiate, as a raise saying so."""
    message = f"this path returns {ast.unparse(ret.value)}, not (value, aux...): there is no value to differentiate"
    if test is not None:
        message = f"{ast.unparse(test)}: {message}"
    call = ast.Call(ast.Name("ValueError", ast.Load()), [ast.Constant(message)], [])
    for node in ast.walk(call):
        ast.copy_location(node, ret)
    return ast.copy_location(ast.Raise(call, None), ret)

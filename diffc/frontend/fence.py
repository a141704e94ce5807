"""The fence: reject syntax diffc cannot differentiate, before any transform.

``check(fdef, source)`` walks one function definition and returns a located
error for every construct outside the supported subset (straight-line code
on numbers: assignments, arithmetic, calls), each with a hint on how to
rewrite it. Name resolution (what a call refers to) is the frontend's job;
the fence only looks at the shape of the syntax.
"""

from __future__ import annotations

import ast

from ..errors import DiffcError, UnsupportedError
from ..ops.catalogue import BINOPS, COMPAREOPS, UNARYOPS
from .source import Source

_STATEMENT_HINTS = {
    ast.AsyncFor: ("'async for' is not supported", "use a plain 'for' loop"),
    ast.Try: ("'try' statements are not supported",
              "handle errors outside the function you differentiate"),
    ast.With: ("'with' statements are not supported",
               "move the context manager outside the function you differentiate"),
    ast.Global: ("'global' is not supported", "pass the value in as a parameter"),
    ast.Nonlocal: ("'nonlocal' is not supported", "pass the value in as a parameter"),
    ast.FunctionDef: ("nested function definitions are not supported",
                      "define the helper at module level and inline its body here"),
    ast.ClassDef: ("class definitions inside a function are not supported",
                   "define the class at module level"),
    ast.Import: ("imports inside a function are not supported", "move the import to the top of the module"),
    ast.ImportFrom: ("imports inside a function are not supported", "move the import to the top of the module"),
    ast.Delete: ("'del' is supported only for plain names, at the top level of the function",
                 "remove the statement; diffc tracks values, not names"),
    ast.Raise: ("'raise' is supported only as the last statement of an 'if' or 'else' branch",
                "raise in a branch, as in 'if ...: ... else: raise ValueError(...)'"),
    ast.Assert: ("'assert' is not supported", "check inputs before calling the function"),
}
_EXPR_HINTS = {
    ast.Lambda: ("'lambda' is not supported", "define the function at module level"),
    ast.Dict: ("dicts are not supported yet", "pass the values as separate parameters"),
    ast.Set: ("sets are not supported", "pass the values as separate parameters"),
    ast.ListComp: ("comprehensions are not supported yet", "write the sum out term by term"),
    ast.SetComp: ("comprehensions are not supported", "write the terms out one by one"),
    ast.DictComp: ("comprehensions are not supported", "write the terms out one by one"),
    ast.GeneratorExp: ("generator expressions are not supported", "write the sum out term by term"),
    ast.Yield: ("generators are not supported", "return a single value"),
    ast.YieldFrom: ("generators are not supported", "return a single value"),
    ast.Await: ("'await' is not supported", "differentiate a plain (non-async) function"),
    ast.NamedExpr: ("assignment expressions (:=) are not supported", "assign on a line of its own"),
    ast.JoinedStr: ("strings are not supported in differentiated code", "remove the string"),
    ast.Starred: ("starred expressions are not supported", "list the values explicitly"),
}


def check(fdef: ast.AST, source: Source) -> list[DiffcError]:
    errors: list[DiffcError] = []

    def err(node, message, hint=None):
        errors.append(source.error(UnsupportedError, node, message, hint))

    if isinstance(fdef, ast.AsyncFunctionDef):
        err(fdef, "async functions are not supported", "differentiate a plain 'def' function")
    args = fdef.args
    if args.vararg is not None:
        err(args.vararg, f"'*{args.vararg.arg}' parameters are not supported", "list the parameters explicitly")
    if args.kwarg is not None:
        err(args.kwarg, f"'**{args.kwarg.arg}' parameters are not supported", "list the parameters explicitly")
    for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
        try:
            ast.literal_eval(default)
        except ValueError:
            err(default, "default values must be literal constants", "use a number such as 0.0 as the default")

    body = list(fdef.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    from .desugar import ends_in_return, single_exit

    early = next((i for i, stmt in enumerate(body[:-1]) if isinstance(stmt, ast.Return)), None)
    if not any(isinstance(n, ast.Return) for n in ast.walk(fdef)):
        err(fdef, f"function '{fdef.name}' has no return statement",
            "end the function with 'return <the value to differentiate>'")
    elif early is not None:
        err(body[early + 1], "this code comes after 'return' and never runs", "remove it")
    elif not ends_in_return(single_exit(list(body))):
        err(fdef, f"not every path through '{fdef.name}' ends in a return",
            "add a return at the end of the function")
    for stmt in body:
        if isinstance(stmt, ast.Delete) and all(isinstance(t, ast.Name) for t in stmt.targets):
            continue  # del a, b: the names are unbound (generated code frees arrays so, and can be read again)
        _check_statement(stmt, err)
    return errors


def _check_statement(stmt: ast.stmt, err, in_loop: bool = False) -> None:
    if isinstance(stmt, ast.Pass) or (in_loop and isinstance(stmt, (ast.Break, ast.Continue))):
        return
    if isinstance(stmt, ast.If):
        _check_expr(stmt.test, err)
        for block in (stmt.body, stmt.orelse):
            for inner in block:
                if isinstance(inner, ast.Raise) and inner is block[-1]:  # else: raise ValueError(...)
                    _check_raise(inner, err)
                else:
                    _check_statement(inner, err, in_loop)
        return
    if isinstance(stmt, (ast.For, ast.While)):
        if stmt.orelse:
            err(stmt.orelse[0], f"'{'for' if isinstance(stmt, ast.For) else 'while'} ... else' is not supported",
                "set a flag in the loop and test it after")
        if isinstance(stmt, ast.For):
            zipped = isinstance(stmt.iter, ast.Call) and isinstance(stmt.iter.func, ast.Name) and \
                stmt.iter.func.id in ("zip", "enumerate") and isinstance(stmt.target, ast.Tuple) and \
                all(isinstance(t, ast.Name) for t in stmt.target.elts)  # for x_i, y_i in zip(X, y)
            if not isinstance(stmt.target, ast.Name) and not zipped:
                err(stmt.target, "only a plain name can be the loop variable", "unpack inside the loop body")
            _check_expr(stmt.iter, err)
        else:
            _check_expr(stmt.test, err)
        for inner in stmt.body:
            _check_statement(inner, err, True)
        return
    if isinstance(stmt, ast.Return) and in_loop:
        err(stmt, "'return' inside a loop is not supported", "assign the result to a variable and return it "
            "after the loop")
        return
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            _check_target(target, err)
        if any(isinstance(t, ast.Tuple) for t in stmt.targets) and isinstance(stmt.value, ast.Tuple):
            for elt in stmt.value.elts:
                _check_expr(elt, err)
        else:
            _check_expr(stmt.value, err)
        return
    if isinstance(stmt, ast.AnnAssign):
        if stmt.value is None:
            err(stmt, "an annotation without a value does nothing here", "remove the line or assign a value")
        else:
            _check_target(stmt.target, err)
            _check_expr(stmt.value, err)
        return
    if isinstance(stmt, ast.AugAssign):
        _check_target(stmt.target, err, unpack=False)
        if type(stmt.op) not in BINOPS:
            err(stmt, f"augmented assignment '{_op_text(stmt.op)}=' is not supported",
                "use +=, -=, *=, /= or **=")
        _check_expr(stmt.value, err)
        return
    if isinstance(stmt, ast.Return):
        if stmt.value is None:
            err(stmt, "'return' without a value", "return the value to differentiate")
        else:  # a tuple too: a helper's (out, cache), or the top level's (value, aux) with has_aux
            _check_expr(stmt.value, err)
        return
    if isinstance(stmt, ast.Expr):
        call = stmt.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "append" \
                and isinstance(call.func.value, ast.Name) and len(call.args) == 1 and not call.keywords:
            _check_expr(call.args[0], err)  # terms.append(x): the frontend checks what terms is
            return
        if isinstance(call, ast.Call) and any(kw.arg == "out" for kw in call.keywords):
            err(next(kw for kw in call.keywords if kw.arg == "out"), OUT_MESSAGE.format(ast.unparse(call.func)),
                out_hint(call))
        elif isinstance(stmt.value, ast.Call):  # np.random.seed(0): kept as a statement (the frontend decides)
            _check_expr(stmt.value, err)
        else:
            err(stmt, "this expression has no effect", "remove it, or assign it to a name")
        return
    message, hint = _STATEMENT_HINTS.get(type(stmt), (f"'{type(stmt).__name__}' statements are not supported", None))
    err(stmt, message, hint)


OUT_MESSAGE = "'{}' with out= changes an array in place (it writes its result there): diffc cannot follow that"


def out_hint(node: ast.Call) -> str:
    """How to write a call with ``out=`` without it: assign the result."""
    out = next(kw for kw in node.keywords if kw.arg == "out")
    rest = ast.Call(node.func, node.args, [kw for kw in node.keywords if kw.arg != "out"])
    return f"drop out= and assign the result: '{ast.unparse(out.value)} = {ast.unparse(rest)}'"


def _check_raise(stmt: ast.Raise, err) -> None:
    """``raise Error(message)`` ending a branch: the gradient raises where the function does."""
    exc = stmt.exc
    if exc is None:
        err(stmt, "a bare 'raise' is not supported here", "raise an exception, as in 'raise ValueError(...)'")
        return
    if stmt.cause is not None:
        err(stmt.cause, "'raise ... from ...' is not supported", "drop 'from ...'")
    func = exc.func if isinstance(exc, ast.Call) else exc
    if not isinstance(func, (ast.Name, ast.Attribute)):
        err(exc, "only 'raise SomeError(...)' is supported", "raise an exception class by its name")
        return
    for arg in [*exc.args, *(k.value for k in exc.keywords)] if isinstance(exc, ast.Call) else []:
        if any(isinstance(n, ast.JoinedStr) for n in ast.walk(arg)):
            err(arg, "f-strings are not supported in differentiated code",
                "format the message with %, as in 'bad mode \"%s\"' % mode")
        elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod) and isinstance(arg.left, ast.Constant):
            _check_expr(arg.right, err)  # 'bad mode "%s"' % mode
        elif not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            _check_expr(arg, err)


def _check_target(target: ast.expr, err, unpack: bool = True) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, ast.Subscript):
        if not isinstance(target.value, ast.Name):
            err(target.value, "only a named array can be assigned into", "assign the array to a name first")
        if not (isinstance(target.slice, ast.Constant) and isinstance(target.slice.value, str)):  # grads['W1'] = ...
            _check_expr(target.slice, err)
        return
    if unpack and isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            if not isinstance(elt, ast.Name):
                err(elt, "only plain names can be unpacked into", "assign each part to a name")
        return
    what = {ast.Attribute: "an attribute"}.get(type(target), "this target")
    err(target, f"assignment to {what} is not supported", "assign to a plain name")


def _check_expr(node: ast.expr, err) -> None:
    if isinstance(node, (ast.Name, ast.Constant)):
        if isinstance(node, ast.Constant) and node.value is not None and node.value is not Ellipsis \
                and type(node.value) not in (int, float, bool):
            err(node, f"{type(node.value).__name__} constants are not supported in differentiated code",
                "use numbers only")
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in BINOPS:
            err(node, f"the operator '{_op_text(node.op)}' has no derivative", "use +, -, *, /, ** or a math function")
        _check_expr(node.left, err)
        _check_expr(node.right, err)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_expr(value, err)
        return
    if isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check_expr(part, err)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_expr(node.operand, err)
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in UNARYOPS:
            err(node, f"the operator '{_op_text(node.op)}' is not supported", "use arithmetic operators")
        _check_expr(node.operand, err)
        return
    if isinstance(node, ast.Compare):
        if len(node.ops) > 1:
            err(node, "chained comparisons are not supported", "split it: (a < b) & (b < c)")
        elif isinstance(node.ops[0], (ast.Is, ast.IsNot)) and isinstance(node.comparators[0], ast.Constant) and \
                node.comparators[0].value is None:
            pass  # y is None: a test of an argument, never differentiated
        elif type(node.ops[0]) not in COMPAREOPS:  # is, is not, in, not in
            text = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}[type(node.ops[0])]
            err(node, f"'{text}' comparisons are not supported in differentiated code",
                "compare numbers with ==, <, ...; handle a None argument (such as 'if y is None: return scores') "
                "outside the function you differentiate")
        for part in [node.left, *node.comparators]:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):  # mode == 'train'
                _check_expr(part, err)
        return
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            _check_expr(elt, err)
        return
    if isinstance(node, ast.Subscript):
        _check_expr(node.value, err)
        if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):  # params["W1"]
            _check_expr(node.slice, err)
        return
    if isinstance(node, ast.Slice):
        for part in (node.lower, node.upper, node.step):
            if part is not None:
                _check_expr(part, err)
        return
    if isinstance(node, ast.Call):
        # A string passed to a call is a literal option (np.einsum's subscripts, np.pad's mode=).
        _is_str = lambda n: isinstance(n, ast.Constant) and isinstance(n.value, str)  # noqa: E731
        for kw in node.keywords:
            if kw.arg is None:
                err(kw, "'**' arguments are not supported", "pass arguments by name")
            elif not _is_str(kw.value):
                _check_expr(kw.value, err)
        if not isinstance(node.func, (ast.Name, ast.Attribute)):
            err(node.func, "only calls of named functions are supported", "call the function by its name")
        elif isinstance(node.func, ast.Attribute):
            _check_expr(node.func, err)
        for arg in node.args:
            if isinstance(arg, ast.Starred):  # f(*x.shape): the frontend decides where it may be
                _check_expr(arg.value, err)
            elif not _is_str(arg):
                _check_expr(arg, err)
        return
    if isinstance(node, ast.Attribute):
        _check_expr(node.value, err)
        return
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                          for k in node.keys):  # {'W1': dW1}: string keys (the frontend decides)
        for value in node.values:
            _check_expr(value, err)
        return
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1 and \
            not node.generators[0].is_async and all(isinstance(t, ast.Name) for t in ast.walk(
                node.generators[0].target) if isinstance(t, ast.expr) and not isinstance(t, ast.Tuple)):
        gen = node.generators[0]  # [f(x) for x in xs], sum(w ** 2 for w in ws): the frontend lowers them
        for part in [node.elt, gen.iter, *gen.ifs]:
            _check_expr(part, err)
        return
    message, hint = _EXPR_HINTS.get(type(node), (f"'{type(node).__name__}' expressions are not supported", None))
    if isinstance(node, ast.Dict):
        message, hint = "only dicts with string keys are supported", "use keys such as 'W1'"
    elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        message, hint = "only a comprehension with one 'for' is supported", "write the loop out"
    err(node, message, hint)


def _op_text(op: ast.AST) -> str:
    return {
        ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
        ast.RShift: ">>", ast.Not: "not", ast.Invert: "~", ast.Mod: "%", ast.FloorDiv: "//",
    }.get(type(op), type(op).__name__)
